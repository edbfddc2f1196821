"""A finished study's results folder, read back for analysis (the notebooks' one entry point).

``lead-ir experiment`` (and ``lead-ir quickstart``) write a results folder: ``<row>.trec`` runs,
``leaderboard.*``, ``logs/<stage>.jsonl`` training logs, ``study.json`` (rows, the best dev student
and the fusion weights of the hybrid, per-stage wall times, the seeds of rows trained with several, and
the teacher row each query-student arm searched), ``config.resolved.yaml``, and, from
studies with a ``costs`` stage, ``costs.json``. :func:`open_study` finds such a folder (an explicit
path, else ``$LEAD_IR_STUDY``, else the committed reference study ``runs/scifact``) and
:class:`StudyResults` reads each part with a one-line error when it is missing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from lead_ir.errors import LeadIRError
from lead_ir.fileio import read_json, read_yaml
from lead_ir.records import Qrels, RunDict

STUDY_ENV = "LEAD_IR_STUDY"
DEFAULT_STUDY = "runs/scifact"


def _repo_root(start: Path) -> Path | None:
    return next((p for p in [start, *start.parents] if (p / "pyproject.toml").is_file()), None)


def open_study(folder: str | os.PathLike | None = None) -> StudyResults:
    """The results folder ``folder`` (else ``$LEAD_IR_STUDY``, else ``runs/scifact``).

    A relative path is looked up from the working directory, then from the clone's root (the
    first parent holding ``pyproject.toml``), so a notebook under ``notebooks/`` finds ``runs/...``.
    """
    from lead_ir.log import quiet_third_party

    quiet_third_party()  # a notebook's saved outputs hold results, not ir_datasets' cache paths or numba notices
    name = str(folder) if folder is not None else os.environ.get(STUDY_ENV) or DEFAULT_STUDY
    path = Path(name).expanduser()
    candidates = [path]
    root = _repo_root(Path.cwd())
    if not path.is_absolute() and root is not None:
        candidates.append(root / path)
    found = next((p for p in candidates if p.is_dir() and any(p.glob("*.trec"))), None)
    if found is None:
        raise LeadIRError(f"{candidates[-1].resolve()}: no study here (no *.trec runs); set {STUDY_ENV} to a "
                          "study's results folder, e.g. work/quickstart/results after `lead-ir quickstart`")
    return StudyResults(found.resolve())


@dataclass
class StudyResults:
    """Read access to one results folder; every part is read on first use."""

    folder: Path
    _cache: dict = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------- files
    @cached_property
    def info(self) -> dict:
        """``study.json`` (``{}`` for a folder of runs without one)."""
        path = self.folder / "study.json"
        fix = "re-run the study's leaderboard stage (lead-ir experiment) to write it again"
        if not path.is_file():
            return {}
        return read_json(path, what="study record", fix=fix,
                         fields={"name": (str, type(None)), "rows": list, "hybrid": (dict, type(None))})

    @cached_property
    def config(self) -> dict:
        """``config.resolved.yaml`` as a plain dict (``{}`` when absent)."""
        path = self.folder / "config.resolved.yaml"
        fix = "re-run the study (lead-ir experiment) to write it again"
        return read_yaml(path, what="resolved config", fix=fix) if path.is_file() else {}

    @property
    def name(self) -> str:
        return self.info.get("name") or self.config.get("name") or self.folder.name

    @property
    def rows(self) -> list[str]:
        """Run names in the study's row order (``study.json``), then any other ``*.trec`` by name."""
        stems = sorted(p.stem for p in self.folder.glob("*.trec"))
        ordered = [r for r in self.info.get("rows", []) if r in stems]
        return ordered + [s for s in stems if s not in ordered]

    @property
    def query_students(self) -> dict[str, str]:
        """``{arm: teacher row}`` of the query-student arms: each encodes queries only, and its runs searched that
        teacher row's index (whose size and docs/s its cost figures repeat). ``{}``: none."""
        found = self.info.get("query_students")
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    @property
    def metrics(self) -> list[str]:
        return list(self.config.get("evaluation", {}).get("metrics") or ["ndcg@10", "recall@100"])

    @property
    def dev_metric(self) -> str:
        """The metric that chose each kept checkpoint and the hybrid's student."""
        return self.config.get("evaluation", {}).get("dev_metric") or "ndcg@10"

    @property
    def baselines(self) -> list[str]:
        return [b for b in self.config.get("evaluation", {}).get("baselines") or ["bm25"] if b in self.rows]

    def _spec(self, key: str, default: str) -> str:
        return str(self.config.get("data", {}).get(key) or default)

    def runs(self, names: Sequence[str] | None = None) -> dict[str, RunDict]:
        """``{row: run}`` of the test runs (all rows, or ``names``), in row order."""
        from lead_ir.evaluation import load_runs

        names = list(names) if names is not None else self.rows
        unknown = [n for n in names if n not in self.rows]
        if unknown:
            raise LeadIRError(f"{self.folder}: no run(s) {unknown}; the study has {', '.join(self.rows)}")
        return load_runs([self.folder / f"{n}.trec" for n in names], names)

    def _data(self, what: str, read, spec: str):
        try:
            return read(spec)
        except (LeadIRError, OSError, RuntimeError, KeyError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise LeadIRError(f"{what} of {spec} are not available ({reason}); "
                              "run `make setup data` in the clone, or set IR_DATASETS_HOME to an ir_datasets "
                              "folder that holds them") from None

    def qrels(self) -> Qrels:
        """The test qrels (``data.test_qrels``; read through ir_datasets or a file)."""
        from lead_ir.data.collections import read_qrels
        from lead_ir.environment import configure_data_home

        configure_data_home()
        return self._data("the relevance judgments", read_qrels, self._spec("test_qrels", "irds:beir/scifact/test"))

    def topics(self) -> dict[str, str]:
        from lead_ir.data.collections import read_topics
        from lead_ir.environment import configure_data_home

        configure_data_home()
        return self._data("the queries", read_topics, self._spec("test_topics", "irds:beir/scifact/test"))

    def passages(self, doc_ids: set[str]) -> dict[str, str]:
        """Texts of ``doc_ids`` from the study's corpus."""
        from lead_ir.data.collections import doc_lookup
        from lead_ir.environment import configure_data_home

        configure_data_home()
        corpus = self._spec("corpus", "irds:beir/scifact")
        return self._data("the passages", lambda spec: doc_lookup(spec, doc_ids), corpus)

    # ----------------------------------------------------------------- training and dev choices
    def logs(self) -> dict[str, Path]:
        """``{stage: training log}`` (``logs/<stage>.jsonl``): ``teacher-warmup``, ``student-<arm>``."""
        found = {p.stem: p for p in sorted((self.folder / "logs").glob("*.jsonl"))}
        order = ["teacher-warmup"] + [f"student-{r}" for r in self.rows]
        return {s: found[s] for s in order if s in found} | {s: p for s, p in found.items() if s not in order}

    def dev_choices(self) -> pd.DataFrame:
        """Per training log: the dev metric, the kept checkpoint (first step with the best dev value, as
        the trainer keeps ``best/``), its dev value, and the last evaluation for comparison."""
        from lead_ir.plots import read_training_log

        key = f"eval/{self.dev_metric}"
        rows = []
        for stage, log in self.logs().items():
            train, evals = read_training_log(log)
            if key not in evals.columns or evals[key].dropna().empty:
                continue
            points = evals[key].dropna()
            kept = points.idxmax()  # idxmax returns the first maximum: the trainer replaces best/ only on a gain
            rows.append({"stage": stage, "dev metric": self.dev_metric, "evaluations": len(points),
                         "steps": int(train.index.max()) if len(train) else None, "kept step": int(kept),
                         "kept dev": float(points.loc[kept]), "last step": int(points.index[-1]),
                         "last dev": float(points.iloc[-1])})
        if not rows:
            raise LeadIRError(f"{self.folder}/logs: no training log with dev '{key}' lines")
        return pd.DataFrame(rows).set_index("stage")

    def hybrid(self) -> dict | None:
        """The hybrid's dev choices: best dev student, every arm's dev score, fusion method and weights."""
        hybrid = self.info.get("hybrid")
        if not hybrid:
            return None
        section = self.config.get("hybrid", {})
        params = (hybrid.get("fusion") or {}).get("params", {})
        fused = ["bm25", hybrid["best_student"]]
        out = {"best_student": hybrid["best_student"], "dev_metric": self.dev_metric,
               "dev_scores": dict(sorted(hybrid.get("dev_scores", {}).items(), key=lambda kv: -kv[1])),
               "method": section.get("method"), "norm": section.get("norm"),
               "dev_queries": (hybrid.get("fusion") or {}).get("dev_queries")}
        if "weights" in params and len(params["weights"]) == len(fused):
            out["weights"] = dict(zip(fused, params["weights"], strict=True))
        out |= {k: v for k, v in params.items() if k != "weights"}
        return out

    # ----------------------------------------------------------------- costs
    def costs(self) -> tuple[dict[str, dict], str] | None:
        """``({row: cost figures}, caption)`` from ``costs.json``, or None for a study without a costs stage."""
        from lead_ir.efficiency import read_costs_file

        path = self.folder / "costs.json"
        if not path.is_file():
            return None
        costs, caption = read_costs_file(path)
        return {row: figures for row, figures in costs.items() if row in self.rows}, caption or ""

    def costs_table(self) -> pd.DataFrame | None:
        """Cost figures per dense row with readable column names (:data:`lead_ir.efficiency.COST_FIELDS`)."""
        from lead_ir.efficiency import COST_FIELDS

        loaded = self.costs()
        if loaded is None:
            return None
        frame = pd.DataFrame.from_dict(loaded[0], orient="index")
        frame = frame[[f for f in COST_FIELDS if f in frame.columns]]
        if "params" in frame:
            frame["params"] = frame["params"] / 1e6
        if "index_bytes" in frame:
            frame["index_bytes"] = frame["index_bytes"] / 1e6
        return frame.rename(columns={f: COST_FIELDS[f][0] for f in frame.columns})

    def layer_quality(self) -> pd.DataFrame | None:
        path = self.folder / "layer_quality.csv"
        return pd.read_csv(path) if path.is_file() else None


def head_to_head(scores: Mapping[str, pd.Series], run: str, others: Sequence[str], correction: str = "holm",
                 alpha: float = 0.05) -> pd.DataFrame:
    """``run`` against each of ``others`` on one metric's per-query scores: means, mean difference with its
    95% paired-t interval, wins/ties/losses, and the paired t-test p-value, corrected over ``others``."""
    from lead_ir.compare import correct, paired_ci, paired_ttest

    missing = [n for n in (run, *others) if n not in scores]
    if missing or not others:
        raise LeadIRError(f"no per-query scores for {missing or 'any run to compare with'}; have {', '.join(scores)}")
    rows = []
    for other in others:
        a, b = scores[run], scores[other]
        if not a.index.equals(b.index):
            b = b.reindex(a.index)
            if b.isna().any():
                raise LeadIRError(f"{run} and {other} were scored on different queries; evaluate both with one qrels")
        diff = a - b
        delta, lo, hi = paired_ci(a.to_numpy(), b.to_numpy())
        rows.append({"run": run, "vs": other, "mean": a.mean(), "mean vs": b.mean(), "delta": delta,
                     "ci low": lo, "ci high": hi, "wins": int((diff > 0).sum()), "ties": int((diff == 0).sum()),
                     "losses": int((diff < 0).sum()), "p": paired_ttest(a.to_numpy(), b.to_numpy())})
    table = pd.DataFrame(rows).set_index("vs")
    table["p adjusted"] = correct(table["p"].tolist(), correction)
    table["significant"] = table["p adjusted"] < alpha
    return table
