"""The registry of named topic/qrels sets (``lead_ir/resources/registry.yaml``) and where their files are found.

A registry entry names an ir_datasets id or Anserini/Pyserini file names, plus expected counts.
Files are looked up, in order, in ``$LEAD_IR_TOPICS_DIR`` (os.pathsep-separated), the
repository's ``topics/`` folder, and Pyserini's cache (``~/.cache/pyserini/topics-and-qrels``).
Nothing is committed: files are fetched by ir_datasets or Pyserini, or pointed at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lead_ir.errors import LeadIRError, closest
from lead_ir.resources import resource

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TopicSet:
    name: str
    description: str = ""
    irds: str | None = None  # ir_datasets id for topics and qrels
    topics_file: str | None = None  # Anserini file name, e.g. topics.dl19-passage.txt
    qrels_file: str | None = None
    pyserini_topics: str | None = None  # name for pyserini.search.get_topics (bundled in the Anserini jar)
    pyserini_qrels: str | None = None  # name for pyserini.search.get_qrels_file (downloaded once)
    topics: int | None = None  # expected number of topics
    qrels: int | None = None  # expected number of judgments
    judged_topics: int | None = None
    family: str = "generic"  # msmarco | trec-dl | beir | trec | generic: picks default metrics


def registry_path() -> Path:
    """``$LEAD_IR_TOPIC_REGISTRY``, else the registry shipped inside the package."""
    return Path(os.environ.get("LEAD_IR_TOPIC_REGISTRY", resource("registry.yaml")))


@cache
def load_registry(path: str | None = None) -> dict[str, TopicSet]:
    path = Path(path) if path else registry_path()
    if not path.exists():
        return {}
    from dataclasses import fields as dataclass_fields

    from lead_ir.fileio import read_yaml

    raw = read_yaml(path, what="topic registry", fix="fix the file or point LEAD_IR_TOPIC_REGISTRY elsewhere")
    known = [f.name for f in dataclass_fields(TopicSet) if f.name != "name"]
    out = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise LeadIRError(f"{path}: topic set '{name}' must be a mapping of fields ({', '.join(known)}); fix "
                              f"its entry")
        for key in entry:
            if key not in known:
                raise LeadIRError(f"{path}: topic set '{name}' has unknown field '{key}'{closest(str(key), known)}; "
                                  f"fields are {', '.join(known)}")
        out[str(name)] = TopicSet(name=str(name), **entry)
    return out


def get_topic_set(name: str) -> TopicSet:
    registry = load_registry()
    if name not in registry:
        raise LeadIRError(f"unknown topic set '{name}'{closest(name, registry)}; known: {', '.join(sorted(registry))}")
    return registry[name]


def search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("LEAD_IR_TOPICS_DIR", "").split(os.pathsep) if p]
    dirs += [REPO_ROOT / "topics", Path.home() / ".cache" / "pyserini" / "topics-and-qrels"]
    return dirs


def find_file(file_name: str) -> Path | None:
    for folder in search_dirs():
        for candidate in (folder / file_name, folder / f"{file_name}.gz"):
            if candidate.is_file():
                return candidate
    return None
