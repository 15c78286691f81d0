"""IoU and Dice of binary masks computed on their run-length encodings, and polygon-vs-mask IoU.

Masks are :class:`~accord.core.model.Mask` values: COCO uncompressed RLE,
runs of 0 and 1 (starting with 0) over the pixels in column-major order. The
foreground of a mask is a sorted list of disjoint half-open intervals of pixel
indices; the overlap of two such lists is found with binary search
(``searchsorted``) on the cumulative foreground count, so no mask is ever
decoded and the cost depends on the number of runs, not on the image size.
Results are exact integers, identical to ``pycocotools.mask.iou`` with
``iscrowd=0``.

Polygons are rasterized by the pixel-centre rule (pixel ``(row, col)`` is
inside when its centre ``(col + 0.5, row + 0.5)`` is, even-odd), column by
column, which yields column-major runs directly. COCO's ``frPyObjects``
rasterizes differently (it upsamples the boundary 5x), so a polygon's pixel
set here can differ from COCO's by pixels on the boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError, LimitExceededError
from ..limits import check_limit
from ..model import Mask, Polygon
from .base import FloatArray
from .registry import register_cross_similarity, register_similarity

IntArray = npt.NDArray[np.int64]
Metric = Literal["iou", "dice"]

__all__ = [
    "MAX_SCANLINE_CROSSINGS",
    "check_raster",
    "mask_intervals",
    "mask_similarity_matrix",
    "polygon_intervals",
    "polygon_mask_similarity_matrix",
]


def mask_intervals(counts: Sequence[int]) -> tuple[IntArray, IntArray]:
    """Foreground intervals ``[start, end)`` (column-major pixel indices) of COCO RLE counts."""
    c = np.asarray(counts, dtype=np.int64)
    if c.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    bounds = np.concatenate([[0], np.cumsum(c)])
    starts = bounds[1:-1:2]
    ends = bounds[2::2]
    keep = ends > starts
    return starts[keep], ends[keep]


def _overlap_row(sa: IntArray, ea: IntArray, sb: IntArray, eb: IntArray, owner: IntArray, m: int) -> FloatArray:
    """Overlap of one interval list ``a`` with each of ``m`` lists concatenated in ``sb``/``eb``.

    ``owner`` gives the list (0 .. m-1) of each ``b`` interval. Both are sorted, disjoint,
    half-open intervals; the pixels of ``a`` before an index ``t`` are found by binary search
    on ``a``'s starts and its cumulative lengths, so the cost is O(len(b) log len(a)).
    """
    if sa.size == 0 or sb.size == 0:
        return np.zeros(m)
    before = np.concatenate([[0], np.cumsum(ea - sa)])  # foreground of a before its interval k

    def covered(t: IntArray) -> IntArray:
        k = np.searchsorted(sa, t, side="right") - 1
        kk = np.maximum(k, 0)
        inside = np.minimum(t - sa[kk], ea[kk] - sa[kk])
        out: IntArray = np.where(k >= 0, before[kk] + inside, 0)
        return out

    result: FloatArray = np.bincount(owner, weights=covered(eb) - covered(sb), minlength=m).astype(np.float64)
    return result


def _inter_matrix(ia: Sequence[tuple[IntArray, IntArray]], ib: Sequence[tuple[IntArray, IntArray]]) -> FloatArray:
    """(n, m) pixel counts of the overlap of every pair of interval lists (one loop over the rows)."""
    n, m = len(ia), len(ib)
    if n > m:  # loop over the shorter side
        flipped: FloatArray = _inter_matrix(ib, ia).T
        return flipped
    sb = np.concatenate([s for s, _ in ib]) if m else np.zeros(0, np.int64)
    eb = np.concatenate([e for _, e in ib]) if m else np.zeros(0, np.int64)
    owner = np.repeat(np.arange(m), [s.size for s, _ in ib])
    out = np.zeros((n, m))
    for i, (sa, ea) in enumerate(ia):
        out[i] = _overlap_row(sa, ea, sb, eb, owner, m)
    return out


def _check_masks(values: Sequence[Mask], role: str) -> None:
    for i, v in enumerate(values):
        if not isinstance(v, Mask):
            raise InvalidAnnotationError(
                f"{role}[{i}] should be a Mask value, got {type(v).__name__}; pass only masks"
            )


def _ratio(inter: FloatArray, area_a: FloatArray, area_b: FloatArray, metric: Metric) -> FloatArray:
    if metric == "iou":
        denom = area_a[:, None] + area_b[None, :] - inter
        num = inter
    elif metric == "dice":
        denom = area_a[:, None] + area_b[None, :]
        num = 2 * inter
    else:
        raise InvalidAnnotationError(f"metric must be 'iou' or 'dice', got {metric!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), 0.0)
    return out


def mask_similarity_matrix(reference: Sequence[Mask], candidate: Sequence[Mask], *,
                           metric: Metric = "iou") -> FloatArray:
    """IoU (or Dice) between every reference and candidate mask, computed on the runs.

    Args:
        reference: ``n`` :class:`~accord.core.model.Mask` values.
        candidate: ``m`` masks, all the same size as the reference masks.
        metric: ``"iou"`` or ``"dice"``.

    Returns:
        (n, m) in [0, 1]; exact; symmetric; two empty masks give 0 (as pycocotools).

    Raises:
        InvalidAnnotationError: If two masks compared have different sizes.

    >>> from accord.core.model import Mask
    >>> a = Mask(label="x", height=2, width=2, counts=(0, 2, 2))  # left column
    >>> b = Mask(label="x", height=2, width=2, counts=(1, 2, 1))  # rows 1, 0 of cols 0, 1
    >>> float(mask_similarity_matrix([a], [b])[0, 0])
    0.3333333333333333
    """
    _check_masks(reference, "reference")
    _check_masks(candidate, "candidate")
    n, m = len(reference), len(candidate)
    if n == 0 or m == 0:
        return np.zeros((n, m))
    sizes = {(v.height, v.width) for v in (*reference, *candidate)}
    if len(sizes) > 1:
        raise InvalidAnnotationError(
            f"masks compared must share one image size (height, width), got {sorted(sizes)}; "
            "resize or re-encode the masks to the same image first"
        )
    ia = [mask_intervals(v.counts) for v in reference]
    ib = [mask_intervals(v.counts) for v in candidate]
    area_a = np.array([float(np.sum(e - s)) for s, e in ia])
    area_b = np.array([float(np.sum(e - s)) for s, e in ib])
    return _ratio(_inter_matrix(ia, ib), area_a, area_b, metric)


#: The most scanline crossings one polygon's rasterization may produce (about 40 bytes each of
#: working memory): a simple polygon has a few per pixel column; only one that zigzags
#: across the whole image thousands of times comes near it.
MAX_SCANLINE_CROSSINGS = 20_000_000


def check_raster(height: int, width: int, what: str) -> None:
    """Refuse an image larger than :attr:`InputLimits.max_raster_pixels
    <accord.core.limits.InputLimits.max_raster_pixels>` before anything is sized by it.

    Raises:
        LimitExceededError: naming the size and the ``accord --max-image-pixels`` option.
    """
    check_limit("max_raster_pixels", int(height) * int(width), f"{what} is {height}x{width} =", unit=" pixels")


def polygon_intervals(points: npt.ArrayLike, height: int, width: int) -> tuple[IntArray, IntArray]:
    """Column-major foreground intervals of a polygon rasterized on a ``height x width`` grid.

    Pixel ``(r, c)`` is inside when its centre ``(c + 0.5, r + 0.5)`` is inside the polygon
    (even-odd rule); pixels outside the image are dropped. Work and memory grow with the
    number of (edge, pixel column) crossings, not with the image size or vertices x columns.

    Raises:
        LimitExceededError: more points than ``max_polygon_points``, an image larger than
            ``max_raster_pixels`` (:mod:`accord.core.limits`), or more than
            :data:`MAX_SCANLINE_CROSSINGS` crossings.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    check_limit("max_polygon_points", len(p), "the polygon to rasterize has", unit=" points")
    check_raster(height, width, "the image to rasterize the polygon on")
    if height <= 0 or width <= 0 or len(p) < 3:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    x0, y0 = p[:, 0], p[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    # Edge k crosses the centre line of column c when exactly one end is <= c + 0.5, that is
    # min(x) <= c + 0.5 < max(x): columns ceil(min - 0.5) .. ceil(max - 0.5) - 1, clipped.
    with np.errstate(invalid="ignore"):
        lo_x, hi_x = np.minimum(x0, x1), np.maximum(x0, x1)
        first = np.clip(np.ceil(lo_x - 0.5), 0, width)
        stop = np.clip(np.ceil(hi_x - 0.5), 0, width)
    n_cross = np.where(np.isfinite(first) & np.isfinite(stop), np.maximum(stop - first, 0), 0).astype(np.int64)
    total = int(n_cross.sum())
    if total > MAX_SCANLINE_CROSSINGS:
        raise LimitExceededError(
            f"the polygon ({len(p)} points) crosses pixel columns {total:,} times on the {height}x{width} image, "
            f"over the limit of {MAX_SCANLINE_CROSSINGS:,}; simplify the polygon (it zigzags across the image) "
            "or lower --max-polygon-points to refuse such inputs earlier",
            limit="max_scanline_crossings", value=total, maximum=MAX_SCANLINE_CROSSINGS)
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    edge = np.repeat(np.arange(len(p)), n_cross)
    col = np.repeat(first.astype(np.int64), n_cross) + (np.arange(total) - np.repeat(np.cumsum(n_cross) - n_cross,
                                                                                        n_cross))
    xc = col + 0.5
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = y0[edge] + (xc - x0[edge]) * ((y1[edge] - y0[edge]) / (x1[edge] - x0[edge]))
    order = np.lexsort((y, col))
    col, y = col[order], y[order]
    # Within a column, crossings sorted by y pair up (y[2k], y[2k+1]) to bound the inside;
    # rows r with r + 0.5 in [lo, hi) are filled. An odd last crossing is unpaired.
    new_col = np.concatenate([[True], col[1:] != col[:-1]])
    starts = np.flatnonzero(new_col)
    size = np.diff(np.concatenate([starts, [col.size]]))
    rank = np.arange(col.size) - np.repeat(starts, size)
    left = np.flatnonzero((rank % 2 == 0) & (rank + 1 < np.repeat(size, size)))
    c = col[left]
    r0 = np.clip(np.ceil(y[left] - 0.5), 0, height).astype(np.int64)
    r1 = np.clip(np.ceil(y[left + 1] - 0.5), 0, height).astype(np.int64)
    ok = r1 > r0
    base = c[ok] * height
    starts_px = base + r0[ok]
    ends_px = base + r1[ok]
    order = np.argsort(starts_px, kind="stable")
    s, e = starts_px[order], ends_px[order]
    if s.size > 1:  # merge intervals that touch (the end of one column and the top of the next)
        gap = s[1:] > e[:-1]
        first_i = np.concatenate([[True], gap])
        last_i = np.concatenate([gap, [True]])
        s, e = s[first_i], e[last_i]
    return s.astype(np.int64), e.astype(np.int64)


def polygon_mask_similarity_matrix(reference: Sequence[Polygon], candidate: Sequence[Mask], *,
                                   metric: Metric = "iou") -> FloatArray:
    """IoU (or Dice) of reference polygons against candidate masks, polygons rasterized on the mask grid.

    Args:
        reference: ``n`` :class:`~accord.core.model.Polygon` values, in pixels.
        candidate: ``m`` masks, all of one size.
        metric: ``"iou"`` or ``"dice"``.

    Returns:
        (n, m) in [0, 1]; approximate to the pixel grid (pixel-centre rule, see the module notes).
    """
    for i, v in enumerate(reference):
        if not isinstance(v, Polygon):
            raise InvalidAnnotationError(f"reference[{i}] should be a Polygon value, got {type(v).__name__}")
    _check_masks(candidate, "candidate")
    n, m = len(reference), len(candidate)
    if n == 0 or m == 0:
        return np.zeros((n, m))
    sizes = {(v.height, v.width) for v in candidate}
    if len(sizes) > 1:
        raise InvalidAnnotationError(f"candidate masks must share one image size, got {sorted(sizes)}")
    h, w = sizes.pop()
    ia = [polygon_intervals(p.points, h, w) for p in reference]
    ib = [mask_intervals(v.counts) for v in candidate]
    area_a = np.array([float(np.sum(e - s)) for s, e in ia])
    area_b = np.array([float(np.sum(e - s)) for s, e in ib])
    return _ratio(_inter_matrix(ia, ib), area_a, area_b, metric)


def _mask_polygon_similarity_matrix(reference: Sequence[Mask], candidate: Sequence[Polygon], *,
                                    metric: Metric = "iou") -> FloatArray:
    out: FloatArray = polygon_mask_similarity_matrix(candidate, reference, metric=metric).T
    return out


register_similarity(Mask.kind, mask_similarity_matrix)
register_cross_similarity(Polygon.kind, Mask.kind, polygon_mask_similarity_matrix)
register_cross_similarity(Mask.kind, Polygon.kind, _mask_polygon_similarity_matrix)
