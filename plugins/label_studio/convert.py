"""Label Studio JSON <-> accord records: pure functions, no SDK, no HTTP.

Reads every export shape Label Studio 1.23 produces: the full JSON export (a list of
tasks, ``completed_by`` as an int and predictions as ids), an export snapshot with full
objects (``completed_by`` as a user object, predictions as objects), a single task from
``GET /api/tasks/{id}``, and JSON_MIN (one row per annotation, which needs the labeling
config to know which keys are controls).

Each result is converted by its ``type`` through :data:`FROM_RESULT` (a lookup table).
Percentages become pixels with the result's ``original_width``/``original_height``; a
Label Studio box rotates about its top-left corner and accord's about its centre, so
the converter moves the corner exactly (and back in :func:`to_label_studio_prediction`).

``TimelineLabels`` (video events) become frame :class:`Segment` values, one per range
(``unit="frame"``). A result without ``original_width``/``original_height`` (ML backends
often leave them out of predictions) takes the size the task's other results give.

Strict where a silent guess would change the data: ``was_cancelled`` and ``ground_truth`` are
booleans (or the strings ``"true"``/``"false"``), anything else is an error naming the
field; a task id that appears twice in one export is refused; numbers must be finite.
A cancelled (skipped) annotation is kept as a cancelled :class:`Submission` without records,
and never hides the same annotator's real annotation of the task.

Identity: ``completed_by`` gives the annotator's email when the export has user objects,
else ``user:<id>``; predictions are ``model:<model_version>`` with source ``model``;
``ground_truth: true`` annotations get source ``reference`` and keep the annotator id.
"""

from __future__ import annotations

import itertools
import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

from accord.core import rle
from accord.core.errors import ConversionError, InvalidAnnotationError
from accord.core.model import (
    Box,
    Classification,
    Dataset,
    Item,
    Keypoint,
    Keypoints,
    Mask,
    MultiLabel,
    Numeric,
    Polygon,
    Record,
    Segment,
    Source,
    Span,
    Submission,
    TextValue,
    Track,
    TrackFrame,
    Value,
)
from accord.core.schema import LabelSet, Schema

from .brush import decode_brush_rle, encode_brush_rle
from .config import parse_label_config_full

logger = logging.getLogger(__name__)

_NEEDS_SIZE = frozenset({"rectanglelabels", "rectangle", "polygonlabels", "polygon", "keypointlabels", "keypoint",
                         "brushlabels", "brush", "videorectangle"})
_REGION_ATTACH = frozenset({"textarea", "choices", "rating", "number", "taxonomy"})


# --------------------------------------------------------------------------- geometry helpers


def _size(result: Mapping[str, Any], item_id: str) -> tuple[float, float]:
    w, h = result.get("original_width"), result.get("original_height")
    if not isinstance(w, int | float) or not isinstance(h, int | float) or w <= 0 or h <= 0:
        raise ConversionError(
            f"a {result.get('type')!r} result needs positive original_width and original_height to turn "
            f"percentages into pixels, got {w!r} x {h!r}; export from Label Studio >= 1.0 or add them",
            item_id=item_id, field="result.original_width")
    return float(w), float(h)


def ls_box_to_pixels(x: float, y: float, w: float, h: float, rotation: float,
                     width: float, height: float) -> tuple[float, float, float, float, float]:
    """Label Studio box (percent, rotated about its top-left corner) -> accord pixels (about centre)."""
    px, py, pw, ph = x * width / 100.0, y * height / 100.0, w * width / 100.0, h * height / 100.0
    if rotation == 0:
        return px, py, pw, ph, 0.0
    t = math.radians(rotation)
    c, s = math.cos(t), math.sin(t)
    cx = px + c * pw / 2 - s * ph / 2
    cy = py + s * pw / 2 + c * ph / 2
    return cx - pw / 2, cy - ph / 2, pw, ph, rotation


def pixels_to_ls_box(box_x: float, box_y: float, w: float, h: float, rotation: float,
                     width: float, height: float) -> tuple[float, float, float, float]:
    """Inverse of :func:`ls_box_to_pixels`: accord pixels -> Label Studio percent x, y, width, height."""
    if rotation == 0:
        return box_x * 100.0 / width, box_y * 100.0 / height, w * 100.0 / width, h * 100.0 / height
    t = math.radians(rotation)
    c, s = math.cos(t), math.sin(t)
    cx, cy = box_x + w / 2, box_y + h / 2
    px = cx - (c * w / 2 - s * h / 2)
    py = cy - (s * w / 2 + c * h / 2)
    return px * 100.0 / width, py * 100.0 / height, w * 100.0 / width, h * 100.0 / height


def _num(v: Any, item_id: str, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ConversionError(f"expected a number, got {_short(v)}", item_id=item_id, field=field)
    try:
        out = float(v)
    except (ValueError, OverflowError) as e:
        raise ConversionError(f"expected a number, got {_short(v)}", item_id=item_id, field=field) from e
    if not math.isfinite(out):
        raise ConversionError(f"expected a finite number, got {_short(v)}", item_id=item_id, field=field)
    return out


def _short(v: Any, limit: int = 60) -> str:
    """``repr(v)``, cut to ``limit`` characters (a 5,000-digit number stays one line)."""
    try:
        text = repr(v)
    except ValueError:  # an int too long for repr (sys.set_int_max_str_digits)
        return f"an integer of about {v.bit_length() * 3 // 10} digits"
    return text if len(text) <= limit else text[:limit] + "..."


def _bool(v: Any, item_id: str, field: str) -> bool:
    """A boolean field: ``true``/``false``, or the strings "true"/"false" (any case); else an error."""
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise ConversionError(f"expected true or false, got {_short(v)}; {field} is a boolean (a string "
                          "\"true\"/\"false\" is accepted too)", item_id=item_id, field=field)


def _first_label(value: Mapping[str, Any], key: str, item_id: str) -> str:
    labels = value.get(key)
    if labels is None:
        return ""
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ConversionError(f"expected a list of label strings, got {labels!r}", item_id=item_id,
                              field=f"value.{key}")
    return labels[0] if labels else ""


# --------------------------------------------------------------------------- result converters

ResultFn = Callable[[Mapping[str, Any], Mapping[str, Any], str, "LabelSet | None"], list[Value]]


def _rect(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    w, h = _size(result, item_id)
    x, y, bw, bh, rot = ls_box_to_pixels(
        _num(v.get("x"), item_id, "value.x"), _num(v.get("y"), item_id, "value.y"),
        _num(v.get("width"), item_id, "value.width"), _num(v.get("height"), item_id, "value.height"),
        _num(v.get("rotation", 0) or 0, item_id, "value.rotation"), w, h)
    return [Box(label=_first_label(v, "rectanglelabels", item_id) or _first_label(v, "labels", item_id),
                x=x, y=y, width=bw, height=bh, rotation=rot)]


def _polygon(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    w, h = _size(result, item_id)
    pts = v.get("points")
    if not isinstance(pts, list) or not all(isinstance(p, list | tuple) and len(p) == 2 for p in pts):
        raise ConversionError(f"expected points [[x%, y%], ...], got {pts!r}", item_id=item_id,
                              field="value.points")
    label = _first_label(v, "polygonlabels", item_id) or _first_label(v, "labels", item_id)
    return [Polygon(label=label, points=tuple((_num(p[0], item_id, "value.points") * w / 100.0,
                                               _num(p[1], item_id, "value.points") * h / 100.0) for p in pts))]


def _keypoint(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    w, h = _size(result, item_id)
    label = _first_label(v, "keypointlabels", item_id) or _first_label(v, "labels", item_id)
    x = _num(v.get("x"), item_id, "value.x") * w / 100.0
    y = _num(v.get("y"), item_id, "value.y") * h / 100.0
    return [Keypoints(label=label, points=(Keypoint(name=label or "point", x=x, y=y, visibility=2),))]


def _brush(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    w, h = _size(result, item_id)
    if v.get("format") != "rle" or not isinstance(v.get("rle"), list):
        raise ConversionError(f"expected a brush value with format 'rle' and an 'rle' list, got format "
                              f"{v.get('format')!r}", item_id=item_id, field="value.rle")
    try:
        m = decode_brush_rle(v["rle"], int(h), int(w))
    except ConversionError as e:
        raise ConversionError(str(e), item_id=item_id, field="value.rle") from e
    label = _first_label(v, "brushlabels", item_id) or _first_label(v, "labels", item_id)
    return [Mask(label=label, height=int(h), width=int(w), counts=rle.encode(m))]


def _labels(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    label = _first_label(v, "labels", item_id) or _first_label(v, "hypertextlabels", item_id)
    kind = ls.kind if ls is not None else None
    if kind is None:
        kind = "segment" if ("channel" in v or "original_length" in result
                             or isinstance(v.get("start"), float)) else "span"
    if kind == "segment":
        return [Segment(start=_num(v.get("start"), item_id, "value.start"),
                        end=_num(v.get("end"), item_id, "value.end"), label=label or None)]
    return _span_value(v, label, item_id)


def _span_value(v: Mapping[str, Any], label: str, item_id: str) -> list[Value]:
    g = v.get("globalOffsets")
    offsets: Mapping[str, Any] = g if isinstance(g, dict) else v
    start, end = offsets.get("start"), offsets.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool):
        raise ConversionError(f"a text span needs integer character offsets start/end (or globalOffsets), "
                              f"got {start!r}, {end!r}", item_id=item_id, field="value.start")
    text = v.get("text")
    return [Span(label=label, start=start, end=end, text=text if isinstance(text, str) else None)]


def _timeline(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    # TimelineLabels (video events): value.ranges [{start, end}] in frames, value.timelinelabels [label].
    label = _first_label(v, "timelinelabels", item_id) or _first_label(v, "labels", item_id)
    ranges = v.get("ranges")
    if not isinstance(ranges, list) or not ranges:
        raise ConversionError(f"a timelinelabels result needs 'ranges' as a non-empty list of {{start, end}} "
                              f"frames, got {_short(ranges)}", item_id=item_id, field="value.ranges")
    out: list[Value] = []
    for k, r in enumerate(ranges):
        fld = f"value.ranges[{k}]"
        if not isinstance(r, dict):
            raise ConversionError(f"expected a {{start, end}} object, got {_short(r)}", item_id=item_id, field=fld)
        start = _num(r.get("start"), item_id, fld + ".start")
        end = _num(r.get("end", start), item_id, fld + ".end")
        out.append(Segment(start=start, end=end, label=label or None, unit="frame"))
    return out


def _hypertext(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    return _span_value(v, _first_label(v, "hypertextlabels", item_id), item_id)


def _paragraph(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    # Offsets inside paragraphs; the paragraph indices travel as record attributes.
    label = _first_label(v, "paragraphlabels", item_id)
    start = int(_num(v.get("startOffset", 0), item_id, "value.startOffset"))
    end = int(_num(v.get("endOffset", 0), item_id, "value.endOffset"))
    text = v.get("text")
    return [Span(label=label, start=start, end=max(start, end), text=text if isinstance(text, str) else None)]


def _choices(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    ch = v.get("choices")
    if not isinstance(ch, list) or not all(isinstance(c, str) for c in ch):
        raise ConversionError(f"expected 'choices' as a list of strings, got {ch!r}", item_id=item_id,
                              field="value.choices")
    if (ls is not None and ls.kind == "multilabel") or (ls is None and len(ch) > 1):
        return [MultiLabel(labels=tuple(ch))]
    if len(ch) != 1:
        raise ConversionError(f"a single-choice control needs exactly one choice, got {ch!r}; declare "
                              "choice=\"multiple\" in the labeling config for multi-label",
                              item_id=item_id, field="value.choices")
    return [_classification(ch[0])]


_CLASSIFICATIONS: dict[str, Classification] = {}


def _classification(label: str) -> Classification:
    """One shared (immutable) value per label: a 1M-task export holds a handful of classes, not
    a million equal objects."""
    value = _CLASSIFICATIONS.get(label)
    if value is None:
        value = Classification(label=label)
        if len(_CLASSIFICATIONS) < 4096:
            _CLASSIFICATIONS[label] = value
    return value


def _taxonomy(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    paths = v.get("taxonomy")
    if not isinstance(paths, list) or not all(isinstance(p, list) and p and all(isinstance(s, str) for s in p)
                                              for p in paths):
        raise ConversionError(f"expected 'taxonomy' as a list of non-empty paths of strings, got {paths!r}",
                              item_id=item_id, field="value.taxonomy")
    return [Classification(label=p[-1], path=tuple(p)) for p in paths]


def _rating(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    return [Numeric(value=_num(v.get("rating"), item_id, "value.rating"))]


def _number(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    return [Numeric(value=_num(v.get("number"), item_id, "value.number"))]


def _textarea(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    text = v.get("text")
    if isinstance(text, str):
        text = [text]
    if not isinstance(text, list) or not all(isinstance(t, str) for t in text):
        raise ConversionError(f"expected 'text' as a list of strings, got {text!r}", item_id=item_id,
                              field="value.text")
    return [TextValue(text="\n".join(text))]


def _video_rect(result: Mapping[str, Any], v: Mapping[str, Any], item_id: str, ls: LabelSet | None) -> list[Value]:
    seq = v.get("sequence")
    if not isinstance(seq, list) or not seq:
        raise ConversionError(f"a videorectangle needs a non-empty 'sequence' list, got {seq!r}",
                              item_id=item_id, field="value.sequence")
    w, h = _size(result, item_id)
    frames = []
    for k, f in enumerate(seq):
        fld = f"value.sequence[{k}]"
        if not isinstance(f, dict):
            raise ConversionError(f"expected a frame object, got {f!r}", item_id=item_id, field=fld)
        x, y, bw, bh, rot = ls_box_to_pixels(
            _num(f.get("x"), item_id, fld + ".x"), _num(f.get("y"), item_id, fld + ".y"),
            _num(f.get("width"), item_id, fld + ".width"), _num(f.get("height"), item_id, fld + ".height"),
            _num(f.get("rotation", 0) or 0, item_id, fld + ".rotation"), w, h)
        frames.append(TrackFrame(frame=int(_num(f.get("frame"), item_id, fld + ".frame")), x=x, y=y, width=bw,
                                 height=bh, rotation=rot, outside=not f.get("enabled", True),
                                 keyframe=bool(f.get("keyframe", True))))
    label = _first_label(v, "labels", item_id)
    return [Track(label=label, track_id=str(result.get("id") or "track"), frames=tuple(frames))]


#: Label Studio result ``type`` -> converter (result, value, item id, label set) -> values.
FROM_RESULT: dict[str, ResultFn] = {
    "rectanglelabels": _rect, "rectangle": _rect,
    "polygonlabels": _polygon, "polygon": _polygon,
    "keypointlabels": _keypoint, "keypoint": _keypoint,
    "brushlabels": _brush, "brush": _brush,
    "labels": _labels, "hypertextlabels": _hypertext, "paragraphlabels": _paragraph,
    "choices": _choices, "taxonomy": _taxonomy, "rating": _rating, "number": _number,
    "textarea": _textarea, "videorectangle": _video_rect, "timelinelabels": _timeline,
}


# --------------------------------------------------------------------------- tasks


def _annotator(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email:
            return email
        uid = completed_by.get("id", "unknown")
        return f"user:{uid if isinstance(uid, int | str) else 'unknown'}"
    if completed_by is None or isinstance(completed_by, bool) or not isinstance(completed_by, int | str):
        return "user:unknown"
    return f"user:{_text(completed_by, 'completed_by')}"


def _text(v: int | str, field: str, item_id: str | None = None) -> str:
    try:
        return str(v)
    except ValueError:  # an integer longer than Python prints (4,300 digits)
        raise ConversionError(f"expected an id, got {_short(v)}", item_id=item_id, field=field) from None


def _safe_id(task: Any) -> str | None:
    tid = task.get("id") if isinstance(task, dict) else None
    return _short(tid, 40) if tid is not None else None


def _item_id(task: Mapping[str, Any]) -> str:
    tid = task.get("id")
    if tid is None or isinstance(tid, bool) or not isinstance(tid, int | str) or tid == "":
        raise ConversionError(f"a Label Studio task needs an 'id' (int or string), got {_short(tid)}; keys "
                              f"{sorted(map(str, task))[:12]}", field="id")
    return _text(tid, "id")


def _meta(task: Mapping[str, Any], meta_keys: Sequence[str]) -> dict[str, Any]:
    raw = task.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    meta: dict[str, Any] = {}
    if isinstance(data.get("meta"), dict):
        meta.update(data["meta"])
    if isinstance(task.get("meta"), dict):
        meta.update(task["meta"])
    for k in meta_keys:
        if k in data:
            meta[k] = data[k]
    return meta


def _results_to_records(results: Any, *, item_id: str, schema: Schema, annotator_id: str, source: Source,
                        annotation_id: str | None, created_at: str | None, updated_at: str | None,
                        duration_s: float | None, score: float | None, meta: Mapping[str, Any],
                        warnings: list[str] | None, sizes: dict[str, float],
                        default_size: tuple[float, float] | None = None) -> list[Record]:
    if not isinstance(results, list):
        raise ConversionError(f"expected 'result' as a list, got {type(results).__name__}", item_id=item_id,
                              field="result")
    regions: dict[str, int] = {}
    out: list[Record] = []
    attached: list[tuple[Mapping[str, Any], list[Value]]] = []
    for k, res in enumerate(results):
        if not isinstance(res, dict):
            raise ConversionError(f"expected a result object, got {res!r}", item_id=item_id, field=f"result[{k}]")
        rtype = str(res.get("type", "")).lower()
        fn = FROM_RESULT.get(rtype)
        if fn is None:
            _warn(warnings, f"task {item_id}: skipped result type {rtype!r} (not supported)")
            continue
        if default_size is not None and res.get("original_width") is None:
            res = {**res, "original_width": default_size[0], "original_height": default_size[1]}
        elif res.get("original_width") is None and "width" in sizes and rtype in _NEEDS_SIZE:
            # ML backends often leave the image size out of predictions: the task's other results give it
            res = {**res, "original_width": sizes["width"], "original_height": sizes["height"]}
        value = res.get("value")
        if not isinstance(value, dict):
            raise ConversionError(f"expected 'value' as an object, got {value!r}", item_id=item_id,
                                  field=f"result[{k}].value")
        from_name = res.get("from_name")
        if not isinstance(from_name, str) or not from_name:
            raise ConversionError(f"expected a non-empty 'from_name', got {from_name!r}", item_id=item_id,
                                  field=f"result[{k}].from_name")
        ls = schema.label_sets.get(from_name)
        try:
            values = fn(res, value, item_id, ls)
        except InvalidAnnotationError as e:
            raise ConversionError(f"result {k} ({rtype}) is not a valid region: {e}", item_id=item_id,
                                  field=f"result[{k}].value") from e
        ow, oh = res.get("original_width"), res.get("original_height")
        if isinstance(ow, int | float) and isinstance(oh, int | float) and "width" not in sizes:
            sizes["width"], sizes["height"] = float(ow), float(oh)
        if isinstance(res.get("original_length"), int | float) and "duration_s" not in sizes:
            sizes["duration_s"] = float(res["original_length"])
        rid = res.get("id")
        region_id = str(rid) if rid is not None else None
        if rtype in _REGION_ATTACH and region_id is not None and region_id in regions:
            attached.append((res, values))
            continue
        attrs: dict[str, Any] = {}
        if rtype == "paragraphlabels":
            attrs = {"paragraph_start": str(value.get("start", "")), "paragraph_end": str(value.get("end", ""))}
        rscore = res.get("score")
        for v in values:
            if region_id is not None and v.kind not in ("classification", "multilabel", "numeric", "text"):
                regions[region_id] = len(out)
            out.append(Record(item_id=item_id, annotator_id=annotator_id, label_set=from_name, value=v,
                              source=source, region_id=region_id, annotation_id=annotation_id, attributes=attrs,
                              score=float(rscore) if isinstance(rscore, int | float) else score,
                              created_at=created_at, updated_at=updated_at, duration_s=duration_s, meta=meta))
    for res, values in attached:  # per-region textareas and choices: onto their region
        idx = regions[str(res["id"])]
        rec = out[idx]
        attrs = dict(rec.attributes)
        new_value: Value = rec.value
        for v in values:
            if isinstance(new_value, Segment) and _is_speaker(res["from_name"]) and isinstance(
                    v, Classification | TextValue):
                new_value = Segment(start=new_value.start, end=new_value.end, label=new_value.label,
                                    speaker=v.label if isinstance(v, Classification) else v.text,
                                    text=new_value.text, unit=new_value.unit)
            elif isinstance(v, TextValue):
                if isinstance(new_value, Segment):
                    new_value = Segment(start=new_value.start, end=new_value.end, label=new_value.label,
                                        speaker=new_value.speaker, text=v.text, unit=new_value.unit)
                else:
                    attrs[res["from_name"]] = v.text
            elif isinstance(v, Classification):
                attrs[res["from_name"]] = "/".join(v.path) if v.path else v.label
            elif isinstance(v, MultiLabel):
                attrs[res["from_name"]] = "|".join(v.labels)
            elif isinstance(v, Numeric):
                attrs[res["from_name"]] = v.value
        out[idx] = Record(item_id=rec.item_id, annotator_id=rec.annotator_id, label_set=rec.label_set,
                          value=new_value, source=rec.source, region_id=rec.region_id,
                          annotation_id=rec.annotation_id, attributes=attrs, score=rec.score,
                          created_at=rec.created_at, updated_at=rec.updated_at, duration_s=rec.duration_s,
                          meta=rec.meta)
    return out


def _convert_task(task: Any, schema: Schema, meta_keys: Sequence[str], warnings: list[str] | None,
                  default_size: tuple[float, float] | None = None) -> tuple[list[Record], list[Submission], Item]:
    if not isinstance(task, dict):
        raise ConversionError(f"expected a Label Studio task object, got {type(task).__name__}", field="task")
    item_id = _item_id(task)
    data = task.get("data")
    if data is not None and not isinstance(data, dict):
        raise ConversionError(f"expected the task's 'data' as an object (e.g. {{\"image\": \"...\"}}), got "
                              f"{type(data).__name__} {_short(data)}", item_id=item_id, field="data")
    for key in ("annotations", "predictions"):
        if task.get(key) is not None and not isinstance(task[key], list):
            raise ConversionError(f"expected {key!r} as a list, got {type(task[key]).__name__}", item_id=item_id,
                                  field=key)
    found = _meta(task, meta_keys)
    meta: Mapping[str, Any] = MappingProxyType(found) if found else {}  # frozen once, shared by the task's records
    records: list[Record] = []
    subs: list[Submission] = []
    sizes: dict[str, float] = {}
    for k, ann in enumerate(task.get("annotations") or ()):
        if not isinstance(ann, dict):
            raise ConversionError(f"expected an annotation object, got {_short(ann)}", item_id=item_id,
                                  field=f"annotations[{k}]")
        annotator = _annotator(ann.get("completed_by"))
        source: Source = "reference" if _bool(ann.get("ground_truth"), item_id,
                                              f"annotations[{k}].ground_truth") else "human"
        aid = _text(ann["id"], f"annotations[{k}].id", item_id) if isinstance(ann.get("id"), int | str) \
            and not isinstance(ann["id"], bool) else None
        lead = ann.get("lead_time")
        duration = float(lead) if isinstance(lead, int | float) and math.isfinite(lead) and lead >= 0 else None
        cancelled = _bool(ann.get("was_cancelled"), item_id, f"annotations[{k}].was_cancelled")
        subs.append(Submission(item_id=item_id, annotator_id=annotator, source=source, annotation_id=aid,
                               created_at=ann.get("created_at"), updated_at=ann.get("updated_at"),
                               duration_s=duration, was_cancelled=cancelled))
        if cancelled:
            continue
        records += _results_to_records(
            ann.get("result") or [], item_id=item_id, schema=schema, annotator_id=annotator, source=source,
            annotation_id=aid, created_at=ann.get("created_at"), updated_at=ann.get("updated_at"),
            duration_s=duration, score=None, meta=meta, warnings=warnings, sizes=sizes, default_size=default_size)
    for pred in task.get("predictions") or ():
        if not isinstance(pred, dict):  # the plain JSON export lists prediction ids only
            continue
        annotator = f"model:{pred.get('model_version') or 'unknown'}"
        pid = f"prediction:{pred['id']}" if pred.get("id") is not None else None
        sc = pred.get("score")
        subs.append(Submission(item_id=item_id, annotator_id=annotator, source="model", annotation_id=pid,
                               created_at=pred.get("created_at"), updated_at=pred.get("updated_at")))
        records += _results_to_records(
            pred.get("result") or [], item_id=item_id, schema=schema, annotator_id=annotator, source="model",
            annotation_id=pid, created_at=pred.get("created_at"), updated_at=pred.get("updated_at"),
            duration_s=None, score=float(sc) if isinstance(sc, int | float) else None, meta=meta,
            warnings=warnings, sizes=sizes, default_size=default_size)
    item = Item(item_id=item_id, data=data or {}, width=sizes.get("width"),
                height=sizes.get("height"), duration_s=sizes.get("duration_s"), meta=meta,
                label_sets=frozenset(schema.label_sets))
    return records, subs, item


def _warn(warnings: list[str] | None, message: str) -> None:
    """Every skipped thing is said: into the caller's list, else to the log."""
    if warnings is not None:
        warnings.append(message)
    else:
        logger.warning("%s", message)


def _timeline_sets(label_config: str) -> list[LabelSet]:
    """``<TimelineLabels>`` controls (video events, frame ranges) as segment label sets."""
    try:
        root = ET.fromstring(label_config)
    except ET.ParseError:
        return []  # the config parser has already said what is wrong
    out = []
    for el in root.iter():
        if el.tag.lower() == "timelinelabels" and el.get("name"):
            labels = tuple(dict.fromkeys(lb.get("value") or "" for lb in el.iter()
                                         if lb.tag.lower() == "label" and lb.get("value")))
            out.append(LabelSet(name=el.get("name") or "", kind="segment", labels=labels, multiple=True,
                                to_name=el.get("toName"), tool_type="timelinelabels", extra={"unit": "frame"}))
    return out


def _schema_of(label_config: str | Schema | None, warnings: list[str] | None) -> Schema:
    if label_config is None:
        return Schema()
    if isinstance(label_config, Schema):
        return label_config
    cfg = parse_label_config_full(label_config)
    timeline = [ls for ls in _timeline_sets(label_config) if ls.name not in cfg.schema]
    names = {f"name={ls.name!r}" for ls in timeline}
    for u in cfg.unsupported:
        if not any(u.startswith("TimelineLabels ") and n in u for n in names):
            _warn(warnings, f"labeling config: skipped unsupported control {u}")
    return cfg.schema.merged(Schema.of(*timeline)) if timeline else cfg.schema


def from_label_studio_task(task: Mapping[str, Any], label_config: str | Schema | None = None, *,
                           meta_keys: Sequence[str] = (), warnings: list[str] | None = None,
                           default_size: tuple[float, float] | None = None) -> Dataset:
    """One Label Studio task (``GET /api/tasks/{id}`` or one export element) as a :class:`Dataset`.

    Args:
        task: The task dict with ``id``, ``data``, ``annotations`` and optionally ``predictions``.
        label_config: The labeling config XML (or a parsed schema); without it the value kind
            of ambiguous results is guessed (``labels`` with a ``channel`` is audio).
        meta_keys: Keys of ``task["data"]`` to copy into item and record metadata
            (``task["meta"]`` and ``task["data"]["meta"]`` are always used).
        warnings: A list that receives one line per skipped result or control.
        default_size: ``(width, height)`` in pixels for results without ``original_width``/
            ``original_height`` (Label Studio leaves them out of video rectangles).

    Raises:
        ConversionError: naming the task id and the field, on malformed input.
    """
    schema = _schema_of(label_config, warnings)
    records, subs, item = _convert_task(task, schema, meta_keys, warnings, default_size)
    return Dataset(records=tuple(records), schema=schema, items={item.item_id: item}, submissions=tuple(subs))


_MIN_RESERVED = frozenset({"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time"})


def _from_json_min(rows: list[Any], schema: Schema) -> tuple[list[Record], list[Submission], dict[str, Item]]:
    if not schema.label_sets:
        raise ConversionError(
            "this looks like a JSON_MIN export (one row per annotation); it cannot be read without the "
            "labeling config, which tells which keys are controls. Pass label_config (accord: "
            "--label-config), or export as JSON instead, which also keeps predictions and gold flags",
            field="label_config")
    records: list[Record] = []
    subs: list[Submission] = []
    items: dict[str, Item] = {}
    for row in rows:
        if not isinstance(row, dict):
            raise ConversionError(f"expected a JSON_MIN row object, got {row!r}", field="row")
        item_id = _item_id(row)
        annotator = _annotator(row.get("annotator"))
        aid = str(row["annotation_id"]) if row.get("annotation_id") is not None else None
        lead = row.get("lead_time")
        duration = float(lead) if isinstance(lead, int | float) else None
        data = {k: v for k, v in row.items() if k not in _MIN_RESERVED and k not in schema}
        items.setdefault(item_id, Item(item_id=item_id, data=data, label_sets=frozenset(schema.label_sets)))
        subs.append(Submission(item_id=item_id, annotator_id=annotator, annotation_id=aid,
                               created_at=row.get("created_at"), updated_at=row.get("updated_at"),
                               duration_s=duration))
        results: list[dict[str, Any]] = []
        for name, ls in schema.label_sets.items():
            if name not in row:
                continue
            results.extend(_min_results(row[name], name, ls, item_id))
        records += _results_to_records(results, item_id=item_id, schema=schema, annotator_id=annotator,
                                       source="human", annotation_id=aid, created_at=row.get("created_at"),
                                       updated_at=row.get("updated_at"), duration_s=duration, score=None,
                                       meta={}, warnings=None, sizes={})
    return records, subs, items


def _min_results(v: Any, name: str, ls: LabelSet, item_id: str) -> list[dict[str, Any]]:
    rtype = ls.tool_type or ""
    key = {"choices": "choices", "taxonomy": "taxonomy", "rating": "rating", "number": "number",
           "textarea": "text"}.get(rtype)
    if key is not None:
        if isinstance(v, dict) and key in v:
            value = v
        elif rtype == "choices":
            value = {"choices": [v] if isinstance(v, str) else v}
        elif rtype == "textarea":
            value = {"text": [v] if isinstance(v, str) else v}
        else:
            value = {key: v}
        return [{"from_name": name, "type": rtype, "value": value}]
    if not isinstance(v, list):
        v = [v]
    out = []
    for d in v:
        if not isinstance(d, dict):
            raise ConversionError(f"expected region objects for control {name!r}, got {d!r}", item_id=item_id,
                                  field=name)
        out.append({"from_name": name, "type": rtype, "value": d, "original_width": d.get("original_width"),
                    "original_height": d.get("original_height")})
    return out


def detect_export_shape(data: Any) -> str:
    """``"task"``, ``"tasks"`` or ``"json_min"`` for parsed Label Studio JSON; raises if none fits."""
    if isinstance(data, dict) and "data" in data and "id" in data:
        return "task"
    if isinstance(data, list):
        first = next((x for x in data if isinstance(x, dict)), None)
        if first is None and not data:
            return "tasks"
        if first is not None and ("data" in first or "annotations" in first or "predictions" in first):
            return "tasks"
        if first is not None and "id" in first and ("annotator" in first or "annotation_id" in first):
            return "json_min"
    raise ConversionError(
        "not a Label Studio export: expected a list of tasks (objects with 'data' and 'annotations'), "
        "a task object, or JSON_MIN rows (with 'annotator'), got "
        f"{type(data).__name__}" + (f" with keys {sorted(data)[:8]}" if isinstance(data, dict) else ""),
        field="export")


def from_label_studio_export(tasks: Any, label_config: str | Schema | None = None, *,
                             meta_keys: Sequence[str] = (), warnings: list[str] | None = None,
                             default_size: tuple[float, float] | None = None,
                             name: str = "label-studio") -> Dataset:
    """A whole Label Studio export (JSON, snapshot, JSON_MIN or one task) as a :class:`Dataset`.

    Args:
        tasks: The parsed export: a list of tasks, JSON_MIN rows, or one task dict.
        label_config: The labeling config XML (needed for JSON_MIN; recommended always).
        meta_keys: Keys of each task's ``data`` copied into item and record metadata.
        warnings: A list that receives one line per skipped result or control.
        default_size: ``(width, height)`` for results without ``original_width``/``original_height``.
        name: The dataset's name.

    Raises:
        ConversionError: the shape is unknown, or a task is malformed (naming task and field).
    """
    schema = _schema_of(label_config, warnings)
    shape = detect_export_shape(tasks)
    if shape == "json_min":
        recs, subs, items = _from_json_min(tasks, schema)
        return Dataset(records=tuple(recs), schema=schema, items=items, submissions=tuple(subs), name=name)
    return _from_tasks([tasks] if shape == "task" else tasks, schema, meta_keys=meta_keys, warnings=warnings,
                       default_size=default_size, name=name)


def _up_to_first_object(tasks: Iterable[Any]) -> tuple[list[Any], Iterator[Any]]:
    """The elements up to the first object (the shape is decided by it, as detect_export_shape
    does) and an iterator over the rest."""
    it = iter(tasks)
    head: list[Any] = []
    for t in it:
        head.append(t)
        if isinstance(t, dict):
            break
    return head, it


def label_studio_task_stream(tasks: Iterable[Any], label_config: str | Schema | None = None, *,
                             meta_keys: Sequence[str] = (), warnings: list[str] | None = None,
                             default_size: tuple[float, float] | None = None
                             ) -> tuple[Schema, Iterator[tuple[list[Record], list[Submission], Item]]] | None:
    """The schema and a per-task iterator (:func:`iter_tasks`) over an export's top-level list,
    or ``None`` for a JSON_MIN export (it is converted whole: :func:`from_label_studio_stream`)."""
    schema = _schema_of(label_config, warnings)
    head, it = _up_to_first_object(tasks)
    if detect_export_shape(head) == "json_min":
        return None
    return schema, iter_tasks(itertools.chain(head, it), schema, meta_keys=meta_keys, warnings=warnings,
                              default_size=default_size)


def from_label_studio_stream(tasks: Iterable[Any], label_config: str | Schema | None = None, *,
                             meta_keys: Sequence[str] = (), warnings: list[str] | None = None,
                             default_size: tuple[float, float] | None = None,
                             name: str = "label-studio") -> Dataset:
    """:func:`from_label_studio_export` over the elements of an export's top-level list, one at a time.

    The same dataset, warnings and errors as ``from_label_studio_export(list(tasks), ...)``, but
    each task's parsed JSON can be dropped as soon as it is converted (``accord.io`` feeds it
    tasks decoded one by one from the file), so peak memory holds the records, not the export.

    Raises:
        ConversionError: as :func:`from_label_studio_export`.
    """
    schema = _schema_of(label_config, warnings)
    head, it = _up_to_first_object(tasks)
    if detect_export_shape(head) == "json_min":
        rows = head + list(it)
        recs, subs, items = _from_json_min(rows, schema)
        return Dataset(records=tuple(recs), schema=schema, items=items, submissions=tuple(subs), name=name)
    return _from_tasks(itertools.chain(head, it), schema, meta_keys=meta_keys, warnings=warnings,
                       default_size=default_size, name=name)


def _from_tasks(task_list: Iterable[Any], schema: Schema, *, meta_keys: Sequence[str], warnings: list[str] | None,
                default_size: tuple[float, float] | None, name: str) -> Dataset:
    """Tasks into a dataset, in one pass; warnings keep the order a two-pass conversion gave them."""
    records: list[Record] = []
    submissions: list[Submission] = []
    items: dict[str, Item] = {}
    for r, s, it in iter_tasks(task_list, schema, meta_keys=meta_keys, warnings=warnings, default_size=default_size):
        records += r
        submissions += s
        items[it.item_id] = it
    return Dataset(records=tuple(records), schema=schema, items=items, submissions=tuple(submissions), name=name)


def iter_tasks(task_list: Iterable[Any], schema: Schema, *, meta_keys: Sequence[str] = (),
               warnings: list[str] | None = None, default_size: tuple[float, float] | None = None,
               start: int = 0) -> Iterator[tuple[list[Record], list[Submission], Item]]:
    """Each task's ``(records, submissions, item)`` as it is converted (the streaming form of
    :func:`from_label_studio_export` for a list of tasks).

    A writer can stream the records out and keep only the items and submissions (``accord
    convert`` does). The warnings are appended when the iterator is exhausted, in the order the
    whole-export conversion gives them. ``start`` is the index of the first task in the export
    (a part of an export read on its own, as ``accord report --dask`` reads byte ranges).

    Raises:
        ConversionError: a task that is not valid, or a task id seen twice (naming both tasks).
    """
    later: list[str] = []  # the per-task warnings, said after the count of id-only predictions
    ids_only = 0
    first: dict[str, int] = {}
    for n, task in enumerate(task_list, start=start):
        if isinstance(task, dict) and isinstance(task.get("predictions"), list):
            ids_only += sum(1 for p in task["predictions"] if not isinstance(p, dict))
        try:
            r, s, it = _convert_task(task, schema, meta_keys, later, default_size)
        except InvalidAnnotationError as e:
            raise ConversionError(f"task #{n} is not valid: {e}", item_id=_safe_id(task), field="annotations") from e
        if it.item_id in first:
            raise ConversionError(
                f"task id {it.item_id} appears twice in this export (tasks #{first[it.item_id]} and #{n}), so two "
                "different tasks would merge into one item; export each project to its own file, or give the "
                "tasks unique ids", item_id=it.item_id, field="id")
        first[it.item_id] = n
        yield r, s, it
    if ids_only:
        _warn(warnings, f"skipped {ids_only} predictions listed by id only (Label Studio's plain JSON export); "
                        "export a snapshot with full prediction objects to compare model predictions")
    for w in later:
        _warn(warnings, w)


# --------------------------------------------------------------------------- back to Label Studio


_V = TypeVar("_V")


def _value(rec: Record, cls: type[_V]) -> _V:
    v = rec.value
    if not isinstance(v, cls):
        raise ConversionError(f"expected a {cls.__name__} value, got {type(v).__name__}", item_id=rec.item_id,
                              field=rec.label_set)
    return v


def _need_size(width: float | None, height: float | None, rec: Record) -> tuple[float, float]:
    if width is None or height is None or width <= 0 or height <= 0:
        raise ConversionError(f"writing a {rec.kind} to Label Studio needs the image width and height "
                              f"(percent coordinates); pass width= and height=", item_id=rec.item_id,
                              field="original_width")
    return width, height


def _base(rec: Record, ls: LabelSet | None, rtype: str, rid: str, value: dict[str, Any],
          size: tuple[float, float] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rid, "from_name": rec.label_set, "to_name": (ls.to_name if ls and ls.to_name
                                                                             else "image"),
                           "type": rtype, "value": value}
    if size is not None:
        out["original_width"], out["original_height"] = size
        out["image_rotation"] = 0
    if rec.score is not None:
        out["score"] = rec.score
    return out


def _ls_type(ls: LabelSet | None, default: str) -> str:
    return ls.tool_type if ls is not None and ls.tool_type else default


ToFn = Callable[[Record, "LabelSet | None", str, "float | None", "float | None"], list[dict[str, Any]]]


def _to_box(rec: Record, ls: LabelSet | None, rid: str, w: float | None, h: float | None) -> list[dict[str, Any]]:
    val = _value(rec, Box)
    b = val
    W, H = _need_size(w, h, rec)
    x, y, bw, bh = pixels_to_ls_box(b.x, b.y, b.width, b.height, b.rotation, W, H)
    rtype = _ls_type(ls, "rectanglelabels")
    v: dict[str, Any] = {"x": x, "y": y, "width": bw, "height": bh, "rotation": b.rotation}
    if rtype != "rectangle":
        v["rectanglelabels"] = [b.label]
    return [_base(rec, ls, rtype, rid, v, (W, H))]


def _to_polygon(rec: Record, ls: LabelSet | None, rid: str, w: float | None, h: float | None
                ) -> list[dict[str, Any]]:
    val = _value(rec, Polygon)
    W, H = _need_size(w, h, rec)
    rtype = _ls_type(ls, "polygonlabels")
    v: dict[str, Any] = {"points": [[x * 100.0 / W, y * 100.0 / H] for x, y in val.points], "closed": True}
    if rtype != "polygon":
        v["polygonlabels"] = [val.label]
    return [_base(rec, ls, rtype, rid, v, (W, H))]


def _to_keypoints(rec: Record, ls: LabelSet | None, rid: str, w: float | None, h: float | None
                  ) -> list[dict[str, Any]]:
    val = _value(rec, Keypoints)
    W, H = _need_size(w, h, rec)
    rtype = _ls_type(ls, "keypointlabels")
    out = []
    for k, p in enumerate(val.points):
        v: dict[str, Any] = {"x": p.x * 100.0 / W, "y": p.y * 100.0 / H, "width": 0.5}
        if rtype != "keypoint":
            v["keypointlabels"] = [val.label]
        out.append(_base(rec, ls, rtype, rid if k == 0 else f"{rid}_{k}", v, (W, H)))
    return out


def _to_mask(rec: Record, ls: LabelSet | None, rid: str, w: float | None, h: float | None
             ) -> list[dict[str, Any]]:
    val = _value(rec, Mask)
    m = val
    rtype = _ls_type(ls, "brushlabels")
    v: dict[str, Any] = {"format": "rle", "rle": encode_brush_rle(rle.decode(m.counts, m.height, m.width))}
    if rtype != "brush":
        v["brushlabels"] = [m.label]
    return [_base(rec, ls, rtype, rid, v, (m.width, m.height))]


def _to_span(rec: Record, ls: LabelSet | None, rid: str, w: float | None, h: float | None
             ) -> list[dict[str, Any]]:
    val = _value(rec, Span)
    s = val
    rtype = _ls_type(ls, "labels")
    v: dict[str, Any]
    if rtype == "paragraphlabels":
        v = {"start": rec.attributes.get("paragraph_start", "0"), "end": rec.attributes.get("paragraph_end", "0"),
             "startOffset": s.start, "endOffset": s.end, "paragraphlabels": [s.label]}
    elif rtype == "hypertextlabels":
        v = {"start": "", "end": "", "startOffset": s.start, "endOffset": s.end,
             "globalOffsets": {"start": s.start, "end": s.end}, "hypertextlabels": [s.label]}
    else:
        v = {"start": s.start, "end": s.end, "labels": [s.label]}
    if s.text is not None:
        v["text"] = s.text
    out = _base(rec, ls, rtype, rid, v)
    out["to_name"] = ls.to_name if ls and ls.to_name else "text"
    return [out]


def _to_segment(rec: Record, ls: LabelSet | None, rid: str, w: float | None, h: float | None
                ) -> list[dict[str, Any]]:
    val = _value(rec, Segment)
    s = val
    if _ls_type(ls, "labels") == "timelinelabels" or s.unit == "frame":
        frames = _base(rec, ls, "timelinelabels", rid, {"ranges": [{"start": s.start, "end": s.end}],
                                                         "timelinelabels": [s.label] if s.label else []})
        frames["to_name"] = ls.to_name if ls and ls.to_name else "video"
        return [frames]
    v: dict[str, Any] = {"start": s.start, "end": s.end, "channel": 0, "labels": [s.label] if s.label else []}
    out = _base(rec, ls, _ls_type(ls, "labels"), rid, v)
    out["to_name"] = ls.to_name if ls and ls.to_name else "audio"
    return [out]


def _to_track(rec: Record, ls: LabelSet | None, rid: str, w: float | None, h: float | None
              ) -> list[dict[str, Any]]:
    val = _value(rec, Track)
    W, H = _need_size(w, h, rec)
    seq = []
    for f in val.frames:
        x, y, bw, bh = pixels_to_ls_box(f.x, f.y, f.width, f.height, f.rotation, W, H)
        seq.append({"frame": f.frame, "enabled": not f.outside, "keyframe": f.keyframe, "x": x, "y": y,
                    "width": bw, "height": bh, "rotation": f.rotation})
    out = _base(rec, ls, "videorectangle", val.track_id, {"sequence": seq, "labels": [val.label]},
                (W, H))
    out["to_name"] = ls.to_name if ls and ls.to_name else "video"
    return [out]


def _to_classification(rec: Record, ls: LabelSet | None, rid: str, w: float | None, h: float | None
                       ) -> list[dict[str, Any]]:
    v = rec.value
    if isinstance(v, Classification) and (v.path or _ls_type(ls, "choices") == "taxonomy"):
        return [_base(rec, ls, "taxonomy", rid, {"taxonomy": [list(v.path or (v.label,))]})]
    labels = list(v.labels) if isinstance(v, MultiLabel) else [v.label] if isinstance(v, Classification) else []
    return [_base(rec, ls, "choices", rid, {"choices": labels})]


def _to_numeric(rec: Record, ls: LabelSet | None, rid: str, w: float | None, h: float | None
                ) -> list[dict[str, Any]]:
    val = _value(rec, Numeric)
    rtype = _ls_type(ls, "number")
    return [_base(rec, ls, rtype, rid, {rtype if rtype in ("rating", "number") else "number": val.value})]


def _to_text(rec: Record, ls: LabelSet | None, rid: str, w: float | None, h: float | None
             ) -> list[dict[str, Any]]:
    val = _value(rec, TextValue)
    return [_base(rec, ls, "textarea", rid, {"text": [val.text]})]


#: accord value kind -> writer (record, label set, region id, width, height) -> LS results.
TO_RESULT: dict[str, ToFn] = {
    "box": _to_box, "polygon": _to_polygon, "keypoints": _to_keypoints, "mask": _to_mask, "span": _to_span,
    "segment": _to_segment, "track": _to_track, "classification": _to_classification,
    "multilabel": _to_classification, "numeric": _to_numeric, "text": _to_text,
}


def _is_speaker(control: str) -> bool:
    return "speaker" in control.lower()


def _attached(rec: Record, schema: Schema, rid: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ls = schema.label_sets.get(rec.label_set)
    to_name = ls.to_name if ls else None
    if isinstance(rec.value, Segment) and rec.value.speaker is not None:
        sp = next((s for s in schema.label_sets.values() if _is_speaker(s.name) and s.to_name == to_name
                   and s.kind in ("classification", "text") and s.extra.get("per_region")), None)
        if sp is None:
            raise ConversionError(f"segment {rid!r} names a speaker but the schema has no per-region control "
                                  f"over {to_name!r} whose name contains 'speaker'; add a perRegion Choices or "
                                  "TextArea named e.g. 'speaker_id'", item_id=rec.item_id, field="speaker")
        out.append({"id": rid, "from_name": sp.name, "to_name": sp.to_name,
                    "type": "textarea" if sp.kind == "text" else "choices",
                    "value": {"text": [rec.value.speaker]} if sp.kind == "text" else {"choices": [rec.value.speaker]}})
    if isinstance(rec.value, Segment) and rec.value.text is not None:
        ta = next((s for s in schema.label_sets.values() if s.kind == "text" and s.to_name == to_name
                   and not _is_speaker(s.name)), None)
        if ta is None:
            raise ConversionError(f"segment {rid!r} carries text but the schema has no textarea over "
                                  f"{to_name!r} to hold it; add a perRegion TextArea", item_id=rec.item_id,
                                  field="text")
        out.append({"id": rid, "from_name": ta.name, "to_name": ta.to_name, "type": "textarea",
                    "value": {"text": [rec.value.text]}})
    for key, val in rec.attributes.items():
        other = schema.label_sets.get(key)
        if other is None:
            continue
        if other.kind == "text":
            value: dict[str, Any] = {"text": [str(val)]}
            rtype = "textarea"
        elif other.kind == "numeric":
            rtype = other.tool_type or "number"
            value = {rtype: val}
        elif other.tool_type == "taxonomy":
            rtype, value = "taxonomy", {"taxonomy": [str(val).split("/")]}
        else:
            rtype, value = "choices", {"choices": str(val).split("|") if other.kind == "multilabel" else [str(val)]}
        out.append({"id": rid, "from_name": key, "to_name": other.to_name, "type": rtype, "value": value})
    return out


def to_label_studio_prediction(records: Iterable[Record], schema: Schema, *, model_version: str,
                               score: float | None = None, width: float | None = None,
                               height: float | None = None) -> dict[str, Any]:
    """Records of one item as a Label Studio prediction ``{"model_version", "score", "result"}``.

    Coordinates become percentages of ``width`` x ``height`` (needed for boxes, polygons,
    keypoints and tracks; masks carry their own size). A region's attributes whose key is a
    per-region control in ``schema`` are written as that control's result with the same id,
    and a segment's text as the per-region textarea over the same object.

    Raises:
        ConversionError: a value needs the image size and none was given, or a value kind
            has no Label Studio counterpart (cuboids, polylines).
    """
    result: list[dict[str, Any]] = []
    for k, rec in enumerate(records):
        fn = TO_RESULT.get(rec.kind)
        if fn is None:
            raise ConversionError(f"Label Studio has no control for {rec.kind!r} values; expected one of "
                                  f"{sorted(TO_RESULT)}", item_id=rec.item_id, field=rec.label_set)
        rid = rec.region_id or f"r{k}"
        ls = schema.label_sets.get(rec.label_set)
        result += fn(rec, ls, rid, width, height)
        result += _attached(rec, schema, rid)
    out: dict[str, Any] = {"model_version": model_version, "result": result}
    if score is not None:
        out["score"] = score
    return out
