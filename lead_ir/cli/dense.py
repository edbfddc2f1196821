"""`lead-ir encode`, `encode-queries`, `index merge`, `search dense`, `search hybrid` and `fuse`."""

from __future__ import annotations

import argparse
from pathlib import Path

from lead_ir.cli import Command
from lead_ir.cli.argtypes import fraction, nonneg_float, positive_float, positive_int, unit_float
from lead_ir.cli.topics import add_topic_field


def _tag(kind: str, output: str, given: str | None) -> str:
    """A run tag unique per output file (policy: :func:`lead_ir.runs.run_tag`)."""
    from lead_ir.runs import run_tag

    return run_tag(kind, output, given)


def _model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="checkpoint dir, HF name, sentence-transformers/all-MiniLM-L6-v2, "
                                                  "or pymodule:<package> (see lead_ir.resolve)")


# --------------------------------------------------------------------------- encode
def _encode_args(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--corpus", required=True, help="corpus spec: irds:<id>, JSONL/TSV/TREC file or folder")
    p.add_argument("--index", required=True, help="output FAISS index folder (Pyserini layout)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="passages per forward pass")
    p.add_argument("--max-length", type=positive_int, default=None,
                   help="passage max tokens (default: the checkpoint's)")
    p.add_argument("--precision", default=None, choices=("auto", "fp32", "bf16", "fp16"),
                   help="default fp32: the same vectors on every machine; auto: bfloat16 autocast on a GPU or a "
                        "CPU with AVX512-BF16/AMX (faster), float32 elsewhere (`lead-ir doctor` says which); fp16: "
                        "half weights (GPU only). Vectors are float32 whatever the precision, and lead_ir.json "
                        "records it, so searches embed their queries in the same one")
    p.add_argument("--fp16", action="store_true", help="alias of --precision fp16")
    p.add_argument("--bf16", action="store_true", help="alias of --precision bf16")
    p.add_argument("--factory", default="Flat", help="FAISS index_factory string, inner product (Flat, HNSW32, "
                                                     "IVF4096,PQ64, ...)")
    p.add_argument("--train-size", type=positive_int, default=None,
                   help="vectors sampled to train IVF/PQ factories (default: lead_ir.index.TRAIN_SIZE, 200000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the training sample")
    p.add_argument("--shard", default="0/1", help="encode shard i of n (documents at position %% n == i)")
    p.add_argument("--chunk-size", type=positive_int, default=16384,
                   help="documents per length-sorted, resumable chunk")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--keep-chunks", action="store_true", help="keep the float32 .npy chunks after indexing")


def _encode_run(args: argparse.Namespace) -> int:
    from lead_ir.encode import EncodeOptions, describe, encode_corpus, parse_shard

    options = EncodeOptions(batch_size=args.batch_size, max_length=args.max_length, precision=args.precision,
                            fp16=args.fp16, bf16=args.bf16, chunk_size=args.chunk_size, shard=parse_shard(args.shard),
                            device=args.device)
    meta = encode_corpus(args.model, args.corpus, args.index, options, factory=args.factory,
                         train_size=args.train_size, seed=args.seed, keep_chunks=args.keep_chunks)
    rate = f", {meta['docs_per_s']} docs/s" if meta.get("docs_per_s") else ""
    print(f"{args.index}: {describe(meta)} ({meta['precision']}{rate})")
    return 0


def _merge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="shard index folders from `lead-ir encode --shard i/n --factory Flat`")
    p.add_argument("--output", required=True, help="merged index folder")
    p.add_argument("--factory", default="Flat", help="FAISS index_factory string of the merged index")
    p.add_argument("--train-size", type=positive_int, default=None,
                   help="vectors sampled to train IVF/PQ factories (default: lead_ir.index.TRAIN_SIZE, 200000)")
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
    add_topic_field(p)
    p.add_argument("--output", required=True, help="output folder for Pyserini's --encoded-queries (embedding.pkl)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="queries per forward pass")
    p.add_argument("--precision", default="fp32", choices=("auto", "fp32", "bf16", "fp16"),
                   help="precision of the query encoder: use the one the index was encoded in (its lead_ir.json)")


def _queries_run(args: argparse.Namespace) -> int:
    from lead_ir.data.collections import read_topics
    from lead_ir.search import write_encoded_queries

    topics = read_topics(args.topics, args.topic_field)
    write_encoded_queries(args.model, topics, args.output, batch_size=args.batch_size, precision=args.precision)
    print(f"{args.output}: {len(topics)} encoded queries")
    return 0


# --------------------------------------------------------------------------- search
def _search_common(p: argparse.ArgumentParser) -> None:
    _model(p)
    p.add_argument("--index", required=True, help="FAISS index folder from `lead-ir encode`")
    p.add_argument("--topics", required=True, help="topics spec: registry name, irds:<id> or file")
    add_topic_field(p)
    p.add_argument("--output", required=True, help="output TREC run")
    p.add_argument("--k", type=positive_int, default=1000, help="hits per query")
    p.add_argument("--batch-size", type=positive_int, default=64, help="queries per batch")
    p.add_argument("--threads", type=positive_int, default=1, help="FAISS / Lucene search threads")
    p.add_argument("--tag", default=None, help="run tag (default: <kind>-<output file stem>)")
    p.add_argument("--corpus", default=None, help="check that the index was encoded from this corpus (fingerprint)")
    p.add_argument("--query-precision", default="index", choices=("index", "auto", "fp32", "bf16", "fp16"),
                   help="precision of the query encoder; index: the one the index was encoded in (its lead_ir.json; "
                        "fp32 without one), so both sides of every score agree")


def _dense_run(args: argparse.Namespace) -> int:
    from lead_ir.runs import search_to_run
    from lead_ir.search import dense_search

    if args.corpus:
        from lead_ir.index import check_corpus

        check_corpus(args.index, args.corpus)
    run = search_to_run(lambda topics: dense_search(args.index, args.model, topics, k=args.k,
                                                    batch_size=args.batch_size, threads=args.threads,
                                                    precision=args.query_precision),
                        args.topics, args.output, tag=_tag("dense", args.output, args.tag), k=args.k,
                        field=args.topic_field)
    print(f"{args.output}: {len(run)} queries")
    return 0


def _hybrid_args(p: argparse.ArgumentParser) -> None:
    from lead_ir.bm25 import BM25Params

    _search_common(p)
    p.add_argument("--sparse-index", required=True, help="Lucene BM25 index from `lead-ir index bm25`")
    p.add_argument("--k0", type=positive_int, default=1000, help="hits taken from each side before fusing")
    p.add_argument("--alpha", type=float, default=0.1, help="weight of BM25 (of dense with --weight-on-dense)")
    p.add_argument("--normalization", action="store_true", help="min-max centre each side per query first")
    p.add_argument("--weight-on-dense", action="store_true", help="score = bm25 + alpha * dense")
    p.add_argument("--k1", type=nonneg_float, default=BM25Params.k1, help="BM25 k1 (default %(default)s)")
    p.add_argument("--b", type=unit_float, default=BM25Params.b, help="BM25 b (default %(default)s)")


def _hybrid_run(args: argparse.Namespace) -> int:
    from lead_ir.runs import search_to_run
    from lead_ir.search import hybrid_search

    def search(topics: dict[str, str]):
        return hybrid_search(args.index, args.sparse_index, args.model, topics, k=args.k, k0=args.k0,
                             alpha=args.alpha, normalization=args.normalization,
                             weight_on_dense=args.weight_on_dense, batch_size=args.batch_size, threads=args.threads,
                             k1=args.k1, b=args.b, precision=args.query_precision)

    run = search_to_run(search, args.topics, args.output, tag=_tag("hybrid", args.output, args.tag), k=args.k,
                        field=args.topic_field)
    print(f"{args.output}: {len(run)} queries")
    return 0


# --------------------------------------------------------------------------- fuse
def _fuse_args(p: argparse.ArgumentParser) -> None:
    from lead_ir.fusion import METHODS, NORMS

    p.add_argument("runs", nargs="+", help="TREC runs to fuse (same topics)")
    p.add_argument("--output", required=True, help="output TREC run")
    p.add_argument("--method", default="rrf", choices=METHODS, help="ranx fusion method")
    p.add_argument("--norm", default="min-max", choices=NORMS, help="score normalisation before fusing")
    p.add_argument("--weights", type=nonneg_float, nargs="+", default=None, help="fixed weights (wsum, wmnz, ...)")
    p.add_argument("--rrf-k", type=positive_int, default=None, help="fixed RRF k (default: ranx's 60)")
    p.add_argument("--optimize-on", default=None, metavar="QRELS", help="choose parameters on these dev qrels")
    p.add_argument("--dev-runs", nargs="+", default=None, help="dev-query runs, one per run, same order")
    p.add_argument("--dev-fraction", type=fraction, default=1.0, help="tune on a seeded fraction of the dev queries")
    p.add_argument("--seed", type=int, default=0, help="seed of the dev fraction")
    p.add_argument("--metric", default="ndcg@10", help="metric to optimise")
    p.add_argument("--step", type=positive_float, default=0.1, help="weight grid step")
    p.add_argument("--k", type=positive_int, default=1000,
                   help="depth of the output: the K best fused hits per query are written (default 1000, as "
                        "Pyserini's fusion); fusion itself keeps every hit of every run")
    p.add_argument("--tag", default=None, help="run tag (default: fuse-<output file stem>)")


def _names(paths: list[str]) -> list[str]:
    names = [Path(p).name for p in paths]
    return [f"{n}#{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]


def _fuse_run(args: argparse.Namespace) -> int:
    from lead_ir import fusion
    from lead_ir.runs import write_run

    names = _names(args.runs)
    params = {"weights": args.weights} if args.weights else {}
    params |= {"k": args.rrf_k} if args.rrf_k else {}
    fused, info = fusion.fuse_runs(args.runs, names, method=args.method, norm=args.norm, params=params,
                                   dev_runs=args.dev_runs, qrels=args.optimize_on, metric=args.metric,
                                   dev_fraction=args.dev_fraction, seed=args.seed, step=args.step)
    write_run(fused, args.output, tag=_tag("fuse", args.output, args.tag), k=args.k)
    line = (f"{args.output}: {len(fused)} queries, {args.method} ({args.norm}) "
            f"{fusion.describe_params(info['params'], names)}")
    if "dev_score" in info:
        line += f"; chosen on {info['dev_queries']} dev queries, dev {info['metric']} {info['dev_score']:.4f}"
    print(line)
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
