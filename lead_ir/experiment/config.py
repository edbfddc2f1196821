"""The experiment config: one YAML describes the whole LEAD pipeline and its arms."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from lead_ir.bm25 import BM25Params
from lead_ir.config import BELOW_ONE, NON_NEGATIVE, POSITIVE, PROBABILITY, UNIT, number
from lead_ir.errors import ConfigError, closest

# first words of the study's per-row stage names: a teacher named so would collide with them
_STAGE_WORDS = frozenset({"student", "encode", "dense"})


@dataclass
class TestSet:
    name: str = field(default="", metadata={"help": "suffix of its runs and leaderboard (e.g. dl19)"})
    topics: str = ""
    qrels: str = ""
    metrics: list[str] = field(default_factory=list, metadata={"help": "empty: the collection family's defaults"})

    def __post_init__(self) -> None:
        if not self.name or not self.topics or not self.qrels:
            raise ValueError(f"an extra test set needs name, topics and qrels, found {self.name!r}")


@dataclass
class DataSection:
    corpus: str = field(default="irds:beir/scifact/test", metadata={"help": "corpus spec searched and trained on"})
    train_topics: str = field(default="scifact-train", metadata={"help": "training topics (dev is held out of them)"})
    train_qrels: str = field(default="scifact-train", metadata={"help": "training qrels"})
    test_topics: str = field(default="scifact-test", metadata={"help": "test topics, used once for the final table"})
    test_qrels: str = field(default="scifact-test", metadata={"help": "test qrels"})
    dev_fraction: float = number(0.2, PROBABILITY, "share of training queries held out as dev")
    split_seed: int = number(13, NON_NEGATIVE, "seed of the train/dev split (by qid)")
    max_train_queries: int = number(0, NON_NEGATIVE, "use at most this many training queries (0: all)")
    topic_field: str = field(default="", metadata={
        "help": "topic text of every topics spec: '' (the query as the source gives it: TREC title), title, desc, "
                "narr or a join such as title+desc"})
    topics: str = field(default="", metadata={
        "help": "one topic set split here into train/dev/test (with qrels and test_fraction or test_ids), instead "
                "of train_topics/train_qrels/test_topics/test_qrels"})
    qrels: str = field(default="", metadata={"help": "the qrels of data.topics"})
    test_fraction: float = number(0.0, BELOW_ONE, "share of data.topics held out as test (seeded; 0: none)")
    test_ids: str = field(default="", metadata={"help": "file of data.topics' test query ids, one per line"})
    extra_test_sets: list[TestSet] = field(default_factory=list, metadata={
        "help": "more topic/qrels sets evaluated once at the end, each with its own leaderboard"})

    def __post_init__(self) -> None:
        if not self.topics:
            if self.qrels or self.test_fraction or self.test_ids:
                raise ValueError("data.qrels, data.test_fraction and data.test_ids split data.topics; set data.topics "
                                 "too, or use train_topics/train_qrels/test_topics/test_qrels")
            return
        paired = ("train_topics", "train_qrels", "test_topics", "test_qrels")
        given = [name for name in paired if getattr(self, name) != DataSection.__dataclass_fields__[name].default]
        if given:
            raise ValueError(f"data.topics is split into train/dev/test here; remove data.{', data.'.join(given)}")
        if not self.qrels:
            raise ValueError("data.topics needs data.qrels (its judgments)")
        if bool(self.test_ids) == bool(self.test_fraction):
            raise ValueError("data.topics needs one of data.test_fraction (e.g. 0.2) or data.test_ids (a file of ids)")

    @property
    def splits_topics(self) -> bool:
        """True when one topic set (``topics``/``qrels``) is split into train/dev/test by the study."""
        return bool(self.topics)


@dataclass
class BM25Section:
    k1: float = number(BM25Params.k1, NON_NEGATIVE, "BM25 k1 (default: lead_ir.bm25.BM25Params)")
    b: float = number(BM25Params.b, UNIT, "BM25 b (default: lead_ir.bm25.BM25Params)")
    train_depth: int = number(100, POSITIVE, "BM25 hits per training query (mining pool)")
    threads: int = number(0, NON_NEGATIVE, "Lucene threads (0: CPU count, at most 8)")

    def params(self) -> BM25Params:
        return BM25Params(k1=self.k1, b=self.b)


@dataclass
class UnlabeledSection:
    """Unlabeled training queries (no judgments) with BM25 candidates; an arm mixes them in with
    ``train.data.unlabeled_ratio`` > 0 (unlabeled groups per labeled group)."""

    queries: str = field(default="", metadata={
        "help": "'' (none), 'titles' (pseudo-queries from the corpus titles) or a topics spec without test queries"})
    depth: int = number(100, POSITIVE, "BM25 hits per unlabeled query (candidates)")
    num_candidates: int = number(100, POSITIVE, "keep at most this many candidates per query")
    max_queries: int = number(0, NON_NEGATIVE, "titles: a seeded sample of this many (0: all)")
    min_title_words: int = number(3, POSITIVE, "titles: drop shorter titles")
    exclude_source: bool = field(default=True, metadata={"help": "titles: leave a title's own document out"})


@dataclass
class MiningSection:
    depth: int = number(100, POSITIVE, "hits per training query the negatives are mined from")
    num_negatives: int = number(100, POSITIVE, "hard negatives kept per training query")
    unlabeled: UnlabeledSection = field(default_factory=UnlabeledSection, metadata={
        "help": "unlabeled queries for distillation (stage mine-unlabeled; not part of the mine stage's key)"})


@dataclass
class TeacherSection:
    name: str = field(default="", metadata={
        "help": "names the teacher's rows and stages (<name>-zero-shot, <name>-warmup); required in `teachers`, "
                "'teacher' by default for the single `teacher`"})
    model: str = field(default="sentence-transformers/all-MiniLM-L6-v2",
                       metadata={"help": "local dir, HF name, or the offline all-MiniLM-L6-v2 package"})
    kind: Literal["dense", "colbert", "cross"] = field(default="dense", metadata={
        "help": "teacher architecture; only a dense teacher gets its own rows in the leaderboard (a ColBERT or "
                "cross-encoder teacher is warmed up and distilled from, but not indexed)"})
    warmup: bool = field(default=True, metadata={"help": "also fine-tune the teacher on the training queries"})
    zero_shot_row: bool = field(default=True, metadata={
        "help": "index and evaluate the checkpoint as configured (row <name>-zero-shot); false keeps only the "
                "warm-up row and saves encoding the corpus once more (needs warmup: true)"})
    train: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "TrainConfig overrides for the warm-up (merged over the experiment's `train`)"})
    seeds: int | list[int] | None = number(None, NON_NEGATIVE, (
        "seeds of the warm-up: null = the experiment's seeds, N = its first N, or a list of them"))


@dataclass
class ArmSection:
    name: str = field(default="", metadata={"help": "row name in the leaderboard and run file name"})
    student_model: str = field(default="", metadata={
        "help": "the student's backbone: a model (dir, HF name, pymodule:<package>), a teacher's warm-up row "
                "(<teacher>-warmup: that stage's trained model), or empty: the arm's teacher checkpoint; truncated "
                "to student_layers"})
    student_layers: list[int] = number(factory=lambda: [1, 2, 3], check=POSITIVE, help=(
        "backbone blocks the student keeps (1-based; empty keeps all)"))
    teacher: str = field(default="warmup", metadata={
        "help": "the teacher row this arm distils from: <teacher>-warmup or <teacher>-zero-shot (with one teacher "
                "also warmup or zero-shot)"})
    train: dict[str, Any] | None = field(default_factory=dict, metadata={
        "help": "TrainConfig overrides for this arm; null means no training (the truncated student as is)"})
    seeds: int | list[int] | None = number(None, NON_NEGATIVE, (
        "seeds this arm is trained with: null = the experiment's seeds, N = its first N (1: one seed "
        "suffices), or a list of them; an untrained arm has one"))

    def __post_init__(self) -> None:
        if not self.name or any(ch.isspace() or ch in "/\\@" for ch in self.name):
            raise ValueError(f"arm name {self.name!r} must be a non-empty word without '@' (it names files)")


@dataclass
class EncodeSection:
    batch_size: int = number(64, POSITIVE, "passages per encoding batch")
    # None: each checkpoint's own passage_max_len, i.e. the length it was trained at; a student
    # trained on 128-token passages and encoded at 256 loses much of its quality (docs/results.md)
    max_length: int | None = number(None, POSITIVE, "passage tokens kept (null: each checkpoint's passage_max_len)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = field(default="fp32", metadata={
        "help": "fp32: the same vectors on every machine; auto (faster): bf16 autocast on a GPU or a CPU with "
                "AVX512-BF16/AMX, else fp32, resolved once when the study is planned (recorded per encode stage "
                "and in the leaderboard caption); vectors are float32 whatever the precision"})
    factory: str = field(default="Flat", metadata={
        "help": "FAISS index_factory string of every index (inner product): Flat (exact), HNSW32, IVF4096,PQ64, ..."})
    train_size: int | None = number(None, POSITIVE, "vectors sampled to train IVF/PQ factories (null: "
                                                      "lead_ir.index.TRAIN_SIZE)")
    chunk_size: int = number(16384, POSITIVE, "documents per length-sorted, resumable chunk")
    teacher_layers: bool = field(default=False, metadata={
        "help": "a teacher row that query students search keeps every layer's passage vectors beside its index "
                "(the layer count times the index's size on disk), so their teacher cache copies them instead of "
                "encoding the corpus a second time; off by default, because the copied vectors differ from the "
                "cache's own by float rounding (other batches), which changes training at that level: a torchrun "
                "study, whose encode shards do not keep them, then no longer equals a single-process one"})
    # Sharding (`lead-ir encode --shard i/n`) is the process group's: under torchrun each of n processes
    # encodes shard rank/n and rank 0 merges them into one index of this factory.


@dataclass
class HybridSection:
    enabled: bool = True
    method: Literal["wsum", "rrf", "combsum", "combmnz"] = "wsum"
    norm: Literal["min-max", "max", "sum", "zmuv", "rank"] = "min-max"


@dataclass
class EvaluationSection:
    metrics: list[str] = field(default_factory=lambda: ["ndcg@10", "recall@100"])
    dev_metric: str = field(default="ndcg@10", metadata={"help": "metric that picks the best student on dev"})
    baselines: list[str] = field(default_factory=lambda: ["bm25"], metadata={
        "help": "rows that significance is marked against (bm25, teacher-*, arm names, hybrid); checked at plan "
                "time"})
    test: Literal["ttest", "fisher", "tukey"] = "ttest"
    correction: Literal["holm", "bonferroni", "none"] = "holm"
    alpha: float = number(0.05, PROBABILITY, "significance level of the tests")
    comparisons: list[list[str]] = field(default_factory=list, metadata={
        "help": "planned comparisons, pairs of row names (e.g. [[lead, contrastive], [lead, response-kd]]): the "
                "significance tests are exactly these, corrected over them; empty: every row against each baseline"})
    run_depth: int = number(100, POSITIVE, "hits kept per query in the written runs")
    dev_pool_depth: int = number(0, NON_NEGATIVE, (
        "corpus searched by dev evaluation during training: 0 = the whole corpus (exact); N = each "
        "dev query's BM25 top N plus its judged documents (affordable on MS MARCO's 8.8M passages)"))

    def __post_init__(self) -> None:
        for pair in self.comparisons:
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ValueError(f"evaluation.comparisons: each entry is a pair of two different row names, "
                                 f"found {pair}")


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    output_dir: str = field(default="work/experiments/experiment", metadata={
        "help": "stage outputs, manifests, models (not committed)"})
    results_dir: str = field(default="", metadata={"help": "where the final runs/leaderboard/logs are copied"})
    seed: int = number(42, NON_NEGATIVE, "the seed of every trained row when `seeds` is empty")
    seeds: list[int] = number(factory=list, check=NON_NEGATIVE, help=(
        "seeds of every trained row (e.g. [42, 43, 44]): one training/encode/dense stage per seed, the "
        "leaderboard reports mean +- sd over seeds; empty: [seed]. The split stays fixed (data.split_seed)"))
    data: DataSection = field(default_factory=DataSection)
    bm25: BM25Section = field(default_factory=BM25Section)
    mining: MiningSection = field(default_factory=MiningSection)
    teacher: TeacherSection = field(default_factory=TeacherSection, metadata={
        "help": "the study's one teacher (its rows: teacher-zero-shot, teacher-warmup); or use `teachers`"})
    teachers: list[TeacherSection] = field(default_factory=list, metadata={
        "help": "several named teachers instead of `teacher` (each: name, model, kind, warmup, train, seeds), with "
                "rows <name>-zero-shot and <name>-warmup; an arm names its teacher as <name>-warmup/-zero-shot"})
    train: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "TrainConfig settings shared by the teacher warm-up and every arm"})
    arms: list[ArmSection] = field(default_factory=list)
    encode: EncodeSection = field(default_factory=EncodeSection)
    hybrid: HybridSection = field(default_factory=HybridSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)

    def __post_init__(self) -> None:
        if self.teachers and self.teacher != TeacherSection():
            raise ConfigError("set either `teacher` (one teacher) or `teachers` (a list of named teachers), not both")
        tnames = [t.name for t in self.teacher_list()]
        for i, name in enumerate(tnames):
            if not name or any(ch.isspace() or ch in "/\\@" for ch in name) or name in _STAGE_WORDS:
                where = f"teachers[{i}]" if self.teachers else "teacher"
                raise ConfigError(f"{where}: name {name!r} must be a non-empty word without '/', '@' or spaces, "
                                  f"and not one of {', '.join(sorted(_STAGE_WORDS))} (it names rows and stages)")
        if len(set(tnames)) != len(tnames):
            raise ConfigError(f"teacher names must be unique, found {tnames}")
        names = [arm.name for arm in self.arms]
        reserved = {"bm25", "hybrid"} | {f"{t}-{row}" for t in tnames for row in ("zero-shot", "warmup")}
        duplicated = {n for n in names if names.count(n) > 1} | (set(names) & reserved)
        if duplicated:
            raise ConfigError(f"arm names must be unique and not one of {sorted(reserved)}: {sorted(duplicated)}")
        for arm in self.arms:  # each names a teacher row, and a backbone row must be a trained stage
            self.arm_teacher(arm)
            self.arm_backbone(arm)
        for t in self.teacher_list():
            if t.kind == "dense" and not (t.zero_shot_row or t.warmup):
                raise ConfigError(f"{self.teacher_where(t)}: zero_shot_row and warmup are both false, so the teacher "
                                  f"has no row; set one of them true")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be distinct, found {self.seeds}")
        for where, seeds in [(f"{self.teacher_where(t)}.seeds", t.seeds) for t in self.teacher_list()] + [
                (f"arm '{arm.name}': seeds", arm.seeds) for arm in self.arms]:
            self._check_seeds(seeds, where)

    def teacher_list(self) -> list[TeacherSection]:
        """The study's teachers: each of ``teachers``, or the single ``teacher`` (named 'teacher' unless it says)."""
        if self.teachers:
            return list(self.teachers)
        return [dataclasses.replace(self.teacher, name=self.teacher.name or "teacher")]

    def teacher_where(self, teacher: TeacherSection) -> str:
        """Where a teacher is in the config, for messages: ``teacher`` or ``teachers[i]``."""
        if not self.teachers:
            return "teacher"
        return f"teachers[{[t.name for t in self.teachers].index(teacher.name)}]"

    def teacher_rows(self) -> list[str]:
        """The teachers' leaderboard rows: ``<name>-zero-shot`` and, when warmed up, ``<name>-warmup`` of each dense
        teacher (a ColBERT or cross-encoder teacher has no index of its own)."""
        return [row for t in self.teacher_list() if t.kind == "dense"
                for row in ([f"{t.name}-zero-shot"] if t.zero_shot_row else []) + (
                    [f"{t.name}-warmup"] if t.warmup else [])]

    def arm_teacher(self, arm: ArmSection) -> tuple[TeacherSection, bool]:
        """The teacher an arm distils from, and whether it is that teacher's warm-up (``arm.teacher`` resolved)."""
        teachers = self.teacher_list()
        choices = {f"{t.name}-{row}": (t, row == "warmup") for t in teachers for row in ("zero-shot", "warmup")}
        if len(teachers) == 1:  # one teacher: the short names of a study written before `teachers`
            choices |= {"zero-shot": (teachers[0], False), "warmup": (teachers[0], True)}
        if arm.teacher not in choices:
            raise ConfigError(f"arm '{arm.name}': teacher '{arm.teacher}' is not a teacher row of this study"
                              f"{closest(arm.teacher, choices)}; choose one of {', '.join(choices)}")
        teacher, warm = choices[arm.teacher]
        if warm and not teacher.warmup:
            raise ConfigError(f"arm '{arm.name}' distils from {teacher.name}-warmup but "
                              f"{self.teacher_where(teacher)}.warmup is false; set it true or use "
                              f"{teacher.name}-zero-shot")
        return teacher, warm

    def arm_backbone(self, arm: ArmSection) -> TeacherSection | None:
        """The teacher whose warm-up stage is an arm's backbone (``student_model: <teacher>-warmup``), or None when
        ``student_model`` names a model (or is empty: the arm's teacher checkpoint)."""
        from pathlib import Path

        spec = arm.student_model
        warmups = {f"{t.name}-warmup": t for t in self.teacher_list() if t.warmup}
        if spec in warmups:
            return warmups[spec]
        rows = {"bm25", "hybrid", "zero-shot", "warmup"} | {a.name for a in self.arms} | {
            f"{t.name}-{row}" for t in self.teacher_list() for row in ("zero-shot", "warmup")}
        if spec in rows or (spec.endswith("-warmup") and "/" not in spec and not Path(spec).expanduser().exists()):
            raise ConfigError(f"arm '{arm.name}': student_model '{spec}' is not a trained stage"
                              f"{closest(spec, warmups)}; a backbone row is a teacher's warm-up ("
                              f"{', '.join(warmups) or 'none here: no teacher is warmed up'}), else give a model "
                              f"folder, an HF name or pymodule:<package>")
        return None

    def study_seeds(self) -> list[int]:
        """The experiment's seeds: ``seeds``, or ``[seed]`` when it is empty."""
        return list(self.seeds) or [self.seed]

    def seeds_of(self, seeds: int | list[int] | None) -> list[int]:
        """A teacher's or arm's ``seeds`` setting resolved: null = all, N = the first N, a list as given."""
        if seeds is None:
            return self.study_seeds()
        return self.study_seeds()[:seeds] if isinstance(seeds, int) else list(seeds)

    def _check_seeds(self, seeds: int | list[int] | None, where: str) -> None:
        n = len(self.study_seeds())
        if isinstance(seeds, int) and not 1 <= seeds <= n:
            raise ConfigError(f"{where}: {seeds} must be between 1 and the {n} experiment seed(s), or a list of seeds")
        if isinstance(seeds, list) and (not seeds or len(set(seeds)) != len(seeds)):
            raise ConfigError(f"{where}: a list of seeds must be non-empty and distinct, found {seeds}")


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~")) or "/" in spec or spec.endswith(
        (".jsonl", ".json", ".tsv", ".txt", ".gz", ".trec"))


def _check_spec(spec: str, where: str, registry: dict) -> None:
    """A corpus/topics/qrels spec must be ``irds:<id>``, a registry name or an existing path."""
    from pathlib import Path

    if not spec or spec.startswith("irds:") or spec in registry:
        return
    path = Path(spec).expanduser()
    if path.exists():
        return
    if _looks_like_path(spec) or not registry:
        raise ConfigError(f"{where}: {spec} does not exist; give an existing file or folder, irds:<id> or a "
                          f"registry name")
    from lead_ir.errors import closest

    raise ConfigError(f"{where}: '{spec}' is neither a file nor a topic set of the registry{closest(spec, registry)}; "
                      f"give a path, irds:<id> or one of {', '.join(sorted(registry)) or 'the registry names'}")


def validate_plan(cfg: ExperimentConfig) -> None:
    """Check at plan time (before the first stage, also for ``--dry-run``) everything a later stage would reject:
    metric names, the fusion method and normalisation, baseline rows and planned comparisons, input paths and model
    folders, so a typo fails in a second rather than after hours of training. Numbers were checked when the config
    loaded (each field's declared range, :func:`lead_ir.config.number`)."""
    from pathlib import Path

    from lead_ir.data.registry import load_registry
    from lead_ir.errors import LeadIRError, closest
    from lead_ir.evaluation import normalize_metric
    from lead_ir.fusion import METHODS, NORMS

    def fail(exc: LeadIRError, where: str) -> ConfigError:
        return ConfigError(f"{where}: {exc}")

    ev = cfg.evaluation
    metric_lists = [("evaluation.metrics", ev.metrics), ("evaluation.dev_metric", [ev.dev_metric])] + [
        (f"data.extra_test_sets[{i}].metrics", t.metrics) for i, t in enumerate(cfg.data.extra_test_sets)]
    for where, metrics in metric_lists:
        for metric in metrics:
            try:
                normalize_metric(str(metric))
            except LeadIRError as exc:
                raise fail(exc, where) from None
    if cfg.hybrid.method not in METHODS or cfg.hybrid.norm not in NORMS:
        raise ConfigError(f"hybrid: method {cfg.hybrid.method!r} / norm {cfg.hybrid.norm!r} is not supported by "
                          f"lead_ir.fusion; choose from {', '.join(METHODS)}")
    rows = ["bm25"] + cfg.teacher_rows()
    rows += [arm.name for arm in cfg.arms] + (["hybrid"] if cfg.hybrid.enabled and cfg.arms else [])
    for base in ev.baselines:
        if base not in rows:
            raise ConfigError(f"evaluation.baselines: '{base}' is not a row of this study{closest(str(base), rows)}; "
                              f"rows: {', '.join(rows)}")
    for pair in ev.comparisons:
        for name in pair:
            if name not in rows:
                raise ConfigError(f"evaluation.comparisons: '{name}' (in {list(pair)}) is not a row of this study"
                                  f"{closest(str(name), rows)}; rows: {', '.join(rows)}")
    registry = load_registry()
    d = cfg.data
    _check_spec(d.corpus, "data.corpus", {})
    for where, spec in (("data.train_topics", d.train_topics), ("data.train_qrels", d.train_qrels),
                        ("data.test_topics", d.test_topics), ("data.test_qrels", d.test_qrels)):
        _check_spec(spec, where, registry)
    for where, spec in (("data.topics", d.topics), ("data.qrels", d.qrels), ("data.test_ids", d.test_ids)):
        if spec:  # one topic set split by the study
            _check_spec(spec, where, registry)
    for i, t in enumerate(d.extra_test_sets):
        _check_spec(t.topics, f"data.extra_test_sets[{i}].topics", registry)
        _check_spec(t.qrels, f"data.extra_test_sets[{i}].qrels", registry)
    models = [(f"{cfg.teacher_where(t)}.model", t.model) for t in cfg.teacher_list()] + [
        (f"arm '{arm.name}': student_model", arm.student_model) for arm in cfg.arms
        if arm.student_model and cfg.arm_backbone(arm) is None]
    for where, model in models:
        if model.startswith(("/", "./", "../", "~")) and not Path(model).expanduser().is_dir():
            raise ConfigError(f"{where}: {model} is not a folder; give a model directory, an HF name or "
                              f"pymodule:<package>")
