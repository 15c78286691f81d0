"""Agreement on complex annotations: alpha from an item-level distance.

Boxes, span sets, keypoint sets, transcripts or any other structured
annotation have no coincidence matrix of labels, but two annotators' whole
annotations of one item can still be compared with a distance (``1 - F1`` of
matched boxes, a normalised edit distance, ...). Braylan, Alonso and Lease
(2022) generalise Krippendorff's alpha to that case:

* observed disagreement ``D_o``: the mean distance over pairs of annotations of
  the *same* item (every unordered pair of annotators within an item, pooled
  over items);
* expected disagreement ``D_e``: the mean distance over pairs of annotations of
  *different* items (all such pairs when there are at most
  ``max_expected_pairs``, otherwise that many pairs drawn uniformly, seeded);
* ``alpha = 1 - D_o / D_e``.

With a nominal distance on single labels and equal numbers of annotations
per item this is close to, but not identical with, Krippendorff's alpha:
his ``D_e`` also pairs values within an item and his ``D_o`` weights an item
by ``1 / (m_u - 1)``.

:func:`pairwise_matrix` gives the plain per-annotator-pair mean of any score,
for heat maps of who agrees with whom.

References:
    A. Braylan, O. Alonso and M. Lease (2022). Measuring Annotator Agreement
    Generally across Complex Structured, Multi-object, and Free-text
    Annotation Tasks. In Proceedings of the ACM Web Conference (WWW '22).
    K. Krippendorff (2011). Computing Krippendorff's Alpha-Reliability.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from .errors import ConfigError, InvalidAnnotationError, UndefinedAgreementError

__all__ = ["StructuredAlphaResult", "pairwise_matrix", "structured_alpha"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class StructuredAlphaResult:
    """Alpha from an item-level distance, with its parts.

    Attributes:
        alpha: ``1 - observed_distance / expected_distance``; at most 1
            (when the distance is non-negative), about 0 at chance.
        observed_distance: Mean distance between annotations of the same item.
        expected_distance: Mean distance between annotations of different items.
        n_items: Items with at least one annotation.
        n_annotations: Annotations over all items.
        n_observed_pairs: Within-item pairs averaged into ``observed_distance``.
        n_expected_pairs: Cross-item pairs averaged into ``expected_distance``.
        expected_sampled: Whether the cross-item pairs were sampled (more than
            ``max_expected_pairs`` existed) rather than enumerated.
    """

    alpha: float
    observed_distance: float
    expected_distance: float
    n_items: int
    n_annotations: int
    n_observed_pairs: int
    n_expected_pairs: int
    expected_sampled: bool


def _checked(distance: Callable[[T, T], float], x: T, y: T) -> float:
    d = float(distance(x, y))
    if not math.isfinite(d):
        raise InvalidAnnotationError(
            f"the distance returned {d!r} for a pair of annotations; it must return finite floats"
        )
    return d


def structured_alpha(
    units: Mapping[Hashable, Mapping[Hashable, T]],
    distance: Callable[[T, T], float],
    *,
    max_expected_pairs: int = 100_000,
    seed: int = 0,
) -> StructuredAlphaResult:
    """Krippendorff-style alpha for complex annotations (Braylan, Alonso & Lease 2022).

    Args:
        units: ``{item_id: {annotator_id: annotation}}``; an item may have any
            number of annotators.
        distance: ``d(x, y) -> float`` between two whole annotations of an item,
            symmetric, non-negative, ``0`` for identical annotations.
        max_expected_pairs: Most cross-item pairs to evaluate; beyond it that many
            pairs are drawn uniformly with replacement.
        seed: Seed of the sampling; equal seeds give equal results.

    Returns:
        The coefficient and its parts. ``1`` when all annotators of every item
        agree exactly; about ``0`` when annotations are unrelated to items.

    Raises:
        UndefinedAgreementError: No item with two annotations, fewer than two
            items, or expected distance 0 (all annotations identical).
        InvalidAnnotationError: The distance returned a non-finite value.
        ConfigError: ``max_expected_pairs < 1``.

    Example:
        >>> units = {"a": {"x": 0, "y": 0}, "b": {"x": 1, "y": 1}, "c": {"x": 0, "y": 1}}
        >>> structured_alpha(units, lambda p, q: abs(p - q)).alpha
        0.5
    """
    if max_expected_pairs < 1:
        raise ConfigError(f"max_expected_pairs must be >= 1, got {max_expected_pairs!r}")
    groups = [list(anns.values()) for anns in units.values() if len(anns) > 0]
    observed_sum, n_observed = 0.0, 0
    for anns in groups:
        for i in range(len(anns)):
            for j in range(i + 1, len(anns)):
                observed_sum += _checked(distance, anns[i], anns[j])
                n_observed += 1
    if n_observed == 0:
        raise UndefinedAgreementError(
            "structured alpha is undefined: no item has annotations from two or more annotators"
        )
    if len(groups) < 2:
        raise UndefinedAgreementError(
            "structured alpha is undefined: expected disagreement needs annotations of two or more items"
        )
    flat = [a for anns in groups for a in anns]
    item_of = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    n = len(flat)
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    total_pairs = (n * n - int(sizes @ sizes)) // 2
    expected_sum = 0.0
    sampled = total_pairs > max_expected_pairs
    if not sampled:
        for i in range(n):
            for j in range(i + 1, n):
                if item_of[i] != item_of[j]:
                    expected_sum += _checked(distance, flat[i], flat[j])
        n_expected = total_pairs
    else:
        rng = np.random.default_rng(seed)
        first: list[npt.NDArray[np.int64]] = []
        second: list[npt.NDArray[np.int64]] = []
        have = 0
        while have < max_expected_pairs:
            draw_i = rng.integers(0, n, size=2 * max_expected_pairs)
            draw_j = rng.integers(0, n, size=2 * max_expected_pairs)
            keep = item_of[draw_i] != item_of[draw_j]
            first.append(draw_i[keep])
            second.append(draw_j[keep])
            have += int(keep.sum())
        ii = np.concatenate(first)[:max_expected_pairs]
        jj = np.concatenate(second)[:max_expected_pairs]
        for i_, j_ in zip(ii.tolist(), jj.tolist(), strict=True):
            expected_sum += _checked(distance, flat[i_], flat[j_])
        n_expected = max_expected_pairs
    observed = observed_sum / n_observed
    expected = expected_sum / n_expected
    if not expected > 0.0:
        raise UndefinedAgreementError(
            "structured alpha is undefined: expected distance is 0 (annotations of different items are identical)"
        )
    return StructuredAlphaResult(
        alpha=1.0 - observed / expected,
        observed_distance=observed,
        expected_distance=expected,
        n_items=len(groups),
        n_annotations=n,
        n_observed_pairs=n_observed,
        n_expected_pairs=n_expected,
        expected_sampled=sampled,
    )


def pairwise_matrix(
    units: Mapping[Hashable, Mapping[Hashable, T]],
    score_fn: Callable[[T, T], float],
) -> tuple[tuple[Any, ...], npt.NDArray[np.float64]]:
    """Mean score of every ordered annotator pair over the items both annotated.

    Args:
        units: ``{item_id: {annotator_id: annotation}}``.
        score_fn: ``s(x, y) -> float`` between two annotations of one item
            (agreement, F1, IoU, a distance, ...). It need not be symmetric:
            ``matrix[i, j]`` averages ``s(annotation of i, annotation of j)``.

    Returns:
        ``(annotators, matrix)``: annotator ids (sorted when they can be,
        otherwise in first-seen order) and an ``(A, A)`` float matrix; ``NaN``
        on the diagonal and for pairs that share no item.

    Example:
        >>> ids, m = pairwise_matrix({"i": {"a": 1, "b": 1}}, lambda x, y: float(x == y))
        >>> ids, float(m[0, 1])
        (('a', 'b'), 1.0)
    """
    seen: dict[Hashable, None] = {}
    for anns in units.values():
        for annotator in anns:
            seen.setdefault(annotator, None)
    try:
        annotators: tuple[Any, ...] = tuple(sorted(seen, key=lambda a: a))
    except TypeError:
        annotators = tuple(seen)
    index = {a: i for i, a in enumerate(annotators)}
    k = len(annotators)
    sums = np.zeros((k, k), dtype=np.float64)
    counts = np.zeros((k, k), dtype=np.int64)
    for anns in units.values():
        members = [(index[a], x) for a, x in anns.items()]
        for i, x in members:
            for j, y in members:
                if i != j:
                    sums[i, j] += float(score_fn(x, y))
                    counts[i, j] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    np.fill_diagonal(matrix, np.nan)
    return annotators, matrix
