"""Hard-negative mining from a first-stage run (BM25 through Pyserini, or any TREC run).

Runs in the main process only: Lucene objects must never be used from forked workers, so the
run is computed first and the training file written to disk for the trainer to read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from lead_ir.errors import LeadIRError
from lead_ir.fileio import atomic_open, write_json
from lead_ir.records import Qrels, RunDict, TrainGroup
from lead_ir.runs import natural_key, sorted_hits

logger = logging.getLogger(__name__)


@dataclass
class MiningStats:
    queries_in_run: int
    training_queries: int
    dropped_no_positive: int
    dropped_no_topic: int
    dropped_no_negative: int
    mean_negatives: float


def mine_negatives(run: RunDict, qrels: Qrels, topics: dict[str, str], depth: int = 100,
                   num_negatives: int = 100, min_relevance: int = 1) -> tuple[list[TrainGroup], MiningStats]:
    """Build training groups: positives from qrels, negatives from the run's top ``depth``.

    Every judged-relevant document (relevance >= ``min_relevance``) is excluded from the
    negatives, not only the first positive. Queries without a positive are dropped and counted.
    """
    if depth < 1 or num_negatives < 1:
        raise LeadIRError(f"depth ({depth}) and num_negatives ({num_negatives}) must be at least 1")
    unknown = [qid for qid in run if qid not in topics]
    if unknown and len(unknown) == len(run):
        raise LeadIRError(f"none of the run's {len(run)} query ids are in the topics (e.g. '{unknown[0]}'); "
                          f"pass the topics the run was made from")
    groups: list[TrainGroup] = []
    no_pos = no_topic = no_neg = 0
    for qid in sorted(run, key=natural_key):
        if qid not in topics:
            no_topic += 1
            continue
        judged = qrels.get(qid, {})
        positives = sorted((d for d, rel in judged.items() if rel >= min_relevance), key=lambda d: (-judged[d], d))
        if not positives:
            no_pos += 1
            continue
        relevant = set(positives)
        negatives = [d for d, _ in sorted_hits(run[qid], depth) if d not in relevant][:num_negatives]
        if not negatives:
            no_neg += 1
            continue
        groups.append(TrainGroup(qid, topics[qid], positives, negatives))
    stats = MiningStats(len(run), len(groups), no_pos, no_topic, no_neg,
                        sum(len(g.negatives) for g in groups) / max(1, len(groups)))
    return groups, stats


def mine_file(run: str | Path, qrels: str, topics: str, output: str | Path, depth: int = 100,
              num_negatives: int = 100, min_relevance: int = 1, topic_field: str | None = None) -> MiningStats:
    """Mine a TREC run file into the training file ``output`` (:func:`mine_negatives`), with a manifest of
    where it came from: the run and its sha256, the qrels and topics specs, and the settings.

    The one mining path of ``lead-ir mine`` and the study, so both record the same provenance.
    """
    from lead_ir.data.collections import read_qrels, read_topics
    from lead_ir.fileio import file_fingerprint
    from lead_ir.runs import read_run

    groups, stats = mine_negatives(read_run(run), read_qrels(qrels), read_topics(topics, topic_field), depth,
                                   num_negatives, min_relevance)
    provenance = {"run": str(run), "run_fingerprint": file_fingerprint(run), "qrels": str(qrels),
                  "topics": str(topics), "depth": depth, "num_negatives": num_negatives,
                  "min_relevance": min_relevance}
    if topic_field:
        provenance["topic_field"] = topic_field
    write_train_groups(groups, output, stats, provenance)
    return stats


def write_train_groups(groups: list[TrainGroup], path: str | Path, stats: MiningStats | None = None,
                       provenance: dict | None = None) -> Path:
    """Write groups as JSONL (one object per query), plus ``<path>.manifest.json``, atomically.

    A group without positives is written as unlabeled (``"unlabeled": true``, its candidates in
    ``negatives``; see :mod:`lead_ir.data.unlabeled`).

    The manifest is written first and removed again if the training file cannot be written, so
    the two exist together or not at all.
    """
    from lead_ir.data.unlabeled import unlabeled_json

    path = Path(path)
    manifest_path = path.with_name(path.name + ".manifest.json")
    manifest = dict(provenance or {})
    if stats is not None:
        manifest["stats"] = stats.__dict__
    write_json(manifest_path, manifest)
    try:
        with atomic_open(path) as fh:
            for group in groups:
                fh.write(json.dumps(group.to_json() if group.positives else unlabeled_json(group)) + "\n")
    except BaseException:
        manifest_path.unlink(missing_ok=True)
        raise
    return path


def read_train_groups(path: str | Path) -> list[TrainGroup]:
    """Read a training file written by :func:`write_train_groups`, validating every line.

    Unlabeled groups (``"unlabeled": true``) come back with no positives and their candidates as
    ``negatives``; any other line without positives is an error.
    """
    from lead_ir.data.formats import parse_json_line
    from lead_ir.errors import InputFormatError
    from lead_ir.fileio import open_text

    groups = []
    if not Path(path).exists():
        raise LeadIRError(f"{path}: training file not found; create it with `lead-ir mine`")
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            obj = parse_json_line(path, line_no, line)
            missing = [k for k in ("qid", "query", "positives", "negatives") if k not in obj]
            if missing:
                raise InputFormatError(path, line_no, f"missing field(s) {missing}",
                                       "training files are written by `lead-ir mine`")
            if obj.get("unlabeled") is True:
                if obj["positives"]:
                    raise InputFormatError(path, line_no, f"unlabeled query '{obj['qid']}' lists positives",
                                           "an unlabeled group has \"positives\": []; drop the flag or the list")
            elif not obj["positives"]:
                raise InputFormatError(path, line_no, f"query '{obj['qid']}' has no positives",
                                       "mine again with `lead-ir mine`, which drops such queries")
            groups.append(TrainGroup(str(obj["qid"]), obj["query"], [str(d) for d in obj["positives"]],
                                     [str(d) for d in obj["negatives"]]))
    if not groups:
        raise LeadIRError(f"{path}: no training queries; mine them with `lead-ir mine`")
    return groups
