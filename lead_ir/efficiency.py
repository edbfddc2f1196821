"""The cost side of a dense retriever: what a leaderboard row costs to store and to query.

Per row: parameters, transformer layers and embedding dimension (from the checkpoint), index size
on disk (every file of the index folder), query-encoding latency and corpus-encoding throughput.

Query latency is what a searcher pays per incoming query before FAISS runs: tokenising one query
and one forward pass (batch 1) on **one** CPU thread, in float32, the way ``lead-ir search dense``
encodes queries. :func:`query_latency` times every query of a topic set once per model, after a
few untimed warm-up queries, and reports the median (p50) and 95th percentile (p95).

Models take turns in blocks of consecutive queries (30 by default), so that load from other processes
falls on every model alike, while each model runs as a searcher runs it: one query after another, with
nothing else in between. Turns of a single query would charge every query for the switch: the other
models' weights (tens of MB) evict this one's from the CPU caches, which a searcher serving one model
never pays. That switch cost is about the same absolute time for a small and a large model, so it
inflates a small model's ratio: on a 2-core Xeon, a 3-layer student of all-MiniLM-L6-v2 measured
0.548x its teacher's p50 in turns of one query and 0.499x in turns of 30 (0.498x with each model run
alone). Each turn begins with one untimed query, the switch.

Costs travel as ``{row name: {field: value}}`` (:data:`COST_FIELDS`); :func:`read_costs` reads a
hand-made side file of that shape (JSON, or CSV with a ``run`` column) for ``lead-ir compare --costs``.
"""

from __future__ import annotations

import csv
import logging
import os
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lead_ir.errors import InputFormatError, LeadIRError
from lead_ir.precision import DEFAULT_PRECISION, cpu_bf16_native, resolve_precision

logger = logging.getLogger(__name__)

# field -> (column label, number format) in the leaderboard; every field is optional per row
COST_FIELDS = {
    "params": ("params (M)", lambda v: f"{v / 1e6:.1f}"),
    "layers": ("layers", lambda v: f"{int(v)}"),
    "dim": ("dim", lambda v: f"{int(v)}"),
    "index_bytes": ("index MB", lambda v: f"{v / 1e6:.1f}"),
    "query_ms_p50": ("query ms p50", lambda v: f"{v:.2f}"),
    "query_ms_p95": ("query ms p95", lambda v: f"{v:.2f}"),
    "docs_per_s": ("docs/s", lambda v: f"{v:.1f}"),
}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> str:
    """A short name of this machine for table captions: CPU model, cores, SIMD level (and GPU, if any)."""
    import torch

    cpu = cpu_model()
    simd = torch.backends.cpu.get_cpu_capability() + ("+BF16" if cpu_bf16_native() else "")
    text = f"{cpu}, {os.cpu_count()} cores, {simd}, torch {torch.__version__.split('+')[0]}"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def model_size(model: str | os.PathLike) -> dict:
    """``params``, ``layers`` and ``dim`` of a dense checkpoint (directory or name lead_ir.resolve knows)."""
    from lead_ir.models.encoder import DenseEncoder
    from lead_ir.resolve import resolve_model

    encoder = DenseEncoder.from_pretrained(resolve_model(str(model)))
    return {"params": int(sum(p.numel() for p in encoder.parameters())), "layers": int(encoder.num_layers),
            "dim": int(encoder.dim)}


def index_size(index_dir: str | os.PathLike) -> int:
    """Bytes on disk of every file under ``index_dir`` (FAISS index, docid list, metadata)."""
    root = Path(index_dir)
    if not root.is_dir():
        raise LeadIRError(f"{root}: no such index folder; encode the corpus first (`lead-ir encode`)")
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def query_latency(models: Mapping[str, str | os.PathLike], queries: Sequence[str], warmup: int = 5,
                  threads: int = 1, precision: str = DEFAULT_PRECISION, turn: int = 30) -> dict[str, dict]:
    """Per model: p50/p95 milliseconds to encode one query (batch 1, ``threads`` torch threads, ``precision``
    on the CPU: the one its index was encoded in, as `lead-ir search dense` embeds queries).

    Every query is timed once per model; models take turns of ``turn`` consecutive queries, each turn after
    one untimed query (see the module docstring). Returns ``{name: {"query_ms_p50", "query_ms_p95", "queries"}}``.
    """
    import torch

    from lead_ir.embed import Embedder
    from lead_ir.models.encoder import DenseEncoder
    from lead_ir.resolve import resolve_model

    if not queries:
        raise LeadIRError("query latency needs at least one query; give a non-empty topic set")
    if turn < 1:
        raise LeadIRError(f"a turn of {turn} queries is empty; give 1 or more")
    # the query path of `lead-ir search dense` (the one Embedder), one query per call
    resolved = resolve_precision(precision, "cpu")
    embedders = {name: Embedder(DenseEncoder.from_pretrained(resolve_model(str(path))).to("cpu"), "query", 1,
                                precision=resolved)
                 for name, path in models.items()}
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    times: dict[str, list[float]] = {name: [] for name in embedders}
    try:
        for query in queries[:warmup]:
            for embed in embedders.values():
                embed([query])
        for start in range(0, len(queries), turn):
            block = queries[start:start + turn]
            for name, embed in embedders.items():
                embed([block[0]])  # the switch from the previous model: untimed
                for query in block:
                    begin = time.perf_counter()
                    embed([query])
                    times[name].append((time.perf_counter() - begin) * 1000.0)
    finally:
        torch.set_num_threads(before)
    return {name: {"query_ms_p50": round(float(np.percentile(ms, 50)), 3),
                   "query_ms_p95": round(float(np.percentile(ms, 95)), 3), "queries": len(ms)}
            for name, ms in times.items()}


def read_costs(path: str | os.PathLike) -> dict[str, dict]:
    """A cost side file -> ``{run name: {field: number}}`` (see :func:`read_costs_file`)."""
    return read_costs_file(path)[0]


def read_costs_file(path: str | os.PathLike) -> tuple[dict[str, dict], str | None]:
    """A cost side file -> (``{run name: {field: number}}``, its caption or None).

    JSON: ``{"run": {"params": 22700000, "query_ms_p50": 4.1, ...}, ..., "_caption": "how, where"}``
    (the study writes its results' ``costs.json`` so); CSV: a ``run`` column and any of the
    :data:`COST_FIELDS` columns (empty cells are missing figures).
    """
    caption = None
    path = Path(path)
    if not path.is_file():
        raise LeadIRError(f"{path}: no such cost file; give a JSON or CSV file of run name -> figures")
    if path.suffix.lower() == ".json":
        from lead_ir.fileio import read_json

        data = read_json(path, what="cost file", fix="give a JSON object of run name -> {field: number}")
        if isinstance(data, dict) and isinstance(data.get("_caption"), str):
            caption = data.pop("_caption")
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise InputFormatError(path, None, "expected a JSON object of run name -> {field: number}")
        rows = data
    else:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "run" not in reader.fieldnames:
                raise InputFormatError(path, 1, "a cost CSV needs a 'run' column naming each row")
            rows = {r["run"]: {k: v for k, v in r.items() if k != "run" and v not in (None, "")} for r in reader}
    out = {}
    for run, figures in rows.items():
        unknown = sorted(set(figures) - set(COST_FIELDS))
        if unknown:
            raise InputFormatError(path, None, f"run {run!r} has unknown cost field(s) {unknown}",
                                   f"use the known ones: {', '.join(COST_FIELDS)}")
        try:
            out[str(run)] = {k: float(v) for k, v in figures.items() if v is not None}
        except (TypeError, ValueError):
            raise InputFormatError(path, None, f"run {run!r} has a non-numeric cost figure") from None
    return out, caption
