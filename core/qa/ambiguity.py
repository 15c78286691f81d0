"""Ambiguity vs error: which class items are hard for everyone, not answered wrongly by someone.

A conflict queue is for items where someone made a mistake that an adjudicator can fix. Some
items have no single right answer (a sarcastic review, a mixed emotion): skilled annotators
split on them however carefully they work, and forcing one label throws away what the split
says. :func:`ambiguity` gives every item of a classification label set

* a **soft label**: the distribution of the answers, each annotator's vote weighted by the
  log-odds of their estimated skill against chance, ``w = max(0, log(s (K - 1) / (1 - s)))``
  (the optimal weight of a vote under the one-coin model, Nitzan & Paroush 1982), so a
  guessing annotator (``s = 1 / K``) weighs nothing and cannot make a clear item look split;
  under ``majority_vote`` every vote weighs 1. An item whose voters all weigh 0 falls back to
  the unweighted shares.
* a **difficulty** in [0, 1]: under GLAD, from GLAD's own item parameter: the normalised
  entropy of the answer GLAD predicts on the item from an annotator of median ability
  (right with probability ``sigmoid(median(alpha) * exp(beta_i))``, wrong answers spread
  evenly over the other ``K - 1`` classes); under every other method, the normalised
  entropy of the soft label. Normalised entropy is ``H(p) / log K`` over the ``K`` classes
  the model saw: 0 when every weighted vote agrees, 1 for an even split over all classes.

Items whose difficulty is above the threshold are *ambiguous*, kept with their soft label
(for training on the distribution) rather than queued as conflicts, on one more condition:
they stay split when any one judgment is removed (the soft label's normalised entropy after
removing the judgment whose removal lowers it most is above the threshold too). One slip of
one annotator is an error to fix, never an ambiguity: a 2-1 split of three annotators, or any
item with two, cannot be ambiguous; a 3-2 split of five can be (3-1 left: 0.81).

Why not the entropy of the EM models' posterior over the true class: that posterior says how
sure the model is of the truth, and it sharpens with every vote. In ``tests/test_ambiguity.py``'s
simulation (seven annotators right 95 % of the time and one answering at random, on 300 clear
items; everybody at random on 60 ambiguous ones; two seeds) the Dawid-Skene posterior's
normalised entropy was above 0.8 on 0 % and 8 % of the ambiguous items, the soft label's on 90 %
and 88 %; with the one-judgment condition 58 % and 57 % were flagged (the 4-3 splits), and 3
and 1 of the 300 clear items (11 and 11 without it); none of the ~100 clear items where only
the random annotator disagreed.

All of it is one ``numpy.bincount`` over the judgments: O(judgments + items x classes).

References:
    S. Nitzan, J. Paroush (1982). Optimal decision rules in uncertain dichotomous choice
    situations. *International Economic Review* 23(2), 289-297.
    J. Whitehill et al. (2009). Whose vote should count more (GLAD). *NeurIPS* 22.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from .consensus import ClassConsensus, GladResult, _encode_long, _vote_counts

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ObjArray: TypeAlias = npt.NDArray[np.object_]
IntArray: TypeAlias = npt.NDArray[np.intp]
DifficultySource: TypeAlias = Literal["glad_item_parameter", "soft_label_entropy"]

#: Default :attr:`~accord.core.qa.report.ReportConfig.ambiguity_threshold` (normalised entropy).
DEFAULT_AMBIGUITY_THRESHOLD = 0.8
_SKILL_CEILING = 1 - 1e-3  # a perfect skill would weigh infinitely: cap it (log-odds <= log(999 (K - 1)))

#: What the difficulty is, by source (the report prints it beside the numbers).
DIFFICULTY_DEFINITIONS: dict[str, str] = {
    "glad_item_parameter": "normalised entropy of the answer GLAD predicts from its item parameter beta for an "
                           "annotator of median ability: right with probability sigmoid(median(alpha) * "
                           "exp(beta)), wrong answers spread evenly",
    "soft_label_entropy": "normalised entropy H(p) / log K of the soft label (the skill-weighted answer "
                          "distribution)",
}
#: When an item is ambiguous (the report prints it).
AMBIGUITY_RULE = ("difficulty above the threshold, and the soft label's normalised entropy still above it after "
                  "removing the one judgment whose removal lowers it most: one annotator's slip is an error to fix, "
                  "not an ambiguity")
SOFT_LABEL_DEFINITION = ("share of the votes, each annotator's vote weighted by the log-odds of their skill "
                         "against chance, max(0, log(s (K - 1) / (1 - s))); unweighted under majority_vote")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ambiguity:
    """Soft labels, difficulties and the ambiguous items of one classification label set.

    Attributes:
        method: The consensus method whose skills weighted the votes.
        item_ids: Items, sorted (row order of every array below).
        classes: Classes the model saw (column order of ``distribution``).
        distribution: (n_items, n_classes) soft label per item; rows sum to 1.
        difficulty: (n_items,) difficulty in [0, 1] (see ``source``).
        one_removed: (n_items,) the soft label's normalised entropy after removing the one
            judgment whose removal lowers it most (0 for an item with one judgment).
        ambiguous: (n_items,) ``difficulty > threshold`` and ``one_removed > threshold``.
        weights: (n_annotators,) each annotator's vote weight.
        annotator_ids: Annotators, sorted (order of ``weights``).
        threshold: The threshold applied.
        source: ``"glad_item_parameter"`` or ``"soft_label_entropy"`` (:data:`DIFFICULTY_DEFINITIONS`).
    """

    method: str
    item_ids: ObjArray
    classes: ObjArray
    distribution: FloatArray
    difficulty: FloatArray
    one_removed: FloatArray
    ambiguous: BoolArray
    weights: FloatArray
    annotator_ids: ObjArray
    threshold: float
    source: DifficultySource

    @property
    def n_ambiguous(self) -> int:
        """How many items are ambiguous."""
        return int(self.ambiguous.sum())


def normalized_entropy(p: npt.ArrayLike) -> FloatArray:
    """Shannon entropy of each row of ``p`` divided by ``log K`` (``K`` its columns), in [0, 1].

    ``0 log 0`` is 0; with one column the entropy is 0. Rows should sum to 1.

    >>> normalized_entropy([[0.5, 0.5], [1.0, 0.0]]).tolist()
    [1.0, 0.0]
    >>> round(float(normalized_entropy([[0.5, 0.25, 0.25]])[0]), 4)  # 1.5 bits / log2(3) bits
    0.9464
    """
    q = np.atleast_2d(np.asarray(p, dtype=np.float64))
    k = q.shape[1]
    if k < 2:
        return np.zeros(q.shape[0])
    safe = np.where(q > 0, q, 1.0)
    out: FloatArray = np.clip(-np.sum(q * np.log(safe), axis=1) / np.log(k), 0.0, 1.0) + 0.0  # no -0.0
    return out


def vote_weights(skills: npt.ArrayLike, n_classes: int) -> FloatArray:
    """Log-odds vote weight of each skill against chance: ``max(0, log(s (K - 1) / (1 - s)))``.

    Skills are capped at ``1 - 1e-3``; a skill at or below chance (``1 / K``) weighs 0; with one
    class every weight is 1.

    >>> vote_weights([0.5, 0.75, 0.2], 2).round(4).tolist()  # log(1) = 0, log(3), below chance
    [0.0, 1.0986, 0.0]
    """
    raw = np.asarray(skills, dtype=np.float64).reshape(-1)
    if n_classes < 2:
        return np.ones(len(raw))
    s = np.clip(np.nan_to_num(raw, nan=0.0), 1e-12, _SKILL_CEILING)
    out: FloatArray = np.maximum(0.0, np.log(s * (n_classes - 1) / (1 - s)))
    return out


def _xlogx(x: FloatArray) -> FloatArray:
    out: FloatArray = np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)
    return out


def _extreme_votes(ii: IntArray, ll: IntArray, w: FloatArray, n: int, k: int) -> tuple[FloatArray, FloatArray]:
    """(n, k) the lightest and the heaviest single vote each item gave each class (NaN: no vote), one sort."""
    key = ii.astype(np.int64) * k + ll
    order = np.lexsort((w, key))
    sk, sw = key[order], w[order]
    first = np.r_[True, sk[1:] != sk[:-1]]
    last = np.r_[sk[1:] != sk[:-1], True]
    light = np.full(n * k, np.nan)
    heavy = np.full(n * k, np.nan)
    light[sk[first]] = sw[first]
    heavy[sk[last]] = sw[last]
    return light.reshape(n, k), heavy.reshape(n, k)


def _entropy_one_removed(counts: FloatArray, removals: tuple[FloatArray, ...]) -> FloatArray:
    """Per item, the smallest normalised entropy of the weighted votes left after removing one judgment.

    Removing a vote of weight ``m`` from class ``c`` changes only that column, so with
    ``S = sum_j c_j log c_j`` and ``T = sum_j c_j`` the entropy left is ``log T' - S' / T'``
    (``T' = T - m``, ``S' = S - c_c log c_c + (c_c - m) log(c_c - m)``): O(items x classes) per
    candidate. Within one class the shares move along a line of the simplex as ``m`` grows, and
    entropy is concave on a line, so the lightest or the heaviest vote of the class is the one
    whose removal lowers it most: those two are the candidates (``removals``, NaN where the item
    has no vote of the class). An item with one judgment gets 0.
    """
    n, k = counts.shape
    if k < 2:
        return np.zeros(n)
    total = counts.sum(axis=1, keepdims=True)
    s = _xlogx(counts).sum(axis=1, keepdims=True)
    best = np.full(n, np.inf)
    for m in removals:
        has = np.isfinite(m)
        mm = np.where(has, m, 0.0)
        t2 = total - mm
        s2 = s - _xlogx(counts) + _xlogx(np.maximum(counts - mm, 0.0))
        ok = t2 > 1e-12 * np.maximum(total, 1.0)
        safe = np.where(ok, t2, 1.0)
        h = np.where(ok, (np.log(safe) - s2 / safe) / np.log(k), 0.0)
        best = np.minimum(best, np.where(has, h, np.inf).min(axis=1))
    out: FloatArray = np.clip(best, 0.0, 1.0) + 0.0
    return out


def ambiguity(
    consensus: ClassConsensus, items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    threshold: float = DEFAULT_AMBIGUITY_THRESHOLD,
) -> Ambiguity:
    """Soft labels, difficulties and ambiguous items from a fitted class consensus.

    Args:
        consensus: :func:`~accord.core.qa.consensus.class_consensus` run on the same judgments.
        items / annotators / labels: The judgments it was fitted on (long format).
        threshold: Items with a difficulty above it are ambiguous; in [0, 1].

    Returns:
        An :class:`Ambiguity` (see the module docstring for the definitions).

    Raises:
        InvalidAnnotationError: A threshold outside [0, 1], or judgments that do not match
            ``consensus`` (other items or annotators).

    Example:
        >>> from accord.core.qa.consensus import class_consensus
        >>> it, an = [1] * 4 + [2] * 4, ["a", "b", "c", "d"] * 2
        >>> lab = ["x", "x", "y", "y", "x", "x", "x", "y"]  # a 2-2 split, and one dissent
        >>> r = ambiguity(class_consensus(it, an, lab, method="majority_vote"), it, an, lab)
        >>> r.difficulty.round(4).tolist(), r.one_removed.round(4).tolist(), r.ambiguous.tolist()
        ([1.0, 0.8113], [0.9183, 0.0], [True, False])
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise InvalidAnnotationError(f"the ambiguity threshold is a normalised entropy in [0, 1], got {threshold!r}")
    item_ids, annotator_ids, cls, ii, aa, ll = _encode_long(items, annotators, labels, None)
    if len(item_ids) != len(consensus.item_ids) or np.any(item_ids != consensus.item_ids) \
            or len(annotator_ids) != len(consensus.annotator_ids) or np.any(annotator_ids != consensus.annotator_ids):
        raise InvalidAnnotationError(
            "the judgments passed to ambiguity() are not the ones the consensus was fitted on "
            f"({len(item_ids)} items / {len(annotator_ids)} annotators vs {len(consensus.item_ids)} / "
            f"{len(consensus.annotator_ids)}); pass the same items, annotators and labels")
    n, k = len(item_ids), len(cls)
    weights = np.ones(len(annotator_ids)) if consensus.method == "majority_vote" \
        else vote_weights(consensus.skills, k)
    w = weights[aa]
    counts = _vote_counts(ii, ll, n, k, w)
    unweighted = counts.sum(axis=1) <= 0
    if np.any(unweighted):  # every voter of the item weighs 0: the unweighted shares
        w = np.where(unweighted[ii], 1.0, w)
        counts = _vote_counts(ii, ll, n, k, w)
    total = counts.sum(axis=1)
    dist: FloatArray = counts / total[:, None]
    one_removed = _entropy_one_removed(counts, _extreme_votes(ii, ll, w, n, k))
    source: DifficultySource
    fit = consensus.fit
    if isinstance(fit, GladResult) and k >= 2:
        right = 1.0 / (1.0 + np.exp(-np.median(fit.alphas) * np.exp(fit.betas)))
        predicted = np.column_stack([right, np.repeat(((1 - right) / (k - 1))[:, None], k - 1, axis=1)])
        difficulty = normalized_entropy(predicted)
        source = "glad_item_parameter"
    else:
        difficulty = normalized_entropy(dist)
        source = "soft_label_entropy"
    return Ambiguity(method=consensus.method, item_ids=item_ids, classes=cls, distribution=dist,
                     difficulty=difficulty, one_removed=one_removed,
                     ambiguous=(difficulty > threshold) & (one_removed > threshold), weights=weights,
                     annotator_ids=annotator_ids, threshold=float(threshold), source=source)


def soft_label_rows(ambiguities: Mapping[str, Ambiguity]) -> Iterator[dict[str, Any]]:
    """One JSON-ready row per item and label set: ``{item, label_set, distribution, ambiguous}``.

    ``distribution`` maps every class the model saw to its soft-label share (rows sum to 1);
    label sets in the mapping's order, items sorted.

    >>> from accord.core.qa.consensus import class_consensus
    >>> it, an, lab = [1, 1, 1, 1], ["a", "b", "c", "d"], ["x", "x", "y", "y"]
    >>> amb = ambiguity(class_consensus(it, an, lab, method="majority_vote"), it, an, lab)
    >>> next(soft_label_rows({"mood": amb}))
    {'item': '1', 'label_set': 'mood', 'distribution': {'x': 0.5, 'y': 0.5}, 'ambiguous': True}
    """
    for name, amb in ambiguities.items():
        classes = [str(c) for c in amb.classes]
        for item, row, flag in zip(amb.item_ids.tolist(), amb.distribution.tolist(), amb.ambiguous.tolist(),
                                   strict=True):
            yield {"item": str(item), "label_set": name,
                   "distribution": dict(zip(classes, row, strict=True)), "ambiguous": bool(flag)}
