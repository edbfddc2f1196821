"""`lead-ir train` (and ``python -m lead_ir.train``): teacher warm-up, contrastive training and LEAD distillation.

The arguments and the run live here, not in :mod:`lead_ir.train`: importing that submodule
would shadow the top-level ``lead_ir.train`` function.
"""

from __future__ import annotations

import argparse

from lead_ir.cli import Command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML training config (see configs/train-*.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in run.output_dir")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=3e-5")


def run(args: argparse.Namespace) -> dict:
    """Load the config (file + overrides) and train."""
    from lead_ir.config import load_config
    from lead_ir.training import distributed
    from lead_ir.training.config import TrainConfig
    from lead_ir.training.loop import train

    overrides = list(args.overrides) + (["run.resume=true"] if args.resume else [])
    cfg = load_config(TrainConfig, args.config, overrides)
    try:
        return train(cfg)
    finally:
        distributed.cleanup()


def _run(args: argparse.Namespace) -> int:
    import json
    import logging

    summary = run(args)
    logging.getLogger("lead_ir").info("training summary: %s", json.dumps(summary))
    return 0


COMMANDS = [Command(path=("train",), help="train a dense/ColBERT/cross-encoder model or distil a student (LEAD)",
                    add_arguments=add_arguments, run=_run)]
