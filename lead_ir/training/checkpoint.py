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
from lead_ir.fileio import atomic_path, read_json, write_json

STATE_FILE = "trainer_state.json"


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
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
    try:
        blob = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
    except (OSError, RuntimeError) as exc:
        raise LeadIRError(f"{path}: unreadable checkpoint ({exc}); delete it to resume from an earlier one") from None
    module.load_state_dict(blob["model"])
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    set_rng_state(blob["rng"])
    return read_json(path / STATE_FILE)
