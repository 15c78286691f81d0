"""Model-vs-human scores: how well a model's predictions agree with the human labels.

With one human and a model, inter-annotator agreement is undefined, but the
model's predictions can still be scored against the humans. The human side is
the **reference**, the model the **candidate**:

* classes (:func:`evaluate_classification`): accuracy with a Wilson interval,
  per-class precision / recall / F1 and their unweighted mean (macro-F1), and
  calibration of the prediction score (:func:`calibration`);
* regions (:func:`evaluate_regions`): precision / recall / F1 of one-to-one,
  label-aware matching at an IoU threshold (any region kind the matching
  registry knows), plus COCO AP@[.5:.95], AP50, AP75 and AR@100
  (:func:`~accord.core.matching.coco_eval.coco_evaluate`) for axis-aligned boxes
  and masks, the model's scores ranking its detections;
* spans (:func:`evaluate_spans`): span precision / recall / F1, exact offsets
  and equal labels (:func:`~accord.core.matching.spans.span_scores`).

Per-class figures follow scikit-learn's ``precision_recall_fscore_support``
with ``zero_division=0``: labels are every label seen on either side, sorted;
a ratio with a zero denominator is 0.

Calibration uses the **top-class confidence**: the model's score for the class
it predicted, ``c_i`` in [0, 1], and ``y_i = 1`` when that class equals the
reference. Predictions are put into ``M = 10`` equal-width bins
``B_m = ((m-1)/M, m/M]`` (a confidence of exactly 0 joins the first bin), and

* expected calibration error (Guo et al. 2017, eq. 3):
  ``ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|`` with ``acc`` the fraction
  correct and ``conf`` the mean confidence in the bin; 0 is perfectly calibrated;
* Brier loss of the top-class confidence: ``mean((c_i - y_i)^2)`` in [0, 1]
  (the binary Brier score of "the prediction is right"; lower is better).

Region scoring splits by image: :func:`region_image` matches one image and keeps its counts and
COCO rows, :func:`regions_of` sums them and runs COCO over all images
(:func:`evaluate_regions` is the two in one process; the report's
:class:`~accord.core.report.model_eval.ModelVsHumanSection` runs :func:`region_image` per partition).

References:
    Guo, Pleiss, Sun, Weinberger (2017), "On Calibration of Modern Neural
    Networks", ICML. Brier (1950), "Verification of forecasts expressed in terms
    of probability", Monthly Weather Review. Lin et al. (2014), COCO.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import AccordError, InvalidAnnotationError
from ..matching.coco_eval import IouType, coco_evaluate
from ..matching.geometry import match_regions
from ..matching.spans import SpanScores, span_scores
from ..model import Box, Mask, Record, Span, value_label
from .intervals import Rate, rate

__all__ = [
    "Calibration",
    "ClassCounts",
    "ClassificationEval",
    "CocoRows",
    "RegionEval",
    "RegionImage",
    "ReliabilityBin",
    "calibration",
    "coco_rows",
    "evaluate_classification",
    "evaluate_regions",
    "evaluate_spans",
    "region_image",
    "regions_of",
]

FloatArray = npt.NDArray[np.float64]


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassCounts:
    """One class's counts: ``tp`` correct predictions of it, ``n_reference`` (support), ``n_candidate``."""

    label: str
    tp: int
    n_reference: int
    n_candidate: int

    def precision_score(self) -> float:
        """tp / n_candidate; 0 when the model never predicted the class."""
        return _ratio(self.tp, self.n_candidate)

    def recall_score(self) -> float:
        """tp / n_reference; 0 when the humans never gave the class."""
        return _ratio(self.tp, self.n_reference)

    def f1_score(self) -> float:
        """2 tp / (n_reference + n_candidate); 0 when both are 0."""
        return _ratio(2 * self.tp, self.n_reference + self.n_candidate)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReliabilityBin:
    """One reliability-diagram bin ``(low, high]``: raw counts and the confidence sum."""

    low: float
    high: float
    n: int
    n_correct: int
    confidence_sum: float

    @property
    def accuracy(self) -> float:
        """Fraction correct in the bin; NaN when empty."""
        return self.n_correct / self.n if self.n else math.nan

    @property
    def mean_confidence(self) -> float:
        """Mean top-class confidence in the bin; NaN when empty."""
        return self.confidence_sum / self.n if self.n else math.nan


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """Calibration of the top-class confidence (see the module docstring for the definitions)."""

    bins: tuple[ReliabilityBin, ...]
    n: int
    expected_calibration_error: float
    brier_loss: float


def calibration(confidence: npt.ArrayLike, correct: npt.ArrayLike, *, n_bins: int = 10) -> Calibration:
    """ECE over ``n_bins`` equal-width bins and the Brier loss of top-class confidences.

    Args:
        confidence: The model's score for its predicted class, each in [0, 1].
        correct: Whether each prediction equals the reference (bools or 0/1).
        n_bins: Equal-width bins ``((m-1)/M, m/M]`` (Guo et al. 2017); at least 1.

    Returns:
        A :class:`Calibration`; ECE and Brier are NaN when there are no predictions.

    Raises:
        InvalidAnnotationError: Lengths differ, a confidence is outside [0, 1] or not
            finite, or ``n_bins < 1``.

    >>> c = calibration([0.9, 0.9, 0.6, 0.6], [1, 0, 1, 1])
    >>> round(c.expected_calibration_error, 6), round(c.brier_loss, 6)
    (0.4, 0.285)
    """
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    ok = np.asarray(correct, dtype=bool).reshape(-1)
    if conf.size != ok.size:
        raise InvalidAnnotationError(
            f"confidence and correct must have the same length, got {conf.size} and {ok.size}")
    if not np.isfinite(conf).all() or ((conf < 0) | (conf > 1)).any():
        raise InvalidAnnotationError("confidences must be finite numbers in [0, 1]; rescale the model's scores")
    if n_bins < 1:
        raise InvalidAnnotationError(f"n_bins must be at least 1, got {n_bins!r}")
    # Bin m (1-based) holds (m-1)/M < c <= m/M; c == 0 goes to the first bin.
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    n_b = np.bincount(idx, minlength=n_bins)
    hit_b = np.bincount(idx, weights=ok.astype(np.float64), minlength=n_bins)
    conf_b = np.bincount(idx, weights=conf, minlength=n_bins)
    bins = tuple(ReliabilityBin(low=m / n_bins, high=(m + 1) / n_bins, n=int(n_b[m]), n_correct=int(hit_b[m]),
                                confidence_sum=float(conf_b[m])) for m in range(n_bins))
    n = int(conf.size)
    if n == 0:
        return Calibration(bins=bins, n=0, expected_calibration_error=math.nan, brier_loss=math.nan)
    ece = float(np.sum(np.abs(hit_b - conf_b)) / n)  # sum |B|/n * |acc - conf| = sum |hits - conf sum| / n
    brier = float(np.mean((conf - ok) ** 2))
    return Calibration(bins=bins, n=n, expected_calibration_error=ece, brier_loss=brier)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassificationEval:
    """A model's class predictions scored against reference (human) labels.

    Attributes:
        n_items: Items with both a reference label and a prediction (the scored items).
        n_correct: Of those, predictions equal to the reference.
        accuracy: ``n_correct / n_items`` with its interval.
        per_class: Counts per label, every label seen on either side, sorted.
        n_unpredicted: Reference items the model gave no prediction for (not scored).
        n_unreferenced: Predictions on items without a reference label (not scored).
        calibration: Over the scored items whose prediction has a score in [0, 1];
            ``None`` when none has.
        n_unscored: Scored items whose prediction has no usable score.
    """

    n_items: int
    n_correct: int
    accuracy: Rate
    per_class: tuple[ClassCounts, ...]
    n_unpredicted: int
    n_unreferenced: int
    calibration: Calibration | None
    n_unscored: int

    def macro_f1_score(self) -> float:
        """Unweighted mean of per-class F1 (scikit-learn's ``average="macro"``); NaN without labels."""
        return float(np.mean([c.f1_score() for c in self.per_class])) if self.per_class else math.nan


def evaluate_classification(reference: Mapping[str, str], candidate: Mapping[str, tuple[str, float | None]], *,
                            confidence: float = 0.95, n_bins: int = 10) -> ClassificationEval:
    """Score class predictions against reference labels, item by item.

    Args:
        reference: ``{item_id: label}`` from the humans (consensus, or the single human).
        candidate: ``{item_id: (label, score)}`` from the model; ``score`` is its
            confidence in that label, or ``None``.
        confidence: Level of the accuracy's Wilson interval.
        n_bins: Calibration bins.

    Returns:
        A :class:`ClassificationEval`.

    >>> e = evaluate_classification({"a": "x", "b": "y", "c": "y"},
    ...                             {"a": ("x", 0.9), "b": ("x", 0.8), "c": ("y", None)})
    >>> e.n_correct, e.n_items, round(e.macro_f1_score(), 4), e.n_unscored
    (2, 3, 0.6667, 1)
    """
    items = sorted(set(reference) & set(candidate))
    tp: dict[str, int] = {}
    n_ref: dict[str, int] = {}
    n_cand: dict[str, int] = {}
    conf: list[float] = []
    ok: list[bool] = []
    n_correct = 0
    n_unscored = 0
    for i in items:
        ref = reference[i]
        lab, score = candidate[i]
        hit = lab == ref
        n_correct += hit
        n_ref[ref] = n_ref.get(ref, 0) + 1
        n_cand[lab] = n_cand.get(lab, 0) + 1
        if hit:
            tp[lab] = tp.get(lab, 0) + 1
        if score is not None and math.isfinite(score) and 0.0 <= score <= 1.0:
            conf.append(float(score))
            ok.append(hit)
        else:
            n_unscored += 1
    labels = sorted(set(n_ref) | set(n_cand))
    per = tuple(ClassCounts(label=lb, tp=tp.get(lb, 0), n_reference=n_ref.get(lb, 0),
                            n_candidate=n_cand.get(lb, 0)) for lb in labels)
    cal = calibration(conf, ok, n_bins=n_bins) if conf else None
    return ClassificationEval(n_items=len(items), n_correct=n_correct,
                              accuracy=rate(n_correct, len(items), confidence=confidence), per_class=per,
                              n_unpredicted=len(set(reference) - set(candidate)),
                              n_unreferenced=len(set(candidate) - set(reference)), calibration=cal,
                              n_unscored=n_unscored)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionEval:
    """A model's regions scored against reference (human) regions.

    Attributes:
        n_images: Evaluated (item, human) pairs.
        iou_threshold: Matching threshold of the counts.
        tp / n_reference / n_candidate: Label-aware one-to-one matches at the threshold,
            summed over images, and the region totals.
        per_label: The same counts per label (a reference's label, a candidate's label).
        coco: COCO summary figures (``AP``, ``AP50``, ``AP75``, ``AR_100``; ``None`` where
            undefined), or ``None`` when COCO evaluation does not apply.
        coco_note: Why COCO figures are absent, when they are.
    """

    n_images: int
    iou_threshold: float
    tp: int
    n_reference: int
    n_candidate: int
    per_label: tuple[ClassCounts, ...]
    coco: Mapping[str, float | None] | None
    coco_note: str | None

    def precision_score(self) -> float:
        """tp / n_candidate; NaN without candidate regions."""
        return self.tp / self.n_candidate if self.n_candidate else math.nan

    def recall_score(self) -> float:
        """tp / n_reference; NaN without reference regions."""
        return self.tp / self.n_reference if self.n_reference else math.nan

    def f1_score(self) -> float:
        """2 tp / (n_reference + n_candidate); NaN when neither side has regions."""
        d = self.n_reference + self.n_candidate
        return 2 * self.tp / d if d else math.nan


_COCO_KEYS = ("AP", "AP50", "AP75", "AR_100")


@dataclass(frozen=True, slots=True, kw_only=True)
class CocoRows:
    """One side of one image as COCO evaluation reads it (plain, picklable tuples; the arrays are
    made once, over every image, by :func:`regions_of`).

    Attributes:
        category: Each region's label.
        bbox: ``(x, y, width, height)`` of each box (zeros for other values).
        score: The model's score (1.0 where none).
        iscrowd: ``attributes["iscrowd"]``.
        masks: The Mask values, kept only where the whole image (both sides) holds masks
            (COCO ``segm`` needs them).
    """

    category: tuple[str, ...]
    bbox: tuple[tuple[float, float, float, float], ...]
    score: tuple[float, ...]
    iscrowd: tuple[bool, ...]
    masks: tuple[Mask, ...] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionImage:
    """One evaluated image of :func:`evaluate_regions`: its match counts and COCO rows.

    Attributes:
        key: The image key.
        tp / n_reference / n_candidate: Label-aware one-to-one matches and region counts.
        table: ``(label, tp, n_reference, n_candidate)`` per label seen in the image.
        kinds: The value kinds on either side.
        n_values / n_boxes / n_masks / rotated: Values on both sides, how many are boxes and
            masks, whether a box is rotated (which COCO figures apply).
        reference / candidate: The COCO rows of each side.
    """

    key: str
    tp: int
    n_reference: int
    n_candidate: int
    table: tuple[tuple[str, int, int, int], ...]
    kinds: frozenset[str]
    n_values: int
    n_boxes: int
    n_masks: int
    rotated: bool
    reference: CocoRows
    candidate: CocoRows


_NO_ROWS = {keep: CocoRows(category=(), bbox=(), score=(), iscrowd=(), masks=() if keep else None)
            for keep in (False, True)}


def coco_rows(records: Sequence[Record], *, keep_masks: bool) -> CocoRows:
    """The COCO rows of one side of an image (masks kept only with ``keep_masks``; an empty side
    is one shared object, so a state pickles it once)."""
    if not records:
        return _NO_ROWS[keep_masks]
    return CocoRows(
        category=tuple(str(value_label(r.value)) for r in records),
        bbox=tuple((r.value.x, r.value.y, r.value.width, r.value.height) if isinstance(r.value, Box)
                   else (0.0, 0.0, 0.0, 0.0) for r in records),
        score=tuple(1.0 if r.score is None else float(r.score) for r in records),
        iscrowd=tuple(bool(r.attributes.get("iscrowd", False)) for r in records),
        masks=tuple(r.value for r in records if isinstance(r.value, Mask)) if keep_masks else None)


def region_image(key: str, ref: Sequence[Record], cand: Sequence[Record], *, iou_threshold: float = 0.5,
                 options: Mapping[str, Any] | None = None, reference_rows: CocoRows | None = None) -> RegionImage:
    """Match one image's regions (label-aware, at ``iou_threshold``) and keep its COCO rows.

    :func:`evaluate_regions` is :func:`regions_of` of these, image by image. ``reference_rows``:
    ``coco_rows(ref, keep_masks=...)`` made already (one human's image scored against several
    models shares them), used when its masks are kept exactly when this image keeps them.
    """
    m = match_regions([r.value for r in ref], [r.value for r in cand], iou_threshold=iou_threshold,
                      label_aware=True, options=options)
    table: dict[str, list[int]] = {}

    def add(label: str, k: int) -> None:
        table.setdefault(label, [0, 0, 0])[k] += 1

    for i, _j in m.pairs:
        add(str(value_label(ref[i].value)), 0)
    for r in ref:
        add(str(value_label(r.value)), 1)
    for r in cand:
        add(str(value_label(r.value)), 2)
    values = [r.value for r in (*ref, *cand)]
    n_masks = sum(isinstance(v, Mask) for v in values)
    keep = n_masks == len(values)
    if reference_rows is None or (reference_rows.masks is not None) != keep:
        reference_rows = coco_rows(ref, keep_masks=keep)
    return RegionImage(key=key, tp=m.tp, n_reference=len(ref), n_candidate=len(cand),
                       table=tuple((lb, *v) for lb, v in table.items()),  # type: ignore[misc]
                       kinds=frozenset(v.kind for v in values), n_values=len(values),
                       n_boxes=sum(isinstance(v, Box) for v in values), n_masks=n_masks,
                       rotated=any(v.rotation != 0.0 for v in values if isinstance(v, Box)),
                       reference=reference_rows, candidate=coco_rows(cand, keep_masks=keep))


def _coco(images: Sequence[RegionImage]) -> tuple[dict[str, float | None] | None, str | None]:
    n = sum(im.n_values for im in images)
    if not n:
        return None, "no regions on either side"
    if sum(im.n_boxes for im in images) == n:
        if any(im.rotated for im in images):
            return None, "rotated boxes: COCO AP is defined for axis-aligned boxes only"
        iou_type: IouType = "bbox"
    elif sum(im.n_masks for im in images) == n:
        iou_type = "segm"
    else:
        return None, f"COCO AP applies to boxes and masks, not {sorted(set().union(*(im.kinds for im in images)))}"

    def table(side: str) -> dict[str, Any]:
        rows = [(im.key, getattr(im, side)) for im in images]
        out: dict[str, Any] = {
            "image_id": np.asarray([k for k, c in rows for _ in c.category], dtype=object),
            "category": np.asarray([x for _, c in rows for x in c.category], dtype=object),
            "bbox": np.asarray([b if iou_type == "bbox" else (0.0, 0.0, 0.0, 0.0) for _, c in rows for b in c.bbox],
                               dtype=np.float64).reshape(-1, 4),
            "score": np.asarray([x for _, c in rows for x in c.score], dtype=np.float64),
            "iscrowd": np.asarray([x for _, c in rows for x in c.iscrowd], dtype=bool),
        }
        if iou_type == "segm":
            out["segmentation"] = [x for _, c in rows for x in (c.masks or ())]
        return out

    res = coco_evaluate(table("reference"), table("candidate"), iou_type=iou_type,
                        image_ids=[im.key for im in images])
    stats = res.as_dict()
    return {k: (None if stats[k] < 0 else float(stats[k])) for k in _COCO_KEYS}, None


def regions_of(images: Sequence[RegionImage], *, iou_threshold: float = 0.5) -> RegionEval:
    """The :class:`RegionEval` of matched images (counts summed, COCO figures over every image, in
    the order given)."""
    tp = n_ref = n_cand = 0
    table: dict[str, list[int]] = {}
    for im in images:
        tp += im.tp
        n_ref += im.n_reference
        n_cand += im.n_candidate
        for label, *counts in im.table:
            row = table.setdefault(label, [0, 0, 0])
            for k in range(3):
                row[k] += counts[k]
    coco, note = _coco(images)
    per = tuple(ClassCounts(label=lb, tp=v[0], n_reference=v[1], n_candidate=v[2]) for lb, v in sorted(table.items()))
    return RegionEval(n_images=len(images), iou_threshold=iou_threshold, tp=tp, n_reference=n_ref,
                      n_candidate=n_cand, per_label=per, coco=coco, coco_note=note)


def evaluate_regions(images: Sequence[tuple[str, Sequence[Record], Sequence[Record]]], *,
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
    return regions_of([region_image(key, ref, cand, iou_threshold=iou_threshold, options=options)
                       for key, ref, cand in images], iou_threshold=iou_threshold)


def evaluate_spans(documents: Sequence[tuple[Sequence[Record], Sequence[Record]]]) -> SpanScores:
    """Span P/R/F1 (exact offsets, equal labels) of model spans against reference spans, per document.

    Raises:
        InvalidAnnotationError: A record does not hold a :class:`~accord.core.model.Span`.
    """
    docs: list[tuple[list[Span], list[Span]]] = []
    for ref, cand in documents:
        sides: list[list[Span]] = []
        for side in (ref, cand):
            spans = []
            for r in side:
                if not isinstance(r.value, Span):
                    raise InvalidAnnotationError(
                        f"span scoring needs span values, got {r.value.kind!r} in item {r.item_id!r}")
                spans.append(r.value)
            sides.append(spans)
        docs.append((sides[0], sides[1]))
    return span_scores(docs)


# --------------------------------------------------------------------------- the report section


def _num(v: float, digits: int = 6) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), digits)


def _counts_dict(c: ClassCounts) -> dict[str, Any]:
    return {"tp": c.tp, "n_reference": c.n_reference, "n_candidate": c.n_candidate,
            "precision": _num(c.precision_score()), "recall": _num(c.recall_score()), "f1": _num(c.f1_score())}


def _calibration_dict(c: Calibration | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"n": c.n, "n_bins": len(c.bins), "ece": _num(c.expected_calibration_error),
            "brier": _num(c.brier_loss),
            "bins": [{"low": _num(b.low), "high": _num(b.high), "n": b.n, "n_correct": b.n_correct,
                      "accuracy": _num(b.accuracy), "mean_confidence": _num(b.mean_confidence)} for b in c.bins]}


def classification_dict(e: ClassificationEval) -> dict[str, Any]:
    """The JSON form of a :class:`ClassificationEval`."""
    a = e.accuracy
    return {"n_items": e.n_items, "n_correct": e.n_correct,
            "accuracy": {"estimate": _num(a.estimate), "low": _num(a.low), "high": _num(a.high), "n": a.n,
                         "method": a.method, "confidence": a.confidence},
            "macro_f1": _num(e.macro_f1_score()),
            "per_class": {c.label: _counts_dict(c) for c in e.per_class},
            "n_unpredicted": e.n_unpredicted, "n_unreferenced": e.n_unreferenced,
            "n_unscored": e.n_unscored, "calibration": _calibration_dict(e.calibration)}


def region_dict(e: RegionEval) -> dict[str, Any]:
    """The JSON form of a :class:`RegionEval`."""
    return {"n_images": e.n_images, "iou_threshold": e.iou_threshold, "tp": e.tp, "n_reference": e.n_reference,
            "n_candidate": e.n_candidate, "precision": _num(e.precision_score()), "recall": _num(e.recall_score()),
            "f1": _num(e.f1_score()), "per_label": {c.label: _counts_dict(c) for c in e.per_label},
            "coco": None if e.coco is None else {k: _num(v) if v is not None else None for k, v in e.coco.items()},
            **({"coco_note": e.coco_note} if e.coco_note else {})}


def span_dict(s: SpanScores) -> dict[str, Any]:
    """The JSON form of :class:`~accord.core.matching.spans.SpanScores`."""
    m = s.micro
    return {"match": "exact offsets and equal labels", "tp": m.tp, "n_reference": m.n_reference,
            "n_candidate": m.n_candidate, "precision": _num(m.precision_score()), "recall": _num(m.recall_score()),
            "f1": _num(m.f1_score()), "macro_f1": _num(s.macro_f1_score()),
            "per_label": {lb: {"tp": c.tp, "n_reference": c.n_reference, "n_candidate": c.n_candidate,
                               "precision": _num(c.precision_score()), "recall": _num(c.recall_score()),
                               "f1": _num(c.f1_score())} for lb, c in s.per_label.items()}}


def _top(records: Sequence[Record]) -> Record:
    """The model's prediction for an item: its highest-scored record (first on ties or no scores)."""
    return max(records, key=lambda r: -math.inf if r.score is None else r.score)


def model_vs_human(dataset: Any, *, consensus: Mapping[str, Mapping[str, str]] | None = None,
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
                            top = _top(recs)
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
                    entry["models"][m] = region_dict(evaluate_regions(
                        images, iou_threshold=iou_threshold, options=options if kind == "keypoints" else None))
            else:
                entry["note"] = f"{kind} label sets are not scored against the humans yet"
        except AccordError as e:  # an unknown region kind, a keypoint without sigma, ...
            entry["undefined"] = str(e)
        out[name] = entry
    return out


def headline_lines(section: Mapping[str, Any], agreement: Mapping[str, Any]) -> list[tuple[float, str]]:
    """Headline lines for label sets whose agreement is undefined but a model was scored.

    Impact is the scored items (or images), so the lines rank with the report's others.
    """
    out: list[tuple[float, str]] = []
    for name, entry in section.items():
        a = agreement.get(name) or {}
        if a.get("primary") is not None:
            continue
        for m, s in entry.get("models", {}).items():
            who = m if m.startswith("model") else f"model {m}"
            lead = f"{name}: agreement is undefined (fewer than two humans per item); {who} vs the human(s): "
            if "accuracy" in s:
                acc = s["accuracy"]
                if acc["estimate"] is None:
                    continue
                cal = s.get("calibration") or {}
                ece = f", ECE {cal['ece']:.3f}" if cal.get("ece") is not None else ""
                out.append((float(s["n_items"]),
                            f"{lead}accuracy {acc['estimate']:.3f} [{acc['low']:.3f}, {acc['high']:.3f}], "
                            f"macro-F1 {s['macro_f1']:.3f}{ece} (n={s['n_items']}; see model_vs_human)."))
            elif s.get("f1") is not None:
                coco = s.get("coco") or {}
                ap = f", COCO AP {coco['AP']:.3f}" if coco.get("AP") is not None else ""
                n = s.get("n_images", s.get("n_documents", 0))
                out.append((float(n), f"{lead}F1 {s['f1']:.3f}{ap} (n={n}; see model_vs_human)."))
    return out
