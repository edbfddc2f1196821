"""Passage-encoding throughput: `lead-ir encode` vs `SentenceTransformer.encode`, side by side.

Both encode the same texts with the same model, max length and batch size, on the same
machine in one process, alternating rounds (best round of each is reported) so a busy shared
CPU hurts both alike. `lead-ir encode` is timed end to end: corpus file in, FAISS index out.

    python bench/bench_encode.py --docs 256 --rounds 2            # SciFact texts when available

Two ratios are reported: float32 against float32 (``speedup``), and `lead-ir encode --bf16`
(bfloat16 autocast, float32 vectors out; GPU or a CPU with AVX512-BF16/AMX) against
SentenceTransformer's default float32 (``speedup_bf16``), with each path's minimum cosine to
SentenceTransformer's vectors so the precision trade is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def load_texts(n: int) -> list[tuple[str, str]]:
    """The first ``n`` SciFact documents (title + text), or synthetic sentences when SciFact is absent."""
    try:
        from lead_ir.data.collections import iter_corpus

        docs = []
        for doc in iter_corpus("irds:beir/scifact/test"):
            docs.append((doc.doc_id, doc.text))
            if len(docs) == n:
                return docs
    except Exception as exc:  # no local data: fall back to synthetic text of similar length
        print(f"SciFact unavailable ({type(exc).__name__}); using synthetic texts")
    words = "protein cell gene expression tumour patients clinical trial increased risk analysis".split()
    return [(f"s{i}", " ".join(words[(i + j) % len(words)] for j in range(120 + i % 80))) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from lead_ir.encode import EncodeOptions, encode_corpus
    from lead_ir.log import set_quiet
    from lead_ir.resolve import resolve_model

    set_quiet(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = resolve_model(args.model)
    docs = load_texts(args.docs)
    texts = [t for _, t in docs]
    st = SentenceTransformer(str(model_dir), device="cpu")
    st.max_seq_length = args.max_length
    times: dict[str, list[float]] = {"sentence_transformers": [], "lead_ir_encode": [], "lead_ir_encode_bf16": []}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        corpus.write_text("".join(json.dumps({"id": d, "contents": t}) + "\n" for d, t in docs))
        st.encode(texts[:args.batch_size], batch_size=args.batch_size)  # warm-up both paths
        for r in range(args.rounds):
            start = time.perf_counter()
            ref = st.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
            times["sentence_transformers"].append(time.perf_counter() - start)
            start = time.perf_counter()
            encode_corpus(str(model_dir), str(corpus), Path(tmp) / f"index{r}",
                          EncodeOptions(batch_size=args.batch_size, max_length=args.max_length, precision="fp32"))
            times["lead_ir_encode"].append(time.perf_counter() - start)
            start = time.perf_counter()
            encode_corpus(str(model_dir), str(corpus), Path(tmp) / f"bf16-{r}",
                          EncodeOptions(batch_size=args.batch_size, max_length=args.max_length, bf16=True))
            times["lead_ir_encode_bf16"].append(time.perf_counter() - start)
        import faiss

        def vectors(name: str) -> np.ndarray:
            index = faiss.read_index(str(Path(tmp) / name / "index"))
            return index.reconstruct_n(0, index.ntotal)

        ours, ours_bf16 = vectors("index0"), vectors("bf16-0")

    def min_cosine(a: np.ndarray) -> float:
        return float(np.min(np.sum(a * ref, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(ref, axis=1)))

    best = {k: min(v) for k, v in times.items()}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
                   f"{torch.get_num_threads()}",
        "docs": len(texts), "batch_size": args.batch_size, "max_length": args.max_length,
        "docs_per_s": {k: round(len(texts) / v, 2) for k, v in best.items()},
        "seconds_per_round": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "speedup": round(best["sentence_transformers"] / best["lead_ir_encode"], 3),
        "speedup_bf16": round(best["sentence_transformers"] / best["lead_ir_encode_bf16"], 3),
        "min_cosine_vs_st": round(min_cosine(ours), 6),
        "min_cosine_vs_st_bf16": round(min_cosine(ours_bf16), 6),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
