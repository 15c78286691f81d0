"""CVAT XML ("CVAT for images 1.1" and "CVAT for video 1.1") <-> accord records.

Pure stdlib: ``xml.etree`` and ``zipfile``; no SDK. :func:`from_cvat_xml` reads either
format, bare or zipped (``annotations.xml`` inside), and :func:`to_cvat_xml` writes
them back for round trips.

Images: each ``<image>`` is an item named by its ``name``; ``<box>`` -> :class:`Box`
(``rotation`` is about the centre, as in accord), ``<polygon>``, ``<polyline>``,
``<points>`` -> :class:`Keypoints` (points named ``"0"``, ``"1"``, ...), ``<mask>`` (CVAT's
RLE over the ``left top width height`` window, row-major, starting with a 0-run) ->
:class:`Mask` over the whole image, ``<skeleton>`` -> :class:`Keypoints` (``outside`` ->
visibility 0, ``occluded`` -> 1, else 2), ``<tag>`` -> :class:`Classification`.
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
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

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

_SET_OF = {"box": "boxes", "polygon": "polygons", "polyline": "polylines", "points": "points", "mask": "masks",
           "skeleton": "skeletons", "tag": "tags", "track": "tracks"}
_KIND_OF: dict[str, Kind] = {"boxes": "box", "polygons": "polygon", "polylines": "polyline", "points": "keypoints",
            "masks": "mask", "skeletons": "keypoints", "tags": "classification", "tracks": "track"}
_RESERVED = ("occluded", "z_order", "group_id", "source")


def _read_bytes(src: bytes | str | Path) -> bytes:
    data = src if isinstance(src, bytes) else Path(src).read_bytes()
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = [n for n in z.namelist() if n.rsplit("/", 1)[-1] == "annotations.xml"]
                if not names:
                    raise ConversionError(f"the zip holds no annotations.xml (files: {z.namelist()[:10]}); "
                                          "export as 'CVAT for images 1.1' or 'CVAT for video 1.1'",
                                          field="annotations.xml")
                return z.read(sorted(names, key=len)[0])
        except zipfile.BadZipFile as e:
            raise ConversionError(f"not a valid zip file: {e}", field="zip") from e
    return data


def _f(el: ET.Element, name: str, item_id: str) -> float:
    v = el.get(name)
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConversionError(f"<{el.tag}> needs a numeric {name}=, got {v!r}", item_id=item_id,
                              field=f"{el.tag}.{name}") from None


def _flag(el: ET.Element, name: str) -> bool:
    return el.get(name, "0").strip().lower() in ("1", "true")


def _pts(el: ET.Element, item_id: str) -> tuple[tuple[float, float], ...]:
    raw = el.get("points")
    if raw is None:
        raise ConversionError(f"<{el.tag}> needs points=\"x1,y1;x2,y2;...\"", item_id=item_id, field=f"{el.tag}.points")
    try:
        out = []
        for p in raw.strip().split(";"):
            x, y = p.split(",")
            out.append((float(x), float(y)))
    except ValueError:
        raise ConversionError(f"expected points as \"x1,y1;x2,y2;...\", got {raw!r}", item_id=item_id,
                              field=f"{el.tag}.points") from None
    return tuple(out)


def _int(el: ET.Element, name: str) -> int:
    v = el.get(name) or "0"
    try:
        return int(v)
    except ValueError:
        raise ConversionError(f"<{el.tag}> needs an integer {name}=, got {v!r}", field=f"{el.tag}.{name}") from None


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
    def __init__(self, item_id: str, width: float | None, height: float | None) -> None:
        self.item_id, self.width, self.height = item_id, width, height


def _box(el: ET.Element, c: _Ctx) -> Value:
    x1, y1, x2, y2 = (_f(el, k, c.item_id) for k in ("xtl", "ytl", "xbr", "ybr"))
    return Box(label=el.get("label", ""), x=x1, y=y1, width=x2 - x1, height=y2 - y1,
               rotation=_f(el, "rotation", c.item_id) if el.get("rotation") else 0.0)


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
    left, top = int(_f(el, "left", c.item_id)), int(_f(el, "top", c.item_id))
    w, h = int(_f(el, "width", c.item_id)), int(_f(el, "height", c.item_id))
    try:
        counts = [int(v) for v in (el.get("rle") or "").split(",") if v.strip()]
    except ValueError:
        raise ConversionError(f"expected rle=\"n0, n1, ...\" integers, got {el.get('rle')!r}", item_id=c.item_id,
                              field="mask.rle") from None
    if sum(counts) != w * h:
        raise ConversionError(f"mask RLE sums to {sum(counts)}, expected width*height = {w}*{h} = {w * h}",
                              item_id=c.item_id, field="mask.rle")
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
    "box": _box, "polygon": _polygon, "polyline": _polyline, "points": _points, "skeleton": _skeleton,
    "mask": _mask, "tag": _tag,
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
            specs.append(AttributeSpec(name=a.findtext("name") or "",
                                       values=tuple(v for v in (a.findtext("values") or "").split("\n") if v),
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


def from_cvat_xml(src: bytes | str | Path, *, annotator_id: str | None = None, source: Source = "human",
                  name: str | None = None) -> Dataset:
    """A CVAT for images / video 1.1 export (XML bytes, a path, or a zip) as a :class:`Dataset`.

    Args:
        src: XML or zip bytes, or a path to an ``.xml`` or ``.zip`` file.
        annotator_id: Who made the annotations; default ``cvat:<assignee or owner username>``
            from ``<meta>``, else ``cvat:task<id>``, else ``cvat``.
        source: Record source (``reference`` for a ground-truth job, ``model`` for auto-annotation).
        name: The dataset's name; default the task name.

    Raises:
        ConversionError: not XML, not CVAT, or a shape is malformed (naming image and attribute).
    """
    data = _read_bytes(src)
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
        set_name = _SET_OF["skeleton" if el.tag == "skeleton" else el.tag]
        used[set_name] = None
        attrs = _attrs(el)
        if el.tag == "points":  # occlusion of points lives in the keypoints' visibility
            attrs.pop("occluded", None)
        records.append(Record(item_id=item_id, annotator_id=who, label_set=set_name, value=value, source=source,
                              region_id=region_id, attributes=attrs))

    for img in root.iter("image"):
        item_id = img.get("name") or img.get("id") or ""
        if not item_id:
            raise ConversionError("an <image> needs name= or id=", field="image.name")
        w = float(img.get("width")) if img.get("width") else None  # type: ignore[arg-type]
        h = float(img.get("height")) if img.get("height") else None  # type: ignore[arg-type]
        items[item_id] = Item(item_id=item_id, data={"image": item_id, "cvat_id": img.get("id")}, width=w, height=h)
        ctx = _Ctx(item_id, w, h)
        for k, el in enumerate(img):
            fn = FROM_SHAPE.get(el.tag)
            if fn is None:
                continue
            add(item_id, fn, ctx, el, str(k))

    tracks = root.findall("track")
    video_tags = [t for t in root.findall("tag") if t.get("frame") is not None]
    if tracks or video_tags:
        size = task.find("original_size") if task is not None else None
        vw = float(size.findtext("width") or 0) or None if size is not None else None
        vh = float(size.findtext("height") or 0) or None if size is not None else None
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

    sets = []
    for set_name in _SET_OF.values():
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
