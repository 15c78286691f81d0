"""Consensus for multi-select classes by binary relevance.

A multi-select answer (Label Studio's ``Choices choice="multiple"``, a taxonomy) is a set of
labels. Binary relevance splits it into one present / absent question per label: every
submission answers every label (a label it did not choose is an "absent" vote, an empty
submission votes "absent" on all), each label gets its own binary consensus, and the item's
consensus set is the labels whose consensus is "present".

The binary consensus is one of:

* ``"dawid_skene"``: a two-class Dawid-Skene model per label (:func:`~accord.core.qa.consensus.dawid_skene`
  at its defaults), so each annotator gets a sensitivity and a specificity of their own for
  every label; a label is present when its posterior is above 0.5.
* ``"majority_vote"``: present when more than half of the item's submissions chose it (a tie
  is absent).

A label that every judgment answers the same way needs no model: its posterior is that answer.

Cost: O(submissions x labels) (the binary table), one EM per label; no per-item Python.

References:
    G. Tsoumakas, I. Katakis (2007). Multi-label classification: an overview.
    *International Journal of Data Warehousing and Mining* 3(3), 1-13 (binary relevance).
    A. P. Dawid, A. M. Skene (1979). Maximum likelihood estimation of observer error-rates
    using the EM algorithm. *Applied Statistics* 28(1), 20-28.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from .consensus import _encode, dawid_skene

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
IntArray: TypeAlias = npt.NDArray[np.intp]
ObjArray: TypeAlias = npt.NDArray[np.object_]
MultilabelMethod: TypeAlias = Literal["dawid_skene", "majority_vote"]
MULTILABEL_METHODS: tuple[str, ...] = ("dawid_skene", "majority_vote")


@dataclass(frozen=True, slots=True, kw_only=True)
class MultilabelConsensus:
    """Binary-relevance consensus of a multi-select label set.

    Attributes:
        method: The binary consensus (``"dawid_skene"`` or ``"majority_vote"``).
        item_ids: Items, sorted (row order of ``posterior`` / ``present``).
        labels: Labels (column order).
        annotator_ids: Annotators, sorted (row order of the agreement counts).
        posterior: (n_items, n_labels) P(label present): the Dawid-Skene posterior, or the
            share of submissions that chose the label.
        present: (n_items, n_labels) ``posterior > 0.5``: the consensus sets.
        n_judged: (n_annotators,) submissions of each annotator (each answers every label).
        n_agree: (n_annotators, n_labels) of them, how many answered the label as the consensus did.
    """

    method: str
    item_ids: ObjArray
    labels: tuple[str, ...]
    annotator_ids: ObjArray
    posterior: FloatArray
    present: BoolArray
    n_judged: IntArray
    n_agree: IntArray

    @property
    def prevalence(self) -> FloatArray:
        """(n_labels,) share of items whose consensus set holds the label."""
        out: FloatArray = self.present.mean(axis=0) if len(self.item_ids) else np.zeros(len(self.labels))
        return out

    @property
    def agreement_score(self) -> FloatArray:
        """(n_annotators, n_labels) share of an annotator's present / absent answers equal to the consensus."""
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = np.where(self.n_judged[:, None] > 0,
                                       self.n_agree / np.maximum(self.n_judged, 1)[:, None], np.nan)
        return out

    def sets(self) -> dict[str, tuple[str, ...]]:
        """Each item's consensus set, labels in :attr:`labels` order."""
        lab = np.asarray(self.labels, dtype=object)
        return {str(i): tuple(lab[row].tolist()) for i, row in zip(self.item_ids, self.present, strict=True)}


def multilabel_consensus(
    items: npt.ArrayLike, annotators: npt.ArrayLike, chosen: Sequence[Collection[str]], *,
    labels: Sequence[str] | None = None, method: MultilabelMethod = "dawid_skene",
) -> MultilabelConsensus:
    """Binary-relevance consensus: one present / absent consensus per label, then the item's set.

    Args:
        items / annotators: One entry per submission (an annotator's answer to an item).
        chosen: The labels each submission chose (empty: it chose none). An annotator who
            submitted an item twice answers with the union of the two.
        labels: Label order (e.g. the labeling config's); labels chosen but not listed are
            added after them, sorted. Default: the chosen labels, sorted.
        method: ``"dawid_skene"`` or ``"majority_vote"`` (see the module docstring).

    Returns:
        A :class:`MultilabelConsensus`.

    Raises:
        InvalidAnnotationError: Ragged inputs, no submissions, or an unknown method.

    Example:
        >>> r = multilabel_consensus([1, 1, 1], ["a", "b", "c"], [{"x", "y"}, {"x"}, {"y"}],
        ...                          method="majority_vote")
        >>> r.sets(), r.n_agree.tolist()
        ({'1': ('x', 'y')}, [[1, 1], [1, 0], [0, 1]])
    """
    if method not in MULTILABEL_METHODS:
        raise InvalidAnnotationError(f"unknown multi-label consensus method {method!r}; known: "
                                     f"{', '.join(MULTILABEL_METHODS)}")
    sets = [frozenset(map(str, s)) for s in chosen]
    item_ids, ii = _encode(items, "items")
    annotator_ids, aa = _encode(annotators, "annotators")
    if not (len(ii) == len(aa) == len(sets)):
        raise InvalidAnnotationError(f"items, annotators and chosen must have one entry per submission, got "
                                     f"lengths {len(ii)}, {len(aa)}, {len(sets)}")
    if not sets:
        raise InvalidAnnotationError("no submissions given; pass at least one (item, annotator, labels) row")
    given = [str(x) for x in labels] if labels is not None else []
    order = [*dict.fromkeys(given), *sorted({x for s in sets for x in s} - set(given))]
    col = {lab: j for j, lab in enumerate(order)}
    n, n_ann, n_lab = len(item_ids), len(annotator_ids), len(order)
    # one row per (item, annotator): repeated submissions merge into the union of their labels
    pair = ii.astype(np.int64) * n_ann + aa
    uniq, row = np.unique(pair, return_inverse=True)
    row = row.reshape(-1)
    table = np.zeros((len(uniq), n_lab), dtype=bool)
    sizes = np.fromiter(map(len, sets), dtype=np.intp, count=len(sets))
    flat = list(itertools.chain.from_iterable(sets))
    table[np.repeat(row, sizes), np.fromiter(map(col.__getitem__, flat), dtype=np.intp, count=len(flat))] = True
    u_item, u_ann = np.divmod(uniq, n_ann)
    u_item, u_ann = u_item.astype(np.intp), u_ann.astype(np.intp)
    per_item = np.bincount(u_item, minlength=n).astype(np.float64)
    chosen_count = np.column_stack([np.bincount(u_item, weights=table[:, j], minlength=n) for j in range(n_lab)]) \
        if n_lab else np.zeros((n, 0))
    share = chosen_count / per_item[:, None]
    posterior = share.copy()
    if method == "dawid_skene":
        for j in range(n_lab):
            column = table[:, j]
            if column.all() or not column.any():  # one answer everywhere: nothing to infer
                continue
            fit = dawid_skene(u_item, u_ann, column.astype(np.int64), classes=[0, 1])
            posterior[fit.item_ids.astype(np.intp), j] = fit.posteriors[:, 1]
    present = posterior > 0.5
    agree = table == present[u_item]
    n_agree = np.column_stack([np.bincount(u_ann, weights=agree[:, j], minlength=n_ann) for j in range(n_lab)]
                              ).astype(np.intp) if n_lab else np.zeros((n_ann, 0), dtype=np.intp)
    return MultilabelConsensus(method=method, item_ids=item_ids, labels=tuple(order), annotator_ids=annotator_ids,
                               posterior=posterior, present=present,
                               n_judged=np.bincount(u_ann, minlength=n_ann).astype(np.intp), n_agree=n_agree)
