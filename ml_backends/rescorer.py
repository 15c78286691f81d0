"""Online training for image detectors: a per-class logistic re-scorer fitted on annotated boxes.

A detector's own score often misses a systematic error (the ``contours`` baseline scores a
speck of dust as highly as an object; a pretrained detector fires on one kind of background).
After annotators have corrected some tasks, :func:`fit_rescorer` learns, for each detector
label, a logistic regression that predicts *"an annotator kept this box"* from the box's

* detector ``score``,
* ``log_area``: log of the box area as a fraction of the image area,
* ``log_aspect``: log of width over height,

each standardised by the training mean and standard deviation. The training target of a
predicted box is 1 when it matches an annotated box of the same label with IoU at least
``iou_threshold`` (one-to-one, Hungarian: :func:`accord.core.matching.base.match_similarity`),
else 0. The fit is Newton's method on the L2-penalised log-likelihood (the bias is not
penalised), numpy only. A label whose examples are all of one outcome gets a constant head
(Laplace's rule, ``(positives + 1) / (examples + 2)``); a label with no examples keeps the
detector's score.

:meth:`BoxRescorer.rescore` replaces each geometric prediction's score by the head's
probability (polygons, masks and keypoints by their bounding box, so a blob's box, outline and
mask keep one score) and drops those under ``threshold``; tags pass unchanged.

It is stored as a :class:`~accord.ml_backends.label_studio.state.SavedModel` (a JSON header and
numeric arrays in an ``.npz``, never a pickle); :meth:`BoxRescorer.from_saved` checks the format,
the shapes and that every number is finite, and raises one :class:`~accord.core.errors.AccordError`
line otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core.errors import AccordError
from accord.core.matching.base import box_iou_matrix, match_similarity

from .predictor_spec import Prediction

FloatArray = npt.NDArray[np.float64]

__all__ = ["FEATURES", "BoxRescorer", "ClassHead", "box_features", "fit_logistic", "fit_rescorer", "label_examples"]

#: The features of a box, in the order of a head's weights (after the bias).
FEATURES = ("score", "log_area", "log_aspect")
FORMAT, FORMAT_VERSION = "accord-box-rescorer", 1
_DAMAGED = "the saved image re-scorer is damaged ({}); train again (press Train in Label Studio)"


def _bbox(p: Prediction) -> tuple[float, float, float, float] | None:
    """``(x1, y1, x2, y2)`` of a geometric prediction (a mask by its pixels), None for a tag or an empty one."""
    if p.kind == "mask" and p.mask is not None:
        ys, xs = np.nonzero(p.mask)
        if xs.size == 0:
            return None
        return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
    if not p.points:
        return None
    pts = np.asarray(p.points, dtype=np.float64)
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def box_features(p: Prediction, width: int, height: int) -> FloatArray | None:
    """The :data:`FEATURES` of one prediction's bounding box, or None for a tag (no geometry).

    A degenerate side counts as one pixel, so the logs stay finite.
    """
    box = _bbox(p)
    if box is None:
        return None
    x1, y1, x2, y2 = box
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    return np.array([float(p.score), math.log(w * h / max(width * height, 1)), math.log(w / h)])


def _sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow
    return out


def fit_logistic(x: npt.ArrayLike, y: npt.ArrayLike, *, l2: float = 1.0, iterations: int = 50) -> FloatArray:
    """Weights ``[bias, w_1, ..., w_k]`` of an L2-penalised logistic regression, by Newton's method.

    Minimises ``-sum(log-likelihood) + l2 / 2 * |w|^2`` (the bias unpenalised); stops when a
    step changes no weight by more than 1e-10.

    Example:
        >>> w = fit_logistic([[-2.0], [-1.0], [1.0], [2.0]], [0, 0, 1, 1], l2=1.0)
        >>> bool(w[1] > 0), round(float(w[0]), 6)
        (True, 0.0)
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim != 2 or ya.shape != (xa.shape[0],):
        raise AccordError(f"fit_logistic takes an n x k feature matrix and n labels, got {xa.shape} and {ya.shape}")
    design = np.column_stack([np.ones(len(xa)), xa])
    w = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], float(l2))
    penalty[0] = 1e-8  # keeps the Hessian invertible when every example has one outcome
    for _ in range(iterations):
        p = _sigmoid(design @ w)
        grad = design.T @ (p - ya) + penalty * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return w


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassHead:
    """The re-scorer of one detector label: ``sigmoid(weights . [1, (features - mean) / std])``.

    Attributes:
        label: The detector label it re-scores.
        weights: Bias then one weight per :data:`FEATURES` entry.
        mean: Training mean of each feature.
        std: Training standard deviation of each feature (1 where it was 0).
        n_examples: Predicted boxes it was fitted on.
        n_positive: How many of them matched an annotated box.
    """

    label: str
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    n_examples: int
    n_positive: int

    def probability(self, features: FloatArray) -> float:
        """The head's probability that a box with these features is kept by an annotator."""
        z = (np.asarray(features) - np.asarray(self.mean)) / np.asarray(self.std)
        w = np.asarray(self.weights)
        return float(_sigmoid(np.array(w[0] + w[1:] @ z)))


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxRescorer:
    """Per-label heads (:class:`ClassHead`) and the score under which a re-scored prediction is dropped."""

    heads: Mapping[str, ClassHead]
    threshold: float = 0.5
    iou_threshold: float = 0.5

    def rescore(self, preds: Sequence[Prediction], width: int, height: int) -> list[Prediction]:
        """``preds`` with each geometric prediction of a label that has a head re-scored; those under
        ``threshold`` left out. Tags and labels without a head pass unchanged."""
        out = []
        for p in preds:
            head = self.heads.get(p.label)
            f = box_features(p, width, height) if head is not None else None
            if head is None or f is None:
                out.append(p)
                continue
            prob = head.probability(f)
            if prob >= self.threshold:
                out.append(replace(p, score=min(max(prob, 0.0), 1.0)))
        return out

    def to_saved(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(JSON header, arrays)`` for a SavedModel: labels and counts in the header, numbers in arrays."""
        labels = sorted(self.heads)
        meta: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, "features": list(FEATURES),
                "threshold": self.threshold, "iou_threshold": self.iou_threshold,
                "classes": [{"label": k, "n_examples": self.heads[k].n_examples,
                             "n_positive": self.heads[k].n_positive} for k in labels]}
        k = len(FEATURES)
        arrays = {"weights": np.array([self.heads[x].weights for x in labels], dtype=np.float64).reshape(-1, k + 1),
                  "mean": np.array([self.heads[x].mean for x in labels], dtype=np.float64).reshape(-1, k),
                  "std": np.array([self.heads[x].std for x in labels], dtype=np.float64).reshape(-1, k)}
        return meta, arrays

    @classmethod
    def from_saved(cls, meta: Mapping[str, Any], arrays: Mapping[str, Any]) -> BoxRescorer:
        """Rebuild what :meth:`to_saved` wrote, checking every field.

        Raises:
            AccordError: another format or version, missing or mis-shaped arrays, a number that
                is not finite, a threshold outside (0, 1), or a standard deviation <= 0.
        """
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise AccordError(_DAMAGED.format(f"not an {FORMAT} model of format {FORMAT_VERSION}"))
        if list(meta.get("features") or []) != list(FEATURES):
            raise AccordError(_DAMAGED.format(f"features {meta.get('features')!r}, expected {list(FEATURES)}"))
        try:
            classes = list(meta["classes"])
            labels = [str(c["label"]) for c in classes]
            counts = [(int(c["n_examples"]), int(c["n_positive"])) for c in classes]
            threshold, iou = float(meta["threshold"]), float(meta["iou_threshold"])
            w, mean, std = (np.asarray(arrays[k], dtype=np.float64) for k in ("weights", "mean", "std"))
        except (KeyError, TypeError, ValueError) as e:
            raise AccordError(_DAMAGED.format(f"a field is missing or not a number: {type(e).__name__}")) from None
        n, k = len(labels), len(FEATURES)
        if w.shape != (n, k + 1) or mean.shape != (n, k) or std.shape != (n, k):
            raise AccordError(_DAMAGED.format(f"{n} classes but arrays of shapes {w.shape}, {mean.shape}, "
                                              f"{std.shape}"))
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
            raise AccordError(_DAMAGED.format("a weight is not a finite number"))
        if np.any(std <= 0) or not (0 < threshold < 1 and 0 < iou <= 1) or len(set(labels)) != n:
            raise AccordError(_DAMAGED.format("a standard deviation <= 0, a threshold outside (0, 1) or a "
                                              "repeated label"))
        if any(not 0 <= pos <= ex for ex, pos in counts):
            raise AccordError(_DAMAGED.format("class counts out of range"))
        heads = {lab: ClassHead(label=lab, weights=tuple(map(float, w[i])), mean=tuple(map(float, mean[i])),
                                std=tuple(map(float, std[i])), n_examples=counts[i][0], n_positive=counts[i][1])
                 for i, lab in enumerate(labels)}
        return cls(heads=heads, threshold=threshold, iou_threshold=iou)


def label_examples(preds: Sequence[Prediction], reference: Sequence[tuple[str, float, float, float, float]],
                   width: int, height: int, *, iou_threshold: float = 0.5,
                   label_of: Mapping[str, str] | None = None) -> list[tuple[str, FloatArray, int]]:
    """``(detector label, features, kept)`` for each box prediction of one image.

    Args:
        preds: The detector's predictions (only ``box`` ones are used).
        reference: Annotated boxes ``(label, x1, y1, x2, y2)`` in pixels.
        width, height: The image size.
        iou_threshold: Least IoU for a prediction to match an annotated box.
        label_of: Detector label -> annotation label (the names the control uses); same name when absent.
    """
    boxes = [p for p in preds if p.kind == "box" and len(p.points) == 2]
    if not boxes:
        return []
    names = dict(label_of or {})
    cand = np.array([[*p.points[0], *p.points[1]] for p in boxes], dtype=np.float64)
    ref = np.array([r[1:] for r in reference], dtype=np.float64).reshape(-1, 4)
    iou = box_iou_matrix(ref, cand) if len(ref) else np.zeros((0, len(boxes)))
    match = match_similarity(iou, threshold=iou_threshold, reference_labels=[r[0] for r in reference],
                             candidate_labels=[names.get(p.label, p.label) for p in boxes], label_aware=True)
    kept = {j for _, j in match.pairs}
    out = []
    for j, p in enumerate(boxes):
        f = box_features(p, width, height)
        if f is not None:
            out.append((p.label, f, int(j in kept)))
    return out


def fit_rescorer(examples: Sequence[tuple[str, FloatArray, int]], *, threshold: float = 0.5,
                 iou_threshold: float = 0.5, l2: float = 1.0) -> BoxRescorer | None:
    """One :class:`ClassHead` per detector label from :func:`label_examples` rows; None without rows.

    Raises:
        AccordError: ``threshold`` outside (0, 1) or ``iou_threshold`` outside (0, 1].
    """
    if not 0 < threshold < 1 or not 0 < iou_threshold <= 1:
        raise AccordError(f"the re-scorer needs threshold in (0, 1) and iou_threshold in (0, 1], got "
                          f"{threshold!r} and {iou_threshold!r}")
    by_label: dict[str, list[tuple[FloatArray, int]]] = {}
    for label, f, kept in examples:
        by_label.setdefault(label, []).append((np.asarray(f, dtype=np.float64), int(kept)))
    if not by_label:
        return None
    heads = {}
    k = len(FEATURES)
    for label, rows in by_label.items():
        x = np.array([r[0] for r in rows]).reshape(-1, k)
        y = np.array([r[1] for r in rows], dtype=np.float64)
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std = np.where(std > 1e-9, std, 1.0)
        pos = int(y.sum())
        if 0 < pos < len(y):
            w = fit_logistic((x - mean) / std, y, l2=l2)
        else:  # one outcome only: a constant head (Laplace's rule of succession)
            prior = (pos + 1) / (len(y) + 2)
            w = np.concatenate([[math.log(prior / (1 - prior))], np.zeros(k)])
        heads[label] = ClassHead(label=label, weights=tuple(map(float, w)), mean=tuple(map(float, mean)),
                                 std=tuple(map(float, std)), n_examples=len(y), n_positive=pos)
    return BoxRescorer(heads=heads, threshold=threshold, iou_threshold=iou_threshold)
