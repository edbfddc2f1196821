"""Pyserini hit lists -> run dicts, built without the garbage collector's full scans.

Pyserini's ``batch_search`` (Lucene, FAISS, hybrid) returns one Python object per hit: 300 queries
at k=1000 are 300,000 objects. Each burst of allocations triggers the cyclic collector, and once
torch, transformers and pyserini are imported a full collection walks millions of live objects;
measured here, that was 85-90% of FaissSearcher's per-hit cost (``bench/bench_search.py``).
Hits form no reference cycles, so pausing the collector while they are built frees nothing late.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from lead_ir.records import RunDict


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector inside the block (restored after, even on error)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def add_hits(results: Mapping[str, Sequence], run: RunDict, qids: Sequence[str] | None = None) -> None:
    """Copy Pyserini results ``{qid: [hit.docid, hit.score, ...]}`` into ``run`` as ``{qid: {docid: score}}``.

    With ``qids``, every one of them gets an entry (empty when Pyserini returned nothing for it).
    """
    for qid in qids if qids is not None else results:
        run[qid] = {hit.docid: float(hit.score) for hit in results.get(qid, ())}
