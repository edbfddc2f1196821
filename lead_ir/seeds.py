"""Studies over several seeds: per-seed figures, mean ± sd, and significance on seed-averaged scores.

A run trained with seeds s_1..s_k has one per-query score table per seed. The leaderboard row of
such a run reports, per metric, the mean over seeds of the per-seed means with the sample standard
deviation (ddof=1) over seeds. Significance is computed on per-query scores averaged over the
seeds (x̄_q = mean_s x_{q,s}), so the test's unit is still the query (as in Sakai's and Fuhr's
recommendations for IR) and seed noise is averaged out rather than counted as queries. The family
of tests is the planned comparisons when given (``pairs`` of :func:`lead_ir.compare.compare_scores`),
corrected over those alone (Holm by default), and both the chosen test and the paired
randomisation test are reported in ``Comparison.pvalues`` (``p``/``p_adjusted`` and
``p_randomisation``/``p_randomisation_adjusted``).

Runs without seeds (BM25, a zero-shot model) are given as one table under the seed ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lead_ir.compare import Comparison, Correction, Pairs, Test, compare_scores, correct, randomisation_test
from lead_ir.errors import LeadIRError
from lead_ir.evaluation import evaluate_runs, normalize_metric
from lead_ir.records import Qrels, RunDict

PerSeed = Mapping[str, Mapping[int | None, pd.DataFrame]]  # run -> seed -> DataFrame[query x metric]


def evaluate_over_seeds(qrels: Qrels, runs: Mapping[str, Mapping[int | None, RunDict]],
                        metrics: Sequence[str]) -> dict[str, dict[int | None, pd.DataFrame]]:
    """Per-query scores of every (run, seed) on the same judged queries (:func:`lead_ir.evaluation.evaluate_runs`)."""
    flat = {f"{run}\x00{seed}": r for run, by_seed in runs.items() for seed, r in by_seed.items()}
    scored = evaluate_runs(qrels, flat, metrics).per_query
    out: dict[str, dict[int | None, pd.DataFrame]] = {}
    for run, by_seed in runs.items():
        out[run] = {seed: scored[f"{run}\x00{seed}"] for seed in by_seed}
    return out


def average_over_seeds(per_seed: PerSeed) -> dict[str, pd.DataFrame]:
    """Per-query scores averaged over each run's seeds: run -> DataFrame[query x metric]."""
    out = {}
    for run, by_seed in per_seed.items():
        frames = list(by_seed.values())
        if not frames:
            raise LeadIRError(f"run '{run}' has no seed's scores; give at least one")
        for seed, frame in by_seed.items():
            if not frame.index.equals(frames[0].index) or list(frame.columns) != list(frames[0].columns):
                raise LeadIRError(f"run '{run}': seed {seed} is scored on other queries or metrics than seed "
                                  f"{next(iter(by_seed))}; evaluate every seed with the same qrels and metrics")
        out[run] = sum(frames[1:], frames[0].astype(float)) / len(frames) if len(frames) > 1 else frames[0]
    return out


def seed_table(per_seed: PerSeed, metrics: Sequence[str]) -> pd.DataFrame:
    """Per-seed figures in long form: run, seed (empty for a run without seeds), metric, value (mean over queries)."""
    rows = [{"run": run, "seed": "" if seed is None else seed, "metric": m, "value": float(frame[m].mean())}
            for run, by_seed in per_seed.items() for seed, frame in by_seed.items() for m in metrics]
    return pd.DataFrame(rows, columns=["run", "seed", "metric", "value"])


def compare_over_seeds(per_seed: PerSeed, metrics: Sequence[str], baselines: Sequence[str],
                       pairs: Pairs = "baselines", test: Test = "ttest", correction: Correction = "holm",
                       alpha: float = 0.05, n_permutations: int = 10_000, seed: int = 42) -> Comparison:
    """A leaderboard over seeds (see module docstring).

    Args:
        per_seed: run -> seed -> per-query scores (``None`` as the seed of a run without seeds).
        pairs: ``"baselines"``/``"all"`` as :func:`lead_ir.compare.compare_scores`, or the planned
            comparisons as (run_a, run_b) pairs: exactly those are tested and corrected over.

    Returns:
        A :class:`Comparison` whose table also has ``<metric>:sd`` (over seeds; NaN for one seed) and
        ``seeds`` (their count), and whose p-values also hold the randomisation test's.
    """
    metrics = [normalize_metric(m) for m in metrics]
    averaged = average_over_seeds(per_seed)
    comparison = compare_scores(averaged, metrics, baselines, test, correction, alpha, pairs, n_permutations, seed)
    long = seed_table(per_seed, metrics)
    for m in metrics:
        spread = long[long.metric == m].groupby("run", sort=False)["value"]
        comparison.table[f"{m}:sd"] = [spread.get_group(run).std(ddof=1) for run in comparison.table.index]
    comparison.table["seeds"] = [len(per_seed[run]) for run in comparison.table.index]
    _add_randomisation(comparison, averaged, correction if test != "tukey" else "none",
                       n_permutations, seed)
    seeded = {run: sorted(s for s in by_seed if s is not None) for run, by_seed in per_seed.items()}
    counts = sorted({len(s) for s in seeded.values() if len(s) > 1})
    tested = comparison.pvalues.drop_duplicates(["run_a", "run_b"])
    planned = "" if isinstance(pairs, str) else "Planned comparisons: " + ", ".join(
        f"{a} vs {b}" for a, b in zip(tested.run_a, tested.run_b, strict=True)) + ". "
    note = planned
    if counts:
        note += (f"Rows trained with several seeds ({'/'.join(map(str, counts))}) show the mean and sample standard "
                 f"deviation over seeds; tests use per-query scores averaged over seeds, with the paired "
                 f"randomisation test ({n_permutations} permutations) beside the {test} test in the p-value table.")
    comparison.settings |= {"seeds": seeded, "planned": not isinstance(pairs, str), "seeds_note": note.strip()}
    return comparison


def _add_randomisation(comparison: Comparison, averaged: Mapping[str, pd.DataFrame], correction: str,
                       n_permutations: int, seed: int) -> None:
    """``p_randomisation`` and its adjusted value (same family and correction as the main test) per tested pair."""
    p = comparison.pvalues
    if p.empty:
        return
    raw = np.array([randomisation_test(averaged[a][m].to_numpy(float), averaged[b][m].to_numpy(float),
                                       n_permutations, seed) for m, a, b in zip(p.metric, p.run_a, p.run_b,
                                                                                strict=True)])
    adjusted = np.empty(len(raw))
    for m in p.metric.unique():
        family = (p.metric == m).to_numpy()
        adjusted[family] = correct(raw[family].tolist(), correction)
    p["p_randomisation"], p["p_randomisation_adjusted"] = raw, adjusted
