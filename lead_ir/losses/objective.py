"""The full training objective: L = L_stu + λ_rep L_rep + λ_lyr L_lyr (+ Margin-MSE, + joint terms).

With a jointly trained teacher (the paper's setting) the teacher's own cross-entropy and the
reverse final-layer KL(p_S || p_T) are added, and teacher targets are not detached.
Reference: Sun et al., "LEAD", WSDM 2024 (arXiv 2212.05225).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from lead_ir.losses.contrastive import info_nce
from lead_ir.losses.kd import kl_rows, response_kd
from lead_ir.losses.lead import lead_layer_loss
from lead_ir.losses.margin_mse import margin_mse

TERMS = ("student", "response", "layer", "margin_mse", "teacher", "reverse")


@dataclass
class ObjectiveSettings:
    weights: dict[str, float] = field(default_factory=lambda: {"student": 1.0, "response": 1.0, "layer": 1.0,
                                                               "margin_mse": 0.0, "teacher": 1.0, "reverse": 1.0})
    student_temperature: float = 0.05
    teacher_temperature: float = 0.05
    reweight: Literal["teacher-loss", "uniform", "fixed"] = "teacher-loss"
    reweight_tau: float = 10.0
    fixed_weights: list[float] | None = None
    joint: bool = False


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


def positives(scores: Tensor, group: int) -> Tensor:
    """[Q] column of each query's positive: q*group over a global batch, 0 over own candidates."""
    q, c = scores.shape[-2], scores.shape[-1]
    step = group if c != group else 0
    return torch.arange(q, device=scores.device) * step


def objective(student: Scores, teacher: Scores | None, group: int, pairs: Sequence[tuple[int, int]],
              cfg: ObjectiveSettings) -> dict[str, Tensor]:
    """Named loss parts and their weighted sum ``loss``.

    Args:
        student: final layer last; values [L_s, Q, C_s] with C_s = P (global batch) or 1+n.
        teacher: None (contrastive only) or values [L_t, Q, C_t]; C_t = 1+n makes every
            distillation term use each query's own candidates.
        group: 1+n passages per query.
        pairs: (teacher layer, student layer) pairs of L_lyr.

    Returns:
        {"loss", "student", ...terms with non-zero weight..., "layer_kl", "layer_weights"}.
    """
    w = cfg.weights
    unknown = set(w) - set(TERMS)
    if unknown:
        raise ValueError(f"unknown loss weight(s) {sorted(unknown)}; known terms are {list(TERMS)}")
    t_s, t_t = cfg.student_temperature, cfg.teacher_temperature
    parts: dict[str, Tensor] = {
        "student": info_nce(student.final, positives(student.final, group), t_s)["contrastive"]}
    if teacher is not None:
        s_values = student.values
        if teacher.values.shape[-1] != s_values.shape[-1]:
            if teacher.values.shape[-1] != group:
                raise ValueError(f"teacher scores cover {teacher.values.shape[-1]} candidates, the student's "
                                 f"{s_values.shape[-1]}; expected equal or 1+n={group}")
            s_values = own_candidates(s_values, group)
        aligned = Scores(s_values, student.layers)
        t_values = teacher.values if cfg.joint else teacher.values.detach()
        t_scores = Scores(t_values, teacher.layers)
        if w.get("response", 0):
            parts.update(response_kd(aligned.final, t_scores.final, t_s, t_t))
        if w.get("margin_mse", 0):
            s_own = aligned.final if aligned.final.shape[-1] == group else own_candidates(aligned.final, group)
            t_own = t_scores.final if t_scores.final.shape[-1] == group else own_candidates(t_scores.final, group)
            parts.update(margin_mse(s_own, t_own))
        if w.get("layer", 0) and pairs:
            t_layers, s_layers = zip(*pairs)
            lyr = lead_layer_loss(aligned.at(s_layers), t_scores.at(t_layers), positives(t_scores.final, group),
                                  cfg.reweight, cfg.reweight_tau, cfg.fixed_weights, t_s, t_t)
            parts["layer"] = lyr["layer"]
            parts["layer_kl"], parts["layer_weights"] = lyr["layer_kl"], lyr["layer_weights"]
        if cfg.joint and w.get("teacher", 0):
            parts["teacher"] = info_nce(t_scores.final, positives(t_scores.final, group), t_t)["contrastive"]
        if cfg.joint and w.get("reverse", 0):
            parts["reverse"] = kl_rows(t_scores.final, aligned.final, t_t, t_s).mean()
    parts["loss"] = sum(w.get(name, 1.0 if name == "student" else 0.0) * parts[name]
                        for name in TERMS if name in parts)
    return parts
