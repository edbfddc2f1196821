"""Studies over seeds: the plan (one stage per arm and seed), seed-averaged scores, planned comparisons."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lead_ir.errors import ConfigError, LeadIRError
from lead_ir.seeds import average_over_seeds, compare_over_seeds, seed_table

# ------------------------------------------------------------------ statistics on hand-made per-query scores
QUERIES = [f"q{i}" for i in range(12)]


def _per_seed() -> dict[str, dict[int | None, pd.DataFrame]]:
    rng = np.random.default_rng(0)

    def frame(shift: float) -> pd.DataFrame:
        values = np.clip(rng.uniform(0.2, 0.8, size=(len(QUERIES), 2)) + shift, 0, 1)
        return pd.DataFrame(values, index=pd.Index(QUERIES, name="query_id"), columns=["ndcg@10", "recall@100"])

    return {"bm25": {None: frame(0.0)}, "contrastive": {1: frame(0.0), 2: frame(0.02), 3: frame(0.01)},
            "kd": {1: frame(0.03), 2: frame(0.05), 3: frame(0.04)}, "lead": {1: frame(0.1), 2: frame(0.12),
                                                                             3: frame(0.08)}}


def _holm(p: list[float]) -> list[float]:
    """Holm's step-down adjustment written out: sort, multiply by m - i, running maximum, cap at 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (len(p) - i) * p[idx]))
        out[idx] = running
    return out


def _exact_permutation_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired permutation test over all 2^n sign flips (exact)."""
    diff = a - b
    flips = np.array(list(itertools.product((-1, 1), repeat=len(diff))))
    return float(np.mean(np.abs((flips * diff).mean(axis=1)) >= abs(diff.mean()) - 1e-12))


def test_seed_averaging_and_holm_over_planned_comparisons_match_an_independent_computation():
    per_seed = _per_seed()
    planned = [("lead", "contrastive"), ("lead", "kd")]
    comparison = compare_over_seeds(per_seed, ["ndcg@10", "recall@100"], ["bm25"], pairs=planned,
                                    n_permutations=20_000)
    for metric in ("ndcg@10", "recall@100"):
        seed_means = {run: np.array([f[metric].mean() for f in by_seed.values()]) for run, by_seed in per_seed.items()}
        averaged = {run: np.mean([f[metric].to_numpy() for f in by_seed.values()], axis=0)
                    for run, by_seed in per_seed.items()}
        for run in per_seed:
            assert comparison.table.at[run, f"{metric}:mean"] == pytest.approx(seed_means[run].mean())
            sd = comparison.table.at[run, f"{metric}:sd"]
            assert np.isnan(sd) if run == "bm25" else sd == pytest.approx(np.std(seed_means[run], ddof=1))
        rows = comparison.pvalues[comparison.pvalues.metric == metric]
        assert list(zip(rows.run_a, rows.run_b, strict=True)) == planned  # exactly the planned pairs, no baseline pair
        raw = [stats.ttest_rel(averaged[a], averaged[b]).pvalue for a, b in planned]
        assert rows.p.tolist() == pytest.approx(raw)
        assert rows.p_adjusted.tolist() == pytest.approx(_holm(raw))
        exact = [_exact_permutation_p(averaged[a], averaged[b]) for a, b in planned]
        assert rows.p_randomisation.tolist() == pytest.approx(exact, abs=0.01)  # 20,000 draws vs all 4,096 flips
        assert rows.p_randomisation_adjusted.tolist() == pytest.approx(_holm(rows.p_randomisation.tolist()))
    assert comparison.settings["comparisons"] == 2 and comparison.table["seeds"].tolist() == [1, 3, 3, 3]
    text = comparison.describe()
    assert "holm correction over 2 comparisons" in text
    assert "Planned comparisons: lead vs contrastive, lead vs kd" in text
    assert " ± " in comparison.to_markdown() and r"$\pm$" in comparison.to_latex()

    long = seed_table(per_seed, ["ndcg@10"])
    assert len(long) == 10 and long[long.run == "lead"].seed.tolist() == [1, 2, 3]
    assert long[long.run == "bm25"].seed.tolist() == [""]
    averaged = average_over_seeds(per_seed)["kd"]
    assert averaged.to_numpy() == pytest.approx(np.mean([f.to_numpy() for f in per_seed["kd"].values()], axis=0))


def test_seeds_scored_on_different_queries_or_bad_pairs_are_refused():
    per_seed = _per_seed()
    per_seed["lead"][2] = per_seed["lead"][2].iloc[1:]
    with pytest.raises(LeadIRError, match="run 'lead': seed 2 is scored on other queries"):
        average_over_seeds(per_seed)
    with pytest.raises(LeadIRError, match=r"planned comparison \['lead', 'led'\] must name two different runs"):
        compare_over_seeds(_per_seed(), ["ndcg@10"], ["bm25"], pairs=[("lead", "led")])


# ------------------------------------------------------------------ the plan of a tiny study
def _plan(tmp_path: Path, overrides: list[str]) -> dict[str, tuple[str, tuple[str, ...], object]]:
    """stage name -> (key hash, deps, key) of a tiny study's plan (the config of tests/test_experiment.py)."""
    from test_experiment import write_config

    from lead_ir.experiment.study import Study, load_experiment

    teacher = tmp_path / "teacher"
    teacher.mkdir(exist_ok=True)  # planning reads no model
    config = write_config(tmp_path, teacher)
    study = Study(load_experiment(config, overrides))
    return {s.stage.name: (s.key_hash, s.stage.deps, s.stage.key) for s in study.pipeline.plan()}


LEGACY = ["bm25-index", "split", "bm25-runs", "bm25-test", "mine", "teacher-warmup", "student-truncated",
          "student-contrastive", "student-lead", "encode-teacher-zero-shot", "dense-teacher-zero-shot",
          "encode-teacher-warmup", "dense-teacher-warmup", "encode-truncated", "dense-truncated",
          "encode-contrastive", "dense-contrastive", "encode-lead", "dense-lead", "hybrid", "costs", "leaderboard"]


def test_single_seed_plan_is_unchanged_and_two_seeds_add_one_stage_per_arm_and_seed(tmp_path):
    single = _plan(tmp_path, [])
    assert list(single) == LEGACY
    arm_key = single["student-lead"][2]
    assert arm_key["seed"] == 7 and "seeds" not in arm_key["arm"]  # the key of a study written before seeds
    assert "comparisons" not in single["leaderboard"][2]
    assert _plan(tmp_path, ["seeds=[7]"]) == single  # seeds: [seed] is the single-seed study

    two = _plan(tmp_path, ["seeds=[7, 8]", "evaluation.comparisons=[[lead, contrastive]]"])
    per_seed = ["teacher-warmup", "student-contrastive", "student-lead", "encode-teacher-warmup",
                "dense-teacher-warmup", "encode-contrastive", "dense-contrastive", "encode-lead", "dense-lead"]
    assert sorted(two) == sorted(LEGACY + [f"{name}@s8" for name in per_seed])  # the untrained arm has no seeds
    assert two["student-lead@s8"][2]["seed"] == 8 and two["student-lead@s8"][1][-1] == "teacher-warmup@s8"
    # the experiment's own seed keeps its stage names and keys: adding seeds reuses a finished study's stages
    for name in LEGACY[:-3]:
        assert two[name][0] == single[name][0], name
    assert {"dense-lead", "dense-lead@s8", "dense-contrastive@s8"} <= set(two["hybrid"][1])
    assert {"dense-lead@s8", "dense-teacher-warmup@s8"} <= set(two["leaderboard"][1])

    one = _plan(tmp_path, ["seeds=[7, 8, 9]", "teacher.seeds=1",
                           "arms=[{name: contrastive, teacher: zero-shot, seeds: 1}, {name: lead, seeds: [8, 9]}]",
                           "evaluation.baselines=[bm25]"])
    trained = [n for n in one if n.startswith(("student-", "teacher-warmup"))]
    assert trained == ["teacher-warmup", "student-contrastive", "student-lead@s8", "student-lead@s9"]
    assert one["student-lead@s9"][1][-1] == "teacher-warmup"  # a seed the warm-up lacks: its first seed


def test_misspelled_comparison_or_bad_seeds_fail_at_plan_time_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        _plan(tmp_path, ["evaluation.comparisons=[[lead, contrastiv]]"])
    message = str(caught.value)
    assert "\n" not in message and "'contrastiv'" in message and "did you mean 'contrastive'" in message
    assert "rows: bm25, teacher-zero-shot, teacher-warmup, truncated, contrastive, lead, hybrid" in message
    with pytest.raises(ConfigError, match=r"arm 'lead': seeds: 3 must be between 1 and the 2 experiment seed"):
        _plan(tmp_path, ["seeds=[7, 8]", "arms=[{name: lead, seeds: 3}]", "evaluation.baselines=[bm25]"])
    with pytest.raises(ConfigError, match=r"seeds must be distinct"):
        _plan(tmp_path, ["seeds=[7, 7]"])


# ------------------------------------------------------------------ a real two-seed tiny study
@pytest.mark.java
@pytest.mark.slow
def test_two_seed_tiny_study_reports_mean_sd_and_planned_comparisons(tmp_path):
    from fixtures_models import WORD_VOCAB, build_tiny_bert
    from test_experiment import write_config

    from lead_ir.experiment.study import load_experiment, run_experiment

    teacher = build_tiny_bert(tmp_path / "bert", WORD_VOCAB, hidden=32, layers=4)
    config = write_config(tmp_path, teacher, steps=2)
    cfg = load_experiment(config, [
        "seeds=[7, 8]", "teacher.warmup=false", "encode.batch_size=40", "hybrid.method=rrf",  # wsum: 30 s JIT
        "arms=[{name: contrastive, teacher: zero-shot, student_layers: [1, 2], train: {loss: {weights: "
        "{response: 0.0, layer: 0.0}}}}, {name: lead, teacher: zero-shot, student_layers: [1, 2], "
        "train: {loss: {num_layer_pairs: 2}}}]",
        "evaluation.comparisons=[[lead, contrastive], [lead, bm25]]"])
    run_experiment(cfg)
    results = tmp_path / "results"
    figures = pd.read_csv(results / "leaderboard-seeds.csv")
    lead = figures[(figures.run == "lead") & (figures.metric == "ndcg@10")]
    assert sorted(lead.seed) == [7, 8]
    table = pd.read_csv(results / "leaderboard.csv", index_col=0)
    assert table.at["lead", "ndcg@10:mean"] == pytest.approx(lead.value.mean(), abs=1e-5)  # CSVs keep 6 digits
    assert table.at["lead", "ndcg@10:sd"] == pytest.approx(lead.value.std(ddof=1), abs=1e-5)
    pvalues = pd.read_csv(results / "leaderboard-pvalues.csv")
    assert set(zip(pvalues.run_a, pvalues.run_b, strict=True)) == {("lead", "contrastive"), ("lead", "bm25")}
    assert pvalues.p_randomisation.between(0, 1).all()
    board = (results / "leaderboard.md").read_text()
    assert "Planned comparisons: lead vs contrastive, lead vs bm25" in board and "2 comparisons" in board
    hybrid = json.loads((results / "study.json").read_text())
    assert hybrid["seeds"] == {"contrastive": [7, 8], "lead": [7, 8]} and hybrid["hybrid"]["seeds"] == [7, 8]
    for name in ("lead@s7", "lead@s8", "hybrid@s7", "hybrid@s8", "bm25"):
        assert (results / f"{name}.trec").exists(), name
