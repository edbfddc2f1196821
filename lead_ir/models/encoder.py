"""DenseEncoder: a Hugging Face ``AutoModel`` with pooling applied at any of its layers.

Layers are counted from the first transformer block: layer 1 is the first block's output and
layer L the last; the embedding output (``hidden_states[0]``) is not a layer. Hidden states
come from the public ``output_hidden_states=True`` API; no modelling code is copied.

A query student (``spec.tower == "query"``, :mod:`lead_ir.models.space`) encodes queries only; when
its width differs from its teacher's, a learned ``projection`` (``nn.Linear``, no activation) maps
every layer's pooled vector into the teacher's width before normalisation, and is saved as a
sentence-transformers ``Dense`` module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lead_ir.errors import LeadIRError
from lead_ir.fileio import atomic_path
from lead_ir.models.reps import LayerReps
from lead_ir.models.space import PassageSpace
from lead_ir.models.spec import EncoderSpec
from lead_ir.models.st_files import DENSE_DIR, pooler_for_saving, read_dense_module, write_sentence_transformers_files


def padded(tokens: Sequence[Sequence[int]], pad_id: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Token id lists right-padded to their longest: input ids and attention mask, int64 [N, longest].
    ``pad_id`` is the tokenizer's (None, for a tokenizer without a pad token: 0, which the mask hides)."""
    width = max((len(t) for t in tokens), default=0)
    ids = np.full((len(tokens), width), pad_id or 0, dtype=np.int64)
    mask = np.zeros((len(tokens), width), dtype=np.int64)
    for row, ids_of_row in enumerate(tokens):
        ids[row, :len(ids_of_row)] = ids_of_row
        mask[row, :len(ids_of_row)] = 1
    return ids, mask


@dataclass
class EncoderOutput:
    embedding: torch.Tensor  # [B, H] pooled (and normalised if the spec says so) final layer
    layer_embeddings: torch.Tensor | None = None  # [K, B, H] pooled vectors of the requested layers
    layers: tuple[int, ...] = ()  # which layers (1-based) layer_embeddings holds


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[B, T, H] token states -> [B, H] by CLS (first token) or masked mean."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class DenseEncoder(nn.Module):
    """A shared query/passage encoder over any Hugging Face backbone."""

    kind = "dense"

    def __init__(self, model: nn.Module, tokenizer, spec: EncoderSpec, projection: nn.Linear | None = None):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.projection = projection
        # training forwards (layer_reps) split each text list into this many passes over texts of similar length
        # (``run.length_groups``): a short query is not padded to the batch's longest; the vectors are the same
        # up to float rounding
        self.length_groups = 1

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def dim(self) -> int:
        """Width of the vectors: the backbone's, or the projection's output for a projected query student."""
        return int(self.projection.out_features) if self.projection is not None else self.hidden_size

    def to_query_tower(self, space: PassageSpace, bias: bool = True) -> DenseEncoder:
        """Make this encoder a query student of ``space`` (in place): queries only, plus a new projection
        ``nn.Linear(hidden, space.dim)`` (initialised from the global torch RNG) when the widths differ."""
        if self.spec.tower == "query" and not self.spec.passage_space.same_space(space):
            raise LeadIRError(f"this encoder is already a query student of {self.spec.passage_space.describe()}, "
                              f"not of {space.describe()}")
        self.spec.tower, self.spec.passage_space = "query", space
        if self.dim != space.dim:
            if self.projection is not None:
                raise LeadIRError(f"the query student's projection gives {self.dim}-d vectors, but its teacher's "
                                  f"are {space.dim}-d")
            device = next(self.model.parameters()).device
            self.projection = nn.Linear(self.hidden_size, space.dim, bias=bias).to(device)
            self.spec.projection = DENSE_DIR
        return self

    @classmethod
    def from_pretrained(cls, path: str | Path, spec: EncoderSpec | None = None, **model_kwargs) -> DenseEncoder:
        """Load a backbone + tokenizer; the spec comes from the checkpoint unless given."""
        from lead_ir.models.loading import load_backbone

        path = Path(path)
        model, tokenizer = load_backbone(path, **model_kwargs)
        spec = spec or EncoderSpec.load(path)
        projection = None
        if spec.projection:
            projection = read_dense_module(path / spec.projection).to(next(model.parameters()).dtype)
            if projection.in_features != int(model.config.hidden_size):
                raise LeadIRError(f"{path / spec.projection}: the projection takes {projection.in_features}-d "
                                  f"vectors, but the model's are {model.config.hidden_size}-d; save the query "
                                  f"student again with lead_ir")
        return cls(model, tokenizer, spec, projection)

    def save(self, directory: str | Path) -> None:
        """Write HF weights + tokenizer, ``lead_ir_encoder.json`` and sentence-transformers files, atomically."""
        with atomic_path(directory, is_dir=True) as tmp:
            pooler = pooler_for_saving(self.model)
            if pooler is not None:  # saved so that AutoModel / sentence-transformers load every weight
                self.model.pooler = pooler
            try:
                self.model.save_pretrained(tmp)
            finally:
                if pooler is not None:
                    self.model.pooler = None
            self.tokenizer.save_pretrained(tmp)
            self.spec.save(tmp)
            write_sentence_transformers_files(tmp, self.spec, self.hidden_size, self.projection)

    def tokenize(self, texts: Sequence[str], max_len: int, device: torch.device | str | None = None) -> dict:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        return {k: v.to(device) for k, v in batch.items()} if device is not None else dict(batch)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: Sequence[int] | None = None,
                **extra) -> EncoderOutput:
        """Encode a tokenised batch; ``layers`` (1-based) also returns those layers' pooled vectors."""
        want_layers = bool(layers)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=want_layers,
                         return_dict=True, **extra)
        if not want_layers:
            return EncoderOutput(self._finish(pool(out.last_hidden_state, attention_mask, self.spec.pooling)))
        for layer in layers:
            if not 1 <= layer <= self.num_layers:
                raise LeadIRError(f"layer {layer} is out of range: this encoder has layers 1..{self.num_layers}")
        stacked = torch.stack([self._finish(pool(out.hidden_states[layer], attention_mask, self.spec.pooling))
                               for layer in layers])
        # the final layer is pooled once when it is among ``layers`` (hidden_states[-1] is last_hidden_state)
        last = list(layers).index(self.num_layers) if self.num_layers in layers else None
        embedding = stacked[last] if last is not None else self._finish(
            pool(out.last_hidden_state, attention_mask, self.spec.pooling))
        return EncoderOutput(embedding, stacked, tuple(layers))

    def layer_reps(self, queries: Sequence[str], passages: Sequence[str] | None, layers: Sequence[int]) -> LayerReps:
        """Pooled vectors of ``layers`` for a batch's texts: query [K, Q, H], passage [K, P, H] (None when
        ``passages`` is None: a query student's passages are its teacher's cached vectors)."""
        query = self._layer_vectors([self.spec.query_prefix + t for t in queries], self.spec.query_max_len, layers)
        if passages is None:
            return LayerReps("dense", tuple(layers), query)
        if self.spec.tower == "query":
            raise LeadIRError("a query student encodes queries only; its passages are its teacher's vectors")
        passage = self._layer_vectors([self.spec.passage_prefix + t for t in passages], self.spec.passage_max_len,
                                      layers)
        return LayerReps("dense", tuple(layers), query, passage)

    def _layer_vectors(self, texts: list[str], max_len: int, layers: Sequence[int]) -> torch.Tensor:
        """Pooled ``layers`` of ``texts`` in their order, [K, N, H]: one padded batch, or with ``length_groups``
        > 1 that many batches of texts sorted by token length (rows put back in input order)."""
        device = next(self.model.parameters()).device
        if self.length_groups <= 1 or len(texts) < 2:
            return self(**self.tokenize(texts, max_len, device), layers=layers).layer_embeddings
        tokens = self.tokenizer(texts, truncation=True, max_length=max_len, padding=False,
                                return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        order = np.argsort([len(t) for t in tokens], kind="stable")
        parts = []
        for rows in np.array_split(order, min(self.length_groups, len(texts))):
            ids, mask = padded([tokens[r] for r in rows], self.tokenizer.pad_token_id)
            parts.append(self(input_ids=torch.from_numpy(ids).to(device), attention_mask=torch.from_numpy(mask).to(
                device), layers=layers).layer_embeddings)
        return torch.cat(parts, dim=1)[:, torch.from_numpy(np.argsort(order)).to(device)]

    def _finish(self, vectors: torch.Tensor) -> torch.Tensor:
        """Pooled vectors -> output vectors: the projection (a projected query student), then normalisation."""
        if self.projection is not None:
            vectors = self.projection(vectors.to(self.projection.weight.dtype))
        return nn.functional.normalize(vectors, dim=-1) if self.spec.normalize else vectors
