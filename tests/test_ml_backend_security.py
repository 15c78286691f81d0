"""Security of the Label Studio ML backend (issue #14): each finding reproduced, then refused.

Everything runs on loopback: a "thief" HTTP server stands for an attacker's listener, a
"Label Studio" one for the operator's Label Studio. Every test is bounded in time.

1. ``/setup``'s hostname never receives the API key; redirects to other hosts are not followed.
2. Task files: only Label Studio URLs, ``--allow-local-dir`` folders (regular files),
   ``--allow-remote-media`` hosts (public addresses); one message for every refusal.
3. Project ids ``..`` and planted pickles: never unpickled, nothing written outside the state dir.
4. One-request DoS: ``maxRating``, huge configs, 100 MB bodies; no exception text anywhere.

Plus an authorization matrix over every route, a hypothesis fuzz of every route of the
OpenAPI schema, and a load test of ``/health`` while hostile requests run.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import http.server
import io
import json
import os
import pickle
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.ml_backends.label_studio import files
from accord.ml_backends.label_studio.app import Settings, create_app
from accord.ml_backends.label_studio.backends import ImageBackend
from accord.ml_backends.label_studio.state import ProjectState

FIXTURES = Path("/work/shared/fixtures/label-studio-1.23")
if not FIXTURES.is_dir():
    FIXTURES = Path(__file__).parent / "fixtures" / "label-studio-1.23"
REQS = json.loads((FIXTURES / "backend_requests_from_ls.json").read_text())
SETUP, PREDICT, START_TRAINING, ANN_CREATED = (REQS[1]["body"], REQS[2]["body"], REQS[4]["body"], REQS[5]["body"])
LOOPBACK = ("127.0.0.1", 50000)
KEY = "secret-api-key-0123456789"
IMAGE_CONFIG = ('<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">'
                '<Label value="thing"/></RectangleLabels></View>')
#: What a Python exception or traceback looks like in a response body.
EXCEPTION_TEXT = re.compile(r"Traceback|File \"|\bErrno\b|[A-Z][a-zA-Z]+(Error|Exception):|object at 0x")


def _png(w: int = 40, h: int = 20) -> bytes:
    from PIL import Image

    img = np.full((h, w, 3), 255, np.uint8)
    img[5:15, 10:30] = 0
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


class _Recorder:
    """A loopback HTTP server that logs every request (path, Authorization) and answers by ``routes``."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]] | None = None,
                 delay_s: float = 0.0) -> None:
        self.seen: list[dict[str, str]] = []
        self.routes = routes or {}
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                rec.seen.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
                if delay_s:
                    time.sleep(delay_s)
                code, headers, body = next((v for k, v in rec.routes.items() if self.path.startswith(k)),
                                           (200, {}, _png()))
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *a: Any) -> None:
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def thief() -> Iterator[_Recorder]:
    r = _Recorder()
    yield r
    r.close()


@pytest.fixture
def label_studio() -> Iterator[_Recorder]:
    export = json.dumps([{"id": 9, "data": {"text": "from the export"},
                          "annotations": [{"result": [{"from_name": "sentiment", "to_name": "text",
                                                       "type": "choices", "value": {"choices": ["Positive"]}}]}]}])
    r = _Recorder({"/api/projects/": (200, {"Content-Type": "application/json"}, export.encode())})
    yield r
    r.close()


def _client(state_dir: Path, *, client: tuple[str, int] = LOOPBACK, **kw: Any) -> TestClient:
    backend = kw.pop("backend", None)
    return TestClient(create_app(Settings(state_dir=state_dir, **kw), backend=backend),
                      raise_server_exceptions=False, client=client)


def _predict_image(ref: Any, project: str = "5.1") -> dict[str, Any]:
    return {"tasks": [{"id": 1, "data": {"image": ref}}], "project": project, "label_config": IMAGE_CONFIG}


# -- 1. credential leak and SSRF through /setup -------------------------------------------------------

def test_setup_hostname_never_receives_the_key(tmp_path: Path, thief: _Recorder, label_studio: _Recorder) -> None:
    """Finding 1: /setup named the thief; training and image fetches went there with the key."""
    for configured in (None, label_studio.url):
        thief.seen.clear()
        c = _client(tmp_path / str(bool(configured)), label_studio_url=configured, api_key=KEY,
                    backend=ImageBackend())
        assert c.post("/setup", json={**SETUP, "hostname": thief.url, "access_token": "setup-token"}).status_code \
            == 200
        assert c.post("/webhook", json=START_TRAINING).status_code == 200  # training fetches the export
        r = c.post("/predict", json=_predict_image("/data/upload/3/a.png", "3.1"))
        # a full URL on the thief's origin is another host: off by default
        r2 = c.post("/predict", json=_predict_image(thief.url + "/data/upload/3/a.png", "3.1"))
        assert thief.seen == []
        assert r2.status_code == 422
        if configured is None:
            assert r.status_code == 422
            assert "no Label Studio URL is configured" in r.json()["error"]
            assert label_studio.seen == []
        else:
            assert r.status_code == 200
            assert {s["auth"] for s in label_studio.seen} == {f"Token {KEY}"}
            assert any(s["path"].startswith("/api/projects/3/export") for s in label_studio.seen)
        conn = json.loads((tmp_path / str(bool(configured)) / "3" / "connection.json").read_text())
        assert conn["hostname"] is None  # the thief's hostname is not even stored


def test_setup_token_is_sent_only_to_the_configured_url(tmp_path: Path, label_studio: _Recorder) -> None:
    c = _client(tmp_path, label_studio_url=label_studio.url, backend=ImageBackend())
    c.post("/setup", json={**SETUP, "project": "5.1", "hostname": label_studio.url, "access_token": "setup-token"})
    assert c.post("/predict", json=_predict_image("/data/upload/5/a.png")).status_code == 200
    assert label_studio.seen[-1] == {"path": "/data/upload/5/a.png", "auth": "Token setup-token"}


def test_redirects_to_other_hosts_are_not_followed_with_the_key(thief: _Recorder) -> None:
    ls = _Recorder({"/data/upload/": (302, {"Location": thief.url + "/stolen"}, b""),
                    "/data/same/": (302, {"Location": "/data/final.png"}, b"")})
    try:
        with pytest.raises(files.AccordError, match="not allowed"):
            files.fetch_bytes("/data/upload/1/a.png", hostname=ls.url, access_token=KEY)
        assert thief.seen == []
        # a redirect within Label Studio keeps the token
        assert files.fetch_bytes("/data/same/x", hostname=ls.url, access_token=KEY).startswith(b"\x89PNG")
        assert ls.seen[-1] == {"path": "/data/final.png", "auth": f"Token {KEY}"}
        # with --allow-remote-media (cloud storage presigned URLs) it is followed, without the key
        assert files.fetch_bytes("/data/upload/1/a.png", hostname=ls.url, access_token=KEY, allow_remote_media=True,
                                 allow_private_media=True).startswith(b"\x89PNG")
        assert thief.seen == [{"path": "/stolen", "auth": ""}]
        # ... and a redirect to a private address is refused unless allowed
        thief.seen.clear()
        with pytest.raises(files.AccordError, match="not allowed"):
            files.fetch_bytes("/data/upload/1/a.png", hostname=ls.url, access_token=KEY, allow_remote_media=True)
        assert thief.seen == []
    finally:
        ls.close()


# -- 2. arbitrary local file read and URL fetch from task data ---------------------------------------

@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    allowed = tmp_path / "media"
    allowed.mkdir()
    (allowed / "ok.png").write_bytes(_png())
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.png").write_bytes(_png())
    os.mkfifo(allowed / "fifo.png")
    (allowed / "link.png").symlink_to(private / "secret.png")
    (allowed / "dir.png").mkdir()
    return {"allowed": allowed, "private": private}


def test_task_files_outside_the_policy_are_refused_with_one_message(tmp_path: Path, media: dict[str, Path],
                                                                     thief: _Recorder) -> None:
    """Finding 2: /etc/shadow, a private PNG, file://, ../../, a FIFO, /dev/zero, loopback URLs."""
    allowed, private = media["allowed"], media["private"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    refs = ["/etc/shadow", "/etc/passwd", str(private / "secret.png"), (private / "secret.png").as_uri(),
            "file:///etc/passwd", f"{allowed}/../../../../etc/passwd", f"{allowed}/../private/secret.png",
            str(allowed / "fifo.png"), str(allowed / "link.png"), str(allowed / "dir.png"),
            str(allowed / "missing.png"), "/dev/zero", "/proc/self/environ", "file://otherhost/etc/passwd",
            thief.url + "/x.png", f"http://127.0.0.1:{closed_port}/x.png", f"http://localhost:{closed_port}/",
            "http://[::1]:1/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x.png",
            "gopher://127.0.0.1:25/", "ftp://127.0.0.1/x", "relative/../../etc/passwd"]
    c = _client(tmp_path / "state", backend=ImageBackend(), allow_local_dirs=(allowed,))
    messages = set()
    for ref in refs:
        t0 = time.monotonic()
        r = c.post("/predict", json=_predict_image(ref))
        assert time.monotonic() - t0 < 5, ref  # a FIFO does not block, /dev/zero is not read
        assert r.status_code == 422, (ref, r.text)
        messages.add(r.json()["error"])
    # identical answers: nothing tells which file exists or which port is open
    assert messages == {files.NOT_ALLOWED}
    assert thief.seen == []
    # the allowed file works
    (res,) = c.post("/predict", json=_predict_image(str(allowed / "ok.png"))).json()["results"]
    assert res["result"][0]["value"]["rectanglelabels"] == ["thing"]


def test_devices_and_fifos_are_refused_even_inside_an_allowed_dir(tmp_path: Path, media: dict[str, Path]) -> None:
    t0 = time.monotonic()
    for ref in ("/dev/zero", "/dev/urandom", str(media["allowed"] / "fifo.png")):
        with pytest.raises(files.AccordError, match="not allowed"):
            files.fetch_bytes(ref, allow_local_dirs=[Path("/dev"), media["allowed"]])
    assert time.monotonic() - t0 < 2


def test_reads_are_size_capped_and_time_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(files.AccordError, match="not allowed"):
        files.fetch_bytes(str(big), allow_local_dirs=[tmp_path], max_bytes=1024)
    assert files.fetch_bytes(str(big), allow_local_dirs=[tmp_path], max_bytes=4096) == b"x" * 2048
    slow = _Recorder(delay_s=3.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(files.AccordError, match="not allowed"):
            files.fetch_bytes(slow.url + "/a.png", allow_remote_media=True, allow_private_media=True, timeout_s=0.5)
        assert time.monotonic() - t0 < 2.5
    finally:
        slow.close()
    huge = _Recorder({"/": (200, {}, b"y" * 5000)})
    try:
        with pytest.raises(files.AccordError, match="not allowed"):
            files.fetch_bytes(huge.url + "/a", allow_remote_media=True, allow_private_media=True, max_bytes=1000)
    finally:
        huge.close()


def test_remote_media_only_when_allowed_and_public(thief: _Recorder) -> None:
    with pytest.raises(files.AccordError, match="not allowed"):
        files.fetch_bytes(thief.url + "/a.png")
    with pytest.raises(files.AccordError, match="not allowed"):  # loopback: refused without --allow-private-media
        files.fetch_bytes(thief.url + "/a.png", allow_remote_media=True)
    assert thief.seen == []
    assert files.fetch_bytes(thief.url + "/a.png", allow_remote_media=True, allow_private_media=True,
                             hostname="http://ls.invalid", access_token=KEY).startswith(b"\x89PNG")
    assert thief.seen == [{"path": "/a.png", "auth": ""}]  # never the key
    for ip in ("127.0.0.1", "::1", "::ffff:10.0.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1"):
        assert not files._is_public(ip), ip
    assert files._is_public("93.184.216.34")


# -- 3. path traversal to code execution ---------------------------------------------------------------

class _Payload:
    """Benign: unpickling it creates a marker folder (os.mkdir), proving code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.mkdir, (str(self.marker),))


def _plant(folder: Path, marker: Path, version: str = "text-v1") -> None:
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "state.json").write_text(json.dumps({"model_version": version, "counter": 1, "versions": [
        {"model_version": version, "trained_at": 0.0, "n_examples": 1}]}))
    (folder / "models" / f"{version}.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    # a .npz with an object array is a pickle too
    np.save(folder / "models" / f"{version}.npz", np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    os.replace(folder / "models" / f"{version}.npz.npy", folder / "models" / f"{version}.npz")


def test_project_id_dotdot_and_planted_pickles_never_run(tmp_path: Path) -> None:
    """Finding 3: project '..' read <parent>/state.json and unpickled <parent>/models/*.pkl."""
    marker = tmp_path / "PWNED"
    state = tmp_path / "state"
    state.mkdir()
    _plant(tmp_path, marker)  # <state>/.. = tmp_path
    _plant(state / "3", marker)  # an old-format (pickle) model of a real project
    outside = tmp_path / "outside"
    _plant(outside, marker)
    (state / "4").symlink_to(outside)  # a link out of the state dir
    c = _client(state)
    before = sorted(p.name for p in tmp_path.iterdir())
    bodies = [("/predict", {**PREDICT, "project": None, "tasks": [{"id": 1, "data": {"text": "x"},
                                                                   "project": {"id": ".."}}]}),
              ("/predict", {**PREDICT, "project": "..", "tasks": [{"id": 1, "data": {"text": "x"}, "project": ".."}]}),
              ("/predict", {**PREDICT, "project": "3.1"}), ("/predict", {**PREDICT, "project": "4.1"}),
              ("/setup", {**SETUP, "project": {"id": ".."}}), ("/setup", {**SETUP, "project": "../../x"}),
              ("/webhook", {**START_TRAINING, "project": {"id": ".."}}),
              ("/webhook", {**ANN_CREATED, "project": {"id": "../outside"}}),
              ("/webhook", {**ANN_CREATED, "task": {"id": "../../../escaped", "data": {}}}),
              ("/webhook", {**ANN_CREATED, "project": {"id": 4}})]
    for route, body in bodies:
        r = c.post(route, json=body)
        assert r.status_code in (200, 422), (route, body, r.text)
        assert not EXCEPTION_TEXT.search(r.text), r.text
    for q in ("..", "../..", "4", "3"):
        assert c.get("/versions", params={"project": q}).status_code in (200, 422)
    assert not marker.exists()  # no pickle was ever loaded
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written beside the state dir
    assert not list(outside.rglob("annotations"))
    assert c.post("/predict", json={**PREDICT, "project": "3.1"}).json() == {"results": []}  # cold, not crashed
    assert c.post("/predict", json={**PREDICT, "project": "4.1"}).status_code == 422  # the link is refused


def test_models_are_saved_without_pickle(tmp_path: Path) -> None:
    c = _client(tmp_path, fetch_annotations=False)
    for i, (t, lab) in enumerate([("good one", "Positive"), ("great day", "Positive"), ("bad one", "Negative"),
                                  ("awful day", "Negative")]):
        body = copy.deepcopy(ANN_CREATED)
        body["task"] = {"id": 100 + i, "data": {"text": t}}
        body["annotation"]["result"] = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                                         "value": {"choices": [lab]}}]
        assert c.post("/webhook", json=body).status_code == 200
    assert c.post("/webhook", json=START_TRAINING).json()["status"] == "training"
    saved = list((tmp_path / "3" / "models").iterdir())
    assert [p.suffix for p in saved] == [".npz"]
    with np.load(saved[0], allow_pickle=False) as z:  # loads without pickle: no object arrays inside
        assert all(z[k].dtype != object for k in z.files)
    (res,) = c.post("/predict", json={**PREDICT, "tasks": PREDICT["tasks"][:1]}).json()["results"]
    assert res["model_version"] == "text-v1"
    # a fresh worker (no cache) rebuilds the same model from the file
    (res2,) = _client(tmp_path, fetch_annotations=False).post(
        "/predict", json={**PREDICT, "tasks": PREDICT["tasks"][:1]}).json()["results"]
    assert res2 == res


def test_state_paths_stay_inside_the_state_dir(tmp_path: Path) -> None:
    for bad in ("..", ".", "../x", "3/..", "3.1", "", "a" * 13, "1" * 13, "-1", "3\x00"):
        with pytest.raises(files.AccordError, match="not a Label Studio project id"):
            ProjectState(tmp_path, bad)
    st = ProjectState(tmp_path, 3)
    for bad in ("../../x", "1.json", "..", "x"):
        with pytest.raises(files.AccordError, match="task id"):
            st.put_annotation(bad, {})
    with pytest.raises(files.AccordError, match="not a plain name"):
        st.load_model("../../text-v1")


# -- 4. one-request DoS and exception text ------------------------------------------------------------------

def _rating(max_rating: str) -> str:
    return f'<View><Text name="text" value="$text"/><Rating name="r" toName="text" maxRating="{max_rating}"/></View>'


@pytest.mark.parametrize(("config", "message"), [
    (_rating("30000000"), "maxRating='30000000'; expected a whole number from 1 to 100"),
    (_rating("five"), "maxRating='five'; expected a finite number"),
    (_rating("1e400"), "maxRating='1e400'; expected a finite number"),
    ('<View><Text name="t" value="$t"/><Number name="n" toName="t" max="inf"/></View>', "max='inf'"),
    ('<!DOCTYPE v [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><View>&b;</View>',
     "<!DOCTYPE>"),
    ("<View>" + "x" * 2_100_000 + "</View>", "more than the limit of 2000000"),
    ("<View><Text", "not valid XML (line 1, column "),
    ('<View><Text name="t" value="$t"/><Choices name="c" toName="t">'
     + "".join(f'<Choice value="{i}"/>' for i in range(60_000)) + "</Choices></View>", "more than 50000 labels"),
])
def test_hostile_configs_answer_422_fast(tmp_path: Path, config: str, message: str) -> None:
    """Finding 4: maxRating="30000000" took 23 s and 3.7 GB; configs are bounded and linear now."""
    c = _client(tmp_path, max_body_bytes=4_000_000)
    t0 = time.monotonic()
    r = c.post("/predict", json={**PREDICT, "label_config": config})
    assert time.monotonic() - t0 < 3
    assert r.status_code == 422
    assert message in r.json()["error"]


def test_forty_thousand_choices_parse_in_linear_time(tmp_path: Path) -> None:
    config = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
              + "".join(f'<Choice value="c{i}"/>' for i in range(40_000)) + "</Choices></View>")
    c = _client(tmp_path, max_body_bytes=4_000_000)
    t0 = time.monotonic()
    assert c.post("/predict", json={**PREDICT, "label_config": config}).status_code == 200
    assert time.monotonic() - t0 < 3  # was ~20 s (quadratic de-duplication)


@contextlib.contextmanager
def _uvicorn(app: Any) -> Iterator[tuple[str, int]]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(10)


def _raw_post(addr: tuple[str, int], headers: str, body_chunks: Iterator[bytes], limit_s: float = 10) -> tuple[
        bytes, int]:
    """Send a request; stop sending as soon as the server answers. (answer, bytes of body sent)."""
    sent = 0
    answer = b""
    with socket.create_connection(addr, timeout=limit_s) as s:
        s.sendall(headers.encode())
        deadline = time.monotonic() + limit_s
        for chunk in body_chunks:
            if select.select([s], [], [], 0)[0]:
                break
            try:
                s.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
            if time.monotonic() > deadline:
                break
        s.settimeout(5)
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in answer or len(answer) < 100:
                part = s.recv(65536)
                if not part:
                    break
                answer += part
    return answer, sent


def test_a_100_mb_body_is_answered_413_without_reading_it(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path, max_body_bytes=1_000_000))
    mib = b"x" * (1 << 20)
    with _uvicorn(app) as addr:
        # declared: refused from the header, before any of the body is read
        head = (f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {100 << 20}\r\n\r\n")
        t0 = time.monotonic()
        answer, _ = _raw_post(addr, head, iter(()))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert time.monotonic() - t0 < 3
        assert b'"error"' in answer
        # chunked: refused once the bytes received pass the limit, long before 100 MB
        head = ("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n")
        chunks = (f"{len(mib):x}\r\n".encode() + mib + b"\r\n" for _ in range(100))
        answer, sent = _raw_post(addr, head, chunks)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 50 << 20


def test_no_response_carries_exception_text(tmp_path: Path) -> None:
    c = _client(tmp_path, backend=ImageBackend())
    bodies: list[tuple[str, Any]] = [
        ("/predict", _predict_image(12345)), ("/predict", _predict_image("")),
        ("/predict", _predict_image(["/etc/passwd"])), ("/predict", {"tasks": "nope"}),
        ("/predict", {"tasks": [1, 2]}), ("/setup", {"project": {"id": {"x": 1}}}), ("/setup", [1, 2]),
        ("/webhook", {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "task": {"id": {"a": 1}}}),
        ("/webhook", {"action": "START_TRAINING", "project": {"id": 3, "label_config": 7}}),
    ]
    for route, body in bodies:
        r = c.post(route, json=body)
        assert r.status_code in (200, 422), (route, body, r.status_code, r.text)
        assert not EXCEPTION_TEXT.search(r.text), r.text
        assert r.headers["content-type"].startswith("application/json")


# -- authorization matrix -----------------------------------------------------------------------------------

ROUTES: list[tuple[str, str, Any]] = [("GET", "/health", None), ("POST", "/setup", SETUP),
                                      ("POST", "/predict", PREDICT), ("POST", "/webhook", START_TRAINING),
                                      ("GET", "/versions", None), ("GET", "/metrics", None), ("GET", "/nope", None)]
TOKEN = "tok-0123456789abcdef"


def _basic(user: str, pw: str, scheme: str = "Basic") -> dict[str, str]:
    return {"Authorization": f"{scheme} " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


CREDENTIALS: list[tuple[str, dict[str, str], bool]] = [
    ("none", {}, False), ("basic", _basic("ls", "s3cret"), True), ("basic lower case", _basic("ls", "s3cret", "basic"),
                                                                  True),
    ("BASIC", _basic("ls", "s3cret", "BASIC"), True), ("wrong password", _basic("ls", "nope"), False),
    ("wrong user", _basic("admin", "s3cret"), False), ("password prefix", _basic("ls", "s3cre"), False),
    ("bearer", {"Authorization": f"Bearer {TOKEN}"}, True), ("token", {"Authorization": f"Token {TOKEN}"}, True),
    ("wrong bearer", {"Authorization": f"Bearer {TOKEN}x"}, False), ("bad base64", {"Authorization": "Basic %%%"},
                                                                    False),
    ("token as basic", {"Authorization": f"Basic {TOKEN}"}, False), ("empty", {"Authorization": ""}, False),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[r[1] for r in ROUTES])
def test_authorization_matrix(tmp_path: Path, method: str, path: str, body: Any) -> None:
    c = _client(tmp_path, basic_auth=("ls", "s3cret"), auth_token=TOKEN, fetch_annotations=False,
                client=("203.0.113.7", 4000))
    for name, headers, good in CREDENTIALS:
        r = c.request(method, path, json=body, headers=headers)
        if path == "/health":
            assert r.status_code == 200, name  # Label Studio polls it without credentials
        elif good:
            assert r.status_code == (404 if path == "/nope" else 200), (name, r.text)
        else:
            assert r.status_code == 401, name
            assert r.headers["www-authenticate"].startswith("Basic")
            assert r.json()["status"] == "error"


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[r[1] for r in ROUTES])
def test_without_auth_only_loopback_clients_are_served(tmp_path: Path, method: str, path: str, body: Any) -> None:
    remote = _client(tmp_path, fetch_annotations=False, client=("203.0.113.7", 4000))
    local = _client(tmp_path, fetch_annotations=False)
    opened = _client(tmp_path, fetch_annotations=False, insecure_no_auth=True, client=("203.0.113.7", 4000))
    ok = 404 if path == "/nope" else 200
    r = remote.request(method, path, json=body)
    assert r.status_code == (200 if path == "/health" else 403)
    if path != "/health":
        assert "--basic-auth" in r.json()["error"]
    assert local.request(method, path, json=body).status_code == ok
    assert opened.request(method, path, json=body).status_code == ok


# -- fuzz every route of the OpenAPI schema -------------------------------------------------------------------

HOSTILE_STRINGS = ["..", "../..", "/etc/passwd", "file:///etc/passwd", "/dev/zero", "http://127.0.0.1:1/",
                   "/data/upload/1/a.png", "3.1795803744", "3", "-1", "1e400", "NaN", "\x00", "%00", "$text",
                   _rating("30000000"), _rating("five"), "<View><Text", "<!DOCTYPE x>", IMAGE_CONFIG,
                   PREDICT["label_config"], "START_TRAINING", "ANNOTATION_CREATED", "ANNOTATION_DELETED"]
_KEYS = ["id", "data", "text", "image", "project", "result", "label_config", "from_name", "to_name", "type",
         "value", "choices", "start", "end", "labels", "annotations", "was_cancelled", "context", "task"]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
                     st.sampled_from(HOSTILE_STRINGS))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.text(max_size=8)), inner,
                                                 max_size=5)), max_leaves=20)


def _from_schema(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A hypothesis strategy for an OpenAPI (JSON Schema) fragment: valid shapes plus hostile values."""
    if "$ref" in schema:
        return _from_schema(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "anyOf" in schema:
        return st.one_of([_from_schema(s, components) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        if not props:
            return st.dictionaries(st.sampled_from(_KEYS), _json, max_size=5)
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: _from_schema(v, components) for k, v in props.items() if k in required},
            optional={k: _from_schema(v, components) for k, v in props.items() if k not in required})
    if kind == "array":
        return st.lists(_from_schema(schema.get("items", {}), components), max_size=3)
    if kind == "string":
        return st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE_STRINGS))
    if kind == "integer":
        return st.integers(-2**40, 2**40)
    if kind == "null":
        return st.none()
    return _json


def _fuzz_cases() -> list[tuple[str, str, st.SearchStrategy[Any]]]:
    app = create_app(Settings(state_dir=Path("unused")))
    spec = app.openapi()
    comps = spec["components"]["schemas"]
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if schema is not None:  # a schema-shaped body, or any JSON at all
                out.append((method.upper(), path, st.one_of(_from_schema(schema, comps), _json)))
            else:
                params = {p["name"]: st.one_of(st.none(), st.sampled_from(HOSTILE_STRINGS), st.text(max_size=20))
                          for p in op.get("parameters", [])}
                out.append((method.upper(), path, st.fixed_dictionaries(params)))
    return out


FUZZ = _fuzz_cases()


def test_the_fuzz_covers_every_route() -> None:
    assert {p for _, p, _ in FUZZ} == {"/health", "/setup", "/predict", "/webhook", "/versions", "/metrics"}


@pytest.mark.parametrize(("method", "path", "strategy"), FUZZ, ids=[f"{m} {p}" for m, p, _ in FUZZ])
def test_fuzz_every_route_no_500_no_exception_text(tmp_path: Path, method: str, path: str,
                                                   strategy: st.SearchStrategy[Any]) -> None:
    marker = tmp_path / "PWNED"
    _plant(tmp_path, marker)
    clients = [_client(tmp_path / "state", fetch_annotations=False),
               _client(tmp_path / "state", backend=ImageBackend(), allow_local_dirs=(tmp_path / "state",))]

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=strategy, which=st.integers(0, 1))
    def run(data: Any, which: int) -> None:
        c = clients[which]
        if method == "GET":
            r = c.get(path, params={k: v for k, v in data.items() if v is not None})
        else:
            r = c.request(method, path, json=data)
        assert r.status_code < 500, (data, r.status_code, r.text)
        assert not EXCEPTION_TEXT.search(r.text), (data, r.text)

    run()
    assert not marker.exists()


# -- load: /health stays fast while hostile requests run ------------------------------------------------------

_PROBE = """
import json, sys, time, urllib.request
url, seconds = sys.argv[1], float(sys.argv[2])
out, end = [], time.monotonic() + seconds
while time.monotonic() < end:
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=5) as r:
        assert json.loads(r.read())["status"] == "UP"
    out.append(time.monotonic() - t0)
    time.sleep(0.05)
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.integration
def test_health_answers_under_a_second_while_hostile_requests_run(tmp_path: Path, media: dict[str, Path]) -> None:
    """A real server process (``accord serve``); 20 client threads send the requests of findings 2 and 4."""
    import signal
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    slow = _Recorder(delay_s=2.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "accord", "-q", "serve", "label-studio", "--model", "contours",
                             "--port", str(port), "--state-dir", str(tmp_path / "state"), "--log-level", "error",
                             "--allow-local-dir", str(media["allowed"]), "--allow-remote-media",
                             "--allow-private-media"],
                            env={**os.environ, "ACCORD_SERVE_MEDIA_TIMEOUT_S": "3"}, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    hostile = [_predict_image(str(media["allowed"] / "fifo.png")), _predict_image("/dev/zero"),
               _predict_image(slow.url + "/slow.png"), {**PREDICT, "label_config": _rating("30000000")},
               {**PREDICT, "label_config": '<View><Image name="t" value="$image"/><Choices name="c" toName="t">'
                + "".join(f'<Choice value="c{i}"/>' for i in range(40_000)) + "</Choices></View>"},
               _predict_image(str(media["allowed"] / "ok.png"))]
    stop = threading.Event()
    done = {"n": 0, "500": 0}

    def attack(body: Any) -> None:
        data = json.dumps(body).encode()
        while not stop.is_set():
            req = urllib.request.Request(base + "/predict", data=data, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=20) as r:
                    r.read()
            except urllib.error.HTTPError as e:
                done["500"] += e.code >= 500 and e.code != 503
            except OSError:
                pass
            done["n"] += 1

    threads = [threading.Thread(target=attack, args=(b,), daemon=True) for b in hostile for _ in range(3)]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    r.read()
                break
            except OSError:
                assert proc.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        for t in threads:
            t.start()
        time.sleep(0.5)
        # measured from another process, so the attackers' threads here do not slow the measurement down
        probe = subprocess.run([sys.executable, "-c", _PROBE, base + "/health", "5"], capture_output=True, timeout=60,
                               check=True)
        latencies = json.loads(probe.stdout)
    finally:
        stop.set()
        for t in threads:
            t.join(25)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        slow.close()
    assert done["n"] >= len(hostile)  # the hostile requests did run (and finished)
    assert done["500"] == 0
    lat = sorted(latencies)
    print(f"/health under load: {len(lat)} calls, median {lat[len(lat) // 2] * 1e3:.1f} ms, "  # noqa: T201
          f"max {lat[-1] * 1e3:.1f} ms; {done['n']} hostile requests")
    assert lat[-1] < 1.0, f"/health max {lat[-1]:.3f} s over {len(lat)} calls"


def test_deeply_nested_and_broken_json_answers_a_json_error(tmp_path: Path) -> None:
    c = _client(tmp_path)
    for body in (b"[" * 200_000, b'{"tasks": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"\xff\xfe{", b""):
        t0 = time.monotonic()
        r = c.post("/predict", content=body, headers={"content-type": "application/json"})
        assert time.monotonic() - t0 < 3
        assert r.status_code in (400, 422), r.text
        assert r.json()["status"] == "error"
        assert not EXCEPTION_TEXT.search(r.text)
    assert c.get("/nope").json() == {"status": "error", "error": "Not Found"}
