"""Shared fixtures: real data from ../shared/data (skipped when absent) and tiny corpora."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LEAD_IR_SHARED_DATA", REPO.parent / "shared" / "data"))
TOPICS_DIR = SHARED_DATA / "topics-and-qrels"

# Writable caches for every test process (ranx/numba, HF); set before any import of them.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "lead_ir" / "numba"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"needs {path} (the shared test data beside the repository)")


_IRDS_COPY: Path | None = None


def pytest_configure(config) -> None:
    """Point IR_DATASETS_HOME at a writable copy of ../shared/data/ir_datasets before any test runs.

    ir_datasets fixes its data folder when first imported (``import ranx`` imports it too), so
    this must happen before any test module imports either.
    """
    global _IRDS_COPY
    source = SHARED_DATA / "ir_datasets"
    if not source.exists():
        return
    import tempfile

    _IRDS_COPY = Path(tempfile.mkdtemp(prefix="lead_ir_irds_")) / "ir_datasets"
    shutil.copytree(source, _IRDS_COPY)
    os.environ["IR_DATASETS_HOME"] = str(_IRDS_COPY)


def pytest_unconfigure(config) -> None:
    if _IRDS_COPY is not None:
        shutil.rmtree(_IRDS_COPY.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def irds_home() -> Path:
    """The writable copy of ../shared/data/ir_datasets that IR_DATASETS_HOME points at (skips without it)."""
    _need(SHARED_DATA / "ir_datasets")
    return _IRDS_COPY


@pytest.fixture(scope="session")
def topics_dir() -> Path:
    """../shared/data/topics-and-qrels, registered as LEAD_IR_TOPICS_DIR."""
    _need(TOPICS_DIR)
    os.environ["LEAD_IR_TOPICS_DIR"] = str(TOPICS_DIR)
    return TOPICS_DIR


@pytest.fixture(scope="session")
def scifact_bm25_index(irds_home, tmp_path_factory) -> Path:
    """A Lucene index of the SciFact corpus, built once per session through `lead_ir.bm25`."""
    from lead_ir.bm25 import build_bm25_index

    return build_bm25_index("irds:beir/scifact/test", tmp_path_factory.mktemp("bm25") / "scifact", threads=2)


TOY_DOCS = [
    ("d1", "Dense retrieval encodes queries and passages into vectors."),
    ("d2", "BM25 is a lexical ranking function used by Lucene."),
    ("d3", "Knowledge distillation transfers knowledge from a teacher to a student."),
    ("d4", "Layer-wise distillation matches intermediate layers of two models."),
    ("d5", "FAISS performs efficient similarity search over dense vectors."),
    ("d6", "Pyserini provides reproducible sparse and dense retrieval baselines."),
    ("d7", "The Cranfield experiments established test collection evaluation."),
    ("d8", "Hard negatives are mined from the top results of a first-stage retriever."),
]
TOY_TOPICS = [("q1", "lexical ranking lucene"), ("q2", "teacher student distillation"),
              ("q3", "similarity search vectors")]
TOY_QRELS = [("q1", "d2", 1), ("q2", "d3", 2), ("q2", "d4", 1), ("q3", "d5", 1)]


@pytest.fixture(params=["cpu-fp32", "cpu-bf16"])
def cpu_bf16(request, monkeypatch) -> bool:
    """Runs a test twice: as on a CPU without native bf16 (``auto`` is fp32) and as on one with it (``auto`` is
    bf16, emulated here when the CPU lacks it: slow, but numerically the same path), through the
    ``LEAD_IR_CPU_BF16`` switch (:mod:`lead_ir.precision`); subprocesses inherit it."""
    native = request.param == "cpu-bf16"
    monkeypatch.setenv("LEAD_IR_CPU_BF16", "1" if native else "0")
    return native


@pytest.fixture
def toy_collection(tmp_path) -> dict[str, Path]:
    """A JSONL corpus, TSV topics and TREC qrels small enough to check by hand."""
    import json

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": d, "contents": t}) + "\n" for d, t in TOY_DOCS))
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"{q}\t{t}\n" for q, t in TOY_TOPICS))
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"{q} 0 {d} {r}\n" for q, d, r in TOY_QRELS))
    return {"corpus": corpus, "topics": topics, "qrels": qrels}


# Modules by their seconds in CI (--durations=0, 2 cores), longest first: pytest-xdist hands out whole
# modules in collection order, so starting with these lets the workers finish together.
LONGEST_FIRST = ("test_readme.py", "test_kill_sweep.py", "test_kill_resume.py", "test_bm25.py", "test_experiment.py",
                 "test_hardening.py", "test_experiment_torchrun.py", "test_dense.py", "test_notebooks.py",
                 "test_fuzz_readers.py", "test_evaluation.py", "test_fuse_report.py", "test_java.py")


def _module_rank(item) -> int:
    name = item.path.name
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config, items) -> None:
    """Longest modules first; tests marked ``heavy`` run only with LEAD_IR_HEAVY_TESTS=1 (``make test-heavy``)."""
    items.sort(key=_module_rank)  # stable: the order within and among the other modules is kept
    if os.environ.get("LEAD_IR_HEAVY_TESTS"):
        return
    skip = pytest.mark.skip(reason="heavy: run with LEAD_IR_HEAVY_TESTS=1 (make test-heavy)")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)
