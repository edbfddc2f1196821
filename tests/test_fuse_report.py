"""`lead-ir fuse --optimize-on` says which parameters it chose and their dev score, in plain numbers."""

from __future__ import annotations

import re

from lead_ir import fusion
from lead_ir.cli import main as cli
from lead_ir.runs import write_run


def test_fuse_prints_chosen_weights_and_their_dev_score(tmp_path, capsys):
    good = {f"dev{i}": {"x": 2.0, "y": 1.0, "z": 0.5} for i in range(10)}
    bad = {f"dev{i}": {"y": 2.0, "z": 1.0, "x": 0.1} for i in range(10)}
    (tmp_path / "qrels.txt").write_text("".join(f"dev{i} 0 x 1\n" for i in range(10)))
    paths = {}
    for name, run in {"dev/a.trec": good, "dev/b.trec": bad, "a.trec": {"t1": {"x": 1.0, "y": 0.2}},
                      "b.trec": {"t1": {"y": 1.0, "x": 0.2}}}.items():
        paths[name] = str(tmp_path / name)
        write_run(run, paths[name], tag=name)
    capsys.readouterr()
    assert cli(["-q", "fuse", paths["a.trec"], paths["b.trec"], "--method", "wsum", "--optimize-on",
                str(tmp_path / "qrels.txt"), "--dev-runs", paths["dev/a.trec"], paths["dev/b.trec"], "--metric",
                "ndcg@3", "--output", str(tmp_path / "fused.trec")]) == 0
    line = capsys.readouterr().out.strip()
    match = re.search(r"weights a\.trec=([\d.]+), b\.trec=([\d.]+); chosen on 10 dev queries, dev ndcg@3 ([\d.]+)$",
                      line)
    assert match, line
    assert "{" not in line and "np.float" not in line
    wa, wb, score = map(float, match.groups())
    assert wa > wb
    expected = fusion.dev_score([good, bad], ["a.trec", "b.trec"], {f"dev{i}": {"x": 1} for i in range(10)},
                                "wsum", "min-max", {"weights": [wa, wb]}, "ndcg@3")
    assert score == round(expected, 4) and score == 1.0  # x first on every dev query
