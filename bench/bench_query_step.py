"""A query student's training step: one padded batch (``run.length_groups: 1``) against length-sorted passes
(``run.length_groups: 4``), on the same batches, interleaved.

    .venv/bin/python bench/bench_query_step.py           # 3 blocks of all-MiniLM-L6-v2, SciFact queries + titles
    .venv/bin/python bench/bench_query_step.py --tiny    # a random tiny BERT, synthetic queries (seconds)

It times what ``length_groups`` changes: the student's forward and backward over a batch's queries (64 by default,
SciFact training queries mixed with title pseudo-queries, as the query-student study trains) and the AdamW step.
The teacher's side of a query-student step reads cached vectors and does not depend on it. Prints the median
seconds per step of each setting, their ratio, and the padded tokens per batch; and checks that both settings
give the same vectors.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_step import cpu_line  # noqa: E402

from lead_ir.models.factory import ModelConfig, build_model  # noqa: E402


def scifact_queries() -> list[str]:
    """SciFact's training queries and its corpus titles (the study's unlabeled pseudo-queries)."""
    from lead_ir.data.collections import read_topics
    from lead_ir.data.unlabeled import title_queries

    return list(read_topics("scifact-train").values()) + list(title_queries("irds:beir/scifact/test").values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a random tiny BERT and synthetic queries")
    parser.add_argument("--batch", type=int, default=64, help="queries per step")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per setting")
    parser.add_argument("--groups", type=int, default=4, help="length groups compared with one padded batch")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(cpu_line())
    rng = random.Random(0)
    if args.tiny:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from fixtures_models import WORD_VOCAB, build_tiny_bert

        path = build_tiny_bert(Path(tempfile.mkdtemp()) / "tiny", WORD_VOCAB, hidden=32, layers=4)
        words = [w for w in WORD_VOCAB if w.isalpha()]
        queries = [" ".join(rng.choices(words, k=rng.randint(2, 30))) for _ in range(500)]
        model = build_model(ModelConfig(path=str(path), keep_layers=[1, 2, 3]))
    else:
        queries = scifact_queries()
        model = build_model(ModelConfig(path="sentence-transformers/all-MiniLM-L6-v2", keep_layers=[1, 2, 3]))
    layers = list(range(1, model.num_layers + 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    batches = [rng.sample(queries, args.batch) for _ in range(args.steps + 1)]
    times: dict[int, list[float]] = {1: [], args.groups: []}
    for i, batch in enumerate(batches):
        for groups in ((1, args.groups) if i % 2 else (args.groups, 1)):
            model.length_groups = groups
            start = time.perf_counter()
            model.layer_reps(batch, None, layers).query.square().sum().backward()
            optimizer.step()
            optimizer.zero_grad()
            if i:  # the first batch warms both up
                times[groups].append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        model.length_groups = 1
        one = model.layer_reps(batches[0], None, layers).query
        model.length_groups = args.groups
        split = model.layer_reps(batches[0], None, layers).query
    lengths = [[len(t) for t in model.tokenizer(b, truncation=True, max_length=model.spec.query_max_len)["input_ids"]]
               for b in batches]
    padded = statistics.mean(len(b) * max(b) for b in lengths)
    groups_of = [[g for g in np.array_split(np.sort(b), args.groups) if len(g)] for b in lengths]  # as layer_reps
    grouped = statistics.mean(sum(len(g) * int(g.max()) for g in parts) for parts in groups_of)
    medians = {g: statistics.median(t) for g, t in times.items()}
    print(f"{args.batch} queries per step, {args.steps} steps each, {args.threads} threads; tokens per batch "
          f"{statistics.mean(sum(b) for b in lengths):.0f} real, {padded:.0f} padded in one batch, {grouped:.0f} in "
          f"{args.groups} groups")
    for groups, median in medians.items():
        print(f"length_groups {groups}: median {median * 1000:.1f} ms per step")
    print(f"ratio length_groups {args.groups} / 1 = {medians[args.groups] / medians[1]:.3f}; "
          f"max |vector difference| {float((one - split).abs().max()):.2e}")


if __name__ == "__main__":
    main()
