"""Bias monitoring: do labels, agreement or gold errors differ across metadata groups?

* :func:`label_distribution_test` - a contingency table of group x label with a
  chi-square test of independence, or Fisher's exact test for 2 x 2 tables or
  when expected counts are small.
* :func:`agreement_by_group` - pairwise percent agreement per group with a
  Wilson score interval on the agreeing pairs (:func:`agreement_by_group_codes`
  takes the judgments as integer codes).
* :func:`error_rate_by_group` - gold error rate per group, or per annotator x
  group, with Wilson intervals and a test of each cell against the rest.
* :func:`benjamini_hochberg` - false discovery rate control across tests
  (written here; agrees with statsmodels' ``multipletests(method="fdr_bh")``).

Every result keeps its raw counts beside the rates.

References:
    Y. Benjamini and Y. Hochberg (1995). Controlling the false discovery rate.
    *JRSS B* 57(1), 289-300.
    E. B. Wilson (1927). Probable inference, the law of succession, and
    statistical inference. *JASA* 22(158), 209-212.
    W. G. Cochran (1954). Some methods for strengthening the common chi-square
    tests. *Biometrics* 10(4), 417-451 (the "expected count >= 5" rule).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import stats

from ..agreement import krippendorff_alpha
from ..errors import InvalidAnnotationError, UndefinedAgreementError
from .intervals import proportion_interval

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ObjArray: TypeAlias = npt.NDArray[np.object_]
TestName: TypeAlias = Literal["chi2", "fisher"]


def _codes(values: npt.ArrayLike, name: str) -> tuple[ObjArray, IntArray]:
    """The distinct values, sorted, and each entry's index among them (``np.unique``'s answer).

    An integer or boolean array goes to ``np.unique`` as it is; anything else is interned
    with a dict in one pass and only the distinct values are sorted (a million strings with
    a few hundred thousand distinct values cost a dict lookup each, not an object sort).
    Unhashable values fall back to sorting them all.

    Raises:
        InvalidAnnotationError: Values that cannot be ordered (a mix of str and int).
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "biu":
        uniq_n, inv_n = np.unique(values.reshape(-1), return_inverse=True)
        return uniq_n.astype(object), inv_n.astype(np.intp).reshape(-1)
    arr = np.asarray(values, dtype=object).reshape(-1)
    try:
        keys, first = _intern(arr)
    except TypeError:
        try:
            uniq, inv = np.unique(arr, return_inverse=True)
        except TypeError as e:
            raise InvalidAnnotationError(f"{name} must be mutually comparable (all str or all int)") from e
        return uniq.astype(object), inv.astype(np.intp).reshape(-1)
    try:
        order = sorted(range(len(keys)), key=keys.__getitem__)
    except TypeError as e:
        raise InvalidAnnotationError(f"{name} must be mutually comparable (all str or all int)") from e
    rank = np.empty(len(keys), dtype=np.intp)
    rank[order] = np.arange(len(keys), dtype=np.intp)
    uniq_o = np.fromiter((keys[k] for k in order), dtype=object, count=len(keys))
    return uniq_o, rank[first]


def sorted_codes(values: npt.ArrayLike) -> tuple[ObjArray, IntArray]:
    """The distinct values in sorted order, and each value's index among them.

    What ``np.unique(values, return_inverse=True)`` gives for an object array, in one
    dict pass (see :func:`_codes`); callers code a column once and hand the codes, which
    sort as the names do, to the tests here.

    Raises:
        InvalidAnnotationError: Values that cannot be ordered (a mix of str and int).

    Example:
        >>> names, codes = sorted_codes(["b", "a", "b"])
        >>> names.tolist(), codes.tolist()
        (['a', 'b'], [1, 0, 1])
    """
    return _codes(values, "values")


def _intern(values: ObjArray) -> tuple[list[Any], IntArray]:
    """Distinct values in order of first appearance (dict equality) and each entry's index among them.

    Raises:
        TypeError: An unhashable value.
    """
    entries = values.tolist()
    keys = list(dict.fromkeys(entries))
    index = {v: k for k, v in enumerate(keys)}
    return keys, np.fromiter(map(index.__getitem__, entries), dtype=np.intp, count=len(entries))


def _first_seen(codes: IntArray) -> IntArray:
    """The distinct codes in order of first appearance."""
    uniq, first = np.unique(codes, return_index=True)
    out: IntArray = uniq[np.argsort(first, kind="stable")]
    return out


# --------------------------------------------------------------------------- BH


def benjamini_hochberg(p_values: npt.ArrayLike, *, alpha: float = 0.05) -> tuple[BoolArray, FloatArray]:
    """Benjamini-Hochberg step-up procedure.

    Args:
        p_values: Raw p-values in [0, 1]; NaN entries are left out of the family
            and come back as not rejected with NaN adjusted value.
        alpha: Target false discovery rate, in (0, 1).

    Returns:
        ``(reject, adjusted)``: which hypotheses are rejected at FDR ``alpha``,
        and the BH-adjusted p-values ``min_{j >= i} (m / j) p_(j)``, capped at 1.

    Raises:
        InvalidAnnotationError: p-values outside [0, 1], or ``alpha`` outside (0, 1).

    Example:
        >>> r, q = benjamini_hochberg([0.01, 0.04, 0.03, 0.2])
        >>> r.tolist(), [round(float(v), 3) for v in q]
        ([True, False, False, False], [0.04, 0.053, 0.053, 0.2])
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    if not 0 < alpha < 1:
        raise InvalidAnnotationError(f"alpha must be in (0, 1), got {alpha!r}")
    ok = ~np.isnan(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise InvalidAnnotationError(f"p-values must lie in [0, 1], got {p[ok][(p[ok] < 0) | (p[ok] > 1)][:5]!r}")
    adjusted = np.full(len(p), np.nan)
    reject = np.zeros(len(p), dtype=bool)
    q = p[ok]
    m = len(q)
    if m:
        order = np.argsort(q, kind="stable")
        ranked = q[order] * m / np.arange(1, m + 1)
        adj_sorted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
        adj = np.empty(m)
        adj[order] = adj_sorted
        adjusted[ok] = adj
        below = np.flatnonzero(q[order] <= alpha * np.arange(1, m + 1) / m)
        rej = np.zeros(m, dtype=bool)
        if len(below):
            rej[order[: below[-1] + 1]] = True
        reject[ok] = rej
    return reject, adjusted


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson (1927) score interval for a binomial proportion; ``(nan, nan)`` when ``n == 0``.

    A scalar shortcut for :func:`accord.core.qa.intervals.proportion_interval`.

    Example:
        >>> [round(v, 4) for v in wilson_interval(8, 10)]
        [0.4902, 0.9433]
    """
    low, high = proportion_interval(successes, n, confidence=confidence, method="wilson")
    return (float(low), float(high))


# --------------------------------------------------------------------------- label distribution


@dataclass(frozen=True, slots=True, kw_only=True)
class DistributionTest:
    """Label distribution per group and a test of independence.

    Attributes:
        groups / labels: Row and column names of ``counts``.
        counts: (n_groups, n_labels) observed counts.
        expected: Counts expected under independence.
        test: ``"chi2"`` or ``"fisher"``.
        statistic: Chi-square statistic, or Fisher's odds ratio (2 x 2); NaN when undefined.
        dof: Degrees of freedom (chi-square), else 1.
        p_value: NaN when fewer than 2 groups or 2 labels have any count.
    """

    groups: ObjArray
    labels: ObjArray
    counts: IntArray
    expected: FloatArray
    test: TestName
    statistic: float
    dof: int
    p_value: float

    @property
    def proportions(self) -> FloatArray:
        """Row-normalized label shares per group (NaN for an empty row)."""
        tot = self.counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = self.counts / tot
        return out


def label_distribution_test(
    groups: npt.ArrayLike, labels: npt.ArrayLike, *, min_expected: float = 5.0,
) -> DistributionTest:
    """Is the label distribution independent of the group? (one row per judgment)

    Uses Pearson's chi-square test (no continuity correction) unless the table
    is 2 x 2 with an expected count below ``min_expected`` (Cochran's rule),
    where Fisher's exact test is used. For larger tables with small expected
    counts the chi-square p-value is an approximation (scipy has no r x c
    exact test); merge sparse groups or labels first.

    Args:
        groups: Metadata group per judgment (e.g. the item's source or the
            annotator's locale).
        labels: Label per judgment.
        min_expected: Expected-count threshold for switching to Fisher (2 x 2).

    Returns:
        A :class:`DistributionTest`.

    Raises:
        InvalidAnnotationError: Lengths differ or nothing given.
    """
    g_names, g = _codes(groups, "groups")
    l_names, lab = _codes(labels, "labels")
    if len(g) != len(lab) or len(g) == 0:
        raise InvalidAnnotationError(
            f"groups and labels need one entry per judgment and at least one, got {len(g)} and {len(lab)}"
        )
    table = np.bincount(g * len(l_names) + lab, minlength=len(g_names) * len(l_names)).reshape(
        len(g_names), len(l_names)).astype(np.intp)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    if len(g_names) < 2 or len(l_names) < 2:
        return DistributionTest(groups=g_names, labels=l_names, counts=table, expected=expected,
                                test="chi2", statistic=math.nan, dof=0, p_value=math.nan)
    if table.shape == (2, 2) and expected.min() < min_expected:
        res = stats.fisher_exact(table)
        return DistributionTest(groups=g_names, labels=l_names, counts=table, expected=expected,
                                test="fisher", statistic=float(res.statistic), dof=1,
                                p_value=float(res.pvalue))
    chi = stats.chi2_contingency(table, correction=False)
    return DistributionTest(groups=g_names, labels=l_names, counts=table, expected=expected,
                            test="chi2", statistic=float(chi.statistic), dof=int(chi.dof),
                            p_value=float(chi.pvalue))


# --------------------------------------------------------------------------- agreement per group


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupAgreement:
    """Pairwise percent agreement per group.

    Attributes:
        groups: Group names.
        n_pairs: Annotator pairs judging the same item, per group.
        n_agree: Of those, pairs giving the same label.
        agreement_score: ``n_agree / n_pairs`` (NaN when no pair).
        ci_low / ci_high: Wilson interval of ``agreement_score`` (pairs treated
            as independent, so the interval is optimistic when items have many
            annotators).
        p_value: Test of each group against all other groups (2 x 2 agree/disagree
            table; Fisher exact or chi-square as in :func:`label_distribution_test`).
        adjusted_p_value: Benjamini-Hochberg adjusted across groups.
        flagged: Groups differing from the rest at the chosen FDR.
        alpha_score: Krippendorff's nominal alpha within each group (chance-corrected,
            so a group whose items are mostly one class does not look better than it
            is); NaN where undefined (one value only, or no item with two judgments).
    """

    groups: ObjArray
    n_pairs: IntArray
    n_agree: IntArray
    agreement_score: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    p_value: FloatArray
    adjusted_p_value: FloatArray
    flagged: BoolArray
    alpha_score: FloatArray


def _two_by_two_p(a: int, b: int, c: int, d: int, min_expected: float) -> float:
    table = np.array([[a, b], [c, d]])
    if table.sum(axis=0).min() == 0 or table.sum(axis=1).min() == 0:
        return math.nan
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    if expected.min() < min_expected:
        return float(stats.fisher_exact(table).pvalue)
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def _per_group_tests(groups: ObjArray, hits: IntArray, totals: IntArray, *, alpha: float,
                     min_expected: float, confidence: float
                     ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]:
    all_hits, all_tot = int(hits.sum()), int(totals.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(totals > 0, hits / np.maximum(totals, 1), np.nan)
    ci = np.array([wilson_interval(int(h), int(t), confidence=confidence) for h, t in zip(hits, totals, strict=True)]
                  ).reshape(-1, 2)
    p = np.array([
        _two_by_two_p(int(h), int(t - h), all_hits - int(h), (all_tot - int(t)) - (all_hits - int(h)), min_expected)
        for h, t in zip(hits, totals, strict=True)
    ], dtype=np.float64)
    flagged, adj = benjamini_hochberg(p, alpha=alpha)
    return rate, ci[:, 0], ci[:, 1], p, adj, flagged


def agreement_by_group(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, groups: npt.ArrayLike, *,
    alpha: float = 0.05, confidence: float = 0.95, min_expected: float = 5.0,
) -> GroupAgreement:
    """Pairwise percent agreement per group, with Wilson intervals and FDR-controlled flags.

    Every unordered pair of distinct annotators on the same item counts once;
    an item belongs to the group of its judgments (``groups`` must be constant
    within an item, e.g. an item-level metadata field).

    Args:
        items / annotators / labels: Long-format judgments.
        groups: Group per judgment (item metadata, constant per item).
        alpha: FDR level for ``flagged``.
        confidence: Wilson interval level.
        min_expected: Expected-count threshold for Fisher's exact test.

    Returns:
        A :class:`GroupAgreement`.

    Raises:
        InvalidAnnotationError: Ragged inputs, or a group that changes within an item.
    """
    _, ii = _codes(items, "items")
    lab = np.asarray(labels, dtype=object).reshape(-1)
    ann = np.asarray(annotators, dtype=object).reshape(-1)
    g_names, g = _codes(groups, "groups")
    if not (len(ii) == len(lab) == len(ann) == len(g)) or len(ii) == 0:
        raise InvalidAnnotationError(
            f"items, annotators, labels and groups need one entry per judgment, got lengths "
            f"{len(ii)}, {len(ann)}, {len(lab)}, {len(g)}"
        )
    a_keys, aa = _intern(ann)
    l_keys, ll = _intern(lab)
    return _agreement_of_codes(ii, aa, ll, g, a_keys=a_keys, l_keys=l_keys, g_names=g_names, alpha=alpha,
                               confidence=confidence, min_expected=min_expected)


def agreement_by_group_codes(
    items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike, groups: npt.ArrayLike, *,
    annotator_names: Sequence[Hashable], label_names: Sequence[Hashable], group_names: Sequence[Hashable],
    alpha: float = 0.05, confidence: float = 0.95, min_expected: float = 5.0,
) -> GroupAgreement:
    """:func:`agreement_by_group` on judgments given as integer codes (a column store's form).

    The answer is ``agreement_by_group(items, annotator_names[annotators], label_names[labels],
    group_names[groups])`` when the codes keep their names' order: ``items`` are codes whose
    order is the item ids' sorted order (any integers, e.g. ranks), and ``group_names`` is
    sorted; annotators and labels index their names in any order (raters and labels are put
    in ``str`` order of the names, as there). Only groups that occur are reported.

    Raises:
        InvalidAnnotationError: Ragged inputs, a code outside its names, or a group that
            changes within an item.
    """
    cols = [np.asarray(c).reshape(-1) for c in (items, annotators, labels, groups)]
    if len({len(c) for c in cols}) != 1 or len(cols[0]) == 0:
        raise InvalidAnnotationError(
            f"items, annotators, labels and groups need one entry per judgment, got lengths {[len(c) for c in cols]}")
    for c, what, names in ((cols[1], "annotators", annotator_names), (cols[2], "labels", label_names),
                           (cols[3], "groups", group_names)):
        if c.dtype.kind not in "iu" or int(c.min()) < 0 or int(c.max()) >= len(names):
            raise InvalidAnnotationError(
                f"{what} must be integer codes into its {len(names)} names, got values of dtype {c.dtype}")
    if cols[0].dtype.kind not in "iu":
        raise InvalidAnnotationError(f"items must be integer codes, got dtype {cols[0].dtype}")
    _, ii = np.unique(cols[0], return_inverse=True)
    present, g = np.unique(cols[3], return_inverse=True)
    g_names = np.empty(len(present), dtype=object)
    g_names[:] = [group_names[int(x)] for x in present]
    return _agreement_of_codes(ii.astype(np.intp).reshape(-1), cols[1].astype(np.intp), cols[2].astype(np.intp),
                               g.astype(np.intp).reshape(-1), a_keys=list(annotator_names),
                               l_keys=list(label_names), g_names=g_names, alpha=alpha, confidence=confidence,
                               min_expected=min_expected)


def _agreement_of_codes(ii: IntArray, aa: IntArray, ll: IntArray, g: IntArray, *, a_keys: list[Any],
                        l_keys: list[Any], g_names: ObjArray, alpha: float, confidence: float,
                        min_expected: float) -> GroupAgreement:
    """:func:`agreement_by_group` once coded: ``ii`` dense item codes in sorted item order, ``g``
    dense codes into the sorted ``g_names``, ``aa`` / ``ll`` codes into ``a_keys`` / ``l_keys``."""
    ng = len(g_names)
    # Judgments item by item (items in sorted order), each item's in input order.
    order = np.argsort(ii, kind="stable")
    si, sg = ii[order], g[order]
    starts = np.flatnonzero(np.r_[True, si[1:] != si[:-1]])
    mixed = np.flatnonzero(np.minimum.reduceat(sg, starts) != np.maximum.reduceat(sg, starts))
    if len(mixed):
        block = sg[starts[mixed[0]]: starts[mixed[0] + 1] if mixed[0] + 1 < len(starts) else len(sg)]
        raise InvalidAnnotationError(
            f"item has judgments in several groups {[g_names[x] for x in np.unique(block)]!r}; agreement per "
            "group needs an item-level group (use the item's metadata)"
        )
    item_g = sg[starts]  # the group of item code j (codes are 0..n_items - 1)
    # The first judgment of each annotator on each item, in that same order.
    _, first = np.unique(si * np.int64(len(a_keys)) + aa[order], return_index=True)
    kept = order[np.sort(first)]
    k_item, k_ann, k_lab = ii[kept], aa[kept], ll[kept]
    m = np.bincount(k_item, minlength=len(item_g)).astype(np.intp)  # annotators per item
    n_pairs = np.zeros(ng, dtype=np.intp)
    np.add.at(n_pairs, item_g, m * (m - 1) // 2)
    same, c = np.unique(k_item * np.int64(len(l_keys)) + k_lab, return_counts=True)
    n_agree = np.zeros(ng, dtype=np.intp)
    np.add.at(n_agree, item_g[same // len(l_keys)], (c * (c - 1) // 2).astype(np.intp))
    rate, lo, hi, p, adj, flagged = _per_group_tests(g_names, n_agree, n_pairs, alpha=alpha,
                                                      min_expected=min_expected, confidence=confidence)
    # Each group's kept judgments, still item by item.
    k_grp = item_g[k_item]
    by_g = np.argsort(k_grp, kind="stable")
    bounds = np.searchsorted(k_grp[by_g], np.arange(ng + 1))
    alpha_score = np.array([
        _group_alpha(np.flatnonzero(item_g == gi), k_item[sel], k_ann[sel], k_lab[sel], a_keys, l_keys)
        for gi, sel in enumerate(by_g[bounds[j]: bounds[j + 1]] for j in range(ng))
    ], dtype=np.float64)
    return GroupAgreement(groups=g_names, n_pairs=n_pairs, n_agree=n_agree, agreement_score=rate,
                          ci_low=lo, ci_high=hi, p_value=p, adjusted_p_value=adj, flagged=flagged,
                          alpha_score=alpha_score)


def _group_alpha(units: IntArray, items: IntArray, anns: IntArray, labs: IntArray,
                 a_keys: list[Hashable], l_keys: list[Hashable]) -> float:
    """Nominal Krippendorff's alpha over one group's items (rows) x annotators (columns).

    ``units`` are the group's item codes (the rows, in order); ``items``, ``anns`` and ``labs``
    its judgments (one per item and annotator, item by item), coded into ``a_keys`` and
    ``l_keys``. Columns are the raters sorted by ``str``, label codes the labels sorted by
    ``str`` (ties in the order a set built in order of first appearance gives).
    """
    seen_a = [a_keys[k] for k in _first_seen(anns).tolist()]
    raters = sorted(set(seen_a), key=str)
    if len(raters) < 2:
        return math.nan
    code_of_a = {a: k for a, k in zip(seen_a, _first_seen(anns).tolist(), strict=True)}
    col = np.full(len(a_keys), -1, dtype=np.intp)
    for j, a in enumerate(raters):
        col[code_of_a[a]] = j
    seen_l_codes = _first_seen(labs).tolist()
    code_of_l = {l_keys[k]: k for k in seen_l_codes}
    value = np.full(len(l_keys), np.nan)
    for k, v in enumerate(sorted({l_keys[c] for c in seen_l_codes}, key=str)):
        value[code_of_l[v]] = float(k)
    row = np.zeros(int(units.max(initial=-1)) + 1, dtype=np.intp)
    row[units] = np.arange(len(units), dtype=np.intp)
    ratings = np.full((len(units), len(raters)), np.nan)
    ratings[row[items], col[anns]] = value[labs]
    try:
        return krippendorff_alpha(ratings)
    except UndefinedAgreementError:
        return math.nan


# --------------------------------------------------------------------------- gold error rate per group


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupErrorRates:
    """Gold error rate per cell (a group, or an annotator x group pair).

    Attributes:
        cells: Per cell, ``(group,)`` or ``(annotator_id, group)``.
        n_judgments: Gold-scored judgments per cell.
        n_errors: Of those, wrong ones.
        error_rate: ``n_errors / n_judgments``.
        ci_low / ci_high: Wilson interval.
        p_value: Test of the cell against all other cells (2 x 2 table); for
            annotator x group cells, against the same annotator's other groups.
        adjusted_p_value: Benjamini-Hochberg adjusted across cells.
        flagged: Cells differing at the chosen FDR.
    """

    cells: tuple[tuple[Hashable, ...], ...]
    n_judgments: IntArray
    n_errors: IntArray
    error_rate: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    p_value: FloatArray
    adjusted_p_value: FloatArray
    flagged: BoolArray


def error_rate_by_group(
    correct: npt.ArrayLike, groups: npt.ArrayLike, *, annotators: npt.ArrayLike | None = None,
    alpha: float = 0.05, confidence: float = 0.95, min_expected: float = 5.0,
) -> GroupErrorRates:
    """Gold error rate per group (or per annotator x group), tested for differences at a chosen FDR.

    Args:
        correct: Per gold-scored judgment, True when it matched the reference.
        groups: Group per judgment.
        annotators: If given, cells are annotator x group and each is compared
            with the same annotator's other groups (does this annotator do worse
            on this group?); otherwise cells are groups compared with the rest.
        alpha: FDR level for ``flagged``.
        confidence: Wilson interval level.
        min_expected: Expected-count threshold for Fisher's exact test.

    Returns:
        A :class:`GroupErrorRates`; cells in sorted order.

    Raises:
        InvalidAnnotationError: Ragged inputs or nothing given.
    """
    ok = np.asarray(correct, dtype=bool).reshape(-1)
    g_names, g = _codes(groups, "groups")
    if len(ok) != len(g) or len(ok) == 0:
        raise InvalidAnnotationError(f"correct and groups need one entry per judgment, got {len(ok)} and {len(g)}")
    err = (~ok).astype(np.intp)
    if annotators is None:
        tot = np.bincount(g, minlength=len(g_names)).astype(np.intp)
        errs = np.bincount(g, weights=err, minlength=len(g_names)).astype(np.intp)
        rate, lo, hi, p, adj, flagged = _per_group_tests(g_names, errs, tot, alpha=alpha,
                                                          min_expected=min_expected, confidence=confidence)
        return GroupErrorRates(cells=tuple((x,) for x in g_names), n_judgments=tot, n_errors=errs,
                               error_rate=rate, ci_low=lo, ci_high=hi, p_value=p, adjusted_p_value=adj,
                               flagged=flagged)
    a_names, a = _codes(annotators, "annotators")
    if len(a) != len(g):
        raise InvalidAnnotationError(f"annotators need one entry per judgment ({len(g)}), got {len(a)}")
    ng = len(g_names)
    tot2 = np.bincount(a * ng + g, minlength=len(a_names) * ng).reshape(len(a_names), ng)
    err2 = np.bincount(a * ng + g, weights=err, minlength=len(a_names) * ng).reshape(len(a_names), ng).astype(np.intp)
    cells: list[tuple[Hashable, ...]] = []
    tots: list[int] = []
    errs_l: list[int] = []
    ps: list[float] = []
    cis: list[tuple[float, float]] = []
    for ai in range(len(a_names)):
        for gi in range(ng):
            t, e = int(tot2[ai, gi]), int(err2[ai, gi])
            if t == 0:
                continue
            rest_t, rest_e = int(tot2[ai].sum()) - t, int(err2[ai].sum()) - e
            cells.append((a_names[ai], g_names[gi]))
            tots.append(t)
            errs_l.append(e)
            ps.append(_two_by_two_p(e, t - e, rest_e, rest_t - rest_e, min_expected))
            cis.append(wilson_interval(e, t, confidence=confidence))
    tot_a = np.array(tots, dtype=np.intp)
    err_a = np.array(errs_l, dtype=np.intp)
    p_a = np.array(ps, dtype=np.float64)
    flagged2, adj2 = benjamini_hochberg(p_a, alpha=alpha)
    ci_a = np.array(cis, dtype=np.float64).reshape(-1, 2)
    return GroupErrorRates(cells=tuple(cells), n_judgments=tot_a, n_errors=err_a,
                           error_rate=err_a / np.maximum(tot_a, 1), ci_low=ci_a[:, 0], ci_high=ci_a[:, 1],
                           p_value=p_a, adjusted_p_value=adj2, flagged=flagged2)
