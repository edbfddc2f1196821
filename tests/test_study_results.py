"""lead_ir.experiment.results: a results folder read back (the notebooks' entry point), on a hand-made toy folder."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lead_ir.errors import LeadIRError
from lead_ir.experiment.results import head_to_head, open_study


@pytest.fixture
def study(tmp_path):
    folder = tmp_path / "repo" / "runs" / "toy"
    (folder / "logs").mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text("")
    for name in ("bm25", "lead", "contrastive", "extra"):
        (folder / f"{name}.trec").write_text(f"q1 Q0 d1 1 1.0 {name}\n")
    (folder / "study.json").write_text(json.dumps({
        "name": "toy", "rows": ["bm25", "contrastive", "lead"],
        "hybrid": {"best_student": "lead", "dev_scores": {"contrastive": 0.4, "lead": 0.5},
                   "fusion": {"dev_queries": 7, "params": {"weights": [0.7, 0.3]}}}}))
    (folder / "config.resolved.yaml").write_text(
        "name: toy\nevaluation:\n  metrics: [ndcg@10]\n  dev_metric: mrr@10\n  baselines: [bm25, missing]\n"
        "hybrid:\n  method: wsum\n  norm: min-max\n")
    lines = [{"step": 1, "loss": 1.0}, {"step": 10, "eval/mrr@10": 0.5, "eval/ndcg@10": 0.9},
             {"step": 20, "eval/mrr@10": 0.6, "eval/ndcg@10": 0.1}, {"step": 30, "eval/mrr@10": 0.6}]
    (folder / "logs" / "student-lead.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return folder


def test_open_study_finds_the_folder_or_says_what_to_set(study, tmp_path, monkeypatch):
    (study.parents[1] / "notebooks").mkdir()
    monkeypatch.chdir(study.parents[1] / "notebooks")  # a notebook's folder: runs/... is found from the clone's root
    assert open_study("runs/toy").folder == study.resolve()
    monkeypatch.setenv("LEAD_IR_STUDY", str(study))
    assert open_study().folder == study.resolve()
    with pytest.raises(LeadIRError, match="no study here .*set LEAD_IR_STUDY"):
        open_study(tmp_path / "nothing")


def test_rows_dev_choices_and_hybrid(study):
    results = open_study(study)
    assert results.rows == ["bm25", "contrastive", "lead", "extra"]  # study order, then the rest by name
    assert results.baselines == ["bm25"] and results.dev_metric == "mrr@10"
    assert list(results.runs(["lead"])) == ["lead"]
    with pytest.raises(LeadIRError, match="no run"):
        results.runs(["nope"])
    choices = results.dev_choices()
    # the configured dev metric (not the first eval column), and the first best step: best/ moves only on a gain
    assert choices.loc["student-lead", ["kept step", "kept dev", "last step"]].tolist() == [20, 0.6, 30]
    hybrid = results.hybrid()
    assert hybrid["weights"] == {"bm25": 0.7, "lead": 0.3} and hybrid["best_student"] == "lead"
    assert list(hybrid["dev_scores"]) == ["lead", "contrastive"] and hybrid["dev_queries"] == 7


def test_costs(study):
    results = open_study(study)
    assert results.costs() is None and results.costs_table() is None
    (study / "costs.json").write_text(json.dumps({
        "lead": {"params": 17_400_000, "layers": 3, "index_bytes": 7_900_000, "query_ms_p50": 4.2},
        "gone": {"layers": 6}, "_caption": "on X"}))
    costs, caption = results.costs()
    assert set(costs) == {"lead"} and caption == "on X"  # rows the study no longer has are left out
    table = results.costs_table()
    assert table.loc["lead", "params (M)"] == pytest.approx(17.4) and table.loc["lead", "index MB"] == 7.9
    assert list(table.columns) == ["params (M)", "layers", "index MB", "query ms p50"]


def test_head_to_head_counts_and_corrects():
    idx = pd.Index(["q1", "q2", "q3", "q4"])
    scores = {"lead": pd.Series([1.0, 0.5, 0.2, 0.0], idx), "kd": pd.Series([0.0, 0.5, 0.4, 0.0], idx),
              "last": pd.Series([0.5, 0.25, 0.1, 0.0], idx)}
    table = head_to_head(scores, "lead", ["kd", "last"])
    assert table.loc["kd", ["wins", "ties", "losses"]].tolist() == [1, 2, 1]
    assert table.loc["kd", "delta"] == pytest.approx(0.2)
    assert table.loc["last", ["wins", "ties", "losses"]].tolist() == [3, 1, 0]
    assert (table["p adjusted"] >= table["p"]).all()
    assert head_to_head(scores, "lead", ["kd"], correction="none").loc["kd", "p adjusted"] == table.loc["kd", "p"]
    with pytest.raises(LeadIRError, match="no per-query scores"):
        head_to_head(scores, "lead", ["nope"])
