"""The README works verbatim: its ```bash blocks run, in order, in a fresh scratch copy of the clone.

Heavy commands run with tiny overrides from :data:`SUBSTITUTIONS` (a SciFact corpus subset holding
every judged document, and a 3-step training run); everything else runs exactly as written, in a
shell whose PATH lacks the venv until the README's own ``. .venv/bin/activate`` line. The
"Your own collection" block gets small files under the names it expects.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
# Blocks not run here, each with the reason (matched by a string the block contains).
NOT_RUN = {
    "make quickstart": "the two set-up commands; `make test` is this very suite",
    "msmarco-passage-lead.yaml": "MS MARCO under torchrun needs 8 GPUs per node and the MS MARCO collection",
}
# teacher.cache=false: the frozen teacher's cache would embed every candidate of all 809 training groups
# (minutes) for 3 steps that see a few dozen passages; the cached path is tested in test_train.py.
TINY_TRAIN = ("optim.max_steps=3 optim.batch_queries=4 data.negatives=2 data.negatives_depth=10 "
              "run.eval_every=0 run.save_every=0 teacher.cache=false data.corpus={corpus}")
# (README text, what the test runs instead); {corpus} and {repo} are filled in.
SUBSTITUTIONS = [
    ("--pseudo-queries titles --corpus irds:beir/scifact/test", "--pseudo-queries titles --corpus corpus/docs.jsonl"),
    ("--corpus irds:beir/scifact/test", "--corpus {corpus}"),
    ("lead-ir train --config configs/train-lead-student.yaml",
     "lead-ir train --config configs/train-lead-student.yaml " + TINY_TRAIN),
    (". .venv/bin/activate", ". {repo}/.venv/bin/activate"),
]
COPIED = ("README.md", "pyproject.toml", "Makefile", "configs", "topics", "notebooks", "runs/scifact")


def bash_blocks() -> list[str]:
    return [b for b in BLOCK.findall(README.read_text(encoding="utf-8")) if not any(k in b for k in NOT_RUN)]


def _commands(block: str) -> list[str]:
    """Command lines of a block (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.split(" #")[0].strip() for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_readme_commands_have_no_placeholders_and_write_under_work():
    commands = [c for b in bash_blocks() for c in _commands(b)]
    assert len(commands) > 20
    for command in commands:
        assert "…" not in command and "DEV_" not in command and "<" not in command, command
        for flag in ("--output", "--index", "--output-dir"):
            for value in re.findall(rf"{flag} (\S+)", command):
                if flag == "--index" and ("search" in command or "mine" in command or "faiss" in command
                                          or "lucene" in command):
                    continue  # an index read, not written
                assert value.startswith("work/"), f"{command}: {flag} {value} is outside the git-ignored work/"
    assert "work/" in (REPO / ".gitignore").read_text().replace("/work/", "work/")


def _subset_corpus(path: Path) -> Path:
    """Every SciFact document judged for train or test queries, plus the first 100 others (BEIR JSONL, titles kept)."""
    from lead_ir.data.collections import load_irds, read_qrels

    judged = {d for name in ("scifact-train", "scifact-test") for docs in read_qrels(name).values() for d in docs}
    kept = 0
    with open(path, "w", encoding="utf-8") as out:
        for i, doc in enumerate(load_irds("beir/scifact/test").docs_iter()):
            if doc.doc_id in judged or i < 100:
                out.write(json.dumps({"_id": doc.doc_id, "title": doc.title, "text": doc.text}) + "\n")
                kept += 1
    assert kept > 700
    return path


def _own_collection(root: Path) -> None:
    """corpus/, topics.txt and qrels.txt for the "Your own collection" block: 20 SciFact test queries."""
    from lead_ir.data.collections import read_qrels, read_topics

    qrels, topics = read_qrels("scifact-test"), read_topics("scifact-test")
    qids = sorted(qrels)[:20]
    docs = {d for q in qids for d in qrels[q]}
    (root / "corpus").mkdir()
    with open(root / "corpus" / "docs.jsonl", "w", encoding="utf-8") as out, \
            open(root / "work-subset.jsonl", encoding="utf-8") as src:
        for i, line in enumerate(src):
            if json.loads(line)["_id"] in docs or i < 100:
                out.write(line)
    (root / "topics.txt").write_text("".join(f"{q}\t{topics[q]}\n" for q in qids))
    (root / "qrels.txt").write_text("".join(f"{q} 0 {d} {r}\n" for q in qids for d, r in qrels[q].items()))


def _top10(path: Path) -> dict[str, list[str]]:
    """Each query's first 10 hits in the file's own order: the ranking its tool computed from unrounded scores.
    (Re-sorting the printed 6-decimal scores would turn a near-tie into a tie that the doc id breaks.)"""
    from lead_ir.runs import read_run

    return {q: list(h)[:10] for q, h in read_run(path).items()}


@pytest.mark.slow  # about 500 s: 20 commands at 12-40 s, each importing Pyserini; the longest test in CI
@pytest.mark.java
@pytest.mark.data
def test_readme_blocks_run_verbatim_in_a_scratch_clone(irds_home, tmp_path):
    root = tmp_path / "clone"
    root.mkdir()
    for name in COPIED:
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, root / name)
    corpus = _subset_corpus(root / "work-subset.jsonl")
    _own_collection(root)
    venv_bin = str(REPO / ".venv" / "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "IR_DATASETS_HOME", "JAVA_HOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["HOME"] = str(tmp_path / "home")  # a new user's shell: no ~/.ir_datasets, no caches
    # ...but ranx's compiled kernels stay cached (a cold numba compile is minutes on 2 cores, not the point here)
    env["NUMBA_CACHE_DIR"] = os.environ.get("NUMBA_CACHE_DIR") or str(Path.home() / ".cache" / "lead_ir" / "numba")
    activate = f". {venv_bin}/activate\n"
    blocks = bash_blocks()
    assert blocks[0].lstrip().startswith(". .venv/bin/activate"), "the first block puts lead-ir on PATH"
    seconds = {}
    for i, block in enumerate(blocks):
        started = time.perf_counter()
        script = block
        for old, new in SUBSTITUTIONS:
            script = script.replace(old, new.format(corpus=corpus, repo=REPO))
        # each block is a new shell: PATH comes from the README's activate line (first block) again
        # xtrace lines carry the seconds since the block began: -s shows where the time goes
        script = (activate if i else "") + "set -euo pipefail\nPS4='+[$SECONDS s] '\nset -x\n" + script
        done = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True,
                              timeout=1200)
        assert done.returncode == 0, f"README block {i} failed:\n{block}\n---\n{done.stderr[-3000:]}"
        seconds[i] = round(time.perf_counter() - started, 1)
        print("\n".join(line[:110] for line in done.stderr.splitlines()
                        if re.match(r"\+\[\d+ s\] (lead-ir|python|jupyter|LEAD_IR)", line)))
    print("README block wall times (s):", seconds)  # shown with -s: where the test's time goes
    work = root / "work"
    for run in ("bm25", "lead", "hybrid", "fused", "lead.pyserini", "bm25.pyserini"):
        assert (work / "runs" / f"{run}.trec").stat().st_size > 0, run
    ours, pyserini = _top10(work / "runs" / "lead.trec"), _top10(work / "runs" / "lead.pyserini.trec")
    differ = [q for q in ours if ours[q] != pyserini.get(q)]
    assert len(ours) == 300 and not differ, f"{len(differ)} of {len(ours)} top-10s differ between lead-ir and Pyserini"
    bm25, bm25_pyserini = _top10(work / "runs" / "bm25.trec"), _top10(work / "runs" / "bm25.pyserini.trec")
    assert sum(bm25[q] == bm25_pyserini.get(q) for q in bm25) >= 0.95 * len(bm25)  # ties may break apart
