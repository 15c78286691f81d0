"""Chance-corrected agreement: published examples, peer packages, properties, error paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import accord.core.agreement as ag
from accord.core.agreement import (
    AgreementResult,
    bootstrap_ci,
    brennan_prediger,
    cohen_kappa,
    conger_kappa,
    counts_from_ratings,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
    scotts_pi,
)
from accord.core.errors import ConfigError, InvalidAnnotationError, SchemaError, UndefinedAgreementError

krippendorff = pytest.importorskip("krippendorff")
inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
sk_metrics = pytest.importorskip("sklearn.metrics")

nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C (nominal
# data, any number of observers, missing data): observers A-D (rows there) by 12 units.
# Published: nominal .743, ordinal .815, interval .849, ratio .797.
KRIPP_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
).T  # ours: (n_items, n_raters)

# irrCAC (Gwet) dataset cac.raw4raters: 4 raters x 12 units, categories 1-5 (Gwet 2014,
# Handbook of Inter-Rater Reliability, 4th ed., p. 120). Values below are the ones the
# irrCAC README (github.com/kgwet/irrCAC, README.md) prints for pa.coeff.raw,
# gwet.ac1.raw, fleiss.kappa.raw, krippen.alpha.raw, conger.kappa.raw, bp.coeff.raw.
# Note: the task brief listed Fleiss 0.7628 and Krippendorff 0.7754; the README shows
# 0.76282 is *Conger's* kappa, Fleiss is 0.76117 and Krippendorff is 0.74342 (the latter
# also equals Krippendorff 2011's .743: it is the same data with raters permuted).
RAW4RATERS = np.array(
    [
        [1, 1, nan, 1],
        [2, 2, 3, 2],
        [3, 3, 3, 3],
        [3, 3, 3, 3],
        [2, 2, 2, 2],
        [1, 2, 3, 4],
        [4, 4, 4, 4],
        [1, 1, 2, 1],
        [2, 2, 2, 2],
        [nan, 5, 5, 5],
        [nan, nan, 1, 1],
        [nan, nan, 3, nan],
    ]
)

# irrCAC dataset distrib.6raters (README of github.com/kgwet/irrCAC): 6 raters by 15
# subjects and 5 categories (Fleiss 1971's psychiatric diagnoses). README values:
# gwet.ac1.dist 0.4448007, fleiss.kappa.dist 0.4139265, krippen.alpha.dist 0.4204384,
# bp.coeff.dist 0.4388889.
DISTRIB_6RATERS = np.array(
    [
        [0, 0, 0, 6, 0],
        [0, 3, 0, 0, 3],
        [0, 1, 4, 0, 1],
        [0, 0, 0, 0, 6],
        [0, 3, 0, 3, 0],
        [2, 0, 4, 0, 0],
        [0, 0, 4, 0, 2],
        [2, 0, 3, 1, 0],
        [2, 0, 0, 4, 0],
        [0, 0, 0, 0, 6],
        [1, 0, 0, 5, 0],
        [1, 1, 0, 4, 0],
        [0, 3, 3, 0, 0],
        [1, 0, 0, 5, 0],
        [0, 2, 0, 3, 1],
    ]
)

# Wikipedia, "Fleiss' kappa", worked example: 14 raters, 10 subjects, 5 categories;
# P-bar = 0.378, P_e = 0.213, kappa = 0.210.
WIKIPEDIA_FLEISS = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

# irrCAC dataset cont3x3abstractors (README of github.com/kgwet/irrCAC): a 3x3 contingency
# table of two raters (rows rater 1, columns rater 2). README values: Cohen 0.7964094,
# Scott 0.7962397, AC1 0.8493305, Brennan-Prediger 0.835, Krippendorff 0.7972585, pa 0.89.
CONT3X3 = np.array([[13, 0, 0], [0, 20, 7], [0, 4, 56]])


def _pairs_from_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(table)
    counts = table[rows, cols]
    return np.repeat(rows, counts), np.repeat(cols, counts)


def _ratings_from_distribution(table: np.ndarray) -> np.ndarray:
    """Each row's counts spelled out as that many ratings (raters are exchangeable)."""
    return np.array([np.repeat(np.arange(table.shape[1]), row) for row in table])


# --------------------------------------------------------------------------- known answers


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_2011_example(level: str, expected: float) -> None:
    assert krippendorff_alpha(KRIPP_2011, level=level) == pytest.approx(expected, abs=5e-4)  # type: ignore[arg-type]


def test_irrcac_raw4raters() -> None:
    assert percent_agreement(RAW4RATERS) == pytest.approx(0.8181818, abs=1e-7)
    assert gwet_ac1(RAW4RATERS) == pytest.approx(0.77544, abs=5e-6)
    assert fleiss_kappa(counts_from_ratings(RAW4RATERS)) == pytest.approx(0.76117, abs=5e-6)
    assert krippendorff_alpha(RAW4RATERS) == pytest.approx(0.74342, abs=5e-6)
    assert conger_kappa(RAW4RATERS) == pytest.approx(0.76282, abs=5e-6)
    assert brennan_prediger(RAW4RATERS) == pytest.approx(0.77273, abs=5e-6)


def test_irrcac_distrib_6raters() -> None:
    assert fleiss_kappa(DISTRIB_6RATERS) == pytest.approx(0.4139265, abs=1e-7)
    ratings = _ratings_from_distribution(DISTRIB_6RATERS)
    assert gwet_ac1(ratings) == pytest.approx(0.4448007, abs=1e-7)
    assert brennan_prediger(ratings) == pytest.approx(0.4388889, abs=1e-7)
    assert krippendorff_alpha(ratings) == pytest.approx(0.4204384, abs=1e-7)


def test_wikipedia_fleiss_example() -> None:
    assert fleiss_kappa(WIKIPEDIA_FLEISS) == pytest.approx(0.210, abs=5e-4)


def test_irrcac_cont3x3abstractors_two_raters() -> None:
    a, b = _pairs_from_table(CONT3X3)
    both = np.column_stack([a, b])
    assert cohen_kappa(a, b) == pytest.approx(0.7964094, abs=1e-7)
    assert scotts_pi(a, b) == pytest.approx(0.7962397, abs=1e-7)
    assert gwet_ac1(both) == pytest.approx(0.8493305, abs=1e-7)
    assert brennan_prediger(both) == pytest.approx(0.835, abs=1e-9)
    assert krippendorff_alpha(both) == pytest.approx(0.7972585, abs=1e-7)
    assert percent_agreement(both) == pytest.approx(0.89, abs=1e-12)


def test_artstein_poesio_2008_table_1() -> None:
    # Artstein & Poesio (2008), Computational Linguistics 34(4), Table 1: two coders
    # tagging 100 utterances as Stat(ement) or IReq (information request); rows coder B,
    # columns coder A:  Stat/Stat 20, Stat/IReq 10, IReq/Stat 20, IReq/IReq 50.
    # A_o = (20 + 50) / 100 = 0.7.
    # Cohen: A_e = P_A(Stat) P_B(Stat) + P_A(IReq) P_B(IReq) = .4 * .3 + .6 * .7 = .54,
    #        kappa = (.7 - .54) / (1 - .54) = .16 / .46 = 0.347826...
    # Scott: pooled P(Stat) = (40 + 30) / 200 = .35, P(IReq) = .65,
    #        A_e = .35**2 + .65**2 = .545, pi = (.7 - .545) / .455 = 0.340659...
    table = np.array([[20, 10], [20, 50]])
    coder_b, coder_a = _pairs_from_table(table)
    labels = np.array(["Stat", "IReq"])
    a, b = labels[coder_a], labels[coder_b]
    assert cohen_kappa(a, b) == pytest.approx(0.16 / 0.46, abs=1e-12)
    assert scotts_pi(a, b) == pytest.approx(0.155 / 0.455, abs=1e-12)


def test_doc_arithmetic_small_examples() -> None:
    # [[1,1],[2,2],[1,2]], nominal: n = 6 values, n_1 = n_2 = 3; one unequal unit adds
    # 2 ordered pairs / (2 - 1) = 2, so D_o ~ 2; D_e ~ (36 - 18) / 5 = 3.6 and
    # alpha = 1 - (n - 1) * 2 / 18 = 1 - 10/18 = 0.4444...
    assert krippendorff_alpha([[1, 1], [2, 2], [1, 2]]) == pytest.approx(4 / 9, abs=1e-12)
    # Fleiss on [[2,0],[0,2],[1,1]]: P = (1, 1, 0) -> P-bar = 2/3; p = (.5, .5) -> P_e = .5.
    assert fleiss_kappa([[2, 0], [0, 2], [1, 1]]) == pytest.approx(1 / 3, abs=1e-12)


# --------------------------------------------------------------------------- differential


def _random_ratings(seed: int, n_items: int, n_raters: int, n_cats: int, p_missing: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, n_cats + 1, n_items)
    noise = rng.integers(1, n_cats + 1, (n_items, n_raters))
    ratings = np.where(rng.random((n_items, n_raters)) < 0.6, truth[:, None], noise).astype(float)
    ratings[rng.random(ratings.shape) < p_missing] = nan
    return ratings


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(2, 40),
    n_raters=st.integers(2, 6),
    n_cats=st.integers(2, 7),
    p_missing=st.sampled_from([0.0, 0.2, 0.5]),
    level=st.sampled_from(["nominal", "ordinal", "interval", "ratio"]),
)
def test_krippendorff_matches_krippendorff_package(
    seed: int, n_items: int, n_raters: int, n_cats: int, p_missing: float, level: str
) -> None:
    ratings = _random_ratings(seed, n_items, n_raters, n_cats, p_missing)
    try:
        ours: float | None = krippendorff_alpha(ratings, level=level)  # type: ignore[arg-type]
    except UndefinedAgreementError:
        ours = None
    if ours is None:  # undefined exactly when the pairable values hold fewer than two distinct ones
        valid = ~np.isnan(ratings)
        pairable = ratings[valid.sum(axis=1) >= 2]
        assert np.unique(pairable[~np.isnan(pairable)]).size < 2
    else:
        theirs = krippendorff.alpha(ratings.T, level_of_measurement=level)
        assert ours == pytest.approx(theirs, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(2, 40), n_raters=st.integers(2, 9), n_cats=st.integers(2, 6))
def test_fleiss_matches_statsmodels(seed: int, n_items: int, n_raters: int, n_cats: int) -> None:
    ratings = _random_ratings(seed, n_items, n_raters, n_cats, 0.0)
    table = counts_from_ratings(ratings, categories=list(range(1, n_cats + 1)))
    assume((table.sum(axis=0) > 0).sum() >= 2)
    assert fleiss_kappa(table) == pytest.approx(inter_rater.fleiss_kappa(table, method="fleiss"), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 60),
    n_cats=st.integers(2, 8),
    offset=st.integers(-5, 5),
    weights=st.sampled_from([None, "linear", "quadratic"]),
)
def test_cohen_matches_sklearn(seed: int, n: int, n_cats: int, offset: int, weights: str | None) -> None:
    ratings = _random_ratings(seed, n, 2, n_cats, 0.0).astype(int) + offset
    a, b = ratings[:, 0], ratings[:, 1]
    assume(np.unique(np.concatenate([a, b])).size >= 2)
    theirs = sk_metrics.cohen_kappa_score(a, b, weights=weights)
    assume(np.isfinite(theirs))
    ours = cohen_kappa(a, b, weights=weights)  # type: ignore[arg-type]
    assert ours == pytest.approx(theirs, abs=1e-9)
    # The integer fast path, the float path and the sorted-string path agree.
    assert cohen_kappa(a.astype(float), b.astype(float), weights=weights) == pytest.approx(ours, abs=1e-12)  # type: ignore[arg-type]
    as_text = [f"{v + 10:02d}" for v in a], [f"{v + 10:02d}" for v in b]
    assert cohen_kappa(*as_text, weights=weights) == pytest.approx(ours, abs=1e-12)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 50), n_cats=st.integers(2, 6))
def test_two_rater_identities(seed: int, n: int, n_cats: int) -> None:
    # Conger (1980) reduces to Cohen, and Fleiss with two raters to Scott's pi.
    ratings = _random_ratings(seed, n, 2, n_cats, 0.0)
    a, b = ratings[:, 0], ratings[:, 1]
    try:
        kappa = cohen_kappa(a, b)
    except UndefinedAgreementError:
        kappa = None
    assume(kappa is not None)  # one category only: kappa undefined, nothing to compare
    assert conger_kappa(ratings) == pytest.approx(kappa, abs=1e-12)
    assert fleiss_kappa(counts_from_ratings(ratings)) == pytest.approx(scotts_pi(a, b), abs=1e-12)


# --------------------------------------------------------------------------- properties


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(3, 30), n_raters=st.integers(2, 5))
def test_invariance_to_label_renaming_and_permutation(seed: int, n_items: int, n_raters: int) -> None:
    ratings = _random_ratings(seed, n_items, n_raters, 4, 0.2)
    names = np.array([None, "cat", "dog", "eel", "fox"], dtype=object)
    as_strings = np.where(np.isnan(ratings), None, names[np.nan_to_num(ratings, nan=0).astype(int)])
    rng = np.random.default_rng(seed)
    shuffled = ratings[rng.permutation(n_items)][:, rng.permutation(n_raters)]
    for fn in (krippendorff_alpha, gwet_ac1, brennan_prediger, percent_agreement, conger_kappa):
        try:
            value = fn(ratings)
        except UndefinedAgreementError:
            with pytest.raises(UndefinedAgreementError):
                fn(as_strings)
            continue
        assert fn(as_strings) == pytest.approx(value, abs=1e-12), fn.__name__
        assert fn(shuffled) == pytest.approx(value, abs=1e-12), fn.__name__


def test_callable_level_matches_builtin_levels() -> None:
    assert krippendorff_alpha(KRIPP_2011, level=lambda a, b: float(a != b)) == pytest.approx(
        krippendorff_alpha(KRIPP_2011, level="nominal"), abs=1e-12
    )
    assert krippendorff_alpha(KRIPP_2011, level=lambda a, b: (a - b) ** 2) == pytest.approx(
        krippendorff_alpha(KRIPP_2011, level="interval"), abs=1e-12
    )


def test_non_integer_and_large_range_labels_code_the_same() -> None:
    shifted = KRIPP_2011 * 0.5 + 1e7  # floats not on an integer grid, and far from 0
    assert krippendorff_alpha(shifted) == pytest.approx(0.743421052631579, abs=1e-12)
    assert krippendorff_alpha(shifted, level="interval") == pytest.approx(
        krippendorff_alpha(KRIPP_2011, level="interval"), abs=1e-9
    )
    wide = np.where(np.isnan(KRIPP_2011), -1, KRIPP_2011 * 10**9).astype(np.int64)
    wide_obj = np.where(wide < 0, None, wide).astype(object)
    assert krippendorff_alpha(wide_obj) == pytest.approx(0.743421052631579, abs=1e-12)


def test_weighted_ac2_and_weight_matrix() -> None:
    # An identity weight matrix is the unweighted AC1; linear/quadratic AC2 credit near misses.
    assert gwet_ac1(RAW4RATERS, weights=np.eye(5)) == pytest.approx(gwet_ac1(RAW4RATERS), abs=1e-15)
    linear = gwet_ac1(RAW4RATERS, weights="linear")
    quadratic = gwet_ac1(RAW4RATERS, weights="quadratic")
    assert gwet_ac1(RAW4RATERS) < linear < quadratic <= 1.0


def test_ac2_and_weighted_bp_by_hand() -> None:
    # Gwet (2014) ch. 3 / irrCAC gwet.ac1.raw with linear weights w_kl = 1 - |k - l| / 2 on
    # categories 1..3, ratings [[1, 2], [2, 2], [3, 3]]:
    # r*_ik = sum_l w_kl r_il; item 1: r = (1, 1, 0), r* = (1.5, 1.5, .5), sum r (r* - 1) = 1,
    # / (2 * 1) = .5; items 2 and 3 agree fully: 1, 1. p_a = 2.5 / 3 = 5/6.
    # pi = mean of r_ik / r_i = (1/6, 1/2, 1/3); T_w = 3 * 1 + 4 * .5 = 5;
    # p_e = T_w * sum pi (1 - pi) / (q (q - 1)) = 5 * (22/36) / 6 = 110/216;
    # AC2 = (5/6 - 110/216) / (1 - 110/216) = 70/106 = 0.660377...
    # Brennan-Prediger weighted: p_e = T_w / q**2 = 5/9, (5/6 - 5/9) / (4/9) = 0.625.
    ratings = [[1, 2], [2, 2], [3, 3]]
    assert gwet_ac1(ratings, weights="linear") == pytest.approx(70 / 106, abs=1e-12)
    assert brennan_prediger(ratings, weights="linear") == pytest.approx(0.625, abs=1e-12)


def test_categories_add_unused_classes() -> None:
    ratings = [["a", "a"], ["b", "b"], ["a", "b"]]
    counts = counts_from_ratings(ratings, categories=["c", "b", "a"])
    assert counts.tolist() == [[0, 0, 2], [0, 2, 0], [0, 1, 1]]
    # Brennan-Prediger with q = 3 instead of 2: p_e = 1/3, pa = 2/3 -> (2/3 - 1/3) / (2/3) = 0.5.
    assert brennan_prediger(ratings, categories=["a", "b", "c"]) == pytest.approx(0.5, abs=1e-12)
    assert brennan_prediger(ratings) == pytest.approx((2 / 3 - 0.5) / 0.5, abs=1e-12)


def test_missing_ratings_as_none_in_lists() -> None:
    as_lists = [[None if np.isnan(v) else int(v) for v in row] for row in RAW4RATERS]
    assert krippendorff_alpha(as_lists) == pytest.approx(0.74342, abs=5e-6)
    assert cohen_kappa(["x", None, "y", "x"], ["x", "y", "y", "y"]) == pytest.approx(
        cohen_kappa(["x", "y", "x"], ["x", "y", "y"]), abs=1e-15
    )


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    ratings = _random_ratings(7, 200, 4, 4, 0.1)
    first = bootstrap_ci(krippendorff_alpha, ratings, n_resamples=200, seed=3, level="interval")
    again = bootstrap_ci(krippendorff_alpha, ratings, n_resamples=200, seed=3, level="interval")
    other = bootstrap_ci(krippendorff_alpha, ratings, n_resamples=200, seed=4, level="interval")
    assert isinstance(first, AgreementResult)
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    assert first.estimate == krippendorff_alpha(ratings, level="interval")
    assert first.low < first.estimate < first.high
    assert first.high - first.low < 0.3
    assert (first.n_items, first.n_resamples, first.n_undefined) == (200, 200, 0)


def test_bootstrap_two_arrays_and_tables() -> None:
    a, b = _pairs_from_table(CONT3X3)
    res = bootstrap_ci(cohen_kappa, a, b, n_resamples=300, weights="linear")
    assert res.estimate == cohen_kappa(a, b, weights="linear")
    assert res.low < res.estimate < res.high
    table = bootstrap_ci(fleiss_kappa, DISTRIB_6RATERS, n_resamples=100, confidence=0.9)
    assert table.confidence == 0.9
    assert table.low < 0.4139265 < table.high


def test_bootstrap_counts_undefined_resamples() -> None:
    # Two items: a resample of only item 0 (or only item 1) has one category -> undefined.
    ratings = np.array([[1, 1], [2, 2]])
    res = bootstrap_ci(krippendorff_alpha, ratings, n_resamples=100, seed=0)
    assert 0 < res.n_undefined < 100
    assert res.low == res.high == 1.0


def test_bootstrap_errors() -> None:
    with pytest.raises(ConfigError, match="confidence must be in"):
        bootstrap_ci(krippendorff_alpha, RAW4RATERS, confidence=1.5)
    with pytest.raises(ConfigError, match="n_resamples must be"):
        bootstrap_ci(krippendorff_alpha, RAW4RATERS, n_resamples=0)
    with pytest.raises(InvalidAnnotationError, match="same length"):
        bootstrap_ci(cohen_kappa, [1, 2, 3], [1, 2])
    with pytest.raises(UndefinedAgreementError, match="no unit has two"):
        bootstrap_ci(krippendorff_alpha, [[1, nan], [nan, 2]])


# --------------------------------------------------------------------------- undefined and bad input


def test_undefined_cases_raise_with_reasons() -> None:
    with pytest.raises(UndefinedAgreementError, match="at least 2 raters"):
        krippendorff_alpha([[1], [2]])
    with pytest.raises(UndefinedAgreementError, match="no unit has two"):
        krippendorff_alpha([[1, nan], [nan, 2], [nan, nan]])
    with pytest.raises(UndefinedAgreementError, match="expected disagreement is 0"):
        krippendorff_alpha([[1, 1], [1, 1], [1, nan]])
    with pytest.raises(UndefinedAgreementError, match="chance agreement"):
        fleiss_kappa([[3, 0], [3, 0]])
    with pytest.raises(UndefinedAgreementError, match="no item has two"):
        fleiss_kappa([[1, 0], [0, 1]])
    with pytest.raises(UndefinedAgreementError, match="single, identical category"):
        cohen_kappa([1, 1, 1], [1, 1, 1])
    with pytest.raises(UndefinedAgreementError, match="no item has a rating from both"):
        cohen_kappa([1, None], [None, 2])
    with pytest.raises(UndefinedAgreementError, match="1 category"):
        gwet_ac1([[1, 1], [1, 1]])
    with pytest.raises(UndefinedAgreementError, match="1 category"):
        brennan_prediger([["a", "a"]])
    with pytest.raises(UndefinedAgreementError, match="chance agreement"):
        scotts_pi(["a", "a"], ["a", "a"])
    with pytest.raises(UndefinedAgreementError, match="have no rating"):
        conger_kappa([[1, 2, nan], [2, 2, nan]])
    with pytest.raises(UndefinedAgreementError, match="at least 2 raters"):
        percent_agreement([[1], [1]])


def test_bad_input_raises_with_hints() -> None:
    with pytest.raises(ConfigError, match="level must be one of"):
        krippendorff_alpha(RAW4RATERS, level="cardinal")  # type: ignore[arg-type]
    with pytest.raises(InvalidAnnotationError, match="needs numeric labels"):
        krippendorff_alpha([["a", "b"], ["b", "b"]], level="interval")
    with pytest.raises(InvalidAnnotationError, match="mix label types"):
        krippendorff_alpha([["a", 1], [2, "b"]])
    with pytest.raises(InvalidAnnotationError, match="must be 2-D"):
        krippendorff_alpha([1, 2, 3])
    with pytest.raises(InvalidAnnotationError, match="infinite"):
        krippendorff_alpha([[1.0, np.inf], [2.0, 2.0]])
    with pytest.raises(InvalidAnnotationError, match="equal length"):
        cohen_kappa([1, 2], [1, 2, 3])
    with pytest.raises(ConfigError, match="weights must be"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"must be \(2, 2\)"):
        gwet_ac1([[1, 2], [2, 2]], weights=np.eye(3))
    with pytest.raises(SchemaError, match="not in categories"):
        counts_from_ratings([["a", "z"]], categories=["a", "b"])
    with pytest.raises(InvalidAnnotationError, match="non-negative counts"):
        fleiss_kappa([[1, -1], [2, 0]])
    with pytest.raises(InvalidAnnotationError, match="non-finite"):
        krippendorff_alpha([[1, 2], [2, 2]], level=lambda a, b: float("inf") if a != b else 0.0)


def test_bootstrap_string_labels_equal_integer_labels() -> None:
    # String labels are coded once before resampling; results must not change.
    ratings = _random_ratings(11, 120, 3, 4, 0.15)
    names = np.array([None, "a", "b", "c", "d"], dtype=object)
    as_strings = np.where(np.isnan(ratings), None, names[np.nan_to_num(ratings, nan=0).astype(int)])
    for fn, kw in ((krippendorff_alpha, {"level": "ordinal"}), (gwet_ac1, {}), (conger_kappa, {})):
        assert bootstrap_ci(fn, as_strings, n_resamples=60, **kw) == bootstrap_ci(fn, ratings, n_resamples=60, **kw)
    a, b = as_strings[:, 0], as_strings[:, 1]
    assert bootstrap_ci(cohen_kappa, a, b, n_resamples=60) == bootstrap_ci(
        cohen_kappa, ratings[:, 0], ratings[:, 1], n_resamples=60
    )
    with pytest.raises(InvalidAnnotationError, match="needs numeric labels"):
        bootstrap_ci(krippendorff_alpha, as_strings, n_resamples=5, level="interval")


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_vectorised_kripp_bootstrap_equals_generic_loop(level: str) -> None:
    # bootstrap_ci has a matrix-product path for krippendorff_alpha; a wrapper function
    # forces the generic per-resample loop, which draws the same item indices.
    ratings = _random_ratings(5, 150, 4, 5, 0.3)
    ratings[:3] = [[1, nan, nan, nan], [nan, nan, nan, nan], [2, 2, nan, nan]]  # unpairable, empty, small units
    fast = bootstrap_ci(krippendorff_alpha, ratings, n_resamples=120, seed=9, level=level)
    loop = bootstrap_ci(lambda r, **kw: krippendorff_alpha(r, **kw), ratings, n_resamples=120, seed=9, level=level)
    assert fast.estimate == loop.estimate
    assert fast.low == pytest.approx(loop.low, abs=1e-12)
    assert fast.high == pytest.approx(loop.high, abs=1e-12)
    assert fast.n_undefined == loop.n_undefined
    tiny = np.array([[1, 1], [2, 2], [1, nan]])
    wrapped = bootstrap_ci(lambda r, **kw: krippendorff_alpha(r, **kw), tiny, n_resamples=50, level=level)
    assert bootstrap_ci(krippendorff_alpha, tiny, n_resamples=50, level=level) == wrapped


def test_docstring_examples_run() -> None:
    import doctest

    import accord.core.agreement as agreement
    import accord.core.agreement_structured as structured

    for module in (agreement, structured):
        result = doctest.testmod(module)
        assert result.attempted > 0
        assert result.failed == 0, module.__name__


# --------------------------------------------------------------------------- all pairs at once


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 7), st.integers(1, 4), st.floats(0.0, 0.7))
def test_pairwise_cohen_kappa_equals_cohen_kappa_and_sklearn_per_pair(seed, n_raters, k, missing):
    """One contingency pass gives every pair's kappa exactly as the two-rater function does."""
    from accord.core.agreement import pairwise_cohen_kappa

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, k, size=(40, n_raters))
    codes[rng.random(codes.shape) < missing] = -1
    pk = pairwise_cohen_kappa(codes, n_categories=k, min_items=3)
    checked = 0
    for a in range(n_raters):
        for b in range(n_raters):
            both = (codes[:, a] >= 0) & (codes[:, b] >= 0)
            assert pk.n_shared[a, b] == both.sum()
            if a == b:
                assert np.isnan(pk.kappa[a, b])
                continue
            try:
                expected = cohen_kappa(codes[both, a], codes[both, b])
            except UndefinedAgreementError:
                expected = nan
            if both.sum() < 3 or np.isnan(expected):
                assert np.isnan(pk.kappa[a, b])
            else:
                checked += 1
                assert pk.kappa[a, b] == pytest.approx(expected, abs=1e-12)
                assert pk.kappa[a, b] == pytest.approx(
                    sk_metrics.cohen_kappa_score(codes[both, a], codes[both, b]), abs=1e-9)
    assume(checked > 0)
    np.testing.assert_array_equal(pk.n_shared, pk.n_shared.T)


def test_pairwise_rest_kappa_pools_each_rater_against_the_others():
    from accord.core.agreement import pairwise_cohen_kappa

    # rater 0 vs raters 1 and 2 on the items they share: pairs (0,1) on rows 0-3, (0,2) on rows 0-2
    codes = np.array([[0, 0, 1], [1, 1, 1], [0, 1, 0], [1, 1, -1], [-1, 0, 0]])
    pk = pairwise_cohen_kappa(codes)
    mine = [0, 1, 0, 1, 0, 1, 0]
    theirs = [0, 1, 1, 1, 1, 1, 0]
    assert pk.rest_n[0] == 7
    assert pk.rest_kappa[0] == pytest.approx(cohen_kappa(mine, theirs), abs=1e-12)
    assert pk.rest_agreement[0] == pytest.approx(5 / 7)


@pytest.mark.parametrize(("codes", "match"), [(np.array([[0.5, 1.0]]), "integer"), (np.array([[0, 3]]), "lie in"),
                                              (np.array([0, 1]), "2-D")])
def test_pairwise_cohen_kappa_rejects_bad_codes(codes, match):
    from accord.core.agreement import pairwise_cohen_kappa

    with pytest.raises(InvalidAnnotationError, match=match):
        pairwise_cohen_kappa(codes, n_categories=2)


@pytest.mark.parametrize("seed", range(12))
def test_gwet_family_bootstrap_equals_the_resampling_loop(seed: int) -> None:
    """The vectorised bootstrap of percent agreement / AC1 / AC2 / Brennan-Prediger draws the
    same resamples as the generic loop and gives the same values (missing ratings, unused and
    vanishing categories, weights)."""
    rng = np.random.default_rng(seed)
    n, m, k = int(rng.integers(3, 60)), int(rng.integers(2, 6)), int(rng.integers(2, 5))
    x = rng.integers(0, k, (n, m)).astype(float)
    x[rng.random((n, m)) < rng.uniform(0.0, 0.6)] = np.nan
    cases = [(ag.percent_agreement, {}), (ag.gwet_ac1, {}), (ag.brennan_prediger, {}),
             (ag.gwet_ac1, {"categories": list(range(k + 1))}),
             (ag.brennan_prediger, {"categories": list(range(k)), "weights": "linear"}),
             (ag.gwet_ac1, {"categories": list(range(k)), "weights": "quadratic"})]
    for fn, kw in cases:
        fast = ag._gwet_family_bootstrap(fn, x, kw, np.random.default_rng(7), 60)
        slow, n_ok = ag._generic_bootstrap(fn, [x], kw, np.random.default_rng(7), 60)
        assert fast is not None
        assert fast.size == n_ok
        np.testing.assert_allclose(fast, slow[:n_ok], rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_fleiss_bootstrap_equals_the_loop(seed: int) -> None:
    """The vectorised Fleiss resamples equal the generic loop's, resample by resample: equal
    and unequal ratings per item, unrated rows, resamples where kappa is undefined."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(2, 40)), int(rng.integers(1, 5))
    table = rng.integers(0, 4, (n, k))
    if seed % 3 == 0:  # Fleiss (1971) as defined: the same number of ratings on every item
        table = ag.counts_from_ratings(rng.integers(0, k, (n, 3)).astype(float))
    if seed % 4 == 1:
        table[: n // 3] = 0  # unrated rows count in the draws, not in the coefficient
    fast = ag._fleiss_bootstrap(np.asarray(table), np.random.default_rng(seed), 80)
    slow, n_ok = ag._generic_bootstrap(ag.fleiss_kappa, [np.asarray(table)], {}, np.random.default_rng(seed), 80)
    assert fast is not None
    assert fast.size == n_ok
    np.testing.assert_allclose(fast, slow[:n_ok], rtol=0, atol=1e-12)
    assert ag._fleiss_bootstrap(np.array([[1.0, -1.0]]), np.random.default_rng(0), 5) is None
