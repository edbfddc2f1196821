"""The trainer on tiny random models: logs, caches, frozen/joint teachers of another tokenizer and
width, resume, data sampling and the dev split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from fixtures_models import CHAR_VOCAB, QUERIES, WORD_VOCAB, build_tiny_bert, write_toy_data

from lead_ir.config import load_config
from lead_ir.errors import ConfigError
from lead_ir.losses.objective import ObjectiveSettings
from lead_ir.models.factory import ModelConfig, build_model
from lead_ir.models.reps import layer_scores
from lead_ir.training.cache import TeacherCache, open_cache
from lead_ir.training.config import TeacherConfig, TrainConfig
from lead_ir.training.data import TrainData, read_groups
from lead_ir.training.loop import Trainer, train
from lead_ir.training.split import split_train_dev
from lead_ir.training.step import TeacherSource, TrainModule, batch_loss


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    corpus, train = write_toy_data(root / "data")
    return {"root": root, "corpus": str(corpus), "train": str(train),
            "teacher": str(build_tiny_bert(root / "teacher", WORD_VOCAB, hidden=32, layers=4)),
            "student": str(build_tiny_bert(root / "student", CHAR_VOCAB, hidden=48, layers=2, seed=1)),
            "topics": str(root / "data" / "topics.tsv"), "qrels": str(root / "data" / "qrels.txt")}


def _cfg(toy, out: Path, *extra: str) -> TrainConfig:
    return load_config(TrainConfig, None, [
        f"data.train={toy['train']}", f"data.corpus={toy['corpus']}", "data.negatives=3",
        f"student.path={toy['student']}", "student.pooling=mean", "student.normalize=true",
        f"teacher.path={toy['teacher']}", "teacher.pooling=mean", "teacher.normalize=true",
        f"teacher.cache_dir={toy['root'] / 'cache'}", f"run.output_dir={out}", "optim.batch_queries=4",
        "optim.max_steps=4", "optim.lr=1e-3", "loss.num_layer_pairs=2", "loss.redraw_every=2", "run.threads=1",
        *extra])


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_lead_frozen_cached_student_of_other_tokenizer_and_width(toy, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(toy, out, f"data.dev_topics={toy['topics']}", f"data.dev_qrels={toy['qrels']}", "run.eval_every=2")
    trainer = Trainer(cfg)
    before = {k: v.clone() for k, v in trainer.student.state_dict().items()}
    trainer.fit()
    rows = [r for r in _log(out) if "loss" in r]
    evals = [r for r in _log(out) if "eval/ndcg@10" in r]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and [r["step"] for r in evals] == [2, 4]
    expected = {"step", "epoch", "lr", "loss", "loss/student", "loss/response", "loss/layer", "layer_pairs",
                "layer_weights", "layer_kl"}
    assert set(rows[0]) == expected
    assert rows[0]["layer_pairs"] == rows[1]["layer_pairs"]  # re-drawn every 2 steps only
    assert all(len(r["layer_pairs"]) == len(r["layer_weights"]) == len(r["layer_kl"]) == 2 for r in rows)
    assert all(r["layer_pairs"][0][0] < r["layer_pairs"][1][0] for r in rows)
    after = trainer.student.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (out / "final" / "modules.json").exists() and (out / "best" / "lead_ir_encoder.json").exists()
    assert trainer.teacher_source.cache is not None


def test_joint_teacher_of_other_tokenizer_trains_both(toy, tmp_path):
    cfg = _cfg(toy, tmp_path / "joint", "teacher.mode=joint", "optim.max_steps=2")
    trainer = Trainer(cfg)
    teacher = trainer.module.teacher
    t_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    trainer.fit()
    rows = _log(tmp_path / "joint")
    assert {"loss/teacher", "loss/reverse"} <= set(rows[0])
    assert any(not torch.equal(t_before[k], v) for k, v in teacher.state_dict().items())


def test_frozen_teacher_gets_no_gradient(toy):
    student = build_model(ModelConfig(path=toy["student"], pooling="mean"))
    teacher = build_model(ModelConfig(path=toy["teacher"], pooling="mean")).requires_grad_(False)
    data = TrainData(read_groups(toy["train"], 30), _texts(toy), 3, seed=0)
    batch = data.batch(0, 0, 4)
    source = TeacherSource(teacher.num_layers, "dense", "global", frozen=teacher)
    parts = batch_loss(TrainModule(student), student.num_layers, batch, batch, [(2, 1), (4, 2)],
                       ObjectiveSettings(), source)
    parts.loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


def _texts(toy) -> dict[str, str]:
    rows = [json.loads(line) for line in Path(toy["corpus"]).read_text().splitlines()]
    return {row["doc_id"]: row["text"] for row in rows}


@pytest.mark.parametrize("kind", ["dense", "cross", "colbert"])
def test_cache_equals_online_teacher(toy, tmp_path, kind):
    torch.manual_seed(0)
    t_cfg = TeacherConfig(kind=kind, path=toy["teacher"], pooling="mean", normalize=True, colbert_dim=8,
                          cache_dir=str(tmp_path))
    teacher = build_model(t_cfg).eval()
    groups = read_groups(toy["train"], 30)
    data = TrainData(groups, _texts(toy), 3, seed=0)
    cache = open_cache(teacher, t_cfg, Path(toy["teacher"]), groups, data.doc_texts, toy["train"], toy["corpus"],
                       30, 16)
    batch = data.batch(1, 1, 4)
    with torch.no_grad():
        online = layer_scores(teacher.layer_reps(batch.queries, batch.passages, [1, 3, 4]))
    cached = cache.batch_scores(batch, (1, 3, 4))
    if kind == "colbert":  # cached ColBERT scores cover each query's own candidates
        online = torch.stack([online[:, q, q * 4:(q + 1) * 4] for q in range(4)], dim=1)
    assert cached.shape == online.shape
    assert torch.allclose(cached, online, atol=1e-4)
    assert isinstance(TeacherCache(cache.directory), TeacherCache)  # reopens from disk


def test_a_dense_teacher_cache_copies_the_passage_layers_its_index_was_encoded_with(toy, tmp_path, caplog):
    """The teacher's index encoded with every layer kept: the final layer is the index (bit for bit), and a cache
    built from those layers equals one that encodes its passages; layers of another length are not used."""
    import faiss
    import numpy as np

    from lead_ir.encode import EncodeOptions, PassageLayers, encode_corpus

    plain = encode_corpus(toy["teacher"], toy["corpus"], tmp_path / "plain" / "index", EncodeOptions(device="cpu"))
    kept = encode_corpus(toy["teacher"], toy["corpus"], tmp_path / "kept" / "index",
                         EncodeOptions(device="cpu", all_layers=True), layers_dir=tmp_path / "kept" / "layers")
    short = encode_corpus(toy["teacher"], toy["corpus"], tmp_path / "short" / "index",
                          EncodeOptions(device="cpu", all_layers=True, max_length=8),
                          layers_dir=tmp_path / "short" / "layers")
    assert plain["count"] == kept["count"] == short["count"]
    a, b = (faiss.read_index(str(tmp_path / d / "index" / "index")) for d in ("plain", "kept"))
    assert np.array_equal(a.reconstruct_n(0, a.ntotal), b.reconstruct_n(0, b.ntotal))
    layers = PassageLayers(tmp_path / "kept" / "layers")
    assert layers.store.layer_vectors(0).shape[1:] == (4, 32)
    assert not (tmp_path / "plain" / ".index.partial").exists()  # without all_layers the chunks go as before

    groups = read_groups(toy["train"], 30)
    texts = _texts(toy)
    caches = {}
    for name, source in (("encoded", ""), ("copied", str(tmp_path / "kept" / "layers")),
                         ("other-length", str(tmp_path / "short" / "layers"))):
        t_cfg = TeacherConfig(path=toy["teacher"], cache_dir=str(tmp_path / f"cache-{name}"), passage_layers=source)
        caplog.clear()
        with caplog.at_level("INFO", logger="lead_ir.training.cache"):
            caches[name] = open_cache(build_model(t_cfg).eval(), t_cfg, Path(toy["teacher"]), groups, texts,
                                      toy["train"], toy["corpus"], 30, 16)
        caches[name].log = caplog.text
    assert "passages copied from" in caches["copied"].log
    assert "encoding the passages, not copying them" in caches["other-length"].log
    assert "passage length 8 here, 128 wanted" in caches["other-length"].log
    reference = np.asarray(caches["encoded"].passages)
    for name in ("copied", "other-length"):
        assert np.allclose(np.asarray(caches[name].passages), reference, atol=1e-6), name
        assert np.array_equal(np.asarray(caches[name].queries), np.asarray(caches["encoded"].queries))
    with pytest.raises(ConfigError, match="teacher.passage_layers fills the frozen teacher.s cache"):
        _cfg(toy, tmp_path / "x", f"teacher.path={toy['teacher']}", "teacher.mode=joint",
             f"teacher.passage_layers={tmp_path / 'kept' / 'layers'}")


def test_dev_evaluations_and_saving_the_best_model_leave_training_as_it_would_be_without_them(toy, tmp_path):
    """With dropout on, a run evaluated (and its best model saved) after every step trains exactly as a run never
    evaluated: saving draws nothing from the global RNG that the next steps' dropout masks come from."""
    student = tmp_path / "dropout-student"
    shutil.copytree(toy["teacher"], student)
    config = json.loads((student / "config.json").read_text())
    config.update(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    (student / "config.json").write_text(json.dumps(config))
    model = build_model(ModelConfig(path=str(student)))  # as the trainer loads it (its BERT pooler dropped)
    assert model.model.pooler is None
    torch.manual_seed(0)
    before = torch.get_rng_state()
    model.save(tmp_path / "saved")
    assert torch.equal(before, torch.get_rng_state())
    losses = {}
    for every in (1, 0):
        out = tmp_path / f"every-{every}"
        cfg = _cfg(toy, out, f"student.path={student}", "teacher.path=", "optim.max_steps=5",
                   "loss.weights={student: 1.0, response: 0.0, layer: 0.0}", f"data.dev_topics={toy['topics']}",
                   f"data.dev_qrels={toy['qrels']}", f"run.eval_every={every}")
        train(cfg)
        losses[every] = [r["loss"] for r in _log(out) if "loss" in r]
        assert len([r for r in _log(out) if "eval/ndcg@10" in r]) == (5 if every else 1)
    assert losses[1] == losses[0]


def test_cross_encoder_teacher_distils_over_own_candidates(toy, tmp_path):
    cfg = _cfg(toy, tmp_path / "ce", "teacher.kind=cross", "optim.max_steps=2")
    trainer = Trainer(cfg)
    assert trainer.teacher_source.scope == "own"
    trainer.fit()
    assert all(r["loss/layer"] >= 0 for r in _log(tmp_path / "ce"))


def test_resume_continues_identically(toy, tmp_path):
    out = tmp_path / "resume"
    Trainer(_cfg(toy, out, "run.save_every=2")).fit()
    full = _log(out)
    final = {k: v.clone() for k, v in build_model(ModelConfig(path=str(out / "final"))).state_dict().items()}
    shutil.rmtree(out / "checkpoints" / "step-4")
    Trainer(_cfg(toy, out, "run.save_every=2", "run.resume=true")).fit()
    resumed = _log(out)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    for a, b in zip(full, resumed):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["layer_pairs"] == b["layer_pairs"]
    again = build_model(ModelConfig(path=str(out / "final"))).state_dict()
    assert all(torch.allclose(final[k], again[k], atol=1e-6) for k in final)


def test_sampling_is_a_function_of_seed_epoch_position(toy):
    groups = read_groups(toy["train"], 5)
    a, b = TrainData(groups, _texts(toy), 3, seed=7), TrainData(groups, _texts(toy), 3, seed=7)
    assert a.batch(2, 1, 4) == b.batch(2, 1, 4)
    assert a.batch(0, 0, 4).passage_ids != a.batch(1, 0, 4).passage_ids
    batch = a.batch(0, 0, 4)
    for q, qi in enumerate(batch.query_index):
        own = batch.passage_ids[q * 4:(q + 1) * 4]
        assert own[0] in groups[qi].positives and not set(own[1:]) & set(groups[qi].positives)
    assert len(groups[0].negatives) == 5
    assert batch.shard(1, 2).queries == batch.queries[2:]


def test_dev_split_is_seeded_by_qid(toy, tmp_path):
    a = split_train_dev(toy["train"], toy["qrels"], 0.25, 3, tmp_path / "a")
    b = split_train_dev(toy["train"], toy["qrels"], 0.25, 3, tmp_path / "b")
    dev = Path(a["dev_topics"]).read_text()
    assert dev == Path(b["dev_topics"]).read_text() and len(dev.splitlines()) == round(0.25 * len(QUERIES))
    train_qids = {json.loads(x)["qid"] for x in Path(a["train"]).read_text().splitlines()}
    dev_qids = {line.split("\t")[0] for line in dev.splitlines()}
    assert not train_qids & dev_qids and len(train_qids | dev_qids) == len(QUERIES)
    assert {line.split()[0] for line in Path(a["dev_qrels"]).read_text().splitlines()} == dev_qids


def test_config_errors_are_one_line(toy, tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'num_layer_pairs'"):
        _cfg(toy, tmp_path, "loss.num_layer_pair=2")
    with pytest.raises(ConfigError, match="choose 1..2"):
        Trainer(_cfg(toy, tmp_path / "bad", "loss.num_layer_pairs=3"))


def test_cli_and_module_entry_points(toy, tmp_path):
    from lead_ir.cli import main

    out = tmp_path / "cli"
    args = [f"data.train={toy['train']}", f"data.corpus={toy['corpus']}", f"student.path={toy['student']}",
            "optim.batch_queries=4", "optim.max_steps=1", f"run.output_dir={out}", "data.negatives=2"]
    assert main(["-q", "train", *args]) == 0
    assert (out / "final" / "model.safetensors").exists() and len(_log(out)) == 1
    assert main(["-q", "train", *args, "optim.batch_queries=64"]) == 2  # one-line error, exit 2


def test_run_threads_hold_for_the_training_call_only(toy, tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(_cfg(toy, tmp_path / "t", "optim.max_steps=1"))  # run.threads=1 inside
        assert torch.get_num_threads() == 2  # a later encode in this process gets its threads back
    finally:
        torch.set_num_threads(before)
