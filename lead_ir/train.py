"""``python -m lead_ir.train --config X.yaml [key=value ...]`` (also under ``torchrun``).

Trains a dual encoder, ColBERT or cross-encoder alone (teacher warm-up, contrastive baseline)
or distils a student from a teacher with LEAD; see :mod:`lead_ir.training` and
``configs/train-*.yaml``.
"""

from __future__ import annotations

import argparse
import sys

from lead_ir.cli.train import add_arguments, run
from lead_ir.errors import LeadIRError


def main(argv: list[str] | None = None) -> int:
    from lead_ir.log import setup_logging

    parser = argparse.ArgumentParser(prog="python -m lead_ir.train", description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info logs")
    add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(0, args.quiet)
    try:
        run(args)
    except (LeadIRError, OSError, UnicodeError) as exc:  # the same boundary as `lead-ir`
        from lead_ir.cli import error_line

        print(f"lead_ir.train: error: {error_line(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
