"""Seeded sampling of items for review, and spot-check error-rate estimates.

* :func:`simple_random_sample` -- uniform, without replacement.
* :func:`stratified_sample` -- by any key (annotator, label, batch, metadata
  group), proportional (largest-remainder rounding) or equal allocation, with
  a minimum per stratum.
* :func:`disagreement_sample` -- probability proportional to a disagreement
  score, without replacement, by Efraimidis & Spirakis (2006) A-Res: key
  ``u ** (1 / w)`` with ``u ~ U(0, 1)``, keep the ``k`` largest keys.

Every sampler takes ``seed`` and uses ``numpy.random.default_rng(seed)``; the
same inputs and seed give the same sample.

:func:`spot_check_estimate` turns the errors found in a sample into an error
rate with a confidence interval: Wilson for a simple sample (with the
finite-population correction on its width when the batch size is known), or
a stratified estimate ``sum_h W_h p_h`` with variance
``sum_h W_h^2 p_h (1 - p_h) / n_h * FPC_h`` (Cochran 1977, eq. 5.6).
:func:`sample_size_for_margin` gives ``n0 = z^2 p (1 - p) / e^2`` and, with a
population size ``N``, ``n = n0 / (1 + (n0 - 1) / N)`` (Cochran 1977, eq. 4.2).

References:
    Efraimidis, P. S., Spirakis, P. G. (2006). Weighted random sampling with a
    reservoir. Information Processing Letters 97(5), 181-185.
    Cochran, W. G. (1977). Sampling Techniques, 3rd ed. Wiley.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from ..errors import AccordError
from .intervals import proportion_interval

__all__ = [
    "Sample",
    "SpotCheckEstimate",
    "disagreement_sample",
    "sample_size_for_margin",
    "simple_random_sample",
    "spot_check_estimate",
    "stratified_positions",
    "stratified_sample",
]

SamplingMethod = Literal["simple", "stratified", "disagreement"]
Allocation = Literal["proportional", "equal"]


class SamplingError(AccordError, ValueError):
    """A sample that cannot be drawn as asked (size, weights, strata)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """A drawn sample.

    Attributes:
        ids: Chosen item ids, in draw order.
        strata: Stratum of each chosen id (``None`` for unstratified methods).
        weights: Design weight of each chosen id (population items it stands for:
            ``N_h / n_h`` for stratified, ``N / n`` for simple; for disagreement
            sampling, the disagreement score used).
        seed: The seed given.
        method: Which sampler drew it.
    """

    ids: tuple[str, ...]
    strata: tuple[Hashable | None, ...]
    weights: tuple[float, ...]
    seed: int | None
    method: SamplingMethod


def _check_k(k: int, population: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise SamplingError(f"sample size must be an integer >= 0, got {k!r}")
    if k > population:
        raise SamplingError(f"sample size {k} exceeds the {population} items available; ask for at most {population}")


def _unique(ids: Sequence[str]) -> list[str]:
    out = list(ids)
    if len(set(out)) != len(out):
        raise SamplingError("item ids must be unique; deduplicate them before sampling")
    return out


def simple_random_sample(ids: Sequence[str], k: int, *, seed: int | None = None) -> Sample:
    """``k`` ids uniformly at random without replacement.

    Example:
        >>> s = simple_random_sample(["a", "b", "c", "d"], 2, seed=0)
        >>> s == simple_random_sample(["a", "b", "c", "d"], 2, seed=0), len(s.ids)
        (True, 2)
    """
    pool = _unique(ids)
    _check_k(k, len(pool))
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(pool), size=k, replace=False) if k else np.empty(0, dtype=np.int64)
    w = len(pool) / k if k else math.nan
    return Sample(ids=tuple(pool[int(i)] for i in idx), strata=(None,) * k, weights=(w,) * k,
                  seed=seed, method="simple")


def _allocate(sizes: list[int], k: int, allocation: Allocation, min_per_stratum: int) -> list[int]:
    """Integer allocation: start from the target's floor, then largest remainders, with floors and caps."""
    h = len(sizes)
    floor = [min(min_per_stratum, s) for s in sizes]
    if sum(floor) > k:
        raise SamplingError(
            f"min_per_stratum={min_per_stratum} over {h} strata needs {sum(floor)} items but k={k}; "
            "raise k or lower min_per_stratum")
    total = sum(sizes)
    target = [k * s / total for s in sizes] if allocation == "proportional" else [k / h] * h
    alloc = [min(s, max(f, math.floor(t))) for s, f, t in zip(sizes, floor, target, strict=True)]
    while sum(alloc) > k:  # floors pushed us over: take from the most over-allocated
        i = max((i for i in range(h) if alloc[i] > floor[i]), key=lambda i: (alloc[i] - target[i], -i))
        alloc[i] -= 1
    while sum(alloc) < k:  # largest remainder among strata with room
        i = max((i for i in range(h) if alloc[i] < sizes[i]), key=lambda i: (target[i] - alloc[i], -i))
        alloc[i] += 1
    return alloc


def stratified_sample(
    ids: Sequence[str],
    strata: Sequence[Hashable] | Mapping[str, Hashable],
    k: int,
    *,
    allocation: Allocation = "proportional",
    min_per_stratum: int = 1,
    seed: int | None = None,
) -> Sample:
    """Stratified random sample of about ``k`` ids (exactly ``k``).

    Args:
        ids: Item ids.
        strata: The stratum of each id (parallel sequence, or mapping id -> stratum).
        k: Total sample size.
        allocation: ``"proportional"`` to stratum size (largest remainders) or ``"equal"``.
        min_per_stratum: Floor per stratum (capped at the stratum's size).
        seed: Seed for ``default_rng``.

    Example:
        >>> s = stratified_sample(["a", "b", "c", "d"], ["x", "x", "x", "y"], 2, seed=1)
        >>> sorted(s.strata)
        ['x', 'y']
    """
    pool = _unique(ids)
    keys = [strata[i] for i in pool] if isinstance(strata, Mapping) else list(strata)
    if len(keys) != len(pool):
        raise SamplingError(f"need one stratum per id: {len(pool)} ids, {len(keys)} strata")
    positions, out_strata, out_w = stratified_positions(keys, k, allocation=allocation,
                                                        min_per_stratum=min_per_stratum, seed=seed)
    return Sample(ids=tuple(pool[p] for p in positions.tolist()), strata=out_strata, weights=out_w, seed=seed,
                  method="stratified")


def stratified_positions(
    strata: Sequence[Hashable],
    k: int,
    *,
    allocation: Allocation = "proportional",
    min_per_stratum: int = 1,
    seed: int | None = None,
) -> tuple[npt.NDArray[np.intp], tuple[Hashable, ...], tuple[float, ...]]:
    """The draw of :func:`stratified_sample`, as positions into ``strata``.

    ``stratified_sample(ids, strata, k, ...)`` takes ``ids[p]`` for each position ``p``
    drawn here with the same arguments and seed, so a caller with columns (not ids) can
    draw the same sample without making an id per unit. Strata are visited in order of
    their ``repr``; within a stratum, ``rng.choice`` picks among its units in input order.

    Args:
        strata: The stratum of each unit (hashable).
        k: Total sample size.
        allocation: ``"proportional"`` to stratum size (largest remainders) or ``"equal"``.
        min_per_stratum: Floor per stratum (capped at the stratum's size).
        seed: Seed for ``default_rng``.

    Returns:
        ``(positions, strata, weights)``: the chosen units' positions in draw order, the
        stratum of each and its design weight ``N_h / n_h``.

    Raises:
        SamplingError: ``k`` out of range, or a negative ``min_per_stratum``.

    Example:
        >>> pos, st, w = stratified_positions(["x", "x", "x", "y"], 2, seed=1)
        >>> sorted(st), sum(w)
        (['x', 'y'], 4.0)
    """
    _check_k(k, len(strata))
    if min_per_stratum < 0:
        raise SamplingError(f"min_per_stratum must be >= 0, got {min_per_stratum!r}")
    entries = list(strata)
    first_seen = list(dict.fromkeys(entries))
    code_of = {key: c for c, key in enumerate(first_seen)}
    codes = np.fromiter(map(code_of.__getitem__, entries), dtype=np.intp, count=len(entries))
    members = np.argsort(codes, kind="stable")  # units stratum by stratum, each stratum's in input order
    bounds = np.searchsorted(codes[members], np.arange(len(first_seen) + 1))
    names = sorted(first_seen, key=repr)
    sizes = [int(bounds[code_of[n] + 1] - bounds[code_of[n]]) for n in names]
    alloc = _allocate(sizes, k, allocation, min_per_stratum)
    rng = np.random.default_rng(seed)
    out_pos: list[npt.NDArray[np.intp]] = []
    out_strata: list[Hashable] = []
    out_w: list[float] = []
    for name, size, n_h in zip(names, sizes, alloc, strict=True):
        if n_h == 0:
            continue
        pick = rng.choice(size, size=n_h, replace=False)
        out_pos.append(members[bounds[code_of[name]] + pick])
        out_strata.extend([name] * n_h)
        out_w.extend([size / n_h] * n_h)
    positions = np.concatenate(out_pos) if out_pos else np.zeros(0, dtype=np.intp)
    return positions.astype(np.intp), tuple(out_strata), tuple(out_w)


def disagreement_sample(
    ids: Sequence[str], scores: Sequence[float], k: int, *, seed: int | None = None
) -> Sample:
    """Weighted sample without replacement, P(pick) increasing in the disagreement score.

    Efraimidis-Spirakis A-Res: draw ``u_i ~ U(0, 1)``, key ``log(u_i) / w_i``, keep the
    ``k`` largest keys. Zero-score items are taken only once every positive-score item is.

    Args:
        ids: Item ids.
        scores: Non-negative disagreement scores (e.g. ``1 - agreement``).
        k: Sample size.
        seed: Seed for ``default_rng``.

    Example:
        >>> disagreement_sample(["a", "b", "c"], [0.0, 0.0, 1.0], 1, seed=3).ids
        ('c',)
    """
    pool = _unique(ids)
    w = np.asarray(scores, dtype=np.float64)
    if w.shape != (len(pool),):
        raise SamplingError(f"need one score per id: {len(pool)} ids, scores of shape {w.shape}")
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise SamplingError("scores must be finite and >= 0; map NaN agreement to a score first")
    _check_k(k, len(pool))
    rng = np.random.default_rng(seed)
    u = rng.random(len(pool))
    with np.errstate(divide="ignore"):
        keys = np.where(w > 0, np.log(u) / np.where(w > 0, w, 1.0), -np.inf)
    # Ties among zero-weight items broken by a second uniform draw (uniformly at random).
    tiebreak = rng.random(len(pool))
    order = np.lexsort((-tiebreak, -keys))[:k]
    return Sample(ids=tuple(pool[int(i)] for i in order), strata=(None,) * k,
                  weights=tuple(float(w[i]) for i in order), seed=seed, method="disagreement")


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotCheckEstimate:
    """Error rate estimated from a reviewed sample.

    Attributes:
        errors / n: Errors found and items reviewed (summed over strata).
        estimate: Estimated population error rate (nan when n == 0).
        low / high: Interval bounds at ``confidence``.
        population: Batch size used for the finite-population correction, or None.
        stratified: Whether the stratified estimator was used.
    """

    errors: int
    n: int
    estimate: float
    low: float
    high: float
    confidence: float
    population: int | None
    stratified: bool


def spot_check_estimate(
    errors: int | Mapping[Hashable, int],
    n: int | Mapping[Hashable, int],
    *,
    population: int | Mapping[Hashable, int] | None = None,
    confidence: float = 0.95,
) -> SpotCheckEstimate:
    """Error rate in a batch from the errors found in a reviewed sample.

    Simple case (ints): Wilson interval; with ``population`` (batch size N) the
    half-widths around the estimate are shrunk by ``sqrt((N - n) / (N - 1))``.
    Stratified case (mappings stratum -> count; ``population`` required, the
    stratum sizes): ``p = sum W_h p_h``, normal interval with per-stratum FPC,
    clipped to [0, 1].

    Example:
        >>> e = spot_check_estimate(5, 100, population=100)
        >>> e.low == e.high == 0.05
        True
    """
    if not 0 < confidence < 1:
        raise SamplingError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(errors, Mapping) or isinstance(n, Mapping):
        if not (isinstance(errors, Mapping) and isinstance(n, Mapping) and isinstance(population, Mapping)):
            raise SamplingError("a stratified estimate needs errors, n and population all as mappings stratum -> count")
        if set(errors) != set(n) or set(n) != set(population):
            raise SamplingError(
                f"errors, n and population must name the same strata, got {sorted(map(repr, errors))}, "
                f"{sorted(map(repr, n))}, {sorted(map(repr, population))}")
        big_n = sum(population.values())
        if big_n <= 0:
            raise SamplingError("population sizes sum to 0; give each stratum its batch size")
        est = 0.0
        var = 0.0
        for h in n:
            e_h, n_h, N_h = errors[h], n[h], population[h]
            if n_h <= 0 or not 0 <= e_h <= n_h or n_h > N_h:
                raise SamplingError(f"stratum {h!r}: need 0 <= errors <= n <= population and n > 0, "
                                    f"got errors={e_h}, n={n_h}, population={N_h}")
            w_h = N_h / big_n
            p_h = e_h / n_h
            fpc = (N_h - n_h) / (N_h - 1) if N_h > 1 else 0.0
            est += w_h * p_h
            var += w_h * w_h * p_h * (1 - p_h) / n_h * fpc
        z = float(stats.norm.ppf(0.5 + confidence / 2))
        half = z * math.sqrt(var)
        return SpotCheckEstimate(errors=sum(errors.values()), n=sum(n.values()), estimate=est,
                                 low=max(0.0, est - half), high=min(1.0, est + half), confidence=confidence,
                                 population=big_n, stratified=True)
    if isinstance(population, Mapping):
        raise SamplingError("population is a mapping but errors/n are counts; pass ints for a simple estimate")
    if n < 0 or not 0 <= errors <= n:
        raise SamplingError(f"need 0 <= errors <= n, got errors={errors!r}, n={n!r}")
    if population is not None and population < n:
        raise SamplingError(f"population {population!r} is smaller than the sample n={n!r}")
    if n == 0:
        return SpotCheckEstimate(errors=0, n=0, estimate=math.nan, low=math.nan, high=math.nan,
                                 confidence=confidence, population=population, stratified=False)
    lo_a, hi_a = proportion_interval(errors, n, confidence=confidence, method="wilson")
    lo, hi = float(lo_a), float(hi_a)
    p = errors / n
    if population is not None:
        f = math.sqrt((population - n) / (population - 1)) if population > 1 else 0.0
        lo, hi = p - (p - lo) * f, p + (hi - p) * f
    return SpotCheckEstimate(errors=int(errors), n=int(n), estimate=p, low=max(0.0, lo), high=min(1.0, hi),
                             confidence=confidence, population=population, stratified=False)


def sample_size_for_margin(
    margin: float, *, confidence: float = 0.95, expected_rate: float = 0.5, population: int | None = None
) -> int:
    """Items to review so the normal-approximation margin of error is ``<= margin``.

    ``n0 = z^2 p (1 - p) / e^2``; with ``population`` N, ``n = n0 / (1 + (n0 - 1) / N)``
    (Cochran 1977, eqs. 4.1-4.2); rounded up.

    Example:
        >>> sample_size_for_margin(0.05), sample_size_for_margin(0.05, population=1000)
        (385, 278)
    """
    if not 0 < margin < 1:
        raise SamplingError(f"margin must be in (0, 1), got {margin!r}; e.g. 0.05 for +-5 points")
    if not 0 < confidence < 1:
        raise SamplingError(f"confidence must be in (0, 1), got {confidence!r}")
    if not 0 <= expected_rate <= 1:
        raise SamplingError(f"expected_rate must be in [0, 1], got {expected_rate!r}")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    n0 = z * z * expected_rate * (1 - expected_rate) / (margin * margin)
    if population is not None:
        if population < 1:
            raise SamplingError(f"population must be >= 1, got {population!r}")
        n0 = n0 / (1 + (n0 - 1) / population)
        return int(min(population, max(1, math.ceil(n0 - 1e-9))))
    return int(max(1, math.ceil(n0 - 1e-9)))
