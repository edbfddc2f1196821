"""`lead-ir experiment` (a whole study from one YAML) and `lead-ir quickstart` (the README's main job)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lead_ir.cli import Command


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, like every other error
        from lead_ir.errors import LeadIRError

        raise LeadIRError(f"{self.prog}: {message}")


def _intermixed(args: argparse.Namespace, add_flags) -> argparse.Namespace:
    """Overrides and flags in any order: argparse stops filling a positional list at the first flag,
    so everything after the first positional is collected whole and parsed again here."""
    if {"-h", "--help"} & set(args.overrides):
        args._parser.print_help()
        raise SystemExit(0)
    parser = _Parser(prog=f"lead-ir {args.command}", add_help=False)
    add_flags(parser)
    parser.add_argument("overrides", nargs="*")
    rest = parser.parse_intermixed_args(args.overrides)
    for name, value in vars(rest).items():  # flags given before the positionals were parsed already
        before = getattr(args, name, None)
        if isinstance(value, list) and isinstance(before, list) and name != "overrides":
            value = before + value
        elif value in (None, False) and before not in (None, False):
            value = before
        setattr(args, name, value)
    return args


def _experiment_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="append", default=[], metavar="STAGE",
                   help="redo STAGE (glob, e.g. 'student-*') and everything that depends on it; repeatable")
    p.add_argument("--dry-run", action="store_true", help="print the plan (what would run, what is done) and stop")


def _overrides_and_flags(p: argparse.ArgumentParser, add_flags, help_text: str) -> None:
    """KEY=VALUE overrides and the command's flags, in any order (see :func:`_intermixed`)."""
    p.add_argument("overrides", nargs=argparse.REMAINDER, metavar="KEY=VALUE", help=help_text)
    add_flags(p)
    p.set_defaults(_parser=p)


def _experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="experiment YAML (e.g. configs/scifact-lead.yaml)")
    _overrides_and_flags(p, _experiment_flags,
                         "config overrides, e.g. train.optim.lr=3e-5 (flags may come before, between or after them)")


def _plan(config: str | Path, overrides: list[str], force: list[str] | None = None) -> str:
    """The study's plan (what would run, what is done), running nothing."""
    from lead_ir.experiment.study import load_experiment, run_experiment

    return run_experiment(load_experiment(config, overrides), force=force, dry_run=True)["plan"]


def _experiment(args: argparse.Namespace) -> int:
    from lead_ir.experiment.study import load_experiment, run_experiment

    args = _intermixed(args, _experiment_flags)
    if args.dry_run:
        print(_plan(args.config, args.overrides, args.force))
        return 0
    cfg = load_experiment(args.config, args.overrides)
    result = run_experiment(cfg, force=args.force)
    print(result["leaderboard"].read_text())
    print(f"stage outputs: {cfg.output_dir}" + (f"; results: {cfg.results_dir}" if cfg.results_dir else "")
          + f"; total stage time {result['wall_time_s']:.0f}s")
    return 0


def _quickstart_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None,
                   help="quickstart config (default: the packaged lead_ir/resources/quickstart.yaml, "
                        "a copy of configs/quickstart.yaml)")
    p.add_argument("--dry-run", action="store_true", help="print the study's plan (what would run) and stop")


def _quickstart_args(p: argparse.ArgumentParser) -> None:
    _overrides_and_flags(p, _quickstart_flags, "overrides of configs/quickstart.yaml (in any order with --config)")


def _quickstart(args: argparse.Namespace) -> int:
    from lead_ir.quickstart import run_quickstart

    args = _intermixed(args, _quickstart_flags)
    if args.dry_run:
        from lead_ir.quickstart import DEFAULT_CONFIG

        print(_plan(args.config or DEFAULT_CONFIG, args.overrides))
        return 0
    print(run_quickstart(args.config, args.overrides))
    return 0


COMMANDS = [
    Command(("experiment",), "run a whole LEAD study from one YAML, with cached and resumable stages",
            _experiment_args, _experiment),
    Command(("quickstart",), "the README's main job: a small LEAD study on SciFact, ending in a leaderboard",
            _quickstart_args, _quickstart),
]
