"""The experiment → trainer handoff, without Java: each training row's TrainConfig is built once when the plan is
made, stage keys hash that typed config (so a spelled-out default changes nothing), settings the study owns are
refused instead of overwritten, and stages read their inputs from the earlier stages' manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_models import WORD_VOCAB, build_tiny_bert

from lead_ir.errors import ConfigError
from lead_ir.fileio import write_json


def _study(tmp_path: Path, overrides: list[str] | None = None, teacher: Path | None = None):
    from test_experiment import write_config

    from lead_ir.experiment.study import Study, load_experiment

    if teacher is None:
        teacher = tmp_path / "teacher"
        teacher.mkdir(exist_ok=True)  # planning reads no model
    return Study(load_experiment(write_config(tmp_path, teacher), overrides))


def finish_stages(study, outputs: dict[str, dict]) -> None:
    """Manifests of finished earlier stages naming ``outputs``, so that one stage body can run alone."""
    for stage, named in outputs.items():
        study.out(stage).mkdir(parents=True)
        write_json(study.out(stage, "manifest.json"), {"outputs": named})


def recording_trainer(received: list):
    """A stand-in for ``lead_ir.training.loop.train`` that records the TrainConfig it is given."""
    def trainer(cfg):
        received.append(cfg)
        (Path(cfg.run.output_dir) / "final").mkdir(parents=True)
        return {"steps": 0}
    return trainer


def _keys(tmp_path: Path, overrides: list[str] | None = None) -> dict[str, str]:
    return {s.stage.name: s.key_hash for s in _study(tmp_path, overrides).pipeline.plan()}


# The tiny study's own settings (tests/test_experiment.py) written out again, and defaults spelled out:
# the same typed configs, so the same keys.
SAME_SETTINGS = [
    "train.optim.weight_decay=0.01", "train.teacher.mode=frozen", "train.loss.reweight=teacher-loss",
    "train.student.pooling=auto", "train.optim.lr=0.001",
    "arms.1.train.loss.weights={student: 1, response: 0, layer: 0, margin_mse: 0}",  # ints, the base term spelled
    # the default weights written out (joint mode's teacher and reverse terms too: left out, they would weigh 0)
    "arms.2.train.loss.weights={student: 1.0, response: 1.0, layer: 1.0, teacher: 1, reverse: 1}",
    "encode.factory=Flat", "encode.precision=fp32", "encode.chunk_size=16384", "train.optim.precision=fp32",
]


def test_spelled_out_defaults_and_equal_values_leave_every_stage_key_unchanged(tmp_path):
    assert _keys(tmp_path, SAME_SETTINGS) == _keys(tmp_path)


@pytest.mark.parametrize(("override", "changed"), [
    ("arms.2.train.loss.num_layer_pairs=3", {"student-lead"}),
    ("arms.1.train.loss.weights={student: 1.0, response: 0.0, layer: 0.5}", {"student-contrastive"}),
    ("teacher.train.optim.lr=0.0001", {"teacher-warmup"}),
    ("encode.factory=HNSW32", {"encode-teacher-zero-shot", "encode-teacher-warmup", "encode-truncated",
                               "encode-contrastive", "encode-lead"}),
])
def test_a_real_change_makes_its_stages_and_their_descendants_stale_and_no_other(tmp_path, override, changed):
    before, after = _keys(tmp_path), _keys(tmp_path, [override])
    differ = {name for name in before if before[name] != after[name]}
    assert changed <= differ <= _study(tmp_path).pipeline.descendants(changed)


@pytest.mark.parametrize(("override", "message"), [
    ("train.teacher.kind=colbert", r"^teacher.train: train.teacher.kind \('colbert'\) is set by the study from the "
                                   r"teacher section's kind; remove it from train$"),
    ("arms.1.train.teacher.kind=colbert", r"^arm 'contrastive': train.teacher.kind \('colbert'\) is set by the study"),
    ("teacher.train.student.kind=colbert", r"teacher.train: train.student.kind \('colbert'\) is set by the study"),
    ("train.run.seed=3", r"train.run.seed \(3\) is set by the study from the experiment's seed/seeds"),
    ("arms.2.train.data.train=mine.jsonl", r"arm 'lead': train.data.train \('mine.jsonl'\) is set by the study from "
                                           r"the mine stage"),
    ("arms.2.train.student.keep_layers=[1]", r"arm 'lead': train.student.keep_layers \(\[1\]\) is set by the study "
                                             r"from the arm's student_layers"),
    ("train.data.dev_metric=mrr@10", r"train.data.dev_metric \('mrr@10'\) is set by the study from "
                                     r"evaluation.dev_metric"),
])
def test_settings_the_study_owns_are_refused_when_the_plan_is_made(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        _study(tmp_path, [override])


def test_a_study_owned_setting_equal_to_the_studys_value_is_accepted(tmp_path):
    study = _study(tmp_path, ["train.teacher.kind=dense", "arms.2.train.student.keep_layers=[1, 2]",
                              "train.data.dev_metric=ndcg@10"])
    assert study.train_configs["lead"].teacher.kind == "dense"


def test_each_training_stage_gets_its_planned_config_completed_from_the_manifests(tmp_path, monkeypatch):
    """The trainer receives the TrainConfig planned for the arm, with every input path taken from an earlier stage's
    manifest (here deliberately not the usual file names), the stage's seed and folder; the planned config itself
    is left as it was and nothing is parsed again."""
    import dataclasses

    import lead_ir.config as config_module
    import lead_ir.training.loop as loop
    from lead_ir.experiment.stages.train import train_row

    study = _study(tmp_path)
    finish_stages(study, {"split": {"dev_topics": "x/dev.tsv", "dev_qrels": "x/dev.qrels"},
                          "mine": {"train": "elsewhere/groups.jsonl"}, "teacher-warmup": {"model": "kept"}})
    received = []
    trainer = recording_trainer(received)

    def parse(*args, **kwargs):
        raise AssertionError("a training stage parsed a config again")

    monkeypatch.setattr(loop, "train", trainer)
    monkeypatch.setattr(config_module, "from_dict", parse)
    planned = study.train_configs["lead"]
    before = dataclasses.asdict(planned)
    arm = next(a for a in study.cfg.arms if a.name == "lead")
    out = tmp_path / "stage"
    train_row(study, out, arm, planned, 11)

    (cfg,) = received
    assert cfg.data.train == str(study.out("mine", "elsewhere/groups.jsonl"))
    assert (cfg.data.dev_topics, cfg.data.dev_qrels) == (str(study.out("split", "x/dev.tsv")),
                                                         str(study.out("split", "x/dev.qrels")))
    assert cfg.teacher.path == str(study.out("teacher-warmup", "kept")) == cfg.student.path
    assert (cfg.teacher.kind, cfg.student.kind, cfg.student.keep_layers) == ("dense", "dense", [1, 2])
    assert (cfg.run.seed, cfg.run.output_dir, cfg.data.dev_fraction) == (11, str(out / "train"), 0.0)
    assert cfg.teacher.cache_dir == str(study.root / "teacher-cache")
    assert cfg.loss == planned.loss and cfg.optim == planned.optim  # the arm's own settings, as planned
    assert dataclasses.asdict(planned) == before
    assert (out / "model").is_dir()


def test_encode_section_options_reach_the_index(tmp_path):
    """encode.factory (and chunk_size) of the experiment build the stage's index as `lead-ir encode` would."""
    from lead_ir.experiment.stages.encode import encode_row
    from lead_ir.index import load_meta

    teacher = build_tiny_bert(tmp_path / "bert", WORD_VOCAB, hidden=32, layers=2)
    study = _study(tmp_path, ["encode.factory=HNSW8", "encode.chunk_size=16"], teacher=teacher)
    outputs = encode_row(study, tmp_path / "encoded", "teacher-zero-shot", study.cfg.seed)
    meta = load_meta(tmp_path / "encoded" / outputs["index"])
    assert meta["factory"] == "HNSW8" and meta["count"] == 40
    assert study.encode_key() == {"factory": "HNSW8", "chunk_size": 16, "batch_size": 8, "max_length": 24}


def test_auto_precision_is_resolved_once_when_the_plan_is_made(tmp_path, cpu_bf16):
    """`auto` becomes one precision in every planned training config, the encode section and the cost stage key,
    so a study's arms never run in two; the stage keys are those of a study that spelled that precision out,
    and the leaderboard caption names it."""
    expected = "bf16" if cpu_bf16 else "fp32"
    auto = _study(tmp_path, ["train.optim.precision=auto", "encode.precision=auto"])
    trained = [t for t in auto.train_configs.values() if t is not None]
    assert trained and {t.optim.precision for t in trained} == {expected}
    assert auto.encode_section.precision == expected and auto.cfg.encode.precision == "auto"
    pinned = [f"train.optim.precision={expected}", f"encode.precision={expected}"]
    assert _keys(tmp_path, ["train.optim.precision=auto", "encode.precision=auto"]) == _keys(tmp_path, pinned)
    assert f"training {expected}, encoding and query latency {expected}" in auto.precision_note()
    assert _study(tmp_path, pinned).precision_note() == ""  # a pinned study's caption is as it always was
