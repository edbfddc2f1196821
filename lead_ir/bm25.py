"""BM25 through Anserini: a real Lucene index and multi-threaded batch search.

The index stores positions, document vectors and raw documents, so both
``pyserini.search.lucene.LuceneSearcher`` and ``python -m pyserini.search.lucene`` open it.
Indexing and search call Anserini's Java classes (``IndexCollection``, ``SimpleSearcher``) through
:func:`lead_ir.jvm.java_class`, not ``pyserini.search.lucene``: that package imports
``pyserini.encode``, and with it torch and transformers, which no BM25 command needs.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lead_ir import jvm
from lead_ir.data.collections import corpus_count, corpus_fingerprint, iter_corpus
from lead_ir.errors import LeadIRError
from lead_ir.fileio import atomic_path, made_parents, write_json
from lead_ir.hits import batched_search
from lead_ir.log import progress
from lead_ir.records import RunDict

logger = logging.getLogger(__name__)
MANIFEST = "lead_ir_bm25.json"


@dataclass
class BM25Params:
    """BM25 (and RM3) settings: the one home of their defaults, read by the CLI, the study and the API."""

    k1: float = 0.9
    b: float = 0.4
    rm3: bool = False
    fb_terms: int = 10
    fb_docs: int = 10
    original_query_weight: float = 0.5

    def tag(self) -> str:
        """The default run tag of a BM25 run with these settings: ``bm25-k1-<k1>-b-<b>[-rm3]``."""
        return f"bm25-k1-{self.k1:g}-b-{self.b:g}" + ("-rm3" if self.rm3 else "")


def build_bm25_index(corpus: str, index_dir: str | Path, threads: int = 1, store_raw: bool = False) -> Path:
    """Index ``corpus`` (any corpus spec) into a Lucene index at ``index_dir``, atomically.

    The corpus is streamed into ``threads`` JSONL shards (Pyserini's JsonCollection) in a
    temporary folder, indexed by Anserini, and the finished index renamed into place. Positions and
    document vectors are stored (RM3, Pyserini's index reader); the raw document only with ``store_raw``
    (Pyserini's ``LuceneSearcher.doc(id).raw()``): Anserini loads it for every hit, which made a
    1000-deep search about twice as slow, and lead_ir reads documents from the corpus, not the index.
    """
    index_dir = Path(index_dir)
    threads = max(1, threads)
    # a refused corpus removes the staging folder and any parent folder made for it (made_parents)
    with made_parents(index_dir), tempfile.TemporaryDirectory(prefix=f".{index_dir.name}.jsonl-",
                                                              dir=index_dir.parent) as staging_name:
        staging = Path(staging_name)
        shards = [open(staging / f"part{i:03d}.jsonl", "w", encoding="utf-8") for i in range(threads)]
        count = 0
        try:
            for doc in progress(iter_corpus(corpus), desc="reading corpus", total=corpus_count(corpus), unit="doc"):
                if not doc.doc_id or any(ch.isspace() for ch in doc.doc_id):
                    # the same rule as `lead-ir encode`: a TREC run cannot hold such an id
                    raise LeadIRError(f"{corpus}: document id {doc.doc_id!r} is empty or holds whitespace; TREC runs "
                                      f"need one word per id, so rename it before indexing")
                shards[count % threads].write(json.dumps({"id": doc.doc_id, "contents": doc.text}) + "\n")
                count += 1
        finally:
            for fh in shards:
                fh.close()
        if count == 0:
            raise LeadIRError(f"{corpus}: no documents to index; check the corpus path or spec "
                              "(every document was empty or missing)")
        indexer = jvm.java_class("io.anserini.index.IndexCollection")
        with atomic_path(index_dir, is_dir=True) as tmp_index:
            logger.info("indexing %d documents with Anserini (%d threads)", count, threads)
            indexer.main(["-collection", "JsonCollection", "-input", str(staging), "-index", str(tmp_index),
                          "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads),
                          "-storePositions", "-storeDocvectors"] + (["-storeRaw"] if store_raw else []))
            indexed = _index_doc_count(tmp_index)
            if indexed != count:
                raise LeadIRError(f"Anserini indexed {indexed} of {count} documents from {corpus}; see its log above")
            write_json(tmp_index / MANIFEST, {"corpus": corpus, "corpus_fingerprint": corpus_fingerprint(corpus),
                                              "documents": count, "anserini_jar": str(jvm.anserini_jar()),
                                              "store_raw": store_raw})
    return index_dir


def _index_doc_count(index_dir: Path) -> int:
    """Live documents in the Lucene index at ``index_dir`` (what Pyserini's index stats call ``documents``)."""
    reader = jvm.java_class("io.anserini.index.IndexReaderUtils").getReader(str(index_dir))
    try:
        return int(reader.numDocs())
    finally:
        reader.close()


class LuceneBM25Searcher:
    """Anserini's ``SimpleSearcher`` (the Java object Pyserini's ``LuceneSearcher`` wraps), with the calls
    lead_ir makes: BM25 and RM3 settings, ``search`` and ``batch_search``.

    Hits are Anserini's ``ScoredDoc`` objects (``.docid``, ``.score``), as ``LuceneSearcher`` returns
    them, so Pyserini's ``HybridSearcher`` takes this searcher as its sparse side.
    """

    def __init__(self, index_dir: str | Path):
        self.index_dir = str(index_dir)
        self.object = jvm.java_class("io.anserini.search.SimpleSearcher")(self.index_dir)
        self.num_docs = int(self.object.get_total_num_docs())

    def set_bm25(self, k1: float, b: float) -> None:
        self.object.set_bm25(float(k1), float(b))

    def set_rm3(self, fb_terms: int, fb_docs: int, original_query_weight: float) -> None:
        """RM3 feedback; it reads the stored document vectors (every `lead-ir index bm25` index has them)."""
        if not self.object.reader.getTermVectors(0):
            raise LeadIRError(f"{self.index_dir}: RM3 needs stored document vectors; rebuild the index with "
                              f"`lead-ir index bm25`")
        # (collection class, fb terms, fb docs, original query weight, debug, filter non-English terms):
        # the arguments LuceneSearcher.set_rm3 passes for an index with document vectors
        self.object.set_rm3(None, int(fb_terms), int(fb_docs), float(original_query_weight), False, True)

    def search(self, query: str, k: int = 10) -> list:
        return self.object.search(query, int(k))

    def batch_search(self, queries: list[str], qids: list[str], k: int = 10, threads: int = 1) -> dict[str, list]:
        array_list = jvm.java_class("java.util.ArrayList")
        texts, ids = array_list(), array_list()
        for text in queries:
            texts.add(text)
        for qid in qids:
            ids.add(qid)
        results = self.object.batch_search(texts, ids, int(k), int(threads))
        return {entry.getKey(): entry.getValue() for entry in results.entrySet().toArray()}

    def close(self) -> None:
        self.object.close()


def open_searcher(index_dir: str | Path, params: BM25Params | None = None) -> LuceneBM25Searcher:
    """A configured :class:`LuceneBM25Searcher` over ``index_dir``."""
    index_dir = Path(index_dir)
    if not (index_dir / "segments_1").exists() and not any(index_dir.glob("segments_*")):
        raise LeadIRError(f"{index_dir}: not a Lucene index; build one with `lead-ir index bm25`")
    params = params or BM25Params()
    searcher = LuceneBM25Searcher(index_dir)
    searcher.set_bm25(params.k1, params.b)
    if params.rm3:
        searcher.set_rm3(params.fb_terms, params.fb_docs, params.original_query_weight)
    return searcher


def search_bm25(index_dir: str | Path, topics: dict[str, str], k: int = 1000, params: BM25Params | None = None,
                threads: int | None = 1, batch_size: int = 256) -> RunDict:
    """Batch BM25 search of ``topics`` (query_id -> text) -> ``{qid: {docid: score}}``.

    ``threads`` 0 or None: :func:`default_threads` (the CPU count, at most 8).
    """
    searcher = open_searcher(index_dir, params)
    threads = threads or default_threads()
    return batched_search(lambda texts, qids: searcher.batch_search(texts, qids, k=k, threads=max(1, threads)),
                          topics, batch_size, "BM25 search")


def default_threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))
