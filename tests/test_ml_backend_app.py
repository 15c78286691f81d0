"""Routes of the Label Studio ML backend, driven by the requests a real Label Studio 1.23 sent.

The request bodies come from /work/shared/fixtures/label-studio-1.23/backend_requests_from_ls.json
(captured from LS 1.23.2); predictions are checked against the shape LS stored in
predictions_from_ml.json.
"""

from __future__ import annotations

import base64
import copy
import http.server
import io
import json
import multiprocessing
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from accord.core.errors import AccordError
from accord.ml_backends.label_studio import files
from accord.ml_backends.label_studio.app import Settings, create_app, settings_from_env
from accord.ml_backends.label_studio.backends import ImageBackend, TextBackend, make_backend
from accord.ml_backends.label_studio.state import ProjectState, SavedModel

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "label-studio-1.23"
if not FIXTURES.is_dir():
    FIXTURES = Path("/work/shared/fixtures/label-studio-1.23")
REQS = json.loads((FIXTURES / "backend_requests_from_ls.json").read_text())
STORED = json.loads((FIXTURES / "predictions_from_ml.json").read_text())
SETUP, PREDICT, START_TRAINING, ANN_CREATED = (REQS[1]["body"], REQS[2]["body"], REQS[4]["body"], REQS[5]["body"])

#: The test client's address: without auth the server serves loopback clients only.
LOOPBACK = ("127.0.0.1", 50000)
NER_CONFIG = ('<View><Text name="text" value="$text"/><Labels name="ner" toName="text">'
              '<Label value="PER"/><Label value="LOC"/></Labels></View>')


def _client(tmp_path: Path, **kw: Any) -> TestClient:
    backend = kw.pop("backend", None)
    return TestClient(create_app(Settings(state_dir=tmp_path, fetch_annotations=False, **kw), backend=backend),
                      raise_server_exceptions=False, client=LOOPBACK)


def _annotate(c: TestClient, task_id: int, text: str, result: list[dict[str, Any]],
              action: str = "ANNOTATION_CREATED", config: str | None = None) -> dict[str, Any]:
    body = copy.deepcopy(ANN_CREATED)
    body["action"] = action
    body["task"]["id"] = task_id
    body["task"]["data"] = {"text": text}
    body["annotation"]["task"] = task_id
    body["annotation"]["result"] = result
    if config:
        body["project"]["label_config"] = config
    r = c.post("/webhook", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def _train_sentiment(c: TestClient) -> None:
    data = [("good one", "Positive"), ("great day", "Positive"), ("lovely good", "Positive"),
            ("bad one", "Negative"), ("awful day", "Negative"), ("terrible bad", "Negative")]
    for i, (t, lab) in enumerate(data):
        _annotate(c, 100 + i, t, _choice(lab))
    assert c.post("/webhook", json=START_TRAINING).json()["status"] == "training"


def test_health_setup_versions_cold(tmp_path: Path) -> None:
    c = _client(tmp_path, label_studio_url="http://localhost:8089")  # the hostname the fixture's /setup sends
    assert c.get("/health").json() == {"status": "UP", "model_class": "TextBackend", "model": "text"}
    assert c.post("/setup", json=SETUP).json() == {"model_version": "text-v0"}
    conn = tmp_path / "3" / "connection.json"
    assert json.loads(conn.read_text()) == {"hostname": "http://localhost:8089", "access_token": "dummy-token-0000"}
    assert stat.S_IMODE(conn.stat().st_mode) == 0o600
    assert c.get("/versions").json() == {"versions": ["text-v0"]}
    # cold start: nothing to suggest; LS stores nothing for an empty results list
    assert c.post("/predict", json=PREDICT).json() == {"results": []}


def test_train_then_predict_in_label_studio_shape(tmp_path: Path) -> None:
    c = _client(tmp_path)
    _train_sentiment(c)
    assert c.post("/setup", json=SETUP).json() == {"model_version": "text-v1"}
    results = c.post("/predict", json=PREDICT).json()["results"]
    assert len(results) == len(PREDICT["tasks"])  # one per task, in order
    stored_keys = {k for k in STORED[0]["result"][0]}
    for r, stored in zip(results, STORED, strict=True):
        assert r["model_version"] == "text-v1"
        assert 0.0 <= r["score"] <= 1.0
        region = r["result"][0]
        assert stored_keys <= set(region)
        assert {k: region[k] for k in ("from_name", "to_name", "type")} == \
            {k: stored["result"][0][k] for k in ("from_name", "to_name", "type")}
    assert [r["result"][0]["value"]["choices"] for r in results[:2]] == [["Positive"], ["Negative"]]
    # "meh" shares no word with the training data: least confident, so LS's ascending sort shows it first
    assert results[2]["score"] < min(results[0]["score"], results[1]["score"])
    assert c.get("/versions").json() == {"versions": ["text-v1"]}
    assert c.get("/versions", params={"project": "3.1795803744"}).json() == {"versions": ["text-v1"]}
    # a second training is a new version, and predictions carry it
    _annotate(c, 200, "meh", _choice("Negative"))
    c.post("/webhook", json=START_TRAINING)
    assert {r["model_version"] for r in c.post("/predict", json=PREDICT).json()["results"]} == {"text-v2"}
    assert c.get("/versions").json() == {"versions": ["text-v1", "text-v2"]}


def test_one_class_teaches_nothing_and_deleted_annotations_are_forgotten(tmp_path: Path) -> None:
    c = _client(tmp_path)
    _annotate(c, 1, "good", _choice("Positive"))
    _annotate(c, 2, "bad", _choice("Negative"))
    _annotate(c, 2, "bad", _choice("Negative"), action="ANNOTATION_DELETED")
    assert sorted(ProjectState(tmp_path, 3).annotations()) == ["1"]
    c.post("/webhook", json=START_TRAINING)
    assert c.post("/setup", json=SETUP).json()["model_version"] == "text-v0"
    assert c.post("/predict", json=PREDICT).json() == {"results": []}
    assert 'accord_trainings_total{outcome="skipped"' in c.get("/metrics").text


def test_train_on_annotation_setting(tmp_path: Path) -> None:
    c = _client(tmp_path, train_on_annotation=True)
    _annotate(c, 1, "good", _choice("Positive"))
    assert _annotate(c, 2, "bad", _choice("Negative"))["status"] == "training"
    assert c.post("/setup", json=SETUP).json()["model_version"] == "text-v1"


def test_ner_batch_and_interactive(tmp_path: Path) -> None:
    c = _client(tmp_path)
    texts = ["Alice flew to Paris .", "Bob drove to Rome .", "Carol sailed to Oslo ."]
    for i, t in enumerate(texts):
        spans = []
        for word, lab in ((t.split()[0], "PER"), (t.split()[3], "LOC")):
            s = t.index(word)
            spans.append({"from_name": "ner", "to_name": "text", "type": "labels",
                          "value": {"start": s, "end": s + len(word), "text": word, "labels": [lab]}})
        _annotate(c, 10 + i, t, spans, config=NER_CONFIG)
    body = copy.deepcopy(START_TRAINING)
    body["project"]["label_config"] = NER_CONFIG
    c.post("/webhook", json=body)
    text = "Later Alice flew to Rome ."
    req = {"tasks": [{"id": 1, "data": {"text": text}, "project": 3}], "project": "3.1", "label_config": NER_CONFIG,
           "params": {"context": None}}
    (res,) = c.post("/predict", json=req).json()["results"]
    got = [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in res["result"]]
    assert {(6, 11, "PER"), (20, 24, "LOC")} <= set(got)  # "Alice" and "Rome" come from the gazetteer
    assert all(text[r["value"]["start"]:r["value"]["end"]] == r["value"]["text"] for r in res["result"])
    assert res["model_version"] == "text-v1"
    # interactive: the annotator labels "Rome" once; every occurrence comes back
    text2 = "Rome is far from Rome ."
    req["tasks"][0]["data"]["text"] = text2
    req["params"]["context"] = {"result": [{"from_name": "ner", "to_name": "text", "type": "labels",
                                            "value": {"start": 0, "end": 4, "text": "Rome", "labels": ["LOC"]}}]}
    (res,) = c.post("/predict", json=req).json()["results"]
    assert [(r["value"]["start"], r["value"]["end"]) for r in res["result"]] == [(0, 4), (17, 21)]


def test_basic_auth(tmp_path: Path) -> None:
    c = _client(tmp_path, basic_auth=("ls", "s3cret"))
    assert c.get("/health").status_code == 200  # LS polls health; it stays open
    r = c.post("/setup", json=SETUP)
    assert r.status_code == 401
    assert "basic auth" in r.json()["error"]
    assert r.headers["www-authenticate"].startswith("Basic")
    wrong = base64.b64encode(b"ls:nope").decode()
    assert c.post("/setup", json=SETUP, headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    assert c.post("/setup", json=SETUP, auth=("ls", "s3cret")).status_code == 200


def test_errors_are_json_without_traceback(tmp_path: Path) -> None:
    class Broken(TextBackend):
        def predict(self, *a: Any, **k: Any) -> Any:
            raise RuntimeError("model exploded")

    c = _client(tmp_path, backend=Broken())
    r = c.post("/predict", json=PREDICT)
    assert r.status_code == 500
    # no exception text reaches the client (it is in the server log)
    assert r.json() == {"status": "error", "error": "internal error in the ML backend; the server log has the details"}
    assert "Traceback" not in r.text
    assert "exploded" not in r.text
    c = _client(tmp_path)
    r = c.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"].startswith("the request body does not match")
    r = c.post("/predict", json={**PREDICT, "label_config": "<View><Text"})
    assert r.status_code == 422
    assert "not valid XML" in r.json()["error"]
    r = c.post("/predict", json={**PREDICT, "label_config": None})
    assert "has no label_config" in r.json()["error"]
    r = c.post("/webhook", json={"action": "START_TRAINING"})
    assert r.status_code == 422
    assert "names no project" in r.json()["error"]
    assert c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 3}}).json()["status"] == "ignored"
    assert c.get("/nope").status_code == 404
    assert 'route="other",status="404"' in c.get("/metrics").text


def test_metrics_prometheus_text(tmp_path: Path) -> None:
    c = _client(tmp_path)
    c.post("/predict", json=PREDICT)
    text = c.get("/metrics").text
    assert 'accord_requests_total{route="/predict",status="200"' in text
    assert f'accord_predicted_tasks_total{{pid="{os.getpid()}"}} 3' in text
    assert f'accord_predict_seconds_count{{pid="{os.getpid()}"}} 1' in text


def _commit_many(state_dir: str, n: int) -> None:
    st = ProjectState(state_dir, 7)
    for i in range(n):
        st.commit_version("text", SavedModel(meta={"i": i}), n_examples=i)
        st.put_annotation(i % 5, {"result": [i]})


def test_concurrent_commits_from_threads_and_processes_do_not_corrupt_state(tmp_path: Path) -> None:
    threads = [threading.Thread(target=_commit_many, args=(str(tmp_path), 10)) for _ in range(4)]
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    procs = [ctx.Process(target=_commit_many, args=(str(tmp_path), 10)) for _ in range(2)]
    for w in (*procs, *threads):  # fork before starting threads: a child must not inherit a held lock
        w.start()
    for w in (*threads, *procs):
        w.join(60)
    assert all(p.exitcode == 0 for p in procs)
    st = ProjectState(tmp_path, 7)
    state = st.read()
    names = [v.model_version for v in st.versions()]
    assert state["counter"] == 60
    assert names == [f"text-v{i}" for i in range(1, 61)]  # every commit kept, none twice
    assert st.model_version() == "text-v60"
    assert st.load_model("text-v60").meta in [{"i": i} for i in range(10)]
    assert sorted(st.annotations()) == ["0", "1", "2", "3", "4"]
    assert not list((tmp_path / "7").rglob("*.tmp"))  # no temporary file left behind


def test_state_rejects_unsafe_ids(tmp_path: Path) -> None:
    with pytest.raises(AccordError, match="not a Label Studio project id"):
        ProjectState(tmp_path, "../etc")
    with pytest.raises(AccordError, match=r"missing or unreadable.*train again"):
        ProjectState(tmp_path, 1).load_model("text-v9")


def test_settings_from_env_and_backend_registry() -> None:
    s = settings_from_env({"ACCORD_SERVE_MODEL": "image", "ACCORD_SERVE_BASIC_AUTH": "u:p:q",
                           "ACCORD_SERVE_TRAIN_ON_ANNOTATION": "yes", "LABEL_STUDIO_URL": "http://ls:8080"})
    assert (s.model, s.basic_auth, s.train_on_annotation, s.label_studio_url) == \
        ("image", ("u", "p:q"), True, "http://ls:8080")
    with pytest.raises(AccordError, match="USER:PASSWORD"):
        settings_from_env({"ACCORD_SERVE_BASIC_AUTH": "nocolon"})
    with pytest.raises(AccordError, match=r"unknown model 'yolo'; known models: \['box-masks', 'contours', 'grabcut', "
                                          r"'haar-face', 'hog-person', 'image', 'onnx', 'pointcloud-cuboids', "
                                          r"'speaker-turns', 'text', 'transcribe', 'vad', 'video-events', "
                                          r"'video-tracks'\]"):
        make_backend("yolo")
    s = settings_from_env({"ACCORD_SERVE_MODEL": "onnx", "ACCORD_SERVE_MODEL_PARAMS": '{"onnx_path": "/m.onnx"}'})
    assert (s.model, dict(s.model_params)) == ("onnx", {"onnx_path": "/m.onnx"})
    with pytest.raises(AccordError, match="MODEL_PARAMS must be a JSON object"):
        settings_from_env({"ACCORD_SERVE_MODEL_PARAMS": "onnx_path=/m.onnx"})
    with pytest.raises(AccordError, match=r"text model takes strategy= and multilabel_threshold=, got \['onnx_path'\]"):
        make_backend("text", {"onnx_path": "x"})
    with pytest.raises(AccordError, match="multilabel_threshold must be in"):
        make_backend("text", {"multilabel_threshold": "1.5"})
    with pytest.raises(AccordError, match="needs onnx_path="):
        make_backend("onnx", {})


# -- files ------------------------------------------------------------------------------------

@pytest.fixture
def file_server() -> Iterator[str]:
    """A localhost HTTP server that serves /data/upload/x.bin only with 'Token good'."""

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/data/") and self.headers.get("Authorization") != "Token good":
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"payload:" + self.path.encode())

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_fetch_bytes_sources(tmp_path: Path, file_server: str) -> None:
    p = tmp_path / "a.bin"
    p.write_bytes(b"local")
    assert files.fetch_bytes(str(p), allow_local_dirs=[tmp_path]) == b"local"
    assert files.fetch_bytes(p.as_uri(), allow_local_dirs=[tmp_path]) == b"local"
    assert files.fetch_bytes("/data/upload/3/x.bin", hostname=file_server, access_token="good") == \
        b"payload:/data/upload/3/x.bin"
    assert files.fetch_bytes("/data/local-files/?d=img/a.jpg", hostname=file_server, access_token="good") == \
        b"payload:/data/local-files/?d=img/a.jpg"
    assert files.fetch_bytes(file_server + "/other.jpg", allow_remote_media=True, allow_private_media=True) == \
        b"payload:/other.jpg"
    with pytest.raises(AccordError, match=r"HTTP 401.*LABEL_STUDIO_API_KEY"):
        files.fetch_bytes("/data/upload/3/x.bin", hostname=file_server, access_token=None)
    with pytest.raises(AccordError, match="no Label Studio URL is configured"):
        files.fetch_bytes("/data/upload/3/x.bin")
    with pytest.raises(AccordError, match="not allowed"):
        files.fetch_bytes("ftp://host/x.jpg")
    with pytest.raises(AccordError, match="not allowed"):
        files.fetch_bytes(str(tmp_path / "missing.jpg"), allow_local_dirs=[tmp_path])


def test_image_backend_boxes_from_the_shared_predictor(tmp_path: Path) -> None:
    from PIL import Image

    img = np.full((40, 60, 3), 255, np.uint8)
    img[10:20, 5:25] = 0  # one dark blob on white: box x 5..25, y 10..20 in pixels
    path = tmp_path / "im.png"
    Image.fromarray(img).save(path)
    config = ('<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">'
              '<Label value="car"/></RectangleLabels></View>')
    c = _client(tmp_path / "state", backend=ImageBackend(), allow_local_dirs=(tmp_path,))
    req = {"tasks": [{"id": 1, "data": {"image": str(path)}}], "project": "5.1", "label_config": config}
    (res,) = c.post("/predict", json=req).json()["results"]
    (region,) = res["result"]
    assert region["value"]["rectanglelabels"] == ["car"]
    assert (region["original_width"], region["original_height"]) == (60, 40)
    v = region["value"]
    # pixels -> percent of the image: 5/60, 10/40, 20/60, 10/40
    assert (v["x"], v["y"], v["width"], v["height"]) == pytest.approx((100 * 5 / 60, 25.0, 100 * 20 / 60, 25.0))
    assert res["model_version"] == "image-v0"
    assert res["score"] == pytest.approx(region["score"])
    buf = io.BytesIO(b"not an image")
    (tmp_path / "bad.png").write_bytes(buf.getvalue())
    req["tasks"][0]["data"]["image"] = str(tmp_path / "bad.png")
    r = c.post("/predict", json=req)
    assert r.status_code == 422
    assert "not an image" in r.json()["error"]


MULTI_CONFIG = ('<View><Text name="text" value="$text"/><Choices name="topics" toName="text" choice="multiple">'
                '<Choice value="wet"/><Choice value="dry"/><Choice value="windy"/></Choices></View>')


def test_multilabel_choices_train_and_return_every_choice_above_threshold(tmp_path: Path) -> None:
    c = _client(tmp_path)
    data = [("rain today", ["wet"]), ("sunny today", ["dry"]), ("rain and wind", ["wet", "windy"]),
            ("sunny and wind", ["dry", "windy"]), ("wind only", ["windy"]), ("heavy rain", ["wet"]),
            ("bright sunny sky", ["dry"]), ("calm day", [])]
    for i, (text, labels) in enumerate(data):
        _annotate(c, 300 + i, text, [{"from_name": "topics", "to_name": "text", "type": "choices",
                                      "value": {"choices": labels}}], config=MULTI_CONFIG)
    body = copy.deepcopy(START_TRAINING)
    body["project"]["label_config"] = MULTI_CONFIG
    c.post("/webhook", json=body)
    req = {"tasks": [{"id": 1, "data": {"text": "rain and wind again"}}, {"id": 2, "data": {"text": "sunny"}}],
           "project": "3.1", "label_config": MULTI_CONFIG}
    first, second = c.post("/predict", json=req).json()["results"]
    assert first["model_version"] == "text-v1"
    assert set(first["result"][0]["value"]["choices"]) == {"wet", "windy"}  # two choices for one task
    assert second["result"][0]["value"]["choices"] == ["dry"]
    for r in (first, second):
        assert r["result"][0]["type"] == "choices"
        assert 0.0 <= r["score"] <= 1.0
    # a higher threshold returns fewer choices
    strict = TestClient(create_app(Settings(state_dir=tmp_path, fetch_annotations=False),
                                   backend=TextBackend(multilabel_threshold=0.95)), client=LOOPBACK)
    (res,) = strict.post("/predict", json={**req, "tasks": req["tasks"][:1]}).json()["results"]
    n_strict = len(res["result"][0]["value"]["choices"]) if res["result"] else 0
    assert n_strict < 2


KP_CONFIG = ('<View><Image name="image" value="$image"/><KeyPointLabels name="kp" toName="image">'
             '<Label value="top"/><Label value="left"/></KeyPointLabels>'
             '<PolygonLabels name="poly" toName="image"><Label value="blob"/></PolygonLabels></View>')


def test_image_backend_keypoints_and_polygons_in_label_studio_percent(tmp_path: Path) -> None:
    from PIL import Image

    img = np.full((40, 80, 3), 255, np.uint8)
    img[10:30, 20:60] = 0  # one dark 40 x 20 block: extreme points top (20.5, 10.5), left (20.5, 10.5)...
    Image.fromarray(img).save(tmp_path / "im.png")
    c = _client(tmp_path / "state", backend=ImageBackend(), allow_local_dirs=(tmp_path,))
    req = {"tasks": [{"id": 1, "data": {"image": str(tmp_path / "im.png")}}], "project": "5.1",
           "label_config": KP_CONFIG}
    (res,) = c.post("/predict", json=req).json()["results"]
    kps = [r for r in res["result"] if r["type"] == "keypointlabels"]
    # only the keypoints the control names ("top", "left"), one region each, in percent of 80 x 40
    assert sorted((r["value"]["keypointlabels"][0], r["value"]["x"], r["value"]["y"]) for r in kps) == [
        ("left", pytest.approx(100 * 20.5 / 80), pytest.approx(100 * 10.5 / 40)),
        ("top", pytest.approx(100 * 20.5 / 80), pytest.approx(100 * 10.5 / 40))]
    for r in kps:
        assert (r["from_name"], r["to_name"], r["original_width"], r["original_height"]) == ("kp", "image", 80, 40)
        assert set(r["value"]) == {"x", "y", "width", "keypointlabels"}
    (poly,) = [r for r in res["result"] if r["type"] == "polygonlabels"]
    assert poly["value"]["polygonlabels"] == ["blob"]
    xs = [p[0] for p in poly["value"]["points"]]
    ys = [p[1] for p in poly["value"]["points"]]
    # outline at pixel centres 20..59 x 10..29 -> percent of 80 x 40
    assert (min(xs), max(xs), min(ys), max(ys)) == pytest.approx((25.0, 100 * 59 / 80, 25.0, 100 * 29 / 40))
    assert len({r["id"] for r in res["result"]}) == len(res["result"])  # region ids unique in the task


def test_image_backend_from_model_name_and_params(tmp_path: Path) -> None:
    backend = make_backend("contours", {"kinds": "box", "min_area_px": "4"})
    assert isinstance(backend, ImageBackend)
    assert backend.name == "contours"
    c = _client(tmp_path, backend=backend)
    assert c.get("/health").json() == {"status": "UP", "model_class": "ImageBackend", "model": "contours"}
    assert c.post("/setup", json=SETUP).json() == {"model_version": "contours-v0"}
    with pytest.raises(AccordError, match="does not take these parameters"):
        make_backend("hog-person", {"colour": "red"})


@pytest.fixture
def ls_files() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A stand-in for Label Studio's file routes: /data/* needs 'Token legacy' or 'Bearer access-1',
    which /api/token/refresh/ gives for the personal access token 'pat-1'. Logs every request."""
    from PIL import Image

    buf = io.BytesIO()
    png = np.full((20, 40, 3), 255, np.uint8)
    png[5:15, 10:30] = 0
    Image.fromarray(png).save(buf, format="PNG")
    seen: list[dict[str, str]] = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
            if self.path.startswith("/data/") and seen[-1]["auth"] not in ("Token legacy", "Bearer access-1"):
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(buf.getvalue())

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
            ok = self.path == "/api/token/refresh/" and body.get("refresh") == "pat-1"
            self.send_response(200 if ok else 401)
            self.end_headers()
            self.wfile.write(json.dumps({"access": "access-1"} if ok else {"detail": "bad"}).encode())

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", seen
    srv.shutdown()
    srv.server_close()


def test_fetch_tokens_legacy_personal_access_and_other_origins(ls_files: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = ls_files
    assert files.fetch_bytes("/data/upload/1/a.png", hostname=url, access_token="legacy").startswith(b"\x89PNG")
    assert seen[-1] == {"path": "/data/upload/1/a.png", "auth": "Token legacy"}
    # a personal access token: 401 with 'Token', exchanged at /api/token/refresh/, retried as Bearer
    seen.clear()
    assert files.fetch_bytes("data/local-files/?d=x.png", hostname=url, access_token="pat-1").startswith(b"\x89PNG")
    assert [s["path"] for s in seen] == ["/data/local-files/?d=x.png", "/api/token/refresh/",
                                         "/data/local-files/?d=x.png"]
    assert seen[-1]["auth"] == "Bearer access-1"
    with pytest.raises(AccordError, match="HTTP 401"):
        files.fetch_bytes("/data/upload/1/a.png", hostname=url, access_token="wrong")
    # a full URL on Label Studio's origin gets the token; another origin (localhost != 127.0.0.1) never does
    seen.clear()
    files.fetch_bytes(url + "/data/upload/1/a.png", hostname=url, access_token="legacy")
    other = url.replace("127.0.0.1", "localhost")
    files.fetch_bytes(other + "/public/a.png", hostname=url, access_token="legacy", allow_remote_media=True,
                      allow_private_media=True)
    assert [s["auth"] for s in seen] == ["Token legacy", ""]


def test_predict_fetches_label_studio_files_with_the_setup_token_or_api_key(
        tmp_path: Path, ls_files: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = ls_files
    config = ('<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">'
              '<Label value="car"/></RectangleLabels></View>')
    req = {"tasks": [{"id": 1, "data": {"image": "/data/upload/5/a.png"}, "project": 5}], "project": "5.1",
           "label_config": config}
    c = _client(tmp_path / "a", backend=ImageBackend())
    r = c.post("/predict", json=req)  # no --label-studio-url: the backend does not know where Label Studio is
    assert r.status_code == 422
    assert "no Label Studio URL is configured" in r.json()["error"]
    # /setup's hostname is never trusted for requests (it could be anyone's): still no URL
    assert c.post("/setup", json={**SETUP, "project": "5.1", "hostname": url, "access_token": "legacy"}).status_code \
        == 200
    assert "no Label Studio URL is configured" in c.post("/predict", json=req).json()["error"]
    assert seen == []
    # with the URL configured, /setup's token is used (sent to that URL only)
    c = _client(tmp_path / "a", backend=ImageBackend(), label_studio_url=url)
    assert c.post("/setup", json={**SETUP, "project": "5.1", "hostname": url, "access_token": "legacy"}).status_code \
        == 200
    (res,) = c.post("/predict", json=req).json()["results"]
    assert res["result"][0]["value"]["rectanglelabels"] == ["car"]
    assert seen[-1] == {"path": "/data/upload/5/a.png", "auth": "Token legacy"}
    # LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY win over what /setup sent
    env = {"ACCORD_SERVE_STATE_DIR": str(tmp_path / "a"), "ACCORD_SERVE_MODEL": "image",
           "ACCORD_SERVE_FETCH_ANNOTATIONS": "0", "LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": "pat-1"}
    c2 = TestClient(create_app(settings_from_env(env)), raise_server_exceptions=False, client=LOOPBACK)
    (res,) = c2.post("/predict", json=req).json()["results"]
    assert res["result"][0]["value"]["rectanglelabels"] == ["car"]
    assert seen[-1] == {"path": "/data/upload/5/a.png", "auth": "Bearer access-1"}
    # a wrong token answers a clear error, not a traceback
    c3 = TestClient(create_app(settings_from_env({**env, "LABEL_STUDIO_API_KEY": "wrong"})),
                    raise_server_exceptions=False, client=LOOPBACK)
    r = c3.post("/predict", json=req)
    assert r.status_code == 422
    assert "HTTP 401" in r.json()["error"]
    assert "LABEL_STUDIO_API_KEY" in r.json()["error"]
    assert "Traceback" not in r.text


NLI_CONFIG = ('<View><Text name="premise" value="$premise"/><Text name="hypothesis" value="$hypothesis"/>'
              '<Choices name="label" toName="premise"><Choice value="entailment"/><Choice value="contradiction"/>'
              '</Choices></View>')


def test_choices_read_every_text_field_of_the_task() -> None:
    """Issue #15: a premise/hypothesis task was learned from the premise alone (what toName points at)."""
    from accord.ml_backends.label_studio.backends import TrainingTask, text_targets

    (target,) = text_targets(NLI_CONFIG)
    assert target.data_keys == ("premise", "hypothesis")
    premise = "A man plays a guitar on the street."
    pairs = [("A man makes music.", "entailment"), ("Someone plays an instrument.", "entailment"),
             ("A person is outdoors.", "entailment"), ("The man is asleep at home.", "contradiction"),
             ("Nobody is playing anything.", "contradiction"), ("A woman swims in a pool.", "contradiction")]
    tasks = [TrainingTask(task_id=str(i), data={"premise": premise, "hypothesis": h},
                          result=[{"from_name": "label", "to_name": "premise", "type": "choices",
                                   "value": {"choices": [lab]}}]) for i, (h, lab) in enumerate(pairs)]
    backend = TextBackend()
    model = backend.train(tasks, NLI_CONFIG)
    assert model is not None
    out = backend.predict(model, [{"data": {"premise": premise, "hypothesis": h}} for h, _ in pairs], NLI_CONFIG)
    # the premise is the same in every task: only the hypothesis can tell the classes apart
    assert [o[0][0]["value"]["choices"][0] for o in out if o] == [lab for _, lab in pairs]
    assert out[0] is not None
    assert out[0][0][0]["to_name"] == "premise"  # the region still names the control's own object


def test_security_settings_from_env() -> None:
    s = settings_from_env({"ACCORD_SERVE_TOKEN": "t" * 16, "ACCORD_SERVE_ALLOW_LOCAL_DIRS": f"/a{os.pathsep}/b",
                           "ACCORD_SERVE_ALLOW_REMOTE_MEDIA": "1", "ACCORD_SERVE_MAX_BODY_BYTES": "1000",
                           "ACCORD_SERVE_INSECURE_NO_AUTH": "yes", "LABEL_STUDIO_URL": "https://ls.example:8443/ls"})
    assert (s.auth_token, s.allow_local_dirs, s.allow_remote_media, s.allow_private_media, s.max_body_bytes,
            s.insecure_no_auth, s.label_studio_url) == \
        ("t" * 16, (Path("/a"), Path("/b")), True, False, 1000, True, "https://ls.example:8443/ls")
    with pytest.raises(AccordError, match="TOKEN must be at least 16 characters"):
        settings_from_env({"ACCORD_SERVE_TOKEN": "short"})
    with pytest.raises(AccordError, match="MAX_BODY_BYTES must be a positive int"):
        settings_from_env({"ACCORD_SERVE_MAX_BODY_BYTES": "lots"})
    with pytest.raises(AccordError, match="LABEL_STUDIO_URL must be Label Studio's base URL"):
        settings_from_env({"LABEL_STUDIO_URL": "file:///etc"})
