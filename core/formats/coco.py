"""COCO JSON (instances and person-keypoints) <-> accord records, both directions.

Reading (:func:`from_coco`): ``images`` become items (``item_id`` is the image id as a
string, or its ``file_name`` with ``item_key="file_name"``); ``categories`` become the
schema; each annotation becomes one record in a label set per geometry:

* ``keypoints`` (category lists ``keypoints`` and the annotation has them) -> :class:`Keypoints`
  in label set ``"keypoints"``, names from the category, COCO visibility 0/1/2;
* ``segmentation`` as polygons -> one :class:`Polygon` per part in ``"polygons"``
  (parts of one annotation share its ``region_id`` prefix);
* ``segmentation`` as RLE (counts list or compressed string) -> :class:`Mask` in ``"masks"``;
* otherwise ``bbox`` ``[x, y, w, h]`` -> :class:`Box` in ``"boxes"``.

``geometry="bbox"`` forces boxes for every annotation. ``iscrowd`` and scalar
``attributes`` (CVAT's COCO export) become record attributes; an annotation with a
``score`` is a model prediction (source ``model``). A results file (a bare list of
detections) is read with :func:`from_coco_results`.

Writing (:func:`to_coco`) is the inverse; masks are written as compressed RLE strings,
and ``area``/``bbox`` are computed from the geometry.

Reference: the COCO data format, https://cocodataset.org/#format-data .
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from .. import rle
from ..errors import ConversionError, InvalidAnnotationError
from ..limits import check_limit
from ..model import Box, Dataset, Item, Keypoint, Keypoints, Mask, Polygon, Record, Source, Submission, Value
from ..schema import LabelSet, Schema

Geometry = Literal["auto", "bbox"]
ItemKey = Literal["id", "file_name"]

LABEL_SETS = {"box": "boxes", "polygon": "polygons", "mask": "masks", "keypoints": "keypoints"}


def _req(d: Mapping[str, Any], key: str, where: str, item_id: str | None = None) -> Any:
    if key not in d:
        raise ConversionError(f"a COCO {where} needs {key!r}, got keys {sorted(d)}", item_id=item_id, field=key)
    return d[key]


def _floats(v: Any, n: int | None, item_id: str, field: str) -> list[float]:
    if not isinstance(v, list | tuple) or (n is not None and len(v) != n) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v):
        want = f"{n} numbers" if n is not None else "a list of numbers"
        raise ConversionError(f"expected {want}, got {v!r}", item_id=item_id, field=field)
    return [float(x) for x in v]


def _short(v: Any, limit: int = 60) -> str:
    try:
        text = repr(v)
    except ValueError:  # an integer too long to print
        return "a very long integer"
    return text if len(text) <= limit else text[:limit] + "..."


def _int(v: Any, item_id: str | None, field: str) -> int:
    """An integer field (an id, a size, an RLE run): an int, or a string of digits; else an error."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and len(v) <= 30 and v.strip().lstrip("-").isdigit():
        return int(v)
    raise ConversionError(f"expected an integer, got {_short(v)}", item_id=item_id, field=field)


def _size(v: Any, item_id: str, field: str) -> float | None:
    """An image width or height: a positive finite number, or absent."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        raise ConversionError(f"expected a positive number, got {_short(v)}", item_id=item_id, field=field)
    return float(v)


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    v = data.get(key) or []
    if not isinstance(v, list):
        raise ConversionError(f"expected {key!r} as a list, got {type(v).__name__}", field=key)
    return v


def _categories(data: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    cats = data.get("categories") or []
    if not isinstance(cats, list):
        raise ConversionError(f"expected 'categories' as a list, got {type(cats).__name__}", field="categories")
    out: dict[int, Mapping[str, Any]] = {}
    for c in cats:
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise ConversionError(f"a COCO category needs 'id' and 'name', got {c!r}", field="categories")
        kps, edges = c.get("keypoints"), c.get("skeleton")
        if kps is not None and not isinstance(kps, list):
            raise ConversionError(f"a category's 'keypoints' must be a list of names, got {_short(kps)}",
                                  field="categories.keypoints")
        if edges is not None and not (isinstance(edges, list) and all(isinstance(e, list) for e in edges)):
            raise ConversionError(f"a category's 'skeleton' must be a list of [a, b] pairs, got {_short(edges)}",
                                  field="categories.skeleton")
        out[_int(c["id"], None, "categories.id")] = c
    return out


def _schema(cats: Mapping[int, Mapping[str, Any]], kinds: Iterable[str]) -> Schema:
    names = tuple(dict.fromkeys(str(c["name"]) for c in cats.values()))
    skeleton: tuple[str, ...] = ()
    extra: dict[str, Any] = {}
    for c in cats.values():
        if c.get("keypoints"):
            skeleton = tuple(str(k) for k in c["keypoints"])
            if c.get("skeleton"):
                extra["skeleton_edges"] = [list(e) for e in c["skeleton"]]
            break
    sets = []
    for kind in kinds:
        sets.append(LabelSet(name=LABEL_SETS[kind], kind=kind,  # type: ignore[arg-type]
                             labels=names, multiple=True, tool_type="coco",
                             skeleton=skeleton if kind == "keypoints" else (),
                             extra=extra if kind == "keypoints" else {}))
    return Schema.of(*sets)


def _values(ann: Mapping[str, Any], label: str, cat: Mapping[str, Any], size: tuple[int, int] | None,
            geometry: Geometry, item_id: str) -> list[Value]:
    kp = ann.get("keypoints")
    if geometry == "auto" and kp and cat.get("keypoints"):
        flat = _floats(kp, None, item_id, "keypoints")
        if len(flat) % 3:
            raise ConversionError(f"keypoints must be x, y, v triples, got {len(flat)} numbers", item_id=item_id,
                                  field="keypoints")
        names = [str(n) for n in cat["keypoints"]]
        if len(names) != len(flat) // 3:
            names = [f"kp{i}" for i in range(len(flat) // 3)]
        pts = tuple(Keypoint(name=names[i], x=flat[3 * i], y=flat[3 * i + 1],
                             visibility=_int(flat[3 * i + 2], item_id, "keypoints"))
                    for i in range(len(flat) // 3))
        return [Keypoints(label=label, points=pts)]
    seg = ann.get("segmentation")
    if geometry == "auto" and isinstance(seg, list) and seg:
        parts = seg if isinstance(seg[0], list) else [seg]
        out: list[Value] = []
        for k, part in enumerate(parts):
            xy = _floats(part, None, item_id, f"segmentation[{k}]")
            if len(xy) % 2 or len(xy) < 6:
                raise ConversionError(f"a polygon needs an even count of >= 6 numbers, got {len(xy)}",
                                      item_id=item_id, field=f"segmentation[{k}]")
            out.append(Polygon(label=label, points=tuple(zip(xy[0::2], xy[1::2], strict=True))))
        return out
    if geometry == "auto" and isinstance(seg, dict) and seg:
        sz = seg.get("size")
        if not (isinstance(sz, list) and len(sz) == 2):
            raise ConversionError(f"an RLE segmentation needs 'size' [height, width], got {sz!r}",
                                  item_id=item_id, field="segmentation.size")
        counts = seg.get("counts")
        if isinstance(counts, str):
            cnts = rle.from_coco_string(counts)
        elif isinstance(counts, list):
            cnts = tuple(_int(c, item_id, "segmentation.counts") for c in counts)
        else:
            raise ConversionError(f"RLE 'counts' must be a list or a compressed string, got {counts!r}",
                                  item_id=item_id, field="segmentation.counts")
        mh, mw = _int(sz[0], item_id, "segmentation.size"), _int(sz[1], item_id, "segmentation.size")
        if mh < 0 or mw < 0:
            raise ConversionError(f"an RLE 'size' needs [height, width] >= 0, got {_short(sz)}",
                                  item_id=item_id, field="segmentation.size")
        check_limit("max_raster_pixels", mh * mw, f"the RLE mask of image {item_id!r} has", unit=" pixels")
        return [Mask(label=label, height=mh, width=mw, counts=cnts)]
    x, y, w, h = _floats(_req(ann, "bbox", "annotation", item_id), 4, item_id, "bbox")
    return [Box(label=label, x=x, y=y, width=w, height=h)]


def from_coco(data: Mapping[str, Any], *, geometry: Geometry = "auto", item_key: ItemKey = "id",
              annotator_id: str | None = None, name: str = "coco") -> Dataset:
    """A COCO instances / keypoints JSON object as a :class:`Dataset`.

    Args:
        data: The parsed JSON with ``images``, ``annotations`` and ``categories``.
        geometry: ``"auto"`` (keypoints, else segmentation, else bbox) or ``"bbox"``.
        item_key: Which image field names the item: ``"id"`` or ``"file_name"``.
        annotator_id: Who made the annotations; default ``"coco"``, or ``"model:coco"`` for
            annotations with a ``score``.
        name: The dataset's name.

    Raises:
        ConversionError: a required key is missing or malformed (naming the image and field).
    """
    if not isinstance(data, Mapping) or "annotations" not in data or "images" not in data:
        raise ConversionError("not a COCO annotation file: expected an object with 'images', 'annotations' "
                              "and 'categories'" + (f", got keys {sorted(data)[:8]}" if isinstance(data, Mapping)
                                                    else f", got {type(data).__name__}"), field="images")
    cats = _categories(data)
    items: dict[str, Item] = {}
    by_image: dict[int, Item] = {}
    for img in _list(data, "images"):
        if not isinstance(img, dict):
            raise ConversionError(f"a COCO image must be an object, got {img!r}", field="images")
        iid = _int(_req(img, "id", "image"), None, "images.id")
        key = str(img.get("file_name")) if item_key == "file_name" else str(iid)
        if int(iid) in by_image:
            raise ConversionError(f"image id {iid} appears twice in 'images', so two images would merge into one "
                                  "item; give every image its own id", item_id=key, field="images.id")
        it = Item(item_id=key, data={k: v for k, v in img.items() if k not in ("width", "height")},
                  width=_size(img.get("width"), key, "images.width"),
                  height=_size(img.get("height"), key, "images.height"))
        items[key] = it
        by_image[iid] = it
    records: list[Record] = []
    kinds: dict[str, None] = {}
    for ann in _list(data, "annotations"):
        if not isinstance(ann, dict):
            raise ConversionError(f"a COCO annotation must be an object, got {ann!r}", field="annotations")
        img_id = _req(ann, "image_id", "annotation")
        owner = by_image.get(_int(img_id, None, "annotations.image_id"))
        if owner is None:
            raise ConversionError(f"annotation {ann.get('id')!r} points at image_id {img_id!r}, which is not in "
                                  "'images'", item_id=str(img_id), field="image_id")
        cid = _req(ann, "category_id", "annotation", owner.item_id)
        cat = cats.get(_int(cid, owner.item_id, "annotations.category_id"))
        if cat is None:
            raise ConversionError(f"category_id {cid!r} is not in 'categories' (ids {sorted(cats)})",
                                  item_id=owner.item_id, field="category_id")
        score = ann.get("score")
        source: Source = "model" if isinstance(score, int | float) else "human"
        who = annotator_id or ("model:coco" if source == "model" else "coco")
        attrs: dict[str, Any] = {}
        if "iscrowd" in ann:
            attrs["iscrowd"] = bool(ann["iscrowd"])
        if isinstance(ann.get("attributes"), dict):
            attrs.update({k: v for k, v in ann["attributes"].items() if isinstance(v, str | int | float | bool)})
        size = (int(owner.height), int(owner.width)) if owner.height and owner.width else None
        try:
            values = _values(ann, str(cat["name"]), cat, size, geometry, owner.item_id)
        except InvalidAnnotationError as e:
            raise ConversionError(f"annotation {ann.get('id')!r} is not valid: {e}", item_id=owner.item_id,
                                  field="segmentation") from e
        aid = ann.get("id")
        for k, v in enumerate(values):
            kinds[v.kind] = None
            rid = None if aid is None else (str(aid) if k == 0 else f"{aid}.{k}")
            records.append(Record(item_id=owner.item_id, annotator_id=who, label_set=LABEL_SETS[v.kind], value=v,
                                  source=source, region_id=rid, attributes=attrs,
                                  score=float(score) if isinstance(score, int | float) else None))
    subs = tuple(Submission(item_id=k, annotator_id=annotator_id or "coco") for k in items) if not any(
        r.source == "model" for r in records) else ()
    schema = _schema(cats, kinds or ("box",))
    scoped = {k: replace(it, label_sets=frozenset(schema.label_sets)) for k, it in items.items()}
    return Dataset(records=tuple(records), schema=schema, items=scoped, submissions=subs, name=name)


def from_coco_results(results: Sequence[Mapping[str, Any]], categories: Sequence[Mapping[str, Any]] | None = None,
                      *, annotator_id: str = "model:coco", name: str = "coco-results") -> Dataset:
    """A COCO results file (a list of ``{image_id, category_id, bbox|segmentation|keypoints, score}``).

    Labels come from ``categories`` when given, else the category id as a string.
    """
    cats = _categories({"categories": list(categories or [])})
    records: list[Record] = []
    kinds: dict[str, None] = {}
    for k, det in enumerate(results):
        if not isinstance(det, dict):
            raise ConversionError(f"a COCO result must be an object, got {det!r}", field=f"[{k}]")
        item_id = str(_int(_req(det, "image_id", "result"), None, f"[{k}].image_id"))
        cid = _int(_req(det, "category_id", "result", item_id), item_id, f"[{k}].category_id")
        cat = cats.get(cid, {"name": str(cid)})
        score = det.get("score")
        try:
            values = _values(det, str(cat["name"]), cat, None, "auto", item_id)
        except InvalidAnnotationError as e:
            raise ConversionError(f"result {k} is not valid: {e}", item_id=item_id, field="bbox") from e
        for v in values:
            kinds[v.kind] = None
            records.append(Record(item_id=item_id, annotator_id=annotator_id, label_set=LABEL_SETS[v.kind],
                                  value=v, source="model", region_id=str(det.get("id", k)),
                                  score=float(score) if isinstance(score, int | float) else None))
    return Dataset(records=tuple(records), schema=_schema(cats, kinds or ("box",)), name=name)


# --------------------------------------------------------------------------- writing


def _bbox_of(xy: np.ndarray) -> list[float]:  # type: ignore[type-arg]
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def _polygon_area(pts: Sequence[tuple[float, float]]) -> float:
    a = np.asarray(pts, dtype=float)
    x, y = a[:, 0], a[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _ann_geometry(v: Value, item_id: str) -> dict[str, Any]:
    if isinstance(v, Box):
        if v.rotation:
            raise ConversionError(f"COCO boxes cannot rotate, got rotation {v.rotation!r}; write the rotated box "
                                  "as a polygon of Box.corners() instead", item_id=item_id, field="rotation")
        return {"bbox": [v.x, v.y, v.width, v.height], "area": v.area}
    if isinstance(v, Polygon):
        return {"segmentation": [[c for p in v.points for c in p]],
                "bbox": _bbox_of(np.asarray(v.points)), "area": _polygon_area(v.points)}
    if isinstance(v, Mask):
        m = rle.decode(v.counts, v.height, v.width)
        ys, xs = np.nonzero(m)
        bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)] \
            if xs.size else [0.0, 0.0, 0.0, 0.0]
        return {"segmentation": {"size": [v.height, v.width], "counts": rle.to_coco_string(v.counts)},
                "bbox": bbox, "area": float(v.area)}
    if isinstance(v, Keypoints):
        flat = [c for p in v.points for c in (p.x, p.y, p.visibility)]
        vis = np.asarray([(p.x, p.y) for p in v.points if p.visibility > 0])
        return {"keypoints": flat, "num_keypoints": sum(1 for p in v.points if p.visibility > 0),
                "bbox": _bbox_of(vis) if vis.size else [0.0, 0.0, 0.0, 0.0], "area": 0.0}
    raise ConversionError(f"COCO holds boxes, polygons, masks and keypoints; got a {v.kind!r} value",
                          item_id=item_id, field="value")


def to_coco(dataset: Dataset, *, source: Source | None = None, annotator_id: str | None = None) -> dict[str, Any]:
    """The dataset's region records as a COCO instances/keypoints JSON object.

    Image ids are the item ids when all are integers, else 1, 2, ... in item order
    (``file_name`` is the item's ``data["file_name"]``, else its id). Categories are the
    labels of the schema's box/polygon/mask/keypoints sets, then any others seen, numbered
    from 1. Only records of ``source`` / ``annotator_id`` are written when given.

    Raises:
        ConversionError: a record holds a value COCO cannot (spans, rotated boxes, ...).
    """
    recs = [r for r in dataset.records if (source is None or r.source == source)
            and (annotator_id is None or r.annotator_id == annotator_id)]
    item_ids = list(dataset.items)
    numeric = all(k.isdigit() for k in item_ids)
    image_ids = {k: (int(k) if numeric else n) for n, k in enumerate(item_ids, 1)}
    labels: dict[str, None] = {}
    skeleton: tuple[str, ...] = ()
    for ls in dataset.schema.label_sets.values():
        if ls.kind in LABEL_SETS:
            labels.update(dict.fromkeys(ls.labels))
            skeleton = skeleton or ls.skeleton
    for r in recs:
        if r.label is not None:
            labels.setdefault(r.label, None)
        if isinstance(r.value, Keypoints) and not skeleton:
            skeleton = tuple(p.name for p in r.value.points)
    cat_ids = {name: i for i, name in enumerate(labels, 1)}
    categories = [{"id": i, "name": n, "supercategory": ""} | ({"keypoints": list(skeleton), "skeleton": []}
                                                              if skeleton else {}) for n, i in cat_ids.items()]
    images = []
    for k, it in dataset.items.items():
        img: dict[str, Any] = {"id": image_ids[k], "file_name": str(it.data.get("file_name", k))}
        if it.width is not None and it.height is not None:
            img["width"], img["height"] = int(it.width), int(it.height)
        images.append(img)
    anns = []
    for n, r in enumerate(recs, 1):
        ann: dict[str, Any] = {"id": n, "image_id": image_ids[r.item_id], "category_id": cat_ids[r.label or ""],
                               "iscrowd": int(bool(r.attributes.get("iscrowd", False)))}
        ann.update(_ann_geometry(r.value, r.item_id))
        if r.score is not None:
            ann["score"] = r.score
        extra = {k: v for k, v in r.attributes.items() if k != "iscrowd"}
        if extra:
            ann["attributes"] = extra
        anns.append(ann)
    return {"info": {"description": dataset.name}, "licenses": [], "images": images, "annotations": anns,
            "categories": categories}
