"""The review web app (``accord review serve``): FastAPI, server-rendered Jinja2 pages, a little plain JS.

Every route checks the signed-in user's role server-side (read from the users table on each
request); every POST form carries the session's CSRF token (missing or wrong: 403); every action
is a ledger decision (who, role, when). Errors reach the client as one line, never a traceback.
Conflicts are addressed by their number in the report's queue (``/c/{n}``, an integer), so no
path is ever built from a request; static files come from the package folder only. Item images
(``/media/{n}``) are looked up from the conflict's item in the report and read or fetched by
:mod:`.media` (a confined folder, or the one configured Label Studio host).

Edits (``choice=edit``) start from one annotator's version: per region keep or drop, a new class
(one of the label set's classes the report knows), a moved start / end for spans (characters) and
segments (seconds); every field is validated by :func:`.queue.apply_edit` (400 with one line
otherwise). ``POST /api/preview/{n}`` draws the edited version with :mod:`.render` before it is
applied.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord.core.qa.conflicts import Resolution
from accord.store.db import Database, dialect_of
from accord.store.ledger import Ledger

from . import render
from .auth import ROLES, AuthError, Sessions, User, add_user, authenticate, csrf_ok, ensure_tables, list_users
from .media import MediaSource
from .queue import (
    SECOND,
    Conflict,
    Decision,
    Policy,
    QueueError,
    Stage,
    apply_edit,
    conflicts_of,
    decisions_by_key,
    label_vocabulary,
    last_first_pass,
    load_report,
    may_act,
    read_policies,
    reviewer_scores,
    same_decision,
    stage_of,
    write_policy,
)

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "accord_review"
ACTIONS = ("accept", "consensus", "edit", "ambiguous", "escalate")
CLASS_KINDS = ("classification", "multilabel")
MAX_FIELD = 2000
MAX_FORM_FIELDS = 4000


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What the app serves: a report's queue, the ledger database, the cookie secret."""

    report_path: Path
    db_url: str
    secret: bytes
    seed: int = 0
    secure_cookie: bool = False
    media: MediaSource = field(default_factory=MediaSource)


def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    env.globals["render_css"] = Markup(render.CSS)
    return env


def render_conflict(c: Conflict, versions: dict[str, Any] | None = None, size_px: int = 320,
                    image_href: str | None = None, colors: dict[str, str] | None = None) -> Markup:
    """Every version of a conflict drawn by ``review.render`` (its output escapes every data string);
    ``image_href`` is the app's URL of the item's image, drawn under the shapes."""
    it = c.item
    html = render.render_versions(versions if versions is not None else c.versions, kind=c.kind,
                                  width=it.get("width"), height=it.get("height"), text=it.get("text"),
                                  duration=it.get("duration_s"), size_px=size_px, image_href=image_href,
                                  colors=colors)
    return Markup(html)


def describe_region(v: Any) -> str:
    """One region of a version as a short line for the edit panel (kind, class, where)."""
    if not isinstance(v, dict):
        return repr(v)[:80]
    kind, lab = v.get("kind"), v.get("label")
    where = ""
    if kind == "box":
        where = f"({float(v['x']):.0f},{float(v['y']):.0f}) {float(v['width']):.0f}×{float(v['height']):.0f}"
    elif kind == "span":
        where = f"[{v.get('start')}:{v.get('end')}]" + (f" “{v['text']}”" if isinstance(v.get("text"), str) else "")
    elif kind == "segment":
        where = f"{float(v['start']):g}–{float(v['end']):g} {'frames' if v.get('unit') == 'frame' else 's'}"
    elif kind in ("polygon", "polyline", "keypoints"):
        where = f"{len(v.get('points') or [])} points"
    return " ".join(x for x in (str(kind), str(lab) if lab is not None else "", where) if x)


def describe(chosen: Any) -> str:
    """A decision as one short line."""
    if isinstance(chosen, str):
        return chosen
    if isinstance(chosen, dict):
        if chosen.get("status") == "escalated":
            return "escalated to an expert"
        if chosen.get("status") == "ambiguous":
            soft = chosen.get("soft") or {}
            return "ambiguous (" + ", ".join(f"{k} {v:.2f}" for k, v in soft.items()) + ")"
        src = chosen.get("from") or chosen.get("accept")
        if chosen.get("accept") == "edit":
            if chosen.get("label"):
                return f"edited from {src}: {chosen.get('label')}"
            return f"edited from {src}: {len(chosen.get('values') or [])} region(s) kept"
        if chosen.get("accept") == "consensus":
            return f"consensus (version of {src})"
        return f"version of {src}"
    return repr(chosen)


class State:
    """The app's loaded report (read once) and its settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.report = load_report(settings.report_path)
        self.conflicts = conflicts_of(self.report)
        self.labels = label_vocabulary(self.report, self.conflicts)
        self.sessions = Sessions(settings.secret)
        self.env = templates()
        db = Ledger.init(settings.db_url).db
        try:
            ensure_tables(db)
        finally:
            db.close()

    def page(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(**ctx), status_code=status)


def _short(v: str, what: str) -> str:
    if len(v) > MAX_FIELD:
        raise HTTPException(400, f"{what} is too long ({len(v)} characters); keep it under {MAX_FIELD}")
    return v.strip()


def _state(request: Request) -> State:
    st: State = request.app.state.review
    return st


class _PerThread:
    """A SQLite ledger seen through one connection per worker thread.

    FastAPI runs each sync dependency, the route and the teardown with ``run_in_threadpool``, and
    these calls of one request may land on different worker threads; a sqlite3 connection refuses
    use from any thread but its own (``ProgrammingError``, seen under the browser test's concurrent
    requests). Every attribute is looked up on the calling thread's own connection instead.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.local = threading.local()

    def __getattr__(self, name: str) -> Any:
        db = getattr(self.local, "db", None)
        if db is None:
            db = self.local.db = Database(self.url)
        return getattr(db, name)


def get_db(request: Request) -> Iterator[Database]:
    """The ledger: one connection per worker thread for SQLite (see :class:`_PerThread`), else per request."""
    url = _state(request).settings.db_url
    if dialect_of(url) == "sqlite":
        shared = getattr(request.app.state, "review_db", None)
        if shared is None or shared.url != url:
            shared = request.app.state.review_db = _PerThread(url)
        yield cast(Database, shared)
        return
    db = Database(url)
    try:
        yield db
    finally:
        db.close()


DB = Annotated[Database, Depends(get_db)]


def session_of(request: Request) -> dict[str, Any] | None:
    return _state(request).sessions.unsign(request.cookies.get(COOKIE))


class Ctx:
    """The signed-in user, their session and the request's database connection."""

    def __init__(self, user: User, session: dict[str, Any], db: Database) -> None:
        self.user, self.session, self.db = user, session, db


def need(*roles: str) -> Any:
    """A dependency admitting a live session whose user (role read now from the users table) has a role."""
    def dep(request: Request, db: DB) -> Ctx:
        data = session_of(request)
        user = Sessions.user_of(db, data)
        if user is None or data is None:
            raise HTTPException(401, "sign in first")
        if user.role not in roles:
            raise HTTPException(403, f"this page is for {' / '.join(roles)}; you are signed in as {user.role}")
        return Ctx(user, data, db)
    return dep


async def check_csrf(request: Request) -> None:
    """403 unless the POSTed form's ``csrf`` matches the session's token."""
    if request.method == "POST":
        form = await request.form()
        token = form.get("csrf")
        if not csrf_ok(session_of(request), token if isinstance(token, str) else None):
            raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page and try again")


Anyone = Annotated[Ctx, Depends(need(*ROLES))]
Staff = Annotated[Ctx, Depends(need("reviewer", "expert", "admin"))]
Admin = Annotated[Ctx, Depends(need("admin"))]
Annotator = Annotated[Ctx, Depends(need("annotator"))]
CSRF = [Depends(check_csrf)]
async def form_fields(request: Request) -> dict[str, str]:
    """The POSTed form's text fields (first value of each name), bounded in number and size."""
    form = await request.form()
    items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    if len(items) > MAX_FORM_FIELDS:
        raise HTTPException(400, f"the form has {len(items)} fields; at most {MAX_FORM_FIELDS} are read")
    out: dict[str, str] = {}
    for k, v in items:
        out.setdefault(k[:100], _short(v, f"field {k[:40]!r}"))
    return out


FormFields = Annotated[dict[str, str], Depends(form_fields)]
Field = Annotated[str, Form()]
OptField = Annotated[str, Form()]


def create_app(settings: Settings) -> FastAPI:
    """The review app for these settings (the report is read now; a bad one raises ``QueueError``)."""
    st = State(settings)
    app = FastAPI(title="accord review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.review = st
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def set_cookie(resp: Response, data: dict[str, Any]) -> None:
        resp.set_cookie(COOKIE, st.sessions.sign(data), httponly=True, samesite="lax",
                        secure=settings.secure_cookie, max_age=12 * 3600, path="/")

    def base_ctx(c: Ctx, **more: Any) -> dict[str, Any]:
        return {"user": c.user, "csrf": c.session.get("csrf", ""), **more}

    def decisions(db: Database) -> dict[tuple[str, str], list[Decision]]:
        return decisions_by_key(Ledger(db).decisions())

    def visible_queue(c: Ctx) -> list[tuple[Conflict, Stage]]:
        by_key, pols = decisions(c.db), read_policies(c.db)
        out: list[tuple[Conflict, Stage]] = []
        for k in st.conflicts:
            ds = by_key.get((k.item_id, k.label_set), [])
            s = stage_of(k, ds, pols, settings.seed)
            if s != "resolved" and may_act(c.user.role, c.user.name, s, ds):
                out.append((k, s))
        return out

    def conflict(n: int) -> Conflict:
        if not 0 <= n < len(st.conflicts):
            raise HTTPException(404, f"no conflict {n}; the queue has {len(st.conflicts)}")
        return st.conflicts[n]

    # ---------------------------------------------------------------- errors
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and request.method == "GET" and not request.url.path.startswith("/api/"):
            return RedirectResponse("/login", status_code=303)
        msg = str(exc.detail) if exc.status_code != 404 or exc.detail != "Not Found" else "no such page"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": msg}, status_code=exc.status_code)
        return st.page("error.html", status=exc.status_code, message=msg, user=None)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted({str(e.get("loc", ("?",))[-1]) for e in exc.errors()})
        return st.page("error.html", status=400, user=None,
                       message=f"the request is missing or has bad fields: {', '.join(fields)}")

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        logger.exception("review app: %s %s failed", request.method, request.url.path)
        return st.page("error.html", status=500, user=None,
                       message="internal error; the server log has the details")

    # ---------------------------------------------------------------- login
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        data = session_of(request)
        if not data or "csrf" not in data or "sid" in data:
            data = Sessions.anonymous()
        page = st.page("login.html", user=None, csrf=data["csrf"], error=None)
        set_cookie(page, data)
        return page

    @app.post("/login", dependencies=CSRF)
    def login(request: Request, username: Field, password: Field,
              db: DB) -> Response:
        old = session_of(request)
        user = authenticate(db, username[:200], password[:1000])
        if user is None:
            data = Sessions.anonymous()
            resp: Response = st.page("login.html", status=401, user=None, csrf=data["csrf"],
                           error="wrong user name or password")
            set_cookie(resp, data)
            return resp
        Sessions.end(db, old)  # a session id planted before login never survives it
        data = Sessions.start(db, user)
        resp = RedirectResponse("/", status_code=303)
        set_cookie(resp, data)
        return resp

    @app.post("/logout", dependencies=CSRF)
    def logout(c: Anyone) -> Response:
        Sessions.end(c.db, c.session)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @app.get("/")
    def home(c: Anyone) -> Response:
        return RedirectResponse("/mine" if c.user.role == "annotator" else "/queue", status_code=303)

    # ---------------------------------------------------------------- queue and conflicts
    @app.get("/queue", response_class=HTMLResponse)
    def queue(c: Staff) -> Response:
        rows = visible_queue(c)
        n_open = len(rows)
        return st.page("queue.html", **base_ctx(c, rows=rows, n_open=n_open, n_total=len(st.conflicts)))

    @app.get("/c/{n}", response_class=HTMLResponse)
    def conflict_page(n: int, c: Staff) -> Response:
        k = conflict(n)
        by_key = decisions(c.db)
        ds = by_key.get((k.item_id, k.label_set), [])
        s = stage_of(k, ds, read_policies(c.db), settings.seed)
        if s != "resolved" and not may_act(c.user.role, c.user.name, s, ds):
            raise HTTPException(403, "this conflict waits for another reviewer or an expert")
        order = [x.index for x, _ in visible_queue(c)]
        pos = order.index(n) if n in order else -1
        prev_n = order[pos - 1] if pos > 0 else None
        next_n = order[pos + 1] if 0 <= pos < len(order) - 1 else (order[0] if pos < 0 and order else None)
        history = [] if s == "second" else ds  # second passes are blind
        annotators = list(k.versions)
        return st.page("conflict.html", **base_ctx(
            c, k=k, stage=s, drawing=render_conflict(k, image_href=image_href(k), colors=palette(k)),
            annotators=annotators,
            history=history, describe=describe, prev_n=prev_n, next_n=next_n, suggestion=describe(k.suggestion) if
            k.suggestion is not None else None, class_kind=k.kind in CLASS_KINDS,
            labels=sorted(st.labels.get(k.label_set, ())), describe_region=describe_region,
            movable=("span", "segment")))

    def palette(k: Conflict) -> dict[str, str]:
        """One colour per class of the label set, so a relabelled region shows its new class's colour."""
        return render.label_colors(st.labels.get(k.label_set, ()))

    def image_href(k: Conflict) -> str | None:
        """The app's URL of the item's image when a media source is configured and the item names one."""
        if k.kind in render.IMAGE_KINDS and settings.media.configured and isinstance(k.item.get("image"), str):
            return f"/media/{k.index}"
        return None

    @app.get("/media/{n}")
    def media(n: int, c: Anyone) -> Response:
        """The conflict's item image, looked up from the report (never from the request)."""
        k = conflict(n)
        if c.user.role == "annotator" and c.user.name not in k.versions:
            raise HTTPException(403, "annotators see only the images of their own work")
        got = settings.media.get(k.item.get("image")) if image_href(k) else None
        if got is None:
            raise HTTPException(404, f"no image reachable for conflict {n}; the page shows a placeholder canvas")
        return Response(got[0], media_type=got[1], headers={
            "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'",
            "Cache-Control": "private, max-age=600"})

    def open_for(c: Ctx, k: Conflict) -> tuple[list[Decision], Stage]:
        ds = decisions(c.db).get((k.item_id, k.label_set), [])
        s = stage_of(k, ds, read_policies(c.db), settings.seed)
        if s == "resolved":
            raise HTTPException(409, "this conflict is resolved already")
        if not may_act(c.user.role, c.user.name, s, ds):
            raise HTTPException(403, "this conflict waits for another reviewer or an expert")
        return ds, s

    @app.post("/api/preview/{n}", dependencies=CSRF)
    def preview(n: int, c: Staff, form: FormFields) -> Response:
        """The edit panel's result drawn as the page draws versions (or a one-line error, 400)."""
        k = conflict(n)
        open_for(c, k)
        annotator = form.get("edit_from", "")
        try:
            values = apply_edit(k, annotator, form, st.labels.get(k.label_set, frozenset()),
                                relabel_all=form.get("label", ""))
        except QueueError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return JSONResponse({"n_regions": len(values), "html": str(render_conflict(
            k, {f"edited (from {annotator})": values}, image_href=image_href(k), colors=palette(k)))})

    @app.post("/c/{n}/decide", dependencies=CSRF)
    def decide(n: int, choice: Field, c: Staff, form: FormFields, edit_from: OptField = "", label: OptField = "",
               rationale: OptField = "", rule: OptField = "") -> Response:
        k = conflict(n)
        action, _, annotator = choice.partition(":")
        if action == "edit":
            annotator = edit_from
        if action not in ACTIONS:
            raise HTTPException(400, f"action must be one of {', '.join(ACTIONS)}; got {action[:40]!r}")
        rationale, rule = _short(rationale, "the rationale"), _short(rule, "the rule")
        label = _short(label, "the label")
        ledger = Ledger(c.db)
        ds, s = open_for(c, k)
        chosen = choose(k, action, annotator, label, form)
        role = (c.user.role + SECOND if s == "second" else
                ("expert" if c.user.role == "expert" else f"expert ({c.user.role})") if s == "expert"
                else c.user.role)

        def record(value: Any, why: str) -> None:
            ledger.record_decision(Resolution(item_id=k.item_id, label_set=k.label_set, decided_by=c.user.name,
                                              chosen=value, reason=why, guideline_rule=rule or None), role=role)

        record(chosen, rationale)
        if s == "second" and action != "escalate":
            first = last_first_pass(ds)
            if first is not None and not same_decision(first.chosen, chosen):
                record({"status": "escalated", "why": "the second pass disagrees with the first"},
                       f"second pass by {c.user.name} disagrees with {first.reviewer}")
        order = [x.index for x, _ in visible_queue(c)]
        later = [i for i in order if i > n] or order
        return RedirectResponse(f"/c/{later[0]}" if later else "/queue", status_code=303)

    def choose(k: Conflict, action: str, annotator: str, label: str, form: dict[str, str]) -> Any:
        if action == "escalate":
            return {"status": "escalated", "why": "escalated by the reviewer"}
        if action == "ambiguous":
            labels = Counter(lab for vs in k.versions.values() for v in vs
                             if isinstance(lab := v.get("label"), str))
            total = sum(labels.values())
            return {"status": "ambiguous", "soft": {a: round(b / total, 6) for a, b in sorted(labels.items())}
                    if total else {}}
        if action == "consensus":
            if k.suggestion is None:
                raise HTTPException(400, "this conflict has no consensus suggestion; accept a version instead")
            return k.suggestion
        if annotator not in k.versions:
            raise HTTPException(400, f"annotator must be one of this conflict's: {', '.join(k.versions)}")
        values = list(k.versions[annotator])
        if action == "accept":
            if k.kind in CLASS_KINDS and values and isinstance(values[0].get("label"), str):
                return values[0]["label"]
            return {"accept": annotator, "values": values}
        known = st.labels.get(k.label_set, frozenset())
        if k.kind in CLASS_KINDS:
            if label not in known:
                raise HTTPException(400, f"class {label[:60]!r} is not a class of label set {k.label_set!r}; "
                                         f"pick one of {', '.join(sorted(known))}")
            return label
        try:
            edited = apply_edit(k, annotator, form, known, relabel_all=label)
        except QueueError as e:
            raise HTTPException(400, str(e)) from e
        out: dict[str, Any] = {"accept": "edit", "from": annotator, "values": edited}
        if label:
            out["label"] = label
        return out

    # ---------------------------------------------------------------- annotators
    @app.get("/mine", response_class=HTMLResponse)
    def mine(c: Annotator) -> Response:
        by_key = decisions(c.db)
        rows = []
        for k in st.conflicts:
            if c.user.name not in k.versions:
                continue
            ds = by_key.get((k.item_id, k.label_set), [])
            final = [d for d in ds if d.status != "escalated"]
            s = stage_of(k, ds, read_policies(c.db), settings.seed)
            fb = final[-1] if final and s == "resolved" else None
            rows.append({"k": k, "drawing": render_conflict(k, {c.user.name: k.versions[c.user.name]}, 240),
                         "feedback": fb, "outcome": describe(fb.chosen) if fb else None})
        return st.page("mine.html", **base_ctx(c, rows=rows))

    # ---------------------------------------------------------------- admin
    @app.get("/admin/users", response_class=HTMLResponse)
    def users(c: Admin) -> Response:
        return st.page("users.html", **base_ctx(c, users=list_users(c.db), roles=ROLES, error=None))

    @app.post("/admin/users", dependencies=CSRF)
    def users_add(username: Field, role: Field, password: Field,
                  c: Admin) -> Response:
        try:
            add_user(c.db, username[:200], role[:40], password[:1000])
        except AuthError as e:
            return st.page("users.html", status=400, **base_ctx(c, users=list_users(c.db), roles=ROLES,
                                                                 error=str(e)))
        return RedirectResponse("/admin/users", status_code=303)

    @app.get("/admin/policy", response_class=HTMLResponse)
    def policy(c: Admin) -> Response:
        pols = read_policies(c.db)
        sets = sorted({k.label_set for k in st.conflicts} | set(pols))
        return st.page("policy.html", **base_ctx(c, sets=sets, pols=pols, default=Policy(), error=None))

    @app.post("/admin/policy", dependencies=CSRF)
    def policy_set(label_set: Field, passes: Field, c: Admin, second_pass_share: OptField = "0") -> Response:
        known = {k.label_set for k in st.conflicts}
        if label_set not in known:
            raise HTTPException(400, f"label set must be one of the report's: {', '.join(sorted(known))}")
        try:
            pol = Policy.parse(passes[:10], second_pass_share[:20])
        except QueueError as e:
            raise HTTPException(400, str(e)) from e
        write_policy(c.db, label_set, pol, by=c.user.name)
        return RedirectResponse("/admin/policy", status_code=303)

    @app.get("/admin/scores", response_class=HTMLResponse)
    def scores(c: Admin) -> Response:
        return st.page("scores.html", **base_ctx(c, scores=reviewer_scores(decisions(c.db))))

    @app.get("/api/scores")
    def scores_json(c: Admin) -> Response:
        return JSONResponse({"reviewers": reviewer_scores(decisions(c.db)),
                             "definition": "agreement of each first-pass reviewer with second passes and with "
                                           "experts on the same conflict; Wilson 95% intervals"})

    @app.get("/api/queue")
    def queue_json(c: Staff) -> Response:
        return JSONResponse({"open": [{"n": k.index, "item_id": k.item_id, "label_set": k.label_set, "stage": s}
                                      for k, s in visible_queue(c)]})

    return app


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def gallery_html(conflicts: Sequence[Conflict], by_key: dict[tuple[str, str], list[Decision]],
                 *, title: str = "Edge-case gallery") -> str:
    """Resolved conflicts with their rationale, grouped by guideline rule (self-contained HTML)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for k in conflicts:
        ds = by_key.get((k.item_id, k.label_set), [])
        final = [d for d in ds if d.status != "escalated"]
        if not final or ds[-1].status == "escalated":
            continue
        d = final[-1]
        groups.setdefault(d.guideline_rule or "(no rule cited)", []).append(
            {"k": k, "d": d, "outcome": describe(d.chosen), "drawing": render_conflict(k, size_px=220)})
    env = templates()
    return env.get_template("gallery.html").render(title=title, groups=sorted(groups.items()),
                                                   n=sum(len(v) for v in groups.values()))
