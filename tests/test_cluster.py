"""``accord report --dask`` on a real Dask cluster: the same report as one process, faults, bad input.

The cluster is a real :class:`distributed.LocalCluster` of 2 worker *processes* (one module-scoped
fixture). Equality is checked on the whole report JSON (only ``generated_at`` and the checks'
wall-clock ``durations_s`` are left out): the bundled sample, a seeded Label Studio export
(``benchmarks/bench_report_scale.py``'s generator) split into shards, the same data as one accord
Parquet file of several row groups, and shards that share items (joined into one group).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from accord.cluster.connect import connect, parse_spec  # noqa: E402
from accord.cluster.partitions import expand_inputs, plan_partitions  # noqa: E402
from accord.cluster.report import cluster_dataset, cluster_report  # noqa: E402
from accord.core.errors import ConfigError, ConversionError  # noqa: E402
from accord.core.qa.report import build_report  # noqa: E402
from accord.io import load_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "core" / "data" / "sample"
SEED = 7


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("bench_report_scale", ROOT / "benchmarks" / "bench_report_scale.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    d: dict[str, Any] = json.loads(json.dumps(report, allow_nan=False))
    d.pop("generated_at")
    d.get("checks", {}).pop("durations_s", None)  # wall-clock time of each check
    return d


def _diff(a: Any, b: Any, path: str = "$") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        return out + [d for k in a if k in b for d in _diff(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:80]} != {str(b)[:80]}"]


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    diffs = _diff(_comparable(got), _comparable(want))
    assert not diffs, f"{len(diffs)} differences, first: {diffs[:4]}"


def _single(inputs: list[Path], **kw: Any) -> dict[str, Any]:
    return build_report(load_dataset(inputs, **kw), seed=SEED)


def local_cluster() -> Iterator[Any]:
    """A client of a real LocalCluster of 2 worker processes (the ``client`` fixture of the cluster tests)."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


_client = pytest.fixture(scope="module", name="client")(local_cluster)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A seeded 900-task Choices export (2,700 annotations) as 3 shard files, with a cancelled
    annotation and a task nobody annotated (items without records)."""
    gen = _generator()
    d = tmp_path_factory.mktemp("shards")
    whole = d / "whole.json.tmp"
    gen.generate(whole, n_tasks=900, kind="choices", seed=3)
    tasks = json.loads(whole.read_text())
    whole.unlink()
    tasks[5]["annotations"][1]["was_cancelled"] = True
    tasks[5]["annotations"][1]["result"] = []
    tasks[400]["annotations"] = []
    (d / "label_config.xml").write_text(gen.CHOICES_CONFIG)
    paths = []
    for k in range(3):
        p = d / f"shard-{k}.json"
        p.write_text(json.dumps(tasks[k * 300:(k + 1) * 300]))
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def parquet_file(shards: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from accord.store.parquet import write_parquet

    p = tmp_path_factory.mktemp("pq") / "all.parquet"
    write_parquet(load_dataset(shards), p, row_group_size=400)
    return p


# --------------------------------------------------------------------------- equality


@pytest.mark.integration
def test_bundled_sample_equals_single_process(client: Any) -> None:
    inputs = [SAMPLE / "text_sentiment.json", SAMPLE / "images_boxes.json", SAMPLE / "text_ner.json"]
    report, dataset, run = cluster_report(client, inputs, seed=SEED)
    assert dataset == load_dataset(inputs)
    assert run.sections[:2] == ["agreement:sentiment", "consensus:sentiment"]
    # the report's own mergeable sections were folded on the workers too
    assert {"summary", "bias", "checks", "cost", "sampling", "gold:sentiment", "gold:objects", "gold:entities",
            "consensus_mismatches:sentiment", "conflicts:sentiment", "conflicts:objects",
            "conflicts:entities"} <= set(run.sections)
    assert run.n_partitions == 3
    _assert_same(report, _single(inputs))


@pytest.mark.integration
def test_sharded_label_studio_equals_single_process(client: Any, shards: list[Path]) -> None:
    report, _, run = cluster_report(client, shards, seed=SEED)
    assert run.n_groups == 3
    assert not run.gathered, run.gather_reason  # no record came to the client
    assert run.sections[:2] == ["agreement:sentiment", "consensus:sentiment"]
    assert {"summary", "conflicts:sentiment"} <= set(run.sections)
    want = _single(shards)
    _assert_same(report, want)
    # the figures the workers merged are really there (not an empty section)
    coef = report["agreement"]["sentiment"]["coefficients"]["krippendorff_alpha"]
    assert 0.5 < coef["estimate"] < 0.9
    assert coef["low"] < coef["estimate"] < coef["high"]


@pytest.mark.integration
@pytest.mark.parametrize("version", [2, 1])
def test_sharded_parquet_equals_single_process(client: Any, parquet_file: Path, version: int,
                                               tmp_path: Path) -> None:
    """Format 2 keeps each row group's items and submissions beside its records (the skipped
    tasks' in a row group of their own); format 1 has them in the footer and a rest partition."""
    path = parquet_file
    if version == 1:
        from accord.store.parquet import write_parquet

        path = write_parquet(load_dataset([parquet_file]), tmp_path / "v1.parquet", row_group_size=400,
                             format_version=1)
    parts = plan_partitions([path], target_rows=800)
    assert [p.kind for p in parts].count("row-groups") >= 3
    assert [p.kind for p in parts].count("parquet-rest") == (1 if version == 1 else 0)
    report, dataset, run = cluster_report(client, [path], seed=SEED, target_rows=800)
    whole = load_dataset([path])
    assert whole.items.keys() - {r.item_id for r in whole.records}  # skipped tasks: items without records
    assert not run.gathered  # every section folded on the workers: the client holds the outline only
    assert dataset == whole.outline()  # items in order, record-less items kept
    assert run.n_partitions == len(parts)
    _assert_same(report, _single([path]))


@pytest.mark.integration
def test_shards_sharing_items_are_joined(client: Any, shards: list[Path], tmp_path: Path) -> None:
    """A fourth file re-exports 20 tasks of shard 0 with another annotator's work: the two files are
    one group (an item never spans two), and the result is the single-process one."""
    tasks = json.loads(shards[0].read_text())[:20]
    for t in tasks:
        for a in t["annotations"]:
            a["completed_by"] = 9
            a["id"] += 100_000
    extra = shards[0].parent / "reexport.json"
    extra.write_text(json.dumps(tasks))
    try:
        inputs = [*shards, extra]
        report, _, run = cluster_report(client, inputs, seed=SEED)
        assert run.n_groups == 3
        _assert_same(report, _single(inputs))
    finally:
        extra.unlink()


# --------------------------------------------------------------------------- faults


@pytest.mark.integration
def test_worker_killed_mid_map_leaves_result_unchanged(client: Any, shards: list[Path], tmp_path: Path) -> None:
    inputs = []
    for k in range(8):  # more partitions than workers, so the map is still running at the kill
        tasks = json.loads(shards[k % 3].read_text())
        for t in tasks:  # distinct task ids per copy
            t["id"] += 10_000 * k
            for a in t["annotations"]:
                a["task"] = t["id"]
        p = tmp_path / f"s{k}.json"
        p.write_text(json.dumps(tasks))
        inputs.append(p)
    (tmp_path / "label_config.xml").write_text((shards[0].parent / "label_config.xml").read_text())
    pids = client.run(os.getpid)
    killed: list[int] = []

    def bar(it: Iterable[Any], total: int) -> Iterator[Any]:
        for n, fut in enumerate(it):
            if n == 0:  # one partition is done, the others are loading or queued
                victim = next(iter(client.run(os.getpid, workers=[next(iter(pids))]).values()))
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
            yield fut

    report, _, run = cluster_report(client, inputs, seed=SEED, bar=bar)
    assert killed
    assert run.n_partitions == 8
    assert not run.skipped
    _assert_same(report, _single(inputs))
    client.wait_for_workers(2, timeout=60)
    assert killed[0] not in client.run(os.getpid).values()  # the nanny started a fresh process


@pytest.mark.integration
def test_bad_partition_stops_with_one_line_naming_the_file(client: Any, shards: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text(shards[1].read_text()[:5000])  # cut in the middle of a task
    with pytest.raises(ConversionError, match=r"broken\.json looks truncated.*--skip-bad-partitions") as e:
        cluster_report(client, [shards[0], bad], seed=SEED)
    assert "\n" not in str(e.value)


@pytest.mark.integration
def test_skip_bad_partitions_reports_what_was_skipped(client: Any, shards: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text(shards[1].read_text()[:5000])
    report, _, run = cluster_report(client, [shards[0], bad, shards[2]], seed=SEED, skip_bad_partitions=True)
    assert [s.where for s in run.skipped] == [str(bad)]
    block = report.pop("cluster")
    assert block["n_skipped"] == 1
    assert block["skipped"][0]["partition"] == str(bad)
    assert "truncated" in block["skipped"][0]["error"]
    headline = report["summary"]["headline"].pop(0)
    assert "1 input partition(s) failed to parse" in headline
    assert str(bad) in headline
    _assert_same(report, _single([shards[0], shards[2]]))  # everything else is the report without it


@pytest.mark.integration
def test_damaged_parquet_row_group_is_named(client: Any, parquet_file: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(parquet_file).metadata
    col = meta.row_group(1).column(meta.row_group(1).num_columns - 1)  # the 'record' column of row group 1
    data = bytearray(parquet_file.read_bytes())
    start = col.data_page_offset
    data[start + 40:start + 400] = b"\xff" * 360
    bad = tmp_path / "damaged.parquet"
    bad.write_bytes(bytes(data))
    with pytest.raises(ConversionError, match=r"damaged\.parquet row group 1\b"):
        cluster_report(client, [bad], seed=SEED, target_rows=400)
    report, _, run = cluster_report(client, [bad], seed=SEED, target_rows=400, skip_bad_partitions=True)
    assert [s.where for s in run.skipped] == [f"{bad} row group 1"]
    assert report["cluster"]["n_skipped"] == 1
    assert report["summary"]["n_records"] < 2700


# --------------------------------------------------------------------------- connecting


@pytest.mark.integration
def test_tcp_spec_uses_a_running_scheduler(client: Any, shards: list[Path]) -> None:
    address = client.scheduler.address
    assert address.startswith("tcp://")
    with connect(address) as remote:
        assert len(remote.scheduler_info()["workers"]) == 2
        report, _, _ = cluster_report(remote, shards[:2], seed=SEED)
    _assert_same(report, _single(shards[:2]))
    assert client.status == "running"  # a remote cluster is left running


def test_bad_specs_say_what_is_expected() -> None:
    for bad in ("locl", "local:0", "local:x", "tcp://host", "http://h:1", "tcp://h:99999"):
        with pytest.raises(ConfigError, match=r"expected local, local:N|local:N must be a whole number"):
            parse_spec(bad)
    with pytest.raises(ConfigError, match="DASK_SCHEDULER_ADDRESS"):
        parse_spec(None, env={})
    assert parse_spec("", env={"DASK_SCHEDULER_ADDRESS": "tcp://10.0.0.5:8786"}).address == "tcp://10.0.0.5:8786"
    assert parse_spec("local:3").n_workers == 3


@pytest.mark.integration
def test_unreachable_scheduler_is_one_line() -> None:
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9 within 2 s"), \
            connect("tcp://127.0.0.1:9", timeout_s=2):
        pass
    assert time.perf_counter() - t0 < 30


def test_glob_expansion(shards: list[Path]) -> None:
    assert expand_inputs([shards[0].parent / "shard-*.json"]) == shards
    with pytest.raises(ConversionError, match="no file matches"):
        expand_inputs([shards[0].parent / "nothing-*.json"])


@pytest.mark.integration
def test_precomputed_section_must_fit(shards: list[Path], client: Any) -> None:
    ds, sections, _ = cluster_dataset(client, shards[:1], seed=SEED)
    other = load_dataset(shards[1:2])
    with pytest.raises(ConfigError, match="precomputed agreement of label set 'sentiment' does not fit"):
        build_report(other, seed=SEED, sections=sections)
    assert build_report(ds, seed=SEED, sections=sections)["agreement"]["sentiment"]


# --------------------------------------------------------------------------- the command


@pytest.mark.integration
def test_cli_report_dask_local_end_to_end(shards: list[Path], tmp_path: Path) -> None:
    pattern = str(shards[0].parent / "shard-*.json")
    env = {**os.environ, "PYTHONPATH": ""}
    runs = {}
    for mode, extra in (("dask", ["--dask", "local:2"]), ("single", [])):
        out = tmp_path / f"{mode}.json"
        proc = subprocess.run([sys.executable, "-m", "accord", "report", pattern, "--seed", str(SEED),
                               "--json", str(out), *extra], capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[mode] = (json.loads(out.read_text()), proc)
    err = runs["dask"][1].stderr
    assert "Dask local cluster of 2 workers" in err
    # Dask's own INFO chatter (and the "Batched Comm Closed" tracebacks of a normal shutdown,
    # which once failed CI here) is for -v only: the user sees accord's lines.
    assert "Traceback" not in err, err[-2000:]
    assert not [line for line in err.splitlines() if "distributed." in line], err[-2000:]
    assert "the records were gathered" not in err  # shards of one export: every record stayed on the workers
    _assert_same(runs["dask"][0], runs["single"][0])
    proc = subprocess.run([sys.executable, "-m", "accord", "report", pattern, "--dask", "local:zero"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "local:N must be a whole number" in proc.stderr


# --------------------------------------------------------------------------- the outline


def _outline_inputs(shards: list[Path], parquet_file: Path, tmp_path: Path
                    ) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """Input sets whose item order the client must rebuild from summaries alone: files, row groups
    with skipped tasks (format 2 and 1), one export in byte ranges, shards sharing items, and
    two tools' exports (item ids namespaced), with a gold reference."""
    from accord.store.parquet import write_parquet

    v1 = write_parquet(load_dataset([parquet_file]), tmp_path / "v1.parquet", row_group_size=400, format_version=1)
    tasks = json.loads(shards[0].read_text())[:20]
    for t in tasks:
        for a in t["annotations"]:
            a["completed_by"] = 9
            a["id"] += 100_000
    again = tmp_path / "reexport.json"
    again.write_text(json.dumps(tasks))
    whole = tmp_path / "whole.json"
    whole.write_text(json.dumps([t for s in shards for t in json.loads(s.read_text())]))
    (tmp_path / "whole.label_config.xml").write_text((shards[0].parent / "label_config.xml").read_text())
    coco = ROOT / "tests" / "fixtures" / "coco" / "instances_default.json"
    return {"sample": ([SAMPLE / "text_sentiment.json", SAMPLE / "images_boxes.json"], {}),
            "parquet-v2": ([parquet_file], {"target_rows": 800}), "parquet-v1": ([v1], {"target_rows": 800}),
            "ranges": ([whole], {"target_bytes": 1 << 15}), "shared-items": ([*shards, again], {}),
            "two-tools": ([shards[0], coco], {}),
            "with-gold": ([shards[0]], {"reference": SAMPLE / "text_sentiment.json"})}


@pytest.mark.integration
def test_the_outline_is_the_assembled_datasets_without_gathering_a_record(
        client: Any, shards: list[Path], parquet_file: Path, tmp_path: Path) -> None:
    """gather='auto' keeps the records on the workers when every group is one item-major partition,
    and the outline then equals the assembled dataset's; inputs sharing items are gathered (a
    joined group), and gather=False says why it cannot."""
    stays = {"parquet-v2", "parquet-v1", "ranges", "two-tools"}  # the sample's two exports share task ids
    for name, (inputs, opts) in _outline_inputs(shards, parquet_file, tmp_path).items():
        got, _, run = cluster_dataset(client, inputs, seed=SEED, keep_groups=True, gather="auto", **opts)
        try:
            want = load_dataset(inputs, reference=opts.get("reference"))
            assert run.gathered == (name not in stays), (name, run.gather_reason)
            if run.gathered:
                assert got == want, name
                assert run.gather_reason == "some inputs share items (their partitions were joined)", name
                continue
            outline = want.outline()
            assert got.item_ids == outline.item_ids, name
            assert got == outline, name
            assert run.n_partitions >= (3 if name in ("parquet-v2", "ranges") else 2), name
        finally:
            run.release(client)
    inputs, opts = _outline_inputs(shards, parquet_file, tmp_path)["shared-items"]
    with pytest.raises(ConversionError, match="cannot stay on the workers: some inputs share items"):
        cluster_dataset(client, inputs, keep_groups=True, gather=False, **opts)
    with pytest.raises(ValueError, match="needs keep_groups=True"):
        cluster_dataset(client, [shards[0]], gather="auto")


def test_interleaved_records_are_not_item_major() -> None:
    """The worker-side check that lets records stay: items interleaved in the records, or a grouping
    whose first passes come out of item order, send the client back to gathering."""
    from accord.cluster.report import _item_major
    from accord.core.model import Classification, Dataset, Item, Record, Submission

    def rec(item: str, who: str) -> Record:
        return Record(item_id=item, annotator_id=who, label_set="s", value=Classification(label="x"))

    items = {i: Item(item_id=i) for i in ("a", "b", "c")}
    ok = Dataset(records=(rec("a", "u"), rec("a", "v"), rec("b", "u"), rec("c", "u")), items=items)
    assert _item_major(ok) == (True, "a", "c")
    mixed = Dataset(records=(rec("a", "u"), rec("b", "u"), rec("a", "v")), items=items)
    assert _item_major(mixed)[0] is False
    backwards = Dataset(records=(rec("b", "u"), rec("a", "u")), items=items)
    assert _item_major(backwards)[0] is False
    # records in order, but a pass of b listed before a's: the grouping (first passes first) is b, a
    passes = Dataset(records=(rec("a", "u"), rec("b", "v")), items=items,
                     submissions=(Submission(item_id="b", annotator_id="v"), Submission(item_id="a", annotator_id="u")))
    assert _item_major(passes)[0] is False
