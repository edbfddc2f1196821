"""The full training objective: L = L_stu + λ_rep L_rep + λ_lyr L_lyr (+ Margin-MSE, + joint terms, + a query
student's alignment with its teacher's query vectors; docs/query-students.md).

With a jointly trained teacher (the paper's setting) the teacher's own cross-entropy and the
reverse final-layer KL(p_S || p_T) are added, and teacher targets are not detached. The terms,
their default weights and which need a teacher are one table, :data:`lead_ir.losses.terms.TERMS`;
this module only aligns the scores, runs the terms with a non-zero weight and sums them.

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

from lead_ir.losses.scores import Scores, own_candidates, positives, teacher_top
from lead_ir.losses.terms import (
    LayerDiagnostics,
    QueryVectors,
    TermInputs,
    active,
    check_weights,
    default_weights,
    weight,
)

__all__ = ["ObjectiveResult", "ObjectiveSettings", "QueryVectors", "Scores", "objective", "own_candidates",
           "positives", "teacher_top"]


@dataclass
class ObjectiveSettings:
    weights: dict[str, float] = field(default_factory=default_weights)
    student_temperature: float = 0.05
    teacher_temperature: float = 0.05
    reweight: Literal["teacher-loss", "uniform", "fixed"] = "teacher-loss"
    reweight_tau: float = 10.0
    fixed_weights: list[float] | None = None
    joint: bool = False
    unlabeled_student_loss: Literal["skip", "teacher_top"] = "skip"
    align_kind: Literal["mse", "cosine"] = "mse"

    def __post_init__(self) -> None:
        check_weights(self.weights)


@dataclass
class ObjectiveResult:
    """The weighted total ``loss``, the unweighted scalar ``terms`` that were computed (table order of
    :data:`lead_ir.losses.terms.TERMS`), and L_lyr's per-pair diagnostics ``layers`` (None without L_lyr)."""

    loss: Tensor
    terms: dict[str, Tensor]
    layers: LayerDiagnostics | None = None


def objective(student: Scores, teacher: Scores | None, group: int, pairs: Sequence[tuple[int, int]],
              cfg: ObjectiveSettings, labeled: Tensor | None = None,
              queries: QueryVectors | None = None) -> ObjectiveResult:
    """The terms of :data:`lead_ir.losses.terms.TERMS` with a non-zero weight, and their weighted sum.

    Terms that read a teacher are computed only with one; joint-only terms only with ``cfg.joint``.

    Args:
        student: final layer last; values [L_s, Q, C_s] with C_s = P (global batch) or 1+n.
        teacher: None (contrastive only) or values [L_t, Q, C_t]; C_t = 1+n makes every
            distillation term use each query's own candidates.
        group: 1+n passages per query.
        pairs: (teacher layer, student layer) pairs of L_lyr.
        labeled: [Q] bool, False for queries without a positive (None: all labeled); any False
            needs a teacher.
        queries: a query student's and its teacher's final query vectors (query-tower training; the
            alignment term reads them).

    Returns:
        :class:`ObjectiveResult`: ``loss`` = sum of weight * term, ``terms`` {"student", ...},
        ``layers`` (L_lyr's per-pair KL and weights).
    """
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
    aligned = None
    if teacher is not None:
        s_values = student.values
        if teacher.values.shape[-1] != s_values.shape[-1]:
            if teacher.values.shape[-1] != group:
                raise ValueError(f"teacher scores cover {teacher.values.shape[-1]} candidates, the student's "
                                 f"{s_values.shape[-1]}; expected equal or 1+n={group}")
            s_values = own_candidates(s_values, group)
        aligned = Scores(s_values, student.layers)
        teacher = Scores(teacher.values if cfg.joint else teacher.values.detach(), teacher.layers)
    inputs = TermInputs(student, aligned, teacher, group, pairs, cfg.student_temperature, cfg.teacher_temperature,
                        cfg.reweight, cfg.reweight_tau, cfg.fixed_weights, top, student_rows, labeled, queries,
                        cfg.align_kind)
    terms: dict[str, Tensor] = {}
    layers = None
    for term in active(cfg.weights, cfg.joint):
        if term.needs_teacher and teacher is None:
            continue
        out = term.compute(inputs)
        if out is not None:
            terms[term.name] = out.value
            layers = out.layers if out.layers is not None else layers
    loss = sum(weight(cfg.weights, name) * value for name, value in terms.items())
    return ObjectiveResult(loss, terms, layers)
