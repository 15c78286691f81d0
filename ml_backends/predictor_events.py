"""Video events offline: frame ranges where a per-frame score is high, for TimelineLabels and CVAT tags.

A *score* per frame (any classifier's probability, or :func:`frame_difference_scores`) becomes
events (:func:`events_from_scores`) by

1. **hysteresis**: an event starts at a frame whose score is ``>= high`` and extends, both
   ways, over the neighbouring frames whose score stays ``>= low`` (so a score that wavers
   around ``high`` gives one event, not many);
2. **merging**: two events separated by at most ``merge_gap`` frames become one;
3. **minimum length**: an event shorter than ``min_frames`` frames is dropped.

Events are inclusive 0-based frame ranges ``[start, end]`` (:class:`~.predictor_spec.SegmentPrediction`
with ``unit="frame"``); the score of an event is its mean frame score, clipped to ``[0, 1]``.

:func:`frame_difference_scores` is the offline default (:class:`FrameEvents`, registered as
``video-events``): the fraction of pixels whose grey level changed by more than ``pixel_threshold``
(25 of 255) since the previous frame (frame 0 scores 0), so a score of 0.02 means 2 % of the image
moved. :func:`read_video_frames` decodes a video file with OpenCV (grey, optionally subsampled).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from accord.core.errors import AccordError, BadPredictorError, MissingExtraError

from .predictor_spec import LabelInfo, SegmentPrediction

FloatArray = npt.NDArray[np.float64]

__all__ = ["FrameEvents", "events_from_scores", "frame_difference_scores", "frame_events_from_params",
           "read_video_frames"]

#: The most frames one video may have here (10 minutes at 60 fps).
MAX_FRAMES = 36_000


def events_from_scores(scores: npt.ArrayLike, *, high: float = 0.5, low: float | None = None, merge_gap: int = 0,
                       min_frames: int = 1) -> list[tuple[int, int, float]]:
    """Events ``(start, end, mean score)`` (inclusive frame numbers) from one score per frame.

    Args:
        scores: Finite numbers, one per frame.
        high: Score from which a frame starts an event.
        low: Score down to which an event extends (default ``high``: no hysteresis).
        merge_gap: Events at most this many frames apart are merged.
        min_frames: Shorter events are dropped (after merging).

    >>> [(a, b, round(m, 3)) for a, b, m in events_from_scores([0, .2, .7, .4, .3, 0, 0, .9, 0], high=.6, low=.25)]
    [(2, 4, 0.467), (7, 7, 0.9)]
    >>> events_from_scores([0, .2, .7, .4, .3, 0, 0, .9, 0], high=.6, low=.25, merge_gap=2)[0][:2]
    (2, 7)

    Raises:
        AccordError: scores not a finite 1-D sequence, or ``low > high``, or a negative gap / length < 1.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or not np.all(np.isfinite(s)):
        raise AccordError(f"expected one finite score per frame (a 1-D sequence), got shape {s.shape}")
    lo = high if low is None else low
    if not (math.isfinite(high) and math.isfinite(lo) and lo <= high):
        raise AccordError(f"expected finite thresholds with low <= high, got low={low!r} high={high!r}")
    if int(merge_gap) < 0 or int(min_frames) < 1:
        raise AccordError(f"expected merge_gap >= 0 and min_frames >= 1, got {merge_gap!r}, {min_frames!r}")
    above_low = s >= lo
    d = np.diff(np.concatenate([[0], above_low.astype(np.int8), [0]]))
    runs = [(int(a), int(b) - 1) for a, b in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0], strict=True)]
    events = [(a, b) for a, b in runs if np.any(s[a:b + 1] >= high)]
    merged: list[list[int]] = []
    for a, b in events:
        if merged and a - merged[-1][1] - 1 <= int(merge_gap):
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [(a, b, float(s[a:b + 1].mean())) for a, b in merged if b - a + 1 >= int(min_frames)]


def _grey(frame: Any, k: int) -> FloatArray:
    a = np.asarray(frame)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    elif a.ndim != 2:
        raise AccordError(f"frame {k}: expected an H x W (grey) or H x W x 3 (RGB) array, got shape {a.shape}")
    return np.asarray(a, dtype=np.float64)


def frame_difference_scores(frames: Sequence[npt.ArrayLike], *, pixel_threshold: float = 25.0) -> FloatArray:
    """Per frame, the fraction of pixels whose grey level changed by more than ``pixel_threshold`` (0 for frame 0).

    Raises:
        AccordError: a frame is not an image array, or frames differ in size.
    """
    out = np.zeros(len(frames))
    prev: FloatArray | None = None
    for k, f in enumerate(frames):
        g = _grey(f, k)
        if prev is not None:
            if g.shape != prev.shape:
                raise AccordError(f"frame {k} is {g.shape[1]} x {g.shape[0]} but frame {k - 1} is "
                                  f"{prev.shape[1]} x {prev.shape[0]}; every frame needs the same size")
            out[k] = float(np.mean(np.abs(g - prev) > pixel_threshold))
        prev = g
    return out


def read_video_frames(data: bytes, *, max_frames: int = MAX_FRAMES, max_side: int = 320
                      ) -> tuple[list[npt.NDArray[np.uint8]], float]:
    """Grey frames of a video file (any container OpenCV reads) and its frame rate.

    Frames are shrunk so that their longer side is at most ``max_side`` pixels (differences
    need no detail).

    Raises:
        AccordError: OpenCV cannot read it, or it has more than ``max_frames`` frames.
        MissingExtraError: OpenCV is not installed.
    """
    try:
        import cv2
    except ImportError as e:
        raise MissingExtraError("reading video needs OpenCV: pip install 'accord[serve]'") from e
    fd, path = tempfile.mkstemp(suffix=".video")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise AccordError("the video could not be decoded; give an MP4/AVI/WebM file OpenCV can read")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        frames: list[npt.NDArray[np.uint8]] = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            if len(frames) >= max_frames:
                raise AccordError(f"the video has more than {max_frames} frames; split it")
            g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            scale = max_side / max(g.shape)
            if scale < 1:
                g = cv2.resize(g, (max(1, round(g.shape[1] * scale)), max(1, round(g.shape[0] * scale))),
                               interpolation=cv2.INTER_AREA)
            frames.append(np.asarray(g, dtype=np.uint8))
        cap.release()
    finally:
        os.unlink(path)
    if not frames:
        raise AccordError("the video has no frames OpenCV can decode")
    return frames, fps if math.isfinite(fps) and fps > 0 else 0.0


class FrameEvents:
    """Events where the picture changes: frame differences, then :func:`events_from_scores`.

    Args:
        label: The event's label.
        high, low, merge_gap, min_frames: See :func:`events_from_scores` (scores are the
            fraction of changed pixels).
        pixel_threshold: Grey-level change that counts a pixel as changed.
        score_scale: An event's score is ``min(1, mean fraction / score_scale)``.
    """

    modality: Literal["events"] = "events"

    def __init__(self, *, label: str = "motion", high: float = 0.02, low: float | None = 0.005, merge_gap: int = 2,
                 min_frames: int = 2, pixel_threshold: float = 25.0, score_scale: float = 0.05) -> None:
        if not isinstance(label, str) or not label:
            raise BadPredictorError(f"label must be a non-empty string, got {label!r}")
        lo = high if low is None else low
        if not (0 <= lo <= high <= 1):
            raise BadPredictorError(f"expected 0 <= low <= high <= 1 (fractions of changed pixels), got "
                                    f"low={low!r} high={high!r}")
        if merge_gap < 0 or min_frames < 1 or not 0 < pixel_threshold < 255 or not score_scale > 0:
            raise BadPredictorError("expected merge_gap >= 0, min_frames >= 1, 0 < pixel_threshold < 255 and "
                                    f"score_scale > 0, got {merge_gap!r}, {min_frames!r}, {pixel_threshold!r}, "
                                    f"{score_scale!r}")
        self.label, self.high, self.low = label, float(high), float(lo)
        self.merge_gap, self.min_frames = int(merge_gap), int(min_frames)
        self.pixel_threshold, self.score_scale = float(pixel_threshold), float(score_scale)

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        return (LabelInfo(name=self.label, kind="segment"),)

    def predict_scores(self, scores: npt.ArrayLike) -> list[SegmentPrediction]:
        """Events from precomputed per-frame scores on this predictor's scale."""
        return [SegmentPrediction(label=self.label, start=a, end=b, unit="frame",
                                  score=float(min(1.0, max(0.0, m / self.score_scale))))
                for a, b, m in events_from_scores(scores, high=self.high, low=self.low, merge_gap=self.merge_gap,
                                                  min_frames=self.min_frames)]

    def predict_frames(self, frames: Sequence[npt.NDArray[np.uint8]]) -> list[SegmentPrediction]:
        """Events (inclusive 0-based frame ranges) in a video's frames, in order."""
        return self.predict_scores(frame_difference_scores(frames, pixel_threshold=self.pixel_threshold))


def frame_events_from_params(**params: Any) -> FrameEvents:
    """``model=video-events`` from string parameters (the CLIs pass strings)."""
    table: dict[str, Any] = {"label": str, "high": float, "low": float, "merge_gap": int, "min_frames": int,
                             "pixel_threshold": float, "score_scale": float}
    unknown = sorted(set(params) - set(table))
    if unknown:
        raise BadPredictorError(f"video-events does not take {unknown}; it takes {sorted(table)}")
    kw: dict[str, Any] = {}
    for k, v in params.items():
        try:
            kw[k] = table[k](v)
        except (TypeError, ValueError):
            raise BadPredictorError(f"video-events: {k} must be a {table[k].__name__}, got {v!r}") from None
    return FrameEvents(**kw)
