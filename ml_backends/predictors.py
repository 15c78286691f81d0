"""Image predictors for pre-annotation: the contract, the registry and the offline default, in one place.

This module re-exports the pieces, which live in their own modules:

* :mod:`~accord.ml_backends.predictor_spec`: the contract. A :class:`Predictor` names
  its labels (its spec: :class:`LabelInfo`, a name and a kind each) and maps an RGB
  image (``uint8`` array ``H x W x 3``) to :class:`Prediction` objects in pixels.
* :mod:`~accord.ml_backends.driver`: :func:`validate_predictions` checks every
  prediction against the spec (declared labels and kinds, coordinates inside the
  image, score in ``[0, 1]``) and raises :class:`~accord.core.errors.BadPredictionError`.
  The CVAT function (:mod:`accord.ml_backends.cvat_function`) and the Label Studio
  image backend call it before converting anything.
* :mod:`~accord.ml_backends.predictor_registry`: :func:`get_predictor` looks predictors
  up by name (``model=`` in ``cvat-cli ... -p model=contours``, ``--model`` in
  ``accord serve label-studio``); register more with :func:`register_predictor`.
* One module per family: :mod:`~accord.ml_backends.predictor_contours` (``contours``,
  :class:`ContourDetector`, the default: classical, deterministic, no download),
  :mod:`~accord.ml_backends.onnx_detector` (``onnx``: a user's ONNX detector; needs
  ``accord[onnx]``), :mod:`~accord.ml_backends.opencv_detectors` (``hog-person`` and
  ``haar-face``: OpenCV's built-in detectors, no download).

The families import only the contract, and the registry imports a family when its
predictor is first built, so importing this module never imports onnxruntime.
"""

from __future__ import annotations

from accord.ml_backends.driver import validate_predictions
from accord.ml_backends.predictor_contours import ContourDetector, contours_from_params
from accord.ml_backends.predictor_contours import _components as _components
from accord.ml_backends.predictor_contours import _hull_area as _hull_area
from accord.ml_backends.predictor_contours import _otsu as _otsu
from accord.ml_backends.predictor_contours import _outline as _outline
from accord.ml_backends.predictor_registry import PREDICTORS, PredictorFactory, get_predictor, register_predictor
from accord.ml_backends.predictor_spec import PREDICTION_KINDS, LabelInfo, Prediction, PredictionKind, Predictor

__all__ = [
    "PREDICTION_KINDS",
    "PREDICTORS",
    "ContourDetector",
    "LabelInfo",
    "Prediction",
    "PredictionKind",
    "Predictor",
    "PredictorFactory",
    "contours_from_params",
    "get_predictor",
    "register_predictor",
    "validate_predictions",
]
