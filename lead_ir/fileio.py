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

from lead_ir.errors import InputFormatError, LeadIRError


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
                _remove(old)
            else:
                os.rename(tmp, path)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise LeadIRError(f"out of disk space while writing {path}; free space on {path.parent} and rerun") from exc
        shown = exc
        if exc.filename is None or os.fsdecode(exc.filename).startswith(str(tmp)):  # name the output, not its temp
            shown = OSError(exc.errno, exc.strerror, str(path))
            if isinstance(exc, (IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError)):
                shown = type(exc)(exc.errno, exc.strerror, str(path))
        raise LeadIRError(os_error_message(shown, path)) from exc
    except BaseException:
        _remove(tmp)
        raise


def os_error_message(exc: OSError, path: str | os.PathLike | None = None) -> str:
    """One line for an operating-system error: the path, what went wrong and what to do."""
    where = exc.filename if exc.filename is not None else path
    where = f"{os.fsdecode(where)}: " if where is not None else ""
    code = exc.errno
    if isinstance(exc, IsADirectoryError):
        return f"{where}is a directory where a file is expected; pass a file path"
    if isinstance(exc, NotADirectoryError):
        return f"{where}a part of this path is a file, not a directory; choose a path whose parent is a folder"
    if isinstance(exc, FileExistsError):
        return f"{where}already exists and is not a directory; remove it or choose another path"
    if isinstance(exc, FileNotFoundError):
        return f"{where}no such file or directory; check the path"
    if code == errno.EROFS:
        return f"{where}the file system is read-only; write the output to a writable location"
    if isinstance(exc, PermissionError):
        return f"{where}permission denied; check the permissions or choose a location you can read/write"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"{where}out of disk space; free space and rerun"
    if code == errno.ENAMETOOLONG:
        return f"{where}file name too long; choose a shorter path"
    return f"{where}{exc.strerror or exc} (errno {code}); check the path and the file system"


def _remove(tmp: Path) -> None:
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):  # best effort: missing, or a read-only file system
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
    if not path.exists():
        raise LeadIRError(f"{path}: file not found; check the path")
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise LeadIRError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise LeadIRError(f"{path}: not valid JSON here (nested too deeply); rebuild or fix the file") from None


# --------------------------------------------------------------------------- text inputs
BOM = b"\xef\xbb\xbf"


def _decode_error(path: Path, data: bytes, exc: UnicodeDecodeError, line_no: int | None = None,
                  line_start: int = 0) -> InputFormatError:
    """An InputFormatError naming the file, line and byte offset of undecodable bytes."""
    offset = line_start + exc.start
    if line_no is None:
        line_no = data.count(b"\n", 0, exc.start) + 1
    bad = data[exc.start:exc.start + 1].hex()
    return InputFormatError(path, line_no, f"not valid UTF-8 (byte 0x{bad} at byte offset {offset})",
                            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)")


class TextReader:
    """A UTF-8 text input read line by line from bytes: a leading byte-order mark is dropped,
    ``\r\n`` becomes ``\n``, and undecodable bytes or a damaged gzip stream raise
    :class:`InputFormatError` naming the file, line and byte offset (never a ``UnicodeDecodeError``)."""

    def __init__(self, path: Path):
        import gzip

        self.path = Path(path)
        self.name = str(path)
        self._gz = self.path.suffix == ".gz"
        self._fh = gzip.open(self.path, "rb") if self._gz else open(self.path, "rb")
        self._line_no = 0
        self._offset = 0

    def __enter__(self) -> TextReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    def _stream_error(self, exc: Exception) -> InputFormatError | None:
        """The one-line error for a damaged gzip stream (None: not one, re-raise ``exc``)."""
        import zlib

        if isinstance(exc, (EOFError, zlib.error)) or (
                self._gz and isinstance(exc, OSError)
                and not isinstance(exc, (PermissionError, IsADirectoryError, FileNotFoundError))):
            return InputFormatError(self.path, self._line_no + 1, f"damaged or truncated gzip stream ({exc})",
                                    "download or compress the file again")
        return None

    def _guard(self, fn):
        try:
            return fn()
        except Exception as exc:
            if (error := self._stream_error(exc)) is not None:
                raise error from None
            raise

    def _decode_line(self, raw: bytes) -> str:
        start = self._offset
        self._line_no += 1
        self._offset += len(raw)
        if self._line_no == 1 and raw.startswith(BOM):
            raw = raw[3:]
            start += 3
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _decode_error(self.path, raw, exc, self._line_no, start) from None
        return text[:-2] + "\n" if text.endswith("\r\n") else text

    def readline(self) -> str:
        raw = self._guard(self._fh.readline)
        return self._decode_line(raw) if raw else ""

    def __iter__(self) -> Iterator[str]:
        # Whole lines in blocks of ~64 KiB, decoded in one call (fast); a block that does not decode is
        # decoded line by line to name the line and byte.
        while True:
            try:
                batch = self._fh.readlines(1 << 16)
            except Exception as exc:
                if (error := self._stream_error(exc)) is not None:
                    raise error from None
                raise
            if not batch:
                return
            block = b"".join(batch)
            start = 0
            if self._line_no == 0 and block.startswith(BOM):
                start = 3
            try:
                text = block[start:].decode("utf-8")
            except UnicodeDecodeError:
                for raw in batch:
                    self._decode_line(raw)  # raises for the first bad line
                raise
            self._line_no += len(batch)
            self._offset += len(block)
            lines = text.replace("\r\n", "\n").split("\n")
            for line in lines[:-1]:
                yield line + "\n"
            if lines[-1]:
                yield lines[-1]

    def read(self) -> str:
        data = self._guard(self._fh.read)
        if self._line_no == 0 and data.startswith(BOM):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _decode_error(self.path, data, exc) from None
        self._line_no += data.count(b"\n")
        return text.replace("\r\n", "\n")


def open_text(path: str | os.PathLike) -> TextReader:
    """Open a (possibly gzipped) UTF-8 text input for streaming; see :class:`TextReader`."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, None, "file not found", "check the path")
    if path.is_dir():
        raise InputFormatError(path, None, "is a directory, expected a file", "pass the path of a file")
    return TextReader(path)


def read_text(path: str | os.PathLike) -> str:
    """The whole of a UTF-8 text file (byte-order mark dropped, CRLF as LF), with one-line errors."""
    with open_text(path) as fh:
        return fh.read()


def load_npy(path: str | os.PathLike, mmap: bool = False):
    """A ``.npy`` array with ``allow_pickle=False`` (object arrays, which unpickle, are refused), one-line errors."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise LeadIRError(f"{path}: missing array file; rebuild the folder that holds it")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc) or "Python objects" in str(exc):
            raise LeadIRError(f"{path}: refused to load an object array (it would be unpickled and could run code); "
                              f"lead_ir reads numeric .npy files only, rebuild it") from None
        raise LeadIRError(f"{path}: damaged .npy file ({' '.join(str(exc).split())[:160]}); rebuild it") from None
    except (EOFError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise LeadIRError(f"{path}: damaged or truncated .npy file ({exc}); rebuild it") from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The full sha256 hex digest of a file's bytes, read in chunks (the one file hash of the package)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_fingerprint(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (first 16 hex digits), for manifests and cache keys."""
    return sha256_file(path)[:16]


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


def weights_fingerprint(model_dir: str | os.PathLike) -> list[list]:
    """The weights files of a checkpoint folder as ``[name, size, mtime_ns]``, sorted: a cheap identity that
    changes when a checkpoint is retrained or replaced in place (the one weights fingerprint of the package)."""
    files = sorted(p for p in Path(model_dir).iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
