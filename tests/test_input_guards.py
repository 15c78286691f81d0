"""Input size guards (issue #14 finding 6): one small file must not take all the memory.

Reproductions from the review: a 1 MB CVAT zip reached 2.1 GB (annotations.xml read whole);
a 100k-point polygon asked for 9.3 GiB (polygon rasterization built a (pixel columns x
edges) table: 98,002 x 100,000 booleans); ``--boot 2e9`` asked for 89 GiB (the cost
forecast drew a (replicates x pilot items) matrix at once). Each is refused with one line
naming the limit and the option that raises it, fast and with little memory; memory is
measured with tracemalloc in-process, or bounded with RLIMIT_AS in a subprocess where the
old code would have tried a huge allocation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accord.cli import main
from accord.core import rle
from accord.core.agreement import bootstrap_ci, krippendorff_alpha
from accord.core.cost import config_from_dict, forecast
from accord.core.cost.pilot import analyze_pilot
from accord.core.errors import ConfigError, ConversionError, InvalidAnnotationError, LimitExceededError
from accord.core.limits import InputLimits, current_limits, input_limits
from accord.core.matching import geometry
from accord.core.matching.geometry import polygon_iou_matrix
from accord.core.matching.masks import (
    MAX_SCANLINE_CROSSINGS,
    polygon_intervals,
    polygon_mask_similarity_matrix,
)
from accord.core.model import Box, Dataset, Mask, Polygon, Record, record_to_dict
from accord.core.qa.report import ReportConfig, config_from_toml
from accord.plugins.cvat.convert import _read_bytes, from_cvat_xml

TESTS = Path(__file__).parent
CVAT_XML = TESTS / "fixtures" / "cvat" / "images_train.xml"
MiB = 1 << 20


def _peak_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """(what ``fn`` raised or returned, peak traced bytes while it ran)."""
    tracemalloc.start()
    try:
        try:
            out: Any = fn()
        except Exception as e:  # noqa: BLE001 - returned for the test to check
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _run_limited(code: str, *args: str, as_mib: int = 768, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` in a subprocess whose address space is capped (RLIMIT_AS)."""
    pre = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({as_mib} << 20, {as_mib} << 20))
    """)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", pre + textwrap.dedent(code), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def _bomb(path: Path, inflated: int) -> Path:
    """A CVAT-looking zip whose annotations.xml is ``inflated`` bytes, mostly spaces (deflate ~1000x)."""
    head = b'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>'
    tail = b"</annotations>\n"
    block = b" " * MiB
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z, \
            z.open("annotations.xml", "w", force_zip64=True) as f:
        f.write(head)
        left = inflated - len(head) - len(tail)
        while left > 0:
            f.write(block[:left])
            left -= len(block)
        f.write(tail)
    return path


@pytest.fixture(scope="module")
def bomb_200mb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bomb(tmp_path_factory.mktemp("bomb") / "export.zip", 200 * MiB)


# --------------------------------------------------------------------------- limits object


def test_limits_defaults_and_context() -> None:
    d = current_limits()
    assert d == InputLimits()
    with input_limits(max_polygon_points=50):
        assert current_limits().max_polygon_points == 50
        with input_limits(max_bootstrap=7):
            assert (current_limits().max_polygon_points, current_limits().max_bootstrap) == (50, 7)
        assert current_limits().max_bootstrap == d.max_bootstrap
    assert current_limits() == d


@pytest.mark.parametrize("bad", [{"max_polygon_points": 0}, {"max_zip_ratio": float("nan")},
                                 {"max_bootstrap": -1}, {"max_bootstrap": True}, {"nonsense": 3}])
def test_limits_reject_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError), input_limits(**bad):
        pass


# --------------------------------------------------------------------------- zip bombs


def test_zip_bomb_member_cap_fails_fast_with_little_memory(bomb_200mb: Path) -> None:
    data = bomb_200mb.read_bytes()
    assert len(data) < 1 * MiB  # a small file...
    t0 = time.perf_counter()
    err, peak = _peak_bytes(lambda: _read_bytes(data, max_member_bytes=16 * MiB, max_ratio=1e9))
    assert isinstance(err, LimitExceededError), err
    assert err.limit == "max_zip_member_bytes"
    assert "--max-zip-member-mb" in str(err)
    assert "annotations.xml" in str(err)
    assert peak < 40 * MiB, f"peak {peak / MiB:.0f} MiB"
    assert time.perf_counter() - t0 < 10


def test_zip_bomb_ratio_limit(bomb_200mb: Path) -> None:
    data = bomb_200mb.read_bytes()
    err, peak = _peak_bytes(lambda: _read_bytes(data, max_member_bytes=1 << 40, max_ratio=50))
    assert isinstance(err, LimitExceededError), err
    assert err.limit == "max_zip_ratio", err
    assert "--max-zip-ratio" in str(err)
    assert "zip bomb" in str(err)
    assert peak < 20 * MiB, f"peak {peak / MiB:.0f} MiB"


def test_zip_whose_directory_understates_the_size_is_refused_small(tmp_path: Path) -> None:
    # The sizes are checked from the directory first; one that lies (says 1,000 bytes for a
    # 50 MiB member) must not lead to reading the real size: zipfile stops at the declared
    # size, the CRC then fails, and the file is refused as broken.
    z = tmp_path / "liar.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as f, f.open("annotations.xml", "w") as m:
        for _ in range(50):
            m.write(b" " * MiB)
    data = bytearray(z.read_bytes())
    assert data[:4] == b"PK\x03\x04"
    data[22:26] = (1000).to_bytes(4, "little")  # local header: uncompressed size
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (1000).to_bytes(4, "little")  # central directory: uncompressed size
    err, peak = _peak_bytes(lambda: _read_bytes(bytes(data), max_ratio=1e9))
    assert isinstance(err, ConversionError), err
    assert "not a readable zip file" in str(err)
    assert peak < 10 * MiB


def test_small_compressible_member_is_not_refused_for_its_ratio(tmp_path: Path) -> None:
    # Below 1 MiB inflated, a high ratio is normal (a tiny export of repeated tags).
    z = _bomb(tmp_path / "small.zip", 900_000)
    with zipfile.ZipFile(z) as f:
        info = f.getinfo("annotations.xml")
    assert info.file_size / info.compress_size > 200
    assert _read_bytes(z.read_bytes()).startswith(b"<?xml")


def test_zip_bomb_default_limits_refuse_it(bomb_200mb: Path) -> None:
    err, peak = _peak_bytes(lambda: from_cvat_xml(bomb_200mb))
    assert isinstance(err, LimitExceededError), err
    assert err.limit == "max_zip_ratio", err
    assert peak < 20 * MiB + bomb_200mb.stat().st_size


def test_cli_zip_bomb_one_line_error_under_a_memory_cap(bomb_200mb: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    t0 = time.perf_counter()
    proc = _run_limited("import sys\nfrom accord.cli import main\nsys.exit(main(sys.argv[1:]))",
                        "convert", str(bomb_200mb), "-o", str(out), as_mib=400)
    assert time.perf_counter() - t0 < 60
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "--max-zip-ratio" in proc.stderr, proc.stderr
    assert not out.exists()


def test_raising_the_zip_limits_lets_a_genuine_big_export_through(tmp_path: Path) -> None:
    z = _bomb(tmp_path / "sparse.zip", 4 * MiB)  # 4 MiB of mostly whitespace: ~1000x, over the default ratio
    with pytest.raises(LimitExceededError, match="max_zip_ratio"):
        from_cvat_xml(z)
    assert main(["--max-zip-ratio", "100000", "convert", str(z), "-o", str(tmp_path / "o.jsonl")]) == 0
    with pytest.raises(LimitExceededError, match="max_zip_member_bytes"), input_limits(max_zip_ratio=1e6):
        _read_bytes(z.read_bytes(), max_member_bytes=MiB)


def test_ordinary_zip_export_still_reads(tmp_path: Path) -> None:
    z = tmp_path / "task.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as f:
        f.write(CVAT_XML, "annotations.xml")
        f.writestr("images/readme.txt", "x")
    assert from_cvat_xml(z).records == from_cvat_xml(CVAT_XML).records


def test_encrypted_zip_is_a_conversion_error(tmp_path: Path) -> None:
    z = tmp_path / "task.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("annotations.xml", "<annotations/>")
    data = bytearray(z.read_bytes())
    data[6] |= 0x1  # the "encrypted" flag in the local header
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 0x1  # ...and in the central directory
    with pytest.raises(ConversionError, match="not a readable zip file"):
        from_cvat_xml(bytes(data))


# --------------------------------------------------------------------------- polygons


def _circle(n: int, cx: float, cy: float, r: float) -> tuple[tuple[float, float], ...]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return tuple(zip((cx + r * np.cos(t)).tolist(), (cy + r * np.sin(t)).tolist(), strict=True))


def test_100k_point_polygons_are_refused_fast_and_small() -> None:
    big = Polygon(points=_circle(100_000, 500, 500, 400), label="a")
    other = Polygon(points=tuple((x + 1, y) for x, y in big.points), label="a")
    t0 = time.perf_counter()
    err, peak = _peak_bytes(lambda: polygon_iou_matrix([big], [other]))
    assert isinstance(err, LimitExceededError), err
    assert err.limit == "max_polygon_points", err
    assert "reference[0] has 100,000 points" in str(err)
    assert "--max-polygon-points" in str(err)
    assert peak < 5 * MiB
    assert time.perf_counter() - t0 < 2


def test_polygon_points_limit_is_inclusive_and_raisable() -> None:
    with input_limits(max_polygon_points=64):
        a = Polygon(points=_circle(64, 50, 50, 20), label="a")
        assert polygon_iou_matrix([a], [a])[0, 0] == pytest.approx(1.0)
        b = Polygon(points=_circle(65, 50, 50, 20), label="a")
        with pytest.raises(LimitExceededError, match=r"candidate\[1\] has 65 points"):
            polygon_iou_matrix([a], [a, b])
    with input_limits(max_polygon_points=65):
        assert polygon_iou_matrix([b], [b])[0, 0] == pytest.approx(1.0)


def test_large_polygon_pair_is_exact_in_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # 3000 x 3000 edges (9M crossing candidates) > the 2M working set: the blocked path.
    n = 3000
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 400 + 30 * np.sin(7 * t)
    a = Polygon(points=tuple(zip((500 + r * np.cos(t)).tolist(), (500 + r * np.sin(t)).tolist(), strict=True)),
                label="a")
    b = Polygon(points=tuple((x + 3.0, y + 2.0) for x, y in a.points), label="a")
    got, peak = _peak_bytes(lambda: polygon_iou_matrix([a], [b])[0, 0])
    assert not isinstance(got, Exception), got
    assert peak < 150 * MiB, f"peak {peak / MiB:.0f} MiB"
    # the same pair through the one-table path gives the same number
    monkeypatch.setattr(geometry, "_CHUNK_ELEMENTS", 10**9)
    assert polygon_iou_matrix([a], [b])[0, 0] == pytest.approx(got, abs=1e-12)
    shapely = pytest.importorskip("shapely.geometry")
    pa, pb = shapely.Polygon(a.points), shapely.Polygon(b.points)
    assert got == pytest.approx(pa.intersection(pb).area / pa.union(pb).area, abs=1e-9)


_WIDE_POLYGON = """
    import numpy as np
    from accord.core.limits import input_limits
    from accord.core.matching.masks import polygon_intervals
    t = np.linspace(0, 2 * np.pi, 100_000, endpoint=False)
    pts = np.c_[50_000 + 49_000 * np.cos(t), 50_000 + 49_000 * np.sin(t)]
    with input_limits(max_polygon_points=100_000, max_raster_pixels=10**10):
        s, e = polygon_intervals(pts, 100_000, 100_000)
    print(int((e - s).sum()))
"""


def test_wide_100k_point_polygon_rasterizes_in_little_memory_when_allowed() -> None:
    # The review's 9.3 GiB: polygon_intervals built (98,002 columns x 100,000 edges) tables.
    # Under a 700 MiB address space the old code dies with MemoryError; now the work is per crossing.
    proc = _run_limited(_WIDE_POLYGON, as_mib=700)
    assert proc.returncode == 0, proc.stderr[-2000:]
    area = int(proc.stdout.strip())
    assert area == pytest.approx(np.pi * 49_000**2, rel=1e-4)


def test_wide_polygon_is_refused_by_default() -> None:
    pts = np.c_[50_000 + 49_000 * np.cos(np.linspace(0, 6.28, 100_000)),
                50_000 + 49_000 * np.sin(np.linspace(0, 6.28, 100_000))]
    with pytest.raises(LimitExceededError, match="--max-polygon-points"):
        polygon_intervals(pts, 100_000, 100_000)
    with pytest.raises(LimitExceededError, match="--max-image-pixels"), input_limits(max_polygon_points=10**6):
        polygon_intervals(pts, 100_000, 100_000)


def _brute_force_intervals(pts: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre even-odd rule, pixel by pixel (the definition in accord.core.matching.masks)."""
    xc, yc = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    inside = np.zeros((h, w), dtype=bool)
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for a, b, c, d in zip(x0, y0, x1, y1, strict=True):
        if a == c:
            continue
        hit = (a <= xc) != (c <= xc)
        y = b + (xc - a) * (d - b) / (c - a)
        inside ^= hit & (y <= yc)
    counts = rle.encode(inside)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    s, e = bounds[1:-1:2], bounds[2::2]
    keep = e > s
    return s[keep], e[keep]


def test_rasterization_matches_the_pixel_centre_rule() -> None:
    rng = np.random.default_rng(7)
    for trial in range(300):
        k = int(rng.integers(3, 10))
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        pts = rng.uniform(-5, 35, (k, 2))
        if trial % 3 == 0:
            pts = np.round(pts * 2) / 2 + 1e-7  # near half-pixel coordinates, off the exact centre lines
        got = polygon_intervals(pts, h, w)
        want = _brute_force_intervals(pts, h, w)
        assert np.array_equal(got[0], want[0]), (trial, pts.tolist(), h, w)
        assert np.array_equal(got[1], want[1]), (trial, pts.tolist(), h, w)


def test_zigzag_polygon_is_refused_before_allocating() -> None:
    # 10,000 points zigzagging across a 16,000-pixel-wide image: 1.6e8 scanline crossings.
    n = 10_000
    xs = np.where(np.arange(n) % 2 == 0, 0.0, 16_000.0)
    pts = np.c_[xs, np.arange(n) * 0.5]
    err, peak = _peak_bytes(lambda: polygon_intervals(pts, 5_000, 16_000))
    assert isinstance(err, LimitExceededError), err
    assert f"{MAX_SCANLINE_CROSSINGS:,}" in str(err), err
    assert peak < 10 * MiB


# --------------------------------------------------------------------------- image dimensions


def test_huge_image_dimensions_do_not_allocate() -> None:
    g = 10**9
    huge = Mask(label="a", height=g, width=g, counts=(g * g,))
    poly = Polygon(points=((0.0, 0.0), (g - 1.0, 0.0), (g - 1.0, g - 1.0)), label="a")
    err, peak = _peak_bytes(lambda: polygon_mask_similarity_matrix([poly], [huge]))
    assert isinstance(err, LimitExceededError), err
    assert err.limit == "max_raster_pixels", err
    assert "1000000000x1000000000" in str(err)
    assert "--max-image-pixels" in str(err)
    assert peak < MiB
    err, peak = _peak_bytes(lambda: rle.decode([g * g], g, g))
    assert isinstance(err, LimitExceededError), err
    assert "--max-image-pixels" in str(err), err
    assert peak < MiB


_HUGE_IMAGE_POLYGON = """
    from accord.core.matching.masks import polygon_intervals
    g = 10**9
    try:
        polygon_intervals([(0.0, 0.0), (g - 1.0, 0.0), (g - 1.0, 10.0)], g, g)
    except Exception as e:
        print(type(e).__name__)
"""


def test_polygon_across_a_billion_pixel_columns_is_refused_under_a_memory_cap() -> None:
    # The old rasterizer sized its tables by the columns the polygon spans: 10^9 of them (GBs).
    proc = _run_limited(_HUGE_IMAGE_POLYGON, as_mib=500)
    assert proc.stdout.strip() == "LimitExceededError", (proc.stdout, proc.stderr[-2000:])


# --------------------------------------------------------------------------- bootstrap count


def test_bootstrap_ci_bounds_the_resamples() -> None:
    ratings = np.array([[1, 1], [2, 2], [1, 2], [2, 2], [1, 1], [2, 1]], dtype=float)
    err, peak = _peak_bytes(lambda: bootstrap_ci(krippendorff_alpha, ratings, n_resamples=2_000_000_000))
    assert isinstance(err, LimitExceededError), err
    assert "--max-bootstrap" in str(err), err
    assert "2,000,000,000 resamples" in str(err)
    assert peak < MiB
    for bad in (-5, 0, 2.5, True):
        with pytest.raises(ConfigError, match="n_resamples"):
            bootstrap_ci(krippendorff_alpha, ratings, n_resamples=bad)
    assert bootstrap_ci(krippendorff_alpha, ratings, n_resamples=100_000).n_resamples == 100_000
    with input_limits(max_bootstrap=50), pytest.raises(LimitExceededError):
        bootstrap_ci(krippendorff_alpha, ratings, n_resamples=51)


def test_report_config_bounds_n_bootstrap() -> None:
    with pytest.raises(LimitExceededError, match="--max-bootstrap"):
        ReportConfig(n_bootstrap=2_000_000_000)
    with pytest.raises(ConfigError, match="n_bootstrap must be an integer >= 1"):
        config_from_toml("[report]\nn_bootstrap = -5\n")
    with pytest.raises(ConfigError, match="n_bootstrap"):
        ReportConfig(n_bootstrap=0)
    assert ReportConfig(n_bootstrap=100_000).n_bootstrap == 100_000


def _pilot_records(n_items: int) -> list[Record]:
    return [Record(item_id=f"i{i}", annotator_id=a, label_set="obj",
                   value=Box(label="car", x=0, y=0, width=5, height=5), duration_s=20.0 + (i * 7 + k * 3) % 11)
            for i in range(n_items) for k, a in enumerate(("a", "b"))]


def test_forecast_bounds_n_boot_and_its_memory() -> None:
    pilot = analyze_pilot(Dataset(records=tuple(_pilot_records(6))))
    cfg = config_from_dict({})
    err, peak = _peak_bytes(lambda: forecast(pilot, cfg, items=100, n_boot=2_000_000_000))
    assert isinstance(err, LimitExceededError), err
    assert "--max-bootstrap" in str(err), err
    assert "--boot" in str(err), err
    assert peak < MiB
    with pytest.raises(InvalidAnnotationError, match=r"n_boot must be >= 100 \(a whole number\)"):
        forecast(pilot, cfg, items=100, n_boot=-5)
    # 100,000 replicates x 300 items = 3e7 draws: 689 MiB traced when drawn at once (measured), 124 MiB in blocks.
    big = analyze_pilot(Dataset(records=tuple(_pilot_records(300))))
    fc, peak = _peak_bytes(lambda: forecast(big, cfg, items=1000, n_boot=100_000, seed=1))
    assert not isinstance(fc, Exception), fc
    assert peak < 200 * MiB, f"peak {peak / MiB:.0f} MiB"


def test_boot_sums_blocks_match_one_draw_per_block(monkeypatch: pytest.MonkeyPatch) -> None:
    # Below one block the draws are exactly the one rng.integers call the forecast made before the
    # blocking (so existing intervals do not move); above it, each block is such a call in turn.
    fmod = sys.modules["accord.core.cost.forecast"]  # the package re-exports forecast(), shadowing the module
    table = np.random.default_rng(0).uniform(1, 60, (7, 3))

    def direct(rng: np.random.Generator, n_boot: int) -> np.ndarray:
        idx = rng.integers(0, 7, size=(n_boot, 7), dtype=np.int64)
        draws = np.bincount((idx + (np.arange(n_boot) * 7)[:, None]).ravel(), minlength=n_boot * 7)
        return draws.reshape(n_boot, 7).astype(np.float64) @ table

    assert np.array_equal(fmod._boot_sums(np.random.default_rng(5), 500, table), direct(np.random.default_rng(5), 500))
    monkeypatch.setattr(fmod, "_BOOT_BLOCK_CELLS", 7 * 100)  # blocks of 100 replicates
    rng = np.random.default_rng(5)
    want = np.concatenate([direct(rng, 100) for _ in range(5)] + [direct(rng, 3)])
    assert np.array_equal(fmod._boot_sums(np.random.default_rng(5), 503, table), want)


@pytest.fixture
def pilot_file(tmp_path: Path) -> Path:
    p = tmp_path / "pilot.jsonl"
    p.write_text("".join(json.dumps(record_to_dict(r)) + "\n" for r in _pilot_records(6)), encoding="utf-8")
    return p


def test_cli_boot_2e9_is_one_line_error_under_a_memory_cap(pilot_file: Path) -> None:
    # The review's `--boot 2e9` (89 GiB): as a whole number it reaches the forecast, which refuses it.
    proc = _run_limited("import sys\nfrom accord.cli import main\nsys.exit(main(sys.argv[1:]))",
                        "cost", "estimate", "--pilot", str(pilot_file), "--items", "100", "--boot", "2000000000",
                        as_mib=600)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "--max-bootstrap" in proc.stderr, proc.stderr


@pytest.mark.parametrize("value", ["2e9", "-5", "0"])
def test_cli_boot_rejects_non_counts(pilot_file: Path, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["cost", "estimate", "--pilot", str(pilot_file), "--items", "100", "--boot", value])
    assert ex.value.code == 2
    assert "--boot" in capsys.readouterr().err


def test_cli_max_bootstrap_option_raises_the_limit(pilot_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["cost", "estimate", "--pilot", str(pilot_file), "--items", "100", "--boot", "150000", "--json"]
    assert main(args) == 2
    assert "--max-bootstrap" in capsys.readouterr().err
    assert main(["--max-bootstrap", "200000", *args]) == 0


def test_cli_max_polygon_points_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    poly = Polygon(points=_circle(40, 50, 50, 20), label="car")
    recs = [Record(item_id=f"img{i}", annotator_id=a, label_set="regions", value=poly)
            for i in range(3) for a in ("a", "b")]
    f = tmp_path / "polys.jsonl"
    f.write_text("".join(json.dumps(record_to_dict(r)) + "\n" for r in recs), encoding="utf-8")
    assert main(["--max-polygon-points", "10", "report", str(f), "--no-checks", "--no-ledger"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "--max-polygon-points" in err, err
    assert "40 points" in err, err
    assert main(["--max-polygon-points", "40", "report", str(f), "--no-checks", "--no-ledger"]) in (0, 1)


def test_label_studio_brush_with_a_huge_image_is_refused_before_allocating() -> None:
    from accord.plugins.label_studio.brush import decode_brush_rle

    h, w = 32_767, 32_768  # h * w * 4 still fits the stream's 32-bit length: a 4 GiB buffer before
    bits = f"{h * w * 4:032b}" + f"{7:05b}" + "1111" * 4
    bits += "0" * (-len(bits) % 8)
    rle_bytes = [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]
    err, peak = _peak_bytes(lambda: decode_brush_rle(rle_bytes, h, w))
    assert isinstance(err, LimitExceededError), err
    assert "--max-image-pixels" in str(err)
    assert peak < MiB
