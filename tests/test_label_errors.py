"""Tests of accord.core.qa.label_errors (confident learning, Northcutt, Jiang & Chuang, JAIR 2021)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cleanlab.count import compute_confident_joint
from cleanlab.filter import find_label_issues as cleanlab_find_label_issues
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from accord.core.errors import InvalidAnnotationError
from accord.core.qa.label_errors import confident_joint, find_label_issues


def _noisy(seed: int, n: int = 300, k: int = 4, flip: float = 0.25):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2.5
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    y = np.where(rng.random(n) < 1 - flip, p.argmax(axis=1), rng.integers(0, k, n))
    return y, p


def test_confident_joint_by_hand():
    # thresholds: t0 = mean(.9, .8, .95) = .883, t1 = mean(.7, .9, .1) = .567.
    # item 0 (.9 >= t0) -> (0, 0); item 1 (.8 < t0, .2 < t1) -> none; item 5 -> (0, 0);
    # items 2, 3 -> (1, 1); item 4 (labelled 1, p0 = .9 >= t0) -> (1, 0).
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9], [0.9, 0.1], [0.95, 0.05]])
    y = [0, 0, 1, 1, 1, 0]
    raw = confident_joint(y, p, calibrate=False)
    assert raw.thresholds.tolist() == pytest.approx([0.88333333, 0.56666667])
    assert raw.true_guess.tolist() == [0, -1, 1, 1, 0, 0]
    assert raw.counts.tolist() == [[2, 0], [1, 2]]
    # Eq. 2: row 0 rescaled to its 3 labels -> [3, 0]; row 1 already sums to 3.
    assert confident_joint(y, p).counts.tolist() == [[3, 0], [1, 2]]
    r = find_label_issues(y, p)
    assert r.ranking.tolist() == [4]
    assert r.is_issue.tolist() == [False, False, False, False, True, False]
    assert r.n_issues == 1
    assert r.issue_rate == pytest.approx(1 / 6)
    np.testing.assert_allclose(r.joint, [[0.5, 0], [1 / 6, 2 / 6]])
    np.testing.assert_allclose(r.noise_matrix, [[0.75, 0], [0.25, 1]])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100_000), st.integers(2, 6))
def test_uncalibrated_confident_joint_equals_cleanlab(seed, k):
    y, p = _noisy(seed, n=150, k=k)
    assume(len(np.unique(y)) == k)  # every class present, as cleanlab requires
    ours = confident_joint(y, p, calibrate=False).counts
    np.testing.assert_array_equal(ours, compute_confident_joint(y, p, calibrate=False))
    cal = confident_joint(y, p).counts
    np.testing.assert_array_equal(cal.sum(axis=1), np.bincount(y, minlength=k))  # Eq. 2 row totals
    # calibrated counts equal cleanlab's up to how exact rounding ties are broken
    assert np.abs(cal - compute_confident_joint(y, p)).sum() <= 2 * k


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "prune_by_class", "both", "confident_learning"])
def test_flags_agree_with_cleanlab(filter_by):
    differing = 0
    total = 0
    for seed in range(15):
        y, p = _noisy(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = cleanlab_find_label_issues(y, p, filter_by=filter_by)
        ours = find_label_issues(y, p, filter_by=filter_by).is_issue
        differing += int((ours != theirs).sum())
        total += len(y)
    # identical except where a rounding tie in calibration is broken differently (a few items)
    assert differing / total <= 0.005


def test_confident_learning_variant_is_exactly_cleanlab():
    for seed in range(10):
        y, p = _noisy(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = cleanlab_find_label_issues(y, p, filter_by="confident_learning")
        np.testing.assert_array_equal(find_label_issues(y, p, filter_by="confident_learning").is_issue, theirs)


def test_finds_planted_flips_and_never_flags_the_argmax():
    rng = np.random.default_rng(5)
    n, k = 600, 3
    truth = rng.integers(0, k, n)
    p = np.full((n, k), 0.05)
    p[np.arange(n), truth] = 0.9
    p /= p.sum(axis=1, keepdims=True)
    y = truth.copy()
    flip = rng.random(n) < 0.1
    y[flip] = (truth[flip] + 1) % k
    for fb in ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning"):
        r = find_label_issues(y, p, filter_by=fb)
        np.testing.assert_array_equal(r.is_issue, flip)
        assert not np.any(r.is_issue & (p.argmax(axis=1) == y))


def test_ranking_orders_by_score():
    y, p = _noisy(11)
    for rank_by in ("self_confidence", "normalized_margin"):
        r = find_label_issues(y, p, rank_by=rank_by)
        assert sorted(r.ranking.tolist()) == np.flatnonzero(r.is_issue).tolist()
        s = r.quality_score[r.ranking]
        assert np.all(np.diff(s) >= 0)
        assert np.all((r.quality_score >= 0) & (r.quality_score <= 1))
    self_conf = find_label_issues(y, p).quality_score
    np.testing.assert_allclose(self_conf, p[np.arange(len(y)), y])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 100_000), st.permutations(range(4)))
def test_invariant_to_renaming_classes(seed, perm):
    y, p = _noisy(seed, n=120)
    assume(len(np.unique(y)) == 4)
    perm = np.array(perm)
    p2 = np.empty_like(p)
    p2[:, perm] = p  # class c becomes perm[c]
    # The uncalibrated joint and the flags built on it permute exactly; calibration
    # rounding breaks exact ties by column position, so there only row totals are invariant.
    a = confident_joint(y, p, calibrate=False).counts
    b = confident_joint(perm[y], p2, calibrate=False).counts
    np.testing.assert_array_equal(b[np.ix_(perm, perm)], a)
    fa = find_label_issues(y, p, filter_by="confident_learning")
    fb = find_label_issues(perm[y], p2, filter_by="confident_learning")
    np.testing.assert_array_equal(fa.is_issue, fb.is_issue)
    np.testing.assert_array_equal(fb.confident_joint[perm].sum(axis=1), fa.confident_joint.sum(axis=1))
    assert np.abs(fb.confident_joint[np.ix_(perm, perm)] - fa.confident_joint).sum() <= 8
    np.testing.assert_allclose(fb.noise_matrix.sum(axis=0), 1.0)


def test_errors():
    p = np.array([[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(InvalidAnnotationError, match="n_classes >= 2"):
        find_label_issues([0], np.array([1.0]))
    with pytest.raises(InvalidAnnotationError, match="one entry per row"):
        find_label_issues([0, 1, 1], p)
    with pytest.raises(InvalidAnnotationError, match="integer class indices"):
        find_label_issues(["a", "b"], p)
    with pytest.raises(InvalidAnnotationError, match=r"labels must be in 0\.\.1"):
        find_label_issues([0, 2], p)
    with pytest.raises(InvalidAnnotationError, match="sum to 1"):
        find_label_issues([0, 1], p * 2)
    with pytest.raises(InvalidAnnotationError, match="fewer than 2 distinct classes"):
        find_label_issues([1, 1], p)
