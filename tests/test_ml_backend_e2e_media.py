"""End to end with a real Label Studio 1.23: audio, video and brush pre-annotation (issue #21).

One Label Studio (the module fixture of ``test_ml_backend_e2e``) and three of our backend
servers over real HTTP (``vad``, ``video-events``, ``box-masks``: one model per server, as
``accord serve label-studio --model NAME`` runs them). Each medium is synthesized here with a
known answer, **uploaded to Label Studio** (``POST /api/projects/{id}/import``, so task data is
``/data/upload/...``), and the backend fetches it back from Label Studio with the token Label
Studio sent in ``/setup``. Predictions are asked for with the Data Manager's "Retrieve
predictions" action and read back through Label Studio's API.

* Audio: the synthetic two-voice scene of ``test_predictor_audio`` (harmonic voices, silences,
  a white-noise burst); stored ``labels`` regions must be within 50 ms of the voiced intervals
  and the noise burst must not be one.
* Video: the moving block of ``test_predictor_events`` (moves in frames 10-19 and 30-34,
  0-based), rendered by OpenCV as WebM/VP8: Label Studio's upload refuses ``.avi``
  (``SUPPORTED_EXTENSIONS`` of LS 1.23 has ``.mp4``/``.webm`` only), and VP8 is what
  Chromium plays in the labeling UI. The Video tag says ``framerate="10"``; stored
  ``timelinelabels`` ranges are then its 1-based frames. Without it Label Studio counts 24 fps:
  the backend rescales to the tag's rate (the last test).
* Brush: the disc-and-triangle scene of ``test_box_masks``; each stored ``brushlabels`` RLE
  decodes (``accord.plugins.label_studio.brush``) to a mask with IoU >= 0.8 to a drawn shape.
* VideoRectangle: the two moving blocks of ``test_ml_backend_tracks`` (WebM/VP8, 10 fps); each
  stored ``videorectangle`` result is one block's track, keyframes 1-based, boxes within 2 px.
* Online training of an image backend: the scenes of ``test_ml_backend_rescorer`` (objects the
  annotators box, scratches and specks they leave out); 12 tasks annotated in Label Studio, Train
  pressed (``ml.train``), and the held-out tasks' predictions re-read: the version goes from
  ``contours-v0`` to ``contours-v1`` and held-out precision rises.

When chromium is installed, two screenshots per project are kept under ``benchmarks/artifacts/``
(``ls-media-<kind>-data-manager.png``, ``ls-media-<kind>-editor.png``) and their page text checked:
the Data Manager counts the prediction, the editor shows its model-version tab and its regions.
"""

from __future__ import annotations

import io
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from accord.ml_backends.label_studio.app import Settings, create_app

sys.path.insert(0, str(Path(__file__).parent))
import ls_server
from test_ml_backend_e2e import label_studio  # the module-scoped real Label Studio

pytestmark = [pytest.mark.integration, pytest.mark.slow]

__all__ = ["label_studio"]

ARTIFACTS = Path(__file__).resolve().parents[1] / "benchmarks" / "artifacts"
TOL_S = 0.05

AUDIO_CONFIG = ('<View><Audio name="audio" value="$audio"/><Labels name="speech" toName="audio">'
                '<Label value="Speech"/></Labels></View>')
# framerate = the rendered clip's 10 fps: Label Studio counts a Video's frames at this rate (default 24)
VIDEO_CONFIG = ('<View><Video name="video" value="$video" framerate="10"/><TimelineLabels name="events" toName="video">'
                '<Label value="Motion"/></TimelineLabels></View>')
BRUSH_CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="brush" toName="image">'
                '<Label value="Object"/></BrushLabels></View>')


#: the backends served (one server each, as ``accord serve label-studio --model NAME -p K=V`` runs them)
MODELS: dict[str, dict[str, str]] = {"vad": {}, "video-events": {}, "box-masks": {}, "video-tracks": {},
                                     "contours": {"kinds": "box"}}


def _serve(model: str, state_dir: Path, ls_url: str, params: dict[str, str] | None = None
           ) -> tuple[str, Any, threading.Thread]:
    """Our backend for ``model`` under uvicorn on a free port, in a thread; (url, server, thread)."""
    import uvicorn

    app = create_app(Settings(model=model, model_params=dict(params or {}), state_dir=state_dir,
                              label_studio_url=ls_url))
    port = ls_server.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError(f"the {model} backend did not start on port {port}")
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory, label_studio: ls_server.Server) -> Iterator[dict[str, str]]:
    started = {m: _serve(m, tmp_path_factory.mktemp(f"state-{m}"), label_studio.url, p) for m, p in MODELS.items()}
    yield {m: s[0] for m, s in started.items()}
    for _, server, _ in started.values():
        server.should_exit = True
    for _, _, thread in started.values():
        thread.join(10)


def _upload(ls: ls_server.Server, pid: int, name: str, data: bytes) -> list[int]:
    """Upload one file into project ``pid`` (Label Studio makes one task of it); the new task ids."""
    import httpx

    r = httpx.post(f"{ls.url}/api/projects/{pid}/import", params={"return_task_ids": "true"},
                   headers={"Authorization": f"Token {ls.token}"}, files={"file": (name, data)}, timeout=60)
    assert r.status_code == 201, r.text
    ids = [int(t) for t in r.json().get("task_ids") or []]
    assert len(ids) == 1, r.json()
    return ids


def _predict_in_label_studio(label_studio: ls_server.Server, title: str, config: str, file_name: str, data: bytes,
                             backend_url: str, version: str) -> tuple[Any, int, int, Any]:
    """Project + uploaded file + connected backend + "Retrieve predictions"; (sdk, project id, task, prediction)."""
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=label_studio.url, api_key=label_studio.token)
    pid = int(ls.projects.create(title=title, label_config=config).id)
    (tid,) = _upload(label_studio, pid, file_name, data)
    task = ls.tasks.get(id=tid)
    key = next(iter(task.data))
    assert str(task.data[key]).startswith("/data/upload/"), task.data  # served by Label Studio itself
    ls.ml.create(project=pid, url=backend_url, title=f"accord {version}", is_interactive=False)
    ls.actions.create(id="retrieve_tasks_predictions", project=pid, selected_items={"all": True, "excluded": []})
    preds = [p for p in ls.predictions.list(task=tid) if p.model_version == version]
    assert len(preds) == 1, [(p.model_version, p.result) for p in ls.predictions.list(task=tid)]
    return ls, pid, tid, preds[0]


def _screenshot(label_studio: ls_server.Server, pid: int, tid: int, name: str, version: str, label: str,
                n_regions: int) -> None:
    """Keep two screenshots (no-op without chromium) and check what they show: the Data Manager must
    count the stored prediction; the task opened in the labeling editor must show the prediction's tab
    (its model version) and list its regions (``label`` once on the control's button, once per region)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        return
    from ls_browser import screenshot_data_manager

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    grid = ARTIFACTS / f"ls-media-{name}-data-manager.png"
    text = screenshot_data_manager(chromium, label_studio.url, ls_server.ADMIN_EMAIL, ls_server.ADMIN_PASSWORD,
                                   f"/projects/{pid}/data", grid, wait_for="Predictions: 1", timeout_s=60)
    assert grid.stat().st_size > 0
    assert "Tasks: 1 / 1" in text, text[-400:]
    assert "Predictions: 1" in text, text[-400:]
    editor = ARTIFACTS / f"ls-media-{name}-editor.png"
    # the editor page has no "Tasks:" footer, which screenshot_data_manager also waits for: it
    # returns at the timeout, and the text is checked here instead
    text = screenshot_data_manager(chromium, label_studio.url, ls_server.ADMIN_EMAIL, ls_server.ADMIN_PASSWORD,
                                   f"/projects/{pid}/data?task={tid}", editor, wait_for=version, timeout_s=15)
    (ARTIFACTS / f"ls-media-{name}-editor.txt").write_text(text)
    assert editor.stat().st_size > 0
    assert version in text, text[-600:]
    assert text.count(label) >= n_regions + 1, text[-600:]


def test_audio_speech_segments_stored_in_label_studio(label_studio: ls_server.Server,
                                                     backends: dict[str, str]) -> None:
    from test_predictor_audio import GAPS, _wav, scene

    x, truth = scene(GAPS)  # voiced: A 0.5-2.0, B 2.4-3.6, A 4.4-5.4, B 6.0-8.0 s; noise burst 3.6-4.1 s
    _, pid, tid, pred = _predict_in_label_studio(label_studio, "accord audio e2e", AUDIO_CONFIG, "scene.wav", _wav(x),
                                               backends["vad"], "vad-v0")
    regions = pred.result
    assert {(r["type"], r["from_name"], r["to_name"]) for r in regions} == {("labels", "speech", "audio")}
    assert all(r["value"]["labels"] == ["Speech"] for r in regions)  # the predictor's "speech" -> the config's label
    got = sorted((float(r["value"]["start"]), float(r["value"]["end"])) for r in regions)
    assert len(got) == len(truth), got  # the noise burst is not speech
    for (start, end), (a, b, _) in zip(got, truth, strict=True):
        assert max(abs(start - a), abs(end - b)) <= TOL_S, (start, end, a, b)
    assert all(0.0 <= float(r["score"]) <= 1.0 for r in regions)
    assert 0.0 <= float(pred.score) <= 1.0
    _screenshot(label_studio, pid, tid, "audio", "vad-v0", "Speech", len(regions))


def _webm(frames: list[npt.NDArray[np.uint8]], path: Path) -> bytes:
    cv2 = pytest.importorskip("cv2")
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), 10, (64, 48))
    if not w.isOpened():
        pytest.skip("this OpenCV build cannot write WebM/VP8")
    for im in frames:
        w.write(im)
    w.release()
    return path.read_bytes()


def test_video_motion_events_stored_in_label_studio(label_studio: ls_server.Server, backends: dict[str, str],
                                                    tmp_path: Path) -> None:
    from test_predictor_events import MOVING, frames

    data = _webm(frames(), tmp_path / "clip.webm")
    _, pid, tid, pred = _predict_in_label_studio(label_studio, "accord video e2e", VIDEO_CONFIG, "clip.webm", data,
                                               backends["video-events"], "video-events-v0")
    regions = pred.result
    assert {(r["type"], r["from_name"], r["to_name"]) for r in regions} == {("timelinelabels", "events", "video")}
    assert all(r["value"]["timelinelabels"] == ["Motion"] for r in regions)
    ranges = sorted((int(g["start"]), int(g["end"])) for r in regions for g in r["value"]["ranges"])
    assert ranges == [(a + 1, b + 1) for a, b in MOVING]  # Label Studio's frames are 1-based
    _screenshot(label_studio, pid, tid, "video", "video-events-v0", "Motion", len(regions))


def test_brush_masks_stored_in_label_studio(label_studio: ls_server.Server, backends: dict[str, str]) -> None:
    from PIL import Image
    from test_box_masks import H, W, _best_ious, _scene

    from accord.plugins.label_studio.brush import decode_brush_rle

    img, truths = _scene()
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    _, pid, tid, pred = _predict_in_label_studio(label_studio, "accord brush e2e", BRUSH_CONFIG, "scene.png",
                                               buf.getvalue(), backends["box-masks"], "box-masks-v0")
    regions = pred.result
    assert {(r["type"], r["from_name"], r["to_name"]) for r in regions} == {("brushlabels", "brush", "image")}
    assert all(r["value"]["brushlabels"] == ["Object"] and r["value"]["format"] == "rle" for r in regions)
    assert {(r["original_width"], r["original_height"]) for r in regions} == {(W, H)}
    masks = [decode_brush_rle(r["value"]["rle"], H, W) for r in regions]
    ious = _best_ious(masks, truths)
    assert len(masks) == len(truths)
    assert min(ious) >= 0.8, ious
    _screenshot(label_studio, pid, tid, "brush", "box-masks-v0", "Object", len(regions))


def test_video_events_at_the_default_framerate_land_on_the_right_time(
        label_studio: ls_server.Server, backends: dict[str, str], tmp_path: Path) -> None:
    """Without ``framerate``, Label Studio's Video counts 24 frames a second (its player shows
    "of 108" frames for this 4.5 s clip): frame k of the 10 fps clip starts at k / 10 s, which is
    Label Studio frame k / 10 * 24 + 1."""
    from test_predictor_events import MOVING, frames

    data = _webm(frames(), tmp_path / "clip.webm")
    config = VIDEO_CONFIG.replace(' framerate="10"', "")
    _, _, _, pred = _predict_in_label_studio(label_studio, "accord video 24 fps", config, "clip.webm", data,
                                             backends["video-events"], "video-events-v0")
    ranges = sorted((int(g["start"]), int(g["end"])) for r in pred.result for g in r["value"]["ranges"])
    want = [(round(a / 10 * 24) + 1, round((b + 1) / 10 * 24)) for a, b in MOVING]  # [(25, 48), (73, 84)]
    assert len(ranges) == len(want)
    for (start, end), (a, b) in zip(ranges, want, strict=True):
        assert abs(start - a) <= 1
        assert abs(end - b) <= 1


VIDEO_TRACKS_CONFIG = ('<View><Video name="video" value="$video" framerate="10"/><Labels name="kind" toName="video">'
                       '<Label value="Block"/></Labels><VideoRectangle name="box" toName="video"/></View>')


def test_video_rectangle_tracks_stored_in_label_studio(label_studio: ls_server.Server, backends: dict[str, str],
                                                       tmp_path: Path) -> None:
    from test_ml_backend_tracks import check_sequences, webm

    data = webm(tmp_path / "blocks.webm")
    _, pid, tid, pred = _predict_in_label_studio(label_studio, "accord video tracks e2e", VIDEO_TRACKS_CONFIG,
                                               "blocks.webm", data, backends["video-tracks"], "video-tracks-v0")
    check_sequences(pred.result)  # as Label Studio stored them: type, names, labels, 1-based frames, boxes
    assert 0.0 <= float(pred.score) <= 1.0
    _screenshot(label_studio, pid, tid, "video-tracks", "video-tracks-v0", "Block", len(pred.result))


def test_image_backend_trains_in_label_studio_and_held_out_precision_rises(
        label_studio: ls_server.Server, backends: dict[str, str], record_property: Any) -> None:
    """Measured on this machine: contours-v0 precision 0.484 (30 of 62 boxes), recall 1.0;
    contours-v1 precision 1.0 (30 of 30), recall 1.0."""
    from label_studio_sdk import LabelStudio
    from test_ml_backend_rescorer import CONFIG, _png, ls_boxes, precision_recall, scene

    ls = LabelStudio(base_url=label_studio.url, api_key=label_studio.token)
    pid = int(ls.projects.create(title="accord image training e2e", label_config=CONFIG).id)
    train_seeds, held_seeds = range(0, 12), range(100, 112)
    ids, truths = {}, {}
    for s in [*train_seeds, *held_seeds]:
        img, objects = scene(s)
        (ids[s],) = _upload(label_studio, pid, f"scene-{s}.png", _png(img))
        truths[s] = objects
    url = backends["contours"]
    ml = ls.ml.create(project=pid, url=url, title="accord contours", is_interactive=False)
    held = [ids[s] for s in held_seeds]

    def held_out(version: str) -> tuple[float, float]:
        ls.actions.create(id="retrieve_tasks_predictions", project=pid, selected_items={"all": False,
                                                                                        "included": held})
        preds = {}
        for s in held_seeds:
            found = [p for p in ls.predictions.list(task=ids[s]) if p.model_version == version]
            assert len(found) == 1, (version, [p.model_version for p in ls.predictions.list(task=ids[s])])
            preds[s] = found[0].result
        p, r, *counts = precision_recall([preds[s] for s in held_seeds], [truths[s] for s in held_seeds])
        record_property(f"held_out_{version}", {"precision": p, "recall": r, "tp_predicted_objects": counts})
        return p, r

    p0, r0 = held_out("contours-v0")
    for s in train_seeds:  # the annotators box the objects only
        ls.annotations.create(id=ids[s], result=ls_boxes(truths[s]))
    ls.ml.train(id=ml.id)
    deadline = time.monotonic() + 120
    while "contours-v1" not in httpx_get(f"{url}/versions?project={pid}")["versions"]:
        assert time.monotonic() < deadline, "Train never produced contours-v1"
        time.sleep(0.3)
    p1, r1 = held_out("contours-v1")
    assert ls.ml.get(id=ml.id).model_version == "contours-v1"
    assert p0 < 0.6
    assert p1 >= 0.95
    assert r1 >= r0 - 0.05


def httpx_get(url: str) -> Any:
    """``GET url`` as JSON."""
    import httpx

    r = httpx.get(url, timeout=10)
    r.raise_for_status()
    return r.json()
