"""The table of loss terms (lead_ir/losses/terms.py) is the one place a term is declared: it drives the
objective, the default weights, the weight-key check at config load and whether a teacher is needed."""

from __future__ import annotations

import pytest
import torch
from fixtures_models import CHAR_VOCAB, WORD_VOCAB, build_tiny_bert, write_toy_data

from lead_ir.config import load_config
from lead_ir.errors import ConfigError
from lead_ir.losses.objective import ObjectiveSettings, QueryVectors, Scores, objective
from lead_ir.losses.terms import TERM_NAMES, TERMS, default_weights, distillation_terms, teacher_needed, weight
from lead_ir.training.config import LossConfig, TrainConfig


@pytest.mark.parametrize("key", ["layers", "margin-mse", "Response"])
def test_misspelled_weight_key_fails_when_the_config_loads(tmp_path, key):
    path = tmp_path / "train.yaml"
    path.write_text(f"loss:\n  weights:\n    student: 1.0\n    {key}: 1.0\n")
    with pytest.raises(ConfigError) as err:
        load_config(TrainConfig, path)
    message = str(err.value)
    assert "\n" not in message and f"unknown loss weight '{key}'" in message
    assert f"the valid keys are {', '.join(TERM_NAMES)}" in message
    with pytest.raises(ConfigError, match=f"unknown loss weight '{key}'"):  # the same through an override
        load_config(TrainConfig, None, [f"loss.weights={{{key}: 1.0}}"])


def test_negative_weight_fails_when_the_config_loads():
    with pytest.raises(ConfigError, match=r"loss\.weights\.layer: expected a finite number >= 0, found -1$"):
        load_config(TrainConfig, None, ["loss.weights={student: 1.0, layer: -1}"])


def test_defaults_come_from_the_table():
    assert list(TERM_NAMES) == [t.name for t in TERMS]
    spelled = {t.name: t.default_weight for t in TERMS if t.spelled_out or t.default_weight}
    assert list(default_weights()) == list(spelled) and [t.name for t in TERMS if not t.spelled_out] == ["align"]
    assert LossConfig().weights == ObjectiveSettings().weights == spelled
    assert all(t.description for t in TERMS) and len(set(TERM_NAMES)) == len(TERMS)
    # a weights mapping that leaves a term out: the base term keeps its default, any other weighs 0
    assert [weight({"response": 2.0}, t.name) for t in TERMS] == [
        t.default_weight if t.base else (2.0 if t.name == "response" else 0.0) for t in TERMS]


def _batch(q: int = 2, group: int = 3, student_layers: int = 2, teacher_layers: int = 3):
    torch.manual_seed(0)
    s = torch.randn(student_layers, q, q * group, requires_grad=True)
    t = torch.randn(teacher_layers, q, q * group, requires_grad=True)
    return Scores(s, tuple(range(1, student_layers + 1))), Scores(t, tuple(range(1, teacher_layers + 1))), group


def test_every_term_of_the_table_is_computed_and_weighted():
    student, teacher, group = _batch()
    weights = {name: 0.5 + i for i, name in enumerate(TERM_NAMES)}
    queries = QueryVectors(torch.randn(2, 4, requires_grad=True), torch.randn(2, 4))  # the alignment term's input
    out = objective(student, teacher, group, [(1, 1), (3, 2)], ObjectiveSettings(weights=weights, joint=True),
                    queries=queries)
    assert list(out.terms) == list(TERM_NAMES)
    assert all(v.ndim == 0 and torch.isfinite(v) for v in out.terms.values())
    assert out.loss.item() == pytest.approx(sum(weights[n] * v.item() for n, v in out.terms.items()), rel=1e-6)
    assert out.layers is not None and out.layers.kl.shape == out.layers.weights.shape == (2,)
    out.loss.backward()
    assert student.values.grad.abs().sum() > 0 and teacher.values.grad.abs().sum() > 0  # joint: both learn


def test_zero_weights_skip_terms_and_without_a_teacher_only_label_terms_run():
    student, teacher, group = _batch()
    only = ObjectiveSettings(weights={"student": 0.0, "response": 1.0})
    out = objective(student, teacher, group, [(1, 1)], only)
    assert list(out.terms) == ["student", "response"] and out.layers is None  # the base term is always logged
    assert out.loss.item() == pytest.approx(out.terms["response"].item(), rel=1e-6)
    alone = objective(student, None, group, [], ObjectiveSettings(weights={n: 1.0 for n in TERM_NAMES}, joint=True))
    assert list(alone.terms) == [t.name for t in TERMS if not t.needs_teacher]


def test_teacher_needed_follows_the_table():
    assert not teacher_needed({"student": 1.0}) and not teacher_needed({"response": 0.0, "layer": 0.0})
    for name in distillation_terms():
        assert teacher_needed({"student": 1.0, name: 0.5}), name
    joint_only = [t.name for t in TERMS if t.joint_only]
    assert joint_only and set(distillation_terms()).isdisjoint(joint_only)
    for name in joint_only:
        assert not teacher_needed({name: 1.0}) and teacher_needed({name: 1.0}, joint=True)
    assert teacher_needed(default_weights())


def test_trainer_skips_a_teacher_that_no_weighted_term_reads(tmp_path):
    from lead_ir.training.loop import Trainer

    corpus, train = write_toy_data(tmp_path / "data")
    teacher = build_tiny_bert(tmp_path / "teacher", WORD_VOCAB, hidden=32, layers=4)
    student = build_tiny_bert(tmp_path / "student", CHAR_VOCAB, hidden=48, layers=2, seed=1)
    common = [f"data.train={train}", f"data.corpus={corpus}", "data.negatives=3", f"student.path={student}",
              "student.pooling=mean", f"teacher.path={teacher}", "teacher.pooling=mean",
              f"teacher.cache_dir={tmp_path / 'cache'}", f"run.output_dir={tmp_path / 'out'}", "run.threads=1",
              "optim.batch_queries=4", "optim.max_steps=1"]
    plain = Trainer(load_config(TrainConfig, None, [*common, "loss.weights={student: 1.0, margin_mse: 0.0}"]))
    assert plain.teacher_source is None and plain.selector is None and not (tmp_path / "cache").exists()
    distil = Trainer(load_config(TrainConfig, None, [*common, "loss.weights={student: 1.0, margin_mse: 1.0}"]))
    assert distil.teacher_source is not None and distil.teacher_source.cache is not None


def test_a_term_added_later_keeps_study_stage_keys_while_unweighted():
    """`align` came after study stage keys hashed the spelled-out weights: at 0 it stays out of them."""
    from lead_ir.config import changed_fields

    arm = LossConfig(weights={"student": 1.0, "response": 0.0, "layer": 0.0})
    assert arm.weights == {"student": 1.0, "response": 0.0, "layer": 0.0, "margin_mse": 0.0, "teacher": 0.0,
                           "reverse": 0.0}  # as before the term existed
    assert arm.weights == LossConfig(weights={**arm.weights, "align": 0.0}).weights
    assert changed_fields(LossConfig(weights={**default_weights(), "align": 0.0})) == {}  # the defaults
    assert LossConfig(weights={"student": 1.0, "align": 0.5}).weights["align"] == 0.5
