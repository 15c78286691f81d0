"""The predictor contract: what a model declares (:class:`LabelInfo`) and returns (:class:`Prediction`).

A :class:`Predictor` names its labels, each with a kind (its *spec*), and maps an RGB
image (``uint8`` array ``H x W x 3``) to :class:`Prediction` objects in pixels. Every
backend (the CVAT function, the Label Studio image backend) checks what a predictor
returns against its spec with :func:`accord.ml_backends.driver.validate_predictions`
before converting it, so a broken model fails with a message instead of a ``KeyError``.

This module imports nothing but numpy: the predictor families (contours, ONNX,
OpenCV detectors) import it, and the registry imports them, never the other way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias, get_args, runtime_checkable

import numpy as np
import numpy.typing as npt

PredictionKind: TypeAlias = Literal["box", "polygon", "mask", "keypoints", "tag"]
PREDICTION_KINDS: tuple[str, ...] = get_args(PredictionKind)
"""Every kind a :class:`Prediction` may have."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelInfo:
    """A label a predictor can output: its name, kind, and keypoint names for skeletons."""

    name: str
    kind: PredictionKind
    keypoints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """One prediction in pixels.

    Attributes:
        label: A name among the predictor's labels.
        kind: ``box`` (``points`` = ``[(x1, y1), (x2, y2)]``), ``polygon`` (vertices),
            ``mask`` (``mask``, a boolean ``H x W`` array), ``keypoints`` (``points`` in the
            order of the label's keypoint names) or ``tag`` (no geometry).
        score: Confidence in ``[0, 1]``.
        points: Geometry, as above, inside the image: ``0 <= x <= W``, ``0 <= y <= H``.
        mask: The boolean mask, for ``mask``.
    """

    label: str
    kind: PredictionKind
    score: float
    points: tuple[tuple[float, float], ...] = ()
    mask: npt.NDArray[np.bool_] | None = field(default=None, compare=False)


@runtime_checkable
class Predictor(Protocol):
    """What a pre-annotation backend needs from a model: its spec (``labels``) and ``predict``."""

    @property
    def labels(self) -> tuple[LabelInfo, ...]: ...

    def predict(self, image: npt.NDArray[np.uint8]) -> list[Prediction]: ...
