"""The ``grabcut`` predictor: interactive BrushLabels masks from a box or a click (issue #21, image masks).

The images are drawn here with numpy (a filled disc on a striped, noisy background),
so the true mask is known exactly. The interactive ``context`` follows the shape Label
Studio's smart tools send (``{"result": [{"type": "rectanglelabels", "value": {x, y,
width, height in percent, "rectanglelabels": [...]}, "original_width": ..., ...}]}``,
as in Label Studio's own segment-anything backend) and the answer is a ``brushlabels``
result with ``{"format": "rle", "rle": [...], "brushlabels": [...]}``, decoded here with
our codec (:func:`accord.plugins.label_studio.brush.decode_brush_rle`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from fastapi.testclient import TestClient

from accord.core.errors import BadPredictorError
from accord.ml_backends.label_studio.app import Settings, create_app
from accord.ml_backends.label_studio.backends import make_backend
from accord.ml_backends.predictor_grabcut import GrabCutSegmenter, InteractivePredictor, Prompt
from accord.ml_backends.predictor_registry import get_predictor
from accord.plugins.label_studio.brush import decode_brush_rle

H, W = 160, 200
CX, CY, R = 110, 75, 40  # the disc: centre (110, 75), radius 40 pixels
BOX = (CX - R - 6, CY - R - 6, CX + R + 6, CY + R + 6)  # a loose box around it, as an annotator draws
LOOPBACK = ("127.0.0.1", 50000)
CONFIG = ('<View><Image name="image" value="$image"/>'
          '<RectangleLabels name="rect" toName="image" smart="true"><Label value="ball"/><Label value="bat"/>'
          '</RectangleLabels>'
          '<KeyPointLabels name="kp" toName="image" smart="true"><Label value="ball"/><Label value="bat"/>'
          '</KeyPointLabels>'
          '<BrushLabels name="brush" toName="image"><Label value="ball"/><Label value="bat"/></BrushLabels></View>')


def _drawn() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """A reddish disc on a textured background (stripes + noise); the disc's true mask."""
    rng = np.random.default_rng(21)
    yy, xx = np.mgrid[:H, :W]
    bg = np.stack([110 + 40 * np.sin(xx / 5.0), 120 + 30 * np.cos(yy / 7.0), 100 + 0 * xx], -1)
    bg = bg + rng.normal(0, 18, (H, W, 3))
    truth = (xx - CX) ** 2 + (yy - CY) ** 2 <= R ** 2
    fg = np.array([200.0, 70.0, 60.0]) + rng.normal(0, 15, (H, W, 3))
    img = np.clip(np.where(truth[..., None], fg, bg), 0, 255).astype(np.uint8)
    return img, truth


def _iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_box_prompt_gives_the_drawn_disc() -> None:
    img, truth = _drawn()
    (p,) = GrabCutSegmenter().segment(img, Prompt(label="ball", box=BOX))
    assert (p.label, p.kind, p.score) == ("ball", "mask", 1.0)
    assert p.mask is not None
    assert p.mask.shape == (H, W)
    assert p.mask.dtype == np.bool_
    iou = _iou(p.mask, truth)
    box_only = np.zeros((H, W), bool)
    box_only[BOX[1]:BOX[3], BOX[0]:BOX[2]] = True
    # the box alone is no answer: a disc fills pi/4 of its tight box, less of a loose one
    assert _iou(box_only, truth) < 0.75
    assert iou >= 0.9, f"GrabCut mask IoU with the drawn disc is {iou:.3f}, expected >= 0.9"


def test_click_prompt_gives_the_drawn_disc() -> None:
    img, truth = _drawn()
    (p,) = GrabCutSegmenter().segment(img, Prompt(label="ball", positive=((CX + 5.0, CY - 3.0),)))
    assert p.mask is not None
    iou = _iou(p.mask, truth)
    assert iou >= 0.9, f"GrabCut mask IoU from one click is {iou:.3f}, expected >= 0.9"


def test_large_image_is_segmented_at_max_side_and_scaled_back() -> None:
    img, truth = _drawn()
    big = np.repeat(np.repeat(img, 4, axis=0), 4, axis=1)  # 640 x 800
    big_truth = np.repeat(np.repeat(truth, 4, axis=0), 4, axis=1)
    (p,) = GrabCutSegmenter(max_side=200).segment(big, Prompt(label="ball", box=tuple(4 * v for v in BOX)))
    assert p.mask is not None
    assert p.mask.shape == big.shape[:2]
    iou = _iou(p.mask, big_truth)
    assert iou >= 0.9, f"IoU at 4x size, segmented at 200 px, is {iou:.3f}, expected >= 0.9"


def test_prompt_and_parameter_errors() -> None:
    img, _ = _drawn()
    s = GrabCutSegmenter()
    assert s.predict(img) == []  # no prompt, nothing to say
    with pytest.raises(BadPredictorError, match="needs a box or a positive click"):
        s.segment(img, Prompt(label="ball"))
    with pytest.raises(BadPredictorError, match="must lie inside the 200 x 160 image"):
        s.segment(img, Prompt(label="ball", box=(150, 20, 260, 100)))
    with pytest.raises(BadPredictorError, match="outside the 200 x 160 image"):
        s.segment(img, Prompt(label="ball", positive=((-3.0, 10.0),)))
    with pytest.raises(BadPredictorError, match="iterations must be an integer >= 1"):
        GrabCutSegmenter(iterations=0)


def test_registry_builds_grabcut_from_string_params() -> None:
    p = get_predictor("grabcut", iterations="3", max_side="400")
    assert isinstance(p, GrabCutSegmenter)
    assert isinstance(p, InteractivePredictor)
    assert (p.iterations, p.max_side) == (3, 400)
    with pytest.raises(BadPredictorError, match="takes"):
        get_predictor("grabcut", radius="3")
    with pytest.raises(BadPredictorError, match="whole number"):
        get_predictor("grabcut", iterations="many")


# ---- through the real FastAPI app ------------------------------------------------------------------------------


def _client(tmp_path: Path) -> TestClient:
    settings = Settings(state_dir=tmp_path / "state", fetch_annotations=False, allow_local_dirs=(tmp_path,))
    return TestClient(create_app(settings, backend=make_backend("grabcut")), raise_server_exceptions=False,
                      client=LOOPBACK)


def _request(tmp_path: Path, context: dict[str, Any] | None) -> dict[str, Any]:
    from PIL import Image

    img, _ = _drawn()
    path = tmp_path / "disc.png"
    Image.fromarray(img).save(path)
    req: dict[str, Any] = {"tasks": [{"id": 7, "data": {"image": str(path)}}], "project": "3.1",
                           "label_config": CONFIG}
    if context is not None:
        req["params"] = {"context": context}
    return req


def _rect_context(x1: float, y1: float, x2: float, y2: float, label: str = "ball") -> dict[str, Any]:
    return {"result": [{
        "id": "smart1", "from_name": "rect", "to_name": "image", "type": "rectanglelabels", "origin": "manual",
        "original_width": W, "original_height": H, "image_rotation": 0,
        "value": {"x": 100 * x1 / W, "y": 100 * y1 / H, "width": 100 * (x2 - x1) / W, "height": 100 * (y2 - y1) / H,
                  "rotation": 0, "rectanglelabels": [label]}}]}


def test_interactive_rectangle_answers_brushlabels_that_decode_to_the_mask(tmp_path: Path) -> None:
    img, truth = _drawn()
    c = _client(tmp_path)
    r = c.post("/predict", json=_request(tmp_path, _rect_context(*BOX)))
    assert r.status_code == 200, r.text
    (res,) = r.json()["results"]
    (region,) = res["result"]
    assert (region["type"], region["from_name"], region["to_name"]) == ("brushlabels", "brush", "image")
    assert (region["original_width"], region["original_height"]) == (W, H)
    v = region["value"]
    assert v["format"] == "rle"
    assert v["brushlabels"] == ["ball"]
    decoded = decode_brush_rle(v["rle"], H, W)
    (direct,) = GrabCutSegmenter().segment(img, Prompt(label="ball", box=tuple(float(b) for b in BOX)))
    assert direct.mask is not None
    np.testing.assert_array_equal(decoded, direct.mask)
    iou = _iou(decoded, truth)
    assert iou >= 0.9, f"served mask IoU with the drawn disc is {iou:.3f}, expected >= 0.9"
    assert res["model_version"] == "grabcut-v0"
    assert res["score"] == pytest.approx(1.0)


def test_interactive_keypoint_answers_a_mask_with_its_label(tmp_path: Path) -> None:
    _, truth = _drawn()
    ctx = {"result": [{"id": "k1", "from_name": "kp", "to_name": "image", "type": "keypointlabels",
                       "is_positive": True, "original_width": W, "original_height": H,
                       "value": {"x": 100 * CX / W, "y": 100 * CY / H, "width": 0.5, "keypointlabels": ["bat"]}}]}
    r = _client(tmp_path).post("/predict", json=_request(tmp_path, ctx))
    assert r.status_code == 200, r.text
    (region,) = r.json()["results"][0]["result"]
    assert region["value"]["brushlabels"] == ["bat"]
    iou = _iou(decode_brush_rle(region["value"]["rle"], H, W), truth)
    assert iou >= 0.9, f"served mask IoU from one click is {iou:.3f}, expected >= 0.9"


def test_without_context_grabcut_answers_nothing(tmp_path: Path) -> None:
    r = _client(tmp_path).post("/predict", json=_request(tmp_path, None))
    assert r.status_code == 200, r.text
    assert all(res["result"] == [] for res in r.json()["results"])


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda ctx: ctx["result"][0]["value"].update(x=80.0, width=40.0), "must lie inside the image"),
    (lambda ctx: ctx["result"][0]["value"].update(rectanglelabels=["cat"]), "'cat' is not a label of the BrushLabels"),
    (lambda ctx: ctx["result"][0]["value"].update(x="left"), "expected value.x as a number"),
    (lambda ctx: ctx["result"][0]["value"].update(rotation=30), "unrotated rectangle"),
    (lambda ctx: ctx["result"][0].update(type="polygonlabels"), "take a rectangle or a keypoint"),
    (lambda ctx: ctx["result"][0].update(value=[1, 2]), "expected a 'value' object"),
])
def test_bad_context_is_a_clear_422(tmp_path: Path, edit: Any, expected: str) -> None:
    ctx = copy.deepcopy(_rect_context(*BOX))
    edit(ctx)
    r = _client(tmp_path).post("/predict", json=_request(tmp_path, ctx))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["status"] == "error"
    assert expected in body["error"], body["error"]
    assert "Traceback" not in r.text
    assert "File \"" not in r.text
