"""The BM25 stages: the Lucene index of the corpus, the runs of the training and dev queries (mining pool, the
hybrid's dev side) and the runs of the test sets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lead_ir.experiment.study import Study


def bm25_index(study: Study, out: Path) -> dict:
    from lead_ir.bm25 import build_bm25_index, default_threads

    build_bm25_index(study.cfg.data.corpus, out / "index", threads=study.cfg.bm25.threads or default_threads())
    return {"index": "index"}


def bm25_runs(study: Study, out: Path) -> dict:
    """The training queries to ``bm25.train_depth`` (what mining reads) and the dev queries to the run depth."""
    b = study.cfg.bm25
    jobs = [("train", study.input("split", "train_topics"), b.train_depth),
            ("dev", study.input("split", "dev_topics"), study.cfg.evaluation.run_depth)]
    for name, topics, k in jobs:
        _search(study, topics, None, out / f"{name}.trec", f"bm25-{name}", k)
    return {"runs": [f"{name}.trec" for name, _, _ in jobs]}


def bm25_test(study: Study, out: Path) -> dict:
    """One run per test set (``test.trec``, ``test-<name>.trec``)."""
    for stem, topics, _, _ in study.test_sets():
        _search(study, topics, study.topic_field(), out / f"{stem}.trec", f"bm25-{stem}",
                study.cfg.evaluation.run_depth)
    return {"runs": [f"{stem}.trec" for stem, _, _, _ in study.test_sets()]}


def _search(study: Study, topics: str | Path, field: str | None, output: Path, tag: str, k: int) -> dict:
    """BM25 over the study's index with its settings: topics spec in, TREC run out (:func:`search_to_run`)."""
    from lead_ir.bm25 import search_bm25
    from lead_ir.runs import search_to_run

    b, index = study.cfg.bm25, study.input("bm25-index", "index")
    return search_to_run(lambda queries: search_bm25(index, queries, k=k, params=b.params(), threads=b.threads),
                         topics, output, tag=tag, k=k, field=field)
