"""The review web app (``accord review``) through FastAPI's TestClient.

The report is the bundled sample's (``accord demo``): image boxes, text classes, NER spans, audio
speaker segments and transcripts, three annotators. Users are real argon2 accounts in a real SQLite
ledger; every decision is read back from the ledger.
"""

from __future__ import annotations

import io
import json
import math
import re
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
    c.post(f"/c/{k.index}/decide", data={"choice": "edit", "edit_from": a, "label": "zzz-other", "csrf": token})
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
