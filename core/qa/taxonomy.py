"""The error taxonomy: every discrepancy found by matching, classified.

A :class:`Taxonomy` is a set of :class:`Category` (name, description,
severity) and an ordered list of :class:`Rule`. Matching a candidate's regions
against a reference (gold, or consensus) yields raw *discrepancy events*
(unmatched reference, unmatched candidate, label mismatch, low similarity,
attribute / speaker / text mismatch); the first rule whose conditions hold
names the category. Users extend it from a TOML file (:func:`taxonomy_from_toml`):
their categories are added and their rules are tried before the defaults.

The default categories follow the error types annotation teams report; the CVAT plugin
maps CVAT's own quality-report vocabulary onto them
(:data:`accord.plugins.cvat.vocabulary.CVAT_VOCABULARY`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, get_args

from .._toml import loads_toml
from ..errors import ConfigError
from ..matching.base import MatchResult
from ..model import Record, value_label
from .consensus import word_alignment

Severity: TypeAlias = Literal["info", "minor", "major", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
Event: TypeAlias = Literal[
    "unmatched_reference", "unmatched_candidate", "label_mismatch", "low_similarity",
    "attribute_mismatch", "speaker_mismatch", "text_mismatch", "identity_switch", "missed_frames",
    "value_mismatch", "automated",
]
EVENTS: tuple[str, ...] = get_args(Event)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def severity_rank(severity: str) -> int:
    """0 for info ... 3 for critical; for sorting and thresholds."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True, kw_only=True)
class Category:
    """One error category."""

    name: str
    description: str
    severity: Severity = "major"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """When ``event`` happens (and every optional condition holds), name ``category``.

    Attributes:
        event: The raw discrepancy event the rule applies to.
        category: The category it assigns.
        kinds: Value kinds it applies to (empty: all).
        labels: Reference (or candidate) labels it applies to (empty: all).
        label_sets: Label sets it applies to (empty: all).
        max_similarity: Applies only when the matched similarity is below this.
        severity: Overrides the category's severity when set.
    """

    event: Event
    category: str
    kinds: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    label_sets: tuple[str, ...] = ()
    max_similarity: float | None = None
    severity: Severity | None = None

    def applies(self, *, event: str, kind: str, label: str | None, label_set: str,
                similarity: float | None) -> bool:
        if event != self.event:
            return False
        if self.kinds and kind not in self.kinds:
            return False
        if self.labels and label not in self.labels:
            return False
        if self.label_sets and label_set not in self.label_sets:
            return False
        return not (self.max_similarity is not None
                    and (similarity is None or not similarity < self.max_similarity))


_SPAN_LIKE = ("span", "segment")
_GEOMETRY = ("box", "polygon", "polyline", "mask", "keypoints", "cuboid", "track")

DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(name="missing_object", severity="major",
             description="The reference has a region the annotator did not draw."),
    Category(name="extra_object", severity="minor",
             description="The annotator drew a region the reference does not have."),
    Category(name="wrong_class", severity="major",
             description="The region or item was given a different class than the reference."),
    Category(name="poor_localization", severity="minor",
             description="The region matches the reference object but its overlap is low."),
    Category(name="boundary_error", severity="minor",
             description="A span or time segment matches the reference but its boundaries differ."),
    Category(name="wrong_attribute", severity="minor",
             description="A matched region's attributes differ from the reference."),
    Category(name="transcription_error", severity="major",
             description="A transcript or free text differs from the reference."),
    Category(name="wrong_speaker", severity="major",
             description="A segment is attributed to a different speaker than the reference."),
    Category(name="track_identity_switch", severity="major",
             description="A video track changes identity relative to the reference."),
    Category(name="missed_frames", severity="minor",
             description="A track is absent on frames where the reference object is visible."),
    Category(name="wrong_value", severity="minor",
             description="A rating or number differs from the reference."),
    Category(name="schema_violation", severity="major",
             description="A value breaks the label schema (automated check)."),
    Category(name="suspicious_behaviour", severity="minor",
             description="Annotator behaviour flagged by an automated check."),
)

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(event="unmatched_reference", category="missing_object"),
    Rule(event="unmatched_candidate", category="extra_object"),
    Rule(event="label_mismatch", category="wrong_class"),
    Rule(event="low_similarity", category="boundary_error", kinds=_SPAN_LIKE),
    Rule(event="low_similarity", category="poor_localization", kinds=_GEOMETRY),
    Rule(event="attribute_mismatch", category="wrong_attribute"),
    Rule(event="speaker_mismatch", category="wrong_speaker"),
    Rule(event="text_mismatch", category="transcription_error"),
    Rule(event="identity_switch", category="track_identity_switch"),
    Rule(event="missed_frames", category="missed_frames"),
    Rule(event="value_mismatch", category="wrong_value"),
)

@dataclass(frozen=True, slots=True)
class Taxonomy:
    """Categories by name and the ordered rules that assign them."""

    categories: Mapping[str, Category]
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", MappingProxyType(dict(self.categories)))
        for rule in self.rules:
            if rule.category not in self.categories:
                raise ConfigError(
                    f"rule for event {rule.event!r} names unknown category {rule.category!r}; "
                    f"known: {sorted(self.categories)}"
                )

    def classify(self, *, event: str, kind: str, label: str | None, label_set: str,
                 similarity: float | None = None) -> tuple[str, Severity] | None:
        """The (category, severity) of an event, or ``None`` if no rule applies."""
        for rule in self.rules:
            if rule.applies(event=event, kind=kind, label=label, label_set=label_set,
                            similarity=similarity):
                return rule.category, rule.severity or self.categories[rule.category].severity
        return None

    def extended(self, categories: Iterable[Category] = (), rules: Iterable[Rule] = ()) -> Taxonomy:
        """A taxonomy with extra categories (replacing same names) and rules tried first."""
        cats = dict(self.categories)
        cats.update({c.name: c for c in categories})
        return Taxonomy(categories=cats, rules=(*tuple(rules), *self.rules))


DEFAULT_TAXONOMY = Taxonomy(categories={c.name: c for c in DEFAULT_CATEGORIES}, rules=DEFAULT_RULES)


def _check_severity(value: Any, where: str) -> Severity:
    if value not in SEVERITIES:
        raise ConfigError(f"{where}: severity must be one of {SEVERITIES}, got {value!r}")
    sev: Severity = value
    return sev


def taxonomy_from_mapping(config: Mapping[str, Any], *, base: Taxonomy = DEFAULT_TAXONOMY) -> Taxonomy:
    """Extend ``base`` from a parsed config (the ``[taxonomy]`` table of a TOML file).

    Shape::

        [[taxonomy.categories]]
        name = "occluded_not_flagged"
        description = "Occluded object without the occluded attribute"
        severity = "minor"

        [[taxonomy.rules]]
        event = "attribute_mismatch"          # one of accord.core.qa.taxonomy.EVENTS
        category = "occluded_not_flagged"
        labels = ["Person"]                   # optional filters: kinds, labels, label_sets
        max_similarity = 0.5                  # optional, for low_similarity events
        severity = "major"                    # optional override

        [taxonomy.severity]                   # optional: change default severities
        extra_object = "major"
    """
    cfg = config.get("taxonomy", config)
    cats: list[Category] = []
    for i, c in enumerate(cfg.get("categories", [])):
        where = f"taxonomy.categories[{i}]"
        if not isinstance(c, Mapping) or "name" not in c:
            raise ConfigError(f"{where}: expected a table with at least 'name', got {c!r}")
        cats.append(Category(name=str(c["name"]), description=str(c.get("description", "")),
                             severity=_check_severity(c.get("severity", "major"), where)))
    for name, sev in (cfg.get("severity") or {}).items():
        known = {**base.categories, **{c.name: c for c in cats}}
        if name not in known:
            raise ConfigError(f"taxonomy.severity: unknown category {name!r}; known: {sorted(known)}")
        cats.append(replace(known[name], severity=_check_severity(sev, f"taxonomy.severity.{name}")))
    rules: list[Rule] = []
    for i, r in enumerate(cfg.get("rules", [])):
        where = f"taxonomy.rules[{i}]"
        if not isinstance(r, Mapping) or "event" not in r or "category" not in r:
            raise ConfigError(f"{where}: expected a table with 'event' and 'category', got {r!r}")
        if r["event"] not in EVENTS:
            raise ConfigError(f"{where}: unknown event {r['event']!r}; expected one of {EVENTS}")
        unknown = set(r) - {"event", "category", "kinds", "labels", "label_sets", "max_similarity", "severity"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        rules.append(Rule(
            event=r["event"], category=str(r["category"]), kinds=tuple(r.get("kinds", ())),
            labels=tuple(r.get("labels", ())), label_sets=tuple(r.get("label_sets", ())),
            max_similarity=None if r.get("max_similarity") is None else float(r["max_similarity"]),
            severity=None if r.get("severity") is None else _check_severity(r["severity"], where),
        ))
    return base.extended(cats, rules)


def taxonomy_from_toml(text: str, *, base: Taxonomy = DEFAULT_TAXONOMY) -> Taxonomy:
    """Parse TOML text (see :func:`taxonomy_from_mapping` for the shape)."""
    return taxonomy_from_mapping(loads_toml(text, what="taxonomy config"), base=base)


# --------------------------------------------------------------------------- discrepancies


@dataclass(frozen=True, slots=True, kw_only=True)
class Discrepancy:
    """One classified discrepancy between a candidate and a reference.

    Attributes:
        category / severity: From the taxonomy.
        event: The raw event that was classified.
        item_id / label_set / annotator_id: Where and whose.
        against: What the candidate was compared with: ``reference`` (gold),
            ``consensus``, or ``annotator:<id>``.
        reference_region_id / candidate_region_id: The regions involved.
        reference_label / candidate_label: Their labels.
        evidence: Numbers behind the verdict (``iou``, ``similarity``, ``edit_distance``...).
        source: ``matching`` or ``automated`` (rule-based checks).
    """

    category: str
    severity: Severity
    event: str
    item_id: str
    label_set: str
    annotator_id: str
    against: str = "reference"
    kind: str = ""
    reference_region_id: str | None = None
    candidate_region_id: str | None = None
    reference_label: str | None = None
    candidate_label: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    source: Literal["matching", "automated"] = "matching"

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category, "severity": self.severity, "event": self.event,
            "item_id": self.item_id, "label_set": self.label_set, "annotator_id": self.annotator_id,
            "against": self.against, "kind": self.kind,
            "reference_region_id": self.reference_region_id,
            "candidate_region_id": self.candidate_region_id,
            "reference_label": self.reference_label, "candidate_label": self.candidate_label,
            "evidence": {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                         for k, v in self.evidence.items()},
            "source": self.source,
        }


#: Matched pairs below these similarities are "poorly localized" / "boundary errors".
LOCALIZATION_THRESHOLDS: Mapping[str, float] = MappingProxyType({
    "box": 0.75, "polygon": 0.75, "mask": 0.75, "polyline": 0.75, "keypoints": 0.75,
    "cuboid": 0.75, "track": 0.75, "span": 1.0, "segment": 0.9,
})


def _text_of(record: Record) -> str | None:
    v = record.value
    return getattr(v, "text", None)


def classify_match(
    match: MatchResult,
    reference: Sequence[Record],
    candidate: Sequence[Record],
    *,
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
    localization_threshold: float | Mapping[str, float] | None = None,
    against: str = "reference",
) -> list[Discrepancy]:
    """Classify every discrepancy in one matching of candidate regions against reference regions.

    Events: unmatched reference -> ``unmatched_reference``; unmatched candidate
    -> ``unmatched_candidate``; matched with different labels ->
    ``label_mismatch``; matched with similarity below ``localization_threshold``
    -> ``low_similarity``; differing attributes, speakers or texts ->
    ``attribute_mismatch``, ``speaker_mismatch``, ``text_mismatch``. A matched
    pair can raise several events (wrong class and poorly localized).

    ``reference`` and ``candidate`` are the record lists the match indices point into.
    ``localization_threshold`` is one number or a mapping by value kind; the
    defaults (:data:`LOCALIZATION_THRESHOLDS`) are 0.75 for geometry, 1.0 for
    spans (any boundary difference is an error) and 0.9 for time segments.
    """
    out: list[Discrepancy] = []
    if localization_threshold is None or isinstance(localization_threshold, Mapping):
        limits = {**LOCALIZATION_THRESHOLDS, **(localization_threshold or {})}
    else:
        limits = dict.fromkeys(LOCALIZATION_THRESHOLDS, float(localization_threshold))

    def emit(event: str, ref: Record | None, cand: Record | None, evidence: Mapping[str, Any]) -> None:
        base = ref or cand
        assert base is not None  # one side always exists
        label = value_label(ref.value) if ref is not None else value_label(base.value)
        hit = taxonomy.classify(event=event, kind=base.kind, label=label, label_set=base.label_set,
                                similarity=evidence.get("similarity"))
        if hit is None:
            return
        out.append(Discrepancy(
            category=hit[0], severity=hit[1], event=event, item_id=base.item_id,
            label_set=base.label_set,
            annotator_id=(cand.annotator_id if cand is not None else
                          str(evidence.get("annotator_id", ""))),
            against=against, kind=base.kind,
            reference_region_id=ref.region_id if ref is not None else None,
            candidate_region_id=cand.region_id if cand is not None else None,
            reference_label=value_label(ref.value) if ref is not None else None,
            candidate_label=value_label(cand.value) if cand is not None else None,
            evidence=MappingProxyType(dict(evidence)),
        ))

    annotator = candidate[0].annotator_id if candidate else ""
    for i in match.unmatched_reference:
        emit("unmatched_reference", reference[i], None, {"annotator_id": annotator})
    for j in match.unmatched_candidate:
        emit("unmatched_candidate", None, candidate[j], {})
    mismatched = set(match.label_mismatches)
    for k, ((i, j), sim) in enumerate(zip(match.pairs, match.similarity, strict=True)):
        ref, cand = reference[i], candidate[j]
        ev = {"similarity": round(sim, 6)}
        if k in mismatched:
            emit("label_mismatch", ref, cand, ev)
        if sim < limits.get(ref.kind, 0.75) - 1e-12:
            emit("low_similarity", ref, cand, ev)
        if ref.attributes != cand.attributes:
            diff = sorted(k2 for k2 in set(ref.attributes) | set(cand.attributes)
                          if ref.attributes.get(k2) != cand.attributes.get(k2))
            emit("attribute_mismatch", ref, cand, {**ev, "attributes": diff})
        rs, cs = getattr(ref.value, "speaker", None), getattr(cand.value, "speaker", None)
        if rs != cs:
            emit("speaker_mismatch", ref, cand, {**ev, "reference_speaker": rs, "candidate_speaker": cs})
        rt, ct = _text_of(ref), _text_of(cand)
        if rt is not None and ct is not None and rt.split() != ct.split():
            emit("text_mismatch", ref, cand, {**ev, "edit_distance": word_edit_distance(rt, ct)})
    return out


def word_edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between the word sequences of ``a`` and ``b``."""
    return word_alignment(a.split(), b.split())[0]


# --------------------------------------------------------------------------- counts and trends


@dataclass(frozen=True, slots=True, kw_only=True)
class TaxonomyCounts:
    """Discrepancy counts by (category, label, annotator), with marginals.

    Every marginal comes in an order of the counts alone (categories most frequent first, ties
    by name; annotators, labels and the categories within them by name), never in the order the
    discrepancies were found, so counts merged from any split of the items read the same.
    """

    by_cell: Mapping[tuple[str, str, str], int]

    @property
    def by_category(self) -> dict[str, int]:
        c: Counter[str] = Counter()
        for (cat, _, _), n in self.by_cell.items():
            c[cat] += n
        return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def by_annotator(self) -> dict[str, dict[str, int]]:
        return self._marginal(2)

    @property
    def by_label(self) -> dict[str, dict[str, int]]:
        return self._marginal(1)

    def _marginal(self, axis: int) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for cell, n in sorted(self.by_cell.items()):
            row = out.setdefault(cell[axis], {})
            row[cell[0]] = row.get(cell[0], 0) + n
        return {k: dict(sorted(row.items())) for k, row in sorted(out.items())}

    def to_dict(self) -> dict[str, Any]:
        return {
            "by_category": self.by_category,
            "by_annotator": self.by_annotator,
            "by_label": self.by_label,
            "cells": [{"category": c, "label": lb, "annotator_id": a, "count": n}
                      for (c, lb, a), n in sorted(self.by_cell.items())],
        }


def count_discrepancies(discrepancies: Iterable[Discrepancy]) -> TaxonomyCounts:
    """Counts by category x label x annotator (label: the reference's, else the candidate's)."""
    c: Counter[tuple[str, str, str]] = Counter()
    for d in discrepancies:
        c[(d.category, d.reference_label or d.candidate_label or "", d.annotator_id)] += 1
    return TaxonomyCounts(by_cell=MappingProxyType(dict(c)))


def compare_counts(previous: Mapping[str, int], current: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """Per-category trend between two runs: ``{category: {previous, current, change}}``."""
    cats = sorted(set(previous) | set(current))
    return {c: {"previous": int(previous.get(c, 0)), "current": int(current.get(c, 0)),
                "change": int(current.get(c, 0)) - int(previous.get(c, 0))} for c in cats}


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseMismatch:
    """Label mismatches between labels that are equal up to letter case (``Butterfly`` vs ``butterfly``).

    Attributes:
        label_set: Where.
        labels: The spellings seen, sorted (at least two).
        n_discrepancies: Classified label mismatches between those spellings.
        categories: Their taxonomy categories (usually ``wrong_class``).
    """

    label_set: str
    labels: tuple[str, ...]
    n_discrepancies: int
    categories: tuple[str, ...]

    def message(self) -> str:
        """The hint, in words."""
        spelled = " vs ".join(repr(lab) for lab in self.labels)
        return (f"{self.label_set}: labels differ only in case: {spelled} ({self.n_discrepancies} "
                f"{'/'.join(c.replace('_', ' ') for c in self.categories)} error(s)); use one spelling "
                "in the labeling config and the data")


def case_mismatches(discrepancies: Iterable[Discrepancy]) -> list[CaseMismatch]:
    """Label mismatches whose two labels are equal up to case, grouped per label set and spelling.

    Most frequent first. A label-set or config typo then shows as one hint instead of a
    wall of "wrong class" errors.

    Example:
        >>> d = Discrepancy(category="wrong_class", severity="major", event="label_mismatch", item_id="1",
        ...                 label_set="obj", annotator_id="a", reference_label="Butterfly",
        ...                 candidate_label="butterfly")
        >>> case_mismatches([d, d])[0].message()[:52]
        "obj: labels differ only in case: 'Butterfly' vs 'but"
    """
    groups: dict[tuple[str, str], list[Discrepancy]] = {}
    spellings: dict[tuple[str, str], set[str]] = {}
    for d in discrepancies:
        a, b = d.reference_label, d.candidate_label
        if not isinstance(a, str) or not isinstance(b, str) or a == b or a.casefold() != b.casefold():
            continue
        key = (d.label_set, a.casefold())
        groups.setdefault(key, []).append(d)
        spellings.setdefault(key, set()).update((a, b))
    out = [CaseMismatch(label_set=ls, labels=tuple(sorted(spellings[(ls, k)])), n_discrepancies=len(ds),
                        categories=tuple(sorted({d.category for d in ds})))
           for (ls, k), ds in groups.items()]
    out.sort(key=lambda c: (-c.n_discrepancies, c.label_set, c.labels))
    return out
