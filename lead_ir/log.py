"""Logging and progress bars.

Library modules log through ``logging.getLogger(__name__)``; only the CLI configures handlers.
Progress bars are tqdm bars that can be silenced globally (``--quiet``) and log a
``[finished] n in t`` line through ``tqdm.write`` so log lines never break a bar.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from typing import TypeVar

with warnings.catch_warnings():
    # In Jupyter without ipywidgets tqdm.auto falls back to text bars, as in a terminal, after a warning that
    # names the install path; the bars are the same either way, so the warning says nothing to the reader.
    warnings.filterwarnings("ignore", message="IProgress not found")
    from tqdm.auto import tqdm

T = TypeVar("T")
_QUIET = os.environ.get("LEAD_IR_QUIET", "") not in ("", "0")
_VERBOSE = int(os.environ.get("LEAD_IR_VERBOSE", "0") or 0)
logger = logging.getLogger("lead_ir")
# The JVM's one-off start-up notice for the incubator module Pyserini asks for.
_JVM_NOTICES = re.compile(r"^WARNING: Using incubator modules: ")
_JAVA_LOGGERS: list = []  # java.util.logging keeps loggers weakly: hold the ones whose level we set
_JAVA_QUIETED = False


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet


def verbosity() -> int:
    """0 by default; the CLI's ``-v`` count (or ``$LEAD_IR_VERBOSE``). Third-party noise shows only above 0."""
    return _VERBOSE


class _TqdmHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Configure the 'lead_ir' logger for the CLI (the library never calls this itself)."""
    global _VERBOSE
    set_quiet(quiet)
    _VERBOSE = verbose
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
        quiet_third_party()


def quiet_third_party() -> None:
    """Hide third-party chatter that says nothing to a user: numba's type-safety warnings (raised inside
    ranx's kernels), ir_datasets' INFO lines and bars, Hugging Face load bars. ``--verbose`` keeps them."""
    # NumbaTypeSafetyWarning ("unsafe cast from int64 to undefined..."), matched by text: numba is not imported yet.
    warnings.filterwarnings("ignore", message=r"(?s)\s*unsafe cast from")
    global _ir_datasets_level
    _ir_datasets_level = logging.WARNING
    logging.getLogger("ir_datasets").setLevel(logging.WARNING)
    # transformers' weight-loading bars follow huggingface_hub's switch, read when transformers is imported.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


_ir_datasets_level = logging.INFO  # WARNING once quiet_third_party ran


class _LevelFollowingCache(dict):
    """ir_datasets' logger cache, giving each logger put in it lead_ir's level for ir_datasets."""

    def __init__(self, loggers: dict) -> None:
        super().__init__(loggers)
        for found in self.values():
            self._follow(found)

    def __setitem__(self, name: str, found: logging.Logger) -> None:
        self._follow(found)
        super().__setitem__(name, found)

    @staticmethod
    def _follow(found: logging.Logger) -> None:
        found.setLevel(_ir_datasets_level)


def follow_ir_datasets_level() -> None:
    """Make ir_datasets' loggers obey the level :func:`quiet_third_party` chose.

    ir_datasets sets each of its loggers (the ``ir_datasets`` one included) to INFO when it first logs,
    with its own handler and no propagation, overriding any level set before, so "[INFO] Opening <cache
    path> ..." lines showed despite quiet mode; its (private) logger cache is the one place every such
    logger passes through.
    """
    import ir_datasets.log as irds_log

    cache = getattr(irds_log, "_logger_cache", None)
    if isinstance(cache, dict) and not isinstance(cache, _LevelFollowingCache):
        irds_log._logger_cache = _LevelFollowingCache(cache)


def jvm_options(java_version: int) -> list[str]:
    """Extra JVM options for a quiet start: Java 23+ warns on every ``sun.misc.Unsafe`` use by Lucene."""
    if _VERBOSE > 0:
        return []
    return ["--sun-misc-unsafe-memory-access=allow"] if java_version >= 23 else []


@contextlib.contextmanager
def jvm_start_messages() -> Iterator[None]:
    """While the JVM starts, drop its 'Using incubator modules' notice (stderr of the process, fd 2); any
    other output is replayed, so real start-up errors still show. A no-op with ``--verbose`` or once started."""
    if _VERBOSE > 0 or "jnius" in sys.modules:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines()
                    if not _JVM_NOTICES.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def quiet_java_logs() -> None:
    """Anserini's log4j INFO lines and Lucene's java.util.logging notices -> warnings and errors only.

    Called once the JVM runs (:func:`lead_ir.jvm.pyserini`); ``--verbose`` leaves Java's logging as it is.
    """
    global _JAVA_QUIETED
    if _JAVA_QUIETED or _VERBOSE > 0 or "jnius" not in sys.modules:
        return
    from jnius import autoclass

    try:
        configurator = autoclass("org.apache.logging.log4j.core.config.Configurator")
        level = autoclass("org.apache.logging.log4j.Level")
        configurator.setRootLevel(level.WARN)
        configurator.setLevel("io.anserini", level.WARN)
        jul, jul_level = autoclass("java.util.logging.Logger"), autoclass("java.util.logging.Level")
        for name in ("org.apache.lucene", "org.apache.lucene.store.MMapDirectory"):
            java_logger = jul.getLogger(name)
            java_logger.setLevel(jul_level.SEVERE)
            _JAVA_LOGGERS.append(java_logger)
    except Exception as exc:  # logging classes missing from a future Anserini: stay loud rather than fail
        logger.debug("could not quiet Java logging: %s", exc)
    _JAVA_QUIETED = True


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
