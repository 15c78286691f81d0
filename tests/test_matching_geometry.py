"""Boxes (axis-aligned and rotated), polygons, polylines, the registry and match_regions."""

from __future__ import annotations

import doctest
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from accord.core.errors import InvalidAnnotationError
from accord.core.matching import cuboids, geometry, keypoints, masks, registry
from accord.core.matching.base import box_iou_matrix, match_similarity
from accord.core.matching.geometry import (
    convex_intersection_areas,
    match_boxes_batched,
    match_regions,
    polygon_similarity_matrix,
    polyline_similarity_matrix,
    rotated_box_iou_matrix,
)
from accord.core.model import Box, Cuboid, Keypoint, Keypoints, Mask, Polygon, Polyline

FAST = settings(max_examples=40, deadline=None)

# --------------------------------------------------------------------------- strategies

coord = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
size = st.floats(0.5, 30, allow_nan=False, allow_infinity=False)
angle = st.floats(-360, 360, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw: st.DrawFn) -> Box:
    return Box(label=draw(st.sampled_from("ab")), x=draw(coord), y=draw(coord), width=draw(size),
               height=draw(size), rotation=draw(st.one_of(st.just(0.0), angle)))


@st.composite
def star_polygons(draw: st.DrawFn) -> Polygon:
    """Star-shaped polygons about a centre: simple, and concave in general."""
    n = draw(st.integers(3, 12))
    # Angles from positive gaps (no slivers thinner than ~0.1 rad), turned by a random offset.
    gaps = np.array(draw(st.lists(st.floats(0.2, 1.0), min_size=n, max_size=n)))
    offset = draw(st.floats(0, 2 * math.pi))
    angles = (offset + 2 * math.pi * np.cumsum(gaps) / gaps.sum()).tolist()
    radii = draw(st.lists(st.floats(1, 20), min_size=n, max_size=n))
    cx, cy = draw(coord), draw(coord)
    pts = tuple((cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii, strict=True))
    return Polygon(label="p", points=pts)


def _shapely_iou(a: shapely.Geometry, b: shapely.Geometry) -> float:
    union = a.union(b).area
    return a.intersection(b).area / union if union > 0 else 0.0


# --------------------------------------------------------------------------- boxes


def test_axis_aligned_boxes_use_box_iou_matrix() -> None:
    a = [Box(label="x", x=0, y=0, width=10, height=10), Box(label="x", x=5, y=5, width=10, height=10)]
    b = [Box(label="x", x=5, y=0, width=10, height=10)]
    expected = box_iou_matrix([bx.xyxy() for bx in a], [bx.xyxy() for bx in b])
    np.testing.assert_allclose(rotated_box_iou_matrix(a, b), expected)
    # Hand arithmetic: [0,10]^2 vs [5,15]x[0,10] overlap 50, union 150.
    assert rotated_box_iou_matrix(a, b)[0, 0] == pytest.approx(1 / 3)


def test_rotated_square_known_answer() -> None:
    # A 2x2 square and the same square turned 45 deg about its centre: the intersection is a
    # regular octagon of area 8(sqrt2 - 1); union = 8 - 8(sqrt2 - 1).
    a = Box(label="x", x=0, y=0, width=2, height=2)
    b = Box(label="x", x=0, y=0, width=2, height=2, rotation=45)
    inter = 8 * (math.sqrt(2) - 1)
    assert rotated_box_iou_matrix([a], [b])[0, 0] == pytest.approx(inter / (8 - inter), rel=1e-12)
    # 90 deg turns a square into itself.
    c = Box(label="x", x=0, y=0, width=2, height=2, rotation=90)
    assert rotated_box_iou_matrix([a], [c])[0, 0] == pytest.approx(1.0, rel=1e-12)
    # A 4x2 box turned 90 deg about its centre (2, 1): footprint [1,3]x[-1,3]; overlap 2x2 = 4.
    d = Box(label="x", x=0, y=0, width=4, height=2)
    e = Box(label="x", x=0, y=0, width=4, height=2, rotation=90)
    assert rotated_box_iou_matrix([d], [e])[0, 0] == pytest.approx(4 / 12, rel=1e-12)


def test_rotated_box_inside_another_with_collinear_sides() -> None:
    # Same centre and angle, equal heights: the long sides are collinear after rotation, a case
    # where naive edge clipping produces spurious crossings. Intersection 100 of union 300.
    big = Box(label="x", x=0, y=0, width=30, height=10, rotation=33)
    small = Box(label="x", x=10, y=0, width=10, height=10, rotation=33)
    assert rotated_box_iou_matrix([big], [small])[0, 0] == pytest.approx(1 / 3, rel=1e-9)


def test_rotated_boxes_agree_with_box_corners_and_shapely() -> None:
    rng = np.random.default_rng(1)
    bs = [Box(label="x", x=rng.uniform(0, 20), y=rng.uniform(0, 20), width=rng.uniform(0.1, 15),
              height=rng.uniform(0.1, 15), rotation=rng.uniform(-180, 180)) for _ in range(40)]
    ours = rotated_box_iou_matrix(bs, bs)
    polys = [shapely.Polygon(b.corners()) for b in bs]
    peer = np.array([[_shapely_iou(p, q) for q in polys] for p in polys])
    np.testing.assert_allclose(ours, peer, atol=1e-9)


@FAST
@given(st.lists(boxes(), min_size=1, max_size=6), st.lists(boxes(), min_size=1, max_size=6))
def test_rotated_iou_matches_shapely(a: list[Box], b: list[Box]) -> None:
    ours = rotated_box_iou_matrix(a, b)
    peer = np.array([[_shapely_iou(shapely.Polygon(p.corners()), shapely.Polygon(q.corners())) for q in b]
                     for p in a])
    np.testing.assert_allclose(ours, peer, atol=1e-9)


@FAST
@given(st.lists(boxes(), min_size=1, max_size=5), st.lists(boxes(), min_size=1, max_size=5), coord, coord)
def test_box_iou_properties(a: list[Box], b: list[Box], dx: float, dy: float) -> None:
    m = rotated_box_iou_matrix(a, b)
    assert m.shape == (len(a), len(b))
    assert np.all((m >= 0) & (m <= 1))
    np.testing.assert_allclose(m, rotated_box_iou_matrix(b, a).T, atol=1e-12)
    np.testing.assert_allclose(np.diag(rotated_box_iou_matrix(a, a)), 1.0, atol=1e-9)
    moved = [Box(label=x.label, x=x.x + dx, y=x.y + dy, width=x.width, height=x.height, rotation=x.rotation)
             for x in (*a, *b)]
    np.testing.assert_allclose(rotated_box_iou_matrix(moved[:len(a)], moved[len(a):]), m, atol=1e-9)


def test_degenerate_boxes_give_zero() -> None:
    flat = Box(label="x", x=0, y=0, width=0, height=5, rotation=30)
    assert rotated_box_iou_matrix([flat], [flat])[0, 0] == 0.0
    assert rotated_box_iou_matrix([], [flat]).shape == (0, 1)


def test_convex_intersection_handles_touching_and_disjoint() -> None:
    sq = np.array([[[0, 0], [1, 0], [1, 1], [0, 1]]], dtype=float)
    touching = sq + np.array([1.0, 0.0])
    far = sq + np.array([5.0, 5.0])
    inside = np.array([[[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]]])
    clockwise = sq[:, ::-1]
    got = convex_intersection_areas(np.concatenate([sq, sq, sq, sq]),
                                    np.concatenate([touching, far, inside, clockwise]))
    np.testing.assert_allclose(got, [0.0, 0.0, 0.25, 1.0], atol=1e-12)


# --------------------------------------------------------------------------- polygons


def test_concave_polygon_known_answer() -> None:
    # An L shape (unit squares (0,0),(1,0),(0,1)) against the square [0,2]^2:
    # intersection = the L (area 3), union = 4 -> IoU 3/4, Dice 2*3/(3+4) = 6/7.
    ell = Polygon(label="p", points=((0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)))
    sq = Polygon(label="p", points=((0, 0), (2, 0), (2, 2), (0, 2)))
    assert polygon_similarity_matrix([ell], [sq])[0, 0] == pytest.approx(0.75, rel=1e-12)
    assert polygon_similarity_matrix([ell], [sq], metric="dice")[0, 0] == pytest.approx(6 / 7, rel=1e-12)
    # Same L listed clockwise from another vertex: identical region.
    ell_cw = Polygon(label="p", points=((1, 1), (2, 1), (2, 0), (0, 0), (0, 2), (1, 2)))
    assert polygon_similarity_matrix([ell], [ell_cw])[0, 0] == pytest.approx(1.0, rel=1e-12)
    # The missing corner square alone does not overlap the L (only shares edges).
    corner = Polygon(label="p", points=((1, 1), (2, 1), (2, 2), (1, 2)))
    assert polygon_similarity_matrix([ell], [corner])[0, 0] == pytest.approx(0.0, abs=1e-12)


@FAST
@given(st.lists(star_polygons(), min_size=1, max_size=4), st.lists(star_polygons(), min_size=1, max_size=4))
def test_polygon_iou_matches_shapely(a: list[Polygon], b: list[Polygon]) -> None:
    # Tolerance: both are exact computations in float64; 1e-9 absolute covers rounding.
    ours = polygon_similarity_matrix(a, b)
    dice = polygon_similarity_matrix(a, b, metric="dice")
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            sp, sq = shapely.Polygon(p.points), shapely.Polygon(q.points)
            if not (sp.is_valid and sq.is_valid):
                continue  # near-degenerate spikes can self-touch; shapely's area is then not the same thing
            assert ours[i, j] == pytest.approx(_shapely_iou(sp, sq), abs=1e-9)
            inter = sp.intersection(sq).area
            assert dice[i, j] == pytest.approx(2 * inter / (sp.area + sq.area), abs=1e-9)


@FAST
@given(st.lists(star_polygons(), min_size=1, max_size=4), coord, coord)
def test_polygon_iou_properties(a: list[Polygon], dx: float, dy: float) -> None:
    m = polygon_similarity_matrix(a, a)
    assert np.all((m >= 0) & (m <= 1))
    np.testing.assert_allclose(m, m.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-9)
    moved = [Polygon(label="p", points=tuple((x + dx, y + dy) for x, y in p.points)) for p in a]
    np.testing.assert_allclose(polygon_similarity_matrix(moved, a[::-1]),
                               polygon_similarity_matrix(a, [Polygon(label="p", points=tuple(
                                   (x - dx, y - dy) for x, y in p.points)) for p in a[::-1]]), atol=1e-9)


def test_polygon_metric_option_is_checked() -> None:
    sq = Polygon(label="p", points=((0, 0), (1, 0), (1, 1)))
    with pytest.raises(InvalidAnnotationError, match="metric must be 'iou' or 'dice'"):
        polygon_similarity_matrix([sq], [sq], metric="jaccard")  # type: ignore[arg-type]
    with pytest.raises(InvalidAnnotationError, match=r"reference\[0\] should be a Polygon"):
        polygon_similarity_matrix([Box(label="b", x=0, y=0, width=1, height=1)], [sq])  # type: ignore[list-item]


# --------------------------------------------------------------------------- polylines


def test_polyline_similarity_known_answers() -> None:
    line = Polyline(label="l", points=((0, 0), (10, 0), (10, 10)))
    reversed_line = Polyline(label="l", points=((10, 10), (10, 0), (0, 0)))
    # Same shape with an extra collinear vertex: arc-length resampling makes it identical.
    split = Polyline(label="l", points=((0, 0), (5, 0), (10, 0), (10, 10)))
    m = polyline_similarity_matrix([line], [line, reversed_line, split])
    np.testing.assert_allclose(m, 1.0, atol=1e-12)
    # Shift by d = kappa * diag: every resampled point is d away -> exp(-1/2).
    diag = math.hypot(10, 10)
    shifted = Polyline(label="l", points=tuple((x + 0.1 * diag, y) for x, y in line.points))
    assert polyline_similarity_matrix([line], [shifted])[0, 0] == pytest.approx(math.exp(-0.5), rel=1e-9)
    far = Polyline(label="l", points=((500, 500), (600, 500)))
    assert polyline_similarity_matrix([line], [far])[0, 0] < 1e-12


@FAST
@given(st.lists(st.lists(st.tuples(coord, coord), min_size=2, max_size=6), min_size=1, max_size=4), coord)
def test_polyline_similarity_properties(raw: list[list[tuple[float, float]]], dx: float) -> None:
    lines = [Polyline(label="l", points=tuple(p)) for p in raw]
    m = polyline_similarity_matrix(lines, lines[::-1])
    assert np.all((m >= 0) & (m <= 1))
    np.testing.assert_allclose(m, polyline_similarity_matrix(lines[::-1], lines).T, atol=1e-12)
    np.testing.assert_allclose(np.diag(polyline_similarity_matrix(lines, lines)), 1.0, atol=1e-12)
    moved = [Polyline(label="l", points=tuple((x + dx, y) for x, y in p.points)) for p in lines]
    np.testing.assert_allclose(polyline_similarity_matrix(moved, moved[::-1]), m, atol=1e-7)


def test_polyline_options_are_checked() -> None:
    line = Polyline(label="l", points=((0, 0), (1, 0)))
    with pytest.raises(InvalidAnnotationError, match="n_points must be >= 2"):
        polyline_similarity_matrix([line], [line], n_points=1)
    with pytest.raises(InvalidAnnotationError, match="kappa must be > 0"):
        polyline_similarity_matrix([line], [line], kappa=0)


# --------------------------------------------------------------------------- registry and match_regions


def test_registry_rejects_duplicates_and_lists_known_kinds() -> None:
    with pytest.raises(registry.RegistryError, match="already registered"):
        registry.register_similarity("box", rotated_box_iou_matrix)
    with pytest.raises(registry.RegistryError, match="non-empty string"):
        registry.register_similarity("", rotated_box_iou_matrix)
    with pytest.raises(registry.RegistryError, match=r"known kinds: \[.*'box'"):
        registry.get_similarity("no-such-kind")
    with pytest.raises(registry.RegistryError, match="two different non-empty kinds"):
        registry.register_cross_similarity("box", "box", rotated_box_iou_matrix)


@dataclass(frozen=True)
class _Interval:
    """A stand-in value of a kind nobody else registers."""

    kind: ClassVar[str] = "test_interval"
    label: str
    start: float
    end: float


def test_registry_accepts_a_new_kind() -> None:
    def interval_iou(reference: list[_Interval], candidate: list[_Interval]) -> np.ndarray:
        a = np.array([(s.start, s.end) for s in reference], dtype=float)
        b = np.array([(s.start, s.end) for s in candidate], dtype=float)
        inter = np.clip(np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0,
                        None)
        return inter / ((a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter)

    registry.register_similarity("test_interval", interval_iou)
    try:
        res = match_regions([_Interval(label="PER", start=0, end=4)],
                            [_Interval(label="PER", start=1, end=4), _Interval(label="LOC", start=10, end=12)])
        assert res.pairs == ((0, 0),)
        assert res.similarity == pytest.approx((0.75,))
    finally:
        del registry.SIMILARITY["test_interval"]


def test_match_regions_dispatches_by_kind() -> None:
    ref = [Box(label="car", x=0, y=0, width=10, height=10), Box(label="dog", x=50, y=50, width=10, height=10)]
    cand = [Box(label="cat", x=51, y=50, width=10, height=10), Box(label="car", x=1, y=0, width=10, height=10)]
    res = match_regions(ref, cand, iou_threshold=0.5)
    assert res.pairs == ((0, 1), (1, 0))
    assert res.label_mismatches == (1,)  # dog vs cat
    assert res.similarity == pytest.approx((90 / 110, 90 / 110))
    aware = match_regions(ref, cand, iou_threshold=0.5, label_aware=True)
    assert aware.pairs == ((0, 1),)
    assert aware.unmatched_reference == (1,)
    assert aware.unmatched_candidate == (0,)
    # Options reach the similarity function.
    sq = Polygon(label="p", points=((0, 0), (2, 0), (2, 2), (0, 2)))
    half = Polygon(label="p", points=((0, 0), (1, 0), (1, 2), (0, 2)))
    dice = match_regions([sq], [half], iou_threshold=0.6, options={"metric": "dice"})
    assert dice.similarity == pytest.approx((2 * 2 / 6,))
    assert match_regions([sq], [half], iou_threshold=0.6).pairs == ()


def test_match_regions_other_kinds_and_empty_sides() -> None:
    c = Cuboid(label="car", x=0, y=0, z=0, length=4, width=2, height=1.5)
    assert match_regions([c], [c]).similarity == pytest.approx((1.0,))
    kp = Keypoints(label="person", points=(Keypoint(name="nose", x=1, y=1), Keypoint(name="left_eye", x=3, y=2)))
    assert match_regions([kp], [kp]).pairs == ((0, 0),)
    mask = Mask(label="m", height=2, width=2, counts=(0, 2, 2))
    tri = Polygon(label="m", points=((0, 0), (1, 0), (1, 2), (0, 2)))  # covers the left column
    assert match_regions([tri], [mask]).similarity == pytest.approx((1.0,))
    assert match_regions([mask], [tri]).similarity == pytest.approx((1.0,))
    res = match_regions([], [c])
    assert res.unmatched_candidate == (0,)
    assert res.pairs == ()
    assert match_regions([], []).f1_score() == 1.0


def test_match_regions_rejects_mixed_or_unknown_kinds() -> None:
    box = Box(label="a", x=0, y=0, width=1, height=1)
    poly = Polygon(label="a", points=((0, 0), (1, 0), (1, 1)))
    with pytest.raises(InvalidAnnotationError, match="reference values mix kinds"):
        match_regions([box, poly], [box])
    with pytest.raises(registry.RegistryError, match="cannot compare reference 'box'"):
        match_regions([box], [poly])
    with pytest.raises(InvalidAnnotationError, match=r"iou_threshold must be in \[0, 1\]"):
        match_regions([box], [box], iou_threshold=1.5)


# --------------------------------------------------------------------------- batched boxes


def _peer_image_stats(ref: np.ndarray, cand: np.ndarray, rl: np.ndarray, cl: np.ndarray,
                      t: float) -> tuple[int, float]:
    """Independent per-image matching: IoU matrix + scipy's Hungarian with the same objective."""
    iou = box_iou_matrix(ref, cand)
    ok = iou >= t
    if not ok.any():
        return 0, 0.0
    r, c = linear_sum_assignment(np.where(ok, iou + 1, 0), maximize=True)
    keep = ok[r, c]
    return int(np.sum(rl[r[keep]] == cl[c[keep]])), float(iou[r[keep], c[keep]].sum())


def test_match_boxes_batched_equals_per_image_matching() -> None:
    rng = np.random.default_rng(7)
    n_images = 60
    rows = []
    for side in range(2):
        for g in range(n_images):
            k = rng.integers(0, 8)
            xy = rng.uniform(0, 60, (k, 2))
            wh = rng.uniform(5, 30, (k, 2))
            rows.append((side, np.full(k, g), np.concatenate([xy, xy + wh], 1), rng.integers(0, 3, k)))
    ref = [r for r in rows if r[0] == 0]
    cand = [r for r in rows if r[0] == 1]
    # Shuffle the order of boxes: the batched matcher must not rely on grouping.
    rb = np.concatenate([r[2] for r in ref])
    ri = np.concatenate([r[1] for r in ref])
    rl = np.concatenate([r[3] for r in ref])
    perm = rng.permutation(len(rb))
    stats = match_boxes_batched(rb[perm], ri[perm], np.concatenate([c[2] for c in cand]),
                                np.concatenate([c[1] for c in cand]), iou_threshold=0.3,
                                reference_labels=rl[perm], candidate_labels=np.concatenate([c[3] for c in cand]))
    for g in range(n_images):
        tp, iou_sum = _peer_image_stats(ref[g][2], cand[g][2], ref[g][3], cand[g][3], 0.3)
        ms = match_similarity(box_iou_matrix(ref[g][2], cand[g][2]), threshold=0.3,
                              reference_labels=list(ref[g][3]), candidate_labels=list(cand[g][3]))
        assert stats.tp[g] == tp == ms.tp
        assert stats.iou_sum[g] == pytest.approx(iou_sum)
        assert stats.f1_score()[g] == pytest.approx(ms.f1_score())
        assert stats.n_reference[g] == len(ref[g][2])


def test_match_boxes_batched_checks_input() -> None:
    with pytest.raises(InvalidAnnotationError, match="one image index per box"):
        match_boxes_batched(np.zeros((2, 4)), [0], np.zeros((0, 4)), [])
    with pytest.raises(InvalidAnnotationError, match="labels for both sides"):
        match_boxes_batched(np.zeros((1, 4)), [0], np.zeros((1, 4)), [0], reference_labels=[1])
    empty = match_boxes_batched(np.zeros((0, 4)), [], np.zeros((0, 4)), [], n_images=2)
    np.testing.assert_array_equal(empty.f1_score(), [1.0, 1.0])
    assert np.isnan(empty.mean_iou()).all()


# registry is not listed: it holds tables and register/lookup plumbing with no examples of its own
# (its behaviour is tested directly below); a listed module without doctests would pass vacuously.
@pytest.mark.parametrize("module", [geometry, masks, keypoints, cuboids])
def test_doctests_run(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0


def test_match_regions_finds_kinds_registered_by_sibling_modules() -> None:
    from accord.core.model import Span

    pytest.importorskip("accord.core.matching.spans")
    res = match_regions([Span(label="PER", start=0, end=4)], [Span(label="PER", start=0, end=4)])
    assert res.pairs == ((0, 0),)
    assert set(registry.SIMILARITY) >= {"box", "polygon", "polyline", "mask", "keypoints", "cuboid", "span"}


@pytest.mark.parametrize(("threshold", "label_aware"), [(0.0, False), (0.1, True), (0.7, True)])
def test_match_boxes_batched_options_equal_match_similarity(threshold: float, label_aware: bool) -> None:
    rng = np.random.default_rng(11)
    n_images = 25
    k_a, k_b = rng.integers(0, 6, n_images), rng.integers(0, 6, n_images)
    img_a, img_b = np.repeat(np.arange(n_images), k_a), np.repeat(np.arange(n_images), k_b)

    def draw(n: int) -> np.ndarray:
        xy = rng.uniform(0, 30, (n, 2))
        return np.concatenate([xy, xy + rng.uniform(5, 20, (n, 2))], axis=1)

    box_a, box_b = draw(img_a.size), draw(img_b.size)
    lab_a, lab_b = rng.integers(0, 2, img_a.size), rng.integers(0, 2, img_b.size)
    stats = match_boxes_batched(box_a, img_a, box_b, img_b, n_images=n_images, iou_threshold=threshold,
                                reference_labels=lab_a, candidate_labels=lab_b, label_aware=label_aware)
    for g in range(n_images):
        ia, ib = img_a == g, img_b == g
        res = match_similarity(box_iou_matrix(box_a[ia], box_b[ib]), threshold=threshold,
                               reference_labels=list(lab_a[ia]), candidate_labels=list(lab_b[ib]),
                               label_aware=label_aware)
        assert (stats.n_matched[g], stats.tp[g]) == (len(res.pairs), res.tp)
        assert stats.iou_sum[g] == pytest.approx(sum(res.similarity))
