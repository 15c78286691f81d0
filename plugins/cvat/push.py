"""Write adjudicated decisions into a CVAT task's ground-truth job, and resolve accord's issues.

Two halves, as in :mod:`accord.plugins.cvat.client`:

* :func:`to_cvat_shapes` is pure: the review queue's conflicts, the ledger's decisions and the
  task's API JSON (a :class:`~accord.plugins.cvat.client.TaskPayload`) in, a :class:`CvatPushPlan`
  out. Each resolved decision becomes CVAT shapes (``rectangle``, ``polygon``, ``polyline``,
  ``points``, ``skeleton``, ``mask``) or tags on the item's frame *in the ground-truth job*
  (found through the item's ``cvat_frames`` mapping that :func:`~accord.plugins.cvat.client.from_cvat_api`
  builds, so a honeypot's ground-truth frame is used), label names mapped back to the task's
  label ids (``GET /api/labels``; skeleton points to the sublabels' ids).
* :func:`push_to_cvat` sends the plan: ``PATCH /api/jobs/<gt>/annotations?action=create`` with
  the decided shapes, then ``action=delete`` with the shapes they replace, then
  ``PATCH /api/issues/<id> {"resolved": true}`` for each open conflict issue accord raised for
  that item and label set (the ``[accord:<key>]`` of :func:`accord.plugins.cvat.writeback.plan_issues`,
  key ``<job>|<frame>|<label set>|conflict``).

The decision *is* the ground truth of that frame and label set: the ground-truth job's shapes
of that label set on that frame (the gold annotator's, or an earlier push's) are replaced by
the decided ones. When they are already equal (same types, labels, coordinates to 1e-3 px)
nothing is written, so a re-push is idempotent and a changed decision replaces the earlier one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from accord.core import rle
from accord.core.errors import AccordError, ConfigError
from accord.core.model import Box, Classification, Keypoints, Mask, Polygon, Polyline, Value, value_from_dict

from .client import TaskPayload, from_cvat_api
from .writeback import _key

logger = logging.getLogger(__name__)

#: accord label set -> the CVAT shape types it holds (what a decision on that set replaces).
TYPES_OF_SET: Mapping[str, tuple[str, ...]] = {
    "boxes": ("rectangle", "ellipse"), "polygons": ("polygon",), "polylines": ("polyline",),
    "points": ("points",), "skeletons": ("skeleton",), "masks": ("mask",), "tags": ("tag",),
}


class NoGroundTruthJobError(ConfigError):  # type: ignore[misc]
    """The task has no ground-truth job to write decisions into."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CvatPushPlan:
    """What :func:`push_to_cvat` will write into one task's ground-truth job.

    Attributes:
        task_id: The CVAT task.
        job_id: Its ground-truth job.
        create: ``{"shapes": [...], "tags": [...]}`` to create (LabeledShape / LabeledImage requests).
        delete: The ground-truth job's shapes and tags (as CVAT returned them) that the decisions replace.
        decided: ``(item_id, label_set, frame)`` of every decision written or already in place.
        unchanged: The subset of ``decided`` whose shapes were already in the job.
        issue_keys: ``[accord:<key>]`` of the conflict issues to resolve -> ``(item_id, label_set)``.
        issue_jobs: The jobs those issues live in (each annotator's job of a decided item).
        skipped: ``(item_id, label_set, why)`` of decisions not written.
    """

    task_id: int
    job_id: int
    create: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"shapes": [], "tags": []})
    delete: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"shapes": [], "tags": []})
    decided: list[tuple[str, str, int]] = field(default_factory=list)
    unchanged: list[tuple[str, str, int]] = field(default_factory=list)
    issue_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    issue_jobs: tuple[int, ...] = ()
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class CvatPushResult:
    """What :func:`push_to_cvat` did (or would do, ``dry_run``)."""

    job_id: int
    created: int
    deleted: int
    unchanged: int
    issues_resolved: int
    dry_run: bool


class _LabelIds:
    """Label names -> ids of one task (top-level labels, and each skeleton's points by name)."""

    def __init__(self, labels: Sequence[Mapping[str, Any]]) -> None:
        self.top: dict[str, int] = {}
        self.sub: dict[str, dict[str, int]] = {}
        for lab in labels:
            if lab.get("parent_id") is not None:
                continue
            name = str(lab.get("name", ""))
            self.top[name] = int(lab["id"])
            self.sub[name] = {str(s.get("name", "")): int(s["id"]) for s in lab.get("sublabels") or ()}

    def of(self, label: str) -> int:
        try:
            return self.top[label]
        except KeyError:
            raise ConfigError(f"label {label!r} is not among the task's labels {sorted(self.top)}; add it in CVAT "
                              "or decide one of those") from None


def _flat(points: Sequence[tuple[float, float]]) -> list[float]:
    return [float(c) for p in points for c in p]


def _rectangle(v: Box, ids: _LabelIds, frame: int) -> dict[str, Any]:
    return {"type": "rectangle", "points": [v.x, v.y, v.x + v.width, v.y + v.height],
            "rotation": float(v.rotation) % 360.0}


def _polygon(v: Polygon, ids: _LabelIds, frame: int) -> dict[str, Any]:
    return {"type": "polygon", "points": _flat(v.points)}


def _polyline(v: Polyline, ids: _LabelIds, frame: int) -> dict[str, Any]:
    return {"type": "polyline", "points": _flat(v.points)}


def _points(v: Keypoints, ids: _LabelIds, frame: int) -> dict[str, Any]:
    vis = max((p.visibility for p in v.points), default=2)
    return {"type": "points", "points": _flat([(p.x, p.y) for p in v.points]), "occluded": vis == 1,
            "outside": vis == 0}


def _skeleton(v: Keypoints, ids: _LabelIds, frame: int) -> dict[str, Any]:
    subs = ids.sub.get(v.label, {})
    elements = []
    for p in v.points:
        if p.name not in subs:
            raise ConfigError(f"skeleton {v.label!r} has no point {p.name!r} in CVAT (it has {sorted(subs)}); "
                              "decide a version drawn with this task's skeleton")
        elements.append({"type": "points", "label_id": subs[p.name], "frame": frame, "points": [p.x, p.y],
                         "occluded": p.visibility == 1, "outside": p.visibility == 0, "attributes": []})
    return {"type": "skeleton", "points": [], "elements": elements}


def _mask(v: Mask, ids: _LabelIds, frame: int) -> dict[str, Any]:
    """CVAT's API mask: row-major runs over the bounding window (0-run first), then left, top, right, bottom."""
    full = rle.decode(v.counts, v.height, v.width)
    ys, xs = full.nonzero()
    if not xs.size:
        raise ConfigError("the decided mask is empty; CVAT keeps no empty masks (drop the region instead)")
    left, top, right, bottom = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    window = full[top:bottom + 1, left:right + 1]
    runs = rle.encode(np.ascontiguousarray(window.T))  # column-major of the transpose = row-major of the window
    return {"type": "mask", "points": [*map(float, runs), float(left), float(top), float(right), float(bottom)]}


#: (label set, value type) -> CVAT shape converter (a lookup table, not an if/elif chain).
TO_SHAPE: Mapping[tuple[str, type], Callable[[Any, _LabelIds, int], dict[str, Any]]] = {
    ("boxes", Box): _rectangle, ("polygons", Polygon): _polygon, ("polylines", Polyline): _polyline,
    ("points", Keypoints): _points, ("skeletons", Keypoints): _skeleton, ("masks", Mask): _mask,
}


def to_cvat_shape(value: Value, label_set: str, ids: _LabelIds, frame: int) -> dict[str, Any]:
    """One decided value as a CVAT ``LabeledShapeRequest`` (or ``LabeledImageRequest`` for a tag) dict.

    Raises:
        ConfigError: no CVAT shape for this label set and value kind, or its label is not the task's.
    """
    if label_set == "tags" and isinstance(value, Classification):
        return {"frame": frame, "label_id": ids.of(value.label), "group": 0, "source": "manual", "attributes": []}
    fn = TO_SHAPE.get((label_set, type(value)))
    if fn is None:
        raise ConfigError(f"no CVAT write-back for {type(value).__name__} values in label set {label_set!r}; "
                          f"supported: {sorted(s for s, _ in TO_SHAPE)} and tags")
    label = getattr(value, "label", "")
    out = {"frame": frame, "label_id": ids.of(str(label)), "occluded": False, "outside": False, "z_order": 0,
           "rotation": 0.0, "group": 0, "source": "manual", "attributes": [], **fn(value, ids, frame)}
    return out


def _shape_key(s: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two shapes the same annotation (ids, sources and dates aside)."""
    els = tuple(sorted(_shape_key(e) for e in s.get("elements") or ()))
    return (str(s.get("type", "tag")), int(s["label_id"]), tuple(round(float(p), 3) for p in s.get("points") or ()),
            round(float(s.get("rotation") or 0.0), 3), bool(s.get("occluded")), bool(s.get("outside")), els)


def _ground_truth_job(payload: TaskPayload) -> Mapping[str, Any]:
    gts = [j for j in payload.jobs if j.get("type") == "ground_truth"]
    if not gts:
        raise NoGroundTruthJobError(
            f"CVAT task {payload.task.get('id')} has no ground-truth job; create one in CVAT (the task's Quality "
            "tab > Create ground truth job), then push again")
    return gts[0]


def to_cvat_shapes(decided: Iterable[tuple[str, str, Sequence[Mapping[str, Any]] | None, str]],
                   payload: TaskPayload) -> CvatPushPlan:
    """Plan the ground-truth job's annotations for every resolved decision of one task (pure; no I/O).

    Args:
        decided: ``(item_id, label_set, values, why)`` per decision in force, as
            :func:`accord.review.push.decided_values` gives them: ``values`` are value dicts
            (``{"kind": "box", "label": ..., "x": ...}``), or ``None`` with ``why`` for a
            decision that cannot be written (pending, ambiguous), which is skipped.
        payload: The task's API JSON (:func:`accord.plugins.cvat.client.fetch_payload`).

    Raises:
        NoGroundTruthJobError: the task has no ground-truth job.
    """
    gt = _ground_truth_job(payload)
    gt_id = int(gt["id"])
    ds = from_cvat_api([payload])
    ids = _LabelIds(payload.labels)
    existing = payload.annotations.get(gt_id) or {}
    plan = CvatPushPlan(task_id=int(payload.task.get("id", 0)), job_id=gt_id)
    human_jobs = {int(j["id"]) for j in payload.jobs if j.get("type") != "ground_truth"}
    issue_jobs: set[int] = set()
    for item_id, label_set, values, why in decided:
        if values is None:
            plan.skipped.append((item_id, label_set, why))
            continue
        item = ds.items.get(item_id)
        if item is None:
            plan.skipped.append((item_id, label_set, f"item {item_id!r} is not a frame of CVAT task {plan.task_id}"))
            continue
        frames = {int(j): int(f) for j, f in (item.data.get("cvat_frames") or {}).items()}
        if gt_id not in frames:
            plan.skipped.append((item_id, label_set, f"frame {item.data.get('cvat_frame')} is not in ground-truth "
                                 f"job {gt_id} (frames {gt.get('start_frame')}-{gt.get('stop_frame')})"))
            continue
        types = TYPES_OF_SET.get(label_set)
        if types is None:
            plan.skipped.append((item_id, label_set, f"no CVAT write-back for label set {label_set!r}; supported: "
                                 f"{sorted(TYPES_OF_SET)}"))
            continue
        frame = frames[gt_id]
        try:
            want = [to_cvat_shape(value_from_dict(v), label_set, ids, frame) for v in values]
        except (AccordError, ValueError, KeyError, TypeError) as e:
            plan.skipped.append((item_id, label_set, f"decision value not usable in CVAT: {e}"))
            continue
        kind = "tags" if label_set == "tags" else "shapes"
        have = [dict(s) for s in existing.get(kind) or () if int(s.get("frame", -1)) == frame
                and (kind == "tags" or str(s.get("type")) in types)]
        plan.decided.append((item_id, label_set, frame))
        if sorted(map(_shape_key, have)) == sorted(map(_shape_key, want)):
            plan.unchanged.append((item_id, label_set, frame))
        else:
            plan.create[kind].extend(want)
            plan.delete[kind].extend(have)
        for job_id, f in frames.items():
            if job_id in human_jobs:
                plan.issue_keys[_key(f"{job_id}|{f}|{label_set}|conflict")] = (item_id, label_set)
                issue_jobs.add(job_id)
    return CvatPushPlan(task_id=plan.task_id, job_id=gt_id, create=plan.create, delete=plan.delete,
                        decided=plan.decided, unchanged=plan.unchanged, issue_keys=plan.issue_keys,
                        issue_jobs=tuple(sorted(issue_jobs)), skipped=plan.skipped)


def _open_issues(client: Any, job_ids: Sequence[int], keys: Mapping[str, Any]) -> list[int]:
    """Ids of the unresolved issues in those jobs whose comments carry one of ``keys``."""
    from cvat_sdk.core.helpers import get_paginated_collection

    api = client.api_client
    out: list[int] = []
    for job_id in job_ids:
        for issue in get_paginated_collection(api.issues_api.list_endpoint, job_id=job_id):
            if issue.resolved:
                continue
            for c in get_paginated_collection(api.comments_api.list_endpoint, issue_id=issue.id):
                msg = str(getattr(c, "message", ""))
                if any(f"[accord:{k}]" in msg for k in keys):
                    out.append(int(issue.id))
                    break
    return out


def _shape_request(s: Mapping[str, Any]) -> Any:
    from cvat_sdk.api_client import models

    attrs = [models.AttributeValRequest(spec_id=int(a["spec_id"]), value=str(a.get("value", "")))
             for a in s.get("attributes") or ()]
    kw: dict[str, Any] = {"occluded": bool(s.get("occluded")), "outside": bool(s.get("outside")),
                          "z_order": int(s.get("z_order") or 0), "rotation": float(s.get("rotation") or 0.0),
                          "points": [float(p) for p in s.get("points") or ()], "group": int(s.get("group") or 0),
                          "source": str(s.get("source") or "manual"), "attributes": attrs}
    if s.get("id") is not None:
        kw["id"] = int(s["id"])
    if s.get("elements"):
        kw["elements"] = [models.SubLabeledShapeRequest(
            type=models.ShapeType(str(e["type"])), label_id=int(e["label_id"]), frame=int(e["frame"]),
            points=[float(p) for p in e.get("points") or ()], occluded=bool(e.get("occluded")),
            outside=bool(e.get("outside")), **({"id": int(e["id"])} if e.get("id") is not None else {}))
            for e in s["elements"]]
    return models.LabeledShapeRequest(type=models.ShapeType(str(s["type"])), label_id=int(s["label_id"]),
                                      frame=int(s["frame"]), **kw)


def _tag_request(t: Mapping[str, Any]) -> Any:
    from cvat_sdk.api_client import models

    kw: dict[str, Any] = {"group": int(t.get("group") or 0), "source": str(t.get("source") or "manual"),
                          "attributes": [models.AttributeValRequest(spec_id=int(a["spec_id"]), value=str(a["value"]))
                                         for a in t.get("attributes") or ()]}
    if t.get("id") is not None:
        kw["id"] = int(t["id"])
    return models.LabeledImageRequest(label_id=int(t["label_id"]), frame=int(t["frame"]), **kw)


def _patch(client: Any, job_id: int, action: str, data: Mapping[str, list[dict[str, Any]]]) -> None:
    from cvat_sdk.api_client import models

    body = models.PatchedLabeledDataRequest(shapes=[_shape_request(s) for s in data["shapes"]],
                                            tags=[_tag_request(t) for t in data["tags"]], tracks=[])
    client.api_client.jobs_api.partial_update_annotations(action, job_id, patched_labeled_data_request=body)


def push_to_cvat(client: Any, plan: CvatPushPlan, *, dry_run: bool = False) -> CvatPushResult:
    """Write a plan into its ground-truth job and resolve the matching open accord issues.

    The decided shapes are created first and the ones they replace deleted after, so a failed
    request leaves the earlier ground truth in place. ``dry_run`` reads the open issues but
    writes nothing.
    """
    created = len(plan.create["shapes"]) + len(plan.create["tags"])
    deleted = len(plan.delete["shapes"]) + len(plan.delete["tags"])
    issues = _open_issues(client, plan.issue_jobs, plan.issue_keys) if plan.issue_keys else []
    if not dry_run:
        from cvat_sdk.api_client import models

        if created:
            _patch(client, plan.job_id, "create", plan.create)
        if deleted:
            _patch(client, plan.job_id, "delete", plan.delete)
        for iid in issues:
            client.api_client.issues_api.partial_update(
                iid, patched_issue_write_request=models.PatchedIssueWriteRequest(resolved=True))
    logger.info("CVAT job %d: %d shape(s)/tag(s) %s, %d replaced, %d issue(s) %s", plan.job_id, created,
                "would be created" if dry_run else "created", deleted, len(issues),
                "would be resolved" if dry_run else "resolved")
    return CvatPushResult(job_id=plan.job_id, created=created, deleted=deleted, unchanged=len(plan.unchanged),
                          issues_resolved=len(issues), dry_run=dry_run)
