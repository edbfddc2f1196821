"""The one inference loop: texts -> float32 vectors with a :class:`~lead_ir.models.encoder.DenseEncoder`.

Every path that runs a dense encoder over texts goes through :class:`Embedder`: corpus encoding
(:mod:`lead_ir.encode`), the teacher cache (:mod:`lead_ir.training.cache`), dev evaluation
(:mod:`lead_ir.training.evaluate`), the query encoder of dense and hybrid search and
``encode-queries`` (:mod:`lead_ir.search`), query latency (:mod:`lead_ir.efficiency`) and per-layer
analysis (:mod:`lead_ir.analysis`). So the prefix, the max length (and its cap at the model's
positions, :func:`max_length_for`), padding, pooling and precision are decided in one place.

Texts are read in windows of ``window`` texts; each window is tokenised once and sorted by token
length (longest first, ties in input order), so a batch pads only to its own longest text; rows
are written back in input order. Sorting changes which texts share a batch, never a text's vector
beyond float rounding (``tests/test_embed.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import numpy as np

from lead_ir.errors import LeadIRError
from lead_ir.precision import autocast

KINDS = ("query", "passage")
WINDOW = 16384  # texts tokenised and length-sorted together (encode.py's default chunk size)


def max_length_for(encoder, kind: str, max_length: int | None = None) -> int:
    """Tokens per text of ``kind``: ``max_length``, else the spec's ``query_max_len`` / ``passage_max_len``.

    The checkpoint's default is capped at the model's ``max_position_embeddings`` (it cannot embed
    more); an explicit ``max_length`` above that is refused rather than silently truncated.

    Raises:
        LeadIRError: an unknown ``kind``, or an explicit ``max_length`` beyond the model's positions.
    """
    if kind not in KINDS:
        raise LeadIRError(f"kind {kind!r} is unknown; texts are embedded as one of {', '.join(KINDS)}")
    spec = encoder.spec
    length = int(max_length or (spec.query_max_len if kind == "query" else spec.passage_max_len))
    limit = getattr(getattr(encoder.model, "config", None), "max_position_embeddings", None)
    if isinstance(limit, int) and length > limit:
        if max_length:
            raise LeadIRError(f"--max-length {length} exceeds the model's {limit} positions; use --max-length "
                              f"{limit} or less")
        length = limit
    return length


def require_passage_encoder(encoder, name: object = None) -> None:
    """Refuse a query student (``spec.tower == "query"``) where passages are to be embedded: its passages are
    its teacher's vectors, so the corpus is encoded (and indexed) with the teacher.

    Raises:
        LeadIRError: one line naming the teacher to encode with.
    """
    spec = getattr(encoder, "spec", None)
    if getattr(spec, "tower", "both") == "query":
        space = spec.passage_space
        teacher = space.model or space.model_dir
        raise LeadIRError(f"{name or 'this model'} is a query student (it encodes queries only) of the passage space "
                          f"of {teacher}; encode passages with its teacher (`lead-ir encode --model {teacher}`) and "
                          f"search that index with the query student")


class Embedder:
    """Embeds texts as queries or passages with a dense encoder, on the encoder's device.

    Args:
        encoder: a :class:`~lead_ir.models.encoder.DenseEncoder` (already on its device).
        kind: ``query`` or ``passage``: picks the spec's prefix and max length.
        batch_size: texts per forward pass.
        max_length: tokens per text; None: the spec's, capped at the model (:func:`max_length_for`).
        precision: a *resolved* precision (``fp32``, ``bf16``, ``fp16``): bf16/fp16 autocast around the
            forward passes of float32 weights; a model whose weights are already half runs as it is.
            ``fp32`` adds no autocast of its own, so a caller's autocast context applies.
        window: texts tokenised and length-sorted together (bounds the token lists held in memory).
    """

    def __init__(self, encoder, kind: str = "passage", batch_size: int = 64, max_length: int | None = None,
                 precision: str = "fp32", window: int = WINDOW):
        if batch_size < 1 or window < 1:
            raise LeadIRError(f"batch size ({batch_size}) and chunk size ({window}) must be positive; give 1 or more")
        if kind == "passage":
            require_passage_encoder(encoder)
        self.encoder = encoder
        self.kind = kind
        self.max_length = max_length_for(encoder, kind, max_length)
        spec = encoder.spec
        self.prefix = spec.query_prefix if kind == "query" else spec.passage_prefix
        self.batch_size, self.precision, self.window = batch_size, precision, window

    def __call__(self, texts: Sequence[str], layers: Sequence[int] | None = None, out: np.ndarray | None = None,
                 on_batch: Callable[[int], object] | None = None, desc: str | None = None) -> np.ndarray:
        """Vectors of ``texts`` in their order: [N, H] float32; with ``layers`` (1-based), [N, K, H].

        Args:
            layers: pool these layers instead of the final embedding.
            out: an array (e.g. a ``numpy.memmap``) of that shape to fill instead of a new one.
            on_batch: called with the number of texts after each batch (e.g. a progress bar's ``update``).
            desc: show a progress bar (in texts) under this name.
        """
        import torch

        layers = list(layers) if layers else None
        shape = (len(texts), len(layers), self.encoder.dim) if layers else (len(texts), self.encoder.dim)
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        elif tuple(out.shape) != shape:
            raise ValueError(f"out has shape {tuple(out.shape)}, expected {shape}")
        weights = next(self.encoder.parameters())
        cast = autocast(weights.device.type, self.precision) if weights.dtype == torch.float32 \
            else contextlib.nullcontext()
        bar = None
        if desc:
            from lead_ir.log import progress_bar

            bar = progress_bar(len(texts), desc, unit=self.kind)
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            with torch.inference_mode(), cast:
                for start in range(0, len(texts), self.window):
                    self._window(texts[start:start + self.window], start, layers, out, weights.device,
                                 [f for f in (on_batch, bar.update if bar else None) if f])
        finally:
            self.encoder.train(was_training)
            if bar is not None:
                bar.close()
        return out

    def _window(self, texts: Sequence[str], offset: int, layers: list[int] | None, out: np.ndarray, device,
                callbacks: list) -> None:
        import torch

        from lead_ir.models.encoder import padded

        tokens = self.encoder.tokenizer([self.prefix + t for t in texts], truncation=True,
                                        max_length=self.max_length, padding=False, return_attention_mask=False,
                                        return_token_type_ids=False)["input_ids"]
        lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
        order = np.argsort(-lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            ids, mask = padded([tokens[row] for row in rows], self.encoder.tokenizer.pad_token_id)
            encoded = self.encoder(input_ids=torch.from_numpy(ids).to(device),
                                   attention_mask=torch.from_numpy(mask).to(device), layers=layers)
            if layers:
                out[offset + rows] = encoded.layer_embeddings.float().permute(1, 0, 2).cpu().numpy()
            else:
                out[offset + rows] = encoded.embedding.float().cpu().numpy()
            for callback in callbacks:
                callback(len(rows))
