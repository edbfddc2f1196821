"""Property-based fuzzing of every reader: corpora (JSONL/TSV/TREC), topics (TSV/TREC/JSONL), qrels
(TREC/BEIR), runs, YAML configs and ``key=value`` overrides.

Each reader gets valid files corrupted at random (truncation, byte flips, invalid UTF-8, a BOM,
CRLF line ends, empty lines, huge lines, wrong column counts, NUL bytes, duplicated lines) and must
either parse or raise a :class:`LeadIRError` whose message is one line; any other exception is a
bug. Changes that keep a file valid (BOM, CRLF, blank lines) must give exactly the original parse.
Seeded (``derandomize``) so CI is reproducible; 500 cases per reader.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lead_ir.config import apply_overrides, from_dict, load_config
from lead_ir.data.collections import iter_corpus, read_qrels, read_topics
from lead_ir.errors import LeadIRError
from lead_ir.experiment.config import ExperimentConfig
from lead_ir.runs import read_run

EXAMPLES = 500
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
logging.getLogger("lead_ir").setLevel(logging.ERROR)

VALID = {
    "corpus.jsonl": (b'{"id": "d1", "contents": "cell biology of the heart"}\n'
                     b'{"_id": "d2", "title": "Gene", "text": "protein folding \\u00e9t\\u00e9"}\n'
                     b'{"docid": 3, "contents": "caf\xc3\xa9 au lait"}\n'),
    "corpus.tsv": b"d1\tcell biology of the heart\nd2\tGene\tprotein folding\nd3\tcaf\xc3\xa9 au lait\n",
    "corpus.trec": (b"<DOC>\n<DOCNO> d1 </DOCNO>\n<TEXT>\ncell biology\n</TEXT>\n</DOC>\n"
                    b"<DOC>\n<DOCNO>d2</DOCNO>\n<HEADLINE>Gene</HEADLINE>\n<TEXT>protein folding</TEXT>\n</DOC>\n"),
    "topics.tsv": b"q1\tcell biology\nq2\tprotein caf\xc3\xa9\nq3\twhat is a gene\n",
    "topics.trec": (b"<top>\n<num> Number: 301\n<title> International Organized Crime\n<desc> Description:\n"
                    b"Identify organizations.\n</top>\n\n<top>\n<num> Number: 302\n<title> Poliomyelitis\n</top>\n"),
    "topics.jsonl": b'{"_id": "q1", "text": "cell biology"}\n{"qid": "q2", "query": "protein caf\xc3\xa9"}\n',
    "qrels.txt": b"q1 0 d1 1\nq1 0 d2 0\nq2 0 d3 2\n",
    "qrels.tsv": b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\n",
    "run.trec": b"q1 Q0 d1 1 2.5 bm25\nq1 Q0 d2 2 1.25 bm25\nq2 Q0 d3 1 -0.5 bm25\n",
    "config.yaml": (b"name: fuzz\nseed: 3\ndata:\n  dev_fraction: 0.25\n  split_seed: 7\nbm25: {k1: 1.2, b: 0.75}\n"
                    b"hybrid: {enabled: true, method: rrf, norm: min-max}\n"
                    b"evaluation:\n  metrics: [ndcg@10, recall@100]\n  alpha: 0.01\n"),
}


def _read(name: str, path: Path):
    """The reader of ``name``'s kind, fully consumed."""
    if name.startswith("corpus"):
        return [(d.doc_id, d.text) for d in iter_corpus(str(path))]
    if name.startswith("topics"):
        return read_topics(str(path))
    if name.startswith("qrels"):
        return read_qrels(str(path))
    if name.startswith("run"):
        return read_run(path)
    if name.startswith("config"):
        return load_config(ExperimentConfig, path)
    raise AssertionError(name)


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


@st.composite
def corruptions(draw, data: bytes) -> bytes:
    """``data`` with 1-3 random corruptions applied in turn."""
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "utf8", "bom", "crlf", "empty", "huge", "columns",
                                     "nul", "duplicate", "delete"]))
        n = len(data)
        if kind == "truncate":
            data = data[:draw(st.integers(0, max(0, n - 1)))]
        elif kind == "flip" and n:
            i = draw(st.integers(0, n - 1))
            data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
        elif kind == "utf8":
            i = draw(st.integers(0, n))
            bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82", b"\x80\x80", b"\xf8"]))
            data = data[:i] + bad + data[i:]
        elif kind == "bom":
            data = b"\xef\xbb\xbf" + data
        elif kind == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif kind == "empty":
            lines = _lines(data)
            i = draw(st.integers(0, len(lines)))
            data = b"\n".join(lines[:i] + [draw(st.sampled_from([b"", b"  ", b"\t", b"\r"]))] + lines[i:])
        elif kind == "huge":
            lines = _lines(data)
            i = draw(st.integers(0, len(lines)))
            unit = draw(st.sampled_from([b"a", b"x ", b"\t", b"\xc3\xa9", b"{", b"[", b"<"]))
            filler = unit * draw(st.integers(1, 70_000))
            data = b"\n".join(lines[:i] + [filler] + lines[i:])
        elif kind == "columns":
            lines = _lines(data)
            i = draw(st.integers(0, max(0, len(lines) - 1)))
            line = lines[i]
            sep = b"\t" if b"\t" in line else b" "
            parts = line.split(sep)
            if draw(st.booleans()) or len(parts) < 2:
                parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from([b"x", b"", b"1", b"nan"])))
            else:
                del parts[draw(st.integers(0, len(parts) - 1))]
            lines[i] = sep.join(parts)
            data = b"\n".join(lines)
        elif kind == "nul":
            i = draw(st.integers(0, n))
            data = data[:i] + b"\x00" + data[i:]
        elif kind == "duplicate":
            lines = _lines(data)
            i = draw(st.integers(0, max(0, len(lines) - 1)))
            data = b"\n".join(lines[:i + 1] + [lines[i]] + lines[i + 1:])
        elif kind == "delete":
            lines = _lines(data)
            i = draw(st.integers(0, max(0, len(lines) - 1)))
            data = b"\n".join(lines[:i] + lines[i + 1:])
    return data


def _parse_or_one_line_error(name: str, data: bytes, folder: Path) -> None:
    path = folder / name
    path.write_bytes(data)
    try:
        _read(name, path)
    except LeadIRError as exc:
        message = str(exc)
        assert message.strip(), f"empty error message for {data[:200]!r}"
        assert "\n" not in message and "\r" not in message, f"error is not one line: {message!r}"


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory(prefix="lead_ir_fuzz_") as name:
        yield Path(name)


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_files_parse(name, folder):
    path = folder / name
    path.write_bytes(VALID[name])
    assert _read(name, path)


@pytest.mark.parametrize("name", sorted(VALID))
def test_corrupted_input_parses_or_gives_one_line_error(name, folder):
    @FUZZ
    @given(data=corruptions(VALID[name]))
    def check(data: bytes) -> None:
        _parse_or_one_line_error(name, data, folder)

    check()


@pytest.mark.parametrize("name", sorted(VALID))
def test_bom_crlf_and_blank_lines_change_nothing(name, folder):
    """A byte-order mark, CRLF line ends and blank lines between records keep the parse identical."""
    path = folder / name
    path.write_bytes(VALID[name])
    expected = _read(name, path)

    @settings(max_examples=40, derandomize=True, deadline=None, database=None)
    @given(bom=st.booleans(), crlf=st.booleans(), blanks=st.lists(st.integers(0, 20), max_size=3))
    def check(bom: bool, crlf: bool, blanks: list[int]) -> None:
        lines = VALID[name].split(b"\n")
        if not name.startswith("config"):  # a blank line inside a YAML block is still valid, but keep it simple
            for i in sorted(blanks, reverse=True):
                if not (name == "qrels.tsv" and i == 0):  # the BEIR header must stay on line 1
                    lines.insert(min(i, len(lines)), b"")
        data = b"\n".join(lines)
        data = (b"\xef\xbb\xbf" if bom else b"") + (data.replace(b"\n", b"\r\n") if crlf else data)
        path.write_bytes(data)
        assert _read(name, path) == expected

    check()


NASTY_VALUES = ["[1", "{a: 1", "'x", "*x", "&a [", ": :", "!!python/object/apply:os.system [x]", ".nan", ".inf",
                "-1", "1e999", "[]", "{}", "null", "~", "true", "a\nb: c", "\t"]


@FUZZ
@given(key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.0123456789", max_size=30),
       value=st.one_of(st.text(max_size=40), st.sampled_from(NASTY_VALUES)),
       sep=st.sampled_from(["=", "", "=="]))
def test_random_overrides_parse_or_give_one_line_error(key, value, sep):
    """``key=value`` overrides on the experiment config: applied, or one ConfigError line (never YAML's traceback,
    never an object constructed from a YAML tag)."""
    try:
        data = apply_overrides({}, [f"{key}{sep}{value}"])
        from_dict(ExperimentConfig, data)
    except LeadIRError as exc:
        assert str(exc).strip() and "\n" not in str(exc), repr(str(exc))


MINE_INPUTS = {"run": VALID["run.trec"], "qrels": VALID["qrels.txt"],
               "topics": b"q1\tcell biology\nq2\tprotein caf\xc3\xa9\n"}


@pytest.mark.parametrize("which", sorted(MINE_INPUTS))
def test_cli_with_a_corrupted_input_exits_0_or_2_with_one_line(which, folder, capsys):
    """Through the command line: `lead-ir mine` with one corrupted input either succeeds and writes its
    output, or exits 2 with exactly one `lead-ir: error:` line and writes nothing."""
    from lead_ir.cli import main

    @settings(max_examples=60, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(data=corruptions(MINE_INPUTS[which]))
    def check(data: bytes) -> None:
        paths = {}
        for name, content in MINE_INPUTS.items():
            paths[name] = folder / f"cli-{name}.txt"
            paths[name].write_bytes(data if name == which else content)
        out = folder / "cli-out.jsonl"
        out.unlink(missing_ok=True)
        capsys.readouterr()
        code = main(["-q", "mine", "--run", str(paths["run"]), "--qrels", str(paths["qrels"]), "--topics",
                     str(paths["topics"]), "--output", str(out)])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if code == 0:
            assert out.exists()
        else:
            errors = [line for line in err.splitlines() if line.startswith("lead-ir: error:")]
            assert code == 2 and len(errors) == 1 and not out.exists(), err
        assert not [p for p in folder.iterdir() if ".tmp-" in p.name]

    check()
