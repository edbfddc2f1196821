"""TrainConfig: typed sections for the trainer, loaded with :func:`lead_ir.config.load_config`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lead_ir.losses.terms import TERM_NAMES, check_weights, default_weights, weight
from lead_ir.models.factory import ModelConfig


@dataclass
class TeacherConfig(ModelConfig):
    """The teacher; an empty ``path`` trains the student alone (contrastive / warm-up)."""

    mode: Literal["frozen", "joint"] = field(default="frozen", metadata={
        "help": "frozen: fixed teacher, scores read from a memory-mapped cache; joint: train both (the paper)"})
    cache: bool = field(default=True, metadata={"help": "frozen mode: precompute the teacher into a memmap cache"})
    cache_dir: str = field(default=".cache/teacher", metadata={"help": "where teacher caches live"})


@dataclass
class DataConfig:
    train: str = field(default="", metadata={"help": "mined training file (JSONL: qid, query, positives, negatives)"})
    corpus: str = field(default="", metadata={"help": "corpus spec holding the passages (irds:<id>, file or dir)"})
    negatives: int = field(default=7, metadata={"help": "hard negatives sampled per query and step (n)"})
    negatives_depth: int = field(default=30, metadata={"help": "sample negatives from the top-N mined ones"})
    dev_fraction: float = field(default=0.0, metadata={
        "help": "hold out this fraction of training queries (seeded by qid) as dev; needs dev_qrels"})
    dev_topics: str = field(default="", metadata={"help": "dev topics spec (empty: the held-out training queries)"})
    dev_qrels: str = field(default="", metadata={"help": "dev qrels spec (for a held-out split: the training qrels)"})
    dev_corpus: str = field(default="", metadata={"help": "corpus searched at dev time (empty: data.corpus)"})
    split_seed: int = field(default=13, metadata={"help": "seed of the train/dev split by qid"})
    unlabeled: str = field(default="", metadata={
        "help": "unlabeled groups (no positive; `lead-ir mine --unlabeled`) mixed into data.train"})
    unlabeled_ratio: float = field(default=0.0, metadata={
        "help": "unlabeled groups per labeled group taken from data.unlabeled (seeded by split_seed); needed > 0 "
                "with data.unlabeled"})
    dev_metric: str = field(default="ndcg@10", metadata={
        "help": "dev metric that picks the kept checkpoint (best/), e.g. ndcg@10 or mrr@10"})

    def __post_init__(self) -> None:
        from lead_ir.errors import LeadIRError
        from lead_ir.evaluation import normalize_metric

        try:  # an unknown name fails when the config loads, not after the first training interval
            self.dev_metric = normalize_metric(self.dev_metric)
        except LeadIRError as exc:
            raise ValueError(f"data.dev_metric: {exc}") from None
        if self.negatives < 1:
            raise ValueError(f"data.negatives must be >= 1, found {self.negatives}")
        if not 0.0 <= self.dev_fraction < 1.0:
            raise ValueError(f"data.dev_fraction must be in [0, 1), found {self.dev_fraction}")
        if self.unlabeled_ratio < 0 or (self.unlabeled and self.unlabeled_ratio == 0):
            raise ValueError(f"data.unlabeled_ratio must be > 0 with data.unlabeled (unlabeled groups per labeled "
                             f"group, e.g. 1.0), found {self.unlabeled_ratio}")


@dataclass
class OptimConfig:
    lr: float = field(default=2e-5, metadata={"help": "peak learning rate (AdamW)"})
    weight_decay: float = 0.01
    warmup_ratio: float = field(default=0.1, metadata={"help": "linear warm-up share of the steps, then linear decay"})
    max_steps: int = field(default=0, metadata={"help": "optimizer steps; 0 runs `epochs` epochs"})
    epochs: int = 1
    batch_queries: int = field(default=16, metadata={"help": "queries per optimizer step, over all processes"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    max_grad_norm: float = field(default=2.0, metadata={"help": "gradient clipping (0 disables)"})
    precision: Literal["auto", "fp32", "bf16", "fp16"] = field(
        default="auto", metadata={"help": "autocast of the encoders (losses stay fp32); auto: bf16 on a GPU that "
                                          "has it (else fp16) and on a CPU with AVX512-BF16/AMX, fp32 elsewhere"})


@dataclass
class LossConfig:
    weights: dict[str, float] = field(
        default_factory=default_weights,
        metadata={"help": f"λ per loss term ({', '.join(TERM_NAMES)}; see lead_ir.losses.terms.TERMS); a term "
                          f"left out weighs 0, except student (1)"})
    student_temperature: float = field(default=0.05, metadata={
        "help": "student scores are divided by this (0.05 = scale 20, for cosine scores)"})
    teacher_temperature: float = field(default=0.05, metadata={"help": "teacher scores are divided by this"})
    layer_selection: Literal["random", "last", "skip", "map"] = "random"
    num_layer_pairs: int = field(default=3, metadata={"help": "K layer pairs in L_lyr"})
    redraw_every: int = field(default=10, metadata={"help": "random selection: re-draw every R optimizer steps"})
    layer_map: list[list[int]] = field(default_factory=list, metadata={"help": "map: [[teacher, student], ...]"})
    exclude_final: bool = field(default=False, metadata={"help": "leave final layers out of L_lyr (already in L_rep)"})
    reweight: Literal["teacher-loss", "uniform", "fixed"] = "teacher-loss"
    reweight_tau: float = field(default=10.0, metadata={"help": "τ_w of the teacher-loss re-weighting"})
    fixed_weights: list[float] = field(default_factory=list, metadata={"help": "reweight=fixed: one per pair"})
    scope: Literal["auto", "global", "own"] = field(default="auto", metadata={
        "help": "distillation support: global batch (DE/ColBERT teacher) or own candidates (auto: per teacher kind)"})
    unlabeled_student_loss: Literal["skip", "teacher_top"] = field(default="skip", metadata={
        "help": "student term of unlabeled groups: skip it, or take the teacher's top own candidate as positive"})

    def __post_init__(self) -> None:
        check_weights(self.weights)  # a misspelled term fails when the config loads, before any teacher cache
        # every term spelled out (one left out weighs 0, the base term its default): equal settings, equal configs
        self.weights = {name: float(weight(self.weights, name)) for name in TERM_NAMES}
        if self.student_temperature <= 0 or self.teacher_temperature <= 0:
            raise ValueError("loss temperatures must be > 0")


@dataclass
class RunConfig:
    output_dir: str = field(default=".cache/train/run", metadata={"help": "checkpoints, logs and the final model"})
    seed: int = 42
    save_every: int = field(default=0, metadata={"help": "checkpoint every N optimizer steps (0: only at the end)"})
    keep_checkpoints: int = field(default=2, metadata={"help": "how many step checkpoints to keep"})
    eval_every: int = field(default=0, metadata={"help": "dev evaluation every N steps (0: only at the end)"})
    eval_batch_size: int = 64
    log_every: int = field(default=1, metadata={"help": "training-log line every N optimizer steps"})
    resume: bool = field(default=False, metadata={"help": "continue from the latest checkpoint in output_dir"})
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = field(default=0, metadata={"help": "torch CPU threads per process (0: torch default)"})


@dataclass
class TrainConfig:
    student: ModelConfig = field(default_factory=ModelConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)
