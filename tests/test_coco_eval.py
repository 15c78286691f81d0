"""COCO AP/AR: differential tests against pycocotools' COCOeval, known answers, errors."""

from __future__ import annotations

import contextlib
import doctest
import io
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import accord.core.matching.coco_eval as coco_eval_module
from accord.core.errors import InvalidAnnotationError
from accord.core.matching.coco_eval import STAT_NAMES, coco_evaluate
from accord.core.model import Box, Mask, Record
from accord.core.rle import encode


def _random_set(seed: int, *, n_img: int, per_image: int, n_cat: int, crowd: bool, ties: bool
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    gts: list[dict[str, Any]] = []
    dts: list[dict[str, Any]] = []

    def score() -> float:
        return float(np.round(rng.random(), 1)) if ties else float(rng.random())

    for img in range(1, n_img + 1):
        for _ in range(int(rng.integers(0, per_image + 1))):
            x, y = rng.uniform(0, 300, 2)
            w, h = rng.uniform(1, 150, 2)  # spans small, medium and large areas
            g = {"image_id": img, "category_id": int(rng.integers(1, n_cat + 1)), "bbox": [x, y, w, h],
                 "iscrowd": int(crowd and rng.random() < 0.15),
                 "area": float(w * h) if rng.random() < 0.7 else float(rng.uniform(0, 20000))}
            gts.append(g)
            for _ in range(int(rng.integers(0, 3))):
                j = rng.normal(0, 8, 4)
                cat = g["category_id"] if rng.random() < 0.8 else int(rng.integers(1, n_cat + 1))
                dts.append({"image_id": img, "category_id": cat, "score": score(),
                            "bbox": [x + j[0], y + j[1], max(w + j[2], 0.5), max(h + j[3], 0.5)]})
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0, 300, 2)
            w, h = rng.uniform(1, 150, 2)
            dts.append({"image_id": img, "category_id": int(rng.integers(1, n_cat + 1)),
                        "bbox": [x, y, w, h], "score": score()})
    return gts, dts


def _pycocotools(gts: list[dict[str, Any]], dts: list[dict[str, Any]], n_img: int, n_cat: int) -> COCOeval:
    dataset = {"images": [{"id": i} for i in range(1, n_img + 1)],
               "categories": [{"id": c} for c in range(1, n_cat + 1)],
               "annotations": [dict(g, id=k + 1) for k, g in enumerate(gts)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = gt.loadRes([dict(d) for d in dts])
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _arrays(gts: list[dict[str, Any]], dts: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    ref = {"image_id": [g["image_id"] for g in gts], "category": [g["category_id"] for g in gts],
           "bbox": np.array([g["bbox"] for g in gts]).reshape(-1, 4),
           "iscrowd": [g["iscrowd"] for g in gts], "area": [g["area"] for g in gts]}
    cand = {"image_id": [d["image_id"] for d in dts], "category": [d["category_id"] for d in dts],
            "bbox": np.array([d["bbox"] for d in dts]).reshape(-1, 4), "score": [d["score"] for d in dts]}
    return ref, cand


@pytest.mark.parametrize(
    ("seed", "n_img", "per_image", "n_cat", "crowd", "ties"),
    [(0, 12, 6, 3, True, False), (1, 20, 4, 2, False, False), (2, 8, 6, 4, True, True),
     (3, 1, 3, 1, False, False), (4, 15, 8, 3, True, False), (5, 3, 70, 2, True, False),
     (6, 10, 5, 5, False, True), (7, 25, 3, 3, True, False)],
)
def test_stats_equal_pycocotools(seed: int, n_img: int, per_image: int, n_cat: int, crowd: bool,
                                 ties: bool) -> None:
    gts, dts = _random_set(seed, n_img=n_img, per_image=per_image, n_cat=n_cat, crowd=crowd, ties=ties)
    if not dts:
        pytest.skip("pycocotools cannot load an empty result list")
    peer = _pycocotools(gts, dts, n_img, n_cat)
    ref, cand = _arrays(gts, dts)
    ours = coco_evaluate(ref, cand, image_ids=range(1, n_img + 1))
    np.testing.assert_allclose(ours.stats, peer.stats, rtol=0, atol=1e-6)
    # Categories that appear on neither side keep -1 in pycocotools and are absent here.
    cats = [int(c) for c in ours.categories]
    k = [c - 1 for c in cats]
    np.testing.assert_allclose(ours.precision, peer.eval["precision"][:, :, k], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.recall, peer.eval["recall"][:, k], rtol=0, atol=1e-12)


def test_more_than_100_detections_per_image_are_cut() -> None:
    # 150 detections on one image (maxDets = 100 applies per image and category).
    rng = np.random.default_rng(11)
    gts = [{"image_id": 1, "category_id": 1, "bbox": [float(10 * i), 0.0, 9.0, 9.0], "iscrowd": 0,
            "area": 81.0} for i in range(40)]
    dts = [{"image_id": 1, "category_id": 1, "bbox": [float(10 * (i % 40)) + 0.5, 0.5, 9.0, 9.0],
            "score": float(rng.random())} for i in range(150)]
    peer = _pycocotools(gts, dts, 1, 1)
    ref, cand = _arrays(gts, dts)
    np.testing.assert_allclose(coco_evaluate(ref, cand).stats, peer.stats, rtol=0, atol=1e-12)


def test_known_answer_perfect_and_half() -> None:
    # One image, two references; a perfect detection of each gives AP = AR = 1 at every threshold.
    ref = {"image_id": [1, 1], "category": ["cat", "dog"], "bbox": [[0, 0, 10, 10], [50, 50, 40, 40]]}
    cand = dict(ref, score=[0.9, 0.8])
    r = coco_evaluate(ref, cand)
    assert r.as_dict()["AP"] == pytest.approx(1.0)
    assert r.as_dict()["AR_100"] == pytest.approx(1.0)
    # 10x10 = 100 < 32^2 is small, 40x40 = 1600 in [32^2, 96^2] is medium; nothing is large (-1).
    assert r.as_dict()["AP_small"] == pytest.approx(1.0)
    assert r.as_dict()["AP_medium"] == pytest.approx(1.0)
    assert r.as_dict()["AP_large"] == -1.0
    # Drop the dog detection: cat AP 1, dog AP 0 -> mean over categories 0.5.
    half = coco_evaluate(ref, {"image_id": [1], "category": ["cat"], "bbox": [[0, 0, 10, 10]], "score": [1.0]})
    assert half.stats[0] == pytest.approx(0.5)
    assert half.per_category_ap() == {"cat": pytest.approx(1.0), "dog": pytest.approx(0.0)}
    assert len(STAT_NAMES) == len(r.stats) == 12


def test_records_input_equals_arrays() -> None:
    gts, dts = _random_set(3, n_img=6, per_image=5, n_cat=3, crowd=False, ties=False)
    ref, cand = _arrays(gts, dts)

    def box(b: list[float], c: int) -> Box:
        return Box(label=str(c), x=b[0], y=b[1], width=b[2], height=b[3])

    ref_records = [Record(item_id=str(g["image_id"]), annotator_id="gold", label_set="objects",
                          source="reference", value=box(g["bbox"], g["category_id"])) for g in gts]
    cand_records = [Record(item_id=str(d["image_id"]), annotator_id="model", label_set="objects",
                           source="model", score=d["score"], value=box(d["bbox"], d["category_id"]))
                    for d in dts]
    # Record areas are width * height; compare with arrays carrying the same areas.
    ref_wh = dict(ref, area=[g["bbox"][2] * g["bbox"][3] for g in gts])
    a = coco_evaluate(ref_wh, cand)
    b = coco_evaluate(ref_records, cand_records)
    np.testing.assert_allclose(a.stats, b.stats, rtol=0, atol=1e-12)


def test_errors() -> None:
    ref = {"image_id": [1], "category": [1], "bbox": [[0, 0, 1, 1]]}
    with pytest.raises(InvalidAnnotationError, match="needs a 'score' column"):
        coco_evaluate(ref, ref)
    with pytest.raises(InvalidAnnotationError, match="need a 'bbox' column"):
        coco_evaluate({"image_id": [1], "category": [1]}, dict(ref, score=[1.0]))
    with pytest.raises(InvalidAnnotationError, match="width, height >= 0"):
        coco_evaluate({"image_id": [1], "category": [1], "bbox": [[0, 0, -1, 1]]}, dict(ref, score=[1.0]))
    with pytest.raises(InvalidAnnotationError, match="iou_type must be 'bbox' or 'segm'"):
        coco_evaluate(ref, dict(ref, score=[1.0]), iou_type="keypoints")  # type: ignore[arg-type]
    with pytest.raises(InvalidAnnotationError, match="needs a 'segmentation' column"):
        coco_evaluate(ref, dict(ref, score=[1.0]), iou_type="segm")
    rotated = Record(item_id="1", annotator_id="a", label_set="o",
                     value=Box(label="x", x=0, y=0, width=1, height=1, rotation=30))
    with pytest.raises(InvalidAnnotationError, match="axis-aligned"):
        coco_evaluate([rotated], [rotated])


def _random_masks(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    rng = np.random.default_rng(seed)
    height, width = 40, 50
    n_img = int(rng.integers(1, 6))
    gts: list[dict[str, Any]] = []
    dts: list[dict[str, Any]] = []

    def blob() -> np.ndarray:
        m = np.zeros((height, width), dtype=bool)
        x, y = int(rng.integers(0, width - 2)), int(rng.integers(0, height - 2))
        m[y:y + int(rng.integers(1, height)), x:x + int(rng.integers(1, width))] = True
        if rng.random() < 0.3:
            m &= rng.random((height, width)) < 0.7
        return m

    def rle(m: np.ndarray) -> dict[str, Any]:
        return {"size": [height, width], "counts": list(encode(m))}

    for img in range(1, n_img + 1):
        for _ in range(int(rng.integers(0, 5))):
            m, cat = blob(), int(rng.integers(1, 3))
            gts.append({"image_id": img, "category_id": cat, "segmentation": rle(m), "bbox": [0, 0, 1, 1],
                        "iscrowd": int(rng.random() < 0.15),
                        "area": float(m.sum()) if rng.random() < 0.8 else float(rng.uniform(0, 2000))})
            for _ in range(int(rng.integers(0, 3))):
                shifted = np.roll(m, int(rng.integers(-3, 4)), axis=1)
                dts.append({"image_id": img, "category_id": cat, "segmentation": rle(shifted),
                            "score": float(rng.random())})
        for _ in range(int(rng.integers(0, 2))):
            dts.append({"image_id": img, "category_id": int(rng.integers(1, 3)), "segmentation": rle(blob()),
                        "score": float(rng.random())})
    return gts, dts, n_img


@pytest.mark.parametrize("seed", [0, 1, 2, 5, 8, 13])
def test_segm_stats_equal_pycocotools(seed: int) -> None:
    gts, dts, n_img = _random_masks(seed)
    if not dts:
        pytest.skip("pycocotools cannot load an empty result list")
    dataset = {"images": [{"id": i, "height": 40, "width": 50} for i in range(1, n_img + 1)],
               "categories": [{"id": 1}, {"id": 2}],
               "annotations": [dict(g, id=k + 1) for k, g in enumerate(gts)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        results = [dict(d, segmentation=mask_utils.frPyObjects(d["segmentation"], 40, 50)) for d in dts]
        ev = COCOeval(gt, gt.loadRes(results), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ref = {"image_id": [g["image_id"] for g in gts], "category": [g["category_id"] for g in gts],
           "segmentation": [g["segmentation"] for g in gts], "iscrowd": [g["iscrowd"] for g in gts],
           "area": [g["area"] for g in gts]}
    cand = {"image_id": [d["image_id"] for d in dts], "category": [d["category_id"] for d in dts],
            "segmentation": [d["segmentation"] for d in dts], "score": [d["score"] for d in dts]}
    ours = coco_evaluate(ref, cand, iou_type="segm", image_ids=range(1, n_img + 1))
    np.testing.assert_allclose(ours.stats, ev.stats, rtol=0, atol=1e-6)


def test_segm_accepts_mask_records() -> None:
    full = Mask(label="cell", height=4, width=4, counts=(0, 16))
    half = Mask(label="cell", height=4, width=4, counts=(0, 8, 8))  # left two columns
    ref = [Record(item_id="img", annotator_id="gold", label_set="s", value=full)]
    cand = [Record(item_id="img", annotator_id="m", label_set="s", value=half, score=0.9)]
    # IoU = 8 / 16 = 0.5: a hit at threshold 0.50 only -> AP = 1/10 over the ten thresholds, AP50 = 1.
    r = coco_evaluate(ref, cand, iou_type="segm")
    assert r.as_dict()["AP50"] == pytest.approx(1.0)
    assert r.as_dict()["AP"] == pytest.approx(0.1)
    with pytest.raises(InvalidAnnotationError, match="must hold Mask values"):
        coco_evaluate(ref, [Record(item_id="img", annotator_id="m", label_set="s",
                                   value=Box(label="cell", x=0, y=0, width=1, height=1))], iou_type="segm")


def test_doctests_run() -> None:
    result = doctest.testmod(coco_eval_module)
    assert result.attempted > 0
    assert result.failed == 0
