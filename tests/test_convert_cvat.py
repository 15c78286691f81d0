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
from accord.core.errors import AccordError, ConversionError
from accord.core.model import (
    Box,
    Classification,
    Cuboid,
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


# --------------------------------------------------------------------------- issue 15: real exports, real teams

_LABELS = b"""<meta><task><id>4</id><name>t</name>%s<labels><label><name>car</name><attributes><attribute>
<name>color</name><mutable>False</mutable><input_type>select</input_type><default_value>red</default_value>
<values>red\nblue</values></attribute></attributes></label></labels></task></meta>"""


def _xml(body: bytes, task_extra: bytes = b"") -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version>' + (
        _LABELS % task_extra) + body + b"</annotations>"


_CUBOID = (b'<cuboid label="car" occluded="0" source="manual" xtl1="10" ytl1="10" xbl1="10" ybl1="30" '
           b'xtr1="40" ytr1="10" xbr1="40" ybr1="30" xtl2="20" ytl2="5" xbl2="20" ybl2="25" xtr2="50" '
           b'ytr2="5" xbr2="50" ybr2="25" z_order="0"><attribute name="color">red</attribute></cuboid>')


def test_image_cuboids_are_imported_not_dropped() -> None:
    # issue 15 item 4: a <cuboid> (CVAT for images 1.1: corners xtl1, ytl1, ... ybr2) in a 2D task is
    # the outline of its eight projected corners: here the hexagon (10,10) (10,30) (40,30) (50,25) (50,5) (20,5).
    ds = from_cvat_xml(_xml(b'<image id="0" name="a.jpg" width="64" height="48">' + _CUBOID + b"</image>"))
    (r,) = ds.records
    assert r.label_set == "cuboids_2d"
    assert ds.schema["cuboids_2d"].kind == "polygon"
    assert isinstance(r.value, Polygon)
    assert r.value.label == "car"
    assert sorted(r.value.points) == sorted([(10, 10), (10, 30), (40, 30), (50, 25), (50, 5), (20, 5)])
    assert dict(r.attributes)["color"] == "red"


def test_point_cloud_cuboids_are_cuboid_values() -> None:
    # A 3D task: CVAT's cuboid points are position x y z, rotation rx ry rz, scale sx sy sz (+ padding),
    # written in the same 16 attributes.
    vals = [1.5, -2.0, 0.5, 0.0, 0.0, 0.25, 4.0, 2.0, 1.5, 0, 0, 0, 0, 0, 0, 0]
    attrs = b" ".join(b'%s="%s"' % (k.encode(), str(v).encode()) for k, v in zip(
        ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1", "xtl2", "ytl2", "xbl2", "ybl2", "xtr2",
         "ytr2", "xbr2", "ybr2"), vals, strict=True))
    ds = from_cvat_xml(_xml(b'<image id="0" name="000001.pcd"><cuboid label="car" ' + attrs + b"/></image>",
                            b"<dimension>3d</dimension>"))
    assert [r.value for r in ds.records] == [Cuboid(label="car", x=1.5, y=-2.0, z=0.5, length=4.0, width=2.0,
                                                    height=1.5, yaw=0.25)]
    assert ds.schema["cuboids"].kind == "cuboid"


def test_ellipses_are_imported_as_their_box() -> None:
    # issue 15 item 10: an ellipse-only export converted to 0 records. Centre (20, 10), radii 5 and 3.
    ds = from_cvat_xml(_xml(b'<image id="0" name="a.jpg" width="64" height="48"><ellipse label="car" '
                            b'occluded="0" cx="20" cy="10" rx="5" ry="3" rotation="30"/></image>'))
    assert [r.value for r in ds.records] == [Box(label="car", x=15, y=7, width=10, height=6, rotation=30)]


def test_unknown_elements_are_counted_in_a_warning() -> None:
    warnings: list[str] = []
    ds = from_cvat_xml(_xml(b'<image id="0" name="a.jpg"><box label="car" xtl="0" ytl="0" xbr="1" ybr="1"/>'
                            b'<spline label="car"/><spline label="car"/><blob/></image>'), warnings=warnings)
    assert len(ds.records) == 1
    assert warnings == ["skipped 1 <blob> element inside <image>, 2 <spline> elements inside <image> (not a "
                        "CVAT 1.1 shape accord reads)"]
    video = (b'<track id="0" label="car"><spline frame="0"/><polygon frame="0" points="0,0;1,0;1,1"/></track>')
    warnings = []
    ds = from_cvat_xml(_xml(video), warnings=warnings)
    assert len(ds.records) == 1
    assert warnings == ["skipped 1 <spline> element inside <track> (not a CVAT 1.1 shape accord reads)"]


def test_project_export_keeps_same_name_frames_of_different_tasks_apart() -> None:
    # issue 15 item 5: the same frame name in two tasks of a project export is two items.
    xml = (b'<annotations><version>1.1</version><meta><project><id>1</id><name>p</name><tasks>'
           b'<task><id>7</id><name>day</name><subset>Train</subset></task>'
           b'<task><id>8</id><name>night</name><subset>Train</subset></task></tasks>'
           b'<labels><label><name>car</name></label></labels></project></meta>'
           b'<image id="0" name="img0.jpg" subset="Train" task_id="7" width="8" height="8">'
           b'<box label="car" xtl="0" ytl="0" xbr="2" ybr="2"/></image>'
           b'<image id="1" name="img0.jpg" subset="Train" task_id="8" width="8" height="8">'
           b'<box label="car" xtl="4" ytl="4" xbr="8" ybr="8"/></image></annotations>')
    ds = from_cvat_xml(xml)
    assert sorted(ds.items) == ["day/img0.jpg", "night/img0.jpg"]
    assert {r.item_id: r.value.x for r in ds.records} == {"day/img0.jpg": 0, "night/img0.jpg": 4}
    assert ds.items["night/img0.jpg"].data["image"] == "img0.jpg"


def test_repeated_image_names_in_one_task_are_kept_apart_loudly() -> None:
    warnings: list[str] = []
    ds = from_cvat_xml(_xml(b'<image id="0" name="a.jpg"><tag label="car"/></image>'
                            b'<image id="5" name="a.jpg"><tag label="car"/></image>'), warnings=warnings)
    assert sorted(ds.items) == ["a.jpg#0", "a.jpg#5"]
    assert len(warnings) == 1
    assert "1 image names appear more than once (e.g. 'a.jpg')" in warnings[0]


def test_shape_fields_are_not_undeclared_attributes() -> None:
    # issue 15 item 6: `occluded` was flagged on every CVAT shape whose label declares attributes.
    from accord.core.checks import run_checks

    ds = from_cvat_xml(_xml(b'<image id="0" name="a.jpg" width="64" height="48">'
                            b'<box label="car" occluded="1" source="manual" z_order="2" group_id="3" '
                            b'xtl="0" ytl="0" xbr="4" ybr="4" rotation="10"><attribute name="color">red</attribute>'
                            b'</box></image>'))
    assert {"occluded", "z_order", "group_id", "source"} <= set(ds.records[0].attributes)
    assert run_checks(ds, only=["schema.unknown_attribute"]).findings == ()
    bad = from_cvat_xml(_xml(b'<image id="0" name="a.jpg"><box label="car" xtl="0" ytl="0" xbr="4" ybr="4">'
                             b'<attribute name="colour">red</attribute></box></image>'))
    assert len(run_checks(bad, only=["schema.unknown_attribute"]).findings) == 1


@pytest.mark.parametrize(("xml", "pattern"), [
    (_xml(b'<image id="0" name="a.jpg" width="eight" height="8"/>'), r"item a.jpg.*image.width.*'eight'"),
    (_xml(b'<image id="0" name="a.jpg" width="8" height="8"><mask label="car" rle="1, 1" left="nan" top="0" '
          b'width="2" height="1"/></image>'), r"item a.jpg.*mask.left.*finite number.*'nan'"),
    (_xml(b'<image id="0" name="a.jpg"><box label="car" xtl="inf" ytl="0" xbr="4" ybr="4"/></image>'),
     r"box.xtl.*'inf'"),
    (_xml(b'<image id="0" name="a.jpg"><polygon label="car" points="0,0;1,nan;2,2"/></image>'),
     r"polygon.points.*finite"),
    (_xml(b'<image id="0" name="a.jpg" width="100000" height="100000"><mask label="car" rle="1" left="0" '
          b'top="0" width="1" height="1"/></image>'),
     r"image .a.jpg. with a <mask> has 10,000,000,000 pixels, over the limit .*max_raster_pixels"),
    (_xml(b'<image id="0" name="a.jpg" width="8" height="8"><mask label="car" rle="-1, 2" left="0" top="0" '
          b'width="1" height="1"/></image>'), r"non-negative runs"),
    (_xml(b'<image id="0" name="a\xe9.jpg"/>'), r"invalid UTF-8 at byte offset \d+ \(byte 0xe9\)"),
    (_xml(b'<image id="0" name="a.jpg"><box label="car" occluded="maybe" xtl="0" ytl="0" xbr="1" ybr="1"/></image>'),
     r"box.occluded.*\"0\" or \"1\".*'maybe'"),
])
def test_malformed_exports_are_one_line_errors(xml: bytes, pattern: str) -> None:
    # issue 15 items 10 and 11 (a size over accord's input limits is a LimitExceededError)
    with pytest.raises(AccordError, match=pattern) as e:
        from_cvat_xml(xml)
    assert "\n" not in str(e.value)


def test_a_declared_latin1_file_is_read_in_its_encoding() -> None:
    xml = _xml(b'<image id="0" name="a\xe9.jpg"><tag label="car"/></image>').replace(b"utf-8", b"iso-8859-1")
    assert list(from_cvat_xml(xml).items) == ["a\u00e9.jpg"]


def _api_payload(shapes: list[dict[str, Any]], dimension: str) -> Any:
    from accord.plugins.cvat.client import TaskPayload

    task = {"id": 5, "name": "lidar", "mode": "annotation", "dimension": dimension}
    jobs = [{"id": 1, "start_frame": 0, "stop_frame": 0, "type": "annotation", "assignee": {"username": "ann"},
             "parent_job_id": None, "replicas_count": 0}]
    labels = [{"id": 1, "name": "car", "attributes": [], "sublabels": []}]
    meta = {"start_frame": 0, "deleted_frames": [], "frames": [{"name": "000001.pcd", "width": 100, "height": 1}]}
    return TaskPayload(task=task, jobs=jobs, labels=labels, meta=meta,
                       annotations={1: {"tags": [], "shapes": shapes, "tracks": []}})


def test_api_path_reads_3d_cuboids_and_warns_about_what_it_skips(caplog: pytest.LogCaptureFixture) -> None:
    # issue 15 item 4: 3D tasks were skipped by the API path without a word.
    from accord.plugins.cvat.client import from_cvat_api

    pts = [1.5, -2.0, 0.5, 0.0, 0.0, 0.25, 4.0, 2.0, 1.5, 0, 0, 0, 0, 0, 0, 0]
    shapes = [{"id": 1, "type": "cuboid", "frame": 0, "label_id": 1, "points": pts, "occluded": False,
               "attributes": []},
              {"id": 2, "type": "spline", "frame": 0, "label_id": 1, "points": [0, 0], "attributes": []},
              {"id": 3, "type": "spline", "frame": 0, "label_id": 1, "points": [0, 0], "attributes": []}]
    with caplog.at_level("WARNING"):
        ds = from_cvat_api([_api_payload(shapes, "3d")])
    assert [r.value for r in ds.records] == [Cuboid(label="car", x=1.5, y=-2.0, z=0.5, length=4.0, width=2.0,
                                                    height=1.5, yaw=0.25)]
    assert ds.records[0].label_set == "cuboids"
    assert ds.schema["cuboids"].kind == "cuboid"
    assert any("skipped 2 'spline' shapes" in r.getMessage() for r in caplog.records)
    # a 2D task's cuboid is drawn on the image: its eight corners' outline, as from the XML export
    flat = [10, 10, 10, 30, 40, 10, 40, 30, 20, 5, 20, 25, 50, 5, 50, 25]
    two_d = from_cvat_api([_api_payload([{**shapes[0], "points": flat}], "2d")])
    (r,) = two_d.records
    assert r.label_set == "cuboids_2d"
    assert sorted(r.value.points) == sorted([(10, 10), (10, 30), (40, 30), (50, 25), (50, 5), (20, 5)])
