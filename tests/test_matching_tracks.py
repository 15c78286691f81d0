"""Video tracks: per-frame IoU, CLEAR-MOT identity switches, MOTA, IDF1 on constructed sequences."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import accord.core.matching.tracks as tracks_module
from accord.core.errors import InvalidAnnotationError
from accord.core.matching.registry import get_similarity
from accord.core.matching.tracks import compare_tracks, per_frame_iou, track_iou_matrix
from accord.core.model import Track, TrackFrame


def track(track_id: str, boxes: dict[int, tuple[float, float]], size: float = 10.0,
          outside: frozenset[int] = frozenset()) -> Track:
    return Track(label="car", track_id=track_id, frames=tuple(
        TrackFrame(frame=f, x=x, y=y, width=size, height=size, outside=f in outside)
        for f, (x, y) in boxes.items()))


# Two objects far apart on frames 0..5: P at x = 0, Q at x = 100.
P = {f: (0.0, 0.0) for f in range(6)}
Q = {f: (100.0, 0.0) for f in range(6)}


def test_id_swap_at_frame_3_gives_two_switches() -> None:
    ref = [track("R1", P), track("R2", Q)]
    # The candidate annotator swaps ids at frame 3: C1 follows P then Q, C2 follows Q then P.
    c1 = {f: P[f] if f < 3 else Q[f] for f in range(6)}
    c2 = {f: Q[f] if f < 3 else P[f] for f in range(6)}
    res = compare_tracks(ref, [track("C1", c1), track("C2", c2)])
    # Frame 3: R1's previous partner C1 moved away (IoU 0), so R1 -> C2 and R2 -> C1: 2 switches.
    assert res.id_switches == 2
    assert {(s.frame, s.reference_track_id, s.previous_candidate_track_id, s.candidate_track_id)
            for s in res.switches} == {(3, "R1", "C1", "C2"), (3, "R2", "C2", "C1")}
    # 12 reference boxes, 12 matches, no miss/false positive: MOTA = 1 - 2/12.
    assert (res.n_reference, res.matches, res.misses, res.false_positives) == (12, 12, 0, 0)
    assert res.mota_score == pytest.approx(1 - 2 / 12)
    assert res.mean_iou == pytest.approx(1.0)
    # IDF1: each track pair shares 3 frames -> IDTP = 6, IDFN = IDFP = 6; 12 / (12 + 6 + 6) = 0.5.
    assert (res.idtp, res.idfn, res.idfp) == (6, 6, 6)
    assert res.idf1_score == pytest.approx(0.5)
    # Track-pair agreement: IoU 1 on 3 of the 6 union frames -> 0.5.
    assert [p.mean_iou for p in res.pairs] == pytest.approx([0.5, 0.5])


def test_identical_tracks_agree_perfectly() -> None:
    ref = [track("R1", P), track("R2", Q)]
    res = compare_tracks(ref, [track("a", P), track("b", Q)])
    assert res.id_switches == 0
    assert res.mota_score == 1.0
    assert res.idf1_score == 1.0
    assert all(p.mean_iou == 1.0 for p in res.pairs)
    sim = track_iou_matrix(ref, ref)
    assert np.allclose(sim, np.eye(2))
    assert get_similarity("track") is track_iou_matrix


def test_previous_correspondence_is_kept() -> None:
    # Frame 0: C1 overlaps R1 with IoU 0.6 (offset 2.5 of 10 -> 75 / 125). Frame 1: a new C2 lies exactly
    # on R1 (IoU 1) while C1 still reaches 0.6 >= 0.5: CLEAR MOT keeps R1-C1, C2 is a false positive.
    ref = [track("R1", {0: (0.0, 0.0), 1: (0.0, 0.0)})]
    cand = [track("C1", {0: (2.5, 0.0), 1: (2.5, 0.0)}), track("C2", {1: (0.0, 0.0)})]
    res = compare_tracks(ref, cand)
    assert res.id_switches == 0
    assert (res.matches, res.false_positives) == (2, 1)
    assert res.mean_iou == pytest.approx(0.6)
    # Plain per-frame Hungarian would have switched to C2 on frame 1.


def test_switch_across_a_gap_and_misses() -> None:
    # R1 on frames 0..2; C1 covers frame 0, nothing on frame 1 (miss), C2 covers frame 2: one switch.
    ref = [track("R1", {0: (0.0, 0.0), 1: (0.0, 0.0), 2: (0.0, 0.0)})]
    cand = [track("C1", {0: (0.0, 0.0)}), track("C2", {2: (0.0, 0.0)})]
    res = compare_tracks(ref, cand)
    assert (res.matches, res.misses, res.id_switches) == (2, 1, 1)
    assert res.mota_score == pytest.approx(1 - (1 + 0 + 1) / 3)


def test_outside_frames_are_absent() -> None:
    ref = [track("R1", P, outside=frozenset({4, 5}))]
    frames, iou = per_frame_iou(ref, [track("C", P)])
    assert frames.tolist() == [0, 1, 2, 3, 4, 5]
    assert np.isnan(iou[4:, 0, 0]).all()
    assert (iou[:4, 0, 0] == 1.0).all()
    res = compare_tracks(ref, [track("C", P)])
    assert (res.n_reference, res.false_positives) == (4, 2)


def test_empty_and_errors() -> None:
    res = compare_tracks([], [])
    assert math.isnan(res.mota_score)
    assert math.isnan(res.idf1_score)
    with pytest.raises(InvalidAnnotationError, match="track ids must be unique"):
        compare_tracks([track("a", P), track("a", Q)], [])
    rotated = Track(label="car", track_id="r", frames=(TrackFrame(frame=0, x=0, y=0, width=1, height=1,
                                                                    rotation=10),))
    with pytest.raises(InvalidAnnotationError, match="axis-aligned"):
        compare_tracks([rotated], [])
    with pytest.raises(InvalidAnnotationError, match=r"iou_threshold must be in \(0, 1\]"):
        compare_tracks([], [], iou_threshold=1.5)


def test_doctests_run() -> None:
    result = doctest.testmod(tracks_module)
    assert result.attempted > 0
    assert result.failed == 0
