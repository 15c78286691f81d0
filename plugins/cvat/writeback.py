"""Write QA findings back to CVAT: issues at the frame and position of each conflict, job stages.

Opt-in and idempotent. :func:`plan_issues` is pure: the report (from
:func:`accord.core.qa.report.build_report`) and the :class:`Dataset` it was built from
(by :mod:`accord.plugins.cvat.client`, whose ``annotation_id`` ``job:<id>`` and item
data ``cvat_frame`` say where each record lives) in, one :class:`IssuePlan` per
discrepancy at or above a severity out. Each plan carries a key (a hash of job, frame,
label set, category and regions) written into the issue's text as ``[accord:<key>]``;
:func:`write_issues` reads the comments of a job's existing issues and skips plans whose
key is already there, so a rerun creates no duplicates. ``dry_run=True`` only plans.

:func:`move_jobs` sets a chosen stage and/or state on jobs (``PATCH /api/jobs/<id>``),
e.g. the jobs that got issues back to ``annotation`` / ``rejected``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from accord.core import rle
from accord.core.errors import ConfigError
from accord.core.model import Box, Dataset, Keypoints, Mask, Polygon, Polyline, Record, Track
from accord.core.qa.report import all_discrepancies
from accord.core.qa.taxonomy import SEVERITIES, severity_rank

from .vocabulary import CVAT_VOCABULARY

logger = logging.getLogger(__name__)

Stage = Literal["annotation", "validation", "acceptance"]
State = Literal["new", "in progress", "rejected", "completed"]
STAGES: tuple[str, ...] = get_args(Stage)
STATES: tuple[str, ...] = get_args(State)

#: accord category -> the CVAT quality-report wording shown in issue text (first match wins).
CVAT_WORDING: Mapping[str, str] = {v: k for k, v in reversed(list(CVAT_VOCABULARY.items()))}


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuePlan:
    """One issue to create.

    Attributes:
        job_id: The CVAT job the issue is raised in (the candidate's job).
        frame: The frame number inside the task.
        position: ``[x1, y1, x2, y2]`` in pixels (the region's bounding box; the whole
            frame when the finding has no region).
        message: Category, evidence and the rule broken, ending with ``[accord:<key>]``.
        key: The duplicate-detection key.
        severity: The discrepancy's severity.
    """

    job_id: int
    frame: int
    position: tuple[float, ...]
    message: str
    key: str
    severity: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WritebackResult:
    """What :func:`write_issues` did: ``created`` + ``skipped_existing`` == ``planned``."""

    planned: int
    created: int
    skipped_existing: int
    dry_run: bool
    job_ids: tuple[int, ...]


def _bbox(record: Record | None, width: float | None, height: float | None) -> tuple[float, ...]:
    """``[x1, y1, x2, y2]`` around a record's geometry; the whole frame when there is none."""
    v = record.value if record is not None else None
    pts: list[tuple[float, float]] = []
    if isinstance(v, Box):
        pts = [(v.x, v.y), (v.x + v.width, v.y + v.height)]
    elif isinstance(v, Polygon | Polyline):
        pts = list(v.points)
    elif isinstance(v, Keypoints):
        pts = [(p.x, p.y) for p in v.points if p.visibility > 0] or [(p.x, p.y) for p in v.points]
    elif isinstance(v, Track) and v.frames:
        f = v.frames[0]
        pts = [(f.x, f.y), (f.x + f.width, f.y + f.height)]
    elif isinstance(v, Mask):
        ys, xs = rle.decode(v.counts, v.height, v.width).nonzero()
        if xs.size:
            pts = [(float(xs.min()), float(ys.min())), (float(xs.max()) + 1, float(ys.max()) + 1)]
    if not pts:
        return (0.0, 0.0, float(width or 1.0), float(height or 1.0))
    xs_, ys_ = [float(p[0]) for p in pts], [float(p[1]) for p in pts]
    return (min(xs_), min(ys_), max(xs_), max(ys_))


def _frame_in_job(data: Mapping[str, Any], job_id: int) -> int:
    """The item's frame number in that job (honeypots differ from their GT frame), else its first."""
    return int((data.get("cvat_frames") or {}).get(str(job_id), data["cvat_frame"]))


def _key(raw: str) -> str:
    """A short, stable duplicate-detection key (not a security hash)."""
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:12]


def _fmt_evidence(ev: Mapping[str, Any]) -> str:
    out = []
    for k, v in ev.items():
        out.append(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}")
    return ", ".join(out)


def plan_issues(report: Mapping[str, Any], dataset: Dataset, *, min_severity: str = "major",
                against: Sequence[str] = ("reference", "consensus"), conflicts: bool = False,
                conflict_severity: str = "major") -> tuple[IssuePlan, ...]:
    """The issues to raise for a report's discrepancies (pure; no I/O).

    Args:
        report: :func:`~accord.core.qa.report.build_report`'s dict.
        dataset: The dataset it was built from (CVAT API records: ``annotation_id``
            ``job:<id>``, item data ``cvat_frame``).
        min_severity: Lowest severity raised: one of ``info``, ``minor``, ``major``, ``critical``.
        against: Which comparisons raise issues: ``reference`` (gold), ``consensus``, and/or
            ``annotator`` (pairwise disagreements).
        conflicts: Also raise the report's conflict queue (items where annotators agree
            below the threshold, no gold needed): one whole-frame issue in each human
            annotator's job, quoting what each one drew.
        conflict_severity: The severity given to conflicts (compared with ``min_severity``).

    Returns:
        One plan per discrepancy whose job and frame are known, most severe first; two
        discrepancies with the same key give one plan.

    Raises:
        ConfigError: ``min_severity`` or ``conflict_severity`` is not a severity.
    """
    for name, sev in (("min_severity", min_severity), ("conflict_severity", conflict_severity)):
        if sev not in SEVERITIES:
            raise ConfigError(f"{name} must be one of {SEVERITIES}, got {sev!r}")
    floor = severity_rank(min_severity)
    regions: dict[tuple[str, str, str, str | None], Record] = {}
    for r in dataset.records:
        regions[(r.item_id, r.label_set, r.annotator_id, r.region_id)] = r
    jobs = {(s.item_id, s.annotator_id): s.annotation_id for s in dataset.submissions}
    plans: dict[str, IssuePlan] = {}
    for d in all_discrepancies(report):
        if severity_rank(d["severity"]) < floor:
            continue
        kind = str(d.get("against", "reference")).split(":", 1)[0]
        if kind not in against:
            continue
        item = dataset.items.get(d["item_id"])
        job = jobs.get((d["item_id"], d["annotator_id"]))
        if item is None or "cvat_frame" not in item.data or not job or not str(job).startswith("job:"):
            logger.debug("no CVAT job/frame for %s on %s", d["annotator_id"], d["item_id"])
            continue
        cand = regions.get((d["item_id"], d["label_set"], d["annotator_id"], d.get("candidate_region_id")))
        ref = None
        if cand is None and d.get("reference_region_id") is not None:
            ref = next((r for k, r in regions.items() if k[0] == d["item_id"] and k[1] == d["label_set"]
                        and k[3] == d["reference_region_id"] and r.annotator_id != d["annotator_id"]), None)
        position = _bbox(cand if cand is not None else ref, item.width, item.height)
        job_id = int(str(job)[4:])
        frame = _frame_in_job(item.data, job_id)
        raw = "|".join(str(x) for x in (job_id, frame, d["label_set"], d["category"], d.get("event"),
                                        d.get("candidate_region_id"), d.get("reference_region_id")))
        key = _key(raw)
        labels = " vs ".join(str(x) for x in (d.get("candidate_label"), d.get("reference_label")) if x is not None)
        cvat = CVAT_WORDING.get(d["category"])
        text = (f"{d['category']}{f' ({cvat})' if cvat else ''}, {d['severity']}: {d['label_set']}"
                f"{f' {labels}' if labels else ''}; rule: {d.get('event')} against {d.get('against')}"
                f"{'; ' + _fmt_evidence(d['evidence']) if d.get('evidence') else ''} [accord:{key}]")
        plans.setdefault(key, IssuePlan(job_id=job_id, frame=frame, position=position, message=text, key=key,
                                        severity=d["severity"]))
    if conflicts and severity_rank(conflict_severity) >= floor:
        for c in report.get("conflicts", {}).get("items", ()):
            item = dataset.items.get(c["item_id"])
            if item is None or "cvat_frame" not in item.data:
                continue
            score = c.get("agreement")
            said = "; ".join(f"{a}: {v}" for a, v in sorted(c.get("annotations", {}).items()))
            for who in sorted(c.get("annotations", {})):
                job = jobs.get((c["item_id"], who))
                if not job or not str(job).startswith("job:"):
                    continue
                job_id = int(str(job)[4:])
                frame = _frame_in_job(item.data, job_id)
                raw = f"{job_id}|{frame}|{c['label_set']}|conflict"
                key = _key(raw)
                text = (f"conflict, {conflict_severity}: {c['label_set']}; rule: {c.get('reason')}"
                        f"{f' (agreement={score:.3f})' if isinstance(score, float) else ''}; {said}"[:900]
                        + f" [accord:{key}]")
                plans.setdefault(key, IssuePlan(job_id=job_id, frame=frame,
                                                position=_bbox(None, item.width, item.height), message=text,
                                                key=key, severity=conflict_severity))
    return tuple(sorted(plans.values(), key=lambda p: (-severity_rank(p.severity), p.job_id, p.frame, p.key)))


def _existing_keys(client: Any, job_ids: Iterable[int]) -> set[str]:
    from cvat_sdk.core.helpers import get_paginated_collection

    api = client.api_client
    keys: set[str] = set()
    for job_id in job_ids:
        for issue in get_paginated_collection(api.issues_api.list_endpoint, job_id=job_id):
            for c in get_paginated_collection(api.comments_api.list_endpoint, issue_id=issue.id):
                msg = str(getattr(c, "message", ""))
                start = msg.find("[accord:")
                while start >= 0:
                    end = msg.find("]", start)
                    keys.add(msg[start + 8:end])
                    start = msg.find("[accord:", end)
    return keys


def write_issues(client: Any, plans: Sequence[IssuePlan], *, dry_run: bool = True) -> WritebackResult:
    """Create the planned issues that are not in CVAT yet (by key).

    Args:
        client: A logged-in ``cvat_sdk.Client``.
        plans: From :func:`plan_issues`.
        dry_run: Only count; create nothing (existing issues are still read).
    """
    from cvat_sdk.api_client import models

    job_ids = tuple(sorted({p.job_id for p in plans}))
    existing = _existing_keys(client, job_ids)
    created = skipped = 0
    for p in plans:
        if p.key in existing:
            skipped += 1
            continue
        existing.add(p.key)
        created += 1
        if dry_run:
            continue
        client.api_client.issues_api.create(models.IssueWriteRequest(
            frame=p.frame, position=[float(v) for v in p.position], job=p.job_id, message=p.message))
    logger.info("issues: %d planned, %d %s, %d already there", len(plans), created,
                "would be created" if dry_run else "created", skipped)
    return WritebackResult(planned=len(plans), created=created, skipped_existing=skipped, dry_run=dry_run,
                           job_ids=job_ids)


def move_jobs(client: Any, job_ids: Iterable[int], *, stage: Stage | None = None, state: State | None = None,
              dry_run: bool = True) -> tuple[int, ...]:
    """Set ``stage`` and/or ``state`` on jobs; returns the ids changed (or that would be).

    Raises:
        ConfigError: neither given, or a value CVAT does not know.
    """
    if stage is None and state is None:
        raise ConfigError("give a stage and/or a state to move jobs to")
    if stage is not None and stage not in STAGES:
        raise ConfigError(f"stage must be one of {STAGES}, got {stage!r}")
    if state is not None and state not in STATES:
        raise ConfigError(f"state must be one of {STATES}, got {state!r}")
    from cvat_sdk.api_client import models

    ids = tuple(sorted(set(job_ids)))
    if not dry_run:
        for job_id in ids:
            kw: dict[str, Any] = {}
            if stage is not None:
                kw["stage"] = models.JobStage(stage)
            if state is not None:
                kw["state"] = models.OperationStatus(state)
            client.api_client.jobs_api.partial_update(job_id, patched_job_write_request=models.PatchedJobWriteRequest(
                **kw))
    return ids
