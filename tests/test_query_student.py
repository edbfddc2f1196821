"""Query students (``student.tower: query``): an asymmetric dual encoder trained against its teacher's cached
passage vectors, saved with the teacher's passage space, and searching the teacher's index.

Tiny random models (tests/fixtures_models.py): a 4-layer 32-d teacher, a query student of its blocks [1, 4]
(same width: no projection) and a 2-layer 48-d student of another tokenizer (a learned 48->32 projection).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fixtures_models import CHAR_VOCAB, QUERIES, WORD_VOCAB, build_tiny_bert, write_toy_data
from transformers import BertModel, BertTokenizer

from lead_ir.cli import main as cli
from lead_ir.config import load_config
from lead_ir.errors import ConfigError, IndexMismatchError, LeadIRError
from lead_ir.losses.objective import ObjectiveSettings
from lead_ir.models.encoder import DenseEncoder
from lead_ir.models.spec import EncoderSpec
from lead_ir.runs import read_run
from lead_ir.training.config import TrainConfig
from lead_ir.training.loop import Trainer
from lead_ir.training.step import TrainModule, batch_loss

TAU = 0.05  # both temperatures (the defaults)
K = 10


@pytest.fixture(scope="session")
def toy(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("query-student")
    corpus, train = write_toy_data(root / "data")
    teacher = build_tiny_bert(root / "teacher", WORD_VOCAB, hidden=32, layers=4)
    EncoderSpec(pooling="mean", normalize=True, query_max_len=32, passage_max_len=64).save(teacher)
    other = build_tiny_bert(root / "other", WORD_VOCAB, hidden=32, layers=4, seed=7)  # a foreign passage space
    EncoderSpec(pooling="mean", normalize=True, query_max_len=32, passage_max_len=64).save(other)
    narrow = build_tiny_bert(root / "student48", CHAR_VOCAB, hidden=48, layers=2, seed=1)
    EncoderSpec(pooling="mean", normalize=True, query_max_len=32, passage_max_len=64).save(narrow)
    unlabeled = root / "data" / "unlabeled.jsonl"  # the same queries without judgments: candidates only
    groups = [json.loads(line) for line in train.read_text().splitlines()]
    unlabeled.write_text("".join(json.dumps({"qid": f"u{g['qid']}", "query": g["query"], "positives": [],
                                             "negatives": g["positives"] + g["negatives"], "unlabeled": True}) + "\n"
                                 for g in groups))
    return {"root": root, "corpus": str(corpus), "train": str(train), "unlabeled": str(unlabeled),
            "teacher": str(teacher), "other": str(other), "student48": str(narrow),
            "topics": str(root / "data" / "topics.tsv"), "qrels": str(root / "data" / "qrels.txt")}


STUDENTS = {  # name -> overrides of the student section
    "blocks": lambda toy: [f"student.path={toy['teacher']}", "student.keep_layers=[1,4]"],
    "projected": lambda toy: [f"student.path={toy['student48']}"],
}


def _cfg(toy, out: Path, student: str, *extra: str) -> TrainConfig:
    return load_config(TrainConfig, None, [
        f"data.train={toy['train']}", f"data.corpus={toy['corpus']}", "data.negatives=3", *STUDENTS[student](toy),
        "student.tower=query", f"teacher.path={toy['teacher']}", f"teacher.cache_dir={toy['root'] / 'cache'}",
        f"run.output_dir={out}", "optim.batch_queries=4", "optim.max_steps=3", "optim.lr=1e-3",
        "loss.num_layer_pairs=2", "run.threads=1", "run.device=cpu", *extra])


@pytest.fixture(scope="session")
def trained(toy, tmp_path_factory) -> dict[str, Path]:
    """A saved query student of each kind (3 steps, every term weighted)."""
    out = {}
    for name in STUDENTS:
        run = tmp_path_factory.mktemp(f"trained-{name}")
        Trainer(_cfg(toy, run, name, "loss.weights={student: 1, response: 1, layer: 1, align: 1}")).fit()
        out[name] = run / "final"
    return out


@pytest.fixture(scope="session")
def indexes(toy, tmp_path_factory) -> dict[str, Path]:
    """The teacher's index (the query students' passage space) and a foreign one of the same width."""
    root = tmp_path_factory.mktemp("indexes")
    for name in ("teacher", "other"):
        assert cli(["-q", "encode", "--model", toy[name], "--corpus", toy["corpus"], "--index", str(root / name),
                    "--batch-size", "4"]) == 0
    return {"teacher": root / "teacher", "other": root / "other"}


# ---------------------------------------------------------------- (a) every loss term, independently


def _pooled(model: BertModel, tokenizer, texts: list[str], max_len: int) -> torch.Tensor:
    """Mean-pooled hidden states of every layer [L+1, N, H] (index 0: the embeddings), straight from Hugging Face."""
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch, output_hidden_states=True).hidden_states
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.stack([(h * mask).sum(1) / mask.sum(1) for h in states])


def _kl(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(p_T || p_S), p = softmax(scores / TAU), with torch's own kl_div."""
    return F.kl_div(F.log_softmax(student / TAU, -1), F.log_softmax(teacher / TAU, -1), log_target=True,
                    reduction="batchmean")


@pytest.mark.parametrize("student", list(STUDENTS))
@pytest.mark.parametrize("align_kind", ["mse", "cosine"])
def test_every_loss_term_equals_an_independent_computation(toy, tmp_path, student, align_kind):
    trainer = Trainer(_cfg(toy, tmp_path / "run", student, f"loss.align_kind={align_kind}"))
    model = trainer.student
    assert (model.projection is not None) == (student == "projected")
    batch = trainer.data.batch(0, 0, 4)
    pairs = [(2, 1), (4, 2)]  # (teacher layer, student layer)
    weights = {"student": 1.0, "response": 1.0, "layer": 1.0, "margin_mse": 1.0, "align": 1.0}
    settings = ObjectiveSettings(weights, TAU, TAU, "teacher-loss", 10.0, align_kind=align_kind)
    model.eval()
    result = batch_loss(TrainModule(model), model.num_layers, batch, batch, pairs, settings, trainer.teacher_source)

    # The student's query vectors of layers 1 and 2: Hugging Face hidden states, mean pooling, projection, L2.
    q_s = _pooled(model.model, model.tokenizer, batch.queries, model.spec.query_max_len)[1:]
    if model.projection is not None:
        q_s = q_s @ model.projection.weight.detach().T + model.projection.bias.detach()
    q_s = F.normalize(q_s, dim=-1)
    # The teacher's vectors of layers 1..4, from its own files (not through lead_ir or the cache).
    hf = BertModel.from_pretrained(toy["teacher"], add_pooling_layer=False).eval()
    tok = BertTokenizer.from_pretrained(toy["teacher"])
    q_t = F.normalize(_pooled(hf, tok, batch.queries, 128)[1:], dim=-1)
    p_t = F.normalize(_pooled(hf, tok, batch.passages, 128)[1:], dim=-1)
    s = torch.einsum("lqh,ph->lqp", q_s, p_t[-1])  # student layer b: its queries . the teacher's final passages
    t = torch.einsum("lqh,lph->lqp", q_t, p_t)  # teacher layer a: its own per-layer scores
    group = 4
    positive = torch.arange(4) * group
    expected = {
        "student": F.cross_entropy(s[-1] / TAU, positive),
        "response": _kl(s[-1], t[-1]),
    }
    kl = torch.stack([_kl(s[b - 1], t[a - 1]) for a, b in pairs])
    ce = torch.stack([F.cross_entropy(t[a - 1] / TAU, positive) for a, _ in pairs])
    expected["layer"] = (torch.softmax(-ce / 10.0, 0) * kl).sum()
    own = lambda x: torch.stack([x[q, q * group:(q + 1) * group] for q in range(4)])  # noqa: E731
    s_own, t_own = own(s[-1]), own(t[-1])
    expected["margin_mse"] = (((s_own[:, :1] - s_own[:, 1:]) - (t_own[:, :1] - t_own[:, 1:])) ** 2).mean()
    expected["align"] = ((q_s[-1] - q_t[-1]) ** 2).sum(-1).mean() if align_kind == "mse" else \
        (1 - F.cosine_similarity(q_s[-1], q_t[-1], dim=-1)).mean()
    assert list(result.terms) == list(expected)
    for name, value in expected.items():
        torch.testing.assert_close(result.terms[name].detach(), value, atol=2e-5, rtol=1e-5, msg=name)
    assert result.loss.item() == pytest.approx(sum(v.item() for v in expected.values()), rel=1e-5)
    result.loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)  # every query-side weight learns


def test_student_layers_keep_any_subset_of_the_teachers_blocks(toy):
    teacher = BertModel.from_pretrained(toy["teacher"], add_pooling_layer=False)
    from lead_ir.models.factory import ModelConfig, build_model

    student = build_model(ModelConfig(path=toy["teacher"], keep_layers=[1, 4]))
    assert student.num_layers == 2
    for mine, theirs in zip(student.model.encoder.layer, [teacher.encoder.layer[0], teacher.encoder.layer[3]]):
        for (name, a), (_, b) in zip(mine.state_dict().items(), theirs.state_dict().items()):
            assert torch.equal(a, b), name


# ---------------------------------------------------------------- (b) training, labeled and unlabeled


def _count_rows(model: DenseEncoder) -> list[int]:
    """Rows of every forward pass through the student's backbone."""
    rows: list[int] = []
    model.model.register_forward_pre_hook(lambda _m, _a, kw: rows.append(int(kw["input_ids"].shape[0])),
                                          with_kwargs=True)
    return rows


def test_training_encodes_only_queries_with_labeled_and_unlabeled_groups(toy, tmp_path):
    out = tmp_path / "mixed"
    cfg = _cfg(toy, out, "projected", f"data.unlabeled={toy['unlabeled']}", "data.unlabeled_ratio=1.0",
               f"data.dev_topics={toy['topics']}", f"data.dev_qrels={toy['qrels']}",
               "loss.weights={student: 1, response: 1, layer: 1, margin_mse: 1, align: 1}")
    trainer = Trainer(cfg)
    assert trainer.data.has_unlabeled and trainer.module.teacher is None
    student = trainer.student
    before = {k: v.clone() for k, v in student.state_dict().items()}
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in student.parameters()} and id(student.projection.weight) in optimised
    rows = _count_rows(student)
    trainer.fit()
    assert sum(rows) == 3 * 4 + len(QUERIES)  # 3 steps of 4 queries, then the dev queries: never a passage
    after = student.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before if "projection" in k or "layer.1." in k)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "loss" in r]
    assert len(steps) == 3 and all(r["loss/align"] > 0 and r["loss/layer"] >= 0 for r in steps)
    assert any("eval/ndcg@10" in r for r in log)  # dev evaluation searched the teacher's passage vectors
    spec = EncoderSpec.load(out / "final")
    assert spec.tower == "query" and spec.projection == "2_Dense" and spec.passage_space.dim == 32


def test_unlabeled_queries_alone_train_a_query_student(toy, tmp_path):
    out = tmp_path / "unlabeled"
    trainer = Trainer(_cfg(toy, out, "blocks", f"data.train={toy['unlabeled']}",
                           "loss.weights={student: 1, response: 1, align: 1}", "optim.max_steps=2"))
    assert all(not g.labeled for g in trainer.groups)
    before = {k: v.clone() for k, v in trainer.student.state_dict().items()}
    trainer.fit()
    steps = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["loss/student"] for r in steps] == [0.0, 0.0]  # no positive anywhere: distillation only
    assert all(r["loss/response"] > 0 and r["loss/align"] > 0 for r in steps)
    assert any(not torch.equal(before[k], v) for k, v in trainer.student.state_dict().items())


def test_a_resumed_query_student_continues_identically(toy, tmp_path):
    import shutil

    out = tmp_path / "resume"
    extra = ("optim.max_steps=4", "run.save_every=2", "loss.weights={student: 1, layer: 1, align: 1}")
    Trainer(_cfg(toy, out, "projected", *extra)).fit()
    full = DenseEncoder.from_pretrained(out / "final").state_dict()
    assert any(k.startswith("projection.") for k in full)
    shutil.rmtree(out / "checkpoints" / "step-4")
    Trainer(_cfg(toy, out, "projected", *extra, "run.resume=true")).fit()
    again = DenseEncoder.from_pretrained(out / "final").state_dict()
    assert full.keys() == again.keys() and all(torch.allclose(full[k], again[k], atol=1e-6) for k in full)


@pytest.mark.parametrize(("extra", "message"), [
    (["teacher.mode=joint"], "student.tower=query needs teacher.mode=frozen"),
    (["teacher.cache=false"], "student.tower=query needs teacher.cache=true"),
    (["teacher.kind=colbert"], "student.tower=query needs a dense teacher"),
    (["teacher.keep_layers=[1,2]"], "student.tower=query needs the teacher whose index it searches"),
    (["student.tower=both", "loss.weights={align: 1}"], "loss.weights.align > 0 needs student.tower=query"),
    (["student.tower=both", "data.dev_index=some/index"], "data.dev_index is a query student's teacher index"),
])
def test_impossible_query_tower_settings_fail_when_the_config_loads(toy, tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message) as err:
        _cfg(toy, tmp_path, "blocks", *extra)
    assert "\n" not in str(err.value)


def test_a_query_tower_without_a_teacher_fails_before_any_model_is_built(toy, tmp_path):
    with pytest.raises(ConfigError, match="student.tower=query needs teacher.path"):
        Trainer(_cfg(toy, tmp_path / "run", "blocks", "teacher.path="))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("student", list(STUDENTS))
def test_dev_evaluation_reads_the_teachers_index_instead_of_encoding_the_dev_corpus(toy, indexes, tmp_path, student):
    """With data.dev_index the dev corpus's vectors are the index's own (what test search scores against), equal
    to the teacher's fresh embedding of it, and the dev scores are those of that embedding."""
    dev = (f"data.dev_topics={toy['topics']}", f"data.dev_qrels={toy['qrels']}")
    fresh = Trainer(_cfg(toy, tmp_path / "fresh", student, *dev))
    read = Trainer(_cfg(toy, tmp_path / "read", student, *dev, f"data.dev_index={indexes['teacher']}"))
    assert read.evaluator.passages.shape == fresh.evaluator.passages.shape
    assert np.allclose(read.evaluator.passages, fresh.evaluator.passages, atol=1e-5)
    assert read.evaluator(read.student) == pytest.approx(fresh.evaluator(read.student), abs=1e-6)


@pytest.mark.parametrize("student", list(STUDENTS))
def test_length_groups_train_the_same_steps(toy, tmp_path, student):
    """run.length_groups=4 encodes each step's queries in 4 length-sorted passes: the same losses and weights as one
    padded batch, up to float rounding."""
    losses, weights = {}, {}
    for groups in (1, 4):
        out = tmp_path / f"groups-{groups}"
        trainer = Trainer(_cfg(toy, out, student, f"run.length_groups={groups}",
                               "loss.weights={student: 1, response: 1, layer: 1, align: 1}"))
        assert trainer.student.length_groups == groups
        trainer.fit()
        losses[groups] = [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()]
        weights[groups] = DenseEncoder.from_pretrained(out / "final").state_dict()
    assert losses[4] == pytest.approx(losses[1], rel=1e-4)
    assert all(torch.allclose(weights[4][k], weights[1][k], atol=1e-4) for k in weights[1])


def test_a_dev_index_of_another_space_is_refused_before_training(toy, indexes, tmp_path):
    out = tmp_path / "foreign"
    cfg = _cfg(toy, out, "blocks", f"data.dev_topics={toy['topics']}", f"data.dev_qrels={toy['qrels']}",
               f"data.dev_index={indexes['other']}")
    with pytest.raises(IndexMismatchError, match="the query student belongs to the passage space of") as err:
        Trainer(cfg)
    assert "\n" not in str(err.value) and not (out / "checkpoints").exists()


def test_index_vectors_of_ids_the_index_lacks_is_one_line(indexes):
    from lead_ir.index import index_vectors, read_docids

    ids = read_docids(indexes["teacher"])
    assert index_vectors(indexes["teacher"], ids[::-1]).shape[0] == len(ids)
    with pytest.raises(LeadIRError, match=r"1 of 2 ids of the dev corpus are not in the index \(e.g. nope\)"):
        index_vectors(indexes["teacher"], [ids[0], "nope"], what="the dev corpus")


# ---------------------------------------------------------------- (c) sentence-transformers and lead_ir agree


@pytest.mark.parametrize("student", list(STUDENTS))
def test_sentence_transformers_loads_the_query_student_with_its_projection(trained, student):
    from sentence_transformers import SentenceTransformer

    from lead_ir.embed import Embedder
    from lead_ir.search import LeadQueryEncoder

    path = trained[student]
    modules = json.loads((path / "modules.json").read_text())
    types = [m["type"].rsplit(".", 1)[-1] for m in modules]
    assert types == (["Transformer", "Pooling", "Dense", "Normalize"] if student == "projected"
                     else ["Transformer", "Pooling", "Normalize"])
    texts = list(QUERIES.values())
    theirs = SentenceTransformer(str(path), device="cpu").encode(texts, prompt_name="query", convert_to_numpy=True)
    ours = LeadQueryEncoder(path, device="cpu").encode_batch(texts)
    assert ours.shape == theirs.shape == (len(texts), 32)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    encoder = DenseEncoder.from_pretrained(path)
    np.testing.assert_allclose(Embedder(encoder, "query", batch_size=3)(texts), ours, atol=1e-5)
    with pytest.raises(LeadIRError, match="is a query student"):  # its passages are its teacher's
        Embedder(encoder, "passage")
    if student == "projected":
        with pytest.raises(LeadIRError, match="cannot apply this query student's projection"):
            encoder.spec.pyserini_query_flags()


# ---------------------------------------------------------------- (d) lead-ir search with the teacher's index


def _exact_top(toy, student: Path) -> dict[str, list[tuple[str, float]]]:
    """The exact top-K of every topic: the student's query vectors . the teacher's passage vectors."""
    from lead_ir.embed import Embedder

    docs = [json.loads(line) for line in Path(toy["corpus"]).read_text().splitlines()]
    passages = Embedder(DenseEncoder.from_pretrained(toy["teacher"]), "passage")([d["text"] for d in docs])
    queries = Embedder(DenseEncoder.from_pretrained(student), "query")(list(QUERIES.values()))
    scores = queries @ passages.T
    out = {}
    for qid, row in zip(QUERIES, scores):
        ranked = sorted(zip([d["doc_id"] for d in docs], row.tolist()), key=lambda x: (-x[1], x[0]))
        out[qid] = ranked[:K]
    return out


def _error_lines(capsys) -> list[str]:
    """The CLI's error lines (exit 2 prints exactly one; model-loading bars may share stderr)."""
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("lead-ir: error:")]


def _ranked(run: dict, qid: str) -> list[tuple[str, float]]:
    """A run file's hits of ``qid`` in the file's own order: the ranking its tool computed from unrounded scores
    (re-sorting the printed 6-decimal scores would make near-ties into ties that the doc id breaks)."""
    return list(run[qid].items())


@pytest.mark.java
@pytest.mark.parametrize("student", list(STUDENTS))
def test_search_dense_with_the_teachers_index_is_exact_and_a_foreign_index_is_refused(
        toy, trained, indexes, tmp_path, capsys, student):
    out = tmp_path / "run.trec"
    assert cli(["-q", "search", "dense", "--index", str(indexes["teacher"]), "--model", str(trained[student]),
                "--topics", toy["topics"], "--output", str(out), "--k", str(K)]) == 0
    run, expected = read_run(out), _exact_top(toy, trained[student])
    assert run.keys() == expected.keys()
    for qid in run:
        assert [d for d, _ in _ranked(run, qid)] == [d for d, _ in expected[qid]]
        np.testing.assert_allclose([s for _, s in _ranked(run, qid)], [s for _, s in expected[qid]], atol=2e-6)
    capsys.readouterr()
    assert cli(["-q", "search", "dense", "--index", str(indexes["other"]), "--model", str(trained[student]),
                "--topics", toy["topics"], "--output", str(tmp_path / "foreign.trec")]) == 2
    (err,) = _error_lines(capsys)
    assert "passage space" in err and toy["teacher"] in err, err
    assert not (tmp_path / "foreign.trec").exists()


def test_a_foreign_index_is_refused_by_the_check_itself(toy, trained, indexes):
    from lead_ir.index import check_index

    spec = EncoderSpec.load(trained["projected"])
    assert check_index(indexes["teacher"], spec, 32) is not None
    with pytest.raises(IndexMismatchError, match=r"encoded by .*other.* \(weights [0-9a-f]{16}\), but the query "
                                                 r"student belongs to the passage space of"):
        check_index(indexes["other"], spec, 32)


def test_an_index_without_a_weights_digest_is_checked_by_its_teacher_folder(toy, trained, indexes, tmp_path):
    """Indexes encoded before lead_ir recorded the digest: the same teacher folder passes, another is refused."""
    import shutil

    from lead_ir.index import check_index

    spec = EncoderSpec.load(trained["blocks"])
    for name in ("teacher", "other"):
        old = shutil.copytree(indexes[name], tmp_path / name)
        meta = json.loads((old / "lead_ir.json").read_text())
        del meta["weights_digest"]
        (old / "lead_ir.json").write_text(json.dumps(meta))
    assert check_index(tmp_path / "teacher", spec, 32) is not None
    with pytest.raises(IndexMismatchError, match="records no weights digest to compare"):
        check_index(tmp_path / "other", spec, 32)


def test_a_damaged_passage_space_is_one_line_naming_the_file(trained, tmp_path):
    import shutil

    model = shutil.copytree(trained["projected"], tmp_path / "model")
    spec_file = model / "lead_ir_encoder.json"
    data = json.loads(spec_file.read_text())
    data["passage_space"]["dim"] = "32"
    spec_file.write_text(json.dumps(data))
    with pytest.raises(LeadIRError, match=r"lead_ir_encoder\.json: damaged .*passage_space\.dim should be an "
                                          r"integer, found '32'") as err:
        EncoderSpec.load(model)
    assert "\n" not in str(err.value)
    old = EncoderSpec(pooling="mean")  # a symmetric spec is saved as before: no query-tower keys
    assert set(old.to_dict()) == {"pooling", "normalize", "query_max_len", "passage_max_len", "query_prefix",
                                  "passage_prefix"}


def test_encoding_a_corpus_with_a_query_student_is_one_line(toy, trained, tmp_path, capsys):
    assert cli(["-q", "encode", "--model", str(trained["blocks"]), "--corpus", toy["corpus"], "--index",
                str(tmp_path / "idx")]) == 2
    (err,) = _error_lines(capsys)
    assert "is a query student" in err and f"lead-ir encode --model {toy['teacher']}" in err, err
    assert not (tmp_path / "idx").exists()


# ---------------------------------------------------------------- (e) Pyserini's own CLI gives the same run


@pytest.mark.slow
@pytest.mark.java
def test_pyserini_cli_with_the_query_student_gives_the_same_top10(toy, trained, indexes, tmp_path):
    """`python -m pyserini.search.faiss --index TEACHER_INDEX --encoder QUERY_STUDENT` (same width: no projection)."""
    student = trained["blocks"]
    flags = EncoderSpec.load(student).pyserini_query_flags()
    theirs_path, ours_path = tmp_path / "pyserini.trec", tmp_path / "lead.trec"
    command = [sys.executable, "-m", "pyserini.search.faiss", "--index", str(indexes["teacher"]), "--topics",
               toy["topics"], "--encoder", str(student), *flags, "--output", str(theirs_path), "--hits", str(K)]
    script = f'set -e; eval "$({sys.executable} -m lead_ir doctor --export)"; ' + " ".join(f"'{c}'" for c in command)
    env = {**os.environ, "OPENAI_API_KEY": "unused"}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert cli(["-q", "search", "dense", "--index", str(indexes["teacher"]), "--model", str(student), "--topics",
                toy["topics"], "--output", str(ours_path), "--k", str(K)]) == 0
    ours, theirs = read_run(ours_path), read_run(theirs_path)
    assert ours.keys() == theirs.keys() == set(QUERIES)
    for qid in ours:
        assert [d for d, _ in _ranked(ours, qid)] == [d for d, _ in _ranked(theirs, qid)], qid
        np.testing.assert_allclose([s for _, s in _ranked(ours, qid)], [s for _, s in _ranked(theirs, qid)],
                                   atol=1e-5)
