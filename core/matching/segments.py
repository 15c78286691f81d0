"""Time segments: temporal IoU, one-to-one matching, diarization error rate.

Segments are :class:`~accord.core.model.Segment` values, in seconds or in
frames (one unit per call). Every computation treats a segment as the interval
``[start, end)`` whose duration is ``end - start``.

The diarization error rate follows NIST's Rich Transcription definition (as
implemented by md-eval and pyannote.metrics): the timeline is cut at every
boundary; on each piece with ``r`` reference and ``c`` candidate speakers,
``max(0, r - c)`` speakers are missed, ``max(0, c - r)`` are false alarms and
``min(r, c)`` are scored, of which the ones that the optimal one-to-one
speaker mapping pairs up are correct and the rest are confusion. The mapping
maximises the total co-speaking time (Hungarian algorithm). The total is the
reference speech time, overlapping speakers counted once each.

References:
    NIST (2009), "The 2009 (RT-09) Rich Transcription Meeting Recognition
    Evaluation Plan", section 6.1.
    Bredin (2017), "pyannote.metrics: a toolkit for reproducible evaluation,
    diagnostic, and error analysis of speaker diarization systems", Interspeech.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from ..errors import InvalidAnnotationError
from ..model import Segment
from .base import MatchResult, match_similarity
from .registry import register_similarity

FloatArray = npt.NDArray[np.float64]
SegmentLabelKey: TypeAlias = Literal["label", "speaker"]

__all__ = [
    "DiarizationErrors",
    "diarization_errors",
    "match_segments",
    "segment_iou_matrix",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DiarizationErrors:
    """Components of the diarization error rate (durations in the segments' unit).

    Attributes:
        total: Reference speech time, each speaker counted (overlap counts twice).
        missed: Reference speaker time with no candidate speaker to score against.
        false_alarm: Candidate speaker time beyond the reference speakers present.
        confusion: Scored time given to a speaker other than the mapped one.
        correct: Scored time on the mapped speaker (``total - missed - confusion``).
        mapping: ``(reference_speaker, candidate_speaker)`` pairs of the optimal mapping.
    """

    total: float
    missed: float
    false_alarm: float
    confusion: float
    correct: float
    mapping: tuple[tuple[str, str], ...]

    @property
    def diarization_error_rate(self) -> float:
        """(missed + false_alarm + confusion) / total, in [0, inf); NaN when total is 0."""
        if self.total == 0:
            return float("nan")
        return (self.missed + self.false_alarm + self.confusion) / self.total

    @property
    def missed_rate(self) -> float:
        """missed / total; NaN when total is 0."""
        return self.missed / self.total if self.total else float("nan")

    @property
    def false_alarm_rate(self) -> float:
        """false_alarm / total; NaN when total is 0."""
        return self.false_alarm / self.total if self.total else float("nan")

    @property
    def confusion_rate(self) -> float:
        """confusion / total; NaN when total is 0."""
        return self.confusion / self.total if self.total else float("nan")

    def __add__(self, other: DiarizationErrors) -> DiarizationErrors:
        """Sum the components of two recordings (corpus DER = summed errors / summed total)."""
        if not isinstance(other, DiarizationErrors):
            return NotImplemented
        return DiarizationErrors(
            total=self.total + other.total, missed=self.missed + other.missed,
            false_alarm=self.false_alarm + other.false_alarm,
            confusion=self.confusion + other.confusion, correct=self.correct + other.correct,
            mapping=self.mapping + other.mapping,
        )


def _check(segments: Sequence[Segment], name: str) -> None:
    for s in segments:
        if not isinstance(s, Segment):
            raise InvalidAnnotationError(
                f"{name} must hold Segment values, got {s!r}; pass record.value of segment records"
            )


def _unit(reference: Sequence[Segment], candidate: Sequence[Segment]) -> None:
    units = {s.unit for s in reference} | {s.unit for s in candidate}
    if len(units) > 1:
        raise InvalidAnnotationError(
            f"segments mix units {sorted(units)}; convert frames to seconds (frame / fps) first"
        )


def segment_iou_matrix(reference: Sequence[Segment], candidate: Sequence[Segment]) -> FloatArray:
    """Temporal IoU between every reference and candidate segment, as (n, m).

    IoU = overlap / (duration_a + duration_b - overlap), in [0, 1], symmetric,
    1.0 for equal segments of positive duration; 0.0 when the union is empty
    (two instants).

    >>> segment_iou_matrix([Segment(start=0.0, end=2.0)], [Segment(start=1.0, end=3.0)])
    array([[0.33333333]])
    """
    _check(reference, "reference")
    _check(candidate, "candidate")
    _unit(reference, candidate)
    rs = np.array([s.start for s in reference], dtype=np.float64)
    re_ = np.array([s.end for s in reference], dtype=np.float64)
    cs = np.array([s.start for s in candidate], dtype=np.float64)
    ce = np.array([s.end for s in candidate], dtype=np.float64)
    inter = np.clip(np.minimum(re_[:, None], ce[None, :]) - np.maximum(rs[:, None], cs[None, :]),
                    0.0, None)
    union = (re_ - rs)[:, None] + (ce - cs)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def match_segments(reference: Sequence[Segment], candidate: Sequence[Segment], *,
                   iou_threshold: float = 0.5, label_key: SegmentLabelKey = "label",
                   label_aware: bool = False) -> MatchResult:
    """One-to-one matching of segments by temporal IoU (maximum total IoU).

    Args:
        reference: Gold segments of one recording.
        candidate: Segments under review.
        iou_threshold: Minimum IoU of a matched pair, in (0, 1].
        label_key: Compare ``label`` (event class) or ``speaker``.
        label_aware: Only equal labels may match; otherwise mismatches are reported.

    Returns:
        A :class:`~accord.core.matching.base.MatchResult`.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise InvalidAnnotationError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    if label_key not in ("label", "speaker"):
        raise InvalidAnnotationError(f"label_key must be 'label' or 'speaker', got {label_key!r}")
    iou = segment_iou_matrix(reference, candidate)
    return match_similarity(iou, threshold=iou_threshold,
                            reference_labels=[getattr(s, label_key) for s in reference],
                            candidate_labels=[getattr(s, label_key) for s in candidate],
                            label_aware=label_aware)


def _activity(segments: Sequence[Segment], speakers: list[str], bounds: FloatArray
              ) -> npt.NDArray[np.bool_]:
    """(n_pieces, n_speakers): whether each speaker talks during each elementary piece."""
    index = {s: k for k, s in enumerate(speakers)}
    cover = np.zeros((len(speakers), bounds.size), dtype=np.int64)
    for seg in segments:
        a = int(np.searchsorted(bounds, seg.start))
        b = int(np.searchsorted(bounds, seg.end))
        k = index[_speaker(seg)]
        cover[k, a] += 1
        cover[k, b] -= 1
    active: npt.NDArray[np.bool_] = (np.cumsum(cover, axis=1)[:, :-1] > 0).T
    return active


def _speaker(seg: Segment) -> str:
    if seg.speaker is None:
        raise InvalidAnnotationError(
            f"diarization needs a speaker on every segment, got {seg!r}; set Segment.speaker"
        )
    return seg.speaker


def diarization_errors(reference: Sequence[Segment], candidate: Sequence[Segment], *,
                       collar: float = 0.0, skip_overlap: bool = False) -> DiarizationErrors:
    """Diarization error components of one recording, with the optimal speaker mapping.

    Speaker names need not agree between the sides: the candidate speakers are
    mapped one-to-one onto the reference speakers to maximise co-speaking time.

    Args:
        reference: Gold speaker turns (``Segment.speaker`` set on each).
        candidate: Candidate speaker turns.
        collar: Time removed from scoring on *each* side of every reference
            boundary (NIST md-eval's convention, e.g. 0.25 s; pyannote's
            ``collar`` is the total width, twice this), >= 0.
        skip_overlap: Do not score regions where several reference speakers talk.

    Returns:
        A :class:`DiarizationErrors`; ``diarization_error_rate`` is NaN when there
        is no reference speech left to score.

    Raises:
        InvalidAnnotationError: A segment without speaker, mixed units, a
            negative collar.

    >>> ref = [Segment(start=0, end=10, speaker="A"), Segment(start=10, end=20, speaker="B")]
    >>> cand = [Segment(start=0, end=12, speaker="x"), Segment(start=12, end=20, speaker="y")]
    >>> diarization_errors(ref, cand).diarization_error_rate
    0.1
    """
    _check(reference, "reference")
    _check(candidate, "candidate")
    _unit(reference, candidate)
    if not collar >= 0.0:
        raise InvalidAnnotationError(f"collar must be >= 0, got {collar!r}")
    ref_spk = sorted({_speaker(s) for s in reference})
    cand_spk = sorted({_speaker(s) for s in candidate})
    edges = [s.start for s in reference] + [s.end for s in reference]
    edges += [s.start for s in candidate] + [s.end for s in candidate]
    ref_edges = np.array([s.start for s in reference] + [s.end for s in reference], dtype=np.float64)
    if collar > 0:
        edges += list(ref_edges - collar) + list(ref_edges + collar)
    bounds = np.unique(np.array(edges, dtype=np.float64))
    if bounds.size < 2:
        return DiarizationErrors(total=0.0, missed=0.0, false_alarm=0.0, confusion=0.0,
                                 correct=0.0, mapping=())
    dur = np.diff(bounds)
    ref_act = _activity(reference, ref_spk, bounds)
    cand_act = _activity(candidate, cand_spk, bounds)
    n_ref = ref_act.sum(axis=1)
    n_cand = cand_act.sum(axis=1)
    scored = np.ones(dur.size, dtype=bool)
    if collar > 0 and ref_edges.size:
        mid = (bounds[:-1] + bounds[1:]) / 2
        near = np.abs(mid[:, None] - ref_edges[None, :]) < collar
        scored &= ~near.any(axis=1)
    if skip_overlap:
        scored &= n_ref <= 1
    w = np.where(scored, dur, 0.0)
    total = float(np.dot(w, n_ref))
    missed = float(np.dot(w, np.maximum(n_ref - n_cand, 0)))
    false_alarm = float(np.dot(w, np.maximum(n_cand - n_ref, 0)))
    scored_time = float(np.dot(w, np.minimum(n_ref, n_cand)))
    mapping: list[tuple[str, str]] = []
    correct = 0.0
    if ref_spk and cand_spk:
        co = (ref_act * w[:, None]).T.astype(np.float64) @ cand_act.astype(np.float64)
        rows, cols = linear_sum_assignment(co, maximize=True)
        for i, j in zip(rows, cols, strict=True):
            if co[i, j] > 0:
                mapping.append((ref_spk[i], cand_spk[j]))
                correct += float(co[i, j])
    return DiarizationErrors(total=total, missed=missed, false_alarm=false_alarm,
                             confusion=scored_time - correct, correct=correct,
                             mapping=tuple(mapping))


register_similarity(Segment.kind, segment_iou_matrix)
