"""`lead-ir train`: teacher warm-up, contrastive training and LEAD distillation."""

from __future__ import annotations

import argparse

from lead_ir.cli import Command


def _args(parser: argparse.ArgumentParser) -> None:
    from lead_ir.train import add_arguments

    add_arguments(parser)


def _run(args: argparse.Namespace) -> int:
    import json
    import logging

    from lead_ir.train import run

    summary = run(args)
    logging.getLogger("lead_ir").info("training summary: %s", json.dumps(summary))
    return 0


COMMANDS = [Command(path=("train",), help="train a dense/ColBERT/cross-encoder model or distil a student (LEAD)",
                    add_arguments=_args, run=_run)]
