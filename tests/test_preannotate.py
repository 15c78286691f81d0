"""``accord preannotate``: an image folder -> JSON Lines / COCO, in-process and on a real LocalCluster.

The images are generated: a light background with dark rectangles drawn at known places, so the
``contours`` predictor's boxes have a known answer (the rectangles' pixel extents).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accord.cluster.preannotate import PredictorSpec, preannotate_folder
from accord.core.errors import BadPredictorError, ConversionError
from accord.core.formats.jsonl import loads_dataset

PIL = pytest.importorskip("PIL.Image")

# image name -> rectangles (x0, y0, x1, y1), pixel columns x0..x1-1 and rows y0..y1-1 dark
SHAPES = {f"img{k:02d}.png": [(8 + k, 10, 30 + k, 26), (40, 30 + k, 56, 50 + k)] for k in range(10)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("images")
    for name, rects in SHAPES.items():
        im = np.full((64, 72, 3), 230, np.uint8)
        for x0, y0, x1, y1 in rects:
            im[y0:y1, x0:x1] = 20
        sub = d / ("b" if name >= "img05" else "a")
        sub.mkdir(exist_ok=True)
        PIL.fromarray(im).save(sub / name)
    return d


def _boxes(ds: Any) -> dict[str, list[tuple[float, ...]]]:
    out: dict[str, list[tuple[float, ...]]] = {}
    for r in ds.records:
        if r.label_set == "boxes":
            v = r.value
            out.setdefault(Path(r.item_id).name, []).append((v.x, v.y, v.x + v.width, v.y + v.height))
    return {k: sorted(v) for k, v in out.items()}


def test_in_process_boxes_are_the_drawn_rectangles(folder: Path) -> None:
    ds = preannotate_folder(folder, PredictorSpec(name="contours", params={"kinds": "box,polygon"}), batch_size=3)
    assert sorted(ds.items) == sorted(f"{'b' if n >= 'img05' else 'a'}/{n}" for n in SHAPES)
    got = _boxes(ds)
    for name, rects in SHAPES.items():
        # a box spans the dark pixels' outer edges: x0..x1 (exclusive end) in pixel coordinates
        np.testing.assert_allclose(np.array(got[name]), np.array(sorted(rects)), atol=1.0, err_msg=name)
    assert {r.label_set for r in ds.records} == {"boxes", "polygons"}
    assert all(r.source == "model" and r.annotator_id == "model:contours" for r in ds.records)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.integration
def test_cluster_output_equals_in_process_and_model_loads_once_per_worker(folder: Path, client: Any) -> None:
    from accord.cluster import preannotate as mod

    spec = PredictorSpec(name="contours", params={"kinds": "box,polygon,mask"})
    local = preannotate_folder(folder, spec, batch_size=2)
    remote = preannotate_folder(folder, spec, client=client, batch_size=2)
    assert remote == local
    assert len(remote.records) >= 30
    cached = client.run(lambda: sorted(mod._CACHE))  # each worker built the predictor once, under one key
    assert set(map(tuple, cached.values())) <= {(spec.key,)}
    assert any(cached.values())


def test_unreadable_image_and_unknown_model_are_named(folder: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ConversionError, match=r"broken\.png: not a readable image"):
        preannotate_folder(tmp_path, PredictorSpec(name="contours"))
    with pytest.raises(BadPredictorError, match=r"unknown predictor 'nope'; known: \[.*'contours'"):
        preannotate_folder(folder, PredictorSpec(name="nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="holds no image"):
        preannotate_folder(tmp_path / "empty", PredictorSpec(name="contours"))


@pytest.mark.integration
def test_cli_jsonl_in_process_and_coco_on_dask(folder: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": ""}
    jl, coco = tmp_path / "pre.jsonl", tmp_path / "pre.json"
    base = [sys.executable, "-m", "accord", "preannotate", str(folder), "--model", "contours", "--param", "kinds=box"]
    p1 = subprocess.run([*base, "-o", str(jl)], capture_output=True, text=True, timeout=120, env=env)
    assert p1.returncode == 0, p1.stderr[-1500:]
    p2 = subprocess.run([*base, "-o", str(coco), "--dask", "local:2"], capture_output=True, text=True, timeout=300,
                        env=env)
    assert p2.returncode == 0, p2.stderr[-1500:]
    ds = loads_dataset(jl.read_text())
    got = _boxes(ds)
    assert sorted(got) == sorted(SHAPES)
    for name, rects in SHAPES.items():
        np.testing.assert_allclose(np.array(got[name]), np.array(sorted(rects)), atol=1.0, err_msg=name)
    data = json.loads(coco.read_text())
    assert len(data["images"]) == 10
    assert len(data["annotations"]) == 20
    widths = sorted(a["bbox"][2] for a in data["annotations"])
    assert widths == pytest.approx(sorted(x1 - x0 for rs in SHAPES.values() for x0, _, x1, _ in rs), abs=1.0)
    p3 = subprocess.run([*base, "-o", str(tmp_path / "x.txt")], capture_output=True, text=True, timeout=60, env=env)
    assert p3.returncode == 2
    assert "name it .jsonl" in p3.stderr
