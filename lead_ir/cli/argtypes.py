"""Argument types for the command line: numbers are checked when the arguments are parsed,
before any corpus, model, JVM or index is touched, so a bad value is one line, never a
Java, FAISS or torch exception.

``build_parser`` also wraps every option still declared with a bare ``type=int`` (non-negative)
or ``type=float`` (finite), so an option added later cannot skip the check.
"""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type) -> int | float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        noun = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (k, batch sizes, threads, chunk sizes, depths, ...)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (>= 1), got {text!r}")
    return value


def nonneg_int(text: str) -> int:
    """An integer >= 0 (seeds, decimals, counts that may be zero)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (no nan or inf)."""
    return _number(text, float)


def nonneg_float(text: str) -> float:
    """A finite number >= 0 (weights, BM25 k1, ...)."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (grid steps, ...)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def unit_float(text: str) -> float:
    """A number in [0, 1] (BM25 b, ...)."""
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in (0, 1] (fractions of a query set)."""
    value = _number(text, float)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1], got {text!r}")
    return value


def probability(text: str) -> float:
    """A number strictly between 0 and 1 (significance levels)."""
    value = _number(text, float)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text!r}")
    return value


def digits(text: str) -> int:
    """Decimals to print: 0 to 15."""
    value = _number(text, int)
    if not 0 <= value <= 15:
        raise argparse.ArgumentTypeError(f"must be between 0 and 15, got {text!r}")
    return value


def harden(parser: argparse.ArgumentParser) -> None:
    """Replace bare ``int``/``float`` types of ``parser``'s options by checked ones (see the module doc)."""
    for action in parser._actions:
        if action.type is int:
            action.type = nonneg_int
        elif action.type is float:
            action.type = finite_float
