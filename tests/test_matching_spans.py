"""Span matching, span F1 and BIO conversion; seqeval differential tests."""

from __future__ import annotations

import doctest
import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report, f1_score
from seqeval.scheme import IOB2

import accord.core.matching.spans as spans_module
from accord.core.errors import InvalidAnnotationError
from accord.core.matching.registry import get_similarity
from accord.core.matching.spans import (
    bio_span_scores,
    bio_to_spans,
    match_spans,
    span_iou_matrix,
    span_scores,
)
from accord.core.model import Span

IOB2_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B", "I"]
ANY_TAGS = [*IOB2_TAGS, "E-PER", "S-LOC", "E-LOC", "S-PER"]


def sentences(tags: list[str]) -> st.SearchStrategy[tuple[list[list[str]], list[list[str]]]]:
    def pair(lengths: list[int]) -> st.SearchStrategy[tuple[list[list[str]], list[list[str]]]]:
        side = st.tuples(*[st.lists(st.sampled_from(tags), min_size=n, max_size=n) for n in lengths])
        return st.tuples(side.map(list), side.map(list))
    return st.lists(st.integers(0, 8), min_size=1, max_size=5).flatmap(pair)


def _zero(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def test_doctests_run() -> None:
    result = doctest.testmod(spans_module)
    assert result.attempted > 0
    assert result.failed == 0


def test_iou_known_answer_and_registry() -> None:
    a = [Span(label="A", start=0, end=10), Span(label="A", start=3, end=3)]
    b = [Span(label="B", start=5, end=15), Span(label="A", start=0, end=10)]
    # [0,10) vs [5,15): overlap 5, union 15 -> 1/3; identical -> 1; the empty span scores 0.
    iou = span_iou_matrix(a, b)
    assert iou[0, 0] == pytest.approx(1 / 3)
    assert iou[0, 1] == 1.0
    assert iou[1].tolist() == [0.0, 0.0]
    assert get_similarity("span") is span_iou_matrix


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 10)), max_size=6),
       st.lists(st.tuples(st.integers(0, 30), st.integers(0, 10)), max_size=6))
def test_iou_bounds_and_symmetry(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    sa = [Span(label="X", start=s, end=s + n) for s, n in a]
    sb = [Span(label="X", start=s, end=s + n) for s, n in b]
    m = span_iou_matrix(sa, sb)
    assert ((m >= 0) & (m <= 1)).all()
    assert (m == span_iou_matrix(sb, sa).T).all()
    for s in sa:
        assert span_iou_matrix([s], [s])[0, 0] == (1.0 if s.end > s.start else 0.0)


def test_exact_vs_overlap_matching() -> None:
    ref = [Span(label="PER", start=0, end=5), Span(label="LOC", start=10, end=20)]
    cand = [Span(label="PER", start=0, end=4), Span(label="ORG", start=10, end=20)]
    exact = match_spans(ref, cand)
    assert exact.pairs == ()
    assert exact.unmatched_reference == (0, 1)
    loose = match_spans(ref, cand, mode="exact", label_aware=False)
    assert loose.pairs == ((1, 1),)
    assert loose.label_mismatches == (0,)
    over = match_spans(ref, cand, mode="overlap", label_aware=False)
    assert over.pairs == ((0, 0), (1, 1))
    assert over.similarity == pytest.approx((0.8, 1.0))
    assert match_spans(ref, cand, mode="overlap", iou_threshold=0.9, label_aware=False).pairs == ((1, 1),)


def test_span_scores_micro_and_per_label() -> None:
    # Doc 1: PER exact hit, LOC predicted as ORG. Doc 2: one missed PER, one extra LOC.
    d1 = ([Span(label="PER", start=0, end=5), Span(label="LOC", start=10, end=20)],
          [Span(label="PER", start=0, end=5), Span(label="ORG", start=10, end=20)])
    d2 = ([Span(label="PER", start=3, end=8)], [Span(label="LOC", start=30, end=33)])
    s = span_scores([d1, d2])
    # tp = 1, reference = 3, candidate = 3 -> P = R = F1 = 1/3.
    assert (s.micro.tp, s.micro.n_reference, s.micro.n_candidate) == (1, 3, 3)
    assert s.f1_score() == pytest.approx(1 / 3)
    assert s.per_label["PER"].recall_score() == 0.5
    assert s.per_label["LOC"].tp == 0
    assert s.per_label["LOC"].n_candidate == 1
    assert math.isnan(s.per_label["ORG"].recall_score())
    assert math.isnan(span_scores([]).f1_score())


def test_bio_conversion_known_answers() -> None:
    # seqeval README example: B-PER I-PER O B-LOC -> PER [0, 2), LOC [3, 4).
    tags = ["B-PER", "I-PER", "O", "B-LOC"]
    assert [(s.label, s.start, s.end) for s in bio_to_spans(tags)] == [("PER", 0, 2), ("LOC", 3, 4)]
    # Default mode (conlleval): I-LOC after O opens an entity, I-PER after B-LOC opens another.
    assert [(s.label, s.start, s.end) for s in bio_to_spans(["O", "I-LOC", "B-LOC", "I-PER"])] == [
        ("LOC", 1, 2), ("LOC", 2, 3), ("PER", 3, 4)]
    # Strict IOB2: only B- opens; the dangling I- tags are dropped.
    assert [(s.label, s.start, s.end) for s in bio_to_spans(["O", "I-LOC", "B-LOC", "I-PER"],
                                                              mode="strict")] == [("LOC", 2, 3)]


@settings(max_examples=50, deadline=None)
@given(sentences(ANY_TAGS))
def test_default_mode_equals_seqeval(pair: tuple[list[list[str]], list[list[str]]]) -> None:
    ref, cand = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = f1_score(ref, cand)
        report = classification_report(ref, cand, output_dict=True)
    s = bio_span_scores(ref, cand)
    assert _zero(s.f1_score()) == pytest.approx(expected)
    for label, c in s.per_label.items():
        assert report[label]["support"] == c.n_reference
        assert _zero(c.precision_score()) == pytest.approx(report[label]["precision"])
        assert _zero(c.recall_score()) == pytest.approx(report[label]["recall"])
        assert c.f1_score() == pytest.approx(report[label]["f1-score"])
    if s.per_label:
        assert s.macro_f1_score() == pytest.approx(report["macro avg"]["f1-score"])
        assert _zero(s.weighted_f1_score()) == pytest.approx(report["weighted avg"]["f1-score"])


@settings(max_examples=50, deadline=None)
@given(sentences(IOB2_TAGS))
def test_strict_iob2_equals_seqeval(pair: tuple[list[list[str]], list[list[str]]]) -> None:
    ref, cand = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = f1_score(ref, cand, mode="strict", scheme=IOB2)
        report = classification_report(ref, cand, mode="strict", scheme=IOB2, output_dict=True)
    s = bio_span_scores(ref, cand, mode="strict")
    assert _zero(s.f1_score()) == pytest.approx(expected)
    for label, c in s.per_label.items():
        assert report[label]["support"] == c.n_reference
        assert c.f1_score() == pytest.approx(report[label]["f1-score"])


def test_bio_scores_equal_span_scores_on_converted_spans() -> None:
    ref = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    cand = [["B-PER", "I-PER", "O", "B-PER"], ["O", "B-ORG"]]
    docs = [(bio_to_spans(r), bio_to_spans(c)) for r, c in zip(ref, cand, strict=True)]
    assert bio_span_scores(ref, cand) == span_scores(docs)


def test_errors() -> None:
    with pytest.raises(InvalidAnnotationError, match="2 reference and 1 candidate"):
        bio_span_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(InvalidAnnotationError, match="sentence 0 has 2 reference tags"):
        bio_span_scores([["O", "O"]], [["O"]])
    with pytest.raises(InvalidAnnotationError, match="strict IOB2 tags"):
        bio_to_spans(["S-PER"], mode="strict")
    with pytest.raises(InvalidAnnotationError, match="no meaning with mode='exact'"):
        match_spans([], [], iou_threshold=0.5)
    with pytest.raises(InvalidAnnotationError, match=r"iou_threshold must be in \(0, 1\]"):
        match_spans([], [], mode="overlap", iou_threshold=0.0)
    with pytest.raises(InvalidAnnotationError, match="must hold Span values"):
        span_iou_matrix(["x"], [])  # type: ignore[list-item]
