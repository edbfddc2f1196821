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


def _missing(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else wrote there) or gone: leave the rest
            break


@contextlib.contextmanager
def made_parents(path: str | os.PathLike) -> Iterator[Path]:
    """Create the missing folders above ``path`` for the block; if the block fails, remove those it created
    (when still empty), so a refused command leaves the disk as it found it. Yields ``path``'s parent."""
    parent = Path(path).parent
    missing = _missing(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        yield parent
    except BaseException:
        _remove_empty(missing)
        raise


@contextlib.contextmanager
def new_folder(folder: str | os.PathLike, enabled: bool = True) -> Iterator[Path]:
    """For a block that may create the output folder ``folder`` (e.g. files derived from checked inputs) and
    then refuse: when ``folder`` did not exist before the block, a failure removes it, with what the block
    wrote in it, and the parent folders made for it. ``enabled`` False: a no-op (e.g. on non-main ranks)."""
    folder = Path(folder)
    missing = _missing(folder) if enabled else []
    try:
        yield folder
    except BaseException:
        if missing:
            shutil.rmtree(folder, ignore_errors=True)
            _remove_empty(missing[1:])
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    For ``is_dir=True`` the temporary directory is created; an existing ``path`` directory is
    replaced only after the new one is complete. On any exception the temporary is removed, and so
    are the parent folders this call created (:func:`made_parents`).
    """
    path = Path(path)
    with made_parents(path), _atomic_path(path, is_dir) as tmp:
        yield tmp


@contextlib.contextmanager
def _atomic_path(path: Path, is_dir: bool) -> Iterator[Path]:
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


# --------------------------------------------------------------------------- checked readers of artifacts
# Every file the toolkit reads back (JSON sidecars and manifests, YAML, .npy arrays, weights and checkpoints)
# is read by one of the readers below: a missing, damaged or truncated file is one LeadIRError line naming the
# file and what to do, never a traceback; nothing read can run code (no pickles, no YAML tags).

def default_fix(path: str | os.PathLike) -> str:
    """The advice for a damaged file that names no better one: re-create it, or delete its folder."""
    return f"re-create it, or delete {Path(path).parent} and rebuild it"


def _short(text: object, limit: int = 160) -> str:
    return " ".join(str(text).split())[:limit]


_JSON_NAMES = {dict: "a JSON object", list: "a JSON array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number", type(None): "null"}


def _type_name(value: object) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _wanted(types: type | tuple) -> str:
    return " or ".join(_JSON_NAMES.get(t, t.__name__) for t in (types if isinstance(types, tuple) else (types,)))


def _is(value: object, types: type | tuple) -> bool:
    """``isinstance`` where a JSON boolean is not an integer or a number."""
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _read_bytes(path: Path, what: str, fix: str) -> bytes:
    if not path.exists():
        raise LeadIRError(f"{path}: {what} not found; {fix}")
    if path.is_dir():
        raise LeadIRError(f"{path}: is a directory where the {what} is expected; {fix}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LeadIRError(os_error_message(exc, path)) from None


def read_json(path: str | os.PathLike, what: str = "JSON file", fix: str | None = None,
              expect: type | tuple = dict, fields: dict[str, type | tuple] | None = None,
              required: tuple[str, ...] = ()):
    """The parsed JSON file ``path`` (the one JSON reader of the package), checked.

    A missing file, undecodable bytes, invalid or truncated JSON, a top-level value that is not ``expect``,
    a ``required`` key that is absent or a key of ``fields`` whose value is not of its type(s) raise one
    :class:`LeadIRError` line: the file, what is wrong with it and ``fix`` (default: re-create it, or delete
    its folder). A JSON boolean is not an integer here.
    """
    path = Path(path)
    fix = fix or default_fix(path)
    data = _read_bytes(path, what, fix)
    if data.startswith(BOM):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LeadIRError(f"{path}: damaged {what} (not valid UTF-8 at byte offset {exc.start}); {fix}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = ("empty file" if not text.strip()
                   else f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
        raise LeadIRError(f"{path}: damaged or truncated {what} ({problem}); {fix}") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise LeadIRError(f"{path}: damaged {what} ({_short(exc, 80)}); {fix}") from None
    except RecursionError:
        raise LeadIRError(f"{path}: damaged {what} (JSON nested too deeply); {fix}") from None
    if not _is(obj, expect):
        raise LeadIRError(f"{path}: damaged {what} (expected {_wanted(expect)} at the top level, found "
                          f"{_type_name(obj)}); {fix}")
    if isinstance(obj, dict):
        for key in required:
            if key not in obj:
                raise LeadIRError(f"{path}: damaged {what} (no '{key}' entry); {fix}")
        for key, types in (fields or {}).items():
            if key in obj and not _is(obj[key], types):
                raise LeadIRError(f"{path}: damaged {what} ('{key}' should be {_wanted(types)}, found "
                                  f"{_type_name(obj[key])}); {fix}")
    return obj


def dataclass_fields_types(cls) -> dict[str, type | tuple]:
    """``{field: JSON type(s)}`` of a dataclass whose fields have plain defaults (for :func:`read_json`)."""
    import dataclasses

    out = {}
    for f in dataclasses.fields(cls):
        default = f.default
        if isinstance(default, bool):
            out[f.name] = bool
        elif isinstance(default, int):
            out[f.name] = int
        elif isinstance(default, float):
            out[f.name] = (int, float)
        elif isinstance(default, str):
            out[f.name] = str
    return out


def read_json_dataclass(cls, path: str | os.PathLike, what: str, fix: str | None = None):
    """A dataclass from the JSON object at ``path``: unknown keys are ignored; a key of the wrong type, or a
    value the dataclass refuses, is one :class:`LeadIRError` line naming the file."""
    import dataclasses

    data = read_json(path, what=what, fix=fix, fields=dataclass_fields_types(cls))
    known = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in known})
    except (LeadIRError, TypeError, ValueError, KeyError, AttributeError) as exc:  # a value the class refuses
        raise LeadIRError(f"{path}: damaged {what} ({_short(exc, 200)}); {fix or default_fix(path)}") from None


def read_yaml(path: str | os.PathLike, what: str = "YAML file", fix: str = "fix the file",
              expect: type | tuple = dict, name_it: bool = True):
    """The parsed YAML file ``path`` (``yaml.safe_load``: no tags, nothing constructed), checked: the one
    YAML reader of the package.

    Missing, undecodable, invalid, too deeply nested or of the wrong top-level type: one :class:`LeadIRError`
    line naming the file (and the line, for a syntax error; ``name_it`` adds ``what`` there). An empty file is
    ``{}`` when a mapping is expected.
    """
    import yaml

    path = Path(path)
    if not path.exists():
        raise LeadIRError(f"{what} {path} not found; check the path")
    if not path.is_file():
        raise LeadIRError(f"{what} {path} is not a file; pass a YAML file")
    label = f"{what} is " if name_it else ""
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise LeadIRError(f"{path}{line}: {label}not valid YAML ({_short(getattr(exc, 'problem', None) or exc)}); "
                          f"{fix}") from None
    except RecursionError:
        raise LeadIRError(f"{path}: {label}not valid YAML here (nested too deeply); {fix}") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise LeadIRError(f"{path}: {label}not valid YAML here ({_short(exc, 80)}); {fix}") from None
    if data is None and expect is dict:
        data = {}
    if not _is(data, expect):
        raise LeadIRError(f"{path}: {label}not a YAML mapping at the top level (found {type(data).__name__}); "
                          f"{fix}")
    return data


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


def load_npy(path: str | os.PathLike, mmap: bool = False, fix: str | None = None):
    """A ``.npy`` array with ``allow_pickle=False`` (object arrays, which unpickle, are refused), checked.

    The header is read first: a file that is not an array, whose header is damaged, or whose size is not
    the one its header describes (truncated) is one :class:`LeadIRError` line naming the file and ``fix``.
    """
    import numpy as np
    from numpy.lib import format as npy_format

    path = Path(path)
    fix = fix or "rebuild the folder that holds it"
    if not path.is_file():
        raise LeadIRError(f"{path}: missing array file; {fix}")
    bad = (ValueError, TypeError, SyntaxError, EOFError, OverflowError, MemoryError, UnicodeDecodeError, KeyError)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":
                raise LeadIRError(f"{path}: damaged .npy file (not a NumPy array file); {fix}")
            fh.seek(0)
            version = npy_format.read_magic(fh)
            header = {(1, 0): npy_format.read_array_header_1_0,
                      (2, 0): npy_format.read_array_header_2_0}.get(version)
            if header is not None:
                shape, _, dtype = header(fh)
                if dtype.hasobject:
                    raise LeadIRError(f"{path}: refused to load an object array (it would be unpickled and could "
                                      f"run code); lead_ir reads numeric .npy files only, {fix}")
                expected = fh.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
                if expected != size:
                    raise LeadIRError(f"{path}: truncated or damaged .npy file ({size} bytes, its header describes "
                                      f"{expected}); {fix}")
    except LeadIRError:
        raise
    except OSError as exc:
        raise LeadIRError(os_error_message(exc, path)) from None
    except Exception as exc:  # parsing the header of a damaged file: ValueError, SyntaxError, tokenize.TokenError...
        raise LeadIRError(f"{path}: damaged .npy file (unreadable header: {_short(exc)}); {fix}") from None
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc) or "Python objects" in str(exc):
            raise LeadIRError(f"{path}: refused to load an object array (it would be unpickled and could run code); "
                              f"lead_ir reads numeric .npy files only, {fix}") from None
        raise LeadIRError(f"{path}: damaged .npy file ({_short(exc)}); {fix}") from None
    except OSError as exc:
        if exc.errno is not None:
            raise LeadIRError(os_error_message(exc, path)) from None
        raise LeadIRError(f"{path}: damaged or truncated .npy file ({_short(exc)}); {fix}") from None
    except bad as exc:
        raise LeadIRError(f"{path}: damaged or truncated .npy file ({_short(exc)}); {fix}") from None


def load_torch(path: str | os.PathLike, what: str = "checkpoint", fix: str | None = None):
    """``torch.load(weights_only=True)``: tensors and plain containers only, so a crafted pickle cannot run
    code. A missing, truncated or damaged file, or one that holds other objects, is one :class:`LeadIRError`
    line naming the file and ``fix``."""
    import pickle
    import re

    import torch

    path = Path(path)
    fix = fix or default_fix(path)
    if not path.is_file():
        raise LeadIRError(f"{path}: missing {what} file; {fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        reason = f"it references {found.group(1)}" if found else "it holds objects other than tensors and lists"
        raise LeadIRError(f"{path}: refused to load ({reason}); lead_ir loads {what}s with "
                          f"torch.load(weights_only=True) and never unpickles code; {fix}") from None
    except OSError as exc:
        if exc.errno is not None:
            raise LeadIRError(os_error_message(exc, path)) from None
        raise LeadIRError(f"{path}: unreadable {what} ({_short(exc, 200)}); {fix}") from None
    except (RuntimeError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError, MemoryError,
            OverflowError, UnicodeDecodeError) as exc:
        raise LeadIRError(f"{path}: unreadable {what} ({_short(exc, 200)}); {fix}") from None


WEIGHTS_FIX = "download or save the model again"


def check_weights_file(file: str | os.PathLike, fix: str = WEIGHTS_FIX) -> None:
    """Refuse a truncated or damaged weights file (e.g. an interrupted download) before loading it.

    ``*.safetensors``: the 8-byte header length, the JSON header and the tensors' byte ranges must fit
    the file exactly. ``*.bin``/``*.pt``: a PyTorch zip archive must end in a complete zip directory; it is
    loaded later with ``weights_only=True``, never as an arbitrary pickle.
    """
    import struct
    import zipfile

    file = Path(file)
    try:
        size = file.stat().st_size
        if file.suffix == ".safetensors":
            with open(file, "rb") as fh:
                head = fh.read(8)
                if len(head) < 8:
                    raise LeadIRError(f"{file}: truncated weights ({size} bytes, no safetensors header); {fix}")
                (length,) = struct.unpack("<Q", head)
                if length > size - 8:
                    raise LeadIRError(f"{file}: truncated weights (header says {length} bytes, file has {size}); "
                                      f"{fix}")
                raw = fh.read(length)
        elif file.suffix in (".bin", ".pt"):
            if not zipfile.is_zipfile(file):
                raise LeadIRError(f"{file}: truncated, damaged or legacy-pickle weights (not a PyTorch zip archive; "
                                  f"lead_ir does not unpickle legacy files); {fix}, preferably as safetensors")
            return
        else:
            return
    except OSError as exc:
        raise LeadIRError(os_error_message(exc, file)) from None
    try:
        header = json.loads(raw)
        ends = [int(v["data_offsets"][1]) for k, v in header.items()
                if k != "__metadata__" and isinstance(v, dict) and len(v.get("data_offsets", ())) == 2]
    except (UnicodeDecodeError, ValueError, RecursionError, AttributeError, TypeError, KeyError, IndexError):
        raise LeadIRError(f"{file}: damaged weights (unreadable safetensors header); {fix}") from None
    expected = 8 + length + max(ends, default=0)
    if expected != size:
        raise LeadIRError(f"{file}: truncated or damaged weights ({size} bytes, the header describes "
                          f"{expected}); {fix}")


# The JSON files of a model folder that transformers, tokenizers, sentence-transformers and lead_ir parse:
# name -> (what it is, its top-level type). Other JSON files (e.g. a model card's data_config.json) are not read.
MODEL_JSON = {"config.json": ("model config", dict), "tokenizer.json": ("tokenizer file", dict),
              "tokenizer_config.json": ("tokenizer config", dict),
              "special_tokens_map.json": ("tokenizer file", dict), "added_tokens.json": ("tokenizer file", dict),
              "generation_config.json": ("model config", dict),
              "modules.json": ("sentence-transformers file", list),
              "sentence_bert_config.json": ("sentence-transformers file", dict),
              "config_sentence_transformers.json": ("sentence-transformers file", dict),
              "lead_ir_encoder.json": ("lead_ir encoder spec", dict),
              "lead_ir_colbert.json": ("ColBERT spec", dict),
              "lead_ir_cross_encoder.json": ("cross-encoder spec", dict)}


def check_model_json(directory: str | os.PathLike, fix: str = WEIGHTS_FIX) -> None:
    """Read the JSON files of a model folder that libraries parse (:data:`MODEL_JSON`: ``config.json``,
    tokenizer files, lead_ir's and sentence-transformers' sidecars, the modules' ``*/config.json``) through
    :func:`read_json` first, so a damaged one is one line naming it instead of a library's traceback."""
    directory = Path(directory)
    files = [directory / name for name in MODEL_JSON] + sorted(directory.glob("*/config.json"))
    for file in files:
        if file.is_file():
            what, expect = MODEL_JSON.get(file.name, ("sentence-transformers file", dict))
            read_json(file, what=what, fix=fix, expect=expect)


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
