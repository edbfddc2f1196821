"""EncoderSpec: how a checkpoint pools, normalises and truncates; saved beside the weights.

A checkpoint describes itself (``lead_ir_encoder.json``) so that search never infers pooling
from a directory name. Plain sentence-transformers checkpoints are read from their
``modules.json`` + ``1_Pooling/config.json``; bare Hugging Face models default to CLS pooling.

Lengths: ``query_max_len`` is *the* query length of a checkpoint, stored once here and read by
every path that encodes queries (``lead-ir search dense``/``hybrid``, ``LeadQueryEncoder``,
``encode-queries``, training and dev evaluation). When saved, the same number goes to the
tokenizer's ``model_max_length`` (what Pyserini's ``AutoQueryEncoder`` truncates at) and, when
query and passage lengths agree, to sentence-transformers' ``max_seq_length`` (which has one length
for both). By default queries get the passage length, capped by the model's own limit
(:func:`model_max_tokens`): real queries are then not cut (SciFact's longest has 64 word pieces in test
and 79 in train, against 128; 45 of its 300 test queries exceed the 32 tokens lead_ir used to keep), and
padding to the longest query of a batch costs nothing for short ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from lead_ir.errors import LeadIRError
from lead_ir.fileio import WEIGHTS_FIX, read_json, read_json_dataclass, write_json
from lead_ir.models.space import PassageSpace

SPEC_FILE = "lead_ir_encoder.json"
# What to do about a damaged file of a checkpoint folder (the fix of lead_ir.fileio.check_model_json too)
SPEC_FIX = WEIGHTS_FIX


@dataclass
class EncoderSpec:
    pooling: Literal["cls", "mean"] = "cls"
    normalize: bool = False
    query_max_len: int = 256
    passage_max_len: int = 256
    query_prefix: str = ""
    passage_prefix: str = ""
    # A query student (an asymmetric dual encoder, lead_ir.models.space): tower "query" encodes queries only,
    # ``projection`` names its sentence-transformers Dense folder (student width -> teacher width; "" when the
    # widths agree) and ``passage_space`` the teacher whose index it searches. Left out of the file at their
    # defaults, so symmetric checkpoints (and the teacher-cache keys built from a spec) are as before.
    tower: Literal["both", "query"] = "both"
    projection: str = ""
    passage_space: PassageSpace | None = None

    def __post_init__(self) -> None:
        if self.pooling not in ("cls", "mean"):
            raise LeadIRError(f"pooling must be 'cls' or 'mean', found {self.pooling!r}")
        if self.tower not in ("both", "query"):
            raise LeadIRError(f"tower must be 'both' or 'query', found {self.tower!r}")
        if isinstance(self.passage_space, dict):
            self.passage_space = PassageSpace.from_json(self.passage_space)
        elif self.passage_space is not None and not isinstance(self.passage_space, PassageSpace):
            raise LeadIRError(f"passage_space should be an object, found {self.passage_space!r}")
        if self.tower == "query" and self.passage_space is None:
            raise LeadIRError("a query tower (tower 'query') needs its passage_space (the teacher whose index it "
                              "searches)")
        if self.tower == "both" and (self.projection or self.passage_space is not None):
            raise LeadIRError("projection and passage_space belong to a query tower (tower 'query') only")

    def to_dict(self) -> dict:
        """The spec as saved: the query-tower fields only when set."""
        data = asdict(self)
        if self.tower == "both":
            for key in ("tower", "projection", "passage_space"):
                data.pop(key)
        return data

    def save(self, directory: str | Path) -> None:
        write_json(Path(directory) / SPEC_FILE, self.to_dict())

    def pyserini_query_flags(self) -> list[str]:
        """The ``python -m pyserini.search.faiss --encoder DIR`` flags that encode queries as this spec does.

        Pyserini's ``AutoQueryEncoder`` truncates at the tokenizer's ``model_max_length`` (lead_ir saves
        ``query_max_len`` there) and joins a prefix with a space, so a prefix is passed without its
        trailing space. A query student with a projection has none: Pyserini's encoder would leave it out.
        """
        if self.projection:
            raise LeadIRError("Pyserini's AutoQueryEncoder cannot apply this query student's projection (its width "
                              "differs from its teacher's); encode the queries with `lead-ir encode-queries` and "
                              "pass them to pyserini.search.faiss with --encoded-queries")
        flags = ["--encoder-class", "auto", "--pooling", self.pooling]
        if self.normalize:
            flags.append("--l2-norm")
        if self.query_prefix:
            flags += ["--query-prefix", self.query_prefix.removesuffix(" ")]
        return flags

    @classmethod
    def load(cls, directory: str | Path) -> EncoderSpec:
        """The spec of a checkpoint: lead_ir's own file, else sentence-transformers', else CLS defaults."""
        directory = Path(directory)
        own = directory / SPEC_FILE
        if own.exists():
            return read_json_dataclass(cls, own, "lead_ir encoder spec", SPEC_FIX)
        st = sentence_transformers_spec(directory)
        return st if st is not None else cls()


def model_max_tokens(model_config, tokenizer=None) -> int:
    """The longest input a backbone takes: its position table (less RoBERTa's padding offset) and
    the tokenizer's ``model_max_length``, whichever is smaller."""
    limits = []
    positions = getattr(model_config, "max_position_embeddings", None)
    if positions:
        offset = 0
        if getattr(model_config, "model_type", "") in ("roberta", "xlm-roberta", "camembert", "mpnet"):
            offset = int(getattr(model_config, "pad_token_id", 1) or 1) + 1  # positions start after padding_idx
        limits.append(int(positions) - offset)
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, (int, float)) and not isinstance(tokenizer_limit, bool) \
            and 0 < tokenizer_limit < 1_000_000:  # unset limits are ~1e30 (a damaged, non-numeric one: none)
        limits.append(int(tokenizer_limit))
    return min(limits) if limits else 512


def sentence_transformers_spec(directory: Path) -> EncoderSpec | None:
    """Read pooling/normalisation/max length from a sentence-transformers checkpoint, if it is one."""
    modules_file = directory / "modules.json"
    if not modules_file.exists():
        return None
    what, fix = "sentence-transformers file", "download or save the model again"
    modules = read_json(modules_file, what, fix, expect=list)
    pooling, normalize = "cls", False
    for module in modules:
        if not isinstance(module, dict) or not isinstance(module.get("type", ""), str) \
                or not isinstance(module.get("path", ""), str):
            raise LeadIRError(f"{modules_file}: damaged {what} (each module should be an object with a type and "
                              f"a path); {fix}")
        kind = module.get("type", "")
        if kind.endswith("Pooling"):
            cfg_file = directory / module.get("path", "") / "config.json"
            if cfg_file.exists():
                cfg = read_json(cfg_file, what, fix)
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
        max_len = read_json(st_cfg, what, fix, fields={"max_seq_length": (int, type(None))}).get("max_seq_length") \
            or max_len
    return EncoderSpec(pooling=pooling, normalize=normalize, query_max_len=max_len, passage_max_len=max_len)
