"""TREC run files: a validating reader and a deterministic, atomic writer.

A run in memory is ranx's layout, ``{query_id: {doc_id: score}}``. The writer sorts each
query's hits by score descending with ties broken by doc_id (Pyserini's ``tie_breaker``),
ranks from 1, and writes ``{score:.6f}``, so equal runs give byte-equal files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from lead_ir.errors import InputFormatError, LeadIRError
from lead_ir.fileio import atomic_open, open_text
from lead_ir.records import RunDict


def sorted_hits(hits: dict[str, float], k: int | None = None) -> list[tuple[str, float]]:
    ranked = sorted(hits.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:k] if k else ranked


def write_run(run: RunDict, path: str | Path, tag: str, k: int | None = None,
              query_order: Iterable[str] | None = None) -> Path:
    """Write ``run`` as a 6-column TREC file (``qid Q0 docid rank score tag``), atomically.

    Queries come in ``query_order`` (a search's topics, in the order they were read, as Pyserini writes
    them; see :func:`search_to_run`), else in natural id order (:func:`natural_key`).
    """
    if not tag or any(ch.isspace() for ch in tag):
        raise LeadIRError(f"run tag {tag!r} must be a non-empty word without spaces")
    path = Path(path)
    order = list(query_order) if query_order is not None else sorted(run, key=natural_key)
    with atomic_open(path) as fh:
        for qid in order:
            for rank, (docid, score) in enumerate(sorted_hits(run.get(qid, {}), k), 1):
                if not math.isfinite(score):
                    raise LeadIRError(f"query {qid}, document {docid}: score {score} is not finite")
                fh.write(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n")
    return path


def search_to_run(search: Callable[[dict[str, str]], RunDict], topics: str | Mapping[str, str],
                  output: str | Path, tag: str, k: int | None = None, field: str | None = None) -> RunDict:
    """Read ``topics`` (a topics spec, see :func:`lead_ir.data.collections.read_topics`, or query_id -> text),
    search them with ``search`` (query_id -> text in, a run out) and write the run to ``output`` with the
    topics' query order, cut to ``k``. The one read-topics -> search -> write-run path of the CLI and the study.
    """
    if isinstance(topics, Mapping):
        queries = dict(topics)
    else:
        from lead_ir.data.collections import read_topics

        queries = read_topics(str(topics), field)
    run = search(queries)
    write_run(run, output, tag=tag, k=k, query_order=list(queries))
    return run


def run_tag(kind: str, output: str | Path | None = None, given: str | None = None) -> str:
    """The run tag: ``given`` when set, else ``<kind>-<output file stem>`` without repeating the kind
    (``hybrid.trec`` -> ``hybrid``, ``fuse-rrf.trec`` -> ``fuse-rrf``, ``dl19.trec`` -> ``dense-dl19``)."""
    if given:
        return given
    stem = re.sub(r"\s+", "_", Path(output).name.split(".")[0]) if output else ""
    if not stem or stem == kind:
        return kind
    if stem.startswith((f"{kind}-", f"{kind}_")):
        return stem
    return f"{kind}-{stem}"


def natural_key(qid: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order, then the others alphabetically."""
    return (0, int(qid)) if qid.isdigit() else (1, qid)


def read_run(path: str | Path, return_tag: bool = False) -> RunDict | tuple[RunDict, str]:
    """Read a 6-column TREC run, checking fields, scores and duplicate (query, doc) pairs."""
    path = Path(path)
    run: RunDict = {}
    tag = ""
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise InputFormatError(path, line_no, f"expected 6 fields 'qid Q0 docid rank score tag', "
                                                      f"found {len(parts)}", "is this a TREC run file?")
            qid, _, docid, rank, score_text, tag = parts
            try:
                score = float(score_text)
            except ValueError:
                raise InputFormatError(path, line_no, f"score '{score_text}' is not a number") from None
            if not math.isfinite(score):
                raise InputFormatError(path, line_no, f"score '{score_text}' is not finite",
                                       "fix the scorer that wrote this run")
            if not rank.lstrip("-").isdigit():
                raise InputFormatError(path, line_no, f"rank '{rank}' is not an integer")
            hits = run.setdefault(qid, {})
            if docid in hits:
                raise InputFormatError(path, line_no, f"query '{qid}' retrieves document '{docid}' twice",
                                       "a run holds one line per (query, document)")
            hits[docid] = score
    if not run:
        raise InputFormatError(path, None, "run file is empty",
                               "write the run again; a TREC run has one line per (query, document)")
    return (run, tag) if return_tag else run
