"""The pilot gate: go to production, or revise the guidelines first, with reasons.

Each check compares one pilot measurement with a threshold of
:class:`~accord.core.cost.config.GateThresholds`: agreement, gold score, conflict hot
spots (labels whose items disagree too often), spread of time per item (a wide spread
means people read the guidelines differently), the speed gap between annotators, and
time per item against the budget. Checks whose input is missing are reported as
skipped; the verdict is ``go`` only when at least one check ran and none failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from ..errors import InvalidAnnotationError
from .config import GateThresholds
from .pilot import PilotStats

Verdict: TypeAlias = Literal["go", "revise-guidelines"]
Status: TypeAlias = Literal["pass", "fail", "skipped"]

#: Annotators with fewer timed passes are left out of the speed-gap check.
MIN_PASSES_PER_ANNOTATOR = 3
#: Labels seen on fewer overlapping items are left out of the hot-spot check.
MIN_HOTSPOT_ITEMS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class GateCheck:
    """One check: its measured value, threshold, status and a sentence."""

    name: str
    value: float | None
    threshold: float | None
    status: Status
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "threshold": self.threshold,
                "status": self.status, "message": self.message}


@dataclass(frozen=True, slots=True, kw_only=True)
class GateResult:
    """The verdict and every check behind it (``reasons`` are the failed checks' messages)."""

    verdict: Verdict
    checks: tuple[GateCheck, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        failed = tuple(c.message for c in self.checks if c.status == "fail")
        return failed or tuple(c.message for c in self.checks if c.status == "pass")

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": list(self.reasons),
                "checks": [c.to_dict() for c in self.checks]}


def _at_least(name: str, what: str, value: float | None, threshold: float) -> GateCheck:
    if value is None or math.isnan(value):
        return GateCheck(name=name, value=None, threshold=threshold, status="skipped",
                         message=f"{what}: not measured")
    ok = value >= threshold
    verb = "meets" if ok else "is below"
    return GateCheck(name=name, value=value, threshold=threshold, status="pass" if ok else "fail",
                     message=f"{what} {value:.3f} {verb} the threshold {threshold:.3f}")


def _at_most(name: str, what: str, value: float | None, threshold: float | None, fmt: str = ".3f") -> GateCheck:
    if threshold is None:
        return GateCheck(name=name, value=value, threshold=None, status="skipped", message=f"{what}: no threshold")
    if value is None or math.isnan(value):
        return GateCheck(name=name, value=None, threshold=threshold, status="skipped",
                         message=f"{what}: not measured")
    ok = value <= threshold
    verb = "within" if ok else "above"
    return GateCheck(name=name, value=value, threshold=threshold, status="pass" if ok else "fail",
                     message=f"{what} {value:{fmt}} is {verb} the limit {threshold:{fmt}}")


def pilot_gate(pilot: PilotStats | None, *, thresholds: GateThresholds | None = None,
               agreement: float | None = None, gold_score: float | None = None) -> GateResult:
    """Decide go / revise-guidelines from a pilot's QA and speed.

    Args:
        pilot: Pilot measurements (time spread, annotator speeds, conflict hot spots), or ``None``.
        thresholds: The gate's thresholds (defaults of :class:`GateThresholds`).
        agreement: Inter-annotator agreement of the pilot (e.g. Krippendorff's alpha), if computed.
        gold_score: Mean score against gold (0..1), if computed.

    Returns:
        A :class:`GateResult`: ``go`` when at least one check ran and none failed.

    Raises:
        InvalidAnnotationError: ``agreement`` is not a finite number in [-1, 1], or
            ``gold_score`` not one in [0, 1] (a score of 2 must not pass a 0.8 threshold).
    """
    for name, value, lo in (("agreement", agreement, -1.0), ("gold_score", gold_score, 0.0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or not lo <= value <= 1.0):
            raise InvalidAnnotationError(f"{name} must be a finite number in [{lo:g}, 1], got {value!r}")
    th = thresholds or GateThresholds()
    checks = [_at_least("agreement", "inter-annotator agreement", agreement, th.min_agreement),
              _at_least("gold_score", "score against gold", gold_score, th.min_gold_score)]
    if pilot is not None:
        rates = {k: v for k, v in pilot.hotspot_rates().items() if pilot.hotspots[k][1] >= MIN_HOTSPOT_ITEMS}
        if rates:
            worst = next(iter(rates))
            c = _at_most("hotspots", f"conflict rate of label {worst!r}", rates[worst], th.max_hotspot_rate)
            bad = [k for k, v in rates.items() if v > th.max_hotspot_rate]
            if len(bad) > 1:
                c = GateCheck(name=c.name, value=c.value, threshold=c.threshold, status=c.status,
                              message=c.message + f"; also above: {', '.join(repr(b) for b in bad[1:6])}")
            checks.append(c)
        else:
            checks.append(GateCheck(name="hotspots", value=None, threshold=th.max_hotspot_rate,
                                    status="skipped", message="conflict hot spots: no overlapping items"))
        checks.append(_at_most("time_cv", "spread of time per item (cv)", pilot.overall.cv, th.max_time_cv))
        medians = {a: s.median_s for a, s in pilot.by_annotator.items()
                   if s.n - s.n_outliers >= MIN_PASSES_PER_ANNOTATOR and s.median_s > 0}
        ratio = max(medians.values()) / min(medians.values()) if len(medians) >= 2 else None
        c = _at_most("speed_gap", "slowest / fastest annotator median time", ratio,
                     th.max_annotator_speed_ratio, ".2f")
        if c.status == "fail":
            slow = max(medians, key=lambda a: medians[a])
            c = GateCheck(name=c.name, value=c.value, threshold=c.threshold, status="fail",
                          message=c.message + f" (slowest: {slow})")
        checks.append(c)
        checks.append(_at_most("seconds_per_item", "mean seconds per item", pilot.overall.mean_s,
                               th.max_seconds_per_item, ".1f"))
    ran = [c for c in checks if c.status != "skipped"]
    verdict: Verdict = "go" if ran and all(c.status == "pass" for c in ran) else "revise-guidelines"
    if not ran:
        checks.append(GateCheck(name="evidence", value=None, threshold=None, status="fail",
                                message="nothing was measured: give agreement, gold scores or a timed pilot"))
    return GateResult(verdict=verdict, checks=tuple(checks))


def qa_from_report(report: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The gate's ``agreement`` and ``gold_score`` from a QA report dict (``build_report``'s output).

    Agreement is the *lowest* primary coefficient over label sets (the weakest guideline
    decides); the gold score is the mean of the annotators' score estimates over label
    sets. Either is ``None`` when the report has none.
    """
    ests: list[float] = []
    for a in (report.get("agreement") or {}).values():
        est = (a.get("coefficients") or {}).get(a.get("primary") or "", {}).get("estimate")
        if isinstance(est, int | float) and math.isfinite(est):
            ests.append(float(est))
    golds: list[float] = []
    for sets in ((report.get("gold") or {}).get("annotators") or {}).values():
        for s in sets.values():
            est = (s.get("score") or {}).get("estimate")
            if isinstance(est, int | float) and math.isfinite(est):
                golds.append(float(est))
    return (min(ests) if ests else None, sum(golds) / len(golds) if golds else None)
