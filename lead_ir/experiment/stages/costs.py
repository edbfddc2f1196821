"""The costs stage: the cost side of every dense row (:mod:`lead_ir.efficiency`), measured on this machine.

Per row, on its first seed's model: parameters, layers and output width of the model that encodes its queries
(a query student's projection included), its query latency, and the bytes and encoding throughput of the index
its runs search: its own encode stage's, or for a query-student arm its teacher row's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lead_ir.fileio import write_json

if TYPE_CHECKING:
    from lead_ir.experiment.study import Study

PRECISION_NAMES = {"fp32": "float32", "bf16": "bfloat16 autocast", "fp16": "float16"}


def measure_costs(study: Study, out: Path) -> dict:
    from lead_ir.data.collections import read_topics
    from lead_ir.efficiency import index_size, machine_description, model_size, query_latency

    rows = study.rows()
    first = {row: study.row_seeds(row)[0] for row in rows}
    models = {row: study.row_model(row, first[row]) for row in rows}
    queries = list(read_topics(study.test_sets()[0][1], study.topic_field()).values())
    precision = study.encode_section.precision  # as the dense runs embed their queries: the index's
    latency = query_latency(models, queries, precision=precision)
    costs = {}
    for row in rows:
        encode = study.index_stage(row, first[row])
        encoded = study.pipeline.manifest(encode) or {}
        rate = encoded.get("outputs", {}).get("docs_per_s")
        if rate is None and encoded.get("outputs", {}).get("count") and encoded.get("wall_time_s"):
            rate = round(encoded["outputs"]["count"] / encoded["wall_time_s"], 2)  # older manifests
        costs[row] = model_size(models[row]) | {"index_bytes": index_size(study.input(encode, "index"))} \
            | {k: v for k, v in latency[row].items() if k != "queries"} | {"docs_per_s": rate}
    machine = machine_description()
    caption = (f"query ms = encoding one test query (batch 1, 1 thread, {PRECISION_NAMES[precision]}; p50/p95 "
               f"over {len(queries)} queries) on {machine}; docs/s = the encode stage's corpus throughput")
    shared = {row: study.query_teacher_row(row) for row in rows if study.query_teacher_row(row)}
    if shared:  # only a study with query students says so: the others keep their caption
        caption += ("; a query student's index MB and docs/s are those of its teacher's index ("
                    + ", ".join(f"{row}: {teacher}" for row, teacher in shared.items()) + ")")
    write_json(out / "costs.json", {"machine": machine, "caption": caption, "rows": costs}
               | ({"query_students": shared} if shared else {}))
    return {"costs": "costs.json", "machine": machine, "caption": caption, "rows": costs, "precision": precision} \
        | ({"query_students": shared} if shared else {})
