"""Margin-MSE distillation.

Reference: Hofstätter et al., "Improving Efficient Neural Ranking Models with Cross-Architecture
Knowledge Distillation", arXiv 2010.02666, 2020.
"""

from __future__ import annotations

from torch import Tensor


def margin_mse(student: Tensor, teacher: Tensor) -> dict[str, Tensor]:
    r"""Mean over queries and negatives of :math:`((s^+ - s^-_i) - (t^+ - t^-_i))^2`.

    Args:
        student: [Q, 1+n] scores of each query's own candidates, positive first.
        teacher: [Q, 1+n] teacher scores in the same layout (same score scale as the student).

    Returns:
        {"margin_mse": scalar}; with n > 1 every negative gives one margin.
    """
    if student.shape != teacher.shape or student.shape[-1] < 2:
        raise ValueError(f"margin_mse needs equal [Q, 1+n] scores with n >= 1, found {tuple(student.shape)} "
                         f"and {tuple(teacher.shape)}")
    s_margin = student[:, :1].float() - student[:, 1:].float()
    t_margin = teacher[:, :1].float() - teacher[:, 1:].float()
    return {"margin_mse": ((s_margin - t_margin) ** 2).mean()}
