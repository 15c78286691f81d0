"""Benchmark: categorical truth inference, accord vs crowd-kit, same data, same run.

Two parts, both run by default:

**Generated data** (``--scale 1.0``): 20,000 items x 5 annotators (every annotator labels
every item) x 4 classes; annotator accuracies 0.55-0.9, wrong answers uniform over the other
three classes (the one-coin model); rows sorted by (worker, label) so that crowd-kit's MACE
indexes its tables consistently (see tests/test_truth_inference.py). Models: one-coin
Dawid-Skene, GLAD, MACE, Wawa, ZBS, each at crowd-kit's default settings, except MACE at
one restart on both sides (crowd-kit reuses one seed on every restart, so its default 10
restarts repeat one run ten times; ours would run 10 different restarts). Printed per model:
our time, crowd-kit's, the ratio (ours / theirs, lower is faster), the share of items whose
labels agree, the largest skill-parameter difference, and each side's accuracy against the
simulated truth.

**Real crowdsourcing data with expert truth**: every folder holding ``answer.csv``
(``question,worker,answer``) and ``truth.csv`` (``question,truth``) under the bundled
``tests/fixtures/crowd/`` (Snow et al. 2008 RTE, temporal ordering and word-sense sets from
CrowdTruth-core; the Get-Another-Label "BarzanMozafari" set; sources and licences in that
folder's README) and under each ``--data DIR`` (the same layout as the ``datasets/`` folder of
Zheng et al.'s https://github.com/zhydhkcws/crowd_truth_infer, which carries no licence and so
is not bundled: ``git clone https://github.com/zhydhkcws/crowd_truth_infer`` then
``--data crowd_truth_infer/datasets``). Folders with more than ``MAX_CLASSES`` distinct answers
(Zheng's numeric ``f201_Emotion_FULL``) are skipped as not categorical. Seven models: majority
vote (ties to the first class, as crowd-kit's ``idxmax``), Dawid-Skene, one-coin Dawid-Skene,
GLAD, MACE (one restart each side, as above), Wawa, ZBS, at crowd-kit's defaults. Printed as a
markdown table per data set and model: accuracy of each side against the truth on the items
that have truth and at least one answer, the share of all items where the two label the same,
each side's time and crowd-kit / ours (higher means we are faster).

Each time is the best of ``--repeat`` runs.

Run: ``.venv/bin/python benchmarks/bench_truth_inference.py [--scale 1.0] [--repeat 1]
[--data DIR ...] [--real-only]``
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crowdkit.aggregation.classification.wawa as ck_wawa
import crowdkit.aggregation.classification.zero_based_skill as ck_zbs
import numpy as np
import pandas as pd
from crowdkit.aggregation import (
    GLAD,
    MACE,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    Wawa,
    ZeroBasedSkill,
)

from accord.core.qa.consensus import (
    dawid_skene,
    glad,
    mace,
    majority_vote,
    one_coin_dawid_skene,
    wawa,
    zero_based_skill,
)

# crowd-kit 1.4's Wawa/ZBS predict() calls scikit-learn's check_is_fitted, which fails on
# scikit-learn >= 1.6; it only guards against an unfitted model, so skip it.
ck_wawa.check_is_fitted = ck_zbs.check_is_fitted = lambda *a, **k: None  # type: ignore[attr-defined]

BUNDLED = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "crowd"
MAX_CLASSES = 20


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), value


def ck_fit(model: Any, df: pd.DataFrame) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(model, Wawa | ZeroBasedSkill):
            model.fit_predict(df)
        else:
            model.fit(df)
    return model


# --------------------------------------------------------------------------- generated data


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


def run_generated(scale: float, repeat: int) -> None:
    n = max(50, int(20_000 * scale))
    df, truth = simulate(n)
    t, w, lab = df.task.to_numpy(), df.worker.to_numpy(), df.label.to_numpy()

    cases: list[tuple[str, Callable[[], Any], Callable[[], Any], Callable[[Any, Any], float]]] = [
        ("one-coin Dawid-Skene", lambda: one_coin_dawid_skene(t, w, lab),
         lambda: ck_fit(OneCoinDawidSkene(n_iter=100), df),
         lambda o, c: float(np.abs(c.skills_.loc[list(o.annotator_ids)].to_numpy() - o.skills).max())),
        ("GLAD", lambda: glad(t, w, lab), lambda: ck_fit(GLAD(), df),
         lambda o, c: float(np.abs(c.alphas_.loc[list(o.annotator_ids)].to_numpy() - o.alphas).max())),
        ("MACE (vb, 1 restart)", lambda: mace(t, w, lab, n_restarts=1), lambda: ck_fit(MACE(n_restarts=1), df),
         lambda o, c: float(np.abs(c.spamming_ - o.spamming).max())),
        ("Wawa", lambda: wawa(t, w, lab), lambda: ck_fit(Wawa(), df),
         lambda o, c: float(np.abs(c.skills_.loc[list(o.annotator_ids)].to_numpy() - o.skills).max())),
        ("ZBS", lambda: zero_based_skill(t, w, lab), lambda: ck_fit(ZeroBasedSkill(), df),
         lambda o, c: float(np.abs(c.skills_.loc[list(o.annotator_ids)].to_numpy() - o.skills).max())),
    ]
    print(f"{n:,} items x 5 annotators x 4 classes ({len(df):,} judgments)")
    for name, ours_fn, peer_fn, param_diff in cases:
        t1, o = best(ours_fn, repeat)
        t2, c = best(peer_fn, repeat)
        items = list(o.item_ids)
        theirs = c.labels_.loc[items].to_numpy().astype(int)
        mine = o.labels.astype(int)
        same = float((theirs == mine).mean())
        acc_o = float((mine == truth[o.item_ids.astype(int)]).mean())
        acc_c = float((theirs == truth[o.item_ids.astype(int)]).mean())
        print(f"{name:<22} ours {t1 * 1e3:9.1f} ms  crowd-kit {t2 * 1e3:10.1f} ms  ratio {t1 / t2:6.3f}  "
              f"labels agree {same:.4f}  max param diff {param_diff(o, c):.1e}  "
              f"accuracy ours {acc_o:.4f} crowd-kit {acc_c:.4f}")


# --------------------------------------------------------------------------- real data


@dataclass(frozen=True, slots=True, kw_only=True)
class RealSet:
    """One crowdsourced data set: judgments in crowd-kit's long format plus expert truth.

    ``df`` has columns ``task``, ``worker`` (strings) and ``label`` (int codes); ``truth``
    maps a task to its true code, -1 when the true answer is one nobody gave.
    """

    name: str
    df: pd.DataFrame
    truth: pd.Series
    classes: tuple[str, ...]


def load_real(folder: Path, name: str) -> RealSet | None:
    """Read ``answer.csv`` + ``truth.csv`` into a :class:`RealSet`, or None if not categorical.

    Rows are sorted by worker, then answers are coded in order of first appearance and the rows
    sorted by (worker, code): crowd-kit's MACE draws its start in that first-appearance order
    and ours in sorted order, and this makes the two orders the same.
    """
    ans = pd.read_csv(folder / "answer.csv", dtype=str, keep_default_na=False)
    tru = pd.read_csv(folder / "truth.csv", dtype=str, keep_default_na=False)
    if list(ans.columns[:3]) != ["question", "worker", "answer"] or list(tru.columns[:2]) != ["question", "truth"]:
        raise SystemExit(f"{folder}: expected answer.csv with columns question,worker,answer and truth.csv "
                         f"with question,truth; got {list(ans.columns)} and {list(tru.columns)}")
    if ans["answer"].nunique() > MAX_CLASSES:
        print(f"skipping {name}: {ans['answer'].nunique()} distinct answers, not a categorical set")
        return None
    ans = ans.sort_values("worker", kind="stable")
    codes, classes = pd.factorize(ans["answer"])
    df = pd.DataFrame({"task": ans["question"].to_numpy(), "worker": ans["worker"].to_numpy(), "label": codes})
    df = df.sort_values(["worker", "label"], kind="stable").reset_index(drop=True)
    lookup = {c: i for i, c in enumerate(classes)}
    truth = pd.Series([lookup.get(v, -1) for v in tru["truth"]], index=tru["question"].to_numpy())
    truth = truth[~truth.index.duplicated()]
    return RealSet(name=name, df=df, truth=truth, classes=tuple(str(c) for c in classes))


def find_real(roots: list[Path]) -> list[RealSet]:
    """Every folder under ``roots`` that holds both ``answer.csv`` and ``truth.csv``."""
    out = []
    for root in roots:
        for answer in sorted(root.rglob("answer.csv")):
            if (answer.parent / "truth.csv").exists():
                rs = load_real(answer.parent, answer.parent.name)
                if rs is not None:
                    out.append(rs)
    return out


def real_cases(df: pd.DataFrame) -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    t, w, lab = df.task.to_numpy(), df.worker.to_numpy(), df.label.to_numpy()
    return [
        ("majority vote", lambda: majority_vote(t, w, lab, tie_break="first"), lambda: ck_fit(MajorityVote(), df)),
        ("Dawid-Skene", lambda: dawid_skene(t, w, lab), lambda: ck_fit(DawidSkene(n_iter=100, tol=1e-5), df)),
        ("one-coin DS", lambda: one_coin_dawid_skene(t, w, lab), lambda: ck_fit(OneCoinDawidSkene(n_iter=100), df)),
        ("GLAD", lambda: glad(t, w, lab), lambda: ck_fit(GLAD(), df)),
        ("MACE (1 restart)", lambda: mace(t, w, lab, n_restarts=1), lambda: ck_fit(MACE(n_restarts=1), df)),
        ("Wawa", lambda: wawa(t, w, lab), lambda: ck_fit(Wawa(), df)),
        ("ZBS", lambda: zero_based_skill(t, w, lab), lambda: ck_fit(ZeroBasedSkill(), df)),
    ]


def run_real(sets: list[RealSet], repeat: int) -> None:
    print("\n| data set | items (with truth) / workers / judgments / classes | model | accuracy ours | "
          "accuracy crowd-kit | labels agree | ours | crowd-kit | crowd-kit / ours |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rs in sets:
        items = pd.unique(rs.df.task)
        scored = np.array([i for i in items if i in rs.truth.index], dtype=object)
        true = rs.truth.loc[scored].to_numpy()
        shape = (f"{len(items):,} ({len(scored):,}) / {rs.df.worker.nunique():,} / {len(rs.df):,} / "
                 f"{len(rs.classes)}")
        for name, ours_fn, peer_fn in real_cases(rs.df):
            t1, o = best(ours_fn, repeat)
            t2, c = best(peer_fn, repeat)
            mine = pd.Series(o.labels, index=o.item_ids)
            theirs = c.labels_.astype(int)
            same = float((mine.loc[items].to_numpy() == theirs.loc[items].to_numpy()).mean())
            acc_o = float((mine.loc[scored].to_numpy() == true).mean())
            acc_c = float((theirs.loc[scored].to_numpy() == true).mean())
            print(f"| {rs.name} | {shape} | {name} | {acc_o:.4f} | {acc_c:.4f} | {same:.4f} | "
                  f"{t1 * 1e3:.1f} ms | {t2 * 1e3:.1f} ms | {t2 / t1:.1f}x |", flush=True)
            shape = ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="generated workload scale (1.0 = 20,000 items)")
    ap.add_argument("--repeat", type=int, default=1, help="best of this many runs per timing")
    ap.add_argument("--data", type=Path, action="append", default=[],
                    help="a folder searched for answer.csv + truth.csv pairs (repeatable), "
                         "e.g. crowd_truth_infer/datasets")
    ap.add_argument("--real-only", action="store_true", help="skip the generated workload")
    a = ap.parse_args()
    for d in a.data:
        if not d.is_dir():
            ap.error(f"--data {d}: not a folder; give the folder that holds <set>/answer.csv and <set>/truth.csv")
    if not a.real_only:
        run_generated(a.scale, a.repeat)
    run_real(find_real([BUNDLED, *a.data]), a.repeat)


if __name__ == "__main__":
    main()
