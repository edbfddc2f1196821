"""Run fusion through ranx: fixed-parameter fusion, and parameters chosen on dev queries only.

Parameters (weights, RRF's k, …) are chosen with ``ranx.optimize_fusion`` on *dev* runs and
*dev* qrels, then applied to the test runs; :func:`fuse_with_dev` refuses dev queries that also
occur in the test runs. :func:`dev_split` draws a seeded fraction of a query set (e.g. 20% of
SciFact train) as that dev set.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from lead_ir.errors import LeadIRError, closest
from lead_ir.records import Qrels, RunDict

logger = logging.getLogger(__name__)

METHODS = ("rrf", "wsum", "combsum", "combmnz", "combmax", "combmin", "combmed", "combanz", "isr", "log_isr",
           "logn_isr", "wmnz", "bordafuse", "w_bordafuse", "condorcet", "w_condorcet", "mixed", "rbc", "gmnz")
NORMS = ("min-max", "max", "sum", "zmuv", "rank", "borda", "none")
# Methods ranx can tune (ranx.fusion_optimization.has_hyperparams).
TUNABLE = ("rrf", "wsum", "wmnz", "w_bordafuse", "w_condorcet", "mixed", "rbc", "gmnz", "logn_isr")


def ranx():
    """Import ranx with a writable numba cache (ranx compiles with ``cache=True``)."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "lead_ir" / "numba"))
    Path(os.environ["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    import ranx as _ranx

    return _ranx


def _check(method: str, norm: str) -> None:
    if method not in METHODS:
        raise LeadIRError(f"unknown fusion method {method!r}{closest(method, METHODS)}; "
                          f"choose from {', '.join(METHODS)}")
    if norm not in NORMS:
        raise LeadIRError(f"unknown normalisation {norm!r}{closest(norm, NORMS)}; choose from {', '.join(NORMS)}")


def _ranx_runs(runs: list[RunDict], names: list[str], qids: list[str] | None = None) -> list:
    """ranx Runs over the queries every run answers (ranx needs equal query sets), limited to ``qids``."""
    if len(runs) < 2:
        raise LeadIRError(f"fusion needs at least two runs, got {len(runs)}")
    if len(set(names)) != len(names):
        raise LeadIRError(f"run names must be unique, got {names}")
    common = set.intersection(*({q for q, hits in run.items() if hits} for run in runs))
    wanted = set(qids) if qids is not None else set().union(*runs)
    dropped = wanted - common
    if dropped:
        logger.warning("%d quer%s lack hits in some run and are left out (e.g. %s)", len(dropped),
                       "y" if len(dropped) == 1 else "ies", sorted(dropped)[0])
    keep = sorted(common & wanted)
    if not keep:
        raise LeadIRError("the runs share no query with hits; were they made on the same topics?")
    Run = ranx().Run
    return [Run({q: {d: float(s) for d, s in run[q].items()} for q in keep}, name=name)
            for run, name in zip(runs, names)]


def _to_dict(run) -> RunDict:
    return {str(q): {str(d): float(s) for d, s in hits.items()} for q, hits in run.to_dict().items()}


def fuse(runs: list[RunDict], names: list[str], method: str = "rrf", norm: str = "min-max",
         params: dict | None = None) -> RunDict:
    """Fuse ``runs`` with ranx (``method`` over ``norm``-normalised scores) -> ``{qid: {docid: score}}``."""
    _check(method, norm)
    fused = ranx().fuse(_ranx_runs(runs, names), norm=None if norm == "none" else norm, method=method,
                        params=params or {})
    return _to_dict(fused)


def optimize(dev_runs: list[RunDict], names: list[str], qrels: Qrels, method: str = "wsum", norm: str = "min-max",
             metric: str = "ndcg@10", step: float = 0.1) -> dict:
    """Choose ``method``'s parameters that maximise ``metric`` on the dev queries of ``qrels``."""
    _check(method, norm)
    if method not in TUNABLE:
        raise LeadIRError(f"fusion method {method!r} has no parameters to optimise; drop --optimize-on or use one "
                          f"of {', '.join(TUNABLE)}")
    qids = sorted(set(qrels) & set().union(*dev_runs))
    if not qids:
        raise LeadIRError("the dev runs and the dev qrels share no query ids; run the dev topics first")
    runs = _ranx_runs(dev_runs, names, qids)
    common = set(runs[0].keys())
    qrels_obj = ranx().Qrels({q: dict(qrels[q]) for q in qids if q in common}, name="dev")
    kwargs = {"step": step, "show_progress": False} if method in ("wsum", "wmnz", "mixed", "w_bordafuse",
                                                                 "w_condorcet") else {"show_progress": False}
    best = ranx().optimize_fusion(qrels_obj, runs, norm=None if norm == "none" else norm, method=method,
                                  metric=metric, **kwargs)
    logger.info("%s on %d dev queries: best %s = %s", method, len(common), metric, best)
    return dict(best)


def dev_split(qids: list[str] | set[str], fraction: float = 0.2, seed: int = 0) -> list[str]:
    """A seeded ``fraction`` of ``qids``: the same dev queries :mod:`lead_ir.data.split` gives training."""
    from lead_ir.data.split import split_qids

    if fraction == 1:
        return sorted(qids)
    return split_qids(qids, fraction, seed)[1]


def fuse_with_dev(runs: list[RunDict], dev_runs: list[RunDict], names: list[str], qrels: Qrels,
                  method: str = "wsum", norm: str = "min-max", metric: str = "ndcg@10", dev_fraction: float = 1.0,
                  seed: int = 0, step: float = 0.1) -> tuple[RunDict, dict]:
    """Tune on a (seeded ``dev_fraction`` of the) dev queries, then fuse the test ``runs``; never tunes on test.

    Raises:
        LeadIRError: when a dev query id also occurs in the test runs.
    """
    if len(dev_runs) != len(runs):
        raise LeadIRError(f"give one dev run per run to fuse: {len(runs)} runs, {len(dev_runs)} dev runs")
    dev_qids = set(qrels) & set().union(*dev_runs)
    if dev_fraction < 1:
        dev_qids = set(dev_split(dev_qids, dev_fraction, seed))
    leaked = dev_qids & set().union(*runs)
    if leaked:
        raise LeadIRError(f"{len(leaked)} dev quer{'y' if len(leaked) == 1 else 'ies'} (e.g. {sorted(leaked)[0]}) "
                          f"also occur in the runs to fuse; tune on a dev split, never on test queries")
    dev_qrels = {q: qrels[q] for q in dev_qids}
    params = optimize(dev_runs, names, dev_qrels, method=method, norm=norm, metric=metric, step=step)
    return fuse(runs, names, method=method, norm=norm, params=params), {"params": params,
                                                                       "dev_queries": len(dev_qids)}
