"""Load Hugging Face backbones (located by :func:`lead_ir.resolve.resolve_model`) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from torch import nn

from lead_ir.errors import LeadIRError
from lead_ir.fileio import check_model_json, check_weights_file

__all__ = ["check_model_dir", "check_weights_file", "load_backbone"]

_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "sentencepiece.bpe.model", "spiece.model")


def check_model_dir(path: Path) -> None:
    """Refuse a folder that is not a complete, undamaged model: weights (checked), tokenizer files, and every
    JSON file (``config.json``, tokenizer files, sidecars) readable, before transformers parses any of them."""
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
    check_model_json(path)


def _hub_errors() -> tuple[type[Exception], ...]:
    try:  # transformers' configs are huggingface_hub strict dataclasses: a field of the wrong type raises this
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:
        return ()
    return (StrictDataclassError,)


# What transformers raises for a model folder whose config.json is valid JSON but damaged (a wrong type, a
# missing or impossible value) or whose weights do not fit it.
LOAD_ERRORS = (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError, IndexError, AssertionError,
               ZeroDivisionError, OverflowError, *_hub_errors())


def load_error(path: Path, exc: BaseException) -> NoReturn:
    """Raise the one line for a model folder transformers cannot load."""
    text = str(exc).strip()
    reason = " ".join(text.splitlines()[0].split())[:200] if text else type(exc).__name__
    raise LeadIRError(f"{path}: cannot load a Hugging Face model ({reason}); check the folder or download "
                      f"the model again") from None


def load_config(path: Path):
    """``AutoConfig.from_pretrained`` on a checked folder: a ``config.json`` that parses as JSON but describes
    no model (a wrong type, an unknown model type) is one line naming it."""
    from transformers import AutoConfig

    if not (path / "config.json").is_file():
        raise LeadIRError(f"{path}: no config.json; save the model with its config, or download it again")
    try:
        return AutoConfig.from_pretrained(str(path))
    except LOAD_ERRORS as exc:
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise LeadIRError(f"{path / 'config.json'}: damaged model config ({text}); download or save the model "
                          f"again") from None


def load_tokenizer(path: Path):
    """``AutoTokenizer.from_pretrained`` on a checked folder; a tokenizer file that parses as JSON but that the
    tokenizers library refuses is one line."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for a tokenizer.json it cannot use
        if not isinstance(exc, LOAD_ERRORS) and type(exc) is not Exception:
            raise
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise LeadIRError(f"{path}: cannot load the tokenizer ({text}); check its tokenizer files or download "
                          f"the model again") from None


def load_backbone(path: Path, **model_kwargs) -> tuple[nn.Module, object]:
    """(AutoModel without an unused pooler where the architecture allows, tokenizer) from ``path``."""
    from transformers import AutoModel

    check_model_dir(path)
    model_type = load_config(path).model_type
    tokenizer = load_tokenizer(path)
    try:
        droppable = model_type in ("bert", "roberta", "xlm-roberta", "camembert", "mpnet")
        # A saved pooler is loaded and then dropped, so neither case prints a missing/unexpected weight report.
        saved_pooler = droppable and _has_pooler_weights(path)
        kwargs = {"add_pooling_layer": False} if droppable and not saved_pooler else {}
        model = AutoModel.from_pretrained(str(path), **kwargs, **model_kwargs)
        if saved_pooler:
            model.pooler = None
    except LOAD_ERRORS as exc:  # a config.json that parses but describes no loadable model, or damaged weights
        load_error(path, exc)
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
