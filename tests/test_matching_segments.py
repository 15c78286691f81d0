"""Time segments: temporal IoU, matching and diarization error rate (hand-computed answers)."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accord.core.matching.segments as segments_module
from accord.core.errors import InvalidAnnotationError
from accord.core.matching.registry import get_similarity
from accord.core.matching.segments import diarization_errors, match_segments, segment_iou_matrix
from accord.core.model import Segment


def seg(start: float, end: float, speaker: str | None = None, label: str | None = None) -> Segment:
    return Segment(start=start, end=end, speaker=speaker, label=label)


def test_doctests_run() -> None:
    result = doctest.testmod(segments_module)
    assert result.attempted > 0
    assert result.failed == 0


def test_iou_known_answers() -> None:
    # [0, 4] vs [2, 6]: overlap 2, union 6 -> 1/3. [0, 4] vs [4, 8]: touching -> 0.
    m = segment_iou_matrix([seg(0, 4)], [seg(2, 6), seg(4, 8), seg(0, 4)])
    assert m[0].tolist() == pytest.approx([1 / 3, 0.0, 1.0])
    assert get_similarity("segment") is segment_iou_matrix


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 20)), max_size=5),
       st.lists(st.tuples(st.floats(0, 100), st.floats(0, 20)), max_size=5))
def test_iou_bounds_symmetry(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> None:
    sa = [seg(s, s + d) for s, d in a]
    sb = [seg(s, s + d) for s, d in b]
    m = segment_iou_matrix(sa, sb)
    assert ((m >= 0) & (m <= 1 + 1e-12)).all()
    assert (m == segment_iou_matrix(sb, sa).T).all()


def test_matching_with_labels() -> None:
    ref = [seg(0, 10, label="speech"), seg(20, 30, label="music")]
    cand = [seg(1, 10, label="speech"), seg(20, 29, label="speech")]
    res = match_segments(ref, cand, iou_threshold=0.5)
    assert res.pairs == ((0, 0), (1, 1))
    assert res.label_mismatches == (1,)
    assert match_segments(ref, cand, label_aware=True).pairs == ((0, 0),)
    assert match_segments(ref, cand, iou_threshold=0.95).pairs == ()


def test_der_overlap_miss_false_alarm() -> None:
    # Reference A [0,10), B [5,15); candidate x [0,8), y [8,20).
    # Pieces: [0,5) A|x, [5,8) AB|x (1 missed x 3 s), [8,10) AB|y (1 missed x 2 s), [10,15) B|y,
    # [15,20) -|y (false alarm 5 s). Total = 10 + 10 = 20; missed = 5; false alarm = 5.
    # Co-speaking: A-x 8, A-y 2, B-x 3, B-y 7 -> mapping A->x, B->y, correct 15;
    # scored = 5 + 3 + 2 + 5 = 15 -> confusion 0. DER = (5 + 5 + 0) / 20 = 0.5.
    e = diarization_errors([seg(0, 10, "A"), seg(5, 15, "B")], [seg(0, 8, "x"), seg(8, 20, "y")])
    assert (e.total, e.missed, e.false_alarm, e.confusion, e.correct) == pytest.approx((20, 5, 5, 0, 15))
    assert e.diarization_error_rate == pytest.approx(0.5)
    assert dict(e.mapping) == {"A": "x", "B": "y"}


def test_der_confusion() -> None:
    # A [0,10) against x [0,4), y [4,10): mapping A->y (6 s), 4 s confused. DER = 4/10.
    e = diarization_errors([seg(0, 10, "A")], [seg(0, 4, "x"), seg(4, 10, "y")])
    assert (e.confusion, e.correct) == pytest.approx((4.0, 6.0))
    assert e.diarization_error_rate == pytest.approx(0.4)
    assert e.confusion_rate == pytest.approx(0.4)
    assert e.missed_rate == 0.0


def test_der_collar_and_skip_overlap() -> None:
    # A [0,10) vs x [1,10): 1 s missed -> 0.1. A collar of 1 s on each side of each reference
    # boundary removes [-1,1] and [9,11]: scored [1,9), total 8, nothing missed -> 0.
    ref, cand = [seg(0, 10, "A")], [seg(1, 10, "x")]
    assert diarization_errors(ref, cand).diarization_error_rate == pytest.approx(0.1)
    e = diarization_errors(ref, cand, collar=1.0)
    assert e.total == pytest.approx(8.0)
    assert e.diarization_error_rate == 0.0
    # First example without the overlap [5,10): total 10, missed 0, false alarm 5 -> 0.5.
    e = diarization_errors([seg(0, 10, "A"), seg(5, 15, "B")], [seg(0, 8, "x"), seg(8, 20, "y")],
                           skip_overlap=True)
    assert (e.total, e.missed, e.false_alarm) == pytest.approx((10, 0, 5))


def test_corpus_der_sums_components() -> None:
    a = diarization_errors([seg(0, 10, "A")], [seg(1, 10, "x")])     # 1 / 10
    b = diarization_errors([seg(0, 30, "B")], [seg(0, 30, "y")])     # 0 / 30
    assert (a + b).diarization_error_rate == pytest.approx(1 / 40)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 10), st.sampled_from("AB")), min_size=1,
                max_size=5),
       st.lists(st.tuples(st.integers(0, 50), st.integers(1, 10), st.sampled_from("xyz")), max_size=5))
def test_der_invariant_to_renaming_and_bounded(ref: list[tuple[int, int, str]],
                                               cand: list[tuple[int, int, str]]) -> None:
    r = [seg(s, s + d, k) for s, d, k in ref]
    c = [seg(s, s + d, k) for s, d, k in cand]
    c2 = [seg(s, s + d, k.upper() + "_renamed") for s, d, k in cand]
    e, e2 = diarization_errors(r, c), diarization_errors(r, c2)
    assert e.diarization_error_rate == pytest.approx(e2.diarization_error_rate)
    assert e.confusion >= -1e-9
    assert e.missed >= 0
    assert e.false_alarm >= 0
    assert e.correct + e.missed + e.confusion == pytest.approx(e.total)
    assert diarization_errors(r, r).diarization_error_rate == 0.0


def test_errors_and_undefined() -> None:
    assert math.isnan(diarization_errors([], [seg(0, 1, "x")]).diarization_error_rate)
    with pytest.raises(InvalidAnnotationError, match="needs a speaker"):
        diarization_errors([seg(0, 1)], [])
    with pytest.raises(InvalidAnnotationError, match="mix units"):
        segment_iou_matrix([seg(0, 1)], [Segment(start=0, end=1, unit="frame")])
    with pytest.raises(InvalidAnnotationError, match="collar must be >= 0"):
        diarization_errors([seg(0, 1, "A")], [], collar=-1.0)
    with pytest.raises(InvalidAnnotationError, match=r"iou_threshold must be in \(0, 1\]"):
        match_segments([], [], iou_threshold=0)
