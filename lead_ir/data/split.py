"""Seeded splits of query ids, and of a whole topic set with its qrels into train/dev/test files.

Every part is taken from one ranking of the qids by sha256(f"{seed}:{qid}"): the first
``round(fraction * N)`` qids go to the first part asked (test), the next ones to the next part
(dev), and the rest is train. A split therefore depends only on the qids and the seed — never on
file order, process count or which stage asks — and the test part does not move when the dev
fraction changes. Training (checkpoint choice) and fusion (weights) use the same dev queries.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lead_ir.errors import InputFormatError, LeadIRError

logger = logging.getLogger(__name__)
PARTS = ("train", "dev", "test")


def _ranked(qids: Iterable[str], seed: int) -> list[str]:
    return sorted(sorted(set(qids)), key=lambda q: hashlib.sha256(f"{seed}:{q}".encode()).hexdigest())


def split_qids(qids: Iterable[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train qids, dev qids), each in the input's sorted order."""
    unique = sorted(set(qids))
    if not 0 < fraction < 1:
        raise LeadIRError(f"dev fraction must be in (0, 1), found {fraction}")
    if not unique:
        raise LeadIRError("no queries to split into train and dev; check that the topics and the qrels share "
                          "query ids (and that some judgments are relevant)")
    dev = set(_ranked(unique, seed)[:round(fraction * len(unique))])
    if not dev or len(dev) == len(unique):
        raise LeadIRError(f"a dev fraction of {fraction} of {len(unique)} queries leaves an empty train or dev set")
    return [q for q in unique if q not in dev], [q for q in unique if q in dev]


def partition_qids(qids: Iterable[str], fractions: Mapping[str, float] | None = None,
                   fixed: Mapping[str, Sequence[str]] | None = None, seed: int = 13,
                   rest: str = "train") -> dict[str, list[str]]:
    """Named parts of ``qids`` (each in sorted order): ``fixed`` parts are given id lists, then each
    ``fractions`` part, in order, takes the next ``round(fraction * N)`` qids of the seeded ranking;
    ``rest`` gets the others. With ``{"dev": f}`` this is :func:`split_qids`."""
    unique = sorted(set(qids))
    fractions, fixed = dict(fractions or {}), {k: list(v) for k, v in (fixed or {}).items()}
    if not unique:
        raise LeadIRError("no queries to split; check that the topics and the qrels share query ids")
    both = set(fractions) & set(fixed)
    if both:
        raise LeadIRError(f"part(s) {sorted(both)} given both a fraction and an id list; give one")
    if rest in fractions or rest in fixed:
        raise LeadIRError(f"'{rest}' is what is left over; give fractions or id lists for the other parts only")
    for name, fraction in fractions.items():
        if not 0 < fraction < 1:
            raise LeadIRError(f"the {name} fraction must be in (0, 1), found {fraction}")
    if sum(fractions.values()) >= 1:
        raise LeadIRError(f"fractions {fractions} add up to 1 or more; leave some queries for {rest}")
    known, out, taken = set(unique), {}, set()
    for name, ids in fixed.items():
        unknown = [q for q in dict.fromkeys(ids) if q not in known]
        if unknown:
            raise LeadIRError(f"{len(unknown)} {name} id(s) are not among the topics to split (e.g. "
                              f"{', '.join(unknown[:3])}); check the id list against the topics and qrels")
        clash = taken & set(ids)
        if clash:
            raise LeadIRError(f"id(s) {sorted(clash)[:3]} are in two id lists; parts must not overlap")
        out[name] = sorted(set(ids))
        taken |= set(ids)
    ranking = [q for q in _ranked(unique, seed) if q not in taken]
    start = 0
    for name, fraction in fractions.items():
        size = round(fraction * len(unique))
        if size == 0 or start + size >= len(ranking):
            raise LeadIRError(f"a {name} fraction of {fraction} of {len(unique)} queries leaves an empty {name} or "
                              f"{rest} part")
        out[name] = sorted(ranking[start:start + size])
        start += size
    out[rest] = sorted(ranking[start:])
    if not out[rest]:
        raise LeadIRError(f"the split leaves no {rest} queries")
    return out


def read_id_list(path: str | Path) -> list[str]:
    """Query ids from a file: the first field of each non-empty line ('#' starts a comment line), so a
    topics TSV or a plain list of ids both work."""
    from lead_ir.fileio import open_text

    ids = []
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            from lead_ir.data.formats import check_id

            ids.append(check_id(path, line_no, parts[0]))
    if not ids:
        raise InputFormatError(path, None, "no query ids found", "write one query id per line")
    return ids


@dataclass
class TopicSplit:
    """Where a split wrote its parts, and what it left out."""

    files: dict[str, dict[str, str]]  # part -> {"topics": path, "qrels": path}
    counts: dict[str, int]
    unjudged: int = 0  # topics left out because no judgment of theirs is relevant
    info: dict = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{part}: {self.counts[part]} topics -> {f['topics']}, {f['qrels']}" for part, f in self.files.items()]
        if self.unjudged:
            lines.append(f"left out {self.unjudged} topics without a relevant judgment")
        return "\n".join(lines)


def split_topic_set(topics: str, qrels: str, output_dir: str | Path, fractions: Mapping[str, float] | None = None,
                    id_files: Mapping[str, str | Path] | None = None, seed: int = 13, field: str | None = None,
                    judged_only: bool = True) -> TopicSplit:
    """Split a topic set and its qrels into train/dev/test files the toolkit reads.

    Writes ``<part>-topics.tsv`` (``qid<TAB>text``), ``<part>-qrels.txt`` (TREC) and ``split.json``
    into ``output_dir``. ``fractions`` and ``id_files`` name the dev/test parts (train is the rest);
    with ``judged_only`` topics without a relevant judgment are left out (they can neither be
    trained nor evaluated on).
    """
    from lead_ir.data.collections import read_qrels, read_topics, write_qrels, write_topics
    from lead_ir.fileio import write_json

    for name in list(fractions or {}) + list(id_files or {}):
        if name not in PARTS[1:]:
            raise LeadIRError(f"unknown split part '{name}'; give dev and/or test (train is the rest)")
    if not fractions and not id_files:
        raise LeadIRError("nothing to split off; give a test and/or dev fraction or id list")
    texts, judgments = read_topics(topics, field), read_qrels(qrels)
    pool = [q for q in texts if any(r > 0 for r in judgments.get(q, {}).values())] if judged_only else list(texts)
    if not pool:
        raise LeadIRError(f"no topic of {topics} has a relevant judgment in {qrels} (topic ids e.g. "
                          f"{', '.join(list(texts)[:3])}; qrels ids e.g. {', '.join(list(judgments)[:3])}); are they "
                          f"the same topic set?")
    ordered = {name: fractions[name] for name in ("test", "dev") if name in (fractions or {})}
    fixed = {name: read_id_list(path) for name, path in (id_files or {}).items()}
    parts = partition_qids(pool, ordered, fixed, seed)
    position = {q: i for i, q in enumerate(texts)}
    out = Path(output_dir)
    files, counts = {}, {}
    for name in PARTS:
        if name not in parts:
            continue
        qids = sorted(parts[name], key=position.__getitem__)  # the topics file's order
        files[name] = {"topics": str(out / f"{name}-topics.tsv"), "qrels": str(out / f"{name}-qrels.txt")}
        write_topics(files[name]["topics"], {q: texts[q] for q in qids})
        write_qrels(files[name]["qrels"], {q: judgments[q] for q in qids if q in judgments})
        counts[name] = len(qids)
    info = {"topics": topics, "qrels": qrels, "field": field or "title", "seed": seed,
            "fractions": dict(fractions or {}), "id_files": {k: str(v) for k, v in (id_files or {}).items()},
            "judged_only": judged_only, "counts": counts, "files": files}
    write_json(out / "split.json", info)
    unjudged = len(texts) - len(pool)
    if unjudged:
        logger.info("left out %d of %d topics without a relevant judgment", unjudged, len(texts))
    return TopicSplit(files, counts, unjudged, info)
