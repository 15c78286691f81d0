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

cvat-sdk's ``annotate_task`` reads 2D images one at a time, so the other data types have
their own drivers here, which download the task's frames (original-quality chunks), run the
predictor, check its output with the driver and upload the result by label name:

* :func:`annotate_point_cloud_task`: a 3D task's point clouds (PCD or KITTI ``.bin``) ->
  CVAT ``cuboid`` shapes (``points`` = position, rotation, scale) from ``pointcloud-cuboids``;
* :func:`annotate_events_task`: a video or image sequence -> frame tags for every frame of
  every event from ``video-events`` (hysteresis and merged runs need the whole sequence).
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

from accord.core.errors import BadPredictorError

from .driver import validate_predictions
from .predictor_contours import _outline
from .predictor_registry import get_predictor
from .predictor_spec import LabelInfo, Prediction, Predictor, modality_of

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
        modality = modality_of(predictor)
        if modality != "image":
            helper = {"pointcloud": "annotate_point_cloud_task", "events": "annotate_events_task",
                      "tracks": "annotate_video_task"}.get(modality)
            raise BadPredictorError(f"model {self.name!r} reads {modality} data, not images; "
                                    + (f"use accord.ml_backends.cvat_function.{helper}(client, task_id, "
                                       f"model={self.name!r})" if helper else "CVAT has no task for it"))
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


def _task_frames(client: Any, task_id: int) -> list[bytes]:
    """The task's frames as stored (original-quality chunks), in frame order."""
    import io
    import math
    import zipfile

    task = client.tasks.retrieve(task_id)
    meta = task.get_meta()
    n, size = int(meta.size), max(1, int(meta.chunk_size or meta.size or 1))
    frames: list[bytes] = []
    for c in range(math.ceil(n / size)):
        buf = io.BytesIO()
        task.download_chunk(c, buf, quality="original")
        with zipfile.ZipFile(buf) as z:
            names = sorted(z.namelist())
            clouds = [m for m in names if m.lower().endswith((".pcd", ".bin"))]
            frames += [z.read(m) for m in (clouds or names)]  # a 3D chunk may also hold related images
    return frames[:n]


def _label_ids(client: Any, task_id: int, wanted: Sequence[str], allow_unmatched_labels: bool) -> dict[str, int]:
    ids = {lab.name: int(lab.id) for lab in client.tasks.retrieve(task_id).get_labels()}
    missing = sorted(set(wanted) - set(ids))
    if missing and not allow_unmatched_labels:
        raise BadPredictorError(f"the task has no label {missing} (it has {sorted(ids)}); add them to the task "
                                "or pass allow_unmatched_labels=True")
    return {w: ids[w] for w in wanted if w in ids}


def _upload(client: Any, task_id: int, shapes: list[Any], tags: list[Any], clear_existing: bool,
            tracks: list[Any] | None = None) -> None:
    import cvat_sdk.models as models

    more = {"tracks": tracks} if tracks else {}
    if clear_existing:
        client.tasks.api.update_annotations(task_id, labeled_data_request=models.LabeledDataRequest(
            tags=tags, shapes=shapes, **more))
    else:
        client.tasks.api.partial_update_annotations("create", task_id, patched_labeled_data_request=(
            models.PatchedLabeledDataRequest(tags=tags, shapes=shapes, **more)))


def _prepare(client: Any, task_id: int, model: str, modality: str, use: str, allow_unmatched_labels: bool,
             params: dict[str, Any]) -> tuple[Any, tuple[Any, ...], dict[str, int]]:
    """The predictor ``model`` (which must be of ``modality``), its labels, and their ids in the task."""
    predictor = get_predictor(model, **params)
    if modality_of(predictor) != modality:
        raise BadPredictorError(f"model {model!r} is not a{'n' if modality[0] in 'aeiou' else ''} "
                                f"{_MODALITY_WORD.get(modality, modality)} predictor; use {use}")
    labels = tuple(predictor.labels)
    return predictor, labels, _label_ids(client, task_id, [i.name for i in labels], allow_unmatched_labels)


def _decoded_frames(client: Any, task_id: int) -> list[Any]:
    """The task's frames decoded as images (an :class:`AccordError` names a frame that is not one)."""
    from .label_studio.backends import decode_image

    return [decode_image(b) for b in _task_frames(client, task_id)]


_MODALITY_WORD = {"pointcloud": "point-cloud", "events": "event", "tracks": "track"}


def annotate_point_cloud_task(client: Any, task_id: int, *, model: str = "pointcloud-cuboids",
                              conf_threshold: float | None = None, clear_existing: bool = False,
                              allow_unmatched_labels: bool = False, **params: Any) -> int:
    """Pre-annotate a CVAT 3D task with cuboids; returns how many were uploaded.

    Each frame's cloud is read by :func:`accord.ml_backends.predictor_pointcloud.load_points`,
    the predictor's cuboids checked by :func:`~accord.ml_backends.driver.validate_cuboids`, and
    those with ``score >= conf_threshold`` uploaded as ``cuboid`` shapes (source ``auto``).

    Raises:
        BadPredictorError: the model is not a point-cloud predictor, a prediction breaks its
            spec, or the task lacks one of its labels.
        AccordError: a frame is not a point cloud.
    """
    import cvat_sdk.models as models

    from .driver import validate_cuboids
    from .predictor_pointcloud import cuboid_points_cvat, load_points

    predictor, labels, ids = _prepare(client, task_id, model, "pointcloud", "pointcloud-cuboids",
                                      allow_unmatched_labels, params)
    shapes = []
    for k, data in enumerate(_task_frames(client, task_id)):
        preds = validate_cuboids(predictor.predict_points(load_points(data)), labels=labels, predictor=model,
                                 task=f"task {task_id} frame {k}")
        shapes += [models.LabeledShapeRequest(type="cuboid", frame=k, label_id=ids[p.label],
                                              points=cuboid_points_cvat(p), source="auto", score=float(p.score),
                                              occluded=False, z_order=0, rotation=0.0, attributes=[])
                   for p in preds if p.label in ids and (conf_threshold is None or p.score >= conf_threshold)]
    _upload(client, task_id, shapes, [], clear_existing)
    return len(shapes)


def annotate_events_task(client: Any, task_id: int, *, model: str = "video-events", clear_existing: bool = False,
                         allow_unmatched_labels: bool = False, **params: Any) -> int:
    """Pre-annotate a CVAT task's frames with event tags (one tag per frame of each event); returns the tag count.

    Raises:
        BadPredictorError: the model is not an event predictor, an event breaks its spec, or the
            task lacks its label.
        AccordError: a frame is not an image.
    """
    import cvat_sdk.models as models

    from .driver import validate_segments

    predictor, labels, ids = _prepare(client, task_id, model, "events", "video-events", allow_unmatched_labels,
                                      params)
    frames = _decoded_frames(client, task_id)
    events = validate_segments(predictor.predict_frames(frames), labels=labels, unit="frame", extent=len(frames),
                               predictor=model, task=f"task {task_id}")
    tags = [models.LabeledImageRequest(frame=f, label_id=ids[e.label], source="auto", attributes=[])
            for e in events if e.label in ids for f in range(int(e.start), int(e.end) + 1)]
    _upload(client, task_id, [], tags, clear_existing)
    return len(tags)


def annotate_video_task(client: Any, task_id: int, *, model: str = "video-tracks", conf_threshold: float | None = None,
                        clear_existing: bool = False, allow_unmatched_labels: bool = False, **params: Any) -> int:
    """Pre-annotate a CVAT video (or image-sequence) task with box tracks; returns how many were uploaded.

    Every frame goes through the tracker's image detector (each frame's output checked by the
    driver), the boxes are linked over time (Kalman + ByteTrack matching,
    :class:`accord.ml_backends.predictor_tracks.VideoTracker`), and each confirmed track is
    uploaded as a CVAT ``rectangle`` track (source ``auto``): a keyframe per tracked frame, and an
    ``outside`` keyframe where the object leaves (or a gap is longer than ``interpolate_gap``),
    which is how CVAT ends a track. ``conf_threshold`` drops tracks with a lower mean score.

    Raises:
        BadPredictorError: the model is not a track predictor, a detection breaks the detector's
            spec, or the task lacks one of its labels.
        AccordError: a frame is not an image.
    """
    import cvat_sdk.models as models

    predictor, _, ids = _prepare(client, task_id, model, "tracks", "video-tracks (detector=NAME)",
                                 allow_unmatched_labels, params)
    frames = _decoded_frames(client, task_id)
    tracks = []
    for track, score in predictor.predict_tracks(frames):
        if track.label not in ids or (conf_threshold is not None and score < conf_threshold):
            continue
        shapes = [models.TrackedShapeRequest(type="rectangle", frame=int(f.frame), outside=bool(f.outside),
                                             keyframe=True, occluded=False, z_order=0, rotation=0.0, attributes=[],
                                             points=[float(f.x), float(f.y), float(f.x + f.width),
                                                     float(f.y + f.height)])
                  for f in track.frames]
        tracks.append(models.LabeledTrackRequest(frame=int(track.frames[0].frame), label_id=ids[track.label],
                                                 group=0, source="auto", shapes=shapes, attributes=[]))
    _upload(client, task_id, [], [], clear_existing, tracks)
    return len(tracks)


__all__: Sequence[str] = ("PredictorFunction", "annotate_events_task", "annotate_point_cloud_task",
                          "annotate_video_task", "create", "detect", "spec")
