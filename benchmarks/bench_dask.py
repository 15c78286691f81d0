"""``accord report`` on one process vs a Dask LocalCluster of 1 and 2 workers (issue #17).

Usage: python benchmarks/bench_dask.py [--sizes 100000 1000000] [--shards 8] [--keep DIR]

For each size (annotations; a Choices export of 3 annotations per task from
``bench_report_scale.py``'s seeded generator) the export is written as ``--shards`` Label Studio
JSON files, as one Label Studio JSON file (which the cluster cuts into about ``--shards`` byte
ranges between tasks) and as one accord Parquet file (``accord convert``, 65,536-row row
groups). Each configuration runs in a fresh child process (so peak RSS is its own):

* ``single``: :func:`accord.io.load_dataset` + :func:`build_report` (what ``accord report`` does);
* ``local:1`` / ``local:2``: :func:`accord.cluster.report.cluster_report` on a LocalCluster of
  1 / 2 worker processes.

Reported: wall time (report built, cluster start excluded and shown apart), the map stage
(reading every partition on the workers), peak RSS of the client and of each worker (``VmHWM``,
via ``client.run`` on the workers), and whether the report equals the single-process one.

Projection to N machines (one worker each): ``T(N) = ceil(P / N) * c + S``, where ``P`` is the
number of partitions, ``c = map_s(local:1) / P`` the measured cost of one partition on one worker,
and ``S`` the rest measured on ``local:1`` after the map stage (the class-agreement and
Dawid-Skene passes, then ``build_report``, whose sections fold on the workers while the client
merges their states and finishes them; the records stay on the workers when every partition is
item-major, else they are gathered first). ``S`` is not all serial (the folds run on the
workers), so the projection is pessimistic where the folds dominate.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _child(mode: str, inputs: list[str], target_bytes: int) -> dict[str, Any]:
    import gc

    from accord.core.qa.report import build_report
    from accord.io import load_dataset

    gc.set_threshold(100_000, 50, 1000)  # as the accord CLI sets it (cli/cli.py main) for every command
    out: dict[str, Any] = {"mode": mode}
    if mode == "single":
        t0 = time.perf_counter()
        report = build_report(load_dataset(inputs), seed=0)
        out["wall_s"] = time.perf_counter() - t0
    else:
        import distributed

        from accord.cluster.report import cluster_report

        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=int(mode.split(":")[1]), threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
        out["start_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        report, _, run = cluster_report(client, inputs, seed=0, target_bytes=target_bytes)
        out["wall_s"] = time.perf_counter() - t1
        out.update(map_s=run.map_s, sections_s=run.sections_s, gather_s=run.gather_s, n_partitions=run.n_partitions,
                   gathered=run.gathered)
        out["report_s"] = out["wall_s"] - run.map_s - run.sections_s - run.gather_s
        rss = client.run(_peak_rss_mib)
        out["worker_rss_mib"] = sorted(rss.values())
        client.close()
        cluster.close()
    out["client_rss_mib"] = _peak_rss_mib()
    report.pop("generated_at")
    report["checks"].pop("durations_s", None)
    out["digest"] = hash(json.dumps(report, sort_keys=True))
    return out


def _peak_rss_mib() -> float:
    """This process's peak resident set (``VmHWM``). Not ``ru_maxrss``: Linux carries that across
    ``fork`` + ``exec``, so a child started by a big parent reports the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run_child(mode: str, inputs: list[Path], target_bytes: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, "--target-bytes", str(target_bytes),
                           *map(str, inputs)], capture_output=True,
                          text=True, timeout=3600, env={"PYTHONHASHSEED": "0", **_env()})
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed: {proc.stderr[-800:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--child", default=None)
    ap.add_argument("--target-bytes", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("inputs", nargs="*")
    args = ap.parse_args()
    if args.child:
        from accord.cluster.partitions import DEFAULT_TARGET_BYTES

        print(json.dumps(_child(args.child, args.inputs, args.target_bytes or DEFAULT_TARGET_BYTES)))
        return 0
    sys.path.insert(0, str(HERE))
    import bench_report_scale as gen

    from accord.io import load_dataset
    from accord.store.parquet import write_parquet

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_dask_"))
    work.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        n_tasks = math.ceil(size / gen.N_ANNOTATORS)
        d = work / f"n{size}"
        d.mkdir(exist_ok=True)
        (d / "label_config.xml").write_text(gen.CHOICES_CONFIG)
        whole = d / "whole.tmp"
        gen.generate(whole, n_tasks=n_tasks, kind="choices", seed=0)
        one = d / "whole.json"
        whole.rename(one)
        tasks = json.loads(one.read_text())
        step = math.ceil(len(tasks) / args.shards)
        shards = []
        for k in range(args.shards):
            p = d / f"shard-{k:02d}.json"
            p.write_text(json.dumps(tasks[k * step:(k + 1) * step]))
            shards.append(p)
        del tasks
        pq = d / "all.parquet"
        # `accord convert -o all.parquet --row-group-size 16384`: row groups are the smallest
        # partition, so a 100k-record file of 65,536-record groups would be two partitions
        write_parquet(load_dataset(shards), pq, row_group_size=16_384)
        ranges = math.ceil(one.stat().st_size / args.shards)  # about --shards byte ranges of the one file
        from accord.cluster.partitions import DEFAULT_TARGET_BYTES

        for label, inputs, target in ((f"LS JSON x{args.shards}", shards, DEFAULT_TARGET_BYTES),
                                      (f"one LS JSON, ~{args.shards} byte ranges", [one], ranges),
                                      ("Parquet", [pq], DEFAULT_TARGET_BYTES)):
            rows = {m: _run_child(m, inputs, target) for m in ("single", "local:1", "local:2")}
            print(f"\n{size:,} annotations, {label}")
            print(f"{'mode':<9} {'wall s':>7} {'map s':>6} {'rest s':>7} {'start s':>7} {'client MiB':>10} "
                  f"{'worker MiB':>14} same")
            for m, r in rows.items():
                rest = r.get("sections_s", 0) + r.get("gather_s", 0) + r.get("report_s", 0)
                print(f"{m:<9} {r['wall_s']:7.2f} {r.get('map_s', 0):6.2f} {rest:7.2f} {r.get('start_s', 0):7.2f} "
                      f"{r['client_rss_mib']:10.0f} {[round(x) for x in r.get('worker_rss_mib', [])]!s:>14} "
                      f"{r['digest'] == rows['single']['digest']}")
            one, two = rows["local:1"], rows["local:2"]
            p_ = one["n_partitions"]
            c = one["map_s"] / p_
            serial = one["sections_s"] + one["gather_s"] + one["report_s"]
            for m in ("local:1", "local:2"):
                r = rows[m]
                print(f"  {m}: sections {r['sections_s']:.2f} s, gather {r['gather_s']:.2f} s "
                      f"({'records gathered' if r.get('gathered') else 'no record on the client'}), "
                      f"build_report (sections folded on the workers) {r['report_s']:.2f} s")
            print(f"map stage speed-up 2 vs 1 worker: {one['map_s'] / two['map_s']:.2f}x; "
                  f"P={p_} partitions, c={c:.3f} s each, serial rest S={serial:.2f} s")
            print("projection T(N) = ceil(P/N)*c + S: " + ", ".join(
                f"N={n}: {math.ceil(p_ / n) * c + serial:.1f} s" for n in (1, 2, 4, 8, 16)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
