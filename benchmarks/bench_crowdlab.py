"""Benchmark: CROWDLAB consensus (model + annotators), accord vs cleanlab, same data, same run.

``accord.core.qa.consensus.crowdlab`` against cleanlab's
``get_label_quality_multiannotator(consensus_method="best_quality")``: 20,000 items x 5
annotators (accuracies 0.9 to 0.3, 35% of labels missing) x 4 classes and a noisy model's
``pred_probs`` (``--scale`` multiplies the items). Prints both times (best of 3), the ratio and
whether the consensus labels and quality scores agree (labels exactly, scores to 1e-12).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from cleanlab.multiannotator import get_label_quality_multiannotator

from accord.core.qa.consensus import crowdlab


def simulate(n: int, seed: int = 11, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    accuracies = (0.9, 0.75, 0.6, 0.45, 0.3)
    wide = np.full((n, len(accuracies)), np.nan)
    for a, acc in enumerate(accuracies):
        wide[:, a] = np.where(rng.random(n) < acc, truth, (truth + rng.integers(1, k, n)) % k)
    wide[rng.random(wide.shape) < 0.35] = np.nan
    empty = np.isnan(wide).all(axis=1)
    wide[empty, 0] = truth[empty]  # cleanlab needs one label per item
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[truth]
    pp = np.exp(logits)
    return wide, pp / pp.sum(axis=1, keepdims=True)


def best(fn, repeat: int = 3):  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    n = max(100, int(20_000 * args.scale))
    wide, pp = simulate(n)
    i, a = np.nonzero(~np.isnan(wide))
    labels = wide[i, a].astype(int)
    t_ours, ours = best(lambda: crowdlab(i, a, labels, pp, classes=range(4)))
    t_ref, ref = best(lambda: get_label_quality_multiannotator(wide, pp, consensus_method="best_quality",
                                                              verbose=False))
    same_labels = bool(np.array_equal(ours.labels.astype(int), ref["label_quality"]["consensus_label"].to_numpy()))
    close = bool(np.allclose(ours.consensus_quality, ref["label_quality"]["consensus_quality_score"].to_numpy(),
                             rtol=0, atol=1e-12))
    print(f"CROWDLAB, {n:,} items x 5 annotators x 4 classes: accord {t_ours * 1e3:.1f} ms, "
          f"cleanlab {t_ref * 1e3:.1f} ms, cleanlab / accord {t_ref / t_ours:.1f}x, "
          f"labels agree: {same_labels}, quality scores agree (1e-12): {close}")


if __name__ == "__main__":
    main()
