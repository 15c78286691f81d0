"""CVAT for images / video 1.1 XML: real-shaped fixtures, zip, round trips, error paths."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.core import rle
from accord.core.errors import ConversionError
from accord.core.model import (
    Box,
    Classification,
    Dataset,
    Item,
    Keypoint,
    Keypoints,
    Mask,
    Polygon,
    Polyline,
    Record,
    Track,
    TrackFrame,
)
from accord.plugins.cvat.convert import from_cvat_xml, to_cvat_xml

FIX = Path(__file__).parent / "fixtures" / "cvat"
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _by(ds: Dataset) -> dict[tuple[str, str], list[Record]]:
    out: dict[tuple[str, str], list[Record]] = {}
    for r in ds.records:
        out.setdefault((r.item_id, r.label_set), []).append(r)
    return out


def test_images_fixture() -> None:
    ds = from_cvat_xml(FIX / "images_train.xml")
    assert ds.annotators() == ("cvat:annotator1",)  # the assignee wins over the owner
    assert list(ds.items) == ["img0", "img1", "img2"]
    assert ds.items["img1"].width == 10
    by = _by(ds)
    b0, b1 = by["img0", "boxes"]
    assert b0.value == Box(label="label1", x=0, y=2, width=4, height=2)
    assert dict(b0.attributes) == {"occluded": True, "z_order": 1, "source": "manual", "a1": "true", "a2": "v3"}
    assert b1.value == Box(label="label2", x=1, y=1, width=4, height=2, rotation=30)  # rotation about the centre
    assert b1.attributes["group_id"] == 1
    assert by["img0", "polylines"][0].label == ""  # empty label name kept
    assert by["img0", "tags"][0].value == Classification(label="label2")
    assert by["img1", "polygons"][0].value == Polygon(label="label1", points=((1, 1), (5, 1), (5, 5), (1, 5)))
    assert by["img1", "points"][0].value == Keypoints(label="label2", points=(
        Keypoint(name="0", x=1, y=2), Keypoint(name="1", x=3, y=4), Keypoint(name="2", x=5, y=6)))
    # CVAT mask RLE "3, 2, 1, 3, 3" over a 4x3 window at (left 2, top 3), row-major from a 0-run:
    # rows 0001 / 1011 / 1000.
    expect = np.zeros((10, 10), bool)
    expect[3:6, 2:6] = [[0, 0, 0, 1], [1, 0, 1, 1], [1, 0, 0, 0]]
    mask = by["img1", "masks"][0].value
    assert isinstance(mask, Mask)
    assert (rle.decode(mask.counts, 10, 10) == expect).all()
    sk = by["img1", "skeletons"][0].value
    assert sk == Keypoints(label="skeleton-label", points=(
        Keypoint(name="point1", x=1, y=2, visibility=2), Keypoint(name="point2", x=3, y=4, visibility=1),
        Keypoint(name="point3", x=0, y=0, visibility=0)))  # outside="1" -> not labeled
    s = ds.schema
    assert s["boxes"].labels == ("", "label1", "label2", "skeleton-label")
    assert [a.name for a in s["boxes"].attributes["label1"]] == ["a1", "a2"]
    assert s["boxes"].attributes["label1"][1].values == ("v1", "v2", "v3")
    assert s["skeletons"].skeleton == ("point1", "point2", "point3")
    # img2 has no shapes but was looked at: it has a submission.
    assert ds.grouped("boxes")["img2"] == {"cvat:annotator1": []}


def test_video_fixture() -> None:
    ds = from_cvat_xml(FIX / "video_annotations.xml")
    assert ds.annotators() == ("cvat:user",)
    video = ds.items["v1"]
    assert dict(video.meta) == {"start_frame": "10", "stop_frame": "19", "frame_filter": "step=3", "size": "4",
                                "mode": "interpolation"}
    assert (video.width, video.height) == (20, 25)
    tracks = {r.value.track_id: r.value for r in ds.records if isinstance(r.value, Track)}
    assert tracks["1"] == Track(label="II", track_id="1", frames=(
        TrackFrame(frame=0, x=3, y=4, width=4, height=6),
        TrackFrame(frame=2, x=4, y=4, width=4, height=6, rotation=10, keyframe=False),
        TrackFrame(frame=3, x=4, y=4, width=4, height=6, outside=True)))
    assert tracks["0"].visible_frames().keys() == {0}
    by = _by(ds)
    assert by["v1/frame_000002", "polygons"][0].region_id == "track:2"
    assert ("v1/frame_000003", "polygons") not in by  # outside frames carry no shape
    sk = by["v1/frame_000000", "skeletons"][0].value
    assert isinstance(sk, Keypoints)
    assert [p.visibility for p in sk.points] == [2, 0]
    assert ("v1/frame_000001", "skeletons") not in by
    assert by["v1/frame_000001", "tags"][0].value == Classification(label="II")


def test_zip_and_annotator_override() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("annotations.xml", (FIX / "images_train.xml").read_bytes())
        z.writestr("images/img0.png", b"")
    ds = from_cvat_xml(buf.getvalue(), annotator_id="cvat:job7", source="reference")
    assert ds.annotators(source="reference") == ("cvat:job7",)
    assert len(ds.records) == 8


def _key(ds: Dataset) -> list[tuple[Any, ...]]:
    return sorted((r.item_id, r.label_set, repr(r.value), sorted(r.attributes.items())) for r in ds.records)


@pytest.mark.parametrize("name", ["images_train.xml", "video_annotations.xml"])
def test_fixture_round_trip(name: str) -> None:
    ds = from_cvat_xml(FIX / name)
    back = from_cvat_xml(to_cvat_xml(ds))
    assert _key(back) == _key(ds)


coord = st.integers(0, 4000).map(lambda v: v / 4)  # exact in two decimals
label = st.sampled_from(["car", "person", ""])


@st.composite
def shapes(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["box", "polygon", "polyline", "points", "skeleton", "mask", "tag"]))
    if kind == "box":
        return "boxes", Box(label=draw(label), x=draw(coord), y=draw(coord), width=draw(coord), height=draw(coord),
                            rotation=float(draw(st.integers(0, 359))))
    if kind in ("polygon", "polyline"):
        cls, n = (Polygon, 3) if kind == "polygon" else (Polyline, 2)
        return kind + "s", cls(label=draw(label), points=draw(st.lists(st.tuples(coord, coord), min_size=n,
                                                                         max_size=6)))
    if kind == "points":
        pts = draw(st.lists(st.tuples(coord, coord), min_size=1, max_size=4))
        vis = draw(st.sampled_from([0, 1, 2]))
        return "points", Keypoints(label=draw(label), points=tuple(
            Keypoint(name=str(i), x=x, y=y, visibility=vis) for i, (x, y) in enumerate(pts)))
    if kind == "skeleton":
        return "skeletons", Keypoints(label="person", points=tuple(
            Keypoint(name=n, x=draw(coord), y=draw(coord), visibility=draw(st.sampled_from([0, 1, 2])))
            for n in ("nose", "eye")))
    if kind == "mask":
        m = np.array(draw(st.lists(st.booleans(), min_size=48, max_size=48))).reshape(6, 8)
        return "masks", Mask(label=draw(label), height=6, width=8, counts=rle.encode(m))
    return "tags", Classification(label=draw(st.sampled_from(["car", "person"])))


@SETTINGS
@given(st.lists(shapes(), max_size=8), st.lists(st.tuples(st.integers(0, 30), coord, st.booleans(), st.booleans()),
                                                max_size=4, unique_by=lambda t: t[0]))
def test_round_trip_every_shape(items: list[tuple[str, Any]], track: list[Any]) -> None:
    recs = [Record(item_id="im.png", annotator_id="cvat", label_set=ls, value=v,
                   attributes={"color": "red"} if ls == "points" else {"occluded": bool(i % 2), "color": "red"})
            for i, (ls, v) in enumerate(items)]
    if track:
        frames = tuple(TrackFrame(frame=f, x=x, y=x, width=2.0, height=3.0, outside=o, keyframe=k)
                       for f, x, o, k in track)
        recs.append(Record(item_id="clip", annotator_id="cvat", label_set="tracks",
                           value=Track(label="car", track_id="4", frames=frames)))
    ds = Dataset(records=tuple(recs), items={"im.png": Item(item_id="im.png", width=8, height=6)}, name="clip")
    back = from_cvat_xml(to_cvat_xml(ds), annotator_id="cvat")
    assert _key(back) == _key(ds)


@pytest.mark.parametrize(("xml", "pattern"), [
    (b"<annotations><image", r"not valid XML"),
    (b"<root/>", r"expected a CVAT <annotations> root"),
    (b'<annotations><image id="0" name="a"><box label="x" xtl="1" ytl="a" xbr="2" ybr="2"/></image></annotations>',
     r"item a.*box.ytl.*numeric ytl"),
    (b'<annotations><image id="0" name="a"><polygon label="x" points="1,2;3"/></image></annotations>',
     r"item a.*polygon.points"),
    (b'<annotations><image id="0" name="a"><polygon label="x" points="1,2;3,4"/></image></annotations>',
     r"item a.*not valid.*at least 3 points"),
    (b'<annotations><image id="0" name="a"><mask label="x" rle="1,2" left="0" top="0" width="2" height="2"/>'
     b"</image></annotations>", r"item a.*needs the image's width"),
    (b'<annotations><image id="0" name="a" width="4" height="4"><mask label="x" rle="1,2" left="0" top="0" '
     b'width="2" height="2"/></image></annotations>', r"mask.rle.*sums to 3"),
    (b'<annotations><image id="0" name="a" width="4" height="4"><box label="x" xtl="3" ytl="1" xbr="2" ybr="2"/>'
     b"</image></annotations>", r"width >= 0"),
])
def test_errors(xml: bytes, pattern: str) -> None:
    with pytest.raises(ConversionError, match=pattern):
        from_cvat_xml(xml)


def test_zip_without_annotations() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("other.json", "{}")
    with pytest.raises(ConversionError, match=r"no annotations\.xml"):
        from_cvat_xml(buf.getvalue())


@pytest.mark.parametrize(("xml", "pattern"), [
    (b'<annotations><image id="0" name="a"><box label="x" xtl="1" ytl="1" xbr="2" ybr="2" z_order="top"/>'
     b"</image></annotations>", r"integer z_order"),
    (b'<annotations><meta><task><name>v</name></task></meta><track id="3" label="x"><box frame="-1" xtl="1" '
     b'ytl="1" xbr="2" ybr="2"/></track></annotations>', r"item v.*track 3 is not valid.*frame numbers"),
    (b'<annotations><meta><task><name>v</name></task></meta><tag frame="2" label=""/></annotations>',
     r"item v/frame_000002.*non-empty string label"),
])
def test_video_and_attribute_errors(xml: bytes, pattern: str) -> None:
    with pytest.raises(ConversionError, match=pattern):
        from_cvat_xml(xml)
