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
from collections.abc import Iterator, Mapping, Sequence
from typing import cast

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2 as chi2_dist
from scipy.stats import chi2_contingency

from ..model import Value
from .base import (
    SUSPICIOUS_BEHAVIOUR,
    CheckConfig,
    CheckContext,
    Finding,
    FloatArray,
    IntArray,
    finding,
    groups_in_order,
    robust_z,
    take,
    unique_codes,
)
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


def timed_groups(ctx: CheckContext) -> tuple[IntArray, list[tuple[IntArray, str]]]:
    """The timed human submissions :func:`check_too_fast` judges, grouped by label type.

    Returns:
        ``(rows, groups)``: positions in ``ctx.dataset.submissions`` of the human, not cancelled
        submissions with a duration, and per label type (in order of first appearance) the
        positions into ``rows`` of its submissions (ascending) and its name (the sorted value
        kinds of the submission's human records joined by ``+``; ``empty`` when it has none).
    """
    cols, subs = ctx.columns(), ctx.submission_columns()
    sel = np.flatnonzero((subs.source == subs.sources.index("human")) & ~subs.cancelled
                         & ~np.isnan(subs.duration_s))
    if sel.size == 0:
        return sel, []
    # The label type of a submission: the set of value kinds of its human records, as a bit mask.
    n_ann = len(cols.annotator_ids)
    rh = np.flatnonzero(cols.source == cols.code("sources", "human"))
    keys, _, inv, _ = unique_codes(cols.item[rh] * n_ann + cols.annotator[rh])
    mask = np.zeros(len(keys), dtype=np.int64)
    kind_h = cols.kind[rh]
    for k in range(len(cols.kinds)):
        mask[inv[kind_h == k]] |= 1 << k
    s_item, s_ann = subs.item[sel], subs.annotator[sel]
    skey = np.where((s_item >= 0) & (s_ann >= 0), s_item * n_ann + s_ann, -1)
    smask = np.zeros(sel.size, dtype=np.int64)
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, skey), len(keys) - 1)
        hit = keys[pos] == skey
        smask[hit] = mask[pos[hit]]
    groups = []
    for g in groups_in_order(smask):
        bits = int(smask[g[0]])
        groups.append((g, "+".join(sorted(c for k, c in enumerate(cols.kinds) if bits >> k & 1)) or "empty"))
    return sel, groups


def fast_outliers(durations_s: FloatArray, cfg: CheckConfig) -> tuple[IntArray, FloatArray, float]:
    """The too-fast durations of one label type: ``(positions, robust z of log durations, median)``."""
    zt, frac = float(cfg["z_threshold"]), float(cfg["max_fraction"])
    z = robust_z(np.log(durations_s + 1e-3))
    med = float(np.median(durations_s))
    return np.flatnonzero((z < -zt) & (durations_s < frac * med)), z, med


def too_fast_finding(cfg: CheckConfig, item_id: str, annotator_id: str, duration_s: float, median_s: float,
                     z: float, label_type: str) -> Finding:
    """The finding of one too-fast submission."""
    return finding(cfg.name, cfg, None, item_id=item_id, annotator_id=annotator_id, category=SUSPICIOUS_BEHAVIOUR,
                   evidence={"duration_s": duration_s, "median_s": median_s, "z": z, "label_type": label_type},
                   message=f"submission took {duration_s:.1f} s against a median of {median_s:.1f} s "
                           f"for {label_type}")


def check_too_fast(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Implausibly fast submissions, per label type."""
    min_count = int(cfg["min_count"])
    sel, groups = timed_groups(ctx)
    subs = ctx.submission_columns()
    submissions = ctx.dataset.submissions
    for g, ktype in groups:
        if len(g) < min_count:
            continue
        rows = sel[g]
        flagged, z, med = fast_outliers(subs.duration_s[rows], cfg)
        for k in flagged:
            s = submissions[int(rows[k])]
            yield too_fast_finding(cfg, s.item_id, s.annotator_id, cast(float, s.duration_s), med, float(z[k]),
                                   ktype)


def _peer_test(cfg: CheckConfig, k: int, n: int, k_all: int, n_all: int) -> tuple[bool, float, float, float]:
    kp, np_ = k_all - k, n_all - n
    p_a = k / n if n else 0.0
    p_p = kp / np_ if np_ else math.nan
    z = two_proportion_z(k, n, kp, np_)
    flag = (n >= int(cfg["min_count"]) and np_ > 0 and p_a - p_p >= float(cfg["min_excess"])
            and z >= float(cfg["z_threshold"]))
    return flag, p_a, p_p, z


def _human_classifications(ctx: CheckContext) -> IntArray:
    """Positions (in dataset order) of the human records holding a classification."""
    cols = ctx.columns()
    cls, human = cols.code("kinds", "classification"), cols.code("sources", "human")
    if cls < 0 or human < 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero((cols.kind == cls) & (cols.source == human))


def check_straight_lining(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Annotators using one label far more often than their peers."""
    cols, schema = ctx.columns(), ctx.dataset.schema
    sel = _human_classifications(ctx)
    n_labels = max(len(cols.labels), 1)
    for group in groups_in_order(cols.label_set[sel]):
        rows = sel[group]
        ls = cols.label_sets[cols.label_set[rows[0]]]
        if ls in schema and schema[ls].kind not in _CLASS_KINDS:
            continue
        ann, lab = cols.annotator[rows], cols.label[rows]
        total = np.bincount(lab, minlength=n_labels)
        n_all = int(rows.size)
        # Each annotator's most used label; ties go to the label the annotator used first.
        pairs, first, _, count = unique_codes(ann * n_labels + lab)
        pair_ann = pairs // n_labels
        order = np.lexsort((first, -count, pair_ann))
        top = order[np.r_[True, pair_ann[order][1:] != pair_ann[order][:-1]]]
        per_ann = np.bincount(pair_ann, weights=count).astype(np.int64)
        anns, ann_first, _, _ = unique_codes(ann)
        best = dict(zip(pair_ann[top].tolist(), top.tolist(), strict=True))
        for a in anns[np.argsort(ann_first, kind="stable")].tolist():
            t = best[a]
            label, k, n = cols.labels[int(pairs[t] % n_labels)], int(count[t]), int(per_ann[a])
            flag, p_a, p_p, z = _peer_test(cfg, k, n, int(total[pairs[t] % n_labels]), n_all)
            if flag:
                annotator = cols.annotator_ids[a]
                yield finding(cfg.name, cfg, None, annotator_id=annotator, label_set=ls, label=label,
                              category=SUSPICIOUS_BEHAVIOUR,
                              evidence={"share": p_a, "peer_share": p_p, "z": z, "n": n},
                              message=f"{annotator} gives {label!r} to {p_a:.0%} of items in {ls!r}, "
                                      f"peers {p_p:.0%}")


def check_rubber_stamping(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Annotators accepting pre-annotations unchanged far more often than peers."""
    return rubber_stamping_findings(cfg, rubber_stamping_counts(ctx))


def rubber_stamping_counts(ctx: CheckContext) -> dict[str, list[int]]:
    """Per annotator ``[unchanged, judged]``: of their human submissions times the label sets the
    item has model records in, how many keep the model's values unchanged (a sum over items)."""
    if "model" not in ctx.columns().sources:
        return {}
    model: dict[tuple[str, str], Counter[Value]] = {}
    for r in ctx.dataset.records:
        if r.source == "model":
            model.setdefault((r.item_id, r.label_set), Counter())[r.value] += 1
    if not model:
        return {}
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
    return stats


def rubber_stamping_findings(cfg: CheckConfig, stats: Mapping[str, Sequence[int]]) -> Iterator[Finding]:
    """The peer test of every annotator's ``[unchanged, judged]`` counts against everyone's."""
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
    cols = ctx.columns()
    sel = _human_classifications(ctx)
    n_sets = max(len(cols.label_sets), 1)
    for group in groups_in_order(cols.annotator[sel] * n_sets + cols.label_set[sel]):
        if len(group) < 2 * window:
            continue
        rows = sel[group]
        ann, ls = cols.annotator_ids[cols.annotator[rows[0]]], cols.label_sets[cols.label_set[rows[0]]]
        created = take(ctx.created_at(), rows)
        if all(created):  # sorted is stable: equal timestamps keep dataset order
            rows = rows[sorted(range(len(created)), key=cast(list[str], created).__getitem__)]
        present, _, inv, _ = unique_codes(cols.label[rows])
        names = [cols.labels[c] for c in present.tolist()]
        cats = sorted(names)
        if len(cats) < 2:
            continue
        idx = {c: j for j, c in enumerate(cats)}
        codes = np.array([idx[c] for c in names], dtype=np.int64)[inv]
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
                first_item = cols.item_ids[cols.item[rows[w * window]]]
                yield finding(cfg.name, cfg, None, annotator_id=ann, label_set=ls, category=SUSPICIOUS_BEHAVIOUR,
                              evidence={"window": w, "first_item": first_item, "p_value": p,
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
