"""Issue 12, by class: every failure a user can cause is one ``lead-ir: error:`` line (exit 2), nothing is
silently lost, and no file the toolkit opens can run code.

Classes (the issue's numbering): 1 operating-system errors, 2 numbers and overrides checked up front,
3 damaged artifacts, 4 plan-time validation of studies, 5 no silent loss, 6 opening a file never runs
code; and (issue 23) 7 a refused command leaves the disk as it found it. Each class has at least three
distinct inputs; tests/test_fuzz_readers.py fuzzes the readers and tests/test_kill_sweep.py SIGKILLs every
writing command.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fixtures_models import WORD_VOCAB, build_tiny_bert, write_toy_data

from lead_ir.cli import main
from lead_ir.errors import LeadIRError

TOPICS = "q1\tfirst query\nq2\tsecond query\n"
QRELS = "q1 0 d1 1\nq2 0 d2 1\n"
RUN = "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\nq2 Q0 d2 1 3.0 t\n"


def w(path: Path, text: str | bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def one_error(capsys, args: list[str], pattern: str) -> str:
    """Run the CLI in-process: exit 2, exactly one ``lead-ir: error:`` line matching ``pattern``, no traceback."""
    assert main(["-q", *args]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("lead-ir: error:")]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def no_leftovers(folder: Path) -> None:
    left = [p for p in folder.rglob("*") if ".tmp-" in p.name]
    assert not left, f"temporary files left behind: {left}"


class Evil:
    """A pickle payload: unpickling it runs ``touch MARKER``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("model") / "bert", WORD_VOCAB, hidden=32, layers=2)


# ======================================================================== class 1: operating-system errors
def test_os_directory_where_a_file_is_expected(tmp_path, capsys):
    folder = tmp_path / "qrels-folder"
    folder.mkdir()
    one_error(capsys, ["evaluate", "--qrels", str(folder), w(tmp_path / "run.trec", RUN)],
              r"qrels-folder.*(is a directory|directory).*file")


def test_os_file_where_a_directory_is_expected(tmp_path, capsys):
    blocker = Path(w(tmp_path / "blocker", "I am a file"))
    args = ["mine", "--run", w(tmp_path / "run.trec", RUN), "--qrels", w(tmp_path / "q.txt", QRELS),
            "--topics", w(tmp_path / "t.tsv", TOPICS), "--output", str(blocker / "train.jsonl")]
    one_error(capsys, args, r"blocker.*(not a directory|not a folder|is not a directory|already exists)")
    assert blocker.read_text() == "I am a file"


def test_os_output_is_an_existing_directory_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "fused.trec"
    out.mkdir()
    args = ["fuse", w(tmp_path / "a.trec", RUN), w(tmp_path / "b.trec", RUN.replace("t\n", "u\n")),
            "--output", str(out)]
    one_error(capsys, args, r"fused\.trec.*directory")
    assert out.is_dir() and not list(out.iterdir())
    no_leftovers(tmp_path)


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3\x28", b"\xed\xa0\x80"])
def test_os_undecodable_bytes_name_file_line_and_byte(tmp_path, capsys, bad):
    run = RUN.encode().replace(b"d2 2", b"d" + bad + b" 2")
    line = one_error(capsys, ["evaluate", "--qrels", w(tmp_path / "q.txt", QRELS), w(tmp_path / "run.trec", run)],
                     r"run\.trec:2: not valid UTF-8 \(byte 0x[0-9a-f]{2} at byte offset \d+\)")
    offset = int(re.search(r"offset (\d+)", line).group(1))
    assert run[offset:offset + 1] == bad[:1]


def test_os_damaged_gzip_input(tmp_path, capsys):
    data = gzip.compress(("".join(f"q{i} 0 d{i} 1\n" for i in range(2000))).encode())
    path = w(tmp_path / "qrels.txt.gz", data[: len(data) // 2])
    one_error(capsys, ["evaluate", "--qrels", path, w(tmp_path / "run.trec", RUN)], r"qrels\.txt\.gz.*gzip")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions")
def test_os_permission_denied(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        args = ["fuse", w(tmp_path / "a.trec", RUN), w(tmp_path / "b.trec", RUN), "--output", str(locked / "f.trec")]
        one_error(capsys, args, r"locked.*permission denied")
    finally:
        locked.chmod(0o700)


def test_os_read_only_destination(tmp_path, capsys):
    """An output on a read-only file system (a read-only tmpfs): one line naming the path, nothing written."""
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(mount)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        args = ["mine", "--run", w(tmp_path / "run.trec", RUN), "--qrels", w(tmp_path / "q.txt", QRELS),
                "--topics", w(tmp_path / "t.tsv", TOPICS), "--output", str(mount / "train.jsonl")]
        one_error(capsys, args, r"ro/train\.jsonl.*read-only.*writable location")
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_os_errors_at_the_boundary_are_one_line(capsys):
    """The CLI boundary turns any OSError, with or without a path, into one line."""
    from lead_ir.cli import error_line

    for exc, pattern in ((OSError(30, "Read-only file system", "/ro/out.trec"), r"/ro/out\.trec: .*read-only"),
                         (PermissionError(13, "Permission denied", "/x"), r"/x: permission denied"),
                         (OSError(28, "No space left on device"), r"out of disk space"),
                         (IsADirectoryError(21, "Is a directory", "/d"), r"/d: is a directory")):
        assert re.search(pattern, error_line(exc)) and "\n" not in error_line(exc)


# ======================================================================== class 2: numbers and overrides
@pytest.mark.parametrize("args, pattern", [
    (["search", "bm25", "--index", "i", "--topics", "t", "--output", "o", "--k", "0"], r"--k: must be a positive"),
    (["search", "bm25", "--index", "i", "--topics", "t", "--output", "o", "--threads", "-2"], r"--threads"),
    (["search", "bm25", "--index", "i", "--topics", "t", "--output", "o", "--b", "1.5"], r"--b: must be between"),
    (["evaluate", "--qrels", "q", "r", "--digits", "-1"], r"--digits"),
    (["fuse", "a", "b", "--output", "o", "--weights", "nan", "1"], r"--weights: expected a finite number"),
    (["fuse", "a", "b", "--output", "o", "--dev-fraction", "0"], r"--dev-fraction: must be a fraction"),
    (["fuse", "a", "b", "--output", "o", "--rrf-k", "ten"], r"--rrf-k: expected an integer"),
    (["encode", "--model", "m", "--corpus", "c", "--index", "i", "--batch-size", "0"], r"--batch-size"),
    (["encode", "--model", "m", "--corpus", "c", "--index", "i", "--seed", "-1"], r"--seed: must be an integer >= 0"),
    (["compare", "r", "--qrels", "q", "--baseline", "b", "--alpha", "1"], r"--alpha"),
    (["mine", "--run", "r", "--qrels", "q", "--topics", "t", "--output", "o", "--depth", "0"], r"--depth"),
])
def test_numbers_are_checked_before_any_work(args, pattern, capsys):
    """Bad numbers fail while parsing: the input paths here do not even exist."""
    one_error(capsys, args, pattern)


@pytest.mark.parametrize("override, pattern", [
    ("optim.lr=[1e-5", r"override 'optim\.lr=\[1e-5': the value is not valid YAML"),
    ("optim.lr={a: 1", r"not valid YAML"),
    ("optim.lr=.inf", r"optim\.lr: expected a finite number"),
    ("optim.max_steps=1e999", r"optim\.max_steps: expected a positive integer \(>= 1\) or null, found '1e999'"),
    ("optim..lr=1", r"empty key part"),
    ("run.seed=*alias", r"not valid YAML"),
])
def test_bad_overrides_are_one_line(tmp_path, capsys, override, pattern):
    one_error(capsys, ["train", "--config", w(tmp_path / "t.yaml", "{}\n"), override], pattern)


def test_overrides_are_checked_before_a_study_starts(tmp_path, capsys):
    one_error(capsys, ["experiment", w(tmp_path / "e.yaml", "name: x\n"), "evaluation.alpha=[0.1", "--dry-run"],
              r"not valid YAML")


# ======================================================================== class 3: damaged artifacts
def test_truncated_safetensors_weights(tmp_path, model, capsys):
    broken = tmp_path / "m"
    shutil.copytree(model, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    corpus = w(tmp_path / "c.jsonl", '{"id": "a", "contents": "x"}\n')
    one_error(capsys, ["encode", "--model", str(broken), "--corpus", corpus, "--index", str(tmp_path / "idx")],
              r"model\.safetensors: truncated.*download or save")
    assert not (tmp_path / "idx").exists()


def test_legacy_or_garbage_bin_weights_are_refused(tmp_path, model, capsys):
    broken = tmp_path / "m"
    shutil.copytree(model, broken)
    (broken / "model.safetensors").unlink()
    marker = tmp_path / "MARKER"
    with open(broken / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"weight": Evil(marker)}, fh)
    corpus = w(tmp_path / "c.jsonl", '{"id": "a", "contents": "x"}\n')
    one_error(capsys, ["encode", "--model", str(broken), "--corpus", corpus, "--index", str(tmp_path / "idx")],
              r"pytorch_model\.bin: .*not a PyTorch zip archive")
    assert not marker.exists()


def test_truncated_faiss_index(tmp_path, model, capsys):
    from lead_ir.index import read_faiss_index

    corpus = w(tmp_path / "c.jsonl", "".join(json.dumps({"id": f"d{i}", "contents": f"cell gene {i}"}) + "\n"
                                             for i in range(30)))
    assert main(["-q", "encode", "--model", str(model), "--corpus", corpus, "--index", str(tmp_path / "idx")]) == 0
    index = tmp_path / "idx" / "index"
    index.write_bytes(index.read_bytes()[: index.stat().st_size - 100])
    with pytest.raises(LeadIRError, match=r"idx/index: damaged or truncated FAISS index .*re-run `lead-ir encode`"):
        read_faiss_index(tmp_path / "idx")
    index.write_bytes(b"not a faiss index at all")
    with pytest.raises(LeadIRError, match=r"damaged or truncated FAISS index"):
        read_faiss_index(tmp_path / "idx")


def test_truncated_checkpoint_state(tmp_path):
    from lead_ir.training.checkpoint import load_state_file

    path = tmp_path / "step-2" / "state.pt"
    path.parent.mkdir()
    torch.save({"model": {"w": torch.ones(100)}, "optimizer": {}, "scheduler": {}, "rng": {}}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(LeadIRError, match=r"state\.pt: unreadable checkpoint .*delete .*step-2"):
        load_state_file(path)


def test_topic_registry_with_a_misspelled_field(tmp_path, monkeypatch):
    from lead_ir.data import registry

    path = w(tmp_path / "registry.yaml", "my-set:\n  topic_file: topics.tsv\n  family: beir\n")
    monkeypatch.setenv("LEAD_IR_TOPIC_REGISTRY", path)
    registry.load_registry.cache_clear()
    try:
        with pytest.raises(LeadIRError, match=r"registry\.yaml: topic set 'my-set' has unknown field 'topic_file' "
                                              r"\(did you mean 'topics_file'\?\)"):
            registry.load_registry()
        w(tmp_path / "registry.yaml", "my-set: [1, 2\n")
        registry.load_registry.cache_clear()
        with pytest.raises(LeadIRError, match=r"registry\.yaml:\d+: topic registry is not valid YAML"):
            registry.load_registry()
    finally:
        registry.load_registry.cache_clear()


def _incomplete_jdk(tmp_path: Path) -> Path:
    """A JAVA_HOME with bin/java and a release file but no JVM library (an interrupted install)."""
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"21.0.1\"' >&2\n")
    java.chmod(0o755)
    (home / "release").write_text('JAVA_VERSION="21.0.1"\nMODULES="java.base jdk.incubator.vector"\n')
    return home


def test_incomplete_java_home(tmp_path):
    """A JAVA_HOME without its JVM library: one line naming it and what is missing."""
    env = {**os.environ, "JAVA_HOME": str(_incomplete_jdk(tmp_path)), "LEAD_IR_JVM_DIRS": str(tmp_path / "none"),
           "LEAD_IR_JAVA": "system"}
    corpus = w(tmp_path / "c.jsonl", '{"id": "d1", "contents": "x"}\n')
    out = subprocess.run([sys.executable, "-m", "lead_ir", "-q", "index", "bm25", "--corpus", corpus, "--index",
                          str(tmp_path / "idx")], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("lead-ir: error:") and "jdk (incomplete JDK: no lib/server/libjvm.so)" in last, last


@pytest.mark.slow  # `lead-ir doctor` in a subprocess imports every heavy library
def test_doctor_reports_a_broken_java(tmp_path):
    env = {**os.environ, "JAVA_HOME": str(_incomplete_jdk(tmp_path)), "LEAD_IR_JVM_DIRS": str(tmp_path / "none"),
           "LEAD_IR_JAVA": "system"}
    out = subprocess.run([sys.executable, "-m", "lead_ir", "-q", "doctor", "--check-lucene"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert "Traceback" not in out.stderr and out.returncode == 1, out.stderr
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.stdout.splitlines() if "  " in line)
    assert rows["JAVA_HOME"].startswith("BROKEN:") and "no lib/server/libjvm.so" in rows["JAVA_HOME"]
    assert rows["java"].startswith("NOT FOUND") and rows["lucene"].startswith("NOT FOUND")
    assert "torch" in rows and "faiss" in rows  # the rest of the report is still there


# ======================================================================== class 4: plan-time validation
def _study(tmp_path: Path, model: Path, **changes) -> str:
    corpus, _ = write_toy_data(tmp_path / "data")
    data = tmp_path / "data"
    cfg = {"name": "tiny", "output_dir": str(tmp_path / "exp"),
           "data": {"corpus": str(corpus), "train_topics": str(data / "topics.tsv"),
                    "train_qrels": str(data / "qrels.txt"), "test_topics": str(data / "topics.tsv"),
                    "test_qrels": str(data / "qrels.txt"), "dev_fraction": 0.25},
           "teacher": {"model": str(model), "warmup": False},
           "arms": [{"name": "a", "student_layers": [1], "teacher": "zero-shot", "train": None}],
           "hybrid": {"enabled": True, "method": "wsum"},
           "evaluation": {"metrics": ["ndcg@10"], "baselines": ["bm25", "a"]}}
    for dotted, value in changes.items():
        node = cfg
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return w(tmp_path / "study.yaml", yaml.safe_dump(cfg))


@pytest.mark.parametrize("method", ["combsum", "combmnz", "rrf", "wsum"])
def test_every_offered_hybrid_method_plans(tmp_path, model, capsys, method):
    assert main(["-q", "experiment", _study(tmp_path, model, hybrid__method=method), "--dry-run"]) == 0
    assert "hybrid" in capsys.readouterr().out


@pytest.mark.parametrize("change, pattern", [
    ({"evaluation__metrics": ["ndcg@10", "ndgc@10"]}, r"evaluation\.metrics: unknown metric 'ndgc@10'"),
    ({"evaluation__dev_metric": "recal@10"}, r"evaluation\.dev_metric: unknown metric"),
    ({"evaluation__baselines": ["bm25", "contrastve"]}, r"'contrastve' is not a row of this study"),
    ({"evaluation__alpha": 1.5}, r"evaluation\.alpha"),
    ({"data__corpus": "/no/such/corpus.jsonl"}, r"data\.corpus: /no/such/corpus\.jsonl does not exist"),
    ({"data__test_qrels": "dl19-pasage"}, r"data\.test_qrels: 'dl19-pasage' .*did you mean 'dl19-passage'"),
    ({"teacher__model": "/no/such/model"}, r"teacher\.model: /no/such/model is not a folder"),
    ({"evaluation__test": "ttset"}, r"evaluation\.test: 'ttset' is not one of"),
    ({"hybrid__method": "combsun"}, r"hybrid\.method: 'combsun' is not one of .*did you mean 'combsum'"),
])
def test_study_fails_at_plan_time(tmp_path, model, capsys, change, pattern):
    one_error(capsys, ["experiment", _study(tmp_path, model, **change), "--dry-run"], pattern)
    assert not (tmp_path / "exp" / "stages").exists()


def test_offered_fusion_methods_run_in_ranx():
    """Every method fusion offers is accepted by ranx (combsum etc. are mapped to ranx's names)."""
    from lead_ir import fusion

    runs = [{"q1": {"a": 3.0, "b": 2.0, "c": 1.0}}, {"q1": {"b": 5.0, "c": 4.0, "d": 1.0}}]
    for method in fusion.METHODS:
        params = {"gmnz": {"gamma": 0.5}, "rbc": {"phi": 0.8}}.get(method, {})
        fused = fusion.fuse(runs, ["x", "y"], method=method, params=params)
        assert set(fused["q1"]) == {"a", "b", "c", "d"}, method


# ======================================================================== class 5: no silent loss
@pytest.mark.parametrize("corpus, name", [
    (json.dumps({"id": "doc 1", "contents": "x"}) + "\n", "c.jsonl"),
    ("doc\u00a01\ttext\n", "c.tsv"),
    ("<DOC>\n<DOCNO>a b</DOCNO>\ntext\n</DOC>\n", "c.trec"),
])
def test_lucene_index_refuses_ids_a_run_cannot_hold(tmp_path, capsys, corpus, name):
    """Refused while the corpus is read, before Anserini starts (no Java needed to reach the error)."""
    one_error(capsys, ["index", "bm25", "--corpus", w(tmp_path / name, corpus), "--index", str(tmp_path / "idx")],
              r"(whitespace|markup)")
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize("doc, found", [({"id": "d1", "contents": None}, "null"),
                                         ({"id": "d1", "contents": ["a", "b"]}, "list"),
                                         ({"id": "d1", "title": "t", "text": 5}, "int"),
                                         ({"id": "d1", "title": None, "text": None}, "null")])
def test_document_text_must_be_a_string(tmp_path, capsys, doc, found):
    one_error(capsys, ["index", "bm25", "--corpus", w(tmp_path / "c.jsonl", json.dumps(doc) + "\n"),
                       "--index", str(tmp_path / "idx")], rf"c\.jsonl:1: document '\w+' is {found}, expected a string")


def test_bom_is_ignored_in_every_text_input(tmp_path, capsys):
    plain = ["evaluate", "--qrels", w(tmp_path / "q.txt", QRELS), w(tmp_path / "r.trec", RUN), "--format", "csv"]
    assert main(["-q", *plain]) == 0
    expected = capsys.readouterr().out
    bom = "\ufeff"
    with_bom = ["evaluate", "--qrels", w(tmp_path / "bq.txt", bom + QRELS), w(tmp_path / "br.trec", bom + RUN),
                "--format", "csv", "--name", "r"]
    assert main(["-q", *with_bom]) == 0
    assert capsys.readouterr().out == expected
    from lead_ir.config import load_yaml
    from lead_ir.data.collections import iter_corpus, read_topics

    assert read_topics(w(tmp_path / "t.tsv", bom + TOPICS)) == {"q1": "first query", "q2": "second query"}
    assert [d.doc_id for d in iter_corpus(w(tmp_path / "c.jsonl", bom + '{"id": "d1", "contents": "x"}\n'))] == ["d1"]
    assert load_yaml(w(tmp_path / "c.yaml", bom + "a: 1\n")) == {"a": 1}


def test_fuse_keeps_every_hit_and_every_query(tmp_path, capsys):
    a = "q1 Q0 d1 1 3.0 a\nq1 Q0 d2 2 2.0 a\nq2 Q0 d5 1 1.0 a\n"
    b = "q1 Q0 d3 1 9.0 b\nq3 Q0 d7 1 4.0 b\nq3 Q0 d8 2 3.0 b\n"
    out = tmp_path / "f.trec"
    assert main(["-q", "fuse", w(tmp_path / "a.trec", a), w(tmp_path / "b.trec", b), "--output", str(out),
                 "--method", "combsum"]) == 0
    got = {(line.split()[0], line.split()[2]) for line in out.read_text().splitlines()}
    assert got == {("q1", "d1"), ("q1", "d2"), ("q1", "d3"), ("q2", "d5"), ("q3", "d7"), ("q3", "d8")}
    assert main(["-q", "fuse", str(tmp_path / "a.trec"), str(tmp_path / "b.trec"), "--output", str(out),
                 "--k", "1"]) == 0
    assert len(out.read_text().splitlines()) == 3  # the explicit depth: one hit per query


@pytest.mark.parametrize("extra, pattern", [
    (["--method", "wsum", "--rrf-k", "10"], r"'wsum' takes only weights, but k was given"),
    (["--method", "rrf", "--weights", "0.5", "0.5"], r"'rrf' takes only k, but weights was given"),
    (["--method", "combsum", "--weights", "1", "2"], r"'combsum' takes no parameters"),
    (["--dev-runs", "x.trec", "y.trec"], r"--dev-runs and --dev-fraction only apply with --optimize-on"),
    (["--method", "rbc"], r"'rbc' needs phi"),
])
def test_fuse_options_are_honoured_or_refused(tmp_path, capsys, extra, pattern):
    args = ["fuse", w(tmp_path / "a.trec", RUN), w(tmp_path / "b.trec", RUN.replace(" t\n", " u\n")),
            "--output", str(tmp_path / "f.trec"), *extra]
    one_error(capsys, args, pattern)
    assert not (tmp_path / "f.trec").exists()


# ======================================================================== class 6: opening a file never runs code
def _train_config(tmp_path: Path, model: Path, out: Path) -> str:
    corpus, train = write_toy_data(tmp_path / "data")
    cfg = {"student": {"path": str(model), "query_max_len": 16, "passage_max_len": 24},
           "data": {"train": str(train), "corpus": str(corpus), "negatives": 2, "negatives_depth": 10},
           "optim": {"max_steps": 4, "batch_queries": 4, "lr": 1e-3},
           "loss": {"weights": {"response": 0.0, "layer": 0.0}},
           "run": {"output_dir": str(out), "save_every": 2, "threads": 1, "seed": 3}}
    return w(tmp_path / "train.yaml", yaml.safe_dump(cfg))


def _plant_evil_checkpoint(train_dir: Path, marker: Path) -> None:
    step = train_dir / "checkpoints" / "step-2"
    step.mkdir(parents=True)
    torch.save({"model": {}, "optimizer": {}, "scheduler": {}, "rng": Evil(marker)}, step / "state.pt")
    (step / "trainer_state.json").write_text(json.dumps({"step": 2, "epoch": 0, "position": 2, "best": None,
                                                         "best_step": None}))


def test_malicious_checkpoint_on_train_resume(tmp_path, model, capsys):
    out = tmp_path / "run"
    config = _train_config(tmp_path, model, out)
    marker = tmp_path / "MARKER"
    _plant_evil_checkpoint(out, marker)
    one_error(capsys, ["train", "--config", config, "--resume"],
              r"state\.pt: refused to load \(it references (posix|os)\.system\).*weights_only=True")
    assert not marker.exists()


def test_checkpoints_load_weights_only_and_resume_rng_exactly(tmp_path, model):
    """A checkpoint written by lead_ir loads with weights_only=True and restores every RNG stream."""
    import random

    from lead_ir.training.checkpoint import load_state_file, rng_state, save_checkpoint, set_rng_state

    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.randn(2, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    random.seed(1)
    np.random.seed(2)
    np.random.normal()  # a cached Gaussian is part of numpy's state
    state = rng_state()
    draws = (random.random(), np.random.normal(), torch.rand(3).tolist())
    path = save_checkpoint(tmp_path, 7, net, opt, sched, {"step": 7}, keep=1)
    blob = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    set_rng_state(load_state_file(path / "state.pt")["rng"])
    set_rng_state(state)
    assert (random.random(), np.random.normal(), torch.rand(3).tolist()) == draws
    assert set(blob) == {"model", "optimizer", "scheduler", "rng"}


def test_malicious_encode_chunk_npy(tmp_path, model, capsys):
    """A resumable encode whose chunk .npy holds a pickled object array: refused, nothing runs."""
    corpus = w(tmp_path / "c.jsonl", "".join(json.dumps({"id": f"d{i}", "contents": f"gene {i}"}) + "\n"
                                             for i in range(6)))
    partial = tmp_path / ".idx.partial"
    marker = tmp_path / "MARKER"
    args = ["encode", "--model", str(model), "--corpus", corpus, "--index", str(tmp_path / "idx"), "--chunk-size", "3",
            "--keep-chunks"]
    assert main(["-q", *args]) == 0 and len(list(partial.glob("chunk-*.npy"))) == 2
    shutil.rmtree(tmp_path / "idx")
    np.save(partial / "chunk-000000.npy", np.array([Evil(marker)], dtype=object), allow_pickle=True)
    one_error(capsys, args, r"chunk-000000\.npy: refused to load an object array")
    assert not marker.exists() and not (tmp_path / "idx").exists()


def test_malicious_teacher_cache_npy(tmp_path):
    from lead_ir.training.cache import TeacherCache

    marker = tmp_path / "MARKER"
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "dense", "num_layers": 2}))
    np.save(tmp_path / "queries.npy", np.array([Evil(marker)], dtype=object), allow_pickle=True)
    np.save(tmp_path / "passages.npy", np.zeros((2, 2, 4), dtype=np.float32))
    (tmp_path / "passage_ids.txt").write_text("a\nb")
    with pytest.raises(LeadIRError, match=r"queries\.npy: refused to load an object array"):
        TeacherCache(tmp_path)
    assert not marker.exists()


def test_yaml_tags_never_build_objects(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    config = w(tmp_path / "t.yaml", f"optim: !!python/object/apply:os.system ['touch {marker}']\n")
    one_error(capsys, ["train", "--config", config], r"t\.yaml:1: not valid YAML")
    one_error(capsys, ["train", "--config", w(tmp_path / "e.yaml", "{}\n"),
                       f"optim.lr=!!python/object/apply:os.system ['touch {marker}']"], r"not valid YAML")
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.java
def test_malicious_checkpoint_in_a_resumed_experiment(tmp_path, model, capsys):
    """A study whose training stage folder holds a crafted checkpoint: the stage resumes, refuses it, exit 2."""
    config = _study(tmp_path, model, hybrid__enabled=False, evaluation__baselines=["bm25"])
    data = yaml.safe_load(Path(config).read_text())
    data["arms"] = [{"name": "a", "student_layers": [1], "teacher": "zero-shot",
                     "train": {"loss": {"weights": {"response": 0.0, "layer": 0.0}}}}]
    data["train"] = {"student": {"query_max_len": 16, "passage_max_len": 24}, "data": {"negatives": 2},
                     "optim": {"max_steps": 4, "batch_queries": 4}, "run": {"save_every": 2, "threads": 1}}
    data["bm25"] = {"threads": 1, "train_depth": 10}
    data["mining"] = {"depth": 10, "num_negatives": 4}
    Path(config).write_text(yaml.safe_dump(data))
    marker = tmp_path / "MARKER"
    _plant_evil_checkpoint(tmp_path / "exp" / "stages" / "student-a" / "train", marker)
    one_error(capsys, ["experiment", config], r"state\.pt: refused to load")
    assert not marker.exists()


# ======================================================================== class 7: a refusal leaves the disk as it was
def tree(folder: Path) -> list[str]:
    """Every name under ``folder``, recursively, hidden ones included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


ONE_DOC = '{"id": "d1", "contents": "gene cell"}\n'
ENCODE_REFUSALS = {  # case -> (corpus text, extra options, error pattern)
    "empty-corpus": ("", [], r"c\.jsonl: no documents to encode"),
    "damaged-corpus": (ONE_DOC + '{"id": "d2", \n', [], r"c\.jsonl:2: not valid JSON"),
    "bad-factory": (ONE_DOC, ["--factory", "Flatt"], r"--factory 'Flatt': FAISS cannot build this index"),
    "bad-device": (ONE_DOC, ["--device", "gpu0"], r"--device 'gpu0' is not a torch device"),
    "bad-shard": (ONE_DOC, ["--shard", "2/2"], r"shard 2/2 is invalid"),
}


@pytest.mark.parametrize("case", sorted(ENCODE_REFUSALS))
def test_refused_encode_leaves_the_output_parent_as_it_was(tmp_path, model, capsys, case):
    """No `.partial` work folder, temporary or index appears, and an earlier attempt's work folder (other
    settings) is neither discarded nor touched: it is replaced only by a first finished chunk."""
    text, extra, pattern = ENCODE_REFUSALS[case]
    parent = tmp_path / "out"
    w(parent / "notes.txt", "keep")
    w(parent / ".hidden", "keep")
    w(parent / ".idx.partial" / "state.json", "{}\n")
    corpus = w(tmp_path / "c.jsonl", text)
    before = tree(parent)
    one_error(capsys, ["encode", "--model", str(model), "--corpus", corpus, "--index", str(parent / "idx"), *extra],
              pattern)
    assert tree(parent) == before
    assert (parent / ".idx.partial" / "state.json").read_text() == "{}\n"


def test_encode_work_folder_appears_with_its_first_chunk(tmp_path, model, capsys):
    """The resumable folder replaces an earlier attempt's (other settings) only once it holds a finished chunk."""
    corpus = w(tmp_path / "c.jsonl", "".join(json.dumps({"id": f"d{i}", "contents": f"gene {i}"}) + "\n"
                                             for i in range(4)))
    w(tmp_path / ".idx.partial" / "state.json", "{}\n")
    assert main(["-q", "encode", "--model", str(model), "--corpus", corpus, "--index", str(tmp_path / "idx"),
                 "--chunk-size", "2", "--keep-chunks"]) == 0
    work = tmp_path / ".idx.partial"
    assert sorted(p.name for p in work.iterdir()) == ["chunk-000000.ids", "chunk-000000.npy", "chunk-000001.ids",
                                                       "chunk-000001.npy", "state.json"]
    assert json.loads((work / "state.json").read_text())["corpus"] == corpus
    no_leftovers(tmp_path)


def _refusals(t: Path, model: Path) -> dict[str, list[str]]:
    """A refused run of each writing command, its output under ``t/new/deeper`` (folders that do not exist)."""
    out = t / "new" / "deeper"
    corpus, train = write_toy_data(t / "data")
    cfg = {"student": {"path": str(t / "no-such-model")},
           "data": {"train": str(train), "corpus": str(corpus), "dev_fraction": 0.5,
                    "dev_qrels": str(t / "data" / "qrels.txt")},
           "run": {"output_dir": str(out / "train")}}  # the dev split is written, then the student is refused
    return {
        "encode": ["encode", "--model", str(model), "--corpus", w(t / "c.jsonl", ""),
                   "--index", str(out / "idx")],
        "index-bm25": ["index", "bm25", "--corpus", w(t / "empty.jsonl", ""), "--index", str(out / "bm25")],
        "mine": ["mine", "--run", w(t / "run.trec", RUN), "--qrels", w(t / "q.txt", "q1 0 d1 yes\n"),
                 "--topics", w(t / "t.tsv", TOPICS), "--output", str(out / "train.jsonl")],
        "fuse": ["fuse", w(t / "a.trec", RUN), w(t / "b.trec", RUN.replace("q1", "x1").replace("q2", "x2")),
                 "--output", str(out / "fused.trec")],
        "topics-split": ["topics", "split", "--topics", w(t / "t2.tsv", TOPICS), "--qrels", w(t / "q2.txt", QRELS),
                         "--output-dir", str(out / "split"), "--test-ids", str(t / "no-such-ids.txt")],
        "train": ["train", "--config", w(t / "train.yaml", yaml.safe_dump(cfg))],
    }


@pytest.mark.parametrize("command", ["encode", "fuse", "index-bm25", "mine", "topics-split", "train"])
def test_refused_commands_create_no_output_folder(tmp_path, model, capsys, command):
    args = _refusals(tmp_path, model)[command]
    before = tree(tmp_path)
    one_error(capsys, args, r".")
    assert tree(tmp_path) == before
