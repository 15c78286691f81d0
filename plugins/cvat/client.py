"""CVAT's REST API (through cvat-sdk) -> accord :class:`~accord.core.model.Dataset`.

Two halves, kept apart so the converter tests without a server:

* :func:`from_cvat_api` is pure: the JSON that CVAT's API returns for a task (task,
  jobs, labels, data meta, and each job's annotations as plain dicts) in, a
  :class:`Dataset` out.
* :func:`connect`, :func:`fetch_task` and :func:`fetch_project` use cvat-sdk 2.80
  (imported lazily) to get that JSON, then call the converter.

Who is an annotator: every *annotation* job is one pass by its assignee
(``cvat:<username>``, else ``cvat:job<id>``); each consensus replica (a job with
``parent_job_id``) is one annotator; a ground-truth job (``type == "ground_truth"``)
gives ``reference`` records; a consensus parent job (one with replicas) gives
``consensus`` records. A record's ``annotation_id`` and its submission's are
``job:<id>``, which is what write-back uses to find the job of a conflict.

Items are frames: the frame's file name (as in "CVAT for images 1.1" exports, so the
API and export paths match), or ``"<task>/frame_<n:06d>"`` for video tasks (as the
XML converter names them). In project mode names are prefixed with ``"<task name>/"``.
Item data keeps ``cvat_task_id``, ``cvat_frame`` (the first frame number seen) and
``cvat_frames`` (``{job id: frame number}``: a ground-truth pool frame and its honeypot
copies share a file name, so they are one item at different frame numbers per job);
width and height come from the data meta. Label sets are named by shape as in :mod:`accord.plugins.cvat.convert`:
``boxes``, ``polygons``, ``polylines``, ``points``, ``masks``, ``skeletons``,
``tags``, ``tracks`` (box tracks; the API returns keyframes only, so boxes are interpolated
between them as CVAT does, see :func:`interpolate_box_track`; other tracks give one record per
keyframe in the frame's item, region ``track:<id>``).

Cuboids: in 3D (point-cloud) tasks :class:`~accord.core.model.Cuboid` values in label set
``cuboids``; drawn on images, the polygon of their eight corners in ``cuboids_2d`` (see
:func:`accord.plugins.cvat.convert.cuboid_value`). Shape types accord does not read are
counted in one warning each. Ellipses become their axis-aligned :class:`Box`
(rotation kept), and CVAT's ``z_order``, ``group`` and ``source`` are not attributes
(they are not judgments; ``occluded`` is).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from accord.core import rle
from accord.core.errors import (
    ConfigError,
    ConversionError,
    InvalidAnnotationError,
    LimitExceededError,
    MissingExtraError,
)
from accord.core.limits import check_limit
from accord.core.model import (
    Box,
    Classification,
    Cuboid,
    Dataset,
    Item,
    Keypoint,
    Keypoints,
    Mask,
    Polygon,
    Polyline,
    Record,
    Source,
    Submission,
    Track,
    TrackFrame,
    Value,
)
from accord.core.schema import AttributeSpec, Kind, LabelSet, Schema

from .convert import cuboid_value

logger = logging.getLogger(__name__)

#: CVAT API shape ``type`` -> accord label set.
SET_OF_SHAPE: Mapping[str, str] = {
    "rectangle": "boxes", "ellipse": "boxes", "polygon": "polygons", "polyline": "polylines",
    "points": "points", "mask": "masks", "skeleton": "skeletons", "cuboid": "cuboids",
}
_KIND_OF: dict[str, Kind] = {"boxes": "box", "polygons": "polygon", "polylines": "polyline", "points": "keypoints",
                             "masks": "mask", "skeletons": "keypoints", "tags": "classification", "tracks": "track",
                             "cuboids": "cuboid", "cuboids_2d": "polygon"}
_SET_ORDER = ("boxes", "polygons", "polylines", "points", "masks", "skeletons", "cuboids", "cuboids_2d", "tags",
              "tracks")


def _set_of(shape_type: str, value: Value) -> str:
    if shape_type == "cuboid" and not isinstance(value, Cuboid):
        return "cuboids_2d"  # a cuboid drawn on an image: its outline
    return SET_OF_SHAPE[shape_type]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskPayload:
    """What CVAT's API returns for one task, as plain JSON dicts.

    Attributes:
        task: ``GET /api/tasks/<id>``.
        jobs: ``GET /api/jobs?task_id=<id>`` results (every type: annotation,
            ground_truth, consensus_replica).
        labels: ``GET /api/labels?task_id=<id>`` results (with sublabels and attributes).
        meta: ``GET /api/tasks/<id>/data/meta``.
        annotations: ``GET /api/jobs/<job id>/annotations`` by job id (tags, shapes, tracks).
    """

    task: Mapping[str, Any]
    jobs: Sequence[Mapping[str, Any]]
    labels: Sequence[Mapping[str, Any]]
    meta: Mapping[str, Any]
    annotations: Mapping[int, Mapping[str, Any]]


class _Labels:
    """Label and attribute-spec ids -> names (sublabels included)."""

    def __init__(self, labels: Sequence[Mapping[str, Any]]) -> None:
        self.name: dict[int, str] = {}
        self.attr: dict[int, str] = {}
        self.specs: dict[str, tuple[AttributeSpec, ...]] = {}
        self.top: list[str] = []
        self.skeleton: dict[str, tuple[str, ...]] = {}
        for lab in labels:
            self._add(lab, top=lab.get("parent_id") is None)

    def _add(self, lab: Mapping[str, Any], *, top: bool) -> None:
        name = str(lab.get("name", ""))
        if "id" in lab:
            self.name[int(lab["id"])] = name
        specs = []
        for a in lab.get("attributes") or ():
            if "id" in a:
                self.attr[int(a["id"])] = str(a["name"])
            it = str(a.get("input_type", "select"))
            specs.append(AttributeSpec(name=str(a["name"]), values=tuple(str(v) for v in a.get("values") or ()),
                                       input_type=it if it in ("select", "radio", "checkbox", "text", "number")
                                       else "text",
                                       mutable=bool(a.get("mutable", False)), default=a.get("default_value")))
        if specs:
            self.specs[name] = tuple(specs)
        subs = lab.get("sublabels") or ()
        if subs:
            self.skeleton[name] = tuple(str(s.get("name", "")) for s in subs)
            for s in subs:
                self._add(s, top=False)
        if top and name not in self.top:
            self.top.append(name)

    def label(self, label_id: Any, where: str) -> str:
        try:
            return self.name[int(label_id)]
        except (KeyError, TypeError, ValueError):
            raise ConversionError(f"{where} refers to label_id {label_id!r}, which is not among the task's labels "
                                  f"{sorted(self.name)}; fetch the labels of the same task", field="label_id") from None

    def attributes(self, shape: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "occluded" in shape:  # always, as in CVAT's XML exports: "not occluded" is a judgment too
            out["occluded"] = bool(shape["occluded"])
        for a in shape.get("attributes") or ():
            out[self.attr.get(int(a["spec_id"]), str(a["spec_id"]))] = str(a.get("value", ""))
        return out


def _xy(points: Sequence[float], where: str) -> tuple[tuple[float, float], ...]:
    if len(points) % 2:
        raise ConversionError(f"{where}: expected an even number of coordinates [x1, y1, x2, y2, ...], "
                              f"got {len(points)}", field="points")
    return tuple((float(points[i]), float(points[i + 1])) for i in range(0, len(points), 2))


def _box(s: Mapping[str, Any], label: str, ctx: _Frame, labels: _Labels) -> Value:
    x1, y1, x2, y2 = (float(v) for v in s["points"][:4])
    return Box(label=label, x=x1, y=y1, width=x2 - x1, height=y2 - y1, rotation=float(s.get("rotation") or 0.0))


def _ellipse(s: Mapping[str, Any], label: str, ctx: _Frame, labels: _Labels) -> Value:
    cx, cy, rx, ry = (float(v) for v in s["points"][:4])  # centre, then a point at (cx + rx, cy - ry)
    ax, ay = abs(rx - cx), abs(cy - ry)
    return Box(label=label, x=cx - ax, y=cy - ay, width=2 * ax, height=2 * ay, rotation=float(s.get("rotation") or 0))


def _polygon(s: Mapping[str, Any], label: str, ctx: _Frame, labels: _Labels) -> Value:
    return Polygon(label=label, points=_xy(s["points"], ctx.where))


def _polyline(s: Mapping[str, Any], label: str, ctx: _Frame, labels: _Labels) -> Value:
    return Polyline(label=label, points=_xy(s["points"], ctx.where))


def _points(s: Mapping[str, Any], label: str, ctx: _Frame, labels: _Labels) -> Value:
    vis = 0 if s.get("outside") else 1 if s.get("occluded") else 2
    return Keypoints(label=label, points=tuple(Keypoint(name=str(i), x=x, y=y, visibility=vis)
                                               for i, (x, y) in enumerate(_xy(s["points"], ctx.where))))


def _skeleton(s: Mapping[str, Any], label: str, ctx: _Frame, labels: _Labels) -> Value:
    kps = []
    for el in s.get("elements") or ():
        x, y = (float(v) for v in el["points"][:2])
        vis = 0 if el.get("outside") else 1 if el.get("occluded") else 2
        kps.append(Keypoint(name=labels.label(el["label_id"], ctx.where), x=x, y=y, visibility=vis))
    return Keypoints(label=label, points=tuple(kps))


def _cuboid(s: Mapping[str, Any], label: str, ctx: _Frame, labels: _Labels) -> Value:
    return cuboid_value(label, [float(v) for v in s["points"]], dim3=ctx.dim3)


def _mask(s: Mapping[str, Any], label: str, ctx: _Frame, labels: _Labels) -> Value:
    """CVAT's API mask: run lengths (starting with a 0-run) over the window, then left, top, right, bottom."""
    if ctx.width is None or ctx.height is None:
        raise ConversionError(f"{ctx.where}: a mask needs the frame's width and height (data meta)",
                              item_id=ctx.item_id, field="meta.frames")
    pts = [float(v) for v in s["points"]]
    if len(pts) < 5:
        raise ConversionError(f"{ctx.where}: a mask needs run lengths then [left, top, right, bottom], got {pts!r}",
                              item_id=ctx.item_id, field="points")
    # sizes come from the server: refuse a frame or window too large to rasterize before allocating
    # (the limit the XML path checks too; `accord --max-image-pixels` raises it)
    check_limit("max_raster_pixels", ctx.width * ctx.height, f"{ctx.where}: a mask's frame is", unit=" pixels")
    left, top, right, bottom = (round(v) for v in pts[-4:])
    w, h = right - left + 1, bottom - top + 1
    check_limit("max_raster_pixels", max(w, 0) * max(h, 0), f"{ctx.where}: a mask's window is", unit=" pixels")
    counts = [round(v) for v in pts[:-4]]
    if w <= 0 or h <= 0 or sum(counts) != w * h:
        raise ConversionError(f"{ctx.where}: mask runs sum to {sum(counts)}, expected the window's "
                              f"{max(w, 0)}*{max(h, 0)} pixels", item_id=ctx.item_id, field="points")
    vals = np.zeros(len(counts), dtype=bool)
    vals[1::2] = True
    window = np.repeat(vals, counts).reshape(h, w)
    full = np.zeros((ctx.height, ctx.width), dtype=bool)
    full[top:top + h, left:left + w] = window[: max(0, ctx.height - top), : max(0, ctx.width - left)]
    return Mask(label=label, height=ctx.height, width=ctx.width, counts=rle.encode(full))


#: CVAT API shape type -> converter (a lookup table, not an if/elif chain).
FROM_SHAPE: Mapping[str, Callable[[Mapping[str, Any], str, _Frame, _Labels], Value]] = {
    "rectangle": _box, "ellipse": _ellipse, "polygon": _polygon, "polyline": _polyline, "points": _points,
    "skeleton": _skeleton, "mask": _mask, "cuboid": _cuboid,
}


@dataclass(frozen=True, slots=True)
class _Frame:
    item_id: str
    width: int | None
    height: int | None
    where: str
    frame: int = 0
    dim3: bool = False


class _Frames:
    """Frame numbers -> item ids and sizes, from the task's data meta."""

    def __init__(self, task: Mapping[str, Any], meta: Mapping[str, Any], prefix: str) -> None:
        self.video = task.get("mode") == "interpolation" or task.get("media_type") == "video"
        self.task_name = str(task.get("name") or f"task{task.get('id')}")
        self.task_id = int(task.get("id", 0))
        self.dim3 = str(task.get("dimension") or "").lower() == "3d"
        self.prefix = prefix
        self.frames = list(meta.get("frames") or ())
        self.deleted = {int(f) for f in meta.get("deleted_frames") or ()}

    def item(self, frame: int) -> tuple[str, int | None, int | None]:
        if self.video:
            f0 = self.frames[0] if self.frames else {}
            return (f"{self.prefix}{self.task_name}/frame_{frame:06d}", f0.get("width"), f0.get("height"))
        if 0 <= frame < len(self.frames):  # API frame numbers index the task's frames from 0
            f = self.frames[frame]
            return f"{self.prefix}{f['name']}", f.get("width"), f.get("height")
        return f"{self.prefix}{self.task_name}/frame_{frame:06d}", None, None


def _annotator(job: Mapping[str, Any]) -> str:
    who = job.get("assignee") or {}
    name = who.get("username") if isinstance(who, Mapping) else None
    return f"cvat:{name}" if name else f"cvat:job{job['id']}"


def _job_source(job: Mapping[str, Any]) -> Source:
    if job.get("type") == "ground_truth":
        return "reference"
    if int(job.get("replicas_count") or 0) > 0 and job.get("parent_job_id") is None:
        return "consensus"
    return "human"


def from_cvat_api(payloads: Iterable[TaskPayload], *, name: str | None = None,
                  project: bool = False) -> Dataset:
    """CVAT API JSON for one or more tasks as one :class:`Dataset` (pure; no SDK, no I/O).

    Args:
        payloads: One :class:`TaskPayload` per task.
        name: The dataset's name; default the (first) task's name.
        project: Prefix item ids with ``"<task name>/"`` (frame names can repeat across tasks).

    Raises:
        ConversionError: a shape refers to an unknown label, or its geometry is malformed
            (the message names the job, frame and shape).
    """
    records: list[Record] = []
    items: dict[str, Item] = {}
    subs: dict[tuple[str, str, str], Submission] = {}
    schema_labels: list[str] = []
    specs: dict[str, tuple[AttributeSpec, ...]] = {}
    skeleton: tuple[str, ...] = ()
    used: set[str] = set()
    job_frames: dict[str, dict[str, int]] = {}  # item -> {job id: frame number in that job}
    first_name: str | None = None
    skipped: dict[str, int] = {}
    for p in payloads:
        labels = _Labels(p.labels)
        schema_labels += [n for n in labels.top if n not in schema_labels]
        specs.update(labels.specs)
        skeleton = skeleton or next(iter(labels.skeleton.values()), ())
        frames = _Frames(p.task, p.meta, f"{p.task.get('name') or 'task' + str(p.task.get('id'))}/" if project
                         else "")
        first_name = first_name or frames.task_name

        def frame_item(frame: int, job: Mapping[str, Any], frames: _Frames = frames) -> _Frame:
            item_id, w, h = frames.item(frame)
            if item_id not in items:
                data: dict[str, Any] = {"image": item_id, "cvat_task_id": frames.task_id, "cvat_frame": frame}
                if frames.video:
                    data["video"] = frames.task_name
                items[item_id] = Item(item_id=item_id, data=data, width=w, height=h)
            job_frames.setdefault(item_id, {}).setdefault(str(job["id"]), frame)
            return _Frame(item_id, w, h, f"job {job['id']} frame {frame}", frame, frames.dim3)

        for job in p.jobs:
            job_id = int(job["id"])
            ann = p.annotations.get(job_id)
            if ann is None:
                continue
            who, source = _annotator(job), _job_source(job)
            jid = f"job:{job_id}"
            lo, hi = int(job.get("start_frame", 0)), int(job.get("stop_frame", -1))
            for frame in range(lo, hi + 1):
                if frame in frames.deleted:
                    continue
                ctx = frame_item(frame, job)
                subs.setdefault((ctx.item_id, who, source), Submission(
                    item_id=ctx.item_id, annotator_id=who, source=source, annotation_id=jid))

            def add(ctx: _Frame, label_set: str, value: Value, shape: Mapping[str, Any], region: str,
                    who: str = who, source: Source = source, jid: str = jid, labels: _Labels = labels) -> None:
                used.add(label_set)
                job_frames.setdefault(ctx.item_id, {})[jid[4:]] = ctx.frame  # where this job drew it wins
                subs.setdefault((ctx.item_id, who, source), Submission(
                    item_id=ctx.item_id, annotator_id=who, source=source, annotation_id=jid))
                records.append(Record(item_id=ctx.item_id, annotator_id=who, label_set=label_set, value=value,
                                      source=source, region_id=region, annotation_id=jid,
                                      attributes=labels.attributes(shape),
                                      score=float(shape["score"]) if shape.get("score") not in (None, 1.0)
                                      else None))

            for t in ann.get("tags") or ():
                ctx = frame_item(int(t["frame"]), job)
                add(ctx, "tags", Classification(label=labels.label(t["label_id"], ctx.where)), t,
                    f"tag:{t.get('id')}")
            for s in ann.get("shapes") or ():
                ctx = frame_item(int(s["frame"]), job)
                fn = FROM_SHAPE.get(str(s["type"]))
                if fn is None:
                    skipped[str(s["type"])] = skipped.get(str(s["type"]), 0) + 1
                    continue
                label = labels.label(s["label_id"], ctx.where)
                try:
                    value = fn(s, label, ctx, labels)
                except LimitExceededError:
                    raise  # already names the limit and the option that raises it
                except (InvalidAnnotationError, KeyError, ValueError, TypeError) as e:
                    raise ConversionError(f"{ctx.where}: {s['type']} shape {s.get('id')} is not valid: {e}",
                                          item_id=ctx.item_id, field="shapes") from e
                add(ctx, _set_of(str(s["type"]), value), value, s, f"shape:{s.get('id')}")
            for t in ann.get("tracks") or ():
                _track(t, job, frames, labels, frame_item, add, skipped)
    for kind, n in sorted(skipped.items()):
        logger.warning("CVAT API: skipped %d %r shape%s (a shape type accord does not read)", n, kind,
                       "s" * (n > 1))

    sets = [LabelSet(name=n, kind=_KIND_OF[n], labels=tuple(schema_labels), multiple=True, attributes=specs,
                     tool_type=n, to_name="video" if n == "tracks" else "image",
                     skeleton=skeleton if n == "skeletons" else ())
            for n in _SET_ORDER if n in used]
    names = frozenset(ls.name for ls in sets)
    items = {k: Item(item_id=it.item_id, data={**it.data, "cvat_frames": job_frames.get(k, {})},
                     width=it.width, height=it.height, meta=it.meta,
                     label_sets=names) for k, it in items.items()}
    return Dataset(records=tuple(records), schema=Schema.of(*sets), items=items,
                   submissions=tuple(subs.values()), name=name or first_name or "cvat")


def _track(t: Mapping[str, Any], job: Mapping[str, Any], frames: _Frames, labels: _Labels,
           frame_item: Callable[[int, Mapping[str, Any]], _Frame],
           add: Callable[[_Frame, str, Value, Mapping[str, Any], str], None],
           skipped: dict[str, int] | None = None) -> None:
    label = labels.label(t["label_id"], f"job {job['id']} track {t.get('id')}")
    shapes = sorted(t.get("shapes") or (), key=lambda s: int(s["frame"]))
    tid = str(t.get("id"))
    if shapes and all(s["type"] == "rectangle" for s in shapes):
        item_id = f"{frames.prefix}{frames.task_name}"
        ctx = frame_item(int(shapes[0]["frame"]), job)
        try:
            tf = interpolate_box_track(shapes, stop_frame=int(job.get("stop_frame", shapes[-1]["frame"])),
                                       deleted_frames=frames.deleted)
            value = Track(label=label, track_id=tid, frames=tuple(tf))
        except (InvalidAnnotationError, KeyError, ValueError, TypeError) as e:
            raise ConversionError(f"job {job['id']} track {tid} is not valid: {e}", item_id=item_id,
                                  field="tracks") from e
        add(_Frame(item_id, ctx.width, ctx.height, ctx.where, ctx.frame), "tracks", value, t, f"track:{tid}")
        return
    for s in shapes:
        fn = FROM_SHAPE.get(str(s["type"]))
        if fn is None and skipped is not None:
            skipped[str(s["type"])] = skipped.get(str(s["type"]), 0) + 1
        if fn is None or s.get("outside"):
            continue
        ctx = frame_item(int(s["frame"]), job)
        value = fn(s, label, ctx, labels)
        add(ctx, _set_of(str(s["type"]), value), value, t, f"track:{tid}")


def interpolate_box_track(shapes: Sequence[Mapping[str, Any]], *, stop_frame: int,
                          deleted_frames: Iterable[int] = ()) -> list[TrackFrame]:
    """A box track's every frame from its keyframes, as CVAT interpolates them (pure).

    CVAT's API returns a track's keyframes only; its exports and its own quality checks use
    the frames in between. This follows CVAT's ``TrackManager.get_interpolated_shapes`` for
    rectangles: between two keyframes the corners move linearly and the rotation takes the
    shorter way round (``((r1 - r0 + 180) % 360) - 180``); nothing is interpolated after an
    ``outside`` keyframe (the object left the view); after the last keyframe, if it is not
    outside, the box stays put up to ``stop_frame`` (the job's last frame). Outside keyframes
    are kept (``outside=True``); interpolated frames have ``keyframe=False``; deleted frames
    are dropped.

    Args:
        shapes: The track's ``shapes`` as the API returns them (``frame``, ``points``
            ``[x1, y1, x2, y2]``, ``outside``, ``rotation``), in any order.
        stop_frame: The last frame of the job (inclusive).
        deleted_frames: Frames deleted from the task.

    Raises:
        ConversionError: a keyframe has fewer than four coordinates, or a frame repeats.

    >>> k = [{"frame": 0, "points": [0, 0, 10, 10]}, {"frame": 4, "points": [8, 0, 18, 10]}]
    >>> [(f.frame, f.x, f.keyframe) for f in interpolate_box_track(k, stop_frame=5)]
    [(0, 0.0, True), (1, 2.0, False), (2, 4.0, False), (3, 6.0, False), (4, 8.0, True), (5, 8.0, False)]
    """
    deleted = set(deleted_frames)
    keys = sorted((s for s in shapes if int(s["frame"]) not in deleted), key=lambda s: int(s["frame"]))
    parsed = []
    for s in keys:
        pts = [float(v) for v in s.get("points") or ()]
        if len(pts) < 4:
            raise ConversionError(f"a rectangle keyframe needs points [x1, y1, x2, y2], got {pts!r} at frame "
                                  f"{s.get('frame')!r}", field="tracks.shapes.points")
        parsed.append((int(s["frame"]), np.array(pts[:4]), float(s.get("rotation") or 0.0), bool(s.get("outside"))))
    if len({p[0] for p in parsed}) != len(parsed):
        raise ConversionError(f"a track lists a keyframe twice: frames {[p[0] for p in parsed]}",
                              field="tracks.shapes.frame")

    def box(frame: int, p: Any, rot: float, *, outside: bool = False, keyframe: bool = False) -> TrackFrame:
        x1, y1, x2, y2 = (float(v) for v in p)
        return TrackFrame(frame=frame, x=x1, y=y1, width=x2 - x1, height=y2 - y1, rotation=rot,
                          outside=outside, keyframe=keyframe)

    out: list[TrackFrame] = []
    for k, (f0, p0, r0, out0) in enumerate(parsed):
        out.append(box(f0, p0, r0, outside=out0, keyframe=True))
        nxt = parsed[k + 1] if k + 1 < len(parsed) else None
        if out0:
            continue
        if nxt is None:
            out.extend(box(f, p0, r0) for f in range(f0 + 1, stop_frame + 1) if f not in deleted)
            continue
        f1, p1, r1, _ = nxt
        turn = ((r1 - r0 + 180.0) % 360.0) - 180.0
        for f in range(f0 + 1, f1):
            if f in deleted:
                continue
            t = (f - f0) / (f1 - f0)
            rot = (r0 + turn * t + 360.0) % 360.0
            out.append(box(f, p0 + (p1 - p0) * t, rot))
    return out


# --------------------------------------------------------------------------- SDK


def connect(url: str, *, token: str | None = None, user: str | None = None, password: str | None = None) -> Any:
    """A logged-in ``cvat_sdk.Client`` for ``url`` (a Personal Access Token, or user and password).

    Raises:
        ConfigError: neither or both ways of logging in were given.
        MissingExtraError: cvat-sdk is not installed (``pip install 'accord[cvat]'``).
    """
    try:
        from cvat_sdk import make_client
    except ImportError as e:
        raise MissingExtraError("'cvat_sdk' is needed to talk to CVAT but is not installed; "
                                "install it with: pip install 'accord[cvat]'") from e
    if (token is None) == (user is None or password is None):
        raise ConfigError("log in with either a token (--token PAT) or --user and --password, not both "
                          f"or neither (got token={'set' if token else None}, user={user!r})")
    if token is not None:
        return make_client(url, access_token=token)
    return make_client(url, credentials=(str(user), str(password)))


def _plain(model: Any) -> Any:
    d = model.to_dict() if hasattr(model, "to_dict") else model
    return d


def _paginated(endpoint: Any, **kwargs: Any) -> list[dict[str, Any]]:
    from cvat_sdk.core.helpers import get_paginated_collection

    return [_plain(m) for m in get_paginated_collection(endpoint, **kwargs)]


def fetch_payload(client: Any, task_id: int) -> TaskPayload:
    """Everything :func:`from_cvat_api` needs about one task, via cvat-sdk."""
    api = client.api_client
    task, _ = api.tasks_api.retrieve(task_id)
    jobs = _paginated(api.jobs_api.list_endpoint, task_id=task_id)
    labels = _paginated(api.labels_api.list_endpoint, task_id=task_id)
    meta, _ = api.tasks_api.retrieve_data_meta(task_id)
    annotations: dict[int, Mapping[str, Any]] = {}
    for job in jobs:
        data, _ = api.jobs_api.retrieve_annotations(int(job["id"]))
        annotations[int(job["id"])] = _plain(data)
    return TaskPayload(task=_plain(task), jobs=jobs, labels=labels, meta=_plain(meta), annotations=annotations)


def fetch_task(client: Any, task_id: int) -> Dataset:
    """One task's annotations (every job, ground truth and replicas included) as a :class:`Dataset`."""
    return from_cvat_api([fetch_payload(client, task_id)])


def fetch_project(client: Any, project_id: int) -> Dataset:
    """Every task of a project as one :class:`Dataset` (item ids prefixed with the task name)."""
    api = client.api_client
    tasks = _paginated(api.tasks_api.list_endpoint, project_id=project_id)
    if not tasks:
        raise ConversionError(f"project {project_id} has no tasks (or you cannot see them); check the id",
                              field="project")
    project, _ = api.projects_api.retrieve(project_id)
    return from_cvat_api([fetch_payload(client, int(t["id"])) for t in tasks], project=True,
                         name=str(_plain(project).get("name") or f"project{project_id}"))


# --------------------------------------------------------------------------- report in CVAT's words


def cvat_breakdown(report: Mapping[str, Any], dataset: Dataset) -> dict[str, Any]:
    """The report's discrepancies counted per job, assignee, label and frame, in CVAT's vocabulary.

    Pure. Each count is ``{accord category: n}``; ``vocabulary`` maps CVAT's quality-report
    terms (missing annotation, low overlap, ...) to accord categories and ``by_cvat_term``
    counts in those terms (a category several terms share is counted under the first).
    Jobs come from ``annotation_id`` ``job:<id>`` (API path); export paths have none.
    """
    from accord.core.qa.report import all_discrepancies

    from .vocabulary import CVAT_VOCABULARY

    term_of: dict[str, str] = {}
    for term, cat in CVAT_VOCABULARY.items():
        term_of.setdefault(cat, term)
    jobs = {(s.item_id, s.annotator_id): s.annotation_id for s in dataset.submissions}
    out: dict[str, dict[str, dict[str, int]]] = {k: {} for k in ("by_job", "by_assignee", "by_label", "by_frame",
                                                                  "by_cvat_term")}

    def bump(section: str, key: str, cat: str) -> None:
        d = out[section].setdefault(key, {})
        d[cat] = d.get(cat, 0) + 1

    for d in all_discrepancies(report):
        cat = str(d["category"])
        job = jobs.get((d["item_id"], d["annotator_id"]))
        if job and str(job).startswith("job:"):
            bump("by_job", str(job)[4:], cat)
        bump("by_assignee", str(d["annotator_id"]), cat)
        bump("by_label", str(d.get("reference_label") or d.get("candidate_label") or "(none)"), cat)
        bump("by_frame", str(d["item_id"]), cat)
        term = term_of.get(cat)
        if term:
            bump("by_cvat_term", term, d["severity"])
    return {"vocabulary": dict(CVAT_VOCABULARY), **out,
            "note": "counts cover every discrepancy of the report (errors.n_discrepancies), not only the "
                    "errors.discrepancies listing"}
