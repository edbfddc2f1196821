"""The LEAD study as stages: BM25 → split → mining → teacher warm-up → students → encode →
dense runs → hybrid → leaderboard. Built from an :class:`ExperimentConfig`.

Rows of the final table: ``bm25``, ``teacher-zero-shot``, ``teacher-warmup`` (when enabled),
one per arm, and ``hybrid`` (BM25 + the student that is best on dev).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from lead_ir.config import from_dict
from lead_ir.errors import ConfigError
from lead_ir.experiment.config import ArmSection, ExperimentConfig
from lead_ir.experiment.runner import Pipeline, Stage
from lead_ir.fileio import write_json

logger = logging.getLogger(__name__)
DISTILL_TERMS = ("response", "layer", "margin_mse")


def deep_merge(base: dict, override: dict | None) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _train_config(cfg: ExperimentConfig, overrides: dict, where: str):
    """Validate a merged TrainConfig mapping now, so a typo fails at plan time, not after an hour."""
    from lead_ir.training.config import TrainConfig

    try:
        return from_dict(TrainConfig, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


class Study:
    """Builds the :class:`Pipeline` for one experiment config."""

    def __init__(self, cfg: ExperimentConfig):
        self.cfg = cfg
        self.root = Path(cfg.output_dir)
        self.pipeline = Pipeline(self.root, self._stages())

    # ------------------------------------------------------------------ helpers
    def out(self, stage: str, name: str = "") -> Path:
        return self.pipeline.folder(stage) / name if name else self.pipeline.folder(stage)

    def teacher_model(self) -> Path:
        from lead_ir.resolve import resolve_model

        return resolve_model(self.cfg.teacher.model)

    def rows(self) -> list[str]:
        """Dense rows: the teacher(s) when they are dual encoders, then one per arm."""
        rows = []
        if self.cfg.teacher.kind == "dense":
            rows = ["teacher-zero-shot"] + (["teacher-warmup"] if self.cfg.teacher.warmup else [])
        return rows + [arm.name for arm in self.cfg.arms]

    def test_sets(self) -> list[tuple[str, str, str, list[str]]]:
        """(run file stem, topics, qrels, metrics) of the main test set and the extra ones."""
        d, ev = self.cfg.data, self.cfg.evaluation
        return [("test", d.test_topics, d.test_qrels, ev.metrics)] + [
            (f"test-{t.name}", t.topics, t.qrels, t.metrics) for t in d.extra_test_sets]

    def arm_train(self, arm: ArmSection) -> dict:
        merged = deep_merge(self.cfg.train, arm.train)
        _train_config(self.cfg, merged, f"arm '{arm.name}'")
        return merged

    # ------------------------------------------------------------------ stages
    def _stages(self) -> list[Stage]:
        c = self.cfg
        stages = [
            Stage("bm25-index", self._bm25_index, key={"corpus": c.data.corpus},
                  description="Lucene index of the corpus"),
            Stage("split", self._split, key=dataclasses.asdict(c.data),
                  description="train/dev split of training queries"),
            Stage("bm25-runs", self._bm25_runs, deps=("bm25-index", "split"),
                  key={"bm25": dataclasses.asdict(c.bm25), "test": self.test_sets(), "depth": c.evaluation.run_depth}),
            Stage("mine", self._mine, deps=("bm25-runs", "split"), key=dataclasses.asdict(c.mining)),
        ]
        # Training stages see the dev pool only when there is one, so studies without it keep their keys.
        pool_depth = c.evaluation.dev_pool_depth
        train_deps, pool_key = (("mine", "dev-pool"), {"dev_pool": pool_depth}) if pool_depth else (("mine",), {})
        if pool_depth:
            stages.append(Stage("dev-pool", self._dev_pool, deps=("bm25-index", "split"),
                                key={"depth": pool_depth, "bm25": dataclasses.asdict(c.bm25)},
                                description="the corpus dev evaluation searches"))
        if c.teacher.warmup:
            warm = deep_merge(c.train, c.teacher.train)
            _train_config(c, warm, "teacher.train")
            stages.append(Stage("teacher-warmup", lambda out: self._train(out, None, warm), deps=train_deps,
                                key={"model": c.teacher.model, "train": warm, "seed": c.seed} | pool_key,
                                resumable=True, description="fine-tune the teacher"))
        for arm in c.arms:
            deps = train_deps + (("teacher-warmup",) if arm.teacher == "warmup" else ())
            train = self.arm_train(arm) if arm.train is not None else None
            stages.append(Stage(f"student-{arm.name}", lambda out, a=arm, t=train: self._train(out, a, t), deps=deps,
                                key={"arm": dataclasses.asdict(arm), "train": train, "seed": c.seed,
                                     "teacher": c.teacher.model} | pool_key, resumable=train is not None,
                                description=f"arm {arm.name}"))
        for row in self.rows():
            model_stage = {"teacher-zero-shot": None, "teacher-warmup": "teacher-warmup"}.get(row, f"student-{row}")
            stages.append(Stage(f"encode-{row}", lambda out, r=row, m=model_stage: self._encode(out, r, m),
                                deps=("split",) + ((model_stage,) if model_stage else ()),
                                key={"encode": dataclasses.asdict(c.encode), "model": c.teacher.model
                                     if model_stage is None else model_stage, "corpus": c.data.corpus},
                                resumable=True, description=f"FAISS index for {row}"))
            stages.append(Stage(f"dense-{row}", lambda out, r=row, m=model_stage: self._dense(out, r, m),
                                deps=(f"encode-{row}", "split"), key={"depth": c.evaluation.run_depth,
                                                                      "test": self.test_sets()}))
        if c.hybrid.enabled and c.arms:
            stages.append(Stage("hybrid", self._hybrid, deps=("bm25-runs", "split") + tuple(
                f"dense-{arm.name}" for arm in c.arms), key=dataclasses.asdict(c.hybrid) | {
                "dev_metric": c.evaluation.dev_metric}))
        board_deps = ("bm25-runs",) + tuple(f"dense-{r}" for r in self.rows()) + (
            ("hybrid",) if c.hybrid.enabled and c.arms else ())
        # dev_pool_depth reaches the table through the training stages' keys, not directly.
        board_key = {k: v for k, v in dataclasses.asdict(c.evaluation).items() if k != "dev_pool_depth"}
        stages.append(Stage("leaderboard", self._leaderboard, deps=board_deps,
                            key=board_key | {"results_dir": c.results_dir}))
        return stages

    def _bm25_index(self, out: Path) -> dict:
        from lead_ir.bm25 import build_bm25_index, default_threads

        build_bm25_index(self.cfg.data.corpus, out / "index", threads=self.cfg.bm25.threads or default_threads())
        return {"index": "index"}

    def _split(self, out: Path) -> dict:
        from lead_ir.data.collections import read_qrels, read_topics, write_qrels, write_topics
        from lead_ir.data.split import split_qids

        d = self.cfg.data
        topics, qrels = read_topics(d.train_topics), read_qrels(d.train_qrels)
        judged = [q for q in topics if any(rel > 0 for rel in qrels.get(q, {}).values())]
        if d.max_train_queries:
            judged = sorted(judged, key=lambda q: (len(q), q))[:d.max_train_queries]
        train, dev = split_qids(judged, d.dev_fraction, d.split_seed)
        write_topics(out / "train-topics.tsv", {q: topics[q] for q in train})
        write_topics(out / "dev-topics.tsv", {q: topics[q] for q in dev})
        write_qrels(out / "dev-qrels.txt", {q: qrels[q] for q in dev})
        write_qrels(out / "train-qrels.txt", {q: qrels[q] for q in train})
        return {"train_queries": len(train), "dev_queries": len(dev)}

    def _bm25_runs(self, out: Path) -> dict:
        from lead_ir.bm25 import BM25Params, default_threads, search_bm25
        from lead_ir.data.collections import read_topics
        from lead_ir.runs import write_run

        b, index = self.cfg.bm25, self.out("bm25-index", "index")
        params, threads = BM25Params(k1=b.k1, b=b.b), b.threads or default_threads()
        depth = self.cfg.evaluation.run_depth
        jobs = [("train", self.out("split", "train-topics.tsv"), b.train_depth),
                ("dev", self.out("split", "dev-topics.tsv"), depth)]
        jobs += [(stem, topics, depth) for stem, topics, _, _ in self.test_sets()]
        for name, topics, k in jobs:
            run = search_bm25(index, read_topics(str(topics)), k=k, params=params, threads=threads)
            write_run(run, out / f"{name}.trec", tag=f"bm25-{name}", k=k)
        return {"runs": [f"{name}.trec" for name, _, _ in jobs]}

    def _dev_pool(self, out: Path) -> dict:
        """Dev queries' BM25 top ``dev_pool_depth`` plus their judged documents, as a JSONL corpus.

        Exact dev search over the whole corpus would encode all of it at every evaluation (8.8M
        passages on MS MARCO); re-ranking a BM25 pool is the usual affordable stand-in. It only
        picks checkpoints: test runs always search the whole corpus.
        """
        from lead_ir.bm25 import BM25Params, default_threads, search_bm25
        from lead_ir.data.collections import read_qrels, read_topics, write_corpus_subset

        b, depth = self.cfg.bm25, self.cfg.evaluation.dev_pool_depth
        run = search_bm25(self.out("bm25-index", "index"), read_topics(str(self.out("split", "dev-topics.tsv"))),
                          k=depth, params=BM25Params(k1=b.k1, b=b.b), threads=b.threads or default_threads())
        pool = {doc for hits in run.values() for doc in hits}
        pool |= {doc for judged in read_qrels(str(self.out("split", "dev-qrels.txt"))).values() for doc in judged}
        found = write_corpus_subset(self.cfg.data.corpus, pool, out / "dev-corpus.jsonl")
        logger.info("dev pool: %d documents (BM25 top %d of %d dev queries + judged)", found, depth, len(run))
        return {"corpus": "dev-corpus.jsonl", "documents": found}

    def _mine(self, out: Path) -> dict:
        from lead_ir.data.collections import read_qrels, read_topics
        from lead_ir.data.negatives import mine_negatives, write_train_groups
        from lead_ir.runs import read_run

        run = read_run(self.out("bm25-runs", "train.trec"))
        groups, stats = mine_negatives(run, read_qrels(str(self.out("split", "train-qrels.txt"))),
                                       read_topics(str(self.out("split", "train-topics.tsv"))),
                                       self.cfg.mining.depth, self.cfg.mining.num_negatives)
        write_train_groups(groups, out / "train.jsonl", stats, {"run": "bm25-runs/train.trec"})
        return {"train": "train.jsonl", "stats": stats.__dict__}

    def _train(self, out: Path, arm: ArmSection | None, train: dict | None) -> dict:
        """Teacher warm-up (arm None) or one arm's student; a null ``train`` saves the truncated student."""
        from lead_ir.models.factory import ModelConfig, build_model, save_model

        teacher_dir = self.teacher_model() if arm is None or arm.teacher == "zero-shot" else \
            self.out("teacher-warmup", "model")
        student_dir = self.teacher_model() if arm is None else self.student_backbone(arm, teacher_dir)
        if train is None:  # no training: the backbone's kept blocks as they are
            model = build_model(ModelConfig(path=str(student_dir), keep_layers=list(arm.student_layers)))
            save_model(model, out / "model")
            return {"model": "model", "trained": False}
        from lead_ir.training.loop import train as run_training

        settings = deep_merge(train, {
            "student": {"path": str(student_dir), "keep_layers": [] if arm is None else list(arm.student_layers),
                        "kind": self.cfg.teacher.kind if arm is None else "dense"},
            "data": {"train": str(self.out("mine", "train.jsonl")), "corpus": self.cfg.data.corpus,
                     "dev_fraction": 0.0, "dev_topics": str(self.out("split", "dev-topics.tsv")),
                     "dev_qrels": str(self.out("split", "dev-qrels.txt")),
                     **({"dev_corpus": str(self.out("dev-pool", "dev-corpus.jsonl"))}
                        if self.cfg.evaluation.dev_pool_depth else {})},
            "run": {"output_dir": str(out / "train"), "seed": self.cfg.seed,
                    "resume": (out / "train" / "checkpoints").exists()},
        })
        weights = _train_config(self.cfg, settings, f"arm '{arm.name}'" if arm else "teacher.train").loss.weights
        distils = arm is not None and any(weights.get(t, 0) > 0 for t in DISTILL_TERMS)
        teacher = settings.setdefault("teacher", {})
        teacher["path"] = str(teacher_dir) if distils else ""
        teacher["kind"] = self.cfg.teacher.kind
        if distils:
            teacher.setdefault("cache_dir", str(self.root / "teacher-cache"))
        summary = run_training(_train_config(self.cfg, settings, f"stage for {arm.name if arm else 'teacher'}"))
        chosen = out / "train" / ("best" if (out / "train" / "best").exists() else "final")
        if (out / "model").exists():
            shutil.rmtree(out / "model")
        shutil.copytree(chosen, out / "model")
        return {"model": "model", "trained": True, "summary": summary, "log": "train/train_log.jsonl"}

    def student_backbone(self, arm: ArmSection, teacher_dir: Path) -> Path:
        from lead_ir.resolve import resolve_model

        return resolve_model(arm.student_model) if arm.student_model else teacher_dir

    def _model_dir(self, model_stage: str | None) -> Path:
        return self.teacher_model() if model_stage is None else self.out(model_stage, "model")

    def _encode(self, out: Path, row: str, model_stage: str | None) -> dict:
        from lead_ir.encode import EncodeOptions, encode_corpus

        e = self.cfg.encode
        meta = encode_corpus(str(self._model_dir(model_stage)), self.cfg.data.corpus, out / "index",
                             EncodeOptions(batch_size=e.batch_size, max_length=e.max_length))
        return {"index": "index", "count": meta.get("count")}

    def _dense(self, out: Path, row: str, model_stage: str | None) -> dict:
        from lead_ir.data.collections import read_topics
        from lead_ir.runs import write_run
        from lead_ir.search import dense_search

        depth, model = self.cfg.evaluation.run_depth, self._model_dir(model_stage)
        jobs = [("dev", str(self.out("split", "dev-topics.tsv")))] + [(stem, t) for stem, t, _, _ in self.test_sets()]
        for name, topics in jobs:
            run = dense_search(self.out(f"encode-{row}", "index"), model, read_topics(topics), k=depth)
            write_run(run, out / f"{name}.trec", tag=f"{row}-{name}", k=depth)
        return {"runs": [f"{name}.trec" for name, _ in jobs]}

    def _dev_scores(self) -> dict[str, float]:
        from lead_ir.data.collections import read_qrels
        from lead_ir.evaluation import evaluate_runs
        from lead_ir.runs import read_run

        qrels = read_qrels(str(self.out("split", "dev-qrels.txt")))
        runs = {arm.name: read_run(self.out(f"dense-{arm.name}", "dev.trec")) for arm in self.cfg.arms}
        means = evaluate_runs(qrels, runs, [self.cfg.evaluation.dev_metric]).means
        return {name: float(means.loc[name].iloc[0]) for name in runs}

    def _hybrid(self, out: Path) -> dict:
        from lead_ir.data.collections import read_qrels
        from lead_ir.fusion import fuse_with_dev
        from lead_ir.runs import read_run, write_run

        dev = self._dev_scores()
        best = max(dev, key=lambda name: (dev[name], name))
        h = self.cfg.hybrid
        runs = [read_run(self.out("bm25-runs", "test.trec")), read_run(self.out(f"dense-{best}", "test.trec"))]
        dev_runs = [read_run(self.out("bm25-runs", "dev.trec")), read_run(self.out(f"dense-{best}", "dev.trec"))]
        fused, info = fuse_with_dev(runs, dev_runs, ["bm25", best], read_qrels(str(self.out("split", "dev-qrels.txt"))),
                                    method=h.method, norm=h.norm, metric=self.cfg.evaluation.dev_metric)
        write_run(fused, out / "test.trec", tag="hybrid", k=self.cfg.evaluation.run_depth)
        return {"best_student": best, "dev_scores": dev, "fusion": info, "runs": ["test.trec"]}

    def _leaderboard(self, out: Path) -> dict:
        from lead_ir.compare import compare_runs
        from lead_ir.data.collections import read_qrels
        from lead_ir.evaluation import resolve_metrics
        from lead_ir.runs import read_run, write_run

        ev, results = self.cfg.evaluation, Path(self.cfg.results_dir) if self.cfg.results_dir else None
        tables = {}
        for stem, _, qrels_spec, metrics in self.test_sets():
            paths = {"bm25": self.out("bm25-runs", f"{stem}.trec")}
            paths |= {row: self.out(f"dense-{row}", f"{stem}.trec") for row in self.rows()}
            if stem == "test" and self.cfg.hybrid.enabled and self.cfg.arms:
                paths["hybrid"] = self.out("hybrid", "test.trec")
            runs = {name: read_run(path) for name, path in paths.items()}
            baselines = [b for b in ev.baselines if b in runs]
            comparison = compare_runs(read_qrels(qrels_spec), runs, resolve_metrics(metrics or None, qrels_spec),
                                      baselines, test=ev.test, correction=ev.correction, alpha=ev.alpha)
            prefix = "leaderboard" if stem == "test" else f"leaderboard-{stem.removeprefix('test-')}"
            comparison.write(out, prefix=prefix)
            tables[prefix] = json.loads(comparison.table.to_json())
            if results is not None:
                suffix = "" if stem == "test" else f".{stem.removeprefix('test-')}"
                for name, run in runs.items():
                    write_run(run, results / f"{name}{suffix}.trec", tag=name, k=ev.run_depth)
                comparison.write(results, prefix=prefix)
        if results is not None:
            for stage in ["teacher-warmup"] + [f"student-{arm.name}" for arm in self.cfg.arms]:
                log = self.out(stage, "train/train_log.jsonl")
                if log.exists():
                    (results / "logs").mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(log, results / "logs" / f"{stage}.jsonl")
            hybrid = self.pipeline.manifest("hybrid") if self.cfg.hybrid.enabled and self.cfg.arms else None
            write_json(results / "study.json", {
                "name": self.cfg.name, "rows": ["bm25"] + self.rows() + (["hybrid"] if hybrid else []),
                "hybrid": hybrid["outputs"] if hybrid else None, "stage_wall_time_s": self.wall_time(),
                "stages": {s.name: (self.pipeline.manifest(s.name) or {}).get("wall_time_s")
                           for s in self.pipeline.stages}})
        return {"leaderboard": "leaderboard.md", "tables": tables}

    def wall_time(self) -> float:
        total = 0.0
        for stage in self.pipeline.stages:
            manifest = self.pipeline.manifest(stage.name)
            total += manifest["wall_time_s"] if manifest else 0.0
        return round(total, 1)


def load_experiment(path: str | Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    from lead_ir.config import load_config

    return load_config(ExperimentConfig, path, overrides)


def run_experiment(cfg: ExperimentConfig, force: list[str] | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Run (or, with ``dry_run``, only plan) the study; saves the resolved config beside the results."""
    from lead_ir.config import save_config

    study = Study(cfg)
    if dry_run:
        return {"plan": study.pipeline.describe_plan(force)}
    save_config(cfg, study.root / "config.resolved.yaml")
    if cfg.results_dir:
        save_config(cfg, Path(cfg.results_dir) / "config.resolved.yaml")
    manifests = study.pipeline.run(force)
    return {"manifests": manifests, "leaderboard": study.out("leaderboard", "leaderboard.md"),
            "wall_time_s": study.wall_time()}
