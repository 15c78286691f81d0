"""Each annotator as a detector against gold (accord.core.qa.annotator_eval): known answers and a
differential test against pycocotools' COCOeval on the same boxes."""

from __future__ import annotations

import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from accord.core.model import Box, Dataset, Polygon, Record
from accord.core.qa.annotator_eval import annotators_vs_gold_coco


def _box(item: str, who: str, label: str, x: float, y: float, w: float, h: float, source: str = "human",
         score: float | None = None) -> Record:
    return Record(item_id=item, annotator_id=who, label_set="objects", source=source,  # type: ignore[arg-type]
                  value=Box(label=label, x=x, y=y, width=w, height=h), score=score)


def test_an_annotator_who_copies_gold_scores_one_and_half_the_boxes_recall_half() -> None:
    gold = [_box(f"i{k}", "gold", "car", 10 * k, 5, 40, 30, "reference") for k in range(4)]
    exact = [_box(r.item_id, "ann", "car", r.value.x, r.value.y, 40, 30) for r in gold]  # type: ignore[union-attr]
    half = [_box(r.item_id, "bob", "car", r.value.x, r.value.y, 40, 30) for r in gold[:2]]  # type: ignore[union-attr]
    half += [Record(item_id=r.item_id, annotator_id="bob", label_set="other", value=Box(label="x", x=0, y=0,
                                                                                         width=1, height=1))
             for r in gold[2:]]  # bob labelled items i2, i3 but drew nothing in this label set
    out = annotators_vs_gold_coco(Dataset(records=(*gold, *exact, *half)), "objects")
    assert out["ann"] == {"n_images": 4, "AP": 1.0, "AP50": 1.0, "AP75": 1.0, "AR_100": 1.0}
    assert out["bob"]["n_images"] == 4
    assert out["bob"]["AR_100"] == 0.5
    assert "gold" not in out


def test_figures_equal_pycocotools_on_random_boxes() -> None:
    rng = np.random.default_rng(7)
    recs, gts, dts = [], [], []
    for img in range(1, 31):
        for _ in range(int(rng.integers(1, 5))):
            x, y, w, h = (*rng.uniform(0, 200, 2), *rng.uniform(10, 80, 2))
            cat = int(rng.integers(1, 3))
            recs.append(_box(f"im{img:02d}", "gold", f"c{cat}", x, y, w, h, "reference"))
            gts.append({"image_id": img, "category_id": cat, "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            if rng.random() < 0.85:
                j = rng.normal(0, 6, 4)
                bb = [x + j[0], y + j[1], max(w + j[2], 1.0), max(h + j[3], 1.0)]
                sc = float(rng.uniform(0.5, 1.0))
                recs.append(_box(f"im{img:02d}", "ann", f"c{cat}", *bb, score=sc))
                dts.append({"image_id": img, "category_id": cat, "bbox": bb, "score": sc})
        if rng.random() < 0.3:
            bb = [*rng.uniform(0, 200, 2), 30.0, 30.0]
            sc = float(rng.uniform(0.5, 1.0))
            recs.append(_box(f"im{img:02d}", "ann", "c1", *bb, score=sc))
            dts.append({"image_id": img, "category_id": 1, "bbox": bb, "score": sc})
    ours = annotators_vs_gold_coco(Dataset(records=tuple(recs)), "objects")["ann"]
    # a reviewer's tool may store a confidence per region (Record.score): it ranks the boxes, as
    # COCO ranks detections; distinct scores make the ranking independent of record order
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": i} for i in range(1, 31)], "categories": [{"id": 1}, {"id": 2}],
                      "annotations": [dict(g, id=k + 1) for k, g in enumerate(gts)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dts), "bbox")
        # an image where the annotator left no record is not one they labelled (no submission)
        ev.params.imgIds = sorted({d["image_id"] for d in dts})
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ref = {"AP": ev.stats[0], "AP50": ev.stats[1], "AP75": ev.stats[2], "AR_100": ev.stats[8]}
    for k, v in ref.items():
        assert abs(ours[k] - v) < 1e-6, (k, ours[k], v)


def test_kinds_coco_does_not_define_say_why_and_no_gold_gives_nothing() -> None:
    tri = Polygon(label="a", points=((0, 0), (10, 0), (5, 8)))
    recs = (Record(item_id="i", annotator_id="g", label_set="p", source="reference", value=tri),
            Record(item_id="i", annotator_id="h", label_set="p", value=tri))
    out = annotators_vs_gold_coco(Dataset(records=recs), "p")
    assert out["h"]["n_images"] == 1
    assert "boxes and masks" in out["h"]["note"]
    assert annotators_vs_gold_coco(Dataset(records=recs[1:]), "p") == {}


def _turn(item: str, who: str, start: float, end: float, speaker: str, source: str = "human") -> Record:
    from accord.core.model import Segment

    return Record(item_id=item, annotator_id=who, label_set="turns", source=source,  # type: ignore[arg-type]
                  value=Segment(start=start, end=end, speaker=speaker))


def test_diarization_error_rate_of_each_annotator_against_gold_by_hand() -> None:
    from accord.core.model import Submission
    from accord.core.qa.annotator_eval import annotators_vs_gold_der

    recs = (
        # item 1: gold A 0-10, B 10-20; ann says x 0-12, y 12-20: 2 s confused (NIST's example: DER 0.1)
        _turn("1", "gold", 0, 10, "A", "reference"), _turn("1", "gold", 10, 20, "B", "reference"),
        _turn("1", "ann", 0, 12, "x"), _turn("1", "ann", 12, 20, "y"),
        # item 2: gold A 0-10; ann submitted it with no turns: 10 s missed
        _turn("2", "gold", 0, 10, "A", "reference"),
        # item 3: ann only, no gold: not scored
        _turn("3", "ann", 0, 5, "x"),
    )
    subs = (*(Submission(item_id=i, annotator_id="ann") for i in ("2", "1", "3")),
            *(Submission(item_id=i, annotator_id="gold", source="reference") for i in ("1", "2")))
    out = annotators_vs_gold_der(Dataset(records=recs, submissions=subs), "turns")
    assert out == {"ann": {"n_items": 2, "der": 0.4, "missed": round(10 / 30, 6), "false_alarm": 0.0,
                           "confusion": round(2 / 30, 6), "total": 30.0}}
    assert annotators_vs_gold_der(Dataset(records=recs[2:4]), "turns") == {}
