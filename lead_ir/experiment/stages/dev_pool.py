"""The dev-pool stage (``evaluation.dev_pool_depth`` > 0): the corpus that training-time dev evaluation searches."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lead_ir.experiment.study import Study

logger = logging.getLogger(__name__)


def dev_pool(study: Study, out: Path) -> dict:
    """Dev queries' BM25 top ``dev_pool_depth`` plus their judged documents, as a JSONL corpus.

    Exact dev search over the whole corpus would encode all of it at every evaluation (8.8M
    passages on MS MARCO); re-ranking a BM25 pool is the usual affordable stand-in. It only
    picks checkpoints: test runs always search the whole corpus.
    """
    from lead_ir.bm25 import search_bm25
    from lead_ir.data.collections import read_qrels, read_topics, write_corpus_subset

    b, depth = study.cfg.bm25, study.cfg.evaluation.dev_pool_depth
    run = search_bm25(study.input("bm25-index", "index"), read_topics(str(study.input("split", "dev_topics"))),
                      k=depth, params=b.params(), threads=b.threads)
    pool = {doc for hits in run.values() for doc in hits}
    pool |= {doc for judged in read_qrels(str(study.input("split", "dev_qrels"))).values() for doc in judged}
    found = write_corpus_subset(study.cfg.data.corpus, pool, out / "dev-corpus.jsonl")
    logger.info("dev pool: %d documents (BM25 top %d of %d dev queries + judged)", found, depth, len(run))
    return {"corpus": "dev-corpus.jsonl", "documents": found}
