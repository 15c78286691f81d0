"""Reviewers' grades -> the spot check's error rate (accord.core.qa.grades), with hand-computed answers."""

from __future__ import annotations

import math

import pytest

from accord.core.qa.grades import Grade, GradeError, grade_estimate, parse_grade


def _subs(annotator: str, n: int) -> list[tuple[str, str]]:
    return [(f"{annotator}-{i}", annotator) for i in range(n)]


def test_stratified_estimate_matches_cochrans_formula_by_hand() -> None:
    # A: 100 submissions, 10 graded, 2 errors; B: 50 submissions, 5 graded, 0 errors.
    subs = _subs("A", 100) + _subs("B", 50)
    grades = [Grade(f"A-{i}", "A", i < 2) for i in range(10)] + [Grade(f"B-{i}", "B", False) for i in range(5)]
    out = grade_estimate(grades, subs)
    # p = sum W_h p_h = (100/150)(0.2) + (50/150)(0) ; var = W_A^2 p_A q_A / n_A * (N_A - n_A)/(N_A - 1)
    p = (100 / 150) * 0.2
    var = (100 / 150) ** 2 * 0.2 * 0.8 / 10 * (90 / 99)
    half = 1.959963984540054 * math.sqrt(var)
    est = out["estimate"]
    assert est["estimate"] == pytest.approx(p, abs=1e-6)
    assert est["low"] == 0.0  # p - half < 0, clipped
    assert est["high"] == pytest.approx(p + half, abs=1e-6)
    assert (est["errors"], est["n"], est["population"]) == (2, 15, 150)
    assert out["by_annotator"]["A"]["estimate"] == pytest.approx(0.2)
    assert out["strata_not_graded"] == []
    assert out["population_covered"] == 150


def test_one_annotator_gets_the_wilson_interval() -> None:
    # Wilson 95% for 5/100 is [0.02154, 0.11175] (Newcombe 1998, method 3); a population of
    # 10,000 shrinks each half-width by sqrt((N - n) / (N - 1)).
    subs = _subs("A", 10_000)
    grades = [Grade(f"A-{i}", "A", i < 5) for i in range(100)]
    est = grade_estimate(grades, subs)["estimate"]
    assert est["estimate"] == pytest.approx(0.05)
    f = math.sqrt(9_900 / 9_999)
    assert est["low"] == pytest.approx(0.05 - (0.05 - 0.02154) * f, abs=1e-5)
    assert est["high"] == pytest.approx(0.05 + (0.11175 - 0.05) * f, abs=1e-5)
    assert "Wilson" in est["method"]


def test_what_the_grades_cover_is_stated() -> None:
    subs = _subs("A", 20) + _subs("B", 20) + _subs("C", 20)
    grades = [Grade("A-0", "A", True), Grade("A-0", "A", False),  # graded twice: the last counts
              Grade("A-1", "A", False), Grade("B-3", "B", True),
              Grade("nope", "A", True), Grade("A-2", "Z", False)]  # neither is a submission
    out = grade_estimate(grades, subs, sample=[("A-0", "A"), ("B-3", "B")])
    assert (out["n_grades"], out["n_used"], out["n_duplicates"], out["n_unknown"]) == (6, 3, 1, 2)
    assert out["n_outside_sample"] == 1
    assert out["by_annotator"]["A"]["errors"] == 0
    assert out["by_annotator"]["B"]["errors"] == 1
    assert out["strata_not_graded"] == ["C"]
    assert out["population_covered"] == 40
    assert "C" not in out["by_annotator"]
    assert "covers 40 of 60" in out["note"]


def test_grades_that_name_nothing_in_the_data_say_so() -> None:
    out = grade_estimate([Grade("x", "y", True)], _subs("A", 3))
    assert out["estimate"] is None
    assert "belongs to this export" in out["note"]


def test_verdict_words() -> None:
    assert [parse_grade(w) for w in ("pass", "OK", "0", "fail", "Error", "1", "defect")] == \
        [False, False, False, True, True, True, True]
    with pytest.raises(GradeError, match="write pass or fail"):
        parse_grade("maybe", where="grades.csv line 3")
