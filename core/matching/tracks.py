"""Video tracks: per-frame IoU, CLEAR-MOT matching, identity switches, MOTA, IDF1.

Two annotators' (or an annotator's and a reference's) sets of
:class:`~accord.core.model.Track` values are compared frame by frame. A track
is present on a frame when that frame is listed and not ``outside``; frames
between keyframes must be listed (interpolated by the converter) to count.
Boxes must be axis-aligned.

Per frame, matching follows CLEAR MOT (Bernardin & Stiefelhagen 2008): a
reference track keeps the candidate track it was matched to on its previous
matched frame if their IoU still reaches the threshold; the remaining tracks
are paired by the Hungarian algorithm (maximum total IoU, pairs below the
threshold forbidden). An identity switch is counted on a frame where a
reference track is matched to a different candidate track than on its
previous matched frame (gaps in between do not reset it, as in py-motmetrics).

Summary scores:

* MOTA = 1 - (misses + false positives + identity switches) / reference boxes;
* MOTP (here ``mean_iou``) = mean IoU of the matched boxes;
* IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN) with the one-to-one track
  assignment that maximises the number of frames on which the paired boxes
  overlap by at least the threshold (Ristani et al. 2016);
* per matched track pair, the mean IoU over the union of the two tracks'
  frames (a frame where only one track is present scores 0).

References:
    Bernardin & Stiefelhagen (2008), "Evaluating Multiple Object Tracking
    Performance: The CLEAR MOT Metrics", EURASIP JIVP.
    Ristani et al. (2016), "Performance Measures and a Data Set for Multi-Target,
    Multi-Camera Tracking", ECCV workshops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from ..errors import InvalidAnnotationError
from ..model import Track
from .base import box_iou_matrix, match_similarity
from .registry import register_similarity

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = [
    "IdentitySwitch",
    "TrackComparison",
    "TrackPairAgreement",
    "compare_tracks",
    "per_frame_iou",
    "track_iou_matrix",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentitySwitch:
    """A reference track matched to a new candidate track on ``frame``."""

    frame: int
    reference_track_id: str
    previous_candidate_track_id: str
    candidate_track_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackPairAgreement:
    """Agreement of one reference track with its assigned candidate track.

    Attributes:
        reference_track_id / candidate_track_id: The pair (IDF1 assignment).
        mean_iou: Mean per-frame IoU over the union of their frames, in [0, 1].
        n_frames_union: Frames where either track is present.
        n_frames_both: Frames where both are present.
        n_frames_matched: Frames where both are present with IoU >= threshold (IDTP share).
    """

    reference_track_id: str
    candidate_track_id: str
    mean_iou: float
    n_frames_union: int
    n_frames_both: int
    n_frames_matched: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackComparison:
    """CLEAR-MOT and identity counts of candidate tracks against reference tracks.

    Attributes:
        n_frames: Frames where any track is present.
        n_reference: Reference boxes (track-frames) in total.
        n_candidate: Candidate boxes in total.
        matches: Matched box pairs over all frames.
        misses: Reference boxes left unmatched (false negatives).
        false_positives: Candidate boxes left unmatched.
        iou_sum: Sum of the IoU of matched pairs.
        switches: The identity switches, in frame order.
        idtp / idfn / idfp: Identity true positives, false negatives, false positives.
        pairs: Per-pair agreement for the IDF1 track assignment.
    """

    n_frames: int
    n_reference: int
    n_candidate: int
    matches: int
    misses: int
    false_positives: int
    iou_sum: float
    switches: tuple[IdentitySwitch, ...]
    idtp: int
    idfn: int
    idfp: int
    pairs: tuple[TrackPairAgreement, ...]

    @property
    def id_switches(self) -> int:
        """Number of identity switches."""
        return len(self.switches)

    @property
    def mota_score(self) -> float:
        """MOTA in (-inf, 1]; NaN without reference boxes."""
        if self.n_reference == 0:
            return float("nan")
        return 1.0 - (self.misses + self.false_positives + self.id_switches) / self.n_reference

    @property
    def mean_iou(self) -> float:
        """MOTP as mean IoU of matched boxes, in [0, 1]; NaN when nothing matched."""
        return self.iou_sum / self.matches if self.matches else float("nan")

    @property
    def idf1_score(self) -> float:
        """IDF1 in [0, 1]; NaN when both sides are empty."""
        denom = 2 * self.idtp + self.idfp + self.idfn
        return 2 * self.idtp / denom if denom else float("nan")


def _boxes(tracks: Sequence[Track], name: str) -> dict[int, tuple[list[int], list[tuple[float, ...]]]]:
    """frame -> (track indices, xyxy boxes) of the tracks present there."""
    ids = [t.track_id for t in tracks if isinstance(t, Track)]
    if len(ids) != len(tracks):
        bad = next(t for t in tracks if not isinstance(t, Track))
        raise InvalidAnnotationError(f"{name} must hold Track values, got {bad!r}")
    if len(set(ids)) != len(ids):
        raise InvalidAnnotationError(
            f"{name} track ids must be unique, got {sorted(ids)!r}; merge or rename duplicate tracks"
        )
    out: dict[int, tuple[list[int], list[tuple[float, ...]]]] = {}
    for k, t in enumerate(tracks):
        for f in t.frames:
            if f.outside:
                continue
            if f.rotation != 0.0:
                raise InvalidAnnotationError(
                    f"track {t.track_id!r} has a rotated box at frame {f.frame} "
                    f"(rotation={f.rotation!r}); track comparison needs axis-aligned boxes"
                )
            idx, bx = out.setdefault(f.frame, ([], []))
            idx.append(k)
            bx.append((f.x, f.y, f.x + f.width, f.y + f.height))
    return out


def per_frame_iou(reference: Sequence[Track], candidate: Sequence[Track]
                  ) -> tuple[IntArray, FloatArray]:
    """Box IoU between every reference and candidate track on every frame.

    Returns:
        ``(frames, iou)``: the sorted frame numbers where any track is present,
        and an array (n_frames, n_reference, n_candidate) of IoU in [0, 1], NaN
        where either track is absent on that frame.
    """
    ref, cand = _boxes(reference, "reference"), _boxes(candidate, "candidate")
    frames = np.array(sorted(set(ref) | set(cand)), dtype=np.int64)
    out = np.full((frames.size, len(reference), len(candidate)), np.nan)
    for k, fr in enumerate(frames.tolist()):
        if fr in ref and fr in cand:
            ri, rb = ref[fr]
            ci, cb = cand[fr]
            out[k][np.ix_(ri, ci)] = box_iou_matrix(rb, cb)
    return frames, out


def track_iou_matrix(reference: Sequence[Track], candidate: Sequence[Track]) -> FloatArray:
    """Track-level similarity: mean per-frame box IoU over the union of the two tracks' frames.

    A frame where only one of the two tracks is present scores 0, so the value
    is in [0, 1], symmetric, and 1.0 only for tracks with equal boxes on equal
    frames. Two tracks with no visible frame have similarity 0. Labels are ignored.

    Returns:
        An (n_reference, n_candidate) array.
    """
    frames, iou = per_frame_iou(reference, candidate)
    present_r = np.zeros((frames.size, len(reference)), dtype=bool)
    present_c = np.zeros((frames.size, len(candidate)), dtype=bool)
    pos = {int(f): k for k, f in enumerate(frames.tolist())}
    for present, tracks in ((present_r, reference), (present_c, candidate)):
        for j, t in enumerate(tracks):
            for f in t.frames:
                if not f.outside:
                    present[pos[f.frame], j] = True
    either = (present_r[:, :, None] | present_c[:, None, :]).sum(axis=0)
    total = np.nan_to_num(iou, nan=0.0).sum(axis=0)
    out: FloatArray = np.where(either > 0, total / np.maximum(either, 1), 0.0)
    return out


def compare_tracks(reference: Sequence[Track], candidate: Sequence[Track], *,
                   iou_threshold: float = 0.5) -> TrackComparison:
    """CLEAR-MOT matching, identity switches, MOTA, IDF1 and per-pair agreement.

    Args:
        reference: Reference (gold) tracks of one video.
        candidate: Candidate tracks of the same video.
        iou_threshold: Minimum IoU for two boxes to correspond, in (0, 1].

    Returns:
        A :class:`TrackComparison`.

    Raises:
        InvalidAnnotationError: Duplicate track ids, rotated boxes, a threshold
            outside (0, 1].

    >>> from accord.core.model import TrackFrame
    >>> def t(i, xs):
    ...     return Track(label="car", track_id=i, frames=tuple(
    ...         TrackFrame(frame=f, x=x, y=0, width=10, height=10) for f, x in enumerate(xs)))
    >>> ref = [t("a", [0, 0, 0]), t("b", [50, 50, 50])]
    >>> cand = [t("1", [0, 0, 50]), t("2", [50, 50, 0])]  # ids swapped on frame 2
    >>> r = compare_tracks(ref, cand)
    >>> (r.id_switches, round(r.mota_score, 4), round(r.idf1_score, 4))
    (2, 0.6667, 0.6667)
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise InvalidAnnotationError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    frames, iou = per_frame_iou(reference, candidate)
    n_r, n_c = len(reference), len(candidate)
    present_r = np.zeros((frames.size, n_r), dtype=bool)
    present_c = np.zeros((frames.size, n_c), dtype=bool)
    ref_boxes, cand_boxes = _boxes(reference, "reference"), _boxes(candidate, "candidate")
    for k, fr in enumerate(frames.tolist()):
        if fr in ref_boxes:
            present_r[k, ref_boxes[fr][0]] = True
        if fr in cand_boxes:
            present_c[k, cand_boxes[fr][0]] = True

    last: dict[int, int] = {}
    matches = 0
    iou_sum = 0.0
    switches: list[IdentitySwitch] = []
    for k, fr in enumerate(frames.tolist()):
        rows = np.flatnonzero(present_r[k])
        cols = np.flatnonzero(present_c[k])
        sim = iou[k][np.ix_(rows, cols)] if rows.size and cols.size else np.zeros((rows.size, cols.size))
        pairs: list[tuple[int, int]] = []
        # Keep last frame's correspondences that still hold (CLEAR MOT).
        kept_r: set[int] = set()
        kept_c: set[int] = set()
        col_pos = {int(c): p for p, c in enumerate(cols)}
        for p, r in enumerate(rows.tolist()):
            c = last.get(r)
            if c is not None and c in col_pos and c not in kept_c and sim[p, col_pos[c]] >= iou_threshold:
                pairs.append((r, c))
                kept_r.add(r)
                kept_c.add(c)
        free_r = [p for p, r in enumerate(rows.tolist()) if r not in kept_r]
        free_c = [p for p, c in enumerate(cols.tolist()) if c not in kept_c]
        if free_r and free_c:
            res = match_similarity(sim[np.ix_(free_r, free_c)], threshold=iou_threshold)
            pairs.extend((int(rows[free_r[i]]), int(cols[free_c[j]])) for i, j in res.pairs)
        for r, c in pairs:
            prev = last.get(r)
            if prev is not None and prev != c:
                switches.append(IdentitySwitch(
                    frame=fr, reference_track_id=reference[r].track_id,
                    previous_candidate_track_id=candidate[prev].track_id,
                    candidate_track_id=candidate[c].track_id))
            last[r] = c
            matches += 1
            iou_sum += float(iou[k, r, c])

    n_ref_boxes = int(present_r.sum())
    n_cand_boxes = int(present_c.sum())
    # IDF1: one-to-one track assignment maximising frames with IoU >= threshold.
    hits = np.nan_to_num(iou, nan=0.0) >= iou_threshold
    co = hits.sum(axis=0).astype(np.float64) if frames.size else np.zeros((n_r, n_c))
    agreements: list[TrackPairAgreement] = []
    idtp = 0
    if n_r and n_c:
        rr, cc = linear_sum_assignment(co, maximize=True)
        for r, c in sorted(zip(rr.tolist(), cc.tolist(), strict=True)):
            if co[r, c] <= 0:
                continue
            idtp += int(co[r, c])
            either = present_r[:, r] | present_c[:, c]
            both = present_r[:, r] & present_c[:, c]
            vals = np.where(both, np.nan_to_num(iou[:, r, c], nan=0.0), 0.0)[either]
            agreements.append(TrackPairAgreement(
                reference_track_id=reference[r].track_id, candidate_track_id=candidate[c].track_id,
                mean_iou=float(vals.mean()), n_frames_union=int(either.sum()),
                n_frames_both=int(both.sum()), n_frames_matched=int(co[r, c])))
    return TrackComparison(
        n_frames=int(frames.size), n_reference=n_ref_boxes, n_candidate=n_cand_boxes,
        matches=matches, misses=n_ref_boxes - matches, false_positives=n_cand_boxes - matches,
        iou_sum=iou_sum, switches=tuple(switches), idtp=idtp, idfn=n_ref_boxes - idtp,
        idfp=n_cand_boxes - idtp, pairs=tuple(agreements))


register_similarity(Track.kind, track_iou_matrix)
