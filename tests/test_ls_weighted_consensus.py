"""The Label Studio consensus prediction is fused with the report's annotator weights
(issue #20: "skill-weighted fusion ... in the report and in the Label Studio ... write-backs")."""

from __future__ import annotations

import pytest

from accord.core.model import Box, Dataset, Record, Span
from accord.core.qa.report import build_report
from accord.plugins.label_studio.writeback import consensus_records


def _box(a: str, x: float) -> Record:
    return Record(item_id="img", annotator_id=a, label_set="objects", value=Box(label="car", x=x, y=x, width=10,
                                                                                  height=10))


def test_boxes_are_fused_with_the_reports_weights() -> None:
    ds = Dataset(records=(_box("a", 0.0), _box("b", 1.0), _box("c", 0.5)))  # pairwise IoU >= 0.68: one region
    equal, _ = consensus_records(ds, {})
    (e,) = equal["img"]
    assert (e.value.x, e.value.y) == pytest.approx((0.5, 0.5))  # (0 + 1 + 0.5) / 3
    report = {"consensus": {"objects": {"weights": {"a": {"weight": 1.0, "source": "gold"},
                                                    "b": {"weight": 0.1, "source": "gold"},
                                                    "c": {"weight": 0.1, "source": "gold"}}}}}
    weighted, _ = consensus_records(ds, report)
    (w,) = weighted["img"]
    # reliability-weighted mean of the corners: (0 * 1.0 + 1 * 0.1 + 0.5 * 0.1) / 1.2 = 0.125
    assert (w.value.x, w.value.y) == pytest.approx((0.125, 0.125))
    assert w.value.x + w.value.width == pytest.approx(10.125)


def test_spans_vote_with_the_weights_scaled_to_the_head_count() -> None:
    def span(a: str, s: int, e: int) -> Record:
        return Record(item_id="t", annotator_id=a, label_set="ner", value=Span(label="PER", start=s, end=e))

    ds = Dataset(records=(span("a", 0, 5), span("b", 0, 5), span("c", 6, 9)))
    equal, _ = consensus_records(ds, {})
    assert [(r.value.start, r.value.end) for r in equal["t"]] == [(0, 5)]  # 2 of 3 heads
    # weights 0.2, 0.2, 2.0 scaled to sum 3: 0.25, 0.25, 2.5; the quorum is 2 (a strict majority of 3)
    report = {"consensus": {"ner": {"weights": {"a": {"weight": 0.2}, "b": {"weight": 0.2},
                                                "c": {"weight": 2.0}}}}}
    weighted, _ = consensus_records(ds, report)
    assert [(r.value.start, r.value.end) for r in weighted["t"]] == [(6, 9)]  # c alone holds 2.5 >= 2


def test_the_write_back_uses_the_weights_the_report_computed() -> None:
    # a gold item that a and b match and c misses (IoU 0 with gold): the report weighs c down to
    # the floor, and the write-back's fused box follows the report's weights, not an equal average
    gold = Record(item_id="g", annotator_id="gold", label_set="objects", source="reference",
                  value=Box(label="car", x=0, y=0, width=10, height=10))
    recs = [gold, Record(item_id="g", annotator_id="a", label_set="objects",
                         value=Box(label="car", x=0, y=0, width=10, height=10)),
            Record(item_id="g", annotator_id="b", label_set="objects",
                   value=Box(label="car", x=1, y=1, width=10, height=10)),
            Record(item_id="g", annotator_id="c", label_set="objects",
                   value=Box(label="car", x=30, y=30, width=10, height=10)),
            _box("a", 0.0), _box("b", 0.5), _box("c", 1.0)]
    ds = Dataset(records=tuple(recs))
    report = build_report(ds, checks=False)
    weights = report["consensus"]["objects"]["weights"]
    assert weights["a"]["weight"] >= weights["b"]["weight"] > weights["c"]["weight"]
    assert {v["source"] for v in weights.values()} == {"gold"}
    (fused,) = consensus_records(ds, report)[0]["img"]
    (plain,) = consensus_records(ds, {})[0]["img"]
    assert plain.value.x == pytest.approx(0.5)
    assert fused.value.x < 0.4  # pulled away from c's box at x = 1
