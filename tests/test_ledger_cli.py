"""The ledger commands end to end: ledger init/verify, snapshot, diff, history, runs, resolve, report --ledger.

Runs on SQLite and on a real PostgreSQL (``integration``; see tests/test_store.py).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from accord.cli import main
from accord.core.model import Box, Classification, Record, TextValue, record_to_dict
from accord.store.ledger import Ledger
from accord.store.schema import SCHEMA_VERSION

sys.path.insert(0, str(Path(__file__).parent))
from pg_server import free_port, new_database

SAMPLE = Path(__file__).resolve().parents[1] / "core" / "data" / "sample"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db(request, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACCORD_DB", raising=False)
    url = f"sqlite:///{tmp_path}/ledger.db" if request.param == "sqlite" else new_database(
        request.getfixturevalue("pg_server"))
    assert main(["ledger", "init", "--db", url]) == 0
    return url


# -- an export with planted changes ----------------------------------------------------------------
def _export(rng: random.Random) -> list[Record]:
    out = []
    for i in range(40):
        for who in ("ann", "bob", "cy"):
            out.append(Record(item_id=f"img{i}", annotator_id=who, label_set="cls",
                              value=Classification(label=rng.choice(["cat", "dog", "fox"])),
                              updated_at=f"2026-01-{1 + i % 28:02d}T10:00:00+00:00"))
            for k in range(2):  # boxes far apart (no two overlap); half of them carry a region id
                out.append(Record(item_id=f"img{i}", annotator_id=who, label_set="objects",
                                  region_id=f"r{i}-{who}-{k}" if k == 0 else None,
                                  value=Box(label=rng.choice(["car", "bus"]), x=300.0 * k + rng.uniform(0, 20),
                                            y=rng.uniform(0, 20), width=40.0, height=30.0)))
            out.append(Record(item_id=f"img{i}", annotator_id=who, label_set="caption",
                              value=TextValue(text=f"a photo number {i} by {who}")))
    return out


def _write(path: Path, records: list[Record]) -> Path:
    path.write_text("".join(json.dumps(record_to_dict(r)) + "\n" for r in records), encoding="utf-8")
    return path


def _plant(records: list[Record], rng: random.Random):
    """A copy of the export with known changes, and the set of (change, item, label set, annotator) planted."""
    from dataclasses import replace

    new = list(records)
    expected: set[tuple[str, str, str, str]] = set()
    idx = {k: [j for j, r in enumerate(new) if r.label_set == k] for k in ("cls", "objects", "caption")}
    picked = {k: rng.sample(v, 6) for k, v in idx.items()}
    touched: set[tuple[str, str, str]] = set()

    def fresh(j):  # one planted change per (item, label set, annotator) so each is unambiguous
        key = (new[j].item_id, new[j].label_set, new[j].annotator_id)
        if key in touched:
            return False
        touched.add(key)
        return True

    for j in picked["cls"][:4]:  # relabel
        if fresh(j):
            old = new[j].value.label
            new[j] = replace(new[j], value=Classification(label={"cat": "dog", "dog": "fox", "fox": "cat"}[old]),
                             updated_at="2026-02-01T09:00:00+00:00")
            expected.add(("relabeled", new[j].item_id, "cls", new[j].annotator_id))
    moves = []
    for n, j in enumerate(picked["objects"]):
        if not fresh(j):
            continue
        r, v = new[j], new[j].value
        if n < 3:  # moved/resized, label kept
            new[j] = replace(r, value=Box(label=v.label, x=v.x + 8.0, y=v.y, width=v.width + 4.0, height=v.height))
            expected.add(("moved", r.item_id, "objects", r.annotator_id))
            moves.append((v, new[j].value))
        else:  # relabeled in place
            new[j] = replace(r, value=Box(label="tram", x=v.x, y=v.y, width=v.width, height=v.height))
            expected.add(("relabeled", r.item_id, "objects", r.annotator_id))
    for j in picked["caption"][:3]:
        if fresh(j):
            new[j] = replace(new[j], value=TextValue(text=new[j].value.text + " (fixed)"))
            expected.add(("edited_text", new[j].item_id, "caption", new[j].annotator_id))
    removed = [j for j in picked["caption"][3:] if fresh(j)]
    for j in removed:
        expected.add(("removed", new[j].item_id, "caption", new[j].annotator_id))
    new = [r for j, r in enumerate(new) if j not in set(removed)]
    for i in range(2):
        new.append(Record(item_id=f"img-new{i}", annotator_id="dee", label_set="cls",
                          value=Classification(label="cat")))
        expected.add(("added", f"img-new{i}", "cls", "dee"))
    return new, expected, moves


def test_diff_finds_exactly_the_planted_changes(db, tmp_path, capsys):
    rng = random.Random(18)
    old = _export(rng)
    new, expected, _moves = _plant(old, rng)
    a, b = _write(tmp_path / "a.jsonl", old), _write(tmp_path / "b.jsonl", random.Random(2).sample(new, len(new)))
    assert main(["snapshot", str(a), "--name", "v1", "--by", "lead", "--db", db]) == 0
    assert main(["snapshot", str(b), "--name", "v2", "--by", "lead", "--db", db]) == 0
    capsys.readouterr()
    assert main(["diff", "v1", "v2", "--json", str(tmp_path / "d.json"), "--db", db]) == 0
    table = capsys.readouterr().out
    d = json.loads((tmp_path / "d.json").read_text())
    found = {(c["change"], c["item_id"], c["label_set"], c["annotator_id"]) for c in d["changes"]}
    assert found == expected
    assert len(d["changes"]) == len(expected)
    assert sum(d["counts"].values()) == len(expected)
    # moved boxes: IoU of x+8, width+4 on a 40x30 box: overlap (40-8)*30, union 40*30 + 44*30 - overlap
    for c in (c for c in d["changes"] if c["change"] == "moved"):
        assert c["iou"] == pytest.approx(32 * 30 / (40 * 30 + 44 * 30 - 32 * 30), abs=1e-6)
    relabeled = [c for c in d["changes"] if c["change"] == "relabeled" and c["label_set"] == "cls"]
    assert all(c["when"] == "2026-02-01T09:00:00+00:00" for c in relabeled)
    assert all(f"{c['old_label']} -> {c['new_label']}" in table for c in relabeled)
    assert f"{d['counts']['moved']} moved" in table.splitlines()[0]
    # the reverse diff mirrors it
    assert main(["diff", "v2", "v1", "--format", "json", "--db", db]) == 0
    back = json.loads(capsys.readouterr().out)
    assert back["counts"]["added"] == d["counts"]["removed"]
    assert back["counts"]["removed"] == d["counts"]["added"]
    assert main(["diff", "v1", "v1", "--db", db]) == 0
    assert "no changes" in capsys.readouterr().out


def test_snapshot_report_runs_history_resolve(db, tmp_path, capsys):
    src = SAMPLE / "images_boxes.json"
    assert main(["snapshot", str(src), "--name", "v1", "--db", db]) == 0
    first = capsys.readouterr().out
    assert main(["snapshot", str(src), "--name", "v1-again", "--db", db]) == 0
    assert "already stored" in capsys.readouterr().out
    assert main(["snapshot", str(src), "--name", "v1", "--db", db]) == 2  # names are never reused
    assert "already in the ledger" in capsys.readouterr().err
    report_json = tmp_path / "r.json"
    assert main(["-q", "report", str(src), "--json", str(report_json), "--seed", "3", "--ledger", "--db", db]) == 0
    capsys.readouterr()
    assert main(["runs", "--format", "json", "--db", db]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 1
    run = runs[0]
    report = json.loads(report_json.read_text())
    assert run["seed"] == 3
    assert run["inputs"] == [first.split("hash ")[1].strip()]  # the same content as snapshot v1
    assert run["report_files"] == {str(report_json): __import__("hashlib").sha256(report_json.read_bytes())
                                   .hexdigest()}
    est = report["agreement"]["objects"]["coefficients"][report["agreement"]["objects"]["primary"]]
    assert run["headline"]["agreement"]["objects"]["estimate"] == est["estimate"]
    assert run["headline"]["errors_by_category"] == report["errors"]["counts"]["by_category"]
    assert main(["runs", "--db", db]) == 0
    assert "v1" in capsys.readouterr().out
    log = tmp_path / "res.jsonl"
    assert main(["resolve", "--db", db, "--log", str(log), "--item", "1", "--label-set", "objects", "--chosen",
                 "Car", "--by", "ann", "--role", "reviewer"]) == 0
    assert main(["resolve", "--db", db, "--item", "1", "--label-set", "objects", "--chosen", "Bus", "--by",
                 "lead", "--rule", "2.3"]) == 0
    assert "superseding entry" in capsys.readouterr().out
    assert main(["history", "1", "--label-set", "objects", "--format", "json", "--db", db]) == 0
    h = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in h["versions"][0]["snapshots"]] == ["v1", "v1-again", None]
    assert [(d["decision"], d["in_force"]) for d in h["decisions"]] == [("Car", False), ("Bus", True)]
    assert main(["history", "1", "--db", db]) == 0
    assert "superseded" in capsys.readouterr().out
    from accord.store import ResolutionLog

    assert [r.chosen for r in ResolutionLog(log).read().resolutions] == ["Car"]  # the JSONL log still works
    assert main(["ledger", "verify", "--deep", "--db", db]) == 0
    assert "6 entries verify" in capsys.readouterr().out


def test_verify_names_a_corrupted_entry_in_one_line(db, capsys):
    assert main(["resolve", "--db", db, "--item", "1", "--label-set", "c", "--chosen", "x", "--by", "a"]) == 0
    assert main(["resolve", "--db", db, "--item", "2", "--label-set", "c", "--chosen", "y", "--by", "a"]) == 0
    with Ledger.open(db) as led:
        led.db.execute("UPDATE entries SET body = REPLACE(body, '\"a\"', '\"b\"') WHERE seq = 2")
    capsys.readouterr()
    assert main(["ledger", "verify", "--db", db]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "entry 2 (decision" in err
    assert "does not verify" in err


def test_bad_inputs_are_one_line_errors(db, tmp_path, capsys):
    cases = [
        (["ledger", "verify", "--db", f"postgresql://accord@127.0.0.1:{free_port()}/x"], "cannot connect"),
        (["snapshot", "--list", "--db", f"sqlite:///{tmp_path}/absent.db"], "run 'accord ledger init'"),
        (["diff", "nope", "v2", "--db", db], "no snapshot named or hashed 'nope'"),
        (["snapshot", str(tmp_path / "missing.json"), "--db", db], "missing.json"),
        (["ledger", "verify", "--db", "mysql://h/db"], "unsupported database URL"),
    ]
    for argv, match in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert match in err, (argv, err)
        assert err.count("\n") == 1, (argv, err)
        assert "Traceback" not in err
    with Ledger.open(db) as led:
        led.db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    assert main(["runs", "--db", db]) == 2
    err = capsys.readouterr().err
    assert "newer than this accord understands" in err
    assert err.count("\n") == 1


def test_default_ledger_under_dot_accord_and_env(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACCORD_DB", raising=False)
    assert main(["resolve", "--item", "1", "--label-set", "c", "--chosen", "x", "--by", "a"]) == 2  # nowhere yet
    assert main(["ledger", "init"]) == 0
    assert (tmp_path / ".accord" / "ledger.db").exists()
    assert main(["resolve", "--item", "1", "--label-set", "c", "--chosen", "x", "--by", "a"]) == 0
    assert main(["-q", "report", str(SAMPLE / "text_sentiment.json")]) == 0  # a ledger exists: recorded
    assert "recorded the run" in capsys.readouterr().err
    assert main(["-q", "report", str(SAMPLE / "text_sentiment.json"), "--no-ledger"]) == 0
    assert "recorded" not in capsys.readouterr().err
    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("ACCORD_DB", f"sqlite:///{other}")
    assert main(["ledger", "init"]) == 0
    assert other.exists()
    with Ledger.open(f"sqlite:///{tmp_path}/.accord/ledger.db") as led:
        assert led.head()[0] == 3
        assert len(led.runs()) == 1


def test_trend_across_runs_and_tags(db, tmp_path, capsys):
    rng = random.Random(5)
    old = _export(rng)
    new, _, _ = _plant(old, rng)
    a, b = _write(tmp_path / "a.jsonl", old), _write(tmp_path / "b.jsonl", new)
    assert main(["snapshot", str(a), "--name", "guidelines-1.0", "--db", db]) == 0
    assert main(["snapshot", str(b), "--name", "guidelines-2.0", "--db", db]) == 0
    for path in (a, b):
        assert main(["-q", "report", str(path), "--no-checks", "--db", db]) == 0
    capsys.readouterr()
    assert main(["runs", "--trend", "--format", "json", "--db", db]) == 0
    t = json.loads(capsys.readouterr().out)
    points = t["agreement"]["cls"]
    assert [p["inputs"] for p in points] == [["guidelines-1.0"], ["guidelines-2.0"]]
    with Ledger.open(db) as led:
        runs = sorted(led.runs(), key=lambda r: r.seq)
    assert [p["estimate"] for p in points] == [r.headline["agreement"]["cls"]["estimate"] for r in runs]
    assert all(p["low"] <= p["estimate"] <= p["high"] for p in points)
    assert len(t["errors"]) == 2
    assert main(["runs", "--trend", "--db", db]) == 0
    assert "guidelines-2.0" in capsys.readouterr().out


def test_report_trend_section_equals_the_recorded_runs(db, tmp_path, capsys):
    """Three runs with planted agreement values and error counts: the report's trend holds exactly them
    (oldest first, with their snapshot tags), this report last, and the HTML charts them."""
    planted = [(0.41, 0.30, 0.52, {"wrong_class": 9, "missing_object": 4}),
               (0.63, 0.55, 0.71, {"wrong_class": 5}),
               (0.88, 0.80, 0.93, {"wrong_class": 1, "extra_object": 2})]
    rng = random.Random(11)
    with Ledger.open(db) as led:
        for k, (est, low, high, errs) in enumerate(planted):
            snap = led.add_snapshot(_export(rng)[:30], source=f"export-{k}.jsonl", pulled_by="lead",
                                    name=f"guidelines-{k + 1}.0")
            led.record_run(inputs=[snap.snapshot_hash], config_text="", accord_version="test", seed=k,
                           headline={"agreement": {"planted": {"coefficient": "krippendorff_alpha_nominal",
                                                               "estimate": est, "low": low, "high": high, "n": 90}},
                                     "errors_by_category": errs}, report_files={})
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    src = SAMPLE / "images_boxes.json"
    assert main(["-q", "report", str(src), "--no-checks", "--trend", "--no-ledger", "--db", db,
                 "--json", str(out_json), "--html", str(out_html)]) == 0
    report = json.loads(out_json.read_text())
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.resources import files
    jsonschema.validate(report, json.loads(files("accord.core").joinpath("data/report.schema.json").read_text()))
    points = report["trend"]["agreement"]["planted"]
    assert [(p["estimate"], p["low"], p["high"]) for p in points] == [p[:3] for p in planted]
    assert [p["inputs"] for p in points] == [["guidelines-1.0"], ["guidelines-2.0"], ["guidelines-3.0"]]
    errors = report["trend"]["errors"]
    assert [e["by_category"] for e in errors[:3]] == [p[3] for p in planted]
    assert errors[-1]["current"]
    assert errors[-1]["by_category"] == report["errors"]["counts"]["by_category"]
    main_set = next(iter(report["agreement"]))  # this report is the last point of its own label sets
    last = report["trend"]["agreement"][main_set][-1]
    coef = report["agreement"][main_set]["coefficients"][report["agreement"][main_set]["primary"]]
    assert last["current"]
    assert last["estimate"] == coef["estimate"]
    html = out_html.read_text()
    section = html[html.index('<section id="trend">'):]
    section = section[:section.index("</section>")]
    assert section.count("<svg") >= 2  # the planted label set's line chart and the error bars
    assert "planted: krippendorff_alpha_nominal across runs" in section
    assert "guidelines-3.0" in section
    assert "0.630 [0.550, 0.710]" in section
    assert "http" not in html.replace("http-equiv", "").replace("http://www.w3.org/2000/svg", "")
    with Ledger.open(db) as led:
        assert len(led.runs()) == 3  # --no-ledger: read, not recorded
    capsys.readouterr()
    assert main(["runs", "--trend", "--format", "json", "--db", db]) == 0  # the same computation
    assert json.loads(capsys.readouterr().out)["agreement"]["planted"] == points


def test_report_trend_without_a_ledger_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACCORD_DB", raising=False)
    assert main(["-q", "report", str(SAMPLE / "text_sentiment.json"), "--trend"]) == 2
    err = capsys.readouterr().err
    assert "accord ledger init" in err
    assert err.count("\n") == 1


def _chromium():
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_audit_pack_and_diff_html(db, tmp_path, capsys):
    rng = random.Random(7)
    old = _export(rng)
    new, expected, _ = _plant(old, rng)
    a, b = _write(tmp_path / "a.jsonl", old), _write(tmp_path / "b.jsonl", new)
    assert main(["snapshot", str(a), "--name", "v1", "--db", db]) == 0
    assert main(["snapshot", str(b), "--name", "v2", "--db", db]) == 0
    assert main(["-q", "report", str(b), "--no-checks", "--db", db]) == 0
    assert main(["resolve", "--db", db, "--item", "img3", "--label-set", "cls", "--chosen", "cat", "--by", "ann"]) == 0
    assert main(["resolve", "--db", db, "--item", "img3", "--label-set", "cls", "--chosen", "dog", "--by", "lead",
                 "--rule", "4.2 tails"]) == 0
    assert main(["diff", "v1", "v2", "--html", str(tmp_path / "diff.html"), "--db", db]) == 0
    html = (tmp_path / "diff.html").read_text()
    assert html.count("<tr>") == (1 + len(expected)) + (1 + 2)  # header + changes, header + the two snapshots
    assert "http" not in html.replace("http-equiv", "")  # self-contained
    out = tmp_path / "pack"
    assert main(["audit-pack", "--snapshot", "v2", "--out", str(out), "--db", db]) == 0
    pack = json.loads((out / "datasheet.json").read_text())
    with Ledger.open(db) as led:
        head = led.head()[1]
        v2 = led.get_snapshot("v2")
    assert pack["snapshot"]["snapshot_hash"] == v2.snapshot_hash
    assert pack["chain"] == {"ok": True, "entries": 6, "head_hash": head, "problem": None}
    assert sum(pack["label_distribution"]["cls"].values()) == sum(1 for r in new if r.label_set == "cls")
    assert len(pack["runs"]) == 1  # the run on v2's content
    assert [(d["decision"], d["in_force"]) for d in pack["decisions"]] == [("cat", False), ("dog", True)]
    assert pack["guideline_rules"] == {"4.2 tails": 1}
    assert [t["name"] for t in pack["tags_so_far"]] == ["v1", "v2"]
    page = (out / "datasheet.html").read_text()
    for needle in (v2.snapshot_hash, head, "4.2 tails", "superseded", "Label distribution"):
        assert needle in page, needle
    browser = _chromium()
    if browser is None:
        return  # the rendering check below needs chromium (.ci/run installs it); the content is checked above
    import os
    import subprocess

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    env = {**os.environ, "HOME": str(tmp_path)}
    url = (out / "datasheet.html").as_uri()
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                         env=env, check=True).stdout
    assert head in dom
    artifacts = Path(__file__).resolve().parents[1] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / f"audit_pack_{db.split(':')[0]}.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1300,2000", url], capture_output=True,
                   timeout=120, env=env, check=True)
    assert shot.stat().st_size > 20_000


def test_snapshot_of_a_live_cvat_task_then_diff(db, tmp_path, monkeypatch, capsys):
    """The localhost CVAT stand-in (tests/cvat_server.py): snapshot task 1 through the API, relabel one of
    bob's boxes on the server, snapshot again; the diff is exactly that relabel. Bad tokens and missing
    options are one-line errors that write nothing."""
    pytest.importorskip("cvat_sdk")
    from cvat_server import Server, demo_task

    from accord.plugins.cvat.client import connect, fetch_task

    monkeypatch.delenv("CVAT_ACCESS_TOKEN", raising=False)
    server = Server().start()
    demo_task(server.state)
    try:
        live = ["snapshot", "--cvat", server.url, "--task", "1", "--db", db]
        assert main([*live, "--token", "pat-123", "--name", "cvat-1"]) == 0
        expected = fetch_task(connect(server.url, token="pat-123"), 1).records
        box = next(s for s in server.state.annotations[13]["shapes"] if s["id"] == 31)
        assert box["label_id"] == 2  # person (demo_task); relabel it car
        box["label_id"] = 1
        monkeypatch.setenv("CVAT_ACCESS_TOKEN", "pat-123")  # the token from the environment this time
        assert main([*live, "--name", "cvat-2"]) == 0
        capsys.readouterr()
        for argv, match in [
            ([*live, "--token", "wrong", "--name", "x"], "answered 401"),
            (["snapshot", "--cvat", server.url, "--db", db], "--cvat URL --task N"),
            ([*live[:5], str(tmp_path / "e.json"), "--db", db], "one of them"),
        ]:
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert match in err, (argv, err)
            assert err.count("\n") == 1, err
            assert "Traceback" not in err
        monkeypatch.delenv("CVAT_ACCESS_TOKEN")
        assert main([*live, "--name", "x"]) == 2
        assert "CVAT_ACCESS_TOKEN" in capsys.readouterr().err
    finally:
        server.stop()
    port = server.url.rsplit(":", 1)[1].split("/")[0]  # stopped now: nothing listens there
    assert main(["snapshot", "--cvat", f"http://127.0.0.1:{port}", "--task", "1", "--token", "pat-123",
                 "--db", db]) == 2
    assert "cannot reach CVAT" in capsys.readouterr().err
    snaps = _snapshots(db)
    assert [s["name"] for s in snaps] == ["cvat-1", "cvat-2"]  # the failed pulls wrote nothing
    assert snaps[0]["source"] == f"cvat {server.url.rstrip('/')} task 1 (street)"
    assert snaps[0]["n_rows"] == len(expected)
    with Ledger.open(db) as led:
        stored = led.snapshot_records(led.get_snapshot("cvat-1"))
    def canon(recs):
        return sorted(json.dumps(record_to_dict(r), sort_keys=True) for r in recs)

    assert canon(stored) == canon(expected)  # every row as pulled
    assert main(["diff", "cvat-1", "cvat-2", "--format", "json", "--db", db]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [(c["change"], c["item_id"], c["annotator_id"], c["old_label"], c["new_label"]) for c in d["changes"]] == [
        ("relabeled", "b.jpg", "cvat:bob", "person", "car")]


@pytest.mark.integration
def test_snapshot_of_a_live_label_studio_project_then_diff(tmp_path, monkeypatch, capsys):
    """A real Label Studio server: snapshot a project, change one annotation through its API, snapshot, diff."""
    import ls_server

    binary = ls_server.find_label_studio()
    if binary is None:
        pytest.skip("no Label Studio venv (run scripts/install_label_studio.sh)")
    label_studio_sdk = pytest.importorskip("label_studio_sdk")
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path}/ledger.db"
    assert main(["ledger", "init", "--db", db]) == 0
    server = ls_server.start_from_template(binary, tmp_path / "ls")
    try:
        ls = label_studio_sdk.LabelStudio(base_url=server.url, api_key=server.token)
        config = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text" choice="single">'
                  '<Choice value="pos"/><Choice value="neg"/></Choices></View>')
        project = ls.projects.create(title="accord ledger", label_config=config)
        ids = list(ls.projects.import_tasks(id=project.id, request=[{"text": f"t{k}"} for k in range(3)],
                                            return_task_ids=True).task_ids or [])

        def choice(label):
            return [{"id": "c1", "from_name": "sentiment", "to_name": "text", "type": "choices",
                     "value": {"choices": [label]}}]

        made = [ls.annotations.create(id=tid, result=choice("pos"), lead_time=5.0) for tid in ids]
        live = ["snapshot", "--label-studio", server.url, "--project", str(project.id), "--api-key", server.token,
                "--db", db]
        assert main([*live, "--name", "live-1"]) == 0
        assert f"project {project.id}" in json.dumps(_snapshots(db))
        ls.annotations.update(id=made[1].id, result=choice("neg"))
        assert main([*live, "--name", "live-2"]) == 0
    finally:
        server.stop()
    capsys.readouterr()
    assert main(["diff", "live-1", "live-2", "--format", "json", "--db", db]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [(c["change"], c["item_id"], c["old_label"], c["new_label"]) for c in d["changes"]] == [
        ("relabeled", str(ids[1]), "pos", "neg")]


def _snapshots(db):
    with Ledger.open(db) as led:
        return [s.to_dict() for s in led.snapshots()]
