"""``accord preannotate --label-studio-url ... --project ...`` on a real Label Studio 1.23, through Dask workers.

Images are generated (dark rectangles at known places on a light background) and **uploaded** to
Label Studio (``POST /api/projects/{id}/import``), so the tasks' data are ``/data/upload/...``
paths that only Label Studio serves, with the token. The command reads them in its own process,
maps the tasks over a real ``LocalCluster`` of 2 worker processes (``--dask local:2``), and
imports the predictions in bulk. The test reads them back through Label Studio's API: one
prediction per task, the model version, rectangles at the drawn places (Label Studio percent),
the same as the in-process run; ``--replace`` leaves one prediction per task, not two; a task
whose image is on another host is skipped with the reason, never fetched.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import ls_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = ('<View><Image name="image" value="$image"/><RectangleLabels name="box" toName="image">'
          '<Label value="Object"/></RectangleLabels></View>')
W, H = 80, 60
# image name -> drawn rectangles (x0, y0, x1, y1): columns x0..x1-1 and rows y0..y1-1 are dark
SHAPES = {f"scene{k}.png": [(6 + k, 8, 26 + k, 24), (44, 20 + k, 64, 44 + k)] for k in range(6)}


def _png(rects: list[tuple[int, int, int, int]]) -> bytes:
    from PIL import Image

    img = np.full((H, W, 3), 235, dtype=np.uint8)
    for x0, y0, x1, y1 in rects:
        img[y0:y1, x0:x1] = 20
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ls_server.Server]:
    pytest.importorskip("distributed")
    pytest.importorskip("PIL")
    binary = ls_server.find_label_studio()
    if binary is None:
        pytest.skip("no Label Studio venv (run scripts/install_label_studio.sh or set ACCORD_LS_BIN)")
    server = ls_server.start_from_template(binary, tmp_path_factory.mktemp("ls"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def project(label_studio: ls_server.Server) -> tuple[int, dict[int, str]]:
    """A project with one uploaded image per task (task id -> image name) and one task on another host."""
    import httpx
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=label_studio.url, api_key=label_studio.token)
    pid = int(ls.projects.create(title="accord preannotate live", label_config=CONFIG).id)
    names: dict[int, str] = {}
    for name, rects in SHAPES.items():
        r = httpx.post(f"{label_studio.url}/api/projects/{pid}/import", params={"return_task_ids": "true"},
                       headers={"Authorization": f"Token {label_studio.token}"},
                       files={"file": (name, _png(rects))}, timeout=60)
        assert r.status_code == 201, r.text
        (tid,) = r.json()["task_ids"]
        names[int(tid)] = name
    ls.projects.import_tasks(pid, request=[{"image": "http://example.invalid/elsewhere.png"}])
    return pid, names


def _run(label_studio: ls_server.Server, pid: int, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABEL_STUDIO_API_KEY": label_studio.token}
    return subprocess.run([sys.executable, "-m", "accord", "-q", "preannotate", "--model", "contours",
                           "--label-studio-url", label_studio.url, "--project", str(pid), "--batch-size", "2",
                           *extra], capture_output=True, text=True, env=env, timeout=600)


def _predictions(label_studio: ls_server.Server, pid: int, version: str) -> dict[int, list[Any]]:
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=label_studio.url, api_key=label_studio.token)
    out: dict[int, list[Any]] = {}
    for p in ls.predictions.list(project=pid):
        if p.model_version == version:
            out.setdefault(int(p.task), []).append(p.result)
    return out


def _boxes(result: list[dict[str, Any]]) -> list[tuple[float, float, float, float]]:
    """Rectangles of a result in image pixels (x0, y0, x1, y1), sorted."""
    out = []
    for r in result:
        v = r["value"]
        assert r["type"] == "rectanglelabels", r
        assert v["rectanglelabels"] == ["Object"], r
        x, y = v["x"] * W / 100, v["y"] * H / 100
        out.append((x, y, x + v["width"] * W / 100, y + v["height"] * H / 100))
    return sorted(out)


def test_project_predictions_through_dask_workers(label_studio: ls_server.Server,
                                                  project: tuple[int, dict[int, str]]) -> None:
    pid, names = project
    done = _run(label_studio, pid, "--dask", "local:2", "--model-version", "accord-dask")
    assert done.returncode == 0, done.stderr
    assert f"{len(names) + 1} tasks, 1 skipped; imported {len(names)} predictions" in done.stdout, done.stdout
    assert "Traceback" not in done.stderr
    got = _predictions(label_studio, pid, "accord-dask")
    assert sorted(got) == sorted(names)  # one per uploaded task; the other host's task has none
    for tid, results in got.items():
        assert len(results) == 1
        want = sorted((float(x0), float(y0), float(x1), float(y1)) for x0, y0, x1, y1 in SHAPES[names[tid]])
        got_boxes = _boxes(results[0])
        assert len(got_boxes) == len(want)
        for g, w in zip(got_boxes, want, strict=True):  # contours' boxes: the drawn extents
            assert g == pytest.approx(w, abs=1.01)

    # the same predictions in-process; --replace keeps one prediction per task
    local = _run(label_studio, pid, "--model-version", "accord-local")
    assert local.returncode == 0, local.stderr
    again = _run(label_studio, pid, "--model-version", "accord-local", "--replace")
    assert again.returncode == 0, again.stderr
    assert f"{len(names)} earlier predictions of that version deleted" in again.stdout
    in_process = _predictions(label_studio, pid, "accord-local")
    assert {t: len(r) for t, r in in_process.items()} == dict.fromkeys(names, 1)
    assert {t: _boxes(r[0]) for t, r in in_process.items()} == {t: _boxes(r[0]) for t, r in got.items()}


def test_dry_run_imports_nothing_and_errors_are_one_line(label_studio: ls_server.Server,
                                                         project: tuple[int, dict[int, str]]) -> None:
    pid, names = project
    dry = _run(label_studio, pid, "--dry-run", "--model-version", "accord-dry")
    assert dry.returncode == 0, dry.stderr
    assert f"would import {len(names)} predictions" in dry.stdout
    assert _predictions(label_studio, pid, "accord-dry") == {}
    bad = _run(label_studio, pid, "--model", "no-such-model")
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    env = {k: v for k, v in os.environ.items() if k != "LABEL_STUDIO_API_KEY"}
    no_token = subprocess.run([sys.executable, "-m", "accord", "preannotate", "--model", "contours",
                               "--label-studio-url", label_studio.url, "--project", str(pid)],
                              capture_output=True, text=True, env=env, timeout=120)
    assert no_token.returncode != 0
    assert "LABEL_STUDIO_API_KEY" in no_token.stderr
    assert "Traceback" not in no_token.stderr
