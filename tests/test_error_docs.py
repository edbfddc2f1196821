"""docs/errors.md lists every error the toolkit raises on purpose (generated from the source)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_error_catalogue_is_current():
    out = subprocess.run([sys.executable, str(REPO / "tools" / "error_catalog.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_catalogue_has_the_documented_errors():
    text = (REPO / "docs" / "errors.md").read_text()
    for fragment in ("duplicate document id", "no Java >= {MIN_JAVA} found", "out of disk space", "unknown config key",
                     "built from a different corpus", "not a Lucene index"):
        assert fragment in text, fragment
