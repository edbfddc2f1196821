"""The one exact (brute-force) inner-product search, for dev evaluation and per-layer analysis.

It ranks like a ``Flat`` FAISS index (``index.py`` stays the path for searching an encoded corpus),
with a deterministic order: score descending, then document position ascending, also at the k-th
place (which of several documents tied there is kept does not depend on the partition algorithm).
Queries are scored in blocks, so memory holds a ``[block, N]`` score matrix, not ``[Q, N]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lead_ir.errors import LeadIRError


def exact_top_k(queries: np.ndarray, docs: np.ndarray, k: int, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` documents of each query by inner product: (indices [Q, k'], scores [Q, k']), k' = min(k, N).

    Rows are sorted by score descending, ties by document position ascending.
    """
    queries = np.asarray(queries, dtype=np.float32)
    docs = np.asarray(docs, dtype=np.float32)
    k = min(int(k), len(docs))
    indices = np.empty((len(queries), k), dtype=np.int64)
    values = np.empty((len(queries), k), dtype=np.float32)
    if k <= 0:
        return indices, values
    for start in range(0, len(queries), block):
        scores = queries[start:start + block] @ docs.T
        if not np.isfinite(scores).all():
            raise LeadIRError("exact search met NaN or infinite scores: the encoder gave non-finite vectors; "
                              "encode in fp32 (--precision fp32) or check the checkpoint")
        # The k-th largest score of each row; everything above it is in, ties at it fill up by position.
        kth = np.partition(scores, len(docs) - k, axis=1)[:, len(docs) - k]
        for row, (line, bound) in enumerate(zip(scores, kth)):
            above = np.flatnonzero(line > bound)
            cols = np.concatenate([above, np.flatnonzero(line == bound)[:k - len(above)]])
            cols = cols[np.argsort(-line[cols], kind="stable")]  # cols ascend within each score
            indices[start + row], values[start + row] = cols, line[cols]
    return indices, values


def exact_search(queries: np.ndarray, docs: np.ndarray, qids: Sequence[str], doc_ids: Sequence[str], k: int,
                 block: int = 256) -> dict[str, dict[str, float]]:
    """:func:`exact_top_k` as a run: ``{qid: {doc_id: score}}`` in rank order."""
    indices, values = exact_top_k(queries, docs, k, block)
    return {qid: {doc_ids[j]: float(s) for j, s in zip(idx.tolist(), val.tolist())}
            for qid, idx, val in zip(qids, indices, values)}
