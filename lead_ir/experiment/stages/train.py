"""The training stages: a teacher's warm-up (``<teacher>-warmup``) and an arm's student (``student-<arm>``).

Each trains the :class:`TrainConfig` planned for its row (:func:`lead_ir.experiment.study.plan_train_config`),
completed with what the study owns: the models and data from the earlier stages' manifests, the seed and the
output folder. A query-student arm (``train.student.tower: query``) always gets its teacher row's model: its
passages are that teacher's cached vectors, and its dev evaluation and runs search that teacher's index.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lead_ir.experiment.config import ArmSection, TeacherSection
    from lead_ir.experiment.study import Study


def train_row(study: Study, out: Path, arm: ArmSection | None, train, seed: int,
              warmup: TeacherSection | None = None) -> dict:
    """The warm-up of teacher ``warmup`` (arm None) or one arm's student at ``seed``; a null ``train`` (an arm
    without training) saves the backbone's kept blocks as they are."""
    from lead_ir.models.factory import ModelConfig, build_model, save_model

    if arm is None:
        teacher = warmup or study.cfg.teacher_list()[0]
        teacher_dir = student_dir = study.teacher_model(teacher)
    else:
        teacher = study.cfg.arm_teacher(arm)[0]
        teacher_stage, backbone_stage = study.arm_stages(arm, seed)
        teacher_dir = study.model_dir(teacher_stage) if teacher_stage else study.teacher_model(teacher)
        student_dir = study.model_dir(backbone_stage) if backbone_stage else _backbone(arm, teacher_dir)
    if train is None:  # no training: the backbone's kept blocks as they are
        model = build_model(ModelConfig(path=str(student_dir), keep_layers=list(arm.student_layers)))
        save_model(model, out / "model")
        return {"model": "model", "trained": False}
    from lead_ir.losses.terms import teacher_needed
    from lead_ir.training.config import TeacherConfig
    from lead_ir.training.loop import train as run_training

    # a distillation term has a weight, or the arm is a query student (its passages are the teacher's vectors)
    reads_teacher = arm is not None and (teacher_needed(train.loss.weights) or train.student.tower == "query")
    cache_dir = train.teacher.cache_dir
    if cache_dir == TeacherConfig.cache_dir:  # the default: one cache per study, shared by its arms
        cache_dir = str(study.root / "teacher-cache")
    pool, unlabeled = study.cfg.evaluation.dev_pool_depth, arm is not None and study.uses_unlabeled(train)
    query_student = arm is not None and study.query_teacher_row(arm.name) is not None
    index_stage = study.index_stage(arm.name, seed) if query_student else None
    layers = study.input(index_stage, "passage_layers", required=False) if query_student else None
    settings = replace(
        train,
        student=replace(train.student, path=str(student_dir), kind=teacher.kind if arm is None else "dense",
                        keep_layers=[] if arm is None else list(arm.student_layers)),
        teacher=replace(train.teacher, path=str(teacher_dir) if reads_teacher else "", kind=teacher.kind,
                        cache_dir=cache_dir, passage_layers=str(layers) if layers else ""),
        data=replace(train.data, train=str(study.input("mine", "train")), corpus=study.cfg.data.corpus,
                     dev_fraction=0.0, dev_topics=str(study.input("split", "dev_topics")),
                     dev_qrels=str(study.input("split", "dev_qrels")), dev_metric=study.cfg.evaluation.dev_metric,
                     dev_corpus=str(study.input("dev-pool", "corpus")) if pool else "",
                     dev_index=str(study.input(index_stage, "index")) if query_student else "",
                     unlabeled=str(study.input("mine-unlabeled", "unlabeled")) if unlabeled else ""),
        run=replace(train.run, output_dir=str(out / "train"), seed=seed,
                    resume=(out / "train" / "checkpoints").exists()))
    summary = run_training(settings)
    chosen = out / "train" / ("best" if (out / "train" / "best").exists() else "final")
    if study.group.rank == 0:  # under torchrun every process trained (DDP); rank 0 keeps the model
        if (out / "model").exists():
            shutil.rmtree(out / "model")
        shutil.copytree(chosen, out / "model")
    return {"model": "model", "trained": True, "summary": summary, "log": "train/train_log.jsonl"}


def _backbone(arm: ArmSection, teacher_dir: Path) -> Path:
    """An arm's student backbone when it is not a warm-up stage: ``student_model``, else its teacher's model."""
    from lead_ir.resolve import resolve_model

    return resolve_model(arm.student_model) if arm.student_model else teacher_dir
