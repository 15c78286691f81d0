"""Bootstrap intervals for ratios of summed per-item counts (matched F1, mean IoU, cells).

Many figures of the report are a ratio of two sums over items: matched F1 is
``sum_i 2 tp_i / sum_i (n_a,i + n_b,i)``, mean matched IoU is ``sum_i iou_i / sum_i
pairs_i``, a pairwise cell or a per-label figure is the same restricted to one pair or
one label. Each item's contribution (its *sufficient statistics*) is computed once, by
the matcher; a bootstrap resample of items then only re-weights those rows, so no
resample ever re-runs the matcher.

:class:`RatioStats` collects the per-item numerators and denominators of any number of
named ratios (sparse: an item adds only to the ratios it touches);
:func:`ratio_bootstrap` resamples items with replacement (Efron's nonparametric
bootstrap), as a ``(resamples, items)`` count matrix times the sparse statistics, in
blocks of bounded size, and returns percentile intervals. The same seed gives the same
intervals.

References:
    Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall,
    chapter 13 (percentile intervals).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from ..errors import AccordError

__all__ = ["RatioIntervals", "RatioStats", "ratio_bootstrap"]

# A block of resamples holds at most this many (resample, item) weights (64 MiB of float64).
_BLOCK_CELLS = 1 << 23


class BootstrapInputError(AccordError, ValueError):
    """Per-item statistics or bootstrap settings that cannot give an interval."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RatioIntervals:
    """Point estimates and percentile intervals of named ratios.

    Attributes:
        keys: The ratio names, in column order.
        numerator / denominator: Summed over all items (raw counts, kept beside the ratio).
        estimate: ``numerator / denominator``; ``nan`` where the denominator is 0.
        low / high: Percentile bounds over the resamples where the ratio is defined;
            ``nan`` where it is never defined.
        n_items: Items that add to each ratio's denominator.
        n_resamples / seed / confidence: How the intervals were drawn.
    """

    keys: tuple[Hashable, ...]
    numerator: npt.NDArray[np.float64]
    denominator: npt.NDArray[np.float64]
    estimate: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    n_items: npt.NDArray[np.int64]
    n_resamples: int
    seed: int
    confidence: float

    def index(self, key: Hashable) -> int:
        """The column of ``key``; raises :class:`BootstrapInputError` for an unknown key."""
        try:
            return self.keys.index(key)
        except ValueError as e:
            raise BootstrapInputError(f"no ratio named {key!r}; known: {list(self.keys)[:10]!r}") from e


class RatioStats:
    """Per-item numerators and denominators of named ratios, gathered one item at a time.

    Example:
        >>> s = RatioStats(n_items=2)
        >>> s.add(0, "f1", 2.0, 2.0)
        >>> s.add(1, "f1", 0.0, 2.0)
        >>> num, den, keys = s.matrices()
        >>> keys, num.toarray().ravel().tolist(), den.toarray().ravel().tolist()
        (('f1',), [2.0, 0.0], [2.0, 2.0])
    """

    __slots__ = ("_cols", "_den", "_items", "_keys_at", "_num", "n_items")

    def __init__(self, *, n_items: int) -> None:
        if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 0:
            raise BootstrapInputError(f"n_items must be an integer >= 0, got {n_items!r}")
        self.n_items = n_items
        self._cols: dict[Hashable, int] = {}
        self._items: list[int] = []
        self._num: list[float] = []
        self._den: list[float] = []
        self._keys_at: list[int] = []  # the column of each entry, parallel to _items

    def add(self, item: int, key: Hashable, numerator: float, denominator: float) -> None:
        """Add one item's contribution to ratio ``key`` (repeated adds for an item sum)."""
        col = self._cols.setdefault(key, len(self._cols))
        self._items.append(item)
        self._keys_at.append(col)
        self._num.append(numerator)
        self._den.append(denominator)

    def matrices(self) -> tuple[sparse.csr_matrix, sparse.csr_matrix, tuple[Hashable, ...]]:
        """``(numerators, denominators, keys)``: two sparse ``(n_items, n_keys)`` matrices."""
        shape = (self.n_items, len(self._cols))
        rows = np.asarray(self._items, dtype=np.int64)
        cols = np.asarray(self._keys_at, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_items):
            raise BootstrapInputError(f"item indices must lie in [0, {self.n_items}), got {rows.min()}..{rows.max()}")
        num = sparse.csr_matrix((np.asarray(self._num, dtype=np.float64), (rows, cols)), shape=shape)
        den = sparse.csr_matrix((np.asarray(self._den, dtype=np.float64), (rows, cols)), shape=shape)
        return num, den, tuple(self._cols)


def ratio_bootstrap(
    numerator: npt.ArrayLike | sparse.spmatrix,
    denominator: npt.ArrayLike | sparse.spmatrix,
    *,
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
    keys: tuple[Hashable, ...] | None = None,
) -> RatioIntervals:
    """Percentile bootstrap intervals of ``sum(numerator) / sum(denominator)`` per column.

    Items (rows) are drawn with replacement, ``n_items`` per resample; each resample's
    ratio is the count-weighted column sums' ratio. Cost: ``O(n_resamples * (n_items +
    nonzeros))``, in blocks of at most ``2**23`` weights.

    Args:
        numerator: ``(n_items, n_ratios)`` per-item numerators (dense or scipy sparse).
        denominator: Same shape, per-item denominators (>= 0).
        n_resamples: Resamples, >= 1.
        seed: Seed of the resampling; the same seed gives the same intervals.
        confidence: Two-sided level in (0, 1).
        keys: A name per column (default ``0..n_ratios-1``).

    Returns:
        :class:`RatioIntervals`. A ratio whose denominator is 0 in a resample is
        left out of that resample's percentile; never defined -> ``nan`` bounds.

    Raises:
        BootstrapInputError: shapes that differ, negative denominators, a bad level or count.

    Example:
        >>> r = ratio_bootstrap([[2.0], [0.0]], [[2.0], [2.0]], n_resamples=2000, seed=0)
        >>> float(r.estimate[0]), float(r.low[0]), float(r.high[0])
        (0.5, 0.0, 1.0)
    """
    num = sparse.csr_matrix(numerator, dtype=np.float64)
    den = sparse.csr_matrix(denominator, dtype=np.float64)
    if num.shape != den.shape:
        raise BootstrapInputError(f"numerator and denominator must have the same shape, got {num.shape} "
                                  f"and {den.shape}")
    if den.nnz and den.data.min() < 0:
        raise BootstrapInputError("denominators must be >= 0 (they are counts: items, regions, words)")
    if not (np.all(np.isfinite(num.data)) and np.all(np.isfinite(den.data))):
        raise BootstrapInputError("per-item statistics must be finite numbers")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise BootstrapInputError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise BootstrapInputError(f"confidence must lie strictly between 0 and 1, got {confidence!r}; e.g. 0.95")
    n, k = num.shape
    names = tuple(range(k)) if keys is None else tuple(keys)
    if len(names) != k:
        raise BootstrapInputError(f"got {len(names)} keys for {k} ratio columns")
    both = sparse.hstack([num, den], format="csc")
    tot_num = np.asarray(num.sum(axis=0), dtype=np.float64).ravel()
    tot_den = np.asarray(den.sum(axis=0), dtype=np.float64).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        est = np.where(tot_den > 0, tot_num / np.where(tot_den > 0, tot_den, 1.0), np.nan)
    n_items = np.diff(sparse.csc_matrix(den > 0).indptr).astype(np.int64)
    low = np.full(k, np.nan)
    high = np.full(k, np.nan)
    if n == 0 or k == 0:
        return RatioIntervals(keys=names, numerator=tot_num, denominator=tot_den, estimate=est, low=low, high=high,
                              n_items=n_items, n_resamples=n_resamples, seed=seed, confidence=confidence)
    rng = np.random.default_rng(seed)
    ratios = np.empty((n_resamples, k), dtype=np.float64)
    block = max(1, _BLOCK_CELLS // n)
    for start in range(0, n_resamples, block):
        b = min(block, n_resamples - start)
        pick = rng.integers(0, n, (b, n))
        # How often each item is drawn in each resample: the resample's weights.
        weights = np.bincount((pick + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n)
        w = weights.reshape(b, n).astype(np.float64)
        sums = np.asarray((both.T @ w.T).T)  # (b, 2k)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[start:start + b] = np.where(sums[:, k:] > 0, sums[:, :k] / sums[:, k:], np.nan)
    defined = np.isfinite(ratios).any(axis=0)
    if defined.any():
        tail = 50.0 * (1.0 - confidence)
        q = np.nanpercentile(ratios[:, defined], [tail, 100.0 - tail], axis=0)
        low[defined], high[defined] = q[0], q[1]
    return RatioIntervals(keys=names, numerator=tot_num, denominator=tot_den, estimate=est, low=low, high=high,
                          n_items=n_items, n_resamples=n_resamples, seed=seed, confidence=confidence)
