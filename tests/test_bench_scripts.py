"""Benchmark scripts run as dry runs (tiny random models, synthetic data): the code paths, not the figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_train_vs_st_dry_run_reports_both_trainers(tmp_path):
    """bench/bench_train_vs_st.py --dry-run: lead-ir's steps and SentenceTransformerTrainer on the same tuples."""
    done = subprocess.run([sys.executable, str(REPO / "bench" / "bench_train_vs_st.py"), "--dry-run", "--threads", "1"],
                          capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=os.environ | {"TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.startswith("CPU: ")
    rates = dict(re.findall(r"^(lead-ir contrastive|lead-ir LEAD \(cached\)|ST MNRL) .* ([\d.]+) samples/s$", out,
                            re.MULTILINE))
    assert set(rates) == {"lead-ir contrastive", "lead-ir LEAD (cached)", "ST MNRL"}, out
    assert all(float(rate) > 0 for rate in rates.values())
    assert "ratio lead-ir contrastive / ST samples/s = " in out and "ratio lead-ir LEAD (cached) / ST" in out
    # same batches, same optimizer, no dropout in the tiny model: the two trainers' weights stay together
    apart, moved = map(float, re.search(r"max \|lead-ir contrastive - ST\| = (\S+), largest change from the initial "
                                        r"student (\S+) ", out).groups())
    assert moved > 0 and apart < 0.1 * moved, out
    assert re.search(r"dev nDCG@10 after 2 steps .* lead-ir contrastive [\d.]+, ST MNRL [\d.]+", out), out


@pytest.mark.slow
def test_query_step_bench_dry_run_compares_one_batch_with_length_groups(tmp_path):
    """bench/bench_query_step.py --tiny: both settings timed on the same batches, and their vectors agree."""
    done = subprocess.run([sys.executable, str(REPO / "bench" / "bench_query_step.py"), "--tiny", "--steps", "2",
                           "--threads", "1"], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=os.environ | {"TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.startswith("CPU: ") and re.search(r"^length_groups 1: median [\d.]+ ms per step$", out, re.MULTILINE)
    real, padded, grouped = map(int, re.search(r"tokens per batch (\d+) real, (\d+) padded in one batch, (\d+) in 4 "
                                               r"groups", out).groups())
    assert real <= grouped < padded
    assert float(re.search(r"max \|vector difference\| (\S+)$", out, re.MULTILINE).group(1)) < 1e-5
