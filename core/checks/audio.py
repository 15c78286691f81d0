"""Audio checks on time segments (``unit="s"``).

* ``audio.beyond_duration``: segments starting before 0 or ending after the item's
  ``duration_s`` by more than ``tolerance_s``.
* ``audio.speaker_overlap``: two segments of one submission, label set and speaker
  (the label when no speaker is set) overlapping by more than ``tolerance_s``.
* ``audio.gap_overlap``: in one submission and label set, a silence between
  consecutive segments longer than ``max_gap_s``, or an overlap longer than
  ``max_overlap_s`` (any speakers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from ..model import Record, Segment
from .base import BOUNDARY_ERROR, EXTRA_OBJECT, CheckConfig, CheckContext, Finding, finding
from .registry import register_check
from .text import overlapping_in_groups, running_max_in_groups

Arr = npt.NDArray[Any]


def _segments(ctx: CheckContext) -> list[Record]:
    return [r for r in ctx.records("segment") if isinstance(r.value, Segment) and r.value.unit == "s"]


def _bounds(recs: list[Record]) -> tuple[Arr, Arr]:
    s = np.array([r.value.start for r in recs if isinstance(r.value, Segment)], dtype=np.float64)
    e = np.array([r.value.end for r in recs if isinstance(r.value, Segment)], dtype=np.float64)
    return s, e


def check_beyond_duration(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Segments outside ``[0, duration_s]``."""
    tol = float(cfg["tolerance_s"])
    for r in _segments(ctx):
        v = r.value
        if not isinstance(v, Segment):  # pragma: no cover
            continue
        it = ctx.item(r.item_id)
        dur = it.duration_s if it is not None else None
        if v.start < -tol or (dur is not None and v.end > dur + tol):
            yield finding(cfg.name, cfg, r, category=BOUNDARY_ERROR,
                          evidence={"start_s": v.start, "end_s": v.end, "duration_s": dur},
                          message=f"segment [{v.start:.2f}, {v.end:.2f}] s lies outside the file "
                                  f"(duration {dur if dur is not None else 'unknown'} s)")


def _codes(recs: list[Record], *, with_speaker: bool) -> Arr:
    codes: dict[tuple[str | None, ...], int] = {}
    out = np.empty(len(recs), dtype=np.int64)
    for i, r in enumerate(recs):
        v = r.value
        who = (getattr(v, "speaker", None) or getattr(v, "label", None)) if with_speaker else None
        out[i] = codes.setdefault((r.item_id, r.annotator_id, r.source, r.label_set, who), len(codes))
    return out


def check_speaker_overlap(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Overlapping segments of the same speaker."""
    recs = _segments(ctx)
    if len(recs) < 2:
        return
    s, e = _bounds(recs)
    idx, ov = overlapping_in_groups(_codes(recs, with_speaker=True), s, e, tolerance=float(cfg["tolerance_s"]))
    for k, o in zip(idx, ov, strict=True):
        r = recs[k]
        who = getattr(r.value, "speaker", None) or r.label
        yield finding(cfg.name, cfg, r, category=EXTRA_OBJECT, evidence={"overlap_s": float(o), "speaker": who},
                      message=f"segment overlaps another segment of speaker {who!r} by {o:.2f} s")


def check_gap_overlap(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Long silences and long overlaps between consecutive segments."""
    recs = _segments(ctx)
    if len(recs) < 2:
        return
    max_gap, max_overlap = float(cfg["max_gap_s"]), float(cfg["max_overlap_s"])
    s, e = _bounds(recs)
    g = _codes(recs, with_speaker=False)
    order = np.lexsort((s, g))
    gs, ss, es = g[order], s[order], e[order]
    runmax = running_max_in_groups(gs, es)  # exact, whatever partition of the items this is
    same = gs[1:] == gs[:-1]
    gap = ss[1:] - runmax[:-1]
    overlap = np.minimum(runmax[:-1], es[1:]) - ss[1:]
    for k in np.flatnonzero(same & ((gap > max_gap) | (overlap > max_overlap))):
        r = recs[order[k + 1]]
        what, d = ("gap", float(gap[k])) if gap[k] > 0 else ("overlap", float(overlap[k]))
        yield finding(cfg.name, cfg, r, category=BOUNDARY_ERROR, evidence={f"{what}_s": d},
                      message=f"{d:.2f} s {what} before this segment")


def register() -> None:
    """Register the audio checks."""
    register_check("audio.beyond_duration", kinds=("segment",), fn=check_beyond_duration, severity="major",
                   params={"tolerance_s": 0.05}, description="segments outside the file's duration")
    register_check("audio.speaker_overlap", kinds=("segment",), fn=check_speaker_overlap, severity="minor",
                   params={"tolerance_s": 0.0}, description="overlapping segments of the same speaker")
    register_check("audio.gap_overlap", kinds=("segment",), fn=check_gap_overlap, severity="info",
                   params={"max_gap_s": 5.0, "max_overlap_s": 1.0},
                   description="long silences or long overlaps between consecutive segments")
