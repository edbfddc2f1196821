"""The hybrid stage: BM25 fused with the arm that is best on dev (mean dev score over its seeds), fusion weights
tuned on dev; one fused test run per seed of that arm."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lead_ir.experiment.study import Study


def fuse_best(study: Study, out: Path) -> dict:
    from lead_ir.data.collections import read_qrels
    from lead_ir.fusion import fuse_runs
    from lead_ir.runs import read_run, write_run

    dev = dev_scores(study)
    best = max(dev, key=lambda name: (dev[name], name))
    h, seeds = study.cfg.hybrid, study.row_seeds(best)
    infos, files = {}, []
    for seed in seeds:  # a best arm with several seeds: BM25 fused with each seed's run, one hybrid per seed
        sfx = study.suffix(best, seed)
        runs = [read_run(study.input("bm25-test", "test.trec")),
                read_run(study.input(f"dense-{best}{sfx}", "test.trec"))]
        dev_runs = [read_run(study.input("bm25-runs", "dev.trec")),
                    read_run(study.input(f"dense-{best}{sfx}", "dev.trec"))]
        fused, infos[seed] = fuse_runs(runs, ["bm25", best], method=h.method, norm=h.norm, dev_runs=dev_runs,
                                       qrels=read_qrels(str(study.input("split", "dev_qrels"))),
                                       metric=study.cfg.evaluation.dev_metric)
        name = f"@s{seed}" if len(seeds) > 1 else ""
        write_run(fused, out / f"test{name}.trec", tag=f"hybrid{name}", k=study.cfg.evaluation.run_depth)
        files.append(f"test{name}.trec")
    if len(seeds) == 1:
        return {"best_student": best, "dev_scores": dev, "fusion": infos[seeds[0]], "runs": files}
    return {"best_student": best, "dev_scores": dev, "fusion": {str(s): i for s, i in infos.items()},
            "runs": files, "seeds": seeds}


def dev_scores(study: Study) -> dict[str, float]:
    """Each arm's dev score (``evaluation.dev_metric``); an arm with several seeds scores the mean over them, so
    the arm is chosen, not a lucky seed."""
    from lead_ir.data.collections import read_qrels
    from lead_ir.evaluation import evaluate_runs
    from lead_ir.runs import read_run

    qrels = read_qrels(str(study.input("split", "dev_qrels")))
    stems = {arm.name: [f"{arm.name}{study.suffix(arm.name, s)}" for s in study.row_seeds(arm.name)]
             for arm in study.cfg.arms}
    runs = {stem: read_run(study.input(f"dense-{stem}", "dev.trec")) for group in stems.values() for stem in group}
    means = evaluate_runs(qrels, runs, [study.cfg.evaluation.dev_metric]).means
    return {name: float(sum(means.loc[stem].iloc[0] for stem in group) / len(group))
            for name, group in stems.items()}
