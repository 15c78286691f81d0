"""Video tracks compared frame by frame: precision, recall, IoU, identity switches, missed frames.

For every video item of a label set holding :class:`~accord.core.model.Track` values,
each pair of annotators (the first in sorted order as the reference side) and each
annotator against the reference tracks (when the item has some) are compared with
:func:`accord.core.matching.tracks.compare_tracks` (CLEAR-MOT matching per frame).
Counts are summed over items per comparison, and the rates recomputed from the sums:

* frame-level precision ``matches / candidate boxes`` and recall ``matches / reference
  boxes`` (Wilson intervals), mean IoU of matched boxes, MOTA, IDF1;
* identity switches, each with its frame;
* missed frames: per reference track, the frames where it is visible and no candidate
  box overlaps it by ``iou_threshold`` (as runs ``[first, last]``). A track that the other
  side never overlaps at all is a missing object, not missed frames (the region matching
  and gold scoring count it).

Discrepancies (taxonomy events ``identity_switch`` -> "track identity switch" and
``missed_frames`` -> "missed frames"): against the reference where the item has one;
otherwise between annotators, where nobody is known to be right: missed frames are
charged to the annotator who lacks the boxes (``against="annotator:<other>"``), and a
pair's identity switches once, to the second annotator of the pair.

Tracks with rotated boxes cannot be compared (``compare_tracks`` needs axis-aligned
boxes): such a comparison is listed in :attr:`TrackReport.skipped` with the reason.

The work splits by item: :func:`track_item` compares one item's sides and :func:`combine_items`
sums items' rows in item-id order (:func:`track_agreement` is the two in one process; the report's
:class:`~accord.core.report.attributes.TracksSection` runs :func:`track_item` per partition).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from ..matching.tracks import IdentitySwitch, compare_tracks, per_frame_iou
from ..model import Dataset, Record, Track
from .intervals import Rate, rate
from .taxonomy import DEFAULT_TAXONOMY, Discrepancy, Taxonomy

__all__ = ["ItemTrackRow", "MissedFrames", "TrackPairQA", "TrackReport", "TrackSwitch", "combine_items", "frame_runs",
           "track_agreement", "track_item"]

Comparison: TypeAlias = Literal["annotators", "reference"]
REFERENCE_ID = "reference"


def frame_runs(frames: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Sorted frame numbers as runs of consecutive frames ``(first, last)``.

    >>> frame_runs([3, 4, 5, 9, 11, 12])
    ((3, 5), (9, 9), (11, 12))
    """
    out: list[tuple[int, int]] = []
    for f in sorted(set(frames)):
        if out and f == out[-1][1] + 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackSwitch:
    """An identity switch found on one item."""

    item_id: str
    switch: IdentitySwitch


@dataclass(frozen=True, slots=True, kw_only=True)
class MissedFrames:
    """Frames of one track the other side does not cover.

    Attributes:
        item_id: The video.
        annotator_id: Who lacks the boxes (the side that did not draw them).
        track_id: The track whose frames are not covered.
        partner_track_id: The other side's track assigned to it (IDF1 assignment).
        frames: The uncovered frame numbers, sorted.
    """

    item_id: str
    annotator_id: str
    track_id: str
    partner_track_id: str
    frames: tuple[int, ...]

    @property
    def runs(self) -> tuple[tuple[int, int], ...]:
        return frame_runs(self.frames)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackPairQA:
    """One comparison (two annotators, or an annotator vs the reference), summed over items.

    Attributes:
        comparison / reference_id / candidate_id: The two sides.
        n_items: Videos compared.
        n_frames: Frames where either side has a box (summed over items).
        n_reference / n_candidate: Boxes (track-frames) on each side.
        matches / misses / false_positives: CLEAR-MOT counts.
        iou_sum: Summed IoU of matched boxes.
        idtp / idfn / idfp: Identity counts (IDF1).
        switches: Identity switches, by item and frame.
        missed: Missed-frame runs, both directions (see :class:`MissedFrames`).
    """

    comparison: Comparison
    reference_id: str
    candidate_id: str
    n_items: int
    n_frames: int
    n_reference: int
    n_candidate: int
    matches: int
    misses: int
    false_positives: int
    iou_sum: float
    idtp: int
    idfn: int
    idfp: int
    switches: tuple[TrackSwitch, ...]
    missed: tuple[MissedFrames, ...]

    @property
    def precision(self) -> Rate:
        """Frame-level precision ``matches / n_candidate`` with its Wilson interval."""
        return rate(self.matches, self.n_candidate)

    @property
    def recall(self) -> Rate:
        """Frame-level recall ``matches / n_reference`` with its Wilson interval."""
        return rate(self.matches, self.n_reference)

    @property
    def mean_iou(self) -> float:
        """Mean IoU of matched boxes in [0, 1]; NaN when nothing matched."""
        return self.iou_sum / self.matches if self.matches else math.nan

    @property
    def mota_score(self) -> float:
        """MOTA in (-inf, 1]; NaN without reference boxes."""
        if not self.n_reference:
            return math.nan
        return 1.0 - (self.misses + self.false_positives + len(self.switches)) / self.n_reference

    @property
    def idf1_score(self) -> float:
        """IDF1 in [0, 1]; NaN when both sides are empty."""
        denom = 2 * self.idtp + self.idfp + self.idfn
        return 2 * self.idtp / denom if denom else math.nan

    @property
    def n_missed_frames(self) -> int:
        return sum(len(m.frames) for m in self.missed)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackReport:
    """Track comparisons of one label set.

    Attributes:
        label_set: The label set.
        iou_threshold: Box IoU needed for two boxes to correspond.
        pairs: One :class:`TrackPairQA` per comparison, sorted (annotator pairs, then vs reference).
        discrepancies: Classified identity switches and missed frames.
        skipped: ``(item_id, reference_id, candidate_id, reason)`` of comparisons that could not run.
    """

    label_set: str
    iou_threshold: float
    pairs: tuple[TrackPairQA, ...]
    discrepancies: tuple[Discrepancy, ...]
    skipped: tuple[tuple[str, str, str, str], ...]


def _tracks(records: Sequence[Record]) -> tuple[list[Track], dict[str, Record]]:
    tracks = [r.value for r in records if isinstance(r.value, Track)]
    return tracks, {r.value.track_id: r for r in records if isinstance(r.value, Track)}


def _uncovered(ref: Sequence[Track], cand: Sequence[Track], iou: npt.NDArray[np.float64],
               frames: npt.NDArray[np.int64],
               threshold: float, axis: int) -> dict[int, tuple[int, ...]]:
    """Per track index of one side: visible frames where no track of the other side reaches the threshold."""
    tracks = ref if axis == 0 else cand
    pos = {int(f): k for k, f in enumerate(frames.tolist())}
    hit: npt.NDArray[np.bool_] = np.asarray(np.nan_to_num(iou, nan=0.0) >= threshold)  # (frames, ref, cand)
    covered = np.asarray(hit.any(axis=2) if axis == 0 else hit.any(axis=1), dtype=bool)  # (frames, this side)
    out: dict[int, tuple[int, ...]] = {}
    for j, t in enumerate(tracks):
        miss = tuple(f for f in sorted(t.visible_frames()) if not covered[pos[f], j])
        if miss:
            out[j] = miss
    return out


@dataclass(slots=True)
class _Sum:
    n_items: int = 0
    n_frames: int = 0
    n_reference: int = 0
    n_candidate: int = 0
    matches: int = 0
    misses: int = 0
    false_positives: int = 0
    iou_sum: float = 0.0
    idtp: int = 0
    idfn: int = 0
    idfp: int = 0
    switches: list[TrackSwitch] = field(default_factory=list)
    missed: list[MissedFrames] = field(default_factory=list)


def track_agreement(dataset: Dataset, label_set: str, *, iou_threshold: float = 0.5,
                    taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> TrackReport:
    """Frame-by-frame comparison of the tracks of every annotator pair and of each annotator vs the reference.

    Args:
        dataset: Records of ``label_set`` holding :class:`Track` values (one item per video).
        label_set: The label set.
        iou_threshold: Box IoU for two boxes to correspond, in (0, 1].
        taxonomy: Classifies ``identity_switch`` and ``missed_frames`` events.

    Returns:
        A :class:`TrackReport` (no pairs when fewer than two sides have tracks).

    Raises:
        InvalidAnnotationError: ``iou_threshold`` outside (0, 1].

    >>> from accord.core.model import TrackFrame
    >>> def rec(who, tid, xs):
    ...     frames = tuple(TrackFrame(frame=f, x=x, y=0, width=10, height=10) for f, x in enumerate(xs)
    ...                    if x is not None)
    ...     return Record(item_id="clip", annotator_id=who, label_set="tracks", region_id=tid,
    ...                   value=Track(label="car", track_id=tid, frames=frames))
    >>> ds = Dataset(records=(rec("ann1", "a", [0, 0, 0, 0]), rec("ann2", "1", [0, None, None, 0])))
    >>> r = track_agreement(ds, "tracks")
    >>> [(m.annotator_id, m.runs) for m in r.pairs[0].missed]
    [('ann2', ((1, 2),))]
    >>> [d.category for d in r.discrepancies]
    ['missed_frames']
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise InvalidAnnotationError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    human = dataset.grouped(label_set, source="human")
    reference: dict[str, list[Record]] = {}
    for item, per in dataset.grouped(label_set, source="reference").items():
        for rs in per.values():
            reference.setdefault(item, []).extend(rs)
    rows = [track_item(item, human.get(item, {}), reference.get(item, []), label_set=label_set,
                       iou_threshold=iou_threshold, taxonomy=taxonomy)
            for item in sorted(set(human) | set(reference))]
    return combine_items(rows, label_set=label_set, iou_threshold=iou_threshold)


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemTrackRow:
    """What one item adds to a :class:`TrackReport` (plain, picklable data).

    Attributes:
        item_id: The video.
        sums: ``((comparison, reference_id, candidate_id), counts, iou_sum, switches, missed)`` per
            comparison run on the item, ``counts`` being ``(n_frames, n_reference, n_candidate, matches,
            misses, false_positives, idtp, idfn, idfp)``.
        skipped: ``(item_id, reference_id, candidate_id, reason)`` of comparisons that could not run.
        discrepancies: The item's classified events, their evidence a plain dict (a mapping proxy
            does not pickle; :func:`combine_items` wraps it again).
    """

    item_id: str
    sums: tuple[tuple[tuple[Comparison, str, str], tuple[int, ...], float, tuple[TrackSwitch, ...],
                      tuple[MissedFrames, ...]], ...]
    skipped: tuple[tuple[str, str, str, str], ...]
    discrepancies: tuple[Discrepancy, ...]


def track_item(item: str, human: Mapping[str, Sequence[Record]], reference: Sequence[Record], *,
               label_set: str, iou_threshold: float, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> ItemTrackRow:
    """The comparisons of one item (:func:`track_agreement` sums them over items in item-id order).

    Args:
        item: The item id.
        human: ``{annotator_id: records}`` of the item's human annotators in ``label_set``.
        reference: The item's reference records in ``label_set`` (empty without gold).
        label_set / iou_threshold / taxonomy: As in :func:`track_agreement`.
    """
    found: list[Discrepancy] = []
    skipped: list[tuple[str, str, str, str]] = []
    sums: list[tuple[tuple[Comparison, str, str], tuple[int, ...], float, tuple[TrackSwitch, ...],
                     tuple[MissedFrames, ...]]] = []

    def emit(event: str, who: str, against: str, ref: Record | None, cand: Record | None,
             evidence: Mapping[str, object]) -> None:
        label = ref.value.label if ref is not None and isinstance(ref.value, Track) else None
        hit = taxonomy.classify(event=event, kind="track", label=label, label_set=label_set)
        if hit is None:
            return
        found.append(Discrepancy(
            category=hit[0], severity=hit[1], event=event, item_id=item, label_set=label_set, annotator_id=who,
            against=against, kind="track", reference_region_id=ref.region_id if ref else None,
            candidate_region_id=cand.region_id if cand else None, reference_label=label,
            candidate_label=cand.value.label if cand is not None and isinstance(cand.value, Track) else None,
            evidence=dict(evidence)))

    per = {a: list(rs) for a, rs in human.items() if any(isinstance(r.value, Track) for r in rs)}
    has_gold = bool(reference)
    sides: list[tuple[Comparison, str, str, list[Record], list[Record]]] = [
        ("annotators", a, b, per[a], per[b]) for a, b in itertools.combinations(sorted(per), 2)]
    if has_gold:
        sides += [("reference", REFERENCE_ID, a, list(reference), per[a]) for a in sorted(per)]
    for comparison, a, b, ra, rb in sides:
        ref_tracks, ref_rec = _tracks(ra)
        cand_tracks, cand_rec = _tracks(rb)
        if not ref_tracks and not cand_tracks:
            continue
        try:
            res = compare_tracks(ref_tracks, cand_tracks, iou_threshold=iou_threshold)
            frames, iou = per_frame_iou(ref_tracks, cand_tracks)
        except InvalidAnnotationError as e:
            skipped.append((item, a, b, str(e)))
            continue
        switches = tuple(TrackSwitch(item_id=item, switch=sw) for sw in res.switches)
        missed: list[MissedFrames] = []
        # Between annotators, blame only where no reference decides; vs the reference, always.
        blame = comparison == "reference" or not has_gold
        against_b = "reference" if comparison == "reference" else f"annotator:{a}"
        if blame:
            for sw in res.switches:
                emit("identity_switch", b, against_b, ref_rec.get(sw.reference_track_id),
                     cand_rec.get(sw.candidate_track_id),
                     {"frame": sw.frame, "previous_candidate_track_id": sw.previous_candidate_track_id,
                      "candidate_track_id": sw.candidate_track_id})
        partner = {p.reference_track_id: p.candidate_track_id for p in res.pairs}
        partner_of_cand = {c: r for r, c in partner.items()}
        directions = [(0, ref_tracks, b, partner, ref_rec, cand_rec, against_b)]
        if comparison == "annotators":
            directions.append((1, cand_tracks, a, partner_of_cand, cand_rec, ref_rec, f"annotator:{b}"))
        for axis, tracks, who, partners, own, other, against in directions:
            for j, miss in _uncovered(ref_tracks, cand_tracks, iou, frames, iou_threshold, axis).items():
                tid = tracks[j].track_id
                if tid not in partners:
                    continue  # never overlapped: a missing object, counted by region matching
                m = MissedFrames(item_id=item, annotator_id=who, track_id=tid, partner_track_id=partners[tid],
                                 frames=miss)
                missed.append(m)
                if blame:
                    emit("missed_frames", who, against, own.get(tid), other.get(partners[tid]),
                         {"n_frames": len(miss), "runs": [list(r) for r in m.runs[:20]], "track_id": tid})
        counts = (res.n_frames, res.n_reference, res.n_candidate, res.matches, res.misses, res.false_positives,
                  res.idtp, res.idfn, res.idfp)
        sums.append(((comparison, a, b), counts, res.iou_sum, switches, tuple(missed)))
    return ItemTrackRow(item_id=item, sums=tuple(sums), skipped=tuple(skipped), discrepancies=tuple(found))


def combine_items(rows: Sequence[ItemTrackRow], *, label_set: str, iou_threshold: float) -> TrackReport:
    """The :class:`TrackReport` of per-item rows, summed in the order given (item-id order in
    :func:`track_agreement`: the IoU sums are float additions in that order)."""
    sums: dict[tuple[Comparison, str, str], _Sum] = {}
    skipped: list[tuple[str, str, str, str]] = []
    found: list[Discrepancy] = []
    for row in rows:
        for key, counts, iou_sum, switches, missed in row.sums:
            s = sums.setdefault(key, _Sum())
            n_frames, n_ref, n_cand, matches, misses, fps, idtp, idfn, idfp = counts
            s.n_items += 1
            s.n_frames += n_frames
            s.n_reference += n_ref
            s.n_candidate += n_cand
            s.matches += matches
            s.misses += misses
            s.false_positives += fps
            s.iou_sum += iou_sum
            s.idtp += idtp
            s.idfn += idfn
            s.idfp += idfp
            s.switches.extend(switches)
            s.missed.extend(missed)
        skipped.extend(row.skipped)
        found.extend(replace(d, evidence=MappingProxyType(dict(d.evidence))) for d in row.discrepancies)
    pairs = tuple(TrackPairQA(
        comparison=c, reference_id=a, candidate_id=b, n_items=s.n_items, n_frames=s.n_frames,
        n_reference=s.n_reference, n_candidate=s.n_candidate, matches=s.matches, misses=s.misses,
        false_positives=s.false_positives, iou_sum=s.iou_sum, idtp=s.idtp, idfn=s.idfn, idfp=s.idfp,
        switches=tuple(s.switches), missed=tuple(s.missed))
        for (c, a, b), s in sorted(sums.items(), key=lambda kv: (kv[0][0] == "reference", kv[0][1], kv[0][2])))
    return TrackReport(label_set=label_set, iou_threshold=iou_threshold, pairs=pairs, discrepancies=tuple(found),
                       skipped=tuple(skipped))
