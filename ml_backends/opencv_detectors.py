"""Offline detectors that ship inside OpenCV: HOG people (``hog-person``) and Haar faces (``haar-face``).

Both need only ``opencv-python-headless`` (in the ``serve`` and ``cvat`` extras): the
models are part of the wheel, nothing is downloaded.

* :class:`HogPersonDetector` -- Dalal & Triggs (2005), "Histograms of Oriented Gradients
  for Human Detection": OpenCV's ``HOGDescriptor_getDefaultPeopleDetector()`` linear SVM
  over a 64 x 128 window, slid over an image pyramid (``detectMultiScale``). Boxes are
  upright people at least 64 x 128 pixels; smaller images give nothing.
* :class:`HaarFaceDetector` -- Viola & Jones (2001), "Rapid Object Detection using a
  Boosted Cascade of Simple Features": ``haarcascade_frontalface_default.xml`` from
  ``cv2.data.haarcascades`` (``detectMultiScale3`` with ``outputRejectLevels``).

**Scores.** Neither model gives a probability. HOG gives each detection's linear SVM
decision value ``w = <weights, features> + bias`` (0 on the decision boundary, positive
on the person side; the best window of each group of overlapping ones); Haar gives
``levelWeights``, the sum of the last stage's weak classifier votes (higher = more
face-like). Both become a score in ``[0, 1]`` by :func:`squash_margin`,
``score = 1 - exp(-max(w, 0))``: 0 at the boundary, 0.63 at ``w = 1``, 0.86 at
``w = 2``, 0.95 at ``w = 3``. It is monotone, so it only orders detections of one
model (good for sorting and for a ``conf_threshold``); it is not a
calibrated probability and does not compare across models.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core.errors import BadPredictorError, MissingExtraError
from accord.ml_backends.predictor_spec import LabelInfo, Prediction

_LOCAL = threading.local()  # one OpenCV object per thread: CascadeClassifier is not thread-safe


def squash_margin(w: float) -> float:
    """A classifier margin mapped into ``[0, 1]``: ``1 - exp(-max(w, 0))`` (see the module docstring).

    Example:
        >>> [round(squash_margin(w), 3) for w in (-1.0, 0.0, 1.0, 3.0)]
        [0.0, 0.0, 0.632, 0.95]
    """
    if not math.isfinite(w):
        return 1.0 if w > 0 else 0.0
    return 1.0 - math.exp(-max(float(w), 0.0))


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as e:
        raise MissingExtraError("'cv2' is needed for the hog-person and haar-face predictors but is not installed; "
                                "install it with: pip install 'accord[serve]'") from e
    return cv2


def _check_image(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or img.size == 0 or (img.ndim == 3 and
                                                                            img.shape[2] not in (3, 4)):
        raise BadPredictorError(f"expected a non-empty uint8 image H x W or H x W x 3, got dtype {img.dtype} shape "
                                f"{img.shape}; convert with np.asarray(pil_image.convert('RGB'))")
    return img


def _gray(img: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if img.ndim == 2:
        return img
    cv2 = _cv2()
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY), dtype=np.uint8)


@dataclass(frozen=True, slots=True, kw_only=True)
class HogPersonDetector:
    """Upright people by OpenCV's default HOG + linear SVM (see the module docstring).

    Attributes:
        hit_threshold: SVM decision threshold (OpenCV's ``hitThreshold``); raise it for fewer, surer boxes.
        win_stride: Window step in pixels (8 is OpenCV's sample; 4 is slower and finer).
        scale: Pyramid step (> 1).
        conf_threshold: Drop boxes whose score is below this.
        label: The label of every box.
    """

    hit_threshold: float = 0.0
    win_stride: int = 8
    scale: float = 1.05
    conf_threshold: float = 0.0
    label: str = "person"

    def __post_init__(self) -> None:
        if self.win_stride < 1 or not self.scale > 1.0 or not 0.0 <= self.conf_threshold <= 1.0:
            raise BadPredictorError(f"hog-person needs win_stride >= 1, scale > 1 and conf_threshold in [0, 1]; got "
                                    f"{self.win_stride!r}, {self.scale!r}, {self.conf_threshold!r}")

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        return (LabelInfo(name=self.label, kind="box"),)

    def raw(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """OpenCV's ``(rects x, y, w, h; weights)`` for ``image`` (RGB or grey), before scoring."""
        img = _check_image(image)
        hog = getattr(_LOCAL, "hog", None)
        if hog is None:
            cv2 = _cv2()
            hog = cv2.HOGDescriptor()
            hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
            _LOCAL.hog = hog
        src = img if img.ndim == 2 else np.ascontiguousarray(img[..., :3])
        if src.shape[0] < 128 or src.shape[1] < 64:
            return np.zeros((0, 4), dtype=np.int64), np.zeros(0)
        rects, weights = hog.detectMultiScale(src, hitThreshold=self.hit_threshold,
                                              winStride=(self.win_stride, self.win_stride), scale=self.scale)
        return np.asarray(rects, dtype=np.int64).reshape(-1, 4), np.asarray(weights, dtype=float).reshape(-1)

    def predict(self, image: npt.NDArray[np.uint8]) -> list[Prediction]:
        """Person boxes in pixels, score = :func:`squash_margin` of the SVM margin, best first."""
        rects, weights = self.raw(image)
        return _box_predictions(rects, weights, image, label=self.label, conf_threshold=self.conf_threshold)


@dataclass(frozen=True, slots=True, kw_only=True)
class HaarFaceDetector:
    """Frontal faces by OpenCV's Viola-Jones cascade (see the module docstring).

    Attributes:
        cascade: A cascade file name in ``cv2.data.haarcascades`` or a path to one.
        scale_factor: Pyramid step (> 1).
        min_neighbors: Overlapping raw detections needed to keep a face (higher = fewer, surer).
        min_size_px: Smallest face side in pixels.
        conf_threshold: Drop faces whose score is below this.
        label: The label of every box.
    """

    cascade: str = "haarcascade_frontalface_default.xml"
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size_px: int = 24
    conf_threshold: float = 0.0
    label: str = "face"

    def __post_init__(self) -> None:
        if not self.scale_factor > 1.0 or self.min_neighbors < 0 or self.min_size_px < 1 \
                or not 0.0 <= self.conf_threshold <= 1.0:
            raise BadPredictorError(f"haar-face needs scale_factor > 1, min_neighbors >= 0, min_size_px >= 1 and "
                                    f"conf_threshold in [0, 1]; got {self.scale_factor!r}, {self.min_neighbors!r}, "
                                    f"{self.min_size_px!r}, {self.conf_threshold!r}")
        self._classifier()  # fail at construction (server start), not on the first image

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        return (LabelInfo(name=self.label, kind="box"),)

    def cascade_path(self) -> Path:
        """The cascade file: ``cascade`` itself if it exists, else the one of that name inside OpenCV."""
        p = Path(self.cascade)
        return p if p.is_file() else Path(_cv2().data.haarcascades) / self.cascade

    def _classifier(self) -> Any:
        cache = getattr(_LOCAL, "haar", None)
        if cache is None:
            cache = _LOCAL.haar = {}
        path = self.cascade_path()
        clf = cache.get(path)
        if clf is None:
            clf = _cv2().CascadeClassifier(str(path))
            if clf.empty():
                raise BadPredictorError(f"cannot load the Haar cascade {str(path)!r}; pass cascade= a file name in "
                                        f"cv2.data.haarcascades (e.g. haarcascade_frontalface_alt2.xml) or a path")
            cache[path] = clf
        return clf

    def raw(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """OpenCV's ``(rects x, y, w, h; levelWeights)`` for ``image``, before scoring."""
        gray = _gray(_check_image(image))
        rects, _levels, weights = self._classifier().detectMultiScale3(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_size_px, self.min_size_px), outputRejectLevels=True)
        return np.asarray(rects, dtype=np.int64).reshape(-1, 4), np.asarray(weights, dtype=float).reshape(-1)

    def predict(self, image: npt.NDArray[np.uint8]) -> list[Prediction]:
        """Face boxes in pixels, score = :func:`squash_margin` of the last stage's sum, best first."""
        rects, weights = self.raw(image)
        return _box_predictions(rects, weights, image, label=self.label, conf_threshold=self.conf_threshold)


def _box_predictions(rects: npt.NDArray[np.int64], weights: npt.NDArray[np.float64], image: npt.NDArray[np.uint8],
                     *, label: str, conf_threshold: float) -> list[Prediction]:
    """OpenCV ``(x, y, w, h)`` rects and raw weights -> boxes clipped to the image, scored, best first."""
    h, w = np.asarray(image).shape[:2]
    out = []
    for (x, y, bw, bh), wt in zip(rects.tolist(), weights.tolist(), strict=True):
        score = squash_margin(wt)
        if score < conf_threshold:
            continue
        x1, y1, x2, y2 = max(0, x), max(0, y), min(w, x + bw), min(h, y + bh)
        if x2 > x1 and y2 > y1:
            out.append(Prediction(label=label, kind="box", score=score,
                                  points=((float(x1), float(y1)), (float(x2), float(y2)))))
    out.sort(key=lambda p: -p.score)
    return out


def _coerce(params: dict[str, Any], ints: tuple[str, ...], floats: tuple[str, ...], what: str) -> dict[str, Any]:
    out = dict(params)
    try:
        for k in ints:
            if k in out:
                out[k] = int(out[k])
        for k in floats:
            if k in out:
                out[k] = float(out[k])
    except (TypeError, ValueError) as e:
        raise BadPredictorError(f"bad {what} parameter: {e}; {', '.join(ints + floats)} take numbers") from e
    return out


def hog_person(**params: Any) -> HogPersonDetector:
    """The ``hog-person`` factory (string parameters from the CLIs are converted)."""
    return HogPersonDetector(**_coerce(params, ("win_stride",), ("hit_threshold", "scale", "conf_threshold"),
                                       "hog-person"))


def haar_face(**params: Any) -> HaarFaceDetector:
    """The ``haar-face`` factory (string parameters from the CLIs are converted)."""
    return HaarFaceDetector(**_coerce(params, ("min_neighbors", "min_size_px"), ("scale_factor", "conf_threshold"),
                                      "haar-face"))
