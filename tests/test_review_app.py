"""The review web app (``accord review``) through FastAPI's TestClient.

The report is the bundled sample's (``accord demo``): image boxes, text classes, NER spans, audio
speaker segments and transcripts, three annotators. Users are real argon2 accounts in a real SQLite
ledger; every decision is read back from the ledger.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("argon2")

from fastapi.testclient import TestClient

from accord.cli import main
from accord.review.app import COOKIE, Settings, create_app, gallery_html
from accord.review.auth import AuthError, Sessions, add_user, authenticate, ensure_tables
from accord.review.queue import (
    Policy,
    QueueError,
    conflicts_of,
    decisions_by_key,
    load_report,
    sampled,
)
from accord.store.ledger import Ledger

PASSWORD = "correct horse battery"
ROLES = ("annotator", "reviewer", "expert", "admin")
ANNOTATOR = "alice@example.com"  # one of the sample's annotators: the annotator account sees her work


@pytest.fixture(scope="module")
def report_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out / "report.json"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.init(url) as ledger:
        ensure_tables(ledger.db)
        add_user(ledger.db, ANNOTATOR, "annotator", PASSWORD)
        for name in ("rev1", "rev2"):
            add_user(ledger.db, name, "reviewer", PASSWORD)
        add_user(ledger.db, "exp", "expert", PASSWORD)
        add_user(ledger.db, "adm", "admin", PASSWORD)
    return url


def make_client(report: Path, db_url: str, seed: int = 0) -> TestClient:
    return TestClient(create_app(Settings(report_path=report, db_url=db_url, secret=b"s" * 32, seed=seed)))


@pytest.fixture
def client(report_path: Path, db_url: str) -> TestClient:
    return make_client(report_path, db_url)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def login(c: TestClient, name: str) -> str:
    """Sign in; returns the session's CSRF token."""
    c.cookies.clear()
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(c.get("/admin/users" if name == "adm" else "/mine" if name == ANNOTATOR else "/queue").text)


def user_of_role(role: str) -> str:
    return {"annotator": ANNOTATOR, "reviewer": "rev1", "expert": "exp", "admin": "adm"}[role]


def decisions(db_url: str) -> list[Any]:
    with Ledger.open(db_url) as ledger:
        return ledger.decisions()


def index_of(report: Path, label_set: str, k: int = 0) -> int:
    return [c.index for c in conflicts_of(load_report(report)) if c.label_set == label_set][k]


# ------------------------------------------------------------------ users and passwords

def test_user_add_cli_stores_an_argon2_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    assert main(["review", "user", "add", "lead", "--role", "expert", "--password-stdin", "--db", url]) == 0
    assert "lead (expert)" in capsys.readouterr().out
    with Ledger.open(url) as ledger:
        stored = ledger.db.execute("SELECT role, password_hash FROM review_users WHERE name = 'lead'").fetchone()
        assert stored[0] == "expert"
        assert stored[1].startswith("$argon2id$")
        assert "s3cret" not in stored[1]
        assert authenticate(ledger.db, "lead", "s3cret-pass") is not None
        assert authenticate(ledger.db, "lead", "s3cret-pasS") is None
        assert authenticate(ledger.db, "nobody", "s3cret-pass") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    assert main(["review", "user", "add", "lead", "--role", "admin", "--password-stdin", "--db", url]) == 2
    assert "exists already" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "role", "password", "match"), [
    ("ok", "boss", PASSWORD, "role must be one of"),
    ("a b", "admin", PASSWORD, "not usable"),
    ("ok", "admin", "short", "at least 8"),
])
def test_bad_users_are_refused(db_url: str, name: str, role: str, password: str, match: str) -> None:
    with Ledger.open(db_url) as ledger, pytest.raises(AuthError, match=match):
        add_user(ledger.db, name, role, password)


# ------------------------------------------------------------------ authorization matrix

# (method, path, roles allowed); {c} is a conflict number, each POST's form filled by form_for()
ROUTES: list[tuple[str, str, frozenset[str]]] = [
    ("GET", "/", frozenset(ROLES)),
    ("GET", "/queue", frozenset({"reviewer", "expert", "admin"})),
    ("GET", "/c/{c}", frozenset({"reviewer", "expert", "admin"})),
    ("POST", "/c/{c}/decide", frozenset({"reviewer", "expert", "admin"})),
    ("GET", "/mine", frozenset({"annotator"})),
    ("GET", "/admin/users", frozenset({"admin"})),
    ("POST", "/admin/users", frozenset({"admin"})),
    ("GET", "/admin/policy", frozenset({"admin"})),
    ("POST", "/admin/policy", frozenset({"admin"})),
    ("GET", "/admin/scores", frozenset({"admin"})),
    ("GET", "/api/scores", frozenset({"admin"})),
    ("GET", "/api/queue", frozenset({"reviewer", "expert", "admin"})),
    ("POST", "/logout", frozenset(ROLES)),
]


def form_for(path: str, role: str) -> dict[str, str]:
    if path.endswith("/decide"):
        return {"choice": "escalate", "rationale": f"matrix {role}"}
    if path == "/admin/users":
        return {"username": f"new-{role}", "role": "reviewer", "password": PASSWORD}
    if path == "/admin/policy":
        return {"label_set": "sentiment", "passes": "2", "second_pass_share": "0.5"}
    return {}


@pytest.mark.parametrize("role", [*ROLES, None])
def test_authorization_matrix(report_path: Path, db_url: str, role: str | None) -> None:
    c = make_client(report_path, db_url)
    token = login(c, user_of_role(role)) if role else csrf_of(c.get("/login").text)
    conflict = {"annotator": 1, "reviewer": 2, "expert": 3, "admin": 4, None: 5}[role]
    for method, template, allowed in ROUTES:
        if template == "/logout":
            continue  # last, below: it ends the session
        path = template.format(c=conflict)
        if method == "GET":
            r = c.get(path, follow_redirects=False)
        else:
            r = c.post(path, data={**form_for(path, str(role)), "csrf": token}, follow_redirects=False)
        if role is None:
            want = {303} if method == "GET" and not path.startswith("/api/") else {401}
            assert r.status_code in want, (role, method, path, r.status_code)
            if r.status_code == 303:
                assert r.headers["location"] == "/login"
        elif role in allowed:
            assert r.status_code in (200, 303), (role, method, path, r.status_code, r.text[-300:])
        else:
            assert r.status_code == 403, (role, method, path, r.status_code)
            assert "Traceback" not in r.text
    escalated = [d for d in decisions(db_url) if d.rationale.startswith("matrix")]
    assert [(d.reviewer, d.role) for d in escalated] == ([(user_of_role(role), role)] if role in
                                                          ("reviewer", "expert", "admin") else [])
    r = c.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == (303 if role else 401)


# ------------------------------------------------------------------ security

def test_csrf_missing_or_wrong_is_rejected(client: TestClient, report_path: Path, db_url: str) -> None:
    token = login(client, "rev1")
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    for data in ({"choice": "escalate"}, {"choice": "escalate", "csrf": wrong}, {"choice": "escalate", "csrf": ""}):
        r = client.post("/c/0/decide", data=data, follow_redirects=False)
        assert r.status_code == 403, data
        assert "CSRF" in r.text
    assert decisions(db_url) == []
    # the login form needs its token too
    client.cookies.clear()
    client.get("/login")
    r = client.post("/login", data={"username": "rev1", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403


def test_session_fixation_and_logout(client: TestClient, db_url: str) -> None:
    client.get("/login")
    planted = client.cookies.get(COOKIE)
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "rev1", "password": PASSWORD, "csrf": token}, follow_redirects=False)
    fresh = r.cookies.get(COOKIE)
    assert fresh
    assert fresh != planted
    signer = Sessions(b"s" * 32)
    before, after = signer.unsign(planted), signer.unsign(fresh)
    assert before is not None
    assert after is not None
    assert "sid" not in before
    assert after["csrf"] != before["csrf"]
    # the planted (pre-login) cookie grants nothing
    client.cookies.clear()
    client.cookies.set(COOKIE, planted)
    assert client.get("/queue", follow_redirects=False).status_code == 303
    # a cookie signed with another secret is ignored
    client.cookies.clear()
    client.cookies.set(COOKIE, Sessions(b"t" * 32).sign(after))
    assert client.get("/queue", follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set(COOKIE, fresh)
    assert client.get("/queue").status_code == 200
    assert "HttpOnly" in r.headers["set-cookie"]
    assert "samesite=lax" in r.headers["set-cookie"].lower()
    assert client.post("/logout", data={"csrf": after["csrf"]}, follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set(COOKIE, fresh)  # replaying the old cookie after logout: the session row is gone
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_wrong_password_is_one_line_401(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "rev1", "password": "nope", "csrf": token})
    assert r.status_code == 401
    assert "wrong user name or password" in r.text


@pytest.mark.parametrize("path", [
    "/c/..%2f..%2f..%2fetc%2fpasswd", "/c/-1", "/c/99999", "/c/1e3", "/static/..%2f..%2fauth.py",
    "/static/../app.py", "/static/%2e%2e/%2e%2e/etc/passwd", "/c/0/../../etc/passwd",
])
def test_path_traversal_reveals_nothing(client: TestClient, path: str) -> None:
    login(client, "rev1")
    r = client.get(path, follow_redirects=False)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert "root:" not in r.text
    assert "Sessions" not in r.text
    assert "Traceback" not in r.text


def test_bad_form_is_a_one_line_error(client: TestClient) -> None:
    token = login(client, "rev1")
    r = client.post("/c/0/decide", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 400
    assert "choice" in r.text
    assert "Traceback" not in r.text
    r = client.post("/c/0/decide", data={"csrf": token, "choice": "delete"}, follow_redirects=False)
    assert r.status_code == 400
    assert "action must be one of" in r.text
    r = client.post("/c/0/decide", data={"csrf": token, "choice": "accept:mallory"}, follow_redirects=False)
    assert r.status_code == 400
    assert "annotator must be one of" in r.text


XSS_LABEL = '<script>alert("label")</script>'
XSS_TEXT = '<img src=x onerror=alert("text")>'


def test_xss_in_label_and_item_text_is_inert(tmp_path: Path, report_path: Path, db_url: str) -> None:
    report = json.loads(report_path.read_text())
    item = next(c for c in report["conflicts"]["items"] if c["label_set"] == "entities")
    item["item"]["text"] = XSS_TEXT + " " + item["item"]["text"]
    for vs in item["versions"].values():
        for v in vs:
            v["label"] = XSS_LABEL
    item["labels"] = [XSS_LABEL]
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps(report))
    c = make_client(bad, db_url)
    login(c, "rev1")
    n = report["conflicts"]["items"].index(item)
    page = c.get(f"/c/{n}").text
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert" in page
    assert "&lt;img src=x onerror" in page
    # the annotator's page and the gallery too
    c2 = make_client(bad, db_url)
    login(c2, ANNOTATOR)
    mine = c2.get("/mine").text
    assert "<script>alert" not in mine
    assert "<img src=x" not in mine
    token = login(c, "rev1")
    c.post(f"/c/{n}/decide", data={"csrf": token, "choice": "edit", "edit_from": ANNOTATOR, "label": XSS_LABEL,
                                   "rationale": XSS_TEXT, "rule": XSS_LABEL})
    with Ledger.open(db_url) as ledger:
        html = gallery_html(conflicts_of(report), decisions_by_key(ledger.decisions()))
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html


# ------------------------------------------------------------------ adjudication

def test_decisions_reach_the_ledger_and_leave_the_queue(client: TestClient, report_path: Path,
                                                        db_url: str) -> None:
    token = login(client, "rev1")
    n_open = len(client.get("/api/queue").json()["open"])
    box, cls, ner = index_of(report_path, "objects"), index_of(report_path, "sentiment"), index_of(report_path,
                                                                                                    "entities")
    conflicts = conflicts_of(load_report(report_path))
    first_cls_annotator = next(iter(conflicts[cls].versions))
    steps = [(box, {"choice": "accept:bob@example.com", "rationale": "tighter box", "rule": "2.1 tight boxes"}),
             (cls, {"choice": f"accept:{first_cls_annotator}", "rationale": "tone", "rule": "1.3 sarcasm"}),
             (ner, {"choice": "ambiguous", "rationale": "either reading"})]
    for n, form in steps:
        r = client.post(f"/c/{n}/decide", data={**form, "csrf": token}, follow_redirects=False)
        assert r.status_code == 303
    rows = decisions(db_url)
    assert [(d.item_id, d.reviewer, d.role) for d in rows] == [
        (conflicts[n].item_id, "rev1", "reviewer") for n, _ in steps]
    assert rows[0].decision["accept"] == "bob@example.com"
    assert rows[0].guideline_rule == "2.1 tight boxes"
    assert rows[0].decision["values"] == conflicts[box].versions["bob@example.com"]
    cls_label = conflicts[cls].versions[first_cls_annotator][0]["label"]
    assert rows[1].decision == cls_label  # a class decision is the label itself (build_report reads it)
    assert rows[2].decision["status"] == "ambiguous"
    assert math.isclose(sum(rows[2].decision["soft"].values()), 1.0)
    left = {q["n"] for q in client.get("/api/queue").json()["open"]}
    assert len(left) == n_open - 3
    assert not left & {box, cls, ner}
    assert client.post(f"/c/{box}/decide", data={"choice": "escalate", "csrf": token},
                       follow_redirects=False).status_code == 409
    # the annotator sees her own version and the outcome, nobody else's
    login(client, ANNOTATOR)
    mine = client.get("/mine").text
    assert "tighter box" in mine
    assert "version of bob@example.com" in mine
    assert 'data-annotator="bob@example.com"' not in mine
    assert f'data-annotator="{ANNOTATOR}"' in mine


def test_class_decision_overrides_the_next_reports_consensus(report_path: Path, db_url: str) -> None:
    from accord.cmd_demo import load_sample
    from accord.core.qa.report import build_report

    report = load_report(report_path)
    k = next(c for c in conflicts_of(report) if c.label_set == "sentiment")
    before = report["consensus"]["sentiment"]["labels"][k.item_id]
    other = next(lab for lab in ("Negative", "Neutral", "Positive") if lab != before)
    c = make_client(report_path, db_url)
    token = login(c, "rev1")
    assert c.post(f"/c/{k.index}/decide", data={"choice": "edit", "edit_from": next(iter(k.versions)),
                                                "label": other, "csrf": token}).status_code == 200
    with Ledger.open(db_url) as ledger:
        resolutions = list(ledger.latest_decisions().values())
    nxt = build_report(load_sample(), seed=0, cost_items=20_000, resolutions=resolutions)
    assert nxt["consensus"]["sentiment"]["labels"][k.item_id] == other
    assert k.item_id not in {i["item_id"] for i in nxt["conflicts"]["items"] if i["label_set"] == "sentiment"}


def test_second_pass_blind_then_expert(report_path: Path, db_url: str) -> None:
    c = make_client(report_path, db_url)
    token = login(c, "adm")
    assert c.post("/admin/policy", data={"label_set": "sentiment", "passes": "2", "second_pass_share": "all",
                                         "csrf": token}, follow_redirects=False).status_code == 303
    assert c.post("/admin/policy", data={"label_set": "sentiment", "passes": "3", "csrf": token}).status_code == 400
    k = next(x for x in conflicts_of(load_report(report_path)) if x.label_set == "sentiment")
    a, _b = list(k.versions)[:2]
    token = login(c, "rev1")
    c.post(f"/c/{k.index}/decide", data={"choice": f"accept:{a}", "rationale": "first look", "csrf": token})
    stages = {q["n"]: q["stage"] for q in c.get("/api/queue").json()["open"]}
    assert k.index not in stages  # the first reviewer never gets the second pass
    assert c.get(f"/c/{k.index}", follow_redirects=False).status_code == 403
    token = login(c, "rev2")
    assert {q["n"]: q["stage"] for q in c.get("/api/queue").json()["open"]}[k.index] == "second"
    page = c.get(f"/c/{k.index}").text
    assert "first look" not in page
    assert "rev1" not in page.split("<main>")[1]
    other = next(lab for lab in sorted(k.labels) if lab != k.versions[a][0]["label"])
    c.post(f"/c/{k.index}/decide", data={"choice": "edit", "edit_from": a, "label": other, "csrf": token})
    token = login(c, "rev1")
    assert k.index not in {q["n"] for q in c.get("/api/queue").json()["open"]}  # reviewers no longer see it
    token = login(c, "exp")
    assert {q["n"]: q["stage"] for q in c.get("/api/queue").json()["open"]}[k.index] == "expert"
    page = c.get(f"/c/{k.index}").text
    assert "first look" in page
    assert "escalated" in page
    c.post(f"/c/{k.index}/decide", data={"choice": f"accept:{a}", "rationale": "expert: first was right",
                                         "csrf": token})
    rows = decisions(db_url)
    assert [(d.reviewer, d.role) for d in rows] == [("rev1", "reviewer"), ("rev2", "reviewer/second-pass"),
                                                    ("rev2", "reviewer/second-pass"), ("exp", "expert")]
    assert rows[2].decision["status"] == "escalated"
    token = login(c, "exp")
    assert k.index not in {q["n"] for q in c.get("/api/queue").json()["open"]}
    login(c, "adm")
    scores = c.get("/api/scores").json()["reviewers"]
    # rev1: 0 of 1 second passes agreed, 1 of 1 expert decisions agreed. Wilson 95% for 0/1:
    # high = z^2 / (n + z^2) = 3.841459 / 4.841459 = 0.793451 (z = 1.959964); for 1/1, low = 1 - 0.793451
    assert scores["rev1"]["second_pass"] == pytest.approx(
        {"agreements": 0, "n": 1, "estimate": 0.0, "low": 0.0, "high": 0.793451, "method": "wilson",
         "confidence": 0.95}, abs=1e-5)
    assert scores["rev1"]["expert"]["agreements"] == 1
    assert scores["rev1"]["expert"]["low"] == pytest.approx(
        0.206549, abs=1e-5)
    assert "rev1" in c.get("/admin/scores").text


def test_second_pass_sample_is_seeded_and_near_its_share() -> None:
    ids = [f"item-{i}" for i in range(20_000)]
    picked = [i for i in ids if sampled(7, "objects", i, 0.2)]
    # binomial(20000, 0.2): sd = sqrt(20000 * 0.2 * 0.8) = 56.6; 5 sd = 283
    assert abs(len(picked) - 4000) < 283
    assert picked == [i for i in ids if sampled(7, "objects", i, 0.2)]
    assert picked != [i for i in ids if sampled(8, "objects", i, 0.2)]
    assert all(sampled(0, "x", i, 1.0) for i in ids[:100])
    assert not any(sampled(0, "x", i, 0.0) for i in ids[:100])
    assert Policy.parse("2", "all") == Policy(passes=2, second_pass_share=1.0)
    with pytest.raises(QueueError, match=r"in \[0, 1\]"):
        Policy.parse("2", "1.5")


def test_bad_report_is_refused(tmp_path: Path, db_url: str) -> None:
    p = tmp_path / "r.json"
    p.write_text("{not json")
    with pytest.raises(QueueError, match="is not JSON"):
        make_client(p, db_url)
    p.write_text("{}")
    with pytest.raises(QueueError, match=r"no conflicts\.items"):
        make_client(p, db_url)


# ------------------------------------------------------------------ write-back and gallery

LS_CONFIG = """<View><Text name="text" value="$text"/>
<Choices name="sentiment" toName="text"><Choice value="Negative"/><Choice value="Neutral"/>
<Choice value="Positive"/></Choices>
<Image name="image" value="$image"/>
<RectangleLabels name="objects" toName="image"><Label value="Person"/></RectangleLabels></View>"""


def test_push_plan_builds_accord_adjudicated_predictions(report_path: Path, db_url: str) -> None:
    from accord.plugins.label_studio.config import parse_label_config
    from accord.review.push import to_label_studio_predictions

    report = load_report(report_path)
    box = next(c for c in report["conflicts"]["items"] if c["label_set"] == "objects")
    cls = next(c for c in report["conflicts"]["items"] if c["label_set"] == "sentiment")
    box["item_id"], cls["item_id"] = "101", "102"  # Label Studio task ids
    conflicts = conflicts_of(report)
    bi, ci = report["conflicts"]["items"].index(box), report["conflicts"]["items"].index(cls)
    p = Path(db_url[len("sqlite:///"):]).with_name("r.json")
    p.write_text(json.dumps(report))
    c = make_client(p, db_url)
    token = login(c, "rev1")
    c.post(f"/c/{bi}/decide", data={"choice": "accept:bob@example.com", "csrf": token})
    c.post(f"/c/{ci}/decide", data={"choice": "edit", "edit_from": ANNOTATOR, "label": "Positive", "csrf": token})
    c.post("/c/0/decide" if bi != 0 and ci != 0 else "/c/1/decide", data={"choice": "escalate", "csrf": token})
    with Ledger.open(db_url) as ledger:
        by_key = decisions_by_key(ledger.decisions())
    plan = to_label_studio_predictions(conflicts, by_key, parse_label_config(LS_CONFIG))
    preds = {p["task"]: p for p in plan.predictions}
    assert set(preds) == {101, 102}
    assert all(p["model_version"] == "accord-adjudicated" for p in preds.values())
    assert [r["value"]["choices"] for r in preds[102]["result"]] == [["Positive"]]
    (rect,) = preds[101]["result"]
    bob = box["versions"]["bob@example.com"][0]
    assert rect["type"] == "rectanglelabels"
    assert rect["value"]["rectanglelabels"] == ["Person"]
    # Label Studio boxes are percentages of the image size: 640 x 480 in the sample
    assert rect["value"]["x"] == pytest.approx(100 * bob["x"] / 640)
    assert rect["value"]["height"] == pytest.approx(
        100 * bob["height"] / 480)
    assert any("not resolved" in why for _, _, why in plan.skipped)


def test_gallery_groups_by_rule(report_path: Path, db_url: str, tmp_path: Path) -> None:
    c = make_client(report_path, db_url)
    token = login(c, "rev1")
    box, ner = index_of(report_path, "objects"), index_of(report_path, "entities")
    c.post(f"/c/{box}/decide", data={"choice": "accept:bob@example.com", "rule": "2.1 tight boxes",
                                     "rationale": "box hugs the person", "csrf": token})
    c.post(f"/c/{ner}/decide", data={"choice": "consensus", "rule": "4.0 punctuation", "rationale": "no dot",
                                     "csrf": token})
    out = tmp_path / "gallery.html"
    assert main(["review", "gallery", "--report", str(report_path), "--db", db_url, "-o", str(out)]) == 0
    html = out.read_text()
    assert html.index("2.1 tight boxes") < html.index("4.0 punctuation")  # grouped, sorted by rule
    assert "box hugs the person" in html
    assert "<svg" in html
    assert 'src="http' not in html
    assert "<link" not in html
    assert "<script" not in html


# ------------------------------------------------------------------ edits: one region's class, drop / keep, boundaries

def _edit_form(k: Any, annotator: str, token: str, **fields: str) -> dict[str, str]:
    """The edit panel as the page sends it: every region of ``annotator`` kept unless a field says otherwise."""
    ai = list(k.versions).index(annotator)
    form = {"csrf": token, "choice": "edit", "edit_from": annotator, f"e{ai}-n": str(len(k.versions[annotator]))}
    form.update({f"e{ai}-keep-{i}": "on" for i in range(len(k.versions[annotator]))})
    for name, value in fields.items():
        key = f"e{ai}-" + name.replace("_", "-")
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    return form


def test_edit_drops_relabels_and_moves_a_span(client: TestClient, report_path: Path, db_url: str) -> None:
    from accord.review.push import _values_of

    k = next(x for x in conflicts_of(load_report(report_path)) if x.label_set == "entities")
    a = next(a for a, vs in k.versions.items() if len(vs) >= 2)
    vs = k.versions[a]
    text = k.item["text"]
    token = login(client, "rev1")
    # drop region 0 (absent checkbox), relabel region 1 and move its end one character left
    other = next(lab for lab in ("LOC", "ORG", "PER") if lab != vs[1]["label"])
    form = _edit_form(k, a, token, keep_0=None, label_1=other, end_1=str(int(vs[1]["end"]) - 1))
    preview = client.post(f"/api/preview/{k.index}", data=form)
    assert preview.status_code == 200, preview.text
    assert preview.json()["n_regions"] == len(vs) - 1
    assert f'data-labels="{other}"' in preview.json()["html"]  # drawn by render.py with the new class
    assert decisions(db_url) == []  # a preview decides nothing
    r = client.post(f"/c/{k.index}/decide", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    (row,) = decisions(db_url)
    start, end = int(vs[1]["start"]), int(vs[1]["end"]) - 1
    want = [{**vs[1], "label": other, "end": end, "text": text[start:end]}, *[dict(v) for v in vs[2:]]]
    assert row.decision == {"accept": "edit", "from": a, "values": want}
    assert _values_of(row.decision) == want  # what `accord review push` writes back
    assert k.index not in {q["n"] for q in client.get("/api/queue").json()["open"]}
    assert "edited from" in client.get(f"/c/{k.index}").text  # the resolved page's history describes it
    # the next report takes the edit as the item's resolution: it leaves the queue
    from accord.cmd_demo import load_sample
    from accord.core.qa.report import build_report

    with Ledger.open(db_url) as ledger:
        resolutions = list(ledger.latest_decisions().values())
    nxt = build_report(load_sample(), seed=0, checks=False, resolutions=resolutions)
    assert k.item_id not in {i["item_id"] for i in nxt["conflicts"]["items"] if i["label_set"] == "entities"}
    assert nxt["conflicts"]["n_resolved"] >= 1


def test_edit_moves_a_segment_and_keeps_the_rest(client: TestClient, report_path: Path, db_url: str) -> None:
    k = next(x for x in conflicts_of(load_report(report_path)) if x.label_set == "speaker")
    a = next(iter(k.versions))
    vs = k.versions[a]
    token = login(client, "rev1")
    new_start = round(float(vs[0]["start"]) + 0.4, 3)
    r = client.post(f"/c/{k.index}/decide", data=_edit_form(k, a, token, start_0=str(new_start)),
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    (row,) = decisions(db_url)
    assert row.decision["values"] == [{**vs[0], "start": new_start}, *[dict(v) for v in vs[1:]]]


def test_edit_relabels_one_box_of_an_image_version(client: TestClient, report_path: Path, db_url: str) -> None:
    k = next(x for x in conflicts_of(load_report(report_path)) if x.label_set == "objects"
             and any(len(vs) >= 2 for vs in x.versions.values()))
    a = next(a for a, vs in k.versions.items() if len(vs) >= 2)
    token = login(client, "rev1")
    r = client.post(f"/c/{k.index}/decide", data=_edit_form(k, a, token, label_0="Bicycle"), follow_redirects=False)
    assert r.status_code == 303, r.text
    (row,) = decisions(db_url)
    assert [v["label"] for v in row.decision["values"]] == ["Bicycle", *[v["label"] for v in k.versions[a][1:]]]
    assert [v["x"] for v in row.decision["values"]] == [v["x"] for v in k.versions[a]]


@pytest.mark.parametrize(("label_set", "fields", "match"), [
    ("entities", {"keep_9": "on"}, "names no region"),
    ("entities", {"colour_0": "red"}, "names no region"),
    ("entities", {"n": "7"}, "reload the page"),
    ("entities", {"label_0": "Martian"}, "is not a class of label set 'entities'"),
    ("entities", {"label_0": XSS_LABEL}, "is not a class of label set"),
    ("entities", {"start_0": "5", "end_0": "5"}, "start must be before end"),
    ("entities", {"end_0": "100000"}, r"must lie in 0\.\.\d+ characters"),
    ("entities", {"start_0": "-1"}, "must lie in"),
    ("entities", {"start_0": "two"}, "whole characters"),
    ("speaker", {"end_0": "1e9"}, r"must lie in 0\.\.11\.91 s"),
    ("speaker", {"start_0": "nan"}, "finite"),
    ("objects", {"start_0": "3"}, "only spans and segments"),
])
def test_bad_edits_are_one_line_400s(client: TestClient, report_path: Path, db_url: str, label_set: str,
                                     fields: dict[str, str], match: str) -> None:
    k = next(x for x in conflicts_of(load_report(report_path)) if x.label_set == label_set)
    a = next(iter(k.versions))
    token = login(client, "rev1")
    form = _edit_form(k, a, token, **fields)
    r = client.post(f"/c/{k.index}/decide", data=form, follow_redirects=False)
    assert r.status_code == 400, (fields, r.status_code)
    shown = re.search(r'id="error">(.*?)</p>', r.text)
    assert shown, r.text[-400:]
    message = html.unescape(shown.group(1))
    assert re.search(match, message), message
    assert "\n" not in message
    assert "Traceback" not in r.text
    assert "<script>alert" not in r.text
    p = client.post(f"/api/preview/{k.index}", data=form)
    assert p.status_code == 400
    assert re.search(match, p.json()["error"])
    assert decisions(db_url) == []


def test_edit_panel_and_its_keys_are_on_the_page(client: TestClient, report_path: Path) -> None:
    k = next(x for x in conflicts_of(load_report(report_path)) if x.label_set == "entities")
    login(client, "rev1")
    page = client.get(f"/c/{k.index}").text
    for i in range(len(next(iter(k.versions.values())))):
        assert f'name="e0-keep-{i}"' in page
        assert f'name="e0-start-{i}"' in page
    assert f'max="{len(k.item["text"])}"' in page
    for key in ("<kbd>t</kbd>", "<kbd>d</kbd>", "<kbd>r</kbd>", "<kbd>[</kbd>", "<kbd>}</kbd>", "<kbd>s</kbd>"):
        assert key in page
    assert '<option value="PER">' in page  # the label set's classes the report knows, not only this conflict's
    # the preview needs the session's CSRF token and a reviewer
    assert client.post(f"/api/preview/{k.index}", data={"edit_from": "x"}).status_code == 403


# ------------------------------------------------------------------ images: a confined folder, one Label Studio host

PNG_SIZE = (64, 48)


def _png(path: Path, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", PNG_SIZE, colour).save(path, format="PNG")
    return path.read_bytes()


def _with_image(report_path: Path, tmp_path: Path, image: str) -> tuple[Path, int]:
    """A copy of the report whose first box conflict names ``image``; returns (path, conflict number)."""
    report = json.loads(report_path.read_text())
    n = next(i for i, c in enumerate(report["conflicts"]["items"]) if c["label_set"] == "objects")
    report["conflicts"]["items"][n]["item"]["image"] = image
    p = tmp_path / f"report-{abs(hash(image))}.json"
    p.write_text(json.dumps(report))
    return p, n


def test_report_carries_the_items_image(report_path: Path) -> None:
    k = next(x for x in conflicts_of(load_report(report_path)) if x.label_set == "objects")
    # the bundled sample is a Label Studio export: tasks name their image as /data/upload/<project>/<file>
    assert re.fullmatch(r"/data/upload/\d+/street_\d+\.jpg", k.item["image"])


@pytest.fixture
def media_dirs(tmp_path: Path) -> tuple[Path, Path, bytes, bytes]:
    """(media root, outside folder, the good image's bytes, the outside secret's bytes)."""
    root, outside = tmp_path / "media", tmp_path / "outside"
    good = _png(root / "img" / "street.png")
    secret = _png(outside / "secret.png", (1, 2, 3))
    (root / "link.png").symlink_to(outside / "secret.png")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    (root / "notes.txt").write_text("not an image")
    return root, outside, good, secret


def test_media_root_serves_the_items_image(report_path: Path, db_url: str, tmp_path: Path,
                                           media_dirs: tuple[Path, Path, bytes, bytes]) -> None:
    from accord.review.media import MediaSource

    root, _, good, _ = media_dirs
    p, n = _with_image(report_path, tmp_path, "img/street.png")
    c = TestClient(create_app(Settings(report_path=p, db_url=db_url, secret=b"s" * 32,
                                       media=MediaSource(root=root))))
    assert c.get(f"/media/{n}", follow_redirects=False).status_code == 303  # signed out: to the login page
    login(c, "rev1")
    r = c.get(f"/media/{n}")
    assert r.status_code == 200
    assert r.content == good
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    page = c.get(f"/c/{n}").text
    assert f'<image class="rr-image" href="/media/{n}"' in page
    assert page.index('class="rr-placeholder"') < page.index("<image") < page.index("<rect data-kind")
    # another conflict's image comes from its own item, never from the request
    assert c.get(f"/media/{n}?path=../outside/secret.png").content == good
    other = next(i for i, k in enumerate(conflicts_of(load_report(p))) if k.label_set == "objects" and i != n)
    assert c.get(f"/media/{other}").status_code == 404  # its image is a Label Studio URL and no LS is configured


@pytest.mark.parametrize("ref", [
    "../outside/secret.png", "img/../../outside/secret.png", "%2e%2e/outside/secret.png",
    "%2e%2e%2foutside%2fsecret.png", "%252e%252e/outside/secret.png", "ABS",
    "..\\outside\\secret.png", "link.png", "dirlink/secret.png", "notes.txt",
    "img/street.png\x00.txt", "file:///etc/passwd", "http://127.0.0.1:1/x.png", "", "img",
])
def test_image_paths_that_leave_the_media_root_give_404(report_path: Path, db_url: str, tmp_path: Path,
                                                        media_dirs: tuple[Path, Path, bytes, bytes],
                                                        monkeypatch: pytest.MonkeyPatch, ref: str) -> None:
    from accord.review import media

    root, outside, _, secret = media_dirs
    if ref == "ABS":
        ref = str(outside / "secret.png")
    read: list[Path] = []
    real_read = media.MediaSource._read
    monkeypatch.setattr(media.MediaSource, "_read", lambda self, path: read.append(path) or real_read(self, path))
    p, n = _with_image(report_path, tmp_path, ref)
    c = TestClient(create_app(Settings(report_path=p, db_url=db_url, secret=b"s" * 32,
                                       media=media.MediaSource(root=root))))
    login(c, "rev1")
    r = c.get(f"/media/{n}")
    assert r.status_code == 404, ref
    assert secret not in r.content
    assert "placeholder" in r.text
    assert all(x.resolve().is_relative_to(root.resolve()) for x in read), read  # nothing outside was opened
    assert 'class="rr-placeholder"' in c.get(f"/c/{n}").text


def test_absolute_image_paths_are_refused(media_dirs: tuple[Path, Path, bytes, bytes]) -> None:
    from accord.review.media import MediaSource, confined_path

    root, outside, good, _ = media_dirs
    assert confined_path(root, str(outside / "secret.png")) is None
    assert confined_path(root, str(root / "img" / "street.png")) is None  # absolute even inside: refused
    assert confined_path(root, "img/street.png") == (root / "img" / "street.png").resolve()
    assert MediaSource(root=root).get("img/street.png") == (good, "image/png")
    assert MediaSource(root=root, max_bytes=len(good) - 1).get("img/street.png") is None  # size cap


class _FakeLabelStudio:
    """A local HTTP server standing in for the configured Label Studio host: it serves ``/data/upload/...``
    to requests with the right token and records every request's path and Authorization header."""

    def __init__(self, token: str, image: bytes) -> None:
        import http.server
        import threading

        self.seen: list[tuple[str, str | None]] = []
        self.redirect_to = ""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append((self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Token {token}":
                    self._answer(401, "application/json", b'{"detail": "no token"}')
                elif self.path.endswith("/redirect.jpg"):
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.end_headers()
                elif self.path.endswith("/page.jpg"):
                    self._answer(200, "text/html", b"<html>login</html>")
                elif self.path.endswith(".svg"):
                    self._answer(200, "image/svg+xml", b"<svg onload='alert(1)'/>")
                elif self.path.startswith("/data/upload/"):
                    self._answer(200, "image/png", image)
                else:
                    self._answer(404, "text/plain", b"no")

            def _answer(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_label_studio_images_come_from_the_configured_host_only(report_path: Path, db_url: str,
                                                                tmp_path: Path) -> None:
    from accord.review.media import MediaSource

    image = _png(tmp_path / "ls.png")
    ls, elsewhere = _FakeLabelStudio("tok-123", image), _FakeLabelStudio("tok-123", b"x")
    try:
        src = MediaSource(label_studio_url=ls.url, token="tok-123")
        assert src.get("/data/upload/1/street_000.jpg") == (image, "image/png")
        assert src.get(f"{ls.url}/data/upload/1/street_000.jpg") == (image, "image/png")  # same host, absolute
        assert ls.seen == [("/data/upload/1/street_000.jpg", "Token tok-123")] * 2
        # another host, even named by a /data/ path, a userinfo trick, or a redirect: never contacted
        for ref in (f"{elsewhere.url}/data/upload/1/a.jpg", f"http://user@{elsewhere.url[7:]}/data/upload/1/a.jpg",
                    f"{ls.url}@{elsewhere.url[7:]}/data/upload/1/a.jpg", "//" + elsewhere.url[7:] + "/data/x.jpg",
                    f"{ls.url}/static/not-data.jpg"):
            assert src.get(ref) is None, ref
        ls.redirect_to = f"{elsewhere.url}/data/upload/1/stolen.jpg"
        assert src.get("/data/upload/1/redirect.jpg") is None
        assert elsewhere.seen == []  # the token never left for another host
        assert src.get("/data/upload/1/page.jpg") is None  # not an image
        assert src.get("/data/upload/1/evil.svg") is None  # SVG can carry scripts
        assert MediaSource(label_studio_url=ls.url, token="tok-123", max_bytes=10).get("/data/upload/1/a.jpg") is None
        assert MediaSource(label_studio_url=ls.url, token="wrong").get("/data/upload/1/a.jpg") is None
        # through the app: the sample's own /data/upload/... image of a box conflict
        c = TestClient(create_app(Settings(report_path=report_path, db_url=db_url, secret=b"s" * 32, media=src)))
        n = index_of(report_path, "objects")
        login(c, "rev1")
        r = c.get(f"/media/{n}")
        assert r.status_code == 200
        assert r.content == image
        assert ls.seen[-1][0] == load_report(report_path)["conflicts"]["items"][n]["item"]["image"]
        login(c, ANNOTATOR)
        own = next(x.index for x in conflicts_of(load_report(report_path)) if x.label_set == "objects"
                   and ANNOTATOR in x.versions)
        assert c.get(f"/media/{own}").status_code == 200  # an annotator sees the images of her own work
    finally:
        ls.close()
        elsewhere.close()


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Label Studio server (tests/ls_server.py), stopped after this module."""
    sys.path.insert(0, str(Path(__file__).parent))
    import ls_server

    binary = ls_server.find_label_studio()
    if binary is None:  # the CI installs it with scripts/install_label_studio.sh
        pytest.skip("no Label Studio venv (run scripts/install_label_studio.sh)")
    server = ls_server.start_from_template(binary, tmp_path_factory.mktemp("ls"))
    try:
        yield server
    finally:
        server.stop()


def _ls_call(server: Any, method: str, path: str, body: bytes | None = None,
             ctype: str = "application/json") -> Any:
    import urllib.request

    headers = {"Authorization": f"Token {server.token}", **({"Content-Type": ctype} if body is not None else {})}
    with urllib.request.urlopen(urllib.request.Request(server.url + path, data=body, method=method,
                                                       headers=headers), timeout=30) as r:
        return json.loads(r.read())


@pytest.mark.integration
def test_an_image_uploaded_to_a_real_label_studio_is_served(label_studio: Any, report_path: Path, db_url: str,
                                                            tmp_path: Path) -> None:
    from accord.review.media import MediaSource

    png = _png(tmp_path / "street.png", (9, 99, 199))
    config = ('<View><Image name="image" value="$image"/><RectangleLabels name="objects" toName="image">'
              '<Label value="Person"/></RectangleLabels></View>')
    pid = _ls_call(label_studio, "POST", "/api/projects", json.dumps({"title": "review images",
                                                                      "label_config": config}).encode())["id"]
    boundary = "accord-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="street.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
    _ls_call(label_studio, "POST", f"/api/projects/{pid}/import", body, f"multipart/form-data; boundary={boundary}")
    tasks = _ls_call(label_studio, "GET", f"/api/tasks?project={pid}")
    image = (tasks["tasks"] if isinstance(tasks, dict) else tasks)[0]["data"]["image"]
    assert image.startswith(f"/data/upload/{pid}/")  # Label Studio's own URL of the upload
    p, n = _with_image(report_path, tmp_path, image)
    src = MediaSource(label_studio_url=label_studio.url, token=label_studio.token)
    c = TestClient(create_app(Settings(report_path=p, db_url=db_url, secret=b"s" * 32, media=src)))
    login(c, "rev1")
    r = c.get(f"/media/{n}")
    assert r.status_code == 200
    assert r.content == png
    assert r.headers["content-type"] == "image/png"
    # Label Studio refuses the upload without the right token (401): the page keeps its placeholder
    assert MediaSource(label_studio_url=label_studio.url, token="not-the-token").get(image) is None
    assert MediaSource(label_studio_url=label_studio.url).get(image) is None


def test_serve_refuses_a_bad_media_root_or_label_studio_url(report_path: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    base = ["review", "serve", "--report", str(report_path), "--db", f"sqlite:///{tmp_path / 'l.db'}"]
    assert main([*base, "--media-root", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    for bad in ("ftp://ls.example", "localhost:8080", "http://"):
        assert main([*base, "--label-studio-url", bad]) == 2
        err = capsys.readouterr().err
        assert "must be http(s)://host[:port]" in err
        assert err.count("\n") == 1
