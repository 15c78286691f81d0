"""FiftyOne label fields -> accord's annotation model (one record per label).

Each label field is one annotator's labels (as the QA operators treat them): the
field name is the annotator, unless ``annotator_ids`` renames it. What each field
type becomes (a lookup table, :data:`FROM_FIELD`):

* ``Classification`` -> one :class:`~accord.core.model.Classification` per sample,
  label set ``"classification"``;
* ``Classifications`` -> one :class:`~accord.core.model.MultiLabel` per sample (the
  model's value for several classes of one item), label set ``"classifications"``;
* ``Detections`` -> :class:`~accord.core.model.Box` values in **pixels**, label set
  ``"detections"`` (FiftyOne's boxes are ``[x, y, w, h]`` relative to the image);
* ``Polylines`` -> a :class:`~accord.core.model.Polygon` for each closed or filled
  shape (label set ``"polygons"``) and a :class:`~accord.core.model.Polyline` for each
  open one (label set ``"polylines"``): a label set holds one value kind (a polyline
  of several shapes keeps its first, with a warning);
* ``Keypoints`` -> :class:`~accord.core.model.Keypoints` in pixels (points named by
  their index; a NaN point gets visibility 0), label set ``"keypoints"``.

The item is the sample id (its filepath is kept in the item's data); a label's
id is the record's ``region_id`` (so ``accord diff`` pairs a relabeled box with
itself), its ``confidence`` the record's ``score``, and its custom attributes of
plain types (str, number, bool) the record's attributes, except those accord's
own QA operators write (``accord_*``). A field that is set on a sample is a
submission by its annotator, even with no label in it (looked and found
nothing); an unset field is "never looked".

Image sizes come from ``sample.metadata``; missing metadata is computed
(``compute_metadata()``, which reads the media), and a sample whose media cannot
be read but holds regions is an error: its pixels are unknown.

Values are read in bulk (one ``values()`` call per field), never sample by
sample. This module never imports ``fiftyone`` itself: it reads the collection
it is given.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from accord.core.errors import ConversionError, InvalidAnnotationError
from accord.core.model import (
    REGION_KINDS,
    Box,
    Classification,
    Dataset,
    Item,
    MultiLabel,
    Record,
    Submission,
    Value,
    value_label,
)
from accord.core.schema import Kind, LabelSet, Schema

from .fields import _FRAMES, _image_sizes, _read_list_field, _Units
from .values import _keypoint_values, _polygon_values

logger = logging.getLogger(__name__)

#: Attributes of a stored label that are its value or FiftyOne's bookkeeping, never a custom attribute.
_RESERVED = frozenset({"_id", "_cls", "id", "label", "bounding_box", "confidence", "index", "attributes", "tags",
                       "mask", "mask_path", "points", "closed", "filled", "logits", "instance", "num_points"})
#: Label sets of each value kind, and their accord kind in the schema.
_KIND_OF_SET: Mapping[str, Kind] = MappingProxyType({
    "classification": "classification", "classifications": "multilabel", "detections": "box",
    "polygons": "polygon", "polylines": "polyline", "keypoints": "keypoints"})


@dataclass(frozen=True, slots=True)
class _Field:
    """What a converter needs about one field: its name, annotator, the sample ids and image sizes."""

    name: str
    annotator_id: str
    sample_ids: Sequence[str]
    sizes: Sequence[tuple[float, float] | None]


_Row = tuple[int, str, Value, Mapping[str, Any]]  # (sample index, label set, value, the stored label dict)
_Converted = tuple[list[_Row], list[bool]]  # the rows, and whether the field is set on each sample


def _attributes(doc: Mapping[str, Any]) -> dict[str, str | float | int | bool]:
    return {k: v for k, v in doc.items() if k not in _RESERVED and not k.startswith(("_", "accord_"))
            and isinstance(v, str | int | float | bool) and not (isinstance(v, float) and not math.isfinite(v))}


def _size(f: _Field, i: int) -> tuple[float, float]:
    size = f.sizes[i]
    if size is None:
        raise ConversionError(
            "the sample has regions but no image size in its metadata and its media could not be read; set "
            "sample.metadata (fo.ImageMetadata(width=..., height=...)) or make its filepath readable",
            item_id=f.sample_ids[i], field=f.name)
    return size


def _from_classification(collection: Any, f: _Field) -> _Converted:
    docs = collection.values(f.name, _raw=True)
    return ([(i, "classification", Classification(label=str(d.get("label"))), d)
             for i, d in enumerate(docs) if d is not None and d.get("label")], [d is not None for d in docs])


def _from_classifications(collection: Any, f: _Field) -> _Converted:
    rows = collection.values(f"{f.name}.classifications", _raw=True)
    out: list[_Row] = []
    for i, docs in enumerate(rows):
        labels = tuple(str(d["label"]) for d in docs or [] if d.get("label"))
        if labels:
            out.append((i, "classifications", MultiLabel(labels=labels), {}))
    return out, [r is not None for r in rows]


def _from_detections(collection: Any, f: _Field) -> _Converted:
    raw = _read_list_field(collection, f.name, "detections", _Units(False, (1,) * len(f.sample_ids)))["raw"]
    out: list[_Row] = []
    for i, docs in enumerate(raw):
        if not docs:
            continue
        w, h = _size(f, i)
        for d in docs:
            x, y, bw, bh = (float(v) for v in d["bounding_box"])
            out.append((i, "detections", Box(label=str(d.get("label")), x=x * w, y=y * h, width=bw * w,
                                              height=bh * h), d))
    return out, [r is not None for r in raw]


def _from_polylines(collection: Any, f: _Field) -> _Converted:
    data = _read_list_field(collection, f.name, "polylines", _Units(False, (1,) * len(f.sample_ids)))
    out: list[_Row] = []
    multipart = sum(1 for docs in data["raw"] for d in docs or [] if len(d.get("points") or []) > 1)
    if multipart:
        logger.warning("field %r: %d polylines have several shapes; only the first shape of each is kept",
                       f.name, multipart)
    for i, docs in enumerate(data["raw"]):
        if not docs:
            continue
        values = _polygon_values([d.get("points") for d in docs], data["label"][i], data["closed"][i],
                                 data["filled"][i], _size(f, i))
        out.extend((i, "polygons" if v.kind == "polygon" else "polylines", v, d)
                   for v, d in zip(values, docs, strict=True))
    return out, [r is not None for r in data["raw"]]


def _from_keypoints(collection: Any, f: _Field) -> _Converted:
    data = _read_list_field(collection, f.name, "keypoints", _Units(False, (1,) * len(f.sample_ids)))
    out: list[_Row] = []
    for i, docs in enumerate(data["raw"]):
        if docs:
            values = _keypoint_values(data["geom"][i], data["label"][i], _size(f, i))
            out.extend((i, "keypoints", v, d) for v, d in zip(values, docs, strict=True))
    return out, [r is not None for r in data["raw"]]


#: FiftyOne label type -> its converter (a lookup table, not an if-chain).
FROM_FIELD: Mapping[str, Callable[[Any, _Field], _Converted]] = MappingProxyType({
    "Classification": _from_classification, "Classifications": _from_classifications,
    "Detections": _from_detections, "Polylines": _from_polylines, "Keypoints": _from_keypoints,
})
_REGION_TYPES = frozenset({"Detections", "Polylines", "Keypoints"})


def _field_type(collection: Any, name: str) -> str:
    if name.startswith(_FRAMES):
        raise ConversionError("frame-level fields of a video dataset are not supported yet; snapshot "
                              "sample-level label fields", field=name)
    schema_field = collection.get_field(name)
    if schema_field is None:
        known = sorted(collection.get_field_schema())
        raise ConversionError(f"no such field in the collection; its fields are {known}", field=name)
    doc = getattr(schema_field, "document_type", None)
    typ = str(getattr(doc, "__name__", type(schema_field).__name__))
    if typ not in FROM_FIELD:
        raise ConversionError(f"the field holds {typ}, expected one of {sorted(FROM_FIELD)}; pick a label field "
                              "of one of those types", field=name)
    return typ


def _sizes(collection: Any, n: int) -> list[tuple[float, float] | None]:
    """Each sample's image size, or None where it is unknown (media unreadable)."""
    sizes: list[tuple[float, float] | None] = list(_image_sizes(collection, _Units(False, (1,) * n), compute=True))
    if (1.0, 1.0) in sizes:  # _image_sizes stands in 1 x 1 for an unknown size: tell them apart
        width, height = collection.values(["metadata.width", "metadata.height"])
        sizes = [s if w and h else None for s, w, h in zip(sizes, width, height, strict=True)]
    return sizes


def from_fiftyone(collection: Any, fields: Sequence[str], *,
                  annotator_ids: Mapping[str, str] | None = None) -> Dataset:
    """The annotation records of label fields of a FiftyOne dataset or view, one annotator per field.

    Args:
        collection: A FiftyOne dataset or view (image samples).
        fields: The label fields to read; each is one annotator's labels.
        annotator_ids: Optional annotator id per field name (default: the field name).

    Returns:
        A :class:`~accord.core.model.Dataset`: one item per sample (id = sample id, data
        ``{"filepath": ...}``, image width and height when known), the records, one
        submission per sample and field that is set, and a schema with one label set per
        value kind found (labels: those seen, sorted).

    Raises:
        ConversionError: A field is missing, repeated, of an unsupported type or
            frame-level; ``annotator_ids`` names a field not read; a label cannot be
            converted; a sample with regions has no known image size.
    """
    fields = list(fields)
    if not fields or len(set(fields)) != len(fields):
        raise ConversionError(f"expected one or more distinct label fields (one per annotator), got {fields!r}")
    ids = dict(annotator_ids or {})
    if set(ids) - set(fields):
        raise ConversionError(f"annotator_ids names fields {sorted(set(ids) - set(fields))} that are not read; "
                              f"the fields are {fields}")
    types = {f: _field_type(collection, f) for f in fields}
    sample_ids, filepaths = collection.values(["id", "filepath"])
    sample_ids = [str(s) for s in sample_ids]
    n = len(sample_ids)
    sizes: list[tuple[float, float] | None] = (_sizes(collection, n) if _REGION_TYPES & set(types.values())
                                               else [None] * n)
    records: list[Record] = []
    submissions: list[Submission] = []
    labels: dict[str, set[str]] = {}
    tool_types: dict[str, str] = {}
    for name, typ in types.items():
        f = _Field(name, ids.get(name, name), sample_ids, sizes)
        try:
            rows, set_on = FROM_FIELD[typ](collection, f)
            for i, label_set, value, doc in rows:
                conf = doc.get("confidence")
                records.append(Record(
                    item_id=sample_ids[i], annotator_id=f.annotator_id, label_set=label_set, value=value,
                    region_id=str(doc["_id"]) if "_id" in doc else None, attributes=_attributes(doc),
                    score=float(conf) if isinstance(conf, int | float) and math.isfinite(conf) else None))
                seen = labels.setdefault(label_set, set())
                seen.update(value.labels if isinstance(value, MultiLabel) else [str(value_label(value))])
                tool_types[label_set] = typ
        except ConversionError:
            raise
        except (InvalidAnnotationError, KeyError, TypeError, ValueError) as e:
            raise ConversionError(f"a {typ} label could not be converted ({e}); fix or remove it",
                                  field=name) from e
        submissions.extend(Submission(item_id=sample_ids[i], annotator_id=f.annotator_id)
                           for i, is_set in enumerate(set_on) if is_set)
    items = {sid: Item(item_id=sid, data={"filepath": fp}, width=s[0] if s else None, height=s[1] if s else None)
             for sid, fp, s in zip(sample_ids, filepaths, sizes, strict=True)}
    schema = Schema.of(*(LabelSet(name=ls, kind=_KIND_OF_SET[ls], labels=tuple(sorted(labels[ls])),
                                  multiple=_KIND_OF_SET[ls] in REGION_KINDS, tool_type=tool_types[ls])
                         for ls in sorted(labels)))
    return Dataset(records=records, schema=schema, items=items, submissions=tuple(submissions),
                   name=str(getattr(collection, "name", None) or "fiftyone"))
