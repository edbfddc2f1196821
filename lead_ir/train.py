"""``python -m lead_ir.train --config X.yaml [key=value ...]`` (also under ``torchrun``).

Trains a dual encoder, ColBERT or cross-encoder alone (teacher warm-up, contrastive baseline)
or distils a student from a teacher with LEAD; see :mod:`lead_ir.training` and
``configs/train-*.yaml``.
"""

from __future__ import annotations

import argparse
import sys

from lead_ir.config import load_config
from lead_ir.errors import LeadIRError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML training config (see configs/train-*.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in run.output_dir")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=3e-5")


def run(args: argparse.Namespace) -> dict:
    """Load the config (file + overrides) and train."""
    from lead_ir.training import distributed
    from lead_ir.training.config import TrainConfig
    from lead_ir.training.loop import train

    overrides = list(args.overrides) + (["run.resume=true"] if args.resume else [])
    cfg = load_config(TrainConfig, args.config, overrides)
    try:
        return train(cfg)
    finally:
        distributed.cleanup()


def main(argv: list[str] | None = None) -> int:
    from lead_ir.log import setup_logging

    parser = argparse.ArgumentParser(prog="python -m lead_ir.train", description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info logs")
    add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(0, args.quiet)
    try:
        run(args)
    except LeadIRError as exc:
        print(f"lead_ir.train: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
