"""Tests of the categorical truth-inference models beside Dawid-Skene (issue 20):
one-coin Dawid-Skene, GLAD, MACE, Wawa and ZBS against crowd-kit 1.4, known answers,
skill intervals, and the report's ``consensus_method``."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import GLAD, MACE, OneCoinDawidSkene, Wawa, ZeroBasedSkill
from crowdkit_support import patch_check_is_fitted, quiet_fit, same_labels_and_probas
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.errors import ConfigError, InvalidAnnotationError
from accord.core.model import Classification, Dataset, Record
from accord.core.qa.consensus import (
    CONSENSUS_METHODS,
    SKILL_DEFINITIONS,
    class_consensus,
    dawid_skene,
    glad,
    mace,
    majority_vote,
    one_coin_dawid_skene,
    skill_intervals,
    wawa,
    zero_based_skill,
)
from accord.core.qa.report import ReportConfig, build_report, config_from_toml
from accord.core.schema import LabelSet, Schema
from accord.report_html import render_html


def _simulate(seed: int, n: int = 300, n_ann: int = 7, k: int = 3, per_item: int = 3,
              acc: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Annotators right with probability ``acc[a]``, else one of the K - 1 wrong classes uniformly
    (the one-coin model)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    acc = rng.uniform(0.45, 0.95, n_ann) if acc is None else acc
    rows = []
    for i in range(n):
        for a in rng.choice(len(acc), per_item, replace=False):
            lab = truth[i] if rng.random() < acc[a] else (truth[i] + rng.integers(1, k)) % k
            rows.append((i, int(a), int(lab)))
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    # crowd-kit's MACE fills its strategy table in sorted (worker, label) order but indexes it in
    # order of first appearance; sorting the rows makes the two orders the same (see test_mace...).
    return df.sort_values(["worker", "label"], kind="stable").reset_index(drop=True), truth, acc


@pytest.fixture
def crowdkit_predict(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_check_is_fitted(monkeypatch)


# --------------------------------------------------------------------------- differential vs crowd-kit

SEEDS = [0, 1, 2]


@pytest.mark.parametrize("seed", SEEDS)
def test_one_coin_dawid_skene_matches_crowdkit(seed: int) -> None:
    df, _, _ = _simulate(seed)
    ck = quiet_fit(OneCoinDawidSkene(n_iter=100, tol=1e-5), df)
    ours = one_coin_dawid_skene(df.task, df.worker, df.label)
    same_labels_and_probas(ck, ours)
    np.testing.assert_allclose(ck.skills_.loc[list(ours.annotator_ids)].to_numpy(), ours.skills, atol=1e-9)
    np.testing.assert_allclose(ck.priors_.loc[list(ours.classes)].to_numpy(), ours.priors, atol=1e-9)
    assert ours.n_iter == len(ck.loss_history_)


@pytest.mark.parametrize("seed", SEEDS)
def test_glad_matches_crowdkit(seed: int) -> None:
    # Same objective, gradient and SciPy CG settings: the optimizer takes the same path, so
    # alphas and betas agree to ~1e-7 (summation order is the only difference; CG stops after
    # at most 25 steps at gradient norm 1e-2, so last-bit differences reach ~1e-7, not 1e-15).
    df, _, _ = _simulate(seed)
    ck = quiet_fit(GLAD(), df)
    ours = glad(df.task, df.worker, df.label)
    same_labels_and_probas(ck, ours)
    np.testing.assert_allclose(ck.alphas_.loc[list(ours.annotator_ids)].to_numpy(), ours.alphas, atol=1e-6)
    np.testing.assert_allclose(ck.betas_.loc[list(ours.item_ids)].to_numpy(), ours.betas, atol=1e-6)
    assert ours.n_iter == len(ck.loss_history_)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", ["vb", "em"])
def test_mace_matches_crowdkit(seed: int, method: str) -> None:
    # crowd-kit seeds every restart with the same random_state, so its 10 restarts are one run
    # repeated; that run is our restart 0 when workers and labels first appear in sorted order.
    df, _, _ = _simulate(seed)
    ck = quiet_fit(MACE(method=method, n_restarts=1, random_state=0), df)
    ours = mace(df.task, df.worker, df.label, method=method, n_restarts=1, seed=0)  # type: ignore[arg-type]
    same_labels_and_probas(ck, ours)
    np.testing.assert_allclose(ck.spamming_, ours.spamming, atol=1e-9)
    np.testing.assert_allclose(ck.thetas_, ours.spam_strategy, atol=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_wawa_matches_crowdkit(seed: int, crowdkit_predict: None) -> None:
    df, _, _ = _simulate(seed)
    ck = quiet_fit(Wawa(), df)
    ours = wawa(df.task, df.worker, df.label)
    same_labels_and_probas(ck, ours)
    np.testing.assert_allclose(ck.skills_.loc[list(ours.annotator_ids)].to_numpy(), ours.skills, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_zero_based_skill_matches_crowdkit(seed: int, crowdkit_predict: None) -> None:
    df, _, _ = _simulate(seed)
    ck = quiet_fit(ZeroBasedSkill(), df)
    ours = zero_based_skill(df.task, df.worker, df.label)
    same_labels_and_probas(ck, ours)
    np.testing.assert_allclose(ck.skills_.loc[list(ours.annotator_ids)].to_numpy(), ours.skills, atol=1e-12)


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 5))
def test_wawa_and_one_coin_agree_with_crowdkit_on_any_seed(seed: int, k: int) -> None:
    df, _, _ = _simulate(seed, n=120, k=k, per_item=4)
    ours = one_coin_dawid_skene(df.task, df.worker, df.label)
    ck = quiet_fit(OneCoinDawidSkene(n_iter=100), df)
    assert (ck.labels_.loc[list(ours.item_ids)].to_numpy() == ours.labels.astype(int)).all()
    np.testing.assert_allclose(ck.skills_.loc[list(ours.annotator_ids)].to_numpy(), ours.skills, atol=1e-9)
    # Wawa without crowd-kit's predict (see crowdkit_predict): skills = accuracy vs its majority vote
    ck_w = Wawa().fit(df)
    np.testing.assert_allclose(ck_w.skills_.loc[list(ours.annotator_ids)].to_numpy(),
                               wawa(df.task, df.worker, df.label).skills, atol=1e-12)


# --------------------------------------------------------------------------- known answers


def test_wawa_and_zbs_hand_computed() -> None:
    # item 1: a=x, b=x, c=y -> majority x; item 2: a=y, b=y, c=y -> y; item 3: a=x, c=z -> tie x/z, first = x.
    # Wawa skills (share of answers equal to the majority): a 3/3, b 2/2, c 1/3 (y on item 2 only).
    # Weighted vote on item 3: x gets 1, z gets 1/3 -> x with share 1 / (4/3) = 0.75.
    items = [1, 1, 1, 2, 2, 2, 3, 3]
    anns = ["a", "b", "c", "a", "b", "c", "a", "c"]
    labels = ["x", "x", "y", "y", "y", "y", "x", "z"]
    w = wawa(items, anns, labels)
    assert w.skills == pytest.approx([1.0, 1.0, 1 / 3])
    assert w.labels.tolist() == ["x", "y", "x"]
    assert w.posteriors[2] == pytest.approx([0.75, 0.0, 0.25])
    # ZBS, one step at lr 1 from 1/K + eps (K = 3): skill = accuracy vs the uniformly weighted vote,
    # which is the plain majority, so one ZBS step reproduces Wawa's skills.
    z = zero_based_skill(items, anns, labels, max_iter=1)
    assert z.skills == pytest.approx(w.skills)
    # two steps, lr halved on step 2 (lr_steps_to_reduce=2): s2 = s1 + 0.5 * (acc(s1) - s1) = s1
    # because the weighted vote with Wawa's skills gives the same labels.
    z2 = zero_based_skill(items, anns, labels, max_iter=2, lr_steps_to_reduce=2)
    assert z2.skills == pytest.approx(w.skills)


def test_one_coin_hand_computed_first_m_step() -> None:
    # One EM round by hand on 2 items, 3 annotators, 2 classes (K - 1 = 1 wrong class):
    # start: soft majority vote  item1 (x, x, y) -> [2/3, 1/3];  item2 (y, y, y) -> [0, 1]
    # skills: a = mean(2/3, 1) = 5/6, b = 5/6, c = mean(1/3, 1) = 2/3; priors = [1/3, 2/3]
    # E-step item1: x: 1/3 * (5/6)(5/6)(1/3) = 0.0771605; y: 2/3 * (1/6)(1/6)(2/3) = 0.0123457
    #   -> P(x) = 0.0771605 / 0.0895062 = 0.862069 (= 25/29)
    r = one_coin_dawid_skene([1, 1, 1, 2, 2, 2], ["a", "b", "c"] * 2, ["x", "x", "y", "y", "y", "y"], max_iter=1)
    assert r.posteriors[0, 0] == pytest.approx(25 / 29)
    # the skills returned are the M-step after that E-step: a = (25/29 + p2y) / 2 with p2y for item 2
    p2y = r.posteriors[1, 1]
    assert r.skills[0] == pytest.approx((25 / 29 + p2y) / 2)


def test_one_coin_equals_dawid_skene_on_one_coin_data_with_two_classes() -> None:
    # The simulated annotators follow the one-coin model (same error rate whatever the truth), a
    # special case of Dawid-Skene's full confusion matrices, so with many items the two agree.
    df, _truth, acc = _simulate(3, n=2000, n_ann=5, k=2, per_item=5, acc=np.array([0.95, 0.85, 0.75, 0.65, 0.55]))
    oc = one_coin_dawid_skene(df.task, df.worker, df.label)
    ds = dawid_skene(df.task, df.worker, df.label)
    assert (oc.labels == ds.labels).mean() > 0.99
    # and one-coin recovers the simulated accuracies
    np.testing.assert_allclose(oc.skills, acc, atol=0.03)


def test_glad_abilities_order_annotators_and_flag_an_adversary() -> None:
    acc = np.array([0.95, 0.8, 0.6, 0.1])  # the last answers wrong on purpose (K = 2)
    df, truth, _ = _simulate(4, n=600, n_ann=4, k=2, per_item=4, acc=acc)
    r = glad(df.task, df.worker, df.label)
    assert list(np.argsort(-r.alphas)) == [0, 1, 2, 3]
    assert r.alphas[3] < 0 < r.alphas[2]
    assert (r.labels.astype(int) == truth[r.item_ids.astype(int)]).mean() > 0.9
    mv = majority_vote(df.task, df.worker, df.label, tie_break="first")
    assert (r.labels.astype(int) == truth).mean() >= (mv.labels.astype(int) == truth).mean()


def test_mace_finds_the_spammer_and_restarts_only_improve() -> None:
    # annotator 3 always answers class 0 (a spammer with strategy [1, 0, 0]): competence near 0
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 400)
    rows = []
    for i in range(400):
        for a in range(4):
            lab = 0 if a == 3 else (truth[i] if rng.random() < 0.85 else rng.integers(0, 3))
            rows.append((i, a, int(lab)))
    items, anns, labels = (list(x) for x in zip(*rows, strict=True))
    one = mace(items, anns, labels, n_restarts=1)
    many = mace(items, anns, labels, n_restarts=5)
    assert many.log_marginal_likelihood >= one.log_marginal_likelihood
    assert many.competence[3] < 0.1 < 0.7 < many.competence[:3].min()
    assert many.spam_strategy[3, 0] > 0.9
    assert np.all(many.spam_strategy.sum(axis=1) <= 1.0)  # variational weights: a little under 1
    em = mace(items, anns, labels, n_restarts=1, method="em")
    np.testing.assert_allclose(em.spam_strategy.sum(axis=1), 1.0)
    np.testing.assert_allclose(em.spamming.sum(axis=1), 1.0)
    assert (many.labels.astype(int) == truth).mean() > 0.95


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 10_000))
def test_renaming_labels_and_shuffling_rows_changes_nothing(seed: int) -> None:
    df, _, _ = _simulate(seed, n=60)
    perm = np.random.default_rng(seed).permutation(len(df))
    shuffled = df.iloc[perm]
    for fn in (one_coin_dawid_skene, wawa, zero_based_skill):
        a = fn(df.task, df.worker, df.label)
        b = fn(shuffled.task, shuffled.worker, [f"c{v}" for v in shuffled.label])
        assert b.labels.tolist() == [f"c{v}" for v in a.labels.tolist()]
        np.testing.assert_allclose(a.posteriors, b.posteriors, atol=1e-8)
    # GLAD: another row order changes float sums in the last bits, which can move its stopping
    # test (objective change vs tol = 1e-5) by one EM iteration; posteriors then differ by ~1e-3.
    a, b = glad(df.task, df.worker, df.label), glad(shuffled.task, shuffled.worker, shuffled.label)
    np.testing.assert_allclose(a.posteriors, b.posteriors, atol=1e-2)
    clear = np.sort(a.posteriors, axis=1)[:, -1] - np.sort(a.posteriors, axis=1)[:, -2] > 0.02
    assert (a.labels[clear] == b.labels[clear]).all()


# --------------------------------------------------------------------------- choosing a method and intervals


def test_class_consensus_runs_every_method_and_rejects_unknown_ones() -> None:
    df, truth, _ = _simulate(6, n=200, n_ann=5, per_item=4)
    for m in CONSENSUS_METHODS:
        c = class_consensus(df.task, df.worker, df.label, method=m)  # type: ignore[arg-type]
        assert c.method == m
        assert m in SKILL_DEFINITIONS
        assert len(c.skills) == 5
        assert np.all((c.skills >= 0) & (c.skills <= 1))
        resolved = np.array([lab is not None for lab in c.labels])
        # 200 items, 4 judgments each: every model beats 0.75 (full Dawid-Skene, with 9 cells
        # per annotator to fit, is the weakest here at 0.77)
        assert (c.labels[resolved].astype(int) == truth[resolved]).mean() > 0.75
    with pytest.raises(InvalidAnnotationError, match="unknown consensus method 'gald'; known: majority_vote, "
                                                      "dawid_skene, one_coin_dawid_skene, glad, mace"):
        class_consensus([1], ["a"], ["x"], method="gald")  # type: ignore[arg-type]


def test_skill_intervals_are_seeded_bounded_and_cover_the_truth() -> None:
    acc = np.array([0.9, 0.75, 0.6, 0.5])
    df, _, _ = _simulate(8, n=400, n_ann=4, k=3, per_item=4, acc=acc)
    r = skill_intervals(df.task, df.worker, df.label, method="one_coin_dawid_skene", n_resamples=100, seed=1)
    assert r.n_resamples == 100
    assert np.all(r.low <= r.skills)
    assert np.all(r.skills <= r.high)
    assert np.all((r.low <= acc) & (acc <= r.high))
    assert np.all(r.high - r.low < 0.2)
    assert r.n_judgments.tolist() == [400] * 4
    again = skill_intervals(df.task, df.worker, df.label, method="one_coin_dawid_skene", n_resamples=100, seed=1)
    np.testing.assert_array_equal(r.low, again.low)
    other = skill_intervals(df.task, df.worker, df.label, method="one_coin_dawid_skene", n_resamples=100, seed=2)
    assert not np.array_equal(r.low, other.low)
    # the work bound: 1600 judgments, at most 40,000 refitted -> 25 resamples (floor 20)
    capped = skill_intervals(df.task, df.worker, df.label, method="wawa", n_resamples=500, max_judgments=40_000)
    assert capped.n_resamples == 25
    assert skill_intervals(df.task, df.worker, df.label, method="mace", n_resamples=500,
                           max_judgments=40_000).n_resamples == 20  # MACE counts its 10 restarts


def test_settings_are_checked() -> None:
    one = glad([1, 2], ["a", "b"], ["x", "x"])  # one class: nothing to infer, no division by K - 1 = 0
    assert one.labels.tolist() == ["x", "x"]
    assert one.alphas.tolist() == [1.0, 1.0]
    for m in CONSENSUS_METHODS:  # the report may meet a label set where everybody chose one class
        assert class_consensus([1, 2], ["a", "b"], ["x", "x"], method=m).labels.tolist() == ["x", "x"]  # type: ignore[arg-type]
    with pytest.raises(InvalidAnnotationError, match="priors must hold 2 positive values"):
        glad([1, 2], ["a", "b"], ["x", "y"], priors=[0.5, 0.6])
    with pytest.raises(InvalidAnnotationError, match="max_iter must be an integer >= 1"):
        one_coin_dawid_skene([1], ["a"], ["x"], max_iter=0)
    with pytest.raises(InvalidAnnotationError, match="method must be 'vb' or 'em'"):
        mace([1], ["a"], ["x"], method="gibbs")  # type: ignore[arg-type]
    with pytest.raises(InvalidAnnotationError, match="lr_init and lr_reduce_factor must be > 0"):
        zero_based_skill([1], ["a"], ["x"], lr_init=0)
    with pytest.raises(InvalidAnnotationError, match="confidence must be in"):
        skill_intervals([1], ["a"], ["x"], confidence=1.0)
    with pytest.raises(InvalidAnnotationError, match="one entry per judgment"):
        wawa([1, 2], ["a"], ["x"])


# --------------------------------------------------------------------------- the report


def _class_dataset(seed: int = 0) -> Dataset:
    df, _, _ = _simulate(seed, n=80, n_ann=4, k=3, per_item=3)
    names = ("neg", "neu", "pos")
    recs = tuple(Record(item_id=f"t{t}", annotator_id=f"ann{w}", label_set="sentiment",
                        value=Classification(label=names[lab])) for t, w, lab in df.itertuples(index=False))
    schema = Schema(label_sets={"sentiment": LabelSet(name="sentiment", kind="classification", labels=names)})
    return Dataset(records=recs, schema=schema, name="truth inference")


def test_report_consensus_method_from_toml_names_the_method_and_gives_skills_with_intervals() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    ds = _class_dataset()
    cfg = config_from_toml('[report]\nconsensus_method = "glad"\nn_bootstrap = 40\n')
    assert cfg.consensus_method == "glad"
    rep = build_report(ds, config=cfg, checks=False)
    c = rep["consensus"]["sentiment"]
    assert c["method"] == "glad"
    assert c["skill"]["definition"] == SKILL_DEFINITIONS["glad"]
    assert c["skill"]["n_resamples"] == 40
    assert set(c["annotator_skill"]) == {f"ann{a}" for a in range(4)}
    for a, ci in c["annotator_skill"].items():
        assert ci["low"] <= ci["estimate"] <= ci["high"]
        assert ci["estimate"] == c["annotator_reliability"][a]
    ours = glad(*map(list, zip(*[(r.item_id, r.annotator_id, r.value.label) for r in ds.records], strict=True)))
    assert c["labels"] == {str(i): str(lab) for i, lab in zip(ours.item_ids, ours.labels, strict=True)}
    schema = json.loads((resources.files("accord.core") / "data" / "report.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(rep, default=str)), schema)
    html = render_html(rep)
    section = html[html.index('id="consensus"'):html.index('id="label_errors"')]
    assert "(glad)" in section
    assert "estimated skill [95% interval]" in section
    assert f"[{ci['low']:.3f}, {ci['high']:.3f}]" in section
    assert SKILL_DEFINITIONS["glad"] in section


def test_report_default_is_dawid_skene_and_other_methods_change_only_the_consensus() -> None:
    ds = _class_dataset(1)
    base = build_report(ds, config=ReportConfig(n_bootstrap=30), checks=False)["consensus"]["sentiment"]
    assert base["method"] == "dawid_skene"
    assert base["skill"]["definition"] == SKILL_DEFINITIONS["dawid_skene"]
    for m in ("majority_vote", "mace", "wawa"):
        c = build_report(ds, config=ReportConfig(n_bootstrap=30, consensus_method=m),  # type: ignore[arg-type]
                         checks=False)["consensus"]["sentiment"]
        assert c["method"] == m
        assert set(c["annotator_skill"]) == set(base["annotator_skill"])


@pytest.mark.parametrize("text", ['[report]\nconsensus_method = "gald"\n', '[report]\nconsensus_method = 3\n'])
def test_report_rejects_an_unknown_consensus_method(text: str) -> None:
    with pytest.raises(ConfigError, match="consensus_method must be one of majority_vote, dawid_skene, "
                                          "one_coin_dawid_skene, glad, mace, wawa, zero_based_skill"):
        config_from_toml(text)


def test_docstring_examples_run() -> None:
    import doctest

    import accord.core.qa.consensus as consensus

    result = doctest.testmod(consensus)
    assert result.attempted >= 20
    assert result.failed == 0
