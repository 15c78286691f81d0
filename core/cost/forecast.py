"""Forecast cost and calendar time of a production run from a pilot, with bootstrap intervals.

The unit of work is one *pass* (one annotator labeling one item). For ``N`` production
items with overlap ``k`` and gold fraction ``g``::

    passes          = N k / (1 - g)                   (gold items ride in every queue)
    annotation_h    = passes * t / 3600               (t = seconds per pass x driver factor)
    review_h        = N * review_passes * review_time_factor * t / 3600
    spot_check_h    = N * spot_check_rate * spot_check_time_factor * t / 3600
    adjudication_h  = N * conflict_rate * adjudication_time_factor * t / 3600   (k >= 2)
    cost            = max(variable + fixed_fee, minimum_charge) + QA hours * QA rate
    working_days    = total hours / (team size * hours_per_day * utilization)

``t`` and labels per pass are ratio estimates over the pilot's kept (non-outlier)
passes; the interval resamples pilot *items* with replacement (passes of one item stay
together) and reports percentile bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from ..limits import check_limit
from .config import CostConfig
from .pilot import PassTable, PilotStats

FloatArray = npt.NDArray[np.float64]

COMPONENTS: tuple[str, ...] = ("annotation", "gold", "review", "spot_check", "adjudication",
                               "fixed_fee", "minimum_topup")


def round_money(v: float) -> float:
    """An amount for display and JSON: to the cent (``0.5700000000000001`` -> ``0.57``)."""
    return round(float(v), 2) if math.isfinite(v) else float(v)


def round_sig(v: float, digits: int = 6) -> float:
    """A measured quantity (hours, seconds, a per-item cost) to ``digits`` significant digits."""
    return float(f"{float(v):.{digits}g}") if math.isfinite(v) else float(v)


@dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    """A point estimate with percentile bounds (equal to it when no pilot was resampled)."""

    estimate: float
    low: float
    high: float

    def to_dict(self, *, money: bool = False) -> dict[str, float]:
        """Plain dict, rounded for display: amounts to the cent (``money``), else 6 significant digits."""
        r = round_money if money else round_sig
        return {"estimate": r(self.estimate), "low": r(self.low), "high": r(self.high)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Component:
    """One part of the cost: its hours and its cost (point estimate)."""

    name: str
    hours: float
    cost: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "hours": round_sig(self.hours), "cost": round_money(self.cost)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Forecast:
    """Cost and calendar time of a production run.

    Attributes:
        currency: Currency of every amount.
        items: Production items.
        passes: Annotation passes including gold (point estimate).
        pricing_model: The workforce's pricing model.
        basis: Where time per pass came from, in words.
        seconds_per_pass: Time of one pass after driver factors.
        labels_per_pass: Labels per pass, per kind (point estimate).
        components: Cost and hours per component; costs sum to ``total_cost.estimate``.
        total_cost / total_hours / working_days: With bootstrap percentile intervals.
        team_size / hours_per_day / utilization: The calendar's assumptions.
        confidence / n_boot / seed: The interval's level and resampling.
        conflict_rate: Share of items adjudicated (0 without overlap).
        pre_annotation_saving: Cost without predictions - cost with them (from the pilot's
            timed passes of both kinds; ``None`` when the pilot lacks either).
        notes: Assumptions and warnings in words.
    """

    currency: str
    items: int
    passes: float
    pricing_model: str
    basis: str
    seconds_per_pass: Interval
    labels_per_pass: Mapping[str, float]
    components: tuple[Component, ...]
    total_cost: Interval
    total_hours: Interval
    working_days: Interval
    team_size: int
    hours_per_day: float
    utilization: float
    confidence: float
    n_boot: int
    seed: int
    conflict_rate: float
    pre_annotation_saving: float | None
    notes: tuple[str, ...]

    @property
    def cost_per_item(self) -> float:
        return self.total_cost.estimate / self.items if self.items else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency, "items": self.items, "passes": round_sig(self.passes),
            "pricing_model": self.pricing_model, "basis": self.basis,
            "seconds_per_pass": self.seconds_per_pass.to_dict(),
            "labels_per_pass": {k: round_sig(v) for k, v in self.labels_per_pass.items()},
            "components": [c.to_dict() for c in self.components],
            "total_cost": self.total_cost.to_dict(money=True), "total_hours": self.total_hours.to_dict(),
            "working_days": self.working_days.to_dict(),
            # per-item costs are often fractions of a cent: 4 significant digits, not cents
            "cost_per_item": round_sig(self.cost_per_item, 4),
            "team_size": self.team_size, "hours_per_day": self.hours_per_day, "utilization": self.utilization,
            "confidence": self.confidence, "n_boot": self.n_boot, "seed": self.seed,
            "conflict_rate": round_sig(self.conflict_rate),
            "pre_annotation_saving": (None if self.pre_annotation_saving is None
                                      else round_money(self.pre_annotation_saving)),
            "notes": list(self.notes),
        }


def _per_item(passes: PassTable, sel: npt.NDArray[np.int64], kinds: list[str]
              ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per pilot item of the passes at ``sel`` (items in first-seen order): seconds, passes, labels per kind.

    Each item's sums add its passes in the order of ``sel`` (``np.bincount`` adds in input order).
    """
    _, first, inv = np.unique(passes.item[sel], return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    row = rank[inv.reshape(-1)]
    n = first.size
    sec = np.bincount(row, weights=passes.duration_s[sel], minlength=n).astype(np.float64)
    cnt = np.bincount(row, minlength=n).astype(np.float64)
    lab = np.zeros((n, len(kinds)))
    kpos = {k: j for j, k in enumerate(passes.kind_names)}
    for j, k in enumerate(kinds):
        lab[:, j] = np.bincount(row, weights=passes.counts[sel, kpos[k]].astype(np.float64), minlength=n)
    return sec, cnt, lab


@dataclass(frozen=True, slots=True)
class _Parts:
    passes: float
    hours: dict[str, FloatArray]
    cost: dict[str, FloatArray]


def _compute(cfg: CostConfig, items: int, seconds: FloatArray, labels: FloatArray, kinds: list[str],
             conflict_rate: float) -> _Parts:
    """Hours and cost per component for arrays of seconds per pass (B,) and labels per pass (B, K)."""
    qa, pr, dr = cfg.qa, cfg.pricing, cfg.drivers
    prod = float(items * qa.annotators_per_item)
    total_passes = prod / (1.0 - qa.gold_fraction)
    rate_factor = dr.rate_factor
    h = seconds / 3600.0

    def variable(passes: float) -> FloatArray:
        if pr.model == "per_label":
            rates = np.array([pr.rate_per_label_by_kind.get(k, pr.rate_per_label) for k in kinds])
            out: FloatArray = passes * (labels @ rates) if kinds else np.zeros_like(seconds)
            return out
        if pr.model == "per_hour":
            return passes * h * pr.rate_per_hour * rate_factor
        if pr.model == "per_task":
            return np.full_like(seconds, passes * pr.rate_per_task)
        return np.full_like(seconds, items * pr.rate_per_item)

    var_prod, var_all = variable(prod), variable(total_passes)
    subtotal = var_all + pr.fixed_fee
    topup = np.maximum(0.0, pr.minimum_charge - subtotal)
    qa_rate = (qa.rate_per_hour if qa.rate_per_hour is not None else pr.rate_per_hour) * rate_factor
    adj = conflict_rate if qa.annotators_per_item >= 2 else 0.0
    hours = {
        "annotation": prod * h, "gold": (total_passes - prod) * h,
        "review": items * qa.review_passes * qa.review_time_factor * h,
        "spot_check": items * qa.spot_check_rate * qa.spot_check_time_factor * h,
        "adjudication": items * adj * qa.adjudication_time_factor * h,
        "fixed_fee": np.zeros_like(h), "minimum_topup": np.zeros_like(h),
    }
    cost = {
        "annotation": var_prod, "gold": var_all - var_prod,
        "review": hours["review"] * qa_rate, "spot_check": hours["spot_check"] * qa_rate,
        "adjudication": hours["adjudication"] * qa_rate,
        "fixed_fee": np.full_like(h, pr.fixed_fee), "minimum_topup": topup,
    }
    return _Parts(passes=total_passes, hours=hours, cost=cost)


#: Replicates x pilot items drawn at once by :func:`_boot_sums` (its working set, in array elements).
_BOOT_BLOCK_CELLS = 4_000_000
#: From this many pilot items on, :func:`_boot_sums` counts draws one replicate at a time (faster, same counts).
_BOOT_ROW_ITEMS = 1024


def _boot_sums(rng: np.random.Generator, n_boot: int, table: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Column sums of ``table`` (one row per pilot item) over ``n_boot`` resamples of its rows.

    Counts how often each item is drawn per replicate, then one matrix product gives every
    sum. Replicates are drawn in blocks of at most ``_BOOT_BLOCK_CELLS`` draws, so memory
    stays bounded whatever ``n_boot`` x items is; the generator's stream does not depend on
    the blocks, so every block size draws exactly what one call would.
    """
    n = table.shape[0]
    block = max(1, _BOOT_BLOCK_CELLS // max(n, 1))
    # Below 2**32 items every draw is one bounded 32-bit number whatever the dtype: uint32 draws the same.
    dtype = np.uint32 if n < 2**32 else np.int64
    parts = []
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        idx = rng.integers(0, n, size=(b, n), dtype=dtype)
        if n >= _BOOT_ROW_ITEMS:  # a row's counts stay in cache: count each replicate on its own
            draws = np.empty((b, n), dtype=np.float64)
            for r in range(b):
                draws[r] = np.bincount(idx[r], minlength=n)
        else:
            flat = idx.astype(np.int64) + (np.arange(b, dtype=np.int64) * n)[:, None]
            draws = np.bincount(flat.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        parts.append(draws @ table)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def forecast(pilot: PilotStats | None, config: CostConfig, *, items: int, n_boot: int = 2000,
             confidence: float = 0.9, seed: int = 0) -> Forecast:
    """Forecast cost and calendar time for ``items`` production items.

    Args:
        pilot: Pilot measurements (:func:`~accord.core.cost.pilot.analyze_pilot`), or ``None``
            to use the config's per-kind time defaults (no interval then).
        config: Pricing, drivers, QA plan and team.
        items: Production dataset size (>= 1).
        n_boot: Bootstrap replicates over pilot items (>= 100).
        confidence: Two-sided percentile interval level, in (0, 1).
        seed: Seed of the resampling (same seed, same interval).

    Returns:
        A :class:`Forecast`. Cost is never negative and grows with overlap, gold, review
        and spot-check rates.

    Raises:
        InvalidAnnotationError: bad ``items``, ``n_boot`` or ``confidence``, or a pilot
            with no kept timed pass.
    """
    if isinstance(items, bool) or not isinstance(items, int) or items < 1:
        raise InvalidAnnotationError(f"items must be an integer >= 1 (production dataset size), got {items!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 100:
        raise InvalidAnnotationError(f"n_boot must be >= 100 (a whole number) for a percentile interval, "
                                     f"got {n_boot!r}")
    check_limit("max_bootstrap", n_boot, "the cost forecast's bootstrap (--boot) asks for", unit=" replicates")
    if not 0 < confidence < 1:
        raise InvalidAnnotationError(f"confidence must be in (0, 1), e.g. 0.9, got {confidence!r}")
    factor = config.drivers.time_factor
    notes: list[str] = []
    saving: float | None = None
    conflict = config.qa.conflict_rate
    if pilot is None:
        kinds = [config.drivers.label_kind]
        s_point = config.drivers.seconds_per_item() * factor
        seconds = np.array([s_point])
        labels = np.array([[config.drivers.objects_per_item]])
        basis = (f"defaults: {config.drivers.objects_per_item:g} x {config.drivers.label_kind} per item "
                 f"(no pilot; no interval)")
        notes.append("no pilot: time per item comes from default seconds per label; run a pilot for intervals")
        boot = False
    else:
        table = PassTable.from_passes(pilot.passes)
        kept = ~table.outlier
        pre = kept & table.pre_annotated
        plain = kept & ~table.pre_annotated
        want = "with predictions" if config.team.pre_annotation else "without predictions"
        if (config.team.pre_annotation and pre.any()) or (not config.team.pre_annotation and plain.any()):
            # Per label kind: a kind with no pass of the wanted sort keeps the passes it has
            # (said in a note), so no kind of work silently drops out of the forecast.
            parts_of: list[npt.NDArray[np.int64]] = []
            which, fallback = want, []
            wanted = pre if config.team.pre_annotation else plain
            for code in np.unique(table.top[kept]).tolist():  # kinds in sorted order
                of_kind = kept & (table.top == code)
                match = of_kind & wanted
                parts_of.append(np.flatnonzero(match if match.any() else of_kind))
                if not match.any():
                    fallback.append(f"{table.top_names[code]} ({int(of_kind.sum())})")
            chosen = np.concatenate(parts_of)
            if fallback:
                which = f"{want}; all passes of {', '.join(fallback)}"
                notes.append(f"no pilot pass {want} for {', '.join(f.split(' (')[0] for f in fallback)}: those "
                             "kinds use their passes " + ("without" if config.team.pre_annotation else "with")
                             + " predictions, so their time is " + ("an upper" if config.team.pre_annotation
                                                                   else "a lower") + " estimate")
        else:
            chosen, which = np.flatnonzero(kept), "all passes"
            notes.append("team.pre_annotation is " + ("set but the pilot had no pre-annotated passes"
                         if config.team.pre_annotation else "off but every pilot pass was pre-annotated"))
        if not chosen.size:
            raise InvalidAnnotationError("the pilot has no timed pass left after outlier trimming")
        trimmed = {k: v for k, v in pilot.by_kind.items() if v.n_outliers}
        if trimmed:
            notes.append("outliers trimmed per kind: " + ", ".join(
                f"{k} {v.n_outliers} of {v.n}" for k, v in trimmed.items()))
        excluded = sorted({table.top_names[c] for c in np.unique(table.top).tolist()}
                          - {table.top_names[c] for c in np.unique(table.top[chosen]).tolist()})
        if excluded:
            notes.append(f"left out of the forecast (every pass trimmed): {', '.join(excluded)}")
        kinds = [table.kind_names[j] for j in np.flatnonzero((table.order[kept] >= 0).any(axis=0)).tolist()]
        sec, cnt, lab = _per_item(table, chosen, kinds)
        rng = np.random.default_rng(seed)
        sums = _boot_sums(rng, n_boot, np.column_stack([sec, cnt, lab]))
        c_b = sums[:, 1]
        seconds = np.concatenate([[sec.sum() / cnt.sum()], sums[:, 0] / c_b]) * factor
        labels = np.vstack([lab.sum(axis=0) / cnt.sum(), sums[:, 2:] / c_b[:, None]])
        n_items = sec.size
        basis = (f"pilot: {int(cnt.sum())} timed passes on {n_items} items ({which}), "
                 f"{pilot.overall.n_outliers} outlier(s) trimmed within each label kind")
        if n_items < 30:
            notes.append(f"only {n_items} pilot items: the interval is wide and itself uncertain")
        if config.qa.annotators_per_item >= 2 and not math.isnan(pilot.conflict_rate):
            conflict = pilot.conflict_rate
            notes.append(f"adjudication uses the pilot's measured conflict rate {conflict:.1%}")
        boot = True
        if pre.any() and plain.any():
            w_sec, w_cnt, w_lab = _per_item(table, np.flatnonzero(pre), kinds)
            o_sec, o_cnt, o_lab = _per_item(table, np.flatnonzero(plain), kinds)
            with_p = _compute(config, items, np.array([w_sec.sum() / w_cnt.sum() * factor]),
                              w_lab.sum(axis=0, keepdims=True) / w_cnt.sum(), kinds, conflict)
            without = _compute(config, items, np.array([o_sec.sum() / o_cnt.sum() * factor]),
                               o_lab.sum(axis=0, keepdims=True) / o_cnt.sum(), kinds, conflict)
            saving = float(sum(v[0] for v in without.cost.values()) - sum(v[0] for v in with_p.cost.values()))
    if factor != 1.0:
        notes.append(f"driver factors scale time per pass by {factor:.3g}")
    parts = _compute(config, items, seconds, labels, kinds, conflict)
    tot_cost = sum(parts.cost.values(), np.zeros_like(seconds))
    tot_hours = sum(parts.hours.values(), np.zeros_like(seconds))
    t = config.team
    days = tot_hours / (t.size * t.hours_per_day * t.utilization)
    alpha = (1.0 - confidence) / 2.0

    def interval(a: FloatArray) -> Interval:
        if not boot:
            return Interval(estimate=float(a[0]), low=float(a[0]), high=float(a[0]))
        lo, hi = np.quantile(a[1:], [alpha, 1.0 - alpha])
        return Interval(estimate=float(a[0]), low=float(lo), high=float(hi))

    comps = tuple(Component(name=n, hours=float(parts.hours[n][0]), cost=float(parts.cost[n][0]))
                  for n in COMPONENTS)
    return Forecast(
        currency=config.currency, items=items, passes=parts.passes, pricing_model=config.pricing.model,
        basis=basis, seconds_per_pass=interval(seconds),
        labels_per_pass=MappingProxyType({k: float(labels[0, j]) for j, k in enumerate(kinds)}),
        components=comps, total_cost=interval(tot_cost), total_hours=interval(tot_hours),
        working_days=interval(days), team_size=t.size, hours_per_day=t.hours_per_day,
        utilization=t.utilization, confidence=confidence, n_boot=n_boot if boot else 0, seed=seed,
        conflict_rate=conflict if config.qa.annotators_per_item >= 2 else 0.0,
        pre_annotation_saving=saving, notes=tuple(notes))
