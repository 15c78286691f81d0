"""Attribute agreement (accord.core.qa.attributes): known answers with the arithmetic, a differential
Levenshtein against a plain DP and rapidfuzz, Wilson intervals against statsmodels, and error paths."""

from __future__ import annotations

import doctest
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accord.core.qa.attributes as attributes_module
from accord.core.errors import InvalidAnnotationError
from accord.core.model import Box, Classification, Dataset, Record
from accord.core.qa.attributes import (
    AttributeAgreement,
    attribute_agreement,
    levenshtein_distance,
    levenshtein_similarity_score,
    pool,
)
from accord.core.schema import AttributeSpec, LabelSet, Schema


def _box(item: str, who: str, label: str, x: float, attrs: dict[str, Any], *, source: str = "human",
         region: str | None = None) -> Record:
    return Record(item_id=item, annotator_id=who, label_set="boxes", source=source,  # type: ignore[arg-type]
                  value=Box(label=label, x=x, y=0, width=10, height=10), attributes=attrs, region_id=region)


SCHEMA = Schema.of(LabelSet(name="boxes", kind="box", labels=("car", "person"), attributes={
    "car": (AttributeSpec(name="colour", values=("red", "blue"), input_type="select"),
            AttributeSpec(name="plate", input_type="text"),
            AttributeSpec(name="speed", input_type="number")),
}))


def _dataset() -> Dataset:
    # Two images; ann1, ann2, ann3 each draw the same car (and ann1 and ann2 a person far away on b.jpg).
    recs = [
        _box("a.jpg", "ann1", "car", 0, {"colour": "red", "plate": "AB-123", "speed": "30"}),
        _box("a.jpg", "ann2", "car", 1, {"colour": "red", "plate": "AB-128", "speed": "35"}),
        _box("a.jpg", "ann3", "car", 0, {"colour": "blue", "plate": "AB-123", "speed": 30.0}),
        _box("b.jpg", "ann1", "car", 0, {"colour": "blue", "plate": "", "speed": "10"}),
        _box("b.jpg", "ann2", "car", 0, {"colour": "blue", "plate": "", "speed": "12.5", "source": "auto"}),
        _box("b.jpg", "ann3", "car", 0, {"colour": "blue", "plate": "X", "speed": "10"}),
        _box("b.jpg", "ann1", "person", 100, {"occluded": True}),
        _box("b.jpg", "ann2", "person", 100, {}),
    ]
    return Dataset(records=tuple(recs), schema=SCHEMA)


def _rows(rep: Any) -> dict[tuple[str, str, str, str], AttributeAgreement]:
    return {(r.reference_id, r.candidate_id, r.label, r.attribute): r for r in rep.rows}


# ------------------------------------------------------------------ Levenshtein


@pytest.mark.parametrize(("a", "b", "d"), [
    ("kitten", "sitting", 3),  # k->s, e->i, +g (the textbook example)
    ("flaw", "lawn", 2),  # -f, +n
    ("", "abc", 3),
    ("abc", "abc", 0),
    ("AB-123", "AB-128", 1),
])
def test_levenshtein_known_answers(a: str, b: str, d: int) -> None:
    assert levenshtein_distance(a, b) == d
    assert levenshtein_distance(b, a) == d
    assert levenshtein_similarity_score(a, b) == pytest.approx(1 - d / max(len(a), len(b), 1))


def test_two_empty_strings_are_identical() -> None:
    assert levenshtein_similarity_score("", "") == 1.0


def _plain_dp(a: str, b: str) -> int:
    """Wagner–Fischer, written independently of accord's vectorised version."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="abcé -1", max_size=12), st.text(alphabet="abcé -1", max_size=12))
def test_levenshtein_matches_a_plain_dp_and_rapidfuzz(a: str, b: str) -> None:
    d = levenshtein_distance(a, b)
    assert d == _plain_dp(a, b)
    rf = pytest.importorskip("rapidfuzz.distance")
    assert d == rf.Levenshtein.distance(a, b)
    assert levenshtein_similarity_score(a, b) == pytest.approx(rf.Levenshtein.normalized_similarity(a, b))
    assert 0.0 <= levenshtein_similarity_score(a, b) <= 1.0
    assert levenshtein_similarity_score(a, b) == levenshtein_similarity_score(b, a)


# ------------------------------------------------------------------ agreement


def test_known_answers_per_pair_and_attribute() -> None:
    rep = attribute_agreement(_dataset(), "boxes")
    rows = _rows(rep)
    # ann1 vs ann2 on the car: a.jpg red/red, b.jpg blue/blue -> 2 of 2.
    assert rows["ann1", "ann2", "car", "colour"].n_exact == 2
    assert rows["ann1", "ann2", "car", "colour"].kind == "categorical"
    # plate (text): "AB-123" vs "AB-128" -> 1 - 1/6; "" vs "" -> 1 (equal, both empty). Mean (5/6 + 1) / 2 = 11/12.
    plate = rows["ann1", "ann2", "car", "plate"]
    assert (plate.n, plate.n_exact, plate.n_text) == (2, 1, 2)
    assert plate.mean_similarity_score == pytest.approx(11 / 12)
    # speed (number): |30 - 35| = 5 and |10 - 12.5| = 2.5 -> mean 3.75, max 5.
    speed = rows["ann1", "ann2", "car", "speed"]
    assert speed.kind == "numeric"
    assert (speed.n_numeric, speed.n_exact) == (2, 0)
    assert speed.mean_absolute_error == pytest.approx(3.75)
    assert speed.max_abs_difference == 5.0
    # "30" (text from an export) and 30.0 (a number) are the same number: ann1 vs ann3 speed matches twice.
    assert rows["ann1", "ann3", "car", "speed"].n_exact == 2
    # the person: ann1 says occluded, ann2 says nothing -> one-sided, a mismatch; inferred categorical (bool).
    occ = rows["ann1", "ann2", "person", "occluded"]
    assert (occ.n, occ.n_exact, occ.n_one_sided, occ.kind) == (1, 0, 1, "categorical")
    # "source" is bookkeeping, never compared.
    assert not any(r.attribute == "source" for r in rep.rows)
    # 3 pairs of the car on 2 images + 1 person pair = 7 region pairs.
    assert rep.n_region_pairs == 7


def test_pooled_rows_re_sum_counts_not_ratios() -> None:
    rep = attribute_agreement(_dataset(), "boxes")
    pooled = {(r.label, r.attribute): r for r in rep.pooled()}
    colour = pooled["car", "colour"]
    # pairs (1,2): 2/2, (1,3): 1/2 (a.jpg red vs blue), (2,3): 1/2 -> 4 of 6, not the mean of ratios.
    assert (colour.n_exact, colour.n) == (4, 6)
    assert colour.exact_match.estimate == pytest.approx(4 / 6)
    assert colour.reference_id == colour.candidate_id == "*"
    # Wilson interval agrees with statsmodels' (differential).
    sm = pytest.importorskip("statsmodels.stats.proportion")
    lo, hi = sm.proportion_confint(4, 6, alpha=0.05, method="wilson")
    assert (colour.exact_match.low, colour.exact_match.high) == (pytest.approx(lo), pytest.approx(hi))


def test_reference_comparison_and_label_mismatches_are_skipped() -> None:
    recs = [
        _box("a.jpg", "gold", "car", 0, {"colour": "red"}, source="reference"),
        _box("a.jpg", "ann1", "car", 0, {"colour": "blue"}, region="r1"),
        _box("a.jpg", "ann2", "person", 0, {"colour": "red"}),  # matched, but a different label
    ]
    rep = attribute_agreement(Dataset(records=tuple(recs), schema=SCHEMA), "boxes")
    rows = _rows(rep)
    assert set(rows) == {("reference", "ann1", "car", "colour")}
    assert rows["reference", "ann1", "car", "colour"].comparison == "reference"
    assert rep.n_label_mismatches == 2  # ann1 vs ann2, and gold vs ann2
    (m,) = rep.mismatches
    assert (m.reference_value, m.candidate_value, m.candidate_region_id) == ("red", "blue", "r1")


def test_tags_pair_by_label() -> None:
    recs = [Record(item_id="i", annotator_id=a, label_set="tags", value=Classification(label="sunny"),
                   attributes={"confidence": c}) for a, c in (("ann1", "high"), ("ann2", "low"))]
    (row,) = attribute_agreement(Dataset(records=tuple(recs)), "tags").rows
    assert (row.n, row.n_exact) == (1, 0)


def test_no_attributes_no_rows_and_undefined_rates_are_nan() -> None:
    recs = [_box("a.jpg", a, "car", 0, {}) for a in ("ann1", "ann2")]
    rep = attribute_agreement(Dataset(records=tuple(recs)), "boxes")
    assert rep.rows == ()
    assert rep.n_region_pairs == 1
    empty = AttributeAgreement(label_set="b", label="car", attribute="x", kind="text", comparison="annotators",
                               reference_id="a", candidate_id="b", n=0, n_exact=0)
    assert not empty.exact_match.defined
    assert empty.mean_similarity_score != empty.mean_similarity_score  # NaN, not a silent 1.0


def test_bad_number_and_bad_confidence_raise_clearly() -> None:
    recs = [_box("a.jpg", "ann1", "car", 0, {"speed": "fast"}), _box("a.jpg", "ann2", "car", 0, {"speed": "30"})]
    with pytest.raises(InvalidAnnotationError, match=r"item 'a.jpg', label 'car', attribute 'speed'.*'fast'"):
        attribute_agreement(Dataset(records=tuple(recs), schema=SCHEMA), "boxes")
    with pytest.raises(InvalidAnnotationError, match="confidence must be in"):
        attribute_agreement(_dataset(), "boxes", confidence=1.0)


def test_pool_refuses_mixed_kinds() -> None:
    base = dict(label_set="b", label="car", attribute="x", comparison="annotators", reference_id="a",
                candidate_id="b", n=1, n_exact=1)
    with pytest.raises(InvalidAnnotationError, match=r"compared as \['numeric', 'text'\]"):
        pool([AttributeAgreement(kind="text", **base), AttributeAgreement(kind="numeric", **base)])  # type: ignore[arg-type]


def test_doctests_run() -> None:
    result = doctest.testmod(attributes_module)
    assert result.attempted >= 3
    assert result.failed == 0
