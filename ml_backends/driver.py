"""The driver: check what a predictor returned against its own spec before any backend converts it.

As the CVAT SDK's auto-annotation driver does for detection functions, every backend
(:mod:`accord.ml_backends.cvat_function`, the Label Studio image backend) passes a
predictor's output through :func:`validate_predictions`. A prediction breaks the
contract when:

* it is not a :class:`~.predictor_spec.Prediction`, or its ``kind`` is not one of
  :data:`~.predictor_spec.PREDICTION_KINDS`;
* its ``label`` is not among the predictor's declared labels, or the label is not
  declared with that ``kind``;
* its ``score`` is not a finite number in ``[0, 1]``;
* its geometry does not fit its kind (a box is two corners with ``x1 <= x2`` and
  ``y1 <= y2``, a polygon three vertices or more, keypoints one per declared keypoint
  name, a mask a boolean ``H x W`` array) or a coordinate is not finite or lies
  outside the image (``0 <= x <= W``, ``0 <= y <= H``, pixel edges).

Audio and event predictors answer :class:`~.predictor_spec.SegmentPrediction`, checked by
:func:`validate_segments`: a declared ``segment`` label, a score in ``[0, 1]``, the unit
asked for, and bounds inside the media (seconds: ``0 <= start < end <= duration``; frames:
whole numbers, ``0 <= start <= end < n_frames``), a transcript a string or None.
Point-cloud predictors answer :class:`~.predictor_spec.CuboidPrediction`, checked by
:func:`validate_cuboids`: a declared ``cuboid`` label, a score in ``[0, 1]``, a finite
centre and yaw, and sizes finite and positive.

The error, :class:`~accord.core.errors.BadPredictionError`, names the predictor, the
task and the field (``predictions[3].score``), so a server can show it as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from accord.core.errors import BadPredictionError
from accord.ml_backends.predictor_spec import (
    PREDICTION_KINDS,
    CuboidPrediction,
    LabelInfo,
    Prediction,
    SegmentPrediction,
    SegmentUnit,
)


def _short(value: Any) -> str:
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def validate_predictions(predictions: Sequence[Any], *, labels: Sequence[LabelInfo], width: int, height: int,
                         predictor: str, task: str) -> list[Prediction]:
    """The predictions, unchanged, once each one is checked against the spec (see the module docstring).

    Args:
        predictions: What the predictor's ``predict`` returned for one image.
        labels: The predictor's spec (its ``labels``).
        width: The image's width in pixels.
        height: The image's height in pixels.
        predictor: The predictor's name, for the message.
        task: The task or frame, for the message.

    Returns:
        ``list(predictions)``.

    Raises:
        BadPredictionError: the first prediction that breaks the contract (the message names the
            predictor, the task and the field).
    """
    declared: dict[str, dict[str, LabelInfo]] = {}
    for info in labels:
        declared.setdefault(info.name, {})[info.kind] = info
    if not isinstance(predictions, list | tuple):
        raise BadPredictionError(f"expected a list of Prediction, got {type(predictions).__name__}",
                                 predictor=predictor, task=task, field="predictions")
    out = list(predictions)

    def bad(k: int, name: str, message: str) -> BadPredictionError:
        return BadPredictionError(message, predictor=predictor, task=task, field=f"predictions[{k}]{name}")

    for k, p in enumerate(out):
        if not isinstance(p, Prediction):
            raise bad(k, "", f"expected a Prediction, got {type(p).__name__}; return "
                             "accord.ml_backends.predictors.Prediction objects")
        if p.kind not in PREDICTION_KINDS:
            raise bad(k, ".kind", f"expected one of {list(PREDICTION_KINDS)}, got {_short(p.kind)}")
        kinds = declared.get(p.label) if isinstance(p.label, str) else None
        if kinds is None:
            raise bad(k, ".label", f"label {_short(p.label)} is not among the predictor's declared labels "
                                   f"{_short(sorted(declared))}; declare it in the predictor's labels")
        info = kinds.get(p.kind)
        if info is None:
            raise bad(k, ".kind", f"kind {p.kind!r} is not declared for label {p.label!r} (declared: "
                                  f"{sorted(kinds)}); declare LabelInfo(name={p.label!r}, kind={p.kind!r})")
        _check_score(p.score, lambda m, k=k: bad(k, ".score", m))
        _check_geometry(p, info, width, height, lambda name, m, k=k: bad(k, name, m))
    return out


def _check_score(score: Any, bad: Any) -> None:
    if isinstance(score, bool) or not isinstance(score, int | float | np.integer | np.floating):
        raise bad(f"expected a number in [0, 1], got {type(score).__name__} {_short(score)}")
    s = float(score)
    if not (math.isfinite(s) and 0.0 <= s <= 1.0):
        raise bad(f"expected a finite score in [0, 1], got {s!r}; squash or clip the model's score")


def _check_geometry(p: Prediction, info: LabelInfo, width: int, height: int, bad: Any) -> None:
    if p.kind == "tag":
        return
    if p.kind == "mask":
        m = p.mask
        if not isinstance(m, np.ndarray) or m.dtype != np.bool_ or m.shape != (height, width):
            got = f"{m.dtype} array {m.shape}" if isinstance(m, np.ndarray) else type(m).__name__
            raise bad(".mask", f"expected a boolean mask of the image's shape {(height, width)}, got {got}")
        return
    pts = p.points
    for j, xy in enumerate(pts):
        try:
            x, y = (float(v) for v in xy)
        except (TypeError, ValueError):
            raise bad(f".points[{j}]", f"expected an (x, y) pair of numbers, got {_short(xy)}") from None
        if not (math.isfinite(x) and math.isfinite(y) and 0.0 <= x <= width and 0.0 <= y <= height):
            raise bad(f".points[{j}]", f"point ({x:g}, {y:g}) is outside the {width} x {height} image "
                                       f"(0 <= x <= {width}, 0 <= y <= {height}); clip it to the image")
    if p.kind == "box":
        if len(pts) != 2:
            raise bad(".points", f"a box is two corners ((x1, y1), (x2, y2)), got {len(pts)} points")
        (x1, y1), (x2, y2) = pts
        if x1 > x2 or y1 > y2:
            raise bad(".points", f"a box needs x1 <= x2 and y1 <= y2, got {_short(pts)}")
    elif p.kind == "polygon" and len(pts) < 3:
        raise bad(".points", f"a polygon needs 3 vertices or more, got {len(pts)}")
    elif p.kind == "keypoints" and info.keypoints and len(pts) != len(info.keypoints):
        raise bad(".points", f"label {p.label!r} declares {len(info.keypoints)} keypoints "
                             f"{list(info.keypoints)}, got {len(pts)} points")


def _declared_label(p: Any, kind: str, labels: Sequence[LabelInfo], bad: Any) -> None:
    names = sorted({i.name for i in labels if i.kind == kind})
    if not isinstance(p.label, str) or p.label not in names:
        raise bad(".label", f"label {_short(p.label)} is not among the predictor's declared {kind} labels "
                            f"{_short(names)}; declare LabelInfo(name=..., kind={kind!r})")


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _as_list(predictions: Any, predictor: str, task: str, what: str) -> list[Any]:
    if not isinstance(predictions, list | tuple):
        raise BadPredictionError(f"expected a list of {what}, got {type(predictions).__name__}",
                                 predictor=predictor, task=task, field="predictions")
    return list(predictions)


def validate_segments(predictions: Sequence[Any], *, labels: Sequence[LabelInfo], unit: SegmentUnit,
                      extent: float, predictor: str, task: str) -> list[SegmentPrediction]:
    """The segments, unchanged, once each one is checked (see the module docstring).

    Args:
        predictions: What an audio or event predictor returned for one recording or video.
        labels: The predictor's spec.
        unit: ``"s"`` (then ``extent`` is the duration in seconds) or ``"frame"`` (then
            ``extent`` is the number of frames).
        extent: The media's duration (s) or frame count.
        predictor: The predictor's name, for the message.
        task: The task, for the message.

    Raises:
        BadPredictionError: the first segment that breaks the contract.
    """
    out = _as_list(predictions, predictor, task, "SegmentPrediction")
    for k, p in enumerate(out):
        def bad(name: str, message: str, k: int = k) -> BadPredictionError:
            return BadPredictionError(message, predictor=predictor, task=task, field=f"predictions[{k}]{name}")

        if not isinstance(p, SegmentPrediction):
            raise bad("", f"expected a SegmentPrediction, got {type(p).__name__}; return "
                          "accord.ml_backends.predictor_spec.SegmentPrediction objects")
        _declared_label(p, "segment", labels, bad)
        _check_score(p.score, lambda m: bad(".score", m))
        if p.unit != unit:
            raise bad(".unit", f"expected unit {unit!r} for this media, got {_short(p.unit)}")
        start, end = _number(p.start), _number(p.end)
        if start is None or end is None:
            raise bad(".start", f"expected finite numbers for start and end, got {_short(p.start)}, {_short(p.end)}")
        if unit == "s":
            if not 0.0 <= start < end <= extent + 1e-9:
                raise bad(".end", f"a segment needs 0 <= start < end <= duration ({extent:g} s), got "
                                  f"start={start:g} end={end:g}; clip it to the recording")
        else:
            if start != int(start) or end != int(end) or not 0 <= start <= end < extent:
                raise bad(".end", f"an event needs whole frame numbers 0 <= start <= end < {int(extent)} "
                                  f"(the frame count), got start={start:g} end={end:g}")
        if p.text is not None and not isinstance(p.text, str):
            raise bad(".text", f"expected a transcript string or None, got {type(p.text).__name__}")
    return out


def validate_cuboids(predictions: Sequence[Any], *, labels: Sequence[LabelInfo], predictor: str,
                     task: str) -> list[CuboidPrediction]:
    """The cuboids, unchanged, once each one is checked (see the module docstring).

    Raises:
        BadPredictionError: the first cuboid that breaks the contract.
    """
    out = _as_list(predictions, predictor, task, "CuboidPrediction")
    for k, p in enumerate(out):
        def bad(name: str, message: str, k: int = k) -> BadPredictionError:
            return BadPredictionError(message, predictor=predictor, task=task, field=f"predictions[{k}]{name}")

        if not isinstance(p, CuboidPrediction):
            raise bad("", f"expected a CuboidPrediction, got {type(p).__name__}; return "
                          "accord.ml_backends.predictor_spec.CuboidPrediction objects")
        _declared_label(p, "cuboid", labels, bad)
        _check_score(p.score, lambda m: bad(".score", m))
        for name in ("x", "y", "z", "yaw"):
            if _number(getattr(p, name)) is None:
                raise bad(f".{name}", f"expected a finite number, got {_short(getattr(p, name))}")
        for name in ("length", "width", "height"):
            v = _number(getattr(p, name))
            if v is None or v <= 0:
                raise bad(f".{name}", f"a cuboid's size must be a finite number > 0 (metres), got "
                                      f"{_short(getattr(p, name))}")
    return out
