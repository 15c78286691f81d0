"""Pairwise similarity of image regions (boxes, rotated boxes, polygons, polylines) and matching.

Every ``*_matrix`` function takes a reference sequence (``n`` values) and a
candidate sequence (``m`` values) and returns an ``(n, m)`` float64 matrix in
[0, 1], higher is more similar; :func:`match_regions` feeds that matrix to
:func:`accord.core.matching.base.match_similarity`. Coordinates are pixels
(see :mod:`accord.core.model`).

What is exact and what is approximate:

* Axis-aligned box IoU is exact (:func:`~accord.core.matching.base.box_iou_matrix`).
* Rotated box IoU is exact up to float rounding: the intersection of two
  convex quadrilaterals is the convex hull of the corners of each inside the
  other and the crossings of their edges; its area is the shoelace sum of
  those points in angular order (vectorized over all pairs).
* Polygon IoU / Dice is exact up to float rounding for simple polygons,
  convex or not: the plane is cut into horizontal slabs at every vertex and
  every crossing of an edge of one polygon with an edge of the other; inside a
  slab no two edges cross, so the covered length of the intersection is linear
  in y and the midpoint rule integrates it exactly. All pairs of a matrix are
  processed in a few vectorized batches, visiting only the edges that span
  each slab. Self-intersecting polygons are not supported (their own
  crossings are not slab bounds and their shoelace area is not their area);
  pass simple polygons.
* Polyline similarity is a documented OKS-like score, not an IoU
  (:func:`polyline_similarity_matrix`).

The registry (:mod:`accord.core.matching.registry`) maps each kind to its
matrix function; this module registers ``box``, ``polygon`` and ``polyline``;
:mod:`~accord.core.matching.masks`, :mod:`~accord.core.matching.keypoints`,
:mod:`~accord.core.matching.cuboids` (and the span, segment and track
modules) register theirs when imported; :func:`match_regions` imports them.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from ..limits import check_limit
from ..model import Box, Polygon, Polyline, value_label
from .base import FloatArray, MatchResult, box_iou_matrix, match_similarity
from .registry import get_similarity, register_similarity

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Metric = Literal["iou", "dice"]

__all__ = [
    "ImageMatchStats",
    "box_iou_matrix_values",
    "check_polygon_points",
    "convex_intersection_areas",
    "match_boxes_batched",
    "match_regions",
    "polygon_areas",
    "polygon_iou_matrix",
    "polygon_similarity_matrix",
    "polyline_similarity_matrix",
    "rotated_box_iou_matrix",
]


# --------------------------------------------------------------------------- helpers


def _check_type(values: Sequence[Any], cls: type[Any], role: str) -> None:
    for i, v in enumerate(values):
        if not isinstance(v, cls):
            raise InvalidAnnotationError(
                f"{role}[{i}] should be a {cls.__name__} value, got {type(v).__name__} {v!r}; "
                f"pass only {cls.kind} values (split mixed lists by kind first)"
            )


def _shoelace(points: FloatArray) -> FloatArray:
    """Signed areas of polygons stacked as (..., k, 2) (positive when counter-clockwise in x-right/y-up)."""
    x = points[..., 0]
    y = points[..., 1]
    result: FloatArray = 0.5 * np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1)
    return result


def convex_intersection_areas(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """Intersection area of convex quadrilaterals, pair by pair.

    Args:
        a: (p, 4, 2) corners of ``p`` convex quadrilaterals, in order (either orientation).
        b: (p, 4, 2) corners of their partners.

    Returns:
        (p,) intersection areas, >= 0. Degenerate (zero-area) quadrilaterals give 0.

    The intersection of two convex polygons is the convex polygon spanned by
    the corners of each that lie inside the other and the crossings of their
    edges; sorting those points by angle about their mean and applying the
    shoelace formula gives its area (the method of rotated-IoU kernels in
    detectron2 and mmcv, here in numpy).
    """
    A = np.asarray(a, dtype=np.float64)
    B = np.asarray(b, dtype=np.float64)
    p = A.shape[0]
    if p == 0:
        return np.zeros(0)
    # Orient both counter-clockwise (in a y-up frame: positive shoelace).
    A = np.where((_shoelace(A) < 0)[:, None, None], A[:, ::-1], A)
    B = np.where((_shoelace(B) < 0)[:, None, None], B[:, ::-1], B)
    scale = np.maximum(np.abs(A).reshape(p, -1).max(axis=1), np.abs(B).reshape(p, -1).max(axis=1))
    # Tolerances relative to the coordinate magnitude.
    span = np.maximum(np.ptp(np.concatenate([A, B], axis=1), axis=1).max(axis=1), 1e-300)
    eps = (1e-12 * np.maximum(scale, span))[:, None, None]

    def inside(poly: FloatArray, pts: FloatArray) -> BoolArray:
        # poly (p, 4, 2) ccw, pts (p, k, 2) -> (p, k): left of (or on) every edge.
        e0 = poly
        e1 = np.roll(poly, -1, axis=1)
        ex = (e1 - e0)[:, None, :, :]  # (p, 1, 4, 2)
        rel = pts[:, :, None, :] - e0[:, None, :, :]  # (p, k, 4, 2)
        cross = ex[..., 0] * rel[..., 1] - ex[..., 1] * rel[..., 0]
        length = np.hypot(ex[..., 0], ex[..., 1])
        ok: BoolArray = np.all(cross >= -eps * np.maximum(length, 1.0), axis=2)
        return ok

    a_in_b = inside(B, A)
    b_in_a = inside(A, B)
    # Edge crossings: every edge of A against every edge of B -> (p, 4, 4).
    a0 = A[:, :, None, :]
    a1 = np.roll(A, -1, axis=1)[:, :, None, :]
    b0 = B[:, None, :, :]
    b1 = np.roll(B, -1, axis=1)[:, None, :, :]
    r = a1 - a0
    s = b1 - b0
    denom = r[..., 0] * s[..., 1] - r[..., 1] * s[..., 0]
    qp = b0 - a0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[..., 0] * s[..., 1] - qp[..., 1] * s[..., 0]) / denom
        u = (qp[..., 0] * r[..., 1] - qp[..., 1] * r[..., 0]) / denom
    tol = 1e-12
    cross_ok = (denom != 0) & (t >= -tol) & (t <= 1 + tol) & (u >= -tol) & (u <= 1 + tol)
    t = np.where(cross_ok, t, 0.0)
    cross_pts = (a0 + t[..., None] * r).reshape(p, 16, 2)
    # Nearly parallel (e.g. collinear) edges give ill-conditioned crossings: keep only those
    # that really lie in both quadrilaterals.
    cross_valid = cross_ok.reshape(p, 16) & inside(A, cross_pts) & inside(B, cross_pts)
    pts = np.concatenate([A, B, cross_pts], axis=1)  # (p, 24, 2)
    valid = np.concatenate([a_in_b, b_in_a, cross_valid], axis=1)
    n_valid = valid.sum(axis=1)
    safe_n = np.maximum(n_valid, 1)
    centre = (pts * valid[..., None]).sum(axis=1) / safe_n[:, None]
    ang = np.arctan2(pts[..., 1] - centre[:, None, 1], pts[..., 0] - centre[:, None, 0])
    ang = np.where(valid, ang, np.inf)
    order = np.argsort(ang, axis=1, kind="stable")
    sorted_pts = np.take_along_axis(pts, order[..., None], axis=1)
    sorted_valid = np.take_along_axis(valid, order, axis=1)
    # Invalid slots (sorted last) repeat the first point: they add nothing to the shoelace sum.
    sorted_pts = np.where(sorted_valid[..., None], sorted_pts, sorted_pts[:, :1, :])
    area = np.abs(_shoelace(sorted_pts))
    out: FloatArray = np.where(n_valid >= 3, area, 0.0)
    return out


# --------------------------------------------------------------------------- boxes


def _box_arrays(values: Sequence[Box], role: str) -> tuple[FloatArray, FloatArray]:
    _check_type(values, Box, role)
    xywh = np.array([(b.x, b.y, b.width, b.height) for b in values], dtype=np.float64).reshape(-1, 4)
    rot = np.array([b.rotation for b in values], dtype=np.float64)
    return xywh, rot


def _corners(xywh: FloatArray, rotation_deg: FloatArray) -> FloatArray:
    """(n, 4, 2) corners, rotation about the centre, clockwise on screen (as :meth:`Box.corners`)."""
    cx = xywh[:, 0] + xywh[:, 2] / 2
    cy = xywh[:, 1] + xywh[:, 3] / 2
    hw = xywh[:, 2] / 2
    hh = xywh[:, 3] / 2
    lx = np.stack([-hw, hw, hw, -hw], axis=1)
    ly = np.stack([-hh, -hh, hh, hh], axis=1)
    t = np.radians(rotation_deg)[:, None]
    c, s = np.cos(t), np.sin(t)
    return np.stack([lx * c - ly * s + cx[:, None], lx * s + ly * c + cy[:, None]], axis=2)


def rotated_box_iou_matrix(reference: Sequence[Box], candidate: Sequence[Box]) -> FloatArray:
    """Exact IoU between every reference and candidate box, rotations included.

    Args:
        reference: ``n`` :class:`~accord.core.model.Box` values.
        candidate: ``m`` boxes.

    Returns:
        (n, m) IoU in [0, 1]; symmetric (``M(a, b) == M(b, a).T``); two
        zero-area boxes have IoU 0. Pairs whose circumscribed circles do not
        meet are 0 without clipping.

    >>> from accord.core.model import Box
    >>> a = Box(label="x", x=0, y=0, width=2, height=2)
    >>> b = Box(label="x", x=0, y=0, width=2, height=2, rotation=45)
    >>> round(float(rotated_box_iou_matrix([a], [b])[0, 0]), 6)  # 4 / (8 - 4(sqrt2-1))
    0.707107
    """
    ra, rot_a = _box_arrays(reference, "reference")
    ca, rot_b = _box_arrays(candidate, "candidate")
    n, m = len(ra), len(ca)
    out = np.zeros((n, m))
    if n == 0 or m == 0:
        return out
    if not rot_a.any() and not rot_b.any():
        return box_iou_matrix(_xyxy(ra), _xyxy(ca))
    pa = _corners(ra, rot_a)
    pb = _corners(ca, rot_b)
    centre_a = ra[:, :2] + ra[:, 2:] / 2
    centre_b = ca[:, :2] + ca[:, 2:] / 2
    rad_a = np.hypot(ra[:, 2], ra[:, 3]) / 2
    rad_b = np.hypot(ca[:, 2], ca[:, 3]) / 2
    dist = np.hypot(centre_a[:, None, 0] - centre_b[None, :, 0], centre_a[:, None, 1] - centre_b[None, :, 1])
    area_a = ra[:, 2] * ra[:, 3]
    area_b = ca[:, 2] * ca[:, 3]
    near = (dist <= rad_a[:, None] + rad_b[None, :]) & (area_a[:, None] > 0) & (area_b[None, :] > 0)
    ii, jj = np.nonzero(near)
    if ii.size:
        inter = convex_intersection_areas(pa[ii], pb[jj])
        union = area_a[ii] + area_b[jj] - inter
        out[ii, jj] = np.clip(inter / union, 0.0, 1.0)
    return out


def _xyxy(xywh: FloatArray) -> FloatArray:
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def box_iou_matrix_values(reference: Sequence[Box], candidate: Sequence[Box]) -> FloatArray:
    """IoU matrix of :class:`Box` values: axis-aligned fast path, exact rotated IoU otherwise.

    Same contract as :func:`rotated_box_iou_matrix` (which it is, registered as kind ``box``).
    """
    return rotated_box_iou_matrix(reference, candidate)


# --------------------------------------------------------------------------- polygons


def check_polygon_points(values: Sequence[Polygon], role: str) -> None:
    """Refuse a polygon with more vertices than :attr:`InputLimits.max_polygon_points
    <accord.core.limits.InputLimits.max_polygon_points>` (the work per pair grows with their product).

    Raises:
        LimitExceededError: naming the polygon and the ``accord --max-polygon-points`` option.
    """
    for i, v in enumerate(values):
        check_limit("max_polygon_points", len(v.points), f"polygon {role}[{i}] has", unit=" points")


def polygon_areas(values: Sequence[Polygon]) -> FloatArray:
    """Unsigned shoelace areas of simple polygons, (n,)."""
    return np.array([abs(float(_shoelace(np.asarray(p.points, dtype=np.float64)))) for p in values],
                    dtype=np.float64)


_CHUNK_ELEMENTS = 2_000_000  # working-set size (array elements) of one batch of polygon pairs


def _padded_edges(rings: Sequence[FloatArray]) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """x0, y0, x1, y1 of each ring's edges, (p, e) padded with NaN."""
    n_e = max(len(r) for r in rings)
    out = np.full((4, len(rings), n_e), np.nan)
    for k, r in enumerate(rings):
        out[0, k, :len(r)], out[1, k, :len(r)] = r[:, 0], r[:, 1]
        out[2, k, :len(r) - 1], out[3, k, :len(r) - 1] = r[1:, 0], r[1:, 1]
        out[2, k, len(r) - 1], out[3, k, len(r) - 1] = r[0, 0], r[0, 1]
    return out[0], out[1], out[2], out[3]


def _crossing_block(ax0: FloatArray, ay0: FloatArray, ax1: FloatArray, ay1: FloatArray, bx0: FloatArray,
                    by0: FloatArray, bx1: FloatArray, by1: FloatArray) -> FloatArray:
    """y of every proper crossing of an edge of a with an edge of b: (p, ea, eb), NaN where none."""
    arx, ary = (ax1 - ax0)[:, :, None], (ay1 - ay0)[:, :, None]
    brx, bry = (bx1 - bx0)[:, None, :], (by1 - by0)[:, None, :]
    qx = bx0[:, None, :] - ax0[:, :, None]
    qy = by0[:, None, :] - ay0[:, :, None]
    denom = arx * bry - ary * brx
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qx * bry - qy * brx) / denom
        u = (qx * ary - qy * arx) / denom
        ok = (denom != 0) & (t > 0) & (t < 1) & (u > 0) & (u < 1)
        out: FloatArray = np.where(ok, ay0[:, :, None] + t * ary, np.nan)
    return out


def _crossing_ys(ax0: FloatArray, ay0: FloatArray, ax1: FloatArray, ay1: FloatArray, bx0: FloatArray,
                 by0: FloatArray, bx1: FloatArray, by1: FloatArray) -> FloatArray:
    """y of the edge crossings of each ring pair, (p, k) padded with NaN.

    Small batches build the whole (p, ea, eb) table at once. A pair too large for one
    working set (two polygons of thousands of points) is done in blocks of a's edges,
    keeping only the real crossings, so memory stays near ``_CHUNK_ELEMENTS`` elements
    plus the crossings found.
    """
    p, ea = ax0.shape
    eb = bx0.shape[1]
    if p * ea * eb <= _CHUNK_ELEMENTS:
        return _crossing_block(ax0, ay0, ax1, ay1, bx0, by0, bx1, by1).reshape(p, -1)
    step = max(1, _CHUNK_ELEMENTS // max(p * eb, 1))
    rows: list[IntArray] = []
    vals: list[FloatArray] = []
    for s in range(0, ea, step):
        blk = _crossing_block(ax0[:, s:s + step], ay0[:, s:s + step], ax1[:, s:s + step], ay1[:, s:s + step],
                              bx0, by0, bx1, by1).reshape(p, -1)
        r, _ = np.nonzero(~np.isnan(blk))
        rows.append(r.astype(np.int64))
        vals.append(blk[~np.isnan(blk)])
    row = np.concatenate(rows)
    val = np.concatenate(vals)
    counts = np.bincount(row, minlength=p)
    out = np.full((p, max(int(counts.max(initial=0)), 1)), np.nan)
    order = np.argsort(row, kind="stable")
    row, val = row[order], val[order]
    col = np.arange(row.size) - np.repeat(np.cumsum(counts) - counts, counts)
    out[row, col] = val
    return out


def _intersection_areas(rings_a: Sequence[FloatArray], rings_b: Sequence[FloatArray], lo: FloatArray,
                        hi: FloatArray) -> FloatArray:
    """Exact areas of the intersections of simple ring pairs, batched (slab decomposition).

    ``lo < hi`` bound the y range where both rings of a pair exist. The slab boundaries are
    every vertex y and every y where an edge of one ring crosses an edge of the other; within
    a slab the covered length of the intersection is linear in y, so the length at mid-slab
    times the slab height is exact. Only edges spanning a slab are visited.
    """
    p = len(rings_a)
    ax0, ay0, ax1, ay1 = _padded_edges(rings_a)
    bx0, by0, bx1, by1 = _padded_edges(rings_b)
    cross_y = _crossing_ys(ax0, ay0, ax1, ay1, bx0, by0, bx1, by1)
    ys = np.concatenate([ay0, by0, cross_y, lo[:, None], hi[:, None]], axis=1)
    with np.errstate(invalid="ignore"):
        ys = np.where((ys >= lo[:, None]) & (ys <= hi[:, None]), ys, np.nan)
    ys = np.sort(ys, axis=1)  # NaN last; repeated values make empty slabs, which add nothing
    w = int(np.max(np.sum(~np.isnan(ys), axis=1)))
    ys = ys[:, :w]
    # Row-banded keys so that one searchsorted serves every pair: row r lives in [4r, 4r + 2].
    span = (hi - lo)[:, None]
    band = 4.0 * np.arange(p)[:, None]
    keys = np.where(np.isnan(ys), 2.0, (ys - lo[:, None]) / span) + band
    flat = keys.ravel()
    # Flat list of real edges: row, owner, endpoints.
    x0 = np.concatenate([ax0, bx0], axis=1)
    y0 = np.concatenate([ay0, by0], axis=1)
    x1 = np.concatenate([ax1, bx1], axis=1)
    y1 = np.concatenate([ay1, by1], axis=1)
    own = np.concatenate([np.ones_like(ax0, dtype=bool), np.zeros_like(bx0, dtype=bool)], axis=1)
    real = ~np.isnan(x0)
    row = np.broadcast_to(np.arange(p)[:, None], x0.shape)[real]
    x0, y0, x1, y1, own = x0[real], y0[real], x1[real], y1[real], own[real]
    kmin = np.clip((np.minimum(y0, y1) - lo[row]) / span[row, 0], 0.0, 1.0) + band[row, 0]
    kmax = np.clip((np.maximum(y0, y1) - lo[row]) / span[row, 0], 0.0, 1.0) + band[row, 0]
    first = np.searchsorted(flat, kmin, side="left")
    last = np.searchsorted(flat, kmax, side="right") - 1
    count = np.maximum(last - first, 0)  # slabs first .. last - 1 (flat indices)
    total = int(count.sum())
    if total == 0:
        return np.zeros(p)
    edge = np.repeat(np.arange(count.size), count)
    slab = np.repeat(first, count) + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
    ys_flat = ys.ravel()
    tall = ys_flat[slab + 1] > ys_flat[slab]  # repeated slab bounds make empty slabs: skip them
    edge, slab = edge[tall], slab[tall]
    if slab.size == 0:
        return np.zeros(p)
    mid = (ys_flat[slab] + ys_flat[slab + 1]) / 2
    e0, e1 = y0[edge], y1[edge]
    x = x0[edge] + (mid - e0) * ((x1[edge] - x0[edge]) / (e1 - e0))
    is_a = own[edge]
    order = np.lexsort((x, slab))
    slab, x, is_a = slab[order], x[order], is_a[order]
    # Even-odd inside of each ring along the scanline: parity of crossings so far in the slab.
    new_group = np.concatenate([[True], slab[1:] != slab[:-1]])
    starts = np.flatnonzero(new_group)
    group_len = np.diff(np.concatenate([starts, [slab.size]]))
    ca = np.cumsum(is_a)
    cb = np.cumsum(~is_a)
    base_a = np.repeat(ca[starts] - is_a[starts], group_len)
    base_b = np.repeat(cb[starts] - ~is_a[starts], group_len)
    both = (((ca - base_a) % 2) == 1) & (((cb - base_b) % 2) == 1)
    same = ~new_group[1:]
    gap = np.where(same & both[:-1], x[1:] - x[:-1], 0.0)
    h = ys_flat[slab[:-1] + 1] - ys_flat[slab[:-1]]
    result: FloatArray = np.bincount(slab[:-1] // w, weights=gap * h, minlength=p).astype(np.float64)
    return result


def _bbox(points: FloatArray) -> FloatArray:
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def polygon_similarity_matrix(reference: Sequence[Polygon], candidate: Sequence[Polygon], *,
                              metric: Metric = "iou") -> FloatArray:
    """Exact IoU (or Dice) between simple polygons, convex or concave.

    Args:
        reference: ``n`` :class:`~accord.core.model.Polygon` values (simple: edges meet only at
            shared vertices; either orientation).
        candidate: ``m`` polygons.
        metric: ``"iou"`` (intersection / union) or ``"dice"`` (2 intersection / (area_a + area_b)).

    Returns:
        (n, m) in [0, 1]; symmetric; pairs of zero-area polygons give 0. Exact up to float
        rounding (slab decomposition, see the module notes); agrees with shapely to ~1e-12.
    """
    _check_type(reference, Polygon, "reference")
    _check_type(candidate, Polygon, "candidate")
    if metric not in ("iou", "dice"):
        raise InvalidAnnotationError(f"metric must be 'iou' or 'dice', got {metric!r}")
    check_polygon_points(reference, "reference")
    check_polygon_points(candidate, "candidate")
    ra = [np.asarray(p.points, dtype=np.float64) for p in reference]
    ca = [np.asarray(p.points, dtype=np.float64) for p in candidate]
    out = np.zeros((len(ra), len(ca)))
    if not ra or not ca:
        return out
    area_a = polygon_areas(reference)
    area_b = polygon_areas(candidate)
    bb_a = np.array([_bbox(p) for p in ra])
    bb_b = np.array([_bbox(p) for p in ca])
    overlap = ((np.minimum(bb_a[:, None, 2], bb_b[None, :, 2]) > np.maximum(bb_a[:, None, 0], bb_b[None, :, 0]))
               & (np.minimum(bb_a[:, None, 3], bb_b[None, :, 3]) > np.maximum(bb_a[:, None, 1], bb_b[None, :, 1])))
    ii, jj = np.nonzero(overlap & (area_a[:, None] > 0) & (area_b[None, :] > 0))
    if ii.size == 0:
        return out
    # Batch pairs of similar size together; each batch stays within a fixed working set.
    n_edges = np.array([len(ra[i]) + len(ca[j]) for i, j in zip(ii, jj, strict=True)])
    order = np.argsort(n_edges, kind="stable")
    ii, jj, n_edges = ii[order], jj[order], n_edges[order]
    lo = np.maximum(bb_a[ii, 1], bb_b[jj, 1])
    hi = np.minimum(bb_a[ii, 3], bb_b[jj, 3])
    inter = np.empty(ii.size)
    start = 0
    while start < ii.size:
        e = int(n_edges[start])
        per_pair = 2 * e * e + 4 * e * (e + 2)
        stop = start + 1
        while stop < ii.size and (stop + 1 - start) * max(per_pair, 2 * int(n_edges[stop]) ** 2) <= _CHUNK_ELEMENTS:
            stop += 1
        inter[start:stop] = _intersection_areas([ra[i] for i in ii[start:stop]], [ca[j] for j in jj[start:stop]],
                                                lo[start:stop], hi[start:stop])
        start = stop
    inter = np.minimum(inter, np.minimum(area_a[ii], area_b[jj]))
    if metric == "iou":
        out[ii, jj] = inter / (area_a[ii] + area_b[jj] - inter)
    else:
        out[ii, jj] = 2 * inter / (area_a[ii] + area_b[jj])
    return np.clip(out, 0.0, 1.0)


def polygon_iou_matrix(reference: Sequence[Polygon], candidate: Sequence[Polygon]) -> FloatArray:
    """Exact polygon IoU matrix (:func:`polygon_similarity_matrix` with ``metric="iou"``)."""
    return polygon_similarity_matrix(reference, candidate, metric="iou")


# --------------------------------------------------------------------------- polylines


def _resample(points: FloatArray, n: int) -> FloatArray:
    """``n`` points evenly spaced by arc length along a polyline (k, 2)."""
    seg = np.hypot(*np.diff(points, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = cum[-1]
    if total <= 0:
        return np.repeat(points[:1], n, axis=0)
    s = np.linspace(0.0, total, n)
    return np.stack([np.interp(s, cum, points[:, 0]), np.interp(s, cum, points[:, 1])], axis=1)


def polyline_similarity_matrix(reference: Sequence[Polyline], candidate: Sequence[Polyline], *,
                               n_points: int = 32, kappa: float = 0.1) -> FloatArray:
    """OKS-like similarity between open polylines, in [0, 1].

    Both lines are resampled to ``n_points`` points evenly spaced by arc
    length; with ``d_k`` the distance between the k-th points,

    ``sim = mean_k exp(-d_k^2 / (2 s^2))``,  ``s = kappa * (diag_ref + diag_cand) / 2``,

    where ``diag`` is the diagonal of a line's bounding box (CVAT's quality
    checks score polylines the same way, as an OKS over resampled points). The
    candidate is also tried reversed and the better direction is kept, since a
    line drawn end-to-start is the same line.

    Args:
        reference / candidate: :class:`~accord.core.model.Polyline` values.
        n_points: Resampling size (>= 2).
        kappa: Tolerance as a fraction of the lines' size (> 0); at ``d = kappa * diag`` a point
            scores ``exp(-1/2) ~ 0.61``.

    Returns:
        (n, m) in [0, 1]; symmetric; identical lines score 1; invariant to translation and
        to uniform scaling of both lines; two zero-length lines at the same place score 1, at
        different places 0.
    """
    _check_type(reference, Polyline, "reference")
    _check_type(candidate, Polyline, "candidate")
    if n_points < 2:
        raise InvalidAnnotationError(f"n_points must be >= 2, got {n_points!r}")
    if not kappa > 0:
        raise InvalidAnnotationError(f"kappa must be > 0, got {kappa!r}")
    out = np.zeros((len(reference), len(candidate)))
    if not reference or not candidate:
        return out
    ra = np.stack([_resample(np.asarray(v.points, dtype=np.float64), n_points) for v in reference])
    ca = np.stack([_resample(np.asarray(v.points, dtype=np.float64), n_points) for v in candidate])
    diag_a = np.hypot(*(ra.max(axis=1) - ra.min(axis=1)).T)
    diag_b = np.hypot(*(ca.max(axis=1) - ca.min(axis=1)).T)
    s2 = (kappa * (diag_a[:, None] + diag_b[None, :]) / 2) ** 2  # (n, m)
    best = out
    for cand in (ca, ca[:, ::-1]):
        d2 = np.sum((ra[:, None, :, :] - cand[None, :, :, :]) ** 2, axis=3)  # (n, m, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.where(s2[..., None] > 0, d2 / (2 * s2[..., None]), np.where(d2 > 0, np.inf, 0.0))
        best = np.maximum(best, np.exp(-e).mean(axis=2))
    result: FloatArray = np.clip(best, 0.0, 1.0)
    return result


# --------------------------------------------------------------------------- matching


#: Sibling modules that register similarity functions when imported (those present are loaded).
_BUILTIN_MODULES = ("masks", "keypoints", "cuboids", "spans", "segments", "tracks")


_loaded: list[bool] = []


def _load_builtins() -> None:
    if _loaded:
        return
    for name in _BUILTIN_MODULES:
        full = f"{__package__}.{name}"
        if importlib.util.find_spec(full) is not None:
            importlib.import_module(full)
    _loaded.append(True)


def _kind_of(values: Sequence[Any], role: str) -> str | None:
    kinds = {getattr(type(v), "kind", type(v).__name__) for v in values}
    if len(kinds) > 1:
        raise InvalidAnnotationError(
            f"{role} values mix kinds {sorted(kinds)}; match_regions compares one kind at a time, "
            "so split the values by kind (and label set) first"
        )
    return kinds.pop() if kinds else None


def match_regions(
    reference: Sequence[Any],
    candidate: Sequence[Any],
    *,
    iou_threshold: float = 0.5,
    label_aware: bool = False,
    options: Mapping[str, Any] | None = None,
) -> MatchResult:
    """Match reference regions to candidate regions one-to-one, choosing the similarity by kind.

    Looks up the similarity-matrix function of the values' ``kind`` in
    :data:`accord.core.matching.registry.SIMILARITY` (or of the ordered pair
    of kinds in ``CROSS_SIMILARITY``, e.g. reference polygons against candidate
    masks) and runs :func:`~accord.core.matching.base.match_similarity`.

    Args:
        reference: Values of one kind (``Box``, ``Polygon``, ``Mask``, ``Keypoints``, ...).
        candidate: Values of the same kind (or a registered cross kind).
        iou_threshold: Minimum similarity of a matched pair (an IoU, an OKS, ...), in [0, 1].
        label_aware: Only equal labels may match; otherwise label mismatches are reported.
        options: Keyword options forwarded to the similarity function (``metric="dice"``,
            ``sigmas={...}``, ...).

    Returns:
        A :class:`~accord.core.matching.base.MatchResult`.

    Raises:
        InvalidAnnotationError: If a side mixes kinds, or the threshold is outside [0, 1].
        RegistryError: If no function is registered for the kind (or pair of kinds).

    >>> from accord.core.model import Box
    >>> ref = [Box(label="car", x=0, y=0, width=10, height=10)]
    >>> cand = [Box(label="bus", x=1, y=0, width=10, height=10), Box(label="car", x=50, y=50, width=5, height=5)]
    >>> res = match_regions(ref, cand, iou_threshold=0.5)
    >>> res.pairs, res.label_mismatches, res.unmatched_candidate
    (((0, 0),), (0,), (1,))
    """
    if not 0.0 <= iou_threshold <= 1.0:
        raise InvalidAnnotationError(f"iou_threshold must be in [0, 1], got {iou_threshold!r}")
    _load_builtins()
    kr = _kind_of(reference, "reference")
    kc = _kind_of(candidate, "candidate")
    kind_r = kr if kr is not None else kc
    kind_c = kc if kc is not None else kr
    if kind_r is None or kind_c is None:
        return match_similarity(np.zeros((0, 0)), threshold=iou_threshold)
    fn = get_similarity(kind_r, kind_c)
    sim = fn(reference, candidate, **dict(options or {})) if reference and candidate else \
        np.zeros((len(reference), len(candidate)))
    return match_similarity(
        sim, threshold=iou_threshold,
        reference_labels=[value_label(v) for v in reference],
        candidate_labels=[value_label(v) for v in candidate],
        label_aware=label_aware,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageMatchStats:
    """Per-image counts of a batched box matching (one entry per image ``0 .. n_images-1``).

    Attributes:
        n_reference / n_candidate: Boxes on each side.
        n_matched: Matched pairs (IoU >= threshold).
        tp: Matched pairs whose labels agree.
        iou_sum: Sum of the IoU of matched pairs.
    """

    n_reference: IntArray
    n_candidate: IntArray
    n_matched: IntArray
    tp: IntArray
    iou_sum: FloatArray

    def f1_score(self) -> FloatArray:
        """Per-image ``2 tp / (n_reference + n_candidate)``; 1.0 where both sides are empty."""
        denom = self.n_reference + self.n_candidate
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = np.where(denom > 0, 2 * self.tp / np.maximum(denom, 1), 1.0)
        return out

    def mean_iou(self) -> FloatArray:
        """Per-image mean IoU over matched pairs; NaN where nothing matched."""
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = np.where(self.n_matched > 0, self.iou_sum / np.maximum(self.n_matched, 1), np.nan)
        return out


def match_boxes_batched(
    reference_xyxy: npt.ArrayLike,
    reference_image: npt.ArrayLike,
    candidate_xyxy: npt.ArrayLike,
    candidate_image: npt.ArrayLike,
    *,
    n_images: int | None = None,
    iou_threshold: float = 0.5,
    reference_labels: npt.ArrayLike | None = None,
    candidate_labels: npt.ArrayLike | None = None,
    label_aware: bool = False,
) -> ImageMatchStats:
    """Match axis-aligned boxes image by image, for many images in one vectorized pass.

    The result equals calling :func:`~accord.core.matching.base.match_similarity` on
    :func:`~accord.core.matching.base.box_iou_matrix` for every image, but the IoU of all
    same-image pairs is computed at once, and an image whose above-threshold pairs form
    disjoint edges (each box has at most one partner, the usual case) is resolved without
    the Hungarian solver; only images with competing pairs go through it.

    Args:
        reference_xyxy: (n, 4) reference boxes ``x1, y1, x2, y2``.
        reference_image: (n,) integer image index of each reference box (>= 0).
        candidate_xyxy / candidate_image: The same for the candidate boxes.
        n_images: Number of images (default: 1 + the largest index given).
        iou_threshold: Minimum IoU of a matched pair.
        reference_labels / candidate_labels: Optional integer or string labels; ``tp`` counts
            matched pairs with equal labels (all matched pairs when labels are not given).
        label_aware: Only equal labels may match.

    Returns:
        :class:`ImageMatchStats`.
    """
    ra = np.asarray(reference_xyxy, dtype=np.float64).reshape(-1, 4)
    ca = np.asarray(candidate_xyxy, dtype=np.float64).reshape(-1, 4)
    ri = np.asarray(reference_image, dtype=np.int64).reshape(-1)
    ci = np.asarray(candidate_image, dtype=np.int64).reshape(-1)
    if len(ri) != len(ra) or len(ci) != len(ca):
        raise InvalidAnnotationError(
            f"need one image index per box: {len(ra)} reference boxes with {len(ri)} indices, "
            f"{len(ca)} candidate boxes with {len(ci)} indices"
        )
    if (ri.size and ri.min() < 0) or (ci.size and ci.min() < 0):
        raise InvalidAnnotationError("image indices must be >= 0")
    if n_images is None:
        n_images = int(max(ri.max(initial=-1), ci.max(initial=-1))) + 1
    rl = None if reference_labels is None else np.asarray(reference_labels)
    cl = None if candidate_labels is None else np.asarray(candidate_labels)
    if (rl is None) != (cl is None):
        raise InvalidAnnotationError("give labels for both sides or for neither")
    # Sort each side by image so that the pairs of one image are a contiguous block.
    ro = np.argsort(ri, kind="stable")
    co = np.argsort(ci, kind="stable")
    ra, ca = ra[ro].reshape(-1, 4), ca[co].reshape(-1, 4)
    ri, ci = ri[ro].reshape(-1), ci[co].reshape(-1)
    if rl is not None and cl is not None:
        rl, cl = rl[ro], cl[co]
    n_ref = np.bincount(ri, minlength=n_images).astype(np.int64)
    n_cand = np.bincount(ci, minlength=n_images).astype(np.int64)
    r_start = np.concatenate([[0], np.cumsum(n_ref)[:-1]])
    c_start = np.concatenate([[0], np.cumsum(n_cand)[:-1]])
    # All same-image pairs: for reference box k in image g, candidates c_start[g] .. + n_cand[g].
    per_ref = n_cand[ri]
    n_pairs = int(per_ref.sum())
    first = np.cumsum(per_ref) - per_ref
    pr = np.repeat(np.arange(len(ra), dtype=np.int64), per_ref)
    pc = np.arange(n_pairs, dtype=np.int64) - np.repeat(first - c_start[ri], per_ref)
    # Column arrays gather faster than rows of an (n, 4) array.
    ax1, ay1, ax2, ay2 = (np.ascontiguousarray(ra[:, k]) for k in range(4))
    bx1, by1, bx2, by2 = (np.ascontiguousarray(ca[:, k]) for k in range(4))
    area_a = (ax2 - ax1) * (ay2 - ay1)
    area_b = (bx2 - bx1) * (by2 - by1)
    iw = np.minimum(ax2[pr], bx2[pc]) - np.maximum(ax1[pr], bx1[pc])
    if iou_threshold > 0:  # pairs that do not overlap can never match: drop them early
        sel = np.flatnonzero(iw > 0)
        pr, pc, iw = pr[sel], pc[sel], iw[sel]
    ih = np.minimum(ay2[pr], by2[pc]) - np.maximum(ay1[pr], by1[pc])
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    union = area_a[pr] + area_b[pc] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    allowed = iou >= iou_threshold
    if label_aware and rl is not None and cl is not None:
        allowed &= rl[pr] == cl[pc]
    er, ec, ev = pr[allowed], pc[allowed], iou[allowed]
    deg_r = np.bincount(er, minlength=len(ra))
    deg_c = np.bincount(ec, minlength=len(ca))
    simple = (deg_r[er] == 1) & (deg_c[ec] == 1)
    img = ri[er]
    hard = np.zeros(n_images, dtype=bool)
    hard[img[~simple]] = True
    keep = ~hard[img]
    parts_r, parts_c, parts_v = [er[keep]], [ec[keep]], [ev[keep]]
    hard_images = np.flatnonzero(hard)
    if hard_images.size:
        # Edges of the contested images, grouped by image (er is sorted, so img is too).
        he = np.flatnonzero(~keep)
        bounds = np.searchsorted(img[he], np.concatenate([hard_images, [n_images]]))
        for k, g in enumerate(hard_images):
            sel = he[bounds[k]:bounds[k + 1]]
            rs, cs = r_start[g], c_start[g]
            sub = np.full((n_ref[g], n_cand[g]), -np.inf)
            sub[er[sel] - rs, ec[sel] - cs] = ev[sel]
            res = match_similarity(sub, threshold=iou_threshold)
            if res.pairs:
                pr_, pc_ = np.array(res.pairs, dtype=np.int64).T
                parts_r.append(pr_ + rs)
                parts_c.append(pc_ + cs)
                parts_v.append(np.array(res.similarity))
    mr = np.concatenate(parts_r).astype(np.int64)
    mc = np.concatenate(parts_c).astype(np.int64)
    mv = np.concatenate(parts_v).astype(np.float64)
    mimg = ri[mr]
    same = np.ones(mr.size, dtype=bool) if rl is None or cl is None else (rl[mr] == cl[mc])
    return ImageMatchStats(
        n_reference=n_ref, n_candidate=n_cand,
        n_matched=np.bincount(mimg, minlength=n_images).astype(np.int64),
        tp=np.bincount(mimg[same], minlength=n_images).astype(np.int64),
        iou_sum=np.bincount(mimg, weights=mv, minlength=n_images).astype(np.float64),
    )


register_similarity(Box.kind, box_iou_matrix_values)
register_similarity(Polygon.kind, polygon_similarity_matrix)
register_similarity(Polyline.kind, polyline_similarity_matrix)
