"""Quiet by default: Anserini/JVM chatter shows only with --verbose; every --help shows defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lead_ir.cli import build_parser

NOISE = ("INFO  [main]", "sun.misc.Unsafe", "Using incubator modules", "MMapDirectory")


def _lead_ir(*args: str, cwd) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "lead_ir", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.slow  # three CLI subprocesses, each starting a JVM
@pytest.mark.java
def test_anserini_and_jvm_logs_hidden_unless_verbose(toy_collection, tmp_path):
    from lead_ir.jvm import find_java

    corpus, topics = str(toy_collection["corpus"]), str(toy_collection["topics"])
    index = _lead_ir("index", "bm25", "--corpus", corpus, "--index", "idx", cwd=tmp_path)
    search = _lead_ir("search", "bm25", "--index", "idx", "--topics", topics, "--output", "r.trec", cwd=tmp_path)
    for done in (index, search):
        shown = [n for n in NOISE if n in done.stdout + done.stderr]
        assert not shown, f"third-party noise by default: {shown}"
    loud = _lead_ir("-v", "index", "bm25", "--corpus", corpus, "--index", "idx2", cwd=tmp_path)
    assert "INFO  [main]" in loud.stdout + loud.stderr  # the control: --verbose keeps Anserini's log
    if find_java().version >= 23:
        assert "sun.misc.Unsafe" in loud.stdout + loud.stderr


def _subparsers(parser):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for sub in action.choices.values():
                yield sub
                yield from _subparsers(sub)


def test_every_help_shows_defaults_and_no_escaped_percent():
    subs = list(_subparsers(build_parser()))
    assert len(subs) > 10
    for sub in subs:
        text = sub.format_help()
        assert "%%" not in text, sub.prog
        has_default = [a for a in sub._actions if a.option_strings and a.default not in (None, False)
                       and a.help and not isinstance(a.default, bool) and a.dest != "help"]
        if has_default:
            assert "(default:" in text or "default" in text, sub.prog
    assert "95% CIs" in next(s for s in subs if s.prog.endswith(" compare")).format_help()
    assert "(default: 1000)" in next(s for s in subs if s.prog.endswith("search dense")).format_help()


@pytest.mark.data
def test_ir_datasets_info_lines_hidden_when_quiet(irds_home, tmp_path):
    """ir_datasets re-sets its loggers to INFO when they first log: quiet mode must still hide its cache paths."""
    script = ("import sys\nfrom lead_ir.log import quiet_third_party\nif sys.argv[1] == 'quiet': quiet_third_party()\n"
              "from lead_ir.data.collections import iter_corpus\n"
              "print(sum(1 for _ in iter_corpus('irds:beir/scifact/test')))\n")
    runs = {mode: subprocess.run([sys.executable, "-c", script, mode], cwd=tmp_path, capture_output=True, text=True,
                                 timeout=300) for mode in ("quiet", "loud")}
    assert all(done.returncode == 0 and done.stdout.strip() == "5183" for done in runs.values()), runs
    assert "[INFO]" not in runs["quiet"].stderr, runs["quiet"].stderr
    assert "[INFO]" in runs["loud"].stderr  # the control: without quiet mode ir_datasets still reports
