"""Line-level parsers for the file formats IR uses (JSONL, TSV, TREC SGML, TREC topics, qrels).

Each parser streams records from an open text file and raises :class:`InputFormatError`
naming the file and line of the first bad record.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from lead_ir.errors import InputFormatError, LeadIRError, closest
from lead_ir.fileio import open_text
from lead_ir.records import Doc, Qrel, Query

DOC_ID_KEYS = ("id", "_id", "docid", "doc_id", "pid")
QUERY_ID_KEYS = ("qid", "query_id", "id", "_id", "num")
QUERY_TEXT_KEYS = ("query", "text", "title", "contents")
BEIR_QRELS_HEADER = ("query-id", "qid", "query")  # first field of a BEIR qrels header line


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
    except RecursionError:
        raise InputFormatError(path, line_no, "JSON nested too deeply", "each line must be one flat JSON object") \
            from None
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
                text = _doc_string(path, line_no, obj, "contents")
            elif "text" in obj or "title" in obj:
                text = join_title(_doc_string(path, line_no, obj, "title", optional=True),
                                  _doc_string(path, line_no, obj, "text", optional=True))
            else:
                raise InputFormatError(path, line_no, "no document text (expected 'contents' or 'title'/'text')")
            if not isinstance(obj[id_key], str | int) or isinstance(obj[id_key], bool):
                raise InputFormatError(path, line_no, f"document id {obj[id_key]!r} is not a string or integer")
            yield line_no, Doc(str(obj[id_key]), text)


def _doc_string(path: Path, line_no: int, obj: dict, key: str, optional: bool = False) -> str:
    """A JSONL document field as a string: null or a non-string is an error, never the text 'None'
    (a missing or null field is '' when ``optional`` and another text field is present)."""
    value = obj.get(key)
    if value is None and optional and any(obj.get(k) is not None for k in ("title", "text")):
        return ""
    if not isinstance(value, str):
        found = "null" if value is None else type(value).__name__
        raise InputFormatError(path, line_no, f"document '{key}' is {found}, expected a string",
                               "give every document its text as a JSON string")
    return value


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


# An SGML/XML tag, with or without attributes (<DOC>, </TEXT>, <F P=100>, <topic number="1">).
_TAG = re.compile(r"<(/?)([A-Za-z][\w.:-]*)((?:\s[^<>]*)?)/?>")
_DOC_OPEN = re.compile(r"<doc(?:\s[^<>]*)?>", re.I)
_DOC_CLOSE = re.compile(r"</doc\s*>", re.I)


def iter_trec_docs(path: Path, fields: Sequence[str] | None = None) -> Iterator[tuple[int, Doc]]:
    """TREC SGML: ``<DOC><DOCNO> id </DOCNO> ... </DOC>``, tags in any case, any line layout.

    Without ``fields`` a document's text is all its text outside ``<DOCNO>`` with the tags removed
    (Vaswani/NPL put bare text in ``<DOC>``); with ``fields`` (tag names such as ``TEXT``,
    ``HEADLINE``) only the content of those elements is kept, in document order.
    """
    wanted = {f.strip().lower() for f in fields or () if f.strip()}
    with open_text(path) as fh:
        pending, pending_start = "", 1
        for line_no, line in enumerate(fh, 1):
            if not pending:
                pending_start = line_no
            pending += line
            if "<" not in line or "doc" not in line.lower():
                continue
            while (closed := _DOC_CLOSE.search(pending)) is not None:
                def line_of(offset: int, text: str = pending, first: int = pending_start) -> int:
                    return first + text.count("\n", 0, offset)

                opened = _DOC_OPEN.search(pending, 0, closed.start())
                if opened is None:
                    raise InputFormatError(path, line_of(closed.start()), "</DOC> without an opening <DOC>",
                                           "open every document with <DOC>")
                if pending[:opened.start()].strip():
                    raise InputFormatError(path, line_of(0), "text outside <DOC>...</DOC>", "is this a TREC SGML file?")
                again = _DOC_OPEN.search(pending, opened.end(), closed.start())
                if again is not None:
                    raise InputFormatError(path, line_of(again.start()), "<DOC> opened before the previous </DOC>",
                                           "close every document with </DOC>")
                start = line_of(opened.start())
                yield start, _parse_trec_doc(path, start, pending[opened.end():closed.start()], wanted)
                pending_start = line_of(closed.end())
                pending = pending[closed.end():]
        if pending.strip():
            opened = _DOC_OPEN.search(pending)
            if opened is not None and not pending[:opened.start()].strip():
                raise InputFormatError(path, pending_start + pending.count("\n", 0, opened.start()),
                                       "<DOC> without a closing </DOC>", "close every document with </DOC>")
            raise InputFormatError(path, pending_start, "text outside <DOC>...</DOC>", "is this a TREC SGML file?")


def _parse_trec_doc(path: Path, line_no: int, body: str, fields: set[str]) -> Doc:
    match = re.search(r"<DOCNO(?:\s[^<>]*)?>(.*?)</DOCNO\s*>", body, re.I | re.S)
    if not match:
        raise InputFormatError(path, line_no, "document without <DOCNO>", "give every document a <DOCNO>id</DOCNO>")
    doc_id = match.group(1).strip()
    check_id(path, line_no, doc_id, "document")
    rest = body[: match.start()] + " " + body[match.end():]
    if fields:
        rest = " ".join(text for name, text, _ in _elements(rest) if name in fields)
    text = html.unescape(" ".join(_TAG.sub(" ", rest).split()))
    return Doc(doc_id, text)


def _elements(body: str) -> list[tuple[str, str, int]]:
    """(lower-case tag name, content up to its closing tag or the next opening tag, offset), in order.

    Content runs to the element's own closing tag when it has one (so nested markup stays inside),
    otherwise to the next tag (TREC topics leave ``<num>``, ``<title>`` ... unclosed).
    """
    out = []
    tags = list(_TAG.finditer(body))
    for i, tag in enumerate(tags):
        if tag.group(1):  # a closing tag
            continue
        name = tag.group(2).lower()
        close = re.compile(rf"</{re.escape(tag.group(2))}\s*>", re.I).search(body, tag.end())
        reopened = close is not None and re.search(rf"<{re.escape(tag.group(2))}[\s>]", body[tag.end():close.start()],
                                                   re.I)
        end = close.start() if close is not None and not reopened else (
            tags[i + 1].start() if i + 1 < len(tags) else len(body))
        out.append((name, body[tag.end():end], tag.start()))
    return out


# --------------------------------------------------------------------------- ids and topic fields
_BAD_ID = re.compile(r"[\s<>]")
# Canonical topic fields and the names formats give them (TREC SGML tags, TREC XML, TSV/CSV/JSONL keys).
TOPIC_FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "title": ("title", "query", "text", "contents"),
    "desc": ("desc", "description", "question"),
    "narr": ("narr", "narrative"),
}
_FIELD_ALIASES = {alias: name for name, aliases in TOPIC_FIELD_NAMES.items() for alias in aliases[:2]} | {
    "question": "desc", "narrative": "narr"}
_FIELD_PREFIX = {"title": r"topic", "desc": r"description", "narr": r"narrative"}
DEFAULT_TOPIC_FIELD = "title"


def check_id(path: object, line_no: int | None, value: str, what: str = "query") -> str:
    """``value`` when it is a usable id; an InputFormatError naming the line when markup or whitespace is left in it."""
    if not value:
        raise InputFormatError(path, line_no, f"empty {what} id", f"give every {what} an id")
    bad = _BAD_ID.search(value)
    if bad:
        kind = "markup ('<' or '>')" if bad.group() in "<>" else "whitespace"
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise InputFormatError(path, line_no, f"{what} id {shown!r} contains {kind}",
                               "ids are single words (e.g. 301); is a tag unclosed or a field separator wrong?")
    return value


def parse_topic_field(spec: str | None) -> tuple[str, ...]:
    """'title+desc' -> ('title', 'desc'); aliases (query, description, question, narrative) map to the
    canonical names; any other name is taken literally (a TREC tag or a TSV/CSV/JSONL column)."""
    spec = (spec or DEFAULT_TOPIC_FIELD).strip().lower()
    parts = [p.strip() for p in re.split(r"[+,]", spec)]
    if not all(parts):
        raise LeadIRError(f"topic field '{spec}' has an empty part; use e.g. title, desc, narr or title+desc")
    return tuple(dict.fromkeys(_FIELD_ALIASES.get(p, p) for p in parts))


def pick_topic_text(fields: dict[str, str], wanted: tuple[str, ...], where: tuple[object, int | None]) -> str:
    """The text of the ``wanted`` fields (each by any of its names), joined by a space; a missing field
    is an error (use :class:`TopicFieldPicker` over a file, where some topics may lack one)."""
    picker = TopicFieldPicker(where[0], wanted)
    text = picker(fields, where[1])
    picker.check()
    return text


class TopicFieldPicker:
    """Picks the wanted fields' text topic by topic; a topic lacking a field contributes nothing for it,
    and :meth:`check` fails (naming the fields there are) when no topic of the file has one of them."""

    def __init__(self, path: object, wanted: tuple[str, ...] | str | None):
        self.path = path
        self.wanted = wanted if isinstance(wanted, tuple) else parse_topic_field(wanted)
        self.found: set[str] = set()
        self.seen: set[str] = set()

    def __call__(self, fields: dict[str, str], line_no: int | None) -> str:
        lowered = {k.lower(): v for k, v in fields.items()}
        self.seen.update(lowered)
        texts = []
        for name in self.wanted:
            key = next((k for k in TOPIC_FIELD_NAMES.get(name, (name,)) if k in lowered), None)
            if key is not None:
                self.found.add(name)
                texts.append(" ".join(str(lowered[key]).split()))
        return " ".join(t for t in texts if t)

    def check(self) -> None:
        for name in self.wanted:
            if name not in self.found and self.seen:
                hint = closest(name, (self.seen | set(TOPIC_FIELD_NAMES)) - {name})
                raise InputFormatError(self.path, None, f"no topic has a '{name}' field{hint} "
                                                        f"(fields: {', '.join(sorted(self.seen))})",
                                       "pick another --topic-field")


def _strip_prefix(name: str, text: str) -> str:
    prefix = _FIELD_PREFIX.get(_FIELD_ALIASES.get(name, name))
    text = " ".join(html.unescape(_TAG.sub(" ", text)).split())
    if prefix:
        text = re.sub(rf"^{prefix}s?\s*:\s*", "", text, flags=re.I)
    return text


QUERY_ID_HEADERS = ("qid", "query_id", "query-id", "queryid", "id", "_id", "num", "number", "topic", "topic_id",
                    "topic-id", "topicid")


def _rows(path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    with open_text(path) as fh:
        if delimiter == ",":
            reader = csv.reader(fh)
            for row in reader:
                yield reader.line_num, row
        else:  # TSV: no quoting (MS MARCO queries hold bare '"')
            for line_no, line in enumerate(fh, 1):
                yield line_no, line.rstrip("\n\r").split("\t")


def _header(cells: list[str]) -> list[str] | None:
    """The lower-cased column names when ``cells`` is a header row (an id column and a text column)."""
    names = [c.strip().lower() for c in cells]
    known_text = {alias for aliases in TOPIC_FIELD_NAMES.values() for alias in aliases}
    if len(names) >= 2 and any(n in QUERY_ID_HEADERS for n in names) and any(n in known_text for n in names):
        return names
    return None


def iter_tsv_queries(path: Path, field: str | None = None, delimiter: str = "\t") -> Iterator[tuple[int, Query]]:
    """``qid<TAB>text`` lines, or a TSV/CSV whose header names an id column and text columns
    (``qid,title,description``): ``field`` picks the columns (see :func:`parse_topic_field`)."""
    wanted = parse_topic_field(field)
    pick = TopicFieldPicker(path, wanted)
    header: list[str] | None = None
    first = True
    kind = "CSV" if delimiter == "," else "TSV"
    for line_no, parts in _rows(path, delimiter):
        if not any(p.strip() for p in parts):
            continue
        if first:
            first = False
            header = _header(parts)
            if header is not None:
                id_col = next(i for i, n in enumerate(header) if n in QUERY_ID_HEADERS)
                continue
        if header is not None:
            if len(parts) != len(header):
                raise InputFormatError(path, line_no, f"{len(parts)} fields where the header has {len(header)}",
                                       f"give every row the header's columns ({', '.join(header)})")
            row = {name: value for i, (name, value) in enumerate(zip(header, parts, strict=True)) if i != id_col}
            qid, text = parts[id_col].strip(), pick(row, line_no)
        else:
            if len(parts) < 2:
                raise InputFormatError(path, line_no, f"expected 'qid<{'COMMA' if kind == 'CSV' else 'TAB'}>query "
                                                      f"text', found one field",
                                       f"topics {kind} files have an id and a text column")
            if wanted != (DEFAULT_TOPIC_FIELD,):
                raise InputFormatError(path, line_no, f"topic field '{'+'.join(wanted)}' asked, but a {kind} without "
                                                      f"a header row holds only the query text",
                                       "add a header row (e.g. qid, title, desc) or use --topic-field title")
            qid, text = parts[0].strip(), " ".join(p for p in parts[1:] if p)
        yield line_no, Query(check_id(path, line_no, qid), text)
    pick.check()


def iter_csv_queries(path: Path, field: str | None = None) -> Iterator[tuple[int, Query]]:
    return iter_tsv_queries(path, field, delimiter=",")


_TOP = re.compile(r"<top(?:\s[^<>]*)?>(.*?)</top\s*>", re.S | re.I)
_XML_TOPIC = re.compile(r"<topic\b([^<>]*)>(.*?)</topic\s*>", re.S | re.I)
_ATTR = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>]+))""")


def iter_trec_topics(path: Path, field: str | None = None) -> Iterator[tuple[int, Query]]:
    """TREC topics in SGML (``<top> <num> Number: 301 <title> Topic: ... <desc> ... </top>``, tags in any
    case, on one line or several, closed or not) or XML (``<topic number="1"><query>...``, TREC-COVID and
    newer tracks). ``field`` picks the text: title (default), desc, narr or a join such as title+desc."""
    pick = TopicFieldPicker(path, field)
    with open_text(path) as fh:
        content = fh.read()
    blocks = list(_TOP.finditer(content))
    if not blocks:
        if _XML_TOPIC.search(content):
            yield from _xml_topics(path, content, pick)
            return
        raise InputFormatError(path, None, "no <top>...</top> or <topic number=\"...\"> topics found",
                               "pass TREC topics, or a qid<TAB>text TSV")
    for match in blocks:
        line_no = content.count("\n", 0, match.start()) + 1
        fields: dict[str, str] = {}
        qid, qid_line = None, line_no
        for name, text, offset in _elements(match.group(1)):
            if name == "num" and qid is None:
                qid = re.sub(r"^\s*number\s*:", "", text, flags=re.I).strip()
                qid_line = content.count("\n", 0, match.start(1) + offset) + 1
            elif name not in fields:
                fields[name] = _strip_prefix(name, text)
        if qid is None:
            raise InputFormatError(path, line_no, "topic without <num>", "give every <top> a <num> id")
        yield qid_line, Query(check_id(path, qid_line, qid), pick(fields, qid_line))
    pick.check()


def _xml_topics(path: Path, content: str, pick: TopicFieldPicker) -> Iterator[tuple[int, Query]]:
    for match in _XML_TOPIC.finditer(content):
        line_no = content.count("\n", 0, match.start()) + 1
        attrs = {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None)
                 for m in _ATTR.finditer(match.group(1))}
        fields = {name: _strip_prefix(name, text) for name, text, _ in reversed(_elements(match.group(2)))}
        qid = next((attrs[k] for k in ("number", "id", "qid") if k in attrs), None)
        if qid is None:
            qid = next((fields.pop(k) for k in ("number", "num", "id", "qid") if k in fields), None)
        if qid is None:
            raise InputFormatError(path, line_no, "<topic> without a number", 'write <topic number="1">')
        qid = html.unescape(qid).strip()
        yield line_no, Query(check_id(path, line_no, qid), pick(fields, line_no))
    pick.check()


def iter_jsonl_queries(path: Path, field: str | None = None) -> Iterator[tuple[int, Query]]:
    """One JSON object per line: an id key (qid, _id ...) and text keys; without ``field`` the first of
    query/text/title/contents, with it the named fields (title, desc, narr or any key)."""
    pick = TopicFieldPicker(path, field)
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            obj = parse_json_line(path, line_no, line)
            id_key, text_key = _first_key(obj, QUERY_ID_KEYS), _first_key(obj, QUERY_TEXT_KEYS)
            if id_key is None or (field is None and text_key is None):
                raise InputFormatError(path, line_no, f"expected a query id ({'/'.join(QUERY_ID_KEYS)}) and "
                                                      f"text ({'/'.join(QUERY_TEXT_KEYS)})")
            if field is None:
                text = str(obj[text_key])
            else:
                text = pick({k: str(v) for k, v in obj.items() if k != id_key and isinstance(v, str | int | float)},
                            line_no)
            yield line_no, Query(check_id(path, line_no, str(obj[id_key])), text)
    if field is not None:
        pick.check()


def iter_qrels_file(path: Path) -> Iterator[tuple[int, Qrel]]:
    """TREC qrels (``qid iteration docid relevance``, tabs or spaces, iteration ignored) or BEIR TSV with a
    ``query-id corpus-id score`` header. The first judgment fixes the layout (4 or 3 fields) for the file."""
    expected: int | None = None
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if expected is None and parts[0].lower().replace("_", "-") in BEIR_QRELS_HEADER:
                expected = 3
                continue
            if expected is None:
                if len(parts) not in (3, 4):
                    raise InputFormatError(path, line_no, f"expected 'qid 0 docid relevance' (4 fields, TREC qrels), "
                                                          f"found {len(parts)} fields", "is this a qrels file?")
                expected = len(parts)
            if len(parts) != expected:
                layout = "'qid 0 docid relevance' (TREC)" if expected == 4 else "'qid docid score' (BEIR)"
                raise InputFormatError(path, line_no, f"expected {layout}, {expected} fields like the lines before, "
                                                      f"found {len(parts)}", "fix or remove this line")
            qid, docid, rel = (parts[0], parts[2], parts[3]) if expected == 4 else parts
            if not _is_int(rel):
                raise InputFormatError(path, line_no, f"relevance '{rel}' is not an integer")
            yield line_no, Qrel(check_id(path, line_no, qid), check_id(path, line_no, docid, "document"), int(rel))


def qrels_layout(path: Path) -> str:
    """'trec' (4 fields), 'beir' (header and 3 fields) or 'other', from the first judgment of a qrels file."""
    with open_text(path) as fh:
        for line in fh:
            parts = line.split()
            if parts:
                if parts[0].lower().replace("_", "-") in BEIR_QRELS_HEADER:
                    return "beir"
                return "trec" if len(parts) == 4 else "other"
    return "other"


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False
