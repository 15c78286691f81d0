"""Each annotator scored against gold the way each data type's own field scores a system:
COCO AP / AR for boxes and masks, the diarization error rate for speaker turns.

The gold section scores regions by one-to-one matching at one IoU threshold (precision,
recall, F1 with Wilson intervals). A CVAT or FiftyOne user also reads COCO's figures:
AP over IoU 0.50:0.95, AP50, AP75 and AR@100, computed here by
:func:`~accord.core.matching.coco_eval.coco_evaluate` (the pycocotools definition; tested
against it), with each gold item an image, the gold regions its ground truth and the
annotator's regions its detections.

Human regions usually carry no score: each then counts as 1.0, so the precision / recall
curve has one operating point per IoU threshold and AP is the area under COCO's
interpolation of it; equal scores are ranked in the dataset's record order per item, as
pycocotools ranks equal scores in input order. A region's ``score``, where the tool stores
one, ranks it. An item counts as one of the annotator's images only where they submitted
it (an empty submission is an image with no detections). Boxes
(axis-aligned) and masks only, as COCO defines them; other kinds say why they have no
figures.

Speaker turns (segments with a ``speaker``): each annotator's corpus diarization error rate
against gold (NIST's definition, :func:`~accord.core.matching.segments.diarization_errors`:
the candidate's speakers mapped one-to-one onto gold's per recording to maximise co-speaking
time, then missed + false alarm + confusion over the gold speech time, summed over the gold
items the annotator labelled), with its three components.
"""

from __future__ import annotations

from typing import Any

from ..matching.segments import DiarizationErrors, diarization_errors
from ..model import Dataset, Segment
from .gold import reference_by_item
from .model_eval import evaluate_regions

__all__ = ["annotators_vs_gold_coco", "annotators_vs_gold_der"]


def annotators_vs_gold_coco(dataset: Dataset, label_set: str) -> dict[str, dict[str, Any]]:
    """``{annotator: {"n_images", "AP", "AP50", "AP75", "AR_100"}}`` on the gold items each
    annotator labelled (or ``{"n_images", "note"}`` where COCO does not apply); empty
    without gold for ``label_set``."""
    gold = reference_by_item(dataset, label_set)
    if not gold:
        return {}
    human = dataset.grouped(label_set, source="human")
    out: dict[str, dict[str, Any]] = {}
    for ann in dataset.annotators():
        images = [(item, ref, human[item][ann]) for item, ref in sorted(gold.items())
                  if ann in human.get(item, {})]
        if not images:
            continue
        ev = evaluate_regions(images)
        row: dict[str, Any] = {"n_images": len(images)}
        if ev.coco is None:
            row["note"] = ev.coco_note
        else:
            row.update({k: (None if v is None else round(v, 6)) for k, v in ev.coco.items()})
        out[ann] = row
    return out


def _turns(records: Any) -> list[Segment]:
    return [r.value for r in records if isinstance(r.value, Segment) and r.value.speaker]


def annotators_vs_gold_der(dataset: Dataset, label_set: str) -> dict[str, dict[str, Any]]:
    """``{annotator: {"n_items", "der", "missed", "false_alarm", "confusion", "total"}}`` (rates
    of the gold speech time; ``total`` in the segments' unit) on the gold items with speaker
    turns each annotator labelled; empty where gold has no speaker turns."""
    gold = {item: turns for item, recs in reference_by_item(dataset, label_set).items()
            if (turns := _turns(recs))}
    if not gold:
        return {}
    human = dataset.grouped(label_set, source="human")
    out: dict[str, dict[str, Any]] = {}
    for ann in dataset.annotators():
        items = [item for item in sorted(gold) if ann in human.get(item, {})]
        if not items:
            continue
        total = DiarizationErrors(total=0.0, missed=0.0, false_alarm=0.0, confusion=0.0, correct=0.0, mapping=())
        for item in items:
            total = total + diarization_errors(gold[item], _turns(human[item][ann]))

        def rate(x: float, t: float = total.total) -> float | None:
            return round(x / t, 6) if t > 0 else None

        out[ann] = {"n_items": len(items), "der": rate(total.missed + total.false_alarm + total.confusion),
                    "missed": rate(total.missed), "false_alarm": rate(total.false_alarm),
                    "confusion": rate(total.confusion), "total": round(total.total, 6)}
    return out
