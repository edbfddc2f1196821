"""EncoderSpec: how a checkpoint pools, normalises and truncates; saved beside the weights.

A checkpoint describes itself (``lead_ir_encoder.json``) so that search never infers pooling
from a directory name. Plain sentence-transformers checkpoints are read from their
``modules.json`` + ``1_Pooling/config.json``; bare Hugging Face models default to CLS pooling.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

from lead_ir.errors import LeadIRError
from lead_ir.fileio import write_json

SPEC_FILE = "lead_ir_encoder.json"


@dataclass
class EncoderSpec:
    pooling: Literal["cls", "mean"] = "cls"
    normalize: bool = False
    query_max_len: int = 32
    passage_max_len: int = 256
    query_prefix: str = ""
    passage_prefix: str = ""

    def __post_init__(self) -> None:
        if self.pooling not in ("cls", "mean"):
            raise LeadIRError(f"pooling must be 'cls' or 'mean', found {self.pooling!r}")

    def save(self, directory: str | Path) -> None:
        write_json(Path(directory) / SPEC_FILE, asdict(self))

    @classmethod
    def load(cls, directory: str | Path) -> EncoderSpec:
        """The spec of a checkpoint: lead_ir's own file, else sentence-transformers', else CLS defaults."""
        directory = Path(directory)
        own = directory / SPEC_FILE
        if own.exists():
            data = json.loads(own.read_text())
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        st = sentence_transformers_spec(directory)
        return st if st is not None else cls()


def sentence_transformers_spec(directory: Path) -> EncoderSpec | None:
    """Read pooling/normalisation/max length from a sentence-transformers checkpoint, if it is one."""
    modules_file = directory / "modules.json"
    if not modules_file.exists():
        return None
    modules = json.loads(modules_file.read_text())
    pooling, normalize = "cls", False
    for module in modules:
        kind = module.get("type", "")
        if kind.endswith("Pooling"):
            cfg_file = directory / module.get("path", "") / "config.json"
            if cfg_file.exists():
                cfg = json.loads(cfg_file.read_text())
                if cfg.get("pooling_mode_mean_tokens"):
                    pooling = "mean"
                elif cfg.get("pooling_mode_cls_token"):
                    pooling = "cls"
                else:
                    raise LeadIRError(f"{cfg_file}: only CLS or mean pooling is supported")
        elif kind.endswith("Normalize"):
            normalize = True
    max_len = 256
    st_cfg = directory / "sentence_bert_config.json"
    if st_cfg.exists():
        max_len = int(json.loads(st_cfg.read_text()).get("max_seq_length", max_len))
    return EncoderSpec(pooling=pooling, normalize=normalize, query_max_len=max_len, passage_max_len=max_len)
