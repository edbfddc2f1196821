"""Training groups and seeded batch sampling.

Each optimizer step takes ``batch_queries`` groups (a seeded permutation per epoch) and, for
each, 1 positive and n negatives drawn from the group with ``rng(seed, epoch, index)``; a
batch is therefore a pure function of (seed, epoch, position), which makes resuming exact.
Passages are laid out per query as [pos, neg_1..neg_n]. An unlabeled group (no positive,
:mod:`lead_ir.data.unlabeled`) fills its 1+n slots with candidates drawn alike, and the batch
marks it in ``labeled`` so the objective can leave it out of the student term.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lead_ir.errors import LeadIRError

logger = logging.getLogger(__name__)


@dataclass
class Group:
    """A training query; ``candidates`` = positives followed by the kept hard negatives (for an
    unlabeled group, no positives and its mined candidates as ``negatives``)."""

    qid: str
    query: str
    positives: list[str]
    negatives: list[str]

    @property
    def candidates(self) -> list[str]:
        return self.positives + self.negatives

    @property
    def labeled(self) -> bool:
        return bool(self.positives)


@dataclass
class Batch:
    """Texts of Q queries and their Q*(1+n) passages, plus where they come from (for caches).

    ``query_index[q]`` indexes the training groups; ``candidate_index[q][j]`` indexes that
    group's ``candidates`` for passage j of query q (j = 0 is the positive). ``labeled[q]`` is False
    for an unlabeled group (no positive; slot 0 is just another candidate); None means all labeled.
    """

    queries: list[str]
    passages: list[str]
    passage_ids: list[str]
    query_index: list[int]
    candidate_index: list[list[int]]
    labeled: list[bool] | None = None

    @property
    def group_size(self) -> int:
        return len(self.passages) // max(len(self.queries), 1)

    def shard(self, rank: int, world: int) -> Batch:
        """This process's contiguous slice of a global batch (queries and their passages)."""
        q = len(self.queries)
        if q % world:
            raise LeadIRError(f"{q} queries per step cannot be split over {world} processes; make "
                              f"optim.batch_queries a multiple of {world}")
        lo, hi, g = rank * q // world, (rank + 1) * q // world, self.group_size
        return Batch(self.queries[lo:hi], self.passages[lo * g:hi * g], self.passage_ids[lo * g:hi * g],
                     self.query_index[lo:hi], self.candidate_index[lo:hi],
                     None if self.labeled is None else self.labeled[lo:hi])


def read_groups(path: str | Path, depth: int) -> list[Group]:
    """Read a mined training file; keep the top-``depth`` negatives that are not positives (for an
    unlabeled group: its top-``depth`` candidates)."""
    from lead_ir.data.negatives import read_train_groups

    groups, skipped = [], 0
    for group in read_train_groups(path):
        positives = list(dict.fromkeys(group.positives))
        judged = set(positives)  # every positive is removed from the negatives, not only the first
        negatives = [d for d in dict.fromkeys(group.negatives) if d not in judged][:depth]
        if not negatives:
            skipped += 1
            continue
        groups.append(Group(group.qid, group.query, positives, negatives))
    if skipped:
        logger.warning("%s: %d group(s) without negatives skipped", path, skipped)
    if not groups:
        raise LeadIRError(f"{path}: no usable training groups (each needs a positive and a negative, or "
                          f"candidates when unlabeled)")
    return groups


class TrainData:
    """Groups + passage texts; builds the global batch of any (epoch, position)."""

    def __init__(self, groups: list[Group], doc_texts: dict[str, str], negatives: int, seed: int):
        missing = {d for g in groups for d in g.candidates if d not in doc_texts}
        if missing:
            raise LeadIRError(f"{len(missing)} training passage id(s) are not in the corpus (e.g. "
                              f"{sorted(missing)[0]!r}); check data.corpus matches the training file")
        self.groups, self.doc_texts, self.negatives, self.seed = groups, doc_texts, negatives, seed

    def batches_per_epoch(self, batch_queries: int) -> int:
        n = len(self.groups) // batch_queries
        if n == 0:
            raise LeadIRError(f"{len(self.groups)} training queries are fewer than optim.batch_queries="
                              f"{batch_queries}; lower the batch size")
        return n

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.groups))

    def sample(self, epoch: int, index: int) -> list[int]:
        """Candidate positions [positive, n negatives] for group ``index`` in ``epoch`` (1+n candidates
        of an unlabeled group)."""
        group = self.groups[index]
        rng = np.random.default_rng([self.seed, epoch, index])
        if not group.positives:
            n_cand = len(group.negatives)
            return [int(j) for j in rng.choice(n_cand, 1 + self.negatives, replace=n_cand < 1 + self.negatives)]
        pos = int(rng.integers(len(group.positives)))
        n_neg = len(group.negatives)
        negs = rng.choice(n_neg, self.negatives, replace=n_neg < self.negatives)
        return [pos] + [len(group.positives) + int(j) for j in negs]

    def batch(self, epoch: int, position: int, batch_queries: int) -> Batch:
        """The global batch number ``position`` of ``epoch``."""
        idx = self.order(epoch)[position * batch_queries:(position + 1) * batch_queries].tolist()
        queries, passages, ids, cands, labeled = [], [], [], [], []
        for i in idx:
            group = self.groups[i]
            chosen = self.sample(epoch, i)
            queries.append(group.query)
            cands.append(chosen)
            labeled.append(group.labeled)
            for c in chosen:
                ids.append(group.candidates[c])
                passages.append(self.doc_texts[group.candidates[c]])
        return Batch(queries, passages, ids, idx, cands, labeled)

    @property
    def has_unlabeled(self) -> bool:
        return any(not g.labeled for g in self.groups)
