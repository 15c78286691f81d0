"""What changed between two snapshots: added, removed, relabeled, moved/resized, edited text.

Only the rows one snapshot has and the other lacks are compared (the ledger finds them in SQL);
within each ``(item, label set, annotator, source)`` they are paired up:

1. by region id, when both sides carry the same one;
2. regions of one kind by overlap, with :func:`accord.core.matching.geometry.match_regions`
   (the IoU / OKS of that kind; a pair needs at least ``min_iou``);
3. whole-item values (a class, tags, a number, a text) one to one.

A pair whose label differs is *relabeled*; a region whose label is kept but whose geometry (or
boundaries) changed is *moved* (with its IoU); a changed text is *edited_text*; any other
difference (a number, attributes, timestamps) is *changed*. Rows left unpaired are *added* or
*removed*.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from accord.core.errors import AccordError
from accord.core.model import Record, Segment, Span, TextValue, record_to_dict, value_label, value_to_dict

ChangeKind = Literal["added", "removed", "relabeled", "moved", "edited_text", "changed"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("added", "removed", "relabeled", "moved", "edited_text", "changed")
_WHOLE_ITEM = frozenset({"classification", "multilabel", "numeric", "text"})

__all__ = ["CHANGE_KINDS", "Change", "ChangeKind", "diff_records"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One difference between snapshot A (old) and B (new)."""

    change: ChangeKind
    item_id: str
    label_set: str
    annotator_id: str
    source: str
    kind: str
    region_id: str | None
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    old_label: str | None = None
    new_label: str | None = None
    iou: float | None = None
    fields: tuple[str, ...] = ()

    @property
    def when(self) -> str | None:
        """The newest timestamp on the changed row (``updated_at`` or ``created_at``)."""
        for row in (self.new, self.old):
            if row:
                t = row.get("updated_at") or row.get("created_at")
                if t:
                    return str(t)
        return None

    def detail(self) -> str:
        """A short human description."""
        if self.change == "relabeled":
            out = f"{self.old_label} -> {self.new_label}"
        elif self.change == "edited_text":
            out = f"{_text(self.old)!r} -> {_text(self.new)!r}"
        elif self.change in ("added", "removed"):
            row = self.new if self.change == "added" else self.old
            out = _summary(row)
        elif self.change == "moved" and self.old and self.new:
            out = _value_changes(self.old.get("value", {}), self.new.get("value", {}))
        else:
            out = ", ".join(self.fields)
        if self.iou is not None:
            out += f" (IoU {self.iou:.2f})"
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.change, "item_id": self.item_id, "label_set": self.label_set,
                "annotator_id": self.annotator_id, "source": self.source, "kind": self.kind,
                "region_id": self.region_id, "old_label": self.old_label, "new_label": self.new_label,
                "iou": None if self.iou is None else round(self.iou, 6), "fields": list(self.fields),
                "when": self.when, "old": None if self.old is None else dict(self.old),
                "new": None if self.new is None else dict(self.new)}


def _text(row: Mapping[str, Any] | None) -> str | None:
    if not row:
        return None
    v = row.get("value", {})
    return v.get("text") if isinstance(v, dict) else None


def _value_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if isinstance(a, int | float) and isinstance(b, int | float):
            parts.append(f"{k} {a:.4g}->{b:.4g}")
        else:
            parts.append(k)
    return ", ".join(parts)


def _summary(row: Mapping[str, Any] | None) -> str:
    if not row:
        return ""
    v = dict(row.get("value", {}))
    label = v.get("label") or v.get("labels") or v.get("text") or v.get("value")
    return f"{v.get('kind')} {label!r}" if label is not None else str(v.get("kind"))


def _iou(old: Record, new: Record) -> float | None:
    from accord.core.matching.geometry import match_regions

    try:
        res = match_regions([old.value], [new.value], iou_threshold=0.0)
    except AccordError:
        return None
    return float(res.similarity[0]) if res.pairs else 0.0


def _classify(old: Record, new: Record, iou: float | None) -> Change:
    od, nd = record_to_dict(old), record_to_dict(new)
    base = {"item_id": new.item_id, "label_set": new.label_set, "annotator_id": new.annotator_id,
            "source": new.source, "kind": new.value.kind, "region_id": new.region_id or old.region_id,
            "old": od, "new": nd, "old_label": _label(old), "new_label": _label(new)}
    geometric = new.value.kind not in _WHOLE_ITEM
    if _label(old) != _label(new):
        return Change(change="relabeled", iou=iou if geometric else None, **base)
    ov, nv = value_to_dict(old.value), value_to_dict(new.value)
    if ov != nv:
        text_only = {k for k in set(ov) | set(nv) if ov.get(k) != nv.get(k)} == {"text"}
        if isinstance(new.value, TextValue) or (text_only and isinstance(new.value, Span | Segment)):
            return Change(change="edited_text", **base)
        if geometric:
            return Change(change="moved", iou=iou, fields=("value",), **base)
        return Change(change="changed", fields=("value",), **base)
    fields = tuple(sorted(k for k in set(od) | set(nd) if od.get(k) != nd.get(k)))
    return Change(change="changed", fields=fields, **base)


def _label(r: Record) -> str | None:
    v = r.value
    if v.kind == "multilabel":
        return ", ".join(sorted(getattr(v, "labels", ())))
    return value_label(v)


def _one_sided(change: ChangeKind, r: Record) -> Change:
    return Change(change=change, item_id=r.item_id, label_set=r.label_set, annotator_id=r.annotator_id,
                  source=r.source, kind=r.value.kind, region_id=r.region_id,
                  old=record_to_dict(r) if change == "removed" else None,
                  new=record_to_dict(r) if change == "added" else None,
                  old_label=_label(r) if change == "removed" else None,
                  new_label=_label(r) if change == "added" else None)


def _pair_group(old: list[Record], new: list[Record], min_iou: float) -> list[Change]:
    from accord.core.matching.geometry import match_regions

    out: list[Change] = []
    # 1. the same region id on both sides
    by_id = {r.region_id: i for i, r in enumerate(new) if r.region_id}
    used_new: set[int] = set()
    rest_old: list[Record] = []
    for r in old:
        j = by_id.get(r.region_id) if r.region_id else None
        if j is not None and j not in used_new and new[j].value.kind == r.value.kind:
            used_new.add(j)
            out.append(_classify(r, new[j], _iou(r, new[j]) if r.value.kind not in _WHOLE_ITEM else None))
        else:
            rest_old.append(r)
    rest_new = [r for j, r in enumerate(new) if j not in used_new]
    # 2./3. per kind: by overlap, or one to one for whole-item values
    for kind in sorted({r.value.kind for r in rest_old} | {r.value.kind for r in rest_new}):
        o = sorted((r for r in rest_old if r.value.kind == kind), key=lambda r: str(value_to_dict(r.value)))
        n = sorted((r for r in rest_new if r.value.kind == kind), key=lambda r: str(value_to_dict(r.value)))
        pairs: list[tuple[int, int, float | None]] = []
        if kind in _WHOLE_ITEM:
            pairs = [(i, i, None) for i in range(min(len(o), len(n)))]
        elif o and n:
            try:
                res = match_regions([r.value for r in o], [r.value for r in n], iou_threshold=min_iou)
                pairs = [(i, j, float(s)) for (i, j), s in zip(res.pairs, res.similarity, strict=True)]
            except AccordError:  # a kind without a similarity: pair in order
                pairs = [(i, i, None) for i in range(min(len(o), len(n)))]
        paired_o = {i for i, _, _ in pairs}
        paired_n = {j for _, j, _ in pairs}
        out += [_classify(o[i], n[j], s) for i, j, s in pairs]
        out += [_one_sided("removed", r) for i, r in enumerate(o) if i not in paired_o]
        out += [_one_sided("added", r) for j, r in enumerate(n) if j not in paired_n]
    return out


def diff_records(only_old: Sequence[Record], only_new: Sequence[Record], *, min_iou: float = 0.1) -> list[Change]:
    """The changes between two snapshots, given the rows only the old and only the new one has.

    Args:
        only_old: Rows in snapshot A that B lacks.
        only_new: Rows in snapshot B that A lacks.
        min_iou: Least overlap for a region in B to count as the same region of A moved or resized
            (else it is one removed and one added region), in [0, 1].

    Returns:
        Changes sorted by item, label set, annotator, change.
    """
    groups: dict[tuple[str, str, str, str], tuple[list[Record], list[Record]]] = {}
    for side, rows in ((0, only_old), (1, only_new)):
        for r in rows:
            groups.setdefault((r.item_id, r.label_set, r.annotator_id, r.source), ([], []))[side].append(r)
    out: list[Change] = []
    for key in sorted(groups):
        old, new = groups[key]
        out += _pair_group(old, new, min_iou)
    out.sort(key=lambda c: (c.item_id, c.label_set, c.annotator_id, CHANGE_KINDS.index(c.change), c.region_id or ""))
    return out


def counts(changes: Sequence[Change]) -> dict[str, int]:
    """Changes per kind (every kind listed, zeros included)."""
    c = Counter(ch.change for ch in changes)
    return {k: c.get(k, 0) for k in CHANGE_KINDS}
