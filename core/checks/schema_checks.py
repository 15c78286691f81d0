"""Schema checks: values that the label schema does not allow.

* ``schema.unknown_label``: a label (or label set) the schema does not list.
* ``schema.unknown_attribute``: an attribute, or attribute value, the label's specs do not allow.
* ``schema.missing_label_set``: a submission without any value in a required label set.
* ``schema.multiple_values``: several values where the label set is single-choice.

A label set with an empty ``labels`` tuple allows every label; one without
attribute specs allows every attribute; an empty schema checks nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..model import SHAPE_FIELDS, Classification, MultiLabel, Record
from ..schema import AttributeSpec, LabelSet
from .base import (
    SCHEMA_VIOLATION,
    WRONG_ATTRIBUTE,
    WRONG_CLASS,
    CheckConfig,
    CheckContext,
    Finding,
    combine,
    finding,
    take,
    unique_codes,
)
from .registry import register_check

_SINGLE_VALUE_KINDS = ("classification", "multilabel", "numeric", "text")


def _labels_of(r: Record) -> tuple[str, ...]:
    v = r.value
    if isinstance(v, MultiLabel):
        return v.labels
    lb = getattr(v, "label", None)
    return (lb,) if isinstance(lb, str) else ()


def check_unknown_label(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Labels not in their label set, and label sets not in a non-empty schema."""
    schema = ctx.dataset.schema
    if not schema.label_sets:
        return
    allowed = {n: frozenset(ls.labels) for n, ls in schema.label_sets.items()}
    cols = ctx.columns()
    # Only records whose label set is unknown, or restricted and given a label outside it (or
    # several labels), can be findings; the rest are cleared by their codes.
    suspect = np.zeros(len(cols), dtype=np.bool_)
    label_code = {lb: j for j, lb in enumerate(cols.labels)}
    for code, name in enumerate(cols.label_sets):
        ok = allowed.get(name)
        if ok is not None and not ok:
            continue
        in_set = cols.label_set == code
        if ok is None:
            suspect |= in_set
            continue
        ok_codes = np.array([label_code[lb] for lb in ok if lb in label_code], dtype=np.int64)
        suspect |= in_set & (cols.multilabel | ((cols.label >= 0) & ~np.isin(cols.label, ok_codes)))
    recs = ctx.dataset.records
    for i in np.flatnonzero(suspect).tolist():
        r = recs[i]
        ok = allowed.get(r.label_set)
        if ok is None:
            yield finding(cfg.name, cfg, r, category=SCHEMA_VIOLATION,
                          evidence={"label_set": r.label_set, "known_label_sets": sorted(allowed)},
                          message=f"label set {r.label_set!r} is not in the schema")
            continue
        for lb in _labels_of(r):
            if lb not in ok:
                yield finding(cfg.name, cfg, r, category=WRONG_CLASS, label=lb,
                              evidence={"label": lb, "allowed": sorted(ok)},
                              message=f"label {lb!r} is not allowed in label set {r.label_set!r}")


def _specs(ls: LabelSet, label: str | None) -> dict[str, AttributeSpec] | None:
    if not ls.attributes:
        return None
    out: dict[str, AttributeSpec] = {}
    for key in ("*", "", label or ""):
        for spec in ls.attributes.get(key, ()):
            out[spec.name] = spec
    return out


def _value_ok(spec: AttributeSpec, value: object) -> bool:
    if spec.input_type == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or _is_number(value)
    if spec.input_type == "text" or not spec.values:
        return True
    if spec.input_type == "checkbox" and isinstance(value, bool):
        return True
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text in spec.values


def _is_number(value: object) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def check_unknown_attribute(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Attributes not declared for the label, and values outside the declared ones."""
    schema = ctx.dataset.schema
    cols = ctx.columns()
    # A label set without attribute specs (or not in the schema) allows every attribute: skip its records.
    checked = [c for c, n in enumerate(cols.label_sets) if n in schema and schema[n].attributes]
    if not checked:
        return
    rows = np.flatnonzero(np.isin(cols.label_set, checked)) if len(checked) < len(cols.label_sets) else None
    for r in ctx.dataset.records if rows is None else take(ctx.dataset.records, rows):
        if not r.attributes or r.label_set not in schema:
            continue
        specs = _specs(schema[r.label_set], r.label)
        if specs is None:
            continue
        for name, value in r.attributes.items():
            spec = specs.get(name)
            if spec is None and name in SHAPE_FIELDS:
                continue
            if spec is None:
                yield finding(cfg.name, cfg, r, category=WRONG_ATTRIBUTE,
                              evidence={"attribute": name, "known": sorted(specs)},
                              message=f"attribute {name!r} is not declared for label {r.label!r}")
            elif not _value_ok(spec, value):
                yield finding(cfg.name, cfg, r, category=WRONG_ATTRIBUTE,
                              evidence={"attribute": name, "value": value, "allowed": list(spec.values),
                                        "input_type": spec.input_type},
                              message=f"attribute {name!r} has value {value!r}, not one of {list(spec.values)}")


def check_missing_label_set(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Submissions with no value in a required label set (``required`` param or ``extra["required"]``)."""
    schema = ctx.dataset.schema
    required = list(dict.fromkeys([*cfg["required"],
                                   *(n for n, ls in schema.label_sets.items() if ls.extra.get("required"))]))
    if not required:
        return
    present: dict[tuple[str, str, str], set[str]] = {}
    for r in ctx.dataset.records:
        present.setdefault((r.item_id, r.annotator_id, r.source), set()).add(r.label_set)
    for s in ctx.dataset.submissions:
        if s.was_cancelled or s.source != "human":
            continue
        have = present.get((s.item_id, s.annotator_id, s.source), set())
        for name in required:
            if name not in have:
                yield finding(cfg.name, cfg, None, item_id=s.item_id, annotator_id=s.annotator_id,
                              label_set=name, category=SCHEMA_VIOLATION,
                              evidence={"required": required, "present": sorted(have)},
                              message=f"the submission has no value in required label set {name!r}")


def check_multiple_values(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Several values (or a multi-label value) in a single-choice label set."""
    schema = ctx.dataset.schema
    single = {n for n, ls in schema.label_sets.items() if not ls.multiple and ls.kind in _SINGLE_VALUE_KINDS}
    if not single:
        return
    cols = ctx.columns()
    single_codes = [c for c, n in enumerate(cols.label_sets) if n in single]
    class_codes = [c for c in single_codes if schema[cols.label_sets[c]].kind == Classification.kind]
    rows = np.flatnonzero(np.isin(cols.label_set, single_codes))
    if rows.size == 0:
        return
    key, _ = combine((cols.item[rows], len(cols.item_ids)), (cols.annotator[rows], len(cols.annotator_ids)),
                     (cols.source[rows], len(cols.sources)), (cols.label_set[rows], len(cols.label_sets)))
    _, first, inv, count = unique_codes(key)
    n_values = count[inv]
    # The first record of an (item, annotator, source, label set) with several values reports them;
    # any other record may still hold a multi-label value in a single-choice classification set.
    several = np.zeros(rows.size, dtype=np.bool_)
    several[first] = True
    several &= n_values > 1
    suspect = several | (cols.multilabel[rows] & np.isin(cols.label_set[rows], class_codes))
    recs = ctx.dataset.records
    for j in np.flatnonzero(suspect).tolist():
        r = recs[int(rows[j])]
        if several[j]:
            n = int(n_values[j])
            yield finding(cfg.name, cfg, r, category=SCHEMA_VIOLATION, evidence={"n_values": n},
                          message=f"{n} values in single-choice label set {r.label_set!r}")
        elif isinstance(r.value, MultiLabel) and len(r.value.labels) > 1:
            yield finding(cfg.name, cfg, r, category=SCHEMA_VIOLATION,
                          evidence={"n_values": len(r.value.labels)},
                          message=f"{len(r.value.labels)} labels in single-choice label set {r.label_set!r}")


def register() -> None:
    """Register the schema checks (called once by :mod:`accord.core.checks`)."""
    register_check("schema.unknown_label", kinds=(), fn=check_unknown_label, severity="major",
                   description="labels or label sets not in the label schema")
    register_check("schema.unknown_attribute", kinds=(), fn=check_unknown_attribute, severity="minor",
                   description="attributes or attribute values the schema does not declare")
    register_check("schema.missing_label_set", kinds=(), fn=check_missing_label_set, severity="major",
                   params={"required": []},
                   description="submissions with no value in a required label set")
    register_check("schema.multiple_values", kinds=(), fn=check_multiple_values, severity="major",
                   description="several values where the label set is single-choice")
