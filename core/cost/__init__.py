"""Labeling cost: pricing models, drivers, pilot-based forecasts, in-house vs outsourcing.

Typical use::

    from accord.core.cost import analyze_pilot, forecast, load_config
    cfg = load_config("pricing.toml")
    fc = forecast(analyze_pilot(pilot_dataset), cfg, items=50_000)
    fc.total_cost.estimate, fc.total_cost.low, fc.total_cost.high
"""

from __future__ import annotations

from .config import (
    CostConfig,
    Drivers,
    GateThresholds,
    InHouse,
    Pricing,
    QAPlan,
    Sourcing,
    Team,
    Vendor,
    config_from_dict,
    load_config,
)
from .forecast import Component, Forecast, Interval, forecast
from .gate import GateCheck, GateResult, pilot_gate, qa_from_report
from .pilot import (
    Pass,
    PassTable,
    PilotStats,
    PreAnnotationEffect,
    TimeStats,
    analyze_pilot,
    mad,
    outlier_mask,
    time_stats,
)
from .pricing import Charge, Workload, price
from .sourcing import OptionCost, SourcingDecision, compare_sourcing

__all__ = [
    "Charge", "Component", "CostConfig", "Drivers", "Forecast", "GateCheck", "GateResult", "GateThresholds",
    "InHouse", "Interval", "OptionCost", "Pass", "PassTable", "PilotStats", "PreAnnotationEffect", "Pricing", "QAPlan",
    "Sourcing", "SourcingDecision", "Team", "TimeStats", "Vendor", "Workload", "analyze_pilot",
    "compare_sourcing", "config_from_dict", "forecast", "load_config", "mad", "outlier_mask", "pilot_gate",
    "price", "qa_from_report", "time_stats",
]
