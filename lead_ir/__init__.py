"""lead_ir: LEAD layer-wise distillation of dense retrievers, Pyserini search, trec_eval evaluation.

The verbs a notebook needs are importable from the top level::

    from lead_ir import read_topics, read_qrels, search_bm25, evaluate_runs, compare_runs

Importing the package has no side effects and loads neither torch nor Java: each name is looked
up in its module on first access (PEP 562), Pyserini and the JVM load only through
:mod:`lead_ir.jvm` when a search runs, and :func:`train` imports torch when it is called.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> module that defines it. The modules named here import neither torch nor Java
# at import time (tests/test_packaging.py checks this).
_EXPORTS = {
    "read_topics": "lead_ir.data.collections",
    "read_qrels": "lead_ir.data.collections",
    "iter_corpus": "lead_ir.data.collections",
    "write_topics": "lead_ir.data.collections",
    "write_qrels": "lead_ir.data.collections",
    "export_topics": "lead_ir.data.collections",
    "split_topic_set": "lead_ir.data.split",
    "read_run": "lead_ir.runs",
    "write_run": "lead_ir.runs",
    "build_bm25_index": "lead_ir.bm25",
    "search_bm25": "lead_ir.bm25",
    "dense_search": "lead_ir.search",
    "hybrid_search": "lead_ir.search",
    "encode_corpus": "lead_ir.encode",
    "evaluate_runs": "lead_ir.evaluation",
    "evaluate_files": "lead_ir.evaluation",
    "compare_runs": "lead_ir.compare",
    "compare_files": "lead_ir.compare",
    "fuse": "lead_ir.fusion",
    "layer_quality": "lead_ir.analysis",
    "resolve_model": "lead_ir.resolve",
}

__all__ = sorted([*_EXPORTS, "train", "load_train_config"])


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lead_ir' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_train_config(path: str, overrides: list[str] | None = None):
    """Read a training YAML (``lead-ir train --config``) into a typed ``TrainConfig``."""
    from lead_ir.config import load_config
    from lead_ir.training.config import TrainConfig

    return load_config(TrainConfig, path, overrides or [])


def train(config) -> dict:
    """Train a dense student (or teacher warm-up) from a ``TrainConfig``; returns the run summary.

    A wrapper so that ``from lead_ir import train`` does not import torch; see
    :func:`lead_ir.training.loop.train`.
    """
    from lead_ir.training.loop import train as run_training

    return run_training(config)
