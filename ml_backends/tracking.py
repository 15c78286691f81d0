"""Video tracks from per-frame detections: a constant-velocity Kalman filter and ByteTrack matching.

Any image predictor run frame by frame gives a list of :class:`~.predictor_spec.Prediction`
per frame; :func:`track_detections` links them into :class:`accord.core.model.Track` values,
the way ByteTrack does (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every
Detection Box", ECCV 2022, arXiv:2110.06864):

1. every live track is moved one frame ahead by its Kalman filter (state: box centre, width,
   height and their velocities; :class:`KalmanBoxFilter`);
2. *high* detections (``score >= high``) are matched to all live tracks by the Hungarian
   method (:func:`scipy.optimize.linear_sum_assignment`) on ``1 - IoU``, pairs under
   ``iou_gate`` or with different labels refused;
3. *low* detections (``low <= score < high``) are matched the same way to the confirmed
   tracks still unmatched (gate ``low_iou_gate``), so an occluded, low-scored object keeps
   its track instead of breaking it; low detections never start a track;
4. an unmatched high detection starts a tentative track, confirmed after ``min_hits``
   matched frames in a row (a tentative track that misses a frame is dropped, so a
   one-frame false positive never becomes a track); a confirmed track dies after
   ``max_misses`` frames without a match.

Output frames follow CVAT's track model (``Track``/``TrackFrame``): one keyframe per
matched frame (the Kalman-corrected box); a gap of at most ``interpolate_gap`` frames is
left to the tool's linear interpolation between keyframes; a longer gap gets an
``outside`` frame where it begins, and a track that ends before the video does gets an
``outside`` frame after its last box. :func:`boxes_at_frames` expands a track back to one
box per visible frame with the same rules (for scoring a tracker against ground truth).
:func:`tracks_to_label_studio` writes tracks as a Label Studio ``videorectangle`` prediction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from accord.core.errors import InvalidAnnotationError
from accord.core.model import Record, Track, TrackFrame
from accord.core.schema import LabelSet, Schema
from accord.plugins.label_studio.convert import to_label_studio_prediction

from .predictor_spec import Prediction

FloatArray = npt.NDArray[np.float64]

__all__ = ["KalmanBoxFilter", "KalmanNoise", "boxes_at_frames", "iou_matrix", "track_detections",
           "tracks_to_label_studio"]


@dataclass(frozen=True, slots=True, kw_only=True)
class KalmanNoise:
    """Noise levels of :class:`KalmanBoxFilter`, as fractions of the box's width/height.

    Defaults are ByteTrack's (``_std_weight_position = 1/20``, ``_std_weight_velocity = 1/160``).
    All zero except ``initial_velocity`` gives a filter that, after two observations of a
    constant-velocity box, predicts it exactly.

    Attributes:
        position: Process noise std of centre and size per frame.
        velocity: Process noise std of the velocities per frame.
        measurement: Std of a detection's coordinates.
        initial_velocity: Std of the unknown velocity of a new track.
    """

    position: float = 1 / 20
    velocity: float = 1 / 160
    measurement: float = 1 / 20
    initial_velocity: float = 10 / 160


class KalmanBoxFilter:
    """A constant-velocity Kalman filter on ``(cx, cy, w, h)``; state ``(cx, cy, w, h, vcx, vcy, vw, vh)``.

    Example:
        >>> kf = KalmanBoxFilter((10.0, 20.0, 4.0, 4.0), noise=KalmanNoise(
        ...     position=0, velocity=0, measurement=0, initial_velocity=1))
        >>> _ = kf.predict(); kf.update((12.0, 21.0, 4.0, 4.0))
        >>> [round(float(v), 6) for v in kf.predict()]
        [14.0, 22.0, 4.0, 4.0]
    """

    _F = np.block([[np.eye(4), np.eye(4)], [np.zeros((4, 4)), np.eye(4)]])
    _H = np.hstack([np.eye(4), np.zeros((4, 4))])

    def __init__(self, cxcywh: Sequence[float], *, noise: KalmanNoise | None = None) -> None:
        self.noise = noise or KalmanNoise()
        z = np.asarray(cxcywh, dtype=np.float64)
        if z.shape != (4,) or not np.all(np.isfinite(z)):
            raise InvalidAnnotationError(f"a Kalman box needs 4 finite numbers (cx, cy, w, h), got {cxcywh!r}")
        self.x: FloatArray = np.concatenate([z, np.zeros(4)])
        s = self._scale(z)
        n = self.noise
        self.P: FloatArray = np.diag(np.concatenate([(2 * n.measurement * s) ** 2,
                                                     (n.initial_velocity * s) ** 2]))

    @staticmethod
    def _scale(z: FloatArray) -> FloatArray:
        w, h = max(float(z[2]), 1e-6), max(float(z[3]), 1e-6)
        return np.array([w, h, w, h])

    def predict(self) -> FloatArray:
        """Move one frame ahead; returns the predicted ``(cx, cy, w, h)``."""
        s = self._scale(self.x[:4])
        q = np.concatenate([(self.noise.position * s) ** 2, (self.noise.velocity * s) ** 2])
        self.x = self._F @ self.x
        self.x[2:4] = np.maximum(self.x[2:4], 0.0)
        self.P = self._F @ self.P @ self._F.T + np.diag(q)
        return self.x[:4].copy()

    def update(self, cxcywh: Sequence[float]) -> None:
        """Correct the state with a detection ``(cx, cy, w, h)``."""
        z = np.asarray(cxcywh, dtype=np.float64)
        r = np.diag((self.noise.measurement * self._scale(z)) ** 2)
        S = self._H @ self.P @ self._H.T + r
        K = self.P @ self._H.T @ np.linalg.pinv(S)
        self.x = self.x + K @ (z - self._H @ self.x)
        self.P = (np.eye(8) - K @ self._H) @ self.P

    def box(self) -> FloatArray:
        """The current ``(cx, cy, w, h)``."""
        return self.x[:4].copy()


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """IoU of every box in ``a`` (``N x 4``, ``x1 y1 x2 y2``) with every box in ``b`` (``M x 4``)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return np.asarray(out, dtype=np.float64)


def _xyxy(cxcywh: FloatArray) -> FloatArray:
    cx, cy, w, h = cxcywh
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass(slots=True)
class _Det:
    xyxy: FloatArray
    score: float
    label: str


@dataclass(slots=True)
class _Live:
    kf: KalmanBoxFilter
    label_votes: dict[str, float]
    hits: list[tuple[int, FloatArray]] = field(default_factory=list)
    streak: int = 0
    misses: int = 0
    confirmed: bool = False


def _label(tr: _Live) -> str:
    return max(tr.label_votes, key=lambda k: tr.label_votes[k])


def _detections(preds: Sequence[Prediction], t: int) -> list[_Det]:
    out = []
    for k, p in enumerate(preds):
        if not isinstance(p, Prediction):
            raise InvalidAnnotationError(f"frame {t}, detection {k}: expected a Prediction, got "
                                         f"{type(p).__name__}; pass each frame's predictor output as is")
        if p.kind == "tag":
            continue
        if p.kind == "mask":
            if p.mask is None or not p.mask.any():
                continue
            ys, xs = np.nonzero(p.mask)
            xyxy = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
        else:
            pts = np.asarray(p.points, dtype=np.float64).reshape(-1, 2)
            if len(pts) == 0 or not np.all(np.isfinite(pts)):
                raise InvalidAnnotationError(f"frame {t}, detection {k}: a {p.kind} needs finite points, "
                                             f"got {p.points!r}")
            xyxy = np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])
        if xyxy[2] - xyxy[0] <= 0 or xyxy[3] - xyxy[1] <= 0:
            continue
        out.append(_Det(xyxy=xyxy, score=float(p.score), label=p.label))
    return out


def _match(tracks: list[_Live], dets: list[_Det], predicted: dict[int, FloatArray], gate: float
           ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Hungarian matching on ``1 - IoU``; returns (pairs, unmatched tracks, unmatched dets) as indices."""
    if not tracks or not dets:
        return [], list(range(len(tracks))), list(range(len(dets)))
    iou = iou_matrix(np.stack([predicted[id(tr)] for tr in tracks]), np.stack([d.xyxy for d in dets]))
    allowed = iou >= gate
    for i, tr in enumerate(tracks):
        label = _label(tr)
        for j, d in enumerate(dets):
            if d.label != label:
                allowed[i, j] = False
    cost = np.where(allowed, 1.0 - iou, 1e6)
    rows, cols = linear_sum_assignment(cost)
    pairs = [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if allowed[i, j]]
    mt, md = {i for i, _ in pairs}, {j for _, j in pairs}
    return pairs, [i for i in range(len(tracks)) if i not in mt], [j for j in range(len(dets)) if j not in md]


def _check_options(high: float, low: float, iou_gate: float, low_iou_gate: float, min_hits: int,
                   max_misses: int, interpolate_gap: int) -> None:
    if not 0 <= low <= high <= 1:
        raise InvalidAnnotationError(f"expected 0 <= low <= high <= 1, got low={low!r} high={high!r}; "
                                     f"low-score detections are those with low <= score < high")
    for name, g in (("iou_gate", iou_gate), ("low_iou_gate", low_iou_gate)):
        if not 0 < g <= 1:
            raise InvalidAnnotationError(f"expected {name} in (0, 1], got {g!r}")
    for name, n in (("min_hits", min_hits), ("max_misses", max_misses), ("interpolate_gap", interpolate_gap)):
        if not isinstance(n, int) or n < (1 if name == "min_hits" else 0):
            raise InvalidAnnotationError(f"expected {name} to be an integer >= {1 if name == 'min_hits' else 0}, "
                                         f"got {n!r}")


def track_detections(frames: Sequence[Sequence[Prediction]], *, high: float = 0.5, low: float = 0.1,
                     iou_gate: float = 0.3, low_iou_gate: float = 0.5, min_hits: int = 3,
                     max_misses: int = 30, interpolate_gap: int = 5, first_frame: int = 0,
                     noise: KalmanNoise | None = None) -> list[Track]:
    """Link per-frame detections into tracks (ByteTrack's two-stage matching; see the module doc).

    Args:
        frames: One list of predictions per video frame, in order. Boxes are used as they
            are; polygons, keypoints and masks by their bounding box; tags are ignored.
        high: Score from which a detection is matched first and may start a track.
        low: Score under which a detection is discarded; ``low <= score < high`` is matched
            only to confirmed tracks left over by the first stage. ``low == high`` turns
            the second stage off.
        iou_gate: Least IoU for a first-stage match (prediction vs detection).
        low_iou_gate: Least IoU for a second-stage match.
        min_hits: Matched frames in a row that confirm a track.
        max_misses: Frames without a match after which a confirmed track ends.
        interpolate_gap: Longest gap (frames) left to the tool's interpolation; longer
            gaps get an ``outside`` frame.
        first_frame: Number of the first frame (``frames[0]``).
        noise: Kalman noise levels (ByteTrack's by default).

    Returns:
        Confirmed tracks, in order of birth, ``track_id`` ``"1"``, ``"2"``, ...; the label is
        the one most detections of the track carry (summed scores).

    Raises:
        InvalidAnnotationError: an option is out of range or a detection is not a Prediction.
    """
    _check_options(high, low, iou_gate, low_iou_gate, min_hits, max_misses, interpolate_gap)
    live: list[_Live] = []
    done: list[_Live] = []
    for t, preds in enumerate(frames):
        dets = [d for d in _detections(preds, t) if d.score >= low]
        hi = [d for d in dets if d.score >= high]
        lo = [d for d in dets if d.score < high]
        predicted = {id(tr): _xyxy(tr.kf.predict()) for tr in live}

        pairs, rest, new = _match(live, hi, predicted, iou_gate)
        matched = [(live[i], hi[j]) for i, j in pairs]
        left = [live[i] for i in rest]
        second = [tr for tr in left if tr.confirmed]
        pairs2, _, _ = _match(second, lo, predicted, low_iou_gate)
        matched += [(second[i], lo[j]) for i, j in pairs2]
        hit_ids = {id(tr) for tr, _ in matched}

        for tr, d in matched:
            x1, y1, x2, y2 = d.xyxy
            tr.kf.update(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1))
            tr.hits.append((t, _xyxy(tr.kf.box())))
            tr.label_votes[d.label] = tr.label_votes.get(d.label, 0.0) + d.score
            tr.streak += 1
            tr.misses = 0
            if tr.streak >= min_hits:
                tr.confirmed = True
        survivors = []
        for tr in live:
            if id(tr) not in hit_ids:
                tr.streak = 0
                tr.misses += 1
                if not tr.confirmed:
                    continue
                if tr.misses > max_misses:
                    done.append(tr)
                    continue
            survivors.append(tr)
        for j in new:
            d = hi[j]
            x1, y1, x2, y2 = d.xyxy
            tr = _Live(kf=KalmanBoxFilter(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), noise=noise),
                       label_votes={d.label: d.score}, hits=[(t, d.xyxy.copy())], streak=1)
            tr.confirmed = min_hits <= 1
            survivors.append(tr)
        live = survivors
    done += [tr for tr in live if tr.confirmed]
    done.sort(key=lambda tr: tr.hits[0][0])
    n_frames = len(frames)
    return [_to_track(tr, str(k + 1), n_frames, interpolate_gap, first_frame) for k, tr in enumerate(done)]


def _frame(t: int, xyxy: FloatArray, *, outside: bool = False) -> TrackFrame:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return TrackFrame(frame=t, x=x1, y=y1, width=max(x2 - x1, 0.0), height=max(y2 - y1, 0.0),
                      outside=outside, keyframe=True)


def _to_track(tr: _Live, track_id: str, n_frames: int, interpolate_gap: int, first: int) -> Track:
    out: list[TrackFrame] = []
    prev: tuple[int, FloatArray] | None = None
    for t, box in tr.hits:
        if prev is not None and t - prev[0] - 1 > interpolate_gap:
            out.append(_frame(first + prev[0] + 1, prev[1], outside=True))
        out.append(_frame(first + t, box))
        prev = (t, box)
    if prev is not None and prev[0] + 1 < n_frames:
        out.append(_frame(first + prev[0] + 1, prev[1], outside=True))
    return Track(label=_label(tr), track_id=track_id, frames=tuple(out))


def boxes_at_frames(track: Track, n_frames: int, *, first_frame: int = 0
                    ) -> dict[int, tuple[float, float, float, float]]:
    """A track's box ``(x, y, w, h)`` on each frame where it is visible, as CVAT shows it.

    Between two keyframes the box is linearly interpolated; an ``outside`` frame hides it
    until the next keyframe; after the last keyframe the box stays until the video ends
    (frame ``first_frame + n_frames - 1``).
    """
    keys = [f for f in track.frames if f.keyframe]
    out: dict[int, tuple[float, float, float, float]] = {}
    last = first_frame + n_frames - 1
    for k, f in enumerate(keys):
        if f.outside:
            continue
        nxt = keys[k + 1] if k + 1 < len(keys) else None
        end = nxt.frame - 1 if nxt is not None else last
        for t in range(f.frame, end + 1):
            a = 0.0 if nxt is None or nxt.outside else (t - f.frame) / (nxt.frame - f.frame)
            g = nxt if (nxt is not None and not nxt.outside) else f
            out[t] = (f.x + a * (g.x - f.x), f.y + a * (g.y - f.y), f.width + a * (g.width - f.width),
                      f.height + a * (g.height - f.height))
    return out


def tracks_to_label_studio(tracks: Sequence[Track], *, width: float, height: float, fps: float,
                           model_version: str, from_name: str = "box", to_name: str = "video",
                           frame_offset: int = 1, score: float | None = None) -> dict[str, Any]:
    """Tracks as one Label Studio prediction of ``videorectangle`` results (percent coordinates).

    Uses :func:`accord.plugins.label_studio.convert.to_label_studio_prediction` for the
    sequence (``frame``, ``enabled`` = not ``outside``, ``keyframe``, ``x``, ``y``, ``width``,
    ``height``, ``rotation``) and adds each item's ``time`` in seconds. Label Studio numbers
    frames from 1: ``frame_offset`` (1) is added to the track's frame numbers (0-based from
    :func:`track_detections`), and ``time = (frame - frame_offset) / fps``.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise InvalidAnnotationError(f"expected fps > 0 (the video's frame rate), got {fps!r}")
    labels = tuple(dict.fromkeys(t.label for t in tracks))
    schema = Schema.of(LabelSet(name=from_name, kind="track", labels=labels, multiple=True, to_name=to_name,
                                tool_type="videorectangle"))
    records = [Record(item_id="video", annotator_id=model_version, label_set=from_name, source="model",
                      region_id=t.track_id,
                      value=Track(label=t.label, track_id=t.track_id, frames=tuple(
                          TrackFrame(frame=f.frame + frame_offset, x=f.x, y=f.y, width=f.width, height=f.height,
                                     rotation=f.rotation, outside=f.outside, keyframe=f.keyframe)
                          for f in t.frames)))
               for t in tracks]
    out: dict[str, Any] = to_label_studio_prediction(records, schema, model_version=model_version, score=score,
                                                     width=width, height=height)
    for res in out["result"]:
        for item in res["value"]["sequence"]:
            item["time"] = (item["frame"] - frame_offset) / fps
    return out
