"""Leaderboards with paired differences, confidence intervals and corrected significance tests.

Per-query scores come from :mod:`lead_ir.evaluation` (trec_eval). For each metric the family of
comparisons is every (run, baseline) pair (each unordered pair once), or every pair of runs with
``pairs="all"``; p-values are corrected within a metric's family (Holm or Bonferroni).

- ``ttest``: two-sided paired t-test (``scipy.stats.ttest_rel``).
- ``fisher``: two-sided paired randomisation test: ``n_permutations`` random sign flips of the
  per-query differences drawn by ``numpy.random.default_rng(seed).integers(0, 2, (n_permutations, n))``;
  p = (1 + #{|mean(flipped)| >= |mean(observed)|}) / (1 + n_permutations).
- ``tukey``: Tukey HSD over all runs (``scipy.stats.tukey_hsd``). It treats the runs' per-query
  scores as independent groups (as ranx does) and is already family-wise, so no correction is added.

A row's marker lists the letters of the runs it beats: adjusted p < alpha and a higher mean.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from lead_ir.errors import LeadIRError, closest
from lead_ir.evaluation import evaluate_runs, latex_table, metric_label, normalize_metric
from lead_ir.records import Qrels, RunDict

logger = logging.getLogger(__name__)

Test = Literal["ttest", "fisher", "tukey"]
Correction = Literal["holm", "bonferroni", "none"]
Pairs = Literal["baselines", "all"] | Sequence[tuple[str, str]]  # or planned comparisons: explicit (a, b) pairs
TESTS = ("ttest", "fisher", "tukey")
CORRECTIONS = ("holm", "bonferroni", "none")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


# --------------------------------------------------------------------------- statistics
def paired_ttest(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value; 1.0 when every difference is equal (no evidence)."""
    from scipy import stats

    diff = np.asarray(a, float) - np.asarray(b, float)
    if len(diff) < 2 or np.allclose(diff, diff[0]):
        return 1.0
    return float(stats.ttest_rel(a, b).pvalue)


def randomisation_test(a: np.ndarray, b: np.ndarray, n_permutations: int = 10_000, seed: int = 42) -> float:
    """Two-sided paired (Fisher) randomisation test by random sign flips of per-query differences."""
    diff = np.asarray(a, float) - np.asarray(b, float)
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    signs = rng.integers(0, 2, size=(n_permutations, len(diff))) * 2 - 1
    flipped = np.abs((signs * diff).mean(axis=1))
    return float((1 + np.count_nonzero(flipped >= observed - 1e-12)) / (1 + n_permutations))


def paired_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean difference a - b with its paired t confidence interval (lo, hi)."""
    from scipy import stats

    diff = np.asarray(a, float) - np.asarray(b, float)
    mean = float(diff.mean())
    if len(diff) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff)))
    return mean, mean - half, mean + half


def correct(pvalues: Sequence[float], method: Correction = "holm") -> list[float]:
    """Holm step-down or Bonferroni adjusted p-values (capped at 1), in the input order."""
    p = np.asarray(pvalues, float)
    m = len(p)
    if method == "none" or m == 0:
        return p.tolist()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0).tolist()
    if method != "holm":
        raise LeadIRError(f"unknown correction '{method}'{closest(method, CORRECTIONS)}")
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adjusted[idx] = running
    return adjusted.tolist()


# --------------------------------------------------------------------------- comparison
@dataclass
class Comparison:
    """A leaderboard: ``table`` has one row per run and flat columns per metric; ``pvalues`` is long form."""

    table: pd.DataFrame
    pvalues: pd.DataFrame  # metric, run_a, run_b, p, p_adjusted, significant, winner
    metrics: list[str]
    baselines: list[str]
    letters: dict[str, str]
    test: str
    correction: str
    alpha: float
    n_queries: int
    settings: dict = field(default_factory=dict)
    costs: dict[str, dict] = field(default_factory=dict)  # run -> lead_ir.efficiency.COST_FIELDS figures
    costs_caption: str = ""  # how and where the costs were measured (the machine)

    def with_costs(self, costs: Mapping[str, Mapping[str, float]], caption: str = "") -> Comparison:
        """Attach cost figures (run -> {field: value}, see :mod:`lead_ir.efficiency`) shown as extra columns.

        Runs missing from ``costs`` (e.g. BM25) get empty cells; names not among the runs are an error.
        """
        from lead_ir.efficiency import COST_FIELDS

        unknown = sorted(set(costs) - set(self.table.index))
        if unknown:
            raise LeadIRError(f"costs name run(s) {unknown} that are not in the table"
                              f"{closest(unknown[0], list(self.table.index))}; rows: {', '.join(self.table.index)}")
        for run, figures in costs.items():
            bad = sorted(set(figures) - set(COST_FIELDS))
            if bad:
                raise LeadIRError(f"costs of {run!r}: unknown field(s) {bad}; known: {', '.join(COST_FIELDS)}")
        self.costs = {run: dict(figures) for run, figures in costs.items()}
        self.costs_caption = caption
        return self

    def cost_fields(self) -> list[str]:
        from lead_ir.efficiency import COST_FIELDS

        return [f for f in COST_FIELDS if any(self.costs.get(run, {}).get(f) is not None for run in self.costs)]

    def _repr_html_(self) -> str:  # notebooks display the Markdown-style leaderboard
        return self.display_frame()._repr_html_() + f"<p>{self.describe()}</p>"

    def describe(self) -> str:
        """One sentence on the test, correction and query count (print it under every table)."""
        extra = f", {self.settings['n_permutations']} permutations, seed {self.settings['seed']}" \
            if self.test == "fisher" else ""
        text = (f"{self.n_queries} judged queries; {self.test} test{extra}, {self.correction} correction over "
                f"{self.settings.get('comparisons', 0)} comparisons per metric, alpha={self.alpha}; superscripts name "
                f"the runs a row beats; delta and 95% paired-t CI are against {self.baselines[0]}.")
        for note in ("seeds_note", "precision_note"):
            if self.settings.get(note):
                text += " " + self.settings[note]
        if self.cost_fields():
            text += " Costs: " + (self.costs_caption or "as given per run") + "."
        return text

    def display_frame(self, digits: int = 4, latex: bool = False) -> pd.DataFrame:
        """Strings per run and metric: mean+markers, delta [CI] vs the first baseline, W/T/L."""
        base = self.baselines[0]
        rows = {}
        for run in self.table.index:
            cells = {"id": self.letters[run]}
            for m in self.metrics:
                label = metric_label(m)
                marks = self.table.at[run, f"{m}:beats"]
                mean = f"{self.table.at[run, f'{m}:mean']:.{digits}f}"
                if f"{m}:sd" in self.table and not pd.isna(self.table.at[run, f"{m}:sd"]):  # over seeds (seeds.py)
                    mean += (r" $\pm$ " if latex else " ± ") + f"{self.table.at[run, f'{m}:sd']:.{digits}f}"
                cells[label] = mean + ((f"$^{{{marks}}}$" if latex else f"<sup>{marks}</sup>") if marks else "")
                if run == base:
                    cells[f"{label} delta"], cells[f"{label} W/T/L"] = "baseline", ""
                    continue
                d, lo, hi = (self.table.at[run, f"{m}:{k}:{base}"] for k in ("delta", "ci_low", "ci_high"))
                cells[f"{label} delta"] = f"{d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"
                wins, ties, losses = (int(self.table.at[run, f"{m}:{k}:{base}"]) for k in ("wins", "ties", "losses"))
                cells[f"{label} W/T/L"] = f"{wins}/{ties}/{losses}"
            rows[run] = cells
        from lead_ir.efficiency import COST_FIELDS

        for name in self.cost_fields():
            label, fmt = COST_FIELDS[name]
            for run in rows:
                value = self.costs.get(run, {}).get(name)
                rows[run][label] = fmt(value) if value is not None else ""
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "run"
        return frame

    def to_markdown(self, digits: int = 4) -> str:
        frame = self.display_frame(digits).reset_index()
        lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.values]
        return "\n".join(lines) + f"\n\n{self.describe()}\n"

    def to_latex(self, digits: int = 4) -> str:
        frame = self.display_frame(digits, latex=True)
        return latex_table(frame, index_name="Run", caption=self.describe(), label="tab:leaderboard")

    def to_csv(self) -> str:
        table = self.table.copy()
        for name in self.cost_fields():
            table[f"cost:{name}"] = [self.costs.get(run, {}).get(name) for run in table.index]
        return table.to_csv(float_format="%.6g")

    def write(self, directory: str | os.PathLike, prefix: str = "leaderboard") -> list[Path]:
        """Write ``<prefix>.md``, ``.tex``, ``.csv`` and ``-pvalues.csv`` atomically; returns the paths."""
        from lead_ir.fileio import atomic_open

        directory = Path(directory)
        outputs = {".md": self.to_markdown(), ".tex": self.to_latex(), ".csv": self.to_csv(),
                   "-pvalues.csv": self.pvalues.to_csv(index=False, float_format="%.6g")}
        paths = []
        for suffix, text in outputs.items():
            path = directory / f"{prefix}{suffix}"
            with atomic_open(path) as fh:
                fh.write(text)
            paths.append(path)
        return paths


def compare_runs(qrels: Qrels, runs: Mapping[str, RunDict], metrics: Sequence[str], baselines: Sequence[str],
                 test: Test = "ttest", correction: Correction = "holm", alpha: float = 0.05,
                 pairs: Pairs = "baselines", n_permutations: int = 10_000,
                 seed: int = 42) -> Comparison:
    """Compare named runs against one or more baselines on judged queries (see module docstring)."""
    per_query = evaluate_runs(qrels, runs, metrics).per_query
    return compare_scores(per_query, [normalize_metric(m) for m in metrics], baselines, test, correction, alpha,
                          pairs, n_permutations, seed)


def compare_scores(per_query: Mapping[str, pd.DataFrame], metrics: Sequence[str], baselines: Sequence[str],
                   test: Test = "ttest", correction: Correction = "holm", alpha: float = 0.05,
                   pairs: Pairs = "baselines", n_permutations: int = 10_000,
                   seed: int = 42) -> Comparison:
    """:func:`compare_runs` on precomputed per-query scores (run -> DataFrame[query x metric])."""
    names = list(per_query)
    _check(names, baselines, test, correction, alpha, pairs, n_permutations)
    if len(names) > len(LETTERS):
        raise LeadIRError(f"{len(names)} runs, but markers exist for at most {len(LETTERS)}; compare fewer runs")
    if test == "tukey" and correction != "none":
        logger.info("Tukey HSD is family-wise already; correction '%s' is not applied on top", correction)
        correction = "none"
    index = per_query[names[0]].index
    for name in names[1:]:
        if not per_query[name].index.equals(index):
            raise LeadIRError(f"runs '{names[0]}' and '{name}' are scored on different queries; evaluate them "
                              f"with the same qrels")
    letters = {name: LETTERS[i] for i, name in enumerate(names)}
    if not isinstance(pairs, str):  # planned comparisons: exactly these pairs, the correction over them alone
        tested = [(str(a), str(b)) for a, b in pairs]
    elif pairs == "all" or test == "tukey":
        tested = list(itertools.combinations(names, 2))
    else:
        tested = list(dict.fromkeys(tuple(sorted((r, b), key=names.index)) for b in baselines for r in names if r != b))
    table = pd.DataFrame(index=pd.Index(names, dtype=object, name="run"))
    table["letter"] = [letters[n] for n in names]
    prows = []
    for m in metrics:
        scores = {n: per_query[n][m].to_numpy(float) for n in names}
        table[f"{m}:mean"] = [scores[n].mean() for n in names]
        for base in baselines:
            for n in names:
                diff = scores[n] - scores[base]
                d, lo, hi = paired_ci(scores[n], scores[base])
                table.loc[n, [f"{m}:delta:{base}", f"{m}:ci_low:{base}", f"{m}:ci_high:{base}"]] = [d, lo, hi]
                table.loc[n, [f"{m}:wins:{base}", f"{m}:ties:{base}", f"{m}:losses:{base}"]] = [
                    int((diff > 0).sum()), int((diff == 0).sum()), int((diff < 0).sum())]
        raw = _pvalues(scores, tested, test, n_permutations, seed)
        adjusted = correct(raw, correction)
        beats = {n: "" for n in names}
        for (a, b), p, p_adj in zip(tested, raw, adjusted, strict=True):
            winner = a if scores[a].mean() > scores[b].mean() else b if scores[b].mean() > scores[a].mean() else ""
            significant = bool(p_adj < alpha and winner)
            if significant:
                loser = b if winner == a else a
                beats[winner] += letters[loser]
            prows.append({"metric": m, "run_a": a, "run_b": b, "p": p, "p_adjusted": p_adj,
                          "significant": significant, "winner": winner if significant else ""})
        table[f"{m}:beats"] = ["".join(sorted(beats[n])) for n in names]
        counts = [f"{m}:{k}:{b}" for b in baselines for k in ("wins", "ties", "losses")]
        table[counts] = table[counts].astype(int)
    settings = {"comparisons": len(tested), "pairs": pairs, "n_permutations": n_permutations, "seed": seed}
    return Comparison(table, pd.DataFrame(prows), list(metrics), list(baselines), letters, test, correction, alpha,
                      len(index), settings)


def _pvalues(scores: Mapping[str, np.ndarray], tested: Sequence[tuple[str, str]], test: str, n_permutations: int,
             seed: int) -> list[float]:
    if test == "ttest":
        return [paired_ttest(scores[a], scores[b]) for a, b in tested]
    if test == "fisher":
        return [randomisation_test(scores[a], scores[b], n_permutations, seed) for a, b in tested]
    from scipy import stats

    names = list(scores)
    result = stats.tukey_hsd(*(scores[n] for n in names))
    return [float(result.pvalue[names.index(a), names.index(b)]) for a, b in tested]


def _check(names: Sequence[str], baselines: Sequence[str], test: str, correction: str, alpha: float, pairs: str,
           n_permutations: int) -> None:
    if len(names) < 2:
        raise LeadIRError(f"compare needs at least two runs, got {len(names)}")
    if not baselines:
        raise LeadIRError("name at least one baseline run")
    for base in baselines:
        if base not in names:
            raise LeadIRError(f"baseline '{base}' is not one of the runs{closest(base, names)}; "
                              f"runs: {', '.join(names)}")
    if test not in TESTS:
        raise LeadIRError(f"unknown test '{test}'{closest(test, TESTS)}; choose one of {', '.join(TESTS)}")
    if correction not in CORRECTIONS:
        raise LeadIRError(f"unknown correction '{correction}'{closest(correction, CORRECTIONS)}")
    if isinstance(pairs, str) and pairs not in ("baselines", "all"):
        raise LeadIRError(f"pairs must be 'baselines' or 'all', got '{pairs}'")
    for pair in [] if isinstance(pairs, str) else pairs:
        if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(names):
            raise LeadIRError(f"planned comparison {list(pair)} must name two different runs of: {', '.join(names)}")
    if not isinstance(pairs, str) and test == "tukey":
        raise LeadIRError("Tukey HSD compares every pair of runs; use ttest or fisher for planned comparisons")
    if not 0 < alpha < 1:
        raise LeadIRError(f"alpha must be between 0 and 1, got {alpha}")
    if n_permutations < 100:
        raise LeadIRError(f"use at least 100 permutations for the randomisation test, got {n_permutations}")


def comparison_paths(run_paths: Sequence[str | os.PathLike], baselines: Sequence[str]) -> list[str]:
    """The run files a comparison reads: each baseline given as an existing file (first, in order), then
    ``run_paths``, each file once. A baseline that is not a file names one of the runs."""
    files = [str(b) for b in baselines if Path(b).is_file()]
    return list(dict.fromkeys(files + [str(p) for p in run_paths]))


def compare_files(qrels_spec: str, run_paths: Sequence[str | os.PathLike], baselines: Sequence[str],
                  metrics: Sequence[str] | None = None, names: Sequence[str] | None = None,
                  family: str | None = None, **options) -> Comparison:
    """Read qrels and runs; baselines may be run names or run files (in ``run_paths`` or not; see
    :func:`comparison_paths`)."""
    from lead_ir.data.collections import read_qrels
    from lead_ir.evaluation import load_runs, resolve_metrics, unique_names

    paths = comparison_paths(run_paths, baselines)
    run_names = unique_names(paths, names)
    by_path = {str(Path(p)): n for p, n in zip(paths, run_names, strict=True)}
    base_names = [by_path.get(str(Path(b)), b) for b in baselines]
    chosen = resolve_metrics(metrics, qrels_spec, family)
    return compare_runs(read_qrels(qrels_spec), load_runs(paths, names), chosen, base_names, **options)
