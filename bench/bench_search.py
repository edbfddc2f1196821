"""Search QPS: Pyserini's `FaissSearcher.batch_search` vs raw `faiss` `index.search`, side by side.

All three search the very index object FaissSearcher loaded, with the same float32 query vectors, k
and thread count, in one process, rounds with the order rotated (best of each reported):

- ``pyserini_batch_search``: the stock call, as Pyserini's own CLI makes it;
- ``lead_ir_batch_search``: the same stock method, called as ``lead-ir search dense`` calls it, with
  Python's cyclic garbage collector paused (``lead_ir.hits.gc_paused``);
- ``raw_faiss``: ``index.search`` alone.

FaissSearcher adds Python work per returned hit (a ``DenseSearchResult`` object each), a fixed cost
per hit, while FAISS's cost grows with the index: the ratios are lowest on small indexes with large k
and approach 1 at scale.

    python bench/bench_search.py --index indexes/scifact-minilm                 # a `lead-ir encode` folder
    python bench/bench_search.py --synthetic 5183 200000 1000000 --dim 384       # random unit vectors
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
    """A Flat inner-product index of ``n`` random unit vectors, written in Pyserini's layout.

    The vectors are written straight into a storage buffer sized once: ``index.add`` would grow it
    by doubling, and at MS MARCO's 8.8M x 384 that briefly needs twice the index in memory.
    """
    import faiss
    import numpy as np

    rng = np.random.default_rng(seed)
    index = faiss.IndexFlatIP(dim)
    index.codes.resize(n * dim * 4)
    vectors = faiss.rev_swig_ptr(index.codes.data(), n * dim * 4).view(np.float32).reshape(n, dim)
    for start in range(0, n, 50_000):
        block = rng.standard_normal((min(50_000, n - start), dim), dtype=np.float32)
        vectors[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    index.ntotal = n
    faiss.write_index(index, str(directory / "index"))
    with open(directory / "docid", "w") as out:
        out.writelines(f"doc{i}\n" for i in range(n))


def measure(index_dir: Path, args: argparse.Namespace) -> dict:
    import faiss
    import numpy as np

    from lead_ir import jvm
    from lead_ir.hits import gc_paused

    faiss_mod = jvm.pyserini("pyserini.search.faiss")
    searcher = faiss_mod.FaissSearcher(str(index_dir), query_encoder=None)  # vectors in: no encoder needed
    raw = searcher.index  # the very index FaissSearcher loaded: same index, memory counted once
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((args.queries, raw.d), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    qids = [str(i) for i in range(args.queries)]
    results = {}

    def paused_batch_search(k: int) -> dict:
        with gc_paused():
            return searcher.batch_search(queries, qids, k=k, threads=args.threads)

    for k in args.k:
        searches = {
            "pyserini_batch_search": lambda k=k: searcher.batch_search(queries, qids, k=k, threads=args.threads),
            "lead_ir_batch_search": lambda k=k: paused_batch_search(k),
            "raw_faiss": lambda k=k: raw.search(queries, k),
        }
        seconds: dict[str, list[float]] = {name: [] for name in searches}
        order = list(searches)
        for round_ in range(args.rounds):
            for name in order[round_ % 3:] + order[:round_ % 3]:  # rotate who goes first: drift hits all alike
                faiss.omp_set_num_threads(args.threads)
                start = time.perf_counter()
                out = searches[name]()
                seconds[name].append(time.perf_counter() - start)
                if name == "raw_faiss":
                    ids = out[1]
                else:
                    top_hits = [h.docid for h in out["0"][:10]]
                del out  # each call starts with the same live objects
        if top_hits != [searcher.docids[i] for i in ids[0][:10]]:
            raise SystemExit("FaissSearcher and raw faiss disagree on the top hits: the comparison is void")
        best = {name: min(times) for name, times in seconds.items()}
        results[f"k={k}"] = {
            "qps": {name: float(f"{args.queries / t:.4g}") for name, t in best.items()},
            "ratio_to_raw_faiss": {name: round(best["raw_faiss"] / best[name], 3)
                                   for name in ("pyserini_batch_search", "lead_ir_batch_search")},
            "seconds_per_round": {name: [round(t, 4) for t in times] for name, times in seconds.items()},
        }
    return {"index_size": raw.ntotal, "dim": raw.d, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default=None, help="index folder (Pyserini layout)")
    parser.add_argument("--synthetic", type=int, nargs="+", default=[],
                        help="build a random Flat index of each of these sizes, one after another "
                             "(default without --index: 200000)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, nargs="+", default=[1000, 100])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not args.index and not args.synthetic:
        args.synthetic = [200_000]  # `make bench`: one mid-size index, a couple of minutes

    indexes = []
    if args.index:
        indexes.append(measure(Path(args.index), args))
    for size in args.synthetic:
        with tempfile.TemporaryDirectory() as tmp:
            synthetic_index(Path(tmp), size, args.dim)
            indexes.append(measure(Path(tmp), args))
    print(json.dumps({"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                                 f"faiss threads {args.threads}", "queries": args.queries, "indexes": indexes},
                     indent=2))


if __name__ == "__main__":
    main()
