"""Pilot timing, the cost forecast, sourcing and the pilot gate as a mergeable section (:class:`CostSection`).

The pilot's statistics are medians, MADs and outlier trimming over *every* timed pass, and
the forecast's bootstrap resamples pilot items by position, so nothing here reduces to a
sum: a partial state carries one row per timed human pass (item and annotator codes, its
duration, its records per value kind, whether it saw pre-annotations) — the columns of
:class:`~accord.core.cost.pilot.PilotColumns` — and the counts that are per item (passes,
pre-annotation matches, overlap, conflicts, hot spots), which add.

**Order.** The passes are kept in a canonical order: by item id, and within an item in the
order of its submissions (a partition keeps that order); the result of any split is then
exactly (bit for bit) ``_cost`` of the dataset with its items, records and submissions sorted
by item id. :func:`~accord.core.cost.pilot.analyze_pilot` on a whole dataset takes the passes
in ``ds.submissions`` order instead, so where submissions do not come sorted by item id (a
Label Studio export: task ids ``"1" .. "10"`` do not sort as strings) the forecast's bootstrap
interval bounds differ (it draws pilot items by position), and the pilot's means, sums and the
forecast's point estimates can differ in the last bits (summation order; equal to 1e-12).
Counts, medians, outlier flags and verdicts do not depend on the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..cost import compare_sourcing, config_from_dict, forecast, pilot_gate, qa_from_report
from ..cost.forecast import Forecast
from ..cost.gate import GateResult
from ..cost.pilot import PilotColumns, PilotStats, pilot_columns, pilot_from_columns
from ..cost.sourcing import SourcingDecision
from ..model import Dataset
from .engine import Context
from .sampling import union_codes

__all__ = ["CostReport", "CostSection", "CostState"]

IntArray = npt.NDArray[np.int64]

#: Bootstrap replicates of the report's forecast (as ``build_report`` has always used).
N_BOOT = 500


@dataclass(slots=True, kw_only=True)
class CostState:
    """A partial pilot: one row per timed human pass, rows by item id (then submission order).

    Per-pass columns are carried because the pilot's medians and outlier trimming and the
    forecast's bootstrap read every pass's duration.

    Attributes:
        item_names / annotator_names / kind_names: Sorted tables the codes index.
        item / annotator: ``(n,)`` codes of each pass.
        duration_s: ``(n,)`` seconds.
        counts / order: ``(n, K)`` records per kind, and where each kind came first in the pass.
        pre_annotated: ``(n,)`` flags.
        timed: Some human, not cancelled submission has a (truthy) ``duration_s``.
        n_items: Items folded in (the forecast's default production size).
        human_passes, model_regions, accepted, added, deleted, items_with_overlap,
        conflict_items: Counts over whole items (sums).
        hotspots: ``{label: (conflict items, overlap items)}`` (sums).
    """

    item_names: tuple[str, ...] = ()
    item: IntArray
    annotator_names: tuple[str, ...] = ()
    annotator: IntArray
    duration_s: npt.NDArray[np.float64]
    kind_names: tuple[str, ...] = ()
    counts: IntArray
    order: IntArray
    pre_annotated: npt.NDArray[np.bool_]
    timed: bool = False
    n_items: int = 0
    human_passes: int = 0
    model_regions: int = 0
    accepted: int = 0
    added: int = 0
    deleted: int = 0
    items_with_overlap: int = 0
    conflict_items: int = 0
    hotspots: dict[str, tuple[int, int]]


def _empty() -> CostState:
    z = np.zeros(0, dtype=np.int64)
    return CostState(item=z, annotator=z.copy(), duration_s=np.zeros(0), counts=np.zeros((0, 0), dtype=np.int64),
                     order=np.zeros((0, 0), dtype=np.int64), pre_annotated=np.zeros(0, dtype=bool), hotspots={})


def _sorted_table(names: Sequence[str], codes: IntArray) -> tuple[tuple[str, ...], IntArray]:
    """``codes`` into ``names`` re-coded into the sorted table of the names they use."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(names))) if codes.size else codes
    table = sorted(names[c] for c in used.tolist())
    rank = np.zeros(len(names), dtype=np.int64)
    pos = {s: j for j, s in enumerate(table)}
    rank[used] = [pos[names[c]] for c in used.tolist()]
    return tuple(table), rank[codes]


def _widen(x: IntArray, names: tuple[str, ...], union: tuple[str, ...], fill: int) -> IntArray:
    """``(n, len(names))`` columns laid out over ``union`` (absent kinds ``fill``)."""
    if names == union:
        return x
    out = np.full((x.shape[0], len(union)), fill, dtype=np.int64)
    pos = {k: j for j, k in enumerate(union)}
    out[:, [pos[k] for k in names]] = x
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CostReport:
    """The finished section.

    Attributes:
        pilot: The pilot's measurements, ``None`` without a timed pass.
        forecast: The production forecast (bootstrap interval when there was a pilot).
        sourcing: In-house vs vendor vs hybrid.
        gate: The pilot gate's verdict and checks.
    """

    pilot: PilotStats | None
    forecast: Forecast
    sourcing: SourcingDecision
    gate: GateResult

    def to_dict(self) -> dict[str, Any]:
        """The report's ``cost`` block: ``{"forecast", "sourcing", "gate"}``."""
        return {"forecast": self.forecast.to_dict(), "sourcing": self.sourcing.to_dict(),
                "gate": self.gate.to_dict()}


class CostSection:
    """Pilot timing, the forecast, sourcing and the gate (``_cost`` of ``build_report``, mergeable).

    Reads ``ctx.results["report:agreement"]`` (the report's agreement block) and
    ``ctx.results["report:gold"]`` (``gold.summarize`` of the gold outcomes), and
    ``ctx.options["cost"]`` (a ``CostConfig``, default config when absent) and
    ``ctx.options["cost_items"]`` (production items; default: the dataset's item count).
    """

    name = "cost"
    stage = 1

    def create(self, ctx: Context) -> CostState:
        """An empty pilot."""
        return _empty()

    def add(self, state: CostState, part: Dataset, ctx: Context) -> CostState:
        """Fold one partition: its timed passes (by item id) and its per-item counts."""
        cols = pilot_columns(part)
        items, item = _sorted_table(cols.item_names, cols.item)
        anns, ann = _sorted_table(cols.annotator_names, cols.annotator)
        rows = np.argsort(item, kind="stable")
        timed = any(s.source == "human" and not s.was_cancelled and s.duration_s for s in part.submissions)
        local = CostState(item_names=items, item=item[rows], annotator_names=anns, annotator=ann[rows],
                          duration_s=cols.duration_s[rows], kind_names=tuple(cols.kind_names),
                          counts=cols.counts[rows], order=cols.order[rows], pre_annotated=cols.pre_annotated[rows],
                          timed=timed, n_items=len(part.items), human_passes=cols.human_passes,
                          model_regions=cols.model_regions, accepted=cols.accepted, added=cols.added,
                          deleted=cols.deleted, items_with_overlap=cols.items_with_overlap,
                          conflict_items=cols.conflict_items, hotspots=dict(cols.hotspots))
        return self.merge(state, local)

    def merge(self, a: CostState, b: CostState) -> CostState:
        """Concatenate the passes (re-coded into merged tables, then by item id) and add the counts."""
        if not b.item.size and not b.kind_names:
            return _add_counts(a, b, a)
        if not a.item.size and not a.kind_names:
            return _add_counts(a, b, b)
        items, ia, ib = union_codes(a.item_names, b.item_names)
        anns, aa, ab = union_codes(a.annotator_names, b.annotator_names)
        kinds = tuple(sorted({*a.kind_names, *b.kind_names}))
        item = np.concatenate([ia[a.item], ib[b.item]])
        rows = np.argsort(item, kind="stable")  # items are disjoint: each keeps its passes' order
        cat = CostState(
            item_names=items, item=item[rows], annotator_names=anns,
            annotator=np.concatenate([aa[a.annotator], ab[b.annotator]])[rows],
            duration_s=np.concatenate([a.duration_s, b.duration_s])[rows], kind_names=kinds,
            counts=np.concatenate([_widen(a.counts, a.kind_names, kinds, 0),
                                   _widen(b.counts, b.kind_names, kinds, 0)])[rows],
            order=np.concatenate([_widen(a.order, a.kind_names, kinds, -1),
                                  _widen(b.order, b.kind_names, kinds, -1)])[rows],
            pre_annotated=np.concatenate([a.pre_annotated, b.pre_annotated])[rows], hotspots={})
        return _add_counts(a, b, cat)

    def finish(self, state: CostState, ctx: Context) -> CostReport:
        """Pilot statistics, the forecast (500 bootstrap replicates, the report's seed), sourcing, gate."""
        cfg = ctx.options.get("cost") or config_from_dict({})
        pilot = pilot_from_columns(_columns(state)) if state.timed else None
        items = ctx.options.get("cost_items") or max(state.n_items, 1)
        fc = forecast(pilot, cfg, items=items, n_boot=N_BOOT, seed=ctx.seed)
        agreement_est, gold_est = qa_from_report({"agreement": ctx.results["report:agreement"],
                                                  "gold": {"annotators": ctx.results["report:gold"]}})
        gate = pilot_gate(pilot, thresholds=cfg.gate, agreement=agreement_est, gold_score=gold_est)
        return CostReport(pilot=pilot, forecast=fc, sourcing=compare_sourcing(fc, cfg), gate=gate)

    def next_params(self, state: CostState, ctx: Context) -> None:
        """One pass is enough."""
        return None


def _add_counts(a: CostState, b: CostState, into: CostState) -> CostState:
    """``into`` (the merged passes) with the counts of ``a`` and ``b`` added."""
    hot: dict[str, tuple[int, int]] = dict(a.hotspots)
    for k, (bad, n) in b.hotspots.items():
        was = hot.get(k, (0, 0))
        hot[k] = (was[0] + bad, was[1] + n)
    return CostState(
        item_names=into.item_names, item=into.item, annotator_names=into.annotator_names, annotator=into.annotator,
        duration_s=into.duration_s, kind_names=into.kind_names, counts=into.counts, order=into.order,
        pre_annotated=into.pre_annotated, timed=a.timed or b.timed, n_items=a.n_items + b.n_items,
        human_passes=a.human_passes + b.human_passes, model_regions=a.model_regions + b.model_regions,
        accepted=a.accepted + b.accepted, added=a.added + b.added, deleted=a.deleted + b.deleted,
        items_with_overlap=a.items_with_overlap + b.items_with_overlap,
        conflict_items=a.conflict_items + b.conflict_items, hotspots=dict(sorted(hot.items())))


def _columns(state: CostState) -> PilotColumns:
    return PilotColumns(
        item=state.item, item_names=state.item_names, annotator=state.annotator,
        annotator_names=state.annotator_names, duration_s=state.duration_s, kind_names=state.kind_names,
        counts=state.counts, order=state.order, pre_annotated=state.pre_annotated, human_passes=state.human_passes,
        model_regions=state.model_regions, accepted=state.accepted, added=state.added, deleted=state.deleted,
        items_with_overlap=state.items_with_overlap, conflict_items=state.conflict_items,
        hotspots=dict(state.hotspots))
