"""The LEAD study as a plan of stages: BM25 → split → mining → teacher warm-up → students → encode → dense runs →
hybrid → costs → leaderboard. Built from an :class:`ExperimentConfig`.

This module plans: the rows, their seeds, each training row's :class:`TrainConfig`, the precision ``auto``
resolves to, and the stage graph (names, dependencies, keys). The stage bodies are plain functions, one small
module each, in :mod:`lead_ir.experiment.stages`.

Rows of the final table: ``bm25``, ``teacher-zero-shot`` (unless ``zero_shot_row: false``), ``teacher-warmup``
(when enabled; with several
``teachers``, ``<name>-zero-shot`` and ``<name>-warmup`` of each dense one, whose warm-up stage is
``<name>-warmup``), one per arm, and ``hybrid`` (BM25 + the student that is best on dev). An arm's
``student_model: <teacher>-warmup`` starts its student from that warm-up stage's model. An arm whose
``train.student.tower`` is ``query`` is a query student of its teacher row: it has no encode stage, and its dense
runs search that row's index. A row trained with several ``seeds`` has one training/encode/dense stage per seed
(``student-<arm>@s<seed>``; the experiment's ``seed`` keeps the plain names) and one leaderboard row, mean ± sd
over seeds (:mod:`lead_ir.seeds`).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from lead_ir.config import changed_fields
from lead_ir.errors import ConfigError, LeadIRError
from lead_ir.experiment.config import ArmSection, ExperimentConfig, TeacherSection
from lead_ir.experiment.runner import Pipeline, ProcessGroup, Stage
from lead_ir.experiment.stages.bm25 import bm25_index, bm25_runs, bm25_test
from lead_ir.experiment.stages.costs import measure_costs
from lead_ir.experiment.stages.dense import dense_runs
from lead_ir.experiment.stages.dev_pool import dev_pool
from lead_ir.experiment.stages.encode import encode_row
from lead_ir.experiment.stages.hybrid import fuse_best
from lead_ir.experiment.stages.leaderboard import write_leaderboard
from lead_ir.experiment.stages.mine import mine, mine_unlabeled
from lead_ir.experiment.stages.split import SPLIT_FILES, split_topics
from lead_ir.experiment.stages.train import train_row

logger = logging.getLogger(__name__)


def deep_merge(base: dict, override: dict | None) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# TrainConfig fields each training stage fills from the study (paths from manifests, seed, teacher kind): a
# setting of them in `train` would be overwritten, so it is refused when the plan is made. Value: where the
# study takes it from, for the message. (`student.tower` is the arm's own: `query` makes a query-student arm.)
STUDY_OWNED = {
    ("student", "path"): "the teacher's model or the arm's student_model", ("student", "kind"): "the teacher's kind",
    ("student", "keep_layers"): "the arm's student_layers", ("teacher", "path"): "the arm's teacher row",
    ("teacher", "kind"): "the teacher section's kind", ("data", "train"): "the mine stage",
    ("data", "corpus"): "data.corpus", ("data", "dev_fraction"): "the split stage (data.dev_fraction)",
    ("data", "dev_topics"): "the split stage", ("data", "dev_qrels"): "the split stage",
    ("data", "dev_corpus"): "evaluation.dev_pool_depth", ("data", "dev_metric"): "evaluation.dev_metric",
    ("data", "dev_index"): "a query-student arm's teacher row (its encode stage)",
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
        self.auto_precision: list[str] = []  # the sections that left precision to `auto` (named in the caption)
        self.train_configs = self._plan_train_configs()  # row -> its TrainConfig (None: an untrained arm)
        self.encode_section = self._resolve_encode_precision()
        self.pipeline = Pipeline(self.root, self._stages())
        validate_plan(cfg)  # everything a later stage would reject fails now, before the first stage
        self.group = ProcessGroup()  # run_experiment sets the torchrun group

    # ------------------------------------------------------------------ what earlier stages wrote
    def out(self, stage: str, name: str = "") -> Path:
        return self.pipeline.folder(stage) / name if name else self.pipeline.folder(stage)

    def input(self, stage: str, name: str, required: bool = True) -> Path | None:
        """What a finished earlier stage wrote, as its manifest's ``outputs`` name it: an entry ``name`` (a file or
        folder in the stage folder), or a run file ``name`` listed in ``outputs.runs``. Stages read their inputs
        this way, never from paths of their own making. An output that is not ``required`` (one a stage may or may
        not have written) is None when it is not there."""
        outputs = (self.pipeline.manifest(stage) or {}).get("outputs") or {}
        found = outputs.get(name) if isinstance(outputs.get(name), str) else \
            name if name in (outputs.get("runs") or []) else None
        if found is None and not required:
            return None
        if found is None:
            raise LeadIRError(f"stage {stage} has no finished output '{name}' (its manifest in {self.out(stage)} does "
                              f"not list it: missing, or written by an older lead_ir); re-run it with --force {stage}")
        return self.out(stage, found)

    def teacher_model(self, teacher: TeacherSection | None = None) -> Path:
        """A teacher's checkpoint as configured (zero-shot); default the first teacher."""
        from lead_ir.resolve import resolve_model

        return resolve_model((teacher or self.cfg.teacher_list()[0]).model)

    def model_dir(self, model_stage: str | None) -> Path:
        """The model a stage trained, from its manifest's outputs (None: the first teacher's checkpoint)."""
        return self.teacher_model() if model_stage is None else self.input(model_stage, "model")

    def row_model(self, row: str, seed: int) -> Path:
        """A dense row's model at ``seed``: a zero-shot teacher's checkpoint, else its stage's trained model (for a
        query-student arm: its query encoder)."""
        stage = self.model_stage(row, seed)
        return self.teacher_model(self.teacher_of(row)) if stage is None else self.model_dir(stage)

    # ------------------------------------------------------------------ rows, seeds and stage names
    def rows(self) -> list[str]:
        """Dense rows: the teachers that are dual encoders, then one per arm."""
        return self.cfg.teacher_rows() + [arm.name for arm in self.cfg.arms]

    def teacher_of(self, row: str) -> TeacherSection | None:
        """The teacher of a ``<name>-zero-shot`` or ``<name>-warmup`` row or stage name (None: not a teacher's)."""
        return next((t for t in self.cfg.teacher_list() if row in (f"{t.name}-zero-shot", f"{t.name}-warmup")), None)

    def arm_teacher_row(self, arm: ArmSection) -> str:
        """The teacher row an arm distils from (``<name>-warmup`` or ``<name>-zero-shot``; ``arm.teacher`` resolved)."""
        teacher, warm = self.cfg.arm_teacher(arm)
        return f"{teacher.name}-{'warmup' if warm else 'zero-shot'}"

    def query_teacher_row(self, row: str) -> str | None:
        """The teacher row whose index a query-student arm searches (``train.student.tower: query``); None for a
        row with an index of its own."""
        train = self.train_configs.get(row)
        arm = next((a for a in self.cfg.arms if a.name == row), None)
        if arm is None or train is None or train.student.tower != "query":
            return None
        return self.arm_teacher_row(arm)

    def keeps_passage_layers(self, row: str) -> bool:
        """Whether a row's encode stage also keeps every layer's passage vectors: a teacher row whose index a
        query student with a frozen teacher cache searches (that cache then copies them instead of encoding the
        corpus again), when ``encode.teacher_layers`` is on."""
        if not self.encode_section.teacher_layers or self.teacher_of(row) is None:
            return False
        return any(self.query_teacher_row(arm.name) == row and self.train_configs[arm.name].teacher.mode == "frozen"
                   and self.train_configs[arm.name].teacher.cache for arm in self.cfg.arms)

    def row_seeds(self, row: str) -> list[int]:
        """Seeds a row is trained with, one training/encode/dense stage each (a warm-up's ``seeds``, an arm's
        ``seeds``); an untrained row has the experiment's ``seed`` alone."""
        c, teacher = self.cfg, self.teacher_of(row)
        if teacher is not None and row.endswith("-warmup"):
            return c.seeds_of(teacher.seeds) if teacher.warmup else []
        arm = next((a for a in c.arms if a.name == row), None)
        return c.seeds_of(arm.seeds) if arm is not None and arm.train is not None else [c.seed]

    def trained(self, row: str) -> bool:
        """Whether a row is trained (so has seeds): a teacher's warm-up and arms with a ``train``."""
        return any(row == f"{t.name}-warmup" for t in self.cfg.teacher_list()) or any(
            a.name == row and a.train is not None for a in self.cfg.arms)

    def seeded(self) -> bool:
        """Whether any row is trained with several seeds (then the leaderboard reports over seeds)."""
        return any(len(self.row_seeds(row)) > 1 for row in self.rows())

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

    def index_stage(self, row: str, seed: int) -> str:
        """The encode stage whose index a row's dense runs search at ``seed``: its own, or for a query-student arm
        its teacher row's (the warm-up of that seed when it has one, else of its first seed: the model the arm
        was trained against)."""
        teacher_row = self.query_teacher_row(row)
        if teacher_row is not None:
            row, seeds = teacher_row, self.row_seeds(teacher_row)
            seed = seed if seed in seeds else seeds[0]
        return f"encode-{row}{self.suffix(row, seed)}"

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

    # ------------------------------------------------------------------ topics, qrels and their keys
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

    def encode_key(self) -> dict:
        """The encode section as stage key: its settings that differ from the defaults (``auto`` precision as it
        resolved when the plan was made)."""
        return changed_fields(self.encode_section)

    # ------------------------------------------------------------------ training configs and precision
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
                where = f"{c.teacher_where(teacher)}.train"
                warm = configs[f"{teacher.name}-warmup"] = plan_train_config(c.train, teacher.train, where, planned)
                if warm.student.tower == "query":
                    raise ConfigError(f"{where}: student.tower is query, but a warm-up fine-tunes the teacher whose "
                                      f"index query students search; set {where}.student.tower: both, or set "
                                      f"student.tower: query in the arms' train")
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
            if train.student.tower == "query" and self.arm_teacher_row(arm) not in c.teacher_rows():
                teacher = c.arm_teacher(arm)[0]
                why = f"{c.teacher_where(teacher)}.zero_shot_row is false" if teacher.kind == "dense" else \
                    f"{teacher.kind} teachers are not encoded"
                raise ConfigError(f"arm '{arm.name}' is a query student (train.student.tower: query) of "
                                  f"{self.arm_teacher_row(arm)}, which has no index ({why}); choose a dense "
                                  f"teacher's row: {', '.join(c.teacher_rows()) or 'none in this study'}")
            configs[arm.name] = train
        return {row: self._resolve_train_precision(row, train) for row, train in configs.items()}

    # `auto` is resolved once, here, into the planned configs (and so into the stage keys): every arm, index and
    # cost row of a study runs in one precision, and a resume on a host where `auto` means another precision
    # re-runs the stages it would change instead of mixing precisions in one table.
    def _resolve_train_precision(self, row: str, train):
        from lead_ir.precision import device_type_of, resolve_precision

        if train is None or train.optim.precision != "auto":
            return train
        resolved = resolve_precision("auto", device_type_of(train.run.device))
        self.auto_precision.append(f"{row} training")
        return dataclasses.replace(train, optim=dataclasses.replace(train.optim, precision=resolved))

    def _resolve_encode_precision(self):
        from lead_ir.precision import device_type_of, resolve_precision

        if self.cfg.encode.precision != "auto":
            return self.cfg.encode
        self.auto_precision.append("encoding")
        return dataclasses.replace(self.cfg.encode, precision=resolve_precision("auto", device_type_of(None)))

    def precision_note(self) -> str:
        """The caption's sentence on precision: only for a study that left some of it to `auto` (one that pins it
        says so in its config, and its figures are the same on every machine)."""
        if not self.auto_precision:
            return ""
        trained = sorted({t.optim.precision for t in self.train_configs.values() if t is not None})
        return (f"Precision auto, resolved on this machine to: training {'/'.join(trained) or 'none'}, encoding and "
                f"query latency {self.encode_section.precision}.")

    # ------------------------------------------------------------------ the stage graph
    def _stages(self) -> list[Stage]:
        c = self.cfg
        stages = [
            Stage("bm25-index", lambda out: bm25_index(self, out), key={"corpus": c.data.corpus},
                  description="Lucene index of the corpus"),
            # Each stage's key holds only what it reads: the split never sees the test sets, and test
            # qrels reach the leaderboard alone, so changing them re-runs evaluation only.
            Stage("split", lambda out: split_topics(self, out), key=self.split_key(),
                  description="train/dev split of training queries"),
            Stage("bm25-runs", lambda out: bm25_runs(self, out), deps=("bm25-index", "split"),
                  key={"bm25": dataclasses.asdict(c.bm25), "depth": c.evaluation.run_depth},
                  description="BM25 runs of the training (mining pool) and dev queries"),
            Stage("bm25-test", lambda out: bm25_test(self, out),
                  deps=("bm25-index",) + (("split",) if c.data.splits_topics else ()),
                  key={"k1": c.bm25.k1, "b": c.bm25.b, "depth": c.evaluation.run_depth} | self.test_topics_key(),
                  description="BM25 runs of the test sets"),
            Stage("mine", lambda out: mine(self, out), deps=("bm25-runs", "split"),
                  key={k: v for k, v in dataclasses.asdict(c.mining).items() if k != "unlabeled"}),
        ]
        if c.mining.unlabeled.queries:
            if c.mining.unlabeled.queries in [topics for _, topics, _, _ in self.test_sets(planned=True)]:
                raise ConfigError(f"mining.unlabeled.queries {c.mining.unlabeled.queries!r} is a test set; train on "
                                  f"other queries or on 'titles'")
            stages.append(Stage("mine-unlabeled", lambda out: mine_unlabeled(self, out), deps=("bm25-index",),
                                key=dataclasses.asdict(c.mining.unlabeled) | {"bm25": [c.bm25.k1, c.bm25.b]},
                                description="unlabeled queries and their BM25 candidates"))
        # Training stages see the dev pool only when there is one, so studies without it keep their keys.
        pool_depth = c.evaluation.dev_pool_depth
        train_deps, dev_key = (("mine", "dev-pool"), {"dev_pool": pool_depth}) if pool_depth else (("mine",), {})
        dev_key |= {"dev_metric": c.evaluation.dev_metric}  # it picks each training stage's kept checkpoint
        if pool_depth:
            stages.append(Stage("dev-pool", lambda out: dev_pool(self, out), deps=("bm25-index", "split"),
                                key={"depth": pool_depth, "bm25": dataclasses.asdict(c.bm25)},
                                description="the corpus dev evaluation searches"))
        stages += self._training_stages(train_deps, dev_key) + self._row_stages()
        if c.hybrid.enabled and c.arms:
            stages.append(Stage("hybrid", lambda out: fuse_best(self, out), deps=("bm25-runs", "bm25-test", "split")
                                + tuple(f"dense-{arm.name}{self.suffix(arm.name, s)}" for arm in c.arms
                                        for s in self.row_seeds(arm.name)),
                                key=dataclasses.asdict(c.hybrid) | {"dev_metric": c.evaluation.dev_metric}))
        if self.rows():  # a row's costs are measured on its first seed's model (same architecture and size)
            stages.append(Stage("costs", lambda out: measure_costs(self, out), deps=self._costs_deps(),
                                key={"latency": {"batch": 1, "threads": 1, "warmup": 5,
                                                 "precision": self.encode_section.precision},
                                     "topics": self._source_key(self.test_sets(planned=True)[0][1])},
                                description="model size, index size, query latency, encoding throughput"))
        board_deps = ("bm25-test",) + tuple(f"dense-{r}{self.suffix(r, s)}" for r in self.rows()
                                            for s in self.row_seeds(r)) + (
            ("hybrid",) if c.hybrid.enabled and c.arms else ()) + (("costs",) if self.rows() else ())
        # dev_pool_depth reaches the table through the training stages' keys, not directly; no planned
        # comparisons leaves the key as it was before they existed.
        board_key = {k: v for k, v in dataclasses.asdict(c.evaluation).items() if k != "dev_pool_depth"
                     and (k != "comparisons" or v)}
        stages.append(Stage("leaderboard", lambda out: write_leaderboard(self, out), deps=board_deps,
                            key=board_key | {"results_dir": c.results_dir, "judgments": self.test_qrels_key()}))
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(f"stages {', '.join(twice)} are named twice; rename the teacher or arm they belong to")
        return dependency_order(stages)

    def _training_stages(self, train_deps: tuple[str, ...], dev_key: dict) -> list[Stage]:
        """Each teacher's warm-up and each arm's student, one stage per seed."""
        c, stages = self.cfg, []
        for teacher in c.teacher_list():
            if not teacher.warmup:
                continue
            where, warm = c.teacher_where(teacher), self.train_configs[f"{teacher.name}-warmup"]
            # the kind is in the key only when it is not dense, so dense studies keep the keys they had
            kind_key = {"kind": teacher.kind} if teacher.kind != "dense" else {}
            for seed in self.row_seeds(f"{teacher.name}-warmup"):
                stages.append(Stage(self.model_stage(f"{teacher.name}-warmup", seed),
                                    lambda out, s=seed, t=teacher, w=warm: train_row(self, out, None, w, s, t),
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
                # a query student's dev evaluation searches the teacher's index, as its test runs do
                deps += (self.index_stage(arm.name, seed),) if self.query_teacher_row(arm.name) else ()
                stages.append(Stage(self.model_stage(arm.name, seed),
                                    lambda out, a=arm, t=train, s=seed: train_row(self, out, a, t, s), deps=deps,
                                    key={"arm": arm_key, "train": None if train is None else
                                         changed_fields(train), "seed": seed,
                                         "teacher": teacher.model} | kind_key | dev_key, resumable=train is not None,
                                    parallel=train is not None, description=f"arm {arm.name} (seed {seed})"))
        return stages

    def _row_stages(self) -> list[Stage]:
        """Each dense row's encode stage (none for a query-student arm: it searches its teacher row's index) and
        its dense runs, one of each per seed."""
        c, stages = self.cfg, []
        for row in self.rows():
            for seed in self.row_seeds(row):
                model_stage, sfx, index_stage = self.model_stage(row, seed), self.suffix(row, seed), \
                    self.index_stage(row, seed)
                if self.query_teacher_row(row) is None:
                    teacher = self.teacher_of(row)  # a zero-shot row encodes its teacher's checkpoint
                    stages.append(Stage(index_stage, lambda out, r=row, s=seed: encode_row(self, out, r, s),
                                        deps=(model_stage,) if model_stage else (),
                                        key={"encode": self.encode_key(), "model": teacher.model
                                             if model_stage is None else model_stage, "corpus": c.data.corpus},
                                        resumable=True, parallel=True, description=f"FAISS index for {row}{sfx}"))
                    deps = (index_stage, "split")
                else:  # its query encoder (the model stage) over the teacher row's index
                    deps = (index_stage, model_stage, "split")
                stages.append(Stage(f"dense-{row}{sfx}", lambda out, r=row, s=seed: dense_runs(self, out, r, s),
                                    deps=deps, key={"depth": c.evaluation.run_depth} | self.test_topics_key()))
        return stages

    def _costs_deps(self) -> tuple[str, ...]:
        """What the costs stage reads, per row at its first seed: the index its runs search and, for a query
        student (whose index is its teacher's), its own model stage."""
        deps = ["split"]
        for row in self.rows():
            first = self.row_seeds(row)[0]
            deps += [self.index_stage(row, first)] + (
                [self.model_stage(row, first)] if self.query_teacher_row(row) else [])
        return tuple(dict.fromkeys(deps))

    def wall_time(self) -> float:
        total = 0.0
        for stage in self.pipeline.stages:
            manifest = self.pipeline.manifest(stage.name)
            total += manifest["wall_time_s"] if manifest else 0.0
        return round(total, 1)


def dependency_order(stages: list[Stage]) -> list[Stage]:
    """``stages`` in their listed order, except that a stage's inputs are moved up to just before it when they
    were listed later (a query-student arm trains after its teacher row's encode stage, which the row stages
    list)."""
    by_name, ordered, placed = {s.name: s for s in stages}, [], set()

    def place(stage: Stage) -> None:
        if stage.name in placed:
            return
        placed.add(stage.name)
        for dep in stage.deps:
            if dep in by_name:  # an unknown dep is the pipeline's error to report
                place(by_name[dep])
        ordered.append(stage)

    for stage in stages:
        place(stage)
    return ordered


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
