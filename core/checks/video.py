"""Video track checks.

Tracks list every frame (the converters interpolate between keyframes); a frame
with ``outside`` set means the object left the view.

* ``video.missing_frames``: frame numbers skipped inside a track without the
  object having been marked ``outside``.
* ``video.track_jump``: centre displacement per frame, in units of the box's size
  (``sqrt(w * h)``), that is an outlier: above ``min_speed`` and above
  ``median + z_threshold * 1.4826 * MAD`` of every step in the dataset.
* ``video.size_change``: box area changing by more than a factor ``max_ratio`` per frame.
* ``video.fragmented``: a track starting within ``max_gap_frames`` after another track
  of the same submission and label ended, at the place it ended (IoU of the last and
  first boxes at least ``min_iou``): one object split into several tracks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..model import Record, Track, TrackFrame
from .base import (
    MAD_TO_SD,
    MISSED_FRAMES,
    POOR_LOCALIZATION,
    TRACK_IDENTITY_SWITCH,
    CheckConfig,
    CheckContext,
    Finding,
    finding,
)
from .registry import register_check

Arr = npt.NDArray[Any]


def _tracks(ctx: CheckContext) -> list[tuple[Record, Track]]:
    return [(r, r.value) for r in ctx.records("track") if isinstance(r.value, Track)]


def frame_step(meta: Mapping[str, object] | None) -> int:
    """The frame step of a video item: CVAT's ``frame_filter`` ``step=N`` in its metadata, else 1.

    A CVAT task with ``step=3`` numbers its frames 10, 13, 16, ...: those are consecutive frames.
    """
    raw = (meta or {}).get("frame_filter")
    if isinstance(raw, str):
        for part in raw.replace(",", ";").split(";"):
            key, _, value = part.partition("=")
            if key.strip() == "step" and value.strip().isdigit() and int(value) >= 1:
                return int(value)
    return 1


def check_missing_frames(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Gaps inside a track that are not explained by an ``outside`` frame (in the task's frame step)."""
    for r, t in _tracks(ctx):
        item = ctx.item(r.item_id)
        step = frame_step(item.meta if item is not None else None)
        gaps: list[tuple[int, int]] = []
        n = 0
        for a, b in zip(t.frames, t.frames[1:], strict=False):
            if b.frame - a.frame > step and not a.outside:
                gaps.append((a.frame + step, b.frame - step))
                n += (b.frame - a.frame + step - 1) // step - 1
        if gaps:
            yield finding(cfg.name, cfg, r, category=MISSED_FRAMES,
                          evidence={"track_id": t.track_id, "n_missing": n, "ranges": gaps[:20]},
                          message=f"track {t.track_id!r} skips {n} frame(s) without being marked outside")


def _steps(tracks: list[tuple[Record, Track]]) -> tuple[Arr, Arr, Arr, Arr]:
    """Per consecutive visible frame pair: owner index, frame, normalized speed, |log area ratio| per frame."""
    owner: list[int] = []
    frame: list[int] = []
    speed: list[float] = []
    logratio: list[float] = []
    for k, (_, t) in enumerate(tracks):
        vis: list[TrackFrame] = [f for f in t.frames if not f.outside]
        if len(vis) < 2:
            continue
        arr = np.array([(f.frame, f.x + f.width / 2, f.y + f.height / 2, f.width * f.height) for f in vis])
        dt = np.diff(arr[:, 0])
        size = np.sqrt(np.maximum((arr[1:, 3] + arr[:-1, 3]) / 2, 1e-12))
        disp = np.hypot(np.diff(arr[:, 1]), np.diff(arr[:, 2]))
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.abs(np.log(arr[1:, 3] / arr[:-1, 3])) / dt
        owner.extend([k] * len(dt))
        frame.extend(arr[1:, 0].astype(int).tolist())
        speed.extend((disp / size / dt).tolist())
        logratio.extend(np.where(np.isfinite(lr), lr, 0.0).tolist())
    return (np.asarray(owner, dtype=np.int64), np.asarray(frame, dtype=np.int64),
            np.asarray(speed, dtype=np.float64), np.asarray(logratio, dtype=np.float64))


def check_track_jump(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Speed outliers between consecutive frames of a track."""
    tracks = _tracks(ctx)
    owner, frame, speed, _ = _steps(tracks)
    if not len(speed):
        return
    limit, med = jump_limit(speed, cfg)
    for k in np.flatnonzero(speed > limit):
        r, t = tracks[owner[k]]
        yield track_jump_finding(cfg, r, t.track_id, int(frame[k]), float(speed[k]), limit, med)


def jump_limit(speed: Arr, cfg: CheckConfig) -> tuple[float, float]:
    """``(limit, median)``: the speed above which a step is a jump, from every step's speed."""
    med = float(np.median(speed))
    mad = MAD_TO_SD * float(np.median(np.abs(speed - med)))
    return max(float(cfg["min_speed"]), med + float(cfg["z_threshold"]) * mad), med


def track_jump_finding(cfg: CheckConfig, record: Record, track_id: str, frame: int, speed: float, limit: float,
                       median_speed: float) -> Finding:
    """The finding of one jump (at ``frame``, ``speed`` box sizes per frame) of the track in ``record``."""
    return finding(cfg.name, cfg, record, category=TRACK_IDENTITY_SWITCH,
                   evidence={"track_id": track_id, "frame": frame, "speed": speed, "limit": limit,
                             "median_speed": median_speed},
                   message=f"track {track_id!r} jumps {speed:.2f} box sizes per frame at frame {frame}")


def check_size_change(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Implausible per-frame changes of box area."""
    tracks = _tracks(ctx)
    owner, frame, _, logratio = _steps(tracks)
    limit = float(np.log(float(cfg["max_ratio"])))
    for k in np.flatnonzero(logratio > limit):
        r, t = tracks[owner[k]]
        yield finding(cfg.name, cfg, r, category=POOR_LOCALIZATION,
                      evidence={"track_id": t.track_id, "frame": int(frame[k]),
                                "area_ratio_per_frame": float(np.exp(logratio[k]))},
                      message=f"track {t.track_id!r} box area changes {np.exp(logratio[k]):.1f}x "
                              f"per frame at frame {frame[k]}")


def _iou(a: TrackFrame, b: TrackFrame) -> float:
    iw = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
    ih = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
    inter = max(iw, 0.0) * max(ih, 0.0)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def check_fragmented(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Tracks that continue, under a new id, where another track of the same label ended."""
    max_gap, min_iou = int(cfg["max_gap_frames"]), float(cfg["min_iou"])
    groups: dict[tuple[str, str, str, str, str], list[tuple[Record, Track, TrackFrame, TrackFrame]]] = {}
    for r, t in _tracks(ctx):
        vis = [f for f in t.frames if not f.outside]
        if vis:
            groups.setdefault((r.item_id, r.annotator_id, r.source, r.label_set, t.label), []).append(
                (r, t, vis[0], vis[-1]))
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda m: m[2].frame)
        for rb, tb, first_b, _ in members:
            for _, ta, _, last_a in members:
                gap = first_b.frame - last_a.frame
                if ta is tb or not 0 < gap <= max_gap:
                    continue
                iou = _iou(last_a, first_b)
                if iou >= min_iou:
                    yield finding(cfg.name, cfg, rb, category=TRACK_IDENTITY_SWITCH,
                                  evidence={"track_id": tb.track_id, "continues": ta.track_id, "gap_frames": gap,
                                            "iou": iou, "length_frames": len(tb.frames)},
                                  message=f"track {tb.track_id!r} continues track {ta.track_id!r} after "
                                          f"{gap} frame(s): one object split into several tracks")
                    break


def register() -> None:
    """Register the video checks."""
    register_check("video.missing_frames", kinds=("track",), fn=check_missing_frames, severity="minor",
                   description="frames skipped inside a track")
    register_check("video.track_jump", kinds=("track",), fn=check_track_jump, severity="major",
                   params={"min_speed": 0.5, "z_threshold": 6.0},
                   description="speed outliers between consecutive frames")
    register_check("video.size_change", kinds=("track",), fn=check_size_change, severity="minor",
                   params={"max_ratio": 1.5}, description="box area changing implausibly between frames")
    register_check("video.fragmented", kinds=("track",), fn=check_fragmented, severity="minor",
                   params={"max_gap_frames": 10, "min_iou": 0.3},
                   description="one object split into several short tracks")
