"""``python -m lead_ir.experiment CONFIG [key=value ...] [--force STAGE] [--dry-run]`` — ``lead-ir experiment``.

Also the torchrun entry point of a whole study::

    torchrun --nproc_per_node 8 -m lead_ir.experiment configs/msmarco-lead.yaml

Training stages then run with DDP over all processes, encode stages shard the corpus by rank and
rank 0 merges the shards, and every other stage runs on rank 0 while the others wait.
"""

import sys

from lead_ir.cli import main


def run(argv: list[str]) -> int:
    try:
        return main(["experiment", *argv])
    finally:
        if "torch.distributed" in sys.modules:
            from lead_ir.training import distributed

            distributed.cleanup()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
