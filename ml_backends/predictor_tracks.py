"""Video tracks from any image detector, frame by frame: :class:`VideoTracker` (``video-tracks``).

Each frame goes through the detector (``detector=NAME``, any registered image predictor;
``contours`` with boxes only by default), every frame's output is checked by the driver
(:func:`accord.ml_backends.driver.validate_predictions`), and the detections are linked into
tracks by :func:`accord.ml_backends.tracking.track_detections` (Kalman + ByteTrack's two-stage
Hungarian matching; see that module). A track's score is the mean score of the detections it
was built from (the best-IoU detection of its label at each of its keyframes).

Label Studio gets the tracks as ``VideoRectangle`` sequences
(:class:`accord.ml_backends.label_studio.backends.TrackBackend`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from accord.core.errors import BadPredictorError
from accord.core.model import Track

from .predictor_spec import LabelInfo, Prediction
from .tracking import iou_matrix, track_detections

__all__ = ["VideoTracker", "video_tracks_from_params"]


class VideoTracker:
    """Tracks (:class:`accord.core.model.Track`, 0-based frames, pixels) from an image detector.

    Args:
        detector: An image predictor (``labels`` and ``predict(image)``).
        name: The name used in driver messages.
        high, low, iou_gate, low_iou_gate, min_hits, max_misses, interpolate_gap: See
            :func:`accord.ml_backends.tracking.track_detections`.
    """

    modality: Literal["tracks"] = "tracks"

    def __init__(self, detector: Any, *, name: str = "video-tracks", high: float = 0.5, low: float = 0.1,
                 iou_gate: float = 0.3, low_iou_gate: float = 0.5, min_hits: int = 3, max_misses: int = 30,
                 interpolate_gap: int = 5) -> None:
        if not any(i.kind in ("box", "polygon", "mask") for i in getattr(detector, "labels", ())):
            raise BadPredictorError(f"video-tracks needs a detector with box, polygon or mask labels; "
                                    f"{type(detector).__name__} has none")
        self.detector = detector
        self.name = name
        self.options: dict[str, Any] = {"high": high, "low": low, "iou_gate": iou_gate, "low_iou_gate": low_iou_gate,
                                        "min_hits": min_hits, "max_misses": max_misses,
                                        "interpolate_gap": interpolate_gap}
        track_detections([], **self.options)  # checks the options now (InvalidAnnotationError)

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        """The detector's geometric labels, each once, as boxes (a track is a box over time)."""
        names = dict.fromkeys(i.name for i in self.detector.labels if i.kind in ("box", "polygon", "mask"))
        return tuple(LabelInfo(name=n, kind="box") for n in names)

    def predict_tracks(self, frames: Sequence[npt.NDArray[np.uint8]]) -> list[tuple[Track, float]]:
        """``(track, score)`` for each confirmed track of the frames, in order of birth."""
        per_frame: list[list[Prediction]] = []
        from .driver import validate_predictions

        spec = tuple(self.detector.labels)
        for k, frame in enumerate(frames):
            h, w = int(frame.shape[0]), int(frame.shape[1])
            found = validate_predictions(self.detector.predict(frame), labels=spec, width=w, height=h,
                                         predictor=self.name, task=f"frame {k}")
            per_frame.append([p for p in found if p.kind in ("box", "polygon", "mask")])
        tracks = track_detections(per_frame, **self.options)
        return [(t, self._score(t, per_frame)) for t in tracks]

    @staticmethod
    def _score(track: Track, per_frame: list[list[Prediction]]) -> float:
        scores = []
        for f in track.frames:
            if f.outside or not 0 <= f.frame < len(per_frame):
                continue
            cands = [p for p in per_frame[f.frame] if p.label == track.label and p.kind == "box"
                     and len(p.points) == 2]
            if not cands:
                continue
            box = np.array([[f.x, f.y, f.x + f.width, f.y + f.height]])
            iou = iou_matrix(box, np.array([[*p.points[0], *p.points[1]] for p in cands]))[0]
            scores.append(float(cands[int(np.argmax(iou))].score))
        return float(np.clip(np.mean(scores), 0.0, 1.0)) if scores else 0.0


def video_tracks_from_params(**params: Any) -> VideoTracker:
    """``model=video-tracks``: ``detector=NAME`` (default ``contours`` with ``kinds=box``), the tracker's
    options (``high``, ``low``, ``iou_gate``, ``low_iou_gate``, ``min_hits``, ``max_misses``,
    ``interpolate_gap``), every other parameter to the detector."""
    from .predictor_registry import get_predictor

    table: dict[str, Any] = {"high": float, "low": float, "iou_gate": float, "low_iou_gate": float, "min_hits": int,
                             "max_misses": int, "interpolate_gap": int}
    own: dict[str, Any] = {}
    for k in [k for k in params if k in table]:
        v = params.pop(k)
        try:
            own[k] = table[k](v)
        except (TypeError, ValueError):
            raise BadPredictorError(f"video-tracks: {k} must be a {table[k].__name__}, got {v!r}") from None
    name = str(params.pop("detector", "contours"))
    if name == "video-tracks":
        raise BadPredictorError("video-tracks cannot track its own output; pass an image detector as detector=")
    if name == "contours" and "kinds" not in params:
        params["kinds"] = "box"
    return VideoTracker(get_predictor(name, **params), **own)
