"""``accord review push`` against a real Label Studio 1.23 server (integration).

Reuses the live harness of ``tests/test_label_studio_live.py`` (its session server and its text and
image-box projects). The project is pulled, ``accord report`` queues its conflicts, decisions are
put in a ledger in the shapes the review app records (a class label as a string; ``{"accept":
annotator, "values": [...]}`` for regions; an escalation and an ambiguous soft label that must not be
sent), then ``accord review push`` (not a dry run) writes them. The predictions are read back through
the API: model_version ``accord-adjudicated``, one per decided task, values equal to the decisions
(boxes as percentages of the image size, ``100 * x / W``, as Label Studio stores them).

With ``--as annotation`` the decisions become ground-truth annotations (``ground_truth: true``) by the
token's user; they are read back through the API, a re-push updates the same annotation (its result
ids carry accord's prefix, which Label Studio keeps), a later decision replaces the earlier values.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import test_label_studio_live as live

from accord.cli import main
from accord.core.formats.jsonl import dumps_dataset
from accord.core.qa.conflicts import Resolution
from accord.review.push import MODEL_VERSION, REGION_PREFIX
from accord.review.queue import Conflict, conflicts_of, load_report
from accord.store.ledger import Ledger

pytestmark = pytest.mark.integration

env = live.env  # the session Label Studio server and its projects, shared with test_label_studio_live
Env, BOXES, SENTIMENT, W, H = live.Env, live.BOXES, live.SENTIMENT, live.W, live.H


def _report(env: Env, project: int, tmp_path: Path) -> list[Conflict]:
    data = tmp_path / f"p{project}.jsonl"
    data.write_text(dumps_dataset(env.client().pull(project).dataset))
    report = tmp_path / "report.json"
    assert main(["-q", "report", str(data), "--no-checks", "--no-ledger", "--json", str(report)]) == 0
    return conflicts_of(load_report(report))


def _decide(url: str, rows: list[tuple[Conflict, Any, str]]) -> None:
    with Ledger.init(url) as ledger:
        for k, chosen, role in rows:
            ledger.record_decision(Resolution(item_id=k.item_id, label_set=k.label_set, decided_by="rev",
                                              chosen=chosen, reason="live push test"), role=role)


def _push(env: Env, project: int, tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", env.token)
    assert main(["review", "push", "--report", str(tmp_path / "report.json"), "--db", url,
                 "--label-studio-url", env.url, "--project", str(project), *extra]) == 0
    return capsys.readouterr().out


def _adjudicated(env: Env, task: int) -> list[dict[str, Any]]:
    preds = [p.model_dump() if hasattr(p, "model_dump") else dict(p) for p in env.ls.predictions.list(task=task)]
    return [p for p in preds if p["model_version"] == MODEL_VERSION]


def test_push_classes_to_label_studio(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    pid = env.text["id"]
    conflicts = [k for k in _report(env, pid, tmp_path) if k.label_set == "sentiment"]
    # the hand-made SENTIMENT rows that disagree are the queue (tasks 2, 3, 4, 7)
    want = {str(env.text["task_ids"][i]) for i, labs in enumerate(SENTIMENT) if len(set(labs)) > 1}
    assert {k.item_id for k in conflicts} <= want
    assert len(conflicts) >= 3

    def unused(k: Conflict) -> list[str]:
        given = {v[0].get("label") for v in k.versions.values() if v}
        return [lab for lab in ("pos", "neg", "neu") if lab not in given]

    # decide a label no annotator gave on that task, so the prediction cannot be a copy of an annotation
    decided = next(k for k in conflicts if unused(k))
    label = unused(decided)[0]
    escalated, ambiguous = [k for k in conflicts if k is not decided][:2]
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _decide(url, [(decided, label, "reviewer"),
                  (escalated, {"status": "escalated", "why": "escalated by the reviewer"}, "reviewer"),
                  (ambiguous, {"status": "ambiguous", "soft": {"neg": 0.5, "pos": 0.5}}, "reviewer")])
    out = _push(env, pid, tmp_path, url, monkeypatch, capsys)
    assert f"wrote 1 accord-adjudicated prediction(s) to project {pid}" in out
    got = _adjudicated(env, int(decided.item_id))
    assert len(got) == 1
    assert [(r["from_name"], r["type"], r["value"]["choices"]) for r in got[0]["result"]] == [
        ("sentiment", "choices", [label])]
    for k in (escalated, ambiguous):  # waiting for an expert / a soft label: nothing sent
        assert _adjudicated(env, int(k.item_id)) == []


def test_push_boxes_to_label_studio(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    pid = env.image["id"]
    conflicts = [k for k in _report(env, pid, tmp_path) if k.label_set == "objects"]
    # task 2 of BOXES: a person at (50, 20) for one annotator, a car at (150, 60) for the other
    k = next(c for c in conflicts if c.item_id == str(env.image["task_ids"][2]))
    second = list(k.versions)[1]
    values = list(k.versions[second])
    box = {"id": "t0", "from_name": "objects", "to_name": "image", "type": "rectanglelabels",
           "original_width": W, "original_height": H,
           "value": {"x": 5.0, "y": 5.0, "width": 10.0, "height": 10.0, "rotation": 0, "rectanglelabels": ["car"]}}
    env.ls.predictions.create(task=int(k.item_id), result=[box], model_version="their-boxes", score=0.5)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _decide(url, [(k, {"accept": second, "values": values}, "reviewer")])
    out = _push(env, pid, tmp_path, url, monkeypatch, capsys)
    assert f"wrote 1 accord-adjudicated prediction(s) to project {pid}" in out
    got = _adjudicated(env, int(k.item_id))
    assert len(got) == 1
    (res,) = got[0]["result"]
    (x, y, w, h, lab) = BOXES[2][1][0]  # the second annotator's box, in pixels of a 200 x 100 image
    assert [v["label"] for v in values] == [lab]
    assert res["from_name"] == "objects"
    assert res["value"]["rectanglelabels"] == [lab]
    assert [res["value"][c] for c in ("x", "y", "width", "height")] == pytest.approx(
        [100 * x / W, 100 * y / H, 100 * w / W, 100 * h / H])
    # a rerun leaves one prediction per task; a changed decision (the expert takes the first version) replaces it
    assert "wrote 1" in _push(env, pid, tmp_path, url, monkeypatch, capsys)
    assert len(_adjudicated(env, int(k.item_id))) == 1
    first = next(iter(k.versions))
    _decide(url, [(k, {"accept": first, "values": list(k.versions[first])}, "expert")])
    _push(env, pid, tmp_path, url, monkeypatch, capsys)
    (now,) = _adjudicated(env, int(k.item_id))
    (x, y, w, h, lab) = BOXES[2][0][0]
    assert now["result"][0]["value"]["rectanglelabels"] == [lab]
    assert now["result"][0]["value"]["x"] == pytest.approx(100 * x / W)
    # another model's prediction on the same task is untouched by all three pushes
    theirs = [p for p in env.client().list_predictions(pid) if p["model_version"] == "their-boxes"]
    assert [(p["task"], p["result"][0]["value"]["rectanglelabels"]) for p in theirs] == [(int(k.item_id), ["car"])]


def _annotations(env: Env, task: int) -> list[dict[str, Any]]:
    return [a.model_dump() if hasattr(a, "model_dump") else dict(a) for a in env.ls.annotations.list(id=task)]


def test_push_ground_truth_annotations_to_label_studio(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    pid = env.image["id"]
    conflicts = [k for k in _report(env, pid, tmp_path) if k.label_set == "objects"]
    k = next(c for c in conflicts if c.item_id == str(env.image["task_ids"][2]))
    task = int(k.item_id)
    theirs = {a["id"]: a["result"] for a in _annotations(env, task)}
    second = list(k.versions)[1]
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _decide(url, [(k, {"accept": second, "values": list(k.versions[second])}, "reviewer")])
    out = _push(env, pid, tmp_path, url, monkeypatch, capsys, "--as", "annotation")
    assert f"wrote 1 ground-truth annotation(s) to project {pid} (1 created, 0 updated)" in out
    try:
        ours = [a for a in _annotations(env, task) if a["id"] not in theirs]
        assert len(ours) == 1
        (ann,) = ours
        assert ann["ground_truth"] is True
        assert ann["completed_by"] == env.ls.users.whoami().id  # the token's user is the author
        (res,) = ann["result"]
        assert res["id"].startswith(REGION_PREFIX)  # Label Studio keeps the result id accord sent
        (x, y, w, h, lab) = BOXES[2][1][0]  # the second annotator's box, in pixels of a 200 x 100 image
        assert res["value"]["rectanglelabels"] == [lab]
        assert [res["value"][c] for c in ("x", "y", "width", "height")] == pytest.approx(
            [100 * x / W, 100 * y / H, 100 * w / W, 100 * h / H])
        # a re-push updates that annotation: still one of ours, same id
        out = _push(env, pid, tmp_path, url, monkeypatch, capsys, "--as", "annotation")
        assert "(0 created, 1 updated)" in out
        assert [a["id"] for a in _annotations(env, task) if a["id"] not in theirs] == [ann["id"]]
        # the expert takes the first version: the same annotation now holds it
        first = next(iter(k.versions))
        _decide(url, [(k, {"accept": first, "values": list(k.versions[first])}, "expert")])
        _push(env, pid, tmp_path, url, monkeypatch, capsys, "--as", "annotation")
        (now,) = [a for a in _annotations(env, task) if a["id"] not in theirs]
        assert now["id"] == ann["id"]
        assert now["ground_truth"] is True
        (x, y, w, h, lab) = BOXES[2][0][0]
        assert now["result"][0]["value"]["rectanglelabels"] == [lab]
        assert now["result"][0]["value"]["x"] == pytest.approx(100 * x / W)
        # the annotators' own annotations are untouched
        assert {a["id"]: a["result"] for a in _annotations(env, task) if a["id"] in theirs} == theirs
    finally:  # the session's projects are shared with other tests: leave the task as it was
        for a in _annotations(env, task):
            if a["id"] not in theirs:
                env.ls.annotations.delete(id=a["id"])
