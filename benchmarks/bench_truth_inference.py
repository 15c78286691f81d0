"""Benchmark: categorical truth inference, accord vs crowd-kit, same data, same run.

Workload at ``--scale 1.0``: 20,000 items x 5 annotators (every annotator labels every
item) x 4 classes; annotator accuracies 0.55-0.9, wrong answers uniform over the other
three classes (the one-coin model); rows sorted by (worker, label) so that crowd-kit's
MACE indexes its tables consistently (see tests/test_truth_inference.py). Models: one-coin
Dawid-Skene, GLAD, MACE, Wawa, ZBS, each at crowd-kit's default settings, except MACE at
one restart on both sides (crowd-kit reuses one seed on every restart, so its default 10
restarts repeat one run ten times; ours would run 10 different restarts).

Printed per model: our time, crowd-kit's, the ratio (ours / theirs, lower is faster),
the share of items whose labels agree, the largest skill-parameter difference, and each
side's accuracy against the simulated truth. Each time is the best of ``--repeat`` runs.

Run: ``.venv/bin/python benchmarks/bench_truth_inference.py [--scale 1.0] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import crowdkit.aggregation.classification.wawa as ck_wawa
import crowdkit.aggregation.classification.zero_based_skill as ck_zbs
import numpy as np
import pandas as pd
from crowdkit.aggregation import GLAD, MACE, OneCoinDawidSkene, Wawa, ZeroBasedSkill

from accord.core.qa.consensus import glad, mace, one_coin_dawid_skene, wawa, zero_based_skill

# crowd-kit 1.4's Wawa/ZBS predict() calls scikit-learn's check_is_fitted, which fails on
# scikit-learn >= 1.6; it only guards against an unfitted model, so skip it.
ck_wawa.check_is_fitted = ck_zbs.check_is_fitted = lambda *a, **k: None  # type: ignore[attr-defined]


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), value


def simulate(n: int, n_ann: int = 5, k: int = 4, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    acc = np.linspace(0.55, 0.9, n_ann)
    item = np.repeat(np.arange(n), n_ann)
    worker = np.tile(np.arange(n_ann), n)
    right = rng.random(n * n_ann) < acc[worker]
    label = np.where(right, truth[item], (truth[item] + rng.integers(1, k, n * n_ann)) % k)
    df = pd.DataFrame({"task": item, "worker": worker, "label": label})
    return df.sort_values(["worker", "label"], kind="stable").reset_index(drop=True), truth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    n = max(50, int(20_000 * a.scale))
    df, truth = simulate(n)
    t, w, lab = df.task.to_numpy(), df.worker.to_numpy(), df.label.to_numpy()

    def ck_fit(model: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if isinstance(model, Wawa | ZeroBasedSkill):
                model.fit_predict(df)
            else:
                model.fit(df)
        return model

    cases: list[tuple[str, Callable[[], Any], Callable[[], Any], Callable[[Any, Any], float]]] = [
        ("one-coin Dawid-Skene", lambda: one_coin_dawid_skene(t, w, lab), lambda: ck_fit(OneCoinDawidSkene(n_iter=100)),
         lambda o, c: float(np.abs(c.skills_.loc[list(o.annotator_ids)].to_numpy() - o.skills).max())),
        ("GLAD", lambda: glad(t, w, lab), lambda: ck_fit(GLAD()),
         lambda o, c: float(np.abs(c.alphas_.loc[list(o.annotator_ids)].to_numpy() - o.alphas).max())),
        ("MACE (vb, 1 restart)", lambda: mace(t, w, lab, n_restarts=1), lambda: ck_fit(MACE(n_restarts=1)),
         lambda o, c: float(np.abs(c.spamming_ - o.spamming).max())),
        ("Wawa", lambda: wawa(t, w, lab), lambda: ck_fit(Wawa()),
         lambda o, c: float(np.abs(c.skills_.loc[list(o.annotator_ids)].to_numpy() - o.skills).max())),
        ("ZBS", lambda: zero_based_skill(t, w, lab), lambda: ck_fit(ZeroBasedSkill()),
         lambda o, c: float(np.abs(c.skills_.loc[list(o.annotator_ids)].to_numpy() - o.skills).max())),
    ]
    print(f"{n:,} items x 5 annotators x 4 classes ({len(df):,} judgments)")
    for name, ours_fn, peer_fn, param_diff in cases:
        t1, o = best(ours_fn, a.repeat)
        t2, c = best(peer_fn, a.repeat)
        items = list(o.item_ids)
        theirs = c.labels_.loc[items].to_numpy().astype(int)
        mine = o.labels.astype(int)
        same = float((theirs == mine).mean())
        acc_o = float((mine == truth[o.item_ids.astype(int)]).mean())
        acc_c = float((theirs == truth[o.item_ids.astype(int)]).mean())
        print(f"{name:<22} ours {t1 * 1e3:9.1f} ms  crowd-kit {t2 * 1e3:10.1f} ms  ratio {t1 / t2:6.3f}  "
              f"labels agree {same:.4f}  max param diff {param_diff(o, c):.1e}  "
              f"accuracy ours {acc_o:.4f} crowd-kit {acc_c:.4f}")


if __name__ == "__main__":
    main()
