"""Item-bootstrap intervals on matched F1, mean IoU, per-label agreement and pairwise cells (#20)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from accord.core.model import Box, Classification, Dataset, Record
from accord.core.qa.region_intervals import BootstrapInputError, RatioStats, ratio_bootstrap
from accord.core.qa.report import ReportConfig, build_report
from accord.core.schema import LabelSet, Schema
from accord.report_html import render_html

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "core" / "data" / "report.schema.json"


# --------------------------------------------------------------------------- the bootstrap itself


def test_two_items_hand_checked() -> None:
    # Item 0 agrees fully (2 tp of 2 regions), item 1 not at all (0 of 2): F1 = 2/4 = 0.5.
    # Drawing 2 items with replacement gives F1 1 (both item 0, p = 1/4), 0.5 (p = 1/2) or 0
    # (p = 1/4), so the 2.5th percentile is 0 and the 97.5th is 1.
    r = ratio_bootstrap([[2.0], [0.0]], [[2.0], [2.0]], n_resamples=4000, seed=3)
    assert r.estimate[0] == 0.5
    assert (r.low[0], r.high[0]) == (0.0, 1.0)
    assert r.n_items[0] == 2


def test_identical_items_give_a_point_interval() -> None:
    # Every item has ratio 3/4: every resample's ratio is 3/4 as well.
    r = ratio_bootstrap(np.full((7, 1), 3.0), np.full((7, 1), 4.0), n_resamples=200, seed=0)
    assert r.low[0] == pytest.approx(0.75)
    assert r.high[0] == pytest.approx(0.75)


def _random_stats(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    den = g.integers(0, 6, (n, k)).astype(float)
    num = np.floor(den * g.random((n, k)))
    return num, den


def test_equals_a_naive_loop_with_the_same_draws() -> None:
    # The vectorised resample (count matrix x sparse statistics) against one explicit
    # index-and-sum per resample, with the generator drawn the same way.
    num, den = _random_stats(60, 5, 1)
    b = 150
    got = ratio_bootstrap(num, den, n_resamples=b, seed=11)
    pick = np.random.default_rng(11).integers(0, 60, (b, 60))
    ratios = np.array([[num[p, j].sum() / den[p, j].sum() if den[p, j].sum() else np.nan for j in range(5)]
                       for p in pick])
    lo, hi = np.nanpercentile(ratios, [2.5, 97.5], axis=0)
    np.testing.assert_allclose(got.low, lo, rtol=1e-12)
    np.testing.assert_allclose(got.high, hi, rtol=1e-12)
    np.testing.assert_allclose(got.estimate, num.sum(axis=0) / den.sum(axis=0))


def test_same_seed_same_interval_other_seed_other_interval() -> None:
    num, den = _random_stats(80, 3, 2)
    a = ratio_bootstrap(num, den, n_resamples=300, seed=5)
    b = ratio_bootstrap(num, den, n_resamples=300, seed=5)
    c = ratio_bootstrap(num, den, n_resamples=300, seed=6)
    np.testing.assert_array_equal(a.low, b.low)
    np.testing.assert_array_equal(a.high, b.high)
    assert not np.array_equal(a.low, c.low)


def test_covers_the_estimate_and_shrinks_with_more_items() -> None:
    num, den = _random_stats(50, 4, 4)
    small = ratio_bootstrap(num, den, n_resamples=500, seed=0)
    big = ratio_bootstrap(np.tile(num, (16, 1)), np.tile(den, (16, 1)), n_resamples=500, seed=0)
    np.testing.assert_allclose(big.estimate, small.estimate)
    for r in (small, big):
        assert np.all(r.low <= r.estimate)
        assert np.all(r.estimate <= r.high)
    # 16 times the items: about a quarter of the width (1 / sqrt(16)).
    ratio = (big.high - big.low) / (small.high - small.low)
    assert np.all(ratio < 0.4)
    assert np.all(ratio > 0.15)


def test_a_ratio_never_defined_has_no_interval() -> None:
    r = ratio_bootstrap([[1.0, 0.0], [1.0, 0.0]], [[2.0, 0.0], [2.0, 0.0]], n_resamples=10, seed=0)
    assert np.isnan(r.estimate[1])
    assert np.isnan(r.low[1])
    assert np.isnan(r.high[1])
    assert r.n_items[1] == 0


def test_bad_input_is_explained() -> None:
    with pytest.raises(BootstrapInputError, match="same shape"):
        ratio_bootstrap([[1.0]], [[1.0, 2.0]], n_resamples=10, seed=0)
    with pytest.raises(BootstrapInputError, match="denominators must be >= 0"):
        ratio_bootstrap([[1.0]], [[-1.0]], n_resamples=10, seed=0)
    with pytest.raises(BootstrapInputError, match="n_resamples must be an integer >= 1"):
        ratio_bootstrap([[1.0]], [[1.0]], n_resamples=0, seed=0)
    stats = RatioStats(n_items=1)
    stats.add(3, "x", 1.0, 1.0)
    with pytest.raises(BootstrapInputError, match="item indices must lie in"):
        stats.matrices()


# --------------------------------------------------------------------------- in the report


def _box(item: str, who: str, x: float, label: str = "car") -> Record:
    return Record(item_id=item, annotator_id=who, label_set="objects", region_id=f"{who}-{item}-{x}",
                  value=Box(x=x, y=10.0, width=40.0, height=30.0, label=label))


def _boxes(n_items: int, prefix: str = "") -> Dataset:
    """Three annotators; on every second item carol's box is far off (no match), on every tenth
    bob calls the person a car."""
    recs: list[Record] = []
    for k in range(n_items):
        item = f"{prefix}img{k}"
        recs += [_box(item, "alice", 10.0), _box(item, "alice", 200.0, "person")]
        recs += [_box(item, "bob", 12.0), _box(item, "bob", 203.0, "car" if k % 10 == 0 else "person")]
        recs += [_box(item, "carol", 400.0 if k % 2 == 0 else 11.0), _box(item, "carol", 201.0, "person")]
    schema = Schema(label_sets={"objects": LabelSet(name="objects", kind="box", labels=("car", "person"))})
    return Dataset(records=tuple(recs), schema=schema)


def _validate(report: dict) -> None:
    import jsonschema

    jsonschema.validate(json.loads(json.dumps(report)), json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def test_region_report_has_intervals_that_cover_and_shrink() -> None:
    cfg = ReportConfig(n_bootstrap=200)
    small = build_report(_boxes(30), config=cfg, seed=1)
    a = small["agreement"]["objects"]
    iv = a["intervals"]
    assert iv["n_resamples"] == 200
    assert iv["seed"] == 1
    f1 = iv["coefficients"]["matched_f1"]
    assert f1["estimate"] == a["coefficients"]["matched_f1"]["estimate"]
    assert f1["low"] <= f1["estimate"] <= f1["high"]
    assert f1["high"] - f1["low"] > 0
    sim = iv["coefficients"]["mean_matched_similarity"]
    assert sim["estimate"] == a["coefficients"]["mean_matched_similarity"]["estimate"]
    assert sim["low"] <= sim["estimate"] <= sim["high"]
    for lab, c in iv["per_label"].items():
        assert c["estimate"] == a["per_label"][lab]["estimate"]
        assert c["low"] <= c["estimate"] <= c["high"]
    pw = a["pairwise"]
    anns = pw["annotators"]
    for i in range(len(anns)):
        for j in range(len(anns)):
            lo, hi = iv["pairwise"]["low"][i][j], iv["pairwise"]["high"][i][j]
            if i == j:
                assert lo is None
                continue
            assert lo <= pw["matrix"][i][j] <= hi
            assert iv["pairwise"]["n_items"][i][j] == 30
    # alice and bob always match their boxes (labels differ on every tenth item: F1 0.5 on a
    # tenth of the items, sd 0.15 an item) and their cell is narrower than alice and carol's
    # (a box missed on every second item: F1 0.5 on half of them, sd 0.25 an item).
    ab, ac = (anns.index("alice"), anns.index("bob")), (anns.index("alice"), anns.index("carol"))
    # Hand count, 4 regions a pair and item: 2 (27 * 2 + 3 * 1) / 120 = 0.95; 2 (15 * 2 + 15 * 1) / 120 = 0.75.
    assert pw["matrix"][ab[0]][ab[1]] == pytest.approx(0.95)
    assert pw["matrix"][ac[0]][ac[1]] == pytest.approx(0.75)
    width = {p: iv["pairwise"]["high"][p[0]][p[1]] - iv["pairwise"]["low"][p[0]][p[1]] for p in (ab, ac)}
    assert width[ab] < width[ac]
    # Same seed, same intervals; four times the items, narrower ones.
    again = build_report(_boxes(30), config=cfg, seed=1)["agreement"]["objects"]["intervals"]
    assert again == iv
    big = build_report(_boxes(120), config=cfg, seed=1)["agreement"]["objects"]["intervals"]
    big_f1 = big["coefficients"]["matched_f1"]
    assert big_f1["high"] - big_f1["low"] < 0.75 * (f1["high"] - f1["low"])
    _validate(small)


def test_the_matcher_runs_the_same_number_of_times_whatever_the_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    import accord.core.matching.geometry as geometry

    calls = [0]
    real = geometry.match_regions

    def counting(*args: object, **kw: object) -> object:
        calls[0] += 1
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(geometry, "match_regions", counting)
    counts = []
    for b in (20, 400):
        calls[0] = 0
        build_report(_boxes(12), config=ReportConfig(n_bootstrap=b), seed=0, checks=False)
        counts.append(calls[0])
    assert counts[0] == counts[1] > 0


def test_class_per_label_intervals() -> None:
    recs = []
    for k in range(40):
        votes = ["pos", "pos", "pos"] if k % 4 else ["pos", "neg", "neg"]
        recs += [Record(item_id=f"t{k}", annotator_id=a, label_set="s", value=Classification(label=v))
                 for a, v in zip(("a", "b", "c"), votes, strict=True)]
    schema = Schema(label_sets={"s": LabelSet(name="s", kind="classification", labels=("neg", "pos"))})
    report = build_report(Dataset(records=tuple(recs), schema=schema), config=ReportConfig(n_bootstrap=300), seed=2)
    a = report["agreement"]["s"]
    per = a["intervals"]["per_label"]
    # neg: 10 items with two "neg" votes: sum c(c-1) = 10 * 2 = 20 over sum c(n-1) = 10 * 2 * 2 = 40.
    assert per["neg"]["estimate"] == pytest.approx(0.5)
    assert per["neg"]["estimate"] == a["per_label"]["neg"]["estimate"]
    assert per["neg"]["low"] == per["neg"]["high"] == pytest.approx(0.5)  # every item with neg has ratio 1/2
    assert per["pos"]["low"] < per["pos"]["estimate"] < per["pos"]["high"]
    assert per["pos"]["n"] == 40
    _validate(report)


def test_html_shows_the_bootstrap_bounds() -> None:
    report = build_report(_boxes(30), config=ReportConfig(n_bootstrap=100), seed=0)
    iv = report["agreement"]["objects"]["intervals"]
    html = render_html(report)
    lo, hi = iv["coefficients"]["matched_f1"]["low"], iv["coefficients"]["matched_f1"]["high"]
    assert f"[{lo:.3f}, {hi:.3f}]" in html
    assert "annotator pairs, matched_f1 with its 95% item-bootstrap interval" in html
