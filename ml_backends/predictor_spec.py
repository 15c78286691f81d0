"""The predictor contract: what a model declares (:class:`LabelInfo`) and returns (:class:`Prediction`).

A :class:`Predictor` names its labels, each with a kind (its *spec*), and maps an RGB
image (``uint8`` array ``H x W x 3``) to :class:`Prediction` objects in pixels. Every
backend (the CVAT function, the Label Studio image backend) checks what a predictor
returns against its spec with :func:`accord.ml_backends.driver.validate_predictions`
before converting it, so a broken model fails with a message instead of a ``KeyError``.

Predictors of other data types declare a :attr:`modality` and answer with their own
prediction records, checked by their own driver functions:

* ``audio`` (:class:`AudioPredictor`): mono samples and a sample rate ->
  :class:`SegmentPrediction` in seconds (voice activity, speaker turns, transcripts);
  :func:`~accord.ml_backends.driver.validate_segments`.
* ``pointcloud`` (:class:`PointCloudPredictor`): an ``N x 3+`` array of points (x, y, z, ...)
  -> :class:`CuboidPrediction`; :func:`~accord.ml_backends.driver.validate_cuboids`.
* ``events`` (:class:`EventPredictor`): video frames (or one score per frame) ->
  :class:`SegmentPrediction` in frames (``unit="frame"``, inclusive 0-based frame numbers).

An image predictor needs no ``modality`` attribute (:func:`modality_of` reads ``image``).

This module imports nothing but numpy: the predictor families (contours, ONNX,
OpenCV detectors) import it, and the registry imports them, never the other way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, get_args, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from accord.core.model import Cuboid

PredictionKind: TypeAlias = Literal["box", "polygon", "mask", "keypoints", "tag"]
PREDICTION_KINDS: tuple[str, ...] = get_args(PredictionKind)
"""Every kind a :class:`Prediction` may have."""

LabelKind: TypeAlias = Literal["box", "polygon", "mask", "keypoints", "tag", "segment", "cuboid"]
LABEL_KINDS: tuple[str, ...] = get_args(LabelKind)
"""Every kind a :class:`LabelInfo` may declare: the image kinds, ``segment`` (audio, events) and ``cuboid``."""

Modality: TypeAlias = Literal["image", "audio", "pointcloud", "events", "tracks"]
MODALITIES: tuple[str, ...] = get_args(Modality)
"""What a predictor reads (its ``modality`` attribute; ``image`` when it has none)."""

SegmentUnit: TypeAlias = Literal["s", "frame"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelInfo:
    """A label a predictor can output: its name, kind, and keypoint names for skeletons."""

    name: str
    kind: LabelKind
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


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentPrediction:
    """One time segment: an audio region in seconds or a video event in frames.

    Attributes:
        label: A name among the predictor's labels (declared with kind ``segment``).
        start: Start, in ``unit``; for seconds ``0 <= start < end <= duration``.
        end: End, in ``unit``; for frames an inclusive frame number, ``start <= end < n_frames``.
        score: Confidence in ``[0, 1]``.
        unit: ``"s"`` (audio) or ``"frame"`` (video events, 0-based).
        text: A transcript of the segment, when the predictor makes one.
    """

    label: str
    start: float
    end: float
    score: float
    unit: SegmentUnit = "s"
    text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CuboidPrediction:
    """One 3D box in the point cloud's own frame (metres): centre, size along its axes, yaw about z.

    The same convention as :class:`accord.core.model.Cuboid` (``length`` along the yawed x
    axis, ``yaw`` in radians), which :meth:`cuboid` returns.
    """

    label: str
    score: float
    x: float
    y: float
    z: float
    length: float
    width: float
    height: float
    yaw: float = 0.0

    def cuboid(self) -> Cuboid:
        """The :class:`accord.core.model.Cuboid` of this prediction."""
        from accord.core.model import Cuboid

        return Cuboid(label=self.label, x=self.x, y=self.y, z=self.z, length=self.length, width=self.width,
                      height=self.height, yaw=self.yaw)


@runtime_checkable
class AudioPredictor(Protocol):
    """Segments (seconds) from mono audio: ``samples`` float in ``[-1, 1]`` at ``sample_rate`` Hz."""

    modality: Literal["audio"]

    @property
    def labels(self) -> tuple[LabelInfo, ...]: ...

    def predict_audio(self, samples: npt.NDArray[np.float64], sample_rate: int) -> list[SegmentPrediction]: ...


@runtime_checkable
class PointCloudPredictor(Protocol):
    """Cuboids from one LiDAR frame: ``points`` is ``N x 3`` or more columns (x, y, z, intensity, ...)."""

    modality: Literal["pointcloud"]

    @property
    def labels(self) -> tuple[LabelInfo, ...]: ...

    def predict_points(self, points: npt.NDArray[np.float64]) -> list[CuboidPrediction]: ...


@runtime_checkable
class EventPredictor(Protocol):
    """Event segments (``unit="frame"``) from a video's frames, in order."""

    modality: Literal["events"]

    @property
    def labels(self) -> tuple[LabelInfo, ...]: ...

    def predict_frames(self, frames: Sequence[npt.NDArray[np.uint8]]) -> list[SegmentPrediction]: ...


def modality_of(predictor: Any) -> str:
    """The predictor's ``modality`` attribute, ``"image"`` when it has none."""
    m = getattr(predictor, "modality", "image")
    return m if isinstance(m, str) else "image"
