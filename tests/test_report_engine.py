"""The mergeable-section engine (core/report/engine.py) and its first section, nominal class
agreement (core/report/classes.py): point estimates against accord.core.agreement, a published
example, merge == whole on random splits, the Poisson weights, and the stage / pass runner."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import agreement as ag
from accord.core.errors import ConfigError, InvalidAnnotationError, UndefinedAgreementError
from accord.core.model import Classification, Dataset, Item, Record, Submission
from accord.core.report.classes import ClassAgreement, ClassAgreementSection, ClassRatings, _coefficients
from accord.core.report.engine import (
    Context,
    Runner,
    _poisson_weights_reference,
    item_keys,
    local_fold,
    poisson_weights,
    run_sections,
    split_items,
)
from accord.core.schema import Schema

CTX = Context(config=None, seed=7, schema=Schema())
nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: observers A-D by
# 12 units, nominal alpha .743 (same data as tests/test_agreement.py::KRIPP_2011).
KRIPP_2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]).T


def _columns(grid: np.ndarray, ids: list[str] | None = None) -> ClassRatings:
    """Columns from an (items, raters) grid of float codes, NaN for missing."""
    ii, aa = np.nonzero(~np.isnan(grid))
    return ClassRatings(item_ids=ids or [f"item-{i}" for i in range(grid.shape[0])], item=ii, annotator=aa,
                        code=grid[ii, aa].astype(np.int64))


def _section(k: int, r: int, b: int = 50) -> ClassAgreementSection:
    return ClassAgreementSection("label", [f"c{j}" for j in range(k)], [f"a{j}" for j in range(r)], b)


def _run(section: ClassAgreementSection, parts: list[Any]) -> ClassAgreement:
    return section.finish(local_fold(section, CTX, parts), CTX)


@st.composite
def grids(draw: st.DrawFn, *, full: bool = False) -> np.ndarray:
    n = draw(st.integers(2, 40))
    r = draw(st.integers(2, 5))
    k = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    g = rng.integers(0, k, (n, r)).astype(np.float64)
    if not full:
        g[rng.random((n, r)) < draw(st.floats(0.0, 0.6))] = nan
    g[0, :2] = [0, k - 1]  # at least two categories and one pairable item
    return g


# --------------------------------------------------------------------------- point estimates


@settings(max_examples=60, deadline=None)
@given(grids())
def test_point_estimates_equal_the_agreement_module(g: np.ndarray) -> None:
    k = int(np.nanmax(g)) + 1
    sec = _section(k, g.shape[1], b=0)
    res = _run(sec, [_columns(g)])
    cats = [float(c) for c in range(k)]
    c = res.coefficients
    assert c["krippendorff_alpha"].estimate == pytest.approx(ag.krippendorff_alpha(g), abs=1e-12)
    assert c["percent_agreement"].estimate == pytest.approx(ag.percent_agreement(g), abs=1e-12)
    assert c["gwet_ac1"].estimate == pytest.approx(ag.gwet_ac1(g, categories=cats), abs=1e-12)
    assert c["brennan_prediger"].estimate == pytest.approx(ag.brennan_prediger(g, categories=cats), abs=1e-12)
    for a in range(g.shape[1]):
        for b in range(a + 1, g.shape[1]):
            both = ~np.isnan(g[:, a]) & ~np.isnan(g[:, b])
            try:
                expected = ag.cohen_kappa(g[both, a], g[both, b])
            except UndefinedAgreementError:
                expected = nan
            assert res.pairwise_kappa[a, b] == pytest.approx(expected, abs=1e-12, nan_ok=True)
            assert res.pairwise_kappa[b, a] == res.pairwise_kappa[a, b] or np.isnan(expected)
            assert res.pairwise_n[a, b] == both.sum()


@settings(max_examples=40, deadline=None)
@given(grids(full=True))
def test_fleiss_with_equal_ratings_per_item(g: np.ndarray) -> None:
    k = int(np.nanmax(g)) + 1
    res = _run(_section(k, g.shape[1], b=0), [_columns(g)])
    table = ag.counts_from_ratings(g, categories=[float(c) for c in range(k)])
    assert res.ratings_per_item == g.shape[1]
    assert res.coefficients["fleiss_kappa"].estimate == pytest.approx(ag.fleiss_kappa(table), abs=1e-12)


def test_fleiss_is_undefined_when_ratings_per_item_vary() -> None:
    res = _run(_section(5, 4, b=0), [_columns(KRIPP_2011 - 1)])
    assert res.ratings_per_item is None
    assert "fleiss_kappa" not in res.coefficients
    assert "different numbers of ratings" in res.undefined["fleiss_kappa"]


def test_krippendorff_2011_known_answer_from_a_dataset() -> None:
    # The published nominal alpha .743, read through the Dataset adapter (labels as strings).
    records = [Record(item_id=f"u{u:02d}", annotator_id=f"obs{o}", label_set="label",
                      value=Classification(label=str(int(KRIPP_2011[u, o]))))
               for u in range(12) for o in range(4) if not np.isnan(KRIPP_2011[u, o])]
    sec = ClassAgreementSection("label", ["1", "2", "3", "4", "5"], ["obs0", "obs1", "obs2", "obs3"], 200)
    res = _run(sec, [Dataset(records=tuple(records))])
    alpha = res.coefficients["krippendorff_alpha"]
    assert alpha.estimate == pytest.approx(0.743, abs=5e-4)
    assert alpha.low <= alpha.estimate <= alpha.high
    assert alpha.n_items == 11  # unit 12 has a single value: not pairable
    # Krippendorff (2011), section C, the coincidence matrix of this example (values 1..5) and its
    # marginals n_c = 9, 13, 10, 5, 3 (n = 40).
    published = np.array([[7, 4 / 3, 1 / 3, 1 / 3, 0], [4 / 3, 10, 4 / 3, 1 / 3, 0], [1 / 3, 4 / 3, 8, 1 / 3, 0],
                          [1 / 3, 1 / 3, 1 / 3, 4, 0], [0, 0, 0, 0, 3]])
    assert np.allclose(res.coincidence, published, atol=1e-12)
    assert res.coincidence.sum(axis=1).tolist() == pytest.approx([9, 13, 10, 5, 3])
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["coefficients"]["krippendorff_alpha"]["estimate"] == alpha.estimate
    assert d["pairwise_kappa"][0][0] is None  # the diagonal is NaN in the result, null in JSON
    assert "fleiss_kappa" in d["undefined"]


@settings(max_examples=25, deadline=None)
@given(grids())
def test_each_bootstrap_resample_is_the_coefficient_on_the_weighted_items(g: np.ndarray) -> None:
    # Resample b is the data with item i repeated w[i, b] times: recompute it that way.
    k = int(np.nanmax(g)) + 1
    ids = [f"item-{i}" for i in range(g.shape[0])]
    sec = _section(k, g.shape[1], b=6)
    state = sec.add(sec.create(CTX), _columns(g, ids), CTX)
    boot = _coefficients(state.boot_counts, state.boot_squares, state.boot_items, k)
    w = poisson_weights(item_keys(ids, CTX.seed), 6)
    cats = [float(c) for c in range(k)]
    for b in range(6):
        rep = np.repeat(g, w[:, b], axis=0)
        for name, fn in (("krippendorff_alpha", ag.krippendorff_alpha), ("percent_agreement", ag.percent_agreement),
                         ("gwet_ac1", lambda x: ag.gwet_ac1(x, categories=cats))):
            try:
                expected = fn(rep)
            except (UndefinedAgreementError, InvalidAnnotationError):
                expected = nan
            assert boot[name][b] == pytest.approx(expected, abs=1e-12, nan_ok=True), (name, b)


def test_bad_input_is_refused_with_one_line() -> None:
    sec = _section(2, 2)
    dup = ClassRatings(item_ids=["x"], item=np.array([0, 0]), annotator=np.array([1, 1]), code=np.array([0, 1]))
    with pytest.raises(InvalidAnnotationError, match="two ratings by one annotator"):
        sec.add(sec.create(CTX), dup, CTX)
    out = ClassRatings(item_ids=["x"], item=np.array([0]), annotator=np.array([0]), code=np.array([5]))
    with pytest.raises(InvalidAnnotationError, match=r"code indices must lie in 0\.\.1"):
        sec.add(sec.create(CTX), out, CTX)
    ds = Dataset(records=(Record(item_id="x", annotator_id="a0", label_set="label",
                                 value=Classification(label="zebra")),))
    with pytest.raises(InvalidAnnotationError, match="not among the categories"):
        sec.add(sec.create(CTX), ds, CTX)
    with pytest.raises(ConfigError, match="n_resamples"):
        ClassAgreementSection("label", ["a"], ["x"], -1)


# --------------------------------------------------------------------------- merge == whole


def _same(a: ClassAgreement, b: ClassAgreement) -> None:
    for f in fields(ClassAgreement):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y, equal_nan=True), f.name
        else:
            assert x == y, f.name  # AgreementResult dataclasses compare every field, exactly


@settings(max_examples=40, deadline=None)
@given(grids(), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_whole_equals_merge_of_random_splits_in_random_order(g: np.ndarray, n_parts: int, seed: int) -> None:
    k = int(np.nanmax(g)) + 1
    ids = [f"item-{i}" for i in range(g.shape[0])]
    sec = _section(k, g.shape[1], b=40)
    whole = _run(sec, [_columns(g, ids)])
    rng = np.random.default_rng(seed)
    part_of = rng.integers(0, n_parts, g.shape[0])
    parts = [_columns(g[part_of == p], [ids[i] for i in np.flatnonzero(part_of == p)]) for p in range(n_parts)]
    states = [sec.add(sec.create(CTX), p, CTX) for p in parts]
    # a random merge tree: pick two states, merge, put back
    while len(states) > 1:
        i, j = sorted(rng.choice(len(states), 2, replace=False).tolist())
        merged = sec.merge(states[j], states[i]) if rng.random() < 0.5 else sec.merge(states[i], states[j])
        states = [s for t, s in enumerate(states) if t not in (i, j)] + [merged]
    _same(whole, sec.finish(states[0], CTX))
    assert whole.coefficients["krippendorff_alpha"].n_resamples == 40


def test_empty_partitions_are_the_identity() -> None:
    g = KRIPP_2011 - 1
    sec = _section(5, 4, b=30)
    empty = ClassRatings(item_ids=[], item=np.zeros(0, np.int64), annotator=np.zeros(0, np.int64),
                         code=np.zeros(0, np.int64))
    _same(_run(sec, [_columns(g)]), _run(sec, [empty, _columns(g), empty]))


# --------------------------------------------------------------------------- Poisson weights


def test_poisson_weights_have_mean_and_variance_one_and_match_the_definition() -> None:
    keys = item_keys([f"task-{i}" for i in range(4000)], seed=3)
    w = poisson_weights(keys, 100)
    assert w.shape == (4000, 100)
    assert w.dtype == np.uint8
    assert np.array_equal(w, _poisson_weights_reference(keys, 100))
    assert w.mean() == pytest.approx(1.0, abs=0.02)  # 400k draws: sd of the mean 0.0016
    assert w.var() == pytest.approx(1.0, abs=0.03)
    assert np.mean(w == 0) == pytest.approx(np.exp(-1.0), abs=0.005)
    # resamples are independent: correlation between columns near 0
    corr = np.corrcoef(w[:, :20].T.astype(np.float64))
    assert np.abs(corr[~np.eye(20, dtype=bool)]).max() < 0.08


def test_poisson_weights_do_not_depend_on_the_partitioning() -> None:
    ids = [f"task-{i}" for i in range(500)]
    whole = poisson_weights(item_keys(ids, 11), 64)
    perm = np.random.default_rng(0).permutation(500)
    part = poisson_weights(item_keys([ids[i] for i in perm[:123]], 11), 64)
    assert np.array_equal(part, whole[perm[:123]])
    assert not np.array_equal(poisson_weights(item_keys(ids, 12), 64), whole)  # the seed matters


# --------------------------------------------------------------------------- run_sections


@dataclass
class _Sum:
    total: float = 0.0
    count: int = 0


class _Count:
    """Stage 0: sum and count of numbers."""

    name, stage = "count", 0

    def create(self, ctx: Context) -> _Sum:
        return _Sum()

    def add(self, state: _Sum, part: list[float], ctx: Context) -> _Sum:
        return _Sum(state.total + sum(part), state.count + len(part))

    def merge(self, a: _Sum, b: _Sum) -> _Sum:
        return _Sum(a.total + b.total, a.count + b.count)

    def finish(self, state: _Sum, ctx: Context) -> float:
        return state.total / state.count

    def next_params(self, state: _Sum, ctx: Context) -> None:
        return None


class _Spread(_Count):
    """Stage 1: mean squared deviation from stage 0's mean (reads ``ctx.results``)."""

    name, stage = "spread", 1

    def add(self, state: _Sum, part: list[float], ctx: Context) -> _Sum:
        m = ctx.results["count"]
        return _Sum(state.total + sum((x - m) ** 2 for x in part), state.count + len(part))


class _Root(_Count):
    """Iterative: Newton's method for the root of mean(x) - p**2, one pass per step."""

    name, stage = "root", 0
    passes = 0

    def add(self, state: _Sum, part: list[float], ctx: Context) -> _Sum:
        type(self).passes += 1
        return super().add(state, part, ctx)

    def next_params(self, state: _Sum, ctx: Context) -> float | None:
        p = 1.0 if ctx.params is None else float(ctx.params)
        step = (p * p - state.total / state.count) / (2 * p)
        return None if abs(step) < 1e-13 else p - step

    def finish(self, state: _Sum, ctx: Context) -> float:
        return float(ctx.params)


def test_run_sections_stages_and_iterations() -> None:
    parts: list[Any] = [[1.0, 2.0], lambda: [3.0, 4.0, 10.0], []]
    seen: list[str] = []
    _Root.passes = 0
    out = run_sections([_Spread(), _Count(), _Root()], parts, CTX, progress=seen.append)
    xs = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert out["count"] == pytest.approx(np.mean(xs))
    assert out["spread"] == pytest.approx(np.var(xs))
    assert out["root"] == pytest.approx(np.sqrt(np.mean(xs)), abs=1e-12)
    assert _Root.passes > 3 * 2  # several passes over the 3 partitions, one per Newton step
    assert seen.index("spread") > seen.index("count")  # stage 1 after stage 0


def test_run_sections_runs_the_class_section_on_partition_loaders() -> None:
    g = KRIPP_2011 - 1
    sec = _section(5, 4, b=20)
    ids = [f"item-{i}" for i in range(12)]
    out = run_sections([sec], [lambda: _columns(g[:5], ids[:5]), lambda: _columns(g[5:], ids[5:])], CTX)
    _same(out[sec.name], _run(sec, [_columns(g, ids)]))


def _tiny_dataset() -> Dataset:
    recs = [Record(item_id=f"t{i}", annotator_id=a, label_set="c", value=Classification(label=str((i + j) % 3)))
            for i in range(7) for j, a in enumerate(("ann", "bo", "cy")) if (i + j) % 4]
    skip = Submission(item_id="t3", annotator_id="dee", was_cancelled=True, annotation_id="s1")
    items = {"lonely": Item(item_id="lonely", meta={"g": "x"})}
    return Dataset(records=recs, items=items, submissions=(skip,), name="tiny")


@given(st.lists(st.integers(0, 3), min_size=8, max_size=8))
def test_split_items_keeps_whole_items_and_everything_in_order(where: list[int]) -> None:
    ds = _tiny_dataset()
    parts = split_items(ds, where, n_parts=4)
    assert len(parts) == 4
    assert sorted(i for p in parts for i in p.items) == sorted(ds.items)
    for k, p in enumerate(parts):
        mine = [i for i, w in zip(ds.items, where, strict=True) if w == k]
        assert list(p.items) == mine  # the whole dataset's item order, within the partition
        assert p.records == tuple(r for r in ds.records if r.item_id in set(mine))
        assert set(p.submissions) == {s for s in ds.submissions if s.item_id in set(mine)}
        assert p.schema is ds.schema
        assert p.name == ds.name
    assert sum(len(p.submissions) for p in parts) == len(ds.submissions)
    assert sum(s.was_cancelled for p in parts for s in p.submissions) == 1


def test_split_items_refuses_a_wrong_assignment() -> None:
    ds = _tiny_dataset()
    with pytest.raises(ValueError, match="one partition number per item"):
        split_items(ds, [0, 1])
    with pytest.raises(ValueError, match=r"must be in 0\.\.1"):
        split_items(ds, [0] * 7 + [2], n_parts=2)


def test_runner_runs_sections_over_its_partitions() -> None:
    g = KRIPP_2011 - 1
    sec = _section(5, 4, b=20)
    ids = [f"item-{i}" for i in range(12)]
    out = Runner([_columns(g[:7], ids[:7]), _columns(g[7:], ids[7:])]).run([sec], CTX)
    _same(out[sec.name], _run(sec, [_columns(g, ids)]))
