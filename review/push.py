"""Write adjudicated decisions back to Label Studio as ``accord-adjudicated`` predictions.

:func:`to_label_studio_predictions` is pure (conflicts + decisions + the project's schema in,
prediction payloads out) and uses the Label Studio converters; :func:`push_to_label_studio`
sends them with the existing client. Only decisions in force on resolved conflicts are sent;
escalations waiting for an expert, ambiguous (soft) decisions and items whose id is not a
Label Studio task id are counted as skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.core.errors import AccordError
from accord.core.model import Record, value_from_dict
from accord.core.schema import Schema

from .queue import Conflict, Decision, Policy, stage_of

MODEL_VERSION = "accord-adjudicated"


@dataclass(frozen=True, slots=True, kw_only=True)
class PushPlan:
    """Predictions to create and what was skipped (``(item_id, label_set, why)``)."""

    predictions: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def _values_of(chosen: Any) -> list[dict[str, Any]] | None:
    if isinstance(chosen, str):
        return [{"kind": "classification", "label": chosen}]
    if isinstance(chosen, dict) and isinstance(chosen.get("values"), list):
        return [dict(v) for v in chosen["values"] if isinstance(v, Mapping)]
    return None


def to_label_studio_predictions(conflicts: Sequence[Conflict], by_key: Mapping[tuple[str, str], Sequence[Decision]],
                                schema: Schema, *, policies: Mapping[str, Policy] | None = None, seed: int = 0,
                                model_version: str = MODEL_VERSION) -> PushPlan:
    """One prediction per resolved item (all its decided label sets together)."""
    from accord.plugins.label_studio.convert import to_label_studio_prediction

    plan = PushPlan()
    per_item: dict[str, list[Record]] = {}
    sizes: dict[str, tuple[Any, Any]] = {}
    for k in conflicts:
        ds = by_key.get((k.item_id, k.label_set), [])
        if not ds:
            continue
        if stage_of(k, ds, policies or {}, seed) != "resolved":
            plan.skipped.append((k.item_id, k.label_set, "not resolved yet (second pass or expert pending)"))
            continue
        values = _values_of(ds[-1].chosen)
        if values is None:
            plan.skipped.append((k.item_id, k.label_set, "ambiguous: a soft label has no Label Studio result"))
            continue
        if k.label_set not in schema.label_sets:
            plan.skipped.append((k.item_id, k.label_set, "label set not in the project's labeling config"))
            continue
        try:
            recs = [Record(item_id=k.item_id, annotator_id=ds[-1].reviewer, label_set=k.label_set,
                           value=value_from_dict(v), region_id=f"adj{i}") for i, v in enumerate(values)]
        except (AccordError, ValueError) as e:
            plan.skipped.append((k.item_id, k.label_set, f"decision value not usable: {e}"))
            continue
        per_item.setdefault(k.item_id, []).extend(recs)
        sizes[k.item_id] = (k.item.get("width"), k.item.get("height"))
    for item, recs in per_item.items():
        task = item
        if not task.isdigit():
            plan.skipped.extend((item, r.label_set, f"item id {item!r} is not a Label Studio task id") for r in recs)
            continue
        w, h = sizes[item]
        try:
            pred = to_label_studio_prediction(recs, schema, model_version=model_version, width=w, height=h)
        except AccordError as e:
            plan.skipped.append((item, recs[0].label_set, f"cannot convert: {e}"))
            continue
        plan.predictions.append({"task": int(task), **pred})
    return plan


def push_to_label_studio(client: Any, project_id: int, plan: PushPlan) -> int:
    """Create the plan's predictions in one request, then delete the earlier ones it replaces; returns how many.

    A rerun is idempotent: on every task of the plan, the ``accord-adjudicated`` predictions that were
    there before (an earlier push, a decision since changed) are deleted once the new ones are in, so
    a task keeps one. Predictions of other model versions are never touched. The new ones are created
    first, so a failed request leaves the old ones in place.
    """
    if not plan.predictions:
        return 0
    versions = {str(p.get("model_version")) for p in plan.predictions}
    tasks = {int(p["task"]) for p in plan.predictions}
    old = [int(p["id"]) for p in client.list_predictions(project_id)
           if str(p.get("model_version")) in versions and _task_of(p) in tasks]
    n = int(client.import_predictions(project_id, plan.predictions))
    for pid in old:
        client.delete_prediction(pid)
    return n


def _task_of(prediction: Mapping[str, Any]) -> int | None:
    t = prediction.get("task")
    if isinstance(t, Mapping):  # some Label Studio serialisations nest the task
        t = t.get("id")
    return int(t) if isinstance(t, int | str) and str(t).isdigit() else None
