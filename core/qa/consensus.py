"""Consensus: one answer from many annotators.

Classes
    :func:`majority_vote` (plurality or strict majority, ties reported and
    handled by a documented rule) and :func:`dawid_skene` (EM over per-annotator
    confusion matrices, Dawid & Skene 1979). Both take *long format* arrays, one
    entry per judgment ``(item, annotator, label)``, so that missing annotators
    are simply absent rows and the work scales with the number of judgments.

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
    native = np.asarray(values)
    if native.ndim == 1 and native.dtype.kind in "iub":  # fast path: integer codes
        u, inv = np.unique(native, return_inverse=True)
        return u.astype(object), inv.astype(np.intp).reshape(-1)
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise InvalidAnnotationError(f"{name} must be a 1-D sequence, got shape {arr.shape}")
    try:
        uniq, inv = np.unique(arr, return_inverse=True)
    except TypeError as e:
        raise InvalidAnnotationError(
            f"{name} must be mutually comparable (all str or all int), got types "
            f"{sorted({type(v).__name__ for v in arr})!r}; convert them to one type"
        ) from e
    return uniq.astype(object), inv.astype(np.intp).reshape(-1)


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
        cls, ll = _encode(lab, "labels")
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
        diag = np.diagonal(self.confusion, axis1=1, axis2=2)
        out: FloatArray = diag @ self.priors
        return out


def _ds_m_step(post: FloatArray, ii: IntArray, aa: IntArray, ll: IntArray, n_ann: int,
               smoothing: float) -> FloatArray:
    k = post.shape[1]
    conf = np.empty((n_ann, k, k), dtype=np.float64)
    key = aa * k + ll
    for t in range(k):
        conf[:, :, t] = np.bincount(key, weights=post[ii, t], minlength=n_ann * k).reshape(n_ann, k)
    conf += smoothing
    np.clip(conf, _EPS, None, out=conf)
    conf /= conf.sum(axis=1, keepdims=True)
    return conf


def _ds_e_step(priors: FloatArray, conf: FloatArray, ii: IntArray, aa: IntArray, ll: IntArray,
               n_items: int) -> tuple[FloatArray, float]:
    k = len(priors)
    log_conf = np.log(conf).reshape(-1, k)[aa * k + ll]  # (n_obs, k); log over cells, not rows
    log_joint = np.empty((n_items, k), dtype=np.float64)
    for t in range(k):
        log_joint[:, t] = np.bincount(ii, weights=log_conf[:, t], minlength=n_items)
    log_joint += np.log(np.clip(priors, _EPS, None))
    mx = log_joint.max(axis=1, keepdims=True)
    scaled = np.exp(log_joint - mx)
    norm = scaled.sum(axis=1, keepdims=True)
    loglik = float(np.sum(mx[:, 0] + np.log(norm[:, 0])))
    return scaled / norm, loglik


def _ds_objective(post: FloatArray, priors: FloatArray, conf: FloatArray, ii: IntArray, aa: IntArray,
                  ll: IntArray) -> float:
    """crowd-kit's evidence lower bound: expected complete log-likelihood + posterior entropy.

    As in crowd-kit, the prior term is counted once per judgment (not once per item).
    """
    k = len(priors)
    log_terms = np.log(conf) + np.log(np.clip(priors, _EPS, None))[None, None, :]  # (a, observed, true)
    # sum over judgments of post[i] . log_terms[a, l]: first add posteriors per (a, l) cell
    cell_post = np.empty((conf.shape[0] * k, k))
    key = aa * k + ll
    for t in range(k):
        cell_post[:, t] = np.bincount(key, weights=post[ii, t], minlength=conf.shape[0] * k)
    expected = float(np.sum(cell_post * log_terms.reshape(-1, k)))
    pc = np.clip(post, _EPS, None)
    return expected - float(np.sum(pc * np.log(pc)))


def dawid_skene(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, *,
    max_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.0,
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
    counts = _vote_counts(ii, ll, n, k)
    post = counts / counts.sum(axis=1, keepdims=True)
    priors = post.mean(axis=0)
    conf = _ds_m_step(post, ii, aa, ll, n_ann, smoothing)
    n_obs = len(ii)
    prev = -np.inf
    loglik = -np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        post, loglik = _ds_e_step(priors, conf, ii, aa, ll, n)
        priors = post.mean(axis=0)
        conf = _ds_m_step(post, ii, aa, ll, n_ann, smoothing)
        objective = _ds_objective(post, priors, conf, ii, aa, ll) / n_obs
        if objective - prev < tol:
            converged = True
            break
        prev = objective
    out_labels = np.empty(n, dtype=object)
    out_labels[:] = list(cls[np.argmax(post, axis=1)])
    return DawidSkeneResult(
        item_ids=item_ids, annotator_ids=annotator_ids, classes=cls, labels=out_labels,
        posteriors=post, confusion=conf, priors=priors, n_iter=it, converged=converged,
        log_likelihood=loglik,
    )


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
