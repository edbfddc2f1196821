"""TrainConfig: typed sections for the trainer, loaded with :func:`lead_ir.config.load_config`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lead_ir.config import BELOW_ONE, NON_NEGATIVE, POSITIVE, UNIT, number
from lead_ir.losses.terms import TERM_NAMES, canonical_weights, check_weights, default_weights
from lead_ir.models.factory import ModelConfig


@dataclass
class StudentConfig(ModelConfig):
    """The student; ``tower: query`` makes it a query student (an asymmetric dual encoder, lead_ir.models.space)."""

    tower: Literal["both", "query"] = field(default="both", metadata={
        "help": "both: one encoder for queries and passages; query: train a query encoder only, scored against the "
                "frozen teacher's cached final passage vectors, that searches the teacher's index (a projection to "
                "the teacher's width is learned when the widths differ)"})


@dataclass
class TeacherConfig(ModelConfig):
    """The teacher; an empty ``path`` trains the student alone (contrastive / warm-up)."""

    mode: Literal["frozen", "joint"] = field(default="frozen", metadata={
        "help": "frozen: fixed teacher, scores read from a memory-mapped cache; joint: train both (the paper)"})
    cache: bool = field(default=True, metadata={"help": "frozen mode: precompute the teacher into a memmap cache"})
    cache_dir: str = field(default=".cache/teacher", metadata={"help": "where teacher caches live"})
    passage_layers: str = field(default="", metadata={
        "help": "a dense teacher's every-layer passage vectors of the corpus (`encode_corpus` with all_layers; a "
                "study sets its index's): the cache copies them instead of encoding the passages, when made with "
                "the same weights, length and precision"})


@dataclass
class DataConfig:
    train: str = field(default="", metadata={"help": "mined training file (JSONL: qid, query, positives, negatives)"})
    corpus: str = field(default="", metadata={"help": "corpus spec holding the passages (irds:<id>, file or dir)"})
    negatives: int = number(7, POSITIVE, "hard negatives sampled per query and step (n)")
    negatives_depth: int = number(30, POSITIVE, "sample negatives from the top-N mined ones")
    dev_fraction: float = number(0.0, BELOW_ONE, (
        "hold out this fraction of training queries (seeded by qid) as dev; needs dev_qrels"))
    dev_topics: str = field(default="", metadata={"help": "dev topics spec (empty: the held-out training queries)"})
    dev_qrels: str = field(default="", metadata={"help": "dev qrels spec (for a held-out split: the training qrels)"})
    dev_corpus: str = field(default="", metadata={"help": "corpus searched at dev time (empty: data.corpus)"})
    dev_index: str = field(default="", metadata={
        "help": "a query student's dev evaluation searches the dev corpus's vectors in this FAISS index (its "
                "teacher's, as test search does) instead of encoding the dev corpus with the teacher"})
    split_seed: int = number(13, NON_NEGATIVE, "seed of the train/dev split by qid")
    unlabeled: str = field(default="", metadata={
        "help": "unlabeled groups (no positive; `lead-ir mine --unlabeled`) mixed into data.train"})
    unlabeled_ratio: float = number(0.0, NON_NEGATIVE, (
        "unlabeled groups per labeled group taken from data.unlabeled (seeded by split_seed); needed > 0 "
        "with data.unlabeled"))
    dev_metric: str = field(default="ndcg@10", metadata={
        "help": "dev metric that picks the kept checkpoint (best/), e.g. ndcg@10 or mrr@10"})

    def __post_init__(self) -> None:
        from lead_ir.errors import LeadIRError
        from lead_ir.evaluation import normalize_metric

        try:  # an unknown name fails when the config loads, not after the first training interval
            self.dev_metric = normalize_metric(self.dev_metric)
        except LeadIRError as exc:
            raise ValueError(f"data.dev_metric: {exc}") from None
        if self.unlabeled and self.unlabeled_ratio == 0:  # its range (>= 0) is declared above
            raise ValueError(f"data.unlabeled_ratio must be > 0 with data.unlabeled (unlabeled groups per labeled "
                             f"group, e.g. 1.0), found {self.unlabeled_ratio}")


@dataclass
class OptimConfig:
    lr: float = number(2e-5, POSITIVE, "peak learning rate (AdamW)")
    weight_decay: float = number(0.01, NON_NEGATIVE, "AdamW weight decay")
    warmup_ratio: float = number(0.1, UNIT, "linear warm-up share of the steps, then linear decay")
    max_steps: int | None = number(None, POSITIVE, "optimizer steps; null runs `epochs` epochs")
    epochs: int = number(1, POSITIVE, "passes over the training queries when max_steps is null")
    batch_queries: int = number(16, POSITIVE, "queries per optimizer step, over all processes")
    grad_accum: int = number(1, POSITIVE, "micro-batches per optimizer step")
    max_grad_norm: float = number(2.0, NON_NEGATIVE, "gradient clipping (0 disables)")
    fused: bool = field(default=True, metadata={
        "help": "torch's fused AdamW kernel (as sentence-transformers uses; 0.1-0.3 s a step faster on a CPU); false: "
                "the per-tensor loop, which runs before 2026-12 used (values differ by float rounding, so a study "
                "committed with it pins false to reproduce byte for byte)"})
    precision: Literal["auto", "fp32", "bf16", "fp16"] = field(
        default="fp32", metadata={"help": "autocast of the encoders (losses stay fp32); fp32: the same run on every "
                                          "machine; auto (faster): bf16 on a GPU that has it (else fp16) and on a "
                                          "CPU with AVX512-BF16/AMX, fp32 elsewhere (lead_ir.precision)"})


@dataclass
class LossConfig:
    weights: dict[str, float] = number(
        factory=default_weights, check=NON_NEGATIVE,
        help=f"λ per loss term ({', '.join(TERM_NAMES)}; see lead_ir.losses.terms.TERMS); a term left out weighs 0, "
             f"except student (1); 0 turns a term off")
    student_temperature: float = number(0.05, POSITIVE, (
        "student scores are divided by this (0.05 = scale 20, for cosine scores)"))
    teacher_temperature: float = number(0.05, POSITIVE, "teacher scores are divided by this")
    layer_selection: Literal["random", "last", "skip", "map"] = "random"
    num_layer_pairs: int = number(3, POSITIVE, "K layer pairs in L_lyr")
    redraw_every: int = number(10, POSITIVE, "random selection: re-draw every R optimizer steps")
    layer_map: list[list[int]] = number(factory=list, check=POSITIVE, help=(
        "map: [[teacher, student], ...] (1-based layers)"))
    exclude_final: bool = field(default=False, metadata={"help": "leave final layers out of L_lyr (already in L_rep)"})
    reweight: Literal["teacher-loss", "uniform", "fixed"] = "teacher-loss"
    reweight_tau: float = number(10.0, POSITIVE, "τ_w of the teacher-loss re-weighting")
    fixed_weights: list[float] = number(factory=list, check=NON_NEGATIVE, help="reweight=fixed: one per pair")
    scope: Literal["auto", "global", "own"] = field(default="auto", metadata={
        "help": "distillation support: global batch (DE/ColBERT teacher) or own candidates (auto: per teacher kind)"})
    unlabeled_student_loss: Literal["skip", "teacher_top"] = field(default="skip", metadata={
        "help": "student term of unlabeled groups: skip it, or take the teacher's top own candidate as positive"})
    align_kind: Literal["mse", "cosine"] = field(default="mse", metadata={
        "help": "weights.align (query tower): squared L2 distance or 1 - cosine between the student's and the "
                "teacher's final query vectors, averaged over queries"})

    def __post_init__(self) -> None:
        check_weights(self.weights)  # a misspelled term fails when the config loads, before any teacher cache
        # every term spelled out (one left out weighs 0, the base term its default): equal settings, equal configs
        self.weights = canonical_weights(self.weights)


@dataclass
class RunConfig:
    output_dir: str = field(default=".cache/train/run", metadata={"help": "checkpoints, logs and the final model"})
    seed: int = number(42, NON_NEGATIVE, "seed of the model initialisation, sampling and layer draws")
    save_every: int = number(0, NON_NEGATIVE, "checkpoint every N optimizer steps (0: only at the end)")
    keep_checkpoints: int = number(2, NON_NEGATIVE, "how many step checkpoints to keep (0: all)")
    eval_every: int = number(0, NON_NEGATIVE, "dev evaluation every N steps (0: only at the end)")
    eval_batch_size: int = number(64, POSITIVE, "texts per batch when encoding for dev evaluation")
    length_groups: int = number(1, POSITIVE, (
        "a training step encodes each text list (the batch's queries, its passages) in this many passes over texts "
        "sorted by token length, so short texts are not padded to the longest: 4 makes a SciFact step of 64 queries "
        "1.4x faster on a CPU; vectors equal up to float rounding (1: one padded batch, as before 2026-12)"))
    log_every: int = number(1, POSITIVE, "training-log line every N optimizer steps")
    resume: bool = field(default=False, metadata={"help": "continue from the latest checkpoint in output_dir"})
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = number(0, NON_NEGATIVE, "torch CPU threads per process (0: torch default)")


@dataclass
class TrainConfig:
    student: StudentConfig = field(default_factory=StudentConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        problem = query_tower_problem(self)
        if problem:
            raise ValueError(problem)
        t = self.teacher
        if t.passage_layers and not (t.mode == "frozen" and t.cache):
            raise ValueError("teacher.passage_layers fills the frozen teacher's cache; set teacher.mode=frozen and "
                             "teacher.cache=true, or drop teacher.passage_layers")


def query_tower_problem(cfg: TrainConfig) -> str | None:
    """Why ``cfg``'s query-tower settings cannot train, or None: a query student (``student.tower: query``) is a
    dense student scored against a frozen, cached dense teacher's passage vectors, and only it has the query
    vectors the alignment term reads. (``teacher.path`` is checked when training starts.)"""
    tower, t = getattr(cfg.student, "tower", "both"), cfg.teacher
    if tower != "query":
        if cfg.loss.weights.get("align", 0.0) > 0:
            return ("loss.weights.align > 0 needs student.tower=query (it aligns a query student's query vectors "
                    "with its teacher's); set student.tower=query or loss.weights.align=0")
        if cfg.data.dev_index:
            return ("data.dev_index is a query student's teacher index (student.tower=query); a student with its own "
                    "passage encoder is evaluated on its own vectors: drop data.dev_index")
        return None
    for wrong, fix in ((cfg.student.kind != "dense", f"student.kind=dense (found {cfg.student.kind})"),
                       (t.kind != "dense", f"a dense teacher, teacher.kind=dense (found {t.kind})"),
                       (t.mode != "frozen", f"teacher.mode=frozen (found {t.mode})"),
                       (not t.cache, "teacher.cache=true (its passage vectors are read from the cache)"),
                       (bool(t.keep_layers), f"the teacher whose index it searches, teacher.keep_layers=[] (found "
                                             f"{t.keep_layers})")):
        if wrong:
            return f"student.tower=query needs {fix}"
    return None
