"""`lead-ir experiment` on a tiny config: stages, manifests, skip, --force, --dry-run, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fixtures_models import WORD_VOCAB, build_tiny_bert

from lead_ir.cli import main
from lead_ir.errors import ConfigError
from lead_ir.experiment.study import Study, load_experiment, run_experiment

pytestmark = [pytest.mark.java, pytest.mark.slow]  # whole studies

WORDS = ("vitamin diet cancer insulin diabetes sleep memory mice virus immune gene therapy heart obesity drug dose "
         "blood bone muscle lung tumor liver kidney protein brain cells growth infection risk study").split()


def _toy(directory: Path) -> dict[str, Path]:
    """40 distinct documents; 20 training and 6 test queries, each with one relevant document.

    Distinct, because two copies of a text score the same up to rounding, and which comes first
    then depends on batch composition (one process or two), not on the model.
    """
    directory.mkdir(parents=True, exist_ok=True)
    docs = {f"d{i}": " ".join(WORDS[(i * 7 + j * (3 + i // len(WORDS))) % len(WORDS)] for j in range(6))
            for i in range(40)}
    (directory / "corpus.jsonl").write_text("".join(json.dumps({"id": d, "contents": t}) + "\n"
                                                    for d, t in docs.items()))
    for split, qids in (("train", range(20)), ("test", range(20, 26))):
        (directory / f"{split}-topics.tsv").write_text(
            "".join(f"q{i}\t{' '.join(docs[f'd{i}'].split()[:3])}\n" for i in qids))
        (directory / f"{split}-qrels.txt").write_text("".join(f"q{i} 0 d{i} 1\n" for i in qids))
    return {name: directory / name for name in ("corpus.jsonl", "train-topics.tsv", "train-qrels.txt",
                                                 "test-topics.tsv", "test-qrels.txt")}


def write_config(tmp_path: Path, teacher: Path, steps: int = 6) -> Path:
    data = _toy(tmp_path / "data")
    config = {
        "name": "tiny", "output_dir": str(tmp_path / "exp"), "results_dir": str(tmp_path / "results"), "seed": 7,
        "data": {"corpus": str(data["corpus.jsonl"]), "train_topics": str(data["train-topics.tsv"]),
                 "train_qrels": str(data["train-qrels.txt"]), "test_topics": str(data["test-topics.tsv"]),
                 "test_qrels": str(data["test-qrels.txt"]), "dev_fraction": 0.25},
        "bm25": {"threads": 1, "train_depth": 20},
        "mining": {"depth": 20, "num_negatives": 10},
        "teacher": {"model": str(teacher), "warmup": True, "train": {"optim": {"max_steps": 3}}},
        "train": {"student": {"query_max_len": 16, "passage_max_len": 24},
                  "teacher": {"query_max_len": 16, "passage_max_len": 24},
                  "data": {"negatives": 2, "negatives_depth": 10},
                  "optim": {"max_steps": steps, "batch_queries": 4, "lr": 1e-3},
                  "run": {"save_every": 2, "threads": 1}},
        "arms": [{"name": "truncated", "student_layers": [1, 2], "teacher": "zero-shot", "train": None},
                 {"name": "contrastive", "student_layers": [1, 2], "train": {"loss": {"weights": {
                     "response": 0.0, "layer": 0.0}}}},
                 {"name": "lead", "student_layers": [1, 2], "train": {"loss": {"num_layer_pairs": 2}}}],
        "encode": {"batch_size": 8, "max_length": 24},
        "evaluation": {"metrics": ["ndcg@10", "recall@20"], "baselines": ["bm25", "contrastive"], "run_depth": 20},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("teacher") / "bert", WORD_VOCAB, hidden=32, layers=4)


def _board(results: Path) -> str:
    """The leaderboard without its cost columns and caption (latencies are measurements, not deterministic)."""
    from lead_ir.efficiency import COST_FIELDS

    labels = {label for label, _ in COST_FIELDS.values()}
    lines = (results / "leaderboard.md").read_text().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    keep = [i for i, name in enumerate(header) if name not in labels]
    out = []
    for line in lines:
        if line.startswith("|"):
            cells = line.strip("|").split("|")
            line = "|" + "|".join(cells[i] for i in keep) + "|"
        out.append(line.split(" Costs: ")[0])
    return "\n".join(out)


def test_tiny_experiment_runs_skips_and_forces(tmp_path, teacher, capsys):
    config = write_config(tmp_path, teacher)
    assert main(["-q", "experiment", str(config), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "student-lead" in plan and "run (todo)" in plan and "skip" not in plan

    cfg = load_experiment(config)
    first = run_experiment(cfg)
    board = _board(tmp_path / "results")
    for row in ("bm25", "teacher-zero-shot", "teacher-warmup", "truncated", "contrastive", "lead", "hybrid"):
        assert f"{row}" in board and (tmp_path / "results" / f"{row}.trec").exists()
    full = (tmp_path / "results" / "leaderboard.md").read_text()
    assert "query ms p50" in full and "params (M)" in full and "Costs: query ms = encoding one test query" in full
    costs = json.loads((tmp_path / "exp" / "stages" / "costs" / "costs.json").read_text())["rows"]
    assert costs["truncated"]["layers"] == 2 and costs["teacher-zero-shot"]["layers"] == 4
    assert all(c["query_ms_p50"] > 0 and c["docs_per_s"] > 0 and c["index_bytes"] > 0 for c in costs.values())
    assert (tmp_path / "results" / "quality-latency.png").exists()
    from lead_ir.efficiency import read_costs_file

    side, caption = read_costs_file(tmp_path / "results" / "costs.json")  # what `lead-ir compare --costs` reads
    assert side["lead"]["layers"] == 2 and caption.startswith("query ms = encoding one test query")
    assert (tmp_path / "results" / "logs" / "student-lead.jsonl").exists()
    assert (tmp_path / "exp" / "config.resolved.yaml").exists()
    manifest = json.loads((tmp_path / "exp" / "stages" / "mine" / "manifest.json").read_text())
    assert {"key_hash", "inputs", "versions", "wall_time_s"} <= set(manifest)

    times = {n: m["finished_at"] for n, m in first["manifests"].items()}
    again = run_experiment(cfg)  # everything done: nothing re-runs
    assert {n: m["finished_at"] for n, m in again["manifests"].items()} == times

    forced = run_experiment(cfg, force=["student-lead"])
    redone = {n for n, m in forced["manifests"].items() if m["finished_at"] != times[n]}
    assert redone == {"student-lead", "encode-lead", "dense-lead", "hybrid", "costs", "leaderboard"}
    assert _board(tmp_path / "results") == board  # deterministic

    changed = load_experiment(config, ["evaluation.alpha=0.01"])
    plan = Study(changed).pipeline.describe_plan()
    assert "leaderboard                  run (stale)" in plan and "mine                         skip" in plan


def test_bad_arm_override_fails_at_plan_time(tmp_path, teacher):
    config = write_config(tmp_path, teacher)
    with pytest.raises(ConfigError, match=r"arm 'lead'.*unknown config key 'loss.num_layer_pair'.*did you mean"):
        Study(load_experiment(config, ["arms=[{name: lead, train: {loss: {num_layer_pair: 2}}}]"]))


def test_killed_experiment_resumes_to_the_same_leaderboard(tmp_path, teacher):
    """SIGKILL during student training; re-running gives the uninterrupted leaderboard."""
    reference = tmp_path / "ref"
    cfg = load_experiment(write_config(reference, teacher, steps=12))
    run_experiment(cfg)

    killed = tmp_path / "killed"
    config = write_config(killed, teacher, steps=12)
    env = {**os.environ, "LEAD_IR_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lead_ir", "-q", "experiment", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoints = killed / "exp" / "stages" / "student-lead" / "train" / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not any(checkpoints.glob("step-*/")):
        time.sleep(0.05)
    assert proc.poll() is None, ("the experiment finished before it could be killed: "
                                 + proc.stderr.read().decode()[-500:])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "exp" / "stages" / "student-lead" / "manifest.json").exists()
    assert main(["-q", "experiment", str(config)]) == 0
    assert _board(killed / "results") == _board(reference / "results")


def test_dev_metric_picks_the_kept_checkpoint(tmp_path, teacher):
    """evaluation.dev_metric reaches the trainer: best/ is the step with the best dev MRR@10."""
    config = write_config(tmp_path, teacher, steps=8)
    cfg = load_experiment(config, ["evaluation.dev_metric=mrr@10", "teacher.warmup=false",
                                   "train.run.eval_every=2", "train.optim.lr=5e-3",
                                   "arms=[{name: contrastive, student_layers: [1, 2], teacher: zero-shot, "
                                   "train: {loss: {weights: {response: 0.0, layer: 0.0}}}}]",
                                   "evaluation.baselines=[bm25]"])
    manifests = run_experiment(cfg)["manifests"]
    summary = manifests["student-contrastive"]["outputs"]["summary"]
    log = tmp_path / "exp" / "stages" / "student-contrastive" / "train" / "train_log.jsonl"
    evals = [row for row in map(json.loads, log.read_text().splitlines()) if "eval/mrr@10" in row]
    assert [row["step"] for row in evals] == [2, 4, 6, 8]
    best = max(evals, key=lambda row: row["eval/mrr@10"])  # max keeps the first of equal scores, as the trainer
    assert summary["best_step"] == best["step"] and summary["best_dev_mrr@10"] == best["eval/mrr@10"]
