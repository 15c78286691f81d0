"""Benchmark: CVAT API annotations -> accord records, beside cvat-sdk's own parse of the same JSON.

Workload (``--scale 1``): an image task of 2,000 frames (1280x720) with three jobs over
all frames (two consensus replicas and a ground-truth job); per frame and job about 10
rectangles (with a select attribute), 2 polygons of 8 vertices and 1 tag. Seeded.

"ours" is :func:`accord.plugins.cvat.client.from_cvat_api` on the JSON dicts (what
``accord cvat report`` does after the download). "peer" is cvat-sdk 2.80 turning the same
JSON into its generated ``LabeledData`` models (type-checked), the step every SDK
download pays. The two do different work (ours builds the QA model; the SDK validates
types), so the ratio says whether conversion is a bottleneck next to the SDK's own
parsing, not who is faster at one job. "agree" means both give the same number of
shapes and tags and the same rectangle coordinates.

Run: ``.venv/bin/python benchmarks/bench_cvat.py [--scale 1.0] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from cvat_sdk.api_client import Configuration, models
from cvat_sdk.api_client.model_utils import validate_and_convert_types

from accord.core.model import Box
from accord.plugins.cvat.client import TaskPayload, from_cvat_api


def make(n_frames: int, seed: int) -> TaskPayload:
    rng = np.random.default_rng(seed)
    color = {"id": 7, "name": "color", "mutable": False, "input_type": "select", "values": ["red", "blue"],
             "default_value": "red"}
    labels = [{"id": 1, "name": "car", "attributes": [color], "sublabels": []},
              {"id": 2, "name": "person", "attributes": [], "sublabels": []},
              {"id": 3, "name": "day", "attributes": [], "sublabels": []}]
    meta = {"start_frame": 0, "deleted_frames": [],
            "frames": [{"name": f"img_{i:06d}.jpg", "width": 1280, "height": 720} for i in range(n_frames)]}
    jobs, annotations = [], {}
    for jid, (who, jtype) in enumerate((("alice", "consensus_replica"), ("bob", "consensus_replica"),
                                        ("gold", "ground_truth")), start=1):
        jobs.append({"id": jid, "start_frame": 0, "stop_frame": n_frames - 1, "type": jtype,
                     "assignee": {"username": who}, "parent_job_id": 99 if jtype != "ground_truth" else None,
                     "replicas_count": 0})
        shapes, tags = [], []
        for f in range(n_frames):
            for _ in range(int(rng.integers(8, 13))):
                x, y = rng.uniform(0, 1200), rng.uniform(0, 650)
                w, h = rng.uniform(5, 80, 2)
                box = [float(v) for v in (x, y, x + w, y + h)]
                shapes.append({"id": len(shapes) + 1, "type": "rectangle", "label_id": int(rng.integers(1, 3)),
                               "frame": f, "points": box, "occluded": False, "outside": False,
                               "z_order": 0, "rotation": 0.0, "group": 0, "source": "manual",
                               "attributes": [{"spec_id": 7, "value": "red"}], "elements": []})
            for _ in range(2):
                cx, cy = rng.uniform(50, 1200), rng.uniform(50, 650)
                ang = np.sort(rng.uniform(0, 2 * np.pi, 8))
                pts = np.column_stack([cx + 30 * np.cos(ang), cy + 30 * np.sin(ang)]).ravel().tolist()
                shapes.append({"id": len(shapes) + 1, "type": "polygon", "label_id": 2, "frame": f, "points": pts,
                               "occluded": False, "outside": False, "z_order": 0, "rotation": 0.0, "group": 0,
                               "source": "manual", "attributes": [], "elements": []})
            tags.append({"id": f + 1, "label_id": 3, "frame": f, "group": 0, "source": "manual", "attributes": []})
        annotations[jid] = {"version": 1, "tags": tags, "shapes": shapes, "tracks": []}
    return TaskPayload(task={"id": 1, "name": "bench", "mode": "annotation"}, jobs=jobs, labels=labels, meta=meta,
                       annotations=annotations)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    payload = make(max(1, int(2000 * args.scale)), seed=0)
    n_shapes = sum(len(a["shapes"]) + len(a["tags"]) for a in payload.annotations.values())
    cfg = Configuration()

    def sdk() -> list[Any]:
        return [validate_and_convert_types(a, (models.LabeledData,), ["received_data"], True, True, cfg)
                for a in payload.annotations.values()]

    t_ours, ds = timed(lambda: from_cvat_api([payload]), args.repeat)
    t_sdk, parsed = timed(sdk, args.repeat)
    sdk_count = sum(len(p.shapes) + len(p.tags) for p in parsed)
    sdk_rects = sorted(tuple(round(v, 6) for v in s.points) for p in parsed for s in p.shapes
                       if s.type.value == "rectangle")
    our_rects = sorted((round(v.x, 6), round(v.y, 6), round(v.x + v.width, 6), round(v.y + v.height, 6))
                       for v in (r.value for r in ds.records) if isinstance(v, Box))
    agree = sdk_count == len(ds.records) == n_shapes and np.allclose(sdk_rects, our_rects)
    print(f"workload: {len(payload.meta['frames'])} frames x 3 jobs, {n_shapes} shapes+tags")
    print(f"ours (from_cvat_api): {t_ours:.3f} s  ({n_shapes / t_ours:,.0f} shapes/s)")
    print(f"peer (cvat-sdk LabeledData parse): {t_sdk:.3f} s")
    print(f"ratio ours/peer: {t_ours / t_sdk:.2f}  agree: {agree}")


if __name__ == "__main__":
    main()
