"""Region consensus and box truth inference as mergeable sections (issue #16).

:class:`RegionConsensusSection` is the ``consensus.<label set>`` block of a box label set (fused
boxes, strict-majority quorum) or of any kind in
:data:`~accord.core.qa.region_consensus.KINDS` (pixel votes, time votes, fused tracks, cuboids,
skeletons, spans, transcripts), and the discrepancies of each annotator against it. Fusion is
item-local, and it is the expensive part, so it runs in ``add``: each partition keeps one
compact row per fused item (:class:`~accord.core.qa.region_consensus.ItemConsensus`: counts,
pixel sums, the voted transcript; a box item keeps its discrepancies, which the report lists);
merging concatenates; ``finish`` puts the rows in item-id order (the order the one-process
loop visits items in) and adds them up exactly as that loop does, so every count, listing and
discrepancy is the same, bit for bit.

The fusion weights are the one input that is not item-local: an annotator without gold or a
class skill weighs the mean of the measured weights of *every* annotator of the label set, and
the class label set whose skills are used is the first one that covers every annotator without
gold. So the section runs two passes: the first gathers the label set's annotators (a set,
merged by union), :meth:`RegionConsensusSection.next_params` turns them into
:class:`~accord.core.qa.region_consensus.AnnotatorWeights` (with the gold scores and the class
skills the report passes in :class:`RegionConsensusInputs`), the second fuses.

:class:`BoxTruthSection` is the geometry EM (:func:`~accord.core.qa.geometry_truth.box_truth_em`)
of a box label set. Its candidate clustering and its EM sums run over the boxes of all items
at once, in the order the one-process report passes them, and the float sums depend on that
order; so the section gathers compact per-judgment columns (per box an item code, the
annotator, four coordinates and the label; per view an item code and the annotator; per item
its size), O(judgments), merges them by concatenation, and fits in ``finish`` on the columns
put back in the dataset's item order (``ctx.order``). The figures are those of the one-process
fit whenever the dataset's item order is the order its items are first submitted in (every
converter builds them so; :meth:`~accord.core.model.Dataset.grouped` lists items in the order
of their first submission).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import AccordError
from ..model import Box, Dataset, Record
from ..qa.region_consensus import (
    AnnotatorWeights,
    ItemConsensus,
    annotator_weights,
    check_segmentation_method,
    consensus_block,
    consensus_item,
    min_annotators,
)
from ..qa.taxonomy import Discrepancy, classify_match
from .engine import Context, order_of

if TYPE_CHECKING:
    from ..qa.geometry_truth import BoxJudgments

__all__ = ["BoxTruthColumns", "BoxTruthSection", "BoxTruthState", "RegionConsensusInputs",
           "RegionConsensusSection", "RegionConsensusState"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionConsensusInputs:
    """What the consensus of one region label set reads besides the partitions
    (``ctx.options[section.name]``).

    Attributes:
        kind: The label set's kind: ``"box"`` or one of the region consensus kinds.
        gold_items: Items with gold (left out of the consensus).
        gold_scores: Each annotator's gold score on this label set, where it was scored
            (:func:`~accord.core.qa.region_consensus.gold_weight_scores`).
        class_skills: Per class label set, in the report's order, each annotator's skill
            (:func:`~accord.core.qa.region_consensus.class_skills_of` of the consensus blocks).
    """

    kind: str
    gold_items: frozenset[str] = frozenset()
    gold_scores: Mapping[str, float] = field(default_factory=dict)
    class_skills: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)


@dataclass(slots=True)
class RegionConsensusState:
    """A partial consensus: the annotators seen (first pass) or the fused items' rows (second)."""

    annotators: set[str] = field(default_factory=set)
    rows: list[ItemConsensus] = field(default_factory=list)


class RegionConsensusSection:
    """The consensus block of one region label set and its discrepancies (the box ones: the
    others stay counted in the block). Result: ``(block, discrepancies)``."""

    stage = 2

    def __init__(self, label_set: str) -> None:
        self.label_set = label_set
        self.name = f"region_consensus:{label_set}"

    def create(self, ctx: Context) -> RegionConsensusState:
        return RegionConsensusState()

    def add(self, state: RegionConsensusState, part: Dataset, ctx: Context) -> RegionConsensusState:
        human = part.grouped_view(self.label_set, source="human")
        weights: AnnotatorWeights | None = ctx.params
        if weights is None:  # first pass: who annotated the label set
            state.annotators.update(a for per in human.values() for a in per)
            return state
        from ..qa.report import _region_matcher

        inputs: RegionConsensusInputs = ctx.options[self.name]
        cfg = ctx.config
        match = _region_matcher(cfg)
        kind = inputs.kind
        need = 3 if kind == "box" else min_annotators(kind)
        for item, per in human.items():
            if item in inputs.gold_items or len(per) < need:
                continue
            if kind == "box":
                state.rows.append(_box_item(self.label_set, item, per, weights, match=match, cfg=cfg))
            else:
                state.rows.append(consensus_item(
                    part, self.label_set, kind, item, {a: list(rs) for a, rs in per.items()}, weights, match=match,
                    iou_threshold=cfg.iou_threshold, taxonomy=cfg.taxonomy,
                    segmentation_method=cfg.segmentation_method))
        return state

    def merge(self, a: RegionConsensusState, b: RegionConsensusState) -> RegionConsensusState:
        return RegionConsensusState(annotators=a.annotators | b.annotators, rows=[*a.rows, *b.rows])

    def next_params(self, state: RegionConsensusState, ctx: Context) -> AnnotatorWeights | None:
        if ctx.params is not None:
            return None
        inputs: RegionConsensusInputs = ctx.options[self.name]
        if inputs.kind != "box":
            check_segmentation_method(ctx.config.segmentation_method)
        return annotator_weights(sorted(state.annotators), gold_scores=inputs.gold_scores,
                                 class_skills=inputs.class_skills)

    def finish(self, state: RegionConsensusState, ctx: Context) -> tuple[dict[str, Any], list[Discrepancy]]:
        inputs: RegionConsensusInputs = ctx.options[self.name]
        weights: AnnotatorWeights = ctx.params
        rows = sorted(state.rows, key=lambda r: r.item_id)  # the one-process loop's order
        if inputs.kind != "box":
            return consensus_block(inputs.kind, rows, weights,
                                   segmentation_method=ctx.config.segmentation_method), []
        iou = ctx.config.iou_threshold
        block = {"method": f"box fusion (strict-majority quorum, IoU >= {iou:g})",
                 "n_items": len(rows), "n_regions": sum(r.n_regions for r in rows),
                 "note": "annotators are compared with the fused boxes on items without gold",
                 **weights.to_dict()}
        return block, [d for r in rows for d in r.discrepancies]


def _xyxy(r: Record) -> tuple[float, float, float, float]:
    v = r.value
    return (v.x, v.y, v.x + v.width, v.y + v.height)  # type: ignore[union-attr]


def _box_item(name: str, item: str, per: Mapping[str, Sequence[Record]], weights: AnnotatorWeights, *,
              match: Any, cfg: Any) -> ItemConsensus:
    """One item's fused boxes (strict-majority quorum, each annotator weighted) and each
    annotator's discrepancies against them."""
    from dataclasses import replace

    from ..qa.consensus import fuse_boxes

    anns = sorted(per)
    boxes = [[r for r in per[a] if isinstance(r.value, Box) and not r.value.rotation] for a in anns]
    corners = [np.array([_xyxy(r) for r in b], dtype=float).reshape(-1, 4) for b in boxes]
    fused = fuse_boxes(corners, [[str(r.label) for r in b] for b in boxes], iou_threshold=cfg.iou_threshold,
                       reliability=weights.of(anns))
    consensus = [Record(item_id=item, annotator_id="consensus", label_set=name, source="consensus",
                        region_id=f"consensus-{k}",
                        value=Box(label=lab, x=float(x1), y=float(y1), width=float(x2 - x1),
                                  height=float(y2 - y1)))
                 for k, ((x1, y1, x2, y2), lab) in enumerate(zip(fused.boxes_xyxy, fused.labels, strict=True))]
    found: list[Discrepancy] = []
    for a, b in zip(anns, boxes, strict=True):
        m = match([r.value for r in consensus], [r.value for r in b])
        found.extend(d if d.annotator_id else replace(d, annotator_id=a)
                     for d in classify_match(m, consensus, b, taxonomy=cfg.taxonomy, against="consensus"))
    return ItemConsensus(item_id=item, n_regions=len(fused.labels),
                         tally=tuple((d.annotator_id, d.category) for d in found), discrepancies=tuple(found))


# --------------------------------------------------------------------------- box truth inference


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxTruthColumns:
    """One partition's box judgments of a label set as columns, in its grouping's order.

    Attributes:
        items: The partition's items of the grouping, in its order.
        box_item / box_annotator / box_xyxy / box_label: One entry per axis-aligned box: item
            index into ``items``, annotator, ``x1, y1, x2, y2``, label.
        view_item / view_annotator: One entry per (item, annotator) who looked.
        sizes: ``(width, height)`` of each item of the grouping that has both.
        n_rotated: Rotated boxes left out.
    """

    items: tuple[str, ...]
    box_item: npt.NDArray[np.int64]
    box_annotator: tuple[str, ...]
    box_xyxy: npt.NDArray[np.float64]
    box_label: tuple[str, ...]
    view_item: npt.NDArray[np.int64]
    view_annotator: tuple[str, ...]
    sizes: npt.NDArray[np.float64]
    n_rotated: int


@dataclass(slots=True)
class BoxTruthState:
    """The partitions' columns folded so far (O(judgments): the fit needs every box at once)."""

    parts: list[BoxTruthColumns] = field(default_factory=list)


def box_truth_columns(ds: Dataset, label_set: str) -> BoxTruthColumns:
    """The columns :class:`BoxTruthSection` keeps of a partition (the inputs
    :func:`~accord.core.qa.geometry_truth.box_judgments` reads, as codes and arrays)."""
    from ..qa.geometry_truth import box_judgments

    human = ds.grouped_view(label_set, source="human")
    j = box_judgments(human)
    items = tuple(human)
    code = {i: k for k, i in enumerate(items)}
    sizes = [(it.width, it.height) for it in (ds.items.get(i) for i in items) if it and it.width and it.height]
    return BoxTruthColumns(
        items=items, box_item=np.fromiter((code[i] for i in j.item_ids), dtype=np.int64, count=len(j.item_ids)),
        box_annotator=tuple(j.annotator_ids), box_xyxy=j.boxes_xyxy, box_label=tuple(str(x) for x in j.labels),
        view_item=np.fromiter((code[i] for i in j.views[0]), dtype=np.int64, count=len(j.views[0])),
        view_annotator=tuple(j.views[1]), sizes=np.array(sizes, dtype=np.float64).reshape(-1, 2),
        n_rotated=int(j.n_rotated_skipped))


class BoxTruthSection:
    """The ``truth_inference`` of one box label set: the geometry EM's summary, ``None`` with
    fewer than two annotators or no boxes (see the module docstring)."""

    stage = 2

    def __init__(self, label_set: str) -> None:
        self.label_set = label_set
        self.name = f"box_truth:{label_set}"

    def create(self, ctx: Context) -> BoxTruthState:
        return BoxTruthState()

    def add(self, state: BoxTruthState, part: Dataset, ctx: Context) -> BoxTruthState:
        state.parts.append(box_truth_columns(part, self.label_set))
        return state

    def merge(self, a: BoxTruthState, b: BoxTruthState) -> BoxTruthState:
        return BoxTruthState(parts=[*a.parts, *b.parts])

    def next_params(self, state: BoxTruthState, ctx: Context) -> None:
        return None

    def finish(self, state: BoxTruthState, ctx: Context) -> dict[str, Any] | None:
        from ..qa.geometry_truth import box_truth_em, box_truth_summary

        j = self.judgments(state, ctx)
        if len(set(j.annotator_ids)) < 2 or len(j.item_ids) == 0:
            return None
        sizes = np.concatenate([np.zeros((0, 2)), *(p.sizes for p in state.parts)])
        frame = (float(np.median(sizes[:, 0])), float(np.median(sizes[:, 1]))) if len(sizes) else None
        cfg = ctx.config
        try:
            res = box_truth_em(j.item_ids, j.annotator_ids, j.boxes_xyxy, j.labels, views=j.views,
                               iou_threshold=cfg.iou_threshold, frame_wh=frame, seed=0)
        except AccordError as e:
            return {"model": "box_truth_em", "note": f"not estimated: {e}"}
        out = box_truth_summary(res)
        out.pop("objects", None)
        out["n_rotated_skipped"] = int(j.n_rotated_skipped)
        out["note"] = ("an EM over candidate objects: per annotator a miss rate, a Poisson false-positive rate and "
                       "Gaussian edge noise (sigma in units of the object's sqrt(w*h)); intervals conditional on "
                       "the fitted posteriors")
        return out

    def judgments(self, state: BoxTruthState, ctx: Context) -> BoxJudgments:
        """The fit's inputs from the merged columns: every box and view in the dataset's item
        order (``ctx.order``), each item's in its grouping's order, as
        :func:`~accord.core.qa.geometry_truth.box_judgments` gives them for the whole dataset."""
        from ..qa.geometry_truth import BoxJudgments

        parts = [p for p in state.parts if p.items]
        items = [i for p in parts for i in p.items]
        offsets = np.cumsum([0, *(len(p.items) for p in parts)])[:-1].tolist()
        box_item = np.concatenate([np.zeros(0, np.int64), *(p.box_item + o for p, o in zip(parts, offsets,
                                                                                          strict=True))])
        view_item = np.concatenate([np.zeros(0, np.int64), *(p.view_item + o for p, o in zip(parts, offsets,
                                                                                            strict=True))])
        rank = np.empty(len(items), dtype=np.int64)
        rank[order_of(ctx, items).argsort(items)] = np.arange(len(items))  # each item's place in the dataset
        boxes = np.argsort(rank[box_item], kind="stable").tolist()  # an item's boxes keep their order
        views = np.argsort(rank[view_item], kind="stable").tolist()
        annotators = [a for p in parts for a in p.box_annotator]
        labels = [lab for p in parts for lab in p.box_label]
        viewers = [a for p in parts for a in p.view_annotator]
        xyxy = np.concatenate([np.zeros((0, 4)), *(p.box_xyxy for p in parts)])
        return BoxJudgments(item_ids=[items[k] for k in box_item[boxes].tolist()],
                            annotator_ids=[annotators[k] for k in boxes], boxes_xyxy=xyxy[boxes],
                            labels=[labels[k] for k in boxes],
                            views=([items[k] for k in view_item[views].tolist()], [viewers[k] for k in views]),
                            n_rotated_skipped=sum(p.n_rotated for p in state.parts))
