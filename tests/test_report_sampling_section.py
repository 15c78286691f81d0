"""The sampling section as a mergeable aggregator (core/report/sampling.py): the merged result of
any split of a dataset's items, folded in any order, equals ``build_report``'s ``_sampling`` on the
whole dataset: spot check (stratified draw over the canonical submission order), ISO 2859-1 lot,
disagreement sample, least-confidence, committee and k-center orders. On the real exports it equals
what ``build_report`` itself computed, to the bit; on random datasets (records interleaved across
items) it equals ``_sampling`` of the dataset in canonical order (see the module's order note)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_refs import captured_section, ref_sampling, with_old_listing
from test_report_cost_section import REAL as REAL_EXPORTS
from test_report_cost_section import SCHEMA, canonical, fold, random_dataset, splits

from accord.cmd_demo import load_sample
from accord.core.model import Classification, Dataset, Record, Submission
from accord.core.qa import report as report_mod
from accord.core.qa.report import ReportConfig
from accord.core.report.engine import Context, split_items
from accord.core.report.sampling import SamplingReport, SamplingSection, SamplingState, union_codes
from accord.io import load_dataset

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def item_scores(ds: Dataset, seed: int) -> dict[str, dict[str, float]]:
    """Per-item agreement scores of two label sets (some perfect, some items in one set only)."""
    rng = np.random.default_rng(seed)
    ids = sorted(ds.items)
    return {"cls": {i: float(rng.choice([1.0, rng.random()])) for i in ids if rng.random() < 0.8},
            "det": {i: float(rng.random()) for i in ids if rng.random() < 0.5}}


def pred_probs(ds: Dataset, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for i in sorted(ds.items):
        if rng.random() < 0.7:
            p = rng.dirichlet([1.0, 1.0, 1.0])
            out[i] = {"A": float(p[0]), "B": float(p[1]), "C": float(p[2])}
    return {"cls": out}


def ctx_for(ds: Dataset, seed: int, *, probs: Any = None, config: ReportConfig | None = None) -> Context:
    return Context(config=config or ReportConfig(), seed=seed, schema=ds.schema,
                   results={"report:item_scores": item_scores(ds, seed)}, options={"pred_probs": probs})


def today(ds: Dataset, ctx: Context) -> dict[str, Any]:
    """The report's whole-dataset sampling block as it was before the section (tests/report_refs.py)."""
    return ref_sampling(ds, ctx.results["report:item_scores"], ctx.config, ctx.seed,
                        pred_probs=ctx.options.get("pred_probs"))


def as_json(x: Any) -> str:
    return json.dumps(x, sort_keys=False, allow_nan=True)


def check_all_splits(ds: Dataset, ctx: Context, want: dict[str, Any], seed: int = 0) -> None:
    rng = random.Random(seed)
    section = SamplingSection()
    for parts in splits(ds, rng):
        got = section.finish(fold(section, ctx, parts, rng), ctx)
        assert isinstance(got, SamplingReport)
        assert as_json(got.to_dict()) == as_json(want)


# --------------------------------------------------------------------------- random datasets


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([None, 1]), st.booleans(), st.booleans())
def test_any_split_equals_the_whole_in_canonical_order(seed: int, annotators: int | None, odd_ids: bool,
                                                       with_probs: bool) -> None:
    ds = random_dataset(seed, annotators=annotators, odd_ids=odd_ids)
    ctx = ctx_for(ds, seed % 997, probs=pred_probs(ds, seed) if with_probs else None)
    section = SamplingSection()
    whole = section.finish(fold(section, ctx, [ds], random.Random(seed)), ctx).to_dict()
    assert as_json(with_old_listing(whole)) == as_json(today(canonical(ds), ctx))
    check_all_splits(ds, ctx, whole, seed)


def test_the_random_data_reach_every_block() -> None:
    """The generator exercises what the property test claims: every block, committee and k-center."""
    blocks: set[str] = set()
    methods: set[tuple[str, Any]] = set()
    for seed in range(12):
        ds = random_dataset(seed, n_items=25, annotators=3)
        out = today(canonical(ds), ctx_for(ds, seed))
        blocks |= set(out)
        methods |= {(o["method"], o["label_set"]) for o in out.get("active_learning", {}).get("orders", [])}
    assert blocks == {"spot_check", "acceptance", "disagreement_sample", "active_learning"}
    assert {("least_confidence", None), ("vote_entropy", "cls"), ("k_center", "cls"), ("k_center", "det"),
            ("vote_entropy", "extra")} <= methods


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_spot_check_is_independent_of_the_order(seed: int) -> None:
    """The spot-check population is already canonical: on the original order it is today's, bit for bit."""
    ds = random_dataset(seed, n_items=30, annotators=3)
    ctx = ctx_for(ds, seed)
    got = SamplingSection().finish(fold(SamplingSection(), ctx, split_items(ds, [j % 4 for j in range(30)], 4),
                                        random.Random(seed)), ctx).to_dict()
    want = today(ds, ctx)
    for key in ("spot_check", "acceptance", "disagreement_sample"):
        assert as_json(got.get(key)) == as_json(want.get(key))
    assert got["spot_check"]["population"] == sum(
        1 for s in ds.submissions if s.source == "human" and not s.was_cancelled)


def test_item_ids_with_double_colons_are_listed_whole() -> None:
    """Item ids holding "::" draw the same units as before, but are listed as themselves: the old
    block split "item::annotator" at the first "::" and listed "t::12" as "t" (a bug, fixed)."""
    ds = random_dataset(21, n_items=20, annotators=3, odd_ids=True)
    ctx = ctx_for(ds, 5)
    old = today(ds, ctx)
    section = SamplingSection()
    want = section.finish(fold(section, ctx, [ds], random.Random(0)), ctx).to_dict()
    assert want["spot_check"]["size"] > 0
    assert {x["item_id"] for x in old["spot_check"]["items"]} == {"t"}
    listed = [x["item_id"] for x in want["spot_check"]["items"]]
    assert set(listed) <= set(ds.items)
    assert any("::" in i for i in listed)
    assert with_old_listing(want)["spot_check"] == old["spot_check"]
    assert [x["annotator_id"] for x in want["spot_check"]["items"]] == [
        x["annotator_id"] for x in old["spot_check"]["items"]]
    check_all_splits(ds, ctx, want)


def test_skips_are_not_in_the_population() -> None:
    """A skip (cancelled submission) beside a real pass of the same annotator and item is no unit."""
    recs = tuple(Record(item_id=f"i{j}", annotator_id=a, label_set="cls", value=Classification(label="A"),
                        annotation_id=f"r{j}{a}") for j in range(6) for a in ("a", "b"))
    subs = tuple(Submission(item_id=f"i{j}", annotator_id="a", was_cancelled=True, annotation_id=f"s{j}")
                 for j in range(6))
    ds = Dataset(records=recs, schema=SCHEMA, submissions=subs)
    ctx = ctx_for(ds, 3)
    want = today(ds, ctx)
    assert want["spot_check"]["population"] == 12
    check_all_splits(ds, ctx, want)
    got = SamplingSection().finish(fold(SamplingSection(), ctx, split_items(ds, [0, 1, 2, 0, 1, 2], 3),
                                        random.Random(0)), ctx)
    # the population build_report hands to grade_estimate, in the spot check's order
    assert got.submissions() == sorted((s.item_id, s.annotator_id) for s in ds.submissions if not s.was_cancelled)


def test_nothing_to_sample() -> None:
    ds = Dataset(records=(), schema=SCHEMA)
    ctx = Context(config=ReportConfig(), seed=0, schema=SCHEMA, results={"report:item_scores": {}})
    section = SamplingSection()
    assert section.finish(section.create(ctx), ctx).to_dict() == today(ds, ctx) == {}


def test_merge_is_associative_and_commutative() -> None:
    ds = random_dataset(12, n_items=30, annotators=3)
    ctx = ctx_for(ds, 4)
    s = SamplingSection()
    a, b, c = (s.add(s.create(ctx), p, ctx) for p in split_items(ds, [j % 3 for j in range(30)], 3))
    results = [as_json(s.finish(m, ctx).to_dict()) for m in (
        s.merge(s.merge(a, b), c), s.merge(a, s.merge(b, c)), s.merge(c, s.merge(b, a)),
        s.merge(s.merge(s.create(ctx), b), s.merge(c, a)))]
    assert len(set(results)) == 1


def test_state_is_plain_data() -> None:
    ds = random_dataset(8, n_items=12, annotators=2)
    ctx = ctx_for(ds, 0)
    state = SamplingSection().add(SamplingSection().create(ctx), ds, ctx)
    assert isinstance(state, SamplingState)
    for name in SamplingState.__slots__:
        value = getattr(state, name)
        assert isinstance(value, np.ndarray | tuple | dict), name
        if isinstance(value, np.ndarray):
            assert value.dtype != object, name


def test_union_codes() -> None:
    names, a, b = union_codes(("b", "d"), ("a", "b", "c"))
    assert names == ("a", "b", "c", "d")
    assert a.tolist() == [1, 3]
    assert b.tolist() == [0, 1, 2]


# --------------------------------------------------------------------------- real exports


def captured_sampling() -> Any:
    """Run ``build_report`` with its sampling section's context and result recorded."""
    return captured_section("SamplingSection", lambda ctx, out: {
        "item_scores": ctx.results["report:item_scores"], "config": ctx.config, "seed": ctx.seed,
        "pred_probs": ctx.options.get("pred_probs"), "out": json.loads(as_json(out.to_dict()))})


REAL = {
    **REAL_EXPORTS,  # the bundled sample, the frozen exports, a real Label Studio 1.23 snapshot export
    # CVAT 2.x images export (tests/fixtures/cvat/README.md)
    "cvat_images": lambda: load_dataset([FIXTURES / "cvat" / "images_train.xml"]),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_exports_equal_build_report(name: str) -> None:
    ds = REAL[name]()
    with captured_sampling() as seen:
        report_mod.build_report(ds, seed=3)
    ctx = Context(config=seen["config"], seed=seen["seed"], schema=ds.schema,
                  results={"report:item_scores": seen["item_scores"]}, options={"pred_probs": seen["pred_probs"]})
    assert seen["out"]  # something to compare
    assert seen["out"] == json.loads(as_json(today(ds, ctx)))  # what build_report wrote is today's block
    check_all_splits(ds, ctx, seen["out"], seed=len(name))


def test_sample_with_model_probabilities() -> None:
    """The bundled sample with class probabilities given: the k-center vectors come from them."""
    ds = load_sample()
    name = next(n for n, ls in ds.schema.label_sets.items() if ls.kind == "classification")
    classes = ds.schema.label_sets[name].labels
    rng = np.random.default_rng(0)
    probs = {name: {i: dict(zip(classes, rng.dirichlet(np.ones(len(classes))).tolist(), strict=True))
                    for i in sorted(ds.items)}}
    ctx = Context(config=ReportConfig(), seed=1, schema=ds.schema,
                  results={"report:item_scores": item_scores(ds, 1)}, options={"pred_probs": probs})
    want = today(ds, ctx)
    assert any(o["basis"] == "model class probabilities (given)" for o in want["active_learning"]["orders"])
    check_all_splits(ds, ctx, want)
