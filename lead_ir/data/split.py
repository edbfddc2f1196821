"""Seeded train/dev splits of query ids.

The dev queries are the ``round(fraction * N)`` qids with the smallest sha256(f"{seed}:{qid}"),
so a split depends only on the qids and the seed — never on file order, process count or
which stage asks. Training (checkpoint choice) and fusion (weights) use the same dev queries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from lead_ir.errors import LeadIRError


def split_qids(qids: Iterable[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train qids, dev qids), each in the input's sorted order."""
    unique = sorted(set(qids))
    if not 0 < fraction < 1:
        raise LeadIRError(f"dev fraction must be in (0, 1), found {fraction}")
    ranked = sorted(unique, key=lambda q: hashlib.sha256(f"{seed}:{q}".encode()).hexdigest())
    dev = set(ranked[:round(fraction * len(unique))])
    if not dev or len(dev) == len(unique):
        raise LeadIRError(f"a dev fraction of {fraction} of {len(unique)} queries leaves an empty train or dev set")
    return [q for q in unique if q not in dev], [q for q in unique if q in dev]
