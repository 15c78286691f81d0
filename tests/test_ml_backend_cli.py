"""``accord serve label-studio``: argument checks, and a real multi-worker server on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from accord.cli import build_parser, main
from accord.cmd_serve import server_env

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


@pytest.mark.parametrize(("argv", "message"), [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--basic-auth", "nocolon"], "--basic-auth must be USER:PASSWORD"),
    (["--port", "70000"], "--port must be in 1..65535"),
    (["--model", "yolo"], "unknown model 'yolo'"),
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


@pytest.mark.integration
@pytest.mark.slow
def test_two_workers_all_serve_a_retrain(tmp_path: Path) -> None:
    reqs = json.loads((FIXTURES / "backend_requests_from_ls.json").read_text())
    predict, start_training, ann = reqs[2]["body"], reqs[4]["body"], reqs[5]["body"]
    port = _free_port()
    env = {**os.environ, "ACCORD_SERVE_FETCH_ANNOTATIONS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "accord", "-q", "serve", "label-studio", "--port", str(port),
                             "--workers", "2", "--state-dir", str(tmp_path), "--log-level", "warning"],
                            env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                assert _call(base + "/health")["status"] == "UP"
                break
            except OSError:
                assert proc.poll() is None, "server exited"
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
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
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
