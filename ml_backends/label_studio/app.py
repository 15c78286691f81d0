"""The Label Studio ML backend: a FastAPI app speaking what Label Studio 1.23 sends.

Routes: ``GET /health``, ``POST /setup``, ``POST /predict`` (batch and interactive),
``POST /webhook`` (``START_TRAINING``, ``ANNOTATION_CREATED/UPDATED/DELETED``),
``GET /versions``, ``GET /metrics`` (Prometheus text format, per worker).

* The model family (:class:`~.backends.Backend`) is built once per worker, in
  :func:`create_app`; ``/setup`` only records the project's token and answers its current
  ``model_version`` (it has a 3 s timeout and comes before every batch).
* Nothing a client sends is trusted (see the README's threat model): requests with a
  token go only to ``Settings.label_studio_url`` (``/setup``'s ``hostname`` is compared
  with it, never used); task files obey :class:`~.files.MediaPolicy`; auth is checked and
  the body size limited by :class:`_Guard` before FastAPI reads the body; without auth
  only loopback clients are served.
* Trained models live per project and version under ``state_dir``
  (:class:`~.state.ProjectState`); each worker reloads a project's model when
  ``state.json`` names a newer version, so every worker serves a retrain.
* Training runs after the webhook has answered (Label Studio does not wait for it);
  when it finishes, ``model_version`` changes and later predictions carry it.
* Every prediction has a ``score`` in ``[0, 1]``, higher = more confident, so
  Label Studio's "sort by prediction score" ascending is least-confident-first.
* Failures answer ``{"status": "error", "error": "..."}`` (401, 403, 413, 422, 503, or
  500 for a bug) and log the traceback on the server; the client never sees one, nor
  any exception's text.

Run it with ``accord serve label-studio`` or any ASGI server::

    uvicorn --factory accord.ml_backends.label_studio.app:app_from_env --workers 4
    gunicorn -k uvicorn.workers.UvicornWorker -w 4 'accord.ml_backends.label_studio.app:app_from_env()'
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import logging
import os
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.core.errors import AccordError
from accord.ml_backends.label_studio import files
from accord.ml_backends.label_studio.backends import Backend, TrainingTask, make_backend
from accord.ml_backends.label_studio.models import (
    HealthResponse,
    PredictRequest,
    PredictResponse,
    SetupRequest,
    SetupResponse,
    VersionsResponse,
    WebhookRequest,
    WebhookResponse,
    project_id_of,
)
from accord.ml_backends.label_studio.state import ProjectState, all_versions

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

_ENV_PREFIX = "ACCORD_SERVE_"
_ROUTES = frozenset({"/health", "/setup", "/predict", "/webhook", "/versions", "/metrics"})
#: The largest request body accepted by default (bytes); ``--max-body-bytes``.
MAX_BODY_BYTES = 8 * 1024 * 1024
_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Server settings (``accord serve label-studio`` flags, or ``ACCORD_SERVE_*`` variables).

    Attributes:
        model: Backend name in :data:`~.backends.BACKENDS`, or an image predictor's name
            (:func:`~.backends.known_models`).
        model_params: Parameters for the model (``-p KEY=VALUE``, e.g. ``onnx_path``).
        state_dir: Folder for per-project models, versions and annotations.
        basic_auth: ``(user, password)`` every route but ``/health`` requires, or None.
        auth_token: A token every route but ``/health`` accepts as ``Authorization:
            Bearer <token>`` (or ``Token <token>``), or None.
        insecure_no_auth: Serve clients that are not on loopback without any auth.
            Without it, and with neither ``basic_auth`` nor ``auth_token``, only loopback
            clients are served (403 otherwise).
        label_studio_url: Label Studio's URL (``LABEL_STUDIO_URL``): the only host this
            server sends requests with a token to. ``/setup``'s ``hostname`` never replaces it.
            None: no Label Studio files and no export API (training uses webhooks only).
        api_key: Token for Label Studio's API and files; overrides /setup's
            ``access_token`` (``LABEL_STUDIO_API_KEY``).
        allow_local_dirs: Folders task files may be read from as local paths or ``file://``.
        allow_remote_media: Fetch task files from ``http(s)`` hosts other than Label Studio.
        allow_private_media: Let those fetches reach loopback and private addresses.
        max_body_bytes: Largest request body (413 above it).
        max_media_bytes: Largest task file read.
        media_timeout_s: Time for one task file fetch.
        request_timeout_s: Time budget of one ``/predict`` (no new file fetch after it; 503).
        max_concurrent_predicts: ``/predict`` requests computed at once per worker; more
            wait (up to ``request_timeout_s``, then 503), so CPU-heavy requests cannot starve
            ``/health`` and the event loop.
        train_on_annotation: Retrain after every ANNOTATION_* webhook, not only on Train.
        fetch_annotations: On training, also fetch every annotated task from Label
            Studio's export API (annotations made before the backend was connected).
    """

    model: str = "text"
    model_params: Mapping[str, Any] = field(default_factory=dict)
    state_dir: Path = field(default_factory=lambda: Path("accord-ml-state"))
    basic_auth: tuple[str, str] | None = None
    auth_token: str | None = None
    insecure_no_auth: bool = False
    label_studio_url: str | None = None
    api_key: str | None = None
    allow_local_dirs: tuple[Path, ...] = ()
    allow_remote_media: bool = False
    allow_private_media: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    max_media_bytes: int = files.MAX_BYTES
    media_timeout_s: float = 30.0
    request_timeout_s: float = 90.0
    max_concurrent_predicts: int = 4
    train_on_annotation: bool = False
    fetch_annotations: bool = True


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """:class:`Settings` from the environment.

    ``ACCORD_SERVE_MODEL``, ``..._MODEL_PARAMS`` (a JSON object), ``..._STATE_DIR``,
    ``..._BASIC_AUTH`` (user:pass), ``..._TOKEN``, ``..._INSECURE_NO_AUTH``,
    ``..._ALLOW_LOCAL_DIRS`` (folders separated by ``os.pathsep``), ``..._ALLOW_REMOTE_MEDIA``,
    ``..._ALLOW_PRIVATE_MEDIA``, ``..._MAX_BODY_BYTES``, ``..._MAX_MEDIA_BYTES``,
    ``..._MEDIA_TIMEOUT_S``, ``..._REQUEST_TIMEOUT_S``, ``..._MAX_CONCURRENT_PREDICTS``, ``..._TRAIN_ON_ANNOTATION``,
    ``..._FETCH_ANNOTATIONS``, ``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY``.

    Raises:
        AccordError: a value that does not parse (the message names the variable).
    """
    env = os.environ if env is None else env
    raw_params = env.get(_ENV_PREFIX + "MODEL_PARAMS") or "{}"
    try:
        params = json.loads(raw_params)
    except json.JSONDecodeError as e:
        raise AccordError(f"{_ENV_PREFIX}MODEL_PARAMS must be a JSON object such as "
                          f"{{\"onnx_path\": \"/models/det.onnx\"}}, got {raw_params[:80]!r}") from e
    if not isinstance(params, dict):
        raise AccordError(f"{_ENV_PREFIX}MODEL_PARAMS must be a JSON object, got {type(params).__name__}")
    auth = env.get(_ENV_PREFIX + "BASIC_AUTH") or None
    pair: tuple[str, str] | None = None
    if auth:
        user, sep, pw = auth.partition(":")
        if not sep or not user:
            raise AccordError(f"{_ENV_PREFIX}BASIC_AUTH must be USER:PASSWORD, got a value without ':'")
        pair = (user, pw)

    def flag(name: str, default: bool) -> bool:
        v = env.get(_ENV_PREFIX + name)
        return default if v is None else v.strip().lower() in ("1", "true", "yes", "on")

    def number(name: str, default: float, kind: type[int] | type[float]) -> Any:
        raw = env.get(_ENV_PREFIX + name)
        if raw is None or not raw.strip():
            return kind(default)
        try:
            v = kind(raw)
        except ValueError:
            v = 0
        if not v > 0:
            raise AccordError(f"{_ENV_PREFIX}{name} must be a positive {kind.__name__}, got {raw[:40]!r}")
        return v

    token = env.get(_ENV_PREFIX + "TOKEN") or None
    if token is not None and len(token) < 16:
        raise AccordError(f"{_ENV_PREFIX}TOKEN must be at least 16 characters (e.g. from: python -c "
                          "'import secrets; print(secrets.token_urlsafe())')")
    url = (env.get("LABEL_STUDIO_URL") or "").strip() or None
    if url is not None:
        check_label_studio_url(url, "LABEL_STUDIO_URL")
    dirs = tuple(Path(d) for d in (env.get(_ENV_PREFIX + "ALLOW_LOCAL_DIRS") or "").split(os.pathsep) if d)
    return Settings(model=env.get(_ENV_PREFIX + "MODEL", "text"),
                    model_params={str(k): v for k, v in params.items()},
                    state_dir=Path(env.get(_ENV_PREFIX + "STATE_DIR", "accord-ml-state")),
                    basic_auth=pair, auth_token=token,
                    insecure_no_auth=flag("INSECURE_NO_AUTH", False),
                    label_studio_url=url, api_key=env.get("LABEL_STUDIO_API_KEY") or None,
                    allow_local_dirs=dirs, allow_remote_media=flag("ALLOW_REMOTE_MEDIA", False),
                    allow_private_media=flag("ALLOW_PRIVATE_MEDIA", False),
                    max_body_bytes=number("MAX_BODY_BYTES", MAX_BODY_BYTES, int),
                    max_media_bytes=number("MAX_MEDIA_BYTES", files.MAX_BYTES, int),
                    media_timeout_s=number("MEDIA_TIMEOUT_S", 30.0, float),
                    request_timeout_s=number("REQUEST_TIMEOUT_S", 90.0, float),
                    max_concurrent_predicts=number("MAX_CONCURRENT_PREDICTS", 4, int),
                    train_on_annotation=flag("TRAIN_ON_ANNOTATION", False),
                    fetch_annotations=flag("FETCH_ANNOTATIONS", True))


def check_label_studio_url(url: str, where: str = "--label-studio-url") -> str:
    """``url`` if it is an ``http(s)://host[:port][/path]`` URL, else AccordError naming ``where``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise AccordError(f"{where} must be Label Studio's base URL such as http://localhost:8080, got {url[:80]!r}")
    return url


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    if host is None:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class _Metrics:
    """Counters and a latency histogram in Prometheus text format (this worker only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.predicted_tasks = 0
        self.trainings: Counter[str] = Counter()
        self.buckets = [0] * (len(_LATENCY_BUCKETS_S) + 1)
        self.latency_sum_s = 0.0

    def request(self, route: str, status: int) -> None:
        with self._lock:
            self.requests[(route, status)] += 1

    def predicted(self, n_tasks: int, seconds: float) -> None:
        with self._lock:
            self.predicted_tasks += n_tasks
            self.latency_sum_s += seconds
            i = next((k for k, b in enumerate(_LATENCY_BUCKETS_S) if seconds <= b), len(_LATENCY_BUCKETS_S))
            self.buckets[i] += 1

    def trained(self, outcome: str) -> None:
        with self._lock:
            self.trainings[outcome] += 1

    def render(self) -> str:
        pid = os.getpid()
        lines = ["# HELP accord_requests_total HTTP requests by route and status.",
                 "# TYPE accord_requests_total counter"]
        with self._lock:
            for (route, status), n in sorted(self.requests.items()):
                lines.append(f'accord_requests_total{{route="{route}",status="{status}",pid="{pid}"}} {n}')
            lines += ["# TYPE accord_predicted_tasks_total counter",
                      f'accord_predicted_tasks_total{{pid="{pid}"}} {self.predicted_tasks}',
                      "# TYPE accord_trainings_total counter"]
            for outcome, n in sorted(self.trainings.items()):
                lines.append(f'accord_trainings_total{{outcome="{outcome}",pid="{pid}"}} {n}')
            lines.append("# TYPE accord_predict_seconds histogram")
            cum = 0
            for b, n in zip((*map(str, _LATENCY_BUCKETS_S), "+Inf"), self.buckets, strict=True):
                cum += n
                lines.append(f'accord_predict_seconds_bucket{{le="{b}",pid="{pid}"}} {cum}')
            lines += [f'accord_predict_seconds_sum{{pid="{pid}"}} {self.latency_sum_s:.6f}',
                      f'accord_predict_seconds_count{{pid="{pid}"}} {cum}']
        return "\n".join(lines) + "\n"


#: where :class:`_Guard` leaves the request body for the routes (an ASGI scope key).
_BODY_KEY = "accord.body"


def _body_of(request: Request, model: type[M]) -> M:
    """The request body parsed as ``model``, in the calling (worker) thread.

    FastAPI would parse a declared body on the event loop: an 8 MB JSON body would then
    hold up every other request, ``/health`` included, for its whole parse.

    Raises:
        RequestValidationError: not JSON, or not the protocol's shape (answered 422).
    """
    raw = request.scope.get(_BODY_KEY, b"")
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as e:
        raise RequestValidationError(e.errors(include_url=False, include_context=False, include_input=False)) from None


def _openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that parses its body itself (see :func:`_body_of`)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "error": message}, status_code=status)


class _OverBudgetError(AccordError):
    """A /predict ran past ``request_timeout_s``."""


class _Guard:
    """Pure ASGI middleware: auth from the headers, the body limit while reading, no exception text.

    Runs before FastAPI reads anything: an unauthenticated client is answered 401 and
    a body over ``max_body_bytes`` 413 (from ``Content-Length`` at once, else as soon as
    the bytes received pass the limit) without reading the rest.
    """

    def __init__(self, app: ASGIApp, server: MLBackendServer) -> None:
        self.app = app
        self.server = server
        st = server.settings
        self.max_body = int(st.max_body_bytes)
        self.basic = None if st.basic_auth is None else (st.basic_auth[0].encode(), st.basic_auth[1].encode())
        self.token = None if not st.auth_token else st.auth_token.encode()
        self.open_to_all = st.insecure_no_auth and self.basic is None and self.token is None

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        got = headers.get("authorization", "")
        scheme, _, cred = got.strip().partition(" ")
        scheme, cred = scheme.lower(), cred.strip()
        if self.basic is not None and scheme == "basic":
            try:
                user, sep, pw = base64.b64decode(cred.encode(), validate=True).partition(b":")
            except (ValueError, binascii.Error):
                return False
            ok_user = hmac.compare_digest(user, self.basic[0])
            ok_pw = hmac.compare_digest(pw, self.basic[1])
            return bool(sep) and ok_user and ok_pw
        if self.token is not None and scheme in ("bearer", "token"):
            return hmac.compare_digest(cred.encode(), self.token)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = path if path in _ROUTES else "other"
        status = {"code": 0}  # 0 until the response has started

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        async def answer(code: int, message: str, headers: Mapping[str, str] | None = None) -> None:
            resp = JSONResponse({"status": "error", "error": message}, status_code=code, headers=dict(headers or {}))
            await resp(scope, receive, send_counted)

        try:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if path != "/health" and not self._allowed(scope, headers):
                if self.basic is None and self.token is None:
                    await answer(403, "this ML backend has no authentication configured and serves only clients "
                                      "on this machine; start it with --basic-auth or --auth-token (or "
                                      "--insecure-no-auth on a trusted network)")
                else:
                    await answer(401, "authentication required: set basic auth in the model's connection "
                                      "settings in Label Studio (or send Authorization: Bearer <token>)",
                                 {"WWW-Authenticate": 'Basic realm="accord"'})
                return
            declared = headers.get("content-length")
            if declared is not None and (not declared.strip().isdigit() or int(declared) > self.max_body):
                await answer(413, f"the request body is larger than {self.max_body} bytes; send smaller "
                                  "batches (or raise --max-body-bytes)")
                return
            body = bytearray()
            more = scope["method"] not in ("GET", "HEAD")
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = bool(message.get("more_body", False))
                if len(body) > self.max_body:
                    await answer(413, f"the request body is larger than {self.max_body} bytes; send smaller "
                                      "batches (or raise --max-body-bytes)")
                    return
            data = bytes(body)
            del body
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": data, "more_body": False}
                return await receive()

            scope[_BODY_KEY] = data  # the routes parse it in a worker thread, not on the event loop
            await self.app(scope, replay, send_counted)
        except Exception:
            logger.exception("%s %s failed", scope.get("method"), route)
            if status["code"] == 0:
                await answer(500, "internal error in the ML backend; the server log has the details")
        finally:
            self.server.metrics.request(route, status["code"] or 500)

    def _allowed(self, scope: Scope, headers: Mapping[str, str]) -> bool:
        if self.basic is not None or self.token is not None:
            return self._authorized(headers)
        if self.open_to_all:
            return True
        client = scope.get("client")
        return client is None or is_loopback_host(str(client[0]))  # None: a Unix socket


def _choose_annotation(annotations: Any) -> dict[str, Any] | None:
    """The annotation to learn from: not cancelled; ground truth first, then the latest."""
    good = [a for a in annotations or [] if isinstance(a, dict) and not a.get("was_cancelled")
            and isinstance(a.get("result"), list)]
    if not good:
        return None
    good.sort(key=lambda a: (bool(a.get("ground_truth")), str(a.get("updated_at") or a.get("created_at") or "")))
    return good[-1]


class MLBackendServer:
    """The app's state: settings, the backend (loaded once) and a per-project model cache."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = _Metrics()
        self._cache: dict[str, tuple[str, Any]] = {}
        self._cache_lock = threading.Lock()
        self.predict_slots = threading.BoundedSemaphore(max(1, int(settings.max_concurrent_predicts)))
        self._foreign_hosts: set[tuple[str | None, str]] = set()

    def note_foreign_hostname(self, pid: str | None, host: str) -> bool:
        """Remember a /setup hostname that is not the configured URL; True the first time (log it then)."""
        key = (pid, host[:200])
        with self._cache_lock:
            if key in self._foreign_hosts or len(self._foreign_hosts) > 10_000:
                return False
            self._foreign_hosts.add(key)
            return True

    def project(self, pid: str) -> ProjectState:
        return ProjectState(self.settings.state_dir, pid)

    def version_of(self, pid: str | None) -> str:
        current = self.project(pid).model_version() if pid else None
        return current or f"{self.backend.name}-v0"

    def fitted(self, pid: str) -> tuple[str | None, Any]:
        """The project's current (version, fitted model), loaded once per version per worker."""
        st = self.project(pid)
        version = st.model_version()
        if version is None:
            return None, None
        with self._cache_lock:
            hit = self._cache.get(pid)
            if hit and hit[0] == version:
                return hit if hit[1] is not None else (None, None)
        try:
            model = self.backend.load(st.load_model(version))
        except AccordError as e:
            logger.warning("project %s: cannot load model %s (%s); serving no model until the next training",
                           pid, version, e)
            with self._cache_lock:
                self._cache[pid] = (version, None)  # do not retry (and log) on every request
            return None, None
        with self._cache_lock:
            self._cache[pid] = (version, model)
        return version, model

    def connection(self, pid: str | None) -> tuple[str | None, str | None]:
        """``(Label Studio URL, token)``: always the configured URL; the token from settings or /setup."""
        token = self.project(pid).connection()[1] if pid else None
        return self.settings.label_studio_url, self.settings.api_key or token

    def media_policy(self, pid: str | None, timeout_s: float) -> files.MediaPolicy:
        """What task references /predict may open for this project."""
        st = self.settings
        host, token = self.connection(pid)
        return files.MediaPolicy(label_studio_url=host, access_token=token, allow_local_dirs=st.allow_local_dirs,
                                 allow_remote_media=st.allow_remote_media, allow_private_media=st.allow_private_media,
                                 max_bytes=st.max_media_bytes, timeout_s=timeout_s)

    # -- training -------------------------------------------------------------------------
    def training_tasks(self, pid: str, label_config: str | None) -> list[TrainingTask]:
        """Annotated tasks from the webhook store, updated from Label Studio's export when reachable."""
        st = self.project(pid)
        by_task: dict[str, TrainingTask] = {}
        for tid, rec in st.annotations().items():
            by_task[tid] = TrainingTask(task_id=tid, data=rec.get("data") or {}, result=rec.get("result") or [])
        host, token = self.connection(pid)
        if self.settings.fetch_annotations and not host:
            logger.info("project %s: no --label-studio-url configured; training on the %d annotations received "
                        "by webhook only", pid, len(by_task))
        if self.settings.fetch_annotations and host:
            path = f"/api/projects/{pid}/export?exportType=JSON&download_all_tasks=false"
            try:
                exported = files.fetch_json(path, label_studio_url=host, access_token=token)
            except AccordError as e:
                logger.warning("project %s: could not fetch annotations from Label Studio (%s); "
                               "training on the %d annotations received by webhook", pid, e, len(by_task))
                exported = []
            for task in exported if isinstance(exported, list) else []:
                ann = _choose_annotation(task.get("annotations")) if isinstance(task, dict) else None
                if ann is not None and task.get("id") is not None:
                    tid = str(task["id"])
                    by_task[tid] = TrainingTask(task_id=tid, data=task.get("data") or {}, result=ann["result"])
        return list(by_task.values())

    def train(self, pid: str, label_config: str | None) -> str | None:
        """Retrain the project's model; the new version, or None when there was nothing to learn."""
        if not label_config:
            logger.warning("project %s: no label_config in the webhook; cannot train", pid)
            self.metrics.trained("skipped")
            return None
        st = self.project(pid)
        t0 = time.perf_counter()
        try:
            with st.lock(ProjectState.TRAIN_LOCK):
                tasks = self.training_tasks(pid, label_config)
                policy = self.media_policy(pid, self.settings.media_timeout_s)
                fitted = self.backend.train(tasks, label_config,
                                            fetch=lambda ref: files.fetch_bytes(ref, policy=policy))
                if fitted is None:
                    logger.info("project %s: %d annotated tasks teach nothing yet; model unchanged", pid, len(tasks))
                    self.metrics.trained("skipped")
                    return None
                version = st.commit_version(self.backend.name, self.backend.dump(fitted), n_examples=len(tasks))
        except Exception:
            logger.exception("project %s: training failed", pid)
            self.metrics.trained("failed")
            return None
        self.metrics.trained("ok")
        logger.info("project %s: trained %s on %d tasks in %.2f s", pid, version, len(tasks), time.perf_counter() - t0)
        return str(version)


def create_app(settings: Settings | None = None, *, backend: Backend | None = None) -> FastAPI:
    """The FastAPI app; builds the backend now (once per worker), never in /setup.

    Args:
        settings: Server settings; default :func:`settings_from_env`.
        backend: A ready backend instance (tests, custom models); default ``make_backend(settings.model)``.

    Raises:
        AccordError: unknown model name.
    """
    settings = settings or settings_from_env()
    server = MLBackendServer(settings, backend or make_backend(settings.model, settings.model_params))
    app = FastAPI(title="accord ML backend for Label Studio", docs_url=None, redoc_url=None)
    app.state.server = server
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:  # the request models of the routes that parse their own body
        if app.openapi_schema is None:
            spec = plain_openapi()
            comps = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in (SetupRequest, PredictRequest, WebhookRequest):
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                comps.update(schema.pop("$defs", {}))
                comps[model.__name__] = schema
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(_Guard, server=server)

    @app.exception_handler(AccordError)
    async def accord_error(request: Request, exc: AccordError) -> JSONResponse:
        # Our own messages only: every AccordError the routes can raise is written to be
        # shown (no path, no token, no exception text of a library).
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
        return _error(503 if isinstance(exc, _OverBudgetError) else 422, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own fixed texts ("Not Found", "There was an error parsing the body"), in our error shape
        detail = exc.detail if isinstance(exc.detail, str) else "bad request"
        return JSONResponse({"status": "error", "error": detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:5]]
        msg = "the request body does not match the Label Studio ML backend protocol: " + "; ".join(parts)
        logger.warning("%s %s: %s", request.method, request.url.path, msg)
        return _error(422, msg)

    @app.get("/health", response_model=HealthResponse)
    async def health() -> HealthResponse:  # on the event loop: answers even when every worker thread is busy
        return HealthResponse(status="UP", model_class=type(server.backend).__name__, model=server.backend.name)

    @app.post("/setup", response_model=SetupResponse, openapi_extra=_openapi_body(SetupRequest))
    def setup(request: Request) -> SetupResponse:
        req = _body_of(request, SetupRequest)
        pid = project_id_of(req.project)
        st = server.project(pid) if pid else None  # validates the id
        host = req.hostname if isinstance(req.hostname, str) and req.hostname else None
        configured = settings.label_studio_url
        if host and not (configured and files.same_origin(host, configured)):
            # Never used for a request: outbound calls go to the configured URL only.
            if server.note_foreign_hostname(pid, host):  # once per project and hostname: /setup precedes every batch
                logger.warning("project %s: /setup sent hostname %r, not the configured Label Studio URL %r; "
                               "ignored (requests go to --label-studio-url only)", pid, host[:200], configured)
            host = None
        if st is not None and (host or req.access_token):
            st.save_connection(host, req.access_token if isinstance(req.access_token, str) else None)
        return SetupResponse(model_version=server.version_of(pid))

    @app.post("/predict", response_model=PredictResponse, openapi_extra=_openapi_body(PredictRequest))
    def predict(request: Request) -> PredictResponse | JSONResponse:
        if not server.predict_slots.acquire(timeout=settings.request_timeout_s):
            raise _OverBudgetError(f"the ML backend is busy: no prediction slot within "
                                   f"{settings.request_timeout_s:g} s; try again, or run more --workers")
        try:  # parsing counts against the slot too: a big body is work
            return _predict(_body_of(request, PredictRequest))
        finally:
            server.predict_slots.release()

    def _predict(req: PredictRequest) -> PredictResponse | JSONResponse:
        t0 = time.perf_counter()
        pid = project_id_of(req.project) or project_id_of(
            next((t.get("project") for t in req.tasks if t.get("project") is not None), None))
        if not req.label_config:
            return _error(422, "the predict request has no label_config; Label Studio sends it with every batch")
        version, fitted = server.fitted(pid) if pid else (None, None)
        version = version or server.version_of(None)
        deadline = time.monotonic() + settings.request_timeout_s

        def fetch(ref: str) -> bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _OverBudgetError(f"the predict request ran past its time budget of "
                                       f"{settings.request_timeout_s:g} s; send smaller batches")
            data: bytes = files.fetch_bytes(ref, policy=server.media_policy(pid, min(settings.media_timeout_s, left)))
            return data

        out = server.backend.predict(fitted, req.tasks, req.label_config, context=req.params.context, fetch=fetch)
        if len(out) != len(req.tasks):
            raise AccordError(f"model {server.backend.name!r} answered {len(out)} predictions for "
                              f"{len(req.tasks)} tasks")
        if all(o is None for o in out):
            results: list[dict[str, Any]] = []  # cold start: nothing to suggest, LS stores nothing
        else:
            results = [{"result": o[0] if o else [], "score": float(o[1]) if o else 0.0, "model_version": version}
                       for o in out]
        server.metrics.predicted(len(req.tasks), time.perf_counter() - t0)
        return PredictResponse.model_validate({"results": results})

    @app.post("/webhook", response_model=WebhookResponse, openapi_extra=_openapi_body(WebhookRequest))
    def webhook(request: Request, background: BackgroundTasks) -> WebhookResponse | JSONResponse:
        req = _body_of(request, WebhookRequest)
        pid = project_id_of(req.project) or project_id_of((req.annotation or {}).get("project"))
        if pid is None:
            return _error(422, f"webhook {req.action[:60]!r} names no project; expected 'project': {{'id': ...}}")
        project = req.project if isinstance(req.project, dict) else {}
        label_config = project.get("label_config")
        st = server.project(pid)
        if req.action == "START_TRAINING":
            background.add_task(server.train, pid, label_config)
            return WebhookResponse(status="training", action=req.action, model_version=server.version_of(pid))
        if req.action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATION_DELETED"):
            ann = req.annotation or {}
            task = req.task or {}
            tid = task.get("id", ann.get("task"))
            if tid is None:
                return _error(422, f"webhook {req.action[:60]!r} has no task id; expected 'task': {{'id': ...}}")
            if req.action == "ANNOTATION_DELETED" or ann.get("was_cancelled"):
                st.delete_annotation(tid)
            else:
                st.put_annotation(tid, {"data": task.get("data") or {}, "result": ann.get("result") or [],
                                        "annotation_id": ann.get("id"), "ground_truth": bool(ann.get("ground_truth")),
                                        "updated_at": ann.get("updated_at")})
            if settings.train_on_annotation:
                background.add_task(server.train, pid, label_config)
                return WebhookResponse(status="training", action=req.action, model_version=server.version_of(pid))
            return WebhookResponse(status="ok", action=req.action, model_version=server.version_of(pid))
        return WebhookResponse(status="ignored", action=req.action, model_version=server.version_of(pid))

    @app.get("/versions", response_model=VersionsResponse)
    def versions(project: str | None = None) -> VersionsResponse:
        pid = project_id_of(project)
        found = [v.model_version for v in server.project(pid).versions()] if pid else all_versions(settings.state_dir)
        return VersionsResponse(versions=found or [server.version_of(None)])

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(server.metrics.render(), media_type="text/plain; version=0.0.4")

    return app


def app_from_env() -> FastAPI:
    """App factory for ASGI servers: settings from ``ACCORD_SERVE_*`` variables (see :func:`settings_from_env`)."""
    return create_app(settings_from_env())
