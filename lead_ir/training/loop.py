"""The training loop: teacher warm-up (no teacher) and LEAD / KD student distillation alike."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lead_ir.config import save_config
from lead_ir.data.collections import doc_lookup
from lead_ir.errors import ConfigError, LeadIRError
from lead_ir.fileio import atomic_open, new_folder, write_json
from lead_ir.index import check_index
from lead_ir.log import progress_bar
from lead_ir.losses.layers import LayerSelector
from lead_ir.losses.objective import ObjectiveSettings
from lead_ir.losses.terms import teacher_needed, weight
from lead_ir.models.factory import build_model
from lead_ir.models.space import PassageSpace
from lead_ir.precision import autocast, resolve_precision
from lead_ir.resolve import resolve_model
from lead_ir.training import distributed
from lead_ir.training.cache import open_cache
from lead_ir.training.checkpoint import (
    STATE_FILE,
    list_checkpoints,
    load_checkpoint,
    read_trainer_state,
    save_checkpoint,
)
from lead_ir.training.config import TrainConfig, query_tower_problem
from lead_ir.training.data import Batch, TrainData, read_groups
from lead_ir.training.evaluate import DevEvaluator
from lead_ir.training.split import split_train_dev
from lead_ir.training.step import TeacherSource, TrainModule, batch_loss, resolve_scope

logger = logging.getLogger(__name__)
LOG_FILE = "train_log.jsonl"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak LR over ``warmup`` steps, then linear decay to 0 at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_optimizer(module: nn.Module, lr: float, weight_decay: float, fused: bool = True) -> torch.optim.AdamW:
    """AdamW, weight decay on matrices only; torch's fused kernel where the parameters allow it (CPU and CUDA).

    The fused step does per parameter what the default per-tensor loop does, in one kernel: on the CPU the loop's
    ~10 small ops per tensor cost 0.1-0.3 s a step for a 17M-parameter student, the fused step ~15-30 ms (it is
    also sentence-transformers' default, bench/bench_train_vs_st.py). Values agree to float rounding (~1e-8).
    """
    decay, no_decay = [], []
    for name, param in module.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if not fused:
        return torch.optim.AdamW(groups, lr=lr)
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except RuntimeError:  # a device or dtype the fused kernel does not cover: the per-tensor loop
        return torch.optim.AdamW(groups, lr=lr)


def split_micro(batch: Batch, parts: int) -> list[Batch]:
    """Split a global batch into ``parts`` global micro-batches (each is later sharded per process)."""
    if len(batch.queries) % parts:
        raise LeadIRError(f"optim.batch_queries={len(batch.queries)} is not divisible by optim.grad_accum={parts}")
    return [batch.shard(i, parts) for i in range(parts)]


def _autocast(device: torch.device, precision: str):
    """(autocast context, gradient scaler or None) for ``optim.precision`` on ``device`` (see lead_ir.precision)."""
    resolved = resolve_precision(precision, device.type)
    scaler = torch.amp.GradScaler("cuda") if resolved == "fp16" else None
    return autocast(device.type, resolved), scaler, resolved


class Trainer:
    """Builds everything from a :class:`TrainConfig` and runs the loop (``Trainer(cfg).fit()``)."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        want_cuda = cfg.run.device == "cuda" or (cfg.run.device == "auto" and torch.cuda.is_available())
        self.dist = distributed.init_distributed("cuda" if want_cuda else "cpu")
        if want_cuda:
            torch.cuda.set_device(self.dist.local_rank)
        self.device = torch.device(f"cuda:{self.dist.local_rank}" if want_cuda else "cpu")
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        self.out = Path(cfg.run.output_dir)
        seed_everything(cfg.run.seed)  # identical initial weights (e.g. new heads) on every process
        with new_folder(self.out, self.dist.is_main):  # a refused start removes the dev split it wrote
            self._setup_data()
            self._setup_models()
        if self.dist.is_main:  # only once the inputs are known to be good: a failed start leaves nothing
            self.out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out / "config.yaml")
        seed_everything(cfg.run.seed + self.dist.rank)  # dropout streams differ per process

    # ------------------------------------------------------------------ setup
    def _setup_data(self) -> None:
        d = self.cfg.data
        if not d.train or not d.corpus:
            raise LeadIRError("data.train and data.corpus are required (a mined train.jsonl and its corpus spec)")
        self.train_path, dev_topics, dev_qrels = d.train, d.dev_topics, d.dev_qrels
        if d.dev_fraction > 0:
            if not d.dev_qrels:
                raise LeadIRError("data.dev_fraction needs data.dev_qrels (the training qrels) to judge the "
                                  "held-out queries")
            split_dir = self.out / "split"
            if self.dist.is_main:
                split_train_dev(d.train, d.dev_qrels, d.dev_fraction, d.split_seed, split_dir)
            distributed.barrier()
            self.train_path = str(split_dir / "train.jsonl")
            dev_topics, dev_qrels = str(split_dir / "dev-topics.tsv"), str(split_dir / "dev-qrels.txt")
        if d.unlabeled:  # labeled + a seeded share of unlabeled groups, as one file (the teacher cache keys on it)
            from lead_ir.data.unlabeled import mix_training_file

            if self.dist.is_main:
                mix_training_file(self.train_path, d.unlabeled, d.unlabeled_ratio, d.split_seed,
                                  self.out / "mix" / "train.jsonl")
            distributed.barrier()
            self.train_path = str(self.out / "mix" / "train.jsonl")
        self.groups = read_groups(self.train_path, d.negatives_depth)
        ids = {doc for g in self.groups for doc in g.candidates}
        self.data = TrainData(self.groups, doc_lookup(d.corpus, ids), d.negatives, self.cfg.run.seed)
        self.evaluator = None  # only rank 0 evaluates; every rank joins the barriers around it
        self.has_dev = bool(dev_topics and dev_qrels) and self.cfg.student.kind == "dense"
        if dev_topics and dev_qrels and self.cfg.student.kind != "dense":
            logger.warning("dev evaluation searches with a dual encoder; skipped for a %s model", self.cfg.student.kind)
        elif dev_topics and dev_qrels and self.dist.is_main:
            self.evaluator = DevEvaluator(dev_topics, dev_qrels, d.dev_corpus or d.corpus,
                                          batch_size=self.cfg.run.eval_batch_size, metric=d.dev_metric)

    def _setup_models(self) -> None:
        cfg, t_cfg = self.cfg, self.cfg.teacher
        if self.data.has_unlabeled:  # before any model or teacher cache is built
            self._check_unlabeled()
        self.autocast, self.scaler, self.precision = _autocast(self.device, self._resumed_precision())
        logger.info("training precision: %s (optim.precision=%s, device %s)", self.precision, cfg.optim.precision,
                    self.device.type)
        tower = getattr(cfg.student, "tower", "both") == "query"
        if tower:  # before any model or teacher cache is built
            problem = query_tower_problem(cfg) or (None if t_cfg.path else
                                                   "student.tower=query needs teacher.path: the dense teacher whose "
                                                   "passage vectors (and index) the query student is trained for")
            if problem:
                raise ConfigError(problem)
        self.student = build_model(cfg.student).to(self.device)
        _group_lengths(self.student, cfg.run.length_groups)
        self.teacher_source, joint_teacher = None, None
        use_teacher = bool(t_cfg.path) and (teacher_needed(cfg.loss.weights, t_cfg.mode == "joint")
                                            or self.data.has_unlabeled or tower)
        if t_cfg.path and not use_teacher:
            logger.warning("teacher.path is set, but no loss term with a weight > 0 reads a teacher (loss.weights: "
                           "%s); training without it and without its cache", cfg.loss.weights)
        if use_teacher:
            teacher = build_model(t_cfg).to(self.device)
            _group_lengths(teacher, cfg.run.length_groups)  # a joint or online frozen teacher runs training forwards
            cached = t_cfg.mode == "frozen" and t_cfg.cache
            scope = resolve_scope(cfg.loss.scope, teacher.kind, cached)
            source = TeacherSource(teacher.num_layers, teacher.kind, scope, joint=t_cfg.mode == "joint",
                                   query_tower=tower)
            if tower:
                self._make_query_tower(teacher)
            if t_cfg.mode == "joint":
                joint_teacher = teacher
            else:
                teacher.requires_grad_(False).eval()
                if cached:
                    source.cache = open_cache(teacher, t_cfg, resolve_model(t_cfg.path), self.groups,
                                              self.data.doc_texts, self.train_path, cfg.data.corpus,
                                              cfg.data.negatives_depth, cfg.run.eval_batch_size, self.dist.is_main,
                                              precision=self.precision)
                    del teacher
                else:
                    source.frozen = teacher
            self.teacher_source = source
        self.selector = None
        if self.teacher_source is not None and weight(cfg.loss.weights, "layer"):
            try:
                self.selector = LayerSelector(cfg.loss.layer_selection, self.teacher_source.num_layers,
                                              self.student.num_layers, cfg.loss.num_layer_pairs,
                                              cfg.loss.redraw_every, cfg.run.seed, cfg.loss.exclude_final,
                                              cfg.loss.layer_map)
            except ValueError as exc:
                raise ConfigError(f"loss: {exc}") from None
        self.settings = ObjectiveSettings(dict(cfg.loss.weights), cfg.loss.student_temperature,
                                          cfg.loss.teacher_temperature, cfg.loss.reweight, cfg.loss.reweight_tau,
                                          cfg.loss.fixed_weights or None, t_cfg.mode == "joint",
                                          cfg.loss.unlabeled_student_loss, cfg.loss.align_kind)
        self.module = TrainModule(self.student, joint_teacher)
        self.ddp = self.module
        if distributed.is_distributed():
            device_ids = [self.dist.local_rank] if self.device.type == "cuda" else None
            self.ddp = nn.parallel.DistributedDataParallel(self.module, device_ids=device_ids)
        o = cfg.optim
        self.steps_per_epoch = self.data.batches_per_epoch(o.batch_queries)
        self.total_steps = o.max_steps or o.epochs * self.steps_per_epoch
        self.optimizer = make_optimizer(self.module, o.lr, o.weight_decay, o.fused)
        self.scheduler = linear_schedule(self.optimizer, math.ceil(o.warmup_ratio * self.total_steps), self.total_steps)
        self.state = {"step": 0, "epoch": 0, "position": 0, "best": None, "best_step": None,
                      "selector": self.selector.state_dict() if self.selector else None, "precision": self.precision}

    def _make_query_tower(self, teacher: nn.Module) -> None:
        """Make the student a query student of ``teacher``'s passage space (a projection when the widths differ),
        and let dev evaluation search the teacher's passage vectors: ``data.dev_index``'s (checked to be of that
        space), else the dev corpus encoded once, here."""
        space = PassageSpace.of_teacher(teacher, self.cfg.teacher.path, resolve_model(self.cfg.teacher.path))
        self.student.to_query_tower(space)
        projection = self.student.projection
        logger.info("query student of %s; %s", space.describe(), "no projection (same width)" if projection is None
                    else f"learning a {projection.in_features}->{projection.out_features} projection")
        index = self.cfg.data.dev_index
        if index:  # before any training step: a foreign index fails now, not at the first evaluation
            check_index(index, self.student.spec, self.student.dim)
        if self.evaluator is not None and index:
            self.evaluator.passages_from_index(index)
        elif self.evaluator is not None:
            with autocast(self.device.type, self.precision):
                self.evaluator.fix_passages(teacher)

    def _check_unlabeled(self) -> None:
        """Unlabeled groups train only through a teacher: distillation terms, or its top candidate as positive."""
        loss = self.cfg.loss
        distils = teacher_needed(loss.weights)  # a distillation term (not only the joint teacher's own terms)
        if not self.cfg.teacher.path or not (distils or loss.unlabeled_student_loss == "teacher_top"):
            raise ConfigError("the training data holds unlabeled groups (no positive), which train only through a "
                              "teacher: set teacher.path and a distillation weight (loss.weights.response/layer) or "
                              "loss.unlabeled_student_loss=teacher_top")

    # ------------------------------------------------------------------ one optimizer step
    def train_step(self, batch: Batch) -> dict:
        """Forward/backward over the micro-batches of ``batch``, then an optimizer step; returns a log row."""
        o, world = self.cfg.optim, self.dist.world
        pairs = self.selector.pairs(self.state["step"]) if self.selector else []
        self.module.train()
        totals: dict[str, float] = {}
        layer_kl, layer_w = None, None
        micro = split_micro(batch, o.grad_accum)
        for i, part in enumerate(micro):
            sync = contextlib.nullcontext() if i == len(micro) - 1 or self.ddp is self.module else self.ddp.no_sync()
            with sync:
                with self.autocast:
                    result = batch_loss(self.ddp, self.student.num_layers, part, part.shard(self.dist.rank, world),
                                        pairs, self.settings, self.teacher_source)
                loss = result.loss * world / len(micro)  # every process holds the global loss; DDP averages
                (self.scaler.scale(loss) if self.scaler else loss).backward()
            for name, value in {**result.terms, "loss": result.loss}.items():  # logged as loss/<term> and loss
                totals[name] = totals.get(name, 0.0) + float(value.detach()) / len(micro)
            if result.layers is not None:
                layer_kl = result.layers.kl / len(micro) + (layer_kl if layer_kl is not None else 0)
                layer_w = result.layers.weights / len(micro) + (layer_w if layer_w is not None else 0)
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        if o.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), o.max_grad_norm)
        lr = self.scheduler.get_last_lr()[0]
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        row = {"step": self.state["step"] + 1, "epoch": self.state["epoch"], "lr": lr, "loss": totals.pop("loss")}
        row.update({f"loss/{k}": v for k, v in totals.items()})
        row["layer_pairs"] = [list(p) for p in pairs]
        row["layer_weights"] = layer_w.tolist() if layer_w is not None else []
        row["layer_kl"] = layer_kl.tolist() if layer_kl is not None else []
        return row

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict:
        """Train to ``total_steps``; returns a summary (also written to ``summary.json``)."""
        self._maybe_resume()
        log = open(self.out / LOG_FILE, "a", encoding="utf-8") if self.dist.is_main else None
        bar = progress_bar(self.total_steps, "train", unit="step", initial=self.state["step"]) \
            if self.dist.is_main else None
        run = self.cfg.run
        try:
            while self.state["step"] < self.total_steps:
                batch = self.data.batch(self.state["epoch"], self.state["position"], self.cfg.optim.batch_queries)
                row = self.train_step(batch)
                self._advance()
                step = self.state["step"]
                if log and (step % run.log_every == 0 or step == self.total_steps):
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                if bar:
                    bar.update(1)
                    bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}")
                if run.eval_every and step % run.eval_every == 0 and step < self.total_steps:
                    self._evaluate(log)
                if run.save_every and step % run.save_every == 0 and step < self.total_steps:
                    self._checkpoint()
            if self.has_dev:  # periodic evaluations stop before the last step
                self._evaluate(log)
            self._checkpoint()
            summary = self._finish()
        finally:
            if bar:
                bar.close()
            if log:
                log.close()
        return summary

    def _advance(self) -> None:
        self.state["step"] += 1
        self.state["position"] += 1
        if self.state["position"] >= self.steps_per_epoch:
            self.state["epoch"] += 1
            self.state["position"] = 0

    def _evaluate(self, log) -> None:
        if self.evaluator is not None:
            with autocast(self.device.type, self.precision):  # the precision the encode stage uses too
                metrics = self.evaluator(self.student)
            step = self.state["step"]
            logger.info("step %d dev %s", step, " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
            if log:
                log.write(json.dumps({"step": step, **{f"eval/{k}": v for k, v in metrics.items()}}) + "\n")
                log.flush()
            value = metrics[self.evaluator.primary_metric]
            if self.state["best"] is None or value > self.state["best"]:
                self.state["best"], self.state["best_step"] = value, step
                self.student.save(self.out / "best")
        distributed.barrier()

    def _checkpoint(self) -> None:
        if self.dist.is_main:
            save_checkpoint(self.out, self.state["step"], self.module, self.optimizer, self.scheduler,
                            dict(self.state), self.cfg.run.keep_checkpoints)
        distributed.barrier()

    def _resumed_precision(self) -> str:
        """``optim.precision``, except that a resumed run keeps the precision its checkpoint recorded: one
        training is never continued in another precision because ``auto`` resolves differently on this host."""
        found = list_checkpoints(self.out) if self.cfg.run.resume else []
        recorded = read_trainer_state(found[-1]).get("precision") if found else None
        wanted = self.cfg.optim.precision
        if recorded is None or recorded == resolve_precision(wanted, self.device.type):
            return wanted
        if wanted != "auto":
            raise LeadIRError(f"{found[-1]} was trained in {recorded}, but optim.precision={wanted}; resume with "
                              f"optim.precision={recorded} (or auto), or start afresh with run.resume=false")
        logger.warning("resuming in %s, the precision %s was trained in (auto would be %s here)", recorded,
                       found[-1], resolve_precision(wanted, self.device.type))
        return recorded

    def _maybe_resume(self) -> None:
        found = list_checkpoints(self.out) if self.cfg.run.resume else []
        if not found:
            if self.dist.is_main and not self.cfg.run.resume:
                (self.out / LOG_FILE).unlink(missing_ok=True)
            return
        state = load_checkpoint(found[-1], self.module, self.optimizer, self.scheduler)
        if self.selector is not None:
            try:
                self.selector.check_state(state.get("selector"))
            except ValueError as exc:
                raise LeadIRError(f"{found[-1] / STATE_FILE}: {exc}; or delete {found[-1].parent} to start "
                                  f"over") from None
        self.state.update(state)
        if self.dist.rank:  # the checkpoint holds rank 0's RNG streams; give the others their own
            seed_everything(self.cfg.run.seed + self.dist.rank + 7919 * state["step"])
        logger.info("resumed from %s (step %d)", found[-1], state["step"])
        if self.dist.is_main:
            _truncate_log(self.out / LOG_FILE, state["step"])

    def _finish(self) -> dict:
        summary = {"steps": self.state["step"], "best_step": self.state["best_step"], "output_dir": str(self.out),
                   f"best_dev_{self.cfg.data.dev_metric}": self.state["best"], "precision": self.precision}
        if self.dist.is_main:
            self.student.save(self.out / "final")
            write_json(self.out / "summary.json", summary)
        distributed.barrier()
        return summary


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint being resumed (they will be written again)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():  # damaged lines are dropped
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):  # a line cut short by a kill
            continue
        if isinstance(row, dict) and isinstance(row.get("step", 0), (int, float)) and row.get("step", 0) <= step:
            keep.append(line)
    with atomic_open(path) as fh:
        fh.write("".join(line + "\n" for line in keep))


def _group_lengths(model: nn.Module, groups: int) -> None:
    """``run.length_groups`` for a dense encoder's training forwards (other kinds encode as they do)."""
    if hasattr(model, "length_groups"):
        model.length_groups = groups


def train(cfg: TrainConfig) -> dict:
    """Run training as ``cfg`` says (one process, or one of a torchrun group).

    ``run.threads`` holds for this call only: torch's thread count is process-wide, and a notebook
    or study that trains and then encodes must get its threads back.
    """
    threads = torch.get_num_threads()
    try:
        return Trainer(cfg).fit()
    finally:
        torch.set_num_threads(threads)
