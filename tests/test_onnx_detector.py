"""The ONNX detector: real (tiny) ONNX models built with onnx.helper, run by onnxruntime.

Each model ignores its image and outputs fixed tensors, so every decoded box below is
computed by hand from those tensors (the arithmetic is in the comments): letterbox or
stretch inverse, score = objectness x class score (YOLOv5), class-wise NMS, clipping.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accord.core.errors import BadPredictorError, MissingExtraError  # noqa: E402
from accord.ml_backends.onnx_detector import OnnxDetector, batched_nms, box_iou, nms  # noqa: E402
from accord.ml_backends.predictors import Predictor, get_predictor  # noqa: E402


def const_model(path: Path, outputs: dict[str, Any], *, in_shape: list[Any] | None = None,
                in_type: int = TensorProto.FLOAT, metadata: dict[str, str] | None = None) -> Path:
    """An ONNX model with one image input whose outputs are the given constant tensors."""
    nodes, outs = [], []
    for name, value in outputs.items():
        arr = np.asarray(value)
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, f"{name}_value")))
        outs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), list(arr.shape)))
    graph = helper.make_graph(nodes, "fixed", [helper.make_tensor_value_info("images", in_type,
                                                                             in_shape or [1, 3, 32, 32])], outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    for k, v in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _boxes(preds: list[Any]) -> list[tuple[str, float, tuple[float, ...]]]:
    return [(p.label, round(p.score, 5), tuple(round(v, 4) for xy in p.points for v in xy))
            for p in preds if p.kind == "box"]


# --------------------------------------------------------------------------- NMS

def test_iou_and_nms_known_answers() -> None:
    # [0,0,10,10] vs [1,1,10,10]: inter 81, union 100 + 81 - 81 = 100 -> 0.81
    assert box_iou([[0, 0, 10, 10]], [[1, 1, 10, 10], [20, 20, 30, 30]]).tolist() == [[pytest.approx(0.81), 0.0]]
    boxes = [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [21, 21, 30, 30]]
    assert nms(boxes, [0.5, 0.9, 0.7, 0.6], 0.5).tolist() == [1, 2]
    assert nms(boxes, [0.5, 0.9, 0.7, 0.6], 0.85).tolist() == [1, 2, 3, 0]  # 0.81 is not above 0.85
    # class-wise: the same two boxes in two classes both survive
    assert batched_nms(boxes[:2], [0.5, 0.9], [0, 1], 0.5).tolist() == [1, 0]
    assert nms(np.zeros((0, 4)), [], 0.5).tolist() == []
    with pytest.raises(BadPredictorError, match="one score per box"):
        nms(boxes, [0.1], 0.5)


_int_box = st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 30), st.integers(1, 30))


@settings(max_examples=60, deadline=None)
@given(st.lists(_int_box, min_size=1, max_size=25), st.floats(0.1, 0.9), st.randoms(use_true_random=False))
def test_nms_agrees_with_opencv(xywh: list[tuple[int, int, int, int]], iou: float, rnd: Any) -> None:
    cv2 = pytest.importorskip("cv2")
    scores = rnd.sample(range(1, 10_000), len(xywh))  # distinct: no tie-breaking ambiguity
    scores = [s / 10_000 for s in scores]
    xyxy = [[x, y, x + w, y + h] for x, y, w, h in xywh]
    ref = np.asarray(cv2.dnn.NMSBoxes([list(b) for b in xywh], scores, 0.0, iou)).reshape(-1).tolist()
    assert nms(xyxy, scores, iou).tolist() == ref


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_int_box, st.integers(0, 2)), min_size=1, max_size=20), st.randoms(use_true_random=False))
def test_batched_nms_is_per_class_nms(rows: list[Any], rnd: Any) -> None:
    boxes = np.array([[x, y, x + w, y + h] for (x, y, w, h), _ in rows], dtype=float)
    classes = np.array([c for _, c in rows])
    scores = np.array(rnd.sample(range(1, 10_000), len(rows))) / 10_000
    got = set(batched_nms(boxes, scores, classes, 0.5).tolist())
    want = set()
    for c in set(classes.tolist()):
        idx = np.flatnonzero(classes == c)
        want |= set(idx[nms(boxes[idx], scores[idx], 0.5)].tolist())
    assert got == want


# --------------------------------------------------------------------------- YOLO layouts

def _yolov5_rows() -> np.ndarray:
    # cx, cy, w, h, objectness, P(cat), P(dog), in input pixels of a 32 x 32 input
    return np.array([[[16, 8, 8, 8, 0.9, 0.9, 0.1],      # cat 0.81
                      [17, 8, 8, 8, 0.9, 0.8, 0.2],      # cat 0.72, IoU 56/72 = 0.78 with row 0 -> suppressed
                      [17, 8, 8, 8, 0.9, 0.1, 0.7],      # dog 0.63: same box, other class -> kept
                      [12, 24, 4, 8, 0.5, 0.2, 0.9],     # dog 0.45
                      [20, 20, 4, 4, 0.2, 0.9, 0.1],     # cat 0.18 < 0.25 -> dropped (low objectness)
                      [22, 16, 8, 8, 1.0, 0.0, 1.0]]],   # dog 1.0, runs off the image's right edge
                    dtype=np.float32)


def test_yolov5_letterbox_nms_and_metadata_names(tmp_path: Path) -> None:
    path = const_model(tmp_path / "v5.onnx", {"output0": _yolov5_rows()},
                       metadata={"names": "{0: 'cat', 1: 'dog'}"})  # what Ultralytics writes
    det = get_predictor("onnx", onnx_path=str(path))
    assert isinstance(det, Predictor)
    assert (det.layout, det.class_names) == ("yolov5", ("cat", "dog"))
    assert [(i.name, i.kind) for i in det.labels] == [("cat", "box"), ("dog", "box")]
    # image 64 high x 32 wide into 32 x 32: scale 0.5 -> 16 x 32, padded 8 px left and right.
    # original = ((x_in - 8) / 0.5, y_in / 0.5)
    got = _boxes(det.predict(np.zeros((64, 32, 3), np.uint8)))
    assert got == [
        ("dog", 1.0, (20.0, 24.0, 32.0, 40.0)),   # in: 18..26 x 12..20 -> 20..36 clipped to the 32-px width
        ("cat", 0.81, (8.0, 8.0, 24.0, 24.0)),    # in: 12..20 x 4..12
        ("dog", 0.63, (10.0, 8.0, 26.0, 24.0)),   # in: 13..21 x 4..12
        ("dog", 0.45, (4.0, 40.0, 12.0, 56.0)),   # in: 10..14 x 20..28
    ]
    strict = OnnxDetector(path, conf_threshold=0.7, max_detections=1)
    assert _boxes(strict.predict(np.zeros((64, 32, 3), np.uint8))) == [("dog", 1.0, (20.0, 24.0, 32.0, 40.0))]


def test_yolov8_channels_first_labels_file_and_nms_off(tmp_path: Path) -> None:
    # [1, 4 + C, N] with C = 3, N = 4: one column per candidate box
    cols = np.array([[10, 12, 4, 4, 0.1, 0.8, 0.3],    # b 0.8
                     [20, 12, 8, 8, 0.6, 0.2, 0.1],    # a 0.6
                     [20, 13, 8, 8, 0.5, 0.1, 0.1],    # a 0.5, IoU 56/72 with the previous -> suppressed
                     [4, 4, 2, 2, 0.1, 0.1, 0.2]],     # c 0.2 < 0.25 -> dropped
                    dtype=np.float32).T[None]
    path = const_model(tmp_path / "v8.onnx", {"output0": cols})
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n\nc\n")
    det = get_predictor("onnx", onnx_path=str(path), labels_path=str(labels))
    assert (det.layout, det.class_names) == ("yolov8", ("a", "b", "c"))
    # image 16 high x 32 wide: scale 1, padded 8 px top and bottom -> original = (x, y - 8)
    img = np.zeros((16, 32, 3), np.uint8)
    assert _boxes(det.predict(img)) == [("b", 0.8, (8.0, 2.0, 12.0, 6.0)), ("a", 0.6, (16.0, 0.0, 24.0, 8.0))]
    no_nms = get_predictor("onnx", onnx_path=str(path), labels="a,b,c", iou_threshold="1.0")
    assert _boxes(no_nms.predict(img))[-1] == ("a", 0.5, (16.0, 1.0, 24.0, 9.0))


def test_yolov8_pose_gives_boxes_and_keypoints(tmp_path: Path) -> None:
    # [1, 5 + 3K, N], K = 2: cx, cy, w, h, score, (x, y, visibility) x 2
    cols = np.array([[16, 16, 8, 8, 0.9, 14, 14, 1.0, 18, 18, 0.5],
                     [8, 8, 4, 4, 0.1, 7, 7, 1.0, 9, 9, 1.0]], dtype=np.float32).T[None]
    path = const_model(tmp_path / "pose.onnx", {"output0": cols})
    det = get_predictor("onnx", onnx_path=str(path), layout="yolov8-pose", keypoint_names="a,b")
    assert [(i.name, i.kind, i.keypoints) for i in det.labels] == [("person", "box", ()),
                                                                    ("person", "keypoints", ("a", "b"))]
    box, kps = det.predict(np.zeros((32, 32, 3), np.uint8))
    assert (box.label, box.score, box.points) == ("person", pytest.approx(0.9), ((12.0, 12.0), (20.0, 20.0)))
    assert (kps.kind, kps.points) == ("keypoints", ((14.0, 14.0), (18.0, 18.0)))
    with pytest.raises(BadPredictorError, match="predicts 2 keypoints but 3 keypoint names"):
        get_predictor("onnx", onnx_path=str(path), layout="yolov8-pose", keypoint_names="a,b,c")
    # in Label Studio: one keypointlabels region per point, labelled by keypoint name, in percent of 32 x 32
    from PIL import Image

    from accord.ml_backends.label_studio.backends import make_backend

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "im.png")
    backend = make_backend("onnx", {"onnx_path": str(path), "layout": "yolov8-pose", "keypoint_names": "a,b"})
    config = ('<View><Image name="img" value="$image"/><KeyPointLabels name="kp" toName="img">'
              '<Label value="a"/><Label value="b"/></KeyPointLabels></View>')
    ((regions, _),) = backend.predict(None, [{"id": 1, "data": {"image": "im.png"}}], config,
                                      fetch=lambda ref: (tmp_path / ref).read_bytes())
    assert [(r["type"], r["value"]["keypointlabels"], r["value"]["x"], r["value"]["y"]) for r in regions] == [
        ("keypointlabels", ["a"], 100 * 14 / 32, 100 * 14 / 32), ("keypointlabels", ["b"], 100 * 18 / 32,
                                                                   100 * 18 / 32)]


# --------------------------------------------------------------------------- SSD

def test_ssd_named_outputs_normalised_boxes_num_and_background(tmp_path: Path) -> None:
    outs = {"detection_boxes": np.array([[[0.1, 0.2, 0.5, 0.6], [0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]],
                                        dtype=np.float32),
            "detection_scores": np.array([[0.9, 0.4, 0.99]], dtype=np.float32),
            "detection_classes": np.array([[1.0, 2.0, 1.0]], dtype=np.float32),  # 1-based; 0 = background
            "num_detections": np.array([2.0], dtype=np.float32)}                 # the third row is padding
    path = const_model(tmp_path / "ssd.onnx", outs, in_shape=[1, 3, 20, 40])
    det = get_predictor("onnx", onnx_path=str(path), labels="background,cat,dog", conf_threshold=0.3)
    assert (det.layout, det.resize, det.box_format) == ("ssd", "stretch", "xyxy")
    assert [i.name for i in det.labels] == ["cat", "dog"]
    # stretch + normalised: original = normalised x (60, 30)
    assert _boxes(det.predict(np.zeros((30, 60, 3), np.uint8))) == [("cat", 0.9, (6.0, 6.0, 30.0, 18.0)),
                                                                     ("dog", 0.4, (30.0, 15.0, 60.0, 30.0))]
    # TensorFlow order (ymin, xmin, ymax, xmax) gives the same boxes
    tf = dict(outs, detection_boxes=outs["detection_boxes"][..., [1, 0, 3, 2]])
    tf_det = OnnxDetector(const_model(tmp_path / "tf.onnx", tf, in_shape=[1, 3, 20, 40]),
                          labels=["background", "cat", "dog"], box_format="yxyx", conf_threshold=0.3)
    assert _boxes(tf_det.predict(np.zeros((30, 60, 3), np.uint8))) == _boxes(det.predict(np.zeros((30, 60, 3),
                                                                                                   np.uint8)))
    # class 0 is background: never reported
    bg = dict(outs, detection_classes=np.array([[0.0, 2.0, 1.0]], dtype=np.float32))
    bg_det = OnnxDetector(const_model(tmp_path / "bg.onnx", bg, in_shape=[1, 3, 20, 40]),
                          labels="background,cat,dog", conf_threshold=0.3)
    assert [p.label for p in bg_det.predict(np.zeros((30, 60, 3), np.uint8))] == ["dog"]


def test_ssd_class_score_matrix_unnamed_outputs_uint8_nhwc(tmp_path: Path) -> None:
    # outputs found by shape: [1, N, 4] boxes, [1, N, C] scores; a uint8 NHWC input as TF exports have
    outs = {"out_a": np.array([[[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]]], dtype=np.float32),
            "out_b": np.array([[[0.1, 0.7, 0.2], [0.05, 0.05, 0.3]]], dtype=np.float32)}
    path = const_model(tmp_path / "ssd2.onnx", outs, in_shape=[1, 16, 16, 3], in_type=TensorProto.UINT8)
    det = OnnxDetector(path, layout="ssd", labels="x,y,z")
    x, _ = det.preprocess(np.zeros((8, 8, 3), np.uint8))
    assert (x.dtype, x.shape) == (np.uint8, (1, 16, 16, 3))
    assert _boxes(det.predict(np.zeros((8, 8, 3), np.uint8))) == [("y", 0.7, (0.0, 0.0, 4.0, 4.0)),
                                                                   ("z", 0.3, (4.0, 4.0, 8.0, 8.0))]


def test_preprocess_letterbox_pads_grey_and_scales_to_unit(tmp_path: Path) -> None:
    path = const_model(tmp_path / "dyn.onnx", {"output0": _yolov5_rows()}, in_shape=["batch", 3, "h", "w"])
    det = OnnxDetector(path, labels="cat,dog", input_size=(8, 4))
    assert (det.input_width, det.input_height) == (8, 4)
    img = np.full((4, 4, 3), 255, np.uint8)  # square into 8 x 4: scale 1, 2 px of padding left and right
    x, transform = det.preprocess(img)
    assert transform == (1.0, 1.0, 2.0, 0.0)
    assert (x.dtype, x.shape) == (np.float32, (1, 3, 4, 8))
    np.testing.assert_allclose(x[0, :, :, :2], 114 / 255, rtol=1e-6)
    np.testing.assert_allclose(x[0, :, :, 2:6], 1.0)
    np.testing.assert_allclose(x[0, :, :, 6:], 114 / 255, rtol=1e-6)


# --------------------------------------------------------------------------- errors

def test_bad_models_and_parameters_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BadPredictorError, match="needs onnx_path"):
        get_predictor("onnx")
    with pytest.raises(BadPredictorError, match=r"'.*nope\.onnx' not found"):
        get_predictor("onnx", onnx_path=str(tmp_path / "nope.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(BadPredictorError, match="ONNX Runtime cannot load"):
        get_predictor("onnx", onnx_path=str(junk))
    v5 = const_model(tmp_path / "v5.onnx", {"output0": _yolov5_rows()})
    with pytest.raises(BadPredictorError, match=r"predicts 2 classes .* but 3 class names"):
        get_predictor("onnx", onnx_path=str(v5), labels="a,b,c", layout="yolov5")
    with pytest.raises(BadPredictorError, match="cannot read the labels file"):
        get_predictor("onnx", onnx_path=str(v5), labels_path=str(tmp_path / "none.txt"))
    with pytest.raises(BadPredictorError, match="bad onnx predictor parameter"):
        get_predictor("onnx", onnx_path=str(v5), conf_threshold="high")
    with pytest.raises(BadPredictorError, match=r"conf_threshold must be in \[0, 1\]"):
        get_predictor("onnx", onnx_path=str(v5), conf_threshold=2)
    with pytest.raises(BadPredictorError, match="unknown ONNX output layout"):
        get_predictor("onnx", onnx_path=str(v5), layout="yolov99")
    with pytest.raises(BadPredictorError, match="does not take these parameters"):
        get_predictor("onnx", onnx_path=str(v5), colour="red")
    # no names anywhere and a dynamic output: ask for labels
    dyn = tmp_path / "dyn.onnx"
    node = helper.make_node("Identity", ["images"], ["output0"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                          [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(dyn))
    with pytest.raises(BadPredictorError, match="pass layout="):
        get_predictor("onnx", onnx_path=str(dyn))
    with pytest.raises(BadPredictorError, match="cannot tell the class names"):
        get_predictor("onnx", onnx_path=str(dyn), layout="yolov8")
    det = get_predictor("onnx", onnx_path=str(v5), labels="cat,dog")
    with pytest.raises(BadPredictorError, match="expected a non-empty uint8 RGB image"):
        det.predict(np.zeros((4, 4, 3), np.float32))
    # a model that fails inside ONNX Runtime: reshaping 3 x 16 x 16 = 768 values into rows of 7 cannot work
    shape = numpy_helper.from_array(np.array([1, -1, 7], dtype=np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["images", "shape"], ["output0"])], "g",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, None, 7])],
                              initializer=[shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(tmp_path / "reshape.onnx"))
    bad = get_predictor("onnx", onnx_path=str(tmp_path / "reshape.onnx"), labels="cat,dog", input_size="16")
    with pytest.raises(BadPredictorError, match=r"ONNX Runtime failed .* input of shape \(1, 3, 16, 16\)"):
        bad.predict(np.zeros((16, 16, 3), np.uint8))


def test_missing_onnxruntime_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = const_model(tmp_path / "v5.onnx", {"output0": _yolov5_rows()})
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'accord\[onnx\]'"):
        get_predictor("onnx", onnx_path=str(path), labels="cat,dog")


# --------------------------------------------------------------------------- the two front ends

def test_cvat_function_and_label_studio_backend_serve_the_onnx_model(tmp_path: Path) -> None:
    from cvat_sdk.auto_annotation import DetectionFunctionContext
    from PIL import Image

    import accord.ml_backends.cvat_function as fn
    from accord.ml_backends.label_studio.backends import make_backend

    path = const_model(tmp_path / "v5.onnx", {"output0": _yolov5_rows()}, metadata={"names": "['cat', 'dog']"})

    class Ctx(DetectionFunctionContext):
        frame_name = "x.png"
        conf_threshold = 0.5
        conv_mask_to_poly = False

    func = fn.create(model="onnx", onnx_path=str(path))
    assert sorted((lab.name, lab.type) for lab in func.spec.labels) == [("cat", "rectangle"), ("dog", "rectangle")]
    shapes = func.detect(Ctx(), Image.fromarray(np.zeros((64, 32, 3), np.uint8)))
    # conf_threshold 0.5 keeps dog 1.0, cat 0.81, dog 0.63 (ids: cat 0, dog 1)
    assert [(s.label_id, list(s.points)) for s in shapes] == [(1, [20, 24, 32, 40]), (0, [8, 8, 24, 24]),
                                                              (1, [10, 8, 26, 24])]

    Image.fromarray(np.zeros((64, 32, 3), np.uint8)).save(tmp_path / "im.png")
    backend = make_backend("onnx", {"onnx_path": str(path), "conf_threshold": "0.7"})
    assert backend.name == "onnx"
    config = ('<View><Image name="img" value="$image"/><RectangleLabels name="box" toName="img">'
              '<Label value="dog"/><Label value="cat"/></RectangleLabels></View>')
    ((regions, score),) = backend.predict(None, [{"id": 7, "data": {"image": "im.png"}}], config,
                                          fetch=lambda ref: (tmp_path / ref).read_bytes())
    # boxes in percent of 32 x 64: dog (20, 24, 32, 40) and cat (8, 8, 24, 24)
    assert [(r["value"]["rectanglelabels"], r["value"]["x"], r["value"]["y"], r["value"]["width"],
             r["value"]["height"]) for r in regions] == [(["dog"], 62.5, 37.5, 37.5, 25.0),
                                                         (["cat"], 25.0, 12.5, 50.0, 25.0)]
    assert score == pytest.approx(0.81)


def test_every_layout_has_a_spec_and_the_spec_sets_the_defaults() -> None:
    from accord.ml_backends.onnx_detector import LAYOUT_SPECS, LAYOUTS

    assert set(LAYOUT_SPECS) == set(LAYOUTS) - {"auto"}
    assert [s.name for s in LAYOUT_SPECS.values()] == list(LAYOUT_SPECS)
    assert {n for n, s in LAYOUT_SPECS.items() if not s.single_output} == {"ssd"}
    assert {n for n, s in LAYOUT_SPECS.items() if s.objectness} == {"yolov5"}
