"""Region and text agreement as mergeable sections (core/report/regions.py, issue #16): on any
split of a dataset's items, folded in any order, the merged result equals the one-process
functions the report used before (``tests/report_refs_regions.py``, verbatim), figure for figure
(``==`` on the JSON, structured alpha and its sampled expected disagreement included), on seeded
random datasets, on real exports nobody here wrote, and through ``build_report`` itself."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_refs_regions import ref_region_agreement, ref_text_agreement

from accord.cmd_demo import load_sample
from accord.core.model import (
    REGION_KINDS,
    Box,
    Dataset,
    Item,
    Keypoint,
    Keypoints,
    Record,
    Segment,
    Span,
    Submission,
    TextValue,
)
from accord.core.qa import report as report_mod
from accord.core.qa.annotator_eval import annotators_vs_gold_coco, annotators_vs_gold_der
from accord.core.qa.cpwer import annotators_cpwer
from accord.core.qa.report import ReportConfig, build_report
from accord.core.report import regions
from accord.core.report.engine import Context, ItemOrder, Runner, split_items
from accord.core.report.regions import (
    EXPECTED_PAIRS,
    CpwerSection,
    GoldCocoSection,
    GoldDerSection,
    RegionAgreementSection,
    RegionState,
    TextAgreementSection,
    UnitsNeeded,
    grouping_order,
)
from accord.io import load_dataset

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DATUMARO = FIXTURES / "third_party" / "datumaro"
CONVERTER = FIXTURES / "third_party" / "label_studio_converter"
CFG = ReportConfig()


# --------------------------------------------------------------------------- data


def random_dataset(seed: int, *, n_items: int | None = None, shuffle_submissions: bool = True) -> Dataset:
    """Seeded items with boxes, spans, diarized segments, keypoints and transcripts by 1-4
    annotators; empty passes (an annotator who drew nothing), cancelled passes, records
    interleaved across items, and submissions listed in an order unlike the items' (so the
    label sets' grouping order differs from the dataset's item order)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 40)) if n_items is None else n_items
    ids = [f"it-{j}" for j in rng.choice(10_000, size=n, replace=False).tolist()]
    items = {i: Item(item_id=i) for i in ids}
    records: list[Record] = []
    subs: list[Submission] = []
    words = ["yes", "no", "maybe", "the", "cat", "sat"]
    for i in ids:
        base = rng.uniform(0, 100, size=(4, 2))
        if rng.random() < 0.35:  # a gold item: reference boxes and speaker turns (some with text)
            subs.append(Submission(item_id=i, annotator_id="gold", source="reference"))
            for k in range(int(rng.integers(0, 3))):
                records.append(Record(item_id=i, annotator_id="gold", label_set="det", source="reference",
                                      value=Box(label="car", x=float(base[k, 0]), y=float(base[k, 1]),
                                                width=12.0, height=12.0)))
            for k in range(int(rng.integers(0, 3))):
                records.append(Record(item_id=i, annotator_id="gold", label_set="turns", source="reference",
                                      value=Segment(start=2.0 * k, end=2.0 * k + 1.5, label="speech",
                                                    speaker=str(rng.choice(["A", "B"])),
                                                    text=None if rng.random() < 0.3 else "yes the cat")))
        for a in range(int(rng.integers(1, 5))):
            ann = f"ann{a}"
            cancelled = rng.random() < 0.08
            subs.append(Submission(item_id=i, annotator_id=ann, was_cancelled=cancelled, annotation_id=f"{i}/{ann}"))
            if cancelled:
                continue
            for k in range(int(rng.integers(0, 4))):  # boxes near shared objects, some far, labels may differ
                x, y = base[k] + rng.normal(0, 4 if rng.random() < 0.8 else 40, size=2)
                records.append(Record(item_id=i, annotator_id=ann, label_set="det", annotation_id=f"{i}/{ann}",
                                      value=Box(label=str(rng.choice(["car", "person"], p=[0.7, 0.3])),
                                                x=float(x), y=float(y), width=float(rng.uniform(5, 20)),
                                                height=float(rng.uniform(5, 20)))))
            for _ in range(int(rng.integers(0, 3))):
                s = int(rng.integers(0, 40))
                records.append(Record(item_id=i, annotator_id=ann, label_set="ner", annotation_id=f"{i}/{ann}",
                                      value=Span(label=str(rng.choice(["PER", "ORG"])), start=s,
                                                 end=s + int(rng.integers(1, 8)))))
            for _ in range(int(rng.integers(0, 3))):
                s = float(rng.uniform(0, 10))
                records.append(Record(item_id=i, annotator_id=ann, label_set="turns", annotation_id=f"{i}/{ann}",
                                      value=Segment(start=s, end=s + float(rng.uniform(0.5, 3)), label="speech",
                                                    speaker=str(rng.choice(["A", "B"])),
                                                    text=" ".join(rng.choice(words, size=3).tolist()))))
            if rng.random() < 0.5:
                records.append(Record(item_id=i, annotator_id=ann, label_set="pose", annotation_id=f"{i}/{ann}",
                                      value=Keypoints(label="person", points=tuple(
                                          Keypoint(name=p, x=float(base[0, 0] + rng.normal(0, 3)),
                                                   y=float(base[0, 1] + rng.normal(0, 3)))
                                          for p in ("nose", "left_eye")))))
            if rng.random() < 0.8:
                records.append(Record(item_id=i, annotator_id=ann, label_set="transcript", annotation_id=f"{i}/{ann}",
                                      value=TextValue(text=" ".join(rng.choice(words, size=int(rng.integers(0, 6)))
                                                                    .tolist()))))
    order = rng.permutation(len(records))  # records interleaved across items
    sub_order = rng.permutation(len(subs)) if shuffle_submissions else np.arange(len(subs))
    return Dataset(records=tuple(records[k] for k in order.tolist()), items=items,
                   submissions=tuple(subs[k] for k in sub_order.tolist()), name=f"random-{seed}")


def _frozen(name: str) -> Dataset:
    return load_dataset([FIXTURES / "frozen" / f"{name}.json"],
                        label_config=FIXTURES / "frozen" / f"{name}.label_config.xml")


REAL: dict[str, Callable[[], Dataset]] = {
    # the frozen seeded boxes export (40 items, 3 annotators: structured alpha's sampled D_e)
    "boxes": lambda: _frozen("boxes"),
    # CVAT's own exports: images (boxes, polygons, polylines, points, masks, skeletons), video tracks
    "cvat_images": lambda: load_dataset([FIXTURES / "cvat" / "images_train.xml"]),
    "cvat_video": lambda: load_dataset([FIXTURES / "cvat" / "video_alice.xml", FIXTURES / "cvat" / "video_bob.xml"]),
    "cvat_video_annotations": lambda: load_dataset([FIXTURES / "cvat" / "video_annotations.xml"]),
    # Datumaro's CVAT test exports
    "datumaro_project": lambda: load_dataset([DATUMARO / "export_project_annotations.xml"]),
    "datumaro_task": lambda: load_dataset([DATUMARO / "export_task_train.xml"]),
    # Label Studio exports (boxes), and the converter's polygon test data with its config
    "ls_bbox": lambda: load_dataset([FIXTURES / "label_studio" / "export_as_json_bbox.json"]),
    "ls_snapshot": lambda: load_dataset([FIXTURES / "label_studio" / "export_snapshot_full.json"]),
    "ls_yolo_polygons": lambda: load_dataset(
        [CONVERTER / "test_export_yolo_data_polygons.json"],
        label_config=CONVERTER / "test_export_yolo_label_config_polygons.xml"),
    # the bundled sample (boxes, spans, diarized segments with transcripts, text; gold items)
    "sample": load_sample,
    # COCO ground truth (one source: agreement undefined, the note path)
    "coco": lambda: load_dataset([FIXTURES / "coco" / "instances_default.json"]),
}


def _sections(ds: Dataset) -> list[tuple[str, Any, Callable[[], tuple[dict[str, Any], dict[str, float]]]]]:
    """``(label set, section, the reference result)`` for every region and text label set."""
    out: list[tuple[str, Any, Callable[[], tuple[dict[str, Any], dict[str, float]]]]] = []
    for name in ds.label_sets:
        kind = ds.outline().kind_of(name)
        if kind in REGION_KINDS:
            out.append((name, RegionAgreementSection(name, kind),
                        lambda name=name: ref_region_agreement(ds, name, CFG, 3)[:2]))
        elif kind == "text":
            out.append((name, TextAgreementSection(name), lambda name=name: ref_text_agreement(ds, name, CFG)))
    return out


def as_json(result: tuple[dict[str, Any], dict[str, float]]) -> str:
    """The result as the report writes it, item scores in their order (json keeps dict order)."""
    return json.dumps([result[0], list(result[1].items())])


def splits(ds: Dataset, rng: np.random.Generator) -> list[list[Dataset]]:
    """One partition; 3 and 7 random parts (some empty); every item alone; each in random order."""
    n = len(ds.items)
    out = []
    for parts in (np.zeros(n, np.int64), rng.integers(0, 3, n), rng.integers(0, 7, n) * (rng.random(n) < 0.6),
                  np.arange(n)):
        pieces = split_items(ds, parts, n_parts=max(int(parts.max(initial=0)) + 1, 7 if n else 1))
        out.append([pieces[k] for k in rng.permutation(len(pieces)).tolist()])
    return out


def run(section: Any, ds: Dataset, parts: Sequence[Dataset], *, seed: int = 3,
        order: ItemOrder | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    ctx = Context(config=CFG, seed=seed, schema=ds.schema,
                  order=order if order is not None else grouping_order(ds, section.label_set))
    result: tuple[dict[str, Any], dict[str, float]] = Runner(tuple(parts)).run([section], ctx)[section.name]
    return result


# --------------------------------------------------------------------------- equal to the one-process functions


@pytest.mark.parametrize("seed", range(8))
def test_random_datasets_any_split(seed: int) -> None:
    ds = random_dataset(seed)
    rng = np.random.default_rng(seed)
    seen = _sections(ds)
    assert {s.label_set for _, s, _ in seen} >= ({"det", "ner", "turns", "transcript"} if len(ds.items) > 3 else set())
    for _name, section, ref in seen:
        want = as_json(ref())
        for parts in splits(ds, rng):
            assert as_json(run(section, ds, parts)) == want


def test_sampled_expected_disagreement_on_a_large_random_dataset() -> None:
    """Enough annotations that structured alpha samples its 3000 cross-item pairs: pass 2 names at
    most 6000 annotations, and the figure still equals the one-process one on every split."""
    ds = random_dataset(101, n_items=120)
    section = RegionAgreementSection("det", "box")
    want = ref_region_agreement(ds, "det", CFG, 3)
    rng = np.random.default_rng(5)
    for parts in splits(ds, rng)[1:]:
        assert as_json(run(section, ds, parts)) == as_json(want[:2])
    ctx = Context(config=CFG, seed=3, schema=ds.schema, order=grouping_order(ds, "det"))
    layout = section.add(section.create(ctx), ds, ctx)
    assert not layout.values  # pass 1 is the layout alone
    assert not layout.dists.size
    needed = section.next_params(layout, ctx)
    assert needed is not None
    n_annotations = int(layout.sizes.sum())
    assert n_annotations * (n_annotations - 1) // 2 > EXPECTED_PAIRS  # the sampled case
    assert 0 < len(needed.units) <= 2 * EXPECTED_PAIRS
    assert want[0]["coefficients"]["structured_alpha"]["estimate"] is not None


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_exports(name: str) -> None:
    ds = REAL[name]()
    rng = np.random.default_rng(sum(map(ord, name)))
    seen = _sections(ds)
    assert seen, f"{name}: no region or text label set"
    for _ls, section, ref in seen:
        want = as_json(ref())
        for parts in splits(ds, rng):
            assert as_json(run(section, ds, parts)) == want


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_parts=st.integers(1, 6), data=st.data())
def test_hypothesis_any_partition(seed: int, n_parts: int, data: st.DataObject) -> None:
    ds = random_dataset(seed, n_items=int(np.random.default_rng(seed).integers(0, 14)))
    parts = data.draw(st.lists(st.integers(0, n_parts - 1), min_size=len(ds.items), max_size=len(ds.items)))
    pieces = split_items(ds, np.asarray(parts, dtype=np.int64), n_parts=n_parts)
    for _ls, section, ref in _sections(ds):
        assert as_json(run(section, ds, pieces[::-1])) == as_json(ref())


# --------------------------------------------------------------------------- against gold; cpWER


def _gold_cases(ds: Dataset) -> list[tuple[Any, Any]]:
    """``(section, reference result)`` of COCO rows (box / mask sets), DER rows and cpWER (segment sets)."""
    out: list[tuple[Any, Any]] = []
    for name in ds.label_sets:
        kind = ds.outline().kind_of(name)
        if kind in ("box", "mask"):
            out.append((GoldCocoSection(name), annotators_vs_gold_coco(ds, name)))
        if kind == "segment":
            out.append((GoldDerSection(name), annotators_vs_gold_der(ds, name)))
            out.append((CpwerSection(name), annotators_cpwer(ds, name)))
    return out


@pytest.mark.parametrize("name", ["sample", "boxes", "random-1", "random-2", "random-9", "cvat_images"])
def test_gold_rows_and_cpwer_any_split(name: str) -> None:
    ds = REAL[name]() if name in REAL else random_dataset(int(name.split("-")[1]), n_items=30)
    rng = np.random.default_rng(sum(map(ord, name)))
    cases = _gold_cases(ds)
    assert cases
    for section, want in cases:
        for parts in splits(ds, rng):
            ctx = Context(config=CFG, seed=3, schema=ds.schema)
            assert json.dumps(Runner(tuple(parts)).run([section], ctx)[section.name]) == json.dumps(want)
    if name in ("sample", "random-1"):  # the rows are not empty: the comparison can fail
        assert any(want for _, want in cases)


def test_cpwer_between_annotators_without_gold() -> None:
    ds = random_dataset(5, n_items=20)
    ds = Dataset(records=tuple(r for r in ds.records if r.source != "reference"), items=ds.items,
                 submissions=tuple(s for s in ds.submissions if s.source != "reference"))
    want = annotators_cpwer(ds, "turns")
    assert want is not None
    assert want["against"] == "each other"
    assert want["rows"]
    section = CpwerSection("turns")
    for parts in splits(ds, np.random.default_rng(1)):
        got = Runner(tuple(parts)).run([section], Context(config=CFG, seed=3, schema=ds.schema))[section.name]
        assert json.dumps(got) == json.dumps(want)
    pieces = split_items(ds, np.arange(len(ds.items)) % 2)  # control: half the items, other counts
    half = Runner((pieces[0],)).run([section], Context(config=CFG, seed=3, schema=ds.schema))[section.name]
    assert json.dumps(half) != json.dumps(want)


# --------------------------------------------------------------------------- the whole report


@pytest.mark.parametrize("seed", [0, 4])
def test_build_report_over_a_split_equals_the_whole(seed: int) -> None:
    ds = random_dataset(seed, n_items=30)
    rng = np.random.default_rng(seed)

    def report(runner: Runner | None) -> str:
        # checks=False: audio.gap_overlap's evidence (gap_s) moves in its last bits with the split
        # (core/checks/audio.py's group-offset running max depends on the partition's bounds), not ours
        r = json.loads(json.dumps(build_report(ds, seed=3, runner=runner, checks=False)))
        r.pop("generated_at")
        return json.dumps(r)

    whole = report(None)
    for parts in splits(ds, rng)[1:]:
        assert report(Runner(tuple(parts))) == whole
    agreement = json.loads(whole)["agreement"]
    assert {"det", "ner", "turns", "pose", "transcript"} <= set(agreement)
    assert agreement["det"]["coefficients"]["structured_alpha"]["estimate"] is not None


def test_build_report_gives_the_reference_blocks() -> None:
    """build_report's agreement blocks and item scores are the reference functions' output."""
    ds = random_dataset(7, n_items=25)
    r = build_report(ds, seed=3)
    for name, _section, ref in _sections(ds):
        block, scores = ref()
        got = {k: v for k, v in r["agreement"][name].items() if k != "cpwer"}
        assert json.dumps(got) == json.dumps(block)
        assert r["item_scores"][name] == {i: report_mod._f(v) for i, v in sorted(scores.items())}


# --------------------------------------------------------------------------- controls: the tests can fail


def test_dropping_a_partition_changes_the_result() -> None:
    ds = random_dataset(3, n_items=30)
    section = RegionAgreementSection("det", "box")
    pieces = split_items(ds, np.arange(len(ds.items)) % 3)
    whole = as_json(run(section, ds, pieces))
    assert as_json(run(section, ds, pieces[:2])) != whole
    text = TextAgreementSection("transcript")
    assert as_json(run(text, ds, pieces[1:])) != as_json(run(text, ds, pieces))


def test_the_grouping_order_matters() -> None:
    """Finishing in the dataset's item order instead of the grouping's (the submissions' order)
    changes structured alpha: the order restored by finish is the one the figures need."""
    ds = random_dataset(11, n_items=60)
    assert list(grouping_order(ds, "det").ids) != [i for i in ds.items if i in grouping_order(ds, "det").rank()]
    section = RegionAgreementSection("det", "box")
    want = ref_region_agreement(ds, "det", CFG, 3)[0]["coefficients"]["structured_alpha"]
    by_items = run(section, ds, [ds], order=ItemOrder(ds.items))[0]["coefficients"]["structured_alpha"]
    assert by_items != want
    assert run(section, ds, [ds])[0]["coefficients"]["structured_alpha"] == want


def test_a_wrong_sample_changes_alpha() -> None:
    """Structured alpha's D_e really is computed from pass 2's values: a different seed for the
    sampler alone (the layout replayed with another seed) moves the figure."""
    ds = _frozen("boxes")
    section = RegionAgreementSection("objects", "box")
    want = ref_region_agreement(ds, "objects", CFG, 3)[0]["coefficients"]["structured_alpha"]
    assert run(section, ds, [ds], seed=3)[0]["coefficients"]["structured_alpha"] == want
    assert run(section, ds, [ds], seed=4)[0]["coefficients"]["structured_alpha"] != want


# --------------------------------------------------------------------------- plain data


def test_states_pickle_and_merge_is_associative() -> None:
    ds = random_dataset(2, n_items=24)
    section = RegionAgreementSection("det", "box")
    ctx = Context(config=CFG, seed=3, schema=ds.schema, order=grouping_order(ds, "det"))
    layout = section.add(section.create(ctx), ds, ctx)
    p2 = Context(config=CFG, seed=3, schema=ds.schema, params=section.next_params(layout, ctx))
    a, b, c = (section.add(section.create(p2), part, p2.for_workers()) for part in split_items(ds, np.arange(24) % 3))
    left = section.merge(section.merge(a, b), c)
    right = pickle.loads(pickle.dumps(section.merge(a, section.merge(b, c))))
    assert isinstance(right, RegionState)
    fin = Context(config=CFG, seed=3, schema=ds.schema, order=ctx.order, params=p2.params)
    assert as_json(section.finish(left, fin)) == as_json(section.finish(right, fin))
    assert as_json(section.finish(left, fin)) == as_json(ref_region_agreement(ds, "det", CFG, 3)[:2])
    assert isinstance(p2.params, UnitsNeeded)
    assert pickle.loads(pickle.dumps(section)).name == "regions:det"


def test_the_report_constant_is_the_sections() -> None:
    assert report_mod._EXPECTED_PAIRS == regions.EXPECTED_PAIRS


# --------------------------------------------------------------------------- on Dask workers


@pytest.mark.integration
def test_dask_folds_the_region_text_and_gold_sections_on_workers() -> None:
    """``accord report --dask``: the bundled sample's four exports (boxes, spans, diarized
    transcripts as segments and text, gold items) on a LocalCluster of 2 worker processes; the
    sections (both passes of structured alpha, cpWER's two) fold there and the report equals the
    single-process one."""
    pytest.importorskip("distributed")
    from test_cluster import SAMPLE, SEED, _assert_same, local_cluster

    from accord.cluster.report import cluster_report

    inputs = sorted(SAMPLE.glob("*.json"))
    clients = local_cluster()
    client = next(clients)
    try:
        report, dataset, run = cluster_report(client, inputs, seed=SEED)
    finally:
        next(clients, None)
    kinds = {name: dataset.outline().kind_of(name) for name in dataset.label_sets}
    expected = {f"regions:{n}" for n, k in kinds.items() if k in REGION_KINDS}
    expected |= {f"text:{n}" for n, k in kinds.items() if k == "text"}
    expected |= {f"cpwer:{n}" for n, k in kinds.items() if k == "segment"}
    assert expected >= {"regions:objects", "regions:entities", "text:transcript"}
    assert expected <= set(run.sections)
    assert "gold_coco:objects" in run.sections
    _assert_same(report, build_report(load_dataset(inputs), seed=SEED))
