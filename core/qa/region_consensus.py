"""Consensus for every region kind, weighted by each annotator's reliability.

Kernels (pure, arrays or values in, a result out):

* :func:`annotator_weights`: one weight per annotator, from gold where the annotator has
  gold items, else from the class-consensus skill of a class label set that every
  annotator without gold labelled, else uniform; each weight says where it came from.
* :func:`vote_rasters`: pixel-wise weighted vote (masks, and polygons rasterised on the
  item's grid): a pixel has label ``L`` when the weight of annotators marking ``L`` there
  is more than half the total weight. :func:`em_rasters` instead fuses each label's masks by
  SegmentationEM (:func:`~accord.core.qa.segmentation_em.segmentation_em`), learning each
  annotator's skill (the report's ``segmentation_method = "em"``).
* :func:`vote_time_segments`: the same rule on the time axis (segments, speaker turns);
  runs of one label are merged.
* :func:`fuse_tracks`: per-frame box fusion (:func:`~accord.core.qa.consensus.fuse_boxes`),
  identities linked by matching each frame's fused boxes to the previous frame's consensus
  tracks by IoU.
* :func:`cluster_regions` then :func:`fuse_cuboid` (weighted centre and size, circular
  weighted mean of the yaw) or :func:`~accord.core.qa.consensus.fuse_keypoints`.

:func:`region_consensus` is the report's glue: on items without gold that at least three
human annotators worked on (transcripts: two or more) it builds the consensus regions, and
compares each annotator with them as classified discrepancies, as the box consensus does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from ..errors import AccordError, InvalidAnnotationError
from ..matching.base import MatchResult, box_iou_matrix, match_similarity
from ..matching.masks import check_raster, polygon_intervals
from ..matching.transcripts import transcript_errors
from ..model import (
    Cuboid,
    Dataset,
    Keypoint,
    Keypoints,
    Mask,
    Polygon,
    Record,
    Segment,
    Span,
    TextValue,
    Track,
    TrackFrame,
)
from ..rle import decode, encode
from .consensus import fuse_boxes, fuse_keypoints, median_transcript, rover, vote_spans
from .gold import GoldScore
from .segmentation_em import SEGMENTATION_METHODS, SegmentationMethod, segmentation_em
from .taxonomy import DEFAULT_TAXONOMY, Discrepancy, Taxonomy, classify_match

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
WeightSource: TypeAlias = Literal["gold", "class_consensus", "uniform"]
Matcher: TypeAlias = Callable[[Sequence[Any], Sequence[Any]], MatchResult]
TimeSegment: TypeAlias = tuple[float, float, str]
Box4: TypeAlias = tuple[float, float, float, float]
#: Weights below this are raised to it (a weight must be > 0; an annotator at 0 still counts a little).
WEIGHT_FLOOR = 0.05


# --------------------------------------------------------------------------- weights


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnotatorWeights:
    """One fusion weight per annotator, and where each came from.

    Attributes:
        annotator_ids: Sorted annotators.
        weights: Weight > 0 of each (same order).
        sources: ``gold``, ``class_consensus`` or ``uniform`` for each.
        class_label_set: The class label set whose skills were used, if any.
    """

    annotator_ids: tuple[str, ...]
    weights: tuple[float, ...]
    sources: tuple[WeightSource, ...]
    class_label_set: str | None = None
    _by_id: dict[str, float] = field(init=False, repr=False, compare=False)
    _fill: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not len(self.annotator_ids) == len(self.weights) == len(self.sources):
            raise InvalidAnnotationError(
                f"one weight and one source per annotator: {len(self.annotator_ids)} annotators, "
                f"{len(self.weights)} weights, {len(self.sources)} sources")
        known = [w for w, s in zip(self.weights, self.sources, strict=True) if s != "uniform"]
        object.__setattr__(self, "_by_id", dict(zip(self.annotator_ids, self.weights, strict=True)))
        object.__setattr__(self, "_fill", float(np.mean(known)) if known else 1.0)

    def of(self, annotators: Sequence[str]) -> FloatArray:
        """The weights of ``annotators``, in their order (unknown annotators get the uniform weight)."""
        return np.array([self._by_id.get(a, self._fill) for a in annotators], dtype=np.float64)

    def uniform_weight(self) -> float:
        """The weight given to an annotator without gold or skill: the mean of the others', else 1."""
        return self._fill

    def to_dict(self) -> dict[str, Any]:
        """``weights`` (per annotator: weight and source) and ``weights_class_label_set``."""
        return {"weights": {a: {"weight": round(w, 6), "source": s}
                            for a, w, s in zip(self.annotator_ids, self.weights, self.sources, strict=True)},
                "weights_class_label_set": self.class_label_set}


def annotator_weights(annotators: Sequence[str], *, gold_scores: Mapping[str, float],
                      class_skills: Mapping[str, Mapping[str, float | None]],
                      floor: float = WEIGHT_FLOOR) -> AnnotatorWeights:
    """A fusion weight per annotator: gold score, else class-consensus skill, else uniform.

    Args:
        annotators: The annotators of one label set.
        gold_scores: Score in [0, 1] on this label set's gold items, for annotators who have gold.
        class_skills: Per class label set (in the project's order), each annotator's skill
            (``consensus.<set>.annotator_reliability``). The first one holding a finite skill for
            every annotator without gold is used for all of them; otherwise they are uniform.
        floor: Weights are raised to at least this (> 0).

    Returns:
        :class:`AnnotatorWeights`; a ``uniform`` annotator weighs the mean of the other weights
        (1 when there are none), so uniform never outweighs a measured annotator by default.

    >>> w = annotator_weights(["a", "b", "c"], gold_scores={"a": 0.9}, class_skills={})
    >>> w.weights, w.sources
    ((0.9, 0.9, 0.9), ('gold', 'uniform', 'uniform'))
    """
    if not 0 < floor <= 1:
        raise InvalidAnnotationError(f"the weight floor must be in (0, 1], got {floor!r}")
    anns = tuple(sorted(annotators))
    rest = [a for a in anns if a not in gold_scores]
    chosen: str | None = None
    for name, skills in class_skills.items():
        if rest and all(isinstance(skills.get(a), int | float) and math.isfinite(float(skills[a]))  # type: ignore[arg-type]
                        for a in rest):
            chosen = name
            break
    weights: list[float] = []
    sources: list[WeightSource] = []
    for a in anns:
        if a in gold_scores:
            weights.append(max(floor, float(gold_scores[a])))
            sources.append("gold")
        elif chosen is not None:
            weights.append(max(floor, float(class_skills[chosen][a])))  # type: ignore[arg-type]
            sources.append("class_consensus")
        else:
            weights.append(math.nan)
            sources.append("uniform")
    known = [w for w in weights if not math.isnan(w)]
    fill = float(np.mean(known)) if known else 1.0
    return AnnotatorWeights(annotator_ids=anns, weights=tuple(fill if math.isnan(w) else w for w in weights),
                            sources=tuple(sources), class_label_set=chosen)


def _check_weights(weights: npt.ArrayLike, n: int) -> FloatArray:
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != n or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise InvalidAnnotationError(f"weights must hold one finite number > 0 per annotator ({n}), got {w.tolist()!r}")
    return w


# --------------------------------------------------------------------------- rasters


def vote_rasters(rasters: Sequence[Mapping[str, BoolArray]], weights: npt.ArrayLike, *,
                 shape: tuple[int, int]) -> dict[str, BoolArray]:
    """Pixel-wise weighted vote: per label, pixels whose marking weight is over half the total.

    Args:
        rasters: Per annotator, ``{label: (height, width) bool}`` (labels the annotator did not
            draw are absent, i.e. all false).
        weights: Weight > 0 per annotator.
        shape: ``(height, width)`` of every raster.

    Returns:
        ``{label: fused mask}`` for every label with at least one fused pixel, labels sorted.

    Raises:
        InvalidAnnotationError: A raster of another shape, bad weights.
    """
    w = _check_weights(weights, len(rasters))
    total = float(w.sum())
    labels = sorted({lab for r in rasters for lab in r})
    out: dict[str, BoolArray] = {}
    for lab in labels:
        acc = np.zeros(shape, dtype=np.float64)
        for a, r in enumerate(rasters):
            m = r.get(lab)
            if m is None:
                continue
            if m.shape != shape:
                raise InvalidAnnotationError(f"annotator {a}: a {m.shape} raster for label {lab!r}, expected {shape}")
            acc += w[a] * m
        fused = acc > total / 2
        if fused.any():
            out[lab] = fused
    return out


def em_rasters(rasters: Sequence[Mapping[str, BoolArray]], *, shape: tuple[int, int]
               ) -> tuple[dict[str, BoolArray], dict[str, tuple[int, FloatArray]]]:
    """Per label, SegmentationEM over every annotator's mask of it (an annotator who did not draw it: empty).

    Args:
        rasters: Per annotator, ``{label: (height, width) bool}``.
        shape: ``(height, width)`` of every raster.

    Returns:
        ``({label: fused mask}, {label: (union pixels, each annotator's expected wrong pixels)})``;
        the masks for labels with at least one fused pixel, the counts for every label drawn.

    Raises:
        InvalidAnnotationError: A raster of another shape.
    """
    labels = sorted({lab for r in rasters for lab in r})
    fused: dict[str, BoolArray] = {}
    errors: dict[str, tuple[int, FloatArray]] = {}
    empty = np.zeros(shape, dtype=bool)
    for lab in labels:
        stack = []
        for a, r in enumerate(rasters):
            m = r.get(lab, empty)
            if m.shape != shape:
                raise InvalidAnnotationError(f"annotator {a}: a {m.shape} raster for label {lab!r}, expected {shape}")
            stack.append(m)
        res = segmentation_em(np.stack(stack))
        errors[lab] = (res.region_px, res.expected_errors_px)
        if res.mask.any():
            fused[lab] = res.mask
    return fused, errors


def polygon_raster(points: Sequence[tuple[float, float]], height: int, width: int) -> BoolArray:
    """The (height, width) mask of a polygon: pixels whose centre is inside (even-odd rule).

    Built from :func:`~accord.core.matching.masks.polygon_intervals` (the same rasterisation
    the mask matchers use), one byte per pixel.

    >>> polygon_raster([(0, 0), (2, 0), (2, 1), (0, 1)], 2, 3).astype(int).tolist()
    [[1, 1, 0], [0, 0, 0]]
    """
    s, e = polygon_intervals(points, height, width)
    delta = np.zeros(height * width + 1, dtype=np.int8)
    delta[s] += 1  # the intervals are disjoint and do not touch: no index repeats
    delta[e] -= 1
    flat = np.cumsum(delta[:-1], dtype=np.int8) > 0
    out: BoolArray = flat.reshape((height, width), order="F")
    return out


# --------------------------------------------------------------------------- time axis


def vote_time_segments(segments: Sequence[Sequence[TimeSegment]], weights: npt.ArrayLike
                       ) -> tuple[TimeSegment, ...]:
    """Weighted vote on the time axis: ``t`` has label ``L`` when the annotators marking ``L`` at
    ``t`` hold more than half the total weight; maximal runs of ``L`` become segments.

    Several labels can hold at once (overlapping speech). Zero-length segments never vote.

    Args:
        segments: Per annotator, ``(start, end, label)`` with ``start <= end``.
        weights: Weight > 0 per annotator.

    Returns:
        ``(start, end, label)`` sorted by start, then label.

    >>> vote_time_segments([[(0, 4, "a")], [(1, 5, "a")], [(2, 3, "b")]], [1, 1, 1])
    ((1.0, 4.0, 'a'),)
    """
    w = _check_weights(weights, len(segments))
    total = float(w.sum())
    for a, sp in enumerate(segments):
        for s, e, _ in sp:
            if not (math.isfinite(s) and math.isfinite(e)) or e < s:
                raise InvalidAnnotationError(f"annotator {a}: a segment needs finite start <= end, got ({s}, {e})")
    bounds = np.unique(np.array([t for sp in segments for s, e, _ in sp for t in (s, e)], dtype=np.float64))
    out: list[TimeSegment] = []
    for lab in sorted({lab for sp in segments for _, _, lab in sp}):
        if len(bounds) < 2:
            break
        mid = (bounds[:-1] + bounds[1:]) / 2
        weight = np.zeros(len(mid))
        for a, sp in enumerate(segments):
            cover = np.zeros(len(mid), dtype=bool)
            for s, e, lb in sp:
                if lb == lab:
                    cover |= (mid > s) & (mid < e)  # an annotator counts once however many segments overlap
            weight += w[a] * cover
        on = weight > total / 2
        k = 0
        while k < len(on):
            if not on[k]:
                k += 1
                continue
            j = k
            while j + 1 < len(on) and on[j + 1]:
                j += 1
            out.append((float(bounds[k]), float(bounds[j + 1]), lab))
            k = j + 1
    return tuple(sorted(out, key=lambda x: (x[0], x[2], x[1])))


# --------------------------------------------------------------------------- clustering, cuboids


def cluster_regions(values: Sequence[Sequence[Any]], weights: npt.ArrayLike, match: Matcher
                    ) -> list[list[tuple[int, int]]]:
    """Group one item's regions across annotators into objects, one region per annotator.

    Annotators are visited by decreasing weight (ties: input order); each one's regions are
    matched one-to-one (``match``, e.g. OKS or 3D IoU at the report's threshold) to the
    objects' first regions (drawn by the heaviest annotator of each); unmatched regions start
    new objects.

    Returns:
        Per object, its ``(annotator_index, region_index)`` members, in order of creation.
    """
    w = _check_weights(weights, len(values))
    clusters: list[list[tuple[int, int]]] = []
    anchors: list[Any] = []
    for a in sorted(range(len(values)), key=lambda k: (-w[k], k)):
        vs = list(values[a])
        if not vs:
            continue
        if anchors:
            m = match(anchors, vs)
            pairs, unmatched = m.pairs, m.unmatched_candidate
        else:
            pairs, unmatched = (), tuple(range(len(vs)))
        for r, j in pairs:
            clusters[r].append((a, j))
        for j in unmatched:
            clusters.append([(a, j)])
            anchors.append(vs[j])
    return clusters


def _vote_label(labels: Sequence[str], weights: Sequence[float]) -> str:
    tally: dict[str, float] = defaultdict(float)
    for lab, wt in zip(labels, weights, strict=True):
        tally[lab] += wt
    return max(sorted(tally), key=lambda lab: tally[lab])


def fuse_cuboid(cuboids: Sequence[Cuboid], weights: npt.ArrayLike) -> Cuboid:
    """One cuboid from several: weighted mean centre and size, circular weighted mean yaw
    (``atan2(sum w sin yaw, sum w cos yaw)``), weighted-vote label (ties: sorted first).

    >>> a = Cuboid(label="car", x=0, y=0, z=0, length=4, width=2, height=2, yaw=0.0)
    >>> b = Cuboid(label="car", x=2, y=0, z=0, length=4, width=2, height=2, yaw=math.pi / 2)
    >>> c = fuse_cuboid([a, b], [1, 1])
    >>> c.x, round(c.yaw, 6)
    (1.0, 0.785398)
    """
    if not cuboids:
        raise InvalidAnnotationError("fuse_cuboid needs at least one cuboid")
    w = _check_weights(weights, len(cuboids))
    p = np.array([[c.x, c.y, c.z, c.length, c.width, c.height] for c in cuboids], dtype=np.float64)
    mean = (w[:, None] * p).sum(axis=0) / w.sum()
    yaw = np.array([c.yaw for c in cuboids])
    fused_yaw = math.atan2(float((w * np.sin(yaw)).sum()), float((w * np.cos(yaw)).sum()))
    x, y, z, length, width, height = (float(v) for v in mean)
    return Cuboid(label=_vote_label([c.label for c in cuboids], list(w)), x=x, y=y, z=z, length=length,
                  width=width, height=height, yaw=fused_yaw)


# --------------------------------------------------------------------------- tracks


@dataclass(frozen=True, slots=True, kw_only=True)
class FusedTrack:
    """A consensus track: its id, weighted-vote label (most frames), and fused box per frame."""

    track_id: str
    label: str
    boxes_xyxy: Mapping[int, tuple[float, float, float, float]]


def fuse_tracks(tracks: Sequence[Sequence[Track]], weights: npt.ArrayLike, *,
                iou_threshold: float = 0.5) -> list[FusedTrack]:
    """Consensus tracks of one video: per-frame box fusion, then identity linking.

    For every frame any annotator marks (in order), each annotator's visible boxes are fused
    with :func:`~accord.core.qa.consensus.fuse_boxes` (weights, strict-majority quorum); the
    fused boxes are matched one-to-one by IoU >= ``iou_threshold`` to the consensus tracks that
    had a box on the previous marked frame, continuing them; the rest start new tracks
    (``consensus-0``, ``consensus-1``, ...). A track's label is the label most of its frames
    voted for (ties: sorted first).

    Args:
        tracks: Per annotator, their tracks.
        weights: Weight > 0 per annotator.
        iou_threshold: Minimum IoU to join a region or continue a track, in (0, 1].
    """
    w = _check_weights(weights, len(tracks))
    per_frame: list[dict[int, list[tuple[tuple[float, float, float, float], str]]]] = []
    for ts in tracks:
        d: dict[int, list[tuple[tuple[float, float, float, float], str]]] = defaultdict(list)
        for t in ts:
            for tf in t.frames:
                if not tf.outside:
                    d[tf.frame].append(((tf.x, tf.y, tf.x + tf.width, tf.y + tf.height), t.label))
        per_frame.append(d)
    frames = sorted({f for d in per_frame for f in d})
    boxes: list[dict[int, tuple[float, float, float, float]]] = []
    frame_labels: list[list[str]] = []
    active: list[int] = []  # consensus tracks with a box on the previous marked frame
    for f in frames:
        fused = fuse_boxes([np.array([b for b, _ in d.get(f, [])], dtype=np.float64).reshape(-1, 4)
                            for d in per_frame], [[lab for _, lab in d.get(f, [])] for d in per_frame],
                           reliability=w, iou_threshold=iou_threshold)
        cur: list[Box4] = [(float(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in fused.boxes_xyxy]
        if active and cur:
            prev = np.array([boxes[t][max(boxes[t])] for t in active], dtype=np.float64)
            res = match_similarity(box_iou_matrix(prev, np.array(cur)), threshold=iou_threshold)
            pairs, unmatched = res.pairs, res.unmatched_candidate
        else:
            pairs, unmatched = (), tuple(range(len(cur)))
        now: list[int] = []
        for r, j in pairs:
            boxes[active[r]][f] = cur[j]
            frame_labels[active[r]].append(fused.labels[j])
            now.append(active[r])
        for j in unmatched:
            boxes.append({f: cur[j]})
            frame_labels.append([fused.labels[j]])
            now.append(len(boxes) - 1)
        active = now
    return [FusedTrack(track_id=f"consensus-{k}", label=_vote_label(frame_labels[k], [1.0] * len(frame_labels[k])),
                       boxes_xyxy=dict(b)) for k, b in enumerate(boxes)]


# --------------------------------------------------------------------------- report glue


@dataclass(slots=True)
class _State:
    """What the per-kind fusers add up across items."""

    skipped: list[dict[str, str]] = field(default_factory=list)
    inter: dict[str, float] = field(default_factory=dict)
    union: dict[str, float] = field(default_factory=dict)
    area_px: int = 0
    errors: dict[str, list[int]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    em_errors: dict[str, list[float]] = field(default_factory=dict)  # [expected wrong px, union px], "em" only
    #: Each ``em_errors`` increment ``(annotator, expected wrong px, union px)`` in the order it was made,
    #: kept when not None (an item's row, so a merge adds them up in the same order as one pass).
    em_log: list[tuple[str, float, int]] | None = None


def _consensus_record(item: str, name: str, k: int, value: Any) -> Record:
    return Record(item_id=item, annotator_id="consensus", label_set=name, source="consensus",
                  region_id=f"consensus-{k}", value=value)


def _raster_shape(ds: Dataset, item: str, records: Sequence[Record]) -> tuple[int, int]:
    """The item's raster: its masks' size, else the item's size, else the polygons' extent."""
    sizes = {(r.value.height, r.value.width) for r in records if isinstance(r.value, Mask)}
    if len(sizes) > 1:
        raise InvalidAnnotationError(f"item {item!r}: masks of different sizes {sorted(sizes)!r}; "
                                     "export every mask of an item at the image's size")
    if sizes:
        return next(iter(sizes))
    it = ds.items.get(item)
    if it is not None and it.width and it.height:
        return (math.ceil(it.height), math.ceil(it.width))
    pts = [p for r in records if isinstance(r.value, Polygon) for p in r.value.points]
    return (math.ceil(max((y for _, y in pts), default=0.0)), math.ceil(max((x for x, _ in pts), default=0.0)))


def _rasters(ds: Dataset, item: str, per: Mapping[str, list[Record]], anns: Sequence[str]
             ) -> tuple[tuple[int, int], list[dict[str, BoolArray]]]:
    """Each annotator's ``{label: mask}`` on the item's grid (masks decoded, polygons rasterised)."""
    h, wd = _raster_shape(ds, item, [r for a in anns for r in per[a]])
    check_raster(h, wd, f"item {item!r}'s raster")
    rasters: list[dict[str, BoolArray]] = []
    for a in anns:
        r_a: dict[str, BoolArray] = {}
        for r in per[a]:
            v = r.value
            if isinstance(v, Mask):
                m = decode(v.counts, v.height, v.width)
            elif isinstance(v, Polygon):
                m = polygon_raster(v.points, h, wd)
            else:
                continue
            r_a[v.label] = r_a[v.label] | m if v.label in r_a else m
        rasters.append(r_a)
    return (h, wd), rasters


def _raster_item(ds: Dataset, name: str, item: str, per: Mapping[str, list[Record]], anns: list[str],
                 w: FloatArray, st: _State, *, method: SegmentationMethod = "vote") -> list[Record] | None:
    try:
        (h, wd), rasters = _rasters(ds, item, per, anns)
    except AccordError as e:
        st.skipped.append({"item_id": item, "reason": str(e)})
        return None
    if method == "em":
        fused, em_errors = em_rasters(rasters, shape=(h, wd))
        for region_px, expected in em_errors.values():
            if region_px == 0:  # only empty masks of this label: no pixel to be right or wrong on
                continue
            for a, wrong_px in zip(anns, expected, strict=True):
                acc = st.em_errors.setdefault(a, [0.0, 0.0])
                acc[0] += float(wrong_px)
                acc[1] += region_px
                if st.em_log is not None:
                    st.em_log.append((a, float(wrong_px), region_px))
    else:
        fused = vote_rasters(rasters, w, shape=(h, wd))
    out: list[Record] = []
    for a, r_a in zip(anns, rasters, strict=True):
        # pooled IoU: per label the annotator's pixels against the fused ones, summed over labels
        for lab in sorted(set(r_a) | set(fused)):
            mine, cons = r_a.get(lab), fused.get(lab)
            if mine is None:
                st.union[a] = st.union.get(a, 0.0) + float(cons.sum())  # type: ignore[union-attr]
            elif cons is None:
                st.union[a] = st.union.get(a, 0.0) + float(mine.sum())
            else:
                st.inter[a] = st.inter.get(a, 0.0) + float((mine & cons).sum())
                st.union[a] = st.union.get(a, 0.0) + float((mine | cons).sum())
    for lab, m in fused.items():
        st.area_px += int(m.sum())
        comp, n = ndimage.label(m)
        for k in range(1, n + 1):
            out.append(_consensus_record(item, name, len(out), Mask(label=lab, height=h, width=wd,
                                                                     counts=encode(comp == k))))
    return out


def _keypoints_item(ds: Dataset, name: str, item: str, per: Mapping[str, list[Record]], anns: list[str],
                    w: FloatArray, st: _State, *, match: Matcher) -> list[Record]:
    vals = [[r.value for r in per[a] if isinstance(r.value, Keypoints)] for a in anns]
    out: list[Record] = []
    need = len(anns) // 2 + 1
    for members in cluster_regions(vals, w, match):
        if len(members) < need:
            continue
        sk = [vals[a][j] for a, j in members]
        names = list(dict.fromkeys(p.name for s in sk for p in s.points))
        index = {nm: k for k, nm in enumerate(names)}
        pts = np.zeros((len(sk), len(names), 2))
        vis = np.zeros((len(sk), len(names)), dtype=bool)
        for i, s in enumerate(sk):
            for p in s.points:
                pts[i, index[p.name]] = (p.x, p.y)
                vis[i, index[p.name]] = p.visibility > 0
        mw = np.array([w[a] for a, _ in members])
        # a point is kept when a strict majority of the item's annotators marked it
        fused = fuse_keypoints(pts, vis, reliability=mw, quorum=min(need, len(sk)))
        points = tuple(Keypoint(name=nm, x=float(fused.points[k, 0]), y=float(fused.points[k, 1]))
                       for k, nm in enumerate(names) if fused.visible[k])
        if points:
            lab = _vote_label([s.label for s in sk], list(mw))
            out.append(_consensus_record(item, name, len(out), Keypoints(label=lab, points=points)))
    return out


def _cuboid_item(ds: Dataset, name: str, item: str, per: Mapping[str, list[Record]], anns: list[str],
                 w: FloatArray, st: _State, *, match: Matcher) -> list[Record]:
    vals = [[r.value for r in per[a] if isinstance(r.value, Cuboid)] for a in anns]
    need = len(anns) // 2 + 1
    fused = [fuse_cuboid([vals[a][j] for a, j in m], [w[a] for a, _ in m])
             for m in cluster_regions(vals, w, match) if len(m) >= need]
    return [_consensus_record(item, name, k, c) for k, c in enumerate(fused)]


def _span_item(ds: Dataset, name: str, item: str, per: Mapping[str, list[Record]], anns: list[str],
               w: FloatArray, st: _State) -> list[Record]:
    spans = [[(r.value.start, r.value.end, r.value.label) for r in per[a] if isinstance(r.value, Span)]
             for a in anns]
    # weights scaled to sum to the head count, so the default quorum (a strict majority's head
    # count) asks for the weight a strict majority of equally weighted annotators would hold
    scaled = w * len(anns) / w.sum()
    voted = vote_spans(spans, mode="character", reliability=scaled)
    return [_consensus_record(item, name, k, Span(label=lab, start=s, end=e)) for k, (s, e, lab) in enumerate(voted)]


def _segment_item(ds: Dataset, name: str, item: str, per: Mapping[str, list[Record]], anns: list[str],
                  w: FloatArray, st: _State) -> list[Record]:
    segs = [[r.value for r in per[a] if isinstance(r.value, Segment)] for a in anns]
    by_speaker = all(s.label is None for ss in segs for s in ss)  # speaker turns: vote on the speaker
    unit: Literal["s", "frame"] = next((s.unit for ss in segs for s in ss), "s")
    tuples = [[(s.start, s.end, str((s.speaker if by_speaker else s.label) or "")) for s in ss] for ss in segs]
    voted = vote_time_segments(tuples, w)
    return [_consensus_record(item, name, k, Segment(start=s, end=e, unit=unit, speaker=(lab or None) if by_speaker
                                                     else None, label=None if by_speaker else (lab or None)))
            for k, (s, e, lab) in enumerate(voted)]


def _track_item(ds: Dataset, name: str, item: str, per: Mapping[str, list[Record]], anns: list[str],
                w: FloatArray, st: _State, *, iou_threshold: float) -> list[Record]:
    tracks = [[r.value for r in per[a] if isinstance(r.value, Track)] for a in anns]
    fused = fuse_tracks(tracks, w, iou_threshold=iou_threshold)
    return [_consensus_record(item, name, k, Track(label=t.label, track_id=t.track_id, frames=tuple(
        TrackFrame(frame=f, x=b[0], y=b[1], width=b[2] - b[0], height=b[3] - b[1])
        for f, b in sorted(t.boxes_xyxy.items())))) for k, t in enumerate(fused)]


def _text_item(ds: Dataset, name: str, item: str, per: Mapping[str, list[Record]], anns: list[str],
               w: FloatArray, st: _State) -> list[Record]:
    texts = [" ".join(r.value.text for r in per[a] if isinstance(r.value, TextValue)) for a in anns]
    if len(anns) >= 3:
        text = rover(texts, reliability=w)
    else:  # two: the set median, which ties to the first given: the heavier annotator
        order = sorted(range(len(anns)), key=lambda k: (-w[k], k))
        text = median_transcript([texts[k] for k in order])[1]
    st.texts[item] = text
    for a, t in zip(anns, texts, strict=True):
        e = transcript_errors(text, t, unit="word")
        acc = st.errors.setdefault(a, [0, 0])
        acc[0] += e.substitutions + e.deletions + e.insertions
        acc[1] += e.n_reference
    return [_consensus_record(item, name, 0, TextValue(text=text))]


_Fuser: TypeAlias = Callable[[Dataset, str, str, Mapping[str, list[Record]], list[str], FloatArray, _State],
                             "list[Record] | None"]

_METHODS: Mapping[str, str] = {
    "polygon": "pixel-wise weighted vote (a pixel has a label when the annotators marking it there hold over half "
               "the weight; polygons rasterised on the item's grid); regions are the connected parts",
    "mask": "pixel-wise weighted vote (a pixel has a label when the annotators marking it there hold over half "
            "the weight); regions are the connected parts",
    "keypoints": "skeletons grouped by OKS matching, kept when a strict majority drew them; weighted mean of the "
                 "points a strict majority marked visible (fuse_keypoints)",
    "span": "character-level weighted vote (vote_spans), weights scaled to the head count, strict-majority quorum",
    "segment": "weighted vote on the time axis (a time has a label, or for speaker turns a speaker, when the "
               "annotators marking it hold over half the weight), runs merged",
    "track": "per-frame weighted box fusion (strict-majority quorum), identities linked by IoU to the previous "
             "frame's consensus tracks",
    "cuboid": "cuboids grouped by 3D IoU matching, kept when a strict majority drew them; weighted mean centre and "
              "size, circular weighted mean yaw",
    "text": "ROVER word vote with the annotators' weights (three or more transcripts); the set median with two "
            "(ties to the heavier annotator)",
}
#: The method line of masks and polygons fused by SegmentationEM (``segmentation_method="em"``).
_EM_METHOD = ("SegmentationEM per label (one-coin EM over pixels, Lee, Das Sarma & Parameswaran 2018, as crowd-kit "
              "defines it): each annotator's skill is learnt from the masks, the annotator weights are not used; "
              "regions are the connected parts")
#: Kinds :func:`region_consensus` builds a consensus for (boxes have the report's own fusion).
KINDS: frozenset[str] = frozenset(_METHODS)
#: At most this many items' voted transcripts are listed (``n_transcripts`` counts them all).
TRANSCRIPTS_LISTED = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemConsensus:
    """One item's consensus outcome: what :func:`consensus_block` adds up over items.

    A row of plain data (no records), so a report section can keep one per item of its
    partition and merge partitions by concatenation (:mod:`accord.core.report.region_consensus`).

    Attributes:
        item_id: The item.
        fused: False when the item was skipped (``skipped`` says why): it counts in no total.
        n_regions: Consensus regions (transcripts: 1).
        tally: ``(annotator, category)`` of each discrepancy against the consensus, in order.
        discrepancies: The discrepancies themselves, when asked for (else empty).
        skipped: ``{"item_id", "reason"}`` of a skipped item.
        inter / union: Per annotator, pixels of intersection and union with the fused masks.
        area_px: Fused mask pixels.
        errors: Per annotator, ``(word errors, reference words)`` against the voted transcript.
        text: The voted transcript.
        em_log: SegmentationEM's ``(annotator, expected wrong px, union px)`` increments, in order.
    """

    item_id: str
    fused: bool = True
    n_regions: int = 0
    tally: tuple[tuple[str, str], ...] = ()
    discrepancies: tuple[Discrepancy, ...] = ()
    skipped: Mapping[str, str] | None = None
    inter: tuple[tuple[str, float], ...] = ()
    union: tuple[tuple[str, float], ...] = ()
    area_px: int = 0
    errors: tuple[tuple[str, int, int], ...] = ()
    text: str | None = None
    em_log: tuple[tuple[str, float, int], ...] = ()


def min_annotators(kind: str) -> int:
    """Human annotators an item needs for a consensus of ``kind`` (transcripts 2, regions 3)."""
    return 2 if kind == "text" else 3


def _fuser(kind: str, *, match: Matcher, iou_threshold: float, segmentation_method: SegmentationMethod) -> _Fuser:
    raster = partial(_raster_item, method=segmentation_method)
    fusers: Mapping[str, _Fuser] = {
        "polygon": raster, "mask": raster, "span": _span_item, "segment": _segment_item,
        "text": _text_item, "keypoints": partial(_keypoints_item, match=match),
        "cuboid": partial(_cuboid_item, match=match), "track": partial(_track_item, iou_threshold=iou_threshold)}
    return fusers[kind]


def consensus_item(ds: Dataset, name: str, kind: str, item: str, per: Mapping[str, list[Record]],
                   weights: AnnotatorWeights, *, match: Matcher, iou_threshold: float,
                   taxonomy: Taxonomy = DEFAULT_TAXONOMY, segmentation_method: SegmentationMethod = "vote",
                   keep_discrepancies: bool = False, fuse: _Fuser | None = None) -> ItemConsensus:
    """One item's consensus of a region kind in :data:`KINDS` (the per-item step of
    :func:`region_consensus`; ``per`` is the item's ``{annotator: records}``, ``ds`` holds the item).

    ``fuse`` is the kind's kernel when the caller made it once for many items."""
    fuse = fuse or _fuser(kind, match=match, iou_threshold=iou_threshold, segmentation_method=segmentation_method)
    st = _State(em_log=[])
    anns = sorted(per)
    consensus = fuse(ds, name, item, per, anns, weights.of(anns), st)
    if consensus is None:
        return ItemConsensus(item_id=item, fused=False, skipped=st.skipped[0] if st.skipped else None)
    found: list[Discrepancy] = []
    if kind != "text":
        for a in anns:
            mine = per[a]
            m = match([r.value for r in consensus], [r.value for r in mine])
            found.extend(d if d.annotator_id else replace(d, annotator_id=a)
                         for d in classify_match(m, consensus, mine, taxonomy=taxonomy, against="consensus"))
    return ItemConsensus(
        item_id=item, n_regions=len(consensus), tally=tuple((d.annotator_id, d.category) for d in found),
        discrepancies=tuple(found) if keep_discrepancies else (), inter=tuple(st.inter.items()),
        union=tuple(st.union.items()), area_px=st.area_px,
        errors=tuple((a, e, n) for a, (e, n) in st.errors.items()), text=st.texts.get(item),
        em_log=tuple(st.em_log or ()))


def consensus_block(kind: str, rows: Iterable[ItemConsensus], weights: AnnotatorWeights, *,
                    segmentation_method: SegmentationMethod = "vote") -> dict[str, Any]:
    """The report's ``consensus.<label set>`` block from the items' rows, in item-id order
    (what :func:`region_consensus` returns first)."""
    st = _State()
    tally: list[tuple[str, str]] = []
    n_items = n_regions = 0
    for row in rows:
        if not row.fused:
            if row.skipped is not None:
                st.skipped.append(dict(row.skipped))
            continue
        n_items += 1
        n_regions += row.n_regions
        tally.extend(row.tally)
        for a, v in row.inter:
            st.inter[a] = st.inter.get(a, 0.0) + v
        for a, v in row.union:
            st.union[a] = st.union.get(a, 0.0) + v
        st.area_px += row.area_px
        for a, e, n in row.errors:
            acc = st.errors.setdefault(a, [0, 0])
            acc[0] += e
            acc[1] += n
        if row.text is not None:
            st.texts[row.item_id] = row.text
        for a, wrong, u in row.em_log:
            em = st.em_errors.setdefault(a, [0.0, 0.0])
            em[0] += wrong
            em[1] += u
    by_ann: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for a, category in tally:
        by_ann[a][category] += 1
    out: dict[str, Any] = {"method": _METHODS[kind], "n_items": n_items, "n_regions": n_regions,
                           **weights.to_dict()}
    if kind == "text":
        out["note"] = "annotators are compared with the voted transcript on items without gold"
        out["annotator_wer"] = {a: {"wer": round(e / n, 6) if n else None, "word_errors": e, "reference_words": n}
                                for a, (e, n) in sorted(st.errors.items())}
        out["n_transcripts"] = len(st.texts)
        out["transcripts"] = dict(sorted(st.texts.items())[:TRANSCRIPTS_LISTED])
    else:
        out["note"] = "annotators are compared with the consensus regions on items without gold"
        out["n_discrepancies"] = len(tally)
        out["annotator_discrepancies"] = {a: dict(sorted(c.items())) for a, c in sorted(by_ann.items())}
    if kind in ("polygon", "mask"):
        if segmentation_method == "em":
            out["method"] = _EM_METHOD
            out["annotator_segmentation_skill"] = {
                a: {"skill": round(1.0 - e / u, 6) if u else None, "expected_errors_px": round(e, 6),
                    "region_px": int(u)} for a, (e, u) in sorted(st.em_errors.items())}
        out["area_px"] = st.area_px
        out["annotator_iou"] = {a: {"iou": round(st.inter.get(a, 0.0) / u, 6) if u else None,
                                    "intersection_px": int(st.inter.get(a, 0.0)), "union_px": int(u)}
                                for a, u in sorted(st.union.items())}
    if st.skipped:
        out["n_items_skipped"] = len(st.skipped)
        out["skipped"] = st.skipped[:50]
    return out


def check_segmentation_method(segmentation_method: str) -> None:
    """Raise :class:`InvalidAnnotationError` unless it is one of ``"vote"``, ``"em"``."""
    if segmentation_method not in SEGMENTATION_METHODS:
        raise InvalidAnnotationError(f"segmentation_method must be one of {', '.join(SEGMENTATION_METHODS)}, "
                                     f"got {segmentation_method!r}")


def region_consensus(ds: Dataset, name: str, kind: str, *, gold_items: frozenset[str], weights: AnnotatorWeights,
                     match: Matcher, iou_threshold: float, taxonomy: Taxonomy = DEFAULT_TAXONOMY,
                     human: Mapping[str, Mapping[str, list[Record]]] | None = None,
                     segmentation_method: SegmentationMethod = "vote",
                     ) -> tuple[dict[str, Any] | None, list[Discrepancy]]:
    """The report's ``consensus.<label set>`` block for a region kind other than boxes, or transcripts.

    On items without gold that at least three human annotators worked on (transcripts: two),
    the kind's kernel builds the consensus with each annotator's weight, and each annotator's
    regions are matched (``match``) to the consensus regions and classified
    (:func:`~accord.core.qa.taxonomy.classify_match`, ``against="consensus"``); an annotator who
    submitted nothing on the item misses every consensus region. Masks and polygons also give
    each annotator's pooled IoU with the fused masks (intersection and union pixels kept),
    transcripts each annotator's word error rate against the voted transcript. The label set is
    grouped once (``human``, from :meth:`Dataset.grouped` when not given): the work is linear
    in its records. ``segmentation_method="em"`` fuses masks and polygons by SegmentationEM
    (:func:`em_rasters`) instead of the weighted pixel vote; the block's ``method`` says so and
    ``annotator_segmentation_skill`` gives each annotator's pooled skill (one minus expected wrong
    pixels over the pixels anyone marked, both summed over items and labels).

    Returns:
        ``(block, discrepancies)``; ``(None, [])`` for a kind not in :data:`KINDS`.

    Raises:
        InvalidAnnotationError: ``segmentation_method`` is not one of ``"vote"``, ``"em"``.
    """
    if kind not in _METHODS:
        return None, []
    check_segmentation_method(segmentation_method)
    fuse = _fuser(kind, match=match, iou_threshold=iou_threshold, segmentation_method=segmentation_method)
    groups = ds.grouped(name, source="human") if human is None else human
    need = min_annotators(kind)
    rows = [consensus_item(ds, name, kind, item, per, weights, match=match, iou_threshold=iou_threshold,
                           taxonomy=taxonomy, segmentation_method=segmentation_method, keep_discrepancies=True,
                           fuse=fuse)
            for item, per in sorted(groups.items()) if item not in gold_items and len(per) >= need]
    return (consensus_block(kind, rows, weights, segmentation_method=segmentation_method),
            [d for row in rows for d in row.discrepancies])


def gold_weight_scores(scores: Iterable[GoldScore]) -> dict[str, float]:
    """Each annotator's gold score estimate (accuracy, F1 or word accuracy) where they were scored on gold."""
    return {s.annotator_id: float(s.score.estimate) for s in scores
            if s.score.n > 0 and math.isfinite(s.score.estimate)}


def annotator_weights_for(annotators: Iterable[str], *, gold_scores: Iterable[GoldScore],
                          consensus: Mapping[str, Any]) -> AnnotatorWeights:
    """:func:`annotator_weights` for a label set of the report: its human annotators, their gold
    scores on it, and the ``annotator_reliability`` of every class consensus block so far (in
    the report's order)."""
    return annotator_weights(sorted(set(annotators)), gold_scores=gold_weight_scores(gold_scores),
                             class_skills=class_skills_of(consensus))


def class_skills_of(consensus: Mapping[str, Any]) -> dict[str, Mapping[str, float | None]]:
    """The ``annotator_reliability`` of every class consensus block of ``consensus``, in its order
    (the ``class_skills`` of :func:`annotator_weights`)."""
    return {ls: block["annotator_reliability"] for ls, block in consensus.items()
            if isinstance(block, Mapping) and isinstance(block.get("annotator_reliability"), Mapping)}
