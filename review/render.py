"""Renderings of competing annotations, one per annotator, for a reviewer to judge.

Standard library only (the base CLI's static HTML report imports this module; the
review web app reuses it). Every function returns a string of markup with inline
styles or the classes in :data:`CSS`; no scripts, no external resources.

Per data type (the value ``kind`` of :mod:`accord.core.model`):

* ``box`` (with ``rotation``, degrees clockwise about the centre), ``polygon``,
  ``polyline``, ``keypoints`` and ``mask`` are drawn as SVG on a canvas of the
  item's image size, in image pixels (the ``viewBox`` is the image), over a
  labelled placeholder background; this module fetches nothing, but given the URL of
  the item's image (``image_href``, the review app's ``/media/N``) it draws an SVG
  ``<image>`` between the placeholder and the shapes. Without a known size the
  canvas is the extent of the shapes, and the placeholder says so. When every
  version's shapes fit in a quarter of a known image, :func:`render_versions` adds
  one shared close-up (the same crop for every annotator) below the whole image. Masks are
  drawn exactly from their RLE runs (one vertical strip per run and column) up to
  :data:`MAX_MASK_RUNS` strips, beyond that as their bounding-box outline (dashed,
  and the title says so).
* ``span``: the item text, escaped, with each span highlighted in its label's
  colour (overlaps get a double underline); without the text, a ruler of
  character offsets.
* ``segment``: a timeline of the item's duration (or the segments' extent), one
  lane per label or speaker.
* ``track`` (video): a strip of the frames where the versions differ most (each frame a
  small canvas with that annotator's boxes on it, interpolated between listed frames as
  CVAT interpolates), above a timeline of each track's visible frames, one lane per track.
* ``cuboid`` (3D): a top-down bird's-eye view (x right, y up, yaw drawn) and a side view
  (x, z) on one shared extent, so sizes and headings compare across annotators.
* ``classification`` / ``multilabel`` / ``numeric``: a label chip; ``text``
  (transcripts): the text, escaped; side by side, the words most other versions
  lack (a difflib word alignment) are marked.

Records may be :class:`~accord.core.model.Record` objects, bare values, or their
JSON forms (``record_to_dict`` / ``value_to_dict``), so the renderings work from a
report's JSON as well as from a dataset.

One colour per label (:func:`label_colors`): the same label has the same colour in
every annotator's column, so columns compare at a glance for 3 annotators or 30.
"""

from __future__ import annotations

import math
import re
from ast import literal_eval
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from difflib import SequenceMatcher
from html import escape
from itertools import pairwise
from typing import Any

__all__ = ["CSS", "IMAGE_KINDS", "MAX_MASK_RUNS", "label_colors", "parse_description", "render_thumbnail",
           "render_versions", "to_value_dicts"]

#: Value kinds drawn on an image canvas.
IMAGE_KINDS = frozenset({"box", "polygon", "polyline", "keypoints", "mask"})
#: A mask with more strips than this is drawn as its bounding-box outline.
MAX_MASK_RUNS = 4000

#: Tableau 10 (Tableau Software's default categorical palette), then golden-angle hues.
_PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
            "#9c755f", "#bab0ac")
_FONT = "font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif"

CSS = """
.rr-versions{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.rr-version{margin:0;border:1px solid #e3e6ea;border-radius:6px;padding:4px;background:#fff;max-width:100%}
.rr-version svg{display:block;margin-top:2px}
.rr-version figcaption{font-size:12px;font-weight:600;margin:0 0 3px;max-width:220px;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
.rr-text{font-size:13px;line-height:1.9;max-width:320px;white-space:pre-wrap;word-break:break-word}
.rr-text mark{border-radius:3px;padding:1px 0;color:#111}.rr-text mark.rr-diff{background:#fde2a8}
.rr-text mark.rr-overlap{text-decoration:underline double}
.rr-chip{display:inline-block;border-radius:10px;padding:1px 8px;margin:1px 2px;font-size:12px;color:#111}
.rr-legend{font-size:12px;margin:2px 0 6px}.rr-none{color:#5b6472;font-size:12px;font-style:italic}
.rr-strip{display:flex;flex-wrap:wrap;gap:3px;max-width:560px}
"""


# --------------------------------------------------------------------------- input normalization


def _plain(v: Any) -> Any:
    if is_dataclass(v) and not isinstance(v, type):
        out = {f.name: _plain(getattr(v, f.name)) for f in fields(v)}
        kind = getattr(v, "kind", None)
        if isinstance(kind, str):
            out["kind"] = kind
        return out
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    return v


def to_value_dicts(records: Iterable[Any]) -> list[dict[str, Any]]:
    """Value dicts (``value_to_dict``'s form, with ``kind``) for records, values or their dicts.

    Raises:
        ValueError: an element is none of those.
    """
    out = []
    for r in records:
        v = getattr(r, "value", None) if not isinstance(r, Mapping) else r.get("value", r)
        if v is None:
            v = r
        d = v if isinstance(v, Mapping) else _plain(v)
        if not isinstance(d, Mapping) or not isinstance(d.get("kind"), str):
            raise ValueError(f"expected records, values or value dicts with a 'kind', got {type(r).__name__} "
                             f"{str(r)[:60]!r}; pass Record objects or record_to_dict() output")
        out.append(dict(d))
    return out


_BOX_RE = re.compile(r"^(?P<label>.*)\((?P<x>-?[\d.]+),(?P<y>-?[\d.]+),(?P<w>[\d.]+)x(?P<h>[\d.]+)\)$")
_SPAN_RE = re.compile(r"^(?P<label>.*)\[(?P<s>\d+):(?P<e>\d+)\]$")
_SEG_RE = re.compile(r"^(?P<label>.*)@(?P<s>-?[\d.]+(?:e-?\d+)?)-(?P<e>-?[\d.]+(?:e-?\d+)?)$")


def parse_description(described: str) -> list[dict[str, Any]]:
    """Value dicts recovered from a report's one-line descriptions (``conflicts.items[].annotations``).

    The report describes each annotator's regions as ``Person(372,322,31x74); ...``
    (boxes, rounded to pixels), ``LOC[3:8]`` (spans), ``Agent@0-3.1`` (segments),
    ``'a transcript'`` (text) or a class name. Anything else becomes a class chip with
    that text. ``(nothing)`` is an empty list.
    """
    s = described.strip()
    if not s or s == "(nothing)":
        return []
    if len(s) >= 2 and s[0] in "'\"" and s[-1] == s[0]:
        try:
            text = literal_eval(s)
        except (ValueError, SyntaxError):
            text = s[1:-1]
        return [{"kind": "text", "text": str(text)}]
    out: list[dict[str, Any]] = []
    for part in s.split("; "):
        if m := _BOX_RE.match(part):
            out.append({"kind": "box", "label": m["label"], "x": float(m["x"]), "y": float(m["y"]),
                        "width": float(m["w"]), "height": float(m["h"]), "rotation": 0.0})
        elif m := _SPAN_RE.match(part):
            out.append({"kind": "span", "label": m["label"], "start": int(m["s"]), "end": int(m["e"])})
        elif (m := _SEG_RE.match(part)) and float(m["e"]) >= float(m["s"]):
            out.append({"kind": "segment", "label": m["label"] or None, "start": float(m["s"]),
                        "end": float(m["e"])})
        else:
            out.append({"kind": "classification", "label": part})
    return out


# --------------------------------------------------------------------------- colours


def label_colors(labels: Iterable[str]) -> dict[str, str]:
    """One colour per distinct label, assigned in sorted order (stable across columns and pages).

    The first ten are Tableau 10; further labels get golden-angle hues (137.5° apart) at a
    fixed saturation and lightness, so 30 labels stay distinguishable from their neighbours.

    >>> label_colors(["Person", "Car", "Person"])
    {'Car': '#4e79a7', 'Person': '#f28e2b'}
    """
    out: dict[str, str] = {}
    for i, lab in enumerate(sorted(set(labels))):
        if i < len(_PALETTE):
            out[lab] = _PALETTE[i]
        else:
            hue = (i * 137.508) % 360
            out[lab] = f"hsl({hue:.0f},62%,{46 if i % 2 else 56}%)"
    return out


def _labels_of(v: Mapping[str, Any]) -> list[str]:
    kind = v.get("kind")
    if kind == "multilabel":
        return [str(x) for x in v.get("labels") or []]
    if kind == "segment":
        lab = v.get("label") or v.get("speaker")
        return [str(lab)] if lab else []
    if kind == "numeric":
        return []
    lab = v.get("label")
    return [str(lab)] if lab is not None else []


def _color(colors: Mapping[str, str], label: str | None) -> str:
    return colors.get(label or "", "#5b6472")


# --------------------------------------------------------------------------- image kinds


def _n(v: float) -> str:
    """A coordinate for SVG: at most 2 decimals, no trailing zeros."""
    s = f"{float(v):.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _box_corners(v: Mapping[str, Any]) -> list[tuple[float, float]]:
    x, y, w, h = (float(v[k]) for k in ("x", "y", "width", "height"))
    a = math.radians(float(v.get("rotation") or 0.0))
    cx, cy = x + w / 2, y + h / 2
    out = []
    for px, py in ((x, y), (x + w, y), (x + w, y + h), (x, y + h)):
        dx, dy = px - cx, py - cy
        out.append((cx + dx * math.cos(a) - dy * math.sin(a), cy + dx * math.sin(a) + dy * math.cos(a)))
    return out


def _mask_strips(v: Mapping[str, Any]) -> list[tuple[int, int, int]] | None:
    """(column, first row, length) strips of a column-major RLE, or None when over MAX_MASK_RUNS."""
    h = int(v.get("height") or 0)
    counts = [int(c) for c in v.get("counts") or []]
    if h <= 0:
        return []
    strips: list[tuple[int, int, int]] = []
    pos = 0
    for i, c in enumerate(counts):
        if i % 2 == 1 and c > 0:
            p, left = pos, c
            while left > 0:
                col, row = divmod(p, h)
                take = min(left, h - row)
                strips.append((col, row, take))
                if len(strips) > MAX_MASK_RUNS:
                    return None
                p += take
                left -= take
        pos += c
    return strips


def _mask_bbox(v: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    h = int(v.get("height") or 0)
    if h <= 0:
        return None
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    pos = 0
    for i, c in enumerate(int(c) for c in v.get("counts") or []):
        if i % 2 == 1 and c > 0:
            first, last = divmod(pos, h), divmod(pos + c - 1, h)
            x0, x1 = min(x0, first[0]), max(x1, last[0] + 1)
            if first[0] != last[0]:  # crosses a column: covers every row somewhere
                y0, y1 = 0, h
            else:
                y0, y1 = min(y0, first[1]), max(y1, last[1] + 1)
        pos += c
    return None if x0 == math.inf else (x0, y0, x1, y1)


def _points_of(v: Mapping[str, Any]) -> list[tuple[float, float]]:
    kind = v.get("kind")
    if kind == "box":
        return _box_corners(v)
    if kind in ("polygon", "polyline"):
        return [(float(p[0]), float(p[1])) for p in v.get("points") or []]
    if kind == "keypoints":
        return [(float(p["x"]), float(p["y"])) for p in v.get("points") or [] if int(p.get("visibility", 2)) > 0]
    if kind == "mask":
        bb = _mask_bbox(v)
        return [] if bb is None else [(bb[0], bb[1]), (bb[2], bb[3])]
    return []


def _canvas(values: Sequence[Mapping[str, Any]], width: float | None,
            height: float | None) -> tuple[float, float, float, float, bool]:
    """(x0, y0, w, h, known) of the canvas: the image when its size is known, else the shapes' extent."""
    if width and height and width > 0 and height > 0:
        return 0.0, 0.0, float(width), float(height), True
    masks = [v for v in values if v.get("kind") == "mask" and v.get("width") and v.get("height")]
    if masks:
        return 0.0, 0.0, float(masks[0]["width"]), float(masks[0]["height"]), True
    pts = [p for v in values for p in _points_of(v)]
    if not pts:
        return 0.0, 0.0, 100.0, 100.0, False
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    pad = 0.08 * max(x1 - x0, y1 - y0, 10.0)
    return x0 - pad, y0 - pad, (x1 - x0) + 2 * pad, (y1 - y0) + 2 * pad, False


def _shape(v: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    kind = v.get("kind")
    label = str(v.get("label") or "")
    col = _color(colors, label)
    common = (f'data-kind="{escape(str(kind))}" data-label="{escape(label)}" stroke="{col}" '
              'stroke-width="2" vector-effect="non-scaling-stroke"')
    tip = f"<title>{escape(label)} ({escape(str(kind))})</title>"
    if kind == "box":
        x, y, w, h = (float(v[k]) for k in ("x", "y", "width", "height"))
        rot = float(v.get("rotation") or 0.0)
        tf = f' transform="rotate({_n(rot)} {_n(x + w / 2)} {_n(y + h / 2)})"' if rot else ""
        return (f'<rect {common} x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" fill="{col}" '
                f'fill-opacity="0.15"{tf}>{tip}</rect>')
    if kind in ("polygon", "polyline"):
        pts = " ".join(f"{_n(p[0])},{_n(p[1])}" for p in v.get("points") or [])
        fill = f'fill="{col}" fill-opacity="0.15"' if kind == "polygon" else 'fill="none"'
        return f'<{kind} {common} points="{pts}" {fill}>{tip}</{kind}>'
    if kind == "keypoints":
        dots = []
        for p in v.get("points") or []:
            vis = int(p.get("visibility", 2))
            if vis <= 0:
                continue
            name = escape(str(p.get("name", "")))
            fill = col if vis >= 2 else "#fff"
            dots.append(f'<circle data-name="{name}" cx="{_n(p["x"])}" cy="{_n(p["y"])}" r="4" fill="{fill}">'
                        f"<title>{escape(label)}: {name}{' (occluded)' if vis == 1 else ''}</title></circle>")
        return f'<g {common} data-points="{len(dots)}">{tip}{"".join(dots)}</g>'
    if kind == "mask":
        strips = _mask_strips(v)
        if strips is None:
            bb = _mask_bbox(v)
            if bb is None:
                return ""
            return (f'<rect {common} data-mask="bbox" x="{_n(bb[0])}" y="{_n(bb[1])}" width="{_n(bb[2] - bb[0])}" '
                    f'height="{_n(bb[3] - bb[1])}" fill="none" stroke-dasharray="6 3">'
                    f"<title>{escape(label)} (mask, drawn as its bounding box)</title></rect>")
        d = "".join(f"M{c} {r}h1v{n}h-1z" for c, r, n in strips)
        return (f'<path data-kind="mask" data-label="{escape(label)}" data-mask="rle" d="{d}" fill="{col}" '
                f'fill-opacity="0.55" stroke="none">{tip}</path>')
    return ""


def _image_svg(values: Sequence[Mapping[str, Any]], colors: Mapping[str, str], *, width: float | None,
               height: float | None, size_px: int, placeholder: str,
               canvas: tuple[float, float, float, float, bool] | None = None, note: str | None = None,
               image_href: str | None = None, image_size: tuple[float, float] | None = None) -> str:
    x0, y0, w, h, known = canvas or _canvas(values, width, height)
    scale = size_px / max(w, h)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    caption_top = note is not None
    if note is None:
        note = f"{placeholder} · {w:.0f}×{h:.0f}" if known else f"{placeholder} · size unknown (extent of shapes)"
    at = (f'x="{_n(x0 + 3 / scale)}" y="{_n(y0 + 12 / scale)}"' if caption_top else
          f'x="{_n(x0 + w / 2)}" y="{_n(y0 + h / 2)}" text-anchor="middle" dominant-baseline="middle"')
    body = [f'<rect class="rr-placeholder" x="{_n(x0)}" y="{_n(y0)}" width="{_n(w)}" height="{_n(h)}" '
            'fill="#eef0f3" stroke="#c9ced6" vector-effect="non-scaling-stroke"/>',
            f'<text class="rr-placeholder" {at} fill="#8a919b" font-size="{_n(11 / scale)}">{escape(note)}</text>']
    if image_href and image_size:  # the real image over the placeholder (which shows if it cannot load)
        body.append(f'<image class="rr-image" href="{escape(image_href)}" x="0" y="0" width="{_n(image_size[0])}" '
                    f'height="{_n(image_size[1])}" preserveAspectRatio="none"/>')
    body.extend(_shape(v, colors) for v in values if v.get("kind") in IMAGE_KINDS)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="rr-thumb" width="{tw}" height="{th}" '
            f'viewBox="{_n(x0)} {_n(y0)} {_n(w)} {_n(h)}" style="{_FONT};background:#fff">'
            f"<title>{len(values)} region(s) on {escape(note)}</title>{''.join(body)}</svg>")


# --------------------------------------------------------------------------- text, time, classes


def _text_html(values: Sequence[Mapping[str, Any]], colors: Mapping[str, str], text: str | None,
               size_px: int) -> str:
    spans = [v for v in values if v.get("kind") == "span"]
    if text is None:
        end = max([int(v["end"]) for v in spans] + [1])
        return _ruler_svg(spans, colors, end, size_px, unit="characters (item text not in the report)")
    cuts = sorted({0, len(text), *(min(max(int(v[k]), 0), len(text)) for v in spans for k in ("start", "end"))})
    pieces = []
    for a, b in pairwise(cuts):
        cover = [v for v in spans if int(v["start"]) <= a and int(v["end"]) >= b]
        chunk = escape(text[a:b])
        if not cover:
            pieces.append(chunk)
            continue
        labs = [str(v.get("label") or "") for v in cover]
        cls = ' class="rr-overlap"' if len(cover) > 1 else ""
        pieces.append(f'<mark{cls} data-labels="{escape(" ".join(labs))}" data-start="{a}" data-end="{b}" '
                      f'style="background:{_color(colors, labs[0])}55;box-shadow:inset 0 -2px 0 '
                      f'{_color(colors, labs[0])}" title="{escape(", ".join(labs))}">{chunk}</mark>')
    return f'<div class="rr-text">{"".join(pieces)}</div>'


def _ruler_svg(values: Sequence[Mapping[str, Any]], colors: Mapping[str, str], end: float, size_px: int, *,
               unit: str) -> str:
    """A timeline (segments in seconds/frames, or spans in characters): one lane per label."""
    lanes = sorted({(_labels_of(v) or [""])[0] for v in values})
    lane_h, top, w = 16.0, 4.0, float(max(size_px, 120))
    h = top + lane_h * max(1, len(lanes)) + 18
    end = max(end, 1e-9)

    def x(t: float) -> float:
        return w * min(max(t, 0.0), end) / end

    parts = [f'<line x1="0" x2="{_n(w)}" y1="{_n(h - 16)}" y2="{_n(h - 16)}" stroke="#c9ced6"/>',
             f'<text x="0" y="{_n(h - 4)}" font-size="10" fill="#5b6472">0</text>',
             f'<text x="{_n(w)}" y="{_n(h - 4)}" font-size="10" fill="#5b6472" text-anchor="end">'
             f"{escape(f'{end:g}')} {escape(unit)}</text>"]
    for v in values:
        lab = (_labels_of(v) or [""])[0]
        y = top + lane_h * lanes.index(lab)
        s, e = float(v["start"]), float(v["end"])
        parts.append(f'<rect data-kind="{escape(str(v.get("kind")))}" data-label="{escape(lab)}" '
                     f'data-start="{_n(s)}" data-end="{_n(e)}" x="{_n(x(s))}" y="{_n(y)}" '
                     f'width="{_n(max(x(e) - x(s), 1.0))}" height="{_n(lane_h - 3)}" fill="{_color(colors, lab)}" '
                     f'fill-opacity="0.8"><title>{escape(lab)} {escape(f"{s:g}")}–{escape(f"{e:g}")}</title></rect>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="rr-thumb" width="{_n(w)}" height="{_n(h)}" '
            f'viewBox="0 0 {_n(w)} {_n(h)}" style="{_FONT}"><title>{len(values)} interval(s) over '
            f"{escape(f'{end:g}')} {escape(unit)}</title>{''.join(parts)}</svg>")


def _chips(values: Sequence[Mapping[str, Any]], colors: Mapping[str, str]) -> str:
    out = []
    for v in values:
        kind = v.get("kind")
        if kind == "text":
            out.append(f'<div class="rr-text">{escape(str(v.get("text", "")))}</div>')
        elif kind == "numeric":
            num = f"{float(v['value']):g}"
            out.append(f'<span class="rr-chip" style="background:#e3e6ea">{escape(num)}</span>')
        else:
            out.extend(f'<span class="rr-chip" data-label="{escape(lab)}" style="background:{_color(colors, lab)}55;'
                       f'border:1px solid {_color(colors, lab)}">{escape(lab)}</span>' for lab in _labels_of(v))
    return "".join(out)


# --------------------------------------------------------------------------- video tracks

#: At most this many frames in a track's frame strip.
MAX_STRIP_FRAMES = 6


def _track_boxes_at(v: Mapping[str, Any], frame: int) -> dict[str, Any] | None:
    """A track's box at ``frame``: a listed frame, or linear interpolation between the listed
    frames around it (CVAT's interpolation between keyframes); None where it is outside or not
    present."""
    frames = sorted(v.get("frames") or [], key=lambda f: int(f["frame"]))
    before = [f for f in frames if int(f["frame"]) <= frame]
    after = [f for f in frames if int(f["frame"]) >= frame]
    if not before or not after:
        return None
    a, b = before[-1], after[0]
    if a.get("outside"):
        return None
    if int(a["frame"]) == frame or b.get("outside"):
        t = 0.0  # a listed frame, or held until the frame it leaves the view
    else:
        t = (frame - int(a["frame"])) / (int(b["frame"]) - int(a["frame"]))
    box = {k: float(a[k]) + t * (float(b[k]) - float(a[k])) for k in ("x", "y", "width", "height")}
    return {"kind": "box", "label": v.get("label"), "rotation": float(a.get("rotation") or 0.0), **box,
            "track_id": v.get("track_id")}


def _visible_runs(v: Mapping[str, Any]) -> list[tuple[int, int]]:
    """``[start, end)`` frame runs where a track is in view: from a visible listed frame to the
    next frame listed as ``outside`` (or one past its last listed frame)."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    last = -1
    for f in sorted(v.get("frames") or [], key=lambda f: int(f["frame"])):
        fr = int(f["frame"])
        if f.get("outside"):
            if start is not None:
                runs.append((start, fr))
            start = None
        elif start is None:
            start = fr
        last = fr
    if start is not None:
        runs.append((start, last + 1))
    return runs


def _track_frames(vals: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[int]:
    """The frames to show: where the versions' visible-box counts differ (then where their boxes
    move apart most), else spread over the tracks' span; at most :data:`MAX_STRIP_FRAMES`."""
    tracks = {a: [v for v in vs if v.get("kind") == "track"] for a, vs in vals.items()}
    listed = sorted({int(f["frame"]) for ts in tracks.values() for t in ts for f in t.get("frames") or []})
    if not listed:
        return []
    lo, hi = listed[0], listed[-1]
    cand = sorted(set(listed) | set(range(lo, hi + 1, max(1, (hi - lo) // 24 or 1))))

    def spread(fr: int) -> tuple[int, float]:
        per = [[b for t in ts if (b := _track_boxes_at(t, fr))] for ts in tracks.values()]
        counts = [len(p) for p in per]
        centres = [(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2) for p in per for b in p]
        dist = max((math.dist(c, d) for c in centres for d in centres), default=0.0)
        return max(counts) - min(counts), dist

    scored = sorted(cand, key=lambda fr: (spread(fr), -fr), reverse=True)
    picked = [fr for fr in scored if spread(fr) != (0, 0.0)][:MAX_STRIP_FRAMES]
    if not picked:
        step = max(1, len(listed) // MAX_STRIP_FRAMES)
        picked = listed[::step][:MAX_STRIP_FRAMES]
    return sorted(picked)


def _track_strip(values: Sequence[Mapping[str, Any]], colors: Mapping[str, str], frames: Sequence[int], *,
                 width: float | None, height: float | None, size_px: int,
                 canvas: tuple[float, float, float, float, bool]) -> str:
    tracks = [v for v in values if v.get("kind") == "track"]
    thumb = max(90, size_px * 2 // 3)
    cells = []
    for fr in frames:
        boxes = [b for t in tracks if (b := _track_boxes_at(t, fr))]
        cells.append(f'<div class="rr-frame" data-frame="{fr}">'
                     + _image_svg(boxes, colors, width=width, height=height, size_px=thumb, placeholder="",
                                  canvas=canvas, note=f"frame {fr} · {len(boxes)} box(es)") + "</div>")
    spans: list[dict[str, Any]] = [
        {"kind": "segment", "label": f"{t.get('label')} #{t.get('track_id')}", "start": float(a), "end": float(b)}
        for t in tracks for a, b in _visible_runs(t)]
    end = max([float(fr + 1) for fr in frames] + [float(s["end"]) for s in spans] + [1.0])
    lanes = _ruler_svg(spans, {**colors, **{s["label"]: _color(colors, s["label"].rsplit(" #", 1)[0])
                                           for s in spans}}, end, size_px * 2, unit="frames")
    return f'<div class="rr-strip">{"".join(cells)}</div>{lanes}'


# --------------------------------------------------------------------------- 3D cuboids


def _cuboid_corners(v: Mapping[str, Any], plane: str) -> list[tuple[float, float]]:
    """The cuboid's outline in the bird's-eye view (``xy``: a rotated rectangle) or the side
    view (``xz``: its extent along x, rotated by yaw, and its height)."""
    cx, cy, cz = float(v["x"]), float(v["y"]), float(v["z"])
    l2, w2, h2 = float(v["length"]) / 2, float(v["width"]) / 2, float(v["height"]) / 2
    yaw = float(v.get("yaw") or 0.0)
    c, s = math.cos(yaw), math.sin(yaw)
    xy = [(cx + dx * c - dy * s, cy + dx * s + dy * c) for dx, dy in ((l2, w2), (l2, -w2), (-l2, -w2), (-l2, w2))]
    if plane == "xy":
        return xy
    x0, x1 = min(p[0] for p in xy), max(p[0] for p in xy)
    return [(x0, cz - h2), (x1, cz - h2), (x1, cz + h2), (x0, cz + h2)]


def _cuboid_extent(values: Sequence[Mapping[str, Any]], plane: str) -> tuple[float, float, float, float]:
    pts = [p for v in values if v.get("kind") == "cuboid" for p in _cuboid_corners(v, plane)]
    if not pts:
        return 0.0, 0.0, 10.0, 10.0
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    pad = 0.1 * max(x1 - x0, y1 - y0, 1.0)
    return x0 - pad, y0 - pad, (x1 - x0) + 2 * pad, (y1 - y0) + 2 * pad


def _cuboid_svg(values: Sequence[Mapping[str, Any]], colors: Mapping[str, str], plane: str,
                extent: tuple[float, float, float, float], size_px: int) -> str:
    x0, y0, w, h = extent
    scale = size_px / max(w, h)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    # world y / z point up: flip the vertical axis so the drawing reads as a map / a side view
    def pt(p: tuple[float, float]) -> str:
        return f"{_n(p[0])},{_n(y0 + h - (p[1] - y0))}"
    title = "bird's-eye view (x →, y ↑)" if plane == "xy" else "side view (x →, z ↑)"
    body = [f'<rect x="{_n(x0)}" y="{_n(y0)}" width="{_n(w)}" height="{_n(h)}" fill="#eef0f3" stroke="#c9ced6" '
            'vector-effect="non-scaling-stroke"/>',
            f'<text x="{_n(x0 + 3 / scale)}" y="{_n(y0 + 12 / scale)}" fill="#8a919b" font-size="{_n(11 / scale)}">'
            f"{escape(title)}</text>"]
    for v in values:
        if v.get("kind") != "cuboid":
            continue
        lab = str(v.get("label") or "")
        col = _color(colors, lab)
        corners = _cuboid_corners(v, plane)
        body.append(f'<polygon data-kind="cuboid" data-label="{escape(lab)}" data-view="{plane}" '
                    f'points="{" ".join(pt(p) for p in corners)}" fill="{col}" fill-opacity="0.25" stroke="{col}" '
                    f'stroke-width="2" vector-effect="non-scaling-stroke"><title>{escape(lab)} '
                    f'{float(v["length"]):.2f}×{float(v["width"]):.2f}×{float(v["height"]):.2f} yaw '
                    f'{float(v.get("yaw") or 0.0):.2f}</title></polygon>')
        if plane == "xy":  # heading: centre to the middle of the front face
            cx, cy = float(v["x"]), float(v["y"])
            front = ((corners[0][0] + corners[1][0]) / 2, (corners[0][1] + corners[1][1]) / 2)
            body.append(f'<polyline points="{pt((cx, cy))} {pt(front)}" stroke="{col}" stroke-width="2" '
                        'vector-effect="non-scaling-stroke" fill="none"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="rr-thumb" width="{tw}" height="{th}" '
            f'viewBox="{_n(x0)} {_n(y0)} {_n(w)} {_n(h)}" style="{_FONT};background:#fff">'
            f"<title>{escape(title)}</title>{''.join(body)}</svg>")


def _cuboid_views(values: Sequence[Mapping[str, Any]], colors: Mapping[str, str], size_px: int,
                  extents: tuple[tuple[float, float, float, float], tuple[float, float, float, float]] | None = None
                  ) -> str:
    top, side = extents or (_cuboid_extent(values, "xy"), _cuboid_extent(values, "xz"))
    return _cuboid_svg(values, colors, "xy", top, size_px) + _cuboid_svg(values, colors, "xz", side, size_px)


# --------------------------------------------------------------------------- public


def render_thumbnail(kind: str, records: Iterable[Any], *, width: float | None = None, height: float | None = None,
                     text: str | None = None, duration: float | None = None,
                     colors: Mapping[str, str] | None = None, size_px: int = 180,
                     placeholder: str = "no image") -> str:
    """One annotator's version of one item as markup.

    Args:
        kind: The label set's value kind (``box``, ``polygon``, ``polyline``, ``keypoints``,
            ``mask``, ``span``, ``segment``, ``classification``, ``multilabel``, ``numeric``,
            ``text``); picks the canvas. Each record is drawn by its own kind.
        records: The annotator's records (Record objects, values, or their dicts).
        width, height: The image size in pixels (image kinds); unknown: the shapes' extent.
        text: The item text (spans); unknown: a ruler of character offsets.
        duration: The item's duration (segments); unknown: the segments' extent.
        colors: Label -> CSS colour (default :func:`label_colors` of these records).
        size_px: The longer side of an image thumbnail / the width of a timeline.
        placeholder: The background's caption where no image is drawn.

    Returns:
        An ``<svg>`` (image kinds, segments, spans without text) or an HTML fragment
        (text with highlighted spans, chips). Every string from the data is escaped.
    """
    values = to_value_dicts(records)
    cols = dict(colors) if colors is not None else label_colors(lab for v in values for lab in _labels_of(v))
    if kind in IMAGE_KINDS:
        return _image_svg(values, cols, width=width, height=height, size_px=size_px, placeholder=placeholder)
    if not values:
        return '<span class="rr-none">(nothing)</span>'
    if kind == "span":
        return _text_html(values, cols, text, size_px)
    if kind == "track":
        tracks = {"": values}
        return _track_strip(values, cols, _track_frames(tracks), width=width, height=height, size_px=size_px,
                            canvas=_canvas(_track_extent(tracks), None, None))
    if kind == "cuboid":
        return _cuboid_views(values, cols, size_px)
    if kind == "segment":
        segs = [v for v in values if v.get("kind") == "segment"]
        end = duration if duration and duration > 0 else max([float(v["end"]) for v in segs] + [1.0])
        unit = "frames" if any(v.get("unit") == "frame" for v in segs) else "s"
        return _ruler_svg(segs, cols, end, size_px, unit=unit)
    return _chips(values, cols)


def _word_diff(vals: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, str]:
    """Transcripts word by word: a word most of the other versions lack (difflib alignment) is marked."""
    words = {a: " ".join(str(v.get("text", "")) for v in vs if v.get("kind") == "text").split()
             for a, vs in vals.items()}
    out = {}
    for a, ws in words.items():
        others = [o for b, o in words.items() if b != a]
        support = [0] * len(ws)
        for o in others:
            for blk in SequenceMatcher(a=ws, b=o, autojunk=False).get_matching_blocks():
                for i in range(blk.a, blk.a + blk.size):
                    support[i] += 1
        out[a] = " ".join(escape(w) if 2 * support[i] >= len(others) else
                          f'<mark class="rr-diff" title="most other versions differ here">{escape(w)}</mark>'
                          for i, w in enumerate(ws))
    return out


def _track_extent(vals: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Every listed frame's box of every track, for the shared canvas of a frame strip."""
    return [{"kind": "box", "x": float(f["x"]), "y": float(f["y"]), "width": float(f["width"]),
             "height": float(f["height"]), "rotation": 0.0}
            for vs in vals.values() for v in vs if v.get("kind") == "track" for f in v.get("frames") or []]


def _dominant_kind(versions: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    kinds: list[str] = [str(v["kind"]) for vs in versions.values() for v in vs]
    if not kinds:
        return "classification"
    if any(k in IMAGE_KINDS for k in kinds):
        return next(k for k in kinds if k in IMAGE_KINDS)
    return max(set(kinds), key=kinds.count)


#: A detail view is added below the whole image when every version's shapes fit in this share of it.
DETAIL_MAX_SHARE = 0.25


def _detail(vals: Mapping[str, Sequence[Mapping[str, Any]]], canvas: tuple[float, float, float, float, bool] | None
            ) -> tuple[tuple[float, float, float, float, bool] | None, str]:
    """The shared close-up (the extent of all versions' shapes) when they are small on a known image."""
    if canvas is None or not canvas[4]:
        return None, ""
    x0, y0, w, h, _ = _canvas([v for vs in vals.values() for v in vs], None, None)
    if not any(vals.values()) or w * h > DETAIL_MAX_SHARE * canvas[2] * canvas[3]:
        return None, ""
    side = max(w, h)  # square-ish, so the close-up keeps its proportions readable
    cx, cy = x0 + w / 2, y0 + h / 2
    zoom = max(canvas[2], canvas[3]) / side
    return (cx - side / 2, cy - side / 2, side, side, True), f"detail ×{zoom:.1f}"


def render_versions(versions: Mapping[str, Iterable[Any]], *, kind: str | None = None,
                    width: float | None = None, height: float | None = None, text: str | None = None,
                    duration: float | None = None, size_px: int = 180, image_href: str | None = None,
                    colors: Mapping[str, str] | None = None) -> str:
    """Every annotator's version of one item side by side, with a label legend.

    Args:
        versions: Annotator id -> that annotator's records (or values / value dicts); an
            empty list is "looked and found nothing".
        kind: The value kind (default: inferred from the records; image kinds win).
        width, height, text, duration, size_px: As for :func:`render_thumbnail`.
        image_href: A URL of the item's image (image kinds with a known size): drawn as an SVG
            ``<image>`` under the shapes, over the placeholder, which stays visible if it fails to load.
        colors: Label -> CSS colour for the labels drawn (default :func:`label_colors` of these
            versions); give the label set's palette so an edited version keeps the page's colours.

    Returns:
        A ``<div class="rr-versions">`` of one ``<figure>`` per annotator (id escaped),
        all drawn on the same canvas and with the same label colours.
    """
    vals = {a: to_value_dicts(rs) for a, rs in versions.items()}
    k = kind or _dominant_kind(vals)
    used = label_colors(lab for vs in vals.values() for v in vs for lab in _labels_of(v))
    colors = used if colors is None else {lab: colors.get(lab, c) for lab, c in used.items()}
    # one canvas for every version: the image, or the extent of all versions' shapes
    canvas = _canvas([v for vs in vals.values() for v in vs], width, height) if k in IMAGE_KINDS else None
    detail, detail_note = _detail(vals, canvas)
    diffs = _word_diff(vals) if k == "text" else {}
    strip = _track_frames(vals) if k == "track" else []
    # the strip's cells are small: drawn on the extent of every track's boxes, not the whole frame
    track_canvas = _canvas(_track_extent(vals), None, None) if k == "track" else None
    everything = [v for vs in vals.values() for v in vs]
    cuboid_extents = ((_cuboid_extent(everything, "xy"), _cuboid_extent(everything, "xz"))
                      if k == "cuboid" else None)
    if k == "segment" and not duration:
        duration = max([float(v["end"]) for vs in vals.values() for v in vs if v.get("kind") == "segment"] + [0.0])
        duration = duration or None
    # spans without the text: one shared ruler, as long as the furthest span end of any version
    span_end = max([int(v["end"]) for vs in vals.values() for v in vs if v.get("kind") == "span"] + [1])
    figs = []
    for ann, vs in vals.items():
        if k == "span" and text is None:
            spans = [v for v in vs if v.get("kind") == "span"]
            thumb = (_ruler_svg(spans, colors, span_end, size_px, unit="characters (item text not in the report)")
                     if vs else '<span class="rr-none">(nothing)</span>')
        elif k == "text" and len(vals) > 1 and vs:
            thumb = f'<div class="rr-text">{diffs[ann]}</div>'
        elif k == "track" and track_canvas is not None:
            thumb = _track_strip(vs, colors, strip, width=width, height=height, size_px=size_px, canvas=track_canvas)
        elif k == "cuboid":
            thumb = _cuboid_views(vs, colors, size_px, cuboid_extents)
        elif canvas is not None:
            size = (canvas[2], canvas[3]) if canvas[4] and image_href else None
            thumb = _image_svg(vs, colors, width=width, height=height, size_px=size_px, placeholder="no image",
                               canvas=canvas, image_href=image_href, image_size=size)
            if detail is not None:
                thumb += _image_svg(vs, colors, width=None, height=None, size_px=size_px, placeholder="",
                                    canvas=detail, note=detail_note, image_href=image_href, image_size=size)
        else:
            thumb = render_thumbnail(k, vs, width=width, height=height, text=text, duration=duration,
                                     colors=colors, size_px=size_px)
        figs.append(f'<figure class="rr-version" data-annotator="{escape(ann)}"><figcaption title="{escape(ann)}">'
                    f"{escape(ann)} <span class='muted'>({len(vs)})</span></figcaption>{thumb}</figure>")
    legend = "".join(f'<span class="rr-chip" style="background:{c}55;border:1px solid {c}">{escape(lab)}</span>'
                     for lab, c in colors.items())
    legend_html = f'<div class="rr-legend">{legend}</div>' if legend and k not in ("classification",
                                                                                    "multilabel") else ""
    return f'{legend_html}<div class="rr-versions" data-kind="{escape(k)}">{"".join(figs)}</div>'
