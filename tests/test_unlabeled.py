"""Distillation on unlabeled queries: groups without a positive, mixed with labeled ones at a ratio.

The trainer runs on tiny random models of different tokenizers and widths; the loss terms of a
mixed batch are recomputed here from the teacher's and student's scores (softmax, KL by hand).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fixtures_models import CHAR_VOCAB, DOCS, WORD_VOCAB, build_tiny_bert, write_toy_data

from lead_ir.cli import main
from lead_ir.config import load_config
from lead_ir.data.negatives import read_train_groups, write_train_groups
from lead_ir.data.unlabeled import mix_training_file, title_queries, unlabeled_groups
from lead_ir.errors import ConfigError, InputFormatError, LeadIRError
from lead_ir.losses.objective import ObjectiveSettings, Scores, objective
from lead_ir.models.reps import layer_scores
from lead_ir.records import TrainGroup
from lead_ir.training.config import TrainConfig
from lead_ir.training.loop import Trainer
from lead_ir.training.step import batch_loss

UNLABELED = {"u0": "tumor growth immune cells", "u1": "kidney liver protein", "u2": "brain memory sleep",
             "u3": "lung cancer cells", "u4": "diet obesity gene", "u5": "heart blood protein risk",
             "u6": "infection treatment", "u7": "muscle bone loss"}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("unlabeled")
    corpus, train = write_toy_data(root / "data")
    groups = [TrainGroup(qid, query, [], list(DOCS)[i:] + list(DOCS)[:i]) for i, (qid, query)
              in enumerate(UNLABELED.items())]
    unlabeled = write_train_groups(groups, root / "data" / "unlabeled.jsonl")
    return {"root": root, "corpus": str(corpus), "train": str(train), "unlabeled": str(unlabeled),
            "teacher": str(build_tiny_bert(root / "teacher", WORD_VOCAB, hidden=32, layers=4)),
            "student": str(build_tiny_bert(root / "student", CHAR_VOCAB, hidden=48, layers=2, seed=1))}


def _cfg(toy, out: Path, *extra: str) -> TrainConfig:
    return load_config(TrainConfig, None, [
        f"data.train={toy['train']}", f"data.corpus={toy['corpus']}", "data.negatives=3",
        f"data.unlabeled={toy['unlabeled']}", "data.unlabeled_ratio=1.0",
        f"student.path={toy['student']}", "student.pooling=mean", "student.normalize=true",
        f"teacher.path={toy['teacher']}", "teacher.pooling=mean", "teacher.normalize=true",
        f"teacher.cache_dir={toy['root'] / 'cache'}", f"run.output_dir={out}", "optim.batch_queries=4",
        "optim.max_steps=4", "optim.lr=1e-3", "loss.layer_selection=map", "loss.layer_map=[[2,1],[4,2]]",
        "run.threads=1", *extra])


def _mixed_batch(trainer: Trainer):
    """The first batch of epoch 0 holding labeled and unlabeled queries."""
    for position in range(trainer.steps_per_epoch):
        batch = trainer.data.batch(0, position, trainer.cfg.optim.batch_queries)
        if 0 < sum(batch.labeled) < len(batch.labeled):
            return batch
    raise AssertionError("no mixed batch in epoch 0")


def _kl(student: torch.Tensor, teacher: torch.Tensor, t_s: float, t_t: float) -> torch.Tensor:
    """Per-row KL(p_T || p_S), written out: sum_j p_T (log p_T - log p_S)."""
    p_t = torch.exp(teacher / t_t) / torch.exp(teacher / t_t).sum(-1, keepdim=True)
    p_s = torch.exp(student / t_s) / torch.exp(student / t_s).sum(-1, keepdim=True)
    return (p_t * (torch.log(p_t) - torch.log(p_s))).sum(-1)


def _ce(scores: torch.Tensor, column: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-row -log softmax(scores / T)[column]."""
    probs = torch.exp(scores / temperature) / torch.exp(scores / temperature).sum(-1, keepdim=True)
    return -torch.log(probs.gather(1, column.view(-1, 1)).squeeze(1))


@pytest.mark.parametrize("mode", ["skip", "teacher_top"])
def test_mixed_training_skips_the_student_term_of_unlabeled_queries(toy, tmp_path, mode):
    out = tmp_path / mode
    trainer = Trainer(_cfg(toy, out, f"loss.unlabeled_student_loss={mode}", "loss.reweight=teacher-loss"))
    mix = read_train_groups(out / "mix" / "train.jsonl")
    assert sum(1 for g in mix if g.positives) == 8 and sum(1 for g in mix if not g.positives) == 8
    student = trainer.student
    before = {k: v.clone() for k, v in student.state_dict().items()}

    batch = _mixed_batch(trainer)
    g, q = batch.group_size, len(batch.queries)
    labeled = torch.tensor(batch.labeled)
    pairs = [(2, 1), (4, 2)]
    trainer.module.eval()  # no dropout: the recomputation below sees the same scores
    parts = batch_loss(trainer.module, student.num_layers, batch, batch, pairs, trainer.settings,
                       trainer.teacher_source)

    # Independent computation from the models' per-layer scores.
    with torch.no_grad():
        s = layer_scores(student.layer_reps(batch.queries, batch.passages, [1, 2])).float()  # [2, Q, P]
        t = trainer.teacher_source.cache.batch_scores(batch, (2, 4))  # [2, Q, P] (frozen teacher, cached)
    t_s, t_t = trainer.settings.student_temperature, trainer.settings.teacher_temperature
    kl = _kl(s, t, t_s, t_t)  # [2 layers, Q]
    assert parts.terms["response"].item() == pytest.approx(kl[1].mean().item(), rel=1e-4, abs=1e-6)  # all queries
    own_t = torch.stack([t[1, i, i * g:(i + 1) * g] for i in range(q)])
    top = own_t.argmax(-1)
    column = torch.arange(q) * g + torch.where(labeled, torch.zeros_like(top), top)  # positive, or teacher top
    teacher_ce = torch.stack([_ce(t[k], column, t_t).mean() for k in range(2)])
    weights = torch.softmax(-teacher_ce / trainer.cfg.loss.reweight_tau, dim=0)
    assert torch.allclose(parts.layers.weights, weights, atol=1e-5)
    assert torch.allclose(parts.layers.kl, kl.mean(-1), rtol=1e-4, atol=1e-6)
    assert parts.terms["layer"].item() == pytest.approx((weights * kl.mean(-1)).sum().item(), rel=1e-4, abs=1e-6)
    ce = _ce(s[1], column, t_s)
    expected_student = ce[labeled].mean() if mode == "skip" else ce.mean()
    assert parts.terms["student"].item() == pytest.approx(expected_student.item(), rel=1e-4)
    assert parts.terms["student"].item() != pytest.approx(ce.mean().item(), rel=1e-3) or mode == "teacher_top"
    assert parts.loss.item() == pytest.approx((expected_student + kl[1].mean()
                                                  + (weights * kl.mean(-1)).sum()).item(), rel=1e-4)

    # Unlabeled rows get no gradient from the student term in skip mode.
    scores = s.clone().requires_grad_(True)
    only_student = ObjectiveSettings(weights={"student": 1.0, "response": 0.0, "layer": 0.0},
                                     unlabeled_student_loss=mode)
    objective(Scores(scores, (1, 2)), Scores(t, (2, 4)), g, pairs, only_student, labeled).loss.backward()
    row_grad = scores.grad[1].abs().sum(-1)
    assert bool((row_grad[labeled] > 0).all())
    assert bool((row_grad[~labeled] == 0).all()) == (mode == "skip")

    trainer.fit()
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]
    assert any(not torch.equal(before[k], v) for k, v in student.state_dict().items())


def test_unlabeled_groups_need_a_teacher_and_a_ratio(toy, tmp_path):
    with pytest.raises(ConfigError, match="unlabeled groups"):
        Trainer(_cfg(toy, tmp_path / "no-teacher", "teacher.path="))
    with pytest.raises(ConfigError, match="unlabeled groups"):
        Trainer(_cfg(toy, tmp_path / "contrastive", "loss.weights={student: 1.0, response: 0.0, layer: 0.0}"))
    with pytest.raises(ConfigError, match="unlabeled_ratio must be > 0"):
        _cfg(toy, tmp_path / "ratio", "data.unlabeled_ratio=0")
    with pytest.raises(ValueError, match="need a teacher"):
        objective(Scores(torch.zeros(1, 2, 4), (1,)), None, 2, [], ObjectiveSettings(),
                  torch.tensor([True, False]))


def test_mix_ratio_and_file_format(toy, tmp_path):
    stats = mix_training_file(toy["train"], toy["unlabeled"], 0.5, 13, tmp_path / "mix.jsonl")
    assert stats == {"labeled": 8, "unlabeled": 4, "ratio": 0.5, "unlabeled_available": 8}
    lines = [json.loads(line) for line in (tmp_path / "mix.jsonl").read_text().splitlines()]
    assert [r.get("unlabeled", False) for r in lines] == [False] * 8 + [True] * 4
    assert mix_training_file(toy["train"], toy["unlabeled"], 0.5, 13, tmp_path / "again.jsonl") == stats
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "mix.jsonl").read_bytes()  # seeded
    assert mix_training_file(toy["train"], toy["unlabeled"], 3.0, 13, tmp_path / "all.jsonl")["unlabeled"] == 8
    with pytest.raises(LeadIRError, match="holds groups with positives"):
        mix_training_file(toy["train"], toy["train"], 1.0, 13, tmp_path / "bad.jsonl")
    bad = tmp_path / "no-flag.jsonl"
    bad.write_text(json.dumps({"qid": "x", "query": "q", "positives": [], "negatives": ["d1"]}) + "\n")
    with pytest.raises(InputFormatError, match="has no positives"):
        read_train_groups(bad)
    bad.write_text(json.dumps({"qid": "x", "query": "q", "positives": ["d0"], "negatives": [], "unlabeled": True})
                   + "\n")
    with pytest.raises(InputFormatError, match="lists positives"):
        read_train_groups(bad)


def test_title_pseudo_queries_leave_out_their_source(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": "a", "title": "Vitamin D and cancer risk", "text": "x"},
            {"_id": "b", "title": "Short", "text": "y"},
            {"_id": "c", "title": "vitamin d and  cancer RISK", "text": "z"},  # same title: kept once, for 'a'
            {"_id": "d", "title": "Insulin for type 2 diabetes", "text": "w"}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    queries = title_queries(str(corpus), min_words=3)
    assert queries == {"title:a": "Vitamin D and cancer risk", "title:d": "Insulin for type 2 diabetes"}
    run = {"title:a": {"a": 9.0, "c": 5.0, "d": 1.0}, "title:d": {"d": 3.0, "a": 2.0}, "other": {"a": 1.0}}
    groups, stats = unlabeled_groups(run, queries | {"other": "a query"}, depth=3, num_candidates=10)
    assert [(g.qid, g.positives, g.negatives) for g in groups] == [
        ("other", [], ["a"]), ("title:a", [], ["c", "d"]), ("title:d", [], ["a"])]
    kept, _ = unlabeled_groups(run, queries, depth=3, num_candidates=10, exclude_source=False)
    assert kept[0].negatives == ["a", "c", "d"]
    two, _ = unlabeled_groups(run, queries, depth=2, num_candidates=10)  # the source does not cost a candidate
    assert [g.negatives for g in two] == [["c", "d"], ["a"]]
    untitled = tmp_path / "untitled.jsonl"
    untitled.write_text(json.dumps({"_id": "z", "text": "no title"}) + "\n")
    with pytest.raises(LeadIRError, match="no document titles"):
        title_queries(str(untitled))


@pytest.mark.java
def test_mine_pseudo_queries_through_bm25(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    docs = {f"d{i}": (title, text) for i, (title, text) in enumerate([
        ("Vitamin D lowers cancer risk", "a trial of vitamin d and cancer risk in adults"),
        ("Insulin therapy in diabetes", "insulin dose and blood glucose"),
        ("Sleep consolidates memory", "sleep, memory and insulin in adults"),
        ("Cancer risk of obesity", "obesity, poor sleep and the risk of cancer and diabetes")])}
    corpus.write_text("".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, (t, x) in docs.items()))
    assert main(["-q", "index", "bm25", "--corpus", str(corpus), "--index", str(tmp_path / "index")]) == 0
    out = tmp_path / "unlabeled.jsonl"
    assert main(["-q", "mine", "--pseudo-queries", "titles", "--corpus", str(corpus), "--index",
                 str(tmp_path / "index"), "--output", str(out), "--depth", "3"]) == 0
    groups = read_train_groups(out)
    assert [g.qid for g in groups] == [f"title:d{i}" for i in range(4)]
    assert all(not g.positives and g.qid.removeprefix("title:") not in g.negatives for g in groups)
    assert "d3" in groups[0].negatives  # "cancer risk" is shared with d3's title
    manifest = json.loads((tmp_path / "unlabeled.jsonl.manifest.json").read_text())
    assert manifest["unlabeled"] is True and manifest["exclude_source"] is True
    # one-line errors for contradictory or missing options
    assert main(["-q", "mine", "--unlabeled", "--topics", str(corpus), "--qrels", "x", "--run", "r",
                 "--output", str(tmp_path / "x.jsonl")]) == 2
    assert main(["-q", "mine", "--unlabeled", "--topics", str(corpus), "--output", str(tmp_path / "x.jsonl")]) == 2
    assert main(["-q", "mine", "--topics", str(corpus), "--output", str(tmp_path / "x.jsonl")]) == 2


@pytest.mark.slow
@pytest.mark.java
def test_study_mixes_unlabeled_queries_into_an_arm(tmp_path):
    """mining.unlabeled builds a mine-unlabeled stage; only the arm with data.unlabeled_ratio > 0 reads it,
    and the mine stage's key does not change (studies without unlabeled queries stay done)."""
    import dataclasses

    import yaml
    from test_experiment import write_config

    from lead_ir.config import config_hash
    from lead_ir.experiment.study import Study, load_experiment, run_experiment

    teacher = build_tiny_bert(tmp_path / "teacher", WORD_VOCAB, hidden=32, layers=4)
    path = write_config(tmp_path, teacher, steps=4)
    (tmp_path / "unlabeled-topics.tsv").write_text("".join(f"u{i}\t{q}\n" for i, q in enumerate(UNLABELED.values())))
    base = load_experiment(path)
    mine_key = next(s.key for s in Study(base).pipeline.stages if s.name == "mine")
    config = yaml.safe_load(path.read_text())
    config["mining"]["unlabeled"] = {"queries": str(tmp_path / "unlabeled-topics.tsv"), "depth": 10}
    config["teacher"]["warmup"] = False
    config["hybrid"] = {"enabled": False}
    config["evaluation"]["baselines"] = ["bm25", "lead"]
    config["arms"] = [
        {"name": "lead", "student_layers": [1, 2], "teacher": "zero-shot",
         "train": {"loss": {"num_layer_pairs": 2}}},
        {"name": "lead-unlabeled", "student_layers": [1, 2], "teacher": "zero-shot",
         "train": {"loss": {"num_layer_pairs": 2}, "data": {"unlabeled_ratio": 2.0}}}]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    cfg = load_experiment(path)
    stages = {s.name: s for s in Study(cfg).pipeline.stages}
    assert config_hash(stages["mine"].key) == config_hash(mine_key)
    assert "mine-unlabeled" in stages["student-lead-unlabeled"].deps
    assert "mine-unlabeled" not in stages["student-lead"].deps
    with pytest.raises(ConfigError, match="mining.unlabeled.queries is empty"):
        Study(dataclasses.replace(cfg, mining=dataclasses.replace(cfg.mining, unlabeled=type(
            cfg.mining.unlabeled)())))
    with pytest.raises(ConfigError, match="is a test set"):
        Study(load_experiment(path, [f"mining.unlabeled.queries={config['data']['test_topics']}"]))

    run_experiment(cfg)
    root = Path(cfg.output_dir) / "stages"
    unlabeled = read_train_groups(root / "mine-unlabeled" / "unlabeled.jsonl")
    assert len(unlabeled) == len(UNLABELED) and all(not g.positives and g.negatives for g in unlabeled)
    mixed = read_train_groups(root / "student-lead-unlabeled" / "train" / "mix" / "train.jsonl")
    labeled = read_train_groups(root / "mine" / "train.jsonl")
    assert sum(1 for g in mixed if g.positives) == len(labeled)
    assert sum(1 for g in mixed if not g.positives) == min(len(unlabeled), 2 * len(labeled))
    assert not (root / "student-lead" / "train" / "mix").exists()
    assert (Path(cfg.results_dir) / "leaderboard.md").read_text().count("lead-unlabeled") >= 1


def test_teacher_top_over_own_candidates_of_a_cross_encoder_teacher():
    """With a teacher scoring only each query's own 1+n candidates, an unlabeled query's pseudo-positive is its
    teacher-best own candidate, placed at that candidate's column of the student's global-batch scores."""
    torch.manual_seed(0)
    q, g = 3, 4
    student = torch.randn(2, q, q * g)
    teacher = torch.randn(1, q, g)
    labeled = torch.tensor([True, False, False])
    cfg = ObjectiveSettings(weights={"student": 1.0, "response": 1.0, "layer": 0.0}, student_temperature=0.5,
                            teacher_temperature=0.5, unlabeled_student_loss="teacher_top")
    parts = objective(Scores(student, (1, 2)), Scores(teacher, (4,)), g, [], cfg, labeled)
    top = teacher[0].argmax(-1)
    column = torch.arange(q) * g + torch.where(labeled, torch.zeros_like(top), top)
    assert parts.terms["student"].item() == pytest.approx(_ce(student[1], column, 0.5).mean().item(), rel=1e-5)
    own = torch.stack([student[1, i, i * g:(i + 1) * g] for i in range(q)])
    assert parts.terms["response"].item() == pytest.approx(_kl(own, teacher[0], 0.5, 0.5).mean().item(), rel=1e-5)
    skip = objective(Scores(student, (1, 2)), Scores(teacher, (4,)), g, [],
                     ObjectiveSettings(weights=cfg.weights, student_temperature=0.5, teacher_temperature=0.5), labeled)
    assert skip.terms["student"].item() == pytest.approx(_ce(student[1], column, 0.5)[0].item(), rel=1e-5)
    everything_unlabeled = objective(Scores(student, (1, 2)), Scores(teacher, (4,)), g, [],
                                     ObjectiveSettings(weights=cfg.weights), torch.zeros(q, dtype=torch.bool))
    assert everything_unlabeled.terms["student"].item() == 0.0 and everything_unlabeled.loss.item() > 0


def test_mine_unlabeled_queries_from_a_file_and_a_run(tmp_path):
    topics = tmp_path / "topics.tsv"
    topics.write_text("u1\ttumor growth\nu2\tinsulin dose\n")
    run = tmp_path / "run.trec"
    run.write_text("u1 Q0 d3 1 9.0 x\nu1 Q0 d8 2 8.0 x\nu1 Q0 d11 3 7.0 x\nu2 Q0 d1 1 5.0 x\nu3 Q0 d2 1 1.0 x\n")
    out = tmp_path / "unlabeled.jsonl"
    assert main(["-q", "mine", "--unlabeled", "--topics", str(topics), "--run", str(run), "--output", str(out),
                 "--depth", "2"]) == 0
    groups = read_train_groups(out)
    assert [(g.qid, g.positives, g.negatives) for g in groups] == [("u1", [], ["d3", "d8"]), ("u2", [], ["d1"])]
    assert all(json.loads(line)["unlabeled"] is True for line in out.read_text().splitlines())
