"""Tracks in the report (accord.core.qa.track_qa): frame-level precision/recall, identity switches and
missed frames, known answers with the arithmetic; and `accord cvat report` on two CVAT for video 1.1
exports (tests/fixtures/cvat/video_alice.xml, video_bob.xml) with a planted switch and missed frames."""

from __future__ import annotations

import doctest
import json
from importlib import resources
from pathlib import Path

import pytest

import accord.core.qa.track_qa as track_qa_module
from accord.cli import main
from accord.core.errors import InvalidAnnotationError
from accord.core.model import Dataset, Record, Track, TrackFrame
from accord.core.qa.track_qa import frame_runs, track_agreement

FIX = Path(__file__).parent / "fixtures" / "cvat"


def _track(who: str, tid: str, boxes: dict[int, float], *, label: str = "car", source: str = "human",
           y: float = 0.0, rotation: float = 0.0) -> Record:
    """A 10x10 box at (x, y) on each listed frame."""
    frames = tuple(TrackFrame(frame=f, x=x, y=y, width=10, height=10, rotation=rotation) for f, x in boxes.items())
    return Record(item_id="clip", annotator_id=who, label_set="tracks", source=source,  # type: ignore[arg-type]
                  region_id=f"track:{tid}", value=Track(label=label, track_id=tid, frames=frames))


def _swap_and_gap(source_b: str = "human", who_b: str = "bob") -> list[Record]:
    """alice: car A at x=0, car B at x=100, person P at x=200 on frames 0-9.
    bob: his track 1 follows A on 0-5 then B on 6-9, track 2 the other way round (a switch at frame 6);
    his person track has no boxes on frames 3-6."""
    a = {f: 0.0 for f in range(10)}
    b = {f: 100.0 for f in range(10)}
    return [
        _track("alice", "a", a), _track("alice", "b", b), _track("alice", "p", {f: 200.0 for f in range(10)},
                                                                 label="person"),
        _track(who_b, "1", {f: 0.0 if f < 6 else 100.0 for f in range(10)}, source=source_b),
        _track(who_b, "2", {f: 100.0 if f < 6 else 0.0 for f in range(10)}, source=source_b),
        _track(who_b, "3", {f: 200.0 for f in (0, 1, 2, 7, 8, 9)}, label="person", source=source_b),
    ]


def test_switch_and_missed_frames_between_two_annotators() -> None:
    rep = track_agreement(Dataset(records=tuple(_swap_and_gap())), "tracks")
    (p,) = rep.pairs
    assert (p.comparison, p.reference_id, p.candidate_id) == ("annotators", "alice", "bob")
    # alice: 3 tracks x 10 frames = 30 boxes; bob: 10 + 10 + 6 = 26; every bob box sits on an alice box.
    assert (p.n_reference, p.n_candidate, p.matches, p.misses, p.false_positives) == (30, 26, 26, 4, 0)
    assert p.precision.estimate == 1.0
    assert p.recall.estimate == pytest.approx(26 / 30)
    # MOTA = 1 - (4 misses + 0 FP + 2 switches) / 30 = 0.8
    assert p.mota_score == pytest.approx(0.8)
    # IDF1: pairs a-1 (6 frames), b-2 (6), p-3 (6): IDTP 18, IDFN 30-18 = 12, IDFP 26-18 = 8 -> 36 / 56.
    assert p.idf1_score == pytest.approx(36 / 56)
    assert p.mean_iou == 1.0
    assert sorted((s.switch.frame, s.switch.reference_track_id, s.switch.candidate_track_id) for s in p.switches) == [
        (6, "a", "2"), (6, "b", "1")]
    (m,) = p.missed
    assert (m.annotator_id, m.track_id, m.partner_track_id, m.runs) == ("bob", "p", "3", ((3, 6),))
    cats = sorted((d.category, d.annotator_id, d.against) for d in rep.discrepancies)
    assert cats == [("missed_frames", "bob", "annotator:alice"),
                    ("track_identity_switch", "bob", "annotator:alice"),
                    ("track_identity_switch", "bob", "annotator:alice")]
    missed = next(d for d in rep.discrepancies if d.category == "missed_frames")
    assert missed.evidence["runs"] == [[3, 6]]
    assert (missed.reference_region_id, missed.candidate_region_id) == ("track:p", "track:3")


def test_missed_frames_are_charged_to_the_side_that_lacks_them() -> None:
    # The same data, but the one lacking the frames ("aaron") now sorts first, as the reference side ...
    rep = track_agreement(Dataset(records=tuple(_swap_and_gap(who_b="aaron"))), "tracks")
    (p,) = rep.pairs
    assert (p.reference_id, p.candidate_id) == ("aaron", "alice")
    # ... the missed frames are still his (they are computed in both directions).
    (m,) = p.missed
    assert (m.annotator_id, m.track_id, m.runs) == ("aaron", "p", ((3, 6),))
    assert [d.annotator_id for d in rep.discrepancies if d.category == "missed_frames"] == ["aaron"]


def test_against_the_reference_only_the_reference_decides() -> None:
    recs = [*_swap_and_gap(source_b="reference", who_b="gold"),
            _track("carol", "x", {f: 0.0 for f in range(10)})]  # carol tracks car A only, on every frame
    # alice and carol are annotators; "gold" is the reference (it has the switch and the gap).
    rep = track_agreement(Dataset(records=tuple(recs)), "tracks")
    comps = [(p.comparison, p.reference_id, p.candidate_id) for p in rep.pairs]
    assert comps == [("annotators", "alice", "carol"), ("reference", "reference", "alice"),
                     ("reference", "reference", "carol")]
    # With a reference on the item, disagreements between alice and carol raise no discrepancy.
    assert all(d.against == "reference" for d in rep.discrepancies)
    vs_alice = next(p for p in rep.pairs if p.candidate_id == "alice")
    # gold's tracks 1 and 2 each switch between alice's a and b at frame 6.
    assert [s.switch.frame for s in vs_alice.switches] == [6, 6]
    # alice's boxes on frames 3-6 of the person are extra against gold: 4 false positives, no missed frames.
    assert (vs_alice.false_positives, vs_alice.n_missed_frames) == (4, 0)


def test_rotated_boxes_are_skipped_with_the_reason() -> None:
    recs = [_track("alice", "a", {0: 0.0, 1: 0.0}, rotation=15.0), _track("bob", "1", {0: 0.0, 1: 0.0})]
    rep = track_agreement(Dataset(records=tuple(recs)), "tracks")
    assert rep.pairs == ()
    ((item, a, b, why),) = rep.skipped
    assert (item, a, b) == ("clip", "alice", "bob")
    assert "axis-aligned" in why


def test_bad_threshold_raises_and_runs() -> None:
    with pytest.raises(InvalidAnnotationError, match=r"iou_threshold must be in \(0, 1\], got 0"):
        track_agreement(Dataset(records=tuple(_swap_and_gap())), "tracks", iou_threshold=0)
    assert frame_runs([]) == ()
    assert frame_runs([5, 3, 4, 4]) == ((3, 5),)


def test_doctests_run() -> None:
    result = doctest.testmod(track_qa_module)
    assert result.attempted >= 3
    assert result.failed == 0


# ------------------------------------------------------------------ the report on CVAT for video 1.1 exports


@pytest.fixture(scope="module")
def video_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:  # type: ignore[type-arg]
    tmp = tmp_path_factory.mktemp("video")
    out, html = tmp / "r.json", tmp / "r.html"
    assert main(["-q", "cvat", "report", "--export", str(FIX / "video_alice.xml"), str(FIX / "video_bob.xml"),
                 "--json", str(out), "--html", str(html)]) == 0
    return json.loads(out.read_text()), html.read_text()


def test_video_report_shows_the_switch_and_the_missed_frames(video_report: tuple[dict, str]) -> None:  # type: ignore[type-arg]
    rep, _ = video_report
    (p,) = rep["tracks"]["label_sets"]["tracks"]["pairs"]
    assert (p["reference_id"], p["candidate_id"]) == ("cvat:alice", "cvat:bob")
    # bob's cars 0 and 1 swap objects at frame 6; his person is outside on 3-6 (see the fixture README).
    assert [(s["frame"], s["reference_track_id"], s["candidate_track_id"]) for s in p["switches"]] == [
        (6, "0", "1"), (6, "1", "0")]
    assert p["missed"] == [{"item_id": "crossing", "annotator_id": "cvat:bob", "track_id": "2",
                            "partner_track_id": "2", "n_frames": 4, "runs": [[3, 6]]}]
    assert (p["n_reference_boxes"], p["n_candidate_boxes"], p["matches"]) == (30, 26, 26)
    assert p["recall"]["estimate"] == pytest.approx(26 / 30, abs=1e-6)
    assert p["mota"] == pytest.approx(0.8)
    found = [(d["category"], d["annotator_id"], d["evidence"].get("frame")) for d in rep["errors"]["discrepancies"]
             if d["source"] == "matching"]
    assert sorted(found) == [("missed_frames", "cvat:bob", None), ("track_identity_switch", "cvat:bob", 6),
                             ("track_identity_switch", "cvat:bob", 6)]
    assert rep["cvat"]["by_assignee"]["cvat:bob"]["missed_frames"] == 1


def test_video_report_attributes_of_matched_tracks(video_report: tuple[dict, str]) -> None:  # type: ignore[type-arg]
    rep, _ = video_report
    rows = {(r["label"], r["attribute"]): r for r in rep["attributes"]["label_sets"]["tracks"]["rows"]}
    # Immutable attributes only ("parked" is mutable, per frame): colour 2/2; plate "AB-123" vs "AB-128"
    # (1 - 1/6) and "KL-77" twice (1): mean 11/12; age 30 vs 35 -> |diff| 5.
    assert set(rows) == {("car", "color"), ("car", "plate"), ("person", "age")}
    assert rows["car", "color"]["exact_match"]["successes"] == 2
    assert rows["car", "plate"]["text_similarity"]["mean"] == pytest.approx(11 / 12, abs=1e-6)
    assert rows["person", "age"]["numeric_difference"]["mean_absolute"] == 5.0


def test_video_report_is_schema_valid_and_renders_the_sections(video_report: tuple[dict, str]) -> None:  # type: ignore[type-arg]
    jsonschema = pytest.importorskip("jsonschema")
    rep, html = video_report
    schema = json.loads((resources.files("accord.core") / "data" / "report.schema.json").read_text())
    jsonschema.validate(rep, schema)
    for sid in ("tracks", "attributes", "cvat"):
        assert f'<section id="{sid}">' in html
        assert f'href="#{sid}"' in html
    tracks_html = html.split('<section id="tracks">')[1].split("</section>")[0]
    for part in ("<svg", "Identity switches", "3–6"):
        assert part in tracks_html
    attrs_html = html.split('<section id="attributes">')[1].split("</section>")[0]
    assert "<svg" in attrs_html
    assert "AB-128" in attrs_html


def test_reports_without_tracks_or_attributes_have_neither_key(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    html = tmp_path / "r.html"
    assert main(["-q", "report", str(FIX / "images_train.xml"), "--json", str(out), "--html", str(html),
                 "--no-checks"]) == 0
    rep = json.loads(out.read_text())
    assert "tracks" not in rep  # one annotator: nothing to compare
    assert "attributes" not in rep
    assert '<section id="tracks">' not in html.read_text()
