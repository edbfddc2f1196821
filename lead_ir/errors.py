"""User-facing errors.

Every error the toolkit raises on purpose is a :class:`LeadIRError`: the CLI prints its
message as one line and exits with code 2 (no traceback unless ``--debug``). Messages say
what was wrong, where (file and line when there is one) and what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class LeadIRError(Exception):
    """A problem with the user's input, files or environment (exit code 2)."""

    def __str__(self) -> str:
        # One line, always: messages quote library errors and file content, which may hold newlines.
        return " ".join(super().__str__().split())


class InputFormatError(LeadIRError):
    """A malformed input file: names the file, the line, what was expected and found."""

    def __init__(self, path: object, line_no: int | None, problem: str, fix: str = ""):
        where = f"{path}:{line_no}" if line_no is not None else f"{path}"
        msg = f"{where}: {problem}"
        if fix:
            msg += f"; {fix}"
        super().__init__(msg)
        self.path, self.line_no = path, line_no


class ConfigError(LeadIRError):
    """An unknown or invalid configuration key or value."""


class JavaNotFoundError(LeadIRError):
    """No JDK >= 21 could be found for Pyserini."""


class IndexMismatchError(LeadIRError):
    """An index does not match the encoder, corpus or docid file it is used with."""


def closest(name: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest of ``choices``, or '' when none is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""
