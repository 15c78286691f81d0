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
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress, count, islice
from operator import attrgetter, is_not
from types import MappingProxyType
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from ..model import Box, Dataset, MultiLabel, Record, Span, Submission, value_label

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


def _column(values: Iterable[Any], dtype: type[np.generic]) -> npt.NDArray[Any]:
    """``values`` as a 1-d array of ``dtype``: an array is converted as it is, any other iterable listed first."""
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return np.asarray(values, dtype=dtype)
    return np.asarray(list(values), dtype=dtype)


def time_stats(durations: Iterable[float], labels: Iterable[int] | None = None, *,
               outliers: Iterable[bool] | None = None) -> TimeStats:
    """:class:`TimeStats` of durations; ``outliers`` (default: computed here) are left out."""
    d = _column(durations, np.float64)
    lab = _column(labels, np.int64) if labels is not None else np.zeros(d.size, dtype=np.int64)
    out = outlier_mask(d) if outliers is None else _column(outliers, np.bool_)
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


class PassTable(Sequence[Pass]):
    """The timed passes of a pilot as columns, one row per pass in submission order.

    What :func:`analyze_pilot` measures and :func:`~accord.core.cost.forecast.forecast`
    resamples lives in arrays; indexing or iterating builds :class:`Pass` objects only
    when asked (the whole sequence is built once and kept). A table equals any sequence
    of the same passes in the same order, a tuple of :class:`Pass` included.

    Columns (``n`` passes, ``K`` value kinds):
        item / annotator: ``(n,)`` codes into ``item_names`` / ``annotator_names``.
        duration_s: ``(n,)`` seconds of each pass.
        kind_names: The ``K`` value kinds, sorted.
        counts: ``(n, K)`` records of each kind in the pass.
        order: ``(n, K)`` where each kind comes in :attr:`Pass.labels` (smaller first),
            ``-1`` for a kind not in them.
        top / top_names: ``(n,)`` codes of :attr:`Pass.kind` into ``top_names`` (sorted).
        pre_annotated / outlier: ``(n,)`` flags.
    """

    __slots__ = ("_built", "annotator", "annotator_names", "counts", "duration_s", "item", "item_names",
                 "kind_names", "order", "outlier", "pre_annotated", "top", "top_names")

    def __init__(self, *, item: npt.NDArray[np.int64], item_names: Sequence[str],
                 annotator: npt.NDArray[np.int64], annotator_names: Sequence[str],
                 duration_s: npt.NDArray[np.float64], kind_names: Sequence[str], counts: npt.NDArray[np.int64],
                 order: npt.NDArray[np.int64], top: npt.NDArray[np.int64], top_names: Sequence[str],
                 pre_annotated: npt.NDArray[np.bool_], outlier: npt.NDArray[np.bool_]) -> None:
        self.item, self.item_names = item, item_names
        self.annotator, self.annotator_names = annotator, annotator_names
        self.duration_s, self.kind_names, self.counts, self.order = duration_s, tuple(kind_names), counts, order
        self.top, self.top_names = top, tuple(top_names)
        self.pre_annotated, self.outlier = pre_annotated, outlier
        self._built: tuple[Pass, ...] | None = None

    @classmethod
    def from_passes(cls, passes: Iterable[Pass]) -> PassTable:
        """The table of passes given as objects (a :class:`PassTable` is returned as it is)."""
        if isinstance(passes, PassTable):
            return passes
        ps = tuple(passes)
        items, item_names = _intern([p.item_id for p in ps])
        anns, ann_names = _intern([p.annotator_id for p in ps])
        kinds = sorted({k for p in ps for k in p.labels})
        kpos = {k: j for j, k in enumerate(kinds)}
        counts = np.zeros((len(ps), len(kinds)), dtype=np.int64)
        order = np.full((len(ps), len(kinds)), -1, dtype=np.int64)
        for i, p in enumerate(ps):
            for rank, (k, v) in enumerate(p.labels.items()):
                counts[i, kpos[k]] = v
                order[i, kpos[k]] = rank
        top_names = sorted({p.kind for p in ps})
        top_pos = {k: j for j, k in enumerate(top_names)}
        table = cls(item=items, item_names=item_names, annotator=anns, annotator_names=ann_names,
                    duration_s=np.array([p.duration_s for p in ps], dtype=np.float64), kind_names=kinds,
                    counts=counts, order=order, top=np.array([top_pos[p.kind] for p in ps], dtype=np.int64),
                    top_names=top_names,
                    pre_annotated=np.array([p.pre_annotated for p in ps], dtype=bool),
                    outlier=np.array([p.outlier for p in ps], dtype=bool))
        table._built = ps
        return table

    def __len__(self) -> int:
        return int(self.duration_s.size)

    def _pass(self, i: int) -> Pass:
        row = self.order[i]
        present = np.flatnonzero(row >= 0)
        labels = {self.kind_names[j]: int(self.counts[i, j]) for j in present[np.argsort(row[present])].tolist()}
        return Pass(item_id=self.item_names[int(self.item[i])],
                    annotator_id=self.annotator_names[int(self.annotator[i])],
                    duration_s=float(self.duration_s[i]), labels=MappingProxyType(labels),
                    pre_annotated=bool(self.pre_annotated[i]), outlier=bool(self.outlier[i]))

    def _all(self) -> tuple[Pass, ...]:
        if self._built is None:
            self._built = tuple(self._pass(i) for i in range(len(self)))
        return self._built

    @overload
    def __getitem__(self, index: int) -> Pass: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Pass, ...]: ...

    def __getitem__(self, index: int | slice) -> Pass | tuple[Pass, ...]:
        if isinstance(index, slice):
            return self._all()[index]
        n = len(self)
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"pass index {index} out of range for {n} passes")
        return self._built[i] if self._built is not None else self._pass(i % n)

    def __iter__(self) -> Iterator[Pass]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PassTable({len(self)} passes on {self.n_items} items)"

    @property
    def n_items(self) -> int:
        """Distinct items among the passes."""
        return int(np.unique(self.item).size)

    @property
    def n_labels(self) -> npt.NDArray[np.int64]:
        """``(n,)`` records in each pass (:attr:`Pass.n_labels`)."""
        out: npt.NDArray[np.int64] = self.counts.sum(axis=1)
        return out


def _intern(values: Sequence[Hashable]) -> tuple[npt.NDArray[np.int64], list[Any]]:
    """Codes of ``values`` into their distinct values, numbered in first-seen order."""
    if not values:
        return np.zeros(0, dtype=np.int64), []
    first, n = values[0], len(values)
    if first == values[-1] == values[n // 2] and values.count(first) == n:  # one value: no lookups
        return np.zeros(n, dtype=np.int64), [first]
    number: defaultdict[Hashable, int] = defaultdict(count().__next__)  # one lookup a value, new ones numbered
    codes = np.fromiter(map(number.__getitem__, values), dtype=np.int64, count=n)
    return codes, list(number)


def _intern_runs(values: Sequence[Hashable]) -> tuple[npt.NDArray[np.int64], list[Any]]:
    """:func:`_intern` for values that come in runs of one object (an item's records, its passes).

    A value that is the very object before it takes that one's code; only the first of each
    run is looked up (an identity test per value, no hashing).
    """
    if len(values) < 2:
        return _intern(values)
    head = np.ones(len(values), dtype=bool)
    head[1:] = np.fromiter(map(is_not, islice(values, 1, None), values), dtype=bool, count=len(values) - 1)
    at = np.flatnonzero(head)
    codes, names = _intern(list(map(values.__getitem__, at.tolist())))
    return codes[np.cumsum(head) - 1], names


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
        passes: The timed human passes (outliers flagged, not removed), in submission order:
            a :class:`PassTable` when :func:`analyze_pilot` measured them.
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

    passes: Sequence[Pass]
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
            "items": PassTable.from_passes(self.passes).n_items,
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


_SOURCE = attrgetter("source")
_SUBMISSION_SOURCE = attrgetter("source", "was_cancelled")
_HUMAN_PASS = ("human", False)
_CANCELLED = attrgetter("was_cancelled")
_ITEM = attrgetter("item_id")
_ANNOTATOR = attrgetter("annotator_id")
_LABEL_SET = attrgetter("label_set")
_VALUE = attrgetter("value")
_DURATION = attrgetter("duration_s")
_LABEL = attrgetter("label")


def _groups(codes: npt.NDArray[np.int64], n_groups: int) -> Iterator[tuple[int, npt.NDArray[np.int64]]]:
    """Each non-empty group of ``codes`` (``0..n_groups-1``): its code and its positions, in order."""
    if n_groups == 1:
        if codes.size:
            yield 0, np.arange(codes.size)
        return
    # a stable sort keeps each group's positions in order (a radix sort on codes below 2**16)
    small = codes.astype(np.uint16) if n_groups <= 1 << 16 else codes
    order = np.argsort(small, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_groups + 1)).tolist()
    for g in range(n_groups):
        if bounds[g] < bounds[g + 1]:
            yield g, order[bounds[g]:bounds[g + 1]]


def _names_of(kind: str, cls: type, values: Sequence[Any]) -> list[str]:
    """What a pass's (label set, name) counts use of each value: its class label, else its kind."""
    labels: list[str | None] = (list(map(_LABEL, values)) if cls is not MultiLabel and hasattr(cls, "label")
                                else list(map(value_label, values)))
    return [lab or kind for lab in labels] if not all(labels) else labels  # type: ignore[return-value]


def _kinds_and_names(values: Sequence[Any]) -> tuple[npt.NDArray[np.int64], list[str], list[str]]:
    """Per value: its kind (a code into the sorted kinds returned) and its class label (its kind without one)."""
    tcodes, types = _intern(list(map(type, values)))
    kinds = sorted({str(t.kind) for t in types})
    kpos = {k: j for j, k in enumerate(kinds)}
    kind_codes = np.array([kpos[str(t.kind)] for t in types], dtype=np.int64)[tcodes]
    if len(types) <= 1:
        return kind_codes, kinds, _names_of(str(types[0].kind), types[0], values) if types else []
    names = np.empty(len(values), dtype=object)
    for j, t in enumerate(types):
        idx = np.flatnonzero(tcodes == j)
        names[idx] = _names_of(str(t.kind), t, list(map(values.__getitem__, idx.tolist())))
    return kind_codes, kinds, names.tolist()


@dataclass(frozen=True, slots=True, kw_only=True)
class PilotColumns:
    """What :func:`analyze_pilot` reads from a dataset, before any statistic over all passes.

    Everything here is per timed pass or a count over whole items, so the columns of disjoint
    sets of items concatenate (and their counts add) into the columns of their union; the
    medians, outlier trimming and means are left to :func:`pilot_from_columns`.

    Attributes:
        item / annotator: ``(n,)`` codes of each timed pass into ``item_names`` / ``annotator_names``.
        duration_s: ``(n,)`` seconds of each timed pass (all > 0).
        kind_names: The ``K`` value kinds of the human records, sorted.
        counts: ``(n, K)`` records of each kind in the pass.
        order: ``(n, K)`` where each kind is first seen among the pass's records (smaller
            first; only the order within a row means anything), ``-1`` for a kind not in them.
        pre_annotated: ``(n,)`` the pass saw model records (see :func:`analyze_pilot`).
        human_passes: Human, not cancelled submissions, timed or not.
        model_regions / accepted / added / deleted: Pre-annotation counts (:class:`PreAnnotationEffect`).
        items_with_overlap / conflict_items / hotspots: As in :class:`PilotStats`.
    """

    item: npt.NDArray[np.int64]
    item_names: Sequence[str]
    annotator: npt.NDArray[np.int64]
    annotator_names: Sequence[str]
    duration_s: npt.NDArray[np.float64]
    kind_names: Sequence[str]
    counts: npt.NDArray[np.int64]
    order: npt.NDArray[np.int64]
    pre_annotated: npt.NDArray[np.bool_]
    human_passes: int
    model_regions: int
    accepted: int
    added: int
    deleted: int
    items_with_overlap: int
    conflict_items: int
    hotspots: Mapping[str, tuple[int, int]]


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
    _check_outlier_z(outlier_z)
    return pilot_from_columns(pilot_columns(dataset), outlier_z=outlier_z)


def _check_outlier_z(outlier_z: float) -> None:
    if not math.isfinite(outlier_z) or outlier_z <= 0:
        raise InvalidAnnotationError(f"outlier_z must be a finite number > 0, got {outlier_z!r}")


def pilot_columns(dataset: Dataset) -> PilotColumns:
    """The :class:`PilotColumns` of a dataset: its timed passes in submission order, items
    and annotators numbered in first-seen order, and the per-item counts."""
    # One pass over the records and one over the submissions make columns (strings numbered once);
    # every count below is an array operation on them.
    recs = dataset.records
    src, src_names = _intern(list(map(_SOURCE, recs)))

    def of_source(name: str) -> npt.NDArray[np.int64]:
        return np.flatnonzero(src == src_names.index(name)) if name in src_names else np.zeros(0, dtype=np.int64)

    hi, mi = of_source("human"), of_source("model")
    human_recs: Sequence[Record] = recs if hi.size == len(recs) else list(map(recs.__getitem__, hi.tolist()))
    model_recs: list[Record] = list(map(recs.__getitem__, mi.tolist()))
    all_subs = dataset.submissions
    sub_src = list(map(_SOURCE, all_subs))
    if sub_src.count("human") == len(all_subs) and not any(map(_CANCELLED, all_subs)):
        subs: list[Submission] = list(all_subs)
    else:
        subs = list(compress(all_subs, map(_HUMAN_PASS.__eq__, map(_SUBMISSION_SOURCE, all_subs))))
    sub_durations = np.array(list(map(_DURATION, subs)), dtype=np.float64)  # None -> NaN, never > 0
    tj = np.flatnonzero(sub_durations > 0)  # the timed passes, in submission order
    nh, ns = len(human_recs), len(subs)
    items, item_names = _intern_runs(list(map(_ITEM, human_recs)) + list(map(_ITEM, subs))
                                     + list(map(_ITEM, model_recs)))
    anns, ann_names = _intern(list(map(_ANNOTATOR, human_recs)) + list(map(_ANNOTATOR, subs)))
    n_ann = max(len(ann_names), 1)
    pair = items[:nh + ns] * n_ann + anns  # one code per (item, annotator)
    pair_r, pair_s, item_r, item_s, item_m = pair[:nh], pair[nh:], items[:nh], items[nh:nh + ns], items[nh + ns:]
    kind_r, kinds, sig_names = _kinds_and_names(list(map(_VALUE, human_recs)))
    n_kinds = len(kinds)

    # Per (item, annotator) its records of each kind and where each kind was first seen.
    kk = max(n_kinds, 1)
    pk, first, n_pk = np.unique(pair_r * kk + kind_r, return_index=True, return_counts=True)
    new_pair = np.r_[True, pk[1:] // kk != pk[:-1] // kk] if pk.size else np.zeros(0, dtype=bool)
    pairs_u, row = pk[new_pair] // kk, np.cumsum(new_pair) - 1  # pk is sorted, so are its pairs
    counts_u = np.zeros((pairs_u.size, n_kinds), dtype=np.int64)
    counts_u[row, pk % kk] = n_pk
    order_u = np.full((pairs_u.size, n_kinds), -1, dtype=np.int64)
    order_u[row, pk % kk] = first
    tpair = pair_s[tj]
    at = np.minimum(np.searchsorted(pairs_u, tpair), max(pairs_u.size - 1, 0))
    found = pairs_u[at] == tpair if pairs_u.size else np.zeros(tj.size, dtype=bool)
    counts = np.zeros((tj.size, n_kinds), dtype=np.int64)
    counts[found] = counts_u[at[found]]
    order = np.full((tj.size, n_kinds), -1, dtype=np.int64)
    order[found] = order_u[at[found]]

    n_model = n_accepted = n_added = n_deleted = 0
    pre_flags = np.zeros(tj.size, dtype=bool)
    if item_m.size:
        has_pred = np.zeros(len(item_names), dtype=bool)
        has_pred[item_m] = True
        preds: dict[int, list[Record]] = {}
        for code, rec in zip(item_m.tolist(), model_recs, strict=True):
            preds.setdefault(code, []).append(rec)
        # the human records of each (item, annotator) on items with predictions: the only ones matched
        human: dict[int, list[Record]] = {}
        for k in np.flatnonzero(has_pred[item_r]).tolist():
            human.setdefault(int(pair_r[k]), []).append(human_recs[k])
        earliest: dict[int, datetime | None] = {}  # per item: its first prediction, None when one is undated
        for j in np.flatnonzero(has_pred[item_s[tj]]).tolist():
            s = subs[int(tj[j])]
            code = int(item_s[tj[j]])
            ps = preds[code]
            if code not in earliest:
                t_pred = [_ts(m.created_at) for m in ps]
                earliest[code] = None if any(t is None for t in t_pred) else min(t for t in t_pred if t is not None)
            t_sub, t_first = _ts(s.created_at), earliest[code]
            pre = t_sub is None or t_first is None or t_first <= t_sub
            if pre:
                hrecs = human.get(int(tpair[j]), [])
                acc = _match_unchanged(hrecs, ps)
                n_model += len(ps)
                n_accepted += acc
                n_added += len(hrecs) - acc
                n_deleted += len(ps) - acc
            pre_flags[j] = pre

    # Each record's (label set, class label or kind), numbered; then conflicts over them.
    ls_codes, _ = _intern(list(map(_LABEL_SET, human_recs)))
    nm_codes, nm_names = _intern(sig_names)
    n_nm = max(len(nm_names), 1)
    raw_sig = ls_codes * n_nm + nm_codes
    span = int(raw_sig.max(initial=0)) + 1
    if span <= 4 * raw_sig.size + 1024:  # the (label set, label) pairs present, numbered densely
        seen = np.zeros(span, dtype=bool)
        seen[raw_sig] = True
        sig_u, sig = np.flatnonzero(seen), (np.cumsum(seen) - 1)[raw_sig]
    else:
        sig_u, sig = np.unique(raw_sig, return_inverse=True)
    overlap, conflicts, hot = _conflicts(pair_r, sig.reshape(-1), sig_u % n_nm, nm_names,
                                         pair_s, item_s, n_ann=n_ann, n_items=len(item_names))
    return PilotColumns(item=items[nh:][tj], item_names=item_names, annotator=anns[nh:][tj],
                        annotator_names=ann_names, duration_s=sub_durations[tj], kind_names=kinds, counts=counts,
                        order=order, pre_annotated=pre_flags, human_passes=len(subs), model_regions=n_model,
                        accepted=n_accepted, added=n_added, deleted=n_deleted, items_with_overlap=overlap,
                        conflict_items=conflicts, hotspots=hot)


def pilot_from_columns(cols: PilotColumns, *, outlier_z: float = OUTLIER_Z) -> PilotStats:
    """:class:`PilotStats` from :class:`PilotColumns` (passes taken in the columns' row order).

    Raises:
        InvalidAnnotationError: no timed pass, or a bad ``outlier_z`` (as :func:`analyze_pilot`).
    """
    _check_outlier_z(outlier_z)
    n = int(cols.duration_s.size)
    if not n:
        raise InvalidAnnotationError(
            f"the pilot has {cols.human_passes} human submission(s) but none with a duration; expected duration_s "
            "on submissions (Label Studio: export JSON with lead_time; CVAT: job time) to measure time per item")
    kinds = list(cols.kind_names)
    n_kinds = len(kinds)
    counts, durations, pre_flags, ann_p = cols.counts, cols.duration_s, cols.pre_annotated, cols.annotator
    ann_names = cols.annotator_names
    n_labels = counts.sum(axis=1)
    # The kind most drawn (argmax over sorted kinds: ties go to the alphabetical first); "none" when empty.
    raw_top = np.where(n_labels > 0, counts.argmax(axis=1) if n_kinds else 0, n_kinds)
    all_tops = [*kinds, "none"]
    top_names = sorted({all_tops[c] for c in np.unique(raw_top).tolist()})
    recode = np.zeros(len(all_tops), dtype=np.int64)
    recode[[all_tops.index(k) for k in top_names]] = np.arange(len(top_names))
    tops = recode[raw_top]
    flags = np.zeros(n, dtype=bool)
    for _, idx in _groups(tops, len(top_names)):  # trim within each kind, never across kinds
        flags[idx] = outlier_mask(durations[idx], z=outlier_z)

    # Group statistics over positions in pass order (so every sum adds the same values in the same order).
    # A group holding every pass of a larger one (all passes, one annotator's) is that group: its
    # statistics are reused, not recomputed.
    overall = time_stats(durations, n_labels, outliers=flags)

    def stats(idx: npt.NDArray[np.int64], whole: TimeStats | None = None, whole_n: int = -1) -> TimeStats:
        if idx.size == n:
            return overall
        if idx.size == whole_n and whole is not None:
            return whole
        return time_stats(durations[idx], n_labels[idx], outliers=flags[idx])

    present = np.unique(ann_p)
    ann_sorted = sorted(ann_names[c] for c in present.tolist())
    arank = np.zeros(len(ann_names), dtype=np.int64)
    apos = {a: i for i, a in enumerate(ann_sorted)}
    arank[present] = [apos[ann_names[c]] for c in present.tolist()]
    a_rank = arank[ann_p]
    n_top = len(top_names)
    kind_stats = {top_names[g]: stats(idx) for g, idx in _groups(tops, n_top)}
    ann_stats: dict[str, TimeStats] = {}
    ann_n = np.bincount(a_rank, minlength=len(ann_sorted)).tolist()
    for g, idx in _groups(a_rank, len(ann_sorted)):
        ann_stats[ann_sorted[g]] = stats(idx)
    by_ann_kind: dict[str, dict[str, TimeStats]] = {}
    for g, idx in _groups(a_rank * n_top + tops, len(ann_sorted) * n_top):
        a = ann_sorted[g // n_top]
        by_ann_kind.setdefault(a, {})[top_names[g % n_top]] = stats(idx, ann_stats[a], ann_n[g // n_top])
    n_kept = int((~flags).sum())
    lab_tot = counts[~flags].sum(axis=0)
    labels_per_pass = {k: int(lab_tot[j]) / n_kept for j, k in enumerate(kinds) if lab_tot[j] > 0} if n_kept else {}

    effect = PreAnnotationEffect(with_predictions=stats(np.flatnonzero(pre_flags)),
                                 without_predictions=stats(np.flatnonzero(~pre_flags)),
                                 model_regions=cols.model_regions, accepted=cols.accepted, added=cols.added,
                                 deleted=cols.deleted)
    passes = PassTable(item=cols.item, item_names=cols.item_names, annotator=ann_p, annotator_names=ann_names,
                       duration_s=durations, kind_names=kinds, counts=counts, order=cols.order, top=tops,
                       top_names=top_names, pre_annotated=pre_flags, outlier=flags)
    overlap, conflicts, hot = cols.items_with_overlap, cols.conflict_items, dict(cols.hotspots)
    return PilotStats(
        passes=passes, untimed_passes=cols.human_passes - n, overall=overall,
        by_annotator=MappingProxyType(ann_stats),
        by_kind=MappingProxyType(kind_stats),
        by_annotator_kind=MappingProxyType({a: MappingProxyType(m) for a, m in by_ann_kind.items()}),
        seconds_per_label_by_kind=MappingProxyType({k: v.seconds_per_label for k, v in kind_stats.items()
                                                    if k != "none"}),
        labels_per_pass=MappingProxyType(labels_per_pass), items_with_overlap=overlap,
        conflict_items=conflicts, hotspots=MappingProxyType(hot), pre_annotation=effect)


def _conflicts(pair_r: npt.NDArray[np.int64], sig_r: npt.NDArray[np.int64], sig_name: npt.NDArray[np.int64],
               names: Sequence[str], pair_s: npt.NDArray[np.int64], item_s: npt.NDArray[np.int64], *,
               n_ann: int, n_items: int) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """Items with >= 2 passes, those whose passes' (label set, label) counts differ, per-label hot spots.

    ``pair_r`` / ``sig_r`` code each human record's (item, annotator) (``item * n_ann +
    annotator``) and its (label set, label); ``sig_name[sig]`` is the label's index into
    ``names``. ``pair_s`` / ``item_s`` code each pass (human, not cancelled). Per item and
    (label set, label) the passes agree when every pass has the same number of such records
    (0 included); an item conflicts when some (label set, label) disagrees, and each label's
    hot spot counts ``(disagreeing, all)`` (item, label set) pairs on items with overlap.
    """
    per_item = np.bincount(item_s, minlength=n_items)
    overlap = int((per_item >= 2).sum())
    if not pair_r.size:
        return overlap, 0, {}
    n_sig = int(sig_name.size)
    sub_pairs, mult = np.unique(pair_s, return_counts=True)
    # (pass, label set and label) with its record count: only passes, only items with overlap
    cell, n_rec = np.unique(pair_r * n_sig + sig_r, return_counts=True)
    e_pair, e_sig = cell // n_sig, cell % n_sig
    at = np.minimum(np.searchsorted(sub_pairs, e_pair), max(sub_pairs.size - 1, 0))
    keep = sub_pairs[at] == e_pair if sub_pairs.size else np.zeros(e_pair.size, dtype=bool)
    e_item = e_pair // n_ann
    keep &= per_item[e_item] >= 2
    e_item, e_sig, n_rec, e_mult = e_item[keep], e_sig[keep], n_rec[keep], mult[at[keep]]
    if not e_item.size:
        return overlap, 0, {}
    key = e_item * n_sig + e_sig
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    passes_with = np.add.reduceat(e_mult[order], starts)  # passes of the item that have such records
    low = np.minimum.reduceat(n_rec[order], starts)
    high = np.maximum.reduceat(n_rec[order], starts)
    g_item = e_item[order][starts]
    g_name = sig_name[e_sig[order][starts]]
    disagree = (passes_with < per_item[g_item]) | (low != high)
    n_all = np.bincount(g_name, minlength=len(names))
    n_bad = np.bincount(g_name[disagree], minlength=len(names))
    hot = {names[j]: (int(n_bad[j]), int(n_all[j])) for j in np.flatnonzero(n_all).tolist()}
    return overlap, int(np.unique(g_item[disagree]).size), dict(sorted(hot.items()))
