"""The experiment config: one YAML describes the whole LEAD pipeline and its arms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lead_ir.errors import ConfigError


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
    dev_fraction: float = field(default=0.2, metadata={"help": "share of training queries held out as dev"})
    split_seed: int = field(default=13, metadata={"help": "seed of the train/dev split (by qid)"})
    max_train_queries: int = field(default=0, metadata={"help": "use at most this many training queries (0: all)"})
    extra_test_sets: list[TestSet] = field(default_factory=list, metadata={
        "help": "more topic/qrels sets evaluated once at the end, each with its own leaderboard"})

    def __post_init__(self) -> None:
        if not 0 < self.dev_fraction < 1:
            raise ValueError(f"data.dev_fraction must be in (0, 1), found {self.dev_fraction}")


@dataclass
class BM25Section:
    k1: float = 0.9
    b: float = 0.4
    train_depth: int = field(default=100, metadata={"help": "BM25 hits per training query (mining pool)"})
    threads: int = field(default=0, metadata={"help": "Lucene threads (0: CPU count, at most 8)"})


@dataclass
class MiningSection:
    depth: int = 100
    num_negatives: int = 100


@dataclass
class TeacherSection:
    model: str = field(default="sentence-transformers/all-MiniLM-L6-v2",
                       metadata={"help": "local dir, HF name, or the offline all-MiniLM-L6-v2 package"})
    kind: Literal["dense", "colbert", "cross"] = field(default="dense", metadata={
        "help": "teacher architecture; only a dense teacher gets its own rows in the leaderboard"})
    warmup: bool = field(default=True, metadata={"help": "also fine-tune the teacher on the training queries"})
    train: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "TrainConfig overrides for the warm-up (merged over the experiment's `train`)"})


@dataclass
class ArmSection:
    name: str = field(default="", metadata={"help": "row name in the leaderboard and run file name"})
    student_model: str = field(default="", metadata={
        "help": "the student's backbone (empty: the teacher checkpoint, truncated to student_layers)"})
    student_layers: list[int] = field(default_factory=lambda: [1, 2, 3], metadata={
        "help": "backbone blocks the student keeps (1-based; empty keeps all)"})
    teacher: Literal["zero-shot", "warmup"] = field(default="warmup", metadata={
        "help": "which teacher this arm distils from"})
    train: dict[str, Any] | None = field(default_factory=dict, metadata={
        "help": "TrainConfig overrides for this arm; null means no training (the truncated student as is)"})

    def __post_init__(self) -> None:
        if not self.name or any(ch.isspace() or ch in "/\\" for ch in self.name):
            raise ValueError(f"arm name {self.name!r} must be a non-empty word (it names files)")


@dataclass
class EncodeSection:
    batch_size: int = 64
    # None: each checkpoint's own passage_max_len, i.e. the length it was trained at; a student
    # trained on 128-token passages and encoded at 256 loses much of its quality (docs/results.md)
    max_length: int | None = None


@dataclass
class HybridSection:
    enabled: bool = True
    method: Literal["wsum", "rrf", "combsum", "combmnz"] = "wsum"
    norm: Literal["min-max", "max", "sum", "zmuv", "rank"] = "min-max"


@dataclass
class EvaluationSection:
    metrics: list[str] = field(default_factory=lambda: ["ndcg@10", "recall@100"])
    dev_metric: str = field(default="ndcg@10", metadata={"help": "metric that picks the best student on dev"})
    baselines: list[str] = field(default_factory=lambda: ["bm25", "contrastive"], metadata={
        "help": "rows that significance is marked against"})
    test: Literal["ttest", "fisher", "tukey"] = "ttest"
    correction: Literal["holm", "bonferroni", "none"] = "holm"
    alpha: float = 0.05
    run_depth: int = field(default=100, metadata={"help": "hits kept per query in the written runs"})
    dev_pool_depth: int = field(default=0, metadata={
        "help": "corpus searched by dev evaluation during training: 0 = the whole corpus (exact); N = each "
                "dev query's BM25 top N plus its judged documents (affordable on MS MARCO's 8.8M passages)"})

    def __post_init__(self) -> None:
        if self.dev_pool_depth < 0:
            raise ValueError("evaluation.dev_pool_depth must be >= 0 (0 searches the whole corpus), "
                             f"found {self.dev_pool_depth}")


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    output_dir: str = field(default="work/experiments/experiment", metadata={
        "help": "stage outputs, manifests, models (not committed)"})
    results_dir: str = field(default="", metadata={"help": "where the final runs/leaderboard/logs are copied"})
    seed: int = 42
    data: DataSection = field(default_factory=DataSection)
    bm25: BM25Section = field(default_factory=BM25Section)
    mining: MiningSection = field(default_factory=MiningSection)
    teacher: TeacherSection = field(default_factory=TeacherSection)
    train: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "TrainConfig settings shared by the teacher warm-up and every arm"})
    arms: list[ArmSection] = field(default_factory=list)
    encode: EncodeSection = field(default_factory=EncodeSection)
    hybrid: HybridSection = field(default_factory=HybridSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)

    def __post_init__(self) -> None:
        names = [arm.name for arm in self.arms]
        reserved = {"bm25", "teacher-zero-shot", "teacher-warmup", "hybrid"}
        duplicated = {n for n in names if names.count(n) > 1} | (set(names) & reserved)
        if duplicated:
            raise ConfigError(f"arm names must be unique and not one of {sorted(reserved)}: {sorted(duplicated)}")
        if any(arm.teacher == "warmup" for arm in self.arms) and not self.teacher.warmup:
            raise ConfigError("an arm distils from the warm-up teacher but teacher.warmup is false")
