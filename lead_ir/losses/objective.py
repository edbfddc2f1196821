"""The full training objective: L = L_stu + λ_rep L_rep + λ_lyr L_lyr (+ Margin-MSE, + joint terms).

With a jointly trained teacher (the paper's setting) the teacher's own cross-entropy and the
reverse final-layer KL(p_S || p_T) are added, and teacher targets are not detached.

Unlabeled queries (no positive; ``labeled`` False) take part in every distillation term as usual;
their student term is skipped (``unlabeled_student_loss="skip"``: L_stu is the mean over labeled
queries) or uses the teacher's top own candidate as the positive (``"teacher_top"``). Where a
positive is needed for the layer re-weighting, an unlabeled query uses that teacher-top candidate.

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
    unlabeled_student_loss: Literal["skip", "teacher_top"] = "skip"


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


def positives(scores: Tensor, group: int, offset: Tensor | None = None) -> Tensor:
    """[Q] column of each query's positive: q*group over a global batch, 0 over own candidates
    (plus ``offset[q]``, a position among the query's own candidates, when given)."""
    q, c = scores.shape[-2], scores.shape[-1]
    step = group if c != group else 0
    columns = torch.arange(q, device=scores.device) * step
    return columns if offset is None else columns + offset.to(scores.device)


def teacher_top(teacher_final: Tensor, group: int) -> Tensor:
    """[Q] position (0..group-1) of each query's best own candidate under the teacher's final scores."""
    own = teacher_final if teacher_final.shape[-1] == group else own_candidates(teacher_final, group)
    return own.detach().argmax(-1)


def objective(student: Scores, teacher: Scores | None, group: int, pairs: Sequence[tuple[int, int]],
              cfg: ObjectiveSettings, labeled: Tensor | None = None) -> dict[str, Tensor]:
    """Named loss parts and their weighted sum ``loss``.

    Args:
        student: final layer last; values [L_s, Q, C_s] with C_s = P (global batch) or 1+n.
        teacher: None (contrastive only) or values [L_t, Q, C_t]; C_t = 1+n makes every
            distillation term use each query's own candidates.
        group: 1+n passages per query.
        pairs: (teacher layer, student layer) pairs of L_lyr.
        labeled: [Q] bool, False for queries without a positive (None: all labeled); any False
            needs a teacher.

    Returns:
        {"loss", "student", ...terms with non-zero weight..., "layer_kl", "layer_weights"}.
    """
    w = cfg.weights
    unknown = set(w) - set(TERMS)
    if unknown:
        raise ValueError(f"unknown loss weight(s) {sorted(unknown)}; known terms are {list(TERMS)}")
    t_s, t_t = cfg.student_temperature, cfg.teacher_temperature
    top, student_rows = None, None  # teacher-top positions of unlabeled rows; rows of the student term
    if labeled is not None:
        labeled = labeled.to(student.final.device) if not bool(labeled.all()) else None
    if labeled is not None:
        if teacher is None:
            raise ValueError("queries without a positive (unlabeled) need a teacher: they only give distillation "
                             "terms")
        if cfg.unlabeled_student_loss not in ("skip", "teacher_top"):
            raise ValueError(f"unlabeled_student_loss must be 'skip' or 'teacher_top', found "
                             f"{cfg.unlabeled_student_loss!r}")
        top = torch.where(labeled, 0, teacher_top(teacher.final, group))
        student_rows = None if cfg.unlabeled_student_loss == "teacher_top" else labeled
    parts: dict[str, Tensor] = {"student": _rows_info_nce(student.final, positives(student.final, group, top),
                                                          student_rows, t_s)}
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
            lyr = lead_layer_loss(aligned.at(s_layers), t_scores.at(t_layers),
                                  positives(t_scores.final, group, top), cfg.reweight, cfg.reweight_tau,
                                  cfg.fixed_weights, t_s, t_t)
            parts["layer"] = lyr["layer"]
            parts["layer_kl"], parts["layer_weights"] = lyr["layer_kl"], lyr["layer_weights"]
        if cfg.joint and w.get("teacher", 0):
            parts["teacher"] = _rows_info_nce(t_scores.final, positives(t_scores.final, group), labeled, t_t)
        if cfg.joint and w.get("reverse", 0):
            parts["reverse"] = kl_rows(t_scores.final, aligned.final, t_t, t_s).mean()
    parts["loss"] = sum(w.get(name, 1.0 if name == "student" else 0.0) * parts[name]
                        for name in TERMS if name in parts)
    return parts


def _rows_info_nce(scores: Tensor, positive: Tensor, rows: Tensor | None, temperature: float) -> Tensor:
    """InfoNCE averaged over the ``rows`` (bool [Q]; None: all); 0 (still in the graph) when no row is left."""
    if rows is None:
        return info_nce(scores, positive, temperature)["contrastive"]
    if not bool(rows.any()):
        return scores.sum() * 0.0
    return info_nce(scores[rows], positive[rows], temperature)["contrastive"]
