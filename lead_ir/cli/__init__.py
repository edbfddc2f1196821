"""The ``lead-ir`` command line: a thin layer over the Python API.

Each module in :data:`COMMAND_MODULES` exposes ``COMMANDS``, a list of :class:`Command`
(a path of sub-command words, help, an ``add_arguments(parser)`` and a ``run(args)``).
Heavy libraries are imported inside ``run`` so ``lead-ir --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from lead_ir.errors import LeadIRError
from lead_ir.log import setup_logging

COMMAND_MODULES = [
    "lead_ir.cli.doctor",
    "lead_ir.cli.bm25",
    "lead_ir.cli.mine",
    "lead_ir.cli.train",
    "lead_ir.cli.dense",
    "lead_ir.cli.evaluate",
    "lead_ir.cli.experiment",
]


@dataclass
class Command:
    path: tuple[str, ...]  # e.g. ("index", "bm25")
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lead-ir", description="LEAD distillation and Pyserini/ranx IR toolkit")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info logs")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    root = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {(): root}
    parents: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for module_name in COMMAND_MODULES:
        for cmd in importlib.import_module(module_name).COMMANDS:
            for depth in range(1, len(cmd.path)):
                prefix = cmd.path[:depth]
                if prefix not in groups:
                    sub = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                    parents[prefix] = sub
                    groups[prefix] = sub.add_subparsers(dest="_".join(prefix) + "_command", metavar="COMMAND")
            text = re.sub(r"(?<!%)%(?![%(])", "%%", cmd.help)  # argparse formats help with %
            sub = groups[cmd.path[:-1]].add_parser(cmd.path[-1], help=text, description=text)
            cmd.add_arguments(sub)
            sub.set_defaults(_run=cmd.run)
    for sub in parents.values():
        sub.set_defaults(_group=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        (getattr(args, "_group", None) or parser).print_help(sys.stderr)
        return 2
    setup_logging(args.verbose, args.quiet)
    try:
        return int(args._run(args) or 0)
    except LeadIRError as exc:
        if args.debug:
            raise
        print(f"lead-ir: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        logging.getLogger("lead_ir").warning("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
