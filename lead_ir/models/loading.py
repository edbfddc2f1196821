"""Locate and load Hugging Face backbones (paths, installed model packages) with one-line errors."""

from __future__ import annotations

import importlib
from pathlib import Path

from torch import nn

from lead_ir.errors import LeadIRError

PACKAGE_PREFIX = "pymodule:"
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "sentencepiece.bpe.model", "spiece.model")


def resolve_model_path(spec: str) -> Path:
    """A model directory from ``pymodule:<package>`` (the package's ``get_model_path()``), else as
    :func:`lead_ir.resolve.resolve_model` finds it (a directory, the offline MiniLM, the HF cache)."""
    if spec.startswith(PACKAGE_PREFIX):
        name = spec[len(PACKAGE_PREFIX):]
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise LeadIRError(f"model '{spec}': package '{name}' is not installed; pip install it or give a path") \
                from None
        if not hasattr(module, "get_model_path"):
            raise LeadIRError(f"model '{spec}': package '{name}' has no get_model_path(); give a directory instead")
        return Path(module.get_model_path())
    from lead_ir.resolve import resolve_model

    return resolve_model(spec)


def check_model_dir(path: Path) -> None:
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise LeadIRError(f"{path}: no model weights (*.safetensors or *.bin); is this a model directory?")
    if not any((path / f).exists() for f in _TOKENIZER_FILES):
        raise LeadIRError(f"{path}: no tokenizer files (tokenizer.json / vocab.txt); save the tokenizer with the model")


def load_backbone(path: Path, **model_kwargs) -> tuple[nn.Module, object]:
    """(AutoModel without an unused pooler where the architecture allows, tokenizer) from ``path``."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    check_model_dir(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model_type = AutoConfig.from_pretrained(str(path)).model_type
        kwargs = {"add_pooling_layer": False} if model_type in ("bert", "roberta", "xlm-roberta",
                                                                  "camembert", "mpnet") else {}
        model = AutoModel.from_pretrained(str(path), **kwargs, **model_kwargs)
    except OSError as exc:
        raise LeadIRError(f"{path}: cannot load a Hugging Face model ({str(exc).splitlines()[0]})") from None
    return model, tokenizer
