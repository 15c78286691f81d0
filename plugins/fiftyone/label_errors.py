"""Probable label errors in a FiftyOne classification field (confident learning, :mod:`accord.core.qa.label_errors`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from accord.core.errors import InvalidAnnotationError, SchemaError
from accord.core.matching.base import box_iou_matrix, match_similarity
from accord.core.qa.label_errors import find_label_issues

from .fields import _fields_kind, _none_like, _read_list_field, _remember, _tag_and_save, _Units, _write_label_attrs
from .values import _xyxy


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


def _softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


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
