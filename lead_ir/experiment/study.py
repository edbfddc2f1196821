"""The LEAD study as stages: BM25 → split → mining → teacher warm-up → students → encode →
dense runs → hybrid → leaderboard. Built from an :class:`ExperimentConfig`.

Rows of the final table: ``bm25``, ``teacher-zero-shot``, ``teacher-warmup`` (when enabled; with several
``teachers``, ``<name>-zero-shot`` and ``<name>-warmup`` of each dense one, whose warm-up stage is
``<name>-warmup``), one per arm, and ``hybrid`` (BM25 + the student that is best on dev). An arm's
``student_model: <teacher>-warmup`` starts its student from that warm-up stage's model. A row trained with several
``seeds`` has one training/encode/dense stage per seed (``student-<arm>@s<seed>``; the experiment's
``seed`` keeps the plain names) and one leaderboard row, mean ± sd over seeds (:mod:`lead_ir.seeds`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from lead_ir.config import changed_fields
from lead_ir.errors import ConfigError, LeadIRError
from lead_ir.experiment.config import ArmSection, ExperimentConfig, TeacherSection
from lead_ir.experiment.runner import Pipeline, ProcessGroup, Stage
from lead_ir.fileio import write_json

logger = logging.getLogger(__name__)
# what the split stage writes, by the name its manifest's outputs give each file
SPLIT_FILES = {"train_topics": "train-topics.tsv", "train_qrels": "train-qrels.txt", "dev_topics": "dev-topics.tsv",
               "dev_qrels": "dev-qrels.txt", "test_topics": "test-topics.tsv", "test_qrels": "test-qrels.txt"}


def deep_merge(base: dict, override: dict | None) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# TrainConfig fields each training stage fills from the study (paths from manifests, seed, teacher kind): a
# setting of them in `train` would be overwritten, so it is refused when the plan is made. Value: where the
# study takes it from, for the message.
STUDY_OWNED = {
    ("student", "path"): "the teacher's model or the arm's student_model", ("student", "kind"): "the teacher's kind",
    ("student", "keep_layers"): "the arm's student_layers", ("teacher", "path"): "the arm's teacher row",
    ("teacher", "kind"): "the teacher section's kind", ("data", "train"): "the mine stage",
    ("data", "corpus"): "data.corpus", ("data", "dev_fraction"): "the split stage (data.dev_fraction)",
    ("data", "dev_topics"): "the split stage", ("data", "dev_qrels"): "the split stage",
    ("data", "dev_corpus"): "evaluation.dev_pool_depth", ("data", "dev_metric"): "evaluation.dev_metric",
    ("data", "unlabeled"): "mining.unlabeled", ("run", "output_dir"): "the stage folder",
    ("run", "seed"): "the experiment's seed/seeds and the arm's seeds", ("run", "resume"): "the stage's checkpoints",
}


def plan_train_config(shared: dict, overrides: dict | None, where: str, planned: dict[tuple[str, str], Any]):
    """One training stage's :class:`TrainConfig`, built once at plan time from the experiment's ``train`` merged with
    a teacher's or arm's overrides; a typo or a setting the study owns fails now, not after an hour.

    ``planned``: study-owned values known at plan time (a setting equal to one of them is allowed)."""
    from lead_ir.config import from_dict
    from lead_ir.training.config import TrainConfig

    merged = deep_merge(shared, overrides)
    for (section, name), source in STUDY_OWNED.items():
        if name in (merged.get(section) or {}):
            given = merged[section][name]
            if (section, name) not in planned or given != planned[(section, name)]:
                raise ConfigError(f"{where}: train.{section}.{name} ({given!r}) is set by the study from {source}; "
                                  f"remove it from train")
    try:
        return from_dict(TrainConfig, merged)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


class Study:
    """Builds the :class:`Pipeline` for one experiment config."""

    def __init__(self, cfg: ExperimentConfig):
        from lead_ir.experiment.config import validate_plan

        self.cfg = cfg
        self.root = Path(cfg.output_dir)
        self.train_configs = self._plan_train_configs()  # row -> its TrainConfig (None: an untrained arm)
        self.pipeline = Pipeline(self.root, self._stages())
        validate_plan(cfg)  # everything a later stage would reject fails now, before the first stage
        self.group = ProcessGroup()  # run_experiment sets the torchrun group

    # ------------------------------------------------------------------ helpers
    def out(self, stage: str, name: str = "") -> Path:
        return self.pipeline.folder(stage) / name if name else self.pipeline.folder(stage)

    def teacher_model(self, teacher: TeacherSection | None = None) -> Path:
        """A teacher's checkpoint as configured (zero-shot); default the first teacher."""
        from lead_ir.resolve import resolve_model

        return resolve_model((teacher or self.cfg.teacher_list()[0]).model)

    def rows(self) -> list[str]:
        """Dense rows: the teachers that are dual encoders, then one per arm."""
        return self.cfg.teacher_rows() + [arm.name for arm in self.cfg.arms]

    def teacher_of(self, row: str) -> TeacherSection | None:
        """The teacher of a ``<name>-zero-shot`` or ``<name>-warmup`` row or stage name (None: not a teacher's)."""
        return next((t for t in self.cfg.teacher_list() if row in (f"{t.name}-zero-shot", f"{t.name}-warmup")), None)

    def row_seeds(self, row: str) -> list[int]:
        """Seeds a row is trained with, one training/encode/dense stage each (a warm-up's ``seeds``, an arm's
        ``seeds``); an untrained row has the experiment's ``seed`` alone."""
        c, teacher = self.cfg, self.teacher_of(row)
        if teacher is not None and row.endswith("-warmup"):
            return c.seeds_of(teacher.seeds) if teacher.warmup else []
        arm = next((a for a in c.arms if a.name == row), None)
        return c.seeds_of(arm.seeds) if arm is not None and arm.train is not None else [c.seed]

    def suffix(self, row: str, seed: int) -> str:
        """``@s<seed>`` in a trained row's stage names for every seed but the experiment's ``seed``, whose stages
        keep the names (and keys) they had before seeds existed: adding seeds to a finished study reuses them."""
        return f"@s{seed}" if self.trained(row) and seed != self.cfg.seed else ""

    def model_stage(self, row: str, seed: int) -> str | None:
        """The stage holding a row's model at ``seed`` (None: a teacher checkpoint as it is)."""
        teacher = self.teacher_of(row)
        if teacher is not None:
            return None if row.endswith("-zero-shot") else row + self.suffix(row, seed)
        return f"student-{row}" + self.suffix(row, seed)

    def teacher_stage(self, seed: int, teacher: TeacherSection | None = None) -> str:
        """The warm-up stage of ``teacher`` (default the first) that an arm trained with ``seed`` reads: the
        warm-up of that seed when it has one, else the warm-up's first seed."""
        row = f"{(teacher or self.cfg.teacher_list()[0]).name}-warmup"
        seeds = self.row_seeds(row)
        return self.model_stage(row, seed if seed in seeds else seeds[0])

    def arm_stages(self, arm: ArmSection, seed: int) -> tuple[str | None, str | None]:
        """(teacher stage, backbone stage) an arm at ``seed`` reads: its teacher's warm-up (None: zero-shot) and
        the warm-up named by ``student_model`` (None: a model or the teacher checkpoint)."""
        teacher, warm = self.cfg.arm_teacher(arm)
        backbone = self.cfg.arm_backbone(arm)
        return (self.teacher_stage(seed, teacher) if warm else None,
                self.teacher_stage(seed, backbone) if backbone is not None else None)

    def input(self, stage: str, name: str) -> Path:
        """What a finished earlier stage wrote, as its manifest's ``outputs`` name it: an entry ``name`` (a file or
        folder in the stage folder), or a run file ``name`` listed in ``outputs.runs``. Stages read their inputs
        this way, never from paths of their own making."""
        outputs = (self.pipeline.manifest(stage) or {}).get("outputs") or {}
        found = outputs.get(name) if isinstance(outputs.get(name), str) else \
            name if name in (outputs.get("runs") or []) else None
        if found is None:
            raise LeadIRError(f"stage {stage} has no finished output '{name}' (its manifest in {self.out(stage)} does "
                              f"not list it: missing, or written by an older lead_ir); re-run it with --force {stage}")
        return self.out(stage, found)

    def test_sets(self, planned: bool = False) -> list[tuple[str, str, str, list[str]]]:
        """(run file stem, topics, qrels, metrics) of the main test set and the extra ones. A test part split off
        ``data.topics`` is the split stage's output (``planned``: where the split will write it, for stage keys)."""
        d, ev = self.cfg.data, self.cfg.evaluation
        if d.splits_topics:  # the split stage writes the test part of data.topics
            files = [self.root / "stages" / "split" / SPLIT_FILES[n] if planned else self.input("split", n)
                     for n in ("test_topics", "test_qrels")]
            main = ("test", str(files[0]), str(files[1]), ev.metrics)
        else:
            main = ("test", d.test_topics, d.test_qrels, ev.metrics)
        return [main] + [(f"test-{t.name}", t.topics, t.qrels, t.metrics) for t in d.extra_test_sets]

    def _source_key(self, spec: str) -> str:
        """A topics/qrels spec in a stage key: files by their contents; the split's own outputs by the split
        stage (a dependency), since they do not exist yet when the plan is made."""
        from lead_ir.data.collections import spec_fingerprint

        if self.cfg.data.splits_topics and Path(spec).parent == self.root / "stages" / "split":
            return f"split:{Path(spec).name}"
        return spec_fingerprint(spec)

    def topic_field(self) -> str | None:
        return self.cfg.data.topic_field or None

    def test_topics_key(self) -> dict:
        """What the test searches read: each test set's topics (file contents fingerprinted), and the field."""
        key: dict[str, Any] = {"test": [(stem, self._source_key(topics))
                                        for stem, topics, _, _ in self.test_sets(planned=True)]}
        return key | ({"topic_field": self.cfg.data.topic_field} if self.cfg.data.topic_field else {})

    def uses_unlabeled(self, train) -> bool:
        """Whether an arm's TrainConfig mixes in unlabeled groups (data.unlabeled_ratio > 0)."""
        return train is not None and train.data.unlabeled_ratio > 0

    def _plan_train_configs(self) -> dict[str, Any]:
        """Each training row's TrainConfig, built once (see :func:`plan_train_config`): ``<teacher>-warmup`` rows
        and arms (None: an arm without training)."""
        c = self.cfg
        dev_metric = ("data", "dev_metric"), c.evaluation.dev_metric
        configs: dict[str, Any] = {}
        for teacher in c.teacher_list():
            if teacher.warmup:
                planned = dict([dev_metric, (("student", "kind"), teacher.kind), (("teacher", "kind"), teacher.kind),
                                (("student", "keep_layers"), [])])
                configs[f"{teacher.name}-warmup"] = plan_train_config(c.train, teacher.train,
                                                                      f"{c.teacher_where(teacher)}.train", planned)
        for arm in c.arms:
            if arm.train is None:
                configs[arm.name] = None
                continue
            train = plan_train_config(c.train, arm.train, f"arm '{arm.name}'", dict([
                dev_metric, (("student", "kind"), "dense"), (("teacher", "kind"), c.arm_teacher(arm)[0].kind),
                (("student", "keep_layers"), list(arm.student_layers))]))
            if self.uses_unlabeled(train) and not c.mining.unlabeled.queries:
                raise ConfigError(f"arm '{arm.name}' sets train.data.unlabeled_ratio > 0 but mining.unlabeled.queries "
                                  f"is empty; set it to 'titles' or a topics spec")
            configs[arm.name] = train
        return configs

    # ------------------------------------------------------------------ stages
    def _stages(self) -> list[Stage]:
        c = self.cfg
        stages = [
            Stage("bm25-index", self._bm25_index, key={"corpus": c.data.corpus},
                  description="Lucene index of the corpus"),
            # Each stage's key holds only what it reads: the split never sees the test sets, and test
            # qrels reach the leaderboard alone, so changing them re-runs evaluation only.
            Stage("split", self._split, key=self.split_key(), description="train/dev split of training queries"),
            Stage("bm25-runs", self._bm25_runs, deps=("bm25-index", "split"),
                  key={"bm25": dataclasses.asdict(c.bm25), "depth": c.evaluation.run_depth},
                  description="BM25 runs of the training (mining pool) and dev queries"),
            Stage("bm25-test", self._bm25_test, deps=("bm25-index",) + (("split",) if c.data.splits_topics else ()),
                  key={"k1": c.bm25.k1, "b": c.bm25.b, "depth": c.evaluation.run_depth} | self.test_topics_key(),
                  description="BM25 runs of the test sets"),
            Stage("mine", self._mine, deps=("bm25-runs", "split"),
                  key={k: v for k, v in dataclasses.asdict(c.mining).items() if k != "unlabeled"}),
        ]
        if c.mining.unlabeled.queries:
            if c.mining.unlabeled.queries in [topics for _, topics, _, _ in self.test_sets(planned=True)]:
                raise ConfigError(f"mining.unlabeled.queries {c.mining.unlabeled.queries!r} is a test set; train on "
                                  f"other queries or on 'titles'")
            stages.append(Stage("mine-unlabeled", self._mine_unlabeled, deps=("bm25-index",),
                                key=dataclasses.asdict(c.mining.unlabeled) | {"bm25": [c.bm25.k1, c.bm25.b]},
                                description="unlabeled queries and their BM25 candidates"))
        # Training stages see the dev pool only when there is one, so studies without it keep their keys.
        pool_depth = c.evaluation.dev_pool_depth
        train_deps, dev_key = (("mine", "dev-pool"), {"dev_pool": pool_depth}) if pool_depth else (("mine",), {})
        dev_key |= {"dev_metric": c.evaluation.dev_metric}  # it picks each training stage's kept checkpoint
        if pool_depth:
            stages.append(Stage("dev-pool", self._dev_pool, deps=("bm25-index", "split"),
                                key={"depth": pool_depth, "bm25": dataclasses.asdict(c.bm25)},
                                description="the corpus dev evaluation searches"))
        for teacher in c.teacher_list():
            if not teacher.warmup:
                continue
            where, warm = c.teacher_where(teacher), self.train_configs[f"{teacher.name}-warmup"]
            # the kind is in the key only when it is not dense, so dense studies keep the keys they had
            kind_key = {"kind": teacher.kind} if teacher.kind != "dense" else {}
            for seed in self.row_seeds(f"{teacher.name}-warmup"):
                stages.append(Stage(self.model_stage(f"{teacher.name}-warmup", seed),
                                    lambda out, s=seed, t=teacher, w=warm: self._train(out, None, w, s, t),
                                    deps=train_deps, key={"model": teacher.model, "train": changed_fields(warm),
                                                          "seed": seed}
                                    | kind_key | dev_key, resumable=True, parallel=True,
                                    description=f"fine-tune {where} ({teacher.kind}, seed {seed})"))
        for arm in c.arms:
            train, teacher = self.train_configs[arm.name], c.arm_teacher(arm)[0]
            # the seed is its own key entry; `seeds` (which seeds exist) is not part of one seed's stage; the
            # training settings enter as the typed config's changed fields, not as written
            arm_key = {k: v for k, v in dataclasses.asdict(arm).items() if k not in ("seeds", "train")}
            kind_key = {"teacher_kind": teacher.kind} if teacher.kind != "dense" else {}
            for seed in self.row_seeds(arm.name):
                teacher_stage, backbone_stage = self.arm_stages(arm, seed)
                deps = train_deps + ((teacher_stage,) if teacher_stage else ())
                deps += (backbone_stage,) if backbone_stage and backbone_stage != teacher_stage else ()
                deps += ("mine-unlabeled",) if self.uses_unlabeled(train) else ()
                stages.append(Stage(self.model_stage(arm.name, seed),
                                    lambda out, a=arm, t=train, s=seed: self._train(out, a, t, s), deps=deps,
                                    key={"arm": arm_key, "train": None if train is None else
                                         changed_fields(train), "seed": seed,
                                         "teacher": teacher.model} | kind_key | dev_key, resumable=train is not None,
                                    parallel=train is not None, description=f"arm {arm.name} (seed {seed})"))
        for row in self.rows():
            for seed in self.row_seeds(row):
                model_stage, sfx = self.model_stage(row, seed), self.suffix(row, seed)
                teacher = self.teacher_of(row)  # a zero-shot row encodes its teacher's checkpoint
                stages.append(Stage(f"encode-{row}{sfx}", lambda out, r=row, s=seed: self._encode(out, r, s),
                                    deps=(model_stage,) if model_stage else (),
                                    key={"encode": self.encode_key(), "model": teacher.model
                                         if model_stage is None else model_stage, "corpus": c.data.corpus},
                                    resumable=True, parallel=True, description=f"FAISS index for {row}{sfx}"))
                stages.append(Stage(f"dense-{row}{sfx}", lambda out, r=row, s=seed: self._dense(out, r, s),
                                    deps=(f"encode-{row}{sfx}", "split"),
                                    key={"depth": c.evaluation.run_depth} | self.test_topics_key()))
        if c.hybrid.enabled and c.arms:
            stages.append(Stage("hybrid", self._hybrid, deps=("bm25-runs", "bm25-test", "split") + tuple(
                f"dense-{arm.name}{self.suffix(arm.name, s)}" for arm in c.arms for s in self.row_seeds(arm.name)),
                key=dataclasses.asdict(c.hybrid) | {"dev_metric": c.evaluation.dev_metric}))
        if self.rows():  # a row's costs are measured on its first seed's model (same architecture and size)
            first = [f"encode-{r}{self.suffix(r, self.row_seeds(r)[0])}" for r in self.rows()]
            stages.append(Stage("costs", self._costs, deps=("split",) + tuple(first),
                                key={"latency": {"batch": 1, "threads": 1, "warmup": 5, "precision": "fp32"},
                                     "topics": self._source_key(self.test_sets(planned=True)[0][1])},
                                description="model size, index size, query latency, encoding throughput"))
        board_deps = ("bm25-test",) + tuple(f"dense-{r}{self.suffix(r, s)}" for r in self.rows()
                                            for s in self.row_seeds(r)) + (
            ("hybrid",) if c.hybrid.enabled and c.arms else ()) + (("costs",) if self.rows() else ())
        # dev_pool_depth reaches the table through the training stages' keys, not directly; no planned
        # comparisons leaves the key as it was before they existed.
        board_key = {k: v for k, v in dataclasses.asdict(c.evaluation).items() if k != "dev_pool_depth"
                     and (k != "comparisons" or v)}
        stages.append(Stage("leaderboard", self._leaderboard, deps=board_deps,
                            key=board_key | {"results_dir": c.results_dir, "judgments": self.test_qrels_key()}))
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(f"stages {', '.join(twice)} are named twice; rename the teacher or arm they belong to")
        return stages

    def split_key(self) -> dict:
        """The split reads the training topics and qrels (contents fingerprinted) and its own settings."""
        from lead_ir.data.collections import spec_fingerprint

        d = self.cfg.data
        if d.splits_topics:
            key = {"topics": spec_fingerprint(d.topics), "qrels": spec_fingerprint(d.qrels),
                   "test": {"fraction": d.test_fraction} if d.test_fraction else {"ids": spec_fingerprint(d.test_ids)}}
        else:
            key = {"train_topics": spec_fingerprint(d.train_topics), "train_qrels": spec_fingerprint(d.train_qrels)}
        key |= {"dev_fraction": d.dev_fraction, "split_seed": d.split_seed, "max_train_queries": d.max_train_queries}
        return key | ({"topic_field": d.topic_field} if d.topic_field else {})

    def test_qrels_key(self) -> list:
        """What only the leaderboard reads: each test set's qrels (contents fingerprinted) and metrics."""
        return [(stem, self._source_key(qrels), list(metrics))
                for stem, _, qrels, metrics in self.test_sets(planned=True)]

    def _bm25_index(self, out: Path) -> dict:
        from lead_ir.bm25 import build_bm25_index, default_threads

        build_bm25_index(self.cfg.data.corpus, out / "index", threads=self.cfg.bm25.threads or default_threads())
        return {"index": "index"}

    def _split(self, out: Path) -> dict:
        from lead_ir.data.collections import read_qrels, read_topics, write_qrels, write_topics
        from lead_ir.data.split import split_qids

        d = self.cfg.data
        topics_spec, qrels_spec = (d.topics, d.qrels) if d.splits_topics else (d.train_topics, d.train_qrels)
        topics, qrels = read_topics(topics_spec, self.topic_field()), read_qrels(qrels_spec)
        judged = [q for q in topics if any(rel > 0 for rel in qrels.get(q, {}).values())]
        if not judged:
            raise LeadIRError(f"no topic of {topics_spec} has a relevant judgment in {qrels_spec} "
                              f"(topic ids e.g. {', '.join(list(topics)[:3])}; qrels ids e.g. "
                              f"{', '.join(list(qrels)[:3])}); are they the same topic set?")
        outputs = {}
        if d.splits_topics:  # test first, so the test part does not move with the dev fraction or the cap
            from lead_ir.data.split import partition_qids, read_id_list

            parts = partition_qids(judged, {"test": d.test_fraction} if d.test_fraction else None,
                                   {"test": read_id_list(d.test_ids)} if d.test_ids else None, d.split_seed)
            test = set(parts["test"])
            write_topics(out / SPLIT_FILES["test_topics"], {q: topics[q] for q in topics if q in test})
            write_qrels(out / SPLIT_FILES["test_qrels"], {q: qrels[q] for q in parts["test"]})
            judged = [q for q in judged if q not in test]
            outputs["test_queries"] = len(test)
        if d.max_train_queries:
            judged = sorted(judged, key=lambda q: (len(q), q))[:d.max_train_queries]
        train, dev = split_qids(judged, d.dev_fraction, d.split_seed)
        write_topics(out / SPLIT_FILES["train_topics"], {q: topics[q] for q in train})
        write_topics(out / SPLIT_FILES["dev_topics"], {q: topics[q] for q in dev})
        write_qrels(out / SPLIT_FILES["dev_qrels"], {q: qrels[q] for q in dev})
        write_qrels(out / SPLIT_FILES["train_qrels"], {q: qrels[q] for q in train})
        written = {n: f for n, f in SPLIT_FILES.items() if d.splits_topics or not n.startswith("test")}
        return {"train_queries": len(train), "dev_queries": len(dev)} | outputs | written

    def _bm25_runs(self, out: Path) -> dict:
        b = self.cfg.bm25
        jobs = [("train", self.input("split", "train_topics"), b.train_depth),
                ("dev", self.input("split", "dev_topics"), self.cfg.evaluation.run_depth)]
        for name, topics, k in jobs:
            self._bm25_search(topics, None, out / f"{name}.trec", f"bm25-{name}", k)
        return {"runs": [f"{name}.trec" for name, _, _ in jobs]}

    def _bm25_search(self, topics: str | Path, field: str | None, output: Path, tag: str, k: int) -> dict:
        """BM25 over the study's index with its settings: topics spec in, TREC run out (:func:`search_to_run`)."""
        from lead_ir.bm25 import search_bm25
        from lead_ir.runs import search_to_run

        b, index = self.cfg.bm25, self.input("bm25-index", "index")
        return search_to_run(lambda queries: search_bm25(index, queries, k=k, params=b.params(), threads=b.threads),
                             topics, output, tag=tag, k=k, field=field)

    def _bm25_test(self, out: Path) -> dict:
        for stem, topics, _, _ in self.test_sets():
            self._bm25_search(topics, self.topic_field(), out / f"{stem}.trec", f"bm25-{stem}",
                              self.cfg.evaluation.run_depth)
        return {"runs": [f"{stem}.trec" for stem, _, _, _ in self.test_sets()]}

    def _dev_pool(self, out: Path) -> dict:
        """Dev queries' BM25 top ``dev_pool_depth`` plus their judged documents, as a JSONL corpus.

        Exact dev search over the whole corpus would encode all of it at every evaluation (8.8M
        passages on MS MARCO); re-ranking a BM25 pool is the usual affordable stand-in. It only
        picks checkpoints: test runs always search the whole corpus.
        """
        from lead_ir.bm25 import search_bm25
        from lead_ir.data.collections import read_qrels, read_topics, write_corpus_subset

        b, depth = self.cfg.bm25, self.cfg.evaluation.dev_pool_depth
        run = search_bm25(self.input("bm25-index", "index"), read_topics(str(self.input("split", "dev_topics"))),
                          k=depth, params=b.params(), threads=b.threads)
        pool = {doc for hits in run.values() for doc in hits}
        pool |= {doc for judged in read_qrels(str(self.input("split", "dev_qrels"))).values() for doc in judged}
        found = write_corpus_subset(self.cfg.data.corpus, pool, out / "dev-corpus.jsonl")
        logger.info("dev pool: %d documents (BM25 top %d of %d dev queries + judged)", found, depth, len(run))
        return {"corpus": "dev-corpus.jsonl", "documents": found}

    def _mine(self, out: Path) -> dict:
        from lead_ir.data.negatives import mine_file

        stats = mine_file(self.input("bm25-runs", "train.trec"), str(self.input("split", "train_qrels")),
                          str(self.input("split", "train_topics")), out / "train.jsonl", self.cfg.mining.depth,
                          self.cfg.mining.num_negatives)
        return {"train": "train.jsonl", "stats": stats.__dict__}

    def _mine_unlabeled(self, out: Path) -> dict:
        from lead_ir.data.collections import read_topics
        from lead_ir.data.unlabeled import mine_unlabeled_file, title_queries

        u, d = self.cfg.mining.unlabeled, self.cfg.data
        titles = u.queries == "titles"
        topics = title_queries(d.corpus, u.min_title_words, u.max_queries, d.split_seed) if titles else \
            read_topics(u.queries)
        source = {"queries": u.queries} | ({"corpus": d.corpus, "min_title_words": u.min_title_words,
                                             "max_queries": u.max_queries, "seed": d.split_seed} if titles else {})
        stats = mine_unlabeled_file(topics, out / "unlabeled.jsonl", u.depth, u.num_candidates,
                                    titles and u.exclude_source, index=self.input("bm25-index", "index"),
                                    params=self.cfg.bm25.params(), threads=self.cfg.bm25.threads, source=source)
        return {"unlabeled": "unlabeled.jsonl", "stats": stats}

    def _train(self, out: Path, arm: ArmSection | None, train, seed: int,
               warmup: TeacherSection | None = None) -> dict:
        """The warm-up of teacher ``warmup`` (arm None) or one arm's student at ``seed``, from the TrainConfig
        planned for it, completed with what the study owns (inputs from the earlier stages' manifests, the seed,
        the output folder); a null ``train`` saves the truncated student."""
        from dataclasses import replace

        from lead_ir.models.factory import ModelConfig, build_model, save_model

        if arm is None:
            teacher = warmup or self.cfg.teacher_list()[0]
            teacher_dir = student_dir = self.teacher_model(teacher)
        else:
            teacher = self.cfg.arm_teacher(arm)[0]
            teacher_stage, backbone_stage = self.arm_stages(arm, seed)
            teacher_dir = self._model_dir(teacher_stage) if teacher_stage else self.teacher_model(teacher)
            student_dir = self._model_dir(backbone_stage) if backbone_stage else \
                self.student_backbone(arm, teacher_dir)
        if train is None:  # no training: the backbone's kept blocks as they are
            model = build_model(ModelConfig(path=str(student_dir), keep_layers=list(arm.student_layers)))
            save_model(model, out / "model")
            return {"model": "model", "trained": False}
        from lead_ir.losses.terms import teacher_needed
        from lead_ir.training.config import TeacherConfig
        from lead_ir.training.loop import train as run_training

        distils = arm is not None and teacher_needed(train.loss.weights)  # a distillation term has a weight
        cache_dir = train.teacher.cache_dir
        if cache_dir == TeacherConfig.cache_dir:  # the default: one cache per study, shared by its arms
            cache_dir = str(self.root / "teacher-cache")
        pool, unlabeled = self.cfg.evaluation.dev_pool_depth, arm is not None and self.uses_unlabeled(train)
        settings = replace(
            train,
            student=replace(train.student, path=str(student_dir), kind=teacher.kind if arm is None else "dense",
                            keep_layers=[] if arm is None else list(arm.student_layers)),
            teacher=replace(train.teacher, path=str(teacher_dir) if distils else "", kind=teacher.kind,
                            cache_dir=cache_dir),
            data=replace(train.data, train=str(self.input("mine", "train")), corpus=self.cfg.data.corpus,
                         dev_fraction=0.0, dev_topics=str(self.input("split", "dev_topics")),
                         dev_qrels=str(self.input("split", "dev_qrels")), dev_metric=self.cfg.evaluation.dev_metric,
                         dev_corpus=str(self.input("dev-pool", "corpus")) if pool else "",
                         unlabeled=str(self.input("mine-unlabeled", "unlabeled")) if unlabeled else ""),
            run=replace(train.run, output_dir=str(out / "train"), seed=seed,
                        resume=(out / "train" / "checkpoints").exists()))
        summary = run_training(settings)
        chosen = out / "train" / ("best" if (out / "train" / "best").exists() else "final")
        if self.group.rank == 0:  # under torchrun every process trained (DDP); rank 0 keeps the model
            if (out / "model").exists():
                shutil.rmtree(out / "model")
            shutil.copytree(chosen, out / "model")
        return {"model": "model", "trained": True, "summary": summary, "log": "train/train_log.jsonl"}

    def student_backbone(self, arm: ArmSection, teacher_dir: Path) -> Path:
        from lead_ir.resolve import resolve_model

        return resolve_model(arm.student_model) if arm.student_model else teacher_dir

    def _model_dir(self, model_stage: str | None) -> Path:
        """The model a stage trained, from its manifest's outputs (None: the first teacher's checkpoint)."""
        return self.teacher_model() if model_stage is None else self.input(model_stage, "model")

    def row_model(self, row: str, seed: int) -> Path:
        """A dense row's model at ``seed``: a zero-shot teacher's checkpoint, else its stage's trained model."""
        stage = self.model_stage(row, seed)
        return self.teacher_model(self.teacher_of(row)) if stage is None else self._model_dir(stage)

    def _encode(self, out: Path, row: str, seed: int) -> dict:
        from lead_ir.encode import EncodeOptions, encode_corpus

        e, group, model = self.cfg.encode, self.group, self.row_model(row, seed)
        options = EncodeOptions(batch_size=e.batch_size, max_length=e.max_length, precision=e.precision,
                                chunk_size=e.chunk_size)
        if group.world == 1:
            meta = encode_corpus(str(model), self.cfg.data.corpus, out / "index", options, factory=e.factory,
                                 train_size=e.train_size)
            return {"index": "index", "count": meta.get("count"), "precision": meta["precision"],
                    "encode_seconds": meta["encode_seconds"], "docs_per_s": meta["docs_per_s"]}
        # torchrun: each process encodes documents at positions = rank (mod world); rank 0 merges the shards
        options.shard = (group.rank, group.world)
        meta = encode_corpus(str(model), self.cfg.data.corpus, out / f"shard-{group.rank}", options)
        write_json(out / f"shard-{group.rank}.json", {k: meta[k] for k in ("encoded", "encode_seconds")})
        group.barrier()
        if group.rank:
            return {}
        from lead_ir.fileio import read_json
        from lead_ir.index import merge_indexes

        merged = merge_indexes([out / f"shard-{i}" for i in range(group.world)], out / "index", factory=e.factory,
                               train_size=e.train_size)
        shards = [read_json(out / f"shard-{i}.json") for i in range(group.world)]
        for i in range(group.world):
            shutil.rmtree(out / f"shard-{i}")
            (out / f"shard-{i}.json").unlink()
        seconds = max(s["encode_seconds"] for s in shards)
        encoded = sum(s["encoded"] for s in shards)
        return {"index": "index", "count": merged.get("count"), "precision": meta["precision"],
                "encode_seconds": seconds, "docs_per_s": round(encoded / seconds, 2) if encoded and seconds else None,
                "processes": group.world}

    def encode_key(self) -> dict:
        """The encode section as stage key: its settings that differ from the defaults (``auto`` precision is a
        per-machine choice, recorded in each encode manifest)."""
        return changed_fields(self.cfg.encode)

    def _dense(self, out: Path, row: str, seed: int) -> dict:
        from lead_ir.runs import search_to_run
        from lead_ir.search import dense_search

        depth, model = self.cfg.evaluation.run_depth, self.row_model(row, seed)
        index, row = self.input(f"encode-{row}{self.suffix(row, seed)}", "index"), row + self.suffix(row, seed)
        jobs = [("dev", str(self.input("split", "dev_topics")), None)] + [
            (stem, t, self.topic_field()) for stem, t, _, _ in self.test_sets()]
        for name, topics, topic_field in jobs:
            search_to_run(lambda queries: dense_search(index, model, queries, k=depth), topics,
                          out / f"{name}.trec", tag=f"{row}-{name}", k=depth, field=topic_field)
        return {"runs": [f"{name}.trec" for name, _, _ in jobs]}

    def _costs(self, out: Path) -> dict:
        """The cost side of every dense row (see :mod:`lead_ir.efficiency`), measured on this machine."""
        from lead_ir.data.collections import read_topics
        from lead_ir.efficiency import index_size, machine_description, model_size, query_latency

        rows = self.rows()
        first = {row: self.row_seeds(row)[0] for row in rows}
        models = {row: self.row_model(row, first[row]) for row in rows}
        queries = list(read_topics(self.test_sets()[0][1], self.topic_field()).values())
        latency = query_latency(models, queries)
        costs = {}
        for row in rows:
            encode = f"encode-{row}{self.suffix(row, first[row])}"
            encoded = self.pipeline.manifest(encode) or {}
            rate = encoded.get("outputs", {}).get("docs_per_s")
            if rate is None and encoded.get("outputs", {}).get("count") and encoded.get("wall_time_s"):
                rate = round(encoded["outputs"]["count"] / encoded["wall_time_s"], 2)  # older manifests
            costs[row] = model_size(models[row]) | {"index_bytes": index_size(self.input(encode, "index"))} \
                | {k: v for k, v in latency[row].items() if k != "queries"} | {"docs_per_s": rate}
        machine = machine_description()
        caption = (f"query ms = encoding one test query (batch 1, 1 thread, float32; p50/p95 over "
                   f"{len(queries)} queries) on {machine}; docs/s = the encode stage's corpus throughput")
        write_json(out / "costs.json", {"machine": machine, "caption": caption, "rows": costs})
        return {"costs": "costs.json", "machine": machine, "caption": caption, "rows": costs}

    def _dev_scores(self) -> dict[str, float]:
        from lead_ir.data.collections import read_qrels
        from lead_ir.evaluation import evaluate_runs
        from lead_ir.runs import read_run

        qrels = read_qrels(str(self.input("split", "dev_qrels")))
        stems = {arm.name: [f"{arm.name}{self.suffix(arm.name, s)}" for s in self.row_seeds(arm.name)]
                 for arm in self.cfg.arms}
        runs = {stem: read_run(self.input(f"dense-{stem}", "dev.trec")) for group in stems.values() for stem in group}
        means = evaluate_runs(qrels, runs, [self.cfg.evaluation.dev_metric]).means
        # an arm with several seeds scores the mean over its seeds (the arm is chosen, not a lucky seed)
        return {name: float(sum(means.loc[stem].iloc[0] for stem in group) / len(group))
                for name, group in stems.items()}

    def _hybrid(self, out: Path) -> dict:
        from lead_ir.data.collections import read_qrels
        from lead_ir.fusion import fuse_runs
        from lead_ir.runs import read_run, write_run

        dev = self._dev_scores()
        best = max(dev, key=lambda name: (dev[name], name))
        h, seeds = self.cfg.hybrid, self.row_seeds(best)
        infos, files = {}, []
        for seed in seeds:  # a best arm with several seeds: BM25 fused with each seed's run, one hybrid per seed
            sfx = self.suffix(best, seed)
            runs = [read_run(self.input("bm25-test", "test.trec")),
                    read_run(self.input(f"dense-{best}{sfx}", "test.trec"))]
            dev_runs = [read_run(self.input("bm25-runs", "dev.trec")),
                        read_run(self.input(f"dense-{best}{sfx}", "dev.trec"))]
            fused, infos[seed] = fuse_runs(runs, ["bm25", best], method=h.method, norm=h.norm, dev_runs=dev_runs,
                                           qrels=read_qrels(str(self.input("split", "dev_qrels"))),
                                           metric=self.cfg.evaluation.dev_metric)
            name = f"@s{seed}" if len(seeds) > 1 else ""
            write_run(fused, out / f"test{name}.trec", tag=f"hybrid{name}", k=self.cfg.evaluation.run_depth)
            files.append(f"test{name}.trec")
        if len(seeds) == 1:
            return {"best_student": best, "dev_scores": dev, "fusion": infos[seeds[0]], "runs": files}
        return {"best_student": best, "dev_scores": dev, "fusion": {str(s): i for s, i in infos.items()},
                "runs": files, "seeds": seeds}

    def _leaderboard(self, out: Path) -> dict:
        from lead_ir.compare import compare_runs
        from lead_ir.data.collections import read_qrels
        from lead_ir.evaluation import resolve_metrics
        from lead_ir.runs import read_run, write_run

        ev, results = self.cfg.evaluation, Path(self.cfg.results_dir) if self.cfg.results_dir else None
        costs = (self.pipeline.manifest("costs") or {}).get("outputs") if self.rows() else None
        tables, seeded, planned = {}, self.seeded(), [(a, b) for a, b in ev.comparisons]
        for stem, _, qrels_spec, metrics in self.test_sets():
            paths = self.run_paths(stem)  # row -> seed (None: a row without seeds) -> run file
            runs = {name: {seed: read_run(path) for seed, path in by_seed.items()} for name, by_seed in paths.items()}
            baselines = [b for b in ev.baselines if b in runs]
            # A split's test qrels take their default metrics from the qrels they were cut from.
            family_of = self.cfg.data.qrels if stem == "test" and self.cfg.data.splits_topics else qrels_spec
            chosen, prefix = resolve_metrics(metrics or None, family_of), \
                "leaderboard" if stem == "test" else f"leaderboard-{stem.removeprefix('test-')}"
            if seeded or planned:  # mean +- sd over seeds, tests on seed-averaged per-query scores (lead_ir.seeds)
                from lead_ir.fileio import atomic_open
                from lead_ir.seeds import compare_over_seeds, evaluate_over_seeds, seed_table

                per_seed = evaluate_over_seeds(read_qrels(qrels_spec), runs, chosen)
                pairs = [p for p in planned if set(p) <= set(runs)]  # extra test sets have no hybrid row
                comparison = compare_over_seeds(per_seed, chosen, baselines, pairs=pairs or "baselines",
                                                test=ev.test, correction=ev.correction, alpha=ev.alpha)
                figures = seed_table(per_seed, comparison.metrics).to_csv(index=False, float_format="%.6g")
                for folder in [out] + ([results] if results is not None else []):
                    with atomic_open(folder / f"{prefix}-seeds.csv") as fh:
                        fh.write(figures)
            else:  # one run per row: the table as it always was
                comparison = compare_runs(read_qrels(qrels_spec), {n: next(iter(r.values())) for n, r in runs.items()},
                                          chosen, baselines, test=ev.test, correction=ev.correction, alpha=ev.alpha)
            if costs:
                comparison.with_costs({row: costs["rows"][row] for row in self.rows()}, costs["caption"])
                if stem == "test":
                    self._plot_costs(comparison, out, results)
            comparison.write(out, prefix=prefix)
            tables[prefix] = json.loads(comparison.table.to_json())
            if results is not None:
                suffix = "" if stem == "test" else f".{stem.removeprefix('test-')}"
                for name, by_seed in runs.items():
                    for seed, run in by_seed.items():
                        tag = f"{name}@s{seed}" if len(by_seed) > 1 else name
                        write_run(run, results / f"{tag}{suffix}.trec", tag=tag, k=ev.run_depth)
                comparison.write(results, prefix=prefix)
        if results is not None:
            warmups = tuple(f"{t.name}-warmup" for t in self.cfg.teacher_list())
            for stage in [s.name for s in self.pipeline.stages if s.name.startswith(warmups + ("student-",))]:
                if ((self.pipeline.manifest(stage) or {}).get("outputs") or {}).get("log"):  # a trained stage
                    (results / "logs").mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(self.input(stage, "log"), results / "logs" / f"{stage}.jsonl")
            hybrid = self.pipeline.manifest("hybrid") if self.cfg.hybrid.enabled and self.cfg.arms else None
            if costs:  # the cost side of the dense rows, for notebook 01 and `lead-ir compare --costs`
                write_json(results / "costs.json", costs["rows"] | {"_caption": costs["caption"]})
            write_json(results / "study.json", {
                "name": self.cfg.name, "rows": ["bm25"] + self.rows() + (["hybrid"] if hybrid else []),
                "hybrid": hybrid["outputs"] if hybrid else None, "stage_wall_time_s": self.wall_time(),
                "stages": {s.name: (self.pipeline.manifest(s.name) or {}).get("wall_time_s")
                           for s in self.pipeline.stages}} | ({"seeds": {row: self.row_seeds(row) for row in self.rows()
                                                                        if self.trained(row)}} if seeded else {}))
        return {"leaderboard": "leaderboard.md", "tables": tables}

    def trained(self, row: str) -> bool:
        """Whether a row is trained (so has seeds): a teacher's warm-up and arms with a ``train``."""
        return any(row == f"{t.name}-warmup" for t in self.cfg.teacher_list()) or any(
            a.name == row and a.train is not None for a in self.cfg.arms)

    def seeded(self) -> bool:
        """Whether any row is trained with several seeds (then the leaderboard reports over seeds)."""
        return any(len(self.row_seeds(row)) > 1 for row in self.rows())

    def run_paths(self, stem: str) -> dict[str, dict[int | None, Path]]:
        """Each row's run files of a test set by seed; ``None`` is the seed of a row without seeds (BM25, an
        untrained model, the hybrid of a single-seed student)."""
        paths: dict[str, dict[int | None, Path]] = {"bm25": {None: self.input("bm25-test", f"{stem}.trec")}}
        for row in self.rows():
            paths[row] = {seed if self.trained(row) else None: self.input(
                f"dense-{row}{self.suffix(row, seed)}", f"{stem}.trec") for seed in self.row_seeds(row)}
        if stem == "test" and self.cfg.hybrid.enabled and self.cfg.arms:
            seeds = ((self.pipeline.manifest("hybrid") or {}).get("outputs") or {}).get("seeds")
            paths["hybrid"] = {s: self.input("hybrid", f"test@s{s}.trec") for s in seeds} if seeds else {
                None: self.input("hybrid", "test.trec")}
        return paths

    def _plot_costs(self, comparison, out: Path, results: Path | None) -> None:
        """quality-latency.png: the first metric against p50 query latency, one point per dense row."""
        from lead_ir.plots import plot_quality_latency

        metric = comparison.metrics[0]
        points = {row: (figures["query_ms_p50"], float(comparison.table.at[row, f"{metric}:mean"]))
                  for row, figures in comparison.costs.items() if figures.get("query_ms_p50") is not None}
        for folder in [out] + ([results] if results is not None else []):
            plot_quality_latency(points, folder / "quality-latency.png", metric, comparison.costs_caption)

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
    study.group = _join_torchrun()
    if study.group.rank == 0:
        save_config(cfg, study.root / "config.resolved.yaml")
        if cfg.results_dir:
            save_config(cfg, Path(cfg.results_dir) / "config.resolved.yaml")
    manifests = study.pipeline.run(force, study.group)
    return {"manifests": manifests, "leaderboard": study.out("leaderboard", "leaderboard.md"),
            "wall_time_s": study.wall_time()}


def _join_torchrun() -> ProcessGroup:
    """Under torchrun (``WORLD_SIZE`` > 1): join the process group (NCCL on GPUs, one per local rank; gloo on
    CPUs) so that training stages run with DDP, encode stages shard the corpus, and the rest wait for rank 0."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return ProcessGroup()
    import datetime

    import torch
    import torch.distributed as dist

    from lead_ir.training import distributed

    cuda = torch.cuda.is_available()
    if not dist.is_initialized():  # waits at a barrier last one rank-0 stage (e.g. MS MARCO's BM25 index): hours
        dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(hours=12))
    info = distributed.init_distributed("cuda" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(info.local_rank)
    return ProcessGroup(info.rank, info.world, distributed.barrier)
