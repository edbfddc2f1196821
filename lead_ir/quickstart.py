"""The quickstart (the README's main job): LEAD query students on SciFact.

BM25 through Pyserini, all-MiniLM-L6-v2 (zero-shot) as the teacher and its FAISS index, two query
encoders of its first 3 blocks that search that same index (trained with contrastive loss alone and
with LEAD), and a BM25 + student hybrid — then the leaderboard, what each student keeps of its
teacher and what it saves, a few plots, and where everything is.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lead_ir.data.registry import REPO_ROOT
from lead_ir.resources import resource

logger = logging.getLogger(__name__)
DEFAULT_CONFIG = resource("quickstart.yaml")  # shipped in the package; configs/quickstart.yaml is a copy


def _plots(results: Path, log: Path, qrels: str) -> list[Path]:
    """Per-query LEAD vs contrastive differences and LEAD's layer weights over training."""
    from lead_ir import plots

    made = [results / "plots" / "lead-vs-contrastive.png"]
    plots.per_query_files(qrels, str(results / "lead.trec"), str(results / "contrastive.trec"), "ndcg@10", made[0])
    if log.exists():
        made.append(results / "plots" / "lead-layer-weights.png")
        plots.plot_layer_weights(log, made[-1])
    return made


def delta_table(results: Path, metric: str, baselines: list[str], prefix: str = "leaderboard") -> str:
    """Markdown: each run's ``metric`` and its delta [95% CI] against *every* baseline, ``*`` where the
    Holm-corrected test (as in the leaderboard) finds the difference significant."""
    import pandas as pd

    from lead_ir.evaluation import metric_label

    table = pd.read_csv(results / f"{prefix}.csv", index_col=0)
    pvalues = pd.read_csv(results / f"{prefix}-pvalues.csv")
    pvalues = pvalues[pvalues["metric"] == metric]
    significant = {frozenset((a, b)) for a, b, sig in zip(pvalues.run_a, pvalues.run_b, pvalues.significant,
                                                          strict=True) if str(sig) == "True"}
    baselines = [b for b in baselines if f"{metric}:delta:{b}" in table.columns]
    label = metric_label(metric)
    lines = ["| run | " + label + " | " + " | ".join(f"Δ vs {b} [95% CI]" for b in baselines) + " |",
             "|---|---|" + "---|" * len(baselines)]
    for run in table.index:
        cells = [str(run), f"{table.at[run, f'{metric}:mean']:.4f}"]
        for base in baselines:
            if run == base:
                cells.append("—")
                continue
            d, lo, hi = (table.at[run, f"{metric}:{k}:{base}"] for k in ("delta", "ci_low", "ci_high"))
            mark = "*" if frozenset((run, base)) in significant else ""
            cells.append(f"{d:+.4f}{mark} [{lo:+.4f}, {hi:+.4f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n* significant after Holm correction (alpha as in {prefix}.md)."


def student_summary(results: Path, students: dict[str, str], metric: str, prefix: str = "leaderboard") -> list[str]:
    """One line per query student (``{row: teacher row}``): its ``metric`` as a share of its teacher's, and
    its query latency and parameters against the teacher's (from the leaderboard's mean over seeds and the
    costs stage's measurements)."""
    import pandas as pd

    from lead_ir.evaluation import metric_label

    table = pd.read_csv(results / f"{prefix}.csv", index_col=0)
    label, lines = metric_label(metric), []
    for row, teacher in students.items():
        ours, theirs = (table.loc[r] for r in (row, teacher))
        score, base = ours[f"{metric}:mean"], theirs[f"{metric}:mean"]
        ms, base_ms = ours["cost:query_ms_p50"], theirs["cost:query_ms_p50"]
        lines.append(f"{row}: {label} {score:.4f} = {score / base:.1%} of its teacher's ({teacher}: {base:.4f}); "
                     f"query latency {ms:.2f} vs {base_ms:.2f} ms ({ms / base_ms:.2f}x, p50, batch 1, one thread); "
                     f"{ours['cost:params'] / 1e6:.1f}M vs {theirs['cost:params'] / 1e6:.1f}M parameters "
                     f"({ours['cost:layers']:.0f} vs {theirs['cost:layers']:.0f} layers); it searches its teacher's "
                     f"index ({theirs['cost:index_bytes'] / 1e6:.1f} MB), so no passage was re-encoded")
    return lines


def run_quickstart(config: str | Path | None = None, overrides: list[str] | None = None) -> str:
    """Run the quickstart study and return the text to print."""
    from lead_ir.evaluation import normalize_metric
    from lead_ir.experiment.study import Study, load_experiment, run_experiment

    cfg = load_experiment(config or DEFAULT_CONFIG, overrides)
    result = run_experiment(cfg)
    results = Path(cfg.results_dir)
    made = _plots(results, results / "logs" / "student-lead.jsonl", cfg.data.test_qrels)
    metric = normalize_metric(cfg.evaluation.metrics[0]) if cfg.evaluation.metrics else "ndcg@10"
    study = Study(cfg)
    students = {arm.name: study.query_teacher_row(arm.name) for arm in cfg.arms if study.query_teacher_row(arm.name)}
    lines = [f"SciFact test ({cfg.name}): BM25, teacher all-MiniLM-L6-v2 zero-shot, 3-layer query students of its "
             f"index, hybrid", "",
             result["leaderboard"].read_text().strip(), "",
             f"Does LEAD beat contrastive training? {metric} deltas against each baseline:", "",
             delta_table(results, metric, list(cfg.evaluation.baselines)), "",
             "What each query student keeps of its teacher, and what it saves:",
             *student_summary(results, students, metric), "",
             f"runs and leaderboard: {results}/ (*.trec, leaderboard.md/.tex/.csv)",
             f"training logs:        {results}/logs/"]
    if made:
        lines.append(f"plots:                {', '.join(str(p) for p in made)}")
    for arm in cfg.arms:
        lines.append(f"student {arm.name + ':':<12} {study.out(f'student-{arm.name}', 'model')} "
                     f"(FAISS index {study.out(study.index_stage(arm.name, study.row_seeds(arm.name)[0]), 'index')})")
    lines += [f"BM25 index:           {study.out('bm25-index', 'index')}",
              f"notebooks:            {REPO_ROOT / 'notebooks'} "
              "(01_leaderboard, 02_per_query_analysis, 03_lead_layers; LEAD_IR_STUDY=" f"{results})",
              f"stage outputs:        {cfg.output_dir} (re-running skips finished stages); "
              f"stage time {result['wall_time_s']:.0f}s"]
    return "\n".join(lines)
