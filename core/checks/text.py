"""Text checks: span boundaries, overlaps, and empty transcripts.

The item's text is ``item.data[label_set.to_name]`` when the schema names the data
field, else ``item.data["text"]``, else the only string value of ``item.data``;
items without text are skipped by the span checks.

* ``text.span_range``: spans past the end of the text, or whose stored ``text``
  differs from the text at their offsets.
* ``text.span_token_boundary``: span starts or ends strictly inside a token
  (tokens are ``\\w+`` runs, Unicode-aware).
* ``text.span_whitespace``: empty spans, and spans with leading or trailing whitespace.
* ``text.span_punctuation``: spans starting or ending with punctuation from
  ``punctuation`` (a trailing period taken into an entity), except spans ending in
  one of the ``abbreviations`` or in an initial (``"J."``).
* ``text.span_overlap``: overlapping spans of one submission in a label set whose
  ``extra["allow_overlap"]`` is not true (and the ``allow_overlap`` param is false).
* ``text.empty_transcript``: empty or placeholder free-text values and segment transcripts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from ..model import Record, Span
from .base import BOUNDARY_ERROR, EXTRA_OBJECT, TRANSCRIPTION_ERROR, CheckConfig, CheckContext, Finding, finding
from .registry import register_check

Arr = npt.NDArray[Any]

_WORD_CHAR = re.compile(r"\w")


def item_text(data: Mapping[str, Any], to_name: str | None = None) -> str | None:
    """The text a span refers to, from an item's data (see the module docstring)."""
    if to_name and isinstance(data.get(to_name), str):
        return str(data[to_name])
    if isinstance(data.get("text"), str):
        return str(data["text"])
    strings = [v for v in data.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def _spans_by_item(ctx: CheckContext) -> Iterator[tuple[str, list[Record]]]:
    schema = ctx.dataset.schema
    to_names = {n: ls.to_name for n, ls in schema.label_sets.items()}
    # Spans of one item share its text unless their label sets point at different data fields.
    by: dict[tuple[str, str | None], list[Record]] = {}
    for r in ctx.records("span"):
        by.setdefault((r.item_id, to_names.get(r.label_set)), []).append(r)
    for (item_id, to_name), recs in by.items():
        it = ctx.item(item_id)
        if it is None:
            continue
        text = item_text(it.data, to_name)
        if text is not None:
            yield text, recs


def _offsets(recs: list[Record]) -> tuple[Arr, Arr]:
    starts = np.fromiter((r.value.start for r in recs if isinstance(r.value, Span)), dtype=np.int64,
                         count=len(recs))
    ends = np.fromiter((r.value.end for r in recs if isinstance(r.value, Span)), dtype=np.int64, count=len(recs))
    return starts, ends


def check_span_range(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Spans beyond the text, or whose stored text disagrees with the offsets."""
    for text, recs in _spans_by_item(ctx):
        for r in recs:
            v = r.value
            if not isinstance(v, Span):  # pragma: no cover
                continue
            if v.end > len(text):
                yield finding(cfg.name, cfg, r, category=BOUNDARY_ERROR,
                              evidence={"start": v.start, "end": v.end, "text_length": len(text)},
                              message=f"span [{v.start}, {v.end}) ends past the text ({len(text)} characters)")
            elif v.text is not None and v.text != text[v.start:v.end]:
                yield finding(cfg.name, cfg, r, category=BOUNDARY_ERROR,
                              evidence={"start": v.start, "end": v.end, "stored": v.text,
                                        "at_offsets": text[v.start:v.end]},
                              message=f"span text {v.text!r} differs from the text at its offsets")


@lru_cache(maxsize=4096)
def _is_word(ch: str) -> bool:
    return _WORD_CHAR.match(ch) is not None


def cuts_token(text: str, p: int) -> bool:
    """Whether offset ``p`` falls strictly inside a ``\\w+`` token of ``text``.

    That is exactly when the characters on both sides, ``text[p - 1]`` and
    ``text[p]``, are word characters.
    """
    return 0 < p < len(text) and _is_word(text[p - 1]) and _is_word(text[p])


def token_cuts(text: str, starts: Arr, ends: Arr) -> tuple[Arr, Arr]:
    """:func:`cuts_token` for arrays of span starts and ends."""
    def inside(pos: Arr) -> Arr:
        return np.fromiter((cuts_token(text, p) for p in pos.tolist()), dtype=bool, count=len(pos))

    return inside(starts), inside(ends)


def check_span_token_boundary(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Spans cutting through a token."""
    for text, recs in _spans_by_item(ctx):
        n = len(text)
        for r in recs:
            v = r.value
            if not isinstance(v, Span) or v.end > n:
                continue
            s, e = v.start, v.end
            cut_s, cut_e = cuts_token(text, s), cuts_token(text, e)
            if cut_s or cut_e:
                where = "start and end" if cut_s and cut_e else ("start" if cut_s else "end")
                yield finding(cfg.name, cfg, r, category=BOUNDARY_ERROR,
                              evidence={"start": s, "end": e, "cut": where, "context": text[max(0, s - 10):e + 10]},
                              message=f"span {text[s:e]!r} cuts through a token at its {where}")


def check_span_whitespace(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Empty spans and spans with leading or trailing whitespace."""
    for text, recs in _spans_by_item(ctx):
        for r in recs:
            v = r.value
            if not isinstance(v, Span) or v.end > len(text):
                continue
            piece = text[v.start:v.end]
            if not piece.strip():
                yield finding(cfg.name, cfg, r, category=EXTRA_OBJECT, evidence={"start": v.start, "end": v.end},
                              message="span is empty or only whitespace")
            elif piece[0].isspace() or piece[-1].isspace():
                yield finding(cfg.name, cfg, r, category=BOUNDARY_ERROR,
                              evidence={"start": v.start, "end": v.end, "text": piece},
                              message=f"span {piece!r} has leading or trailing whitespace")


_INITIAL = re.compile(r"(?:^|\W)\w\.$")


def check_span_punctuation(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Spans with leading or trailing punctuation that is not part of an abbreviation."""
    punct = frozenset(str(cfg["punctuation"]))
    abbreviations = tuple(str(a) for a in cfg["abbreviations"])
    for text, recs in _spans_by_item(ctx):
        for r in recs:
            v = r.value
            if not isinstance(v, Span) or v.end > len(text):
                continue
            piece = text[v.start:v.end].strip()
            if not piece:
                continue
            lead = piece[0] in punct
            trail = piece[-1] in punct and not (piece.endswith(abbreviations) or _INITIAL.search(piece))
            if lead or trail:
                where = "starts and ends" if lead and trail else ("starts" if lead else "ends")
                yield finding(cfg.name, cfg, r, category=BOUNDARY_ERROR,
                              evidence={"start": v.start, "end": v.end, "text": piece},
                              message=f"span {piece!r} {where} with punctuation")


def running_max_in_groups(group: Arr, values: Arr) -> Arr:
    """The running maximum of ``values`` within each run of equal ``group`` (sorted by group).

    Exact: the values are replaced by their ranks, the ranks offset by group in int64 (one
    ``maximum.accumulate``), and mapped back, so the result is one of the values themselves
    whatever the data's range (a float offset would round, and differently for each subset of
    the data: a check's evidence must not depend on how a report split its items).
    """
    if not len(values):
        return np.empty(0, dtype=np.float64)
    uniq, rank = np.unique(np.asarray(values, dtype=np.float64), return_inverse=True)
    _, gcode = np.unique(group, return_inverse=True)
    width = np.int64(len(uniq))
    key = rank.astype(np.int64) + gcode.astype(np.int64) * width
    return np.asarray(uniq[np.maximum.accumulate(key) - gcode.astype(np.int64) * width], dtype=np.float64)


def overlapping_in_groups(group: Arr, start: Arr, end: Arr, *, tolerance: float = 0.0
                          ) -> tuple[Arr, Arr]:
    """Intervals that overlap an earlier interval of the same group by more than ``tolerance``.

    Sorts by (group, start) and compares each start with the running maximum end
    of the group so far (one ``maximum.accumulate`` over group-offset ends).

    Returns:
        ``(indices, overlap)``: input indices of the later interval of each
        overlap, and the overlap length with the running maximum end.
    """
    n = len(start)
    if n < 2:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    order = np.lexsort((start, group))
    g, s, e = group[order], start[order].astype(np.float64), end[order].astype(np.float64)
    runmax = running_max_in_groups(g, e)
    prev_max = np.empty(n, dtype=np.float64)
    prev_max[0] = -np.inf
    prev_max[1:] = runmax[:-1]
    same = np.zeros(n, dtype=bool)
    same[1:] = g[1:] == g[:-1]
    overlap = np.minimum(prev_max, e) - s
    hit = same & (overlap > tolerance)
    return order[hit], overlap[hit]


def check_span_overlap(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Overlapping spans of one submission where the label set forbids overlap."""
    schema = ctx.dataset.schema
    if cfg["allow_overlap"]:
        return
    recs = [r for r in ctx.records("span")
            if not (r.label_set in schema and schema[r.label_set].extra.get("allow_overlap"))]
    if len(recs) < 2:
        return
    codes: dict[tuple[str, str, str, str], int] = {}
    group = np.fromiter((codes.setdefault((r.item_id, r.annotator_id, r.source, r.label_set), len(codes))
                         for r in recs), dtype=np.int64, count=len(recs))
    starts, ends = _offsets(recs)
    idx, ov = overlapping_in_groups(group, starts, ends)
    for k, o in zip(idx, ov, strict=True):
        r = recs[k]
        yield finding(cfg.name, cfg, r, category=BOUNDARY_ERROR,
                      evidence={"overlap_chars": int(o), "start": int(starts[k]), "end": int(ends[k])},
                      message=f"span overlaps an earlier span of the same annotator by {int(o)} characters")


def _is_placeholder(text: str, placeholders: frozenset[str]) -> bool:
    t = text.strip().lower()
    return not t or t in placeholders


def check_empty_transcript(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Empty or placeholder transcripts (free text values and segment texts)."""
    placeholders = frozenset(str(p).strip().lower() for p in cfg["placeholders"])
    for kind in ("text", "segment"):
        for r in ctx.records(kind):
            t = getattr(r.value, "text", None)
            if t is not None and _is_placeholder(t, placeholders):
                yield finding(cfg.name, cfg, r, category=TRANSCRIPTION_ERROR, evidence={"text": t},
                              message=f"empty or placeholder transcript {t!r}")


def register() -> None:
    """Register the text checks."""
    register_check("text.span_range", kinds=("span",), fn=check_span_range, severity="major",
                   description="spans past the end of the text or disagreeing with it")
    register_check("text.span_token_boundary", kinds=("span",), fn=check_span_token_boundary, severity="minor",
                   description="spans that cut through a token")
    register_check("text.span_whitespace", kinds=("span",), fn=check_span_whitespace, severity="minor",
                   description="empty spans or spans with leading/trailing whitespace")
    register_check("text.span_punctuation", kinds=("span",), fn=check_span_punctuation, severity="minor",
                   params={"punctuation": ".,;:!?\"'()[]{}",
                           "abbreviations": ["Corp.", "Inc.", "Ltd.", "Co.", "Jr.", "Sr.", "Dr.", "Mr.", "Mrs.",
                                             "Ms.", "St.", "Bros.", "U.S.", "U.K.", "e.g.", "i.e.", "etc."]},
                   description="spans with leading or trailing punctuation (not abbreviations)")
    register_check("text.span_overlap", kinds=("span",), fn=check_span_overlap, severity="minor",
                   params={"allow_overlap": False},
                   description="overlapping spans where the label set forbids overlap")
    register_check("text.empty_transcript", kinds=("text", "segment"), fn=check_empty_transcript,
                   severity="major",
                   params={"placeholders": ["-", "--", "?", "...", "n/a", "na", "none", "null", "todo", "tbd",
                                            "xxx", "lorem ipsum"]},
                   description="empty or placeholder transcripts")
