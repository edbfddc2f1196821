"""`lead-ir mine`: hard negatives from a first-stage run."""

from __future__ import annotations

import argparse

from lead_ir.cli import Command


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="first-stage TREC run (e.g. BM25 top-100 on the training topics)")
    p.add_argument("--qrels", required=True, help="qrels spec (judged-relevant documents are never negatives)")
    p.add_argument("--topics", required=True, help="topics spec (query texts)")
    p.add_argument("--output", required=True, help="output training file (JSONL)")
    p.add_argument("--depth", type=int, default=100, help="take negatives from the run's top DEPTH")
    p.add_argument("--num-negatives", type=int, default=100, help="keep at most this many negatives per query")
    p.add_argument("--min-relevance", type=int, default=1, help="relevance at or above which a document is positive")


def _run(args: argparse.Namespace) -> int:
    from lead_ir.data.collections import read_qrels, read_topics
    from lead_ir.data.negatives import mine_negatives, write_train_groups
    from lead_ir.fileio import file_fingerprint
    from lead_ir.runs import read_run

    run = read_run(args.run)
    qrels, topics = read_qrels(args.qrels), read_topics(args.topics)
    groups, stats = mine_negatives(run, qrels, topics, args.depth, args.num_negatives, args.min_relevance)
    write_train_groups(groups, args.output, stats, {
        "run": args.run, "run_fingerprint": file_fingerprint(args.run), "qrels": args.qrels, "topics": args.topics,
        "depth": args.depth, "num_negatives": args.num_negatives, "min_relevance": args.min_relevance})
    print(f"{stats.training_queries} training queries written to {args.output} "
          f"(dropped: {stats.dropped_no_positive} without a positive, {stats.dropped_no_topic} without a topic, "
          f"{stats.dropped_no_negative} without a negative; {stats.mean_negatives:.1f} negatives per query)")
    return 0


COMMANDS = [Command(("mine",), "mine hard negatives from a run into a training file", _args, _run)]
