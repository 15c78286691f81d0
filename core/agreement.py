"""Chance-corrected inter-annotator agreement coefficients.

Every coefficient here takes ratings as an array-like of shape
``(n_items, n_raters)``: one row per item (unit), one column per rater, a
missing rating written as ``NaN`` or ``None``. Labels may be numbers or
strings; they are coded once with :func:`numpy.unique` (or a direct integer
offset when the labels are small integers), so nothing loops over items in
Python. Two-rater coefficients (:func:`cohen_kappa`, :func:`scotts_pi`) take the
two raters' label vectors ``a`` and ``b``; :func:`fleiss_kappa` takes an
``(n_items, n_categories)`` count table, which :func:`counts_from_ratings`
builds.

Undefined cases are explicit: when a coefficient has no meaning for the data
(no item with two ratings, fewer than two raters, a single category in all
the data, zero expected disagreement) it raises
:class:`~accord.core.errors.UndefinedAgreementError` saying why. It never
returns a silent ``1.0`` or ``0.0``.

Confidence intervals: one generic function, :func:`bootstrap_ci`, wraps any
coefficient. It resamples items (rows) with replacement, seeded, recomputes
the coefficient on each resample and returns an :class:`AgreementResult`
(point estimate, percentile interval, counts). We chose one generic wrapper
over a ``ci=`` argument on every coefficient so that each coefficient keeps
returning a plain ``float`` and the resampling logic lives in one tested
place; it also works for user-written coefficients. Resamples on which the
coefficient is undefined are skipped and counted in
:attr:`AgreementResult.n_undefined`. For Krippendorff's alpha (nominal, ordinal,
interval) the resamples are evaluated together from per-unit sufficient
statistics (a few matrix products per block of resamples); string labels are
coded once before resampling. Both shortcuts draw the same items as the plain
loop and give the same interval.

References:
    K. Krippendorff (2011). Computing Krippendorff's Alpha-Reliability.
    K. L. Gwet (2014). Handbook of Inter-Rater Reliability, 4th ed.; and his
    R package irrCAC (formulas for missing ratings reproduced here).
    R. Artstein and M. Poesio (2008). Inter-coder agreement for computational
    linguistics. Computational Linguistics 34(4).
    J. L. Fleiss (1971). Measuring nominal scale agreement among many raters.
    A. J. Conger (1980). Integration and generalization of kappas for multiple
    raters. Psychological Bulletin 88(2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from .errors import ConfigError, InvalidAnnotationError, SchemaError, UndefinedAgreementError
from .limits import check_limit

__all__ = [
    "AgreementResult",
    "Level",
    "PairwiseKappa",
    "Weights",
    "bootstrap_ci",
    "brennan_prediger",
    "cohen_kappa",
    "conger_kappa",
    "counts_from_ratings",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "pairwise_cohen_kappa",
    "percent_agreement",
    "scotts_pi",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
Level: TypeAlias = Literal["nominal", "ordinal", "interval", "ratio"]
Weights: TypeAlias = Literal["linear", "quadratic"]
Distance: TypeAlias = Callable[[Any, Any], float]

_LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")
_WEIGHTS: tuple[str, ...] = ("linear", "quadratic")
# An integer label range up to this size is coded by direct offset (O(n)) instead of a sort.
_DIRECT_CODE_SPAN = 1 << 20


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreementResult:
    """A coefficient with its bootstrap percentile confidence interval.

    Attributes:
        estimate: The coefficient on the full data.
        low: Lower percentile bound of the interval.
        high: Upper percentile bound of the interval.
        confidence: Nominal coverage of ``[low, high]``, e.g. ``0.95``.
        n_items: Number of items (rows) resampled.
        n_resamples: Number of bootstrap resamples drawn.
        n_undefined: Resamples on which the coefficient was undefined and that
            were left out of the interval.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_items: int
    n_resamples: int
    n_undefined: int = 0


# --------------------------------------------------------------------------- coding


def _as_array(data: Any) -> npt.NDArray[Any]:
    """Turn an array-like into an ndarray without losing ``None``/``NaN`` in string data."""
    if isinstance(data, np.ndarray):
        return data
    arr = np.asarray(data)
    if arr.dtype.kind in "US":
        # np.asarray(["a", float("nan")]) would turn NaN into the string "nan".
        arr = np.asarray(data, dtype=object)
    return arr


def _as_ratings(ratings: Any) -> npt.NDArray[Any]:
    arr = _as_array(ratings)
    if arr.ndim != 2:
        raise InvalidAnnotationError(
            f"ratings must be 2-D (n_items, n_raters), got an array of shape {arr.shape!r}; "
            "put one item per row and one rater per column, missing ratings as NaN or None"
        )
    return arr


def _is_missing_object(x: Any) -> bool:
    return x is None or (isinstance(x, (float, np.floating)) and bool(x != x))


_missing_ufunc = np.frompyfunc(_is_missing_object, 1, 1)


def _encode(arr: npt.NDArray[Any]) -> tuple[IntArray, npt.NDArray[Any]]:
    """Code labels as ``0..K-1`` in sorted label order; ``-1`` marks a missing rating.

    Returns:
        ``(codes, categories)``: ``codes`` has ``arr``'s shape; ``categories`` holds
        the distinct observed labels, sorted (float for numeric labels).
    """
    kind = arr.dtype.kind
    if kind == "b":
        arr = arr.astype(np.int64)
        kind = "i"
    if kind in "iu":
        return _encode_ints(arr.astype(np.int64, copy=False), None)
    if kind == "f":
        missing = np.isnan(arr)
        if not np.isfinite(arr[~missing]).all():
            raise InvalidAnnotationError(
                "ratings must be finite numbers or NaN for missing, got an infinite value; "
                "replace inf with NaN (missing) or a finite label"
            )
        valid = arr[~missing]
        if valid.size and np.array_equal(valid, np.trunc(valid)):
            lo, hi = float(valid.min()), float(valid.max())
            if hi - lo < _DIRECT_CODE_SPAN and max(abs(lo), abs(hi)) < 2.0**53:
                filled = np.where(missing, lo, arr).astype(np.int64)
                codes, cats = _encode_ints(filled, missing)
                return codes, cats.astype(np.float64)
        return _encode_sorted(arr, missing, numeric=True)
    if kind in "OUS":
        missing = _missing_ufunc(arr).astype(bool) if kind == "O" else np.zeros(arr.shape, dtype=bool)
        return _encode_sorted(arr, missing, numeric=False)
    raise InvalidAnnotationError(
        f"ratings must hold numbers or strings, got dtype {arr.dtype!s}; convert labels to int, float or str first"
    )


def _encode_ints(arr: IntArray, missing: npt.NDArray[np.bool_] | None) -> tuple[IntArray, npt.NDArray[Any]]:
    if arr.size == 0 or (missing is not None and missing.all()):
        return np.full(arr.shape, -1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    valid = arr if missing is None else arr[~missing]
    lo, hi = int(valid.min()), int(valid.max())
    span = hi - lo + 1
    if span > max(_DIRECT_CODE_SPAN, 4 * valid.size):
        return _encode_sorted(arr, missing if missing is not None else np.zeros(arr.shape, bool), numeric=True)
    present = np.zeros(span, dtype=bool)
    present[valid - lo] = True
    lut = np.cumsum(present, dtype=np.int64) - 1
    codes = lut[arr - lo]
    if missing is not None:
        codes[missing] = -1
    return codes, np.flatnonzero(present).astype(np.int64) + lo


def _encode_sorted(
    arr: npt.NDArray[Any], missing: npt.NDArray[np.bool_], *, numeric: bool
) -> tuple[IntArray, npt.NDArray[Any]]:
    valid = arr[~missing]
    try:
        cats, inv = np.unique(valid, return_inverse=True)
    except TypeError as e:
        kinds = sorted({type(v).__name__ for v in valid.tolist()})
        raise InvalidAnnotationError(
            f"ratings mix label types that cannot be ordered ({', '.join(kinds)}); "
            "use one label type (all str or all numbers) and NaN/None for missing"
        ) from e
    codes = np.full(arr.shape, -1, dtype=np.int64)
    codes[~missing] = inv.reshape(-1)
    if (
        not numeric
        and cats.size
        and all(
            isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, (bool, np.bool_))
            for c in cats.tolist()
        )
    ):
        cats = cats.astype(np.float64)
    return codes, cats


def _numeric_categories(cats: npt.NDArray[Any], what: str) -> FloatArray:
    if cats.dtype.kind in "iuf":
        return cats.astype(np.float64)
    raise InvalidAnnotationError(
        f"{what} needs numeric labels, got labels such as {cats[:3].tolist()!r}; "
        "map the labels to numbers first, or use level='nominal'"
    )


def _check_raters(n_raters: int) -> None:
    if n_raters < 2:
        raise UndefinedAgreementError(
            f"agreement needs at least 2 raters (columns), got {n_raters}; ratings must be shaped (n_items, n_raters)"
        )


# --------------------------------------------------------------------------- Krippendorff


def _unit_pairs(sizes: IntArray) -> tuple[IntArray, IntArray, FloatArray]:
    """All unordered within-unit pairs of values laid out unit after unit.

    Args:
        sizes: Number of values in each unit (all >= 2), in layout order.

    Returns:
        ``(a, b, w)``: indices of the two values of each pair into the flat
        layout, and the pair weight ``1 / (m_u - 1)``.
    """
    n = int(sizes.sum())
    starts = np.cumsum(sizes) - sizes
    unit_of = np.repeat(np.arange(sizes.size), sizes)
    pos = np.arange(n) - starts[unit_of]
    later = sizes[unit_of] - 1 - pos
    a = np.repeat(np.arange(n, dtype=np.int64), later)
    first = np.cumsum(later) - later
    b = a + (np.arange(a.size, dtype=np.int64) - np.repeat(first, later) + 1)
    w = 1.0 / (sizes[unit_of[a]] - 1).astype(np.float64)
    return a, b, w


def krippendorff_alpha(ratings: Any, *, level: Level | Distance = "nominal") -> float:
    """Krippendorff's alpha, computed from the coincidence matrix.

    ``alpha = 1 - D_o / D_e`` where ``D_o`` is the observed disagreement
    between values paired within units (each pair weighted ``1/(m_u - 1)``)
    and ``D_e`` the disagreement expected from all pairable values
    (Krippendorff 2011, section C). Units with fewer than two ratings are not
    pairable and are dropped; missing ratings are allowed anywhere.

    Args:
        ratings: ``(n_items, n_raters)`` labels; ``NaN``/``None`` for missing.
        level: ``"nominal"``, ``"ordinal"`` (ranks of the sorted labels,
            through Krippendorff's cumulative-frequency metric), ``"interval"``
            (squared difference), ``"ratio"`` (``((c - k)/(c + k))**2``), or a
            callable ``d(a, b) -> float``, a squared-difference-style distance
            (``d(a, a) == 0``, symmetric) called on the label values.

    Returns:
        Alpha, at most 1 (perfect agreement); 0 is chance level, negative
        values mean systematic disagreement. Symmetric in raters and items.

    Raises:
        UndefinedAgreementError: Fewer than 2 raters, no unit with two
            ratings, or zero expected disagreement (a single value in all
            pairable data).
        InvalidAnnotationError: Non-numeric labels with the interval or ratio
            level (ordinal ranks string labels in sorted order), mixed label
            types, or a callable distance that returns a non-finite value.
        ConfigError: An unknown ``level``.

    References:
        Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability.
        Checked against the ``krippendorff`` package in the tests.

    Complexity: O(n_values) for nominal, ordinal and interval. Ratio also takes
    O(K**2) time over the K distinct values, and a callable level calls the
    distance K**2 / 2 times and holds two K x K tables.

    Example:
        >>> round(krippendorff_alpha([[1, 1], [2, 2], [1, 2]]), 4)
        0.4444
    """
    if not callable(level) and level not in _LEVELS:
        raise ConfigError(f"level must be one of {_LEVELS} or a callable d(a, b), got {level!r}")
    arr = _as_ratings(ratings)
    _check_raters(arr.shape[1])
    codes, cats = _encode(arr)
    valid = codes >= 0
    sizes_all = valid.sum(axis=1)
    pairable = sizes_all >= 2
    codes_p = codes[pairable]
    flat = codes_p[codes_p >= 0]  # row-major: values grouped by unit
    sizes = sizes_all[pairable].astype(np.int64)
    n = int(flat.size)
    if n == 0:
        raise UndefinedAgreementError(
            "Krippendorff's alpha is undefined: no unit has two or more ratings, so no values are pairable"
        )
    n_values = cats.size
    n_c = np.bincount(flat, minlength=n_values).astype(np.float64)
    if not callable(level) and np.count_nonzero(n_c) < 2:
        raise UndefinedAgreementError(
            f"Krippendorff's alpha is undefined: expected disagreement is 0 (all {n} pairable values are equal)"
        )

    if callable(level):
        observed, expected = _kripp_callable(flat, sizes, n_c, cats, level)
    elif level == "nominal":
        observed = _kripp_nominal_observed(flat, sizes, n_values)
        expected = float(n) ** 2 - float(n_c @ n_c)
    elif level in ("interval", "ordinal"):
        # Krippendorff's ordinal metric is the interval metric on mid-ranks of the
        # sorted labels (string labels rank in sorted order; only the order matters).
        vals = _numeric_categories(cats, "level='interval'") if level == "interval" else np.cumsum(n_c) - n_c / 2.0
        vals = vals - float(n_c @ vals) / n  # centre to keep sums of squares accurate
        x = vals[flat]
        unit_of = np.repeat(np.arange(sizes.size), sizes)
        s1 = np.bincount(unit_of, weights=x, minlength=sizes.size)
        s2 = np.bincount(unit_of, weights=x * x, minlength=sizes.size)
        observed = float(np.sum(2.0 * (sizes * s2 - s1 * s1) / (sizes - 1)))
        t1 = float(n_c @ vals)
        t2 = float(n_c @ (vals * vals))
        expected = 2.0 * (n * t2 - t1 * t1)
    else:  # ratio
        vals = _numeric_categories(cats, "level='ratio'")
        a, b, w = _unit_pairs(sizes)
        va, vb = vals[flat[a]], vals[flat[b]]
        observed = 2.0 * float(w @ _ratio_delta(va, vb))
        expected = _ratio_expected(vals, n_c)
    if not expected > 0.0:
        raise UndefinedAgreementError(
            "Krippendorff's alpha is undefined: expected disagreement is 0 "
            f"(all {n} pairable values are {'at distance 0 from each other' if callable(level) else 'equal'})"
        )
    return 1.0 - (n - 1) * observed / expected


def _kripp_nominal_observed(flat: IntArray, sizes: IntArray, n_values: int) -> float:
    """Sum over units of (ordered unequal pairs) / (m_u - 1)."""
    n_units = sizes.size
    unit_of = np.repeat(np.arange(n_units, dtype=np.int64), sizes)
    if n_units * n_values <= 8 * flat.size + (1 << 20):
        per = np.bincount(unit_of * n_values + flat, minlength=n_units * n_values).astype(np.float64)
        same = np.bincount(np.repeat(np.arange(n_units), n_values), weights=per * per, minlength=n_units)
    else:
        keys, counts = np.unique(unit_of * n_values + flat, return_counts=True)
        same = np.bincount(keys // n_values, weights=counts.astype(np.float64) ** 2, minlength=n_units)
    sz = sizes.astype(np.float64)
    return float(np.sum((sz * sz - same) / (sz - 1.0)))


def _ratio_delta(va: FloatArray, vb: FloatArray) -> FloatArray:
    s = va + vb
    ratio: FloatArray = np.divide(va - vb, s, out=np.zeros_like(s), where=s != 0)
    return ratio * ratio


def _ratio_expected(vals: FloatArray, n_c: FloatArray) -> float:
    keep = n_c > 0
    v, c = vals[keep], n_c[keep]
    total = 0.0
    step = max(1, (1 << 22) // max(1, v.size))
    for i in range(0, v.size, step):
        block = _ratio_delta(v[i : i + step, None], v[None, :])
        total += float(c[i : i + step] @ block @ c)
    return total


def _kripp_callable(
    flat: IntArray, sizes: IntArray, n_c: FloatArray, cats: npt.NDArray[Any], distance: Distance
) -> tuple[float, float]:
    k = cats.size
    labels = cats.tolist()
    delta = np.empty((k, k), dtype=np.float64)
    for i in range(k):
        delta[i, i] = float(distance(labels[i], labels[i]))
        for j in range(i + 1, k):
            d = float(distance(labels[i], labels[j]))
            delta[i, j] = delta[j, i] = d
    if not np.isfinite(delta).all():
        raise InvalidAnnotationError("the distance function returned a non-finite value; it must return finite floats")
    a, b, w = _unit_pairs(sizes)
    half = np.bincount(flat[a] * k + flat[b], weights=w, minlength=k * k).reshape(k, k)
    coincidences = half + half.T
    return float(np.sum(coincidences * delta)), float(n_c @ delta @ n_c)


# --------------------------------------------------------------------------- count tables


def _table(ratings: Any, categories: Sequence[Any] | None) -> tuple[IntArray, IntArray, npt.NDArray[Any]]:
    """Codes (n_items, n_raters), counts (n_items, K) and the K categories."""
    arr = _as_ratings(ratings)
    codes, cats = _encode(arr)
    if categories is not None:
        given = list(categories)
        if len(set(given)) != len(given):
            raise SchemaError(f"categories must be distinct, got {given!r}")
        position = {c: i for i, c in enumerate(given)}
        try:
            remap = np.array([position[c] for c in cats.tolist()], dtype=np.int64)
        except KeyError as e:
            raise SchemaError(
                f"label {e.args[0]!r} appears in the ratings but not in categories={given!r}; "
                "add it to categories or leave categories=None to use the observed labels"
            ) from e
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)] if remap.size else codes, -1)
        cats = np.array(given, dtype=object)
        if cats.size and all(isinstance(c, (int, float, np.integer, np.floating)) for c in given):
            cats = cats.astype(np.float64)
    n_items, k = codes.shape[0], cats.size
    rows = np.broadcast_to(np.arange(n_items, dtype=np.int64)[:, None], codes.shape)
    valid = codes >= 0
    counts = np.bincount(rows[valid] * k + codes[valid], minlength=n_items * k).reshape(n_items, k)
    return codes, counts.astype(np.int64), cats


def counts_from_ratings(ratings: Any, *, categories: Sequence[Any] | None = None) -> IntArray:
    """Count table ``(n_items, n_categories)`` from raw ratings.

    Args:
        ratings: ``(n_items, n_raters)`` labels; ``NaN``/``None`` for missing.
        categories: Column order. ``None`` uses the observed labels, sorted.
            Given categories may include labels nobody used (they get a zero
            column); every observed label must be among them.

    Returns:
        ``counts[i, k]``: how many raters gave item ``i`` category ``k``.

    Raises:
        SchemaError: An observed label is missing from ``categories``.

    Example:
        >>> counts_from_ratings([["a", "b"], ["b", None]]).tolist()
        [[1, 1], [0, 1]]
    """
    return _table(ratings, categories)[1]


def _weight_matrix(weights: Weights | npt.ArrayLike | None, cats: npt.NDArray[Any]) -> FloatArray:
    """Gwet's agreement weights (1 on the diagonal), as in irrCAC."""
    k = cats.size
    if weights is None:
        return np.eye(k)
    if isinstance(weights, str):
        if weights not in _WEIGHTS:
            raise ConfigError(f"weights must be None, one of {_WEIGHTS} or a (K, K) matrix, got {weights!r}")
        x = cats.astype(np.float64) if cats.dtype.kind in "iuf" else np.arange(1.0, k + 1.0)
        span = float(x.max() - x.min()) if k else 0.0
        if span == 0.0:
            return np.ones((k, k))
        diff = np.abs(x[:, None] - x[None, :]) / span
        return 1.0 - diff if weights == "linear" else 1.0 - diff * diff
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (k, k):
        raise ConfigError(f"a weight matrix must be ({k}, {k}) for {k} categories, got shape {w.shape!r}")
    return w


def _gwet_parts(counts: npt.NDArray[Any], w: FloatArray | None, name: str) -> tuple[float, FloatArray, int]:
    """Gwet's percent agreement, mean category shares and item count (irrCAC).

    ``w`` is the agreement-weight matrix; ``None`` means the identity (unweighted).
    """
    ri = counts.sum(axis=1)
    if not (ri > 0).all():
        counts = counts[ri > 0]
        ri = ri[ri > 0]
    if counts.shape[0] == 0 or ri.max() < 2:
        raise UndefinedAgreementError(f"{name} is undefined: no item has two or more ratings")
    n_items = int(ri.size)
    lo, hi = ri.min(), ri.max()
    if w is None and lo == hi:
        # The common case, Fleiss (1971): unweighted, every item rated by the same m raters.
        m = float(hi)
        agreeing = float(np.einsum("ij,ij->", counts, counts)) - m * n_items
        return agreeing / (n_items * m * (m - 1.0)), counts.sum(axis=0) / (n_items * m), n_items
    r = counts.astype(np.float64, copy=False)
    rif = ri.astype(np.float64)
    weighted = r if w is None else r @ w.T
    sum_q = np.einsum("ij,ij->i", r, weighted) - rif
    multi = ri >= 2
    pa = float(np.mean(sum_q[multi] / (rif[multi] * (rif[multi] - 1.0))))
    pi = (1.0 / rif) @ r / n_items
    return pa, pi, n_items


def _chance_corrected(pa: float, pe: float, name: str) -> float:
    if not 1.0 - pe > 1e-15:
        raise UndefinedAgreementError(
            f"{name} is undefined: chance agreement is {pe!r}, so 1 - p_e is 0 "
            "(typically a single category in all the data)"
        )
    return (pa - pe) / (1.0 - pe)


def fleiss_kappa(table: Any) -> float:
    """Fleiss' kappa from an ``(n_items, n_categories)`` count table.

    With the same number of raters per item this is Fleiss (1971) exactly
    (and equals ``statsmodels.stats.inter_rater.fleiss_kappa``). Items may
    have different numbers of ratings: then Gwet's generalisation (irrCAC's
    ``fleiss.kappa.raw``) is used: percent agreement over items with two or
    more ratings, category shares averaged over items with at least one.

    Args:
        table: Non-negative counts, one row per item.

    Returns:
        Kappa, at most 1; 0 is chance level. Invariant to permuting items or
        categories.

    Raises:
        UndefinedAgreementError: No item with two ratings, or a single
            category in all the data (chance agreement 1).
        InvalidAnnotationError: Not a 2-D table of finite non-negative counts.

    References:
        Fleiss, J. L. (1971). Measuring nominal scale agreement among many
        raters. Psychological Bulletin 76(5). Gwet (2014), ch. 2, for missing ratings.

    Example:
        >>> round(fleiss_kappa([[2, 0], [0, 2], [1, 1]]), 4)
        0.3333
    """
    t = np.asarray(table)
    if t.dtype.kind not in "iuf":
        t = t.astype(np.float64)
    if t.ndim != 2 or (t.dtype.kind == "f" and not np.isfinite(t).all()) or (t.size and t.min() < 0):
        raise InvalidAnnotationError(
            "fleiss_kappa needs a 2-D (n_items, n_categories) table of finite non-negative counts, "
            f"got shape {t.shape!r}; build one with counts_from_ratings(ratings)"
        )
    pa, pi, _ = _gwet_parts(t, None, "Fleiss' kappa")
    return _chance_corrected(pa, float(pi @ pi), "Fleiss' kappa")


def percent_agreement(ratings: Any) -> float:
    """Share of agreeing rater pairs, averaged over items with two or more ratings.

    For item ``i`` with ``r_i >= 2`` ratings, ``sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))``;
    the mean over those items (Gwet's ``p_a``, irrCAC ``pa.coeff.raw``). Not
    chance-corrected.

    Returns:
        A value in ``[0, 1]``.

    Raises:
        UndefinedAgreementError: Fewer than 2 raters or no item with two ratings.

    Example:
        >>> percent_agreement([[1, 1, 2], [3, 3, 3]])
        0.6666666666666666
    """
    codes, counts, _ = _table(ratings, None)
    _check_raters(codes.shape[1])
    return _gwet_parts(counts, None, "percent agreement")[0]


def gwet_ac1(
    ratings: Any,
    *,
    weights: Weights | npt.ArrayLike | None = None,
    categories: Sequence[Any] | None = None,
) -> float:
    """Gwet's AC1 (unweighted) or AC2 (weighted), multi-rater, with missing ratings.

    ``p_e = T_w / (q (q - 1)) * sum_k pi_k (1 - pi_k)`` with ``pi_k`` the
    category share averaged over rated items, ``q`` the number of categories
    and ``T_w`` the sum of the weights (Gwet 2014, ch. 2 and 3; irrCAC
    ``gwet.ac1.raw``).

    Args:
        ratings: ``(n_items, n_raters)``; ``NaN``/``None`` for missing.
        weights: ``None``, ``"linear"`` (``1 - |k - l| / (max - min)``),
            ``"quadratic"`` (``1 - (k - l)**2 / (max - min)**2``) on the numeric
            category values (on ranks for string labels), or a ``(q, q)`` matrix.
        categories: The full category set; ``q`` counts unused categories too.

    Returns:
        AC1/AC2, at most 1. Invariant to permuting raters and items.

    Raises:
        UndefinedAgreementError: Fewer than 2 raters, no item with two ratings,
            or fewer than two categories.

    References:
        Gwet, K. L. (2008). Computing inter-rater reliability and its variance
        in the presence of high agreement. British Journal of Mathematical and
        Statistical Psychology 61(1). Gwet (2014), Handbook, 4th ed.
    """
    codes, counts, cats = _table(ratings, categories)
    _check_raters(codes.shape[1])
    q = cats.size
    if q < 2:
        raise UndefinedAgreementError(
            f"Gwet's AC1 is undefined with {q} category; pass categories=[...] with the full label set"
        )
    w = _weight_matrix(weights, cats)
    pa, pi, _ = _gwet_parts(counts, w, "Gwet's AC1")
    pe = float(w.sum()) * float(np.sum(pi * (1.0 - pi))) / (q * (q - 1))
    return _chance_corrected(pa, pe, "Gwet's AC1")


def brennan_prediger(
    ratings: Any,
    *,
    categories: Sequence[Any] | None = None,
    weights: Weights | npt.ArrayLike | None = None,
) -> float:
    """Brennan and Prediger's (1981) coefficient: chance agreement ``T_w / q**2`` (``1/q`` unweighted).

    Percent agreement as in :func:`percent_agreement` (irrCAC ``bp.coeff.raw``).

    Args:
        ratings: ``(n_items, n_raters)``; ``NaN``/``None`` for missing.
        categories: The full category set; ``q`` counts unused categories too.
        weights: As in :func:`gwet_ac1`.

    Returns:
        At most 1. Invariant to permuting raters and items.

    Raises:
        UndefinedAgreementError: Fewer than 2 raters, no item with two
            ratings, or fewer than two categories.

    References:
        Brennan, R. L. and Prediger, D. J. (1981). Coefficient kappa: some uses,
        misuses, and alternatives. Educational and Psychological Measurement 41.
    """
    codes, counts, cats = _table(ratings, categories)
    _check_raters(codes.shape[1])
    q = cats.size
    if q < 2:
        raise UndefinedAgreementError(
            f"Brennan-Prediger is undefined with {q} category; pass categories=[...] with the full label set"
        )
    w = _weight_matrix(weights, cats)
    pa, _, _ = _gwet_parts(counts, w, "Brennan-Prediger")
    return _chance_corrected(pa, float(w.sum()) / (q * q), "Brennan-Prediger")


def conger_kappa(ratings: Any, *, weights: Weights | npt.ArrayLike | None = None) -> float:
    """Conger's (1980) multi-rater kappa, with missing ratings as in irrCAC ``conger.kappa.raw``.

    Chance agreement uses each rater's own category distribution:
    ``p_e = sum_kl w_kl (pbar_k pbar_l - s2_kl / r)`` with ``pbar`` the mean
    over raters and ``s2`` their covariance. For two raters without missing
    ratings it equals Cohen's kappa.

    Returns:
        At most 1. Invariant to permuting raters and items.

    Raises:
        UndefinedAgreementError: Fewer than 2 raters, no item with two
            ratings, a rater with no rating, or chance agreement 1.

    References:
        Conger, A. J. (1980). Integration and generalization of kappas for
        multiple raters. Psychological Bulletin 88(2).
    """
    codes, counts, cats = _table(ratings, None)
    n_raters = codes.shape[1]
    _check_raters(n_raters)
    k = cats.size
    w = _weight_matrix(weights, cats)
    pa, _, _ = _gwet_parts(counts, w, "Conger's kappa")
    valid = codes >= 0
    raters = np.broadcast_to(np.arange(n_raters, dtype=np.int64), codes.shape)
    per_rater = np.bincount(raters[valid] * k + codes[valid], minlength=n_raters * k).reshape(n_raters, k)
    n_g = per_rater.sum(axis=1)
    if (n_g == 0).any():
        raise UndefinedAgreementError(
            f"Conger's kappa is undefined: rater column(s) {np.flatnonzero(n_g == 0).tolist()} have no rating; "
            "drop empty columns first"
        )
    p = per_rater / n_g[:, None]
    pbar = p.mean(axis=0)
    s2 = (p.T @ p - n_raters * np.outer(pbar, pbar)) / (n_raters - 1)
    pe = float(np.sum(w * (np.outer(pbar, pbar) - s2 / n_raters)))
    return _chance_corrected(pa, pe, "Conger's kappa")


# --------------------------------------------------------------------------- two raters


def _confusion(a: Any, b: Any) -> FloatArray:
    """Confusion matrix of two raters over the labels either used, in sorted label order.

    Items missing either rating are dropped.
    """
    xa, xb = _as_array(a), _as_array(b)
    if xa.ndim != 1 or xb.ndim != 1 or xa.shape != xb.shape:
        raise InvalidAnnotationError(
            f"a and b must be 1-D label vectors of equal length, got shapes {xa.shape!r} and {xb.shape!r}"
        )
    if xa.dtype.kind == "b":
        xa = xa.astype(np.int64)
    if xb.dtype.kind == "b":
        xb = xb.astype(np.int64)
    if xa.dtype.kind in "iu" and xb.dtype.kind in "iu" and xa.size:
        # Fast path: small integer labels index the confusion matrix directly.
        lo = min(int(xa.min()), int(xb.min()))
        span = max(int(xa.max()), int(xb.max())) - lo + 1
        if span <= 2048:
            ia = xa.astype(np.int64, copy=False)
            ib = xb.astype(np.int64, copy=False)
            if lo:
                ia, ib = ia - lo, ib - lo
            full = np.bincount(ia * span + ib, minlength=span * span).reshape(span, span)
            used = (full.sum(axis=0) + full.sum(axis=1)) > 0
            compact: FloatArray = full[np.ix_(used, used)].astype(np.float64)
            return compact
    if xa.dtype.kind != xb.dtype.kind or xa.dtype.kind in "US":
        xa, xb = xa.astype(object), xb.astype(object)
    codes, cats = _encode(np.concatenate([xa, xb]))
    ca, cb = codes[: xa.size], codes[xa.size :]
    both = (ca >= 0) & (cb >= 0)
    k = cats.size
    if not both.all():
        # Drop items missing either rating, then the labels only those items used.
        ca, cb = ca[both], cb[both]
    used = np.zeros(k, dtype=bool)
    used[ca] = True
    used[cb] = True
    full = np.bincount(ca * k + cb, minlength=k * k).reshape(k, k)
    confusion: FloatArray = full[np.ix_(used, used)].astype(np.float64)
    return confusion


def _no_pairs(confusion: FloatArray) -> None:
    if confusion.sum() == 0:
        raise UndefinedAgreementError("agreement is undefined: no item has a rating from both raters")


def cohen_kappa(a: Any, b: Any, *, weights: Weights | None = None) -> float:
    """Cohen's (1960) kappa for two raters, optionally weighted (Cohen 1968).

    ``kappa = 1 - sum(w * O) / sum(w * E)`` on the confusion matrix ``O`` and
    its chance expectation ``E`` from the two raters' own marginals. Weights
    are disagreement weights on category *positions* in sorted label order:
    ``|i - j|`` (linear) or ``(i - j)**2`` (quadratic), as scikit-learn's
    ``cohen_kappa_score``. Items missing either rating are dropped.

    Returns:
        At most 1; 0 is chance level. Symmetric in ``a`` and ``b``.

    Raises:
        UndefinedAgreementError: No item rated by both, or zero expected
            disagreement (both raters used one and the same category).

    References:
        Cohen, J. (1960), Educational and Psychological Measurement 20(1);
        Cohen, J. (1968), Psychological Bulletin 70(4); Artstein and Poesio (2008).

    Example:
        >>> round(cohen_kappa([1, 1, 2, 2], [1, 2, 2, 2]), 4)
        0.5
    """
    if weights is not None and weights not in _WEIGHTS:
        raise ConfigError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    observed = _confusion(a, b)
    _no_pairs(observed)
    k = observed.shape[0]
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    idx = np.arange(k, dtype=np.float64)
    if weights is None:
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(idx[:, None] - idx[None, :])
    else:
        w = (idx[:, None] - idx[None, :]) ** 2
    denominator = float(np.sum(w * expected))
    if not denominator > 0.0:
        raise UndefinedAgreementError(
            "Cohen's kappa is undefined: expected disagreement is 0 (both raters used a single, identical category)"
        )
    return 1.0 - float(np.sum(w * observed)) / denominator


@dataclass(frozen=True, slots=True, kw_only=True)
class PairwiseKappa:
    """Cohen's kappa of every pair of raters, and of each rater against all the others pooled.

    Attributes:
        kappa: ``(R, R)`` Cohen's kappa on the items both raters rated; NaN on the
            diagonal, for pairs sharing fewer than ``min_items`` items, and where kappa is
            undefined (zero expected disagreement).
        n_shared: ``(R, R)`` items both raters rated (the diagonal: items each rated).
        observed_agreement: ``(R, R)`` share of shared items with equal labels (NaN without any).
        rest_kappa: ``(R,)`` Cohen's kappa of each rater against every other rater, from the
            pooled ``K x K`` table of all their shared items (NaN when undefined).
        rest_agreement: ``(R,)`` share of those pooled pairs with equal labels.
        rest_n: ``(R,)`` pooled pairs (one per item and other rater of it).
        min_items: The minimum number of shared items a pair needed.
    """

    kappa: FloatArray
    n_shared: IntArray
    observed_agreement: FloatArray
    rest_kappa: FloatArray
    rest_agreement: FloatArray
    rest_n: IntArray
    min_items: int


def pairwise_cohen_kappa(codes: Any, *, n_categories: int | None = None, min_items: int = 1) -> PairwiseKappa:
    """Cohen's kappa for all rater pairs from one contingency pass (no loop over pairs).

    With ``X_k`` the ``(n_items, R)`` indicator of label ``k`` and ``P = sum_k X_k`` the
    indicator of a rating, every pair's counts come from a few sparse products:
    shared items ``P.T @ P``, agreements ``sum_k X_k.T @ X_k`` and the chance term
    ``sum_k (X_k.T @ P) * (X_k.T @ P).T`` (each rater's marginals on the items shared
    with the other). Each kappa is then ``1 - sum(w * O) / sum(w * E)`` with ``w = 1 - I``,
    exactly as :func:`cohen_kappa` computes it for one pair. Cost: O(K) sparse products,
    O(K * R**2) memory; nothing loops over pairs or items in Python.

    Args:
        codes: ``(n_items, R)`` integer category codes ``0..K-1``; ``-1`` for a missing rating.
        n_categories: ``K`` (default: the largest code + 1).
        min_items: Pairs sharing fewer items get NaN (kappa from a handful of items is noise).

    Returns:
        A :class:`PairwiseKappa`; symmetric matrices.

    Raises:
        InvalidAnnotationError: ``codes`` is not a 2-D integer array with codes in ``-1..K-1``.

    Example:
        >>> pk = pairwise_cohen_kappa([[0, 0, 1], [0, 1, 1], [1, 1, 1], [1, 1, 0]])
        >>> round(float(pk.kappa[0, 1]), 4)  # cohen_kappa([0, 0, 1, 1], [0, 1, 1, 1])
        0.5
    """
    from scipy import sparse

    c = np.asarray(codes)
    if c.ndim != 2 or c.dtype.kind not in "iu":
        raise InvalidAnnotationError(
            f"codes must be a 2-D integer array (n_items, n_raters) with -1 for missing, got "
            f"{c.dtype!s} of shape {c.shape!r}")
    c = c.astype(np.int64, copy=False)
    k = int(n_categories) if n_categories is not None else int(c.max(initial=-1)) + 1
    if c.size and (c.min() < -1 or c.max() >= max(k, 1)):
        raise InvalidAnnotationError(f"codes must lie in -1..{k - 1}, got {int(c.min())}..{int(c.max())}")
    n_items, r = c.shape

    def indicator(mask: npt.NDArray[np.bool_]) -> Any:
        i, j = np.nonzero(mask)
        return sparse.csr_matrix((np.ones(i.size), (i, j)), shape=(n_items, r))

    p = indicator(c >= 0)
    n = np.asarray((p.T @ p).toarray(), dtype=np.float64)
    agree = np.zeros((r, r))
    rc = np.zeros((r, r))
    per_item = np.zeros((n_items, max(k, 1)))  # ratings of each label per item
    rest_table = np.zeros((r, max(k, 1), max(k, 1)))  # each rater's labels vs the others' labels, pooled
    xs = []
    for lab in range(k):
        xk = indicator(c == lab)
        xs.append(xk)
        per_item[:, lab] = np.asarray(xk.sum(axis=1)).ravel()
        agree += (xk.T @ xk).toarray()
        mk = np.asarray((xk.T @ p).toarray())  # mk[a, b]: items a labelled lab among those b rated
        rc += mk * mk.T
    for lab, xk in enumerate(xs):
        rest_table[:, lab, :] = np.asarray(xk.T @ per_item)  # every rating of a's items
        rest_table[:, lab, lab] -= np.asarray(xk.sum(axis=0)).ravel()  # minus a's own rating
    with np.errstate(invalid="ignore", divide="ignore"):
        expected_dis = n - rc / n  # sum(w * E) with w = 1 - I
        kappa = np.where(expected_dis > 0, 1.0 - (n - agree) / expected_dis, np.nan)
        observed = np.where(n > 0, agree / n, np.nan)
    n_shared = np.rint(n).astype(np.int64)
    off = ~np.eye(r, dtype=bool)
    kappa = np.where(off & (n_shared >= max(min_items, 1)), kappa, np.nan)
    rn = rest_table.sum(axis=(1, 2))
    r_agree = np.trace(rest_table, axis1=1, axis2=2)
    r_rc = np.einsum("ak,ak->a", rest_table.sum(axis=2), rest_table.sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r_dis = rn - r_rc / rn
        rest_kappa = np.where(r_dis > 0, 1.0 - (rn - r_agree) / r_dis, np.nan)
        rest_obs = np.where(rn > 0, r_agree / rn, np.nan)
    return PairwiseKappa(kappa=kappa, n_shared=n_shared, observed_agreement=np.where(off, observed, np.nan),
                         rest_kappa=rest_kappa, rest_agreement=rest_obs,
                         rest_n=np.rint(rn).astype(np.int64), min_items=int(min_items))


def scotts_pi(a: Any, b: Any) -> float:
    """Scott's (1955) pi for two raters: chance agreement from the pooled marginals.

    Items missing either rating are dropped.

    Returns:
        At most 1; 0 is chance level. Symmetric in ``a`` and ``b``.

    Raises:
        UndefinedAgreementError: No item rated by both, or a single category
            in all the data.

    References:
        Scott, W. A. (1955). Reliability of content analysis: the case of
        nominal scale coding. Public Opinion Quarterly 19(3).

    Example:
        >>> round(scotts_pi([1, 1, 2, 2], [1, 2, 2, 2]), 4)
        0.4667
    """
    confusion = _confusion(a, b)
    _no_pairs(confusion)
    n = float(confusion.sum())
    po = float(np.trace(confusion)) / n
    p = (confusion.sum(axis=0) + confusion.sum(axis=1)) / (2.0 * n)
    return _chance_corrected(po, float(p @ p), "Scott's pi")


# --------------------------------------------------------------------------- bootstrap


def bootstrap_ci(
    fn: Callable[..., float],
    *data: Any,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    **kw: Any,
) -> AgreementResult:
    """Percentile bootstrap interval for any coefficient, resampling items.

    Args:
        fn: A coefficient, called as ``fn(*data, **kw)``.
        *data: One or more arrays with items along the first axis, resampled
            together: ``ratings`` for multi-rater coefficients, a count table
            for :func:`fleiss_kappa`, or ``a, b`` for :func:`cohen_kappa`.
        n_resamples: Number of bootstrap resamples (>= 1).
        confidence: Coverage of the interval, in ``(0, 1)``.
        seed: Seed of :func:`numpy.random.default_rng`; equal seeds give equal intervals.
        **kw: Passed to ``fn`` (e.g. ``level="interval"``).

    Returns:
        The estimate on the full data and the percentile interval of the
        resampled estimates; resamples where ``fn`` was undefined are skipped
        and counted in ``n_undefined``.

    Raises:
        UndefinedAgreementError: The coefficient is undefined on the full data
            or on every resample.
        ConfigError: Bad ``n_resamples`` or ``confidence``, or no data.
        LimitExceededError: ``n_resamples`` over :attr:`InputLimits.max_bootstrap
            <accord.core.limits.InputLimits.max_bootstrap>` (default 100,000; ``accord --max-bootstrap``).

    Example:
        >>> r = bootstrap_ci(cohen_kappa, [1, 2, 1, 2, 1], [1, 2, 2, 2, 1], n_resamples=200)
        >>> r.low <= r.estimate <= r.high
        True
    """
    if not data:
        raise ConfigError("bootstrap_ci needs the data to resample, e.g. bootstrap_ci(krippendorff_alpha, ratings)")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ConfigError(f"n_resamples must be a whole number >= 1, got {n_resamples!r}")
    check_limit("max_bootstrap", n_resamples, "the bootstrap asks for", unit=" resamples")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    raw = [_as_array(d) for d in data]
    n_items = raw[0].shape[0] if raw[0].ndim else 0
    if any(x.ndim == 0 or x.shape[0] != n_items for x in raw):
        raise InvalidAnnotationError(
            f"every data array must have the items along its first axis, with the same length; "
            f"got shapes {[x.shape for x in raw]!r}"
        )
    estimate = float(fn(*raw, **kw))
    arrays = _precode(raw, fn, kw)
    rng = np.random.default_rng(seed)
    fast = None
    if len(arrays) == 1 and fn is krippendorff_alpha:
        fast = _kripp_bootstrap(arrays[0], kw, rng, n_resamples)
    elif len(arrays) == 1 and fn in (percent_agreement, gwet_ac1, brennan_prediger):
        fast = _gwet_family_bootstrap(fn, arrays[0], kw, rng, n_resamples)
    elif len(arrays) == 1 and fn is fleiss_kappa and not kw:
        fast = _fleiss_bootstrap(arrays[0], rng, n_resamples)
    if fast is not None:
        values, n_ok = fast, fast.size
    else:
        values, n_ok = _generic_bootstrap(fn, arrays, kw, rng, n_resamples)
    if n_ok == 0:
        raise UndefinedAgreementError(f"the coefficient was undefined on all {n_resamples} bootstrap resamples")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values[:n_ok], [tail, 1.0 - tail])
    return AgreementResult(
        estimate=estimate,
        low=float(low),
        high=float(high),
        confidence=confidence,
        n_items=int(n_items),
        n_resamples=n_resamples,
        n_undefined=n_resamples - n_ok,
    )


def _generic_bootstrap(
    fn: Callable[..., float], arrays: list[npt.NDArray[Any]], kw: dict[str, Any], rng: np.random.Generator, n: int
) -> tuple[FloatArray, int]:
    n_items = arrays[0].shape[0]
    values = np.empty(n, dtype=np.float64)
    n_ok = 0
    for _ in range(n):
        idx = rng.integers(0, n_items, size=n_items)
        try:
            values[n_ok] = fn(*(x[idx] for x in arrays), **kw)
        except UndefinedAgreementError:
            continue
        n_ok += 1
    return values, n_ok


def _multiplicity_blocks(rng: np.random.Generator, n_items: int, n_resamples: int) -> Iterator[FloatArray]:
    """Bootstrap resamples as blocks of item multiplicities ``(b, n_items)`` (float).

    Draws exactly the item indices :func:`_generic_bootstrap` draws (one
    ``rng.integers(0, n_items, n_items)`` per resample, in order), so a vectorised path that
    reads these gives the same resamples as the loop. Blocks hold at most ~4M cells.
    """
    block = max(1, min(n_resamples, 4_000_000 // max(n_items, 1)))
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        draws = np.stack([rng.integers(0, n_items, size=n_items) for _ in range(b)])
        done += b
        yield (
            np.bincount((draws + np.arange(b)[:, None] * n_items).ravel(), minlength=b * n_items)
            .reshape(b, n_items)
            .astype(np.float64)
        )


def _gwet_family_bootstrap(
    fn: Callable[..., float], arr: npt.NDArray[Any], kw: dict[str, Any], rng: np.random.Generator,
    n_resamples: int,
) -> FloatArray | None:
    """Vectorised bootstrap of percent agreement, Gwet's AC1/AC2 and Brennan-Prediger.

    All three are built from per-item sums (:func:`_gwet_parts`): ``p_a`` is a mean of
    per-item agreement over items with two or more ratings and ``pi`` a mean of per-item
    category shares, so a resample with item multiplicities ``c`` is two matrix products.
    Same resamples as the loop (:func:`_multiplicity_blocks`), same values up to rounding.
    Returns the defined resample values, or ``None`` where this path does not apply
    (weights on observed categories, more than 2-D data).
    """
    if set(kw) - {"categories", "weights"} or arr.ndim != 2 or arr.shape[1] < 2:
        return None
    categories, weights = kw.get("categories"), kw.get("weights")
    if weights is not None and categories is None:
        return None  # weights depend on the categories each resample happens to observe
    try:
        _, counts, cats = _table(arr, categories)
    except SchemaError:
        return None
    r = counts.astype(np.float64)
    ri = counts.sum(axis=1).astype(np.float64)
    w = _weight_matrix(weights, cats) if weights is not None else None
    weighted = r if w is None else r @ w.T
    multi = ri >= 2
    agree = np.zeros(ri.size)
    agree[multi] = (np.einsum("ij,ij->i", r, weighted)[multi] - ri[multi]) / (ri[multi] * (ri[multi] - 1.0))
    rated = (ri > 0).astype(np.float64)
    shares = np.divide(r, ri[:, None], out=np.zeros_like(r), where=ri[:, None] > 0)
    multi_f = multi.astype(np.float64)
    fixed_q = categories is not None
    out: list[FloatArray] = []
    for mult in _multiplicity_blocks(rng, ri.size, n_resamples):
        n_multi = mult @ multi_f
        with np.errstate(invalid="ignore", divide="ignore"):
            pa = (mult @ (agree * multi_f)) / n_multi
            if fn is percent_agreement:
                value, defined = pa, n_multi > 0
            else:
                pi = (mult @ shares) / (mult @ rated)[:, None]
                q = np.full(mult.shape[0], float(cats.size)) if fixed_q else (mult @ r > 0).sum(axis=1).astype(float)
                t_w = float(w.sum()) if w is not None else q
                # AC1/AC2: T_w sum_k pi_k (1 - pi_k) / (q (q - 1)); Brennan-Prediger: T_w / q^2
                pe = t_w * np.sum(pi * (1.0 - pi), axis=1) / (q * (q - 1.0)) if fn is gwet_ac1 else t_w / (q * q)
                value = (pa - pe) / (1.0 - pe)
                defined = (n_multi > 0) & (q >= 2) & (1.0 - pe > 1e-15)
        out.append(value[defined])
    return np.concatenate(out)


def _fleiss_bootstrap(table: npt.NDArray[Any], rng: np.random.Generator, n_resamples: int) -> FloatArray | None:
    """Vectorised bootstrap of :func:`fleiss_kappa` from its count table.

    Fleiss' kappa is ``(p_a - pi . pi) / (1 - pi . pi)`` with ``p_a`` a mean of per-item
    agreement over items with two or more ratings and ``pi`` a mean of per-item category
    shares over rated items (:func:`_gwet_parts`, either case), so a resample with item
    multiplicities ``c`` is two matrix products. Same resamples as the loop
    (:func:`_multiplicity_blocks`), same values up to rounding. Returns the defined resample
    values, or ``None`` for a table :func:`fleiss_kappa` itself would reject.
    """
    if table.ndim != 2 or table.dtype.kind not in "iuf" or not np.isfinite(table).all() \
            or (table.size and table.min() < 0):
        return None
    r = table.astype(np.float64)
    ri = r.sum(axis=1)
    multi = ri >= 2
    agree = np.zeros(ri.size)
    agree[multi] = (np.einsum("ij,ij->i", r[multi], r[multi]) - ri[multi]) / (ri[multi] * (ri[multi] - 1.0))
    rated = (ri > 0).astype(np.float64)
    shares = np.divide(r, ri[:, None], out=np.zeros_like(r), where=ri[:, None] > 0)
    multi_f = multi.astype(np.float64)
    out: list[FloatArray] = []
    for mult in _multiplicity_blocks(rng, ri.size, n_resamples):
        n_multi = mult @ multi_f
        with np.errstate(invalid="ignore", divide="ignore"):
            pa = (mult @ agree) / n_multi
            pi = (mult @ shares) / (mult @ rated)[:, None]
            pe = np.sum(pi * pi, axis=1)
            value = (pa - pe) / (1.0 - pe)
        out.append(value[(n_multi > 0) & (1.0 - pe > 1e-15)])
    return np.concatenate(out)


def _kripp_bootstrap(
    arr: npt.NDArray[Any], kw: dict[str, Any], rng: np.random.Generator, n_resamples: int
) -> FloatArray | None:
    """Vectorised bootstrap of Krippendorff's alpha from per-unit sufficient statistics.

    A resample is a vector of unit multiplicities ``c``; for the nominal, ordinal and
    interval levels both disagreements are sums over units of per-unit statistics
    weighted by ``c`` (ordinal re-ranks with the resample's value counts), so a block
    of resamples is a few matrix products. Draws the same item indices as the generic
    loop, so it gives the same intervals. Returns the defined resample values, or
    ``None`` where this path does not apply (other levels, many distinct values).
    """
    level = kw.get("level", "nominal")
    if set(kw) - {"level"} or level not in ("nominal", "ordinal", "interval") or arr.ndim != 2:
        return None
    codes, cats = _encode(arr)
    n_items, n_values = codes.shape[0], cats.size
    sizes = (codes >= 0).sum(axis=1)
    pairable = np.flatnonzero(sizes >= 2)
    if pairable.size * max(n_values, 1) > 20_000_000 or pairable.size == 0:
        return None
    if level == "interval":
        vals = _numeric_categories(cats, "level='interval'")
    codes_p = codes[pairable]
    m = sizes[pairable].astype(np.float64)
    rows = np.broadcast_to(np.arange(pairable.size)[:, None], codes_p.shape)
    ok = codes_p >= 0
    per_unit = (
        np.bincount(rows[ok] * n_values + codes_p[ok], minlength=pairable.size * n_values)
        .reshape(pairable.size, n_values)
        .astype(np.float64)
    )
    if level == "nominal":
        unit_observed = (m * m - np.einsum("ij,ij->i", per_unit, per_unit)) / (m - 1.0)
    elif level == "interval":
        x = vals - vals.mean()
        s1, s2 = per_unit @ x, per_unit @ (x * x)
        unit_observed = 2.0 * (m * s2 - s1 * s1) / (m - 1.0)
    out: list[FloatArray] = []
    for full in _multiplicity_blocks(rng, n_items, n_resamples):
        mult = full[:, pairable]
        n = mult @ m
        n_c = mult @ per_unit
        defined = np.count_nonzero(n_c, axis=1) >= 2
        if level == "nominal":
            observed = mult @ unit_observed
            expected = n * n - np.einsum("ij,ij->i", n_c, n_c)
        elif level == "interval":
            observed = mult @ unit_observed
            t1, t2 = n_c @ x, n_c @ (x * x)
            expected = 2.0 * (n * t2 - t1 * t1)
        else:  # ordinal: mid-ranks from this resample's value counts
            mid = np.cumsum(n_c, axis=1) - n_c / 2.0
            mid = mid - (np.einsum("ij,ij->i", n_c, mid) / np.maximum(n, 1.0))[:, None]
            u1, u2 = per_unit @ mid.T, per_unit @ (mid * mid).T  # (units, b)
            observed = np.einsum("bu,ub->b", mult, 2.0 * (m[:, None] * u2 - u1 * u1) / (m[:, None] - 1.0))
            t1 = np.einsum("ij,ij->i", n_c, mid)
            t2 = np.einsum("ij,ij->i", n_c, mid * mid)
            expected = 2.0 * (n * t2 - t1 * t1)
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = 1.0 - (n - 1.0) * observed / expected
        out.append(alpha[defined])
    return np.concatenate(out)


def _precode(arrays: list[npt.NDArray[Any]], fn: Callable[..., float], kw: dict[str, Any]) -> list[npt.NDArray[Any]]:
    """Code string/object labels once before resampling, where that cannot change a result.

    Our coefficients see labels only through equality, sorted order and (for numeric
    labels) their values, so float codes in sorted-label order (NaN for missing) give
    the same numbers and spare every resample a sort of Python objects. Skipped for
    user functions, callable levels, given ``categories`` and, for non-numeric labels,
    for levels and weights that need numbers or ranks among the observed labels.
    """
    if fn not in _BUILTIN or all(x.dtype.kind not in "OUS" for x in arrays):
        return arrays
    if callable(kw.get("level")) or kw.get("categories") is not None:
        return arrays
    if len({x.shape[1:] for x in arrays}) > 1:
        return arrays
    stacked = np.concatenate([x.astype(object, copy=False) for x in arrays])
    codes, cats = _encode(stacked)
    if cats.dtype.kind in "iuf":
        coded = np.where(codes >= 0, cats.astype(np.float64)[np.maximum(codes, 0)] if cats.size else 0.0, np.nan)
    elif kw.get("level") in ("interval", "ratio") or kw.get("weights") is not None:
        return arrays
    else:
        coded = np.where(codes >= 0, codes.astype(np.float64), np.nan)
    out, start = [], 0
    for x in arrays:
        out.append(coded[start : start + x.shape[0]])
        start += x.shape[0]
    return out


_BUILTIN: frozenset[Callable[..., float]] = frozenset(
    {
        krippendorff_alpha,
        percent_agreement,
        gwet_ac1,
        brennan_prediger,
        conger_kappa,
        cohen_kappa,
        scotts_pi,
    }
)
