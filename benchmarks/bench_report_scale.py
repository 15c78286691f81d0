"""End to end: the command a user runs, ``accord report``, on generated Label Studio exports.

Usage: python benchmarks/bench_report_scale.py [--scale 1.0] [--sizes 10000 100000 ...]
       [--kinds choices boxes] [--keep DIR]

A seeded generator writes a Label Studio JSON export the way LS 1.23 does (the shape of
/work/shared/fixtures/label-studio-1.23/export_as_json_bbox.json: ``completed_by`` an int,
boxes in percent of ``original_width``/``original_height``, ``lead_time`` in seconds) with
3 annotators per task, about 10% of tasks carrying a ground-truth annotation, a ``group``
field in ``data`` for bias monitoring, and planted disagreement (each annotator relabels a
class with probability 0.15; boxes jitter by a few pixels and are missed with probability 0.05).

``choices``: one ``Choices`` per task, so annotations = 3 x tasks.
``boxes``: 3 boxes + 1 choice per task and annotator; the number reported is records
(4 per annotation), so 1,000,000 records is about 83,334 tasks.

For each size it runs ``accord report EXPORT --label-config CONFIG --json OUT`` in a child
process and reports wall time and the child's peak RSS (``ru_maxrss`` from ``wait4``), and
``accord convert`` of the same export. Nothing is compared with a peer here: no other package
computes this report; the engine issue's targets (1M classification annotations in <= 30 s and
<= 1.5 GB) are what the numbers are read against.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLASSES = ("positive", "negative", "neutral", "mixed")
OBJECTS = ("car", "person", "bike")
N_ANNOTATORS = 3

CHOICES_CONFIG = ('<View><Text name="text" value="$text"/>'
                  '<Choices name="sentiment" toName="text">'
                  + "".join(f'<Choice value="{c}"/>' for c in CLASSES) + "</Choices></View>")
BOXES_CONFIG = ('<View><Image name="image" value="$image"/>'
                '<RectangleLabels name="objects" toName="image">'
                + "".join(f'<Label value="{c}"/>' for c in OBJECTS) + "</RectangleLabels>"
                '<Choices name="scene" toName="image">'
                + "".join(f'<Choice value="{c}"/>' for c in ("day", "night")) + "</Choices></View>")


def _annotation(ann_id: int, task_id: int, user: int, result: list[dict], *, gold: bool, lead_s: float) -> dict:
    return {"id": ann_id, "completed_by": user, "result": result, "was_cancelled": False, "ground_truth": gold,
            "created_at": "2026-11-27T18:26:01.506798Z", "updated_at": "2026-11-27T18:26:01.506824Z",
            "lead_time": round(lead_s, 2), "task": task_id, "project": 1}


def generate(path: Path, *, n_tasks: int, kind: str, seed: int = 0) -> None:
    """Write a seeded Label Studio export of ``n_tasks`` tasks to ``path`` (streamed, not built in memory)."""
    rng = np.random.default_rng(seed)
    ann_id = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        for t in range(1, n_tasks + 1):
            gold_user = 1 if rng.random() < 0.1 else 0
            anns = []
            if kind == "choices":
                truth = CLASSES[int(rng.integers(len(CLASSES)))]
                data = {"text": f"review {t}", "group": "ab"[t % 2]}
                for user in range(1, N_ANNOTATORS + 1):
                    label = truth if rng.random() > 0.15 else CLASSES[int(rng.integers(len(CLASSES)))]
                    result = [{"id": f"r{t}", "from_name": "sentiment", "to_name": "text", "type": "choices",
                               "value": {"choices": [label]}}]
                    ann_id += 1
                    anns.append(_annotation(ann_id, t, user, result, gold=user == gold_user,
                                            lead_s=float(rng.gamma(4.0, 3.0))))
            else:
                boxes = [(float(rng.uniform(0, 80)), float(rng.uniform(0, 80)), float(rng.uniform(5, 18)),
                          float(rng.uniform(5, 18)), OBJECTS[int(rng.integers(len(OBJECTS)))]) for _ in range(3)]
                scene = ("day", "night")[int(rng.integers(2))]
                data = {"image": f"/data/upload/1/img{t}.jpg", "group": "ab"[t % 2]}
                for user in range(1, N_ANNOTATORS + 1):
                    result = []
                    for k, (x, y, w, h, lab) in enumerate(boxes):
                        if rng.random() < 0.05:
                            continue
                        jit = rng.normal(0.0, 0.4, 4)
                        if rng.random() < 0.1:
                            lab = OBJECTS[int(rng.integers(len(OBJECTS)))]
                        result.append({"id": f"b{t}_{k}_{user}", "from_name": "objects", "to_name": "image",
                                       "type": "rectanglelabels", "original_width": 640, "original_height": 480,
                                       "image_rotation": 0,
                                       "value": {"x": round(x + jit[0], 3), "y": round(y + jit[1], 3),
                                                 "width": round(w + jit[2], 3), "height": round(h + jit[3], 3),
                                                 "rotation": 0, "rectanglelabels": [lab]}})
                    s = scene if rng.random() > 0.1 else ("day", "night")[int(rng.integers(2))]
                    result.append({"id": f"s{t}", "from_name": "scene", "to_name": "image", "type": "choices",
                                   "value": {"choices": [s]}})
                    ann_id += 1
                    anns.append(_annotation(ann_id, t, user, result, gold=user == gold_user,
                                            lead_s=float(rng.gamma(4.0, 5.0))))
            task = {"id": t, "annotations": anns, "drafts": [], "predictions": [], "data": data, "meta": {},
                    "created_at": "2026-11-27T18:26:00.916772Z", "inner_id": t, "total_annotations": N_ANNOTATORS,
                    "cancelled_annotations": 0, "project": 1}
            if t > 1:
                f.write(",")
            f.write(json.dumps(task, separators=(",", ":")))
        f.write("]")


def run_measured(argv: list[str], *, pythonpath: str | None = None) -> tuple[float, float, int]:
    """Run ``argv`` in a child (``pythonpath`` first on its path); ``(wall seconds, peak RSS MiB, exit code)``."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if proc.stderr is not None:
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        if os.waitstatus_to_exitcode(status) not in (0, 1) and err:
            print(f"    stderr: {err.splitlines()[-1][:200]}", flush=True)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every size (0.1 for a quick look)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000],
                        help="annotation (choices) or record (boxes) counts; default 10k and 100k "
                             "(add 1000000 for the engine issue's target size)")
    parser.add_argument("--kinds", nargs="*", choices=("choices", "boxes"), default=["choices", "boxes"])
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated exports in this folder")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="a folder holding an older accord package (DIR/accord/...): its report runs on the "
                             "same exports, in the same run, and the table gives old/new as a ratio")
    parser.add_argument("--baseline-max", type=int, default=200_000,
                        help="skip the baseline above this size (the old engine needs ~40 min at 1M)")
    args = parser.parse_args()
    accord = [sys.executable, "-m", "accord", "-q"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="accord-bench-scale-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for kind in args.kinds:
            config = work / f"{kind}.xml"
            config.write_text(CHOICES_CONFIG if kind == "choices" else BOXES_CONFIG, encoding="utf-8")
            per_task = N_ANNOTATORS if kind == "choices" else N_ANNOTATORS * 4
            for size in args.sizes:
                n_tasks = max(2, round(size * args.scale / per_task))
                export = work / f"{kind}-{n_tasks}.json"
                t0 = time.perf_counter()
                generate(export, n_tasks=n_tasks, kind=kind)
                gen_s = time.perf_counter() - t0
                n = n_tasks * per_task
                print(f"{kind}: {n_tasks:,} tasks, ~{n:,} {'annotations' if kind == 'choices' else 'records'}, "
                      f"{export.stat().st_size / 2**20:.1f} MiB export (generated in {gen_s:.1f} s)", flush=True)
                conv = run_measured([*accord, "convert", str(export), "-o", str(work / "records.jsonl")])
                rep = run_measured([*accord, "report", str(export), "--label-config", str(config),
                                    "--json", str(work / "report.json")])
                print(f"    convert {conv[0]:.1f} s, {conv[1]:.0f} MiB (exit {conv[2]}); "
                      f"report {rep[0]:.1f} s, {rep[1]:.0f} MiB (exit {rep[2]})", flush=True)
                base = None
                if args.baseline and n <= args.baseline_max:
                    base = run_measured([*accord, "report", str(export), "--label-config", str(config),
                                         "--json", str(work / "report-baseline.json")], pythonpath=args.baseline)
                    print(f"    baseline report {base[0]:.1f} s, {base[1]:.0f} MiB (exit {base[2]})", flush=True)
                rows.append((kind, n, conv, rep, base))
    print("\n| export | size | `accord convert` | `accord report` | baseline report | baseline / now |")
    print("|---|---|---|---|---|---|")
    for kind, n, conv, rep, base in rows:
        unit = "annotations" if kind == "choices" else "records"
        old = f"{base[0]:.1f} s, {base[1]:.0f} MiB" if base else "-"
        ratio = f"{base[0] / rep[0]:.1f}x time, {base[1] / rep[1]:.1f}x memory" if base else "-"
        print(f"| {kind} | {n:,} {unit} | {conv[0]:.1f} s, {conv[1]:.0f} MiB | {rep[0]:.1f} s, {rep[1]:.0f} MiB "
              f"| {old} | {ratio} |")
    failed = [r for r in rows if r[3][2] not in (0, 1) or r[2][2] != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
