"""Error taxonomy: classification of matching discrepancies, user config, counts."""

from __future__ import annotations

import pytest

from accord.core import Box, Record, Segment, Span
from accord.core.errors import ConfigError
from accord.core.matching.base import box_iou_matrix, match_similarity
from accord.core.qa.taxonomy import (
    DEFAULT_TAXONOMY,
    classify_match,
    compare_counts,
    count_discrepancies,
    taxonomy_from_toml,
    word_edit_distance,
)
from accord.plugins.cvat.vocabulary import CVAT_VOCABULARY


def _box(ann: str, label: str, x: float, w: float = 10, rid: str = "", **attrs: object) -> Record:
    return Record(item_id="img1", annotator_id=ann, label_set="objects", region_id=rid or f"{ann}{x}",
                  value=Box(label=label, x=x, y=0, width=w, height=10), attributes=attrs)  # type: ignore[arg-type]


def _classify(ref: list[Record], cand: list[Record], **kw: object):  # type: ignore[no-untyped-def]
    sim = box_iou_matrix([r.value.xyxy() for r in ref], [c.value.xyxy() for c in cand])  # type: ignore[union-attr]
    m = match_similarity(sim, threshold=0.3, reference_labels=[r.label for r in ref],
                         candidate_labels=[c.label for c in cand])
    return classify_match(m, ref, cand, **kw)  # type: ignore[arg-type]


def test_each_geometry_event_gets_its_category_and_evidence() -> None:
    ref = [_box("gold", "car", 0), _box("gold", "person", 100), _box("gold", "car", 200),
           _box("gold", "bike", 300, occluded=True)]
    cand = [_box("ann", "car", 0),                 # perfect
            _box("ann", "car", 100),               # wrong class
            _box("ann", "car", 203),               # IoU 7/13 = 0.538 -> poor localization
            _box("ann", "bike", 300, occluded=False),  # wrong attribute
            _box("ann", "car", 500)]               # extra
    ds = _classify(ref, cand)
    cats = sorted(d.category for d in ds)
    assert cats == ["extra_object", "poor_localization", "wrong_attribute", "wrong_class"]
    loc = next(d for d in ds if d.category == "poor_localization")
    assert loc.evidence["similarity"] == pytest.approx(7 / 13, abs=1e-6)
    assert loc.annotator_id == "ann"
    assert loc.reference_label == "car"
    attr = next(d for d in ds if d.category == "wrong_attribute")
    assert attr.evidence["attributes"] == ["occluded"]


def test_missing_object_names_the_annotator_even_without_a_candidate_region() -> None:
    ref = [_box("gold", "car", 0), _box("gold", "car", 100)]
    ds = _classify(ref, [_box("ann", "car", 0)])
    assert [(d.category, d.annotator_id, d.severity) for d in ds] == [("missing_object", "ann", "major")]


def test_spans_and_segments_use_boundary_error_speaker_and_transcript_categories() -> None:
    ref = [Record(item_id="t", annotator_id="g", label_set="ner", value=Span(label="PER", start=0, end=10))]
    cand = [Record(item_id="t", annotator_id="a", label_set="ner", value=Span(label="PER", start=0, end=12))]
    m = match_similarity([[10 / 12]], threshold=0.1, reference_labels=["PER"], candidate_labels=["PER"])
    assert [d.category for d in classify_match(m, ref, cand)] == ["boundary_error"]
    sref = [Record(item_id="c", annotator_id="g", label_set="turns",
                   value=Segment(start=0, end=2, speaker="A", text="hello there"))]
    scand = [Record(item_id="c", annotator_id="a", label_set="turns",
                    value=Segment(start=0, end=2, speaker="B", text="hello their"))]
    m = match_similarity([[1.0]], threshold=0.1)
    ds = classify_match(m, sref, scand)
    assert sorted(d.category for d in ds) == ["transcription_error", "wrong_speaker"]
    assert next(d for d in ds if d.category == "transcription_error").evidence["edit_distance"] == 1


def test_user_config_adds_categories_and_rules_that_win_over_defaults() -> None:
    tax = taxonomy_from_toml("""
        [[taxonomy.categories]]
        name = "missed_pedestrian"
        description = "A person was missed: safety critical"
        severity = "critical"

        [[taxonomy.rules]]
        event = "unmatched_reference"
        category = "missed_pedestrian"
        labels = ["person"]

        [taxonomy.severity]
        extra_object = "major"
    """)
    ref = [_box("gold", "person", 0), _box("gold", "car", 100)]
    ds = _classify(ref, [_box("ann", "car", 400)], taxonomy=tax)
    got = sorted((d.category, d.severity) for d in ds)
    assert got == [("extra_object", "major"), ("missed_pedestrian", "critical"), ("missing_object", "major")]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[taxonomy.rules]]\nevent='nope'\ncategory='x'", "unknown event 'nope'"),
        ("[[taxonomy.rules]]\nevent='label_mismatch'\ncategory='nope'", "unknown category 'nope'"),
        ("[[taxonomy.categories]]\nname='x'\nseverity='huge'", "severity must be one of"),
        ("[taxonomy.severity]\nnope='minor'", "unknown category 'nope'"),
        ("not = [toml", "not valid TOML"),
    ],
)
def test_bad_taxonomy_config_says_what_is_wrong(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        taxonomy_from_toml(text)


def test_counts_by_category_label_annotator_and_trend() -> None:
    ref = [_box("gold", "car", 0), _box("gold", "car", 100)]
    ds = _classify(ref, [_box("ann", "person", 0)]) + _classify(ref, [_box("bob", "car", 500)])
    counts = count_discrepancies(ds)
    assert counts.by_category == {"missing_object": 3, "wrong_class": 1, "extra_object": 1}
    assert counts.by_annotator["bob"] == {"missing_object": 2, "extra_object": 1}
    assert compare_counts({"missing_object": 5}, counts.by_category)["missing_object"] == {
        "previous": 5, "current": 3, "change": -2}


def test_cvat_vocabulary_maps_onto_known_categories() -> None:
    assert set(CVAT_VOCABULARY.values()) <= set(DEFAULT_TAXONOMY.categories)


def test_word_edit_distance_known_values() -> None:
    assert word_edit_distance("a b c", "a x c d") == 2
    assert word_edit_distance("", "a b") == 2


def test_case_mismatches_group_label_mismatches_equal_up_to_case() -> None:
    from accord.core.qa.taxonomy import case_mismatches

    ref = [_box("gold", "Butterfly", 0), _box("gold", "Moth", 40), _box("gold", "Butterfly", 80)]
    cand = [_box("ann", "butterfly", 0), _box("ann", "Butterfly", 40), _box("ann", "BUTTERFLY", 80)]
    found = _classify(ref, cand)
    hints = case_mismatches(found)
    assert len(hints) == 1  # Moth vs Butterfly is a real wrong class, not a case problem
    h = hints[0]
    assert (h.label_set, h.labels, h.n_discrepancies, h.categories) == (
        "objects", ("BUTTERFLY", "Butterfly", "butterfly"), 2, ("wrong_class",))
    assert "labels differ only in case: 'BUTTERFLY' vs 'Butterfly' vs 'butterfly'" in h.message()
    assert case_mismatches([]) == []
