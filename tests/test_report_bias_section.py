"""The mergeable bias section (core/report/bias.py): on any split of the items, folded in any
order, it gives what the whole-dataset ``_bias`` of core/qa/report.py gives, on random datasets
(automatic keys, explicit keys, gold, duplicates, skips, model and reference records, one
annotator, items without records) and on real exports (the frozen fixtures, a Label Studio export
from a real server, Snow et al.'s crowd judgments with ten workers per item)."""

from __future__ import annotations

import csv
import json
import math
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import agreement as ag
from accord.core.errors import ConfigError
from accord.core.model import Box, Classification, Dataset, Item, Record, Submission
from accord.core.qa import gold as gold_mod
from accord.core.qa.report import ReportConfig, _agreement_and_gold, _bias
from accord.core.report.bias import BiasSection, BiasState, _alpha
from accord.core.report.engine import Context, run_sections, split_items
from accord.core.schema import LabelSet, Schema

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FROZEN = FIXTURES / "frozen"


# --------------------------------------------------------------------------- helpers


def _gold(ds: Dataset, cfg: ReportConfig) -> dict[str, gold_mod.GoldOutcome]:
    """The gold outcomes build_report hands ``_bias`` (the same ``_agreement_and_gold`` calls)."""
    out = {}
    for name in ds.label_sets:
        kind = ds.outline().kind_of(name)
        measured = _agreement_and_gold(ds, name, kind, cfg, 0) if kind else None
        if measured is not None:
            out[name] = measured[2]
    return out


def _ctx(ds: Dataset, cfg: ReportConfig, gold: dict[str, gold_mod.GoldOutcome]) -> Context:
    return Context(config=cfg, seed=0, schema=ds.schema, results={f"gold:{k}": v for k, v in gold.items()})


def _fold_shuffled(section: BiasSection, ctx: Context, parts: list[Dataset], rng: np.random.Generator) -> Any:
    """Every pass: each partition's state, merged pairwise in a random tree over a random order."""
    sctx = ctx
    while True:
        states = [section.add(section.create(sctx), p, sctx) for p in parts]
        states.append(section.create(sctx))  # the identity, somewhere
        order = list(rng.permutation(len(states)))
        pool = [states[i] for i in order]
        while len(pool) > 1:
            i = int(rng.integers(0, len(pool) - 1))
            a, b = pool[i], pool[i + 1]
            pool[i:i + 2] = [section.merge(a, b) if rng.random() < 0.5 else section.merge(b, a)]
        state = pool[0]
        params = section.next_params(state, sctx)
        if params is None:
            return section.finish(state, sctx)
        sctx = replace(sctx, params=params)


def _check_splits(ds: Dataset, cfg: ReportConfig, gold: dict[str, gold_mod.GoldOutcome], seed: int,
                  want: dict[str, Any] | None = None) -> dict[str, Any]:
    """The section on one partition, on random splits (with empty partitions) and on every item
    alone equals ``_bias`` on the whole dataset; returns it."""
    want = _bias(ds, cfg, gold) if want is None else want
    ctx = _ctx(ds, cfg, gold)
    section = BiasSection(ds.label_sets)
    rng = np.random.default_rng(seed)
    n = len(ds.items)
    assert run_sections([section], [ds], ctx)["bias"] == want
    for n_parts in (2, 5):
        parts = split_items(ds, rng.integers(0, n_parts, n), n_parts + 1)  # the last one is empty
        assert _fold_shuffled(section, ctx, parts, rng) == want
    alone = split_items(ds, np.arange(n), n) if n else [ds]
    assert _fold_shuffled(section, ctx, alone, rng) == want
    return want


# --------------------------------------------------------------------------- random datasets

SCHEMA = Schema(label_sets={
    "sent": LabelSet(name="sent", kind="classification", labels=("neg", "neu", "pos")),
    "objects": LabelSet(name="objects", kind="box", labels=("car",)),
})


def _random_dataset(seed: int, *, n_items: int, n_annotators: int, gold_share: float) -> Dataset:
    """Items with meta and data fields of every shape the key choice reads, and records of two
    classification label sets (one not in the schema) and a box label set."""
    rng = np.random.default_rng(seed)
    anns = [f"ann{j}" for j in range(n_annotators)]
    items: dict[str, Item] = {}
    records: list[Record] = []
    subs: list[Submission] = []
    sites = ["north", "south", 3, True, 2.5, None]  # ints, bools and floats become strings; None no group
    for i in range(n_items):
        item_id = f"task-{rng.integers(0, 10**6):06d}-{i}"  # item order is not sorted order
        meta: dict[str, Any] = {}
        if rng.random() < 0.8:
            meta["site"] = sites[int(rng.integers(0, len(sites)))]
        if rng.random() < 0.2:
            meta["lang"] = ["xx", "yy"][i % 2]  # the key lives in meta for some items, in data for the rest
        if rng.random() < 0.6:
            meta["batch"] = f"b{i}"  # past 20 values (20 items with it): no group
        data: dict[str, Any] = {"text": f"free text {i}", "image": f"https://example.org/{i % 3}.jpg",
                                "lang": ["en", "de", "fr"][int(rng.integers(0, 3))]}
        if rng.random() < 0.5:
            data["channel"] = ["web", "app"][int(rng.integers(0, 2))]
        if rng.random() < 0.1:
            data["channel"] = 7  # a number in data: no candidate vote, but a group once chosen
        items[item_id] = Item(item_id=item_id, data=data, meta=meta)
        if rng.random() < 0.1:
            continue  # an item without records
        for a in anns:
            if rng.random() < 0.3:
                continue
            cancelled = rng.random() < 0.08
            dur = None if rng.random() < 0.3 else float(rng.integers(1, 60))
            subs.append(Submission(item_id=item_id, annotator_id=a, annotation_id=f"{item_id}/{a}",
                                   duration_s=dur, was_cancelled=bool(cancelled)))
            for _ in range(2 if rng.random() < 0.1 else 1):  # sometimes two records by one annotator
                records.append(Record(item_id=item_id, annotator_id=a, label_set="sent",
                                      value=Classification(label=["neg", "neu", "pos"][int(rng.integers(0, 3))]),
                                      annotation_id=f"{item_id}/{a}", duration_s=dur, meta=meta))
            if rng.random() < 0.5:
                records.append(Record(item_id=item_id, annotator_id=a, label_set="topic",
                                      value=Classification(label=["t1", "t2"][int(rng.integers(0, 2))]),
                                      annotation_id=f"{item_id}/{a}", meta=meta))
            if rng.random() < 0.4:
                x = float(rng.uniform(0, 50))
                records.append(Record(item_id=item_id, annotator_id=a, label_set="objects",
                                      value=Box(label="car", x=x, y=10.0, width=20.0, height=20.0),
                                      annotation_id=f"{item_id}/{a}", region_id=f"r{i}", meta=meta))
        if rng.random() < 0.3:
            records.append(Record(item_id=item_id, annotator_id="model-v1", label_set="sent", source="model",
                                  value=Classification(label="pos"), score=0.7, meta=meta))
        if rng.random() < gold_share:
            subs.append(Submission(item_id=item_id, annotator_id="expert", source="reference"))
            records.append(Record(item_id=item_id, annotator_id="expert", label_set="sent", source="reference",
                                  value=Classification(label=["neg", "neu", "pos"][int(rng.integers(0, 3))]),
                                  meta=meta))
            records.append(Record(item_id=item_id, annotator_id="expert", label_set="objects", source="reference",
                                  value=Box(label="car", x=20.0, y=10.0, width=20.0, height=20.0), meta=meta))
    return Dataset(records=tuple(records), schema=SCHEMA, items=items, submissions=tuple(subs), name="random")


CONFIGS = [
    ReportConfig(n_bootstrap=1),  # the automatic choice: two passes
    ReportConfig(n_bootstrap=1, bias_fields=("lang", "site", "channel")),
    ReportConfig(n_bootstrap=1, group_keys=("site", "site", "nowhere")),  # a repeat and a missing key
    ReportConfig(n_bootstrap=1, bias_fields=("text",)),  # one group per item
    ReportConfig(n_bootstrap=1, bias_fields=()),
    ReportConfig(n_bootstrap=1, fdr=0.2),
]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_items=st.integers(0, 40), n_annotators=st.integers(1, 6),
       gold_share=st.sampled_from([0.0, 0.3, 1.0]), which=st.integers(0, len(CONFIGS) - 1))
def test_random_splits_equal_the_whole(seed: int, n_items: int, n_annotators: int, gold_share: float,
                                       which: int) -> None:
    ds = _random_dataset(seed, n_items=n_items, n_annotators=n_annotators, gold_share=gold_share)
    cfg = CONFIGS[which]
    _check_splits(ds, cfg, _gold(ds, cfg), seed)


def test_random_datasets_reach_every_block() -> None:
    """The generator is not vacuous: the blocks the split tests compare are filled."""
    ds = _random_dataset(5, n_items=40, n_annotators=4, gold_share=0.5)
    cfg = ReportConfig(n_bootstrap=1)
    got = _check_splits(ds, cfg, _gold(ds, cfg), 5)
    assert got["group_keys"] == ["channel", "lang", "site"]  # not text, image (URLs) or batch (> 20 values)
    assert got["key_sources"] == {"channel": ["data"], "lang": ["data", "meta"]}
    assert {(t["label_set"], t["group_key"]) for t in got["tests"]} == {
        (ls, k) for ls in ("sent", "topic") for k in ("channel", "lang", "site")}
    assert {b["label_set"] for b in got["gold_error_by_group"]} == {"sent", "objects"}
    site = next(b for b in got["distributions"] if b["label_set"] == "sent" and b["group_key"] == "site")
    assert set(site["groups"]) <= {"north", "south", "3", "True", "2.5"}
    assert len(site["groups"]) >= 4
    explicit = _check_splits(ds, CONFIGS[2], _gold(ds, CONFIGS[2]), 6)
    assert explicit["missing_keys"] == ["nowhere"]
    assert [t["group_key"] for t in explicit["tests"]] == ["site", "site", "site", "site"]


def test_one_annotator_and_no_records() -> None:
    ds = _random_dataset(11, n_items=25, n_annotators=1, gold_share=0.5)
    cfg = ReportConfig(n_bootstrap=1)
    got = _check_splits(ds, cfg, _gold(ds, cfg), 11)
    assert all(g["n_pairs"] == 0 and g["alpha"] is None for b in got["agreement_by_group"] for g in b["groups"])
    empty = Dataset(records=(), schema=SCHEMA, items={"a": Item(item_id="a", meta={"site": "x"})})
    assert _check_splits(empty, cfg, {}, 1)["group_keys"] == []


# --------------------------------------------------------------------------- real exports


def _frozen_view(x: Any) -> Any:
    return json.loads(json.dumps(x, ensure_ascii=False, allow_nan=False))


def _load(name: str) -> Dataset:
    from accord.io import load_dataset

    return load_dataset([FROZEN / f"{name}.json"], label_config=FROZEN / f"{name}.label_config.xml")


@pytest.mark.parametrize("name", ["sample", "choices", "boxes"])
def test_frozen_fixtures(name: str) -> None:
    """Equal to the frozen report's bias block (made by the engine before #16), on every split."""
    from accord.cmd_demo import load_sample

    ds = load_sample() if name == "sample" else _load(name)
    cfg = ReportConfig()
    want = json.loads((FROZEN / f"{name}.report.json").read_text(encoding="utf-8"))["bias"]
    got = _check_splits(ds, cfg, _gold(ds, cfg), 3)
    assert _frozen_view(got) == want
    assert want["tests"]
    assert want["agreement_by_group"]
    assert want["gold_error_by_group"]
    # and with keys given, one pass
    keyed = replace(cfg, bias_fields=tuple(want["group_keys"]))
    assert _check_splits(ds, keyed, _gold(ds, keyed), 4) == got


def test_label_studio_export_from_a_real_server() -> None:
    """Label Studio 1.23.2's own export (tests/fixtures/label_studio): three texts, two annotators."""
    from accord.io import load_dataset

    ds = load_dataset([FIXTURES / "label_studio" / "export_download_sync_text.json"])
    cfg = ReportConfig(bias_fields=("text",))
    got = _check_splits(ds, cfg, _gold(ds, cfg), 8)
    assert got["key_sources"] == {"text": ["data"]}
    assert len(got["agreement_by_group"][0]["groups"]) == 3
    assert _check_splits(ds, ReportConfig(), {}, 9)["group_keys"] == []  # free text is no group


def _snow_wsd() -> Dataset:
    """Snow et al. (2008) word-sense judgments (10 workers per item) with the expert sense as gold,
    grouped by the expert sense (does agreement differ by the true class?)."""
    root = FIXTURES / "crowd" / "crowdtruth" / "snow2008_wsd"
    with (root / "truth.csv").open(newline="", encoding="utf-8") as f:
        truth = {row["question"]: row["truth"] for row in csv.DictReader(f)}
    items = {q: Item(item_id=q, meta={"sense": t}) for q, t in truth.items()}
    records = []
    with (root / "answer.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            records.append(Record(item_id=row["question"], annotator_id=row["worker"], label_set="sense",
                                  value=Classification(label=row["answer"])))
    gold_ids = sorted(truth)[::4]
    records += [Record(item_id=q, annotator_id="expert", label_set="sense", source="reference",
                       value=Classification(label=truth[q])) for q in gold_ids]
    subs = [Submission(item_id=q, annotator_id="expert", source="reference") for q in gold_ids]
    subs += [Submission(item_id=r.item_id, annotator_id=r.annotator_id) for r in records if r.source == "human"]
    schema = Schema(label_sets={"sense": LabelSet(name="sense", kind="classification", labels=("1", "2", "3"))})
    return Dataset(records=tuple(records), schema=schema, items=items, submissions=tuple(subs), name="wsd")


def test_crowd_judgments_with_ten_workers_per_item() -> None:
    ds = _snow_wsd()
    cfg = ReportConfig(n_bootstrap=1)
    got = _check_splits(ds, cfg, _gold(ds, cfg), 10)
    assert got["group_keys"] == ["sense"]
    assert sum(g["n_pairs"] for g in got["agreement_by_group"][0]["groups"]) == 177 * 45  # 10 workers: 45 pairs
    assert got["gold_error_by_group"]


# --------------------------------------------------------------------------- pieces


def _sums(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The section's alpha sums of an (items, raters) grid of codes (NaN: missing)."""
    k = int(np.nanmax(grid)) + 1
    num = np.zeros(grid.shape[1] + 1, np.int64)
    nc = np.zeros(k, np.int64)
    for row in grid:
        v = row[~np.isnan(row)].astype(int)
        if v.size >= 2:
            c = np.bincount(v, minlength=k)
            num[v.size] += v.size**2 - int((c * c).sum())
            nc += c
    return num, nc, int((~np.isnan(grid)).any(axis=0).sum())


def test_alpha_from_sums_known_answer() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12
    # units, nominal alpha 0.743 (the same data as tests/test_report_engine.py::KRIPP_2011).
    from test_report_engine import KRIPP_2011

    num, nc, raters = _sums(KRIPP_2011 - 1)
    assert _alpha(num, nc, raters) == pytest.approx(0.743, abs=5e-4)
    assert _alpha(num, nc, raters) == pytest.approx(ag.krippendorff_alpha(KRIPP_2011), rel=1e-12)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), raters=st.integers(2, 8), k=st.integers(1, 4))
def test_alpha_from_sums_equals_the_kernel(seed: int, raters: int, k: int) -> None:
    """To 1e-12 (the kernel rounds each item's term; here the sum is exact): many raters per item."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, k, (int(rng.integers(1, 30)), raters)).astype(np.float64)
    grid[rng.random(grid.shape) < 0.3] = np.nan
    num, nc, n_raters = _sums(grid) if not np.isnan(grid).all() else (np.zeros(1, np.int64), np.zeros(1, np.int64), 0)
    try:
        want = ag.krippendorff_alpha(grid)
    except ag.UndefinedAgreementError:
        want = math.nan
    got = _alpha(num, nc, n_raters)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_state_is_plain_data_and_pickles() -> None:
    ds = _random_dataset(3, n_items=30, n_annotators=3, gold_share=0.5)
    cfg = ReportConfig(n_bootstrap=1, bias_fields=("site", "lang"))
    gold = _gold(ds, cfg)
    ctx = _ctx(ds, cfg, gold)
    section = BiasSection(ds.label_sets)
    parts = split_items(ds, np.arange(len(ds.items)) % 3, 3)
    states = [pickle.loads(pickle.dumps(section.add(section.create(ctx), p, ctx))) for p in parts]
    merged = section.merge(section.merge(states[0], states[1]), states[2])
    assert isinstance(merged, BiasState)
    assert section.finish(merged, ctx) == _bias(ds, cfg, gold)
    blob = pickle.dumps(merged)
    assert b"accord.core.model" not in blob  # no Record, Item or Dataset inside


def test_misuse_is_a_clear_error() -> None:
    ds = _random_dataset(4, n_items=40, n_annotators=3, gold_share=0.0)
    cfg = ReportConfig(n_bootstrap=1)
    ctx = _ctx(ds, cfg, {})
    section = BiasSection(ds.label_sets)
    first = section.add(section.create(ctx), ds, ctx)
    keys = section.next_params(first, ctx)
    assert keys == ("channel", "lang", "site")
    second = section.add(section.create(replace(ctx, params=keys)), ds, replace(ctx, params=keys))
    with pytest.raises(ConfigError, match="different keys"):
        section.merge(first, second)
    with pytest.raises(ConfigError, match="no second pass"):
        section.finish(first, ctx)
    with pytest.raises(ConfigError, match="label-set names"):
        BiasSection("sent")
    bad = Context(config=replace(cfg, bias_fields=None, group_keys="site"), seed=0,  # type: ignore[arg-type]
                  schema=ds.schema)
    with pytest.raises(ConfigError, match="list of field names"):
        section.create(bad)
