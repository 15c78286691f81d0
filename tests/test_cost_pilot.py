"""Pilot analysis: robust times, outliers, per-annotator stats, conflicts, pre-annotation effect."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.robust.scale import mad as sm_mad

from accord.core.cost import analyze_pilot, mad, outlier_mask, time_stats
from accord.core.cost.pilot import OUTLIER_Z, Pass, PilotStats, PreAnnotationEffect, TimeStats, _match_unchanged, _ts
from accord.core.errors import InvalidAnnotationError
from accord.core.model import Box, Classification, Dataset, Record, Span, Submission


def _box(label="car", x=0.0):
    return Box(label=label, x=x, y=0.0, width=10.0, height=10.0)


def test_outlier_known_answer():
    # median 10.5; |x - 10.5| = .5 1.5 .5 1.5 .5 989.5 -> MAD 1.0; 0.6745 * 989.5 / 1 = 667 > 3.5
    d = [10, 12, 11, 9, 10, 1000]
    assert outlier_mask(d).tolist() == [False] * 5 + [True]
    s = time_stats(d, [1, 1, 1, 1, 1, 1])
    assert (s.n, s.n_outliers) == (6, 1)
    assert s.mean_s == pytest.approx(52 / 5)  # 10+12+11+9+10
    assert s.median_s == pytest.approx(10.0)
    assert s.seconds_per_label == pytest.approx(52 / 5)
    assert s.items_per_hour == pytest.approx(3600 / 10.4)


def test_mad_zero_flags_nothing():
    assert not outlier_mask([5, 5, 5, 100]).any()
    assert np.isnan(mad([]))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.1, 1e4), min_size=1, max_size=60))
def test_mad_matches_statsmodels(xs):
    # statsmodels.robust.scale.mad: median(|x - median(x)|) / 0.6745
    assert mad(xs) == pytest.approx(float(sm_mad(np.array(xs))), rel=1e-9, abs=1e-12)


def _pilot():
    recs = []
    # ann a: 10 s per item with one box; ann b: 30 s with two boxes; item 4 of b left open (outlier)
    for i in range(5):
        recs.append(Record(item_id=f"i{i}", annotator_id="a", label_set="obj", value=_box(), duration_s=10.0))
        for j in range(2):
            recs.append(Record(item_id=f"i{i}", annotator_id="b", label_set="obj", value=_box(x=20.0 * j),
                               duration_s=3000.0 if i == 4 else 30.0))
    subs = [Submission(item_id="i9", annotator_id="a", duration_s=None)]  # an untimed pass
    return Dataset(records=tuple(recs), submissions=tuple(subs))


def test_pilot_per_annotator_and_label():
    p = analyze_pilot(_pilot())
    assert len(p.passes) == 10
    assert p.untimed_passes == 1
    assert p.overall.n_outliers == 1
    assert p.by_annotator["a"].mean_s == pytest.approx(10.0)
    assert p.by_annotator["b"].mean_s == pytest.approx(30.0)
    assert p.by_annotator_kind["b"]["box"].seconds_per_label == pytest.approx(15.0)  # 4 x 30 s / 8 boxes
    assert p.by_annotator["a"].items_per_hour == pytest.approx(360.0)
    # kept: 5 x 10 s (1 box) + 4 x 30 s (2 boxes) = 170 s over 13 boxes
    assert p.overall.seconds_per_label == pytest.approx(170 / 13)
    assert p.seconds_per_label_by_kind["box"] == pytest.approx(170 / 13)
    assert p.labels_per_pass["box"] == pytest.approx(13 / 9)
    # every item has a (1 car) vs (2 cars) -> 5 conflicts of 5 overlapping items
    assert (p.items_with_overlap, p.conflict_items) == (5, 5)
    assert p.hotspot_rates() == {"car": 1.0}


def test_pilot_without_durations_raises():
    ds = Dataset(records=(Record(item_id="i", annotator_id="a", label_set="c",
                                 value=Classification(label="x")),))
    with pytest.raises(InvalidAnnotationError, match=r"none with a duration; expected duration_s"):
        analyze_pilot(ds)


def test_bad_outlier_z():
    with pytest.raises(InvalidAnnotationError, match="outlier_z must be a finite number > 0"):
        analyze_pilot(_pilot(), outlier_z=0)


def pre_annotated_pilot():
    """Items 0-3 carry one model box; 4-7 none. Pre-annotated passes take 10 s, others 20 s."""
    recs = []
    for i in range(4):
        recs.append(Record(item_id=f"i{i}", annotator_id="yolo", label_set="obj", source="model", value=_box()))
    human = {0: [_box()], 1: [_box(x=0.01)], 2: [_box(x=5.0)], 3: [_box(), _box("bus", 40.0)]}
    for i, values in human.items():
        for v in values:
            recs.append(Record(item_id=f"i{i}", annotator_id="h", label_set="obj", value=v, duration_s=10.0))
    for i in range(4, 8):
        recs.append(Record(item_id=f"i{i}", annotator_id="h", label_set="obj", value=_box(), duration_s=20.0))
    return Dataset(records=tuple(recs))


def test_pre_annotation_effect():
    e = analyze_pilot(pre_annotated_pilot()).pre_annotation
    # accepted unchanged: item 0 (identical), item 1 (IoU 0.998 >= 0.99), item 3 (first box) -> 3 of 4
    # added: item 2's moved box, item 3's bus -> 2; deleted: item 2's prediction -> 1
    assert (e.model_regions, e.accepted, e.added, e.deleted) == (4, 3, 2, 1)
    assert e.acceptance_rate == pytest.approx(0.75)
    assert e.edit_rate == pytest.approx(3 / 6)
    assert e.time_saving_rate == pytest.approx(0.5)  # 1 - 10/20


def test_prediction_created_after_submission_is_not_pre_annotation():
    recs = [Record(item_id="i", annotator_id="m", label_set="obj", source="model", value=_box(),
                   created_at="2024-05-02T10:00:00Z"),
            Record(item_id="i", annotator_id="h", label_set="obj", value=_box(), duration_s=5.0,
                   created_at="2024-05-01T10:00:00Z")]
    p = analyze_pilot(Dataset(records=tuple(recs)))
    assert not p.passes[0].pre_annotated
    assert p.pre_annotation.model_regions == 0


def _mixed_pilot() -> Dataset:
    """Fast classification passes (~5 s) and slow box passes (~40 s), neither with an outlier of its own."""
    recs, subs = [], []
    for i in range(30):
        item = f"c{i}"
        recs.append(Record(item_id=item, annotator_id="a", label_set="cls", value=Classification(label="x")))
        subs.append(Submission(item_id=item, annotator_id="a", duration_s=5.0 + (i % 5) * 0.5))
    for i in range(8):
        item = f"b{i}"
        recs += [Record(item_id=item, annotator_id="a", label_set="obj", value=_box(x=20.0 * k), region_id=f"{i}{k}")
                 for k in range(3)]
        subs.append(Submission(item_id=item, annotator_id="a", duration_s=40.0 + i))
    return Dataset(records=tuple(recs), submissions=tuple(subs))


def test_outliers_are_trimmed_within_each_label_kind():
    """Before: trimming pooled both kinds, so every box pass was an 'outlier' of the fast passes."""
    pooled = outlier_mask([5.0 + (i % 5) * 0.5 for i in range(30)] + [40.0 + i for i in range(8)])
    assert pooled[30:].all()  # what pooled trimming did
    p = analyze_pilot(_mixed_pilot())
    assert p.overall.n_outliers == 0
    assert {k: (v.n, v.n_outliers) for k, v in p.by_kind.items()} == {"box": (8, 0), "classification": (30, 0)}
    assert p.labels_per_pass["box"] == pytest.approx(24 / 38)
    # a real outlier of one kind is still trimmed
    ds = _mixed_pilot()
    slow = Submission(item_id="c0", annotator_id="a", duration_s=600.0)
    p2 = analyze_pilot(Dataset(records=ds.records, submissions=(slow, *ds.submissions[1:])))
    assert (p2.by_kind["classification"].n_outliers, p2.by_kind["box"].n_outliers) == (1, 0)


def test_forecast_keeps_every_kind_and_says_when_it_falls_back():
    """The demo's forecast dropped its box and classification passes (all pre-annotated)."""
    from accord.cmd_demo import load_sample
    from accord.core.cost import config_from_dict, forecast

    fc = forecast(analyze_pilot(load_sample()), config_from_dict({}), items=1000, n_boot=200, seed=0)
    assert fc.labels_per_pass["box"] > 1.0
    assert fc.labels_per_pass["classification"] > 0.3
    assert any("no pilot pass without predictions for box, classification" in n for n in fc.notes)
    assert "trimmed within each label kind" in fc.basis


def test_costs_are_rounded_for_display():
    """Before: "0.5700000000000001 USD" in the JSON and the report."""
    from accord.core.cost import config_from_dict, forecast
    from accord.core.cost.forecast import Component, Interval

    assert Component(name="gold", hours=0.1 + 0.2, cost=0.1 + 0.47).to_dict() == {
        "name": "gold", "hours": 0.3, "cost": 0.57}
    assert Interval(estimate=0.1 + 0.47, low=0.5, high=1 / 3).to_dict(money=True) == {
        "estimate": 0.57, "low": 0.5, "high": 0.33}
    d = forecast(analyze_pilot(_mixed_pilot()), config_from_dict({}), items=777, n_boot=200, seed=0).to_dict()
    money = [d["total_cost"][k] for k in ("estimate", "low", "high")] + [c["cost"] for c in d["components"]]
    assert all(round(v, 2) == v for v in money)
    assert len(repr(d["cost_per_item"]).split(".")[-1].lstrip("0")) <= 4


# --------------------------------------------------------------------------- issue 16: vectorized pilot



def _analyze_pilot_reference(dataset: Dataset, *, outlier_z: float = OUTLIER_Z) -> PilotStats:
    """``analyze_pilot`` as it was before issue 16 (per-pass Python loops), kept as the reference."""
    if not math.isfinite(outlier_z) or outlier_z <= 0:
        raise InvalidAnnotationError(f"outlier_z must be a finite number > 0, got {outlier_z!r}")
    human: dict[tuple[str, str], list[Record]] = {}
    model: dict[str, list[Record]] = {}
    for r in dataset.records:
        if r.source == "human":
            human.setdefault((r.item_id, r.annotator_id), []).append(r)
        elif r.source == "model":
            model.setdefault(r.item_id, []).append(r)
    subs: list[Submission] = [s for s in dataset.submissions if s.source == "human" and not s.was_cancelled]
    timed = [s for s in subs if s.duration_s is not None and s.duration_s > 0]
    if not timed:
        raise InvalidAnnotationError(
            f"the pilot has {len(subs)} human submission(s) but none with a duration; expected duration_s "
            "on submissions (Label Studio: export JSON with lead_time; CVAT: job time) to measure time per item")
    durations = np.array([s.duration_s for s in timed], dtype=np.float64)
    counts = [Counter(r.kind for r in human.get((s.item_id, s.annotator_id), [])) for s in timed]
    tops = np.array([max(sorted(c), key=lambda k: c[k]) if c else "none" for c in counts], dtype=object)
    flags = np.zeros(len(timed), dtype=bool)
    for kind in sorted(set(tops)):  # trim within each kind, never across kinds
        sel = tops == kind
        flags[sel] = outlier_mask(durations[sel], z=outlier_z)

    n_model = n_accepted = n_added = n_deleted = 0
    passes: list[Pass] = []
    for s, out in zip(timed, flags, strict=True):
        recs = human.get((s.item_id, s.annotator_id), [])
        preds = model.get(s.item_id, [])
        pre = bool(preds)
        if pre:
            t_sub = _ts(s.created_at)
            t_pred = [_ts(m.created_at) for m in preds]
            if t_sub is not None and all(t is not None for t in t_pred):
                pre = any(t is not None and t <= t_sub for t in t_pred)
        if pre:
            acc = _match_unchanged(recs, preds)
            n_model += len(preds)
            n_accepted += acc
            n_added += len(recs) - acc
            n_deleted += len(preds) - acc
        passes.append(Pass(item_id=s.item_id, annotator_id=s.annotator_id, duration_s=float(s.duration_s or 0.0),
                           labels=MappingProxyType(dict(Counter(r.kind for r in recs))), pre_annotated=pre,
                           outlier=bool(out)))

    def stats(ps: Sequence[Pass]) -> TimeStats:
        return time_stats([p.duration_s for p in ps], [p.n_labels for p in ps], outliers=[p.outlier for p in ps])

    by_ann: dict[str, list[Pass]] = {}
    by_kind: dict[str, list[Pass]] = {}
    by_ann_kind: dict[str, dict[str, list[Pass]]] = {}
    for p in passes:
        by_ann.setdefault(p.annotator_id, []).append(p)
        top = p.kind
        by_kind.setdefault(top, []).append(p)
        by_ann_kind.setdefault(p.annotator_id, {}).setdefault(top, []).append(p)
    kind_stats = {k: stats(v) for k, v in sorted(by_kind.items())}
    kept = [p for p in passes if not p.outlier]
    lab_tot: Counter[str] = Counter()
    for p in kept:
        lab_tot.update(p.labels)
    labels_per_pass = {k: v / len(kept) for k, v in sorted(lab_tot.items())} if kept else {}

    overlap, conflicts, hot = _conflicts_reference(human, subs)
    effect = PreAnnotationEffect(with_predictions=stats([p for p in passes if p.pre_annotated]),
                                 without_predictions=stats([p for p in passes if not p.pre_annotated]),
                                 model_regions=n_model, accepted=n_accepted, added=n_added, deleted=n_deleted)
    return PilotStats(
        passes=tuple(passes), untimed_passes=len(subs) - len(timed), overall=stats(passes),
        by_annotator=MappingProxyType({k: stats(v) for k, v in sorted(by_ann.items())}),
        by_kind=MappingProxyType(kind_stats),
        by_annotator_kind=MappingProxyType({a: MappingProxyType({k: stats(v) for k, v in sorted(m.items())})
                                            for a, m in sorted(by_ann_kind.items())}),
        seconds_per_label_by_kind=MappingProxyType({k: v.seconds_per_label for k, v in kind_stats.items()
                                                    if k != "none"}),
        labels_per_pass=MappingProxyType(labels_per_pass), items_with_overlap=overlap,
        conflict_items=conflicts, hotspots=MappingProxyType(hot), pre_annotation=effect)


def _conflicts_reference(human: Mapping[tuple[str, str], list[Record]], subs: Sequence[Submission]
               ) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """Items with >= 2 passes, those whose passes' (label set, label) counts differ, per-label hot spots."""
    per_item: dict[str, list[Counter[tuple[str, str]]]] = {}
    for s in subs:
        sig = Counter((r.label_set, r.label or r.kind) for r in human.get((s.item_id, s.annotator_id), []))
        per_item.setdefault(s.item_id, []).append(sig)
    overlap = conflicts = 0
    hot: dict[str, list[int]] = {}
    for sigs in per_item.values():
        if len(sigs) < 2:
            continue
        overlap += 1
        if any(s != sigs[0] for s in sigs[1:]):
            conflicts += 1
        for key in sorted({k for s in sigs for k in s}):
            name = key[1]
            h = hot.setdefault(name, [0, 0])
            h[1] += 1
            if len({s.get(key, 0) for s in sigs}) > 1:
                h[0] += 1
    return overlap, conflicts, {k: (v[0], v[1]) for k, v in sorted(hot.items())}



def _random_pilot(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    recs, subs = [], []
    for i in range(int(rng.integers(5, 60))):
        item = f"t{i}"
        has_model = rng.random() < 0.4
        if has_model:
            for _ in range(int(rng.integers(1, 3))):
                recs.append(Record(item_id=item, annotator_id="model", source="model", label_set="objects",
                                   value=_box(str(rng.choice(["car", "bus"])), float(rng.integers(0, 3))),
                                   created_at=str(rng.choice(["2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z", ""]))
                                   or None))
        for ann in ("a", "b", "c")[: int(rng.integers(1, 4))]:
            for _ in range(int(rng.integers(0, 4))):
                if rng.random() < 0.5:
                    v = _box(str(rng.choice(["car", "bus"])), float(rng.integers(0, 3)))
                    ls = "objects"
                elif rng.random() < 0.5:
                    v = Span(label=str(rng.choice(["PER", "ORG"])), start=0, end=int(rng.integers(1, 4)))
                    ls = "ner"
                else:
                    v = Classification(label=str(rng.choice(["pos", "neg"])))
                    ls = "sentiment"
                recs.append(Record(item_id=item, annotator_id=ann, label_set=ls, value=v))
            dur = None if rng.random() < 0.1 else float(rng.choice([rng.lognormal(3, 0.5), 5000.0, 30.0]))
            subs.append(Submission(item_id=item, annotator_id=ann, duration_s=dur,
                                   created_at="2026-01-02T00:00:00Z" if rng.random() < 0.9 else None,
                                   was_cancelled=bool(rng.random() < 0.05)))
    subs.append(Submission(item_id="t0", annotator_id="z", duration_s=12.0))
    return Dataset(records=tuple(recs), submissions=tuple(subs))


@pytest.mark.parametrize("seed", range(25))
def test_vectorized_pilot_equals_the_per_pass_loops(seed: int) -> None:
    ds = _random_pilot(seed)
    for z in (OUTLIER_Z, 1.0):
        want, got = _analyze_pilot_reference(ds, outlier_z=z), analyze_pilot(ds, outlier_z=z)
        assert got.to_dict() == want.to_dict()
        assert got.passes == want.passes
        assert [list(p.labels) for p in got.passes] == [list(p.labels) for p in want.passes]  # same order
        assert got.hotspots == want.hotspots
