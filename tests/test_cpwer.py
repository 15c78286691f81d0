"""cpWER per speaker (CHiME-6's definition) and its place in the report's audio sections (#20).

CHiME-6 (Watanabe et al. 2020, arXiv:2004.09249, section 4.1) defines cpWER as: concatenate
each speaker's utterances, compute the WER of every permutation of hypothesis speakers
against reference speakers, and keep the lowest; missing or extra speakers are scored
against empty transcripts.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from accord.core.errors import InvalidAnnotationError
from accord.core.matching.transcripts import transcript_errors
from accord.core.model import Dataset, Record, Segment
from accord.core.qa.cpwer import cp_word_errors, speaker_transcripts
from accord.core.qa.report import ReportConfig, build_report
from accord.core.schema import LabelSet, Schema
from accord.report_html import render_html

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "core" / "data" / "report.schema.json"


def test_two_speakers_hand_computed() -> None:
    # Reference: A "hello how are you" (4 words), B "fine thanks" (2).
    # Candidate names them s1 / s2. Mapping A->s2, B->s1:
    #   "hello how are you" vs "hello who are you": 1 substitution;
    #   "fine thanks" vs "fine thanks a lot": 2 insertions     -> 3 errors.
    # Mapping A->s1, B->s2:
    #   "hello how are you" vs "fine thanks a lot": 4 substitutions;
    #   "fine thanks" vs "hello who are you": 2 substitutions + 2 insertions -> 8 errors.
    # cpWER = min(3, 8) / 6 reference words = 0.5.
    e = cp_word_errors({"A": "hello how are you", "B": "fine thanks"},
                       {"s1": "fine thanks a lot", "s2": "hello who are you"})
    assert (e.errors, e.n_reference) == (3, 6)
    assert e.error_rate == pytest.approx(0.5)
    assert e.mapping == (("A", "s2"), ("B", "s1"))


def test_missing_and_extra_speakers_count_all_their_words() -> None:
    # C is never transcribed: its 3 words are deletions; the rest is perfect.
    e = cp_word_errors({"A": "one two", "B": "three", "C": "four five six"}, {"x": "one two", "y": "three"})
    assert (e.errors, e.n_reference) == (3, 6)
    assert ("C", None) in e.mapping
    # An extra candidate speaker: its 2 words are insertions.
    e = cp_word_errors({"A": "one two"}, {"x": "one two", "y": "noise here"})
    assert (e.errors, e.n_reference) == (2, 2)
    assert (None, "y") in e.mapping


def _brute_force(ref: dict[str, str], cand: dict[str, str]) -> int:
    """CHiME-6's search: pad both sides with empty speakers, try every permutation."""
    size = max(len(ref), len(cand))
    r = [ref[k] for k in sorted(ref)] + [""] * (size - len(ref))
    c = [cand[k] for k in sorted(cand)] + [""] * (size - len(cand))

    def errs(a: str, b: str) -> int:
        t = transcript_errors(a, b)
        return t.substitutions + t.deletions + t.insertions

    return min(sum(errs(r[i], c[p[i]]) for i in range(size)) for p in itertools.permutations(range(size)))


def test_hungarian_equals_the_permutation_search() -> None:
    rng = random.Random(7)
    words = ["a", "b", "c", "d", "e", "f", "g", "h"]
    for _ in range(40):
        ref = {f"r{k}": " ".join(rng.choices(words, k=rng.randint(1, 6))) for k in range(rng.randint(1, 4))}
        cand = {f"c{k}": " ".join(rng.choices(words, k=rng.randint(1, 6))) for k in range(rng.randint(1, 4))}
        assert cp_word_errors(ref, cand).errors == _brute_force(ref, cand)


def test_against_jiwer_on_the_concatenations() -> None:
    jiwer = pytest.importorskip("jiwer")
    rng = random.Random(3)
    words = ["yes", "no", "maybe", "so", "well", "then", "okay"]
    for _ in range(20):
        ref = {f"r{k}": " ".join(rng.choices(words, k=rng.randint(1, 8))) for k in range(3)}
        cand = {f"c{k}": " ".join(rng.choices(words, k=rng.randint(1, 8))) for k in range(rng.randint(2, 4))}
        e = cp_word_errors(ref, cand)
        paired = [(ref[a], cand[b]) for a, b in e.mapping if a is not None and b is not None]
        paired += [(ref[a], "") for a, b in e.mapping if a is not None and b is None]
        extra = sum(len(cand[b].split()) for a, b in e.mapping if a is None and b is not None)
        out = jiwer.process_words([p[0] for p in paired], [p[1] for p in paired])
        assert e.errors == out.substitutions + out.deletions + out.insertions + extra
        assert e.n_reference == sum(len(t.split()) for t in ref.values())


def test_speaker_transcripts_join_in_time_order() -> None:
    segs = [Segment(start=5.0, end=6.0, speaker="A", text="world"),
            Segment(start=1.0, end=2.0, speaker="A", text="hello"),
            Segment(start=3.0, end=4.0, speaker="B", text="hi"), Segment(start=0.0, end=1.0, speaker="B"),
            Segment(start=0.0, end=1.0, text="no speaker")]
    assert speaker_transcripts(segs) == {"A": "hello world", "B": "hi"}


def test_a_transcript_that_is_not_text_is_explained() -> None:
    with pytest.raises(InvalidAnnotationError, match="candidate transcript of speaker 'x' must be a string"):
        cp_word_errors({"A": "a"}, {"x": 3})  # type: ignore[dict-item]


# --------------------------------------------------------------------------- in the report


def _seg(item: str, who: str, start: float, speaker: str, text: str, source: str = "human") -> Record:
    return Record(item_id=item, annotator_id=who, label_set="turns", source=source,  # type: ignore[arg-type]
                  region_id=f"{who}-{item}-{start}",
                  value=Segment(start=start, end=start + 2.0, label="speech", speaker=speaker, text=text))


def _calls(gold: bool) -> Dataset:
    recs = []
    for item in ("call1", "call2"):
        if gold:
            recs += [_seg(item, "lead", 0.0, "A", "hello how are you", "reference"),
                     _seg(item, "lead", 3.0, "B", "fine thanks", "reference")]
        # ann: perfect on call1; on call2 the hand-computed case above (3 errors of 6 words).
        if item == "call1":
            recs += [_seg(item, "ann", 0.0, "spk1", "hello how are you"),
                     _seg(item, "ann", 3.0, "spk2", "fine thanks")]
        else:
            recs += [_seg(item, "ann", 0.0, "s2", "hello who are you"),
                     _seg(item, "ann", 3.0, "s1", "fine thanks a lot")]
        # bea: one speaker for everything (call1 and call2 alike):
        # A "hello how are you" vs "hello how are you fine thanks": 2 insertions; B deleted: 2 -> 4 errors.
        recs += [_seg(item, "bea", 0.0, "x", "hello how are you"), _seg(item, "bea", 3.0, "x", "fine thanks")]
    schema = Schema(label_sets={"turns": LabelSet(name="turns", kind="segment", labels=("speech",))})
    return Dataset(records=tuple(recs), schema=schema)


def _validate(report: dict) -> None:
    import jsonschema

    jsonschema.validate(json.loads(json.dumps(report)), json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def test_report_gives_each_annotators_cpwer_against_gold() -> None:
    report = build_report(_calls(gold=True), config=ReportConfig(n_bootstrap=50), seed=0)
    cp = report["agreement"]["turns"]["cpwer"]
    assert cp["against"] == "gold"
    rows = {x["annotator_id"]: x for x in cp["rows"]}
    # ann: 0 + 3 errors over 12 gold words; bea: 4 + 4 over 12.
    assert (rows["ann"]["errors"], rows["ann"]["n_reference_words"], rows["ann"]["n_items"]) == (3, 12, 2)
    assert rows["ann"]["cpwer"] == pytest.approx(0.25)
    assert rows["bea"]["cpwer"] == pytest.approx(8 / 12, abs=1e-6)
    assert [x["annotator_id"] for x in cp["rows"]] == ["bea", "ann"]  # worst first
    _validate(report)
    html = render_html(report)
    assert "per-speaker word error rate (cpWER) against gold" in html
    assert "0.667" in html


def test_report_gives_pairwise_cpwer_without_gold() -> None:
    report = build_report(_calls(gold=False), config=ReportConfig(n_bootstrap=50), seed=0)
    cp = report["agreement"]["turns"]["cpwer"]
    assert cp["against"] == "each other"
    (row,) = cp["rows"]
    assert (row["annotator_a"], row["annotator_b"]) == ("ann", "bea")
    # bea has one speaker x = "hello how are you fine thanks" (6 words) on both calls.
    # call1, ann as reference (6 words): spk1->x 2 insertions, spk2 deleted 2 = 4;
    #        bea as reference (6): x->spk1 2 deletions, spk2 inserted 2 = 4.
    # call2, ann as reference ("hello who are you" / "fine thanks a lot", 8 words):
    #        s2->x 1 substitution + 2 insertions, s1 deleted 4 = 7;
    #        bea as reference (6): x->s2 1 substitution + 2 deletions, s1 inserted 4 = 7.
    # Total 4 + 4 + 7 + 7 = 22 errors over 6 + 6 + 8 + 6 = 26 words.
    assert (row["errors"], row["n_reference_words"]) == (22, 26)
    assert row["cpwer"] == pytest.approx(22 / 26, abs=1e-6)
    assert row["n_items"] == 2
    _validate(report)
    assert "per-speaker word error rate (cpWER) against each other" in render_html(report)


def test_no_cpwer_without_speaker_text() -> None:
    recs = [Record(item_id="c", annotator_id=a, label_set="turns", region_id=a,
                   value=Segment(start=0.0, end=1.0, label="speech")) for a in ("ann", "bea")]
    report = build_report(Dataset(records=tuple(recs)), config=ReportConfig(n_bootstrap=20), seed=0)
    assert "cpwer" not in report["agreement"]["turns"]
