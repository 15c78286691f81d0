"""The whole class-agreement block as a mergeable section (core/report/class_agreement.py, issue #16).

Over any split of a dataset's items (one part, 3 and 7 parts with empty ones, every item alone),
folded in any order or merged as a random tree with the states pickled (as a Dask run ships
them) and without ``ctx.order`` in ``add`` / ``merge``, the section's ``(block, item_scores)``
equals, as JSON text (so key order, every figure and every interval bound), what the report
computed before from the whole dataset (``tests/report_refs_classes.py``, the old code kept
verbatim). Data: real exports nobody here wrote (Snow et al. 2008 crowd judgments read as nominal,
ordinal and numeric ratings; Label Studio, CVAT and the frozen exports), seeded random datasets of
every class kind with the edges the block meets, and whole reports over splits.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import pickle
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from report_refs_classes import ref_class_agreement

from accord.cmd_demo import load_sample
from accord.core.errors import ConfigError
from accord.core.model import Classification, Dataset, Item, MultiLabel, Numeric, Record, Submission
from accord.core.qa.report import ReportConfig, build_report
from accord.core.report.class_agreement import ClassAgreementBlockSection, ClassJudgments
from accord.core.report.engine import Context, ItemOrder, Runner, split_items
from accord.core.schema import LabelSet, Schema
from accord.io import load_dataset

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CROWD = FIXTURES / "crowd"


# --------------------------------------------------------------------------- folding


def _ctx(ds: Dataset, cfg: ReportConfig, seed: int) -> Context:
    return Context(config=cfg, seed=seed, schema=ds.schema, order=ItemOrder(ds.items))


def _kind(ds: Dataset, name: str) -> str:
    ls = ds.schema.label_sets.get(name)
    return ls.kind if ls else ds.select(label_set=name)[0].kind


def tree_fold(rng: random.Random) -> Callable[[Any, Context, Sequence[Any]], Any]:
    """A fold as a Dask run does it: ``add`` without ``ctx.order``, states pickled, merged as a
    random tree (any pair, either side first)."""

    def fold(section: Any, ctx: Context, partitions: Sequence[Any]) -> Any:
        wctx = ctx.for_workers()
        states = [pickle.loads(pickle.dumps(section.add(section.create(wctx), p, wctx))) for p in partitions]
        if not states:
            return section.create(wctx)
        while len(states) > 1:
            i, j = rng.sample(range(len(states)), 2)
            merged = section.merge(states[i], states[j])
            states = [s for k, s in enumerate(states) if k not in (i, j)] + [merged]
        return states[0]

    return fold


def splits(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One part; 3 parts; 7 parts, most items in part 0 and some parts empty; every item alone."""
    return [np.zeros(n, dtype=np.int64), rng.integers(0, 3, size=n),
            rng.integers(0, 7, size=n) * (rng.random(n) < 0.6), np.arange(n)]


def as_json(result: tuple[dict[str, Any], dict[str, float]]) -> str:
    block, scores = result
    return json.dumps({"block": block, "scores": scores, "order": list(scores)}, allow_nan=True)


def check_splits(ds: Dataset, name: str, cfg: ReportConfig, seed: int = 3) -> tuple[dict[str, Any], dict[str, float]]:
    """Assert every split's result equals the old whole-dataset function's; return that result."""
    want = ref_class_agreement(ds, name, cfg, seed)
    text = as_json(want)
    section = ClassAgreementBlockSection(name, _kind(ds, name))
    ctx = _ctx(ds, cfg, seed)
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    for k, parts in enumerate(splits(len(ds.items), rng)):
        pieces = split_items(ds, parts)
        shuffled = [pieces[j] for j in rng.permutation(len(pieces))]
        runner = Runner(shuffled) if k % 2 == 0 else Runner(shuffled, tree_fold(pyrng))
        got = runner.run([section], ctx)[section.name]
        assert as_json(got) == text, f"split {k} of {name}"
    return want


# --------------------------------------------------------------------------- real data


def _snow(task: str, *, value: Callable[[str], Any] = lambda a: Classification(label=a),
          scale: str | None = None, kind: str = "classification") -> Dataset:
    """Snow et al. (2008) Mechanical Turk judgments (tests/fixtures/crowd/README.md), one record per
    row of ``answer.csv`` in its order; ``scale`` declares the label set's scale."""
    with (CROWD / "crowdtruth" / task / "answer.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    records = [Record(item_id=r["question"], annotator_id=r["worker"], label_set="answer", value=value(r["answer"]))
               for r in rows]
    schema = Schema(label_sets={"answer": LabelSet(name="answer", kind=kind, scale=scale)}) if scale else Schema()
    return Dataset(records=tuple(records), schema=schema, name=task)


def _frozen(name: str) -> Dataset:
    frozen = FIXTURES / "frozen"
    return load_dataset([frozen / f"{name}.json"], label_config=frozen / f"{name}.label_config.xml")


REAL: dict[str, tuple[Callable[[], Dataset], str]] = {
    "sample": (load_sample, "sentiment"),
    "choices": (lambda: _frozen("choices"), "sentiment"),
    "boxes-scene": (lambda: _frozen("boxes"), "scene"),
    # a Label Studio 1.23 export (two annotators, three tasks)
    "ls-sync-text": (lambda: load_dataset([FIXTURES / "label_studio" / "export_download_sync_text.json"]), "sentiment"),
    # CVAT's own export: one annotator (agreement undefined; the note path)
    "cvat-images-tags": (lambda: load_dataset([FIXTURES / "cvat" / "images_train.xml"]), "tags"),
    # 164 workers, 10 judgments an item: the sparse pairwise kappa matrix and its cells' intervals
    "snow-rte": (lambda: _snow("snow2008_rte"), "answer"),
    "snow-temp": (lambda: _snow("snow2008_temp"), "answer"),
    "snow-wsd": (lambda: _snow("snow2008_wsd"), "answer"),
    # the word senses 1 < 2 < 3 read as an ordinal scale, and as numbers on an interval scale
    "snow-wsd-ordinal": (lambda: _snow("snow2008_wsd", scale="ordinal"), "answer"),
    "snow-wsd-numeric": (lambda: _snow("snow2008_wsd", value=lambda a: Numeric(value=float(a)), scale="interval",
                                       kind="numeric"), "answer"),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_exports_over_any_split_equal_the_old_block(name: str) -> None:
    load, label_set = REAL[name]
    ds = load()
    cfg = ReportConfig(n_bootstrap=120)
    block, scores = check_splits(ds, label_set, cfg)
    if name == "cvat-images-tags":
        assert block["primary"] is None
        assert "note" in block
    else:
        assert block["coefficients"]["krippendorff_alpha"]["estimate"] is not None
        assert scores
    if name == "snow-rte":
        assert block["n_annotators"] == 164
        assert block["pairwise"]["n_pairs_shown"] > 0  # the cell intervals are exercised
        assert any(v is not None for row in block["intervals"]["pairwise"]["low"] for v in row)


# --------------------------------------------------------------------------- seeded random data


LABELS = ("a", "b", "c", "d")


def random_dataset(seed: int, kind: str, scale: str = "nominal") -> Dataset:
    """A seeded dataset with the edges the block meets: one annotator (seeds 7, 17, 27), items rated by one or none,
    annotators who only skip or only label another set (they are still matrix columns), a second
    record by the same annotator (the first counts), off-schema labels (classes), empty choices
    (multilabel), records interleaved across items, and a second label set around it."""
    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(1, 40))
    n_ann = 1 if seed % 10 == 7 else int(rng.integers(2, 6))  # one annotator: agreement undefined
    ids = [f"i{j:03d}" for j in rng.choice(1000, size=n_items, replace=False).tolist()]
    records: list[Record] = []
    subs: list[Submission] = []
    for i in ids:
        for a in range(n_ann):
            ann = f"ann{a}"
            u = rng.random()
            if u < 0.2:
                continue
            if u < 0.27:
                subs.append(Submission(item_id=i, annotator_id=ann, was_cancelled=True, annotation_id=f"{i}/{ann}/x"))
                continue
            subs.append(Submission(item_id=i, annotator_id=ann, annotation_id=f"{i}/{ann}"))
            if kind == "multilabel" and rng.random() < 0.15:
                continue  # chose nothing: the empty set
            for _ in range(1 + int(rng.random() < 0.1)):  # sometimes a second record, which is not read
                if kind == "numeric":
                    value: Any = Numeric(value=float(rng.integers(1, 6)) + (0.5 if rng.random() < 0.2 else 0.0))
                elif kind == "multilabel":
                    k = int(rng.integers(1, 3))
                    value = MultiLabel(labels=tuple(rng.choice(["x", "y", "z", "odd"], size=k).tolist()))
                else:
                    lab = str(rng.choice(LABELS[: 2 + seed % 3]))
                    value = Classification(label="Zed" if rng.random() < 0.05 else lab)
                records.append(Record(item_id=i, annotator_id=ann, label_set="cls", value=value,
                                      annotation_id=f"{i}/{ann}"))
        if n_ann > 1 and rng.random() < 0.3:
            records.append(Record(item_id=i, annotator_id="other", label_set="note",
                                  value=Classification(label="n")))
    rng.shuffle(records)  # type: ignore[arg-type]
    declared = {"multilabel": ("x", "y", "z"), "numeric": ()}.get(kind, LABELS)
    schema = Schema(label_sets={"cls": LabelSet(name="cls", kind=kind, labels=declared, scale=scale),  # type: ignore[arg-type]
                                "note": LabelSet(name="note", kind="classification", labels=("n",))})
    return Dataset(records=tuple(records), schema=schema, items={i: Item(item_id=i) for i in ids},
                   submissions=tuple(subs), name=f"random-{seed}")


CASES = ([(s, "classification", "nominal") for s in range(8)] + [(s, "classification", "ordinal") for s in range(8, 12)]
         + [(s, "numeric", "interval") for s in range(12, 18)] + [(s, "numeric", "ratio") for s in range(18, 20)]
         + [(s, "multilabel", "nominal") for s in range(20, 28)])


@pytest.mark.parametrize(("seed", "kind", "scale"), CASES)
def test_random_datasets_over_any_split_equal_the_old_block(seed: int, kind: str, scale: str) -> None:
    ds = random_dataset(seed, kind, scale)
    cfg = ReportConfig(n_bootstrap=60, min_pair_items=2)
    check_splits(ds, "cls", cfg, seed=seed)


def test_the_random_data_meets_its_edges() -> None:
    """The cases above are not all trivial: several have coefficients, off-schema labels, and
    annotators with no rating in the set."""
    cfg = ReportConfig(n_bootstrap=20, min_pair_items=2)
    blocks = [ref_class_agreement(random_dataset(s, k, sc), "cls", cfg, s)[0] for s, k, sc in CASES]
    defined = [b for b in blocks if b["coefficients"].get("krippendorff_alpha", {}).get("estimate") is not None]
    assert len(defined) >= len(CASES) // 2
    assert sum("off_schema_labels" in b for b in blocks) >= 3
    assert sum(b.get("note") is not None for b in blocks) >= 1
    assert {b["kind"] for b in defined} == {"classification", "numeric", "multilabel"}


# --------------------------------------------------------------------------- the whole report


def _frozen_view(report: dict[str, Any]) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("make_frozen", FIXTURES / "frozen" / "make_frozen.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    view: dict[str, Any] = mod.frozen_view(report)
    return view


def three_kinds(seed: int) -> Dataset:
    """One dataset with a nominal, an ordinal, a numeric and a multi-select label set."""
    parts = [random_dataset(seed, "classification"), random_dataset(seed + 1, "classification", "ordinal"),
             random_dataset(seed + 2, "numeric", "interval"), random_dataset(seed + 3, "multilabel")]
    records: list[Record] = []
    subs: list[Submission] = []
    sets: dict[str, LabelSet] = {}
    for k, d in enumerate(parts):
        name = f"cls{k}"
        records += [replace(r, label_set=name) for r in d.records if r.label_set == "cls"]
        subs += list(d.submissions)
        sets[name] = replace(d.schema.label_sets["cls"], name=name)
    items = {i: Item(item_id=i) for d in parts for i in d.items}
    return Dataset(records=tuple(records), schema=Schema(label_sets=sets), items=items, submissions=tuple(subs),
                   name="kinds")


@pytest.mark.parametrize("seed", [5, 40])
def test_build_report_over_any_split_equals_the_whole(seed: int) -> None:
    ds = three_kinds(seed)
    cfg = ReportConfig(n_bootstrap=50, min_pair_items=2)
    whole = _frozen_view(build_report(ds, config=cfg, seed=3, checks=False))
    assert set(whole["agreement"]) == {"cls0", "cls1", "cls2", "cls3"}
    rng = np.random.default_rng(seed)
    for parts in splits(len(ds.items), rng)[1:]:
        pieces = split_items(ds, parts)
        runner = Runner(tuple(pieces[j] for j in rng.permutation(len(pieces))))
        assert _frozen_view(build_report(ds, config=cfg, seed=3, checks=False, runner=runner)) == whole


# --------------------------------------------------------------------------- controls and contract


def test_a_split_that_loses_a_partition_changes_the_block() -> None:
    """The equalities above can fail: fold all partitions but one and the block differs."""
    ds = _snow("snow2008_wsd")
    cfg = ReportConfig(n_bootstrap=50)
    section = ClassAgreementBlockSection("answer", "classification")
    ctx = _ctx(ds, cfg, 3)
    pieces = split_items(ds, np.arange(len(ds.items)) % 3)
    whole = Runner(pieces).run([section], ctx)[section.name]
    lost = Runner(pieces[:2]).run([section], ctx)[section.name]
    assert as_json(whole) == as_json(ref_class_agreement(ds, "answer", cfg, 3))
    assert lost[0]["n_items"] < whole[0]["n_items"]
    assert set(lost[1]) < set(whole[1])
    assert as_json(lost) != as_json(whole)


def test_the_item_order_of_the_bootstrap_matters() -> None:
    """The intervals depend on which row each item is (the bootstrap draws row positions): the
    same ratings with the items renamed (so sorted differently) give the same estimates but
    other bounds, so the section's putting rows back in sorted order is what the tests check."""
    ds = _snow("snow2008_wsd")
    cfg = ReportConfig(n_bootstrap=80)
    ranks = {i: f"{(k * 7919) % 1000:04d}" for k, i in enumerate(sorted(ds.items))}
    renamed = Dataset(records=tuple(replace(r, item_id=ranks[r.item_id]) for r in ds.records), name="renamed")
    a, _ = ref_class_agreement(ds, "answer", cfg, 3)
    b, _ = ref_class_agreement(renamed, "answer", cfg, 3)
    assert a["coefficients"]["krippendorff_alpha"]["estimate"] == b["coefficients"]["krippendorff_alpha"]["estimate"]
    assert a["intervals"] != b["intervals"]


def test_the_state_is_columns_not_records() -> None:
    ds = _snow("snow2008_wsd")
    section = ClassAgreementBlockSection("answer", "classification")
    ctx = _ctx(ds, ReportConfig(), 0).for_workers()
    state = section.add(section.create(ctx), ds, ctx)
    assert isinstance(state, ClassJudgments)
    assert state.item.dtype == state.annotator.dtype == state.value.dtype == np.int64
    assert state.item.size == len(ds.records) == 1770
    assert set(state.values) == {"1", "2", "3"}
    assert len(state.items) == 177
    assert len(state.annotators) == 34
    assert not any(isinstance(v, Record) for v in (*state.values, *state.items))
    assert pickle.loads(pickle.dumps(section)).name == "class_agreement:answer"
    empty = section.create(ctx)
    assert section.merge(empty, state) is state
    assert section.merge(state, empty) is state


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"covers the kinds .*got 'box'"):
        ClassAgreementBlockSection("objects", "box")


def test_a_precomputed_nominal_result_still_replaces_the_coefficients() -> None:
    """``build_report(sections={"agreement:<set>": ...})`` (a Dask run's merged class section)
    reaches the section through ``ctx.options`` and must fit the data."""
    from accord.core.report.classes import ClassAgreementSection

    ds = _frozen("choices")
    cats = tuple(sorted(ds.schema.label_sets["sentiment"].labels))
    pre_section = ClassAgreementSection("sentiment", cats, ds.annotators(), ReportConfig().n_bootstrap)
    ctx = _ctx(ds, ReportConfig(), 0)
    pre = Runner((ds,)).run([pre_section], ctx)[pre_section.name]
    with_pre = build_report(ds, seed=0, sections={"agreement:sentiment": pre})["agreement"]["sentiment"]
    assert with_pre == build_report(ds, seed=0)["agreement"]["sentiment"]
    other = ClassAgreementSection("sentiment", cats, ds.annotators()[:2], ReportConfig().n_bootstrap)
    wrong = Runner((ds,)).run([other], ctx)[other.name]
    with pytest.raises(ConfigError, match="does not fit this dataset"):
        build_report(ds, seed=0, sections={"agreement:sentiment": wrong})
