"""Tests for accord.core.qa.intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from accord.core.qa.intervals import (
    InvalidProportionError,
    gold_items_needed,
    proportion_interval,
    rate,
)


def test_wilson_8_of_10_known_answer():
    # Wilson interval for 8/10 at 95%: (0.4902, 0.9433) -- Newcombe (1998), Stat Med 17:857, Table I
    # lists 0.4902-0.9433 for method 3 (score interval without continuity correction).
    lo, hi = proportion_interval(8, 10)
    assert float(lo) == pytest.approx(0.4902, abs=1e-4)
    assert float(hi) == pytest.approx(0.9433, abs=1e-4)


def test_clopper_pearson_extremes_known_answer():
    # 0/10 exact upper limit = 1 - 0.025**(1/10) = 0.30850 (closed form when x = 0; also Newcombe 1998 Table I).
    lo, hi = proportion_interval([0, 10], [10, 10], method="clopper-pearson")
    assert lo[0] == 0.0
    assert hi[0] == pytest.approx(1 - 0.025 ** 0.1, abs=1e-9)
    assert lo[1] == pytest.approx(0.025 ** 0.1, abs=1e-9)
    assert hi[1] == 1.0


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 500), frac=st.floats(0, 1), conf=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_matches_statsmodels(n, frac, conf):
    k = round(frac * n)
    for ours, theirs in (("wilson", "wilson"), ("clopper-pearson", "beta")):
        lo, hi = proportion_interval(k, n, confidence=conf, method=ours)
        elo, ehi = proportion_confint(k, n, alpha=1 - conf, method=theirs)
        assert float(lo) == pytest.approx(elo, abs=1e-9)
        assert float(hi) == pytest.approx(ehi, abs=1e-9)


def test_vectorized_shapes_and_n_zero():
    lo, hi = proportion_interval(np.array([[1, 0], [2, 0]]), np.array([[4, 0], [4, 0]]))
    assert lo.shape == (2, 2)
    assert np.isnan(lo[:, 1]).all()
    assert np.isnan(hi[:, 1]).all()
    assert not np.isnan(lo[0, 0])
    assert lo[0, 0] < 0.25 < hi[0, 0]


def test_rate_undefined_flag():
    r = rate(0, 0)
    assert not r.defined
    assert math.isnan(r.estimate)
    assert math.isnan(r.width)
    r = rate(3, 4, method="clopper-pearson")
    assert r.defined
    assert r.estimate == 0.75
    assert r.low < 0.75 < r.high
    assert r.method == "clopper-pearson"


def test_errors():
    with pytest.raises(InvalidProportionError, match="successes <= n"):
        proportion_interval(5, 4)
    with pytest.raises(InvalidProportionError, match="confidence"):
        proportion_interval(1, 4, confidence=1.0)
    with pytest.raises(InvalidProportionError, match="method"):
        proportion_interval(1, 4, method="wald")  # type: ignore[arg-type]
    with pytest.raises(InvalidProportionError, match="target_width"):
        gold_items_needed(0.9, 0.0)
    with pytest.raises(InvalidProportionError, match="max_n"):
        gold_items_needed(0.5, 0.001, max_n=100)


@pytest.mark.parametrize("method", ["wilson", "clopper-pearson"])
@pytest.mark.parametrize(("p", "w"), [(0.9, 0.1), (0.5, 0.2), (0.98, 0.05), (0.0, 0.1)])
def test_gold_items_needed_is_minimal(method, p, w):
    n = gold_items_needed(p, w, method=method)

    def width(m):
        lo, hi = proportion_interval(round(p * m), m, method=method)
        return float(hi - lo)

    assert width(n) <= w
    # minimal: no smaller n within the scan window reaches the target
    assert all(width(m) > w for m in range(max(1, n - 30), n))


def test_gold_items_needed_already():
    n = gold_items_needed(0.9, 0.1)
    assert gold_items_needed(0.9, 0.1, already=40) == n - 40
    assert gold_items_needed(0.9, 0.1, already=10_000) == 0
