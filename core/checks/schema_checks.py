"""Schema checks: values that the label schema does not allow.

* ``schema.unknown_label``: a label (or label set) the schema does not list.
* ``schema.unknown_attribute``: an attribute, or attribute value, the label's specs do not allow.
* ``schema.missing_label_set``: a submission without any value in a required label set.
* ``schema.multiple_values``: several values where the label set is single-choice.

A label set with an empty ``labels`` tuple allows every label; one without
attribute specs allows every attribute; an empty schema checks nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from ..model import SHAPE_FIELDS, Classification, MultiLabel, Record
from ..schema import AttributeSpec, LabelSet
from .base import SCHEMA_VIOLATION, WRONG_ATTRIBUTE, WRONG_CLASS, CheckConfig, CheckContext, Finding, finding
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
    for r in ctx.dataset.records:
        ok = allowed.get(r.label_set)
        if ok is None:
            yield finding(cfg.name, cfg, r, category=SCHEMA_VIOLATION,
                          evidence={"label_set": r.label_set, "known_label_sets": sorted(allowed)},
                          message=f"label set {r.label_set!r} is not in the schema")
            continue
        if not ok:
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
    for r in ctx.dataset.records:
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
    counts = Counter((r.item_id, r.annotator_id, r.source, r.label_set) for r in ctx.dataset.records
                     if r.label_set in single)
    reported: set[tuple[str, str, str, str]] = set()
    for r in ctx.dataset.records:
        if r.label_set not in single:
            continue
        key = (r.item_id, r.annotator_id, r.source, r.label_set)
        n = counts[key]
        if n > 1 and key not in reported:
            reported.add(key)
            yield finding(cfg.name, cfg, r, category=SCHEMA_VIOLATION, evidence={"n_values": n},
                          message=f"{n} values in single-choice label set {r.label_set!r}")
        elif (isinstance(r.value, MultiLabel) and len(r.value.labels) > 1
              and schema[r.label_set].kind == Classification.kind):
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
