"""Files shipped inside the package (``pyproject.toml`` declares ``resources/*.yaml`` as package data).

- ``registry.yaml``: the named topic/qrels sets (:mod:`lead_ir.data.registry`);
- ``quickstart.yaml``: the study ``lead-ir quickstart`` runs (``configs/quickstart.yaml`` is a copy kept
  equal by ``tests/test_packaging.py``, for users who start from ``configs/``).
"""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent


def resource(name: str) -> Path:
    """The path of a packaged resource file, e.g. ``resource("registry.yaml")``."""
    return RESOURCES / name
