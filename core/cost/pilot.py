"""Pilot analysis: time per item and per label, throughput, conflicts, and pre-annotation effect.

Reads an :class:`~accord.core.model.Dataset` from any tool accord converts. Time comes
from each human submission's ``duration_s`` (Label Studio's ``lead_time``); passes
without a duration are counted but not timed. Durations are skewed and a tab left open
overnight is common, so outliers are trimmed with the modified z-score of Iglewicz &
Hoaglin (1993): a pass is an outlier when ``0.6745 * |x - median| / MAD > k`` (k = 3.5).
Trimming is done within each label kind (:attr:`Pass.kind`): drawing boxes takes longer
than picking a class, and pooled trimming would discard the slower kind's passes as
"outliers" of the faster one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from ..model import Box, Dataset, Record, Span, Submission, value_label

#: The modified z-score above which a duration is an outlier (Iglewicz & Hoaglin 1993).
OUTLIER_Z = 3.5


def mad(values: Sequence[float] | npt.NDArray[np.float64], *, normalize: bool = True) -> float:
    """Median absolute deviation; scaled by 1.4826 (consistent for the normal sd) when ``normalize``.

    Undefined (NaN) for no values. Matches ``statsmodels.robust.scale.mad(x, center=np.median)``.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan
    m = float(np.median(np.abs(x - np.median(x))))
    return m / 0.6744897501960817 if normalize else m


def outlier_mask(values: Sequence[float] | npt.NDArray[np.float64], *, z: float = OUTLIER_Z
                 ) -> npt.NDArray[np.bool_]:
    """True where a value is an outlier by the modified z-score ``0.6745 |x - med| / MAD > z``.

    When the MAD is 0 (more than half the values equal), nothing is flagged.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return np.zeros(0, dtype=bool)
    raw = mad(x, normalize=False)
    if raw == 0:
        return np.zeros(x.size, dtype=bool)
    out: npt.NDArray[np.bool_] = 0.6744897501960817 * np.abs(x - np.median(x)) / raw > z
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeStats:
    """Robust statistics of pass durations in seconds (after outlier trimming).

    ``mean_s`` is the mean of kept passes (the figure totals scale with); ``median_s``
    and ``mad_s`` describe the typical pass; ``cv`` is sd / mean of kept passes (NaN
    for fewer than 2). All NaN when no pass was timed.
    """

    n: int
    n_outliers: int
    median_s: float
    mean_s: float
    mad_s: float
    cv: float
    total_s: float
    labels: int

    @property
    def seconds_per_label(self) -> float:
        """Kept time / labels in kept passes (NaN without labels)."""
        return self.total_s / self.labels if self.labels else math.nan

    @property
    def items_per_hour(self) -> float:
        """Throughput: passes per hour of labeling (NaN when untimed)."""
        return 3600.0 / self.mean_s if self.mean_s > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "n_outliers": self.n_outliers, "median_s": _nan(self.median_s),
                "mean_s": _nan(self.mean_s), "mad_s": _nan(self.mad_s), "cv": _nan(self.cv),
                "total_s": self.total_s, "labels": self.labels,
                "seconds_per_label": _nan(self.seconds_per_label), "items_per_hour": _nan(self.items_per_hour)}


def _nan(v: float) -> float | None:
    return None if math.isnan(v) else v


def time_stats(durations: Iterable[float], labels: Iterable[int] | None = None, *,
               outliers: Iterable[bool] | None = None) -> TimeStats:
    """:class:`TimeStats` of durations; ``outliers`` (default: computed here) are left out."""
    d = np.asarray(list(durations), dtype=np.float64)
    lab = np.asarray(list(labels) if labels is not None else [0] * d.size, dtype=np.int64)
    out = outlier_mask(d) if outliers is None else np.asarray(list(outliers), dtype=bool)
    kept = d[~out]
    if kept.size == 0:
        return TimeStats(n=int(d.size), n_outliers=int(out.sum()), median_s=math.nan, mean_s=math.nan,
                         mad_s=math.nan, cv=math.nan, total_s=0.0, labels=0)
    mean = float(kept.mean())
    cv = float(kept.std(ddof=1) / mean) if kept.size > 1 and mean > 0 else math.nan
    return TimeStats(n=int(d.size), n_outliers=int(out.sum()), median_s=float(np.median(kept)), mean_s=mean,
                     mad_s=mad(kept), cv=cv, total_s=float(kept.sum()), labels=int(lab[~out].sum()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Pass:
    """One timed human pass over an item, as the forecast bootstraps it."""

    item_id: str
    annotator_id: str
    duration_s: float
    labels: Mapping[str, int]
    pre_annotated: bool
    outlier: bool
    _kind: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # read once per pass by every grouping of the forecast: computed once
        kind = max(sorted(self.labels), key=lambda k: self.labels[k]) if self.labels else "none"
        object.__setattr__(self, "_kind", kind)

    @property
    def n_labels(self) -> int:
        return int(sum(self.labels.values()))

    @property
    def kind(self) -> str:
        """The value kind most drawn in the pass (ties: alphabetical first); ``none`` when empty."""
        return self._kind


@dataclass(frozen=True, slots=True, kw_only=True)
class PreAnnotationEffect:
    """What model pre-annotations did in the pilot.

    Attributes:
        with_predictions / without_predictions: Time of passes on items that had / had not
            model records before the human submitted.
        model_regions: Predicted regions on pre-annotated passes (one count per pass that saw them).
        accepted: Predicted regions the human kept unchanged (same label set, label and
            value; boxes at IoU >= 0.99, spans with the same offsets).
        added: Human regions not matching any prediction.
        deleted: Predicted regions with no unchanged human counterpart (removed or edited).
        acceptance_rate: ``accepted / model_regions`` (NaN without predictions).
        edit_rate: ``(added + deleted) / (added + deleted + accepted)``, 0 = nothing edited.
        time_saving_rate: ``1 - mean time with / mean time without`` (NaN unless both were timed);
            negative when predictions slowed people down.
    """

    with_predictions: TimeStats
    without_predictions: TimeStats
    model_regions: int
    accepted: int
    added: int
    deleted: int

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.model_regions if self.model_regions else math.nan

    @property
    def edit_rate(self) -> float:
        d = self.added + self.deleted + self.accepted
        return (self.added + self.deleted) / d if d else math.nan

    @property
    def time_saving_rate(self) -> float:
        w, wo = self.with_predictions.mean_s, self.without_predictions.mean_s
        if math.isnan(w) or math.isnan(wo) or wo <= 0:
            return math.nan
        return 1.0 - w / wo

    def to_dict(self) -> dict[str, Any]:
        return {"with_predictions": self.with_predictions.to_dict(),
                "without_predictions": self.without_predictions.to_dict(),
                "model_regions": self.model_regions, "accepted": self.accepted, "added": self.added,
                "deleted": self.deleted, "acceptance_rate": _nan(self.acceptance_rate),
                "edit_rate": _nan(self.edit_rate), "time_saving_rate": _nan(self.time_saving_rate)}


@dataclass(frozen=True, slots=True, kw_only=True)
class PilotStats:
    """Everything measured from a pilot.

    Attributes:
        passes: The timed human passes (outliers flagged, not removed).
        untimed_passes: Human passes without ``duration_s``.
        overall: Time statistics of all timed passes.
        by_annotator: Per annotator id.
        by_kind: Per the value kind most drawn in the pass (``none`` for empty passes).
        by_annotator_kind: Per annotator, then per kind.
        seconds_per_label_by_kind: Kept time of passes of that kind / their labels.
        labels_per_pass: Mean labels per kept pass, per kind.
        items_with_overlap: Items with two or more human passes.
        conflict_items: Of those, items whose passes disagree (different labels or label counts).
        hotspots: Per label: ``(conflict items with the label, overlap items with the label)``.
        pre_annotation: The effect of model predictions.
    """

    passes: tuple[Pass, ...]
    untimed_passes: int
    overall: TimeStats
    by_annotator: Mapping[str, TimeStats]
    by_kind: Mapping[str, TimeStats]
    by_annotator_kind: Mapping[str, Mapping[str, TimeStats]]
    seconds_per_label_by_kind: Mapping[str, float]
    labels_per_pass: Mapping[str, float]
    items_with_overlap: int
    conflict_items: int
    hotspots: Mapping[str, tuple[int, int]]
    pre_annotation: PreAnnotationEffect

    @property
    def conflict_rate(self) -> float:
        """Share of overlapping items whose passes disagree (NaN without overlap)."""
        return self.conflict_items / self.items_with_overlap if self.items_with_overlap else math.nan

    def hotspot_rates(self) -> dict[str, float]:
        """Conflict rate per label, worst first."""
        rates = {k: c / n for k, (c, n) in self.hotspots.items() if n}
        return dict(sorted(rates.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self) -> dict[str, Any]:
        return {
            "timed_passes": len(self.passes), "untimed_passes": self.untimed_passes,
            "items": len({p.item_id for p in self.passes}),
            "overall": self.overall.to_dict(),
            "by_annotator": {k: v.to_dict() for k, v in self.by_annotator.items()},
            "by_kind": {k: v.to_dict() for k, v in self.by_kind.items()},
            "by_annotator_kind": {a: {k: v.to_dict() for k, v in m.items()}
                                  for a, m in self.by_annotator_kind.items()},
            "seconds_per_label_by_kind": {k: _nan(v) for k, v in self.seconds_per_label_by_kind.items()},
            "labels_per_pass": dict(self.labels_per_pass),
            "items_with_overlap": self.items_with_overlap, "conflict_items": self.conflict_items,
            "conflict_rate": _nan(self.conflict_rate), "hotspot_rates": self.hotspot_rates(),
            "pre_annotation": self.pre_annotation.to_dict(),
        }


def _ts(s: str | None) -> datetime | None:
    if not s:
        return None
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _box_iou(a: Box, b: Box) -> float:
    ax1, ay1, ax2, ay2 = a.xyxy()
    bx1, by1, bx2, by2 = b.xyxy()
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = a.area + b.area - inter
    return inter / union if union > 0 else 1.0


def _unchanged(h: Record, m: Record) -> bool:
    if h.label_set != m.label_set or h.kind != m.kind or h.label != m.label:
        return False
    hv, mv = h.value, m.value
    if isinstance(hv, Box) and isinstance(mv, Box):
        return abs(hv.rotation - mv.rotation) < 1e-6 and _box_iou(hv, mv) >= 0.99
    if isinstance(hv, Span) and isinstance(mv, Span):
        return (hv.start, hv.end) == (mv.start, mv.end)
    return hv == mv


def _match_unchanged(human: Sequence[Record], model: Sequence[Record]) -> int:
    used: set[int] = set()
    n = 0
    for h in human:
        for j, m in enumerate(model):
            if j not in used and _unchanged(h, m):
                used.add(j)
                n += 1
                break
    return n


def analyze_pilot(dataset: Dataset, *, outlier_z: float = OUTLIER_Z) -> PilotStats:
    """Measure a pilot: robust time per pass, per label, per annotator and kind; conflicts; pre-annotation.

    A pass is *pre-annotated* when its item has model (``source="model"``) records
    created before the submission (or when either timestamp is unknown).

    Args:
        dataset: The pilot export.
        outlier_z: Modified z-score above which a duration is an outlier (> 0).

    Raises:
        InvalidAnnotationError: the pilot has no human submission with a ``duration_s``
            (the message says how to export times).
    """
    if not math.isfinite(outlier_z) or outlier_z <= 0:
        raise InvalidAnnotationError(f"outlier_z must be a finite number > 0, got {outlier_z!r}")
    # Per item the model records; then one pass over the human records: per (item, annotator) their
    # counts per value kind (first-seen order) and per (label set, label), and the records
    # themselves only on items with predictions (the only place they are matched).
    model: dict[str, list[Record]] = {}
    for r in dataset.records:
        if r.source == "model":
            model.setdefault(r.item_id, []).append(r)
    human: dict[tuple[str, str], list[Record]] = {}
    kinds: dict[tuple[str, str], dict[str, int]] = {}
    sigs: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
    for r in dataset.records:
        if r.source == "human":
            key = (r.item_id, r.annotator_id)
            if r.item_id in model:
                human.setdefault(key, []).append(r)
            kind = r.value.kind
            kc = kinds.setdefault(key, {})
            kc[kind] = kc.get(kind, 0) + 1
            sig = (r.label_set, value_label(r.value) or kind)
            sc = sigs.setdefault(key, {})
            sc[sig] = sc.get(sig, 0) + 1
    subs: list[Submission] = [s for s in dataset.submissions if s.source == "human" and not s.was_cancelled]
    timed = [s for s in subs if s.duration_s is not None and s.duration_s > 0]
    if not timed:
        raise InvalidAnnotationError(
            f"the pilot has {len(subs)} human submission(s) but none with a duration; expected duration_s "
            "on submissions (Label Studio: export JSON with lead_time; CVAT: job time) to measure time per item")
    durations = np.array([s.duration_s for s in timed], dtype=np.float64)
    empty: dict[str, int] = {}
    # Each pass's own kind counts (nothing changes them from here on: Pass.labels wraps them as they are).
    counts = [kinds.get((s.item_id, s.annotator_id), empty) for s in timed]
    top_names = [max(sorted(c), key=c.__getitem__) if c else "none" for c in counts]
    tops = np.array(top_names, dtype=object)
    n_labels = np.array([sum(c.values()) for c in counts], dtype=np.int64)
    flags = np.zeros(len(timed), dtype=bool)
    for kind in sorted(set(top_names)):  # trim within each kind, never across kinds
        sel = tops == kind
        flags[sel] = outlier_mask(durations[sel], z=outlier_z)

    n_model = n_accepted = n_added = n_deleted = 0
    passes: list[Pass] = []
    pre_flags = np.zeros(len(timed), dtype=bool)
    for j, (s, out, c) in enumerate(zip(timed, flags.tolist(), counts, strict=True)):
        preds = model.get(s.item_id)
        pre = bool(preds)
        if preds:
            t_sub = _ts(s.created_at)
            t_pred = [_ts(m.created_at) for m in preds]
            if t_sub is not None and all(t is not None for t in t_pred):
                pre = any(t is not None and t <= t_sub for t in t_pred)
        if pre and preds:
            recs = human.get((s.item_id, s.annotator_id), [])
            acc = _match_unchanged(recs, preds)
            n_model += len(preds)
            n_accepted += acc
            n_added += len(recs) - acc
            n_deleted += len(preds) - acc
        pre_flags[j] = pre
        passes.append(Pass(item_id=s.item_id, annotator_id=s.annotator_id, duration_s=float(s.duration_s or 0.0),
                           labels=MappingProxyType(c), pre_annotated=pre, outlier=out))

    # Group statistics over index arrays (boolean masks keep pass order, so every sum is the same).
    def stats(sel: npt.NDArray[np.bool_] | None = None) -> TimeStats:
        if sel is None:
            return time_stats(durations, n_labels, outliers=flags)
        return time_stats(durations[sel], n_labels[sel], outliers=flags[sel])

    anns = np.array([s.annotator_id for s in timed], dtype=object)
    ann_names = sorted(set(anns.tolist()))
    kind_names = sorted(set(top_names))
    by_ann_sel = {a: anns == a for a in ann_names}
    by_kind_sel = {k: tops == k for k in kind_names}
    kind_stats = {k: stats(sel) for k, sel in by_kind_sel.items()}
    lab_tot: dict[str, int] = {}
    for c, out in zip(counts, flags.tolist(), strict=True):
        if not out:
            for k, v in c.items():
                lab_tot[k] = lab_tot.get(k, 0) + v
    n_kept = int((~flags).sum())
    labels_per_pass = {k: v / n_kept for k, v in sorted(lab_tot.items())} if n_kept else {}

    overlap, conflicts, hot = _conflicts(sigs, subs)
    effect = PreAnnotationEffect(with_predictions=stats(pre_flags), without_predictions=stats(~pre_flags),
                                 model_regions=n_model, accepted=n_accepted, added=n_added, deleted=n_deleted)
    by_ann_kind: dict[str, Mapping[str, TimeStats]] = {}
    for a, asel in by_ann_sel.items():
        by_ann_kind[a] = MappingProxyType({k: stats(asel & ksel) for k, ksel in by_kind_sel.items()
                                           if (asel & ksel).any()})
    return PilotStats(
        passes=tuple(passes), untimed_passes=len(subs) - len(timed), overall=stats(),
        by_annotator=MappingProxyType({a: stats(sel) for a, sel in by_ann_sel.items()}),
        by_kind=MappingProxyType(kind_stats),
        by_annotator_kind=MappingProxyType(by_ann_kind),
        seconds_per_label_by_kind=MappingProxyType({k: v.seconds_per_label for k, v in kind_stats.items()
                                                    if k != "none"}),
        labels_per_pass=MappingProxyType(labels_per_pass), items_with_overlap=overlap,
        conflict_items=conflicts, hotspots=MappingProxyType(hot), pre_annotation=effect)


def _conflicts(sigs: Mapping[tuple[str, str], Mapping[tuple[str, str], int]], subs: Sequence[Submission]
               ) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """Items with >= 2 passes, those whose passes' (label set, label) counts differ, per-label hot spots.

    ``sigs`` holds the (label set, label) counts of each (item, annotator)'s human records
    (counts are never 0, so plain dict equality is multiset equality).
    """
    empty: dict[tuple[str, str], int] = {}
    per_item: dict[str, list[Mapping[tuple[str, str], int]]] = {}
    for s in subs:
        per_item.setdefault(s.item_id, []).append(sigs.get((s.item_id, s.annotator_id), empty))
    overlap = conflicts = 0
    hot: dict[str, list[int]] = {}
    for item_sigs in per_item.values():
        if len(item_sigs) < 2:
            continue
        overlap += 1
        first = item_sigs[0]
        if any(sg != first for sg in item_sigs[1:]):
            conflicts += 1
        for key in sorted({k for sg in item_sigs for k in sg}):
            h = hot.setdefault(key[1], [0, 0])
            h[1] += 1
            if len({sg.get(key, 0) for sg in item_sigs}) > 1:
                h[0] += 1
    return overlap, conflicts, {k: (v[0], v[1]) for k, v in sorted(hot.items())}
