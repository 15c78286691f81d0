"""Mask IoU / Dice on RLE runs, differential against pycocotools, and polygon rasterization."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as coco_mask
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import rle
from accord.core.errors import InvalidAnnotationError
from accord.core.matching.masks import (
    mask_intervals,
    mask_similarity_matrix,
    polygon_intervals,
    polygon_mask_similarity_matrix,
)
from accord.core.model import Mask, Polygon


def _mask(m: np.ndarray) -> Mask:
    return Mask(label="m", height=m.shape[0], width=m.shape[1], counts=rle.encode(m))


def _random_masks(rng: np.random.Generator, n: int, h: int, w: int) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        m = np.zeros((h, w), dtype=bool)
        for _ in range(rng.integers(0, 4)):  # a few rectangles, then salt-and-pepper noise
            y, x = rng.integers(0, h), rng.integers(0, w)
            m[y:y + rng.integers(1, h + 1), x:x + rng.integers(1, w + 1)] = True
        m ^= rng.random((h, w)) < rng.uniform(0, 0.2)
        out.append(m)
    return out


def _coco(masks: list[np.ndarray]) -> list[dict[str, object]]:
    return [coco_mask.encode(np.asfortranarray(m.astype(np.uint8))) for m in masks]


def test_mask_iou_known_answer() -> None:
    # Left column of a 2x2 image vs the anti-diagonal: overlap 1 pixel, union 3 -> IoU 1/3, Dice 1/2.
    a = np.array([[1, 0], [1, 0]], dtype=bool)
    b = np.array([[0, 1], [1, 0]], dtype=bool)
    assert mask_similarity_matrix([_mask(a)], [_mask(b)])[0, 0] == pytest.approx(1 / 3)
    assert mask_similarity_matrix([_mask(a)], [_mask(b)], metric="dice")[0, 0] == pytest.approx(0.5)
    empty = _mask(np.zeros((2, 2), dtype=bool))
    assert mask_similarity_matrix([empty], [empty])[0, 0] == 0.0  # as pycocotools: union 0 -> 0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 40))
def test_mask_iou_equals_pycocotools(seed: int, h: int, w: int) -> None:
    rng = np.random.default_rng(seed)
    a = _random_masks(rng, int(rng.integers(1, 6)), h, w)
    b = _random_masks(rng, int(rng.integers(1, 6)), h, w)
    ours = mask_similarity_matrix([_mask(m) for m in a], [_mask(m) for m in b])
    peer = coco_mask.iou(_coco(b), _coco(a), [0] * len(a))  # (dt x gt) -> our (ref x cand) is (a x b)
    np.testing.assert_allclose(ours, np.asarray(peer).reshape(len(b), len(a)).T, atol=1e-9, rtol=0)
    # Properties: symmetric, in [0, 1], IoU(a, a) == 1 for a non-empty mask.
    np.testing.assert_array_equal(ours, mask_similarity_matrix([_mask(m) for m in b], [_mask(m) for m in a]).T)
    assert np.all((ours >= 0) & (ours <= 1))
    self_iou = np.diag(mask_similarity_matrix([_mask(m) for m in a], [_mask(m) for m in a]))
    np.testing.assert_array_equal(self_iou, [1.0 if m.any() else 0.0 for m in a])
    # Dice from the same intersections, checked on dense arrays.
    dice = mask_similarity_matrix([_mask(m) for m in a], [_mask(m) for m in b], metric="dice")
    for i, ma in enumerate(a):
        for j, mb in enumerate(b):
            tot = ma.sum() + mb.sum()
            assert dice[i, j] == pytest.approx(2 * (ma & mb).sum() / tot if tot else 0.0, abs=1e-12)


def test_mask_iou_on_large_sparse_masks() -> None:
    # 2000 x 3000 image: runs only, never decoded; still equal to pycocotools.
    rng = np.random.default_rng(3)
    ms = []
    for _ in range(4):
        m = np.zeros((2000, 3000), dtype=bool)
        y, x = rng.integers(0, 1500, 2)
        m[y:y + 400, x:x + 700] = True
        ms.append(m)
    ours = mask_similarity_matrix([_mask(m) for m in ms], [_mask(m) for m in ms])
    peer = np.asarray(coco_mask.iou(_coco(ms), _coco(ms), [0] * 4))
    np.testing.assert_allclose(ours, peer.T, atol=1e-9, rtol=0)


def test_mask_intervals_round_trip() -> None:
    m = np.array([[1, 1, 0], [0, 1, 1]], dtype=bool)  # column-major: 1,0 | 1,1 | 0,1
    s, e = mask_intervals(rle.encode(m))
    np.testing.assert_array_equal(s, [0, 2, 5])
    np.testing.assert_array_equal(e, [1, 4, 6])


def test_mask_size_mismatch_raises() -> None:
    a = _mask(np.ones((2, 2), dtype=bool))
    b = _mask(np.ones((3, 2), dtype=bool))
    with pytest.raises(InvalidAnnotationError, match="share one image size"):
        mask_similarity_matrix([a], [b])
    with pytest.raises(InvalidAnnotationError, match="should be a Mask"):
        mask_similarity_matrix([a], [Polygon(label="p", points=((0, 0), (1, 0), (1, 1)))])  # type: ignore[list-item]


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 45), st.floats(-5, 35)), min_size=3, max_size=8))
def test_polygon_rasterization_is_the_pixel_centre_rule(pts: list[tuple[float, float]]) -> None:
    h, w = 30, 40
    s, e = polygon_intervals(pts, h, w)
    flat = np.zeros(h * w, dtype=bool)
    for a, b in zip(s, e, strict=True):
        flat[a:b] = True
    ours = flat.reshape((h, w), order="F")
    rows, cols = np.mgrid[0:h, 0:w]
    poly = shapely.Polygon(pts)
    # Even-odd reference by ray casting on the pixel centres (independent of our column scan).
    x, y = cols + 0.5, rows + 0.5
    inside = np.zeros((h, w), dtype=bool)
    p = np.asarray(pts)
    for (x0, y0), (x1, y1) in zip(p, np.roll(p, -1, axis=0), strict=True):
        crosses = (y0 <= y) != (y1 <= y)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < xc)
    # Pixels whose centre lies on the boundary may go either way; compare everywhere else.
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = shapely.distance(poly.boundary, shapely.points(x.ravel(), y.ravel()))
    on_edge = ~(dist.reshape(h, w) >= 1e-9)
    assert np.array_equal(ours[~on_edge], inside[~on_edge])


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_polygon_vs_mask_iou() -> None:
    # The rectangle [2, 6] x [1, 4] covers pixel centres cols 2..5, rows 1..3 -> 12 pixels.
    rect = Polygon(label="m", points=((2, 1), (6, 1), (6, 4), (2, 4)))
    m = np.zeros((8, 10), dtype=bool)
    m[1:4, 2:6] = True
    assert polygon_mask_similarity_matrix([rect], [_mask(m)])[0, 0] == 1.0
    m2 = np.zeros((8, 10), dtype=bool)
    m2[1:4, 4:8] = True  # overlap: cols 4, 5 x 3 rows = 6; union 12 + 12 - 6 = 18
    assert polygon_mask_similarity_matrix([rect], [_mask(m2)])[0, 0] == pytest.approx(6 / 18)
    assert polygon_mask_similarity_matrix([rect], [_mask(m2)], metric="dice")[0, 0] == pytest.approx(12 / 24)
    # Compared with pycocotools: its polygon raster differs on the boundary only, so the IoU is close.
    rng = np.random.default_rng(5)
    for _ in range(10):
        cx, cy, r = rng.uniform(20, 40), rng.uniform(20, 40), rng.uniform(5, 15)
        t = np.sort(rng.uniform(0, 2 * np.pi, 7))
        pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)
        peer_rle = coco_mask.frPyObjects([pts.ravel().tolist()], 60, 60)
        dense = coco_mask.decode(peer_rle)[:, :, 0].astype(bool)
        ours = polygon_mask_similarity_matrix([Polygon(label="m", points=pts)], [_mask(dense)])[0, 0]
        assert ours > 0.85
