"""Annotator behaviour checks: speed, straight-lining, rubber-stamping, drift.

Only human work is judged. Findings name the annotator, not one region.

* ``behaviour.too_fast``: submissions whose ``duration_s`` is an outlier on the fast
  side among submissions of the same label type (the sorted value kinds they
  contain): robust z of the log duration below ``-z_threshold`` and the duration
  below ``max_fraction`` of the median. Types with fewer than ``min_count``
  timed submissions are skipped.
* ``behaviour.straight_lining``: in a classification label set, an annotator whose
  most used label has a share at least ``min_excess`` above the same label's share
  among the other annotators, with a one-sided two-proportion z-test above
  ``z_threshold`` (pooled variance; e.g. Agresti, *Categorical Data Analysis*, 3rd
  ed., §2.1). Needs ``min_count`` values from the annotator.
* ``behaviour.rubber_stamping``: the share of an annotator's submissions that keep
  the model's pre-annotation unchanged (the same multiset of values in the label
  set as the ``source="model"`` records of the item) against the other annotators'
  share, with the same test and thresholds.
* ``behaviour.label_drift``: an annotator's classification labels, in
  ``created_at`` order (dataset order when missing), cut into windows of ``window``
  values; each window is compared with all earlier ones by a chi-square test of
  homogeneity, and a finding is made at the first window whose p-value is below
  ``alpha`` divided by the number of windows tested (Bonferroni).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2 as chi2_dist
from scipy.stats import chi2_contingency

from ..model import Record, Value
from .base import SUSPICIOUS_BEHAVIOUR, CheckConfig, CheckContext, Finding, finding, robust_z
from .registry import register_check

_CLASS_KINDS = ("classification",)


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """Pooled two-proportion z statistic for ``k1/n1 > k2/n2``; 0 when undefined."""
    if n1 == 0 or n2 == 0:
        return 0.0
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0
    return (k1 / n1 - k2 / n2) / se


def check_too_fast(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Implausibly fast submissions, per label type."""
    zt, frac, min_count = float(cfg["z_threshold"]), float(cfg["max_fraction"]), int(cfg["min_count"])
    kinds: dict[tuple[str, str, str], set[str]] = {}
    for r in ctx.dataset.records:
        if r.source == "human":
            kinds.setdefault((r.item_id, r.annotator_id, r.source), set()).add(r.value.kind)
    by_type: dict[str, list[tuple[str, str, float]]] = {}
    for s in ctx.dataset.submissions:
        if s.source != "human" or s.was_cancelled or s.duration_s is None:
            continue
        ktype = "+".join(sorted(kinds.get((s.item_id, s.annotator_id, s.source), {"empty"})))
        by_type.setdefault(ktype, []).append((s.item_id, s.annotator_id, s.duration_s))
    for ktype, subs in by_type.items():
        if len(subs) < min_count:
            continue
        d = np.array([x[2] for x in subs], dtype=np.float64)
        z = robust_z(np.log(d + 1e-3))
        med = float(np.median(d))
        for k in np.flatnonzero((z < -zt) & (d < frac * med)):
            item_id, annotator_id, dur = subs[k]
            yield finding(cfg.name, cfg, None, item_id=item_id, annotator_id=annotator_id,
                          category=SUSPICIOUS_BEHAVIOUR,
                          evidence={"duration_s": dur, "median_s": med, "z": float(z[k]), "label_type": ktype},
                          message=f"submission took {dur:.1f} s against a median of {med:.1f} s for {ktype}")


def _peer_test(cfg: CheckConfig, k: int, n: int, k_all: int, n_all: int) -> tuple[bool, float, float, float]:
    kp, np_ = k_all - k, n_all - n
    p_a = k / n if n else 0.0
    p_p = kp / np_ if np_ else math.nan
    z = two_proportion_z(k, n, kp, np_)
    flag = (n >= int(cfg["min_count"]) and np_ > 0 and p_a - p_p >= float(cfg["min_excess"])
            and z >= float(cfg["z_threshold"]))
    return flag, p_a, p_p, z


def _class_sets(ctx: CheckContext) -> list[str]:
    schema = ctx.dataset.schema
    seen: dict[str, None] = {}
    for r in ctx.records("classification"):
        if r.source == "human" and (r.label_set not in schema or schema[r.label_set].kind in _CLASS_KINDS):
            seen.setdefault(r.label_set, None)
    return list(seen)


def check_straight_lining(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Annotators using one label far more often than their peers."""
    for ls in _class_sets(ctx):
        per: dict[str, Counter[str]] = {}
        total: Counter[str] = Counter()
        for r in ctx.records("classification"):
            if r.label_set == ls and r.source == "human" and (label := r.label) is not None:
                per.setdefault(r.annotator_id, Counter())[label] += 1
                total[label] += 1
        n_all = sum(total.values())
        for ann, cnt in per.items():
            label, k = cnt.most_common(1)[0]
            n = sum(cnt.values())
            flag, p_a, p_p, z = _peer_test(cfg, k, n, total[label], n_all)
            if flag:
                yield finding(cfg.name, cfg, None, annotator_id=ann, label_set=ls, label=label,
                              category=SUSPICIOUS_BEHAVIOUR,
                              evidence={"share": p_a, "peer_share": p_p, "z": z, "n": n},
                              message=f"{ann} gives {label!r} to {p_a:.0%} of items in {ls!r}, "
                                      f"peers {p_p:.0%}")


def check_rubber_stamping(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Annotators accepting pre-annotations unchanged far more often than peers."""
    model: dict[tuple[str, str], Counter[Value]] = {}
    for r in ctx.dataset.records:
        if r.source == "model":
            model.setdefault((r.item_id, r.label_set), Counter())[r.value] += 1
    if not model:
        return
    human: dict[tuple[str, str, str], Counter[Value]] = {}
    for r in ctx.dataset.records:
        if r.source == "human" and (r.item_id, r.label_set) in model:
            human.setdefault((r.item_id, r.label_set, r.annotator_id), Counter())[r.value] += 1
    sets_of_item: dict[str, list[str]] = {}
    for item_id, ls in model:
        sets_of_item.setdefault(item_id, []).append(ls)
    stats: dict[str, list[int]] = {}
    for s in ctx.dataset.submissions:
        if s.source != "human" or s.was_cancelled:
            continue
        item_id = s.item_id
        for ls in sets_of_item.get(item_id, ()):
            pre = model[(item_id, ls)]
            mine = human.get((item_id, ls, s.annotator_id), Counter())
            st = stats.setdefault(s.annotator_id, [0, 0])
            st[0] += mine == pre
            st[1] += 1
    k_all = sum(v[0] for v in stats.values())
    n_all = sum(v[1] for v in stats.values())
    for ann, (k, n) in stats.items():
        flag, p_a, p_p, z = _peer_test(cfg, k, n, k_all, n_all)
        if flag:
            yield finding(cfg.name, cfg, None, annotator_id=ann, category=SUSPICIOUS_BEHAVIOUR,
                          evidence={"unchanged_rate": p_a, "peer_rate": p_p, "z": z, "n": n},
                          message=f"{ann} keeps {p_a:.0%} of pre-annotations unchanged, peers {p_p:.0%}")


def check_label_drift(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Sudden changes in an annotator's label distribution over time."""
    window, alpha = int(cfg["window"]), float(cfg["alpha"])
    by: dict[tuple[str, str], list[tuple[int, Record]]] = {}
    for i, r in enumerate(ctx.records("classification")):
        if r.source == "human" and r.label is not None:
            by.setdefault((r.annotator_id, r.label_set), []).append((i, r))
    for (ann, ls), recs in by.items():
        if len(recs) < 2 * window:
            continue
        if all(r.created_at for _, r in recs):
            recs.sort(key=lambda x: (str(x[1].created_at), x[0]))
        labels = [str(r.label) for _, r in recs]
        cats = sorted(set(labels))
        if len(cats) < 2:
            continue
        idx = {c: j for j, c in enumerate(cats)}
        codes = np.array([idx[lb] for lb in labels])
        n_windows = len(codes) // window
        tests = n_windows - 1
        for w in _drift_candidates(codes, window, len(cats), alpha / tests):
            before = np.bincount(codes[:w * window], minlength=len(cats))
            now = np.bincount(codes[w * window:(w + 1) * window], minlength=len(cats))
            table = np.stack([before, now])
            table = table[:, table.sum(axis=0) > 0]
            if table.shape[1] < 2:
                continue
            p = float(chi2_contingency(table, correction=False).pvalue)
            if p < alpha / tests:
                start = recs[w * window][1]
                yield finding(cfg.name, cfg, None, annotator_id=ann, label_set=ls, category=SUSPICIOUS_BEHAVIOUR,
                              evidence={"window": w, "first_item": start.item_id, "p_value": p,
                                        "before": dict(zip(cats, (before / before.sum()).tolist(), strict=True)),
                                        "window_share": dict(zip(cats, (now / now.sum()).tolist(), strict=True))},
                              message=f"{ann}'s labels in {ls!r} shift at value {w * window} (p = {p:.1e})")
                break


def _drift_candidates(codes: npt.NDArray[np.int64], window: int, k: int, threshold: float) -> list[int]:
    """Windows ``w >= 1`` whose "all before vs this window" chi-square p-value may be below ``threshold``.

    All windows at once: the same Pearson statistic as ``chi2_contingency(correction=False)``
    on the table without empty columns, from cumulative counts. Only a screen: a window is
    kept unless its p-value is clearly (relative margin 1e-6, far above rounding) at or above
    the threshold, and the caller recomputes the kept ones exactly, in order, so the first
    flagged window and its p-value are those of testing every window one by one.
    """
    n_windows = codes.size // window
    if n_windows < 2:
        return []
    win = np.repeat(np.arange(n_windows), window)
    counts = np.bincount(win * k + codes[:n_windows * window], minlength=n_windows * k
                         ).reshape(n_windows, k).astype(np.float64)
    before = np.cumsum(counts, axis=0)[:-1]  # windows 0..w-1, for w = 1..n_windows-1
    now = counts[1:]
    col = before + now
    used = col > 0
    rows_b = before.sum(axis=1, keepdims=True)
    rows_n = now.sum(axis=1, keepdims=True)
    total = rows_b + rows_n
    with np.errstate(divide="ignore", invalid="ignore"):
        exp_b = rows_b * col / total
        exp_n = rows_n * col / total
        terms = np.where(used, (before - exp_b) ** 2 / exp_b + (now - exp_n) ** 2 / exp_n, 0.0)
    stat = terms.sum(axis=1)
    dof = used.sum(axis=1) - 1
    p = np.ones(stat.size)
    ok = dof >= 1
    p[ok] = chi2_dist.sf(stat[ok], dof[ok])
    keep = ok & ~(p >= threshold * (1 + 1e-6))
    return [int(w) + 1 for w in np.flatnonzero(keep)]


def register() -> None:
    """Register the behaviour checks."""
    peer = {"min_count": 20, "min_excess": 0.3, "z_threshold": 3.0}
    register_check("behaviour.too_fast", kinds=(), fn=check_too_fast, severity="minor",
                   params={"z_threshold": 3.5, "max_fraction": 0.25, "min_count": 20},
                   description="implausibly fast submissions per label type")
    register_check("behaviour.straight_lining", kinds=("classification",), fn=check_straight_lining,
                   severity="major", params=dict(peer),
                   description="one label far above the annotator's peers")
    register_check("behaviour.rubber_stamping", kinds=(), fn=check_rubber_stamping, severity="major",
                   params=dict(peer), description="pre-annotations accepted unchanged far above peers")
    register_check("behaviour.label_drift", kinds=("classification",), fn=check_label_drift, severity="minor",
                   params={"window": 50, "alpha": 0.001},
                   description="sudden drift in an annotator's label distribution over time")
