"""accord JSON Lines: lossless round trips of whole datasets, header handling, error paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.core import rle
from accord.core.errors import ConversionError, InvalidAnnotationError
from accord.core.formats.jsonl import dumps_dataset, loads_dataset
from accord.core.model import (
    Box,
    Classification,
    Cuboid,
    Dataset,
    Item,
    Keypoint,
    Keypoints,
    Mask,
    MultiLabel,
    Numeric,
    Polygon,
    Polyline,
    Record,
    Segment,
    Span,
    Submission,
    TextValue,
    Track,
    TrackFrame,
)
from accord.core.schema import AttributeSpec, LabelSet, Schema
from accord.plugins.label_studio.convert import from_label_studio_export

SAMPLE = Path(__file__).parents[1] / "core" / "data" / "sample"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(-1e6, 1e6, allow_nan=False)
pos = st.floats(0, 1e4, allow_nan=False)
text = st.text(max_size=8)
label = st.sampled_from(["a", "b", "Ünïcode ✓"])


@st.composite
def values(draw: st.DrawFn) -> object:
    k = draw(st.integers(0, 12))
    if k == 0:
        lb = draw(label)
        return Classification(label=lb, path=draw(st.sampled_from([(), ("root", lb)])))
    if k == 1:
        return MultiLabel(labels=tuple(draw(st.lists(label, max_size=3))))
    if k == 2:
        return Numeric(value=draw(finite))
    if k == 3:
        return TextValue(text=draw(text))
    if k == 4:
        return Box(label=draw(label), x=draw(finite), y=draw(finite), width=draw(pos), height=draw(pos),
                   rotation=draw(finite))
    if k == 5:
        return Polygon(label=draw(label), points=draw(st.lists(st.tuples(finite, finite), min_size=3, max_size=5)))
    if k == 6:
        return Polyline(label=draw(label), points=draw(st.lists(st.tuples(finite, finite), min_size=2, max_size=5)))
    if k == 7:
        m = np.array(draw(st.lists(st.booleans(), min_size=12, max_size=12))).reshape(3, 4)
        return Mask(label=draw(label), height=3, width=4, counts=rle.encode(m))
    if k == 8:
        return Keypoints(label=draw(label), points=(Keypoint(name="n", x=draw(finite), y=draw(finite),
                                                             visibility=draw(st.sampled_from([0, 1, 2]))),))
    if k == 9:
        s = draw(st.integers(0, 50))
        return Span(label=draw(label), start=s, end=s + draw(st.integers(0, 9)), text=draw(st.none() | text))
    if k == 10:
        t0 = draw(pos)
        return Segment(start=t0, end=t0 + draw(pos), label=draw(st.none() | label), speaker=draw(st.none() | text),
                       text=draw(st.none() | text), unit=draw(st.sampled_from(["s", "frame"])))
    if k == 11:
        nums = draw(st.lists(st.integers(0, 99), min_size=1, max_size=4, unique=True))
        return Track(label=draw(label), track_id="t", frames=tuple(
            TrackFrame(frame=n, x=draw(finite), y=draw(finite), width=draw(pos), height=draw(pos),
                       outside=draw(st.booleans()), keyframe=draw(st.booleans())) for n in nums))
    return Cuboid(label=draw(label), x=draw(finite), y=draw(finite), z=draw(finite), length=draw(pos),
                  width=draw(pos), height=draw(pos), yaw=draw(finite))


records = st.builds(
    Record, item_id=st.sampled_from(["1", "2", "img/3.png"]), annotator_id=st.sampled_from(["a@x", "model:v"]),
    label_set=st.sampled_from(["s1", "s2"]), value=values(),
    source=st.sampled_from(["human", "model", "reference", "consensus"]), region_id=st.none() | text,
    annotation_id=st.none() | text, attributes=st.dictionaries(text, st.booleans() | st.integers() | text, max_size=2),
    score=st.none() | st.floats(0, 1), created_at=st.none() | st.just("2026-11-27T18:26:02Z"),
    duration_s=st.none() | pos, meta=st.dictionaries(text, text | st.integers(), max_size=2))


@SETTINGS
@given(st.lists(records, max_size=8))
def test_round_trip_every_value_kind(recs: list[Record]) -> None:
    schema = Schema.of(LabelSet(name="s1", kind="box", labels=("a", "b"), multiple=True, to_name="image",
                                attributes={"a": (AttributeSpec(name="occ", values=("y", "n")),)}),
                       LabelSet(name="s2", kind="numeric", scale="ordinal", extra={"max": 5}))
    ds = Dataset(records=tuple(recs), schema=schema, name="proj",
                 items={"1": Item(item_id="1", data={"image": "x.jpg"}, width=640, height=480, meta={"site": "n"})},
                 submissions=(Submission(item_id="9", annotator_id="a@x", was_cancelled=True, duration_s=2.0),))
    back = loads_dataset(dumps_dataset(ds))
    assert back.records == ds.records
    assert back.schema == ds.schema
    assert dict(back.items) == dict(ds.items)
    assert back.submissions == ds.submissions
    assert back.name == "proj"


def test_sample_project_round_trip() -> None:
    tasks = json.loads((SAMPLE / "audio_transcripts.json").read_text())
    ds = from_label_studio_export(tasks, (SAMPLE / "audio_transcripts.label_config.xml").read_text())
    text_out = dumps_dataset(ds)
    lines = text_out.splitlines()
    assert json.loads(lines[0])["format"] == "accord-jsonl"
    assert len(lines) == 1 + len(ds.records)
    back = loads_dataset(text_out)
    assert back.records == ds.records
    assert back.submissions == ds.submissions


def test_bare_record_lines_without_header() -> None:
    line = json.dumps({"item_id": "1", "annotator_id": "a", "label_set": "s",
                       "value": {"kind": "classification", "label": "x"}})
    ds = loads_dataset(line + "\n\n" + line)
    assert len(ds.records) == 2
    assert ds.annotators() == ("a",)


@pytest.mark.parametrize(("body", "pattern"), [
    ('{"format": "accord-jsonl"}\n{"item_id": 1', r"<string>:2: expected one JSON object per line"),
    ('{"format": "accord-jsonl", "version": 99}', r"version 99 is newer"),
    ('{"item_id": "1", "annotator_id": "a", "label_set": "s", "value": {"kind": "blob"}}',
     r"item 1.*<string>:1: malformed record: unknown value kind 'blob'"),
    ('{"item_id": "1", "annotator_id": "a", "label_set": "s", "value": {"kind": "box", "label": "x"}}',
     r"malformed record"),
    ("[1, 2]", r"expected a JSON object \(a record\)"),
    ('{"item_id": "1", "annotator_id": "a", "label_set": "s", "value": {"kind": "numeric", "value": 1}}\n'
     '{"format": "accord-jsonl"}', r"header must be the first line"),
    ('{"format": "accord-jsonl", "schema": {"s": {"name": "s"}}}', r"malformed accord-jsonl header"),
    ('{"format": "accord-jsonl", "submissions": [{"item_id": "1"}]}', r"a submission needs string \['annotator_id'\]"),
])
def test_errors(body: str, pattern: str) -> None:
    with pytest.raises(ConversionError, match=pattern):
        loads_dataset(body)


def test_unwritable_values_raise_conversion_error() -> None:
    rec = Record(item_id="1", annotator_id="a", label_set="s", value=Numeric(value=1.0),
                 attributes={"conf": float("nan")})
    with pytest.raises(ConversionError, match=r"item 1.*cannot write.*finite"):
        dumps_dataset(Dataset(records=(rec,)))
    # a non-finite score is refused by the model itself (issue 15: it reached the report and crashed)
    with pytest.raises(InvalidAnnotationError, match=r"score must be a finite number"):
        Record(item_id="1", annotator_id="a", label_set="s", value=Numeric(value=1.0), score=float("nan"))
