"""`lead-ir encode`, `encode-queries`, `index merge`, `search dense`, `search hybrid` and `fuse`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from lead_ir.cli import Command


def _tag(kind: str, output: str, given: str | None) -> str:
    """A run tag unique per output file: ``<kind>-<output stem>`` unless given."""
    return given or f"{kind}-" + re.sub(r"\s+", "_", Path(output).name.split(".")[0])


def _model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="checkpoint dir, HF name, or sentence-transformers/all-MiniLM-L6-v2")


# --------------------------------------------------------------------------- encode
def _encode_args(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--corpus", required=True, help="corpus spec: irds:<id>, JSONL/TSV/TREC file or folder")
    p.add_argument("--index", required=True, help="output FAISS index folder (Pyserini layout)")
    p.add_argument("--batch-size", type=int, default=64, help="passages per forward pass")
    p.add_argument("--max-length", type=int, default=None, help="passage max tokens (default: the checkpoint's)")
    p.add_argument("--fp16", action="store_true", help="half precision (GPU only)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast (GPU, or a CPU with AVX512-BF16/AMX); vectors stay float32")
    p.add_argument("--factory", default="Flat", help="FAISS index_factory string, inner product (Flat, HNSW32, "
                                                     "IVF4096,PQ64, ...)")
    p.add_argument("--train-size", type=int, default=200_000, help="vectors sampled to train IVF/PQ factories")
    p.add_argument("--seed", type=int, default=0, help="seed of the training sample")
    p.add_argument("--shard", default="0/1", help="encode shard i of n (documents at position %% n == i)")
    p.add_argument("--chunk-size", type=int, default=16384, help="documents per length-sorted, resumable chunk")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--keep-chunks", action="store_true", help="keep the float32 .npy chunks after indexing")


def _encode_run(args: argparse.Namespace) -> int:
    from lead_ir.encode import EncodeOptions, describe, encode_corpus, parse_shard

    options = EncodeOptions(batch_size=args.batch_size, max_length=args.max_length, fp16=args.fp16, bf16=args.bf16,
                            chunk_size=args.chunk_size, shard=parse_shard(args.shard), device=args.device)
    meta = encode_corpus(args.model, args.corpus, args.index, options, factory=args.factory,
                         train_size=args.train_size, seed=args.seed, keep_chunks=args.keep_chunks)
    print(f"{args.index}: {describe(meta)}")
    return 0


def _merge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="shard index folders from `lead-ir encode --shard i/n --factory Flat`")
    p.add_argument("--output", required=True, help="merged index folder")
    p.add_argument("--factory", default="Flat", help="FAISS index_factory string of the merged index")
    p.add_argument("--train-size", type=int, default=200_000, help="vectors sampled to train IVF/PQ factories")
    p.add_argument("--seed", type=int, default=0, help="seed of the training sample")


def _merge_run(args: argparse.Namespace) -> int:
    from lead_ir.encode import describe
    from lead_ir.index import merge_indexes

    meta = merge_indexes(args.inputs, args.output, factory=args.factory, train_size=args.train_size, seed=args.seed)
    print(f"{args.output}: {describe(meta)}")
    return 0


def _queries_args(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--topics", required=True, help="topics spec: registry name, irds:<id> or file")
    p.add_argument("--output", required=True, help="output folder for Pyserini's --encoded-queries (embedding.pkl)")
    p.add_argument("--batch-size", type=int, default=64, help="queries per forward pass")


def _queries_run(args: argparse.Namespace) -> int:
    from lead_ir.data.collections import read_topics
    from lead_ir.search import write_encoded_queries

    topics = read_topics(args.topics)
    write_encoded_queries(args.model, topics, args.output, batch_size=args.batch_size)
    print(f"{args.output}: {len(topics)} encoded queries")
    return 0


# --------------------------------------------------------------------------- search
def _search_common(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--index", required=True, help="FAISS index folder from `lead-ir encode`")
    p.add_argument("--topics", required=True, help="topics spec: registry name, irds:<id> or file")
    p.add_argument("--output", required=True, help="output TREC run")
    p.add_argument("--k", type=int, default=1000, help="hits per query")
    p.add_argument("--batch-size", type=int, default=64, help="queries per batch")
    p.add_argument("--threads", type=int, default=1, help="FAISS / Lucene search threads")
    p.add_argument("--tag", default=None, help="run tag (default: <kind>-<output file stem>)")
    p.add_argument("--corpus", default=None, help="check that the index was encoded from this corpus (fingerprint)")


def _dense_run(args: argparse.Namespace) -> int:
    from lead_ir.data.collections import read_topics
    from lead_ir.runs import write_run
    from lead_ir.search import dense_search

    if args.corpus:
        from lead_ir.index import check_corpus

        check_corpus(args.index, args.corpus)
    topics = read_topics(args.topics)
    run = dense_search(args.index, args.model, topics, k=args.k, batch_size=args.batch_size, threads=args.threads)
    write_run(run, args.output, tag=_tag("dense", args.output, args.tag), k=args.k, query_order=list(topics))
    print(f"{args.output}: {len(run)} queries")
    return 0


def _hybrid_args(p: argparse.ArgumentParser) -> None:
    _search_common(p)
    p.add_argument("--sparse-index", required=True, help="Lucene BM25 index from `lead-ir index bm25`")
    p.add_argument("--k0", type=int, default=1000, help="hits taken from each side before fusing")
    p.add_argument("--alpha", type=float, default=0.1, help="weight of BM25 (of dense with --weight-on-dense)")
    p.add_argument("--normalization", action="store_true", help="min-max centre each side per query first")
    p.add_argument("--weight-on-dense", action="store_true", help="score = bm25 + alpha * dense")
    p.add_argument("--k1", type=float, default=0.9, help="BM25 k1")
    p.add_argument("--b", type=float, default=0.4, help="BM25 b")


def _hybrid_run(args: argparse.Namespace) -> int:
    from lead_ir.data.collections import read_topics
    from lead_ir.runs import write_run
    from lead_ir.search import hybrid_search

    topics = read_topics(args.topics)
    run = hybrid_search(args.index, args.sparse_index, args.model, topics, k=args.k, k0=args.k0, alpha=args.alpha,
                        normalization=args.normalization, weight_on_dense=args.weight_on_dense,
                        batch_size=args.batch_size, threads=args.threads, k1=args.k1, b=args.b)
    write_run(run, args.output, tag=_tag("hybrid", args.output, args.tag), k=args.k, query_order=list(topics))
    print(f"{args.output}: {len(run)} queries")
    return 0


# --------------------------------------------------------------------------- fuse
def _fuse_args(p: argparse.ArgumentParser) -> None:
    from lead_ir.fusion import METHODS, NORMS

    p.add_argument("runs", nargs="+", help="TREC runs to fuse (same topics)")
    p.add_argument("--output", required=True, help="output TREC run")
    p.add_argument("--method", default="rrf", choices=METHODS, help="ranx fusion method")
    p.add_argument("--norm", default="min-max", choices=NORMS, help="score normalisation before fusing")
    p.add_argument("--weights", type=float, nargs="+", default=None, help="fixed weights (wsum, wmnz, ...)")
    p.add_argument("--rrf-k", type=int, default=None, help="fixed RRF k (default: ranx's 60)")
    p.add_argument("--optimize-on", default=None, metavar="QRELS", help="choose parameters on these dev qrels")
    p.add_argument("--dev-runs", nargs="+", default=None, help="dev-query runs, one per run, same order")
    p.add_argument("--dev-fraction", type=float, default=1.0, help="tune on a seeded fraction of the dev queries")
    p.add_argument("--seed", type=int, default=0, help="seed of the dev fraction")
    p.add_argument("--metric", default="ndcg@10", help="metric to optimise")
    p.add_argument("--step", type=float, default=0.1, help="weight grid step")
    p.add_argument("--k", type=int, default=1000, help="hits per query in the output")
    p.add_argument("--tag", default=None, help="run tag (default: fuse-<output file stem>)")


def _names(paths: list[str]) -> list[str]:
    names = [Path(p).name for p in paths]
    return [f"{n}#{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]


def _fuse_run(args: argparse.Namespace) -> int:
    import json

    from lead_ir import fusion
    from lead_ir.data.collections import read_qrels
    from lead_ir.errors import LeadIRError
    from lead_ir.runs import read_run, write_run

    runs = [read_run(p) for p in args.runs]
    names = _names(args.runs)
    if args.optimize_on:
        if not args.dev_runs:
            raise LeadIRError("--optimize-on needs --dev-runs: the same systems run on the dev topics")
        fused, info = fusion.fuse_with_dev(runs, [read_run(p) for p in args.dev_runs], names,
                                           read_qrels(args.optimize_on), method=args.method, norm=args.norm,
                                           metric=args.metric, dev_fraction=args.dev_fraction, seed=args.seed,
                                           step=args.step)
    else:
        params = {}
        if args.weights:
            if len(args.weights) != len(runs):
                raise LeadIRError(f"--weights has {len(args.weights)} values for {len(runs)} runs")
            params["weights"] = args.weights
        if args.rrf_k:
            params["k"] = args.rrf_k
        fused, info = fusion.fuse(runs, names, method=args.method, norm=args.norm, params=params), {"params": params}
    write_run(fused, args.output, tag=_tag("fuse", args.output, args.tag), k=args.k)
    print(f"{args.output}: {len(fused)} queries, {args.method} {json.dumps(info)}")
    return 0


COMMANDS = [
    Command(("encode",), "encode a corpus into a Pyserini FAISS index", _encode_args, _encode_run),
    Command(("encode-queries",), "pre-encode topics in Pyserini's --encoded-queries format", _queries_args,
            _queries_run),
    Command(("index", "merge"), "merge `encode --shard` indexes", _merge_args, _merge_run),
    Command(("search", "dense"), "dense search via Pyserini's FaissSearcher", _search_common, _dense_run),
    Command(("search", "hybrid"), "BM25 + dense via Pyserini's HybridSearcher", _hybrid_args, _hybrid_run),
    Command(("fuse",), "fuse runs with ranx (parameters tuned on dev queries)", _fuse_args, _fuse_run),
]
