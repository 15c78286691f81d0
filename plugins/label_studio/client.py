"""Talk to a live Label Studio server: pull a project, write QA results back.

All HTTP goes through the official SDK (``pip install 'accord[label-studio]'``), which
accepts both a legacy token and a personal access token (a JWT it exchanges at
``/api/token/refresh/`` by itself). The pure converters live in :mod:`.convert` and
:mod:`.config`; this module only fetches and sends JSON.

Pulling uses an export snapshot with full objects (user emails in ``completed_by``,
whole predictions), streamed to a temporary file chunk by chunk and then deleted on the
server, because the plain ``/export`` endpoint gives only ids (see the Label Studio 1.23 notes).

Every failure a user can cause (unreachable URL, refused key, missing project, an
export that fails) raises :class:`LabelStudioError` with a one-line message that says
what to do.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from accord.core.errors import AccordError, MissingExtraError
from accord.core.model import Dataset

from .config import parse_label_config_full
from .convert import from_label_studio_export

logger = logging.getLogger(__name__)

API_KEY_ENV = "LABEL_STUDIO_API_KEY"
URL_ENV = "LABEL_STUDIO_URL"

#: Which annotations are gold: see :meth:`LabelStudioClient.pull`.
GoldMode = Literal["auto", "ground-truth", "none"]

#: Called with (bytes downloaded so far, total bytes or None) while an export streams.
Progress = Callable[[int, int | None], None]

_T = TypeVar("_T")


def _is_ours(prediction: Any) -> bool:
    """A prediction accord wrote itself (QA fields or consensus): left out of the QA input."""
    mv = str(prediction.get("model_version") or "") if isinstance(prediction, dict) else ""
    return mv.startswith("accord-qa-") or mv == "accord-consensus"


class LabelStudioError(AccordError, RuntimeError):  # type: ignore[misc]
    """The server could not be reached, refused the key, or answered with an error."""


def _plain(obj: Any) -> Any:
    """An SDK pydantic object (or a list of them) as plain JSON data."""
    if isinstance(obj, list):
        return [_plain(o) for o in obj]
    for attr in ("model_dump", "dict"):
        fn = getattr(obj, attr, None)
        if callable(fn):
            try:
                return fn(mode="json") if attr == "model_dump" else fn()
            except TypeError:
                return fn()
    return obj


@dataclass(frozen=True, slots=True, kw_only=True)
class PulledProject:
    """One project pulled from a live server and converted.

    Attributes:
        url: The server's base URL.
        project_id: The project's id.
        title: The project's title.
        label_config: The labeling config XML.
        tasks: The raw export snapshot (tasks with annotations, predictions, user objects).
        dataset: The converted dataset (cancelled annotations kept as submissions only).
        warnings: One line per unsupported control tag or result type that was skipped.
        n_tasks / n_annotations / n_cancelled / n_ground_truth / n_predictions: Raw counts.
        model_version: The project's selected model version (what annotators see), or None.
    """

    url: str
    project_id: int
    title: str
    label_config: str
    tasks: list[dict[str, Any]]
    dataset: Dataset
    warnings: tuple[str, ...]
    n_tasks: int
    n_annotations: int
    n_cancelled: int
    n_ground_truth: int
    n_predictions: int
    model_version: str | None


class LabelStudioClient:
    """A thin, error-translating wrapper around ``label_studio_sdk.LabelStudio``.

    Args:
        url: Base URL, e.g. ``http://localhost:8080`` (a trailing ``/`` is fine).
        api_key: A legacy token or a personal access token; default ``$LABEL_STUDIO_API_KEY``.
        timeout_s: Timeout of each HTTP request.
        sdk: An already-built SDK client (for tests); skips building one.

    Raises:
        LabelStudioError: No key was given and ``LABEL_STUDIO_API_KEY`` is unset, or the URL is malformed.
        MissingExtraError: The SDK is not installed.
    """

    def __init__(self, url: str, api_key: str | None = None, *, timeout_s: float = 60.0, sdk: Any = None):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise LabelStudioError(f"expected a Label Studio URL like http://localhost:8080, got {url!r}; "
                                   "pass --url with the scheme")
        key = api_key or os.environ.get(API_KEY_ENV)
        if not key:
            raise LabelStudioError(f"no API key: pass --api-key or set {API_KEY_ENV} (Label Studio: Account & "
                                   "Settings > Access Token or Personal Access Token)")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        if sdk is None:
            try:
                from label_studio_sdk import LabelStudio
            except ImportError as e:
                raise MissingExtraError("the Label Studio SDK is not installed; "
                                        "pip install 'accord[label-studio]'") from e
            try:
                sdk = LabelStudio(base_url=self.url, api_key=key, timeout=timeout_s)  # type: ignore[no-untyped-call]
            except Exception as e:
                raise self._translate(e, "connect") from e
        self.sdk = sdk

    # ----------------------------------------------------------------- errors

    def _translate(self, e: BaseException, what: str, project_id: int | None = None) -> LabelStudioError:
        status = getattr(e, "status_code", None)
        if status is None:
            resp = getattr(e, "response", None)
            status = getattr(resp, "status_code", None)
        name = type(e).__name__
        if status in (401, 403):
            return LabelStudioError(
                f"Label Studio at {self.url} refused the API key ({status}) while trying to {what}; copy a legacy "
                f"token or a personal access token from Account & Settings into --api-key or {API_KEY_ENV}")
        if status == 404 and project_id is not None:
            return LabelStudioError(
                f"project {project_id} was not found at {self.url} (404); check --project against the number in "
                "the project's URL (/projects/<id>) and that this key's user is a member")
        if status == 404:
            return LabelStudioError(f"{self.url} answered 404 to {what}; is --url the Label Studio base URL "
                                    "(without /projects or /api)?")
        if status is not None:
            body = getattr(e, "body", None)
            return LabelStudioError(f"Label Studio at {self.url} answered {status} to {what}: "
                                    f"{str(body)[:200]!s}")
        if name in ("ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError", "ConnectionError",
                    "UnsupportedProtocol", "InvalidURL") or isinstance(e, OSError):
            return LabelStudioError(f"cannot reach Label Studio at {self.url} ({name}: {e}); check --url and "
                                    "that the server is running")
        if isinstance(e, json.JSONDecodeError | ValueError):
            return LabelStudioError(f"{self.url} did not answer like Label Studio when trying to {what} ({name}: "
                                    f"{str(e)[:120]}); check --url")
        return LabelStudioError(f"Label Studio request to {what} failed: {name}: {str(e)[:200]}")

    def _call(self, what: str, fn: Callable[..., _T], *args: Any, project_id: int | None = None,
              **kwargs: Any) -> _T:
        try:
            return fn(*args, **kwargs)
        except AccordError:
            raise
        except Exception as e:
            raise self._translate(e, what, project_id) from e

    # ----------------------------------------------------------------- reading

    def whoami(self) -> dict[str, Any]:
        """The key's user (checks URL and key in one request)."""
        out: dict[str, Any] = _plain(self._call("read the current user", self.sdk.users.whoami))
        return out

    def project(self, project_id: int) -> dict[str, Any]:
        """The project's JSON (title, label_config, model_version, ...)."""
        self.whoami()
        out: dict[str, Any] = _plain(self._call(f"read project {project_id}", self.sdk.projects.get,
                                                id=project_id, project_id=project_id))
        return out

    def export_snapshot(self, project_id: int, *, progress: Progress | None = None, poll_s: float = 0.5,
                        timeout_s: float = 1800.0, keep_file: Path | None = None) -> list[dict[str, Any]]:
        """All tasks of a project with annotations, predictions and user objects.

        Creates an export snapshot with ``only_id: False`` for predictions and annotators,
        waits for it, streams the JSON to a temporary file (calling ``progress`` per chunk)
        and parses it. The snapshot is deleted afterwards (also when it failed), so repeated
        pulls leave nothing behind in the project's Export dialog.

        Raises:
            LabelStudioError: The snapshot failed, did not finish in ``timeout_s``, or is not JSON.
        """
        options = {"predictions": {"only_id": False}, "annotations__completed_by": {"only_id": False}}
        exp = self._call(f"create an export of project {project_id}", self.sdk.projects.exports.create,
                         id=project_id, title=f"accord-qa {time.strftime('%Y-%m-%d %H:%M:%S')}",
                         serialization_options=options, project_id=project_id)
        pk = int(_plain(exp)["id"])
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                info = _plain(self._call("poll the export", self.sdk.projects.exports.get, id=project_id,
                                         export_pk=pk, project_id=project_id))
                status = str(info.get("status") or "")
                if status == "completed":
                    break
                if status == "failed":
                    raise LabelStudioError(f"Label Studio's export {pk} of project {project_id} failed on the server; "
                                           "see the server log, then retry")
                if time.monotonic() > deadline:
                    raise LabelStudioError(f"export {pk} of project {project_id} did not finish in {timeout_s:.0f} s "
                                           f"(status {status!r}); retry later or raise the timeout")
                time.sleep(poll_s)
            counters = info.get("counters") or {}
            logger.info("export %s of project %s: %s", pk, project_id, counters)
            chunks: Iterator[bytes] = self._call("download the export", self.sdk.projects.exports.download,
                                                 id=project_id, export_pk=pk, export_type="JSON",
                                                 project_id=project_id)
            fd, tmp = tempfile.mkstemp(prefix=f"accord-ls-{project_id}-", suffix=".json")
            path = Path(tmp)
            try:
                done = 0
                with os.fdopen(fd, "wb") as fh:
                    try:
                        for chunk in chunks:
                            fh.write(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(done, None)
                    except Exception as e:
                        raise self._translate(e, "download the export", project_id) from e
                try:
                    with path.open("rb") as fh:
                        data = json.load(fh)
                except json.JSONDecodeError as e:
                    raise LabelStudioError(f"export {pk} of project {project_id} is not JSON ({e}); "
                                           "is the server a Label Studio?") from e
                if keep_file is not None:
                    keep_file.parent.mkdir(parents=True, exist_ok=True)
                    path.replace(keep_file)
            finally:
                path.unlink(missing_ok=True)
        finally:
            self._delete_export(project_id, pk)
        if not isinstance(data, list):
            raise LabelStudioError(f"expected the export to be a list of tasks, got {type(data).__name__}")
        return [t for t in data if isinstance(t, dict)]

    def _delete_export(self, project_id: int, pk: int) -> None:
        """Delete the snapshot :meth:`export_snapshot` made; a failure is a warning, not an error."""
        try:
            self._call(f"delete export {pk}", self.sdk.projects.exports.delete, id=project_id, export_pk=pk,
                       project_id=project_id)
        except LabelStudioError as e:
            logger.warning("could not delete export snapshot %s of project %s (delete it in the project's "
                           "Export dialog): %s", pk, project_id, e)

    def pull(self, project_id: int, *, progress: Progress | None = None, meta_keys: Sequence[str] = (),
             gold: GoldMode = "auto") -> PulledProject:
        """Pull a project (config + snapshot) and convert it with :func:`.convert.from_label_studio_export`.

        Unsupported control tags and result types are skipped and listed in ``warnings``;
        accord's own predictions (``accord-qa-*``, ``accord-consensus``) are left out.

        Args:
            project_id: The project.
            progress: Called per downloaded chunk with (bytes so far, total or None).
            meta_keys: Task data keys copied into item metadata (for bias monitoring).
            gold: Which annotations are the gold reference. ``"ground-truth"``: those marked
                ``ground_truth``. ``"none"``: none. ``"auto"`` (default): like ``"ground-truth"``,
                unless *every* annotation is marked and some task has two or more - Label
                Studio 1.23 marks annotations imported together with their tasks as ground
                truth by default, so then none is gold and a warning says so.
        """
        proj = self.project(project_id)
        label_config = str(proj.get("label_config") or "")
        tasks = self.export_snapshot(project_id, progress=progress)
        warnings: list[str] = []
        schema = parse_label_config_full(label_config)
        warnings.extend(f"labeling config: skipped unsupported control {u}" for u in schema.unsupported)
        anns = [a for t in tasks for a in (t.get("annotations") or ()) if isinstance(a, dict)]
        live = [a for a in anns if not a.get("was_cancelled")]
        strip = gold == "none"
        if gold == "auto" and live and all(a.get("ground_truth") for a in live) and any(
                sum(isinstance(a, dict) and not a.get("was_cancelled") for a in t.get("annotations") or ()) >= 2
                for t in tasks):
            strip = True
            warnings.append(f"all {len(live)} annotations are marked ground_truth (Label Studio marks annotations "
                            "imported with their tasks so); treating none as gold - pass gold='ground-truth' "
                            "(--gold ground-truth) to keep them as the reference")
        ours = [{**t, "predictions": [p for p in t.get("predictions") or () if not _is_ours(p)],
                 "annotations": [{**a, "ground_truth": False} if strip and isinstance(a, dict) else a
                                 for a in t.get("annotations") or ()]} for t in tasks]
        ds = from_label_studio_export(ours, schema.schema, meta_keys=meta_keys, warnings=warnings,
                                      name=str(proj.get("title") or f"project {project_id}"))
        preds = [p for t in tasks for p in (t.get("predictions") or ())]
        mv = proj.get("model_version")
        return PulledProject(
            url=self.url, project_id=project_id, title=str(proj.get("title") or ""), label_config=label_config,
            tasks=tasks, dataset=ds, warnings=tuple(dict.fromkeys(warnings)), n_tasks=len(tasks),
            n_annotations=len(anns), n_cancelled=sum(bool(a.get("was_cancelled")) for a in anns),
            n_ground_truth=0 if strip else sum(bool(a.get("ground_truth")) for a in live),
            n_predictions=len(preds), model_version=str(mv) if mv else None)

    # ----------------------------------------------------------------- writing

    def create_prediction(self, project_id: int, task_id: int, *, result: Sequence[Mapping[str, Any]],
                          model_version: str, score: float | None = None,
                          mislabeling: float | None = None) -> int:
        """Create one prediction; returns its id."""
        kwargs: dict[str, Any] = {"task": task_id, "result": list(result), "model_version": model_version}
        if score is not None:
            kwargs["score"] = score
        if mislabeling is not None:
            kwargs["mislabeling"] = mislabeling
        p = _plain(self._call(f"create a prediction on task {task_id}", self.sdk.predictions.create,
                              project_id=project_id, **kwargs))
        return int(p["id"])

    def import_predictions(self, project_id: int, predictions: Sequence[Mapping[str, Any]]) -> int:
        """Create many predictions in one request (``task``, ``result``, ``model_version``, ``score``)."""
        if not predictions:
            return 0
        rows = [{k: v for k, v in p.items() if v is not None} for p in predictions]
        self._call(f"import {len(rows)} predictions", self.sdk.projects.import_predictions, id=project_id,
                   request=rows, project_id=project_id)
        return len(rows)

    def delete_prediction(self, prediction_id: int) -> None:
        self._call(f"delete prediction {prediction_id}", self.sdk.predictions.delete, id=prediction_id)

    def list_predictions(self, project_id: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = _plain(self._call("list predictions", self.sdk.predictions.list,
                                                      project=project_id, project_id=project_id))
        return out

    def update_task(self, task_id: int, *, data: Mapping[str, Any] | None = None,
                    meta: Mapping[str, Any] | None = None) -> None:
        kwargs: dict[str, Any] = {}
        if data is not None:
            kwargs["data"] = dict(data)
        if meta is not None:
            kwargs["meta"] = dict(meta)
        self._call(f"update task {task_id}", self.sdk.tasks.update, id=str(task_id), **kwargs)

    def update_tasks(self, updates: Sequence[tuple[int, Mapping[str, Any]]], *, max_workers: int = 8) -> int:
        """Replace many tasks' data, ``max_workers`` requests at a time; returns how many.

        Label Studio has no bulk task update (one PATCH per task), so the requests
        overlap instead. Every update is attempted; the first failure is then raised.
        """
        if max_workers <= 1 or len(updates) <= 1:
            for task_id, data in updates:
                self.update_task(task_id, data=data)
            return len(updates)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(max_workers, len(updates))) as pool:
            futures = [pool.submit(self.update_task, task_id, data=data) for task_id, data in updates]
        for f in futures:
            f.result()
        return len(updates)

    def list_views(self, project_id: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = _plain(self._call("list Data Manager views", self.sdk.views.list,
                                                      project=project_id, project_id=project_id))
        return out

    def create_view(self, project_id: int, data: Mapping[str, Any]) -> int:
        v = _plain(self._call("create a Data Manager view", self.sdk.views.create, project=project_id,
                              data=dict(data), project_id=project_id))
        return int(v["id"])

    def update_view(self, project_id: int, view_id: int, data: Mapping[str, Any]) -> None:
        self._call(f"update view {view_id}", self.sdk.views.update, id=str(view_id), project=project_id,
                   data=dict(data), project_id=project_id)

    def set_model_version(self, project_id: int, model_version: str) -> None:
        """Select which predictions annotators see (and which ``predictions_score`` shows)."""
        self._call(f"set project {project_id}'s model_version", self.sdk.projects.update, id=project_id,
                   model_version=model_version, project_id=project_id)
