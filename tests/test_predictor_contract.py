"""The predictor contract: the spec, the registry, and the driver that checks every prediction.

A predictor that returns something its own labels do not declare (an undeclared label or
kind, a box outside the image, a score outside [0, 1]) must fail with a BadPredictionError
that names the predictor, the task and the field, through the CVAT function (detect() and
annotate_task against tests/cvat_server.py) and through the Label Studio backend's /predict
(a clear JSON error, never exception text). Before the driver, an undeclared label reached a
bare ``KeyError`` in cvat_function.py.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cvat_sdk.auto_annotation import annotate_task
from cvat_server import Server, _label
from fastapi.testclient import TestClient
from PIL import Image
from test_cvat_function import Ctx

import accord.ml_backends.cvat_function as fn
from accord.core.errors import AccordError, BadPredictionError, BadPredictorError
from accord.ml_backends import predictors
from accord.ml_backends.driver import validate_predictions
from accord.ml_backends.label_studio.app import Settings, create_app
from accord.ml_backends.label_studio.backends import ImageBackend
from accord.ml_backends.predictor_registry import get_predictor, register_predictor
from accord.ml_backends.predictor_spec import LabelInfo, Prediction

W, H = 60, 40
SPEC = (LabelInfo(name="object", kind="box"), LabelInfo(name="object", kind="polygon"),
        LabelInfo(name="light", kind="tag"))
GOOD = Prediction(label="object", kind="box", score=0.9, points=((10.0, 5.0), (30.0, 15.0)))


@dataclass(frozen=True)
class Scripted:
    """A predictor that declares SPEC and returns what it is told (good first, then the bad one)."""

    out: tuple[Any, ...]
    spec: tuple[LabelInfo, ...] = SPEC

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        return self.spec

    def predict(self, image: Any) -> list[Any]:
        return list(self.out)


def _box(x1: float, y1: float, x2: float, y2: float, **kw: Any) -> Prediction:
    return Prediction(**{"label": "object", "kind": "box", "score": 0.5, "points": ((x1, y1), (x2, y2)), **kw})


#: (the bad prediction, the field named, words of the message); each is the second prediction.
BAD = [
    pytest.param(_box(1, 1, 5, 5, label="cat"), "predictions[1].label",
                 r"label 'cat' is not among the predictor's declared labels \['light', 'object'\]",
                 id="undeclared-label"),
    pytest.param(_box(10, 5, 70, 15), "predictions[1].points[1]", r"point \(70, 15\) is outside the 60 x 40 image",
                 id="box-outside-right"),
    pytest.param(_box(-1, 5, 20, 15), "predictions[1].points[0]", "outside the 60 x 40 image", id="box-outside-left"),
    pytest.param(_box(1, 1, 5, 5, score=1.5), "predictions[1].score", r"in \[0, 1\], got 1.5", id="score-1.5"),
    pytest.param(_box(1, 1, 5, 5, score=float("nan")), "predictions[1].score", r"in \[0, 1\], got nan",
                 id="score-nan"),
    pytest.param(_box(1, 1, 5, 5, score=-0.1), "predictions[1].score", r"got -0.1", id="score-negative"),
    pytest.param(Prediction(label="object", kind="mask", score=0.5, mask=np.zeros((H, W), bool)),
                 "predictions[1].kind", r"kind 'mask' is not declared for label 'object' \(declared: \['box', "
                 r"'polygon'\]\)", id="undeclared-kind"),
    pytest.param(Prediction(label="light", kind="box", score=0.5, points=((1, 1), (2, 2))), "predictions[1].kind",
                 "kind 'box' is not declared for label 'light'", id="kind-of-another-label"),
]


def _frame_png() -> bytes:
    img = np.full((H, W, 3), 230, np.uint8)
    img[5:15, 10:30] = 20
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _where(predictor: str, task: str, field: str) -> str:
    import re

    return re.escape(f"[predictor {predictor!r}, task {task!r}, field {field!r}]")


# ------------------------------------------------------------------ the driver itself


@pytest.mark.parametrize(("bad", "field", "words"), BAD)
def test_driver_names_predictor_task_and_field(bad: Prediction, field: str, words: str) -> None:
    with pytest.raises(BadPredictionError, match=_where("p", "t7", field) + ".*" + words) as e:
        validate_predictions([GOOD, bad], labels=SPEC, width=W, height=H, predictor="p", task="t7")
    assert (e.value.predictor, e.value.task, e.value.field) == ("p", "t7", field)
    assert isinstance(e.value, AccordError)
    assert isinstance(e.value, BadPredictorError)


def test_driver_checks_geometry_against_the_kind() -> None:
    spec = (*SPEC, LabelInfo(name="blob", kind="mask"),
            LabelInfo(name="pose", kind="keypoints", keypoints=("head", "tail")))

    def check(p: Any) -> None:
        validate_predictions([p], labels=spec, width=W, height=H, predictor="p", task="1")

    cases = [
        (Prediction(label="object", kind="box", score=0.5, points=((1, 1),)), "predictions[0].points", "two corners"),
        (_box(20, 5, 10, 15), "predictions[0].points", "x1 <= x2"),
        (Prediction(label="object", kind="polygon", score=0.5, points=((1, 1), (2, 2))), "predictions[0].points",
         "3 vertices or more"),
        (Prediction(label="pose", kind="keypoints", score=0.5, points=((1, 1),)), "predictions[0].points",
         r"declares 2 keypoints \['head', 'tail'\], got 1"),
        (Prediction(label="blob", kind="mask", score=0.5, mask=np.zeros((W, H), bool)), "predictions[0].mask",
         r"boolean mask of the image's shape \(40, 60\), got bool array \(60, 40\)"),
        (Prediction(label="blob", kind="mask", score=0.5), "predictions[0].mask", "got NoneType"),
        (_box(1, 1, float("inf"), 5), "predictions[0].points[1]", "outside"),
        (Prediction(label="object", kind="cuboid", score=0.5), "predictions[0].kind",  # type: ignore[arg-type]
         r"expected one of \['box', 'polygon', 'mask', 'keypoints', 'tag'\], got 'cuboid'"),
        (Prediction(label="object", kind="box", score="high", points=((1, 1), (2, 2))),  # type: ignore[arg-type]
         "predictions[0].score", "got str 'high'"),
        ({"label": "object"}, "predictions[0]", "expected a Prediction, got dict"),
    ]
    for p, field, words in cases:
        with pytest.raises(BadPredictionError, match=_where("p", "1", field) + ".*" + words):
            check(p)
    with pytest.raises(BadPredictionError, match=_where("p", "1", "predictions") + ".*got NoneType"):
        validate_predictions(None, labels=spec, width=W, height=H, predictor="p", task="1")  # type: ignore[arg-type]


def test_driver_accepts_the_edges_of_the_contract() -> None:
    ok = [_box(0, 0, W, H, score=0.0), _box(5, 5, 5, 5, score=1.0), Prediction(label="light", kind="tag", score=1.0),
          Prediction(label="object", kind="polygon", score=np.float32(0.25), points=((0, 0), (W, 0), (W, H)))]
    assert validate_predictions(ok, labels=SPEC, width=W, height=H, predictor="p", task="1") == ok
    # the shipped default satisfies its own spec, on every kind it can output
    det = predictors.ContourDetector()
    img = np.asarray(Image.open(io.BytesIO(_frame_png())))
    out = det.predict(img)
    assert {p.kind for p in out} == {"box", "polygon", "mask", "keypoints", "tag"}
    assert validate_predictions(out, labels=det.labels, width=W, height=H, predictor="contours", task="1") == out


# ------------------------------------------------------------------ through the CVAT function


@pytest.mark.parametrize(("bad", "field", "words"), BAD)
def test_cvat_detect_raises_bad_prediction(bad: Prediction, field: str, words: str) -> None:
    f = fn.PredictorFunction(Scripted((GOOD, bad)), name="scripted")
    with pytest.raises(BadPredictionError, match=_where("scripted", "frame x.png", field) + ".*" + words):
        f.detect(Ctx(), Image.open(io.BytesIO(_frame_png())))


def test_cvat_detect_keeps_good_predictions() -> None:
    f = fn.PredictorFunction(Scripted((GOOD, Prediction(label="light", kind="tag", score=1.0))))
    out = f.detect(Ctx(), Image.open(io.BytesIO(_frame_png())))
    assert [list(o.points) for o in out if hasattr(o, "points")] == [[10.0, 5.0, 30.0, 15.0]]
    assert f.name == "Scripted"  # the class name when none is given
    assert fn.create(model="contours").name == "contours"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server().start()
    srv.state.add_task(3, name="contract", frames=[("x.png", W, H)],
                       labels=[_label(1, "object", "any"), _label(5, "light", "tag")])
    srv.state.images[3] = [_frame_png()]
    srv.state.add_job(30, task_id=3, start=0, stop=0, assignee="alice")
    try:
        yield srv
    finally:
        srv.stop()


def test_annotate_task_stops_at_an_undeclared_label(server: Server) -> None:
    from cvat_sdk import make_client

    client = make_client(server.url, access_token="pat-123")
    good = fn.PredictorFunction(Scripted((GOOD,)), name="scripted")
    annotate_task(client, 3, good)  # the same task and function work with a good prediction
    assert [s["points"] for s in server.state.task_annotations[3]["shapes"]] == [[10.0, 5.0, 30.0, 15.0]]
    del server.state.task_annotations[3]
    bad = fn.PredictorFunction(Scripted((GOOD, _box(1, 1, 5, 5, label="cat"))), name="scripted")
    with pytest.raises(BadPredictionError, match=_where("scripted", "frame x.png", "predictions[1].label")):
        annotate_task(client, 3, bad)
    assert 3 not in server.state.task_annotations  # nothing uploaded


# ------------------------------------------------------------------ through the Label Studio backend

LS_CONFIG = ('<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">'
             '<Label value="object"/></RectangleLabels></View>')


def _ls_client(tmp_path: Path, out: tuple[Any, ...]) -> tuple[TestClient, dict[str, Any]]:
    (tmp_path / "im.png").write_bytes(_frame_png())
    app = create_app(Settings(state_dir=tmp_path / "state", fetch_annotations=False, allow_local_dirs=(tmp_path,)),
                     backend=ImageBackend(Scripted(out), name="scripted"))
    c = TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50000))
    req = {"tasks": [{"id": 17, "data": {"image": str(tmp_path / "im.png")}}], "project": "5.1",
           "label_config": LS_CONFIG}
    return c, req


@pytest.mark.parametrize(("bad", "field", "words"), BAD)
def test_label_studio_predict_answers_a_clear_json_error(tmp_path: Path, bad: Prediction, field: str,
                                                         words: str) -> None:
    import re

    c, req = _ls_client(tmp_path, (GOOD, bad))
    r = c.post("/predict", json=req)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["status"] == "error"
    assert re.search(_where("scripted", "17", field) + ".*" + words, body["error"]), body["error"]
    assert "Traceback" not in r.text
    assert "KeyError" not in r.text


def test_label_studio_predict_with_good_predictions(tmp_path: Path) -> None:
    c, req = _ls_client(tmp_path, (GOOD,))
    r = c.post("/predict", json=req)
    assert r.status_code == 200, r.text
    (res,) = r.json()["results"]
    (region,) = res["result"]
    assert region["value"]["rectanglelabels"] == ["object"]
    v = region["value"]
    # pixels -> percent: x 10/60, y 5/40, width 20/60, height 10/40
    assert (v["x"], v["y"], v["width"], v["height"]) == pytest.approx((100 / 6, 12.5, 100 / 3, 25.0))


# ------------------------------------------------------------------ the registry and the split


def test_registry_duplicate_and_unknown_names() -> None:
    with pytest.raises(BadPredictorError, match=r"a predictor named 'contours' is already registered .*pick another"):
        register_predictor("contours", predictors.ContourDetector)
    with pytest.raises(BadPredictorError, match=r"unknown predictor 'yolo'; known: \['box-masks', 'contours', "
                                                r"'grabcut', 'haar-face', 'hog-person', 'onnx'"):
        get_predictor("yolo")
    with pytest.raises(BadPredictorError, match="non-empty string, got ''"):
        register_predictor("", predictors.ContourDetector)
    assert predictors.get_predictor is get_predictor  # the old import path re-exports the split modules
    assert predictors.PREDICTORS["contours"] is get_predictor.__globals__["_REGISTRY"]["contours"]
    assert isinstance(get_predictor("contours", kinds=("box",)), predictors.Predictor)
    assert get_predictor("contours", kinds=("box",)).kinds == ("box",)  # a tuple is kept, not dropped


def test_families_import_only_the_contract() -> None:
    """No import circle: a detector module loads without the registry, and the registry without onnxruntime."""
    code = ("import sys, json\n"
            "import accord.ml_backends.opencv_detectors, accord.ml_backends.onnx_detector\n"
            "a = [m for m in ('accord.ml_backends.predictors', 'accord.ml_backends.predictor_registry') "
            "if m in sys.modules]\n"
            "import accord.ml_backends.predictors\n"
            "print(json.dumps([a, 'onnxruntime' in sys.modules]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(r.stdout) == [[], False]
