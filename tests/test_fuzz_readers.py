"""Property-based fuzzing of every reader: corpora (JSONL/TSV/TREC), topics (TSV/TREC/JSONL), qrels
(TREC/BEIR), runs, YAML configs and ``key=value`` overrides; and of every artifact the toolkit reads back
(issue 23): JSON sidecars and manifests (``lead_ir_encoder.json``, ``lead_ir.json``, stage manifests,
``trainer_state.json``, ...), YAML, ``.npy`` arrays, safetensors weights, torch checkpoints and the JSON files
of a model folder, which must read or give one LeadIRError line naming the file.

Each reader gets valid files corrupted at random (truncation, byte flips, invalid UTF-8, a BOM,
CRLF line ends, empty lines, huge lines, wrong column counts, NUL bytes, duplicated lines) and must
either parse or raise a :class:`LeadIRError` whose message is one line; any other exception is a
bug. Changes that keep a file valid (BOM, CRLF, blank lines) must give exactly the original parse.
Seeded (``derandomize``) so CI is reproducible; 500 cases per reader.
"""

from __future__ import annotations

import json
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


def _truncate_or_flip(draw, data: bytes, kind: str) -> bytes:
    """The damages every kind of file gets: cut at a random byte, or one byte flipped (none in an empty file)."""
    n = len(data)
    if kind == "truncate":
        return data[:draw(st.integers(0, max(0, n - 1)))]
    if n:
        i = draw(st.integers(0, n - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    return data


@st.composite
def corruptions(draw, data: bytes) -> bytes:
    """``data`` with 1-3 random corruptions applied in turn."""
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "utf8", "bom", "crlf", "empty", "huge", "columns",
                                     "nul", "duplicate", "delete"]))
        n = len(data)
        if kind in ("truncate", "flip"):
            data = _truncate_or_flip(draw, data, kind)
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


# =========================================================================== artifacts the toolkit reads back
# JSON sidecars and manifests, YAML, .npy arrays, weights and checkpoints (issue 23): each damaged or
# truncated file is one LeadIRError line that names the file, never another exception.
def _one_line_naming(path: Path, read) -> None:
    """``read()`` succeeds, or raises a one-line LeadIRError naming ``path`` (any other exception fails)."""
    try:
        read()
    except LeadIRError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message and "\r" not in message, repr(message)
        assert str(path) in message, f"the error does not name {path}: {message}"


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


SPEC = {"normalize": True, "passage_max_len": 32, "passage_prefix": "", "pooling": "mean", "query_max_len": 16,
        "query_prefix": "query: "}
INDEX_META = {"bf16": False, "corpus": "c.jsonl", "corpus_fingerprint": "c.jsonl:1a2b", "count": 9, "dim": 32,
              "factory": "Flat", "fp16": False, "max_length": 32, "metric": "inner_product", "model": "m",
              "model_dir": "/m", "normalize": True, "pooling": "mean", "precision": "fp32", "query_max_len": 16,
              "seed": 0, "shard": "0/1", "train_size": 0}
MANIFEST = {"finished_at": "2025-01-01T00:00:00.000000+00:00", "inputs": {"split": "ab12"}, "key": {"k1": 0.9},
            "key_hash": "cd34", "outputs": {"index": "index", "count": 9}, "stage": "encode-lead",
            "versions": {"torch": "2"}, "wall_time_s": 1.5}
TRAINER_STATE = {"best": 0.5, "best_step": 2, "epoch": 0, "position": 3, "precision": "fp32",
                 "selector": {"k": 2, "layers": [1, 2]}, "step": 3}
STUDY = {"hybrid": None, "name": "tiny", "rows": ["bm25", "lead"], "stage_wall_time_s": 3.0, "stages": {"a": 1.0}}
COSTS = {"_caption": "CPU", "lead": {"params": 22700000, "query_ms_p50": 4.1}}
ST_MODULES = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
              {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
              {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]


def _artifact_readers() -> dict:
    """name -> (valid bytes, the file's path below a folder, reader(folder))."""
    from lead_ir.efficiency import read_costs_file
    from lead_ir.experiment.results import StudyResults
    from lead_ir.experiment.runner import read_manifest
    from lead_ir.index import load_meta
    from lead_ir.models.colbert import ColBERTSpec
    from lead_ir.models.cross_encoder import CrossEncoderSpec
    from lead_ir.models.spec import EncoderSpec, sentence_transformers_spec
    from lead_ir.training.checkpoint import read_trainer_state

    return {
        "lead_ir_encoder.json": (_json_bytes(SPEC), "model/lead_ir_encoder.json",
                                 lambda f: EncoderSpec.load(f / "model")),
        "lead_ir.json": (_json_bytes(INDEX_META), "index/lead_ir.json", lambda f: load_meta(f / "index")),
        "manifest.json": (_json_bytes(MANIFEST), "stages/encode-lead/manifest.json",
                          lambda f: read_manifest(f / "stages/encode-lead/manifest.json")),
        "trainer_state.json": (_json_bytes(TRAINER_STATE), "checkpoints/step-3/trainer_state.json",
                               lambda f: read_trainer_state(f / "checkpoints/step-3")),
        "lead_ir_colbert.json": (_json_bytes({"dim": 8, "normalize": True, "query_max_len": 32}),
                                 "colbert/lead_ir_colbert.json", lambda f: ColBERTSpec.load(f / "colbert")),
        "lead_ir_cross_encoder.json": (_json_bytes({"max_len": 64, "query_prefix": ""}),
                                       "cross/lead_ir_cross_encoder.json",
                                       lambda f: CrossEncoderSpec.load(f / "cross")),
        "modules.json": (_json_bytes(ST_MODULES), "st/modules.json", lambda f: sentence_transformers_spec(f / "st")),
        "study.json": (_json_bytes(STUDY), "results/study.json", lambda f: StudyResults(f / "results").info),
        "costs.json": (_json_bytes(COSTS), "costs/costs.json", lambda f: read_costs_file(f / "costs/costs.json")),
        "config.resolved.yaml": (VALID["config.yaml"], "results/config.resolved.yaml",
                                 lambda f: StudyResults(f / "results").config),
        "registry.yaml": (b"my-set:\n  topics_file: topics.tsv\n  qrels_file: qrels.txt\n  family: beir\n",
                          "registry/registry.yaml", _load_registry),
    }


def _load_registry(folder: Path):
    from lead_ir.data import registry

    registry.load_registry.cache_clear()
    try:
        return registry.load_registry(str(folder / "registry/registry.yaml"))
    finally:
        registry.load_registry.cache_clear()


ARTIFACTS = sorted(["lead_ir_encoder.json", "lead_ir.json", "manifest.json", "trainer_state.json",
                    "lead_ir_colbert.json", "lead_ir_cross_encoder.json", "modules.json", "study.json", "costs.json",
                    "config.resolved.yaml", "registry.yaml"])


def _write_artifact(folder: Path, name: str, data: bytes) -> tuple[Path, object]:
    _, relative, read = _artifact_readers()[name]
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if name == "modules.json":  # the pooling config that modules.json points to
        (path.parent / "1_Pooling").mkdir(exist_ok=True)
        (path.parent / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    return path, (lambda: read(folder))


@pytest.mark.parametrize("name", ARTIFACTS)
def test_valid_artifacts_read(name, folder):
    _, read = _write_artifact(folder / "valid", name, _artifact_readers()[name][0])
    assert read() is not None


def _containers(inner):
    return st.one_of(st.lists(inner, min_size=1, max_size=3),
                     st.dictionaries(st.text(max_size=6), inner, min_size=1, max_size=3))


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
                           | st.text(max_size=8), _containers, max_leaves=6)


@st.composite
def wrong_types(draw, data: bytes) -> bytes:
    """Valid JSON of the wrong shape: another top-level value, or one entry's value replaced."""
    obj = json.loads(data)
    if draw(st.booleans()) or not isinstance(obj, dict):
        return json.dumps(draw(JSON_VALUES)).encode()
    key = draw(st.sampled_from(sorted(obj)))
    obj[key] = draw(JSON_VALUES)
    return json.dumps(obj).encode()


@pytest.mark.parametrize("name", ARTIFACTS)
def test_corrupted_artifact_reads_or_names_the_file(name, folder):
    valid = _artifact_readers()[name][0]
    changed = st.one_of(corruptions(valid), wrong_types(valid)) if name.endswith(".json") else corruptions(valid)

    @FUZZ
    @given(data=changed)
    def check(data: bytes) -> None:
        path, read = _write_artifact(folder / "fuzz", name, data)
        _one_line_naming(path, read)

    check()


DAMAGED = {  # besides the damage every JSON file can have: each file's own wrong values
    "lead_ir_encoder.json": [b'{"pooling": "max"}', b'{"query_max_len": "16"}', b'{"normalize": 1}'],
    "lead_ir.json": [b'{"dim": "32", "count": 9}', b'{"count": 9}', b'{"dim": 32, "count": 9, "normalize": "yes"}'],
    "manifest.json": [b'{"key_hash": 7}', b'{"key_hash": "ab", "outputs": []}', b'{"wall_time_s": "1s"}'],
    "trainer_state.json": [b'{"step": "3", "epoch": 0, "position": 0}', b'{"epoch": 0, "position": 0}',
                           b'{"step": true, "epoch": 0, "position": 0}'],
}


@pytest.mark.parametrize(("name", "damage"), [
    (name, damage) for name in sorted(DAMAGED)
    for damage in [b"", b"  \n", b"{", b'{"step": 3, "pooling": "mean", "dim": 3', b"\xff\xfe{}", b"[]", b"null", b"7",
                   b"{}" * 2, *DAMAGED[name]]])
def test_damaged_sidecar_is_one_line_naming_the_file(name, damage, folder):
    """The issue's four files, each damaged in the ways users meet (empty, cut short, not UTF-8, wrong types)."""
    path, read = _write_artifact(folder / "damaged", name, damage)
    with pytest.raises(LeadIRError) as caught:
        read()
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@st.composite
def byte_damage(draw, data: bytes) -> bytes:
    """Binary files: truncation, byte flips, inserted or deleted runs, appended junk (1-3 of them)."""
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "append"]))
        n = len(data)
        if kind in ("truncate", "flip"):
            data = _truncate_or_flip(draw, data, kind)
        elif kind == "insert":
            i = draw(st.integers(0, n))
            data = data[:i] + draw(st.binary(min_size=1, max_size=16)) + data[i:]
        elif kind == "delete" and n:
            i = draw(st.integers(0, n - 1))
            data = data[:i] + data[i + draw(st.integers(1, 16)):]
        elif kind == "append":
            data = data + draw(st.binary(min_size=1, max_size=64))
    return data


def _binary_readers() -> dict:
    """name -> (valid bytes, reader(path))."""
    import io

    import numpy as np
    import torch
    from safetensors.torch import save as save_safetensors

    from lead_ir.fileio import check_weights_file, load_npy, load_torch
    from lead_ir.training.checkpoint import load_state_file

    array = io.BytesIO()
    np.save(array, np.arange(24, dtype=np.float32).reshape(6, 4))
    state = io.BytesIO()
    torch.save({"model": {"w": torch.ones(4, 3)}, "optimizer": {"state": {}}, "scheduler": {"last_epoch": 2},
                "rng": {"torch": torch.zeros(8, dtype=torch.uint8)}}, state)
    projection = io.BytesIO()
    torch.save({"weight": torch.ones(8, 32)}, projection)
    weights = save_safetensors({"embeddings.weight": torch.ones(10, 4), "pooler.dense.bias": torch.zeros(4)})
    return {
        "chunk.npy": (array.getvalue(), lambda p: np.asarray(load_npy(p))),
        "mmap.npy": (array.getvalue(), lambda p: np.asarray(load_npy(p, mmap=True)).sum()),
        "model.safetensors": (weights, check_weights_file),
        "state.pt": (state.getvalue(), load_state_file),
        "colbert_projection.pt": (projection.getvalue(), lambda p: load_torch(p, "ColBERT projection")),
    }


BINARY = ["chunk.npy", "colbert_projection.pt", "mmap.npy", "model.safetensors", "state.pt"]


@pytest.mark.parametrize("name", BINARY)
def test_valid_binary_artifacts_read(name, folder):
    data, read = _binary_readers()[name]
    path = folder / "valid-binary" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    read(path)


@pytest.mark.filterwarnings("ignore:Reading `.npy` or `.npz` file required additional header parsing")
@pytest.mark.parametrize("name", BINARY)
def test_damaged_binary_artifact_reads_or_names_the_file(name, folder):
    """.npy arrays (loaded and memory-mapped), safetensors weights and torch checkpoints."""
    data, read = _binary_readers()[name]
    target = folder / "binary" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    seen = []

    @FUZZ
    @given(damaged=byte_damage(data))
    def check(damaged: bytes) -> None:
        # a fresh file per case: a memory map of the previous case must not see this one's bytes
        path = target.with_name(f"{len(seen)}-{name}")
        seen.append(path)
        path.write_bytes(damaged)
        _one_line_naming(path, lambda: read(path))

    check()


def test_object_npy_and_pickled_checkpoint_are_refused_without_running_code(folder):
    import pickle

    import numpy as np

    from lead_ir.fileio import load_npy, load_torch

    path = folder / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(LeadIRError, match=r"objects\.npy: refused to load an object array"):
        load_npy(path)
    marker = folder / "MARKER"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    evil = folder / "evil.pt"
    evil.write_bytes(pickle.dumps({"weight": Evil()}, protocol=2))
    with pytest.raises(LeadIRError, match=r"evil\.pt: "):
        load_torch(evil)
    assert not marker.exists()


# --------------------------------------------------------------------------- model folders
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from fixtures_models import WORD_VOCAB, build_tiny_bert

    from lead_ir.models.spec import EncoderSpec

    path = build_tiny_bert(tmp_path_factory.mktemp("fuzz-model") / "bert", WORD_VOCAB, hidden=32, layers=1)
    EncoderSpec(pooling="mean", normalize=True, query_max_len=16, passage_max_len=32).save(path)
    return path


@pytest.mark.parametrize("name", ["config.json", "tokenizer_config.json", "tokenizer.json", "lead_ir_encoder.json"])
def test_damaged_json_of_a_model_folder_loads_or_names_the_file(name, tiny_model, tmp_path):
    """A model folder with one JSON file damaged: the model loads (the damage was harmless) or one line names a
    file or the folder; transformers' and tokenizers' own exceptions never get out."""
    import shutil

    from lead_ir.models.factory import ModelConfig, build_model

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    valid = (tiny_model / name).read_bytes()

    @settings(max_examples=30, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(data=st.one_of(corruptions(valid), wrong_types(valid)))
    def check(data: bytes) -> None:
        (model / name).write_bytes(data)
        try:
            build_model(ModelConfig(path=str(model)))
        except LeadIRError as exc:
            message = str(exc)
            assert "\n" not in message and str(model) in message, message

    check()


# --------------------------------------------------------------------------- through the command line
def _one_error_line(capsys, args: list[str], path: Path) -> str:
    """Exit 2 and exactly one ``lead-ir: error:`` line on stderr, naming ``path``; no traceback."""
    from lead_ir.cli import main

    capsys.readouterr()
    assert main(["-q", *args]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("lead-ir: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0], lines[0]
    return lines[0]


def _corpus(folder: Path) -> Path:
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "contents": f"cell gene heart {i}"}) + "\n"
                              for i in range(6)))
    return corpus


def test_cli_damaged_encoder_spec_of_a_model_folder(tiny_model, tmp_path, capsys):
    """A user's report: a damaged lead_ir_encoder.json printed JSONDecodeError with a traceback."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    spec = model / "lead_ir_encoder.json"
    spec.write_bytes(spec.read_bytes()[:25])
    line = _one_error_line(capsys, ["encode", "--model", str(model), "--corpus", str(_corpus(tmp_path)),
                                    "--index", str(tmp_path / "index")], spec)
    assert "damaged or truncated lead_ir encoder spec" in line and "download or save the model again" in line
    assert not (tmp_path / "index").exists()


def test_cli_damaged_index_manifest(tiny_model, tmp_path, capsys):
    from lead_ir.cli import main

    index = tmp_path / "index"
    assert main(["-q", "encode", "--model", str(tiny_model), "--corpus", str(_corpus(tmp_path)), "--index",
                 str(index)]) == 0
    meta = index / "lead_ir.json"
    meta.write_bytes(meta.read_bytes()[:-40])
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tcell gene\n")
    line = _one_error_line(capsys, ["search", "dense", "--index", str(index), "--model", str(tiny_model), "--topics",
                                    str(topics), "--output", str(tmp_path / "run.trec")], meta)
    assert "damaged or truncated index manifest" in line and "lead-ir encode" in line
    meta.write_text('{"dim": "32", "count": 6}')
    _one_error_line(capsys, ["index", "merge", str(index), "--output", str(tmp_path / "merged")], meta)


def test_cli_damaged_stage_manifest_on_resuming_a_study(tmp_path, capsys):
    from test_experiment import write_config

    teacher = tmp_path / "teacher"
    teacher.mkdir()  # planning reads no model
    config = write_config(tmp_path, teacher)
    manifest = tmp_path / "exp" / "stages" / "bm25-index" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"stage": "bm25-index", "key_hash": "ab')
    line = _one_error_line(capsys, ["experiment", str(config)], manifest)
    assert "damaged or truncated stage manifest" in line and f"delete {manifest.parent}" in line
    _one_error_line(capsys, ["experiment", str(config), "--dry-run"], manifest)
    manifest.write_text('{"stage": "bm25-index", "key_hash": 7, "outputs": []}')
    _one_error_line(capsys, ["experiment", str(config), "--dry-run"], manifest)


def test_cli_damaged_trainer_state_on_resume(tmp_path, capsys):
    from fixtures_models import CHAR_VOCAB, build_tiny_bert, write_toy_data

    from lead_ir.cli import main

    corpus, train = write_toy_data(tmp_path / "data")
    student = build_tiny_bert(tmp_path / "student", CHAR_VOCAB, hidden=32, layers=2, seed=1)
    out = tmp_path / "out"
    args = ["train", f"data.train={train}", f"data.corpus={corpus}", f"student.path={student}", "data.negatives=2",
            "optim.batch_queries=4", "optim.max_steps=2", "run.save_every=1", f"run.output_dir={out}",
            "run.threads=1"]
    assert main(["-q", *args]) == 0
    state = out / "checkpoints" / "step-2" / "trainer_state.json"
    state.write_bytes(state.read_bytes()[:30])
    line = _one_error_line(capsys, [*args, "run.resume=true"], state)
    assert "damaged or truncated trainer state" in line and "resume from an earlier checkpoint" in line
    state.write_text('{"step": "two", "epoch": 0, "position": 0}')
    _one_error_line(capsys, [*args, "run.resume=true"], state)
