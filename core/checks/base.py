"""What a check finds, what a run reports, and what a check function receives.

A check is a pure function ``fn(ctx, cfg) -> Iterable[Finding]``: ``ctx`` is a
:class:`CheckContext` over one :class:`~accord.core.model.Dataset` (with
columnar views gathered once and shared between checks), ``cfg`` the check's
:class:`CheckConfig` (severity and thresholds, from defaults and the rules file).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias, cast, get_args

import numpy as np
import numpy.typing as npt

from ..model import Box, Dataset, Item, Record

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


class CheckContext:
    """The dataset under check, with lazily built views shared by all checks."""

    __slots__ = ("_boxes", "_by_kind", "dataset")

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._by_kind: dict[str, list[Record]] | None = None
        self._boxes: BoxColumns | None = None

    def records(self, kind: str) -> list[Record]:
        """Records of one value kind, in dataset order."""
        if self._by_kind is None:
            by: dict[str, list[Record]] = {}
            for r in self.dataset.records:
                by.setdefault(r.value.kind, []).append(r)
            self._by_kind = by
        return self._by_kind.get(kind, [])

    def kinds(self) -> frozenset[str]:
        """Value kinds present in the dataset."""
        self.records("box")
        return frozenset(self._by_kind or ())

    def item(self, item_id: str) -> Item | None:
        return self.dataset.items.get(item_id)

    def boxes(self) -> BoxColumns:
        """The columnar view of every box record (built on first use)."""
        if self._boxes is None:
            self._boxes = _gather_boxes(self.dataset, self.records("box"))
        return self._boxes


def _codes(keys: list[Any]) -> tuple[IntArray, dict[Any, int]]:
    """Integer codes for ``keys`` in order of first appearance, and the key -> code table."""
    table: dict[Any, int] = {}
    get = table.setdefault
    out = np.fromiter((get(k, len(table)) for k in keys), dtype=np.int64, count=len(keys))
    return out, table


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
