"""Start-up: `lead-ir` BM25, index and evaluation commands end to end vs Pyserini's own CLI, on Cranfield.

Every command runs as a fresh process, timed by wall clock from launch to exit, so the figures hold
interpreter start, imports, the JVM's start and the work itself:

- ``search``: `lead-ir search bm25 --index I --topics T --output O --k K --threads N` against
  `python -m pyserini.search.lucene --index I --topics T --output O --hits K --bm25 --k1 0.9 --b 0.4
  --threads N --batch-size 256` (the batch `lead-ir` searches in): same index, topics, k and threads;
- ``index``: `lead-ir index bm25 --corpus docs.jsonl` against `python -m pyserini.index.lucene
  --collection JsonCollection` over the same JSONL file, with the same stored fields and threads;
- ``evaluate`` (`lead-ir evaluate RUN --qrels qrels.txt`) and ``help`` (`lead-ir --help`), alone.

After one warm-up round (file caches filled for both sides, not timed), each round runs every pair in
alternating order, lead-ir first on even rounds and Pyserini first on odd ones, so drift on a shared
machine hits both alike. The medians of wall time (the target's measure) and of CPU time (user +
system of all threads: steadier on a busy shared machine) are reported, with lead-ir / Pyserini ratios.
Targets (issue #25, on a quiet core): search ratio <= 0.5; evaluate and help under 1.5 s. Both sides
run on the Java lead_ir picks (``JAVA_HOME`` and ``PATH`` as :func:`lead_ir.jvm.ensure_java` sets them).

    .venv/bin/python bench/bench_startup.py                       # Cranfield, 5 rounds, 1 thread
    .venv/bin/python bench/bench_startup.py --rounds 3 --k 100
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def machine_line(java: str) -> str:
    from lead_ir.efficiency import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, {java}"


def lead_ir_command() -> list[str]:
    script = Path(sys.executable).parent / "lead-ir"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lead_ir"]


def prepare(work: Path, args: argparse.Namespace) -> dict[str, Path]:
    """The shared inputs: the corpus as one JSONL file, topics TSV, TREC qrels, and a lead-ir index to search."""
    from lead_ir.data.collections import export_topics, iter_corpus, read_qrels, write_qrels

    files = {"corpus_dir": work / "corpus", "topics": work / "topics.tsv", "qrels": work / "qrels.txt",
             "index": work / "index"}
    files["corpus_dir"].mkdir()
    files["corpus"] = files["corpus_dir"] / "docs.jsonl"
    with open(files["corpus"], "w", encoding="utf-8") as out:
        for doc in iter_corpus(args.corpus):
            out.write(json.dumps({"id": doc.doc_id, "contents": doc.text}) + "\n")
    export_topics(args.topics, files["topics"])  # the qid<TAB>text TSV both sides read
    write_qrels(files["qrels"], read_qrels(args.topics))
    if args.index:
        files["index"] = Path(args.index)
    else:
        run([*lead_ir_command(), "-q", "index", "bm25", "--corpus", str(files["corpus"]), "--index",
             str(files["index"]), "--threads", str(args.threads)])
    return files


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds ``cmd`` took from launch to exit, and the CPU seconds (user + system) it used.

    Its output is discarded; a failure stops the bench. CPU time counts every thread (the JVM's
    compiler and collector threads too) and is the steadier figure on a busy shared machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def commands(files: dict[str, Path], work: Path, args: argparse.Namespace) -> dict[str, dict[str, list[str]]]:
    lead, py = lead_ir_command(), [sys.executable]
    threads = str(args.threads)
    return {
        "search": {
            "lead_ir": [*lead, "-q", "search", "bm25", "--index", str(files["index"]), "--topics", str(files["topics"]),
                        "--output", str(work / "lead_ir.trec"), "--k", str(args.k), "--threads", threads],
            "pyserini": [*py, "-m", "pyserini.search.lucene", "--index", str(files["index"]), "--topics",
                         str(files["topics"]), "--output", str(work / "pyserini.trec"), "--hits", str(args.k),
                         "--bm25", "--k1", "0.9", "--b", "0.4", "--threads", threads, "--batch-size", "256"],
        },
        "index": {
            "lead_ir": [*lead, "-q", "index", "bm25", "--corpus", str(files["corpus"]), "--index",
                        str(work / "index-lead_ir"), "--threads", threads],
            "pyserini": [*py, "-m", "pyserini.index.lucene", "--collection", "JsonCollection", "--input",
                         str(files["corpus_dir"]), "--index", str(work / "index-pyserini"), "--generator",
                         "DefaultLuceneDocumentGenerator", "--threads", threads, "--storePositions",
                         "--storeDocvectors"],  # what `lead-ir index bm25` stores (no --store-raw)
        },
        "evaluate": {"lead_ir": [*lead, "-q", "evaluate", str(work / "lead_ir.trec"), "--qrels", str(files["qrels"])]},
        "help": {"lead_ir": [*lead, "--help"]},
    }


def same_hits(a: Path, b: Path) -> bool:
    """Both runs hold the same (query, document, score) triples: the two sides did the same work."""
    def triples(path: Path) -> set[tuple[str, str, str]]:
        return {(p[0], p[2], p[4]) for p in (line.split() for line in path.read_text().splitlines())}

    return triples(a) == triples(b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="irds:cranfield", help="corpus spec (default: irds:cranfield)")
    parser.add_argument("--topics", default="cranfield", help="topic set, also the qrels (default: cranfield)")
    parser.add_argument("--k", type=int, default=1000, help="hits per query, both sides")
    parser.add_argument("--threads", type=int, default=1, help="search and indexing threads, both sides")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--index", default=None, help="search this Lucene index of --corpus instead of one "
                                                       "`lead-ir index bm25` builds")
    args = parser.parse_args(argv)

    from lead_ir import jvm
    from lead_ir.environment import configure_data_home

    configure_data_home()  # the child processes inherit IR_DATASETS_HOME
    runtime = jvm.ensure_java()  # JAVA_HOME and PATH for both sides' JVMs (the JVM itself is not started here)
    print(machine_line(f"Java {runtime.version_string} ({runtime.source})"), flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        files = prepare(work, args)
        cmds = commands(files, work, args)
        seconds: dict[str, dict[str, list[float]]] = {name: {side: [] for side in sides}
                                                      for name, sides in cmds.items()}
        cpu: dict[str, dict[str, list[float]]] = {name: {side: [] for side in sides} for name, sides in cmds.items()}
        load_before = os.getloadavg()
        for round_ in range(-1, args.rounds):  # round -1: warm-up, not recorded
            for name, sides in cmds.items():
                order = list(sides) if round_ % 2 == 0 else list(sides)[::-1]
                for side in order:
                    if name == "index":
                        shutil.rmtree(work / f"index-{side}", ignore_errors=True)
                    took, used = run(sides[side])
                    if round_ >= 0:
                        seconds[name][side].append(took)
                        cpu[name][side].append(used)
            if round_ == -1 and not same_hits(work / "lead_ir.trec", work / "pyserini.trec"):
                raise SystemExit("lead-ir and Pyserini returned different hits: the comparison is void")
        medians = {name: {side: round(statistics.median(times), 3) for side, times in sides.items()}
                   for name, sides in seconds.items()}
        cpu_medians = {name: {side: round(statistics.median(times), 3) for side, times in sides.items()}
                       for name, sides in cpu.items()}
        result = {
            "corpus": args.corpus, "topics": args.topics, "index": args.index or "lead-ir index bm25", "k": args.k,
            "threads": args.threads, "rounds": args.rounds,
            "load_average": {"before": [round(x, 2) for x in load_before],
                             "after": [round(x, 2) for x in os.getloadavg()]},
            "median_seconds": medians,
            "ratio_lead_ir_to_pyserini": {name: round(m["lead_ir"] / m["pyserini"], 3)
                                          for name, m in medians.items() if "pyserini" in m},
            "median_cpu_seconds": cpu_medians,
            "cpu_ratio_lead_ir_to_pyserini": {name: round(m["lead_ir"] / m["pyserini"], 3)
                                              for name, m in cpu_medians.items() if "pyserini" in m},
            "targets": {"search_ratio<=0.5": medians["search"]["lead_ir"] <= 0.5 * medians["search"]["pyserini"],
                        "evaluate<1.5s": medians["evaluate"]["lead_ir"] < 1.5,
                        "help<1.5s": medians["help"]["lead_ir"] < 1.5},
            "seconds_per_round": {name: {side: [round(t, 3) for t in times] for side, times in sides.items()}
                                  for name, sides in seconds.items()},
            "commands": {name: {side: " ".join(cmd).replace(str(work), "$WORK") for side, cmd in sides.items()}
                         for name, sides in cmds.items()},
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
