"""Plots for evaluation and LEAD training analysis (matplotlib).

Every ``plot_*`` function takes data (or a file) and returns a :class:`matplotlib.figure.Figure`,
so a notebook can show, restyle or combine it; with ``path`` it also writes the figure
atomically (PNG, PDF or SVG by the suffix; :func:`save_figure`), which is how ``lead-ir plot ...``
and the study use them. Figures are built without pyplot (no global figure state, no backend
switch): in a notebook (after ``%matplotlib inline``), ``fig`` as the last expression of a cell shows it.

Training log format (JSONL written by the trainer, one line per optimizer step)::

    {"step", "epoch", "lr", "loss", "loss/<term>"..., "layer_pairs": [[t, s], ...],
     "layer_weights": [...], "layer_kl": [...]}
    {"step", "eval/<metric>": value}          # evaluation lines
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from lead_ir.data.formats import parse_json_line
from lead_ir.errors import InputFormatError, LeadIRError
from lead_ir.evaluation import metric_label, normalize_metric
from lead_ir.fileio import atomic_path
from lead_ir.records import Qrels, RunDict

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)
DEFAULT_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
FORMATS = (".png", ".pdf", ".svg")


def series_style(i: int) -> dict:
    """Colour and marker of the ``i``-th line: 20 distinct colours (tab20, dark shades first) x 10 markers,
    so up to 20 runs never share a colour, and neighbours differ in marker too (greyscale print)."""
    import matplotlib

    tab20 = matplotlib.colormaps["tab20"].colors
    order = list(range(0, 20, 2)) + list(range(1, 20, 2))
    return {"color": tab20[order[i % 20]], "marker": MARKERS[i % len(MARKERS)]}


def _legend_outside(ax, **kwargs) -> None:
    """The legend right of the axes, never over the data (figures are saved with a tight bounding box)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False, **kwargs)


def _figure(*args, figsize: tuple[float, float] = (6, 4), **kwargs):
    """``(fig, axes)`` like ``pyplot.subplots``, as a bare Figure: pyplot's state and backend stay untouched."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` atomically as PNG, PDF or SVG (by the suffix of ``path``), trimmed to its contents."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise LeadIRError(f"{path}: figures are written as {', '.join(FORMATS)}; use one of these suffixes")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lower()[1:], dpi=dpi, bbox_inches="tight")
    logger.info("wrote %s", path)
    return path


def _done(fig: Figure, path: str | os.PathLike | None) -> Figure:
    """Save ``fig`` when a path is given; return it either way."""
    if path is not None:
        save_figure(fig, path)
    return fig


# --------------------------------------------------------------------------- runs
def plot_per_query_delta(scores_a: pd.Series, scores_b: pd.Series, path: str | os.PathLike | None = None,
                         name_a: str = "A", name_b: str = "B", metric: str = "ndcg@10",
                         ax: Axes | None = None) -> Figure:
    """Sorted bars of per-query ``a - b`` (same query index), with win/tie/loss counts in the title.

    ``ax`` draws into an existing axes (e.g. one panel of :func:`plot_per_query_deltas`).
    """
    if not scores_a.index.equals(scores_b.index):
        raise LeadIRError("per-query scores of the two runs cover different queries; evaluate both with the same qrels")
    diff = (scores_a - scores_b).sort_values(ascending=False)
    if ax is None:
        fig, ax = _figure(figsize=(9, 3.6))
    else:
        fig = ax.figure
    colors = ["tab:green" if v > 0 else "tab:red" if v < 0 else "tab:gray" for v in diff]
    ax.bar(range(len(diff)), diff.to_numpy(), width=1.0, color=colors)
    ax.axhline(0, color="black", lw=0.8)
    wins, ties, losses = int((diff > 0).sum()), int((diff == 0).sum()), int((diff < 0).sum())
    ax.set_title(f"{name_a} − {name_b}: {metric_label(metric)} per query "
                 f"({wins} better, {ties} tied, {losses} worse; mean {diff.mean():+.4f})")
    ax.set_xlabel(f"queries sorted by difference (n={len(diff)})")
    ax.set_ylabel(f"Δ {metric_label(metric)}")
    ax.set_xlim(-0.5, len(diff) - 0.5)
    return _done(fig, path)


def plot_per_query_deltas(scores: Mapping[str, pd.Series], run: str, others: Sequence[str],
                          path: str | os.PathLike | None = None, metric: str = "ndcg@10") -> Figure:
    """One :func:`plot_per_query_delta` panel per ``run - other``, stacked with a shared y axis.

    ``scores``: per-query values of each run (e.g. ``evaluate_runs(...).per_query[name][metric]``).
    """
    missing = [name for name in (run, *others) if name not in scores]
    if missing or not others:
        raise LeadIRError(f"per-query deltas need {run!r} and at least one other run with scores; "
                          f"missing {missing or 'the others'}; have {', '.join(scores)}")
    fig, axes = _figure(len(others), 1, figsize=(9, 2.6 * len(others)), sharey=True, squeeze=False)
    for ax, other in zip(axes[:, 0], others, strict=True):
        plot_per_query_delta(scores[run], scores[other], None, run, other, metric, ax=ax)
        ax.title.set_fontsize(9)
        if ax is not axes[-1, 0]:
            ax.set_xlabel("")
    fig.tight_layout()
    return _done(fig, path)


def per_query_files(qrels_spec: str, run_a: str, run_b: str, metric: str = "ndcg@10",
                    path: str | os.PathLike | None = None) -> Figure:
    """:func:`plot_per_query_delta` from a qrels spec and two run files."""
    from lead_ir.data.collections import read_qrels
    from lead_ir.evaluation import evaluate_runs, load_runs

    metric = normalize_metric(metric)
    runs = load_runs([run_a, run_b])
    names = list(runs)
    per_query = evaluate_runs(read_qrels(qrels_spec), runs, [metric]).per_query
    return plot_per_query_delta(per_query[names[0]][metric], per_query[names[1]][metric], path, names[0], names[1],
                                metric)


def plot_recall_curves(qrels: Qrels, runs: Mapping[str, RunDict], path: str | os.PathLike | None = None,
                       ks: Sequence[int] | None = None, rel_level: int = 1) -> Figure:
    """Recall@k against k (log scale) for each run; k stops at the deepest run."""
    from lead_ir.evaluation import evaluate_runs

    depth = max(len(h) for run in runs.values() for h in run.values())
    ks = sorted({k for k in (ks or DEFAULT_KS) if k <= depth}) or [depth]
    suffix = f"-l{rel_level}" if rel_level > 1 else ""
    metrics = [f"recall@{k}{suffix}" for k in ks]
    means = evaluate_runs(qrels, runs, metrics).means
    fig, ax = _figure(figsize=(6, 4))
    for i, name in enumerate(means.index):
        ax.plot(ks, means.loc[name].to_numpy(), label=name, ms=5, **series_style(i))
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("cut-off k")
    ax.set_ylabel("recall@k" + (f" (rel>={rel_level})" if suffix else ""))
    ax.grid(alpha=0.3)
    _legend_outside(ax, fontsize=8)
    ax.set_title(f"Recall@k ({len(qrels)} judged queries)")
    return _done(fig, path)


# --------------------------------------------------------------------------- training logs
def read_training_log(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train lines, eval lines) of a JSONL training log as DataFrames indexed by step."""
    path = Path(path)
    if not path.is_file():
        raise LeadIRError(f"{path}: training log not found")
    train, evals = [], []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            record = parse_json_line(path, line_no, line)
            if "step" not in record:
                raise InputFormatError(path, line_no, "no 'step' field", "each log line needs a step")
            (evals if any(k.startswith("eval/") for k in record) else train).append(record)
    if not train and not evals:
        raise LeadIRError(f"{path}: training log is empty")
    frames = [pd.DataFrame(rows).set_index("step") if rows else pd.DataFrame(index=pd.Index([], name="step"))
              for rows in (train, evals)]
    return frames[0], frames[1]


def layer_table(train: pd.DataFrame) -> pd.DataFrame:
    """Long form of the per-pair columns: step, pair index k, teacher/student layer, weight, kl."""
    rows = []
    for step, rec in train.iterrows():
        pairs = rec.get("layer_pairs")
        if not isinstance(pairs, list):
            continue
        weights, kls = rec.get("layer_weights") or [None] * len(pairs), rec.get("layer_kl") or [None] * len(pairs)
        for k, ((t, s), w, kl) in enumerate(zip(pairs, weights, kls, strict=True)):
            rows.append({"step": step, "k": k, "teacher_layer": t, "student_layer": s, "weight": w, "kl": kl})
    if not rows:
        raise LeadIRError("the training log has no layer_pairs/layer_weights/layer_kl fields (not a LEAD run?)")
    return pd.DataFrame(rows)


def plot_training(log: str | os.PathLike, path: str | os.PathLike | None = None, metric: str | None = None) -> Figure:
    """Loss terms (top) and an eval metric (bottom) against the optimizer step."""
    train, evals = read_training_log(log)
    metric_cols = [c for c in evals.columns if c.startswith("eval/")]
    key = f"eval/{metric}" if metric and not metric.startswith("eval/") else metric
    if key is None and metric_cols:
        key = metric_cols[0]
    if key is not None and key not in metric_cols:
        raise LeadIRError(f"{log}: no eval metric '{key}'; the log has {metric_cols or 'none'}")
    fig, (top, bottom) = _figure(2, 1, figsize=(7, 6), sharex=True)
    for i, col in enumerate(c for c in train.columns if c == "loss" or c.startswith("loss/")):
        style = series_style(i)
        top.plot(train.index, train[col], label=col, lw=1.8 if col == "loss" else 1.0, color=style["color"])
    top.set_ylabel("loss")
    _legend_outside(top, fontsize=8)
    top.grid(alpha=0.3)
    if key is not None:
        points = evals[key].dropna()
        bottom.plot(points.index, points.to_numpy(), marker="o", color="tab:purple")
        for step, value in points.items():  # few dev points (each is a full dev search): label them
            bottom.annotate(f"{value:.3f}", (step, value), textcoords="offset points", xytext=(0, 6), fontsize=7,
                            ha="center")
        bottom.set_ylabel(f"dev {key.removeprefix('eval/')} ({len(points)} evaluations)")
    bottom.set_xlabel("optimizer step")
    bottom.grid(alpha=0.3)
    top.set_title(f"Training log {Path(log).name}")
    return _done(fig, path)


def plot_metric_against(values: Mapping[str, Mapping[float, float]], path: str | os.PathLike | None = None,
                        xlabel: str = "", ylabel: str = "", title: str = "") -> Figure:
    """Lines of a metric against any x (e.g. number of distilled layers), one per series."""
    fig, ax = _figure(figsize=(6, 4))
    for i, (label, points) in enumerate(values.items()):
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], label=label, **series_style(i))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    _legend_outside(ax, fontsize=8)
    ax.set_title(title)
    return _done(fig, path)


def plot_layer_weights(log: str | os.PathLike, path: str | os.PathLike | None = None) -> Figure:
    """LEAD layer weights (top) and per-layer KL (bottom) over training, one line per student layer."""
    table = layer_table(read_training_log(log)[0])
    fig, (top, bottom) = _figure(2, 1, figsize=(7, 6), sharex=True)
    for i, (s_layer, group) in enumerate(table.groupby("student_layer")):
        full = group.set_index("step").reindex(sorted(table["step"].unique()))  # gaps where the layer is unpaired
        label = f"student layer {s_layer}"
        style = series_style(i)
        top.plot(full.index, full["weight"], label=label, ms=3, **style)
        bottom.plot(full.index, full["kl"], label=label, ms=3, **style)
    top.set_ylabel("layer weight w_k")
    bottom.set_ylabel("KL(teacher ‖ student)")
    bottom.set_xlabel("optimizer step")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    _legend_outside(top, fontsize=8)
    changes = table.groupby("step")["teacher_layer"].apply(tuple)
    redraws = [s for s, prev in zip(changes.index[1:], changes.index[:-1], strict=True)
               if changes[s] != changes[prev] or table[table.step == s].student_layer.tolist()
               != table[table.step == prev].student_layer.tolist()]
    span = max(changes.index[-1] - changes.index[0], 1)
    last_label, longest = None, 0
    for s in [changes.index[0], *redraws]:
        for ax in (top, bottom):
            if s != changes.index[0]:
                ax.axvline(s - 0.5, color="gray", lw=0.6, ls=":")
        if last_label is not None and (s - last_label) < 0.025 * span:
            continue  # too close to the previous label to be readable; the dotted line still marks it
        last_label = s
        pairs = table[table.step == s]
        text = ", ".join(f"T{t}→S{u}" for t, u in zip(pairs.teacher_layer, pairs.student_layer, strict=True))
        longest = max(longest, len(text))
        # above the axes, one vertical label per re-draw: never over the data
        top.annotate(text, (s, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3), textcoords="offset points",
                     fontsize=6, va="bottom", ha="center", rotation=90, color="dimgray")
    top.set_title("LEAD layer pairs (labels above: the pairs drawn from that step on; dotted: re-drawn), "
                  "weights and KL", fontsize=9, pad=8 + 3.6 * longest)
    return _done(fig, path)


def plot_layer_quality(data: str | os.PathLike | pd.DataFrame | Mapping[str, Mapping[int, float]],
                       path: str | os.PathLike | None = None, metric: str = "ndcg@10") -> Figure:
    """Retrieval quality of each layer of teacher and student (CSV/DataFrame: model, layer, metric...)."""
    if isinstance(data, Mapping):
        series = {str(m): dict(points) for m, points in data.items()}
    else:
        frame = pd.read_csv(data) if not isinstance(data, pd.DataFrame) else data
        missing = {"model", "layer", metric} - set(frame.columns)
        if missing:
            raise LeadIRError(f"layer-quality table lacks column(s) {sorted(missing)}; has {list(frame.columns)}")
        series = {str(m): dict(zip(g["layer"], g[metric], strict=True)) for m, g in frame.groupby("model", sort=False)}
    title = f"Per-layer retrieval quality ({metric_label(normalize_metric(metric))})"
    return plot_metric_against(series, path, "layer (transformer block, mean-pooled)", metric_label(metric), title)


def plot_layer_distributions(log: str | os.PathLike, path: str | os.PathLike | None = None) -> Figure:
    """Box plots of per-step KL and weight for each (teacher, student) layer pair seen in training."""
    table = layer_table(read_training_log(log)[0])
    table["pair"] = [f"T{t}→S{s}" for t, s in zip(table.teacher_layer, table.student_layer, strict=True)]
    order = sorted(table["pair"].unique(), key=lambda p: (int(p.split("→S")[1]), int(p[1:].split("→")[0])))
    fig, (left, right) = _figure(1, 2, figsize=(max(10.0, 1.1 * len(order)), 3.8))
    for ax, col, label in ((left, "kl", "KL(teacher ‖ student)"), (right, "weight", "layer weight w_k")):
        groups = [table.loc[table.pair == p, col].dropna().to_numpy() for p in order]
        ax.boxplot(groups, tick_labels=[f"{p}\n(n={len(g)})" for p, g in zip(order, groups, strict=True)])
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
        ax.tick_params(axis="x", labelsize=8)
        if len(order) > 4:  # long pair labels: slant them so neighbours never overlap
            ax.tick_params(axis="x", labelrotation=45)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
    fig.subplots_adjust(wspace=0.3)
    fig.suptitle("Per-pair distributions over training steps (T = teacher layer, S = student layer)")
    return _done(fig, path)


def plot_quality_latency(points: Mapping[str, tuple[float, float]], path: str | os.PathLike | None = None,
                         metric: str = "ndcg@10", caption: str = "") -> Figure:
    """Quality against query-encoding latency, one point per row: ``{row: (p50 ms, metric value)}``.

    Each row has its own colour and marker (:func:`series_style`) and is named in the legend
    outside the axes, so rows with nearly equal latency (students of one depth) stay apart.
    """
    if not points:
        raise LeadIRError("no rows with both a query latency and a metric value to plot")
    fig, ax = _figure(figsize=(6.5, 4))
    for i, (name, (latency, value)) in enumerate(points.items()):
        style = series_style(i)
        ax.scatter([latency], [value], s=45, color=style["color"], marker=style["marker"], label=name,
                   edgecolors="black", linewidths=0.4, zorder=3)
    ax.set_xlabel("query encoding latency, p50 (ms, batch 1, 1 thread)")
    ax.set_ylabel(metric_label(normalize_metric(metric)))
    ax.grid(alpha=0.3)
    _legend_outside(ax, fontsize=8)
    if caption:
        ax.set_title(caption, fontsize=8, wrap=True)
    return _done(fig, path)


def plot_dev_curves(logs: Mapping[str, str | os.PathLike], metric: str, path: str | os.PathLike | None = None,
                    kept: Mapping[str, int] | None = None) -> Figure:
    """The dev ``metric`` of each training log against the optimizer step, one line per log.

    ``kept``: ``{name: step}`` of the checkpoint each run kept, circled.
    """
    key = f"eval/{normalize_metric(metric)}"
    fig, ax = _figure(figsize=(7, 4))
    drawn = 0
    for i, (name, log) in enumerate(logs.items()):
        evals = read_training_log(log)[1]
        if key not in evals.columns:
            continue
        points = evals[key].dropna()
        style = series_style(i)
        ax.plot(points.index, points.to_numpy(), label=f"{name} ({len(points)} evals)", ms=5, **style)
        if kept and kept.get(name) in points.index:
            step = kept[name]
            ax.scatter([step], [points.loc[step]], s=160, facecolors="none", edgecolors=style["color"], lw=1.5,
                       zorder=3)
        drawn += 1
    if not drawn:
        raise LeadIRError(f"none of the training logs has dev '{key}' lines; give the metric the trainer evaluated")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(f"dev {metric_label(normalize_metric(metric))}")
    ax.grid(alpha=0.3)
    _legend_outside(ax, fontsize=8)
    ax.set_title("Dev curves (circled: the checkpoint each run kept)" if kept else "Dev curves")
    return _done(fig, path)
