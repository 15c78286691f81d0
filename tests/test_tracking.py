"""Tracks from per-frame detections (ml_backends/tracking.py), scored against known trajectories.

The synthetic video: three objects with known constant-velocity trajectories, two of them
(same label) crossing head-on and a third (another label) crossing their lane; detections
are generated from the trajectories with seeded jitter, missed frames, low-score frames
and false positives. MOTA / IDF1 / identity switches are computed by ``motmetrics``
(py-motmetrics, Heindl et al.; CLEAR MOT of Bernardin & Stiefelhagen 2008, IDF1 of
Ristani et al. 2016), test-only.
"""

from __future__ import annotations

import numpy as np
import pytest

from accord.core.errors import InvalidAnnotationError
from accord.core.model import Track
from accord.ml_backends.predictor_spec import Prediction
from accord.ml_backends.tracking import (
    KalmanBoxFilter,
    KalmanNoise,
    boxes_at_frames,
    iou_matrix,
    track_detections,
    tracks_to_label_studio,
)
from accord.plugins.label_studio.convert import from_label_studio_task

mm = pytest.importorskip("motmetrics")

N_FRAMES = 60
W, H = 640, 480
#: id -> (label, x0, y0, w, h, vx, vy): boxes at frame t are (x0 + vx t, y0 + vy t, w, h).
TRUTH = {
    "A": ("car", 40.0, 200.0, 40.0, 40.0, 8.0, 0.0),
    "B": ("car", 560.0, 204.0, 40.0, 40.0, -8.0, 0.0),
    "C": ("person", 300.0, 20.0, 30.0, 60.0, 0.0, 6.0),
}


def truth_box(oid: str, t: int) -> tuple[float, float, float, float]:
    _, x0, y0, w, h, vx, vy = TRUTH[oid]
    return (x0 + vx * t, y0 + vy * t, w, h)


def box_pred(label: str, x: float, y: float, w: float, h: float, score: float) -> Prediction:
    return Prediction(label=label, kind="box", score=score, points=((x, y), (x + w, y + h)))


def synthetic_detections(seed: int, *, missed: dict[str, set[int]] | None = None,
                         low_score: dict[str, set[int]] | None = None, jitter_px: float = 3.0
                         ) -> list[list[Prediction]]:
    """Per-frame detections of TRUTH with noise: jitter, misses, low scores, false positives."""
    rng = np.random.default_rng(seed)
    # B is missed at 10-11 and while it passes behind A at the crossing (frames 30-33)
    missed = {"A": {20}, "B": {10, 11, 30, 31, 32, 33}} if missed is None else missed
    low_score = {"C": {40, 41, 42, 43}} if low_score is None else low_score
    frames: list[list[Prediction]] = []
    for t in range(N_FRAMES):
        dets = []
        for oid, (label, *_rest) in TRUTH.items():
            if t in missed.get(oid, set()):
                continue
            x, y, w, h = truth_box(oid, t)
            dx, dy, dw, dh = rng.normal(0, jitter_px, 4)
            score = 0.3 if t in low_score.get(oid, set()) else float(rng.uniform(0.7, 0.99))
            dets.append(box_pred(label, x + dx, y + dy, w + dw, h + dh, score))
        if t in (5, 25, 50):  # one-frame false positives, confident
            dets.append(box_pred("car", float(rng.uniform(0, 500)), 400.0, 50.0, 50.0, 0.8))
        if t in (15, 16):  # low-score clutter: never starts a track
            dets.append(box_pred("car", 100.0, 40.0, 30.0, 30.0, 0.2))
        rng.shuffle(dets)  # type: ignore[arg-type]
        frames.append(dets)
    return frames


def iou_distances(gt: np.ndarray, hyp: np.ndarray, *, max_distance: float) -> np.ndarray:
    """``1 - IoU`` of ``x y w h`` boxes, NaN (no match) over ``max_distance``.

    What ``motmetrics.distances.iou_matrix(gt, hyp, max_iou=0.5)`` returns; written out here
    (independently of the tracker's own IoU) because motmetrics 1.4.0 calls ``np.asfarray``,
    gone in NumPy 2.
    """
    out = np.full((len(gt), len(hyp)), np.nan)
    for i, (gx, gy, gw, gh) in enumerate(gt):
        for j, (hx, hy, hw, hh) in enumerate(hyp):
            iw = max(0.0, min(gx + gw, hx + hw) - max(gx, hx))
            ih = max(0.0, min(gy + gh, hy + hh) - max(gy, hy))
            d = 1 - iw * ih / (gw * gh + hw * hh - iw * ih)
            if d <= max_distance:
                out[i, j] = d
    return out


def mot_summary(tracks: list[Track]) -> dict[str, float]:
    acc = mm.MOTAccumulator(auto_id=True)
    expanded = {tr.track_id: boxes_at_frames(tr, N_FRAMES) for tr in tracks}
    for t in range(N_FRAMES):
        gt = np.array([truth_box(o, t) for o in TRUTH])
        hyp_keys = [tid for tid, boxes in expanded.items() if t in boxes]
        hyp = np.array([expanded[tid][t] for tid in hyp_keys]).reshape(-1, 4)
        # integer ids: motmetrics 1.4.0 with pandas 2 cannot hold string ids
        gt_ids = list(range(1, len(TRUTH) + 1))
        hyp_ids = [int(tid) for tid in hyp_keys]
        acc.update(gt_ids, hyp_ids, iou_distances(gt, hyp, max_distance=0.5))
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=["mota", "idf1", "num_switches", "num_misses", "num_false_positives",
                                 "num_objects"], name="run")
    return {k: float(s[k].iloc[0]) for k in s.columns}


# --- Kalman filter -------------------------------------------------------------------------


def test_kalman_predicts_constant_velocity_exactly_without_noise() -> None:
    # Known answer by arithmetic: with no process or measurement noise, one update after the
    # first predict sets the velocity to z1 - z0 exactly (gain 1), so the k-th prediction
    # after that is z1 + k * (z1 - z0).
    noise = KalmanNoise(position=0.0, velocity=0.0, measurement=0.0, initial_velocity=1.0)
    z0 = np.array([100.0, 50.0, 20.0, 30.0])
    v = np.array([3.5, -2.0, 0.5, 0.25])
    kf = KalmanBoxFilter(z0, noise=noise)
    kf.predict()
    kf.update(z0 + v)
    for k in range(1, 11):
        assert kf.predict() == pytest.approx(z0 + v + k * v, abs=1e-9)


def test_kalman_with_default_noise_converges_on_constant_velocity() -> None:
    z0 = np.array([100.0, 50.0, 20.0, 30.0])
    v = np.array([4.0, 1.0, 0.0, 0.0])
    kf = KalmanBoxFilter(z0)
    for t in range(1, 40):
        kf.predict()
        kf.update(z0 + t * v)
    assert kf.predict() == pytest.approx(z0 + 40 * v, abs=0.05)
    assert kf.x[4:] == pytest.approx(v, abs=0.01)


def test_kalman_rejects_a_bad_box() -> None:
    with pytest.raises(InvalidAnnotationError, match="4 finite numbers"):
        KalmanBoxFilter([1.0, 2.0, 3.0])


def test_iou_matrix_known_values() -> None:
    # [0,0,2,2] vs [1,1,3,3]: intersection 1, union 4 + 4 - 1 = 7; identical boxes: 1; disjoint: 0.
    a = np.array([[0, 0, 2, 2]], dtype=float)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]], dtype=float)
    assert iou_matrix(a, b)[0] == pytest.approx([1 / 7, 1.0, 0.0])


# --- the tracker against ground truth --------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_tracker_against_known_trajectories(seed: int) -> None:
    tracks = track_detections(synthetic_detections(seed))
    assert len(tracks) == 3, [(t.track_id, t.label, len(t.frames)) for t in tracks]
    assert sorted(t.label for t in tracks) == ["car", "car", "person"]
    s = mot_summary(tracks)
    # measured on seeds 0-5 (3 px jitter, B hidden behind A for 4 frames at the crossing):
    # MOTA 0.978-1.0, IDF1 0.989-1.0, no identity switch.
    assert s["num_switches"] == 0
    assert s["mota"] >= 0.95
    assert s["idf1"] >= 0.95
    # motmetrics' MOTA is 1 - (FN + FP + IDSW) / GT; recomputed from its own counts.
    assert s["mota"] == pytest.approx(
        1 - (s["num_misses"] + s["num_false_positives"] + s["num_switches"]) / s["num_objects"])


def test_without_the_velocity_state_identities_switch_at_the_crossing() -> None:
    # The same data with a filter that cannot learn a velocity (a "still" box model): the
    # head-on crossing swaps identities (measured: 8-14 switches, IDF1 ~0.5 on seeds 0-5).
    still = KalmanNoise(velocity=0.0, initial_velocity=0.0)
    s = mot_summary(track_detections(synthetic_detections(0), noise=still))
    assert s["num_switches"] >= 3
    assert s["idf1"] < 0.8


def test_tracker_identity_follows_each_object_through_the_crossing() -> None:
    tracks = track_detections(synthetic_detections(3))
    for tr in tracks:
        boxes = boxes_at_frames(tr, N_FRAMES)
        # which true object does this track cover at its first and its last visible frame?
        owners = set()
        for t in (min(boxes), max(boxes)):
            gt = np.array([[x, y, x + w, y + h] for x, y, w, h in (truth_box(o, t) for o in TRUTH)])
            x, y, w, h = boxes[t]
            owners.add(list(TRUTH)[int(np.argmax(iou_matrix(np.array([[x, y, x + w, y + h]]), gt)[0]))])
        assert len(owners) == 1, (tr.track_id, owners)


def test_second_stage_keeps_low_score_frames_on_the_track() -> None:
    frames = synthetic_detections(4)
    with_low = mot_summary(track_detections(frames))
    # low == high: low-score detections are discarded, C is lost for frames 40-43 (the last
    # box persists, then interpolation resumes; the track breaks or drifts: more errors).
    without = track_detections(frames, low=0.5, high=0.5, interpolate_gap=0)
    without_s = mot_summary(without)
    assert with_low["num_misses"] + with_low["num_false_positives"] < \
        without_s["num_misses"] + without_s["num_false_positives"]
    person = [t for t in track_detections(frames) if t.label == "person"]
    assert len(person) == 1
    assert {40, 41, 42, 43} <= {f.frame for f in person[0].frames if not f.outside}


def test_confident_one_frame_false_positives_never_become_tracks() -> None:
    frames: list[list[Prediction]] = [[] for _ in range(20)]
    frames[3] = [box_pred("car", 10, 10, 20, 20, 0.9)]
    frames[9] = [box_pred("car", 300, 300, 20, 20, 0.95)]
    assert track_detections(frames) == []
    assert len(track_detections(frames, min_hits=1)) == 2


def test_gaps_and_end_get_outside_frames() -> None:
    # one box moving 2 px/frame; seen on 0-9, missed 10-19 (long gap), seen 20-29, missed
    # frame 25 (short gap), then gone for the last 5 frames of 35.
    seen = [t for t in range(30) if not 10 <= t <= 19 and t != 25]
    frames = [[box_pred("car", 10 + 2 * t, 50, 20, 20, 0.9)] if t in seen else [] for t in range(35)]
    (tr,) = track_detections(frames, interpolate_gap=5)
    outside = [f.frame for f in tr.frames if f.outside]
    assert outside == [10, 30]
    assert [f.frame for f in tr.frames if not f.outside] == seen
    boxes = boxes_at_frames(tr, 35)
    assert sorted(boxes) == [t for t in range(30) if not 10 <= t <= 19]  # 25 interpolated
    assert boxes[25][0] == pytest.approx(10 + 2 * 25, abs=0.5)
    # with a bigger interpolate_gap the long gap is bridged (no outside frame at 10)
    (tr2,) = track_detections(frames, interpolate_gap=10)
    assert [f.frame for f in tr2.frames if f.outside] == [30]


def test_labels_are_not_mixed() -> None:
    # two objects of different labels at the same place: two tracks, one per label
    frames = [[box_pred("car", 10 + t, 10, 20, 20, 0.9), box_pred("person", 10 + t, 10, 20, 20, 0.9)]
              for t in range(10)]
    tracks = track_detections(frames)
    assert sorted(t.label for t in tracks) == ["car", "person"]
    assert all(len(t.frames) == 10 for t in tracks)


def test_polygons_and_masks_are_tracked_by_their_bounding_box() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    mask[5:15, 8:20] = True
    frames = [[Prediction(label="cell", kind="mask", score=0.9, mask=mask),
               Prediction(label="cell", kind="polygon", score=0.9,
                          points=((30.0, 30.0), (38.0, 30.0), (34.0, 38.0))),
               Prediction(label="scene", kind="tag", score=0.9)] for _ in range(4)]
    tracks = track_detections(frames)
    boxes = sorted((f.x, f.y, f.width, f.height) for t in tracks for f in t.frames[:1])
    assert boxes == [(8.0, 5.0, 12.0, 10.0), (30.0, 30.0, 8.0, 8.0)]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"low": 0.6, "high": 0.5}, "low <= high"),
    ({"iou_gate": 0.0}, "iou_gate"),
    ({"min_hits": 0}, "min_hits"),
    ({"max_misses": -1}, "max_misses"),
])
def test_bad_options_raise(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidAnnotationError, match=match):
        track_detections([[]], **kwargs)  # type: ignore[arg-type]


def test_a_non_prediction_raises() -> None:
    with pytest.raises(InvalidAnnotationError, match="expected a Prediction"):
        track_detections([[{"label": "car"}]])  # type: ignore[list-item]


# --- Label Studio output -----------------------------------------------------------------------


def test_tracks_to_label_studio_videorectangle_sequence() -> None:
    frames = [[box_pred("car", 64 + 8 * t, 48, 64, 48, 0.9)] if t < 6 else [] for t in range(10)]
    tracks = track_detections(frames, noise=KalmanNoise(position=0, velocity=0, measurement=0,
                                                        initial_velocity=1))
    pred = tracks_to_label_studio(tracks, width=W, height=H, fps=25.0, model_version="bytetrack-test")
    assert pred["model_version"] == "bytetrack-test"
    (res,) = pred["result"]
    assert res["type"] == "videorectangle"
    assert (res["from_name"], res["to_name"]) == ("box", "video")
    assert res["value"]["labels"] == ["car"]
    seq = res["value"]["sequence"]
    assert [s["frame"] for s in seq] == [1, 2, 3, 4, 5, 6, 7]  # Label Studio counts frames from 1
    assert [s["enabled"] for s in seq] == [True] * 6 + [False]
    first = seq[0]
    # 64 px of 640 = 10 %, 48 px of 480 = 10 %
    assert (first["x"], first["y"], first["width"], first["height"]) == pytest.approx((10.0, 10.0, 10.0, 10.0))
    assert seq[2]["x"] == pytest.approx((64 + 16) / 640 * 100)
    assert [s["time"] for s in seq] == pytest.approx([t / 25 for t in range(7)])
    # round trip through our Label Studio reader gives the same boxes (shifted by 1 frame)
    task = {"id": 1, "data": {"video": "v.mp4"}, "annotations": [{"id": 1, "completed_by": 1,
                                                                   "result": pred["result"]}]}
    (back,) = [r.value for r in from_label_studio_task(task).records]
    assert isinstance(back, Track)
    assert [(f.frame - 1, round(f.x, 6), f.outside) for f in back.frames] == \
        [(f.frame, round(f.x, 6), f.outside) for f in tracks[0].frames]


def test_tracks_to_label_studio_needs_fps() -> None:
    with pytest.raises(InvalidAnnotationError, match="fps"):
        tracks_to_label_studio([], width=W, height=H, fps=0.0, model_version="m")


# --- CVAT output (the existing CVAT 1.1 XML writer, tracks with keyframe / outside) ------------


def test_tracks_written_as_cvat_xml_tracks_round_trip() -> None:
    from accord.core.model import Dataset, Record
    from accord.plugins.cvat.convert import from_cvat_xml, to_cvat_xml

    seen = [t for t in range(12) if not 4 <= t <= 10]  # a gap longer than interpolate_gap=2
    frames = [[box_pred("car", 10 + 3 * t, 20, 30, 20, 0.9)] if t in seen else [] for t in range(14)]
    (tr,) = track_detections(frames, interpolate_gap=2, max_misses=10, min_hits=2)
    xml = to_cvat_xml(Dataset(records=(Record(item_id="video", annotator_id="tracker", label_set="tracks",
                                              value=tr, source="model"),)))
    assert b'<track id="1" label="car"' in xml
    (back,) = [r.value for r in from_cvat_xml(xml).records]
    assert isinstance(back, Track)
    assert [(f.frame, f.outside, f.keyframe) for f in back.frames] == \
        [(f.frame, f.outside, f.keyframe) for f in tr.frames]
    assert [f.frame for f in back.frames if f.outside] == [4, 12]
    assert [f.x for f in back.frames] == pytest.approx([f.x for f in tr.frames], abs=0.01)
