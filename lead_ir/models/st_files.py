"""sentence-transformers files for a saved dual encoder, so ``SentenceTransformer(path)`` loads it.

Writes ``modules.json`` (Transformer -> Pooling [-> Normalize]), ``1_Pooling/config.json``,
``sentence_bert_config.json`` and ``config_sentence_transformers.json`` (query/passage prompts),
mirroring the layout of published sentence-transformers checkpoints, and records the query length
as the tokenizer's ``model_max_length`` (Pyserini's ``AutoQueryEncoder`` truncates there).

lead_ir loads BERT-like backbones without their pooler (dense pooling never reads it), but
``AutoModel.from_pretrained`` builds one and reports it as "newly initialized" when the weights
lack it. :func:`pooler_for_saving` therefore gives a pooler-less model a zero pooler to save, so
``SentenceTransformer(path)`` and Pyserini load every weight from the file.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from lead_ir.fileio import read_json, write_json
from lead_ir.models.spec import EncoderSpec

logger = logging.getLogger(__name__)


def pooler_for_saving(model):
    """A zero-initialised pooler of ``model``'s own class (e.g. ``BertPooler``) when it was dropped, else None."""
    if getattr(model, "pooler", "absent") is not None:  # has one, or the architecture has none
        return None
    module = importlib.import_module(type(model).__module__)
    pooler_cls = getattr(module, type(model).__name__.removesuffix("Model") + "Pooler", None)
    if pooler_cls is None:
        return None
    import torch

    # Built on the meta device, so no random initialisation draws from the global RNG: saving a model mid-training
    # (a dev evaluation's best checkpoint) must not change the dropout masks of the steps that follow.
    with torch.device("meta"):
        pooler = pooler_cls(model.config)
    pooler = pooler.to_empty(device=next(model.parameters()).device)
    with torch.no_grad():
        for param in pooler.parameters():
            param.zero_()
    return pooler


def set_tokenizer_max_length(directory: str | Path, max_length: int) -> None:
    """Record ``max_length`` as ``model_max_length`` in a saved ``tokenizer_config.json``."""
    path = Path(directory) / "tokenizer_config.json"
    config = read_json(path, "tokenizer config", "save the model again") if path.exists() else {}
    config["model_max_length"] = int(max_length)
    write_json(path, config)


def write_sentence_transformers_files(directory: str | Path, spec: EncoderSpec, hidden_size: int,
                                      projection=None) -> None:
    """Describe ``spec``'s pooling/normalisation/max length in sentence-transformers' own files.

    ``projection`` (a query student's ``nn.Linear``, saved in ``spec.projection``) becomes a ``Dense`` module
    between pooling and normalisation, as sentence-transformers applies it.
    """
    directory = Path(directory)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if projection is not None:
        write_dense_module(directory / spec.projection, projection)
        modules.append({"idx": 2, "name": "2", "path": spec.projection, "type": "sentence_transformers.models.Dense"})
    if spec.normalize:
        n = len(modules)
        modules.append({"idx": n, "name": str(n), "path": f"{n}_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
        (directory / f"{n}_Normalize").mkdir(parents=True, exist_ok=True)
    write_json(directory / "modules.json", modules)
    write_json(directory / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hidden_size,
        "pooling_mode_cls_token": spec.pooling == "cls",
        "pooling_mode_mean_tokens": spec.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    if spec.query_max_len != spec.passage_max_len:
        logger.warning("%s: query_max_len %d differs from passage_max_len %d; sentence-transformers has one "
                       "max_seq_length (%d), so SentenceTransformer(path) cuts queries at the passage length",
                       directory, spec.query_max_len, spec.passage_max_len, spec.passage_max_len)
    write_json(directory / "sentence_bert_config.json",
               {"max_seq_length": spec.passage_max_len, "do_lower_case": False})
    set_tokenizer_max_length(directory, spec.query_max_len)
    write_json(directory / "config_sentence_transformers.json", {
        "prompts": {"query": spec.query_prefix, "passage": spec.passage_prefix},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine" if spec.normalize else "dot",
    })


# sentence-transformers' Dense module folder: config.json (these keys; activation identity) and model.safetensors
# (``linear.weight`` [out, in], ``linear.bias`` [out]), the layout every sentence-transformers release loads.
DENSE_DIR = "2_Dense"
DENSE_ACTIVATION = "torch.nn.modules.linear.Identity"
DENSE_FIELDS = {"in_features": int, "out_features": int, "bias": bool, "activation_function": str}


def write_dense_module(folder: str | Path, linear) -> None:
    """Save ``linear`` (an ``nn.Linear``) as sentence-transformers' ``Dense`` module with no activation."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    has_bias = linear.bias is not None
    write_json(folder / "config.json", {"in_features": int(linear.in_features),
                                        "out_features": int(linear.out_features), "bias": has_bias,
                                        "activation_function": DENSE_ACTIVATION})
    tensors = {"linear.weight": linear.weight.detach().float().cpu().contiguous()}
    if has_bias:
        tensors["linear.bias"] = linear.bias.detach().float().cpu().contiguous()
    save_file(tensors, str(folder / "model.safetensors"))


def read_dense_module(folder: str | Path):
    """The ``nn.Linear`` of a sentence-transformers ``Dense`` folder written by :func:`write_dense_module`.

    Raises:
        LeadIRError: a missing or damaged file, an activation other than identity, or weights of another shape.
    """
    import torch
    from safetensors.torch import load_file

    from lead_ir.errors import LeadIRError
    from lead_ir.fileio import check_weights_file

    folder = Path(folder)
    fix = "save the query student again with lead_ir"
    config = read_json(folder / "config.json", "sentence-transformers Dense config", fix, fields=DENSE_FIELDS,
                       required=("in_features", "out_features"))
    if config.get("activation_function", DENSE_ACTIVATION) != DENSE_ACTIVATION:
        raise LeadIRError(f"{folder / 'config.json'}: activation {config['activation_function']!r}; lead_ir applies "
                          f"a projection without activation ({DENSE_ACTIVATION}) only")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise LeadIRError(f"{folder}: no model.safetensors for the query projection; {fix}")
    check_weights_file(weights, fix)
    state = load_file(str(weights))
    linear = torch.nn.Linear(config["in_features"], config["out_features"], bias=config.get("bias", True))
    try:
        linear.load_state_dict({k.removeprefix("linear."): v for k, v in state.items()})
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())[:160]
        raise LeadIRError(f"{weights}: projection weights do not fit {folder / 'config.json'} ({reason}); "
                          f"{fix}") from None
    return linear
