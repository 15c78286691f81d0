"""Reviewers' grades of a spot check, turned into the batch's error rate with its interval.

The report draws a spot-check sample of submissions (item x annotator), stratified by
annotator in proportion to their work (``sampling.spot_check``). Reviewers grade each
sampled submission *pass* or *fail*; :func:`grade_estimate` turns those grades into:

* the batch error rate: the stratified estimator over annotators
  (:func:`~accord.core.qa.sampling.spot_check_estimate`: ``p = sum W_h p_h``, normal
  interval with each stratum's finite-population correction, Cochran 1977 section 5.3),
  over the strata that were graded (the others are named, and the population covered is
  stated);
* each annotator's error rate: Wilson interval shrunk by the finite-population
  correction of their own submissions;
* what the grades cover: how many were in the drawn sample (an estimate from grades
  outside it is not a random sample, and the result says how many were), how many name a
  submission not in the data (not used), and how many submissions were graded twice (the
  last grade counts).

Pure: grades arrive parsed (the CLI reads a CSV, ``accord report --grades``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import AccordError
from .sampling import spot_check_estimate

__all__ = ["Grade", "GradeError", "grade_estimate", "parse_grade"]

_PASS = frozenset({"pass", "ok", "correct", "good", "accept", "accepted", "0", "false", "no"})
_FAIL = frozenset({"fail", "error", "wrong", "bad", "reject", "rejected", "defect", "1", "true", "yes"})


class GradeError(AccordError, ValueError):
    """A grade that cannot be read (an unknown verdict, a missing item or annotator)."""


@dataclass(frozen=True, slots=True)
class Grade:
    """One reviewer's verdict on one submission.

    Attributes:
        item_id: The item graded.
        annotator_id: Whose submission was graded.
        error: True when the reviewer found an error.
        reviewer: Who graded it (optional).
        note: The reviewer's comment (optional).
    """

    item_id: str
    annotator_id: str
    error: bool
    reviewer: str | None = None
    note: str | None = None


def parse_grade(verdict: str, *, where: str = "grade") -> bool:
    """``True`` (an error) or ``False`` (correct) for a verdict word.

    Accepted: pass / ok / correct / good / accept(ed) / 0 / false / no, and fail / error /
    wrong / bad / reject(ed) / defect / 1 / true / yes (any case).

    Raises:
        GradeError: any other word.
    """
    v = str(verdict).strip().lower()
    if v in _FAIL:
        return True
    if v in _PASS:
        return False
    raise GradeError(f"{where}: unknown verdict {verdict!r}; write pass or fail (also ok/error, 0/1)")


def _rate(e: Any) -> dict[str, Any]:
    def num(x: float) -> float | None:
        return None if math.isnan(x) else round(float(x), 6)

    return {"errors": e.errors, "n": e.n, "estimate": num(e.estimate), "low": num(e.low), "high": num(e.high),
            "population": e.population}


def grade_estimate(grades: Iterable[Grade], submissions: Sequence[tuple[str, str]], *,
                   sample: Iterable[tuple[str, str]] = (), confidence: float = 0.95) -> dict[str, Any]:
    """The batch's and each annotator's error rate from reviewers' grades (module docstring).

    Args:
        grades: The grades, oldest first (a submission graded twice: the last one counts).
        submissions: Every human submission of the batch, ``(item_id, annotator_id)``: the
            population, and its strata by annotator.
        sample: The spot-check sample the report drew (``sampling.spot_check.items``).
        confidence: Interval confidence.

    Returns:
        A JSON-ready dict: ``estimate`` (stratified), ``by_annotator``, ``n_grades``,
        ``n_used``, ``n_duplicates``, ``n_outside_sample``, ``unknown`` (up to 20 of the
        grades naming no submission), ``strata_not_graded``, ``population_covered``.
    """
    population = Counter(a for _, a in set(submissions))
    known = set(submissions)
    drawn = set(sample)
    latest: dict[tuple[str, str], Grade] = {}
    unknown: list[dict[str, str]] = []
    n_grades = 0
    for g in grades:
        n_grades += 1
        key = (g.item_id, g.annotator_id)
        if key not in known:
            unknown.append({"item_id": g.item_id, "annotator_id": g.annotator_id})
            continue
        latest[key] = g
    n_known = n_grades - len(unknown)
    errors: Counter[str] = Counter()
    n: Counter[str] = Counter()
    for (_, ann), g in latest.items():
        n[ann] += 1
        errors[ann] += int(g.error)
    out: dict[str, Any] = {
        "unit": "submission (item x annotator)", "confidence": confidence, "n_grades": n_grades,
        "n_used": len(latest), "n_duplicates": n_known - len(latest),
        "n_outside_sample": sum(k not in drawn for k in latest) if drawn else None,
        "unknown": unknown[:20], "n_unknown": len(unknown),
    }
    if not latest:
        out.update(estimate=None, by_annotator={}, strata_not_graded=sorted(population), population_covered=0,
                   note="no grade names a submission of this data: check the grades file belongs to this export")
        return out
    strata = sorted(n)
    if len(strata) == 1:
        (h,) = strata
        est = spot_check_estimate(errors[h], n[h], population=population[h], confidence=confidence)
    else:
        est = spot_check_estimate({h: errors[h] for h in strata}, {h: n[h] for h in strata},
                                  population={h: population[h] for h in strata}, confidence=confidence)
    out["estimate"] = {**_rate(est), "method": ("stratified by annotator, normal interval with finite-population "
                                                "correction" if est.stratified else
                                                "Wilson interval with finite-population correction")}
    out["by_annotator"] = {h: _rate(spot_check_estimate(errors[h], n[h], population=population[h],
                                                        confidence=confidence)) for h in strata}
    out["strata_not_graded"] = sorted(set(population) - set(strata))
    out["population_covered"] = sum(population[h] for h in strata)
    out["population"] = sum(population.values())
    if out["strata_not_graded"]:
        out["note"] = (f"{len(out['strata_not_graded'])} annotator(s) have no grade; the estimate covers "
                       f"{out['population_covered']} of {out['population']} submissions")
    elif out["n_outside_sample"]:
        out["note"] = (f"{out['n_outside_sample']} graded submission(s) are not in the drawn sample: the "
                       "interval assumes a random sample within each annotator")
    return out

