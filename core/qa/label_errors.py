"""Label-error detection with confident learning.

Given each item's given (annotated) label and out-of-sample predicted class
probabilities (e.g. cross-validated), confident learning estimates the joint
distribution of given and true labels and flags the items most likely
mislabeled, without any gold data.

Written from the paper (Northcutt, Jiang & Chuang 2021), not from any
implementation; ``cleanlab`` is used only in the tests, as a differential peer.

Steps (section numbers of the paper):

1. Per-class thresholds ``t_j`` = mean self-confidence ``p(j | x)`` over the
   items labeled ``j`` (3.1).
2. The *confident joint* ``C[i, j]`` counts items labeled ``i`` whose
   probability of ``j`` reaches ``t_j``; an item above several thresholds goes
   to its most probable such class (3.1, Eq. 1). Items above no threshold are
   left out. Each diagonal cell is raised to at least 1 so every class keeps one
   correctly labeled item.
3. Calibration: rows rescaled to the given-label counts, then the whole matrix
   to ``n`` and rounded keeping row totals (3.1, Eq. 2). ``Q = C / n``.
4. Pruning (3.2): ``"prune_by_noise_rate"`` flags, for each off-diagonal cell
   ``(i, j)``, the ``C[i, j]`` items labeled ``i`` with the largest margin
   ``p(j | x) - p(i | x)``; ``"prune_by_class"`` flags, for each class ``i``,
   the ``n_i - C[i, i]`` items labeled ``i`` with the lowest ``p(i | x)``;
   ``"both"`` flags the intersection; ``"confident_learning"`` flags the
   items counted off the diagonal of the (uncalibrated) confident joint.
   In every variant an item whose given label is also the argmax of its
   probabilities is never flagged.

Reference:
    C. G. Northcutt, L. Jiang, I. L. Chuang (2021). Confident learning:
    estimating uncertainty in dataset labels. *Journal of Artificial
    Intelligence Research* 70, 1373-1411. https://doi.org/10.1613/jair.1.12125
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

FilterBy: TypeAlias = Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning"]
RankBy: TypeAlias = Literal["self_confidence", "normalized_margin"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfidentJoint:
    """The confident joint and the per-class thresholds it was counted with.

    Attributes:
        counts: (K, K) ``counts[given, true]``; calibrated when asked for (then
            rows sum to the given-label counts and the total is ``n``).
        thresholds: (K,) per-class mean self-confidence ``t_j``.
        true_guess: (n,) the confidently guessed true class per item, ``-1`` where
            no class reached its threshold.
    """

    counts: IntArray
    thresholds: FloatArray
    true_guess: IntArray


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelIssues:
    """Items flagged as probably mislabeled.

    Attributes:
        is_issue: (n,) True for flagged items.
        ranking: Indices of the flagged items, most likely wrong first.
        quality_score: (n,) label quality score of every item (the ``rank_by``
            score; lower means more suspicious; self-confidence in [0, 1],
            normalized margin in [0, 1]).
        confident_joint: (K, K) calibrated ``counts[given, true]``.
        joint: (K, K) ``Q = counts / n``, estimated joint P(given, true).
        noise_matrix: (K, K) ``P(given = i | true = j)``; columns sum to 1
            (a column with no count is the identity column).
        thresholds: (K,) per-class thresholds.
        n_issues: Number of flagged items (raw count beside the mask).
    """

    is_issue: BoolArray
    ranking: IntArray
    quality_score: FloatArray
    confident_joint: IntArray
    joint: FloatArray
    noise_matrix: FloatArray
    thresholds: FloatArray
    n_issues: int

    @property
    def issue_rate(self) -> float:
        """Share of items flagged, in [0, 1]."""
        return self.n_issues / len(self.is_issue)


def _check(labels: npt.ArrayLike, pred_probs: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
    p = np.asarray(pred_probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[1] < 2:
        raise InvalidAnnotationError(
            f"pred_probs must be an (n_items, n_classes >= 2) matrix, got shape {p.shape}"
        )
    if y.ndim != 1 or len(y) != len(p):
        raise InvalidAnnotationError(
            f"labels must be a 1-D array with one entry per row of pred_probs ({len(p)}), got shape {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise InvalidAnnotationError(
            f"labels must be integer class indices 0..K-1, got dtype {y.dtype}; encode them first "
            "(e.g. numpy.unique(labels, return_inverse=True))"
        )
    k = p.shape[1]
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise InvalidAnnotationError(f"labels must be in 0..{k - 1}, got range {y.min()}..{y.max()}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise InvalidAnnotationError("pred_probs rows must be finite, >= 0 and sum to 1 (apply softmax first)")
    if len(np.unique(y)) < 2:
        raise InvalidAnnotationError("labels hold fewer than 2 distinct classes; confident learning is undefined")
    return y.astype(np.intp), p


def _round_preserving_row_totals(m: FloatArray) -> IntArray:
    """Round each row to integers keeping its (rounded) total.

    Every cell is rounded to nearest (half to even); if the row total is then
    short by ``d`` the ``d`` cells rounded down most gain one (among equal
    errors the later column first), if it is over by ``d`` the ``d`` cells
    rounded up most lose one (the earlier column first). Equal errors come from
    equal counts, so they are exact ties; this rule is the one cleanlab's
    ``round_preserving_row_totals`` follows when its sort is stable.
    """
    out = np.rint(m).astype(np.intp)
    targets = np.rint(m.sum(axis=1)).astype(np.intp)
    for r in range(m.shape[0]):
        diff = int(targets[r] - out[r].sum())
        if diff == 0:
            continue
        order = np.argsort(m[r] - out[r], kind="stable")  # most rounded-up first
        if diff > 0:
            out[r, order[::-1][:diff]] += 1
        else:
            out[r, order[:-diff]] -= 1
    return out


def _confident_joint(y: IntArray, p: FloatArray, calibrate: bool) -> ConfidentJoint:
    n, k = p.shape
    label_counts = np.bincount(y, minlength=k)
    sums = np.bincount(y[:, None].repeat(k, 1).ravel() * k + np.tile(np.arange(k), n),
                       weights=p.ravel(), minlength=k * k).reshape(k, k)
    diag = np.diagonal(sums)
    with np.errstate(invalid="ignore", divide="ignore"):
        thresholds = np.where(label_counts > 0, diag / np.maximum(label_counts, 1), np.inf)
    above = p >= thresholds[None, :] - 1e-6  # small slack against float noise at the mean
    n_above = above.sum(axis=1)
    guess = np.argmax(np.where(above, p, -np.inf), axis=1)
    guess = np.where(n_above > 0, guess, -1).astype(np.intp)
    ok = guess >= 0
    cj: IntArray = np.bincount(y[ok] * k + guess[ok], minlength=k * k).reshape(k, k).astype(np.intp)
    np.fill_diagonal(cj, np.maximum(np.diagonal(cj), 1))
    if calibrate:
        row = cj.sum(axis=1, keepdims=True).astype(np.float64)
        cal = cj / np.where(row > 0, row, 1.0) * label_counts[:, None]
        cal = cal / cal.sum() * n
        cj = _round_preserving_row_totals(cal)
    return ConfidentJoint(counts=cj, thresholds=thresholds.astype(np.float64), true_guess=guess)


def confident_joint(labels: npt.ArrayLike, pred_probs: npt.ArrayLike, *, calibrate: bool = True) -> ConfidentJoint:
    """Per-class thresholds and the confident joint ``C[given, true]`` (paper section 3.1).

    Args:
        labels: (n,) given labels as integers ``0..K-1``.
        pred_probs: (n, K) out-of-sample predicted probabilities, rows summing to 1.
        calibrate: Apply Eq. 2 (rows to given-label counts, total to ``n``).

    Returns:
        A :class:`ConfidentJoint`.

    Raises:
        InvalidAnnotationError: Shapes, label range, non-probability rows, or a
            single class.

    Example:
        >>> import numpy as np
        >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9], [0.9, 0.1]])
        >>> confident_joint([0, 0, 1, 1, 1], p).counts.tolist()
        [[2, 0], [1, 2]]
    """
    y, p = _check(labels, pred_probs)
    return _confident_joint(y, p, calibrate)


def _scores(y: IntArray, p: FloatArray, rank_by: RankBy) -> FloatArray:
    self_conf: FloatArray = p[np.arange(len(y)), y]
    if rank_by == "self_confidence":
        return self_conf
    others = p.copy()
    others[np.arange(len(y)), y] = -np.inf
    margin = self_conf - others.max(axis=1)
    out: FloatArray = (margin + 1.0) / 2.0  # normalized margin in [0, 1]
    return out


def find_label_issues(
    labels: npt.ArrayLike, pred_probs: npt.ArrayLike, *,
    filter_by: FilterBy = "prune_by_noise_rate", rank_by: RankBy = "self_confidence",
) -> LabelIssues:
    """Flag items whose given label is probably wrong (confident learning).

    Args:
        labels: (n,) given labels as integers ``0..K-1``.
        pred_probs: (n, K) *out-of-sample* predicted probabilities (from cross
            validation); in-sample probabilities overfit the noise and find little.
        filter_by: Pruning rule (see the module docstring); default the paper's
            prune-by-noise-rate.
        rank_by: Order of ``ranking``: ``"self_confidence"`` ``p(given | x)`` or
            ``"normalized_margin"`` ``(p(given | x) - max_{k != given} p(k | x) + 1) / 2``,
            lowest first; ties keep index order.

    Returns:
        A :class:`LabelIssues`.

    Raises:
        InvalidAnnotationError: As :func:`confident_joint`.

    Example:
        >>> import numpy as np
        >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9], [0.9, 0.1], [0.95, 0.05]])
        >>> find_label_issues([0, 0, 1, 1, 1, 0], p).ranking.tolist()
        [4]
    """
    y, p = _check(labels, pred_probs)
    n, k = p.shape
    cjr = _confident_joint(y, p, True)
    cj = cjr.counts
    label_counts = np.bincount(y, minlength=k)
    if filter_by == "confident_learning":
        mask = (cjr.true_guess >= 0) & (cjr.true_guess != y) & (np.argmax(p, axis=1) != y)
    else:
        by_noise = np.zeros(n, dtype=bool)
        by_class = np.zeros(n, dtype=bool)
        for i in range(k):
            idx = np.flatnonzero(y == i)
            if not len(idx):
                continue
            if filter_by in ("prune_by_noise_rate", "both"):
                for j in range(k):
                    num = int(cj[i, j])
                    if j == i or num <= 0:
                        continue
                    margin = p[idx, j] - p[idx, i]
                    by_noise[idx[np.argsort(-margin, kind="stable")[:num]]] = True
            if filter_by in ("prune_by_class", "both"):
                num = int(label_counts[i] - cj[i, i])
                if num > 0:
                    by_class[idx[np.argsort(p[idx, i], kind="stable")[:num]]] = True
        if filter_by == "prune_by_noise_rate":
            mask = by_noise
        elif filter_by == "prune_by_class":
            mask = by_class
        else:
            mask = by_noise & by_class
        mask &= np.argmax(p, axis=1) != y
    score = _scores(y, p, rank_by)
    flagged = np.flatnonzero(mask)
    ranking = flagged[np.argsort(score[flagged], kind="stable")].astype(np.intp)
    joint = cj / cj.sum()
    col = cj.sum(axis=0).astype(np.float64)
    noise = np.where(col[None, :] > 0, cj / np.where(col > 0, col, 1.0)[None, :], np.eye(k))
    return LabelIssues(
        is_issue=mask, ranking=ranking, quality_score=score, confident_joint=cj, joint=joint,
        noise_matrix=noise, thresholds=cjr.thresholds, n_issues=int(mask.sum()),
    )
