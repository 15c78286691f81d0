"""The CVAT auto-annotation function and the offline predictor: detect() directly, and annotate_task
against tests/cvat_server.py."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cvat_sdk.auto_annotation import DetectionFunctionContext, annotate_task
from cvat_server import Server, _label
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

import accord.ml_backends.cvat_function as fn
from accord.core.errors import BadPredictorError
from accord.ml_backends.predictors import ContourDetector, Predictor, _otsu, get_predictor, register_predictor


@dataclass
class Ctx(DetectionFunctionContext):
    """cvat-sdk has no public context class; a subclass is how a unit test calls detect()."""

    threshold: float | None = None
    to_poly: bool = False

    @property
    def frame_name(self) -> str:
        return "x.png"

    @property
    def conf_threshold(self) -> float | None:
        return self.threshold

    @property
    def conv_mask_to_poly(self) -> bool:
        return self.to_poly


def _scene() -> np.ndarray:
    """Light background, a solid 20x10 block at (10, 5) and an L-shaped blob (solidity < 1)."""
    a = np.full((40, 60, 3), 230, np.uint8)
    a[5:15, 10:30] = 20
    a[25:35, 40:44] = 30
    a[31:35, 44:55] = 30
    return a


def test_default_module_spec_and_detect() -> None:
    names = {lab.name: lab for lab in fn.spec.labels}
    assert set(names) == {"object", "extent", "light", "dark"}
    assert names["extent"].type == "skeleton"
    assert [s.name for s in names["extent"].sublabels] == ["top", "right", "bottom", "left"]
    out = fn.detect(Ctx(), Image.fromarray(_scene()))
    kinds = sorted((getattr(o, "type", None) and o.type.value) or "tag" for o in out)
    assert kinds == ["rectangle", "rectangle", "skeleton", "skeleton", "tag"]
    rects = sorted(list(o.points) for o in out if getattr(o, "type", None) and o.type.value == "rectangle")
    assert rects[0] == [10.0, 5.0, 30.0, 15.0]  # pixel edges of the block: x 10..30, y 5..15
    tags = [o for o in out if not hasattr(o, "type")]
    assert tags[0].label_id == names["light"].id


def test_conf_threshold_keeps_scores_at_or_above_it() -> None:
    f = fn.create(kinds="box")
    all_ = f.detect(Ctx(), _scene())
    assert len(all_) == 2
    scores = sorted(o.score for o in all_)
    assert scores[0] < 1.0 == scores[1]  # the L blob is not convex, the block is
    kept = f.detect(Ctx(threshold=scores[1]), _scene())
    assert [o.score for o in kept] == [1.0]


def test_masks_and_conv_mask_to_poly() -> None:
    f = fn.create(kinds="mask")
    masks = f.detect(Ctx(), _scene())
    assert {o.type.value for o in masks} == {"mask"}
    polys = f.detect(Ctx(to_poly=True), _scene())
    assert {o.type.value for o in polys} == {"polygon"}
    block = min(polys, key=lambda o: o.points[0])
    # OpenCV and the fallback agree on a rectangle: its corner pixel centres, same order
    assert block.points == [10.0, 5.0, 10.0, 14.0, 29.0, 14.0, 29.0, 5.0]  # boundary pixel centres (OpenCV)


def test_mask_encoding_round_trips_through_the_cvat_converter() -> None:
    from cvat_server import shape

    from accord.core import rle
    from accord.plugins.cvat.client import TaskPayload, from_cvat_api

    img = _scene()
    (m,) = [o for o in fn.create(kinds="mask").detect(Ctx(), img) if o.points[-4] == 10]
    payload = TaskPayload(task={"id": 1, "name": "t"}, jobs=[{"id": 1, "start_frame": 0, "stop_frame": 0}],
                          labels=[_label(0, "object")], meta={"frames": [{"name": "x", "width": 60, "height": 40}]},
                          annotations={1: {"shapes": [shape(1, 0, 0, list(m.points), "mask")]}})
    v = from_cvat_api([payload]).records[0].value
    expected = np.zeros((40, 60), bool)
    expected[5:15, 10:30] = True
    np.testing.assert_array_equal(rle.decode(v.counts, v.height, v.width), expected)  # type: ignore[union-attr]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=4, max_size=200), st.integers(0, 255))
def test_otsu_matches_opencv(values: list[int], extra: int) -> None:
    """Differential: Otsu's threshold equals OpenCV's THRESH_OTSU (which picks the first maximum)."""
    cv2 = pytest.importorskip("cv2")
    gray = np.array([*values, extra], np.uint8).reshape(1, -1)
    assume(gray.min() != gray.max())  # one grey level: no threshold to compare
    t_cv, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ours = _otsu(gray)
    # both split the histogram at the same place: the same pixels fall on each side
    assert np.array_equal(gray > ours, gray > int(t_cv))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_blob_count_matches_opencv_connected_components(seed: int) -> None:
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(seed)
    a = np.full((30, 30), 240, np.uint8)
    for _ in range(rng.integers(1, 5)):
        x, y = rng.integers(0, 25, 2)
        a[y:y + rng.integers(2, 6), x:x + rng.integers(2, 6)] = 10
    fg = (a < 128).astype(np.uint8)
    n_cv, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=4)
    expected = sum(stats[i, cv2.CC_STAT_AREA] >= 1 for i in range(1, n_cv))
    boxes = ContourDetector(min_area_px=1, kinds=("box",)).predict(a)
    assert len(boxes) == expected


def test_predictor_protocol_registry_and_errors() -> None:
    assert isinstance(get_predictor("contours"), Predictor)
    with pytest.raises(BadPredictorError, match=r"unknown predictor 'yolo'; known: \['box-masks', 'contours'"):
        get_predictor("yolo")
    with pytest.raises(BadPredictorError, match="already registered"):
        register_predictor("contours", ContourDetector)
    with pytest.raises(BadPredictorError, match="does not take these parameters"):
        fn.create(model="contours", colour="red")
    with pytest.raises(BadPredictorError, match="expected a non-empty uint8 image"):
        ContourDetector().predict(np.zeros((4, 4), np.float32))  # type: ignore[arg-type]


# ------------------------------------------------------------------ through annotate_task


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server().start()
    stt = srv.state
    labels = [_label(1, "object", "any"),
              _label(2, "extent", "skeleton", sublabels=[_label(10 + i, n, "points", parent_id=2)
                                                         for i, n in enumerate(("top", "right", "bottom", "left"))]),
              _label(5, "light", "tag"), _label(6, "dark", "tag")]
    stt.add_task(2, name="auto", frames=[("x.png", 60, 40), ("y.png", 60, 40)], labels=labels)
    frames = []
    for k in range(2):
        buf = io.BytesIO()
        img = _scene()
        img[5:15] = 230
        img[5:15, 10 + 5 * k:30 + 5 * k] = 20
        Image.fromarray(img).save(buf, format="PNG")
        frames.append(buf.getvalue())
    stt.images[2] = frames
    stt.add_job(20, task_id=2, start=0, stop=1, assignee="alice")
    try:
        yield srv
    finally:
        srv.stop()


def test_annotate_task_uploads_shapes_mapped_to_the_task_labels(server: Server) -> None:
    from cvat_sdk import make_client

    client = make_client(server.url, access_token="pat-123")
    annotate_task(client, 2, fn, conf_threshold=0.5)
    up = server.state.task_annotations[2]
    rects = sorted((s["frame"], s["points"]) for s in up["shapes"] if s["type"] == "rectangle")
    assert rects[0] == (0, [10.0, 5.0, 30.0, 15.0])
    assert (1, [15.0, 5.0, 35.0, 15.0]) in rects
    assert {s["label_id"] for s in up["shapes"] if s["type"] == "rectangle"} == {1}  # the task's id, by name
    skel = [s for s in up["shapes"] if s["type"] == "skeleton"]
    assert skel
    assert {e["label_id"] for e in skel[0]["elements"]} == {10, 11, 12, 13}
    assert sorted(t["frame"] for t in up["tags"]) == [0, 1]
    assert {t["label_id"] for t in up["tags"]} == {5}
    patch = next(r for r in server.state.requests if r.method == "PATCH")
    assert patch.query == {"action": ["create"]}
    assert any(r.query.get("type") == ["chunk"] for r in server.state.requests)


def test_annotate_task_with_masks_as_polygons(server: Server) -> None:
    from cvat_sdk import make_client

    client = make_client(server.url, access_token="pat-123")
    annotate_task(client, 2, fn.create(kinds="mask"), conv_mask_to_poly=True)
    assert {s["type"] for s in server.state.task_annotations[2]["shapes"]} == {"polygon"}


def test_fallback_without_opencv_gives_the_same_rectangle(monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.ml_backends.predictors import _outline

    m = np.zeros((20, 30), bool)
    m[5:15, 10:30] = True
    with_cv = _outline(m)
    monkeypatch.setitem(__import__("sys").modules, "cv2", None)  # import cv2 now raises ImportError
    assert _outline(m) == [(10.0, 5.0), (10.0, 14.0), (29.0, 14.0), (29.0, 5.0)]
    assert set(with_cv) == set(_outline(m))


# ------------------------------------------------------------------ through cvat-cli (a subprocess)


def _cvat_cli(server: Server, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("cvat_cli", reason="cvat-cli is in the test extra: pip install 'accord[test]'")
    exe = Path(sys.executable).with_name("cvat-cli")
    # HOME: cvat-cli keeps profiles and a task cache there; keep both out of the user's home.
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("CVAT_ACCESS_TOKEN", None)
    return subprocess.run([str(exe), "--server-host", server.url, "--auth", "owner:secret", "task", "auto-annotate",
                           *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_cvat_cli_auto_annotate_with_the_function_module(server: Server, tmp_path: Path) -> None:
    r = _cvat_cli(server, tmp_path, "2", "--function-module", "accord.ml_backends.cvat_function",
                  "-p", "model=str:contours", "-p", "kinds=str:box,tag", "--conf-threshold", "0.5")
    assert r.returncode == 0, r.stderr
    login = next(q for q in server.state.requests if q.path == "/api/auth/login")
    assert login.body == {"username": "owner", "password": "secret"}
    up = server.state.task_annotations[2]
    # the same block as through annotate_task: x 10..30 on frame 0, moved 5 px right on frame 1
    rects = sorted((s["frame"], s["points"]) for s in up["shapes"])
    assert (0, [10.0, 5.0, 30.0, 15.0]) in rects
    assert (1, [15.0, 5.0, 35.0, 15.0]) in rects
    assert {s["type"] for s in up["shapes"]} == {"rectangle"}
    assert {s["label_id"] for s in up["shapes"]} == {1}  # "object", mapped by name to the task's label 1
    assert all(s["score"] >= 0.5 for s in up["shapes"])
    assert sorted(t["frame"] for t in up["tags"]) == [0, 1]
    patch = next(q for q in server.state.requests if q.method == "PATCH")
    assert patch.path.rstrip("/") == "/api/tasks/2/annotations"
    assert patch.query == {"action": ["create"]}


def test_cvat_cli_reports_a_bad_parameter(server: Server, tmp_path: Path) -> None:
    r = _cvat_cli(server, tmp_path, "2", "--function-module", "accord.ml_backends.cvat_function",
                  "-p", "model=str:contours", "-p", "colour=str:red")
    assert r.returncode != 0
    assert "does not take these parameters" in r.stderr
    assert 2 not in server.state.task_annotations
