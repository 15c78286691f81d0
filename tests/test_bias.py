"""Tests of accord.core.qa.bias: BH, Wilson, label distribution, agreement and gold errors per group."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from accord.core.errors import InvalidAnnotationError
from accord.core.qa.bias import (
    agreement_by_group,
    benjamini_hochberg,
    error_rate_by_group,
    label_distribution_test,
    wilson_interval,
)
from accord.core.qa.intervals import InvalidProportionError


def test_bh_paper_example():
    # Benjamini & Hochberg (1995), section 4: 15 p-values from a myocardial infarction
    # trial; at q = 0.05 BH rejects the four smallest (Bonferroni only three).
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
         0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000]
    reject, adj = benjamini_hochberg(p, alpha=0.05)
    assert reject.tolist() == [True] * 4 + [False] * 11
    assert adj[3] == pytest.approx(0.0095 * 15 / 4)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.sampled_from([0.01, 0.05, 0.1, 0.25]))
def test_bh_matches_statsmodels(p, alpha):
    reject, adj = benjamini_hochberg(p, alpha=alpha)
    sm_reject, sm_adj, _, _ = multipletests(p, alpha=alpha, method="fdr_bh")
    np.testing.assert_array_equal(reject, sm_reject)
    np.testing.assert_allclose(adj, sm_adj, rtol=1e-12, atol=1e-15)


def test_bh_nan_and_errors():
    reject, adj = benjamini_hochberg([0.01, np.nan, 0.02])
    assert reject.tolist() == [True, False, True]
    assert np.isnan(adj[1])
    assert adj[0] == pytest.approx(0.02)
    with pytest.raises(InvalidAnnotationError, match=r"p-values must lie in \[0, 1\]"):
        benjamini_hochberg([1.5])
    with pytest.raises(InvalidAnnotationError, match="alpha must be in"):
        benjamini_hochberg([0.5], alpha=1.0)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 500), st.data())
def test_wilson_matches_statsmodels(n, data):
    k = data.draw(st.integers(0, n))
    lo, hi = wilson_interval(k, n)
    sm_lo, sm_hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert lo == pytest.approx(sm_lo, abs=1e-9)
    assert hi == pytest.approx(sm_hi, abs=1e-9)


def test_wilson_edges():
    assert all(np.isnan(wilson_interval(0, 0)))
    with pytest.raises(InvalidProportionError, match="0 <= successes <= n"):
        wilson_interval(5, 3)


def _table_rows(table, groups, labels):
    g, lab = [], []
    for i, row in enumerate(table):
        for j, c in enumerate(row):
            g += [groups[i]] * c
            lab += [labels[j]] * c
    return g, lab


def test_chi_square_by_hand():
    # [[10, 20], [30, 40]]: expected [[12, 18], [28, 42]];
    # chi2 = 4/12 + 4/18 + 4/28 + 4/42 = 0.79365, 1 dof, no continuity correction.
    g, lab = _table_rows([[10, 20], [30, 40]], ["A", "B"], ["pos", "neg"])
    r = label_distribution_test(g, lab)
    assert r.test == "chi2"
    assert r.counts.tolist() == [[20, 10], [40, 30]]  # columns sorted: neg, pos
    assert r.statistic == pytest.approx(0.7936508, rel=1e-6)
    assert r.dof == 1
    assert r.p_value == pytest.approx(0.37299, abs=1e-4)
    np.testing.assert_allclose(r.proportions.sum(axis=1), 1.0)


def test_fisher_for_small_2x2():
    # Wikipedia "Fisher's exact test" example: [[1, 9], [11, 3]], two-sided p = 0.002759.
    # Its smallest expected count is 10 * 12 / 24 = 5, so Cochran's rule (< 5) keeps chi-square
    # at the default threshold; a stricter threshold switches to Fisher.
    g, lab = _table_rows([[1, 9], [11, 3]], ["men", "women"], ["dieting", "not"])
    assert label_distribution_test(g, lab).test == "chi2"
    r = label_distribution_test(g, lab, min_expected=6.0)
    assert r.test == "fisher"
    assert r.p_value == pytest.approx(0.002759, abs=2e-6)
    assert r.statistic == pytest.approx((1 * 3) / (9 * 11))  # sample odds ratio


def test_distribution_undefined_with_one_group():
    r = label_distribution_test(["A", "A"], ["x", "y"])
    assert np.isnan(r.p_value)
    with pytest.raises(InvalidAnnotationError, match="one entry per judgment"):
        label_distribution_test(["A"], ["x", "y"])


def test_agreement_by_group_counts_pairs():
    # group A: item 1 (x, x, y) -> 3 pairs, 1 agrees; item 2 (x, x) -> 1 pair, agrees.
    # group B: item 3 (y, z) -> 1 pair, 0 agree.
    items = [1, 1, 1, 2, 2, 3, 3]
    anns = ["a", "b", "c", "a", "b", "a", "b"]
    labels = ["x", "x", "y", "x", "x", "y", "z"]
    groups = ["A", "A", "A", "A", "A", "B", "B"]
    r = agreement_by_group(items, anns, labels, groups)
    assert r.groups.tolist() == ["A", "B"]
    assert r.n_pairs.tolist() == [4, 1]
    assert r.n_agree.tolist() == [2, 0]
    assert r.agreement_score.tolist() == [0.5, 0.0]
    assert r.ci_low[0] < 0.5 < r.ci_high[0]
    assert not r.flagged.any()  # far too little data to flag anything
    with pytest.raises(InvalidAnnotationError, match="item-level group"):
        agreement_by_group([1, 1], ["a", "b"], ["x", "x"], ["A", "B"])


def test_agreement_flags_a_group_that_disagrees():
    rng = np.random.default_rng(0)
    items, anns, labels, groups = [], [], [], []
    for i in range(300):
        grp = ["A", "B", "C"][i % 3]
        p_agree = 0.5 if grp == "C" else 0.9
        truth = rng.integers(0, 3)
        for a in range(3):
            lab = truth if rng.random() < p_agree else rng.integers(0, 3)
            items.append(i)
            anns.append(a)
            labels.append(int(lab))
            groups.append(grp)
    r = agreement_by_group(items, anns, labels, groups, alpha=0.05)
    assert r.flagged.tolist()[2]
    assert r.agreement_score[2] < r.agreement_score[0]
    assert np.all(r.adjusted_p_value >= r.p_value)


def test_error_rate_by_group_and_annotator():
    # group "night": 12 of 40 wrong; "day": 4 of 160 wrong.
    correct = [False] * 12 + [True] * 28 + [False] * 4 + [True] * 156
    groups = ["night"] * 40 + ["day"] * 160
    r = error_rate_by_group(correct, groups)
    assert r.cells == (("day",), ("night",))
    assert r.n_judgments.tolist() == [160, 40]
    assert r.n_errors.tolist() == [4, 12]
    assert r.error_rate.tolist() == pytest.approx([0.025, 0.3])
    assert r.flagged.all()  # each cell differs from the rest
    anns = (["u1"] * 20 + ["u2"] * 20) + (["u1"] * 80 + ["u2"] * 80)
    # u1 makes all 12 night errors, u2 none
    correct2 = [False] * 12 + [True] * 8 + [True] * 20 + [False] * 2 + [True] * 78 + [False] * 2 + [True] * 78
    r2 = error_rate_by_group(correct2, groups, annotators=anns)
    assert r2.cells == (("u1", "day"), ("u1", "night"), ("u2", "day"), ("u2", "night"))
    assert r2.n_errors.tolist() == [2, 12, 2, 0]
    assert r2.flagged.tolist() == [True, True, False, False]
    with pytest.raises(InvalidAnnotationError, match="annotators need one entry"):
        error_rate_by_group(correct2, groups, annotators=["u1"])


def test_alpha_by_group_matches_the_krippendorff_package():
    """Per-group nominal alpha = the `krippendorff` package on that group's items x annotators.

    Both groups have the same annotator accuracy, but group B is mostly one class, so chance
    agreement is high there: percent agreement is close (0.79 vs 0.73 with this seed) while
    alpha is far apart (0.68 vs 0.28)."""
    kd = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(7)
    items, anns, labels, groups = [], [], [], []
    matrices = {"A": [], "B": []}
    for k in range(60):
        g = "A" if k < 30 else "B"
        truth = rng.choice(["x", "y", "z"]) if g == "A" else ("x" if rng.random() < 0.9 else "y")
        row = []
        for a in ("ann", "bob", "cy"):
            v = truth if rng.random() < 0.8 else rng.choice(["x", "y", "z"])
            if rng.random() < 0.1:  # a missing judgment
                row.append(np.nan)
                continue
            items.append(k)
            anns.append(a)
            labels.append(v)
            groups.append(g)
            row.append({"x": 0.0, "y": 1.0, "z": 2.0}[v])
        matrices[g].append(row)
    r = agreement_by_group(items, anns, labels, groups)
    for name, rows in matrices.items():
        j = list(r.groups).index(name)
        expected = kd.alpha(reliability_data=np.array(rows).T, level_of_measurement="nominal")
        assert r.alpha_score[j] == pytest.approx(expected, abs=1e-9)
    a, b = list(r.groups).index("A"), list(r.groups).index("B")
    assert abs(r.agreement_score[b] - r.agreement_score[a]) < 0.1
    assert r.alpha_score[a] - r.alpha_score[b] > 0.3
