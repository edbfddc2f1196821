"""Unlabeled training groups: queries without judgments, each with BM25-mined candidates.

LEAD's distillation terms (L_rep, L_lyr) need only the teacher's score distributions, not
judgments, so a collection without qrels can still train a student. The queries come from a
file (any topics spec) or are pseudo-queries built from the corpus (document titles; the source
document is then left out of its own candidates, since its title trivially retrieves it). Each
query's candidates are its BM25 top ``depth`` through Pyserini.

Unlabeled groups are lines of the ordinary training file format (:mod:`lead_ir.data.negatives`)
with ``"positives": []``, the candidates in ``"negatives"`` and ``"unlabeled": true``; the
trainer skips their student (contrastive) term or uses the teacher's top candidate as their
positive (``loss.unlabeled_student_loss``). :func:`mix_training_file` mixes them with labeled
groups at a ratio.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lead_ir.errors import LeadIRError
from lead_ir.fileio import atomic_open
from lead_ir.records import RunDict, TrainGroup
from lead_ir.runs import natural_key, sorted_hits

if TYPE_CHECKING:
    from lead_ir.bm25 import BM25Params

logger = logging.getLogger(__name__)
PSEUDO_QUERY_KINDS = ("titles",)
TITLE_PREFIX = "title:"  # qid of the pseudo-query built from document <id>'s title: "title:<id>"


def iter_titles(corpus: str) -> Iterator[tuple[str, str]]:
    """(doc_id, title) of every document of ``corpus`` that has a non-empty title.

    Titles survive in ir_datasets records with a ``title`` field and in JSONL corpora with a
    ``title`` key (BEIR); other formats hold no separate title and give a one-line error.
    """
    from lead_ir.data import collections as col
    from lead_ir.data.formats import DOC_ID_KEYS, parse_json_line
    from lead_ir.fileio import open_text

    found = 0
    if corpus.startswith(col.IRDS_PREFIX):
        dataset = col._irds(corpus, "docs")
        fields = getattr(dataset.docs_cls(), "_fields", ())
        if "title" not in fields:
            raise LeadIRError(f"{corpus}: its documents have no title field; pass queries with "
                              f"`lead-ir mine --unlabeled --topics` instead")
        for record in dataset.docs_iter():
            title = (record.title or "").strip()
            if title:
                found += 1
                yield str(record.doc_id), title
    else:
        for path in col._files(Path(corpus)):
            if col._sniff(path) != "jsonl":
                continue
            with open_text(path) as fh:
                for line_no, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    obj = parse_json_line(path, line_no, line)
                    key = next((k for k in DOC_ID_KEYS if obj.get(k) is not None), None)  # as the corpus reader
                    title = str(obj.get("title") or "").strip()
                    if key is not None and title:
                        found += 1
                        yield str(obj[key]), title
    if not found:
        raise LeadIRError(f"{corpus}: no document titles found (titles come from ir_datasets records or JSONL "
                          f"'title' keys); pass queries with `lead-ir mine --unlabeled --topics` instead")


def title_queries(corpus: str, min_words: int = 3, max_queries: int = 0, seed: int = 13) -> dict[str, str]:
    """Pseudo-queries from document titles: ``{"title:<doc_id>": title}``.

    Titles shorter than ``min_words`` words are dropped, and a title shared by several
    documents is kept once (for the smallest doc id). ``max_queries`` > 0 keeps a seeded sample.
    """
    if min_words < 1:
        raise LeadIRError(f"min_words must be >= 1, found {min_words}")
    chosen: dict[str, str] = {}  # normalised title -> doc id
    titles: dict[str, str] = {}
    for doc_id, title in iter_titles(corpus):
        if len(title.split()) < min_words:
            continue
        norm = " ".join(title.lower().split())
        if norm not in chosen or natural_key(doc_id) < natural_key(chosen[norm]):
            chosen[norm] = doc_id
            titles[doc_id] = title
    queries = {f"{TITLE_PREFIX}{doc_id}": titles[doc_id] for doc_id in sorted(chosen.values(), key=natural_key)}
    if max_queries and len(queries) > max_queries:
        keep = np.random.default_rng(seed).choice(len(queries), max_queries, replace=False)
        qids = list(queries)
        queries = {qids[i]: queries[qids[i]] for i in sorted(keep.tolist())}
    if not queries:
        raise LeadIRError(f"{corpus}: no title has at least {min_words} words; lower min_words or pass queries "
                          f"with `lead-ir mine --unlabeled --topics`")
    return queries


def source_document(qid: str) -> str | None:
    """The document a title pseudo-query was built from (None for other queries)."""
    return qid[len(TITLE_PREFIX):] if qid.startswith(TITLE_PREFIX) else None


def unlabeled_groups(run: RunDict, topics: dict[str, str], depth: int = 100, num_candidates: int = 100,
                     exclude_source: bool = True) -> tuple[list[TrainGroup], dict]:
    """Groups without positives: each query's top ``depth`` hits (at most ``num_candidates``) as candidates.

    With ``exclude_source`` a title pseudo-query's own document is left out of its candidates (the
    top ``depth`` hits other than it); nothing else is excluded (there are no judgments to exclude).
    """
    if depth < 1 or num_candidates < 1:
        raise LeadIRError(f"depth ({depth}) and num_candidates ({num_candidates}) must be at least 1")
    groups, no_topic, no_candidate = [], 0, 0
    for qid in sorted(run, key=natural_key):
        if qid not in topics:
            no_topic += 1
            continue
        source = source_document(qid) if exclude_source else None
        hits = sorted_hits(run[qid], depth + (source is not None))
        candidates = [d for d, _ in hits if d != source][:min(depth, num_candidates)]
        if not candidates:
            no_candidate += 1
            continue
        groups.append(TrainGroup(qid, topics[qid], [], candidates))
    if not groups:
        raise LeadIRError(f"no unlabeled training queries: none of the run's {len(run)} queries has a topic and a "
                          f"candidate; pass the topics the run was made from")
    stats = {"queries_in_run": len(run), "unlabeled_queries": len(groups), "dropped_no_topic": no_topic,
             "dropped_no_candidate": no_candidate,
             "mean_candidates": sum(len(g.negatives) for g in groups) / len(groups)}
    return groups, stats


def mine_unlabeled(index: str | Path, topics: dict[str, str], depth: int = 100, num_candidates: int = 100,
                   exclude_source: bool = True, params: BM25Params | None = None,
                   threads: int = 1) -> tuple[list[TrainGroup], dict]:
    """BM25 (Pyserini; ``params``, default :class:`lead_ir.bm25.BM25Params`) top ``depth`` of each query in
    ``index`` -> :func:`unlabeled_groups`.

    With ``exclude_source`` one hit more is retrieved, so leaving a title's source out still keeps ``depth``.
    """
    from lead_ir.bm25 import search_bm25

    run = search_bm25(index, topics, k=depth + int(exclude_source), params=params, threads=threads)
    return unlabeled_groups(run, topics, depth, num_candidates, exclude_source)


def mine_unlabeled_file(topics: dict[str, str], output: str | Path, depth: int = 100, num_candidates: int = 100,
                        exclude_source: bool = False, run: str | Path | None = None, index: str | Path | None = None,
                        params: BM25Params | None = None, threads: int = 1, source: dict | None = None) -> dict:
    """Unlabeled groups of ``topics`` with candidates from ``run`` (a TREC run file) or from BM25 over
    ``index``, written to ``output`` with a manifest of where they came from; returns the stats.

    ``source`` describes the queries (a topics spec, or the pseudo-query settings) and goes into the
    manifest as given. The one unlabeled-mining path of ``lead-ir mine`` and the study.
    """
    from lead_ir.bm25 import BM25Params
    from lead_ir.data.negatives import write_train_groups
    from lead_ir.fileio import file_fingerprint
    from lead_ir.runs import read_run

    if (run is None) == (index is None):
        raise LeadIRError("unlabeled groups need one source of candidates: a TREC run of the queries (--run) or a "
                          "Lucene index searched with BM25 (--index), not both or neither")
    provenance = {"unlabeled": True, **(source or {}), "depth": depth, "num_candidates": num_candidates,
                  "exclude_source": exclude_source}
    if run is not None:
        groups, stats = unlabeled_groups(read_run(run), topics, depth, num_candidates, exclude_source)
        provenance |= {"run": str(run), "run_fingerprint": file_fingerprint(run)}
    else:
        params = params or BM25Params()
        groups, stats = mine_unlabeled(index, topics, depth, num_candidates, exclude_source, params, threads)
        provenance |= {"index": str(index), "bm25": {"k1": params.k1, "b": params.b}}
    write_train_groups(groups, output, None, provenance | {"stats": stats})
    return stats


def mix_training_file(train: str | Path, unlabeled: str | Path, ratio: float, seed: int,
                      output: str | Path) -> dict:
    """Write ``output``: every group of ``train`` plus ``round(ratio * labeled)`` unlabeled groups of
    ``unlabeled`` (a sample seeded by ``seed``, in file order; all of them when the file holds fewer).

    The result is an ordinary training file, so the teacher cache keys on its content.
    """
    from lead_ir.data.negatives import read_train_groups

    if ratio <= 0:
        raise LeadIRError(f"data.unlabeled_ratio must be > 0 to use data.unlabeled, found {ratio}")
    labeled_lines = [line for line in Path(train).read_text(encoding="utf-8").splitlines() if line.strip()]
    labeled = sum(1 for g in read_train_groups(train) if g.positives)
    pool = read_train_groups(unlabeled)
    if any(g.positives for g in pool):
        raise LeadIRError(f"{unlabeled}: data.unlabeled holds groups with positives; pass a file written by "
                          f"`lead-ir mine --unlabeled` or `--pseudo-queries`")
    wanted = round(ratio * labeled)
    if wanted > len(pool):
        logger.warning("%s: %d unlabeled groups wanted (ratio %.2f x %d labeled), only %d available; using all",
                       unlabeled, wanted, ratio, labeled, len(pool))
    take = sorted(np.random.default_rng(seed).permutation(len(pool))[:min(wanted, len(pool))].tolist())
    with atomic_open(output) as fh:
        for line in labeled_lines:
            fh.write(line + "\n")
        for i in take:
            fh.write(json.dumps(unlabeled_json(pool[i])) + "\n")
    stats = {"labeled": labeled, "unlabeled": len(take), "ratio": ratio, "unlabeled_available": len(pool)}
    logger.info("training mix: %d labeled + %d unlabeled groups", labeled, len(take))
    return stats


def unlabeled_json(group: TrainGroup) -> dict:
    """The training-file line of a group without positives."""
    return {"qid": group.qid, "query": group.query, "positives": [], "negatives": group.negatives, "unlabeled": True}
