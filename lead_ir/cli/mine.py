"""`lead-ir mine`: hard negatives from a first-stage run, or unlabeled groups (no judgments).

Labeled: ``--run --qrels --topics``. Unlabeled (``--unlabeled``): queries of ``--topics`` with their
top candidates from ``--run`` or from BM25 over ``--index``; ``--pseudo-queries titles`` builds the
queries from the titles of ``--corpus`` and leaves each title's own document out of its candidates.
"""

from __future__ import annotations

import argparse

from lead_ir.cli import Command
from lead_ir.cli.argtypes import nonneg_float, nonneg_int, positive_int, unit_float
from lead_ir.cli.topics import add_topic_field


def _args(p: argparse.ArgumentParser) -> None:
    from lead_ir.bm25 import BM25Params

    p.add_argument("--run", help="first-stage TREC run (e.g. BM25 top-100 on the training topics)")
    p.add_argument("--qrels", help="qrels spec (judged-relevant documents are never negatives); not with --unlabeled")
    p.add_argument("--topics", help="topics spec (query texts)")
    add_topic_field(p)
    p.add_argument("--output", required=True, help="output training file (JSONL)")
    p.add_argument("--depth", type=positive_int, default=100, help="take negatives from the run's top DEPTH")
    p.add_argument("--num-negatives", type=positive_int, default=100, help="keep at most this many negatives per query")
    p.add_argument("--min-relevance", type=int, default=1, help="relevance at or above which a document is positive")
    u = p.add_argument_group("unlabeled groups (no positive: they train through the teacher's distributions only)")
    u.add_argument("--unlabeled", action="store_true",
                   help="write groups without positives: the top DEPTH candidates of each query (no --qrels)")
    u.add_argument("--pseudo-queries", choices=("titles",), default=None,
                   help="unlabeled pseudo-queries built from --corpus (titles: each document's title)")
    u.add_argument("--index", help="Lucene index searched with BM25 for the candidates (instead of --run)")
    u.add_argument("--corpus", help="corpus spec the pseudo-queries are built from")
    u.add_argument("--max-queries", type=nonneg_int, default=0,
                   help="pseudo-queries: keep a seeded sample of this many (0: all)")
    u.add_argument("--min-title-words", type=positive_int, default=3, help="pseudo-queries: drop shorter titles")
    u.add_argument("--keep-source", action="store_true",
                   help="pseudo-queries: keep a title's own document among its candidates (default: leave it out)")
    u.add_argument("--seed", type=nonneg_int, default=13, help="seed of the --max-queries sample")
    u.add_argument("--k1", type=nonneg_float, default=BM25Params.k1, help="BM25 k1 (with --index; default %(default)s)")
    u.add_argument("--b", type=unit_float, default=BM25Params.b, help="BM25 b (with --index; default %(default)s)")
    u.add_argument("--threads", type=positive_int, default=1, help="BM25 search threads (with --index)")


def _run(args: argparse.Namespace) -> int:
    from lead_ir.data.negatives import mine_file
    from lead_ir.errors import LeadIRError

    if args.unlabeled or args.pseudo_queries:
        return _run_unlabeled(args)
    missing = [f"--{name}" for name in ("run", "qrels", "topics") if not getattr(args, name)]
    if missing:
        raise LeadIRError(f"mine: {' '.join(missing)} missing; give them, or --unlabeled / --pseudo-queries for "
                          f"groups without judgments")
    stats = mine_file(args.run, args.qrels, args.topics, args.output, args.depth, args.num_negatives,
                      args.min_relevance, args.topic_field)
    print(f"{stats.training_queries} training queries written to {args.output} "
          f"(dropped: {stats.dropped_no_positive} without a positive, {stats.dropped_no_topic} without a topic, "
          f"{stats.dropped_no_negative} without a negative; {stats.mean_negatives:.1f} negatives per query)")
    return 0


def _run_unlabeled(args: argparse.Namespace) -> int:
    from lead_ir.bm25 import BM25Params
    from lead_ir.data.collections import read_topics
    from lead_ir.data.unlabeled import mine_unlabeled_file, title_queries
    from lead_ir.errors import LeadIRError

    if args.qrels:
        raise LeadIRError("--unlabeled and --pseudo-queries take no --qrels (their groups have no positives); "
                          "drop one of them")
    if args.pseudo_queries:
        if args.topics or not args.corpus or not args.index:
            raise LeadIRError("--pseudo-queries builds the queries from --corpus and searches them in --index; give "
                              "both, and no --topics")
        topics = title_queries(args.corpus, args.min_title_words, args.max_queries, args.seed)
    elif not args.topics:
        raise LeadIRError("--unlabeled needs --topics (the queries), or --pseudo-queries titles with --corpus")
    else:
        topics = read_topics(args.topics, args.topic_field)
    exclude = bool(args.pseudo_queries) and not args.keep_source
    source = {"topics": args.topics, "pseudo_queries": args.pseudo_queries, "corpus": args.corpus,
              "max_queries": args.max_queries, "seed": args.seed}
    stats = mine_unlabeled_file(topics, args.output, args.depth, args.num_negatives, exclude, run=args.run,
                                index=args.index, params=BM25Params(k1=args.k1, b=args.b), threads=args.threads,
                                source=source)
    print(f"{stats['unlabeled_queries']} unlabeled training queries written to {args.output} "
          f"({stats['mean_candidates']:.1f} candidates per query; dropped: {stats['dropped_no_topic']} without a "
          f"topic, {stats['dropped_no_candidate']} without a candidate)")
    return 0


COMMANDS = [Command(("mine",), "mine hard negatives (or unlabeled candidates) into a training file", _args, _run)]
