"""LiDAR cuboids: PCD/KITTI readers, RANSAC ground, DBSCAN clusters, min-area boxes, size priors, the
cuboid driver, and the outputs (CVAT 3D points, accord JSONL).

Scenes are generated here: a slightly tilted ground plane (z = -1.7 + 0.01 x - 0.005 y, 2 cm noise)
with the five visible faces (top and four sides) of boxes of known centre, size and yaw, points
uniform on each face with 2 cm noise. Boxes are scored by 3D IoU with our cuboid matcher
(:func:`accord.core.matching.cuboids.cuboid_iou_matrix`) against KITTI's detection thresholds:
0.7 for cars, 0.5 for pedestrians and cyclists (Geiger et al., CVPR 2012, the 3D object benchmark).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from accord.core.errors import AccordError, BadPredictionError, BadPredictorError
from accord.core.matching.cuboids import cuboid_iou_matrix
from accord.core.model import Cuboid, record_from_dict
from accord.ml_backends.driver import validate_cuboids
from accord.ml_backends.predictor_pointcloud import (
    SIZE_PRIORS,
    PointCloudCuboids,
    cuboid_points_cvat,
    cuboids_to_jsonl,
    fit_ground_plane,
    load_points,
    min_area_rectangle,
    read_kitti_bin,
    read_pcd,
)
from accord.ml_backends.predictor_registry import get_predictor
from accord.ml_backends.predictor_spec import CuboidPrediction, LabelInfo, PointCloudPredictor
from accord.plugins.cvat.convert import cuboid_value

TILT = (0.01, -0.005)
GROUND_Z = -1.7
#: (cx, cy, length, width, height, yaw, class)
BOXES = [(8.0, 3.0, 4.2, 1.8, 1.5, 0.4, "car"), (-6.0, 10.0, 3.8, 1.7, 1.6, -1.2, "car"),
         (3.0, -7.0, 0.7, 0.6, 1.75, 0.0, "pedestrian"), (-10.0, -4.0, 1.8, 0.6, 1.7, 1.0, "cyclist")]
IOU_MIN = {"car": 0.7, "pedestrian": 0.5, "cyclist": 0.5}


def _faces(cx: float, cy: float, cz: float, l: float, w: float, h: float, yaw: float, n: int,
           rng: np.random.Generator) -> np.ndarray:
    per = n // 5
    u, v = rng.uniform(-0.5, 0.5, (5, per)), rng.uniform(-0.5, 0.5, (5, per))
    one = np.ones(per)
    p = np.concatenate([np.stack([u[0] * l, v[0] * w, one * h / 2], 1),
                        np.stack([one * l / 2, u[1] * w, v[1] * h], 1), np.stack([-one * l / 2, u[2] * w, v[2] * h], 1),
                        np.stack([u[3] * l, one * w / 2, v[3] * h], 1),
                        np.stack([u[4] * l, -one * w / 2, v[4] * h], 1)])
    p += rng.normal(0, 0.02, p.shape)
    c, s = math.cos(yaw), math.sin(yaw)
    return np.stack([p[:, 0] * c - p[:, 1] * s + cx, p[:, 0] * s + p[:, 1] * c + cy, p[:, 2] + cz], 1)


def _ground(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return GROUND_Z + TILT[0] * x + TILT[1] * y


def scene(boxes: list[tuple[Any, ...]], seed: int = 0, n_ground: int = 20000) -> tuple[np.ndarray, list[Cuboid]]:
    rng = np.random.default_rng(seed)
    g = rng.uniform(-30, 30, (n_ground, 2))
    parts = [np.column_stack([g, _ground(g[:, 0], g[:, 1]) + rng.normal(0, 0.02, n_ground)])]
    truth = []
    for cx, cy, l, w, h, yaw, label in boxes:
        cz = float(_ground(np.array(cx), np.array(cy))) + h / 2
        parts.append(_faces(cx, cy, cz, l, w, h, yaw, 1500, rng))
        truth.append(Cuboid(label=label, x=cx, y=cy, z=cz, length=l, width=w, height=h, yaw=yaw))
    pts = np.concatenate(parts)
    return np.column_stack([pts, rng.uniform(0, 1, len(pts))]), truth


def _matched(truth: list[Cuboid], preds: list[CuboidPrediction]) -> list[tuple[Cuboid, CuboidPrediction, float]]:
    iou = cuboid_iou_matrix(truth, [p.cuboid() for p in preds])
    rows, cols = linear_sum_assignment(-iou)
    return [(truth[i], preds[j], float(iou[i, j])) for i, j in zip(rows, cols, strict=True)]


def test_cuboids_of_a_generated_scene_reach_kitti_iou_thresholds() -> None:
    pts, truth = scene(BOXES)
    model = PointCloudCuboids()
    assert isinstance(model, PointCloudPredictor)
    preds = validate_cuboids(model.predict_points(pts), labels=model.labels, predictor="pointcloud-cuboids",
                             task="frame 0")
    assert len(preds) == len(truth)  # no cuboid for the ground, nothing missed
    for ref, p, iou in _matched(truth, preds):
        assert p.label == ref.label
        assert iou >= IOU_MIN[ref.label], (ref, p, iou)
        assert 0.0 < p.score <= 1.0


def test_pca_yaw_and_a_wall_and_a_pole_that_fit_no_class() -> None:
    wall, pole = (0.0, 20.0, 12.0, 0.3, 3.0, 0.0, "wall"), (15.0, -15.0, 0.3, 0.3, 3.9, 0.0, "pole")
    pts, truth = scene([*BOXES[:2], wall, pole])
    preds = PointCloudCuboids(yaw_method="pca").predict_points(pts)
    assert sorted(p.label for p in preds) == ["car", "car"]  # the wall and the pole are dropped
    for ref, _p, iou in _matched(truth[:2], preds):
        assert iou >= IOU_MIN[ref.label]
    only = PointCloudCuboids(classes="pedestrian").predict_points(scene(BOXES)[0])
    assert [p.label for p in only] == ["pedestrian"]


def test_ransac_ground_plane_recovers_the_tilt() -> None:
    pts, _ = scene(BOXES)
    n, d, inliers = fit_ground_plane(pts, seed=1)
    # z = -1.7 + 0.01 x - 0.005 y  <=>  (-0.01, 0.005, 1) . p + 1.7 = 0, normalised
    expected = np.array([-0.01, 0.005, 1.0]) / np.linalg.norm([-0.01, 0.005, 1.0])
    assert np.allclose(n, expected, atol=2e-3)
    assert d == pytest.approx(1.7 / np.linalg.norm([-0.01, 0.005, 1.0]), abs=0.01)
    assert inliers[:20000].mean() > 0.99
    with pytest.raises(AccordError, match="no ground plane within 15 degrees"):
        fit_ground_plane(pts[:20000, [2, 1, 0]])  # the ground alone, with x and z swapped: z is not up


def test_min_area_rectangle_known_answers() -> None:
    rng = np.random.default_rng(0)
    corners = [[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]  # a 4 x 2 rectangle's corners and its inside
    local = np.vstack([corners, rng.uniform(-0.5, 0.5, (400, 2))]) * [4.0, 2.0]
    c, s = math.cos(0.7), math.sin(0.7)
    xy = np.stack([local[:, 0] * c - local[:, 1] * s + 5, local[:, 0] * s + local[:, 1] * c - 3], 1)
    cx, cy, length, width, yaw = min_area_rectangle(xy)
    assert (cx, cy, length, width, yaw) == pytest.approx((5, -3, 4, 2, 0.7), abs=1e-9)
    # a rectangle along y: length is the longer side, so yaw is pi/2 (folded into (-pi/2, pi/2])
    assert min_area_rectangle(np.array([[0, 0], [1, 0], [1, 3], [0, 3]], float))[2:] == pytest.approx(
        (3.0, 1.0, math.pi / 2))
    assert min_area_rectangle(np.array([[1.0, 1.0]]))[2:4] == (0.0, 0.0)  # one point: no extent


def _pcd(pts: np.ndarray, mode: str) -> bytes:
    head = (f"# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\n"
            f"TYPE F F F F\nCOUNT 1 1 1 1\nWIDTH {len(pts)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n"
            f"POINTS {len(pts)}\nDATA {mode}\n").encode()
    if mode == "ascii":
        return head + "\n".join(" ".join(f"{v:.6f}" for v in row) for row in pts).encode() + b"\n"
    return head + pts.astype("<f4").tobytes()


@pytest.mark.parametrize("mode", ["ascii", "binary"])
def test_pcd_and_kitti_readers_give_the_same_points(mode: str) -> None:
    pts = np.random.default_rng(1).normal(0, 5, (50, 4)).astype(np.float32).astype(np.float64)
    got = load_points(_pcd(pts, mode))
    assert np.allclose(got, pts, atol=1e-5)
    assert set(read_pcd(_pcd(pts, mode))) == {"x", "y", "z", "intensity"}
    assert np.array_equal(load_points(pts.astype("<f4").tobytes()), pts)  # KITTI .bin
    assert np.array_equal(read_kitti_bin(pts.astype("<f4").tobytes()), pts)


def test_reader_errors_are_one_line_messages(tmp_path: Any) -> None:
    pts = np.zeros((3, 4))
    with pytest.raises(AccordError, match="DATA binary_compressed' is not read; save the cloud as 'ascii' or"):
        load_points(_pcd(pts, "binary_compressed"))
    with pytest.raises(AccordError, match="it is truncated"):
        load_points(_pcd(pts, "binary")[:-5])
    with pytest.raises(AccordError, match="not a multiple of 16"):
        load_points(b"\x00" * 17)
    with pytest.raises(AccordError, match="expected points as an N x 3"):
        load_points(np.zeros((4, 2)))
    with pytest.raises(AccordError, match="cannot read the point cloud"):
        load_points(tmp_path / "missing.pcd")
    with pytest.raises(BadPredictorError, match=r"unknown classes \['truck'\]"):
        get_predictor("pointcloud-cuboids", classes="car,truck")
    with pytest.raises(BadPredictorError, match="eps_m must be a float"):
        get_predictor("pointcloud-cuboids", eps_m="wide")


def test_cuboid_driver_error_paths() -> None:
    spec = (LabelInfo(name="car", kind="cuboid"),)
    ok = {"label": "car", "score": 0.5, "x": 0.0, "y": 0.0, "z": 0.0, "length": 4.0, "width": 2.0, "height": 1.5}
    cases: list[tuple[Any, str, str]] = [
        (CuboidPrediction(**{**ok, "label": "bus"}), r"predictions\[0\]\.label", "not among"),
        (CuboidPrediction(**{**ok, "width": 0.0}), r"predictions\[0\]\.width", "finite number > 0"),
        (CuboidPrediction(**{**ok, "height": float("inf")}), r"predictions\[0\]\.height", "finite number > 0"),
        (CuboidPrediction(**{**ok, "yaw": float("nan")}), r"predictions\[0\]\.yaw", "finite"),
        (CuboidPrediction(**{**ok, "score": -0.1}), r"predictions\[0\]\.score", r"in \[0, 1\]"),
        (Cuboid(label="car", x=0, y=0, z=0, length=1, width=1, height=1), r"predictions\[0\]",
         "expected a CuboidPrediction, got Cuboid"),
    ]
    for p, field, words in cases:
        with pytest.raises(BadPredictionError, match=rf"field '{field}'\].*{words}"):
            validate_cuboids([p], labels=spec, predictor="pc", task="f")
    assert validate_cuboids([CuboidPrediction(**ok)], labels=spec, predictor="pc", task="f")


def test_outputs_round_trip_through_the_cvat_and_jsonl_readers() -> None:
    p = CuboidPrediction(label="car", score=0.8, x=1.0, y=2.0, z=-0.9, length=4.0, width=1.7, height=1.5, yaw=0.3)
    assert cuboid_value("car", cuboid_points_cvat(p), dim3=True) == p.cuboid()
    (row,) = cuboids_to_jsonl([p], item_id="frame-0")
    rec = record_from_dict(row)
    assert rec.value == p.cuboid()
    assert (rec.score, rec.label_set, rec.source) == (0.8, "cuboids", "model")
    assert set(SIZE_PRIORS) == {"car", "pedestrian", "cyclist"}


def test_cvat_cuboids_through_the_test_server() -> None:
    from cvat_sdk import make_client
    from cvat_server import Server, _label

    import accord.ml_backends.cvat_function as fn

    srv = Server().start()
    try:
        labels = [_label(61, "car", "cuboid"), _label(62, "pedestrian", "cuboid"), _label(63, "cyclist", "cuboid")]
        srv.state.add_task(6, name="lidar", frames=[("000000.pcd", 0, 0), ("000001.pcd", 0, 0)], labels=labels)
        srv.state.tasks[6]["dimension"] = "3d"
        clouds = [scene(BOXES, seed=s) for s in (0, 1)]
        srv.state.images[6] = [_pcd(pts, "binary") for pts, _ in clouds]
        srv.state.add_job(60, task_id=6, start=0, stop=1, assignee="alice")
        client = make_client(srv.url, access_token="pat-123")
        assert fn.annotate_point_cloud_task(client, 6) == 8
        shapes = srv.state.task_annotations[6]["shapes"]
        assert {s["type"] for s in shapes} == {"cuboid"}
        names = {61: "car", 62: "pedestrian", 63: "cyclist"}
        for frame, (_, truth) in enumerate(clouds):
            got = [cuboid_value(names[s["label_id"]], s["points"], dim3=True) for s in shapes if s["frame"] == frame]
            iou = cuboid_iou_matrix(truth, got)
            rows, cols = linear_sum_assignment(-iou)
            assert all(iou[i, j] >= IOU_MIN[truth[i].label] and got[j].label == truth[i].label
                       for i, j in zip(rows, cols, strict=True))
        with pytest.raises(BadPredictorError, match="reads pointcloud data, not images"):
            fn.create(model="pointcloud-cuboids")
    finally:
        srv.stop()
