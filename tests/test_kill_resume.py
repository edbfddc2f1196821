"""SIGKILL `lead-ir train` and `lead-ir encode` at random points, resume, and compare with an
uninterrupted run: encode byte for byte, training to 1e-6."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from fixtures_models import WORD_VOCAB, build_tiny_bert, write_toy_data

pytestmark = pytest.mark.slow  # subprocesses killed mid-run and resumed

ENV = {**os.environ, "LEAD_IR_QUIET": "1", "PYTHONUNBUFFERED": "1"}
CLI = [sys.executable, "-m", "lead_ir", "-q"]


def kill_when(args: list[str], ready, timeout: float = 240) -> None:
    """Start ``args``, SIGKILL it as soon as ``ready()`` is true; fail if it finishes first."""
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.fail(f"finished before the kill point (exit {proc.returncode}): {proc.stderr.read().decode()[-800:]}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def run_ok(args: list[str]) -> None:
    out = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    teacher = build_tiny_bert(root / "teacher", WORD_VOCAB, hidden=64, layers=4)
    corpus, train = write_toy_data(root / "data")
    return {"root": root, "teacher": teacher, "corpus": corpus, "train": train}


def train_config(tiny, out: Path) -> Path:
    cfg = {"student": {"path": str(tiny["teacher"]), "keep_layers": [1, 2], "query_max_len": 16, "passage_max_len": 24},
           "teacher": {"path": str(tiny["teacher"]), "query_max_len": 16, "passage_max_len": 24,
                       "cache_dir": str(out.parent / "cache")},
           "data": {"train": str(tiny["train"]), "corpus": str(tiny["corpus"]), "negatives": 3, "negatives_depth": 10},
           "optim": {"max_steps": 40, "batch_queries": 8, "lr": 1e-3},
           "loss": {"num_layer_pairs": 2, "redraw_every": 3},
           "run": {"output_dir": str(out), "save_every": 2, "threads": 1, "seed": 11}}
    path = out.parent / f"{out.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


def _tensors(model_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(next(model_dir.glob("*.safetensors"))))


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("seed", [1, 2])
def test_train_killed_and_resumed_equals_uninterrupted(tiny, seed):
    root = tiny["root"] / f"train-{seed}"
    reference = root / "reference"
    run_ok(CLI + ["train", "--config", str(train_config(tiny, reference))])

    killed = root / "killed"
    config = train_config(tiny, killed)
    stop_after = random.Random(seed).randint(3, 30)  # optimizer steps to wait for: a random point in training
    log = killed / "train_log.jsonl"
    kill_when(CLI + ["train", "--config", str(config)],
              lambda: log.exists() and len(log.read_text().splitlines()) >= stop_after)
    assert not (killed / "final").exists()
    run_ok(CLI + ["train", "--config", str(config), "--resume"])

    ref, got = _tensors(reference / "final"), _tensors(killed / "final")
    assert ref.keys() == got.keys()
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], atol=1e-6, err_msg=name)
    ref_log, got_log = _log(reference / "train_log.jsonl"), _log(killed / "train_log.jsonl")
    assert [line["step"] for line in got_log] == [line["step"] for line in ref_log]
    for a, b in zip(ref_log, got_log):
        assert a.get("layer_pairs") == b.get("layer_pairs")
        np.testing.assert_allclose(b["loss"], a["loss"], atol=1e-6)


@pytest.mark.parametrize("seed", [1, 2])
def test_encode_killed_and_resumed_is_byte_identical(tiny, seed):
    root = tiny["root"] / f"encode-{seed}"
    root.mkdir()
    corpus = root / "corpus.jsonl"
    words = WORD_VOCAB[5:60]
    rng = random.Random(0)
    corpus.write_text("".join(json.dumps({"id": f"p{i}",
                                          "contents": " ".join(rng.choices(words, k=rng.randint(3, 20)))})
                              + "\n" for i in range(6000)))
    common = ["encode", "--model", str(tiny["teacher"]), "--corpus", str(corpus), "--batch-size", "32",
              "--chunk-size", "250"]
    run_ok(CLI + common + ["--index", str(root / "reference")])

    target = root / "killed"
    partial = root / ".killed.partial"
    chunks = random.Random(seed).randint(2, 12)
    kill_when(CLI + common + ["--index", str(target)], lambda: len(list(partial.glob("chunk-*.ids"))) >= chunks)
    assert not target.exists() and partial.exists()
    run_ok(CLI + common + ["--index", str(target)])
    for name in ("index", "docid"):
        assert (target / name).read_bytes() == (root / "reference" / name).read_bytes(), name
