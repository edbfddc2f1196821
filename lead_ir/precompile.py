"""Compile ranx's numba functions once, into the numba cache, when the project is set up.

ranx JIT-compiles each metric, normalisation and fusion function the first time a process calls it and
caches the machine code under ``NUMBA_CACHE_DIR``. On a fresh machine that first call costs about a minute
and a half on two AVX2 cores (the quickstart's hybrid stage took 91 s there instead of 10), paid by whichever
command happens to evaluate or fuse first. ``make setup`` runs ``python -m lead_ir.precompile`` so that the
cost is paid once, at install time, for the metrics lead_ir reports by default (every collection family's
defaults, so the quickstart's and a study's) and a study's hybrid fusion; a later call with the same types
reads the cache. Another metric compiles on its first use, as before.
"""

from __future__ import annotations

import time

FUSIONS = (("wsum", "min-max"),)  # a study's hybrid (its default)


def toy_runs() -> tuple[dict, dict, dict]:
    """Qrels and two runs of the types real ones have (str ids, int labels, float scores), a few queries each."""
    qrels = {f"q{q}": {f"d{d}": (q + d) % 3 for d in range(4)} for q in range(6)}
    first = {f"q{q}": {f"d{d}": float(10 - d) for d in range(8)} for q in range(6)}
    second = {f"q{q}": {f"d{d}": float(d % 5) / 3 for d in range(8)} for q in range(6)}
    return qrels, first, second


def precompile() -> float:
    """Evaluate and fuse toy runs through lead_ir's own paths; returns the seconds it took."""
    from lead_ir.evaluation import DEFAULT_METRICS, evaluate_runs
    from lead_ir.fusion import fuse_runs

    start = time.perf_counter()
    qrels, first, second = toy_runs()
    evaluate_runs(qrels, {"first": first}, sorted({m for family in DEFAULT_METRICS.values() for m in family}))
    dev = {q: qrels[q] for q in ("q0", "q1", "q2")}
    test = [{q: run[q] for q in ("q3", "q4", "q5")} for run in (first, second)]
    dev_runs = [{q: run[q] for q in dev} for run in (first, second)]
    for method, norm in FUSIONS:
        fuse_runs(test, ["first", "second"], method=method, norm=norm, dev_runs=dev_runs, qrels=dev,
                  metric="ndcg@10")
    return time.perf_counter() - start


def main() -> int:
    import os
    import tempfile

    # It reads no data: ir_datasets (which ranx imports) gets an empty throwaway home, so setup neither copies
    # the data cache nor leaves a folder where `make data` would put it.
    with tempfile.TemporaryDirectory(prefix="lead_ir_precompile_") as home:
        os.environ["IR_DATASETS_HOME"] = home
        seconds = precompile()
    print(f"ranx's numba functions compiled into the numba cache in {seconds:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
