"""End to end with a real Label Studio 1.23: connect, predict, annotate, train, predict better.

Label Studio runs from its own venv (tests/ls_server.py); our backend runs under uvicorn in a
thread on another free 127.0.0.1 port. Label Studio calls /health, /setup, /predict and /webhook
itself; the test only uses its public API (label-studio-sdk).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accord.ml_backends.label_studio.app import Settings, create_app

sys.path.insert(0, str(Path(__file__).parent))
import ls_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive"/><Choice value="Negative"/>
  </Choices>
</View>"""

# v1 learns from two words only; v2 also sees the words the held-out tasks use.
ROUND1 = [("good", "Positive"), ("bad", "Negative")]
ROUND2 = [("excellent wonderful", "Positive"), ("superb brilliant", "Positive"), ("wonderful superb", "Positive"),
          ("terrible awful", "Negative"), ("dreadful horrible", "Negative"), ("awful dreadful", "Negative")]
HELD_OUT = [("excellent superb", "Positive"), ("brilliant wonderful", "Positive"),
            ("horrible terrible", "Negative"), ("awful horrible", "Negative")]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ls_server.Server]:
    binary = ls_server.find_label_studio()
    if binary is None:
        pytest.skip("no Label Studio venv (run scripts/install_label_studio.sh or set ACCORD_LS_BIN)")
    server = ls_server.start_from_template(binary, tmp_path_factory.mktemp("ls"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, label_studio: ls_server.Server) -> Iterator[tuple[str, Path]]:
    import uvicorn

    state_dir = tmp_path_factory.mktemp("ml-state")
    app = create_app(Settings(state_dir=state_dir, label_studio_url=label_studio.url))
    port = ls_server.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield url, state_dir
    server.should_exit = True
    thread.join(10)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _wait_version(backend: str, pid: int, version: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if version in _get(f"{backend}/versions?project={pid}")["versions"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"{version} never appeared at {backend}/versions")


def _predictions(ls: Any, task_ids: list[int], version: str) -> dict[int, Any]:
    out = {}
    for tid in task_ids:
        for p in ls.predictions.list(task=tid):
            if p.model_version == version:
                out[tid] = p
    return out


def _accuracy(preds: dict[int, Any], gold: dict[int, str]) -> float:
    return sum(preds[t].result[0]["value"]["choices"][0] == g for t, g in gold.items() if t in preds) / len(gold)


def test_connect_predict_annotate_train_improve(label_studio: ls_server.Server, backend: tuple[str, Path]) -> None:
    from label_studio_sdk import LabelStudio

    from accord.ml_backends.label_studio.state import ProjectState

    backend_url, state_dir = backend

    ls = LabelStudio(base_url=label_studio.url, api_key=label_studio.token)
    project = ls.projects.create(title="accord-ml-e2e", label_config=CONFIG)
    pid = int(project.id)
    texts = ROUND1 + ROUND2 + HELD_OUT
    imported = ls.projects.import_tasks(pid, request=[{"text": t} for t, _ in texts], return_task_ids=True)
    ids = list(imported.task_ids)
    r1, r2, held = ids[:2], ids[2:8], ids[8:]
    gold_held = {t: lab for t, (_, lab) in zip(held, HELD_OUT, strict=True)}

    ml = ls.ml.create(project=pid, url=backend_url, title="accord", is_interactive=False)
    # cold start: the backend answers nothing and Label Studio stores no prediction
    ls.actions.create(id="retrieve_tasks_predictions", project=pid, selected_items={"all": False, "included": held})
    assert _predictions(ls, held, "text-v0") == {}

    def annotate(task_ids: list[int], rows: list[tuple[str, str]]) -> None:
        for tid, (_, lab) in zip(task_ids, rows, strict=True):
            ls.annotations.create(id=tid, result=[{"from_name": "sentiment", "to_name": "text", "type": "choices",
                                                   "value": {"choices": [lab]}}])

    annotate(r1, ROUND1)
    # Label Studio's own webhook told the backend about each annotation
    deadline = time.monotonic() + 20
    while sorted(ProjectState(state_dir, pid).annotations()) != sorted(map(str, r1)):
        assert time.monotonic() < deadline, "no ANNOTATION_CREATED webhook arrived"
        time.sleep(0.2)
    ls.ml.train(id=ml.id)
    _wait_version(backend_url, pid, "text-v1")
    ls.actions.create(id="retrieve_tasks_predictions", project=pid, selected_items={"all": False, "included": held})
    v1 = _predictions(ls, held, "text-v1")
    assert sorted(v1) == sorted(held)  # stored on every held-out task, carrying the version
    for p in v1.values():
        (region,) = p.result
        assert (region["from_name"], region["to_name"], region["type"]) == ("sentiment", "text", "choices")
        assert region["value"]["choices"][0] in ("Positive", "Negative")
        assert 0.0 <= p.score <= 1.0
    assert ls.ml.get(id=ml.id).model_version == "text-v1"

    annotate(r2, ROUND2)
    ls.ml.train(id=ml.id)
    _wait_version(backend_url, pid, "text-v2")
    ls.actions.create(id="retrieve_tasks_predictions", project=pid, selected_items={"all": False, "included": held})
    v2 = _predictions(ls, held, "text-v2")
    assert sorted(v2) == sorted(held)
    acc1, acc2 = _accuracy(v1, gold_held), _accuracy(v2, gold_held)
    # v1 never saw the held-out words: it cannot beat chance on this balanced set; v2 did see them.
    assert acc1 <= 0.5
    assert acc2 == 1.0
    # more confident once the words are known
    assert min(p.score for p in v2.values()) > max(p.score for p in v1.values())
