"""The leaderboard stage: one table per test set (quality, significance against the baselines or over the planned
comparisons, the cost columns), and the results folder: runs, tables, training logs, ``costs.json`` and
``study.json`` (what :mod:`lead_ir.experiment.results` reads back)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from lead_ir.fileio import write_json

if TYPE_CHECKING:
    from lead_ir.experiment.study import Study


def write_leaderboard(study: Study, out: Path) -> dict:
    from lead_ir.runs import read_run, write_run

    ev, results = study.cfg.evaluation, Path(study.cfg.results_dir) if study.cfg.results_dir else None
    costs = (study.pipeline.manifest("costs") or {}).get("outputs") if study.rows() else None
    tables, folders = {}, [out] + ([results] if results is not None else [])
    for stem, _, qrels_spec, metrics in study.test_sets():
        paths = run_paths(study, stem)  # row -> seed (None: a row without seeds) -> run file
        runs = {name: {seed: read_run(path) for seed, path in by_seed.items()} for name, by_seed in paths.items()}
        prefix = "leaderboard" if stem == "test" else f"leaderboard-{stem.removeprefix('test-')}"
        comparison = _compare(study, stem, qrels_spec, metrics, runs, prefix, folders)
        if study.precision_note():
            comparison.settings["precision_note"] = study.precision_note()
        if costs:
            comparison.with_costs({row: costs["rows"][row] for row in study.rows()}, costs["caption"])
            if stem == "test":
                _plot_costs(comparison, out, results)
        comparison.write(out, prefix=prefix)
        tables[prefix] = json.loads(comparison.table.to_json())
        if results is not None:
            suffix = "" if stem == "test" else f".{stem.removeprefix('test-')}"
            for name, by_seed in runs.items():
                for seed, run in by_seed.items():
                    tag = f"{name}@s{seed}" if len(by_seed) > 1 else name
                    write_run(run, results / f"{tag}{suffix}.trec", tag=tag, k=ev.run_depth)
            comparison.write(results, prefix=prefix)
    if results is not None:
        _write_results(study, results, costs)
    return {"leaderboard": "leaderboard.md", "tables": tables}


def _compare(study: Study, stem: str, qrels_spec: str, metrics: list[str], runs: dict, prefix: str,
             folders: list[Path]):
    """One test set's :class:`Comparison`: mean ± sd over seeds and tests on seed-averaged per-query scores
    (:mod:`lead_ir.seeds`, with ``<prefix>-seeds.csv`` in ``folders``) when rows have seeds or comparisons are
    planned; else one run per row, the table as it always was."""
    from lead_ir.compare import compare_runs
    from lead_ir.data.collections import read_qrels
    from lead_ir.evaluation import resolve_metrics

    ev = study.cfg.evaluation
    planned = [(a, b) for a, b in ev.comparisons]
    baselines = [b for b in ev.baselines if b in runs]
    # A split's test qrels take their default metrics from the qrels they were cut from.
    family_of = study.cfg.data.qrels if stem == "test" and study.cfg.data.splits_topics else qrels_spec
    chosen = resolve_metrics(metrics or None, family_of)
    if not (study.seeded() or planned):
        return compare_runs(read_qrels(qrels_spec), {n: next(iter(r.values())) for n, r in runs.items()},
                            chosen, baselines, test=ev.test, correction=ev.correction, alpha=ev.alpha)
    from lead_ir.fileio import atomic_open
    from lead_ir.seeds import compare_over_seeds, evaluate_over_seeds, seed_table

    per_seed = evaluate_over_seeds(read_qrels(qrels_spec), runs, chosen)
    pairs = [p for p in planned if set(p) <= set(runs)]  # extra test sets have no hybrid row
    comparison = compare_over_seeds(per_seed, chosen, baselines, pairs=pairs or "baselines",
                                    test=ev.test, correction=ev.correction, alpha=ev.alpha)
    figures = seed_table(per_seed, comparison.metrics).to_csv(index=False, float_format="%.6g")
    for folder in folders:
        with atomic_open(folder / f"{prefix}-seeds.csv") as fh:
            fh.write(figures)
    return comparison


def run_paths(study: Study, stem: str) -> dict[str, dict[int | None, Path]]:
    """Each row's run files of a test set by seed; ``None`` is the seed of a row without seeds (BM25, an
    untrained model, the hybrid of a single-seed student)."""
    paths: dict[str, dict[int | None, Path]] = {"bm25": {None: study.input("bm25-test", f"{stem}.trec")}}
    for row in study.rows():
        paths[row] = {seed if study.trained(row) else None: study.input(
            f"dense-{row}{study.suffix(row, seed)}", f"{stem}.trec") for seed in study.row_seeds(row)}
    if stem == "test" and study.cfg.hybrid.enabled and study.cfg.arms:
        seeds = ((study.pipeline.manifest("hybrid") or {}).get("outputs") or {}).get("seeds")
        paths["hybrid"] = {s: study.input("hybrid", f"test@s{s}.trec") for s in seeds} if seeds else {
            None: study.input("hybrid", "test.trec")}
    return paths


def _plot_costs(comparison, out: Path, results: Path | None) -> None:
    """quality-latency.png: the first metric against p50 query latency, one point per dense row."""
    from lead_ir.plots import plot_quality_latency

    metric = comparison.metrics[0]
    points = {row: (figures["query_ms_p50"], float(comparison.table.at[row, f"{metric}:mean"]))
              for row, figures in comparison.costs.items() if figures.get("query_ms_p50") is not None}
    for folder in [out] + ([results] if results is not None else []):
        plot_quality_latency(points, folder / "quality-latency.png", metric, comparison.costs_caption)


def _write_results(study: Study, results: Path, costs: dict | None) -> None:
    """The training logs, ``costs.json`` and ``study.json`` of the results folder (runs and tables are written
    per test set)."""
    warmups = tuple(f"{t.name}-warmup" for t in study.cfg.teacher_list())
    for stage in [s.name for s in study.pipeline.stages if s.name.startswith(warmups + ("student-",))]:
        if ((study.pipeline.manifest(stage) or {}).get("outputs") or {}).get("log"):  # a trained stage
            (results / "logs").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(study.input(stage, "log"), results / "logs" / f"{stage}.jsonl")
    hybrid = study.pipeline.manifest("hybrid") if study.cfg.hybrid.enabled and study.cfg.arms else None
    if costs:  # the cost side of the dense rows, for notebook 01 and `lead-ir compare --costs`
        write_json(results / "costs.json", costs["rows"] | {"_caption": costs["caption"]})
    rows = study.rows()
    query_students = {row: study.query_teacher_row(row) for row in rows if study.query_teacher_row(row)}
    seeds = {row: study.row_seeds(row) for row in rows if study.trained(row)}
    write_json(results / "study.json", {
        "name": study.cfg.name, "rows": ["bm25"] + rows + (["hybrid"] if hybrid else []),
        "hybrid": hybrid["outputs"] if hybrid else None, "stage_wall_time_s": study.wall_time(),
        "stages": {s.name: (study.pipeline.manifest(s.name) or {}).get("wall_time_s")
                   for s in study.pipeline.stages}}
        | ({"seeds": seeds} if study.seeded() else {})
        | ({"query_students": query_students} if query_students else {}))
