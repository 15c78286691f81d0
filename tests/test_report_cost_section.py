"""The cost section as a mergeable aggregator (core/report/cost.py): the merged result of any split
of a dataset's items, folded in any order, equals ``build_report``'s ``_cost`` on the whole dataset
taken in the canonical order (items by id, submission order within an item), on random pilots and
on real exports; on the original order only the bootstrap interval bounds may differ (the forecast
draws pilot items by position), which is checked too."""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_refs import captured_section, ref_cost

from accord.cmd_demo import load_sample
from accord.core.cost import analyze_pilot, config_from_dict
from accord.core.model import Box, Classification, Dataset, Item, Record, Submission
from accord.core.qa import report as report_mod
from accord.core.qa.report import ReportConfig
from accord.core.report.cost import CostReport, CostSection, CostState
from accord.core.report.engine import Context, split_items
from accord.core.schema import LabelSet, Schema
from accord.io import load_dataset

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCHEMA = Schema(label_sets={"cls": LabelSet(name="cls", kind="classification", labels=("A", "B", "C")),
                            "det": LabelSet(name="det", kind="box", labels=("car", "person"))})
AGREEMENT = {"cls": {"primary": "krippendorff_alpha", "coefficients": {"krippendorff_alpha": {"estimate": 0.71}}}}
GOLD = {"cls": {"a0": {"score": {"estimate": 0.9}}, "a1": {"score": {"estimate": 0.8}}}}


# --------------------------------------------------------------------------- data


def _ts(rng: np.random.Generator) -> str | None:
    """An ISO timestamp within one hour, or (sometimes) none."""
    return None if rng.random() < 0.15 else f"2026-01-01T10:{int(rng.integers(0, 60)):02d}:00+00:00"


def random_dataset(seed: int, *, n_items: int | None = None, annotators: int | None = None,
                   odd_ids: bool = False) -> Dataset:
    """A seeded pilot with every edge the cost and sampling sections meet: items without records,
    one annotator or several, missing / zero / outlier durations, cancelled submissions, model
    records (scored or not, before or after the human), reference records, a label set not in the
    schema, and records interleaved across items (not grouped, not sorted)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 24)) if n_items is None else n_items
    r = int(rng.integers(1, 5)) if annotators is None else annotators
    sep = "::" if odd_ids else "-"
    ids = [f"t{sep}{j}" for j in rng.choice(1000, size=n, replace=False).tolist()]
    items = {i: Item(item_id=i) for i in ids}
    records: list[Record] = []
    subs: list[Submission] = []
    for i in ids:
        if rng.random() < 0.15:
            continue  # an item nobody labeled
        for a in range(r):
            if rng.random() < 0.25:
                continue
            ann = f"a{a}"
            cancelled = rng.random() < 0.1
            u = rng.random()
            duration = None if u < 0.15 else 0.0 if u < 0.2 else float(rng.lognormal(2.5, 0.4)) * (
                40.0 if rng.random() < 0.05 else 1.0)
            created = _ts(rng)
            subs.append(Submission(item_id=i, annotator_id=ann, duration_s=duration, was_cancelled=cancelled,
                                   created_at=created, annotation_id=f"{i}/{ann}"))
            if cancelled:
                continue
            if rng.random() < 0.9:
                records.append(Record(item_id=i, annotator_id=ann, label_set="cls", created_at=created,
                                      value=Classification(label=str(rng.choice(["A", "B", "C"]))),
                                      annotation_id=f"{i}/{ann}"))
            for _ in range(int(rng.integers(0, 3))):
                records.append(Record(item_id=i, annotator_id=ann, label_set="det", created_at=created,
                                      annotation_id=f"{i}/{ann}",
                                      value=Box(label=str(rng.choice(["car", "person"])), x=float(rng.integers(0, 50)),
                                                y=10.0, width=20.0, height=20.0)))
            if rng.random() < 0.1:
                records.append(Record(item_id=i, annotator_id=ann, label_set="extra", annotation_id=f"{i}/{ann}",
                                      value=Classification(label=str(rng.choice(["x", "y"])))))
        for m in range(int(rng.integers(0, 4))):
            score = None if rng.random() < 0.2 else float(rng.random()) * (1.3 if rng.random() < 0.1 else 1.0)
            lab = str(rng.choice(["A", "B", "C", "D"]))
            records.append(Record(item_id=i, annotator_id=f"m{m}", label_set="cls", source="model", score=score,
                                  value=Classification(label=lab), created_at=_ts(rng)))
            if rng.random() < 0.5:
                records.append(Record(item_id=i, annotator_id=f"m{m}", label_set="det", source="model",
                                      score=None if rng.random() < 0.2 else float(rng.random()),
                                      value=Box(label=str(rng.choice(["car", "person"])), x=0.0, y=10.0,
                                                width=20.0, height=20.0), created_at=_ts(rng)))
            if rng.random() < 0.15:
                records.append(Record(item_id=i, annotator_id=f"m{m}", label_set="extra", source="model",
                                      score=float(rng.random()), value=Classification(label="x")))
        if rng.random() < 0.2:
            records.append(Record(item_id=i, annotator_id="gold", label_set="cls", source="reference",
                                  value=Classification(label="E")))
    order = rng.permutation(len(records))  # interleave items: a partitioned run cannot rely on ds order
    keyed = sorted(range(len(records)), key=lambda k: (order[k] % 3, k))  # but keep order within an item
    return Dataset(records=tuple(records[k] for k in keyed), schema=SCHEMA, items=items,
                   submissions=tuple(subs[k] for k in rng.permutation(len(subs)).tolist()), name="pilot")


def canonical(ds: Dataset) -> Dataset:
    """``ds`` with items by id and records / submissions stably sorted by item id (the order a
    partitioned run reproduces)."""
    return Dataset(records=tuple(sorted(ds.records, key=lambda r: r.item_id)), schema=ds.schema,
                   items={i: ds.items[i] for i in sorted(ds.items)},
                   submissions=tuple(sorted(ds.submissions, key=lambda s: s.item_id)), name=ds.name)


def splits(ds: Dataset, rng: random.Random) -> Iterator[list[Dataset]]:
    """One partition, every item alone, and random splits with empty partitions."""
    n = len(ds.items)
    yield split_items(ds, [0] * n, 1)
    yield split_items(ds, list(range(n)), max(n, 1))
    for k in (2, 5):
        yield split_items(ds, [rng.randrange(k) for _ in range(n)], k + 1)  # partition k stays empty


def fold(section: Any, ctx: Context, parts: Sequence[Dataset], rng: random.Random) -> Any:
    """Add each partition to its own state, then merge in a random order and a random tree shape."""
    states = [section.add(section.create(ctx), p, ctx) for p in parts]
    rng.shuffle(states)
    states = [pickle.loads(pickle.dumps(s)) for s in states]  # states travel to a scheduler
    while len(states) > 1:
        j = rng.randrange(len(states) - 1)
        states[j:j + 2] = [section.merge(states[j], states[j + 1])]
    return states[0] if states else section.create(ctx)


def ctx_for(seed: int, *, cost: Any = None, cost_items: int | None = None,
            agreement: Any = None, gold: Any = None) -> Context:
    return Context(config=ReportConfig(), seed=seed, schema=SCHEMA,
                   results={"report:agreement": AGREEMENT if agreement is None else agreement,
                            "report:gold": GOLD if gold is None else gold},
                   options={"cost": cost, "cost_items": cost_items})


def today(ds: Dataset, ctx: Context) -> dict[str, Any]:
    """The report's whole-dataset cost block as it was before the section (tests/report_refs.py)."""
    return ref_cost(ds, ctx.results["report:agreement"], ctx.results["report:gold"],
                    ctx.options.get("cost"), ctx.options.get("cost_items"), ctx.seed)


def as_json(x: Any) -> str:
    return json.dumps(x, sort_keys=False, allow_nan=True)


def without_bounds(x: Any) -> Any:
    """The cost block with every bootstrap interval's ``low`` / ``high`` removed."""
    if isinstance(x, dict):
        return {k: without_bounds(v) for k, v in x.items() if not ({"estimate", "low", "high"} <= set(x)
                                                                   and k in ("low", "high"))}
    if isinstance(x, list):
        return [without_bounds(v) for v in x]
    return x


def close(got: Any, want: Any, path: str = "$") -> list[str]:
    """Where ``got`` and ``want`` differ (numbers to 1e-12 relative), as JSON paths."""
    if isinstance(want, float) and isinstance(got, float):
        return [] if abs(got - want) <= 1e-12 * max(abs(want), 1.0) else [f"{path}: {got!r} != {want!r}"]
    if isinstance(want, dict) and isinstance(got, dict):
        if list(got) != list(want):
            return [f"{path}: keys {list(got)!r} != {list(want)!r}"]
        return [d for k in want for d in close(got[k], want[k], f"{path}.{k}")]
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True)) for d in close(g, w, f"{path}[{i}]")]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


def check_all_splits(ds: Dataset, ctx: Context, seed: int = 0) -> dict[str, Any]:
    want = today(canonical(ds), ctx)
    rng = random.Random(seed)
    section = CostSection()
    for parts in splits(ds, rng):
        got = section.finish(fold(section, ctx, parts, rng), ctx)
        assert isinstance(got, CostReport)
        assert as_json(got.to_dict()) == as_json(want)
    return want


# --------------------------------------------------------------------------- random pilots


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([None, 1]))
def test_any_split_equals_the_whole_in_canonical_order(seed: int, annotators: int | None) -> None:
    ds = random_dataset(seed, annotators=annotators)
    check_all_splits(ds, ctx_for(seed % 1000), seed)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_only_the_interval_bounds_depend_on_the_order(seed: int) -> None:
    ds = random_dataset(seed, n_items=30, annotators=3)
    ctx = ctx_for(seed)
    got = CostSection().finish(fold(CostSection(), ctx, split_items(ds, [j % 4 for j in range(30)], 4),
                                    random.Random(seed)), ctx).to_dict()
    # the pilot's means and sums add the passes in another order: equal to 1e-12, not always bit for bit
    assert close(without_bounds(got), without_bounds(today(ds, ctx))) == []
    assert got["forecast"]["n_boot"] == 500


def test_pilot_stats_of_a_split_equal_analyze_pilot_of_the_whole() -> None:
    ds = random_dataset(11, n_items=40, annotators=3)
    ctx = ctx_for(0)
    section = CostSection()
    got = section.finish(fold(section, ctx, split_items(ds, [j % 3 for j in range(40)], 3), random.Random(0)), ctx)
    want = analyze_pilot(canonical(ds))
    assert got.pilot is not None
    assert as_json(got.pilot.to_dict()) == as_json(want.to_dict())
    assert got.pilot.passes == want.passes  # every pass, in the same order, outlier flags included


def test_the_options_reach_the_forecast() -> None:
    ds = random_dataset(5, n_items=20, annotators=2)
    cfg = config_from_dict({"pricing": {"model": "per_hour", "rate_per_hour": 30.0}})
    ctx = ctx_for(9, cost=cfg, cost_items=12_345)
    want = check_all_splits(ds, ctx)
    assert want["forecast"]["items"] == 12_345
    assert want["forecast"]["pricing_model"] == "per_hour"


def test_default_items_is_the_whole_item_count() -> None:
    ds = random_dataset(6, n_items=17, annotators=2)
    ctx = ctx_for(1)
    parts = split_items(ds, [j % 5 for j in range(17)], 5)
    got = CostSection().finish(fold(CostSection(), ctx, parts, random.Random(1)), ctx).to_dict()
    assert got["forecast"]["items"] == 17


def test_an_untimed_pilot_forecasts_from_defaults() -> None:
    ds = random_dataset(7, n_items=10, annotators=2)
    untimed = Dataset(records=ds.records, schema=ds.schema, items=ds.items, name=ds.name,
                      submissions=tuple(Submission(item_id=s.item_id, annotator_id=s.annotator_id,
                                                   annotation_id=s.annotation_id, was_cancelled=s.was_cancelled)
                                        for s in ds.submissions))
    want = check_all_splits(untimed, ctx_for(2))
    assert want["forecast"]["n_boot"] == 0
    assert CostSection().finish(CostSection().create(ctx_for(2)), ctx_for(2)).to_dict() == today(
        Dataset(records=(), schema=SCHEMA), ctx_for(2))  # the empty state is an empty dataset


def test_zero_durations_are_untimed_as_today() -> None:
    ds = Dataset(records=(Record(item_id="x", annotator_id="a", label_set="cls", value=Classification(label="A")),),
                 schema=SCHEMA, submissions=(Submission(item_id="x", annotator_id="a", duration_s=0.0),))
    want = check_all_splits(ds, ctx_for(0))
    assert want["forecast"]["basis"].startswith("defaults")


def test_state_is_plain_data() -> None:
    ds = random_dataset(8, n_items=12, annotators=2)
    ctx = ctx_for(0)
    state = CostSection().add(CostSection().create(ctx), ds, ctx)
    assert isinstance(state, CostState)
    for name in CostState.__slots__:  # numbers, strings, arrays of them: no model objects
        value = getattr(state, name)
        assert isinstance(value, np.ndarray | tuple | dict | int | bool), name
        if isinstance(value, np.ndarray):
            assert value.dtype != object, name


def test_merge_is_associative_and_commutative() -> None:
    ds = random_dataset(12, n_items=30, annotators=3)
    ctx = ctx_for(4)
    s = CostSection()
    a, b, c = (s.add(s.create(ctx), p, ctx) for p in split_items(ds, [j % 3 for j in range(30)], 3))
    results = [as_json(s.finish(m, ctx).to_dict()) for m in (
        s.merge(s.merge(a, b), c), s.merge(a, s.merge(b, c)), s.merge(c, s.merge(b, a)),
        s.merge(s.merge(s.create(ctx), b), s.merge(c, a)))]
    assert len(set(results)) == 1


# --------------------------------------------------------------------------- real exports


def captured_cost() -> Any:
    """Run ``build_report`` with its cost section's inputs and result recorded."""
    return captured_section("CostSection", lambda ctx, out: {
        "agreement": ctx.results["report:agreement"], "gold": ctx.results["report:gold"],
        "config": ctx.options.get("cost"), "items": ctx.options.get("cost_items"), "seed": ctx.seed,
        "out": out.to_dict()})


def _frozen(name: str) -> Dataset:
    return load_dataset([FIXTURES / "frozen" / f"{name}.json"],
                        label_config=FIXTURES / "frozen" / f"{name}.label_config.xml")


REAL = {
    "sample": load_sample,
    "choices": lambda: _frozen("choices"),
    "boxes": lambda: _frozen("boxes"),
    # a real Label Studio 1.23 snapshot export (lead times, full prediction objects)
    "label_studio_snapshot": lambda: load_dataset([FIXTURES / "label_studio" / "export_snapshot_full.json"]),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_exports(name: str) -> None:
    ds = REAL[name]()
    with captured_cost() as seen:
        report_mod.build_report(ds, seed=3)
    ctx = Context(config=ReportConfig(), seed=seen["seed"], schema=ds.schema,
                  results={"report:agreement": seen["agreement"], "report:gold": seen["gold"]},
                  options={"cost": seen["config"], "cost_items": seen["items"]})
    # the figures build_report wrote, but for the bootstrap bounds (pilot items drawn by position)
    rng = random.Random(name)
    section = CostSection()
    for parts in splits(ds, rng):
        got = section.finish(fold(section, ctx, parts, rng), ctx).to_dict()
        assert close(without_bounds(got), without_bounds(seen["out"])) == []
        assert as_json(got) == as_json(today(canonical(ds), ctx))  # and every figure, in canonical order
