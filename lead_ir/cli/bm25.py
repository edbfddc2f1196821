"""`lead-ir index bm25` and `lead-ir search bm25`."""

from __future__ import annotations

import argparse

from lead_ir.cli import Command


def _index_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="corpus spec: irds:<id>, JSONL, TSV, TREC SGML file or folder")
    p.add_argument("--index", required=True, help="output Lucene index folder")
    p.add_argument("--threads", type=int, default=None, help="indexing threads (default: CPU count, at most 8)")


def _index(args: argparse.Namespace) -> int:
    from lead_ir.bm25 import build_bm25_index, default_threads

    out = build_bm25_index(args.corpus, args.index, threads=args.threads or default_threads())
    print(f"Lucene index written to {out}")
    return 0


def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", required=True, help="Lucene index folder (from `lead-ir index bm25`)")
    p.add_argument("--topics", required=True, help="topics spec: irds:<id>, registry name, TSV/TREC/JSONL file")
    p.add_argument("--output", required=True, help="output TREC run file")
    p.add_argument("--k", type=int, default=1000, help="hits per query")
    p.add_argument("--k1", type=float, default=0.9)
    p.add_argument("--b", type=float, default=0.4)
    p.add_argument("--rm3", action="store_true", help="RM3 pseudo-relevance feedback")
    p.add_argument("--threads", type=int, default=None, help="search threads (default: CPU count, at most 8)")
    p.add_argument("--tag", default=None, help="run tag (default: bm25-k1-<k1>-b-<b>[-rm3])")


def _search(args: argparse.Namespace) -> int:
    from lead_ir.bm25 import BM25Params, default_threads, search_bm25
    from lead_ir.data.collections import read_topics
    from lead_ir.runs import write_run

    params = BM25Params(k1=args.k1, b=args.b, rm3=args.rm3)
    topics = read_topics(args.topics)
    run = search_bm25(args.index, topics, k=args.k, params=params, threads=args.threads or default_threads())
    tag = args.tag or f"bm25-k1-{args.k1:g}-b-{args.b:g}" + ("-rm3" if args.rm3 else "")
    write_run(run, args.output, tag=tag, k=args.k, query_order=list(topics))
    print(f"{len(run)} queries searched; run written to {args.output}")
    return 0


COMMANDS = [
    Command(("index", "bm25"), "build a Lucene BM25 index with Pyserini/Anserini", _index_args, _index),
    Command(("search", "bm25"), "BM25 batch search with Pyserini's LuceneSearcher", _search_args, _search),
]
