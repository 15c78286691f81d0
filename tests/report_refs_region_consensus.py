"""The whole-dataset region consensus and box truth inference the report used before issue #16
(``core/qa/report.py``'s ``_region_consensus_blocks``, ``_box_consensus``, ``_box_truth`` and
``core/qa/region_consensus.py``'s ``region_consensus`` loop, copied unchanged but for their
names), kept as the reference the mergeable sections of
:mod:`accord.core.report.region_consensus` are tested against."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from accord.core.errors import AccordError, InvalidAnnotationError
from accord.core.model import Box, Dataset, Record
from accord.core.qa import gold as gold_mod
from accord.core.qa.consensus import fuse_boxes
from accord.core.qa.geometry_truth import box_judgments, box_truth_em, box_truth_summary
from accord.core.qa.region_consensus import (
    _EM_METHOD,
    _METHODS,
    TRANSCRIPTS_LISTED,
    AnnotatorWeights,
    Matcher,
    _cuboid_item,
    _Fuser,
    _keypoints_item,
    _raster_item,
    _segment_item,
    _span_item,
    _State,
    _text_item,
    _track_item,
    annotator_weights_for,
)
from accord.core.qa.report import ReportConfig, _region_matcher
from accord.core.qa.segmentation_em import SEGMENTATION_METHODS, SegmentationMethod
from accord.core.qa.taxonomy import DEFAULT_TAXONOMY, Discrepancy, Taxonomy, classify_match


def _xyxy(r: Record) -> tuple[float, float, float, float]:
    v = r.value
    return (v.x, v.y, v.x + v.width, v.y + v.height)  # type: ignore[union-attr]


def box_consensus_ref(ds: Dataset, name: str, gold_items: frozenset[str], cfg: ReportConfig,
                   weights: AnnotatorWeights | None = None,
                   human: Mapping[str, Mapping[str, list[Record]]] | None = None,
                   ) -> tuple[dict[str, Any], list[Discrepancy]]:
    """Fused boxes (strict-majority quorum) on items without gold, each annotator weighted by
    ``weights`` (:mod:`accord.core.qa.region_consensus`; all 1 without), and each annotator vs them."""

    human = ds.grouped(name, source="human") if human is None else human
    match = _region_matcher(cfg)
    found: list[Discrepancy] = []
    n_items = n_regions = 0
    for item, per in sorted(human.items()):
        if item in gold_items or len(per) < 3:
            continue
        anns = sorted(per)
        boxes = [[r for r in per[a] if isinstance(r.value, Box) and not r.value.rotation] for a in anns]
        corners = [np.array([_xyxy(r) for r in b], dtype=float).reshape(-1, 4) for b in boxes]
        fused = fuse_boxes(corners, [[str(r.label) for r in b] for b in boxes], iou_threshold=cfg.iou_threshold,
                           reliability=None if weights is None else weights.of(anns))
        n_items += 1
        n_regions += len(fused.labels)
        consensus = [Record(item_id=item, annotator_id="consensus", label_set=name, source="consensus",
                            region_id=f"consensus-{k}",
                            value=Box(label=lab, x=float(x1), y=float(y1), width=float(x2 - x1),
                                      height=float(y2 - y1)))
                     for k, ((x1, y1, x2, y2), lab) in enumerate(zip(fused.boxes_xyxy, fused.labels, strict=True))]
        for a, b in zip(anns, boxes, strict=True):
            m = match([r.value for r in consensus], [r.value for r in b])
            found.extend(d if d.annotator_id else replace(d, annotator_id=a)
                         for d in classify_match(m, consensus, b, taxonomy=cfg.taxonomy, against="consensus"))
    out = {"method": f"box fusion (strict-majority quorum, IoU >= {cfg.iou_threshold:g})",
           "n_items": n_items, "n_regions": n_regions,
           "note": "annotators are compared with the fused boxes on items without gold",
           **(weights.to_dict() if weights is not None else {})}
    return out, found


def region_consensus_blocks_ref(ds: Dataset, pending: Sequence[tuple[str, str, gold_mod.GoldOutcome]],
                             consensus: dict[str, Any], cfg: ReportConfig) -> list[Discrepancy]:
    """Weighted consensus of every region and text label set (:mod:`accord.core.qa.region_consensus`),
    after the loop so each weight can read every class label set's skills; fills ``consensus``
    in place (a box block keeps its ``truth_inference``). Returns the box comparisons'
    discrepancies; the other kinds' stay counted in their block (``annotator_discrepancies``)."""

    found: list[Discrepancy] = []
    for name, kind, g in pending:
        human = ds.grouped(name, source="human")
        weights = annotator_weights_for({a for per in human.values() for a in per}, gold_scores=g.scores,
                                        consensus=consensus)
        if kind == "box":
            block, box_found = box_consensus_ref(ds, name, g.gold_items, cfg, weights, human)
            consensus[name] = {**block, **consensus.get(name, {})}
            found.extend(box_found)
            continue
        region, _ = region_consensus_ref(ds, name, kind, gold_items=g.gold_items, weights=weights,
                                     match=_region_matcher(cfg), iou_threshold=cfg.iou_threshold,
                                     taxonomy=cfg.taxonomy, human=human,
                                     segmentation_method=cfg.segmentation_method)
        if region is not None:
            consensus[name] = region
    return found


def box_truth_ref(ds: Dataset, name: str, cfg: ReportConfig) -> dict[str, Any] | None:
    """The geometry EM (:func:`accord.core.qa.geometry_truth.box_truth_em`) over every item's
    boxes: each annotator's miss rate, false-positive rate and edge noise with intervals, and
    the number of objects it infers; None with fewer than two annotators or no boxes.

    The per-object list stays out of the report (it grows with the data); the model's
    summary and the annotators' parameters go in."""

    human = ds.grouped(name, source="human")
    j = box_judgments(human)
    if len(set(j.annotator_ids)) < 2 or len(j.item_ids) == 0:
        return None
    sizes = [(it.width, it.height) for it in (ds.items.get(i) for i in human) if it and it.width and it.height]
    frame = (float(np.median([w for w, _ in sizes])), float(np.median([h for _, h in sizes]))) if sizes else None
    try:
        res = box_truth_em(j.item_ids, j.annotator_ids, j.boxes_xyxy, j.labels, views=j.views,
                           iou_threshold=cfg.iou_threshold, frame_wh=frame, seed=0)
    except AccordError as e:
        return {"model": "box_truth_em", "note": f"not estimated: {e}"}
    out = box_truth_summary(res)
    out.pop("objects", None)
    out["n_rotated_skipped"] = int(j.n_rotated_skipped)
    out["note"] = ("an EM over candidate objects: per annotator a miss rate, a Poisson false-positive rate and "
                   "Gaussian edge noise (sigma in units of the object's sqrt(w*h)); intervals conditional on the "
                   "fitted posteriors")
    return out


def region_consensus_ref(ds: Dataset, name: str, kind: str, *, gold_items: frozenset[str], weights: AnnotatorWeights,
                     match: Matcher, iou_threshold: float, taxonomy: Taxonomy = DEFAULT_TAXONOMY,
                     human: Mapping[str, Mapping[str, list[Record]]] | None = None,
                     segmentation_method: SegmentationMethod = "vote",
                     ) -> tuple[dict[str, Any] | None, list[Discrepancy]]:
    """The report's ``consensus.<label set>`` block for a region kind other than boxes, or transcripts.

    On items without gold that at least three human annotators worked on (transcripts: two),
    the kind's kernel builds the consensus with each annotator's weight, and each annotator's
    regions are matched (``match``) to the consensus regions and classified
    (:func:`~accord.core.qa.taxonomy.classify_match`, ``against="consensus"``); an annotator who
    submitted nothing on the item misses every consensus region. Masks and polygons also give
    each annotator's pooled IoU with the fused masks (intersection and union pixels kept),
    transcripts each annotator's word error rate against the voted transcript. The label set is
    grouped once (``human``, from :meth:`Dataset.grouped` when not given): the work is linear
    in its records. ``segmentation_method="em"`` fuses masks and polygons by SegmentationEM
    (:func:`em_rasters`) instead of the weighted pixel vote; the block's ``method`` says so and
    ``annotator_segmentation_skill`` gives each annotator's pooled skill (one minus expected wrong
    pixels over the pixels anyone marked, both summed over items and labels).

    Returns:
        ``(block, discrepancies)``; ``(None, [])`` for a kind not in :data:`KINDS`.

    Raises:
        InvalidAnnotationError: ``segmentation_method`` is not one of ``"vote"``, ``"em"``.
    """
    if kind not in _METHODS:
        return None, []
    if segmentation_method not in SEGMENTATION_METHODS:
        raise InvalidAnnotationError(f"segmentation_method must be one of {', '.join(SEGMENTATION_METHODS)}, "
                                     f"got {segmentation_method!r}")
    raster = partial(_raster_item, method=segmentation_method)
    fusers: Mapping[str, _Fuser] = {
        "polygon": raster, "mask": raster, "span": _span_item, "segment": _segment_item,
        "text": _text_item, "keypoints": partial(_keypoints_item, match=match),
        "cuboid": partial(_cuboid_item, match=match), "track": partial(_track_item, iou_threshold=iou_threshold)}
    fuse = fusers[kind]
    st = _State()
    groups = ds.grouped(name, source="human") if human is None else human
    need = 2 if kind == "text" else 3
    found: list[Discrepancy] = []
    n_items = n_regions = 0
    for item, per in sorted(groups.items()):
        if item in gold_items or len(per) < need:
            continue
        anns = sorted(per)
        consensus = fuse(ds, name, item, per, anns, weights.of(anns), st)
        if consensus is None:
            continue
        n_items += 1
        n_regions += len(consensus)
        if kind == "text":
            continue
        for a in anns:
            mine = per[a]
            m = match([r.value for r in consensus], [r.value for r in mine])
            found.extend(d if d.annotator_id else replace(d, annotator_id=a)
                         for d in classify_match(m, consensus, mine, taxonomy=taxonomy, against="consensus"))
    by_ann: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d in found:
        by_ann[d.annotator_id][d.category] += 1
    out: dict[str, Any] = {"method": _METHODS[kind], "n_items": n_items, "n_regions": n_regions,
                           **weights.to_dict()}
    if kind == "text":
        out["note"] = "annotators are compared with the voted transcript on items without gold"
        out["annotator_wer"] = {a: {"wer": round(e / n, 6) if n else None, "word_errors": e, "reference_words": n}
                                for a, (e, n) in sorted(st.errors.items())}
        out["n_transcripts"] = len(st.texts)
        out["transcripts"] = dict(sorted(st.texts.items())[:TRANSCRIPTS_LISTED])
    else:
        out["note"] = "annotators are compared with the consensus regions on items without gold"
        out["n_discrepancies"] = len(found)
        out["annotator_discrepancies"] = {a: dict(sorted(c.items())) for a, c in sorted(by_ann.items())}
    if kind in ("polygon", "mask"):
        if segmentation_method == "em":
            out["method"] = _EM_METHOD
            out["annotator_segmentation_skill"] = {
                a: {"skill": round(1.0 - e / u, 6) if u else None, "expected_errors_px": round(e, 6),
                    "region_px": int(u)} for a, (e, u) in sorted(st.em_errors.items())}
        out["area_px"] = st.area_px
        out["annotator_iou"] = {a: {"iou": round(st.inter.get(a, 0.0) / u, 6) if u else None,
                                    "intersection_px": int(st.inter.get(a, 0.0)), "union_px": int(u)}
                                for a, u in sorted(st.union.items())}
    if st.skipped:
        out["n_items_skipped"] = len(st.skipped)
        out["skipped"] = st.skipped[:50]
    return out, found
