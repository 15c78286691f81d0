"""The FiftyOne plugin against a real FiftyOne database (its own mongod, HOME and plugins dir).

Skipped where ``fiftyone`` is not installed (it conflicts with the main environment's
starlette; CI runs this file from the FiftyOne environment, see scripts/install_fiftyone.sh).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fo_server import free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("fiftyone") is None, reason="fiftyone is not installed"),
]

URI = "@accord/fiftyone"


def _det(fo: Any, label: str, box: list[float], confidence: float | None = None) -> Any:
    return fo.Detection(label=label, bounding_box=box, confidence=confidence)


def _run(fo_env: SimpleNamespace, name: str, ds: Any, **params: Any) -> Any:
    res = fo_env.foo.execute_operator(f"{URI}/{name}", ctx={"dataset": ds, "view": ds.view(), "params": params})
    assert res.error is None, res.error
    return res.result


# --------------------------------------------------------------------------- loading


def test_plugin_loads_with_no_registry_errors(fo_env: SimpleNamespace) -> None:
    registry = fo_env.foo.OperatorRegistry()
    assert registry.list_errors() == []
    uris = {op.uri for op in registry.list_operators(builtin=False)}
    for name in ("compute_disagreement", "find_label_errors", "sample_for_review", "estimate_review_cost",
                 "accord_qa_panel"):
        assert f"{URI}/{name}" in uris


# --------------------------------------------------------------------------- detections


def test_detections_known_answer(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    gt = [_det(fo, "car", [0.0, 0.0, 0.2, 0.2]), _det(fo, "bus", [0.5, 0.5, 0.2, 0.2]),
          _det(fo, "car", [0.0, 0.6, 0.1, 0.1])]
    pred = [_det(fo, "car", [0.05, 0.0, 0.2, 0.2]), _det(fo, "car", [0.5, 0.5, 0.2, 0.2]),
            _det(fo, "person", [0.8, 0.0, 0.1, 0.1])]
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg", gt=fo.Detections(detections=gt),
                                pred=fo.Detections(detections=pred)),
                      fo.Sample(filepath="/x/2.jpg", gt=fo.Detections(detections=[_det(fo, "car", [0, 0, .5, .5])]),
                                pred=fo.Detections(detections=[_det(fo, "car", [0, 0, .5, .5])]))])
    out = _run(fo_env, "compute_disagreement", ds, fields=["gt", "pred"])
    s1, s2 = ds.values("id")
    one = ds[s1]
    # IoU of gt[0] and pred[0]: overlap 0.15 x 0.2 = 0.03, union 0.04 + 0.04 - 0.03 = 0.05 -> 0.6 (< 0.75)
    assert [d.accord_status for d in one.gt.detections] == ["tp", "mismatch", "fn"]
    assert [d.accord_category for d in one.gt.detections] == ["poor_localization", "wrong_class", "missing_object"]
    assert one.gt.detections[0].accord_iou == pytest.approx(0.6)
    assert [d.accord_status for d in one.pred.detections] == ["tp", "mismatch", "fp"]
    assert one.pred.detections[2].accord_category == "extra_object"
    # agreement = 2 tp / (n_ref + n_cand) = 2 * 1 / 6
    assert one.accord_agreement == pytest.approx(1 / 3)
    assert ds[s2].accord_agreement == pytest.approx(1.0)
    assert one.accord_n_discrepancies == 4
    assert out["taxonomy"]["by_category"] == {"poor_localization": 1, "wrong_class": 1, "missing_object": 1,
                                              "extra_object": 1}
    assert out["tp"] == {"pred": 2}
    assert out["n_reference"] == {"pred": 4}
    assert ds.count_sample_tags() == {"accord:disagreement": 1}
    assert "accord_disagreement" in ds.list_saved_views()
    assert ds.load_saved_view("accord_disagreement").values("id") == [s1, s2]
    assert ds.info["accord"]["disagreement"]["agreement_by_field"]["pred"] == pytest.approx((1 / 3 + 1) / 2)
    # the written attributes are declared in the schema, so the App can filter and color by them
    schema = ds.get_field_schema(flat=True)
    assert {"gt.detections.accord_status", "pred.detections.accord_category", "gt.detections.accord_iou"} <= set(schema)
    assert ds.count_values("pred.detections.accord_status") == {"tp": 2, "mismatch": 1, "fp": 1}


_CELL = st.tuples(st.sampled_from("ab"), st.floats(-0.02, 0.02), st.floats(-0.02, 0.02),
                  st.sampled_from(["same", "other", "none"]))
_SAMPLE = st.dictionaries(st.integers(0, 15), _CELL, max_size=8).flatmap(
    lambda cells: st.tuples(st.just(cells), st.lists(st.integers(0, 15), max_size=2)))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(samples=st.lists(_SAMPLE, min_size=1, max_size=6))
def test_detections_agree_with_fiftyone_evaluate_detections(fo_env: SimpleNamespace, new_dataset: Any,
                                                            samples: list[Any]) -> None:
    """Boxes on a 4 x 4 grid (no box overlaps another cell), so every match is unambiguous:
    FiftyOne's greedy class-wise matching and accord's Hungarian matching must then give
    the same true positives per label and the same IoU."""
    fo = fo_env.fo
    built = []
    for i, (cells, extra) in enumerate(samples):
        gt, pr = [], []
        for c, (lab, dx, dy, what) in cells.items():
            x, y = 0.25 * (c % 4) + 0.05, 0.25 * (c // 4) + 0.05
            gt.append(_det(fo, lab, [x, y, 0.15, 0.15]))
            if what != "none":
                plab = lab if what == "same" else ("b" if lab == "a" else "a")
                pr.append(_det(fo, plab, [x + dx, y + dy, 0.15, 0.15], 0.9))
        for c in extra:
            if c not in cells:
                pr.append(_det(fo, "a", [0.25 * (c % 4) + 0.05, 0.25 * (c // 4) + 0.05, 0.15, 0.15], 0.5))
        built.append(fo.Sample(filepath=f"/x/{i}.jpg", gt=fo.Detections(detections=gt),
                               pred=fo.Detections(detections=pr)))
    ds = new_dataset(built)
    fo_env.plugin.compute_disagreement(ds, ["gt", "pred"], view_name=None)
    ds.evaluate_detections("pred", gt_field="gt", eval_key="eval", iou=0.5, progress=False)
    for s in ds:
        for d in s.gt.detections + s.pred.detections:
            assert (d.accord_status == "tp") == (d.eval == "tp")
            if d.eval == "tp":
                assert d.accord_iou == pytest.approx(d.eval_iou, abs=1e-6)
        n = len(s.gt.detections) + len(s.pred.detections)
        expected = 2 * s.eval_tp / n if n else 1.0
        assert s.accord_agreement == pytest.approx(expected)


def test_three_fields_each_against_the_reference(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    boxes = [[0, 0, .2, .2], [.5, .5, .2, .2]]
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg", gt=fo.Detections(detections=[_det(fo, "a", b) for b in boxes]),
                                same=fo.Detections(detections=[_det(fo, "a", b) for b in boxes]),
                                half=fo.Detections(detections=[_det(fo, "a", boxes[0])]))])
    res = fo_env.plugin.compute_disagreement(ds, ["gt", "same", "half"])
    # same: F1 1; half: 2 * 1 / (2 + 1) = 2/3; the sample's agreement is their mean
    assert dict(res.agreement_by_field) == pytest.approx({"same": 1.0, "half": 2 / 3})
    assert ds.first().accord_agreement == pytest.approx((1 + 2 / 3) / 2)
    # the reference label missed by one field is "fn" even though the other field found it
    assert ds.values("gt.detections.accord_status") == [["tp", "fn"]]
    assert res.taxonomy.by_annotator == {"half": {"missing_object": 1}}


def test_filtered_view_keeps_hidden_labels(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    F = fo.ViewField
    gt = [_det(fo, "car", [0, 0, .2, .2]), _det(fo, "bus", [.5, .5, .2, .2])]
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg", gt=fo.Detections(detections=gt),
                                pred=fo.Detections(detections=[_det(fo, "car", [0, 0, .2, .2])]))])
    view = ds.filter_labels("gt", F("label") == "car")
    res = fo_env.plugin.compute_disagreement(view, ["gt", "pred"], view_name=None)
    assert res.agreement_mean == pytest.approx(1.0)
    assert ds.count("gt.detections") == 2
    assert ds.values("gt.detections.accord_status") == [["tp", None]]


def test_writes_in_bulk_never_per_sample_save(fo_env: SimpleNamespace, new_dataset: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fo = fo_env.fo
    ds = new_dataset([fo.Sample(filepath=f"/x/{i}.jpg", gt=fo.Detections(detections=[_det(fo, "a", [0, 0, .2, .2])]),
                                pred=fo.Detections(detections=[_det(fo, "a", [0, 0, .2, .2], .9)])) for i in range(5)])

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("per-sample save() called")

    monkeypatch.setattr(fo.core.sample.Sample, "save", boom)
    fo_env.plugin.compute_disagreement(ds, ["gt", "pred"])
    fo_env.plugin.find_label_errors(ds, "gt", "pred")
    assert ds.count_values("accord_agreement") == {1.0: 5}


# --------------------------------------------------------------------------- other kinds


def test_classifications_three_annotators(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    from sklearn.metrics import accuracy_score

    fo = fo_env.fo
    rng = np.random.default_rng(3)
    labs = rng.choice(["cat", "dog", "fox"], size=(30, 3))
    ds = new_dataset([fo.Sample(filepath=f"/x/{i}.jpg", **{f"ann{k}": fo.Classification(label=str(labs[i, k]))
                                                          for k in range(3)}) for i in range(30)])
    res = fo_env.plugin.compute_disagreement(ds, ["ann0", "ann1", "ann2"], agreement_threshold=1.0)
    # per sample: share of the 3 annotator pairs that agree
    expected = [sum(a == b for a, b in combinations(row, 2)) / 3 for row in labs]
    assert ds.values("accord_agreement") == pytest.approx(expected)
    for k in (1, 2):
        assert res.agreement_by_field[f"ann{k}"] == pytest.approx(accuracy_score(labs[:, 0], labs[:, k]))
    n_mismatch = int((labs[:, 1:] != labs[:, :1]).sum())
    assert sum(res.taxonomy.by_category.values()) == n_mismatch == res.taxonomy.by_category["wrong_class"]
    assert res.n_tagged == sum(e < 1.0 for e in expected)
    expected_status = ["tp" if a == b else "mismatch" for a, b in zip(labs[:, 0], labs[:, 1], strict=True)]
    assert ds.values("ann1.accord_status") == expected_status


def test_polylines_iou_matches_shapely(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    from shapely.geometry import Polygon as ShapelyPolygon

    fo = fo_env.fo
    a = [(0.1, 0.1), (0.5, 0.1), (0.5, 0.5), (0.1, 0.5)]
    b = [(0.2, 0.15), (0.6, 0.15), (0.55, 0.5), (0.2, 0.55)]
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg",
                                p1=fo.Polylines(polylines=[fo.Polyline(label="roof", points=[a], closed=True)]),
                                p2=fo.Polylines(polylines=[fo.Polyline(label="roof", points=[b], closed=True)]))])
    fo_env.plugin.compute_disagreement(ds, ["p1", "p2"], iou_threshold=0.3)
    pa, pb = ShapelyPolygon(a), ShapelyPolygon(b)
    iou = pa.intersection(pb).area / pa.union(pb).area
    assert ds.first().p2.polylines[0].accord_iou == pytest.approx(iou, abs=1e-6)
    assert ds.first().p2.polylines[0].accord_status == "tp"


def test_keypoints_identical_and_missing(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    pts = [[0.1, 0.1], [0.2, 0.3], [float("nan"), float("nan")], [0.3, 0.35]]
    k = fo.Keypoint(label="person", points=pts)
    k2 = fo.Keypoint(label="person", points=[[0.7, 0.7], [0.8, 0.9], [0.75, 0.8]])
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg", a=fo.Keypoints(keypoints=[k, k2]),
                                b=fo.Keypoints(keypoints=[fo.Keypoint(label="person", points=pts)]))])
    res = fo_env.plugin.compute_disagreement(ds, ["a", "b"])
    assert ds.first().a.keypoints[0].accord_iou == pytest.approx(1.0)
    assert [kp.accord_status for kp in ds.first().a.keypoints] == ["tp", "fn"]
    assert res.agreement_mean == pytest.approx(2 / 3)


def test_segmentation_mean_class_iou(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    m1 = np.zeros((4, 4), dtype=np.uint8)
    m1[:2, :2] = 1  # class 1: 4 pixels
    m2 = np.zeros((4, 4), dtype=np.uint8)
    m2[:2, :1] = 1  # class 1: 2 pixels inside m1's -> IoU 2/4
    m2[3, 3] = 2  # class 2 only in m2 -> IoU 0
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg", s1=fo.Segmentation(mask=m1), s2=fo.Segmentation(mask=m2))])
    from PIL import Image

    on_disk = fo_env.root / "mask_s3.png"
    Image.fromarray(m1).save(on_disk)
    ds.set_values("s3", [fo.Segmentation(mask_path=str(on_disk))])
    res = fo_env.plugin.compute_disagreement(ds, ["s1", "s2", "s3"])
    # s2: (IoU class 1 = 2/4, class 2 = 0) / 2 = 0.25; s3 (same mask as s1, from disk): 1.0
    assert ds.first().accord_agreement == pytest.approx((0.25 + 1.0) / 2)
    assert dict(res.agreement_by_field) == pytest.approx({"s2": 0.25, "s3": 1.0})
    assert res.kind == "segmentation"


def test_segmentation_per_class_iou_dice_and_status_match_numpy(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    ref = np.zeros((20, 20), dtype=np.uint8)
    ref[0:10, 0:10] = 1  # road, 100 px
    ref[10:20, 0:10] = 2  # car, 100 px
    ref[0:5, 10:20] = 3  # sky, 50 px: absent from the candidate
    cand = np.zeros((20, 20), dtype=np.uint8)
    cand[0:10, 0:8] = 1  # 80 px inside road's 100: IoU 0.8, Dice 160 / 180
    cand[10:20, 0:4] = 2  # 40 px inside car's 100: IoU 0.4 (below 0.5), Dice 80 / 140
    cand[15:20, 15:20] = 5  # tree, only in the candidate
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg", ref=fo.Segmentation(mask=ref), cand=fo.Segmentation(mask=cand))])
    ds.mask_targets = {"ref": {1: "road", 2: "car", 3: "sky", 5: "tree"}}
    ds.save()
    res = fo_env.plugin.compute_disagreement(ds, ["ref", "cand"], iou_threshold=0.5)
    names = {1: "road", 2: "car", 3: "sky", 5: "tree"}
    iou, dice = {}, {}
    for k, name in names.items():  # the independent computation: boolean masks per class
        a, b = ref == k, cand == k
        iou[name] = (a & b).sum() / (a | b).sum()
        dice[name] = 2 * (a & b).sum() / (a.sum() + b.sum())
    assert iou == pytest.approx({"road": 0.8, "car": 0.4, "sky": 0.0, "tree": 0.0})
    label = ds.first().cand
    assert label.accord_class_iou == pytest.approx(iou)
    assert label.accord_class_dice == pytest.approx(dice)
    assert label.accord_class_status == {"road": "tp", "car": "low_iou", "sky": "fn", "tree": "fp"}
    assert label.accord_class_category == {"car": "poor_localization", "sky": "missing_object",
                                           "tree": "extra_object"}
    assert label.accord_iou == pytest.approx(np.mean(list(iou.values())))
    assert label.accord_dice == pytest.approx(np.mean(list(dice.values())))
    assert ds.first().ref.accord_class_status == {"road": "tp", "car": "low_iou", "sky": "fn"}
    assert ds.first().accord_agreement == pytest.approx((0.8 + 0.4 + 0 + 0) / 4)
    assert ds.first().accord_n_discrepancies == 3
    assert (res.tp["cand"], res.n_reference["cand"], res.n_candidate["cand"]) == (1, 3, 3)
    assert res.taxonomy.by_category == {"poor_localization": 1, "missing_object": 1, "extra_object": 1}
    assert "cand.accord_dice" in ds.get_field_schema(flat=True)
    # the panel's category button finds the sample through the written categories
    calls: list[Any] = []
    ctx = SimpleNamespace(dataset=ds, params={"category": "extra_object"},
                          ops=SimpleNamespace(set_view=lambda view=None, name=None: calls.append(view)))
    fo_env.plugin.AccordQAPanel().open_category(ctx)
    assert calls[-1].count() == 1


def _grid_frame(fo: Any, rng: np.random.Generator) -> tuple[Any, Any, int, int]:
    """One frame's gt and pred on a 4 x 4 grid (unambiguous matches) and its independent tp and label count."""
    gt, pr, tp = [], [], 0
    for c in rng.choice(16, size=int(rng.integers(0, 5)), replace=False):
        x, y = 0.25 * (c % 4) + 0.05, 0.25 * (c // 4) + 0.05
        lab = str(rng.choice(["a", "b"]))
        gt.append(_det(fo, lab, [x, y, 0.15, 0.15]))
        what = rng.choice(["same", "other", "none"])
        if what != "none":
            plab = lab if what == "same" else ("b" if lab == "a" else "a")
            pr.append(_det(fo, plab, [x + rng.uniform(-0.02, 0.02), y, 0.15, 0.15], 0.9))
            tp += what == "same"
    return fo.Detections(detections=gt), fo.Detections(detections=pr), tp, len(gt) + len(pr)


def test_video_frames_disagreement_per_frame_and_per_sample(fo_env: SimpleNamespace, new_dataset: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fo = fo_env.fo
    rng = np.random.default_rng(11)
    samples, expected = [], []
    for v, n_frames in enumerate([3, 0, 5, 2]):
        s = fo.Sample(filepath=f"/x/video{v}.mp4")
        frames = []
        for f in range(1, n_frames + 1):
            gt, pr, tp, n = _grid_frame(fo, rng)
            s.frames[f] = fo.Frame(gt=gt, pred=pr)
            frames.append((tp, n))
        samples.append(s)
        expected.append(frames)
    ds = new_dataset(samples)

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("per-sample or per-frame save() called")

    monkeypatch.setattr(fo.core.sample.Sample, "save", boom)
    monkeypatch.setattr(fo.core.frame.Frame, "save", boom)
    res = SimpleNamespace(**_run(fo_env, "compute_disagreement", ds, fields=["frames.gt", "frames.pred"]))
    # per frame: 2 tp / (n_gt + n_pred), 1 when both are empty; per video: pooled over its frames
    frame_expected = [[2 * tp / n if n else 1.0 for tp, n in frames] for frames in expected]
    assert ds.values("frames.accord_agreement") == [pytest.approx(f) for f in frame_expected]
    sample_expected = [None if not frames else (2 * sum(t for t, _ in frames) / sum(n for _, n in frames)
                                                if sum(n for _, n in frames) else 1.0) for frames in expected]
    got = ds.values("accord_agreement")
    assert [g is None for g in got] == [e is None for e in sample_expected]
    assert [g for g in got if g is not None] == pytest.approx([e for e in sample_expected if e is not None])
    assert res.n_frames == 10
    assert res.n_samples == 4
    assert res.n_scored == 3
    assert res.tp["frames.pred"] == sum(t for frames in expected for t, _ in frames)
    # per-label statuses on the frames: a gt box is tp iff its prediction has the same label
    statuses = ds.values("frames.pred.detections.accord_status")
    assert sum(st == "tp" for video in statuses for frame in video for st in (frame or [])) == res.tp["frames.pred"]
    assert "gt.detections.accord_status" in ds.get_frame_field_schema(flat=True)
    disc = ds.values("frames.accord_n_discrepancies")
    assert ds.values("accord_n_discrepancies") == [sum(d) for d in disc]
    # the panel's category button opens the frames holding a label of that category
    calls: list[Any] = []
    ctx = SimpleNamespace(dataset=ds, params={"category": "wrong_class"},
                          ops=SimpleNamespace(set_view=lambda view=None, name=None: calls.append(view)))
    fo_env.plugin.AccordQAPanel().open_category(ctx)
    n_wrong = sum(any(st == "mismatch" for st in (frame or [])) for video in statuses for frame in video)
    assert calls[-1].count("frames") == n_wrong > 0
    assert set(calls[-1].distinct("frames.pred.detections.accord_category")) == {"wrong_class"}
    # a view that hides some frame labels must not delete them
    n_gt = ds.count("frames.gt.detections")
    monkeypatch.undo()
    fo_env.plugin.compute_disagreement(ds.filter_labels("frames.gt", fo.ViewField("label") == "a"),
                                       ["frames.gt", "frames.pred"], view_name=None)
    assert ds.count("frames.gt.detections") == n_gt > ds.count_values("frames.gt.detections.label")["a"]
    from accord.core.errors import SchemaError

    ds.add_sample_field("clip", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    with pytest.raises(SchemaError, match="mix sample-level and frame-level"):
        fo_env.plugin.compute_disagreement(ds, ["frames.gt", "clip"])


def _hand_oks(ref: np.ndarray, cand: np.ndarray, sigma: float = 0.05) -> float:
    """COCO OKS by hand: area = the reference keypoints' bounding box, e_i = d_i^2 / (2 area (2 sigma)^2)."""
    area = np.ptp(ref[:, 0]) * np.ptp(ref[:, 1])
    d2 = ((ref - cand) ** 2).sum(axis=1)
    return float(np.mean(np.exp(-d2 / (2 * area * (2 * sigma) ** 2))))


def test_keypoints_and_open_polylines_use_pixel_coordinates(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    from PIL import Image

    from accord.core.matching.geometry import polyline_similarity_matrix
    from accord.core.model import Polyline

    fo = fo_env.fo
    path = fo_env.root / "wide.png"
    Image.new("RGB", (400, 100)).save(path)  # 4:1, so relative and pixel OKS differ
    ref = np.array([[0.1, 0.2], [0.3, 0.6], [0.2, 0.9]])
    cand = ref + np.array([[0.02, 0.0], [0.0, 0.03], [0.01, -0.01]])
    line_a = [(0.1, 0.1), (0.5, 0.3), (0.9, 0.2)]
    line_b = [(0.1, 0.15), (0.5, 0.4), (0.9, 0.2)]
    ds = new_dataset([fo.Sample(
        filepath=str(path),
        a=fo.Keypoints(keypoints=[fo.Keypoint(label="p", points=ref.tolist())]),
        b=fo.Keypoints(keypoints=[fo.Keypoint(label="p", points=cand.tolist())]),
        la=fo.Polylines(polylines=[fo.Polyline(label="lane", points=[line_a], closed=False)]),
        lb=fo.Polylines(polylines=[fo.Polyline(label="lane", points=[line_b], closed=False)]))])
    assert ds.first().metadata is None
    fo_env.plugin.compute_disagreement(ds, ["a", "b"], iou_threshold=0.1)
    px = np.array([400.0, 100.0])
    expected = _hand_oks(ref * px, cand * px)
    assert ds.first().metadata.width == 400  # computed because it was missing
    assert ds.first().b.keypoints[0].accord_iou == pytest.approx(expected, abs=1e-6)
    assert abs(expected - _hand_oks(ref, cand)) > 0.05  # the test would catch relative coordinates
    fo_env.plugin.compute_disagreement(ds, ["la", "lb"], iou_threshold=0.1)

    def sim(scale: np.ndarray) -> float:
        a = Polyline(label="lane", points=tuple(map(tuple, np.array(line_a) * scale)))
        b = Polyline(label="lane", points=tuple(map(tuple, np.array(line_b) * scale)))
        return float(polyline_similarity_matrix([a], [b])[0, 0])

    assert ds.first().lb.polylines[0].accord_iou == pytest.approx(sim(px), abs=1e-6)
    assert abs(sim(px) - sim(np.ones(2))) > 0.01


def test_bad_inputs_raise_clear_errors(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    from accord.core.errors import InvalidAnnotationError, SchemaError

    fo = fo_env.fo
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg", c=fo.Classification(label="a"),
                                d=fo.Detections(detections=[]))])
    plugin = fo_env.plugin
    with pytest.raises(InvalidAnnotationError, match="at least two label fields"):
        plugin.compute_disagreement(ds, ["c"])
    with pytest.raises(SchemaError, match="no field 'nope'"):
        plugin.compute_disagreement(ds, ["c", "nope"])
    with pytest.raises(SchemaError, match="different label kinds"):
        plugin.compute_disagreement(ds, ["c", "d"])
    with pytest.raises(SchemaError, match="holds StringField"):
        plugin.compute_disagreement(ds, ["filepath", "c"])
    with pytest.raises(InvalidAnnotationError, match=r"iou_threshold must be in \[0, 1\]"):
        plugin.compute_disagreement(ds, ["d", "d"], iou_threshold=1.5)
    with pytest.raises(InvalidAnnotationError, match="needs stratify_field"):
        plugin.sample_for_review(ds, 1, method="stratified")
    with pytest.raises(InvalidAnnotationError, match="size must be >= 0"):
        plugin.sample_for_review(ds, -1)
    from fiftyone.operators.executor import ExecutionError

    with pytest.raises(ExecutionError, match="at least two label fields"):
        fo_env.foo.execute_operator(f"{URI}/compute_disagreement", ctx={"dataset": ds, "params": {"fields": ["c"]}})


# --------------------------------------------------------------------------- label errors


def test_label_errors_classification_match_cleanlab(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    import cleanlab.filter

    fo = fo_env.fo
    rng = np.random.default_rng(7)
    n, k = 120, 3
    true = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += 2.5
    given = true.copy()
    flip = rng.random(n) < 0.15
    given[flip] = (given[flip] + 1) % k
    classes = ["a", "b", "c"]
    ds = new_dataset([fo.Sample(filepath=f"/x/{i}.jpg", gt=fo.Classification(label=classes[given[i]]),
                                pred=fo.Classification(label=classes[int(np.argmax(logits[i]))],
                                                       logits=logits[i].tolist())) for i in range(n)])
    out = _run(fo_env, "find_label_errors", ds, label_field="gt", pred_field="pred")
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    expected = cleanlab.filter.find_label_issues(given, probs)
    assert ds.values("gt.accord_label_issue") == expected.tolist()
    assert out["n_issues"] == int(expected.sum()) > 0
    assert ds.values("gt.accord_label_quality") == pytest.approx(probs[np.arange(n), given].tolist())
    assert ds.count_sample_tags()["accord:label_error"] == int(expected.sum())
    assert ds.load_saved_view("accord_label_errors").count() == int(expected.sum())


def test_label_errors_detections_known_answer(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    gt = [_det(fo, "car", [0, 0, .2, .2]),  # predicted well: no issue
          _det(fo, "car", [.5, .5, .2, .2]),  # predicted as bus (conf .8): wrong_class
          _det(fo, "car", [0, .6, .2, .2]),  # predicted shifted, IoU 0.6 / ... < 0.7: localization
          _det(fo, "car", [.7, 0, .1, .1])]  # no prediction: spurious
    pred = [_det(fo, "car", [0, 0, .2, .2], .9), _det(fo, "bus", [.5, .5, .2, .2], .8),
            _det(fo, "car", [.05, .6, .2, .2], .9), _det(fo, "dog", [.3, .3, .1, .1], .95),  # missing
            _det(fo, "dog", [.8, .8, .1, .1], .2)]  # below min_confidence: ignored
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg", gt=fo.Detections(detections=gt),
                                pred=fo.Detections(detections=pred))])
    res = fo_env.plugin.find_label_errors(ds, "gt", "pred", localization_threshold=0.7)
    s = ds.first()
    assert [d.accord_issue for d in s.gt.detections] == [None, "wrong_class", "localization", "spurious"]
    assert [d.accord_issue for d in s.pred.detections] == [None, None, None, "missing", None]
    # localization score 1 - IoU, IoU = 0.03 / 0.05 = 0.6
    assert s.gt.detections[2].accord_issue_score == pytest.approx(0.4)
    assert s.accord_issue_score == pytest.approx(1.0)  # spurious box overlaps no prediction
    assert dict(res.by_issue) == {"wrong_class": 1, "localization": 1, "spurious": 1, "missing": 1}


# --------------------------------------------------------------------------- sampling and cost


def test_sampling_methods(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    labels = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    ds = new_dataset([fo.Sample(filepath=f"/x/{i}.jpg", gt=fo.Classification(label=lab, confidence=i / 100),
                                accord_agreement=1.0 if i < 90 else 0.0) for i, lab in enumerate(labels)])
    ids = ds.values("id")
    plugin = fo_env.plugin
    r1 = plugin.sample_for_review(ds, 10, method="random", seed=1)
    assert r1.sample_ids == plugin.sample_for_review(ds, 10, method="random", seed=1).sample_ids
    assert len(set(r1.sample_ids)) == 10
    assert ds.count_sample_tags() == {"accord:review": 10}
    assert ds.load_saved_view("accord_review").values("id") == list(r1.sample_ids)
    strat = plugin.sample_for_review(ds, 10, method="stratified", stratify_field="gt.label")
    got = sorted(labels[ids.index(i)] for i in strat.sample_ids)
    assert got == ["a"] * 6 + ["b"] * 3 + ["c"]  # proportional: 60/30/10 of 10
    unc = plugin.sample_for_review(ds, 5, method="uncertainty", score_field="gt.confidence")
    assert list(unc.sample_ids) == ids[:5]  # the 5 lowest confidences
    dis = plugin.sample_for_review(ds, 10, method="disagreement", seed=2)
    assert set(dis.sample_ids) == set(ids[90:])  # weight 1 vs 1e-9: the ten disagreeing samples
    out = _run(fo_env, "sample_for_review", ds, method="random", size=3)
    assert out["n_selected"] == 3
    assert out["n_population"] == 100


def test_acceptance_sampling_draws_the_iso_2859_plan(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    ds = new_dataset([fo.Sample(filepath=f"/x/{i}.jpg") for i in range(600)])
    # ISO 2859-1 Table I: lot 501-1200 at level II -> code letter J; Table II-A: J -> n = 80 (AQL 1.0: Ac 2, Re 3)
    res = fo_env.plugin.sample_for_review(ds, 5, method="acceptance", aql=1.0)
    assert len(res.sample_ids) == 80
    assert len(set(res.sample_ids)) == 80
    with pytest.raises(ValueError, match="preferred values"):
        fo_env.plugin.sample_for_review(ds, 5, method="acceptance", aql=0.123)


def test_review_cost(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    ds = new_dataset([fo.Sample(filepath=f"/x/{i}.jpg", gt=fo.Detections(
        detections=[_det(fo, "a", [0, 0, .1, .1])] * i)) for i in range(4)])  # 0 + 1 + 2 + 3 = 6 boxes
    out = _run(fo_env, "estimate_review_cost", ds, fields=["gt"], seconds_per_label=5.0, seconds_per_sample=3.0,
               hourly_rate_usd=36.0)
    # 4 samples x 3 s + 6 labels x 5 s = 42 s; 42 / 3600 h x 36 USD/h = 0.42 USD
    assert out["n_labels"] == 6
    assert out["duration_s"] == pytest.approx(42.0)
    assert out["cost_usd"] == pytest.approx(0.42)
    assert out["pricing_model"] is None
    assert math.isclose(out["duration_h"], 42 / 3600)


def test_review_cost_with_a_pricing_config_is_accords_cost_model(fo_env: SimpleNamespace, new_dataset: Any,
                                                                 tmp_path: Path) -> None:
    from accord.core.cost import Workload, load_config, price

    fo = fo_env.fo
    square = [[(0.1, 0.1), (0.3, 0.1), (0.3, 0.3)]]
    ds = new_dataset([fo.Sample(
        filepath=f"/x/{i}.jpg", gt=fo.Detections(detections=[_det(fo, "a", [0, 0, .1, .1])] * i),
        poly=fo.Polylines(polylines=[fo.Polyline(label="p", points=square, closed=i < 2)] if i < 3 else []))
        for i in range(4)])  # 6 boxes; polygons (closed) on samples 0 and 1, an open polyline on sample 2
    toml = tmp_path / "pricing.toml"
    toml.write_text('currency = "EUR"\n[pricing]\nmodel = "per_label"\nrate_per_label = 0.10\n'
                    'rate_per_label_by_kind = { box = 0.05 }\n[drivers]\nseconds_per_item_overhead = 3.0\n'
                    '[qa]\nreview_time_factor = 0.5\n', encoding="utf-8")
    out = _run(fo_env, "estimate_review_cost", ds, fields=["gt", "poly"], pricing_config=str(toml))
    labels = {"box": 6, "polygon": 2, "polyline": 1}
    assert out["labels_by_kind"] == labels
    # time: 0.5 x (4 items x 3 s + 6 boxes x 7 s + 2 polygons x 30 s + 1 polyline x 15 s) = 0.5 x 129 s
    assert out["duration_s"] == pytest.approx(64.5)
    # per label: 6 x 0.05 + 3 x 0.10 = 0.60 EUR
    assert out["cost"] == pytest.approx(0.60)
    assert (out["currency"], out["cost_usd"], out["pricing_model"]) == ("EUR", None, "per_label")
    cfg = load_config(toml)
    direct = price(Workload(items=4, passes=4, labels=labels, hours=64.5 / 3600), cfg.pricing,
                   rate_factor=cfg.drivers.rate_factor)
    assert out["charge"] == pytest.approx(direct.to_dict())
    # inline fields override the file: per task, 4 items x 0.25 EUR
    out = _run(fo_env, "estimate_review_cost", ds, fields=["gt", "poly"], pricing_config=str(toml),
               pricing_model="per_task", rate_per_task=0.25)
    assert out["cost"] == pytest.approx(1.0)
    # inline only: the core defaults (overhead 5 s, review 0.3 of a pass) at 30 USD per hour, minimum 1 USD
    out = _run(fo_env, "estimate_review_cost", ds, fields=["gt", "poly"], pricing_model="per_hour",
               rate_per_hour=30.0, minimum_charge=1.0)
    hours = 0.3 * (4 * 5 + 6 * 7 + 2 * 30 + 15) / 3600
    assert out["duration_s"] == pytest.approx(hours * 3600)
    assert out["charge"]["variable"] == pytest.approx(hours * 30.0)
    assert out["cost_usd"] == pytest.approx(1.0)  # 0.34 USD of work, raised to the minimum charge
    assert out["charge"]["minimum_topup"] == pytest.approx(1.0 - hours * 30.0)
    with pytest.raises(ValueError, match=r"pricing\.model"):
        fo_env.plugin.estimate_review_cost(ds, ["gt"], pricing=fo_env.plugin.review_cost_config(model="per_year"))


# --------------------------------------------------------------------------- panel


def test_panel_summary_lists_taxonomy_and_agreement(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    from accord.plugins.fiftyone.panel import taxonomy_markdown, taxonomy_plot

    fo = fo_env.fo
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg", gt=fo.Detections(detections=[_det(fo, "car", [0, 0, .2, .2])]),
                                pred=fo.Detections(detections=[_det(fo, "bus", [0, 0, .2, .2])]))])
    assert "No accord results yet" in taxonomy_markdown({})
    fo_env.plugin.compute_disagreement(ds, ["gt", "pred"])
    ds.reload()
    md = taxonomy_markdown(ds.info["accord"])
    assert "| wrong_class | car | `pred` | 1 |" in md
    assert "| `pred` | 0.000 | 0 | 1 | 1 |" in md
    traces = taxonomy_plot(ds.info["accord"])
    assert traces == [{"type": "bar", "name": "pred", "x": ["wrong_class"], "y": [1]}]


def test_panel_buttons_open_the_matching_views(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    fo = fo_env.fo
    ok = fo.Sample(filepath="/x/ok.jpg", gt=fo.Detections(detections=[_det(fo, "car", [0, 0, .2, .2])]),
                   pred=fo.Detections(detections=[_det(fo, "car", [0, 0, .2, .2])]))
    bad = fo.Sample(filepath="/x/bad.jpg", gt=fo.Detections(detections=[_det(fo, "car", [0, 0, .2, .2]),
                                                                        _det(fo, "car", [.5, .5, .2, .2])]),
                    pred=fo.Detections(detections=[_det(fo, "bus", [0, 0, .2, .2]), _det(fo, "car", [.5, .5, .2, .2])]))
    ds = new_dataset([ok, bad])
    fo_env.plugin.compute_disagreement(ds, ["gt", "pred"])
    calls: list[tuple[Any, Any]] = []
    ctx = SimpleNamespace(dataset=ds, params={"category": "wrong_class"},
                          ops=SimpleNamespace(set_view=lambda view=None, name=None: calls.append((view, name))))
    panel = fo_env.plugin.AccordQAPanel()
    panel.open_disagreement(ctx)
    assert calls[-1] == (None, "accord_disagreement")
    panel.open_category(ctx)
    view = calls[-1][0]
    assert view.values("filepath") == ["/x/bad.jpg"]
    assert view.count("pred.detections") == 1  # only the wrong_class label is shown
    assert view.values("pred.detections.label") == [["bus"]]


# --------------------------------------------------------------------------- the App, headless


class _DevTools:
    """Headless chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

    No browser-automation package is needed: commands go to chromium's fd 3 and answers come
    back on its fd 4 as NUL-separated JSON. Used instead of ``--dump-dom --virtual-time-budget``,
    which dumps the page after a fixed amount of *virtual* time: the panel only appears after
    the App server has loaded the plugins and answered ``/operators`` and ``/operators/execute``,
    which on a cold server (a fresh venv, a busy machine) takes longer than that budget, so the
    dump held the App shell and the "Explore Enterprise" popover but no panel. Here the test
    waits, in wall-clock time, until the panel's text is in the page.
    """

    def __init__(self, profile: Path, *, width: int, height: int) -> None:
        import fcntl

        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()
        # move the child's ends above 9 so that the 3<& / 4>& redirections cannot clobber them
        hi_r, hi_w = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
        os.close(cmd_r)
        os.close(out_w)
        profile.mkdir(parents=True, exist_ok=True)
        args = ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--no-default-browser-check", "--remote-debugging-pipe", f"--user-data-dir={profile / 'data'}",
                f"--window-size={width},{height}", "about:blank"]
        self._log = (profile / "chromium.log").open("wb")
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$@" 3<&{hi_r} 4>&{hi_w}', "chromium", *args], pass_fds=(hi_r, hi_w),
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            env={"HOME": str(profile), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        os.close(hi_r)
        os.close(hi_w)
        self._buf = b""
        self._id = 0
        self.exceptions: list[str] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for method in ("Page.enable", "Runtime.enable"):
            self.call(method, session=self.session)
        self.call("Emulation.setDeviceMetricsOverride", session=self.session, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method: str, *, session: str | None = None, timeout_s: float = 60.0, **params: Any) -> Any:
        import json
        import select

        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("method") == "Runtime.exceptionThrown":
                    self.exceptions.append(str(reply["params"]["exceptionDetails"].get("exception", {})
                                               .get("description", reply["params"]["exceptionDetails"]))[:500])
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self._log.flush()
                tail = Path(self._log.name).read_bytes()[-1500:].decode(errors="replace")
                raise TimeoutError(f"chromium gave no answer to {method} (exit code {self.proc.poll()}); "
                                   f"its log ends: {tail}")
            ready, _, _ = select.select([self._out_r], [], [], left)
            if ready:
                chunk = os.read(self._out_r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium closed the DevTools pipe during {method}")
                self._buf += chunk

    def evaluate(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", session=self.session, expression=expression, returnByValue=True)
        return res.get("result", {}).get("value")

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.call("Page.captureScreenshot", session=self.session, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", timeout_s=10)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        os.close(self._cmd_w)
        os.close(self._out_r)
        self._log.close()


def _artifacts_dir() -> Path:
    """Where the App test keeps its screenshot: ``$ACCORD_ARTIFACTS_DIR``, else ``artifacts/`` in the repository."""
    out = Path(os.environ.get("ACCORD_ARTIFACTS_DIR") or Path(__file__).resolve().parents[1] / "artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


#: The page's visible text and whether the panel's plot has been drawn.
_PAGE_STATE = ("JSON.stringify({text: document.body ? document.body.innerText : '', "
               "plots: document.querySelectorAll('.js-plotly-plot .main-svg').length})")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").is_file(), reason="chromium is not installed")
def test_app_renders_the_panel_headless(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    """Launch the App headless with the accord QA panel open, read its text in chromium, keep a screenshot."""
    import json

    from PIL import Image

    fo = fo_env.fo
    rng = np.random.default_rng(0)
    images = fo_env.root / "images"
    images.mkdir(exist_ok=True)
    samples = []
    for i in range(12):
        path = images / f"{i}.png"
        Image.fromarray((rng.random((96, 128, 3)) * 60 + 80).astype(np.uint8)).save(path)
        gt = [_det(fo, str(rng.choice(["car", "bus"])), [0.1 + 0.4 * (k % 2), 0.1 + 0.4 * (k // 2), 0.3, 0.3])
              for k in range(4)]
        pred = [_det(fo, d.label if rng.random() < 0.8 else "truck",
                     [d.bounding_box[0] + rng.uniform(-0.1, 0.1), d.bounding_box[1], 0.3, 0.3], 0.9)
                for d in gt[: 3 + (i % 2)]]
        samples.append(fo.Sample(filepath=str(path), gt=fo.Detections(detections=gt),
                                 pred=fo.Detections(detections=pred)))
    ds = new_dataset(samples)
    res = fo_env.plugin.compute_disagreement(ds, ["gt", "pred"])
    top = max(res.taxonomy.by_category, key=lambda c: res.taxonomy.by_category[c])
    # what the panel must show, computed here: its markdown table and summary line, and a button per category
    needles = ["Error taxonomy", "Open disagreement view", f"Show {top}",
               f"Mean per-sample agreement: {res.agreement_mean:.3f}", f"{res.n_tagged} tagged"]
    port = free_port()
    spaces = fo.Space(children=[fo.Panel(type="Samples"), fo.Panel(type="accord_qa_panel")],
                      orientation="horizontal")
    session = fo.launch_app(ds, remote=True, port=port, address="127.0.0.1", auto=False, spaces=spaces)
    out = _artifacts_dir()
    shot, text_file = out / "fiftyone_panel.png", out / "fiftyone_panel.txt"
    browser = _DevTools(fo_env.root / f"chromium-{port}", width=1600, height=1000)
    try:
        # a fresh browser profile would show FiftyOne's "Explore Enterprise" popover over the panel
        browser.call("Page.addScriptToEvaluateOnNewDocument", session=browser.session,
                     source="try { localStorage.setItem('fiftyone-enterprise-tooltip-seen', 'true') } catch (e) {}")
        browser.call("Page.navigate", session=browser.session, url=f"http://127.0.0.1:{port}/datasets/{ds.name}")
        t0 = time.monotonic()
        state: dict[str, Any] = {"text": "", "plots": 0}
        while time.monotonic() - t0 < 120:
            state = json.loads(browser.evaluate(_PAGE_STATE) or "{}") or state
            if all(n in state["text"] for n in needles) and state["plots"] > 0:
                break
            time.sleep(0.5)
        waited = time.monotonic() - t0
        time.sleep(1.0)  # let the grid's thumbnails and the plot finish drawing before the screenshot
        browser.screenshot(shot)
        text_file.write_text(state["text"], encoding="utf-8")
        print(f"App panel after {waited:.1f} s; screenshot: {shot}; page text: {text_file}")  # noqa: T201
        missing = [n for n in needles if n not in state["text"]]
        assert not missing, (f"panel text {missing} not in the App after {waited:.0f} s; page text: "
                             f"{state['text'][-1500:]!r}; page errors: {browser.exceptions[-3:]}")
        assert state["plots"] > 0, "the panel's taxonomy plot was not drawn"
        assert "Accelerate your workflow" not in state["text"]
        with Image.open(shot) as im:
            assert im.size == (1600, 1000)
            pixels = np.asarray(im.convert("L"), dtype=np.float64)
        # the panel (right half) is drawn, not a blank or single-colour page
        assert pixels[:, 800:].std() > 10
    finally:
        browser.close()
        session.close()


# --------------------------------------------------------------------------- snapshots (from_fiftyone)


def _row(r: Any) -> tuple[Any, ...]:
    """A record as plain data: coordinates rounded (the expected ones are whole pixels, computed by hand)."""
    v = r.value
    geom = tuple(round(getattr(v, a), 9) for a in ("x", "y", "width", "height") if hasattr(v, a))
    if hasattr(v, "points") and v.kind != "keypoints":
        geom = tuple(round(c, 9) for p in v.points for c in p)
    if v.kind == "keypoints":
        geom = tuple((p.name, round(p.x, 9), round(p.y, 9), p.visibility) for p in v.points)
    return (r.item_id, r.annotator_id, r.label_set, v.kind, r.label, geom, r.score, dict(r.attributes), r.region_id)


def _two_annotators_and_a_classifier(fo: Any) -> list[Any]:
    s1 = fo.Sample(filepath="/x/1.jpg", metadata=fo.ImageMetadata(width=200, height=100),
                   alice=fo.Detections(detections=[fo.Detection(label="car", bounding_box=[0.1, 0.2, 0.3, 0.4],
                                                                confidence=0.9, occluded=True)]),
                   bob=fo.Detections(detections=[_det(fo, "car", [0.1, 0.2, 0.25, 0.5])]),
                   weather=fo.Classification(label="day"))
    s2 = fo.Sample(filepath="/x/2.jpg", metadata=fo.ImageMetadata(width=640, height=480),
                   alice=fo.Detections(detections=[_det(fo, "bus", [0.5, 0.25, 0.25, 0.5]),
                                                   _det(fo, "person", [0.0, 0.0, 0.1, 0.1])]),
                   bob=fo.Detections(detections=[_det(fo, "bus", [0.5, 0.25, 0.25, 0.5])]),
                   weather=fo.Classification(label="night"))
    # alice looked and found nothing; bob and the classifier never looked (no metadata: none needed)
    s3 = fo.Sample(filepath="/x/3.jpg", alice=fo.Detections(detections=[]))
    return [s1, s2, s3]


def test_from_fiftyone_detections_and_classification_known_answer(fo_env: SimpleNamespace,
                                                                  new_dataset: Any) -> None:
    from accord.plugins.fiftyone import from_fiftyone

    fo = fo_env.fo
    ds = new_dataset(_two_annotators_and_a_classifier(fo))
    s1, s2, s3 = ds.values("id")
    a1, a2 = ds[s1].alice.detections[0].id, [d.id for d in ds[s2].alice.detections]
    b1, b2 = ds[s1].bob.detections[0].id, ds[s2].bob.detections[0].id
    w1, w2 = ds[s1].weather.id, ds[s2].weather.id
    out = from_fiftyone(ds, ["alice", "bob", "weather"], annotator_ids={"weather": "model:weather"})
    # pixels = relative x, w times the width; y, h times the height:
    # s1 (200 x 100): [0.1, 0.2, 0.3, 0.4] -> (20, 20, 60, 40); [0.1, 0.2, 0.25, 0.5] -> (20, 20, 50, 50)
    # s2 (640 x 480): [0.5, 0.25, 0.25, 0.5] -> (320, 120, 160, 240); [0, 0, 0.1, 0.1] -> (0, 0, 64, 48)
    assert [_row(r) for r in out.records] == [
        (s1, "alice", "detections", "box", "car", (20, 20, 60, 40), 0.9, {"occluded": True}, a1),
        (s2, "alice", "detections", "box", "bus", (320, 120, 160, 240), None, {}, a2[0]),
        (s2, "alice", "detections", "box", "person", (0, 0, 64, 48), None, {}, a2[1]),
        (s1, "bob", "detections", "box", "car", (20, 20, 50, 50), None, {}, b1),
        (s2, "bob", "detections", "box", "bus", (320, 120, 160, 240), None, {}, b2),
        (s1, "model:weather", "classification", "classification", "day", (), None, {}, w1),
        (s2, "model:weather", "classification", "classification", "night", (), None, {}, w2),
    ]
    assert sorted((s.item_id, s.annotator_id) for s in out.submissions) == sorted([
        (s1, "alice"), (s2, "alice"), (s3, "alice"), (s1, "bob"), (s2, "bob"),
        (s1, "model:weather"), (s2, "model:weather")])
    assert {i: (it.width, it.height, dict(it.data)) for i, it in out.items.items()} == {
        s1: (200, 100, {"filepath": "/x/1.jpg"}), s2: (640, 480, {"filepath": "/x/2.jpg"}),
        s3: (None, None, {"filepath": "/x/3.jpg"})}
    assert {n: (ls.kind, ls.labels, ls.multiple) for n, ls in out.schema.label_sets.items()} == {
        "classification": ("classification", ("day", "night"), False),
        "detections": ("box", ("bus", "car", "person"), True)}


def test_from_fiftyone_polylines_keypoints_classifications_and_computed_metadata(
        fo_env: SimpleNamespace, new_dataset: Any, tmp_path: Path) -> None:
    from PIL import Image

    from accord.plugins.fiftyone import from_fiftyone

    fo = fo_env.fo
    image = tmp_path / "40x20.png"
    Image.new("RGB", (40, 20)).save(image)  # no metadata on the sample: from_fiftyone computes it
    tri, line = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0]], [[0.25, 0.5], [1.0, 0.5]]
    ds = new_dataset([fo.Sample(
        filepath=str(image),
        shapes=fo.Polylines(polylines=[fo.Polyline(label="roof", points=[tri], closed=True),
                                       fo.Polyline(label="wire", points=[line])]),
        pose=fo.Keypoints(keypoints=[fo.Keypoint(label="person", points=[[0.5, 0.5], [float("nan")] * 2])]),
        tags_field=fo.Classifications(classifications=[fo.Classification(label="b"),
                                                       fo.Classification(label="a")]))])
    sid = ds.first().id
    out = from_fiftyone(ds, ["shapes", "pose", "tags_field"])
    # 40 x 20 pixels: x times 40, y times 20
    assert [_row(r)[:6] for r in out.records] == [
        (sid, "shapes", "polygons", "polygon", "roof", (0, 0, 20, 0, 20, 20)),
        (sid, "shapes", "polylines", "polyline", "wire", (10, 10, 40, 10)),
        (sid, "pose", "keypoints", "keypoints", "person", (("0", 20, 10, 2), ("1", 0, 0, 0))),
        (sid, "tags_field", "classifications", "multilabel", "a|b", ()),
    ]
    assert (out.items[sid].width, out.items[sid].height) == (40, 20)
    assert ds.first().metadata.width == 40


def test_from_fiftyone_bad_inputs(fo_env: SimpleNamespace, new_dataset: Any) -> None:
    from accord.core.errors import ConversionError
    from accord.plugins.fiftyone import from_fiftyone

    fo = fo_env.fo
    ds = new_dataset([fo.Sample(filepath="/nowhere/1.jpg", d=fo.Detections(detections=[_det(fo, "a", [0, 0, .5, .5])]),
                                seg=fo.Segmentation(mask=np.zeros((2, 2), dtype=np.uint8)))])
    for fields, kwargs, match in [
        (["seg"], {}, r"field 'seg'\] the field holds Segmentation, expected one of \['Classification', "
                      r"'Classifications', 'Detections', 'Keypoints', 'Polylines'\]"),
        (["nope"], {}, r"field 'nope'\] no such field in the collection; its fields are \["),
        (["frames.d"], {}, "frame-level fields"),
        ([], {}, "one or more distinct label fields"),
        (["d", "d"], {}, "one or more distinct label fields"),
        (["d"], {"annotator_ids": {"e": "x"}}, r"names fields \['e'\] that are not read"),
        (["d"], {}, "has regions but no image size"),  # /nowhere/1.jpg cannot be read
    ]:
        with pytest.raises(ConversionError, match=match):
            from_fiftyone(ds, fields, **kwargs)


def test_from_fiftyone_keeps_the_first_shape_of_a_multipart_polyline_with_a_warning(
        fo_env: SimpleNamespace, new_dataset: Any, caplog: pytest.LogCaptureFixture) -> None:
    from accord.plugins.fiftyone import from_fiftyone

    fo = fo_env.fo
    two = [[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0]], [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9]]]
    ds = new_dataset([fo.Sample(filepath="/x/1.jpg", metadata=fo.ImageMetadata(width=10, height=10),
                                p=fo.Polylines(polylines=[fo.Polyline(label="roof", points=two, closed=True)]))])
    with caplog.at_level("WARNING", logger="accord.plugins.fiftyone.convert"):
        out = from_fiftyone(ds, ["p"])
    assert [r.value.points for r in out.records] == [((0, 0), (5, 0), (5, 10))]
    assert "field 'p': 1 polylines have several shapes; only the first shape of each is kept" in caplog.text


def test_snapshot_of_a_fiftyone_dataset_then_diff(fo_env: SimpleNamespace, new_dataset: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Snapshot three label fields into a SQLite ledger, relabel one of bob's boxes, snapshot again:
    ``accord diff`` finds exactly that relabel. Bad sources are one-line errors that write nothing."""
    import json

    from accord.cli import main
    from accord.core.model import record_to_dict
    from accord.plugins.fiftyone import from_fiftyone
    from accord.store.ledger import Ledger

    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path}/ledger.db"
    ds = new_dataset(_two_annotators_and_a_classifier(fo_env.fo))
    live = ["snapshot", "--fiftyone", ds.name, "--field", "alice", "--field", "bob", "--field", "weather",
            "--db", db]
    assert main(["ledger", "init", "--db", db]) == 0
    assert main([*live, "--name", "fo-1"]) == 0
    expected = from_fiftyone(ds, ["alice", "bob", "weather"]).records
    s1 = ds.values("id")[0]
    sample = ds[s1]
    sample.bob.detections[0].label = "truck"
    sample.save()
    assert main([*live, "--name", "fo-2"]) == 0
    capsys.readouterr()
    for argv, match in [
        (["snapshot", "--fiftyone", "no-such-dataset", "--field", "a", "--db", db], "no FiftyOne dataset named"),
        (["snapshot", "--fiftyone", ds.name, "--db", db], "--fiftyone DATASET --field FIELD"),
        (["snapshot", "--field", "alice", "--db", db], "--fiftyone DATASET --field FIELD"),
        (["snapshot", "--fiftyone", ds.name, "--field", "filepath", "--db", db], "holds StringField"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert match in err, (argv, err)
        assert err.count("\n") == 1, err
        assert "Traceback" not in err
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "fiftyone", None)  # as if FiftyOne were not installed
        assert main([*live, "--name", "x"]) == 2
    assert "pip install 'accord[fiftyone]'" in capsys.readouterr().err
    with Ledger.open(db) as led:
        snaps = led.snapshots()
        stored = led.snapshot_records(led.get_snapshot("fo-1"))
    assert [s.name for s in snaps] == ["fo-1", "fo-2"]  # the failed ones wrote nothing
    assert snaps[0].source == f"fiftyone dataset {ds.name} fields alice,bob,weather"
    assert snaps[0].n_rows == len(expected) == 7

    def canon(recs: Any) -> list[str]:
        return sorted(json.dumps(record_to_dict(r), sort_keys=True) for r in recs)

    assert canon(stored) == canon(expected)  # every row as read
    assert main(["diff", "fo-1", "fo-2", "--format", "json", "--db", db]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [(c["change"], c["item_id"], c["annotator_id"], c["old_label"], c["new_label"]) for c in d["changes"]] == [
        ("relabeled", s1, "bob", "car", "truck")]
