"""``lead-ir evaluate``, ``lead-ir compare`` and ``lead-ir plot ...``: thin wrappers over the Python API."""

from __future__ import annotations

import argparse
from pathlib import Path

from lead_ir.cli import Command
from lead_ir.cli.argtypes import digits, positive_int, probability

FORMATS = ("table", "csv", "json", "latex")
FAMILIES = ("msmarco", "trec-dl", "beir", "trec", "generic")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--qrels", required=True, help="qrels spec: file, irds:<id> or registry name (dl19-passage)")
    parser.add_argument("--metrics", action="append", metavar="M[,M...]",
                        help="comma-separated metrics, e.g. map,ndcg@10,recall@1000-l2; repeatable (default: by "
                             "collection family: TREC-format qrels get MAP, nDCG@10, P@10, R@1000)")
    parser.add_argument("--family", choices=FAMILIES, help="collection family for default metrics "
                                                           "(default: inferred from --qrels)")
    parser.add_argument("--name", action="append", help="run name, repeated once per run in order (default: file "
                                                         "names)")


def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="TREC run files")
    _common(parser)
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--digits", type=digits, default=4, help="decimals (default: 4)")


def _run_evaluate(args: argparse.Namespace) -> int:
    from lead_ir.evaluation import evaluate_files, format_means

    result = evaluate_files(args.qrels, args.runs, args.metrics, args.name, args.family)
    print(format_means(result.means, args.format, args.digits), end="")
    if args.format == "table":
        print(result.summary())
    return 0


def _add_compare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="TREC run files to compare with the baseline(s)")
    _common(parser)
    parser.add_argument("--baseline", action="append", required=True, metavar="RUN",
                        help="baseline run file or name; repeat for several (significance is marked against each)")
    parser.add_argument("--test", choices=("ttest", "fisher", "tukey"), default="ttest", help="default: ttest (paired)")
    parser.add_argument("--correction", choices=("holm", "bonferroni", "none"), default="holm", help="default: holm")
    parser.add_argument("--alpha", type=probability, default=0.05, help="significance level (default: 0.05)")
    parser.add_argument("--pairs", choices=("baselines", "all"), default="baselines",
                        help="test each run against the baselines (default) or every pair of runs")
    parser.add_argument("--permutations", type=positive_int, default=10_000, help="randomisation test permutations")
    parser.add_argument("--seed", type=int, default=42, help="randomisation test seed")
    parser.add_argument("--output-dir",
                        help="where to write leaderboard.{md,tex,csv} (default: the first run's folder)")
    parser.add_argument("--prefix", default="leaderboard", help="output file name prefix")
    parser.add_argument("--costs", metavar="FILE", help="cost figures per run name (JSON or CSV with a 'run' column: "
                                                        "params, layers, dim, index_bytes, query_ms_p50, "
                                                        "query_ms_p95, docs_per_s), shown as extra columns")
    parser.add_argument("--costs-caption", default=None, metavar="TEXT",
                        help="how and on which machine the costs were measured (default: the JSON's "
                             "_caption, else the file name)")


def _run_compare(args: argparse.Namespace) -> int:
    from lead_ir.compare import compare_files, comparison_paths

    paths = comparison_paths(args.runs, args.baseline)
    comparison = compare_files(args.qrels, args.runs, args.baseline, args.metrics, args.name, args.family,
                               test=args.test, correction=args.correction, alpha=args.alpha, pairs=args.pairs,
                               n_permutations=args.permutations, seed=args.seed)
    if args.costs:
        from lead_ir.efficiency import read_costs_file

        costs, caption = read_costs_file(args.costs)
        comparison.with_costs(costs, args.costs_caption or caption or f"from {Path(args.costs).name}")
    out_dir = Path(args.output_dir) if args.output_dir else Path(paths[0]).parent
    written = comparison.write(out_dir, args.prefix)
    print(comparison.to_markdown(), end="")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _add_plot_per_query(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A")
    parser.add_argument("run_b", metavar="RUN_B", help="the reference run (bars show A - B)")
    parser.add_argument("--qrels", required=True)
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--output", required=True, help="figure file (.png, .pdf or .svg)")


def _run_plot_per_query(args: argparse.Namespace) -> int:
    from lead_ir.plots import per_query_files

    per_query_files(args.qrels, args.run_a, args.run_b, args.metric, args.output)
    print(args.output)
    return 0


def _add_plot_recall(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN")
    parser.add_argument("--qrels", required=True)
    parser.add_argument("--ks", nargs="+", type=positive_int, help="cut-offs (default: 1 2 5 10 20 50 100 ...)")
    parser.add_argument("--output", required=True, help="figure file (.png, .pdf or .svg)")


def _run_plot_recall(args: argparse.Namespace) -> int:
    from lead_ir.data.collections import read_qrels
    from lead_ir.evaluation import load_runs
    from lead_ir.plots import plot_recall_curves

    plot_recall_curves(read_qrels(args.qrels), load_runs(args.runs), args.output, ks=args.ks)
    print(args.output)
    return 0


def _add_plot_log(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", metavar="TRAIN_LOG", help="training log (JSONL, one line per step)")
    parser.add_argument("--output", required=True, help="figure file (.png, .pdf or .svg)")
    parser.add_argument("--metric", help="eval metric for the 'training' plot (default: the first eval/ key)")


def _run_plot_training(args: argparse.Namespace) -> int:
    from lead_ir.plots import plot_training

    plot_training(args.log, args.output, metric=args.metric)
    print(args.output)
    return 0


def _run_plot_layers(args: argparse.Namespace) -> int:
    from lead_ir.plots import plot_layer_weights

    plot_layer_weights(args.log, args.output)
    print(args.output)
    return 0


def _run_plot_distributions(args: argparse.Namespace) -> int:
    from lead_ir.plots import plot_layer_distributions

    plot_layer_distributions(args.log, args.output)
    print(args.output)
    return 0


def _add_plot_quality(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("csv", metavar="CSV", help="columns: model, layer, and one column per metric")
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--output", required=True, help="figure file (.png, .pdf or .svg)")


def _run_plot_quality(args: argparse.Namespace) -> int:
    from lead_ir.plots import plot_layer_quality

    plot_layer_quality(args.csv, args.output, metric=args.metric)
    print(args.output)
    return 0


COMMANDS = [
    Command(("evaluate",), "evaluate TREC runs with trec_eval's measures (judged queries only, trec_eval -c)",
            _add_evaluate, _run_evaluate),
    Command(("compare",), "leaderboard with deltas, 95% CIs, W/T/L and corrected significance vs baseline(s)",
            _add_compare, _run_compare),
    Command(("plot", "per-query"), "sorted per-query metric differences between two runs (PNG)",
            _add_plot_per_query, _run_plot_per_query),
    Command(("plot", "recall"), "recall@k curves of runs (PNG)", _add_plot_recall, _run_plot_recall),
    Command(("plot", "training"), "loss terms and eval metric against training step (PNG)", _add_plot_log,
            _run_plot_training),
    Command(("plot", "layers"), "LEAD layer weights and per-layer KL over training (PNG)", _add_plot_log,
            _run_plot_layers),
    Command(("plot", "layer-distributions"), "per layer pair distributions of KL and weight over training (PNG)",
            _add_plot_log, _run_plot_distributions),
    Command(("plot", "layer-quality"), "per-layer retrieval quality of teacher and student (PNG)",
            _add_plot_quality, _run_plot_quality),
]
