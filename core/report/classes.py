"""Nominal classification agreement as a mergeable section (:class:`ClassAgreementSection`).

Every statistic the section reports is a function of a few integer sums over items, and the
sums are kept *grouped by the number of ratings an item has* (``r``): for each ``r``, the
category totals ``sum_i n_ik``, the sum of squares ``sum_i sum_k n_ik**2``, the item count and
the coincidence products ``sum_i n_ic n_ik``. Krippendorff's alpha (nominal), Gwet's percent
agreement, AC1, Brennan-Prediger and Fleiss' kappa are all ratios of these (the ``1/(r-1)`` and
``1/(r(r-1))`` factors are applied per group at :meth:`~ClassAgreementSection.finish`), so a
partial state is integers only: merging is exact, and the result of a dataset is *bit for bit*
the result of any split of its items merged in any order.

Intervals are the Poisson bootstrap (:func:`~.engine.poisson_weights`): each item gets an
integer weight per resample from its id alone, and the same grouped sums are kept per resample,
weighted. Pairwise Cohen's kappa comes from per-pair ``K x K`` contingency tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from ..agreement import AgreementResult
from ..errors import ConfigError, InvalidAnnotationError
from ..model import Dataset, value_label
from .engine import Context, item_keys, poisson_weights

__all__ = ["ClassAgreement", "ClassAgreementSection", "ClassAgreementState", "ClassRatings", "class_ratings"]

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]

#: Items per block when folding bootstrap weights (a block holds ``block x n_resamples`` weights).
_BLOCK = 8192
COEFFICIENTS: tuple[str, ...] = (
    "krippendorff_alpha", "percent_agreement", "gwet_ac1", "brennan_prediger", "fleiss_kappa")


# --------------------------------------------------------------------------- input columns


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassRatings:
    """One partition of nominal ratings as columns (whole items only).

    Attributes:
        item_ids: The partition's item ids; ``item`` indexes into them.
        item: ``(n,)`` item index of each rating.
        annotator: ``(n,)`` annotator index (into the section's ``annotators``).
        code: ``(n,)`` category code (into the section's ``categories``).
    """

    item_ids: Sequence[str]
    item: IntArray
    annotator: IntArray
    code: IntArray


def class_ratings(ds: Dataset, label_set: str, categories: Sequence[str], annotators: Sequence[str]
                  ) -> ClassRatings:
    """Columns of one label set's human classifications (first record per annotator and item,
    as today's report reads them); annotators not in ``annotators`` are left out.

    Raises:
        InvalidAnnotationError: A label that is not among ``categories``.
    """
    cat = {c: k for k, c in enumerate(categories)}
    col = {a: j for j, a in enumerate(annotators)}
    item_ids: list[str] = []
    item: list[int] = []
    ann: list[int] = []
    code: list[int] = []
    for i, (item_id, per) in enumerate(sorted(ds.grouped_view(label_set, source="human").items())):
        item_ids.append(item_id)
        for a, rs in per.items():
            if not rs or a not in col:
                continue
            lab = value_label(rs[0].value)
            if lab not in cat:
                raise InvalidAnnotationError(
                    f"label {lab!r} of item {item_id!r} in label set {label_set!r} is not among the categories "
                    f"{list(categories)!r}; add it to the section's categories")
            item.append(i)
            ann.append(col[a])
            code.append(cat[lab])
    return ClassRatings(item_ids=tuple(item_ids), item=np.asarray(item, dtype=np.int64),
                        annotator=np.asarray(ann, dtype=np.int64), code=np.asarray(code, dtype=np.int64))


# --------------------------------------------------------------------------- state


@dataclass(slots=True, kw_only=True)
class ClassAgreementState:
    """Integer sums grouped by ratings per item ``r`` (index ``r`` of the first axis).

    Attributes:
        counts: ``(r_max + 1, K)`` sum over items with ``r`` ratings of ``n_ik``.
        squares: ``(r_max + 1,)`` sum over those items of ``sum_k n_ik**2``.
        items: ``(r_max + 1,)`` number of items with ``r`` ratings.
        products: ``(r_max + 1, K, K)`` sum over those items of ``n_ic * n_ik``.
        boot_counts / boot_squares / boot_items: The same, Poisson-weighted, one row per
            resample: ``(B, r_max + 1, K)``, ``(B, r_max + 1)``, ``(B, r_max + 1)``.
        pairs: ``(R, R, K, K)`` contingency tables of annotator pairs (``[a, b, k, l]``: items
            ``a`` labelled ``k`` and ``b`` labelled ``l``).
    """

    counts: IntArray
    squares: IntArray
    items: IntArray
    products: IntArray
    boot_counts: IntArray
    boot_squares: IntArray
    boot_items: IntArray
    pairs: IntArray


def _pad(x: IntArray, rows: int, axis: int) -> IntArray:
    if x.shape[axis] >= rows:
        return x
    width = [(0, 0)] * x.ndim
    width[axis] = (0, rows - x.shape[axis])
    return np.pad(x, width)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ClassAgreement:
    """The finished section.

    Attributes:
        label_set: The label set.
        categories: The categories, in code order.
        annotators: The annotators, in the order of ``pairwise_kappa``'s rows.
        n_items: Items with at least one rating.
        n_ratings: Ratings counted.
        coefficients: ``{name: AgreementResult}`` for the coefficients defined on the data
            (``krippendorff_alpha``, ``percent_agreement``, ``gwet_ac1``, ``brennan_prediger``,
            ``fleiss_kappa``); ``n_items`` of each is the items it is computed on.
        undefined: ``{name: reason}`` for those that are not (Fleiss' kappa without an equal
            number of ratings per item, one category only, no item with two ratings).
        ratings_per_item: The common number of ratings per item, or ``None`` when it varies.
        coincidence: ``(K, K)`` Krippendorff's coincidence matrix of the pairable items.
        pairwise_kappa: ``(R, R)`` Cohen's kappa of each annotator pair on the items both
            rated; NaN on the diagonal and where undefined.
        pairwise_n: ``(R, R)`` items both rated.
    """

    label_set: str
    categories: tuple[str, ...]
    annotators: tuple[str, ...]
    n_items: int
    n_ratings: int
    coefficients: Mapping[str, AgreementResult]
    undefined: Mapping[str, str]
    ratings_per_item: int | None
    coincidence: FloatArray = field(repr=False)
    pairwise_kappa: FloatArray = field(repr=False)
    pairwise_n: IntArray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN as ``None``, matrices as nested lists (rows in ``annotators`` order)."""

        def num(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None

        return {
            "label_set": self.label_set, "categories": list(self.categories), "annotators": list(self.annotators),
            "n_items": self.n_items, "n_ratings": self.n_ratings, "ratings_per_item": self.ratings_per_item,
            "coefficients": {name: {"estimate": c.estimate, "low": num(c.low), "high": num(c.high),
                                    "confidence": c.confidence, "n_items": c.n_items,
                                    "n_resamples": c.n_resamples, "n_undefined": c.n_undefined}
                             for name, c in self.coefficients.items()},
            "undefined": dict(self.undefined),
            "coincidence": self.coincidence.tolist(),
            "pairwise_kappa": [[num(v) for v in row] for row in self.pairwise_kappa.tolist()],
            "pairwise_n": self.pairwise_n.tolist(),
        }


def _coefficients(counts: npt.NDArray[Any], squares: npt.NDArray[Any], items: npt.NDArray[Any], q: int
                  ) -> dict[str, FloatArray]:
    """The five coefficients from grouped sums; the leading axes are batch axes (resamples).

    ``counts`` is ``(..., r_max + 1, K)``, ``squares`` and ``items`` ``(..., r_max + 1)``. NaN
    where a coefficient is undefined.
    """
    r = np.arange(counts.shape[-2], dtype=np.float64)
    c = counts.astype(np.float64)
    sq = squares.astype(np.float64)
    it = items.astype(np.float64)
    multi = r >= 2
    rated = r >= 1
    with np.errstate(invalid="ignore", divide="ignore"):
        # Krippendorff (2011): alpha = 1 - (n - 1) D_o / D_e on the pairable units (r >= 2).
        n_c = c[..., multi, :].sum(axis=-2)
        n = n_c.sum(axis=-1)
        observed = ((r[multi] ** 2 * it[..., multi] - sq[..., multi]) / (r[multi] - 1.0)).sum(axis=-1)
        expected = n * n - (n_c * n_c).sum(axis=-1)
        alpha = np.where((expected > 0) & (np.count_nonzero(n_c, axis=-1) >= 2),
                         1.0 - (n - 1.0) * observed / expected, np.nan)
        # Gwet (2014): p_a over items with two or more ratings, pi over rated items.
        n_multi = it[..., multi].sum(axis=-1)
        pa = np.where(n_multi > 0, ((sq[..., multi] - r[multi] * it[..., multi]) / (r[multi] * (r[multi] - 1.0))
                                    ).sum(axis=-1) / n_multi, np.nan)
        n_rated = it[..., rated].sum(axis=-1)
        pi = (c[..., rated, :] / r[rated][:, None]).sum(axis=-2) / n_rated[..., None]
    out = {"percent_agreement": pa, "krippendorff_alpha": alpha}
    if q >= 2:
        out["gwet_ac1"] = _chance(pa, (pi * (1.0 - pi)).sum(axis=-1) / (q - 1))
        out["brennan_prediger"] = _chance(pa, np.full_like(pa, 1.0 / q))
    out["fleiss_kappa"] = _chance(pa, (pi * pi).sum(axis=-1))
    return out


def _chance(pa: FloatArray, pe: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(1.0 - pe > 1e-15, (pa - pe) / (1.0 - pe), np.nan)


def _kappa(table: FloatArray) -> FloatArray:
    """Cohen's kappa of ``(..., K, K)`` tables (``1 - sum(w O) / sum(w E)``, ``w = 1 - I``)."""
    n = table.sum(axis=(-2, -1))
    agree = np.trace(table, axis1=-2, axis2=-1)
    chance = (table.sum(axis=-1) * table.sum(axis=-2)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = n - chance / n
        return np.where((n > 0) & (expected > 0), 1.0 - (n - agree) / expected, np.nan)


# --------------------------------------------------------------------------- section


class ClassAgreementSection:
    """Nominal agreement of one classification label set, with Poisson-bootstrap intervals.

    Args:
        label_set: The label set (its human classifications are read from a Dataset partition).
        categories: The category set, in code order (``q`` for AC1 and Brennan-Prediger counts
            every one, used or not).
        annotators: The annotators whose ratings count, in the order of the kappa matrix.
        n_resamples: Poisson bootstrap resamples (0: no intervals).
        confidence: Coverage of the percentile intervals.

    Partitions are :class:`~accord.core.model.Dataset` or :class:`ClassRatings` of whole items.
    """

    stage = 0

    def __init__(self, label_set: str, categories: Sequence[str], annotators: Sequence[str],
                 n_resamples: int = 300, *, confidence: float = 0.95) -> None:
        if len(set(categories)) != len(categories) or len(set(annotators)) != len(annotators):
            raise ConfigError(f"categories and annotators must be distinct, got {list(categories)!r} and "
                              f"{list(annotators)!r}")
        if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 0:
            raise ConfigError(f"n_resamples must be a whole number >= 0, got {n_resamples!r}")
        if not 0.0 < confidence < 1.0:
            raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
        self.label_set = label_set
        self.name = f"agreement:{label_set}"
        self.categories = tuple(categories)
        self.annotators = tuple(annotators)
        self.n_resamples = n_resamples
        self.confidence = confidence

    # -- the contract

    def create(self, ctx: Context) -> ClassAgreementState:
        k, b, r = len(self.categories), self.n_resamples, len(self.annotators)
        z = np.zeros
        return ClassAgreementState(
            counts=z((1, k), np.int64), squares=z(1, np.int64), items=z(1, np.int64),
            products=z((1, k, k), np.int64), boot_counts=z((b, 1, k), np.int64),
            boot_squares=z((b, 1), np.int64), boot_items=z((b, 1), np.int64), pairs=z((r, r, k, k), np.int64))

    def add(self, state: ClassAgreementState, part: Dataset | ClassRatings, ctx: Context) -> ClassAgreementState:
        cols = part if isinstance(part, ClassRatings) else class_ratings(
            part, self.label_set, self.categories, self.annotators)
        return self.merge(state, self._fold(cols, ctx.seed))

    def merge(self, a: ClassAgreementState, b: ClassAgreementState) -> ClassAgreementState:
        rows = max(a.items.size, b.items.size)

        def add(x: IntArray, y: IntArray, axis: int) -> IntArray:
            out: IntArray = _pad(x, rows, axis) + _pad(y, rows, axis)
            return out

        return ClassAgreementState(
            counts=add(a.counts, b.counts, 0), squares=add(a.squares, b.squares, 0),
            items=add(a.items, b.items, 0), products=add(a.products, b.products, 0),
            boot_counts=add(a.boot_counts, b.boot_counts, 1), boot_squares=add(a.boot_squares, b.boot_squares, 1),
            boot_items=add(a.boot_items, b.boot_items, 1), pairs=a.pairs + b.pairs)

    def next_params(self, state: ClassAgreementState, ctx: Context) -> None:
        return None

    def finish(self, state: ClassAgreementState, ctx: Context) -> ClassAgreement:
        q = len(self.categories)
        point = _coefficients(state.counts, state.squares, state.items, q)
        boot = _coefficients(state.boot_counts, state.boot_squares, state.boot_items, q) if self.n_resamples else {}
        r = np.arange(state.items.size)
        n_rated = int(state.items[1:].sum())
        n_multi = int(state.items[2:].sum())
        used = np.flatnonzero(state.items[1:]) + 1
        per_item = int(used[0]) if used.size == 1 else None
        undefined: dict[str, str] = {}
        if n_multi == 0:
            why = "no item has two or more ratings"
            undefined = dict.fromkeys(COEFFICIENTS, why)
        else:
            if q < 2:
                undefined["gwet_ac1"] = undefined["brennan_prediger"] = f"{q} category; give the full label set"
            if per_item is None:
                undefined["fleiss_kappa"] = "items have different numbers of ratings (Fleiss 1971 needs equal)"
        coefs: dict[str, AgreementResult] = {}
        tail = (1.0 - self.confidence) / 2.0
        for name in COEFFICIENTS:
            est = float(point[name]) if name in point else float("nan")
            if name in undefined:
                continue
            if not np.isfinite(est):
                undefined[name] = "chance agreement is 1 (a single category in the pairable data)"
                continue
            values = boot[name] if self.n_resamples else np.empty(0)
            ok = values[np.isfinite(values)]
            low, high = (np.quantile(ok, [tail, 1.0 - tail]) if ok.size else (np.nan, np.nan))
            coefs[name] = AgreementResult(estimate=est, low=float(low), high=float(high), confidence=self.confidence,
                                          n_items=n_multi if name == "krippendorff_alpha" else n_rated,
                                          n_resamples=self.n_resamples, n_undefined=int(values.size - ok.size))
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(r >= 2, 1.0 / np.maximum(r - 1, 1), 0.0)
            prod = np.tensordot(w, state.products.astype(np.float64), axes=(0, 0))
            coincidence = prod - np.diag(w @ state.counts.astype(np.float64))
        pairs = state.pairs.astype(np.float64)
        kappa = _kappa(pairs)
        np.fill_diagonal(kappa, np.nan)
        return ClassAgreement(
            label_set=self.label_set, categories=self.categories, annotators=self.annotators, n_items=n_rated,
            n_ratings=int((r * state.items).sum()), coefficients=coefs, undefined=undefined,
            ratings_per_item=per_item, coincidence=coincidence, pairwise_kappa=kappa,
            pairwise_n=state.pairs.sum(axis=(2, 3)))

    # -- folding one partition

    def _fold(self, cols: ClassRatings, seed: int) -> ClassAgreementState:
        k, n_ann, b = len(self.categories), len(self.annotators), self.n_resamples
        n_items = len(cols.item_ids)
        item, ann, code = (np.asarray(x, dtype=np.int64) for x in (cols.item, cols.annotator, cols.code))
        if not (item.shape == ann.shape == code.shape) or item.ndim != 1:
            raise InvalidAnnotationError(
                f"ClassRatings columns must be 1-D of one length, got {item.shape}, {ann.shape}, {code.shape}")
        for what, x, hi in (("item", item, n_items), ("annotator", ann, n_ann), ("code", code, k)):
            if x.size and (x.min() < 0 or x.max() >= hi):
                raise InvalidAnnotationError(f"ClassRatings {what} indices must lie in 0..{hi - 1}, "
                                             f"got {int(x.min())}..{int(x.max())}")
        cell = item * n_ann + ann
        if np.unique(cell).size != cell.size:
            raise InvalidAnnotationError("ClassRatings hold two ratings by one annotator of one item; keep one each")
        table = np.bincount(item * k + code, minlength=n_items * k).reshape(n_items, k)
        ri = table.sum(axis=1)
        sq = np.einsum("ik,ik->i", table, table)
        rows = int(ri.max(initial=0)) + 1
        counts = np.zeros((rows, k), np.int64)
        np.add.at(counts, ri, table)
        squares = np.bincount(ri, weights=sq, minlength=rows).astype(np.int64)
        items = np.bincount(ri, minlength=rows).astype(np.int64)
        products = np.zeros((rows, k, k), np.int64)
        for rv in np.flatnonzero(items[2:]) + 2:
            t = table[ri == rv]
            products[rv] = t.T @ t
        # Poisson bootstrap: per-resample weighted sums, in blocks of items.
        boot_counts: IntArray = np.zeros((b, rows, k), np.int64)
        boot_squares: IntArray = np.zeros((b, rows), np.int64)
        boot_items: IntArray = np.zeros((b, rows), np.int64)
        if b and n_items:
            keys = item_keys(cols.item_ids, seed)
            onehot = np.zeros((n_items, rows), np.float64)
            onehot[np.arange(n_items), ri] = 1.0
            feats = np.concatenate([(onehot[:, :, None] * table[:, None, :]).reshape(n_items, rows * k),
                                    onehot * sq[:, None], onehot], axis=1).astype(np.float32)
            # float32 products are exact while a block's sums stay below 2**24 (weights are <= 12).
            block = max(1, min(_BLOCK, (1 << 24) // (12 * max(int(sq.max(initial=1)), 1))))
            acc = np.zeros((b, feats.shape[1]), np.int64)
            for lo in range(0, n_items, block):
                w = poisson_weights(keys[lo:lo + block], b).astype(np.float32)
                acc += (w.T @ feats[lo:lo + block]).astype(np.int64)
            boot_counts = acc[:, :rows * k].reshape(b, rows, k)
            boot_squares = acc[:, rows * k:rows * k + rows]
            boot_items = acc[:, rows * k + rows:]
        # Annotator-pair contingency tables.
        grid = np.full((n_items, n_ann), -1, np.int64)
        grid[item, ann] = code
        pairs = np.zeros((n_ann, n_ann, k, k), np.int64)
        for a in range(n_ann):
            for c in range(a + 1, n_ann):
                both = (grid[:, a] >= 0) & (grid[:, c] >= 0)
                t = np.bincount(grid[both, a] * k + grid[both, c], minlength=k * k).reshape(k, k)
                pairs[a, c] = t
                pairs[c, a] = t.T
        return ClassAgreementState(counts=counts, squares=squares, items=items, products=products,
                                   boot_counts=boot_counts, boot_squares=boot_squares, boot_items=boot_items,
                                   pairs=pairs)
