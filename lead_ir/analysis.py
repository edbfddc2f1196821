"""Per-layer retrieval quality: how well each layer's pooled vectors retrieve on their own.

LEAD's premise is that intermediate layers carry ranking signal worth distilling; this measures it.
Every layer of each model is pooled the way the model pools its last layer (its ``EncoderSpec``),
the corpus and queries are encoded once with all layers (:class:`lead_ir.embed.Embedder`), and each
layer is searched exhaustively (:func:`lead_ir.exact.exact_search`, the same ranking as a ``Flat``
FAISS index) and evaluated with ranx.

    from lead_ir.analysis import layer_quality
    table = layer_quality({"teacher": "sentence-transformers/all-MiniLM-L6-v2"},
                          "irds:beir/scifact/test", "irds:beir/scifact/test", "irds:beir/scifact/test")
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)


def layer_quality(models: Mapping[str, str | Path], corpus: str, topics: str, qrels: str,
                  metrics: Sequence[str] = ("ndcg@10", "recall@100"), max_length: int | None = None,
                  batch_size: int = 64, k: int = 100, precision: str | None = None) -> pd.DataFrame:
    """One row per (model, layer): ``metrics`` of that layer's pooled vectors searched exhaustively.

    Args:
        models: display name -> checkpoint (directory or name, see :func:`lead_ir.resolve.resolve_model`).
        corpus, topics, qrels: specs as everywhere in the toolkit (``irds:``, registry names, files).
        max_length: passage tokens; None: each checkpoint's ``passage_max_len`` (queries always use
            the checkpoint's ``query_max_len``, as dense search does).
        batch_size: texts per forward pass; the device is that of ``lead-ir encode``'s default.
        precision: of passages and queries alike, as ``lead-ir encode --precision`` (None: fp32), so that a
            layer's row equals `lead-ir search dense` on an index encoded in the same precision.
        k: depth of each layer's run.
    """
    from lead_ir.data.collections import iter_corpus, read_qrels, read_topics
    from lead_ir.embed import Embedder
    from lead_ir.encode import EncodeOptions, corpus_embedder
    from lead_ir.evaluation import evaluate_runs
    from lead_ir.exact import exact_search
    from lead_ir.models.encoder import DenseEncoder
    from lead_ir.resolve import resolve_model

    docs = list(iter_corpus(corpus))
    doc_ids, doc_texts = [d.doc_id for d in docs], [d.text for d in docs]
    judged = read_qrels(qrels)
    queries = {q: t for q, t in read_topics(topics).items() if q in judged}
    qids = list(queries)
    rows = []
    for name, model in models.items():
        encoder = DenseEncoder.from_pretrained(resolve_model(model))
        layers = list(range(1, encoder.num_layers + 1))
        passages = corpus_embedder(encoder, EncodeOptions(batch_size=batch_size, max_length=max_length,
                                                                  precision=precision))
        doc_vectors = passages(doc_texts, layers=layers, desc=f"{name}: passages")
        query_vectors = Embedder(encoder, "query", batch_size, precision=passages.precision)(
            [queries[q] for q in qids], layers=layers)
        for i, layer in enumerate(layers):
            run = exact_search(query_vectors[:, i], doc_vectors[:, i], qids, doc_ids, k)
            means = evaluate_runs(judged, {f"{name}@{layer}": run}, list(metrics)).means.iloc[0]
            rows.append({"model": name, "layer": layer, **{m: float(means[m]) for m in metrics}})
            logger.info("%s layer %d: %s", name, layer, ", ".join(f"{m} {means[m]:.4f}" for m in metrics))
    return pd.DataFrame(rows, columns=["model", "layer", *metrics])
