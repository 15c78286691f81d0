"""Image geometry checks, vectorized over every box of the dataset at once.

* ``geometry.out_of_bounds``: boxes, polygons or labeled keypoints outside the image
  (by more than ``tolerance_px``); needs the item's ``width``/``height``.
* ``geometry.tiny``: degenerate or tiny boxes and polygons (area below ``min_area_px``,
  or a side of the bounding box below ``min_side_px``); a self-intersecting polygon's
  shoelace area is not used (it is left to ``geometry.self_intersecting``).
* ``geometry.self_intersecting``: polygons whose boundary crosses or touches itself.
* ``geometry.near_duplicate``: two boxes of one annotator, item, label set and label
  with IoU above ``iou_threshold`` (a double-drawn object). The IoU is that of the
  unrotated boxes. Pairs are found by a sort-and-sweep inside each group, so the
  cost is the number of x-overlapping pairs, never the square of the dataset.
* ``geometry.keypoint_outside_box``: labeled keypoints outside their object's box
  (the box record of the same submission whose ``region_id`` equals the keypoints'
  ``region_id`` or their ``parent_id`` attribute), by more than ``margin`` of the box size.
* ``geometry.keypoint_visibility``: skeletons with no labeled point, keypoint names
  not in the label set's skeleton, or unlabeled points (visibility 0) with coordinates.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from ..model import Box, Keypoints, Polygon, Record
from .base import (
    EXTRA_OBJECT,
    POOR_LOCALIZATION,
    SCHEMA_VIOLATION,
    CheckConfig,
    CheckContext,
    Finding,
    FloatArray,
    IntArray,
    finding,
)
from .registry import register_check


def _image_size(ctx: CheckContext, r: Record) -> tuple[float, float] | None:
    it = ctx.item(r.item_id)
    if it is None or it.width is None or it.height is None:
        return None
    return float(it.width), float(it.height)


def rotated_extent(xyxy: FloatArray, rotation_deg: FloatArray) -> FloatArray:
    """Axis-aligned hull (n, 4) of boxes rotated about their centres (clockwise degrees)."""
    cx = (xyxy[:, 0] + xyxy[:, 2]) / 2
    cy = (xyxy[:, 1] + xyxy[:, 3]) / 2
    hw = (xyxy[:, 2] - xyxy[:, 0]) / 2
    hh = (xyxy[:, 3] - xyxy[:, 1]) / 2
    t = np.radians(rotation_deg)
    c, s = np.abs(np.cos(t)), np.abs(np.sin(t))
    ex = hw * c + hh * s
    ey = hw * s + hh * c
    return np.stack([cx - ex, cy - ey, cx + ex, cy + ey], axis=1)


def check_out_of_bounds(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Regions reaching outside the image by more than ``tolerance_px``."""
    tol = float(cfg["tolerance_px"])
    cols = ctx.boxes()
    if len(cols):
        ext = rotated_extent(cols.xyxy, cols.rotation)
        over = np.stack([-ext[:, 0], -ext[:, 1], ext[:, 2] - cols.image_width, ext[:, 3] - cols.image_height],
                        axis=1)
        worst = np.nanmax(np.where(np.isnan(over), -np.inf, over), axis=1)
        for i in np.flatnonzero(worst > tol):
            r = cols.records[i]
            yield finding(cfg.name, cfg, r, category=POOR_LOCALIZATION,
                          evidence={"overshoot_px": float(worst[i]), "image_width": float(cols.image_width[i]),
                                    "image_height": float(cols.image_height[i])},
                          message=f"box reaches {worst[i]:.1f} px outside the image")
    for kind in ("polygon", "keypoints"):
        for r in ctx.records(kind):
            size = _image_size(ctx, r)
            if size is None:
                continue
            v = r.value
            if isinstance(v, Polygon):
                pts = np.asarray(v.points, dtype=np.float64)
            elif isinstance(v, Keypoints):
                pts = np.asarray([(p.x, p.y) for p in v.points if p.visibility > 0], dtype=np.float64)
                if not len(pts):
                    continue
            else:  # pragma: no cover - records(kind) holds only that kind
                continue
            w, h = size
            over_pts = max(float(-pts[:, 0].min()), float(-pts[:, 1].min()),
                           float(pts[:, 0].max() - w), float(pts[:, 1].max() - h))
            if over_pts > tol:
                yield finding(cfg.name, cfg, r, category=POOR_LOCALIZATION,
                              evidence={"overshoot_px": over_pts, "image_width": w, "image_height": h},
                              message=f"{kind} reaches {over_pts:.1f} px outside the image")


def polygon_area(points: FloatArray) -> float:
    """Absolute shoelace area of a closed polygon (n, 2)."""
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def check_tiny(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Boxes and polygons with area below ``min_area_px`` or a side below ``min_side_px``."""
    min_area, min_side = float(cfg["min_area_px"]), float(cfg["min_side_px"])
    cols = ctx.boxes()
    if len(cols):
        w = cols.xyxy[:, 2] - cols.xyxy[:, 0]
        h = cols.xyxy[:, 3] - cols.xyxy[:, 1]
        area = w * h
        bad = (area < min_area) | (np.minimum(w, h) < min_side)
        for i in np.flatnonzero(bad):
            yield finding(cfg.name, cfg, cols.records[i], category=POOR_LOCALIZATION,
                          evidence={"area_px": float(area[i]), "width_px": float(w[i]), "height_px": float(h[i])},
                          message=f"degenerate or tiny box ({w[i]:.1f} x {h[i]:.1f} px)")
    for r in ctx.records("polygon"):
        v = r.value
        if not isinstance(v, Polygon):  # pragma: no cover
            continue
        pts = np.asarray(v.points, dtype=np.float64)
        a = polygon_area(pts)
        span = pts.max(axis=0) - pts.min(axis=0)
        small = a < min_area and not self_intersections(pts)  # a crossing ring's shoelace area cancels
        if small or float(span.min()) < min_side:
            yield finding(cfg.name, cfg, r, category=POOR_LOCALIZATION,
                          evidence={"area_px": a, "width_px": float(span[0]), "height_px": float(span[1])},
                          message=f"degenerate or tiny polygon (area {a:.1f} px²)")


# Shewchuk's (1997) error bound of the plain orientation determinant, ccwerrboundA: where the
# float result is smaller than this times |left| + |right| its sign may be wrong.
_ORIENT_BOUND = (3.0 + 16.0 * np.finfo(np.float64).eps) * np.finfo(np.float64).eps


def _orient(ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, cx: FloatArray,
            cy: FloatArray) -> FloatArray:
    """The sign of the turn a -> b -> c, exactly: the float determinant where its error bound
    allows, else the exact rational one (nearly collinear points, coordinates of very
    different magnitudes: (0, 0), (0, 1e-38), (1, 1) turns, though 1 - 1e-38 rounds to 1)."""
    left = (bx - ax) * (cy - ay)
    right = (by - ay) * (cx - ax)
    det = left - right
    out: FloatArray = np.sign(det)
    unsure = np.flatnonzero(np.abs(det) <= _ORIENT_BOUND * (np.abs(left) + np.abs(right)))
    if unsure.size:
        from fractions import Fraction

        cols = [np.broadcast_to(np.asarray(v, dtype=np.float64), det.shape).reshape(-1)
                for v in (ax, ay, bx, by, cx, cy)]
        flat = out.reshape(-1)
        for k in unsure:
            pax, pay, pbx, pby, pcx, pcy = (Fraction(float(c[k])) for c in cols)
            exact = (pbx - pax) * (pcy - pay) - (pby - pay) * (pcx - pax)
            flat[k] = (exact > 0) - (exact < 0)
    return out


def _on_segment(ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, px: FloatArray,
                py: FloatArray) -> npt.NDArray[np.bool_]:
    """Whether collinear point p lies within segment ab's bounding box."""
    out: npt.NDArray[np.bool_] = ((np.minimum(ax, bx) <= px) & (px <= np.maximum(ax, bx))
                       & (np.minimum(ay, by) <= py) & (py <= np.maximum(ay, by)))
    return out


def self_intersections(points: FloatArray) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of edges of a closed polygon that cross, touch or overlap.

    Edge ``i`` runs from point ``i`` to point ``i + 1`` (wrapping). Repeated
    consecutive points are dropped first. Adjacent edges count only when they
    fold back onto each other (a spike). Exact for the float inputs (sign tests).
    """
    pts = np.asarray(points, dtype=np.float64)
    keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)
    pts = pts[keep] if keep.any() else pts[:1]
    n = len(pts)
    if n < 3:
        return []
    a = pts
    b = np.roll(pts, -1, axis=0)
    i, j = np.triu_indices(n, k=1)
    adjacent = (j == i + 1) | ((i == 0) & (j == n - 1))
    ax, ay, bx, by = a[i, 0], a[i, 1], b[i, 0], b[i, 1]
    cx, cy, dx, dy = a[j, 0], a[j, 1], b[j, 0], b[j, 1]
    o1 = _orient(ax, ay, bx, by, cx, cy)
    o2 = _orient(ax, ay, bx, by, dx, dy)
    o3 = _orient(cx, cy, dx, dy, ax, ay)
    o4 = _orient(cx, cy, dx, dy, bx, by)
    hit = ((o1 * o2 < 0) & (o3 * o4 < 0))
    hit |= (o1 == 0) & _on_segment(ax, ay, bx, by, cx, cy)
    hit |= (o2 == 0) & _on_segment(ax, ay, bx, by, dx, dy)
    hit |= (o3 == 0) & _on_segment(cx, cy, dx, dy, ax, ay)
    hit |= (o4 == 0) & _on_segment(cx, cy, dx, dy, bx, by)
    # Adjacent edges share a vertex; they are a defect only when collinear and folding back.
    # For (i, i+1) the shared vertex is b_i = a_j: fold when a_i and b_j lie on the same side of it.
    fold_next = (o2 == 0) & (((ax - bx) * (dx - bx) + (ay - by) * (dy - by)) > 0)
    # For (0, n-1) the shared vertex is a_0 = b_{n-1}: fold when b_0 and a_{n-1} lie on the same side.
    fold_wrap = (o4 == 0) & (((bx - ax) * (cx - ax) + (by - ay) * (cy - ay)) > 0)
    wrap = (i == 0) & (j == n - 1)
    hit = np.where(adjacent, np.where(wrap, fold_wrap, fold_next), hit)
    return [(int(p), int(q)) for p, q in zip(i[hit], j[hit], strict=True)]


def check_self_intersecting(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Polygons whose boundary is not simple."""
    for r in ctx.records("polygon"):
        v = r.value
        if not isinstance(v, Polygon):  # pragma: no cover
            continue
        hits = self_intersections(np.asarray(v.points, dtype=np.float64))
        if hits:
            yield finding(cfg.name, cfg, r, category=POOR_LOCALIZATION,
                          evidence={"n_crossings": len(hits), "edge_pairs": hits[:10]},
                          message=f"polygon boundary intersects itself ({len(hits)} edge pairs)")


def near_duplicate_pairs(xyxy: FloatArray, group: IntArray, *, iou_threshold: float
                         ) -> tuple[IntArray, IntArray, FloatArray]:
    """Pairs ``(i, j)`` in the same ``group`` whose IoU is above ``iou_threshold``.

    Sort by ``(group, x1)`` and sweep: box ``i`` is compared with its ``d``-th
    successor while that one is in the same group and starts left of ``i``'s
    right edge; every step is one array expression over the boxes still active.

    Returns:
        ``(i, j, iou)`` with ``i < j`` as indices into the input.
    """
    n = len(xyxy)
    empty_i = np.empty(0, dtype=np.int64)
    if n < 2:
        return empty_i, empty_i.copy(), np.empty(0, dtype=np.float64)
    order = np.lexsort((xyxy[:, 0], group))
    b = xyxy[order]
    g = group[order]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    out_i: list[IntArray] = []
    out_j: list[IntArray] = []
    out_v: list[FloatArray] = []
    active: IntArray = np.arange(n - 1, dtype=np.int64)
    d = 1
    while len(active):
        active = active[active + d < n]
        nxt = active + d
        active = active[(g[nxt] == g[active]) & (b[nxt, 0] < b[active, 2])]
        if not len(active):
            break
        nxt = active + d
        iw = np.minimum(b[active, 2], b[nxt, 2]) - np.maximum(b[active, 0], b[nxt, 0])
        ih = np.minimum(b[active, 3], b[nxt, 3]) - np.maximum(b[active, 1], b[nxt, 1])
        inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
        union = area[active] + area[nxt] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, inter / union, 0.0)
        hit = iou > iou_threshold
        if hit.any():
            p, q = order[active[hit]], order[nxt[hit]]
            out_i.append(np.minimum(p, q))
            out_j.append(np.maximum(p, q))
            out_v.append(iou[hit])
        d += 1
    if not out_i:
        return empty_i, empty_i.copy(), np.empty(0, dtype=np.float64)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_v)


def check_near_duplicate(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Boxes of one submission, label set and label overlapping above ``iou_threshold``."""
    cols = ctx.boxes()
    if len(cols) < 2:
        return
    key = cols.group * (len(cols.labels) + 1) + cols.label
    _, codes = np.unique(key, return_inverse=True)
    i, j, iou = near_duplicate_pairs(cols.xyxy, codes.astype(np.int64).ravel(),
                                     iou_threshold=float(cfg["iou_threshold"]))
    for p, q, v in zip(i, j, iou, strict=True):
        first, second = cols.records[p], cols.records[q]
        yield finding(cfg.name, cfg, second, category=EXTRA_OBJECT,
                      evidence={"iou": float(v), "duplicate_of": first.region_id, "duplicate_index": int(p)},
                      message=f"box duplicates another {second.label!r} box of the same annotator (IoU {v:.2f})")


def check_keypoint_outside_box(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Labeled keypoints outside their object's box by more than ``margin`` of its size."""
    kps = ctx.records("keypoints")
    if not kps:
        return
    margin = float(cfg["margin"])
    boxes: dict[tuple[str, str, str, str], Box] = {}
    for r in ctx.records("box"):
        if r.region_id is not None and isinstance(r.value, Box):
            boxes[(r.item_id, r.annotator_id, r.source, r.region_id)] = r.value
    for r in kps:
        v = r.value
        if not isinstance(v, Keypoints):  # pragma: no cover
            continue
        parent = r.attributes.get("parent_id", r.region_id)
        box = boxes.get((r.item_id, r.annotator_id, r.source, str(parent))) if parent is not None else None
        if box is None:
            continue
        mx, my = margin * box.width, margin * box.height
        x1, y1, x2, y2 = box.xyxy()
        out = [p.name for p in v.points if p.visibility > 0
               and not (x1 - mx <= p.x <= x2 + mx and y1 - my <= p.y <= y2 + my)]
        if out:
            yield finding(cfg.name, cfg, r, category=POOR_LOCALIZATION,
                          evidence={"keypoints": out, "box_xyxy": [x1, y1, x2, y2]},
                          message=f"{len(out)} keypoint(s) outside the object's box: {', '.join(out)}")


def check_keypoint_visibility(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Skeletons with impossible visibility or names."""
    schema = ctx.dataset.schema
    for r in ctx.records("keypoints"):
        v = r.value
        if not isinstance(v, Keypoints):  # pragma: no cover
            continue
        problems: list[str] = []
        if all(p.visibility == 0 for p in v.points):
            problems.append("no keypoint is labeled")
        skeleton = schema[r.label_set].skeleton if r.label_set in schema else ()
        unknown = [p.name for p in v.points if skeleton and p.name not in skeleton]
        if unknown:
            problems.append(f"keypoints not in the skeleton: {unknown}")
        ghost = [p.name for p in v.points if p.visibility == 0 and (p.x != 0 or p.y != 0)]
        if ghost and cfg["flag_unlabeled_with_coordinates"]:
            problems.append(f"unlabeled keypoints with coordinates: {ghost}")
        if problems:
            yield finding(cfg.name, cfg, r, category=SCHEMA_VIOLATION,
                          evidence={"problems": problems}, message="; ".join(problems))


def register() -> None:
    """Register the image-geometry checks."""
    register_check("geometry.out_of_bounds", kinds=("box", "polygon", "keypoints"), fn=check_out_of_bounds,
                   severity="minor", params={"tolerance_px": 1.0},
                   description="boxes, polygons or keypoints outside the image")
    register_check("geometry.tiny", kinds=("box", "polygon"), fn=check_tiny, severity="minor",
                   params={"min_area_px": 4.0, "min_side_px": 1.0},
                   description="degenerate or tiny boxes and polygons")
    register_check("geometry.self_intersecting", kinds=("polygon",), fn=check_self_intersecting,
                   severity="major", description="polygons whose boundary crosses itself")
    register_check("geometry.near_duplicate", kinds=("box",), fn=check_near_duplicate, severity="major",
                   params={"iou_threshold": 0.9},
                   description="two boxes of one annotator and class with IoU above the threshold")
    register_check("geometry.keypoint_outside_box", kinds=("keypoints",), fn=check_keypoint_outside_box,
                   severity="minor", params={"margin": 0.05},
                   description="labeled keypoints outside their object's box")
    register_check("geometry.keypoint_visibility", kinds=("keypoints",), fn=check_keypoint_visibility,
                   severity="minor", params={"flag_unlabeled_with_coordinates": True},
                   description="skeletons with no labeled point, unknown names, or ghost points")
