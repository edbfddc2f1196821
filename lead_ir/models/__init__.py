"""Encoders over Hugging Face backbones: dense (dual encoder), ColBERT and cross-encoder.

Each kind exposes ``layer_reps(queries, passages, layers)`` for training and ``save(dir)``;
:func:`lead_ir.models.reps.layer_scores` turns reps into per-layer scores ``[L, Q, P]``.
"""

from lead_ir.models.encoder import DenseEncoder, EncoderOutput, pool
from lead_ir.models.spec import EncoderSpec

__all__ = ["DenseEncoder", "EncoderOutput", "EncoderSpec", "pool"]
