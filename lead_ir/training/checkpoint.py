"""Training checkpoints: model, optimizer, scheduler, RNG, data position and layer-sampler state.

Each checkpoint is a directory ``checkpoints/step-<N>`` written atomically; resuming picks the
highest complete one.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from lead_ir.errors import LeadIRError
from lead_ir.fileio import atomic_path, load_torch, read_json, write_json

STATE_FILE = "trainer_state.json"


def rng_state() -> dict:
    """Every RNG stream as tensors and plain lists, so ``state.pt`` loads with ``weights_only=True``."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": [int(version), torch.tensor(mt, dtype=torch.int64), gauss],
             "numpy": [str(kind), torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss),
                       float(cached)],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, mt, gauss = state["python"]
    random.setstate((int(version), tuple(int(x) for x in mt.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(root: Path, step: int, module: torch.nn.Module, optimizer, scheduler, trainer_state: dict,
                    keep: int) -> Path:
    """Write ``root/checkpoints/step-<step>`` and prune all but the newest ``keep``."""
    target = root / "checkpoints" / f"step-{step}"
    with atomic_path(target, is_dir=True) as tmp:
        torch.save({"model": module.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "rng": rng_state()}, tmp / "state.pt")
        write_json(tmp / STATE_FILE, trainer_state)
    for old in list_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(root: Path) -> list[Path]:
    found = [p for p in (root / "checkpoints").glob("step-*") if (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(re.sub(r"\D", "", p.name) or 0))


def load_checkpoint(path: Path, module: torch.nn.Module, optimizer, scheduler) -> dict:
    """Restore states in place; returns the trainer state (step, epoch, position, ...)."""
    state = read_trainer_state(path)  # first: a damaged file changes nothing
    blob = load_state_file(path / "state.pt")
    try:
        module.load_state_dict(blob["model"])
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        set_rng_state(blob["rng"])
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise LeadIRError(f"{path}: checkpoint does not match this model or config ({reason}); resume with the "
                          f"config that wrote it, or delete {path.parent} to start over") from None
    return state


# trainer_state.json: the entries resuming reads, with their JSON types
STATE_FIELDS = {"step": int, "epoch": int, "position": int, "best": (int, float, type(None)),
                "best_step": (int, type(None)), "selector": (dict, type(None)), "precision": (str, type(None))}


def read_trainer_state(path: Path) -> dict:
    """``<checkpoint>/trainer_state.json``, checked: a damaged one is one line naming it."""
    return read_json(path / STATE_FILE, what="trainer state", fix=_fix(path), fields=STATE_FIELDS,
                     required=("step", "epoch", "position"))


def _fix(path: Path) -> str:
    return f"delete {path} to resume from an earlier checkpoint (or {path.parent} to start over)"


def load_state_file(path: Path) -> dict:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers only, so a crafted
    pickle cannot run code; anything else is refused with one line."""
    blob = load_torch(path, "checkpoint", _fix(path.parent))
    if not isinstance(blob, dict) or not {"model", "optimizer", "scheduler", "rng"} <= set(blob):
        raise LeadIRError(f"{path}: not a lead_ir checkpoint (expected model, optimizer, scheduler and rng state); "
                          f"{_fix(path.parent)}")
    return blob
