"""Region consensus and box truth inference as mergeable sections (issue #16,
:mod:`accord.core.report.region_consensus`).

On random splits of the items (one part, 3 and 7 parts with empty ones, every item alone, the
partitions in a random order) the sections must give exactly what the whole-dataset functions
the report used before gave (``tests/report_refs_region_consensus.py``, copied from the old
code): the same blocks as JSON, the same discrepancies in the same order, the same geometry EM
summary. The data: Label Studio's own box exports with two annotators (``tests/fixtures/label_studio``,
``tests/fixtures/third_party/label_studio_converter``), CVAT's and COCO's exports
(``tests/fixtures/cvat``, ``tests/fixtures/coco``: one annotator each, so no consensus: the
sections must agree on that too), the bundled sample (boxes, spans, speaker turns, transcripts),
the frozen boxes export, and a seeded random dataset holding every region kind (boxes with
rotated ones and annotators who drew nothing, polygons, masks with an item of mismatched
sizes, skeletons, spans, speaker turns, transcripts, cuboids, tracks), gold items and a class
label set whose skills weight the fusion.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import report_refs_region_consensus as refs

from accord.core.model import (
    Box,
    Classification,
    Cuboid,
    Dataset,
    Item,
    Keypoint,
    Keypoints,
    Mask,
    Polygon,
    Record,
    Segment,
    Span,
    Submission,
    TextValue,
    Track,
    TrackFrame,
)
from accord.core.qa import report as report_mod
from accord.core.qa.geometry_truth import box_judgments
from accord.core.qa.region_consensus import KINDS, annotator_weights_for, class_skills_of
from accord.core.qa.report import ReportConfig, _region_matcher, build_report
from accord.core.report.engine import Context, ItemOrder, Runner, local_fold, split_items
from accord.core.report.region_consensus import (
    BoxTruthSection,
    RegionConsensusInputs,
    RegionConsensusSection,
)
from accord.core.rle import encode

FIXTURES = Path(__file__).resolve().parent / "fixtures"


# --------------------------------------------------------------------------- data


def _load(name: str) -> Dataset:
    from accord.io import load_dataset

    if name == "sample":
        from accord.cmd_demo import load_sample

        return load_sample()
    if name == "frozen-boxes":
        return load_dataset([FIXTURES / "frozen" / "boxes.json"],
                            label_config=FIXTURES / "frozen" / "boxes.label_config.xml")
    return load_dataset([FIXTURES / name])


#: Real exports nobody here wrote (and ours: the sample, the frozen boxes export).
REAL = ["label_studio/export_as_json_bbox.json", "label_studio/export_snapshot_full.json",
        "third_party/label_studio_converter/test_export_yolo_data.json",
        "third_party/label_studio_converter/test_export_csv_csv_test.json",
        "cvat/images_train.xml", "coco/instances_default.json", "sample", "frozen-boxes"]


def _rec(item: str, who: str, name: str, value: Any, source: str = "human") -> Record:
    return Record(item_id=item, annotator_id=who, label_set=name, source=source, value=value)  # type: ignore[arg-type]


def random_dataset(seed: int, n_items: int = 24, *, odd_mask: bool = True) -> Dataset:
    """Every region kind on a 16 x 16 grid, 2-5 annotators per item (so some items have too few
    for a consensus), jittered copies of a few true regions, misses and extras, gold on some
    items, a class label set, rotated boxes, annotators who looked and drew no box, a skip,
    and (``odd_mask``) one item whose masks differ in size, which the report's agreement refuses;
    records interleaved across items."""
    rng = np.random.default_rng(seed)
    annotators = [f"a{k}" for k in range(5)]
    items = {f"i{k:02d}": Item(item_id=f"i{k:02d}", width=16.0, height=16.0) for k in
             rng.permutation(n_items).tolist()}
    recs: list[Record] = []
    subs: list[Submission] = []

    def jitter(v: float, s: float = 0.6) -> float:
        return float(v + rng.normal(0, s))

    for item in items:
        who = sorted(rng.choice(annotators, size=int(rng.integers(2, 6)), replace=False).tolist())
        gold = rng.random() < 0.2
        truth_boxes = [(float(rng.uniform(0, 8)), float(rng.uniform(0, 8)), float(rng.uniform(3, 7)),
                        str(rng.choice(["car", "bus"]))) for _ in range(int(rng.integers(1, 3)))]
        cx, cy = float(rng.uniform(3, 11)), float(rng.uniform(3, 11))
        people = ["gold", *who] if gold else who
        for a in people:
            src = "reference" if a == "gold" else "human"
            sd = 0.0 if a == "gold" else 1.0
            for x, y, s, lab in truth_boxes:
                if rng.random() < 0.15 and a != "gold":
                    continue
                rot = 15.0 if rng.random() < 0.05 else 0.0
                recs.append(_rec(item, a, "objects", Box(label=lab if rng.random() > 0.1 else "bus",
                                                         x=jitter(x, sd), y=jitter(y, sd), width=s, height=s,
                                                         rotation=rot), src))
            if rng.random() < 0.15 and a != "gold":
                recs.append(_rec(item, a, "objects", Box(label="car", x=12, y=12, width=3, height=3), src))
            d = int(rng.integers(-1, 2)) * (a != "gold")
            recs.append(_rec(item, a, "roofs", Polygon(label="roof", points=(
                (cx - 3 + d, cy - 3), (cx + 3, cy - 3 + d), (cx + 3, cy + 3), (cx - 3, cy + 3))), src))
            m = np.zeros((8, 8) if not (odd_mask and item == "i03" and a == who[-1]) else (9, 9), dtype=bool)
            r0 = int(rng.integers(1, 3))
            m[r0:r0 + 4, 2:6 + d] = True
            recs.append(_rec(item, a, "cells", Mask(label="cell", height=m.shape[0], width=m.shape[1],
                                                    counts=encode(m)), src))
            recs.append(_rec(item, a, "pose", Keypoints(label="person", points=(
                Keypoint(name="head", x=jitter(cx), y=jitter(cy)),
                Keypoint(name="foot", x=jitter(cx + 2), y=jitter(cy + 6),
                         visibility=0 if rng.random() < 0.2 else 2))), src))
            s0 = int(rng.integers(0, 3))
            recs.append(_rec(item, a, "ner", Span(label="PER", start=s0, end=s0 + 5), src))
            cut = float(rng.integers(8, 12))
            recs.append(_rec(item, a, "turns", Segment(start=0, end=cut, speaker="S1"), src))
            recs.append(_rec(item, a, "turns", Segment(start=cut, end=20, speaker="S2"), src))
            words = ["the", "cat", "sat" if rng.random() < 0.7 else "sit", "down"]
            recs.append(_rec(item, a, "asr", TextValue(text=" ".join(words)), src))
            recs.append(_rec(item, a, "cars3d", Cuboid(label="car", x=jitter(cx), y=jitter(cy), z=0, length=4,
                                                       width=2, height=2, yaw=jitter(0.3, 0.1)), src))
            recs.append(_rec(item, a, "video", Track(label="car", track_id=f"{a}-1", frames=tuple(
                TrackFrame(frame=f, x=jitter(1 + f), y=jitter(2), width=5, height=5) for f in range(3))), src))
            recs.append(_rec(item, a, "scene", Classification(
                label="day" if (a != "a4" and rng.random() < 0.85) else "night"), src))
        if rng.random() < 0.3:  # an annotator looked at the item and drew nothing
            lazy = next((a for a in annotators if a not in who), None)
            if lazy is not None:
                subs.append(Submission(item_id=item, annotator_id=lazy, annotation_id=f"{item}/{lazy}"))
    subs.append(Submission(item_id=next(iter(items)), annotator_id="a0", was_cancelled=True, annotation_id="skip"))
    order = rng.permutation(len(recs))
    return Dataset(records=tuple(recs[k] for k in order), items=items, submissions=tuple(subs), name="random")


def _splits(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One part; 3 parts; 7 parts with empty ones; every item alone."""
    return [np.zeros(n, dtype=np.int64), rng.integers(0, 3, size=n),
            rng.integers(0, 7, size=n) * (rng.random(n) < 0.6), np.arange(n)]


def _runners(ds: Dataset, rng: np.random.Generator) -> list[Runner]:
    out = []
    for parts in _splits(len(ds.items), rng):
        pieces = split_items(ds, parts, n_parts=int(parts.max(initial=0)) + 3)  # and two empty partitions
        order = rng.permutation(len(pieces))  # partitions arrive in any order
        out.append(Runner(tuple(pieces[k] for k in order)))
    return out


def _as_json(x: Any) -> str:
    return json.dumps(x, sort_keys=False, allow_nan=True, default=str)


def _discrepancies(ds: list[Any]) -> list[dict[str, Any]]:
    return [d.to_dict() for d in ds]


def _region_sets(ds: Dataset) -> list[tuple[str, str]]:
    return [(ls, ds.outline().kind_of(ls)) for ls in ds.label_sets
            if ds.outline().kind_of(ls) == "box" or ds.outline().kind_of(ls) in KINDS]


def _inputs(ds: Dataset, name: str, kind: str) -> tuple[RegionConsensusInputs, dict[str, Any]]:
    """Gold items and scores (the report's own gold section) and a class skill block, for the
    section and for the reference."""
    from accord.core.qa import gold as gold_mod

    gold = gold_mod.reference_by_item(ds, name)
    anns = sorted({a for per in ds.grouped(name, source="human").values() for a in per})
    # a made-up class consensus block: skills for all but the last annotator in "first", all in "second"
    consensus: dict[str, Any] = {"first": {"annotator_reliability": {a: 0.5 + 0.1 * k for k, a in
                                                                      enumerate(anns[:-1])}},
                                 "second": {"annotator_reliability": {a: 0.9 - 0.15 * k for k, a in
                                                                       enumerate(anns)}}}
    scores = {a: 0.3 + 0.2 * k for k, a in enumerate(anns[:1])}  # one annotator has a gold score
    inputs = RegionConsensusInputs(kind=kind, gold_items=frozenset(gold), gold_scores=scores,
                                   class_skills=class_skills_of(consensus))
    return inputs, consensus


def _ref_block(ds: Dataset, name: str, kind: str, cfg: ReportConfig, inputs: RegionConsensusInputs,
               consensus: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    from accord.core.qa.region_consensus import annotator_weights

    human = ds.grouped(name, source="human")
    weights = annotator_weights(sorted({a for per in human.values() for a in per}), gold_scores=inputs.gold_scores,
                                class_skills=class_skills_of(consensus))
    if kind == "box":
        return refs.box_consensus_ref(ds, name, inputs.gold_items, cfg, weights, human)
    block, _ = refs.region_consensus_ref(ds, name, kind, gold_items=inputs.gold_items, weights=weights,
                                             match=_region_matcher(cfg), iou_threshold=cfg.iou_threshold,
                                             taxonomy=cfg.taxonomy, human=human,
                                             segmentation_method=cfg.segmentation_method)
    assert block is not None
    return block, []  # only the box comparisons' discrepancies leave the block


def _ctx(ds: Dataset, cfg: ReportConfig, **options: Any) -> Context:
    return Context(config=cfg, seed=0, schema=ds.schema, order=ItemOrder(ds.items), options=options)


# --------------------------------------------------------------------------- region consensus


def _check_consensus(ds: Dataset, cfg: ReportConfig, rng: np.random.Generator) -> int:
    """Every region label set of ``ds``: the section on every split equals the reference; returns
    how many fused items were compared (so a test can insist that there were some)."""
    fused = 0
    for name, kind in _region_sets(ds):
        inputs, consensus = _inputs(ds, name, kind)
        want_block, want_found = _ref_block(ds, name, kind, cfg, inputs, consensus)
        section = RegionConsensusSection(name)
        for runner in _runners(ds, rng):
            block, found = runner.run([section], _ctx(ds, cfg, **{section.name: inputs}))[section.name]
            assert _as_json(block) == _as_json(want_block), (name, kind)
            assert _discrepancies(found) == _discrepancies(want_found), (name, kind)
        fused += want_block["n_items"]
    return fused


@pytest.mark.parametrize("name", REAL)
def test_region_consensus_of_real_exports_over_any_split_equals_the_whole_dataset_function(name: str) -> None:
    ds = _load(name)
    assert _region_sets(ds)
    _check_consensus(ds, ReportConfig(), np.random.default_rng(sum(map(ord, name))))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_region_consensus_of_every_kind_over_any_split_equals_the_whole_dataset_function(seed: int) -> None:
    ds = random_dataset(seed)
    kinds = {k for _, k in _region_sets(ds)}
    assert kinds == KINDS | {"box"}  # every kind is there
    assert _check_consensus(ds, ReportConfig(), np.random.default_rng(seed)) > 50  # items were fused


def test_segmentation_em_sums_come_out_in_the_same_order() -> None:
    # SegmentationEM's expected wrong pixels are real numbers: the rows replay them in one pass's order
    ds = random_dataset(5)
    cfg = replace(ReportConfig(), segmentation_method="em")
    ds = Dataset(records=tuple(r for r in ds.records if r.label_set in ("cells", "roofs")), items=ds.items,
                 submissions=ds.submissions)
    assert _check_consensus(ds, cfg, np.random.default_rng(5)) > 10


def test_dropping_a_partition_changes_the_consensus() -> None:
    """The control: the equality above can fail. Without one partition the fused counts and the
    box discrepancies change."""
    ds = random_dataset(3)
    cfg = ReportConfig()
    for name in ("objects", "cells"):
        kind = ds.outline().kind_of(name)
        inputs, consensus = _inputs(ds, name, kind)
        want_block, want_found = _ref_block(ds, name, kind, cfg, inputs, consensus)
        section = RegionConsensusSection(name)
        parts = split_items(ds, np.arange(len(ds.items)) % 3)
        block, found = Runner(tuple(parts[:2])).run([section], _ctx(ds, cfg, **{section.name: inputs}))[section.name]
        assert block["n_items"] < want_block["n_items"]
        assert _as_json(block) != _as_json(want_block)
        if kind == "box":
            assert len(found) < len(want_found)


def test_the_weights_read_every_partitions_annotators() -> None:
    # a4 only works on the items of one partition; the others' partition alone would not know it, and
    # the uniform weight (the mean of the measured ones) and the chosen class set depend on who is there
    ds = random_dataset(4)
    cfg = ReportConfig()
    inputs, consensus = _inputs(ds, "objects", "box")
    section = RegionConsensusSection("objects")
    block, _ = Runner(tuple(split_items(ds, np.arange(len(ds.items)) % 5))).run(
        [section], _ctx(ds, cfg, **{section.name: inputs}))[section.name]
    human = ds.grouped("objects", source="human")
    want = annotator_weights_for({a for per in human.values() for a in per}, gold_scores=(), consensus=consensus)
    assert set(block["weights"]) == set(want.annotator_ids) == {f"a{k}" for k in range(5)}
    assert block["weights_class_label_set"] == "second"  # "first" has no skill for one annotator


def test_states_and_sections_pickle() -> None:
    from accord.cluster._wire import enable_pickling

    enable_pickling()  # what a Dask run does: records and discrepancies keep read-only mappings
    ds = random_dataset(6, n_items=8)
    cfg = ReportConfig()
    for name, kind in _region_sets(ds):
        inputs, _ = _inputs(ds, name, kind)
        section = RegionConsensusSection(name)
        ctx = _ctx(ds, cfg, **{section.name: inputs})
        first = section.add(section.create(ctx), ds, ctx.for_workers())
        weights = section.next_params(pickle.loads(pickle.dumps(first)), ctx)
        second = section.add(section.create(ctx), ds, replace(ctx.for_workers(), params=weights))
        back = pickle.loads(pickle.dumps((section, second, weights)))
        assert _as_json(back[0].finish(back[1], replace(ctx, params=back[2]))) == _as_json(
            section.finish(second, replace(ctx, params=weights)))
        assert not any(isinstance(v, Record) for row in second.rows for v in vars_of(row))


def vars_of(row: Any) -> list[Any]:
    return [getattr(row, f) for f in row.__slots__]


# --------------------------------------------------------------------------- box truth inference


def _box_sets(ds: Dataset) -> list[str]:
    return [n for n, k in _region_sets(ds) if k == "box"]


def _submission_order(ds: Dataset, name: str) -> bool:
    """Whether the grouping lists the label set's items in the dataset's item order (it lists them
    in the order of their first submission; every converter's items come in that order)."""
    grouped = list(ds.grouped(name, source="human"))
    return [i for i in ds.items if i in set(grouped)] == grouped


def in_submission_order(ds: Dataset) -> Dataset:
    """``ds`` with its items in the order of their first submission (as a converter builds them)."""
    first = dict.fromkeys(s.item_id for s in ds.submissions if not s.was_cancelled and s.source == "human")
    items = {i: ds.items[i] for i in [*first, *ds.items] if i in ds.items}
    return Dataset(records=ds.records, items=items, submissions=ds.submissions, schema=ds.schema, name=ds.name)


def _check_truth(ds: Dataset, rng: np.random.Generator) -> int:
    cfg = ReportConfig()
    fitted = 0
    for name in _box_sets(ds):
        want = refs.box_truth_ref(ds, name, cfg)
        whole = box_judgments(ds.grouped(name, source="human"))
        section = BoxTruthSection(name)
        for runner in _runners(ds, rng):
            got = runner.run([section], _ctx(ds, cfg))[section.name]
            assert _as_json(got) == _as_json(want), name
            j = section.judgments(local_fold(section, _ctx(ds, cfg), runner.partitions), _ctx(ds, cfg))
            got_rows = list(zip(j.item_ids, j.annotator_ids, j.labels, j.boxes_xyxy.tolist(), strict=True))
            want_rows = list(zip(whole.item_ids, whole.annotator_ids, whole.labels, whole.boxes_xyxy.tolist(),
                                 strict=True))
            if _submission_order(ds, name):
                # the fit's inputs, exactly and in the same order (the EM's float sums follow it)
                assert (got_rows, j.views, j.n_rotated_skipped) == (want_rows, whole.views, whole.n_rotated_skipped)
            else:  # the same inputs, items in the dataset's order rather than their first submission's
                assert sorted(got_rows) == sorted(want_rows)
                assert sorted(zip(*j.views, strict=True)) == sorted(zip(*whole.views, strict=True))
        fitted += want is not None and "annotators" in want
    return fitted


@pytest.mark.parametrize("name", REAL)
def test_box_truth_of_real_exports_over_any_split_equals_the_whole_dataset_fit(name: str) -> None:
    ds = _load(name)
    # the premise of bit-for-bit equal fits: the grouping lists items in the dataset's order
    assert all(_submission_order(ds, ls) for ls in _box_sets(ds))
    _check_truth(ds, np.random.default_rng(sum(map(ord, name)) + 1))


def test_box_truth_fits_on_the_real_two_annotator_exports() -> None:
    fitted = sum(_check_truth(_load(n), np.random.default_rng(0)) for n in [*REAL[:3], "sample"])
    assert fitted >= 3  # not a comparison of two Nones


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_truth_of_a_random_dataset_over_any_split_equals_the_whole_dataset_fit(seed: int) -> None:
    ds = in_submission_order(random_dataset(seed, n_items=40))
    assert _submission_order(ds, "objects")
    assert _check_truth(ds, np.random.default_rng(seed)) == 1


def test_box_truth_figures_hold_when_items_are_not_in_submission_order() -> None:
    # records shuffled and a few submissions listed first: the grouping's item order is not the
    # dataset's, so the fit sums the same numbers in another order; the figures are still the same
    ds = random_dataset(8, n_items=40)
    assert not _submission_order(ds, "objects")
    assert _check_truth(ds, np.random.default_rng(8)) == 1


def test_dropping_a_partition_changes_the_box_truth() -> None:
    ds = random_dataset(2, n_items=40)
    cfg = ReportConfig()
    want = refs.box_truth_ref(ds, "objects", cfg)
    parts = split_items(ds, np.arange(len(ds.items)) % 4)
    got = Runner(tuple(parts[:3])).run([BoxTruthSection("objects")], _ctx(ds, cfg))["box_truth:objects"]
    assert got is not None
    assert want is not None
    assert _as_json(got) != _as_json(want)
    assert sum(a["n_boxes"] for a in got["annotators"]) < sum(a["n_boxes"] for a in want["annotators"])


def test_box_truth_state_pickles_and_keeps_no_records() -> None:
    ds = random_dataset(7, n_items=10)  # plain pickle: the state is arrays and tuples of strings
    section = BoxTruthSection("objects")
    ctx = _ctx(ds, ReportConfig())
    state = section.add(section.create(ctx), ds, ctx.for_workers())
    back = pickle.loads(pickle.dumps(state))
    assert _as_json(section.finish(back, ctx)) == _as_json(section.finish(state, ctx))
    assert not any(isinstance(v, Record) for p in state.parts for v in vars_of(p))


# --------------------------------------------------------------------------- the whole report


def _frozen_view(report: Any) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("make_frozen", FIXTURES / "frozen" / "make_frozen.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    view: dict[str, Any] = mod.frozen_view(report)
    return view


def _old_report(ds: Dataset, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> dict[str, Any]:
    """The report with the old whole-dataset functions in place of the sections."""
    with monkeypatch.context() as m:
        m.setattr(report_mod, "_region_consensus_blocks", lambda pending, consensus, *, runner, ctx:
                  refs.region_consensus_blocks_ref(ds, pending, consensus, ctx.config))
        m.setattr(report_mod, "_box_truth", lambda name, *, runner, ctx: refs.box_truth_ref(ds, name, ctx.config))
        return _frozen_view(build_report(ds, **kw))


@pytest.mark.parametrize("which", ["random", "sample"])
def test_the_report_over_any_split_equals_the_old_whole_dataset_report(which: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ds = random_dataset(11, n_items=12, odd_mask=False) if which == "random" else _load("sample")
    kw: dict[str, Any] = {"config": ReportConfig(n_bootstrap=20), "seed": 2, "checks": False}
    old = _old_report(ds, monkeypatch, **kw)
    assert _frozen_view(build_report(ds, **kw)) == old
    rng = np.random.default_rng(11)
    for parts in _splits(len(ds.items), rng)[1:]:
        pieces = split_items(ds, parts)
        runner = Runner(tuple(pieces[k] for k in rng.permutation(len(pieces))))
        assert _frozen_view(build_report(ds, runner=runner, **kw)) == old
    fused = [b for b in old["consensus"].values() if isinstance(b, dict) and "weights" in b]
    assert len(fused) >= (9 if which == "random" else 4)
    assert any(d["against"] == "consensus" for d in old["errors"]["discrepancies"])
