"""Where lead_ir's data lives, and the shell lines that give Pyserini's own tools the same settings.

Data policy (one place, used by the CLI, notebooks and the Makefile alike): when
``IR_DATASETS_HOME`` is unset, lead_ir uses the clone's ``.cache/ir_datasets`` — a writable copy
of ``../shared/data/ir_datasets`` made on first use when that folder sits beside the repository
(ir_datasets writes next to its archives, so the shared copy is never used in place). Without
either, ir_datasets keeps its own default (``~/.ir_datasets``) and downloads as usual.
``ir_datasets`` fixes its folder when first imported, so :func:`configure_data_home` runs before
any import of ir_datasets or ranx (:func:`lead_ir.data.collections.load_irds`, the CLI).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
from pathlib import Path

from lead_ir.data.registry import REPO_ROOT

logger = logging.getLogger(__name__)

LOCAL_IRDS = REPO_ROOT / ".cache" / "ir_datasets"
SHARED_IRDS = REPO_ROOT.parent / "shared" / "data" / "ir_datasets"


def data_home() -> Path | None:
    """The ir_datasets folder lead_ir uses: ``$IR_DATASETS_HOME``, else the clone's cache (see module doc)."""
    if os.environ.get("IR_DATASETS_HOME"):
        return Path(os.environ["IR_DATASETS_HOME"])
    if LOCAL_IRDS.is_dir():
        return LOCAL_IRDS
    if SHARED_IRDS.is_dir():
        return LOCAL_IRDS  # copied on first use by configure_data_home
    return None


def configure_data_home() -> Path | None:
    """Set ``IR_DATASETS_HOME`` by the policy above (copying the shared cache once); returns it, or None."""
    if os.environ.get("IR_DATASETS_HOME"):
        return Path(os.environ["IR_DATASETS_HOME"])
    home = data_home()
    if home is None:
        return None
    if not home.is_dir():
        logger.info("copying %s to %s (a writable ir_datasets cache)", SHARED_IRDS, home)
        tmp = home.with_name(home.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(SHARED_IRDS, tmp)
        try:
            tmp.rename(home)
        except OSError:  # another process copied it first
            shutil.rmtree(tmp, ignore_errors=True)
    if "ir_datasets" in sys.modules:
        logger.warning("ir_datasets was imported before lead_ir set IR_DATASETS_HOME=%s; it may use another folder",
                       home)
    os.environ["IR_DATASETS_HOME"] = str(home)
    return home


def shell_exports() -> list[str]:
    """``export`` lines that make ``python -m pyserini.search.{faiss,lucene}`` run in a shell as lead_ir does."""
    from lead_ir import jvm

    runtime = jvm.find_java()
    lines = [f"export JAVA_HOME={shlex.quote(str(runtime.home))}",
             f'export PATH={shlex.quote(str(runtime.home / "bin"))}:"$PATH"',
             # pyserini 1.6 builds an OpenAI client on import, which fails without a key; none is ever used.
             'export OPENAI_API_KEY="${OPENAI_API_KEY:-unused-by-lead-ir}"']
    home = configure_data_home()
    if home is not None:
        lines.append(f"export IR_DATASETS_HOME={shlex.quote(str(home))}")
    if os.environ.get("NUMBA_CACHE_DIR"):
        lines.append(f"export NUMBA_CACHE_DIR={shlex.quote(os.environ['NUMBA_CACHE_DIR'])}")
    if not runtime.has_vector_module:
        lines.append(f"# {runtime.home} lacks {jvm.VECTOR_MODULE}, which Pyserini's own CLI asks the JVM for: "
                     f"install a JDK {jvm.MIN_JAVA}+ (lead-ir itself drops that option)")
    return lines
