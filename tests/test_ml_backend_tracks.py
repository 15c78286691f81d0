"""Video tracks for Label Studio's ``VideoRectangle``: the ``video-tracks`` predictor and its backend.

The synthetic video (rendered here with OpenCV as WebM/VP8, the format Label Studio's upload takes
and Chromium plays): 30 frames of 160 x 120 at 10 fps, dark background, two bright blocks moving
at constant velocity on known trajectories (:data:`TRUTH`), never touching. Tracks are checked
against them: one track per block, its keyframe boxes within 2 px of the true box, frames
numbered from 1 at the ``Video`` tag's rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accord.core.errors import AccordError, BadPredictorError
from accord.ml_backends.label_studio.backends import TrackBackend, make_backend
from accord.ml_backends.predictor_registry import get_predictor
from accord.ml_backends.predictor_tracks import VideoTracker

W, H, N_FRAMES, FPS = 160, 120, 30, 10
#: label -> (x0, y0, w, h, vx, vy): the block's box at frame t (0-based) is (x0 + vx t, y0 + vy t, w, h)
TRUTH = {"A": (8.0, 16.0, 16.0, 16.0, 3.0, 0.0), "B": (136.0, 80.0, 20.0, 12.0, -3.0, -0.5)}
CONFIG = ('<View><Video name="video" value="$video" framerate="10"/><Labels name="kind" toName="video">'
          '<Label value="Block"/></Labels><VideoRectangle name="box" toName="video"/></View>')


def truth_box(label: str, t: int) -> tuple[float, float, float, float]:
    x0, y0, w, h, vx, vy = TRUTH[label]
    return (x0 + vx * t, y0 + vy * t, w, h)


def frames() -> list[np.ndarray]:
    """The rendered frames, BGR uint8 (what cv2.VideoWriter takes)."""
    out = []
    for t in range(N_FRAMES):
        im = np.full((H, W, 3), 25, dtype=np.uint8)
        for label in TRUTH:
            x, y, w, h = truth_box(label, t)
            im[round(y):round(y + h), round(x):round(x + w)] = 230
        out.append(im)
    return out


def webm(path: Path) -> bytes:
    """:func:`frames` as WebM/VP8 at :data:`FPS` (skips when this OpenCV cannot write VP8)."""
    cv2 = pytest.importorskip("cv2")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), FPS, (W, H))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write WebM/VP8")
    for im in frames():
        writer.write(im)
    writer.release()
    return path.read_bytes()


def check_sequences(regions: list[dict[str, Any]], *, scale: float = 1.0, tol_px: float = 2.0) -> None:
    """Each region is one block's track: ``videorectangle`` keyframes 1-based at ``scale`` x the file's
    rate, boxes (percent) within ``tol_px`` of the true box, enabled while the block is in view."""
    assert len(regions) == len(TRUTH)
    assert {(r["type"], r["from_name"], r["to_name"]) for r in regions} == {("videorectangle", "box", "video")}
    assert all(r["value"]["labels"] == ["Block"] for r in regions)
    assert all(0.0 <= r["score"] <= 1.0 for r in regions)
    starts = {}
    for r in regions:
        seq = r["value"]["sequence"]
        enabled = [s for s in seq if s["enabled"]]
        assert len(enabled) >= N_FRAMES - 3  # a keyframe on (nearly) every frame: no gap, no id switch
        assert seq[0]["frame"] == 1
        assert seq[0]["time"] == 0.0
        assert all(s["time"] == pytest.approx((s["frame"] - 1) / (FPS * scale)) for s in seq)
        x0 = seq[0]["x"] * W / 100
        label = min(TRUTH, key=lambda k: abs(TRUTH[k][0] - x0))
        starts[label] = r
        for s in enabled:
            t = round((s["frame"] - 1) / scale)
            want = truth_box(label, t)
            got = (s["x"] * W / 100, s["y"] * H / 100, s["width"] * W / 100, s["height"] * H / 100)
            assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= tol_px, (label, t, got, want)
    assert sorted(starts) == sorted(TRUTH)  # one track per block


def test_video_tracks_backend_writes_videorectangle_sequences(tmp_path: Path) -> None:
    data = webm(tmp_path / "clip.webm")
    backend = make_backend("video-tracks")
    assert isinstance(backend, TrackBackend)
    assert isinstance(backend.predictor, VideoTracker)
    (out,) = backend.predict(None, [{"id": 1, "data": {"video": "clip"}}], CONFIG, fetch=lambda ref: data)
    assert out is not None
    regions, score = out
    check_sequences(regions)
    assert score == min(r["score"] for r in regions)
    assert {r["value"]["framesCount"] for r in regions} == {N_FRAMES}
    assert all(r["value"]["duration"] == pytest.approx(N_FRAMES / FPS) for r in regions)


def test_tracks_are_counted_at_the_video_tags_framerate(tmp_path: Path) -> None:
    """Without ``framerate`` Label Studio counts 24 frames a second: frame t of the 10 fps file is
    Label Studio frame round(t * 2.4) + 1, and ``time`` is still t / 10 s."""
    data = webm(tmp_path / "clip.webm")
    config = CONFIG.replace(' framerate="10"', "")
    (out,) = make_backend("video-tracks").predict(None, [{"id": 1, "data": {"video": "clip"}}], config,
                                                  fetch=lambda ref: data)
    assert out is not None
    for r in out[0]:
        for s in r["value"]["sequence"]:
            assert s["time"] == pytest.approx((s["frame"] - 1) / 24)
    assert {r["value"]["framesCount"] for r in out[0]} == {round(N_FRAMES * 2.4)}


def test_video_tracks_parameters_and_errors() -> None:
    tracker = get_predictor("video-tracks", detector="contours", min_hits="2", min_area_px="8")
    assert isinstance(tracker, VideoTracker)
    assert tracker.options["min_hits"] == 2
    assert [(i.name, i.kind) for i in tracker.labels] == [("object", "box")]
    with pytest.raises(BadPredictorError, match="min_hits must be a int"):
        get_predictor("video-tracks", min_hits="many")
    with pytest.raises(BadPredictorError, match="needs a detector with box, polygon or mask labels"):
        get_predictor("video-tracks", detector="vad")
    with pytest.raises(AccordError, match=r"expected 0 <= low <= high <= 1, got low=0.1 high=2.0"):
        get_predictor("video-tracks", high="2")
    with pytest.raises(BadPredictorError, match="cannot track its own output"):
        get_predictor("video-tracks", detector="video-tracks")
    with pytest.raises(AccordError, match="needs a file fetcher"):
        make_backend("video-tracks").predict(None, [{"id": 1, "data": {"video": "x"}}], CONFIG)


def _video_server() -> Any:
    import io

    from cvat_server import Server, _label
    from PIL import Image

    srv = Server().start()
    srv.state.add_task(7, name="video", frames=[(f"{k:03d}.png", W, H) for k in range(N_FRAMES)],
                       labels=[_label(71, "object", "rectangle"), _label(72, "other", "tag")],
                       mode="interpolation")
    blobs = []
    for im in frames():
        buf = io.BytesIO()
        Image.fromarray(im[..., ::-1]).save(buf, format="PNG")
        blobs.append(buf.getvalue())
    srv.state.images[7] = blobs
    srv.state.add_job(70, task_id=7, start=0, stop=N_FRAMES - 1, assignee="alice")
    return srv


def _check_cvat_tracks(up: dict[str, Any]) -> None:
    assert len(up["tracks"]) == 2
    assert up["shapes"] == []
    for tr in up["tracks"]:
        assert tr["label_id"] == 71
        assert tr["source"] == "auto"
        visible = [s for s in tr["shapes"] if not s["outside"]]
        assert [s["frame"] for s in visible] == list(range(tr["frame"], N_FRAMES))
        assert all(s["type"] == "rectangle" and s["keyframe"] for s in tr["shapes"])
        first = visible[0]["points"]
        label = min(TRUTH, key=lambda lab: abs(truth_box(lab, visible[0]["frame"])[0] - first[0]))
        for s in visible:
            x, y, w, h = truth_box(label, s["frame"])
            assert s["points"] == pytest.approx([x, y, x + w, y + h], abs=2.0)


def test_cvat_box_tracks_through_the_test_server() -> None:
    """The same video as a CVAT task's frames: one ``rectangle`` track per block, a keyframe per
    frame within 2 px of the true box, and an ``outside`` keyframe only past the last frame."""
    from cvat_sdk import make_client

    import accord.ml_backends.cvat_function as fn

    srv = _video_server()
    try:
        client = make_client(srv.url, access_token="pat-123")
        assert fn.annotate_video_task(client, 7) == 2
        _check_cvat_tracks(srv.state.task_annotations[7])
        with pytest.raises(BadPredictorError, match=r"is not a track predictor; use video-tracks"):
            fn.annotate_video_task(client, 7, model="contours")
        with pytest.raises(BadPredictorError, match=r"reads tracks data, not images; use .*annotate_video_task"):
            fn.create(model="video-tracks")
    finally:
        srv.stop()


def test_accord_cvat_annotate_cli_tracks_and_shapes() -> None:
    """``accord cvat annotate`` picks the upload by the predictor: tracks for video-tracks, shapes
    (cvat-sdk's auto-annotation) for an image detector; a bad model is one line, no traceback."""
    import os
    import subprocess
    import sys

    srv = _video_server()
    env = {**os.environ, "CVAT_ACCESS_TOKEN": "pat-123"}
    base = [sys.executable, "-m", "accord", "-q", "cvat", "annotate", "--url", srv.url, "--task", "7"]
    try:
        r = subprocess.run([*base, "--model", "video-tracks"], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "task 7: 2 tracks by video-tracks uploaded" in r.stdout
        _check_cvat_tracks(srv.state.task_annotations[7])
        r = subprocess.run([*base, "--model", "contours", "--param", "kinds=box", "--clear-existing"],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        up = srv.state.task_annotations[7]
        assert len(up["shapes"]) == 2 * N_FRAMES  # two blocks on every frame
        assert {s["type"] for s in up["shapes"]} == {"rectangle"}
        bad = subprocess.run([*base, "--model", "no-such-model"], capture_output=True, text=True, env=env,
                             timeout=120)
        assert bad.returncode != 0
        assert "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    finally:
        srv.stop()
