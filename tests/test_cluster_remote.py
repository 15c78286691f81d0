"""``accord report --dask`` on inputs named by URL, read through fsspec (issue #17: "remote
filesystems through fsspec URLs where the user has them installed").

The remote filesystem here is real HTTP: a threaded ``http.server`` on localhost that answers
``Range`` requests (206 with ``Content-Range``), as object stores and CDNs do, read by fsspec's
HTTP filesystem (aiohttp). Workers of a real 2-process LocalCluster read their own byte ranges
and row groups from it; the report must equal the single-process report of the same files read
locally.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fsspec")
pytest.importorskip("aiohttp")
distributed = pytest.importorskip("distributed")

from test_cluster import _assert_same, _generator, local_cluster  # noqa: E402

from accord.cli import main  # noqa: E402
from accord.cluster.partitions import expand_inputs, plan_partitions  # noqa: E402
from accord.cluster.report import cluster_report  # noqa: E402
from accord.core.errors import ConversionError  # noqa: E402
from accord.core.qa.report import build_report  # noqa: E402
from accord.io import load_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = 11
CVAT_XML = ROOT / "tests" / "fixtures" / "cvat" / "images_train.xml"


class _Ranged(http.server.SimpleHTTPRequestHandler):
    """Static files with single byte ranges (``Range: bytes=a-b``); a log of what was asked."""

    ranges_served: list[str] = []  # noqa: RUF012 - the class is the server's shared state

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        header = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not header or not path.is_file():
            return super().send_head()
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
        size = path.stat().st_size
        if not m:
            self.send_error(416)
            return None
        a = int(m.group(1))
        z = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
        if a > z:
            self.send_error(416)
            return None
        f = path.open("rb")
        f.seek(a)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {a}-{z}/{size}")
        self.send_header("Content-Length", str(z - a + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        type(self).ranges_served.append(f"{self.path} {a}-{z}")
        self._left = z - a + 1
        return f

    def copyfile(self, source: Any, outputfile: Any) -> None:
        left = getattr(self, "_left", None)
        if left is None:
            super().copyfile(source, outputfile)
            return
        while left > 0:
            chunk = source.read(min(left, 1 << 16))
            if not chunk:
                break
            outputfile.write(chunk)
            left -= len(chunk)
        self._left = None


_client = pytest.fixture(scope="module", name="client")(local_cluster)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on localhost: (folder, base URL)."""
    root = tmp_path_factory.mktemp("served")

    def handler(*a: Any, **kw: Any) -> _Ranged:
        return _Ranged(*a, directory=str(root), **kw)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def export(served: tuple[Path, str]) -> Path:
    """A seeded 900-task Choices export in the served folder, with its labeling config beside it."""
    gen = _generator()
    root, _ = served
    (root / "project").mkdir()
    path = root / "project" / "export.json"
    gen.generate(path, n_tasks=900, kind="choices", seed=9)
    (root / "project" / "label_config.xml").write_text(gen.CHOICES_CONFIG)
    return path


@pytest.mark.integration
def test_one_remote_export_is_read_in_byte_ranges_and_equals_the_local_report(
        client: Any, served: tuple[Path, str], export: Path) -> None:
    _, base = served
    url = f"{base}/project/export.json"
    target = export.stat().st_size // 5
    parts = plan_partitions([url], target_bytes=target)
    assert [p.kind for p in parts] == ["json-range"] * len(parts)
    assert len(parts) >= 4
    assert parts[0].label_config is not None
    assert "<Choices" in parts[0].label_config
    _Ranged.ranges_served.clear()
    report, dataset, run = cluster_report(client, [url], seed=SEED, target_bytes=target)
    # every worker read its own tasks with one ranged request
    starts = {p.byte_range[0] for p in parts}
    asked = {int(r.split()[1].split("-")[0]) for r in _Ranged.ranges_served if r.startswith("/project/export.json")}
    assert starts <= asked
    assert run.n_partitions == len(parts)
    local = load_dataset([export])
    assert dataset == local.outline()  # the records stayed on the workers
    _assert_same(report, build_report(local, seed=SEED))


@pytest.mark.integration
def test_a_remote_parquet_file_is_read_by_row_groups(client: Any, served: tuple[Path, str], export: Path) -> None:
    from accord.store.parquet import write_parquet

    root, base = served
    local = load_dataset([export])
    write_parquet(local, root / "all.parquet", row_group_size=700)
    parts = plan_partitions([f"{base}/all.parquet"], target_rows=700)
    assert [p.kind for p in parts].count("row-groups") >= 3
    report, dataset, _ = cluster_report(client, [f"{base}/all.parquet"], seed=SEED, target_rows=700)
    assert dataset == local.outline()  # the records stayed on the workers
    _assert_same(report, build_report(load_dataset([root / "all.parquet"]), seed=SEED))


@pytest.mark.integration
def test_remote_shards_by_pattern_and_a_small_cvat_file(client: Any, served: tuple[Path, str], export: Path) -> None:
    root, base = served
    tasks = json.loads(export.read_text())
    (root / "shards").mkdir()
    for k in range(3):
        (root / "shards" / f"part-{k}.json").write_text(json.dumps(tasks[k * 300:(k + 1) * 300]))
    (root / "shards" / "label_config.xml").write_text((export.parent / "label_config.xml").read_text())
    urls = expand_inputs([f"{base}/shards/part-*.json"])
    assert urls == [f"{base}/shards/part-{k}.json" for k in range(3)]
    report, _, run = cluster_report(client, urls, seed=SEED)
    assert run.n_partitions == 3
    local = sorted((root / "shards").glob("part-*.json"))
    _assert_same(report, build_report(load_dataset(local), seed=SEED))
    # a whole small file of another format: copied to the worker and read by the same loader
    shutil.copy(CVAT_XML, root / "cvat.xml")
    report, _, _ = cluster_report(client, [f"{base}/cvat.xml"], seed=SEED)
    _assert_same(report, build_report(load_dataset([root / "cvat.xml"]), seed=SEED))


@pytest.mark.integration
def test_a_missing_or_damaged_remote_file_is_one_line_naming_the_url(
        client: Any, served: tuple[Path, str], export: Path) -> None:
    root, base = served
    with pytest.raises(ConversionError, match=r"/nowhere/\*\.json") as e:
        expand_inputs([f"{base}/nowhere/*.json"])
    assert "\n" not in str(e.value)
    with pytest.raises(ConversionError, match=r"/gone\.json: cannot read it") as e:
        cluster_report(client, [f"{base}/gone.json"], seed=SEED)
    assert "\n" not in str(e.value)
    (root / "broken").mkdir()
    (root / "broken" / "x.json").write_text('[{"id": 1, "data": {"text": "a"}, "annotations": [}]')
    with pytest.raises(ConversionError) as e:
        cluster_report(client, [f"{base}/broken/x.json"], seed=SEED)
    text = str(e.value)
    assert f"{base}/broken/x.json" in text
    assert "accord-remote-" not in text
    assert "\n" not in text


def test_a_url_without_dask_says_to_add_it(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["report", "http://127.0.0.1:9/export.json", "--no-ledger"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert "URLs are read with --dask" in err
    assert "\n" not in err


@pytest.mark.integration
def test_the_command_reads_a_url_pattern_on_a_local_cluster(served: tuple[Path, str], export: Path,
                                                            tmp_path: Path) -> None:
    # what a user types: accord report 'https://host/shards/*.json' --dask local:2
    import os
    import subprocess
    import sys

    root, base = served
    (root / "cli").mkdir()
    tasks = json.loads(export.read_text())
    for k in range(2):
        (root / "cli" / f"part-{k}.json").write_text(json.dumps(tasks[k * 450:(k + 1) * 450]))
    (root / "cli" / "label_config.xml").write_text((export.parent / "label_config.xml").read_text())
    out = tmp_path / "remote.json"
    proc = subprocess.run([sys.executable, "-m", "accord", "report", f"{base}/cli/part-*.json", "--seed", str(SEED),
                           "--json", str(out), "--dask", "local:2", "--no-ledger"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    local = sorted((root / "cli").glob("part-*.json"))
    _assert_same(json.loads(out.read_text()), build_report(load_dataset(local), seed=SEED))
