"""Hold out a seeded fraction of training queries (by qid) as a dev set, written to files."""

from __future__ import annotations

import json
from pathlib import Path

from lead_ir.data.collections import read_qrels, write_qrels, write_topics
from lead_ir.data.formats import parse_json_line
from lead_ir.data.split import split_qids
from lead_ir.errors import InputFormatError, LeadIRError
from lead_ir.fileio import atomic_open, read_text, write_json


def split_train_dev(train: str | Path, qrels_spec: str, fraction: float, seed: int,
                    out_dir: str | Path) -> dict[str, str]:
    """Write ``train.jsonl``, ``dev-topics.tsv`` and ``dev-qrels.txt`` (TREC) under ``out_dir``.

    The dev queries are the ``round(fraction * N)`` qids with the smallest sha256(seed:qid), so
    the split depends only on the qids and the seed (identical for every run that uses them).

    Returns:
        {"train": path, "dev_topics": path, "dev_qrels": path}.
    """
    train, out_dir = Path(train), Path(out_dir)
    rows = []
    for n, line in enumerate(read_text(train).splitlines(), 1):
        if line.strip():
            rows.append(row := parse_json_line(train, n, line))
            if "qid" not in row or "query" not in row:
                raise InputFormatError(train, n, "a training group needs a 'qid' and a 'query'",
                                       "write each line as `lead-ir mine` does (qid, query, positives, negatives)")
    qids = {str(r["qid"]) for r in rows}
    dev = set(split_qids(qids, fraction, seed)[1])
    qrels = read_qrels(qrels_spec)
    paths = {"train": out_dir / "train.jsonl", "dev_topics": out_dir / "dev-topics.tsv",
             "dev_qrels": out_dir / "dev-qrels.txt"}
    missing = sorted(q for q in dev if q not in qrels)
    if missing:  # refused before anything is written
        raise LeadIRError(f"{qrels_spec}: no judgments for dev query {missing[0]!r}; pass the training qrels")
    with atomic_open(paths["train"]) as fh:
        for row in rows:
            if str(row["qid"]) not in dev:
                fh.write(json.dumps(row) + "\n")
    write_topics(paths["dev_topics"], {str(row["qid"]): str(row["query"]) for row in rows if str(row["qid"]) in dev})
    write_qrels(paths["dev_qrels"], {qid: qrels[qid] for qid in dev})
    write_json(out_dir / "split.json", {"source": str(train), "fraction": fraction, "seed": seed,
                                        "train_queries": len(qids) - len(dev), "dev_queries": len(dev)})
    return {k: str(v) for k, v in paths.items()}
