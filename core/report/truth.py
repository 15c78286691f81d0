"""Dawid-Skene as a mergeable, iterative section: the E-step per partition, the M-step on summed counts.

:func:`accord.core.qa.consensus.dawid_skene` fits the model on every judgment at once. Its EM
only ever needs sums over items, so it splits by item (an item never spans two partitions):

* **first pass** (no parameters yet): each partition turns its items' votes into vote shares
  (the soft majority vote the fit starts from) and sums, per annotator, answered class and
  true class, the posterior-weighted counts of its judgments, and the posteriors themselves;
* **M-step** (:meth:`DawidSkeneSection.next_params`, on the merged sums): the priors are the
  mean posterior, each annotator's confusion column the normalized counts, exactly as the
  one-process fit computes them;
* **E-step** (every later pass): each partition computes its items' posteriors under the
  current parameters, and the same sums, plus its items' log-likelihood and posterior
  entropy. The merged sums give the M-step and crowd-kit's objective (its expected
  complete log-likelihood is the sum of the counts times the log terms), so the stopping
  rule is the one-process rule: stop when the objective per judgment gains less than ``tol``,
  or after ``max_iter`` iterations.

Each pass is one map over the partitions (on Dask, one round of tasks over data that stays
on the workers) and a merge of arrays of size annotators x classes x classes. The result
equals the one-process fit up to the order of floating-point additions (1e-12 relative in
tests), on any split, with the same number of iterations.

The state also carries each item's posterior (what the result reports per item); the M-step
never reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from ..model import Dataset, value_label
from ..qa.consensus import DawidSkeneResult, _ds_confusion, _ds_counts, _ds_e_step, _ds_entropy, _ds_expected
from .engine import Context

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

__all__ = ["DawidSkeneParams", "DawidSkeneSection", "DawidSkeneState", "TruthColumns", "judgment_rows",
           "truth_columns"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TruthColumns:
    """One partition's judgments of one label set as columns (whole items).

    Attributes:
        item_ids: The partition's item ids, sorted; ``item`` indexes into them.
        item / annotator / code: One entry per judgment: item index, annotator index (into
            the section's ``annotators``), class code (into its ``classes``).
    """

    item_ids: tuple[str, ...]
    item: IntArray
    annotator: IntArray
    code: IntArray


def judgment_rows(ds: Dataset, label_set: str) -> list[tuple[str, str, str]]:
    """The ``(item, annotator, label)`` judgments class consensus fits on: every human record of
    the label set, its label as text (the one definition the report, this section and the Dask
    runner's statistics share, so that their fits agree)."""
    return [(r.item_id, r.annotator_id, str(value_label(r.value))) for r in ds.select(label_set=label_set,
                                                                                   source="human")]


def truth_columns(judgments: Sequence[tuple[str, str, str]], classes: Sequence[str], annotators: Sequence[str]
                  ) -> TruthColumns:
    """Columns of ``(item, annotator, label)`` judgments (every one counts, as in the one-process fit).

    Raises:
        InvalidAnnotationError: A label or an annotator the section does not know.
    """
    cls = {c: k for k, c in enumerate(classes)}
    col = {a: j for j, a in enumerate(annotators)}
    ids = sorted({i for i, _, _ in judgments})
    row = {i: k for k, i in enumerate(ids)}
    try:
        item = np.fromiter((row[i] for i, _, _ in judgments), dtype=np.int64, count=len(judgments))
        ann = np.fromiter((col[a] for _, a, _ in judgments), dtype=np.int64, count=len(judgments))
        code = np.fromiter((cls[lab] for _, _, lab in judgments), dtype=np.int64, count=len(judgments))
    except KeyError as e:
        raise InvalidAnnotationError(f"{e.args[0]!r} is not among the section's classes {list(classes)!r} or "
                                     "annotators; build the section from statistics over every partition") from None
    return TruthColumns(item_ids=tuple(ids), item=item, annotator=ann, code=code)


@dataclass(frozen=True, slots=True, kw_only=True)
class DawidSkeneParams:
    """The parameters of one E-step pass: iteration ``iteration`` (1-based), and the objective
    per judgment of the pass before (``-inf`` before the first)."""

    iteration: int
    priors: FloatArray
    confusion: FloatArray
    previous: float


@dataclass(slots=True, kw_only=True)
class DawidSkeneState:
    """Sums over the items folded so far.

    Attributes:
        counts: ``(annotators, classes, classes)``: ``[a, l, t]`` is the sum, over ``a``'s
            judgments answering ``l``, of the item's posterior of true class ``t``.
        post_sum: ``(classes,)`` sum of the items' posteriors.
        n_items / n_obs: Items and judgments.
        loglik: Sum of the items' log-likelihoods (E-step passes).
        entropy: Sum of ``-p log p`` over the items' floored posteriors (E-step passes).
        item_ids / posteriors: Each folded partition's items and their posteriors.
    """

    counts: FloatArray
    post_sum: FloatArray
    n_items: int
    n_obs: int
    loglik: float
    entropy: float
    item_ids: list[tuple[str, ...]]
    posteriors: list[FloatArray]


class DawidSkeneSection:
    """Dawid & Skene (1979) on one classification label set, as map / merge / finish passes.

    ``classes`` and ``annotators`` are those of the whole label set, sorted as the one-process
    fit sorts them (the distinct labels and annotators of every judgment); a runner gathers
    them first. Result: a :class:`~accord.core.qa.consensus.DawidSkeneResult`.
    """

    stage = 0

    def __init__(self, label_set: str, classes: Sequence[str], annotators: Sequence[str], *,
                 max_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.0) -> None:
        if not classes or not annotators:
            raise InvalidAnnotationError("a Dawid-Skene section needs at least one class and one annotator")
        self.label_set = label_set
        self.name = f"consensus:{label_set}"
        self.classes = tuple(classes)
        self.annotators = tuple(annotators)
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing

    # -- the contract

    def create(self, ctx: Context) -> DawidSkeneState:
        k, r = len(self.classes), len(self.annotators)
        return DawidSkeneState(counts=np.zeros((r, k, k)), post_sum=np.zeros(k), n_items=0, n_obs=0, loglik=0.0,
                               entropy=0.0, item_ids=[], posteriors=[])

    def add(self, state: DawidSkeneState, part: Dataset | TruthColumns, ctx: Context) -> DawidSkeneState:
        cols = part if isinstance(part, TruthColumns) else self.columns(part)
        return self.merge(state, self._fold(cols, ctx.params))

    def merge(self, a: DawidSkeneState, b: DawidSkeneState) -> DawidSkeneState:
        return DawidSkeneState(counts=a.counts + b.counts, post_sum=a.post_sum + b.post_sum,
                               n_items=a.n_items + b.n_items, n_obs=a.n_obs + b.n_obs, loglik=a.loglik + b.loglik,
                               entropy=a.entropy + b.entropy, item_ids=a.item_ids + b.item_ids,
                               posteriors=a.posteriors + b.posteriors)

    def next_params(self, state: DawidSkeneState, ctx: Context) -> DawidSkeneParams | None:
        priors, conf = self._m_step(state)
        params: DawidSkeneParams | None = ctx.params
        if params is None:  # the vote shares gave the first M-step
            return DawidSkeneParams(iteration=1, priors=priors, confusion=conf, previous=-np.inf)
        objective = self._objective(state, priors, conf)
        if objective - params.previous < self.tol or params.iteration >= self.max_iter:
            return None
        return DawidSkeneParams(iteration=params.iteration + 1, priors=priors, confusion=conf, previous=objective)

    def finish(self, state: DawidSkeneState, ctx: Context) -> DawidSkeneResult:
        params: DawidSkeneParams | None = ctx.params
        if params is None or state.n_items == 0:
            raise InvalidAnnotationError(f"label set {self.label_set!r}: no judgments to fit Dawid-Skene on")
        priors, conf = self._m_step(state)
        converged = bool(self._objective(state, priors, conf) - params.previous < self.tol)
        flat = np.empty(state.n_items, dtype=object)
        flat[:] = [i for part in state.item_ids for i in part]
        order = np.argsort(flat.astype(str), kind="stable")
        ids: npt.NDArray[Any] = flat[order]
        post: FloatArray = np.concatenate(state.posteriors, axis=0)[order]
        cls = np.empty(len(self.classes), dtype=object)
        cls[:] = list(self.classes)
        anns = np.empty(len(self.annotators), dtype=object)
        anns[:] = list(self.annotators)
        labels = np.empty(len(ids), dtype=object)
        labels[:] = list(cls[np.argmax(post, axis=1)])
        return DawidSkeneResult(item_ids=ids, annotator_ids=anns, classes=cls, labels=labels, posteriors=post,
                                confusion=conf, priors=priors, n_iter=params.iteration, converged=converged,
                                log_likelihood=float(state.loglik))

    # -- the pieces

    def columns(self, ds: Dataset) -> TruthColumns:
        """The partition's judgments of this label set, as the report reads them: every human
        record, its label as text."""
        return truth_columns(judgment_rows(ds, self.label_set), self.classes, self.annotators)

    def _fold(self, cols: TruthColumns, params: DawidSkeneParams | None) -> DawidSkeneState:
        k, r = len(self.classes), len(self.annotators)
        n = len(cols.item_ids)
        ii, aa, ll = cols.item, cols.annotator, cols.code
        loglik = entropy = 0.0
        if params is None:  # vote shares
            votes = np.bincount(ii * k + ll, minlength=n * k).reshape(n, k).astype(np.float64)
            post = votes / np.maximum(votes.sum(axis=1, keepdims=True), 1.0)
        else:  # the one-process fit's own E-step, on this partition's items
            post, loglik = _ds_e_step(params.priors, params.confusion, ii, aa, ll, n)
            entropy = -_ds_entropy(post)
        return DawidSkeneState(counts=_ds_counts(post, ii, aa, ll, r), post_sum=post.sum(axis=0), n_items=n,
                               n_obs=len(ii), loglik=loglik, entropy=entropy, item_ids=[cols.item_ids],
                               posteriors=[post])

    def _m_step(self, state: DawidSkeneState) -> tuple[FloatArray, FloatArray]:
        priors = state.post_sum / max(state.n_items, 1)
        return priors, _ds_confusion(state.counts, self.smoothing)

    def _objective(self, state: DawidSkeneState, priors: FloatArray, conf: FloatArray) -> float:
        return (_ds_expected(state.counts, priors, conf) + state.entropy) / max(state.n_obs, 1)
