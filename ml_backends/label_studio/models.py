"""Request and response bodies of the Label Studio ML backend protocol (pydantic, boundary only).

Shapes are those Label Studio 1.23 sends and accepts (captured in
``/work/shared/fixtures/label-studio-1.23/``). Unknown fields are kept, not
rejected: Label Studio adds fields between releases.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


def project_id_of(project: str | int | dict[str, Any] | None) -> str | None:
    """Label Studio's project id from ``"3.1795803744"`` (id.created-timestamp), ``3`` or ``{"id": 3}``."""
    if project is None:
        return None
    if isinstance(project, dict):
        pid = project.get("id")
        return None if pid is None else str(pid)
    return str(project).split(".", 1)[0] or None


class SetupRequest(_Open):
    """``POST /setup``: sent before every prediction batch (3 s timeout)."""

    project: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    hostname: str | None = None
    access_token: str | None = None
    extra_params: dict[str, Any] | None = None


class SetupResponse(_Open):
    """``{"model_version": ...}``."""

    model_version: str


class PredictParams(_Open):
    login: str | None = None
    password: str | None = None
    context: dict[str, Any] | None = None


class PredictRequest(_Open):
    """``POST /predict``: a batch of tasks; ``params.context`` is set in interactive mode."""

    tasks: list[dict[str, Any]]
    project: str | None = None
    label_config: str | None = None
    params: PredictParams = Field(default_factory=PredictParams)


class Prediction(_Open):
    """One task's prediction: LS region dicts, a task score and the model version."""

    result: list[dict[str, Any]]
    score: float
    model_version: str


class PredictResponse(_Open):
    """``{"results": [...]}``, one item per task in order; empty = nothing to suggest (cold start)."""

    results: list[Prediction]


class WebhookRequest(_Open):
    """``POST /webhook``: START_TRAINING from the Train button, ANNOTATION_* from LS's own webhook."""

    action: str
    project: dict[str, Any] | int | str | None = None
    annotation: dict[str, Any] | None = None
    task: dict[str, Any] | None = None


class WebhookResponse(_Open):
    status: Literal["ok", "ignored", "training"]
    action: str
    model_version: str | None = None


class VersionsResponse(_Open):
    versions: list[str]


class HealthResponse(_Open):
    status: Literal["UP"]
    model_class: str
    model: str


class ErrorResponse(_Open):
    """What every failure answers: no traceback, just what went wrong and how to fix it."""

    status: Literal["error"] = "error"
    error: str
