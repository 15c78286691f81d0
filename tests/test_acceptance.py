"""Tests for accord.core.qa.acceptance (ISO 2859-1 single sampling, normal inspection)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from accord.core.qa.acceptance import (
    AQLS,
    AcceptanceSamplingError,
    SwitchingState,
    apply_switching_rules,
    code_letter,
    inspect_lot,
    next_state,
    oc_curve,
    plans_by_severity,
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
    with pytest.raises(AcceptanceSamplingError, match="severity"):
        single_sampling_plan(1000, 1.0, severity="strict")  # type: ignore[arg-type]
    with pytest.raises(AcceptanceSamplingError, match="distribution"):
        oc_curve(single_sampling_plan(1000, 1.0), distribution="normal")  # type: ignore[arg-type]
    with pytest.raises(AcceptanceSamplingError, match=r"\[0, 1\]"):
        oc_curve(single_sampling_plan(1000, 1.0), np.array([1.5]))


# --------------------------------------------------------------------------- tightened (Table II-B)

# MIL-STD-105E Table II-B (= ISO 2859-1 Table II-B), AQL 0.65 .. 10 columns, as reproduced in
# the NIBS FMOC "AC-TABLE" (Table 1-B, single tightened): rejection numbers per row, "v" where
# the cell is an arrow. Re = Ac + 1 throughout. Lot sizes pick the row's letter at level II.
_TIGHTENED_RE = {  # letter: (lot, n, Re at AQL 0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10)
    "F": (100, 20, (None, 1, None, None, 2, 3, 4)),
    "G": (200, 32, (1, None, None, 2, 3, 4, 6)),
    "H": (400, 50, (None, None, 2, 3, 4, 6, 9)),
    "J": (1000, 80, (None, 2, 3, 4, 6, 9, 13)),
    "K": (2000, 125, (2, 3, 4, 6, 9, 13, 19)),
    "L": (5000, 200, (3, 4, 6, 9, 13, 19, None)),
}


@pytest.mark.parametrize("letter", sorted(_TIGHTENED_RE))
def test_table_II_B_known_cells(letter):
    lot, n, res = _TIGHTENED_RE[letter]
    for aql, re in zip((0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10.0), res, strict=True):
        p = single_sampling_plan(lot, aql, severity="tightened")
        assert p.table_letter == letter
        if re is None:  # an arrow: the plan comes from another row
            assert p.letter != letter
        else:
            assert (p.letter, p.sample_size, p.accept, p.reject) == (letter, n, re - 1, re)


def test_tightened_arrows_and_row_s():
    # G at AQL 1.0 (d = 16) and H at 1.0 (d = 17) are arrows down to J's Ac 1 / Re 2 (n = 80).
    p = single_sampling_plan(200, 1.0, severity="tightened")
    assert (p.letter, p.sample_size, p.accept, p.reject) == ("J", 80, 1, 2)
    # Code R at AQL 0.025: the arrow runs past R to row S, n = 3150, Ac 1 / Re 2; at 0.015 it
    # points up to Q's Ac 0 (n = 1250).
    p = single_sampling_plan(600_000, 0.025, level="III", severity="tightened")
    assert (p.table_letter, p.letter, p.sample_size, p.accept, p.reject) == ("R", "S", 3150, 1, 2)
    p = single_sampling_plan(600_000, 0.015, level="III", severity="tightened")
    assert (p.letter, p.sample_size, p.accept, p.reject) == ("Q", 1250, 0, 1)
    # Code A at AQL 10: no Ac 0 plan with n = 2; the arrow leads to D's Ac 1 / Re 2 (n = 8).
    p = single_sampling_plan(5, 10.0, severity="tightened")
    assert (p.table_letter, p.letter, p.sample_size, p.accept, p.reject) == ("A", "D", 5, 1, 2)
    assert p.hundred_percent


def test_tightened_is_never_laxer_than_normal():
    # Same sample size -> Ac no larger; every tightened plan's OC lies on or below the normal one at the AQL.
    for lot in (20, 100, 400, 1000, 5000, 50_000, 300_000):
        for a in AQLS:
            n, t = single_sampling_plan(lot, a), single_sampling_plan(lot, a, severity="tightened")
            assert t.reject == t.accept + 1
            if n.sample_size == t.sample_size:
                assert t.accept <= n.accept
            pa_n = oc_curve(n, np.array([a / 100])).p_accept[0]
            pa_t = oc_curve(t, np.array([a / 100])).p_accept[0]
            assert pa_t <= pa_n + 0.03, (lot, a)


# --------------------------------------------------------------------------- reduced (Table II-C)


# MIL-STD-105E / ANSI/ASQ Z1.4 Table II-C (= ISO 2859-1:1989), single reduced, row by row:
# (letter, lot at level II, n, {AQL: (Ac, Re)}) for cells that are plans of that row.
_REDUCED = [
    ("J", 1000, 32, {0.15: (0, 1), 0.65: (0, 2), 1.0: (1, 3), 1.5: (1, 4), 2.5: (2, 5), 4.0: (3, 6),
                     6.5: (5, 8), 10.0: (7, 10)}),
    ("K", 2000, 50, {0.10: (0, 1), 0.40: (0, 2), 0.65: (1, 3), 1.0: (1, 4), 2.5: (3, 6), 6.5: (7, 10),
                     10.0: (10, 13)}),
    ("L", 5000, 80, {0.065: (0, 1), 0.25: (0, 2), 1.0: (2, 5), 4.0: (7, 10), 6.5: (10, 13)}),
]


@pytest.mark.parametrize(("letter", "lot", "n", "cells"), _REDUCED)
def test_table_II_C_known_cells(letter, lot, n, cells):
    for aql, (ac, re) in cells.items():
        p = single_sampling_plan(lot, aql, severity="reduced")
        assert (p.letter, p.sample_size, p.accept, p.reject) == (letter, n, ac, re), aql


def test_reduced_arrows_gap_and_sizes():
    # J at AQL 0.40 (d = 16): arrow down to K's 0 / 2 (n = 50); at 0.25 (d = 15): up to H's 0 / 1 (n = 20).
    p = single_sampling_plan(1000, 0.40, severity="reduced")
    assert (p.letter, p.sample_size, p.accept, p.reject) == ("K", 50, 0, 2)
    p = single_sampling_plan(1000, 0.25, severity="reduced")
    assert (p.letter, p.sample_size, p.accept, p.reject) == ("H", 20, 0, 1)
    # Letters A, B, C share n = 2.
    assert {single_sampling_plan(lot, 4.0, severity="reduced").sample_size for lot in (5, 12, 20)} == {2}
    for lot in (10, 30, 60, 100, 200, 400, 1000, 3000, 8000, 20_000, 100_000, 600_000):
        for a in AQLS:
            r, n = single_sampling_plan(lot, a, severity="reduced"), single_sampling_plan(lot, a)
            assert r.reject > r.accept
            assert r.sample_size <= n.sample_size, (lot, a)
    # In the gap the lot is accepted but normal inspection comes back.
    plan = single_sampling_plan(1000, 2.5, severity="reduced")  # n = 32, Ac 2, Re 5
    assert [(inspect_lot(plan, d).accepted, inspect_lot(plan, d).reinstate_normal) for d in (2, 3, 4, 5)] == [
        (True, False), (True, True), (True, True), (False, False)]
    # Its OC curve counts the gap as accepted: P(X <= 4), X ~ Binomial(32, p).
    pa = oc_curve(plan, np.array([0.05])).p_accept[0]
    assert pa == pytest.approx(stats.binom.cdf(4, 32, 0.05))


def test_plans_by_severity():
    plans = plans_by_severity(1000, 1.0)
    assert [(s, p.sample_size, p.accept, p.reject) for s, p in plans.items()] == [
        ("normal", 80, 2, 3), ("tightened", 80, 1, 2), ("reduced", 32, 1, 3)]


# --------------------------------------------------------------------------- switching rules


def _run(defects, aql=1.0, **kw):
    return apply_switching_rules([(1000, d) for d in defects], aql, **kw)


def test_two_of_five_not_accepted_switch_to_tightened():
    # Lot 1000, AQL 1.0, normal: n = 80, Ac 2. Lots 1 and 5 fail (3 defects): 2 of 5 -> tightened.
    out, state = _run([3, 0, 0, 0, 3])
    assert [o.event for o in out] == [None, None, None, None, "to_tightened"]
    assert state.severity == "tightened"
    # Failures 6 lots apart are never 2 within 5 consecutive lots: stay on normal.
    out, state = _run([3, 0, 0, 0, 0, 3])
    assert state.severity == "normal"
    assert all(o.event is None for o in out)


def test_tightened_back_to_normal_after_five_accepted():
    out, state = _run([3, 3, 0, 0, 0, 0, 0, 0])
    assert [o.plan.severity for o in out] == ["normal", "normal"] + ["tightened"] * 5 + ["normal"]
    assert out[6].event == "to_normal"
    assert state.severity == "normal"
    # Tightened plan for lot 1000 at AQL 1.0: n = 80, Ac 1 -- 2 defects now fail.
    out, state = _run([3, 3, 2])
    assert not out[2].accepted
    assert out[2].plan.accept == 1


def test_five_not_accepted_on_tightened_discontinue():
    # On tightened: fail, pass, fail, fail, pass, fail, fail -> the 5th failure discontinues.
    out, state = _run([3, 3, 2, 0, 2, 2, 0, 2, 2, 0, 0])
    assert out[-1].event == "discontinue"
    assert state.discontinued
    assert len(out) == 9  # lots after the discontinuation are not judged
    with pytest.raises(AcceptanceSamplingError, match="discontinued"):
        next_state(state, single_sampling_plan(1000, 1.0, severity="tightened"), 0)


def test_switching_score_and_reduced_inspection():
    # Ac 2 (>= 2): +3 when the lot would pass at the next tighter AQL (0.65: Ac 1 for J), so 10
    # lots with <= 1 defect reach 30 -> reduced. A lot with 2 defects passes but resets the score.
    out, state = _run([1] * 9)
    assert [o.switching_score for o in out] == [3 * k for k in range(1, 10)]
    assert state.severity == "normal"
    out, state = _run([1] * 5 + [2] + [0] * 9)
    assert out[5].accepted
    assert out[5].switching_score == 0
    assert state.severity == "normal"
    assert state.switching_score == 27
    out, state = _run([0] * 10)
    assert out[-1].event == "to_reduced"
    assert state.severity == "reduced"
    # Ac 0 (AQL 0.15 for lot 1000): +2 per accepted lot -> 15 lots.
    out, state = _run([0] * 15, aql=0.15)
    assert [o.event for o in out].index("to_reduced") == 14
    # Not without steady production or the authority's consent.
    assert _run([0] * 12, reduced_allowed=False)[1].severity == "normal"
    assert _run([0] * 12, steady_production=False)[1].severity == "normal"


def test_reduced_back_to_normal():
    start = SwitchingState(severity="reduced")
    # Reduced plan for lot 1000 at AQL 1.0: n = 32, Ac 1, Re 3. Three defects reject -> normal.
    out, state = _run([1, 3, 0], start=start)
    assert [o.plan.severity for o in out] == ["reduced", "reduced", "normal"]
    assert out[1].event == "to_normal"
    assert out[1].switching_score == 0  # the score restarts on normal
    assert state.switching_score == 3
    # Two defects: in the gap (Ac 1 < 2 < Re 3): accepted, but normal inspection is reinstated.
    out, state = _run([2], start=start)
    assert out[0].accepted
    assert out[0].event == "to_normal"
    assert _run([0], start=start, steady_production=False)[1].severity == "normal"


def test_switching_errors():
    with pytest.raises(AcceptanceSamplingError, match="tightened plan"):
        next_state(SwitchingState(), single_sampling_plan(1000, 1.0, severity="tightened"), 0)


# --------------------------------------------------------------------------- OC variants


def test_oc_curve_hypergeometric_and_poisson():
    plan = single_sampling_plan(1000, 1.0)  # n = 80, Ac 2, N = 1000
    p = np.array([0.0, 0.01, 0.05, 0.2])
    hyper = oc_curve(plan, p, distribution="hypergeometric").p_accept
    expected = [stats.hypergeom.cdf(2, 1000, round(x * 1000), 80) for x in p]
    assert hyper == pytest.approx(expected)
    # 1 % of 1000 = 10 defective: P(X <= 2) = sum_k C(10, k) C(990, 80 - k) / C(1000, 80), above the
    # binomial 0.9534 (sampling without replacement from a finite lot).
    exact = sum(math.comb(10, k) * math.comb(990, 80 - k) for k in range(3)) / math.comb(1000, 80)
    assert hyper[1] == pytest.approx(exact, rel=1e-9)
    assert hyper[1] > oc_curve(plan, p[1:2]).p_accept[0]
    pois = oc_curve(plan, p, distribution="poisson").p_accept
    assert pois == pytest.approx(stats.poisson.cdf(2, 80 * p))


# --------------------------------------------------------------------------- in the QA report


def test_report_section_uses_the_configured_severity():
    from accord.core.errors import ConfigError
    from accord.core.qa.report import ReportConfig, config_from_toml
    from accord.core.report.sampling import acceptance_plan

    sec = acceptance_plan(1000, ReportConfig(aql=1.0, inspection_severity="tightened"))
    assert sec["severity"] == "tightened"
    assert (sec["plan"]["sample_size"], sec["plan"]["accept"]) == (80, 1)
    assert {k: v["accept"] for k, v in sec["plans"].items()} == {"normal": 2, "tightened": 1, "reduced": 1}
    assert sec["plans"]["reduced"]["reject"] == 3
    curves = sec["oc_curve"]["by_severity"]
    assert sec["oc_curve"]["p_accept"] == curves["tightened"]
    # At every lot quality the tightened plan (same n, smaller Ac) accepts no more often than normal.
    assert all(t <= n + 1e-12 for t, n in zip(curves["tightened"], curves["normal"], strict=True))
    with pytest.raises(ConfigError, match="inspection_severity"):
        config_from_toml('[report]\ninspection_severity = "strict"\n')
    with pytest.raises(ConfigError, match="preferred values"):
        ReportConfig(aql=3.0)
