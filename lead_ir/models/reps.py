"""Per-layer representations of a batch and the per-layer scores they induce.

A training batch holds Q queries and P = Q(1+n) passages laid out per query as
[pos, neg_1..neg_n]. Each model kind turns the texts into :class:`LayerReps` for the requested
layers (1-based; the embedding output is not a layer); :func:`layer_scores` turns reps into
scores of shape ``[L, Q, P]`` (dual encoder, ColBERT) or ``[L, Q, 1+n]`` (cross-encoder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor


@dataclass
class LayerReps:
    """Representations of one (local or gathered) batch for ``layers``.

    Attributes:
        kind: "dense", "colbert" or "cross".
        layers: the 1-based layers held, in order (index i of dim 0 is ``layers[i]``).
        query: dense [L, Q, H]; colbert [L, Q, Tq, D]; cross: scores [L, Q, 1+n].
        passage: dense [L, P, H]; colbert [L, P, Tp, D]; cross: None.
        query_mask / passage_mask: colbert token masks [Q, Tq] / [P, Tp] (1 = real token).
    """

    kind: str
    layers: tuple[int, ...]
    query: Tensor
    passage: Tensor | None = None
    query_mask: Tensor | None = None
    passage_mask: Tensor | None = None


def dense_scores(query: Tensor, passage: Tensor) -> Tensor:
    """Dot products of pooled vectors: [L, Q, H] x [L, P, H] -> [L, Q, P]."""
    return torch.einsum("lqh,lph->lqp", query, passage)


def maxsim_scores(query: Tensor, query_mask: Tensor, passage: Tensor, passage_mask: Tensor) -> Tensor:
    """ColBERT MaxSim per layer: s(q, p) = sum_i max_j <q_i, p_j>, padding masked.

    Args:
        query: [L, Q, Tq, D]; query_mask: [Q, Tq]; passage: [L, P, Tp, D]; passage_mask: [P, Tp].

    Returns:
        [L, Q, P]; padded passage tokens never win the max, padded query tokens add nothing.
    """
    out = []
    for q, p in zip(query, passage):  # one layer at a time bounds memory to Q*P*Tq*Tp
        sim = torch.einsum("qid,pjd->qpij", q, p)
        sim = sim.masked_fill(~passage_mask.bool()[None, :, None, :], float("-inf"))
        best = sim.max(dim=-1).values.masked_fill(~query_mask.bool()[:, None, :], 0.0)
        out.append(best.sum(-1))
    return torch.stack(out)


def layer_scores(reps: LayerReps) -> Tensor:
    """Per-layer scores of ``reps``: [L, Q, P] (dense, colbert) or [L, Q, 1+n] (cross)."""
    if reps.kind == "dense":
        return dense_scores(reps.query, reps.passage)
    if reps.kind == "colbert":
        return maxsim_scores(reps.query, reps.query_mask, reps.passage, reps.passage_mask)
    return reps.query


def gather_reps(reps: LayerReps, gather: Callable[..., Tensor]) -> LayerReps:
    """Concatenate ``reps`` across processes with ``gather(tensor, dim, ragged_dim=None)``.

    ``ragged_dim`` names an axis whose length differs between processes (ColBERT token axes);
    the gather pads it with zeros, which the gathered masks mark as padding.
    """
    if reps.kind == "dense":
        return replace(reps, query=gather(reps.query, 1), passage=gather(reps.passage, 1))
    if reps.kind == "cross":
        return replace(reps, query=gather(reps.query, 1))
    return replace(reps, query=gather(reps.query, 1, ragged_dim=2), passage=gather(reps.passage, 1, ragged_dim=2),
                   query_mask=gather(reps.query_mask, 0, ragged_dim=1),
                   passage_mask=gather(reps.passage_mask, 0, ragged_dim=1))
