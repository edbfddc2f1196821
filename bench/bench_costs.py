"""Query-encoding latency of a teacher and its first-k-layers student: the cost side of the leaderboard.

    .venv/bin/python bench/bench_costs.py                        # all-MiniLM-L6-v2 vs its blocks 1, 2, 6
    .venv/bin/python bench/bench_costs.py --student-layers 1,2,3   # ... vs its first 3 blocks

Uses lead_ir.efficiency.query_latency, the routine the study's `costs` stage calls: every test query
is encoded once per model at batch 1 on one thread in float32 (tokenisation included). The student is
the reference study's query student's shape (blocks 1, 2 and 6 of the teacher; latency does not depend
on the weights' values). The models take turns of 30 consecutive queries (the costs stage's default)
and, for comparison, of one query. Prints p50/p95 per model and turn, the parameter counts and the
student/teacher ratios (targets: <= 0.6 for a 3-layer student, issue #24's <= 0.55 for its query student).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from lead_ir.data.collections import read_topics
from lead_ir.efficiency import machine_description, model_size, query_latency
from lead_ir.models.factory import ModelConfig, build_model, save_model
from lead_ir.resolve import resolve_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--student-layers", default="1,2,6", help="teacher blocks the student keeps (1-based)")
    parser.add_argument("--topics", default="scifact-test")
    parser.add_argument("--turns", default="30,1", help="queries per turn to measure, comma-separated")
    args = parser.parse_args(argv)
    teacher = resolve_model(args.model)
    student = Path(tempfile.mkdtemp(prefix="bench-costs-")) / "student"
    blocks = [int(b) for b in args.student_layers.split(",")]
    save_model(build_model(ModelConfig(path=str(teacher), keep_layers=blocks)), student)
    queries = list(read_topics(args.topics).values())
    result = {"machine": machine_description(), "queries": len(queries), "student_blocks": blocks,
              "teacher": model_size(teacher), "student": model_size(student)}
    for turn in (int(t) for t in args.turns.split(",")):
        latency = query_latency({"teacher": teacher, "student": student}, queries, turn=turn)
        result[f"turn {turn}"] = latency | {
            "p50_ratio_student_teacher": round(latency["student"]["query_ms_p50"] /
                                               latency["teacher"]["query_ms_p50"], 3),
            "p95_ratio_student_teacher": round(latency["student"]["query_ms_p95"] /
                                               latency["teacher"]["query_ms_p95"], 3)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
