"""LiDAR pre-annotation offline: cuboids from one point-cloud frame, classical and deterministic.

Readers: :func:`read_pcd` (PCD ``ascii`` and ``binary``, our own small reader; ``binary_compressed``
is refused with a message), :func:`read_kitti_bin` (KITTI velodyne ``.bin``: float32 ``x y z
intensity``), :func:`read_las` (uncompressed ASPRS LAS 1.0-1.4, point data formats 0-10, numpy
only; LAZ is refused with a message), ``.npy`` arrays, and numpy arrays as they are;
:func:`load_points` tells them apart by their first bytes.

The pipeline (:class:`PointCloudCuboids`, registered as ``pointcloud-cuboids``):

1. **Ground removal**: a RANSAC plane (:func:`fit_ground_plane`; ``iterations`` random
   triples from a seeded generator, planes tilted more than ``max_tilt_deg`` from horizontal
   refused, inliers within ``ground_threshold_m``, the best plane refit to its inliers by least
   squares). Points less than ``ground_threshold_m`` above it, or more than ``max_height_m``, are dropped.
2. **Clustering**: DBSCAN (scikit-learn, a dependency of ``accord[serve]``) on ``x, y, z`` with
   ``eps_m`` (0.5 m) and ``min_points`` (10); clusters with fewer than ``min_points`` points go.
3. **Oriented boxes**: the minimum-area rectangle of the cluster's ground-plane footprint
   (rotating calipers over its convex hull), or the principal axis of the footprint
   (``yaw_method="pca"``, also the fallback for degenerate footprints); ``length`` is the longer
   side, ``yaw`` is its direction in ``(-pi/2, pi/2]``. The box stands on the ground plane
   (bottom at the plane under the centre) up to the highest point.
4. **Size priors** (:data:`SIZE_PRIORS`, typical KITTI object sizes): a box takes the class whose
   size ranges contain it, or else the class whose mean size is nearest in log-size distance,
   if that distance is at most ``max_prior_distance``; other clusters (walls, poles, bushes)
   are dropped. Score: ``exp(-d^2 / 2 * 0.25^2)`` of that distance.

Outputs: :class:`~.predictor_spec.CuboidPrediction` (the :class:`accord.core.model.Cuboid`
convention), :func:`cuboids_to_jsonl` (accord JSONL records) and :func:`cuboid_points_cvat` (a
CVAT 3D cuboid's 16 ``points``). Boxes are the visible extent: a car seen from one side gets
a box as wide as what the scan shows (no completion to the prior's size).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from accord.core.errors import AccordError, BadPredictorError, MissingExtraError
from accord.core.model import Cuboid, Record

from .predictor_spec import CuboidPrediction, LabelInfo

FloatArray = npt.NDArray[np.float64]

__all__ = ["SIZE_PRIORS", "LasHeader", "PointCloudCuboids", "SizePrior", "cuboid_points_cvat", "cuboids_to_jsonl",
           "fit_ground_plane", "load_points", "min_area_rectangle", "pointcloud_from_params", "read_kitti_bin",
           "read_las", "read_pcd"]

#: The most points one frame may have (a 128-beam LiDAR gives about 250k).
MAX_POINTS = 5_000_000

_PCD_TYPES = {("F", 4): "<f4", ("F", 8): "<f8", ("I", 1): "<i1", ("I", 2): "<i2", ("I", 4): "<i4", ("I", 8): "<i8",
              ("U", 1): "<u1", ("U", 2): "<u2", ("U", 4): "<u4", ("U", 8): "<u8"}


def read_pcd(data: bytes) -> dict[str, FloatArray]:
    """The fields of a PCD file (``DATA ascii`` or ``binary``) as float arrays, by field name.

    Raises:
        AccordError: not a PCD file, a malformed header, ``binary_compressed`` data, or truncated data.
    """
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise AccordError("expected a PCD file with a header ending in a DATA line; the file has none")
        line = data[pos:nl].decode("ascii", "replace").strip()
        pos = nl + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key.upper()] = vals
        if key.upper() == "DATA":
            break
        if len(header) > 20:
            raise AccordError("expected a PCD header (VERSION, FIELDS, SIZE, TYPE, COUNT, WIDTH, HEIGHT, POINTS, "
                              "DATA); this file's header is not one")
    try:
        fields = header["FIELDS"]
        sizes = [int(v) for v in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(v) for v in header.get("COUNT", ["1"] * len(fields))]
        n = int(header["POINTS"][0]) if "POINTS" in header else int(header["WIDTH"][0]) * int(header["HEIGHT"][0])
        mode = header["DATA"][0].lower()
    except (KeyError, IndexError, ValueError):
        raise AccordError("the PCD header lacks FIELDS, SIZE, TYPE or POINTS (or a number does not parse); "
                          "re-export the cloud") from None
    if not len(fields) == len(sizes) == len(types) == len(counts):
        raise AccordError("the PCD header's FIELDS, SIZE, TYPE and COUNT lists differ in length")
    if not 0 <= n <= MAX_POINTS:
        raise AccordError(f"the PCD file declares {n} points; at most {MAX_POINTS} are read")
    try:
        dtype = np.dtype([(f"{f}_{k}", _PCD_TYPES[(t.upper(), s)]) for f, s, t, c in
                          zip(fields, sizes, types, counts, strict=True) for k in range(c)])
    except KeyError:
        raise AccordError(f"unsupported PCD field types {list(zip(types, sizes, strict=True))}") from None
    if mode == "ascii":
        rows = data[pos:].decode("ascii", "replace").split()
        if len(rows) < n * len(dtype.names or ()):
            raise AccordError(f"the PCD file declares {n} points but holds fewer values; it is truncated")
        flat = np.array(rows[:n * len(dtype.names or ())], dtype=np.float64).reshape(n, -1)
        cols = {name: flat[:, k] for k, name in enumerate(dtype.names or ())}
    elif mode == "binary":
        if len(data) - pos < n * dtype.itemsize:
            raise AccordError(f"the PCD file declares {n} points but holds fewer bytes; it is truncated")
        arr = np.frombuffer(data, dtype=dtype, count=n, offset=pos)
        cols = {name: arr[name].astype(np.float64) for name in dtype.names or ()}
    else:
        raise AccordError(f"PCD 'DATA {mode}' is not read; save the cloud as 'ascii' or 'binary' "
                          "(e.g. pcl_convert_pcd_ascii_binary in.pcd out.pcd 1)")
    return {f: cols[f"{f}_0"] for f in fields}


def read_kitti_bin(data: bytes) -> FloatArray:
    """A KITTI velodyne scan (float32 ``x y z intensity`` records) as ``N x 4``.

    Raises:
        AccordError: the size is not a multiple of 16 bytes.
    """
    if len(data) % 16:
        raise AccordError(f"a KITTI .bin scan is float32 x, y, z, intensity (16 bytes a point); this file has "
                          f"{len(data)} bytes, not a multiple of 16")
    if len(data) // 16 > MAX_POINTS:
        raise AccordError(f"the scan has {len(data) // 16} points; at most {MAX_POINTS} are read")
    return np.frombuffer(data, dtype="<f4").reshape(-1, 4).astype(np.float64)


#: LAS point data format -> the smallest record length the ASPRS LAS 1.4 R15 spec gives it (bytes).
LAS_MIN_RECORD_LENGTH: Mapping[int, int] = {0: 20, 1: 28, 2: 26, 3: 34, 4: 57, 5: 63, 6: 30, 7: 36, 8: 38, 9: 59,
                                            10: 67}


@dataclass(frozen=True, slots=True, kw_only=True)
class LasHeader:
    """The public header fields of a LAS file that :func:`read_las` uses (ASPRS LAS 1.0-1.4).

    ``mins``/``maxs`` are the header's own bounding box (as written by the producer), in the
    same scaled units as the points.
    """

    version: tuple[int, int]
    header_size: int
    offset_to_points: int
    point_format: int
    record_length: int
    point_count: int
    points_by_return: tuple[int, ...]
    scale: tuple[float, float, float]
    offset: tuple[float, float, float]
    mins: tuple[float, float, float]
    maxs: tuple[float, float, float]


def _las_header(data: bytes) -> LasHeader:
    """The header of an uncompressed LAS file; AccordError when it is not one this reader reads."""
    import struct

    if len(data) < 227 or data[:4] != b"LASF":
        raise AccordError("expected a LAS file (starting with 'LASF' and a 227-byte or longer header); "
                          "this file is not one")
    major, minor = data[24], data[25]
    header_size, offset_to_points = struct.unpack_from("<HI", data, 94)
    fmt_byte = data[104]
    record_length, legacy_count = struct.unpack_from("<HI", data, 105)
    by_return = struct.unpack_from("<5I", data, 111)
    sx, sy, sz, ox, oy, oz, max_x, min_x, max_y, min_y, max_z, min_z = struct.unpack_from("<12d", data, 131)
    if (major, minor) not in ((1, 0), (1, 1), (1, 2), (1, 3), (1, 4)):
        raise AccordError(f"LAS version {major}.{minor} is not read; expected 1.0 to 1.4 (convert the file with "
                          "PDAL: pdal translate in.las out.las --writers.las.minor_version=4)")
    if fmt_byte & 0xC0:
        raise AccordError("this is a LAZ (compressed LAS) file; decompress it first with laszip "
                          "(laszip -i in.laz -o out.las) or PDAL (pdal translate in.laz out.las)")
    count = legacy_count
    if (major, minor) == (1, 4) and header_size >= 375 and len(data) >= 375:
        count64 = struct.unpack_from("<Q", data, 247)[0]
        by_return = struct.unpack_from("<15Q", data, 255)
        count = count64 or legacy_count
    fmt = fmt_byte & 0x3F
    need = LAS_MIN_RECORD_LENGTH.get(fmt)
    if need is None:
        raise AccordError(f"LAS point data format {fmt} is not read; expected 0 to 10 (ASPRS LAS 1.4)")
    if record_length < need:
        raise AccordError(f"the LAS header gives point format {fmt} a record length of {record_length} bytes; "
                          f"the format needs at least {need}: the file is damaged")
    if header_size < 227 or offset_to_points < header_size:
        raise AccordError(f"the LAS header is damaged (header size {header_size}, point data at byte "
                          f"{offset_to_points}); re-export the file")
    if not all(math.isfinite(v) and v != 0 for v in (sx, sy, sz)) or not all(map(math.isfinite, (ox, oy, oz))):
        raise AccordError(f"the LAS header's scale ({sx}, {sy}, {sz}) or offset ({ox}, {oy}, {oz}) is not a "
                          "finite non-zero number; the file is damaged")
    return LasHeader(version=(major, minor), header_size=header_size, offset_to_points=offset_to_points,
                     point_format=fmt, record_length=record_length, point_count=int(count),
                     points_by_return=tuple(int(v) for v in by_return), scale=(sx, sy, sz), offset=(ox, oy, oz),
                     mins=(min_x, min_y, min_z), maxs=(max_x, max_y, max_z))


def read_las(data: bytes) -> tuple[LasHeader, dict[str, FloatArray]]:
    """The header and the point columns of an uncompressed LAS 1.0-1.4 file, point formats 0-10.

    Columns: ``x``, ``y``, ``z`` (``raw * scale + offset``), ``intensity``, ``return_number``,
    ``number_of_returns`` and ``classification``. Formats 0-5 keep the return numbers in 3 bits
    and the class in the low 5 bits of byte 15; formats 6-10 use 4 bits each and a whole byte 16
    for the class (ASPRS LAS 1.4 R15, tables 7 and 15). Bytes past a format's fields (extra
    bytes) are skipped by the header's record length.

    Raises:
        AccordError: not LAS, LAZ (compressed: decompress with laszip or PDAL), an unknown
            version or point format, a damaged header, or fewer bytes than the header declares.
    """
    h = _las_header(data)
    if not 0 <= h.point_count <= MAX_POINTS:
        raise AccordError(f"the LAS file declares {h.point_count} points; at most {MAX_POINTS} are read")
    end = h.offset_to_points + h.point_count * h.record_length
    if end > len(data):
        raise AccordError(f"the LAS header declares {h.point_count} points of {h.record_length} bytes from byte "
                          f"{h.offset_to_points}, but the file has {len(data)} bytes; it is truncated")
    legacy = h.point_format <= 5
    dtype = np.dtype({"names": ["X", "Y", "Z", "intensity", "bits", "cls"],
                      "formats": ["<i4", "<i4", "<i4", "<u2", "u1", "u1"],
                      "offsets": [0, 4, 8, 12, 14, 15 if legacy else 16], "itemsize": h.record_length})
    rec = np.frombuffer(data, dtype=dtype, count=h.point_count, offset=h.offset_to_points)
    bits = rec["bits"]
    cols: dict[str, FloatArray] = {
        "x": rec["X"] * h.scale[0] + h.offset[0], "y": rec["Y"] * h.scale[1] + h.offset[1],
        "z": rec["Z"] * h.scale[2] + h.offset[2], "intensity": rec["intensity"].astype(np.float64),
        "return_number": (bits & (0x07 if legacy else 0x0F)).astype(np.float64),
        "number_of_returns": ((bits >> 3) & 0x07 if legacy else bits >> 4).astype(np.float64),
        "classification": (rec["cls"] & 0x1F if legacy else rec["cls"]).astype(np.float64)}
    return h, cols


def load_points(source: bytes | str | os.PathLike[str] | npt.ArrayLike) -> FloatArray:
    """``N x 3+`` points (x, y, z[, intensity]) from PCD, LAS or KITTI bytes, a file path or an array.

    PCD starts with ``#``, ``VERSION`` or ``FIELDS``; LAS (and LAZ, refused) with ``LASF``;
    ``.npy`` with its magic; anything else is read as KITTI ``.bin``.

    Raises:
        AccordError: unreadable, or no finite x, y, z columns.
    """
    if isinstance(source, str | os.PathLike):
        try:
            with open(source, "rb") as f:
                source = f.read(MAX_POINTS * 16 + 1)
        except OSError as e:
            raise AccordError(f"cannot read the point cloud {os.fspath(source)!r}: {e.strerror}") from None
    if isinstance(source, bytes | bytearray):
        raw = bytes(source)
        head = raw[:64].lstrip()
        if head.startswith((b"#", b"VERSION", b"FIELDS")):
            cols = read_pcd(raw)
            if not {"x", "y", "z"} <= set(cols):
                raise AccordError(f"the PCD file has fields {sorted(cols)}; x, y and z are needed")
            extra = [cols[k] for k in ("intensity", "i") if k in cols][:1]
            pts = np.stack([cols["x"], cols["y"], cols["z"], *extra], axis=1)
        elif raw[:4] == b"LASF":
            _, cols = read_las(raw)
            pts = np.stack([cols["x"], cols["y"], cols["z"], cols["intensity"]], axis=1)
        elif head.startswith(b"\x93NUMPY"):
            import io

            try:
                pts = np.load(io.BytesIO(raw), allow_pickle=False)
            except ValueError as e:
                raise AccordError(f"the .npy file is not a plain numeric array: {e}") from None
        else:
            pts = read_kitti_bin(raw)
    else:
        pts = np.asarray(source)
    pts = np.asarray(pts, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise AccordError(f"expected points as an N x 3 (or more) array of x, y, z, got shape {pts.shape}")
    return pts[np.all(np.isfinite(pts[:, :3]), axis=1)]


def fit_ground_plane(points: FloatArray, *, threshold_m: float = 0.15, iterations: int = 200, seed: int = 0,
                     max_tilt_deg: float = 15.0) -> tuple[FloatArray, float, npt.NDArray[np.bool_]]:
    """The ground plane ``n . p + d = 0`` (unit ``n`` with ``n_z > 0``) by RANSAC, and its inliers.

    Raises:
        AccordError: fewer than 3 points, or no plane within ``max_tilt_deg`` of horizontal.
    """
    p = np.asarray(points, dtype=np.float64)[:, :3]
    if len(p) < 3:
        raise AccordError(f"a ground plane needs 3 points or more, got {len(p)}")
    rng = np.random.default_rng(seed)
    cos_tilt = math.cos(math.radians(max_tilt_deg))
    best: tuple[int, FloatArray, float] | None = None
    for _ in range(iterations):
        a, b, c = p[rng.choice(len(p), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = float(np.linalg.norm(n))
        if norm < 1e-9:
            continue
        n = n / norm
        if n[2] < 0:
            n = -n
        if n[2] < cos_tilt:
            continue
        d = -float(n @ a)
        count = int(np.count_nonzero(np.abs(p @ n + d) < threshold_m))
        if best is None or count > best[0]:
            best = (count, n, d)
    if best is None:
        raise AccordError(f"no ground plane within {max_tilt_deg:g} degrees of horizontal; is z up in this cloud?")
    _, n, d = best
    inl = np.abs(p @ n + d) < threshold_m
    q = p[inl]
    if len(q) >= 3:  # least-squares refit: the normal is the direction of least spread
        centre = q.mean(axis=0)
        n2 = np.linalg.svd(q - centre, full_matrices=False)[2][-1]
        n2 = -n2 if n2[2] < 0 else n2
        if n2[2] >= cos_tilt:
            n, d = n2, -float(n2 @ centre)
            inl = np.abs(p @ n + d) < threshold_m
    return np.asarray(n, dtype=np.float64), float(d), inl


def _wrap_half_pi(yaw: float) -> float:
    """``yaw`` folded into ``(-pi/2, pi/2]`` (a box's heading is known up to a half turn)."""
    y = (yaw + math.pi / 2) % math.pi - math.pi / 2
    return math.pi / 2 if y <= -math.pi / 2 + 1e-12 else y


def _extent(xy: FloatArray, yaw: float) -> tuple[float, float, float, float]:
    c, s = math.cos(yaw), math.sin(yaw)
    u = xy @ np.array([c, s])
    v = xy @ np.array([-s, c])
    lu, lv = float(u.max() - u.min()), float(v.max() - v.min())
    mu, mv = float(u.max() + u.min()) / 2, float(v.max() + v.min()) / 2
    return lu, lv, mu * c - mv * s, mu * s + mv * c


def min_area_rectangle(xy: FloatArray, *, method: Literal["min-area", "pca"] = "min-area"
                       ) -> tuple[float, float, float, float, float]:
    """The oriented rectangle ``(cx, cy, length, width, yaw)`` around 2D points (``length >= width``).

    ``min-area``: the smallest-area rectangle, one side along a convex-hull edge (rotating
    calipers); ``pca``: sides along the points' principal axes. Yaw in ``(-pi/2, pi/2]``.

    >>> r = min_area_rectangle(np.array([[0, 0], [4, 0], [4, 2], [0, 2], [1, 1]], float))
    >>> [round(v, 6) for v in r]
    [2.0, 1.0, 4.0, 2.0, 0.0]
    """
    pts = np.asarray(xy, dtype=np.float64)
    yaws: list[float] = []
    if method == "min-area" and len(pts) >= 3:
        from scipy.spatial import ConvexHull, QhullError

        try:
            hull = pts[ConvexHull(pts).vertices]
            e = np.roll(hull, -1, axis=0) - hull
            yaws = [math.atan2(float(dy), float(dx)) for dx, dy in e if abs(dx) + abs(dy) > 1e-12]
        except QhullError:
            yaws = []
    if not yaws:
        centred = pts - pts.mean(axis=0)
        if len(pts) >= 2 and float(np.abs(centred).max()) > 0:
            vec = np.linalg.svd(centred, full_matrices=False)[2][0]
            yaws = [math.atan2(float(vec[1]), float(vec[0]))]
        else:
            yaws = [0.0]
    best: tuple[float, float, float, float, float, float] | None = None
    for yaw in yaws:
        lu, lv, cx, cy = _extent(pts, yaw)
        if best is None or lu * lv < best[0] - 1e-12:
            best = (lu * lv, lu, lv, cx, cy, yaw)
    assert best is not None
    _, lu, lv, cx, cy, yaw = best
    if lv > lu:
        lu, lv, yaw = lv, lu, yaw + math.pi / 2
    return cx, cy, lu, lv, _wrap_half_pi(yaw)


@dataclass(frozen=True, slots=True, kw_only=True)
class SizePrior:
    """A class's typical size (metres) and the ranges (min, max) a box of that class falls in."""

    length: float
    width: float
    height: float
    length_range: tuple[float, float]
    width_range: tuple[float, float]
    height_range: tuple[float, float]

    def contains(self, length: float, width: float, height: float) -> bool:
        return all(lo <= v <= hi for v, (lo, hi) in ((length, self.length_range), (width, self.width_range),
                                                     (height, self.height_range)))

    def distance(self, length: float, width: float, height: float) -> float:
        """Log-size distance ``sqrt(sum(log(size / mean)^2))`` (0 at the mean size)."""
        return math.sqrt(sum(math.log(max(v, 1e-6) / m) ** 2 for v, m in
                             ((length, self.length), (width, self.width), (height, self.height))))


#: Default classes: mean sizes of KITTI's Car, Pedestrian and Cyclist boxes (about 3.9 x 1.6 x
#: 1.56 m, 0.8 x 0.6 x 1.73 m, 1.76 x 0.6 x 1.73 m) and ranges around them.
SIZE_PRIORS: Mapping[str, SizePrior] = {
    "car": SizePrior(length=3.9, width=1.6, height=1.56, length_range=(2.5, 6.0), width_range=(1.3, 2.5),
                     height_range=(1.1, 2.3)),
    "pedestrian": SizePrior(length=0.8, width=0.6, height=1.73, length_range=(0.2, 1.2),
                            width_range=(0.2, 1.0), height_range=(1.0, 2.1)),
    "cyclist": SizePrior(length=1.76, width=0.6, height=1.73, length_range=(1.2, 2.4),
                         width_range=(0.3, 1.1), height_range=(1.0, 2.1)),
}


class PointCloudCuboids:
    """Cuboids from one LiDAR frame (module docstring); labels are the classes of ``priors``.

    Args:
        priors: class -> :class:`SizePrior` (default :data:`SIZE_PRIORS`).
        classes: Keep only these classes of ``priors`` (comma-separated or a sequence).
        ground_threshold_m, ransac_iterations, seed, max_tilt_deg: The ground fit.
        max_height_m: Points higher above the ground are ignored (trees, bridges).
        eps_m, min_points: DBSCAN's neighbourhood radius and least cluster size.
        yaw_method: ``min-area`` or ``pca``.
        max_prior_distance: Largest log-size distance from a class's mean for a box outside
            every class's ranges to still get that class.
    """

    modality: Literal["pointcloud"] = "pointcloud"

    def __init__(self, *, priors: Mapping[str, SizePrior] | None = None, classes: str | Sequence[str] | None = None,
                 ground_threshold_m: float = 0.15, ransac_iterations: int = 200, seed: int = 0,
                 max_tilt_deg: float = 15.0, max_height_m: float = 4.0, eps_m: float = 0.5, min_points: int = 10,
                 yaw_method: Literal["min-area", "pca"] = "min-area", max_prior_distance: float = 0.5) -> None:
        pri = dict(priors if priors is not None else SIZE_PRIORS)
        if classes is not None:
            wanted = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else list(classes)
            unknown = sorted(set(wanted) - set(pri))
            if unknown or not wanted:
                raise BadPredictorError(f"unknown classes {unknown or wanted}; the size priors have {sorted(pri)}")
            pri = {c: pri[c] for c in wanted}
        if not pri:
            raise BadPredictorError("at least one class with a size prior is needed")
        if yaw_method not in ("min-area", "pca"):
            raise BadPredictorError(f"yaw_method must be 'min-area' or 'pca', got {yaw_method!r}")
        for name, v in (("ground_threshold_m", ground_threshold_m), ("max_height_m", max_height_m),
                        ("eps_m", eps_m), ("max_prior_distance", max_prior_distance)):
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise BadPredictorError(f"{name} must be a number > 0, got {v!r}")
        if int(min_points) < 1 or int(ransac_iterations) < 1:
            raise BadPredictorError(f"min_points and ransac_iterations must be >= 1, got {min_points!r}, "
                                    f"{ransac_iterations!r}")
        self.priors = pri
        self.ground_threshold_m = float(ground_threshold_m)
        self.ransac_iterations = int(ransac_iterations)
        self.seed = int(seed)
        self.max_tilt_deg = float(max_tilt_deg)
        self.max_height_m = float(max_height_m)
        self.eps_m = float(eps_m)
        self.min_points = int(min_points)
        self.yaw_method: Literal["min-area", "pca"] = yaw_method
        self.max_prior_distance = float(max_prior_distance)

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        return tuple(LabelInfo(name=c, kind="cuboid") for c in self.priors)

    def classify(self, length: float, width: float, height: float) -> tuple[str, float] | None:
        """The class and score for a box size, or None when no prior fits."""
        dist = {c: p.distance(length, width, height) for c, p in self.priors.items()}
        inside = [c for c, p in self.priors.items() if p.contains(length, width, height)]
        best = min(inside or dist, key=lambda c: dist[c])
        if not inside and dist[best] > self.max_prior_distance:
            return None
        return best, float(math.exp(-dist[best] ** 2 / (2 * 0.25 ** 2)))

    def clusters(self, points: FloatArray) -> tuple[FloatArray, float, list[FloatArray]]:
        """The ground plane (normal, offset) and the above-ground clusters' points."""
        pts = load_points(points)
        if len(pts) < 3:
            return np.array([0.0, 0.0, 1.0]), 0.0, []
        n, d, _ = fit_ground_plane(pts, threshold_m=self.ground_threshold_m, iterations=self.ransac_iterations,
                                   seed=self.seed, max_tilt_deg=self.max_tilt_deg)
        h = pts[:, :3] @ n + d
        above = pts[(h > self.ground_threshold_m) & (h < self.max_height_m), :3]
        if len(above) < self.min_points:
            return n, d, []
        try:
            from sklearn.cluster import DBSCAN
        except ImportError as e:
            raise MissingExtraError("point-cloud clustering needs scikit-learn: pip install 'accord[serve]'") from e
        lab = DBSCAN(eps=self.eps_m, min_samples=min(self.min_points, 5)).fit_predict(above)
        out = [above[lab == k] for k in range(int(lab.max()) + 1) if np.count_nonzero(lab == k) >= self.min_points]
        return n, d, out

    def predict_points(self, points: FloatArray) -> list[CuboidPrediction]:
        """Cuboids for the clusters whose size fits a class, largest score first."""
        n, d, clusters = self.clusters(points)
        out = []
        for c in clusters:
            cx, cy, length, width, yaw = min_area_rectangle(c[:, :2], method=self.yaw_method)
            # the bottom: the ground plane under the centre (ground points were removed, so the
            # lowest remaining point is ground_threshold_m above the true bottom)
            z_ground = -float(n[0] * cx + n[1] * cy + d) / float(n[2])
            lowest = float(np.min(c[:, :3] @ n + d))
            bottom = z_ground if lowest < 3 * self.ground_threshold_m else float(c[:, 2].min())
            top = float(c[:, 2].max())
            height = top - bottom
            if min(length, width, height) <= 0:
                continue
            fit = self.classify(length, width, height)
            if fit is None:
                continue
            label, score = fit
            out.append(CuboidPrediction(label=label, score=score, x=float(cx), y=float(cy), z=float(top + bottom) / 2,
                                        length=float(length), width=float(width), height=float(height),
                                        yaw=float(yaw)))
        out.sort(key=lambda p: -p.score)
        return out


def cuboid_points_cvat(p: CuboidPrediction | Cuboid) -> list[float]:
    """A CVAT 3D cuboid's 16 ``points``: position, rotation (rx, ry, rz = yaw), scale, then zeros.

    The inverse of :func:`accord.plugins.cvat.convert.cuboid_value` with ``dim3=True``.
    """
    return [float(p.x), float(p.y), float(p.z), 0.0, 0.0, float(p.yaw), float(p.length), float(p.width),
            float(p.height), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def cuboids_to_jsonl(preds: Sequence[CuboidPrediction], *, item_id: str, label_set: str = "cuboids",
                     annotator_id: str = "model:accord") -> list[dict[str, Any]]:
    """Cuboids as accord JSONL records (:func:`accord.core.model.record_to_dict` of Cuboid values)."""
    from accord.core.model import record_to_dict

    return [record_to_dict(Record(item_id=item_id, annotator_id=annotator_id, label_set=label_set, source="model",
                                  region_id=f"{item_id}-{k}", score=float(p.score), value=p.cuboid()))
            for k, p in enumerate(preds)]


def pointcloud_from_params(**params: Any) -> PointCloudCuboids:
    """``model=pointcloud-cuboids`` from string parameters (the CLIs pass strings)."""
    table: dict[str, Any] = {"classes": str, "ground_threshold_m": float, "ransac_iterations": int, "seed": int,
                             "max_tilt_deg": float, "max_height_m": float, "eps_m": float, "min_points": int,
                             "yaw_method": str, "max_prior_distance": float}
    unknown = sorted(set(params) - set(table))
    if unknown:
        raise BadPredictorError(f"pointcloud-cuboids does not take {unknown}; it takes {sorted(table)}")
    kw: dict[str, Any] = {}
    for k, v in params.items():
        try:
            kw[k] = table[k](v)
        except (TypeError, ValueError):
            raise BadPredictorError(f"pointcloud-cuboids: {k} must be a {table[k].__name__}, got {v!r}") from None
    return PointCloudCuboids(**kw)
