"""Atomic outputs: write to a temporary sibling, rename into place when complete.

An interrupted command therefore leaves the previous artifact or none, never a truncated one
that a later stage would read.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from lead_ir.errors import LeadIRError


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    For ``is_dir=True`` the temporary directory is created; an existing ``path`` directory is
    replaced only after the new one is complete. On any exception the temporary is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    if is_dir:
        tmp.mkdir()
    try:
        yield tmp
        if is_dir:
            if path.exists():
                old = _tmp_sibling(path)
                os.rename(path, old)
                os.rename(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, path)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.errno == errno.ENOSPC:
            raise LeadIRError(f"out of disk space while writing {path}; free space on {path.parent} and rerun") from exc
        raise
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: Path) -> None:
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """``open`` a temporary file that replaces ``path`` when the block succeeds."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_open(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")


def read_json(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise LeadIRError(f"{path}: file not found; check the path") from None
    except json.JSONDecodeError as exc:
        raise LeadIRError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def file_fingerprint(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (first 16 hex digits), for manifests and cache keys."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]
