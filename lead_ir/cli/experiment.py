"""`lead-ir experiment` (a whole study from one YAML) and `lead-ir quickstart` (the README's main job)."""

from __future__ import annotations

import argparse

from lead_ir.cli import Command


def _experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="experiment YAML (e.g. configs/scifact-lead.yaml)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.optim.lr=3e-5")
    p.add_argument("--force", action="append", default=[], metavar="STAGE",
                   help="redo STAGE (glob, e.g. 'student-*') and everything that depends on it; repeatable")
    p.add_argument("--dry-run", action="store_true", help="print the plan (what would run, what is done) and stop")


def _experiment(args: argparse.Namespace) -> int:
    from lead_ir.experiment.study import load_experiment, run_experiment

    cfg = load_experiment(args.config, args.overrides)
    result = run_experiment(cfg, force=args.force, dry_run=args.dry_run)
    if args.dry_run:
        print(result["plan"])
        return 0
    print(result["leaderboard"].read_text())
    print(f"stage outputs: {cfg.output_dir}" + (f"; results: {cfg.results_dir}" if cfg.results_dir else "")
          + f"; total stage time {result['wall_time_s']:.0f}s")
    return 0


def _quickstart_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides of configs/quickstart.yaml")
    p.add_argument("--config", default=None, help="quickstart config (default: configs/quickstart.yaml)")


def _quickstart(args: argparse.Namespace) -> int:
    from lead_ir.quickstart import run_quickstart

    print(run_quickstart(args.config, args.overrides))
    return 0


COMMANDS = [
    Command(("experiment",), "run a whole LEAD study from one YAML, with cached and resumable stages",
            _experiment_args, _experiment),
    Command(("quickstart",), "the README's main job: a small LEAD study on SciFact, ending in a leaderboard",
            _quickstart_args, _quickstart),
]
