"""Response-based knowledge distillation: KL(p_T || p_S) over score distributions.

Reference: Hinton et al., "Distilling the Knowledge in a Neural Network", 2015; LEAD (Sun et
al., WSDM 2024) uses it on final-layer scores as L_rep. No T^2 factor is applied.
"""

from __future__ import annotations

import torch
from torch import Tensor


def kl_rows(student: Tensor, teacher: Tensor, student_temperature: float = 1.0,
            teacher_temperature: float = 1.0) -> Tensor:
    r"""Per-row :math:`KL(p_T \| p_S) = \sum_j p_T^j (\log p_T^j - \log p_S^j)`.

    Args:
        student: [..., C] student scores; p_S = softmax(student / student_temperature).
        teacher: [..., C] teacher scores; p_T = softmax(teacher / teacher_temperature).

    Returns:
        [...] KL of each row (0 where the two distributions are equal).
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student scores {tuple(student.shape)} and teacher scores {tuple(teacher.shape)} differ; "
                         f"both must cover the same candidates")
    log_s = torch.log_softmax(student.float() / student_temperature, dim=-1)
    log_t = torch.log_softmax(teacher.float() / teacher_temperature, dim=-1)
    return (log_t.exp() * (log_t - log_s)).sum(-1)


def response_kd(student: Tensor, teacher: Tensor, student_temperature: float = 1.0,
                teacher_temperature: float = 1.0) -> dict[str, Tensor]:
    """L_rep: mean over queries of KL(p_T || p_S) on final-layer scores [Q, C] -> {"response": scalar}."""
    return {"response": kl_rows(student, teacher, student_temperature, teacher_temperature).mean()}
