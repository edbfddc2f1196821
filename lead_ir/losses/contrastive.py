"""Contrastive InfoNCE loss over a positive, hard negatives and in-batch passages.

References: van den Oord et al., "Representation Learning with Contrastive Predictive Coding",
2018; Karpukhin et al., "Dense Passage Retrieval", EMNLP 2020 (in-batch negatives).
"""

from __future__ import annotations

import torch
from torch import Tensor


def info_nce(scores: Tensor, positive: Tensor, temperature: float = 1.0) -> dict[str, Tensor]:
    r"""InfoNCE: mean over queries of :math:`-\log \frac{e^{s_{q,p^+}/\tau}}{\sum_j e^{s_{q,j}/\tau}}`.

    Args:
        scores: [Q, C] query-to-candidate scores (C = all passages of the global batch for an
            in-batch loss, or the query's own 1+n candidates).
        positive: [Q] column of each query's positive.
        temperature: τ (cosine scores in [-1, 1] want e.g. 0.05, i.e. a scale of 20).

    Returns:
        {"contrastive": scalar}.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, found {temperature}")
    log_probs = torch.log_softmax(scores.float() / temperature, dim=-1)
    return {"contrastive": -log_probs.gather(1, positive.view(-1, 1)).mean()}
