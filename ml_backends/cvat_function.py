"""A CVAT auto-annotation function backed by an accord predictor.

Use it with cvat-cli (any CVAT server, Community included)::

    cvat-cli task auto-annotate TASK --function-module accord.ml_backends.cvat_function \\
        -p model=str:contours -p kinds=str:box,keypoints,tag --conf-threshold 0.5

or from Python::

    from cvat_sdk.auto_annotation import annotate_task
    import accord.ml_backends.cvat_function as fn
    annotate_task(client, task_id, fn.create(model="contours", kinds="box,polygon"))

The module itself is a detection function (``spec`` and ``detect`` for the default
predictor with boxes, ``extent`` skeletons and ``light``/``dark`` tags); :func:`create`
builds one for any registered predictor (:mod:`accord.ml_backends.predictors`) and its
parameters. ``detect()`` honours the context's ``conf_threshold`` (keeps scores >= it)
and ``conv_mask_to_poly`` (masks become polygons of their largest outer contour; otherwise
they are CVAT ``mask`` shapes, ``cvat_sdk.masks.encode_mask``, and a label whose only kind is
``mask`` is declared with type ``mask``). ``create(model="box-masks", detector="hog-person")``
gives masks for a detector's boxes. Every prediction is
checked against the predictor's declared labels first
(:func:`~accord.ml_backends.driver.validate_predictions`): a label the spec does not
declare, a box outside the frame or a score outside ``[0, 1]`` raises
:class:`~accord.core.errors.BadPredictionError` naming the model, the frame and the field.

Label ids in the spec are local; cvat-sdk maps them to the task's labels by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from cvat_sdk.auto_annotation import (
    DetectionFunctionContext,
    DetectionFunctionSpec,
    keypoint,
    keypoint_spec,
    label_spec,
    mask,
    polygon,
    rectangle,
    skeleton,
    skeleton_label_spec,
    tag,
)
from cvat_sdk.masks import encode_mask

from .driver import validate_predictions
from .predictor_contours import _outline
from .predictor_registry import get_predictor
from .predictor_spec import LabelInfo, Prediction, Predictor

_CVAT_TYPE = {"box": "rectangle", "polygon": "polygon", "mask": "mask", "tag": "tag"}


def _label_type(kinds: set[str]) -> str:
    # a mask-only label is declared "mask": with conv_mask_to_poly cvat-sdk itself expects polygons for it
    # (so the task's label must be "polygon" or "any"), otherwise a "mask" or "any" task label
    return _CVAT_TYPE[next(iter(kinds))] if len(kinds) == 1 else "any"


class PredictorFunction:
    """A detection function (``spec`` + ``detect``) wrapping a :class:`Predictor`.

    Args:
        predictor: The model.
        name: Its name in error messages (default: its class name).
    """

    def __init__(self, predictor: Predictor, *, name: str | None = None) -> None:
        self.predictor = predictor
        self.name = name or type(predictor).__name__
        self._labels = tuple(predictor.labels)
        infos: dict[str, list[LabelInfo]] = {}
        for info in self._labels:
            infos.setdefault(info.name, []).append(info)
        self._ids: dict[str, int] = {}
        self._kp_ids: dict[str, tuple[int, ...]] = {}
        specs = []
        next_id = 0
        for name, group in infos.items():
            lid = next_id
            next_id += 1
            self._ids[name] = lid
            skel = next((i for i in group if i.kind == "keypoints"), None)
            if skel is not None:
                kp_ids = tuple(range(next_id, next_id + len(skel.keypoints)))
                next_id += len(kp_ids)
                self._kp_ids[name] = kp_ids
                specs.append(skeleton_label_spec(name, lid, [keypoint_spec(k, i) for k, i in
                                                             zip(skel.keypoints, kp_ids, strict=True)]))
            else:
                specs.append(label_spec(name, lid, type=_label_type({i.kind for i in group})))
        self.spec = DetectionFunctionSpec(labels=specs)

    def _shape(self, p: Prediction, conv_mask_to_poly: bool) -> list[Any]:
        lid = self._ids[p.label]
        flat = [float(v) for xy in p.points for v in xy]
        if p.kind == "box":
            return [rectangle(lid, flat, score=p.score)]
        if p.kind == "polygon":
            return [polygon(lid, flat, score=p.score)]
        if p.kind == "tag":
            return [tag(lid)]
        if p.kind == "keypoints":
            return [skeleton(lid, [keypoint(kid, [x, y]) for kid, (x, y) in
                                   zip(self._kp_ids[p.label], p.points, strict=True)], score=p.score)]
        if p.kind == "mask" and p.mask is not None:
            if conv_mask_to_poly:
                pts = _mask_outline(p.mask)
                return [polygon(lid, pts, score=p.score)] if len(pts) >= 6 else []
            return [mask(lid, encode_mask(p.mask), score=p.score)]
        return []

    def detect(self, context: DetectionFunctionContext, image: Any) -> list[Any]:
        """Shapes and tags for one frame (a PIL image), filtered by ``context.conf_threshold``.

        Raises:
            BadPredictionError: the predictor returned something its labels do not declare
                (the message names the predictor, the frame and the field).
        """
        arr: npt.NDArray[np.uint8] = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image,
                                                dtype=np.uint8)
        threshold = context.conf_threshold
        preds = validate_predictions(self.predictor.predict(arr), labels=self._labels, width=int(arr.shape[1]),
                                     height=int(arr.shape[0]), predictor=self.name,
                                     task=f"frame {context.frame_name}")
        out: list[Any] = []
        for p in preds:
            if threshold is not None and p.score < threshold:
                continue
            out += self._shape(p, context.conv_mask_to_poly)
        return out


def _mask_outline(m: npt.NDArray[np.bool_]) -> list[float]:
    return [float(v) for xy in _outline(m) for v in xy]


def create(model: str = "contours", **params: Any) -> PredictorFunction:
    """A detection function for the predictor registered as ``model`` (``-p model=...``).

    Other parameters go to the predictor's factory (``kinds="box,polygon"``, ``min_area_px=32``).

    Raises:
        BadPredictorError: unknown model or parameters.
    """
    return PredictorFunction(get_predictor(model, **params), name=model)


_DEFAULT = create(kinds="box,keypoints,tag")
spec: DetectionFunctionSpec = _DEFAULT.spec


def detect(context: DetectionFunctionContext, image: Any) -> list[Any]:
    """The default function's ``detect`` (boxes, extent skeletons, light/dark tags)."""
    return _DEFAULT.detect(context, image)


__all__: Sequence[str] = ("PredictorFunction", "create", "detect", "spec")
