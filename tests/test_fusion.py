"""ranx fusion: hand-computed RRF / weighted sums, dev-only tuning, the test-leak guard, the CLI."""

from __future__ import annotations

import pytest

from lead_ir import fusion
from lead_ir.cli import main as cli
from lead_ir.errors import LeadIRError
from lead_ir.runs import read_run, write_run

A = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {"e": 5.0, "f": 1.0}}
B = {"q1": {"b": 10.0, "c": 5.0, "d": 0.0}, "q2": {"f": 4.0, "e": 2.0}}


def test_rrf_matches_hand_computation():
    fused = fusion.fuse([A, B], ["A", "B"], method="rrf")
    expected = {"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 63 + 1 / 62, "d": 1 / 63}
    assert fused["q1"] == pytest.approx(expected)
    assert fused["q2"] == pytest.approx({"e": 1 / 61 + 1 / 62, "f": 1 / 62 + 1 / 61})


def test_weighted_sum_over_min_max_matches_hand_computation():
    fused = fusion.fuse([A, B], ["A", "B"], method="wsum", params={"weights": [0.3, 0.7]})
    # min-max per query: A -> a 1, b .5, c 0; B -> b 1, c .5, d 0; absent documents count 0.
    assert fused["q1"] == pytest.approx({"a": 0.3, "b": 0.85, "c": 0.35, "d": 0.0})
    assert fused["q2"] == pytest.approx({"e": 0.3, "f": 0.7})


def _dev_runs(n: int = 10):
    good = {f"dev{i}": {"x": 2.0, "y": 1.0, "z": 0.5} for i in range(n)}
    bad = {f"dev{i}": {"y": 2.0, "z": 1.0, "x": 0.1} for i in range(n)}
    qrels = {f"dev{i}": {"x": 1} for i in range(n)}
    return good, bad, qrels


def test_optimize_prefers_the_run_that_is_right_on_dev():
    good, bad, qrels = _dev_runs()
    params = fusion.optimize([good, bad], ["good", "bad"], qrels, method="wsum", metric="ndcg@3")
    assert params["weights"][0] > params["weights"][1]
    params = fusion.optimize([bad, good], ["bad", "good"], qrels, method="wsum", metric="ndcg@3")
    assert params["weights"][1] > params["weights"][0]


def test_fuse_with_dev_refuses_test_queries_in_the_dev_set():
    good, bad, qrels = _dev_runs()
    test_a = {"dev3": {"x": 1.0, "y": 0.5}, "t1": {"x": 1.0, "y": 0.2}}
    test_b = {"dev3": {"y": 1.0, "x": 0.5}, "t1": {"y": 1.0, "x": 0.2}}
    with pytest.raises(LeadIRError, match=r"1 dev query \(e\.g\. dev3\) also occur in the runs to fuse"):
        fusion.fuse_with_dev([test_a, test_b], [good, bad], ["a", "b"], qrels)
    fused, info = fusion.fuse_with_dev([{"t1": test_a["t1"]}, {"t1": test_b["t1"]}], [good, bad], ["a", "b"], qrels,
                                       metric="ndcg@3")
    assert info["dev_queries"] == 10 and info["params"]["weights"][0] > info["params"]["weights"][1]
    assert max(fused["t1"], key=fused["t1"].get) == "x"


def test_dev_split_is_seeded_sized_and_order_free():
    qids = [str(i) for i in range(809)]
    split = fusion.dev_split(qids, 0.2, seed=13)
    assert len(split) == 162 and split == fusion.dev_split(list(reversed(qids)), 0.2, seed=13)
    assert split != fusion.dev_split(qids, 0.2, seed=14)
    with pytest.raises(LeadIRError, match=r"dev fraction must be in \(0, 1\)"):
        fusion.dev_split(qids, 0.0)
    from lead_ir.data.split import split_qids

    assert split == split_qids(qids, 0.2, 13)[1]  # the same dev queries training holds out


def test_errors_name_the_problem():
    with pytest.raises(LeadIRError, match="did you mean 'combsum'"):
        fusion.fuse([A, B], ["A", "B"], method="combsun")
    with pytest.raises(LeadIRError, match="at least two runs"):
        fusion.fuse([A], ["A"])
    with pytest.raises(LeadIRError, match="run names must be unique"):
        fusion.fuse([A, B], ["A", "A"])
    with pytest.raises(LeadIRError, match="no parameters to optimise"):
        fusion.optimize([A, B], ["A", "B"], {"q1": {"a": 1}}, method="combsum")


def test_fuse_cli_tunes_on_dev_runs_and_writes_a_tagged_run(tmp_path):
    good, bad, qrels = _dev_runs()
    paths = {}
    for name, run in {"good.dev": good, "bad.dev": bad, "good": {"t1": {"x": 2.0, "y": 1.0}},
                      "bad": {"t1": {"y": 2.0, "x": 1.0}}}.items():
        paths[name] = write_run(run, tmp_path / f"{name}.trec", tag=name.replace(".", "-"))
    qrels_path = tmp_path / "dev.qrels"
    qrels_path.write_text("".join(f"{q} 0 {d} {r}\n" for q, docs in qrels.items() for d, r in docs.items()))
    out = tmp_path / "fused.trec"
    assert cli(["-q", "fuse", str(paths["good"]), str(paths["bad"]), "--method", "wsum", "--optimize-on",
                str(qrels_path), "--dev-runs", str(paths["good.dev"]), str(paths["bad.dev"]), "--metric", "ndcg@3",
                "--output", str(out)]) == 0
    run, tag = read_run(out, return_tag=True)
    assert tag == "fuse-fused" and list(run["t1"]) == ["x", "y"]
    assert cli(["-q", "fuse", str(paths["good"]), str(paths["bad"]), "--method", "wsum", "--optimize-on",
                str(qrels_path), "--output", str(out)]) == 2  # --dev-runs missing: one-line error


def test_runs_without_a_common_query_are_refused(tmp_path, capsys):
    other = {"x1": {"a": 1.0}, "x2": {"b": 1.0}}
    with pytest.raises(LeadIRError, match=r"share no query \(queries per run: A 2 \(e\.g\. q1\), B 2 \(e\.g\. x1\)\)"):
        fusion.fuse([A, other], ["A", "B"])
    good, bad, qrels = _dev_runs()
    with pytest.raises(LeadIRError, match="share no query"):  # refused before any tuning on the dev queries
        fusion.fuse_with_dev([A, other], [good, bad], ["A", "B"], qrels, method="wsum")
    paths = [write_run(A, tmp_path / "a.trec", tag="a"), write_run(other, tmp_path / "b.trec", tag="b")]
    out = tmp_path / "new" / "fused.trec"
    capsys.readouterr()
    assert cli(["fuse", *map(str, paths), "--output", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["lead-ir: error: fuse: the runs share no query (queries per run: a.trec 2 (e.g. q1), b.trec 2 "
                   "(e.g. x1)); fuse runs made on the same topics"]
    assert not out.parent.exists()


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_partly_shared_queries_warn_once_with_the_counts_and_keep_every_query(tmp_path, capsys, quiet):
    b = {"q1": B["q1"], "q3": {"g": 1.0}, "q4": {"h": 2.0, "g": 1.0}}
    paths = [write_run(A, tmp_path / "a.trec", tag="a"), write_run(b, tmp_path / "b.trec", tag="b")]
    out = tmp_path / "fused.trec"
    capsys.readouterr()
    assert cli([*quiet, "fuse", *map(str, paths), "--output", str(out)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, warnings
    assert warnings[0].endswith("fuse: the runs share 1 of 4 queries; 3 are missing from some run and are fused from "
                                "the runs that have them")
    fused = read_run(out)
    assert set(fused) == {"q1", "q2", "q3", "q4"}
    assert fused["q2"] == pytest.approx(A["q2"]) and fused["q4"] == pytest.approx(b["q4"])  # one run: kept as is
    assert fused["q1"] == pytest.approx(fusion.fuse([A, B], ["A", "B"])["q1"], abs=1e-6)
