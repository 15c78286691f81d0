"""A localhost HTTP server that answers like CVAT 2.80's API, for tests of the SDK path.

CVAT's server cannot run here (no Docker, not in any registry), and cvat-sdk speaks
urllib3, so request mocking libraries do not intercept it. This server answers the
endpoints cvat-sdk 2.80 calls (``/api/server/about``, auth, tasks, jobs, labels,
annotations, data meta, data chunks for ``annotate_task``, issues, comments, job
PATCH, job annotations PATCH ``?action=create|update|delete``, issue PATCH) with bodies
built by the rules in ../shared/notes/cvat.md: every required
field of the SDK's generated models is present (TaskRead ``jobs`` and ``labels``
summaries, JobRead ``issues`` and ``labels``, ``organization`` even as null), lists are
paginated ``{"count", "next": null, "previous": null, "results"}``. The SDK parses
every response with its own models, so a drift in shape fails the tests loudly.

It records every request (method, path, query, JSON body) in :attr:`FakeCvat.requests`.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

VERSION = "2.80.0"
_DATE = "2026-11-27T10:00:00.000000Z"


def _user(uid: int, username: str) -> dict[str, Any]:
    return {"url": f"http://localhost/api/users/{uid}", "id": uid, "username": username,
            "first_name": "", "last_name": ""}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class FakeCvat:
    """The server's state: tasks, jobs, labels, annotations, frames, issues; and what it was sent."""

    base: str = ""
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by task
    meta: dict[int, dict[str, Any]] = field(default_factory=dict)  # by task
    annotations: dict[int, dict[str, Any]] = field(default_factory=dict)  # by job
    task_annotations: dict[int, dict[str, Any]] = field(default_factory=dict)  # uploads by task
    images: dict[int, list[bytes]] = field(default_factory=dict)  # encoded frames by task
    issues: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    projects: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    token: str = "pat-123"
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ builders

    def add_task(self, task_id: int, *, name: str, frames: list[tuple[str, int, int]],
                 labels: list[dict[str, Any]], mode: str = "annotation", project_id: int | None = None) -> None:
        self.tasks[task_id] = {
            "url": f"{self.base}/api/tasks/{task_id}", "id": task_id, "name": name, "project_id": project_id,
            "project_name": None, "mode": mode, "owner": _user(1, "owner"), "assignee": None,
            "bug_tracker": "", "created_date": _DATE, "updated_date": _DATE, "overlap": None,
            "segment_size": len(frames), "status": "annotation", "data_chunk_size": 72,
            "data_compressed_chunk_type": "imageset", "data_original_chunk_type": "imageset",
            "guide_id": None, "size": len(frames), "image_quality": 70, "data": task_id, "dimension": "2d",
            "subset": "", "organization": None, "target_storage": None, "source_storage": None,
            "assignee_updated_date": None, "validation_mode": None, "data_cloud_storage_id": None,
            "media_type": "video" if mode == "interpolation" else "image",
            "jobs": {"count": 0, "completed": 0, "validation": 0, "url": f"{self.base}/api/jobs?task_id={task_id}"},
            "labels": {"url": f"{self.base}/api/labels?task_id={task_id}"},
        }
        self.labels[task_id] = labels
        self.meta[task_id] = {
            "chunks_updated_date": _DATE, "chunk_size": 72, "size": len(frames), "image_quality": 70,
            "start_frame": 0, "stop_frame": len(frames) - 1, "frame_filter": "", "deleted_frames": [],
            "included_frames": None, "storage": "local", "cloud_storage_id": None, "chapters": None,
            "frames": [{"name": n, "width": w, "height": h, "related_files": 0, "has_related_context": False}
                       for n, w, h in frames],
        }

    def add_job(self, job_id: int, *, task_id: int, start: int, stop: int, assignee: str | None,
                job_type: str = "annotation", parent_job_id: int | None = None, replicas: int = 0,
                annotations: dict[str, Any] | None = None) -> None:
        uid = 100 + job_id
        self.jobs[job_id] = {
            "url": f"{self.base}/api/jobs/{job_id}", "id": job_id, "task_id": task_id,
            "project_id": self.tasks[task_id]["project_id"], "project_name": None,
            "task_name": self.tasks[task_id]["name"], "assignee": _user(uid, assignee) if assignee else None,
            "guide_id": None, "dimension": "2d", "bug_tracker": None, "status": "annotation", "stage": "annotation",
            "state": "new", "mode": self.tasks[task_id]["mode"], "frame_count": stop - start + 1,
            "start_frame": start, "stop_frame": stop, "data_chunk_size": 72, "data_compressed_chunk_type": "imageset",
            "data_original_chunk_type": "imageset", "created_date": _DATE, "updated_date": _DATE,
            "issues": {"url": f"{self.base}/api/issues?job_id={job_id}", "count": 0},
            "labels": {"url": f"{self.base}/api/labels?job_id={job_id}"}, "type": job_type,
            "organization": None, "target_storage": None, "source_storage": None, "assignee_updated_date": None,
            "parent_job_id": parent_job_id, "replicas_count": replicas,
            "media_type": self.tasks[task_id]["media_type"],
        }
        self.tasks[task_id]["jobs"]["count"] += 1
        self.annotations[job_id] = {"version": 1, "tags": [], "shapes": [], "tracks": [], **(annotations or {})}

    def add_project(self, project_id: int, *, name: str) -> None:
        self.projects[project_id] = {
            "url": f"{self.base}/api/projects/{project_id}", "id": project_id, "name": name,
            "owner": _user(1, "owner"), "assignee": None, "guide_id": None, "bug_tracker": "", "task_subsets": [],
            "created_date": _DATE, "updated_date": _DATE, "status": "annotation", "dimension": "2d",
            "organization": None, "organization_id": None, "target_storage": None, "source_storage": None,
            "assignee_updated_date": None,
            "tasks": {"count": 0, "url": f"{self.base}/api/tasks?project_id={project_id}"},
            "labels": {"url": f"{self.base}/api/labels?project_id={project_id}"},
        }

    # ------------------------------------------------------------------ routing

    def page(self, results: list[Any]) -> dict[str, Any]:
        return {"count": len(results), "next": None, "previous": None, "results": results}

    def issue_view(self, i: dict[str, Any]) -> dict[str, Any]:
        n = sum(c["issue"] == i["id"] for c in self.comments)
        return {**i, "comments": {"count": n, "url": f"{self.base}/api/comments?issue_id={i['id']}"}}

    def handle(self, method: str, path: str, q: dict[str, list[str]], body: Any
               ) -> tuple[int, Any, dict[str, str]]:
        p = path.rstrip("/")
        one = {k: v[0] for k, v in q.items()}
        parts = p.split("/")
        if p == "/api/server/about":
            return 200, {"name": "Computer Vision Annotation Tool", "description": "fake", "version": VERSION,
                         "logo_url": f"{self.base}/logo.svg", "subtitle": "test"}, {}
        if p == "/api/auth/login" and method == "POST":
            if body.get("password") != "secret":
                return 400, {"non_field_errors": ["Unable to log in with provided credentials."]}, {}
            return 200, {"key": "legacy-token"}, {"Set-Cookie": "csrftoken=abc; expires=Fri, 26 Nov 2027 10:00:00 GMT; "
                                                      "Max-Age=31449600; Path=/; SameSite=Lax",
                                        "X-Set-Cookie-2": "sessionid=s1; expires=Fri, 11 Dec 2026 10:00:00 GMT; "
                                                          "HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax"}
        if p == "/api/users/self":
            return 200, _user(1, "owner"), {}
        if p == "/api/tasks" and method == "GET":
            ts = [t for t in self.tasks.values()
                  if "project_id" not in one or str(t["project_id"]) == one["project_id"]]
            return 200, self.page(ts), {}
        if p == "/api/jobs" and method == "GET":
            js = [j for j in self.jobs.values()
                  if ("task_id" not in one or str(j["task_id"]) == one["task_id"])
                  and ("type" not in one or j["type"] == one["type"])]
            return 200, self.page(js), {}
        if p == "/api/labels":
            tid = int(one["task_id"]) if "task_id" in one else self.jobs[int(one["job_id"])]["task_id"]
            return 200, self.page(self.labels[tid]), {}
        if p == "/api/issues" and method == "GET":
            iss = [self.issue_view(i) for i in self.issues
                   if "job_id" not in one or str(i["job"]) == one["job_id"]]
            return 200, self.page(iss), {}
        if p == "/api/issues" and method == "POST":
            iid = len(self.issues) + 1
            issue = {"id": iid, "frame": body["frame"], "position": body["position"], "job": body["job"],
                     "owner": _user(1, "owner"), "assignee": None, "created_date": _DATE, "updated_date": _DATE,
                     "resolved": False}
            self.issues.append(issue)
            self.comments.append({"id": len(self.comments) + 1, "issue": iid, "owner": _user(1, "owner"),
                                  "message": body["message"], "created_date": _DATE, "updated_date": _DATE})
            return 201, self.issue_view(issue), {}
        if len(parts) == 4 and parts[2] == "issues" and method == "PATCH":
            issue = next((i for i in self.issues if str(i["id"]) == parts[3]), None)
            if issue is None:
                return 404, {"detail": "No Issue matches the given query."}, {}
            for k in ("resolved", "assignee", "position"):  # IssueWriteSerializer: frame, job, message write-once
                if k in body:
                    issue[k] = body[k]
            return 200, self.issue_view(issue), {}
        if p == "/api/comments" and method == "GET":
            cs = [c for c in self.comments if "issue_id" not in one or str(c["issue"]) == one["issue_id"]]
            return 200, self.page(cs), {}
        if len(parts) >= 4 and parts[2] == "projects" and method == "GET":
            pid = int(parts[3])
            return 200, self.projects[pid], {}
        if len(parts) >= 4 and parts[2] == "tasks":
            tid = int(parts[3])
            if tid not in self.tasks:
                return 404, {"detail": "No Task matches the given query."}, {}
            rest = parts[4:]
            if not rest:
                return 200, self.tasks[tid], {}
            if rest == ["data", "meta"]:
                return 200, self.meta[tid], {}
            if rest == ["data"] and one.get("type") == "chunk":
                return 200, self.chunk(tid), {"Content-Type": "application/zip"}
            if rest == ["annotations"] and method == "GET":
                merged = {"version": 1, "tags": [], "shapes": [], "tracks": []}
                for j in self.jobs.values():
                    if j["task_id"] == tid and j["type"] == "annotation":
                        for k in ("tags", "shapes", "tracks"):
                            merged[k] += self.annotations[j["id"]][k]
                return 200, merged, {}
            if rest == ["annotations"] and method in ("PATCH", "PUT"):
                self.task_annotations[tid] = body
                return 200, {"version": 2, "tags": body.get("tags", []), "shapes": body.get("shapes", []),
                             "tracks": body.get("tracks", [])}, {}
            if rest == ["validation_layout"]:
                return 200, {"mode": None, "frames": [], "honeypot_count": 0}, {}
        if len(parts) >= 4 and parts[2] == "jobs":
            jid = int(parts[3])
            if jid not in self.jobs:
                return 404, {"detail": "No Job matches the given query."}, {}
            rest = parts[4:]
            if not rest and method == "GET":
                return 200, self.jobs[jid], {}
            if not rest and method == "PATCH":
                for k in ("stage", "state", "assignee"):
                    if k in body:
                        self.jobs[jid][k] = body[k]
                return 200, self.jobs[jid], {}
            if rest == ["annotations"] and method == "PATCH":
                return self.patch_job_annotations(jid, one.get("action"), body)
            if rest == ["annotations"]:
                return 200, self.annotations[jid], {}
        return 404, {"detail": f"fake CVAT has no route for {method} {path}"}, {}

    def patch_job_annotations(self, jid: int, action: str | None, body: Any) -> tuple[int, Any, dict[str, str]]:
        """``PATCH /api/jobs/<id>/annotations?action=create|update|delete`` as CVAT's JobViewSet answers it.

        CVAT (cvat/apps/engine/views.py, ``annotations``) refuses another action with a DRF
        ValidationError (400, a JSON list), validates the body with LabeledDataSerializer
        (serializers.py: ``source`` defaults to "manual", ``group`` to null, ``rotation`` in
        [0, 360]), answers 400 with the error text when a label is unknown (an AttributeError in
        dm.task), and 200 with the data it applied: new ids on create; on update/delete the
        shapes/tags matched by id. Sub-shapes (skeleton elements) get ids of their own.
        """
        if action not in ("create", "update", "delete"):
            return 400, ["Please specify a correct 'action' for the request"], {}
        job = self.annotations[jid]
        tid = self.jobs[jid]["task_id"]
        known = {int(lab["id"]) for lab in self.labels[tid]}
        known |= {int(s["id"]) for lab in self.labels[tid] for s in lab.get("sublabels") or ()}
        kinds = ("tags", "shapes", "tracks")
        for kind in kinds:
            for a in body.get(kind) or ():
                for x in [a, *(a.get("elements") or ())]:
                    if int(x["label_id"]) not in known:
                        return 400, f"label_id {x['label_id']} is not a label of job {jid}", {}
                    if kind == "shapes" and not 0 <= float(x.get("rotation") or 0) <= 360:
                        return 400, {"shapes": [{"rotation": ["Ensure this value is less than or equal to 360."]}]}, {}
        out: dict[str, Any] = {"version": 0, "tags": [], "shapes": [], "tracks": []}
        if action == "create":
            for kind in kinds:
                for a in body.get(kind) or ():
                    stored = self.full(kind, a)
                    job[kind].append(stored)
                    out[kind].append(stored)
            return 200, out, {}
        for kind in kinds:
            ids = {int(a["id"]) for a in body.get(kind) or () if a.get("id") is not None}
            if action == "delete":
                out[kind] = [a for a in job[kind] if int(a["id"]) in ids]
                job[kind] = [a for a in job[kind] if int(a["id"]) not in ids]
            else:
                new = {int(a["id"]): a for a in body.get(kind) or () if a.get("id") is not None}
                job[kind] = [{**self.full(kind, new[int(a["id"])]), "id": a["id"]} if int(a["id"]) in new else a
                             for a in job[kind]]
                out[kind] = [a for a in job[kind] if int(a["id"]) in ids]
        return 200, out, {}

    def next_id(self) -> int:
        top = [int(x["id"]) for a in self.annotations.values() for kind in ("tags", "shapes", "tracks")
               for s in a[kind] for x in [s, *(s.get("elements") or ())] if x.get("id") is not None]
        return max(top, default=0) + 1

    def full(self, kind: str, a: dict[str, Any]) -> dict[str, Any]:
        """A shape or tag as CVAT returns it after saving (every field, defaults filled, a new id)."""
        base = {"id": self.next_id(), "label_id": int(a["label_id"]), "frame": int(a["frame"]),
                "group": a.get("group"), "source": a.get("source") or "manual", "attributes": a.get("attributes") or []}
        if kind == "tags":
            return base
        out = {**base, "type": a["type"], "occluded": bool(a.get("occluded", False)),
               "outside": bool(a.get("outside", False)), "z_order": int(a.get("z_order", 0)),
               "rotation": float(a.get("rotation", 0.0)), "points": list(a.get("points") or [])}
        elements = []
        for e in a.get("elements") or ():
            el = {"id": 0, "type": e["type"], "label_id": int(e["label_id"]), "frame": int(e["frame"]),
                  "points": list(e.get("points") or []), "occluded": bool(e.get("occluded", False)),
                  "outside": bool(e.get("outside", False)), "z_order": int(e.get("z_order", 0)),
                  "rotation": float(e.get("rotation", 0.0)), "group": e.get("group"),
                  "source": e.get("source") or "manual", "attributes": e.get("attributes") or []}
            elements.append(el)
        out["elements"] = elements
        # ids after the parent's, so next_id sees them
        for i, el in enumerate(elements):
            el["id"] = out["id"] + 1 + i
        return out

    def chunk(self, tid: int) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for i, data in enumerate(self.images.get(tid, [])):
                z.writestr(f"{i:06d}.png", data)
        return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    state: FakeCvat

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self, method: str) -> None:
        u = urlparse(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {"_raw": raw.decode("latin-1")}
        q = parse_qs(u.query)
        st = self.state
        with st.lock:
            st.requests.append(Recorded(method, u.path, q, body, dict(self.headers)))
            public = u.path.rstrip("/") in ("/api/server/about", "/api/auth/login")
            auth = self.headers.get("Authorization", "")
            cookie = self.headers.get("Cookie", "")
            if not public and auth != f"Bearer {st.token}" and "sessionid=s1" not in cookie:
                code, out, hdrs = 401, {"detail": "Authentication credentials were not provided."}, {}
            else:
                code, out, hdrs = st.handle(method, u.path, q, body)
        data = out if isinstance(out, bytes) else json.dumps(out).encode()
        self.send_response(code)
        self.send_header("Content-Type", hdrs.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        for k, v in hdrs.items():
            self.send_header("Set-Cookie" if k.startswith(("Set-Cookie", "X-Set-Cookie")) else k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")


class Server:
    """Start with :meth:`start`, stop with :meth:`stop`; ``url`` and ``state`` while running."""

    def __init__(self) -> None:
        self.state = FakeCvat()
        handler = type("H", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.state.base = self.url
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


# --------------------------------------------------------------------------- a demo task


def _label(lid: int, name: str, ltype: str = "any", *, attributes: list[dict[str, Any]] | None = None,
           sublabels: list[dict[str, Any]] | None = None, parent_id: int | None = None) -> dict[str, Any]:
    return {"id": lid, "name": name, "color": "#ff0000", "type": ltype, "svg": "", "has_parent": parent_id is not None,
            "parent_id": parent_id, "task_id": 1, "project_id": None, "attributes": attributes or [],
            "sublabels": sublabels or []}


def shape(sid: int, label_id: int, frame: int, points: list[float], kind: str = "rectangle",
          **kw: Any) -> dict[str, Any]:
    """A LabeledShape as CVAT returns it (every field CVAT 2.80 sends)."""
    return {"id": sid, "type": kind, "label_id": label_id, "frame": frame, "points": points, "occluded": False,
            "outside": False, "z_order": 0, "rotation": 0.0, "group": 0, "source": "manual", "attributes": [],
            "elements": [], **kw}


def tag_(tid: int, label_id: int, frame: int) -> dict[str, Any]:
    return {"id": tid, "label_id": label_id, "frame": frame, "group": 0, "source": "manual", "attributes": []}


def demo_task(st: FakeCvat) -> None:
    """Task 1 "street": 3 frames; consensus parent job 10 with replicas 12 (alice) and 13 (bob);
    ground-truth job 11 on frames 0-1. Bob disagrees with the gold three ways on purpose:
    car colour (attribute), a missed person (frame 0), and person for car (frame 1)."""
    color = {"id": 7, "name": "color", "mutable": False, "input_type": "select", "values": ["red", "blue"],
             "default_value": "red"}
    labels = [
        _label(1, "car", "rectangle", attributes=[color]),
        _label(2, "person", "rectangle"),
        _label(3, "pose", "skeleton", sublabels=[_label(4, "head", "points", parent_id=3),
                                                 _label(5, "tail", "points", parent_id=3)]),
        _label(6, "sunny", "tag"),
        _label(8, "rainy", "tag"),
        _label(9, "road", "any"),
    ]
    st.add_task(1, name="street", frames=[("a.jpg", 100, 80), ("b.jpg", 100, 80), ("c.jpg", 100, 80)],
                labels=labels)
    red = [{"spec_id": 7, "value": "red"}]
    blue = [{"spec_id": 7, "value": "blue"}]
    gold = {"shapes": [shape(1, 1, 0, [10, 10, 50, 40], attributes=red), shape(2, 2, 0, [60, 10, 90, 70]),
                       shape(3, 1, 1, [5, 5, 30, 30], attributes=red)],
            "tags": [tag_(1, 6, 0)]}
    st.add_job(10, task_id=1, start=0, stop=2, assignee="lead", replicas=2, annotations=gold)
    st.add_job(11, task_id=1, start=0, stop=1, assignee="goldie", job_type="ground_truth", annotations=gold)
    # mask window [left=20, top=30, right=22, bottom=31]: a 3x2 window, runs 0-run 1, 1-run 4, 0-run 1
    alice = {"shapes": [*gold["shapes"], shape(20, 9, 2, [0, 0, 40, 0, 40, 20, 0, 20], "polygon"),
                        shape(21, 9, 2, [1, 4, 1, 20, 30, 22, 31], "mask"),
                        shape(22, 3, 2, [], "skeleton", elements=[
                            {"id": 1, "type": "points", "label_id": 4, "frame": 2, "points": [10, 10],
                             "occluded": False, "outside": False, "z_order": 0, "rotation": 0.0,
                             "group": 0, "source": "manual", "attributes": []},
                            {"id": 2, "type": "points", "label_id": 5, "frame": 2, "points": [20, 30],
                             "occluded": True, "outside": False, "z_order": 0, "rotation": 0.0,
                             "group": 0, "source": "manual", "attributes": []}])],
             "tags": [tag_(2, 6, 0)]}
    bob = {"shapes": [shape(30, 1, 0, [10, 10, 50, 40], attributes=blue), shape(31, 2, 1, [5, 5, 30, 30])],
           "tags": [tag_(3, 6, 0)]}
    st.add_job(12, task_id=1, start=0, stop=2, assignee="alice", job_type="consensus_replica", parent_job_id=10,
               annotations=alice)
    st.add_job(13, task_id=1, start=0, stop=2, assignee="bob", job_type="consensus_replica", parent_job_id=10,
               annotations=bob)
