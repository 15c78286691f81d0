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
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from accord.core.errors import AccordError, BadPredictionError, BadPredictorError
from accord.core.matching.cuboids import cuboid_iou_matrix
from accord.core.model import Cuboid, record_from_dict
from accord.ml_backends.driver import validate_cuboids
from accord.ml_backends.predictor_pointcloud import (
    LAS_MIN_RECORD_LENGTH,
    SIZE_PRIORS,
    PointCloudCuboids,
    cuboid_points_cvat,
    cuboids_to_jsonl,
    fit_ground_plane,
    load_points,
    min_area_rectangle,
    read_kitti_bin,
    read_las,
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


# -- LAS ---------------------------------------------------------------------------------------
LAS_DIR = Path(__file__).parent / "fixtures" / "las"


def _las(pts: np.ndarray, *, fmt: int, minor: int, cls: np.ndarray | None = None, ret: np.ndarray | None = None,
         extra_bytes: int = 0, scale: float = 0.001) -> bytes:
    """A LAS file written field by field from the ASPRS LAS 1.4 R15 header table (independent of the reader):
    1.0-1.2 headers are 227 bytes, 1.3 adds the waveform offset (235), 1.4 the EVLR fields and 64-bit
    counts (375); the 1.4 legacy count is left 0 for formats 6-10, as the spec asks."""
    n = len(pts)
    header_size = {0: 227, 1: 227, 2: 227, 3: 235, 4: 375}[minor]
    rec_len = LAS_MIN_RECORD_LENGTH[fmt] + extra_bytes
    offset = np.floor(pts[:, :3].min(axis=0))
    raw = np.round((pts[:, :3] - offset) / scale).astype("<i4")
    cls = np.zeros(n, np.uint8) if cls is None else cls.astype(np.uint8)
    ret = np.ones(n, np.uint8) if ret is None else ret.astype(np.uint8)
    body = bytearray(n * rec_len)
    legacy = fmt <= 5
    for k in range(n):
        o = k * rec_len
        struct.pack_into("<iiiH", body, o, *raw[k], int(pts[k, 3]) if pts.shape[1] > 3 else 0)
        body[o + 14] = (ret[k] | (ret[k] << 3)) if legacy else (ret[k] | (ret[k] << 4))
        body[o + (15 if legacy else 16)] = cls[k]
    scaled = raw * scale + offset
    head = bytearray(header_size)
    head[:4] = b"LASF"
    head[24], head[25] = 1, minor
    by_return = [int((ret == r).sum()) for r in range(1, 6)]
    struct.pack_into("<HIIBHI5I", head, 94, header_size, header_size, 0, fmt, rec_len,
                     0 if (minor == 4 and fmt >= 6) else n, *by_return)
    struct.pack_into("<12d", head, 131, scale, scale, scale, *offset, scaled[:, 0].max(), scaled[:, 0].min(),
                     scaled[:, 1].max(), scaled[:, 1].min(), scaled[:, 2].max(), scaled[:, 2].min())
    if minor == 4:
        struct.pack_into("<QIQ15Q", head, 235, 0, 0, n, *[int((ret == r).sum()) for r in range(1, 16)])
    return bytes(head) + bytes(body)


def test_las_reader_matches_what_laspy_states_for_simple_las() -> None:
    # laspy's tests/cli/test_info.py (EXPECTED_HEADER_INFO_SIMPLE_LAS, EXPECTED_POINTS_INFO_SIMPLE_LAS):
    # LAS 1.2, format 3 (34 bytes), 1065 points, scales 0.01, offsets 0, by return [925, 114, 21, 5, 0],
    # raw X 63561985..63898255, Z 40659..58638, intensity 0..254, return 1..4, classification 1..2.
    h, cols = read_las((LAS_DIR / "simple.las").read_bytes())
    assert (h.version, h.point_format, h.record_length, h.point_count) == ((1, 2), 3, 34, 1065)
    assert h.scale == (0.01, 0.01, 0.01)
    assert h.points_by_return == (925, 114, 21, 5, 0)
    assert cols["x"].min() == pytest.approx(635619.85)
    assert cols["x"].max() == pytest.approx(638982.55)
    assert cols["z"].min() == pytest.approx(406.59)
    assert cols["z"].max() == pytest.approx(586.38)
    assert (cols["intensity"].min(), cols["intensity"].max()) == (0, 254)
    assert (cols["return_number"].min(), cols["return_number"].max()) == (1, 4)
    assert set(np.unique(cols["classification"])) == {1, 2}
    # the points' own return numbers reproduce the header's per-return counts
    assert tuple(np.bincount(cols["return_number"].astype(int), minlength=6)[1:6]) == h.points_by_return


@pytest.mark.parametrize("name", ["simple.las", "1_4_w_evlr.las"])
def test_las_points_lie_in_the_header_bounding_box(name: str) -> None:
    h, cols = read_las((LAS_DIR / name).read_bytes())
    assert len(cols["x"]) == h.point_count > 0
    for k, axis in enumerate("xyz"):  # the producer's min/max equals the points' actual extent
        assert cols[axis].min() == pytest.approx(h.mins[k], abs=h.scale[k])
        assert cols[axis].max() == pytest.approx(h.maxs[k], abs=h.scale[k])
    pts = load_points(LAS_DIR / name)
    assert pts.shape == (h.point_count, 4)


def test_las_1_4_reads_the_64_bit_count_when_the_legacy_one_is_zero() -> None:
    raw = (LAS_DIR / "1_4_w_evlr.las").read_bytes()
    assert struct.unpack_from("<I", raw, 107)[0] == 0  # legacy count 0 (format 6), as LAS 1.4 asks
    h, cols = read_las(raw)
    assert (h.version, h.point_format, h.point_count) == ((1, 4), 6, 1000)
    assert tuple(np.bincount(cols["return_number"].astype(int), minlength=16)[1:16]) == h.points_by_return


@pytest.mark.parametrize("fmt", range(11))
def test_las_every_point_format_round_trips(fmt: int) -> None:
    rng = np.random.default_rng(fmt)
    pts = np.column_stack([rng.uniform(-50, 50, (200, 3)), rng.integers(0, 65535, 200)])
    cls = rng.integers(0, 31 if fmt <= 5 else 255, 200)
    ret = rng.integers(1, 7 if fmt <= 5 else 15, 200)
    minor = 4 if fmt >= 6 else (3 if fmt in (4, 5) else fmt % 3)
    h, cols = read_las(_las(pts, fmt=fmt, minor=minor, cls=cls, ret=ret, extra_bytes=3))
    assert h.point_format == fmt
    assert h.point_count == 200
    np.testing.assert_allclose(np.column_stack([cols["x"], cols["y"], cols["z"]]), pts[:, :3], atol=0.0005)
    assert np.array_equal(cols["intensity"], pts[:, 3])
    assert np.array_equal(cols["classification"], cls)
    assert np.array_equal(cols["return_number"], ret)
    assert np.array_equal(cols["number_of_returns"], ret)


def test_las_errors_are_one_line_messages() -> None:
    with pytest.raises(AccordError, match=r"LAZ \(compressed LAS\) file; decompress it first with laszip"):
        load_points(LAS_DIR / "simple.laz")
    good = (LAS_DIR / "simple.las").read_bytes()
    with pytest.raises(AccordError, match="it is truncated"):
        load_points(good[:-10])
    with pytest.raises(AccordError, match=r"LAS version 2\.0 is not read"):
        load_points(good[:24] + b"\x02\x00" + good[26:])
    with pytest.raises(AccordError, match="point data format 11 is not read"):
        load_points(good[:104] + b"\x0b" + good[105:])
    with pytest.raises(AccordError, match="needs at least 34: the file is damaged"):
        load_points(good[:105] + struct.pack("<H", 20) + good[107:])
    with pytest.raises(AccordError, match="expected a LAS file"):
        read_las(b"LASF" + b"\x00" * 10)


@pytest.mark.parametrize(("fmt", "minor"), [(1, 2), (6, 4)])
def test_cuboids_from_a_las_scene_reach_kitti_iou_thresholds(fmt: int, minor: int) -> None:
    pts, truth = scene(BOXES)
    pts[:, 3] = np.round(pts[:, 3] * 1000)
    data = _las(pts, fmt=fmt, minor=minor)  # millimetre quantisation of the generated scene
    model = get_predictor("pointcloud-cuboids")
    preds = validate_cuboids(model.predict_points(load_points(data)), labels=model.labels,
                             predictor="pointcloud-cuboids", task="scene.las")
    assert len(preds) == len(truth)
    for ref, p, iou in _matched(truth, preds):
        assert p.label == ref.label
        assert iou >= IOU_MIN[ref.label], (ref, p, iou)


def test_cuboid_predictor_runs_on_a_real_aerial_las() -> None:
    # simple.las is a sparse aerial scan (1065 points over ~3 x 4.6 km): no object clusters of
    # min_points points within eps_m, so no cuboid is the right answer, not a crash.
    model = get_predictor("pointcloud-cuboids")
    pts = load_points(LAS_DIR / "simple.las")
    assert validate_cuboids(model.predict_points(pts), labels=model.labels, predictor="pointcloud-cuboids",
                            task="simple.las") == []
