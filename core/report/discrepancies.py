"""Two small mergeable sections: the dataset's totals (:class:`SummarySection`) and each
annotator's class against the consensus (:class:`ConsensusMismatchSection`).

Both are sums or concatenations over items: the totals add up, annotators form a union, and a
record's mismatch is decided from the record and its item's consensus label alone. Mismatches
are kept in item order (then the order of the item's records, which a partition keeps), so the
result does not depend on how items were split; the report sorts every discrepancy by severity,
label set, item and annotator afterwards, and a stable sort leaves ties (the same item and
annotator) in the records' order either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import Dataset, value_label
from ..qa.taxonomy import Discrepancy, Taxonomy
from .engine import Context

__all__ = ["ConsensusMismatchSection", "DatasetSummary", "SummarySection", "consensus_mismatches"]


@dataclass(slots=True, kw_only=True)
class DatasetSummary:
    """The dataset's totals (a partial state and, finished, the result).

    Attributes:
        n_items / n_records / n_model_records / n_cancelled: Counts (cancelled: skipped submissions).
        annotators: Human annotators with a submission, sorted once finished.
        submissions: Real (not cancelled) human submissions per annotator.
    """

    n_items: int = 0
    n_records: int = 0
    n_model_records: int = 0
    n_cancelled: int = 0
    annotators: tuple[str, ...] = ()
    submissions: Counter[str] = field(default_factory=Counter)


class SummarySection:
    """The report summary's totals (stage 0)."""

    name = "summary"
    stage = 0

    def create(self, ctx: Context) -> DatasetSummary:
        return DatasetSummary()

    def add(self, state: DatasetSummary, part: Dataset, ctx: Context) -> DatasetSummary:
        subs = part.submissions
        done = Counter(s.annotator_id for s in subs if s.source == "human" and not s.was_cancelled)
        return self.merge(state, DatasetSummary(
            n_items=len(part.items), n_records=len(part.records),
            n_model_records=sum(r.source == "model" for r in part.records),
            n_cancelled=sum(s.was_cancelled for s in subs),
            annotators=tuple(sorted({s.annotator_id for s in subs if s.source == "human"})),
            submissions=done))

    def merge(self, a: DatasetSummary, b: DatasetSummary) -> DatasetSummary:
        return DatasetSummary(n_items=a.n_items + b.n_items, n_records=a.n_records + b.n_records,
                              n_model_records=a.n_model_records + b.n_model_records,
                              n_cancelled=a.n_cancelled + b.n_cancelled,
                              annotators=tuple(sorted({*a.annotators, *b.annotators})),
                              submissions=a.submissions + b.submissions)

    def finish(self, state: DatasetSummary, ctx: Context) -> DatasetSummary:
        return state

    def next_params(self, state: DatasetSummary, ctx: Context) -> None:
        return None


_UNSEEN: Any = object()


def consensus_mismatches(ds: Dataset, name: str, consensus: Mapping[str, str], skip: frozenset[str],
                         taxonomy: Taxonomy) -> list[Discrepancy]:
    """Each annotator's class vs the consensus, on items without gold (in record order)."""
    out = []
    classified: dict[tuple[str, str], tuple[str, str] | None] = {}  # (kind, label) -> the taxonomy's answer
    for r in ds.select(label_set=name, source="human"):
        if r.item_id in skip or r.item_id not in consensus:
            continue
        lab = value_label(r.value)
        if lab != consensus[r.item_id]:
            at = (r.kind, consensus[r.item_id])
            hit = classified.get(at, _UNSEEN)
            if hit is _UNSEEN:
                hit = classified[at] = taxonomy.classify(event="label_mismatch", kind=r.kind,
                                                         label=consensus[r.item_id], label_set=name)
            if hit:
                out.append(Discrepancy(category=hit[0], severity=hit[1], event="label_mismatch",
                                       item_id=r.item_id, label_set=name, annotator_id=r.annotator_id,
                                       against="consensus", kind=r.kind, candidate_region_id=r.region_id,
                                       reference_label=consensus[r.item_id], candidate_label=lab))
    return out


class ConsensusMismatchSection:
    """Mismatches against the consensus of one classification label set (stage 2: it reads
    ``ctx.options[name] = (consensus labels by item, items to skip)``; the taxonomy is the
    config's)."""

    stage = 2

    def __init__(self, label_set: str) -> None:
        self.label_set = label_set
        self.name = f"consensus_mismatches:{label_set}"

    def create(self, ctx: Context) -> list[Discrepancy]:
        return []

    def add(self, state: list[Discrepancy], part: Dataset, ctx: Context) -> list[Discrepancy]:
        labels, skip = ctx.options[self.name]
        here = part.items
        mine = {i: lab for i, lab in labels.items() if i in here} if len(labels) > len(here) else labels
        return [*state, *consensus_mismatches(part, self.label_set, mine, skip, ctx.config.taxonomy)]

    def merge(self, a: list[Discrepancy], b: list[Discrepancy]) -> list[Discrepancy]:
        return [*a, *b]

    def finish(self, state: list[Discrepancy], ctx: Context) -> list[Discrepancy]:
        return sorted(state, key=lambda d: d.item_id)  # stable: an item's records keep their order

    def next_params(self, state: list[Discrepancy], ctx: Context) -> None:
        return None
