"""Pricing models: what a workload costs under a per-label, hourly, per-task or project price.

A :class:`Workload` counts the billable units (items, annotation passes, labels per
kind, hours); :func:`price` turns it into a :class:`Charge` under one
:class:`~accord.core.cost.config.Pricing`. Amounts are in the config's currency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError
from .config import Pricing


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """Billable units of a labeling job.

    Attributes:
        items: Production items.
        passes: Annotation passes (items x overlap, plus gold), >= 0.
        labels: Labels drawn, per value kind (``{"box": 1200.0}``).
        hours: Annotator hours (labeling time only).
    """

    items: float
    passes: float
    labels: Mapping[str, float] = field(default_factory=dict)
    hours: float = 0.0

    def __post_init__(self) -> None:
        for name in ("items", "passes", "hours"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ConfigError(f"workload {name}: expected a finite number >= 0, got {v!r}")
        for k, v in self.labels.items():
            if not math.isfinite(v) or v < 0:
                raise ConfigError(f"workload labels[{k!r}]: expected a finite number >= 0, got {v!r}")
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))

    @property
    def total_labels(self) -> float:
        return float(sum(self.labels.values()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """What one workforce bills for a workload.

    ``total = max(variable + fixed, minimum_charge)``; ``minimum_topup`` is the part
    added by the minimum. Never negative.
    """

    model: str
    variable: float
    fixed: float
    minimum_topup: float
    total: float

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "variable": self.variable, "fixed": self.fixed,
                "minimum_topup": self.minimum_topup, "total": self.total}


def variable_cost(workload: Workload, pricing: Pricing, *, rate_factor: float = 1.0) -> float:
    """The variable part of the price (before the fixed fee and minimum).

    * ``per_label``: each label at its kind's rate (``rate_per_label_by_kind``) or ``rate_per_label``;
    * ``per_hour``: ``hours * rate_per_hour * rate_factor`` (the expertise multiplier);
    * ``per_task``: ``passes * rate_per_task``;
    * ``per_project``: ``items * rate_per_item``.
    """
    if pricing.model == "per_label":
        return float(sum(n * pricing.rate_per_label_by_kind.get(k, pricing.rate_per_label)
                         for k, n in workload.labels.items()))
    if pricing.model == "per_hour":
        return workload.hours * pricing.rate_per_hour * rate_factor
    if pricing.model == "per_task":
        return workload.passes * pricing.rate_per_task
    return workload.items * pricing.rate_per_item


def price(workload: Workload, pricing: Pricing, *, rate_factor: float = 1.0) -> Charge:
    """The charge for a workload under a pricing model.

    Args:
        workload: The billable units.
        pricing: The price list.
        rate_factor: Multiplier on hourly rates (the expertise tier), >= 0.

    Returns:
        A :class:`Charge`; its ``total`` is ``max(variable + fixed_fee, minimum_charge)``.

    Example:
        >>> from accord.core.cost.config import Pricing
        >>> price(Workload(items=100, passes=100, labels={"box": 300}),
        ...       Pricing(model="per_label", rate_per_label=0.05)).total
        15.0
    """
    if not math.isfinite(rate_factor) or rate_factor < 0:
        raise ConfigError(f"rate_factor: expected a finite number >= 0, got {rate_factor!r}")
    var = variable_cost(workload, pricing, rate_factor=rate_factor)
    fixed = pricing.fixed_fee
    subtotal = var + fixed
    topup = max(0.0, pricing.minimum_charge - subtotal)
    return Charge(model=pricing.model, variable=var, fixed=fixed, minimum_topup=topup, total=subtotal + topup)
