"""Conflicts to adjudicate, an append-only resolution log, and guideline hot spots.

* :func:`conflict_queue` turns per-item agreement scores into a queue of
  :class:`Conflict` records (lowest agreement first) with the disagreeing
  annotations side by side as plain dicts.
* :class:`Resolution` is an adjudicator's decision; it is stored by
  ``accord.store`` (the append-only resolution log and the ledger): nothing
  here reads or writes files.
* :func:`guideline_hot_spots` ranks labels and guideline rules by how many
  conflicts and resolutions they collect -- where the guideline needs work.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Literal

from ..errors import AccordError
from ..model import Record, record_to_dict, value_label

__all__ = [
    "Conflict",
    "ConflictInputError",
    "HotSpot",
    "InvalidResolutionError",
    "Resolution",
    "conflict_queue",
    "guideline_hot_spots",
]

ConflictReason = Literal["low_agreement", "gold_disagreement"]


class ConflictInputError(AccordError, ValueError):
    """Agreement scores given in a shape :func:`conflict_queue` cannot read."""


class InvalidResolutionError(AccordError, ValueError):
    """A resolution given as a dict lacks a required key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    """One item/label set whose annotations need adjudication.

    Attributes:
        item_id / label_set: Where.
        reason: ``"low_agreement"`` or ``"gold_disagreement"``.
        agreement_score: The agreement that triggered it (nan when unknown).
        annotations: The disagreeing annotations, one plain dict each (``record_to_dict``).
        labels: Distinct class labels among them (sorted), for hot-spot counting.
    """

    item_id: str
    label_set: str
    reason: ConflictReason
    agreement_score: float
    annotations: tuple[Mapping[str, Any], ...] = ()
    labels: tuple[str, ...] = ()


def conflict_queue(
    agreement: Mapping[tuple[str, str], float] | Mapping[str, float],
    *,
    threshold: float,
    records: Iterable[Record] = (),
    label_set: str | None = None,
    reason: ConflictReason = "low_agreement",
    annotations: bool = True,
) -> list[Conflict]:
    """Items whose agreement score is below ``threshold``, lowest first.

    Args:
        agreement: Score per ``(item_id, label_set)`` or per ``item_id`` (then
            ``label_set`` names the label set). NaN scores (undefined agreement,
            e.g. a single annotation) are queued last, since nobody has checked them.
        threshold: Items with ``score < threshold`` (or NaN) are conflicts.
        records: Annotations to attach side by side (matched on item and label set).
        label_set: Label set for a per-item mapping.
        reason: Reason recorded on every conflict.
        annotations: Attach the records as plain dicts (``Conflict.annotations``); the report,
            which shows each item's records its own way, passes False (at 100k conflicts the dicts
            cost seconds) and keeps only the labels.

    Example:
        >>> [c.item_id for c in conflict_queue({"a": 0.9, "b": 0.2, "c": 0.5}, threshold=0.6, label_set="cls")]
        ['b', 'c']
    """
    keyed: dict[tuple[str, str], float] = {}
    for key, score in agreement.items():
        if isinstance(key, tuple):
            keyed[(str(key[0]), str(key[1]))] = float(score)
        else:
            if label_set is None:
                raise ConflictInputError(
                    "agreement is keyed by item id only; pass label_set=... to say which label set it scores")
            keyed[(str(key), label_set)] = float(score)
    by_key: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        by_key.setdefault((r.item_id, r.label_set), []).append(r)
    picked = [(k, s) for k, s in keyed.items() if math.isnan(s) or s < threshold]
    picked.sort(key=lambda ks: (math.isnan(ks[1]), ks[1] if not math.isnan(ks[1]) else 0.0, ks[0]))
    out: list[Conflict] = []
    for (item, ls), score in picked:
        recs = sorted(by_key.get((item, ls), []), key=lambda r: (r.annotator_id, r.region_id or ""))
        labels = sorted({lab for r in recs if (lab := value_label(r.value)) is not None})
        out.append(Conflict(item_id=item, label_set=ls, reason=reason, agreement_score=score,
                            annotations=tuple(MappingProxyType(record_to_dict(r)) for r in recs) if annotations else (),
                            labels=tuple(labels)))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """An adjudicator's decision on a conflict.

    Attributes:
        item_id / label_set: Which conflict.
        decided_by: Who decided.
        chosen: The chosen label or value (JSON-serialisable).
        reason: Free-text rationale.
        guideline_rule: The guideline rule applied (e.g. ``"3.2 occluded objects"``), or None.
        timestamp: ISO 8601 UTC; filled at construction when omitted.
    """

    item_id: str
    label_set: str
    decided_by: str
    chosen: Any
    reason: str = ""
    guideline_rule: str | None = None
    timestamp: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (one JSON Lines record)."""
        return {"item_id": self.item_id, "label_set": self.label_set, "decided_by": self.decided_by,
                "chosen": self.chosen, "reason": self.reason, "guideline_rule": self.guideline_rule,
                "timestamp": self.timestamp}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Resolution:
        """Inverse of :meth:`to_dict`."""
        missing = [k for k in ("item_id", "label_set", "decided_by", "chosen") if k not in d]
        if missing:
            raise InvalidResolutionError(f"resolution is missing {missing}; got keys {sorted(d)}")
        return cls(item_id=str(d["item_id"]), label_set=str(d["label_set"]), decided_by=str(d["decided_by"]),
                   chosen=d["chosen"], reason=str(d.get("reason", "")), guideline_rule=d.get("guideline_rule"),
                   timestamp=str(d.get("timestamp", "")))


@dataclass(frozen=True, slots=True, kw_only=True)
class HotSpot:
    """A label or guideline rule that keeps needing adjudication.

    Attributes:
        kind: ``"label"`` or ``"rule"``.
        name: The label or rule.
        conflicts: Conflicts involving it (labels only; 0 for rules).
        resolutions: Resolutions choosing that label / citing that rule.
        total: ``conflicts + resolutions`` (the ranking key).
    """

    kind: Literal["label", "rule"]
    name: str
    conflicts: int
    resolutions: int
    total: int


def guideline_hot_spots(
    conflicts: Sequence[Conflict], resolutions: Sequence[Resolution], *, top: int | None = None
) -> list[HotSpot]:
    """Labels and rules ranked by how many conflicts/resolutions they collect.

    Ties are broken by kind then name, so the ranking is deterministic.

    Example:
        >>> c = [Conflict(item_id="1", label_set="cls", reason="low_agreement", agreement_score=0.1,
        ...               labels=("cat", "dog"))]
        >>> r = [Resolution(item_id="1", label_set="cls", decided_by="x", chosen="cat", guideline_rule="R1",
        ...                 timestamp="t")]
        >>> [(h.kind, h.name, h.total) for h in guideline_hot_spots(c, r)]
        [('label', 'cat', 2), ('label', 'dog', 1), ('rule', 'R1', 1)]
    """
    label_conf: Counter[str] = Counter(lab for c in conflicts for lab in set(c.labels))
    label_res: Counter[str] = Counter(r.chosen for r in resolutions if isinstance(r.chosen, str))
    rule_res: Counter[str] = Counter(r.guideline_rule for r in resolutions if r.guideline_rule)
    spots = [HotSpot(kind="label", name=n, conflicts=label_conf[n], resolutions=label_res[n],
                     total=label_conf[n] + label_res[n]) for n in set(label_conf) | set(label_res)]
    spots += [HotSpot(kind="rule", name=n, conflicts=0, resolutions=k, total=k) for n, k in rule_res.items()]
    spots.sort(key=lambda h: (-h.total, h.kind, h.name))
    return spots if top is None else spots[:top]
