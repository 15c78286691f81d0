"""Text and audio checks: planted violations, clean data, and a brute-force differential test."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.checks import run_checks
from accord.core.checks.text import item_text, overlapping_in_groups, token_cuts
from accord.core.model import Dataset, Item, Record, Segment, Span, TextValue
from accord.core.schema import LabelSet, Schema

TEXT = "Barack Obama visited Paris in 2015, said Reuters."


def rec(item: str, value: object, *, ann: str = "a", rid: str | None = None, ls: str = "ner") -> Record:
    return Record(item_id=item, annotator_id=ann, label_set=ls, value=value, region_id=rid)  # type: ignore[arg-type]


def span(text: str, piece: str, label: str = "ENT") -> Span:
    s = text.index(piece)
    return Span(label=label, start=s, end=s + len(piece), text=piece)


def clean_text() -> Dataset:
    records = []
    items = {}
    for i in range(20):
        iid = f"doc{i}"
        items[iid] = Item(item_id=iid, data={"text": TEXT})
        for ann in ("a", "b"):
            for k, piece in enumerate(("Barack Obama", "Paris", "2015", "Reuters")):
                records.append(rec(iid, span(TEXT, piece), ann=ann, rid=f"s{k}"))
            records.append(rec(iid, TextValue(text="Obama in Paris"), ann=ann, ls="summary"))
    return Dataset(records=tuple(records), items=items)


TEXT_CHECKS = ("text.span_range", "text.span_token_boundary", "text.span_whitespace", "text.span_overlap",
               "text.span_punctuation", "text.empty_transcript")
AUDIO_CHECKS = ("audio.beyond_duration", "audio.speaker_overlap", "audio.gap_overlap")


@pytest.mark.parametrize("check", TEXT_CHECKS)
def test_clean_text_has_no_findings(check: str) -> None:
    assert run_checks(clean_text(), only=[check]).findings == ()


def planted_text() -> Dataset:
    items = {"d": Item(item_id="d", data={"text": TEXT}), "notext": Item(item_id="notext", data={"a": 1})}
    records = [
        rec("d", Span(label="PER", start=0, end=10), rid="cut_end"),  # "Barack Oba"
        rec("d", Span(label="PER", start=8, end=12), rid="cut_start"),  # "bama": starts inside "Obama"
        rec("d", Span(label="LOC", start=20, end=27), rid="ws"),  # " Paris" with a leading space
        rec("d", Span(label="LOC", start=21, end=26, text="Pariz"), rid="mismatch"),
        rec("d", Span(label="ORG", start=40, end=80), rid="past_end"),
        rec("d", Span(label="DATE", start=30, end=34), rid="ok_2015"),
        rec("d", Span(label="X", start=29, end=29), rid="empty"),
        rec("notext", Span(label="X", start=0, end=3), rid="skipped"),
        rec("d", TextValue(text="  "), ls="summary", rid="blank"),
        rec("d", TextValue(text="N/A"), ls="summary", rid="placeholder"),
        rec("d", TextValue(text="Obama"), ls="summary", rid="fine"),
    ]
    return Dataset(records=tuple(records), items=items)


def ids(ds: Dataset, check: str) -> list[str]:
    return sorted(f.region_id or "" for f in run_checks(ds, only=[check]).findings)


def test_text_planted() -> None:
    ds = planted_text()
    assert TEXT[0:10] == "Barack Oba"
    assert TEXT[8:12] == "bama"
    assert TEXT[20:27] == " Paris "
    assert ids(ds, "text.span_range") == ["mismatch", "past_end"]
    assert ids(ds, "text.span_token_boundary") == ["cut_end", "cut_start"]
    assert ids(ds, "text.span_whitespace") == ["empty", "ws"]
    assert ids(ds, "text.empty_transcript") == ["blank", "placeholder"]


def test_span_punctuation() -> None:
    text = "Talks in Paris, said Acme Corp. and John F. Kennedy (JFK) today."
    pieces = {"comma": "Paris,", "clean": "Paris", "abbrev": "Acme Corp.", "initial": "John F.",
              "paren": "(JFK)", "inner": "JFK", "period": "today."}
    recs = tuple(rec("d", span(text, p), rid=k) for k, p in pieces.items())
    ds = Dataset(records=recs, items={"d": Item(item_id="d", data={"text": text})})
    assert ids(ds, "text.span_punctuation") == ["comma", "paren", "period"]
    rules = {"checks": {"text.span_punctuation": {"punctuation": ","}}}
    assert [f.region_id for f in run_checks(ds, only=["text.span_punctuation"], rules=rules).findings] == ["comma"]


def test_span_overlap_respects_schema() -> None:
    recs = (rec("d", span(TEXT, "Barack Obama"), rid="full"), rec("d", span(TEXT, "Obama"), rid="nested"),
            rec("d", span(TEXT, "Obama"), ann="b", rid="other_annotator"))
    ds = Dataset(records=recs, items={"d": Item(item_id="d", data={"text": TEXT})})
    got = run_checks(ds, only=["text.span_overlap"]).findings
    assert [(f.region_id, f.evidence["overlap_chars"]) for f in got] == [("nested", 5)]
    nested_ok = Schema.of(LabelSet(name="ner", kind="span", extra={"allow_overlap": True}))
    ds2 = Dataset(records=recs, items=ds.items, schema=nested_ok)
    assert run_checks(ds2, only=["text.span_overlap"]).findings == ()


def test_item_text_sources() -> None:
    assert item_text({"text": "a"}) == "a"
    assert item_text({"body": "b", "n": 1}) == "b"
    assert item_text({"body": "b", "title": "t"}) is None
    assert item_text({"body": "b", "title": "t"}, "title") == "t"


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="ab c,.é", min_size=0, max_size=30), st.data())
def test_token_cuts_brute_force(text: str, data: st.DataObject) -> None:
    """A position cuts a token iff the characters on both sides are word characters."""
    n = len(text)
    pos = np.array(data.draw(st.lists(st.integers(0, n), min_size=1, max_size=10)), dtype=np.int64)
    cut, _ = token_cuts(text, pos, pos)
    word = re.compile(r"\w")
    want = [0 < p < n and bool(word.match(text[p - 1])) and bool(word.match(text[p])) for p in pos.tolist()]
    assert cut.tolist() == want


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 20), st.integers(0, 6)), min_size=0, max_size=25))
def test_overlapping_in_groups_brute_force(intervals: list[tuple[int, int, int]]) -> None:
    """Each reported interval overlaps some interval of its group that sorts before it, and vice versa."""
    g = np.array([x[0] for x in intervals], dtype=np.int64)
    s = np.array([x[1] for x in intervals], dtype=np.int64)
    e = s + np.array([x[2] for x in intervals], dtype=np.int64)
    idx, _ = overlapping_in_groups(g, s, e)
    order = np.lexsort((s, g)).tolist() if len(intervals) else []
    rank = {k: r for r, k in enumerate(order)}
    want = {k for k in range(len(intervals))
            if any(g[j] == g[k] and rank[j] < rank[k] and min(e[j], e[k]) - s[k] > 0 for j in range(len(intervals)))}
    assert set(idx.tolist()) == want


def seg(start: float, end: float, speaker: str = "A", text: str | None = None) -> Segment:
    return Segment(start=start, end=end, speaker=speaker, text=text)


def clean_audio() -> Dataset:
    records = []
    items = {}
    for i in range(10):
        iid = f"call{i}"
        items[iid] = Item(item_id=iid, duration_s=30.0)
        t = 0.0
        for k in range(10):
            records.append(rec(iid, seg(t, t + 2.5, "A" if k % 2 else "B", text="hello there"), rid=f"s{k}", ls="dia"))
            t += 2.8
    return Dataset(records=tuple(records), items=items)


@pytest.mark.parametrize("check", [*AUDIO_CHECKS, "text.empty_transcript"])
def test_clean_audio_has_no_findings(check: str) -> None:
    assert run_checks(clean_audio(), only=[check]).findings == ()


def test_audio_planted() -> None:
    items = {"c": Item(item_id="c", duration_s=20.0), "nodur": Item(item_id="nodur")}
    records = [
        rec("c", seg(0, 4, "A"), rid="a1", ls="dia"),
        rec("c", seg(3, 6, "A"), rid="a_overlap", ls="dia"),  # same speaker, 1 s overlap
        rec("c", seg(4.5, 5.5, "B"), rid="b_cross", ls="dia"),  # other speaker: 1 s crosstalk, within tolerance
        rec("c", seg(13, 21, "B", text=""), rid="b_late", ls="dia"),  # 7 s silence before, 1 s past the end
        rec("nodur", seg(0, 500, "A"), rid="unknown_duration", ls="dia"),
        rec("c", seg(2, 8, "C"), ann="z", rid="other_annotator", ls="dia"),
    ]
    ds = Dataset(records=tuple(records), items=items)
    assert ids(ds, "audio.beyond_duration") == ["b_late"]
    got = run_checks(ds, only=["audio.speaker_overlap"]).findings
    assert [(f.region_id, f.evidence["overlap_s"]) for f in got] == [("a_overlap", 1.0)]
    got = run_checks(ds, only=["audio.gap_overlap"]).findings
    assert [(f.region_id, f.evidence) for f in got] == [("b_late", {"gap_s": 7.0})]
    assert ids(ds, "text.empty_transcript") == ["b_late"]
    tight = {"checks": {"audio.gap_overlap": {"max_overlap_s": 0.5}}}
    assert "b_cross" in [f.region_id for f in run_checks(ds, only=["audio.gap_overlap"], rules=tight).findings]
