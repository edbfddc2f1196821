"""The analysis notebooks: they execute top to bottom (nbclient) on the committed reference study, stop with one
message without a study or without the data, and are committed executed, with their figures."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STUDY = REPO / "runs" / "scifact"  # the committed reference study: the notebooks' default folder
KERNEL = "lead-ir-test"
NAMES = ["01_leaderboard.ipynb", "02_per_query_analysis.ipynb", "03_lead_layers.ipynb"]


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernelspec for *this* interpreter (the venv's python), found through JUPYTER_PATH."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lead_ir tests", "language": "python"}))
    old = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "MPLBACKEND")}
    os.environ["JUPYTER_PATH"] = str(root) + (os.pathsep + old["JUPYTER_PATH"] if old["JUPYTER_PATH"] else "")
    os.environ["MPLBACKEND"] = "Agg"  # the notebooks' `%matplotlib inline` must still give image outputs
    yield root
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _execute(path: Path):
    """Run a fresh in-memory copy of the notebook (committed outputs are replaced, the file is untouched)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name=KERNEL, timeout=180, resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def _outputs(nb) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _text(nb) -> str:
    parts = []
    for out in _outputs(nb):
        parts.append(out.get("text", ""))
        data = out.get("data", {})
        parts += [data.get("text/plain", ""), data.get("text/html", ""), data.get("text/markdown", "")]
    return "\n".join(parts)


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(nb))


def test_three_notebooks_read_the_committed_study():
    assert [p.name for p in NOTEBOOKS] == NAMES
    assert (STUDY / "study.json").is_file() and len(list(STUDY.glob("*.trec"))) >= 2
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        setup = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
        assert "open_study(" in setup and "LEAD_IR_STUDY" in setup, f"{path.name}: first code cell picks the study"


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_env, irds_home, monkeypatch):
    monkeypatch.delenv("LEAD_IR_STUDY", raising=False)  # the default: the committed study
    start = time.perf_counter()
    nb = _execute(path)
    elapsed = time.perf_counter() - start
    assert elapsed < 90, f"{path.name} took {elapsed:.0f}s"
    assert _images(nb) >= 1, f"{path.name} showed no figure"
    text = _text(nb)
    assert "NOTE:" not in text, f"{path.name} skipped part of its work: {text[:500]}"
    rows = json.loads((STUDY / "study.json").read_text())["rows"]
    if path.stem.startswith("01"):  # the leaderboard has one row per committed run
        assert all(row in text for row in rows)
        if not (STUDY / "costs.json").exists():  # a study from before the costs stage says so, in one line
            assert "predates cost measurement" in text
        else:
            assert _images(nb) >= 2, "recall curves and quality-vs-latency"
    if path.stem.startswith("02"):  # LEAD against response KD and both ablations, with W/T/L
        assert all(name in text for name in ("response-kd", "lead-last", "lead-uniform", "wins", "losses"))
    if path.stem.startswith("03"):  # the dev choices: kept checkpoints, best dev student, fusion weights
        hybrid = json.loads((STUDY / "study.json").read_text())["hybrid"]
        assert "kept step" in text and f"best dev student {hybrid['best_student']!r}" in text


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_without_a_study_stops_with_one_message(path, kernel_env, tmp_path, monkeypatch):
    """LEAD_IR_STUDY names the study folder; a folder without runs stops the first code cell, saying what to set."""
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("LEAD_IR_STUDY", str(tmp_path / "no-study"))
    with pytest.raises(CellExecutionError) as info:
        _execute(path)
    assert "LeadIRError" in str(info.value) and "set LEAD_IR_STUDY" in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES[:2])
def test_notebook_without_the_data_stops_with_one_message(name, kernel_env, tmp_path, monkeypatch):
    """No ir_datasets data (an empty IR_DATASETS_HOME, downloads blocked): the qrels cell stops the notebook, saying how
    to get the data; nothing after it runs. (Notebook 03 reads only the study's logs and needs no data.)"""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.delenv("LEAD_IR_STUDY", raising=False)
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "empty-irds"))
    for proxy in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):  # no download, network or not
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    path = REPO / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # the committed copy carries its outputs: clear them so only this run's cells count
        if cell.cell_type == "code":
            cell.execution_count, cell.outputs = None, []
    with pytest.raises(CellExecutionError) as info:
        NotebookClient(nb, kernel_name=KERNEL, timeout=180, resources={"metadata": {"path": str(path.parent)}}
                       ).execute()
    assert "LeadIRError" in str(info.value) and "not available" in str(info.value)
    assert "IR_DATASETS_HOME" in str(info.value)
    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert len(ran) == 2  # the study cell, then the qrels cell that stopped it


def test_committed_notebooks_carry_their_outputs():
    """The notebooks are committed executed, so they read on a code host without running: every code cell ran,
    in order, without an error, and each notebook shows at least one figure (``make notebooks`` refreshes them)."""
    import nbformat

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        counts = [c.get("execution_count") for c in code]
        assert all(counts), f"{path.name}: committed without outputs (cells {counts}); execute and save it"
        assert counts == sorted(counts), f"{path.name}: cells were run out of order ({counts})"
        assert not [o for c in code for o in c.outputs if o.output_type == "error"], f"{path.name}: saved an error"
        assert _images(nb) >= 1, f"{path.name}: no figure among the saved outputs"
