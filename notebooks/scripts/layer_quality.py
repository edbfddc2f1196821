"""Write ``layer_quality.csv`` for a finished study: nDCG@10 / R@100 of every layer of its models.

Each layer of the teacher (zero-shot and warmed up) and of the chosen students is mean-pooled like
the model's last layer and searched exhaustively on the study's test topics (``lead_ir.analysis``).
Notebook 03 plots the file.

    python notebooks/scripts/layer_quality.py --config configs/scifact-lead.yaml --arms contrastive response-kd lead

About 10 minutes on 2 CPU cores for SciFact with the default models.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lead_ir.analysis import layer_quality
from lead_ir.errors import LeadIRError
from lead_ir.experiment.study import Study, load_experiment
from lead_ir.fileio import atomic_open
from lead_ir.log import setup_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/scifact-lead.yaml", help="the study's experiment config")
    parser.add_argument("--arms", nargs="+", default=["contrastive", "response-kd", "lead"])
    parser.add_argument("--out", help="CSV path (default: the study's results_dir/layer_quality.csv)")
    args = parser.parse_args()
    setup_logging()
    cfg = load_experiment(args.config)
    known = [arm.name for arm in cfg.arms]
    unknown = [arm for arm in args.arms if arm not in known]
    if unknown:
        raise SystemExit(f"unknown arm(s) {', '.join(unknown)}; {args.config} has: {', '.join(known)}")
    study = Study(cfg)
    models = {"teacher-zero-shot": study.teacher_model()}
    if cfg.teacher.warmup:
        models["teacher-warmup"] = study.out("teacher-warmup", "model")
    models |= {arm: study.out(f"student-{arm}", "model") for arm in args.arms}
    missing = [str(path) for path in models.values() if not Path(path).is_dir()]
    if missing:
        raise SystemExit(f"models not found: {', '.join(missing)}; run `lead-ir experiment {args.config}` first")
    table = layer_quality(models, cfg.data.corpus, cfg.data.test_topics, cfg.data.test_qrels,
                          metrics=cfg.evaluation.metrics, max_length=cfg.encode.max_length,
                          batch_size=cfg.encode.batch_size, k=cfg.evaluation.run_depth)
    out = Path(args.out or Path(cfg.results_dir) / "layer_quality.csv")
    with atomic_open(out) as fh:
        table.to_csv(fh, index=False, float_format="%.6f")
    print(table.round(4).to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    try:
        main()
    except LeadIRError as exc:  # one line, as the CLI prints them
        raise SystemExit(f"error: {exc}") from None
