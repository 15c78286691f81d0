"""Benchmark: confident-learning label-error detection, accord vs cleanlab.

Workload: scikit-learn's digits (1,797 images, 10 classes), a seeded 10 % of the
labels flipped to another class, 5-fold cross-validated logistic-regression
probabilities. Both detectors get the same probabilities; we report precision,
recall and F1 of the flagged items against the truly flipped ones, the time of
each, their ratio, and how many items the two flag differently; per seed and
averaged over seeds (single seeds differ only where exact rounding ties in the
calibrated joint are broken differently).

Run: ``.venv/bin/python benchmarks/bench_label_errors.py [--noise 0.1] [--seeds 5] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from cleanlab.filter import find_label_issues as cleanlab_find
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from accord.core.qa.label_errors import find_label_issues


def prf(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = int((flagged & truth).sum())
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning")


def run_seed(x: np.ndarray, y_true: np.ndarray, noise: float, seed: int, repeat: int) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    n, k = len(y_true), 10
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, round(noise * n), replace=False)] = True
    y = y_true.copy()
    y[flipped] = (y_true[flipped] + rng.integers(1, k, flipped.sum())) % k  # always a different class
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    probs = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fb in FILTERS:
            ours = find_label_issues(y, probs, filter_by=fb).is_issue
            theirs = cleanlab_find(y, probs, filter_by=fb)
            t_ours = best_time(lambda fb=fb: find_label_issues(y, probs, filter_by=fb), repeat)
            t_cl = best_time(lambda fb=fb: cleanlab_find(y, probs, filter_by=fb), repeat)
            out[fb] = (prf(ours, flipped), prf(theirs, flipped), t_ours, t_cl, int((ours != theirs).sum()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--noise", type=float, default=0.10)
    ap.add_argument("--seeds", type=int, default=5, help="label-flip / CV seeds 0..seeds-1")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="below 1 runs fewer seeds (run_all.py passes it); the digits data set is fixed")
    args = ap.parse_args()

    x, y_true = load_digits(return_X_y=True)
    args.seeds = max(1, round(args.seeds * min(args.scale, 1.0)))
    print(f"workload: digits n={len(y_true)} K=10, {args.noise:.0%} labels flipped to another class, "
          f"5-fold CV logistic-regression probabilities; seeds 0..{args.seeds - 1}; time = best of {args.repeat}")
    print(f"{'seed':<5}{'filter_by':<21}{'ours P/R/F1':>20}{'cleanlab P/R/F1':>22}{'ours ms':>9}{'cl ms':>8}"
          f"{'ratio':>7}{'items differ':>14}")
    results = {fb: [] for fb in FILTERS}
    for seed in range(args.seeds):
        res = run_seed(x, y_true, args.noise, seed, args.repeat)
        for fb in FILTERS:
            (po, ro, fo), (pc, rc, fc), t_o, t_c, diff = res[fb]
            results[fb].append((fo, fc, t_o, t_c, diff))
            print(f"{seed:<5}{fb:<21}{po:>8.3f}/{ro:.3f}/{fo:.3f}{pc:>10.3f}/{rc:.3f}/{fc:.3f}"
                  f"{t_o * 1e3:>9.2f}{t_c * 1e3:>8.2f}{t_o / t_c:>7.2f}{diff:>14}")
    print("\nmean over seeds")
    for fb in FILTERS:
        r = np.array(results[fb])
        fo, fc = r[:, 0].mean(), r[:, 1].mean()
        verdict = "ours >= cleanlab" if fo >= fc - 1e-12 else "ours < cleanlab"
        print(f"{fb:<21} F1 ours {fo:.4f}  cleanlab {fc:.4f}  ({verdict}; per seed {int((r[:, 0] >= r[:, 1]).sum())}"
              f"/{len(r)} >=)  time ratio {r[:, 2].sum() / r[:, 3].sum():.3f}  items differing {int(r[:, 4].sum())}")


if __name__ == "__main__":
    main()
