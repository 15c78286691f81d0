"""Item-bootstrap intervals on the Cohen's kappa cells of the pairwise annotator matrix (#20).

A pair's kappa is a function of its 2 x 2 (k x k) contingency table, and the table is a sum over
items, so resampling items re-weights per-item cells: the report's vectorised bootstrap is checked
here against an explicit loop that re-indexes the items of every resample and calls scikit-learn's
``cohen_kappa_score`` per pair, drawing the generator the same way.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from accord.core import agreement as ag
from accord.core.model import Classification, Dataset, MultiLabel, Record
from accord.core.qa import report as report_mod
from accord.core.qa.report import ReportConfig, build_report
from accord.core.schema import LabelSet, Schema
from accord.report_html import render_html

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "core" / "data" / "report.schema.json"


def _sk_kappa(x: np.ndarray, y: np.ndarray) -> float:
    """scikit-learn's kappa, NaN where it is undefined (no item, one category: sklearn's 0/0)."""
    if x.size == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(cohen_kappa_score(x, y))


def _naive_bounds(codes: np.ndarray, wanted: np.ndarray, n_resamples: int, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One resample at a time: draw items, re-index the ratings, sklearn's kappa per pair."""
    pairable = codes[(codes >= 0).sum(axis=1) >= 2]
    n, r = pairable.shape
    pick = np.random.default_rng(seed).integers(0, n, (n_resamples, n))
    pairs = [(a, b) for a in range(r) for b in range(a + 1, r) if wanted[a, b]]
    kappas = np.full((n_resamples, len(pairs)), np.nan)
    for s, rows in enumerate(pick):
        drawn = pairable[rows]
        for p, (a, b) in enumerate(pairs):
            both = (drawn[:, a] >= 0) & (drawn[:, b] >= 0)
            kappas[s, p] = _sk_kappa(drawn[both, a], drawn[both, b])
    low = np.full((r, r), np.nan)
    high = np.full((r, r), np.nan)
    for p, (a, b) in enumerate(pairs):
        col = kappas[:, p]
        if np.isfinite(col).any():
            low[a, b] = low[b, a] = np.nanpercentile(col, 2.5)
            high[a, b] = high[b, a] = np.nanpercentile(col, 97.5)
    return low, high


def _random_codes(n: int, r: int, k: int, seed: int, missing: float = 0.3) -> np.ndarray:
    g = np.random.default_rng(seed)
    truth = g.integers(0, k, n)
    noisy = np.where(g.random((n, r)) < 0.7, truth[:, None], g.integers(0, k, (n, r)))
    return np.where(g.random((n, r)) < missing, -1, noisy).astype(np.int64)


@pytest.mark.parametrize(("n", "r", "k", "seed"), [(40, 4, 3, 0), (25, 3, 2, 1), (60, 5, 4, 2)])
def test_vectorised_bounds_equal_a_naive_loop_over_resamples(n: int, r: int, k: int, seed: int) -> None:
    codes = _random_codes(n, r, k, seed)
    wanted = ~np.eye(r, dtype=bool)
    low, high = report_mod._kappa_cell_bootstrap(codes, k, wanted, n_resamples=100, seed=seed + 7)
    n_low, n_high = _naive_bounds(codes, wanted, 100, seed + 7)
    np.testing.assert_allclose(low, n_low, rtol=0, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(high, n_high, rtol=0, atol=1e-12, equal_nan=True)
    off = ~np.eye(r, dtype=bool)
    assert np.isfinite(low[off]).all()
    assert (low[off] < high[off]).all()


def test_blocks_of_resamples_draw_the_same_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = _random_codes(30, 4, 3, 5)
    wanted = ~np.eye(4, dtype=bool)
    whole = report_mod._kappa_cell_bootstrap(codes, 3, wanted, n_resamples=150, seed=3)
    monkeypatch.setattr(report_mod, "_KAPPA_BLOCK_CELLS", 500)  # a few resamples a block
    blocked = report_mod._kappa_cell_bootstrap(codes, 3, wanted, n_resamples=150, seed=3)
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_array_equal(whole[1], blocked[1])


def test_only_wanted_pairs_get_bounds() -> None:
    codes = _random_codes(40, 3, 3, 4)
    wanted = np.zeros((3, 3), dtype=bool)
    wanted[0, 2] = True
    low, high = report_mod._kappa_cell_bootstrap(codes, 3, wanted, n_resamples=100, seed=0)
    assert np.isfinite(low[0, 2])
    assert low[0, 2] == low[2, 0]
    assert np.isnan(low[0, 1])
    assert np.isnan(high[1, 2])
    assert np.isnan(low[1, 1])


def test_raters_who_always_agree_get_the_point_interval_one() -> None:
    # Identical labels, both categories used: every resample's table is diagonal, so kappa is 1
    # wherever it is defined (a resample of one category only is undefined and left out).
    x = np.array([0, 1] * 10, dtype=np.int64)
    low, high = report_mod._kappa_cell_bootstrap(np.stack([x, x], axis=1), 2, ~np.eye(2, dtype=bool),
                                                 n_resamples=300, seed=0)
    assert low[0, 1] == high[0, 1] == 1.0


def test_a_pair_that_never_shares_an_item_has_no_bounds() -> None:
    codes = np.array([[0, 1, -1], [1, 0, -1], [-1, 0, 1], [-1, 1, 0]], dtype=np.int64)
    wanted = np.zeros((3, 3), dtype=bool)
    wanted[0, 2] = True  # annotators 0 and 2 share no item
    low, high = report_mod._kappa_cell_bootstrap(codes, 2, wanted, n_resamples=50, seed=0)
    assert np.isnan(low).all()
    assert np.isnan(high).all()


# --------------------------------------------------------------------------- in the report


def _class_dataset(n_items: int, seed: int) -> tuple[Dataset, list[str], np.ndarray]:
    anns = ["ann", "bea", "cid", "dan"]
    cats = ["bird", "cat", "dog"]
    codes = _random_codes(n_items, len(anns), len(cats), seed, missing=0.2)
    codes[:12, 3] = -1  # dan rates fewer items: his cells still share >= 10
    recs = [Record(item_id=f"t{i:03d}", annotator_id=a, label_set="pet", value=Classification(label=cats[c]))
            for i in range(n_items) for a, c in zip(anns, codes[i], strict=True) if c >= 0]
    schema = Schema(label_sets={"pet": LabelSet(name="pet", kind="classification", labels=tuple(cats))})
    return Dataset(records=tuple(recs), schema=schema), anns, codes


def test_report_cells_carry_the_bootstrap_interval_and_sklearns_estimate() -> None:
    ds, anns, codes = _class_dataset(50, 8)
    report = build_report(ds, config=ReportConfig(n_bootstrap=150), seed=4, checks=False)
    a = report["agreement"]["pet"]
    pw, iv = a["pairwise"], a["intervals"]["pairwise"]
    assert pw["annotators"] == iv["annotators"] == anns
    assert iv["metric"] == "cohen_kappa"
    assert (iv["n_resamples"], iv["seed"], iv["confidence"]) == (150, 4, 0.95)
    # Items are sorted by id (t000, t001, ...): the report's codes are these (labels sorted).
    low, high = _naive_bounds(codes, ~np.eye(4, dtype=bool), 150, 4)
    for i in range(4):
        assert iv["low"][i][i] is None
        assert iv["n_items"][i][i] is None
        for j in range(4):
            if i == j:
                continue
            both = (codes[:, i] >= 0) & (codes[:, j] >= 0)
            expected = cohen_kappa_score(codes[both, i], codes[both, j])
            assert pw["matrix"][i][j] == pytest.approx(expected, abs=5e-7)  # rounded to 6 digits
            assert iv["n_items"][i][j] == int(both.sum())
            assert iv["low"][i][j] == pytest.approx(low[i, j], abs=5e-7)
            assert iv["high"][i][j] == pytest.approx(high[i, j], abs=5e-7)
            assert iv["low"][i][j] <= pw["matrix"][i][j] <= iv["high"][i][j]
    # The full-precision estimate is scikit-learn's as well.
    pk = ag.pairwise_cohen_kappa(codes, n_categories=3)
    assert pk.kappa[0, 1] == pytest.approx(cohen_kappa_score(codes[(codes[:, :2] >= 0).all(1), 0],
                                                             codes[(codes[:, :2] >= 0).all(1), 1]), abs=1e-12)
    # The specific-agreement intervals are still there, beside the cells'.
    assert set(a["intervals"]["per_label"]) == {"bird", "cat", "dog"}
    import jsonschema

    jsonschema.validate(json.loads(json.dumps(report)), json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    html = render_html(report)
    assert "annotator pairs, cohen_kappa with its 95% item-bootstrap interval (150 resamples, seed 4)" in html
    assert f"[{iv['low'][0][1]:.3f}, {iv['high'][0][1]:.3f}]" in html


def test_cells_below_min_pair_items_have_no_interval() -> None:
    ds, _, codes = _class_dataset(30, 9)
    report = build_report(ds, config=ReportConfig(n_bootstrap=100, min_pair_items=25), seed=0, checks=False)
    a = report["agreement"]["pet"]
    iv = a["intervals"]["pairwise"]
    for i in range(4):
        for j in range(4):
            if i == j:
                continue
            shared = int(((codes[:, i] >= 0) & (codes[:, j] >= 0)).sum())
            assert (iv["low"][i][j] is None) == (shared < 25) == (a["pairwise"]["matrix"][i][j] is None)


def test_same_seed_same_cells_other_seed_other_cells() -> None:
    ds, _, _ = _class_dataset(40, 10)
    cfg = ReportConfig(n_bootstrap=120)
    one = build_report(ds, config=cfg, seed=1, checks=False)["agreement"]["pet"]["intervals"]["pairwise"]
    again = build_report(ds, config=cfg, seed=1, checks=False)["agreement"]["pet"]["intervals"]["pairwise"]
    other = build_report(ds, config=cfg, seed=2, checks=False)["agreement"]["pet"]["intervals"]["pairwise"]
    assert one == again
    assert one["low"] != other["low"]


def test_multilabel_cells_get_intervals_too() -> None:
    sets = [("a",), ("a", "b"), ("b",)]
    g = np.random.default_rng(3)
    recs = []
    for i in range(40):
        truth = int(g.integers(0, 3))
        for ann in ("x", "y", "z"):
            pick = truth if g.random() < 0.8 else int(g.integers(0, 3))
            recs.append(Record(item_id=f"m{i:02d}", annotator_id=ann, label_set="tags",
                               value=MultiLabel(labels=sets[pick])))
    schema = Schema(label_sets={"tags": LabelSet(name="tags", kind="multilabel", labels=("a", "b"))})
    report = build_report(Dataset(records=tuple(recs), schema=schema), config=ReportConfig(n_bootstrap=100),
                          seed=0, checks=False)
    a = report["agreement"]["tags"]
    iv = a["intervals"]
    assert iv["n_resamples"] == iv["pairwise"]["n_resamples"] == 100
    assert iv["pairwise"]["metric"] == "cohen_kappa (exact label set)"
    est, lo, hi = a["pairwise"]["matrix"][0][1], iv["pairwise"]["low"][0][1], iv["pairwise"]["high"][0][1]
    assert lo <= est <= hi
    assert iv["pairwise"]["n_items"][0][1] == 40
    import jsonschema

    jsonschema.validate(json.loads(json.dumps(report)), json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
