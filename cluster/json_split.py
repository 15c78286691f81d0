"""Byte ranges of a JSON array file that split it between elements, found without decoding it.

A Label Studio export is one JSON array of tasks, often hundreds of MiB. To read one file on
many workers, :func:`array_splits` scans its bytes once (numpy, a few MiB at a time) for the
array's own commas: those outside every string (a quote counts unless an odd run of
backslashes precedes it) at nesting depth 1. The file is then cut at the commas nearest to
every ``target_bytes``; each range holds whole elements, and its first element's index in the
array is known, so a worker can number tasks as the whole-file reader does.

The scan does not validate JSON. A file that does not look like one array (a first byte other
than ``[``, unbalanced brackets, anything after the closing ``]``) gives ``None`` and is read
whole, where the JSON decoder says exactly what is wrong; a range that does not decode is
reported by its worker with the file and the byte range.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

__all__ = ["ArraySplit", "array_splits", "scan_array"]

_SCAN_BYTES = 1 << 22
_BOM = b"\xef\xbb\xbf"
_QUOTE, _BACKSLASH, _COMMA = 34, 92, 44
_OPEN = (91, 123)   # [ {
_CLOSE = (93, 125)  # ] }
_SPACE = frozenset(b" \t\n\r")


@dataclass(frozen=True, slots=True)
class ArraySplit:
    """Bytes ``[start, end)`` of the file: the elements ``first .. first + count - 1`` of the array,
    without the commas around them."""

    start: int
    end: int
    first: int
    count: int


@dataclass(frozen=True, slots=True)
class _Scan:
    open_at: int           # the byte of the array's '['
    close_at: int          # the byte of its ']'
    commas: npt.NDArray[np.int64]  # the array's own commas, in order


def _chunks(f: BinaryIO, size: int) -> Iterator[bytes]:
    while chunk := f.read(size):
        yield chunk


def scan_array(f: BinaryIO, *, chunk_bytes: int = _SCAN_BYTES) -> _Scan | None:
    """The top-level array's brackets and commas, or ``None`` when the file is not one array."""
    start = f.read(len(_BOM))
    offset = len(_BOM) if start == _BOM else 0
    f.seek(offset)
    in_string = False
    backslashes = 0  # the run of backslashes that ends the previous chunk
    depth = 0
    open_at = close_at = -1
    commas: list[npt.NDArray[np.int64]] = []
    pos = offset
    for chunk in _chunks(f, chunk_bytes):
        b = np.frombuffer(chunk, dtype=np.uint8)
        n = b.size
        idx = np.arange(n, dtype=np.int64)
        is_bs = b == _BACKSLASH
        # last index <= i that is not a backslash (a run carried over counts as before the chunk)
        last_non = np.maximum.accumulate(np.where(is_bs, np.int64(-1 - backslashes), idx))
        run_before = np.empty(n, dtype=np.int64)
        run_before[0] = backslashes
        run_before[1:] = idx[:-1] - last_non[:-1]
        quote = (b == _QUOTE) & (run_before % 2 == 0)
        q = np.cumsum(quote, dtype=np.int64)
        inside = (q % 2 == 1) != in_string  # for a non-quote byte: within a string
        structural = ~inside & ~quote
        delta = np.zeros(n, dtype=np.int64)
        delta[structural & ((b == _OPEN[0]) | (b == _OPEN[1]))] = 1
        delta[structural & ((b == _CLOSE[0]) | (b == _CLOSE[1]))] = -1
        level = depth + np.cumsum(delta)
        if level.size and int(level.min()) < 0:
            return None
        if open_at < 0:
            lead = np.flatnonzero(~np.isin(b, list(_SPACE)))
            if lead.size:
                first = int(lead[0])
                if b[first] != _OPEN[0]:
                    return None  # not an array
                open_at = pos + first
        if close_at < 0:
            zero = np.flatnonzero((delta != 0) & (level == 0))
            if zero.size:
                close_at = pos + int(zero[0])
        top = np.flatnonzero(structural & (b == _COMMA) & (level == 1))
        if close_at >= 0:
            top = top[top + pos < close_at]
        commas.append(top + pos)
        if close_at >= 0:
            break
        in_string = in_string != bool(q[-1] % 2) if n else in_string
        depth = int(level[-1]) if n else depth
        backslashes = n - 1 - int(last_non[-1])  # last_non < 0: the whole chunk was backslashes
        pos += n
    if open_at < 0 or close_at < 0:
        return None
    f.seek(close_at + 1)
    for chunk in _chunks(f, chunk_bytes):
        if chunk.strip(b" \t\n\r"):
            return None  # something after the array
    return _Scan(open_at=open_at, close_at=close_at,
                 commas=np.concatenate(commas) if commas else np.zeros(0, dtype=np.int64))


def array_splits(source: Path | str | BinaryIO, *, target_bytes: int) -> list[ArraySplit] | None:
    """Ranges of about ``target_bytes`` each, cut between the top-level array's elements.

    ``source`` is a path or a seekable binary file (an fsspec file of a remote export).
    ``None`` when the file is not one non-empty JSON array (the caller reads it whole). One range
    when it is smaller than about two targets.
    """
    if isinstance(source, (str, Path)):
        with Path(source).open("rb") as local:
            return array_splits(local, target_bytes=target_bytes)
    f = source
    scan = scan_array(f)
    if scan is None:
        return None
    # element k spans (bounds[k], bounds[k + 1]) exclusive of both: '[' or a comma, then a comma or ']'
    bounds = np.concatenate([[scan.open_at], scan.commas, [scan.close_at]]).astype(np.int64)
    f.seek(scan.open_at + 1)
    inner = f.read(min(4096, scan.close_at - scan.open_at - 1))
    if not bytes(inner).strip(bytes(_SPACE)) and scan.commas.size == 0:
        return None  # an empty array
    n_elements = bounds.size - 1
    size = scan.close_at - scan.open_at
    n_ranges = max(1, round(size / max(1, target_bytes)))
    if n_ranges == 1:
        return [ArraySplit(start=scan.open_at + 1, end=scan.close_at, first=0, count=n_elements)]
    # cut at the element boundary nearest each multiple of size / n_ranges
    wanted = scan.open_at + np.arange(1, n_ranges) * (size / n_ranges)
    cut = np.unique(np.clip(np.searchsorted(bounds, wanted), 1, n_elements - 1))
    edges = [0, *cut.tolist(), n_elements]
    out = []
    for a, z in itertools.pairwise(edges):
        if z > a:
            out.append(ArraySplit(start=int(bounds[a]) + 1, end=int(bounds[z]), first=a, count=z - a))
    return out
