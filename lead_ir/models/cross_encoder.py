"""Cross-encoder over ``AutoModelForSequenceClassification`` with its scoring head at every layer.

The head of the final layer is the model's own (its output equals the model's logits); for
layer l the same head is applied to the layer-l hidden states, giving ``[L, Q, 1+n]`` scores
over each query's own candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from lead_ir.errors import LeadIRError
from lead_ir.fileio import atomic_path, read_json_dataclass, write_json
from lead_ir.models.reps import LayerReps
from lead_ir.models.spec import SPEC_FIX

CROSS_FILE = "lead_ir_cross_encoder.json"


@dataclass
class CrossEncoderSpec:
    max_len: int = 256
    query_prefix: str = ""
    passage_prefix: str = ""

    @classmethod
    def load(cls, directory: Path) -> CrossEncoderSpec:
        path = directory / CROSS_FILE
        return read_json_dataclass(cls, path, "cross-encoder spec", SPEC_FIX) if path.exists() else cls()


class CrossEncoder(nn.Module):
    """(query, passage) -> relevance score, at any layer."""

    kind = "cross"

    def __init__(self, model: nn.Module, tokenizer, spec: CrossEncoderSpec):
        super().__init__()
        if int(model.config.num_labels) != 1:
            raise LeadIRError(f"cross-encoder has {model.config.num_labels} labels; use a model with num_labels=1")
        self.model, self.tokenizer, self.spec = model, tokenizer, spec
        self._head_style = _head_style(model)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @classmethod
    def from_pretrained(cls, path: str | Path, spec: CrossEncoderSpec | None = None) -> CrossEncoder:
        """Load a sequence-classification checkpoint (a bare backbone gets a new 1-output head)."""
        from transformers import AutoModelForSequenceClassification

        from lead_ir.models.loading import LOAD_ERRORS, check_model_dir, load_config, load_error, load_tokenizer

        path = Path(path)
        check_model_dir(path)
        load_config(path)
        tokenizer = load_tokenizer(path)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1)
        except LOAD_ERRORS as exc:
            load_error(path, exc)
        return cls(model, tokenizer, spec or CrossEncoderSpec.load(path))

    def save(self, directory: str | Path) -> None:
        with atomic_path(directory, is_dir=True) as tmp:
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            write_json(tmp / CROSS_FILE, asdict(self.spec))

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The model's scoring head on token states [..., B, T, H] -> [..., B]."""
        model = self.model
        if self._head_style == "pooler":
            pooled = model.base_model.pooler(hidden.flatten(0, -3)).view(*hidden.shape[:-2], -1)
            return model.classifier(model.dropout(pooled)).squeeze(-1)
        if self._head_style == "distilbert":
            pooled = nn.functional.relu(model.pre_classifier(hidden[..., 0, :]))
            return model.classifier(model.dropout(pooled)).squeeze(-1)
        return model.classifier(hidden.flatten(0, -3)).view(*hidden.shape[:-2])  # sequence heads read [CLS]

    def layer_scores(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: Sequence[int],
                     **extra) -> torch.Tensor:
        """Tokenised pairs [B, T] -> [K, B] scores of the head applied at each of ``layers``."""
        for layer in layers:
            if not 1 <= layer <= self.num_layers:
                raise LeadIRError(f"layer {layer} is out of range: this cross-encoder has layers 1..{self.num_layers}")
        out = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                                    return_dict=True, **extra)
        return torch.stack([self.head(out.hidden_states[layer]) for layer in layers])

    def layer_reps(self, queries: Sequence[str], passages: Sequence[str], layers: Sequence[int]) -> LayerReps:
        """Score each query against its own 1+n passages: [K, Q, 1+n] (passages laid out per query)."""
        if len(passages) % len(queries):
            raise LeadIRError(f"{len(passages)} passages for {len(queries)} queries: expected 1+n per query")
        group = len(passages) // len(queries)
        pair_q = [self.spec.query_prefix + q for q in queries for _ in range(group)]
        pair_p = [self.spec.passage_prefix + p for p in passages]
        device = next(self.parameters()).device
        batch = self.tokenizer(pair_q, pair_p, padding=True, truncation="only_second", max_length=self.spec.max_len,
                               return_tensors="pt").to(device)
        scores = self.layer_scores(**batch, layers=layers)
        return LayerReps("cross", tuple(layers), scores.view(len(layers), len(queries), group))


def _head_style(model: nn.Module) -> str:
    if model.config.model_type == "distilbert":
        return "distilbert"
    classifier = getattr(model, "classifier", None)
    if classifier is None:
        raise LeadIRError(f"{type(model).__name__} has no 'classifier' head; use a BERT-, DistilBERT- or "
                          f"RoBERTa-style sequence-classification model")
    if isinstance(classifier, nn.Linear):
        if getattr(model.base_model, "pooler", None) is None:
            raise LeadIRError(f"{type(model).__name__}: a linear head without a pooler is not supported")
        return "pooler"
    return "sequence"
