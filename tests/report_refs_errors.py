"""Label errors, model vs human, attributes and tracks as the report computed them before they became
mergeable sections (issue #16), kept verbatim (from ``accord.core.qa.report``, ``accord.core.qa.model_eval``,
``accord.core.qa.attributes`` and ``accord.core.qa.track_qa`` before the change, renamed ``ref_*``) as the
references the section tests compare with. Each reads one whole ``Dataset``.
"""
# ruff: noqa: E501

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from accord.core.errors import AccordError, InvalidAnnotationError
from accord.core.matching.base import MatchResult
from accord.core.matching.coco_eval import IouType, coco_evaluate
from accord.core.matching.geometry import match_regions
from accord.core.matching.tracks import compare_tracks, per_frame_iou
from accord.core.model import REGION_KINDS, Box, Dataset, Mask, Record, Track, value_label
from accord.core.qa.attributes import (
    _KIND_OF_INPUT,
    IGNORED_ATTRIBUTES,
    REFERENCE_ID,
    AttributeAgreement,
    AttributeKind,
    AttributeMismatch,
    AttributeReport,
    Comparison,
    Matcher,
    _Acc,
    _canonical,
    _infer_kind,
    _number,
    _pairs_of,
    levenshtein_similarity_score,
)
from accord.core.qa.label_errors import find_label_issues
from accord.core.qa.model_eval import (
    _COCO_KEYS,
    ClassCounts,
    RegionEval,
    classification_dict,
    evaluate_classification,
    evaluate_spans,
    region_dict,
    span_dict,
)
from accord.core.qa.report import ReportConfig, _region_matcher
from accord.core.qa.taxonomy import DEFAULT_TAXONOMY, Discrepancy, Taxonomy
from accord.core.qa.track_qa import MissedFrames, TrackPairQA, TrackReport, TrackSwitch, _Sum, _tracks, _uncovered
from accord.core.report.engine import json_float as _f
from accord.core.schema import AttributeSpec

# --------------------------------------------------------------------------- tracks (accord.core.qa.track_qa)


def ref_track_agreement(dataset: Dataset, label_set: str, *, iou_threshold: float = 0.5,
                    taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> TrackReport:
    """Frame-by-frame comparison of the tracks of every annotator pair and of each annotator vs the reference.

    Args:
        dataset: Records of ``label_set`` holding :class:`Track` values (one item per video).
        label_set: The label set.
        iou_threshold: Box IoU for two boxes to correspond, in (0, 1].
        taxonomy: Classifies ``identity_switch`` and ``missed_frames`` events.

    Returns:
        A :class:`TrackReport` (no pairs when fewer than two sides have tracks).

    Raises:
        InvalidAnnotationError: ``iou_threshold`` outside (0, 1].

    >>> from accord.core.model import TrackFrame
    >>> def rec(who, tid, xs):
    ...     frames = tuple(TrackFrame(frame=f, x=x, y=0, width=10, height=10) for f, x in enumerate(xs)
    ...                    if x is not None)
    ...     return Record(item_id="clip", annotator_id=who, label_set="tracks", region_id=tid,
    ...                   value=Track(label="car", track_id=tid, frames=frames))
    >>> ds = Dataset(records=(rec("ann1", "a", [0, 0, 0, 0]), rec("ann2", "1", [0, None, None, 0])))
    >>> r = track_agreement(ds, "tracks")
    >>> [(m.annotator_id, m.runs) for m in r.pairs[0].missed]
    [('ann2', ((1, 2),))]
    >>> [d.category for d in r.discrepancies]
    ['missed_frames']
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise InvalidAnnotationError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    human = dataset.grouped(label_set, source="human")
    reference: dict[str, list[Record]] = {}
    for item, per in dataset.grouped(label_set, source="reference").items():
        for rs in per.values():
            reference.setdefault(item, []).extend(rs)
    sums: dict[tuple[Comparison, str, str], _Sum] = {}
    skipped: list[tuple[str, str, str, str]] = []
    found: list[Discrepancy] = []

    def emit(event: str, item: str, who: str, against: str, ref: Record | None, cand: Record | None,
             evidence: Mapping[str, object]) -> None:
        label = ref.value.label if ref is not None and isinstance(ref.value, Track) else None
        hit = taxonomy.classify(event=event, kind="track", label=label, label_set=label_set)
        if hit is None:
            return
        found.append(Discrepancy(
            category=hit[0], severity=hit[1], event=event, item_id=item, label_set=label_set, annotator_id=who,
            against=against, kind="track", reference_region_id=ref.region_id if ref else None,
            candidate_region_id=cand.region_id if cand else None, reference_label=label,
            candidate_label=cand.value.label if cand is not None and isinstance(cand.value, Track) else None,
            evidence=MappingProxyType(dict(evidence))))

    for item in sorted(set(human) | set(reference)):
        per = {a: rs for a, rs in human.get(item, {}).items() if any(isinstance(r.value, Track) for r in rs)}
        has_gold = bool(reference.get(item))
        sides: list[tuple[Comparison, str, str, list[Record], list[Record]]] = [
            ("annotators", a, b, per[a], per[b]) for a, b in itertools.combinations(sorted(per), 2)]
        if has_gold:
            sides += [("reference", REFERENCE_ID, a, reference[item], per[a]) for a in sorted(per)]
        for comparison, a, b, ra, rb in sides:
            ref_tracks, ref_rec = _tracks(ra)
            cand_tracks, cand_rec = _tracks(rb)
            if not ref_tracks and not cand_tracks:
                continue
            try:
                res = compare_tracks(ref_tracks, cand_tracks, iou_threshold=iou_threshold)
                frames, iou = per_frame_iou(ref_tracks, cand_tracks)
            except InvalidAnnotationError as e:
                skipped.append((item, a, b, str(e)))
                continue
            s = sums.setdefault((comparison, a, b), _Sum())
            s.n_items += 1
            s.n_frames += res.n_frames
            s.n_reference += res.n_reference
            s.n_candidate += res.n_candidate
            s.matches += res.matches
            s.misses += res.misses
            s.false_positives += res.false_positives
            s.iou_sum += res.iou_sum
            s.idtp += res.idtp
            s.idfn += res.idfn
            s.idfp += res.idfp
            s.switches.extend(TrackSwitch(item_id=item, switch=sw) for sw in res.switches)
            # Between annotators, blame only where no reference decides; vs the reference, always.
            blame = comparison == "reference" or not has_gold
            against_b = "reference" if comparison == "reference" else f"annotator:{a}"
            if blame:
                for sw in res.switches:
                    emit("identity_switch", item, b, against_b, ref_rec.get(sw.reference_track_id),
                         cand_rec.get(sw.candidate_track_id),
                         {"frame": sw.frame, "previous_candidate_track_id": sw.previous_candidate_track_id,
                          "candidate_track_id": sw.candidate_track_id})
            partner = {p.reference_track_id: p.candidate_track_id for p in res.pairs}
            partner_of_cand = {c: r for r, c in partner.items()}
            directions = [(0, ref_tracks, b, partner, ref_rec, cand_rec, against_b)]
            if comparison == "annotators":
                directions.append((1, cand_tracks, a, partner_of_cand, cand_rec, ref_rec, f"annotator:{b}"))
            for axis, tracks, who, partners, own, other, against in directions:
                for j, miss in _uncovered(ref_tracks, cand_tracks, iou, frames, iou_threshold, axis).items():
                    tid = tracks[j].track_id
                    if tid not in partners:
                        continue  # never overlapped: a missing object, counted by region matching
                    m = MissedFrames(item_id=item, annotator_id=who, track_id=tid, partner_track_id=partners[tid],
                                     frames=miss)
                    s.missed.append(m)
                    if blame:
                        emit("missed_frames", item, who, against, own.get(tid), other.get(partners[tid]),
                             {"n_frames": len(miss), "runs": [list(r) for r in m.runs[:20]],
                              "track_id": tid})
    pairs = tuple(TrackPairQA(
        comparison=c, reference_id=a, candidate_id=b, n_items=s.n_items, n_frames=s.n_frames,
        n_reference=s.n_reference, n_candidate=s.n_candidate, matches=s.matches, misses=s.misses,
        false_positives=s.false_positives, iou_sum=s.iou_sum, idtp=s.idtp, idfn=s.idfn, idfp=s.idfp,
        switches=tuple(s.switches), missed=tuple(s.missed))
        for (c, a, b), s in sorted(sums.items(), key=lambda kv: (kv[0][0] == "reference", kv[0][1], kv[0][2])))
    return TrackReport(label_set=label_set, iou_threshold=iou_threshold, pairs=pairs, discrepancies=tuple(found),
                       skipped=tuple(skipped))


# --------------------------------------------------------------------------- attributes (accord.core.qa.attributes)


def ref_attribute_agreement(dataset: Dataset, label_set: str, *, match: Matcher | None = None,
                        iou_threshold: float = 0.5, ignore: Collection[str] = IGNORED_ATTRIBUTES,
                        confidence: float = 0.95) -> AttributeReport:
    """Exact-match, text-similarity and numeric-difference agreement of attributes on matched regions.

    Args:
        dataset: The records; ``human`` records are compared pairwise, and each annotator
            with the ``reference`` records of an item when it has some.
        label_set: A label set of regions (boxes, polygons, tracks, ...) or of tags.
        match: ``match(reference_values, candidate_values) -> MatchResult``; default
            :func:`accord.core.matching.geometry.match_regions` at ``iou_threshold``, labels ignored
            (so label mismatches are seen and skipped).
        iou_threshold: For the default matcher, in [0, 1].
        ignore: Attribute names not compared.
        confidence: Level of the exact-match intervals, in (0, 1).

    Returns:
        An :class:`AttributeReport` (empty rows when no matched pair carries an attribute).

    Raises:
        InvalidAnnotationError: a ``number`` attribute holds something that is not a number.

    >>> from accord.core.model import Box
    >>> def rec(who, colour):
    ...     return Record(item_id="a.jpg", annotator_id=who, label_set="boxes", attributes={"colour": colour},
    ...                   value=Box(label="car", x=0, y=0, width=10, height=10))
    >>> ds = Dataset(records=(rec("ann1", "red"), rec("ann2", "rad")))
    >>> row, = attribute_agreement(ds, "boxes").rows
    >>> (row.n, row.n_exact, round(row.mean_similarity_score, 4))  # "red" vs "rad": d = 1, 1 - 1/3
    (1, 0, 0.6667)
    """
    if not 0.0 < confidence < 1.0:
        raise InvalidAnnotationError(f"confidence must be in (0, 1), got {confidence!r}")
    if match is None:
        from accord.core.matching.geometry import match_regions

        def match(ref: Sequence[Any], cand: Sequence[Any]) -> MatchResult:
            return match_regions(list(ref), list(cand), iou_threshold=iou_threshold, label_aware=False)

    ls = dataset.schema.label_sets.get(label_set)
    specs: Mapping[str, tuple[AttributeSpec, ...]] = ls.attributes if ls is not None else {}
    human = dataset.grouped(label_set, source="human")
    reference: dict[str, list[Record]] = {}
    for item, per in dataset.grouped(label_set, source="reference").items():
        for rs in per.values():
            reference.setdefault(item, []).extend(rs)

    compared: list[tuple[Comparison, str, str, Record, Record]] = []
    n_label_mismatches = 0
    for item in sorted(set(human) | set(reference)):
        per = human.get(item, {})
        sides: list[tuple[Comparison, str, str, list[Record], list[Record]]] = [
            ("annotators", a, b, per[a], per[b]) for a, b in itertools.combinations(sorted(per), 2)]
        if reference.get(item):
            sides += [("reference", REFERENCE_ID, a, reference[item], per[a]) for a in sorted(per)]
        for comparison, a, b, ra, rb in sides:
            pairs, bad = _pairs_of(ra, rb, match)
            n_label_mismatches += bad
            compared.extend((comparison, a, b, r, c) for r, c in pairs)

    # An attribute's kind: from its spec, else from every value it takes in the compared pairs.
    seen: dict[tuple[str, str], list[Any]] = {}
    for *_, r, c in compared:
        label = str(value_label(r.value))
        for rec in (r, c):
            for k, v in rec.attributes.items():
                if k not in ignore:
                    seen.setdefault((label, k), []).append(v)
    kinds: dict[tuple[str, str], AttributeKind] = {}
    for (label, name), values in seen.items():
        spec = next((s for s in specs.get(label, ()) if s.name == name), None)
        kinds[(label, name)] = _KIND_OF_INPUT.get(spec.input_type, "text") if spec else _infer_kind(values)

    acc: dict[tuple[Comparison, str, str, str, str], _Acc] = {}
    mismatches: list[AttributeMismatch] = []
    for comparison, a, b, r, c in compared:
        label = str(value_label(r.value))
        names = sorted({k for k in (*r.attributes, *c.attributes) if k not in ignore})
        for name in names:
            kind = kinds[(label, name)]
            cell = acc.setdefault((comparison, a, b, label, name), _Acc(kind=kind))
            cell.n += 1
            va, vb = r.attributes.get(name), c.attributes.get(name)
            where = f"item {r.item_id!r}, label {label!r}, attribute {name!r}"
            if va is None or vb is None:
                cell.n_one_sided += 1
                same = False
            elif kind == "numeric":
                diff = abs(_number(va, where) - _number(vb, where))
                cell.n_numeric += 1
                cell.abs_difference_sum += diff
                cell.max_abs_difference = max(cell.max_abs_difference, diff)
                same = diff == 0.0
            else:
                sa, sb = _canonical(va), _canonical(vb)
                same = sa == sb
                if kind == "text":
                    cell.n_text += 1
                    cell.similarity_sum += levenshtein_similarity_score(sa, sb)
            if same:
                cell.n_exact += 1
            else:
                mismatches.append(AttributeMismatch(
                    item_id=r.item_id, label_set=label_set, label=label, attribute=name, comparison=comparison,
                    reference_id=a, candidate_id=b, reference_region_id=r.region_id,
                    candidate_region_id=c.region_id, reference_value=None if va is None else _canonical(va),
                    candidate_value=None if vb is None else _canonical(vb)))
    rows = tuple(AttributeAgreement(
        label_set=label_set, label=label, attribute=name, kind=x.kind, comparison=comparison, reference_id=a,
        candidate_id=b, n=x.n, n_exact=x.n_exact, n_one_sided=x.n_one_sided, n_text=x.n_text,
        similarity_sum=x.similarity_sum, n_numeric=x.n_numeric, abs_difference_sum=x.abs_difference_sum,
        max_abs_difference=x.max_abs_difference, confidence=confidence)
        for (comparison, a, b, label, name), x in sorted(acc.items(), key=lambda kv: kv[0]))
    order = {(r.comparison, r.reference_id, r.candidate_id, r.label, r.attribute): k for k, r in enumerate(rows)}
    mismatches.sort(key=lambda m: (order[(m.comparison, m.reference_id, m.candidate_id, m.label, m.attribute)],
                                   m.item_id))
    return AttributeReport(label_set=label_set, rows=rows, mismatches=tuple(mismatches),
                           n_region_pairs=len(compared), n_label_mismatches=n_label_mismatches)


# --------------------------------------------------------------------------- model vs human (accord.core.qa.model_eval)


def _ref_coco(images: Sequence[tuple[str, Sequence[Record], Sequence[Record]]]) -> tuple[
        dict[str, float | None] | None, str | None]:
    values = [r.value for _k, ref, cand in images for r in (*ref, *cand)]
    if not values:
        return None, "no regions on either side"
    if all(isinstance(v, Box) for v in values):
        if any(v.rotation != 0.0 for v in values if isinstance(v, Box)):
            return None, "rotated boxes: COCO AP is defined for axis-aligned boxes only"
        iou_type: IouType = "bbox"
    elif all(isinstance(v, Mask) for v in values):
        iou_type = "segm"
    else:
        return None, f"COCO AP applies to boxes and masks, not {sorted({v.kind for v in values})}"

    def table(side: int) -> dict[str, Any]:
        rows = [(k, r) for k, *sides in images for r in sides[side]]
        out: dict[str, Any] = {
            "image_id": np.asarray([k for k, _ in rows], dtype=object),
            "category": np.asarray([str(value_label(r.value)) for _, r in rows], dtype=object),
            "bbox": np.asarray([(r.value.x, r.value.y, r.value.width, r.value.height)  # type: ignore[union-attr]
                                if iou_type == "bbox" else (0.0, 0.0, 0.0, 0.0) for _, r in rows],
                               dtype=np.float64).reshape(-1, 4),
            "score": np.asarray([1.0 if r.score is None else float(r.score) for _, r in rows], dtype=np.float64),
            "iscrowd": np.asarray([bool(r.attributes.get("iscrowd", False)) for _, r in rows], dtype=bool),
        }
        if iou_type == "segm":
            out["segmentation"] = [r.value for _, r in rows]
        return out

    res = coco_evaluate(table(0), table(1), iou_type=iou_type, image_ids=[k for k, _r, _c in images])
    stats = res.as_dict()
    return {k: (None if stats[k] < 0 else float(stats[k])) for k in _COCO_KEYS}, None


def ref_evaluate_regions(images: Sequence[tuple[str, Sequence[Record], Sequence[Record]]], *,
                     iou_threshold: float = 0.5, options: Mapping[str, Any] | None = None) -> RegionEval:
    """Score a model's regions against reference regions, image by image.

    Args:
        images: ``(image_key, reference_records, candidate_records)`` per evaluated
            image (an item, or an item and one of its humans); an empty side means
            "looked and found nothing".
        iou_threshold: Minimum similarity (IoU, OKS, ...) of a match, in [0, 1].
        options: Forwarded to the similarity function (keypoint ``sigmas``, ...).

    Returns:
        A :class:`RegionEval`. Matching is label-aware (a match needs equal labels), as
        COCO's per-category evaluation is, so ``tp`` at 0.5 agrees with AP50's matching
        up to COCO's score ranking.

    >>> from accord.core.model import Box, Record
    >>> ref = [Record(item_id="1", annotator_id="h", label_set="b",
    ...               value=Box(label="car", x=0, y=0, width=10, height=10))]
    >>> cand = [Record(item_id="1", annotator_id="m", label_set="b", source="model", score=0.9,
    ...                value=Box(label="car", x=1, y=0, width=10, height=10))]
    >>> e = evaluate_regions([("1", ref, cand)])
    >>> e.tp, e.f1_score(), round(e.coco["AP50"], 6)
    (1, 1.0, 1.0)
    """
    tp = n_ref = n_cand = 0
    table: dict[str, list[int]] = {}

    def add(label: str, k: int) -> None:
        table.setdefault(label, [0, 0, 0])[k] += 1

    for _key, ref, cand in images:
        m = match_regions([r.value for r in ref], [r.value for r in cand], iou_threshold=iou_threshold,
                          label_aware=True, options=options)
        tp += m.tp
        n_ref += len(ref)
        n_cand += len(cand)
        for i, _j in m.pairs:
            add(str(value_label(ref[i].value)), 0)
        for r in ref:
            add(str(value_label(r.value)), 1)
        for r in cand:
            add(str(value_label(r.value)), 2)
    coco, note = _ref_coco(images)
    per = tuple(ClassCounts(label=lb, tp=v[0], n_reference=v[1], n_candidate=v[2]) for lb, v in sorted(table.items()))
    return RegionEval(n_images=len(images), iou_threshold=iou_threshold, tp=tp, n_reference=n_ref,
                      n_candidate=n_cand, per_label=per, coco=coco, coco_note=note)


def _ref_top(records: Sequence[Record]) -> Record:
    """The model's prediction for an item: its highest-scored record (first on ties or no scores)."""
    return max(records, key=lambda r: -math.inf if r.score is None else r.score)


def ref_model_vs_human(dataset: Any, *, consensus: Mapping[str, Mapping[str, str]] | None = None,
                   iou_threshold: float = 0.5, options: Mapping[str, Any] | None = None,
                   confidence: float = 0.95) -> dict[str, Any]:
    """The report's ``model_vs_human`` section: every model scored against the humans, per label set.

    A label set gets an entry when it holds both model (``source="model"``) and human
    records; each model (``annotator_id`` of its records, e.g. a model version) is scored
    separately on the items both it and a human labelled. The human reference is:

    * classes: the single human's label where one human labelled the item, else the
      consensus label (``consensus[label_set][item_id]``, resolutions applied); items
      with neither are left out;
    * regions and spans: each human's annotation of the item is a reference image of
      its own (``item x human``), so with one human it is that human's, and with several
      the model is pooled against each.

    Multi-select, numeric and free-text label sets are listed with a note, not scored.

    Args:
        dataset: A :class:`~accord.core.model.Dataset`.
        consensus: Consensus labels per class label set (from the report).
        iou_threshold: Region matching threshold for the counts.
        options: Similarity options for keypoint matching (``sigmas``, ``default_sigma``).
        confidence: Level of the accuracy interval.
    """
    out: dict[str, Any] = {}
    cons = consensus or {}
    for name in dataset.label_sets:
        model_recs = dataset.select(label_set=name, source="model")
        if not model_recs or not dataset.select(label_set=name, source="human"):
            continue
        ls = dataset.schema.label_sets.get(name)
        kind = ls.kind if ls else model_recs[0].kind
        human = dataset.grouped(name, source="human")
        model = dataset.grouped(name, source="model")
        models = sorted({a for per in model.values() for a in per})
        entry: dict[str, Any] = {"kind": kind, "n_human_annotators": len({a for p in human.values() for a in p}),
                                 "models": {}}
        try:
            if kind == "classification":
                ref: dict[str, str] = {}
                n_single = 0
                for item, per in human.items():
                    labs = [str(value_label(r.value)) for recs in per.values() for r in recs]
                    labs_by = {a: recs for a, recs in per.items() if recs}
                    if len(labs_by) == 1:
                        ref[item] = str(value_label(next(iter(labs_by.values()))[-1].value))
                        n_single += 1
                    elif labs and item in cons.get(name, {}):
                        ref[item] = cons[name][item]
                entry["reference"] = {"n_items": len(ref), "n_single_human": n_single,
                                      "n_consensus": len(ref) - n_single}
                for m in models:
                    cand = {}
                    for item, per in model.items():
                        recs = per.get(m) or []
                        if recs:
                            top = _ref_top(recs)
                            cand[item] = (str(value_label(top.value)), top.score)
                    entry["models"][m] = classification_dict(
                        evaluate_classification(ref, cand, confidence=confidence))
            elif kind == "span":
                for m in models:
                    docs = [(h_recs, per_m.get(m) or []) for item, per_m in model.items() if m in per_m
                            for _h, h_recs in sorted(human.get(item, {}).items())]
                    entry["models"][m] = {"n_documents": len(docs), **span_dict(evaluate_spans(docs))}
            elif kind in ("box", "polygon", "polyline", "mask", "keypoints", "segment", "cuboid", "track"):
                for m in models:
                    images = [(f"{item}\x1f{h}", h_recs, per_m.get(m) or []) for item, per_m in sorted(model.items())
                              if m in per_m for h, h_recs in sorted(human.get(item, {}).items())]
                    entry["models"][m] = region_dict(ref_evaluate_regions(
                        images, iou_threshold=iou_threshold, options=options if kind == "keypoints" else None))
            else:
                entry["note"] = f"{kind} label sets are not scored against the humans yet"
        except AccordError as e:  # an unknown region kind, a keypoint without sigma, ...
            entry["undefined"] = str(e)
        out[name] = entry
    return out




# --------------------------------------------------------------------------- the report's sections (accord.core.qa.report)


def _rate_dict(r: Any) -> dict[str, Any]:
    return {"estimate": _f(r.estimate), "low": _f(r.low), "high": _f(r.high), "successes": r.successes,
            "n": r.n, "method": r.method}


def _attribute_row(a: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"label": a.label, "attribute": a.attribute, "kind": a.kind, "comparison": a.comparison,
                           "reference_id": a.reference_id, "candidate_id": a.candidate_id, "n": a.n,
                           "exact_match": _rate_dict(a.exact_match), "n_one_sided": a.n_one_sided}
    if a.kind == "text":
        row["text_similarity"] = {"metric": "1 - Levenshtein distance / longer length",
                                  "mean": _f(a.mean_similarity_score), "n": a.n_text}
    if a.kind == "numeric":
        row["numeric_difference"] = {"mean_absolute": _f(a.mean_absolute_error),
                                     "max_absolute": _f(a.max_abs_difference), "n": a.n_numeric}
    return row


def ref_attributes(ds: Dataset, cfg: ReportConfig) -> dict[str, Any]:
    """Attribute agreement on matched regions (and tags) per label set; empty when no attribute applies."""
    
    out: dict[str, Any] = {}
    for name in ds.label_sets:
        recs = ds.select(label_set=name)
        ls = ds.schema.label_sets.get(name)
        kind = ls.kind if ls else (recs[0].kind if recs else "")
        if kind not in REGION_KINDS and kind != "classification":
            continue
        if not any(r.attributes and not IGNORED_ATTRIBUTES.issuperset(r.attributes) for r in recs):
            continue
        rep = ref_attribute_agreement(ds, name, match=_region_matcher(cfg))
        if not rep.rows:
            continue
        out[name] = {
            "n_region_pairs": rep.n_region_pairs, "n_label_mismatches": rep.n_label_mismatches,
            "rows": [_attribute_row(a) for a in rep.rows], "pooled": [_attribute_row(a) for a in rep.pooled()],
            "n_mismatches": len(rep.mismatches),
            "mismatches": [{"item_id": m.item_id, "label": m.label, "attribute": m.attribute,
                            "comparison": m.comparison, "reference_id": m.reference_id,
                            "candidate_id": m.candidate_id, "reference_region_id": m.reference_region_id,
                            "candidate_region_id": m.candidate_region_id, "reference_value": m.reference_value,
                            "candidate_value": m.candidate_value} for m in rep.mismatches[:200]]}
    return {"ignored": sorted(IGNORED_ATTRIBUTES), "label_sets": out} if out else {}


def ref_tracks(ds: Dataset, cfg: ReportConfig) -> tuple[dict[str, Any], list[Discrepancy]]:
    """Frame-by-frame track comparison per label set with tracks, and its classified discrepancies."""
    out: dict[str, Any] = {}
    found: list[Discrepancy] = []
    for name in ds.label_sets:
        if not any(r.kind == "track" for r in ds.select(label_set=name)):
            continue
        rep = ref_track_agreement(ds, name, iou_threshold=cfg.iou_threshold, taxonomy=cfg.taxonomy)
        found.extend(rep.discrepancies)
        if not rep.pairs and not rep.skipped:
            continue
        out[name] = {"pairs": [{
            "comparison": p.comparison, "reference_id": p.reference_id, "candidate_id": p.candidate_id,
            "n_items": p.n_items, "n_frames": p.n_frames, "n_reference_boxes": p.n_reference,
            "n_candidate_boxes": p.n_candidate, "matches": p.matches, "misses": p.misses,
            "false_positives": p.false_positives, "precision": _rate_dict(p.precision),
            "recall": _rate_dict(p.recall), "mean_iou": _f(p.mean_iou), "mota": _f(p.mota_score),
            "idf1": _f(p.idf1_score), "id_switches": len(p.switches),
            "switches": [{"item_id": s.item_id, "frame": s.switch.frame,
                          "reference_track_id": s.switch.reference_track_id,
                          "previous_candidate_track_id": s.switch.previous_candidate_track_id,
                          "candidate_track_id": s.switch.candidate_track_id} for s in p.switches[:500]],
            "missed_frames": p.n_missed_frames,
            "missed": [{"item_id": m.item_id, "annotator_id": m.annotator_id, "track_id": m.track_id,
                        "partner_track_id": m.partner_track_id, "n_frames": len(m.frames),
                        "runs": [list(r) for r in m.runs[:50]]} for m in p.missed[:500]],
        } for p in rep.pairs], "skipped": [{"item_id": i, "reference_id": a, "candidate_id": b, "reason": why}
                                           for i, a, b, why in rep.skipped]}
    return ({"iou_threshold": cfg.iou_threshold, "label_sets": out} if out else {}), found


def ref_attribute_and_track_sections(ds: Dataset, cfg: ReportConfig, discrepancies: list[Discrepancy]
                                  ) -> dict[str, Any]:
    """The ``attributes`` and ``tracks`` sections, each present only when it applies.

    Track identity switches and missed frames join ``discrepancies`` (so they reach ``errors``).
    """
    tracks, found = ref_tracks(ds, cfg)
    discrepancies.extend(found)
    attributes = ref_attributes(ds, cfg)
    return {**({"attributes": attributes} if attributes else {}), **({"tracks": tracks} if tracks else {})}




def ref_model_probabilities(ds: Dataset, name: str, classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Approximate class probabilities from scored model predictions: top class = its score."""
    k = len(classes)
    out: dict[str, dict[str, float]] = {}
    for r in ds.select(label_set=name, source="model"):
        label = str(value_label(r.value))
        if r.score is None or not 0.0 <= r.score <= 1.0 or label not in classes or k < 2:
            continue
        rest = (1.0 - float(r.score)) / (k - 1)
        out[r.item_id] = {c: (float(r.score) if c == label else rest) for c in classes}
    return out


def ref_label_errors(ds: Dataset, class_labels: Mapping[str, Mapping[str, str]],
                  pred_probs: Mapping[str, Mapping[str, Mapping[str, float]]] | None) -> dict[str, Any]:
    """Confident learning over each class label set's consensus labels (Northcutt et al., JAIR 2021)."""
    out: dict[str, Any] = {}
    for name, labels in class_labels.items():
        ls = ds.schema.label_sets.get(name)
        source = "model probabilities (given)"
        probs = (pred_probs or {}).get(name)
        classes = sorted({*(ls.labels if ls else ()), *labels.values(), *(c for p in (probs or {}).values()
                                                                          for c in p)})
        if not probs:
            probs = ref_model_probabilities(ds, name, classes)
            source = "model predictions' top-class score (approximate: other classes share the rest evenly)"
        items = sorted(i for i in labels if i in probs)
        if len(items) < 2 or len({labels[i] for i in items}) < 2:
            if probs or pred_probs:
                out[name] = {"note": "fewer than two items with both a consensus label and model "
                                     "probabilities, or one class only: nothing to learn from"}
            continue
        index = {c: j for j, c in enumerate(classes)}
        p = np.array([[float(probs[i].get(c, 0.0)) for c in classes] for i in items], dtype=np.float64)
        sums = p.sum(axis=1, keepdims=True)
        p = np.divide(p, sums, out=np.full_like(p, 1.0 / len(classes)), where=sums > 0)
        y = np.array([index[labels[i]] for i in items], dtype=np.intp)
        res = find_label_issues(y, p)
        out[name] = {
            "method": "confident learning, prune by noise rate (Northcutt et al., JAIR 2021)",
            "probabilities": source, "classes": classes, "n_items": len(items), "n_issues": res.n_issues,
            "issues": [{"item_id": items[j], "given": labels[items[j]],
                        "suggested": classes[int(np.argmax(p[j]))],
                        "self_confidence": _f(p[j, y[j]]), "rank": r + 1}
                       for r, j in enumerate(res.ranking[:200])],
            "confident_joint": {"classes": classes, "counts": res.confident_joint.tolist()},
        }
    return out
