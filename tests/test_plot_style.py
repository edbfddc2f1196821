"""Readable figures: 20 runs get 20 distinct colours, and legends sit outside the data area."""

from __future__ import annotations

import random

from lead_ir import plots


def test_twenty_series_have_distinct_colours_and_neighbours_distinct_markers():
    styles = [plots.series_style(i) for i in range(20)]
    assert len({s["color"] for s in styles}) == 20
    assert all(a["marker"] != b["marker"] for a, b in zip(styles, styles[1:]))


def test_legend_is_outside_the_axes_for_twenty_runs(tmp_path, monkeypatch):
    rng = random.Random(0)
    values = {f"run-{i:02d}": {x: rng.random() for x in range(1, 7)} for i in range(20)}
    seen = {}
    original = plots._save

    def capture(fig, path):
        fig.canvas.draw()
        ax = fig.axes[0]
        seen["axes"] = ax.get_window_extent()
        seen["legend"] = ax.get_legend().get_window_extent()
        seen["colours"] = {line.get_color() for line in ax.get_lines()}
        return original(fig, path)

    monkeypatch.setattr(plots, "_save", capture)
    path = plots.plot_metric_against(values, tmp_path / "twenty.png", "layer", "nDCG@10")
    assert path.stat().st_size > 0
    assert seen["legend"].x0 >= seen["axes"].x1  # right of the data, never over it
    assert len(seen["colours"]) == 20
