"""3D IoU of yawed cuboids (point-cloud boxes).

A :class:`~accord.core.model.Cuboid` is a box rotated only about the vertical
z axis, so the intersection of two cuboids is the intersection of their
bird's-eye-view (BEV) rectangles extruded over the overlap of their z ranges::

    IoU_3d = area(BEV_a ∩ BEV_b) * overlap_z / (vol_a + vol_b - that)

This is the 3D IoU of the KITTI and nuScenes detection benchmarks for boxes
with yaw only. The BEV intersection is exact (convex clipping,
:func:`accord.core.matching.geometry.convex_intersection_areas`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ..errors import InvalidAnnotationError
from ..model import Cuboid
from .base import FloatArray
from .geometry import convex_intersection_areas
from .registry import register_similarity

__all__ = ["cuboid_bev_corners", "cuboid_iou_matrix"]


def cuboid_bev_corners(values: Sequence[Cuboid]) -> FloatArray:
    """(n, 4, 2) bird's-eye-view corners (x, y) of cuboids: length along the yawed x axis."""
    p = np.array([(c.x, c.y, c.length, c.width, c.yaw) for c in values], dtype=np.float64).reshape(-1, 5)
    hl, hw = p[:, 2] / 2, p[:, 3] / 2
    lx = np.stack([hl, -hl, -hl, hl], axis=1)
    ly = np.stack([hw, hw, -hw, -hw], axis=1)
    c, s = np.cos(p[:, 4])[:, None], np.sin(p[:, 4])[:, None]
    out: FloatArray = np.stack([lx * c - ly * s + p[:, :1], lx * s + ly * c + p[:, 1:2]], axis=2)
    return out


def cuboid_iou_matrix(reference: Sequence[Cuboid], candidate: Sequence[Cuboid], *,
                      mode: Literal["3d", "bev"] = "3d") -> FloatArray:
    """3D (or bird's-eye-view) IoU between every reference and candidate cuboid.

    Args:
        reference: ``n`` :class:`~accord.core.model.Cuboid` values (centre, size, yaw in radians).
        candidate: ``m`` cuboids.
        mode: ``"3d"`` (volume IoU) or ``"bev"`` (IoU of the footprints only, height ignored).

    Returns:
        (n, m) in [0, 1]; symmetric; zero-volume pairs give 0.

    >>> from accord.core.model import Cuboid
    >>> a = Cuboid(label="car", x=0, y=0, z=0, length=2, width=2, height=2)
    >>> b = Cuboid(label="car", x=1, y=0, z=0, length=2, width=2, height=2)
    >>> float(cuboid_iou_matrix([a], [b])[0, 0])  # 4 / (8 + 8 - 4)
    0.3333333333333333
    """
    for role, values in (("reference", reference), ("candidate", candidate)):
        for i, v in enumerate(values):
            if not isinstance(v, Cuboid):
                raise InvalidAnnotationError(
                    f"{role}[{i}] should be a Cuboid value, got {type(v).__name__}; pass only cuboids"
                )
    if mode not in ("3d", "bev"):
        raise InvalidAnnotationError(f"mode must be '3d' or 'bev', got {mode!r}")
    n, m = len(reference), len(candidate)
    out = np.zeros((n, m))
    if n == 0 or m == 0:
        return out
    pa, pb = cuboid_bev_corners(reference), cuboid_bev_corners(candidate)
    za = np.array([(c.z - c.height / 2, c.z + c.height / 2) for c in reference])
    zb = np.array([(c.z - c.height / 2, c.z + c.height / 2) for c in candidate])
    bev_a = np.array([c.length * c.width for c in reference])
    bev_b = np.array([c.length * c.width for c in candidate])
    if mode == "3d":
        size_a = bev_a * (za[:, 1] - za[:, 0])
        size_b = bev_b * (zb[:, 1] - zb[:, 0])
        dz = np.clip(np.minimum(za[:, None, 1], zb[None, :, 1]) - np.maximum(za[:, None, 0], zb[None, :, 0]),
                     0, None)
    else:
        size_a, size_b = bev_a, bev_b
        dz = np.ones((n, m))
    ca, cb = pa.mean(axis=1), pb.mean(axis=1)
    rad_a = np.hypot([c.length for c in reference], [c.width for c in reference]) / 2
    rad_b = np.hypot([c.length for c in candidate], [c.width for c in candidate]) / 2
    dist = np.hypot(ca[:, None, 0] - cb[None, :, 0], ca[:, None, 1] - cb[None, :, 1])
    near = (dist <= rad_a[:, None] + rad_b[None, :]) & (dz > 0) & (size_a[:, None] > 0) & (size_b[None, :] > 0)
    ii, jj = np.nonzero(near)
    if ii.size:
        inter = convex_intersection_areas(pa[ii], pb[jj]) * dz[ii, jj]
        union = size_a[ii] + size_b[jj] - inter
        out[ii, jj] = np.clip(inter / union, 0.0, 1.0)
    return out


register_similarity(Cuboid.kind, cuboid_iou_matrix)
