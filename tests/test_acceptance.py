"""Tests for accord.core.qa.acceptance (ISO 2859-1 single sampling, normal inspection)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from accord.core.qa.acceptance import (
    AQLS,
    AcceptanceSamplingError,
    code_letter,
    inspect_lot,
    oc_curve,
    single_sampling_plan,
)

# Known lookups from ISO 2859-1:1999 Table I / Table II-A (same tables as ANSI/ASQ Z1.4-2003).


@pytest.mark.parametrize(
    ("lot", "level", "letter"),
    [
        (1000, "II", "J"),  # 501-1200, level II
        (500, "II", "H"),  # 281-500, level II
        (2, "II", "A"),
        (3200, "II", "K"),
        (3201, "II", "L"),
        (1000, "I", "G"),
        (1000, "III", "K"),
        (600_000, "III", "R"),
        (1000, "S-1", "C"),
        (1000, "S-4", "F"),
        (40_000, "S-2", "E"),
    ],
)
def test_code_letters(lot, level, letter):
    assert code_letter(lot, level) == letter


@pytest.mark.parametrize(
    ("lot", "aql", "n", "ac", "re"),
    [
        (1000, 1.0, 80, 2, 3),  # code J, AQL 1.0
        (1000, 0.65, 80, 1, 2),  # code J, AQL 0.65
        (500, 2.5, 50, 3, 4),  # code H, AQL 2.5
        (2000, 2.5, 125, 7, 8),  # code K, AQL 2.5
        (3000, 4.0, 125, 10, 11),  # code K, AQL 4.0
        (5000, 2.5, 200, 10, 11),  # code L, AQL 2.5
        (5000, 1.0, 200, 5, 6),  # code L, AQL 1.0
        (1000, 0.15, 80, 0, 1),  # code J, AQL 0.15: Ac 0
    ],
)
def test_table_II_A_known_cells(lot, aql, n, ac, re):
    p = single_sampling_plan(lot, aql)
    assert (p.sample_size, p.accept, p.reject) == (n, ac, re)
    assert not p.hundred_percent


def test_arrows_use_the_plan_they_point_to():
    # Code J (lot 1000), AQL 0.25: arrow up -> code H plan, n = 50, Ac 0 / Re 1.
    p = single_sampling_plan(1000, 0.25)
    assert (p.table_letter, p.letter, p.sample_size, p.accept, p.reject) == ("J", "H", 50, 0, 1)
    # Code J, AQL 0.40: arrow down -> code K plan, n = 125, Ac 1 / Re 2.
    p = single_sampling_plan(1000, 0.40)
    assert (p.letter, p.sample_size, p.accept, p.reject) == ("K", 125, 1, 2)
    # Code J, AQL 0.010: arrows down to Q (n = 1250, Ac 0) -- larger than the lot: 100 % inspection.
    p = single_sampling_plan(1000, 0.010)
    assert (p.letter, p.accept, p.hundred_percent, p.sample_size) == ("Q", 0, True, 1000)
    # Code R, AQL 1.0: arrow up to Q, n = 1250, Ac 21 / Re 22.
    p = single_sampling_plan(600_000, 1.0, level="III")
    assert (p.table_letter, p.letter, p.sample_size, p.accept) == ("R", "Q", 1250, 21)


def test_every_cell_resolves_to_a_plan_and_ac_grows_with_aql():
    for lot in (5, 20, 40, 80, 120, 200, 400, 1000, 2000, 5000, 20_000, 100_000, 300_000, 10**6):
        accepts = [single_sampling_plan(lot, a, level="III").accept for a in AQLS]
        assert accepts == sorted(accepts)
        for a in AQLS:
            p = single_sampling_plan(lot, a)
            assert p.reject == p.accept + 1
            assert p.sample_size <= lot


def test_verdict():
    plan = single_sampling_plan(1000, 1.0)
    assert inspect_lot(plan, 2).accepted
    assert not inspect_lot(plan, 3).accepted
    with pytest.raises(AcceptanceSamplingError, match="defects"):
        inspect_lot(plan, -1)


def test_oc_curve_matches_binomial_and_is_monotone():
    plan = single_sampling_plan(1000, 1.0)
    c = oc_curve(plan)
    assert c.p_accept[0] == 1.0
    assert np.all(np.diff(c.p_accept) <= 1e-12)
    # P(accept | p = 1 %) for n = 80, Ac = 2: sum_{k<=2} C(80,k) .01^k .99^(80-k) = 0.9534
    pa = oc_curve(plan, np.array([0.01])).p_accept[0]
    assert pa == pytest.approx(stats.binom.cdf(2, 80, 0.01))
    assert pa == pytest.approx(0.9534, abs=1e-4)


def test_errors():
    with pytest.raises(AcceptanceSamplingError, match="preferred values"):
        single_sampling_plan(1000, 0.7)
    with pytest.raises(AcceptanceSamplingError, match="lot_size"):
        code_letter(1)
    with pytest.raises(AcceptanceSamplingError, match="level"):
        code_letter(100, "IV")  # type: ignore[arg-type]
    with pytest.raises(AcceptanceSamplingError, match="normal"):
        single_sampling_plan(1000, 1.0, severity="tightened")
    with pytest.raises(AcceptanceSamplingError, match=r"\[0, 1\]"):
        oc_curve(single_sampling_plan(1000, 1.0), np.array([1.5]))
