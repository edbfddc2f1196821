"""`lead-ir topics split` and `lead-ir topics export`: thin wrappers over :mod:`lead_ir.data.split`
and :func:`lead_ir.data.collections.export_topics`."""

from __future__ import annotations

import argparse

from lead_ir.cli import Command

TOPIC_FIELD_HELP = ("topic text: title (default), desc, narr, or a join such as title+desc (TREC topics, TREC XML "
                    "query/question/narrative, or TSV/CSV/JSONL columns)")


def add_topic_field(p: argparse.ArgumentParser) -> None:
    """The ``--topic-field`` option of every command that reads topics."""
    p.add_argument("--topic-field", default=None, metavar="FIELD", help=TOPIC_FIELD_HELP)


def _split_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topics", required=True, help="topics spec: TREC/XML/TSV/CSV/JSONL file, irds:<id> or registry "
                                                   "name")
    p.add_argument("--qrels", required=True, help="qrels spec of the same topics")
    p.add_argument("--output-dir", required=True, help="folder for {train,dev,test}-topics.tsv, "
                                                       "{train,dev,test}-qrels.txt and split.json")
    p.add_argument("--test", type=float, default=None, metavar="FRACTION", help="share of topics held out as test")
    p.add_argument("--dev", type=float, default=None, metavar="FRACTION", help="share of topics held out as dev")
    p.add_argument("--test-ids", default=None, metavar="FILE", help="test query ids, one per line (instead of --test)")
    p.add_argument("--dev-ids", default=None, metavar="FILE", help="dev query ids, one per line (instead of --dev)")
    p.add_argument("--seed", type=int, default=13, help="seed of the split (by qid; default 13)")
    p.add_argument("--keep-unjudged", action="store_true",
                   help="also split topics without a relevant judgment (default: leave them out)")
    add_topic_field(p)


def _split(args: argparse.Namespace) -> int:
    from lead_ir.data.split import split_topic_set

    fractions = {name: value for name, value in (("test", args.test), ("dev", args.dev)) if value is not None}
    id_files = {name: value for name, value in (("test", args.test_ids), ("dev", args.dev_ids)) if value}
    result = split_topic_set(args.topics, args.qrels, args.output_dir, fractions, id_files, seed=args.seed,
                             field=args.topic_field, judged_only=not args.keep_unjudged)
    print(result.summary())
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("topics", metavar="TOPICS", help="topics spec: registry name (dl19-passage), irds:<id> or a "
                                                    "TREC/XML/TSV/CSV/JSONL file")
    p.add_argument("--output", required=True, help="output qid<TAB>text TSV (Pyserini/Anserini --topics)")
    add_topic_field(p)


def _export(args: argparse.Namespace) -> int:
    from lead_ir.data.collections import export_topics

    count = export_topics(args.topics, args.output, args.topic_field)
    print(f"{count} topics written to {args.output}")
    return 0


COMMANDS = [
    Command(("topics", "split"), "split a topic set and its qrels into train/dev/test files (seeded, by fraction "
                                 "or id lists)", _split_args, _split),
    Command(("topics", "export"), "write any topic set as the qid<TAB>text TSV Pyserini reads", _export_args,
            _export),
]
