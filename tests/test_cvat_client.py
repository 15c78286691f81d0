"""CVAT API -> Dataset: the pure converter, and the cvat-sdk path against tests/cvat_server.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cvat_server import Server, _label, demo_task, shape

from accord.core import rle
from accord.core.errors import ConfigError, ConversionError
from accord.core.model import Box, Keypoints, Mask, Polygon, Track
from accord.plugins.cvat.client import (
    TaskPayload,
    connect,
    cvat_breakdown,
    fetch_payload,
    fetch_project,
    fetch_task,
    from_cvat_api,
)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server().start()
    demo_task(srv.state)
    try:
        yield srv
    finally:
        srv.stop()


def _payload(shapes: list[dict[str, Any]], *, tracks: list[dict[str, Any]] | None = None,
             mode: str = "annotation") -> TaskPayload:
    task = {"id": 5, "name": "t", "mode": mode}
    jobs = [{"id": 1, "start_frame": 0, "stop_frame": 1, "type": "annotation", "assignee": {"username": "ann"},
             "parent_job_id": None, "replicas_count": 0}]
    labels = [_label(1, "car"), _label(3, "pose", sublabels=[_label(4, "head", parent_id=3),
                                                             _label(5, "tail", parent_id=3)])]
    meta = {"start_frame": 0, "deleted_frames": [], "frames": [{"name": "f0.png", "width": 8, "height": 6},
                                                               {"name": "f1.png", "width": 8, "height": 6}]}
    return TaskPayload(task=task, jobs=jobs, labels=labels, meta=meta,
                       annotations={1: {"tags": [], "shapes": shapes, "tracks": tracks or []}})


# ------------------------------------------------------------------ pure converter


def test_rectangle_and_rotation_are_kept_about_the_centre() -> None:
    ds = from_cvat_api([_payload([shape(1, 1, 1, [1, 2, 5, 4], rotation=30.0)])])
    (r,) = ds.records
    assert r.item_id == "f1.png"
    assert r.annotator_id == "cvat:ann"
    assert r.annotation_id == "job:1"
    assert r.value == Box(label="car", x=1, y=2, width=4, height=2, rotation=30.0)
    assert ds.items["f1.png"].width == 8
    assert ds.items["f1.png"].data["cvat_frame"] == 1


def test_mask_runs_decode_over_the_window() -> None:
    # CVAT mask points: runs from a 0-run over the window, then left, top, right, bottom (inclusive).
    # window 3x2 at (2, 1): runs 1,4,1 -> row0 = 0 1 1, row1 = 1 1 0
    ds = from_cvat_api([_payload([shape(1, 1, 0, [1, 4, 1, 2, 1, 4, 2], "mask")])])
    v = ds.records[0].value
    assert isinstance(v, Mask)
    m = rle.decode(v.counts, v.height, v.width)
    expected = np.zeros((6, 8), bool)
    expected[1, 3:5] = True
    expected[2, 2:4] = True
    np.testing.assert_array_equal(m, expected)


def test_mask_matches_cvat_sdk_encode_mask() -> None:
    """Differential: a random mask encoded by cvat-sdk's own encode_mask decodes to itself."""
    from cvat_sdk.masks import encode_mask

    rng = np.random.default_rng(3)
    for _ in range(20):
        m = rng.random((6, 8)) < 0.4
        if not m.any():
            continue
        ds = from_cvat_api([_payload([shape(1, 1, 0, encode_mask(m), "mask")])])
        v = ds.records[0].value
        assert isinstance(v, Mask)
        np.testing.assert_array_equal(rle.decode(v.counts, v.height, v.width), m)


def test_skeleton_elements_become_named_keypoints() -> None:
    el = [{"label_id": 4, "points": [1, 2], "outside": False, "occluded": False},
          {"label_id": 5, "points": [3, 4], "outside": True, "occluded": False}]
    ds = from_cvat_api([_payload([shape(1, 3, 0, [], "skeleton", elements=el)])])
    v = ds.records[0].value
    assert isinstance(v, Keypoints)
    assert [(p.name, p.x, p.y, p.visibility) for p in v.points] == [("head", 1, 2, 2), ("tail", 3, 4, 0)]
    assert ds.schema.label_sets["skeletons"].skeleton == ("head", "tail")


def test_polygon_and_ellipse() -> None:
    ds = from_cvat_api([_payload([shape(1, 1, 0, [0, 0, 4, 0, 4, 3], "polygon"),
                                  shape(2, 1, 0, [4, 3, 6, 2], "ellipse")])])
    assert ds.records[0].value == Polygon(label="car", points=((0, 0), (4, 0), (4, 3)))
    assert ds.records[1].value == Box(label="car", x=2, y=2, width=4, height=2)  # centre (4,3), radii 2 and 1


def test_box_tracks_are_tracks_of_the_video_item() -> None:
    tr = {"id": 9, "label_id": 1, "frame": 0, "attributes": [], "shapes": [
        {"type": "rectangle", "frame": 1, "points": [1, 1, 3, 3], "outside": True, "attributes": []},
        {"type": "rectangle", "frame": 0, "points": [0, 0, 2, 2], "outside": False, "attributes": []}]}
    ds = from_cvat_api([_payload([], tracks=[tr], mode="interpolation")])
    (r,) = ds.records
    assert r.item_id == "t"
    assert r.label_set == "tracks"
    assert isinstance(r.value, Track)
    assert [(f.frame, f.outside) for f in r.value.frames] == [(0, False), (1, True)]


def test_unknown_label_id_is_a_conversion_error() -> None:
    with pytest.raises(ConversionError, match=r"label_id 77.*not among the task's labels"):
        from_cvat_api([_payload([shape(1, 77, 0, [0, 0, 1, 1])])])


def test_bad_mask_runs_are_a_conversion_error() -> None:
    with pytest.raises(ConversionError, match=r"mask runs sum to 5"):
        from_cvat_api([_payload([shape(1, 1, 0, [1, 4, 0, 0, 2, 1], "mask")])])


def test_mask_on_a_server_reported_giant_frame_is_refused_before_allocating() -> None:
    """The API's frame size and mask window come from the server: over max_raster_pixels they are
    refused with the limit's message (the XML importer checks the same limit), nothing allocated."""
    from accord.core.errors import LimitExceededError
    from accord.core.limits import input_limits

    payload = _payload([shape(1, 1, 0, [1, 4, 1, 2, 1, 4, 2], "mask")])
    for f in payload.meta["frames"]:
        f["width"], f["height"] = 200_000, 200_000  # 4e10 pixels: 40 GB as a bool array
    with pytest.raises(LimitExceededError, match=r"a mask's frame is 40,000,000,000 pixels.*--max-image-pixels"):
        from_cvat_api([payload])
    window = _payload([shape(1, 1, 0, [16, 0, 0, 3, 3], "mask")])  # a 4x4 window on the 8x6 frame
    with input_limits(max_raster_pixels=48), pytest.raises(LimitExceededError, match="a mask's window is"):
        from_cvat_api([_payload([shape(1, 1, 0, [70, 0, 0, 9, 6], "mask")])])  # 10x7 window, 70 pixels
    assert from_cvat_api([window]).records  # within the limits it still converts


def test_odd_polygon_coordinates_are_a_conversion_error() -> None:
    with pytest.raises(ConversionError, match="even number of coordinates"):
        from_cvat_api([_payload([shape(1, 1, 0, [0, 0, 4, 0, 4], "polygon")])])


# ------------------------------------------------------------------ through cvat-sdk


def test_fetch_task_maps_jobs_to_annotators_and_sources(server: Server) -> None:
    client = connect(server.url, token="pat-123")
    ds = fetch_task(client, 1)
    by = {(s.annotator_id, s.source) for s in ds.submissions}
    # consensus replicas are annotators; the GT job is the reference; the parent job is the consensus
    assert by == {("cvat:alice", "human"), ("cvat:bob", "human"), ("cvat:goldie", "reference"),
                  ("cvat:lead", "consensus")}
    assert {s.item_id for s in ds.submissions if s.source == "reference"} == {"a.jpg", "b.jpg"}
    bob_car = next(r for r in ds.records if r.annotator_id == "cvat:bob" and r.label == "car")
    assert dict(bob_car.attributes) == {"color": "blue", "occluded": False}
    assert bob_car.annotation_id == "job:13"
    assert {r.label_set for r in ds.records} == {"boxes", "tags", "polygons", "masks", "skeletons"}
    sk = next(r for r in ds.records if r.label_set == "skeletons").value
    assert isinstance(sk, Keypoints)
    assert [p.visibility for p in sk.points] == [2, 1]
    assert ds.schema.label_sets["boxes"].attributes["car"][0].values == ("red", "blue")
    # every request carried the PAT, and the SDK asked for exactly these endpoints
    reqs = [r for r in server.state.requests if r.path != "/api/server/about"]
    assert all(r.headers.get("Authorization") == "Bearer pat-123" for r in reqs)
    paths = {r.path.rstrip("/") for r in reqs}
    assert {"/api/tasks/1", "/api/jobs", "/api/labels", "/api/tasks/1/data/meta",
            "/api/jobs/12/annotations", "/api/jobs/11/annotations"} <= paths


def test_login_with_user_and_password(server: Server) -> None:
    client = connect(server.url, user="u", password="secret")
    assert len(fetch_task(client, 1).records) == 18
    login = next(r for r in server.state.requests if r.path == "/api/auth/login")
    assert login.body == {"username": "u", "password": "secret"}


def test_wrong_password_is_refused(server: Server) -> None:
    from cvat_sdk.api_client.exceptions import ApiException

    with pytest.raises(ApiException):
        connect(server.url, user="u", password="nope")


def test_connect_needs_exactly_one_way_to_log_in(server: Server) -> None:
    with pytest.raises(ConfigError, match="either a token"):
        connect(server.url)
    with pytest.raises(ConfigError, match="either a token"):
        connect(server.url, token="t", user="u", password="p")


def test_server_responses_are_validated_by_the_sdk(server: Server) -> None:
    """The fake is faithful only if the SDK's models reject drift: drop a required field, and it fails."""
    from cvat_sdk.api_client.exceptions import ApiTypeError, ApiValueError

    del server.state.tasks[1]["jobs"]
    client = connect(server.url, token="pat-123")
    with pytest.raises((ApiTypeError, ApiValueError, TypeError)):
        fetch_payload(client, 1)


def test_fetch_project_prefixes_items_with_the_task(server: Server) -> None:
    st = server.state
    st.add_project(4, name="city")
    st.tasks[1]["project_id"] = 4
    st.add_task(2, name="park", frames=[("a.jpg", 10, 10)], labels=[_label(1, "car")], project_id=4)
    st.add_job(30, task_id=2, start=0, stop=0, assignee="carol",
               annotations={"shapes": [shape(1, 1, 0, [0, 0, 5, 5])]})
    client = connect(server.url, token="pat-123")
    ds = fetch_project(client, 4)
    assert ds.name == "city"
    assert {"street/a.jpg", "park/a.jpg"} <= set(ds.items)
    assert {r.annotator_id for r in ds.records if r.item_id == "park/a.jpg"} == {"cvat:carol"}
    with pytest.raises(ConversionError, match="project 5 has no tasks"):
        fetch_project(client, 5)


def test_cvat_breakdown_counts_per_job_assignee_label_and_frame() -> None:
    ds = from_cvat_api([_payload([shape(1, 1, 0, [0, 0, 2, 2])])])
    report = {"errors": {"discrepancies": [
        {"category": "missing_object", "severity": "major", "item_id": "f0.png", "annotator_id": "cvat:ann",
         "reference_label": "car", "candidate_label": None},
        {"category": "wrong_class", "severity": "major", "item_id": "f0.png", "annotator_id": "cvat:ann",
         "reference_label": "car", "candidate_label": "bus"}]}}
    out = cvat_breakdown(report, ds)
    assert out["by_job"] == {"1": {"missing_object": 1, "wrong_class": 1}}
    assert out["by_assignee"]["cvat:ann"] == {"missing_object": 1, "wrong_class": 1}
    assert out["by_label"] == {"car": {"missing_object": 1, "wrong_class": 1}}
    assert out["by_frame"] == {"f0.png": {"missing_object": 1, "wrong_class": 1}}
    assert out["by_cvat_term"] == {"missing annotation": {"major": 1}, "mismatching label": {"major": 1}}


def test_honeypot_frames_share_the_item_of_their_gt_frame() -> None:
    """Honeypot mode: validation frame 2 ("v.jpg") sits in the GT job; annotation job 1 sees a
    copy of it as its frame 3 (same file name). Both land on item v.jpg, with each job's frame kept."""
    task = {"id": 5, "name": "t", "mode": "annotation"}
    meta = {"deleted_frames": [], "frames": [{"name": n, "width": 8, "height": 6}
                                             for n in ("a.jpg", "b.jpg", "v.jpg", "v.jpg")]}
    jobs = [{"id": 1, "start_frame": 0, "stop_frame": 3, "type": "annotation", "assignee": {"username": "ann"}},
            {"id": 2, "start_frame": 2, "stop_frame": 2, "type": "ground_truth", "assignee": None}]
    ann = {1: {"shapes": [shape(1, 1, 3, [0, 0, 2, 2])]}, 2: {"shapes": [shape(2, 1, 2, [0, 0, 2, 3])]}}
    ds = from_cvat_api([TaskPayload(task=task, jobs=jobs, labels=[_label(1, "car")], meta=meta, annotations=ann)])
    assert {(r.item_id, r.source) for r in ds.records} == {("v.jpg", "human"), ("v.jpg", "reference")}
    assert dict(ds.items["v.jpg"].data["cvat_frames"]) == {"1": 3, "2": 2}

    from accord.plugins.cvat.writeback import plan_issues

    report = {"errors": {"discrepancies": [
        {"category": "poor_localization", "severity": "major", "event": "low_similarity", "item_id": "v.jpg",
         "label_set": "boxes", "annotator_id": "cvat:ann", "against": "reference",
         "candidate_region_id": "shape:1", "reference_region_id": "shape:2", "evidence": {"iou": 0.667}}]}}
    (plan,) = plan_issues(report, ds)
    assert (plan.job_id, plan.frame, plan.position) == (1, 3, (0.0, 0.0, 2.0, 2.0))  # the honeypot's own frame
    assert "poor_localization (low overlap)" in plan.message
    assert "iou=0.667" in plan.message


def test_missing_cvat_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.core.errors import MissingExtraError

    monkeypatch.setitem(__import__("sys").modules, "cvat_sdk", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'accord\[cvat\]'"):
        connect("http://127.0.0.1:1", token="t")


# ------------------------------------------------------------------ box tracks: keyframes -> every frame


def _kf(frame: int, pts: list[float], *, outside: bool = False, rotation: float = 0.0) -> dict[str, Any]:
    return {"type": "rectangle", "frame": frame, "points": pts, "outside": outside, "rotation": rotation,
            "occluded": False, "z_order": 0, "attributes": []}


def test_interpolation_is_linear_and_stops_at_outside_keyframes() -> None:
    from accord.plugins.cvat.client import interpolate_box_track

    # keyframes 0 (x 0..10), 4 (x 8..18), outside at 6, back at 8 (x 50..60); the job ends at frame 9.
    keys = [_kf(8, [50, 0, 60, 10]), _kf(0, [0, 0, 10, 10]), _kf(4, [8, 0, 18, 10]), _kf(6, [8, 0, 18, 10],
                                                                                        outside=True)]
    out = interpolate_box_track(keys, stop_frame=9, deleted_frames=[2])
    got = [(f.frame, f.x, f.outside, f.keyframe) for f in out]
    # 1 and 3: x = 0 + 8 * t with t = 1/4, 3/4 (frame 2 deleted); 5 propagates 4 to the outside keyframe's
    # frame (4 -> 6 moves 0, as both keyframes have the same box); nothing on 7; 9 holds frame 8's box.
    assert got == [(0, 0.0, False, True), (1, 2.0, False, False), (3, 6.0, False, False), (4, 8.0, False, True),
                   (5, 8.0, False, False), (6, 8.0, True, True), (8, 50.0, False, True), (9, 50.0, False, False)]


def test_rotation_takes_the_short_way_round() -> None:
    from accord.plugins.cvat.client import interpolate_box_track

    out = interpolate_box_track([_kf(0, [0, 0, 4, 4], rotation=350.0), _kf(2, [0, 0, 4, 4], rotation=10.0)],
                                stop_frame=2)
    # ((10 - 350 + 180) % 360) - 180 = 20 degrees, so frame 1 is at 350 + 10 = 360 -> 0, not 180.
    assert [f.rotation for f in out] == [350.0, 0.0, 10.0]


def test_bad_keyframes_are_conversion_errors() -> None:
    from accord.plugins.cvat.client import interpolate_box_track

    with pytest.raises(ConversionError, match=r"needs points \[x1, y1, x2, y2\], got \[1.0, 2.0\] at frame 3"):
        interpolate_box_track([_kf(3, [1, 2])], stop_frame=5)
    with pytest.raises(ConversionError, match=r"lists a keyframe twice: frames \[1, 1\]"):
        interpolate_box_track([_kf(1, [0, 0, 1, 1]), _kf(1, [0, 0, 2, 2])], stop_frame=5)


def _api_tracks_from_xml(path: Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """What CVAT's API holds for an export's box tracks: the keyframes only (keyframe="1" boxes)."""
    import xml.etree.ElementTree as ET

    labels = {"car": 1, "person": 2}
    tracks = []
    for tr in ET.parse(path).getroot().findall("track"):
        shapes = [_kf(int(b.get("frame", 0)), [float(b.get(k, 0)) for k in ("xtl", "ytl", "xbr", "ybr")],
                      outside=b.get("outside") == "1") for b in tr.findall("box") if b.get("keyframe") == "1"]
        tracks.append({"id": int(tr.get("id", 0)), "label_id": labels[tr.get("label", "")], "frame": 0, "group": 0,
                       "source": "manual", "attributes": [], "shapes": shapes, "elements": []})
    return tracks, labels


@pytest.mark.parametrize("name", ["video_alice.xml", "video_bob.xml"])
def test_api_keyframes_interpolate_to_the_frames_of_the_video_export(name: str) -> None:
    """Differential: keyframes as the API returns them, interpolated, equal CVAT for video 1.1's every frame."""
    from accord.plugins.cvat.convert import from_cvat_xml

    fix = Path(__file__).parent / "fixtures" / "cvat" / name
    tracks, _ = _api_tracks_from_xml(fix)
    task = {"id": 42, "name": "crossing", "mode": "interpolation"}
    jobs = [{"id": 1, "start_frame": 0, "stop_frame": 9, "type": "annotation", "assignee": {"username": "x"}}]
    meta = {"deleted_frames": [], "frames": [{"name": "f.mp4", "width": 640, "height": 480}]}
    api = from_cvat_api([TaskPayload(task=task, jobs=jobs, labels=[_label(1, "car"), _label(2, "person")],
                                     meta=meta, annotations={1: {"tracks": tracks}})])
    xml = from_cvat_xml(fix)

    def visible(ds: Any) -> dict[str, list[tuple[int, float, float, float, float]]]:
        return {r.value.track_id: [(f.frame, f.x, f.y, f.width, f.height) for f in r.value.frames if not f.outside]
                for r in ds.records if isinstance(r.value, Track)}

    assert visible(api) == visible(xml)
    assert sum(len(v) for v in visible(api).values()) == (30 if "alice" in name else 26)


def test_video_task_through_the_sdk_gives_the_same_track_report_as_the_exports(tmp_path: Path) -> None:
    """A video task with consensus replicas alice and bob (keyframes only) read through cvat-sdk: the
    tracks section equals the one built from the two CVAT for video 1.1 exports."""
    import json

    from accord.cli import main

    fixtures = Path(__file__).parent / "fixtures" / "cvat"
    srv = Server().start()
    try:
        st = srv.state
        st.add_task(42, name="crossing", frames=[(f"{i:06d}.png", 640, 480) for i in range(10)],
                    labels=[_label(1, "car", "rectangle"), _label(2, "person", "rectangle")], mode="interpolation")
        st.add_job(40, task_id=42, start=0, stop=9, assignee="lead", replicas=2)
        for jid, who in ((41, "alice"), (42, "bob")):
            tracks, _ = _api_tracks_from_xml(fixtures / f"video_{who}.xml")
            st.add_job(jid, task_id=42, start=0, stop=9, assignee=who, job_type="consensus_replica",
                       parent_job_id=40, annotations={"tracks": tracks})
        api_out, xml_out = tmp_path / "api.json", tmp_path / "xml.json"
        assert main(["-q", "cvat", "report", "--url", srv.url, "--token", "pat-123", "--task", "42", "--no-checks",
                     "--json", str(api_out)]) == 0
    finally:
        srv.stop()
    assert main(["-q", "cvat", "report", "--export", str(fixtures / "video_alice.xml"),
                 str(fixtures / "video_bob.xml"), "--no-checks", "--json", str(xml_out)]) == 0
    api_pairs = json.loads(api_out.read_text())["tracks"]["label_sets"]["tracks"]["pairs"]
    xml_pairs = json.loads(xml_out.read_text())["tracks"]["label_sets"]["tracks"]["pairs"]
    assert api_pairs == xml_pairs
    assert api_pairs[0]["id_switches"] == 2
    assert api_pairs[0]["missed_frames"] == 4
