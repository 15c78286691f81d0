"""Image geometry checks: planted violations found, clean data silent, differential tests."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from accord.core.checks import run_checks
from accord.core.checks.geometry import near_duplicate_pairs, polygon_area, rotated_extent, self_intersections
from accord.core.matching.base import box_iou_matrix
from accord.core.model import Box, Dataset, Item, Keypoint, Keypoints, Polygon, Record
from accord.core.schema import LabelSet, Schema

GEOM = ("geometry.out_of_bounds", "geometry.tiny", "geometry.self_intersecting", "geometry.near_duplicate",
        "geometry.keypoint_outside_box", "geometry.keypoint_visibility")


def rec(item: str, value: object, *, ann: str = "a", rid: str | None = None, ls: str = "objects",
        attributes: dict[str, object] | None = None) -> Record:
    return Record(item_id=item, annotator_id=ann, label_set=ls, value=value, region_id=rid,  # type: ignore[arg-type]
                  attributes=attributes or {})


def clean_dataset(seed: int = 0, n_items: int = 30) -> Dataset:
    """Boxes well inside 640x480 images, separated, large; simple polygons; good skeletons."""
    rng = np.random.default_rng(seed)
    records = []
    items = {}
    for i in range(n_items):
        iid = f"img{i}"
        items[iid] = Item(item_id=iid, width=640, height=480)
        for k in range(6):  # a grid, so same-class boxes never overlap much
            x, y = 20 + 100 * k + rng.uniform(0, 5), 40 + rng.uniform(0, 200)
            records.append(rec(iid, Box(label="car", x=x, y=y, width=60, height=40), rid=f"b{k}"))
            pts = (Keypoint(name="head", x=x + 10, y=y + 5), Keypoint(name="tail", x=x + 50, y=y + 35, visibility=1))
            records.append(rec(iid, Keypoints(label="car", points=pts), rid=f"k{k}", ls="kp"))
        records.append(rec(iid, Polygon(label="road", points=((0, 300), (600, 300), (600, 470), (0, 470))),
                           rid="p", ls="seg"))
        # A second annotator drawing the same boxes is not a duplicate.
        records.append(rec(iid, Box(label="car", x=20, y=40, width=60, height=40), ann="b", rid="b0"))
    schema = Schema.of(LabelSet(name="kp", kind="keypoints", skeleton=("head", "tail")))
    return Dataset(records=tuple(records), items=items, schema=schema)


def findings(ds: Dataset, check: str) -> list[tuple[str | None, str | None]]:
    rep = run_checks(ds, only=[check])
    return [(f.item_id, f.region_id) for f in rep.findings]


@pytest.mark.parametrize("check", GEOM)
def test_clean_data_has_no_findings(check: str) -> None:
    assert findings(clean_dataset(), check) == []


def planted() -> Dataset:
    items = {"i": Item(item_id="i", width=100, height=100), "nosize": Item(item_id="nosize")}
    records = [
        rec("i", Box(label="car", x=90, y=10, width=20, height=10), rid="out"),  # 10 px past the right edge
        rec("i", Box(label="car", x=10, y=10, width=0.5, height=30), rid="thin"),  # side < 1 px
        rec("i", Box(label="car", x=40, y=40, width=20, height=20), rid="d1"),
        rec("i", Box(label="car", x=40.5, y=40, width=20, height=20), rid="d2"),  # IoU 0.951 with d1
        rec("i", Box(label="bus", x=40, y=40, width=20, height=20), rid="other_label"),  # another class: fine
        rec("nosize", Box(label="car", x=5000, y=5000, width=20, height=20), rid="unknown_size"),
        rec("i", Polygon(label="p", points=((0, 0), (50, 50), (50, 0), (0, 50))), rid="bowtie"),
        rec("i", Polygon(label="p", points=((0, 0), (1, 0), (1, 1))), rid="tinypoly"),
        rec("i", Polygon(label="p", points=((10, 10), (120, 10), (120, 50))), rid="polyout"),
        rec("i", Box(label="person", x=10, y=10, width=20, height=40), rid="person1"),
        rec("i", Keypoints(label="person", points=(Keypoint(name="head", x=80, y=80),)), rid="kp1",
            attributes={"parent_id": "person1"}),
        rec("i", Keypoints(label="person", points=(Keypoint(name="head", x=0, y=0, visibility=0),)), rid="kp_none"),
        rec("i", Keypoints(label="person", points=(Keypoint(name="wing", x=5, y=5),)), rid="kp_name"),
    ]
    schema = Schema.of(LabelSet(name="objects", kind="box", skeleton=("head", "tail")))
    return Dataset(records=tuple(records), items=items, schema=schema)


def test_out_of_bounds_planted() -> None:
    got = findings(planted(), "geometry.out_of_bounds")
    assert ("i", "out") in got
    assert ("i", "polyout") in got
    assert ("nosize", "unknown_size") not in got  # no image size: cannot tell
    assert len(got) == 2


def test_out_of_bounds_evidence_and_tolerance() -> None:
    rep = run_checks(planted(), only=["geometry.out_of_bounds"])
    box = next(f for f in rep.findings if f.region_id == "out")
    assert box.evidence["overshoot_px"] == pytest.approx(10.0)
    assert box.category == "poor_localization"
    assert box.severity == "minor"
    rules = {"checks": {"geometry.out_of_bounds": {"tolerance_px": 25.0, "severity": "major"}}}
    assert run_checks(planted(), only=["geometry.out_of_bounds"], rules=rules).findings == ()


def test_rotated_box_out_of_bounds() -> None:
    # A 100x10 box centred at (50, 50), rotated 90 degrees, spans y in [0, 100]: inside a 100x100 image,
    # but in a 100x90 image it reaches 10 px below.
    b = Box(label="x", x=0, y=45, width=100, height=10, rotation=90)
    ext = rotated_extent(np.array([b.xyxy()]), np.array([90.0]))
    np.testing.assert_allclose(ext[0], [45, 0, 55, 100], atol=1e-9)
    corners = b.corners()
    np.testing.assert_allclose(ext[0], [*corners.min(axis=0), *corners.max(axis=0)], atol=1e-9)
    ds = Dataset(records=(rec("i", b, rid="r"),), items={"i": Item(item_id="i", width=100, height=90)})
    assert findings(ds, "geometry.out_of_bounds") == [("i", "r")]


def test_tiny_planted() -> None:
    got = findings(planted(), "geometry.tiny")
    assert sorted(got) == [("i", "thin"), ("i", "tinypoly")]


def test_self_intersecting_planted() -> None:
    assert findings(planted(), "geometry.self_intersecting") == [("i", "bowtie")]


def test_near_duplicate_planted() -> None:
    rep = run_checks(planted(), only=["geometry.near_duplicate"])
    assert [(f.region_id, f.evidence["duplicate_of"]) for f in rep.findings] == [("d2", "d1")]
    # 19.5 * 20 / (20.5 * 20) = 0.9512
    assert rep.findings[0].evidence["iou"] == pytest.approx(19.5 / 20.5)
    assert rep.findings[0].category == "extra_object"


def test_keypoint_checks_planted() -> None:
    assert findings(planted(), "geometry.keypoint_outside_box") == [("i", "kp1")]
    got = run_checks(planted(), only=["geometry.keypoint_visibility"]).findings
    assert sorted(f.region_id or "" for f in got) == ["kp_name", "kp_none"]


@st.composite
def box_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 40))
    xy = draw(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(1, 12), st.integers(1, 12)),
                       min_size=n, max_size=n))
    groups = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    arr = np.array([(x, y, x + w, y + h) for x, y, w, h in xy], dtype=np.float64)
    return arr, np.array(groups, dtype=np.int64)


@settings(max_examples=50, deadline=None)
@given(box_sets(), st.sampled_from([0.0, 0.3, 0.5, 0.9]))
def test_near_duplicate_sweep_matches_brute_force(data: tuple[np.ndarray, np.ndarray], thr: float) -> None:
    """The sweep finds exactly the same-group pairs the dense IoU matrix (box_iou_matrix) finds."""
    xyxy, group = data
    i, j, iou = near_duplicate_pairs(xyxy, group, iou_threshold=thr)
    dense = box_iou_matrix(xyxy, xyxy)
    want = {(p, q) for p in range(len(xyxy)) for q in range(p + 1, len(xyxy))
            if group[p] == group[q] and dense[p, q] > thr}
    got = dict(zip(zip(i.tolist(), j.tolist(), strict=True), iou.tolist(), strict=True))
    assert set(got) == want
    for (p, q), v in got.items():
        assert v == pytest.approx(dense[p, q])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100, allow_nan=False), st.floats(0, 100, allow_nan=False)),
                min_size=3, max_size=9, unique=True))
def test_self_intersection_agrees_with_shapely(points: list[tuple[float, float]]) -> None:
    """A polygon is flagged exactly when shapely says its ring is not simple."""
    ring = shapely.LinearRing(points)
    assert (len(self_intersections(np.array(points))) > 0) == (not ring.is_simple)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 50, allow_nan=False), st.floats(-50, 50, allow_nan=False)),
                min_size=3, max_size=12))
def test_polygon_area_agrees_with_shapely(points: list[tuple[float, float]]) -> None:
    # The shoelace formula equals shapely's area for any ring that does not cross itself.
    assume(not self_intersections(np.array(points)))
    assert polygon_area(np.array(points)) == pytest.approx(shapely.Polygon(points).area, abs=1e-6)


def test_simple_polygons_known_answers() -> None:
    assert self_intersections(np.array([(0, 0), (4, 0), (4, 3), (0, 3)])) == []
    assert self_intersections(np.array([(0, 0), (2, 2), (2, 0), (0, 2)])) == [(0, 2)]
    # A spike folding back on itself: (0,0) -> (4,0) -> (2,0) -> (2,3)
    assert self_intersections(np.array([(0, 0), (4, 0), (2, 0), (2, 3)]))
    # A repeated point is not a crossing.
    assert self_intersections(np.array([(0, 0), (4, 0), (4, 0), (4, 3)])) == []
    assert polygon_area(np.array([(0, 0), (4, 0), (4, 3), (0, 3)])) == 12.0


def test_self_intersection_signs_are_exact_for_nearly_collinear_points() -> None:
    """Found by hypothesis: in floats 1 - 1e-38 is 1, so the plain determinant called the wrap
    edges of this (simple) triangle collinear and folded; the exact fallback says it turns."""
    tiny = [(0.0, 0.0), (0.0, 1.175494351e-38), (1.0, 1.0)]
    assert shapely.LinearRing(tiny).is_simple
    assert self_intersections(np.array(tiny)) == []
    assert self_intersections(np.array([(0.0, 0.0), (2.0, 2.0), (2.0, 0.0), (0.0, 2.0)])) == [(0, 2)]
