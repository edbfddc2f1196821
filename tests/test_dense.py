"""Dense retrieval through Pyserini: encode, index layout, search, Pyserini CLI parity, hybrid, memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lead_ir.cli import main as cli
from lead_ir.errors import IndexMismatchError, LeadIRError
from lead_ir.runs import read_run

WORDS = ("dense retrieval encodes queries passages vectors bm25 lexical ranking function lucene knowledge "
         "distillation teacher student layer wise intermediate models faiss similarity search pyserini sparse "
         "baselines cranfield test collection evaluation hard negatives mined first stage retriever over into "
         "from the a of to and is by used transfers matches performs efficient provides reproducible established "
         "are top results two").split()
DOCS = [
    ("d1", "dense retrieval encodes queries and passages into vectors"),
    ("d2", "bm25 is a lexical ranking function used by lucene"),
    ("d3", "knowledge distillation transfers knowledge from a teacher to a student"),
    ("d4", "layer wise distillation matches intermediate layer of two models"),
    ("d5", "faiss performs efficient similarity search over dense vectors"),
    ("d6", "pyserini provides reproducible sparse and dense retrieval baselines"),
    ("d7", "the cranfield test collection established evaluation"),
    ("d8", "hard negatives are mined from the top results of a first stage retriever"),
    ("d9", "vectors"),
]
TOPICS = [("q1", "lexical ranking lucene"), ("q2", "teacher student distillation"), ("q3", "similarity search vectors")]
REPO = Path(__file__).resolve().parents[1]


def build_tiny_model(path: Path, hidden: int = 32, layers: int = 1, seed: int = 0, pooling: str = "mean",
                     normalize: bool = True) -> Path:
    """A random BERT with a word-level vocabulary of :data:`WORDS` and a lead_ir EncoderSpec."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    from lead_ir.models.spec import EncoderSpec

    torch.manual_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS))
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(path)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=64, initializer_range=0.5)
    BertModel(config, add_pooling_layer=False).save_pretrained(path)
    EncoderSpec(pooling=pooling, normalize=normalize, query_max_len=16, passage_max_len=32).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_model_64(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny64") / "model", hidden=64, seed=1)


@pytest.fixture
def collection(tmp_path) -> dict[str, Path]:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": d, "contents": t}) + "\n" for d, t in DOCS))
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"{q}\t{t}\n" for q, t in TOPICS))
    return {"corpus": corpus, "topics": topics}


def _encode(model: Path, corpus: Path, index: Path, *extra: str) -> None:
    assert cli(["-q", "encode", "--model", str(model), "--corpus", str(corpus), "--index", str(index),
                "--batch-size", "2", "--chunk-size", "4", *extra]) == 0


def _reference_vectors(model: Path, texts: list[str]) -> np.ndarray:
    from lead_ir.embed import Embedder
    from lead_ir.models.encoder import DenseEncoder

    return Embedder(DenseEncoder.from_pretrained(model), "passage", batch_size=1)(texts)


def test_encode_writes_pyserini_layout(tiny_model, collection, tmp_path, cpu_bf16):
    import faiss

    index_dir = tmp_path / "index"
    _encode(tiny_model, collection["corpus"], index_dir)
    assert sorted(p.name for p in index_dir.iterdir()) == ["docid", "index", "lead_ir.json"]
    assert (index_dir / "docid").read_text().splitlines() == [d for d, _ in DOCS]
    meta = json.loads((index_dir / "lead_ir.json").read_text())
    assert (meta["dim"], meta["pooling"], meta["normalize"], meta["count"], meta["factory"]) == (32, "mean", True, 9,
                                                                                                "Flat")
    assert meta["max_length"] == 32 and meta["corpus_fingerprint"].startswith("corpus.jsonl:")
    index = faiss.read_index(str(index_dir / "index"))
    assert index.metric_type == faiss.METRIC_INNER_PRODUCT
    # Length sorting, batching and chunking must not reorder or change vectors: compare with one-by-one encoding.
    np.testing.assert_allclose(index.reconstruct_n(0, index.ntotal), _reference_vectors(tiny_model,
                                                                                        [t for _, t in DOCS]),
                               atol=1e-5)
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_search_dense_equals_exact_inner_product(tiny_model, collection, tmp_path, cpu_bf16):
    index_dir = tmp_path / "index"
    _encode(tiny_model, collection["corpus"], index_dir)
    out = tmp_path / "dense.trec"
    assert cli(["-q", "search", "dense", "--index", str(index_dir), "--model", str(tiny_model), "--topics",
                str(collection["topics"]), "--output", str(out), "--k", "4"]) == 0
    run = read_run(out)
    docs = _reference_vectors(tiny_model, [t for _, t in DOCS])
    from lead_ir.embed import Embedder
    from lead_ir.models.encoder import DenseEncoder

    queries = Embedder(DenseEncoder.from_pretrained(tiny_model), "query")([t for _, t in TOPICS])
    for (qid, _), qvec in zip(TOPICS, queries):
        scores = docs @ qvec
        expected = [DOCS[i][0] for i in np.argsort(-scores)[:4]]
        assert list(run[qid]) == expected
        np.testing.assert_allclose(list(run[qid].values()), np.sort(scores)[::-1][:4], atol=1e-5)
    assert out.read_text().split("\n")[0].split()[-1] == "dense"  # the kind is not repeated (runs.run_tag)


def test_faiss_searcher_accepts_lead_query_encoder(tiny_model, collection, tmp_path):
    from lead_ir import jvm
    from lead_ir.search import LeadQueryEncoder

    index_dir = tmp_path / "index"
    _encode(tiny_model, collection["corpus"], index_dir)
    encoder = LeadQueryEncoder(tiny_model)
    assert isinstance(encoder, jvm.pyserini("pyserini.encode").QueryEncoder)
    searcher = jvm.pyserini("pyserini.search.faiss").FaissSearcher(str(index_dir), encoder)
    single = searcher.search(TOPICS[2][1], k=3)
    batch = searcher.batch_search([TOPICS[2][1]], ["q3"], k=3)["q3"]
    assert [h.docid for h in single] == [h.docid for h in batch]
    exact = _reference_vectors(tiny_model, [t for _, t in DOCS]) @ encoder.encode(TOPICS[2][1])
    assert [h.docid for h in single] == [DOCS[i][0] for i in np.argsort(-exact)[:3]]
    assert encoder.encode("faiss").shape == (32,) and encoder.encode_batch(["a", "b"]).shape == (2, 32)


def test_index_mismatch_is_one_line_error(tiny_model, tiny_model_64, collection, tmp_path):
    from lead_ir.search import dense_search

    index_dir = tmp_path / "index"
    _encode(tiny_model, collection["corpus"], index_dir)
    topics = dict(TOPICS)
    with pytest.raises(IndexMismatchError, match=r"dim 32 but the query encoder gives 64"):
        dense_search(index_dir, tiny_model_64, topics)
    other = build_tiny_model(tmp_path / "cls", pooling="cls")
    with pytest.raises(IndexMismatchError, match=r"pooling=mean but the query encoder uses pooling=cls"):
        dense_search(index_dir, other, topics)
    (index_dir / "docid").write_text("d1\nd2\n")
    with pytest.raises(IndexMismatchError, match=r"docid has 2 lines but the index holds 9 vectors"):
        dense_search(index_dir, tiny_model, topics)


def test_bf16_autocast_keeps_vectors_close_and_is_recorded(tiny_model, collection, tmp_path):
    import faiss

    from lead_ir.encode import EncodeOptions, encode_corpus

    full = encode_corpus(str(tiny_model), str(collection["corpus"]), tmp_path / "fp32",
                         EncodeOptions(device="cpu", precision="fp32"))
    half = encode_corpus(str(tiny_model), str(collection["corpus"]), tmp_path / "bf16",
                         EncodeOptions(device="cpu", bf16=True))
    assert (full["bf16"], half["bf16"]) == (False, True)
    assert (full["precision"], half["precision"]) == ("fp32", "bf16")
    a, b = (faiss.read_index(str(tmp_path / d / "index")) for d in ("fp32", "bf16"))
    va, vb = a.reconstruct_n(0, a.ntotal), b.reconstruct_n(0, b.ntotal)
    assert vb.dtype == np.float32 and not np.array_equal(va, vb)  # autocast really ran in bfloat16
    cosine = np.sum(va * vb, axis=1) / np.linalg.norm(va, axis=1) / np.linalg.norm(vb, axis=1)
    assert cosine.min() > 0.99
    with pytest.raises(LeadIRError, match="exclude each other"):
        EncodeOptions(fp16=True, bf16=True)


def test_fp16_on_cpu_and_bad_shard_are_user_errors(tiny_model, collection, tmp_path):
    from lead_ir.encode import EncodeOptions, encode_corpus, parse_shard

    with pytest.raises(LeadIRError, match="--fp16 needs a GPU"):
        encode_corpus(str(tiny_model), str(collection["corpus"]), tmp_path / "i", EncodeOptions(fp16=True,
                                                                                              device="cpu"))
    with pytest.raises(LeadIRError, match="expected i/n"):
        parse_shard("2")
    with pytest.raises(LeadIRError, match="shard 3/2 is invalid"):
        parse_shard("3/2")
    with pytest.raises(LeadIRError, match="FAISS cannot build"):
        encode_corpus(str(tiny_model), str(collection["corpus"]), tmp_path / "j", factory="NotAFactory")


class _Crash(Exception):
    pass


def test_resume_after_crash_gives_identical_bytes(tiny_model, collection, tmp_path):
    from lead_ir.data.collections import corpus_fingerprint, iter_corpus
    from lead_ir.encode import ChunkStore, EncodeOptions, encode_chunks, encode_signature, work_dir_for
    from lead_ir.models.encoder import DenseEncoder

    corpus = str(collection["corpus"])
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    _encode(tiny_model, collection["corpus"], fresh)
    # A first attempt dies after two finished chunks (8 of 9 documents), as a SIGKILL would leave it.
    options = EncodeOptions(batch_size=2, chunk_size=4)
    encoder = DenseEncoder.from_pretrained(tiny_model)
    store = ChunkStore(work_dir_for(resumed), encode_signature(tiny_model, encoder.spec, options, corpus,
                                                               corpus_fingerprint(corpus), 32))

    def dying():
        for number, doc in enumerate(iter_corpus(corpus)):
            if number == 8:
                raise _Crash
            yield doc

    with pytest.raises(_Crash):
        encode_chunks(encoder, dying(), store, options)
    assert store.finished() == 2 and not resumed.exists()
    chunk0 = (work_dir_for(resumed) / "chunk-000000.npy").stat().st_mtime_ns
    _encode(tiny_model, collection["corpus"], resumed, "--keep-chunks")
    for name in ("index", "docid"):
        assert (resumed / name).read_bytes() == (fresh / name).read_bytes()
    assert (work_dir_for(resumed) / "chunk-000000.npy").stat().st_mtime_ns == chunk0  # resumed, not redone
    assert (work_dir_for(resumed) / "chunk-000002.npy").exists()


def test_resume_refuses_a_changed_corpus(tiny_model, collection, tmp_path):
    from lead_ir.encode import EncodeOptions, encode_corpus, work_dir_for

    corpus = collection["corpus"]
    index_dir = tmp_path / "index"
    encode_corpus(str(tiny_model), str(corpus), index_dir, EncodeOptions(batch_size=2, chunk_size=4), keep_chunks=True)
    work = work_dir_for(index_dir)
    assert (work / "chunk-000001.ids").exists()
    # Same settings and fingerprint (size kept), different ids in chunk 0: resuming must refuse, not mix corpora.
    corpus.write_text(corpus.read_text().replace('"d1"', '"x1"'))
    (work / "chunk-000002.ids").unlink()
    with pytest.raises(IndexMismatchError, match="chunk 0 was made from different documents"):
        encode_corpus(str(tiny_model), str(corpus), index_dir, EncodeOptions(batch_size=2, chunk_size=4))


def test_shards_merge_to_the_full_index(tiny_model, collection, tmp_path):
    import faiss

    full = tmp_path / "full"
    _encode(tiny_model, collection["corpus"], full)
    for i in range(2):
        _encode(tiny_model, collection["corpus"], tmp_path / f"s{i}", "--shard", f"{i}/2")
    assert cli(["-q", "index", "merge", str(tmp_path / "s1"), str(tmp_path / "s0"), "--output",
                str(tmp_path / "merged")]) == 0

    def vectors(d: Path) -> dict[str, np.ndarray]:
        index = faiss.read_index(str(d / "index"))
        return dict(zip((d / "docid").read_text().split(), index.reconstruct_n(0, index.ntotal)))

    merged, reference = vectors(tmp_path / "merged"), vectors(full)
    assert (tmp_path / "merged" / "docid").read_text().split()[:5] == ["d1", "d3", "d5", "d7", "d9"]
    assert merged.keys() == reference.keys()
    for doc_id, vec in reference.items():
        np.testing.assert_allclose(merged[doc_id], vec, atol=1e-5)
    # An IVF factory is trained on a sample at merge time and still finds every document's own vector.
    assert cli(["-q", "index", "merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--output",
                str(tmp_path / "ivf"), "--factory", "IVF2,Flat"]) == 0
    ivf = faiss.read_index(str(tmp_path / "ivf" / "index"))
    ivf.nprobe = 2
    ids = (tmp_path / "ivf" / "docid").read_text().split()
    _, found = ivf.search(np.stack([reference[d] for d in ids]), 1)
    assert [ids[i] for i in found[:, 0]] == ids
    with pytest.raises(LeadIRError, match="do not cover"):
        cli(["--debug", "-q", "index", "merge", str(tmp_path / "s0"), "--output", str(tmp_path / "bad")])


@pytest.mark.slow
@pytest.mark.java
def test_pyserini_cli_with_encoded_queries_gives_the_same_run(tiny_model, collection, tmp_path):
    from lead_ir.jvm import find_java

    index_dir, queries = tmp_path / "index", tmp_path / "queries"
    _encode(tiny_model, collection["corpus"], index_dir)
    ours, theirs = tmp_path / "ours.trec", tmp_path / "pyserini.trec"
    topics = str(collection["topics"])
    assert cli(["-q", "search", "dense", "--index", str(index_dir), "--model", str(tiny_model), "--topics", topics,
                "--output", str(ours), "--k", "9"]) == 0
    assert cli(["-q", "encode-queries", "--model", str(tiny_model), "--topics", topics, "--output",
                str(queries)]) == 0
    assert (queries / "embedding.pkl").exists()
    env = {**os.environ, "JAVA_HOME": str(find_java().home), "OPENAI_API_KEY": "unused"}
    subprocess.run([sys.executable, "-m", "pyserini.search.faiss", "--index", str(index_dir), "--topics", topics,
                    "--encoded-queries", str(queries), "--output", str(theirs), "--hits", "9"],
                   check=True, env=env, cwd=tmp_path, capture_output=True, timeout=300)
    a, b = read_run(ours), read_run(theirs)
    assert a.keys() == b.keys() == {q for q, _ in TOPICS}
    for qid in a:  # same ranking in each file's own order (exact ties broken by docid on both sides), same scores
        assert list(a[qid]) == list(b[qid])
        np.testing.assert_allclose(list(a[qid].values()), list(b[qid].values()), atol=2e-6)


@pytest.mark.java
def test_hybrid_search_fuses_bm25_and_dense(tiny_model, collection, tmp_path):
    from lead_ir.bm25 import build_bm25_index, search_bm25
    from lead_ir.search import dense_search

    index_dir = tmp_path / "index"
    _encode(tiny_model, collection["corpus"], index_dir)
    sparse = build_bm25_index(str(collection["corpus"]), tmp_path / "bm25")
    out = tmp_path / "hybrid.trec"
    assert cli(["-q", "search", "hybrid", "--index", str(index_dir), "--sparse-index", str(sparse), "--model",
                str(tiny_model), "--topics", str(collection["topics"]), "--output", str(out), "--alpha", "0.5",
                "--k", "5", "--k0", "9"]) == 0
    hybrid = read_run(out)
    topics = dict(TOPICS)
    dense = dense_search(index_dir, tiny_model, topics, k=9)
    bm25 = search_bm25(sparse, topics, k=9)
    for qid in topics:  # score = 0.5 * bm25 + dense; a side's missing doc takes that side's minimum
        lo_s = min(bm25[qid].values())
        expected = {d: 0.5 * bm25[qid].get(d, lo_s) + dense[qid][d] for d in dense[qid]}
        top = sorted(expected.items(), key=lambda x: (-x[1], x[0]))[:5]
        assert list(hybrid[qid]) == [d for d, _ in top]
        np.testing.assert_allclose(list(hybrid[qid].values()), [s for _, s in top], atol=2e-6)
    assert read_run(out, return_tag=True)[1] == "hybrid"


MEMORY_BUDGET_MB = 768  # peak RSS (VmHWM) of the whole `lead-ir encode` process, 200,000 passages (measured ~540)


@pytest.mark.slow
def test_encode_200k_passages_within_memory_budget(tiny_model, tmp_path):
    rng = np.random.default_rng(0)
    words = np.array(WORDS)
    corpus = tmp_path / "synthetic.tsv"
    with open(corpus, "w") as fh:
        for start in range(0, 200_000, 20_000):
            lengths = rng.integers(3, 12, size=20_000)
            picks = rng.integers(0, len(words), size=(20_000, 12))
            fh.write("".join(f"p{start + i}\t{' '.join(words[picks[i, :n]])}\n" for i, n in enumerate(lengths)))
    script = textwrap.dedent(f"""
        import json, sys
        import torch
        torch.set_num_threads(1)  # tiny matmuls: threads only add contention on a shared 2-core machine
        from lead_ir.cli import main
        rc = main(["-q", "encode", "--model", {str(tiny_model)!r}, "--corpus", {str(corpus)!r},
                   "--index", {str(tmp_path / "index")!r}, "--batch-size", "256", "--chunk-size", "16384"])
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec from the (large) pytest parent.
        hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        print(json.dumps({{"rc": rc, "maxrss_kb": hwm}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_mb = report["maxrss_kb"] / 1024
    assert report["rc"] == 0
    assert sum(1 for _ in open(tmp_path / "index" / "docid")) == 200_000
    print(f"peak RSS {peak_mb:.0f} MB for 200,000 passages")
    assert peak_mb < MEMORY_BUDGET_MB, f"peak RSS {peak_mb:.0f} MB exceeds the {MEMORY_BUDGET_MB} MB budget"


def _layer_qrels(tmp_path: Path) -> tuple[dict, Path]:
    """The judgments of the layer-quality tests, as a dict and as a TREC qrels file."""
    qrels = {"q1": {"d2": 1}, "q2": {"d3": 1, "d4": 1}, "q3": {"d5": 1, "d9": 1}}
    path = tmp_path / "qrels.txt"
    path.write_text("".join(f"{q} 0 {d} {r}\n" for q, docs in qrels.items() for d, r in docs.items()))
    return qrels, path


def test_layer_quality_matches_dense_search_and_a_direct_layer_computation(collection, tmp_path, cpu_bf16):
    """The last layer's row equals `lead-ir search dense` through FAISS; layer 1 equals a direct HF mean-pool."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from lead_ir.analysis import layer_quality
    from lead_ir.evaluation import evaluate_runs

    model = build_tiny_model(tmp_path / "two-layer", layers=2, seed=3)
    qrels, qrels_path = _layer_qrels(tmp_path)
    metrics = ["ndcg@10", "recall@5"]
    table = layer_quality({"tiny": model}, str(collection["corpus"]), str(collection["topics"]), str(qrels_path),
                          metrics=metrics, max_length=32, batch_size=4, k=len(DOCS))
    assert list(table["layer"]) == [1, 2] and list(table["model"]) == ["tiny", "tiny"]

    _encode(model, collection["corpus"], tmp_path / "index", "--max-length", "32")
    out = tmp_path / "dense.trec"
    assert cli(["-q", "search", "dense", "--index", str(tmp_path / "index"), "--model", str(model), "--topics",
                str(collection["topics"]), "--output", str(out), "--k", str(len(DOCS))]) == 0
    last = evaluate_runs(qrels, {"dense": read_run(out)}, metrics).means.iloc[0]
    np.testing.assert_allclose(table.iloc[1][metrics].to_numpy(float), last[metrics].to_numpy(float), atol=1e-9)

    tok, hf = AutoTokenizer.from_pretrained(model), AutoModel.from_pretrained(model).eval()

    def layer1(texts: list[str], max_len: int) -> np.ndarray:
        batch = tok(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        with torch.no_grad():
            states = hf(**batch, output_hidden_states=True).hidden_states[1]
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (states * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    d, q = layer1([t for _, t in DOCS], 32), layer1([t for _, t in TOPICS], 16)
    run = {qid: {DOCS[j][0]: float(s[j]) for j in range(len(DOCS))} for (qid, _), s in zip(TOPICS, q @ d.T)}
    first = evaluate_runs(qrels, {"direct": run}, metrics).means.iloc[0]
    np.testing.assert_allclose(table.iloc[0][metrics].to_numpy(float), first[metrics].to_numpy(float), atol=1e-9)


def test_search_embeds_queries_in_the_precision_its_index_recorded(tiny_model, collection, tmp_path, cpu_bf16):
    """`encode --precision auto` records what auto became on this CPU; `search dense` embeds its queries in that
    precision (never an `auto` of its own), so every score is the inner product of two vectors of one precision."""
    import faiss

    from lead_ir.embed import Embedder
    from lead_ir.models.encoder import DenseEncoder

    index_dir = tmp_path / "index"
    _encode(tiny_model, collection["corpus"], index_dir, "--precision", "auto")
    resolved = json.loads((index_dir / "lead_ir.json").read_text())["precision"]
    assert resolved == ("bf16" if cpu_bf16 else "fp32")
    out = tmp_path / "dense.trec"
    assert cli(["-q", "search", "dense", "--index", str(index_dir), "--model", str(tiny_model), "--topics",
                str(collection["topics"]), "--output", str(out), "--k", "4"]) == 0
    run = read_run(out)
    docs = faiss.read_index(str(index_dir / "index")).reconstruct_n(0, len(DOCS))
    encoder = DenseEncoder.from_pretrained(tiny_model)
    queries = Embedder(encoder, "query", precision=resolved)([t for _, t in TOPICS])
    for (qid, _), qvec in zip(TOPICS, queries):
        scores = docs @ qvec
        assert list(run[qid]) == [DOCS[i][0] for i in np.argsort(-scores, kind="stable")[:4]]
        np.testing.assert_allclose(list(run[qid].values()), np.sort(scores)[::-1][:4], atol=1e-5)
    if cpu_bf16:  # the other precision gives other query vectors: following the index is what made them agree
        assert not np.allclose(Embedder(encoder, "query")([t for _, t in TOPICS]), queries, atol=1e-5)


def test_layer_quality_equals_dense_search_in_either_precision(collection, tmp_path, cpu_bf16):
    """With precision auto, `layer_quality` and `encode` + `search dense` resolve it once each to the same value,
    and the last layer's row is the dense run's score, whichever way auto resolves on this CPU."""
    from lead_ir.analysis import layer_quality
    from lead_ir.evaluation import evaluate_runs

    model = build_tiny_model(tmp_path / "two-layer", layers=2, seed=3)
    qrels, qrels_path = _layer_qrels(tmp_path)
    metrics = ["ndcg@10", "recall@5"]
    table = layer_quality({"tiny": model}, str(collection["corpus"]), str(collection["topics"]), str(qrels_path),
                          metrics=metrics, max_length=32, batch_size=4, k=len(DOCS), precision="auto")
    _encode(model, collection["corpus"], tmp_path / "index", "--max-length", "32", "--precision", "auto",
            "--batch-size", "4", "--chunk-size", "16384")
    out = tmp_path / "dense.trec"
    assert cli(["-q", "search", "dense", "--index", str(tmp_path / "index"), "--model", str(model), "--topics",
                str(collection["topics"]), "--output", str(out), "--k", str(len(DOCS))]) == 0
    last = evaluate_runs(qrels, {"dense": read_run(out)}, metrics).means.iloc[0]
    np.testing.assert_allclose(table.iloc[1][metrics].to_numpy(float), last[metrics].to_numpy(float), atol=1e-9)
