"""Read corpora, topics and qrels from any supported spec, streaming.

Specs:
- ``irds:<id>`` — an ir_datasets id (honours ``IR_DATASETS_HOME``);
- a registry name (``lead_ir/resources/registry.yaml``) for topics and qrels, e.g. ``dl19-passage``;
- a path: JSONL (``.jsonl``/``.json``), TSV (``.tsv``/``.txt``), CSV topics (``.csv``), TREC SGML or
  TREC topics, SGML or XML (sniffed from a leading ``<``), optionally gzipped; a directory reads every
  file in it.
Corpora are streamed (never held in memory); topics and qrels are small and returned whole.
Topic texts come from one field or several (``field``: title, desc, narr, title+desc ...; see
:func:`lead_ir.data.formats.parse_topic_field`); ids read from files are checked (no markup or
whitespace) as they are read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from lead_ir.data import formats
from lead_ir.data.registry import TopicSet, find_file, get_topic_set, load_registry, registry_path
from lead_ir.errors import InputFormatError, LeadIRError
from lead_ir.fileio import open_text
from lead_ir.records import Doc, Qrel, Qrels, Query

logger = logging.getLogger(__name__)
IRDS_PREFIX = "irds:"


# --------------------------------------------------------------------------- ir_datasets
def load_irds(dataset_id: str):
    """``ir_datasets.load`` with a one-line error for unknown ids."""
    from lead_ir.environment import configure_data_home

    configure_data_home()
    import ir_datasets

    from lead_ir.log import follow_ir_datasets_level

    follow_ir_datasets_level()
    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise LeadIRError(f"unknown ir_datasets id '{dataset_id}'; see `ir_datasets list` or "
                          f"https://ir-datasets.com for valid ids") from None


def _irds_text(record) -> str:
    fields = record._fields
    title = getattr(record, "title", None) if "title" in fields else None
    if "text" in fields:
        return formats.join_title(title, record.text)
    return formats.join_title(title, record.default_text())


def _irds(spec: str, what: str):
    dataset = load_irds(spec[len(IRDS_PREFIX):])
    has = {"docs": dataset.has_docs, "queries": dataset.has_queries, "qrels": dataset.has_qrels}[what]
    if not has():
        raise LeadIRError(f"ir_datasets '{spec[len(IRDS_PREFIX):]}' has no {what}; pick a split that does "
                          f"(e.g. beir/scifact/test)")
    return dataset


def _wrap_download_errors(fn: Callable, spec: str):
    try:
        return fn()
    except LeadIRError:
        raise
    except Exception as exc:  # ir_datasets raises plain exceptions when a download fails offline
        if "download" in str(exc).lower() or "connection" in str(exc).lower() or "URLError" in type(exc).__name__:
            raise LeadIRError(f"{spec}: ir_datasets could not download its files ({exc}); set IR_DATASETS_HOME to a "
                              f"folder that holds them") from None
        raise


# --------------------------------------------------------------------------- corpus
def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise LeadIRError(f"corpus directory {path} is empty; put JSONL, TSV or TREC files in it")
        return files
    if not path.exists():
        raise LeadIRError(f"{path}: file not found; pass a corpus file, a directory of files, or irds:<id>")
    return [path]


def _sniff(path: Path) -> str:
    name = path.name.removesuffix(".gz")
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    with open_text(path) as fh:
        for line in fh:
            if line.strip():
                first = line.lstrip()
                break
        else:
            return "empty"
    if first.startswith("{"):
        return "jsonl"
    if first.startswith("<"):
        return "trec"
    return "csv" if name.endswith(".csv") else "tsv"


def iter_corpus(spec: str, check_duplicates: bool = True, skip_empty: bool = True,
                fields: Sequence[str] | None = None) -> Iterator[Doc]:
    """Stream the documents of ``spec`` as :class:`Doc` (title and text joined BEIR-flat).

    Duplicate document ids raise an error naming the file and line; empty documents are
    skipped with one warning giving their count (they can neither be retrieved nor trained on).
    ``fields`` (TREC SGML only) keeps the content of those elements (e.g. ``["TEXT", "HEADLINE"]``)
    instead of all text outside ``<DOCNO>``.
    """
    seen: set[str] | None = set() if check_duplicates else None
    empty = 0
    for where, doc in _iter_corpus_raw(spec, fields):
        if seen is not None:
            if doc.doc_id in seen:
                raise InputFormatError(where[0], where[1], f"duplicate document id '{doc.doc_id}'",
                                       "document ids must be unique; deduplicate the corpus")
            seen.add(doc.doc_id)
        if not doc.text.strip():
            empty += 1
            if skip_empty:
                continue
        yield doc
    if empty:
        logger.warning("%s: %d empty document(s) %s", spec, empty, "skipped" if skip_empty else "kept")


def _iter_corpus_raw(spec: str, fields: Sequence[str] | None = None) -> Iterator[tuple[tuple[str, int | None], Doc]]:
    if spec.startswith(IRDS_PREFIX):
        if fields:
            raise LeadIRError(f"{spec}: document fields apply to TREC SGML files, not ir_datasets corpora")
        dataset = _wrap_download_errors(lambda: _irds(spec, "docs"), spec)
        for i, record in enumerate(_wrap_download_errors(dataset.docs_iter, spec)):
            yield (spec, i + 1), Doc(str(record.doc_id), _irds_text(record))
        return
    readers = {"jsonl": formats.iter_jsonl_docs, "tsv": formats.iter_tsv_docs, "csv": formats.iter_tsv_docs,
               "trec": lambda p: formats.iter_trec_docs(p, fields)}
    for path in _files(Path(spec)):
        kind = _sniff(path)
        if kind == "empty":
            continue
        if fields and kind != "trec":
            raise LeadIRError(f"{path}: document fields ({', '.join(fields)}) apply to TREC SGML corpora; this file "
                              f"is {kind.upper()}")
        for line_no, doc in readers[kind](path):
            yield (str(path), line_no), doc


def corpus_count(spec: str) -> int | None:
    """The number of documents when it is known without reading the corpus (ir_datasets)."""
    if spec.startswith(IRDS_PREFIX):
        try:
            return _irds(spec, "docs").docs_count()
        except Exception:
            return None
    return None


def spec_fingerprint(spec: str) -> str:
    """A topics/qrels spec for stage keys: the spec itself, plus a hash of the contents when it is a file
    (so editing a file in place is seen; a registry name or ``irds:`` id stands for fixed data)."""
    from lead_ir.fileio import file_fingerprint

    path = Path(spec)
    if spec.startswith(IRDS_PREFIX) or not path.is_file():
        return spec
    return f"{spec}@sha256:{file_fingerprint(path)}"


def corpus_fingerprint(spec: str) -> str:
    """A cheap identity for a corpus: the ir_datasets id, or a hash of its files' names and sizes (not their
    contents or mtimes: cheap on large corpora, and a copied corpus keeps its identity)."""
    import hashlib

    if spec.startswith(IRDS_PREFIX):
        return spec
    h = hashlib.sha256()
    for path in _files(Path(spec)):
        stat = path.stat()
        h.update(f"{path.name}:{stat.st_size}".encode())
    return f"{Path(spec).name}:{h.hexdigest()[:16]}"


def doc_lookup(spec: str, doc_ids: set[str] | None = None) -> dict[str, str]:
    """doc_id -> text for the given ids (or the whole corpus when ``doc_ids`` is None)."""
    out = {}
    for doc in iter_corpus(spec, check_duplicates=False):
        if doc_ids is None or doc.doc_id in doc_ids:
            out[doc.doc_id] = doc.text
    return out


# --------------------------------------------------------------------------- topics
def read_topics(spec: str, field: str | None = None) -> dict[str, str]:
    """query_id -> text, from ``irds:``, a registry name, or a TSV / CSV / TREC (SGML or XML) / JSONL file.

    ``field`` picks the text: ``title`` (the default: the query as the source gives it), ``desc``,
    ``narr`` or a join such as ``title+desc`` (see :func:`lead_ir.data.formats.parse_topic_field`).
    """
    formats.parse_topic_field(field)  # an empty part fails before any file is read
    queries: dict[str, str] = {}
    empty = 0
    for where, query in _iter_topics_raw(spec, field):
        if query.query_id in queries:
            raise InputFormatError(where[0], where[1], f"duplicate query id '{query.query_id}'")
        if not query.text.strip():
            empty += 1
            continue
        queries[query.query_id] = query.text
    if empty:
        logger.warning("%s: %d empty quer%s skipped", spec, empty, "y" if empty == 1 else "ies")
    if not queries:
        raise LeadIRError(f"{spec}: no topics found; pass a topics file with one query per line, "
                          "irds:<id> or a registry name")
    topic_set = load_registry().get(spec)
    if topic_set and topic_set.topics and len(queries) != topic_set.topics:
        logger.warning("%s: read %d topics, the registry expects %d", spec, len(queries), topic_set.topics)
    return queries


def _iter_topics_raw(spec: str, field: str | None = None) -> Iterator[tuple[tuple[str, int | None], Query]]:
    if spec.startswith(IRDS_PREFIX):
        dataset = _wrap_download_errors(lambda: _irds(spec, "queries"), spec)
        pick = formats.TopicFieldPicker(spec, field)
        for i, record in enumerate(dataset.queries_iter()):
            if field is None:  # the dataset's own query text (BEIR's question for TREC-COVID)
                text = record.text if "text" in record._fields else record.default_text()
            else:
                values = {k: v for k, v in record._asdict().items() if k != "query_id" and isinstance(v, str)}
                text = pick(values, i + 1)
            yield (spec, i + 1), Query(str(record.query_id), text)
        if field is not None:
            pick.check()
        return
    path = Path(spec)
    if not path.exists():
        if spec in load_registry():
            yield from _iter_topics_raw(_resolve_topics(get_topic_set(spec), field), field)
            return
        if "/" not in spec and "." not in spec:
            get_topic_set(spec)  # raises "unknown topic set" with a suggestion
        raise LeadIRError(f"{spec}: file not found; pass a topics file, irds:<id> or a registry name")
    if path.suffix == ".pyserini":  # not a real suffix; reserved for pyserini-bundled topics
        raise LeadIRError(f"{spec}: unsupported topics source")
    kind = _sniff(path)
    reader = {"jsonl": formats.iter_jsonl_queries, "tsv": formats.iter_tsv_queries, "csv": formats.iter_csv_queries,
              "trec": formats.iter_trec_topics}.get(kind)
    if reader is None:
        raise LeadIRError(f"{spec}: topics file is empty; pass a non-empty qid<TAB>text, TREC or JSONL topics file")
    for line_no, query in reader(path, field):
        yield (str(path), line_no), query


def _resolve_topics(topic_set: TopicSet, field: str | None = None) -> str:
    if topic_set.irds:
        return IRDS_PREFIX + topic_set.irds
    if topic_set.topics_file and (found := find_file(topic_set.topics_file)):
        return str(found)
    if topic_set.pyserini_topics:
        return _pyserini_topics_file(topic_set, field)
    raise LeadIRError(f"topic set '{topic_set.name}': {topic_set.topics_file} not found; put it in $LEAD_IR_TOPICS_DIR")


def _pyserini_topics_file(topic_set: TopicSet, field: str | None = None) -> str:
    """Write Pyserini's bundled topics (from the Anserini jar) to a cached TSV (the chosen field's text,
    title by default) and return its path."""
    from lead_ir import jvm

    wanted = formats.parse_topic_field(field)
    suffix = "" if wanted == (formats.DEFAULT_TOPIC_FIELD,) else "." + "+".join(wanted)
    cache = Path.home() / ".cache" / "lead_ir" / "topics" / f"{topic_set.name}{suffix}.tsv"
    if not cache.exists():
        topics = jvm.pyserini("pyserini.search").get_topics(topic_set.pyserini_topics)
        if not topics:
            raise LeadIRError(f"topic set '{topic_set.name}': Pyserini has no topics '{topic_set.pyserini_topics}'")
        write_topics(cache, {str(qid): formats.pick_topic_text({str(k): str(v) for k, v in fields.items()}, wanted,
                                                               (topic_set.name, None))
                             for qid, fields in topics.items()})
    return str(cache)


# --------------------------------------------------------------------------- qrels
def read_qrels(spec: str) -> Qrels:
    """query_id -> {doc_id: relevance}, from ``irds:``, a registry name, TREC or BEIR TSV qrels."""
    qrels: Qrels = {}
    count = 0
    for where, qrel in _iter_qrels_raw(spec):
        previous = qrels.setdefault(qrel.query_id, {}).get(qrel.doc_id)
        if previous is not None and previous != qrel.relevance:
            raise InputFormatError(where[0], where[1], f"query '{qrel.query_id}' judges document '{qrel.doc_id}' twice "
                                                       f"({previous} and {qrel.relevance})")
        qrels[qrel.query_id][qrel.doc_id] = qrel.relevance
        count += 1
    if not qrels:
        raise LeadIRError(f"{spec}: no judgments found; pass a TREC (qid 0 docid rel) or BEIR qrels file, "
                          "irds:<id> or a registry name")
    topic_set = load_registry().get(spec)
    if topic_set and topic_set.qrels and count != topic_set.qrels:
        logger.warning("%s: read %d judgments, the registry expects %d", spec, count, topic_set.qrels)
    return qrels


def _iter_qrels_raw(spec: str) -> Iterator[tuple[tuple[str, int | None], Qrel]]:
    if spec.startswith(IRDS_PREFIX):
        dataset = _wrap_download_errors(lambda: _irds(spec, "qrels"), spec)
        for i, record in enumerate(dataset.qrels_iter()):
            yield (spec, i + 1), Qrel(str(record.query_id), str(record.doc_id), int(record.relevance))
        return
    path = Path(spec)
    if not path.exists():
        if spec in load_registry():
            yield from _iter_qrels_raw(_resolve_qrels(get_topic_set(spec)))
            return
        if "/" not in spec and "." not in spec:
            get_topic_set(spec)
        raise LeadIRError(f"{spec}: file not found; pass a qrels file, irds:<id> or a registry name")
    for line_no, qrel in formats.iter_qrels_file(path):
        yield (str(path), line_no), qrel


def _resolve_qrels(topic_set: TopicSet) -> str:
    if topic_set.irds:
        return IRDS_PREFIX + topic_set.irds
    if topic_set.qrels_file and (found := find_file(topic_set.qrels_file)):
        return str(found)
    if topic_set.pyserini_qrels:
        try:
            return jvm_qrels_file(topic_set.pyserini_qrels)
        except Exception as exc:
            raise LeadIRError(f"topic set '{topic_set.name}': {topic_set.qrels_file} not found locally and Pyserini "
                              f"could not fetch it ({exc}); put it in $LEAD_IR_TOPICS_DIR") from None
    raise LeadIRError(f"topic set '{topic_set.name}': no qrels source; add irds, qrels_file or pyserini_qrels "
                      f"to its entry in the topic registry ({registry_path()})")


def jvm_qrels_file(name: str) -> str:
    from lead_ir import jvm

    return jvm.pyserini("pyserini.search").get_qrels_file(name)


# --------------------------------------------------------------------------- writers
def write_topics(path: str | Path, topics: dict[str, str]) -> None:
    """``qid<TAB>text`` TSV (whitespace in the text collapsed), atomically."""
    from lead_ir.fileio import atomic_open

    with atomic_open(path) as fh:
        for qid, text in topics.items():
            fh.write(f"{qid}\t{' '.join(text.split())}\n")


def export_topics(spec: str, path: str | Path, field: str | None = None) -> int:
    """Write any topic set the toolkit reads (registry name, ``irds:``, TREC/XML/TSV/CSV/JSONL file) as the
    ``qid<TAB>text`` TSV Pyserini and Anserini read (``--topics FILE``); returns the number of topics."""
    topics = read_topics(spec, field)
    write_topics(path, topics)
    return len(topics)


def write_qrels(path: str | Path, qrels: Qrels) -> None:
    """TREC qrels (``qid 0 docid relevance``), sorted by query then document, atomically."""
    from lead_ir.fileio import atomic_open

    with atomic_open(path) as fh:
        for qid in sorted(qrels):
            for doc_id, rel in sorted(qrels[qid].items()):
                fh.write(f"{qid} 0 {doc_id} {rel}\n")


def write_corpus_subset(spec: str, doc_ids: set[str], path: str | Path) -> int:
    """Stream ``spec`` once and write the documents in ``doc_ids`` as JSONL (``id``, ``contents``),
    atomically, in corpus order; returns how many were found."""
    import json

    from lead_ir.fileio import atomic_open

    found = 0
    with atomic_open(path) as fh:
        for doc in iter_corpus(spec, check_duplicates=False):
            if doc.doc_id in doc_ids:
                fh.write(json.dumps({"id": doc.doc_id, "contents": doc.text}, ensure_ascii=False) + "\n")
                found += 1
    return found


def topic_family(spec: str) -> str:
    """msmarco | trec-dl | beir | trec | generic, for default metrics of a qrels spec.

    A registry entry gives its family; otherwise the name decides (beir, scifact, dl19, msmarco ...),
    and a qrels file in TREC layout (``qid 0 docid rel``) of any other collection is ``trec``
    (trec_eval's habits: MAP, nDCG@10, P@10, R@1000).
    """
    topic_set = load_registry().get(spec)
    if topic_set:
        return topic_set.family
    path, low = Path(spec), spec.lower()
    if "beir" in low or "scifact" in low:
        return "beir"
    if "dl19" in low or "dl20" in low or "trec-dl" in low:
        return "trec-dl"
    if "msmarco" in low:
        return "msmarco"
    if not spec.startswith(IRDS_PREFIX) and path.is_file() and formats.qrels_layout(path) == "trec":
        return "trec"
    return "generic"
