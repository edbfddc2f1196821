"""Dense and hybrid search through Pyserini, with a lead_ir checkpoint as Pyserini's query encoder.

``LeadQueryEncoder`` is a subclass of ``pyserini.encode.QueryEncoder``; since Pyserini may only
be imported through :mod:`lead_ir.jvm`, the class is built on first access::

    from lead_ir.search import LeadQueryEncoder          # configures Java, imports pyserini
    from lead_ir.jvm import pyserini
    searcher = pyserini("pyserini.search.faiss").FaissSearcher("indexes/scifact", LeadQueryEncoder(ckpt))

:func:`write_encoded_queries` writes Pyserini's pre-encoded query format (``embedding.pkl``, a
pandas DataFrame with ``id``, ``text`` and ``embedding`` columns, keyed by query text), so
``python -m pyserini.search.faiss --encoded-queries DIR`` reproduces :func:`dense_search`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lead_ir import jvm
from lead_ir.bm25 import BM25Params, open_searcher
from lead_ir.errors import IndexMismatchError
from lead_ir.fileio import atomic_path, write_json
from lead_ir.hits import batched_search
from lead_ir.precision import DEFAULT_PRECISION, device_type_of, query_precision, resolve_precision
from lead_ir.records import RunDict

logger = logging.getLogger(__name__)

ENCODED_QUERIES_FILE = "embedding.pkl"  # pyserini.encode.QueryEncoder._load_embeddings reads this name
_CLASS = None


class _LeadQueryEncoderMixin:
    """Pyserini's QueryEncoder interface over a :class:`lead_ir.models.encoder.DenseEncoder`."""

    def __init__(self, model: str | Path, batch_size: int = 64, device: str | None = None,
                 max_length: int | None = None, precision: str = DEFAULT_PRECISION):
        """Load ``model`` (a directory or name, see :func:`lead_ir.resolve.resolve_model`) for queries.

        Args:
            model: the checkpoint that encoded the corpus.
            batch_size: queries per forward pass in :meth:`encode_batch`.
            device: torch device; None picks cuda when available.
            max_length: overrides the checkpoint's ``query_max_len`` (see :func:`lead_ir.embed.max_length_for`).
            precision: the precision of the index's passages (``lead_ir.json``), so that both sides of a score
                agree (:func:`lead_ir.precision.query_precision` picks it from an index).
        """
        import torch

        from lead_ir.embed import Embedder
        from lead_ir.models.encoder import DenseEncoder
        from lead_ir.resolve import resolve_model

        super().__init__(encoded_query_dir=None)
        self.model_dir = resolve_model(model)
        self.encoder = DenseEncoder.from_pretrained(self.model_dir)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.precision = resolve_precision(precision, self.device.type)
        self.encoder.eval().to(self.device)
        self.batch_size = batch_size
        self.embedder = Embedder(self.encoder, "query", batch_size=batch_size, max_length=max_length,
                                 precision=self.precision)
        self.has_model = True

    @property
    def spec(self):
        return self.encoder.spec

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def encode(self, query: str, **_ignored) -> np.ndarray:
        """One query -> [dim] float32."""
        return self.encode_batch([query])[0]

    def encode_batch(self, queries: list[str]) -> np.ndarray:
        """Queries -> [n, dim] float32 (``FaissSearcher.batch_search`` calls this when present)."""
        if not len(queries):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embedder(list(queries))


def _build_class():
    global _CLASS
    if _CLASS is None:
        base = jvm.pyserini("pyserini.encode").QueryEncoder
        _CLASS = type("LeadQueryEncoder", (_LeadQueryEncoderMixin, base),
                      {"__doc__": _LeadQueryEncoderMixin.__doc__, "__module__": __name__})
    return _CLASS


def __getattr__(name: str):
    if name == "LeadQueryEncoder":
        return _build_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def index_query_encoder(index_dir: str | Path, model: str | Path, batch_size: int = 64, device: str | None = None,
                        precision: str | None = None):
    """A :class:`LeadQueryEncoder` for searching ``index_dir``: queries embedded in the precision the index
    records (``precision`` None or ``"index"``), or in ``precision`` with a warning when it differs."""
    from lead_ir.index import load_meta

    meta = load_meta(index_dir)
    recorded = meta.get("precision") if isinstance(meta, dict) else None
    chosen = query_precision(recorded, device_type_of(device), precision)
    return _build_class()(model, batch_size=batch_size, device=device, precision=chosen)


def open_dense_searcher(index_dir: str | Path, query_encoder):
    """A ``FaissSearcher`` over ``index_dir`` after checking the index against ``query_encoder``."""
    from lead_ir.index import check_index

    meta = check_index(index_dir, query_encoder.spec, query_encoder.dim)
    faiss_module = jvm.pyserini("pyserini.search.faiss")
    try:
        searcher = faiss_module.FaissSearcher(str(index_dir), query_encoder)
    except AssertionError:
        raise IndexMismatchError(f"{index_dir}: docid and index hold different numbers of entries; "
                                 f"the folder is damaged, re-run `lead-ir encode`") from None
    except (RuntimeError, MemoryError) as exc:  # FAISS cannot read the index file
        from lead_ir.index import damaged_index_error

        raise damaged_index_error(index_dir, exc) from None
    if searcher.dimension != query_encoder.dim:
        raise IndexMismatchError(f"{index_dir}: index vectors have dim {searcher.dimension} but the query encoder "
                                 f"gives {query_encoder.dim}; search with the model that encoded the corpus")
    if meta is not None and searcher.num_docs != int(meta["count"]):
        raise IndexMismatchError(f"{index_dir}: index holds {searcher.num_docs} vectors but lead_ir.json says "
                                 f"{meta['count']}; re-run `lead-ir encode`")
    return searcher


def dense_search(index_dir: str | Path, model: str | Path, topics: dict[str, str], k: int = 1000,
                 batch_size: int = 64, threads: int = 1, device: str | None = None,
                 precision: str | None = None) -> RunDict:
    """Search ``topics`` (query_id -> text) with ``FaissSearcher.batch_search`` -> ``{qid: {docid: score}}``.

    Queries are embedded in the index's recorded precision unless ``precision`` names another."""
    searcher = open_dense_searcher(index_dir, index_query_encoder(index_dir, model, batch_size, device, precision))
    return batched_search(lambda texts, qids: searcher.batch_search(texts, qids, k=k, threads=threads),
                          topics, batch_size, "dense search")


def hybrid_search(dense_index: str | Path, sparse_index: str | Path, model: str | Path, topics: dict[str, str],
                  k: int = 1000, k0: int = 1000, alpha: float = 0.1, normalization: bool = False,
                  weight_on_dense: bool = False, batch_size: int = 64, threads: int = 1, k1: float = BM25Params.k1,
                  b: float = BM25Params.b, device: str | None = None, precision: str | None = None) -> RunDict:
    """BM25 + dense through Pyserini's ``HybridSearcher``.

    Score = ``alpha * bm25 + dense`` (or ``bm25 + alpha * dense`` with ``weight_on_dense``), over the
    union of each side's top ``k0``; a document missing on one side gets that side's minimum.
    ``normalization`` centres and scales each side by its (min, max) per query first.
    """
    dense = open_dense_searcher(dense_index, index_query_encoder(dense_index, model, batch_size, device, precision))
    sparse = open_searcher(sparse_index, BM25Params(k1=k1, b=b))
    hybrid = jvm.pyserini("pyserini.search.hybrid").HybridSearcher(dense, sparse)
    return batched_search(lambda texts, qids: hybrid.batch_search(texts, qids, k0=k0, k=k, threads=threads, alpha=alpha,
                                                                  normalization=normalization,
                                                                  weight_on_dense=weight_on_dense),
                          topics, batch_size, "hybrid search")


def write_encoded_queries(model: str | Path, topics: dict[str, str], output_dir: str | Path,
                          batch_size: int = 64, device: str | None = None,
                          precision: str = DEFAULT_PRECISION) -> Path:
    """Encode ``topics`` into Pyserini's pre-encoded query folder (``embedding.pkl``), atomically.

    Queries are embedded in the same batches as :func:`dense_search` uses, so both give the same vectors
    when ``precision`` is the index's (``lead_ir.json``); ``lead_ir.json`` here records the one used.
    """
    import pandas as pd

    encoder = _build_class()(model, batch_size=batch_size, device=device, precision=precision)
    qids = list(topics)
    texts = [topics[q] for q in qids]
    vectors = np.concatenate([encoder.encode_batch(texts[s:s + batch_size]) for s in range(0, len(texts), batch_size)])
    frame = pd.DataFrame({"id": pd.Series(qids, dtype=object), "text": pd.Series(texts, dtype=object),
                          "embedding": [row for row in vectors]})
    output_dir = Path(output_dir)
    with atomic_path(output_dir, is_dir=True) as tmp:
        frame.to_pickle(tmp / ENCODED_QUERIES_FILE)
        write_json(tmp / "lead_ir.json", {"model": str(encoder.model_dir), "count": len(qids), "dim": encoder.dim,
                                          "precision": encoder.precision})
    return output_dir

