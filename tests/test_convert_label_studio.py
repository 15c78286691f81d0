"""Label Studio converters: real 1.23 payloads, every control type, round trips, error paths."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.core import rle
from accord.core.errors import ConversionError
from accord.core.model import (
    Box,
    Classification,
    Keypoint,
    Keypoints,
    Mask,
    MultiLabel,
    Numeric,
    Polygon,
    Record,
    Segment,
    Span,
    TextValue,
    Track,
    TrackFrame,
)
from accord.plugins.label_studio.brush import decode_brush_rle, encode_brush_rle
from accord.plugins.label_studio.config import parse_label_config, parse_label_config_full
from accord.plugins.label_studio.convert import (
    from_label_studio_export,
    from_label_studio_task,
    ls_box_to_pixels,
    pixels_to_ls_box,
    to_label_studio_prediction,
)

FIX = Path(__file__).parent / "fixtures" / "label_studio"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FULL_CONFIG = """
<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="boxes" toName="image"><Label value="Car"/><Label value="Person"/></RectangleLabels>
  <PolygonLabels name="polys" toName="image"><Label value="Road"/></PolygonLabels>
  <KeyPointLabels name="kps" toName="image"><Label value="Nose"/></KeyPointLabels>
  <BrushLabels name="brush" toName="image"><Label value="Sky"/></BrushLabels>
  <Choices name="weather" toName="image" choice="single"><Choice value="Sunny"/><Choice value="Rain"/></Choices>
  <Choices name="tags" toName="image" choice="multiple"><Choice value="a"/><Choice value="b"/></Choices>
  <Choices name="occl" toName="image" perRegion="true"><Choice value="yes"/><Choice value="no"/></Choices>
  <Taxonomy name="tax" toName="image"><Choice value="Animal"><Choice value="Cat"/></Choice></Taxonomy>
  <Rating name="quality" toName="image" maxRating="4"/>
  <Number name="count" toName="image" min="0" max="99"/>
  <Text name="text" value="$text"/>
  <Labels name="ner" toName="text"><Label value="PER"/><Label value="ORG"/></Labels>
  <Audio name="audio" value="$audio"/>
  <Labels name="speaker" toName="audio"><Label value="Agent"/></Labels>
  <TextArea name="transcript" toName="audio" perRegion="true"/>
  <Choices name="speaker_id" toName="audio" perRegion="true"><Choice value="S1"/><Choice value="S2"/></Choices>
  <TextArea name="comment" toName="text"/>
  <Paragraphs name="dialogue" value="$dialogue"/>
  <ParagraphLabels name="plabels" toName="dialogue"><Label value="Q"/></ParagraphLabels>
  <Video name="video" value="$video"/>
  <Labels name="vlabels" toName="video"><Label value="Car"/></Labels>
  <VideoRectangle name="track" toName="video"/>
  <Ellipse name="ell" toName="image"/>
</View>"""


def _load(name: str) -> Any:
    return json.loads((FIX / name).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- labeling config


def test_config_maps_every_control_to_its_kind() -> None:
    cfg = parse_label_config_full(FULL_CONFIG)
    kinds = {n: ls.kind for n, ls in cfg.schema.label_sets.items()}
    assert kinds == {
        "boxes": "box", "polys": "polygon", "kps": "keypoints", "brush": "mask", "weather": "classification",
        "tags": "multilabel", "occl": "classification", "tax": "classification", "quality": "numeric",
        "count": "numeric", "ner": "span", "speaker": "segment", "transcript": "text", "comment": "text",
        "speaker_id": "classification",
        "plabels": "span", "track": "track",
    }
    s = cfg.schema
    assert s["boxes"].labels == ("Car", "Person")
    assert s["tax"].labels == ("Animal", "Cat")
    assert s["quality"].scale == "ordinal"
    assert s["quality"].labels == ("1", "2", "3", "4")
    assert s["count"].scale == "interval"
    assert s["count"].extra["max"] == 99.0
    assert s["transcript"].extra["per_region"] is True
    assert s["comment"].extra["per_region"] is False
    assert s["track"].labels == ("Car",)  # from the Labels over the same Video
    assert s["ner"].to_name == "text"
    assert cfg.unsupported == ("Ellipse name='ell'",)


def test_config_errors() -> None:
    with pytest.raises(ConversionError, match="not valid XML"):
        parse_label_config("<View><Choices")
    with pytest.raises(ConversionError, match="has no name"):
        parse_label_config('<View><Text name="t" value="$t"/><Choices toName="t"/></View>')


# --------------------------------------------------------------------------- real LS 1.23 payloads


def test_json_export_bbox_known_pixels() -> None:
    ds = from_label_studio_export(_load("export_as_json_bbox.json"))
    first = [r for r in ds.records if r.item_id == "1"]
    # value x=5%, y=10%, w=20%, h=30% of 640x480 -> 32, 48, 128, 144 pixels.
    assert first[0].value == Box(label="Cat", x=32.0, y=48.0, width=128.0, height=144.0)
    assert first[0].annotator_id == "user:1"
    assert first[0].duration_s == 1.5
    assert first[1].annotator_id == "user:2"
    assert first[1].value.label == "Dog"
    assert ds.items["1"].width == 640
    assert ds.items["1"].height == 480
    assert ds.items["1"].data["image"] == "https://example.com/img0.jpg"
    assert all(r.source == "human" for r in ds.records)  # predictions are ids only in this export


def test_snapshot_has_emails_and_model_predictions() -> None:
    ds = from_label_studio_export(_load("export_snapshot_full.json"))
    assert set(ds.annotators()) == {"admin@example.com", "annotator2@example.com"}
    preds = ds.select(source="model")
    assert preds
    assert all(r.annotator_id == "model:manual-v1" and r.score == 0.9 for r in preds)
    assert preds[0].value == Box(label="Cat", x=38.4, y=48.0, width=128.0, height=144.0)


def test_single_task_from_api() -> None:
    task = _load("task_get.json")
    ds = from_label_studio_task(task)
    assert {r.annotator_id for r in ds.records} == {"admin@example.com", "annotator2@example.com", "model:manual-v1"}
    assert from_label_studio_export(task).records == ds.records


def test_text_export_and_json_min() -> None:
    config = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
              '<Choice value="Positive"/><Choice value="Negative"/></Choices></View>')
    full = from_label_studio_export(_load("export_download_sync_text.json"), config)
    mini = from_label_studio_export(_load("export_json_min_text.json"), config)
    key = sorted((r.item_id, r.annotator_id, r.label) for r in full.records)
    assert sorted((r.item_id, r.annotator_id, r.label) for r in mini.records) == key
    assert mini.items["4"].data["text"] == "good movie"
    with pytest.raises(ConversionError, match=r"JSON_MIN.*labeling config"):
        from_label_studio_export(_load("export_json_min_text.json"))


# --------------------------------------------------------------------------- annotation semantics


def _task(results: list[dict[str, Any]], **ann: Any) -> dict[str, Any]:
    return {"id": 7, "data": {"image": "x.jpg", "lang": "de", "meta": {"site": "a"}}, "meta": {"cam": 1},
            "annotations": [{"id": 3, "completed_by": 5, "result": results, **ann}]}


def test_ground_truth_cancelled_and_empty() -> None:
    res = [{"from_name": "weather", "to_name": "image", "type": "choices", "value": {"choices": ["Rain"]}}]
    gold = from_label_studio_task(_task(res, ground_truth=True), FULL_CONFIG, meta_keys=["lang"])
    r = gold.records[0]
    assert (r.source, r.annotator_id, r.value) == ("reference", "user:5", Classification(label="Rain"))
    assert dict(r.meta) == {"site": "a", "cam": 1, "lang": "de"}
    cancelled = from_label_studio_task(_task(res, was_cancelled=True), FULL_CONFIG)
    assert cancelled.records == ()
    assert cancelled.submissions[0].was_cancelled
    empty = from_label_studio_task(_task([]), FULL_CONFIG)
    assert empty.records == ()
    assert len(empty.submissions) == 1
    assert empty.grouped("weather") == {"7": {"user:5": []}}


def test_rotation_about_top_left_is_exact() -> None:
    # A 20x10 px box at corner (10, 10) rotated 90 degrees clockwise about that corner
    # (Label Studio): its centre is (10 - 5, 10 + 10) = (5, 20), so accord's unrotated
    # top-left is (5 - 10, 20 - 5) = (-5, 15); corners()[0] is back at (10, 10).
    x, y, w, h, rot = ls_box_to_pixels(10, 10, 20, 10, 90, 100, 100)
    assert (x, y, w, h, rot) == pytest.approx((-5, 15, 20, 10, 90))
    box = Box(label="a", x=x, y=y, width=w, height=h, rotation=rot)
    assert box.corners()[0] == pytest.approx([10, 10])
    assert pixels_to_ls_box(x, y, w, h, rot, 100, 100) == pytest.approx((10, 10, 20, 10))


def test_every_result_type() -> None:
    m = np.zeros((4, 6), dtype=bool)
    m[1:3, 2:5] = True
    size = {"original_width": 6, "original_height": 4}
    results: list[dict[str, Any]] = [
        {"id": "b", "from_name": "boxes", "to_name": "image", "type": "rectanglelabels", **size,
         "value": {"x": 0, "y": 0, "width": 50, "height": 50, "rotation": 0, "rectanglelabels": ["Car"]}},
        {"id": "b", "from_name": "occl", "to_name": "image", "type": "choices", "value": {"choices": ["yes"]}},
        {"id": "p", "from_name": "polys", "to_name": "image", "type": "polygonlabels", **size,
         "value": {"points": [[0, 0], [50, 0], [50, 50]], "polygonlabels": ["Road"]}},
        {"id": "k", "from_name": "kps", "to_name": "image", "type": "keypointlabels", **size,
         "value": {"x": 50, "y": 25, "width": 1, "keypointlabels": ["Nose"]}},
        {"id": "m", "from_name": "brush", "to_name": "image", "type": "brushlabels", **size,
         "value": {"format": "rle", "rle": encode_brush_rle(m), "brushlabels": ["Sky"]}},
        {"from_name": "tags", "to_name": "image", "type": "choices", "value": {"choices": ["b", "a"]}},
        {"from_name": "tax", "to_name": "image", "type": "taxonomy", "value": {"taxonomy": [["Animal", "Cat"]]}},
        {"from_name": "quality", "to_name": "image", "type": "rating", "value": {"rating": 3}},
        {"from_name": "count", "to_name": "image", "type": "number", "value": {"number": 12}},
        {"id": "n", "from_name": "ner", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 4, "text": "Anna", "labels": ["PER"]}},
        {"id": "s", "from_name": "speaker", "to_name": "audio", "type": "labels", "original_length": 9.5,
         "value": {"start": 1.0, "end": 2.5, "channel": 0, "labels": ["Agent"]}},
        {"id": "s", "from_name": "transcript", "to_name": "audio", "type": "textarea", "value": {"text": ["hi"]}},
        {"id": "s", "from_name": "speaker_id", "to_name": "audio", "type": "choices", "value": {"choices": ["S2"]}},
        {"from_name": "comment", "to_name": "text", "type": "textarea", "value": {"text": ["ok", "fine"]}},
        {"id": "q", "from_name": "plabels", "to_name": "dialogue", "type": "paragraphlabels",
         "value": {"start": "1", "end": "1", "startOffset": 2, "endOffset": 7, "text": "hello",
                   "paragraphlabels": ["Q"]}},
        {"id": "t", "from_name": "track", "to_name": "video", "type": "videorectangle", **size,
         "value": {"labels": ["Car"], "sequence": [
             {"frame": 1, "enabled": True, "x": 0, "y": 0, "width": 50, "height": 50, "rotation": 0},
             {"frame": 4, "enabled": False, "x": 50, "y": 0, "width": 50, "height": 50, "rotation": 0}]}},
        {"from_name": "rel", "to_name": "image", "type": "relation", "value": {}},
    ]
    warnings: list[str] = []
    ds = from_label_studio_task(_task(results), FULL_CONFIG, warnings=warnings)
    got = {r.label_set: r for r in ds.records}
    assert got["boxes"].value == Box(label="Car", x=0, y=0, width=3, height=2)
    assert dict(got["boxes"].attributes) == {"occl": "yes"}
    assert "occl" not in got
    assert "transcript" not in got
    assert got["polys"].value == Polygon(label="Road", points=((0, 0), (3, 0), (3, 2)))
    assert got["kps"].value == Keypoints(label="Nose", points=(Keypoint(name="Nose", x=3, y=1),))
    assert got["brush"].value == Mask(label="Sky", height=4, width=6, counts=rle.encode(m))
    assert got["tags"].value == MultiLabel(labels=("a", "b"))
    assert got["tax"].value == Classification(label="Cat", path=("Animal", "Cat"))
    assert got["quality"].value == Numeric(value=3)
    assert got["count"].value == Numeric(value=12)
    assert got["ner"].value == Span(label="PER", start=0, end=4, text="Anna")
    assert got["speaker"].value == Segment(start=1.0, end=2.5, label="Agent", speaker="S2", text="hi")
    assert got["comment"].value == TextValue(text="ok\nfine")
    assert got["plabels"].value == Span(label="Q", start=2, end=7, text="hello")
    assert dict(got["plabels"].attributes) == {"paragraph_start": "1", "paragraph_end": "1"}
    assert got["track"].value == Track(label="Car", track_id="t", frames=(
        TrackFrame(frame=1, x=0, y=0, width=3, height=2),
        TrackFrame(frame=4, x=3, y=0, width=3, height=2, outside=True)))
    assert warnings == ["labeling config: skipped unsupported control Ellipse name='ell'",
                        "task 7: skipped result type 'relation' (not supported)"]
    assert ds.items["7"].duration_s == 9.5


# --------------------------------------------------------------------------- error paths


@pytest.mark.parametrize(("mutate", "pattern"), [
    (lambda t: t.pop("id"), r"needs an 'id'"),
    (lambda t: t["annotations"][0]["result"][0].pop("original_width"), r"item 7.*original_width"),
    (lambda t: t["annotations"][0]["result"][0]["value"].update(x="left"), r"item 7.*value.x.*expected a number"),
    (lambda t: t["annotations"][0]["result"][0].update(value=[1]), r"expected 'value' as an object"),
    (lambda t: t["annotations"][0]["result"][0].pop("from_name"), r"from_name"),
    (lambda t: t["annotations"][0].update(result={"a": 1}), r"'result' as a list"),
    (lambda t: t["annotations"][0]["result"][0]["value"].update(width=-5), r"not a valid region"),
])
def test_malformed_tasks_raise_conversion_error(mutate: Any, pattern: str) -> None:
    task = _task([{"from_name": "boxes", "to_name": "image", "type": "rectanglelabels", "original_width": 10,
                   "original_height": 10, "value": {"x": 1, "y": 1, "width": 5, "height": 5,
                                                    "rectanglelabels": ["Car"]}}])
    mutate(task)
    with pytest.raises(ConversionError, match=pattern):
        from_label_studio_task(task, FULL_CONFIG)


def test_other_error_paths() -> None:
    bad_choice = _task([{"from_name": "weather", "type": "choices", "value": {"choices": ["a", "b"]}}])
    with pytest.raises(ConversionError, match="exactly one choice"):
        from_label_studio_task(bad_choice, FULL_CONFIG)
    with pytest.raises(ConversionError, match="not a Label Studio export"):
        from_label_studio_export({"foo": 1})
    with pytest.raises(ConversionError, match="brush RLE stream ends early"):
        decode_brush_rle([0, 0, 0], 1, 1)
    with pytest.raises(ConversionError, match="expected height\\*width\\*4"):
        decode_brush_rle(encode_brush_rle(np.ones((2, 2), bool)), 3, 3)
    box = Record(item_id="1", annotator_id="m", label_set="boxes", value=Box(label="Car", x=0, y=0, width=1, height=1))
    with pytest.raises(ConversionError, match="needs the image width and height"):
        to_label_studio_prediction([box], parse_label_config(FULL_CONFIG), model_version="v")


# --------------------------------------------------------------------------- brush codec


def test_brush_decodes_a_hand_built_literal_stream() -> None:
    # 1x2 image = 8 bytes: header 32 bits (8), word size-1 = 7 (5 bits), sizes-1 = 2,3,7,15 (4 bits each),
    # then one literal block: flag 0, size index 0 (3 bits -> length-1 = 7), eight 8-bit words.
    words = [0, 0, 0, 0, 9, 9, 9, 255]
    bits = f"{8:032b}" + f"{7:05b}" + "0010" + "0011" + "0111" + "1111" + "0" + "00" + "111"
    bits += "".join(f"{w:08b}" for w in words)
    bits += "0" * (-len(bits) % 8)
    stream = list(int(bits, 2).to_bytes(len(bits) // 8, "big"))
    assert decode_brush_rle(stream, 1, 2).tolist() == [[False, True]]


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 12), st.data())
def test_brush_round_trip(h: int, w: int, data: st.DataObject) -> None:
    bits = data.draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))
    m = np.array(bits, dtype=bool).reshape(h, w)
    assert (decode_brush_rle(encode_brush_rle(m), h, w) == m).all()


# --------------------------------------------------------------------------- round trips: from(to(r)) == r

SCHEMA = parse_label_config(FULL_CONFIG)
W, H = 640.0, 480.0
coord = st.floats(0, 400, allow_nan=False).map(lambda v: round(v, 3))
size = st.floats(1, 200, allow_nan=False).map(lambda v: round(v, 3))
name = st.sampled_from(["Car", "Person"])


@st.composite
def values(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["box", "polygon", "keypoints", "mask", "span", "segment", "track",
                                 "classification", "multilabel", "taxonomy", "rating", "number", "text"]))
    if kind == "box":
        return "boxes", Box(label=draw(name), x=draw(coord), y=draw(coord), width=draw(size), height=draw(size),
                            rotation=draw(st.floats(-180, 180).map(lambda v: round(v, 2))))
    if kind == "polygon":
        return "polys", Polygon(label="Road", points=draw(st.lists(st.tuples(coord, coord), min_size=3, max_size=6)))
    if kind == "keypoints":
        return "kps", Keypoints(label="Nose", points=(Keypoint(name="Nose", x=draw(coord), y=draw(coord)),))
    if kind == "mask":
        hh, ww = draw(st.integers(1, 8)), draw(st.integers(1, 8))
        m = np.array(draw(st.lists(st.booleans(), min_size=hh * ww, max_size=hh * ww))).reshape(hh, ww)
        return "brush", Mask(label="Sky", height=hh, width=ww, counts=rle.encode(m))
    if kind == "span":
        s = draw(st.integers(0, 100))
        return "ner", Span(label="PER", start=s, end=s + draw(st.integers(0, 20)), text=draw(st.none() | st.text()))
    if kind == "segment":
        t0 = draw(st.floats(0, 100).map(lambda v: round(v, 3)))
        return "speaker", Segment(start=t0, end=t0 + draw(st.floats(0, 10).map(lambda v: round(v, 3))),
                                  label="Agent", text=draw(st.none() | st.text(min_size=1)),
                                  speaker=draw(st.none() | st.sampled_from(["S1", "S2"])))
    if kind == "track":
        nums = draw(st.lists(st.integers(0, 50), min_size=1, max_size=5, unique=True))
        frames = tuple(TrackFrame(frame=n, x=draw(coord), y=draw(coord), width=draw(size), height=draw(size),
                                  outside=draw(st.booleans()), keyframe=draw(st.booleans())) for n in nums)
        return "track", Track(label="Car", track_id=draw(st.sampled_from(["t1", "t2"])), frames=frames)
    if kind == "classification":
        return "weather", Classification(label=draw(st.sampled_from(["Sunny", "Rain"])))
    if kind == "multilabel":
        return "tags", MultiLabel(labels=tuple(draw(st.lists(st.sampled_from(["a", "b"]), min_size=1))))
    if kind == "taxonomy":
        return "tax", Classification(label="Cat", path=("Animal", "Cat"))
    if kind == "rating":
        return "quality", Numeric(value=float(draw(st.integers(1, 4))))
    if kind == "number":
        return "count", Numeric(value=draw(st.floats(-1e6, 1e6)))
    return "comment", TextValue(text=draw(st.text()))


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(a, tuple | list):
        return isinstance(b, tuple | list) and len(a) == len(b) and all(
            _close(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__slots__") and type(a) is type(b):
        return all(_close(getattr(a, f), getattr(b, f)) for f in a.__slots__)
    return bool(a == b)


@SETTINGS
@given(st.lists(values(), min_size=1, max_size=6), st.none() | st.floats(0, 1))
def test_prediction_round_trip(vals: list[tuple[str, Any]], score: float | None) -> None:
    recs = [Record(item_id="9", annotator_id="model:v2", label_set=ls, value=v, source="model",
                   region_id=f"r{i}" if not isinstance(v, Track) else v.track_id, score=score)
            for i, (ls, v) in enumerate(vals)
            if not isinstance(v, Track) or all(not isinstance(w, Track) or w.track_id != v.track_id
                                               for _, w in vals[:i])]
    pred = to_label_studio_prediction(recs, SCHEMA, model_version="v2", width=W, height=H)
    pred["id"] = 1
    back = from_label_studio_task({"id": 9, "data": {}, "predictions": [json.loads(json.dumps(pred))]}, SCHEMA)
    assert len(back.records) == len(recs)
    for a, b in zip(recs, back.records, strict=True):
        assert (a.label_set, a.annotator_id, a.source, a.region_id, a.score) == \
            (b.label_set, b.annotator_id, b.source, b.region_id, b.score)
        assert _close(a.value, b.value), (a.value, b.value)


def test_per_region_choice_round_trip() -> None:
    rec = Record(item_id="9", annotator_id="model:v", label_set="boxes", source="model", region_id="x",
                 value=Box(label="Car", x=1, y=2, width=3, height=4), attributes={"occl": "no"})
    pred = copy.deepcopy(to_label_studio_prediction([rec], SCHEMA, model_version="v", width=W, height=H))
    assert [r["type"] for r in pred["result"]] == ["rectanglelabels", "choices"]
    back = from_label_studio_task({"id": 9, "data": {}, "predictions": [pred]}, SCHEMA).records
    assert dict(back[0].attributes) == {"occl": "no"}
    assert _close(back[0].value, rec.value)


def test_video_rectangle_without_size_needs_default_size() -> None:
    # Label Studio leaves original_width/height out of videorectangle results.
    res = [{"id": "t", "from_name": "track", "to_name": "video", "type": "videorectangle",
            "value": {"labels": ["Car"], "framesCount": 10, "sequence": [
                {"frame": 1, "enabled": True, "x": 10, "y": 20, "width": 50, "height": 25, "rotation": 0}]}}]
    task = {"id": 3, "data": {"video": "v.mp4"}, "annotations": [{"id": 1, "completed_by": 2, "result": res}]}
    with pytest.raises(ConversionError, match=r"item 3.*original_width"):
        from_label_studio_task(task, FULL_CONFIG)
    ds = from_label_studio_task(task, FULL_CONFIG, default_size=(200, 100))
    assert ds.records[0].value == Track(label="Car", track_id="t", frames=(
        TrackFrame(frame=1, x=20, y=20, width=100, height=25),))


# --------------------------------------------------------------------------- issue 15: real exports, real teams

_WEATHER = {"from_name": "weather", "to_name": "image", "type": "choices", "value": {"choices": ["Rain"]}}


def test_a_skip_keeps_the_same_annotators_real_annotation() -> None:
    # issue 15 item 3: user 5 skipped task 7 (annotation 3), then annotated it (annotation 4).
    task = {"id": 7, "data": {"image": "x.jpg"}, "annotations": [
        {"id": 3, "completed_by": 5, "result": [], "was_cancelled": True},
        {"id": 4, "completed_by": 5, "result": [_WEATHER]},
        {"id": 5, "completed_by": 6, "result": [_WEATHER]}]}
    ds = from_label_studio_export([task], FULL_CONFIG)
    grouped = ds.grouped("weather")
    assert sorted(grouped["7"]) == ["user:5", "user:6"]
    assert [r.value for r in grouped["7"]["user:5"]] == [Classification(label="Rain")]
    assert sum(s.was_cancelled for s in ds.submissions) == 1


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("was_cancelled", "false", "kept"), ("was_cancelled", "FALSE", "kept"), ("was_cancelled", False, "kept"),
    ("was_cancelled", "true", "skipped"), ("was_cancelled", True, "skipped"),
    ("ground_truth", "false", "human"), ("ground_truth", "False", "human"), ("ground_truth", "true", "reference"),
    ("ground_truth", True, "reference"), ("ground_truth", None, "human"),
])
def test_boolean_fields_accept_booleans_and_true_false_strings(flag: str, value: Any, expected: str) -> None:
    # issue 15 item 10: "was_cancelled": "false" dropped records, "ground_truth": "false" made gold.
    ds = from_label_studio_task(_task([_WEATHER], **{flag: value}), FULL_CONFIG)
    if expected == "skipped":
        assert ds.records == ()
    elif expected == "kept":
        assert len(ds.records) == 1
    else:
        assert ds.records[0].source == expected


@pytest.mark.parametrize("value", ["no", "0", 1, 0, [], "yes please"])
@pytest.mark.parametrize("flag", ["was_cancelled", "ground_truth"])
def test_boolean_fields_reject_anything_else_naming_the_field(flag: str, value: Any) -> None:
    with pytest.raises(ConversionError, match=rf"item 7.*annotations\[0\]\.{flag}.*expected true or false"):
        from_label_studio_task(_task([_WEATHER], **{flag: value}), FULL_CONFIG)


def test_duplicate_task_ids_are_refused_loudly() -> None:
    t1 = {"id": 1, "data": {"text": "a"}, "annotations": []}
    t2 = {"id": 1, "data": {"text": "b"}, "annotations": []}
    with pytest.raises(ConversionError, match=r"task id 1 appears twice .*tasks #0 and #1"):
        from_label_studio_export([t1, t2])


TIMELINE_CONFIG = """
<View>
  <Video name="video" value="$video" timelineHeight="120"/>
  <TimelineLabels name="events" toName="video">
    <Label value="Moving"/><Label value="Still"/>
  </TimelineLabels>
</View>"""


def test_timeline_labels_become_frame_segments() -> None:
    # issue 15 item 7; the result shape is Label Studio's documented TimelineLabels value:
    # {"ranges": [{"start": 3, "end": 5}], "timelinelabels": ["Moving"]} (frames).
    res = {"id": "ev1", "from_name": "events", "to_name": "video", "type": "timelinelabels",
           "value": {"ranges": [{"start": 3, "end": 5}, {"start": 9, "end": 9}], "timelinelabels": ["Moving"]}}
    warnings: list[str] = []
    ds = from_label_studio_export([{"id": 1, "data": {"video": "v.mp4"}, "annotations": [
        {"id": 1, "completed_by": 2, "result": [res]}]}], TIMELINE_CONFIG, warnings=warnings)
    assert warnings == []
    assert [r.value for r in ds.records] == [Segment(start=3, end=5, label="Moving", unit="frame"),
                                             Segment(start=9, end=9, label="Moving", unit="frame")]
    ls = ds.schema["events"]
    assert (ls.kind, ls.labels, ls.tool_type) == ("segment", ("Moving", "Still"), "timelinelabels")
    back = to_label_studio_prediction(ds.records[:1], ds.schema, model_version="m")["result"][0]
    assert (back["type"], back["value"]) == ("timelinelabels", {"ranges": [{"start": 3, "end": 5}],
                                                                "timelinelabels": ["Moving"]})


@pytest.mark.parametrize(("task", "match"), [
    ({"id": 1, "data": "just a string"}, r"item 1.*field 'data'.*expected the task's 'data' as an object"),
    ({"id": 1, "data": {}, "annotations": {"id": 1}}, r"field 'annotations'.*as a list"),
    ({"id": 10 ** 5000, "data": {}}, r"field 'id'.*expected an id, got an integer of about"),
    ({"id": 1, "data": {}, "annotations": [{"id": 1, "result": [
        {"from_name": "quality", "type": "rating", "value": {"rating": float("nan")}}]}]},
     r"item 1.*value.rating.*expected a finite number"),
    ({"id": 1, "data": {}, "annotations": [{"id": 1, "result": [
        {"from_name": "quality", "type": "rating", "value": {"rating": "inf"}}]}]},
     r"expected a finite number, got 'inf'"),
])
def test_malformed_tasks_are_one_line_conversion_errors(task: dict[str, Any], match: str) -> None:
    # issue 15 item 11
    with pytest.raises(ConversionError, match=match) as e:
        from_label_studio_export([task], FULL_CONFIG)
    assert "\n" not in str(e.value)
    assert len(str(e.value)) < 400


def test_timeline_labels_reach_the_report(tmp_path: Path) -> None:
    # issue 15 item 7: the report exited 0 with an empty section for TimelineLabels projects.
    from accord.cli import main

    def ann(aid: int, who: int, start: int, end: int, label: str) -> dict[str, Any]:
        return {"id": aid, "completed_by": who, "result": [
            {"id": f"e{aid}", "from_name": "events", "to_name": "video", "type": "timelinelabels",
             "value": {"ranges": [{"start": start, "end": end}], "timelinelabels": [label]}}]}

    tasks = [{"id": 1, "data": {"video": "v.mp4"},
              "annotations": [ann(1, 1, 3, 20, "Moving"), ann(2, 2, 4, 21, "Moving")]},
             {"id": 2, "data": {"video": "w.mp4"},
              "annotations": [ann(3, 1, 0, 10, "Still"), ann(4, 2, 30, 40, "Moving")]}]
    (tmp_path / "tl.json").write_text(json.dumps(tasks), encoding="utf-8")
    (tmp_path / "tl.label_config.xml").write_text(TIMELINE_CONFIG, encoding="utf-8")
    out = tmp_path / "r.json"
    assert main(["-q", "report", str(tmp_path / "tl.json"), "--json", str(out)]) == 0
    events = json.loads(out.read_text(encoding="utf-8"))["agreement"]["events"]
    assert (events["kind"], events["n_items"], events["n_annotators"]) == ("segment", 2, 2)
    # task 1: [3, 20] vs [4, 21] frames overlap 16 of 18 (IoU 0.889); task 2 shares nothing
    assert events["coefficients"]["mean_matched_similarity"]["estimate"] == pytest.approx(16 / 18, abs=1e-6)


def test_predictions_listed_by_id_only_are_counted_in_a_warning() -> None:
    warnings: list[str] = []
    ds = from_label_studio_export([{"id": 1, "data": {}, "annotations": [], "predictions": [4, 5]},
                                   {"id": 2, "data": {}, "annotations": [], "predictions": [6]}], warnings=warnings)
    assert ds.records == ()
    assert warnings == ["skipped 3 predictions listed by id only (Label Studio's plain JSON export); export a "
                        "snapshot with full prediction objects to compare model predictions"]
