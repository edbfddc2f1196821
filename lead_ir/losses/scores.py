"""Per-layer score tensors and the index helpers every loss term shares (pure, no I/O).

A batch holds Q queries with ``group`` = 1+n passages each, laid out per query as
[pos, neg_1..neg_n]; scores cover either the whole (global) batch, C = Q*group, or each query's
own candidates, C = group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Scores:
    """Per-layer scores ``values`` [L, Q, C] of the layers ``layers`` (1-based, in order)."""

    values: Tensor
    layers: tuple[int, ...]

    def at(self, layers: Sequence[int]) -> Tensor:
        """[len(layers), Q, C] scores of the given layers."""
        return self.values[[self.layers.index(layer) for layer in layers]]

    @property
    def final(self) -> Tensor:
        return self.values[-1]


def own_candidates(scores: Tensor, group: int) -> Tensor:
    """[..., Q, Q*group] global-batch scores -> [..., Q, group] scores of each query's own passages."""
    q = scores.shape[-2]
    index = (torch.arange(q, device=scores.device) * group).view(q, 1) + torch.arange(group, device=scores.device)
    return scores.gather(-1, index.expand(*scores.shape[:-1], group))


def as_own(scores: Tensor, group: int) -> Tensor:
    """``scores`` over each query's own candidates, whether they cover the global batch or already the own ones."""
    return scores if scores.shape[-1] == group else own_candidates(scores, group)


def positives(scores: Tensor, group: int, offset: Tensor | None = None) -> Tensor:
    """[Q] column of each query's positive: q*group over a global batch, 0 over own candidates
    (plus ``offset[q]``, a position among the query's own candidates, when given)."""
    q, c = scores.shape[-2], scores.shape[-1]
    step = group if c != group else 0
    columns = torch.arange(q, device=scores.device) * step
    return columns if offset is None else columns + offset.to(scores.device)


def teacher_top(teacher_final: Tensor, group: int) -> Tensor:
    """[Q] position (0..group-1) of each query's best own candidate under the teacher's final scores."""
    return as_own(teacher_final, group).detach().argmax(-1)
