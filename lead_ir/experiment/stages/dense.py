"""The dense-run stage of a row (``dense-<row>``): its model's dev and test runs over its index, which for a
query-student arm is its teacher row's (``Study.index_stage``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lead_ir.experiment.study import Study


def dense_runs(study: Study, out: Path, row: str, seed: int) -> dict:
    """``dev.trec`` and one run per test set; outputs name the encode stage whose index was searched."""
    from lead_ir.index import load_meta
    from lead_ir.runs import search_to_run
    from lead_ir.search import dense_search

    depth, model = study.cfg.evaluation.run_depth, study.row_model(row, seed)
    searched = study.index_stage(row, seed)
    index, name = study.input(searched, "index"), row + study.suffix(row, seed)
    jobs = [("dev", str(study.input("split", "dev_topics")), None)] + [
        (stem, t, study.topic_field()) for stem, t, _, _ in study.test_sets()]
    for job, topics, topic_field in jobs:
        search_to_run(lambda queries: dense_search(index, model, queries, k=depth), topics,
                      out / f"{job}.trec", tag=f"{name}-{job}", k=depth, field=topic_field)
    # the queries were embedded in the index's precision (lead_ir.search.index_query_encoder)
    return {"runs": [f"{job}.trec" for job, _, _ in jobs], "precision": (load_meta(index) or {}).get("precision"),
            "index_stage": searched}
