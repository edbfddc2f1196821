"""`lead-ir quickstart` (the README's main job) and `lead-ir experiment`."""

from __future__ import annotations

import argparse

from lead_ir.cli import Command


def _quickstart_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", default="work/quickstart", help="where indexes, runs and models are written")


def _quickstart(args: argparse.Namespace) -> int:
    from lead_ir.quickstart import run_quickstart

    print(run_quickstart(args.workdir))
    return 0


COMMANDS = [
    Command(("quickstart",), "the README's main job: a small LEAD study on SciFact, ending in a leaderboard",
            _quickstart_args, _quickstart),
]
