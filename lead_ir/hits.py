"""Pyserini hit lists -> run dicts, built without the garbage collector's full scans.

Pyserini's ``batch_search`` (Lucene, FAISS, hybrid) returns one Python object per hit: 300 queries
at k=1000 are 300,000 objects. Each burst of allocations triggers the cyclic collector, and once
torch, transformers and pyserini are imported a full collection walks millions of live objects;
measured here, that was 85-90% of FaissSearcher's per-hit cost (``bench/bench_search.py``).
Hits form no reference cycles, so pausing the collector while they are built frees nothing late.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from lead_ir.log import progress_bar
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


def batched_search(search: Callable[[list[str], list[str]], Mapping[str, Sequence]], topics: Mapping[str, str],
                   batch_size: int, desc: str) -> RunDict:
    """Run ``search(texts, qids)``, a Pyserini ``batch_search``, over ``topics`` in batches.

    Returns ``{qid: {docid: score}}``: hits keep Pyserini's order, and every query gets an entry
    (empty when Pyserini returned nothing for it). The collector is paused while each batch's hits
    are built.
    """
    qids = list(topics)
    run: RunDict = {}
    with progress_bar(len(qids), desc=desc, unit="q") as bar:
        for start in range(0, len(qids), batch_size):
            batch = qids[start:start + batch_size]
            with gc_paused():
                results = search([topics[q] for q in batch], batch)
                for qid in batch:
                    run[qid] = {hit.docid: float(hit.score) for hit in results.get(qid, ())}
            bar.update(len(batch))
    return run
