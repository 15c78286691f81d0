"""Model-vs-human scores (accord.core.qa.model_eval) and their report section.

Differential tests: scikit-learn (accuracy, per-class P/R/F1, macro-F1, Brier), statsmodels
(Wilson interval), pycocotools (COCO AP/AR); ECE against a loop written from Guo et al.
(2017), eq. 3, and a known answer worked by hand.
"""

from __future__ import annotations

import doctest
import json
import math
from typing import Any

import numpy as np
import pytest

import accord.core.qa.model_eval as model_eval_module
from accord.core.errors import InvalidAnnotationError
from accord.core.model import Box, Classification, Dataset, MultiLabel, Record, Segment, Span, Submission
from accord.core.qa.model_eval import (
    calibration,
    evaluate_classification,
    evaluate_regions,
    evaluate_spans,
    model_vs_human,
)
from accord.core.qa.report import build_report


def test_doctests_run() -> None:
    result = doctest.testmod(model_eval_module)
    assert result.attempted > 0
    assert result.failed == 0


# --------------------------------------------------------------------------- calibration


def test_ece_known_answer_by_hand() -> None:
    # Bins (0.8, 0.9]: confidences 0.9, 0.9, accuracy 1/2 -> |0.5 - 0.9| = 0.4, weight 2/5;
    # (0.5, 0.6]: 0.6, 0.6, 0.55 mean 0.58333, accuracy 1 -> 0.41667, weight 3/5.
    # ECE = 0.4 * 2/5 + (1 - 0.58333) * 3/5 = 0.16 + 0.25 = 0.41.
    # Brier = (0.1^2 + 0.9^2 + 0.4^2 + 0.4^2 + 0.45^2) / 5 = 1.3425 / 5 = 0.2685.
    c = calibration([0.9, 0.9, 0.6, 0.6, 0.55], [1, 0, 1, 1, 1])
    assert c.expected_calibration_error == pytest.approx(0.41)
    assert c.brier_loss == pytest.approx(0.2685)
    assert [b.n for b in c.bins] == [0, 0, 0, 0, 0, 3, 0, 0, 2, 0]
    assert c.bins[8].accuracy == pytest.approx(0.5)
    assert c.bins[5].mean_confidence == pytest.approx((0.6 + 0.6 + 0.55) / 3)


def _ece_loop(conf: np.ndarray, ok: np.ndarray, m: int = 10) -> float:
    """Guo et al. (2017) eq. 3, bins ((i-1)/M, i/M], written as a plain loop."""
    total = 0.0
    for i in range(1, m + 1):
        lo, hi = (i - 1) / m, i / m
        inside = [k for k, c in enumerate(conf) if (lo < c <= hi) or (i == 1 and c == 0.0)]
        if inside:
            acc = sum(ok[k] for k in inside) / len(inside)
            mean_c = sum(conf[k] for k in inside) / len(inside)
            total += len(inside) / len(conf) * abs(acc - mean_c)
    return total


def test_ece_matches_hand_loop_and_brier_matches_sklearn() -> None:
    from sklearn.metrics import brier_score_loss

    rng = np.random.default_rng(7)
    conf = rng.uniform(0, 1, 500)
    conf[:5] = [0.0, 0.1, 0.2, 0.5, 1.0]  # bin edges: (0.0, 0.1] holds 0 and 0.1; 1.0 the last bin
    ok = rng.uniform(0, 1, 500) < conf
    c = calibration(conf, ok)
    assert c.expected_calibration_error == pytest.approx(_ece_loop(conf, ok), abs=1e-12)
    assert c.brier_loss == pytest.approx(brier_score_loss(ok.astype(int), conf), abs=1e-12)
    assert sum(b.n for b in c.bins) == 500
    assert c.bins[0].n == int(np.sum(conf <= 0.1))


def test_calibration_perfect_and_empty() -> None:
    assert calibration([1.0, 1.0], [1, 1]).expected_calibration_error == 0.0
    c = calibration([], [])
    assert c.n == 0
    assert math.isnan(c.expected_calibration_error)
    assert math.isnan(c.brier_loss)


@pytest.mark.parametrize(("conf", "ok", "match"), [
    ([1.5], [1], r"in \[0, 1\]"), ([float("nan")], [1], "finite"), ([0.5, 0.5], [1], "same length")])
def test_calibration_rejects_bad_input(conf: list[float], ok: list[int], match: str) -> None:
    with pytest.raises(InvalidAnnotationError, match=match):
        calibration(conf, ok)


# --------------------------------------------------------------------------- classification


def test_classification_matches_sklearn() -> None:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
    from statsmodels.stats.proportion import proportion_confint

    rng = np.random.default_rng(3)
    classes = ["a", "b", "c", "d"]
    items = [f"i{k}" for k in range(80)]
    ref = {i: str(rng.choice(classes[:3])) for i in items}  # "d" is only ever predicted
    cand: dict[str, tuple[str, float | None]] = {}
    for i in items:
        lab = ref[i] if rng.uniform() < 0.7 else str(rng.choice(classes))
        cand[i] = (lab, float(rng.uniform(0.3, 1.0)))
    cand["extra"] = ("a", 0.9)  # no human label: not scored
    del cand["i0"]  # no prediction: not scored
    e = evaluate_classification(ref, cand)
    scored = sorted(set(ref) & set(cand))
    y_ref = [ref[i] for i in scored]
    y_cand = [cand[i][0] for i in scored]
    assert e.n_items == len(scored) == 79
    assert e.n_unpredicted == 1
    assert e.n_unreferenced == 1
    assert e.accuracy.estimate == pytest.approx(accuracy_score(y_ref, y_cand))
    lo, hi = proportion_confint(e.n_correct, e.n_items, alpha=0.05, method="wilson")
    assert (e.accuracy.low, e.accuracy.high) == (pytest.approx(lo), pytest.approx(hi))
    assert e.macro_f1_score() == pytest.approx(f1_score(y_ref, y_cand, average="macro", zero_division=0))
    p, r, f, s = precision_recall_fscore_support(y_ref, y_cand, labels=classes, zero_division=0)
    assert [c.label for c in e.per_class] == classes
    assert [c.precision_score() for c in e.per_class] == pytest.approx(list(p))
    assert [c.recall_score() for c in e.per_class] == pytest.approx(list(r))
    assert [c.f1_score() for c in e.per_class] == pytest.approx(list(f))
    assert [c.n_reference for c in e.per_class] == list(s)
    assert e.calibration is not None
    assert e.calibration.n == 79
    conf = np.array([cand[i][1] for i in scored])
    ok = np.array([cand[i][0] == ref[i] for i in scored])
    assert e.calibration.expected_calibration_error == pytest.approx(_ece_loop(conf, ok))


def test_classification_without_scores_has_no_calibration() -> None:
    e = evaluate_classification({"a": "x"}, {"a": ("x", None)})
    assert e.calibration is None
    assert e.n_unscored == 1
    assert e.n_correct == 1


# --------------------------------------------------------------------------- regions


def _box(item: str, who: str, label: str, xywh: tuple[float, float, float, float], *, score: float | None = None,
         source: Any = "human") -> Record:
    x, y, w, h = xywh
    return Record(item_id=item, annotator_id=who, label_set="objects", source=source, score=score,
                  value=Box(label=label, x=x, y=y, width=w, height=h))


def _detection_dataset(seed: int = 11) -> Dataset:
    rng = np.random.default_rng(seed)
    cats = ["car", "person", "bike"]
    recs: list[Record] = []
    subs: list[Submission] = []
    for k in range(15):
        item = f"img{k}"
        subs += [Submission(item_id=item, annotator_id="ann", source="human"),
                 Submission(item_id=item, annotator_id="model:v1", source="model")]
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(0, 300, 2)
            w, h = rng.uniform(8, 140, 2)
            lab = str(rng.choice(cats))
            recs.append(_box(item, "ann", lab, (x, y, w, h)))
            if rng.uniform() < 0.8:  # the model finds it, jittered, sometimes with the wrong class
                j = rng.normal(0, 6, 4)
                mlab = lab if rng.uniform() < 0.85 else str(rng.choice(cats))
                recs.append(_box(item, "model:v1", mlab, (x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])),
                                 score=float(rng.uniform(0.2, 1.0)), source="model"))
        for _ in range(int(rng.integers(0, 2))):  # false alarms
            recs.append(_box(item, "model:v1", str(rng.choice(cats)), (*rng.uniform(0, 300, 2), 30.0, 30.0),
                             score=float(rng.uniform(0.0, 0.6)), source="model"))
    return Dataset(records=tuple(recs), submissions=tuple(subs))


def test_box_coco_figures_match_pycocotools() -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ds = _detection_dataset()
    out = model_vs_human(ds)["objects"]["models"]["model:v1"]
    items = sorted({s.item_id for s in ds.submissions})
    img_id = {i: n + 1 for n, i in enumerate(items)}
    cats = sorted({r.value.label for r in ds.records})  # type: ignore[union-attr]
    cat_id = {c: n + 1 for n, c in enumerate(cats)}
    human = [r for r in ds.records if r.source == "human"]
    gt = {"images": [{"id": img_id[i], "width": 500, "height": 500} for i in items],
          "categories": [{"id": cat_id[c], "name": c} for c in cats],
          "annotations": [{"id": n + 1, "image_id": img_id[r.item_id], "category_id": cat_id[r.value.label],
                           "bbox": [r.value.x, r.value.y, r.value.width, r.value.height],  # type: ignore[union-attr]
                           "area": r.value.width * r.value.height, "iscrowd": 0}  # type: ignore[union-attr]
                          for n, r in enumerate(human)]}
    dets = [{"image_id": img_id[r.item_id], "category_id": cat_id[r.value.label],  # type: ignore[union-attr]
             "bbox": [r.value.x, r.value.y, r.value.width, r.value.height],  # type: ignore[union-attr]
             "score": r.score} for r in ds.records if r.source == "model"]
    coco_gt = COCO()
    coco_gt.dataset = gt
    coco_gt.createIndex()
    ev = COCOeval(coco_gt, coco_gt.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    for key, k in (("AP", 0), ("AP50", 1), ("AP75", 2), ("AR_100", 8)):
        assert out["coco"][key] == pytest.approx(ev.stats[k], abs=1e-6), key
    # Images where neither side drew a box are outside the label set's scope (they change no figure).
    assert out["n_images"] == len({r.item_id for r in ds.records}) < 15
    assert out["n_reference"] == len(human)


def test_region_counts_at_iou_half_by_hand() -> None:
    # Human: two cars. Model: one car overlapping the first (IoU 90/110 = 0.818), a person on the
    # second (wrong class: no match, label-aware) and nothing else -> tp 1, P 1/2, R 1/2, F1 0.5.
    ref = [_box("1", "h", "car", (0, 0, 10, 10)), _box("1", "h", "car", (50, 50, 10, 10))]
    cand = [_box("1", "m", "car", (1, 0, 10, 10), score=0.9, source="model"),
            _box("1", "m", "person", (50, 50, 10, 10), score=0.8, source="model")]
    e = evaluate_regions([("1", ref, cand)])
    assert (e.tp, e.n_reference, e.n_candidate) == (1, 2, 2)
    assert e.f1_score() == pytest.approx(0.5)
    per = {c.label: c for c in e.per_label}
    assert per["car"].recall_score() == pytest.approx(0.5)
    assert per["person"].precision_score() == 0.0
    # COCO AP50: "person" has no human box, so it is left out of the mean; "car" has precision 1 up to
    # recall 1/2, i.e. at 51 of COCO's 101 recall points (0.00 ... 0.50): AP50 = 51/101.
    assert e.coco is not None
    assert e.coco["AP50"] == pytest.approx(51 / 101)


def test_rotated_boxes_skip_coco_with_a_note() -> None:
    ref = [Record(item_id="1", annotator_id="h", label_set="o",
                  value=Box(label="car", x=0, y=0, width=10, height=10, rotation=30.0))]
    e = evaluate_regions([("1", ref, ref)])
    assert e.coco is None
    assert e.coco_note is not None
    assert "rotated" in e.coco_note
    assert e.tp == 1


def test_several_humans_pool_the_model_against_each() -> None:
    recs = [_box("1", "h1", "car", (0, 0, 10, 10)), _box("1", "h2", "car", (40, 40, 10, 10)),
            _box("1", "m", "car", (0, 0, 10, 10), score=0.9, source="model")]
    out = model_vs_human(Dataset(records=tuple(recs)))["objects"]
    s = out["models"]["m"]
    assert out["n_human_annotators"] == 2
    assert (s["n_images"], s["tp"], s["n_reference"], s["n_candidate"]) == (2, 1, 2, 2)


# --------------------------------------------------------------------------- spans


def test_span_f1_known_answer() -> None:
    def sp(who: str, label: str, a: int, b: int, source: Any = "human") -> Record:
        return Record(item_id="d", annotator_id=who, label_set="ner", source=source,
                      value=Span(label=label, start=a, end=b))
    ref = [sp("h", "PER", 0, 5), sp("h", "LOC", 10, 16), sp("h", "ORG", 20, 25)]
    cand = [sp("m", "PER", 0, 5, "model"), sp("m", "LOC", 10, 15, "model")]  # one exact, one off by one
    s = evaluate_spans([(ref, cand)])
    # tp 1; P = 1/2, R = 1/3, F1 = 2/(3+2) = 0.4
    assert (s.micro.tp, s.micro.n_reference, s.micro.n_candidate) == (1, 3, 2)
    assert s.f1_score() == pytest.approx(0.4)
    out = model_vs_human(Dataset(records=(*ref, *cand)))["ner"]["models"]["m"]
    assert out["f1"] == pytest.approx(0.4)
    assert out["n_documents"] == 1


# --------------------------------------------------------------------------- the report


def _one_human_and_model() -> Dataset:
    rng = np.random.default_rng(5)
    recs: list[Record] = []
    for k in range(40):
        lab = str(rng.choice(["pos", "neg"]))
        pred = lab if rng.uniform() < 0.8 else ("neg" if lab == "pos" else "pos")
        recs.append(Record(item_id=f"t{k}", annotator_id="alice@example.com", label_set="sentiment",
                           value=Classification(label=lab)))
        recs.append(Record(item_id=f"t{k}", annotator_id="model:v1", label_set="sentiment", source="model",
                           score=float(rng.uniform(0.5, 1.0)), value=Classification(label=pred)))
    return Dataset(records=tuple(recs))


def test_report_scores_the_model_when_agreement_is_undefined() -> None:
    ds = _one_human_and_model()
    rep = build_report(ds, checks=False)
    assert rep["agreement"]["sentiment"]["primary"] is None  # one human: agreement undefined
    s = rep["model_vs_human"]["sentiment"]["models"]["model:v1"]
    ref = {r.item_id: r.value.label for r in ds.records if r.source == "human"}  # type: ignore[union-attr]
    n_ok = sum(ref[r.item_id] == r.value.label for r in ds.records if r.source == "model")  # type: ignore[union-attr]
    assert (s["n_items"], s["n_correct"]) == (40, n_ok)
    assert rep["model_vs_human"]["sentiment"]["reference"] == {"n_items": 40, "n_single_human": 40,
                                                               "n_consensus": 0}
    assert s["calibration"]["n"] == 40
    assert len(s["calibration"]["bins"]) == 10
    lines = [h for h in rep["summary"]["headline"] + rep["summary"]["headline_more"] if "model_vs_human" in h]
    assert len(lines) == 1
    assert f"accuracy {n_ok / 40:.3f}" in lines[0]
    json.dumps(rep, allow_nan=False)  # JSON-ready: no NaN


def test_report_without_model_records_has_no_section() -> None:
    recs = tuple(r for r in _one_human_and_model().records if r.source == "human")
    rep = build_report(Dataset(records=recs), checks=False)
    assert "model_vs_human" not in rep
    assert not any("model_vs_human" in h for h in rep["summary"]["headline"])


def test_html_renders_the_section() -> None:
    from accord.report_html import render_html

    html = render_html(build_report(_one_human_and_model(), checks=False))
    assert 'id="model_vs_human"' in html
    assert "Reliability bins" in html
    assert "ECE" in html


def test_other_region_kinds_get_matched_counts_without_coco() -> None:
    # Segments [0, 10] vs [1, 10] (IoU 0.9, a match) and [20, 30] vs nothing: tp 1, P 1, R 1/2.
    recs = (Record(item_id="a", annotator_id="h", label_set="events", value=Segment(start=0, end=10, label="cough")),
            Record(item_id="a", annotator_id="h", label_set="events", value=Segment(start=20, end=30, label="cough")),
            Record(item_id="a", annotator_id="m", label_set="events", source="model", score=0.7,
                   value=Segment(start=1, end=10, label="cough")))
    s = model_vs_human(Dataset(records=recs))["events"]["models"]["m"]
    assert (s["tp"], s["n_reference"], s["n_candidate"]) == (1, 2, 1)
    assert s["recall"] == pytest.approx(0.5)
    assert s["coco"] is None
    assert "boxes and masks" in s["coco_note"]


def test_unscored_kinds_are_listed_with_a_note() -> None:
    recs = (Record(item_id="a", annotator_id="h", label_set="tags", value=MultiLabel(labels=("x", "y"))),
            Record(item_id="a", annotator_id="m", label_set="tags", source="model", value=MultiLabel(labels=("x",))))
    out = model_vs_human(Dataset(records=recs))["tags"]
    assert out["models"] == {}
    assert "multilabel" in out["note"]


def test_one_human_report_is_schema_valid() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from importlib import resources

    schema = json.loads((resources.files("accord.core") / "data" / "report.schema.json").read_text())
    rep = json.loads(json.dumps(build_report(_one_human_and_model(), checks=False)))
    jsonschema.validate(rep, schema)
    bad = {**rep, "model_vs_human": {"sentiment": {"kind": "classification"}}}  # no models: invalid
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
