"""FiftyOne labels as accord values: boxes as ``xyxy`` arrays, polylines and keypoints as
:mod:`accord.core.model` values in pixels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core.model import Keypoint, Keypoints, Polygon, Polyline


def _xyxy(boxes: Sequence[Sequence[float]] | None) -> npt.NDArray[np.float64]:
    if not boxes:
        return np.zeros((0, 4))
    a = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]])


def _polygon_values(points: Sequence[Any], labels: Sequence[str | None], closed: Sequence[Any],
                    filled: Sequence[Any], size: tuple[float, float]) -> list[Any]:
    """Polygons (closed or filled) and polylines (open), in pixels: relative x times width, y times height."""
    w, h = size
    out: list[Any] = []
    for pts, lab, c, f in zip(points, labels, closed, filled, strict=True):
        shape = tuple((float(x) * w, float(y) * h) for x, y in (pts[0] if pts else []))
        if (c or f) and len(shape) >= 3:
            out.append(Polygon(label=str(lab), points=shape))
        else:
            out.append(Polyline(label=str(lab), points=shape))
    return out


def _keypoint_values(points: Sequence[Any], labels: Sequence[str | None],
                     size: tuple[float, float]) -> list[Keypoints]:
    """Skeletons in pixels; a NaN point (FiftyOne's "not visible") gets visibility 0. Names are the indices."""
    w, h = size
    out = []
    for pts, lab in zip(points, labels, strict=True):
        kps = []
        for k, p in enumerate(pts or []):
            x, y = float(p[0]), float(p[1])
            ok = math.isfinite(x) and math.isfinite(y)
            kps.append(Keypoint(name=str(k), x=x * w if ok else 0.0, y=y * h if ok else 0.0,
                                visibility=2 if ok else 0))
        out.append(Keypoints(label=str(lab), points=tuple(kps)))
    return out
