"""Benchmark: COCO bbox AP/AR, accord vs pycocotools vs faster-coco-eval (same run).

Workload (``--scale 1``): 5,000 images, about 10 reference boxes each (0-20,
10 categories, 10 % crowd, sizes spanning the small/medium/large ranges), and for
each reference 0-2 jittered detections (20 % with a wrong category) plus 0-2
random false detections per image, scores uniform in [0, 1). Seeded.

Times cover the whole evaluation from in-memory input: pycocotools ``COCOeval``
``evaluate + accumulate + summarize`` after ``loadRes``; faster-coco-eval's
``COCOeval_faster`` likewise; accord's ``coco_evaluate`` on the same rows as
arrays. "agree" means the 12 stats equal pycocotools' to 1e-6.

Run: ``.venv/bin/python benchmarks/bench_coco.py [--scale 1.0] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections.abc import Callable
from typing import Any

import faster_coco_eval
import numpy as np
from faster_coco_eval import COCOeval_faster
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from accord.core.matching.coco_eval import coco_evaluate


def make(n_img: int, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    anns: list[dict[str, Any]] = []
    dts: list[dict[str, Any]] = []
    for img in range(1, n_img + 1):
        for _ in range(int(rng.integers(0, 21))):
            x, y = rng.uniform(0, 600, 2)
            w, h = np.exp(rng.uniform(np.log(4), np.log(300), 2))
            cat = int(rng.integers(1, 11))
            anns.append({"id": len(anns) + 1, "image_id": img, "category_id": cat, "bbox": [x, y, w, h],
                         "area": float(w * h), "iscrowd": int(rng.random() < 0.1)})
            for _ in range(int(rng.integers(0, 3))):
                j = rng.normal(0, 0.1, 4) * np.array([w, h, w, h])
                dts.append({"image_id": img, "category_id": cat if rng.random() < 0.8 else int(rng.integers(1, 11)),
                            "bbox": [x + j[0], y + j[1], max(w + j[2], 1.0), max(h + j[3], 1.0)],
                            "score": float(rng.random())})
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0, 600, 2)
            w, h = np.exp(rng.uniform(np.log(4), np.log(300), 2))
            dts.append({"image_id": img, "category_id": int(rng.integers(1, 11)), "bbox": [x, y, w, h],
                        "score": float(rng.random())})
    dataset = {"images": [{"id": i} for i in range(1, n_img + 1)],
               "categories": [{"id": c} for c in range(1, 11)], "annotations": anns}
    return dataset, dts


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run_pycocotools(dataset: dict[str, Any], dts: list[dict[str, Any]]) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes([dict(d) for d in dts]), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def run_faster(dataset: dict[str, Any], dts: list[dict[str, Any]]) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = faster_coco_eval.COCO(dataset, use_deepcopy=True)
        ev = COCOeval_faster(gt, gt.loadRes([dict(d) for d in dts]), "bbox", print_function=lambda *a: None)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def run_accord(dataset: dict[str, Any], dts: list[dict[str, Any]]) -> np.ndarray:
    anns = dataset["annotations"]
    ref = {"image_id": np.array([a["image_id"] for a in anns]), "category": np.array([a["category_id"] for a in anns]),
           "bbox": np.array([a["bbox"] for a in anns]), "area": np.array([a["area"] for a in anns]),
           "iscrowd": np.array([a["iscrowd"] for a in anns])}
    cand = {"image_id": np.array([d["image_id"] for d in dts]), "category": np.array([d["category_id"] for d in dts]),
            "bbox": np.array([d["bbox"] for d in dts]), "score": np.array([d["score"] for d in dts])}
    return np.asarray(coco_evaluate(ref, cand, image_ids=[i["id"] for i in dataset["images"]]).stats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    n_img = max(10, int(5000 * args.scale))
    dataset, dts = make(n_img, seed=0)
    t_ours, ours = timed(lambda: run_accord(dataset, dts), args.repeat)
    t_py, py = timed(lambda: run_pycocotools(dataset, dts), args.repeat)
    t_fast, fast = timed(lambda: run_faster(dataset, dts), args.repeat)
    print(f"workload: {n_img:,} images, {len(dataset['annotations']):,} reference boxes, {len(dts):,} detections, "
          f"10 categories, bbox")
    head = f"{'implementation':<22} {'seconds':>8} {'vs accord':>10}  agree(1e-6 vs pycocotools)  AP      AR_100"
    print(head)
    print("-" * len(head))
    for name, t, st in (("accord coco_evaluate", t_ours, ours), ("pycocotools 2.0", t_py, py),
                        ("faster-coco-eval", t_fast, fast)):
        agree = bool(np.allclose(st, py, rtol=0, atol=1e-6))
        print(f"{name:<22} {t:8.3f} {t / t_ours:9.2f}x  {'yes' if agree else 'NO':<26}  {st[0]:.4f}  {st[8]:.4f}")


if __name__ == "__main__":
    main()
