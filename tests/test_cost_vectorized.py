"""The column-wise pilot analysis and forecast against straightforward per-pass loops.

``analyze_pilot`` and ``forecast`` read the pilot as columns (:class:`PassTable`); the
references here are the per-record loops they replaced (one dict per pass, one
:class:`Pass` object per pass, sums in pass order). On seeded random pilots with the
awkward cases (untimed and cancelled passes, model and gold records, undated
predictions, a single annotator, passes without records, several label sets sharing a
label name, multi-label and numeric values) every figure must be equal, floats
bit for bit.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pytest

from accord.core.cost import PassTable, analyze_pilot, config_from_dict, forecast, time_stats
from accord.core.cost.forecast import COMPONENTS, Component, Forecast, Interval, _compute
from accord.core.cost.pilot import (
    OUTLIER_Z,
    Pass,
    PilotStats,
    PreAnnotationEffect,
    TimeStats,
    _match_unchanged,
    _ts,
    outlier_mask,
)
from accord.core.errors import InvalidAnnotationError
from accord.core.model import (
    Box,
    Classification,
    Dataset,
    MultiLabel,
    Numeric,
    Record,
    Span,
    Submission,
    value_label,
)

FMOD = sys.modules["accord.core.cost.forecast"]  # the package re-exports forecast(), shadowing the module
pilot_mod = sys.modules["accord.core.cost.pilot"]


# --------------------------------------------------------------------------- references (per-pass loops)


def _reference_pilot(dataset: Dataset, *, outlier_z: float = OUTLIER_Z) -> PilotStats:
    """The pilot analysis as one loop over records, one dict and one :class:`Pass` per pass."""
    human: dict[tuple[str, str], list[Record]] = {}
    model: dict[str, list[Record]] = {}
    for r in dataset.records:
        if r.source == "human":
            human.setdefault((r.item_id, r.annotator_id), []).append(r)
        elif r.source == "model":
            model.setdefault(r.item_id, []).append(r)
    subs = [s for s in dataset.submissions if s.source == "human" and not s.was_cancelled]
    timed = [s for s in subs if s.duration_s is not None and s.duration_s > 0]
    if not timed:
        raise InvalidAnnotationError("no timed pass")
    counts: list[dict[str, int]] = []
    for s in timed:
        c: dict[str, int] = {}
        for r in human.get((s.item_id, s.annotator_id), []):
            c[r.kind] = c.get(r.kind, 0) + 1
        counts.append(c)
    kind_of = [max(sorted(c), key=lambda k, c=c: c[k]) if c else "none" for c in counts]
    flags = [False] * len(timed)
    for kind in sorted(set(kind_of)):
        sel = [j for j, k in enumerate(kind_of) if k == kind]
        for j, f in zip(sel, outlier_mask([float(timed[j].duration_s or 0) for j in sel], z=outlier_z), strict=True):
            flags[j] = bool(f)
    n_model = n_accepted = n_added = n_deleted = 0
    passes: list[Pass] = []
    for s, out, c in zip(timed, flags, counts, strict=True):
        preds = model.get(s.item_id, [])
        pre = bool(preds)
        if preds:
            t_sub = _ts(s.created_at)
            t_pred = [_ts(m.created_at) for m in preds]
            if t_sub is not None and all(t is not None for t in t_pred):
                pre = any(t is not None and t <= t_sub for t in t_pred)
        if pre:
            recs = human.get((s.item_id, s.annotator_id), [])
            acc = _match_unchanged(recs, preds)
            n_model, n_accepted = n_model + len(preds), n_accepted + acc
            n_added, n_deleted = n_added + len(recs) - acc, n_deleted + len(preds) - acc
        passes.append(Pass(item_id=s.item_id, annotator_id=s.annotator_id, duration_s=float(s.duration_s or 0.0),
                           labels=MappingProxyType(c), pre_annotated=pre, outlier=out))

    def stats(ps: Sequence[Pass]) -> TimeStats:
        return time_stats([p.duration_s for p in ps], [p.n_labels for p in ps], outliers=[p.outlier for p in ps])

    by_ann: dict[str, list[Pass]] = {}
    by_kind: dict[str, list[Pass]] = {}
    by_ann_kind: dict[str, dict[str, list[Pass]]] = {}
    for p in passes:
        by_ann.setdefault(p.annotator_id, []).append(p)
        by_kind.setdefault(p.kind, []).append(p)
        by_ann_kind.setdefault(p.annotator_id, {}).setdefault(p.kind, []).append(p)
    kind_stats = {k: stats(v) for k, v in sorted(by_kind.items())}
    kept = [p for p in passes if not p.outlier]
    lab_tot: dict[str, int] = {}
    for p in kept:
        for k, v in p.labels.items():
            lab_tot[k] = lab_tot.get(k, 0) + v
    overlap, conflicts, hot = _reference_conflicts(human, subs)
    return PilotStats(
        passes=tuple(passes), untimed_passes=len(subs) - len(timed), overall=stats(passes),
        by_annotator=MappingProxyType({k: stats(v) for k, v in sorted(by_ann.items())}),
        by_kind=MappingProxyType(kind_stats),
        by_annotator_kind=MappingProxyType({a: MappingProxyType({k: stats(v) for k, v in sorted(m.items())})
                                            for a, m in sorted(by_ann_kind.items())}),
        seconds_per_label_by_kind=MappingProxyType({k: v.seconds_per_label for k, v in kind_stats.items()
                                                    if k != "none"}),
        labels_per_pass=MappingProxyType({k: v / len(kept) for k, v in sorted(lab_tot.items())} if kept else {}),
        items_with_overlap=overlap, conflict_items=conflicts, hotspots=MappingProxyType(hot),
        pre_annotation=PreAnnotationEffect(
            with_predictions=stats([p for p in passes if p.pre_annotated]),
            without_predictions=stats([p for p in passes if not p.pre_annotated]),
            model_regions=n_model, accepted=n_accepted, added=n_added, deleted=n_deleted))


def _reference_conflicts(human: Mapping[tuple[str, str], list[Record]], subs: Sequence[Submission]
                         ) -> tuple[int, int, dict[str, tuple[int, int]]]:
    per_item: dict[str, list[dict[tuple[str, str], int]]] = {}
    for s in subs:
        sig: dict[tuple[str, str], int] = {}
        for r in human.get((s.item_id, s.annotator_id), []):
            key = (r.label_set, value_label(r.value) or r.kind)
            sig[key] = sig.get(key, 0) + 1
        per_item.setdefault(s.item_id, []).append(sig)
    overlap = conflicts = 0
    hot: dict[str, list[int]] = {}
    for sigs in per_item.values():
        if len(sigs) < 2:
            continue
        overlap += 1
        conflicts += any(sg != sigs[0] for sg in sigs[1:])
        for key in sorted({k for sg in sigs for k in sg}):
            h = hot.setdefault(key[1], [0, 0])
            h[1] += 1
            h[0] += len({sg.get(key, 0) for sg in sigs}) > 1
    return overlap, conflicts, {k: (v[0], v[1]) for k, v in sorted(hot.items())}


def _reference_boot_sums(rng: np.random.Generator, n_boot: int, table: np.ndarray) -> np.ndarray:
    """All replicates' item draws as int64, counted with one ``np.bincount`` per block (the old way)."""
    n = table.shape[0]
    block = max(1, FMOD._BOOT_BLOCK_CELLS // max(n, 1))
    parts = []
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        idx = rng.integers(0, n, size=(b, n), dtype=np.int64)
        draws = np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n)
        parts.append(draws.reshape(b, n).astype(np.float64) @ table)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _reference_per_item(passes: list[Pass], kinds: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx: dict[str, int] = {}
    for p in passes:
        idx.setdefault(p.item_id, len(idx))
    sec, cnt, lab = np.zeros(len(idx)), np.zeros(len(idx)), np.zeros((len(idx), len(kinds)))
    kpos = {k: j for j, k in enumerate(kinds)}
    for p in passes:
        i = idx[p.item_id]
        sec[i] += p.duration_s
        cnt[i] += 1
        for k, n in p.labels.items():
            lab[i, kpos[k]] += n
    return sec, cnt, lab


def _reference_forecast(pilot: PilotStats, config, *, items: int, n_boot: int, seed: int,
                        confidence: float = 0.9) -> Forecast:
    """The forecast from a pilot, reading one :class:`Pass` object at a time."""
    factor = config.drivers.time_factor
    notes: list[str] = []
    saving = None
    conflict = config.qa.conflict_rate
    kept = [p for p in pilot.passes if not p.outlier]
    pre = [p for p in kept if p.pre_annotated]
    plain = [p for p in kept if not p.pre_annotated]
    want = "with predictions" if config.team.pre_annotation else "without predictions"
    if (config.team.pre_annotation and pre) or (not config.team.pre_annotation and plain):
        chosen, which, fallback = [], want, []
        for kind in sorted({p.kind for p in kept}):
            of_kind = [p for p in kept if p.kind == kind]
            match = [p for p in of_kind if p.pre_annotated == config.team.pre_annotation]
            chosen += match or of_kind
            if not match:
                fallback.append(f"{kind} ({len(of_kind)})")
        if fallback:
            which = f"{want}; all passes of {', '.join(fallback)}"
            notes.append(f"no pilot pass {want} for {', '.join(f.split(' (')[0] for f in fallback)}: those "
                         "kinds use their passes " + ("without" if config.team.pre_annotation else "with")
                         + " predictions, so their time is " + ("an upper" if config.team.pre_annotation
                                                               else "a lower") + " estimate")
    else:
        chosen, which = kept, "all passes"
        notes.append("team.pre_annotation is " + ("set but the pilot had no pre-annotated passes"
                     if config.team.pre_annotation else "off but every pilot pass was pre-annotated"))
    trimmed = {k: v for k, v in pilot.by_kind.items() if v.n_outliers}
    if trimmed:
        notes.append("outliers trimmed per kind: " + ", ".join(
            f"{k} {v.n_outliers} of {v.n}" for k, v in trimmed.items()))
    excluded = sorted({p.kind for p in pilot.passes} - {p.kind for p in chosen})
    if excluded:
        notes.append(f"left out of the forecast (every pass trimmed): {', '.join(excluded)}")
    kinds = sorted({k for p in kept for k in p.labels})
    sec, cnt, lab = _reference_per_item(chosen, kinds)
    sums = _reference_boot_sums(np.random.default_rng(seed), n_boot, np.column_stack([sec, cnt, lab]))
    c_b = sums[:, 1]
    seconds = np.concatenate([[sec.sum() / cnt.sum()], sums[:, 0] / c_b]) * factor
    labels = np.vstack([lab.sum(axis=0) / cnt.sum(), sums[:, 2:] / c_b[:, None]])
    basis = (f"pilot: {int(cnt.sum())} timed passes on {sec.size} items ({which}), "
             f"{pilot.overall.n_outliers} outlier(s) trimmed within each label kind")
    if sec.size < 30:
        notes.append(f"only {sec.size} pilot items: the interval is wide and itself uncertain")
    if config.qa.annotators_per_item >= 2 and not math.isnan(pilot.conflict_rate):
        conflict = pilot.conflict_rate
        notes.append(f"adjudication uses the pilot's measured conflict rate {conflict:.1%}")
    if pre and plain:
        w_sec, w_cnt, w_lab = _reference_per_item(pre, kinds)
        o_sec, o_cnt, o_lab = _reference_per_item(plain, kinds)
        with_p = _compute(config, items, np.array([w_sec.sum() / w_cnt.sum() * factor]),
                          w_lab.sum(axis=0, keepdims=True) / w_cnt.sum(), kinds, conflict)
        without = _compute(config, items, np.array([o_sec.sum() / o_cnt.sum() * factor]),
                           o_lab.sum(axis=0, keepdims=True) / o_cnt.sum(), kinds, conflict)
        saving = float(sum(v[0] for v in without.cost.values()) - sum(v[0] for v in with_p.cost.values()))
    if factor != 1.0:
        notes.append(f"driver factors scale time per pass by {factor:.3g}")
    parts = _compute(config, items, seconds, labels, kinds, conflict)
    tot_cost = sum(parts.cost.values(), np.zeros_like(seconds))
    tot_hours = sum(parts.hours.values(), np.zeros_like(seconds))
    t = config.team
    days = tot_hours / (t.size * t.hours_per_day * t.utilization)
    alpha = (1.0 - confidence) / 2.0

    def interval(a: np.ndarray) -> Interval:
        lo, hi = np.quantile(a[1:], [alpha, 1.0 - alpha])
        return Interval(estimate=float(a[0]), low=float(lo), high=float(hi))

    return Forecast(
        currency=config.currency, items=items, passes=parts.passes, pricing_model=config.pricing.model,
        basis=basis, seconds_per_pass=interval(seconds),
        labels_per_pass=MappingProxyType({k: float(labels[0, j]) for j, k in enumerate(kinds)}),
        components=tuple(Component(name=n, hours=float(parts.hours[n][0]), cost=float(parts.cost[n][0]))
                         for n in COMPONENTS),
        total_cost=interval(tot_cost), total_hours=interval(tot_hours), working_days=interval(days),
        team_size=t.size, hours_per_day=t.hours_per_day, utilization=t.utilization, confidence=confidence,
        n_boot=n_boot, seed=seed, conflict_rate=conflict if config.qa.annotators_per_item >= 2 else 0.0,
        pre_annotation_saving=saving, notes=tuple(notes))


# --------------------------------------------------------------------------- random pilots

_STAMPS = ("2026-01-01T00:00:00Z", "2026-01-03T00:00:00+02:00", "", "not a time", "2026-01-02T00:00:00")


def _value(rng: np.random.Generator) -> tuple[str, object]:
    u = rng.random()
    if u < 0.3:
        return "objects", Box(label=str(rng.choice(["car", "bus"])), x=float(rng.integers(0, 3)), y=0.0,
                              width=10.0, height=10.0)
    if u < 0.45:
        return "ner", Span(label=str(rng.choice(["PER", "car"])), start=0, end=int(rng.integers(1, 4)))
    if u < 0.6:
        return "topics", MultiLabel(labels=tuple(rng.choice(["a", "b", "c"], size=int(rng.integers(0, 3)),
                                                            replace=False).tolist()))
    if u < 0.7:
        return "score", Numeric(value=float(rng.integers(0, 3)))
    return str(rng.choice(["sentiment", "tone"])), Classification(label=str(rng.choice(["pos", "neg", "car"])))


def _random_pilot(seed: int, *, n_items: int | None = None, annotators: int | None = None) -> Dataset:
    rng = np.random.default_rng(seed)
    anns = [f"ann{j}" for j in range(annotators or int(rng.integers(1, 5)))]
    recs, subs = [], []
    for i in range(n_items or int(rng.integers(3, 70))):
        item = f"t{i}"
        if rng.random() < 0.35:
            for _ in range(int(rng.integers(1, 3))):
                ls, v = _value(rng)
                recs.append(Record(item_id=item, annotator_id="model", source="model", label_set=ls, value=v,
                                   created_at=str(rng.choice(_STAMPS)) or None))
        if rng.random() < 0.1:
            recs.append(Record(item_id=item, annotator_id="gold", source="reference", label_set="sentiment",
                               value=Classification(label="pos")))
        for ann in rng.permutation(anns)[: int(rng.integers(1, len(anns) + 1))].tolist():
            for _ in range(int(rng.integers(0, 4))):
                ls, v = _value(rng)
                recs.append(Record(item_id=item, annotator_id=ann, label_set=ls, value=v))
            dur = None if rng.random() < 0.1 else float(rng.choice([rng.lognormal(3, 0.5), 5000.0, 30.0, 0.0]))
            subs.append(Submission(item_id=item, annotator_id=ann, duration_s=dur,
                                   created_at=str(rng.choice(_STAMPS)) or None,
                                   was_cancelled=bool(rng.random() < 0.05)))
            if rng.random() < 0.05:  # a skip beside the real pass
                subs.append(Submission(item_id=item, annotator_id=ann, duration_s=9.0, was_cancelled=True,
                                       annotation_id=f"skip-{i}-{ann}"))
    subs.append(Submission(item_id="no-records", annotator_id=anns[0], duration_s=12.0))  # a pass without records
    order = rng.permutation(len(recs))
    return Dataset(records=tuple(recs[k] for k in order), submissions=tuple(subs))


def _same_pilot(got: PilotStats, want: PilotStats) -> None:
    assert got.to_dict() == want.to_dict()
    assert got == want  # every field, passes included (a PassTable equals the tuple of the same passes)
    assert isinstance(got.passes, PassTable)
    assert list(got.passes) == list(want.passes)
    assert [list(p.labels) for p in got.passes] == [list(p.labels) for p in want.passes]  # same key order
    assert [p.kind for p in got.passes] == [p.kind for p in want.passes]
    assert got.hotspots == want.hotspots
    for name in ("overall",):
        assert getattr(got, name) == getattr(want, name)  # floats equal bit for bit (== on the dataclass)


@pytest.mark.parametrize("seed", range(40))
def test_pilot_columns_equal_the_per_pass_loops(seed: int) -> None:
    ds = _random_pilot(seed)
    for z in (OUTLIER_Z, 1.0):
        try:
            want = _reference_pilot(ds, outlier_z=z)
        except InvalidAnnotationError:
            with pytest.raises(InvalidAnnotationError, match="none with a duration"):
                analyze_pilot(ds, outlier_z=z)
            continue
        _same_pilot(analyze_pilot(ds, outlier_z=z), want)


@pytest.mark.parametrize("seed", range(6))
def test_single_annotator_and_single_kind_pilots(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    recs = [Record(item_id=f"i{i}", annotator_id="solo", label_set="sentiment",
                   value=Classification(label=str(rng.choice(["pos", "neg"]))), duration_s=float(rng.integers(5, 40)))
            for i in range(int(rng.integers(2, 50)))]
    ds = Dataset(records=tuple(recs))
    got, want = analyze_pilot(ds), _reference_pilot(ds)
    _same_pilot(got, want)
    assert got.items_with_overlap == 0
    assert got.hotspots == {}
    solo = _random_pilot(seed, annotators=1)
    _same_pilot(analyze_pilot(solo), _reference_pilot(solo))


def test_a_pilot_of_empty_passes_only() -> None:
    # timed passes that drew nothing: one "none" kind, no labels, no hot spots
    subs = tuple(Submission(item_id=f"i{i % 3}", annotator_id=a, duration_s=10.0 + i)
                 for i, a in enumerate(["a", "b", "c", "a", "b", "c"]))
    ds = Dataset(records=(), submissions=subs)
    got = analyze_pilot(ds)
    _same_pilot(got, _reference_pilot(ds))
    assert list(got.by_kind) == ["none"]
    assert got.labels_per_pass == {}


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("settings", [
    {},
    {"team": {"pre_annotation": True}, "qa": {"annotators_per_item": 2, "review_passes": 1}},
    {"pricing": {"model": "per_label", "rate_per_label": 0.02, "rate_per_label_by_kind": {"box": 0.05}},
     "qa": {"annotators_per_item": 3, "gold_fraction": 0.1}},
])
def test_forecast_from_columns_equals_the_per_pass_forecast(seed: int, settings: dict) -> None:
    ds = _random_pilot(seed)
    try:
        pilot = analyze_pilot(ds)
    except InvalidAnnotationError:
        return
    cfg = config_from_dict(settings)
    got = forecast(pilot, cfg, items=1000, n_boot=200, seed=seed)
    want = _reference_forecast(_reference_pilot(ds), cfg, items=1000, n_boot=200, seed=seed)
    assert got == want  # every float bit for bit
    assert got.to_dict() == want.to_dict()
    # a pilot given as plain Pass objects forecasts the same
    plain = PilotStats(**{f: getattr(pilot, f) for f in PilotStats.__dataclass_fields__}
                       | {"passes": tuple(pilot.passes)})
    assert forecast(plain, cfg, items=1000, n_boot=200, seed=seed) == got


@pytest.mark.parametrize(("n", "n_boot", "block_cells"), [
    (7, 503, 700), (300, 250, 4_000_000), (1024, 37, 10_000), (5000, 21, 4_000_000), (3001, 9, 6000)])
def test_boot_sums_equal_the_int64_draws_counted_at_once(monkeypatch: pytest.MonkeyPatch, n: int, n_boot: int,
                                                         block_cells: int) -> None:
    # uint32 draws and per-replicate counting (n >= _BOOT_ROW_ITEMS) give the very counts of the old int64 way
    monkeypatch.setattr(FMOD, "_BOOT_BLOCK_CELLS", block_cells)
    table = np.random.default_rng(n).uniform(1, 60, (n, 3))
    got = FMOD._boot_sums(np.random.default_rng(5), n_boot, table)
    assert np.array_equal(got, _reference_boot_sums(np.random.default_rng(5), n_boot, table))


def test_pass_table_is_a_sequence_of_passes() -> None:
    ps = (Pass(item_id="x", annotator_id="a", duration_s=3.0, labels=MappingProxyType({"span": 2, "box": 1}),
               pre_annotated=True, outlier=False),
          Pass(item_id="y", annotator_id="b", duration_s=4.5, labels=MappingProxyType({}),
               pre_annotated=False, outlier=True))
    table = PassTable.from_passes(ps)
    assert PassTable.from_passes(table) is table
    assert (len(table), table.n_items) == (2, 2)
    assert table == ps
    assert list(table) == list(ps)
    assert table[-1] == ps[1]
    assert table[0:1] == ps[:1]
    assert table != ps[:1]
    assert table != (ps[1], ps[0])
    assert table.n_labels.tolist() == [3, 0]
    assert [table.top_names[c] for c in table.top.tolist()] == ["span", "none"]
    with pytest.raises(IndexError, match="out of range for 2 passes"):
        table[2]
    # built from columns, a pass comes back with its labels in their first-seen order
    pilot = analyze_pilot(Dataset(records=(
        Record(item_id="i", annotator_id="a", label_set="ner", value=Span(label="PER", start=0, end=1),
               duration_s=5.0),
        Record(item_id="i", annotator_id="a", label_set="obj", value=Box(label="car", x=0, y=0, width=1, height=1),
               duration_s=5.0))))
    assert list(pilot.passes[0].labels) == ["span", "box"]
    assert "1 passes on 1 items" in repr(pilot.passes)


def test_time_stats_of_arrays_equals_time_stats_of_lists() -> None:
    rng = np.random.default_rng(3)
    d = rng.lognormal(3, 1, 500)
    lab = rng.integers(0, 4, 500)
    out = rng.random(500) < 0.1
    assert time_stats(d, lab, outliers=out) == time_stats(d.tolist(), lab.tolist(), outliers=out.tolist())
    assert time_stats(d) == time_stats(list(d))


def test_interning_in_runs_numbers_like_a_dict() -> None:
    # runs of one object, equal strings that are other objects, and values seen again later
    a, b = "".join(["it", "em1"]), "".join(["it", "em2"])
    a2 = "".join(["ite", "m1"])  # equal to a, another object
    values = [a, a, a, b, b, a2, a, b, "x", "x"]
    assert a is not a2
    codes, names = pilot_mod._intern_runs(values)
    want = {v: i for i, v in enumerate(dict.fromkeys(values))}
    assert names == list(want)
    assert codes.tolist() == [want[v] for v in values]
    empty_codes, empty_names = pilot_mod._intern_runs([])
    assert (empty_codes.size, empty_names) == (0, [])
    assert pilot_mod._intern_runs(["q"])[1] == ["q"]
