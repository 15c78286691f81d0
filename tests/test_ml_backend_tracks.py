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
