"""`lead-ir index bm25` and `lead-ir search bm25`."""

from __future__ import annotations

import argparse

from lead_ir.cli import Command
from lead_ir.cli.argtypes import nonneg_float, positive_int, unit_float
from lead_ir.cli.topics import add_topic_field


def _index_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, help="corpus spec: irds:<id>, JSONL, TSV, TREC SGML file or folder")
    p.add_argument("--index", required=True, help="output Lucene index folder")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="indexing threads (default: CPU count, at most 8)")
    p.add_argument("--store-raw", action="store_true",
                   help="also store each raw document, for Pyserini's LuceneSearcher.doc(id).raw(); searches load it "
                        "for every hit, so a 1000-deep search takes about twice as long")


def _index(args: argparse.Namespace) -> int:
    from lead_ir.bm25 import build_bm25_index, default_threads

    out = build_bm25_index(args.corpus, args.index, threads=args.threads or default_threads(),
                           store_raw=args.store_raw)
    print(f"Lucene index written to {out}")
    return 0


def _search_args(p: argparse.ArgumentParser) -> None:
    from lead_ir.bm25 import BM25Params

    p.add_argument("--index", required=True, help="Lucene index folder (from `lead-ir index bm25`)")
    p.add_argument("--topics", required=True, help="topics spec: irds:<id>, registry name, TREC (SGML or XML), "
                                                   "TSV, CSV or JSONL file")
    add_topic_field(p)
    p.add_argument("--output", required=True, help="output TREC run file")
    p.add_argument("--k", type=positive_int, default=1000, help="hits per query")
    p.add_argument("--k1", type=nonneg_float, default=BM25Params.k1, help="BM25 k1 (default %(default)s)")
    p.add_argument("--b", type=unit_float, default=BM25Params.b, help="BM25 b (default %(default)s)")
    p.add_argument("--rm3", action="store_true", help="RM3 pseudo-relevance feedback")
    p.add_argument("--threads", type=positive_int, default=None, help="search threads (default: CPU count, at most 8)")
    p.add_argument("--tag", default=None, help="run tag (default: bm25-k1-<k1>-b-<b>[-rm3])")


def _search(args: argparse.Namespace) -> int:
    from lead_ir.bm25 import BM25Params, search_bm25
    from lead_ir.runs import search_to_run

    params = BM25Params(k1=args.k1, b=args.b, rm3=args.rm3)
    run = search_to_run(lambda topics: search_bm25(args.index, topics, k=args.k, params=params, threads=args.threads),
                        args.topics, args.output, tag=args.tag or params.tag(), k=args.k, field=args.topic_field)
    print(f"{len(run)} queries searched; run written to {args.output}")
    return 0


COMMANDS = [
    Command(("index", "bm25"), "build a Lucene BM25 index with Pyserini/Anserini", _index_args, _index),
    Command(("search", "bm25"), "BM25 batch search with Anserini's SimpleSearcher (the one Pyserini's LuceneSearcher "
                                "wraps)", _search_args, _search),
]
