"""Tests for accord.core.qa.sampling."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from accord.core.qa.sampling import (
    SamplingError,
    disagreement_sample,
    sample_size_for_margin,
    simple_random_sample,
    spot_check_estimate,
    stratified_sample,
)

IDS = [f"i{k}" for k in range(100)]


def test_simple_random_reproducible_and_unique():
    a = simple_random_sample(IDS, 10, seed=7)
    assert a == simple_random_sample(IDS, 10, seed=7)
    assert a.ids != simple_random_sample(IDS, 10, seed=8).ids
    assert len(set(a.ids)) == 10
    assert set(a.ids) <= set(IDS)
    assert a.weights == (10.0,) * 10
    assert a.method == "simple"


def test_simple_random_is_uniform():
    counts = Counter(i for s in range(400) for i in simple_random_sample(IDS[:10], 3, seed=s).ids)
    # each of 10 ids expected 120 times out of 1200 draws
    assert all(80 < c < 160 for c in counts.values())


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=6), data=st.data())
def test_stratified_allocation_properties(sizes, data):
    ids = [f"x{k}" for k in range(sum(sizes))]
    strata = [h for h, s in enumerate(sizes) for _ in range(s)]
    k = data.draw(st.integers(len(sizes), len(ids)))
    s = stratified_sample(ids, strata, k, seed=1)
    got = Counter(s.strata)
    assert sum(got.values()) == k
    assert len(set(s.ids)) == k
    for h, size in enumerate(sizes):
        assert 1 <= got[h] <= size
        # proportional within rounding, except what the minimum of 1 per stratum moves around
        target = [k * z / sum(sizes) for z in sizes]
        moved = sum(max(0.0, 1 - t) for t in target)
        assert abs(got[h] - target[h]) < 1 + moved + 1e-9
    # weights N_h / n_h sum to the population
    assert sum(s.weights) == pytest.approx(len(ids))


def test_stratified_equal_and_mapping():
    strata = {i: ("a" if n < 90 else "b") for n, i in enumerate(IDS)}
    s = stratified_sample(IDS, strata, 20, allocation="equal", seed=0)
    assert Counter(s.strata) == {"a": 10, "b": 10}
    p = stratified_sample(IDS, strata, 20, allocation="proportional", seed=0)
    assert Counter(p.strata) == {"a": 18, "b": 2}
    assert p == stratified_sample(IDS, strata, 20, allocation="proportional", seed=0)


def test_disagreement_sample_prefers_high_scores():
    scores = [1.0] * 10 + [9.0] * 10
    ids = [f"d{k}" for k in range(20)]
    hits = Counter(i for s in range(300) for i in disagreement_sample(ids, scores, 1, seed=s).ids)
    high = sum(v for k, v in hits.items() if int(k[1:]) >= 10)
    # P(pick a high-score item) = 90 / 100 for one draw
    assert 0.83 < high / 300 < 0.96
    assert disagreement_sample(ids, scores, 5, seed=3) == disagreement_sample(ids, scores, 5, seed=3)


def test_disagreement_zero_scores_last():
    s = disagreement_sample(["a", "b", "c", "d"], [0, 2, 0, 1], 3, seed=0)
    assert set(s.ids[:2]) == {"b", "d"}


def test_spot_check_simple_matches_wilson_without_population():
    e = spot_check_estimate(7, 50)
    lo, hi = proportion_confint(7, 50, method="wilson")
    assert (e.low, e.high) == pytest.approx((lo, hi))
    assert e.estimate == pytest.approx(0.14)


def test_spot_check_fpc_shrinks_interval():
    free = spot_check_estimate(7, 50)
    fpc = spot_check_estimate(7, 50, population=100)
    assert fpc.high - fpc.low < free.high - free.low
    # sqrt((100 - 50) / 99) = 0.7107
    assert (fpc.high - fpc.estimate) == pytest.approx((free.high - free.estimate) * (50 / 99) ** 0.5)


def test_spot_check_stratified_known_answer():
    # Cochran (1977) eq. 5.6: W = (0.8, 0.2), p = (0.1, 0.5): p_st = 0.18;
    # var = .64*.09/20*(800-20)/799 + .04*.25/20*(200-20)/199
    e = spot_check_estimate({"a": 2, "b": 10}, {"a": 20, "b": 20}, population={"a": 800, "b": 200})
    var = 0.64 * 0.09 / 20 * 780 / 799 + 0.04 * 0.25 / 20 * 180 / 199
    assert e.estimate == pytest.approx(0.18)
    assert e.high - e.estimate == pytest.approx(1.959964 * np.sqrt(var), rel=1e-5)
    assert e.stratified
    assert e.n == 40
    assert e.errors == 12


def test_sample_size_for_margin_known_answers():
    # Classic: 95 %, +-5 %, p = 0.5 -> 384.16 -> 385; N = 1000 -> 277.7 -> 278 (Cochran 1977 eq. 4.2).
    assert sample_size_for_margin(0.05) == 385
    assert sample_size_for_margin(0.05, population=1000) == 278
    assert sample_size_for_margin(0.03, expected_rate=0.1) == 385  # 1.96^2*.09/.0009 = 384.1
    assert sample_size_for_margin(0.05, population=10) <= 10


def test_errors():
    with pytest.raises(SamplingError, match="exceeds"):
        simple_random_sample(IDS[:3], 4)
    with pytest.raises(SamplingError, match="unique"):
        simple_random_sample(["a", "a"], 1)
    with pytest.raises(SamplingError, match="min_per_stratum"):
        stratified_sample(IDS[:4], ["a", "b", "c", "d"], 2)
    with pytest.raises(SamplingError, match="one stratum per id"):
        stratified_sample(IDS[:4], ["a"], 2)
    with pytest.raises(SamplingError, match=">= 0"):
        disagreement_sample(IDS[:2], [1.0, -1.0], 1)
    with pytest.raises(SamplingError, match="errors <= n"):
        spot_check_estimate(5, 4)
    with pytest.raises(SamplingError, match="mappings"):
        spot_check_estimate({"a": 1}, {"a": 2})
    with pytest.raises(SamplingError, match="margin"):
        sample_size_for_margin(0.0)
