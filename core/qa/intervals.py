"""Confidence intervals for a proportion, and a planner for gold-set size.

Two intervals, vectorized over numpy arrays:

* Wilson (1927) score interval -- good coverage at small n, never outside [0, 1];
* Clopper & Pearson (1934) "exact" interval from beta quantiles -- conservative
  (coverage >= the nominal level), the one auditors expect.

Both agree with ``statsmodels.stats.proportion.proportion_confint`` methods
``"wilson"`` and ``"beta"``.

References:
    Wilson, E. B. (1927). Probable inference, the law of succession, and
    statistical inference. JASA 22(158), 209-212.
    Clopper, C. J., Pearson, E. S. (1934). The use of confidence or fiducial
    limits illustrated in the case of the binomial. Biometrika 26(4), 404-413.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from ..errors import AccordError

__all__ = ["IntervalMethod", "Rate", "gold_items_needed", "proportion_interval", "rate"]

IntervalMethod = Literal["wilson", "clopper-pearson"]


class InvalidProportionError(AccordError, ValueError):
    """Counts or a confidence level that do not describe a proportion."""


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise InvalidProportionError(
            f"confidence must lie strictly between 0 and 1, got {confidence!r}; pass e.g. 0.95")


def proportion_interval(
    successes: ArrayLike,
    n: ArrayLike,
    *,
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two-sided interval for ``successes / n``, element-wise.

    Args:
        successes: Counts, ``0 <= successes <= n`` (broadcast with ``n``).
        n: Trials; entries with ``n == 0`` give ``nan`` bounds (undefined).
        confidence: Two-sided level in (0, 1).
        method: ``"wilson"`` or ``"clopper-pearson"``.

    Returns:
        ``(low, high)`` float arrays within [0, 1].

    Raises:
        InvalidProportionError: negative counts, successes > n, or a bad level.

    Example:
        >>> lo, hi = proportion_interval(8, 10)
        >>> round(float(lo), 4), round(float(hi), 4)
        (0.4902, 0.9433)
    """
    _check_confidence(confidence)
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    k, m = np.broadcast_arrays(k, m)
    # NaN fails every comparison, so these two passes also reject NaN; inf n is rejected explicitly.
    if not (np.all(k >= 0) and np.all(k <= m) and np.all(np.isfinite(m))):
        raise InvalidProportionError(
            f"need finite 0 <= successes <= n, got successes={successes!r}, n={n!r}")
    alpha = 1.0 - confidence
    empty = m == 0
    safe_m = np.where(empty, 1.0, m)
    if method == "wilson":
        z = float(stats.norm.ppf(1.0 - alpha / 2))
        z2 = z * z
        inv = 1.0 / safe_m
        p = k * inv
        denom = 1.0 / (1.0 + z2 * inv)
        centre = (p + (0.5 * z2) * inv) * denom
        half = z * denom * np.sqrt(inv * (p * (1 - p) + (0.25 * z2) * inv))
        low = np.clip(centre - half, 0.0, 1.0)
        high = np.clip(centre + half, 0.0, 1.0)
    elif method == "clopper-pearson":
        with np.errstate(invalid="ignore", divide="ignore"):
            low = np.where(k > 0, stats.beta.ppf(alpha / 2, np.maximum(k, 1e-300), safe_m - k + 1), 0.0)
            high = np.where(k < safe_m, stats.beta.ppf(1 - alpha / 2, k + 1, np.maximum(safe_m - k, 1e-300)), 1.0)
    else:
        raise InvalidProportionError(f"method must be 'wilson' or 'clopper-pearson', got {method!r}")
    if empty.any():
        low = np.where(empty, np.nan, low)
        high = np.where(empty, np.nan, high)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    """A proportion with its counts and interval.

    Attributes:
        successes / n: The raw counts (kept so totals are re-summed, never averaged).
        estimate: ``successes / n``; ``nan`` when ``n == 0``.
        low / high: Interval bounds; ``nan`` when ``n == 0``.
        method / confidence: How the interval was computed.
        defined: False when ``n == 0`` (no data: estimate and bounds are nan).
    """

    successes: int
    n: int
    estimate: float
    low: float
    high: float
    method: IntervalMethod
    confidence: float
    defined: bool

    @property
    def width(self) -> float:
        """``high - low`` (nan when undefined)."""
        return self.high - self.low


def rate(successes: int, n: int, *, confidence: float = 0.95, method: IntervalMethod = "wilson") -> Rate:
    """Build a :class:`Rate` from counts.

    Example:
        >>> r = rate(0, 0)
        >>> r.defined, math.isnan(r.estimate)
        (False, True)
    """
    low, high = proportion_interval(successes, n, confidence=confidence, method=method)
    defined = n > 0
    return Rate(successes=int(successes), n=int(n), estimate=successes / n if defined else math.nan,
                low=float(low), high=float(high), method=method, confidence=confidence, defined=defined)


def gold_items_needed(
    expected_rate: float,
    target_width: float,
    *,
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
    already: int = 0,
    max_n: int = 10_000_000,
) -> int:
    """How many more gold items make the interval no wider than ``target_width``.

    The successes at a candidate ``n`` are taken as ``round(expected_rate * n)``;
    the smallest total ``n`` whose interval width is ``<= target_width`` is found
    by exact search (exponential bracketing, then bisection over the integers,
    then a local linear scan to absorb the small non-monotonicity rounding causes).

    Args:
        expected_rate: Anticipated proportion in [0, 1].
        target_width: Wanted full width ``high - low``, in (0, 1].
        confidence: Two-sided level.
        method: Interval method.
        already: Gold items already scored; the answer is ``max(0, n - already)``.
        max_n: Search ceiling.

    Returns:
        Additional items needed (0 when ``already`` suffices).

    Raises:
        InvalidProportionError: bad arguments, or the target is not reachable under ``max_n``.

    Example:
        >>> gold_items_needed(0.9, 0.1)
        141
    """
    _check_confidence(confidence)
    if not 0.0 <= expected_rate <= 1.0:
        raise InvalidProportionError(f"expected_rate must be in [0, 1], got {expected_rate!r}")
    if not 0.0 < target_width <= 1.0:
        raise InvalidProportionError(f"target_width must be in (0, 1], got {target_width!r}; e.g. 0.1 for +-5 points")
    if already < 0:
        raise InvalidProportionError(f"already must be >= 0, got {already!r}")

    def width(n: int) -> float:
        lo, hi = proportion_interval(round(expected_rate * n), n, confidence=confidence, method=method)
        return float(hi - lo)

    hi_n = 1
    while width(hi_n) > target_width:
        hi_n *= 2
        if hi_n > max_n:
            raise InvalidProportionError(
                f"target_width {target_width!r} needs more than max_n={max_n} items; raise max_n or widen the target")
    lo_n = hi_n // 2
    while hi_n - lo_n > 1:
        mid = (lo_n + hi_n) // 2
        if width(mid) <= target_width:
            hi_n = mid
        else:
            lo_n = mid
    best = hi_n
    for cand in range(max(1, hi_n - 8), hi_n):
        if width(cand) <= target_width:
            best = cand
            break
    return max(0, best - already)
