"""A small stage runner: cached, resumable stages with manifests, ``--force`` and ``--dry-run``.

Each stage writes into ``<root>/stages/<name>/`` and finishes by writing ``manifest.json``
(its key hash, the key hashes of the stages it read, versions, wall time, outputs). A stage is
done when its manifest exists and its key — its own config slice plus its inputs' keys —
matches; a changed config re-runs the stage and, through the keys, everything downstream.
Stages marked ``resumable`` (training) keep their partial folder so a killed run continues
from its last checkpoint; other stages build in a temporary folder renamed into place. A
resumable stage records its key hash when it starts (``started.json``), so a partial folder
left by another config is started afresh, never resumed.
"""

from __future__ import annotations

import fnmatch
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lead_ir.config import config_hash
from lead_ir.errors import LeadIRError
from lead_ir.fileio import atomic_path, made_parents, read_json, write_json

logger = logging.getLogger(__name__)
MANIFEST = "manifest.json"
STARTED = "started.json"  # a resumable stage's key hash, written when it starts


@dataclass
class Stage:
    name: str
    run: Callable[[Path], dict]  # gets its output folder; returns a JSON-able summary of its outputs
    deps: tuple[str, ...] = ()
    key: Any = None  # the config slice that determines this stage's output
    resumable: bool = False
    description: str = ""
    # under torchrun: True runs the stage on every process (DDP training, sharded encoding; it must be
    # resumable, as all processes share its folder); False runs it on rank 0 while the others wait
    parallel: bool = False


@dataclass
class ProcessGroup:
    """This process's place in a torchrun group; the default is a single process."""

    rank: int = 0
    world: int = 1
    barrier: Callable[[], None] = lambda: None


@dataclass
class StageStatus:
    stage: Stage
    state: str  # done | todo | stale | forced
    key_hash: str


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("lead_ir", "torch", "transformers", "pyserini", "faiss-cpu", "ranx", "ir_datasets"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# manifest.json: the entries the runner and the study read back, with their JSON types
MANIFEST_FIELDS = {"stage": str, "key_hash": str, "outputs": (dict, type(None)),
                   "wall_time_s": (int, float, type(None)),
                   "inputs": (dict, type(None))}


def read_manifest(path: Path) -> dict:
    """A stage's ``manifest.json``, checked: a damaged one is one line naming it (delete the stage folder to
    run the stage again)."""
    return read_json(path, what="stage manifest", fix=f"delete {path.parent} so the stage runs again",
                     fields=MANIFEST_FIELDS)  # no key_hash: a stale stage, run again


@dataclass
class Pipeline:
    root: Path
    stages: list[Stage] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        for stage in self.stages:
            missing = [d for d in stage.deps if d not in names[:names.index(stage.name)]]
            if missing:
                raise LeadIRError(f"stage {stage.name} depends on {missing}, which do not come before it")

    def folder(self, name: str) -> Path:
        return self.root / "stages" / name

    def manifest(self, name: str) -> dict | None:
        path = self.folder(name) / MANIFEST
        return read_manifest(path) if path.exists() else None

    def descendants(self, names: set[str]) -> set[str]:
        out = set(names)
        for stage in self.stages:  # stages are in dependency order
            if out & set(stage.deps):
                out.add(stage.name)
        return out

    def match(self, patterns: list[str]) -> set[str]:
        names = [s.name for s in self.stages]
        chosen = set()
        for pattern in patterns:
            hits = fnmatch.filter(names, pattern)
            if not hits:
                from lead_ir.errors import closest

                raise LeadIRError(f"--force {pattern}: no such stage{closest(pattern, names)}; "
                                  f"stages: {', '.join(names)}")
            chosen.update(hits)
        return chosen

    def plan(self, force: list[str] | None = None) -> list[StageStatus]:
        forced = self.descendants(self.match(force or []))
        keys: dict[str, str] = {}
        out = []
        for stage in self.stages:
            keys[stage.name] = config_hash({"key": stage.key, "deps": {d: keys[d] for d in stage.deps}})
            manifest = self.manifest(stage.name)
            if stage.name in forced:
                state = "forced"
            elif manifest is None:
                state = "stale" if self._started_with_another_key(stage.name, keys[stage.name]) else "todo"
            elif manifest.get("key_hash") != keys[stage.name]:
                state = "stale"
            else:
                state = "done"
            out.append(StageStatus(stage, state, keys[stage.name]))
        return out

    @staticmethod
    def _run_resumable(stage: Stage, folder: Path, key_hash: str | None):
        """Run ``stage`` in ``folder`` after recording ``key_hash`` (rank 0); a failure before the stage wrote
        anything takes the record back, so the folder is left empty (and removed)."""
        if key_hash is not None:
            write_json(folder / STARTED, {"key_hash": key_hash})
        try:
            return stage.run(folder)
        except BaseException:
            if key_hash is not None and [p.name for p in folder.iterdir()] == [STARTED]:
                (folder / STARTED).unlink()
            raise

    def _started_with_another_key(self, name: str, key_hash: str) -> bool:
        """Whether a partial folder of ``name`` was started under another key (its checkpoints are another
        config's); a folder without the record (an older layout) resumes as before."""
        path = self.folder(name) / STARTED
        if not path.exists():
            return False
        started = read_json(path, what="stage start record", fix=f"delete {path.parent} so the stage runs again",
                            fields={"key_hash": str})
        return started.get("key_hash") != key_hash

    def describe_plan(self, force: list[str] | None = None) -> str:
        lines = []
        for status in self.plan(force):
            action = "skip (done)" if status.state == "done" else f"run ({status.state})"
            deps = f" <- {', '.join(status.stage.deps)}" if status.stage.deps else ""
            lines.append(f"{status.stage.name:<28} {action:<16}{deps}")
        return "\n".join(lines)

    def run(self, force: list[str] | None = None, group: ProcessGroup | None = None) -> dict[str, dict]:
        """Run every stage that is not done; returns each stage's manifest.

        With a torchrun ``group``, every process plans alike; ``parallel`` stages run on all of them and
        the others on rank 0 alone, while the rest wait at a barrier; only rank 0 writes manifests.
        """
        group = group or ProcessGroup()
        main = group.rank == 0
        results = {}
        plan = self.plan(force)
        group.barrier()  # every process has read the manifests before rank 0 changes any
        for status in plan:
            stage, folder = status.stage, self.folder(status.stage.name)
            if status.state == "done":
                logger.info("stage %s: done, skipped", stage.name)
                results[stage.name] = self.manifest(stage.name)
                continue
            if group.world > 1 and stage.parallel and not stage.resumable:
                raise LeadIRError(f"stage {stage.name} runs on every process but is not resumable (shared folder)")
            if main and (status.state in ("forced", "stale") or (folder.exists() and not stage.resumable)):
                shutil.rmtree(folder, ignore_errors=True)
            group.barrier()
            start = time.perf_counter()
            manifest = None
            if main or stage.parallel:
                logger.info("stage %s: running%s", stage.name,
                            f" ({stage.description})" if stage.description else "")
                if stage.resumable:
                    with made_parents(folder / MANIFEST):  # a stage that fails having written nothing leaves no folder
                        outputs = self._run_resumable(stage, folder, status.key_hash if main else None)
                else:
                    with atomic_path(folder, is_dir=True) as tmp:
                        outputs = stage.run(tmp)
            if main:
                manifest = {"stage": stage.name, "key_hash": status.key_hash, "key": stage.key,
                            "inputs": {d: results[d]["key_hash"] for d in stage.deps}, "versions": versions(),
                            "wall_time_s": round(time.perf_counter() - start, 2), "outputs": outputs,
                            "finished_at": datetime.now(UTC).isoformat(timespec="microseconds")}
                write_json(folder / MANIFEST, manifest)
                logger.info("stage %s: finished in %.1fs", stage.name, manifest["wall_time_s"])
            group.barrier()
            results[stage.name] = manifest or self.manifest(stage.name)
        return results
