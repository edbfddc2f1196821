"""LEAD layer pairing and layer re-weighting (Sun et al., WSDM 2024, arXiv 2212.05225).

Selection ``random`` (the paper's): draw K distinct teacher and K distinct student layers
uniformly without replacement, sort each list and pair them in order. The draw is a pure
function of ``(seed, step // redraw_every)``, so every process draws the same pairs and a
resumed run continues the same sequence. ``last``, ``skip`` (evenly spaced) and ``map``
(explicit pairs) are deterministic ablations. Layers are 1-based transformer blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import Tensor

Pair = tuple[int, int]  # (teacher layer, student layer)


@dataclass
class LayerSelector:
    """Chooses the K (teacher layer, student layer) pairs used by L_lyr at each optimizer step."""

    mode: Literal["random", "last", "skip", "map"]
    teacher_layers: int
    student_layers: int
    k: int = 3
    redraw_every: int = 10
    seed: int = 0
    exclude_final: bool = False
    layer_map: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.redraw_every < 1:
            raise ValueError(f"redraw_every must be >= 1, found {self.redraw_every}")
        if self.mode == "map":
            self._check_map()
            return
        room = min(len(self._candidates(self.teacher_layers)), len(self._candidates(self.student_layers)))
        if not 1 <= self.k <= room:
            raise ValueError(f"num_layer_pairs={self.k}, but the teacher has {self.teacher_layers} and the student "
                             f"{self.student_layers} layers{' (final excluded)' if self.exclude_final else ''}; "
                             f"choose 1..{room}")

    def _check_map(self) -> None:
        if not self.layer_map:
            raise ValueError("layer_selection=map needs layer_map, e.g. [[2, 1], [4, 2], [6, 3]] (teacher, student)")
        for pair in self.layer_map:
            if len(pair) != 2 or not 1 <= pair[0] <= self.teacher_layers or not 1 <= pair[1] <= self.student_layers:
                raise ValueError(f"layer_map pair {pair}: expected [teacher 1..{self.teacher_layers}, "
                                 f"student 1..{self.student_layers}]")

    def _candidates(self, n: int) -> list[int]:
        return list(range(1, n if self.exclude_final else n + 1))

    def draw_index(self, step: int) -> int:
        """Which draw ``step`` (0-based optimizer step) uses: ``step // redraw_every``."""
        return step // self.redraw_every

    def pairs(self, step: int) -> list[Pair]:
        """The sorted, distinct, order-paired (teacher, student) layers for optimizer step ``step``."""
        if self.mode == "map":
            return [(int(t), int(s)) for t, s in self.layer_map]
        teacher, student = self._candidates(self.teacher_layers), self._candidates(self.student_layers)
        if self.mode == "random":
            rng = np.random.default_rng([self.seed, self.draw_index(step)])
            chosen_t = sorted(rng.choice(teacher, self.k, replace=False).tolist())
            chosen_s = sorted(rng.choice(student, self.k, replace=False).tolist())
        elif self.mode == "last":
            chosen_t, chosen_s = teacher[-self.k:], student[-self.k:]
        else:  # skip: evenly spaced, always including the last candidate
            chosen_t, chosen_s = _evenly(teacher, self.k), _evenly(student, self.k)
        return list(zip(chosen_t, chosen_s))

    def state_dict(self) -> dict:
        """Everything that determines future draws (stored in checkpoints for inspection and checks)."""
        return {"mode": self.mode, "seed": self.seed, "redraw_every": self.redraw_every, "k": self.k,
                "exclude_final": self.exclude_final, "layer_map": self.layer_map}

    def check_state(self, state: dict) -> None:
        """Refuse to resume with a selector that would draw a different sequence."""
        if state != self.state_dict():
            raise ValueError(f"the checkpoint's layer selection {state} differs from the config's "
                             f"{self.state_dict()}; resume with the original loss settings")


def _evenly(layers: list[int], k: int) -> list[int]:
    n = len(layers)
    return [layers[round((i + 1) * n / k) - 1] for i in range(k)]


def layer_weights(mode: Literal["teacher-loss", "uniform", "fixed"], teacher_ce: Tensor | None = None,
                  tau: float = 10.0, fixed: list[float] | None = None, k: int | None = None) -> Tensor:
    r"""Weights w_k of the K layer pairs, with gradients stopped.

    ``teacher-loss``: :math:`w = \mathrm{softmax}_k(-\ell_k / \tau_w)` where :math:`\ell_k` is the
    cross-entropy of the positive under the teacher layer a_k; ``uniform``: 1/K each;
    ``fixed``: the given list.

    Args:
        teacher_ce: [K] teacher per-layer cross-entropies (needed by ``teacher-loss``).
        k: number of pairs (for ``uniform``/``fixed`` when ``teacher_ce`` is None).

    Returns:
        [K] detached weights.
    """
    k = k if k is not None else int(teacher_ce.numel())
    device = teacher_ce.device if teacher_ce is not None else None
    if mode == "teacher-loss":
        if teacher_ce is None:
            raise ValueError("reweight=teacher-loss needs the teacher's per-layer cross-entropies")
        return torch.softmax(-teacher_ce.detach().float() / tau, dim=0)
    if mode == "uniform":
        return torch.full((k,), 1.0 / k, device=device)
    if fixed is None or len(fixed) != k:
        raise ValueError(f"reweight=fixed needs {k} layer_weights (one per layer pair), found {fixed}")
    return torch.tensor(fixed, dtype=torch.float32, device=device)
