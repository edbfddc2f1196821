"""BM25 through Pyserini's Lucene: toy checks, the SciFact regression, and mining."""

import subprocess
import sys

import pytest

from lead_ir.bm25 import BM25Params, build_bm25_index, search_bm25
from lead_ir.cli import main
from lead_ir.data.collections import read_qrels, read_topics
from lead_ir.data.negatives import mine_negatives, read_train_groups, write_train_groups
from lead_ir.errors import LeadIRError
from lead_ir.runs import read_run

pytestmark = pytest.mark.java


def test_toy_index_and_search(toy_collection, tmp_path):
    index = build_bm25_index(str(toy_collection["corpus"]), tmp_path / "idx", threads=2)
    run = search_bm25(index, read_topics(str(toy_collection["topics"])), k=3)
    assert next(iter(sorted(run["q1"].items(), key=lambda kv: -kv[1])))[0] == "d2"
    assert set(run) == {"q1", "q2", "q3"} and all(len(h) <= 3 for h in run.values())
    with pytest.raises(LeadIRError, match="not a Lucene index"):
        search_bm25(tmp_path, {"q": "x"})


def test_raw_documents_are_stored_only_when_asked_and_runs_do_not_change(toy_collection, tmp_path):
    """Without --store-raw the index holds no raw document (searches skip loading it); with it Pyserini's
    doc(id).raw() works; the runs are the same."""
    from lead_ir import jvm
    from lead_ir.fileio import read_json

    topics = read_topics(str(toy_collection["topics"]))
    runs = {}
    for store_raw in (False, True):
        index = build_bm25_index(str(toy_collection["corpus"]), tmp_path / f"idx-{store_raw}", store_raw=store_raw)
        assert read_json(index / "lead_ir_bm25.json")["store_raw"] is store_raw
        searcher = jvm.java_class("io.anserini.search.SimpleSearcher")(str(index))
        raw = searcher.doc("d2").get("raw")
        searcher.close()
        assert (raw is not None and "d2" in raw) if store_raw else raw is None
        runs[store_raw] = search_bm25(index, topics, k=5)
    assert runs[False] == runs[True]


def _ndcg10(qrels, run):
    from ranx import Qrels, Run, evaluate

    return float(evaluate(Qrels(qrels), Run(run, name="bm25"), "ndcg@10"))


@pytest.mark.slow
def test_scifact_bm25_regression_and_pyserini_cli(scifact_bm25_index, tmp_path):
    """nDCG@10 = 0.6789 (Pyserini's BEIR flat figure) and the same ranking as Pyserini's CLI."""
    ours = tmp_path / "ours.trec"
    assert main(["-q", "search", "bm25", "--index", str(scifact_bm25_index), "--topics", "irds:beir/scifact/test",
                 "--output", str(ours), "--k", "1000", "--k1", "0.9", "--b", "0.4"]) == 0
    run = read_run(ours)
    assert _ndcg10(read_qrels("irds:beir/scifact/test"), run) == pytest.approx(0.6789, abs=0.0005)

    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"{q}\t{t}\n" for q, t in read_topics("irds:beir/scifact/test").items()))
    theirs = tmp_path / "pyserini.trec"
    from lead_ir import jvm

    env = {**__import__("os").environ, "JAVA_HOME": str(jvm.find_java().home)}
    subprocess.run([sys.executable, "-m", "pyserini.search.lucene", "--index", str(scifact_bm25_index), "--topics",
                    str(topics), "--output", str(theirs), "--bm25", "--k1", "0.9", "--b", "0.4", "--hits", "1000",
                    "--threads", "2", "--batch-size", "64"], check=True, env=env, capture_output=True)

    def ranked(path):
        out = {}
        for line in path.read_text().splitlines():
            qid, _, docid, *_ = line.split()
            out.setdefault(qid, []).append(docid)
        return out

    assert ranked(ours) == ranked(theirs)


@pytest.mark.slow
def test_mining_scifact_train(scifact_bm25_index, tmp_path):
    qrels = read_qrels("irds:beir/scifact/train")
    run = search_bm25(scifact_bm25_index, read_topics("irds:beir/scifact/train"), k=100, params=BM25Params())
    groups, stats = mine_negatives(run, qrels, read_topics("irds:beir/scifact/train"), depth=100, num_negatives=100)
    assert stats.training_queries == 809 and len(groups) == 809
    for group in groups:
        relevant = {d for d, rel in qrels[group.qid].items() if rel > 0}
        assert set(group.positives) == relevant
        assert not relevant & set(group.negatives), group.qid
        assert group.negatives == [d for d in sorted(run[group.qid], key=lambda d: (-run[group.qid][d], d))
                                   if d not in relevant][:100]
    path = write_train_groups(groups, tmp_path / "train.jsonl", stats)
    assert read_train_groups(path) == groups


def test_mining_excludes_every_positive_and_counts_drops():
    run = {"q1": {"p1": 3.0, "n1": 2.5, "p2": 2.0, "n2": 1.0}, "q2": {"x": 1.0}, "q3": {"y": 1.0}}
    qrels = {"q1": {"p1": 1, "p2": 2, "n1": 0}, "q2": {"x": 0}}
    groups, stats = mine_negatives(run, qrels, {"q1": "a", "q2": "b", "q3": "c"})
    assert [(g.qid, g.positives, g.negatives) for g in groups] == [("q1", ["p2", "p1"], ["n1", "n2"])]
    assert stats.dropped_no_positive == 2
