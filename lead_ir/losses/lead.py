"""LEAD layer loss: KL between teacher and student per-layer score distributions.

Reference: Sun et al., "LEAD: Liberal Feature-based Distillation for Dense Retrieval",
WSDM 2024 (arXiv 2212.05225).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from lead_ir.losses.kd import kl_rows
from lead_ir.losses.layers import layer_weights


def lead_layer_loss(student: Tensor, teacher: Tensor, positive: Tensor,
                    reweight: Literal["teacher-loss", "uniform", "fixed"] = "teacher-loss", tau: float = 10.0,
                    fixed: list[float] | None = None, student_temperature: float = 1.0,
                    teacher_temperature: float = 1.0) -> dict[str, Tensor]:
    r"""L_lyr = :math:`\sum_k w_k \, \mathrm{mean}_q KL(p_T^{a_k} \| p_S^{b_k})`.

    Args:
        student: [K, Q, C] student scores of layers b_1..b_K over each query's distribution support.
        teacher: [K, Q, C] teacher scores of the paired layers a_1..a_K, same support.
        positive: [Q] column of each query's positive (for the teacher-loss weights ℓ_k).
        reweight: ``teacher-loss`` (softmax(-ℓ_k/τ), no gradient), ``uniform`` or ``fixed``.

    Returns:
        {"layer": scalar, "layer_kl": [K] (detached), "layer_weights": [K] (detached)}.
    """
    kl = kl_rows(student, teacher, student_temperature, teacher_temperature).mean(-1)  # [K]
    teacher_ce = None
    if reweight == "teacher-loss":
        log_t = torch.log_softmax(teacher.detach().float() / teacher_temperature, dim=-1)
        index = positive.view(1, -1, 1).expand(teacher.shape[0], -1, 1)
        teacher_ce = -log_t.gather(2, index).squeeze(-1).mean(-1)  # [K]
    weights = layer_weights(reweight, teacher_ce, tau, fixed, k=int(student.shape[0]))
    return {"layer": (weights * kl).sum(), "layer_kl": kl.detach(), "layer_weights": weights}
