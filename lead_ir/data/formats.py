"""Line-level parsers for the file formats IR uses (JSONL, TSV, TREC SGML, TREC topics, qrels).

Each parser streams records from an open text file and raises :class:`InputFormatError`
naming the file and line of the first bad record.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

from lead_ir.errors import InputFormatError
from lead_ir.records import Doc, Qrel, Query

DOC_ID_KEYS = ("id", "_id", "docid", "doc_id", "pid")
QUERY_ID_KEYS = ("qid", "query_id", "id", "_id", "num")
QUERY_TEXT_KEYS = ("query", "text", "title", "contents")
BEIR_QRELS_HEADER = ("query-id", "qid", "query")  # first field of a BEIR qrels header line


def open_text(path: str | Path) -> io.TextIOBase:
    """Open a (possibly gzipped) text file for streaming."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, None, "file not found", "check the path")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def join_title(title: str | None, text: str | None) -> str:
    """BEIR 'flat' convention (Pyserini's BEIR regressions): title + ' ' + text."""
    title, text = (title or "").strip(), (text or "").strip()
    return f"{title} {text}" if title and text else title or text


def parse_json_line(path: Path, line_no: int, line: str) -> dict:
    """One JSONL line as a dict, or an InputFormatError naming the file and line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, line_no, f"not valid JSON ({exc.msg})",
                               "each line must be one JSON object") from None
    if not isinstance(obj, dict):
        raise InputFormatError(path, line_no, f"expected a JSON object, found {type(obj).__name__}")
    return obj


def _first_key(obj: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in obj and obj[key] is not None:
            return key
    return None


def iter_jsonl_docs(path: Path) -> Iterator[tuple[int, Doc]]:
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            obj = parse_json_line(path, line_no, line)
            id_key = _first_key(obj, DOC_ID_KEYS)
            if id_key is None:
                raise InputFormatError(path, line_no, f"no document id (expected one of {list(DOC_ID_KEYS)})")
            if "contents" in obj:
                text = str(obj["contents"])
            elif "text" in obj or "title" in obj:
                text = join_title(obj.get("title"), obj.get("text"))
            else:
                raise InputFormatError(path, line_no, "no document text (expected 'contents' or 'title'/'text')")
            yield line_no, Doc(str(obj[id_key]), text)


def iter_tsv_docs(path: Path) -> Iterator[tuple[int, Doc]]:
    """MS MARCO collection.tsv: ``pid<TAB>text`` (a third column is taken as text after a title)."""
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            line = line.rstrip("\n\r")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) == 2:
                yield line_no, Doc(parts[0].strip(), parts[1])
            elif len(parts) == 3:
                yield line_no, Doc(parts[0].strip(), join_title(parts[1], parts[2]))
            else:
                raise InputFormatError(path, line_no,
                                       f"expected 'pid<TAB>text', found {len(parts)} tab-separated fields")


_TAG = re.compile(r"<(/?)([A-Za-z]+)>")


def iter_trec_docs(path: Path) -> Iterator[tuple[int, Doc]]:
    """TREC SGML: ``<DOC><DOCNO>id</DOCNO> ... text ... </DOC>`` (all text outside DOCNO kept)."""
    with open_text(path) as fh:
        buf: list[str] | None = None
        start = 0
        for line_no, line in enumerate(fh, 1):
            stripped = line.strip()
            if stripped.upper().startswith("<DOC>"):
                if buf is not None:
                    raise InputFormatError(path, line_no, "<DOC> opened before the previous </DOC>",
                                           "close every document with </DOC>")
                buf, start = [], line_no
                stripped = stripped[5:]
                if not stripped:
                    continue
            if buf is None:
                if stripped:
                    raise InputFormatError(path, line_no, "text outside <DOC>...</DOC>", "is this a TREC SGML file?")
                continue
            if stripped.upper().endswith("</DOC>"):
                buf.append(stripped[:-6])
                yield start, _parse_trec_doc(path, start, "\n".join(buf))
                buf = None
            else:
                buf.append(line.rstrip("\n"))
        if buf is not None:
            raise InputFormatError(path, start, "<DOC> without a closing </DOC>", "close every document with </DOC>")


def _parse_trec_doc(path: Path, line_no: int, body: str) -> Doc:
    match = re.search(r"<DOCNO>\s*(.*?)\s*</DOCNO>", body, re.I | re.S)
    if not match:
        raise InputFormatError(path, line_no, "document without <DOCNO>", "give every document a <DOCNO>id</DOCNO>")
    rest = body[: match.start()] + " " + body[match.end():]
    text = " ".join(_TAG.sub(" ", rest).split())
    return Doc(match.group(1), text)


def iter_tsv_queries(path: Path) -> Iterator[tuple[int, Query]]:
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            line = line.rstrip("\n\r")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise InputFormatError(path, line_no, "expected 'qid<TAB>query text'",
                                       "topics TSV files have two columns")
            yield line_no, Query(parts[0].strip(), " ".join(p for p in parts[1:] if p))


def iter_trec_topics(path: Path) -> Iterator[tuple[int, Query]]:
    """Classic TREC topics: ``<top><num> Number: 301 <title> text ... </top>`` (title is the query)."""
    with open_text(path) as fh:
        content = fh.read()
    for match in re.finditer(r"<top>(.*?)</top>", content, re.S | re.I):
        line_no = content.count("\n", 0, match.start()) + 1
        body = match.group(1)
        num = re.search(r"<num>\s*(?:Number:)?\s*(\S+)", body, re.I)
        title = re.search(r"<title>\s*(?:Topic:)?\s*(.*?)\s*(?=<[a-z]+>|$)", body, re.I | re.S)
        if not num or not title:
            raise InputFormatError(path, line_no, "topic without <num> or <title>")
        num_text = re.sub(r"</num>$", "", num.group(1), flags=re.I)
        yield line_no, Query(num_text, " ".join(re.sub(r"</title>", "", title.group(1), flags=re.I).split()))


def iter_jsonl_queries(path: Path) -> Iterator[tuple[int, Query]]:
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            obj = parse_json_line(path, line_no, line)
            id_key, text_key = _first_key(obj, QUERY_ID_KEYS), _first_key(obj, QUERY_TEXT_KEYS)
            if id_key is None or text_key is None:
                raise InputFormatError(path, line_no, f"expected a query id ({'/'.join(QUERY_ID_KEYS)}) and "
                                                      f"text ({'/'.join(QUERY_TEXT_KEYS)})")
            yield line_no, Query(str(obj[id_key]), str(obj[text_key]))


def iter_qrels_file(path: Path) -> Iterator[tuple[int, Qrel]]:
    """TREC qrels (``qid 0 docid rel``) or BEIR TSV with a ``query-id corpus-id score`` header."""
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if line_no == 1 and parts[0].lower().replace("_", "-") in BEIR_QRELS_HEADER:
                continue
            if len(parts) == 4:
                qid, _, docid, rel = parts
            elif len(parts) == 3:
                qid, docid, rel = parts
            else:
                raise InputFormatError(path, line_no, f"expected 'qid 0 docid relevance' (TREC) or 'qid docid score' "
                                                      f"(BEIR), found {len(parts)} fields")
            if not _is_int(rel):
                raise InputFormatError(path, line_no, f"relevance '{rel}' is not an integer")
            yield line_no, Qrel(qid, docid, int(rel))


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False
