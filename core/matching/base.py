"""One-to-one matching on a similarity matrix, and the result every matcher returns.

Every per-type matcher (boxes, polygons, spans, segments, ...) builds a
similarity matrix between a *reference* set and a *candidate* set of regions
and calls :func:`match_similarity`. The :class:`MatchResult` it returns is the
raw material of the error taxonomy: matched pairs with their similarity,
unmatched regions on each side, and matched pairs whose labels differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchResult:
    """The outcome of matching a reference set against a candidate set.

    Attributes:
        pairs: ``(reference_index, candidate_index)`` of matched regions.
        similarity: Similarity of each matched pair (same order as ``pairs``).
        unmatched_reference: Reference indices left unmatched (missed objects).
        unmatched_candidate: Candidate indices left unmatched (extra objects).
        label_mismatches: Indices into ``pairs`` whose labels differ (only when
            matching ignored labels).
    """

    pairs: tuple[tuple[int, int], ...]
    similarity: tuple[float, ...]
    unmatched_reference: tuple[int, ...]
    unmatched_candidate: tuple[int, ...]
    label_mismatches: tuple[int, ...] = ()

    @property
    def tp(self) -> int:
        """Matched pairs with equal labels."""
        return len(self.pairs) - len(self.label_mismatches)

    @property
    def n_reference(self) -> int:
        return len(self.pairs) + len(self.unmatched_reference)

    @property
    def n_candidate(self) -> int:
        return len(self.pairs) + len(self.unmatched_candidate)

    def precision_score(self) -> float:
        """tp / n_candidate; NaN when the candidate set is empty."""
        return self.tp / self.n_candidate if self.n_candidate else float("nan")

    def recall_score(self) -> float:
        """tp / n_reference; NaN when the reference set is empty."""
        return self.tp / self.n_reference if self.n_reference else float("nan")

    def f1_score(self) -> float:
        """2 tp / (n_reference + n_candidate); 1.0 when both sets are empty (nothing to find)."""
        denom = self.n_reference + self.n_candidate
        return 2 * self.tp / denom if denom else 1.0

    def mean_similarity(self) -> float:
        """Mean similarity over matched pairs; NaN when nothing matched."""
        return float(np.mean(self.similarity)) if self.similarity else float("nan")


def match_similarity(
    similarity: npt.ArrayLike,
    *,
    threshold: float,
    reference_labels: Sequence[str | None] | None = None,
    candidate_labels: Sequence[str | None] | None = None,
    label_aware: bool = False,
) -> MatchResult:
    """Maximum-weight one-to-one matching (Hungarian) keeping pairs with similarity >= threshold.

    Args:
        similarity: (n_reference, n_candidate) matrix, higher is more similar.
        threshold: Pairs below it are never matched (use e.g. 0.5 for IoU).
        reference_labels / candidate_labels: Labels of each region, to report
            label mismatches or to forbid cross-label matches.
        label_aware: If true, only regions with equal labels may match; otherwise
            they may, and mismatching labels are reported in ``label_mismatches``.

    Returns:
        A :class:`MatchResult`. Ties are broken deterministically by index.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 2:
        raise ValueError(f"similarity must be a 2-D matrix, got shape {sim.shape}")
    n_ref, n_cand = sim.shape
    if reference_labels is not None and len(reference_labels) != n_ref:
        raise ValueError(f"{len(reference_labels)} reference labels for {n_ref} reference rows")
    if candidate_labels is not None and len(candidate_labels) != n_cand:
        raise ValueError(f"{len(candidate_labels)} candidate labels for {n_cand} candidate columns")
    allowed = np.isfinite(sim) & (sim >= threshold)
    if label_aware and reference_labels is not None and candidate_labels is not None:
        ra = np.asarray(reference_labels, dtype=object)[:, None]
        ca = np.asarray(candidate_labels, dtype=object)[None, :]
        allowed &= ra == ca
    pairs: list[tuple[int, int]] = []
    sims: list[float] = []
    if n_ref and n_cand and allowed.any():
        rows_any = np.flatnonzero(allowed.any(axis=1))
        cols_any = np.flatnonzero(allowed.any(axis=0))
        sub = np.where(allowed[np.ix_(rows_any, cols_any)], sim[np.ix_(rows_any, cols_any)], 0.0)
        # Prefer matching more pairs first, then higher similarity: +1 bonus on allowed cells.
        weight = np.where(allowed[np.ix_(rows_any, cols_any)], sub + 1.0, 0.0)
        r, c = linear_sum_assignment(weight, maximize=True)
        for i, j in zip(r, c, strict=True):
            if allowed[rows_any[i], cols_any[j]]:
                pairs.append((int(rows_any[i]), int(cols_any[j])))
                sims.append(float(sim[rows_any[i], cols_any[j]]))
    order = sorted(range(len(pairs)), key=lambda k: pairs[k])
    pairs = [pairs[k] for k in order]
    sims = [sims[k] for k in order]
    matched_r = {p[0] for p in pairs}
    matched_c = {p[1] for p in pairs}
    mismatches: tuple[int, ...] = ()
    if reference_labels is not None and candidate_labels is not None:
        mismatches = tuple(k for k, (i, j) in enumerate(pairs)
                           if reference_labels[i] != candidate_labels[j])
    return MatchResult(
        pairs=tuple(pairs), similarity=tuple(sims),
        unmatched_reference=tuple(i for i in range(n_ref) if i not in matched_r),
        unmatched_candidate=tuple(j for j in range(n_cand) if j not in matched_c),
        label_mismatches=mismatches,
    )


def box_iou_matrix(a_xyxy: npt.ArrayLike, b_xyxy: npt.ArrayLike) -> FloatArray:
    """IoU between every axis-aligned box of ``a`` (n, 4) and of ``b`` (m, 4), as (n, m).

    Boxes are ``(x1, y1, x2, y2)``. Two empty boxes have IoU 0.
    """
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou
