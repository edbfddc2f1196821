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
    "lead_ir.cli.topics",
]


@dataclass
class Command:
    path: tuple[str, ...]  # e.g. ("index", "bm25")
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one ``lead-ir: error:`` line (exit 2), like every other error."""

    def error(self, message: str):
        text = " ".join(message.split())
        self.exit(2, f"lead-ir: error: {self.prog}: {text}; see `{self.prog} --help`\n")


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` unless the default is None/False or the help already names its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from lead_ir.cli.argtypes import harden

    parser = _Parser(prog="lead-ir", description="LEAD distillation and Pyserini/ranx IR toolkit")
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
            sub = groups[cmd.path[:-1]].add_parser(cmd.path[-1], help=text, description=cmd.help,
                                                   formatter_class=_DefaultsFormatter)
            cmd.add_arguments(sub)
            harden(sub)
            sub.set_defaults(_run=cmd.run)
    for sub in parents.values():
        sub.set_defaults(_group=sub)
    return parser


def error_line(exc: BaseException) -> str:
    """The one-line message for an exception that reaches the CLI boundary."""
    from lead_ir.fileio import os_error_message

    if isinstance(exc, LeadIRError):
        text = str(exc)
    elif isinstance(exc, OSError):
        text = os_error_message(exc)
    elif isinstance(exc, UnicodeDecodeError):
        text = (f"an input is not valid UTF-8 (byte 0x{exc.object[exc.start:exc.start + 1].hex()} at byte offset "
                f"{exc.start}); save it as UTF-8")
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error, already printed as one line (2)
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "_run", None) is None:
        (getattr(args, "_group", None) or parser).print_help(sys.stderr)
        return 2
    setup_logging(args.verbose, args.quiet)
    try:
        from lead_ir.environment import configure_data_home

        configure_data_home()  # before any ir_datasets import: the clone's data cache when IR_DATASETS_HOME is unset
        return int(args._run(args) or 0)
    except (LeadIRError, OSError, UnicodeError) as exc:
        # The one error boundary: user errors, operating-system errors (permissions, a directory
        # where a file belongs, read-only or full disks, ...) and undecodable text become one line.
        if args.debug:
            raise
        print(f"lead-ir: error: {error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        logging.getLogger("lead_ir").warning("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
