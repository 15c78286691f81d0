"""The whole class-agreement block of one label set as a mergeable section (issue #16).

:class:`ClassAgreementBlockSection` gives exactly what the report's class agreement gave when it
read the whole dataset: ``(agreement_block, item_scores)`` for a ``classification`` (any scale),
``numeric`` or ``multilabel`` label set: the coefficients and their intervals, Fleiss' kappa, the
pairwise Cohen's kappa matrix and its cell intervals, annotator-vs-rest, per-label specific
agreement and its intervals, off-schema labels, and the per-item scores.

* :meth:`~ClassAgreementBlockSection.add` does the item-local work of a partition: it reads each
  item's human ratings (the first record per annotator, or the union of an annotator's labels for
  a multi-select set), interns annotators and labels, and scores the item (share of agreeing
  pairs; the spread of its numbers; mean Jaccard similarity of its label sets).
* The state is *per-judgment integer columns* (item, annotator, label code; a float for numbers)
  beside per-item scores, with the small vocabularies they index (annotator ids, labels or label
  sets): the item bootstraps of the intervals (``np.random.default_rng(seed)`` drawing item
  positions, :func:`~accord.core.qa.report._with_ci`, the kappa cells, specific agreement) and
  the pairwise tables need each item's ratings at finish, so nothing smaller reproduces them bit
  for bit. Records never enter a state.
* :meth:`~ClassAgreementBlockSection.merge` concatenates the columns, re-coding the right-hand
  side into the union of the vocabularies (associative; the order of arrival is undone at finish).
* :meth:`~ClassAgreementBlockSection.finish` rebuilds the ratings matrix exactly as the
  single-process report read it: rows are the rated items *sorted by id* (the old report's row
  order, so ``ctx.order`` is not needed), columns the sorted human annotators of the whole dataset
  (``Dataset.annotators()``: the union of the partitions'), categories ``sorted(declared |
  observed)``; then it runs the report's global computation
  (:func:`~accord.core.qa.report._class_agreement_of`, :func:`~accord.core.qa.report._multilabel_of`).

The nominal coefficients inside come from :class:`~accord.core.report.classes.ClassAgreementSection`
on the rebuilt columns, or from its result computed elsewhere, passed as ``ctx.options[name]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..model import Dataset, MultiLabel, Record, value_label
from .engine import Context

__all__ = ["ClassAgreementBlockSection", "ClassJudgments"]

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
ClassKind = Literal["classification", "numeric", "multilabel"]
_KINDS: tuple[str, ...] = ("classification", "numeric", "multilabel")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassJudgments:
    """A partial state: one label set's human ratings of some whole items, as columns.

    Attributes:
        annotators: The partitions' human annotators (of every label set), sorted: the
            matrix columns; ``annotator`` indexes into them.
        items: The items that have a rating row (any order); ``item`` and ``scores`` index them.
        item: ``(n,)`` item index of each rating.
        annotator: ``(n,)`` annotator index of each rating.
        value: ``(n,)`` the rating: a code into ``values`` (``int64``), or the number itself
            (``float64``, numeric label sets).
        values: The labels (classification) or label sets (``frozenset``, multilabel) coded
            by ``value``, in first-seen order; empty for numeric label sets.
        scores: ``(len(items),)`` each item's score, computed from the item alone: the share of
            agreeing rating pairs (classification), the spread max - min of its numbers
            (numeric; divided by the whole range at finish), the mean Jaccard similarity of its
            label-set pairs (multilabel); NaN with fewer than two ratings.
    """

    annotators: tuple[str, ...]
    items: tuple[str, ...]
    item: IntArray
    annotator: IntArray
    value: npt.NDArray[Any]
    values: tuple[Any, ...]
    scores: FloatArray

    @property
    def empty(self) -> bool:
        """No annotator and no item: the identity of merge."""
        return not self.annotators and not self.items


def _remap(codes: IntArray, old: Sequence[Any], new: Mapping[Any, int]) -> IntArray:
    if not codes.size:
        return codes
    lookup = np.fromiter((new[v] for v in old), dtype=np.int64, count=len(old))
    out: IntArray = lookup[codes]
    return out


class ClassAgreementBlockSection:
    """The class-agreement block and per-item scores of one class label set, mergeable.

    Args:
        label_set: The label set.
        kind: Its value kind: ``classification``, ``numeric`` or ``multilabel``.

    The result is ``(block, item_scores)``, as :func:`accord.core.qa.report.build_report` puts
    them under ``agreement.<label set>`` and ``item_scores.<label set>``. ``finish`` reads the
    report's config and seed from the context, the label set's schema from ``ctx.schema``, and an
    optional precomputed nominal :class:`~accord.core.report.classes.ClassAgreement` from
    ``ctx.options[name]``.
    """

    stage = 0

    def __init__(self, label_set: str, kind: str) -> None:
        if kind not in _KINDS:
            raise ConfigError(f"class agreement covers the kinds {list(_KINDS)!r}, got {kind!r}")
        self.label_set = label_set
        self.kind = kind
        self.name = f"class_agreement:{label_set}"

    # -- the contract

    def create(self, ctx: Context) -> ClassJudgments:
        none = np.zeros(0, dtype=np.int64)
        return ClassJudgments(annotators=(), items=(), item=none, annotator=none,
                              value=np.zeros(0, dtype=np.float64 if self.kind == "numeric" else np.int64),
                              values=(), scores=np.zeros(0, dtype=np.float64))

    def add(self, state: ClassJudgments, part: Dataset, ctx: Context) -> ClassJudgments:
        return self.merge(state, self._fold(part))

    def merge(self, a: ClassJudgments, b: ClassJudgments) -> ClassJudgments:
        if b.empty:
            return a
        if a.empty:
            return b
        if a.annotators == b.annotators:
            names, ann_a, ann_b = a.annotators, a.annotator, b.annotator
        else:
            names = tuple(sorted(set(a.annotators) | set(b.annotators)))
            pos = {n: j for j, n in enumerate(names)}
            ann_a, ann_b = _remap(a.annotator, a.annotators, pos), _remap(b.annotator, b.annotators, pos)
        values, value_b = a.values, b.value
        if self.kind != "numeric" and b.values != a.values:
            have = {v: k for k, v in enumerate(a.values)}
            values = a.values + tuple(v for v in b.values if v not in have)
            value_b = _remap(b.value, b.values, {v: k for k, v in enumerate(values)})
        return ClassJudgments(
            annotators=names, items=a.items + b.items,
            item=np.concatenate([a.item, b.item + len(a.items)]),
            annotator=np.concatenate([ann_a, ann_b]), value=np.concatenate([a.value, value_b]),
            values=values, scores=np.concatenate([a.scores, b.scores]))

    def next_params(self, state: ClassJudgments, ctx: Context) -> None:
        return None

    def finish(self, state: ClassJudgments, ctx: Context) -> tuple[dict[str, Any], dict[str, float]]:
        # The report's global computation lives beside the rest of the report (which imports
        # this module), so it is imported here, when a report is being finished.
        from ..qa.report import _class_agreement_of, _multilabel_of

        ls = ctx.schema.label_sets.get(self.label_set)
        annotators = state.annotators
        n = len(state.items)
        order = sorted(range(n), key=state.items.__getitem__)
        items = [state.items[j] for j in order]
        rank = np.empty(n, dtype=np.int64)
        rank[np.asarray(order, dtype=np.int64)] = np.arange(n, dtype=np.int64)
        rows = rank[state.item]
        scores = state.scores[np.asarray(order, dtype=np.int64)] if n else state.scores
        width = len(annotators)
        if self.kind == "multilabel":
            sets: list[list[frozenset[str] | None]] = [[None] * width for _ in items]
            for r, a, c in zip(rows.tolist(), state.annotator.tolist(), state.value.tolist(), strict=True):
                sets[r][a] = state.values[c]
            return _multilabel_of(self.label_set, ls, annotators, items, sets, scores, ctx.config, ctx.seed)
        numeric = self.kind == "numeric"
        m = np.full((n, width), np.nan if numeric else None, dtype=float if numeric else object)
        if rows.size:
            cells = rows * width + state.annotator
            if numeric:
                m.reshape(-1)[cells] = state.value
            else:
                labels = np.empty(len(state.values), dtype=object)
                labels[:] = list(state.values)
                m.reshape(-1)[cells] = labels[state.value]
        return _class_agreement_of(self.kind, self.label_set, ls, annotators, items, m, scores, ctx.config,
                                   ctx.seed, precomputed=ctx.options.get(self.name))

    # -- folding one partition

    def _fold(self, part: Dataset) -> ClassJudgments:
        annotators = part.annotators()
        col = {a: j for j, a in enumerate(annotators)}
        human = part.grouped_view(self.label_set, source="human")
        items: list[str] = []
        item: list[int] = []
        ann: list[int] = []
        value: list[Any] = []
        scores: list[float] = []
        vocab: dict[Any, int] = {}
        nan = float("nan")
        if self.kind == "multilabel":
            for item_id, per in human.items():
                if not per:
                    continue
                i = len(items)
                items.append(item_id)
                here: list[frozenset[str]] = []
                for a in sorted(a for a in per if a in col):  # column order: annotators are sorted
                    labs = _label_set(per[a])
                    here.append(labs)
                    item.append(i)
                    ann.append(col[a])
                    value.append(vocab.setdefault(labs, len(vocab)))
                scores.append(_mean_jaccard(here) if len(here) >= 2 else nan)
        elif self.kind == "numeric":
            for item_id, per in human.items():
                if not any(per.values()):
                    continue
                i = len(items)
                items.append(item_id)
                nums: list[float] = []
                for a, rs in per.items():
                    if rs and a in col:
                        v = float(rs[0].value.value)  # type: ignore[union-attr]
                        item.append(i)
                        ann.append(col[a])
                        value.append(v)
                        if not np.isnan(v):
                            nums.append(v)
                scores.append(float(np.ptp(nums)) if len(nums) >= 2 else nan)
        else:
            for item_id, per in human.items():
                if not any(per.values()):
                    continue
                i = len(items)
                items.append(item_id)
                tally: dict[Any, int] = {}
                for a, rs in per.items():
                    if rs and a in col:
                        lab = value_label(rs[0].value)
                        if lab is None:  # the matrix's "no rating"
                            continue
                        item.append(i)
                        ann.append(col[a])
                        value.append(vocab.setdefault(lab, len(vocab)))
                        tally[lab] = tally.get(lab, 0) + 1
                n_i = sum(tally.values())
                same = sum(c * (c - 1) for c in tally.values())
                scores.append(same / (n_i * (n_i - 1)) if n_i >= 2 else nan)
        return ClassJudgments(
            annotators=annotators, items=tuple(items), item=np.asarray(item, dtype=np.int64),
            annotator=np.asarray(ann, dtype=np.int64),
            value=np.asarray(value, dtype=np.float64 if self.kind == "numeric" else np.int64),
            values=tuple(vocab), scores=np.asarray(scores, dtype=np.float64))


def _label_set(records: Sequence[Record]) -> frozenset[str]:
    """An annotator's labels of one item in a multi-select set (nothing chosen: the empty set)."""
    labs: set[str] = set()
    for r in records:
        v = r.value
        labs |= set(v.labels) if isinstance(v, MultiLabel) else {str(value_label(v))}
    return frozenset(labs)


def _mean_jaccard(sets: Sequence[frozenset[str]]) -> float:
    """Mean Jaccard similarity of every pair of label sets (two empty sets: 1)."""
    sims = [1.0 if not (x | y) else len(x & y) / len(x | y) for x, y in itertools.combinations(sets, 2)]
    return float(np.mean(sims))
