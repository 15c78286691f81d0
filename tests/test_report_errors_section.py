"""Label errors, model vs human, attributes and tracks as mergeable sections (issue #16).

Each section folded over any split of the items (one part, 3 and 7 random parts with empty ones,
every item alone, partitions in random order, each partial state pickled as a Dask worker sends
it) must give exactly what the one-process functions gave before the change (kept verbatim in
``tests/report_refs_errors.py``): ``==`` on the JSON text (values and key order), and the same
discrepancy list. The data: real exports nobody here wrote or that the project checked in
(the bundled sample: consensus labels and two models; CVAT's video export by alice and bob:
tracks, an identity switch, missed frames, attributes; a Label Studio 1.23 snapshot export and
label-studio-converter's CSV test export, both with box predictions), and seeded random datasets
holding every path (classes with and without scores, given probabilities, boxes with text,
numeric and boolean attributes and gold, masks (COCO ``segm``), spans, tracks with gold, a label
set outside the schema, keypoints without a sigma and a non-span value in a span label set).
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from report_refs_errors import (
    ref_attribute_agreement,
    ref_attribute_and_track_sections,
    ref_label_errors,
    ref_model_vs_human,
    ref_track_agreement,
)

from accord.core.model import (
    Box,
    Classification,
    Dataset,
    Item,
    Keypoint,
    Keypoints,
    Mask,
    Record,
    Span,
    Track,
    TrackFrame,
)
from accord.core.qa.report import ReportConfig, _region_matcher, build_report
from accord.core.qa.taxonomy import Discrepancy
from accord.core.report import label_errors as le_mod
from accord.core.report.attributes import AttributeScopeSection, AttributesSection, TracksSection
from accord.core.report.engine import Context, ItemOrder, Runner, split_items
from accord.core.report.label_errors import LabelErrorInputs, LabelErrorsSection
from accord.core.report.model_eval import ModelKindsSection, ModelVsHumanInputs, ModelVsHumanSection
from accord.core.rle import encode
from accord.core.schema import AttributeSpec, LabelSet, Schema

FIXTURES = Path(__file__).resolve().parent / "fixtures"


# --------------------------------------------------------------------------- data


def _load(paths: Sequence[Path], config: Path | None = None) -> Dataset:
    from accord.io import load_dataset

    return load_dataset(list(paths), label_config=config)


def _sample() -> Dataset:
    from accord.cmd_demo import load_sample

    return load_sample()


REAL: dict[str, Callable[[], Dataset]] = {
    "sample": _sample,
    "cvat-video": lambda: _load([FIXTURES / "cvat" / "video_alice.xml", FIXTURES / "cvat" / "video_bob.xml"]),
    # a real Label Studio 1.23 snapshot export (full prediction objects: a model's boxes)
    "ls-snapshot": lambda: _load([FIXTURES / "label_studio" / "export_snapshot_full.json"]),
    # label-studio-converter's test export (reviews, predictions without image sizes)
    "lsc-csv": lambda: _load([FIXTURES / "third_party" / "label_studio_converter" / "test_export_csv_csv_test.json"]),
}


def _mask(rng: random.Random, label: str) -> Mask:
    m = np.zeros((8, 8), dtype=bool)
    x, y = rng.randint(0, 4), rng.randint(0, 4)
    m[y:y + rng.randint(2, 4), x:x + rng.randint(2, 4)] = True
    return Mask(label=label, height=8, width=8, counts=encode(m))


def _track(rng: random.Random, tid: str, x0: float, gaps: bool) -> Track:
    frames = [TrackFrame(frame=f, x=x0 + 5 * f + rng.uniform(-1, 1), y=20.0, width=30.0, height=30.0,
                         outside=gaps and rng.random() < 0.2) for f in range(8)]
    return Track(label=rng.choice(["car", "car", "person"]), track_id=tid, frames=tuple(frames))


def synthetic(seed: int, n: int = 30, *, broken: bool = False) -> Dataset:
    """A seeded dataset holding every path of the four sections (see the module docstring).

    ``broken`` adds the label sets whose comparisons fail (keypoints without a sigma, a box in a
    span label set): the sections report them under ``undefined``; ``build_report``'s region
    agreement refuses such keypoints, so the whole-report test leaves them out.
    """
    rng = random.Random(seed)
    humans = ["ann1", "ann2", "ann3"]
    items = [f"it{k:02d}" for k in range(n)]
    rng.shuffle(items)  # the dataset's item order is not the sorted order
    recs: list[Record] = []

    def add(item: str, who: str, ls: str, value: Any, source: str = "human", **kw: Any) -> None:
        recs.append(Record(item_id=item, annotator_id=who, label_set=ls, value=value, source=source,  # type: ignore[arg-type]
                           **kw))

    for item in items:
        who = rng.sample(humans, rng.randint(1, 3))
        truth = rng.choice("abc")
        for h in who:
            add(item, h, "rare", Classification(label=rng.choice("pq")))
        if item == items[0]:  # one scored model prediction: too few items to learn label errors from
            add(item, "model:m1", "rare", Classification(label="p"), source="model", score=0.8)
        for h in who:
            add(item, h, "cls", Classification(label=truth if rng.random() < 0.7 else rng.choice("abc")))
            add(item, h, "free", Classification(label=rng.choice("xy")))
        for m in ("model:m1", "model:m2"):
            for _ in range(rng.choice([0, 1, 1, 2])):
                add(item, m, "cls", Classification(label=truth if rng.random() < 0.6 else rng.choice("abc")),
                    source="model", score=rng.choice([None, rng.random(), rng.random(), 1.0, 0.0, 1.5]))
            if rng.random() < 0.7:
                add(item, m, "free", Classification(label=rng.choice("xy")), source="model", score=rng.random())
        gold = rng.random() < 0.3
        for k in range(rng.randint(0, 3)):
            x, y = rng.uniform(0, 200), rng.uniform(0, 200)
            label = rng.choice(["car", "bus"])
            sides = [(h, "human") for h in who] + ([("gold", "reference")] if gold else [])
            for h, src in sides:
                if rng.random() < 0.15:
                    continue
                attrs: dict[str, Any] = {"source": "manual"}
                if rng.random() < 0.9:
                    attrs["colour"] = rng.choice(["red", "rad", "blue", ""]) + "x" * rng.randint(0, 6)
                if rng.random() < 0.8:
                    attrs["n"] = rng.choice([1, 2, 2.0, 3.5, round(rng.uniform(0, 9), 3)])
                if rng.random() < 0.7:
                    attrs["occluded"] = rng.random() < 0.5
                add(item, h, "boxes", Box(label=label if rng.random() < 0.9 else "bus", x=x + rng.uniform(-3, 3),
                                          y=y + rng.uniform(-3, 3), width=40, height=30),
                    source=src, region_id=f"{item}-{h}-{k}", attributes=attrs)
            if rng.random() < 0.8:
                add(item, "model:det", "boxes", Box(label=label, x=x + rng.uniform(-6, 6), y=y, width=40, height=30),
                    source="model", score=round(rng.random(), 1), region_id=f"{item}-m-{k}")  # tied scores
        # a box label set outside the schema; the model draws on a third of the items only
        for h in [*who, *(["model:free"] if rng.random() < 0.35 else [])]:
            add(item, h, "free_boxes", Box(label="thing", x=rng.uniform(0, 5), y=0, width=10, height=10),
                source="model" if h.startswith("model") else "human", score=0.5 if h.startswith("model") else None)
        for h in [*who[:2], "model:seg"]:
            is_model = h.startswith("model")
            add(item, h, "seg", _mask(rng, rng.choice(["road", "sky"])), source="model" if is_model else "human",
                score=rng.random() if is_model else None)
        for h in [*who, "model:ner"]:
            for _ in range(rng.randint(0, 2)):
                s = rng.randint(0, 20)
                add(item, h, "ner", Span(label=rng.choice(["PER", "LOC"]), start=s, end=s + rng.randint(1, 5)),
                    source="model" if h.startswith("model") else "human")
        if rng.random() < 0.6:
            track_sides = [(h, "human") for h in who[:2]] + ([("gold", "reference")] if rng.random() < 0.3 else [])
            for h, src in track_sides:
                for t in range(2):
                    add(item, h, "trk", _track(rng, f"{h}{t}", 10.0 + 120 * t, gaps=h != "gold"), source=src,
                        region_id=f"{item}-{h}-t{t}")
        if broken:
            for h in [who[0], "model:kp"]:
                add(item, h, "kp", Keypoints(label="hand", points=(
                    Keypoint(name=rng.choice(["thumb", "index", "pinky"]), x=rng.uniform(0, 9), y=1.0),)),
                    source="model" if h.startswith("model") else "human")
            for h in [who[0], "model:bad"]:
                value: Any = Span(label="PER", start=0, end=3)
                if h.startswith("model") and rng.random() < 0.3:
                    value = Box(label="PER", x=0, y=0, width=1, height=1)
                add(item, h, "ner_bad", value, source="model" if h.startswith("model") else "human")
    sets = [
        LabelSet(name="cls", kind="classification", labels=("a", "b", "c", "d")),
        LabelSet(name="rare", kind="classification", labels=("p", "q")),
        LabelSet(name="boxes", kind="box", labels=("car", "bus"),
                 attributes=MappingProxyType({"car": (AttributeSpec(name="colour", input_type="text"),)})),
        LabelSet(name="seg", kind="mask", labels=("road", "sky")),
        LabelSet(name="ner", kind="span", labels=("PER", "LOC")),
        LabelSet(name="trk", kind="track", labels=("car", "person")),
    ]
    if broken:
        sets += [LabelSet(name="kp", kind="keypoints", labels=("hand",)),
                 LabelSet(name="ner_bad", kind="span", labels=("PER",))]
    schema = Schema(label_sets=MappingProxyType({s.name: s for s in sets}))
    return Dataset(records=tuple(recs), schema=schema, items={i: Item(item_id=i) for i in items},
                   name=f"synthetic-{seed}")


# --------------------------------------------------------------------------- folding


def pickling_fold(section: Any, ctx: Context, partitions: Sequence[Any]) -> Any:
    """Fold as a Dask run does: ``add`` on a context without the order, each state pickled."""
    wctx = ctx.for_workers()
    state = section.create(ctx)
    for part in partitions:
        local = pickle.loads(pickle.dumps(section.add(section.create(wctx), part, wctx)))
        state = section.merge(state, local)
    return state


def splits(ds: Dataset, rng: random.Random) -> Iterator[list[Dataset]]:
    n = len(ds.items)
    yield [ds]
    for k in (3, 7):
        parts = split_items(ds, [rng.randrange(k) for _ in range(n)], k)  # some parts may be empty
        rng.shuffle(parts)
        yield parts
    alone = split_items(ds, list(range(n)), n + 1)  # every item alone, plus an empty part
    rng.shuffle(alone)
    yield alone


def _inputs(ds: Dataset, pred_probs: Any = None, *, default_sigma: bool = True
            ) -> tuple[ReportConfig, LabelErrorInputs, ModelVsHumanInputs]:
    """The inputs ``build_report`` gives the sections (the consensus labels), recorded by a spy;
    without ``default_sigma``, keypoints with a name COCO gives no sigma cannot be matched."""
    seen: dict[str, Any] = {}
    real = le_mod.LabelErrorsSection

    class Spy(real):  # type: ignore[misc, valid-type]
        def finish(self, state: Any, ctx: Any) -> Any:
            seen["inputs"] = ctx.options[self.name]
            return super().finish(state, ctx)

    le_mod.LabelErrorsSection = Spy  # type: ignore[misc]
    try:
        build_report(ds, seed=3, checks=False, pred_probs=pred_probs)
    finally:
        le_mod.LabelErrorsSection = real  # type: ignore[misc]
    cfg = ReportConfig()
    inputs: LabelErrorInputs = seen["inputs"]
    mvh = ModelVsHumanInputs(consensus=inputs.class_labels, iou_threshold=cfg.iou_threshold,
                             options={"sigmas": dict(cfg.keypoint_sigmas),
                                      "default_sigma": cfg.default_keypoint_sigma if default_sigma else None})
    return cfg, inputs, mvh


def _sections(ds: Dataset, parts: Sequence[Dataset], cfg: ReportConfig, le: LabelErrorInputs,
              mvh: ModelVsHumanInputs) -> dict[str, Any]:
    ctx = Context(config=cfg, seed=3, schema=ds.schema, order=ItemOrder(ds.items))
    runner = Runner(tuple(parts), fold=pickling_fold)
    got = runner.run([LabelErrorsSection(), ModelKindsSection(ds.label_sets), ModelVsHumanSection()],
                     replace(ctx, options={"label_errors": le, "model_vs_human": mvh}))
    rest = runner.run([TracksSection(ds.label_sets), AttributeScopeSection(ds.label_sets), AttributesSection()], ctx)
    tracks, found = rest["tracks"]
    attributes = rest["attributes"]
    extra = {**({"attributes": attributes} if attributes else {}), **({"tracks": tracks} if tracks else {})}
    return {"label_errors": got["label_errors"], "model_vs_human": got["model_vs_human"], "extra": extra,
            "discrepancies": found}


def _old(ds: Dataset, cfg: ReportConfig, le: LabelErrorInputs, mvh: ModelVsHumanInputs) -> dict[str, Any]:
    found: list[Discrepancy] = []
    extra = ref_attribute_and_track_sections(ds, cfg, found)
    return {"label_errors": ref_label_errors(ds, le.class_labels, le.pred_probs),
            "model_vs_human": ref_model_vs_human(ds, consensus=mvh.consensus, iou_threshold=mvh.iou_threshold,
                                                 options=mvh.options),
            "extra": extra, "discrepancies": found}


def _text(out: dict[str, Any]) -> str:
    """The JSON text of the figures (key order included) and of the discrepancies."""
    assert all(isinstance(d.evidence, MappingProxyType) for d in out["discrepancies"])
    view = {**out, "discrepancies": [d.to_dict() for d in out["discrepancies"]]}
    return json.dumps(view, allow_nan=True)


def _given_probs(ds: Dataset, name: str, classes: Sequence[str], seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """Seeded out-of-sample-like probabilities over the items of ``name`` (some items left out)."""
    rng = np.random.default_rng(seed)
    items = sorted({r.item_id for r in ds.select(label_set=name)})
    return {name: {i: dict(zip(classes, rng.dirichlet(np.ones(len(classes))).tolist(), strict=True))
                   for i in items if rng.random() < 0.9}}


# --------------------------------------------------------------------------- tests


def _check(ds: Dataset, seed: int, pred_probs: Any = None, *, default_sigma: bool = True) -> dict[str, Any]:
    cfg, le, mvh = _inputs(ds, pred_probs, default_sigma=default_sigma)
    want = _text(_old(ds, cfg, le, mvh))
    rng = random.Random(seed)
    for parts in splits(ds, rng):
        assert _text(_sections(ds, parts, cfg, le, mvh)) == want
    out: dict[str, Any] = json.loads(want)
    return out


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_exports_over_any_split_equal_the_old_functions(name: str) -> None:
    out = _check(REAL[name](), seed=len(name))
    # what each export exercises (so the equality above is not about empty sections)
    exercised = {"sample": ("label_errors", "model_vs_human"), "cvat-video": ("extra", "discrepancies"),
                 "ls-snapshot": ("model_vs_human",), "lsc-csv": ("model_vs_human",)}
    for key in exercised[name]:
        assert out[key], key


def test_given_probabilities_on_the_sample() -> None:
    ds = _sample()
    out = _check(ds, seed=5, pred_probs=_given_probs(ds, "sentiment", ["negative", "neutral", "positive"], 5))
    assert out["label_errors"]["sentiment"]["probabilities"] == "model probabilities (given)"
    assert out["label_errors"]["sentiment"]["n_issues"] > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seeded_datasets_over_any_split_equal_the_old_functions(seed: int) -> None:
    ds = synthetic(seed, broken=True)
    out = _check(ds, seed=seed, pred_probs=_given_probs(ds, "cls", ["a", "b", "c"], seed) if seed == 1 else None,
                 default_sigma=False)
    mvh = out["model_vs_human"]
    assert set(mvh) >= {"cls", "free", "boxes", "seg", "ner", "kp", "ner_bad"}
    assert mvh["seg"]["models"]["model:seg"]["coco"] is not None  # COCO segm over the masks
    assert mvh["boxes"]["models"]["model:det"]["coco"] is not None
    assert "undefined" in mvh["kp"]
    assert "undefined" in mvh["ner_bad"]
    assert mvh["free"]["kind"] == "classification"  # label sets outside the schema
    assert mvh["free_boxes"]["kind"] == "box"
    assert out["extra"]["attributes"]["label_sets"]["boxes"]["n_mismatches"] > 0
    assert out["extra"]["tracks"]["label_sets"]["trk"]["pairs"]
    assert out["label_errors"]["cls"]["n_items"] > 0
    if seed != 1:  # without given probabilities: the one scored prediction is noted, not learnt from
        assert "note" in out["label_errors"]["rare"]
    assert out["discrepancies"]


def test_a_lost_partition_changes_every_section() -> None:
    """The equalities above can fail: fold all partitions but one and each section's figures move."""
    ds = synthetic(0)
    cfg, le, mvh = _inputs(ds)
    parts = split_items(ds, [k % 3 for k in range(len(ds.items))])
    whole = _sections(ds, parts, cfg, le, mvh)
    lost = _sections(ds, parts[1:], cfg, le, mvh)
    for key in ("label_errors", "model_vs_human", "extra"):
        assert json.dumps(lost[key]) != json.dumps(whole[key]), key
    assert len(lost["discrepancies"]) < len(whole["discrepancies"])


@pytest.mark.parametrize("make", [lambda: synthetic(4), REAL["cvat-video"], REAL["ls-snapshot"]],
                         ids=["synthetic", "cvat-video", "ls-snapshot"])
def test_the_whole_report_over_any_split_equals_the_whole(make: Callable[[], Dataset]) -> None:
    spec = importlib.util.spec_from_file_location("make_frozen", FIXTURES / "frozen" / "make_frozen.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ds = make()
    whole = mod.frozen_view(build_report(ds, seed=3, cost_items=20_000))
    rng = random.Random(7)
    for parts in list(splits(ds, rng))[1:]:
        got = mod.frozen_view(build_report(ds, seed=3, cost_items=20_000, runner=Runner(tuple(parts))))
        assert got == whole


@pytest.mark.parametrize("make", [lambda: synthetic(0), lambda: synthetic(3), REAL["cvat-video"]],
                         ids=["synthetic-0", "synthetic-3", "cvat-video"])
def test_attribute_and_track_reports_are_bit_for_bit(make: Callable[[], Dataset]) -> None:
    """Below the 6-digit JSON: the raw reports (float sums of similarities, differences and IoUs
    added in item-id order, every switch, missed run and mismatch in order) equal the old ones."""
    ds = make()
    cfg = ReportConfig()
    ctx = Context(config=cfg, seed=3, schema=ds.schema, order=ItemOrder(ds.items))
    with_tracks = [n for n in ds.label_sets if any(r.kind == "track" for r in ds.select(label_set=n))]
    want_tracks = {n: ref_track_agreement(ds, n, iou_threshold=cfg.iou_threshold, taxonomy=cfg.taxonomy)
                   for n in with_tracks}
    rng = random.Random(11)
    for parts in splits(ds, rng):
        tracks = TracksSection(ds.label_sets)
        assert tracks.reports(pickling_fold(tracks, ctx, parts), ctx) == want_tracks
        scope = Runner(tuple(parts), fold=pickling_fold).run([AttributeScopeSection(ds.label_sets)], ctx)
        sctx = replace(ctx, results=scope)
        attrs = AttributesSection()
        want = {n: ref_attribute_agreement(ds, n, match=_region_matcher(cfg)) for n in scope["attributes:scope"]}
        assert want
        assert any(rep.rows for rep in want.values())
        assert attrs.reports(pickling_fold(attrs, sctx, parts), sctx) == want


@pytest.mark.integration
def test_on_a_dask_cluster_the_sections_fold_on_the_workers() -> None:
    """``accord report --dask`` on a real LocalCluster (2 worker processes): the four sections are
    folded on the workers (their states pickled between processes) and the report equals one process's."""
    distributed = pytest.importorskip("distributed")
    from accord.cluster.report import cluster_report
    from accord.io import load_dataset

    sample = Path(__file__).resolve().parent.parent / "core" / "data" / "sample"
    inputs = [sample / "text_sentiment.json", sample / "images_boxes.json",
              FIXTURES / "cvat" / "video_alice.xml", FIXTURES / "cvat" / "video_bob.xml"]
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        report, _, run = cluster_report(client, inputs, seed=7)
    finally:
        client.close()
        cluster.close()
    assert {"label_errors", "model_vs_human", "tracks", "attributes:scope", "attributes"} <= set(run.sections)
    want = build_report(load_dataset(inputs), seed=7)

    def view(r: Any) -> Any:
        d = json.loads(json.dumps(r, allow_nan=False))
        d.pop("generated_at")
        d.get("checks", {}).pop("durations_s", None)
        return d

    got, whole = view(report), view(want)
    for name in ("label_errors", "model_vs_human", "tracks", "attributes"):
        assert got[name], name
    assert got == whole
