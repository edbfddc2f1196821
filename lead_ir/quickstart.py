"""The quickstart (the README's main job): a small LEAD study on SciFact.

BM25 through Pyserini, all-MiniLM-L6-v2 as a zero-shot teacher, a 3-layer student trained with
contrastive loss alone and with LEAD, and a BM25 + student hybrid — then the leaderboard, a
few plots, and where everything is.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lead_ir.data.registry import REPO_ROOT

logger = logging.getLogger(__name__)
DEFAULT_CONFIG = REPO_ROOT / "configs" / "quickstart.yaml"


def _plots(results: Path, log: Path, qrels: str) -> list[Path]:
    """Per-query LEAD vs contrastive differences and LEAD's layer weights over training."""
    from lead_ir import plots

    made = [plots.per_query_files(qrels, str(results / "lead.trec"), str(results / "contrastive.trec"),
                                  "ndcg@10", results / "plots" / "lead-vs-contrastive.png")]
    if log.exists():
        made.append(plots.plot_layer_weights(log, results / "plots" / "lead-layer-weights.png"))
    return made


def run_quickstart(config: str | Path | None = None, overrides: list[str] | None = None) -> str:
    """Run the quickstart study and return the text to print."""
    from lead_ir.experiment.study import load_experiment, run_experiment

    cfg = load_experiment(config or DEFAULT_CONFIG, overrides)
    result = run_experiment(cfg)
    results = Path(cfg.results_dir)
    made = _plots(results, results / "logs" / "student-lead.jsonl", cfg.data.test_qrels)
    lines = [f"SciFact test ({cfg.name}): BM25, teacher all-MiniLM-L6-v2 zero-shot, 3-layer students, hybrid", "",
             result["leaderboard"].read_text().strip(), "",
             f"runs and leaderboard: {results}/ (*.trec, leaderboard.md/.tex/.csv)",
             f"training logs:        {results}/logs/"]
    if made:
        lines.append(f"plots:                {', '.join(str(p) for p in made)}")
    lines += [f"notebooks:            {REPO_ROOT / 'notebooks'} "
              "(01_leaderboard, 02_per_query_analysis, 03_lead_layers)",
              f"stage outputs:        {cfg.output_dir} (re-running skips finished stages); "
              f"stage time {result['wall_time_s']:.0f}s"]
    return "\n".join(lines)
