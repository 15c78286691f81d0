"""The registry of predictors: ``model=NAME`` -> a factory that builds a :class:`~.predictor_spec.Predictor`.

Built in (each family's module is imported when its predictor is first built, so
looking a name up never imports onnxruntime or OpenCV):

* ``contours``: :class:`~accord.ml_backends.predictor_contours.ContourDetector`.
* ``onnx``: a user's ONNX detector, :class:`~accord.ml_backends.onnx_detector.OnnxDetector`
  (``onnx_path=...``; needs ``accord[onnx]``).
* ``hog-person`` and ``haar-face``: OpenCV's built-in HOG people and Haar face detectors,
  :mod:`accord.ml_backends.opencv_detectors` (no download).
* ``grabcut``: interactive masks from a box or clicks (Label Studio's smart tools),
  :class:`~accord.ml_backends.predictor_grabcut.GrabCutSegmenter` (no download).
* ``box-masks``: automatic masks for any box predictor's boxes (``detector=NAME``,
  ``contours`` by default), refined by GrabCut,
  :class:`~accord.ml_backends.predictor_box_masks.BoxMaskPredictor` (no download).

Other data types (each predictor has a ``modality``, :func:`~.predictor_spec.modality_of`):

* ``vad``: voice activity, :class:`~accord.ml_backends.predictor_audio.EnergyVad` (energy +
  spectral flatness, numpy; no download), or with ``vad_model=PATH`` a user's silero-vad ONNX
  file run with onnxruntime, :class:`~accord.ml_backends.predictor_audio.SileroVad`.
* ``speaker-turns``: speaker turns, :class:`~accord.ml_backends.predictor_audio.SpeakerTurns`
  (MFCC + Ward clustering; no download).
* ``transcribe``: transcripts from a user's model (``asr_model=PATH``),
  :class:`~accord.ml_backends.predictor_audio.Transcriber`.
* ``pointcloud-cuboids``: LiDAR cuboids (RANSAC ground, DBSCAN, min-area boxes, size priors),
  :class:`~accord.ml_backends.predictor_pointcloud.PointCloudCuboids` (no download).
* ``video-events``: video events from frame differences (hysteresis, merged runs),
  :class:`~accord.ml_backends.predictor_events.FrameEvents` (no download).
* ``video-tracks``: video tracks from any image detector run frame by frame (``detector=NAME``,
  ``contours`` by default; Kalman + ByteTrack matching),
  :class:`~accord.ml_backends.predictor_tracks.VideoTracker` (no download).

Registering a name twice raises; looking up an unknown name raises and lists the
known ones (the house pattern of :mod:`accord.core.matching.registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from accord.core.errors import AccordError, BadPredictorError
from accord.ml_backends.predictor_spec import AudioPredictor, EventPredictor, PointCloudPredictor, Predictor

AnyPredictor: TypeAlias = Predictor | AudioPredictor | PointCloudPredictor | EventPredictor
PredictorFactory = Callable[..., AnyPredictor]
"""``factory(**params) -> Predictor``; string parameters from the CLIs are the factory's to convert."""

_REGISTRY: dict[str, PredictorFactory] = {}

PREDICTORS: Mapping[str, PredictorFactory] = _REGISTRY
"""name -> factory, read-only by convention; add entries with :func:`register_predictor`."""


def register_predictor(name: str, factory: PredictorFactory) -> PredictorFactory:
    """Make ``factory(**params)`` available as ``model=name``.

    Returns:
        ``factory`` unchanged.

    Raises:
        BadPredictorError: ``name`` is empty or already registered.
    """
    if not isinstance(name, str) or not name:
        raise BadPredictorError(f"a predictor name must be a non-empty string, got {name!r}")
    if name in _REGISTRY:
        raise BadPredictorError(
            f"a predictor named {name!r} is already registered "
            f"({getattr(_REGISTRY[name], '__qualname__', _REGISTRY[name])!r}); pick another name")
    _REGISTRY[name] = factory
    return factory


def get_predictor(name: str, **params: Any) -> Any:
    """The predictor registered as ``name``, built with ``params``.

    Raises:
        BadPredictorError: unknown name (the message lists the known ones), or bad params.
    """
    factory = _REGISTRY.get(name)
    if factory is None:
        raise BadPredictorError(f"unknown predictor {name!r}; known: {sorted(_REGISTRY)}. "
                                "Register it with register_predictor()")
    try:
        return factory(**params)
    except AccordError:
        raise
    except (TypeError, ValueError) as e:
        raise BadPredictorError(f"predictor {name!r} does not take these parameters {sorted(params)}: {e}") from e


def _contours(**params: Any) -> Predictor:
    from accord.ml_backends.predictor_contours import contours_from_params

    return contours_from_params(**params)


def _onnx(**params: Any) -> Predictor:
    from accord.ml_backends.onnx_detector import onnx_detector_from_params

    det: Predictor = onnx_detector_from_params(**params)
    return det


def _hog_person(**params: Any) -> Predictor:
    from accord.ml_backends.opencv_detectors import hog_person

    det: Predictor = hog_person(**params)
    return det


def _haar_face(**params: Any) -> Predictor:
    from accord.ml_backends.opencv_detectors import haar_face

    det: Predictor = haar_face(**params)
    return det


def _grabcut(**params: Any) -> Predictor:
    from accord.ml_backends.predictor_grabcut import grabcut_from_params

    return grabcut_from_params(**params)


def _box_masks(**params: Any) -> Predictor:
    from accord.ml_backends.predictor_box_masks import box_masks_from_params

    return box_masks_from_params(**params)


register_predictor("contours", _contours)
register_predictor("onnx", _onnx)
register_predictor("hog-person", _hog_person)
register_predictor("haar-face", _haar_face)
register_predictor("grabcut", _grabcut)
register_predictor("box-masks", _box_masks)


def _vad(**params: Any) -> AnyPredictor:
    from accord.ml_backends.predictor_audio import vad_from_params

    return vad_from_params(**params)


def _speaker_turns(**params: Any) -> AnyPredictor:
    from accord.ml_backends.predictor_audio import speaker_turns_from_params

    return speaker_turns_from_params(**params)


def _asr(**params: Any) -> AnyPredictor:
    from accord.ml_backends.predictor_audio import asr_from_params

    return asr_from_params(**params)


def _pointcloud_cuboids(**params: Any) -> AnyPredictor:
    from accord.ml_backends.predictor_pointcloud import pointcloud_from_params

    return pointcloud_from_params(**params)


def _frame_events(**params: Any) -> AnyPredictor:
    from accord.ml_backends.predictor_events import frame_events_from_params

    return frame_events_from_params(**params)


register_predictor("vad", _vad)
register_predictor("speaker-turns", _speaker_turns)
register_predictor("transcribe", _asr)
register_predictor("pointcloud-cuboids", _pointcloud_cuboids)
def _video_tracks(**params: Any) -> AnyPredictor:
    from accord.ml_backends.predictor_tracks import video_tracks_from_params

    return video_tracks_from_params(**params)


register_predictor("video-events", _frame_events)
register_predictor("video-tracks", _video_tracks)
