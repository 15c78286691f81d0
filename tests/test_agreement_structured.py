"""Structured (distance-based) alpha and the pairwise annotator matrix."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.agreement import krippendorff_alpha
from accord.core.agreement_structured import StructuredAlphaResult, pairwise_matrix, structured_alpha
from accord.core.errors import ConfigError, InvalidAnnotationError, UndefinedAgreementError


def _abs(p: float, q: float) -> float:
    return abs(p - q)


def _span_distance(x: frozenset[int], y: frozenset[int]) -> float:
    """1 - Jaccard of two sets of token indices (0 for two empty sets)."""
    union = x | y
    return 1.0 - len(x & y) / len(union) if union else 0.0


def test_hand_computed_example() -> None:
    # Items a: (0, 0), b: (1, 1), c: (0, 1) with d = |p - q|.
    # Within-item pairs: d(0,0) = 0, d(1,1) = 0, d(0,1) = 1 -> D_o = 1/3.
    # Cross-item pairs (12): a-b 4 pairs at 1 -> 4; a-c: 0,1,0,1 -> 2; b-c: 1,0,1,0 -> 2;
    # D_e = 8/12 = 2/3, alpha = 1 - (1/3)/(2/3) = 0.5.
    units = {"a": {"x": 0, "y": 0}, "b": {"x": 1, "y": 1}, "c": {"x": 0, "y": 1}}
    res = structured_alpha(units, _abs)
    assert isinstance(res, StructuredAlphaResult)
    assert res.alpha == pytest.approx(0.5, abs=1e-15)
    assert res.observed_distance == pytest.approx(1 / 3, abs=1e-15)
    assert res.expected_distance == pytest.approx(2 / 3, abs=1e-15)
    assert (res.n_items, res.n_annotations, res.n_observed_pairs, res.n_expected_pairs) == (3, 6, 3, 12)
    assert not res.expected_sampled


def test_identical_annotations_give_one() -> None:
    rng = np.random.default_rng(0)
    units = {}
    for item in range(30):
        spans = frozenset(rng.choice(50, size=int(rng.integers(1, 8)), replace=False).tolist())
        units[f"item{item}"] = {f"ann{k}": spans for k in range(int(rng.integers(2, 5)))}
    assert structured_alpha(units, _span_distance).alpha == 1.0


def test_random_annotations_give_about_zero() -> None:
    rng = np.random.default_rng(1)
    units = {
        item: {ann: frozenset(rng.choice(20, size=int(rng.integers(1, 6)), replace=False).tolist()) for ann in "abc"}
        for item in range(300)
    }
    res = structured_alpha(units, _span_distance, max_expected_pairs=20_000, seed=0)
    assert res.expected_sampled
    assert abs(res.alpha) < 0.05


def test_sampling_is_seeded_and_close_to_enumeration() -> None:
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 10, 60)
    units = {
        i: {a: float(truth[i] + (rng.integers(-1, 2) if rng.random() < 0.4 else 0)) for a in "abcd"} for i in range(60)
    }
    exact = structured_alpha(units, _abs, max_expected_pairs=10**6)
    sampled = structured_alpha(units, _abs, max_expected_pairs=5_000, seed=7)
    assert not exact.expected_sampled
    assert sampled.expected_sampled
    assert sampled == structured_alpha(units, _abs, max_expected_pairs=5_000, seed=7)
    assert sampled.n_expected_pairs == 5_000
    assert sampled.alpha == pytest.approx(exact.alpha, abs=0.02)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(2, 12), n_cats=st.integers(2, 4))
def test_matches_brute_force_definition(seed: int, n_items: int, n_cats: int) -> None:
    rng = np.random.default_rng(seed)
    units = {i: {a: int(rng.integers(0, n_cats)) for a in range(int(rng.integers(1, 5)))} for i in range(n_items)}
    within = [float(x != y) for anns in units.values() for x, y in itertools.combinations(anns.values(), 2)]
    flat = [(i, x) for i, anns in units.items() for x in anns.values()]
    across = [float(x != y) for (i, x), (j, y) in itertools.combinations(flat, 2) if i != j]
    try:
        alpha: float | None = structured_alpha(units, lambda x, y: float(x != y)).alpha
    except UndefinedAgreementError:
        alpha = None
    if alpha is None:  # undefined exactly when there is nothing to compare
        assert not within or not across or sum(across) == 0
    else:
        assert alpha == pytest.approx(1 - np.mean(within) / np.mean(across), abs=1e-12)


def test_close_to_krippendorff_nominal_with_many_items() -> None:
    # Not identical by construction (see the module docstring), but close on large data.
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, 400)
    ratings = np.where(rng.random((400, 3)) < 0.7, truth[:, None], rng.integers(0, 4, (400, 3)))
    units = {i: {r: int(ratings[i, r]) for r in range(3)} for i in range(400)}
    res = structured_alpha(units, lambda x, y: float(x != y), max_expected_pairs=50_000)
    assert res.alpha == pytest.approx(krippendorff_alpha(ratings), abs=0.02)


def test_structured_alpha_errors() -> None:
    with pytest.raises(UndefinedAgreementError, match="no item has annotations from two"):
        structured_alpha({"a": {"x": 1}, "b": {"y": 2}}, _abs)
    with pytest.raises(UndefinedAgreementError, match="two or more items"):
        structured_alpha({"a": {"x": 1, "y": 2}}, _abs)
    with pytest.raises(UndefinedAgreementError, match="expected distance is 0"):
        structured_alpha({"a": {"x": 1, "y": 1}, "b": {"x": 1, "y": 1}}, _abs)
    with pytest.raises(InvalidAnnotationError, match="finite floats"):
        structured_alpha({"a": {"x": 1, "y": 2}, "b": {"x": 1}}, lambda p, q: float("nan"))
    with pytest.raises(ConfigError, match="max_expected_pairs"):
        structured_alpha({"a": {"x": 1, "y": 2}}, _abs, max_expected_pairs=0)


def test_pairwise_matrix() -> None:
    units = {
        "i1": {"b": 1, "a": 1, "c": 2},
        "i2": {"a": 2, "b": 3},
        "i3": {"c": 5, "d": 5},
    }
    annotators, m = pairwise_matrix(units, lambda x, y: float(x == y))
    assert annotators == ("a", "b", "c", "d")
    # a-b: i1 agree, i2 disagree -> 0.5; a-c: i1 disagree -> 0; c-d: i3 agree -> 1; a-d never together.
    assert m[0, 1] == m[1, 0] == 0.5
    assert m[0, 2] == 0.0
    assert m[2, 3] == 1.0
    assert np.isnan(m[0, 3])
    assert np.isnan(np.diag(m)).all()
    # Asymmetric scores are kept in order: m[i, j] = mean s(annotation_i, annotation_j).
    _, diff = pairwise_matrix(units, lambda x, y: float(y - x))
    assert diff[0, 1] == 0.5
    assert diff[1, 0] == -0.5


def test_pairwise_matrix_unsortable_ids_keep_first_seen_order() -> None:
    units = {"i": {1: "x", "b": "x"}}
    annotators, m = pairwise_matrix(units, lambda x, y: float(x == y))
    assert annotators == (1, "b")
    assert m[0, 1] == 1.0
