"""Truth inference on real crowdsourcing data with expert truth (issue 20).

The bundled sets in ``tests/fixtures/crowd/`` (sources, commits and licences in its README):
Snow et al. (2008) RTE, temporal ordering and word-sense disambiguation, as redistributed by
CrowdTruth-core, and Get-Another-Label's "BarzanMozafari" set. On each, our aggregators must
give crowd-kit 1.4's labels (and posteriors, to the tolerance the generated-data tests in
tests/test_truth_inference.py and tests/test_consensus.py use), and majority vote must
reproduce a number CrowdTruth-core published for the RTE set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import GLAD, MACE, DawidSkene, MajorityVote, OneCoinDawidSkene, Wawa, ZeroBasedSkill
from crowdkit_support import patch_check_is_fitted, quiet_fit, same_labels_and_probas

from accord.core.qa.consensus import (
    dawid_skene,
    glad,
    mace,
    majority_vote,
    one_coin_dawid_skene,
    wawa,
    zero_based_skill,
)

CROWD = Path(__file__).parent / "fixtures" / "crowd"
SETS = {
    "rte": CROWD / "crowdtruth" / "snow2008_rte",
    "temp": CROWD / "crowdtruth" / "snow2008_temp",
    "wsd": CROWD / "crowdtruth" / "snow2008_wsd",
    "mozafari": CROWD / "get_another_label" / "barzan_mozafari",
}


@dataclass(frozen=True)
class Crowd:
    df: pd.DataFrame  # crowd-kit's long format: task, worker (str), label (int code)
    classes: list[str]  # answer of each code
    truth: pd.Series  # task -> answer (str)


def _load(folder: Path) -> Crowd:
    """Rows sorted by worker; answers coded in order of first appearance, then rows sorted by
    (worker, code). crowd-kit's MACE draws its start in first-appearance order and ours in sorted
    order; this makes the two the same (see test_mace_matches_crowdkit)."""
    ans = pd.read_csv(folder / "answer.csv", dtype=str, keep_default_na=False).sort_values("worker", kind="stable")
    codes, classes = pd.factorize(ans["answer"])
    df = pd.DataFrame({"task": ans["question"].to_numpy(), "worker": ans["worker"].to_numpy(), "label": codes})
    df = df.sort_values(["worker", "label"], kind="stable").reset_index(drop=True)
    truth = pd.read_csv(folder / "truth.csv", dtype=str, keep_default_na=False).set_index("question")["truth"]
    return Crowd(df=df, classes=[str(c) for c in classes], truth=truth)


_CACHE: dict[str, Crowd] = {}


def crowd(name: str) -> Crowd:
    if name not in _CACHE:
        _CACHE[name] = _load(SETS[name])
    return _CACHE[name]


@pytest.fixture(autouse=True)
def crowdkit_predict(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_check_is_fitted(monkeypatch)


# --------------------------------------------------------------------------- the fixtures


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_item_has_one_truth_among_the_answers_classes(name: str) -> None:
    c = crowd(name)
    assert not c.truth.index.duplicated().any()
    assert set(c.df.task) == set(c.truth.index)
    assert set(c.truth) <= set(c.classes)
    assert not c.df.duplicated(["task", "worker"]).any()


# --------------------------------------------------------------------------- known answer


def test_majority_vote_f1_on_rte_matches_crowdtruth_core() -> None:
    # CrowdTruth-core, tutorial/notebooks/"CrowdTruth vs. MACE vs. Majority Vote for Recognizing
    # Textual Entailment.ipynb" (commit 1330d5d275b01d93618513ca0956a0b559dd94a2), printed output:
    # "Majority Vote F1 score for annotation 'true': 0.8853211009174312", where an item counts as
    # "true" when at least half of its workers answered 1 (compute_majority_vote: share >= 0.5).
    c = crowd("rte")
    one = c.classes.index("1")
    r = majority_vote(c.df.task, c.df.worker, c.df.label)  # ties left unresolved and flagged
    says_true = r.tied | (r.labels == one)
    gold_true = c.truth.loc[list(r.item_ids)].to_numpy() == "1"
    tp = int((says_true & gold_true).sum())
    fp = int((says_true & ~gold_true).sum())
    fn = int((~says_true & gold_true).sum())
    assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(0.8853211009174312, abs=1e-15)


# --------------------------------------------------------------------------- differential vs crowd-kit


@pytest.mark.parametrize("name", sorted(SETS))
def test_majority_vote_matches_crowdkit(name: str) -> None:
    # crowd-kit's MajorityVote breaks ties with idxmax over sorted label columns: the first class,
    # our tie_break="first" with classes in sorted (code) order.
    df = crowd(name).df
    ck = quiet_fit(MajorityVote(), df)
    ours = majority_vote(df.task, df.worker, df.label, tie_break="first")
    items = list(ours.item_ids)
    assert (ck.labels_.loc[items].to_numpy().astype(int) == ours.labels.astype(int)).all()
    np.testing.assert_allclose(ck.probas_.loc[items, list(ours.classes)].to_numpy(),
                               ours.counts / ours.counts.sum(axis=1, keepdims=True), atol=1e-12)


@pytest.mark.parametrize("name", sorted(SETS))
def test_dawid_skene_labels_match_crowdkit(name: str) -> None:
    df = crowd(name).df
    ck = quiet_fit(DawidSkene(n_iter=100, tol=1e-5), df)
    ours = dawid_skene(df.task, df.worker, df.label)
    assert (ck.labels_.loc[list(ours.item_ids)].to_numpy().astype(int) == ours.labels.astype(int)).all()


@pytest.mark.parametrize("name", ["rte", "temp", "wsd", "mozafari"])
def test_dawid_skene_posteriors_match_crowdkit(name: str) -> None:
    # the tolerance of test_dawid_skene_labels_agree_with_crowdkit_at_default_settings (tests/test_consensus.py)
    df = crowd(name).df
    ck = quiet_fit(DawidSkene(n_iter=100, tol=1e-5), df)
    ours = dawid_skene(df.task, df.worker, df.label)
    theirs = ck.probas_.loc[list(ours.item_ids), list(ours.classes)].to_numpy()
    assert np.abs(theirs - ours.posteriors).max() < 1e-6


def test_dawid_skene_a_worker_who_gave_one_answer_matches_crowdkit_at_every_iteration() -> None:
    """BarzanMozafari's worker A2289G4S8YGPX9 always answered 0: crowd-kit (and Dawid & Skene
    1979) spread the worker's column over the answers they gave, so P(0 | true) = 1 for every
    true class; a floor on every cell (0.5 / 0.5 here) drifted the posteriors by 0.6 over 20
    fixed iterations before the fix."""
    df = crowd("mozafari").df
    assert set(df.loc[df.worker == "A2289G4S8YGPX9", "label"]) == {0}
    ck = quiet_fit(DawidSkene(n_iter=20, tol=1e-300), df)
    ours = dawid_skene(df.task, df.worker, df.label, max_iter=20, tol=1e-300)
    theirs = ck.probas_.loc[list(ours.item_ids), list(ours.classes)].to_numpy()
    assert np.abs(theirs - ours.posteriors).max() < 1e-6
    a = list(ours.annotator_ids).index("A2289G4S8YGPX9")
    np.testing.assert_allclose(ours.confusion[a, 0, :], 1.0)


@pytest.mark.parametrize("name", sorted(SETS))
def test_wawa_matches_crowdkit(name: str) -> None:
    df = crowd(name).df
    ck = quiet_fit(Wawa(), df)
    ours = wawa(df.task, df.worker, df.label)
    same_labels_and_probas(ck, ours)
    np.testing.assert_allclose(ck.skills_.loc[list(ours.annotator_ids)].to_numpy(), ours.skills, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SETS))
def test_one_coin_dawid_skene_matches_crowdkit(name: str) -> None:
    df = crowd(name).df
    ck = quiet_fit(OneCoinDawidSkene(n_iter=100, tol=1e-5), df)
    ours = one_coin_dawid_skene(df.task, df.worker, df.label)
    same_labels_and_probas(ck, ours)
    np.testing.assert_allclose(ck.skills_.loc[list(ours.annotator_ids)].to_numpy(), ours.skills, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SETS))
def test_mace_matches_crowdkit(name: str) -> None:
    # One restart each side: crowd-kit reuses its seed on every restart (see tests/test_truth_inference.py).
    df = crowd(name).df
    ck = quiet_fit(MACE(n_restarts=1, random_state=0), df)
    ours = mace(df.task, df.worker, df.label, n_restarts=1, seed=0)
    same_labels_and_probas(ck, ours)
    np.testing.assert_allclose(ck.spamming_, ours.spamming, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SETS))
def test_zero_based_skill_matches_crowdkit(name: str) -> None:
    df = crowd(name).df
    ck = quiet_fit(ZeroBasedSkill(), df)
    ours = zero_based_skill(df.task, df.worker, df.label)
    same_labels_and_probas(ck, ours)
    np.testing.assert_allclose(ck.skills_.loc[list(ours.annotator_ids)].to_numpy(), ours.skills, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["temp", "wsd", "mozafari"])
def test_glad_matches_crowdkit_up_to_near_ties(name: str) -> None:
    # GLAD's M-step is SciPy CG stopped at gradient norm 1e-2. On generated data both sides take the
    # same path (alphas to 1e-6, tests/test_truth_inference.py); on these sparse real sets the last-bit
    # differences of iteration 2 (alphas 2.5e-9 apart on RTE, measured) change how many CG steps a
    # later M-step takes, and the fits drift apart by up to ~0.02 in alphas and posteriors. So: labels
    # agree except on items both sides put within 0.02 of an even split (binary sets), and posteriors
    # within 0.05. Measured: one such item on temp (ours 0.50003, crowd-kit 0.4933), none on wsd or
    # mozafari. RTE (one such item, 1623) is left to the benchmark: crowd-kit's GLAD takes ~1 min there.
    df = crowd(name).df
    ck = quiet_fit(GLAD(), df)
    ours = glad(df.task, df.worker, df.label)
    items, classes = list(ours.item_ids), list(ours.classes)
    theirs = ck.probas_.loc[items, classes].to_numpy()
    np.testing.assert_allclose(theirs, ours.posteriors, atol=0.05)
    differ = ck.labels_.loc[items].to_numpy().astype(int) != ours.labels.astype(int)
    assert differ.mean() <= 0.005
    if differ.any():
        assert len(classes) == 2
        assert (np.abs(ours.posteriors[differ, 0] - 0.5) < 0.02).all()
        assert (np.abs(theirs[differ, 0] - 0.5) < 0.02).all()
