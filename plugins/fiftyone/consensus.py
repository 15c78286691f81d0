"""Skill-weighted consensus of annotator label fields, written back as one FiftyOne label field.

Each input field is one annotator (as :func:`~.convert.from_fiftyone` reads it). The fields
are converted into accord's annotation model and fused with the kernels the report uses,
each annotator weighted by their reliability
(:func:`accord.core.qa.region_consensus.annotator_weights_for`): their gold score where a
gold field is given and they labelled gold samples, else the class-consensus skill
(Dawid-Skene by default) of the same annotators on classification fields
(``skill_fields``, or the fields themselves for a classification consensus), else uniform.

What each label type becomes (a lookup table, :data:`FUSERS`):

* ``Detections``: weighted box fusion (:func:`accord.core.qa.consensus.fuse_boxes`,
  strict-majority quorum, IoU >= ``iou_threshold``) on samples without gold that at least
  ``min_annotators`` annotators worked on (an annotator whose field is set but empty
  counts: they looked and found nothing); the same fused boxes as the report's
  ``consensus.detections`` block (which fuses samples with three or more annotators);
* ``Keypoints``: skeletons grouped by OKS and fused as the report's keypoint consensus does
  (:mod:`accord.core.qa.region_consensus`), on the same samples;
* ``Classification``: the report's class-consensus labels
  (:func:`accord.core.qa.consensus.class_consensus`, ``method``), on every sample with a
  judgment.

Every written label carries ``accord_support`` (the share of the sample's annotator weight
behind it, in [0, 1]; also its ``confidence`` for detections and classifications),
``accord_n_annotators`` (how many annotators supported it) and ``accord_annotators``
(their fields). Samples without a consensus get ``None``; a sample fused with no region
kept gets an empty label list. The weights and the method are stored in
``dataset.info[key]["consensus"]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core.errors import ConfigError, InvalidAnnotationError, SchemaError
from accord.core.matching.geometry import match_regions
from accord.core.matching.keypoints import DEFAULT_KEYPOINT_SIGMA
from accord.core.model import Box, Dataset, Keypoints, Record, value_label
from accord.core.qa import gold as gold_mod
from accord.core.qa.consensus import CONSENSUS_METHODS, ConsensusMethod, class_consensus, fuse_boxes
from accord.core.qa.region_consensus import AnnotatorWeights, _keypoints_item, _State, annotator_weights_for
from accord.core.qa.report import ReportConfig
from accord.core.report.truth import judgment_rows

from .convert import from_fiftyone
from .fields import _remember

#: The label set :func:`~.convert.from_fiftyone` puts each supported label type in.
_LABEL_SET: Mapping[str, str] = MappingProxyType({
    "Detections": "detections", "Keypoints": "keypoints", "Classification": "classification"})
_GOLD = "accord:gold"  # the gold field's annotator id (a FiftyOne field name cannot hold ":")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsensusResult:
    """What :func:`compute_consensus` wrote.

    Attributes:
        label_type: The FiftyOne label type fused (``Detections``, ``Keypoints``, ``Classification``).
        out_field: The field written.
        fields: The annotator fields, as given.
        n_samples: Samples in the collection.
        n_written: Samples that got a consensus label (an empty list counts).
        n_labels: Consensus labels written in all.
        n_gold_samples: Samples with gold, left without a region consensus (their truth is the gold).
        weights: Each annotator field's weight (> 0).
        sources: Where each weight came from: ``gold``, ``class_consensus`` or ``uniform``.
        skill_label_set: The class label set whose skills were used, if any.
        method: How the consensus was made, in words.
    """

    label_type: str
    out_field: str
    fields: tuple[str, ...]
    n_samples: int
    n_written: int
    n_labels: int
    n_gold_samples: int
    weights: Mapping[str, float]
    sources: Mapping[str, str]
    skill_label_set: str | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"label_type": self.label_type, "out_field": self.out_field, "fields": list(self.fields),
                "n_samples": self.n_samples, "n_written": self.n_written, "n_labels": self.n_labels,
                "n_gold_samples": self.n_gold_samples, "method": self.method,
                "weights": {f: {"weight": round(self.weights[f], 6), "source": self.sources[f]} for f in self.fields},
                "skill_label_set": self.skill_label_set}


@dataclass(frozen=True, slots=True)
class _Job:
    """What a fuser needs: the converted dataset, its label set, the weights and the options."""

    ds: Dataset
    name: str
    weights: AnnotatorWeights
    gold_items: frozenset[str]
    iou_threshold: float
    min_annotators: int
    method: ConsensusMethod
    seed: int
    match: Callable[[Sequence[Any], Sequence[Any]], Any]


_Label = dict[str, Any]  # a consensus label before it becomes a FiftyOne label: its fields and attributes


def _support(anns: Sequence[str], w: npt.NDArray[np.float64], backing: Sequence[str]) -> dict[str, Any]:
    """The attributes naming who backs a label: weighted share, head count, annotator fields."""
    total = float(w.sum())
    mine = sorted(set(backing))
    share = sum(float(w[anns.index(a)]) for a in mine) / total if total > 0 else 0.0
    return {"accord_support": share, "accord_n_annotators": len(mine), "accord_annotators": mine}


def _fused_items(job: _Job) -> list[tuple[str, dict[str, list[Record]]]]:
    """The samples a region consensus is built on: no gold, at least ``min_annotators`` annotators."""
    human = job.ds.grouped(job.name, source="human")
    return [(i, per) for i, per in sorted(human.items())
            if i not in job.gold_items and len(per) >= job.min_annotators]


def _size(job: _Job, item: str) -> tuple[float, float]:
    it = job.ds.items[item]
    return float(it.width or 1.0), float(it.height or 1.0)


def _fuse_detections(job: _Job) -> dict[str, list[_Label]]:
    out: dict[str, list[_Label]] = {}
    for item, per in _fused_items(job):
        anns = sorted(per)
        w = job.weights.of(anns)
        boxes = [[r for r in per[a] if isinstance(r.value, Box) and not r.value.rotation] for a in anns]
        corners = [np.array([(r.value.x, r.value.y, r.value.x + r.value.width, r.value.y + r.value.height)
                             for r in b], dtype=float).reshape(-1, 4) for b in boxes]
        fused = fuse_boxes(corners, [[str(r.label) for r in b] for b in boxes], iou_threshold=job.iou_threshold,
                           reliability=w)
        width, height = _size(job, item)
        labels: list[_Label] = []
        for (x1, y1, x2, y2), lab, members, sup in zip(fused.boxes_xyxy.tolist(), fused.labels, fused.members,
                                                       fused.label_support.tolist(), strict=True):
            attrs = _support(anns, w, [anns[a] for a, _ in members])
            labels.append({"label": lab, "bounding_box": [x1 / width, y1 / height, (x2 - x1) / width,
                                                          (y2 - y1) / height],
                           "confidence": attrs["accord_support"], "accord_label_support": float(sup), **attrs})
        out[item] = labels
    return out


def _fuse_keypoints(job: _Job) -> dict[str, list[_Label]]:
    out: dict[str, list[_Label]] = {}
    for item, per in _fused_items(job):
        anns = sorted(per)
        w = job.weights.of(anns)
        consensus = _keypoints_item(job.ds, job.name, item, per, anns, w, _State(), match=job.match)
        backing: list[list[str]] = [[] for _ in consensus]
        for a in anns:  # an annotator backs a fused skeleton their own one matches (OKS >= the threshold)
            m = job.match([r.value for r in consensus], [r.value for r in per[a]])
            for r, _ in m.pairs:
                backing[r].append(a)
        width, height = _size(job, item)
        # every skeleton keeps the points' count its annotators drew; unfused points are NaN (not visible)
        n = 1 + max((int(p.name) for rs in per.values() for r in rs if isinstance(r.value, Keypoints)
                     for p in r.value.points), default=-1)
        labels: list[_Label] = []
        for rec, who in zip(consensus, backing, strict=True):
            v = rec.value
            if not isinstance(v, Keypoints):  # _keypoints_item builds only Keypoints
                continue
            pts = {int(p.name): (p.x / width, p.y / height) for p in v.points}
            labels.append({"label": v.label, "points": [list(pts.get(k, (math.nan, math.nan))) for k in range(n)],
                           **_support(anns, w, who)})
        out[item] = labels
    return out


def _fuse_classification(job: _Job) -> dict[str, list[_Label]]:
    rows = judgment_rows(job.ds, job.name)
    if not rows:
        return {}
    items, anns_col, labels_col = (list(x) for x in zip(*rows, strict=True))
    res = class_consensus(items, anns_col, labels_col, method=job.method, seed=job.seed)
    human = job.ds.grouped(job.name, source="human")
    out: dict[str, list[_Label]] = {}
    for item, lab in zip(res.item_ids.tolist(), res.labels.tolist(), strict=True):
        if lab is None:  # a majority-vote tie
            continue
        per = {a: rs for a, rs in human.get(str(item), {}).items() if rs}
        anns = sorted(per)
        w = job.weights.of(anns)
        attrs = _support(anns, w, [a for a in anns if any(str(value_label(r.value)) == lab for r in per[a])])
        out[str(item)] = [{"label": str(lab), "confidence": attrs["accord_support"], **attrs}]
    return out


#: FiftyOne label type -> the fuser of its label set (a lookup table, not an if-chain).
FUSERS: Mapping[str, Callable[[_Job], dict[str, list[_Label]]]] = MappingProxyType({
    "Detections": _fuse_detections, "Keypoints": _fuse_keypoints, "Classification": _fuse_classification})


def _method(label_type: str, job: _Job) -> str:
    quorum = f"samples without gold with {job.min_annotators}+ annotators, strict-majority quorum"
    return {
        "Detections": f"weighted box fusion (fuse_boxes; {quorum}, IoU >= {job.iou_threshold:g})",
        "Keypoints": f"skeletons grouped by OKS >= {job.iou_threshold:g}, kept when a strict majority drew them; "
                     f"weighted mean of the points a strict majority marked visible ({quorum})",
        "Classification": f"class consensus by {job.method} (class_consensus), support weighted by reliability",
    }[label_type]


def _label_type(collection: Any, name: str, role: str) -> str:
    f = collection.get_field(name)
    if f is None:
        raise SchemaError(f"no {role} field {name!r} in the collection; its fields are "
                          f"{sorted(collection.get_field_schema())}")
    return str(getattr(getattr(f, "document_type", None), "__name__", type(f).__name__))


def _check(collection: Any, fields: Sequence[str], out_field: str, gold_field: str | None,
           skill_fields: Sequence[str] | None, iou_threshold: float, min_annotators: int, method: str) -> str:
    """Validate the inputs; the label type of the fields."""
    if len(fields) < 2 or len(set(fields)) != len(fields):
        raise InvalidAnnotationError(f"consensus needs two or more distinct label fields (one per annotator), "
                                     f"got {list(fields)!r}")
    if not 0 < iou_threshold <= 1:
        raise ConfigError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    if min_annotators < 2:
        raise ConfigError(f"min_annotators must be at least 2, got {min_annotators!r}")
    if method not in CONSENSUS_METHODS:
        raise ConfigError(f"unknown consensus method {method!r}; known: {', '.join(CONSENSUS_METHODS)}")
    types = {f: _label_type(collection, f, "label") for f in fields}
    if len(set(types.values())) > 1:
        raise SchemaError(f"the fields hold different label types {types}; pick fields of one type")
    typ = types[fields[0]]
    if typ not in FUSERS:
        raise SchemaError(f"fields of type {typ} have no consensus; expected one of {sorted(FUSERS)}")
    if gold_field is not None:
        if gold_field in fields:
            raise SchemaError(f"the gold field {gold_field!r} is also an annotator field; give it only as gold_field")
        if (g := _label_type(collection, gold_field, "gold")) != typ:
            raise SchemaError(f"the gold field {gold_field!r} holds {g}, the annotator fields {typ}; "
                              "give a gold field of the same type")
    if skill_fields is not None:
        if typ == "Classification":
            raise SchemaError("skill_fields are for region consensus; a classification consensus weighs "
                              "annotators by their skill on the fields themselves")
        if len(skill_fields) != len(fields):
            raise SchemaError(f"skill_fields must give one Classification field per annotator field, in the same "
                              f"order: {len(fields)} fields, {len(skill_fields)} skill fields")
        for s in skill_fields:
            if (t := _label_type(collection, s, "skill")) != "Classification":
                raise SchemaError(f"the skill field {s!r} holds {t}, expected Classification")
    taken = {*fields, *([gold_field] if gold_field else []), *(skill_fields or [])}
    if not out_field or out_field in taken:
        raise SchemaError(f"out_field {out_field!r} must be a new field name, not one of the fields read")
    existing = collection.get_field(out_field)
    if existing is not None and (have := _label_type(collection, out_field, "output")) != typ:
        raise SchemaError(f"out_field {out_field!r} already holds {have}, not {typ}; pick another out_field")
    return typ


def _dataset(collection: Any, fields: Sequence[str], gold_field: str | None,
             skill_fields: Sequence[str] | None) -> Dataset:
    """The fields as one core Dataset: annotator = field name, the gold field's records as reference."""
    ids = {f: f for f in fields}
    read = list(fields)
    if skill_fields:
        ids.update(zip(skill_fields, fields, strict=True))
        read += list(skill_fields)
    if gold_field is not None:
        ids[gold_field] = _GOLD
        read.append(gold_field)
    ds = from_fiftyone(collection, read, annotator_ids=ids)
    if gold_field is None:
        return ds

    records = tuple(replace(r, source="reference") if r.annotator_id == _GOLD else r for r in ds.records)
    subs = tuple(replace(s, source="reference") if s.annotator_id == _GOLD else s for s in ds.submissions)
    return Dataset(records=records, schema=ds.schema, items=ds.items, submissions=subs, name=ds.name)


def _class_skills(ds: Dataset, name: str, method: ConsensusMethod, seed: int) -> dict[str, float | None]:
    """Each annotator's skill on a class label set, as the report's ``annotator_reliability`` has it."""
    rows = judgment_rows(ds, name)
    if not rows:
        return {}
    items, anns, labels = (list(x) for x in zip(*rows, strict=True))
    res = class_consensus(items, anns, labels, method=method, seed=seed)
    return {str(a): round(float(s), 6) if math.isfinite(float(s)) else None
            for a, s in zip(res.annotator_ids, res.skills, strict=True)}


def compute_consensus(
    collection: Any, fields: Sequence[str], *, out_field: str = "accord_consensus", gold_field: str | None = None,
    skill_fields: Sequence[str] | None = None, iou_threshold: float = 0.5, min_annotators: int = 2,
    method: ConsensusMethod = "dawid_skene", keypoint_sigma: float = DEFAULT_KEYPOINT_SIGMA, seed: int = 0,
    key: str = "accord",
) -> ConsensusResult:
    """Fuse annotator label fields into one consensus label field, each annotator weighted by reliability.

    Args:
        collection: A FiftyOne dataset or view (image samples).
        fields: Two or more label fields of one type (``Detections``, ``Keypoints`` or
            ``Classification``), one per annotator.
        out_field: The label field written (declared with the fields' type); must not be read.
        gold_field: A field of the same type holding gold labels: annotators who labelled gold
            samples are weighted by their gold score (F1 for regions, accuracy for classes), and
            gold samples get no region consensus.
        skill_fields: For a region consensus, one ``Classification`` field per annotator field
            (same order): the class-consensus skill there weighs annotators without gold.
        iou_threshold: Minimum IoU (boxes) or OKS (keypoints) to join a region, in (0, 1].
        min_annotators: A region consensus is built on samples with at least this many annotators
            (>= 2; the report uses 3).
        method: The class-consensus method (labels and skills), one of
            :data:`~accord.core.qa.consensus.CONSENSUS_METHODS`.
        keypoint_sigma: OKS falloff of every keypoint (FiftyOne names keypoints by index).
        seed: Seed of the class-consensus method (MACE's restarts).
        key: ``dataset.info[key]["consensus"]`` receives the summary.

    Returns:
        A :class:`ConsensusResult`.

    Raises:
        InvalidAnnotationError: Fewer than two distinct fields.
        SchemaError: An unknown field, fields of different or unsupported types, a gold or
            skill field that does not fit, an ``out_field`` that is read or holds another type.
        ConfigError: A threshold, quorum or method out of range.
        ConversionError: A label that cannot be converted (e.g. regions without an image size).
    """
    fields = list(fields)
    typ = _check(collection, fields, out_field, gold_field, skill_fields, iou_threshold, min_annotators, method)
    ds = _dataset(collection, fields, gold_field, skill_fields)
    name = _LABEL_SET[typ]
    match: Callable[[Sequence[Any], Sequence[Any]], Any] = lambda ref, cand: match_regions(  # noqa: E731
        list(ref), list(cand), iou_threshold=iou_threshold, label_aware=False,
        options={"sigmas": {}, "default_sigma": keypoint_sigma} if typ == "Keypoints" else None)
    present = name in ds.label_sets
    cfg = ReportConfig()  # the gold scores do not depend on its thresholds (only the verdicts do)
    if not present:
        g = gold_mod.GoldOutcome(scores=(), discrepancies=())
    elif typ == "Classification":
        g = gold_mod.score_classes(ds, name, threshold=cfg.gold_threshold, target_width=cfg.gold_target_width)
    else:
        g = gold_mod.score_regions(ds, name, match=match, threshold=cfg.gold_threshold,
                                   target_width=cfg.gold_target_width)
    skill_set = name if typ == "Classification" else ("classification" if skill_fields else None)
    skills = _class_skills(ds, skill_set, method, seed) if skill_set and skill_set in ds.label_sets else {}
    weights = annotator_weights_for(fields, gold_scores=g.scores,
                                    consensus={skill_set: {"annotator_reliability": skills}} if skills else {})
    job = _Job(ds=ds, name=name, weights=weights, gold_items=g.gold_items, iou_threshold=iou_threshold,
               min_annotators=min_annotators, method=method, seed=seed, match=match)
    fused = FUSERS[typ](job) if present else {}
    n_written, n_labels = _write(collection, out_field, typ, fused)
    result = ConsensusResult(
        label_type=typ, out_field=out_field, fields=tuple(fields), n_samples=len(ds.items), n_written=n_written,
        n_labels=n_labels, n_gold_samples=len(g.gold_items) if typ != "Classification" else 0,
        weights=MappingProxyType(dict(zip(fields, weights.of(fields).tolist(), strict=True))),
        sources=MappingProxyType({a: s for a, s in zip(weights.annotator_ids, weights.sources, strict=True)}),
        skill_label_set=weights.class_label_set, method=_method(typ, job))
    _remember(collection, key, "consensus", result.to_dict())
    return result


#: FiftyOne label type -> (the label class of one consensus label, the list attribute, or None for one label).
_LABEL_CLASS: Mapping[str, tuple[str, str | None]] = MappingProxyType({
    "Detections": ("Detection", "detections"), "Keypoints": ("Keypoint", "keypoints"),
    "Classification": ("Classification", None)})


def _write(collection: Any, out_field: str, typ: str, fused: Mapping[str, list[_Label]]) -> tuple[int, int]:
    """Write the consensus labels in bulk (one ``set_values``); samples without one get None.

    The labels are written as the documents FiftyOne stores (the ones ``Label.to_mongo()``
    makes: a fresh ``_id``, ``_cls``, empty ``tags`` and ``attributes``), unvalidated: building
    and validating one label object each costs about 3/4 of the time of the whole consensus.
    The field and the written attributes are declared in the dataset's schema.
    """
    import fiftyone as fo
    from bson import ObjectId

    label_cls, list_attr = _LABEL_CLASS[typ]
    template = dict(getattr(fo, label_cls)().to_mongo())
    fresh: dict[str, Any] = {k: v for k, v in (("tags", []), ("attributes", {})) if k in template}  # new per label

    def one(d: _Label) -> dict[str, Any]:
        return {**template, **{k: type(v)() for k, v in fresh.items()}, "_id": ObjectId(), **d}

    def sample_value(labels: list[_Label]) -> dict[str, Any]:
        if list_attr is None:
            return one(labels[0])
        return {"_cls": typ, list_attr: [one(d) for d in labels]}

    dataset = collection._dataset
    if collection.get_field(out_field) is None:
        dataset.add_sample_field(out_field, fo.EmbeddedDocumentField, embedded_doc_type=getattr(fo, typ))
    ids = [str(s) for s in collection.values("id")]
    values = [sample_value(fused[i]) if i in fused else None for i in ids]
    collection.set_values(out_field, values, validate=False)
    attrs = [("accord_support", fo.FloatField), ("accord_n_annotators", fo.IntField),
             ("accord_annotators", fo.ListField)]
    if typ == "Detections":
        attrs.append(("accord_label_support", fo.FloatField))
    for attr, ftype in attrs:
        path = f"{out_field}.{attr}" if list_attr is None else f"{out_field}.{list_attr}.{attr}"
        if path not in dataset.get_field_schema(flat=True):
            kw = {"subfield": fo.StringField} if ftype is fo.ListField else {}
            dataset.add_sample_field(path, ftype, **kw)
    return sum(1 for i in ids if i in fused), sum(len(fused[i]) for i in ids if i in fused)
