"""Build any model kind (dense, ColBERT, cross-encoder) from a typed config, optionally truncated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from torch import nn

from lead_ir.config import NON_NEGATIVE, POSITIVE, at_least, number
from lead_ir.errors import LeadIRError
from lead_ir.models.colbert import ColBERTEncoder, ColBERTSpec
from lead_ir.models.cross_encoder import CrossEncoder, CrossEncoderSpec
from lead_ir.models.encoder import DenseEncoder
from lead_ir.models.spec import EncoderSpec, model_max_tokens
from lead_ir.models.truncate import keep_layers
from lead_ir.resolve import resolve_model


@dataclass
class ModelConfig:
    """Which model to build and how it reads text."""

    kind: Literal["dense", "colbert", "cross"] = field(
        default="dense", metadata={"help": "dense (dual encoder), colbert (MaxSim) or cross (cross-encoder)"})
    path: str = field(default="", metadata={"help": "HF model directory or pymodule:<package> (get_model_path())"})
    keep_layers: list[int] = number(factory=list, check=POSITIVE, help=(
        "keep only these 1-based blocks of the backbone (e.g. [1,2,3]); empty keeps all"))
    pooling: Literal["auto", "cls", "mean"] = field(
        default="auto", metadata={"help": "dense pooling at every layer; auto reads the checkpoint (else cls)"})
    normalize: bool | None = field(
        default=None, metadata={"help": "L2-normalise dense vectors / ColBERT tokens; null reads the checkpoint"})
    query_max_len: int = number(0, at_least(4, zero=True), (
        "query tokens kept; 0: the passage length (capped by the model's limit), so real queries are not cut"))
    passage_max_len: int = number(180, at_least(4), "passage tokens kept (cross: pair tokens)")
    colbert_dim: int = number(0, NON_NEGATIVE, "ColBERT projection width; 0 keeps the hidden size")

    def lengths(self, limit: int) -> tuple[int, int]:
        """(query, passage) max tokens: query 0 means the passage length; both capped at ``limit``."""
        return min(self.query_max_len or self.passage_max_len, limit), min(self.passage_max_len, limit)


def build_model(cfg: ModelConfig) -> nn.Module:
    """A DenseEncoder, ColBERTEncoder or CrossEncoder as ``cfg`` describes."""
    if not cfg.path:
        raise LeadIRError(f"no model path given for a {cfg.kind} model; set path: <HF dir or pymodule:package>")
    path = resolve_model(cfg.path)
    if cfg.kind == "dense":
        spec = EncoderSpec.load(path)
        spec.pooling = spec.pooling if cfg.pooling == "auto" else cfg.pooling
        spec.normalize = spec.normalize if cfg.normalize is None else cfg.normalize
        model = DenseEncoder.from_pretrained(path, spec)
        spec.query_max_len, spec.passage_max_len = cfg.lengths(model_max_tokens(model.model.config, model.tokenizer))
    elif cfg.kind == "colbert":
        spec = ColBERTSpec.load(path) if (path / "lead_ir_colbert.json").exists() else ColBERTSpec(dim=cfg.colbert_dim)
        spec.normalize = spec.normalize if cfg.normalize is None else cfg.normalize
        model = ColBERTEncoder.from_pretrained(path, spec)
        spec.query_max_len, spec.passage_max_len = cfg.lengths(model_max_tokens(model.model.config, model.tokenizer))
    else:
        spec = CrossEncoderSpec.load(path)
        model = CrossEncoder.from_pretrained(path, spec)
        limit = model_max_tokens(model.model.config, model.tokenizer)
        spec.max_len = min(sum(cfg.lengths(limit)), limit)
    if cfg.keep_layers:
        model.model = keep_layers(model.model, cfg.keep_layers)
    return model


def save_model(model: nn.Module, directory: str | Path) -> None:
    """Save any model kind in its own format (each ``save`` is atomic)."""
    if not hasattr(model, "save"):
        raise LeadIRError(f"{type(model).__name__} cannot be saved; expected a lead_ir model")
    model.save(directory)
