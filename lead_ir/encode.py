"""Corpus encoding: stream documents -> float32 embedding chunks on disk -> a Pyserini FAISS index.

The corpus is read as a stream in chunks of ``chunk_size`` documents. Each chunk is embedded by
the one inference loop, :class:`lead_ir.embed.Embedder` (tokenised once, sorted by token length so
a batch pads to near its own length, ``torch.inference_mode``) and written, back in corpus order,
as ``chunk-NNNNNN.npy`` (float32) plus ``chunk-NNNNNN.ids``, atomically, in a work folder beside
the index (``.DIR.partial``). A rerun with the same settings resumes after the last finished
chunk, so a killed run ends with the same bytes as an uninterrupted one. Memory holds one chunk of
texts and one batch of activations; only the FAISS index itself grows with the corpus.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from lead_ir.errors import IndexMismatchError, LeadIRError
from lead_ir.fileio import atomic_open, atomic_path, read_json, weights_fingerprint, write_json
from lead_ir.precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from lead_ir.records import Doc

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"


@dataclass
class EncodeOptions:
    """How ``lead-ir encode`` embeds a corpus (everything that changes the output bytes)."""

    batch_size: int = 64
    max_length: int | None = None  # None: the checkpoint's passage_max_len (capped: embed.max_length_for)
    # None: fp32, the same vectors on every machine; auto: bf16 autocast on a GPU or a CPU with
    # AVX512-BF16/AMX, fp32 elsewhere (lead_ir.precision); fp16: half-precision weights, GPU only.
    # Vectors are float32 whatever the precision.
    precision: str | None = None
    fp16: bool = False  # alias of precision="fp16"
    bf16: bool = False  # alias of precision="bf16"
    chunk_size: int = 16384  # documents per sorted window and per file on disk
    # Also keep every layer's pooled vectors ([n, L, H] chunks; the index gets the final layer): a frozen teacher's
    # cache copies its passages from them instead of encoding the corpus again (lead_ir.training.cache).
    all_layers: bool = False
    shard: tuple[int, int] = (0, 1)  # (i, n): encode documents whose position % n == i
    device: str | None = None  # None: cuda when available, else cpu

    def __post_init__(self) -> None:
        i, n = self.shard
        if not (n >= 1 and 0 <= i < n):
            raise LeadIRError(f"shard {i}/{n} is invalid; use i/n with 0 <= i < n, e.g. 0/4")
        if self.fp16 and self.bf16:
            raise LeadIRError("--fp16 and --bf16 exclude each other; pick one")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise LeadIRError(f"precision {self.precision!r} is unknown; choose one of {', '.join(PRECISIONS)}")
        alias = "fp16" if self.fp16 else "bf16" if self.bf16 else None
        if alias and self.precision not in (None, alias):
            raise LeadIRError(f"--{alias} contradicts --precision {self.precision}; give one of them")
        self.precision = alias or self.precision or DEFAULT_PRECISION
        if self.batch_size < 1 or self.chunk_size < 1:
            raise LeadIRError("batch size and chunk size must be positive")

    def resolve(self) -> tuple[str, str]:
        """(device, precision) of this run: ``device`` None -> cuda when available, ``auto`` -> per device."""
        device = self.device or ("cuda" if _cuda_available() else "cpu")
        check_device(device)
        if self.precision == "fp16" and not device.startswith("cuda"):
            raise LeadIRError("--fp16 needs a GPU (CUDA); drop --fp16 on CPU")
        return device, resolve_precision(self.precision, device.split(":")[0])


def check_device(device: str) -> None:
    """Refuse a device torch cannot use here (a typo, or CUDA on a machine without a GPU) with one line."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise LeadIRError(f"--device {device!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if _cuda_available() else 0
        if parsed.index is not None and parsed.index >= count or not count:
            raise LeadIRError(f"--device {device}: this machine has {count} CUDA GPU(s); use --device cpu or "
                              f"an existing GPU")
    elif parsed.type not in ("cpu", "mps"):
        raise LeadIRError(f"--device {device!r}: lead_ir runs on cpu or cuda; use one of them")


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n)."""
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise LeadIRError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
    EncodeOptions(shard=(i, n))
    return i, n


def shard_docs(docs: Iterator[Doc], shard: tuple[int, int]) -> Iterator[Doc]:
    """Documents whose stream position is ``i`` modulo ``n``."""
    i, n = shard
    return docs if n == 1 else islice(docs, i, None, n)


def work_dir_for(index_dir: Path) -> Path:
    """The resumable work folder of ``index_dir`` (a hidden sibling)."""
    return index_dir.parent / f".{index_dir.name}.partial"


class ChunkStore:
    """Finished embedding chunks of one encode run, in a folder tied to the run's settings (``state.json``).

    The folder appears with its first finished chunk, never before: a run refused before then (an empty
    corpus, a bad option, a damaged file) leaves the disk as it found it. A folder left by an attempt
    with other settings counts as empty and is replaced, likewise, only by a first finished chunk.
    """

    def __init__(self, directory: Path, signature: dict):
        self.directory = directory
        self.signature = signature
        state = directory / STATE_FILE
        self._stale = directory.exists() and (not state.exists() or read_json(state) != signature)

    def _paths(self, number: int, directory: Path | None = None) -> tuple[Path, Path]:
        stem = (directory or self.directory) / f"chunk-{number:06d}"
        return stem.with_suffix(".npy"), stem.with_suffix(".ids")

    def finished(self) -> int:
        """How many chunks, counted from 0 without a gap, are complete."""
        if self._stale:
            return 0
        count = 0
        while all(p.exists() for p in self._paths(count)):
            count += 1
        return count

    def write(self, number: int, ids: list[str], vectors: np.ndarray) -> None:
        if self.directory.is_dir() and not self._stale:
            self._write(self.directory, number, ids, vectors)
            return
        if self._stale:
            logger.info("settings changed since the last attempt; replacing %s", self.directory)
        with atomic_path(self.directory, is_dir=True) as tmp:  # the folder appears holding its first chunk
            write_json(tmp / STATE_FILE, self.signature)
            self._write(tmp, number, ids, vectors)
        self._stale = False

    def _write(self, directory: Path, number: int, ids: list[str], vectors: np.ndarray) -> None:
        npy, ids_path = self._paths(number, directory)
        with atomic_open(npy, "wb") as fh:
            np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32))
        with atomic_open(ids_path) as fh:  # written last: its presence marks the chunk finished
            fh.write("".join(f"{doc_id}\n" for doc_id in ids))

    def ids(self, number: int) -> list[str]:
        return self._paths(number)[1].read_text(encoding="utf-8").splitlines()

    def vectors(self, number: int, mmap: bool = True) -> np.ndarray:
        """A chunk's embeddings [n, H]: of a chunk holding every layer ([n, L, H]), the final layer's."""
        vectors = self.layer_vectors(number, mmap)
        return vectors[:, -1] if vectors.ndim == 3 else vectors

    def layer_vectors(self, number: int, mmap: bool = True) -> np.ndarray:
        """A chunk as written: [n, H], or [n, L, H] when it was encoded with ``all_layers``."""
        from lead_ir.fileio import load_npy

        return load_npy(self._paths(number)[0], mmap=mmap)

    def chunks(self) -> list[int]:
        return list(range(self.finished()))

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def check_doc_id(doc_id: str) -> str:
    if not doc_id or any(ch.isspace() for ch in doc_id):
        raise LeadIRError(f"document id {doc_id!r} is empty or holds whitespace; Pyserini's docid file and TREC "
                          f"runs need one word per id")
    return doc_id


def corpus_embedder(encoder, options: EncodeOptions):
    """The :class:`~lead_ir.embed.Embedder` of ``lead-ir encode``: passages on ``options``' device and precision.

    Moves ``encoder`` to the resolved device (fp16: half-precision weights) and sorts by length
    within each chunk of ``options.chunk_size`` documents.
    """
    from lead_ir.embed import Embedder

    device, precision = options.resolve()
    encoder.eval().to(device)
    if precision == "fp16":
        encoder.half()
    return Embedder(encoder, "passage", batch_size=options.batch_size, max_length=options.max_length,
                    precision=precision, window=options.chunk_size)


def encode_signature(model_dir: Path, spec, options: EncodeOptions, corpus: str, fingerprint: str,
                     max_length: int) -> dict:
    """Everything that determines the chunk bytes; a resume needs an equal signature."""
    opts = asdict(options)
    opts["precision"] = options.resolve()[1]  # what auto became on this machine
    opts["fp16"], opts["bf16"] = opts["precision"] == "fp16", opts["precision"] == "bf16"
    opts.pop("device")
    opts["shard"] = list(opts["shard"])
    if not opts["all_layers"]:  # an index-only run keeps the signature it had before all_layers existed
        opts.pop("all_layers")
    opts["max_length"] = max_length
    return {"model": str(model_dir.resolve()), "weights": weights_fingerprint(model_dir),
            "spec": asdict(spec), "options": opts, "corpus": corpus, "corpus_fingerprint": fingerprint}


def encode_chunks(encoder, docs: Iterator[Doc], store: ChunkStore, options: EncodeOptions,
                  total: int | None = None, stats: dict | None = None) -> int:
    """Embed ``docs`` into ``store`` chunk by chunk, resuming after its finished chunks; returns the doc count.

    ``stats``, when given, receives ``encoded`` (documents embedded by this call, not resumed),
    ``encode_seconds`` (their wall time, reading and tokenising included) and ``precision``.
    """
    import time

    from lead_ir.log import progress_bar

    embedder = corpus_embedder(encoder, options)
    layers = list(range(1, encoder.num_layers + 1)) if options.all_layers else None
    docs = iter(docs)
    done = store.finished()
    count = 0
    for number in range(done):  # skip what an earlier attempt finished, checking it is the same corpus
        expected = store.ids(number)
        got = [d.doc_id for d in islice(docs, len(expected))]
        if got != expected:
            raise IndexMismatchError(f"{store.directory}: chunk {number} was made from different documents; "
                                     f"delete that folder to start over")
        count += len(expected)
    if done:
        logger.info("resuming after %d finished chunk(s) (%d documents)", done, count)
    bar = progress_bar(total, desc="encode", unit="doc", initial=count)
    number, resumed, start = done, count, time.perf_counter()
    while chunk := list(islice(docs, options.chunk_size)):
        ids = [check_doc_id(d.doc_id) for d in chunk]
        vectors = embedder([d.text for d in chunk], layers=layers, on_batch=bar.update)
        store.write(number, ids, vectors)
        count += len(chunk)
        number += 1
    bar.close()
    if stats is not None:
        stats.update(encoded=count - resumed, encode_seconds=round(time.perf_counter() - start, 3),
                     precision=embedder.precision)
    logger.info("[finished] encode: %d documents in %d chunk(s)", count, number)
    return count


def encode_corpus(model: str, corpus: str, index_dir: str | Path, options: EncodeOptions | None = None,
                  factory: str = "Flat", train_size: int | None = None, seed: int = 0,
                  keep_chunks: bool = False, layers_dir: str | Path | None = None) -> dict:
    """Encode ``corpus`` with ``model`` into a Pyserini FAISS index at ``index_dir``; returns its metadata.

    Args:
        model: checkpoint directory or name (see :func:`lead_ir.resolve.resolve_model`).
        corpus: a corpus spec (see :func:`lead_ir.data.collections.iter_corpus`).
        index_dir: output folder; gets ``index``, ``docid`` and ``lead_ir.json``, atomically.
        options: batching, max length, precision, chunking and sharding.
        factory: a FAISS ``index_factory`` string (inner product), e.g. ``Flat``, ``HNSW32``, ``IVF4096,PQ64``.
        train_size: vectors sampled (seeded) to train IVF/PQ factories (None: :data:`lead_ir.index.TRAIN_SIZE`).
        seed: seed of that sample.
        keep_chunks: keep the float32 chunk folder after the index is written.
        layers_dir: with ``options.all_layers``, where the chunks of every layer's vectors are moved once the
            index is written (a :class:`PassageLayers` folder a teacher cache can copy from).
    """
    from lead_ir.data.collections import corpus_count, corpus_fingerprint, iter_corpus
    from lead_ir.embed import max_length_for, require_passage_encoder
    from lead_ir.index import build_index_dir, make_index
    from lead_ir.models.encoder import DenseEncoder
    from lead_ir.models.space import weights_digest
    from lead_ir.resolve import resolve_model

    options = options or EncodeOptions()
    index_dir = Path(index_dir)
    model_dir = resolve_model(model)
    encoder = DenseEncoder.from_pretrained(model_dir)
    require_passage_encoder(encoder, model)  # a query student: encode with its teacher
    max_length = max_length_for(encoder, "passage", options.max_length)  # what the embedder will use
    make_index(encoder.dim, factory)  # a --factory FAISS cannot build is refused before any encoding
    fingerprint = corpus_fingerprint(corpus)
    store = ChunkStore(work_dir_for(index_dir), encode_signature(model_dir, encoder.spec, options, corpus,
                                                                 fingerprint, max_length))
    total = corpus_count(corpus)
    if total is not None and options.shard[1] > 1:
        total = len(range(options.shard[0], total, options.shard[1]))
    stats: dict = {}
    count = encode_chunks(encoder, shard_docs(iter_corpus(corpus), options.shard), store, options, total, stats)
    if count == 0:
        raise LeadIRError(f"{corpus}: no documents to encode" + (f" in shard {options.shard[0]}/{options.shard[1]}"
                                                                 if options.shard[1] > 1 else ""))
    # weights_digest: the passage space, which a query student's recorded teacher must match (lead_ir.models.space)
    meta = {"model": str(model), "model_dir": str(model_dir.resolve()), "weights_digest": weights_digest(model_dir),
            "pooling": encoder.spec.pooling,
            "normalize": encoder.spec.normalize, "dim": encoder.dim, "max_length": max_length,
            "passage_prefix": encoder.spec.passage_prefix, "query_prefix": encoder.spec.query_prefix,
            "query_max_len": encoder.spec.query_max_len, "corpus": corpus, "corpus_fingerprint": fingerprint,
            "shard": f"{options.shard[0]}/{options.shard[1]}", "precision": stats["precision"],
            "fp16": stats["precision"] == "fp16", "bf16": stats["precision"] == "bf16"}
    meta = build_index_dir(index_dir, store, meta, factory=factory, train_size=train_size, seed=seed)
    if options.all_layers and layers_dir is not None:
        layers_dir = Path(layers_dir)
        shutil.rmtree(layers_dir, ignore_errors=True)
        store.directory.rename(layers_dir)  # the same file system: the folder appears whole
    elif not keep_chunks:
        store.remove()
    # Timing is returned, not written into lead_ir.json, so that the index bytes stay reproducible.
    seconds = stats["encode_seconds"]
    return meta | {"encoded": stats["encoded"], "encode_seconds": seconds,
                   "docs_per_s": round(stats["encoded"] / seconds, 2) if stats["encoded"] and seconds > 0 else None}


class PassageLayers:
    """Every layer's pooled passage vectors of a corpus, as ``encode_corpus(all_layers, layers_dir)`` left them:
    the chunk folder and the signature it was encoded under (model weights, spec, length, precision)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        fix = f"re-encode with all_layers, or drop {directory}"
        self.signature = read_json(self.directory / STATE_FILE, what="passage layers signature", fix=fix,
                                   fields={"weights": list, "spec": dict, "options": dict},
                                   required=("weights", "spec", "options"))
        self.store = ChunkStore(self.directory, self.signature)
        if not self.signature["options"].get("all_layers"):
            raise LeadIRError(f"{directory}: its chunks hold final vectors only, not every layer; {fix}")

    def mismatch(self, weights: list, spec, max_length: int, precision: str, num_layers: int) -> str | None:
        """Why these vectors are not the ones a teacher with these settings gives (None: they are)."""
        options = self.signature["options"]
        saved, wanted = self.signature["spec"], asdict(spec)
        checks = [("weights", self.signature["weights"], weights), ("passage length", options.get("max_length"),
                                                                     max_length),
                  ("precision", options.get("precision"), precision)] + [
            (name, saved.get(name), wanted.get(name)) for name in ("pooling", "normalize", "passage_prefix")]
        for what, have, want in checks:
            if have != want:
                return f"{what} {have!r} here, {want!r} wanted"
        first = self.store.layer_vectors(0) if self.store.finished() else None
        if first is None or first.ndim != 3 or first.shape[1] != num_layers:
            return f"{num_layers} layers wanted, the chunks hold {None if first is None else first.shape[1:-1]}"
        return None

    def rows(self, doc_ids: list[str], out: np.ndarray) -> list[int]:
        """Fill ``out[i]`` [L, H] with the layers of ``doc_ids[i]``; returns the positions of ids it lacks."""
        wanted: dict[str, list[int]] = {}
        for i, doc_id in enumerate(doc_ids):
            wanted.setdefault(doc_id, []).append(i)
        for number in self.store.chunks():
            vectors = self.store.layer_vectors(number)
            for row, doc_id in enumerate(self.store.ids(number)):
                for i in wanted.pop(doc_id, ()):
                    out[i] = vectors[row]
        return sorted(i for positions in wanted.values() for i in positions)


def describe(meta: dict) -> str:
    return json.dumps({k: meta[k] for k in ("count", "dim", "factory", "pooling", "normalize") if k in meta})
