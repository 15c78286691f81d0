"""CROWDLAB (issue 20): :func:`accord.core.qa.consensus.crowdlab` against cleanlab 2.x's
``get_label_quality_multiannotator(consensus_method="best_quality")`` on random data,
plus its error paths. cleanlab is a test-only dependency; core never imports it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from cleanlab.multiannotator import get_label_quality_multiannotator

from accord.core.errors import InvalidAnnotationError
from accord.core.qa.consensus import crowdlab


def _simulate(seed: int, n: int = 300, k: int = 4, accuracies: tuple[float, ...] = (0.9, 0.75, 0.6, 0.45, 0.3),
              p_missing: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Wide (n, m) labels with NaN for missing, and a noisy model's pred_probs (n, k)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    m = len(accuracies)
    wide = np.full((n, m), np.nan)
    for a, acc in enumerate(accuracies):
        right = rng.random(n) < acc
        wrong = (truth + rng.integers(1, k, n)) % k
        wide[:, a] = np.where(right, truth, wrong)
    wide[rng.random((n, m)) < p_missing] = np.nan
    empty = np.isnan(wide).all(axis=1)
    wide[empty, 0] = truth[empty]  # cleanlab needs one label per item
    for a in range(m):  # and one item per annotator
        if np.isnan(wide[:, a]).all():
            wide[0, a] = truth[0]
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[truth]
    pp = np.exp(logits)
    return wide, pp / pp.sum(axis=1, keepdims=True)


def _long(wide: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, a = np.nonzero(~np.isnan(wide))
    return i, a, wide[i, a].astype(int)


def _cleanlab(wide: np.ndarray, pp: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = get_label_quality_multiannotator(
        wide, pp, consensus_method="best_quality", return_weights=True, verbose=False)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_matches_cleanlab_best_quality(seed: int) -> None:
    wide, pp = _simulate(seed)
    ref = _cleanlab(wide, pp)
    i, a, lab = _long(wide)
    ours = crowdlab(i, a, lab, pp, classes=range(pp.shape[1]))
    lq = ref["label_quality"]
    assert ours.item_ids.tolist() == list(range(len(wide)))
    np.testing.assert_array_equal(ours.labels.astype(int), lq["consensus_label"].to_numpy())
    # only the summation order differs from cleanlab (bincount vs per-annotator loops): 1e-12
    np.testing.assert_allclose(ours.consensus_quality, lq["consensus_quality_score"].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.annotator_agreement, lq["annotator_agreement"].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.n_votes, lq["num_annotations"].to_numpy())
    stats = ref["annotator_stats"].sort_index()
    np.testing.assert_allclose(ours.annotator_quality, stats["annotator_quality"].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.agreement_with_consensus, stats["agreement_with_consensus"].to_numpy(),
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.n_labeled, stats["num_examples_labeled"].to_numpy())
    assert ours.model_weight == pytest.approx(ref["model_weight"], abs=1e-12)
    np.testing.assert_allclose(ours.annotator_weights, ref["annotator_weight"], rtol=0, atol=1e-12)
    # the best annotator (90% accurate) outweighs the worst (30%)
    assert ours.annotator_weights[0] > 5 * ours.annotator_weights[-1]


def test_matches_cleanlab_with_string_ids_and_vote_ties() -> None:
    """Two annotators per item make vote ties common: those go to the model, as cleanlab."""
    wide, pp = _simulate(7, n=200, k=3, accuracies=(0.8, 0.5), p_missing=0.1)
    ref = _cleanlab(wide, pp)
    i, a, lab = _long(wide)
    names = np.array(["cat", "dog", "eel"], dtype=object)
    ours = crowdlab([f"item{j:04d}" for j in i], [f"ann-{x}" for x in a], names[lab], pp,
                    classes=names.tolist())
    assert (wide[:, 0] != wide[:, 1]).sum() > 20  # many ties really were broken
    np.testing.assert_array_equal(ours.labels, names[ref["label_quality"]["consensus_label"].to_numpy()])
    np.testing.assert_allclose(ours.consensus_quality, ref["label_quality"]["consensus_quality_score"].to_numpy(),
                               rtol=0, atol=1e-12)


def test_a_better_model_earns_a_larger_weight() -> None:
    wide, pp = _simulate(3)
    i, a, lab = _long(wide)
    truth_like = np.eye(pp.shape[1])[np.argmax(pp, axis=1)] * 0.5 + pp * 0.5
    random_pp = np.random.default_rng(0).dirichlet(np.ones(pp.shape[1]), size=len(pp))
    good = crowdlab(i, a, lab, truth_like, classes=range(4))
    bad = crowdlab(i, a, lab, random_pp, classes=range(4))
    assert good.model_weight > bad.model_weight


def test_pred_probs_shape_mismatch_names_the_expected_shape() -> None:
    with pytest.raises(InvalidAnnotationError, match=r"shape \(n_items, n_classes\) = \(2, 2\).*got \(2, 3\)") as e:
        crowdlab([1, 1, 2, 2], ["a", "b", "a", "b"], ["x", "y", "y", "y"], np.full((2, 3), 1 / 3))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"annotators": ["a", "a", "a", "b"]}, "more than once"),
    ({"items": [1, 2, 3, 4], "pred_probs": np.full((4, 2), 0.5)}, "two or more judgments"),
    ({"pred_probs": [[np.nan, 1.0], [0.5, 0.5]]}, "finite"),
    ({"labels": ["x"] * 4, "pred_probs": np.ones((2, 1))}, "two classes"),
])
def test_bad_input(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"items": [1, 1, 2, 2], "annotators": ["a", "b", "a", "b"],
                            "labels": ["x", "y", "y", "y"], "pred_probs": [[0.9, 0.1], [0.2, 0.8]]}
    args.update(kwargs)
    with pytest.raises(InvalidAnnotationError, match=match):
        crowdlab(args["items"], args["annotators"], args["labels"], args["pred_probs"])


def test_matches_cleanlab_at_20000_items() -> None:
    """20,000 items x 5 annotators x 4 classes: the same consensus labels as cleanlab
    (the speed of this case is measured in benchmarks/bench_crowdlab.py, not here)."""
    wide, pp = _simulate(11, n=20_000)
    i, a, lab = _long(wide)
    ref = _cleanlab(wide, pp)
    ours = crowdlab(i, a, lab, pp, classes=range(4))
    np.testing.assert_array_equal(ours.labels.astype(int), ref["label_quality"]["consensus_label"].to_numpy())
    np.testing.assert_allclose(ours.consensus_quality, ref["label_quality"]["consensus_quality_score"].to_numpy(),
                               rtol=0, atol=1e-12)


def test_majority_vote_ties_past_the_model_follow_cleanlab() -> None:
    """Uniform pred_probs on a third of the items: ties go on to class frequency and annotator
    agreement, as cleanlab's ``get_majority_vote_label``; where cleanlab finally draws at random
    (it warns with the item indices) those items are left out of the comparison."""
    import warnings

    from cleanlab.multiannotator import get_majority_vote_label

    wide, pp = _simulate(5, n=240, k=3, accuracies=(0.8, 0.6, 0.5, 0.4), p_missing=0.5)
    pp[::3] = 1 / 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = get_majority_vote_label(wide, pp, verbose=False)
    random_items: set[int] = set()
    for w in caught:
        text = str(w.message)
        if "random selection" in text:
            random_items |= {int(x) for x in text[text.index("[") + 1:text.index("]")].split(",")}
    i, a, lab = _long(wide)
    ours = crowdlab(i, a, lab, pp, classes=range(3))
    keep = np.array([j not in random_items for j in range(len(wide))])
    counts = np.stack([(wide == c).sum(axis=1) for c in range(3)], axis=1)
    vote_tied = (counts == counts.max(axis=1, keepdims=True)).sum(axis=1) > 1
    assert (vote_tied[::3] & keep[::3]).sum() > 10  # many ties went past the model
    np.testing.assert_array_equal(ours.majority_labels.astype(int)[keep], ref[keep])


def test_tie_broken_by_annotator_agreement_as_cleanlab() -> None:
    """Items 0 and 1 tie on votes, on the (uniform) model and on class frequency (5 and 5), so
    the label of the annotator who agrees more with the untied votes wins: ``a`` (agreement 1)
    over ``b`` (agreement 0)."""
    from cleanlab.multiannotator import get_majority_vote_label

    nan = np.nan
    wide = np.array([[0, 1, nan], [1, 0, nan], [0, 1, 0], [1, 0, 1]])
    pp = np.array([[0.5, 0.5], [0.5, 0.5], [0.7, 0.3], [0.4, 0.6]])
    ref = get_majority_vote_label(wide, pp, verbose=False)
    i, a, lab = _long(wide)
    ours = crowdlab(i, a, lab, pp, classes=[0, 1])
    assert ours.majority_labels.tolist() == ref.tolist() == [0, 1, 0, 1]
