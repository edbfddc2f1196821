"""ColBERT: per-token states of any Hugging Face backbone, optional projection, MaxSim scoring.

Every layer's token states go through the same optional linear projection and are L2
normalised per token (when ``normalize``), so MaxSim can be computed at any layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from lead_ir.errors import LeadIRError
from lead_ir.fileio import atomic_path, load_torch, read_json_dataclass, write_json
from lead_ir.models.reps import LayerReps
from lead_ir.models.spec import SPEC_FIX

COLBERT_FILE = "lead_ir_colbert.json"
PROJECTION_FILE = "colbert_projection.pt"


@dataclass
class ColBERTSpec:
    dim: int = 0  # 0: no projection (token states keep the backbone width)
    normalize: bool = True
    query_max_len: int = 32
    passage_max_len: int = 256
    query_prefix: str = ""
    passage_prefix: str = ""

    @classmethod
    def load(cls, directory: Path) -> ColBERTSpec:
        path = directory / COLBERT_FILE
        return read_json_dataclass(cls, path, "ColBERT spec", SPEC_FIX) if path.exists() else cls()


class ColBERTEncoder(nn.Module):
    """Late-interaction encoder: token states per layer, scored by MaxSim."""

    kind = "colbert"

    def __init__(self, model: nn.Module, tokenizer, spec: ColBERTSpec):
        super().__init__()
        self.model, self.tokenizer, self.spec = model, tokenizer, spec
        hidden = int(model.config.hidden_size)
        self.projection = nn.Linear(hidden, spec.dim, bias=False) if spec.dim else None

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @classmethod
    def from_pretrained(cls, path: str | Path, spec: ColBERTSpec | None = None) -> ColBERTEncoder:
        from lead_ir.models.loading import load_backbone

        path = Path(path)
        model, tokenizer = load_backbone(path)
        encoder = cls(model, tokenizer, spec or ColBERTSpec.load(path))
        weights = path / PROJECTION_FILE
        if encoder.projection is not None and weights.exists():
            state = load_torch(weights, "ColBERT projection", SPEC_FIX)
            if not isinstance(state, dict) or set(state) != {"weight"} or not isinstance(state["weight"], torch.Tensor):
                raise LeadIRError(f"{weights}: damaged ColBERT projection (expected one 'weight' tensor); {SPEC_FIX}")
            if state["weight"].shape != encoder.projection.weight.shape:
                raise LeadIRError(f"{weights}: projection is {tuple(state['weight'].shape)}, the spec asks for "
                                  f"{tuple(encoder.projection.weight.shape)}; set dim to {state['weight'].shape[0]}")
            encoder.projection.load_state_dict(state)
        return encoder

    def save(self, directory: str | Path) -> None:
        """HF weights + tokenizer, ``lead_ir_colbert.json`` and the projection, atomically."""
        with atomic_path(directory, is_dir=True) as tmp:
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            write_json(tmp / COLBERT_FILE, asdict(self.spec))
            if self.projection is not None:
                torch.save(self.projection.state_dict(), tmp / PROJECTION_FILE)

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     layers: Sequence[int]) -> torch.Tensor:
        """[B, T] tokens -> [K, B, T, D] projected (and normalised) states of ``layers``."""
        for layer in layers:
            if not 1 <= layer <= self.num_layers:
                raise LeadIRError(f"layer {layer} is out of range: this ColBERT model has layers 1..{self.num_layers}")
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                         return_dict=True)
        states = torch.stack([out.hidden_states[layer] for layer in layers])
        if self.projection is not None:
            states = self.projection(states)
        return nn.functional.normalize(states, dim=-1) if self.spec.normalize else states

    def layer_reps(self, queries: Sequence[str], passages: Sequence[str], layers: Sequence[int]) -> LayerReps:
        """Token states of ``layers`` for the queries and passages of a batch."""
        device = next(self.parameters()).device
        q = self.tokenizer([self.spec.query_prefix + t for t in queries], padding=True, truncation=True,
                           max_length=self.spec.query_max_len, return_tensors="pt").to(device)
        p = self.tokenizer([self.spec.passage_prefix + t for t in passages], padding=True, truncation=True,
                           max_length=self.spec.passage_max_len, return_tensors="pt").to(device)
        return LayerReps("colbert", tuple(layers),
                         self.token_states(q["input_ids"], q["attention_mask"], layers),
                         self.token_states(p["input_ids"], p["attention_mask"], layers),
                         q["attention_mask"], p["attention_mask"])
