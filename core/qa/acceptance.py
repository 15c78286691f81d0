"""ISO 2859-1 single sampling plans for attributes (normal inspection).

What is encoded, and how sure we are:

* Table I (sample-size code letters): every lot-size range for the general
  inspection levels I, II, III and the special levels S-1..S-4.
* Code letter -> sample size (A=2, B=3, C=5, D=8, E=13, F=20, G=32, H=50,
  J=80, K=125, L=200, M=315, N=500, P=800, Q=1250, R=2000).
* Table II-A (single sampling, normal inspection): the table is a set of
  diagonals. With ``i`` the code-letter index (A=0..R=15) and ``j`` the AQL
  index (0.010=0 .. 10=15), a cell with ``d = i + j`` holds

  - ``d < 14``: arrow down; ``d == 14``: Ac 0 / Re 1; ``d == 15``: arrow up;
    ``d == 16``: arrow down; ``d = 17..24``: Ac 1, 2, 3, 5, 7, 10, 14, 21
    (Re = Ac + 1); ``d > 24``: arrow up.

  Only the percent-nonconforming AQLs 0.010 .. 10 are encoded; the
  nonconformities-per-100 columns (15 .. 1000, with Ac 30 and 44) are not.

  An arrow means: follow it to the first plan and use that plan's sample
  size *and* Ac/Re. Cells whose arrow would leave the table (row A at AQL 10,
  row R at AQL 0.015) follow the only arrow that leads to a plan; these two
  cells are not verified against the printed standard.
* If the plan's sample size is >= the lot size, the standard says to inspect
  the whole lot; :func:`single_sampling_plan` then sets ``hundred_percent``.

Tightened (II-B) and reduced (II-C) tables are not encoded (not verified);
asking for them raises.

Verified lookups (ISO 2859-1:1999 Table I and Table II-A; identical to
ANSI/ASQ Z1.4-2003 and MIL-STD-105E): lot 1,000 level II -> J, n = 80;
lot 500 level II -> H, n = 50; J at AQL 1.0 -> Ac 2, Re 3; J at AQL 0.65 ->
Ac 1, Re 2; L (n = 200) at AQL 2.5 -> Ac 10, Re 11; H at AQL 2.5 -> Ac 3, Re 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from ..errors import AccordError

__all__ = [
    "AQLS",
    "AcceptanceDecision",
    "InspectionLevel",
    "OCCurve",
    "SamplingPlan",
    "code_letter",
    "inspect_lot",
    "oc_curve",
    "single_sampling_plan",
]

InspectionLevel = Literal["I", "II", "III", "S-1", "S-2", "S-3", "S-4"]
Severity = Literal["normal", "tightened", "reduced"]


class AcceptanceSamplingError(AccordError, ValueError):
    """An input outside the ISO 2859-1 tables (lot size, level, AQL)."""


LETTERS = "ABCDEFGHJKLMNPQR"
SAMPLE_SIZES = (2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000)
AQLS: tuple[float, ...] = (
    0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10.0,
)
_LEVELS: tuple[InspectionLevel, ...] = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")
# ISO 2859-1 Table I: (upper lot size, letters for S-1, S-2, S-3, S-4, I, II, III).
_TABLE_I: tuple[tuple[float, str], ...] = (
    (8, "AAAAAAB"),
    (15, "AAAAABC"),
    (25, "AABBBCD"),
    (50, "ABBCCDE"),
    (90, "BBCCCEF"),
    (150, "BBCDDFG"),
    (280, "BCDEEGH"),
    (500, "BCDEFHJ"),
    (1200, "CCEFGJK"),
    (3200, "CDEGHKL"),
    (10000, "CDFGJLM"),
    (35000, "CDFHKMN"),
    (150000, "DEGJLNP"),
    (500000, "DEGJMPQ"),
    (math.inf, "DEHKNQR"),
)
# Acceptance numbers along the diagonals d = 17..24 of Table II-A (AQL <= 10).
_AC_NORMAL = (1, 2, 3, 5, 7, 10, 14, 21)


def code_letter(lot_size: int, level: InspectionLevel = "II") -> str:
    """Sample-size code letter (ISO 2859-1 Table I).

    Example:
        >>> code_letter(1000), code_letter(500), code_letter(1000, "S-3")
        ('J', 'H', 'E')
    """
    if isinstance(lot_size, bool) or not isinstance(lot_size, int | np.integer) or lot_size < 2:
        raise AcceptanceSamplingError(f"lot_size must be an integer >= 2, got {lot_size!r}")
    if level not in _LEVELS:
        raise AcceptanceSamplingError(f"level must be one of {list(_LEVELS)}, got {level!r}")
    col = _LEVELS.index(level)
    for upper, letters in _TABLE_I:
        if lot_size <= upper:
            return letters[col]
    raise AssertionError("unreachable: last range is unbounded")  # pragma: no cover


def _aql_index(aql: float) -> int:
    for j, a in enumerate(AQLS):
        if math.isclose(a, aql, rel_tol=1e-9):
            return j
    raise AcceptanceSamplingError(
        f"aql must be one of the ISO 2859-1 preferred values {list(AQLS)}, got {aql!r}")


def _cell(i: int, j: int) -> tuple[int, int] | Literal["down", "up"]:
    d = i + j
    if d == 14:
        return (0, 1)
    if 17 <= d <= 24:
        ac = _AC_NORMAL[d - 17]
        return (ac, ac + 1)
    if d == 15:
        return "up" if i > 0 else "down"
    if d == 16:
        return "down" if i < len(LETTERS) - 1 else "up"
    return "down" if d < 14 else "up"


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplingPlan:
    """A single sampling plan.

    Attributes:
        lot_size / level / aql / severity: The inputs.
        table_letter: The code letter Table I gives for the lot.
        letter: The code letter of the plan used (differs after following an arrow).
        sample_size: Items to inspect (the lot size when ``hundred_percent``).
        accept: Ac -- accept the lot when defects <= Ac.
        reject: Re -- reject when defects >= Re.
        hundred_percent: The plan's sample would cover the whole lot: inspect every item.
    """

    lot_size: int
    level: InspectionLevel
    aql: float
    severity: Severity
    table_letter: str
    letter: str
    sample_size: int
    accept: int
    reject: int
    hundred_percent: bool


def single_sampling_plan(
    lot_size: int, aql: float, *, level: InspectionLevel = "II", severity: Severity = "normal"
) -> SamplingPlan:
    """The ISO 2859-1 single sampling plan for a lot, following the arrows.

    Args:
        lot_size: Items in the lot (>= 2).
        aql: Acceptance quality limit, one of :data:`AQLS` (percent nonconforming,
            or nonconformities per 100 items above 10).
        level: Inspection level.
        severity: Only ``"normal"`` (Table II-A) is encoded.

    Example:
        >>> p = single_sampling_plan(1000, 1.0)
        >>> p.letter, p.sample_size, p.accept, p.reject
        ('J', 80, 2, 3)
    """
    if severity != "normal":
        raise AcceptanceSamplingError(
            f"only severity='normal' (Table II-A) is encoded, got {severity!r}; "
            "tightened/reduced tables are not implemented")
    table_letter = code_letter(lot_size, level)
    i = LETTERS.index(table_letter)
    j = _aql_index(aql)
    cell = _cell(i, j)
    while not isinstance(cell, tuple):
        i += 1 if cell == "down" else -1
        cell = _cell(i, j)
    n = SAMPLE_SIZES[i]
    full = n >= lot_size
    return SamplingPlan(lot_size=int(lot_size), level=level, aql=float(aql), severity=severity,
                        table_letter=table_letter, letter=LETTERS[i], sample_size=int(lot_size) if full else n,
                        accept=cell[0], reject=cell[1], hundred_percent=full)


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptanceDecision:
    """The verdict for one inspected sample."""

    plan: SamplingPlan
    defects: int
    accepted: bool


def inspect_lot(plan: SamplingPlan, defects: int) -> AcceptanceDecision:
    """Accept when ``defects <= plan.accept``, reject when ``>= plan.reject``.

    Example:
        >>> inspect_lot(single_sampling_plan(1000, 1.0), 3).accepted
        False
    """
    if isinstance(defects, bool) or not isinstance(defects, int | np.integer) or defects < 0:
        raise AcceptanceSamplingError(f"defects must be an integer >= 0, got {defects!r}")
    return AcceptanceDecision(plan=plan, defects=int(defects), accepted=defects <= plan.accept)


@dataclass(frozen=True, slots=True, kw_only=True)
class OCCurve:
    """Operating characteristic: P(accept) against the lot fraction defective."""

    fraction_defective: NDArray[np.float64]
    p_accept: NDArray[np.float64]


def oc_curve(plan: SamplingPlan, fraction_defective: NDArray[np.float64] | None = None) -> OCCurve:
    """Binomial OC curve ``P(X <= Ac)``, ``X ~ Binomial(n, p)`` (type B, large lots).

    Args:
        plan: The plan.
        fraction_defective: Points in [0, 1]; default 201 points on [0, min(1, 3 * (Ac + 1) / n)].

    Example:
        >>> c = oc_curve(single_sampling_plan(1000, 1.0), np.array([0.0, 1.0]))
        >>> c.p_accept.tolist()
        [1.0, 0.0]
    """
    if fraction_defective is None:
        top = min(1.0, 3.0 * (plan.accept + 1) / plan.sample_size)
        p = np.linspace(0.0, top, 201, dtype=np.float64)
    else:
        p = np.asarray(fraction_defective, dtype=np.float64)
        if np.any(~np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
            raise AcceptanceSamplingError("fraction_defective must lie in [0, 1]; got values outside it")
    pa = np.asarray(stats.binom.cdf(plan.accept, plan.sample_size, p), dtype=np.float64)
    return OCCurve(fraction_defective=np.asarray(p, dtype=np.float64), p_accept=pa)
