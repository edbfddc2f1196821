"""One training step's loss: encode the local batch, gather, score per layer, apply the objective.

Shared by the trainer, the benchmark and the tests, so what is measured and tested is what runs.

A query student (``TeacherSource.query_tower``) encodes only the batch's queries; its layer-b scores are
its layer-b query vectors against the teacher's cached final-layer passage vectors, S_S^b = Q_S^b D_T^T
([L_s, Q, P]), and the teacher's scores are its own per-layer scores from the cache, as for any student.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from lead_ir.losses.objective import (
    ObjectiveResult,
    ObjectiveSettings,
    QueryVectors,
    Scores,
    objective,
    own_candidates,
)
from lead_ir.models.reps import LayerReps, dense_scores, gather_reps, layer_scores
from lead_ir.training.cache import TeacherCache
from lead_ir.training.data import Batch
from lead_ir.training.distributed import gather


class TrainModule(nn.Module):
    """The trainable models (student, plus the teacher in joint mode) behind one ``forward``,
    so DDP sees exactly one forward per micro-batch."""

    def __init__(self, student: nn.Module, teacher: nn.Module | None = None):
        super().__init__()
        self.student, self.teacher = student, teacher

    def forward(self, queries: list[str], passages: list[str] | None, student_layers: Sequence[int],
                teacher_layers: Sequence[int] = ()) -> tuple[LayerReps, LayerReps | None]:
        """Student reps (queries only when ``passages`` is None: a query student) and joint-teacher reps."""
        s = self.student.layer_reps(queries, passages, student_layers)
        t = self.teacher.layer_reps(queries, passages, teacher_layers) if self.teacher is not None else None
        return s, t


@dataclass
class TeacherSource:
    """Where teacher scores come from: the cache, a frozen model run online, or the joint module."""

    num_layers: int
    kind: str
    scope: str  # "global" or "own"
    cache: TeacherCache | None = None
    frozen: nn.Module | None = None  # online frozen teacher (no cache)
    joint: bool = False
    query_tower: bool = False  # a query student: passages are the cache's final-layer teacher vectors


def resolve_scope(scope: str, teacher_kind: str, cached: bool) -> str:
    """Distribution support: global batch for dual-encoder/ColBERT teachers, own candidates for a
    cross-encoder (and for a cached ColBERT, whose cache holds each query's own candidates)."""
    if scope != "auto":
        return scope
    return "own" if teacher_kind == "cross" or (teacher_kind == "colbert" and cached) else "global"


def needed_layers(pairs: Sequence[tuple[int, int]], num_student: int, num_teacher: int) -> tuple[list[int], list[int]]:
    """Sorted student and teacher layers the step must compute (paired layers plus the final ones)."""
    student = sorted({s for _, s in pairs} | {num_student})
    teacher = sorted({t for t, _ in pairs} | {num_teacher}) if num_teacher else []
    return student, teacher


def batch_loss(module: nn.Module, student_layers_total: int, global_batch: Batch, local_batch: Batch,
               pairs: Sequence[tuple[int, int]], settings: ObjectiveSettings,
               teacher: TeacherSource | None) -> ObjectiveResult:
    """The objective of one micro-batch (global-batch loss, identical on every process).

    Args:
        module: the (possibly DDP-wrapped) :class:`TrainModule`.
        global_batch / local_batch: the whole step's batch and this process's shard of it.
        pairs: (teacher layer, student layer) pairs for L_lyr (empty without a teacher).
    """
    s_layers, t_layers = needed_layers(pairs, student_layers_total, teacher.num_layers if teacher else 0)
    joint = teacher is not None and teacher.joint
    tower = teacher is not None and teacher.query_tower
    s_reps, t_reps = module(local_batch.queries, None if tower else local_batch.passages, s_layers,
                            t_layers if joint else ())
    device = s_reps.query.device
    t_scores, queries = None, None
    if teacher is not None and not joint and teacher.cache is None:
        with torch.no_grad():  # the online frozen teacher's forward runs under the caller's autocast
            t_reps = teacher.frozen.layer_reps(local_batch.queries, local_batch.passages, t_layers)
    # Scores, softmax and KL in float32 whatever the autocast around the encoders (bf16/fp16 reps are upcast).
    with torch.autocast(device.type, enabled=False):
        if tower:  # S_S^b = (student layer-b queries) . (teacher final passages), [L_s, Q, P]
            s_query = gather(s_reps.query.float(), 1)
            t_query, t_passage = (v.to(device) for v in teacher.cache.final_vectors(global_batch))
            s_scores = dense_scores(s_query, t_passage.expand(len(s_layers), -1, -1))
            queries = QueryVectors(s_query[-1], t_query)
        else:
            s_scores = layer_scores(float_reps(gather_reps(s_reps, gather)))
        if teacher is not None:
            if teacher.cache is not None and not joint:
                t_scores = teacher.cache.batch_scores(global_batch, tuple(t_layers)).to(device)
            elif joint:
                t_scores = layer_scores(float_reps(gather_reps(t_reps, gather)))
            else:
                t_scores = layer_scores(float_reps(gather_reps(t_reps, gather))).detach()
            if teacher.scope == "own" and t_scores.shape[-1] != global_batch.group_size:
                t_scores = own_candidates(t_scores, global_batch.group_size)
        return objective(Scores(s_scores.float(), tuple(s_layers)),
                         Scores(t_scores.float(), tuple(t_layers)) if t_scores is not None else None,
                         global_batch.group_size, pairs, settings,
                         None if global_batch.labeled is None else torch.tensor(global_batch.labeled, device=device),
                         queries)


def float_reps(reps: LayerReps) -> LayerReps:
    """``reps`` with its float tensors in float32 (masks untouched), so scoring is exact under autocast."""
    def up(t: Tensor | None) -> Tensor | None:
        return t.float() if t is not None and t.is_floating_point() else t
    return replace(reps, query=up(reps.query), passage=up(reps.passage))
