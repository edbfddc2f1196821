"""The record vocabulary shared by every stage (ir_datasets field names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Doc(NamedTuple):
    doc_id: str
    text: str


class Query(NamedTuple):
    query_id: str
    text: str


class Qrel(NamedTuple):
    query_id: str
    doc_id: str
    relevance: int


# Qrels and runs in memory use ranx's nested-dict layout: {query_id: {doc_id: value}}.
Qrels = dict[str, dict[str, int]]
RunDict = dict[str, dict[str, float]]


@dataclass
class TrainGroup:
    """One training query with its positives and rank-ordered hard negatives (a line of train.jsonl)."""

    qid: str
    query: str
    positives: list[str]
    negatives: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"qid": self.qid, "query": self.query, "positives": self.positives, "negatives": self.negatives}
