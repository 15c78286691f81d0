"""The tool-neutral annotation model: one record per judgment.

Every tool's export is converted into this model at the edge, and every metric
in :mod:`accord.core` reads only it.

Conventions (one for all of core):

* **Image coordinates are pixels**, origin at the top-left corner, x to the
  right, y down. Converters take image sizes explicitly (Label Studio stores
  percentages). :class:`Item` carries ``width``/``height`` when known.
* A :class:`Box` is its *unrotated* top-left corner ``(x, y)`` and size, plus
  ``rotation`` in degrees, clockwise, **about the box centre** (CVAT's
  convention; Label Studio rotates about the top-left corner and its converter
  translates).
* Text spans are character offsets ``[start, end)`` into the item's text.
* Audio and video segments are ``[start, end]`` in seconds (``unit="s"``) or in
  frames (``unit="frame"``).
* Cuboids are centre ``(x, y, z)``, size ``(length, width, height)`` along the
  box's own x/y/z axes, and ``yaw`` in radians about z.

A :class:`Record` is one judgment: one annotator's class for an item, or one
region (box, span, segment...) an annotator drew. A :class:`Submission` is one
annotator's completed pass over an item, so that "looked and found nothing" is
distinguishable from "never looked". A :class:`Dataset` holds the records, the
submissions, the items and the label :class:`~accord.core.schema.Schema`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar, Literal, TypeAlias, get_args

import numpy as np
import numpy.typing as npt

from .errors import InvalidAnnotationError
from .schema import Schema

Source: TypeAlias = Literal["human", "model", "reference", "consensus"]
SOURCES: tuple[str, ...] = get_args(Source)
AttributeValue: TypeAlias = str | float | int | bool
Unit: TypeAlias = Literal["s", "frame"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _finite(name: str, *values: float) -> None:
    for v in values:
        if not math.isfinite(v):
            raise InvalidAnnotationError(f"{name} must be finite numbers, got {values!r}")


def _optional_number(name: str, v: object, *, minimum: float | None = None) -> None:
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or (
            minimum is not None and v < minimum):
        shown = repr(v) if isinstance(v, int | float | bool) else type(v).__name__
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise InvalidAnnotationError(f"{name} must be a finite number{bound} or absent, got {shown}")


def _optional_text(*values: object) -> None:
    """Ids and ISO 8601 timestamps are strings (or absent)."""
    for v in values:
        if v is not None and not isinstance(v, str):
            raise InvalidAnnotationError(f"ids and timestamps must be strings, got {type(v).__name__} {str(v)[:40]!r}")


def _frozen_mapping(m: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not m:
        return _EMPTY
    return m if isinstance(m, MappingProxyType) else MappingProxyType(dict(m))


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """One class for the whole item (single-choice, sentiment, intent, taxonomy leaf).

    ``path`` holds the full taxonomy path when the label set is hierarchical;
    ``label`` is then its last element.
    """

    kind: ClassVar[str] = "classification"
    label: str
    path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or self.label == "":
            raise InvalidAnnotationError(
                f"a classification needs a non-empty string label, got {self.label!r}"
            )
        if self.path and self.path[-1] != self.label:
            raise InvalidAnnotationError(
                f"taxonomy path {self.path!r} must end with the label {self.label!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiLabel:
    """Several classes for the whole item (multi-label classification); kept sorted."""

    kind: ClassVar[str] = "multilabel"
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if any(not isinstance(lb, str) or lb == "" for lb in self.labels):
            raise InvalidAnnotationError(f"multi-label labels must be non-empty strings, got {self.labels!r}")
        object.__setattr__(self, "labels", tuple(sorted(set(self.labels))))


@dataclass(frozen=True, slots=True, kw_only=True)
class Numeric:
    """A rating, ordinal grade, or number (its scale lives in the label set)."""

    kind: ClassVar[str] = "numeric"
    value: float

    def __post_init__(self) -> None:
        _finite("a numeric value", self.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextValue:
    """Free text: a transcript, an OCR reading, a comment."""

    kind: ClassVar[str] = "text"
    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidAnnotationError(f"a text value needs a string, got {self.text!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Box:
    """An axis-aligned or rotated bounding box in pixels (see module conventions)."""

    kind: ClassVar[str] = "box"
    label: str
    x: float
    y: float
    width: float
    height: float
    rotation: float = 0.0

    def __post_init__(self) -> None:
        _finite("box coordinates", self.x, self.y, self.width, self.height, self.rotation)
        if self.width < 0 or self.height < 0:
            raise InvalidAnnotationError(
                f"a box needs width >= 0 and height >= 0, got width={self.width!r} "
                f"height={self.height!r}; swap the corners if they are reversed"
            )

    @property
    def area(self) -> float:
        return self.width * self.height

    def xyxy(self) -> tuple[float, float, float, float]:
        """Corners of the unrotated box: (x1, y1, x2, y2)."""
        return (self.x, self.y, self.x + self.width, self.y + self.height)

    def corners(self) -> npt.NDArray[np.float64]:
        """The four corners (4, 2), rotation applied about the centre, clockwise."""
        cx, cy = self.x + self.width / 2, self.y + self.height / 2
        hw, hh = self.width / 2, self.height / 2
        local = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
        t = math.radians(self.rotation)
        c, s = math.cos(t), math.sin(t)
        # y points down, so a positive (clockwise on screen) angle is the usual matrix.
        rot = np.array([[c, -s], [s, c]])
        out: npt.NDArray[np.float64] = local @ rot.T + np.array([cx, cy])
        return out


def _points(name: str, pts: Iterable[Iterable[float]], minimum: int) -> tuple[tuple[float, float], ...]:
    out = tuple((float(p[0]), float(p[1])) for p in (tuple(q) for q in pts))
    if len(out) < minimum:
        raise InvalidAnnotationError(f"a {name} needs at least {minimum} points, got {len(out)}")
    for p in out:
        _finite(f"{name} points", *p)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Polygon:
    """A closed polygon in pixels: ``points`` is ((x, y), ...), at least 3."""

    kind: ClassVar[str] = "polygon"
    label: str
    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _points("polygon", self.points, 3))


@dataclass(frozen=True, slots=True, kw_only=True)
class Polyline:
    """An open polyline in pixels, at least 2 points."""

    kind: ClassVar[str] = "polyline"
    label: str
    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _points("polyline", self.points, 2))


@dataclass(frozen=True, slots=True, kw_only=True)
class Mask:
    """A binary mask as COCO-style uncompressed RLE.

    ``counts`` alternate runs of 0 and 1 (starting with 0) over the image in
    column-major (Fortran) order; ``height``/``width`` give the image size.
    Use :func:`accord.core.rle.encode` / :func:`accord.core.rle.decode`.
    """

    kind: ClassVar[str] = "mask"
    label: str
    height: int
    width: int
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.height < 0 or self.width < 0:
            raise InvalidAnnotationError(f"mask size must be >= 0, got {self.height}x{self.width}")
        counts = tuple(int(c) for c in self.counts)
        if any(c < 0 for c in counts):
            raise InvalidAnnotationError("mask RLE counts must be >= 0")
        if sum(counts) != self.height * self.width:
            raise InvalidAnnotationError(
                f"mask RLE counts sum to {sum(counts)}, expected height*width = "
                f"{self.height * self.width}; the RLE does not match the mask size"
            )
        object.__setattr__(self, "counts", counts)

    @property
    def area(self) -> int:
        return int(sum(self.counts[1::2]))


@dataclass(frozen=True, slots=True, kw_only=True)
class Keypoint:
    """One keypoint: ``visibility`` is COCO's 0 (not labeled), 1 (occluded), 2 (visible)."""

    name: str
    x: float
    y: float
    visibility: int = 2

    def __post_init__(self) -> None:
        _finite("keypoint coordinates", self.x, self.y)
        if self.visibility not in (0, 1, 2):
            raise InvalidAnnotationError(
                f"keypoint visibility must be 0, 1 or 2 (COCO), got {self.visibility!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Keypoints:
    """A skeleton (or a single point): named keypoints with visibility, in pixels."""

    kind: ClassVar[str] = "keypoints"
    label: str
    points: tuple[Keypoint, ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise InvalidAnnotationError("a keypoints value needs at least one point")
        if not all(isinstance(p, Keypoint) and isinstance(p.name, str) for p in self.points):
            raise InvalidAnnotationError("keypoints must be Keypoint values with string names")
        names = [p.name for p in self.points]
        if len(set(names)) != len(names):
            raise InvalidAnnotationError(f"keypoint names must be unique within a skeleton, got {names!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A labeled character span ``[start, end)`` of the item's text (NER)."""

    kind: ClassVar[str] = "span"
    label: str
    start: int
    end: int
    text: str | None = None

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise InvalidAnnotationError(
                f"a span needs 0 <= start <= end, got start={self.start!r} end={self.end!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """A time (or frame) segment with an optional label, speaker and transcript."""

    kind: ClassVar[str] = "segment"
    start: float
    end: float
    label: str | None = None
    speaker: str | None = None
    text: str | None = None
    unit: Unit = "s"

    def __post_init__(self) -> None:
        _finite("segment bounds", self.start, self.end)
        if self.end < self.start:
            raise InvalidAnnotationError(
                f"a segment needs start <= end, got start={self.start!r} end={self.end!r}"
            )
        if self.unit not in ("s", "frame"):
            raise InvalidAnnotationError(f"segment unit must be 's' or 'frame', got {self.unit!r}")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackFrame:
    """One frame of a track: a box, and CVAT-style ``outside``/``keyframe`` flags."""

    frame: int
    x: float
    y: float
    width: float
    height: float
    rotation: float = 0.0
    outside: bool = False
    keyframe: bool = True

    def __post_init__(self) -> None:
        _finite("track box coordinates", self.x, self.y, self.width, self.height, self.rotation)
        if self.frame < 0:
            raise InvalidAnnotationError(f"track frame numbers must be >= 0, got {self.frame!r}")
        if self.width < 0 or self.height < 0:
            raise InvalidAnnotationError(
                f"a track box needs width, height >= 0 at frame {self.frame}, "
                f"got {self.width!r}x{self.height!r}"
            )

    def box(self, label: str) -> Box:
        return Box(label=label, x=self.x, y=self.y, width=self.width, height=self.height,
                   rotation=self.rotation)


@dataclass(frozen=True, slots=True, kw_only=True)
class Track:
    """A video object track: per-frame boxes sharing one ``track_id``; sorted by frame."""

    kind: ClassVar[str] = "track"
    label: str
    track_id: str
    frames: tuple[TrackFrame, ...]

    def __post_init__(self) -> None:
        frames = tuple(sorted(self.frames, key=lambda f: f.frame))
        nums = [f.frame for f in frames]
        if len(set(nums)) != len(nums):
            raise InvalidAnnotationError(f"track {self.track_id!r} lists a frame twice")
        object.__setattr__(self, "frames", frames)

    def visible_frames(self) -> dict[int, TrackFrame]:
        """Frames where the object is inside the view (``outside`` is false)."""
        return {f.frame: f for f in self.frames if not f.outside}


@dataclass(frozen=True, slots=True, kw_only=True)
class Cuboid:
    """A 3D box in a point cloud: centre, size along its own axes, yaw (radians, about z)."""

    kind: ClassVar[str] = "cuboid"
    label: str
    x: float
    y: float
    z: float
    length: float
    width: float
    height: float
    yaw: float = 0.0

    def __post_init__(self) -> None:
        _finite("cuboid parameters", self.x, self.y, self.z, self.length, self.width, self.height, self.yaw)
        if min(self.length, self.width, self.height) < 0:
            raise InvalidAnnotationError(
                f"cuboid sizes must be >= 0, got {self.length!r}, {self.width!r}, {self.height!r}"
            )

    @property
    def volume(self) -> float:
        return self.length * self.width * self.height


Value: TypeAlias = (
    Classification | MultiLabel | Numeric | TextValue | Box | Polygon | Polyline | Mask
    | Keypoints | Span | Segment | Track | Cuboid
)
VALUE_TYPES: Mapping[str, type[Any]] = MappingProxyType(
    {t.kind: t for t in (Classification, MultiLabel, Numeric, TextValue, Box, Polygon, Polyline,
                         Mask, Keypoints, Span, Segment, Track, Cuboid)}
)
#: Value kinds that are regions (many per item and annotator, matched one-to-one).
REGION_KINDS: frozenset[str] = frozenset(
    {"box", "polygon", "polyline", "mask", "keypoints", "span", "segment", "track", "cuboid"}
)
#: Region bookkeeping tools keep beside attributes (CVAT's ``source``, ``z_order``,
#: ``group_id``): carried for round trips, never compared or checked as a judgment.
BOOKKEEPING_ATTRIBUTES: frozenset[str] = frozenset({"source", "z_order", "group_id"})
#: A tool's own shape fields (CVAT's ``occluded``, ``outside``, ``keyframe``, ``rotation`` and the
#: bookkeeping above): carried beside attributes but never a label's declared attribute, so
#: never "undeclared". (``occluded`` is still a judgment that attribute agreement compares.)
SHAPE_FIELDS: frozenset[str] = BOOKKEEPING_ATTRIBUTES | {"occluded", "outside", "keyframe", "rotation"}


def value_label(value: Value) -> str | None:
    """The class label a value carries, if any (``None`` for numbers and free text)."""
    if isinstance(value, MultiLabel):
        return "|".join(value.labels)
    return getattr(value, "label", None)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One judgment: a value given by one annotator to one item in one label set.

    Attributes:
        item_id: The item (task, image, frame sequence, document, audio file).
        annotator_id: Who (or which model) gave it; emails for Label Studio users.
        label_set: The label set ("control") it belongs to, a key of the schema.
        value: The value (a class, a box, a span, ...).
        source: ``human``, ``model`` (prediction), ``reference`` (gold) or ``consensus``.
        region_id: The region's id in its tool, when the value is a region.
        annotation_id: The id of the submission (annotation) it was part of.
        attributes: Per-region attributes (CVAT attributes, LS per-region choices).
        score: A model's confidence for the value, when given.
        created_at / updated_at: ISO 8601 timestamps, when known.
        duration_s: Time the annotator spent on the whole submission, when known.
        meta: The item's metadata (language, site, device, demographic slice...),
            shared with the item; used for grouping and bias monitoring.
    """

    item_id: str
    annotator_id: str
    label_set: str
    value: Value
    source: Source = "human"
    region_id: str | None = None
    annotation_id: str | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=lambda: _EMPTY)
    score: float | None = None
    created_at: str | None = None
    updated_at: str | None = None
    duration_s: float | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        if not self.item_id or not isinstance(self.item_id, str):
            raise InvalidAnnotationError(f"a record needs a non-empty string item_id, got {self.item_id!r}")
        if not self.annotator_id or not isinstance(self.annotator_id, str):
            raise InvalidAnnotationError(
                f"record for item {self.item_id!r} needs a non-empty string annotator_id, "
                f"got {self.annotator_id!r}"
            )
        if self.source not in SOURCES:
            raise InvalidAnnotationError(
                f"record source must be one of {SOURCES}, got {self.source!r}"
            )
        value = self.value
        names = _TEXT_FIELDS.get(type(value))
        if names is None:
            if type(value).__name__ not in _VALUE_CLASS_NAMES:
                raise InvalidAnnotationError(
                    f"record value must be one of {sorted(VALUE_TYPES)} value objects, got {value!r}"
                )
            names = _TEXT_FIELDS[type(value)] = _text_fields(type(value))
        for name in names:
            v = getattr(value, name, None)
            if v is not None and not isinstance(v, str):
                raise InvalidAnnotationError(
                    f"record for item {self.item_id!r}: a {value.kind} {name} must be a string, "
                    f"got {type(v).__name__}")
        if not isinstance(self.label_set, str) or not self.label_set:
            raise InvalidAnnotationError(
                f"record for item {self.item_id!r} needs a non-empty string label_set, got {self.label_set!r}")
        if self.duration_s is not None:
            _optional_number("duration_s", self.duration_s, minimum=0)
        if self.score is not None:
            _optional_number("score", self.score)
        _optional_text(self.created_at, self.updated_at, self.region_id, self.annotation_id)
        if self.attributes is not _EMPTY:
            object.__setattr__(self, "attributes", _frozen_mapping(self.attributes))
        if self.meta is not _EMPTY:
            object.__setattr__(self, "meta", _frozen_mapping(self.meta))

    @property
    def kind(self) -> str:
        return self.value.kind

    @property
    def label(self) -> str | None:
        return value_label(self.value)


_VALUE_CLASS_NAMES = frozenset(t.__name__ for t in VALUE_TYPES.values())
_TEXT_NAMES = ("label", "speaker", "text", "track_id")
#: Per value class, which of :data:`_TEXT_NAMES` it has: a record checks those only (asking a
#: slotted value for an attribute it lacks costs an exception each time, a million times a load).
_TEXT_FIELDS: dict[type[Any], tuple[str, ...]] = {}


def _text_fields(cls: type[Any]) -> tuple[str, ...]:
    have = set(getattr(cls, "__dataclass_fields__", {})) | {n for n in _TEXT_NAMES if isinstance(
        getattr(cls, n, None), property)}
    return tuple(n for n in _TEXT_NAMES if n in have) if have else _TEXT_NAMES


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """One annotator's completed pass over one item (possibly with no regions)."""

    item_id: str
    annotator_id: str
    source: Source = "human"
    annotation_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    duration_s: float | None = None
    was_cancelled: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.item_id, str) or not isinstance(self.annotator_id, str):
            raise InvalidAnnotationError(f"a submission needs string item_id and annotator_id, got "
                                         f"{type(self.item_id).__name__} and {type(self.annotator_id).__name__}")
        if self.source not in SOURCES:
            raise InvalidAnnotationError(f"submission source must be one of {SOURCES}, got {self.source!r}")
        if not isinstance(self.was_cancelled, bool):
            raise InvalidAnnotationError(f"was_cancelled must be true or false, got {self.was_cancelled!r}")
        if self.duration_s is not None:
            _optional_number("duration_s", self.duration_s, minimum=0)
        _optional_text(self.created_at, self.updated_at, self.annotation_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """A thing to annotate: its data (text, image URL...), size when known, metadata.

    ``label_sets`` names the label sets the item was presented with (a Label
    Studio project's controls), when known; empty means unknown.
    """

    item_id: str
    data: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    width: float | None = None
    height: float | None = None
    duration_s: float | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    label_sets: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.item_id, str):
            raise InvalidAnnotationError(f"an item needs a string item_id, got {type(self.item_id).__name__}")
        for name in ("width", "height", "duration_s"):
            if getattr(self, name) is not None:
                _optional_number(f"item {self.item_id!r} {name}", getattr(self, name), minimum=0)
        if not all(isinstance(n, str) for n in self.label_sets):
            raise InvalidAnnotationError(f"item {self.item_id!r} label_sets must be strings")
        if type(self.label_sets) is not frozenset:
            object.__setattr__(self, "label_sets", frozenset(self.label_sets))
        object.__setattr__(self, "data", _frozen_mapping(self.data))
        if self.meta is not _EMPTY:
            object.__setattr__(self, "meta", _frozen_mapping(self.meta))


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """Records, submissions, items and the schema of one project.

    Submissions that are not given are derived from the records (one per
    item, annotator and source), so a dataset built from records alone works;
    give them explicitly to record passes that produced no region.
    """

    records: tuple[Record, ...]
    schema: Schema = field(default_factory=Schema)
    items: Mapping[str, Item] = field(default_factory=lambda: _EMPTY)
    submissions: tuple[Submission, ...] = ()
    name: str = "dataset"
    #: :meth:`grouped` results per ``(label_set, source)``; the dataset is immutable, so they never go stale.
    _grouped_cache: dict[tuple[str, str | None], dict[str, dict[str, list[Record]]]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    #: :meth:`items_for` results per label set.
    _scope_cache: dict[str, frozenset[str]] = field(default_factory=dict, init=False, repr=False, compare=False)
    #: :meth:`select` results per filter, and :attr:`label_sets` once computed.
    _select_cache: dict[tuple[str | None, str | None, str | None], tuple[Record, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _label_sets_cache: list[tuple[str, ...]] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", tuple(self.records))
        items = dict(self.items)
        for r in self.records:
            if r.item_id not in items:
                items[r.item_id] = Item(item_id=r.item_id, meta=r.meta)
        object.__setattr__(self, "items", MappingProxyType(items))
        # One submission per (item, annotator, source), but a skip (cancelled submission) never
        # replaces a real one: skips are kept apart, one per annotation, so they can be counted.
        subs: dict[tuple[str, ...], Submission] = {}
        skips: dict[tuple[str, ...], Submission] = {}
        for s in self.submissions:
            triple = (s.item_id, s.annotator_id, s.source)
            if s.was_cancelled:
                skips[(*triple, s.annotation_id or f"#{len(skips)}")] = s
            else:
                subs[triple] = s
        skipped = {k[:3] for k in skips}
        for r in self.records:
            key = (r.item_id, r.annotator_id, r.source)
            if key in skipped and (r.annotation_id is None or (*key, r.annotation_id) in skips):
                continue  # a record of the skip itself, not a pass of its own
            if key not in subs:
                subs[key] = Submission(item_id=r.item_id, annotator_id=r.annotator_id,
                                       source=r.source, annotation_id=r.annotation_id,
                                       created_at=r.created_at, updated_at=r.updated_at,
                                       duration_s=r.duration_s)
        object.__setattr__(self, "submissions", (*subs.values(), *skips.values()))

    def outline(self) -> DatasetOutline:
        """What a report reads of this dataset besides what its sections fold (see
        :class:`DatasetOutline`)."""
        kinds: dict[str, str] = {}
        for r in self.records:
            if r.label_set not in kinds:
                kinds[r.label_set] = r.kind
        return DatasetOutline(name=self.name, schema=self.schema, item_ids=tuple(self.items),
                              label_sets=self.label_sets, first_kinds=kinds)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    @property
    def label_sets(self) -> tuple[str, ...]:
        """Label-set names in schema order, then any only seen in records."""
        if self._label_sets_cache:
            return self._label_sets_cache[0]
        names = list(self.schema.label_sets)
        seen = set(names)
        for r in self.records:
            if r.label_set not in seen:
                seen.add(r.label_set)
                names.append(r.label_set)
        self._label_sets_cache.append(tuple(names))
        return self._label_sets_cache[0]

    def annotators(self, *, source: Source | None = "human") -> tuple[str, ...]:
        """Annotator ids (of one source, or all with ``source=None``), sorted."""
        return tuple(sorted({s.annotator_id for s in self.submissions
                             if source is None or s.source == source}))

    def select(self, *, label_set: str | None = None, source: Source | None = None,
               annotator_id: str | None = None) -> tuple[Record, ...]:
        """Records matching every filter given, in record order (computed once per filter: the
        dataset is immutable, and report sections ask for the same selections)."""
        key = (label_set, source, annotator_id)
        cached = self._select_cache.get(key)
        if cached is None:
            cached = self._select_cache[key] = tuple(
                r for r in self.records
                if (label_set is None or r.label_set == label_set)
                and (source is None or r.source == source)
                and (annotator_id is None or r.annotator_id == annotator_id)
            )
        return cached

    def items_for(self, label_set: str) -> frozenset[str]:
        """Items in the scope of a label set.

        An item is in scope when any record of the label set is about it, or,
        when the label set names the data field it annotates (``to_name``),
        when the item's data has that field; items that list their
        ``label_sets`` are in scope only of those (this keeps a sentiment item
        out of an NER label set when several projects share one dataset).
        """
        cached = self._scope_cache.get(label_set)
        if cached is not None:
            return cached
        scoped = {r.item_id for r in self.records if r.label_set == label_set}
        ls = self.schema.label_sets.get(label_set)
        if ls is not None and ls.to_name:
            scoped |= {i for i, it in self.items.items() if ls.to_name in it.data}
        items = self.items
        out = self._scope_cache[label_set] = frozenset(
            i for i in scoped if not items[i].label_sets or label_set in items[i].label_sets)
        return out

    def grouped(self, label_set: str, *, source: Source | None = None
                ) -> dict[str, dict[str, list[Record]]]:
        """``{item_id: {annotator_id: [records]}}`` for one label set.

        Every submission of the wanted source on an item in the label set's
        scope (:meth:`items_for`) appears, with an empty list when that pass
        left no value in this label set (an annotator who drew no box).
        Cancelled (skipped) submissions are left out, and so are the records of a skipped
        annotation (by ``annotation_id``, or, for records without one, when that annotator's
        only submissions of the item are skips); the same annotator's real submission of
        the item stays.

        Computed once per ``(label_set, source)`` and cached (every report section asks for
        the same grouping); each call returns a fresh copy of the dicts and lists, so callers
        may change what they get.
        """
        key = (label_set, source)
        cached = self._grouped_cache.get(key)
        if cached is None:
            cached = self._grouped_cache[key] = self._group(label_set, source)
        return {i: {a: list(rs) for a, rs in per.items()} for i, per in cached.items()}

    def grouped_view(self, label_set: str, *, source: Source | None = None
                     ) -> Mapping[str, Mapping[str, Sequence[Record]]]:
        """:meth:`grouped` without the copy: the cached grouping itself, to read, not to change.

        A report section that only reads the grouping calls this; at a million records the
        copy :meth:`grouped` makes costs about a second per call.
        """
        key = (label_set, source)
        cached = self._grouped_cache.get(key)
        if cached is None:
            cached = self._grouped_cache[key] = self._group(label_set, source)
        return cached

    def _group(self, label_set: str, source: Source | None) -> dict[str, dict[str, list[Record]]]:
        scope = self.items_for(label_set)
        skips = [s for s in self.submissions if s.was_cancelled]
        skipped_triples: set[tuple[str, str, Source]] = set()
        skipped_ids: set[tuple[str, str, Source, str | None]] = set()
        if skips:  # most exports have none: then no record needs the lookups below
            real = {(s.item_id, s.annotator_id, s.source) for s in self.submissions if not s.was_cancelled}
            skipped_triples = {(s.item_id, s.annotator_id, s.source) for s in skips} - real
            skipped_ids = {(s.item_id, s.annotator_id, s.source, s.annotation_id) for s in skips if s.annotation_id}
        out: dict[str, dict[str, list[Record]]] = {}
        get = out.get
        for s in self.submissions:
            if s.was_cancelled or (source is not None and s.source != source):
                continue
            item = s.item_id
            per = get(item)
            if per is None:
                if item in scope:
                    out[item] = {s.annotator_id: []}
            elif s.annotator_id not in per:
                per[s.annotator_id] = []
        for r in self.records:
            if r.label_set != label_set or (source is not None and r.source != source):
                continue
            if skips:
                triple = (r.item_id, r.annotator_id, r.source)
                if (*triple, r.annotation_id) in skipped_ids or triple in skipped_triples:
                    continue
            per = get(r.item_id)
            if per is None:
                out[r.item_id] = {r.annotator_id: [r]}
                continue
            rs = per.get(r.annotator_id)
            if rs is None:
                per[r.annotator_id] = [r]
            else:
                rs.append(r)
        return out


# --------------------------------------------------------------------------- (de)serialization


def value_to_dict(value: Value) -> dict[str, Any]:
    """A JSON-ready dict for a value, with its ``kind``."""
    out: dict[str, Any] = {"kind": value.kind}
    cls = type(value)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(value))
    for name in names:
        v = getattr(value, name)
        if isinstance(value, Keypoints) and name == "points":
            v = [{"name": p.name, "x": p.x, "y": p.y, "visibility": p.visibility} for p in v]
        elif isinstance(value, Track) and name == "frames":
            v = [{g.name: getattr(fr, g.name) for g in fields(fr)} for fr in v]
        elif isinstance(v, tuple):
            v = [list(p) if isinstance(p, tuple) else p for p in v]
        out[name] = v
    return out


#: Field names per value type, for :func:`value_to_dict` (``dataclasses.fields`` costs ~8 µs a call).
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def value_from_dict(d: Mapping[str, Any]) -> Value:
    """Inverse of :func:`value_to_dict`; raises :class:`InvalidAnnotationError` on bad input."""
    if not isinstance(d, Mapping):
        raise InvalidAnnotationError(f"a value must be an object with a 'kind', got {type(d).__name__}")
    kind = d.get("kind")
    cls = VALUE_TYPES.get(str(kind))
    if cls is None:
        raise InvalidAnnotationError(
            f"unknown value kind {kind!r}; expected one of {sorted(VALUE_TYPES)}"
        )
    kw = {k: v for k, v in d.items() if k != "kind"}
    try:
        if cls is Keypoints:
            kw["points"] = tuple(Keypoint(**p) for p in kw["points"])
        elif cls is Track:
            kw["frames"] = tuple(TrackFrame(**f) for f in kw["frames"])
        elif cls in (Polygon, Polyline):
            kw["points"] = tuple(tuple(p) for p in kw["points"])
        elif cls is Classification and "path" in kw:
            kw["path"] = tuple(kw["path"])
        elif cls is MultiLabel:
            kw["labels"] = tuple(kw["labels"])
        elif cls is Mask:
            kw["counts"] = tuple(kw["counts"])
        value: Value = cls(**kw)
    except InvalidAnnotationError:
        raise
    except (TypeError, KeyError, ValueError, IndexError, AttributeError, OverflowError) as e:
        shown = repr(dict(d))
        raise InvalidAnnotationError(f"malformed {kind} value {shown[:120]}{'...' * (len(shown) > 120)}: "
                                     f"{str(e)[:120]}") from e
    return value


_RECORD_SCALARS = ("item_id", "annotator_id", "label_set", "source", "region_id", "annotation_id",
                   "score", "created_at", "updated_at", "duration_s")


def record_to_dict(record: Record) -> dict[str, Any]:
    """A JSON-ready dict for a record (one line of accord's JSON Lines format)."""
    out: dict[str, Any] = {k: getattr(record, k) for k in _RECORD_SCALARS}
    out["value"] = value_to_dict(record.value)
    if record.attributes:
        out["attributes"] = dict(record.attributes)
    if record.meta:
        out["meta"] = dict(record.meta)
    return {k: v for k, v in out.items() if v is not None}


def record_from_dict(d: Mapping[str, Any]) -> Record:
    """Inverse of :func:`record_to_dict`."""
    if "value" not in d:
        raise InvalidAnnotationError(f"a record needs a 'value' object, got keys {sorted(d)}")
    kw = {k: d[k] for k in _RECORD_SCALARS if k in d}
    missing = [k for k in ("item_id", "annotator_id", "label_set") if k not in kw]
    if missing:
        raise InvalidAnnotationError(f"a record needs {missing}, got keys {sorted(d)}")
    return Record(value=value_from_dict(d["value"]), attributes=d.get("attributes") or _EMPTY,
                  meta=d.get("meta") or _EMPTY, **kw)


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetOutline:
    """A dataset without its records: what the report reads of the whole besides the states its
    mergeable sections fold over partitions (a Dask run builds it on the client from the
    partitions' summaries, so the records stay on the workers).

    Attributes:
        name: The dataset's name.
        schema: The labeling schema.
        item_ids: Every item id, in the dataset's order (``tuple(ds.items)``).
        label_sets: :attr:`Dataset.label_sets` (schema order, then first seen in records).
        first_kinds: Per label set with records, the value kind of its first record.
    """

    name: str
    schema: Schema
    item_ids: tuple[str, ...]
    label_sets: tuple[str, ...]
    first_kinds: Mapping[str, str]

    def kind_of(self, label_set: str) -> str | None:
        """A label set's value kind as the report reads it (its schema's, else its first
        record's); None for a label set with no record."""
        if label_set not in self.first_kinds:
            return None
        ls = self.schema.label_sets.get(label_set)
        return ls.kind if ls else self.first_kinds[label_set]
