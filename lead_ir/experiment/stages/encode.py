"""The encode stage of a dense row (``encode-<row>``): its model's FAISS index of the corpus. Under torchrun each
process encodes a shard (documents at positions rank mod world) and rank 0 merges them into one index.

A query-student arm has no encode stage: it searches its teacher row's index (``Study.index_stage``). With
``encode.teacher_layers`` on, that row's stage also keeps every layer's passage vectors, which the arm's teacher
cache copies (``Study.keeps_passage_layers``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from lead_ir.fileio import write_json

if TYPE_CHECKING:
    from lead_ir.experiment.study import Study


def encode_row(study: Study, out: Path, row: str, seed: int) -> dict:
    from lead_ir.encode import EncodeOptions, encode_corpus

    e, group, model = study.encode_section, study.group, study.row_model(row, seed)
    options = EncodeOptions(batch_size=e.batch_size, max_length=e.max_length, precision=e.precision,
                            chunk_size=e.chunk_size)
    if group.world == 1:
        # a teacher row its query students' cache reads: every layer in the same pass, kept beside the index
        options.all_layers = layers = study.keeps_passage_layers(row)
        meta = encode_corpus(str(model), study.cfg.data.corpus, out / "index", options, factory=e.factory,
                             train_size=e.train_size, layers_dir=out / "passage-layers" if layers else None)
        return {"index": "index", "count": meta.get("count"), "precision": meta["precision"],
                "encode_seconds": meta["encode_seconds"], "docs_per_s": meta["docs_per_s"]} | (
            {"passage_layers": "passage-layers"} if layers else {})
    # torchrun: each process encodes documents at positions = rank (mod world); rank 0 merges the shards
    options.shard = (group.rank, group.world)
    meta = encode_corpus(str(model), study.cfg.data.corpus, out / f"shard-{group.rank}", options)
    write_json(out / f"shard-{group.rank}.json", {k: meta[k] for k in ("encoded", "encode_seconds")})
    group.barrier()
    if group.rank:
        return {}
    from lead_ir.fileio import read_json
    from lead_ir.index import merge_indexes

    merged = merge_indexes([out / f"shard-{i}" for i in range(group.world)], out / "index", factory=e.factory,
                           train_size=e.train_size)
    shards = [read_json(out / f"shard-{i}.json", what="encode shard record", fix=f"delete {out} so the stage "
                        f"runs again", fields={"encoded": int, "encode_seconds": (int, float)},
                        required=("encoded", "encode_seconds")) for i in range(group.world)]
    for i in range(group.world):
        shutil.rmtree(out / f"shard-{i}")
        (out / f"shard-{i}.json").unlink()
    seconds = max(s["encode_seconds"] for s in shards)
    encoded = sum(s["encoded"] for s in shards)
    return {"index": "index", "count": merged.get("count"), "precision": meta["precision"],
            "encode_seconds": seconds, "docs_per_s": round(encoded / seconds, 2) if encoded and seconds else None,
            "processes": group.world}
