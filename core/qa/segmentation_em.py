"""SegmentationEM: one fused binary mask and each annotator's skill, from several masks of one image.

Each pixel is a two-class question (in the fused mask or not), answered by every annotator; each
annotator has one *skill*, the probability of answering a pixel correctly (a one-coin Dawid-Skene
model per image, Lee, Das Sarma & Parameswaran 2018). Expectation-maximisation alternates:

* **E-step**: each pixel's posterior of being in the mask, from its prior and the annotators'
  answers weighted by their skills: ``P(in) ∝ prior * prod_a (s_a if a marked it else 1 - s_a)``;
* **M-step**: each annotator's skill is one minus their expected number of wrong pixels over the
  number of pixels that anyone marked (the union): ``1 - (|M_a| + sum(post) - 2 sum(M_a post)) / |U|``.

The definition is crowd-kit's ``crowdkit.aggregation.SegmentationEM`` (1.4.2), step for step: the
prior starts as each pixel's share of annotators marking it; the first skills come from the M-step
on the rounded shares (the majority vote, a tie rounding to "out"); every iteration sets the
posteriors below ``eps`` to 0, refits the skills, computes the evidence lower bound (per annotator
and pixel) and takes the posteriors as the next prior; it stops after ``n_iter`` iterations or when
the bound rises by less than ``tol``. The fused mask is the last posterior above 0.5.

References:
    D. Jung-Lin Lee, A. Das Sarma, A. Parameswaran (2018). Aggregating Crowdsourced Image
    Segmentations. CEUR Workshop Proceedings 2173, paper 10. https://ceur-ws.org/Vol-2173/paper10.pdf
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError

__all__ = ["SEGMENTATION_METHODS", "SegmentationEM", "SegmentationMethod", "segmentation_em"]

#: How the report fuses masks and polygons: the weighted pixel vote, or :func:`segmentation_em`.
SegmentationMethod = Literal["vote", "em"]
SEGMENTATION_METHODS: tuple[str, ...] = ("vote", "em")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentationEM:
    """What :func:`segmentation_em` found for one image.

    Attributes:
        mask: ``(height, width)`` bool, the fused mask (posterior above 0.5).
        skills: ``(n_annotators,)`` probability that each annotator answers a pixel of the union
            correctly, from the last M-step; NaN when nobody marked a pixel.
        posteriors: ``(height, width)`` last posterior of each pixel being in the mask.
        region_px: Pixels anyone marked (the union), the skills' denominator.
        expected_errors_px: ``(n_annotators,)`` each annotator's expected wrong pixels,
            ``region_px * (1 - skill)`` (kept so skills pool over images as ratios of sums).
        n_iterations: EM iterations run.
        lower_bounds: The evidence lower bound per annotator and pixel after each iteration.
    """

    mask: npt.NDArray[np.bool_]
    skills: FloatArray
    posteriors: FloatArray
    region_px: int
    expected_errors_px: FloatArray
    n_iterations: int
    lower_bounds: tuple[float, ...]


def _e_step(seg: FloatArray, skills: FloatArray, priors: FloatArray) -> FloatArray:
    """Posterior of each pixel being in the mask (crowd-kit's expression, so the floats agree)."""
    weighted = np.multiply(skills, seg.T).T + np.multiply(1 - skills, (1 - seg).T).T
    with np.errstate(divide="ignore"):
        pos = np.log(priors) + np.log(weighted).sum(axis=0)
        neg = np.log(1 - priors) + np.log(1 - weighted).sum(axis=0)
        with np.errstate(invalid="ignore"):
            # Bayes' denominator; 0/0 (every annotator certain both ways) is 0, as crowd-kit has it.
            post: FloatArray = np.nan_to_num(np.exp(pos) / (np.exp(pos) + np.exp(neg)), nan=0)
    return post


def _m_step(seg: FloatArray, posteriors: FloatArray, region_px: int, sizes: FloatArray) -> FloatArray:
    """Each annotator's skill: one minus the expected wrong pixels over the union's pixels."""
    expected_error_rate = (sizes + posteriors.sum() - 2 * (seg * posteriors).sum(axis=(1, 2))) / region_px
    out: FloatArray = 1 - expected_error_rate
    return out


def _lower_bound(seg: FloatArray, priors: FloatArray, posteriors: FloatArray, skills: FloatArray) -> float:
    """The evidence lower bound of the model (expected log-likelihood plus the posteriors' entropy)."""
    weighted = np.multiply(skills, seg.T).T + np.multiply(1 - skills, (1 - seg).T).T
    # 0 * log(0) is 0: nan_to_num takes the NaNs of those products to 0. It also takes -inf (a pixel
    # a skill-1 annotator makes impossible) to the most negative float, whose sums may overflow to
    # -inf: the bound crowd-kit computes, so the stopping rule is the same.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        expected = (np.nan_to_num((np.log(weighted) + np.log(priors)[None, ...]) * posteriors, nan=0).sum()
                    + np.nan_to_num((np.log(1 - weighted) + np.log(1 - priors)[None, ...]) * (1 - posteriors),
                                    nan=0).sum())
        return float(expected - float(np.nan_to_num(np.log(posteriors) * posteriors, nan=0).sum()))


def _check(rasters: Any, n_iter: int, tol: float, eps: float) -> FloatArray:
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise InvalidAnnotationError(f"n_iter must be an integer >= 1 (crowd-kit's default is 10), got {n_iter!r}")
    for name, v in (("tol", tol), ("eps", eps)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise InvalidAnnotationError(f"{name} must be a finite number >= 0, got {v!r}")
    try:
        arr = np.asarray(rasters)
    except ValueError as e:
        raise InvalidAnnotationError(f"rasters must all have one (height, width) shape: {e}") from e
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.dtype == object:
        raise InvalidAnnotationError(f"rasters must be one (height, width) 0/1 mask per annotator, an array of shape "
                                     f"(n_annotators, height, width); got shape {arr.shape!r}")
    if arr.dtype != np.bool_ and not (arr.dtype.kind in "iuf" and np.isin(arr, (0, 1)).all()):
        raise InvalidAnnotationError("rasters must hold only 0 and 1 (or booleans): a pixel is in an annotator's "
                                     "mask or not")
    return arr.astype(np.float64)


def segmentation_em(rasters: npt.ArrayLike, *, n_iter: int = 10, tol: float = 1e-5, eps: float = 1e-15
                    ) -> SegmentationEM:
    """Fuse several annotators' binary masks of one image by SegmentationEM (crowd-kit's definition).

    Args:
        rasters: ``(n_annotators, height, width)`` masks, bool or 0/1 numbers (a sequence of
            equal-shape 2-D masks works as well).
        n_iter: Most EM iterations (crowd-kit's default 10).
        tol: Stop when the evidence lower bound (per annotator and pixel) rises by less.
        eps: Posteriors below it are set to 0 after each E-step.

    Returns:
        :class:`SegmentationEM`: the fused mask, each annotator's skill, the posteriors. When no
        annotator marked any pixel the mask is empty and the skills are NaN (undefined: there is
        no pixel to be right or wrong on).

    Raises:
        InvalidAnnotationError: Not a 3-D stack of 0/1 masks, or bad ``n_iter`` / ``tol`` / ``eps``.

    Example:
        Two of three annotators mark the left column; the third marks the right one as well:

        >>> r = segmentation_em([[[1, 0], [1, 0]], [[1, 0], [1, 0]], [[1, 1], [1, 1]]])
        >>> r.mask.astype(int).tolist(), [round(float(s), 4) for s in r.skills]
        ([[1, 0], [1, 0]], [1.0, 1.0, 0.5])
    """
    seg = _check(rasters, n_iter, tol, eps)
    n = seg.shape[0]
    priors = seg.sum(axis=0) / n
    region_px = int(seg.any(axis=0).sum())
    if region_px == 0:
        return SegmentationEM(mask=np.zeros(seg.shape[1:], dtype=bool), skills=np.full(n, np.nan),
                              posteriors=np.zeros(seg.shape[1:]), region_px=0, expected_errors_px=np.full(n, np.nan),
                              n_iterations=0, lower_bounds=())
    sizes = seg.sum(axis=(1, 2))
    # First skills: the M-step against the majority vote (the rounded shares; a tie is "out").
    skills = _m_step(seg, np.round(priors), region_px, sizes)
    bound = -np.inf
    bounds: list[float] = []
    for _ in range(n_iter):
        post = _e_step(seg, skills, priors)
        post[post < eps] = 0
        skills = _m_step(seg, post, region_px, sizes)
        new_bound = _lower_bound(seg, priors, post, skills) / (n * seg[0].size)
        priors = post
        bounds.append(new_bound)
        if new_bound - bound < tol:
            break
        bound = new_bound
    return SegmentationEM(mask=priors > 0.5, skills=skills, posteriors=priors, region_px=region_px,
                          expected_errors_px=region_px * (1 - skills), n_iterations=len(bounds),
                          lower_bounds=tuple(bounds))
