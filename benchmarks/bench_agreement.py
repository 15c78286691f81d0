"""Benchmark: agreement coefficients, accord vs the packages a user would otherwise use.

Workloads at ``--scale 1.0`` (every size is multiplied by ``--scale``):

* Krippendorff's alpha, nominal and interval: 5 raters x 200,000 items, 5 labels, 10 %
  of ratings missing (NaN), vs ``krippendorff.alpha``. Both get the same float array
  (the peer its transpose, a view).
* Fleiss' kappa: 1,000,000 items x 6 raters x 5 categories vs
  ``statsmodels.stats.inter_rater.fleiss_kappa``. Reported twice: with the count table
  built from raw ratings *included* for both (``counts_from_ratings`` vs statsmodels'
  ``aggregate_raters``), and on a prebuilt table (*excluded* for both).
* Cohen's kappa, unweighted and quadratic: 5,000,000 rating pairs, 10 classes, vs
  ``sklearn.metrics.cohen_kappa_score``.

Each time is the best of ``--repeat`` runs in this process. "agree" means the two
values differ by at most 1e-9.

Run: ``.venv/bin/python benchmarks/bench_agreement.py [--scale 1.0] [--repeat 3] [--json]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from accord.core.agreement import cohen_kappa, counts_from_ratings, fleiss_kappa, krippendorff_alpha


def best(fn: Callable[[], float], repeat: int) -> tuple[float, float]:
    times, value = [], float("nan")
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), float(value)


def ratings(rng: np.random.Generator, n_items: int, n_raters: int, n_cats: int, p_missing: float) -> np.ndarray:
    truth = rng.integers(0, n_cats, n_items)
    noise = rng.integers(0, n_cats, (n_items, n_raters))
    r = np.where(rng.random((n_items, n_raters)) < 0.7, truth[:, None], noise).astype(np.float64)
    r[rng.random(r.shape) < p_missing] = np.nan
    return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="workload scale (1.0 = full size)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []

    def add(workload: str, ours: Callable[[], float], peer: Callable[[], float], peer_name: str) -> None:
        t_ours, v_ours = best(ours, args.repeat)
        t_peer, v_peer = best(peer, args.repeat)
        rows.append(
            {
                "workload": workload,
                "peer": peer_name,
                "ours_s": t_ours,
                "peer_s": t_peer,
                "speedup": t_peer / t_ours,
                "ours_value": v_ours,
                "peer_value": v_peer,
                "agree": bool(abs(v_ours - v_peer) <= 1e-9),
            }
        )

    n_k = max(10, int(200_000 * args.scale))
    kr = ratings(rng, n_k, 5, 5, 0.10)
    for level in ("nominal", "interval"):
        add(
            f"krippendorff {level}, 5 raters x {n_k:,} items, 10% missing",
            lambda level=level: krippendorff_alpha(kr, level=level),
            lambda level=level: krippendorff.alpha(kr.T, level_of_measurement=level),
            "krippendorff.alpha",
        )

    n_f = max(10, int(1_000_000 * args.scale))
    fr = ratings(rng, n_f, 6, 5, 0.0).astype(np.int64)
    add(
        f"fleiss, {n_f:,} items x 6 raters x 5 cats, table build included",
        lambda: fleiss_kappa(counts_from_ratings(fr)),
        lambda: sm_fleiss(aggregate_raters(fr)[0]),
        "statsmodels fleiss_kappa + aggregate_raters",
    )
    table = counts_from_ratings(fr)
    add(
        f"fleiss, {n_f:,} items x 5 cats, prebuilt table (build excluded)",
        lambda: fleiss_kappa(table),
        lambda: sm_fleiss(table),
        "statsmodels fleiss_kappa",
    )

    n_c = max(10, int(5_000_000 * args.scale))
    a = rng.integers(0, 10, n_c)
    b = np.where(rng.random(n_c) < 0.6, a, rng.integers(0, 10, n_c))
    for weights in (None, "quadratic"):
        add(
            f"cohen {weights or 'unweighted'}, {n_c:,} pairs, 10 classes",
            lambda weights=weights: cohen_kappa(a, b, weights=weights),
            lambda weights=weights: cohen_kappa_score(a, b, weights=weights),
            "sklearn cohen_kappa_score",
        )

    if args.json:
        print(json.dumps({"scale": args.scale, "repeat": args.repeat, "rows": rows}, indent=2))
    else:
        print(f"{'workload':<66} {'ours s':>8} {'peer s':>8} {'speedup':>8}  agree  value")
        for r in rows:
            print(
                f"{r['workload']:<66} {r['ours_s']:>8.4f} {r['peer_s']:>8.4f} {r['speedup']:>7.1f}x"
                f"  {'yes' if r['agree'] else 'NO ':<5}  {r['ours_value']:.12f}  (peer: {r['peer']})"
            )
    return 0 if all(r["agree"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
