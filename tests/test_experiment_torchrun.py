"""A whole tiny study under torchrun (2 gloo processes on the CPU) gives the single-process leaderboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_models import WORD_VOCAB, build_tiny_bert
from test_experiment import _board, write_config

from lead_ir.experiment.study import load_experiment, run_experiment

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.java, pytest.mark.slow]


def test_two_process_study_equals_single_process(tmp_path):
    # rankings, not rounding: two processes sum gradients and batch texts differently from one
    teacher = build_tiny_bert(tmp_path / "teacher", WORD_VOCAB, hidden=32, layers=4, init_range=0.2)
    run_experiment(load_experiment(write_config(tmp_path / "one", teacher)))
    config = write_config(tmp_path / "two", teacher)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "lead_ir.experiment", str(config)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _board(tmp_path / "two" / "results") == _board(tmp_path / "one" / "results")
    stages = tmp_path / "two" / "exp" / "stages"
    encode = json.loads((stages / "encode-lead" / "manifest.json").read_text())
    assert encode["outputs"]["processes"] == 2 and encode["outputs"]["count"] == 40
    assert not list((stages / "encode-lead").glob("shard-*"))  # shards merged and removed
    log = (stages / "student-lead" / "train" / "train_log.jsonl").read_text().splitlines()
    assert len([line for line in log if '"loss"' in line]) == 6  # one log, written once, by rank 0
    # a second launch finds every stage done and changes nothing
    again = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                            "-m", "lead_ir.experiment", str(config)], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((stages / "encode-lead" / "manifest.json").read_text()) == encode
