"""Search QPS: Pyserini's `FaissSearcher.batch_search` vs raw `faiss` `index.search`, side by side.

Both search the same index folder with the same float32 query vectors and k, in one process,
alternating rounds (best of each reported). FaissSearcher adds Python work per hit
(``DenseSearchResult`` objects), so the ratio depends on k and on how long FAISS itself takes.

    python bench/bench_search.py --index indexes/scifact-minilm          # a `lead-ir encode` folder
    python bench/bench_search.py --synthetic 200000 --dim 384             # random unit vectors
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def synthetic_index(directory: Path, n: int, dim: int, seed: int = 0) -> None:
    import faiss
    import numpy as np

    rng = np.random.default_rng(seed)
    index = faiss.IndexFlatIP(dim)
    for start in range(0, n, 50_000):
        block = rng.standard_normal((min(50_000, n - start), dim), dtype=np.float32)
        index.add(block / np.linalg.norm(block, axis=1, keepdims=True))
    faiss.write_index(index, str(directory / "index"))
    (directory / "docid").write_text("".join(f"doc{i}\n" for i in range(n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default=None, help="index folder (Pyserini layout)")
    parser.add_argument("--synthetic", type=int, default=0, help="build a random Flat index of this many vectors")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, nargs="+", default=[1000, 100])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import faiss
    import numpy as np

    from lead_ir import jvm

    faiss_mod = jvm.pyserini("pyserini.search.faiss")
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(args.index) if args.index else Path(tmp)
        if not args.index:
            synthetic_index(index_dir, args.synthetic or 100_000, args.dim)
        searcher = faiss_mod.FaissSearcher(str(index_dir), query_encoder=None)  # vectors in: no encoder needed
        raw = faiss.read_index(str(index_dir / "index"))
        rng = np.random.default_rng(1)
        queries = rng.standard_normal((args.queries, raw.d), dtype=np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        qids = [str(i) for i in range(args.queries)]
        results = {}
        for k in args.k:
            best = {"pyserini_batch_search": float("inf"), "raw_faiss": float("inf")}
            for _ in range(args.rounds):
                start = time.perf_counter()
                hits = searcher.batch_search(queries, qids, k=k, threads=args.threads)
                best["pyserini_batch_search"] = min(best["pyserini_batch_search"], time.perf_counter() - start)
                faiss.omp_set_num_threads(args.threads)
                start = time.perf_counter()
                scores, ids = raw.search(queries, k)
                best["raw_faiss"] = min(best["raw_faiss"], time.perf_counter() - start)
            assert [h.docid for h in hits["0"][:10]] == [searcher.docids[i] for i in ids[0][:10]]
            qps = {name: round(args.queries / t, 1) for name, t in best.items()}
            results[f"k={k}"] = {"qps": qps, "ratio": round(qps["pyserini_batch_search"] / qps["raw_faiss"], 3)}
        print(json.dumps({"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                                     f"faiss threads {args.threads}", "index_size": raw.ntotal, "dim": raw.d,
                          "queries": args.queries, "results": results}, indent=2))


if __name__ == "__main__":
    main()
