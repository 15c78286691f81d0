"""Reading and writing FiftyOne label fields for accord: kinds, units, bulk reads and bulk writes.

Shared by the disagreement, label-error and review jobs (see :mod:`.qa`); every read is a
bulk ``values()`` call and every write a bulk ``set_values()``, never a per-sample ``save()``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from accord.core.errors import InvalidAnnotationError, SchemaError

logger = logging.getLogger(__name__)


LabelKind = Literal["classification", "detections", "polylines", "keypoints", "segmentation"]


#: FiftyOne label class name -> the kind handled here (a lookup table, not an if-chain).
_KINDS: Mapping[str, LabelKind] = MappingProxyType({
    "Classification": "classification",
    "Detections": "detections",
    "Polylines": "polylines",
    "Keypoints": "keypoints",
    "Segmentation": "segmentation",
})


#: The list attribute holding the labels of each list kind.
_LIST_ATTR: Mapping[str, str] = MappingProxyType({
    "detections": "detections", "polylines": "polylines", "keypoints": "keypoints",
})


#: Prefix of a video's frame-level fields.
_FRAMES = "frames."


#: The accord value kind used for taxonomy rules and per-kind review times.
_CORE_KIND: Mapping[str, str] = MappingProxyType({
    "classification": "classification", "detections": "box", "polylines": "polygon",
    "keypoints": "keypoints", "segmentation": "mask",
})


def label_kind(collection: Any, field_name: str) -> LabelKind:
    """The kind of a label field (``frames.<name>`` for a video's frame field), from the collection's schema.

    Raises:
        SchemaError: If the field does not exist or holds a label type not supported.
    """
    schema_field = collection.get_field(field_name)
    if schema_field is None:
        known = sorted(collection.get_field_schema())
        if getattr(collection, "_has_frame_fields", lambda: False)():
            known += sorted(f"{_FRAMES}{f}" for f in collection.get_frame_field_schema())
        raise SchemaError(f"no field {field_name!r} in the collection; fields are {known}")
    doc = getattr(schema_field, "document_type", None)
    name = getattr(doc, "__name__", type(schema_field).__name__)
    if name not in _KINDS:
        raise SchemaError(
            f"field {field_name!r} holds {name}, expected one of {sorted(_KINDS)}; "
            "convert it (e.g. Detection -> Detections) or pick another field"
        )
    return _KINDS[name]


def _fields_kind(collection: Any, fields: Sequence[str]) -> LabelKind:
    if len(fields) < 2:
        raise InvalidAnnotationError(
            f"need at least two label fields to compare (one per annotator, or annotator vs "
            f"predictions), got {list(fields)!r}"
        )
    kinds = {f: label_kind(collection, f) for f in fields}
    if len(set(kinds.values())) > 1:
        raise SchemaError(f"fields hold different label kinds {kinds}; compare fields of one kind")
    return kinds[fields[0]]


@dataclass(frozen=True, slots=True)
class _Units:
    """What is compared: one unit per sample, or one per frame when the fields are video frame fields.

    ``values()`` of a frame field gives one list per sample with one entry per frame; the
    units are those entries flattened, and :meth:`nest` rebuilds the per-sample lists that
    ``set_values()`` takes.
    """

    frames: bool
    sizes: tuple[int, ...]

    @classmethod
    def of(cls, collection: Any, fields: Sequence[str]) -> _Units:
        levels = {f.startswith(_FRAMES) for f in fields}
        if len(levels) > 1:
            raise SchemaError(f"fields {list(fields)!r} mix sample-level and frame-level fields; compare "
                              "fields of one level (all 'frames.<name>' or none)")
        if levels == {True}:
            return cls(True, tuple(len(row or []) for row in collection.values("frames.id")))
        return cls(False, (1,) * int(collection.count()))

    @property
    def n_samples(self) -> int:
        return len(self.sizes)

    @property
    def n_units(self) -> int:
        return int(sum(self.sizes))

    def flat(self, values: Sequence[Any]) -> list[Any]:
        if not self.frames:
            return list(values)
        out: list[Any] = []
        for row, k in zip(values, self.sizes, strict=True):
            row = row or []
            if len(row) != k:
                raise SchemaError(f"a sample has {k} frames but {len(row)} frame values; the collection changed "
                                  "while it was read, run again")
            out.extend(row)
        return out

    def nest(self, flat: Sequence[Any]) -> list[Any]:
        if not self.frames:
            return list(flat)
        out, start = [], 0
        for k in self.sizes:
            out.append(list(flat[start:start + k]))
            start += k
        return out

    def per_sample_sum(self, values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        owner = np.repeat(np.arange(self.n_samples), self.sizes)
        out: npt.NDArray[np.float64] = np.bincount(owner, weights=np.asarray(values, dtype=np.float64),
                                                   minlength=self.n_samples)
        return out


def _image_sizes(collection: Any, units: _Units, *, compute: bool) -> list[tuple[float, float]]:
    """Width and height in pixels of each unit's image (a video's frame size for frames).

    Read from the samples' metadata; with ``compute``, missing metadata is computed first
    (``compute_metadata()``, which reads the media). Units still without a size are
    compared in relative coordinates (exact only for square images), with a warning.
    """
    paths = ["metadata.frame_width", "metadata.frame_height"] if units.frames else ["metadata.width",
                                                                                    "metadata.height"]
    width, height = collection.values(paths)
    if compute and any(w is None or h is None for w, h in zip(width, height, strict=True)):
        collection.compute_metadata(warn_failures=False, progress=False)
        width, height = collection.values(paths)
    per_sample = [(float(w), float(h)) if w and h else (1.0, 1.0) for w, h in zip(width, height, strict=True)]
    missing = sum(1 for w, h in zip(width, height, strict=True) if not (w and h))
    if missing:
        logger.warning("%d of %d samples have no image size in their metadata (is the media readable?); "
                       "their keypoints and open polylines are compared in relative coordinates, which "
                       "matches pixels only for square images", missing, len(per_sample))
    return [s for s, k in zip(per_sample, units.sizes, strict=True) for _ in range(k)]


def _read_list_field(collection: Any, name: str, kind: LabelKind, units: _Units) -> dict[str, list[Any]]:
    """The raw label documents of a list field (one read), and their labels and geometry, per unit."""
    attr = _LIST_ATTR[kind]
    geom = "bounding_box" if kind == "detections" else "points"
    # ``_raw=True`` returns the stored dicts without building Label objects: 50-100x faster,
    # and the same dicts are written back in one update per sample by _write_label_attrs.
    raw = units.flat(collection.values(f"{name}.{attr}", _raw=True))
    out: dict[str, list[Any]] = {"raw": raw}
    out["label"] = [None if row is None else [d.get("label") for d in row] for row in raw]
    out["geom"] = [None if row is None else [d.get(geom) for d in row] for row in raw]
    if kind == "polylines":
        out["closed"] = [None if row is None else [d.get("closed", False) for d in row] for row in raw]
        out["filled"] = [None if row is None else [d.get("filled", False) for d in row] for row in raw]
    if kind == "detections":
        out["confidence"] = [None if row is None else [d.get("confidence") for d in row] for row in raw]
    return out


#: Python type of a written attribute -> the FiftyOne field class declared for it.
_FIELD_TYPES: Mapping[type, str] = MappingProxyType({
    str: "StringField", float: "FloatField", bool: "BooleanField", dict: "DictField", list: "ListField"})


def _declare(collection: Any, path: str, typ: type) -> None:
    """Declare a written attribute in the dataset's schema (so the App can filter and color by it)."""
    import fiftyone as fo

    dataset = collection._dataset
    kw: dict[str, Any] = {"subfield": fo.StringField} if typ is list else {}
    if path.startswith(_FRAMES):
        if path[len(_FRAMES):] not in dataset.get_frame_field_schema(flat=True):
            dataset.add_frame_field(path[len(_FRAMES):], getattr(fo, _FIELD_TYPES[typ]), **kw)
    elif path not in dataset.get_field_schema(flat=True):
        dataset.add_sample_field(path, getattr(fo, _FIELD_TYPES[typ]), **kw)


def _is_filtered(collection: Any, name: str, attr: str) -> bool:
    """Whether the view filters the labels of field ``name`` (some of them would be hidden)."""
    getter = getattr(collection, "_get_filtered_fields", None)
    if getter is None:
        return False
    if name.startswith(_FRAMES):
        sub = name[len(_FRAMES):]
        ff = getter(frames=True) or set()
        return bool({sub, f"{sub}.{attr}", name, f"{name}.{attr}"} & set(ff))
    ff = getter() or set()
    return name in ff or f"{name}.{attr}" in ff


def _write_label_attrs(collection: Any, name: str, attr: str, raw: list[Any],
                       updates: Mapping[str, tuple[type, list[Any]]], units: _Units) -> None:
    """Write per-label attributes of a list field in bulk.

    Fast path (a dataset, or a view that does not filter this field's labels): the raw
    label dicts get the new keys and each sample's list (each frame's, for a frame field)
    is written back in one update (``set_values`` on the list path). A view that filters the
    labels would drop the hidden ones that way, so there each attribute goes through
    ``set_values`` on the attribute path (one update per label, still one bulk write).
    """
    list_path = f"{name}.{attr}"
    if _is_filtered(collection, name, attr):
        for key, (_, values) in updates.items():
            collection.set_values(f"{list_path}.{key}", units.nest(values))
        return
    for key, (_, values) in updates.items():
        for row, vals in zip(raw, values, strict=True):
            if row is None:
                continue
            for d, v in zip(row, vals, strict=True):
                d[key] = v
    collection.set_values(list_path, units.nest(raw), skip_none=True, validate=False)
    for key, (typ, _) in updates.items():
        _declare(collection, f"{list_path}.{key}", typ)


def _none_like(nested: Sequence[Any]) -> list[Any]:
    return [None if row is None else [None] * len(row) for row in nested]


def _finite_mean(values: Sequence[float | None] | npt.NDArray[np.float64]) -> float:
    a = np.asarray([v for v in values if v is not None], dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def _masks(collection: Any, name: str, units: _Units) -> list[npt.NDArray[Any] | None]:
    """Each unit's semantic mask: stored in the database (``mask``) or on disk (``mask_path``)."""
    masks, paths = collection.values([f"{name}.mask", f"{name}.mask_path"])
    out: list[npt.NDArray[Any] | None] = []
    for m, path in zip(units.flat(masks), units.flat(paths), strict=True):
        if m is None and path:
            from PIL import Image  # a FiftyOne dependency

            with Image.open(path) as im:
                m = np.asarray(im)
            if m.ndim == 3:  # RGB masks: one class per colour
                m = m[..., 0].astype(np.int64) * 65536 + m[..., 1].astype(np.int64) * 256 + m[..., 2]
        out.append(None if m is None else np.asarray(m))
    return out


def _class_names(collection: Any, name: str) -> Mapping[int, str]:
    """Class value -> the name used as a dict key: the field's mask target when it is a valid key."""
    dataset = collection._dataset
    targets = dict((dataset.mask_targets or {}).get(name) or dataset.default_mask_targets or {})
    out: dict[int, str] = {}
    for v, t in targets.items():
        try:
            value = int(v)
        except (TypeError, ValueError):  # RGB hex targets: keyed by the decoded colour value below
            continue
        if isinstance(t, str) and t and "." not in t and not t.startswith("$"):
            out[value] = t
    return out


def _tag_and_save(collection: Any, ids: Sequence[str], *, tag: str, view: Any, view_name: str | None) -> None:
    collection.untag_samples(tag)
    if ids:
        collection.select(list(ids)).tag_samples(tag)
    if view_name:
        collection._dataset.save_view(view_name, view, overwrite=True)


def _remember(collection: Any, key: str, section: str, summary: Mapping[str, Any]) -> None:
    """Store a JSON-ready summary in ``dataset.info[key][section]`` (read by the panel)."""
    dataset = collection._dataset
    info = dict(dataset.info or {})
    info[key] = {**dict(info.get(key) or {}), section: dict(summary)}
    dataset.info = info
    dataset.save()
