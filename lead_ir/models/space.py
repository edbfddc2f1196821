"""The passage space a query student belongs to, and the check of an index against it.

A query student (``student.tower: query``, an asymmetric dual encoder) encodes queries only; at
search time its vectors meet the passage vectors its teacher wrote into an index with
``lead-ir encode --model TEACHER``. The student's checkpoint records that space
(:class:`PassageSpace`, inside ``lead_ir_encoder.json``): the teacher's weights digest, width,
pooling, normalisation and passage prefix. Every index records the weights digest of the model that
encoded it (``lead_ir.json``), so a query student searching another model's index is one
:class:`~lead_ir.errors.IndexMismatchError` line rather than a silently wrong run.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, fields
from pathlib import Path

from lead_ir.errors import IndexMismatchError, LeadIRError
from lead_ir.fileio import WEIGHT_SUFFIXES, sha256_file

logger = logging.getLogger(__name__)


def weights_digest(model_dir: str | Path) -> str:
    """sha256 (first 16 hex digits) of a checkpoint folder's weight files, by name and content.

    Unlike :func:`lead_ir.fileio.weights_fingerprint` (name, size, mtime: a cheap cache key) it survives a
    copy of the folder, so an index and a query student agree on their teacher wherever it was copied to.
    Reads every weight file once (about a second for a 440 MB model).
    """
    folder = Path(model_dir)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise LeadIRError(f"{folder}: no weight files ({', '.join(WEIGHT_SUFFIXES)}) to fingerprint; is this a model "
                          f"directory?")
    h = hashlib.sha256()
    for path in files:
        h.update(f"{path.name}\0{sha256_file(path)}\n".encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class PassageSpace:
    """Whose passage vectors a query student's queries are scored against.

    Attributes:
        weights: :func:`weights_digest` of the teacher's folder (what an index's ``weights_digest`` must equal).
        dim: width of the teacher's vectors (the student's query vectors, after any projection).
        pooling / normalize / passage_prefix: how the teacher encodes passages (the index records them too).
        model: the teacher as the training config named it; model_dir: its resolved folder (both informational).
    """

    weights: str
    dim: int
    pooling: str
    normalize: bool
    passage_prefix: str = ""
    model: str = ""
    model_dir: str = ""

    @classmethod
    def of_teacher(cls, teacher, model: str, model_dir: str | Path) -> PassageSpace:
        """The space of a dense ``teacher`` (a :class:`~lead_ir.models.encoder.DenseEncoder`) from ``model_dir``."""
        spec = teacher.spec
        return cls(weights_digest(model_dir), int(teacher.dim), spec.pooling, bool(spec.normalize),
                   spec.passage_prefix, str(model), str(Path(model_dir).resolve()))

    @classmethod
    def from_json(cls, data: object) -> PassageSpace:
        """The space stored in a spec file; a wrong shape is a :class:`LeadIRError` (the reader names the file)."""
        types = {"weights": str, "dim": int, "pooling": str, "normalize": bool, "passage_prefix": str, "model": str,
                 "model_dir": str}
        names = {str: "a string", int: "an integer", bool: "true or false"}
        if not isinstance(data, dict) or not {"weights", "dim", "pooling", "normalize"} <= set(data):
            raise LeadIRError("passage_space should be an object with weights, dim, pooling and normalize")
        for key, kind in types.items():
            value = data.get(key)
            if key in data and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
                raise LeadIRError(f"passage_space.{key} should be {names[kind]}, found {value!r}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def same_space(self, other: PassageSpace) -> bool:
        """Whether ``other`` is the same passage space (equal weights and encoding; names and folders may differ)."""
        key = lambda s: (s.weights, s.dim, s.pooling, s.normalize, s.passage_prefix)  # noqa: E731
        return key(self) == key(other)

    def describe(self) -> str:
        return f"{self.model or self.model_dir} (weights {self.weights}, dim {self.dim}, {self.pooling} pooling" \
               f"{', normalised' if self.normalize else ''})"


def check_index_space(index_dir: str | Path, meta: dict, space: PassageSpace) -> None:
    """Refuse an index whose passages were not encoded in ``space`` (a query student's teacher).

    The index's ``weights_digest`` must equal the space's; an index written before lead_ir recorded it is
    accepted only when it names the same teacher folder (with a warning). Pooling, normalisation and the
    passage prefix must match what the teacher uses.

    Raises:
        IndexMismatchError: one line naming the index's model, the student's teacher and the fix.
    """
    teacher = space.model or space.model_dir
    fix = f"search an index of {teacher} (`lead-ir encode --model {teacher}`)"
    digest = meta.get("weights_digest")
    if digest is None:
        if meta.get("model_dir") != space.model_dir:
            raise IndexMismatchError(f"{index_dir}: the query student belongs to the passage space of "
                                     f"{space.describe()}, but the index was encoded by {meta.get('model')} and "
                                     f"records no weights digest to compare; {fix}")
        logger.warning("%s records no weights digest (encoded before lead_ir recorded one); it names the query "
                       "student's teacher folder %s, whose weights cannot be checked", index_dir, space.model_dir)
    elif digest != space.weights:
        raise IndexMismatchError(f"{index_dir}: the index was encoded by {meta.get('model')} (weights {digest}), but "
                                 f"the query student belongs to the passage space of {space.describe()}; {fix}")
    for key, ours in (("pooling", space.pooling), ("normalize", space.normalize),
                      ("passage_prefix", space.passage_prefix)):
        if key in meta and meta[key] != ours:
            raise IndexMismatchError(f"{index_dir}: passages were encoded with {key}={meta[key]!r}, but the query "
                                     f"student's teacher uses {key}={ours!r}; {fix}")
