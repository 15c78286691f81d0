"""accord's QA on FiftyOne datasets: thin adapters from FiftyOne labels to ``accord.core``.

Every function here reads a sample collection (a dataset or a view) with bulk
``values()`` calls, runs ``accord.core`` on plain arrays, and writes its
results back with bulk ``set_values()`` calls: never a per-sample ``save()``.

Coordinates: FiftyOne keeps boxes, polylines and keypoints relative to the
image, in [0, 1]. IoU is invariant to scaling each axis, so box and polygon
IoU computed in relative coordinates equal the pixel IoU, and no image
metadata is needed. Keypoint OKS and open-polyline similarity are not
axis-scale invariant: their points are scaled to pixels with the sample's
``metadata.width`` / ``height`` (a video's ``frame_width`` / ``frame_height``),
computed with ``compute_metadata()`` when missing; samples whose media cannot
be read are compared in relative coordinates, with a warning.

Video datasets: fields named ``frames.<name>`` are compared frame by frame and
the frames' results are pooled per sample (see :func:`compute_disagreement`).

What is written (``key`` defaults to ``"accord"``):

* on every compared label: ``<key>_status`` (``"tp"``, ``"fp"``, ``"fn"`` or
  ``"mismatch"``), ``<key>_category`` (the error-taxonomy category, or None),
  ``<key>_iou`` (similarity of its match, or None);
* on every segmentation label: per-class ``<key>_class_iou``, ``<key>_class_dice``,
  ``<key>_class_status`` and ``<key>_class_category`` (dicts keyed by class);
* on every sample: ``<key>_agreement`` in [0, 1] (None where undefined) and
  ``<key>_n_discrepancies`` (and the same on every frame, for frame fields);
* samples below the agreement threshold get a tag, a saved view sorts the
  collection by agreement (worst first), and a summary is stored in
  ``dataset.info[key]`` for the panel.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from dataclasses import replace as dataclass_replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from accord.core.cost import CostConfig, Pricing, Workload, load_config, price
from accord.core.cost.config import DEFAULT_SECONDS_PER_LABEL
from accord.core.errors import ConfigError, InvalidAnnotationError, SchemaError
from accord.core.matching.base import MatchResult, box_iou_matrix, match_similarity
from accord.core.matching.geometry import match_regions
from accord.core.matching.keypoints import DEFAULT_KEYPOINT_SIGMA
from accord.core.model import Keypoint, Keypoints, Polygon, Polyline
from accord.core.qa import acceptance, sampling
from accord.core.qa.label_errors import find_label_issues
from accord.core.qa.taxonomy import DEFAULT_TAXONOMY, Taxonomy, TaxonomyCounts

logger = logging.getLogger(__name__)

LabelKind = Literal["classification", "detections", "polylines", "keypoints", "segmentation"]
SampleMethod = Literal["random", "stratified", "disagreement", "uncertainty", "acceptance"]

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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True, kw_only=True)
class DisagreementResult:
    """What :func:`compute_disagreement` found and wrote.

    Attributes:
        kind: Label kind compared.
        reference_field: The first field; every other field is compared against it.
        candidate_fields: The other fields.
        n_samples: Samples in the collection.
        n_frames: Frames compared (video frame fields), else None.
        n_scored: Samples with a defined agreement.
        agreement_mean: Mean per-sample agreement over scored samples (NaN if none).
        agreement_by_field: Per candidate field: mean agreement with the reference.
        tp / n_reference / n_candidate: Raw counts per candidate field (list kinds),
            so totals are recomputed from components.
        taxonomy: Discrepancy counts by (category, label, field).
        n_tagged: Samples tagged as disagreeing.
        tag: The tag written.
        view_name: The saved view sorted by agreement.
    """

    kind: LabelKind
    reference_field: str
    candidate_fields: tuple[str, ...]
    n_samples: int
    n_frames: int | None
    n_scored: int
    agreement_mean: float
    agreement_by_field: Mapping[str, float]
    tp: Mapping[str, int]
    n_reference: Mapping[str, int]
    n_candidate: Mapping[str, int]
    taxonomy: TaxonomyCounts
    n_tagged: int
    tag: str
    view_name: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (NaN as None)."""
        def num(x: float) -> float | None:
            return None if not math.isfinite(x) else float(x)
        return {
            "kind": self.kind, "reference_field": self.reference_field,
            "candidate_fields": list(self.candidate_fields), "n_samples": self.n_samples,
            "n_frames": self.n_frames, "n_scored": self.n_scored, "agreement_mean": num(self.agreement_mean),
            "agreement_by_field": {k: num(v) for k, v in self.agreement_by_field.items()},
            "tp": dict(self.tp), "n_reference": dict(self.n_reference),
            "n_candidate": dict(self.n_candidate), "taxonomy": self.taxonomy.to_dict(),
            "n_tagged": self.n_tagged, "tag": self.tag, "view_name": self.view_name,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelErrorResult:
    """What :func:`find_label_errors` found and wrote.

    Attributes:
        mode: ``"confident_learning"`` (classifications) or ``"matching"`` (detections).
        n_samples: Samples in the collection.
        n_labels: Labels examined.
        n_issues: Labels flagged.
        by_issue: Flagged labels by issue type.
        n_tagged: Samples tagged.
        tag: The tag written.
        view_name: Saved view of the flagged samples, most suspicious first.
    """

    mode: Literal["confident_learning", "matching"]
    n_samples: int
    n_labels: int
    n_issues: int
    by_issue: Mapping[str, int]
    n_tagged: int
    tag: str
    view_name: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"mode": self.mode, "n_samples": self.n_samples, "n_labels": self.n_labels,
                "n_issues": self.n_issues, "by_issue": dict(self.by_issue), "n_tagged": self.n_tagged,
                "tag": self.tag, "view_name": self.view_name}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewSample:
    """The samples chosen by :func:`sample_for_review`.

    Attributes:
        method: The sampling method.
        sample_ids: Chosen sample ids, in selection order.
        n_population: Samples the choice was made from.
        tag / view_name: Where the choice was written.
    """

    method: SampleMethod
    sample_ids: tuple[str, ...]
    n_population: int
    tag: str
    view_name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewCost:
    """Estimated time and cost of reviewing a collection (see :func:`estimate_review_cost`).

    Attributes:
        n_samples: Items to review: samples, or frames for video frame fields.
        n_labels: Labels to review.
        duration_s: Review time.
        cost: Its price in ``currency``; None without a rate or pricing.
        currency: Currency of ``cost`` (``"USD"`` for the time-per-label estimate).
        cost_usd: ``cost`` when the currency is USD, else None.
        labels_by_field: Label counts per field.
        labels_by_kind: Label counts per accord value kind (``box``, ``polygon``, ``mask``...).
        charge: With a pricing config: :class:`accord.core.cost.Charge` as a dict (model,
            variable, fixed, minimum_topup, total); else None.
    """

    n_samples: int
    n_labels: int
    duration_s: float
    cost_usd: float | None
    labels_by_field: Mapping[str, int] = field(default_factory=dict)
    labels_by_kind: Mapping[str, int] = field(default_factory=dict)
    cost: float | None = None
    currency: str = "USD"
    charge: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"n_samples": self.n_samples, "n_labels": self.n_labels, "duration_s": self.duration_s,
                "duration_h": self.duration_s / 3600.0, "cost": self.cost, "currency": self.currency,
                "cost_usd": self.cost_usd, "labels_by_field": dict(self.labels_by_field),
                "labels_by_kind": dict(self.labels_by_kind),
                "pricing_model": None if self.charge is None else self.charge["model"],
                "charge": None if self.charge is None else dict(self.charge)}


# --------------------------------------------------------------------------- helpers


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


def _xyxy(boxes: Sequence[Sequence[float]] | None) -> npt.NDArray[np.float64]:
    if not boxes:
        return np.zeros((0, 4))
    a = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]])


def _polygon_values(points: Sequence[Any], labels: Sequence[str | None], closed: Sequence[Any],
                    filled: Sequence[Any], size: tuple[float, float]) -> list[Any]:
    """Polygons (closed or filled) and polylines (open), in pixels: relative x times width, y times height."""
    w, h = size
    out: list[Any] = []
    for pts, lab, c, f in zip(points, labels, closed, filled, strict=True):
        shape = tuple((float(x) * w, float(y) * h) for x, y in (pts[0] if pts else []))
        if (c or f) and len(shape) >= 3:
            out.append(Polygon(label=str(lab), points=shape))
        else:
            out.append(Polyline(label=str(lab), points=shape))
    return out


def _keypoint_values(points: Sequence[Any], labels: Sequence[str | None],
                     size: tuple[float, float]) -> list[Keypoints]:
    """Skeletons in pixels; a NaN point (FiftyOne's "not visible") gets visibility 0. Names are the indices."""
    w, h = size
    out = []
    for pts, lab in zip(points, labels, strict=True):
        kps = []
        for k, p in enumerate(pts or []):
            x, y = float(p[0]), float(p[1])
            ok = math.isfinite(x) and math.isfinite(y)
            kps.append(Keypoint(name=str(k), x=x * w if ok else 0.0, y=y * h if ok else 0.0,
                                visibility=2 if ok else 0))
        out.append(Keypoints(label=str(lab), points=tuple(kps)))
    return out


def _match_one(kind: LabelKind, ref: Mapping[str, Any], cand: Mapping[str, Any], i: int, *,
               iou_threshold: float, options: Mapping[str, Any], size: tuple[float, float]) -> MatchResult:
    """Match the labels of unit ``i`` of two fields (``size``: the image's width and height in pixels)."""
    rl = list(ref["label"][i] or [])
    cl = list(cand["label"][i] or [])
    if kind == "detections":  # IoU is invariant to scaling each axis: relative coordinates suffice
        sim = box_iou_matrix(_xyxy(ref["geom"][i]), _xyxy(cand["geom"][i]))
        return match_similarity(sim, threshold=iou_threshold, reference_labels=rl, candidate_labels=cl)
    if kind == "polylines":
        rv = _polygon_values(ref["geom"][i] or [], rl, ref["closed"][i] or [], ref["filled"][i] or [], size)
        cv = _polygon_values(cand["geom"][i] or [], cl, cand["closed"][i] or [], cand["filled"][i] or [], size)
        kinds = {v.kind for v in rv + cv}
        if len(kinds) > 1:  # a mix of open and closed shapes: compare closed ones as polylines too
            rv = [Polyline(label=v.label, points=v.points) for v in rv]
            cv = [Polyline(label=v.label, points=v.points) for v in cv]
        return match_regions(rv, cv, iou_threshold=iou_threshold, options=options.get("polylines"))
    rk = _keypoint_values(ref["geom"][i] or [], rl, size)
    ck = _keypoint_values(cand["geom"][i] or [], cl, size)
    opts = {"default_sigma": DEFAULT_KEYPOINT_SIGMA, **dict(options.get("keypoints") or {})}
    return match_regions(rk, ck, iou_threshold=iou_threshold, options=opts)


def _needs_pixels(kind: LabelKind, data: Mapping[str, Mapping[str, list[Any]]]) -> bool:
    """Whether the similarity depends on the image's aspect ratio (keypoints, open polylines)."""
    if kind == "keypoints":
        return True
    if kind != "polylines":
        return False
    return any(not (c or f) for d in data.values() for cs, fs in zip(d["closed"], d["filled"], strict=True)
               for c, f in zip(cs or [], fs or [], strict=True))


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


@dataclass(frozen=True, slots=True)
class _MaskOverlap:
    """Per-class pixel counts of two semantic masks (classes present in either, background 0 excluded)."""

    classes: npt.NDArray[np.int64]
    intersection: npt.NDArray[np.int64]
    reference_area: npt.NDArray[np.int64]
    candidate_area: npt.NDArray[np.int64]

    @property
    def iou(self) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = self.intersection / (self.reference_area + self.candidate_area
                                                            - self.intersection)
        return out

    @property
    def dice(self) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = 2 * self.intersection / (self.reference_area + self.candidate_area)
        return out


def _mask_overlap(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> _MaskOverlap:
    """Per-class intersection and areas, from one confusion matrix of the two masks (O(pixels))."""
    if a.shape != b.shape:
        raise InvalidAnnotationError(
            f"segmentation masks of one sample have shapes {a.shape} and {b.shape}; "
            "masks must have the same size to be compared"
        )
    values = np.union1d(np.unique(a), np.unique(b))
    k = values.size
    ia = np.searchsorted(values, a.ravel())
    ib = np.searchsorted(values, b.ravel())
    cm = np.bincount(ia * k + ib, minlength=k * k).reshape(k, k)
    keep = values != 0
    return _MaskOverlap(classes=values[keep].astype(np.int64), intersection=np.diag(cm)[keep],
                        reference_area=cm.sum(axis=1)[keep], candidate_area=cm.sum(axis=0)[keep])


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


# --------------------------------------------------------------------------- disagreement


def compute_disagreement(
    collection: Any,
    fields: Sequence[str],
    *,
    iou_threshold: float = 0.5,
    localization_threshold: float = 0.75,
    agreement_threshold: float = 0.8,
    key: str = "accord",
    tag: str = "accord:disagreement",
    view_name: str | None = "accord_disagreement",
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
    options: Mapping[str, Any] | None = None,
    compute_metadata: bool = True,
) -> DisagreementResult:
    """Compare two or more label fields of a FiftyOne collection and write the disagreement onto it.

    The first field is the reference; each other field (another annotator, or
    model predictions) is matched against it sample by sample with
    :func:`accord.core.matching.base.match_similarity` (Hungarian, one-to-one,
    labels may differ) or :func:`accord.core.matching.geometry.match_regions`,
    and every discrepancy is named by ``taxonomy`` (missing_object,
    extra_object, wrong_class, poor_localization).

    Per-sample agreement, in [0, 1]:

    * detections / polylines / keypoints: ``2 tp / (n_reference + n_candidate)``
      (F1 with label-equal matched pairs as tp), 1.0 when both sides are empty,
      averaged over candidate fields;
    * classification: share of field pairs with equal labels among the fields
      that have a label (undefined, None, below two labels);
    * segmentation: mean over classes present (0 = background excluded) of the
      per-class mask IoU with the reference, averaged over candidate fields.

    Segmentation masks also get per-class results on each candidate label:
    ``<key>_class_iou`` / ``<key>_class_dice`` (class -> IoU / Dice with the
    reference), ``<key>_class_status`` (``"tp"``: IoU >= ``iou_threshold``;
    ``"fn"``: only in the reference; ``"fp"``: only in the candidate;
    ``"low_iou"``: in both, IoU below the threshold), ``<key>_class_category``,
    ``<key>_categories`` (the distinct categories), and ``<key>_iou`` /
    ``<key>_dice`` (their means); the reference label gets each class's worst
    status over the candidates. Classes are keyed by mask target name, or by
    pixel value. ``tp`` / ``n_reference`` / ``n_candidate`` then count classes.

    Video frame fields (``"frames.<name>"``): every frame is compared as above and
    gets ``frames.<key>_agreement`` and ``frames.<key>_n_discrepancies``; the
    sample's agreement pools its frames (``2 sum tp / sum (n_reference +
    n_candidate)`` per candidate field; classification: agreeing pairs over
    pairs; segmentation: the mean of the frames'), and its discrepancies are
    summed. ``agreement_by_field`` is always a mean over samples.

    Coordinates: keypoint OKS and open-polyline similarity are computed in
    pixels (relative coordinates times the image's width and height, from the
    sample's metadata, computed when missing if ``compute_metadata``); boxes and
    polygons need no size (IoU does not change when an axis is scaled).

    Args:
        collection: A FiftyOne dataset or view.
        fields: Two or more label fields of one kind (all sample-level, or all ``frames.*``).
        iou_threshold: Minimum similarity (IoU, OKS) of a matched pair, in [0, 1].
        localization_threshold: Matched pairs below it are ``poor_localization``.
        agreement_threshold: Samples whose agreement is below it are tagged.
        key: Prefix of every field and attribute written.
        tag: Sample tag of disagreeing samples (previous uses of it are cleared first).
        view_name: Saved view sorted by agreement, worst first; None to save none.
        taxonomy: Error taxonomy naming the discrepancies.
        options: ``{"keypoints": {...}, "polylines": {...}}`` forwarded to the similarity.
        compute_metadata: Compute missing image sizes (keypoints and open polylines only).

    Returns:
        A :class:`DisagreementResult`.

    Raises:
        InvalidAnnotationError: Fewer than two fields, or a threshold outside [0, 1].
        SchemaError: A field is missing, of an unsupported type, or kinds or levels differ.
    """
    for name, v in (("iou_threshold", iou_threshold), ("localization_threshold", localization_threshold),
                    ("agreement_threshold", agreement_threshold)):
        if not 0.0 <= v <= 1.0:
            raise InvalidAnnotationError(f"{name} must be in [0, 1], got {v!r}")
    kind = _fields_kind(collection, fields)
    units = _Units.of(collection, fields)
    ref_name, cand_names = fields[0], tuple(fields[1:])
    ids: list[str] = collection.values("id")
    nu = units.n_units
    cells: Counter[tuple[str, str, str]] = Counter()
    # per unit and candidate field: agreement = num / den (components, pooled over a video's frames)
    num = {c: np.zeros(nu) for c in cand_names}
    den = {c: np.zeros(nu) for c in cand_names}
    pair_num, pair_den = np.zeros(nu), np.zeros(nu)  # classification: agreeing field pairs / pairs
    tp = dict.fromkeys(cand_names, 0)
    n_ref = dict.fromkeys(cand_names, 0)
    n_cand = dict.fromkeys(cand_names, 0)
    n_disc = np.zeros(nu, dtype=np.int64)
    ck = _CORE_KIND[kind]
    opts = dict(options or {})

    def classify(event: str, label: str | None, similarity: float | None = None) -> str | None:
        hit = taxonomy.classify(event=event, kind=ck, label=label, label_set=ref_name, similarity=similarity)
        return hit[0] if hit is not None else None

    if kind == "classification":
        labels = {f: units.flat(collection.values(f"{f}.label")) for f in fields}
        status = {f: [None if lab is None else "tp" for lab in labels[f]] for f in fields}
        category: dict[str, list[str | None]] = {f: [None] * nu for f in fields}
        for i in range(nu):
            present = [labels[f][i] for f in fields if labels[f][i] is not None]
            k = len(present)
            if k >= 2:
                pair_num[i] = sum(c * (c - 1) // 2 for c in Counter(present).values())
                pair_den[i] = k * (k - 1) // 2
            r = labels[ref_name][i]
            for c in cand_names:
                cl = labels[c][i]
                if r is None or cl is None:
                    continue
                n_ref[c] += 1
                n_cand[c] += 1
                den[c][i] = 1.0
                if r == cl:
                    num[c][i] = 1.0
                    tp[c] += 1
                    continue
                cat = classify("label_mismatch", r)
                status[c][i] = "mismatch"
                category[c][i] = cat
                status[ref_name][i] = "mismatch"
                category[ref_name][i] = category[ref_name][i] or cat
                n_disc[i] += 1
                if cat is not None:
                    cells[(cat, str(r), c)] += 1
        for f in fields:
            collection.set_values(f"{f}.{key}_status", units.nest(status[f]))
            collection.set_values(f"{f}.{key}_category", units.nest(category[f]))
    elif kind == "segmentation":
        _compare_masks(collection, fields, units, iou_threshold=iou_threshold,
                       localization_threshold=localization_threshold, key=key, classify=classify, num=num,
                       den=den, tp=tp, n_ref=n_ref, n_cand=n_cand, n_disc=n_disc, cells=cells)
    else:
        attr = _LIST_ATTR[kind]
        data = {f: _read_list_field(collection, f, kind, units) for f in fields}
        sizes = (_image_sizes(collection, units, compute=compute_metadata) if _needs_pixels(kind, data)
                 else [(1.0, 1.0)] * nu)
        out_status = {f: _none_like(data[f]["label"]) for f in fields}
        out_cat = {f: _none_like(data[f]["label"]) for f in fields}
        out_iou = {f: _none_like(data[f]["label"]) for f in fields}
        rank = {None: 0, "tp": 1, "mismatch": 2, "fn": 3}
        for i in range(nu):
            rs, rc, ri = out_status[ref_name][i], out_cat[ref_name][i], out_iou[ref_name][i]
            rlabels = data[ref_name]["label"][i] or []
            for c in cand_names:
                res = _match_one(kind, data[ref_name], data[c], i, iou_threshold=iou_threshold, options=opts,
                                 size=sizes[i])
                clabels = data[c]["label"][i] or []
                cs, cc, ci = out_status[c][i], out_cat[c][i], out_iou[c][i]
                mism = set(res.label_mismatches)
                for j in res.unmatched_reference:
                    cat = classify("unmatched_reference", rlabels[j])
                    if rank[rs[j]] < rank["fn"]:
                        rs[j] = "fn"
                    rc[j] = rc[j] or cat
                    n_disc[i] += 1
                    if cat is not None:
                        cells[(cat, str(rlabels[j]), c)] += 1
                for j in res.unmatched_candidate:
                    cat = classify("unmatched_candidate", clabels[j])
                    cs[j], cc[j] = "fp", cat
                    n_disc[i] += 1
                    if cat is not None:
                        cells[(cat, str(clabels[j]), c)] += 1
                for k, ((a, b), s) in enumerate(zip(res.pairs, res.similarity, strict=True)):
                    st = "mismatch" if k in mism else "tp"
                    cat = classify("label_mismatch", rlabels[a]) if k in mism else None
                    if s < localization_threshold - 1e-12:
                        loc = classify("low_similarity", rlabels[a], s)
                        cat = cat or loc
                        if loc is not None and k not in mism:
                            cells[(loc, str(rlabels[a]), c)] += 1
                            n_disc[i] += 1
                    if k in mism:
                        n_disc[i] += 1
                        if cat is not None:
                            cells[(cat, str(rlabels[a]), c)] += 1
                    cs[b], cc[b], ci[b] = st, cat, round(float(s), 6)
                    if rank[rs[a]] < rank[st]:
                        rs[a] = st
                    rc[a] = rc[a] or cat
                    ri[a] = round(float(s), 6) if ri[a] is None else min(ri[a], round(float(s), 6))
                # unmatched reference labels that no candidate field matched keep "fn"
                num[c][i] = 2 * res.tp
                den[c][i] = res.n_reference + res.n_candidate
                tp[c] += res.tp
                n_ref[c] += res.n_reference
                n_cand[c] += res.n_candidate
        for f in fields:
            _write_label_attrs(collection, f, attr, data[f]["raw"], {
                f"{key}_status": (str, out_status[f]), f"{key}_category": (str, out_cat[f]),
                f"{key}_iou": (float, out_iou[f])}, units)

    # list kinds: two empty sides agree (F1 of nothing found when nothing is there is 1)
    empty = 1.0 if kind in _LIST_ATTR else math.nan

    def agreement_of(nums: Mapping[str, npt.NDArray[np.float64]], dens: Mapping[str, npt.NDArray[np.float64]],
                     pn: npt.NDArray[np.float64], pd: npt.NDArray[np.float64], exists: npt.NDArray[np.bool_],
                     ) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[np.float64]]]:
        by_field = {c: np.where(dens[c] > 0, nums[c] / np.maximum(dens[c], 1e-300), np.where(exists, empty, np.nan))
                    for c in cand_names}
        if kind == "classification":
            overall = np.where(pd > 0, pn / np.maximum(pd, 1e-300), np.nan)
        else:
            stacked = np.vstack([by_field[c] for c in cand_names])
            finite = np.isfinite(stacked)
            overall = np.where(finite.any(axis=0),
                               np.where(finite, stacked, 0.0).sum(axis=0) / np.maximum(finite.sum(axis=0), 1),
                               np.nan)
        return overall, by_field

    unit_agreement, _ = agreement_of(num, den, pair_num, pair_den, np.ones(nu, dtype=bool))
    if units.frames:
        if kind == "segmentation":  # a video's mask agreement: the mean of its frames'
            num = {c: np.where(den[c] > 0, num[c] / np.maximum(den[c], 1e-300), 0.0) for c in cand_names}
            den = {c: (den[c] > 0).astype(np.float64) for c in cand_names}
        sample_agreement, sample_by_field = agreement_of(
            {c: units.per_sample_sum(num[c]) for c in cand_names},
            {c: units.per_sample_sum(den[c]) for c in cand_names},
            units.per_sample_sum(pair_num), units.per_sample_sum(pair_den), np.asarray(units.sizes) > 0)
        sample_disc = units.per_sample_sum(n_disc).astype(np.int64)

        def nullable(a: npt.NDArray[np.float64]) -> list[float | None]:
            return [float(x) if math.isfinite(x) else None for x in a]

        collection.set_values(f"{_FRAMES}{key}_agreement", units.nest(nullable(unit_agreement)))
        collection.set_values(f"{_FRAMES}{key}_n_discrepancies", units.nest([int(x) for x in n_disc]))
    else:
        sample_agreement, sample_by_field = agreement_of(num, den, pair_num, pair_den, np.ones(nu, dtype=bool))
        sample_disc = n_disc
    agreement = [float(x) if math.isfinite(x) else None for x in sample_agreement]
    collection.set_values(f"{key}_agreement", agreement)
    collection.set_values(f"{key}_n_discrepancies", [int(x) for x in sample_disc])
    low = [sid for sid, a in zip(ids, agreement, strict=True) if a is not None and a < agreement_threshold]
    from fiftyone import ViewField as F

    view = collection.exists(f"{key}_agreement").sort_by(F(f"{key}_agreement"))
    _tag_and_save(collection, low, tag=tag, view=view, view_name=view_name)
    scored = [a for a in agreement if a is not None]
    result = DisagreementResult(
        kind=kind, reference_field=ref_name, candidate_fields=cand_names, n_samples=len(ids),
        n_frames=nu if units.frames else None, n_scored=len(scored), agreement_mean=_finite_mean(scored),
        agreement_by_field=MappingProxyType({c: _finite_mean(v) for c, v in sample_by_field.items()}),
        tp=MappingProxyType(tp), n_reference=MappingProxyType(n_ref), n_candidate=MappingProxyType(n_cand),
        taxonomy=TaxonomyCounts(by_cell=MappingProxyType(dict(cells))),
        n_tagged=len(low), tag=tag, view_name=view_name,
    )
    _remember(collection, key, "disagreement", result.to_dict())
    return result


def _compare_masks(collection: Any, fields: Sequence[str], units: _Units, *, iou_threshold: float,
                   localization_threshold: float, key: str, classify: Any, num: dict[str, Any],
                   den: dict[str, Any], tp: dict[str, int], n_ref: dict[str, int], n_cand: dict[str, int],
                   n_disc: npt.NDArray[np.int64], cells: Counter[tuple[str, str, str]]) -> None:
    """Per-class IoU / Dice of each candidate mask against the reference, written on the labels."""
    ref_name, cand_names = fields[0], fields[1:]
    masks = {f: _masks(collection, f, units) for f in fields}
    names = _class_names(collection, ref_name)
    nu = units.n_units
    rank = {"tp": 1, "low_iou": 2, "fn": 3}
    ref_status: list[dict[str, str] | None] = [None] * nu
    ref_cats: list[list[str] | None] = [None] * nu
    for c in cand_names:
        out: dict[str, list[Any]] = {k: [None] * nu for k in
                                     ("class_iou", "class_dice", "class_status", "class_category", "categories",
                                      "iou", "dice")}
        for i in range(nu):
            a, b = masks[ref_name][i], masks[c][i]
            if a is None or b is None:
                continue
            ov = _mask_overlap(a, b)
            iou, dice = ov.iou, ov.dice
            status: dict[str, str] = {}
            cats: dict[str, str] = {}
            for k, value in enumerate(ov.classes):
                name = names.get(int(value), str(int(value)))
                in_ref, in_cand = ov.reference_area[k] > 0, ov.candidate_area[k] > 0
                if in_ref and in_cand:
                    st = "tp" if iou[k] >= iou_threshold else "low_iou"
                    cat = classify("low_similarity", name, float(iou[k])) \
                        if iou[k] < localization_threshold - 1e-12 else None
                else:
                    st = "fn" if in_ref else "fp"
                    cat = classify("unmatched_reference" if in_ref else "unmatched_candidate", name)
                status[name] = st
                if cat is not None:
                    cats[name] = cat
                    cells[(cat, name, c)] += 1
                if st != "tp" or cat is not None:
                    n_disc[i] += 1
                n_ref[c] += int(in_ref)
                n_cand[c] += int(in_cand)
                tp[c] += int(st == "tp")
                if in_ref:  # the reference's class keeps its worst status over the candidates
                    rs = ref_status[i] if ref_status[i] is not None else {}
                    if rank.get(rs.get(name, ""), 0) < rank[st]:
                        rs[name] = st
                    ref_status[i] = rs
            ref_status[i] = ref_status[i] if ref_status[i] is not None else {}
            ref_cats[i] = sorted(set(ref_cats[i] or []) | {v for n, v in cats.items() if n in ref_status[i]})
            mean_iou = float(iou.mean()) if ov.classes.size else 1.0
            num[c][i], den[c][i] = mean_iou, 1.0
            keys = [names.get(int(v), str(int(v))) for v in ov.classes]
            out["class_iou"][i] = {n: round(float(x), 6) for n, x in zip(keys, iou, strict=True)}
            out["class_dice"][i] = {n: round(float(x), 6) for n, x in zip(keys, dice, strict=True)}
            out["class_status"][i] = status
            out["class_category"][i] = cats
            out["categories"][i] = sorted(set(cats.values()))
            out["iou"][i] = round(mean_iou, 6)
            out["dice"][i] = round(float(dice.mean()), 6) if ov.classes.size else 1.0
        for name, values in out.items():  # skip_none: a sample without the label keeps it absent
            collection.set_values(f"{c}.{key}_{name}", units.nest(values), skip_none=True)
        for name, typ in (("iou", float), ("dice", float), ("categories", list)):
            _declare(collection, f"{c}.{key}_{name}", typ)
    collection.set_values(f"{ref_name}.{key}_class_status", units.nest(ref_status), skip_none=True)
    collection.set_values(f"{ref_name}.{key}_categories", units.nest(ref_cats), skip_none=True)
    _declare(collection, f"{ref_name}.{key}_categories", list)


# --------------------------------------------------------------------------- label errors


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


def _remember(collection: Any, key: str, section: str, summary: Mapping[str, Any]) -> None:
    """Store a JSON-ready summary in ``dataset.info[key][section]`` (read by the panel)."""
    dataset = collection._dataset
    info = dict(dataset.info or {})
    info[key] = {**dict(info.get(key) or {}), section: dict(summary)}
    dataset.info = info
    dataset.save()


def find_label_errors(
    collection: Any,
    label_field: str,
    pred_field: str,
    *,
    classes: Sequence[str] | None = None,
    iou_threshold: float = 0.5,
    localization_threshold: float = 0.5,
    min_confidence: float = 0.5,
    key: str = "accord",
    tag: str = "accord:label_error",
    view_name: str | None = "accord_label_errors",
) -> LabelErrorResult:
    """Flag probable label errors by comparing labels with model predictions.

    Classifications: confident learning (Northcutt, Jiang & Chuang, "Confident
    Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021) through
    :func:`accord.core.qa.label_errors.find_label_issues`. Predicted
    probabilities come from the prediction's ``logits`` (softmax) or, without
    logits, from its ``confidence`` spread as ``c`` on the predicted class and
    ``(1 - c) / (K - 1)`` elsewhere (an approximation). Writes
    ``<key>_label_issue`` (bool) and ``<key>_label_quality`` (self-confidence,
    lower is more suspicious) on each label, and ``<key>_issue_score``
    (``1 - quality``) on each sample.

    Detections: matching-based flags. Labels are matched to predictions with
    confidence >= ``min_confidence``; a prediction no label matches is a
    probably ``missing`` label (score: its confidence), a label no prediction
    matches is possibly ``spurious`` (score: 1 - its best IoU with any
    prediction), a matched pair with IoU < ``localization_threshold`` is
    ``localization`` (score: 1 - IoU), and with differing classes
    ``wrong_class`` (score: the prediction's confidence). Written as
    ``<key>_issue`` / ``<key>_issue_score`` on the labels (missing: on the
    prediction) and the maximum as ``<key>_issue_score`` on the sample.

    Args:
        collection: A FiftyOne dataset or view.
        label_field: The human labels (Classification or Detections).
        pred_field: The model predictions, of the same kind.
        classes: Class list for confident learning (default: sorted labels seen).
        iou_threshold / localization_threshold / min_confidence: Detection settings, in [0, 1].
        key / tag / view_name: Names of what is written.

    Returns:
        A :class:`LabelErrorResult`.

    Raises:
        SchemaError: Unsupported or differing field kinds, or a label not in ``classes``.
        InvalidAnnotationError: Predictions without logits or confidences, or bad thresholds.
    """
    kind = _fields_kind(collection, [label_field, pred_field])
    units = _Units.of(collection, [label_field, pred_field])
    if units.frames:
        raise SchemaError(f"find_label_errors compares sample-level fields, got frame fields {label_field!r} and "
                          f"{pred_field!r}; use compute_disagreement for video frames")
    ids: list[str] = collection.values("id")
    from fiftyone import ViewField as F

    if kind == "classification":
        given, plab, logits, conf = collection.values(
            [f"{label_field}.label", f"{pred_field}.label", f"{pred_field}.logits", f"{pred_field}.confidence"])
        cls = list(classes) if classes is not None else sorted({x for x in list(given) + list(plab) if x is not None})
        index = {c: k for k, c in enumerate(cls)}
        rows = [i for i in range(len(ids)) if given[i] is not None and (logits[i] is not None or plab[i] is not None)]
        bad = sorted({str(given[i]) for i in rows if given[i] not in index})
        if bad:
            raise SchemaError(f"labels {bad} are not in classes {cls}; pass every class in `classes`")
        kk = len(cls)
        probs = np.zeros((len(rows), kk))
        for r, i in enumerate(rows):
            if logits[i] is not None:
                lg = np.asarray(logits[i], dtype=np.float64).reshape(1, -1)
                if lg.shape[1] != kk:
                    raise InvalidAnnotationError(
                        f"sample {ids[i]}: {lg.shape[1]} logits for {kk} classes; pass `classes` in logit order")
                probs[r] = _softmax(lg)[0]
            elif conf[i] is not None and plab[i] in index:
                c = float(conf[i])
                probs[r] = (1.0 - c) / (kk - 1) if kk > 1 else 0.0
                probs[r, index[plab[i]]] = c
            else:
                raise InvalidAnnotationError(
                    f"sample {ids[i]}: prediction in {pred_field!r} has neither logits nor a confidence; "
                    "confident learning needs predicted probabilities")
        res = find_label_issues([index[given[i]] for i in rows], probs)
        issue: list[bool | None] = [None] * len(ids)
        quality: list[float | None] = [None] * len(ids)
        for r, i in enumerate(rows):
            issue[i] = bool(res.is_issue[r])
            quality[i] = float(res.quality_score[r])
        collection.set_values(f"{label_field}.{key}_label_issue", issue)
        collection.set_values(f"{label_field}.{key}_label_quality", quality)
        collection.set_values(f"{key}_issue_score", [None if q is None else 1.0 - q for q in quality])
        flagged = [ids[i] for i in range(len(ids)) if issue[i]]
        view = collection.match(F(f"{label_field}.{key}_label_issue") == True).sort_by(  # noqa: E712
            F(f"{label_field}.{key}_label_quality"))
        _tag_and_save(collection, flagged, tag=tag, view=view, view_name=view_name)
        out = LabelErrorResult(mode="confident_learning", n_samples=len(ids), n_labels=len(rows),
                               n_issues=int(res.n_issues), by_issue={"label_issue": int(res.n_issues)},
                               n_tagged=len(flagged), tag=tag, view_name=view_name)
        _remember(collection, key, "label_errors", out.to_dict())
        return out

    if kind != "detections":
        raise SchemaError(f"find_label_errors handles Classification and Detections fields, got {kind}")
    for name, v in (("iou_threshold", iou_threshold), ("localization_threshold", localization_threshold),
                    ("min_confidence", min_confidence)):
        if not 0.0 <= v <= 1.0:
            raise InvalidAnnotationError(f"{name} must be in [0, 1], got {v!r}")
    gdata = _read_list_field(collection, label_field, "detections", units)
    pdata = _read_list_field(collection, pred_field, "detections", units)
    glab, gbox = gdata["label"], gdata["geom"]
    plabs, pbox, pconf = pdata["label"], pdata["geom"], pdata["confidence"]
    g_issue, g_score = _none_like(glab), _none_like(glab)
    p_issue, p_score = _none_like(plabs), _none_like(plabs)
    sample_score: list[float | None] = []
    counts: Counter[str] = Counter()
    n_labels = 0
    for i in range(len(ids)):
        gl, pl = list(glab[i] or []), list(plabs[i] or [])
        conf = [1.0 if c is None else float(c) for c in (pconf[i] or [])]
        keep = [j for j in range(len(pl)) if conf[j] >= min_confidence]
        gx = _xyxy(gbox[i])
        px = _xyxy([pbox[i][j] for j in keep]) if keep else np.zeros((0, 4))
        sim = box_iou_matrix(gx, px)
        res = match_similarity(sim, threshold=iou_threshold, reference_labels=gl,
                               candidate_labels=[pl[j] for j in keep])
        n_labels += len(gl)
        best = 0.0
        mism = set(res.label_mismatches)
        for a in res.unmatched_reference:
            s = 1.0 - (float(sim[a].max()) if sim.shape[1] else 0.0)
            g_issue[i][a], g_score[i][a] = "spurious", s
            counts["spurious"] += 1
            best = max(best, s)
        for b in res.unmatched_candidate:
            j = keep[b]
            p_issue[i][j], p_score[i][j] = "missing", conf[j]
            counts["missing"] += 1
            best = max(best, conf[j])
        for k, ((a, b), s) in enumerate(zip(res.pairs, res.similarity, strict=True)):
            j = keep[b]
            if k in mism:
                g_issue[i][a], g_score[i][a] = "wrong_class", conf[j]
                counts["wrong_class"] += 1
                best = max(best, conf[j])
            elif s < localization_threshold:
                g_issue[i][a], g_score[i][a] = "localization", 1.0 - s
                counts["localization"] += 1
                best = max(best, 1.0 - s)
        sample_score.append(best if (gl or pl) else None)
    _write_label_attrs(collection, label_field, "detections", gdata["raw"], {
        f"{key}_issue": (str, g_issue), f"{key}_issue_score": (float, g_score)}, units)
    _write_label_attrs(collection, pred_field, "detections", pdata["raw"], {
        f"{key}_issue": (str, p_issue), f"{key}_issue_score": (float, p_score)}, units)
    collection.set_values(f"{key}_issue_score", sample_score)
    flagged = [sid for sid, s in zip(ids, sample_score, strict=True) if s is not None and s > 0]
    view = collection.match(F(f"{key}_issue_score") > 0).sort_by(F(f"{key}_issue_score"), reverse=True)
    _tag_and_save(collection, flagged, tag=tag, view=view, view_name=view_name)
    result = LabelErrorResult(mode="matching", n_samples=len(ids), n_labels=n_labels,
                              n_issues=sum(counts.values()), by_issue=MappingProxyType(dict(counts)),
                              n_tagged=len(flagged), tag=tag, view_name=view_name)
    _remember(collection, key, "label_errors", result.to_dict())
    return result


# --------------------------------------------------------------------------- sampling and cost


def sample_for_review(
    collection: Any,
    size: int,
    *,
    method: SampleMethod = "random",
    seed: int = 0,
    stratify_field: str | None = None,
    score_field: str = "accord_agreement",
    lot_size: int | None = None,
    aql: float = 1.0,
    inspection_level: str = "II",
    tag: str = "accord:review",
    view_name: str | None = "accord_review",
) -> ReviewSample:
    """Choose samples for human review, tag them and save them as a view.

    Methods:

    * ``random``: simple random sampling without replacement
      (:func:`accord.core.qa.sampling.simple_random_sample`).
    * ``stratified``: proportional allocation over the values of
      ``stratify_field``, random within strata (:func:`~accord.core.qa.sampling.stratified_sample`).
    * ``disagreement``: weighted sampling without replacement, weight
      ``1 - score_field`` (an agreement in [0, 1]; missing counts as 0 agreement),
      Efraimidis & Spirakis A-Res (:func:`~accord.core.qa.sampling.disagreement_sample`).
    * ``uncertainty``: the ``size`` samples with the lowest ``score_field`` (a
      confidence; least-confidence ranking), deterministic.
    * ``acceptance``: the ISO 2859-1 single sampling plan (normal inspection) for
      the collection as a lot (:func:`accord.core.qa.acceptance.single_sampling_plan`);
      ``size`` is then ignored and the plan's sample size drawn at random.

    Args:
        collection: A FiftyOne dataset or view.
        size: Number of samples to choose (capped at the collection size), >= 0.
        method: See above.
        seed: Random seed (same seed, same choice).
        stratify_field: Sample-level field to stratify by (``"ground_truth.label"``...).
        score_field: Numeric field read by ``disagreement`` and ``uncertainty``.
        lot_size / aql / inspection_level: ISO 2859-1 plan parameters (``acceptance``).
        tag / view_name: What is written.

    Returns:
        A :class:`ReviewSample`.

    Raises:
        InvalidAnnotationError: A negative size, a missing stratify field, an unknown method.
        SamplingError / AcceptanceSamplingError: From core (e.g. an AQL not in the ISO table).
    """
    if size < 0:
        raise InvalidAnnotationError(f"size must be >= 0, got {size!r}")
    ids: list[str] = collection.values("id")
    n = len(ids)
    k = min(size, n)
    if method == "random":
        picked = sampling.simple_random_sample(ids, k, seed=seed).ids
    elif method == "stratified":
        if not stratify_field:
            raise InvalidAnnotationError("method='stratified' needs stratify_field, e.g. 'ground_truth.label'")
        strata = [str(v) for v in collection.values(stratify_field)]
        picked = sampling.stratified_sample(ids, strata, k, seed=seed).ids
    elif method == "disagreement":
        raw = collection.values(score_field)
        agreement = np.array([np.nan if v is None else float(v) for v in raw], dtype=np.float64)
        scores = np.clip(1.0 - np.nan_to_num(agreement, nan=0.0), 0.0, None)
        picked = sampling.disagreement_sample(ids, scores.tolist(), k, seed=seed).ids
    elif method == "uncertainty":
        raw = collection.values(score_field)
        score = np.array([np.nan if v is None else float(v) for v in raw], dtype=np.float64)
        order = np.argsort(np.where(np.isnan(score), np.inf, score), kind="stable")[:k]
        picked = tuple(ids[int(i)] for i in order)
    elif method == "acceptance":
        plan = acceptance.single_sampling_plan(lot_size or n, aql, level=inspection_level)
        picked = sampling.simple_random_sample(ids, min(plan.sample_size, n), seed=seed).ids
    else:
        raise InvalidAnnotationError(
            f"unknown method {method!r}; use one of random, stratified, disagreement, uncertainty, acceptance")
    view = collection.select(list(picked), ordered=True)
    _tag_and_save(collection, picked, tag=tag, view=view, view_name=view_name)
    return ReviewSample(method=method, sample_ids=picked, n_population=n, tag=tag, view_name=view_name)


#: Pricing fields an operator may give inline (they override the config file's ``[pricing]``).
PRICING_FIELDS: tuple[str, ...] = ("model", "rate_per_label", "rate_per_hour", "rate_per_task", "fixed_fee",
                                   "rate_per_item", "minimum_charge")


def review_cost_config(path: str | Path | None = None, *, currency: str | None = None,
                       **pricing: Any) -> CostConfig:
    """A cost config for :func:`estimate_review_cost`: a TOML file and/or inline ``[pricing]`` fields.

    Args:
        path: A cost config TOML (``accord/core/data/pricing.example.toml`` lists every key), or None
            for the defaults.
        currency: Overrides the file's currency.
        **pricing: Any of :data:`PRICING_FIELDS` (``model="per_label", rate_per_label=0.05``...);
            they replace the file's values one by one.

    Raises:
        ConfigError: An unknown pricing field, or a value :mod:`accord.core.cost` rejects.
    """
    unknown = sorted(set(pricing) - set(PRICING_FIELDS))
    if unknown:
        raise ConfigError(f"unknown pricing field(s) {unknown}; expected some of {list(PRICING_FIELDS)}")
    cfg = load_config(path) if path else CostConfig()
    if pricing:
        current = {f.name: getattr(cfg.pricing, f.name) for f in dataclass_fields(Pricing)}
        cfg = dataclass_replace(cfg, pricing=Pricing(**{**current, **pricing}))
    if currency:
        cfg = dataclass_replace(cfg, currency=currency)
    return cfg


def _labels_by_core_kind(collection: Any, fields: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Label counts per field and per accord value kind (box, polygon, polyline, keypoints, mask...)."""
    from fiftyone import ViewField as F

    by_field: dict[str, int] = {}
    by_kind: Counter[str] = Counter()
    for f in fields:
        kind = label_kind(collection, f)
        if kind == "polylines":
            closed = int(collection.filter_labels(f, F("closed") | F("filled"), only_matches=False)
                         .count(f"{f}.polylines"))
            total = int(collection.count(f"{f}.polylines"))
            by_kind["polygon"] += closed
            by_kind["polyline"] += total - closed
            by_field[f] = total
            continue
        n = int(collection.count(f"{f}.{_LIST_ATTR[kind]}" if kind in _LIST_ATTR else f))
        by_field[f] = n
        by_kind[_CORE_KIND[kind]] += n
    return by_field, dict(by_kind)


def estimate_review_cost(
    collection: Any,
    fields: Sequence[str],
    *,
    seconds_per_label: float = 4.0,
    seconds_per_sample: float = 2.0,
    hourly_rate_usd: float | None = None,
    pricing: CostConfig | None = None,
) -> ReviewCost:
    """Time and money to review every label of ``fields`` in a collection.

    Without ``pricing`` (time per label)::

        duration_s = n_items * seconds_per_sample + n_labels * seconds_per_label
        cost_usd   = duration_s / 3600 * hourly_rate_usd          (None without a rate)

    With ``pricing`` (a :class:`accord.core.cost.CostConfig`, e.g. from
    :func:`review_cost_config`), accord's cost model prices the review: one review
    of an item takes ``qa.review_time_factor`` times one annotation pass, and a
    pass takes ``drivers.seconds_per_item_overhead + sum over kinds of n_labels x
    seconds per label of that kind`` (``drivers.seconds_per_label`` over
    :data:`~accord.core.cost.config.DEFAULT_SECONDS_PER_LABEL`) times
    ``drivers.time_factor``::

        duration_s = review_time_factor * time_factor * (n_items * overhead + sum_k n_k * s_k)
        cost       = price(Workload(items=n_items, passes=n_items, labels=n_k, hours=duration_s / 3600),
                           pricing, rate_factor=drivers.rate_factor).total

    with :func:`accord.core.cost.price`: ``per_label`` bills each label at its
    kind's rate, ``per_hour`` the hours (at ``qa.rate_per_hour`` when set, the
    rate of QA work, else ``pricing.rate_per_hour``, times the expertise
    multiplier), ``per_task`` each item, ``per_project`` ``rate_per_item`` per
    item; then the fixed fee and the minimum charge. Amounts are in ``pricing.currency``.

    Items are samples, or frames when the fields are video frame fields.

    Raises:
        InvalidAnnotationError: A negative rate.
        SchemaError: An unsupported field.
    """
    for name, v in (("seconds_per_label", seconds_per_label), ("seconds_per_sample", seconds_per_sample),
                    ("hourly_rate_usd", hourly_rate_usd or 0.0)):
        if not v >= 0:
            raise InvalidAnnotationError(f"{name} must be >= 0, got {v!r}")
    by_field, by_kind = _labels_by_core_kind(collection, fields)
    units = _Units.of(collection, fields) if fields else _Units(False, (1,) * int(collection.count()))
    n_items = units.n_units
    n_labels = sum(by_field.values())
    if pricing is None:
        duration = n_items * seconds_per_sample + n_labels * seconds_per_label
        cost = None if hourly_rate_usd is None else duration / 3600.0 * hourly_rate_usd
        return ReviewCost(n_samples=n_items, n_labels=n_labels, duration_s=float(duration), cost_usd=cost,
                          labels_by_field=MappingProxyType(by_field), labels_by_kind=MappingProxyType(by_kind),
                          cost=cost, currency="USD")
    dr, qa = pricing.drivers, pricing.qa
    per_label = {**DEFAULT_SECONDS_PER_LABEL, **dr.seconds_per_label}
    pass_s = n_items * dr.seconds_per_item_overhead + sum(n * per_label[k] for k, n in by_kind.items())
    duration = qa.review_time_factor * dr.time_factor * pass_s
    rates = pricing.pricing
    if qa.rate_per_hour is not None:
        rates = dataclass_replace(rates, rate_per_hour=qa.rate_per_hour)
    charge = price(Workload(items=n_items, passes=n_items, labels=by_kind, hours=duration / 3600.0), rates,
                   rate_factor=dr.rate_factor)
    return ReviewCost(n_samples=n_items, n_labels=n_labels, duration_s=float(duration),
                      cost_usd=charge.total if pricing.currency == "USD" else None,
                      labels_by_field=MappingProxyType(by_field), labels_by_kind=MappingProxyType(by_kind),
                      cost=charge.total, currency=pricing.currency, charge=MappingProxyType(charge.to_dict()))
