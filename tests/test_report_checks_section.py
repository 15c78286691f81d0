"""The rule-based checks as a mergeable section: any split, merged in any order, gives ``ref_checks``.

``ref_checks`` (tests/report_refs.py: the report's checks before the section, ``run_checks``
with findings cut at 2000 plus the taxonomy discrepancies) is the reference: the section's
result must equal it exactly (floats bit for bit; only the wall times in ``durations_s`` are
left out) on random datasets, on the frozen report fixtures and on exports nobody here wrote
(the CVAT video fixtures). Where today's result depends on the dataset's order the section uses
the canonical order (items sorted by id); the reference is then ``ref_checks`` on the dataset so
reordered, and a test shows the one figure (``duplicate_index``) that differs on a dataset in
another order.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_refs import ref_checks

from accord.core.checks import Finding, register_check, unregister_check
from accord.core.errors import ConfigError
from accord.core.model import Box, Classification, Cuboid, Dataset, Item, Record, Span, Submission, Track, TrackFrame
from accord.core.report.checks import ChecksSection, ChecksState
from accord.core.report.engine import Context, local_fold, run_sections, split_items

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FROZEN = FIXTURES / "frozen"

#: Thresholds low enough that every dataset-wide check fires on a few dozen records.
RULES: dict[str, Any] = {"checks": {
    "behaviour.too_fast": {"min_count": 3, "z_threshold": 0.5, "max_fraction": 0.6},
    "behaviour.straight_lining": {"min_count": 3, "min_excess": 0.05, "z_threshold": 0.5},
    "behaviour.rubber_stamping": {"min_count": 2, "min_excess": 0.05, "z_threshold": 0.3},
    "behaviour.label_drift": {"window": 3, "alpha": 0.9},
    "video.track_jump": {"min_speed": 0.05, "z_threshold": 0.5},
    "cuboid.implausible_size": {"min_count": 3, "z_threshold": 1.0, "min_ratio": 1.1},
}}
DATASET_WIDE = ("behaviour.too_fast", "behaviour.straight_lining", "behaviour.rubber_stamping",
                "behaviour.label_drift", "video.track_jump", "cuboid.implausible_size", "geometry.near_duplicate")


def _strip(result: tuple[dict[str, Any], list[Any]]) -> tuple[dict[str, Any], list[Any]]:
    out, discrepancies = result
    out = dict(out)
    out.pop("durations_s")
    return out, discrepancies


def _ctx(ds: Dataset) -> Context:
    return Context(config=None, seed=0, schema=ds.schema)


def _fold(ds: Dataset, parts: np.ndarray, n_parts: int, rng: np.random.Generator,
          rules: Any = RULES) -> tuple[dict[str, Any], list[Any]]:
    """The section over ``split_items(ds, parts)``, states pickled and merged along a random tree."""
    sec, ctx = ChecksSection(rules), _ctx(ds)
    states = [pickle.loads(pickle.dumps(sec.add(sec.create(ctx), p, ctx))) for p in split_items(ds, parts, n_parts)]
    while len(states) > 1:
        i, j = sorted(rng.choice(len(states), 2, replace=False).tolist())
        merged = sec.merge(states[j], states[i]) if rng.random() < 0.5 else sec.merge(states[i], states[j])
        states = [s for t, s in enumerate(states) if t not in (i, j)] + [merged]
    return _strip(sec.finish(states[0], ctx))


def canonical(ds: Dataset) -> Dataset:
    """``ds`` in the canonical order: items sorted by id; records and submissions by item, stably."""
    key = lambda x: x.item_id  # noqa: E731
    return Dataset(records=tuple(sorted(ds.records, key=key)), schema=ds.schema,
                   items={k: ds.items[k] for k in sorted(ds.items)},
                   submissions=tuple(sorted(ds.submissions, key=key)), name=ds.name)


# --------------------------------------------------------------------------- random datasets


def random_dataset(seed: int, *, shuffle: bool = False) -> Dataset:
    """A seeded dataset with every kind of data the checks read (and its edge cases).

    Classifications (one annotator straight-lining, model pre-annotations some copy, reference
    records, missing ``created_at``), boxes (near duplicates, out of bounds, tiny), spans,
    cuboids (one implausible), video tracks (one jump), submissions with and without durations,
    cancelled ones, items without records; sometimes a single annotator.
    """
    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(0, 26))
    anns = [f"ann-{k}" for k in range(1 if rng.random() < 0.15 else int(rng.integers(2, 5)))]
    records: list[Record] = []
    subs: list[Submission] = []
    items: dict[str, Item] = {}
    labels = ["x", "y", "z"]
    order = rng.permutation(n_items) if shuffle else np.arange(n_items)
    for i in order.tolist():
        item = f"item-{i:03d}"
        items[item] = Item(item_id=item, width=100.0, height=80.0, data={"text": "Acme Corp. hired J. Doe today ."})
        if rng.random() < 0.1:
            continue  # an item without records
        pre = labels[int(rng.integers(0, 3))]
        if rng.random() < 0.6:
            records.append(Record(item_id=item, annotator_id="model-1", label_set="cls", source="model",
                                  value=Classification(label=pre), score=0.9))
        if rng.random() < 0.3:
            records.append(Record(item_id=item, annotator_id="gold", label_set="cls", source="reference",
                                  value=Classification(label=pre)))
        for a in anns:
            if rng.random() < 0.15:
                subs.append(Submission(item_id=item, annotator_id=a, was_cancelled=True,
                                       annotation_id=f"{item}-{a}-skip"))
                continue
            dur = None if rng.random() < 0.2 else float(rng.choice([0.4, 1.0, 30.0, 40.0, 45.0, 60.0, 55.0]))
            subs.append(Submission(item_id=item, annotator_id=a, duration_s=dur, annotation_id=f"{item}-{a}"))
            created = None if rng.random() < 0.1 else f"2026-01-{1 + int(rng.integers(0, 3)):02d}T{i % 24:02d}:00"
            other = pre if rng.random() < 0.5 else labels[int(rng.integers(0, 3))]
            lab = "x" if a == anns[0] and rng.random() < 0.9 else other
            records.append(Record(item_id=item, annotator_id=a, label_set="cls", value=Classification(label=lab),
                                  created_at=created, annotation_id=f"{item}-{a}"))
            for b in range(int(rng.integers(0, 3))):
                x, y = float(rng.uniform(-5, 90)), float(rng.uniform(0, 70))
                w, h = (float(rng.uniform(0.5, 30)), float(rng.uniform(0.5, 30)))
                lb = labels[int(rng.integers(0, 2))]
                records.append(Record(item_id=item, annotator_id=a, label_set="obj", region_id=f"{item}-{a}-{b}",
                                      value=Box(label=lb, x=x, y=y, width=w, height=h), annotation_id=f"{item}-{a}"))
                if rng.random() < 0.3:  # drawn twice
                    records.append(Record(item_id=item, annotator_id=a, label_set="obj", region_id=f"{item}-{a}-{b}d",
                                          value=Box(label=lb, x=x + 0.1, y=y, width=w, height=h),
                                          annotation_id=f"{item}-{a}"))
            if rng.random() < 0.3:
                s0 = int(rng.choice([0, 1, 5, 11]))
                records.append(Record(item_id=item, annotator_id=a, label_set="ner", region_id=f"{item}-{a}-s",
                                      value=Span(label="ORG", start=s0, end=s0 + 10), annotation_id=f"{item}-{a}"))
            if rng.random() < 0.4:
                big = 3.0 if rng.random() < 0.1 else 1.0
                records.append(Record(item_id=item, annotator_id=a, label_set="3d", region_id=f"{item}-{a}-c",
                                      value=Cuboid(label="car", x=0, y=0, z=0.7, length=4.0 * big + rng.uniform(0, .2),
                                                   width=1.8 + rng.uniform(0, .1), height=1.5),
                                      annotation_id=f"{item}-{a}"))
            if rng.random() < 0.3:
                jump = int(rng.integers(2, 5)) if rng.random() < 0.3 else -1
                frames = tuple(TrackFrame(frame=f, x=10.0 + 2 * f + (60.0 if f >= jump >= 0 else 0.0), y=10.0,
                                          width=10.0, height=10.0) for f in range(6))
                records.append(Record(item_id=item, annotator_id=a, label_set="video", region_id=f"{item}-{a}-t",
                                      value=Track(label="car", track_id=f"{item}-{a}-t", frames=frames),
                                      annotation_id=f"{item}-{a}"))
    return Dataset(records=tuple(records), items=items, submissions=tuple(subs), name=f"random-{seed}")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 7), st.integers(0, 2**32 - 1))
def test_any_split_in_any_merge_order_equalsref_checks(seed: int, n_parts: int, split_seed: int) -> None:
    ds = random_dataset(seed)
    rng = np.random.default_rng(split_seed)
    parts = rng.integers(0, n_parts, len(ds.items))
    assert _fold(ds, parts, n_parts, rng) == _strip(ref_checks(ds, RULES))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_a_dataset_in_another_order_gives_checks_of_its_canonical_order(seed: int, split_seed: int) -> None:
    ds = random_dataset(seed, shuffle=True)
    rng = np.random.default_rng(split_seed)
    want = _strip(ref_checks(canonical(ds), RULES))
    assert _fold(ds, np.zeros(len(ds.items), dtype=np.int64), 1, rng) == want
    assert _fold(ds, np.arange(len(ds.items)), max(len(ds.items), 1), rng) == want  # every item alone
    assert _fold(ds, rng.integers(0, 4, len(ds.items)), 6, rng) == want  # with empty partitions


def test_the_random_datasets_exercise_every_dataset_wide_check() -> None:
    """Not a vacuous comparison: on these seeds each dataset-wide check finds something, and the
    section finds the same (a split into 5, in canonical and in shuffled order)."""
    fired: dict[str, int] = dict.fromkeys(DATASET_WIDE, 0)
    for seed in range(12):
        for shuffle in (False, True):
            ds = random_dataset(seed, shuffle=shuffle)
            want = _strip(ref_checks(canonical(ds), RULES))
            got = _fold(ds, np.arange(len(ds.items)) % 5, 5, np.random.default_rng(seed))
            assert got == want
            for name in DATASET_WIDE:
                fired[name] += sum(want[0]["by_check"].get(name, {}).values())
    assert all(n > 0 for n in fired.values()), fired


# --------------------------------------------------------------------------- real fixtures


def _fixtures() -> list[tuple[str, Dataset]]:
    from accord.cmd_demo import load_sample
    from accord.io import load_dataset

    out = [("sample", load_sample())]
    for name in ("choices", "boxes"):
        out.append((name, load_dataset([FROZEN / f"{name}.json"], label_config=FROZEN / f"{name}.label_config.xml")))
    # CVAT for video 1.1 exports (hand-written after datumaro's test assets; see tests/fixtures/cvat/README.md).
    cvat = FIXTURES / "cvat"
    out.append(("cvat-video", load_dataset([cvat / "video_alice.xml", cvat / "video_bob.xml"])))
    out.append(("cvat-annotations", load_dataset([FIXTURES / "cvat" / "video_annotations.xml"])))
    out.append(("ls-snapshot", load_dataset([FIXTURES / "label_studio" / "export_snapshot_full.json"])))
    return out


@pytest.fixture(scope="module")
def fixtures() -> list[tuple[str, Dataset]]:
    return _fixtures()


def test_fixtures_split_every_way_equalref_checks(fixtures: list[tuple[str, Dataset]]) -> None:
    for name, ds in fixtures:
        want = _strip(ref_checks(ds))
        n = len(ds.items)
        rng = np.random.default_rng(7)
        for parts, n_parts in ((np.zeros(n, dtype=np.int64), 1), (np.arange(n), n), (rng.integers(0, 5, n), 8)):
            assert _fold(ds, parts, n_parts, rng, rules=None) == want, name


def test_fixture_findings_are_those_of_the_frozen_reports_and_cvat_has_its_planted_jump(
        fixtures: list[tuple[str, Dataset]]) -> None:
    by_name = dict(fixtures)
    for name in ("sample", "choices", "boxes"):
        got, _ = _fold(by_name[name], np.arange(len(by_name[name].items)) % 3, 3, np.random.default_rng(0), rules=None)
        frozen = json.loads((FROZEN / f"{name}.report.json").read_text(encoding="utf-8"))["checks"]
        assert json.loads(json.dumps(got)) == frozen, name
    got, _ = _fold(by_name["cvat-video"], np.zeros(1, dtype=np.int64), 1, np.random.default_rng(0), rules=None)
    # bob's cars swap objects at frame 6 (README): two dataset-wide track jumps, both his
    jumps = [f for f in got["findings"] if f["check"] == "video.track_jump"]
    assert [(f["annotator_id"], f["evidence"]["frame"]) for f in jumps] == [("cvat:bob", 6), ("cvat:bob", 6)]


# --------------------------------------------------------------------------- rules, custom checks, edges


def test_user_rules_apply_as_in_runref_checks(tmp_path: Path) -> None:
    ds = random_dataset(3)
    rules = {"checks": {**RULES["checks"], "geometry.tiny": {"severity": "critical", "min_area_px": 50.0},
                        "behaviour.label_drift": {"enabled": False}}}
    got = _fold(ds, np.arange(len(ds.items)) % 3, 3, np.random.default_rng(1), rules=rules)
    assert got == _strip(ref_checks(ds, rules))
    assert "behaviour.label_drift" not in got[0]["checks_run"]
    assert got[0]["by_check"]["geometry.tiny"]["critical"] > 0
    path = tmp_path / "rules.toml"
    path.write_text('[checks."geometry.tiny"]\nseverity = "critical"\nmin_area_px = 50.0\n', encoding="utf-8")
    sec, ctx = ChecksSection(str(path)), _ctx(ds)
    want = _strip(ref_checks(ds, {"checks": {"geometry.tiny": {"severity": "critical", "min_area_px": 50.0}}}))
    assert _strip(sec.finish(local_fold(sec, ctx, split_items(ds, np.arange(len(ds.items)) % 2)), ctx)) == want


def test_bad_rules_are_refused_when_the_section_is_made() -> None:
    with pytest.raises(ConfigError, match=r"unknown check 'geometry\.nope'"):
        ChecksSection({"checks": {"geometry.nope": {}}})
    with pytest.raises(ConfigError, match="severity must be one of"):
        ChecksSection({"checks": {"geometry.tiny": {"severity": "fatal"}}})


def test_a_custom_per_item_check_runs_per_partition_and_a_bad_one_is_named() -> None:
    def long_labels(ctx: Any, cfg: Any) -> Any:
        for r in ctx.records("box"):
            if len(r.label or "") > cfg["max_chars"] - 1:
                yield Finding(check=cfg.name, item_id=r.item_id, annotator_id=r.annotator_id, severity=cfg.severity,
                              category="schema_violation", message="long label", region_id=r.region_id)

    def bad(ctx: Any, cfg: Any) -> Any:
        yield "not a finding"

    ds = random_dataset(5)
    register_check("custom.long_labels", kinds=("box",), fn=long_labels, severity="info", params={"max_chars": 1})
    try:
        got = _fold(ds, np.arange(len(ds.items)) % 4, 4, np.random.default_rng(2), rules=None)
        assert got == _strip(ref_checks(ds))
        assert got[0]["by_check"]["custom.long_labels"]["info"] > 0
    finally:
        unregister_check("custom.long_labels")
    register_check("custom.bad", kinds=(), fn=bad)
    try:
        sec, ctx = ChecksSection(), _ctx(ds)
        with pytest.raises(ConfigError, match=r"check 'custom\.bad' must yield Finding objects"):
            sec.add(sec.create(ctx), ds, ctx)
    finally:
        unregister_check("custom.bad")


def test_empty_dataset_and_empty_partitions_are_the_identity() -> None:
    empty = Dataset(records=())
    assert _fold(empty, np.zeros(0, dtype=np.int64), 3, np.random.default_rng(0)) == _strip(ref_checks(empty, RULES))
    ds = random_dataset(8)
    sec, ctx = ChecksSection(RULES), _ctx(ds)
    none = sec.add(sec.create(ctx), empty, ctx)
    whole = sec.add(sec.create(ctx), ds, ctx)
    assert _strip(sec.finish(sec.merge(none, sec.merge(whole, none)), ctx)) == _strip(ref_checks(ds, RULES))


def test_run_sections_and_the_state_and_durations() -> None:
    ds = random_dataset(11)
    sec = ChecksSection(RULES)
    out = run_sections([sec], split_items(ds, np.arange(len(ds.items)) % 3), _ctx(ds))["checks"]
    assert _strip(out) == _strip(ref_checks(ds, RULES))
    report, discrepancies = out
    assert list(report["durations_s"]) == report["checks_run"]
    assert all(v >= 0 for v in report["durations_s"].values())
    assert len(discrepancies) == report["n_findings"]
    state = sec.add(sec.create(_ctx(ds)), ds, _ctx(ds))
    assert isinstance(state, ChecksState)
    assert isinstance(pickle.loads(pickle.dumps(state)), ChecksState)
    assert sec.next_params(state, _ctx(ds)) is None
    assert (sec.name, sec.stage) == ("checks", 0)


def test_findings_are_cut_at_2000_but_every_one_is_a_discrepancy() -> None:
    recs = tuple(Record(item_id=f"i{k:04d}", annotator_id="a", label_set="obj",
                        value=Box(label="car", x=0, y=0, width=0.5, height=0.5)) for k in range(2100))
    ds = Dataset(records=recs, items={f"i{k:04d}": Item(item_id=f"i{k:04d}", width=10, height=10) for k in range(2100)})
    report, discrepancies = _fold(ds, np.arange(2100) % 7, 7, np.random.default_rng(0), rules=None)
    assert report["n_findings"] == 2100
    assert len(report["findings"]) == 2000
    assert len(discrepancies) == 2100
    assert (report, discrepancies) == _strip(ref_checks(ds))


def test_duplicate_index_is_the_canonical_position_of_the_first_box() -> None:
    """The one figure that depends on the dataset's order: ``duplicate_index`` of a near duplicate
    is the first box's position among all boxes. Item ``b`` comes first in this dataset with two
    boxes, item ``a`` holds the duplicate pair: today's index is 2 (after b's boxes), the
    canonical one 0 (``a`` sorts first)."""
    def box(item: str, region: str, x: float) -> Record:
        return Record(item_id=item, annotator_id="ann", label_set="obj", region_id=region,
                      value=Box(label="car", x=x, y=10, width=20, height=20))

    ds = Dataset(records=(box("b", "b1", 0), box("b", "b2", 50), box("a", "a1", 10), box("a", "a2", 10.5)),
                 items={"b": Item(item_id="b", width=100, height=100), "a": Item(item_id="a", width=100, height=100)})
    today, _ = _strip(ref_checks(ds))
    got = _fold(ds, np.array([0, 1]), 2, np.random.default_rng(0), rules=None)
    assert [f["evidence"]["duplicate_index"] for f in today["findings"]] == [2]
    assert [f["evidence"]["duplicate_index"] for f in got[0]["findings"]] == [0]
    assert got == _strip(ref_checks(canonical(ds)))
