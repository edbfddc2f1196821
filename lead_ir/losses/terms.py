"""The loss terms of the training objective, in one table (pure, no I/O).

Each :class:`Term` names a weight key of ``loss.weights`` and holds the function computing it,
whether it reads teacher scores, whether it exists only with a jointly trained teacher, its
default weight and a one-line description. The table drives :func:`lead_ir.losses.objective.objective`,
the default weights of ``LossConfig``/``ObjectiveSettings``, the check of weight keys when a config
loads, and whether a run needs a teacher (and its cache). Adding a term is one function and one row.

Reference: Sun et al., "LEAD", WSDM 2024 (arXiv 2212.05225).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from lead_ir.errors import ConfigError, closest
from lead_ir.losses.contrastive import info_nce
from lead_ir.losses.kd import kl_rows, response_kd
from lead_ir.losses.lead import lead_layer_loss
from lead_ir.losses.margin_mse import margin_mse
from lead_ir.losses.scores import Scores, as_own, positives


@dataclass(frozen=True)
class TermInputs:
    """What the terms read, built once per objective call.

    ``student`` is the student as given (L_stu reads its final layer); ``aligned`` the student over
    the teacher's candidates and ``teacher`` the teacher's scores (detached unless joint), both None
    without a teacher. ``top`` [Q]: each query's positive among its own candidates (0, or the
    teacher's top candidate for an unlabeled query; None when all are labeled). ``student_rows`` /
    ``labeled`` [Q] bool: rows of L_stu and of the joint teacher's InfoNCE (None: all). ``queries``: the
    final query vectors of a query student and of its teacher (None outside query-tower training), read by
    the alignment term with ``align_kind``.
    """

    student: Scores
    aligned: Scores | None
    teacher: Scores | None
    group: int
    pairs: Sequence[tuple[int, int]]
    student_temperature: float
    teacher_temperature: float
    reweight: Literal["teacher-loss", "uniform", "fixed"] = "teacher-loss"
    reweight_tau: float = 10.0
    fixed_weights: list[float] | None = None
    top: Tensor | None = None
    student_rows: Tensor | None = None
    labeled: Tensor | None = None
    queries: QueryVectors | None = None
    align_kind: Literal["mse", "cosine"] = "mse"


@dataclass(frozen=True)
class QueryVectors:
    """Final query vectors of one (global) batch in query-tower training: ``student`` [Q, H] (projected and
    normalised as the student's spec says) and ``teacher`` [Q, H] (the teacher's cached final-layer vectors)."""

    student: Tensor
    teacher: Tensor


@dataclass(frozen=True)
class LayerDiagnostics:
    """Per-pair diagnostics of L_lyr: ``kl`` [K] (detached) and the pair weights ``weights`` [K]."""

    kl: Tensor
    weights: Tensor


@dataclass(frozen=True)
class TermValue:
    """A term's unweighted scalar ``value``, with per-layer diagnostics where the term has them."""

    value: Tensor
    layers: LayerDiagnostics | None = None


@dataclass(frozen=True)
class Term:
    """One row of the table.

    ``compute`` returns None when the term does not apply to the batch (L_lyr without layer pairs).
    ``base``: the ground-truth term, always computed and logged, and weighted with ``default_weight``
    when a ``weights`` mapping leaves it out (any other term left out weighs 0).
    ``spelled_out``: whether the canonical weights (:func:`canonical_weights`, ``loss.weights`` once loaded)
    list the term at weight 0. A term added after study stage keys hashed the spelled-out weights has False,
    so a config that leaves it at 0 keeps its key (an option added later, left at its default, leaves a
    finished stage done).
    """

    name: str
    compute: Callable[[TermInputs], TermValue | None]
    needs_teacher: bool
    default_weight: float
    description: str
    joint_only: bool = False
    base: bool = False
    spelled_out: bool = True


def rows_info_nce(scores: Tensor, positive: Tensor, rows: Tensor | None, temperature: float) -> Tensor:
    """InfoNCE averaged over the ``rows`` (bool [Q]; None: all); 0 (still in the graph) when no row is left."""
    if rows is None:
        return info_nce(scores, positive, temperature)["contrastive"]
    if not bool(rows.any()):
        return scores.sum() * 0.0
    return info_nce(scores[rows], positive[rows], temperature)["contrastive"]


def _student(x: TermInputs) -> TermValue:
    final = x.student.final
    return TermValue(rows_info_nce(final, positives(final, x.group, x.top), x.student_rows, x.student_temperature))


def _response(x: TermInputs) -> TermValue:
    return TermValue(response_kd(x.aligned.final, x.teacher.final, x.student_temperature,
                                 x.teacher_temperature)["response"])


def _layer(x: TermInputs) -> TermValue | None:
    if not x.pairs:
        return None
    t_layers, s_layers = zip(*x.pairs)
    out = lead_layer_loss(x.aligned.at(s_layers), x.teacher.at(t_layers), positives(x.teacher.final, x.group, x.top),
                          x.reweight, x.reweight_tau, x.fixed_weights, x.student_temperature, x.teacher_temperature)
    return TermValue(out["layer"], LayerDiagnostics(out["layer_kl"], out["layer_weights"]))


def _margin_mse(x: TermInputs) -> TermValue:
    return TermValue(margin_mse(as_own(x.aligned.final, x.group), as_own(x.teacher.final, x.group))["margin_mse"])


def embedding_alignment(student: Tensor, teacher: Tensor, kind: Literal["mse", "cosine"] = "mse") -> Tensor:
    r"""Mean over queries of :math:`\lVert q_S - q_T \rVert_2^2` (``mse``) or :math:`1 - \cos(q_S, q_T)` (``cosine``).

    Args:
        student / teacher: [Q, H] final query vectors (the teacher's detached).

    ``mse`` sums the squared differences over the H dimensions (it is H times ``torch``'s element-wise
    ``mse_loss``), so that for unit vectors it is 2(1 - cos), on the scale of the other terms.
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student query vectors {tuple(student.shape)} and teacher query vectors "
                         f"{tuple(teacher.shape)} differ; a query student of another width needs its projection")
    s, t = student.float(), teacher.float().detach()
    if kind == "mse":
        return ((s - t) ** 2).sum(-1).mean()
    if kind == "cosine":
        return (1 - torch.nn.functional.cosine_similarity(s, t, dim=-1)).mean()
    raise ValueError(f"align_kind must be 'mse' or 'cosine', found {kind!r}")


def _align(x: TermInputs) -> TermValue:
    if x.queries is None:
        raise ValueError("loss.weights.align > 0 needs query-tower training (student.tower=query): it aligns the "
                         "student's query vectors with its teacher's")
    return TermValue(embedding_alignment(x.queries.student, x.queries.teacher, x.align_kind))


def _teacher(x: TermInputs) -> TermValue:
    final = x.teacher.final
    return TermValue(rows_info_nce(final, positives(final, x.group), x.labeled, x.teacher_temperature))


def _reverse(x: TermInputs) -> TermValue:
    return TermValue(kl_rows(x.teacher.final, x.aligned.final, x.teacher_temperature, x.student_temperature).mean())


TERMS: tuple[Term, ...] = (
    Term("student", _student, needs_teacher=False, default_weight=1.0, base=True,
         description="L_stu: InfoNCE of the positive under the student's final-layer scores"),
    Term("response", _response, needs_teacher=True, default_weight=1.0,
         description="L_rep: KL(p_T || p_S) of the final layers"),
    Term("layer", _layer, needs_teacher=True, default_weight=1.0,
         description="L_lyr: sum_k w_k KL(p_T^a_k || p_S^b_k) over the selected layer pairs (LEAD)"),
    Term("margin_mse", _margin_mse, needs_teacher=True, default_weight=0.0,
         description="Margin-MSE over each query's own candidates (Hofstätter et al., 2020)"),
    Term("align", _align, needs_teacher=True, default_weight=0.0, spelled_out=False,
         description="query tower: the student's final query vector against the teacher's (loss.align_kind: "
                     "squared L2 distance or 1 - cosine)"),
    Term("teacher", _teacher, needs_teacher=True, default_weight=1.0, joint_only=True,
         description="joint mode: the teacher's own InfoNCE"),
    Term("reverse", _reverse, needs_teacher=True, default_weight=1.0, joint_only=True,
         description="joint mode: reverse KL(p_S || p_T) of the final layers"),
)
_BY_NAME = {term.name: term for term in TERMS}
TERM_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def get_term(name: str) -> Term:
    """The term called ``name`` (ConfigError naming the valid keys otherwise)."""
    if name not in _BY_NAME:
        raise ConfigError(f"loss.weights: unknown loss weight '{name}'{closest(str(name), TERM_NAMES)}; the valid "
                          f"keys are {', '.join(TERM_NAMES)}")
    return _BY_NAME[name]


def default_weights() -> dict[str, float]:
    """``{term: default weight}`` in table order (the default of ``loss.weights``): every spelled-out term, and
    any other whose default is not 0."""
    return {term.name: term.default_weight for term in TERMS if term.spelled_out or term.default_weight}


def canonical_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """``weights`` with every spelled-out term listed (one left out weighs 0, the base term its default) and the
    others only when weighted, in table order: equal settings, equal mappings."""
    values = {term.name: float(weight(weights, term.name)) for term in TERMS}
    return {term.name: values[term.name] for term in TERMS if term.spelled_out or values[term.name]}


def check_weights(weights: Mapping[str, float]) -> None:
    """Refuse an unknown term name or a negative weight (one line naming the valid keys)."""
    for name, value in weights.items():
        get_term(name)
        if value < 0:
            raise ConfigError(f"loss.weights.{name} must be >= 0, found {value}; set 0 to turn the term off")


def weight(weights: Mapping[str, float], name: str) -> float:
    """λ of term ``name`` under ``weights``; a term left out weighs 0, except the base term (its default)."""
    term = get_term(name)
    return weights.get(name, term.default_weight if term.base else 0.0)


def active(weights: Mapping[str, float], joint: bool = False) -> tuple[Term, ...]:
    """Terms with a non-zero weight (joint-only terms only when ``joint``), plus the base term."""
    return tuple(t for t in TERMS if (joint or not t.joint_only) and (t.base or weight(weights, t.name) != 0))


def distillation_terms() -> tuple[str, ...]:
    """Names of the terms that distil a teacher into the student (every teacher term but the joint-only ones)."""
    return tuple(t.name for t in TERMS if t.needs_teacher and not t.joint_only)


def teacher_needed(weights: Mapping[str, float], joint: bool = False) -> bool:
    """Whether any term with a weight > 0 reads teacher scores (joint-only terms count when ``joint``)."""
    return any(t.needs_teacher and weight(weights, t.name) > 0 for t in active(weights, joint))
