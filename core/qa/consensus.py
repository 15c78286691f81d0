"""Consensus: one answer from many annotators.

Classes
    :func:`majority_vote` (plurality or strict majority, ties reported and
    handled by a documented rule), :func:`dawid_skene` (EM over per-annotator
    confusion matrices, Dawid & Skene 1979), and crowd-kit's other categorical
    models, written here with the same definitions so the two agree:
    :func:`one_coin_dawid_skene`, :func:`glad`, :func:`mace`, :func:`wawa` and
    :func:`zero_based_skill`. All take *long format* arrays, one entry per
    judgment ``(item, annotator, label)``, so that missing annotators are simply
    absent rows and the work scales with the number of judgments.
    :func:`class_consensus` runs any of them by name (:data:`CONSENSUS_METHODS`)
    and :func:`skill_intervals` bootstraps each annotator's skill.

Geometry
    :func:`fuse_boxes` (weighted-box-fusion style clustering across annotators,
    quorum, reliability-weighted coordinates and label vote),
    :func:`fuse_keypoints` (per-keypoint weighted mean of visible points) and
    :func:`vote_spans` (exact-span or character-level span voting).

Transcripts
    :func:`median_transcript` (the annotator transcript with the least total
    word edit distance to the others) and :func:`rover` (word-level voting after
    aligning each transcript to the median, in the spirit of NIST ROVER,
    Fiscus 1997).

References:
    A. P. Dawid and A. M. Skene (1979). Maximum likelihood estimation of
    observer error-rates using the EM algorithm. *Applied Statistics* 28(1), 20-28.
    R. Solovyev, W. Wang, T. Gabruseva (2021). Weighted boxes fusion: ensembling
    boxes from different object detection models. *Image and Vision Computing* 107.
    J. G. Fiscus (1997). A post-processing system to yield reduced word error
    rates: Recognizer Output Voting Error Reduction (ROVER). *IEEE ASRU*.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from ..matching.base import box_iou_matrix, match_similarity
from ..model import Classification, MultiLabel, Record

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ObjArray: TypeAlias = npt.NDArray[np.object_]

TieBreak: TypeAlias = Literal["unresolved", "first", "random"]
VoteRule: TypeAlias = Literal["plurality", "majority"]

_EPS = 1e-10  # crowd-kit's floor for probabilities before taking logs


# --------------------------------------------------------------------------- encoding


def _encode(values: npt.ArrayLike, name: str) -> tuple[ObjArray, IntArray]:
    if isinstance(values, list) and values and type(values[0]) is str and all(type(v) is str for v in values):
        return _encode_strings(values)  # ids and labels as the report passes them: no array round trip
    native = np.asarray(values)
    if native.ndim == 1 and native.dtype.kind in "iub":  # fast path: integer codes
        if native.size and native.dtype.kind != "b" and native.min() >= 0 and native.max() < 4 * native.size + 1024:
            # dense non-negative codes (row numbers, annotator indices): a counting sort, O(n)
            present = np.bincount(native) > 0
            code = np.cumsum(present) - 1
            return np.flatnonzero(present).astype(native.dtype).astype(object), code[native].astype(np.intp)
        u, inv = np.unique(native, return_inverse=True)
        return u.astype(object), inv.astype(np.intp).reshape(-1)
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise InvalidAnnotationError(f"{name} must be a 1-D sequence, got shape {arr.shape}")
    plain = arr.tolist()
    if all(type(v) is str for v in plain):
        return _encode_strings(plain)
    try:
        uniq, inv = np.unique(arr, return_inverse=True)
    except TypeError as e:
        raise InvalidAnnotationError(
            f"{name} must be mutually comparable (all str or all int), got types "
            f"{sorted({type(v).__name__ for v in arr})!r}; convert them to one type"
        ) from e
    return uniq.astype(object), inv.astype(np.intp).reshape(-1)


def _encode_strings(plain: list[str]) -> tuple[ObjArray, IntArray]:
    """Strings (item and annotator ids, labels) interned through a dict, not sorted as objects
    (np.unique's object argsort is ~50x slower); the same sorted codes as np.unique gives."""
    index = dict.fromkeys(plain)  # first-seen order, one pass
    order = sorted(index)
    for k, v in enumerate(order):
        index[v] = k
    uniq = np.empty(len(order), dtype=object)
    uniq[:] = order
    return uniq, np.fromiter(map(index.__getitem__, plain), dtype=np.intp, count=len(plain))


def _encode_long(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike,
    classes: Sequence[Hashable] | None,
) -> tuple[ObjArray, ObjArray, ObjArray, IntArray, IntArray, IntArray]:
    item_ids, ii = _encode(items, "items")
    annotator_ids, aa = _encode(annotators, "annotators")
    lab = np.asarray(labels, dtype=object).reshape(-1)
    if not (len(ii) == len(aa) == len(lab)):
        raise InvalidAnnotationError(
            f"items, annotators and labels must have one entry per judgment, got lengths "
            f"{len(ii)}, {len(aa)}, {len(lab)}"
        )
    if len(ii) == 0:
        raise InvalidAnnotationError("no judgments given; pass at least one (item, annotator, label) row")
    if classes is None:
        native = np.asarray(labels)  # integer labels keep the fast path of _encode
        cls, ll = _encode(native.reshape(-1) if native.dtype.kind in "iub" else lab, "labels")
    else:
        cls = np.empty(len(classes), dtype=object)
        cls[:] = list(classes)
        index = {c: k for k, c in enumerate(classes)}
        if len(index) != len(classes):
            raise InvalidAnnotationError(f"classes must be unique, got {list(classes)!r}")
        unknown = sorted({str(v) for v in lab if v not in index})
        if unknown:
            raise InvalidAnnotationError(
                f"labels {unknown[:5]!r} are not in classes {list(classes)!r}; add them to classes"
            )
        ll = np.fromiter((index[v] for v in lab), dtype=np.intp, count=len(lab))
    return item_ids, annotator_ids, cls, ii, aa, ll


def _vote_counts(ii: IntArray, ll: IntArray, n_items: int, n_classes: int,
                 weights: FloatArray | None = None) -> FloatArray:
    flat = np.bincount(ii * n_classes + ll, weights=weights, minlength=n_items * n_classes)
    return flat.reshape(n_items, n_classes).astype(np.float64)


def class_judgments(records: Iterable[Record]) -> tuple[list[str], list[str], list[str]]:
    """Long-format ``(items, annotators, labels)`` from classification records.

    Feed the result to :func:`majority_vote` or :func:`dawid_skene`. Multi-label
    values become one combined label (``"a|b"``, as :func:`accord.core.model.value_label`).

    Raises:
        InvalidAnnotationError: A record whose value is not a class (a box, a span...);
            select one classification label set first (``Dataset.select(label_set=...)``).

    Example:
        >>> from accord.core.model import Classification, Record
        >>> rs = [Record(item_id="t1", annotator_id="ann", label_set="s", value=Classification(label="cat"))]
        >>> class_judgments(rs)
        (['t1'], ['ann'], ['cat'])
    """
    items: list[str] = []
    annotators: list[str] = []
    labels: list[str] = []
    for r in records:
        if isinstance(r.value, Classification):
            lab = r.value.label
        elif isinstance(r.value, MultiLabel):
            lab = "|".join(r.value.labels)
        else:
            raise InvalidAnnotationError(
                f"class consensus needs classification records, got a {r.value.kind!r} value for item "
                f"{r.item_id!r} in label set {r.label_set!r}; select a classification label set first"
            )
        items.append(r.item_id)
        annotators.append(r.annotator_id)
        labels.append(lab)
    return items, annotators, labels


# --------------------------------------------------------------------------- majority vote


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteResult:
    """Majority / plurality vote per item.

    Attributes:
        item_ids: Items, sorted (row order of every array below).
        classes: Class labels (column order of ``counts``).
        labels: Winning label per item, or ``None`` where unresolved.
        counts: (n_items, n_classes) (weighted) vote counts.
        n_votes: Judgments per item (unweighted), so missing annotators show.
        tied: True where two or more classes share the top count.
        resolved: False where no label was chosen (unresolved tie, or no strict majority).
        support: Share of the (weighted) votes the winner got; NaN where unresolved.
    """

    item_ids: ObjArray
    classes: ObjArray
    labels: ObjArray
    counts: FloatArray
    n_votes: IntArray
    tied: BoolArray
    resolved: BoolArray
    support: FloatArray


def majority_vote(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    rule: VoteRule = "plurality", tie_break: TieBreak = "unresolved",
    weights: npt.ArrayLike | None = None, classes: Sequence[Hashable] | None = None,
    seed: int | None = 0,
) -> VoteResult:
    """Plurality or strict-majority vote per item, from long-format judgments.

    Args:
        items / annotators / labels: One entry per judgment. An annotator who did
            not label an item simply has no row for it.
        rule: ``"plurality"`` takes the most voted class; ``"majority"`` also
            requires it to hold more than half the (weighted) votes, otherwise the
            item is unresolved.
        tie_break: ``"unresolved"`` leaves tied items without a label;
            ``"first"`` picks the tied class that comes first in ``classes``
            (sorted order when not given); ``"random"`` picks uniformly among the
            tied classes with ``numpy.random.default_rng(seed)``.
        weights: Optional weight per judgment (e.g. annotator reliability).
        classes: Class order; defaults to the sorted distinct labels.

    Returns:
        A :class:`VoteResult`; ties are always reported in ``tied``.

    Raises:
        InvalidAnnotationError: Ragged inputs, no judgments, negative weights or
            labels outside ``classes``.

    Example:
        >>> r = majority_vote(["a", "a", "a", "b", "b"], [1, 2, 3, 1, 2], ["x", "x", "y", "x", "y"])
        >>> r.labels.tolist(), r.tied.tolist()
        (['x', None], [False, True])
    """
    item_ids, _, cls, ii, _, ll = _encode_long(items, annotators, labels, classes)
    w: FloatArray | None = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) != len(ii) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise InvalidAnnotationError(
                f"weights must be finite, >= 0 and one per judgment ({len(ii)}), got {len(w)} values"
            )
    n, k = len(item_ids), len(cls)
    counts = _vote_counts(ii, ll, n, k, w)
    n_votes = np.bincount(ii, minlength=n).astype(np.intp)
    top = counts.max(axis=1)
    is_top = np.isclose(counts, top[:, None], rtol=1e-12, atol=1e-12) & (top[:, None] > 0)
    tied = is_top.sum(axis=1) > 1
    winner = np.argmax(is_top, axis=1)  # first tied class
    resolved = top > 0
    if tie_break == "unresolved":
        resolved &= ~tied
    elif tie_break == "random":
        rng = np.random.default_rng(seed)
        for i in np.flatnonzero(tied):
            winner[i] = rng.choice(np.flatnonzero(is_top[i]))
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        support = np.where(total > 0, top / np.where(total > 0, total, 1.0), np.nan)
    if rule == "majority":
        resolved &= support > 0.5
    out_labels = np.empty(n, dtype=object)
    out_labels[:] = [cls[winner[i]] if resolved[i] else None for i in range(n)]
    return VoteResult(
        item_ids=item_ids, classes=cls, labels=out_labels, counts=counts, n_votes=n_votes,
        tied=tied, resolved=resolved, support=np.where(resolved, support, np.nan),
    )


# --------------------------------------------------------------------------- Dawid-Skene


@dataclass(frozen=True, slots=True, kw_only=True)
class DawidSkeneResult:
    """Fitted Dawid-Skene model.

    Attributes:
        item_ids: Items, sorted (row order of ``posteriors``).
        annotator_ids: Annotators, sorted (first axis of ``confusion``).
        classes: Classes (column order).
        labels: Most probable class per item (first class on exact ties).
        posteriors: (n_items, n_classes) P(true class | judgments); rows sum to 1.
        confusion: (n_annotators, n_classes, n_classes) with
            ``confusion[a, observed, true] = P(a answers observed | true)``
            (crowd-kit's ``errors_`` layout); each ``[a, :, true]`` column sums to 1.
        priors: (n_classes,) estimated class prevalence.
        n_iter: EM iterations run.
        converged: Whether the objective's change fell below ``tol``.
        log_likelihood: Marginal log-likelihood of the judgments at the last E-step.
    """

    item_ids: ObjArray
    annotator_ids: ObjArray
    classes: ObjArray
    labels: ObjArray
    posteriors: FloatArray
    confusion: FloatArray
    priors: FloatArray
    n_iter: int
    converged: bool
    log_likelihood: float

    def accuracy_score(self) -> FloatArray:
        """Per-annotator accuracy implied by the model: sum_k prior_k * confusion[a, k, k]."""
        return _ds_accuracy(self.confusion, self.priors)


def _ds_accuracy(confusion: FloatArray, priors: FloatArray) -> FloatArray:
    out: FloatArray = np.diagonal(confusion, axis1=1, axis2=2) @ priors
    return out


#: Dawid-Skene's defaults (crowd-kit's): iterations at most, and the tolerance on the objective.
_DS_MAX_ITER = 100
_DS_TOL = 1e-5


@dataclass(frozen=True, slots=True)
class _Patterns:
    """Items grouped by their judgments (see :func:`_item_patterns`)."""

    of_item: IntArray  # (n,) pattern of each item
    item: IntArray     # pattern of each pattern judgment
    annotator: IntArray
    label: IntArray
    weight: FloatArray  # (m,) items per pattern


def _item_patterns(ii: IntArray, aa: IntArray, ll: IntArray, n: int, k: int, n_ann: int) -> _Patterns | None:
    """Items grouped by their judgments, for EM on the distinct patterns.

    Two items whose judgments are the same multiset of (annotator, label) pairs have the same
    posterior at every EM step, so Dawid-Skene can run on each distinct pattern once, weighted
    by how many items share it: the same sums, in another order. With 3 annotators and 3
    classes there are at most 27 patterns however many items there are. Each item's sorted
    judgments are hashed into one integer (exact: a base-``(n_ann * k + 1)`` number, used only
    while it fits in 62 bits). None when patterns would not save much (few items, wide items,
    or mostly distinct ones).
    """
    if n < 256 or len(ii) == 0:
        return None
    base = n_ann * k + 1
    per = np.bincount(ii, minlength=n)
    width = int(per.max())
    if width * math.log2(base) > 62:
        return None
    key = aa.astype(np.int64) * k + ll + 1  # 1..base-1: a judgment is never the digit 0
    order = np.argsort(ii.astype(np.int64) * base + key, kind="stable")
    pos = np.arange(len(ii)) - np.repeat(np.cumsum(per) - per, per)
    digits = key[order] * (np.int64(base) ** pos.astype(np.int64))
    code = np.zeros(n, dtype=np.int64)
    np.add.at(code, ii[order], digits)
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    m = len(first)
    if m > n // 4:
        return None
    rep = np.full(n, -1, dtype=np.intp)
    rep[first] = np.arange(m)
    take = rep[ii] >= 0
    weight = np.bincount(inverse.reshape(-1), minlength=m).astype(np.float64)
    return _Patterns(of_item=inverse.reshape(-1).astype(np.intp), item=rep[ii[take]], annotator=aa[take],
                     label=ll[take], weight=weight)


def _ds_em(ii: IntArray, aa: IntArray, ll: IntArray, rows: int, k: int, n_ann: int, *, max_iter: int, tol: float,
           smoothing: float, weight: FloatArray | None = None, n_obs: int | None = None
           ) -> tuple[FloatArray, FloatArray, FloatArray, int, bool, float]:
    """Dawid-Skene's EM on coded judgments; ``weight``: items per row (patterns), else one each.
    ``(posteriors per row, priors, confusion, iterations, converged, log-likelihood)``."""
    n_items = rows if weight is None else float(weight.sum())
    obs = len(ii) if n_obs is None else n_obs

    def mean(post: FloatArray) -> FloatArray:
        out: FloatArray = post.mean(axis=0) if weight is None else (weight @ post) / n_items
        return out

    counts = _vote_counts(ii, ll, rows, k)
    post = counts / counts.sum(axis=1, keepdims=True)
    priors = mean(post)
    conf = _ds_m_step(post, ii, aa, ll, n_ann, smoothing, weight)
    prev = -np.inf
    loglik = -np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        post, loglik = _ds_e_step(priors, conf, ii, aa, ll, rows, weight)
        priors = mean(post)
        counts = _ds_counts(post, ii, aa, ll, n_ann, weight)  # the M-step's and the objective's sums
        conf = _ds_confusion(counts, smoothing)
        objective = (_ds_expected(counts, priors, conf) - _ds_entropy(post, weight)) / obs
        if objective - prev < tol:
            converged = True
            break
        prev = objective
    return post, priors, conf, it, converged, loglik


def _ds_counts(post: FloatArray, ii: IntArray, aa: IntArray, ll: IntArray, n_ann: int,
               weight: FloatArray | None = None) -> FloatArray:
    """``(annotators, answered, true)``: per annotator and answer, the summed posteriors of the
    judgments' items (``weight``: items per row of ``post``). The M-step normalizes them; the
    objective's expected term is their sum against the log terms."""
    k = post.shape[1]
    counts = np.empty((n_ann, k, k), dtype=np.float64)
    key = aa * k + ll
    w = post if weight is None else post * weight[:, None]
    for t in range(k):
        counts[:, :, t] = np.bincount(key, weights=w[ii, t], minlength=n_ann * k).reshape(n_ann, k)
    return counts


def _ds_confusion(counts: FloatArray, smoothing: float) -> FloatArray:
    """The M-step's confusion matrices from :func:`_ds_counts` (floored at 1e-10, as crowd-kit).

    Without smoothing, each annotator's row for a true class spreads over the labels that
    annotator gave, as in Dawid and Skene (1979) and crowd-kit (which builds each worker's
    table from the worker's own answers): a label the annotator never gave has probability 0,
    not the floor. An annotator who gave nothing (weight 0 in a resample) keeps the floor.
    """
    conf = counts + smoothing
    np.clip(conf, _EPS, None, out=conf)
    if smoothing == 0:
        given = counts.sum(axis=2, keepdims=True) > 0  # (a, label, 1)
        given |= ~given.any(axis=1, keepdims=True)
        conf *= given
    conf /= conf.sum(axis=1, keepdims=True)
    return conf


def _log_conf(conf: FloatArray) -> FloatArray:
    """``log(conf)``, 0 where a cell is 0 (a label the annotator never gave: no judgment reads it)."""
    out = np.zeros_like(conf)
    np.log(conf, out=out, where=conf > 0)
    return out


def _ds_m_step(post: FloatArray, ii: IntArray, aa: IntArray, ll: IntArray, n_ann: int,
               smoothing: float, weight: FloatArray | None = None) -> FloatArray:
    return _ds_confusion(_ds_counts(post, ii, aa, ll, n_ann, weight), smoothing)


def _ds_e_step(priors: FloatArray, conf: FloatArray, ii: IntArray, aa: IntArray, ll: IntArray,
               n_items: int, weight: FloatArray | None = None) -> tuple[FloatArray, float]:
    k = len(priors)
    log_conf = _log_conf(conf).reshape(-1, k)[aa * k + ll]  # (n_obs, k); log over cells, not rows
    log_joint = np.empty((n_items, k), dtype=np.float64)
    for t in range(k):
        log_joint[:, t] = np.bincount(ii, weights=log_conf[:, t], minlength=n_items)
    log_joint += np.log(np.clip(priors, _EPS, None))
    mx = log_joint.max(axis=1, keepdims=True)
    scaled = np.exp(log_joint - mx)
    norm = scaled.sum(axis=1, keepdims=True)
    per_item = mx[:, 0] + np.log(norm[:, 0])
    loglik = float(np.sum(per_item if weight is None else per_item * weight))
    return scaled / norm, loglik


def _ds_entropy(post: FloatArray, weight: FloatArray | None = None) -> float:
    """``sum p log p`` over the (floored) posteriors; ``weight``: items per row."""
    pc = np.clip(post, _EPS, None)
    ent = pc * np.log(pc)
    return float(np.sum(ent if weight is None else ent * weight[:, None]))


def _ds_expected(counts: FloatArray, priors: FloatArray, conf: FloatArray) -> float:
    """The objective's expected complete log-likelihood from :func:`_ds_counts`."""
    k = len(priors)
    log_terms = _log_conf(conf) + np.log(np.clip(priors, _EPS, None))[None, None, :]  # (a, observed, true)
    return float(np.sum(counts.reshape(-1, k) * log_terms.reshape(-1, k)))


def _ds_objective(post: FloatArray, priors: FloatArray, conf: FloatArray, ii: IntArray, aa: IntArray,
                  ll: IntArray, weight: FloatArray | None = None) -> float:
    """crowd-kit's evidence lower bound: expected complete log-likelihood + posterior entropy.

    As in crowd-kit, the prior term is counted once per judgment (not once per item).
    ``weight``: items per row of ``post`` (EM on item patterns), else one each.
    """
    counts = _ds_counts(post, ii, aa, ll, conf.shape[0], weight)
    return _ds_expected(counts, priors, conf) - _ds_entropy(post, weight)


def dawid_skene(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    max_iter: int = _DS_MAX_ITER, tol: float = _DS_TOL, smoothing: float = 0.0,
    classes: Sequence[Hashable] | None = None,
) -> DawidSkeneResult:
    """Dawid & Skene (1979) EM estimate of true classes and annotator confusion matrices.

    Conventions follow crowd-kit's ``DawidSkene`` so the two agree: the
    posteriors start from the soft majority vote (each item's vote shares);
    then the M-step sets priors to the mean posterior and each annotator's
    confusion column ``[a, :, true]`` to the posterior-weighted counts of their
    answers, normalized; the E-step computes posteriors in log space. Cells are
    floored at 1e-10 before normalizing (crowd-kit's ``_EPS``); ``smoothing``
    adds a Dirichlet-style pseudo-count to every cell first (0 = crowd-kit's
    behaviour; use e.g. 0.01 to keep sparse annotators from degenerate 0/1 rates).
    Iteration stops when crowd-kit's objective per judgment (evidence lower
    bound, with the prior term counted per judgment as crowd-kit does) improves
    by less than ``tol``, or after ``max_iter`` iterations; so with equal
    settings the two run the same iterations and agree to rounding. The one
    difference: crowd-kit floors its returned posteriors at 1e-10 without
    renormalizing; ours are exact and sum to 1.

    Args:
        items / annotators / labels: One entry per judgment (long format). An
            annotator may judge an item more than once (as in the 1979 data,
            where clinician 1 examined each patient three times); each
            judgment counts.
        max_iter: Maximum EM iterations (>= 1).
        tol: Convergence tolerance on the objective per judgment (> 0).
        smoothing: Pseudo-count added to every confusion cell (>= 0).
        classes: Class order; defaults to the sorted distinct labels. Classes
            nobody used get zero prior.

    Returns:
        A :class:`DawidSkeneResult`.

    Raises:
        InvalidAnnotationError: Ragged inputs, no judgments, labels outside
            ``classes``, or bad ``max_iter`` / ``tol`` / ``smoothing``.

    Note:
        EM finds a local optimum; with few items per annotator, label-switching
        solutions exist. Starting from the majority vote keeps the labels
        aligned with the crowd's.
    """
    if max_iter < 1:
        raise InvalidAnnotationError(f"max_iter must be >= 1, got {max_iter!r}")
    if not tol > 0:
        raise InvalidAnnotationError(f"tol must be > 0, got {tol!r}")
    if not (smoothing >= 0 and np.isfinite(smoothing)):
        raise InvalidAnnotationError(f"smoothing must be a finite pseudo-count >= 0, got {smoothing!r}")
    item_ids, annotator_ids, cls, ii, aa, ll = _encode_long(items, annotators, labels, classes)
    n, k, n_ann = len(item_ids), len(cls), len(annotator_ids)
    # EM on the distinct item patterns when that saves work (the same sums; see _item_patterns)
    pat = _item_patterns(ii, aa, ll, n, k, n_ann)
    if pat is None:
        post, priors, conf, it, converged, loglik = _ds_em(ii, aa, ll, n, k, n_ann, max_iter=max_iter, tol=tol,
                                                           smoothing=smoothing)
    else:
        post, priors, conf, it, converged, loglik = _ds_em(
            pat.item, pat.annotator, pat.label, len(pat.weight), k, n_ann, max_iter=max_iter, tol=tol,
            smoothing=smoothing, weight=pat.weight, n_obs=len(ii))
        post = post[pat.of_item]
    out_labels = np.empty(n, dtype=object)
    out_labels[:] = list(cls[np.argmax(post, axis=1)])
    return DawidSkeneResult(
        item_ids=item_ids, annotator_ids=annotator_ids, classes=cls, labels=out_labels,
        posteriors=post, confusion=conf, priors=priors, n_iter=it, converged=converged,
        log_likelihood=loglik,
    )


# --------------------------------------------------------------------------- more truth inference
#
# The aggregators below follow crowd-kit 1.4's definitions (Apache-2.0) so that the
# two agree on the same data; each docstring says where crowd-kit's choices are kept.


def _check_iter(max_iter: int, tol: float | None = None) -> None:
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidAnnotationError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if tol is not None and not tol > 0:
        raise InvalidAnnotationError(f"tol must be > 0, got {tol!r}")


def _labels_of(cls: ObjArray, post: FloatArray) -> ObjArray:
    out = np.empty(post.shape[0], dtype=object)
    out[:] = list(cls[np.argmax(post, axis=1)])
    return out


def _per_annotator_mean(values: FloatArray, aa: IntArray, n_ann: int) -> FloatArray:
    num = np.bincount(aa, weights=values, minlength=n_ann)
    den = np.bincount(aa, minlength=n_ann).astype(np.float64)
    out: FloatArray = num / np.maximum(den, 1.0)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class OneCoinResult:
    """Fitted one-coin (homogeneous) Dawid-Skene model.

    Attributes:
        item_ids / annotator_ids / classes / labels / posteriors / priors / n_iter /
            converged: As in :class:`DawidSkeneResult`.
        skills: (n_annotators,) each annotator's probability of answering the true class,
            the one parameter of their confusion matrix (wrong answers spread evenly).
    """

    item_ids: ObjArray
    annotator_ids: ObjArray
    classes: ObjArray
    labels: ObjArray
    posteriors: FloatArray
    skills: FloatArray
    priors: FloatArray
    n_iter: int
    converged: bool


def _one_coin_confusion(skills: FloatArray, k: int) -> FloatArray:
    if k == 1:
        return np.ones((len(skills), 1, 1))
    off = (1.0 - skills) / (k - 1)
    conf = np.repeat(off[:, None, None], k, axis=1).repeat(k, axis=2)
    idx = np.arange(k)
    conf[:, idx, idx] = skills[:, None]
    out: FloatArray = np.clip(conf, _EPS, 1 - _EPS)
    return out


def one_coin_dawid_skene(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    max_iter: int = 100, tol: float = 1e-5, classes: Sequence[Hashable] | None = None,
) -> OneCoinResult:
    """One-coin Dawid-Skene: EM with one accuracy per annotator (Zhang et al. 2016, sec. 2).

    An annotator with skill ``s`` answers the true class with probability ``s`` and
    each of the ``K - 1`` others with ``(1 - s) / (K - 1)``. As crowd-kit's
    ``OneCoinDawidSkene``: the posteriors start from the soft majority vote; the
    M-step sets priors to the mean posterior and ``s`` to the mean posterior mass
    on the annotator's own answers; confusion cells are clipped to
    ``[1e-10, 1 - 1e-10]``; iteration stops as in :func:`dawid_skene` (crowd-kit's
    objective per judgment changes by less than ``tol``).

    Args:
        items / annotators / labels: One entry per judgment (long format).
        max_iter: Maximum EM iterations (>= 1).
        tol: Convergence tolerance on the objective per judgment (> 0).
        classes: Class order; defaults to the sorted distinct labels.

    Returns:
        A :class:`OneCoinResult`.

    Raises:
        InvalidAnnotationError: Ragged inputs, no judgments, labels outside ``classes``,
            bad ``max_iter`` or ``tol``.

    References:
        Y. Zhang, X. Chen, D. Zhou, M. I. Jordan (2016). Spectral methods meet EM: a
        provably optimal algorithm for crowdsourcing. *JMLR* 17(102), 1-44.

    Example:
        >>> r = one_coin_dawid_skene([1, 1, 1, 2, 2, 2], ["a", "b", "c"] * 2, ["x", "x", "y", "y", "y", "y"])
        >>> r.labels.tolist()
        ['x', 'y']
    """
    _check_iter(max_iter, tol)
    item_ids, annotator_ids, cls, ii, aa, ll = _encode_long(items, annotators, labels, classes)
    n, k, n_ann = len(item_ids), len(cls), len(annotator_ids)
    counts = _vote_counts(ii, ll, n, k)
    post = counts / counts.sum(axis=1, keepdims=True)
    priors = post.mean(axis=0)
    skills = _per_annotator_mean(post[ii, ll], aa, n_ann)
    conf = _one_coin_confusion(skills, k)
    prev, converged, it = -np.inf, False, 0
    for it in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        post, _ = _ds_e_step(priors, conf, ii, aa, ll, n)
        priors = post.mean(axis=0)
        skills = _per_annotator_mean(post[ii, ll], aa, n_ann)
        conf = _one_coin_confusion(skills, k)
        objective = _ds_objective(post, priors, conf, ii, aa, ll) / len(ii)
        if objective - prev < tol:
            converged = True
            break
        prev = objective
    return OneCoinResult(item_ids=item_ids, annotator_ids=annotator_ids, classes=cls,
                         labels=_labels_of(cls, post), posteriors=post, skills=skills, priors=priors,
                         n_iter=it, converged=converged)


# --------------------------------------------------------------------------- GLAD


@dataclass(frozen=True, slots=True, kw_only=True)
class GladResult:
    """Fitted GLAD model (Whitehill et al. 2009).

    Attributes:
        item_ids / annotator_ids / classes / labels / posteriors: As in
            :class:`DawidSkeneResult` (posteriors from the last E-step, as crowd-kit).
        alphas: (n_annotators,) ability; > 0 better than chance, 0 guessing, < 0 adversarial.
        betas: (n_items,) log inverse difficulty (crowd-kit's parameterization: the paper's
            ``beta_j = exp(betas[j]) > 0``; large means easy).
        priors: (n_classes,) the fixed class prior (uniform unless given).
        n_iter: EM iterations run.
        converged: Whether the objective per judgment changed by less than ``tol``.
    """

    item_ids: ObjArray
    annotator_ids: ObjArray
    classes: ObjArray
    labels: ObjArray
    posteriors: FloatArray
    alphas: FloatArray
    betas: FloatArray
    priors: FloatArray
    n_iter: int
    converged: bool

    def accuracy_score(self) -> FloatArray:
        """Per-annotator P(correct) on an item of median difficulty: sigmoid(alpha * exp(median beta))."""
        out: FloatArray = 1.0 / (1.0 + np.exp(-self.alphas * np.exp(np.median(self.betas))))
        return out


def _softplus(x: FloatArray, limit: float = 30.0) -> FloatArray:
    """log(1 + exp(x)), crowd-kit's version (linear beyond +-30, error < 1e-13)."""
    mask = np.abs(x) > limit
    out: FloatArray = np.where(mask, np.where(x > 0, x, 0.0), np.log1p(np.exp(np.where(mask, 0.0, x))))
    return out


def glad(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    max_iter: int = 100, tol: float = 1e-5, m_step_max_iter: int = 25, m_step_tol: float = 1e-2,
    priors: npt.ArrayLike | None = None, classes: Sequence[Hashable] | None = None,
) -> GladResult:
    r"""GLAD: labels, annotator abilities and item difficulties by EM (Whitehill et al. 2009).

    Annotator ``a`` answers item ``i`` correctly with probability
    ``sigmoid(alpha_a * exp(beta_i))`` and otherwise picks one of the ``K - 1`` wrong
    classes uniformly. As crowd-kit's ``GLAD``: ``alpha`` and ``beta`` start at 1 with
    N(1, 1) priors; the class prior is fixed (uniform unless ``priors`` is given); the
    M-step runs SciPy's conjugate gradient (``m_step_max_iter`` iterations, gradient
    tolerance ``m_step_tol``) on the expected complete log-likelihood plus the log priors;
    iteration stops when that objective per (judgment, class) pair improves by less than
    ``tol`` (as in crowd-kit, the first test compares it with the starting objective's
    total, so at least two iterations run). The returned posteriors come from the last E-step (before the last M-step),
    as crowd-kit's ``probas_``.

    Args:
        items / annotators / labels: One entry per judgment (long format).
        max_iter: Maximum EM iterations (>= 1).
        tol: Convergence tolerance (> 0).
        m_step_max_iter: Conjugate-gradient iterations per M-step (>= 1).
        m_step_tol: Conjugate-gradient gradient tolerance (> 0).
        priors: Fixed class prior, one value per class (sums to 1); default uniform.
        classes: Class order; defaults to the sorted distinct labels. With one class only,
            every item gets it and ``alphas`` / ``betas`` stay at their prior means (1).

    Returns:
        A :class:`GladResult`.

    Raises:
        InvalidAnnotationError: Ragged inputs, no judgments, a bad prior or bad iteration settings.

    References:
        J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma, J. Movellan (2009). Whose vote should
        count more: optimal integration of labels from labelers of unknown expertise.
        *NeurIPS* 22, 2035-2043.

    Example:
        >>> r = glad([1, 1, 1, 2, 2, 2], ["a", "b", "c"] * 2, ["x", "x", "y", "y", "y", "y"])
        >>> r.labels.tolist()
        ['x', 'y']
    """
    from scipy.optimize import minimize

    _check_iter(max_iter, tol)
    _check_iter(m_step_max_iter, m_step_tol)
    item_ids, annotator_ids, cls, ii, aa, ll = _encode_long(items, annotators, labels, classes)
    n, k, n_ann = len(item_ids), len(cls), len(annotator_ids)
    if priors is None:
        prior = np.full(k, 1.0 / k)
    else:
        prior = np.asarray(priors, dtype=np.float64).reshape(-1)
        if len(prior) != k or not np.all(prior > 0) or abs(prior.sum() - 1) > 1e-9:
            raise InvalidAnnotationError(
                f"priors must hold {k} positive values summing to 1 (one per class {list(cls)!r}), "
                f"got {prior.tolist()!r}")
    if k == 1:  # nothing to infer: every item has the one class, parameters stay at the prior means
        return GladResult(item_ids=item_ids, annotator_ids=annotator_ids, classes=cls,
                          labels=_labels_of(cls, np.ones((n, 1))), posteriors=np.ones((n, 1)),
                          alphas=np.ones(n_ann), betas=np.ones(n), priors=prior, n_iter=0, converged=True)
    log_prior = np.log(prior)
    log_wrong = np.log(k - 1)
    n_pairs = len(ii) * k  # crowd-kit normalizes by its (judgment, class) rows
    half_log_2pi = 0.5 * np.log(2 * np.pi)

    def e_step(alpha: FloatArray, beta: FloatArray) -> FloatArray:
        x = alpha[aa] * np.exp(beta[ii])
        log_sig, log_1m = -_softplus(-x), -_softplus(x) - log_wrong
        # every class gets the "wrong" term, then the observed class swaps it for the right one
        log_joint = np.bincount(ii, weights=log_1m, minlength=n)[:, None] + np.bincount(
            ii * k + ll, weights=log_sig - log_1m, minlength=n * k).reshape(n, k)
        log_joint += log_prior
        log_joint -= log_joint.max(axis=1, keepdims=True)
        p = np.exp(log_joint)
        out: FloatArray = p / p.sum(axis=1, keepdims=True)
        return out

    def q_value(alpha: FloatArray, beta: FloatArray, p_obs: FloatArray) -> float:
        x = alpha[aa] * np.exp(beta[ii])
        q = float(np.sum(p_obs * -_softplus(-x) + (1 - p_obs) * (-_softplus(x) - log_wrong)))
        q -= float(np.sum((alpha - 1) ** 2) / 2 + n_ann * half_log_2pi)
        q -= float(np.sum((beta - 1) ** 2) / 2 + n * half_log_2pi)
        return q if np.isfinite(q) else -np.inf

    def neg_q_and_grad(theta: FloatArray, p_obs: FloatArray) -> tuple[float, FloatArray]:
        alpha, beta = theta[:n_ann], theta[n_ann:]
        eb = np.exp(beta[ii])
        x = alpha[aa] * eb
        resid = p_obs - 1.0 / (1.0 + np.exp(-x))  # sum_c post_c (delta_c - sigma)
        d_alpha = np.bincount(aa, weights=resid * eb, minlength=n_ann) - (alpha - 1)
        d_beta = np.bincount(ii, weights=resid * x, minlength=n) - (beta - 1)
        return -q_value(alpha, beta, p_obs), -np.concatenate([d_alpha, d_beta])

    alpha = np.ones(n_ann)
    beta = np.ones(n)
    post = e_step(alpha, beta)
    q = q_value(alpha, beta, post[ii, ll])
    converged, it = False, 0
    for it in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        last_q = q
        post = e_step(alpha, beta)
        p_obs = post[ii, ll]
        res = minimize(neg_q_and_grad, np.concatenate([alpha, beta]), args=(p_obs,), jac=True, method="CG",
                       tol=m_step_tol, options={"maxiter": m_step_max_iter})
        alpha, beta = res.x[:n_ann].copy(), res.x[n_ann:].copy()
        q = q_value(alpha, beta, p_obs) / n_pairs
        if q - last_q < tol:
            converged = True
            break
    return GladResult(item_ids=item_ids, annotator_ids=annotator_ids, classes=cls, labels=_labels_of(cls, post),
                      posteriors=post, alphas=alpha, betas=beta, priors=prior, n_iter=it, converged=converged)


# --------------------------------------------------------------------------- MACE


@dataclass(frozen=True, slots=True, kw_only=True)
class MaceResult:
    """Fitted MACE model (Hovy et al. 2013).

    Attributes:
        item_ids / annotator_ids / classes / labels / posteriors: As in :class:`DawidSkeneResult`.
        spamming: (n_annotators, 2) weights of ``[spamming, knowing]`` (crowd-kit's ``spamming_``).
            With ``method="em"`` rows sum to 1; with ``"vb"`` they are variational
            ``exp(E[log p])`` weights, which sum to a little under 1.
        spam_strategy: (n_annotators, n_classes) the annotator's label distribution when
            spamming (crowd-kit's ``thetas_``); normalized as ``spamming``.
        log_marginal_likelihood: Of the kept restart (crowd-kit's selection criterion).
        n_restarts: Restarts run.
    """

    item_ids: ObjArray
    annotator_ids: ObjArray
    classes: ObjArray
    labels: ObjArray
    posteriors: FloatArray
    spamming: FloatArray
    spam_strategy: FloatArray
    log_marginal_likelihood: float
    n_restarts: int

    @property
    def competence(self) -> FloatArray:
        """(n_annotators,) P(not spamming), i.e. of answering the true class: ``spamming[:, 1]``."""
        out: FloatArray = self.spamming[:, 1].copy()
        return out


MaceMethod: TypeAlias = Literal["vb", "em"]


def mace(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    n_restarts: int = 10, max_iter: int = 50, method: MaceMethod = "vb", smoothing: float | None = None,
    default_noise: float = 0.5, alpha: float = 0.5, beta: float = 0.5, seed: int = 0,
    classes: Sequence[Hashable] | None = None,
) -> MaceResult:
    """MACE: each annotator either knows (answers the truth) or spams from their own distribution.

    Annotator ``a`` answers the true class with probability ``competence[a]``,
    otherwise draws from ``spam_strategy[a]``; the true class has a uniform prior.
    As crowd-kit's ``MACE``: each restart initializes both parameter tables with
    ``U(1, 1 + default_noise)`` draws, normalized; runs ``max_iter`` rounds of M-step then
    E-step; the M-step is variational Bayes (``method="vb"``: Beta(``alpha``, ``beta``)
    prior on spamming, symmetric Dirichlet(10) on the strategy) or plain EM with
    additive ``smoothing`` (default ``0.01 / K``); the restart with the highest log
    marginal likelihood is kept. Restart ``r`` draws from
    ``numpy.random.RandomState(seed + r)`` (annotators and classes in sorted order); crowd-kit reuses one seed on
    every restart, so its restarts repeat one run, which is our restart 0 when its
    annotators and classes first appear in sorted order. Computed in log space, so
    items with many judgments do not underflow.

    Args:
        items / annotators / labels: One entry per judgment (long format).
        n_restarts: Random restarts (>= 1).
        max_iter: EM rounds per restart (>= 1).
        method: ``"vb"`` (default) or ``"em"``.
        smoothing: Pseudo-count of the ``"em"`` M-step (>= 0); default ``0.01 / K``.
        default_noise: Width of the initialization's uniform draws (>= 0).
        alpha / beta: Beta prior on (spamming, knowing) for ``"vb"`` (> 0).
        seed: Seed of restart 0.
        classes: Class order; defaults to the sorted distinct labels.

    Returns:
        A :class:`MaceResult`.

    Raises:
        InvalidAnnotationError: Ragged inputs, no judgments, labels outside ``classes``,
            or a bad setting.

    References:
        D. Hovy, T. Berg-Kirkpatrick, A. Vaswani, E. Hovy (2013). Learning whom to trust
        with MACE. *NAACL-HLT*, 1120-1130.

    Example:
        >>> r = mace([1, 1, 1, 2, 2, 2], ["a", "b", "c"] * 2, ["x", "x", "y", "y", "y", "y"], n_restarts=1)
        >>> r.labels.tolist()
        ['x', 'y']
    """
    from scipy.special import digamma

    _check_iter(n_restarts)
    _check_iter(max_iter)
    if method not in ("vb", "em"):
        raise InvalidAnnotationError(f"method must be 'vb' or 'em', got {method!r}")
    if not (default_noise >= 0 and alpha > 0 and beta > 0):
        raise InvalidAnnotationError(
            f"default_noise must be >= 0 and alpha, beta > 0, got {default_noise!r}, {alpha!r}, {beta!r}")
    item_ids, annotator_ids, cls, ii, aa, ll = _encode_long(items, annotators, labels, classes)
    n, k, n_ann = len(item_ids), len(cls), len(annotator_ids)
    smooth = 0.01 / k if smoothing is None else float(smoothing)
    if not (smooth >= 0 and np.isfinite(smooth)):
        raise InvalidAnnotationError(f"smoothing must be a finite pseudo-count >= 0, got {smoothing!r}")
    theta_prior = np.array([alpha, beta])
    strategy_prior = 10.0

    def vb_normalize(x: FloatArray, prior: float | FloatArray) -> FloatArray:
        out: FloatArray = np.exp(digamma(x + prior) - digamma((x + prior).sum(axis=1, keepdims=True)))
        return out

    def em_normalize(x: FloatArray) -> FloatArray:
        s = (x + smooth).sum(axis=1, keepdims=True)
        out: FloatArray = np.divide(x + smooth, s, out=np.zeros_like(x), where=~np.isclose(s, 0.0))
        return out

    def e_step(spam: FloatArray, theta: FloatArray) -> tuple[float, FloatArray, FloatArray, FloatArray]:
        s_emit = spam[aa, 0] * theta[aa, ll]  # P(spam and this answer)
        know = spam[aa, 1]
        # factor of judgment o if the truth is c: s_emit + know * [c == l]
        log_emit = np.log(np.maximum(s_emit, 1e-300))  # plain EM without smoothing can reach 0
        log_joint = np.bincount(ii, weights=log_emit, minlength=n)[:, None] + np.bincount(
            ii * k + ll, weights=np.log(s_emit + know) - log_emit, minlength=n * k).reshape(n, k)
        log_joint -= np.log(k)
        mx = log_joint.max(axis=1, keepdims=True)
        scaled = np.exp(log_joint - mx)
        norm = scaled.sum(axis=1, keepdims=True)
        post = scaled / norm
        log_marginal = mx[:, 0] + np.log(norm[:, 0])
        loglik = float(np.sum(np.log(np.exp(log_marginal) + 1e-8)))
        p_truth = post[ii, ll]  # P(truth == this answer | data)
        knowing = p_truth * know / (s_emit + know)
        spam_post = 1.0 - knowing  # P(this judgment was a spam draw | data)
        strat = np.bincount(aa * k + ll, weights=spam_post, minlength=n_ann * k).reshape(n_ann, k).astype(np.float64)
        know_counts = np.column_stack([np.bincount(aa, weights=spam_post, minlength=n_ann),
                                       np.bincount(aa, weights=knowing, minlength=n_ann)]).astype(np.float64)
        return loglik, post, strat, know_counts

    def run(r: int) -> tuple[float, FloatArray, FloatArray]:
        spam = 1.0 + (1.0 + default_noise) * np.random.RandomState(seed + r).random_sample((n_ann, 2))
        theta = 1.0 + (1.0 + default_noise) * np.random.RandomState(seed + r).random_sample((n_ann, k))
        spam /= spam.sum(axis=1, keepdims=True)
        theta /= theta.sum(axis=1, keepdims=True)
        loglik, _, strat, know_counts = e_step(spam, theta)
        for _ in range(max_iter):
            if method == "vb":
                spam, theta = vb_normalize(know_counts, theta_prior), vb_normalize(strat, strategy_prior)
            else:
                spam, theta = em_normalize(know_counts), em_normalize(strat)
            loglik, _, strat, know_counts = e_step(spam, theta)
        return loglik, spam, theta

    best = run(0)
    for r in range(1, n_restarts):
        cand = run(r)
        if cand[0] > best[0]:  # first restart wins ties, as crowd-kit
            best = cand
    loglik, spam, theta = best
    _, post, _, _ = e_step(spam, theta)
    return MaceResult(item_ids=item_ids, annotator_ids=annotator_ids, classes=cls, labels=_labels_of(cls, post),
                      posteriors=post, spamming=spam, spam_strategy=theta,
                      log_marginal_likelihood=loglik, n_restarts=n_restarts)


# --------------------------------------------------------------------------- Wawa and ZBS


@dataclass(frozen=True, slots=True, kw_only=True)
class SkillVoteResult:
    """A skill-weighted vote (:func:`wawa`, :func:`zero_based_skill`).

    Attributes:
        item_ids / annotator_ids / classes: Sorted ids (row / skill / column order).
        labels: Winning class per item (first in class order on exact ties, as crowd-kit).
        posteriors: (n_items, n_classes) each class's share of the skill-weighted votes.
        skills: (n_annotators,) the weights: each annotator's (estimated) accuracy.
        n_iter: Skill updates run.
    """

    item_ids: ObjArray
    annotator_ids: ObjArray
    classes: ObjArray
    labels: ObjArray
    posteriors: FloatArray
    skills: FloatArray
    n_iter: int


def _weighted_shares(ii: IntArray, aa: IntArray, ll: IntArray, skills: FloatArray, n: int, k: int) -> FloatArray:
    counts = _vote_counts(ii, ll, n, k, skills[aa])
    total = counts.sum(axis=1, keepdims=True)
    zero = total[:, 0] <= 0
    if np.any(zero):  # every voter of the item has skill 0: fall back to the unweighted vote
        counts[zero] = _vote_counts(ii, ll, n, k)[zero]
        total = counts.sum(axis=1, keepdims=True)
    out: FloatArray = counts / total
    return out


def _accuracy_vs(ii: IntArray, aa: IntArray, ll: IntArray, winner: IntArray, n_ann: int,
                 n_items: int, k: int) -> FloatArray:
    """Share of each annotator's distinct (item, label) answers equal to ``winner`` (crowd-kit's get_accuracy)."""
    key = np.unique((aa.astype(np.int64) * n_items + ii) * k + ll)
    a_u, rest = np.divmod(key, n_items * k)
    i_u, l_u = np.divmod(rest, k)
    hit = (winner[i_u] == l_u).astype(np.float64)
    return _per_annotator_mean(hit, a_u.astype(np.intp), n_ann)


def wawa(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    classes: Sequence[Hashable] | None = None,
) -> SkillVoteResult:
    """Wawa (worker agreement with aggregate): a vote weighted by agreement with the majority.

    Three steps, as crowd-kit's ``Wawa``: the plurality vote (ties to the first class);
    each annotator's skill is the share of their distinct ``(item, label)`` answers that
    equal it; the final labels are the skill-weighted vote.

    Args:
        items / annotators / labels: One entry per judgment (long format).
        classes: Class order; defaults to the sorted distinct labels.

    Returns:
        A :class:`SkillVoteResult` (``n_iter`` 1).

    Raises:
        InvalidAnnotationError: Ragged inputs, no judgments, labels outside ``classes``.

    Example:
        >>> r = wawa([1, 1, 1, 2, 2, 2], ["a", "b", "c"] * 2, ["x", "x", "y", "y", "y", "y"])
        >>> r.labels.tolist(), r.skills.tolist()
        (['x', 'y'], [1.0, 1.0, 0.5])
    """
    item_ids, annotator_ids, cls, ii, aa, ll = _encode_long(items, annotators, labels, classes)
    n, k, n_ann = len(item_ids), len(cls), len(annotator_ids)
    mv = np.argmax(_vote_counts(ii, ll, n, k), axis=1)
    skills = _accuracy_vs(ii, aa, ll, mv, n_ann, n, k)
    post = _weighted_shares(ii, aa, ll, skills, n, k)
    return SkillVoteResult(item_ids=item_ids, annotator_ids=annotator_ids, classes=cls,
                           labels=_labels_of(cls, post), posteriors=post, skills=skills, n_iter=1)


def zero_based_skill(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    max_iter: int = 100, lr_init: float = 1.0, lr_steps_to_reduce: int = 20,
    lr_reduce_factor: float = 0.5, eps: float = 1e-5, classes: Sequence[Hashable] | None = None,
) -> SkillVoteResult:
    """Zero-based skill (ZBS): skills moved toward agreement with the weighted vote, repeatedly.

    As crowd-kit's ``ZeroBasedSkill``: every skill starts at ``1 / K + eps`` (``K`` the
    number of distinct labels); on iteration ``t = 1 .. max_iter`` the learning rate is
    multiplied by ``lr_reduce_factor`` when ``t`` is a multiple of ``lr_steps_to_reduce``,
    the skill-weighted vote is taken and each skill moves by ``lr * (accuracy - skill)``,
    accuracy being the share of the annotator's distinct answers equal to the vote. The
    final labels are the vote weighted by the final skills. All ``max_iter`` iterations
    run (crowd-kit has no early stop).

    Args:
        items / annotators / labels: One entry per judgment (long format).
        max_iter: Skill updates (>= 1).
        lr_init: Initial learning rate (> 0).
        lr_steps_to_reduce: Steps between learning-rate reductions (>= 1).
        lr_reduce_factor: Learning-rate multiplier at each reduction (> 0).
        eps: Added to the initial skill ``1 / K``.
        classes: Class order; defaults to the sorted distinct labels.

    Returns:
        A :class:`SkillVoteResult`.

    Raises:
        InvalidAnnotationError: Ragged inputs, no judgments, labels outside ``classes``,
            or a bad setting.

    Example:
        >>> r = zero_based_skill([1, 1, 1, 2, 2, 2], ["a", "b", "c"] * 2, ["x", "x", "y", "y", "y", "y"])
        >>> r.labels.tolist(), r.skills.round(3).tolist()
        (['x', 'y'], [1.0, 1.0, 0.5])
    """
    _check_iter(max_iter)
    _check_iter(lr_steps_to_reduce)
    if not (lr_init > 0 and lr_reduce_factor > 0):
        raise InvalidAnnotationError(f"lr_init and lr_reduce_factor must be > 0, got {lr_init!r}, {lr_reduce_factor!r}")
    item_ids, annotator_ids, cls, ii, aa, ll = _encode_long(items, annotators, labels, classes)
    n, k, n_ann = len(item_ids), len(cls), len(annotator_ids)
    skills = np.full(n_ann, 1.0 / len(np.unique(ll)) + eps)
    lr = lr_init
    for t in range(1, max_iter + 1):
        if t % lr_steps_to_reduce == 0:
            lr *= lr_reduce_factor
        winner = np.argmax(_weighted_shares(ii, aa, ll, skills, n, k), axis=1)
        skills = skills + lr * (_accuracy_vs(ii, aa, ll, winner, n_ann, n, k) - skills)
    post = _weighted_shares(ii, aa, ll, skills, n, k)
    return SkillVoteResult(item_ids=item_ids, annotator_ids=annotator_ids, classes=cls,
                           labels=_labels_of(cls, post), posteriors=post, skills=skills, n_iter=max_iter)


# --------------------------------------------------------------------------- choosing a method

ConsensusMethod: TypeAlias = Literal[
    "majority_vote", "dawid_skene", "one_coin_dawid_skene", "glad", "mace", "wawa", "zero_based_skill"]
#: Every :data:`ConsensusMethod`, in the order the docs list them.
CONSENSUS_METHODS: tuple[str, ...] = (
    "majority_vote", "dawid_skene", "one_coin_dawid_skene", "glad", "mace", "wawa", "zero_based_skill")

#: What each method's per-annotator skill is (the report prints it beside the numbers).
SKILL_DEFINITIONS: dict[str, str] = {
    "majority_vote": "share of the annotator's distinct answers equal to the plurality label (tied items left out)",
    "dawid_skene": "P(correct) implied by the confusion matrix: sum_k prior_k * confusion[k, k]",
    "one_coin_dawid_skene": "the one-coin accuracy s: P(answer = true class)",
    "glad": "P(correct) on an item of median difficulty: sigmoid(alpha * exp(median beta))",
    "mace": "competence: P(the annotator is not spamming)",
    "wawa": "share of the annotator's distinct answers equal to the majority vote",
    "zero_based_skill": "ZBS skill: agreement with the skill-weighted vote, after the learning-rate schedule",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassConsensus:
    """One class-consensus method's labels and annotator skills, whatever the method.

    Attributes:
        method: The :data:`ConsensusMethod` that ran.
        item_ids: Items, sorted.
        labels: Consensus label per item; ``None`` only for ``majority_vote`` ties.
        annotator_ids: Annotators, sorted.
        skills: (n_annotators,) skill on a [0, 1] scale, as :data:`SKILL_DEFINITIONS` says.
        fit: The method's own result (:class:`DawidSkeneResult`, :class:`GladResult`, ...).
    """

    method: str
    item_ids: ObjArray
    labels: ObjArray
    annotator_ids: ObjArray
    skills: FloatArray
    fit: VoteResult | DawidSkeneResult | OneCoinResult | GladResult | MaceResult | SkillVoteResult


def _check_method(method: str) -> None:
    if method not in CONSENSUS_METHODS:
        raise InvalidAnnotationError(
            f"unknown consensus method {method!r}; known: {', '.join(CONSENSUS_METHODS)}")


def class_consensus(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    method: ConsensusMethod = "dawid_skene", seed: int = 0,
) -> ClassConsensus:
    """Run one class-consensus method at its defaults and express annotator skill on one scale.

    Args:
        items / annotators / labels: One entry per judgment (long format).
        method: One of :data:`CONSENSUS_METHODS`.
        seed: Seed of MACE's first restart (the other methods are deterministic).

    Returns:
        A :class:`ClassConsensus`.

    Raises:
        InvalidAnnotationError: An unknown method (the message lists the known ones), or
            bad judgments.

    Example:
        >>> c = class_consensus([1, 1, 1, 2, 2, 2], ["a", "b", "c"] * 2, ["x", "x", "y", "y", "y", "y"], method="wawa")
        >>> c.labels.tolist(), c.skills.tolist()
        (['x', 'y'], [1.0, 1.0, 0.5])
    """
    _check_method(method)
    if method == "majority_vote":
        mv = majority_vote(items, annotators, labels)
        _, annotator_ids, cls, ii, aa, ll = _encode_long(items, annotators, labels, None)
        # items without a winner count for nobody: their winner code is out of range
        winner = np.where(mv.resolved, np.argmax(mv.counts, axis=1), len(cls))
        skills = _accuracy_vs(ii, aa, ll, winner, len(annotator_ids), len(mv.item_ids), len(cls) + 1)
        return ClassConsensus(method=method, item_ids=mv.item_ids, labels=mv.labels, annotator_ids=annotator_ids,
                              skills=skills, fit=mv)
    fit: DawidSkeneResult | OneCoinResult | GladResult | MaceResult | SkillVoteResult
    if method == "dawid_skene":
        fit = dawid_skene(items, annotators, labels)
        skills = fit.accuracy_score()
    elif method == "one_coin_dawid_skene":
        fit = one_coin_dawid_skene(items, annotators, labels)
        skills = fit.skills
    elif method == "glad":
        fit = glad(items, annotators, labels)
        skills = fit.accuracy_score()
    elif method == "mace":
        fit = mace(items, annotators, labels, seed=seed)
        skills = fit.competence
    elif method == "wawa":
        fit = wawa(items, annotators, labels)
        skills = fit.skills
    else:
        fit = zero_based_skill(items, annotators, labels)
        skills = fit.skills
    return ClassConsensus(method=method, item_ids=fit.item_ids, labels=fit.labels,
                          annotator_ids=fit.annotator_ids, skills=skills, fit=fit)


@dataclass(frozen=True, slots=True, kw_only=True)
class SkillIntervals:
    """Annotator skills with percentile-bootstrap intervals (resampling items).

    Attributes:
        method: The consensus method.
        annotator_ids: Annotators, sorted.
        skills: Skill on the full data (:attr:`ClassConsensus.skills`).
        low / high: Interval ends; NaN where fewer than two resamples held the annotator.
        n_judgments: Judgments of each annotator.
        n_resamples: Resamples drawn (after the work bound).
        confidence: Interval coverage, e.g. 0.95.
    """

    method: str
    annotator_ids: ObjArray
    skills: FloatArray
    low: FloatArray
    high: FloatArray
    n_judgments: IntArray
    n_resamples: int
    confidence: float


def skill_intervals(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    method: ConsensusMethod = "dawid_skene", n_resamples: int = 200, confidence: float = 0.95,
    seed: int = 0, max_judgments: int = 2_000_000,
) -> SkillIntervals:
    """Each annotator's skill under ``method`` with a seeded item-bootstrap interval.

    Items are drawn with replacement (``numpy.random.default_rng(seed)``), each draw keeping
    all of the item's judgments as a new item; the method is refitted on every resample and
    the interval is the percentile interval of the refitted skills (an annotator absent from
    a resample is left out of that one). Refitting carries the model's own estimation noise
    into the interval, which a posterior computed at the fitted parameters would not. Work is
    bounded: at most ``max_judgments`` judgments in all are refitted (MACE counts its
    restarts), but never fewer than 20 resamples.

    Args:
        items / annotators / labels: One entry per judgment (long format).
        method: One of :data:`CONSENSUS_METHODS`.
        n_resamples: Wanted resamples (>= 1), before the work bound.
        confidence: Coverage in (0, 1).
        seed: Seed of the resampling (and of MACE).
        max_judgments: Work bound, in judgments refitted (>= 1).

    Returns:
        A :class:`SkillIntervals`.

    Raises:
        InvalidAnnotationError: An unknown method, bad settings or bad judgments.

    Example:
        >>> r = skill_intervals([1, 1, 2, 2, 3, 3], ["a", "b"] * 3, ["x", "x", "y", "y", "x", "y"],
        ...                     method="wawa", n_resamples=50)
        >>> r.n_resamples, bool(r.low[0] <= r.skills[0] <= r.high[0])
        (50, True)
    """
    _check_method(method)
    _check_iter(n_resamples)
    _check_iter(max_judgments)
    if not 0 < confidence < 1:
        raise InvalidAnnotationError(f"confidence must be in (0, 1), got {confidence!r}")
    full = class_consensus(items, annotators, labels, method=method, seed=seed)
    _, annotator_ids, cls, ii, aa, ll = _encode_long(items, annotators, labels, None)
    n, n_ann, n_obs = int(ii.max()) + 1, len(annotator_ids), len(ii)
    cost = n_obs * (10 if method == "mace" else 1)
    b = min(n_resamples, max(20, max_judgments // cost))
    order = np.argsort(ii, kind="stable")
    per_item = np.bincount(ii, minlength=n)
    starts = np.concatenate([[0], np.cumsum(per_item)[:-1]])
    rng = np.random.default_rng(seed)
    draws = np.full((b, n_ann), np.nan)
    # Dawid-Skene on a resample of items is Dawid-Skene on the item patterns with the resample's
    # counts as weights (see _item_patterns): the same fit without building the resample
    k = len(cls)
    pat = _item_patterns(ii, aa, ll, n, k, n_ann) if method == "dawid_skene" else None
    if pat is not None:
        m = len(pat.weight)
        has_class = np.zeros((m, k), dtype=bool)
        has_class[pat.item, pat.label] = True
        has_ann = np.zeros((m, n_ann), dtype=bool)
        has_ann[pat.item, pat.annotator] = True
        pat_obs = np.bincount(pat.item, minlength=m).astype(np.float64)
    for r in range(b):
        pick = rng.integers(0, n, n)
        if pat is not None:
            w = np.bincount(pat.of_item[pick], minlength=m).astype(np.float64)
            used = w > 0
            if has_class[used].any(axis=0).all():  # a class missing from the resample: refit it as drawn
                keep = np.flatnonzero(used)
                row = np.full(m, -1, dtype=np.intp)
                row[keep] = np.arange(keep.size)
                sel = used[pat.item]
                _, priors, conf, _, _, _ = _ds_em(
                    row[pat.item[sel]], pat.annotator[sel], pat.label[sel], keep.size, k, n_ann,
                    max_iter=_DS_MAX_ITER, tol=_DS_TOL, smoothing=0.0, weight=w[keep], n_obs=round(float(w @ pat_obs)))
                present = has_ann[used].any(axis=0)
                draws[r, present] = _ds_accuracy(conf, priors)[present]
                continue
        lengths = per_item[pick]
        new_item = np.repeat(np.arange(n), lengths)
        offset = np.arange(len(new_item)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        rows = order[np.repeat(starts[pick], lengths) + offset]
        fit = class_consensus(new_item, aa[rows], ll[rows], method=method, seed=seed)
        draws[r, fit.annotator_ids.astype(np.intp)] = fit.skills
    tail = 100 * (1 - confidence) / 2
    enough = np.sum(np.isfinite(draws), axis=0) >= 2
    low = np.full(n_ann, np.nan)
    high = np.full(n_ann, np.nan)
    if np.any(enough):
        low[enough] = np.nanpercentile(draws[:, enough], tail, axis=0)
        high[enough] = np.nanpercentile(draws[:, enough], 100 - tail, axis=0)
    return SkillIntervals(method=method, annotator_ids=annotator_ids, skills=full.skills, low=low, high=high,
                          n_judgments=np.bincount(aa, minlength=n_ann).astype(np.intp), n_resamples=b,
                          confidence=confidence)


# --------------------------------------------------------------------------- boxes


@dataclass(frozen=True, slots=True, kw_only=True)
class FusedBoxes:
    """Boxes fused across annotators.

    Attributes:
        boxes_xyxy: (n_regions, 4) reliability-weighted mean ``(x1, y1, x2, y2)``.
        labels: Weighted-vote label per region (first in sorted order on ties).
        n_annotators: How many annotators drew each region.
        score: Share of the total annotator weight behind each region, in [0, 1].
        label_support: Share of the region's weight that voted for the chosen label.
        members: Per region, the ``(annotator_index, box_index)`` pairs fused.
    """

    boxes_xyxy: FloatArray
    labels: tuple[str, ...]
    n_annotators: IntArray
    score: FloatArray
    label_support: FloatArray
    members: tuple[tuple[tuple[int, int], ...], ...]


def _reliability(reliability: npt.ArrayLike | None, n: int) -> FloatArray:
    if reliability is None:
        return np.ones(n, dtype=np.float64)
    r = np.asarray(reliability, dtype=np.float64).reshape(-1)
    if len(r) != n or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise InvalidAnnotationError(
            f"reliability must hold one finite weight > 0 per annotator ({n}), got {r.tolist()!r}"
        )
    return r


def _quorum(quorum: int | None, n: int) -> int:
    q = n // 2 + 1 if quorum is None else quorum
    if not 1 <= q <= max(n, 1):
        raise InvalidAnnotationError(f"quorum must be between 1 and the number of annotators ({n}), got {q!r}")
    return q


def fuse_boxes(
    boxes_xyxy: Sequence[npt.ArrayLike], labels: Sequence[Sequence[str]], *,
    reliability: npt.ArrayLike | None = None, iou_threshold: float = 0.5,
    quorum: int | None = None, label_aware: bool = False,
) -> FusedBoxes:
    """Fuse one image's boxes drawn by several annotators (weighted-box-fusion style).

    Annotators are visited in decreasing reliability (ties: input order). Each
    annotator's boxes are matched one-to-one (Hungarian, :func:`match_similarity`)
    to the current fused boxes at IoU >= ``iou_threshold``, so one annotator adds
    at most one box to a region; unmatched boxes start new regions. A fused box
    is the reliability-weighted mean of its members' corners, refreshed after
    each annotator. Regions drawn by fewer than ``quorum`` annotators are dropped.

    Args:
        boxes_xyxy: Per annotator, an (n_i, 4) array of ``(x1, y1, x2, y2)`` pixels.
        labels: Per annotator, one label per box.
        reliability: Weight > 0 per annotator (e.g. Dawid-Skene accuracy); default all 1.
        iou_threshold: Minimum IoU to join a region, in (0, 1].
        quorum: Minimum annotators per kept region; default a strict majority
            (``n_annotators // 2 + 1``).
        label_aware: If true, only same-label boxes join a region.

    Returns:
        :class:`FusedBoxes`, regions in order of creation.

    Raises:
        InvalidAnnotationError: Mismatched lengths, bad shapes, bad weights or quorum.
    """
    n_ann = len(boxes_xyxy)
    if len(labels) != n_ann:
        raise InvalidAnnotationError(f"labels must hold one list per annotator ({n_ann}), got {len(labels)}")
    if not 0 < iou_threshold <= 1:
        raise InvalidAnnotationError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    rel = _reliability(reliability, n_ann)
    q = _quorum(quorum, n_ann)
    arrays: list[FloatArray] = []
    for a in range(n_ann):
        raw = np.asarray(boxes_xyxy[a], dtype=np.float64)
        b: FloatArray = raw.reshape(-1, 4) if raw.size else np.zeros((0, 4))
        if len(labels[a]) != len(b):
            raise InvalidAnnotationError(
                f"annotator {a}: {len(b)} boxes but {len(labels[a])} labels; give one label per box"
            )
        if np.any(b[:, 2] < b[:, 0]) or np.any(b[:, 3] < b[:, 1]) or not np.all(np.isfinite(b)):
            raise InvalidAnnotationError(f"annotator {a}: boxes must be finite (x1, y1, x2, y2) with x2>=x1, y2>=y1")
        arrays.append(b)
    order = sorted(range(n_ann), key=lambda a: (-rel[a], a))
    members: list[list[tuple[int, int]]] = []
    fused: list[FloatArray] = []
    for a in order:
        b = arrays[a]
        if not len(b):
            continue
        if fused:
            cur = np.stack(fused)
            sim = box_iou_matrix(cur, b)
            region_labels = [_weighted_label(m, labels, rel)[0] for m in members]
            res = match_similarity(sim, threshold=iou_threshold, reference_labels=region_labels,
                                   candidate_labels=list(labels[a]), label_aware=label_aware)
            pairs, unmatched = res.pairs, res.unmatched_candidate
        else:
            pairs, unmatched = (), tuple(range(len(b)))
        for r, j in pairs:
            members[r].append((a, j))
        for j in unmatched:
            members.append([(a, j)])
            fused.append(b[j].copy())
        for r, _ in pairs:
            fused[r] = _weighted_box(members[r], arrays, rel)
    total_w = float(rel.sum())
    keep = [r for r, m in enumerate(members) if len(m) >= q]
    out_boxes = np.array([fused[r] for r in keep], dtype=np.float64).reshape(-1, 4)
    lab_sup = [_weighted_label(members[r], labels, rel) for r in keep]
    return FusedBoxes(
        boxes_xyxy=out_boxes,
        labels=tuple(lbl for lbl, _ in lab_sup),
        n_annotators=np.array([len(members[r]) for r in keep], dtype=np.intp),
        score=np.array([sum(rel[a] for a, _ in members[r]) / total_w for r in keep], dtype=np.float64),
        label_support=np.array([s for _, s in lab_sup], dtype=np.float64),
        members=tuple(tuple(sorted(members[r])) for r in keep),
    )


def _weighted_box(member: list[tuple[int, int]], arrays: list[FloatArray], rel: FloatArray) -> FloatArray:
    w = np.array([rel[a] for a, _ in member])
    pts = np.stack([arrays[a][j] for a, j in member])
    out: FloatArray = (w[:, None] * pts).sum(axis=0) / w.sum()
    return out


def _weighted_label(member: list[tuple[int, int]], labels: Sequence[Sequence[str]],
                    rel: FloatArray) -> tuple[str, float]:
    tally: dict[str, float] = {}
    for a, j in member:
        tally[labels[a][j]] = tally.get(labels[a][j], 0.0) + float(rel[a])
    best = max(sorted(tally), key=lambda lbl: tally[lbl])
    return best, tally[best] / sum(tally.values())


# --------------------------------------------------------------------------- keypoints


@dataclass(frozen=True, slots=True, kw_only=True)
class FusedKeypoints:
    """Keypoints fused across annotators.

    Attributes:
        points: (n_keypoints, 2) weighted mean of visible points; NaN where none is visible.
        n_visible: Annotators who marked each keypoint visible.
        visible: True where at least ``quorum`` annotators marked the keypoint.
        spread: Weighted RMS distance (pixels) of the points to their mean; NaN where none.
    """

    points: FloatArray
    n_visible: IntArray
    visible: BoolArray
    spread: FloatArray


def fuse_keypoints(
    points: npt.ArrayLike, visible: npt.ArrayLike, *,
    reliability: npt.ArrayLike | None = None, quorum: int | None = None,
) -> FusedKeypoints:
    """Per-keypoint reliability-weighted mean of the points annotators marked visible.

    Args:
        points: (n_annotators, n_keypoints, 2) pixel coordinates (ignored where not visible).
        visible: (n_annotators, n_keypoints) booleans, e.g. COCO ``visibility > 0``.
        reliability: Weight > 0 per annotator; default all 1.
        quorum: Minimum annotators marking a keypoint for it to be ``visible``;
            default a strict majority.

    Returns:
        :class:`FusedKeypoints`.

    Raises:
        InvalidAnnotationError: Shapes that do not agree, non-finite visible points.
    """
    p = np.asarray(points, dtype=np.float64)
    v = np.asarray(visible, dtype=bool)
    if p.ndim != 3 or p.shape[2] != 2 or v.shape != p.shape[:2]:
        raise InvalidAnnotationError(
            f"points must be (n_annotators, n_keypoints, 2) and visible (n_annotators, n_keypoints); "
            f"got {p.shape} and {v.shape}"
        )
    if not np.all(np.isfinite(p[v])):
        raise InvalidAnnotationError("visible keypoints must have finite coordinates")
    rel = _reliability(reliability, p.shape[0])
    q = _quorum(quorum, p.shape[0])
    w = np.where(v, rel[:, None], 0.0)
    wsum = w.sum(axis=0)
    pz = np.where(v[:, :, None], p, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w[:, :, None] * pz).sum(axis=0) / wsum[:, None]
        d2 = np.where(v, ((pz - mean[None]) ** 2).sum(axis=2), 0.0)
        spread = np.sqrt((w * d2).sum(axis=0) / wsum)
    n_vis = v.sum(axis=0).astype(np.intp)
    return FusedKeypoints(points=mean, n_visible=n_vis, visible=n_vis >= q, spread=spread)


# --------------------------------------------------------------------------- spans

SpanTuple: TypeAlias = tuple[int, int, str]
SpanMode: TypeAlias = Literal["exact", "character"]


def vote_spans(
    spans: Sequence[Sequence[SpanTuple]], *, mode: SpanMode = "exact",
    reliability: npt.ArrayLike | None = None, quorum: int | None = None,
) -> tuple[SpanTuple, ...]:
    """Consensus spans ``(start, end, label)`` (character offsets, ``[start, end)``).

    ``"exact"`` keeps each distinct ``(start, end, label)`` whose annotators'
    weight reaches ``quorum`` (an annotator counts once per span). ``"character"``
    votes per character: each character takes the label with the most weight if
    that weight reaches ``quorum`` (ties: sorted-first label), and maximal runs of
    one label become spans (adjacent same-label spans therefore merge).

    Args:
        spans: Per annotator, their spans.
        mode: ``"exact"`` or ``"character"``.
        reliability: Weight > 0 per annotator; default all 1, so ``quorum`` is a head count.
        quorum: Minimum weight; default a strict majority of annotators
            (``n // 2 + 1``; with weights, compared against the summed weight).

    Returns:
        Spans sorted by ``(start, end, label)``.

    Raises:
        InvalidAnnotationError: Spans with ``end < start`` or negative offsets.
    """
    n = len(spans)
    rel = _reliability(reliability, n)
    q = float(_quorum(quorum, n))
    for a, sp in enumerate(spans):
        for s, e, _ in sp:
            if s < 0 or e < s:
                raise InvalidAnnotationError(f"annotator {a}: a span needs 0 <= start <= end, got ({s}, {e})")
    if mode == "exact":
        tally: dict[SpanTuple, float] = {}
        for a, sp in enumerate(spans):
            for key in set(sp):
                tally[key] = tally.get(key, 0.0) + float(rel[a])
        return tuple(sorted(k for k, wt in tally.items() if wt >= q - 1e-12))
    length = max((e for sp in spans for _, e, _ in sp), default=0)
    label_set = sorted({lbl for sp in spans for _, _, lbl in sp})
    if not label_set or length == 0:
        return ()
    lab_index = {lbl: k for k, lbl in enumerate(label_set)}
    votes = np.zeros((len(label_set), length), dtype=np.float64)
    for a, sp in enumerate(spans):
        cover = np.zeros((len(label_set), length), dtype=bool)
        for s, e, lbl in sp:
            cover[lab_index[lbl], s:e] = True  # an annotator votes once per character and label
        votes += cover * rel[a]
    best = np.argmax(votes, axis=0)
    ok = votes[best, np.arange(length)] >= q - 1e-12
    char_label = np.where(ok, best, -1)
    out: list[SpanTuple] = []
    start = 0
    for pos in range(1, length + 1):
        if pos == length or char_label[pos] != char_label[start]:
            if char_label[start] >= 0:
                out.append((start, pos, label_set[char_label[start]]))
            start = pos
    return tuple(out)


# --------------------------------------------------------------------------- transcripts

Op: TypeAlias = tuple[int | None, int | None]  # (index in a, index in b); None = gap


def word_alignment(a: Sequence[str], b: Sequence[str]) -> tuple[int, tuple[Op, ...]]:
    """Word-level Levenshtein distance and one optimal alignment of ``a`` to ``b``.

    Unit costs for substitution, insertion and deletion. Among optimal paths the
    backtrace prefers match/substitution, then deletion, then insertion.

    Returns:
        ``(distance, ops)`` where each op is ``(i, j)`` (aligned or substituted),
        ``(i, None)`` (word of ``a`` deleted) or ``(None, j)`` (word of ``b`` inserted).
    """
    n, m = len(a), len(b)
    d = np.zeros((n + 1, m + 1), dtype=np.intp)
    d[:, 0] = np.arange(n + 1)
    d[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        ai = a[i - 1]
        sub = d[i - 1, :-1] + np.fromiter((ai != bj for bj in b), dtype=np.intp, count=m)
        row = np.minimum(sub, d[i - 1, 1:] + 1)
        # insertions chain along the row: d[i, j] = min(row[j-1], d[i, j-1] + 1)
        cur = d[i]
        for j in range(1, m + 1):
            cur[j] = min(row[j - 1], cur[j - 1] + 1)
    ops: list[Op] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i, j] == d[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            ops.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and d[i, j] == d[i - 1, j] + 1:
            ops.append((i - 1, None))
            i -= 1
        else:
            ops.append((None, j - 1))
            j -= 1
    ops.reverse()
    return int(d[n, m]), tuple(ops)


def _words(transcripts: Sequence[str]) -> list[list[str]]:
    if not transcripts:
        raise InvalidAnnotationError("no transcripts given; pass at least one")
    return [t.split() for t in transcripts]


def median_transcript(transcripts: Sequence[str]) -> tuple[int, str]:
    """The transcript with the least total word edit distance to all the others (a set median).

    Words are whitespace-split; ties go to the lowest index.

    Returns:
        ``(index, transcript)`` of the median.

    Raises:
        InvalidAnnotationError: No transcripts.

    Example:
        >>> median_transcript(["the cat sat", "the cat sat down", "a cat sat"])
        (0, 'the cat sat')
    """
    words = _words(transcripts)
    n = len(words)
    dist = np.zeros((n, n), dtype=np.intp)
    for i in range(n):
        for j in range(i + 1, n):
            dist[i, j] = dist[j, i] = word_alignment(words[i], words[j])[0]
    best = int(np.argmin(dist.sum(axis=1)))
    return best, transcripts[best]


def rover(transcripts: Sequence[str], *, reliability: npt.ArrayLike | None = None) -> str:
    """ROVER-style word vote: align every transcript to the median, vote per slot.

    The median transcript (:func:`median_transcript`) is the pivot. Each
    transcript is aligned to it (:func:`word_alignment`); at each pivot word the
    candidates are the words aligned there, or nothing (a deletion), and the
    heaviest wins (ties: the pivot's own word). Words a transcript inserts
    between two pivot words are joined into a phrase; a phrase is inserted when
    its supporters hold more than half the total weight.

    Args:
        transcripts: One per annotator.
        reliability: Weight > 0 per annotator; default all 1.

    Returns:
        The voted transcript, words joined by single spaces.

    Example:
        >>> rover(["the cat sat down", "the bat sat down", "a cat sat"])
        'the cat sat down'
    """
    words = _words(transcripts)
    rel = _reliability(reliability, len(words))
    p, _ = median_transcript(transcripts)
    pivot = words[p]
    m = len(pivot)
    slot_votes: list[dict[str, float]] = [{} for _ in range(m)]
    gap_votes: list[dict[str, float]] = [{} for _ in range(m + 1)]
    for a, hyp in enumerate(words):
        _, ops = word_alignment(pivot, hyp)
        gaps: list[list[str]] = [[] for _ in range(m + 1)]
        pos = 0  # next pivot index
        for i, j in ops:
            if i is None:
                gaps[pos].append(hyp[j])  # type: ignore[index]
            else:
                word = "" if j is None else hyp[j]
                slot_votes[i][word] = slot_votes[i].get(word, 0.0) + float(rel[a])
                pos = i + 1
        for g, phrase in enumerate(gaps):
            if phrase:
                key = " ".join(phrase)
                gap_votes[g][key] = gap_votes[g].get(key, 0.0) + float(rel[a])
    total = float(rel.sum())
    out: list[str] = []
    for g in range(m + 1):
        if gap_votes[g]:
            best_phrase, wt = max(sorted(gap_votes[g].items()), key=lambda kv: kv[1])
            if wt > total / 2:
                out.append(best_phrase)
        if g < m:
            votes = slot_votes[g]
            best = max(votes.values())
            word = pivot[g] if votes.get(pivot[g], 0.0) == best else min(
                w for w, v in votes.items() if v == best)
            if word:
                out.append(word)
    return " ".join(out)


# --------------------------------------------------------------------------- CROWDLAB (model + annotators)

_CROWDLAB_FLOOR = 1e-6  # cleanlab's CLIPPING_LOWER_BOUND on the error-ratio weights


@dataclass(frozen=True, slots=True, kw_only=True)
class CrowdlabResult:
    """Consensus from a classifier's predicted probabilities and several annotators (CROWDLAB).

    Attributes:
        item_ids / annotator_ids / classes: Sorted ids (row / annotator / column order);
            ``classes`` is also the column order of ``pred_probs``.
        labels: Consensus label per item (the best-quality label, see :func:`crowdlab`).
        majority_labels: The majority vote (ties broken by the model) that seeded the weights.
        posteriors: (n_items, n_classes) the weighted ensemble of the model and the annotators.
        consensus_quality: (n_items,) ``posteriors[item, label]``: how likely the consensus is right.
        annotator_agreement: (n_items,) share of the item's annotators who gave the consensus.
        n_votes: (n_items,) judgments per item.
        annotator_quality: (n_annotators,) ``w * mean label quality + (1 - w) * agreement with
            the consensus on items with two or more judgments`` (``w`` the model's share of weight);
            NaN for an annotator who shared no item.
        agreement_with_consensus: (n_annotators,) share of the annotator's labels equal to the consensus.
        n_labeled: (n_annotators,) judgments per annotator.
        annotator_weights: (n_annotators,) each annotator's weight in the ensemble.
        model_weight: The model's weight in the ensemble.
    """

    item_ids: ObjArray
    annotator_ids: ObjArray
    classes: ObjArray
    labels: ObjArray
    majority_labels: ObjArray
    posteriors: FloatArray
    consensus_quality: FloatArray
    annotator_agreement: FloatArray
    n_votes: IntArray
    annotator_quality: FloatArray
    agreement_with_consensus: FloatArray
    n_labeled: IntArray
    annotator_weights: FloatArray
    model_weight: float


def _crowdlab_inputs(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, pred_probs: npt.ArrayLike,
    classes: Sequence[Hashable] | None,
) -> tuple[ObjArray, ObjArray, ObjArray, IntArray, IntArray, IntArray, FloatArray]:
    item_ids, annotator_ids, cls, ii, aa, ll = _encode_long(items, annotators, labels, classes)
    n, k, n_ann = len(item_ids), len(cls), len(annotator_ids)
    pp = np.asarray(pred_probs, dtype=np.float64)
    if pp.shape != (n, k):
        raise InvalidAnnotationError(
            f"pred_probs must have shape (n_items, n_classes) = ({n}, {k}), one row per item in sorted "
            f"item order and one column per class, got {pp.shape}; pass classes= if some class is never labeled")
    if not np.all(np.isfinite(pp)) or np.any(pp < 0):
        raise InvalidAnnotationError("pred_probs must be finite and >= 0; pass the model's predicted probabilities")
    if k < 2:
        raise InvalidAnnotationError(f"CROWDLAB needs at least two classes, got {cls.tolist()!r}")
    pair = ii.astype(np.int64) * n_ann + aa
    if len(np.unique(pair)) != len(pair):
        raise InvalidAnnotationError(
            "an annotator labeled the same item more than once; keep one judgment per (item, annotator)")
    if not np.any(np.bincount(ii, minlength=n) > 1):
        raise InvalidAnnotationError("CROWDLAB needs some items with two or more judgments; every item has one")
    return item_ids, annotator_ids, cls, ii, aa, ll, pp


def _crowdlab_majority(ii: IntArray, aa: IntArray, ll: IntArray, pp: FloatArray, n_ann: int) -> IntArray:
    """cleanlab's ``get_majority_vote_label``: ties by the model, then the rarer class, then annotator agreement."""
    n, k = pp.shape
    counts = _vote_counts(ii, ll, n, k)
    is_top = counts == counts.max(axis=1, keepdims=True)
    masked = np.where(is_top, pp, -np.inf)
    winner: IntArray = np.argmax(masked, axis=1).astype(np.intp)
    tied = is_top.sum(axis=1) > 1
    still = tied & ((masked == masked.max(axis=1, keepdims=True)).sum(axis=1) > 1)
    if not np.any(still):
        return winner
    freq = counts.sum(axis=0)
    clean = ~tied[ii]  # judgments on items without a vote tie
    hits = np.bincount(aa[clean], weights=(ll[clean] == winner[ii[clean]]).astype(np.float64), minlength=n_ann)
    seen = np.bincount(aa[clean], minlength=n_ann)
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.where(seen > 0, hits / np.maximum(seen, 1), np.nan)
    agree[np.isnan(agree)] = np.nanmean(agree) if np.any(~np.isnan(agree)) else np.nan
    order = np.argsort(ii, kind="stable")
    starts = np.searchsorted(ii[order], np.arange(n))
    ends = np.searchsorted(ii[order], np.arange(n), side="right")
    for i in np.flatnonzero(still):
        cand = np.flatnonzero(masked[i] == masked[i].max())
        cand = cand[freq[cand] == freq[cand].min()]
        if len(cand) > 1:
            rows = order[starts[i]:ends[i]]
            score = np.array([agree[aa[rows][ll[rows] == c]].mean() for c in cand])
            cand = cand[score == score.max()]
        winner[i] = cand[0]  # cleanlab draws at random among what is left; we take the first class
    return winner


def _crowdlab_stats(ii: IntArray, aa: IntArray, ll: IntArray, pp: FloatArray, consensus: IntArray,
                    n_votes: IntArray, peer_agreement: FloatArray,
                    ) -> tuple[FloatArray, FloatArray, float, FloatArray]:
    """cleanlab's ``_get_consensus_stats`` (quality_method "crowdlab"): agreement, posteriors, weights."""
    n, k = pp.shape
    agreement = np.bincount(ii, weights=(ll == consensus[ii]).astype(np.float64), minlength=n) / n_votes
    multi = n_votes != 1
    consensus_likelihood = float(np.mean(agreement[multi]))
    non_consensus_likelihood = (1.0 - consensus_likelihood) / (k - 1)
    cons_multi = consensus[multi]
    most_likely_class_error = max(
        float(np.mean(cons_multi != np.argmax(np.bincount(cons_multi, minlength=k)))), _CROWDLAB_FLOOR)
    weights = np.clip(1.0 - (1.0 - peer_agreement) / most_likely_class_error, _CROWDLAB_FLOOR, None)
    model_error = float(np.mean(np.argmax(pp[multi], axis=1) != cons_multi))
    model_weight = max(1.0 - model_error / most_likely_class_error, _CROWDLAB_FLOOR) * float(np.sqrt(np.mean(n_votes)))
    w = weights[aa]
    weight_sum = np.bincount(ii, weights=w, minlength=n)
    post = pp * model_weight + (weight_sum * non_consensus_likelihood)[:, None]
    post += (consensus_likelihood - non_consensus_likelihood) * _vote_counts(ii, ll, n, k, w)
    post /= (model_weight + weight_sum)[:, None]
    return agreement, post, model_weight, weights


def crowdlab(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, pred_probs: npt.ArrayLike, *,
    classes: Sequence[Hashable] | None = None,
) -> CrowdlabResult:
    """CROWDLAB: consensus labels and quality scores from a model and several annotators.

    The definitions of cleanlab's ``get_label_quality_multiannotator`` with
    ``consensus_method="best_quality"`` and ``quality_method="crowdlab"`` (no
    calibration), in long format:

    1. The majority vote; ties go to the class the model rates highest, then to the
       class labeled least often overall, then to the class whose annotators agree
       most with the untied votes, then (where cleanlab draws at random) to the first class.
    2. Weights, from the items with two or more judgments: with ``E`` the error of
       always answering the most common consensus class (floored at 1e-6), annotator
       ``a``'s weight is ``max(1 - (1 - peer_a) / E, 1e-6)``, ``peer_a`` being the share
       of other annotators on ``a``'s items who gave ``a``'s label; the model's weight is
       ``max(1 - err / E, 1e-6) * sqrt(mean judgments per item)``, ``err`` its argmax's
       disagreement with the consensus.
    3. Posteriors: per item, the weighted mean of ``pred_probs`` and each annotator's
       vector (``P`` on their label, ``(1 - P) / (K - 1)`` elsewhere, ``P`` the mean
       share of annotators agreeing with the consensus).
    4. The consensus becomes the posterior's argmax (exact ties keep the vote), and
       steps 2-3 are redone with it. ``consensus_quality`` is the posterior of the
       consensus; an annotator's label quality is the posterior of their label.

    Args:
        items / annotators / labels: One entry per judgment (long format), at most one
            per (item, annotator); some items need two or more judgments.
        pred_probs: (n_items, n_classes) out-of-sample predicted probabilities; rows in
            sorted item order (``result.item_ids``), columns in ``classes`` order.
        classes: Class order (the columns of ``pred_probs``); defaults to the sorted
            distinct labels, so pass it when some class is never labeled.

    Returns:
        A :class:`CrowdlabResult`.

    Raises:
        InvalidAnnotationError: Ragged inputs, ``pred_probs`` of the wrong shape or not
            finite, fewer than two classes, a repeated (item, annotator) pair, or no item
            with two judgments.

    References:
        H. W. Goh, U. Tkachenko, J. Mueller (2022). CROWDLAB: Supervised learning to infer
        consensus labels and quality scores for data with multiple annotators.
        *NeurIPS 2022 Human in the Loop Learning Workshop*, arXiv:2210.06812.

    Example:
        Item 3's vote is ``x`` two to one, but the annotators disagree so much that
        their weights fall to the floor and the model's ``y`` wins:

        >>> r = crowdlab([1, 1, 1, 2, 2, 2, 3, 3, 3], ["a", "b", "c"] * 3,
        ...              ["x", "x", "y", "y", "y", "y", "x", "y", "x"],
        ...              [[0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
        >>> r.majority_labels.tolist(), r.labels.tolist(), r.consensus_quality.round(3).tolist()
        (['x', 'y', 'x'], ['x', 'y', 'y'], [0.8, 0.7, 0.8])
    """
    item_ids, annotator_ids, cls, ii, aa, ll, pp = _crowdlab_inputs(items, annotators, labels, pred_probs, classes)
    n, k, n_ann = len(item_ids), len(cls), len(annotator_ids)
    n_votes = np.bincount(ii, minlength=n).astype(np.intp)
    counts = _vote_counts(ii, ll, n, k)
    # each annotator's agreement with the other annotators of their items (weighted by n_votes - 1)
    same = np.bincount(aa, weights=counts[ii, ll] - 1.0, minlength=n_ann)
    pairs = np.bincount(aa, weights=(n_votes[ii] - 1).astype(np.float64), minlength=n_ann)
    with np.errstate(invalid="ignore", divide="ignore"):
        peer = np.where(pairs > 0, same / np.where(pairs > 0, pairs, 1.0), np.nan)
    peer[np.isnan(peer)] = np.nanmean(peer)  # shared no item: the mean of the others, as cleanlab
    majority = _crowdlab_majority(ii, aa, ll, pp, n_ann)
    _, post_mv, _, _ = _crowdlab_stats(ii, aa, ll, pp, majority, n_votes, peer)
    top = post_mv == post_mv.max(axis=1, keepdims=True)
    consensus = np.where(top.sum(axis=1) == 1, np.argmax(post_mv, axis=1), majority).astype(np.intp)
    agreement, post, model_weight, weights = _crowdlab_stats(ii, aa, ll, pp, consensus, n_votes, peer)
    quality = post[np.arange(n), consensus]
    n_labeled = np.bincount(aa, minlength=n_ann).astype(np.intp)
    label_quality = np.bincount(aa, weights=post[ii, ll], minlength=n_ann) / n_labeled
    hit = (ll == consensus[ii]).astype(np.float64)
    multi = n_votes[ii] > 1
    shared = np.bincount(aa[multi], minlength=n_ann)
    with np.errstate(invalid="ignore", divide="ignore"):
        agree_multi = np.where(shared > 0, np.bincount(aa[multi], weights=hit[multi], minlength=n_ann)
                               / np.maximum(shared, 1), np.nan)
    w = model_weight / (model_weight + float(weights.sum()) * float(np.mean(n_votes)) / n_ann)
    return CrowdlabResult(
        item_ids=item_ids, annotator_ids=annotator_ids, classes=cls, labels=cls[consensus],
        majority_labels=cls[majority], posteriors=post, consensus_quality=quality,
        annotator_agreement=agreement, n_votes=n_votes,
        annotator_quality=w * label_quality + (1.0 - w) * agree_multi,
        agreement_with_consensus=np.bincount(aa, weights=hit, minlength=n_ann) / n_labeled,
        n_labeled=n_labeled, annotator_weights=weights, model_weight=model_weight,
    )
