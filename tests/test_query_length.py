"""One query length, honoured everywhere: a saved student ranks the same in lead-ir, sentence-transformers and Pyserini.

The query set holds queries longer than the old 32-token cut and longer than the checkpoint's own
limit, so every tool must truncate at the length stored in the checkpoint for the top-10s to agree.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_dense import WORDS, build_tiny_model  # tests/ is on sys.path

from lead_ir.cli import main as cli
from lead_ir.runs import read_run

K = 10


def _texts(seed: int, count: int, lengths: tuple[int, int]) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(*lengths))) for _ in range(count)]


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """A tiny student saved by lead_ir (default lengths: queries get the passage length, capped at the limit)."""
    from lead_ir.models.factory import ModelConfig, build_model, save_model

    root = tmp_path_factory.mktemp("student")
    source = build_tiny_model(root / "source", seed=3)
    model = build_model(ModelConfig(path=str(source), passage_max_len=48))
    save_model(model, root / "student")
    return root / "student"


@pytest.fixture(scope="module")
def collection(student, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("collection")
    docs = {f"d{i:02d}": t for i, t in enumerate(_texts(1, 60, (3, 40)))}
    short, mid, long = _texts(2, 8, (2, 12)), _texts(3, 10, (34, 44)), _texts(4, 4, (60, 80))
    topics = {f"q{i:02d}": t for i, t in enumerate(short + mid + long)}
    (root / "corpus.jsonl").write_text("".join(json.dumps({"id": d, "contents": t}) + "\n" for d, t in docs.items()))
    (root / "topics.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in topics.items()))
    index = root / "index"
    assert cli(["-q", "encode", "--model", str(student), "--corpus", str(root / "corpus.jsonl"), "--index", str(index),
                "--batch-size", "7"]) == 0
    return {"root": root, "docs": docs, "topics": topics, "index": index}


def _top(run: dict[str, dict[str, float]]) -> dict[str, list[str]]:
    """Each query's first K hits in the run file's own order (its tool's ranking of unrounded scores)."""
    return {q: list(hits)[:K] for q, hits in run.items()}


def _lead_ir(collection, student, out: Path) -> dict[str, list[str]]:
    assert cli(["-q", "search", "dense", "--index", str(collection["index"]), "--model", str(student), "--topics",
                str(collection["root"] / "topics.tsv"), "--output", str(out), "--k", str(K)]) == 0
    return _top(read_run(out))


def test_the_saved_student_records_one_query_length(student, collection):
    from transformers import AutoTokenizer

    from lead_ir.models.spec import EncoderSpec

    spec = EncoderSpec.load(student)
    assert spec.query_max_len == spec.passage_max_len == 48
    assert json.loads((student / "sentence_bert_config.json").read_text())["max_seq_length"] == 48
    assert AutoTokenizer.from_pretrained(str(student)).model_max_length == 48
    tokenizer = AutoTokenizer.from_pretrained(str(student))
    lengths = [len(tokenizer(t)["input_ids"]) for t in collection["topics"].values()]
    assert sum(n > 32 for n in lengths) >= 10 and sum(n > 48 for n in lengths) >= 4  # the set tests the cut


def test_sentence_transformers_loads_every_weight_and_ranks_the_same(student, collection, tmp_path, capfd, cpu_bf16):
    from sentence_transformers import SentenceTransformer

    capfd.readouterr()
    model = SentenceTransformer(str(student), device="cpu")
    report = "".join(capfd.readouterr())
    assert "newly initialized" not in report and "LOAD REPORT" not in report, report
    assert model.max_seq_length == 48
    qids, dids = list(collection["topics"]), list(collection["docs"])
    queries = model.encode([collection["topics"][q] for q in qids], prompt_name="query", convert_to_numpy=True)
    docs = model.encode([collection["docs"][d] for d in dids], prompt_name="passage", convert_to_numpy=True)
    scores = queries @ docs.T
    theirs = {q: [d for d, _ in sorted(zip(dids, row.tolist(), strict=True), key=lambda x: (-x[1], x[0]))[:K]]
              for q, row in zip(qids, scores, strict=True)}  # unrounded scores: sorted here, ties by doc id
    ours = _lead_ir(collection, student, tmp_path / "lead.trec")
    differ = [q for q in qids if ours[q] != theirs[q]]
    assert not differ, f"{len(differ)} of {len(qids)} top-{K}s differ: {differ}"


def test_the_old_32_token_cut_would_change_rankings(student, collection):
    """The control: cutting queries at 32 tokens changes long queries' top-10s, so agreement above is not vacuous."""
    from lead_ir.search import LeadQueryEncoder

    texts = list(collection["topics"].values())
    full = LeadQueryEncoder(student, device="cpu").encode_batch(texts)
    cut = LeadQueryEncoder(student, device="cpu", max_length=32).encode_batch(texts)
    assert np.abs(full - cut).max(axis=1)[-14:].min() > 1e-4  # every query over 32 tokens moved
    np.testing.assert_allclose(full[:8], cut[:8], atol=1e-6)  # short queries did not


@pytest.mark.slow
@pytest.mark.java
def test_pyserini_cli_with_the_documented_flags_ranks_the_same(student, collection, tmp_path):
    """`eval "$(lead-ir doctor --export)"` then `python -m pyserini.search.faiss --encoder DIR <spec flags>`."""
    from lead_ir.models.spec import EncoderSpec

    flags = EncoderSpec.load(student).pyserini_query_flags()
    assert flags == ["--encoder-class", "auto", "--pooling", "mean", "--l2-norm"]
    theirs_path = tmp_path / "pyserini.trec"
    command = [sys.executable, "-m", "pyserini.search.faiss", "--index", str(collection["index"]), "--topics",
               str(collection["root"] / "topics.tsv"), "--encoder", str(student), *flags, "--output",
               str(theirs_path), "--hits", str(K)]
    script = (f'set -e; eval "$({sys.executable} -m lead_ir doctor --export)"; '
              + " ".join(f"'{c}'" for c in command))
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = _top(read_run(theirs_path))
    ours = _lead_ir(collection, student, tmp_path / "lead.trec")
    differ = [q for q in ours if ours[q] != theirs[q]]
    assert ours.keys() == theirs.keys() and not differ, f"{len(differ)} of {len(ours)} top-{K}s differ: {differ}"
