"""lead_ir.plots: each plot returns a Figure and, given a path, writes a readable image; bad inputs give one-line
errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lead_ir import plots
from lead_ir.errors import InputFormatError, LeadIRError


def _image(fig, path):
    """The saved PNG as an array; fails unless ``fig`` is a Figure and ``path`` a real, non-blank image."""
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    return _png(path)


def _png(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 300
    assert img[..., :3].std() > 0.05  # something was drawn
    return img


@pytest.fixture
def log_file(tmp_path):
    """A small log in the trainer's format (unit-test input for the plotting code, not a result)."""
    path = tmp_path / "train_log.jsonl"
    lines = [{"step": 0, "eval/ndcg@10": 0.50}]
    for step in range(1, 21):
        pairs = [[2, 1], [5, 3]] if step <= 10 else [[1, 1], [4, 2]]
        lines.append({"step": step, "epoch": 0, "lr": 1e-5, "loss": 3 - step / 10, "loss/student": 1.0,
                      "loss/response": 1 - step / 40, "loss/layer": 1 - step / 30, "layer_pairs": pairs,
                      "layer_weights": [0.4, 0.6], "layer_kl": [0.5 - step / 100, 0.3 - step / 200]})
        if step % 10 == 0:
            lines.append({"step": step, "eval/ndcg@10": 0.5 + step / 200})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_training_and_layer_plots(log_file, tmp_path):
    train, evals = plots.read_training_log(log_file)
    assert len(train) == 20 and evals["eval/ndcg@10"].tolist() == [0.5, 0.55, 0.6]
    table = plots.layer_table(train)
    assert len(table) == 40 and set(table.student_layer) == {1, 2, 3}
    _image(plots.plot_training(log_file, tmp_path / "training.png"), tmp_path / "training.png")
    _image(plots.plot_layer_weights(log_file, tmp_path / "layers.png"), tmp_path / "layers.png")
    with pytest.raises(LeadIRError, match="no eval metric 'eval/mrr@10'"):
        plots.plot_training(log_file, tmp_path / "x.png", metric="mrr@10")


def test_bad_logs(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1}\n{oops\n')
    with pytest.raises(InputFormatError, match="bad.jsonl:2: not valid JSON"):
        plots.read_training_log(bad)
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"step": 1, "loss": 1.0}\n')
    with pytest.raises(LeadIRError, match="no layer_pairs"):
        plots.plot_layer_weights(plain, tmp_path / "x.png")


def test_per_query_and_quality_plots(tmp_path):
    index = pd.Index([f"q{i}" for i in range(40)], dtype=object)
    rng = np.random.default_rng(0)
    a, b = pd.Series(rng.uniform(size=40), index=index), pd.Series(rng.uniform(size=40), index=index)
    _image(plots.plot_per_query_delta(a, b, tmp_path / "delta.png", "lead", "bm25"), tmp_path / "delta.png")
    with pytest.raises(LeadIRError, match="different queries"):
        plots.plot_per_query_delta(a, b.iloc[:5], tmp_path / "x.png")
    with pytest.raises(LeadIRError, match=r"\.png, \.pdf, \.svg"):
        plots.plot_per_query_delta(a, b, tmp_path / "x.jpg")
    before = set(tmp_path.iterdir())
    fig = plots.plot_per_query_delta(a, b, name_a="lead", name_b="bm25")  # no path: nothing written
    assert set(tmp_path.iterdir()) == before
    assert plots.save_figure(fig, tmp_path / "delta.svg").read_text().lstrip().startswith("<?xml")
    assert plots.save_figure(fig, tmp_path / "delta.pdf").read_bytes()[:4] == b"%PDF"
    wins = int(((a - b) > 0).sum())
    assert f"{wins} better" in fig.axes[0].get_title()
    panels = plots.plot_per_query_deltas({"lead": a, "bm25": b, "other": b * 0.5}, "lead", ["bm25", "other"])
    assert len(panels.axes) == 2 and f"{wins} better" in panels.axes[0].get_title()
    with pytest.raises(LeadIRError, match="missing \\['nope'\\]"):
        plots.plot_per_query_deltas({"lead": a, "bm25": b}, "lead", ["nope"])
    quality = pd.DataFrame({"model": ["teacher"] * 6 + ["student"] * 3, "layer": [1, 2, 3, 4, 5, 6, 1, 2, 3],
                            "ndcg@10": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.2, 0.3, 0.5]})
    _image(plots.plot_layer_quality(quality, tmp_path / "quality.png"), tmp_path / "quality.png")
    _image(plots.plot_layer_quality({"teacher": {1: 0.1, 2: 0.3}}, tmp_path / "q2.png"), tmp_path / "q2.png")
    with pytest.raises(LeadIRError, match="lacks column"):
        plots.plot_layer_quality(quality, tmp_path / "x.png", metric="recall@100")


def test_recall_curves_and_cli(tmp_path, capsys):
    from lead_ir.cli import main

    qrels = {f"q{i}": {f"d{i}": 1} for i in range(10)}
    runs = {"good": {f"q{i}": {f"d{i}": 2.0, "x": 1.0} for i in range(10)},
            "bad": {f"q{i}": {"x": 2.0, f"d{i}": 1.0} for i in range(10)}}
    _image(plots.plot_recall_curves(qrels, runs, tmp_path / "recall.png"), tmp_path / "recall.png")
    qfile = tmp_path / "qrels.txt"
    qfile.write_text("".join(f"{q} 0 {d} 1\n" for q, h in qrels.items() for d in h))
    for name, run in runs.items():
        (tmp_path / f"{name}.trec").write_text("".join(f"{q} Q0 {d} {r} {s} {name}\n" for q, h in run.items()
                                                       for r, (d, s) in enumerate(h.items(), 1)))
    out = tmp_path / "cli.png"
    assert main(["-q", "plot", "per-query", str(tmp_path / "good.trec"), str(tmp_path / "bad.trec"), "--qrels",
                 str(qfile), "--metric", "mrr@10", "--output", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    _png(out)
