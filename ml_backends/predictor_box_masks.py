"""The ``box-masks`` predictor: automatic masks for a detector's boxes, refined by GrabCut.

:class:`BoxMaskPredictor` runs any box predictor (``detector=``, a registered name:
``contours`` by default, ``hog-person``, ``haar-face``, ``onnx``...) and turns each box
into a ``mask`` :class:`~.predictor_spec.Prediction` with
:class:`~accord.ml_backends.predictor_grabcut.GrabCutSegmenter` seeded by that box
(grown by ``pad`` pixels on each side, clipped to the image, so an object the detector's
box cuts a little is not forced to background). Each mask keeps the detector's label and
score; a box GrabCut finds no foreground in gives no mask. The detector's own output is
checked against its spec first (:func:`~accord.ml_backends.driver.validate_predictions`),
so a broken detector fails with a message naming it rather than a bad prompt.

Its spec is one ``mask`` label per box label of the detector: in Label Studio these are
BrushLabels, in CVAT ``mask`` labels (or polygons when CVAT asks ``conv_mask_to_poly``).
Needs ``opencv-python-headless`` (``accord[serve]``), as GrabCut does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core.errors import BadPredictorError
from accord.ml_backends.driver import validate_predictions
from accord.ml_backends.predictor_grabcut import GrabCutSegmenter, Prompt
from accord.ml_backends.predictor_spec import LabelInfo, Prediction, Predictor


class BoxMaskPredictor:
    """Masks for ``detector``'s boxes (see the module docstring).

    Args:
        detector: A predictor that declares at least one ``box`` label.
        segmenter: The GrabCut segmenter (default settings when None).
        pad: Pixels added on each side of a box before GrabCut, 0 or more (2 by default).
        detector_name: The detector's name in error messages.

    Raises:
        BadPredictorError: the detector declares no box label, or ``pad`` is not a whole number >= 0.
    """

    def __init__(self, detector: Predictor, segmenter: GrabCutSegmenter | None = None, *, pad: int = 2,
                 detector_name: str | None = None) -> None:
        if not isinstance(pad, int) or isinstance(pad, bool) or pad < 0:
            raise BadPredictorError(f"box-masks pad must be a whole number of pixels >= 0, got {pad!r}")
        self.detector = detector
        self.segmenter = segmenter if segmenter is not None else GrabCutSegmenter()
        self.pad = pad
        self.detector_name = detector_name or type(detector).__name__
        self._detector_labels = tuple(detector.labels)
        names = list(dict.fromkeys(i.name for i in self._detector_labels if i.kind == "box"))
        if not names:
            raise BadPredictorError(f"box-masks needs a detector that outputs boxes; {self.detector_name!r} "
                                    f"declares {sorted({i.kind for i in self._detector_labels})}. Pick a box "
                                    "detector (e.g. detector=contours, detector=hog-person)")
        self._labels = tuple(LabelInfo(name=n, kind="mask") for n in names)

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        """One ``mask`` label per box label of the detector, same names."""
        return self._labels

    def predict(self, image: npt.NDArray[np.uint8]) -> list[Prediction]:
        """One mask per detected box (the box's label and score), in the detector's order.

        Raises:
            BadPredictionError: the detector returned something its spec does not declare.
            BadPredictorError: the image is not an ``H x W x 3`` uint8 array, or OpenCV is missing.
        """
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
                and image.shape[2] >= 3 and image.shape[0] > 0 and image.shape[1] > 0):
            raise BadPredictorError("box-masks expected an H x W x 3 uint8 RGB image, got "
                                    f"{getattr(image, 'dtype', type(image).__name__)} "
                                    f"{getattr(image, 'shape', '')}")
        h, w = int(image.shape[0]), int(image.shape[1])
        boxes = validate_predictions(self.detector.predict(image), labels=self._detector_labels, width=w, height=h,
                                     predictor=self.detector_name, task="box-masks image")
        out: list[Prediction] = []
        for p in boxes:
            if p.kind != "box":
                continue
            (x1, y1), (x2, y2) = p.points
            bx1, by1 = max(0.0, math.floor(x1) - self.pad), max(0.0, math.floor(y1) - self.pad)
            bx2, by2 = min(float(w), math.ceil(x2) + self.pad), min(float(h), math.ceil(y2) + self.pad)
            if bx2 - bx1 < 1.0 or by2 - by1 < 1.0:
                continue
            seg = self.segmenter.segment(image, Prompt(label=p.label, box=(bx1, by1, bx2, by2)))
            out += [Prediction(label=p.label, kind="mask", score=p.score, mask=s.mask) for s in seg]
        return out


_GRABCUT_PARAMS = ("iterations", "max_side")


def box_masks_from_params(**params: Any) -> BoxMaskPredictor:
    """The ``box-masks`` factory (CLI strings allowed).

    ``detector`` names the box predictor (``contours`` by default; it then outputs boxes
    only unless ``kinds`` is given), ``iterations`` and ``max_side`` go to GrabCut, ``pad``
    is the box padding, and every other parameter goes to the detector's factory
    (``min_area_px=32``, ``onnx_path=...``).

    Raises:
        BadPredictorError: an unknown detector, a detector without box labels, or bad values.
    """
    from accord.ml_backends.predictor_registry import get_predictor

    detector = str(params.pop("detector", "contours"))
    if detector == "box-masks":
        raise BadPredictorError("box-masks cannot use itself as its detector; pick a box detector "
                                "(e.g. detector=contours, detector=hog-person)")
    try:
        pad = int(params.pop("pad", 2))
    except (TypeError, ValueError) as e:
        raise BadPredictorError(f"box-masks pad must be a whole number of pixels, got {e}") from e
    gc_kw: dict[str, int] = {}
    for k in _GRABCUT_PARAMS:
        if k in params:
            v = params.pop(k)
            try:
                gc_kw[k] = int(v)
            except (TypeError, ValueError) as e:
                raise BadPredictorError(f"box-masks {k} must be a whole number, got {v!r}") from e
    if detector == "contours":
        params.setdefault("kinds", "box")
    return BoxMaskPredictor(get_predictor(detector, **params), GrabCutSegmenter(**gc_kw), pad=pad,
                            detector_name=detector)


__all__: Sequence[str] = ("BoxMaskPredictor", "box_masks_from_params")
