"""CVAT XML ("CVAT for images 1.1" and "CVAT for video 1.1") <-> accord records.

Pure stdlib: ``xml.etree`` and ``zipfile``; no SDK. :func:`from_cvat_xml` reads either
format, bare or zipped (``annotations.xml`` inside), and :func:`to_cvat_xml` writes
them back for round trips.

Images: each ``<image>`` is an item named by its ``name`` (in a project export whose tasks
repeat frame names, ``"<task name>/<name>"``, or ``"<subset>/<name>"``; a name repeated within
one task gets ``"#<image id>"``, with a warning); ``<box>`` -> :class:`Box`
(``rotation`` is about the centre, as in accord), ``<polygon>``, ``<polyline>``,
``<points>`` -> :class:`Keypoints` (points named ``"0"``, ``"1"``, ...), ``<mask>`` (CVAT's
RLE over the ``left top width height`` window, row-major, starting with a 0-run) ->
:class:`Mask` over the whole image, ``<skeleton>`` -> :class:`Keypoints` (``outside`` ->
visibility 0, ``occluded`` -> 1, else 2), ``<tag>`` -> :class:`Classification`,
``<ellipse>`` -> its bounding :class:`Box` (rotation kept, as the API path reads it),
``<cuboid>`` -> :class:`~accord.core.model.Cuboid` in a 3D task (label set ``cuboids``) or,
drawn on an image, the :class:`Polygon` outline of its eight corners (``cuboids_2d``); see
:func:`cuboid_value`. Any other element is counted in a warning, never dropped silently.
Numbers must be finite; text must be valid UTF-8 unless the XML declares another encoding.
``occluded``, ``z_order``, ``group_id``, ``source`` and ``<attribute>`` children become
record attributes. Label sets are named by shape: ``boxes``, ``polygons``,
``polylines``, ``points``, ``masks``, ``skeletons``, ``tags``, ``tracks``.

Video: the task is one item (named by the task name); box ``<track>`` elements become
:class:`Track` records (``outside``/``keyframe`` kept, frame numbers as written; the
immutable attributes of the first visible box become the record's attributes);
other tracks (polygons, points, skeletons) become one record per visible frame in item
``"<task>/frame_<n>"`` with ``region_id`` ``"track:<id>"``. ``start_frame``, ``stop_frame``
and ``frame_filter`` are kept in the item's metadata.
"""

from __future__ import annotations

import io
import logging
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from accord.core import rle
from accord.core.errors import ConversionError, InvalidAnnotationError
from accord.core.limits import check_limit, current_limits, input_limits
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

logger = logging.getLogger(__name__)

_SET_OF = {"box": "boxes", "ellipse": "boxes", "polygon": "polygons", "polyline": "polylines", "points": "points",
           "mask": "masks", "skeleton": "skeletons", "tag": "tags", "track": "tracks", "cuboid": "cuboids",
           "cuboid_2d": "cuboids_2d"}
_KIND_OF: dict[str, Kind] = {"boxes": "box", "polygons": "polygon", "polylines": "polyline", "points": "keypoints",
            "masks": "mask", "skeletons": "keypoints", "tags": "classification", "tracks": "track",
            "cuboids": "cuboid", "cuboids_2d": "polygon"}
#: "CVAT for images 1.1" cuboid corners, in CVAT's order of ``points``.
CUBOID_COORDS = ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
                 "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2")
_RESERVED = ("occluded", "z_order", "group_id", "source")


#: Zip members are inflated this many bytes at a time, so the limits are checked as the bytes come.
_ZIP_CHUNK = 1 << 20
#: Members smaller than this are never refused for their compression ratio (tiny files compress oddly).
_ZIP_RATIO_FLOOR = 1 << 20


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, *, max_bytes: int, max_ratio: float) -> bytes:
    """One member's bytes, inflated in chunks and refused as soon as it passes a limit.

    The sizes in the zip's directory are checked first (a fast refusal), then the bytes
    actually inflated (the directory can lie), so memory never grows past ``max_bytes``
    plus one chunk.
    """
    what = f"{info.filename!r} in the zip"
    compressed = max(info.compress_size, 1)

    def check(size: int) -> None:
        check_limit("max_zip_member_bytes", size, f"{what} inflates to at least", unit=" bytes")
        if size > _ZIP_RATIO_FLOOR:
            check_limit("max_zip_ratio", size / compressed,
                        f"{what} ({compressed:,} bytes compressed; a zip bomb?) inflates", unit="x")

    with input_limits(max_zip_member_bytes=max_bytes, max_zip_ratio=max_ratio):
        check(info.file_size)
        chunks: list[bytes] = []
        total = 0
        with z.open(info) as f:
            while chunk := f.read(_ZIP_CHUNK):
                total += len(chunk)
                check(total)
                chunks.append(chunk)
    return b"".join(chunks)


def _read_bytes(src: bytes | str | Path, *, max_member_bytes: int | None = None,
                max_ratio: float | None = None) -> bytes:
    """The XML of an export: the bytes themselves, or ``annotations.xml`` from a zip (read with limits).

    Args:
        src: XML or zip bytes, or a path.
        max_member_bytes / max_ratio: Limits on the inflated ``annotations.xml``; default
            the :class:`~accord.core.limits.InputLimits` in force (``accord --max-zip-member-mb``,
            ``--max-zip-ratio``).

    Raises:
        LimitExceededError: the member inflates past a limit (the message names the option).
        ConversionError: not a valid zip, or no ``annotations.xml`` in it.
    """
    limits = current_limits()
    max_bytes = limits.max_zip_member_bytes if max_member_bytes is None else max_member_bytes
    ratio = limits.max_zip_ratio if max_ratio is None else max_ratio
    data = src if isinstance(src, bytes) else Path(src).read_bytes()
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                infos = [i for i in z.infolist() if i.filename.rsplit("/", 1)[-1] == "annotations.xml"
                         and not i.is_dir()]
                if not infos:
                    raise ConversionError(f"the zip holds no annotations.xml (files: {z.namelist()[:10]}); "
                                          "export as 'CVAT for images 1.1' or 'CVAT for video 1.1'",
                                          field="annotations.xml")
                return _read_member(z, min(infos, key=lambda i: len(i.filename)), max_bytes=max_bytes,
                                    max_ratio=ratio)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as e:
            # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method.
            raise ConversionError(f"not a readable zip file: {e}; pass the zip CVAT exported (not encrypted)",
                                  field="zip") from e
    return data


def _f(el: ET.Element, name: str, item_id: str) -> float:
    v = el.get(name)
    try:
        out = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        out = math.nan
    if not math.isfinite(out):
        raise ConversionError(f"<{el.tag}> needs a numeric {name}= (a finite number), got {_cut(v)}", item_id=item_id,
                              field=f"{el.tag}.{name}") from None
    return out


def _cut(v: str | None, limit: int = 60) -> str:
    return repr(v) if v is None or len(v) <= limit else repr(v[:limit]) + "..."


def _warn(warnings: list[str] | None, message: str) -> None:
    """Every skipped or changed thing is said: into the caller's list, else to the log."""
    if warnings is not None:
        warnings.append(message)
    else:
        logger.warning("%s", message)


def _flag(el: ET.Element, name: str) -> bool:
    v = el.get(name, "0").strip().lower()
    if v not in ("0", "1", "true", "false", ""):
        raise ConversionError(f"<{el.tag}> needs {name}=\"0\" or \"1\" (or true/false), got {_cut(el.get(name))}",
                              field=f"{el.tag}.{name}")
    return v in ("1", "true")


def _pts(el: ET.Element, item_id: str) -> tuple[tuple[float, float], ...]:
    raw = el.get("points")
    if raw is None:
        raise ConversionError(f"<{el.tag}> needs points=\"x1,y1;x2,y2;...\"", item_id=item_id, field=f"{el.tag}.points")
    try:
        out = []
        for p in raw.strip().split(";"):
            x, y = p.split(",")
            out.append((float(x), float(y)))
        if not all(math.isfinite(c) for xy in out for c in xy):
            raise ValueError("not finite")
    except ValueError:
        raise ConversionError(f"expected points as \"x1,y1;x2,y2;...\" of finite numbers, got {_cut(raw)}",
                              item_id=item_id, field=f"{el.tag}.points") from None
    return tuple(out)


def _int(el: ET.Element, name: str) -> int:
    v = el.get(name) or "0"
    try:
        return int(v) if len(v) <= 30 else int("x")
    except ValueError:
        raise ConversionError(f"<{el.tag}> needs an integer {name}=, got {_cut(v)}", field=f"{el.tag}.{name}") from None


def _attrs(el: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if el.get("occluded") is not None:
        out["occluded"] = _flag(el, "occluded")
    if el.get("z_order") is not None:
        out["z_order"] = _int(el, "z_order")
    if el.get("group_id") not in (None, "", "0"):
        out["group_id"] = _int(el, "group_id")
    if el.get("source") is not None:
        out["source"] = el.get("source") or ""
    for a in el.findall("attribute"):
        out[a.get("name") or ""] = a.text or ""
    return out


class _Ctx:
    def __init__(self, item_id: str, width: float | None, height: float | None, dim3: bool = False) -> None:
        self.item_id, self.width, self.height, self.dim3 = item_id, width, height, dim3


def _box(el: ET.Element, c: _Ctx) -> Value:
    x1, y1, x2, y2 = (_f(el, k, c.item_id) for k in ("xtl", "ytl", "xbr", "ybr"))
    return Box(label=el.get("label", ""), x=x1, y=y1, width=x2 - x1, height=y2 - y1,
               rotation=_f(el, "rotation", c.item_id) if el.get("rotation") else 0.0)


def _ellipse(el: ET.Element, c: _Ctx) -> Value:
    # centre cx, cy and radii rx, ry: its bounding box, rotation kept (as the API path reads ellipses)
    cx, cy, rx, ry = (_f(el, k, c.item_id) for k in ("cx", "cy", "rx", "ry"))
    return Box(label=el.get("label", ""), x=cx - abs(rx), y=cy - abs(ry), width=2 * abs(rx), height=2 * abs(ry),
               rotation=_f(el, "rotation", c.item_id) if el.get("rotation") else 0.0)


def _hull(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull (Andrew's monotone chain), counter-clockwise, no repeated end point."""
    p = sorted(set(pts))
    if len(p) < 3:
        return p

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for q in p:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    for q in reversed(p):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    return lower[:-1] + upper[:-1]


def cuboid_value(label: str, points: list[float], *, dim3: bool) -> Cuboid | Polygon:
    """A CVAT cuboid's 16 ``points`` as a value.

    In a 3D (point-cloud) task they are position ``x y z``, rotation ``rx ry rz`` (radians)
    and scale ``sx sy sz`` (then padding): a :class:`Cuboid` with ``yaw = rz``. In an image
    task a cuboid is drawn as eight projected corners: the :class:`Polygon` of their outline
    (convex hull), so two annotators' cuboids compare by overlap.
    """
    if len(points) < (9 if dim3 else 16):
        raise InvalidAnnotationError(f"a cuboid needs 16 coordinates, got {len(points)}")
    if dim3:
        return Cuboid(label=label, x=points[0], y=points[1], z=points[2], length=points[6], width=points[7],
                      height=points[8], yaw=points[5])
    return Polygon(label=label, points=tuple(_hull(list(zip(points[0:16:2], points[1:16:2], strict=True)))))


def _cuboid(el: ET.Element, c: _Ctx) -> Value:
    return cuboid_value(el.get("label", ""), [_f(el, k, c.item_id) for k in CUBOID_COORDS], dim3=c.dim3)


def _polygon(el: ET.Element, c: _Ctx) -> Value:
    return Polygon(label=el.get("label", ""), points=_pts(el, c.item_id))


def _polyline(el: ET.Element, c: _Ctx) -> Value:
    return Polyline(label=el.get("label", ""), points=_pts(el, c.item_id))


def _points(el: ET.Element, c: _Ctx) -> Value:
    pts = _pts(el, c.item_id)
    vis = 0 if _flag(el, "outside") else 1 if _flag(el, "occluded") else 2
    return Keypoints(label=el.get("label", ""),
                     points=tuple(Keypoint(name=str(i), x=x, y=y, visibility=vis) for i, (x, y) in enumerate(pts)))


def _skeleton(el: ET.Element, c: _Ctx) -> Value:
    kps = []
    for p in el.findall("points"):
        (x, y), *_ = _pts(p, c.item_id)
        vis = 0 if _flag(p, "outside") else 1 if _flag(p, "occluded") else 2
        kps.append(Keypoint(name=p.get("label", ""), x=x, y=y, visibility=vis))
    return Keypoints(label=el.get("label", ""), points=tuple(kps))


def _mask(el: ET.Element, c: _Ctx) -> Value:
    if c.width is None or c.height is None:
        raise ConversionError("a <mask> needs the image's width and height", item_id=c.item_id, field="image.width")
    check_limit("max_raster_pixels", c.width * c.height, f"image {c.item_id!r} with a <mask> has", unit=" pixels")
    left, top = int(_f(el, "left", c.item_id)), int(_f(el, "top", c.item_id))
    w, h = int(_f(el, "width", c.item_id)), int(_f(el, "height", c.item_id))
    if min(left, top, w, h) < 0 or w * h > c.width * c.height:
        raise ConversionError(f"a <mask> window needs left, top >= 0 and a size within the image, got left={left} "
                              f"top={top} width={w} height={h}", item_id=c.item_id, field="mask.width")
    try:
        counts = [int(v) for v in (el.get("rle") or "").split(",") if v.strip()]
    except ValueError:
        raise ConversionError(f"expected rle=\"n0, n1, ...\" integers, got {_cut(el.get('rle'))}",
                              item_id=c.item_id, field="mask.rle") from None
    if any(n < 0 for n in counts) or sum(counts) != w * h:
        raise ConversionError(f"mask RLE (non-negative runs) sums to {sum(counts)}, expected width*height = "
                              f"{w}*{h} = {w * h}", item_id=c.item_id, field="mask.rle")
    vals = np.zeros(len(counts), dtype=bool)
    vals[1::2] = True
    window = np.repeat(vals, counts).reshape(h, w)
    full = np.zeros((int(c.height), int(c.width)), dtype=bool)
    full[top:top + h, left:left + w] = window[: max(0, int(c.height) - top), : max(0, int(c.width) - left)]
    return Mask(label=el.get("label", ""), height=int(c.height), width=int(c.width), counts=rle.encode(full))


def _tag(el: ET.Element, c: _Ctx) -> Value:
    return Classification(label=el.get("label", ""))


#: CVAT shape tag -> converter.
FROM_SHAPE: dict[str, Callable[[ET.Element, _Ctx], Value]] = {
    "box": _box, "ellipse": _ellipse, "polygon": _polygon, "polyline": _polyline, "points": _points,
    "skeleton": _skeleton, "mask": _mask, "tag": _tag, "cuboid": _cuboid,
}


def _meta(root: ET.Element) -> tuple[ET.Element | None, list[ET.Element]]:
    meta = root.find("meta")
    if meta is None:
        return None, []
    task = next((el for el in (meta.find("task"), meta.find("job"), meta.find("project")) if el is not None), None)
    labels = meta.findall(".//labels/label")
    return task, labels


def _label_specs(labels: list[ET.Element]) -> tuple[tuple[str, ...], dict[str, tuple[AttributeSpec, ...]],
                                                     dict[str, tuple[str, ...]]]:
    names: list[str] = []
    attrs: dict[str, tuple[AttributeSpec, ...]] = {}
    skeletons: dict[str, tuple[str, ...]] = {}
    for lab in labels:
        if lab.find("parent") is not None and (lab.findtext("parent") or ""):
            continue
        name = lab.findtext("name") or ""
        if name not in names:
            names.append(name)
        specs = []
        for a in lab.findall("attributes/attribute"):
            it = (a.findtext("input_type") or "select").lower()
            raw = a.findtext("values") or ""
            # CVAT writes one value per line; older exports (datumaro's test assets) separate them by spaces
            parts = raw.split("\n") if "\n" in raw or it not in ("select", "radio", "checkbox") else raw.split()
            specs.append(AttributeSpec(name=a.findtext("name") or "",
                                       values=tuple(v for v in parts if v),
                                       input_type=it if it in ("select", "radio", "checkbox", "text", "number")
                                       else "text",
                                       mutable=(a.findtext("mutable") or "").lower() == "true",
                                       default=a.findtext("default_value")))
        if specs:
            attrs[name] = tuple(specs)
        if lab.findtext("type") == "skeleton" or lab.find("sublabels") is not None:
            skeletons[name] = tuple(s.findtext("name") or "" for s in lab.findall("sublabels/label"))
    return tuple(names), attrs, skeletons


def _who(task: ET.Element | None) -> str:
    if task is not None:
        for tag in ("assignee", "owner"):
            el = task.find(tag)
            if el is not None:
                who = el.findtext("username") or el.findtext("email")
                if who:
                    return f"cvat:{who}"
        if task.findtext("id"):
            return f"cvat:task{task.findtext('id')}"
    return "cvat"


def _check_utf8(data: bytes) -> None:
    """Refuse bytes that claim (or default to) UTF-8 but are not, naming the byte offset."""
    decl = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)", data[:200])
    if decl is not None and decl.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return  # another declared encoding: the XML parser reads it
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConversionError(f"invalid UTF-8 at byte offset {e.start} (byte 0x{data[e.start]:02x}); the file is "
                              "damaged or in another encoding: re-export it, or declare the encoding in "
                              "<?xml ... encoding=\"...\"?>", field="encoding") from None


def _image_keys(images: list[ET.Element], task_names: dict[str, str],
                warnings: list[str] | None) -> list[str]:
    """Item ids of a task's or project's images: ``name``, prefixed by task (or subset) when they vary.

    A project export holds several tasks (and subsets) whose frames may share file names;
    those stay apart as ``"<task name>/<name>"`` (as the API path names them), or
    ``"<subset>/<name>"`` when the images name one task but several subsets. A name that
    still repeats gets ``"#<image id>"`` appended, with a warning.
    """
    tasks = {img.get("task_id") for img in images}
    groups = {(img.get("task_id"), img.get("subset")) for img in images}
    keys = []
    for img in images:
        item_id = img.get("name") or img.get("id") or ""
        if not item_id:
            raise ConversionError("an <image> needs name= or id=", field="image.name")
        parts = []
        if len(tasks) > 1:
            tid = img.get("task_id") or ""
            parts.append(task_names.get(tid) or f"task{tid}")
        if len(groups) > len(tasks):
            parts.append(img.get("subset") or "default")
        keys.append("/".join([*parts, item_id]))
    seen: dict[str, int] = {}
    for k in keys:
        seen[k] = seen.get(k, 0) + 1
    dups = sorted(k for k, n in seen.items() if n > 1)
    if dups:
        _warn(warnings, f"{len(dups)} image names appear more than once (e.g. {dups[0]!r}); they are different "
                        "frames and are kept apart as '<name>#<image id>'")
        keys = [f"{k}#{img.get('id') or n}" if k in dups else k for n, (k, img) in enumerate(zip(keys, images,
                                                                                                  strict=True))]
        if len(set(keys)) != len(keys):
            raise ConversionError(f"image {dups[0]!r} appears more than once with the same id; every <image> "
                                  "needs its own id= or name=", item_id=dups[0], field="image.id")
    return keys


def _size_of(img: ET.Element, name: str, item_id: str) -> float | None:
    v = img.get(name) if img.tag == "image" else img.findtext(name)
    if not v or (img.tag != "image" and v.strip() == "0"):
        return None
    try:
        out = float(v)
    except ValueError:
        out = math.nan
    if not math.isfinite(out) or out <= 0:
        raise ConversionError(f"<image> needs a positive number in {name}=, got {_cut(v)}", item_id=item_id,
                              field=f"image.{name}")
    return out


def from_cvat_xml(src: bytes | str | Path, *, annotator_id: str | None = None, source: Source = "human",
                  name: str | None = None, warnings: list[str] | None = None) -> Dataset:
    """A CVAT for images / video 1.1 export (XML bytes, a path, or a zip) as a :class:`Dataset`.

    Args:
        src: XML or zip bytes, or a path to an ``.xml`` or ``.zip`` file.
        annotator_id: Who made the annotations; default ``cvat:<assignee or owner username>``
            from ``<meta>``, else ``cvat:task<id>``, else ``cvat``.
        source: Record source (``reference`` for a ground-truth job, ``model`` for auto-annotation).
        name: The dataset's name; default the task name.
        warnings: A list that receives one line per kind of thing skipped or renamed (else
            they are logged): elements accord does not read, repeated image names.

    Raises:
        ConversionError: not XML, not CVAT, or a shape is malformed (naming image and attribute).
    """
    data = _read_bytes(src)
    _check_utf8(data)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise ConversionError(f"not valid XML: {e}; expected a CVAT for images/video 1.1 annotations.xml",
                              field="xml") from e
    if root.tag != "annotations":
        raise ConversionError(f"expected a CVAT <annotations> root element, got <{root.tag}>", field="annotations")
    task, label_els = _meta(root)
    labels, label_attrs, skeletons = _label_specs(label_els)
    who = annotator_id or _who(task)
    task_name = (task.findtext("name") if task is not None else None) or "video"
    records: list[Record] = []
    items: dict[str, Item] = {}
    used: dict[str, None] = {}

    def add(item_id: str, fn: Callable[[ET.Element, _Ctx], Value], ctx: _Ctx, el: ET.Element,
            region_id: str | None) -> None:
        try:
            value = fn(el, ctx)
        except InvalidAnnotationError as e:
            raise ConversionError(f"<{el.tag}> {region_id} is not valid: {e}", item_id=item_id, field=el.tag) from e
        set_name = _SET_OF["cuboid_2d" if el.tag == "cuboid" and not isinstance(value, Cuboid) else el.tag]
        used[set_name] = None
        attrs = _attrs(el)
        if el.tag == "points":  # occlusion of points lives in the keypoints' visibility
            attrs.pop("occluded", None)
        records.append(Record(item_id=item_id, annotator_id=who, label_set=set_name, value=value, source=source,
                              region_id=region_id, attributes=attrs))

    dim3 = task is not None and (task.findtext("dimension") or "").strip().lower() == "3d"
    task_names = {t.findtext("id") or "": t.findtext("name") or "" for t in root.iterfind("meta/project/tasks/task")}
    images = list(root.iter("image"))
    skipped: dict[str, int] = {}
    for img, item_id in zip(images, _image_keys(images, task_names, warnings), strict=True):
        w, h = _size_of(img, "width", item_id), _size_of(img, "height", item_id)
        idata = {"image": img.get("name") or item_id, "cvat_id": img.get("id")}
        idata.update({f"cvat_{k}": img.get(k) for k in ("task_id", "subset") if img.get(k) is not None})
        items[item_id] = Item(item_id=item_id, data=idata, width=w, height=h)
        ctx = _Ctx(item_id, w, h, dim3)
        for k, el in enumerate(img):
            fn = FROM_SHAPE.get(el.tag)
            if fn is None:
                skipped[el.tag] = skipped.get(el.tag, 0) + 1
                continue
            add(item_id, fn, ctx, el, str(k))

    tracks = root.findall("track")
    video_tags = [t for t in root.findall("tag") if t.get("frame") is not None]
    if tracks or video_tags:
        size = task.find("original_size") if task is not None else None
        vw = _size_of(size, "width", task_name) if size is not None else None
        vh = _size_of(size, "height", task_name) if size is not None else None
        vmeta = {k: task.findtext(k) for k in ("start_frame", "stop_frame", "frame_filter", "size", "mode")
                 if task is not None and task.findtext(k) is not None}
        items[task_name] = Item(item_id=task_name, data={"video": task_name}, width=vw, height=vh, meta=vmeta)
        for tr in tracks:
            tid = tr.get("id") or str(len(records))
            shapes = [s for s in tr if s.tag != "attribute"]
            if shapes and all(s.tag == "box" for s in shapes):
                try:
                    frames = []
                    for s in shapes:
                        x1, y1, x2, y2 = (_f(s, k, task_name) for k in ("xtl", "ytl", "xbr", "ybr"))
                        frames.append(TrackFrame(
                            frame=int(_f(s, "frame", task_name)), x=x1, y=y1, width=x2 - x1, height=y2 - y1,
                            rotation=_f(s, "rotation", task_name) if s.get("rotation") else 0.0,
                            outside=_flag(s, "outside"), keyframe=s.get("keyframe", "1") != "0"))
                    track = Track(label=tr.get("label", ""), track_id=tid, frames=tuple(frames))
                except InvalidAnnotationError as e:
                    raise ConversionError(f"track {tid} is not valid: {e}", item_id=task_name, field="track") from e
                attrs = _attrs(tr)
                # CVAT for video repeats every attribute on each <box>; the immutable ones (per the
                # label's spec) describe the whole track, as the API's track-level attributes do.
                mutable = {a.name for a in label_attrs.get(tr.get("label", ""), ()) if a.mutable}
                first = next((b for b in shapes if not _flag(b, "outside")), None)
                for a in first.findall("attribute") if first is not None else ():
                    if (a.get("name") or "") not in mutable:
                        attrs.setdefault(a.get("name") or "", a.text or "")
                used["tracks"] = None
                records.append(Record(item_id=task_name, annotator_id=who, label_set="tracks", value=track,
                                      source=source, region_id=tid, attributes=attrs))
                continue
            for s in shapes:
                fn = FROM_SHAPE.get(s.tag)
                if fn is None:
                    skipped[f"track/{s.tag}"] = skipped.get(f"track/{s.tag}", 0) + 1
                if fn is None or _flag(s, "outside"):
                    continue
                frame = int(_f(s, "frame", task_name))
                fid = f"{task_name}/frame_{frame:06d}"
                items.setdefault(fid, Item(item_id=fid, data={"image": fid, "video": task_name, "frame": frame},
                                           width=vw, height=vh))
                if s.get("label") is None:
                    s.set("label", tr.get("label", ""))
                add(fid, fn, _Ctx(fid, vw, vh), s, f"track:{tid}")
        for t in video_tags:
            frame = int(_f(t, "frame", task_name))
            fid = f"{task_name}/frame_{frame:06d}"
            items.setdefault(fid, Item(item_id=fid, data={"image": fid, "video": task_name, "frame": frame}))
            add(fid, _tag, _Ctx(fid, None, None), t, None)
    if skipped:
        parts = [f"{n} <{t.split('/')[-1]}> element{'s' * (n > 1)} inside <{'track' if '/' in t else 'image'}>"
                 for t, n in sorted(skipped.items())]
        _warn(warnings, "skipped " + ", ".join(parts) + " (not a CVAT 1.1 shape accord reads)")

    sets = []
    for set_name in dict.fromkeys(_SET_OF.values()):
        if set_name in used:
            kind = _KIND_OF[set_name]
            sets.append(LabelSet(name=set_name, kind=kind, labels=labels, multiple=True,
                                 attributes=label_attrs, tool_type=set_name,
                                 to_name="video" if set_name == "tracks" else "image",
                                 skeleton=next(iter(skeletons.values()), ()) if set_name == "skeletons" else ()))
    names = frozenset(ls.name for ls in sets)
    items = {k: replace(it, label_sets=names) for k, it in items.items()}
    subs = tuple(Submission(item_id=k, annotator_id=who, source=source) for k in items)
    return Dataset(records=tuple(records), schema=Schema.of(*sets), items=items, submissions=subs,
                   name=name or task_name)


# --------------------------------------------------------------------------- writing


def _fmt(v: float) -> str:
    return f"{v:.2f}" if abs(v - round(v, 2)) < 1e-9 else repr(float(v))


def _set_attrs(el: ET.Element, attrs: Any) -> None:
    for k in _RESERVED:
        if k in attrs:
            v = attrs[k]
            el.set(k, str(int(v)) if isinstance(v, bool) else str(v))
    for k, v in attrs.items():
        if k not in _RESERVED:
            a = ET.SubElement(el, "attribute", name=k)
            a.text = str(v)


def _write_shape(parent: ET.Element, r: Record) -> None:
    v = r.value
    el: ET.Element
    if isinstance(v, Box):
        el = ET.SubElement(parent, "box", label=v.label, xtl=_fmt(v.x), ytl=_fmt(v.y), xbr=_fmt(v.x + v.width),
                           ybr=_fmt(v.y + v.height))
        if v.rotation:
            el.set("rotation", _fmt(v.rotation))
    elif isinstance(v, Polygon | Polyline):
        el = ET.SubElement(parent, v.kind, label=v.label,
                           points=";".join(f"{_fmt(x)},{_fmt(y)}" for x, y in v.points))
    elif isinstance(v, Keypoints) and r.label_set == "skeletons":
        el = ET.SubElement(parent, "skeleton", label=v.label)
        for p in v.points:
            ET.SubElement(el, "points", label=p.name, outside=str(int(p.visibility == 0)),
                          occluded=str(int(p.visibility == 1)), points=f"{_fmt(p.x)},{_fmt(p.y)}")
    elif isinstance(v, Keypoints):
        vis = v.points[0].visibility
        el = ET.SubElement(parent, "points", label=v.label,
                           points=";".join(f"{_fmt(p.x)},{_fmt(p.y)}" for p in v.points))
        if vis == 0:
            el.set("outside", "1")
        _set_attrs(el, {k: a for k, a in r.attributes.items() if k != "occluded"})
        el.set("occluded", str(int(vis == 1)))
        return
    elif isinstance(v, Mask):
        m = rle.decode(v.counts, v.height, v.width)
        ys, xs = np.nonzero(m)
        if xs.size == 0:
            top = left = 0
            win = m[:1, :1]
        else:
            top, left = int(ys.min()), int(xs.min())
            win = m[top:int(ys.max()) + 1, left:int(xs.max()) + 1]
        flat = win.ravel()
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        runs = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
        if flat[0]:
            runs = [0, *runs]
        el = ET.SubElement(parent, "mask", label=v.label, rle=", ".join(str(x) for x in runs), left=str(left),
                           top=str(top), width=str(win.shape[1]), height=str(win.shape[0]))
    elif isinstance(v, Classification):
        el = ET.SubElement(parent, "tag", label=v.label)
    else:
        raise ConversionError(f"CVAT XML has no shape for {v.kind!r} values", item_id=r.item_id, field=r.label_set)
    _set_attrs(el, r.attributes)


def to_cvat_xml(dataset: Dataset) -> bytes:
    """The dataset as CVAT 1.1 XML: ``<image>`` elements for item records, ``<track>`` for tracks.

    Labels (with attribute specs) come from the schema. Masks are written over their
    tight bounding window. Raises :class:`ConversionError` for values CVAT cannot hold.
    """
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "name").text = dataset.name
    labels_el = ET.SubElement(task, "labels")
    seen: dict[str, tuple[AttributeSpec, ...]] = {}
    for ls in dataset.schema.label_sets.values():
        for lb in ls.labels:
            seen.setdefault(lb, ls.attributes.get(lb, ()))
    for r in dataset.records:
        if r.label is not None:
            seen.setdefault(r.label, ())
    for lb, specs in seen.items():
        le = ET.SubElement(labels_el, "label")
        ET.SubElement(le, "name").text = lb
        attrs_el = ET.SubElement(le, "attributes")
        for a in specs:
            ae = ET.SubElement(attrs_el, "attribute")
            for k, v in (("name", a.name), ("mutable", str(a.mutable)), ("input_type", a.input_type),
                         ("default_value", a.default or ""), ("values", "\n".join(a.values))):
                ET.SubElement(ae, k).text = v
    by_item: dict[str, list[Record]] = {}
    tracks: list[Record] = []
    for r in dataset.records:
        (tracks if isinstance(r.value, Track) else by_item.setdefault(r.item_id, [])).append(r)
    for n, (item_id, it) in enumerate(dataset.items.items()):
        if item_id not in by_item and any(t.item_id == item_id for t in tracks):
            continue
        img = ET.SubElement(root, "image", id=str(n), name=item_id)
        if it.width is not None and it.height is not None:
            img.set("width", str(int(it.width)))
            img.set("height", str(int(it.height)))
        for r in by_item.get(item_id, []):
            _write_shape(img, r)
    for r in tracks:
        trk = r.value
        if not isinstance(trk, Track):  # pragma: no cover - filtered above
            continue
        tr = ET.SubElement(root, "track", id=trk.track_id, label=trk.label)
        _set_attrs(tr, {k: v for k, v in r.attributes.items() if k in _RESERVED})
        for f in trk.frames:
            b = ET.SubElement(tr, "box", frame=str(f.frame), outside=str(int(f.outside)),
                              keyframe=str(int(f.keyframe)), xtl=_fmt(f.x), ytl=_fmt(f.y), xbr=_fmt(f.x + f.width),
                              ybr=_fmt(f.y + f.height))
            if f.rotation:
                b.set("rotation", _fmt(f.rotation))
            _set_attrs(b, {k: v for k, v in r.attributes.items() if k not in _RESERVED})  # on each box, as CVAT
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body
