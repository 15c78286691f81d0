"""The core annotation model: invariants, serialization round trips, dataset views."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import (
    Box,
    Classification,
    Cuboid,
    Dataset,
    InvalidAnnotationError,
    Item,
    Keypoint,
    Keypoints,
    LabelSet,
    Mask,
    MultiLabel,
    Numeric,
    Polygon,
    Polyline,
    Record,
    Schema,
    SchemaError,
    Segment,
    Span,
    Submission,
    TextValue,
    Track,
    TrackFrame,
    rle,
)
from accord.core.model import record_from_dict, record_to_dict, value_from_dict, value_to_dict

coord = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
size = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False)
label = st.sampled_from(["car", "person", "Ünïcode", "a b"])


@st.composite
def values(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["cls", "multi", "num", "text", "box", "poly", "line", "mask",
                                 "kp", "span", "seg", "track", "cuboid"]))
    if kind == "cls":
        return Classification(label=draw(label))
    if kind == "multi":
        return MultiLabel(labels=tuple(draw(st.lists(label, min_size=1, max_size=3))))
    if kind == "num":
        return Numeric(value=draw(coord))
    if kind == "text":
        return TextValue(text=draw(st.text(max_size=20)))
    if kind == "box":
        return Box(label=draw(label), x=draw(coord), y=draw(coord), width=draw(size),
                   height=draw(size), rotation=draw(st.floats(-180, 180)))
    if kind == "poly":
        return Polygon(label=draw(label), points=draw(st.lists(st.tuples(coord, coord), min_size=3, max_size=6)))
    if kind == "line":
        return Polyline(label=draw(label), points=draw(st.lists(st.tuples(coord, coord), min_size=2, max_size=6)))
    if kind == "mask":
        m = np.array(draw(st.lists(st.booleans(), min_size=12, max_size=12))).reshape(3, 4)
        return Mask(label=draw(label), height=3, width=4, counts=rle.encode(m))
    if kind == "kp":
        names = draw(st.lists(st.sampled_from(["nose", "eye", "ear", "hip"]), min_size=1, unique=True))
        return Keypoints(label=draw(label), points=tuple(
            Keypoint(name=n, x=draw(coord), y=draw(coord), visibility=draw(st.sampled_from([0, 1, 2])))
            for n in names))
    if kind == "span":
        s = draw(st.integers(0, 100))
        return Span(label=draw(label), start=s, end=s + draw(st.integers(0, 50)))
    if kind == "seg":
        s = draw(st.floats(0, 100))
        return Segment(start=s, end=s + draw(st.floats(0, 10)), label=draw(st.none() | label),
                       speaker=draw(st.none() | label), text=draw(st.none() | st.text(max_size=5)))
    if kind == "track":
        frames = draw(st.lists(st.integers(0, 50), min_size=1, max_size=5, unique=True))
        return Track(label=draw(label), track_id="t1", frames=tuple(
            TrackFrame(frame=f, x=draw(coord), y=draw(coord), width=draw(size), height=draw(size),
                       outside=draw(st.booleans()), keyframe=draw(st.booleans())) for f in frames))
    return Cuboid(label=draw(label), x=draw(coord), y=draw(coord), z=draw(coord), length=draw(size),
                  width=draw(size), height=draw(size), yaw=draw(st.floats(-3.2, 3.2)))


@settings(max_examples=200, deadline=None)
@given(values())
def test_every_value_kind_round_trips_through_dicts(value) -> None:  # type: ignore[no-untyped-def]
    assert value_from_dict(value_to_dict(value)) == value


@settings(max_examples=50, deadline=None)
@given(values(), st.sampled_from(["human", "model", "reference", "consensus"]))
def test_records_round_trip_with_metadata(value, source) -> None:  # type: ignore[no-untyped-def]
    r = Record(item_id="7", annotator_id="ann@x.org", label_set="objects", value=value,
               source=source, region_id="r1", duration_s=3.5, created_at="2026-01-01T00:00:00Z",
               attributes={"occluded": True}, meta={"language": "de"})
    assert record_from_dict(record_to_dict(r)) == r


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Box(label="a", x=0, y=0, width=-1, height=2), "width >= 0"),
        (lambda: Box(label="a", x=math.nan, y=0, width=1, height=2), "finite"),
        (lambda: Span(label="a", start=5, end=2), "start <= end"),
        (lambda: Segment(start=2.0, end=1.0), "start <= end"),
        (lambda: Polygon(label="a", points=((0, 0), (1, 1))), "at least 3 points"),
        (lambda: Keypoint(name="a", x=0, y=0, visibility=3), "visibility must be 0, 1 or 2"),
        (lambda: Mask(label="a", height=2, width=2, counts=(1, 2)), "do(es)? not match"),
        (lambda: Classification(label=""), "non-empty"),
        (lambda: Track(label="a", track_id="1", frames=(TrackFrame(frame=1, x=0, y=0, width=1, height=1),
                                                       TrackFrame(frame=1, x=0, y=0, width=1, height=1))),
         "lists a frame twice"),
        (lambda: Cuboid(label="a", x=0, y=0, z=0, length=-1, width=1, height=1), "sizes must be >= 0"),
        (lambda: Record(item_id="", annotator_id="a", label_set="l", value=Numeric(value=1)), "item_id"),
        (lambda: Record(item_id="1", annotator_id="a", label_set="l", value=Numeric(value=1),
                        source="robot"), "source must be one of"),  # type: ignore[arg-type]
        (lambda: Record(item_id="1", annotator_id="a", label_set="l", value="cat"), "value must be"),  # type: ignore[arg-type]
    ],
)
def test_invalid_values_raise_clear_errors(make, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidAnnotationError, match=match):
        make()


def test_value_from_dict_rejects_unknown_kind_and_names_the_known_ones() -> None:
    with pytest.raises(InvalidAnnotationError, match=r"unknown value kind 'blob'.*'box'"):
        value_from_dict({"kind": "blob"})
    with pytest.raises(InvalidAnnotationError, match="malformed box"):
        value_from_dict({"kind": "box", "x": 1})


def test_rotated_box_corners_rotate_about_the_centre() -> None:
    b = Box(label="a", x=0, y=0, width=4, height=2, rotation=90)
    c = b.corners()
    # Centre (2, 1) stays; a 4x2 box turned a quarter becomes 2x4 about it.
    assert np.allclose(c.mean(axis=0), [2, 1])
    assert np.allclose(sorted(c[:, 0]), [1, 1, 3, 3])
    assert np.allclose(sorted(c[:, 1]), [-1, -1, 3, 3])


def test_dataset_derives_submissions_and_keeps_empty_passes() -> None:
    recs = [Record(item_id="1", annotator_id="a", label_set="objects",
                   value=Box(label="car", x=0, y=0, width=1, height=1))]
    empty = Submission(item_id="1", annotator_id="b")
    ds = Dataset(records=tuple(recs), submissions=(empty,))
    grouped = ds.grouped("objects")
    assert grouped == {"1": {"b": [], "a": [recs[0]]}}
    assert ds.annotators() == ("a", "b")
    assert set(ds.items) == {"1"}


def test_schema_rejects_duplicates_and_unknown_names() -> None:
    with pytest.raises(SchemaError, match="twice"):
        LabelSet(name="x", kind="classification", labels=("a", "a"))
    schema = Schema.of(LabelSet(name="x", kind="classification", labels=("a", "b")))
    with pytest.raises(SchemaError, match="no label set named 'y'"):
        schema["y"]
    with pytest.raises(SchemaError, match="not in label set"):
        schema["x"].check_label("c")


# --------------------------------------------------------------------------- issue 15: skips


def test_a_skip_does_not_delete_the_same_annotators_real_annotation() -> None:
    # issue 15 item 3: annotator a skipped task t1 once (annotation 1) and then annotated it
    # (annotation 2). The skip is counted and left out; the real annotation stays, in
    # either order of the two submissions.
    rec = Record(item_id="t1", annotator_id="a", label_set="s", value=Classification(label="x"),
                 annotation_id="2")
    other = Record(item_id="t1", annotator_id="b", label_set="s", value=Classification(label="y"),
                   annotation_id="3")
    skip = Submission(item_id="t1", annotator_id="a", annotation_id="1", was_cancelled=True)
    real = Submission(item_id="t1", annotator_id="a", annotation_id="2")
    for subs in ((skip, real), (real, skip)):
        ds = Dataset(records=(rec, other), submissions=subs)
        assert ds.grouped("s") == {"t1": {"a": [rec], "b": [other]}}
        assert sum(s.was_cancelled for s in ds.submissions) == 1
        assert sum(not s.was_cancelled for s in ds.submissions if s.annotator_id == "a") == 1


def test_a_skip_alone_still_excludes_its_annotator() -> None:
    skip = Submission(item_id="t1", annotator_id="a", was_cancelled=True)
    ds = Dataset(records=(), submissions=(skip, Submission(item_id="t1", annotator_id="b")),
                 items={"t1": Item(item_id="t1")}, schema=Schema.of(LabelSet(name="s", kind="classification",
                                                                            labels=("x",))))
    assert "a" not in ds.grouped("s").get("t1", {})
    # every skip is counted, even two of one annotator
    two = Dataset(records=(), submissions=(skip, Submission(item_id="t1", annotator_id="a", annotation_id="9",
                                                            was_cancelled=True)))
    assert sum(s.was_cancelled for s in two.submissions) == 2


def test_records_of_a_skip_do_not_become_a_real_submission() -> None:
    skip = Submission(item_id="t1", annotator_id="a", annotation_id="1", was_cancelled=True)
    of_skip = Record(item_id="t1", annotator_id="a", label_set="s", value=Classification(label="x"),
                     annotation_id="1")
    ds = Dataset(records=(of_skip,), submissions=(skip,))
    assert [s.was_cancelled for s in ds.submissions] == [True]
    assert ds.grouped("s") == {}
    # a record of another annotation of the same annotator is a real pass
    real = Record(item_id="t1", annotator_id="a", label_set="s", value=Classification(label="y"),
                  annotation_id="2")
    ds2 = Dataset(records=(of_skip, real), submissions=(skip,))
    assert sorted(s.was_cancelled for s in ds2.submissions) == [False, True]
    assert ds2.grouped("s") == {"t1": {"a": [real]}}


# --------------------------------------------------------------------------- issue 16: grouped cached


def _grouped_reference(ds: Dataset, label_set: str, source: str | None) -> dict[str, dict[str, list[Record]]]:
    """The uncached ``Dataset.grouped`` as it was before issue 16 (the reference for the cache)."""
    scope = ds.items_for(label_set)
    real = {(s.item_id, s.annotator_id, s.source) for s in ds.submissions if not s.was_cancelled}
    skipped_triples = {(s.item_id, s.annotator_id, s.source) for s in ds.submissions if s.was_cancelled} - real
    skipped_ids = {(s.item_id, s.annotator_id, s.source, s.annotation_id) for s in ds.submissions
                   if s.was_cancelled and s.annotation_id}
    out: dict[str, dict[str, list[Record]]] = {}
    for s in ds.submissions:
        if s.was_cancelled or s.item_id not in scope or (source is not None and s.source != source):
            continue
        out.setdefault(s.item_id, {}).setdefault(s.annotator_id, [])
    for r in ds.records:
        if r.label_set != label_set or (source is not None and r.source != source):
            continue
        triple = (r.item_id, r.annotator_id, r.source)
        if (*triple, r.annotation_id) in skipped_ids or triple in skipped_triples:
            continue
        out.setdefault(r.item_id, {}).setdefault(r.annotator_id, []).append(r)
    return out


def _random_dataset(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    recs, subs = [], []
    for i in range(30):
        for a in ("a", "b", "c"):
            src = str(rng.choice(["human", "human", "model"]))
            ann_id = f"{i}-{a}"
            if rng.random() < 0.15:
                subs.append(Submission(item_id=str(i), annotator_id=a, source=src,  # type: ignore[arg-type]
                                       annotation_id=ann_id, was_cancelled=True))
            for _ in range(int(rng.integers(0, 3))):
                ls = str(rng.choice(["s", "t"]))
                recs.append(Record(item_id=str(i), annotator_id=a, label_set=ls, source=src,  # type: ignore[arg-type]
                                   annotation_id=ann_id if rng.random() < 0.8 else None,
                                   value=Classification(label=str(rng.choice(["x", "y"])))))
    return Dataset(records=tuple(recs), submissions=tuple(subs))


@pytest.mark.parametrize("seed", range(8))
def test_grouped_cache_equals_the_uncached_grouping(seed: int) -> None:
    ds = _random_dataset(seed)
    for ls in ("s", "t", "missing"):
        for source in (None, "human", "model"):
            want = _grouped_reference(ds, ls, source)
            assert ds.grouped(ls, source=source) == want  # type: ignore[arg-type]
            assert ds.grouped(ls, source=source) == want  # type: ignore[arg-type]  # second call: cached


def test_grouped_is_computed_once_and_callers_get_their_own_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _random_dataset(0)
    calls = []
    orig = Dataset.items_for

    def counting(self: Dataset, label_set: str) -> frozenset[str]:
        calls.append(label_set)
        return orig(self, label_set)

    monkeypatch.setattr(Dataset, "items_for", counting)
    first = ds.grouped("s", source="human")
    want = _grouped_reference(ds, "s", "human")
    calls.clear()
    first.clear()  # a caller changing its copy ...
    again = ds.grouped("s", source="human")
    assert calls == []  # ... is not recomputed ...
    assert again == want  # ... and does not change what the next caller sees
    next(iter(next(iter(again.values())).values())).append("junk")  # type: ignore[arg-type]
    assert ds.grouped("s", source="human") == want
    ds.grouped("t", source="human")
    assert calls == ["t"]  # another label set is its own grouping
    assert ds == Dataset(records=ds.records, submissions=ds.submissions)  # the cache takes no part in equality
