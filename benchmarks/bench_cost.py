"""Benchmark: pilot analysis and bootstrap forecast, accord vs scipy / statsmodels.

Workload: a synthetic pilot of ``--items`` items x 3 annotators (log-normal durations,
1-6 boxes per pass, 2 % of passes left open for an hour). We time

* the forecast's bootstrap interval of seconds per pass (``--boot`` replicates, one
  pass per item so the ratio estimate is the mean) against
  ``scipy.stats.bootstrap(method="percentile")`` on the same kept durations, and
  report whether the two 90 % intervals agree within 2 %;
* the robust scale (MAD) against ``statsmodels.robust.scale.mad``;
* the whole ``analyze_pilot`` + ``forecast`` on the 3-annotator pilot (no peer: reported alone).

Run: ``.venv/bin/python benchmarks/bench_cost.py [--items 2000] [--boot 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats
from statsmodels.robust.scale import mad as sm_mad

from accord.core.cost import analyze_pilot, config_from_dict, forecast, mad, outlier_mask
from accord.core.model import Box, Dataset, Record


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def make_pilot(n_items: int, annotators: int, seed: int) -> tuple[Dataset, np.ndarray]:
    rng = np.random.default_rng(seed)
    recs = []
    durations = []
    for i in range(n_items):
        for a in range(annotators):
            n = int(rng.integers(1, 7))
            d = float(rng.lognormal(np.log(8 * n), 0.35))
            if rng.random() < 0.02:
                d += 3600.0
            durations.append(d)
            for j in range(n):
                recs.append(Record(item_id=f"i{i}", annotator_id=f"a{a}", label_set="obj", duration_s=d,
                                   value=Box(label="car" if j % 2 else "person", x=10.0 * j, y=0, width=8, height=8)))
    return Dataset(records=tuple(recs)), np.array(durations)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies --items (run_all.py passes it)")
    args = ap.parse_args()
    cfg = config_from_dict({"qa": {"annotators_per_item": 2, "review_passes": 1, "gold_fraction": 0.05}})

    args.items = max(10, int(args.items * args.scale))
    single, d = make_pilot(args.items, 1, seed=1)
    pilot1 = analyze_pilot(single)
    kept = d[~outlier_mask(d)]
    ours = best_time(lambda: forecast(pilot1, cfg, items=100_000, n_boot=args.boot), args.repeat)
    peer = best_time(lambda: stats.bootstrap((kept,), np.mean, n_resamples=args.boot, confidence_level=0.9,
                                             method="percentile", random_state=0), args.repeat)
    fc = forecast(pilot1, cfg, items=100_000, n_boot=args.boot)
    ci = stats.bootstrap((kept,), np.mean, n_resamples=args.boot, confidence_level=0.9, method="percentile",
                         random_state=0).confidence_interval
    agree = (abs(fc.seconds_per_pass.low / ci.low - 1) < 0.02 and abs(fc.seconds_per_pass.high / ci.high - 1) < 0.02)
    print(f"bootstrap interval, {args.items} pilot items x {args.boot} replicates (whole forecast vs "
          f"scipy.stats.bootstrap percentile on the mean)")
    print(f"  accord {ours * 1e3:8.2f} ms   scipy {peer * 1e3:8.2f} ms   ratio {ours / peer:6.2f}   "
          f"agree(2%): {agree}  [{fc.seconds_per_pass.low:.3f}, {fc.seconds_per_pass.high:.3f}] vs "
          f"[{ci.low:.3f}, {ci.high:.3f}]")

    ours = best_time(lambda: mad(d), args.repeat * 10)
    peer = best_time(lambda: sm_mad(d), args.repeat * 10)
    print(f"MAD of {d.size} durations (vs statsmodels.robust.scale.mad)")
    print(f"  accord {ours * 1e6:8.1f} us   statsmodels {peer * 1e6:8.1f} us   ratio {ours / peer:6.2f}   "
          f"agree: {bool(np.isclose(mad(d), sm_mad(d)))}")

    three, _ = make_pilot(args.items, 3, seed=2)
    t_an = best_time(lambda: analyze_pilot(three), args.repeat)
    p3 = analyze_pilot(three)
    t_fc = best_time(lambda: forecast(p3, cfg, items=100_000, n_boot=args.boot), args.repeat)
    print(f"analyze_pilot on {len(three.records)} records / {len(p3.passes)} passes: {t_an * 1e3:.1f} ms; "
          f"forecast: {t_fc * 1e3:.1f} ms (no peer package does this)")


if __name__ == "__main__":
    main()
