"""Tests for accord.core.qa.active_learning."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import cdist

from accord.core.qa.active_learning import (
    ActiveLearningInputError,
    committee_disagreement,
    k_center_greedy,
    uncertainty_ranking,
)


def test_known_answers_three_items():
    p = np.array([[0.6, 0.3, 0.1], [0.45, 0.45, 0.1], [0.34, 0.33, 0.33]])
    lc = uncertainty_ranking(p, method="least_confidence")
    assert lc.scores.tolist() == pytest.approx([0.4, 0.55, 0.66])
    assert lc.order.tolist() == [2, 1, 0]
    # margins 0.3, 0.0, 0.01 -> item 1 (tie at the top) first
    mg = uncertainty_ranking(p, method="margin")
    assert mg.order.tolist() == [1, 2, 0]
    ent = uncertainty_ranking(p, method="entropy")
    assert ent.scores == pytest.approx(stats.entropy(p, axis=1))
    assert ent.order.tolist()[0] == 2


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(1, 20), st.integers(0, 10_000))
def test_uniform_row_ranks_first_for_every_criterion(c, n, seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(c) * 0.5, size=n)
    p = np.vstack([p, np.full(c, 1.0 / c)])
    for m in ("least_confidence", "margin", "entropy"):
        r = uncertainty_ranking(p, method=m)
        assert r.scores[n] == pytest.approx(r.scores.max())
        assert sorted(r.order.tolist()) == list(range(n + 1))


def test_committee_vote_entropy_and_kl():
    # 3 models, 2 items, 2 classes; item 0 unanimous, item 1 split 2:1.
    p = np.array([
        [[0.9, 0.1], [0.8, 0.2]],
        [[0.7, 0.3], [0.3, 0.7]],
        [[0.8, 0.2], [0.6, 0.4]],
    ])
    ve = committee_disagreement(p, method="vote_entropy")
    assert ve.scores[0] == 0.0
    assert ve.scores[1] == pytest.approx(stats.entropy([2 / 3, 1 / 3]))
    kl = committee_disagreement(p, method="kl_to_consensus")
    cons = p.mean(axis=0)
    expected = [np.mean([stats.entropy(p[m, i], cons[i]) for m in range(3)]) for i in range(2)]
    assert kl.scores == pytest.approx(expected)
    assert kl.order.tolist() == [1, 0]


def test_identical_committee_has_zero_disagreement():
    p = np.tile(np.array([[0.2, 0.8], [0.5, 0.5]]), (4, 1, 1))
    assert committee_disagreement(p, method="kl_to_consensus").scores == pytest.approx([0.0, 0.0])


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 40), st.integers(1, 5), st.integers(0, 10_000))
def test_k_center_picks_farthest_point(n, dim, seed):
    x = np.random.default_rng(seed).normal(size=(n, dim))
    k = min(n, 5)
    r = k_center_greedy(x, k)
    chosen = [int(r.order[0])]
    for step in range(1, k):
        d = cdist(x, x[chosen]).min(axis=1)
        d[chosen] = -1
        assert d[r.order[step]] == pytest.approx(d.max())
        chosen.append(int(r.order[step]))
    assert len(set(r.order.tolist())) == k


def test_k_center_respects_labeled_and_uncertainty():
    x = np.array([[0.0], [1.0], [10.0], [5.0], [9.0]])
    r = k_center_greedy(x, 2, already_labeled=[2])
    assert 2 not in r.order.tolist()
    assert r.order.tolist()[0] == 0  # farthest from 10 is 0
    # uncertainty zero on item 0 steers the pick elsewhere
    r = k_center_greedy(x, 1, already_labeled=[2], uncertainty=[0, 1, 1, 1, 1])
    assert r.order.tolist() == [1]


def test_errors():
    with pytest.raises(ActiveLearningInputError, match="sum to 1"):
        uncertainty_ranking([[0.5, 0.6]])
    with pytest.raises(ActiveLearningInputError, match="2-d"):
        uncertainty_ranking([0.5, 0.5])
    with pytest.raises(ActiveLearningInputError, match=">= 2 models"):
        committee_disagreement([[[0.5, 0.5]]])
    with pytest.raises(ActiveLearningInputError, match="k must be"):
        k_center_greedy([[0.0], [1.0]], 3)
    with pytest.raises(ActiveLearningInputError, match="method"):
        uncertainty_ranking([[0.5, 0.5]], method="bald")  # type: ignore[arg-type]
