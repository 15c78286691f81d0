"""Benchmark: QA part B (intervals, active learning), accord vs the peer a user would otherwise use.

Workloads at ``--scale 1.0`` (sizes multiplied by ``--scale``):

* Wilson and Clopper-Pearson intervals on 1,000,000 (successes, n) pairs vs
  ``statsmodels.stats.proportion.proportion_confint`` (also vectorized).
* Entropy uncertainty on 1,000,000 x 10 probabilities vs ``scipy.stats.entropy``
  followed by ``argsort``.
* k-center greedy, 50,000 x 64 embeddings, batch 50, vs a plain numpy
  reimplementation using ``scipy.spatial.distance.cdist`` per step (same picks expected).

Each time is the best of ``--repeat`` runs. "agree" means max abs difference <= 1e-9
(or identical picks for k-center).

Run: ``.venv/bin/python benchmarks/bench_qa_sampling.py [--scale 1.0] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist
from statsmodels.stats.proportion import proportion_confint

from accord.core.qa.active_learning import k_center_greedy, uncertainty_ranking
from accord.core.qa.intervals import proportion_interval


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), value


def report(name: str, ours: float, peer: float, agree: bool) -> None:
    print(f"{name:<52} ours {ours * 1e3:9.1f} ms  peer {peer * 1e3:9.1f} ms  ratio {ours / peer:5.2f}  agree {agree}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(0)

    m = max(10, int(1_000_000 * a.scale))
    n = rng.integers(1, 500, size=m)
    k = rng.binomial(n, 0.8)
    for ours_m, peer_m in (("wilson", "wilson"), ("clopper-pearson", "beta")):
        t1, v1 = best(lambda ours_m=ours_m: proportion_interval(k, n, method=ours_m), a.repeat)
        t2, v2 = best(lambda peer_m=peer_m: proportion_confint(k, n, method=peer_m), a.repeat)
        agree = bool(np.nanmax(np.abs(v1[0] - v2[0])) <= 1e-9 and np.nanmax(np.abs(v1[1] - v2[1])) <= 1e-9)
        report(f"{ours_m} interval, {m:,} proportions", t1, t2, agree)

    rows = max(10, int(1_000_000 * a.scale))
    p = rng.dirichlet(np.ones(10), size=rows)
    t1, r = best(lambda: uncertainty_ranking(p, method="entropy"), a.repeat)

    def peer_entropy() -> tuple[np.ndarray, np.ndarray]:
        s = stats.entropy(p, axis=1)
        return s, np.argsort(-s, kind="stable")

    t2, (s2, o2) = best(peer_entropy, a.repeat)
    report(f"entropy ranking, {rows:,} x 10", t1, t2,
           bool(np.max(np.abs(r.scores - s2)) <= 1e-9 and np.array_equal(r.order, o2)))

    pts = max(100, int(50_000 * a.scale))
    x = rng.normal(size=(pts, 64))
    batch = 50
    t1, r = best(lambda: k_center_greedy(x, batch), a.repeat)

    def peer_kcenter() -> list[int]:
        chosen = [0]
        d = cdist(x, x[:1]).ravel()
        for _ in range(batch - 1):
            i = int(np.argmax(d))
            chosen.append(i)
            d = np.minimum(d, cdist(x, x[i:i + 1]).ravel())
        return chosen

    t2, o2 = best(peer_kcenter, a.repeat)
    report(f"k-center greedy, {pts:,} x 64, batch {batch}", t1, t2, r.order.tolist() == o2)


if __name__ == "__main__":
    main()
