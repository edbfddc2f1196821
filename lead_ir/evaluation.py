"""Evaluate TREC runs: per-query scores from trec_eval itself, with its conventions made explicit.

The one metrics path is :func:`per_query_scores`. Every metric trec_eval has is computed by trec_eval's C
code (``pytrec_eval``), so a figure here is the figure ``trec_eval`` prints, and a command that evaluates
starts without importing ranx (numba, scipy.stats, matplotlib: seconds per process). The two metrics
trec_eval lacks, ``ndcg_burges`` and ``rbp``, come from ranx.

Conventions (each checked against Pyserini's Java ``trec_eval`` in ``tests/test_evaluation.py``):

- **Judged-only.** Run queries without any judgment are dropped (TREC DL 2020: 200 topics, 54
  judged) and counted; judged queries a run lacks score 0 (``trec_eval -c``).
- **Ranking order.** Hits are ordered by score descending, ties by doc id *descending*, exactly
  as ``trec_eval`` orders them (the rank column of the file is ignored, as ``trec_eval`` does).
- **Gains.** nDCG is ``trec_eval ndcg_cut`` (Järvelin's linear gains), never ranx's
  ``ndcg_burges`` unless asked for. Labels <= 0 (Cranfield's -1) give gain 0 and are not relevant.
- **Relevance level.** ``map@1000-l2`` / ``recall@1000-l2`` count labels >= 2 as relevant
  (``trec_eval -l 2``, the TREC DL convention used by Anserini's regressions).
- **Cut-offs.** ``@k`` cuts the ordered run at k (``trec_eval -M k``); nDCG@k and P@k are
  ``ndcg_cut.k`` and ``P.k`` (ideal DCG and the divisor are cut at k too).
- **Defaults.** By collection family (:data:`DEFAULT_METRICS`); a TREC-format qrels file of a
  collection no family claims gets trec_eval's habits: MAP, nDCG@10, P@10, R@1000.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lead_ir.errors import LeadIRError, closest
from lead_ir.records import Qrels, RunDict

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "msmarco": ("mrr@10", "recall@1000"),
    "trec-dl": ("ndcg@10", "map@1000-l2", "recall@1000-l2"),
    "beir": ("ndcg@10", "recall@100"),
    "trec": ("map", "ndcg@10", "precision@10", "recall@1000"),  # trec_eval's habits, for TREC-format qrels
    "generic": ("ndcg@10", "recall@100", "mrr@10"),
}
# metric names this module accepts (ranx's names; nDCG is Järvelin's formulation, as trec_eval computes it)
METRICS = ("ndcg", "map", "recall", "precision", "mrr", "hit_rate", "hits", "r-precision", "bpref",
           "ndcg_burges", "f1", "rbp")
RANX_ONLY = ("ndcg_burges", "rbp")  # trec_eval has no such measure: these alone are computed by ranx
_ALIASES = {"r": "recall", "p": "precision", "rr": "mrr", "mrr": "mrr", "ap": "map", "success": "hit_rate",
            "rprec": "r-precision"}
_LABELS = {"ndcg": "nDCG", "map": "MAP", "recall": "R", "precision": "P", "mrr": "MRR", "hit_rate": "Success",
           "hits": "Hits", "r-precision": "R-Prec", "bpref": "bpref", "ndcg_burges": "nDCG-Burges", "f1": "F1",
           "rbp": "RBP"}
_METRIC_RE = re.compile(r"^(?P<name>[a-z][a-z0-9_\-]*?)(?:@(?P<k>\d+))?(?:-l(?P<lvl>\d+))?$")


def ranx():
    """Import ranx after pointing numba's cache at a writable folder (an existing NUMBA_CACHE_DIR wins).

    Importing ranx imports ir_datasets, which fixes its data folder then: set IR_DATASETS_HOME before.
    """
    if "NUMBA_CACHE_DIR" not in os.environ:
        cache = Path.home() / ".cache" / "lead_ir" / "numba"
        try:
            cache.mkdir(parents=True, exist_ok=True)
            os.environ["NUMBA_CACHE_DIR"] = str(cache)
        except OSError:
            logger.debug("cannot create %s; numba uses its default cache", cache)
    from lead_ir.environment import configure_data_home

    configure_data_home()
    import ranx as _ranx

    return _ranx


# --------------------------------------------------------------------------- metric names
def normalize_metric(name: str) -> str:
    """'nDCG@10' -> 'ndcg@10', 'R@1000' -> 'recall@1000', 'MAP@1000-l2' -> 'map@1000-l2'."""
    match = _METRIC_RE.match(name.strip().lower())
    if not match:
        hint = "; if it is a run file, list the runs before --metrics" if Path(name).exists() else ""
        raise LeadIRError(f"metric '{name}' is not of the form NAME[@K][-lLEVEL], e.g. ndcg@10 or recall@1000-l2{hint}")
    base = _ALIASES.get(match["name"], match["name"])
    if base not in METRICS:
        raise LeadIRError(f"unknown metric '{name}'{closest(base, METRICS)}; known: {', '.join(METRICS)}")
    out = base + (f"@{match['k']}" if match["k"] else "")
    return out + (f"-l{match['lvl']}" if match["lvl"] and match["lvl"] != "1" else "")


def metric_label(metric: str) -> str:
    """Display name: 'map@1000-l2' -> 'MAP@1000 (rel>=2)'."""
    match = _METRIC_RE.match(metric)
    if not match:
        return metric
    label = _LABELS.get(match["name"], match["name"]) + (f"@{match['k']}" if match["k"] else "")
    return label + (f" (rel>={match['lvl']})" if match["lvl"] else "")


def default_metrics(family: str) -> list[str]:
    """The default metrics of a collection family (msmarco | trec-dl | beir | generic)."""
    if family not in DEFAULT_METRICS:
        raise LeadIRError(f"unknown collection family '{family}'{closest(family, DEFAULT_METRICS)}; "
                          f"choose one of {', '.join(DEFAULT_METRICS)}")
    return list(DEFAULT_METRICS[family])


def parse_metric_list(metrics: Sequence[str] | str | None) -> list[str]:
    """Metric names from values that may each hold a comma list ('map,ndcg@10'), normalised and deduplicated."""
    if metrics is None:
        return []
    values = [metrics] if isinstance(metrics, str) else list(metrics)
    names = [part.strip() for value in values for part in str(value).split(",") if part.strip()]
    return list(dict.fromkeys(normalize_metric(m) for m in names))


def looks_like_metric(text: str) -> bool:
    """True for names such as 'ndcg@10', 'map' or 'R@1000' (used to explain a metric taken as a run file)."""
    match = _METRIC_RE.match(text.strip().lower())
    return bool(match) and _ALIASES.get(match["name"], match["name"]) in METRICS


def resolve_metrics(metrics: Sequence[str] | None, qrels_spec: str | None = None,
                    family: str | None = None) -> list[str]:
    """Explicit metrics (comma lists allowed; normalised, deduplicated) or the defaults of the qrels' family."""
    if metrics:
        return parse_metric_list(metrics)
    if family is None:
        from lead_ir.data.collections import topic_family

        family = topic_family(qrels_spec) if qrels_spec else "generic"
    return default_metrics(family)


# --------------------------------------------------------------------------- inputs
def as_run_dict(obj: Mapping | pd.DataFrame, what: str = "run") -> dict[str, dict[str, float]]:
    """A copy of a run/qrels as ``{str qid: {str docid: number}}`` from a dict or a DataFrame.

    DataFrames need columns ``q_id``/``doc_id``/``score`` (runs) or ``relevance`` (qrels); ir_datasets
    names ``query_id`` are accepted too. Ids of any dtype (pandas 3 ``str`` included) become Python str.
    """
    if isinstance(obj, Mapping):
        return {str(q): {str(d): (float(s) if what == "run" else int(s)) for d, s in hits.items()}
                for q, hits in obj.items()}
    columns = set(getattr(obj, "columns", ()))
    qcol = "q_id" if "q_id" in columns else "query_id"
    vcol = "score" if what == "run" else "relevance"
    missing = {qcol, "doc_id", vcol} - columns
    if missing:
        raise LeadIRError(f"{what} DataFrame lacks column(s) {sorted(missing)}; expected q_id, doc_id, {vcol}")
    out: dict[str, dict[str, float]] = {}
    cast = float if what == "run" else int
    for q, d, v in zip(obj[qcol].astype(object), obj["doc_id"].astype(object), obj[vcol], strict=True):
        out.setdefault(str(q), {})[str(d)] = cast(v)
    return out


def trec_order(hits: Mapping[str, float]) -> dict[str, float]:
    """Re-score hits by their rank in trec_eval's order (score desc, doc id desc): no ties left to break."""
    ranked = sorted(hits.items(), key=lambda item: item[0], reverse=True)
    ranked.sort(key=lambda item: item[1], reverse=True)  # stable: ties keep doc id descending
    n = len(ranked)
    return {doc_id: float(n - i) for i, (doc_id, _) in enumerate(ranked)}


def unique_names(paths: Sequence[str | os.PathLike], names: Sequence[str] | None = None) -> list[str]:
    """Run names from ``names`` or the file stems; duplicates are refused (ranx would overwrite them)."""
    if names:
        if len(names) != len(paths):
            raise LeadIRError(f"got {len(names)} --name value(s) for {len(paths)} run(s); give one name per run")
        chosen = [str(n) for n in names]
    else:
        chosen = [_stem(Path(p)) for p in paths]
    seen: dict[str, str] = {}
    for name, path in zip(chosen, paths, strict=True):
        if name in seen:
            raise LeadIRError(f"two runs are named '{name}' ({seen[name]} and {path}); rename a file or pass --name "
                              f"once per run")
        seen[name] = str(path)
    return chosen


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".trec", ".txt", ".run", ".tsv"):
        name = name.removesuffix(suffix)
    return name


def load_runs(paths: Sequence[str | os.PathLike], names: Sequence[str] | None = None) -> dict[str, RunDict]:
    """Read TREC run files into ``{name: run}`` with unique names (see :func:`unique_names`)."""
    from lead_ir.runs import read_run

    for path in paths:
        if not Path(path).exists() and looks_like_metric(str(path)):
            raise LeadIRError(f"'{path}' is not a run file but looks like a metric; give several metrics as one "
                              f"comma-separated value (--metrics map,ndcg@10): values after it are read as runs")
    return {name: read_run(path) for name, path in zip(unique_names(paths, names), paths, strict=True)}


# --------------------------------------------------------------------------- evaluation
@dataclass
class Evaluation:
    """Mean scores (runs x metrics), per-query scores, and what judged-only evaluation dropped."""

    means: pd.DataFrame
    per_query: dict[str, pd.DataFrame]  # run -> DataFrame[qid x metric] over all judged queries
    metrics: list[str]
    judged_queries: int
    dropped_unjudged: dict[str, int] = field(default_factory=dict)  # run queries without judgments
    missing_judged: dict[str, int] = field(default_factory=dict)  # judged queries absent from the run (score 0)

    def summary(self) -> str:
        """One line per run on the query sets, for the CLI and notebooks."""
        lines = [f"{self.judged_queries} judged queries"]
        for name in self.means.index:
            lines.append(f"{name}: dropped {self.dropped_unjudged.get(name, 0)} unjudged run queries, "
                         f"{self.missing_judged.get(name, 0)} judged queries not in the run scored 0")
        return "\n".join(lines)


def per_query_scores(qrels: Qrels, run: RunDict, metrics: Sequence[str]) -> tuple[pd.DataFrame, int, int]:
    """Per-query scores of one run over all judged queries (qid index, metric columns): the one metrics path.

    Returns:
        (scores, dropped unjudged run queries, judged queries missing from the run).
    """
    import pandas as pd

    qrels = as_run_dict(qrels, "qrels")
    run = as_run_dict(run, "run")
    metrics = [normalize_metric(m) for m in metrics]
    judged = sorted(qrels)
    common = [q for q in judged if q in run and run[q]]
    dropped = sum(1 for q in run if q not in qrels)
    if not common:
        raise LeadIRError("the run shares no query with the qrels; are they for the same topic set?")
    ranked = {q: trec_order(run[q]) for q in common}
    sub_qrels = {q: qrels[q] for q in common}
    by_trec_eval = [m for m in metrics if _metric_parts(m)[0] not in RANX_ONLY]
    scores = _trec_eval_scores(sub_qrels, ranked, by_trec_eval, common)
    scores |= _ranx_scores(sub_qrels, ranked, [m for m in metrics if m not in by_trec_eval])
    frame = pd.DataFrame({m: scores[m] for m in metrics}, index=pd.Index(common, dtype=object))
    frame = frame.reindex(pd.Index(judged, dtype=object), fill_value=0.0)
    frame.index.name = "query_id"
    return frame, dropped, len(judged) - len(common)


def _metric_parts(metric: str) -> tuple[str, int, int]:
    """A normalised metric -> (name, cut-off k or 0, relevance level)."""
    match = _METRIC_RE.match(metric)
    return match["name"], int(match["k"] or 0), int(match["lvl"] or 1)


def _trec_eval_measures(name: str, k: int) -> tuple[str, ...]:
    """The trec_eval measures (pytrec_eval's spelling) that give metric ``name`` on a run cut at ``k`` (0: uncut)."""
    if name == "ndcg":
        return (f"ndcg_cut.{k}",) if k else ("ndcg",)
    precision = (f"P.{k}",) if k else ("set_P",)
    return {"precision": precision, "f1": precision + ("num_rel_ret", "num_rel"), "map": ("map",),
            "recall": ("num_rel_ret", "num_rel"), "hits": ("num_rel_ret",), "hit_rate": ("num_rel_ret",),
            "mrr": ("recip_rank",), "r-precision": ("Rprec",), "bpref": ("bpref",)}[name]


def _trec_eval_value(name: str, k: int, values: Mapping[str, float]) -> float:
    """One query's metric from its trec_eval measures (:func:`_trec_eval_measures`)."""
    if name == "ndcg":
        return values[f"ndcg_cut_{k}" if k else "ndcg"]
    recall = values["num_rel_ret"] / values["num_rel"] if values.get("num_rel") else 0.0
    precision = values.get(f"P_{k}" if k else "set_P", 0.0)
    if name == "f1":
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    derived = {"precision": precision, "recall": recall, "hits": values.get("num_rel_ret", 0.0),
               "hit_rate": float(values.get("num_rel_ret", 0.0) > 0)}
    if name in derived:
        return derived[name]
    return values[{"map": "map", "mrr": "recip_rank", "r-precision": "Rprec", "bpref": "bpref"}[name]]


def _trec_eval_scores(qrels: Qrels, ranked: RunDict, metrics: Sequence[str], order: Sequence[str]) -> dict:
    """``{metric: per-query values in ``order``}`` computed by trec_eval, one evaluator per (cut-off, level)."""
    import numpy as np
    import pytrec_eval

    groups: dict[tuple[int, int], list[str]] = {}
    for metric in metrics:
        name, k, level = _metric_parts(metric)
        groups.setdefault((k, level), []).append(metric)
    out = {}
    for (k, level), names in groups.items():
        measures = {m for metric in names for m in _trec_eval_measures(_metric_parts(metric)[0], k)}
        # trec_eval -M k: the run cut at k in its own order (trec_order's scores are the ranks, no ties)
        cut = {q: dict(sorted(hits.items(), key=lambda item: -item[1])[:k]) if k else hits
               for q, hits in ranked.items()}
        values = pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level=level).evaluate(cut)
        for metric in names:
            name = _metric_parts(metric)[0]
            out[metric] = np.array([_trec_eval_value(name, k, values[q]) for q in order], dtype=float)
    return out


def _ranx_scores(qrels: Qrels, ranked: RunDict, metrics: Sequence[str]) -> dict:
    """``{metric: per-query values}`` of the metrics only ranx has (:data:`RANX_ONLY`), in ``ranked``'s order."""
    import numpy as np

    if not metrics:
        return {}
    with warnings.catch_warnings():  # ranx casts hashed doc ids uint64 -> int64; harmless for equality tests
        warnings.simplefilter("ignore", category=getattr(importlib.import_module("numba.core.errors"),
                                                         "NumbaTypeSafetyWarning", Warning))
        rx = ranx()
        # ranx 0.3.21 raises KeyError for one metric with return_mean=False: always ask for >= 2 names.
        asked = list(metrics) if len(metrics) > 1 else list(metrics) * 2
        scores = rx.evaluate(qrels, ranked, asked, return_mean=False, save_results_in_run=False)
    return {m: np.asarray(scores[m], dtype=float) for m in metrics}


def evaluate_runs(qrels: Qrels, runs: Mapping[str, RunDict], metrics: Sequence[str]) -> Evaluation:
    """Evaluate named runs on judged queries; the inputs are not modified."""
    import pandas as pd

    if not runs:
        raise LeadIRError("no runs to evaluate")
    metrics = [normalize_metric(m) for m in metrics]
    per_query, dropped, missing = {}, {}, {}
    for name, run in runs.items():
        per_query[name], dropped[name], missing[name] = per_query_scores(qrels, run, metrics)
        if dropped[name]:
            logger.info("%s: dropped %d run queries without judgments", name, dropped[name])
        if missing[name]:
            logger.warning("%s: %d judged queries are not in the run and score 0", name, missing[name])
    means = pd.DataFrame({m: [per_query[n][m].mean() for n in runs] for m in metrics},
                         index=pd.Index(list(runs), dtype=object, name="run"))
    return Evaluation(means, per_query, metrics, len(qrels), dropped, missing)


def evaluate_files(qrels_spec: str, run_paths: Sequence[str | os.PathLike], metrics: Sequence[str] | None = None,
                   names: Sequence[str] | None = None, family: str | None = None) -> Evaluation:
    """Read qrels (any spec of :func:`lead_ir.data.collections.read_qrels`) and runs, then evaluate."""
    from lead_ir.data.collections import read_qrels

    chosen = resolve_metrics(metrics, qrels_spec, family)
    runs = load_runs(run_paths, names)
    return evaluate_runs(read_qrels(qrels_spec), runs, chosen)


def format_means(means: pd.DataFrame, fmt: str = "table", digits: int = 4) -> str:
    """Render a means table as an aligned text table, CSV, JSON or LaTeX (booktabs)."""
    import json

    labelled = means.rename(columns=metric_label)
    if fmt == "csv":
        return labelled.to_csv(float_format=f"%.{digits}f")
    if fmt == "json":
        return json.dumps({str(r): {m: round(float(v), digits) for m, v in row.items()}
                           for r, row in means.iterrows()}, indent=2) + "\n"
    if fmt == "latex":
        return latex_table(labelled.map(lambda v: f"{v:.{digits}f}"), index_name="Run")
    if fmt == "table":
        return labelled.to_string(float_format=lambda v: f"{v:.{digits}f}") + "\n"
    raise LeadIRError(f"unknown format '{fmt}'{closest(fmt, ['table', 'csv', 'json', 'latex'])}")


def latex_escape(text: object) -> str:
    """Text for LaTeX: the characters that would break a table cell or a caption, escaped."""
    out = str(text)
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("$", r"\$"), ("^", r"\^{}"), ("~", r"\~{}"), (">=", r"$\geq$")):
        out = out.replace(a, b)
    return out


def latex_table(cells: pd.DataFrame, index_name: str = "", caption: str = "", label: str = "") -> str:
    """A booktabs tabular from a DataFrame of already formatted strings (no jinja2 needed).

    With ``caption`` it is a floating ``table`` (caption above, as ACM and Springer styles want) that a
    paper can ``\\input`` as is.
    """
    header = " & ".join([latex_escape(index_name)] + [latex_escape(c) for c in cells.columns]) + r" \\"
    rows = [" & ".join([latex_escape(i)] + [str(v) for v in row]) + r" \\"
            for i, row in zip(cells.index, cells.values, strict=True)]
    spec = "l" + "r" * len(cells.columns)
    tabular = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", header, r"\midrule", *rows, r"\bottomrule",
               r"\end{tabular}"]
    if not caption:
        return "\n".join(tabular) + "\n"
    head = [r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{latex_escape(caption)}}}"]
    head += [rf"\label{{{label}}}"] if label else []
    return "\n".join(head + tabular + [r"\end{table}"]) + "\n"
