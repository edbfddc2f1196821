"""Bad input gets one clear line and exit code 2 (no traceback), and nothing half-written.

Each case writes its inputs under ``tmp_path`` and returns the ``lead-ir`` arguments; the
command must exit 2, print exactly one ``lead-ir: error:`` line matching the expected text,
and leave no output file behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_models import WORD_VOCAB, build_tiny_bert

from lead_ir.cli import main

OUT = "out.trec"


def w(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def jsonl(*objs) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


TOPICS = "q1\tfirst query\nq2\tsecond query\n"
QRELS = "q1 0 d1 1\nq2 0 d2 1\n"
RUN = "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\nq2 Q0 d2 1 3.0 t\n"


def _mine(t: Path, run=RUN, qrels=QRELS, topics=TOPICS):
    return ["mine", "--run", w(t / "run.trec", run), "--qrels", w(t / "qrels.txt", qrels),
            "--topics", w(t / "topics.tsv", topics), "--output", str(t / OUT)]


def _index(t: Path, name: str, content: str):
    return ["index", "bm25", "--corpus", w(t / name, content), "--index", str(t / OUT)]


def _evaluate(t: Path, run=RUN, qrels=QRELS):
    return ["evaluate", "--qrels", w(t / "qrels.txt", qrels), w(t / "run.trec", run)]


def _train(t: Path, yaml_text: str, *overrides: str):
    return ["train", "--config", w(t / "train.yaml", yaml_text), *overrides]


CASES = {
    # corpora
    "corpus-bad-json": (lambda t: _index(t, "c.jsonl", jsonl({"id": "d1", "contents": "x"}) + '{"id": "d2", \n'),
                        r"c\.jsonl:2: not valid JSON"),
    "corpus-no-id": (lambda t: _index(t, "c.jsonl", jsonl({"contents": "x"})),
                     r"c\.jsonl:1: no document id"),
    "corpus-no-text": (lambda t: _index(t, "c.jsonl", jsonl({"id": "d1", "url": "x"})),
                       r"c\.jsonl:1: no document text"),
    "corpus-duplicate-id": (lambda t: _index(t, "c.jsonl", jsonl({"id": "d1", "contents": "x"},
                                                                 {"id": "d1", "contents": "y"})),
                            r"c\.jsonl:2: duplicate document id 'd1'.*deduplicate"),
    "corpus-tsv-fields": (lambda t: _index(t, "c.tsv", "1\ttext\n2\n"), r"c\.tsv:2: expected 'pid<TAB>text'"),
    "corpus-trec-no-docno": (lambda t: _index(t, "c.trec", "<DOC>\n<TEXT>x</TEXT>\n</DOC>\n"),
                             r"c\.trec:1: document without <DOCNO>"),
    "corpus-trec-unclosed": (lambda t: _index(t, "c.trec", "<DOC>\n<DOCNO>a</DOCNO>\n"),
                             r"c\.trec:1: <DOC> without a closing"),
    "corpus-missing-file": (lambda t: ["index", "bm25", "--corpus", str(t / "nope.jsonl"), "--index", str(t / OUT)],
                            r"nope\.jsonl: file not found"),
    "corpus-only-empty-docs": (lambda t: _index(t, "c.jsonl", jsonl({"id": "d1", "contents": " "})),
                               r"no documents to index"),
    "unknown-irds-id": (lambda t: ["index", "bm25", "--corpus", "irds:beir/scifakt/test", "--index", str(t / OUT)],
                        r"unknown ir_datasets id 'beir/scifakt/test'"),
    # topics and qrels
    "topics-one-column": (lambda t: _mine(t, topics="q1 first query\n"),
                          r"topics\.tsv:1: expected 'qid<TAB>query text'"),
    "topics-duplicate-qid": (lambda t: _mine(t, topics="q1\ta\nq1\tb\n"),
                             r"topics\.tsv:2: duplicate query id 'q1'"),
    "topics-unknown-name": (lambda t: ["search", "bm25", "--index", str(t), "--topics", "dl19-pasage",
                                       "--output", str(t / OUT)],
                            r"unknown topic set 'dl19-pasage' \(did you mean 'dl19-passage'\?\)"),
    "qrels-bad-relevance": (lambda t: _mine(t, qrels="q1 0 d1 yes\n"),
                            r"qrels\.txt:1: relevance 'yes' is not an integer"),
    "qrels-wrong-columns": (lambda t: _mine(t, qrels="q1 0 d1 1 extra x\n"),
                            r"qrels\.txt:1: expected 'qid 0 docid relevance'"),
    "qrels-conflicting": (lambda t: _mine(t, qrels="q1 0 d1 1\nq1 0 d1 2\n"),
                          r"qrels\.txt:2: query 'q1' judges document 'd1' twice"),
    # runs
    "run-wrong-columns": (lambda t: _mine(t, run="q1 Q0 d1 1 2.0\n"), r"run\.trec:1: expected 6 fields"),
    "run-non-numeric-score": (lambda t: _evaluate(t, run="q1 Q0 d1 1 high t\n"),
                              r"run\.trec:1: score 'high' is not a number"),
    "run-nan-score": (lambda t: _evaluate(t, run="q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 NaN t\n"),
                      r"run\.trec:2: score 'NaN' is not finite"),
    "run-duplicate-pair": (lambda t: _evaluate(t, run="q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n"),
                           r"run\.trec:2: query 'q1' retrieves document 'd1' twice"),
    "run-empty": (lambda t: _evaluate(t, run=""), r"run\.trec: run file is empty"),
    "run-queries-match-no-topic": (lambda t: _mine(t, topics="x1\tother\n"),
                                   r"none of the run's 2 query ids are in the topics"),
    "run-queries-match-no-qrels": (lambda t: _evaluate(t, qrels="z9 0 d1 1\n"), r"(?i)no .*quer.*(judg|qrels)"),
    # training files and configs
    "train-file-missing-fields": (lambda t: _train(t, "data: {{train: {}, corpus: {}}}\nstudent: {{path: {}}}\n".format(
        w(t / "train.jsonl", jsonl({"qid": "1", "query": "x"})), w(t / "c.jsonl", jsonl({"id": "d1", "contents": "x"})),
        t / "model"), "run.output_dir=" + str(t / OUT)), r"train\.jsonl:1: .*'positives'"),
    "config-unknown-key": (lambda t: _train(t, "optim: {lrr: 1e-5}\n"),
                           r"unknown config key 'optim.lrr' \(did you mean 'lr'\?\)"),
    "config-bad-choice": (lambda t: _train(t, "loss: {layer_selection: randm}\n"),
                          r"loss.layer_selection: 'randm' is not one of .*did you mean 'random'"),
    "config-bad-yaml": (lambda t: _train(t, "optim: {lr: [1e-5\n"), r"train\.yaml:\d+: not valid YAML"),
    "config-bad-override": (lambda t: _train(t, "{}\n", "optim.lr"),
                            r"override 'optim.lr' is not of the form key=value"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_one_line(case, tmp_path, capsys):
    make_args, pattern = CASES[case]
    args = make_args(tmp_path)
    assert main(["-q", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("lead-ir: error:")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    import re

    assert re.search(pattern, errors[0]), errors[0]
    assert not (tmp_path / OUT).exists(), "a failed command left its output behind"
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name], "a failed command left a temporary file"


# ---------------------------------------------------------------- models and dense indexes
@pytest.fixture(scope="module")
def dense_setup(tmp_path_factory):
    """Two tiny models (widths 32 and 48) and a FAISS index built with the first."""
    root = tmp_path_factory.mktemp("dense")
    model_a = build_tiny_bert(root / "a", WORD_VOCAB, hidden=32, layers=2)
    model_b = build_tiny_bert(root / "b", WORD_VOCAB, hidden=48, layers=2)
    corpus = w(root / "corpus.jsonl",
               jsonl(*({"id": f"d{i}", "contents": f"cell protein {i} gene"} for i in range(20))))
    assert main(["-q", "encode", "--model", str(model_a), "--corpus", corpus, "--index", str(root / "index")]) == 0
    return {"root": root, "a": model_a, "b": model_b, "corpus": corpus, "index": root / "index"}


def _copy_index(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _spec_variant(model: Path, dst: Path, **changes) -> Path:
    import shutil

    shutil.copytree(model, dst)
    spec_path = dst / "lead_ir_encoder.json"
    spec = json.loads(spec_path.read_text()) if spec_path.exists() else {"pooling": "cls", "normalize": False}
    spec.update(changes)
    spec_path.write_text(json.dumps(spec))
    return dst


DENSE_CASES = {
    "model-without-weights": (lambda s, t: ["encode", "--model", str(_strip(s["a"], t / "m", "*.safetensors")),
                                            "--corpus", s["corpus"], "--index", str(t / OUT)], r"no model weights"),
    "model-without-tokenizer": (lambda s, t: ["encode", "--model",
                                              str(_strip(s["a"], t / "m", "vocab.txt", "tokenizer*")),
                                              "--corpus", s["corpus"], "--index", str(t / OUT)], r"no tokenizer"),
    "index-dim-mismatch": (lambda s, t: ["search", "dense", "--index", str(s["index"]), "--model", str(s["b"]),
                                         "--topics", w(t / "topics.tsv", TOPICS), "--output", str(t / OUT)],
                           r"dim 32 but the query encoder gives 48"),
    "index-pooling-mismatch": (lambda s, t: ["search", "dense", "--index", str(s["index"]), "--model",
                                             str(_spec_variant(s["a"], t / "m", pooling="mean")), "--topics",
                                             w(t / "topics.tsv", TOPICS), "--output", str(t / OUT)], r"pooling"),
    "index-normalisation-mismatch": (lambda s, t: ["search", "dense", "--index", str(s["index"]), "--model",
                                                   str(_spec_variant(s["a"], t / "m", normalize=True)), "--topics",
                                                   w(t / "topics.tsv", TOPICS), "--output", str(t / OUT)], r"normali"),
    "docid-length-mismatch": (lambda s, t: ["search", "dense", "--index", str(_truncate_docids(s["index"], t / "idx")),
                                            "--model", str(s["a"]), "--topics", w(t / "topics.tsv", TOPICS),
                                            "--output", str(t / OUT)], r"docid"),
    "index-from-other-corpus": (lambda s, t: ["search", "dense", "--index", str(s["index"]), "--model", str(s["a"]),
                                              "--topics", w(t / "topics.tsv", TOPICS), "--output", str(t / OUT),
                                              "--corpus", w(t / "other.jsonl", jsonl({"id": "x", "contents": "y"}))],
                                r"built from a different corpus"),
    "bad-shard": (lambda s, t: ["encode", "--model", str(s["a"]), "--corpus", s["corpus"], "--index", str(t / OUT),
                                "--shard", "3/2"], r"shard 3/2 is invalid"),
}


def _strip(model: Path, dst: Path, *patterns: str) -> Path:
    import shutil

    shutil.copytree(model, dst)
    for pattern in patterns:
        for path in dst.glob(pattern):
            path.unlink()
    return dst


def _truncate_docids(index: Path, dst: Path) -> Path:
    _copy_index(index, dst)
    lines = (dst / "docid").read_text().splitlines()
    (dst / "docid").write_text("\n".join(lines[:-1]) + "\n")
    return dst


@pytest.mark.parametrize("case", sorted(DENSE_CASES))
def test_bad_model_or_index_exits_2(case, dense_setup, tmp_path, capsys):
    make_args, pattern = DENSE_CASES[case]
    assert main(["-q", *make_args(dense_setup, tmp_path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lead-ir: error:")]
    import re

    assert len(errors) == 1 and re.search(pattern, errors[0]), errors
    assert not (tmp_path / OUT).exists()


# ---------------------------------------------------------------- environment
def test_no_jdk_anywhere(tmp_path):
    """A fresh process with no Java >= 21 reachable: one line, exit 2."""
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "none"), "LEAD_IR_JVM_DIRS": str(tmp_path),
           "LEAD_IR_JAVA": "system"}
    corpus = w(tmp_path / "c.jsonl", jsonl({"id": "d1", "contents": "some text"}))
    out = subprocess.run([sys.executable, "-m", "lead_ir", "index", "bm25", "--corpus", corpus,
                          "--index", str(tmp_path / OUT)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("lead-ir: error: no Java >= 21 found for Pyserini")
    assert "Traceback" not in out.stderr and not (tmp_path / OUT).exists()


def test_disk_full_while_writing_a_run(tmp_path, capsys):
    """A run that does not fit on a (tiny tmpfs) disk: one line naming the file, nothing half-written."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        run = "".join(f"q{q} Q0 d{d} {d + 1} {100 - d}.0 t\n" for q in range(100) for d in range(50))
        qrels = "".join(f"q{q} 0 d{q} 1\n" for q in range(100))
        topics = "".join(f"q{q}\tquery {q}\n" for q in range(100))
        args = ["mine", "--run", w(tmp_path / "r.trec", run), "--qrels", w(tmp_path / "q.txt", qrels),
                "--topics", w(tmp_path / "t.tsv", topics), "--output", str(mount / "train.jsonl")]
        assert main(["-q", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("lead-ir: error: out of disk space while writing") and "train.jsonl" in err
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)
