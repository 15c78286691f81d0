"""Consensus for every region kind, skill-weighted (issue #20): the kernels of
:mod:`accord.core.qa.region_consensus` against hand-computed cases (the arithmetic is in each
comment), and one report-level test per kind through :func:`build_report`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accord.core.errors import InvalidAnnotationError
from accord.core.matching.geometry import match_regions
from accord.core.model import (
    Box,
    Cuboid,
    Dataset,
    Keypoint,
    Keypoints,
    Mask,
    Polygon,
    Record,
    Segment,
    Span,
    TextValue,
    Track,
    TrackFrame,
)
from accord.core.qa.region_consensus import (
    annotator_weights,
    cluster_regions,
    fuse_cuboid,
    fuse_tracks,
    polygon_raster,
    vote_rasters,
    vote_time_segments,
)
from accord.core.qa.report import ReportConfig, build_report
from accord.core.rle import encode

SCHEMA = Path(__file__).resolve().parents[1] / "core" / "data" / "report.schema.json"


# --------------------------------------------------------------------------- weights


def test_weights_come_from_gold_then_class_skill_then_uniform() -> None:
    # a has gold (0.9); b and c have none: the first class set that has a skill for both is used
    # ("first" lacks c, so "second" is chosen); c's 0.02 is raised to the floor 0.05.
    w = annotator_weights(["c", "a", "b"], gold_scores={"a": 0.9},
                          class_skills={"first": {"b": 0.7}, "second": {"b": 0.6, "c": 0.02}})
    assert w.annotator_ids == ("a", "b", "c")
    assert w.weights == pytest.approx((0.9, 0.6, 0.05))
    assert w.sources == ("gold", "class_consensus", "class_consensus")
    assert w.class_label_set == "second"
    assert w.to_dict()["weights"]["b"] == {"weight": 0.6, "source": "class_consensus"}


def test_without_a_class_skill_for_everyone_the_rest_weigh_the_mean_of_the_measured() -> None:
    # a: gold 0.9, b: gold 0.5; c has no gold and "cls" has no finite skill for c (None):
    # c is uniform and weighs the mean of the measured weights, (0.9 + 0.5) / 2 = 0.7.
    w = annotator_weights(["a", "b", "c"], gold_scores={"a": 0.9, "b": 0.5},
                          class_skills={"cls": {"c": None}})
    assert w.weights == pytest.approx((0.9, 0.5, 0.7))
    assert w.sources == ("gold", "gold", "uniform")
    assert w.of(["c", "stranger"]) == pytest.approx([0.7, 0.7])  # an unknown annotator: the uniform weight
    none = annotator_weights(["a", "b"], gold_scores={}, class_skills={})
    assert none.weights == (1.0, 1.0)  # nothing measured: all 1 (the unweighted fusion)
    with pytest.raises(InvalidAnnotationError, match="floor"):
        annotator_weights(["a"], gold_scores={}, class_skills={}, floor=0.0)


# --------------------------------------------------------------------------- rasters


def test_pixel_vote_needs_over_half_the_weight() -> None:
    # one row of 4 pixels; A (weight 2) marks 0-1, B (1) marks 1-2, C (1) marks 2-3; total 4, need > 2:
    # pixel 0: 2 (no), 1: 2 + 1 = 3 (yes), 2: 1 + 1 = 2 (no), 3: 1 (no).
    a, b, c = (np.array([[x in on for x in range(4)]]) for on in ((0, 1), (1, 2), (2, 3)))
    fused = vote_rasters([{"roof": a}, {"roof": b}, {"roof": c}], [2, 1, 1], shape=(1, 4))
    assert fused["roof"].tolist() == [[False, True, False, False]]
    # unweighted (total 3, need > 1.5): pixels 1 and 2 have two votes each
    plain = vote_rasters([{"roof": a}, {"roof": b}, {"roof": c}], [1, 1, 1], shape=(1, 4))
    assert plain["roof"].tolist() == [[False, True, True, False]]
    with pytest.raises(InvalidAnnotationError, match="expected"):
        vote_rasters([{"roof": a}, {"roof": np.zeros((2, 2), bool)}], [1, 1], shape=(1, 4))
    with pytest.raises(InvalidAnnotationError, match="weights must hold"):
        vote_rasters([{"roof": a}], [0], shape=(1, 4))


def test_polygon_raster_takes_the_pixels_whose_centre_is_inside() -> None:
    # the square x, y in [1, 3] holds the centres (1.5, 1.5), (2.5, 1.5), (1.5, 2.5), (2.5, 2.5):
    # rows 1-2, columns 1-2 of a 4 x 4 grid
    m = polygon_raster([(1, 1), (3, 1), (3, 3), (1, 3)], 4, 4)
    want = np.zeros((4, 4), bool)
    want[1:3, 1:3] = True
    assert m.tolist() == want.tolist()


# --------------------------------------------------------------------------- time axis


def test_time_vote_merges_the_runs_held_by_over_half_the_weight() -> None:
    # weights 0.5, 0.25, 0.25 (total 1, need > 0.5): A [0, 10], B [2, 6], C [4, 8], one speaker.
    # [0, 2]: 0.5 (no); [2, 4]: A+B 0.75; [4, 6]: 1.0; [6, 8]: A+C 0.75; [8, 10]: 0.5 (no) -> [2, 8].
    out = vote_time_segments([[(0, 10, "s1")], [(2, 6, "s1")], [(4, 8, "s1")]], [0.5, 0.25, 0.25])
    assert out == ((2.0, 8.0, "s1"),)
    # the same with A at weight 2 of 2.5 (need > 1.25): A alone holds [0, 10]
    assert vote_time_segments([[(0, 10, "s1")], [(2, 6, "s1")], [(4, 8, "s1")]], [2, 0.25, 0.25]) == (
        (0.0, 10.0, "s1"),)
    with pytest.raises(InvalidAnnotationError, match="start <= end"):
        vote_time_segments([[(3, 1, "s1")]], [1])


# --------------------------------------------------------------------------- cuboids and clustering


def _cuboid(x: float, yaw: float = 0.0, label: str = "car") -> Cuboid:
    return Cuboid(label=label, x=x, y=0, z=0, length=4, width=2, height=2, yaw=yaw)


def test_fused_cuboid_is_the_weighted_mean_with_a_circular_yaw() -> None:
    # weights 3 and 1: x = (3 * 0 + 1 * 4) / 4 = 1; yaw = atan2(3 sin 0 + sin(pi/2), 3 cos 0 + cos(pi/2))
    # = atan2(1, 3) = 0.3217505544; label by weight: car 3 > van 1.
    c = fuse_cuboid([_cuboid(0), _cuboid(4, math.pi / 2, "van")], [3, 1])
    assert (c.x, c.length, c.label) == (1.0, 4.0, "car")
    assert c.yaw == pytest.approx(math.atan2(1, 3))
    # yaws 3.1 and -3.1 (both near pi): the circular mean is pi, where an arithmetic mean says 0
    assert abs(fuse_cuboid([_cuboid(0, 3.1), _cuboid(0, -3.1)], [1, 1]).yaw) == pytest.approx(math.pi)


def test_clusters_start_from_the_heaviest_annotator() -> None:
    # annotator 1 (weight 3) is visited first and anchors both objects; annotator 0's cuboid at x=0.2
    # joins the one at x=0; annotator 2's cuboid at x=100 matches nothing and starts a third object.
    def match(ref: Any, cand: Any) -> Any:
        return match_regions(list(ref), list(cand), iou_threshold=0.5)

    values = [[_cuboid(0.2)], [_cuboid(0), _cuboid(20)], [_cuboid(100)]]
    assert cluster_regions(values, [1, 3, 1], match) == [[(1, 0), (0, 0)], [(1, 1)], [(2, 0)]]


# --------------------------------------------------------------------------- tracks


def _track(tid: str, label: str, boxes: dict[int, tuple[float, float, float, float]]) -> Track:
    return Track(label=label, track_id=tid, frames=tuple(
        TrackFrame(frame=f, x=x1, y=y1, width=x2 - x1, height=y2 - y1) for f, (x1, y1, x2, y2) in boxes.items()))


def test_tracks_fuse_per_frame_and_keep_their_identity() -> None:
    # weights A 2, B 1, C 1 (quorum: 2 of 3 annotators per fused box).
    # frame 0: A (0,0,10,10), B and C (2,0,12,10): x1 = (2*0 + 2 + 2) / 4 = 1, x2 = 11.
    # frame 1: A (1,0,11,10), B (3,0,13,10): x1 = (2*1 + 3) / 3 = 5/3, x2 = 35/3; its IoU with
    # frame 0's (1, 11) is (11 - 5/3) / (35/3 - 1) = 0.875 >= 0.5: the same consensus track.
    # A person B and C draw on frame 1 only starts consensus-1; C's lone box on frame 0 is dropped.
    a = [_track("a1", "car", {0: (0, 0, 10, 10), 1: (1, 0, 11, 10)})]
    b = [_track("b1", "car", {0: (2, 0, 12, 10), 1: (3, 0, 13, 10)}), _track("b2", "person", {1: (50, 50, 60, 60)})]
    c = [_track("c1", "car", {0: (2, 0, 12, 10)}), _track("c2", "person", {1: (50, 50, 60, 60)}),
         _track("c3", "dog", {0: (80, 80, 90, 90)})]
    fused = fuse_tracks([a, b, c], [2, 1, 1])
    assert [(t.track_id, t.label, sorted(t.boxes_xyxy)) for t in fused] == [
        ("consensus-0", "car", [0, 1]), ("consensus-1", "person", [1])]
    assert fused[0].boxes_xyxy[0] == pytest.approx((1, 0, 11, 10))
    assert fused[0].boxes_xyxy[1] == pytest.approx((5 / 3, 0, 35 / 3, 10))
    assert fused[1].boxes_xyxy[1] == pytest.approx((50, 50, 60, 60))


# --------------------------------------------------------------------------- the report, one test per kind


def _rec(item: str, who: str, name: str, value: Any, source: str = "human") -> Record:
    return Record(item_id=item, annotator_id=who, label_set=name, source=source, value=value)  # type: ignore[arg-type]


def _report(records: list[Record]) -> dict[str, Any]:
    import jsonschema

    from accord.report_html import render_html

    report = build_report(Dataset(records=tuple(records)), config=ReportConfig(n_bootstrap=20), checks=False)
    data = json.loads(json.dumps(dict(report), allow_nan=False))
    jsonschema.validate(data, json.loads(SCHEMA.read_text(encoding="utf-8")))
    html = render_html(data)
    for name, block in data["consensus"].items():
        if "weights" in block:
            assert f"{name} <span class='muted'>" in html
            assert "Fusion weights" in html
    return data


def _square(x: float, y: float, s: float = 4) -> Polygon:
    return Polygon(label="roof", points=((x, y), (x + s, y), (x + s, y + s), (x, y + s)))


def test_polygons_get_a_pixel_vote_in_the_report() -> None:
    # a and b draw the square [0, 4]^2 (16 pixels), c draws [10, 12]^2 (4 pixels) on the 12 x 12 grid
    # the polygons span; uniform weights: the fused roof is the 16-pixel square, one region.
    # c: intersection 0, union 16 + 4 = 20 -> IoU 0, and misses the consensus roof and adds one.
    recs = [_rec("1", "a", "roofs", _square(0, 0)), _rec("1", "b", "roofs", _square(0, 0)),
            _rec("1", "c", "roofs", _square(10, 10, 2))]
    block = _report(recs)["consensus"]["roofs"]
    assert block["method"].startswith("pixel-wise weighted vote")
    assert (block["n_items"], block["n_regions"], block["area_px"]) == (1, 1, 16)
    assert block["annotator_iou"]["a"] == {"iou": 1.0, "intersection_px": 16, "union_px": 16}
    assert block["annotator_iou"]["c"] == {"iou": 0.0, "intersection_px": 0, "union_px": 20}
    assert block["annotator_discrepancies"] == {"c": {"extra_object": 1, "missing_object": 1}}
    assert {w["source"] for w in block["weights"].values()} == {"uniform"}


def test_masks_get_a_pixel_vote_in_the_report() -> None:
    # 6 x 6 masks: a and b mark rows 0-2 x columns 0-2 (9 pixels), c marks rows 3-5 x columns 3-5.
    # Fused: a's 9 pixels; a IoU 9/9 = 1, c IoU 0 / (9 + 9) = 0.
    def mask(r: slice, c: slice) -> Mask:
        m = np.zeros((6, 6), bool)
        m[r, c] = True
        return Mask(label="cell", height=6, width=6, counts=encode(m))

    top, bottom = mask(slice(0, 3), slice(0, 3)), mask(slice(3, 6), slice(3, 6))
    block = _report([_rec("1", "a", "cells", top), _rec("1", "b", "cells", top),
                     _rec("1", "c", "cells", bottom)])["consensus"]["cells"]
    assert (block["n_regions"], block["area_px"]) == (1, 9)
    assert block["annotator_iou"]["b"]["iou"] == 1.0
    assert block["annotator_iou"]["c"] == {"iou": 0.0, "intersection_px": 0, "union_px": 18}


def test_keypoints_are_grouped_by_oks_and_averaged_in_the_report() -> None:
    # three close skeletons make one consensus skeleton; c's second skeleton far away is drawn by one
    # of three annotators (under the strict majority of 2) and is left out: c has one extra object.
    def sk(dx: float, dy: float) -> Keypoints:
        return Keypoints(label="person", points=(Keypoint(name="head", x=10 + dx, y=10 + dy),
                                                 Keypoint(name="foot", x=50 + dx, y=90 + dy)))

    recs = [_rec("1", "a", "pose", sk(0, 0)), _rec("1", "b", "pose", sk(1, 0)), _rec("1", "c", "pose", sk(0, 1)),
            _rec("1", "c", "pose", sk(300, 300))]
    block = _report(recs)["consensus"]["pose"]
    assert (block["n_items"], block["n_regions"]) == (1, 1)
    assert block["annotator_discrepancies"] == {"c": {"extra_object": 1}}


def test_spans_are_weighted_by_gold_in_the_report() -> None:
    # gold item g: PER [0, 5); a and b find it (F1 1), c marks [10, 15) (F1 0, weight floor 0.05).
    # item 1: a and c mark PER [0, 5), b nothing. Unweighted that is 2 of 3 (kept). Weighted, scaled to
    # the head count 3: a = b = 3 / 2.05 = 1.463, c = 0.073; a + c = 1.537 < quorum 2: no consensus span.
    per = Span(label="PER", start=0, end=5)
    recs = [_rec("g", "gold", "ner", per, "reference"), _rec("g", "a", "ner", per), _rec("g", "b", "ner", per),
            _rec("g", "c", "ner", Span(label="PER", start=10, end=15)),
            _rec("1", "a", "ner", per), _rec("1", "c", "ner", per),
            _rec("1", "b", "ner", Span(label="LOC", start=20, end=25))]
    block = _report(recs)["consensus"]["ner"]
    assert block["weights"]["a"] == {"weight": 1.0, "source": "gold"}
    assert block["weights"]["c"] == {"weight": 0.05, "source": "gold"}
    assert (block["n_items"], block["n_regions"]) == (1, 0)  # the gold item is left out
    assert block["annotator_discrepancies"] == {a: {"extra_object": 1} for a in "abc"}


def test_speaker_turns_get_a_time_vote_in_the_report() -> None:
    # a: S1 [0, 10], S2 [10, 20]; b: S1 [0, 12], S2 [12, 20]; c: S1 [0, 8], S2 [8, 20]; uniform, need 2 of 3.
    # S1: [0, 8] 3, [8, 10] a+b, [10, 12] b only -> [0, 10]; S2: [8, 10] c, [10, 12] a+c, [12, 20] 3 -> [10, 20].
    # b's turns have IoU 10/12 and 8/10 with them, c's 8/10 and 10/12: all under 0.9, boundary errors.
    def turns(who: str, cut: float) -> list[Record]:
        return [_rec("1", who, "turns", Segment(start=0, end=cut, speaker="S1")),
                _rec("1", who, "turns", Segment(start=cut, end=20, speaker="S2"))]

    block = _report(turns("a", 10) + turns("b", 12) + turns("c", 8))["consensus"]["turns"]
    assert (block["n_items"], block["n_regions"]) == (1, 2)
    assert block["annotator_discrepancies"] == {"b": {"boundary_error": 2}, "c": {"boundary_error": 2}}


def test_video_tracks_get_per_frame_fusion_in_the_report() -> None:
    # a, b, c follow one car over frames 0-1 (c 2 px to the right); c also tracks a dog nobody else sees.
    car = {0: (0, 0, 10, 10), 1: (1, 0, 11, 10)}
    recs = [_rec("v", "a", "objects", _track("a1", "car", car)), _rec("v", "b", "objects", _track("b1", "car", car)),
            _rec("v", "c", "objects", _track("c1", "car", {f: (x1 + 2, y1, x2 + 2, y2)
                                                           for f, (x1, y1, x2, y2) in car.items()})),
            _rec("v", "c", "objects", _track("c2", "dog", {0: (80, 80, 90, 90)}))]
    block = _report(recs)["consensus"]["objects"]
    assert block["method"].startswith("per-frame weighted box fusion")
    assert (block["n_items"], block["n_regions"]) == (1, 1)
    assert block["annotator_discrepancies"] == {"c": {"extra_object": 1}}


def test_cuboids_are_fused_in_the_report() -> None:
    recs = [_rec("s", "a", "cars3d", _cuboid(0)), _rec("s", "b", "cars3d", _cuboid(0.2)),
            _rec("s", "c", "cars3d", _cuboid(0.1)), _rec("s", "c", "cars3d", _cuboid(50))]
    block = _report(recs)["consensus"]["cars3d"]
    assert (block["n_items"], block["n_regions"]) == (1, 1)
    assert block["annotator_discrepancies"] == {"c": {"extra_object": 1}}


def test_transcripts_are_voted_with_gold_weights_in_the_report() -> None:
    # gold item g "hello world": a writes "hello word" (word accuracy 1/2), b is right (1.0).
    # item 1, two transcripts: the set median ties, and goes to the heavier annotator, b: "the cat sit";
    # a's "the cat sat" has 1 substitution in 3 words: WER 1/3.
    # item 2, three transcripts: ROVER keeps "the dog ran" (2 of 3 on every word).
    recs = [_rec("g", "gold", "asr", TextValue(text="hello world"), "reference"),
            _rec("g", "a", "asr", TextValue(text="hello word")), _rec("g", "b", "asr", TextValue(text="hello world")),
            _rec("1", "a", "asr", TextValue(text="the cat sat")), _rec("1", "b", "asr", TextValue(text="the cat sit")),
            _rec("2", "a", "asr", TextValue(text="the dog ran")), _rec("2", "b", "asr", TextValue(text="the dog ran")),
            _rec("2", "c", "asr", TextValue(text="a dog run"))]
    block = _report(recs)["consensus"]["asr"]
    assert block["weights"]["a"] == {"weight": 0.5, "source": "gold"}
    assert block["weights"]["b"] == {"weight": 1.0, "source": "gold"}
    assert block["transcripts"] == {"1": "the cat sit", "2": "the dog ran"}
    assert (block["n_items"], block["n_regions"], block["n_transcripts"]) == (2, 2, 2)
    # a: 1 error in item 1 (3 words) + 0 in item 2 (3 words) = 1/6
    assert block["annotator_wer"]["a"] == {"wer": round(1 / 6, 6), "word_errors": 1, "reference_words": 6}


def test_box_fusion_on_the_product_path_is_weighted_by_gold() -> None:
    # gold item g: a draws the gold box (F1 1); b and c miss it (F1 0 -> weight floor 0.05).
    # item 1: a (0,0,10,10), b and c (2,0,12,10). Fused x1 = (1*0 + 0.05*2 + 0.05*2) / 1.1 = 0.1818, x2 = 10.1818.
    # b vs it: IoU (10.1818 - 2) / (12 - 0.1818) = 9/13 = 0.6923 < 0.75: poor localization (b and c);
    # a: IoU 9.8182 / 10.1818 = 0.964. Unweighted, x1 = 4/3: a's IoU 8.667/11.333 = 0.765, b's 0.875, none.
    def box(x: float, y: float = 0) -> Box:
        return Box(label="car", x=x, y=y, width=10, height=10)

    recs = [_rec("g", "gold", "objects", box(0), "reference"), _rec("g", "a", "objects", box(0)),
            _rec("g", "b", "objects", box(50, 50)), _rec("g", "c", "objects", box(50, 50)),
            _rec("1", "a", "objects", box(0)), _rec("1", "b", "objects", box(2)), _rec("1", "c", "objects", box(2))]
    report = _report(recs)
    block = report["consensus"]["objects"]
    assert block["weights"] == {"a": {"weight": 1.0, "source": "gold"}, "b": {"weight": 0.05, "source": "gold"},
                                "c": {"weight": 0.05, "source": "gold"}}
    assert "truth_inference" in block
    vs = [d for d in report["errors"]["discrepancies"] if d["against"] == "consensus"]
    assert sorted((d["annotator_id"], d["category"]) for d in vs) == [("b", "poor_localization"),
                                                                      ("c", "poor_localization")]
    assert vs[0]["evidence"]["similarity"] == pytest.approx(9 / 13, abs=1e-6)


def test_box_weights_read_the_class_skill_of_a_later_class_set() -> None:
    # no gold: the box set's weights are the annotators' skills in the class set "scene", which
    # comes after it in the data (the region consensus runs after every class set's)
    recs: list[Record] = []
    for k in range(6):
        for who in "abc":
            recs.append(_rec(str(k), who, "objects", Box(label="car", x=k, y=0, width=10, height=10)))
    for k in range(6):
        for who, lab in zip("abc", ("day", "day", "night" if k % 2 else "day"), strict=True):
            recs.append(_rec(str(k), who, "scene", _class(lab)))
    report = _report(recs)
    block = report["consensus"]["objects"]
    skills = report["consensus"]["scene"]["annotator_reliability"]
    assert block["weights_class_label_set"] == "scene"
    assert {a: w["weight"] for a, w in block["weights"].items()} == pytest.approx(
        {a: max(0.05, s) for a, s in skills.items()})
    assert {w["source"] for w in block["weights"].values()} == {"class_consensus"}
    assert list(report["consensus"]) == ["objects", "scene"]  # the label sets keep their order


def _class(label: str) -> Any:
    from accord.core.model import Classification

    return Classification(label=label)


def test_an_item_whose_masks_differ_in_size_is_skipped_with_the_reason() -> None:
    # item 1's masks are 4 x 4 and 5 x 5: no common grid, so it is skipped (and says why); item 2 is fused
    def full(n: int) -> Mask:
        return Mask(label="cell", height=n, width=n, counts=encode(np.ones((n, n), bool)))

    from accord.core.qa.region_consensus import region_consensus
    from accord.core.qa.report import _region_matcher

    # (the report's agreement section refuses such an item first; the consensus alone skips it)
    recs = [_rec("1", "a", "cells", full(4)), _rec("1", "b", "cells", full(4)), _rec("1", "c", "cells", full(5)),
            *(_rec("2", who, "cells", full(3)) for who in "abc")]
    block, _ = region_consensus(Dataset(records=tuple(recs)), "cells", "mask", gold_items=frozenset(),
                                weights=annotator_weights(["a", "b", "c"], gold_scores={}, class_skills={}),
                                match=_region_matcher(ReportConfig()), iou_threshold=0.5)
    assert block is not None
    assert (block["n_items"], block["n_regions"], block["area_px"]) == (1, 1, 9)
    assert block["n_items_skipped"] == 1
    assert block["skipped"][0]["item_id"] == "1"
    assert "masks of different sizes" in block["skipped"][0]["reason"]


def test_the_glue_groups_the_label_set_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # 40 items of spans: region_consensus asks Dataset.grouped once and never Dataset.select
    from accord.core.qa.region_consensus import region_consensus
    from accord.core.qa.report import _region_matcher

    recs = [_rec(str(k), who, "ner", Span(label="PER", start=0, end=5 + (who == "c"))) for k in range(40)
            for who in "abc"]
    ds = Dataset(records=tuple(recs))
    calls = {"grouped": 0, "select": 0}
    grouped, select = Dataset.grouped, Dataset.select

    def count_grouped(self: Dataset, *args: Any, **kw: Any) -> Any:
        calls["grouped"] += 1
        return grouped(self, *args, **kw)

    def count_select(self: Dataset, *args: Any, **kw: Any) -> Any:
        calls["select"] += 1
        return select(self, *args, **kw)

    monkeypatch.setattr(Dataset, "grouped", count_grouped)
    monkeypatch.setattr(Dataset, "select", count_select)
    w = annotator_weights(["a", "b", "c"], gold_scores={}, class_skills={})
    block, found = region_consensus(ds, "ner", "span", gold_items=frozenset(), weights=w,
                                    match=_region_matcher(ReportConfig()), iou_threshold=0.5)
    assert calls == {"grouped": 1, "select": 0}
    assert block is not None
    # a and b agree on [0, 5) on every item; c's [0, 6) is a boundary error each time
    assert (block["n_items"], block["n_regions"], len(found)) == (40, 40, 40)
    assert block["annotator_discrepancies"] == {"c": {"boundary_error": 40}}
    assert region_consensus(ds, "ner", "polyline", gold_items=frozenset(), weights=w,
                            match=_region_matcher(ReportConfig()), iou_threshold=0.5) == (None, [])
