"""Dev evaluation during training: the student embeds the dev corpus and topics (:class:`lead_ir.embed.Embedder`,
under the caller's autocast), :func:`lead_ir.exact.exact_search` ranks them, and the metrics come from
:mod:`lead_ir.evaluation` (trec_eval's tie order and conventions, like every other score).

A query student searches its teacher's passage vectors instead, as it will search the teacher's index: the
index's own vectors of the dev corpus when the teacher's index is given (:meth:`DevEvaluator.passages_from_index`,
nothing re-encoded), else the dev corpus embedded once by the teacher (:meth:`DevEvaluator.fix_passages`)."""

from __future__ import annotations

import logging

from lead_ir.data.collections import iter_corpus, read_qrels, read_topics
from lead_ir.embed import Embedder
from lead_ir.errors import LeadIRError
from lead_ir.evaluation import evaluate_runs, normalize_metric
from lead_ir.exact import exact_search
from lead_ir.models.encoder import DenseEncoder

logger = logging.getLogger(__name__)
METRICS = ("ndcg@10", "recall@100", "mrr@10")


class DevEvaluator:
    """Holds dev topics, qrels and corpus texts; ``__call__(encoder)`` returns {metric: value}.

    ``metric`` is the one that picks the kept checkpoint (``data.dev_metric``); it is always
    among the reported ones.
    """

    def __init__(self, topics: str, qrels: str, corpus: str, k: int = 100, batch_size: int = 64,
                 metric: str = "ndcg@10"):
        self.primary_metric = normalize_metric(metric)
        self.metrics = list(dict.fromkeys([self.primary_metric, *METRICS]))
        self.topics = read_topics(topics)
        qrels_all = read_qrels(qrels)
        self.qrels = {q: d for q, d in qrels_all.items() if q in self.topics and any(r > 0 for r in d.values())}
        if not self.qrels:
            raise LeadIRError(f"{qrels}: no relevant judgments for the dev topics {topics}; check the two match")
        self.qids = sorted(self.qrels)
        docs = list(iter_corpus(corpus, check_duplicates=False))
        self.doc_ids = [d.doc_id for d in docs]
        self.doc_texts = [d.text for d in docs]
        self.k, self.batch_size = k, batch_size
        self.passages = None  # fixed passage vectors (a query student's teacher's), else the student's own

    def fix_passages(self, encoder: DenseEncoder) -> None:
        """Embed the dev corpus once with ``encoder`` (a query student's frozen teacher) and search those
        vectors at every later evaluation, whatever encoder embeds the queries."""
        self.passages = Embedder(encoder, "passage", self.batch_size)(
            self.doc_texts, desc=f"dev evaluation: {len(self.doc_texts)} teacher passages")

    def passages_from_index(self, index_dir: str) -> None:
        """Search the dev corpus's vectors as the FAISS index ``index_dir`` holds them (a query student's teacher's
        index, already checked to be of the student's passage space) at every later evaluation."""
        from lead_ir.index import index_vectors

        self.passages = index_vectors(index_dir, self.doc_ids, what="the dev corpus")
        logger.info("dev evaluation: %d passages from the teacher's index %s", len(self.doc_ids), index_dir)

    def __call__(self, encoder: DenseEncoder) -> dict[str, float]:
        if getattr(encoder, "kind", "") != "dense":
            raise LeadIRError("dev evaluation searches with a dual encoder; drop data.dev_* for ColBERT or "
                              "cross-encoder training")
        docs = self.passages if self.passages is not None else Embedder(encoder, "passage", self.batch_size)(
            self.doc_texts, desc=f"dev evaluation: {len(self.doc_texts)} passages")
        queries = Embedder(encoder, "query", self.batch_size)([self.topics[q] for q in self.qids])
        run = exact_search(queries, docs, self.qids, self.doc_ids, self.k)
        means = evaluate_runs(self.qrels, {"dev": run}, self.metrics).means.loc["dev"]
        return {m: float(means[m]) for m in self.metrics}
