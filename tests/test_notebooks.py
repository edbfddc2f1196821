"""The analysis notebooks execute top to bottom (nbclient) on the committed runs and logs."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXAMPLE = REPO / "runs" / "scifact-example"
STUDY = REPO / "runs" / "scifact"  # the reference study, preferred by the notebooks when present
KERNEL = "lead-ir-test"


@pytest.fixture(scope="module")
def kernel_env(irds_home, tmp_path_factory):
    """A kernelspec for *this* interpreter (the venv's python), found through JUPYTER_PATH."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lead_ir tests", "language": "python"}))
    old = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "LEAD_IR_NOTEBOOK_OUT", "MPLBACKEND")}
    os.environ["JUPYTER_PATH"] = str(root) + (os.pathsep + old["JUPYTER_PATH"] if old["JUPYTER_PATH"] else "")
    os.environ["LEAD_IR_NOTEBOOK_OUT"] = str(tmp_path_factory.mktemp("notebook_out"))
    os.environ["MPLBACKEND"] = "Agg"
    yield Path(os.environ["LEAD_IR_NOTEBOOK_OUT"])
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_three_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == ["01_leaderboard.ipynb", "02_per_query_analysis.ipynb",
                                           "03_lead_layers.ipynb"]
    for name in ("bm25.trec", "minilm-l6.trec", "minilm-l3-zeroshot.trec", "minilm-l3-lead.trec", "train_log.jsonl",
                 "layer_quality.csv"):
        assert (EXAMPLE / name).is_file(), f"committed example artifact {name} is missing"


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_env):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, kernel_name=KERNEL, timeout=120, resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "NOTE:" not in text, f"{path.name} ran without its data: {text[:500]}"
    assert elapsed < 40, f"{path.name} took {elapsed:.0f}s (the three must finish in 2 minutes together)"
    pngs = list(kernel_env.glob("*.png"))
    assert pngs, "the notebooks wrote no plots"
    if path.stem.startswith("01"):  # one leaderboard row per committed run
        run_dir = STUDY if STUDY.is_dir() else EXAMPLE
        table = (kernel_env / "scifact-leaderboard.md").read_text()
        rows = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("|")}
        assert {p.stem for p in run_dir.glob("*.trec")} <= rows


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_without_a_study_stops_with_one_message(path, kernel_env, tmp_path, monkeypatch):
    """LEAD_IR_STUDY names the study folder; a folder without runs stops the first code cell, saying what to set."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("LEAD_IR_STUDY", str(tmp_path / "no-study"))
    nb = nbformat.read(path, as_version=4)
    with pytest.raises(CellExecutionError) as info:
        NotebookClient(nb, kernel_name=KERNEL, timeout=120,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    assert "LeadIRError" in str(info.value) and "set LEAD_IR_STUDY" in str(info.value)
    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert len(ran) == 1  # stopped at the parameter cell, nothing after it ran
