"""The quickstart: BM25 on SciFact through Pyserini, scored with ranx.

(The full quickstart — teacher, contrastive and LEAD students, hybrid — builds on this.)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from lead_ir.bm25 import BM25Params, build_bm25_index, default_threads, search_bm25
from lead_ir.data.collections import read_qrels, read_topics
from lead_ir.runs import write_run

logger = logging.getLogger(__name__)
CORPUS = "irds:beir/scifact/test"


def run_quickstart(workdir: str | Path = "work/quickstart") -> str:
    """Index SciFact, search its test topics with BM25, and return a small results table."""
    workdir = Path(workdir)
    index = workdir / "indexes" / "scifact-bm25"
    if not index.exists():
        build_bm25_index(CORPUS, index, threads=default_threads())
    topics, qrels = read_topics("scifact-test"), read_qrels("scifact-test")
    run = search_bm25(index, topics, k=1000, params=BM25Params(k1=0.9, b=0.4), threads=default_threads())
    run_path = write_run(run, workdir / "runs" / "bm25.trec", tag="bm25", k=1000)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "lead_ir" / "numba"))
    from ranx import Qrels, Run, evaluate

    scores = evaluate(Qrels(qrels), Run(run, name="bm25"), ["ndcg@10", "recall@100", "recall@1000"])
    lines = ["SciFact test (300 queries), BM25 k1=0.9 b=0.4 through Pyserini/Lucene", "",
             "| run  | nDCG@10 | R@100  | R@1000 |", "|------|---------|--------|--------|",
             f"| bm25 | {scores['ndcg@10']:.4f}  | {scores['recall@100']:.4f} | {scores['recall@1000']:.4f} |", "",
             f"run: {run_path}", f"index: {index}"]
    return "\n".join(lines)
