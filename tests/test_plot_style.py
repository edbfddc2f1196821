"""Readable figures: 20 runs get 20 distinct colours, and legends sit outside the data area."""

from __future__ import annotations

import random

from lead_ir import plots


def test_twenty_series_have_distinct_colours_and_neighbours_distinct_markers():
    styles = [plots.series_style(i) for i in range(20)]
    assert len({s["color"] for s in styles}) == 20
    assert all(a["marker"] != b["marker"] for a, b in zip(styles, styles[1:]))


def _legend_right_of_axes(fig):
    fig.draw_without_rendering()
    ax = fig.axes[0]
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1  # right of the data, never over it
    return ax


def test_legend_is_outside_the_axes_for_twenty_runs(tmp_path):
    rng = random.Random(0)
    values = {f"run-{i:02d}": {x: rng.random() for x in range(1, 7)} for i in range(20)}
    fig = plots.plot_metric_against(values, tmp_path / "twenty.png", "layer", "nDCG@10")
    assert (tmp_path / "twenty.png").stat().st_size > 0
    ax = _legend_right_of_axes(fig)
    assert len({line.get_color() for line in ax.get_lines()}) == 20


def test_quality_latency_and_dev_curves_keep_twenty_rows_apart(tmp_path):
    """Rows of one depth have nearly equal latency: each gets its own colour and marker, named in an outside legend."""
    rng = random.Random(1)
    points = {f"student-{i:02d}": (4.0 + rng.random() * 0.2, 0.5 + rng.random() * 0.01) for i in range(20)}
    ax = _legend_right_of_axes(plots.plot_quality_latency(points))
    styles = {(tuple(c.get_facecolor()[0]), c.get_paths()[0].vertices.tobytes()) for c in ax.collections}
    assert len(ax.collections) == 20 and len(styles) == 20
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(points)
    logs = {}
    for i in range(20):
        log = tmp_path / f"arm{i}.jsonl"
        log.write_text("".join(f'{{"step": {s}, "eval/ndcg@10": {0.4 + s / 1000 + i / 100}}}\n' for s in (10, 20, 30)))
        logs[f"arm{i}"] = log
    ax = _legend_right_of_axes(plots.plot_dev_curves(logs, "ndcg@10", kept={"arm0": 30}))
    assert len({line.get_color() for line in ax.get_lines()}) == 20
    assert len(ax.collections) == 1  # the kept checkpoint of arm0, circled
