"""In-house vs vendor vs hybrid: total cost of ownership and a weighted decision matrix.

The in-house team is paid by the hour (``pricing.rate_per_hour`` times the expertise
multiplier) and also costs hiring, onboarding hours, management and tooling per month.
The vendor bills its own price list (with its minimum and setup fee) plus internal
vendor management. The hybrid sends ``hybrid_vendor_share`` of the items to the vendor
and keeps the rest; both halves run in parallel.

The decision matrix scores each option 1..5 on control, speed, cost, security and
expertise. Cost and speed come from the numbers (best = 5, others ``1 + 4 * best / theirs``);
control, security and expertise are the user's judgements from the config. The verdict
is the highest weighted mean, and the explanation names the criteria that decided it and
the smallest change of one weight that would flip it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .config import CRITERIA, SOURCING_OPTIONS, CostConfig
from .forecast import Forecast, round_money, round_sig
from .pricing import Workload, price

WORKING_DAYS_PER_MONTH = 21.0


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionCost:
    """The total cost of ownership and calendar time of one sourcing option.

    ``lines`` are the cost lines (labour, hiring, training, management, tooling, vendor
    bill, setup fee...), summing to ``total``.
    """

    option: str
    lines: Mapping[str, float]
    total: float
    working_days: float
    hours: float

    def to_dict(self) -> dict[str, Any]:
        return {"option": self.option, "lines": {k: round_money(v) for k, v in self.lines.items()},
                "total": round_money(self.total), "working_days": round_sig(self.working_days),
                "hours": round_sig(self.hours)}


@dataclass(frozen=True, slots=True, kw_only=True)
class SourcingDecision:
    """Costs, the decision matrix and the verdict, with its explanation.

    Attributes:
        currency: Currency of every amount.
        options: Cost of each option.
        weights: The criteria weights used.
        scores: ``{option: {criterion: score 1..5}}``.
        weighted: ``{option: weighted mean score}``.
        verdict: The option with the highest weighted score.
        explanation: Sentences that justify the verdict.
    """

    currency: str
    options: tuple[OptionCost, ...]
    weights: Mapping[str, float]
    scores: Mapping[str, Mapping[str, float]]
    weighted: Mapping[str, float]
    verdict: str
    explanation: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"currency": self.currency, "options": [o.to_dict() for o in self.options],
                "weights": dict(self.weights), "scores": {k: dict(v) for k, v in self.scores.items()},
                "weighted": dict(self.weighted), "verdict": self.verdict, "explanation": list(self.explanation)}


def _in_house(fc: Forecast, cfg: CostConfig, share: float) -> tuple[dict[str, float], float, float]:
    ih, t = cfg.sourcing.in_house, cfg.team
    if share <= 0:
        return {}, 0.0, 0.0
    hours = fc.total_hours.estimate * share
    wage = cfg.pricing.rate_per_hour * cfg.drivers.rate_factor
    size = max(1, min(math.ceil(t.size * share), ih.max_team_size))
    days = hours / (size * t.hours_per_day * t.utilization)
    labour = hours * wage
    lines = {"in-house labour": labour, "hiring": size * ih.hiring_cost_per_person,
             "training": size * ih.training_hours_per_person * wage,
             "management": ih.management_overhead * labour,
             "tooling": ih.tooling_per_month * max(1.0, days / WORKING_DAYS_PER_MONTH)}
    return lines, days, hours


def _vendor(fc: Forecast, cfg: CostConfig, share: float) -> tuple[dict[str, float], float, float]:
    v, t = cfg.sourcing.vendor, cfg.team
    if share <= 0:
        return {}, 0.0, 0.0
    hours = fc.total_hours.estimate * share * v.time_factor
    work = Workload(items=fc.items * share, passes=fc.passes * share,
                    labels={k: n * fc.passes * share for k, n in fc.labels_per_pass.items()}, hours=hours)
    charge = price(work, v.pricing, rate_factor=cfg.drivers.rate_factor)
    days = hours / (v.team_size * t.hours_per_day * t.utilization)
    lines = {"vendor bill": charge.total, "vendor setup": v.setup_fee,
             "vendor management": v.management_overhead * charge.total}
    return lines, days, hours


def compare_sourcing(fc: Forecast, config: CostConfig) -> SourcingDecision:
    """Compare in-house, vendor and hybrid sourcing of a forecast workload.

    Args:
        fc: The production forecast (its point estimates of hours, passes and labels).
        config: The cost config; ``[sourcing]`` holds TCO inputs, weights and scores.

    Returns:
        A :class:`SourcingDecision`. Ties go to the option listed first
        (in_house, vendor, hybrid).
    """
    s = config.sourcing
    shares = {"in_house": 0.0, "vendor": 1.0, "hybrid": s.hybrid_vendor_share}
    options: list[OptionCost] = []
    for opt in SOURCING_OPTIONS:
        vs = shares[opt]
        a, da, ha = _in_house(fc, config, 1.0 - vs)
        b, db, hb = _vendor(fc, config, vs)
        lines = {k: float(x) for k, x in {**a, **b}.items()}
        options.append(OptionCost(option=opt, lines=MappingProxyType(lines), total=float(sum(lines.values())),
                                  working_days=max(da, db), hours=ha + hb))
    best_cost = min(o.total for o in options)
    best_days = min(o.working_days for o in options)
    scores: dict[str, Mapping[str, float]] = {}
    for o in options:
        sc = dict(s.scores[o.option])
        sc["cost"] = 1.0 + 4.0 * best_cost / o.total if o.total > 0 else 5.0
        sc["speed"] = 1.0 + 4.0 * best_days / o.working_days if o.working_days > 0 else 5.0
        scores[o.option] = MappingProxyType({c: float(sc[c]) for c in CRITERIA})
    wsum = sum(s.weights.values())
    weighted = {o: sum(s.weights[c] * scores[o][c] for c in CRITERIA) / wsum for o in SOURCING_OPTIONS}
    ranked = sorted(SOURCING_OPTIONS, key=lambda o: (-weighted[o], SOURCING_OPTIONS.index(o)))
    win, second = ranked[0], ranked[1]
    by = {o.option: o for o in options}
    expl = [f"{win} scores {weighted[win]:.2f} of 5, ahead of {second} ({weighted[second]:.2f}) and "
            f"{ranked[2]} ({weighted[ranked[2]]:.2f}) with weights "
            + ", ".join(f"{c}={s.weights[c]:g}" for c in CRITERIA) + "."]
    expl.append(f"{win} costs {by[win].total:,.0f} {config.currency} over {by[win].working_days:.1f} working "
                f"days; {second} costs {by[second].total:,.0f} {config.currency} over "
                f"{by[second].working_days:.1f} days.")
    contrib = {c: s.weights[c] * (scores[win][c] - scores[second][c]) / wsum for c in CRITERIA}
    pro = [c for c in sorted(CRITERIA, key=lambda c: -contrib[c]) if contrib[c] > 1e-12]
    con = [c for c in sorted(CRITERIA, key=lambda c: contrib[c]) if contrib[c] < -1e-12]
    if pro:
        expl.append(f"Decided by {', '.join(pro)} (where {win} scores higher than {second}).")
    if con:
        expl.append(f"{second} is better on {', '.join(con)}.")
        margin = sum(s.weights[c] * (scores[win][c] - scores[second][c]) for c in CRITERIA)
        flips = {c: margin / (scores[second][c] - scores[win][c]) for c in con}
        c = min(flips, key=lambda k: flips[k])
        expl.append(f"The verdict would change to {second} if the weight of {c} rose from {s.weights[c]:g} "
                    f"to above {s.weights[c] + flips[c]:.3g}.")
    elif weighted[win] == weighted[second]:
        expl.append(f"{win} and {second} tie; the first listed is chosen.")
    return SourcingDecision(currency=config.currency, options=tuple(options), weights=s.weights,
                            scores=MappingProxyType(scores), weighted=MappingProxyType(weighted),
                            verdict=win, explanation=tuple(expl))
