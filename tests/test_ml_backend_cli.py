"""``accord serve label-studio``: argument checks, and a real multi-worker server on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from accord.cli import build_parser, main
from accord.cmd_serve import gunicorn_options, parse_params, server_env

FIXTURES = Path("/work/shared/fixtures/label-studio-1.23")
if not FIXTURES.is_dir():
    FIXTURES = Path(__file__).parent / "fixtures" / "label-studio-1.23"


def test_serve_parser_and_env() -> None:
    args = build_parser().parse_args(["serve", "label-studio", "--workers", "3", "--basic-auth", "u:p",
                                      "--state-dir", "/tmp/x", "--label-studio-url", "http://ls:8080"])
    env = server_env(args)
    assert env["ACCORD_SERVE_BASIC_AUTH"] == "u:p"
    assert env["ACCORD_SERVE_STATE_DIR"] == "/tmp/x"
    assert env["LABEL_STUDIO_URL"] == "http://ls:8080"
    assert (args.host, args.port, args.model) == ("127.0.0.1", 9090, "text")
    assert json.loads(env["ACCORD_SERVE_MODEL_PARAMS"]) == {}


def test_model_params_and_gunicorn_options(tmp_path: Path) -> None:
    model = tmp_path / "det.onnx"
    model.write_bytes(b"x")
    args = build_parser().parse_args(["serve", "label-studio", "--model", "onnx", "-p", f"onnx_path={model.name}",
                                      "-p", "labels=a,b", "--param", "conf_threshold=0.3", "--workers", "2"])
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        env = server_env(args)
    finally:
        os.chdir(cwd)
    # a relative model path is made absolute: a worker may start elsewhere
    assert json.loads(env["ACCORD_SERVE_MODEL_PARAMS"]) == {"onnx_path": str(model.resolve()), "labels": "a,b",
                                                            "conf_threshold": "0.3"}
    assert parse_params(["k=v=w", "k2="]) == {"k": "v=w", "k2": ""}
    opts = gunicorn_options(args)
    assert (opts["workers"], opts["bind"], opts["preload_app"]) == (2, "127.0.0.1:9090", False)
    assert opts["worker_class"].__name__ == "UvicornWorker"


@pytest.mark.parametrize(("argv", "message"), [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--basic-auth", "nocolon"], "--basic-auth must be USER:PASSWORD"),
    (["--port", "70000"], "--port must be in 1..65535"),
    (["--model", "yolo"], "unknown model 'yolo'"),
    (["-p", "novalue"], "-p/--param takes KEY=VALUE"),
    (["--model", "onnx"], "needs onnx_path="),
    (["--model", "onnx", "-p", "onnx_path=/no/such.onnx"], "not found"),
    (["--host", "0.0.0.0"], "no auth is set"),
    (["--host", "192.0.2.1", "--auth-token", "short"], "--auth-token must be at least 16 characters"),
    (["--label-studio-url", "ftp://ls"], "--label-studio-url must be Label Studio's base URL"),
    (["--allow-local-dir", "/no/such/dir"], "is not a folder"),
    (["--max-body-bytes", "0"], "--max-body-bytes must be positive"),
])
def test_serve_usage_errors_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path) -> None:
    before = dict(os.environ)
    assert main(["serve", "label-studio", "--state-dir", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err
    assert dict(os.environ) == before  # a refused start leaves the environment alone


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _start(tmp_path: Path, *argv: str) -> tuple[subprocess.Popen[bytes], str]:
    """``accord serve label-studio ARGV`` on a free port, once /health answers."""
    port = _free_port()
    env = {**os.environ, "ACCORD_SERVE_FETCH_ANNOTATIONS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "accord", "-q", "serve", "label-studio", "--port", str(port),
                             "--state-dir", str(tmp_path / "state"), "--log-level", "warning", *argv],
                            env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            assert _call(base + "/health")["status"] == "UP"
            return proc, base
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGTERM)
                raise AssertionError("the server did not start") from None
            time.sleep(0.3)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


@pytest.mark.integration
@pytest.mark.slow
def test_two_gunicorn_workers_all_serve_a_retrain(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    reqs = json.loads((FIXTURES / "backend_requests_from_ls.json").read_text())
    predict, start_training, ann = reqs[2]["body"], reqs[4]["body"], reqs[5]["body"]
    proc, base = _start(tmp_path, "--workers", "2")
    try:
        # gunicorn's arbiter is our process; its two workers are forks of it (same command line)
        deadline = time.monotonic() + 30
        while len(workers := [w for w in _children(proc.pid) if Path(f"/proc/{w}/cmdline").read_bytes()
                              == Path(f"/proc/{proc.pid}/cmdline").read_bytes()]) < 2:
            assert time.monotonic() < deadline, f"expected 2 gunicorn workers, found {workers}"
            time.sleep(0.2)
        assert len(workers) == 2
        assert _call(base + "/predict", predict) == {"results": []}  # cold, in whichever worker answers
        for i, (text, label) in enumerate([("good one", "Positive"), ("bad one", "Negative")]):
            body = copy.deepcopy(ann)
            body["task"]["id"], body["task"]["data"] = 50 + i, {"text": text}
            body["annotation"]["result"][0]["value"]["choices"] = [label]
            _call(base + "/webhook", body)
        _call(base + "/webhook", start_training)
        deadline = time.monotonic() + 60
        while "text-v1" not in _call(base + "/versions")["versions"]:
            assert time.monotonic() < deadline, "training never finished"
            time.sleep(0.2)
        # many requests land on both workers; every one carries the new version
        versions = {r["model_version"] for _ in range(12) for r in _call(base + "/predict", predict)["results"]}
        assert versions == {"text-v1"}
        metrics = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
        assert "accord_requests_total" in metrics
        pid = int(metrics.split('pid="', 1)[1].split('"', 1)[0])
        assert pid in workers  # answered by a worker, not by the arbiter
    finally:
        _stop(proc)


@pytest.mark.integration
@pytest.mark.slow
def test_uvicorn_process_manager_serves_image_predictions(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    img = np.full((40, 60, 3), 255, np.uint8)
    img[10:20, 5:25] = 0
    Image.fromarray(img).save(tmp_path / "im.png")
    config = ('<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">'
              '<Label value="thing"/></RectangleLabels></View>')
    proc, base = _start(tmp_path, "--workers", "2", "--server", "uvicorn", "--model", "contours",
                        "-p", "kinds=box", "--allow-local-dir", str(tmp_path))
    try:
        assert _call(base + "/health") == {"status": "UP", "model_class": "ImageBackend", "model": "contours"}
        out = _call(base + "/predict", {"tasks": [{"id": 1, "data": {"image": str(tmp_path / "im.png")}}],
                                        "project": "2.1", "label_config": config})
        ((region,),) = [r["result"] for r in out["results"]]
        assert region["value"]["rectanglelabels"] == ["thing"]
        assert (region["value"]["x"], region["value"]["width"]) == pytest.approx((100 * 5 / 60, 100 * 20 / 60))
        assert out["results"][0]["model_version"] == "contours-v0"
    finally:
        _stop(proc)


@pytest.mark.integration
@pytest.mark.slow
def test_two_gunicorn_servers_of_one_user_do_not_share_a_control_socket(tmp_path: Path) -> None:
    """Issue #15: gunicorn >= 25.1 puts one control socket per user ($XDG_RUNTIME_DIR/gunicorn.ctl)."""
    pytest.importorskip("gunicorn")
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    old = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(xdg)
    try:
        a, base_a = _start(tmp_path / "a", "--workers", "2")
        try:
            b, base_b = _start(tmp_path / "b", "--workers", "2")
            try:
                assert _call(base_a + "/health")["status"] == "UP"
                assert _call(base_b + "/health")["status"] == "UP"
                assert not (xdg / "gunicorn.ctl").exists()  # each arbiter has its own, elsewhere
                # the arbiter binds its control socket shortly after the workers answer: wait for both
                deadline = time.monotonic() + 20
                while True:
                    ctl = list(Path(tempfile.gettempdir()).glob("accord-gunicorn-*/gunicorn.ctl"))
                    if len(ctl) >= 2 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert len(ctl) >= 2
            finally:
                _stop(b)
        finally:
            _stop(a)
    finally:
        if old is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = old
