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


def _bounded(kind: type, within, rule: str, doc: str):
    """A checked ``kind`` argument type: ``within(value)`` must hold, else "must be <rule>"."""
    def parse(text: str):
        value = _number(text, kind)
        if not within(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    parse.__doc__ = doc
    return parse


def finite_float(text: str) -> float:
    """Any finite number (no nan or inf)."""
    return _number(text, float)


positive_int = _bounded(int, lambda v: v >= 1, "a positive integer (>= 1)",
                        "An integer >= 1 (k, batch sizes, threads, chunk sizes, depths, ...).")
nonneg_int = _bounded(int, lambda v: v >= 0, "an integer >= 0", "An integer >= 0 (seeds, counts that may be zero).")
nonneg_float = _bounded(float, lambda v: v >= 0, "a number >= 0", "A finite number >= 0 (weights, BM25 k1, ...).")
positive_float = _bounded(float, lambda v: v > 0, "a number > 0", "A finite number > 0 (grid steps, ...).")
unit_float = _bounded(float, lambda v: 0 <= v <= 1, "between 0 and 1", "A number in [0, 1] (BM25 b, ...).")
fraction = _bounded(float, lambda v: 0 < v <= 1, "a fraction in (0, 1]",
                    "A number in (0, 1] (fractions of a query set).")
probability = _bounded(float, lambda v: 0 < v < 1, "strictly between 0 and 1",
                       "A number strictly between 0 and 1 (significance levels).")
digits = _bounded(int, lambda v: 0 <= v <= 15, "between 0 and 15", "Decimals to print: 0 to 15.")


def harden(parser: argparse.ArgumentParser) -> None:
    """Replace bare ``int``/``float`` types of ``parser``'s options by checked ones (see the module doc)."""
    for action in parser._actions:
        if action.type is int:
            action.type = nonneg_int
        elif action.type is float:
            action.type = finite_float
