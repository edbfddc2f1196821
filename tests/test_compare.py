"""lead_ir.compare: p-values, corrections and markers against independent computations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lead_ir.compare import compare_scores, correct
from lead_ir.errors import LeadIRError


def holm_reference(pvalues: list[float]) -> list[float]:
    """Holm (1979) written out independently: sorted step-down, monotone, capped at 1."""
    m = len(pvalues)
    ranked = sorted(range(m), key=lambda i: pvalues[i])
    out, previous = [0.0] * m, 0.0
    for position, i in enumerate(ranked):
        value = min(1.0, max(previous, (m - position) * pvalues[i]))
        out[i] = previous = value
    return out


def fisher_reference(a, b, n: int, seed: int) -> float:
    """Sign-flip randomisation test computed permutation by permutation (same seeded draws)."""
    diff = [x - y for x, y in zip(a, b, strict=True)]
    observed = abs(sum(diff) / len(diff))
    draws = np.random.default_rng(seed).integers(0, 2, size=(n, len(diff)))
    hits = 0
    for row in draws:
        flipped = abs(sum(d if s else -d for d, s in zip(diff, row, strict=True)) / len(diff))
        hits += flipped >= observed - 1e-12
    return (hits + 1) / (n + 1)


@pytest.fixture
def per_query():
    """Four runs over 60 queries: 'good' clearly beats 'base', 'same' is base plus noise."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.8, 60)
    index = pd.Index([f"q{i}" for i in range(60)], dtype=object)
    runs = {"base": base, "good": np.clip(base + rng.normal(0.08, 0.05, 60), 0, 1),
            "same": np.clip(base + rng.normal(0, 0.05, 60), 0, 1),
            "mid": np.clip(base + rng.normal(0.04, 0.1, 60), 0, 1)}
    return {n: pd.DataFrame({"ndcg@10": v, "recall@100": np.sqrt(v)}, index=index) for n, v in runs.items()}


def test_ttest_pvalues_and_holm_equal_independent_computation(per_query):
    comp = compare_scores(per_query, ["ndcg@10", "recall@100"], ["base"], test="ttest", correction="holm")
    for metric in ("ndcg@10", "recall@100"):
        rows = comp.pvalues[comp.pvalues.metric == metric]
        expected = [stats.ttest_rel(per_query[a][metric], per_query[b][metric]).pvalue
                    for a, b in zip(rows.run_a, rows.run_b, strict=True)]
        assert len(rows) == 3
        assert rows.p.to_numpy() == pytest.approx(expected, rel=1e-12)
        assert rows.p_adjusted.to_numpy() == pytest.approx(holm_reference(expected), rel=1e-12)
    assert "a" in comp.table.at["good", "ndcg@10:beats"]  # good beats base (letter a)
    assert comp.table.at["same", "ndcg@10:beats"] == "" and comp.table.at["base", "ndcg@10:beats"] == ""


def test_fisher_pvalues_equal_seeded_reference(per_query):
    comp = compare_scores(per_query, ["ndcg@10"], ["base"], test="fisher", correction="holm",
                          n_permutations=2000, seed=7)
    raw = [fisher_reference(per_query[a]["ndcg@10"], per_query[b]["ndcg@10"], 2000, 7)
           for a, b in zip(comp.pvalues.run_a, comp.pvalues.run_b, strict=True)]
    assert comp.pvalues.p.tolist() == pytest.approx(raw, abs=1e-12)
    assert comp.pvalues.p_adjusted.tolist() == pytest.approx(holm_reference(raw), abs=1e-12)
    # the randomisation p agrees with the t-test on a clear and on a null difference (sanity, not equality)
    t = {(a, b): stats.ttest_rel(per_query[a]["ndcg@10"], per_query[b]["ndcg@10"]).pvalue
         for a, b in zip(comp.pvalues.run_a, comp.pvalues.run_b, strict=True)}
    for (a, b), p in zip(t, raw, strict=True):
        assert (p < 0.01) == (t[(a, b)] < 0.01)


def test_bonferroni_and_none():
    p = [0.01, 0.04, 0.03, 0.5]
    assert correct(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 1.0])
    assert correct(p, "none") == p
    assert correct(p, "holm") == pytest.approx(holm_reference(p))


def test_ci_wins_ties_losses(per_query):
    per_query["tie"] = per_query["base"].copy()
    per_query["tie"].iloc[:5] += 0.1
    comp = compare_scores(per_query, ["ndcg@10"], ["base"])
    diff = per_query["good"]["ndcg@10"] - per_query["base"]["ndcg@10"]
    half = stats.t.ppf(0.975, 59) * diff.std(ddof=1) / math.sqrt(60)
    row = comp.table.loc["good"]
    assert row["ndcg@10:delta:base"] == pytest.approx(diff.mean())
    assert (row["ndcg@10:ci_low:base"], row["ndcg@10:ci_high:base"]) == pytest.approx((diff.mean() - half,
                                                                                     diff.mean() + half))
    assert [comp.table.at["tie", f"ndcg@10:{k}:base"] for k in ("wins", "ties", "losses")] == [5, 55, 0]


def test_several_baselines_and_tukey(per_query):
    comp = compare_scores(per_query, ["ndcg@10"], ["base", "same"], test="ttest", correction="bonferroni")
    pairs = set(zip(comp.pvalues.run_a, comp.pvalues.run_b, strict=True))
    assert pairs == {("base", "good"), ("base", "same"), ("base", "mid"), ("good", "same"), ("same", "mid")}
    assert comp.settings["comparisons"] == 5
    assert set(comp.table.at["good", "ndcg@10:beats"]) == {"a", "c"}  # beats both baselines
    tukey = compare_scores(per_query, ["ndcg@10"], ["base"], test="tukey", correction="holm")
    assert tukey.correction == "none" and len(tukey.pvalues) == 6
    ref = stats.tukey_hsd(*(per_query[n]["ndcg@10"] for n in per_query))
    names = list(per_query)
    for _, r in tukey.pvalues.iterrows():
        assert r.p == pytest.approx(ref.pvalue[names.index(r.run_a), names.index(r.run_b)])


def test_outputs_written_atomically(per_query, tmp_path):
    comp = compare_scores(per_query, ["ndcg@10"], ["base"])
    paths = comp.write(tmp_path)
    assert sorted(p.name for p in paths) == ["leaderboard-pvalues.csv", "leaderboard.csv", "leaderboard.md",
                                            "leaderboard.tex"]
    md = (tmp_path / "leaderboard.md").read_text()
    assert "| good |" in md and "<sup>a</sup>" in md and "holm correction over 3 comparisons" in md
    tex = (tmp_path / "leaderboard.tex").read_text()
    assert r"\toprule" in tex and "$^{a}$" in tex
    # a floating table a paper can \input: the description is its caption, its % and _ escaped
    assert tex.startswith(r"\begin{table}") and tex.rstrip().endswith(r"\end{table}")
    caption = next(line for line in tex.splitlines() if line.startswith(r"\caption{"))
    assert "holm correction over 3 comparisons" in caption and "95\\%" in caption
    assert "%" not in caption.replace("\\%", "")
    assert not list(tmp_path.glob(".*tmp*"))
    assert "nDCG@10" in comp._repr_html_()


def test_errors(per_query):
    with pytest.raises(LeadIRError, match="baseline 'basse' is not one of the runs.*did you mean 'base'"):
        compare_scores(per_query, ["ndcg@10"], ["basse"])
    with pytest.raises(LeadIRError, match="unknown test"):
        compare_scores(per_query, ["ndcg@10"], ["base"], test="wilcoxon")
    short = dict(per_query, good=per_query["good"].iloc[:10])
    with pytest.raises(LeadIRError, match="different queries"):
        compare_scores(short, ["ndcg@10"], ["base"])


def test_cli_compare_with_real_ranx(tmp_path, capsys):
    from lead_ir.cli import main

    rng = np.random.default_rng(1)
    qrels = {f"q{i}": {f"d{i}": 1, f"e{i}": 2} for i in range(30)}
    (tmp_path / "qrels.txt").write_text("".join(f"{q} 0 {d} {r}\n" for q, h in qrels.items() for d, r in h.items()))
    for name in ("bm25", "dense"):
        lines = []
        for i in range(30):
            docs = [f"d{i}", f"e{i}", "x", "y", "z"]
            for rank, d in enumerate(rng.permutation(docs), 1):
                lines.append(f"q{i} Q0 {d} {rank} {10 - rank} {name}\n")
        (tmp_path / f"{name}.trec").write_text("".join(lines))
    code = main(["-q", "compare", "--qrels", str(tmp_path / "qrels.txt"), "--baseline", str(tmp_path / "bm25.trec"),
                 str(tmp_path / "dense.trec"), "--test", "fisher", "--permutations", "500", "--metrics",
                 "ndcg@10,mrr@10", "--output-dir", str(tmp_path / "out")])
    assert code == 0
    assert "500 permutations, seed 42" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "out" / "leaderboard.csv", index_col=0)
    assert list(table.index) == ["bm25", "dense"] and table.at["bm25", "ndcg@10:delta:bm25"] == 0
    assert Path(tmp_path / "out" / "leaderboard.tex").exists()
