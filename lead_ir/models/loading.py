"""Load Hugging Face backbones (located by :func:`lead_ir.resolve.resolve_model`) with one-line errors."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from lead_ir.errors import LeadIRError

_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "sentencepiece.bpe.model", "spiece.model")


def check_weights_file(file: Path) -> None:
    """Refuse a truncated or damaged weights file (e.g. an interrupted download) before loading it.

    ``*.safetensors``: the 8-byte header length, the JSON header and the tensors' byte ranges must fit
    the file exactly. ``*.bin``: a PyTorch zip archive must end in a complete zip directory; it is
    loaded later with ``weights_only=True`` (transformers), never as an arbitrary pickle.
    """
    import json
    import struct
    import zipfile

    fix = "download or save the model again"
    size = file.stat().st_size
    if file.suffix == ".safetensors":
        with open(file, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise LeadIRError(f"{file}: truncated weights ({size} bytes, no safetensors header); {fix}")
            (length,) = struct.unpack("<Q", head)
            if length > size - 8:
                raise LeadIRError(f"{file}: truncated weights (header says {length} bytes, file has {size}); {fix}")
            try:
                header = json.loads(fh.read(length))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise LeadIRError(f"{file}: damaged weights (unreadable safetensors header); {fix}") from None
        if not isinstance(header, dict):
            raise LeadIRError(f"{file}: damaged weights (unreadable safetensors header); {fix}")
        ends = [int(v["data_offsets"][1]) for k, v in header.items()
                if k != "__metadata__" and isinstance(v, dict) and len(v.get("data_offsets", ())) == 2]
        expected = 8 + length + max(ends, default=0)
        if expected != size:
            raise LeadIRError(f"{file}: truncated or damaged weights ({size} bytes, the header describes "
                              f"{expected}); {fix}")
    elif file.suffix == ".bin":
        if not zipfile.is_zipfile(file):
            raise LeadIRError(f"{file}: truncated, damaged or legacy-pickle weights (not a PyTorch zip archive; "
                              f"lead_ir does not unpickle legacy files); {fix}, preferably as safetensors")


def check_model_dir(path: Path) -> None:
    if not path.is_dir():
        raise LeadIRError(f"{path}: not a model directory; pass a folder with config.json, weights and tokenizer")
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if not weights:
        raise LeadIRError(f"{path}: no model weights (*.safetensors or *.bin); is this a model directory?")
    for file in weights:
        if file.suffix == ".bin" and any(path.glob("*.safetensors")):
            continue  # transformers loads the safetensors and ignores the .bin
        check_weights_file(file)
    if not any((path / f).exists() for f in _TOKENIZER_FILES):
        raise LeadIRError(f"{path}: no tokenizer files (tokenizer.json / vocab.txt); save the tokenizer with the model")


def load_backbone(path: Path, **model_kwargs) -> tuple[nn.Module, object]:
    """(AutoModel without an unused pooler where the architecture allows, tokenizer) from ``path``."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    check_model_dir(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model_type = AutoConfig.from_pretrained(str(path)).model_type
        droppable = model_type in ("bert", "roberta", "xlm-roberta", "camembert", "mpnet")
        # A saved pooler is loaded and then dropped, so neither case prints a missing/unexpected weight report.
        saved_pooler = droppable and _has_pooler_weights(path)
        kwargs = {"add_pooling_layer": False} if droppable and not saved_pooler else {}
        model = AutoModel.from_pretrained(str(path), **kwargs, **model_kwargs)
        if saved_pooler:
            model.pooler = None
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LeadIRError(f"{path}: cannot load a Hugging Face model ({reason}); check the folder or download "
                          f"the model again") from None
    except Exception as exc:  # safetensors raises its own SafetensorError
        if type(exc).__name__ != "SafetensorError":
            raise
        raise LeadIRError(f"{path}: damaged weights ({exc}); download or save the model again") from None
    return model, tokenizer


def _has_pooler_weights(path: Path) -> bool:
    """Whether the checkpoint's safetensors hold ``pooler.*`` weights (False for .bin-only checkpoints)."""
    from safetensors import safe_open

    for file in sorted(path.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            if any(key.startswith("pooler.") or ".pooler." in key for key in handle.keys()):
                return True
    return False
