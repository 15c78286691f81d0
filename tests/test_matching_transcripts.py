"""Transcript error rates: known answers, jiwer 4 differential tests, alignment ops."""

from __future__ import annotations

import doctest

import jiwer
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accord.core.matching.transcripts as transcripts_module
from accord.core.errors import InvalidAnnotationError
from accord.core.matching.transcripts import (
    TranscriptErrors,
    align_transcripts,
    character_error_rate,
    match_error_rate,
    tokenize,
    transcript_errors,
    word_error_rate,
    word_information_lost_rate,
    word_information_preserved_score,
)

WORDS = ["a", "b", "c", "the", "cat", "sat"]
sentence = st.lists(st.sampled_from(WORDS), max_size=9).map(" ".join)
spacey = st.lists(st.sampled_from([*WORDS, "  ", "\t", " \n "]), max_size=9).map(" ".join)


def test_doctests_run() -> None:
    result = doctest.testmod(transcripts_module)
    assert result.attempted > 0
    assert result.failed == 0


def test_known_answer_morris_example() -> None:
    # Morris, Maier & Green (2004) define MER = (S+D+I)/(H+S+D+I), WIP = H/N1 * H/N2.
    # "the cat sat on the mat" -> "the cat sit on mat": H=4 (the cat on mat), S=1 (sat/sit),
    # D=1 (the), I=0; N1=6, N2=5. WER=2/6, MER=2/6, WIP=(4/6)*(4/5)=0.5333.
    e = transcript_errors("the cat sat on the mat", "the cat sit on mat")
    assert (e.hits, e.substitutions, e.deletions, e.insertions) == (4, 1, 1, 0)
    assert e.error_rate == pytest.approx(2 / 6)
    assert e.match_error_rate == pytest.approx(2 / 6)
    assert e.word_information_preserved_score == pytest.approx(4 / 6 * 4 / 5)
    assert e.word_information_lost_rate == pytest.approx(1 - 4 / 6 * 4 / 5)


def test_corpus_totals_are_summed_counts_not_averaged_ratios() -> None:
    # Pair 1: 1 error / 1 word; pair 2: 0 errors / 9 words. Corpus WER = 1/10, not mean(1, 0) = 0.5.
    refs = ["x", "a b c d e f g h i"]
    cands = ["y", "a b c d e f g h i"]
    assert word_error_rate(refs, cands) == pytest.approx(0.1)
    both = transcript_errors(refs[:1], cands[:1]) + transcript_errors(refs[1:], cands[1:])
    assert both == transcript_errors(refs, cands)


def test_empty_reference_follows_jiwer() -> None:
    e = transcript_errors("", "a b")
    assert e.error_rate == 2.0 == jiwer.wer("", "a b")
    assert transcript_errors("", "").error_rate == 0.0
    assert transcript_errors("", "").word_information_preserved_score == 1.0


def test_normalisation_mirrors_jiwer_defaults() -> None:
    # "\t " is a run of two whitespace characters, so it becomes one space (jiwer's RemoveMultipleSpaces);
    # a lone tab stays inside its word.
    assert tokenize("  a\t b   c  ") == ["a", "b", "c"]
    assert tokenize("a\tb c") == ["a\tb", "c"] == jiwer.wer_default("a\tb c")[0]
    assert tokenize("  a\t b   c  ") == jiwer.wer_default("  a\t b   c  ")[0]
    assert tokenize(" ab c ", unit="char") == jiwer.cer_default(" ab c ")[0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(spacey, spacey), min_size=1, max_size=6))
def test_word_rates_equal_jiwer(pairs: list[tuple[str, str]]) -> None:
    refs = [r for r, _ in pairs]
    cands = [c for _, c in pairs]
    out = jiwer.process_words(refs, cands)
    e = transcript_errors(refs, cands)
    assert (e.hits, e.substitutions, e.deletions, e.insertions) == (
        out.hits, out.substitutions, out.deletions, out.insertions)
    assert e.error_rate == pytest.approx(out.wer)
    assert e.match_error_rate == pytest.approx(out.mer)
    assert e.word_information_lost_rate == pytest.approx(out.wil)
    assert e.word_information_preserved_score == pytest.approx(out.wip)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.text("ab c", max_size=12), st.text("ab c", max_size=12)),
                min_size=1, max_size=5))
def test_cer_equals_jiwer(pairs: list[tuple[str, str]]) -> None:
    refs = [r for r, _ in pairs]
    cands = [c for _, c in pairs]
    out = jiwer.process_characters(refs, cands)
    e = transcript_errors(refs, cands, unit="char")
    assert (e.hits, e.substitutions, e.deletions, e.insertions) == (
        out.hits, out.substitutions, out.deletions, out.insertions)
    assert e.error_rate == pytest.approx(out.cer)


@settings(max_examples=50, deadline=None)
@given(sentence, sentence)
def test_alignment_equals_jiwer_chunks(ref: str, cand: str) -> None:
    out = jiwer.process_words(ref, cand)
    expected: list[tuple[str, int | None, int | None]] = []
    for c in out.alignments[0]:
        if c.type in ("equal", "substitute"):
            expected += [(c.type, c.ref_start_idx + q, c.hyp_start_idx + q)
                         for q in range(c.ref_end_idx - c.ref_start_idx)]
        elif c.type == "delete":
            expected += [("delete", q, None) for q in range(c.ref_start_idx, c.ref_end_idx)]
        else:
            expected += [("insert", None, q) for q in range(c.hyp_start_idx, c.hyp_end_idx)]
    ops = align_transcripts(ref, cand)[0]
    assert [(o.kind, o.reference_index, o.candidate_index) for o in ops] == expected
    for o in ops:
        if o.kind == "equal":
            assert o.reference_token == o.candidate_token
        if o.kind == "substitute":
            assert o.reference_token != o.candidate_token


def test_alignment_names_substituted_words() -> None:
    ops = align_transcripts("turn the light on", "turn a light on please")[0]
    subs = [(o.reference_token, o.candidate_token) for o in ops if o.kind == "substitute"]
    ins = [o.candidate_token for o in ops if o.kind == "insert"]
    assert subs == [("the", "a")]
    assert ins == ["please"]


def test_functions_agree_with_result() -> None:
    r, c = ["one two three"], ["one too three four"]
    e = transcript_errors(r, c)
    assert word_error_rate(r, c) == e.error_rate == pytest.approx(jiwer.wer(r, c))
    assert match_error_rate(r, c) == pytest.approx(jiwer.mer(r, c))
    assert word_information_lost_rate(r, c) == pytest.approx(jiwer.wil(r, c))
    assert word_information_preserved_score(r, c) == pytest.approx(jiwer.wip(r, c))
    assert character_error_rate(r, c) == pytest.approx(jiwer.cer(r, c))


def test_many_lengths_in_one_batch() -> None:
    # Buckets of different sizes, a long pair, and empty ones together.
    refs = ["a " * 200, "", "b c", "x y z " * 30]
    cands = ["a " * 150 + "b", "q", "", "x z y " * 30]
    out = jiwer.process_words(refs, cands)
    e = transcript_errors(refs, cands)
    assert (e.hits, e.substitutions, e.deletions, e.insertions) == (
        out.hits, out.substitutions, out.deletions, out.insertions)


def test_errors() -> None:
    with pytest.raises(InvalidAnnotationError, match="2 reference and 1 candidate"):
        transcript_errors(["a", "b"], ["a"])
    with pytest.raises(InvalidAnnotationError, match="must be strings"):
        transcript_errors(["a", 3], ["a", "b"])  # type: ignore[list-item]
    with pytest.raises(InvalidAnnotationError, match="unit must be"):
        transcript_errors("a", "a", unit="phone")  # type: ignore[arg-type]
    with pytest.raises(InvalidAnnotationError, match="same unit"):
        _ = transcript_errors("a", "a") + transcript_errors("a", "a", unit="char")
    assert isinstance(transcript_errors("a", "b"), TranscriptErrors)
