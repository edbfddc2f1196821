"""sentence-transformers files for a saved dual encoder, so ``SentenceTransformer(path)`` loads it.

Writes ``modules.json`` (Transformer -> Pooling [-> Normalize]), ``1_Pooling/config.json``,
``sentence_bert_config.json`` and ``config_sentence_transformers.json`` (query/passage prompts),
mirroring the layout of published sentence-transformers checkpoints.
"""

from __future__ import annotations

from pathlib import Path

from lead_ir.fileio import write_json
from lead_ir.models.spec import EncoderSpec


def write_sentence_transformers_files(directory: str | Path, spec: EncoderSpec, hidden_size: int) -> None:
    """Describe ``spec``'s pooling/normalisation/max length in sentence-transformers' own files."""
    directory = Path(directory)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if spec.normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (directory / "2_Normalize").mkdir(parents=True, exist_ok=True)
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
    write_json(directory / "sentence_bert_config.json",
               {"max_seq_length": spec.passage_max_len, "do_lower_case": False})
    write_json(directory / "config_sentence_transformers.json", {
        "prompts": {"query": spec.query_prefix, "passage": spec.passage_prefix},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine" if spec.normalize else "dot",
    })
