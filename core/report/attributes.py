"""Attribute agreement and track comparison as mergeable sections.

The report's ``attributes`` section (:mod:`accord.core.qa.attributes`) and ``tracks`` section
(:mod:`accord.core.qa.track_qa`) compare what annotators drew on the same item: the regions of
one item are matched, their attributes compared (attributes), or its tracks compared frame by
frame (tracks). The matching and the frame-by-frame comparison are item-local, so:

* :class:`TracksSection` runs :func:`~accord.core.qa.track_qa.track_item` on each item of the
  partition (the expensive part) and keeps its :class:`~accord.core.qa.track_qa.ItemTrackRow`
  (counts, the IoU sum, identity switches, missed frames, skipped comparisons and classified
  discrepancies: what the result lists); merge concatenates; finish sorts the rows by item id
  (the one-process order) and sums them (:func:`~accord.core.qa.track_qa.combine_items`).
* :class:`AttributeScopeSection` (stage 0) finds the label sets attribute agreement applies to:
  a region or classification label set where some record carries an attribute that is not
  bookkeeping. Its kind is the schema's, else the kind of its first record in dataset item order.
* :class:`AttributesSection` (stage 1, reading the scope) matches the regions of each item of the
  partition and keeps one :class:`~accord.core.qa.attributes.PairRow` per label-equal matched pair
  (ids, label, the two sides' attributes); finish sorts them by item id (stable: the matcher's
  order within an item stays) and judges them
  (:func:`~accord.core.qa.attributes.judge_pairs`): an attribute's kind, where no spec gives it,
  is inferred from every value it takes, which only the merged rows know.

Order. The one-process functions walk items sorted by id, and so do the finished sections: every
count, sum (float additions in item-id order), list and discrepancy is bit for bit the same on any
split. Only the kind of a label set that is *not in the schema* is read differently: by its first
record in dataset item order (``ctx.order``), where the one-process code reads the first record in
record order (the same whenever records come grouped in item order).

State size: one row per compared region pair with attributes (the result lists the mismatches)
and per compared track pair (the result lists switches and missed frames).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidAnnotationError
from ..model import REGION_KINDS, Dataset, Record
from ..qa.attributes import IGNORED_ATTRIBUTES, AttributeReport, PairRow, attribute_pairs, judge_pairs
from ..qa.taxonomy import Discrepancy
from ..qa.track_qa import ItemTrackRow, TrackReport, combine_items, track_item
from .engine import Context, order_of
from .engine import json_float as _f

__all__ = ["AttributeScopeSection", "AttributeState", "AttributesSection", "ScopeState", "TrackState",
           "TracksSection", "attribute_block", "attribute_row", "rate_dict", "tracks_block"]


def rate_dict(r: Any) -> dict[str, Any]:
    """A :class:`~accord.core.qa.intervals.Rate` as the report's JSON carries it."""
    return {"estimate": _f(r.estimate), "low": _f(r.low), "high": _f(r.high), "successes": r.successes,
            "n": r.n, "method": r.method}


def attribute_row(a: Any) -> dict[str, Any]:
    """An :class:`~accord.core.qa.attributes.AttributeAgreement` row as the report's JSON carries it."""
    row: dict[str, Any] = {"label": a.label, "attribute": a.attribute, "kind": a.kind, "comparison": a.comparison,
                           "reference_id": a.reference_id, "candidate_id": a.candidate_id, "n": a.n,
                           "exact_match": rate_dict(a.exact_match), "n_one_sided": a.n_one_sided}
    if a.kind == "text":
        row["text_similarity"] = {"metric": "1 - Levenshtein distance / longer length",
                                  "mean": _f(a.mean_similarity_score), "n": a.n_text}
    if a.kind == "numeric":
        row["numeric_difference"] = {"mean_absolute": _f(a.mean_absolute_error),
                                     "max_absolute": _f(a.max_abs_difference), "n": a.n_numeric}
    return row


def attribute_block(rep: Any) -> dict[str, Any]:
    """One label set's entry of the report's ``attributes`` section."""
    return {
        "n_region_pairs": rep.n_region_pairs, "n_label_mismatches": rep.n_label_mismatches,
        "rows": [attribute_row(a) for a in rep.rows], "pooled": [attribute_row(a) for a in rep.pooled()],
        "n_mismatches": len(rep.mismatches),
        "mismatches": [{"item_id": m.item_id, "label": m.label, "attribute": m.attribute,
                        "comparison": m.comparison, "reference_id": m.reference_id,
                        "candidate_id": m.candidate_id, "reference_region_id": m.reference_region_id,
                        "candidate_region_id": m.candidate_region_id, "reference_value": m.reference_value,
                        "candidate_value": m.candidate_value} for m in rep.mismatches[:200]]}


def tracks_block(rep: Any) -> dict[str, Any]:
    """One label set's entry of the report's ``tracks`` section."""
    return {"pairs": [{
        "comparison": p.comparison, "reference_id": p.reference_id, "candidate_id": p.candidate_id,
        "n_items": p.n_items, "n_frames": p.n_frames, "n_reference_boxes": p.n_reference,
        "n_candidate_boxes": p.n_candidate, "matches": p.matches, "misses": p.misses,
        "false_positives": p.false_positives, "precision": rate_dict(p.precision),
        "recall": rate_dict(p.recall), "mean_iou": _f(p.mean_iou), "mota": _f(p.mota_score),
        "idf1": _f(p.idf1_score), "id_switches": len(p.switches),
        "switches": [{"item_id": s.item_id, "frame": s.switch.frame,
                      "reference_track_id": s.switch.reference_track_id,
                      "previous_candidate_track_id": s.switch.previous_candidate_track_id,
                      "candidate_track_id": s.switch.candidate_track_id} for s in p.switches[:500]],
        "missed_frames": p.n_missed_frames,
        "missed": [{"item_id": m.item_id, "annotator_id": m.annotator_id, "track_id": m.track_id,
                    "partner_track_id": m.partner_track_id, "n_frames": len(m.frames),
                    "runs": [list(r) for r in m.runs[:50]]} for m in p.missed[:500]],
    } for p in rep.pairs], "skipped": [{"item_id": i, "reference_id": a, "candidate_id": b, "reason": why}
                                       for i, a, b, why in rep.skipped]}


def _reference_by_item(part: Dataset, name: str) -> dict[str, list[Record]]:
    reference: dict[str, list[Record]] = {}
    for item, per in part.grouped_view(name, source="reference").items():
        for rs in per.values():
            reference.setdefault(item, []).extend(rs)
    return reference


def _first_records(part: Dataset, names: Sequence[str]) -> dict[str, tuple[str, int, str]]:
    """``{label set: (item id, position in the partition, kind)}`` of each label set's first record
    (label sets not in the schema only)."""
    wanted = {n for n in names if n not in part.schema.label_sets}
    out: dict[str, tuple[str, int, str]] = {}
    if not wanted:
        return out
    for k, r in enumerate(part.records):
        if r.label_set in wanted and r.label_set not in out:
            out[r.label_set] = (r.item_id, k, r.kind)
            if len(out) == len(wanted):
                break
    return out


def _first_in_order(firsts: Sequence[tuple[str, int, str]], ctx: Context) -> str:
    """The kind of the earliest of the partitions' first records, in dataset item order."""
    rank = order_of(ctx, [f[0] for f in firsts]).rank()
    return min(firsts, key=lambda f: (rank.get(f[0], len(rank)), f[1]))[2]


# --------------------------------------------------------------------------- tracks


@dataclass(slots=True, kw_only=True)
class TrackState:
    """Per label set, the per-item rows of the folded partitions, and which label sets hold tracks."""

    rows: dict[str, list[ItemTrackRow]] = field(default_factory=dict)
    with_tracks: frozenset[str] = frozenset()


class TracksSection:
    """Frame-by-frame track comparison of every label set holding tracks (stage 0).

    Args:
        label_sets: The whole dataset's label sets in ``Dataset.label_sets`` order (the order of
            the result's entries).

    Reads ``ctx.config`` (``iou_threshold``, ``taxonomy``). Result: ``(tracks section, discrepancies)``
    as the one-process ``_tracks`` returns them (evidence as mapping proxies).
    """

    name = "tracks"
    stage = 0

    def __init__(self, label_sets: Sequence[str]) -> None:
        self.label_sets = tuple(label_sets)

    def create(self, ctx: Context) -> TrackState:
        return TrackState()

    def add(self, state: TrackState, part: Dataset, ctx: Context) -> TrackState:
        cfg = ctx.config
        local = TrackState()
        with_tracks: set[str] = set()
        for name in self.label_sets:
            if not any(r.kind == "track" for r in part.select(label_set=name)):
                continue
            if not 0.0 < cfg.iou_threshold <= 1.0:  # as track_agreement checks it
                raise InvalidAnnotationError(f"iou_threshold must be in (0, 1], got {cfg.iou_threshold!r}")
            with_tracks.add(name)
            human = part.grouped_view(name, source="human")
            reference = _reference_by_item(part, name)
            local.rows[name] = [track_item(item, human.get(item, {}), reference.get(item, []), label_set=name,
                                           iou_threshold=cfg.iou_threshold, taxonomy=cfg.taxonomy)
                                for item in sorted(set(human) | set(reference))]
        local.with_tracks = frozenset(with_tracks)
        return self.merge(state, local)

    def merge(self, a: TrackState, b: TrackState) -> TrackState:
        rows = {n: [*a.rows.get(n, ()), *b.rows.get(n, ())] for n in {*a.rows, *b.rows}}
        return TrackState(rows=rows, with_tracks=a.with_tracks | b.with_tracks)

    def reports(self, state: TrackState, ctx: Context) -> dict[str, TrackReport]:
        """The :class:`~accord.core.qa.track_qa.TrackReport` of each label set holding tracks, in order:
        ``track_agreement``'s of the whole dataset."""
        return {name: combine_items(sorted(state.rows.get(name, ()), key=lambda r: r.item_id), label_set=name,
                                    iou_threshold=ctx.config.iou_threshold)
                for name in self.label_sets if name in state.with_tracks}

    def finish(self, state: TrackState, ctx: Context) -> tuple[dict[str, Any], list[Discrepancy]]:
        cfg = ctx.config
        out: dict[str, Any] = {}
        found: list[Discrepancy] = []
        for name, rep in self.reports(state, ctx).items():
            found.extend(rep.discrepancies)
            if not rep.pairs and not rep.skipped:
                continue
            out[name] = tracks_block(rep)
        return ({"iou_threshold": cfg.iou_threshold, "label_sets": out} if out else {}), found

    def next_params(self, state: TrackState, ctx: Context) -> None:
        return None


# --------------------------------------------------------------------------- attributes


@dataclass(slots=True, kw_only=True)
class ScopeState:
    """Label sets with a compared attribute somewhere; the first record of each label set not in the schema."""

    with_attributes: frozenset[str] = frozenset()
    firsts: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)


class AttributeScopeSection:
    """Which label sets attribute agreement applies to (stage 0); result ``{label set: kind}``
    in ``label_sets`` order, for :class:`AttributesSection`.

    Args:
        label_sets: The whole dataset's label sets in ``Dataset.label_sets`` order.
    """

    name = "attributes:scope"
    stage = 0

    def __init__(self, label_sets: Sequence[str]) -> None:
        self.label_sets = tuple(label_sets)

    def create(self, ctx: Context) -> ScopeState:
        return ScopeState()

    def add(self, state: ScopeState, part: Dataset, ctx: Context) -> ScopeState:
        found = {name for name in self.label_sets
                 if any(r.attributes and not IGNORED_ATTRIBUTES.issuperset(r.attributes)
                        for r in part.select(label_set=name))}
        firsts = {n: [f] for n, f in _first_records(part, self.label_sets).items()}
        return self.merge(state, ScopeState(with_attributes=frozenset(found), firsts=firsts))

    def merge(self, a: ScopeState, b: ScopeState) -> ScopeState:
        firsts = {n: [*a.firsts.get(n, ()), *b.firsts.get(n, ())] for n in {*a.firsts, *b.firsts}}
        return ScopeState(with_attributes=a.with_attributes | b.with_attributes, firsts=firsts)

    def finish(self, state: ScopeState, ctx: Context) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in self.label_sets:
            ls = ctx.schema.label_sets.get(name)
            kind: str
            if ls:
                kind = ls.kind
            elif state.firsts.get(name):
                kind = _first_in_order(state.firsts[name], ctx)
            else:
                kind = ""
            if (kind in REGION_KINDS or kind == "classification") and name in state.with_attributes:
                out[name] = kind
        return out

    def next_params(self, state: ScopeState, ctx: Context) -> None:
        return None


@dataclass(slots=True, kw_only=True)
class AttributeState:
    """Per label set in scope: the compared pairs (one list per partition) and the label mismatches."""

    pairs: dict[str, list[PairRow]] = field(default_factory=dict)
    n_label_mismatches: dict[str, int] = field(default_factory=dict)


class AttributesSection:
    """Attribute agreement on matched regions (and tags) per label set in scope (stage 1: reads
    :class:`AttributeScopeSection`'s result). Reads ``ctx.config`` (the region matcher's
    ``iou_threshold`` and keypoint sigmas). Result: the report's ``attributes`` section (``{}`` when
    no label set has a compared attribute), equal to the one-process ``_attributes``.
    """

    name = "attributes"
    stage = 1

    def create(self, ctx: Context) -> AttributeState:
        return AttributeState()

    def add(self, state: AttributeState, part: Dataset, ctx: Context) -> AttributeState:
        from ..qa.report import _region_matcher

        scope: Mapping[str, str] = ctx.results[AttributeScopeSection.name]
        local = AttributeState()
        match = _region_matcher(ctx.config)
        for name in scope:
            human = part.grouped_view(name, source="human")
            reference = _reference_by_item(part, name)
            rows: list[PairRow] = []
            bad = 0
            for item in sorted(set(human) | set(reference)):
                got, n_bad = attribute_pairs(human.get(item, {}), reference.get(item, []), match=match)
                rows.extend(got)
                bad += n_bad
            local.pairs[name] = rows
            local.n_label_mismatches[name] = bad
        return self.merge(state, local)

    def merge(self, a: AttributeState, b: AttributeState) -> AttributeState:
        names = {*a.pairs, *b.pairs}
        return AttributeState(
            pairs={n: [*a.pairs.get(n, ()), *b.pairs.get(n, ())] for n in names},
            n_label_mismatches={n: a.n_label_mismatches.get(n, 0) + b.n_label_mismatches.get(n, 0) for n in names})

    def reports(self, state: AttributeState, ctx: Context) -> dict[str, AttributeReport]:
        """The :class:`~accord.core.qa.attributes.AttributeReport` of each label set in scope:
        ``attribute_agreement``'s of the whole dataset (the float sums in item-id order)."""
        scope: Mapping[str, str] = ctx.results[AttributeScopeSection.name]
        out: dict[str, AttributeReport] = {}
        for name in scope:
            ls = ctx.schema.label_sets.get(name)
            compared = sorted(state.pairs.get(name, ()), key=lambda p: p.item_id)  # stable
            out[name] = judge_pairs(compared, label_set=name, specs=ls.attributes if ls is not None else {},
                                    n_label_mismatches=state.n_label_mismatches.get(name, 0))
        return out

    def finish(self, state: AttributeState, ctx: Context) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, rep in self.reports(state, ctx).items():
            if not rep.rows:
                continue
            out[name] = attribute_block(rep)
        return {"ignored": sorted(IGNORED_ATTRIBUTES), "label_sets": out} if out else {}

    def next_params(self, state: AttributeState, ctx: Context) -> None:
        return None
