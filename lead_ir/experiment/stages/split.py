"""The split stage: the training topics cut into train and dev (and, from one ``data.topics`` set, test)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lead_ir.errors import LeadIRError

if TYPE_CHECKING:
    from lead_ir.experiment.study import Study

# what the split stage writes, by the name its manifest's outputs give each file
SPLIT_FILES = {"train_topics": "train-topics.tsv", "train_qrels": "train-qrels.txt", "dev_topics": "dev-topics.tsv",
               "dev_qrels": "dev-qrels.txt", "test_topics": "test-topics.tsv", "test_qrels": "test-qrels.txt"}


def split_topics(study: Study, out: Path) -> dict:
    """Judged training topics -> train and dev parts (seeded by ``data.split_seed``); with ``data.topics``, the test
    part is cut first, so it does not move with the dev fraction or ``max_train_queries``."""
    from lead_ir.data.collections import read_qrels, read_topics, write_qrels, write_topics
    from lead_ir.data.split import split_qids

    d = study.cfg.data
    topics_spec, qrels_spec = (d.topics, d.qrels) if d.splits_topics else (d.train_topics, d.train_qrels)
    topics, qrels = read_topics(topics_spec, study.topic_field()), read_qrels(qrels_spec)
    judged = [q for q in topics if any(rel > 0 for rel in qrels.get(q, {}).values())]
    if not judged:
        raise LeadIRError(f"no topic of {topics_spec} has a relevant judgment in {qrels_spec} "
                          f"(topic ids e.g. {', '.join(list(topics)[:3])}; qrels ids e.g. "
                          f"{', '.join(list(qrels)[:3])}); are they the same topic set?")
    outputs = {}
    if d.splits_topics:  # test first, so the test part does not move with the dev fraction or the cap
        from lead_ir.data.split import partition_qids, read_id_list

        parts = partition_qids(judged, {"test": d.test_fraction} if d.test_fraction else None,
                               {"test": read_id_list(d.test_ids)} if d.test_ids else None, d.split_seed)
        test = set(parts["test"])
        write_topics(out / SPLIT_FILES["test_topics"], {q: topics[q] for q in topics if q in test})
        write_qrels(out / SPLIT_FILES["test_qrels"], {q: qrels[q] for q in parts["test"]})
        judged = [q for q in judged if q not in test]
        outputs["test_queries"] = len(test)
    if d.max_train_queries:
        judged = sorted(judged, key=lambda q: (len(q), q))[:d.max_train_queries]
    train, dev = split_qids(judged, d.dev_fraction, d.split_seed)
    write_topics(out / SPLIT_FILES["train_topics"], {q: topics[q] for q in train})
    write_topics(out / SPLIT_FILES["dev_topics"], {q: topics[q] for q in dev})
    write_qrels(out / SPLIT_FILES["dev_qrels"], {q: qrels[q] for q in dev})
    write_qrels(out / SPLIT_FILES["train_qrels"], {q: qrels[q] for q in train})
    written = {n: f for n, f in SPLIT_FILES.items() if d.splits_topics or not n.startswith("test")}
    return {"train_queries": len(train), "dev_queries": len(dev)} | outputs | written
