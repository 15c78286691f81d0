"""Disagreement between label fields of a FiftyOne collection (see :mod:`.qa` for what is written)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core.errors import InvalidAnnotationError
from accord.core.matching.base import MatchResult, box_iou_matrix, match_similarity
from accord.core.matching.geometry import match_regions
from accord.core.matching.keypoints import DEFAULT_KEYPOINT_SIGMA
from accord.core.model import Polyline
from accord.core.qa.taxonomy import DEFAULT_TAXONOMY, Taxonomy, TaxonomyCounts

from .fields import (
    _CORE_KIND,
    _FRAMES,
    _LIST_ATTR,
    LabelKind,
    _class_names,
    _declare,
    _fields_kind,
    _finite_mean,
    _image_sizes,
    _masks,
    _none_like,
    _read_list_field,
    _remember,
    _tag_and_save,
    _Units,
    _write_label_attrs,
)
from .values import _keypoint_values, _polygon_values, _xyxy


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
