"""Issues and job stages written back to CVAT, against tests/cvat_server.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from cvat_server import Server, demo_task

import accord.core.qa.report as report_mod
from accord.core.errors import ConfigError
from accord.core.model import Dataset
from accord.plugins.cvat.client import connect, fetch_task
from accord.plugins.cvat.writeback import move_jobs, plan_issues, write_issues


@pytest.fixture(scope="module")
def built() -> tuple[Dataset, dict[str, Any]]:
    srv = Server().start()
    demo_task(srv.state)
    try:
        ds = fetch_task(connect(srv.url, token="pat-123"), 1)
    finally:
        srv.stop()
    rep = report_mod.build_report(ds, seed=0, checks=False)
    return ds, rep


@pytest.fixture
def setup(built: tuple[Dataset, dict[str, Any]]) -> Iterator[tuple[Server, Any, Dataset, dict[str, Any]]]:
    srv = Server().start()
    demo_task(srv.state)
    try:
        yield srv, connect(srv.url, token="pat-123"), built[0], built[1]
    finally:
        srv.stop()


def test_plans_land_on_bobs_job_at_the_right_frame_and_position(setup: Any) -> None:
    _, _, ds, rep = setup
    plans = plan_issues(rep, ds, min_severity="major")
    where = {(p.job_id, p.frame, p.position, p.message.split(" ", 1)[0]) for p in plans}
    # bob (job 13) missed the gold person on frame 0, and drew a person where the gold has a car on frame 1
    assert where == {(13, 0, (60.0, 10.0, 90.0, 70.0), "missing_object"),
                     (13, 1, (5.0, 5.0, 30.0, 30.0), "wrong_class")}
    assert all(p.message.endswith(f"[accord:{p.key}]") for p in plans)
    wrong = next(p for p in plans if p.frame == 1)
    assert "mismatching label" in wrong.message
    assert "person vs car" in wrong.message
    assert "rule: label_mismatch against reference" in wrong.message


def test_lower_severity_adds_the_attribute_issue(setup: Any) -> None:
    _, _, ds, rep = setup
    major = plan_issues(rep, ds, min_severity="major")
    minor = plan_issues(rep, ds, min_severity="minor")
    assert len(minor) > len(major)
    assert any("mismatching attributes" in p.message and p.frame == 0 for p in minor)
    assert plan_issues(rep, ds, min_severity="major", against=("annotator",)) == ()


def test_write_issues_creates_once_and_not_again_on_rerun(setup: Any) -> None:
    srv, client, ds, rep = setup
    plans = plan_issues(rep, ds, min_severity="major")
    first = write_issues(client, plans, dry_run=False)
    assert (first.created, first.skipped_existing) == (2, 0)
    posts = [r.body for r in srv.state.requests if r.method == "POST" and r.path.rstrip("/") == "/api/issues"]
    assert sorted((b["job"], b["frame"]) for b in posts) == [(13, 0), (13, 1)]
    assert all(len(b["position"]) == 4 and "[accord:" in b["message"] for b in posts)
    second = write_issues(client, plan_issues(rep, ds, min_severity="major"), dry_run=False)
    assert (second.created, second.skipped_existing) == (0, 2)
    assert len(srv.state.issues) == 2


def test_dry_run_posts_nothing(setup: Any) -> None:
    srv, client, ds, rep = setup
    res = write_issues(client, plan_issues(rep, ds), dry_run=True)
    assert res.dry_run
    assert res.created == 2
    assert not [r for r in srv.state.requests if r.method == "POST" and r.path.startswith("/api/issues")]


def test_move_jobs_patches_stage_and_state(setup: Any) -> None:
    srv, client, _, _ = setup
    assert move_jobs(client, [13, 13], stage="annotation", state="rejected", dry_run=False) == (13,)
    patch = next(r for r in srv.state.requests if r.method == "PATCH")
    assert patch.path.rstrip("/") == "/api/jobs/13"
    assert patch.body == {"stage": "annotation", "state": "rejected"}
    assert srv.state.jobs[13]["state"] == "rejected"
    n = len(srv.state.requests)
    move_jobs(client, [12], state="completed", dry_run=True)
    assert len(srv.state.requests) == n


def test_bad_options_are_refused(setup: Any) -> None:
    _, client, ds, rep = setup
    with pytest.raises(ConfigError, match="min_severity must be one of"):
        plan_issues(rep, ds, min_severity="huge")
    with pytest.raises(ConfigError, match="stage and/or a state"):
        move_jobs(client, [13])
    with pytest.raises(ConfigError, match="stage must be one of"):
        move_jobs(client, [13], stage="review")  # type: ignore[arg-type]


def test_records_without_cvat_jobs_get_no_plans(setup: Any) -> None:
    _, _, ds, rep = setup
    stripped = Dataset(records=ds.records, schema=ds.schema, name=ds.name)  # submissions without job ids
    from dataclasses import replace

    no_jobs = Dataset(records=tuple(replace(r, annotation_id=None) for r in stripped.records), schema=ds.schema)
    assert plan_issues(rep, no_jobs) == ()


def test_conflict_queue_raises_whole_frame_issues_in_each_annotators_job(setup: Any) -> None:
    _, _, ds, rep = setup
    items = {(c["item_id"], c["label_set"]) for c in rep["conflicts"]["items"]}
    assert ("b.jpg", "boxes") in items  # alice drew a car, bob a person
    plans = [p for p in plan_issues(rep, ds, conflicts=True) if p.message.startswith("conflict")]
    frame1 = {(p.job_id, p.position) for p in plans if p.frame == 1}
    assert frame1 == {(12, (0.0, 0.0, 100.0, 80.0)), (13, (0.0, 0.0, 100.0, 80.0))}
    assert all("cvat:alice:" in p.message and "cvat:bob:" in p.message for p in plans)
    assert not [p for p in plan_issues(rep, ds, conflicts=True, conflict_severity="minor")
                if p.message.startswith("conflict")]  # below the default min_severity "major"
    with pytest.raises(ConfigError, match="conflict_severity must be one of"):
        plan_issues(rep, ds, conflicts=True, conflict_severity="grave")


def test_issue_positions_for_each_geometry() -> None:
    from accord.core import rle
    from accord.core.model import Box, Keypoint, Keypoints, Mask, Polygon, Record
    from accord.plugins.cvat.writeback import _bbox

    def rec(v: Any) -> Record:
        return Record(item_id="i", annotator_id="a", label_set="s", value=v)

    m = np.zeros((6, 8), bool)
    m[2:4, 3:6] = True
    assert _bbox(rec(Box(label="c", x=1, y=2, width=3, height=4)), 8, 6) == (1, 2, 4, 6)
    assert _bbox(rec(Polygon(label="c", points=((1, 5), (4, 1), (2, 2)))), 8, 6) == (1, 1, 4, 5)
    # hidden keypoints (visibility 0) do not stretch the box
    kp = Keypoints(label="p", points=(Keypoint(name="h", x=1, y=1), Keypoint(name="t", x=3, y=2),
                                      Keypoint(name="x", x=7, y=5, visibility=0)))
    assert _bbox(rec(kp), 8, 6) == (1, 1, 3, 2)
    assert _bbox(rec(Mask(label="c", height=6, width=8, counts=rle.encode(m))), 8, 6) == (3, 2, 6, 4)
    assert _bbox(None, 8, 6) == (0, 0, 8, 6)
