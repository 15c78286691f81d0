"""3D IoU of yawed cuboids: known answers and a differential test against shapely BEV x height."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.errors import InvalidAnnotationError
from accord.core.matching.cuboids import cuboid_bev_corners, cuboid_iou_matrix
from accord.core.model import Cuboid

pos = st.floats(-20, 20)
dim = st.floats(0.5, 8)


@st.composite
def cuboids(draw: st.DrawFn) -> Cuboid:
    return Cuboid(label="car", x=draw(pos), y=draw(pos), z=draw(st.floats(-2, 2)), length=draw(dim),
                  width=draw(dim), height=draw(dim), yaw=draw(st.floats(-math.pi, math.pi)))


def _peer_iou(a: Cuboid, b: Cuboid) -> float:
    """Shapely BEV polygon intersection times the z overlap, over the union volume."""
    pa = shapely.Polygon(cuboid_bev_corners([a])[0])
    pb = shapely.Polygon(cuboid_bev_corners([b])[0])
    dz = max(0.0, min(a.z + a.height / 2, b.z + b.height / 2) - max(a.z - a.height / 2, b.z - b.height / 2))
    inter = pa.intersection(pb).area * dz
    return inter / (a.volume + b.volume - inter)


def test_cuboid_known_answers() -> None:
    a = Cuboid(label="car", x=1, y=2, z=0.5, length=4, width=2, height=1.5, yaw=0.3)
    assert cuboid_iou_matrix([a], [a])[0, 0] == pytest.approx(1.0, rel=1e-12)
    # A square footprint turned 90 degrees is the same solid.
    sq = Cuboid(label="car", x=0, y=0, z=0, length=3, width=3, height=2)
    sq90 = Cuboid(label="car", x=0, y=0, z=0, length=3, width=3, height=2, yaw=math.pi / 2)
    assert cuboid_iou_matrix([sq], [sq90])[0, 0] == pytest.approx(1.0, rel=1e-12)
    # Hand-computed offset: 4x2x2 boxes, shifted 1 in x and 0.5 in z.
    # BEV overlap 3 x 2 = 6; z overlap 1.5; intersection 9; volumes 16 -> IoU 9 / 23.
    b = Cuboid(label="car", x=0, y=0, z=0, length=4, width=2, height=2)
    c = Cuboid(label="car", x=1, y=0, z=0.5, length=4, width=2, height=2)
    assert cuboid_iou_matrix([b], [c])[0, 0] == pytest.approx(9 / 23, rel=1e-12)
    assert cuboid_iou_matrix([b], [c], mode="bev")[0, 0] == pytest.approx(6 / 10, rel=1e-12)
    # A 4x2 footprint turned 90 degrees about its centre: overlap 2 x 2 = 4 of 8 + 8 - 4.
    d = Cuboid(label="car", x=0, y=0, z=0, length=4, width=2, height=1, yaw=math.pi / 2)
    e = Cuboid(label="car", x=0, y=0, z=0, length=4, width=2, height=1)
    assert cuboid_iou_matrix([d], [e])[0, 0] == pytest.approx(4 / 12, rel=1e-12)
    # Stacked without vertical overlap.
    up = Cuboid(label="car", x=0, y=0, z=5, length=4, width=2, height=2)
    assert cuboid_iou_matrix([b], [up])[0, 0] == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(cuboids(), min_size=1, max_size=5), st.lists(cuboids(), min_size=1, max_size=5))
def test_cuboid_iou_matches_shapely(a: list[Cuboid], b: list[Cuboid]) -> None:
    ours = cuboid_iou_matrix(a, b)
    peer = np.array([[_peer_iou(p, q) for q in b] for p in a])
    np.testing.assert_allclose(ours, peer, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(cuboids(), min_size=1, max_size=5), pos, pos, pos)
def test_cuboid_iou_properties(a: list[Cuboid], dx: float, dy: float, dz: float) -> None:
    m = cuboid_iou_matrix(a, a[::-1])
    assert np.all((m >= 0) & (m <= 1))
    np.testing.assert_allclose(m, cuboid_iou_matrix(a[::-1], a).T, atol=1e-12)
    np.testing.assert_allclose(np.diag(cuboid_iou_matrix(a, a)), 1.0, atol=1e-9)
    moved = [Cuboid(label=c.label, x=c.x + dx, y=c.y + dy, z=c.z + dz, length=c.length, width=c.width,
                    height=c.height, yaw=c.yaw) for c in a]
    np.testing.assert_allclose(cuboid_iou_matrix(moved, moved[::-1]), m, atol=1e-9)


def test_cuboid_errors() -> None:
    c = Cuboid(label="car", x=0, y=0, z=0, length=1, width=1, height=1)
    with pytest.raises(InvalidAnnotationError, match="mode must be '3d' or 'bev'"):
        cuboid_iou_matrix([c], [c], mode="2d")  # type: ignore[arg-type]
    with pytest.raises(InvalidAnnotationError, match=r"candidate\[0\] should be a Cuboid"):
        cuboid_iou_matrix([c], ["car"])  # type: ignore[list-item]
    flat = Cuboid(label="car", x=0, y=0, z=0, length=1, width=1, height=0)
    assert cuboid_iou_matrix([flat], [flat])[0, 0] == 0.0


def test_cuboid_inside_another_with_collinear_sides() -> None:
    # Found by hypothesis: same centre and yaw, equal widths, so the long sides are collinear
    # after rotation; the intersection is the small cuboid (volume 1) -> IoU 1 / 3.
    big = Cuboid(label="car", x=4, y=0, z=0, length=3, width=1, height=1, yaw=1.0)
    small = Cuboid(label="car", x=4, y=0, z=0, length=1, width=1, height=1, yaw=1.0)
    assert cuboid_iou_matrix([big], [small])[0, 0] == pytest.approx(1 / 3, rel=1e-9)
