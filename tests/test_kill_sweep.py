"""Kill-safety sweep: SIGKILL every command that writes an output at seeded random moments; the final
output path must then hold either nothing or the complete output (byte-equal to an uninterrupted run's).

Each command runs once uninterrupted (the reference) and is then killed just after its atomic
temporary appears (``.NAME.tmp-*``, i.e. while it writes) and/or at a uniformly random moment of its
reference duration (both for the cheap commands, one of them for the expensive ones). Toy inputs and
a tiny random model keep it cheap; it is still a few minutes of subprocesses on 2 cores, hence ``slow``.
Commands whose start-up dominates (ranx compiles with numba on every start) are checked for a complete
output instead of against a reference run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fixtures_models import WORD_VOCAB, build_tiny_bert, write_toy_data

pytestmark = pytest.mark.slow

ENV = {**os.environ, "LEAD_IR_QUIET": "1", "PYTHONUNBUFFERED": "1"}
CLI = [sys.executable, "-m", "lead_ir", "-q"]
SEED = 12


def _snapshot(path: Path) -> dict[str, bytes] | None:
    """The bytes of ``path`` (a file) or of every file under it (a folder); None when absent."""
    if not path.exists():
        return None
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _temporaries(folder: Path) -> bool:
    return any(".tmp-" in p.name for p in folder.rglob("*")) if folder.exists() else False


def _run_and_kill(args: list[str], watch: Path, moment: str, delay: float) -> None:
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.time()
    while proc.poll() is None:
        if moment == "writing" and _temporaries(watch):
            time.sleep(delay)
            break
        if moment == "random" and time.time() - start >= delay:
            break
        time.sleep(0.005)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def sweep(name: str, make_args, outputs, compare=None, check=None, moments=("writing", "random")) -> None:
    """``make_args(tag)`` -> (argv, folder to watch for temporaries); ``outputs(tag)`` -> final paths.

    With ``check(path, snapshot)`` instead of a reference run (commands whose start-up dominates, e.g.
    ranx compiling with numba), a surviving output must pass ``check`` and only the 'writing' kill runs.
    """
    rng = random.Random(f"{SEED}-{name}")
    duration, reference = 0.0, None
    if check is None:
        args, _ = make_args("reference")
        start = time.time()
        done = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=900)
        duration = time.time() - start
        assert done.returncode == 0, done.stderr[-2000:]
        reference = [_snapshot(p) for p in outputs("reference")]
        assert all(s is not None for s in reference), f"{name}: the reference run wrote nothing"
    for i, moment in enumerate(moments if check is None else ("writing",)):
        tag = f"killed-{i}"
        args, watch = make_args(tag)
        delay = rng.uniform(0, 0.03) if moment == "writing" else rng.uniform(0.2, duration)
        _run_and_kill(args, watch, moment, delay)
        for j, path in enumerate(outputs(tag)):
            got = _snapshot(path)
            if got is None:
                continue
            if check is not None:
                check(path, got)
            elif compare is not None:
                compare(path, got, reference[j])
            else:
                assert got == reference[j], f"{name}: {path} is incomplete after SIGKILL ({moment}, {delay:.3f}s)"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    model = build_tiny_bert(root / "model", WORD_VOCAB, hidden=32, layers=2)
    corpus, train = write_toy_data(root / "data")
    rng = random.Random(SEED)
    words = WORD_VOCAB[5:60]
    big = root / "big.jsonl"
    big.write_text("".join(json.dumps({"id": f"p{i}", "contents": " ".join(rng.choices(words, k=rng.randint(3, 12)))})
                           + "\n" for i in range(800)))
    qids = [f"q{i}" for i in range(300)]
    (root / "topics.tsv").write_text("".join(f"{q}\t{' '.join(rng.choices(words, k=4))}\n" for q in qids))
    (root / "qrels.txt").write_text("".join(f"{q} 0 p{rng.randrange(800)} 1\n" for q in qids))
    for run_name in ("a", "b"):
        lines = []
        for q in qids:
            docs = rng.sample(range(800), 200)
            lines += [f"{q} Q0 p{d} {r + 1} {200 - r + rng.random():.6f} {run_name}" for r, d in enumerate(docs)]
        (root / f"{run_name}.trec").write_text("\n".join(lines) + "\n")
    return {"root": root, "model": model, "corpus": corpus, "train": train, "big": big}


def _complete_run(lines: int):
    def check(path: Path, got: dict) -> None:
        text = got[""].decode()
        assert text.endswith("\n") and len(text.splitlines()) == lines, f"{path}: incomplete run"
        assert all(len(line.split()) == 6 for line in text.splitlines())
    return check


def _complete_board(path: Path, got: dict) -> None:
    text = got[""].decode()
    assert text.endswith("\n"), f"{path}: incomplete"
    if path.name == "leaderboard.csv":
        assert len(text.splitlines()) == 3, text  # header + two runs
    if path.suffix == ".tex":
        assert "\\end{" in text, text


def test_mine_fuse_compare_are_kill_safe(toy):
    root = toy["root"]
    inputs = ["--run", str(root / "a.trec"), "--qrels", str(root / "qrels.txt"), "--topics", str(root / "topics.tsv")]
    sweep("mine", lambda tag: (CLI + ["mine", *inputs, "--output", str(root / "mine" / tag / "train.jsonl")],
                               root / "mine" / tag),
          lambda tag: [root / "mine" / tag / "train.jsonl"])
    sweep("fuse", lambda tag: (CLI + ["fuse", str(root / "a.trec"), str(root / "b.trec"), "--k", "100", "--output",
                                      str(root / "fuse" / tag / "f.trec")], root / "fuse" / tag),
          lambda tag: [root / "fuse" / tag / "f.trec"], check=_complete_run(300 * 100))
    board = ["leaderboard.md", "leaderboard.tex", "leaderboard.csv", "leaderboard-pvalues.csv"]
    sweep("compare", lambda tag: (CLI + ["compare", str(root / "b.trec"), "--baseline", str(root / "a.trec"),
                                         "--qrels", str(root / "qrels.txt"), "--permutations", "200",
                                         "--output-dir", str(root / "cmp" / tag)], root / "cmp" / tag),
          lambda tag: [root / "cmp" / tag / name for name in board], check=_complete_board)


def test_encode_and_encode_queries_are_kill_safe(toy):
    root = toy["root"]
    sweep("encode", lambda tag: (CLI + ["encode", "--model", str(toy["model"]), "--corpus", str(toy["big"]),
                                        "--index", str(root / "enc" / tag / "idx"), "--chunk-size", "200"],
                                 root / "enc" / tag),
          lambda tag: [root / "enc" / tag / "idx" / "index", root / "enc" / tag / "idx" / "docid"],
          moments=("writing",))
    sweep("encode-queries", lambda tag: (CLI + ["encode-queries", "--model", str(toy["model"]), "--topics",
                                                str(root / "topics.tsv"), "--output", str(root / "eq" / tag / "q")],
                                         root / "eq" / tag),
          lambda tag: [root / "eq" / tag / "q" / "embedding.pkl"], moments=("random",))


def _loadable_model(path: Path, got: dict, expected: dict) -> None:
    """A final model folder is complete: the same files as the reference, and weights that check out."""
    from lead_ir.models.loading import check_weights_file

    assert set(got) == set(expected), f"{path}: files {sorted(got)} != {sorted(expected)}"
    for name in got:
        if name.endswith(".safetensors"):
            check_weights_file(path / name)
        elif name.endswith(".json"):
            json.loads(got[name])


def test_train_is_kill_safe(toy):
    root = toy["root"]

    def args(tag: str):
        out = root / "train" / tag
        cfg = {"student": {"path": str(toy["model"]), "query_max_len": 16, "passage_max_len": 24},
               "data": {"train": str(toy["train"]), "corpus": str(toy["corpus"]), "negatives": 2},
               "optim": {"max_steps": 6, "batch_queries": 4, "lr": 1e-3},
               "loss": {"weights": {"response": 0.0, "layer": 0.0}},
               "run": {"output_dir": str(out), "save_every": 2, "threads": 1, "seed": 3}}
        config = root / "train" / f"{tag}.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(cfg))
        return CLI + ["train", "--config", str(config)], out

    sweep("train", args, lambda tag: [root / "train" / tag / "final", root / "train" / tag / "summary.json"],
          compare=lambda path, got, expected: _loadable_model(path, got, expected) if path.is_dir()
          else json.loads(got[""]))


def _complete_lucene_index(path: Path, got: dict, expected: dict) -> None:
    assert "lead_ir_bm25.json" in got and any(name.startswith("segments_") for name in got), sorted(got)
    assert json.loads(got["lead_ir_bm25.json"])["documents"] == json.loads(expected["lead_ir_bm25.json"])["documents"]


@pytest.mark.java
def test_bm25_index_and_search_are_kill_safe(toy):
    root = toy["root"]
    sweep("index bm25", lambda tag: (CLI + ["index", "bm25", "--corpus", str(toy["big"]), "--index",
                                            str(root / "bm25" / tag / "idx"), "--threads", "1"], root / "bm25" / tag),
          lambda tag: [root / "bm25" / tag / "idx"], compare=_complete_lucene_index, moments=("writing",))
    index = root / "bm25" / "reference" / "idx"
    sweep("search bm25", lambda tag: (CLI + ["search", "bm25", "--index", str(index), "--topics",
                                             str(root / "topics.tsv"), "--output", str(root / "sb" / tag / "r.trec"),
                                             "--k", "50", "--threads", "1"], root / "sb" / tag),
          lambda tag: [root / "sb" / tag / "r.trec"], moments=("random",))


def _complete_leaderboard(path: Path, got: dict, expected: dict) -> None:
    """A leaderboard is complete: the same rows as the uninterrupted study's (latency columns vary)."""
    def rows(text: bytes) -> list[str]:
        return [line.split("|")[1].strip() for line in text.decode().splitlines() if line.startswith("|")]

    assert rows(got[""]) == rows(expected[""]), f"{path}: incomplete leaderboard"


@pytest.mark.java
def test_experiment_is_kill_safe(toy):
    root = toy["root"]
    data = root / "data"

    def args(tag: str):
        cfg = {"name": "sweep", "output_dir": str(root / "exp" / tag / "out"),
               "results_dir": str(root / "exp" / tag / "results"),
               "data": {"corpus": str(toy["corpus"]), "train_topics": str(data / "topics.tsv"),
                        "train_qrels": str(data / "qrels.txt"), "test_topics": str(data / "topics.tsv"),
                        "test_qrels": str(data / "qrels.txt"), "dev_fraction": 0.25},
               "bm25": {"threads": 1, "train_depth": 10}, "mining": {"depth": 10, "num_negatives": 4},
               "teacher": {"model": str(toy["model"]), "warmup": False},
               "train": {"student": {"query_max_len": 12, "passage_max_len": 16}, "data": {"negatives": 1},
                         "optim": {"max_steps": 2, "batch_queries": 4}, "run": {"save_every": 1, "threads": 1}},
               "arms": [{"name": "a", "student_layers": [1], "teacher": "zero-shot",
                         "train": {"loss": {"weights": {"response": 0.0, "layer": 0.0}}}}],
               "hybrid": {"enabled": False}, "encode": {"batch_size": 8, "max_length": 16},
               "evaluation": {"metrics": ["ndcg@10"], "baselines": ["bm25"], "run_depth": 10}}
        config = root / "exp" / f"{tag}.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(cfg))
        return CLI + ["experiment", str(config)], root / "exp" / tag

    sweep("experiment", args, lambda tag: [root / "exp" / tag / "results" / "leaderboard.md"],
          compare=_complete_leaderboard, moments=("random",))
