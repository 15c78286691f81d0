"""Run a user's ONNX object detector (YOLOv5/v8, YOLOv8-pose, SSD) as a :class:`~.predictors.Predictor`.

Registered as ``model=onnx``; needs ``pip install 'accord[onnx]'`` (onnxruntime, imported
only when a model is loaded)::

    accord serve label-studio --model onnx -p onnx_path=yolov8n.onnx -p conf_threshold=0.3
    cvat-cli task auto-annotate 12 --function-module accord.ml_backends.cvat_function \\
        -p model=str:onnx -p onnx_path=str:yolov8n.onnx

Pipeline, per image:

1. **Preprocess.** The RGB image is resized to the model's input size, keeping the
   aspect ratio and padding with grey 114 (``resize="letterbox"``, what YOLO models are
   trained with) or stretched (``resize="stretch"``, usual for SSD). The input is NCHW or
   NHWC, float in ``[0, 1]`` or uint8, whichever the model's first input declares; a
   dynamic size falls back to ``input_size`` (default 640 x 640).
2. **Decode** (``layout``):

   * ``yolov5``: one output ``[1, N, 5 + C]``: ``cx, cy, w, h, objectness, C class
     scores``; a box's score is ``objectness * class score`` for its best class.
   * ``yolov8``: one output ``[1, 4 + C, N]`` (channels first, no objectness): ``cx, cy,
     w, h, C class scores``.
   * ``yolov8-pose``: one output ``[1, 5 + 3K, N]``: ``cx, cy, w, h, score`` and K
     keypoints ``(x, y, visibility)``; one class (``labels``' first name, default
     ``person``), and each box also gives a ``keypoints`` prediction.
   * ``ssd``: several outputs, found by name (``box``, ``score``, ``class``/``label``,
     ``num``) or else by shape: boxes ``[1, N, 4]``, scores ``[1, N]`` (with classes
     ``[1, N]``) or ``[1, N, C]`` (best class taken), optional ``num_detections``.
   * ``auto`` (default) picks from the outputs: several outputs -> ``ssd``; one output
     whose second axis is ``4 + C`` or ``5 + C`` (C = number of class names, when known)
     or smaller than the third -> ``yolov8``; else ``yolov5``.

   Boxes are ``cxcywh`` for YOLO and ``xyxy`` for SSD unless ``box_format`` says otherwise
   (TensorFlow-exported SSDs give ``yxyx``). Coordinates in ``[0, 1]`` are taken as
   normalised to the input size (``normalized=None`` detects this from the values).
3. **Filter.** Scores below ``conf_threshold`` are dropped, then class-wise greedy
   non-maximum suppression (:func:`batched_nms`, IoU above ``iou_threshold`` suppresses,
   as torchvision's ``batched_nms``) keeps at most ``max_detections`` boxes, which are
   mapped back through the letterbox into pixels of the original image and clipped to it.

Class names come from ``labels`` (a list or ``"person,car"``), else ``labels_path`` (a
text file with one name per line, or a JSON list or ``{"0": "person"}`` object), else the
model's metadata (Ultralytics exports write ``names``), else ``class_0 ..`` when the
output shape tells the number of classes. Class id ``i`` is the ``i``-th name; for SSDs
with 1-based ids put a ``background`` line first: classes named ``background`` are never
reported.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast

import numpy as np
import numpy.typing as npt

from accord.core.errors import BadPredictorError, MissingExtraError
from accord.ml_backends.predictor_spec import LabelInfo, Prediction

Layout: TypeAlias = Literal["auto", "yolov5", "yolov8", "yolov8-pose", "ssd"]
BoxFormat: TypeAlias = Literal["cxcywh", "xyxy", "yxyx"]
Resize: TypeAlias = Literal["letterbox", "stretch"]
LAYOUTS: tuple[Layout, ...] = ("auto", "yolov5", "yolov8", "yolov8-pose", "ssd")
BOX_FORMATS: tuple[BoxFormat, ...] = ("cxcywh", "xyxy", "yxyx")
RESIZES: tuple[Resize, ...] = ("letterbox", "stretch")

#: COCO's 17 person keypoints, the order YOLOv8-pose predicts them in.
COCO_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle")
_BACKGROUND = frozenset({"background", "__background__"})
_PAD_VALUE = 114

FloatArray: TypeAlias = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LayoutSpec:
    """How one output layout is decoded: the table :data:`LAYOUT_SPECS` replaces per-layout branches.

    Attributes:
        name: The ``layout=`` value.
        single_output: One output tensor ``[1, a, b]`` (YOLO); else several, found by name or
            shape (SSD).
        channels_first: The single output is ``[1, fields, N]`` (rows are its columns).
        n_fixed: Values per row before the class scores or keypoints.
        objectness: A row's fifth value multiplies its class scores.
        pose: One class; after ``cx, cy, w, h, score`` come K keypoints ``(x, y, visibility)``.
        resize: The default preprocessing.
        box_format: The default box coordinates.
    """

    name: str
    single_output: bool
    channels_first: bool
    n_fixed: int
    objectness: bool
    pose: bool
    resize: Resize
    box_format: BoxFormat


LAYOUT_SPECS: Mapping[str, LayoutSpec] = {
    "yolov5": LayoutSpec("yolov5", True, False, 5, True, False, "letterbox", "cxcywh"),
    "yolov8": LayoutSpec("yolov8", True, True, 4, False, False, "letterbox", "cxcywh"),
    "yolov8-pose": LayoutSpec("yolov8-pose", True, True, 5, False, True, "letterbox", "cxcywh"),
    "ssd": LayoutSpec("ssd", False, False, 4, False, False, "stretch", "xyxy"),
}


# --------------------------------------------------------------------------- NMS (numpy)

def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """Pairwise IoU of ``xyxy`` boxes: ``(n, 4)`` x ``(m, 4)`` -> ``(n, m)``, in ``[0, 1]``.

    Areas are ``(x2 - x1) * (y2 - y1)`` (continuous coordinates, no ``+1``); two empty
    boxes have IoU 0.

    Example:
        >>> box_iou([[0, 0, 2, 2]], [[1, 0, 3, 2]]).round(4).tolist()  # overlap 2, union 6
        [[0.3333]]
    """
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def nms(boxes: npt.ArrayLike, scores: npt.ArrayLike, iou_threshold: float) -> npt.NDArray[np.intp]:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first.

    A box is dropped when its IoU with a kept, higher-scored box is above
    ``iou_threshold`` (ties in score keep the lower index first).

    Example:
        >>> nms([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], [0.9, 0.8, 0.7], 0.5).tolist()
        [0, 2]
    """
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    s = np.asarray(scores, dtype=float).reshape(-1)
    if len(b) != len(s):
        raise BadPredictorError(f"nms needs one score per box, got {len(b)} boxes and {len(s)} scores")
    order = np.argsort(-s, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[box_iou(b[i], b[rest])[0] <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def batched_nms(boxes: npt.ArrayLike, scores: npt.ArrayLike, classes: npt.ArrayLike,
                iou_threshold: float) -> npt.NDArray[np.intp]:
    """Class-wise NMS: boxes of different classes never suppress each other.

    Each class's boxes are shifted by ``class * (max coordinate + 1)`` so that boxes of
    different classes cannot overlap, then :func:`nms` runs once (torchvision's trick).

    Example:
        >>> batched_nms([[0, 0, 10, 10], [1, 1, 10, 10]], [0.9, 0.8], [0, 1], 0.5).tolist()
        [0, 1]
    """
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    c = np.asarray(classes).reshape(-1)
    if b.size == 0:
        return np.zeros(0, dtype=np.intp)
    lo = b.min()
    span = b.max() - lo + 1.0
    shifted = b - lo + (np.unique(c, return_inverse=True)[1].astype(float) * span)[:, None]
    return nms(shifted, scores, iou_threshold)


# --------------------------------------------------------------------------- helpers

def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as e:
        raise MissingExtraError("'onnxruntime' is needed to run ONNX models but is not installed; "
                                "install it with: pip install 'accord[onnx]'") from e
    return onnxruntime


def _resize(img: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    try:
        import cv2
    except ImportError:
        try:
            from PIL import Image
        except ImportError as e:
            raise MissingExtraError("OpenCV or Pillow is needed to resize images for an ONNX model; install "
                                    "them with: pip install 'accord[onnx]'") from e
        return np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.BILINEAR))
    return cast(npt.NDArray[np.uint8], cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR))


def _parse_names(raw: Any, source: str) -> tuple[str, ...]:
    """Class names from a list, ``{id: name}`` mapping, or a string holding either (JSON, Python, CSV)."""
    if isinstance(raw, str):
        text = raw.strip()
        if text[:1] in "[{":
            try:
                raw = json.loads(text)
            except json.JSONDecodeError:
                try:
                    raw = ast.literal_eval(text)  # Ultralytics writes "{0: 'person', 1: 'bicycle'}"
                except (ValueError, SyntaxError) as e:
                    raise BadPredictorError(f"cannot read class names from {source}: {text[:80]!r} is neither "
                                            "JSON nor a Python literal; use a list of names") from e
        else:
            raw = [n.strip() for n in text.split(",")]
    if isinstance(raw, Mapping):
        try:
            items = sorted((int(k), str(v)) for k, v in raw.items())
        except (TypeError, ValueError) as e:
            raise BadPredictorError(f"class names from {source} must map integer ids to names, got "
                                    f"{list(raw)[:5]!r}") from e
        if [k for k, _ in items] != list(range(len(items))):
            raise BadPredictorError(f"class ids from {source} must be 0..n-1 without gaps, got "
                                    f"{[k for k, _ in items][:10]!r}; list every id (use 'background' for unused)")
        raw = [v for _, v in items]
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise BadPredictorError(f"expected a non-empty list of class names from {source}, got {raw!r}")
    names = tuple(str(n).strip() for n in raw)
    if any(not n for n in names):
        raise BadPredictorError(f"class names from {source} contain an empty name: {names!r}")
    return names


def read_labels_file(path: str | Path) -> tuple[str, ...]:
    """Class names from a text file (one per line, blank lines skipped) or a JSON list / ``{id: name}`` file.

    Raises:
        BadPredictorError: the file is missing, empty or malformed.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise BadPredictorError(f"cannot read the labels file {str(p)!r}: {e.strerror or e}; pass labels_path= "
                                "a text file with one class name per line") from e
    if text.lstrip()[:1] in ("[", "{"):
        return _parse_names(text, str(p))
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise BadPredictorError(f"the labels file {str(p)!r} names no class; write one class name per line")
    return names


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


# --------------------------------------------------------------------------- the detector

class OnnxDetector:
    """An ONNX detection model behind the :class:`~.predictors.Predictor` protocol (see the module docstring).

    The ONNX Runtime session is created here, once (one per server worker); ``predict``
    is thread-safe, as ``InferenceSession.run`` is.

    Args:
        onnx_path: The ``.onnx`` file.
        labels: Class names, in class-id order (overrides the other sources).
        labels_path: A labels file (see :func:`read_labels_file`).
        layout: Output layout, or ``auto``.
        conf_threshold: Minimum score, in ``[0, 1]``.
        iou_threshold: NMS threshold in ``[0, 1]``; ``1.0`` turns NMS off.
        max_detections: At most this many boxes per image.
        input_size: ``(width, height)`` for models with a dynamic input size.
        resize: ``letterbox`` or ``stretch``; default letterbox for YOLO, stretch for SSD.
        box_format: ``cxcywh``, ``xyxy`` or ``yxyx``; default cxcywh for YOLO, xyxy for SSD.
        normalized: Whether box coordinates are in ``[0, 1]``; None detects it.
        keypoint_names: For ``yolov8-pose``: the names of the K keypoints (default COCO's 17).
        threads: ONNX Runtime intra-op threads (0 = its default, all cores; with several
            server workers, 1-2 per worker avoids oversubscription).
        providers: ONNX Runtime execution providers (default CPU).

    Raises:
        MissingExtraError: onnxruntime is not installed.
        BadPredictorError: the file is missing or not a model ONNX Runtime can load, a
            parameter is out of range, or no class names can be found.
    """

    def __init__(self, onnx_path: str | Path, *, labels: Sequence[str] | str | None = None,
                 labels_path: str | Path | None = None, layout: Layout = "auto", conf_threshold: float = 0.25,
                 iou_threshold: float = 0.45, max_detections: int = 300, input_size: tuple[int, int] | None = None,
                 resize: Resize | None = None, box_format: BoxFormat | None = None, normalized: bool | None = None,
                 keypoint_names: Sequence[str] | str | None = None, threads: int = 0,
                 providers: Sequence[str] | None = None) -> None:
        if layout not in LAYOUTS:
            raise BadPredictorError(f"unknown ONNX output layout {layout!r}; use one of {LAYOUTS}")
        if box_format is not None and box_format not in BOX_FORMATS:
            raise BadPredictorError(f"unknown box_format {box_format!r}; use one of {BOX_FORMATS}")
        if resize is not None and resize not in RESIZES:
            raise BadPredictorError(f"unknown resize {resize!r}; use one of {RESIZES}")
        for name, v in (("conf_threshold", conf_threshold), ("iou_threshold", iou_threshold)):
            if not 0.0 <= v <= 1.0:
                raise BadPredictorError(f"{name} must be in [0, 1], got {v!r}")
        if max_detections < 1:
            raise BadPredictorError(f"max_detections must be at least 1, got {max_detections!r}")
        if input_size is not None and (len(input_size) != 2 or min(input_size) < 1):
            raise BadPredictorError(f"input_size must be (width, height) in pixels, got {input_size!r}")
        path = Path(onnx_path)
        if not path.is_file():
            raise BadPredictorError(f"ONNX model file {str(path)!r} not found; pass onnx_path= the path of a "
                                    ".onnx file (export one with e.g. `yolo export model=yolov8n.pt format=onnx`)")
        ort = _require_onnxruntime()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), sess_options=opts,
                                                 providers=list(providers or ["CPUExecutionProvider"]))
        except Exception as e:  # onnxruntime raises its own pybind classes (Fail, InvalidGraph, ...)
            raise BadPredictorError(f"ONNX Runtime cannot load {str(path)!r}: {e}; check that the file is an "
                                    "ONNX model (opset supported by onnxruntime)") from e
        self.path = path
        self.conf_threshold = float(conf_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)
        self.normalized = normalized

        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise BadPredictorError(f"expected a model with one image input, {str(path)!r} has "
                                    f"{[i.name for i in inputs]}; export it with the image as its only input")
        inp = inputs[0]
        self._input_name = inp.name
        shape = list(inp.shape)
        if len(shape) != 4:
            raise BadPredictorError(f"expected a 4-D image input (NCHW or NHWC), got shape {shape!r} for "
                                    f"{inp.name!r}")
        self._nhwc = shape[1] != 3 and shape[3] == 3
        h, w = (shape[1], shape[2]) if self._nhwc else (shape[2], shape[3])
        fallback = input_size or (640, 640)
        self.input_width = _static(w) or int(fallback[0])
        self.input_height = _static(h) or int(fallback[1])
        self._uint8 = inp.type == "tensor(uint8)"

        outputs = self._session.get_outputs()
        self._output_names = [o.name for o in outputs]
        self.layout: Layout = self._resolve_layout(layout, outputs, labels, labels_path)
        self.spec = LAYOUT_SPECS[self.layout]
        self.resize: Resize = resize or self.spec.resize
        self.box_format: BoxFormat = box_format or self.spec.box_format
        self.keypoint_names: tuple[str, ...] = ()
        if self.spec.pose:
            self.keypoint_names = self._pose_names(keypoint_names, outputs[0].shape)
        self.class_names = self._class_names(labels, labels_path, outputs)

    # -- construction helpers -------------------------------------------------------------
    def _metadata_names(self) -> tuple[str, ...] | None:
        meta = self._session.get_modelmeta().custom_metadata_map or {}
        for key in ("names", "labels", "classes"):
            if meta.get(key):
                return _parse_names(meta[key], f"the model's metadata {key!r}")
        return None

    def _count_from_shape(self, outputs: Sequence[Any]) -> int | None:
        spec = self.spec
        if spec.pose:
            return 1
        if spec.single_output:
            shape = outputs[0].shape
            if len(shape) != 3:
                return None
            k = _static(shape[1] if spec.channels_first else shape[2])
            return None if k is None else k - spec.n_fixed
        scores = [o for o in outputs if len(o.shape) == 3 and _static(o.shape[2]) not in (None, 4)]
        return _static(scores[0].shape[2]) if len(scores) == 1 else None

    def _class_names(self, labels: Sequence[str] | str | None, labels_path: str | Path | None,
                     outputs: Sequence[Any]) -> tuple[str, ...]:
        if labels is not None:
            names = _parse_names(labels, "labels=")
        elif labels_path is not None:
            names = read_labels_file(labels_path)
        else:
            found = self._metadata_names()
            if found is None:
                n = self._count_from_shape(outputs)
                if n is None or n < 1:
                    raise BadPredictorError(f"cannot tell the class names of {str(self.path)!r}: no labels=, no "
                                            "labels_path=, no 'names' in the model metadata, and a dynamic output "
                                            "shape; pass labels=person,car,... or labels_path=labels.txt")
                found = ("person",) if self.spec.pose else tuple(f"class_{i}" for i in range(n))
            names = found
        if len(set(names)) != len(names):
            raise BadPredictorError(f"class names must be unique, got {names!r}")
        expected = self._count_from_shape(outputs)
        if expected is not None and not self.spec.pose and expected != len(names):
            raise BadPredictorError(f"{str(self.path)!r} predicts {expected} classes ({self.layout} output shape "
                                    f"{list(outputs[0].shape)}) but {len(names)} class names were given: "
                                    f"{names[:10]!r}; give one name per class id")
        return names

    def _resolve_layout(self, layout: Layout, outputs: Sequence[Any], labels: Any, labels_path: Any) -> Layout:
        if layout != "auto":
            return layout
        if len(outputs) > 1:
            return "ssd"
        shape = outputs[0].shape
        if len(shape) != 3:
            raise BadPredictorError(f"cannot tell the output layout of {str(self.path)!r} from one output of shape "
                                    f"{list(shape)}; pass layout= one of {LAYOUTS[1:]}")
        a, b = _static(shape[1]), _static(shape[2])
        n_classes: int | None = None
        try:
            if labels is not None:
                n_classes = len(_parse_names(labels, "labels="))
            elif labels_path is not None:
                n_classes = len(read_labels_file(labels_path))
            else:
                meta = self._metadata_names()
                n_classes = None if meta is None else len(meta)
        except BadPredictorError:
            n_classes = None  # reported properly by _class_names
        if n_classes is not None:
            if a == 4 + n_classes and b != 5 + n_classes:
                return "yolov8"
            if b == 5 + n_classes:
                return "yolov5"
            if b == 4 + n_classes:
                raise BadPredictorError(f"output shape {list(shape)} looks like YOLOv8 rows [1, N, 4 + C]; "
                                        "transposed outputs are not supported: export channels-first "
                                        "[1, 4 + C, N] or pass layout=yolov5 if the model has objectness")
        if a is not None and b is not None and a < b:
            return "yolov8"
        return "yolov5"

    def _pose_names(self, names: Sequence[str] | str | None, shape: Sequence[Any]) -> tuple[str, ...]:
        k = _static(shape[1]) if len(shape) == 3 else None
        n_kp = None if k is None else (k - 5) // 3
        if k is not None and (k - 5) % 3:
            raise BadPredictorError(f"a yolov8-pose output has 5 + 3K rows; got {k} in shape {list(shape)}")
        if names is not None:
            out = _parse_names(names, "keypoint_names=")
        elif n_kp == len(COCO_KEYPOINTS) or n_kp is None:
            out = COCO_KEYPOINTS
        else:
            out = tuple(f"kp_{i}" for i in range(n_kp))
        if n_kp is not None and len(out) != n_kp:
            raise BadPredictorError(f"the model predicts {n_kp} keypoints but {len(out)} keypoint names were given")
        return out

    # -- Predictor protocol ---------------------------------------------------------------
    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        out = [LabelInfo(name=n, kind="box") for n in self.class_names if n.lower() not in _BACKGROUND]
        if self.spec.pose:
            out.append(LabelInfo(name=self.class_names[0], kind="keypoints", keypoints=self.keypoint_names))
        return tuple(out)

    def preprocess(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[Any], tuple[float, float, float, float]]:
        """The model input for ``image`` and the transform ``(sx, sy, pad_x, pad_y)``: input = pixel * s + pad."""
        h, w = image.shape[:2]
        W, H = self.input_width, self.input_height
        if self.resize == "letterbox":
            s = min(W / w, H / h)
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            px, py = (W - nw) // 2, (H - nh) // 2
            canvas: npt.NDArray[np.uint8] = np.full((H, W, 3), _PAD_VALUE, dtype=np.uint8)
            canvas[py:py + nh, px:px + nw] = _resize(image, nw, nh) if (nw, nh) != (w, h) else image
            transform = (nw / w, nh / h, float(px), float(py))
        else:
            canvas = _resize(image, W, H) if (w, h) != (W, H) else image
            transform = (W / w, H / h, 0.0, 0.0)
        x: npt.NDArray[Any] = canvas if self._nhwc else canvas.transpose(2, 0, 1)
        x = np.ascontiguousarray(x[None])
        if not self._uint8:
            x = x.astype(np.float32) / np.float32(255.0)
        return x, transform

    def predict(self, image: npt.NDArray[np.uint8]) -> list[Prediction]:
        """Boxes (and, for pose models, keypoints) in pixels of ``image``, best score first.

        Raises:
            BadPredictorError: the image is not ``H x W x 3`` uint8, or the model's outputs
                do not match its layout.
        """
        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or img.size == 0 or (img.ndim == 3 and
                                                                                img.shape[2] not in (3, 4)):
            raise BadPredictorError(f"expected a non-empty uint8 RGB image H x W x 3, got dtype {img.dtype} shape "
                                    f"{img.shape}; convert with np.asarray(pil_image.convert('RGB'))")
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3]
        x, (sx, sy, px, py) = self.preprocess(img)
        try:
            outs = [np.asarray(o) for o in self._session.run(None, {self._input_name: x})]
        except Exception as e:  # onnxruntime's own exception classes
            raise BadPredictorError(f"ONNX Runtime failed on {str(self.path)!r} with an input of shape {x.shape} "
                                    f"({x.dtype}): {e}; check input_size= and that the model takes one RGB "
                                    "image") from e
        boxes, scores, classes, kpts = self.decode(outs)
        if boxes.size == 0:
            return []
        keep = scores >= self.conf_threshold
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        kpts = kpts[keep] if kpts is not None else None
        norm = self._is_normalized(boxes)
        boxes = self._to_input_xyxy(boxes, norm)
        if self.iou_threshold < 1.0 and len(boxes):
            order = batched_nms(boxes, scores, classes, self.iou_threshold)
        else:
            order = np.argsort(-scores, kind="stable")
        order = order[: self.max_detections]
        h, w = img.shape[:2]
        out: list[Prediction] = []
        for i in order:
            cid = int(classes[i])
            if not 0 <= cid < len(self.class_names):
                raise BadPredictorError(f"the model predicted class id {cid} but only {len(self.class_names)} class "
                                        f"names are known; pass labels= with one name per class id")
            name = self.class_names[cid]
            if name.lower() in _BACKGROUND:
                continue
            x1, y1, x2, y2 = boxes[i]
            x1, x2 = np.clip([(x1 - px) / sx, (x2 - px) / sx], 0, w)
            y1, y2 = np.clip([(y1 - py) / sy, (y2 - py) / sy], 0, h)
            if x2 <= x1 or y2 <= y1:
                continue
            score = float(np.clip(scores[i], 0.0, 1.0))
            out.append(Prediction(label=name, kind="box", score=score,
                                  points=((float(x1), float(y1)), (float(x2), float(y2)))))
            if kpts is not None:
                k = kpts[i].reshape(-1, 3).astype(float)
                if norm:
                    k[:, 0] *= self.input_width
                    k[:, 1] *= self.input_height
                pts = tuple((float(np.clip((kx - px) / sx, 0, w)), float(np.clip((ky - py) / sy, 0, h)))
                            for kx, ky, _ in k)
                out.append(Prediction(label=name, kind="keypoints", score=score, points=pts))
        return out

    # -- decoding -------------------------------------------------------------------------
    def decode(self, outs: Sequence[npt.NDArray[Any]]
               ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp], FloatArray | None]:
        """Raw outputs -> ``(boxes (n, 4) in box_format, scores (n,), class ids (n,), keypoints or None)``."""
        spec = self.spec
        if not spec.single_output:
            return (*self._decode_ssd(outs), None)
        out = outs[0]
        if out.ndim == 3 and out.shape[0] == 1:
            out = out[0]
        if out.ndim != 2:
            raise BadPredictorError(f"a {self.layout} model has one output [1, ..., ...]; got shape {outs[0].shape}")
        rows = out.T if spec.channels_first else out
        rows = rows.astype(float)
        empty = np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.intp)
        if spec.pose:
            if rows.shape[1] < 5 or (rows.shape[1] - 5) % 3:
                raise BadPredictorError(f"a yolov8-pose output has 5 + 3K rows; got {rows.shape[1]}")
            if not len(rows):
                return (*empty, None)
            return rows[:, :4], rows[:, 4], np.zeros(len(rows), dtype=np.intp), rows[:, 5:]
        n_fixed = spec.n_fixed
        if rows.shape[1] <= n_fixed:
            raise BadPredictorError(f"a {self.layout} output row has {n_fixed} + C values; got {rows.shape[1]} in "
                                    f"shape {list(outs[0].shape)}; check layout=")
        if not len(rows):
            return (*empty, None)
        cls_scores = rows[:, n_fixed:]
        if spec.objectness:
            cls_scores = cls_scores * rows[:, 4:5]
        classes = cls_scores.argmax(axis=1)
        return rows[:, :4], cls_scores[np.arange(len(rows)), classes], classes.astype(np.intp), None

    def _decode_ssd(self, outs: Sequence[npt.NDArray[Any]]) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
        named = dict(zip(self._output_names, outs, strict=True))
        role: dict[str, npt.NDArray[Any]] = {}
        for name, arr in named.items():
            low = name.lower()
            for key, words in (("boxes", ("box",)), ("num", ("num",)), ("scores", ("score", "conf")),
                               ("classes", ("class", "label"))):
                if key not in role and any(wd in low for wd in words):
                    role[key] = arr
                    break
        rest = [a for a in outs if not any(a is r for r in role.values())]
        for a in rest:
            sq = a.reshape(a.shape[1:]) if a.ndim >= 2 and a.shape[0] == 1 else a
            if "boxes" not in role and sq.ndim == 2 and sq.shape[-1] == 4:
                role["boxes"] = a
            elif "num" not in role and sq.size == 1:
                role["num"] = a
            elif "scores" not in role and (np.issubdtype(a.dtype, np.floating) or sq.ndim == 2):
                role["scores"] = a
            elif "classes" not in role:
                role["classes"] = a
        if "boxes" not in role or "scores" not in role:
            raise BadPredictorError(f"an ssd model needs a boxes [1, N, 4] and a scores [1, N] or [1, N, C] output; "
                                    f"got {[(n, list(a.shape)) for n, a in named.items()]}; name them 'boxes' and "
                                    "'scores' or pass layout=")
        boxes = role["boxes"].reshape(-1, 4).astype(float)
        scores = role["scores"].astype(float)
        scores = scores[0] if scores.ndim >= 2 and scores.shape[0] == 1 and scores.ndim > 1 else scores
        if scores.ndim == 2 and scores.shape[0] == len(boxes) and "classes" not in role:
            classes = scores.argmax(axis=1)
            scores = scores[np.arange(len(boxes)), classes]
        else:
            scores = scores.reshape(-1)
            classes = (np.rint(role["classes"].reshape(-1)).astype(np.intp) if "classes" in role
                       else np.zeros(len(scores), dtype=np.intp))
        if not len(scores) == len(boxes) == len(classes):
            raise BadPredictorError(f"ssd outputs disagree in length: {len(boxes)} boxes, {len(scores)} scores, "
                                    f"{len(classes)} classes")
        if "num" in role:
            n = int(np.asarray(role["num"]).reshape(-1)[0])
            return boxes[:n], scores[:n], classes[:n].astype(np.intp)
        return boxes, scores, classes.astype(np.intp)

    def _is_normalized(self, boxes: FloatArray) -> bool:
        if self.normalized is not None:
            return self.normalized
        return bool(boxes.size) and float(np.abs(boxes).max()) <= 1.5

    def _to_input_xyxy(self, boxes: FloatArray, normalized: bool) -> FloatArray:
        b = boxes.astype(float).copy()
        if self.box_format == "cxcywh":
            b = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2,
                          b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2], axis=1)
        elif self.box_format == "yxyx":
            b = b[:, [1, 0, 3, 2]]
        if normalized:
            b *= np.array([self.input_width, self.input_height, self.input_width, self.input_height], dtype=float)
        return b


def _split(v: Any) -> Any:
    return v if not isinstance(v, str) else [s.strip() for s in v.split(",") if s.strip()]


def onnx_detector_from_params(**params: Any) -> OnnxDetector:
    """:class:`OnnxDetector` from string or typed parameters (``-p onnx_path=...`` on the CLIs).

    ``onnx_path`` (or ``path``) is required; numbers may come as strings; ``input_size``
    is ``640`` or ``640,480``; ``normalized`` is ``true``/``false``.

    Raises:
        BadPredictorError: no ``onnx_path``, or a parameter that does not parse.
    """
    p = dict(params)
    path = p.pop("onnx_path", None) or p.pop("path", None)
    if not path:
        raise BadPredictorError("the onnx predictor needs onnx_path=<file.onnx> (e.g. -p onnx_path=yolov8n.onnx)")
    try:
        for key in ("conf_threshold", "iou_threshold"):
            if key in p:
                p[key] = float(p[key])
        for key in ("max_detections", "threads"):
            if key in p:
                p[key] = int(p[key])
        if "input_size" in p and p["input_size"] is not None:
            size = [int(v) for v in _split(str(p["input_size"]).replace("x", ","))]
            p["input_size"] = (size[0], size[-1])
        if isinstance(p.get("normalized"), str):
            p["normalized"] = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False,
                               "auto": None}[p["normalized"].strip().lower()]
        if isinstance(p.get("providers"), str):
            p["providers"] = _split(p["providers"])
    except (ValueError, KeyError, IndexError) as e:
        raise BadPredictorError(f"bad onnx predictor parameter ({e}); numbers for conf_threshold, iou_threshold, "
                                "max_detections, threads; input_size=640 or 640,480; normalized=true|false") from e
    if isinstance(p.get("conf_threshold"), float) and math.isnan(p["conf_threshold"]):
        raise BadPredictorError("conf_threshold must be a number in [0, 1], got nan")
    return OnnxDetector(path, **p)
