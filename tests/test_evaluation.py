"""lead_ir.evaluation against Pyserini's Java trec_eval, plus hand-checked conventions."""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lead_ir.errors import LeadIRError
from lead_ir.evaluation import (
    default_metrics,
    evaluate_runs,
    format_means,
    normalize_metric,
    per_query_scores,
    trec_order,
    unique_names,
)

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "runs" / "scifact"  # the committed reference study




# --------------------------------------------------------------------------- trec_eval
def trec_eval(qrels: Path, run: Path, *options: str) -> dict[tuple[str, str], float]:
    """{(measure, qid or 'all'): value} from `python -m pyserini.eval.trec_eval -q ...`."""
    from lead_ir.jvm import find_java

    java = find_java()
    env = dict(os.environ, JAVA_HOME=str(java.home), PATH=str(java.home / "bin") + os.pathsep + os.environ["PATH"])
    env.setdefault("OPENAI_API_KEY", "unused")
    out = subprocess.run([sys.executable, "-m", "pyserini.eval.trec_eval", "-q", *options, str(qrels), str(run)],
                         capture_output=True, text=True, env=env, timeout=300)
    values = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            try:
                values[(parts[0], parts[1])] = float(parts[2])
            except ValueError:
                pass
    assert values, f"trec_eval printed nothing: {out.stderr[-1500:]}"
    return values


def write_qrels(qrels: dict, path: Path) -> Path:
    path.write_text("".join(f"{q} 0 {d} {r}\n" for q, docs in qrels.items() for d, r in docs.items()))
    return path


def write_trec(run: dict, path: Path) -> Path:
    """Write hits in the given (arbitrary) order with raw scores: trec_eval must order them itself."""
    path.write_text("".join(f"{q} Q0 {d} {i} {s} t\n" for q, h in run.items() for i, (d, s) in enumerate(h.items(), 1)))
    return path


def assert_matches(ours: pd.DataFrame, theirs: dict, pairs: dict[str, str]) -> None:
    """Means and every per-query value agree to 4 decimals (trec_eval prints 4)."""
    for metric, measure in pairs.items():
        assert abs(ours[metric].mean() - theirs[(measure, "all")]) < 5.1e-5, (metric, ours[metric].mean(),
                                                                             theirs[(measure, "all")])
        for qid, value in ours[metric].items():
            expected = theirs.get((measure, qid), 0.0)  # -q prints nothing for queries the run lacks (-c: 0)
            assert abs(value - expected) < 5.1e-5, (metric, qid, value, expected)


SCIFACT_PAIRS = {"ndcg@10": "ndcg_cut_10", "ndcg@100": "ndcg_cut_100", "recall@100": "recall_100",
                 "recall@10": "recall_10", "map@100": "map", "mrr@10": "recip_rank"}


@pytest.mark.slow
@pytest.mark.java
@pytest.mark.data
@pytest.mark.parametrize("run_name", ["bm25", "teacher-zero-shot"])  # BM25 and all-MiniLM-L6-v2 zero-shot
def test_scifact_runs_equal_trec_eval(irds_home, tmp_path, run_name):
    from lead_ir.data.collections import read_qrels
    from lead_ir.runs import read_run

    run_path = STUDY / f"{run_name}.trec"
    qrels = read_qrels("irds:beir/scifact/test")
    ours, dropped, missing = per_query_scores(qrels, read_run(run_path), list(SCIFACT_PAIRS))
    assert (len(ours), dropped, missing) == (300, 0, 0)
    qrels_file = write_qrels(qrels, tmp_path / "qrels.txt")
    theirs = trec_eval(qrels_file, run_path, "-c", "-m", "ndcg_cut.10,100", "-m", "recall.10,100", "-m", "map")
    theirs |= trec_eval(qrels_file, run_path, "-c", "-M", "10", "-m", "recip_rank")
    assert_matches(ours, theirs, SCIFACT_PAIRS)
    if run_name == "bm25":  # Pyserini's published BEIR flat BM25 regression figure
        assert round(ours["ndcg@10"].mean(), 4) == 0.6789


def _synthetic_run(qrels: dict, seed: int, unjudged_queries: int = 0) -> dict:
    """Judged docids plus docids judged for other queries, coarse scores (many ties), shuffled order."""
    rng = random.Random(seed)
    pool = sorted({d for docs in qrels.values() for d in docs})
    run = {}
    for qid, docs in qrels.items():
        if rng.random() < 0.05:
            continue  # a judged query the run lacks: scores 0 (trec_eval -c)
        hits = list(docs) + rng.sample(pool, 40)
        rng.shuffle(hits)
        run[qid] = {d: round(rng.random() * 4, 1) for d in hits}
    for i in range(unjudged_queries):
        run[f"unjudged{i}"] = {pool[0]: 1.0}
    return run


@pytest.mark.slow
@pytest.mark.java
@pytest.mark.data
def test_dl19_graded_qrels_equal_trec_eval(topics_dir, tmp_path):
    from lead_ir.data.collections import read_qrels

    qrels = read_qrels("dl19-passage")
    run = _synthetic_run(qrels, seed=1, unjudged_queries=3)
    metrics = default_metrics("trec-dl") + ["ndcg@1000", "mrr@10-l2", "map@1000"]
    ours, dropped, missing = per_query_scores(qrels, run, metrics)
    assert len(ours) == 43 and dropped == 3 and missing == 43 - sum(q in run for q in qrels)
    run_file, qrels_file = write_trec(run, tmp_path / "run.txt"), write_qrels(qrels, tmp_path / "qrels.txt")
    theirs = trec_eval(qrels_file, run_file, "-c", "-M", "1000", "-m", "ndcg_cut.10,1000", "-m", "map")
    level2 = trec_eval(qrels_file, run_file, "-c", "-l", "2", "-M", "1000", "-m", "map", "-m", "recall.1000")
    rr = trec_eval(qrels_file, run_file, "-c", "-l", "2", "-M", "10", "-m", "recip_rank")
    assert_matches(ours, theirs, {"ndcg@10": "ndcg_cut_10", "ndcg@1000": "ndcg_cut_1000", "map@1000": "map"})
    assert_matches(ours, level2, {"map@1000-l2": "map", "recall@1000-l2": "recall_1000"})
    assert_matches(ours, rr, {"mrr@10-l2": "recip_rank"})
    assert ours["map@1000-l2"].mean() != pytest.approx(ours["map@1000"].mean())  # the level matters here


@pytest.mark.slow
@pytest.mark.java
@pytest.mark.data
def test_cranfield_negative_labels_equal_trec_eval(irds_home, tmp_path):
    from lead_ir.data.collections import read_qrels

    qrels = read_qrels("irds:cranfield")
    assert min(r for docs in qrels.values() for r in docs.values()) < 0  # Cranfield's -1 labels
    run = _synthetic_run(qrels, seed=2)
    ours, _, _ = per_query_scores(qrels, run, ["ndcg@10", "map@1000", "recall@100"])
    theirs = trec_eval(write_qrels(qrels, tmp_path / "q.txt"), write_trec(run, tmp_path / "r.txt"), "-c", "-M", "1000",
                       "-m", "ndcg_cut.10", "-m", "map", "-m", "recall.100")
    assert_matches(ours, theirs, {"ndcg@10": "ndcg_cut_10", "map@1000": "map", "recall@100": "recall_100"})


@pytest.mark.slow
@pytest.mark.java
@pytest.mark.data
def test_cranfield_bm25_trec_qrels_defaults_equal_trec_eval(irds_home, tmp_path, capsys):
    """`lead-ir evaluate --qrels QRELS RUN` on a TREC-format qrels file: trec_eval's defaults (MAP, nDCG@10,
    P@10, R@1000), each mean and per-query value equal to trec_eval's."""
    import json

    from lead_ir.bm25 import build_bm25_index, search_bm25
    from lead_ir.cli import main
    from lead_ir.data.collections import read_qrels, read_topics
    from lead_ir.runs import read_run, write_run

    qrels_file = write_qrels(read_qrels("irds:cranfield"), tmp_path / "qrels.cranfield.txt")
    index = build_bm25_index("irds:cranfield", tmp_path / "index", threads=2)
    run_file = write_run(search_bm25(index, read_topics("irds:cranfield"), k=1000, threads=2), tmp_path / "bm25.trec",
                         tag="bm25")
    assert main(["-q", "evaluate", "--qrels", str(qrels_file), str(run_file), "--format", "json", "--digits", "6"]) == 0
    means = json.loads(capsys.readouterr().out)["bm25"]
    assert list(means) == ["map", "ndcg@10", "precision@10", "recall@1000"]
    theirs = trec_eval(qrels_file, run_file, "-c", "-m", "map", "-m", "ndcg_cut.10", "-m", "P.10", "-m", "recall.1000")
    pairs = {"map": "map", "ndcg@10": "ndcg_cut_10", "precision@10": "P_10", "recall@1000": "recall_1000"}
    for metric, measure in pairs.items():
        assert round(means[metric], 4) == round(theirs[(measure, "all")], 4), (metric, means[metric], theirs)
    ours, _, _ = per_query_scores(read_qrels(str(qrels_file)), read_run(run_file), list(pairs))
    assert_matches(ours, theirs, pairs)


@pytest.mark.slow
@pytest.mark.java
@pytest.mark.data
def test_every_trec_eval_metric_equals_trec_eval(topics_dir, tmp_path):
    """The metrics the reference tests above do not cover, against Java trec_eval at their cut-offs
    (``-M k``): uncut nDCG/MAP/recall/precision, P@k, hit rate, hits, R-precision, bpref and F1."""
    from lead_ir.data.collections import read_qrels

    qrels = read_qrels("dl19-passage")
    run = _synthetic_run(qrels, seed=3)
    run_file, qrels_file = write_trec(run, tmp_path / "run.txt"), write_qrels(qrels, tmp_path / "qrels.txt")
    ours, _, _ = per_query_scores(qrels, run, ["ndcg", "map", "recall", "precision", "r-precision", "bpref",
                                               "precision@5", "hit_rate@5", "hits@5", "f1@5", "bpref-l2"])
    uncut = trec_eval(qrels_file, run_file, "-c", "-m", "ndcg", "-m", "map", "-m", "set_recall", "-m", "set_P",
                      "-m", "Rprec", "-m", "bpref")
    assert_matches(ours, uncut, {"ndcg": "ndcg", "map": "map", "recall": "set_recall", "precision": "set_P",
                                 "r-precision": "Rprec", "bpref": "bpref"})
    at5 = trec_eval(qrels_file, run_file, "-c", "-M", "5", "-m", "P.5", "-m", "success.5", "-m", "num_rel_ret",
                    "-m", "set_F")
    assert_matches(ours, at5, {"precision@5": "P_5", "hit_rate@5": "success_5", "f1@5": "set_F"})
    # trec_eval's "all" line of a count is the sum over queries (-c: over every judged query)
    assert_matches(ours, at5 | {("num_rel_ret", "all"): at5[("num_rel_ret", "all")] / len(ours)},
                   {"hits@5": "num_rel_ret"})
    level2 = trec_eval(qrels_file, run_file, "-c", "-l", "2", "-m", "bpref")
    assert_matches(ours, level2, {"bpref-l2": "bpref"})


def test_evaluate_imports_neither_ranx_nor_numba(tmp_path):
    """`lead-ir evaluate` computes with trec_eval's C code: ranx (numba, scipy.stats, matplotlib) stays unloaded."""
    qrels = write_qrels(QRELS, tmp_path / "qrels.txt")
    run = write_trec({"q1": {"a": 2.0, "b": 1.0}, "q2": {"x": 1.0}}, tmp_path / "mine.trec")
    child = ("import sys; from lead_ir.cli import main; code = main(['-q', 'evaluate', '--qrels', sys.argv[1], "
             "sys.argv[2], '--metrics', 'ndcg@10,map,mrr@10,recall@100-l2']); "
             "print(code, sorted(m for m in ('ranx', 'numba', 'torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", child, str(qrels), str(run)], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stdout + out.stderr[-2000:]


def test_the_metrics_only_ranx_has_still_evaluate():
    """ndcg_burges and rbp come from ranx; with binary labels Burges' gains equal Järvelin's."""
    binary = {"q1": {"a": 1, "b": 1, "c": 0}, "q2": {"x": 1}}
    run = {"q1": {"c": 3.0, "a": 2.0, "b": 1.0}, "q2": {"y": 2.0, "x": 1.0}}
    scores, _, _ = per_query_scores(binary, run, ["ndcg@3", "ndcg_burges@3", "rbp@80"])
    assert scores["ndcg_burges@3"].tolist() == pytest.approx(scores["ndcg@3"].tolist())
    assert scores.loc["q2", "rbp@80"] == pytest.approx((1 - 0.8) * 0.8)  # one relevant document at rank 2


# --------------------------------------------------------------------------- conventions by hand
QRELS = {"q1": {"a": 2, "b": 1, "c": 0, "n": -1}, "q2": {"x": 1}, "q3": {"z": 3}}


def test_hand_computed_ndcg_ties_and_negative_labels():
    run = {"q1": {"n": 5.0, "b": 3.0, "a": 3.0, "c": 1.0}, "q2": {"y": 2.0, "x": 1.0}}
    # ties at 3.0 break by doc id descending (trec_eval): order n, b, a, c
    assert list(trec_order(run["q1"])) == ["n", "b", "a", "c"]
    scores, dropped, missing = per_query_scores(QRELS, run, ["ndcg@3", "mrr", "recall@1"])
    import math

    dcg = 0 / math.log2(2) + 1 / math.log2(3) + 2 / math.log2(4)  # n gains 0, not -1
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert scores.loc["q1", "ndcg@3"] == pytest.approx(dcg / idcg)
    assert scores.loc["q2", "mrr"] == pytest.approx(0.5)
    assert scores.loc["q3"].tolist() == [0.0, 0.0, 0.0]  # judged but missing from the run
    assert (dropped, missing) == (0, 1)


def test_inputs_not_mutated_and_unjudged_dropped():
    run = {"q1": {"a": 1.0}, "q9": {"a": 1.0}, 7: {"a": 1.0}}
    before = copy.deepcopy(run)
    result = evaluate_runs(QRELS, {"r": run}, ["ndcg@10"])
    assert run == before
    assert result.dropped_unjudged == {"r": 2} and result.judged_queries == 3
    assert "dropped 2 unjudged" in result.summary()


def test_pandas_string_dtype_frames():
    pd_run = pd.DataFrame({"q_id": pd.array(["q1", "q1"], dtype="str"), "doc_id": pd.array(["a", "b"], dtype="str"),
                           "score": [2.0, 1.0]})
    pd_qrels = pd.DataFrame({"query_id": pd.array(["q1"], dtype="str"), "doc_id": pd.array(["a"], dtype="str"),
                             "relevance": [1]})
    scores, _, _ = per_query_scores(pd_qrels, pd_run, ["mrr"])
    assert scores.loc["q1", "mrr"] == 1.0
    with pytest.raises(LeadIRError, match="lacks column"):
        per_query_scores(pd_qrels, pd_run.rename(columns={"score": "s"}), ["mrr"])


def test_metric_names_and_defaults():
    assert normalize_metric("nDCG@10") == "ndcg@10"
    assert normalize_metric("R@1000-l2") == "recall@1000-l2"
    assert normalize_metric("MAP@1000-l1") == "map@1000"
    assert normalize_metric("F1@10") == "f1@10"  # a digit in the name (ranx's f1)
    assert default_metrics("trec-dl") == ["ndcg@10", "map@1000-l2", "recall@1000-l2"]
    assert default_metrics("msmarco") == ["mrr@10", "recall@1000"]
    with pytest.raises(LeadIRError, match="did you mean 'ndcg'"):
        normalize_metric("ndgc@10")
    with pytest.raises(LeadIRError, match="unknown collection family"):
        default_metrics("robust")


def test_unique_names_refuses_duplicates():
    assert unique_names(["a/bm25.trec", "b/dense.txt.gz"]) == ["bm25", "dense"]
    with pytest.raises(LeadIRError, match="two runs are named 'bm25'"):
        unique_names(["a/bm25.trec", "b/bm25.trec"])
    assert unique_names(["a/bm25.trec", "b/bm25.trec"], ["x", "y"]) == ["x", "y"]


def test_cli_evaluate_formats(tmp_path, capsys):
    from lead_ir.cli import main

    qrels = write_qrels(QRELS, tmp_path / "qrels.txt")
    run = write_trec({"q1": {"a": 2.0, "b": 1.0}, "q2": {"x": 1.0}}, tmp_path / "mine.trec")
    assert main(["-q", "evaluate", "--qrels", str(qrels), str(run), "--metrics", "MRR@10", "--format", "json"]) == 0
    assert '"mine"' in capsys.readouterr().out
    assert main(["-q", "evaluate", "--qrels", str(qrels), str(run), str(run)]) == 2
    assert "two runs are named" in capsys.readouterr().err
    assert main(["-q", "evaluate", "--qrels", str(qrels), str(run), "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert r"\toprule" in out and "nDCG@10" in out  # generic family defaults
    means = evaluate_runs(QRELS, {"r": {"q1": {"a": 1.0}}}, ["recall@100-l2"]).means
    assert "rel$\\geq$2" in format_means(means, "latex")

