"""Logging and progress bars.

Library modules log through ``logging.getLogger(__name__)``; only the CLI configures handlers.
Progress bars are tqdm bars that can be silenced globally (``--quiet``) and log a
``[finished] n in t`` line through ``tqdm.write`` so log lines never break a bar.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
_QUIET = os.environ.get("LEAD_IR_QUIET", "") not in ("", "0")
logger = logging.getLogger("lead_ir")


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet


class _TqdmHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Configure the 'lead_ir' logger for the CLI (the library never calls this itself)."""
    set_quiet(quiet)
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger("lead_ir")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO))
    root.propagate = False
    # Hugging Face's load reports (e.g. an unused BERT pooler) are noise for CLI users; transformers
    # reads these when it is imported, so nothing heavy is imported here.
    if verbose <= 0:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it", **kwargs) -> Iterator[T]:
    """A tqdm bar over ``iterable`` that logs its count and rate when finished."""
    start = time.perf_counter()
    count = 0
    bar = tqdm(iterable, desc=desc, total=total, unit=unit, disable=_QUIET, dynamic_ncols=True,
               mininterval=1.0, leave=False, **kwargs)
    for item in bar:
        count += 1
        yield item
    bar.close()
    elapsed = time.perf_counter() - start
    logger.info("[finished] %s: %d %s in %.1fs (%.1f %s/s)", desc, count, unit, elapsed,
                count / max(elapsed, 1e-9), unit)


def progress_bar(total: int | None, desc: str, unit: str = "it", **kwargs) -> tqdm:
    """A manual tqdm bar (call ``update``) that honours ``--quiet``."""
    return tqdm(total=total, desc=desc, unit=unit, disable=_QUIET, dynamic_ncols=True, mininterval=1.0,
                leave=False, **kwargs)
