"""The FiftyOne skill-weighted consensus write-back (issue #20: "box, keypoint and span consensus
weighted by each annotator's reliability ... in the report and in the Label Studio and FiftyOne
write-backs"), against a real FiftyOne database (its own mongod, HOME and plugins dir).

Skipped where ``fiftyone`` is not installed; run from the FiftyOne environment
(scripts/install_fiftyone.sh).
"""

from __future__ import annotations

import importlib.util
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from accord.core.errors import AccordError
from accord.core.model import Box, Classification, Dataset, Record
from accord.core.qa.report import build_report

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("fiftyone") is None, reason="fiftyone is not installed"),
]

URI = "@accord/fiftyone"
W, H = 100, 50  # every test image is 100 x 50 pixels


def _sample(fo: Any, name: str, **fields: Any) -> Any:
    return fo.Sample(filepath=f"/nonexistent/{name}.jpg", metadata=fo.ImageMetadata(width=W, height=H), **fields)


def _dets(fo: Any, *boxes: tuple[str, float, float, float, float]) -> Any:
    """Detections from pixel boxes ``(label, x, y, w, h)`` on a W x H image."""
    return fo.Detections(detections=[fo.Detection(label=lab, bounding_box=[x / W, y / H, bw / W, bh / H])
                                     for lab, x, y, bw, bh in boxes])


def _pixels(det: Any) -> tuple[float, float, float, float]:
    x, y, w, h = det.bounding_box
    return (x * W, y * H, w * W, h * H)


def _compute(fo_env: SimpleNamespace, ds: Any, fields: list[str], **kw: Any) -> Any:
    from accord.plugins.fiftyone.consensus import compute_consensus

    return compute_consensus(ds, fields, **kw)


# --------------------------------------------------------------------------- boxes


def test_gold_weights_pull_the_fused_box_to_the_reliable_annotator(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    gold = _sample(fo, "gold", gold=_dets(fo, ("car", 10, 10, 20, 20)), a=_dets(fo, ("car", 10, 10, 20, 20)),
                   b=_dets(fo, ("car", 60, 20, 20, 20)), c=_dets(fo, ("car", 60, 20, 20, 20)))
    work = _sample(fo, "work", a=_dets(fo, ("car", 10, 10, 30, 20)), b=_dets(fo, ("car", 14, 10, 30, 20)),
                   c=_dets(fo, ("car", 12, 10, 30, 20)))  # pairwise IoU >= 0.76 (26 / 34): one region
    ds = new_dataset([gold, work])
    res = _compute(fo_env, ds, ["a", "b", "c"], gold_field="gold")
    # on the gold sample a matches (F1 1) and b, c miss (F1 0, raised to the weight floor 0.05)
    assert dict(res.weights) == pytest.approx({"a": 1.0, "b": 0.05, "c": 0.05})
    assert dict(res.sources) == {"a": "gold", "b": "gold", "c": "gold"}
    assert (res.n_samples, res.n_written, res.n_labels, res.n_gold_samples) == (2, 1, 1, 1)
    ds.reload()
    assert ds[gold.filepath]["accord_consensus"] is None  # gold samples keep their gold, no consensus
    (fused,) = ds[work.filepath]["accord_consensus"].detections
    # weighted mean of the left edges: (10 * 1 + 14 * 0.05 + 12 * 0.05) / 1.1 = 11.3 / 1.1
    assert _pixels(fused) == pytest.approx((11.3 / 1.1, 10, 30, 20))
    assert fused.confidence == pytest.approx(1.0)  # all the weight is behind it
    assert fused["accord_support"] == pytest.approx(1.0)
    assert fused["accord_n_annotators"] == 3
    assert fused["accord_annotators"] == ["a", "b", "c"]
    assert fused.label == "car"

    plain = _compute(fo_env, ds, ["a", "b", "c"], out_field="plain")
    assert dict(plain.sources) == {"a": "uniform", "b": "uniform", "c": "uniform"}
    ds.reload()
    (equal,) = ds[work.filepath]["plain"].detections
    assert _pixels(equal)[0] == pytest.approx(12.0)  # (10 + 14 + 12) / 3
    info = ds.info["accord"]["consensus"]
    assert info["out_field"] == "plain"
    assert info["weights"]["a"] == {"weight": 1.0, "source": "uniform"}
    assert "box fusion" in info["method"]


def test_support_is_the_weight_share_and_a_minority_box_is_dropped(fo_env: SimpleNamespace,
                                                                   new_dataset: Any) -> None:
    fo = fo_env.fo
    # a and b agree on one car; only c sees a person: the quorum is 2 of 3, so the person goes
    s = _sample(fo, "s", a=_dets(fo, ("car", 0, 0, 20, 20)), b=_dets(fo, ("car", 1, 0, 20, 20)),
                c=_dets(fo, ("person", 60, 20, 10, 20)), d=fo.Detections(detections=[]))
    ds = new_dataset([s])
    res = _compute(fo_env, ds, ["a", "b", "c", "d"])  # d looked and drew nothing: 4 annotators, quorum 3
    assert res.n_labels == 0
    assert ds.first()["accord_consensus"].detections == []  # fused, nothing kept
    res = _compute(fo_env, ds, ["a", "b", "c"])
    assert res.n_labels == 1
    ds.reload()
    (car,) = ds.first()["accord_consensus"].detections
    assert car.label == "car"
    assert car.confidence == pytest.approx(2 / 3)  # a and b of three equal weights
    assert car["accord_annotators"] == ["a", "b"]
    # the stored documents are FiftyOne's own: its aggregations and filters read them
    assert ds.count("accord_consensus.detections") == 1
    assert ds.filter_labels("accord_consensus", fo.ViewField("accord_support") > 0.5).count(
        "accord_consensus.detections") == 1
    assert ds.distinct("accord_consensus.detections.label") == ["car"]
    assert "accord_consensus.detections.accord_support" in ds.get_field_schema(flat=True)


def _box_record(item: str, ann: str, x: float, y: float, w: float, h: float, source: str = "human") -> Record:
    return Record(item_id=item, annotator_id=ann, label_set="detections", source=source,  # type: ignore[arg-type]
                  value=Box(label="car", x=x, y=y, width=w, height=h))


def test_fused_boxes_equal_the_reports_consensus_and_the_label_studio_write_back(
        fo_env: SimpleNamespace, new_dataset: Any) -> None:
    from accord.plugins.label_studio.writeback import consensus_records

    fo = fo_env.fo
    rng = np.random.default_rng(7)
    anns = ["a", "b", "c"]
    noise = {"a": 0.5, "b": 1.0, "c": 2.0}  # a is the most careful
    records: list[Record] = []
    samples = []
    truth = {f"s{k}": (10 + 5 * k, 8 + k, 30, 20) for k in range(6)}
    for k, (item, (x, y, w, h)) in enumerate(truth.items()):
        fields: dict[str, Any] = {}
        if k == 0:  # one gold sample, where c misses
            fields["gold"] = _dets(fo, ("car", x, y, w, h))
            records.append(_box_record(item, "accord:gold", x, y, w, h, source="reference"))
        for a in anns:
            dx, dy = rng.normal(0, noise[a], 2)
            box = (60.0, 25.0, 20, 20) if k == 0 and a == "c" else (round(x + dx, 3), round(y + dy, 3), w, h)
            fields[a] = _dets(fo, ("car", *box))
            records.append(_box_record(item, a, *box))
        samples.append(_sample(fo, item, **fields))
    ds = new_dataset(samples)
    res = _compute(fo_env, ds, anns, gold_field="gold", min_annotators=3)
    assert res.weights["c"] == pytest.approx(0.05)  # c's F1 on gold is 0: the weight floor

    ids = dict(zip(ds.values("filepath"), ds.values("id"), strict=True))
    core = Dataset(records=tuple(replace_item(r, ids[f"/nonexistent/{r.item_id}.jpg"]) for r in records))
    report = build_report(core, checks=False)
    block = report["consensus"]["detections"]
    assert {a: v["weight"] for a, v in block["weights"].items()} == pytest.approx(dict(res.weights), abs=1e-6)
    assert {a: v["source"] for a, v in block["weights"].items()} == dict(res.sources)
    assert (block["n_items"], block["n_regions"]) == (res.n_written, res.n_labels) == (5, 5)
    ls = consensus_records(core, report)[0]
    ds.reload()
    for sid, value in zip(ds.values("id"), ds.values("accord_consensus"), strict=True):
        if value is None:
            continue
        (mine,) = value.detections
        (theirs,) = ls[sid]
        assert _pixels(mine) == pytest.approx((theirs.value.x, theirs.value.y, theirs.value.width,
                                               theirs.value.height), abs=1e-9)


def replace_item(r: Record, item: str) -> Record:
    from dataclasses import replace

    return replace(r, item_id=item)


def test_class_skills_of_the_same_annotators_weigh_the_boxes_as_the_report_does(
        fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    anns = ["a", "b", "c"]
    # classes: a and b always agree, c disagrees on half the samples -> c's Dawid-Skene skill is lower
    cls = {"a": ["x", "y", "x", "y"], "b": ["x", "y", "x", "y"], "c": ["x", "x", "y", "y"]}
    left = {"a": 10.0, "b": 11.0, "c": 14.0}
    samples = [_sample(fo, f"s{k}", **{a: _dets(fo, ("car", left[a], 5, 30, 20)) for a in anns},
                       **{f"{a}_cls": fo.Classification(label=cls[a][k]) for a in anns}) for k in range(4)]
    ds = new_dataset(samples)
    res = _compute(fo_env, ds, anns, skill_fields=[f"{a}_cls" for a in anns])
    assert set(res.sources.values()) == {"class_consensus"}
    assert res.skill_label_set == "classification"
    assert res.weights["c"] < res.weights["a"] == pytest.approx(res.weights["b"])

    ids = ds.values("id")
    core = Dataset(records=tuple(
        [_box_record(i, a, left[a], 5, 30, 20) for i in ids for a in anns]
        + [Record(item_id=i, annotator_id=a, label_set="classification", value=Classification(label=cls[a][k]))
           for k, i in enumerate(ids) for a in anns]))
    report = build_report(core, checks=False)
    block = report["consensus"]["detections"]["weights"]
    assert {a: v["weight"] for a, v in block.items()} == pytest.approx(dict(res.weights), abs=1e-6)
    w = res.weights
    ds.reload()
    (fused,) = ds.first()["accord_consensus"].detections
    expected = sum(left[a] * w[a] for a in anns) / sum(w.values())  # weighted mean of the left edges
    assert _pixels(fused)[0] == pytest.approx(expected)
    assert expected < 11.5  # pulled towards a and b, away from the equal mean 35 / 3


# --------------------------------------------------------------------------- keypoints


def test_keypoints_are_fused_by_weighted_mean_of_the_visible_points(fo_env: SimpleNamespace,
                                                                    new_dataset: Any) -> None:
    fo = fo_env.fo

    def kp(*pts: tuple[float, float]) -> Any:
        return fo.Keypoints(keypoints=[fo.Keypoint(label="person", points=[[x / W, y / H] for x, y in pts])])

    nan = math.nan
    s = _sample(fo, "s", a=kp((10, 10), (90, 10), (10, 40), (90, 40)), b=kp((12, 10), (92, 10), (12, 40), (nan, nan)),
                c=kp((14, 10), (91, 13), (14, 40), (nan, nan)))  # OKS of b and c with a: 0.69 and 0.56
    ds = new_dataset([s])
    res = _compute(fo_env, ds, ["a", "b", "c"])
    assert (res.n_written, res.n_labels) == (1, 1)
    ds.reload()
    (fused,) = ds.first()["accord_consensus"].keypoints
    # uniform weights: point 0 at ((10 + 12 + 14) / 3, 10) = (12, 10); point 1 at (91, 11); point 2 at
    # (12, 40); point 3 marked by a alone (one of three, under the strict-majority quorum 2): NaN
    pts = [(x * W, y * H) for x, y in fused.points]
    assert pts[:3] == [pytest.approx((12, 10)), pytest.approx((91, 11)), pytest.approx((12, 40))]
    assert all(math.isnan(v) for v in pts[3])
    assert fused["accord_n_annotators"] == 3
    assert fused["accord_support"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- classification


def test_classification_labels_are_the_reports_class_consensus(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    anns = ["a", "b", "c"]
    rng = np.random.default_rng(3)
    truth = rng.choice(["cat", "dog", "bird"], size=30)
    err = {"a": 0.05, "b": 0.3, "c": 0.5}
    answers = {a: [str(t) if rng.random() > err[a] else str(rng.choice(["cat", "dog", "bird"])) for t in truth]
               for a in anns}
    samples = [_sample(fo, f"s{k}", **{a: fo.Classification(label=answers[a][k]) for a in anns})
               for k in range(len(truth))]
    ds = new_dataset(samples)
    res = _compute(fo_env, ds, anns, out_field="consensus_label")
    assert res.label_type == "Classification"
    assert res.n_written == len(truth)
    assert set(res.sources.values()) == {"class_consensus"}

    ids = ds.values("id")
    core = Dataset(records=tuple(Record(item_id=i, annotator_id=a, label_set="classification",
                                        value=Classification(label=answers[a][k]))
                                 for k, i in enumerate(ids) for a in anns))
    report = build_report(core, checks=False)
    block = report["consensus"]["classification"]
    ds.reload()
    written = dict(zip(ids, ds.values("consensus_label.label"), strict=True))
    assert written == block["labels"]
    assert {a: block["annotator_reliability"][a] for a in anns} == pytest.approx(dict(res.weights), abs=1e-6)
    # the support of each label is the weight share of the annotators who chose it
    w = res.weights
    for k, (label, conf) in enumerate(zip(ds.values("consensus_label.label"), ds.values("consensus_label.confidence"),
                                          strict=True)):
        chose = [a for a in anns if answers[a][k] == label]
        assert conf == pytest.approx(sum(w[a] for a in chose) / sum(w.values()))


# --------------------------------------------------------------------------- operator and errors


def test_the_operator_runs_through_fiftyone(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo, foo = fo_env.fo, fo_env.foo
    registry = foo.OperatorRegistry()
    assert registry.list_errors() == []
    assert f"{URI}/compute_consensus" in {op.uri for op in registry.list_operators(builtin=False)}
    s = _sample(fo, "s", a=_dets(fo, ("car", 10, 10, 30, 20)), b=_dets(fo, ("car", 12, 10, 30, 20)))
    ds = new_dataset([s])
    out = foo.execute_operator(f"{URI}/compute_consensus", ctx={
        "dataset": ds, "view": ds.view(), "params": {"fields": ["a", "b"], "out_field": "fused"}})
    assert out.error is None, out.error
    assert out.result["n_written"] == 1
    assert out.result["weights"]["a"] == {"weight": 1.0, "source": "uniform"}
    ds.reload()
    (fused,) = ds.first()["fused"].detections
    assert _pixels(fused)[0] == pytest.approx(11.0)  # (10 + 12) / 2, both needed (quorum 2 of 2)
    from fiftyone.operators.executor import ExecutionError

    with pytest.raises(ExecutionError, match="two or more distinct label fields"):
        foo.execute_operator(f"{URI}/compute_consensus", ctx={"dataset": ds, "view": ds.view(),
                                                              "params": {"fields": ["a"]}})


def test_bad_inputs_raise_one_line_errors(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    s = _sample(fo, "s", a=_dets(fo, ("car", 10, 10, 30, 20)), b=_dets(fo, ("car", 12, 10, 30, 20)),
                k=fo.Classification(label="x"), seg=fo.Segmentation(mask=np.zeros((2, 2), dtype=np.uint8)))
    ds = new_dataset([s])
    cases = [
        (["a"], {}, "two or more distinct label fields"),
        (["a", "a"], {}, "two or more distinct label fields"),
        (["a", "nope"], {}, "no label field 'nope'"),
        (["a", "k"], {}, "different label types"),
        (["seg", "seg2"], {}, "no label field 'seg2'"),
        (["a", "b"], {"gold_field": "k"}, "give a gold field of the same type"),
        (["a", "b"], {"gold_field": "a"}, "also an annotator field"),
        (["a", "b"], {"out_field": "a"}, "must be a new field name"),
        (["a", "b"], {"out_field": "k"}, "already holds Classification"),
        (["a", "b"], {"skill_fields": ["k"]}, "one Classification field per annotator"),
        (["a", "b"], {"skill_fields": ["k", "a"]}, "expected Classification"),
        (["a", "b"], {"iou_threshold": 0.0}, "iou_threshold must be in"),
        (["a", "b"], {"min_annotators": 1}, "min_annotators must be at least 2"),
        (["a", "b"], {"method": "nope"}, "unknown consensus method"),
    ]
    for fields, kw, match in cases:
        with pytest.raises(AccordError, match=match) as e:
            _compute(fo_env, ds, fields, **kw)
        assert "\n" not in str(e.value)
    s["seg2"] = fo.Segmentation(mask=np.zeros((2, 2), dtype=np.uint8))
    s.save()
    with pytest.raises(AccordError, match="have no consensus; expected one of"):
        _compute(fo_env, ds, ["seg", "seg2"])
    assert "accord_consensus" not in ds.get_field_schema()  # nothing was written
