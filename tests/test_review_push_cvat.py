"""``accord review push --cvat-url``: decisions into the task's ground-truth job, accord's issues resolved.

Against tests/cvat_server.py's CVAT (demo task 1: frames a.jpg, b.jpg, c.jpg of 100 x 80; ground-truth
job 11 on frames 0-1 with a car box on each frame and a "sunny" tag on frame 0; replicas 12 (alice)
and 13 (bob)). Here bob also tags frame 0 "rainy", so the tags conflict too. ``accord cvat report
--write-issues --conflicts`` raises the conflict issues, decisions go into a ledger in the review
app's shapes, then ``accord review push`` writes them; everything is read back through the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cvat_server import Server, demo_task, tag_

from accord.cli import main
from accord.core.model import value_from_dict
from accord.core.qa.conflicts import Resolution
from accord.plugins.cvat.client import connect, fetch_payload, from_cvat_api
from accord.plugins.cvat.push import NoGroundTruthJobError, _LabelIds, to_cvat_shape, to_cvat_shapes
from accord.review.push import decided_values
from accord.review.queue import Conflict, conflicts_of, decisions_by_key, load_report
from accord.store.ledger import Ledger

TOKEN = "pat-123"
GT = 11
CAR, PERSON, SUNNY, RAINY = 1, 2, 6, 8  # demo_task's label ids


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server().start()
    demo_task(srv.state)
    srv.state.annotations[13]["tags"] = [tag_(3, RAINY, 0)]  # bob: rainy where alice and the gold say sunny
    try:
        yield srv
    finally:
        srv.stop()


def _report(server: Server, tmp_path: Path) -> list[Conflict]:
    out = tmp_path / "r.json"
    assert main(["-q", "cvat", "report", "--url", server.url, "--token", TOKEN, "--task", "1", "--json", str(out),
                 "--no-checks", "--write-issues", "--conflicts"]) == 0
    return conflicts_of(load_report(out))


def _decide(url: str, rows: list[tuple[str, str, Any, str]]) -> None:
    with Ledger.init(url) as ledger:
        for item, label_set, chosen, role in rows:
            ledger.record_decision(Resolution(item_id=item, label_set=label_set, decided_by="rev", chosen=chosen,
                                              reason="cvat push test"), role=role)


def _push(server: Server, tmp_path: Path, url: str, *extra: str) -> int:
    return main(["review", "push", "--report", str(tmp_path / "r.json"), "--db", url, "--cvat-url", server.url,
                 "--task", "1", *extra])


def _gt(server: Server) -> dict[str, Any]:
    """The ground-truth job's annotations as the SDK reads them."""
    data, _ = connect(server.url, token=TOKEN).api_client.jobs_api.retrieve_annotations(GT)
    out: dict[str, Any] = data.to_dict()
    return out


def _open_conflict_issues(server: Server) -> dict[int, bool]:
    msgs = {c["issue"]: c["message"] for c in server.state.comments}
    return {i["id"]: i["resolved"] for i in server.state.issues if msgs[i["id"]].startswith("conflict")}


def _writes(server: Server) -> list[Any]:
    return [r for r in server.state.requests if r.method in ("PATCH", "POST", "PUT", "DELETE")
            and (r.path.startswith("/api/jobs/") or r.path.startswith("/api/issues/"))]


BOX = {"kind": "box", "label": "person", "x": 6.0, "y": 7.0, "width": 20.0, "height": 15.0, "rotation": 0.0}


def test_push_boxes_and_tags_into_the_ground_truth_job(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    conflicts = _report(server, tmp_path)
    keys = {(k.item_id, k.label_set) for k in conflicts}
    assert {("b.jpg", "boxes"), ("a.jpg", "tags"), ("a.jpg", "boxes"), ("c.jpg", "polygons")} <= keys
    issues = _open_conflict_issues(server)
    assert issues
    assert not any(issues.values())
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _decide(url, [
        # an edit: bob's box, moved and resized (values are a modified copy of a version's regions)
        ("b.jpg", "boxes", {"accept": "edit", "from": "cvat:bob", "label": "person", "values": [BOX]}, "reviewer"),
        ("a.jpg", "tags", "rainy", "reviewer"),
        ("a.jpg", "boxes", {"status": "ambiguous", "soft": {"car": 0.5, "person": 0.5}}, "reviewer"),
        ("c.jpg", "polygons", {"accept": "cvat:alice", "values": [
            {"kind": "polygon", "label": "road", "points": [[0, 0], [40, 0], [40, 20]]}]}, "reviewer"),
        ("c.jpg", "masks", {"status": "escalated", "why": "escalated by the reviewer"}, "reviewer"),
    ])
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", TOKEN)
    capsys.readouterr()
    assert _push(server, tmp_path, url) == 0
    out = capsys.readouterr()
    assert "wrote 2 shape(s)/tag(s) to ground-truth job 11 of task 1 (2 replaced" in out.out
    # skipped with their reasons: an ambiguous soft label, a pending escalation, a frame outside the GT job
    assert "skipped a.jpg [boxes]: ambiguous" in caplog.text
    assert "skipped c.jpg [masks]: not resolved yet" in caplog.text
    assert "skipped c.jpg [polygons]: frame 2 is not in ground-truth job 11" in caplog.text

    gt = _gt(server)
    frame1 = [s for s in gt["shapes"] if s["frame"] == 1]
    # b.jpg is frame 1; the gold car box there is replaced by the decided person box: points are
    # [x1, y1, x2, y2] = [6, 7, 6 + 20, 7 + 15] in pixels, label "person" = id 2
    assert [(s["type"], s["label_id"], s["points"], s["rotation"]) for s in frame1] == [
        ("rectangle", PERSON, [6.0, 7.0, 26.0, 22.0], 0.0)]
    # frame 0's two gold boxes are untouched (a.jpg's boxes decision was ambiguous)
    assert sorted((s["label_id"], s["points"]) for s in gt["shapes"] if s["frame"] == 0) == [
        (CAR, [10.0, 10.0, 50.0, 40.0]), (PERSON, [60.0, 10.0, 90.0, 70.0])]
    # a.jpg's tag: the gold "sunny" replaced by the decided "rainy"
    assert [(t["frame"], t["label_id"]) for t in gt["tags"]] == [(0, RAINY)]
    # the conflict issues of the two written decisions are resolved (one per annotator's job), the rest stay open
    msgs = {c["issue"]: c["message"] for c in server.state.comments}
    resolved = {i["id"] for i in server.state.issues if i["resolved"]}
    assert len(resolved) == 4
    for i in server.state.issues:
        if i["id"] in resolved:
            assert (i["frame"], msgs[i["id"]].split(",")[0], i["job"]) in {
                (1, "conflict", 12), (1, "conflict", 13), (0, "conflict", 12), (0, "conflict", 13)}
            assert (": boxes;" in msgs[i["id"]]) == (i["frame"] == 1)
    assert any(not r for r in _open_conflict_issues(server).values())  # a.jpg boxes, c.jpg: still open

    # a re-push writes nothing: the decisions are already the ground truth, the issues already resolved
    n = len(_writes(server))
    assert _push(server, tmp_path, url) == 0
    assert "wrote 0 shape(s)/tag(s)" in capsys.readouterr().out
    assert len(_writes(server)) == n
    assert _gt(server) == gt

    # a later decision (the expert overrides) replaces the earlier one, never adds a second box
    car = {**BOX, "label": "car", "x": 1.0, "y": 2.0}
    _decide(url, [("b.jpg", "boxes", {"accept": "edit", "from": "cvat:bob", "label": "car", "values": [car]},
                   "expert")])
    assert _push(server, tmp_path, url) == 0
    assert "wrote 1 shape(s)/tag(s) to ground-truth job 11 of task 1 (1 replaced" in capsys.readouterr().out
    frame1 = [s for s in _gt(server)["shapes"] if s["frame"] == 1]
    assert [(s["label_id"], s["points"]) for s in frame1] == [(CAR, [1.0, 2.0, 21.0, 17.0])]


def test_dry_run_writes_nothing(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    _report(server, tmp_path)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _decide(url, [("a.jpg", "tags", "rainy", "reviewer")])
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", TOKEN)
    before, n = _gt(server), len(_writes(server))
    capsys.readouterr()
    assert _push(server, tmp_path, url, "--dry-run") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["job"] == GT
    assert [(t["frame"], t["label_id"]) for t in plan["create"]["tags"]] == [(0, RAINY)]
    assert [(t["frame"], t["label_id"]) for t in plan["delete"]["tags"]] == [(0, SUNNY)]
    assert plan["issues_to_resolve"] == 2  # a.jpg's tag conflict, in alice's and bob's jobs
    assert len(_writes(server)) == n
    assert _gt(server) == before
    assert not any(i["resolved"] for i in server.state.issues)


def test_no_ground_truth_job_is_a_one_line_error(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _report(server, tmp_path)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _decide(url, [("a.jpg", "tags", "rainy", "reviewer")])
    del server.state.jobs[GT]
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", TOKEN)
    capsys.readouterr()
    assert _push(server, tmp_path, url) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "task 1 has no ground-truth job" in err
    assert "Quality tab" in err


def test_usage_errors(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    _report(server, tmp_path)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.delenv("CVAT_ACCESS_TOKEN", raising=False)
    capsys.readouterr()
    assert _push(server, tmp_path, url) == 2
    assert "$CVAT_ACCESS_TOKEN is empty" in capsys.readouterr().err
    assert main(["review", "push", "--report", str(tmp_path / "r.json"), "--db", url]) == 2
    assert "give either --label-studio-url" in capsys.readouterr().err
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", "wrong")
    assert _push(server, tmp_path, url) == 2
    assert "answered 401" in capsys.readouterr().err


def _payload(server: Server) -> Any:
    return fetch_payload(connect(server.url, token=TOKEN), 1)


def test_no_ground_truth_job_raises(server: Server) -> None:
    del server.state.jobs[GT]
    with pytest.raises(NoGroundTruthJobError, match="create one in CVAT"):
        to_cvat_shapes([], _payload(server))


def test_skeleton_mask_and_points_match_what_cvat_stores(server: Server) -> None:
    """Alice's mask and skeleton on frame 2 (demo_task: mask points ``[1, 4, 1, 20, 30, 22, 31]``, a 3 x 2
    window at left 20, top 30; skeleton "pose" with head (10, 10) and an occluded tail (20, 30), sublabels
    4 and 5) read by the converter and written back give CVAT's own shapes."""
    payload = _payload(server)
    ds = from_cvat_api([payload])
    ids = _LabelIds(payload.labels)
    alice = {s["id"]: s for s in payload.annotations[12]["shapes"]}
    recs = {r.region_id: r for r in ds.records if r.annotator_id == "cvat:alice" and r.item_id == "c.jpg"}
    mask = to_cvat_shape(recs["shape:21"].value, "masks", ids, 2)
    assert (mask["type"], mask["label_id"], mask["points"]) == ("mask", 9, alice[21]["points"])
    skel = to_cvat_shape(recs["shape:22"].value, "skeletons", ids, 2)
    assert skel["type"] == "skeleton"
    assert [(e["label_id"], e["points"], e["occluded"], e["outside"]) for e in skel["elements"]] == [
        (e["label_id"], e["points"], e["occluded"], e["outside"]) for e in alice[22]["elements"]]
    poly = to_cvat_shape(recs["shape:20"].value, "polygons", ids, 2)
    assert (poly["type"], poly["points"]) == ("polygon", alice[20]["points"])
    pts = to_cvat_shape(value_from_dict({"kind": "keypoints", "label": "road", "points": [
        {"name": "0", "x": 1, "y": 2, "visibility": 1}]}), "points", ids, 0)
    assert (pts["type"], pts["points"], pts["occluded"]) == ("points", [1.0, 2.0], True)


def test_unusable_values_are_skipped_with_reasons(server: Server) -> None:
    payload = _payload(server)
    decided = [
        ("b.jpg", "boxes", [{"kind": "box", "label": "bicycle", "x": 0, "y": 0, "width": 1, "height": 1}], ""),
        ("nowhere.jpg", "boxes", [BOX], ""),
        ("b.jpg", "tracks", [], ""),
        ("b.jpg", "boxes", None, "not resolved yet (second pass or expert pending)"),
    ]
    plan = to_cvat_shapes(decided, payload)
    (bike, nowhere, tracks, pending) = plan.skipped
    assert bike[:2] == ("b.jpg", "boxes")
    assert "label 'bicycle' is not among the task's labels ['car', 'person', 'pose', 'rainy', 'road', " in bike[2]
    assert nowhere[:2] == ("nowhere.jpg", "boxes")
    assert "not a frame of CVAT task 1" in nowhere[2]
    assert "no CVAT write-back for label set 'tracks'" in tracks[2]
    assert pending == (*decided[3][:2], decided[3][3])
    assert plan.create == {"shapes": [], "tags": []}


def test_decided_values_reads_the_decision_in_force(server: Server, tmp_path: Path) -> None:
    conflicts = _report(server, tmp_path)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    _decide(url, [("a.jpg", "tags", "sunny", "reviewer"), ("a.jpg", "tags", "rainy", "expert")])
    with Ledger.init(url) as ledger:
        by_key = decisions_by_key(ledger.decisions())
    got = [(i, s, v) for i, s, v, _ in decided_values(conflicts, by_key)]
    assert got == [("a.jpg", "tags", [{"kind": "classification", "label": "rainy"}])]
