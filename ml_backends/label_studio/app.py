"""The Label Studio ML backend: a FastAPI app speaking what Label Studio 1.23 sends.

Routes: ``GET /health``, ``POST /setup``, ``POST /predict`` (batch and interactive),
``POST /webhook`` (``START_TRAINING``, ``ANNOTATION_CREATED/UPDATED/DELETED``),
``GET /versions``, ``GET /metrics`` (Prometheus text format, per worker).

* The model family (:class:`~.backends.Backend`) is built once per worker, in
  :func:`create_app`; ``/setup`` only records where Label Studio is and answers the
  project's current ``model_version`` (it has a 3 s timeout and comes before every batch).
* Trained models live per project and version under ``state_dir``
  (:class:`~.state.ProjectState`); each worker reloads a project's model when
  ``state.json`` names a newer version, so every worker serves a retrain.
* Training runs after the webhook has answered (Label Studio does not wait for it);
  when it finishes, ``model_version`` changes and later predictions carry it.
* Every prediction has a ``score`` in ``[0, 1]``, higher = more confident, so
  Label Studio's "sort by prediction score" ascending is least-confident-first.
* Failures answer ``{"status": "error", "error": "..."}`` and log the traceback on
  the server; the client never sees one.

Run it with ``accord serve label-studio`` or any ASGI server::

    uvicorn --factory accord.ml_backends.label_studio.app:app_from_env --workers 4
    gunicorn -k uvicorn.workers.UvicornWorker -w 4 'accord.ml_backends.label_studio.app:app_from_env()'
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response

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

_ENV_PREFIX = "ACCORD_SERVE_"
_ROUTES = frozenset({"/health", "/setup", "/predict", "/webhook", "/versions", "/metrics"})
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
        label_studio_url: Label Studio's URL; overrides the ``hostname`` /setup sends
            (``LABEL_STUDIO_URL``).
        api_key: Token for Label Studio's API and files; overrides /setup's
            ``access_token`` (``LABEL_STUDIO_API_KEY``).
        train_on_annotation: Retrain after every ANNOTATION_* webhook, not only on Train.
        fetch_annotations: On training, also fetch every annotated task from Label
            Studio's export API (annotations made before the backend was connected).
    """

    model: str = "text"
    model_params: Mapping[str, Any] = field(default_factory=dict)
    state_dir: Path = field(default_factory=lambda: Path("accord-ml-state"))
    basic_auth: tuple[str, str] | None = None
    label_studio_url: str | None = None
    api_key: str | None = None
    train_on_annotation: bool = False
    fetch_annotations: bool = True


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """:class:`Settings` from ``ACCORD_SERVE_MODEL``, ``..._MODEL_PARAMS`` (a JSON object), ``..._STATE_DIR``,
    ``..._BASIC_AUTH`` (user:pass), ``..._TRAIN_ON_ANNOTATION``, ``..._FETCH_ANNOTATIONS``,
    ``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY``."""
    env = os.environ if env is None else env
    raw_params = env.get(_ENV_PREFIX + "MODEL_PARAMS") or "{}"
    try:
        params = json.loads(raw_params)
    except json.JSONDecodeError as e:
        raise AccordError(f"{_ENV_PREFIX}MODEL_PARAMS must be a JSON object such as "
                          f"{{\"onnx_path\": \"/models/det.onnx\"}}, got {raw_params[:80]!r}: {e}") from e
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

    return Settings(model=env.get(_ENV_PREFIX + "MODEL", "text"),
                    model_params={str(k): v for k, v in params.items()},
                    state_dir=Path(env.get(_ENV_PREFIX + "STATE_DIR", "accord-ml-state")),
                    basic_auth=pair, label_studio_url=env.get("LABEL_STUDIO_URL") or None,
                    api_key=env.get("LABEL_STUDIO_API_KEY") or None,
                    train_on_annotation=flag("TRAIN_ON_ANNOTATION", False),
                    fetch_annotations=flag("FETCH_ANNOTATIONS", True))


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


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "error": message}, status_code=status)


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
                return hit
        model = st.load_model(version)
        with self._cache_lock:
            self._cache[pid] = (version, model)
        return version, model

    def connection(self, pid: str) -> tuple[str | None, str | None]:
        host, token = self.project(pid).connection()
        return self.settings.label_studio_url or host, self.settings.api_key or token

    # -- training -------------------------------------------------------------------------
    def training_tasks(self, pid: str, label_config: str | None) -> list[TrainingTask]:
        """Annotated tasks from the webhook store, updated from Label Studio's export when reachable."""
        st = self.project(pid)
        by_task: dict[str, TrainingTask] = {}
        for tid, rec in st.annotations().items():
            by_task[tid] = TrainingTask(task_id=tid, data=rec.get("data") or {}, result=rec.get("result") or [])
        host, token = self.connection(pid)
        if self.settings.fetch_annotations and host:
            url = f"{host.rstrip('/')}/api/projects/{pid}/export?exportType=JSON&download_all_tasks=false"
            try:
                exported = files.fetch_json(url, access_token=token)
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
                fitted = self.backend.train(tasks, label_config)
                if fitted is None:
                    logger.info("project %s: %d annotated tasks teach nothing yet; model unchanged", pid, len(tasks))
                    self.metrics.trained("skipped")
                    return None
                version = st.commit_version(self.backend.name, fitted, n_examples=len(tasks))
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
    expected_auth = None
    if settings.basic_auth:
        expected_auth = "Basic " + base64.b64encode(":".join(settings.basic_auth).encode()).decode()

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        route = request.url.path if request.url.path in _ROUTES else "other"
        if expected_auth and request.url.path != "/health":
            got = request.headers.get("authorization", "")
            if not hmac.compare_digest(got.encode(), expected_auth.encode()):
                server.metrics.request(route, 401)
                return JSONResponse({"status": "error", "error": "authentication required: this ML backend uses "
                                     "basic auth; set it in the model's connection settings in Label Studio"},
                                    status_code=401, headers={"WWW-Authenticate": 'Basic realm="accord"'})
        try:
            response = await call_next(request)
        except Exception as e:
            logger.exception("%s %s failed", request.method, route)
            response = _error(500, f"internal error in the ML backend: {type(e).__name__}: {e}")
        server.metrics.request(route, response.status_code)
        return response

    @app.exception_handler(AccordError)
    async def accord_error(request: Request, exc: AccordError) -> JSONResponse:
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
        return _error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:5]]
        msg = "the request body does not match the Label Studio ML backend protocol: " + "; ".join(parts)
        logger.warning("%s %s: %s", request.method, request.url.path, msg)
        return _error(422, msg)

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        return HealthResponse(status="UP", model_class=type(server.backend).__name__, model=server.backend.name)

    @app.post("/setup", response_model=SetupResponse)
    def setup(req: SetupRequest) -> SetupResponse:
        pid = project_id_of(req.project)
        if pid and (req.hostname or req.access_token):
            server.project(pid).save_connection(req.hostname, req.access_token)
        return SetupResponse(model_version=server.version_of(pid))

    @app.post("/predict", response_model=PredictResponse)
    def predict(req: PredictRequest) -> PredictResponse | JSONResponse:
        t0 = time.perf_counter()
        pid = project_id_of(req.project) or project_id_of(
            next((t.get("project") for t in req.tasks if t.get("project") is not None), None))
        if not req.label_config:
            return _error(422, "the predict request has no label_config; Label Studio sends it with every batch")
        version, fitted = server.fitted(pid) if pid else (None, None)
        version = version or server.version_of(None)
        host, token = server.connection(pid) if pid else (settings.label_studio_url, settings.api_key)

        def fetch(ref: str) -> bytes:
            data: bytes = files.fetch_bytes(ref, hostname=host, access_token=token)
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

    @app.post("/webhook", response_model=WebhookResponse)
    def webhook(req: WebhookRequest, background: BackgroundTasks) -> WebhookResponse | JSONResponse:
        pid = project_id_of(req.project) or project_id_of((req.annotation or {}).get("project"))
        if pid is None:
            return _error(422, f"webhook {req.action!r} names no project; expected 'project': {{'id': ...}}")
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
                return _error(422, f"webhook {req.action!r} has no task id; expected 'task': {{'id': ...}}")
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
