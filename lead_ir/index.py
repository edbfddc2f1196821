"""FAISS index folders in Pyserini's layout, plus a manifest of what made them.

An index folder holds exactly what ``pyserini.search.faiss.FaissSearcher`` reads:

- ``index``: a FAISS index (inner product) written by ``faiss.write_index``;
- ``docid``: one document id per line, in vector order;

and ``lead_ir.json`` (model, pooling, normalisation, dim, max length, corpus fingerprint,
count, factory). Folders are written atomically. :func:`check_index` compares the manifest
with a query encoder before a search; :func:`merge_indexes` joins ``--shard i/n`` outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lead_ir.errors import IndexMismatchError, LeadIRError
from lead_ir.fileio import atomic_path, read_json, write_json

logger = logging.getLogger(__name__)

META_FILE = "lead_ir.json"
INDEX_FILE = "index"
DOCID_FILE = "docid"
# Manifest keys that shards of one index must share.
SHARED_KEYS = ("model_dir", "weights_digest", "pooling", "normalize", "dim", "max_length", "passage_prefix",
               "corpus_fingerprint", "precision")
RECONSTRUCT_BLOCK = 65536
TRAIN_SIZE = 200_000  # vectors sampled (seeded) to train IVF/PQ factories when none is given


def _faiss():
    import faiss

    return faiss


def damaged_index_error(index_dir: str | Path, exc: BaseException) -> LeadIRError:
    """The one-line error for a FAISS index file that FAISS cannot read (truncated, corrupt, not an index)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    reason = " ".join(lines[-1].split())[:160] if lines else type(exc).__name__
    return LeadIRError(f"{Path(index_dir) / INDEX_FILE}: damaged or truncated FAISS index ({reason}); "
                       f"re-run `lead-ir encode` (or `lead-ir index merge`) to rebuild {index_dir}")


def read_faiss_index(index_dir: str | Path):
    """``faiss.read_index`` of ``index_dir/index`` with a one-line error for a damaged file."""
    path = Path(index_dir) / INDEX_FILE
    if not path.is_file():
        raise LeadIRError(f"{index_dir}: no FAISS 'index' file; build one with `lead-ir encode`")
    try:
        return _faiss().read_index(str(path))
    except (RuntimeError, MemoryError) as exc:
        raise damaged_index_error(index_dir, exc) from None


def make_index(dim: int, factory: str):
    """An empty inner-product index from a FAISS ``index_factory`` string."""
    faiss = _faiss()
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown"
        raise LeadIRError(f"--factory {factory!r}: FAISS cannot build this index for dim {dim} ({reason}); "
                          f"try 'Flat', 'HNSW32' or 'IVF1024,PQ{max(1, dim // 8)}'") from None


class VectorSource:
    """Vectors in blocks, with random access for training samples (chunk folders or shard indexes)."""

    def __init__(self, blocks: list[tuple[callable, callable, int]]):
        # each block: (ids() -> list[str], vectors() -> array [n, d], n)
        self._blocks = blocks
        self.count = sum(n for _, _, n in blocks)

    @classmethod
    def from_chunks(cls, store) -> VectorSource:
        blocks = []
        for number in store.chunks():
            n = len(store.ids(number))
            blocks.append((lambda c=number: store.ids(c), lambda c=number: store.vectors(c), n))
        return cls(blocks)

    @classmethod
    def from_flat_indexes(cls, directories: list[Path]) -> VectorSource:
        faiss = _faiss()
        blocks = []
        for directory in directories:
            index = read_faiss_index(directory)
            if not isinstance(faiss.downcast_index(index), faiss.IndexFlat):
                raise LeadIRError(f"{directory}: shard index is not Flat; encode shards with --factory Flat and "
                                  f"pick the final factory at `lead-ir index merge --factory`")
            ids = read_docids(directory)
            for start in range(0, index.ntotal, RECONSTRUCT_BLOCK):
                n = min(RECONSTRUCT_BLOCK, index.ntotal - start)
                blocks.append((lambda s=start, n=n, ids=ids: ids[s:s + n],
                               lambda s=start, n=n, index=index: index.reconstruct_n(s, n), n))
        return cls(blocks)

    def __iter__(self) -> Iterator[tuple[list[str], np.ndarray]]:
        for ids, vectors, _ in self._blocks:
            yield ids(), vectors()

    def sample(self, size: int, seed: int) -> np.ndarray:
        """``size`` rows picked uniformly without replacement (seeded), in storage order."""
        picks = np.sort(np.random.default_rng(seed).choice(self.count, size=min(size, self.count), replace=False))
        parts, offset = [], 0
        for _, vectors, n in self._blocks:
            local = picks[(picks >= offset) & (picks < offset + n)] - offset
            if len(local):
                parts.append(np.asarray(vectors()[local], dtype=np.float32))
            offset += n
        return np.concatenate(parts)


def fill_index(index, source: VectorSource, docid_path: Path, train_size: int, seed: int) -> None:
    """Train ``index`` on a sample when it needs training, then add every vector and write the docids."""
    if not index.is_trained:
        sample = source.sample(train_size, seed)
        logger.info("training the index on %d sampled vectors", len(sample))
        try:
            index.train(np.ascontiguousarray(sample))
        except RuntimeError as exc:
            raise LeadIRError(f"FAISS could not train the index on {len(sample)} vectors "
                              f"({str(exc).strip().splitlines()[-1]}); use a smaller IVF/PQ or more data") from None
    with open(docid_path, "w", encoding="utf-8") as fh:
        for ids, vectors in source:
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            fh.write("".join(f"{doc_id}\n" for doc_id in ids))


def write_index_dir(index_dir: Path, source: VectorSource, meta: dict, factory: str, train_size: int | None,
                    seed: int) -> dict:
    """Build the index of ``source`` and write the folder atomically; returns the final manifest.

    ``train_size`` None: :data:`TRAIN_SIZE` (the one home of that default).
    """
    from lead_ir import __version__

    train_size = TRAIN_SIZE if train_size is None else train_size
    faiss = _faiss()
    index = make_index(int(meta["dim"]), factory)
    with atomic_path(index_dir, is_dir=True) as tmp:
        fill_index(index, source, tmp / DOCID_FILE, train_size, seed)
        faiss.write_index(index, str(tmp / INDEX_FILE))
        meta = {**meta, "count": int(index.ntotal), "factory": factory, "metric": "inner_product",
                "train_size": min(train_size, source.count) if "IVF" in factory or "PQ" in factory else 0,
                "seed": seed, "lead_ir_version": __version__}
        write_json(tmp / META_FILE, meta)
    logger.info("wrote %s: %d vectors, %s", index_dir, meta["count"], factory)
    return meta


def build_index_dir(index_dir: Path, store, meta: dict, factory: str = "Flat", train_size: int | None = None,
                    seed: int = 0) -> dict:
    """The index folder for the embedding chunks of ``store`` (see :mod:`lead_ir.encode`)."""
    return write_index_dir(Path(index_dir), VectorSource.from_chunks(store), meta, factory, train_size, seed)


def read_docids(index_dir: Path) -> list[str]:
    path = Path(index_dir) / DOCID_FILE
    if not path.is_file():
        raise LeadIRError(f"{index_dir}: no 'docid' file; is this a FAISS index folder made by `lead-ir encode`?")
    from lead_ir.fileio import read_text

    return [line.rstrip() for line in read_text(path).splitlines()]


def index_vectors(index_dir: str | Path, doc_ids: list[str], what: str = "the documents") -> np.ndarray:
    """The vectors an index holds for ``doc_ids``, in that order, float32 [len(doc_ids), dim].

    Flat and HNSW indexes give the stored vectors; an IVF index gets a direct map first; a compressed (PQ)
    index gives its reconstructions, the vectors its own search scores against.
    """
    faiss = _faiss()
    index = read_faiss_index(index_dir)
    row = {doc_id: i for i, doc_id in enumerate(read_docids(Path(index_dir)))}
    missing = [d for d in doc_ids if d not in row]
    if missing:
        raise LeadIRError(f"{index_dir}: {len(missing)} of {len(doc_ids)} ids of {what} are not in the index (e.g. "
                          f"{missing[0]}); use an index of the same corpus")
    keys = np.fromiter((row[d] for d in doc_ids), dtype=np.int64, count=len(doc_ids))
    try:
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None:
            ivf.make_direct_map()
        return np.asarray(index.reconstruct_batch(keys), dtype=np.float32)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())[-160:]
        raise LeadIRError(f"{index_dir}: FAISS cannot give back the stored vectors of this index ({reason}); "
                          f"use a Flat index (`lead-ir encode --factory Flat`)") from None


# lead_ir.json: the entries read back (search, merge, corpus checks), with their JSON types
META_FIELDS = {"dim": int, "count": int, "pooling": str, "normalize": bool, "shard": str, "corpus_fingerprint": str,
               "precision": str, "model": str, "model_dir": str, "factory": str, "weights_digest": str,
               "passage_prefix": str}


def load_meta(index_dir: str | Path) -> dict | None:
    """The ``lead_ir.json`` manifest, or None for folders made by other tools (e.g. Pyserini); a damaged one
    is one line naming it."""
    path = Path(index_dir) / META_FILE
    if not path.exists():
        return None
    return read_json(path, what="index manifest", fix=f"re-run `lead-ir encode` to rebuild {path.parent}",
                     fields=META_FIELDS, required=("dim", "count"))


def check_index(index_dir: str | Path, spec, dim: int) -> dict | None:
    """Check an index folder against a query encoder's spec and dim before searching it.

    A query student (``spec.tower == "query"``) is checked against its recorded passage space instead: the
    index must hold its teacher's passages (:func:`lead_ir.models.space.check_index_space`).

    Raises:
        IndexMismatchError: dim, pooling or normalisation differ, the index is of another passage space than a
            query student's, or the docid count is not the vector count.
    """
    index_dir = Path(index_dir)
    if not (index_dir / INDEX_FILE).is_file():
        raise LeadIRError(f"{index_dir}: no FAISS 'index' file; build one with `lead-ir encode`")
    meta = load_meta(index_dir)
    if meta is None:
        logger.warning("%s has no %s; cannot check pooling/normalisation against the query encoder", index_dir,
                       META_FILE)
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("dim"), int) or not isinstance(meta.get("count"), int):
        raise IndexMismatchError(f"{index_dir}: damaged {META_FILE} (no integer dim and count); re-run "
                                 f"`lead-ir encode` to rebuild the folder")
    query_student = getattr(spec, "tower", "both") == "query"
    if query_student:  # the student pools its own way; the index must hold its teacher's passages
        from lead_ir.models.space import check_index_space

        check_index_space(index_dir, meta, spec.passage_space)
    if int(meta["dim"]) != dim:
        raise IndexMismatchError(f"{index_dir}: index vectors have dim {meta['dim']} but the query encoder gives "
                                 f"{dim}; search with the model that encoded the corpus ({meta.get('model')})")
    if not query_student:
        for key, ours in (("pooling", spec.pooling), ("normalize", spec.normalize)):
            if meta.get(key) != ours:
                raise IndexMismatchError(f"{index_dir}: index was encoded with {key}={meta.get(key)} but the query "
                                         f"encoder uses {key}={ours}; use the same checkpoint for corpus and queries")
    with open(index_dir / DOCID_FILE, "rb") as fh:
        lines = sum(1 for _ in fh)
    if lines != int(meta["count"]):
        raise IndexMismatchError(f"{index_dir}: docid has {lines} lines but the index holds {meta['count']} "
                                 f"vectors; the folder is damaged, re-run `lead-ir encode`")
    return meta


def merge_indexes(inputs: list[str | Path], output: str | Path, factory: str = "Flat", train_size: int | None = None,
                  seed: int = 0) -> dict:
    """Join the Flat indexes of ``lead-ir encode --shard i/n`` runs into one index (shard order)."""
    dirs = [Path(p) for p in inputs]
    metas = []
    for directory in dirs:
        meta = load_meta(directory)
        if meta is None:
            raise LeadIRError(f"{directory}: no {META_FILE}; only `lead-ir encode` shards can be merged")
        metas.append(meta)
    first = metas[0]
    for directory, meta in zip(dirs[1:], metas[1:]):
        for key in SHARED_KEYS:
            if meta.get(key) != first.get(key):
                raise IndexMismatchError(f"{directory}: {key}={meta.get(key)!r} differs from {dirs[0]} "
                                         f"({first.get(key)!r}); shards must come from one model and corpus")
    shards = sorted((tuple(int(x) for x in m["shard"].split("/")), d) for m, d in zip(metas, dirs))
    n = shards[0][0][1]
    found = [i for (i, total), _ in shards if total == n]
    if found != list(range(n)) or len(shards) != n:
        raise LeadIRError(f"shards {[m['shard'] for m in metas]} do not cover 0/{n}..{n - 1}/{n} exactly once")
    source = VectorSource.from_flat_indexes([d for _, d in shards])
    meta = {k: v for k, v in first.items() if k not in ("count", "factory", "metric", "train_size", "seed")}
    meta["shard"] = f"merged {n}"
    return write_index_dir(Path(output), source, meta, factory, train_size, seed)


def check_corpus(index_dir: str | Path, corpus: str) -> None:
    """Raise when ``index_dir`` was encoded from another corpus than ``corpus`` (by fingerprint)."""
    from lead_ir.data.collections import corpus_fingerprint

    meta = load_meta(index_dir)
    if meta is None or "corpus_fingerprint" not in meta:
        raise IndexMismatchError(f"{index_dir}: no {META_FILE} with a corpus fingerprint; cannot check it against "
                                 f"{corpus}; re-encode with `lead-ir encode`")
    expected = corpus_fingerprint(corpus)
    if meta["corpus_fingerprint"] != expected:
        raise IndexMismatchError(f"{index_dir}: built from a different corpus ({meta.get('corpus')}, fingerprint "
                                 f"{meta['corpus_fingerprint']}) than {corpus} ({expected}); re-encode that corpus")
