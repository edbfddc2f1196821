"""Query-encoding latency of a teacher and its first-k-layers student: the cost side of the leaderboard.

    .venv/bin/python bench/bench_costs.py       # all-MiniLM-L6-v2 (6 layers) vs its first 3 layers, SciFact test

Uses lead_ir.efficiency.query_latency, the routine the study's `costs` stage calls: every test query
is encoded once per model at batch 1 on one thread in float32 (tokenisation included), the models
taking turns query by query. Prints p50/p95 per model, the parameter counts and the student/teacher
p50 ratio (target <= 0.6).
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
    parser.add_argument("--student-layers", type=int, default=3)
    parser.add_argument("--topics", default="scifact-test")
    args = parser.parse_args(argv)
    teacher = resolve_model(args.model)
    student = Path(tempfile.mkdtemp(prefix="bench-costs-")) / "student"
    save_model(build_model(ModelConfig(path=str(teacher), keep_layers=list(range(1, args.student_layers + 1)))),
               student)
    queries = list(read_topics(args.topics).values())
    latency = query_latency({"teacher": teacher, "student": student}, queries)
    result = {"machine": machine_description(), "queries": len(queries),
              "teacher": model_size(teacher) | latency["teacher"], "student": model_size(student) | latency["student"]}
    result["p50_ratio_student_teacher"] = round(latency["student"]["query_ms_p50"] /
                                               latency["teacher"]["query_ms_p50"], 3)
    result["p95_ratio_student_teacher"] = round(latency["student"]["query_ms_p95"] /
                                               latency["teacher"]["query_ms_p95"], 3)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
