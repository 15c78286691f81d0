"""ISO 2859-1 single sampling plans for attributes, with the switching rules.

What is encoded, and how sure we are:

* Table I (sample-size code letters): every lot-size range for the general
  inspection levels I, II, III and the special levels S-1..S-4.
* Code letter -> sample size (A=2, B=3, C=5, D=8, E=13, F=20, G=32, H=50,
  J=80, K=125, L=200, M=315, N=500, P=800, Q=1250, R=2000; tightened adds
  S=3150).
* The master tables are sets of diagonals. With ``i`` the code-letter index
  (A=0..R=15) and ``j`` the AQL index (0.010=0 .. 10=15), a cell with
  ``d = i + j`` holds:

  - Table II-A (normal): ``d < 14`` arrow down; ``14``: Ac 0 / Re 1; ``15``:
    arrow up; ``16``: arrow down; ``17..24``: Ac 1, 2, 3, 5, 7, 10, 14, 21;
    ``d > 24`` arrow up.
  - Table II-B (tightened): ``d < 15`` arrow down; ``15``: Ac 0 (row A: arrow
    down); ``16`` and ``17``: arrow down (row R at ``16``: arrow up); ``18..24``:
    Ac 1, 2, 3, 5, 8, 12, 18; ``d > 24`` arrow up. Row S (n = 3150, Ac 1 / Re 2)
    ends the arrow of row R at AQL 0.025.
  - Table II-C (reduced): the sample size of letter ``i`` is the normal one of
    letter ``i - 2`` (A, B, C: 2; D: 3; ...; R: 800); the cells follow Table
    II-A's diagonals up to ``d = 16``, then ``d = 17..24`` hold Ac/Re 0/2, 1/3,
    1/4, 2/5, 3/6, 5/8, 7/10, 10/13. Between Ac and Re the lot is accepted but
    normal inspection is reinstated. This is the table of MIL-STD-105E, ANSI/ASQ
    Z1.4 and ISO 2859-1:1989 (whether the 1999 edition changed these plans could
    not be checked here; any such change is not encoded).

  Re is Ac + 1 in every normal and tightened cell. Only the percent-nonconforming
  AQLs 0.010 .. 10 are encoded; the nonconformities-per-100 columns are not.

  An arrow means: follow it to the first plan and use that plan's sample
  size *and* Ac/Re. Cells whose arrow would leave the table follow the only
  arrow that leads to a plan (row A at AQL 10 and row R at AQL 0.015).
* If the plan's sample size is >= the lot size, the standard says to inspect
  the whole lot; :func:`single_sampling_plan` then sets ``hundred_percent``.

Switching rules (ISO 2859-1:1999 clause 9, :func:`next_state` /
:func:`apply_switching_rules`): start on normal; normal -> tightened when 2 of
5 or fewer consecutive lots are not accepted; tightened -> normal after 5
consecutive accepted lots; normal -> reduced when the switching score reaches
30 (and production is steady and the responsible authority agrees); reduced
-> normal when a lot is not accepted, or is accepted with more than Ac
defects (the gap), or production is irregular; inspection is discontinued
when 5 lots are not accepted while on tightened inspection. The switching
score starts at 0 on normal inspection; after each lot, with Ac 0 or 1 it
gains 2 if the lot is accepted, with Ac >= 2 it gains 3 if the lot would have
been accepted at the next tighter AQL; otherwise it is reset to 0.

Verification: every cell (letters A..R x AQLs 0.010..10, resolved through the
arrows to sample size, Ac and Re) of the three tables equals the MIL-STD-105E /
ANSI/ASQ Z1.4 tabulation in J. Lawson's AQLSchemes R package (768 cells,
checked when this was written). Spot checks in the tests: lot 1,000 level II ->
J, n = 80; J at AQL 1.0 -> Ac 2 (normal), Ac 1 (tightened), reduced n = 32,
Ac 1 / Re 3; Table II-B's interior also matches the NIBS FMOC "AC-TABLE"
reproduction (Table 1-B).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from ..errors import AccordError

__all__ = [
    "AQLS",
    "AcceptanceDecision",
    "InspectionLevel",
    "LotOutcome",
    "OCCurve",
    "SamplingPlan",
    "Severity",
    "SwitchingState",
    "apply_switching_rules",
    "code_letter",
    "inspect_lot",
    "next_state",
    "oc_curve",
    "plans_by_severity",
    "single_sampling_plan",
]

InspectionLevel = Literal["I", "II", "III", "S-1", "S-2", "S-3", "S-4"]
Severity = Literal["normal", "tightened", "reduced"]
OCDistribution = Literal["binomial", "hypergeometric", "poisson"]
_SEVERITIES: tuple[Severity, ...] = ("normal", "tightened", "reduced")


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
# Acceptance numbers along the diagonals of Table II-A (d = 17..24) and II-B (d = 18..24).
_AC_NORMAL = (1, 2, 3, 5, 7, 10, 14, 21)
_AC_TIGHTENED = (1, 2, 3, 5, 8, 12, 18)
# Table II-C along d = 17..24: (Ac, Re), Re - Ac > 1 from d = 17 on (the acceptance gap).
_ACRE_REDUCED = ((0, 2), (1, 3), (1, 4), (2, 5), (3, 6), (5, 8), (7, 10), (10, 13))
# Table II-C sample sizes: letter i uses the normal sample size of letter i - 2 (A..C: 2).
REDUCED_SAMPLE_SIZES = (2, 2, 2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800)
_S_ROW = 16  # Table II-B's extra row S: n = 3150, Ac 1 / Re 2.
_S_SAMPLE_SIZE = 3150


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


Cell = tuple[int, int] | Literal["down", "up"]


def _cell(i: int, j: int) -> Cell:
    """Table II-A (normal) cell for letter index ``i`` and AQL index ``j``."""
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


def _cell_tightened(i: int, j: int) -> Cell:
    """Table II-B (tightened) cell; ``i == 16`` is row S."""
    if i == _S_ROW:
        return (1, 2)
    d = i + j
    if d == 15 and i > 0:  # row A at AQL 10 is an arrow down to D's plan
        return (0, 1)
    if 18 <= d <= 24:
        ac = _AC_TIGHTENED[d - 18]
        return (ac, ac + 1)
    if d == 16 and i == len(LETTERS) - 1:  # row R at AQL 0.015 points up to Q's Ac 0
        return "up"
    return "up" if d > 24 else "down"


def _cell_reduced(i: int, j: int) -> Cell:
    """Table II-C (reduced) cell: Table II-A's diagonals, with the acceptance gap."""
    d = i + j
    if 17 <= d <= 24:
        return _ACRE_REDUCED[d - 17]
    if d in (15, 16):
        return _cell(i, j)  # the same arrows as Table II-A
    return (0, 1) if d == 14 else ("down" if d < 14 else "up")


def _follow(i: int, j: int, cell: Callable[[int, int], Cell], rows: int) -> tuple[int, tuple[int, int]]:
    """Follow arrows from row ``i`` to a plan (every table's edge arrows point back inside)."""
    c = cell(i, j)
    while not isinstance(c, tuple):
        i += 1 if c == "down" else -1
        if not 0 <= i < rows:  # pragma: no cover - guards the encoding of the edge cells
            raise AssertionError(f"arrow left the table at row {i}, AQL index {j}")
        c = cell(i, j)
    return i, c


# severity -> (cell function, sample size per row, code letter per row)
_TABLES: dict[str, tuple[Callable[[int, int], Cell], tuple[int, ...], str]] = {
    "normal": (_cell, SAMPLE_SIZES, LETTERS),
    "tightened": (_cell_tightened, (*SAMPLE_SIZES, _S_SAMPLE_SIZE), LETTERS + "S"),
    "reduced": (_cell_reduced, REDUCED_SAMPLE_SIZES, LETTERS),
}


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

    def to_dict(self) -> dict[str, Any]:
        """The plan as the report and ``accord acceptance --json`` write it."""
        return {"severity": self.severity, "code_letter": self.letter, "table_letter": self.table_letter,
                "sample_size": self.sample_size, "accept": self.accept, "reject": self.reject,
                "hundred_percent": self.hundred_percent}


def single_sampling_plan(
    lot_size: int, aql: float, *, level: InspectionLevel = "II", severity: Severity = "normal"
) -> SamplingPlan:
    """The ISO 2859-1 single sampling plan for a lot, following the arrows.

    Args:
        lot_size: Items in the lot (>= 2).
        aql: Acceptance quality limit, one of :data:`AQLS` (percent nonconforming).
        level: Inspection level.
        severity: ``normal`` (Table II-A), ``tightened`` (II-B) or ``reduced`` (II-C).

    Example:
        >>> p = single_sampling_plan(1000, 1.0)
        >>> p.letter, p.sample_size, p.accept, p.reject
        ('J', 80, 2, 3)
        >>> t = single_sampling_plan(1000, 1.0, severity="tightened")
        >>> t.sample_size, t.accept, t.reject
        (80, 1, 2)
    """
    if severity not in _SEVERITIES:
        raise AcceptanceSamplingError(f"severity must be one of {list(_SEVERITIES)}, got {severity!r}")
    table_letter = code_letter(lot_size, level)
    i = LETTERS.index(table_letter)
    j = _aql_index(aql)
    cell, sizes, letters = _TABLES[severity]
    row, (ac, re) = _follow(i, j, cell, len(sizes))
    n, letter = sizes[row], letters[row]
    full = n >= lot_size
    return SamplingPlan(lot_size=int(lot_size), level=level, aql=float(aql), severity=severity,
                        table_letter=table_letter, letter=letter, sample_size=int(lot_size) if full else n,
                        accept=ac, reject=re, hundred_percent=full)


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptanceDecision:
    """The verdict for one inspected sample.

    Attributes:
        accepted: ``defects < plan.reject``.
        reinstate_normal: Accepted with more than Ac defects (only possible in the
            gap of a reduced plan): normal inspection must be reinstated.
    """

    plan: SamplingPlan
    defects: int
    accepted: bool
    reinstate_normal: bool = False


def inspect_lot(plan: SamplingPlan, defects: int) -> AcceptanceDecision:
    """Accept when ``defects < plan.reject`` (``<= plan.accept`` except in a reduced plan's gap).

    Example:
        >>> inspect_lot(single_sampling_plan(1000, 1.0), 3).accepted
        False
    """
    if isinstance(defects, bool) or not isinstance(defects, int | np.integer) or defects < 0:
        raise AcceptanceSamplingError(f"defects must be an integer >= 0, got {defects!r}")
    return AcceptanceDecision(plan=plan, defects=int(defects), accepted=defects < plan.reject,
                              reinstate_normal=plan.accept < defects < plan.reject)


@dataclass(frozen=True, slots=True, kw_only=True)
class OCCurve:
    """Operating characteristic: P(accept) against the lot fraction defective."""

    fraction_defective: NDArray[np.float64]
    p_accept: NDArray[np.float64]


def oc_curve(plan: SamplingPlan, fraction_defective: NDArray[np.float64] | None = None, *,
             distribution: OCDistribution = "binomial") -> OCCurve:
    """Operating characteristic ``P(X < Re)`` of a plan (``P(X <= Ac)`` but for reduced plans' gap).

    Args:
        plan: The plan.
        fraction_defective: Points in [0, 1]; default 201 points on [0, min(1, 3 * (Ac + 1) / n)].
        distribution: ``binomial`` (type B: a lot from a steady process, the standard's
            own curves), ``hypergeometric`` (type A: an isolated lot of ``plan.lot_size``
            with ``round(p * N)`` defective items) or ``poisson`` (nonconformities, mean
            ``n * p``).

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
    n, ac = plan.sample_size, plan.reject - 1
    if distribution == "binomial":
        pa = stats.binom.cdf(ac, n, p)
    elif distribution == "hypergeometric":
        defective = np.rint(p * plan.lot_size).astype(np.int64)
        pa = stats.hypergeom.cdf(ac, plan.lot_size, defective, n)
    elif distribution == "poisson":
        pa = stats.poisson.cdf(ac, n * p)
    else:
        raise AcceptanceSamplingError(
            f"distribution must be 'binomial', 'hypergeometric' or 'poisson', got {distribution!r}")
    return OCCurve(fraction_defective=np.asarray(p, dtype=np.float64),
                   p_accept=np.asarray(pa, dtype=np.float64))


# --------------------------------------------------------------------------- switching rules

Event = Literal["to_tightened", "to_normal", "to_reduced", "discontinue"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchingState:
    """Where a sequence of lots stands under the ISO 2859-1 switching rules.

    Attributes:
        severity: The inspection severity for the next lot.
        switching_score: The score on normal inspection (0 elsewhere).
        recent_normal: Outcomes (accepted?) of the last <= 5 lots on normal inspection.
        accepted_in_a_row: Consecutive accepted lots on tightened inspection.
        not_accepted_on_tightened: Lots not accepted since tightened inspection began.
        discontinued: Five lots were not accepted on tightened inspection: stop
            sampling until the supplier has acted (then restart on tightened).
    """

    severity: Severity = "normal"
    switching_score: int = 0
    recent_normal: tuple[bool, ...] = ()
    accepted_in_a_row: int = 0
    not_accepted_on_tightened: int = 0
    discontinued: bool = False


def _tighter_accept(plan: SamplingPlan) -> int:
    """Ac of the plan's code letter at the next tighter AQL (Table II-A), for the switching score."""
    j = _aql_index(plan.aql)
    if j == 0:
        return plan.accept
    c = _cell(LETTERS.index(plan.letter), j - 1)
    return c[0] if isinstance(c, tuple) else 0


def next_state(state: SwitchingState, plan: SamplingPlan, defects: int, *,
               steady_production: bool = True, reduced_allowed: bool = True
               ) -> tuple[SwitchingState, Event | None]:
    """The state after inspecting one lot under ``plan`` (whose severity must be ``state.severity``).

    Args:
        state: The state before the lot.
        plan: The plan used for the lot.
        defects: Nonconforming items found in its sample.
        steady_production: Production runs at a steady rate (required for reduced;
            ``False`` on reduced inspection sends it back to normal).
        reduced_allowed: The responsible authority accepts reduced inspection.

    Returns:
        The new state and the switch it made, if any.
    """
    if state.discontinued:
        raise AcceptanceSamplingError(
            "inspection is discontinued (5 lots not accepted on tightened inspection); restart with "
            "SwitchingState(severity='tightened') once the supplier has corrected the process")
    if plan.severity != state.severity:
        raise AcceptanceSamplingError(
            f"the lot was inspected under a {plan.severity} plan but the scheme is on {state.severity} "
            "inspection; look the plan up with severity=state.severity")
    verdict = inspect_lot(plan, defects)
    accepted = verdict.accepted
    if state.severity == "normal":
        recent = (*state.recent_normal, accepted)[-5:]
        if recent.count(False) >= 2:
            return SwitchingState(severity="tightened"), "to_tightened"
        if plan.accept >= 2:
            score = state.switching_score + 3 if defects <= _tighter_accept(plan) else 0
        else:
            score = state.switching_score + 2 if accepted else 0
        if score >= 30 and steady_production and reduced_allowed:
            return SwitchingState(severity="reduced"), "to_reduced"
        return replace(state, switching_score=score, recent_normal=recent), None
    if state.severity == "tightened":
        if accepted:
            streak = state.accepted_in_a_row + 1
            if streak >= 5:
                return SwitchingState(severity="normal"), "to_normal"
            return replace(state, accepted_in_a_row=streak), None
        failed = state.not_accepted_on_tightened + 1
        if failed >= 5:
            return replace(state, accepted_in_a_row=0, not_accepted_on_tightened=failed,
                           discontinued=True), "discontinue"
        return replace(state, accepted_in_a_row=0, not_accepted_on_tightened=failed), None
    if not accepted or verdict.reinstate_normal or not steady_production:
        return SwitchingState(severity="normal"), "to_normal"
    return state, None


@dataclass(frozen=True, slots=True, kw_only=True)
class LotOutcome:
    """One lot of a sequence run through the switching rules."""

    index: int
    plan: SamplingPlan
    defects: int
    accepted: bool
    switching_score: int
    event: Event | None


def apply_switching_rules(
    lots: Iterable[tuple[int, int]], aql: float, *, level: InspectionLevel = "II",
    start: SwitchingState | None = None, steady_production: bool = True, reduced_allowed: bool = True,
) -> tuple[list[LotOutcome], SwitchingState]:
    """Run a sequence of ``(lot_size, defects)`` through the plans and switching rules.

    Each lot is inspected under the plan of the severity in force when it arrives
    (``defects`` counts nonconforming items in that plan's sample). The run stops
    at a discontinuation; lots after it are not judged.

    Example:
        >>> out, state = apply_switching_rules([(1000, 3), (1000, 0), (1000, 4)], 1.0)
        >>> [o.plan.severity for o in out], [o.event for o in out], state.severity
        (['normal', 'normal', 'normal'], [None, None, 'to_tightened'], 'tightened')
    """
    state = start or SwitchingState()
    out: list[LotOutcome] = []
    for k, (lot_size, defects) in enumerate(lots):
        if state.discontinued:
            break
        plan = single_sampling_plan(lot_size, aql, level=level, severity=state.severity)
        state, event = next_state(state, plan, defects, steady_production=steady_production,
                                  reduced_allowed=reduced_allowed)
        out.append(LotOutcome(index=k, plan=plan, defects=int(defects), accepted=defects < plan.reject,
                              switching_score=state.switching_score, event=event))
    return out, state


def plans_by_severity(lot_size: int, aql: float, *, level: InspectionLevel = "II"
                      ) -> dict[Severity, SamplingPlan]:
    """The normal, tightened and reduced plans for one lot (what switching would change)."""
    return {s: single_sampling_plan(lot_size, aql, level=level, severity=s) for s in _SEVERITIES}
