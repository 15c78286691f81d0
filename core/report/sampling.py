"""Spot-check sample, acceptance plan, disagreement sample and review orders as a mergeable
section (:class:`SamplingSection`).

What each part needs from the data, and how it merges:

* **Spot check**: the population is every real human submission (not cancelled) ordered by
  item id, then annotator id, then submission order within the item; a stratified draw over
  it reads every unit's stratum by position, so the state carries one row per submission
  (item and annotator codes into sorted tables) and the draw happens in :meth:`finish`. Its
  order is canonical: the same as ``build_report``'s for any dataset.
* **Acceptance** (ISO 2859-1): the lot is the number of items with such a submission (a sum).
* **Disagreement sample**: drawn from ``ctx.results["report:item_scores"]`` (whole-dataset
  per-item scores); nothing from the partitions.
* **Least confidence**: each item's lowest model score in [0, 1] (a per-item minimum).
* **Committee and k-center orders** (:func:`~accord.core.qa.active_learning_orders.active_learning_orders`):
  k-center picks over the vectors of *all* items, and the class list of a label set is the
  union of every label seen in it, so the state carries one row per model record that has a
  label (label set, annotator, item, label, score) and the vectors are made in :meth:`finish`.

**Order.** Model records are taken by item id, then record order within the item; the result
of any split is exactly (bit for bit) ``_sampling`` of the dataset sorted by item id. Against
``_sampling`` of a dataset in its own record order, only model records that do not come sorted
by item id can make a difference, in three places: a k-center class vector averages the model
versions in the order they are first seen (with three or more versions, the last bits); a label
set that is not in the schema takes its place among the orders by its first record by item id
(``ds.label_sets`` uses ``ds.records`` order); and such a label set's kind is its first model
record's by item id. The spot check, acceptance plan, disagreement sample, least-confidence and
committee orders do not depend on the order at all; on the bundled sample and the frozen
exports every figure equals ``build_report``'s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from operator import attrgetter
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ..model import Dataset, MultiLabel, value_label
from ..qa.acceptance import oc_curve, plans_by_severity
from ..qa.active_learning import uncertainty_ranking
from ..qa.active_learning_orders import TOP, _class_vectors, _committee, _k_center, _listing, _region_vectors
from ..qa.sampling import disagreement_sample, sample_size_for_margin, stratified_positions, stratified_sample
from .engine import Context
from .engine import json_float as _f

__all__ = ["SamplingReport", "SamplingSection", "SamplingState", "acceptance_plan", "union_codes"]

T = TypeVar("T", tuple[str, int], tuple[str, int, str])
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_ITEM = attrgetter("item_id")
_ANNOTATOR = attrgetter("annotator_id")
_LABEL_SET = attrgetter("label_set")
_SOURCE = attrgetter("source")
_VALUE = attrgetter("value")
_LABEL = attrgetter("label")


def union_codes(a: Sequence[str], b: Sequence[str]) -> tuple[tuple[str, ...], IntArray, IntArray]:
    """The sorted union of two sorted string tables, and each table's codes into it."""
    if not a or not b or tuple(a) == tuple(b):
        names = tuple(a or b)
        same = np.arange(len(names), dtype=np.int64)
        return names, same[:len(a)], same[:len(b)]
    names = tuple(sorted({*a, *b}))
    pos = {s: j for j, s in enumerate(names)}
    return (names, np.fromiter(map(pos.__getitem__, a), dtype=np.int64, count=len(a)),
            np.fromiter(map(pos.__getitem__, b), dtype=np.int64, count=len(b)))


def _intern_sorted(values: Sequence[str]) -> tuple[tuple[str, ...], IntArray]:
    """``values`` coded against their sorted distinct values (one dict lookup a value, in C)."""
    if not values:
        return (), np.zeros(0, dtype=np.int64)
    number: defaultdict[str, int] = defaultdict(count().__next__)
    raw = np.fromiter(map(number.__getitem__, values), dtype=np.int64, count=len(values))
    first = list(number)  # in first-seen order
    order = sorted(range(len(first)), key=first.__getitem__)
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return tuple(first[j] for j in order), rank[raw]


@dataclass(slots=True, kw_only=True)
class SamplingState:
    """A partial sampling section (see the module docstring for why each column is kept).

    Attributes:
        sub_items / sub_annotators: Sorted tables of the human submissions' items and annotators.
        sub_item / sub_annotator: ``(n,)`` codes of each submission (human, not cancelled), in
            submission order within each partition.
        conf_items / conf: Items with a model score in [0, 1] (sorted) and each one's lowest.
        pred_sets / pred_annotators / pred_items / pred_labels: Sorted tables of the model records
            that carry a label.
        pred_set / pred_annotator / pred_item / pred_label: ``(m,)`` codes of each such record.
        pred_score: ``(m,)`` its score (NaN when it has none); ``pred_scored``: it has one.
        pred_pos: ``(m,)`` its position among its partition's records (order within an item).
        model_sets: Label sets with any model record.
        seen_labels: ``{label set: labels seen in any record}``.
        first_seen: ``{label set not in the schema: (item id, position)}`` of its first record.
        first_model_kind: ``{label set not in the schema: (item id, position, kind)}`` of its
            first model record.
    """

    sub_items: tuple[str, ...] = ()
    sub_item: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sub_annotators: tuple[str, ...] = ()
    sub_annotator: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    conf_items: tuple[str, ...] = ()
    conf: FloatArray = field(default_factory=lambda: np.zeros(0))
    pred_sets: tuple[str, ...] = ()
    pred_annotators: tuple[str, ...] = ()
    pred_items: tuple[str, ...] = ()
    pred_labels: tuple[str, ...] = ()
    pred_set: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pred_annotator: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pred_item: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pred_label: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pred_score: FloatArray = field(default_factory=lambda: np.zeros(0))
    pred_scored: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    pred_pos: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    model_sets: tuple[str, ...] = ()
    seen_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    first_seen: dict[str, tuple[str, int]] = field(default_factory=dict)
    first_model_kind: dict[str, tuple[str, int, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplingReport:
    """The finished section: the report's ``sampling`` blocks (each ``None`` when absent).

    Attributes:
        spot_check: The stratified spot-check sample of submissions.
        acceptance: The ISO 2859-1 plans and OC curves for the lot (two or more items).
        disagreement_sample: Items drawn with weight ``1 - agreement``.
        active_learning: The least-confidence order and every order the predictions support.
        sub_items / sub_annotators / sub_item / sub_annotator: The spot-check population as
            columns (see :meth:`submissions`).
    """

    spot_check: Mapping[str, Any] | None = None
    acceptance: Mapping[str, Any] | None = None
    disagreement_sample: Mapping[str, Any] | None = None
    active_learning: Mapping[str, Any] | None = None
    sub_items: tuple[str, ...] = field(default=(), repr=False)
    sub_annotators: tuple[str, ...] = field(default=(), repr=False)
    sub_item: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    sub_annotator: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    def submissions(self) -> list[tuple[str, str]]:
        """The spot-check population, ``(item_id, annotator_id)`` per real human submission (what
        :func:`~accord.core.qa.grades.grade_estimate` takes), by item id then annotator."""
        order = np.lexsort((self.sub_annotator, self.sub_item)).tolist()
        items, anns = self.sub_item.tolist(), self.sub_annotator.tolist()
        return [(self.sub_items[items[j]], self.sub_annotators[anns[j]]) for j in order]

    def to_dict(self) -> dict[str, Any]:
        """The report's ``sampling`` block, with only the parts present (as ``build_report`` writes it)."""
        out: dict[str, Any] = {}
        for key in ("spot_check", "acceptance", "disagreement_sample", "active_learning"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _recode(codes: IntArray, remap: IntArray) -> IntArray:
    return remap[codes] if codes.size else codes


def _earlier(a: Mapping[str, T], b: Mapping[str, T]) -> dict[str, T]:
    """Per key the smaller (item id, position) entry of ``a`` and ``b``."""
    out = dict(a)
    for k, v in b.items():
        if k not in out or v[:2] < out[k][:2]:
            out[k] = v
    return dict(sorted(out.items()))


class SamplingSection:
    """Spot check, acceptance, disagreement sample and review orders (``_sampling`` of ``build_report``).

    Reads ``ctx.config`` (the ``ReportConfig``: spot-check margin, AQL, inspection level and
    severity), ``ctx.seed``, ``ctx.results["report:item_scores"]`` (``{label set: {item id:
    score}}`` of the whole dataset) and ``ctx.options["pred_probs"]`` (optional ``{label set:
    {item id: {class: p}}}``).
    """

    name = "sampling"
    stage = 1

    def create(self, ctx: Context) -> SamplingState:
        """The empty state."""
        return SamplingState()

    def add(self, state: SamplingState, part: Dataset, ctx: Context) -> SamplingState:
        """Fold one partition: its submissions, model scores and labelled model records as columns."""
        done = [s for s in part.submissions if s.source == "human" and not s.was_cancelled]
        sub_items, sub_item = _intern_sorted(list(map(_ITEM, done)))
        sub_anns, sub_ann = _intern_sorted(list(map(_ANNOTATOR, done)))
        recs = part.records
        sets = list(map(_LABEL_SET, recs))
        labels = _labels(list(map(_VALUE, recs)))
        names = set(sets)
        seen: dict[str, set[str]] = defaultdict(set)
        pairs = [(sets[0], lab) for lab in set(labels)] if len(names) == 1 else set(zip(sets, labels, strict=True))
        for ls, lab in pairs:
            if lab is not None:
                seen[ls].add(str(lab))
        schema = part.schema.label_sets
        first_seen: dict[str, tuple[str, int]] = {}
        for ls in names - set(schema):
            k = sets.index(ls)
            first_seen[ls] = (recs[k].item_id, k)
        sources = list(map(_SOURCE, recs))
        model = [k for k, src in enumerate(sources) if src == "model"] if "model" in sources else []
        conf: dict[str, float] = {}
        first_kind: dict[str, tuple[str, int, str]] = {}
        keep: list[int] = []
        for k in model:
            r = recs[k]
            if r.score is not None and 0.0 <= r.score <= 1.0:
                conf[r.item_id] = min(conf.get(r.item_id, 1.0), float(r.score))
            ls = sets[k]
            if ls not in schema and ls not in first_kind:
                first_kind[ls] = (r.item_id, k, r.kind)
            if labels[k] is not None:
                keep.append(k)
        conf_items = tuple(sorted(conf))
        kept = [recs[k] for k in keep]
        p_sets, p_set = _intern_sorted([sets[k] for k in keep])
        p_anns, p_ann = _intern_sorted(list(map(_ANNOTATOR, kept)))
        p_items, p_item = _intern_sorted(list(map(_ITEM, kept)))
        p_labels, p_label = _intern_sorted([str(labels[k]) for k in keep])
        scores = [r.score for r in kept]
        local = SamplingState(
            sub_items=sub_items, sub_item=sub_item, sub_annotators=sub_anns, sub_annotator=sub_ann,
            conf_items=conf_items, conf=np.array([conf[i] for i in conf_items], dtype=np.float64),
            pred_sets=p_sets, pred_annotators=p_anns, pred_items=p_items, pred_labels=p_labels,
            pred_set=p_set, pred_annotator=p_ann, pred_item=p_item, pred_label=p_label,
            pred_score=np.array([np.nan if s is None else float(s) for s in scores], dtype=np.float64),
            pred_scored=np.array([s is not None for s in scores], dtype=bool),
            pred_pos=np.asarray(keep, dtype=np.int64),
            model_sets=tuple(sorted({sets[k] for k in model})),
            seen_labels={ls: tuple(sorted(v)) for ls, v in sorted(seen.items())},
            first_seen=first_seen, first_model_kind=first_kind)
        return self.merge(state, local)

    def merge(self, a: SamplingState, b: SamplingState) -> SamplingState:
        """Concatenate the columns (re-coded into merged tables); union the label sets and labels."""
        si, sia, sib = union_codes(a.sub_items, b.sub_items)
        sa, saa, sab = union_codes(a.sub_annotators, b.sub_annotators)
        ci, cia, cib = union_codes(a.conf_items, b.conf_items)
        conf = np.empty(len(ci))
        conf[cia], conf[cib] = a.conf, b.conf  # items are disjoint: no minimum to take
        ps, psa, psb = union_codes(a.pred_sets, b.pred_sets)
        pa, paa, pab = union_codes(a.pred_annotators, b.pred_annotators)
        pi, pia, pib = union_codes(a.pred_items, b.pred_items)
        pl, pla, plb = union_codes(a.pred_labels, b.pred_labels)
        seen = {ls: tuple(sorted({*a.seen_labels.get(ls, ()), *b.seen_labels.get(ls, ())}))
                for ls in sorted({*a.seen_labels, *b.seen_labels})}
        return SamplingState(
            sub_items=si, sub_item=np.concatenate([_recode(a.sub_item, sia), _recode(b.sub_item, sib)]),
            sub_annotators=sa,
            sub_annotator=np.concatenate([_recode(a.sub_annotator, saa), _recode(b.sub_annotator, sab)]),
            conf_items=ci, conf=conf, pred_sets=ps, pred_annotators=pa, pred_items=pi, pred_labels=pl,
            pred_set=np.concatenate([_recode(a.pred_set, psa), _recode(b.pred_set, psb)]),
            pred_annotator=np.concatenate([_recode(a.pred_annotator, paa), _recode(b.pred_annotator, pab)]),
            pred_item=np.concatenate([_recode(a.pred_item, pia), _recode(b.pred_item, pib)]),
            pred_label=np.concatenate([_recode(a.pred_label, pla), _recode(b.pred_label, plb)]),
            pred_score=np.concatenate([a.pred_score, b.pred_score]),
            pred_scored=np.concatenate([a.pred_scored, b.pred_scored]),
            pred_pos=np.concatenate([a.pred_pos, b.pred_pos]),
            model_sets=tuple(sorted({*a.model_sets, *b.model_sets})), seen_labels=seen,
            first_seen=_earlier(a.first_seen, b.first_seen),
            first_model_kind=_earlier(a.first_model_kind, b.first_model_kind))

    def finish(self, state: SamplingState, ctx: Context) -> SamplingReport:
        """Draw the samples and rank the review orders from the merged columns."""
        cfg, seed = ctx.config, ctx.seed
        spot = acceptance = dis = active = None
        n = int(state.sub_item.size)
        if n:
            item_ids, ann_names = state.sub_items, np.array(state.sub_annotators, dtype=object)
            order = np.lexsort((state.sub_annotator, state.sub_item))  # stable: ties keep submission order
            present = [item_ids[j] for j in np.unique(state.sub_item).tolist()]
            needed = sample_size_for_margin(cfg.spot_check_margin, population=n)
            k = min(needed, n)
            if any("::" in i or i.endswith(":") for i in present):
                subs = [(item_ids[i], ann_names[a]) for i, a in
                        zip(state.sub_item[order].tolist(), state.sub_annotator[order].tolist(), strict=True)]
                units = [f"{i}::{a}" for i, a in subs]
                smp = stratified_sample(units, [a for _, a in subs], k, seed=seed)
                item_of = dict(zip(units, (i for i, _ in subs), strict=True))  # not split: ids may hold "::"
                drawn = [(item_of[x], st) for x, st in zip(smp.ids, smp.strata, strict=True)]
            else:
                pos, strata, _ = stratified_positions(ann_names[state.sub_annotator[order]], k, seed=seed)
                drawn = [(item_ids[j], st) for j, st in zip(state.sub_item[order[pos]].tolist(), strata, strict=True)]
            spot = {
                "unit": "submission (item x annotator)", "method": "stratified by annotator, proportional",
                "population": n, "size": len(drawn), "seed": seed, "margin": cfg.spot_check_margin,
                "needed_for_margin": needed,
                "items": [{"item_id": i, "annotator_id": str(st)} for i, st in drawn],
            }
            if len(present) >= 2:
                acceptance = acceptance_plan(len(present), cfg)
        dis = _disagreement(ctx.results["report:item_scores"], seed)
        if state.conf_items:
            items = list(state.conf_items)
            p = state.conf
            rank = uncertainty_ranking(np.column_stack([p, 1.0 - p]), method="least_confidence")
            active = {"strategy": "least confidence of the model's top class",
                      "items": [{"item_id": items[j], "score": _f(rank.scores[j])} for j in rank.order[:50]]}
        orders = _orders(state, ctx)
        if orders:
            active = active or {"strategy": orders[0]["method"], "items": orders[0]["items"]}
            active["orders"] = orders
        return SamplingReport(spot_check=spot, acceptance=acceptance, disagreement_sample=dis,
                              active_learning=active, sub_items=state.sub_items,
                              sub_annotators=state.sub_annotators, sub_item=state.sub_item,
                              sub_annotator=state.sub_annotator)

    def next_params(self, state: SamplingState, ctx: Context) -> None:
        """One pass is enough."""
        return None


def acceptance_plan(lot: int, cfg: Any) -> dict[str, Any]:
    """The lot's ISO 2859-1 plan at the configured severity (``cfg``: a ``ReportConfig``), the other
    two severities, and their OC curves: the report's ``sampling.acceptance`` block."""
    plans = plans_by_severity(lot, cfg.aql, level=cfg.inspection_level)
    top = max(min(1.0, 3.0 * (q.accept + 1) / q.sample_size) for q in plans.values())
    grid = np.linspace(0.0, top, 201, dtype=np.float64)
    curves = {sev: [_f(x) for x in oc_curve(q, grid).p_accept] for sev, q in plans.items()}
    return {
        "standard": f"ISO 2859-1 single sampling, {cfg.inspection_severity} inspection", "lot_size": lot,
        "level": cfg.inspection_level, "aql": cfg.aql, "severity": cfg.inspection_severity,
        "plan": plans[cfg.inspection_severity].to_dict(),
        "plans": {sev: q.to_dict() for sev, q in plans.items()},
        "oc_curve": {"p": [_f(x) for x in grid], "p_accept": curves[cfg.inspection_severity],
                     "by_severity": curves},
        "switching_rules": ("normal -> tightened when 2 of 5 consecutive lots are not accepted; tightened -> "
                            "normal after 5 accepted in a row; normal -> reduced at a switching score of 30; "
                            "reduced -> normal when a lot is not accepted or has more than Ac defects; 5 lots "
                            "not accepted on tightened -> discontinue (accord acceptance switching replays a "
                            "lot history)"),
    }


def _labels(values: Sequence[Any]) -> list[str | None]:
    """:func:`~accord.core.model.value_label` of each value (a plain ``.label`` read when every
    value type has one, as classifications and regions do)."""
    types = set(map(type, values))
    if all(hasattr(t, "label") and t is not MultiLabel for t in types):
        return list(map(_LABEL, values))
    return list(map(value_label, values))


def _disagreement(item_scores: Mapping[str, Mapping[str, float]], seed: int) -> dict[str, Any] | None:
    """The disagreement-weighted sample over each item's lowest score (capped at 1)."""
    worst: dict[str, float] = {}
    for scores in item_scores.values():
        if not worst:
            worst = {item: sc if sc < 1.0 else 1.0 for item, sc in scores.items()}
            continue
        for item, sc in scores.items():
            prev = worst.get(item, 1.0)
            worst[item] = sc if sc < prev else prev
    if not worst:
        return None
    items = sorted(worst)
    dis = np.maximum(0.0, 1.0 - np.fromiter(map(worst.__getitem__, items), dtype=np.float64, count=len(items)))
    k = min(20, int(np.count_nonzero(dis > 0)))
    if not k:
        return None
    smp = disagreement_sample(items, dis.tolist(), k, seed=seed)
    return {"method": "disagreement-weighted (A-Res)", "seed": seed, "items": list(smp.ids)}


def _orders(state: SamplingState, ctx: Context) -> list[dict[str, Any]]:
    """:func:`~accord.core.qa.active_learning_orders.active_learning_orders` from the merged columns."""
    pred_probs: Mapping[str, Mapping[str, Mapping[str, float]]] = ctx.options.get("pred_probs") or {}
    top = TOP
    orders: list[dict[str, Any]] = []
    if state.conf_items:
        items = list(state.conf_items)
        p = state.conf
        rank = uncertainty_ranking(np.column_stack([p, 1.0 - p]), method="least_confidence")
        orders.append({"method": "least_confidence", "label_set": None,
                       "basis": "the lowest top-class score any model gave the item, over every label set",
                       "n_candidates": len(items), "n_ranked": len(items),
                       "items": _listing(items, rank.order, rank.scores, top)})
    schema = ctx.schema.label_sets
    extra = sorted(state.first_seen, key=lambda ls: state.first_seen[ls])
    # the labelled model records by item id, then position within the item (canonical record order)
    rows = np.lexsort((state.pred_pos, state.pred_item))
    set_of = state.pred_set[rows]
    by_set = {state.pred_sets[c]: rows[set_of == c] for c in np.unique(set_of).tolist()}
    models = set(state.model_sets)
    for name in [*schema, *extra]:
        if name not in models and not pred_probs.get(name):
            continue
        ls = schema.get(name)
        kind: str
        if ls:
            kind = ls.kind
        elif name in state.first_model_kind:
            kind = state.first_model_kind[name][2]
        else:
            kind = "classification"
        at = by_set.get(name, np.zeros(0, dtype=np.int64))
        ann = [state.pred_annotators[c] for c in state.pred_annotator[at].tolist()]
        item = [state.pred_items[c] for c in state.pred_item[at].tolist()]
        lab = [state.pred_labels[c] for c in state.pred_label[at].tolist()]
        score = state.pred_score[at].tolist()
        scored = state.pred_scored[at].tolist()
        if kind == "classification":
            given = pred_probs.get(name)
            classes = sorted({*(ls.labels if ls and ls.labels else ()), *state.seen_labels.get(name, ()),
                              *(c for p in (given or {}).values() for c in p)})
            preds: dict[str, dict[str, tuple[str, float | None]]] = defaultdict(dict)
            for a, i, lb, s, has in zip(ann, item, lab, score, scored, strict=True):
                preds[a].setdefault(i, (lb, s if has else None))
            committee = _committee(name, preds, classes, top)
            if committee:
                orders.append(committee)
            if len(classes) >= 2:
                kc = _k_center(name, *_class_vectors(preds, classes, given), top)
                if kc:
                    orders.append(kc)
        elif name in models:
            kc = _k_center(name, *_region_vectors(item, lab, score, scored), top)
            if kc:
                orders.append(kc)
    return orders
