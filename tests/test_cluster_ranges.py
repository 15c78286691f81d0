"""One big Label Studio export read by many Dask workers: byte ranges cut between tasks.

The scanner (:mod:`accord.cluster.json_split`) is checked against ``json.loads`` on random
arrays whose strings are full of brackets, commas, quotes and backslashes, cut into chunks as
small as one byte. The ranges are then read on a real ``LocalCluster`` of 2 worker processes
and the report must equal the single-process report of the same file: on a seeded export, and
on real Label Studio 1.23 payloads (tests/fixtures/label_studio) cut one task per range.
"""

from __future__ import annotations

import io
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from accord.cluster.json_split import array_splits, scan_array
from accord.core.errors import ConversionError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "label_studio"
SEED = 7


# --------------------------------------------------------------------------- the scanner


def _random_value(rnd: random.Random, depth: int = 0) -> Any:
    alphabet = '\\"[]{},: ab\u00e9\u4e2d\n'

    def text() -> str:
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 8)))

    c = rnd.random()
    if depth > 3 or c < 0.3:
        return rnd.choice([1, -2.5e-7, None, True, text()])
    if c < 0.6:
        return [_random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    return {text(): _random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}


def _elements(data: bytes, chunk: int) -> list[Any] | None:
    scan = scan_array(io.BytesIO(data), chunk_bytes=chunk)
    if scan is None:
        return None
    bounds = [scan.open_at, *scan.commas.tolist(), scan.close_at]
    parts = [data[a + 1:z] for a, z in itertools.pairwise(bounds)]
    if len(parts) == 1 and not parts[0].strip():
        return []
    return [json.loads(p) for p in parts]


def test_scanner_finds_the_array_commas_of_random_json() -> None:
    rnd = random.Random(1)
    for _ in range(1500):
        arr = [_random_value(rnd) for _ in range(rnd.randint(0, 6))]
        data = json.dumps(arr, ensure_ascii=rnd.random() < 0.5, indent=rnd.choice([None, 1])).encode()
        for chunk in (1, 2, 3, 7, 4096):
            assert _elements(data, chunk) == arr


@pytest.mark.parametrize("text", ["", "{}", '"[1,2]"', "[1,2", "[1,2] x", "[1,2]]", "[[1,2],[3]] [4]", "  7"])
def test_scanner_refuses_what_is_not_one_array(text: str) -> None:
    for chunk in (1, 3, 64):
        assert scan_array(io.BytesIO(text.encode()), chunk_bytes=chunk) is None


def test_scanner_skips_a_utf8_bom_and_escaped_backslashes() -> None:
    data = b"\xef\xbb\xbf" + json.dumps(["a\\", "b\\\\\"],", {"c": "\\\\"}]).encode()
    assert _elements(data, 2) == ["a\\", "b\\\\\"],", {"c": "\\\\"}]


def test_array_splits_cover_every_element_once(tmp_path: Path) -> None:
    rnd = random.Random(2)
    arr = [{"id": k, "v": _random_value(rnd)} for k in range(400)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(arr, indent=1))
    size = path.stat().st_size
    ranges = array_splits(path, target_bytes=size // 7)
    assert ranges is not None
    assert 5 <= len(ranges) <= 8
    data = path.read_bytes()
    got = []
    for r in ranges:
        elems = json.loads(b"[" + data[r.start:r.end] + b"]")
        assert len(elems) == r.count
        assert elems[0]["id"] == r.first
        got += elems
    assert got == arr
    assert array_splits(path, target_bytes=10 * size)[0].count == 400  # type: ignore[index]
    (tmp_path / "empty.json").write_text("[ ]")
    assert array_splits(tmp_path / "empty.json", target_bytes=1) is None


# --------------------------------------------------------------------------- on a cluster

distributed = pytest.importorskip("distributed")

from test_cluster import _assert_same, _generator, local_cluster  # noqa: E402

from accord.cluster.partitions import plan_partitions  # noqa: E402
from accord.cluster.report import cluster_report  # noqa: E402
from accord.core.qa.report import build_report  # noqa: E402
from accord.io import load_dataset  # noqa: E402

_client = pytest.fixture(scope="module", name="client")(local_cluster)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded 900-task Choices export, one file, with a cancelled annotation, a task nobody
    annotated and a model prediction."""
    gen = _generator()
    d = tmp_path_factory.mktemp("export")
    path = d / "project.json"
    gen.generate(path, n_tasks=900, kind="choices", seed=5)
    tasks = json.loads(path.read_text())
    tasks[5]["annotations"][1]["was_cancelled"] = True
    tasks[5]["annotations"][1]["result"] = []
    tasks[400]["annotations"] = []
    tasks[401]["predictions"] = [{"id": 1, "model_version": "m1", "score": 0.5,
                                  "result": tasks[401]["annotations"][0]["result"]}]
    path.write_text(json.dumps(tasks, indent=2))
    (d / "label_config.xml").write_text(gen.CHOICES_CONFIG)
    return path


def _target(path: Path, n: int) -> int:
    return path.stat().st_size // n


@pytest.mark.integration
def test_one_export_in_ranges_equals_single_process(client: Any, export: Path) -> None:
    target = _target(export, 6)
    parts = plan_partitions([export], target_bytes=target)
    assert [p.kind for p in parts] == ["json-range"] * len(parts)
    assert len(parts) >= 5
    assert sum(p.n_rows for p in parts) == 900
    assert f"{export} bytes " in parts[1].where
    report, dataset, run = cluster_report(client, [export], seed=SEED, target_bytes=target)
    assert run.n_partitions == len(parts)
    assert run.n_groups == len(parts)
    # Dawid-Skene ran as map-reduce rounds over the ranges (its figures checked in _assert_same)
    assert [s for s in run.sections if s.startswith("consensus:")] == ["consensus:sentiment"]
    assert dataset == load_dataset([export]).outline()  # every record stayed on the workers
    _assert_same(report, build_report(load_dataset([export]), seed=SEED))


@pytest.mark.integration
@pytest.mark.parametrize("name", ["export_as_json_bbox.json", "export_snapshot_full.json",
                                  "export_download_sync_text.json"])
def test_real_label_studio_exports_cut_one_task_per_range(client: Any, name: str) -> None:
    path = FIXTURES / name
    # a one-byte target cuts at every boundary between tasks: each of the three tasks is a range
    parts = plan_partitions([path], target_bytes=1)
    assert [(p.kind, p.first_task, p.n_rows) for p in parts] == [("json-range", k, 1) for k in range(3)]
    report, dataset, _ = cluster_report(client, [path], seed=SEED, target_bytes=1)
    assert dataset == load_dataset([path]).outline()  # every record stayed on the workers
    _assert_same(report, build_report(load_dataset([path]), seed=SEED))


def test_small_json_min_and_coco_results_stay_whole(tmp_path: Path, export: Path) -> None:
    assert [p.kind for p in plan_partitions([export])] == ["file"]  # under two targets
    json_min = ROOT / "tests" / "fixtures" / "third_party" / "label_studio_converter" / \
        "test_export_json_min_data.json"
    assert [p.kind for p in plan_partitions([json_min], target_bytes=64)] == ["file"]
    coco = tmp_path / "results.json"
    coco.write_text(json.dumps([{"image_id": k, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}
                                for k in range(50)]))
    assert [p.kind for p in plan_partitions([coco], target_bytes=64)] == ["file"]


@pytest.mark.integration
def test_a_task_id_in_two_ranges_stops_as_single_process(client: Any, export: Path, tmp_path: Path) -> None:
    tasks = json.loads(export.read_text())
    tasks[850]["id"] = tasks[3]["id"]
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(tasks, indent=2))
    (tmp_path / "label_config.xml").write_text((export.parent / "label_config.xml").read_text())
    with pytest.raises(ConversionError) as single:
        load_dataset([path])
    with pytest.raises(ConversionError) as cluster:
        cluster_report(client, [path], seed=SEED, target_bytes=_target(path, 4))
    assert "appears twice in this export (tasks #3 and #850)" in str(single.value)
    assert str(cluster.value) == str(single.value)


@pytest.mark.integration
def test_a_damaged_range_is_named_by_its_bytes(client: Any, export: Path, tmp_path: Path) -> None:
    text = export.read_text()
    cut = text.index('"result"', len(text) // 2)
    path = tmp_path / "damaged.json"
    path.write_text(text[:cut] + '"result": [,' + text[cut + len('"result": ['):])
    (tmp_path / "label_config.xml").write_text((export.parent / "label_config.xml").read_text())
    target = _target(path, 4)
    with pytest.raises(ConversionError, match=r"damaged\.json bytes \d+-\d+ \(tasks #\d+-#\d+\).*"
                                              r"--skip-bad-partitions") as e:
        cluster_report(client, [path], seed=SEED, target_bytes=target)
    assert "\n" not in str(e.value)
    report, _, run = cluster_report(client, [path], seed=SEED, target_bytes=target, skip_bad_partitions=True)
    assert len(run.skipped) == 1
    assert "bytes" in run.skipped[0].where
    assert report["cluster"]["n_skipped"] == 1
    assert 0 < report["summary"]["n_items"] < 900


def test_unbalanced_brackets_read_the_file_whole_and_name_the_line(export: Path, tmp_path: Path) -> None:
    # a stray '}' closes the top-level array early for the scanner: no ranges, and the whole-file
    # reader gives the line and column, as the single-process report does
    text = export.read_text()
    cut = text.index('"result"', len(text) // 2)
    path = tmp_path / "unbalanced.json"
    path.write_text(text[:cut] + '"result": [}' + text[cut + len('"result": ['):])
    (tmp_path / "label_config.xml").write_text((export.parent / "label_config.xml").read_text())
    assert [p.kind for p in plan_partitions([path], target_bytes=_target(path, 4))] == ["file"]
    with pytest.raises(ConversionError, match=r"unbalanced\.json.*line \d+ column \d+"):
        load_dataset([path])


def test_balanced_target_gives_about_four_ranges_per_worker(tmp_path: Path) -> None:
    from accord.cluster.report import MIN_TARGET_BYTES, balanced_target_bytes

    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(100 << 20)  # a sparse 100 MiB file: only its size is read
    assert balanced_target_bytes([big], 2) == (100 << 20) // 8  # 8 ranges of 12.5 MiB
    assert balanced_target_bytes([big], 1) == (100 << 20) // 4
    assert balanced_target_bytes([big] * 8, 2) == 32 << 20  # capped: a worker's memory stays bounded
    assert balanced_target_bytes([tmp_path / "small.json"], 2) == MIN_TARGET_BYTES  # unreadable: planner's to say
    assert balanced_target_bytes([big], 0) == (100 << 20) // 4  # no worker registered yet counts as one


def test_row_group_partitions_are_sized_to_the_workers(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    from accord.cluster.partitions import DEFAULT_TARGET_ROWS, plan_partitions
    from accord.cluster.report import balanced_target_rows
    from accord.store.parquet import write_parquet

    gen = _generator()
    src = tmp_path / "project.json"
    gen.generate(src, n_tasks=600, kind="choices", seed=3)
    (tmp_path / "label_config.xml").write_text(gen.CHOICES_CONFIG)
    pq = tmp_path / "all.parquet"
    write_parquet(load_dataset([src]), pq, row_group_size=60)  # 1,800 records in 30 row groups
    assert balanced_target_rows([pq], 2) == 1800 // 8
    rows = [p for p in plan_partitions([pq], target_rows=balanced_target_rows([pq], 2)) if p.kind == "row-groups"]
    assert 8 <= len(rows) <= 10  # about four per worker, whole row groups each
    assert sum(p.n_rows for p in rows) == 1800
    assert balanced_target_rows([pq] * 400, 2) == DEFAULT_TARGET_ROWS  # capped: a worker's memory stays bounded
    assert balanced_target_rows([src], 2) == DEFAULT_TARGET_ROWS  # no Parquet: nothing to size


@pytest.mark.integration
def test_without_a_target_one_export_is_spread_over_the_workers(client: Any, tmp_path: Path) -> None:
    gen = _generator()
    path = tmp_path / "project.json"
    gen.generate(path, n_tasks=6000, kind="choices", seed=2)
    (tmp_path / "label_config.xml").write_text(gen.CHOICES_CONFIG)
    assert path.stat().st_size > 3 << 20  # at least three 1 MiB ranges on 2 workers
    report, dataset, run = cluster_report(client, [path], seed=SEED)
    assert run.n_partitions >= 3
    assert dataset == load_dataset([path]).outline()  # every record stayed on the workers
    _assert_same(report, build_report(load_dataset([path]), seed=SEED))
