"""The conflict queue of one label set as a mergeable section (:class:`ConflictsSection`).

A conflict is an item: its agreement score is below the threshold (lowest first, undefined
scores last), or, with a good score, an annotator disagreed with its gold answer. Both queues
are sorted by a key of the item alone (score, then item id), so each partition queues its own
items, merging concatenates, and :meth:`~ConflictsSection.finish` sorts: the queue of any split
equals the queue of the whole. Each open conflict carries its JSON entry (the annotators' values
side by side, the item's size and text), built on the partition that holds the item's records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..model import Dataset, Record, TextValue, value_label, value_to_dict
from .engine import Context
from .engine import json_float as _f

if TYPE_CHECKING:
    from ..qa.conflicts import Conflict


__all__ = ["ConflictInputs", "ConflictQueue", "ConflictsSection"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConflictInputs:
    """What the queue of one label set reads besides the partitions (``ctx.options[section.name]``).

    Attributes:
        scores: Agreement score per item (ambiguous items already left out).
        threshold: Items scoring below it (or undefined) are conflicts.
        gold_disagreements: Per item, how many annotators disagreed with its gold answer.
        resolved: Items already resolved for this label set (they leave the open queue).
    """

    scores: Mapping[str, float]
    threshold: float
    gold_disagreements: Mapping[str, int] = field(default_factory=dict)
    resolved: frozenset[str] = frozenset()


@dataclass(slots=True)
class ConflictQueue:
    """A partial (or the finished) queue: ``(sort key, Conflict, JSON entry or None when resolved)``
    for the low-agreement and the gold-disagreement conflicts."""

    low: list[tuple[Any, Any, dict[str, Any] | None]] = field(default_factory=list)
    gold: list[tuple[Any, Any, dict[str, Any] | None]] = field(default_factory=list)

    @property
    def conflicts(self) -> list[Any]:
        """Every queued :class:`~accord.core.qa.conflicts.Conflict`, resolved ones included, in order."""
        return [c for _, c, _ in self.low] + [c for _, c, _ in self.gold]

    @property
    def open_entries(self) -> list[dict[str, Any]]:
        """The JSON entries of the conflicts not resolved yet, in queue order."""
        return [e for _, _, e in self.low if e is not None] + [e for _, _, e in self.gold if e is not None]

    @property
    def n_resolved(self) -> int:
        """Queued conflicts that are resolved already."""
        return sum(e is None for _, _, e in self.low) + sum(e is None for _, _, e in self.gold)


def _key(item_id: str, label_set: str, score: float) -> tuple[bool, float, tuple[str, str]]:
    nan = math.isnan(score)
    return (nan, 0.0 if nan else score, (item_id, label_set))  # conflict_queue's order


class ConflictsSection:
    """The conflict queue of ``label_set`` (stage 2: it reads the agreement scores and gold
    disagreements the report computed, through :class:`ConflictInputs` in ``ctx.options``)."""

    stage = 2

    def __init__(self, label_set: str) -> None:
        self.label_set = label_set
        self.name = f"conflicts:{label_set}"

    def create(self, ctx: Context) -> ConflictQueue:
        return ConflictQueue()

    def add(self, state: ConflictQueue, part: Dataset, ctx: Context) -> ConflictQueue:
        from ..qa.conflicts import conflict_queue

        inputs: ConflictInputs = ctx.options[self.name]
        name = self.label_set
        here = part.items
        scores = {i: s for i, s in inputs.scores.items() if i in here}
        records = part.select(label_set=name, source="human")
        low = conflict_queue(scores, threshold=inputs.threshold, records=records, label_set=name, annotations=False)
        queued = {c.item_id for c in low}
        gold_only = {i: 0.0 for i, n in inputs.gold_disagreements.items() if n and i in here and i not in queued}
        gold = conflict_queue(gold_only, threshold=1.0, records=records, label_set=name,
                              reason="gold_disagreement", annotations=False)
        human = part.grouped_view(name, source="human")

        def entry(c: Any) -> dict[str, Any] | None:
            if c.item_id in inputs.resolved:
                return None
            return _conflict_dict(part, c, human, inputs.gold_disagreements)

        state.low.extend((_key(c.item_id, name, c.agreement_score), c, entry(c)) for c in low)
        state.gold.extend((_key(c.item_id, name, 0.0), c, entry(c)) for c in gold)
        return state

    def merge(self, a: ConflictQueue, b: ConflictQueue) -> ConflictQueue:
        return ConflictQueue(low=[*a.low, *b.low], gold=[*a.gold, *b.gold])

    def finish(self, state: ConflictQueue, ctx: Context) -> ConflictQueue:
        return ConflictQueue(low=sorted(state.low, key=lambda t: t[0]), gold=sorted(state.gold, key=lambda t: t[0]))

    def next_params(self, state: ConflictQueue, ctx: Context) -> None:
        return None


# --------------------------------------------------------------------------- an open conflict's JSON entry


def _conflict_dict(ds: Dataset, c: Conflict, human: Mapping[str, Mapping[str, Sequence[Record]]],
                   gold_disagreements: Mapping[str, int]) -> dict[str, Any]:
    side = {a: "; ".join(_describe(r) for r in rs) or "(nothing)"
            for a, rs in sorted(human.get(c.item_id, {}).items())}
    return {"item_id": c.item_id, "label_set": c.label_set,
            "agreement": None if c.reason == "gold_disagreement" else _f(c.agreement_score),
            "reason": c.reason.replace("_", " "), "labels": list(c.labels),
            "gold_discrepancies": int(gold_disagreements.get(c.item_id, 0)), "annotations": side,
            # the values themselves and the item's size and text, for the HTML report's drawings
            "versions": {a: [value_to_dict(r.value) for r in rs]
                         for a, rs in sorted(human.get(c.item_id, {}).items())},
            "item": _item_view(ds, c.item_id)}


def _item_view(ds: Dataset, item_id: str) -> dict[str, Any]:
    it = ds.items.get(item_id)
    text = it.data.get("text") if it is not None else None
    image = it.data.get("image") if it is not None else None  # the task's image URL or path, for the review app
    return {"width": it.width if it else None, "height": it.height if it else None,
            "duration_s": it.duration_s if it else None, "text": text if isinstance(text, str) else None,
            "image": image if isinstance(image, str) else None}


def _describe(r: Record) -> str:
    v = r.value
    lab = value_label(v)
    if v.kind in ("classification", "multilabel"):
        return str(lab)
    if v.kind == "numeric":
        return f"{v.value:g}"  # type: ignore[union-attr]
    if isinstance(v, TextValue):
        return repr(v.text if len(v.text) < 60 else v.text[:57] + "...")
    if v.kind == "span":
        return f"{lab}[{v.start}:{v.end}]"  # type: ignore[union-attr]
    if v.kind == "segment":
        return f"{lab or ''}@{v.start:g}-{v.end:g}"  # type: ignore[union-attr]
    if v.kind == "box":
        return f"{lab}({v.x:.0f},{v.y:.0f},{v.width:.0f}x{v.height:.0f})"  # type: ignore[union-attr]
    return f"{lab} {v.kind}"
