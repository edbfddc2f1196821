"""A non-editable install of lead_ir, run outside the repository: packaged resources and subpackages are all there.

The wheel is built from a copy of the package (so the shared tree gets no build/ folder) and installed with
``pip install --no-deps --target`` (the dependencies are those of the running environment). The copy is imported
through PYTHONPATH, ahead of the editable install's finder, and the test checks it really was the copy that ran.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_configs_quickstart_is_the_packaged_one():
    """configs/quickstart.yaml is a copy of the packaged config that ``lead-ir quickstart`` runs."""
    packaged = REPO / "lead_ir" / "resources" / "quickstart.yaml"
    assert (REPO / "configs" / "quickstart.yaml").read_text() == packaged.read_text(), \
        "configs/quickstart.yaml differs from lead_ir/resources/quickstart.yaml (the source of truth): copy it over"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(REPO / "lead_ir", src / "lead_ir", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    target = tmp_path_factory.mktemp("site")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(target), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return target


def _run(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("LEAD_IR_TOPIC_REGISTRY", None)
    return subprocess.run([sys.executable, "-s", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_installed_package_reads_every_registry_name(installed, tmp_path):
    code = ("import lead_ir, lead_ir.data.registry as r\n"
            "print(lead_ir.__file__)\n"
            "print(r.registry_path())\n"
            "print(','.join(r.get_topic_set(n).name for n in sorted(r.load_registry())))\n")
    out = _run(installed, tmp_path, "-c", code)
    assert out.returncode == 0, out.stderr
    module, registry, names = out.stdout.strip().splitlines()
    assert Path(module).is_relative_to(installed) and Path(registry).is_relative_to(installed)
    expected = yaml.safe_load((REPO / "lead_ir" / "resources" / "registry.yaml").read_text())
    assert names.split(",") == sorted(expected)


def test_installed_quickstart_dry_run_outside_the_repository(installed, tmp_path):
    script = installed / "bin" / "lead-ir"
    assert script.is_file(), "the lead-ir console script was not installed"
    out = _run(installed, tmp_path, str(script), "quickstart", "--dry-run")
    assert out.returncode == 0, out.stdout + out.stderr
    for stage in ("bm25-index", "student-lead", "leaderboard"):
        assert stage in out.stdout
    assert not (tmp_path / "work").exists(), "a dry run must not write the study's folders"
