"""Frozen-teacher cache: the teacher's per-layer outputs for a training file, memory-mapped.

- dual-encoder teacher: pooled vectors of every layer for every query and candidate passage of
  the training file (``queries.npy`` [Nq, L, H], ``passages.npy`` [Np, L, H]); a step's teacher
  scores over the global batch are then a few dot products;
- ColBERT / cross-encoder teacher: per-layer scores of each query against its own candidates
  (``scores.npy`` [Nq, C, L], NaN-padded), so distillation uses each query's own candidates.

The directory name hashes the training file, the corpus, the teacher weights and settings;
rank 0 builds it atomically while the other processes wait. A dense teacher's passage rows are copied from
``teacher.passage_layers`` (every layer of the corpus, as the teacher's index was encoded with
``all_layers``) when those were made with the same weights, length and precision, instead of encoding
the passages a second time; the cache is the same either way (up to rounding of batch composition).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from lead_ir.data.collections import corpus_fingerprint
from lead_ir.embed import Embedder
from lead_ir.errors import LeadIRError
from lead_ir.fileio import (
    atomic_path,
    file_fingerprint,
    load_npy,
    read_json,
    read_text,
    weights_fingerprint,
    write_json,
)
from lead_ir.log import progress
from lead_ir.models.reps import layer_scores
from lead_ir.precision import autocast
from lead_ir.training import distributed
from lead_ir.training.config import TeacherConfig
from lead_ir.training.data import Batch, Group

logger = logging.getLogger(__name__)
FORMAT_VERSION = 1


def cache_key(teacher, teacher_cfg: TeacherConfig, model_dir: Path, train: str, corpus: str, depth: int,
              precision: str = "fp32") -> str:
    """Hash of the training file, corpus, negatives depth, teacher weights, resolved teacher settings and the
    resolved precision the cache is built in (fp32 keeps the key it had before precisions existed)."""
    weights = weights_fingerprint(model_dir)
    spec = teacher.spec.to_dict() if hasattr(teacher.spec, "to_dict") else asdict(teacher.spec)  # as saved
    settings = {"kind": teacher_cfg.kind, "keep_layers": teacher_cfg.keep_layers, "spec": spec}
    if precision != "fp32":
        settings["precision"] = precision
    blob = json.dumps([FORMAT_VERSION, settings, str(model_dir.resolve()), weights, file_fingerprint(train),
                       corpus_fingerprint(corpus), depth], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class TeacherCache:
    """Read access to a built cache; all lookups return float32 tensors."""

    def __init__(self, directory: Path):
        self.directory = directory
        fix = f"delete {directory} to rebuild the teacher cache"
        self.manifest = read_json(directory / "manifest.json", what="teacher-cache manifest", fix=fix,
                                  fields={"kind": str, "num_layers": int}, required=("kind", "num_layers"))
        self.kind = self.manifest["kind"]
        self.layers = tuple(range(1, self.manifest["num_layers"] + 1))
        if self.kind == "dense":
            self.queries = load_npy(directory / "queries.npy", mmap=True, fix=fix)
            self.passages = load_npy(directory / "passages.npy", mmap=True, fix=fix)
            ids = read_text(directory / "passage_ids.txt").split("\n")
            self.passage_row = {doc_id: i for i, doc_id in enumerate(ids)}
        else:
            self.scores = load_npy(directory / "scores.npy", mmap=True, fix=fix)

    @property
    def scope(self) -> str:
        return "global" if self.kind == "dense" else "own"

    def batch_scores(self, batch: Batch, layers: tuple[int, ...]) -> torch.Tensor:
        """Teacher scores of ``layers`` for a global batch: [L, Q, P] (dense) or [L, Q, 1+n]."""
        cols = [layer - 1 for layer in layers]
        if self.kind == "dense":
            q = torch.from_numpy(np.ascontiguousarray(self.queries[batch.query_index][:, cols]))
            rows = self._passage_rows(batch)
            p = torch.from_numpy(np.ascontiguousarray(self.passages[rows][:, cols]))
            return torch.einsum("qlh,plh->lqp", q.float(), p.float())
        out = np.stack([self.scores[qi, cand][:, cols] for qi, cand in zip(batch.query_index,
                                                                            batch.candidate_index)])
        return torch.from_numpy(out).float().permute(2, 0, 1).contiguous()

    def final_vectors(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The dense teacher's final-layer vectors of a global batch, float32: queries [Q, H] and passages [P, H]
        (a query student's passage side, and the target of its alignment term)."""
        if self.kind != "dense":
            raise LeadIRError(f"{self.directory}: a {self.kind} teacher cache holds scores, not vectors; a query "
                              f"student needs a dense teacher")
        last = len(self.layers) - 1
        q = np.ascontiguousarray(self.queries[batch.query_index, last], dtype=np.float32)
        p = np.ascontiguousarray(self.passages[self._passage_rows(batch), last], dtype=np.float32)
        return torch.from_numpy(q), torch.from_numpy(p)

    def _passage_rows(self, batch: Batch) -> list[int]:
        return [self.passage_row[d] for d in batch.passage_ids]


def open_cache(teacher, teacher_cfg: TeacherConfig, model_dir: Path, groups: list[Group], doc_texts: dict[str, str],
               train: str, corpus: str, depth: int, batch_size: int, is_main: bool = True,
               precision: str = "fp32") -> TeacherCache:
    """Load the cache for this teacher and training file, building it first (on rank 0) if needed.

    ``precision`` is the training's resolved precision (fp32, bf16 or fp16): the teacher runs under the same
    autocast as the student's forward would, and the cached vectors/scores are stored as float32.
    """
    key = cache_key(teacher, teacher_cfg, model_dir, train, corpus, depth, precision)
    directory = Path(teacher_cfg.cache_dir) / key
    if is_main and not (directory / "manifest.json").exists():
        logger.info("building the teacher cache %s (%s)", directory, precision)
        device = next(teacher.parameters()).device
        with autocast(device.type, precision):
            _build(teacher, groups, doc_texts, directory, batch_size,
                   _reusable_layers(teacher, teacher_cfg, model_dir, precision))
    distributed.barrier()
    logger.info("teacher cache: %s", directory)
    return TeacherCache(directory)


def _reusable_layers(teacher, teacher_cfg: TeacherConfig, model_dir: Path, precision: str):
    """``teacher_cfg.passage_layers`` when it holds this teacher's passage vectors as the cache would compute
    them, else None (and why, in the log)."""
    if not teacher_cfg.passage_layers or teacher.kind != "dense":
        return None
    from lead_ir.embed import max_length_for
    from lead_ir.encode import PassageLayers

    layers = PassageLayers(teacher_cfg.passage_layers)
    why = layers.mismatch(weights_fingerprint(model_dir), teacher.spec, max_length_for(teacher, "passage"),
                          precision, teacher.num_layers)
    if why:
        logger.warning("teacher cache: encoding the passages, not copying them from %s (%s)", layers.directory, why)
        return None
    return layers


@torch.inference_mode()
def _build(teacher, groups: list[Group], doc_texts: dict[str, str], directory: Path, batch_size: int,
           passage_layers=None) -> None:
    teacher.eval()
    layers = tuple(range(1, teacher.num_layers + 1))
    with atomic_path(directory, is_dir=True) as tmp:
        if teacher.kind == "dense":
            _build_dense(teacher, groups, doc_texts, layers, tmp, batch_size, passage_layers)
        else:
            _build_scores(teacher, groups, doc_texts, layers, tmp, batch_size)
        write_json(tmp / "manifest.json", {"kind": teacher.kind, "num_layers": len(layers),
                                           "queries": len(groups), "version": FORMAT_VERSION})


def _dense_rows(teacher, texts: list[str], kind: str, layers: tuple[int, ...], out: np.ndarray,
                batch_size: int) -> None:
    """Fill ``out`` [N, L, H] with the teacher's pooled ``layers`` of ``texts`` (the one inference loop)."""
    Embedder(teacher, kind, batch_size=batch_size)(texts, layers=layers, out=out,
                                                   desc=f"teacher cache: {kind} vectors")


def _build_dense(teacher, groups, doc_texts, layers, tmp: Path, batch_size: int, passage_layers=None) -> None:
    ids = list(dict.fromkeys(d for g in groups for d in g.candidates))
    queries = np.lib.format.open_memmap(tmp / "queries.npy", "w+", np.float32, (len(groups), len(layers), teacher.dim))
    _dense_rows(teacher, [g.query for g in groups], "query", layers, queries, batch_size)
    queries.flush()
    passages = np.lib.format.open_memmap(tmp / "passages.npy", "w+", np.float32, (len(ids), len(layers), teacher.dim))
    if passage_layers is None:
        _dense_rows(teacher, [doc_texts[d] for d in ids], "passage", layers, passages, batch_size)
    elif todo := passage_layers.rows(ids, passages):  # ids it lacks (not in the corpus it was encoded from)
        logger.info("teacher cache: %d passages copied from %s, %d to encode", len(ids) - len(todo),
                    passage_layers.directory, len(todo))
        rest = np.empty((len(todo), len(layers), teacher.dim), dtype=np.float32)
        _dense_rows(teacher, [doc_texts[ids[i]] for i in todo], "passage", layers, rest, batch_size)
        passages[todo] = rest
    else:
        logger.info("teacher cache: %d passages copied from %s", len(ids), passage_layers.directory)
    passages.flush()
    (tmp / "passage_ids.txt").write_text("\n".join(ids), encoding="utf-8")


def _build_scores(teacher, groups, doc_texts, layers, tmp: Path, batch_size: int) -> None:
    width = max(len(g.candidates) for g in groups)
    scores = np.lib.format.open_memmap(tmp / "scores.npy", "w+", np.float32, (len(groups), width, len(layers)))
    scores[:] = np.nan
    for qi, group in enumerate(progress(groups, desc="teacher cache: candidate scores", unit="query")):
        cands = group.candidates
        for start in range(0, len(cands), batch_size):
            chunk = [doc_texts[d] for d in cands[start:start + batch_size]]
            values = layer_scores(teacher.layer_reps([group.query], chunk, layers))[:, 0, :]  # [L, chunk]
            scores[qi, start:start + len(chunk)] = values.float().T.cpu().numpy()
    scores.flush()
