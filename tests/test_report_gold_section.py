"""Gold scoring as a mergeable section (core/report/gold.py): on any split of the items, folded in
any order, the section's GoldOutcome equals what ``core/qa/report.py::_agreement_and_gold`` gets
from ``accord.core.qa.gold.score_classes`` / ``score_regions`` / ``score_texts`` on the whole
dataset (every family: classes, multi-label, numbers, boxes, polygons, keypoints, masks, spans,
segments, text), on random datasets and on real exports."""

from __future__ import annotations

import csv
import pickle
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.cmd_demo import load_sample
from accord.core.errors import ConfigError
from accord.core.model import (
    Box,
    Classification,
    Dataset,
    Item,
    Keypoint,
    Keypoints,
    Mask,
    MultiLabel,
    Numeric,
    Polygon,
    Record,
    Segment,
    Span,
    Submission,
    TextValue,
)
from accord.core.qa import gold as gold_mod
from accord.core.qa.report import CLASS_KINDS, ReportConfig, _region_matcher, word_error_counts
from accord.core.report.engine import Context, split_items
from accord.core.report.gold import GoldSection, GoldState
from accord.core.schema import LabelSet, Schema
from accord.io import load_dataset

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FROZEN = FIXTURES / "frozen"
CFG = ReportConfig()


# --------------------------------------------------------------------------- today's and the section's


def _today(ds: Dataset, name: str, kind: str, cfg: ReportConfig = CFG) -> gold_mod.GoldOutcome:
    """The call ``_agreement_and_gold`` makes for this kind (core/qa/report.py)."""
    if kind in CLASS_KINDS:
        return gold_mod.score_classes(ds, name, threshold=cfg.gold_threshold, target_width=cfg.gold_target_width,
                                      taxonomy=cfg.taxonomy, numeric=kind == "numeric",
                                      tolerance=cfg.numeric_tolerance)
    if kind == "text":
        return gold_mod.score_texts(ds, name, error_counts=word_error_counts, threshold=cfg.gold_threshold,
                                    target_width=cfg.gold_target_width, taxonomy=cfg.taxonomy)
    return gold_mod.score_regions(ds, name, match=_region_matcher(cfg), threshold=cfg.gold_threshold,
                                  target_width=cfg.gold_target_width, taxonomy=cfg.taxonomy)


def _ctx(ds: Dataset, cfg: ReportConfig = CFG) -> Context:
    return Context(config=cfg, seed=0, schema=ds.schema)


def _fold(section: GoldSection, parts: Sequence[Dataset], ctx: Context, rng: random.Random) -> GoldState:
    """Each partition added to its own empty state, then merged in a random tree in a random order
    (associativity and commutativity at once), through a pickle round trip (a Dask worker's)."""
    states: list[GoldState] = [pickle.loads(pickle.dumps(section.add(section.create(ctx), p, ctx)))
                               for p in parts]
    states += [section.create(ctx) for _ in range(rng.randint(0, 2))]  # the identity, anywhere
    rng.shuffle(states)
    if not states:
        return section.create(ctx)
    while len(states) > 1:
        k = rng.randrange(len(states) - 1)
        a, b = states[k], states[k + 1]
        states[k:k + 2] = [section.merge(a, b) if rng.random() < 0.5 else section.merge(b, a)]
    return states[0]


def _splits(n: int, rng: random.Random) -> list[list[int]]:
    """One partition; every item alone; random cuts with empty partitions."""
    out = [[0] * n, list(range(n))]
    for _ in range(3):
        k = rng.randint(1, max(1, n + 2))
        out.append([rng.randrange(k) for _ in range(n)])
    return out


def _run(ds: Dataset, name: str, kind: str, parts: Sequence[int], rng: random.Random,
         cfg: ReportConfig = CFG) -> gold_mod.GoldOutcome:
    sec = GoldSection(name, kind)
    ctx = _ctx(ds, cfg)
    n_parts = max(parts, default=0) + 1 + rng.randint(0, 2)  # trailing empty partitions
    return sec.finish(_fold(sec, split_items(ds, parts, n_parts), ctx, rng), ctx)


def _assert_same(got: gold_mod.GoldOutcome, want: gold_mod.GoldOutcome) -> None:
    """Field by field; ``repr`` compares floats bit for bit (and NaN with NaN) and mapping types."""
    assert repr(got.scores) == repr(want.scores)
    assert repr(got.discrepancies) == repr(want.discrepancies)
    assert got.discrepancies == want.discrepancies
    assert repr(got.confusion) == repr(want.confusion)
    assert got.gold_items == want.gold_items
    assert gold_mod.summarize({"x": got}) == gold_mod.summarize({"x": want})
    assert gold_mod.gold_item_count({"x": got}) == gold_mod.gold_item_count({"x": want})


def _canonical(want: gold_mod.GoldOutcome) -> gold_mod.GoldOutcome:
    """Today's outcome with discrepancies in the section's order: annotator, then item id (stable)."""
    ordered = sorted(want.discrepancies, key=lambda d: (d.annotator_id, d.item_id))
    return gold_mod.GoldOutcome(scores=want.scores, discrepancies=tuple(ordered), confusion=want.confusion,
                                gold_items=want.gold_items)


_MEANS = ("mean_absolute_error", "mean_similarity")


def _assert_same_up_to_order(got: gold_mod.GoldOutcome, want: gold_mod.GoldOutcome) -> None:
    """Equal, but for the means (to 1e-12: float additions in another order) and the discrepancy
    order (the section's canonical order)."""
    want = _canonical(want)
    assert len(got.scores) == len(want.scores)
    for g, w in zip(got.scores, want.scores, strict=True):
        assert repr({k: v for k, v in g.details.items() if k not in _MEANS}) == repr(
            {k: v for k, v in w.details.items() if k not in _MEANS})
        for k in _MEANS:
            if w.details.get(k) is None:
                assert g.details.get(k) is None
            else:
                assert g.details[k] == pytest.approx(w.details[k], rel=1e-12, abs=1e-12)
        assert repr(g.score) == repr(w.score)
        assert (g.annotator_id, g.verdict, g.n_items, g.more_items_needed, g.items_for_target_width) == (
            w.annotator_id, w.verdict, w.n_items, w.more_items_needed, w.items_for_target_width)
    assert repr(got.discrepancies) == repr(want.discrepancies)
    assert repr(got.confusion) == repr(want.confusion)
    assert got.gold_items == want.gold_items


# --------------------------------------------------------------------------- random datasets

KINDS = {"cls": "classification", "multi": "multilabel", "num": "numeric", "box": "box", "poly": "polygon",
         "kp": "keypoints", "mask": "mask", "span": "span", "seg": "segment", "txt": "text"}
WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog")
KP_NAMES = ("nose", "left_eye", "right_eye")


def _value(kind: str, rng: random.Random) -> Any:
    lab = rng.choice(("a", "b", "c")) if rng.random() < 0.9 else "zz"  # "zz": a label not in the schema
    if kind == "classification":
        return Classification(label=lab)
    if kind == "multilabel":
        return MultiLabel(labels=tuple(sorted(rng.sample(("a", "b", "c"), rng.randint(1, 2)))))
    if kind == "numeric":
        return Numeric(value=rng.choice((1.0, 2.0, 2.25, 3.5, rng.uniform(0, 5))))
    if kind == "box":
        x, y = rng.uniform(0, 50), rng.uniform(0, 50)
        return Box(label=lab, x=x, y=y, width=rng.uniform(5, 30), height=rng.uniform(5, 30))
    if kind == "polygon":
        x, y, s = rng.uniform(0, 50), rng.uniform(0, 50), rng.uniform(5, 20)
        return Polygon(label=lab, points=((x, y), (x + s, y), (x + s, y + s * rng.uniform(0.5, 1.5))))
    if kind == "keypoints":
        x, y = rng.uniform(0, 50), rng.uniform(0, 50)
        return Keypoints(label="person", points=tuple(Keypoint(name=n, x=x + rng.uniform(0, 5), y=y + k * 3)
                                                      for k, n in enumerate(KP_NAMES)))
    if kind == "mask":
        a, b = rng.randint(0, 30), rng.randint(1, 34)
        return Mask(label=lab, height=8, width=8, counts=(a, b, 64 - a - b))
    if kind == "span":
        s = rng.randint(0, 40)
        return Span(label=lab, start=s, end=s + rng.randint(1, 10))
    if kind == "segment":
        s = rng.uniform(0, 20)
        return Segment(start=s, end=s + rng.uniform(0.5, 5), label=lab, speaker=rng.choice(("s1", "s2")))
    return TextValue(text=" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 5))))


def random_dataset(seed: int, *, ordered: bool = True) -> Dataset:
    """Items with gold on some, 1-4 annotators, a model, cancelled submissions, empty passes,
    items without records, missing durations; ``ordered``: submissions in item-id order (then
    today's gold order is the section's), else shuffled."""
    rng = random.Random(seed)
    n_items = rng.randint(0, 14)
    annotators = [f"ann{k}" for k in range(rng.randint(1, 4))]
    items = {f"i{j:03d}": Item(item_id=f"i{j:03d}") for j in range(n_items)}
    records: list[Record] = []
    subs: list[Submission] = []
    for j, item in enumerate(items):
        if j % 7 == 6:
            continue  # an item nobody annotated
        gold = rng.random() < 0.6
        who = [("expert", "reference")] if gold else []
        who += [(a, "human") for a in annotators if rng.random() < 0.85]
        if rng.random() < 0.3:
            who.append(("model", "model"))
        for ann, source in who:
            aid = f"{item}-{ann}"
            dur = None if rng.random() < 0.3 else rng.uniform(1, 60)
            if source == "human" and rng.random() < 0.1:  # a skip, with or without a real pass too
                subs.append(Submission(item_id=item, annotator_id=ann, annotation_id=aid + "-skip",
                                       was_cancelled=True))
                records.append(Record(item_id=item, annotator_id=ann, label_set="cls", annotation_id=aid + "-skip",
                                      value=Classification(label="only-in-a-skip")))
                if rng.random() < 0.5:
                    continue
            subs.append(Submission(item_id=item, annotator_id=ann, source=source, annotation_id=aid, duration_s=dur))
            for name, kind in KINDS.items():
                if rng.random() < 0.15:
                    continue  # looked and left nothing in this label set
                n = rng.randint(1, 3) if kind in ("box", "polygon", "keypoints", "mask", "span", "segment") else 1
                if kind in ("classification", "multilabel", "numeric", "text") and rng.random() < 0.2:
                    n = 2  # a second record: today reads the first
                for k in range(n):
                    v = _value(kind, rng)
                    if source != "reference" and kind == "box" and rng.random() < 0.5 and records and \
                            records[-1].label_set == "box":
                        v = records[-1].value  # an exact copy sometimes (a true positive)
                    records.append(Record(item_id=item, annotator_id=ann, label_set=name, value=v, source=source,
                                          region_id=f"{aid}-{name}-{k}", annotation_id=aid, duration_s=dur))
    if not ordered:
        rng.shuffle(subs)
        rng.shuffle(records)
        keys = list(items)
        rng.shuffle(keys)
        items = {k: items[k] for k in keys}
    schema = Schema(label_sets={name: LabelSet(name=name, kind=kind,  # type: ignore[arg-type]
                                               labels=("c", "a", "b") if kind != "keypoints" else ("person",),
                                               skeleton=KP_NAMES if kind == "keypoints" else ())
                                for name, kind in KINDS.items()})
    return Dataset(records=tuple(records), schema=schema, items=items, submissions=tuple(subs), name="random")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_datasets_every_family_any_split(seed: int) -> None:
    ds = random_dataset(seed)
    rng = random.Random(seed)
    for name, kind in KINDS.items():
        want = _today(ds, name, kind)
        for parts in _splits(len(ds.items), rng):
            _assert_same(_run(ds, name, kind, parts, rng), want)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_shuffled_datasets_equal_up_to_the_canonical_order(seed: int) -> None:
    ds = random_dataset(seed, ordered=False)
    rng = random.Random(seed)
    for name, kind in KINDS.items():
        want = _today(ds, name, kind)
        for parts in _splits(len(ds.items), rng)[:3]:
            _assert_same_up_to_order(_run(ds, name, kind, parts, rng), want)


def test_the_random_datasets_reach_every_branch() -> None:
    """The generator is not vacuous: over a few seeds, every family scores gold, finds
    discrepancies, and meets annotators without gold, cancelled passes and empty passes."""
    seen: dict[str, set[str]] = {name: set() for name in KINDS}
    for seed in range(12):
        ds = random_dataset(seed)
        for name, kind in KINDS.items():
            got = _today(ds, name, kind)
            if any(s.n_items for s in got.scores):
                seen[name].add("scored")
            if got.discrepancies:
                seen[name].add("discrepancy")
            if any(s.n_items == 0 for s in got.scores):
                seen[name].add("no gold met")
            if any(s.verdict == "pass" for s in got.scores):
                seen[name].add("pass")
    assert all({"scored", "discrepancy", "no gold met"} <= s for s in seen.values()), seen


def test_a_different_config_reaches_the_section() -> None:
    ds = random_dataset(3)
    cfg = ReportConfig(gold_threshold=0.3, gold_target_width=0.2, numeric_tolerance=0.5, iou_threshold=0.3)
    rng = random.Random(0)
    for name, kind in KINDS.items():
        want = _today(ds, name, kind, cfg)
        _assert_same(_run(ds, name, kind, [rng.randrange(3) for _ in ds.items], rng, cfg), want)
    assert repr(_today(ds, "num", "numeric", cfg).scores) != repr(_today(ds, "num", "numeric").scores)


# --------------------------------------------------------------------------- a worked example


def test_known_counts_on_a_small_example() -> None:
    """Two gold items, one annotator: one right class of two (accuracy 1/2, Wilson 95% interval
    [0.0945, 0.9055]: (0.5 + 1.92/2 -+ 1.96 sqrt(0.25/2 + 1.92/16)) / (1 + 1.92), z**2 = 3.8415),
    and a box matched at IoU 1 on one item, missed on the other (F1 successes 2 tp = 2 of
    n_ref + n_cand = 3)."""
    recs = [Record(item_id=i, annotator_id=a, label_set=ls, value=v, source=s)
            for i, a, ls, v, s in [
                ("x", "gold", "c", Classification(label="cat"), "reference"),
                ("y", "gold", "c", Classification(label="dog"), "reference"),
                ("x", "ann", "c", Classification(label="cat"), "human"),
                ("y", "ann", "c", Classification(label="cat"), "human"),
                ("x", "gold", "b", Box(label="o", x=0, y=0, width=10, height=10), "reference"),
                ("y", "gold", "b", Box(label="o", x=0, y=0, width=10, height=10), "reference"),
                ("x", "ann", "b", Box(label="o", x=0, y=0, width=10, height=10), "human")]]
    ds = Dataset(records=tuple(recs))
    ctx = _ctx(ds)
    cls, box = GoldSection("c", "classification"), GoldSection("b", "box")
    got = cls.finish(_fold(cls, split_items(ds, [0, 1]), ctx, random.Random(1)), ctx)
    (s,) = got.scores
    assert (s.score.successes, s.score.n) == (1.0, 2)
    assert s.score.low == pytest.approx(0.0945, abs=1e-4)
    assert s.score.high == pytest.approx(0.9055, abs=1e-4)
    assert got.confusion == {"labels": ["cat", "dog"], "by_annotator": {"ann": [[1, 0], [1, 0]]}}
    assert [(d.item_id, d.reference_label, d.candidate_label) for d in got.discrepancies] == [("y", "dog", "cat")]
    got = box.finish(_fold(box, split_items(ds, [1, 0]), ctx, random.Random(2)), ctx)
    (s,) = got.scores
    assert (s.score.successes, s.score.n, s.details["mean_similarity"]) == (2.0, 3, 1.0)
    assert [(d.item_id, d.event) for d in got.discrepancies] == [("y", "unmatched_reference")]


def test_an_unmeasured_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="class, region and text kinds"):
        GoldSection("x", "rating-of-vibes")
    assert GoldSection("b", "box").name == "gold:b"
    assert GoldSection("b", "box").stage == 0


# --------------------------------------------------------------------------- real exports


def _frozen(kind: str) -> Dataset:
    return load_dataset([FROZEN / f"{kind}.json"], label_config=FROZEN / f"{kind}.label_config.xml")


def _label_sets(ds: Dataset) -> list[tuple[str, str]]:
    out = []
    for name in ds.label_sets:
        kinds = {r.kind for r in ds.select(label_set=name)}
        kind = ds.schema[name].kind if name in ds.schema else next(iter(kinds))
        if kind in CLASS_KINDS or kind == "text" or kind in KINDS.values() or kind in ("track", "cuboid"):
            out.append((name, kind))
    return out


def _gold_order_is_sorted(ds: Dataset, name: str) -> bool:
    order = list(gold_mod.reference_by_item(ds, name))
    return order == sorted(order)


def _check_real(ds: Dataset, seed: int) -> int:
    rng = random.Random(seed)
    scored = 0
    for name, kind in _label_sets(ds):
        want = _today(ds, name, kind)
        scored += sum(s.n_items for s in want.scores)
        check = _assert_same if _gold_order_is_sorted(ds, name) else _assert_same_up_to_order
        for parts in _splits(len(ds.items), rng):
            check(_run(ds, name, kind, parts, rng), want)
    return scored


def test_the_bundled_sample() -> None:
    ds = load_sample()
    kinds = dict(_label_sets(ds))
    assert {"classification", "box", "span", "segment", "text"} <= set(kinds.values())
    assert _check_real(ds, 1) > 0


@pytest.mark.parametrize("kind", ["choices", "boxes"])
def test_the_frozen_exports(kind: str) -> None:
    assert _check_real(_frozen(kind), 2) > 0


def _snow(task: str, *, gold_every: int = 3) -> Dataset:
    """Snow et al. (2008) Mechanical Turk judgments (tests/fixtures/crowd/README.md) with the expert
    answer of every ``gold_every``-th item (in the source's row order) as gold."""
    root = FIXTURES / "crowd" / "crowdtruth" / task
    with (root / "truth.csv").open(newline="", encoding="utf-8") as f:
        truth = [(row["question"], row["truth"]) for row in csv.DictReader(f)]
    with (root / "answer.csv").open(newline="", encoding="utf-8") as f:
        records = [Record(item_id=row["question"], annotator_id=row["worker"], label_set="answer",
                          value=Classification(label=row["answer"])) for row in csv.DictReader(f)]
    records += [Record(item_id=q, annotator_id="expert", label_set="answer", source="reference",
                       value=Classification(label=t)) for q, t in truth[::gold_every]]
    return Dataset(records=tuple(records), name=task)


@pytest.mark.parametrize("task", ["snow2008_temp", "snow2008_wsd"])
def test_real_crowd_judgments_with_expert_gold(task: str) -> None:
    ds = _snow(task)
    want = _today(ds, "answer", "classification")
    assert sum(s.n_items for s in want.scores) > 100
    assert want.discrepancies
    rng = random.Random(3)
    for parts in _splits(len(ds.items), rng):
        _assert_same_up_to_order(_run(ds, "answer", "classification", parts, rng), want)


def test_a_third_party_label_studio_export_with_one_annotator_as_gold() -> None:
    """label-studio-converter's YOLO test export (two annotators drew boxes on two tasks): the
    first annotator's records and submissions become the reference."""
    base = load_dataset([FIXTURES / "third_party" / "label_studio_converter" / "test_export_yolo_data.json"],
                        label_config=FIXTURES / "third_party" / "label_studio_converter"
                        / "test_export_yolo_label_config.xml")
    first = sorted(base.annotators())[0]

    def ref(x: Any) -> Any:
        from dataclasses import replace
        return replace(x, source="reference") if x.annotator_id == first else x

    ds = Dataset(records=tuple(ref(r) for r in base.records), schema=base.schema, items=base.items,
                 submissions=tuple(ref(s) for s in base.submissions), name=base.name)
    assert _check_real(ds, 4) > 0


def test_the_means_read_values_in_item_order() -> None:
    """The values behind ``mean_similarity`` come out in item-id order whatever the split (the
    mean's last bits depend on the order; the 6-digit rounding hides it from the tests above)."""
    ds = load_sample()  # its gold items are not in id order
    sec, ctx, rng = GoldSection("objects", "box"), _ctx(ds), random.Random(0)
    state = _fold(sec, split_items(ds, [rng.randrange(5) for _ in ds.items], 5), ctx, rng)
    whole = sec.add(sec.create(ctx), ds, ctx)
    assert state.values
    assert sum(len(rows) for rows in whole.values.values()) > 10
    for ann, rows in whole.values.items():
        expected = np.concatenate([v for _, v in sorted(rows, key=lambda e: e[0])])
        assert sec._values(state, ann).tobytes() == expected.tobytes()


def test_states_are_plain_data() -> None:
    ds = load_sample()
    sec = GoldSection("objects", "box")
    state = sec.add(sec.create(_ctx(ds)), ds, _ctx(ds))
    back = pickle.loads(pickle.dumps(state))
    assert back.discrepancies == state.discrepancies
    assert all(type(d.evidence) is dict for _, _, d, _ in state.discrepancies)
    assert all(isinstance(v, np.ndarray) for rows in state.values.values() for _, v in rows)
