"""Run-length encoding of binary masks, COCO style (uncompressed and compressed strings).

``encode`` turns a 2-D boolean array into counts: alternating runs of 0 and 1,
starting with 0, over the pixels in column-major (Fortran) order, the order
pycocotools uses. ``decode`` is its inverse. ``to_coco_string`` /
``from_coco_string`` speak COCO's compressed LEB128-like string form.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .errors import InvalidAnnotationError
from .limits import check_limit


def encode(mask: npt.ArrayLike) -> tuple[int, ...]:
    """Counts for a 2-D binary mask (column-major runs, starting with a 0-run)."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InvalidAnnotationError(f"a mask must be 2-D (height, width), got shape {m.shape}")
    flat = m.astype(bool).ravel(order="F")
    if flat.size == 0:
        return ()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds)
    if flat[0]:
        runs = np.concatenate(([0], runs))
    return tuple(int(r) for r in runs)


def decode(counts: tuple[int, ...] | list[int], height: int, width: int) -> npt.NDArray[np.bool_]:
    """The (height, width) boolean mask for ``counts``.

    Raises:
        LimitExceededError: ``height * width`` is over :attr:`InputLimits.max_raster_pixels
            <accord.core.limits.InputLimits.max_raster_pixels>` (``accord --max-image-pixels``);
            checked before anything is allocated.
        InvalidAnnotationError: the counts do not sum to ``height * width``.
    """
    check_limit("max_raster_pixels", int(height) * int(width), f"the mask to decode is {height}x{width} =",
                unit=" pixels")
    c = np.asarray(counts, dtype=np.int64)
    if c.sum() != height * width:
        raise InvalidAnnotationError(
            f"RLE counts sum to {int(c.sum())}, expected {height}*{width} = {height * width}"
        )
    values = np.zeros(c.size, dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, c)
    return flat.reshape((height, width), order="F")


def to_coco_string(counts: tuple[int, ...] | list[int]) -> str:
    """COCO's compressed RLE string (as pycocotools' ``rleToString``)."""
    out = []
    cnts = list(counts)
    for i, c in enumerate(cnts):
        x = int(c)
        if i > 2:
            x -= int(cnts[i - 2])
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def from_coco_string(s: str) -> tuple[int, ...]:
    """Inverse of :func:`to_coco_string` (pycocotools' ``rleFrString``)."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x = 0
        k = 0
        more = True
        while more:
            if p >= len(s):
                raise InvalidAnnotationError(f"truncated COCO RLE string {s!r}")
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return tuple(counts)
