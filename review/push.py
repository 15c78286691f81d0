"""Write adjudicated decisions back to Label Studio: ``accord-adjudicated`` predictions or ground-truth annotations.

:func:`decided_values` reads the decision in force on each conflict (the values to write, or why
there are none); the CVAT write-back (:mod:`accord.plugins.cvat.push`) starts from it too.
:func:`to_label_studio_predictions` is pure (conflicts + decisions + the project's schema in,
prediction payloads out) and uses the Label Studio converters; :func:`push_to_label_studio`
sends them as predictions, :func:`push_annotations_to_label_studio` as ground-truth annotations
(``ground_truth: true``) authored by the token's user. Only decisions in force on resolved
conflicts are sent; escalations waiting for an expert, ambiguous (soft) decisions and items whose
id is not a Label Studio task id are counted as skipped, with the reason.

Every region accord writes has a result ``id`` starting with :data:`REGION_PREFIX`; Label Studio
keeps result ids as sent, which is how a re-push finds the annotation it wrote before and updates
it instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.core.errors import AccordError
from accord.core.model import Record, value_from_dict
from accord.core.schema import Schema

from .queue import Conflict, Decision, Policy, stage_of

MODEL_VERSION = "accord-adjudicated"
#: The result-id prefix of every region accord writes (how a re-push recognises its own annotation).
REGION_PREFIX = "accord-adj-"


@dataclass(frozen=True, slots=True, kw_only=True)
class PushPlan:
    """Predictions (or annotations) to write and what was skipped (``(item_id, label_set, why)``)."""

    predictions: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def _values_of(chosen: Any) -> list[dict[str, Any]] | None:
    if isinstance(chosen, str):
        return [{"kind": "classification", "label": chosen}]
    if isinstance(chosen, dict) and isinstance(chosen.get("values"), list):
        return [dict(v) for v in chosen["values"] if isinstance(v, Mapping)]
    return None


def decided_values(conflicts: Sequence[Conflict], by_key: Mapping[tuple[str, str], Sequence[Decision]], *,
                   policies: Mapping[str, Policy] | None = None, seed: int = 0
                   ) -> Iterator[tuple[str, str, list[dict[str, Any]] | None, str]]:
    """``(item_id, label_set, values, why)`` for every decided conflict, in queue order.

    ``values`` are the value dicts of the decision in force (the last one) on a resolved
    conflict: a class string becomes one classification, ``{"values": [...]}`` (an accepted or
    edited version, whatever subset or copy of regions it holds) its values. ``None`` with the
    reason when there is nothing to write: a second pass or an expert is pending, or the
    decision is a soft (ambiguous) label. Undecided conflicts are left out.
    """
    for k in conflicts:
        ds = by_key.get((k.item_id, k.label_set), [])
        if not ds:
            continue
        if stage_of(k, ds, policies or {}, seed) != "resolved":
            yield k.item_id, k.label_set, None, "not resolved yet (second pass or expert pending)"
            continue
        values = _values_of(ds[-1].chosen)
        if values is None:
            yield k.item_id, k.label_set, None, "ambiguous: a soft label has no single answer to write"
            continue
        yield k.item_id, k.label_set, values, ""


def to_label_studio_predictions(conflicts: Sequence[Conflict], by_key: Mapping[tuple[str, str], Sequence[Decision]],
                                schema: Schema, *, policies: Mapping[str, Policy] | None = None, seed: int = 0,
                                model_version: str = MODEL_VERSION) -> PushPlan:
    """One prediction per resolved item (all its decided label sets together)."""
    from accord.plugins.label_studio.convert import to_label_studio_prediction

    plan = PushPlan()
    per_item: dict[str, list[Record]] = {}
    sizes: dict[str, tuple[Any, Any]] = {}
    deciders = {key: ds[-1].reviewer for key, ds in by_key.items() if ds}
    items = {k.item_id: k.item for k in conflicts}
    for item_id, label_set, values, why in decided_values(conflicts, by_key, policies=policies, seed=seed):
        if values is None:
            plan.skipped.append((item_id, label_set, why))
            continue
        if label_set not in schema.label_sets:
            plan.skipped.append((item_id, label_set, "label set not in the project's labeling config"))
            continue
        n = len(per_item.get(item_id, []))  # region ids unique across the item's label sets
        try:
            recs = [Record(item_id=item_id, annotator_id=deciders[(item_id, label_set)], label_set=label_set,
                           value=value_from_dict(v), region_id=f"{REGION_PREFIX}{n + i}")
                    for i, v in enumerate(values)]
        except (AccordError, ValueError) as e:
            plan.skipped.append((item_id, label_set, f"decision value not usable: {e}"))
            continue
        per_item.setdefault(item_id, []).extend(recs)
        sizes[item_id] = (items[item_id].get("width"), items[item_id].get("height"))
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


def _is_ours(annotation: Mapping[str, Any]) -> bool:
    """An annotation accord wrote: every region's result id carries :data:`REGION_PREFIX`."""
    result = annotation.get("result") or []
    return bool(result) and all(isinstance(r, Mapping) and str(r.get("id", "")).startswith(REGION_PREFIX)
                                for r in result)


def push_annotations_to_label_studio(client: Any, plan: PushPlan) -> tuple[int, int]:
    """Write the plan as ground-truth annotations; returns ``(created, updated)``.

    Each task gets one annotation with ``ground_truth: true`` and the decided result, authored
    by the user whose token the client holds (Label Studio records the requester as
    ``completed_by``; use the reviewer's own token to credit the reviewer). A re-push finds the
    annotation accord wrote before (:func:`_is_ours`) and updates it in place, so a later decision
    replaces an earlier one and nothing is duplicated; extra copies of ours are deleted. Other
    annotations of the task are never touched. A decision with no regions (nothing to mark as
    ours) is not written here; it is listed in ``plan.skipped`` by :func:`to_label_studio_annotations`.
    """
    created = updated = 0
    sdk = client.sdk
    for p in plan.predictions:
        task = int(p["task"])
        result = list(p["result"])
        anns = client._call(f"list the annotations of task {task}", sdk.annotations.list, id=task)
        ours = [a for a in (_plain(a) for a in anns) if _is_ours(a)]
        if ours:
            keep, *extra = sorted(ours, key=lambda a: int(a["id"]))
            client._call(f"update annotation {keep['id']} of task {task}", sdk.annotations.update,
                         id=int(keep["id"]), result=result, ground_truth=True)
            for a in extra:
                client._call(f"delete annotation {a['id']}", sdk.annotations.delete, id=int(a["id"]))
            updated += 1
        else:
            client._call(f"create an annotation on task {task}", sdk.annotations.create, id=task, result=result,
                         ground_truth=True, was_cancelled=False)
            created += 1
    return created, updated


def to_label_studio_annotations(conflicts: Sequence[Conflict],
                                by_key: Mapping[tuple[str, str], Sequence[Decision]], schema: Schema, *,
                                policies: Mapping[str, Policy] | None = None, seed: int = 0) -> PushPlan:
    """As :func:`to_label_studio_predictions`, for :func:`push_annotations_to_label_studio` (pure).

    Tasks whose decided result is empty are skipped: an annotation without regions carries no
    :data:`REGION_PREFIX` id, so a re-push could not find it again.
    """
    plan = to_label_studio_predictions(conflicts, by_key, schema, policies=policies, seed=seed)
    keep = [{"task": p["task"], "result": p["result"]} for p in plan.predictions if p["result"]]
    empty = [(str(p["task"]), "*", "empty decision: an annotation without regions cannot be recognised on "
              "re-push; use --as prediction") for p in plan.predictions if not p["result"]]
    return PushPlan(predictions=keep, skipped=[*plan.skipped, *empty])


def _plain(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "model_dump"):
        out: dict[str, Any] = obj.model_dump()
        return out
    return dict(obj)


def _task_of(prediction: Mapping[str, Any]) -> int | None:
    t = prediction.get("task")
    if isinstance(t, Mapping):  # some Label Studio serialisations nest the task
        t = t.get("id")
    return int(t) if isinstance(t, int | str) and str(t).isdigit() else None
