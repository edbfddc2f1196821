"""The mining stages: hard negatives of the training queries from their BM25 runs (``mine``), and unlabeled
queries with BM25 candidates (``mine-unlabeled``, with ``mining.unlabeled.queries``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lead_ir.experiment.study import Study


def mine(study: Study, out: Path) -> dict:
    from lead_ir.data.negatives import mine_file

    m = study.cfg.mining
    stats = mine_file(study.input("bm25-runs", "train.trec"), str(study.input("split", "train_qrels")),
                      str(study.input("split", "train_topics")), out / "train.jsonl", m.depth, m.num_negatives)
    return {"train": "train.jsonl", "stats": stats.__dict__}


def mine_unlabeled(study: Study, out: Path) -> dict:
    """Unlabeled groups: the corpus titles as pseudo-queries (``titles``) or a topics spec, with BM25 candidates."""
    from lead_ir.data.collections import read_topics
    from lead_ir.data.unlabeled import mine_unlabeled_file, title_queries

    u, d = study.cfg.mining.unlabeled, study.cfg.data
    titles = u.queries == "titles"
    topics = title_queries(d.corpus, u.min_title_words, u.max_queries, d.split_seed) if titles else \
        read_topics(u.queries)
    source = {"queries": u.queries} | ({"corpus": d.corpus, "min_title_words": u.min_title_words,
                                         "max_queries": u.max_queries, "seed": d.split_seed} if titles else {})
    stats = mine_unlabeled_file(topics, out / "unlabeled.jsonl", u.depth, u.num_candidates,
                                titles and u.exclude_source, index=study.input("bm25-index", "index"),
                                params=study.cfg.bm25.params(), threads=study.cfg.bm25.threads, source=source)
    return {"unlabeled": "unlabeled.jsonl", "stats": stats}
