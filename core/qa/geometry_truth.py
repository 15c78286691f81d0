"""Probabilistic truth inference for boxes: objects, annotator miss / false-positive / noise rates.

:func:`box_truth_em` fits, by exact EM, a generative model of what several annotators draw on
the same items, and returns a posterior box per object with its uncertainty, the probability
that the object exists, and each annotator's three error parameters with intervals.
:func:`keypoint_truth_em` does the same for keypoint skeletons (one instance per item):
per keypoint visibility and position, per annotator and keypoint miss and false-mark rates,
per annotator position noise times a per-keypoint scale.

The model
    Candidate objects are found once, per item, by clustering the annotators' boxes by IoU
    (:func:`~accord.core.qa.consensus.fuse_boxes` with ``quorum=1``: each annotator adds at most
    one box to a candidate, at IoU >= ``iou_threshold`` to the candidate's running mean). The
    clustering fixes which boxes *could* be the same object; the model then decides, softly,
    whether each candidate ``c`` is a real object (latent ``z_c``, prior ``P(z_c = 1) = pi``)
    and where it is (latent true edges ``mu_c``, flat prior over the frame). Given ``z_c``:

    * ``z_c = 1``: every annotator ``a`` who looked at the item either misses the object
      (probability ``miss_rate[a]``) or draws one box whose four edges are
      ``mu_c + N(0, (sigma[a] * s_c)^2)`` independently, where ``s_c`` is the candidate's size
      (the mean of ``sqrt(width * height)`` of its boxes) under ``noise="relative"``, or 1 px
      under ``noise="absolute"``. Its boxes are detections of the object.
    * ``z_c = 0``: the candidate's boxes are false positives. Each annotator draws spurious
      boxes as a Poisson process with ``fp_rate[a]`` expected boxes per item looked at, each
      uniform over the frame (density ``g = 4 / (W^2 H^2)`` for ordered edge pairs in a
      ``W x H`` frame); an annotator who drew no box in the candidate contributes factor 1.

    With the true edges integrated out (Gaussian integrals, in closed form) the likelihood of
    each candidate under ``z_c = 1`` is ``pi * prod_{missed} m_a * prod_{drew} (1 - m_a) * g *
    integral prod N``, under ``z_c = 0`` it is ``(1 - pi) * prod_{drew} fp_rate[a] * g``, and
    every (item, annotator) look adds ``exp(-fp_rate[a])``. So one box agrees with a frame's
    worth of positions and two agreeing boxes are strong evidence of an object; the frame
    size matters only through how surprising agreement by chance is.

EM
    The E-step is exact: ``P(z_c = 1)`` and the Gaussian posterior of ``mu_c`` given
    ``z_c = 1`` (the precision-weighted mean of the boxes, weights ``1 / (sigma[a] s_c)^2``,
    per-edge variance ``1 / sum of weights``). The M-step is closed form: ``pi`` the mean
    existence probability; ``miss_rate[a]`` the expected share of objects on the items ``a``
    looked at that ``a`` did not draw; ``fp_rate[a]`` the expected number of ``a``'s boxes in
    non-objects per item looked at; ``sigma[a]^2`` the existence-weighted mean of
    ``E[(edge - mu)^2] / s_c^2``. Rates are kept in ``[1e-6, 1 - 1e-6]`` (fp >= 1e-8) and
    sigma >= ``min_sigma`` (identical annotators would otherwise drive it to 0 and the
    likelihood to infinity); these are constrained maxima of concave terms, so the marginal
    log-likelihood (:attr:`BoxTruthResult.log_likelihood_trace`, one value per E-step) never
    decreases. Everything in the loop is vectorized over all boxes of all items (``bincount``);
    only the one-off clustering visits items one by one.

Intervals (``confidence``, default 95 %), conditional on the fitted posteriors
    * miss rate: Wilson score interval with ``n`` = expected objects on the items the
      annotator looked at and ``k`` = expected misses (non-integer counts allowed);
    * fp rate: exact Poisson (Garwood) interval on the expected false-positive count over the
      number of items looked at;
    * sigma: chi-square interval ``sqrt(S / chi2_{1-a/2, nu})`` to ``sqrt(S / chi2_{a/2, nu})``
      with ``S`` the weighted residual sum of squares and ``nu`` the residual degrees of freedom
      (four edges per detection, less each box's leverage ``w_b / W_c``: REML's count; the EM
      fixed point is ``sigma^2 = S / nu``). NaN where ``nu < 1``.
    They do not carry the uncertainty of the clustering or of the other annotators' sigmas;
    with ``n_bootstrap > 0`` they are instead percentile intervals over ``n_bootstrap`` refits
    on items resampled with replacement (seeded).

What it does not do: rotated boxes (pass axis-aligned ``x1, y1, x2, y2``), re-clustering
after the fit, or one annotator drawing two boxes that the clustering should merge (the
second becomes its own candidate, normally a false positive).

References:
    A. P. Dawid and A. M. Skene (1979), *Applied Statistics* 28(1) (the EM for annotator
    error rates this extends to regions). S. Branson, G. Van Horn, P. Perona (2017). Lean
    crowdsourcing: combining humans and machines in an online system. *CVPR* (annotator
    miss / false-positive / localization model for boxes). A. P. Dempster, N. M. Laird,
    D. B. Rubin (1977). Maximum likelihood from incomplete data via the EM algorithm.
    *JRSS B* 39(1) (monotonicity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import stats

from ..errors import InvalidAnnotationError
from ..matching.base import box_iou_matrix, match_similarity
from ..model import Box, Record
from .consensus import _encode, dawid_skene, fuse_boxes

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ObjArray: TypeAlias = npt.NDArray[np.object_]
NoiseModel: TypeAlias = Literal["relative", "absolute"]

__all__ = [
    "BoxJudgments",
    "BoxTruthResult",
    "KeypointTruthResult",
    "box_judgments",
    "box_truth_em",
    "box_truth_summary",
    "keypoint_truth_em",
]

_P_FLOOR = 1e-6
_FP_FLOOR = 1e-8
_LOG_2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxTruthResult:
    """Fitted box truth-inference model (see the module docstring for the model).

    Object arrays have one row per candidate object (every cluster of boxes, whatever its
    ``exists_probability``; :meth:`present` selects the likely ones). Annotator arrays follow
    ``annotator_ids``.

    Attributes:
        item_ids: Items, sorted (including items only named in ``views``).
        annotator_ids: Annotators, sorted.
        object_item: (n_objects,) index into ``item_ids`` of each candidate.
        boxes_xyxy: (n_objects, 4) posterior mean edges ``x1, y1, x2, y2`` given existence
            (precision-weighted mean of the member boxes).
        edge_sigma: (n_objects, 4) posterior standard deviation of each edge, pixels.
        exists_probability: (n_objects,) posterior P(the candidate is a real object).
        labels: Per object, the Dawid-Skene label over candidates (None without labels).
        label_support: Per object, the Dawid-Skene posterior of that label (None without labels).
        n_members: (n_objects,) boxes in each candidate.
        box_object: (n_boxes,) candidate of each input box (input row order).
        miss_rate / miss_rate_low / miss_rate_high: P(no box | object exists, annotator looked).
        fp_rate / fp_rate_low / fp_rate_high: Expected spurious boxes per item looked at.
        sigma / sigma_low / sigma_high: Localization noise per edge, in units of the object's
            size (``noise="relative"``) or pixels (``"absolute"``).
        n_views: Items each annotator looked at; n_boxes: boxes each drew.
        expected_objects: Expected real objects on the items each annotator looked at.
        exists_prior: Fitted prior P(a candidate exists).
        noise: The noise model.
        frame_wh: Frame size (W, H) used for the false-positive density.
        interval_method: ``"analytic"`` or ``"bootstrap"``; confidence: the intervals' coverage.
        log_likelihood_trace: Marginal log-likelihood at each E-step (non-decreasing).
        n_iter: EM iterations run; converged: whether the change fell below ``tol``.
    """

    item_ids: ObjArray
    annotator_ids: ObjArray
    object_item: IntArray
    boxes_xyxy: FloatArray
    edge_sigma: FloatArray
    exists_probability: FloatArray
    labels: ObjArray | None
    label_support: FloatArray | None
    n_members: IntArray
    box_object: IntArray
    miss_rate: FloatArray
    miss_rate_low: FloatArray
    miss_rate_high: FloatArray
    fp_rate: FloatArray
    fp_rate_low: FloatArray
    fp_rate_high: FloatArray
    sigma: FloatArray
    sigma_low: FloatArray
    sigma_high: FloatArray
    n_views: IntArray
    n_boxes: IntArray
    expected_objects: FloatArray
    exists_prior: float
    noise: NoiseModel
    frame_wh: tuple[float, float]
    interval_method: Literal["analytic", "bootstrap"]
    confidence: float
    log_likelihood_trace: tuple[float, ...]
    n_iter: int
    converged: bool

    @property
    def log_likelihood(self) -> float:
        """The last marginal log-likelihood (NaN when nothing was fitted)."""
        return self.log_likelihood_trace[-1] if self.log_likelihood_trace else math.nan

    def present(self, threshold: float = 0.5) -> BoolArray:
        """Mask of candidates with ``exists_probability >= threshold``."""
        out: BoolArray = self.exists_probability >= threshold
        return out

    def members(self, obj: int) -> IntArray:
        """Input rows (box indices) of candidate ``obj``."""
        out: IntArray = np.flatnonzero(self.box_object == obj).astype(np.intp)
        return out


# --------------------------------------------------------------------------- inputs


def _check_settings(iou_threshold: float, max_iter: int, tol: float, min_sigma: float, confidence: float,
                    n_bootstrap: int, noise: str) -> None:
    if not (isinstance(iou_threshold, int | float) and 0 < iou_threshold <= 1):
        raise InvalidAnnotationError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidAnnotationError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (isinstance(tol, int | float) and tol > 0):
        raise InvalidAnnotationError(f"tol must be > 0, got {tol!r}")
    if not (isinstance(min_sigma, int | float) and min_sigma > 0 and math.isfinite(min_sigma)):
        raise InvalidAnnotationError(f"min_sigma must be a finite number > 0, got {min_sigma!r}")
    if not (isinstance(confidence, int | float) and 0 < confidence < 1):
        raise InvalidAnnotationError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 0:
        raise InvalidAnnotationError(f"n_bootstrap must be an integer >= 0 (0 = analytic intervals), "
                                     f"got {n_bootstrap!r}")
    if noise not in ("relative", "absolute"):
        raise InvalidAnnotationError(f"noise must be 'relative' or 'absolute', got {noise!r}")


def _boxes(boxes_xyxy: npt.ArrayLike, n: int) -> FloatArray:
    try:
        b = np.asarray(boxes_xyxy, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidAnnotationError(
            "boxes_xyxy must be numbers shaped (n_boxes, 4) as x1, y1, x2, y2 pixels"
        ) from e
    if b.size == 0 and n == 0:
        return np.zeros((0, 4))
    if b.ndim != 2 or b.shape[1] != 4:
        raise InvalidAnnotationError(f"boxes_xyxy must be shaped (n_boxes, 4) as x1, y1, x2, y2; got {b.shape}")
    if len(b) != n:
        raise InvalidAnnotationError(
            f"item_ids, annotator_ids and boxes_xyxy must have one entry per box, got {n} ids and {len(b)} boxes"
        )
    if not np.all(np.isfinite(b)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(b), axis=1))[0])
        raise InvalidAnnotationError(f"box {bad} has non-finite coordinates {b[bad].tolist()!r}; drop or fix it")
    wrong = (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
    if np.any(wrong):
        bad = int(np.flatnonzero(wrong)[0])
        raise InvalidAnnotationError(
            f"box {bad} is {b[bad].tolist()!r}; boxes must be x1, y1, x2, y2 with x2 >= x1 and y2 >= y1 "
            "(convert x, y, width, height first)"
        )
    return b


def _ids(values: npt.ArrayLike, name: str) -> ObjArray:
    arr: ObjArray
    if isinstance(values, list | tuple):  # keep tuples of ids and mixed types as single entries
        arr = np.empty(len(values), dtype=object)
        arr[:] = list(values)
    else:
        arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise InvalidAnnotationError(f"{name} must be a 1-D sequence, got shape {arr.shape}")
    return arr


@dataclass(frozen=True, slots=True)
class _Data:
    item_ids: ObjArray
    annotator_ids: ObjArray
    bi: IntArray  # item of each box
    ba: IntArray  # annotator of each box
    xyxy: FloatArray
    vi: IntArray  # item of each view (item, annotator) pair
    va: IntArray
    labels: ObjArray | None


def _prepare(item_ids: npt.ArrayLike, annotator_ids: npt.ArrayLike, boxes_xyxy: npt.ArrayLike,
             labels: npt.ArrayLike | None, views: tuple[npt.ArrayLike, npt.ArrayLike] | None) -> _Data:
    it = _ids(item_ids, "item_ids")
    an = _ids(annotator_ids, "annotator_ids")
    if len(it) != len(an):
        raise InvalidAnnotationError(f"item_ids and annotator_ids must have one entry per box, got {len(it)} and "
                                     f"{len(an)}")
    xyxy = _boxes(boxes_xyxy, len(it))
    lab = None
    if labels is not None:
        lab = _ids(labels, "labels")
        if len(lab) != len(it):
            raise InvalidAnnotationError(f"labels must hold one label per box ({len(it)}), got {len(lab)}")
        lab = lab.astype(str).astype(object)
    if views is not None:
        if not (isinstance(views, tuple | list) and len(views) == 2):
            raise InvalidAnnotationError("views must be a pair (item_ids, annotator_ids) of who looked at what")
        v_it, v_an = _ids(views[0], "views[0]"), _ids(views[1], "views[1]")
        if len(v_it) != len(v_an):
            raise InvalidAnnotationError(f"views must pair items with annotators, got {len(v_it)} items and "
                                         f"{len(v_an)} annotators")
    else:
        v_it, v_an = np.empty(0, dtype=object), np.empty(0, dtype=object)
    if len(it) == 0 and len(v_it) == 0:
        raise InvalidAnnotationError("no boxes and no views given; pass the boxes, or views=(items, annotators) "
                                     "saying who looked at which items and drew nothing")
    all_items, codes_i = _encode(np.concatenate([it, v_it]), "item_ids")
    all_ann, codes_a = _encode(np.concatenate([an, v_an]), "annotator_ids")
    n = len(it)
    n_ann = len(all_ann)
    pair = np.unique(codes_i * n_ann + codes_a)
    return _Data(item_ids=all_items, annotator_ids=all_ann, bi=codes_i[:n], ba=codes_a[:n], xyxy=xyxy,
                 vi=(pair // n_ann).astype(np.intp), va=(pair % n_ann).astype(np.intp), labels=lab)


def _cluster(d: _Data, iou_threshold: float, label_aware: bool) -> IntArray:
    """Candidate object of each box: per item, IoU clustering with one box per annotator per candidate.

    The same partition as :func:`fuse_boxes` (``quorum=1``, equal weights) item by item; label-agnostic
    clustering runs annotator by annotator over all items at once (:func:`_cluster_vectorized`).
    """
    if label_aware:
        return _cluster_loop(d, iou_threshold, label_aware)
    return _cluster_vectorized(d, iou_threshold)


def _cluster_vectorized(d: _Data, iou_threshold: float) -> IntArray:
    """Annotators in sorted order; each one's boxes join the current candidates of their item.

    All (candidate, box) pairs of the same item are scored at once; a box and a candidate whose only
    above-threshold partner is each other are matched directly, and only items with competing pairs
    go through :func:`match_similarity` (as :func:`fuse_boxes` does for every item). A candidate's box
    is the running mean of its members, refreshed after each annotator.
    """
    n = len(d.bi)
    n_items = len(d.item_ids)
    out = np.full(n, -1, dtype=np.intp)
    c_item = np.zeros(0, dtype=np.intp)
    c_sum: FloatArray = np.zeros((0, 4))
    c_n: FloatArray = np.zeros(0)
    by_ann = np.lexsort((np.arange(n), d.bi, d.ba))
    cuts = np.flatnonzero(np.diff(d.ba[by_ann])) + 1
    for rows in np.split(by_ann, cuts) if n else []:
        b_item = d.bi[rows]
        bx = d.xyxy[rows]
        nb, nc = len(rows), len(c_item)
        matched_c = np.full(nb, -1, dtype=np.intp)
        if nc:
            mean = c_sum / c_n[:, None]
            per_item = np.bincount(c_item, minlength=n_items)
            c_start = np.concatenate([[0], np.cumsum(per_item)[:-1]])
            c_order = np.argsort(c_item, kind="stable")
            per_box = per_item[b_item]
            pb = np.repeat(np.arange(nb), per_box)
            offset = np.arange(len(pb)) - np.repeat(np.cumsum(per_box) - per_box, per_box)
            pc = c_order[np.repeat(c_start[b_item], per_box) + offset]
            iw = np.minimum(mean[pc, 2], bx[pb, 2]) - np.maximum(mean[pc, 0], bx[pb, 0])
            ih = np.minimum(mean[pc, 3], bx[pb, 3]) - np.maximum(mean[pc, 1], bx[pb, 1])
            inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
            area_c = (mean[pc, 2] - mean[pc, 0]) * (mean[pc, 3] - mean[pc, 1])
            area_b = (bx[pb, 2] - bx[pb, 0]) * (bx[pb, 3] - bx[pb, 1])
            union = area_c + area_b - inter
            with np.errstate(invalid="ignore", divide="ignore"):
                iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
            ok = iou >= iou_threshold
            eb, ec = pb[ok], pc[ok]
            deg_b = np.bincount(eb, minlength=nb)
            deg_c = np.bincount(ec, minlength=nc)
            simple = (deg_b[eb] == 1) & (deg_c[ec] == 1)
            matched_c[eb[simple]] = ec[simple]
            for g in np.unique(b_item[eb[~simple]]):
                cs = c_order[c_start[g]:c_start[g] + per_item[g]]
                bs = np.flatnonzero(b_item == g)
                res = match_similarity(box_iou_matrix(mean[cs], bx[bs]), threshold=iou_threshold)
                for r, j in res.pairs:
                    matched_c[bs[j]] = cs[r]
        hit = matched_c >= 0
        out[rows[hit]] = matched_c[hit]
        np.add.at(c_sum, matched_c[hit], bx[hit])
        np.add.at(c_n, matched_c[hit], 1.0)
        new = np.flatnonzero(~hit)
        out[rows[new]] = nc + np.arange(len(new))
        c_item = np.concatenate([c_item, b_item[new]])
        c_sum = np.vstack([c_sum, bx[new]])
        c_n = np.concatenate([c_n, np.ones(len(new))])
    return out


def _cluster_loop(d: _Data, iou_threshold: float, label_aware: bool) -> IntArray:
    n = len(d.bi)
    out = np.empty(n, dtype=np.intp)
    order = np.lexsort((d.ba, d.bi))
    bounds = np.flatnonzero(np.diff(d.bi[order])) + 1
    next_id = 0
    lab = d.labels
    for rows in np.split(order, bounds) if n else []:
        ann = d.ba[rows]
        if len(rows) == 1 or np.all(ann == ann[0]):
            out[rows] = next_id + np.arange(len(rows))  # one annotator: every box its own candidate
            next_id += len(rows)
            continue
        cut = np.flatnonzero(np.diff(ann)) + 1
        groups = np.split(rows, cut)
        boxes = [d.xyxy[g] for g in groups]
        glabels = [list(lab[g]) if lab is not None else [""] * len(g) for g in groups]
        fused = fuse_boxes(boxes, glabels, iou_threshold=iou_threshold, quorum=1, label_aware=label_aware)
        for m in fused.members:
            for a, j in m:
                out[groups[a][j]] = next_id
            next_id += 1
    return out


# --------------------------------------------------------------------------- EM


@dataclass(frozen=True, slots=True)
class _Params:
    pi: float
    miss: FloatArray
    fp: FloatArray
    sigma: FloatArray


@dataclass(frozen=True, slots=True)
class _Post:
    r: FloatArray  # P(z_c = 1)
    mean: FloatArray  # (n_c, 4) posterior mean given z_c = 1
    var: FloatArray  # (n_c,) posterior variance of each edge (pixels^2)
    loglik: float


@dataclass(frozen=True, slots=True)
class _Model:
    bi: IntArray
    ba: IntArray
    bc: IntArray
    x: FloatArray  # (n_b, 4)
    ci: IntArray  # item of each candidate
    scale: FloatArray  # (n_c,)
    k: FloatArray  # boxes per candidate
    vi: IntArray
    va: IntArray
    n_items: int
    n_ann: int
    log_g: float
    min_sigma: float


def _build(d: _Data, bc: IntArray, noise: NoiseModel, frame_wh: tuple[float, float], min_sigma: float) -> _Model:
    n_c = int(bc.max()) + 1 if len(bc) else 0
    x = d.xyxy
    ci = np.zeros(n_c, dtype=np.intp)
    ci[bc] = d.bi
    k = np.bincount(bc, minlength=n_c).astype(np.float64)
    if noise == "relative":
        size = np.sqrt(np.maximum((x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1]), 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.bincount(bc, weights=size, minlength=n_c) / np.maximum(k, 1)
        scale = np.maximum(scale, 1.0)  # a degenerate (zero-area) candidate is treated as 1 px wide
    else:
        scale = np.ones(n_c)
    w, h = frame_wh
    return _Model(bi=d.bi, ba=d.ba, bc=bc, x=x, ci=ci, scale=scale, k=k, vi=d.vi, va=d.va,
                  n_items=len(d.item_ids), n_ann=len(d.annotator_ids),
                  log_g=math.log(4.0) - 2 * math.log(w) - 2 * math.log(h), min_sigma=min_sigma)


def _gauss(mdl: _Model, sigma: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per box precision; per candidate posterior mean, variance, sum of log-precisions, residual SS."""
    n_c = len(mdl.ci)
    s_b = mdl.scale[mdl.bc]
    w_b = 1.0 / (sigma[mdl.ba] * s_b) ** 2
    big_w = np.bincount(mdl.bc, weights=w_b, minlength=n_c)
    mean: FloatArray = np.empty((n_c, 4))
    for e in range(4):
        mean[:, e] = np.bincount(mdl.bc, weights=w_b * mdl.x[:, e], minlength=n_c) / big_w
    resid2 = ((mdl.x - mean[mdl.bc]) ** 2).sum(axis=1)
    ss = np.asarray(np.bincount(mdl.bc, weights=w_b * resid2, minlength=n_c), dtype=np.float64)
    sum_log_w = np.asarray(np.bincount(mdl.bc, weights=np.log(w_b), minlength=n_c), dtype=np.float64)
    return w_b, mean, 1.0 / big_w, sum_log_w, ss


def _e_step(mdl: _Model, p: _Params) -> _Post:
    n_c = len(mdl.ci)
    fp_total = float(p.fp[mdl.va].sum())
    if n_c == 0:
        return _Post(r=np.zeros(0), mean=np.zeros((0, 4)), var=np.zeros(0), loglik=-fp_total)
    _, mean, var, sum_log_w, ss = _gauss(mdl, p.sigma)
    log_m, log_1m, log_fp = np.log(p.miss), np.log1p(-p.miss), np.log(p.fp)
    lm_item = np.bincount(mdl.vi, weights=log_m[mdl.va], minlength=mdl.n_items)
    drew = np.bincount(mdl.bc, weights=(log_1m - log_m)[mdl.ba], minlength=n_c)
    # log of the integral over mu of prod_b N(x_b; mu, 1/w_b), four independent edges
    log_int = 4 * (-(mdl.k - 1) / 2 * _LOG_2PI + 0.5 * sum_log_w + 0.5 * np.log(var)) - 0.5 * ss
    l1 = math.log(p.pi) + lm_item[mdl.ci] + drew + mdl.log_g + log_int
    l0 = math.log1p(-p.pi) + np.bincount(mdl.bc, weights=log_fp[mdl.ba], minlength=n_c) + mdl.k * mdl.log_g
    tot = np.logaddexp(l1, l0)
    r = np.exp(l1 - tot)
    return _Post(r=r, mean=mean, var=var, loglik=float(tot.sum()) - fp_total)


def _m_step(mdl: _Model, post: _Post, prev_sigma: FloatArray, prev_miss: FloatArray) -> _Params:
    n_c = len(mdl.ci)
    r = post.r
    pi = float(np.clip(r.mean(), _P_FLOOR, 1 - _P_FLOOR)) if n_c else 0.5
    n_views = np.bincount(mdl.va, minlength=mdl.n_ann).astype(np.float64)
    r_item = np.bincount(mdl.ci, weights=r, minlength=mdl.n_items)
    exposure = np.bincount(mdl.va, weights=r_item[mdl.vi], minlength=mdl.n_ann)
    r_b = r[mdl.bc]
    det = np.bincount(mdl.ba, weights=r_b, minlength=mdl.n_ann)
    with np.errstate(invalid="ignore", divide="ignore"):
        miss = np.where(exposure > 0, 1 - det / np.where(exposure > 0, exposure, 1), prev_miss)
        fp = np.bincount(mdl.ba, weights=1 - r_b, minlength=mdl.n_ann) / np.maximum(n_views, 1)
        s_b = mdl.scale[mdl.bc]
        e2 = (((mdl.x - post.mean[mdl.bc]) ** 2).sum(axis=1) + 4 * post.var[mdl.bc]) / s_b**2
        num = np.bincount(mdl.ba, weights=r_b * e2, minlength=mdl.n_ann)
        sigma = np.where(det > 0, np.sqrt(num / np.where(det > 0, 4 * det, 1)), prev_sigma)
    return _Params(pi=pi, miss=np.clip(miss, _P_FLOOR, 1 - _P_FLOOR), fp=np.maximum(fp, _FP_FLOOR),
                   sigma=np.maximum(sigma, mdl.min_sigma))


def _initial(mdl: _Model) -> _Params:
    """M-step from the vote shares (boxes in a candidate / annotators who looked at its item)."""
    n_c = len(mdl.ci)
    viewers = np.bincount(mdl.vi, minlength=mdl.n_items).astype(np.float64)
    r = mdl.k / np.maximum(viewers[mdl.ci], 1) if n_c else np.zeros(0)
    # pooled relative noise from the spread of candidates with >= 2 boxes (unweighted means)
    mean = np.empty((n_c, 4))
    for e in range(4):
        mean[:, e] = np.bincount(mdl.bc, weights=mdl.x[:, e], minlength=n_c) / np.maximum(mdl.k, 1)
    resid2 = ((mdl.x - mean[mdl.bc]) ** 2).sum(axis=1) / mdl.scale[mdl.bc] ** 2
    dof = 4 * float(np.sum(np.maximum(mdl.k - 1, 0)))
    s0 = math.sqrt(float(resid2.sum()) / dof) if dof > 0 else 0.05
    s0 = max(s0, mdl.min_sigma) if math.isfinite(s0) else 0.05
    sigma0 = np.full(mdl.n_ann, s0)
    _, gmean, var, _, _ = _gauss(mdl, sigma0) if n_c else (None, np.zeros((0, 4)), np.zeros(0), None, None)
    post = _Post(r=np.clip(r, 0.0, 1.0), mean=gmean, var=var, loglik=math.nan)
    return _m_step(mdl, post, sigma0, np.full(mdl.n_ann, 0.5))


def _fit(mdl: _Model, max_iter: int, tol: float, start: _Params | None = None
         ) -> tuple[_Params, _Post, list[float], int, bool]:
    p = _initial(mdl) if start is None else start
    trace: list[float] = []
    scale = max(len(mdl.bc), 1)
    converged = False
    it = 0
    post = _e_step(mdl, p)
    trace.append(post.loglik)
    for it in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        p = _m_step(mdl, post, p.sigma, p.miss)
        post = _e_step(mdl, p)
        trace.append(post.loglik)
        if abs(trace[-1] - trace[-2]) / scale < tol:
            converged = True
            break
    return p, post, trace, it, converged


# --------------------------------------------------------------------------- intervals


def _wilson(k: FloatArray, n: FloatArray, z: float) -> tuple[FloatArray, FloatArray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        phat = k / n
        denom = 1 + z * z / n
        centre = (phat + z * z / (2 * n)) / denom
        half = z * np.sqrt(np.maximum(phat * (1 - phat), 0) / n + z * z / (4 * n * n)) / denom
        lo = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        hi = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    return lo, hi


def _analytic(mdl: _Model, p: _Params, post: _Post, confidence: float
              ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    alpha = 1 - confidence
    z = float(stats.norm.ppf(1 - alpha / 2))
    r = post.r
    r_item = np.bincount(mdl.ci, weights=r, minlength=mdl.n_items)
    exposure: FloatArray = np.bincount(mdl.va, weights=r_item[mdl.vi], minlength=mdl.n_ann).astype(np.float64)
    r_b = r[mdl.bc] if len(r) else np.zeros(0)
    det = np.bincount(mdl.ba, weights=r_b, minlength=mdl.n_ann)
    m_lo, m_hi = _wilson(np.maximum(exposure - det, 0), exposure, z)
    n_views = np.bincount(mdl.va, minlength=mdl.n_ann).astype(np.float64)
    y = np.bincount(mdl.ba, weights=1 - r_b, minlength=mdl.n_ann)
    f_lo: FloatArray
    f_hi: FloatArray
    with np.errstate(invalid="ignore", divide="ignore"):
        f_lo = np.where(y > 0, stats.chi2.ppf(alpha / 2, 2 * np.maximum(y, 1e-300)) / 2, 0.0) / n_views
        f_hi = np.asarray(stats.chi2.ppf(1 - alpha / 2, 2 * y + 2) / 2 / n_views, dtype=np.float64)
    s_lo = np.full(mdl.n_ann, np.nan)
    s_hi = np.full(mdl.n_ann, np.nan)
    if len(r):
        w_b, mean, var, _, _ = _gauss(mdl, p.sigma)
        lev = w_b * var[mdl.bc]
        nu = np.bincount(mdl.ba, weights=4 * r_b * (1 - lev), minlength=mdl.n_ann)
        resid2 = ((mdl.x - mean[mdl.bc]) ** 2).sum(axis=1) / mdl.scale[mdl.bc] ** 2
        ss = np.bincount(mdl.ba, weights=r_b * resid2, minlength=mdl.n_ann)
        ok = nu >= 1
        s_lo[ok] = np.sqrt(ss[ok] / stats.chi2.ppf(1 - alpha / 2, nu[ok]))
        s_hi[ok] = np.sqrt(ss[ok] / stats.chi2.ppf(alpha / 2, nu[ok]))
    return m_lo, m_hi, f_lo, f_hi, s_lo, s_hi, exposure


def _bootstrap(d: _Data, bc: IntArray, mdl: _Model, p: _Params, noise: NoiseModel, frame_wh: tuple[float, float],
               min_sigma: float, confidence: float, n_bootstrap: int, max_iter: int, tol: float, seed: int
               ) -> tuple[FloatArray, ...]:
    """Percentile intervals over refits on items drawn with replacement (clusters kept)."""
    rng = np.random.default_rng(seed)
    n_items = mdl.n_items
    box_order = np.argsort(d.bi, kind="stable")
    per_item = np.bincount(d.bi, minlength=n_items)
    box_start = np.concatenate([[0], np.cumsum(per_item)[:-1]])
    view_order = np.argsort(d.vi, kind="stable")
    per_item_v = np.bincount(d.vi, minlength=n_items)
    view_start = np.concatenate([[0], np.cumsum(per_item_v)[:-1]])
    draws = np.full((3, n_bootstrap, mdl.n_ann), np.nan)

    def take(pick: IntArray, order: IntArray, start: IntArray, count: IntArray) -> tuple[IntArray, IntArray]:
        lengths = count[pick]
        new_item = np.repeat(np.arange(len(pick)), lengths)
        offset = np.arange(len(new_item)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return order[np.repeat(start[pick], lengths) + offset], new_item.astype(np.intp)

    for b in range(n_bootstrap):
        pick = rng.integers(0, n_items, n_items).astype(np.intp)
        rows, new_bi = take(pick, box_order, box_start, per_item)
        vrows, new_vi = take(pick, view_order, view_start, per_item_v)
        # a resampled item is a new item, so its candidates are new candidates too
        new_bc_raw = new_bi.astype(np.int64) * (int(bc.max()) + 1 if len(bc) else 1) + bc[rows]
        _, new_bc = np.unique(new_bc_raw, return_inverse=True)
        sub = _Data(item_ids=np.arange(n_items).astype(object), annotator_ids=d.annotator_ids, bi=new_bi,
                    ba=d.ba[rows], xyxy=d.xyxy[rows], vi=new_vi, va=d.va[vrows], labels=None)
        sm = _build(sub, new_bc.astype(np.intp).reshape(-1), noise, frame_wh, min_sigma)
        fit, _, _, _, _ = _fit(sm, max_iter, tol, start=p)
        seen = np.bincount(sub.va, minlength=mdl.n_ann) > 0
        drew = np.bincount(sub.ba, minlength=mdl.n_ann) > 0
        draws[0, b, seen] = fit.miss[seen]
        draws[1, b, seen] = fit.fp[seen]
        draws[2, b, drew] = fit.sigma[drew]
    tail = 100 * (1 - confidence) / 2
    out: list[FloatArray] = []
    for k in range(3):
        enough = np.sum(np.isfinite(draws[k]), axis=0) >= 2
        lo = np.full(mdl.n_ann, np.nan)
        hi = np.full(mdl.n_ann, np.nan)
        if np.any(enough):
            lo[enough] = np.nanpercentile(draws[k][:, enough], tail, axis=0)
            hi[enough] = np.nanpercentile(draws[k][:, enough], 100 - tail, axis=0)
        out += [lo, hi]
    return tuple(out)


# --------------------------------------------------------------------------- public


def box_truth_em(
    item_ids: npt.ArrayLike, annotator_ids: npt.ArrayLike, boxes_xyxy: npt.ArrayLike,
    labels: npt.ArrayLike | None = None, *,
    views: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    iou_threshold: float = 0.5, label_aware: bool = False, noise: NoiseModel = "relative",
    frame_wh: tuple[float, float] | None = None, min_sigma: float = 1e-3,
    max_iter: int = 100, tol: float = 1e-6, confidence: float = 0.95, n_bootstrap: int = 0, seed: int = 0,
) -> BoxTruthResult:
    """EM estimate of the true objects in each item and of each annotator's miss, FP and noise rates.

    The model, the EM and the intervals are described in the module docstring
    (:mod:`accord.core.qa.geometry_truth`).

    Args:
        item_ids / annotator_ids: One entry per box (long format, like :func:`dawid_skene`).
        boxes_xyxy: (n_boxes, 4) ``x1, y1, x2, y2`` pixels, axis-aligned.
        labels: Optional label per box; each candidate's label is then the Dawid-Skene
            consensus over candidates (smoothing 0.01).
        views: ``(item_ids, annotator_ids)`` pairs of who looked at which item, added to the
            pairs implied by the boxes. Pass them for annotators who looked and drew nothing
            (``Dataset.grouped`` lists them with an empty list); without them, an annotator
            who drew no box on an item is taken not to have looked, which understates misses.
        iou_threshold: IoU with a candidate's running mean needed to join it, in (0, 1].
        label_aware: Only same-label boxes form a candidate.
        noise: ``"relative"`` (sigma in units of the object's ``sqrt(width * height)``) or
            ``"absolute"`` (pixels).
        frame_wh: Frame ``(W, H)`` in pixels for the false-positive density; default the
            extent of all boxes (max x2 - min x1, max y2 - min y1), at least 1.
        min_sigma: Lower bound of sigma (> 0).
        max_iter: Maximum EM iterations (>= 1).
        tol: Stop when the log-likelihood changes by less than ``tol`` per box.
        confidence: Coverage of the annotator intervals.
        n_bootstrap: 0 for analytic intervals, else the number of item-bootstrap refits.
        seed: Seed of the bootstrap.

    Returns:
        A :class:`BoxTruthResult`.

    Raises:
        InvalidAnnotationError: Ragged or non-finite input, reversed corners, nothing to fit,
            or a bad setting.

    Example:
        >>> r = box_truth_em(["i"] * 3, ["a", "b", "c"],
        ...                  [[10, 10, 50, 50], [12, 10, 50, 52], [11, 9, 49, 51]])
        >>> len(r.boxes_xyxy), bool(r.exists_probability[0] > 0.99)
        (1, True)
    """
    _check_settings(iou_threshold, max_iter, tol, min_sigma, confidence, n_bootstrap, noise)
    d = _prepare(item_ids, annotator_ids, boxes_xyxy, labels, views)
    if frame_wh is None:
        if len(d.xyxy):
            fw = float(d.xyxy[:, 2].max() - d.xyxy[:, 0].min())
            fh = float(d.xyxy[:, 3].max() - d.xyxy[:, 1].min())
        else:
            fw = fh = 1.0
        frame = (max(fw, 1.0), max(fh, 1.0))
    else:
        try:
            fw, fh = (float(v) for v in frame_wh)
        except (TypeError, ValueError) as e:
            raise InvalidAnnotationError(f"frame_wh must be (width, height) in pixels, got {frame_wh!r}") from e
        if not (fw > 0 and fh > 0 and math.isfinite(fw) and math.isfinite(fh)):
            raise InvalidAnnotationError(f"frame_wh must be two finite sizes > 0, got {frame_wh!r}")
        frame = (fw, fh)
    bc = _cluster(d, iou_threshold, label_aware)
    mdl = _build(d, bc, noise, frame, min_sigma)
    p, post, trace, n_iter, converged = _fit(mdl, max_iter, tol)
    m_lo, m_hi, f_lo, f_hi, s_lo, s_hi, exposure = _analytic(mdl, p, post, confidence)
    method: Literal["analytic", "bootstrap"] = "analytic"
    if n_bootstrap > 0:
        m_lo, m_hi, f_lo, f_hi, s_lo, s_hi = _bootstrap(d, bc, mdl, p, noise, frame, min_sigma, confidence,
                                                        n_bootstrap, max_iter, tol, seed)
        method = "bootstrap"
    n_c = len(mdl.ci)
    out_labels: ObjArray | None = None
    support: FloatArray | None = None
    if d.labels is not None and n_c:
        ds = dawid_skene(bc, d.ba, d.labels, smoothing=0.01)
        out_labels = np.empty(n_c, dtype=object)
        out_labels[:] = list(ds.labels)
        support = ds.posteriors.max(axis=1)
    elif d.labels is not None:
        out_labels, support = np.empty(0, dtype=object), np.zeros(0)
    sd = np.sqrt(post.var)
    return BoxTruthResult(
        item_ids=d.item_ids, annotator_ids=d.annotator_ids, object_item=mdl.ci,
        boxes_xyxy=post.mean, edge_sigma=np.repeat(sd[:, None], 4, axis=1), exists_probability=post.r,
        labels=out_labels, label_support=support, n_members=mdl.k.astype(np.intp), box_object=bc,
        miss_rate=p.miss, miss_rate_low=m_lo, miss_rate_high=m_hi,
        fp_rate=p.fp, fp_rate_low=f_lo, fp_rate_high=f_hi,
        sigma=p.sigma, sigma_low=s_lo, sigma_high=s_hi,
        n_views=np.bincount(d.va, minlength=len(d.annotator_ids)).astype(np.intp),
        n_boxes=np.bincount(d.ba, minlength=len(d.annotator_ids)).astype(np.intp),
        expected_objects=exposure, exists_prior=p.pi, noise=noise, frame_wh=frame, interval_method=method,
        confidence=confidence, log_likelihood_trace=tuple(trace), n_iter=n_iter, converged=converged,
    )


# --------------------------------------------------------------------------- keypoints


@dataclass(frozen=True, slots=True, kw_only=True)
class KeypointTruthResult:
    """Fitted keypoint truth-inference model (see :func:`keypoint_truth_em`).

    Attributes:
        item_ids: Items (one skeleton instance each), sorted; first axis of ``points``.
        annotator_ids: Annotators, sorted.
        points: (n_items, n_keypoints, 2) posterior mean position given the keypoint is
            visible (precision-weighted mean of the marks); NaN where nobody marked it.
        point_sigma: (n_items, n_keypoints) posterior standard deviation of each coordinate,
            pixels; NaN where nobody marked it.
        visible_probability: (n_items, n_keypoints) posterior P(the keypoint is visible).
        visible_prior: (n_keypoints,) fitted prior of visibility.
        miss_rate / miss_rate_low / miss_rate_high: (n_annotators, n_keypoints)
            P(not marked | visible, annotator labeled the item), Wilson interval.
        fp_rate / fp_rate_low / fp_rate_high: (n_annotators, n_keypoints)
            P(marked | not visible), Wilson interval.
        sigma / sigma_low / sigma_high: (n_annotators,) position noise per coordinate in units
            of the item's scale (pixels without ``scales``), chi-square interval.
        keypoint_scale: (n_keypoints,) relative noise of each keypoint (geometric mean 1); the
            noise of annotator ``a`` on keypoint ``k`` is ``sigma[a] * keypoint_scale[k]``.
        n_items_labeled: Items each annotator labeled.
        confidence: Coverage of the intervals.
        log_likelihood_trace: Marginal log-likelihood at each E-step (non-decreasing).
        n_iter / converged: As for :class:`BoxTruthResult`.
    """

    item_ids: ObjArray
    annotator_ids: ObjArray
    points: FloatArray
    point_sigma: FloatArray
    visible_probability: FloatArray
    visible_prior: FloatArray
    miss_rate: FloatArray
    miss_rate_low: FloatArray
    miss_rate_high: FloatArray
    fp_rate: FloatArray
    fp_rate_low: FloatArray
    fp_rate_high: FloatArray
    sigma: FloatArray
    sigma_low: FloatArray
    sigma_high: FloatArray
    keypoint_scale: FloatArray
    n_items_labeled: IntArray
    confidence: float
    log_likelihood_trace: tuple[float, ...]
    n_iter: int
    converged: bool


@dataclass(frozen=True, slots=True)
class _KpModel:
    ri: IntArray  # item of each row (skeleton)
    ra: IntArray  # annotator of each row
    cell_i: IntArray  # per mark (visible point): item, keypoint, annotator, position
    cell_k: IntArray
    cell_a: IntArray
    xy: FloatArray
    scale: FloatArray  # per item
    n_items: int
    n_kp: int
    n_ann: int
    log_g: float
    min_sigma: float


@dataclass(frozen=True, slots=True)
class _KpParams:
    prior: FloatArray  # (K,)
    miss: FloatArray  # (A, K)
    fp: FloatArray  # (A, K)
    sigma: FloatArray  # (A,)
    kscale: FloatArray  # (K,)


@dataclass(frozen=True, slots=True)
class _KpPost:
    r: FloatArray  # (n_items * K,)
    mean: FloatArray  # (n_items * K, 2)
    var: FloatArray  # (n_items * K,)
    loglik: float


def _kp_gauss(m: _KpModel, p: _KpParams) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    n_cells = m.n_items * m.n_kp
    cell = m.cell_i * m.n_kp + m.cell_k
    sd = p.sigma[m.cell_a] * p.kscale[m.cell_k] * m.scale[m.cell_i]
    w = 1.0 / sd**2
    big_w = np.bincount(cell, weights=w, minlength=n_cells)
    mean: FloatArray = np.full((n_cells, 2), np.nan)
    var: FloatArray = np.full(n_cells, np.nan)
    has = big_w > 0
    for e in range(2):
        num = np.bincount(cell, weights=w * m.xy[:, e], minlength=n_cells)
        mean[has, e] = num[has] / big_w[has]
    var[has] = 1.0 / big_w[has]
    resid2 = ((m.xy - mean[cell]) ** 2).sum(axis=1)
    ss = np.asarray(np.bincount(cell, weights=w * resid2, minlength=n_cells), dtype=np.float64)
    slw = np.asarray(np.bincount(cell, weights=np.log(w), minlength=n_cells), dtype=np.float64)
    return w, mean, var, slw, ss


def _kp_e_step(m: _KpModel, p: _KpParams) -> _KpPost:
    n_cells = m.n_items * m.n_kp
    cell = m.cell_i * m.n_kp + m.cell_k
    _, mean, var, slw, ss = _kp_gauss(m, p)
    k_marks = np.bincount(cell, minlength=n_cells).astype(np.float64)
    # every labeling annotator contributes log m (z=1) or log(1 - f) (z=0) to each keypoint cell;
    # a mark replaces that by log(1 - m) or log f.
    lm = np.log(p.miss)[m.ra]  # (rows, K)
    l1f = np.log1p(-p.fp)[m.ra]
    base1 = np.zeros((m.n_items, m.n_kp))
    base0 = np.zeros((m.n_items, m.n_kp))
    np.add.at(base1, m.ri, lm)
    np.add.at(base0, m.ri, l1f)
    d1 = np.log1p(-p.miss)[m.cell_a, m.cell_k] - np.log(p.miss)[m.cell_a, m.cell_k]
    d0 = np.log(p.fp)[m.cell_a, m.cell_k] - np.log1p(-p.fp)[m.cell_a, m.cell_k]
    marks1 = np.bincount(cell, weights=d1, minlength=n_cells)
    marks0 = np.bincount(cell, weights=d0, minlength=n_cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_int = np.where(k_marks > 0,
                           m.log_g + 2 * (-(k_marks - 1) / 2 * _LOG_2PI + 0.5 * slw + 0.5 * np.log(var)) - 0.5 * ss,
                           0.0)
    log_prior = np.tile(np.log(p.prior), m.n_items)
    log_prior0 = np.tile(np.log1p(-p.prior), m.n_items)
    l1 = log_prior + base1.reshape(-1) + marks1 + log_int
    l0 = log_prior0 + base0.reshape(-1) + marks0 + k_marks * m.log_g
    tot = np.logaddexp(l1, l0)
    return _KpPost(r=np.exp(l1 - tot), mean=mean, var=var, loglik=float(tot.sum()))


def _kp_m_step(m: _KpModel, post: _KpPost, prev: _KpParams) -> _KpParams:
    r = post.r.reshape(m.n_items, m.n_kp)
    prior = np.clip(r.mean(axis=0), _P_FLOOR, 1 - _P_FLOOR) if m.n_items else prev.prior
    exp1 = np.zeros((m.n_ann, m.n_kp))  # expected visible keypoints on labeled items
    exp0 = np.zeros((m.n_ann, m.n_kp))
    np.add.at(exp1, m.ra, r[m.ri])
    np.add.at(exp0, m.ra, 1 - r[m.ri])
    r_mark = r[m.cell_i, m.cell_k]
    det = np.zeros((m.n_ann, m.n_kp))
    fpc = np.zeros((m.n_ann, m.n_kp))
    np.add.at(det, (m.cell_a, m.cell_k), r_mark)
    np.add.at(fpc, (m.cell_a, m.cell_k), 1 - r_mark)
    with np.errstate(invalid="ignore", divide="ignore"):
        miss = np.where(exp1 > 0, 1 - det / np.where(exp1 > 0, exp1, 1), prev.miss)
        fp = np.where(exp0 > 0, fpc / np.where(exp0 > 0, exp0, 1), prev.fp)
    cell = m.cell_i * m.n_kp + m.cell_k
    e2 = ((m.xy - post.mean[cell]) ** 2).sum(axis=1) + 2 * post.var[cell]  # E||x - mu||^2 given visible
    e2 = e2 / m.scale[m.cell_i] ** 2
    # ECM: sigma given the keypoint scales, then the scales given sigma; then normalize the scales
    num_a = np.bincount(m.cell_a, weights=r_mark * e2 / prev.kscale[m.cell_k] ** 2, minlength=m.n_ann)
    den_a = np.bincount(m.cell_a, weights=r_mark, minlength=m.n_ann)
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = np.where(den_a > 0, np.sqrt(num_a / np.where(den_a > 0, 2 * den_a, 1)), prev.sigma)
    sigma = np.maximum(sigma, m.min_sigma)
    num_k = np.bincount(m.cell_k, weights=r_mark * e2 / sigma[m.cell_a] ** 2, minlength=m.n_kp)
    den_k = np.bincount(m.cell_k, weights=r_mark, minlength=m.n_kp)
    with np.errstate(invalid="ignore", divide="ignore"):
        ks = np.where(den_k > 0, np.sqrt(num_k / np.where(den_k > 0, 2 * den_k, 1)), prev.kscale)
    ks = np.maximum(ks, 1e-6)
    g = float(np.exp(np.mean(np.log(ks))))
    ks, sigma = ks / g, np.maximum(sigma * g, m.min_sigma)
    return _KpParams(prior=prior, miss=np.clip(miss, _P_FLOOR, 1 - _P_FLOOR),
                     fp=np.clip(fp, _P_FLOOR, 1 - _P_FLOOR), sigma=sigma, kscale=ks)


def keypoint_truth_em(
    item_ids: npt.ArrayLike, annotator_ids: npt.ArrayLike, points: npt.ArrayLike, visible: npt.ArrayLike, *,
    scales: npt.ArrayLike | None = None, frame_wh: tuple[float, float] | None = None,
    per_keypoint_noise: bool = True, min_sigma: float = 1e-3, max_iter: int = 200, tol: float = 1e-7,
    confidence: float = 0.95,
) -> KeypointTruthResult:
    """EM estimate of each keypoint's position and visibility, and each annotator's error rates.

    One row per skeleton an annotator drew on an item (one instance per item: give
    ``image/instance`` ids as items after matching instances, e.g. by OKS). The model, per
    item ``i`` and keypoint ``k``: visible with prior ``visible_prior[k]``; true position flat
    over the frame (density ``1 / (W H)``). An annotator who labeled the item marks a visible
    keypoint with probability ``1 - miss_rate[a, k]``, at the true position plus
    ``N(0, (sigma[a] * keypoint_scale[k] * s_i)^2)`` on each coordinate (``s_i`` the item's mean
    ``scales``, 1 px by default); marks an invisible one with probability ``fp_rate[a, k]``,
    anywhere in the frame. The E-step is exact (existence posterior and Gaussian position
    posterior with the true position integrated out), the M-step closed form except for the
    product ``sigma[a] * keypoint_scale[k]``, which is updated one factor at a time (ECM,
    Meng & Rubin 1993), so the log-likelihood trace never decreases. Intervals: Wilson for the
    rates (expected counts), chi-square on the residual degrees of freedom for sigma,
    conditional on the fitted posteriors (as for :func:`box_truth_em`).

    Args:
        item_ids / annotator_ids: One entry per skeleton.
        points: (n, n_keypoints, 2) pixel positions (ignored where not visible).
        visible: (n, n_keypoints) booleans (e.g. COCO ``visibility > 0``).
        scales: Optional scale per skeleton (e.g. ``sqrt(box area)``); noise is then relative.
        frame_wh: Frame (W, H) for the false-mark density; default the extent of visible points.
        per_keypoint_noise: Fit ``keypoint_scale``; if false it stays 1 for every keypoint.
        min_sigma: Lower bound of sigma (> 0). max_iter / tol / confidence: as for :func:`box_truth_em`.

    Returns:
        A :class:`KeypointTruthResult`.

    Raises:
        InvalidAnnotationError: Shapes that disagree, non-finite visible points, an annotator
            with two skeletons on one item, bad scales or settings.
    """
    _check_settings(0.5, max_iter, tol, min_sigma, confidence, 0, "absolute")
    it = _ids(item_ids, "item_ids")
    an = _ids(annotator_ids, "annotator_ids")
    try:
        pts = np.asarray(points, dtype=np.float64)
        vis_raw = np.asarray(visible)
    except (TypeError, ValueError) as e:
        raise InvalidAnnotationError("points must be numbers shaped (n, n_keypoints, 2)") from e
    if pts.ndim != 3 or pts.shape[2] != 2 or vis_raw.shape != pts.shape[:2]:
        raise InvalidAnnotationError(
            f"points must be (n, n_keypoints, 2) and visible (n, n_keypoints); got {pts.shape} and {vis_raw.shape}"
        )
    if vis_raw.dtype.kind not in "biu":
        raise InvalidAnnotationError(f"visible must be booleans (or 0/1), got dtype {vis_raw.dtype}")
    vis = vis_raw.astype(bool)
    n, n_kp = pts.shape[:2]
    if not (len(it) == len(an) == n):
        raise InvalidAnnotationError(f"item_ids, annotator_ids and points must have one entry per skeleton, "
                                     f"got {len(it)}, {len(an)} and {n}")
    if n == 0 or n_kp == 0:
        raise InvalidAnnotationError("no skeletons given; pass at least one row with at least one keypoint")
    if not np.all(np.isfinite(pts[vis])):
        raise InvalidAnnotationError("visible keypoints must have finite coordinates; mark the others not visible")
    item_codes, ri = _encode(it, "item_ids")
    ann_codes, ra = _encode(an, "annotator_ids")
    n_items, n_ann = len(item_codes), len(ann_codes)
    if len(np.unique(ri * n_ann + ra)) != n:
        raise InvalidAnnotationError("an annotator has two skeletons on one item; give one instance per item "
                                     "(match instances first and use instance ids as items)")
    item_scale: FloatArray
    if scales is None:
        item_scale = np.ones(n_items)
    else:
        sc = np.asarray(scales, dtype=np.float64).reshape(-1)
        if len(sc) != n or not np.all(np.isfinite(sc)) or np.any(sc <= 0):
            raise InvalidAnnotationError(f"scales must hold one finite size > 0 per skeleton ({n})")
        item_scale = np.bincount(ri, weights=sc, minlength=n_items) / np.bincount(ri, minlength=n_items)
    rows, ks = np.nonzero(vis)
    xy = pts[rows, ks]
    if frame_wh is None:
        span = (xy.max(axis=0) - xy.min(axis=0)) if len(xy) else np.ones(2)
        frame = (max(float(span[0]), 1.0), max(float(span[1]), 1.0))
    else:
        try:
            fw, fh = (float(v) for v in frame_wh)
        except (TypeError, ValueError) as e:
            raise InvalidAnnotationError(f"frame_wh must be (width, height) in pixels, got {frame_wh!r}") from e
        if not (fw > 0 and fh > 0 and math.isfinite(fw) and math.isfinite(fh)):
            raise InvalidAnnotationError(f"frame_wh must be two finite sizes > 0, got {frame_wh!r}")
        frame = (fw, fh)
    mdl = _KpModel(ri=ri, ra=ra, cell_i=ri[rows], cell_k=ks.astype(np.intp), cell_a=ra[rows], xy=xy,
                   scale=item_scale, n_items=n_items, n_kp=n_kp, n_ann=n_ann,
                   log_g=-math.log(frame[0]) - math.log(frame[1]), min_sigma=min_sigma)
    # start: posteriors from vote shares, pooled sigma from the unweighted spread
    shares = np.zeros((n_items, n_kp))
    np.add.at(shares, ri, vis.astype(np.float64))
    shares /= np.bincount(ri, minlength=n_items)[:, None]
    cell = mdl.cell_i * n_kp + mdl.cell_k
    cnt = np.bincount(cell, minlength=n_items * n_kp)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu0 = np.stack([np.bincount(cell, weights=xy[:, e], minlength=n_items * n_kp) / cnt for e in range(2)], 1)
    dof = 2 * float(np.sum(np.maximum(cnt - 1, 0)))
    res0 = float((((xy - mu0[cell]) ** 2).sum(axis=1) / item_scale[mdl.cell_i] ** 2).sum())
    s0 = math.sqrt(res0 / dof) if dof > 0 else 1.0
    p0 = _KpParams(prior=np.full(n_kp, 0.5), miss=np.full((n_ann, n_kp), 0.5), fp=np.full((n_ann, n_kp), 0.5),
                   sigma=np.full(n_ann, max(s0, min_sigma)), kscale=np.ones(n_kp))
    _, mean0, var0, _, _ = _kp_gauss(mdl, p0)
    p = _kp_m_step(mdl, _KpPost(r=shares.reshape(-1), mean=mean0, var=var0, loglik=math.nan), p0)
    if not per_keypoint_noise:
        p = _KpParams(prior=p.prior, miss=p.miss, fp=p.fp, sigma=p.sigma, kscale=np.ones(n_kp))
    post = _kp_e_step(mdl, p)
    trace = [post.loglik]
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        p = _kp_m_step(mdl, post, p)
        if not per_keypoint_noise:
            p = _KpParams(prior=p.prior, miss=p.miss, fp=p.fp, sigma=p.sigma, kscale=np.ones(n_kp))
        post = _kp_e_step(mdl, p)
        trace.append(post.loglik)
        if abs(trace[-1] - trace[-2]) / max(len(xy), 1) < tol:
            converged = True
            break
    # intervals
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    r = post.r.reshape(n_items, n_kp)
    exp1 = np.zeros((n_ann, n_kp))
    exp0 = np.zeros((n_ann, n_kp))
    np.add.at(exp1, ra, r[ri])
    np.add.at(exp0, ra, 1 - r[ri])
    r_mark = r[mdl.cell_i, mdl.cell_k]
    det = np.zeros((n_ann, n_kp))
    np.add.at(det, (mdl.cell_a, mdl.cell_k), r_mark)
    m_lo, m_hi = _wilson(np.maximum(exp1 - det, 0), exp1, z)
    f_lo, f_hi = _wilson(np.clip(p.fp * exp0, 0, None), exp0, z)
    w, mean, var, _, _ = _kp_gauss(mdl, p)
    lev = w * var[cell]
    nu = np.bincount(mdl.cell_a, weights=2 * r_mark * (1 - lev), minlength=n_ann)
    ssa = np.bincount(mdl.cell_a, weights=r_mark * ((xy - mean[cell]) ** 2).sum(axis=1)
                      / (item_scale[mdl.cell_i] * p.kscale[mdl.cell_k]) ** 2, minlength=n_ann)
    s_lo = np.full(n_ann, np.nan)
    s_hi = np.full(n_ann, np.nan)
    ok = nu >= 1
    alpha = 1 - confidence
    s_lo[ok] = np.sqrt(ssa[ok] / stats.chi2.ppf(1 - alpha / 2, nu[ok]))
    s_hi[ok] = np.sqrt(ssa[ok] / stats.chi2.ppf(alpha / 2, nu[ok]))
    return KeypointTruthResult(
        item_ids=item_codes, annotator_ids=ann_codes, points=post.mean.reshape(n_items, n_kp, 2),
        point_sigma=np.sqrt(post.var).reshape(n_items, n_kp), visible_probability=r, visible_prior=p.prior,
        miss_rate=p.miss, miss_rate_low=m_lo, miss_rate_high=m_hi, fp_rate=p.fp, fp_rate_low=f_lo,
        fp_rate_high=f_hi, sigma=p.sigma, sigma_low=s_lo, sigma_high=s_hi, keypoint_scale=p.kscale,
        n_items_labeled=np.bincount(ra, minlength=n_ann).astype(np.intp), confidence=confidence,
        log_likelihood_trace=tuple(trace), n_iter=n_iter, converged=converged,
    )


# --------------------------------------------------------------------------- adapters


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxJudgments:
    """Long-format inputs of :func:`box_truth_em` taken from ``Dataset.grouped``.

    Attributes:
        item_ids / annotator_ids / boxes_xyxy / labels: One entry per axis-aligned box.
        views: ``(item_ids, annotator_ids)`` of every submission, boxes or not.
        n_rotated_skipped: Rotated boxes left out (the model is axis-aligned).
    """

    item_ids: list[str]
    annotator_ids: list[str]
    boxes_xyxy: FloatArray
    labels: list[str]
    views: tuple[list[str], list[str]]
    n_rotated_skipped: int


def box_judgments(grouped: Mapping[str, Mapping[str, Sequence[Record]]]) -> BoxJudgments:
    """Inputs of :func:`box_truth_em` from ``{item_id: {annotator_id: [Record]}}``.

    That is the shape of ``Dataset.grouped(label_set, source="human")``; an annotator with an
    empty list looked and drew nothing, and becomes a view without boxes. Non-box values are
    ignored; rotated boxes are skipped and counted.
    """
    items: list[str] = []
    anns: list[str] = []
    rows: list[tuple[float, float, float, float]] = []
    labs: list[str] = []
    v_items: list[str] = []
    v_anns: list[str] = []
    rotated = 0
    for item, per in grouped.items():
        for ann, records in per.items():
            v_items.append(item)
            v_anns.append(ann)
            for rec in records:
                v = rec.value
                if not isinstance(v, Box):
                    continue
                if v.rotation != 0:
                    rotated += 1
                    continue
                items.append(item)
                anns.append(ann)
                rows.append(v.xyxy())
                labs.append(v.label)
    return BoxJudgments(item_ids=items, annotator_ids=anns,
                        boxes_xyxy=np.array(rows, dtype=np.float64).reshape(-1, 4), labels=labs,
                        views=(v_items, v_anns), n_rotated_skipped=rotated)


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 6)


def box_truth_summary(result: BoxTruthResult, *, threshold: float = 0.5) -> dict[str, object]:
    """A JSON-ready summary: per annotator the three rates with intervals, and object counts.

    NaN becomes None. ``objects`` lists only candidates with ``exists_probability >= threshold``.
    """
    keep = result.present(threshold)
    annotators = [
        {
            "annotator_id": str(a), "n_views": int(result.n_views[k]), "n_boxes": int(result.n_boxes[k]),
            "miss_rate": _num(result.miss_rate[k]),
            "miss_rate_interval": [_num(result.miss_rate_low[k]), _num(result.miss_rate_high[k])],
            "fp_rate": _num(result.fp_rate[k]),
            "fp_rate_interval": [_num(result.fp_rate_low[k]), _num(result.fp_rate_high[k])],
            "sigma": _num(result.sigma[k]),
            "sigma_interval": [_num(result.sigma_low[k]), _num(result.sigma_high[k])],
        }
        for k, a in enumerate(result.annotator_ids)
    ]
    objects = [
        {
            "item_id": str(result.item_ids[result.object_item[c]]),
            "box_xyxy": [round(float(v), 3) for v in result.boxes_xyxy[c]],
            "edge_sigma": [round(float(v), 3) for v in result.edge_sigma[c]],
            "exists_probability": round(float(result.exists_probability[c]), 6),
            "label": None if result.labels is None else str(result.labels[c]),
            "n_members": int(result.n_members[c]),
        }
        for c in np.flatnonzero(keep)
    ]
    return {
        "model": "box_truth_em", "noise": result.noise, "interval_method": result.interval_method,
        "confidence": result.confidence, "n_items": len(result.item_ids),
        "n_candidates": len(result.exists_probability), "n_objects": int(keep.sum()),
        "exists_prior": _num(result.exists_prior), "n_iter": result.n_iter, "converged": result.converged,
        "log_likelihood": _num(result.log_likelihood), "annotators": annotators, "objects": objects,
    }
