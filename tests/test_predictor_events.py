"""Video events: hysteresis, merged runs and minimum length on known scores; frame differences on
rendered frames with a moving block at known frames; the Label Studio backend (Video + TimelineLabels,
through the app) and the CVAT event tags (through tests/cvat_server.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cvat_server import Server, _label
from fastapi.testclient import TestClient

from accord.core.errors import AccordError, BadPredictionError, BadPredictorError
from accord.ml_backends.driver import validate_segments
from accord.ml_backends.label_studio.app import Settings, create_app
from accord.ml_backends.label_studio.backends import EventBackend, make_backend
from accord.ml_backends.predictor_events import (
    FrameEvents,
    events_from_scores,
    frame_difference_scores,
    read_video_frames,
)
from accord.ml_backends.predictor_registry import get_predictor
from accord.ml_backends.predictor_spec import EventPredictor

LOOPBACK = ("127.0.0.1", 50000)
#: the block moves on frames 10-19 and 30-34; it is still elsewhere
MOVING = [(10, 19), (30, 34)]


def frames(n: int = 45) -> list[np.ndarray]:
    """A grey 48 x 64 scene with a dark 20 x 10 block that moves 2 px a frame during MOVING."""
    out, x = [], 5
    for k in range(n):
        if any(a <= k <= b for a, b in MOVING):
            x += 2
        img = np.full((48, 64, 3), 200, np.uint8)
        img[10:30, x:x + 10] = 20
        out.append(img)
    return out


def test_hysteresis_merge_and_minimum_length_on_known_scores() -> None:
    s = [0, 0, .8, .9, .4, .3, 0, 0, 0, .7, 0, .55, .6, .2, 0]
    assert [e[:2] for e in events_from_scores(s, high=.5)] == [(2, 3), (9, 9), (11, 12)]  # no hysteresis
    # hysteresis: frames 4-5 (>= 0.25) extend the first event; 13 (0.2) does not
    assert [e[:2] for e in events_from_scores(s, high=.5, low=.25)] == [(2, 5), (9, 9), (11, 12)]
    assert [e[:2] for e in events_from_scores(s, high=.5, low=.25, merge_gap=1)] == [(2, 5), (9, 12)]
    assert [e[:2] for e in events_from_scores(s, high=.5, low=.25, min_frames=2)] == [(2, 5), (11, 12)]
    (a, b, mean), = events_from_scores([0, .6, .8, 0], high=.5)
    assert (a, b, mean) == (1, 2, pytest.approx(0.7))
    assert events_from_scores([0.1] * 5, high=.5) == []
    with pytest.raises(AccordError, match="low <= high"):
        events_from_scores(s, high=.3, low=.5)
    with pytest.raises(AccordError, match="one finite score per frame"):
        events_from_scores([[0.1]])


def test_frame_differences_find_the_moving_block_at_its_frames() -> None:
    f = frames()
    scores = frame_difference_scores(f)
    # moving 2 px: 2 columns of 20 rows appear and 2 disappear: 80 of 3072 pixels changed
    assert scores[10] == pytest.approx(80 / (48 * 64))
    assert np.all(scores[:10] == 0) and np.all(scores[20:30] == 0)  # noqa: PT018
    model = get_predictor("video-events")
    assert isinstance(model, EventPredictor)
    events = validate_segments(model.predict_frames(f), labels=model.labels, unit="frame", extent=len(f),
                               predictor="video-events", task="t")
    assert [(e.start, e.end) for e in events] == MOVING
    assert all(e.label == "motion" and 0 < e.score <= 1 for e in events)
    grey = frame_difference_scores([im[..., 0] for im in f])
    assert np.array_equal(grey > 0, scores > 0)
    with pytest.raises(AccordError, match="every frame needs the same size"):
        frame_difference_scores([f[0], f[1][:10]])
    with pytest.raises(BadPredictorError, match=r"video-events does not take \['colour'\]"):
        get_predictor("video-events", colour="red")
    with pytest.raises(BadPredictorError, match="0 <= low <= high <= 1"):
        FrameEvents(high=0.1, low=0.2)


def test_event_driver_refuses_events_outside_the_video() -> None:
    from accord.ml_backends.predictor_spec import SegmentPrediction

    bad = SegmentPrediction(label="motion", start=3, end=50, score=0.5, unit="frame")
    with pytest.raises(BadPredictionError, match=r"field 'predictions\[0\]\.end'\].*< 45"):
        validate_segments([bad], labels=FrameEvents().labels, unit="frame", extent=45, predictor="e", task="t")


def _video(path: Path) -> Path:
    cv2 = pytest.importorskip("cv2")
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for im in frames():
        w.write(im)
    w.release()
    return path


def test_read_video_frames_and_the_label_studio_timeline_backend(tmp_path: Path) -> None:
    video = _video(tmp_path / "clip.avi")
    got, fps = read_video_frames(video.read_bytes())
    assert (len(got), fps) == (45, 10.0)
    # the Video tag's framerate is the clip's (Label Studio counts frames at it; default 24,
    # which the live test in test_ml_backend_e2e_media.py covers)
    config = ('<View><Video name="video" value="$video" framerate="10"/><TimelineLabels name="events" '
              'toName="video"><Label value="Motion"/></TimelineLabels></View>')
    backend = make_backend("video-events")
    assert isinstance(backend, EventBackend)
    c = TestClient(create_app(Settings(state_dir=tmp_path / "s", fetch_annotations=False, allow_local_dirs=(tmp_path,)),
                              backend=backend), raise_server_exceptions=False, client=LOOPBACK)
    req = {"tasks": [{"id": 7, "data": {"video": str(video)}}], "project": "3.1", "label_config": config}
    r = c.post("/predict", json=req)
    assert r.status_code == 200, r.text
    (res,) = r.json()["results"]
    assert res["model_version"] == "video-events-v0"
    ranges = [(x["value"]["ranges"][0]["start"], x["value"]["ranges"][0]["end"]) for x in res["result"]]
    # MJPG is lossy but the block's edges change far more than pixel_threshold; LS frames are 1-based
    assert ranges == [(a + 1, b + 1) for a, b in MOVING]
    assert {x["type"] for x in res["result"]} == {"timelinelabels"}
    assert {x["value"]["timelinelabels"][0] for x in res["result"]} == {"Motion"}  # mapped to the only label
    assert {(x["from_name"], x["to_name"]) for x in res["result"]} == {("events", "video")}
    (tmp_path / "bad.avi").write_bytes(b"not a video")
    req["tasks"][0]["data"]["video"] = str(tmp_path / "bad.avi")
    r = c.post("/predict", json=req)
    assert r.status_code == 422
    assert "could not be decoded" in r.json()["error"] or "no frames" in r.json()["error"]


@pytest.fixture
def server() -> Iterator[Server]:
    from PIL import Image

    srv = Server().start()
    srv.state.add_task(4, name="events", frames=[(f"{k:03d}.png", 64, 48) for k in range(45)],
                       labels=[_label(41, "motion", "tag"), _label(42, "car", "rectangle")])
    blobs = []
    for im in frames():
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG")
        blobs.append(buf.getvalue())
    srv.state.images[4] = blobs
    srv.state.add_job(40, task_id=4, start=0, stop=44, assignee="alice")
    try:
        yield srv
    finally:
        srv.stop()


def test_cvat_event_tags_through_the_test_server(server: Server) -> None:
    from cvat_sdk import make_client

    import accord.ml_backends.cvat_function as fn

    client = make_client(server.url, access_token="pat-123")
    n = fn.annotate_events_task(client, 4)
    up: dict[str, Any] = server.state.task_annotations[4]
    frames_tagged = sorted(t["frame"] for t in up["tags"])
    assert frames_tagged == [k for a, b in MOVING for k in range(a, b + 1)]
    assert n == len(frames_tagged)
    assert {t["label_id"] for t in up["tags"]} == {41}
    assert {t["source"] for t in up["tags"]} == {"auto"}
    with pytest.raises(BadPredictorError, match=r"the task has no label \['jump'\]"):
        fn.annotate_events_task(client, 4, label="jump")
    with pytest.raises(BadPredictorError, match=r"reads events data, not images; use .*annotate_events_task"):
        fn.create(model="video-events")


def test_event_frames_are_counted_at_the_video_tags_framerate() -> None:
    from accord.ml_backends.label_studio.backends import _to_ls_frames, _video_framerates
    from accord.ml_backends.predictor_spec import SegmentPrediction

    assert _video_framerates('<View><Video name="v" value="$v"/><Video name="w" value="$w" framerate="25"/></View>') \
        == {"v": 24.0, "w": 25.0}
    p = SegmentPrediction(label="Motion", start=10, end=19, score=1.0, unit="frame")
    # a 10 fps clip's frames 10..19 (1.0 s to 2.0 s) are Label Studio frames 25..48 at 24 fps
    (q,) = _to_ls_frames([p], 24 / 10)
    assert (q.start, q.end) == (25, 48)
    (same,) = _to_ls_frames([p], 1.0)
    assert (same.start, same.end) == (11, 20)
