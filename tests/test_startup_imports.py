"""Lucene, topic and evaluation commands never import torch or transformers (issue #25).

One child process runs every command below for real, one after another, through ``lead_ir.cli.main``
on the toy collection, and records after each which of the forbidden modules ``sys.modules`` holds.
Modules only ever join ``sys.modules``, so a command that finds none of them there after it ran
imported none of them, and neither did any command before it: one process proves it for each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOY_DOCS, TOY_QRELS, TOY_TOPICS

pytestmark = [pytest.mark.java, pytest.mark.slow]  # a child process with its own JVM

FORBIDDEN = ("torch", "transformers")

CHILD = """
import json, sys
from lead_ir.cli import main
report = []
for name, argv in json.loads(sys.argv[1]):
    code = main(argv)
    report.append({"name": name, "exit": code, "loaded": [m for m in FORBIDDEN if m in sys.modules]})
with open(sys.argv[2], "w") as fh:
    json.dump(report, fh)
""".replace("FORBIDDEN", repr(FORBIDDEN))


def _commands(d: Path) -> list[tuple[str, list[str]]]:
    corpus, topics, qrels = str(d / "corpus.jsonl"), str(d / "topics.tsv"), str(d / "qrels.txt")
    index, run_a, run_b = str(d / "index"), str(d / "a.trec"), str(d / "b.trec")
    return [
        ("--help", ["--help"]),
        ("index bm25", ["-q", "index", "bm25", "--corpus", corpus, "--index", index, "--threads", "1"]),
        ("search bm25", ["-q", "search", "bm25", "--index", index, "--topics", topics, "--output", run_a, "--k", "5",
                         "--threads", "1"]),
        ("search bm25 --rm3", ["-q", "search", "bm25", "--index", index, "--topics", topics, "--output", run_b,
                               "--k", "5", "--rm3", "--threads", "1"]),
        ("mine", ["-q", "mine", "--run", run_a, "--qrels", qrels, "--topics", topics, "--output",
                  str(d / "train.jsonl"), "--num-negatives", "2"]),
        ("mine --unlabeled --index", ["-q", "mine", "--unlabeled", "--topics", topics, "--index", index, "--output",
                                      str(d / "unlabeled.jsonl"), "--depth", "3"]),
        ("topics export", ["-q", "topics", "export", topics, "--output", str(d / "exported.tsv")]),
        ("topics split", ["-q", "topics", "split", "--topics", topics, "--qrels", qrels, "--output-dir",
                          str(d / "split"), "--test", "0.34"]),
        ("evaluate", ["-q", "evaluate", run_a, run_b, "--qrels", qrels]),
        ("compare", ["-q", "compare", run_b, "--baseline", run_a, "--qrels", qrels, "--permutations", "100",
                     "--output-dir", str(d / "board")]),
        ("fuse", ["-q", "fuse", run_a, run_b, "--output", str(d / "fused.trec")]),
    ]


COMMAND_NAMES = [name for name, _ in _commands(Path("."))]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, dict]:
    d = tmp_path_factory.mktemp("startup")
    (d / "corpus.jsonl").write_text("".join(json.dumps({"id": i, "contents": t}) + "\n" for i, t in TOY_DOCS))
    (d / "topics.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in TOY_TOPICS))
    (d / "qrels.txt").write_text("".join(f"{q} 0 {doc} {r}\n" for q, doc, r in TOY_QRELS))
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(_commands(d)), str(d / "report.json")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return {row["name"]: row | {"stderr": out.stderr[-3000:]} for row in json.loads((d / "report.json").read_text())}


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_command_imports_neither_torch_nor_transformers(report, name):
    row = report[name]
    assert row["exit"] == 0, f"lead-ir {name} failed: {row['stderr']}"
    assert row["loaded"] == [], f"lead-ir {name} imported {row['loaded']}"
