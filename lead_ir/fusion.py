"""Run fusion through ranx: fixed-parameter fusion, and parameters chosen on dev queries only.

Parameters (weights, RRF's k, …) are chosen with ``ranx.optimize_fusion`` on *dev* runs and
*dev* qrels, then applied to the test runs; :func:`fuse_with_dev` refuses dev queries that also
occur in the test runs. :func:`dev_split` draws a seeded fraction of a query set (e.g. 20% of
SciFact train) as that dev set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from lead_ir.errors import LeadIRError, closest
from lead_ir.evaluation import ranx
from lead_ir.records import Qrels, RunDict

logger = logging.getLogger(__name__)

METHODS = ("rrf", "wsum", "combsum", "combmnz", "combmax", "combmin", "combmed", "combanz", "isr", "log_isr",
           "logn_isr", "wmnz", "bordafuse", "w_bordafuse", "condorcet", "w_condorcet", "mixed", "rbc", "gmnz")
# The names ranx uses for the Comb* family (its fusion_switch knows "sum", not "combsum").
RANX_NAMES = {"combsum": "sum", "combmnz": "mnz", "combmax": "max", "combmin": "min", "combmed": "med",
              "combanz": "anz"}
NORMS = ("min-max", "max", "sum", "zmuv", "rank", "borda", "none")
# Methods ranx can tune (ranx.fusion_optimization.has_hyperparams).
TUNABLE = ("rrf", "wsum", "wmnz", "w_bordafuse", "w_condorcet", "mixed", "rbc", "gmnz", "logn_isr")
# The parameters each method takes; weighted methods default to equal weights.
PARAMS = {"rrf": ("k",), "wsum": ("weights",), "wmnz": ("weights",), "mixed": ("weights",),
          "w_bordafuse": ("weights",), "w_condorcet": ("weights",), "gmnz": ("gamma",), "rbc": ("phi",),
          "logn_isr": ("sigma",)}
REQUIRED = {"gmnz": ("gamma",), "rbc": ("phi",)}


def _check(method: str, norm: str) -> None:
    if method not in METHODS:
        raise LeadIRError(f"unknown fusion method {method!r}{closest(method, METHODS)}; "
                          f"choose from {', '.join(METHODS)}")
    if norm not in NORMS:
        raise LeadIRError(f"unknown normalisation {norm!r}{closest(norm, NORMS)}; choose from {', '.join(NORMS)}")


def check_params(method: str, params: dict, n_runs: int) -> dict:
    """The parameters ``method`` takes, checked (a parameter it would ignore is refused); weighted methods
    get equal weights when none are given."""
    import math

    allowed = PARAMS.get(method, ())
    unused = sorted(set(params) - set(allowed))
    if unused:
        takes = f"takes only {', '.join(allowed)}" if allowed else "takes no parameters"
        raise LeadIRError(f"fusion method {method!r} {takes}, but {', '.join(unused)} was given; drop it or pick "
                          f"a method that uses it")
    out = dict(params)
    if "weights" in allowed:
        weights = out.setdefault("weights", [1.0 / n_runs] * n_runs)
        if len(weights) != n_runs:
            raise LeadIRError(f"{len(weights)} fusion weights for {n_runs} runs; give one weight per run")
        if any(not math.isfinite(float(w)) or float(w) < 0 for w in weights):
            raise LeadIRError(f"fusion weights must be finite and >= 0, got {list(weights)}")
        out["weights"] = [float(w) for w in weights]
    if "k" in out and (not isinstance(out["k"], int) or out["k"] < 1):
        raise LeadIRError(f"RRF k must be a positive integer, got {out['k']!r}")
    missing = [name for name in REQUIRED.get(method, ()) if name not in out]
    if missing:
        raise LeadIRError(f"fusion method {method!r} needs {', '.join(missing)}; tune it on dev queries "
                          f"(--optimize-on) or pick another method")
    return out


def _check_runs(runs: list[RunDict], names: list[str]) -> None:
    if len(runs) < 2:
        raise LeadIRError(f"fusion needs at least two runs, got {len(runs)}")
    if len(names) != len(runs):
        raise LeadIRError(f"{len(names)} run names for {len(runs)} runs; name every run once")
    if len(set(names)) != len(names):
        raise LeadIRError(f"run names must be unique, got {names}")


def check_overlap(runs: list[RunDict], names: list[str]) -> None:
    """Refuse runs that share no query (their fusion would mean nothing); warn, with the counts, when they
    share only some. A query counts for a run when the run retrieves something for it."""
    answered = [{q for q, hits in run.items() if hits} for run in runs]
    every = set().union(*answered)
    common = set.intersection(*answered)
    if not common:
        sizes = ", ".join(f"{name} {len(qids)}" + (f" (e.g. {min(qids)})" if qids else "")
                          for name, qids in zip(names, answered))
        raise LeadIRError(f"fuse: the runs share no query (queries per run: {sizes}); fuse runs made on the same "
                          f"topics")
    missing = len(every) - len(common)
    if missing:
        logger.warning("fuse: the runs share %d of %d queries; %d %s missing from some run and %s fused from the "
                       "runs that have them", len(common), len(every), missing, "is" if missing == 1 else "are",
                       "is" if missing == 1 else "are")


def _ranx_runs(runs: list[RunDict], names: list[str], qids: list[str] | None = None) -> list:
    """ranx Runs over the queries every run answers (ranx needs equal query sets), limited to ``qids``.
    Used for tuning on dev queries; :func:`fuse` itself keeps every query (see there)."""
    _check_runs(runs, names)
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
    """Fuse ``runs`` with ranx (``method`` over ``norm``-normalised scores) -> ``{qid: {docid: score}}``.

    Nothing is dropped: every document any run retrieves for a query is in the output. A query that
    only some runs answer is fused from those runs (with their weights), with one warning giving the
    counts; a query only one run answers keeps that run's ranking. Cut the output to a depth when
    writing it (``write_run(k=...)``).

    Raises:
        LeadIRError: when the runs share no query (see :func:`check_overlap`).
    """
    _check(method, norm)
    _check_runs(runs, names)
    params = check_params(method, params or {}, len(runs))
    check_overlap(runs, names)
    return _fuse(runs, names, method, norm, params)


def _fuse(runs: list[RunDict], names: list[str], method: str, norm: str, params: dict) -> RunDict:
    """:func:`fuse` of checked arguments, without the overlap check (dev scoring re-fuses tuned dev runs)."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for qid in sorted(set().union(*runs)):
        members = tuple(i for i, run in enumerate(runs) if run.get(qid))
        if members:
            groups.setdefault(members, []).append(qid)
    out: RunDict = {}
    Run = ranx().Run
    for members, qids in groups.items():
        if len(members) == 1:
            run = runs[members[0]]
            out.update({q: {str(d): float(s) for d, s in run[q].items()} for q in qids})
            continue
        group_params = dict(params)
        if "weights" in group_params:
            group_params["weights"] = [params["weights"][i] for i in members]
        ranx_runs = [Run({q: {str(d): float(s) for d, s in runs[i][q].items()} for q in qids}, name=names[i])
                     for i in members]
        fused = ranx().fuse(ranx_runs, norm=None if norm == "none" else norm, method=RANX_NAMES.get(method, method),
                            params=group_params)
        out.update(_to_dict(fused))
    return out


def optimize(dev_runs: list[RunDict], names: list[str], qrels: Qrels, method: str = "wsum", norm: str = "min-max",
             metric: str = "ndcg@10", step: float = 0.1) -> dict:
    """Choose ``method``'s parameters that maximise ``metric`` on the dev queries of ``qrels``."""
    _check(method, norm)
    if method not in TUNABLE:
        raise LeadIRError(f"fusion method {method!r} has no parameters to optimise; drop --optimize-on or use one "
                          f"of {', '.join(TUNABLE)}")
    from lead_ir.evaluation import normalize_metric

    metric = normalize_metric(metric)
    qids = sorted(set(qrels) & set().union(*dev_runs))
    if not qids:
        raise LeadIRError("the dev runs and the dev qrels share no query ids; run the dev topics first")
    runs = _ranx_runs(dev_runs, names, qids)
    common = set(runs[0].keys())
    qrels_obj = ranx().Qrels({q: dict(qrels[q]) for q in qids if q in common}, name="dev")
    kwargs = {"step": step, "show_progress": False} if method in ("wsum", "wmnz", "mixed", "w_bordafuse",
                                                                 "w_condorcet") else {"show_progress": False}
    best = ranx().optimize_fusion(qrels_obj, runs, norm=None if norm == "none" else norm,
                                  method=RANX_NAMES.get(method, method), metric=metric, **kwargs)
    logger.info("%s on %d dev queries, chosen by %s: %s", method, len(common), metric, describe_params(best, names))
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
        LeadIRError: when a dev query id also occurs in the test runs, or the test runs share no query.
    """
    _check(method, norm)
    _check_runs(runs, names)
    if len(dev_runs) != len(runs):
        raise LeadIRError(f"give one dev run per run to fuse: {len(runs)} runs, {len(dev_runs)} dev runs")
    dev_qids = set(qrels) & set().union(*dev_runs)
    if dev_fraction < 1:
        dev_qids = set(dev_split(dev_qids, dev_fraction, seed))
    leaked = dev_qids & set().union(*runs)
    if leaked:
        raise LeadIRError(f"{len(leaked)} dev quer{'y' if len(leaked) == 1 else 'ies'} (e.g. {sorted(leaked)[0]}) "
                          f"also occur in the runs to fuse; tune on a dev split, never on test queries")
    check_overlap(runs, names)  # before tuning: runs that share no query are refused without the work
    dev_qrels = {q: qrels[q] for q in dev_qids}
    if method not in TUNABLE:  # nothing to tune (combsum, combmnz, ...): fuse as is
        return _fuse(runs, names, method, norm, check_params(method, {}, len(runs))), {
            "params": {}, "dev_queries": len(dev_qids)}
    params = optimize(dev_runs, names, dev_qrels, method=method, norm=norm, metric=metric, step=step)
    return _fuse(runs, names, method, norm, check_params(method, params, len(runs))), {
        "params": params, "dev_queries": len(dev_qids), "metric": metric,
        "dev_score": dev_score(dev_runs, names, dev_qrels, method, norm, params, metric)}


def fuse_runs(runs: list[RunDict | str | Path], names: list[str], method: str = "rrf", norm: str = "min-max",
              params: dict | None = None, dev_runs: list[RunDict | str | Path] | None = None,
              qrels: Qrels | str | None = None, metric: str = "ndcg@10", dev_fraction: float = 1.0, seed: int = 0,
              step: float = 0.1) -> tuple[RunDict, dict]:
    """Fuse ``runs`` with fixed ``params`` (:func:`fuse`), or with parameters tuned on ``dev_runs`` against the
    dev ``qrels`` (:func:`fuse_with_dev`) -> (fused run, ``{"params": ..., ...}``). Runs may be TREC files and
    qrels a qrels spec; they are read after the options are checked.

    The one entry point of ``lead-ir fuse``, the study and notebooks: it refuses fixed parameters together
    with dev tuning, dev runs without dev qrels, and dev qrels without dev runs.
    """
    from lead_ir.runs import read_run

    params = dict(params or {})
    if qrels is not None:
        if params:
            raise LeadIRError(f"--weights/--rrf-k fix parameters ({', '.join(sorted(params))}) that --optimize-on "
                              f"(tuning on dev qrels) would choose; give one or the other")
        if not dev_runs:
            raise LeadIRError("--optimize-on (tuning on dev qrels) needs --dev-runs: the same systems run on the dev "
                              "topics")
    elif dev_runs or dev_fraction != 1.0:
        raise LeadIRError("--dev-runs and --dev-fraction only apply with --optimize-on QRELS (tuning on dev qrels); "
                          "add it or drop them")
    runs = [run if isinstance(run, Mapping) else read_run(run) for run in runs]
    if qrels is not None:
        if not isinstance(qrels, Mapping):
            from lead_ir.data.collections import read_qrels

            qrels = read_qrels(str(qrels))
        dev_runs = [run if isinstance(run, Mapping) else read_run(run) for run in dev_runs]
        return fuse_with_dev(runs, dev_runs, names, qrels, method=method, norm=norm, metric=metric,
                             dev_fraction=dev_fraction, seed=seed, step=step)
    _check(method, norm)
    _check_runs(runs, names)
    params = check_params(method, params, len(runs))
    return fuse(runs, names, method=method, norm=norm, params=params), {"params": params}


def dev_score(dev_runs: list[RunDict], names: list[str], qrels: Qrels, method: str, norm: str, params: dict,
              metric: str) -> float:
    """``metric`` of the dev runs fused with ``params`` over the judged dev queries (what tuning maximised)."""
    fused = _fuse(dev_runs, names, method, norm, check_params(method, params, len(dev_runs)))
    qids = sorted(set(qrels) & {q for q, hits in fused.items() if hits})
    if not qids:
        return float("nan")
    r = ranx()
    return float(r.evaluate(r.Qrels({q: dict(qrels[q]) for q in qids}, name="dev"),
                            r.Run({q: fused[q] for q in qids}, name="fused"), metric))


def describe_params(params: dict, names: list[str]) -> str:
    """``weights`` as ``name=0.30`` pairs and other parameters as plain numbers."""
    parts = []
    for key, value in params.items():
        if key == "weights" and len(value) == len(names):
            parts.append("weights " + ", ".join(f"{n}={float(w):.2f}" for n, w in zip(names, value, strict=True)))
        elif isinstance(value, (list, tuple)):
            parts.append(f"{key} " + ", ".join(f"{float(v):g}" for v in value))
        else:
            parts.append(f"{key} {float(value):g}" if isinstance(value, (int, float)) else f"{key} {value}")
    return "; ".join(parts) or "ranx defaults"
