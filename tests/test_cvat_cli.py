"""``accord cvat report``: API path with issues written back, export path, usage errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cvat_server import Server, demo_task

from accord.cli import main
from accord.plugins.cvat.client import connect, fetch_task
from accord.plugins.cvat.convert import to_cvat_xml


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server().start()
    demo_task(srv.state)
    try:
        yield srv
    finally:
        srv.stop()


def test_api_report_writes_issues_once_and_moves_jobs(server: Server, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    argv = ["cvat", "report", "--url", server.url, "--token", "pat-123", "--task", "1", "--json", str(out),
            "--no-checks", "--write-issues", "--move-stage", "annotation", "--move-state", "rejected"]
    assert main(argv) == 0
    rep = json.loads(out.read_text())
    cv = rep["cvat"]
    assert cv["by_job"]["13"] == {"missing_object": 1, "wrong_class": 1, "wrong_attribute": 2}
    assert "missing annotation" in cv["by_cvat_term"]
    assert cv["writeback"]["created"] == 2
    assert cv["writeback"]["jobs_moved"] == [13]
    assert "issues: 2 planned, 2 created" in capsys.readouterr().out
    assert len(server.state.issues) == 2
    assert server.state.jobs[13]["stage"] == "annotation"
    # rerun: nothing new
    assert main(argv) == 0
    assert len(server.state.issues) == 2
    assert json.loads(out.read_text())["cvat"]["writeback"]["skipped_existing"] == 2


def test_api_report_dry_run_and_login(server: Server, tmp_path: Path) -> None:
    argv = ["cvat", "report", "--url", server.url, "--user", "u", "--password", "secret", "--task", "1",
            "--no-checks", "--write-issues", "--dry-run", "--min-severity", "minor", "--json",
            str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")]
    assert main(argv) == 0
    assert "street" in (tmp_path / "r.html").read_text()
    wb = json.loads((tmp_path / "r.json").read_text())["cvat"]["writeback"]
    assert wb["dry_run"]
    assert wb["created"] == wb["planned"] >= 3
    assert not server.state.issues
    assert not [r for r in server.state.requests if r.method in ("POST", "PATCH") and "issues" in r.path]


def test_export_path_with_reference_matches_the_api_path(server: Server, tmp_path: Path) -> None:
    ds = fetch_task(connect(server.url, token="pat-123"), 1)
    from accord.core.model import Dataset

    bob = Dataset(records=tuple(r for r in ds.records if r.annotator_id == "cvat:bob" and r.label_set == "boxes"),
                  name="street")
    gold = Dataset(records=tuple(r for r in ds.records if r.source == "reference" and r.label_set == "boxes"),
                   name="street")
    (tmp_path / "work.xml").write_bytes(to_cvat_xml(bob))
    (tmp_path / "gold.xml").write_bytes(to_cvat_xml(gold))
    out = tmp_path / "r.json"
    assert main(["cvat", "report", "--export", str(tmp_path / "work.xml"), "--reference",
                 str(tmp_path / "gold.xml"), "--json", str(out), "--no-checks"]) == 0
    rep = json.loads(out.read_text())
    cats = {(d["item_id"], d["category"]) for d in rep["errors"]["discrepancies"]}
    # the same findings as through the API (bob against the gold job)
    assert {("a.jpg", "missing_object"), ("b.jpg", "wrong_class")} <= cats
    assert rep["cvat"]["by_job"] == {}  # exports carry no job ids


@pytest.mark.parametrize(("argv", "message"), [
    (["--task", "1"], "give either --url"),
    (["--url", "http://x", "--token", "t"], "give --task ID or --project ID"),
    (["--export", "a.xml", "--write-issues"], "need the API"),
    (["--url", "http://x", "--task", "1"], "log in with --token"),
])
def test_usage_errors_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CVAT_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("CVAT_PASSWORD", raising=False)
    assert main(["cvat", "report", *argv]) == 2
    assert message in capsys.readouterr().err


def test_unknown_task_and_bad_login_are_clear_errors(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cvat", "report", "--url", server.url, "--token", "pat-123", "--task", "99"]) == 2
    err = capsys.readouterr().err
    assert "answered 404" in err
    assert "task 99" in err
    assert main(["cvat", "report", "--url", server.url, "--token", "wrong", "--task", "1"]) == 2
    assert "answered 401" in capsys.readouterr().err


def test_unreachable_server_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["cvat", "report", "--url", f"http://127.0.0.1:{port}", "--token", "t", "--task", "1"]) == 2
    assert "cannot reach CVAT" in capsys.readouterr().err


def test_coco_export_path(server: Server, tmp_path: Path) -> None:
    from accord.core.formats.coco import to_coco
    from accord.core.model import Dataset

    ds = fetch_task(connect(server.url, token="pat-123"), 1)
    for who, name in (("cvat:bob", "work.json"), ("cvat:goldie", "gold.json")):
        part = Dataset(records=tuple(r for r in ds.records if r.annotator_id == who and r.label_set == "boxes"),
                       items={k: v for k, v in ds.items.items() if k in ("a.jpg", "b.jpg")}, name="street")
        (tmp_path / name).write_text(json.dumps(to_coco(part)))
    out = tmp_path / "r.json"
    assert main(["cvat", "report", "--export", str(tmp_path / "work.json"), "--reference",
                 str(tmp_path / "gold.json"), "--json", str(out), "--no-checks"]) == 0
    cats = {d["category"] for d in json.loads(out.read_text())["errors"]["discrepancies"]}
    assert {"missing_object", "wrong_class"} <= cats
