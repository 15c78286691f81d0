"""Checking what a user passes on the command line: option values and the files named.

The ``*_arg`` functions are argparse ``type=`` callables: a value out of range (or
``nan``/``inf`` where a finite number is meant) is an argparse error, so the command
exits 2 with one line naming the option. :func:`read_text` and :func:`read_json` read a
user's file and turn undecodable bytes, malformed or absurdly nested JSON into a
:class:`ConversionError` naming the file.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accord.core._toml import decode_utf8
from accord.core.errors import ConversionError

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None


def float_in(low: float, high: float, *, low_open: bool = False, high_open: bool = False
             ) -> Callable[[str], float]:
    """A ``type=`` for a finite float in [low, high] (either end open when asked)."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"

    def parse(text: str) -> float:
        v = _number(text)
        if v < low or v > high or (low_open and v == low) or (high_open and v == high):
            raise argparse.ArgumentTypeError(f"expected a number in {lo}{low:g}, {high:g}{hi}, got {text!r}")
        return v

    parse.__name__ = "number"
    return parse


def int_at_least(low: int) -> Callable[[str], int]:
    """A ``type=`` for an integer >= ``low``."""

    def parse(text: str) -> int:
        v = _integer(text)
        if v < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
        return v

    parse.__name__ = "integer"
    return parse


def positive_float_arg(text: str) -> float:
    """A finite number > 0 (seconds, rates)."""
    v = _number(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


#: ``--seed``: numpy's generators take non-negative integers only.
seed_arg = int_at_least(0)
#: Counts of things that must exist: items, lots, replicates, ids.
positive_int_arg = int_at_least(1)
#: Counts that may be zero: defects found.
count_arg = int_at_least(0)
#: Probabilities, shares and scores in [0, 1].
unit_interval_arg = float_in(0.0, 1.0)
#: Agreement coefficients and thresholds on them (kappa and alpha reach below 0).
agreement_arg = float_in(-1.0, 1.0)


def run_id_arg(text: str) -> str:
    """A run id: 1-64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit."""
    if not _RUN_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit), got {text[:80]!r}; "
            "e.g. --run-id 2024-06-01")
    return text


def read_text(path: Path, *, what: str) -> str:
    """The file's text, decoded as UTF-8; else a :class:`ConversionError` with the byte offset."""
    return str(decode_utf8(path.read_bytes(), what=f"{what} {str(path)!r}", error=ConversionError))


def read_json(path: Path, *, what: str) -> Any:
    """The file parsed as JSON; every way it can be unreadable is one :class:`ConversionError`."""
    text = read_text(path, what=what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        open_at_end = _unclosed_at_end(text)
        cut = (f"; the file ends (line {text.count(chr(10)) + 1}) inside an unclosed {open_at_end}: it looks "
               "truncated" if open_at_end else "")
        raise ConversionError(f"{what} {str(path)!r} is not valid JSON: {e.msg} at line {e.lineno} column "
                              f"{e.colno}{cut}") from None
    except RecursionError:
        raise ConversionError(f"{what} {str(path)!r} is nested too deeply to read") from None
    except ValueError as e:  # e.g. an integer literal with thousands of digits
        raise ConversionError(f"{what} {str(path)!r} is not usable JSON: {e}") from None


def _unclosed_at_end(text: str) -> str | None:
    """What is still open where ``text`` ends (``string``, ``array``, ``object``), or None."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append("array" if ch == "[" else "object")
        elif ch in "]}" and stack:
            stack.pop()
    if in_string:
        return "string"
    return stack[-1] if stack else None


def read_previous_report(path: Path) -> dict[str, Any]:
    """An earlier ``report.json`` (for ``--previous``), checked for the part the trend reads:
    ``errors.counts.by_category``, a table of category -> count."""
    data = read_json(path, what="--previous report")
    where = f"--previous {str(path)!r}"
    if not isinstance(data, dict):
        raise ConversionError(f"{where}: expected an accord report.json (a JSON object), got a "
                              f"{type(data).__name__}; pass the report.json an earlier 'accord report --json' wrote")
    node: Any = data
    for key in ("errors", "counts", "by_category"):
        node = node.get(key, {}) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ConversionError(f"{where}: field {key!r} (errors.counts.by_category) must be an object, got "
                                  f"{type(node).__name__}; is this an accord report.json?")
    for name, count in node.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ConversionError(f"{where}: errors.counts.by_category[{name!r}] must be a count (a whole number "
                                  f">= 0), got {count!r}")
    return data
