"""What a check finds, what a run reports, and what a check function receives.

A check is a pure function ``fn(ctx, cfg) -> Iterable[Finding]``: ``ctx`` is a
:class:`CheckContext` over one :class:`~accord.core.model.Dataset` (with
columnar views gathered once and shared between checks), ``cfg`` the check's
:class:`CheckConfig` (severity and thresholds, from defaults and the rules file).
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias, TypeVar, cast, get_args

import numpy as np
import numpy.typing as npt

from ..model import SOURCES, Box, Classification, Dataset, Item, MultiLabel, Record, Submission, value_label
from ..schema import Schema

Severity: TypeAlias = Literal["info", "minor", "major", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)

# Taxonomy category names (see accord.core.qa.taxonomy); findings carry the name only.
POOR_LOCALIZATION: Final = "poor_localization"
EXTRA_OBJECT: Final = "extra_object"
WRONG_CLASS: Final = "wrong_class"
WRONG_ATTRIBUTE: Final = "wrong_attribute"
BOUNDARY_ERROR: Final = "boundary_error"
TRANSCRIPTION_ERROR: Final = "transcription_error"
MISSED_FRAMES: Final = "missed_frames"
TRACK_IDENTITY_SWITCH: Final = "track_identity_switch"
SCHEMA_VIOLATION: Final = "schema_violation"
SUSPICIOUS_BEHAVIOUR: Final = "suspicious_behaviour"
CATEGORIES: tuple[str, ...] = (
    POOR_LOCALIZATION, EXTRA_OBJECT, WRONG_CLASS, WRONG_ATTRIBUTE, BOUNDARY_ERROR,
    TRANSCRIPTION_ERROR, MISSED_FRAMES, TRACK_IDENTITY_SWITCH, SCHEMA_VIOLATION,
    SUSPICIOUS_BEHAVIOUR,
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})
FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
T = TypeVar("T")


def severity_rank(severity: str) -> int:
    """0 for ``info`` ... 3 for ``critical``."""
    return SEVERITIES.index(severity)


def _json_safe(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    return v


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One rule violation.

    Attributes:
        check: The check's registered name (``geometry.tiny``).
        item_id: The item it was found in (``None`` for annotator-level findings).
        region_id: The region involved, when the finding is about one region.
        annotator_id: Whose work it is (``None`` when not attributable).
        label_set / label: Where in the schema.
        severity: ``info``, ``minor``, ``major`` or ``critical`` (from the check's config).
        category: The error-taxonomy category name (one of :data:`CATEGORIES` for
            the built-in checks; custom checks may name their own).
        evidence: The numbers behind the verdict (``area``, ``iou``, ``z``...).
        message: One sentence for people.
    """

    check: str
    item_id: str | None
    annotator_id: str | None
    severity: Severity
    category: str
    message: str
    region_id: str | None = None
    label_set: str | None = None
    label: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become ``None``)."""
        return {
            "check": self.check, "item_id": self.item_id, "region_id": self.region_id,
            "annotator_id": self.annotator_id, "label_set": self.label_set, "label": self.label,
            "severity": self.severity, "category": self.category, "source": "automated",
            "evidence": _json_safe(self.evidence), "message": self.message,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    """Every finding of one run, with counts.

    Attributes:
        findings: Sorted by severity (worst first), then check, item and region.
        checks_run: Names of the checks that ran (enabled and applicable).
        counts: ``{check: {severity: n}}`` for every check run (zeros included).
        by_severity: ``{severity: n}`` over all findings.
        n_records: Records in the dataset checked.
        durations_s: Wall time of each check run, in seconds (the first check to
            use a shared view, such as the columnar boxes, pays for building it).
    """

    findings: tuple[Finding, ...]
    checks_run: tuple[str, ...]
    counts: Mapping[str, Mapping[str, int]]
    by_severity: Mapping[str, int]
    n_records: int
    durations_s: Mapping[str, float] = field(default_factory=lambda: _EMPTY)

    def at_least(self, severity: Severity) -> tuple[Finding, ...]:
        """Findings at or above ``severity``."""
        rank = severity_rank(severity)
        return tuple(f for f in self.findings if severity_rank(f.severity) >= rank)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``summary`` (counts) and ``findings``."""
        return {
            "n_records": self.n_records,
            "checks_run": list(self.checks_run),
            "n_findings": len(self.findings),
            "by_severity": dict(self.by_severity),
            "by_check": {c: dict(v) for c, v in self.counts.items()},
            "durations_s": {c: round(v, 6) for c, v in self.durations_s.items()},
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckConfig:
    """A check's effective settings: defaults overlaid with the rules file."""

    name: str
    enabled: bool = True
    severity: Severity = "minor"
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]


CheckFn: TypeAlias = Callable[["CheckContext", CheckConfig], Iterable[Finding]]


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxColumns:
    """All boxes of a dataset as parallel arrays (a columnar view, gathered once).

    ``xyxy`` holds the *unrotated* corners; ``rotation`` is in degrees about the centre.
    ``item``, ``group`` and ``label`` are integer codes into ``item_ids``,
    ``groups`` (``(item_id, annotator_id, source, label_set)``) and ``labels``.
    ``width``/``height`` are the item's image size (NaN when unknown).
    """

    records: tuple[Record, ...]
    xyxy: FloatArray
    rotation: FloatArray
    item: IntArray
    group: IntArray
    label: IntArray
    image_width: FloatArray
    image_height: FloatArray
    item_ids: tuple[str, ...]
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordColumns:
    """Every record's ids as integer codes, in dataset order (a columnar view, gathered once).

    ``item``, ``annotator``, ``source``, ``label_set``, ``kind`` and ``label`` are codes into
    ``item_ids``, ``annotator_ids``, ``sources``, ``label_sets``, ``kinds`` and ``labels`` (tables
    in order of first appearance). ``label`` is the value's class label
    (:func:`~accord.core.model.value_label`), ``-1`` when it has none. ``multilabel`` marks
    :class:`~accord.core.model.MultiLabel` values (their ``label`` is the joined labels).
    """

    item: IntArray
    annotator: IntArray
    source: IntArray
    label_set: IntArray
    kind: IntArray
    label: IntArray
    multilabel: npt.NDArray[np.bool_]
    item_ids: tuple[str, ...]
    annotator_ids: tuple[str, ...]
    sources: tuple[str, ...]
    label_sets: tuple[str, ...]
    kinds: tuple[str, ...]
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.item)

    def code(self, table: str, key: str) -> int:
        """The code of ``key`` in the table named ``table`` (``"sources"``...), ``-1`` when absent."""
        names: tuple[str, ...] = getattr(self, table)
        return names.index(key) if key in names else -1


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmissionColumns:
    """Every submission as parallel arrays, in dataset order.

    ``item`` and ``annotator`` are codes into the :class:`RecordColumns` tables, ``-1`` for an id
    no record has. ``source`` is a code into ``sources`` (the records' table, then any other
    source). ``duration_s`` is NaN where the submission has none.
    """

    item: IntArray
    annotator: IntArray
    source: IntArray
    cancelled: npt.NDArray[np.bool_]
    duration_s: FloatArray
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.item)


class CheckContext:
    """The dataset under check, with lazily built views shared by all checks."""

    __slots__ = ("_boxes", "_by_kind", "_columns", "_created", "_submissions", "dataset")

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._by_kind: dict[str, list[Record]] = {}
        self._boxes: BoxColumns | None = None
        self._columns: RecordColumns | None = None
        self._submissions: SubmissionColumns | None = None
        self._created: list[str | None] | None = None

    @classmethod
    def from_columns(cls, schema: Schema, columns: RecordColumns, created_at: list[str | None]) -> CheckContext:
        """A context over record columns merged from partitions, for the checks that read only
        :meth:`columns`, :meth:`created_at` and the schema (no records, items or submissions)."""
        ctx = cls(Dataset(records=(), schema=schema))
        ctx._columns = columns
        ctx._created = created_at
        return ctx

    def records(self, kind: str) -> list[Record]:
        """Records of one value kind, in dataset order."""
        got = self._by_kind.get(kind)
        if got is None:
            cols = self.columns()
            code = cols.code("kinds", kind)
            recs = self.dataset.records
            if code < 0:
                got = []
            elif len(cols.kinds) == 1:
                got = list(recs)
            else:
                got = take(recs, np.flatnonzero(cols.kind == code))
            self._by_kind[kind] = got
        return got

    def kinds(self) -> frozenset[str]:
        """Value kinds present in the dataset."""
        return frozenset(self.columns().kinds)

    def item(self, item_id: str) -> Item | None:
        return self.dataset.items.get(item_id)

    def boxes(self) -> BoxColumns:
        """The columnar view of every box record (built on first use)."""
        if self._boxes is None:
            self._boxes = _gather_boxes(self.dataset, self.records("box"))
        return self._boxes

    def columns(self) -> RecordColumns:
        """The columnar view of every record's ids, kind and label (built on first use)."""
        if self._columns is None:
            self._columns = _gather_records(self.dataset.records)
        return self._columns

    def submission_columns(self) -> SubmissionColumns:
        """The columnar view of every submission (built on first use)."""
        if self._submissions is None:
            self._submissions = _gather_submissions(self.dataset.submissions, self.columns())
        return self._submissions

    def created_at(self) -> list[str | None]:
        """Every record's ``created_at``, in dataset order (gathered on first use)."""
        if self._created is None:
            self._created = list(map(attrgetter("created_at"), self.dataset.records))
        return self._created


def take(seq: Sequence[T], idx: IntArray) -> list[T]:
    """``[seq[i] for i in idx]``, in one C call."""
    if idx.size == 0:
        return []
    if idx.size == 1:
        return [seq[int(idx[0])]]
    return list(itemgetter(*idx.tolist())(seq))


def _codes(keys: list[Any]) -> tuple[IntArray, dict[Any, int]]:
    """Integer codes for ``keys`` in order of first appearance, and the key -> code table."""
    table: dict[Any, int] = {}
    get = table.setdefault
    out = np.fromiter((get(k, len(table)) for k in keys), dtype=np.int64, count=len(keys))
    return out, table


def _ints(it: Iterable[int]) -> IntArray:
    """An int64 array of the ints ``it`` yields (through :class:`array.array`, faster than ``np.fromiter``)."""
    return np.frombuffer(array("q", it), dtype=np.int64).copy()


def _code_column(keys: Iterable[Any], known: tuple[Any, ...] = ()) -> tuple[IntArray, tuple[Any, ...]]:
    """Integer codes of ``keys``, and every key by code.

    Keys in ``known`` keep their positions as codes; new keys get the next codes in order of first
    appearance. One pass in C: ``dict.setdefault`` keeps each new key's first position, which a
    lookup table then turns into its code.
    """
    table = dict(zip(known, range(len(known)), strict=True))
    base = len(known)
    raw = _ints(map(table.setdefault, keys, itertools.count(base)))
    out = tuple(table)
    if len(out) == base:
        return raw, out
    lut = np.empty(base + raw.size, dtype=np.int64)
    lut[:base] = np.arange(base)
    lut[_ints(itertools.islice(table.values(), base, None))] = np.arange(base, len(out))
    codes: IntArray = lut[raw]
    return codes, out


def _gather_records(recs: tuple[Record, ...]) -> RecordColumns:
    n = len(recs)
    item, item_ids = _code_column(map(attrgetter("item_id"), recs))
    annotator, annotator_ids = _code_column(map(attrgetter("annotator_id"), recs))
    source, sources = _code_column(map(attrgetter("source"), recs))
    label_set, label_sets = _code_column(map(attrgetter("label_set"), recs))
    types: tuple[Any, ...] = tuple(dict.fromkeys(map(type, map(attrgetter("value"), recs))))
    type_code = (_code_column(map(type, map(attrgetter("value"), recs)), known=types)[0] if len(types) > 1
                 else np.zeros(n, dtype=np.int64))
    kinds = tuple(dict.fromkeys(t.kind for t in types))
    kind = np.array([kinds.index(t.kind) for t in types], dtype=np.int64)[type_code]
    multilabel = np.zeros(n, dtype=np.bool_)
    # One label per record in dataset order (whatever the mix of value types), so codes keep first appearance.
    if types == (Classification,):
        label, labels = _code_column(map(attrgetter("value.label"), recs), known=(None,))
    else:
        values = list(map(attrgetter("value"), recs))
        texts = np.empty(n, dtype=object)
        for code, t in enumerate(types):
            idx = np.flatnonzero(type_code == code)
            texts[idx] = list(map(attrgetter("label") if t is Classification else value_label, take(values, idx)))
            multilabel[idx] = t is MultiLabel
        label, labels = _code_column(texts.tolist(), known=(None,))
    return RecordColumns(item=item, annotator=annotator, source=source, label_set=label_set, kind=kind,
                         label=label - 1, multilabel=multilabel, item_ids=item_ids, annotator_ids=annotator_ids,
                         sources=sources, label_sets=label_sets, kinds=kinds, labels=labels[1:])


def _gather_submissions(subs: tuple[Submission, ...], cols: RecordColumns) -> SubmissionColumns:
    def codes(name: str, ids: tuple[str, ...]) -> IntArray:
        table = dict(zip(ids, itertools.count()))
        return _ints(map(table.get, map(attrgetter(name), subs), itertools.repeat(-1)))

    sources = tuple(dict.fromkeys((*cols.sources, *SOURCES)))
    cancelled = np.frombuffer(bytes(map(attrgetter("was_cancelled"), subs)), dtype=np.bool_).copy()
    duration_s = np.array(list(map(attrgetter("duration_s"), subs)), dtype=np.float64).reshape(-1)
    return SubmissionColumns(item=codes("item_id", cols.item_ids), annotator=codes("annotator_id", cols.annotator_ids),
                             source=codes("source", sources), cancelled=cancelled, duration_s=duration_s,
                             sources=sources)


def unique_codes(key: IntArray) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """``np.unique(key, return_index=True, return_inverse=True, return_counts=True)``, without a sort when it can.

    Returns the distinct values (ascending), the position of each one's first appearance, each
    position's index into the distinct values, and how often each appears. Non-negative keys below
    ``4 * len(key) + 65536`` (codes, combined codes) are counted in a table instead of sorted.
    """
    n = key.size
    if n == 0 or key.min() < 0 or key.max() >= 4 * n + 65536:
        uniq, first, inv, count = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        return uniq, first, inv.reshape(-1), count
    size = int(key.max()) + 1
    table = np.bincount(key, minlength=size)
    uniq = np.flatnonzero(table)
    first = np.full(size, n, dtype=np.int64)
    np.minimum.at(first, key, np.arange(n))
    lut = np.zeros(size, dtype=np.int64)
    lut[uniq] = np.arange(uniq.size)
    return uniq, first[uniq], lut[key], table[uniq]


def groups_in_order(key: IntArray) -> list[IntArray]:
    """The positions of each distinct value of ``key``: groups in order of first appearance, positions ascending."""
    if key.size == 0:
        return []
    uniq, first, inv, count = unique_codes(key)
    # A stable sort by group; radix sort (numpy's stable sort of 16-bit ints) when there are few groups.
    order = np.argsort(inv.astype(np.uint16) if uniq.size <= 1 << 16 else inv, kind="stable")
    starts = np.cumsum(count) - count
    return [order[starts[g]:starts[g] + count[g]] for g in np.argsort(first, kind="stable").tolist()]


def combine(*codes: tuple[IntArray, int]) -> tuple[IntArray, int]:
    """One code per distinct tuple of codes (``(codes, n_codes)`` pairs), and the number of codes.

    The combined code is the mixed-radix number of the codes while that fits comfortably in
    64 bits, and is renumbered (sorted order) when it would not; equal tuples always get equal codes.
    """
    out, size = codes[0]
    out = out.astype(np.int64, copy=False)
    for c, n in codes[1:]:
        if size * max(n, 1) >= 2**62:
            uniq, inv = np.unique(out, return_inverse=True)
            out, size = inv.astype(np.int64).reshape(-1), max(len(uniq), 1)
        out = out * max(n, 1) + c
        size = size * max(n, 1)
    return out, size


def _gather_boxes(dataset: Dataset, recs: list[Record]) -> BoxColumns:
    n = len(recs)
    vals = [cast(Box, r.value) for r in recs]
    raw = np.empty((n, 5), dtype=np.float64)
    for col, name in enumerate(("x", "y", "width", "height", "rotation")):
        raw[:, col] = np.fromiter(map(attrgetter(name), vals), dtype=np.float64, count=n)
    item, item_codes = _codes([r.item_id for r in recs])
    group, _ = _codes([(r.item_id, r.annotator_id, r.source, r.label_set) for r in recs])
    label, label_codes = _codes([v.label for v in vals])
    xyxy = np.empty((n, 4), dtype=np.float64)
    xyxy[:, 0] = raw[:, 0]
    xyxy[:, 1] = raw[:, 1]
    xyxy[:, 2] = raw[:, 0] + raw[:, 2]
    xyxy[:, 3] = raw[:, 1] + raw[:, 3]
    item_ids = tuple(item_codes)
    iw = np.array([_size(dataset.items.get(i), "width") for i in item_ids], dtype=np.float64)
    ih = np.array([_size(dataset.items.get(i), "height") for i in item_ids], dtype=np.float64)
    return BoxColumns(records=tuple(recs), xyxy=xyxy, rotation=raw[:, 4].copy(), item=item, group=group,
                      label=label, image_width=iw[item] if n else iw, image_height=ih[item] if n else ih,
                      item_ids=item_ids, labels=tuple(label_codes))


def _size(item: Item | None, name: str) -> float:
    v = getattr(item, name, None) if item is not None else None
    return float(v) if v is not None else math.nan


def finding(check: str, cfg: CheckConfig, record: Record | None, *, category: str, message: str,
            item_id: str | None = None, annotator_id: str | None = None, label_set: str | None = None,
            label: str | None = None, evidence: Mapping[str, Any] | None = None) -> Finding:
    """Build a :class:`Finding` about ``record`` (or about the ids given) with ``cfg``'s severity."""
    if record is not None:
        return Finding(check=check, item_id=record.item_id, region_id=record.region_id,
                       annotator_id=record.annotator_id, label_set=record.label_set,
                       label=label if label is not None else record.label, severity=cfg.severity,
                       category=category, evidence=evidence or _EMPTY, message=message)
    return Finding(check=check, item_id=item_id, annotator_id=annotator_id, label_set=label_set, label=label,
                   severity=cfg.severity, category=category, evidence=evidence or _EMPTY, message=message)


#: 1 / Phi^-1(3/4): makes the MAD estimate the standard deviation of normal data.
MAD_TO_SD: Final = 1.482602218505602


def robust_z(values: FloatArray) -> FloatArray:
    """``(x - median) / (1.4826 * MAD)``; zeros when the MAD is 0 and x equals the median, ±inf otherwise.

    The consistency constant :data:`MAD_TO_SD` (1.4826) makes the MAD estimate the standard deviation
    of normal data (Rousseeuw & Croux 1993).
    """
    med = float(np.median(values))
    mad = MAD_TO_SD * float(np.median(np.abs(values - med)))
    dev = values - med
    if mad > 0:
        out: FloatArray = dev / mad
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(dev == 0, 0.0, np.sign(dev) * np.inf)
    return out
