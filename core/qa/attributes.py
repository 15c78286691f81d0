"""Attribute agreement: do annotators give the regions they agree on the same attributes?

Regions are first matched one-to-one (per item, per annotator pair, and each
annotator against the reference when there is one) with the same matcher as
the report's region agreement. For every matched pair whose labels agree,
each attribute either side carries is compared:

* every attribute: **exact match** (equal canonical values: booleans as
  ``"true"``/``"false"``, numbers as numbers, text as written), a proportion
  with its Wilson interval (:func:`accord.core.qa.intervals.rate`) and its ``n``;
* text attributes: the **normalized Levenshtein similarity**
  ``1 - d(a, b) / max(len(a), len(b))`` in [0, 1] (1.0 for two empty strings),
  with ``d`` the character edit distance (unit costs), averaged over pairs;
* numeric attributes: the **absolute difference** ``|a - b|`` (mean and maximum).

A pair where only one side has the attribute counts in ``n`` as a mismatch
(``n_one_sided``) and is left out of the similarity and difference means.
Label-mismatched pairs are skipped (attributes of different labels are not
comparable) and counted in :attr:`AttributeReport.n_label_mismatches`.

An attribute's kind comes from the label set's :class:`~accord.core.schema.AttributeSpec`
(``text`` -> text, ``number`` -> numeric, ``select``/``radio``/``checkbox`` ->
categorical); without a spec, Python numbers are numeric, booleans categorical and
strings text. Keys in ``ignore`` (by default :data:`IGNORED_ATTRIBUTES`, bookkeeping a
tool attaches to a region rather than a judgment: drawing ``source``, ``z_order``,
``group_id``) are not compared.

Results keep raw counts and sums; pooled rows are recomputed from them, never
averaged from ratios. The Levenshtein distance reuses
:func:`accord.core.qa.consensus.word_alignment` on characters.

The work splits by item: :func:`attribute_pairs` matches one item's regions and keeps its
label-equal pairs; :func:`judge_pairs` compares the pairs of every item (an attribute's inferred
kind reads all of them). :func:`attribute_agreement` is the two in one process; the report's
:class:`~accord.core.report.attributes.AttributesSection` runs :func:`attribute_pairs` per partition.

>>> levenshtein_similarity_score("kitten", "sitting")  # d = 3, max length 7
0.5714285714285714
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from ..errors import InvalidAnnotationError
from ..matching.base import MatchResult
from ..model import BOOKKEEPING_ATTRIBUTES, REGION_KINDS, Dataset, Record, value_label
from ..schema import AttributeSpec
from .consensus import word_alignment
from .intervals import Rate, rate

__all__ = [
    "IGNORED_ATTRIBUTES",
    "AttributeAgreement",
    "AttributeKind",
    "AttributeMismatch",
    "AttributeReport",
    "Comparison",
    "PairRow",
    "attribute_agreement",
    "attribute_pairs",
    "judge_pairs",
    "levenshtein_distance",
    "levenshtein_similarity_score",
    "pool",
]

AttributeKind: TypeAlias = Literal["categorical", "text", "numeric"]
Comparison: TypeAlias = Literal["annotators", "reference"]
Matcher: TypeAlias = Callable[[Sequence[Any], Sequence[Any]], MatchResult]

#: Region bookkeeping that tools store beside attributes but that is not a judgment.
IGNORED_ATTRIBUTES: frozenset[str] = BOOKKEEPING_ATTRIBUTES

#: The id standing for the reference (gold) side of a comparison.
REFERENCE_ID = "reference"

_KIND_OF_INPUT: Mapping[str, AttributeKind] = {
    "select": "categorical", "radio": "categorical", "checkbox": "categorical", "text": "text", "number": "numeric",
}


def levenshtein_distance(a: str, b: str) -> int:
    """Character edit distance (insertions, deletions, substitutions at cost 1); symmetric, >= 0.

    >>> levenshtein_distance("flaw", "lawn")
    2
    """
    return word_alignment(tuple(a), tuple(b))[0]


def levenshtein_similarity_score(a: str, b: str) -> float:
    """``1 - d(a, b) / max(len(a), len(b))`` in [0, 1]; 1.0 when both are empty. Symmetric."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein_distance(a, b) / longest


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeMismatch:
    """One matched region pair whose values of one attribute differ."""

    item_id: str
    label_set: str
    label: str
    attribute: str
    comparison: Comparison
    reference_id: str
    candidate_id: str
    reference_region_id: str | None
    candidate_region_id: str | None
    reference_value: str | None
    candidate_value: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeAgreement:
    """Agreement on one attribute of one label, for one comparison (or pooled over several).

    Attributes:
        label_set / label / attribute / kind: What was compared.
        comparison: ``annotators`` (two annotators) or ``reference`` (an annotator vs gold).
        reference_id / candidate_id: The two sides (``"reference"`` for gold; ``"*"`` when pooled).
        n: Matched region pairs where at least one side has the attribute.
        n_exact: Of those, pairs with equal values.
        n_one_sided: Pairs where only one side has the attribute (mismatches).
        n_text / similarity_sum: Text pairs (both sides present) and their summed similarity.
        n_numeric / abs_difference_sum / max_abs_difference: Numeric pairs and |a - b| sums and maximum.
        confidence: Level of the exact-match interval.
    """

    label_set: str
    label: str
    attribute: str
    kind: AttributeKind
    comparison: Comparison
    reference_id: str
    candidate_id: str
    n: int
    n_exact: int
    n_one_sided: int = 0
    n_text: int = 0
    similarity_sum: float = 0.0
    n_numeric: int = 0
    abs_difference_sum: float = 0.0
    max_abs_difference: float = 0.0
    confidence: float = 0.95

    @property
    def exact_match(self) -> Rate:
        """Exact-match proportion ``n_exact / n`` with its Wilson interval (NaN when ``n == 0``)."""
        return rate(self.n_exact, self.n, confidence=self.confidence, method="wilson")

    @property
    def mean_similarity_score(self) -> float:
        """Mean normalized Levenshtein similarity of text pairs, in [0, 1]; NaN without text pairs."""
        return self.similarity_sum / self.n_text if self.n_text else math.nan

    @property
    def mean_absolute_error(self) -> float:
        """Mean |a - b| of numeric pairs, >= 0; NaN without numeric pairs."""
        return self.abs_difference_sum / self.n_numeric if self.n_numeric else math.nan


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeReport:
    """Attribute agreement of one label set.

    Attributes:
        label_set: The label set.
        rows: One row per (comparison, reference_id, candidate_id, label, attribute), sorted.
        mismatches: Every compared pair with differing values, in row order.
        n_region_pairs: Matched region pairs with equal labels (the pairs compared).
        n_label_mismatches: Matched pairs skipped because their labels differ.
    """

    label_set: str
    rows: tuple[AttributeAgreement, ...]
    mismatches: tuple[AttributeMismatch, ...]
    n_region_pairs: int
    n_label_mismatches: int

    def pooled(self) -> tuple[AttributeAgreement, ...]:
        """Rows summed over annotator pairs, per (comparison, label, attribute); see :func:`pool`."""
        return pool(self.rows)


def pool(rows: Sequence[AttributeAgreement]) -> tuple[AttributeAgreement, ...]:
    """Sum rows' counts per (comparison, label set, label, attribute); ids become ``"*"``.

    Raises:
        InvalidAnnotationError: rows of one attribute disagree on its kind.
    """
    groups: dict[tuple[str, str, str, str], list[AttributeAgreement]] = {}
    for r in rows:
        groups.setdefault((r.comparison, r.label_set, r.label, r.attribute), []).append(r)
    out = []
    for (_, label_set, label, attribute), rs in sorted(groups.items()):
        kinds = {r.kind for r in rs}
        if len(kinds) != 1:
            raise InvalidAnnotationError(
                f"attribute {attribute!r} of label {label!r} is compared as {sorted(kinds)}; "
                "pool rows of one kind only")
        out.append(AttributeAgreement(
            label_set=label_set, label=label, attribute=attribute, kind=rs[0].kind,
            comparison=rs[0].comparison, reference_id="*", candidate_id="*",
            n=sum(r.n for r in rs), n_exact=sum(r.n_exact for r in rs),
            n_one_sided=sum(r.n_one_sided for r in rs), n_text=sum(r.n_text for r in rs),
            similarity_sum=math.fsum(r.similarity_sum for r in rs), n_numeric=sum(r.n_numeric for r in rs),
            abs_difference_sum=math.fsum(r.abs_difference_sum for r in rs),
            max_abs_difference=max(r.max_abs_difference for r in rs), confidence=rs[0].confidence))
    return tuple(out)


# --------------------------------------------------------------------------- comparing values


def _canonical(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool):
        raise InvalidAnnotationError(f"{where}: expected a number, got the boolean {v!r}; "
                                     "declare the attribute as a checkbox, not a number")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InvalidAnnotationError(f"{where}: expected a number, got {v!r}; fix the value or declare the "
                                     "attribute's input type as text") from None
    if not math.isfinite(x):
        raise InvalidAnnotationError(f"{where}: expected a finite number, got {v!r}")
    return x


def _infer_kind(values: Sequence[Any]) -> AttributeKind:
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "numeric"
    if values and all(isinstance(v, bool) for v in values):
        return "categorical"
    return "text"


@dataclass(slots=True)
class _Acc:
    kind: AttributeKind
    n: int = 0
    n_exact: int = 0
    n_one_sided: int = 0
    n_text: int = 0
    similarity_sum: float = 0.0
    n_numeric: int = 0
    abs_difference_sum: float = 0.0
    max_abs_difference: float = 0.0


def _pairs_of(ref: Sequence[Record], cand: Sequence[Record], match: Matcher
              ) -> tuple[list[tuple[Record, Record]], int]:
    """Matched (reference, candidate) records with equal labels, and the number of label mismatches."""
    if not ref or not cand:
        return [], 0
    if ref[0].kind in REGION_KINDS:
        m = match([r.value for r in ref], [c.value for c in cand])
        bad = set(m.label_mismatches)
        pairs = [(ref[i], cand[j]) for k, (i, j) in enumerate(m.pairs) if k not in bad]
        return pairs, len(bad)
    # Whole-item values (a tag with attributes): pair equal labels in order.
    by_label: dict[str | None, list[Record]] = {}
    for c in cand:
        by_label.setdefault(value_label(c.value), []).append(c)
    pairs = []
    for r in ref:
        same = by_label.get(value_label(r.value))
        if same:
            pairs.append((r, same.pop(0)))
    return pairs, 0


def attribute_agreement(dataset: Dataset, label_set: str, *, match: Matcher | None = None,
                        iou_threshold: float = 0.5, ignore: Collection[str] = IGNORED_ATTRIBUTES,
                        confidence: float = 0.95) -> AttributeReport:
    """Exact-match, text-similarity and numeric-difference agreement of attributes on matched regions.

    Args:
        dataset: The records; ``human`` records are compared pairwise, and each annotator
            with the ``reference`` records of an item when it has some.
        label_set: A label set of regions (boxes, polygons, tracks, ...) or of tags.
        match: ``match(reference_values, candidate_values) -> MatchResult``; default
            :func:`accord.core.matching.geometry.match_regions` at ``iou_threshold``, labels ignored
            (so label mismatches are seen and skipped).
        iou_threshold: For the default matcher, in [0, 1].
        ignore: Attribute names not compared.
        confidence: Level of the exact-match intervals, in (0, 1).

    Returns:
        An :class:`AttributeReport` (empty rows when no matched pair carries an attribute).

    Raises:
        InvalidAnnotationError: a ``number`` attribute holds something that is not a number.

    >>> from accord.core.model import Box
    >>> def rec(who, colour):
    ...     return Record(item_id="a.jpg", annotator_id=who, label_set="boxes", attributes={"colour": colour},
    ...                   value=Box(label="car", x=0, y=0, width=10, height=10))
    >>> ds = Dataset(records=(rec("ann1", "red"), rec("ann2", "rad")))
    >>> row, = attribute_agreement(ds, "boxes").rows
    >>> (row.n, row.n_exact, round(row.mean_similarity_score, 4))  # "red" vs "rad": d = 1, 1 - 1/3
    (1, 0, 0.6667)
    """
    if not 0.0 < confidence < 1.0:
        raise InvalidAnnotationError(f"confidence must be in (0, 1), got {confidence!r}")
    if match is None:
        from ..matching.geometry import match_regions

        def match(ref: Sequence[Any], cand: Sequence[Any]) -> MatchResult:
            return match_regions(list(ref), list(cand), iou_threshold=iou_threshold, label_aware=False)

    ls = dataset.schema.label_sets.get(label_set)
    specs: Mapping[str, tuple[AttributeSpec, ...]] = ls.attributes if ls is not None else {}
    human = dataset.grouped(label_set, source="human")
    reference: dict[str, list[Record]] = {}
    for item, per in dataset.grouped(label_set, source="reference").items():
        for rs in per.values():
            reference.setdefault(item, []).extend(rs)
    compared: list[PairRow] = []
    n_label_mismatches = 0
    for item in sorted(set(human) | set(reference)):
        rows, bad = attribute_pairs(human.get(item, {}), reference.get(item, []), match=match, ignore=ignore)
        compared.extend(rows)
        n_label_mismatches += bad
    return judge_pairs(compared, label_set=label_set, specs=specs, n_label_mismatches=n_label_mismatches,
                       confidence=confidence)


@dataclass(frozen=True, slots=True, kw_only=True)
class PairRow:
    """One matched region pair with equal labels, as attribute agreement compares it (plain data).

    Attributes:
        comparison / reference_id / candidate_id: The two sides.
        item_id / label: The item and the (shared) label.
        reference_attributes / candidate_attributes: Each side's attributes, ignored keys left out.
        reference_region_id / candidate_region_id: The regions' ids.
    """

    comparison: Comparison
    reference_id: str
    candidate_id: str
    item_id: str
    label: str
    reference_attributes: Mapping[str, Any]
    candidate_attributes: Mapping[str, Any]
    reference_region_id: str | None
    candidate_region_id: str | None


def attribute_pairs(human: Mapping[str, Sequence[Record]], reference: Sequence[Record], *, match: Matcher,
                    ignore: Collection[str] = IGNORED_ATTRIBUTES) -> tuple[list[PairRow], int]:
    """The matched, label-equal region pairs of one item, and its label-mismatched pairs.

    Args:
        human: ``{annotator_id: records}`` of the item's human annotators in the label set.
        reference: The item's reference records in the label set (empty without gold).
        match: As in :func:`attribute_agreement` (required here).
        ignore: Attribute names not compared (left out of the rows).
    """
    sides: list[tuple[Comparison, str, str, Sequence[Record], Sequence[Record]]] = [
        ("annotators", a, b, human[a], human[b]) for a, b in itertools.combinations(sorted(human), 2)]
    if reference:
        sides += [("reference", REFERENCE_ID, a, reference, human[a]) for a in sorted(human)]
    out: list[PairRow] = []
    n_bad = 0
    for comparison, a, b, ra, rb in sides:
        pairs, bad = _pairs_of(ra, rb, match)
        n_bad += bad
        out.extend(PairRow(comparison=comparison, reference_id=a, candidate_id=b, item_id=r.item_id,
                           label=str(value_label(r.value)),
                           reference_attributes={k: v for k, v in r.attributes.items() if k not in ignore},
                           candidate_attributes={k: v for k, v in c.attributes.items() if k not in ignore},
                           reference_region_id=r.region_id, candidate_region_id=c.region_id)
                   for r, c in pairs)
    return out, n_bad


def judge_pairs(compared: Sequence[PairRow], *, label_set: str, specs: Mapping[str, Sequence[AttributeSpec]],
                n_label_mismatches: int, confidence: float = 0.95) -> AttributeReport:
    """The :class:`AttributeReport` of the compared pairs (in item-id order in :func:`attribute_agreement`:
    the similarity and difference sums are float additions in that order).

    Args:
        compared: Every item's :func:`attribute_pairs`, concatenated.
        label_set: The label set.
        specs: The label set's attribute specs by label (an attribute's kind).
        n_label_mismatches: Summed over the items.
        confidence: Level of the exact-match intervals.
    """
    # An attribute's kind: from its spec, else from every value it takes in the compared pairs.
    seen: dict[tuple[str, str], list[Any]] = {}
    for pr in compared:
        for attrs in (pr.reference_attributes, pr.candidate_attributes):
            for k, v in attrs.items():
                seen.setdefault((pr.label, k), []).append(v)
    kinds: dict[tuple[str, str], AttributeKind] = {}
    for (label, name), values in seen.items():
        spec = next((s for s in specs.get(label, ()) if s.name == name), None)
        kinds[(label, name)] = _KIND_OF_INPUT.get(spec.input_type, "text") if spec else _infer_kind(values)

    acc: dict[tuple[Comparison, str, str, str, str], _Acc] = {}
    mismatches: list[AttributeMismatch] = []
    for pr in compared:
        comparison, a, b, label = pr.comparison, pr.reference_id, pr.candidate_id, pr.label
        ra, rc = pr.reference_attributes, pr.candidate_attributes
        names = sorted({*ra, *rc})
        for name in names:
            kind = kinds[(label, name)]
            cell = acc.setdefault((comparison, a, b, label, name), _Acc(kind=kind))
            cell.n += 1
            va, vb = ra.get(name), rc.get(name)
            where = f"item {pr.item_id!r}, label {label!r}, attribute {name!r}"
            if va is None or vb is None:
                cell.n_one_sided += 1
                same = False
            elif kind == "numeric":
                diff = abs(_number(va, where) - _number(vb, where))
                cell.n_numeric += 1
                cell.abs_difference_sum += diff
                cell.max_abs_difference = max(cell.max_abs_difference, diff)
                same = diff == 0.0
            else:
                sa, sb = _canonical(va), _canonical(vb)
                same = sa == sb
                if kind == "text":
                    cell.n_text += 1
                    cell.similarity_sum += levenshtein_similarity_score(sa, sb)
            if same:
                cell.n_exact += 1
            else:
                mismatches.append(AttributeMismatch(
                    item_id=pr.item_id, label_set=label_set, label=label, attribute=name, comparison=comparison,
                    reference_id=a, candidate_id=b, reference_region_id=pr.reference_region_id,
                    candidate_region_id=pr.candidate_region_id, reference_value=None if va is None else _canonical(va),
                    candidate_value=None if vb is None else _canonical(vb)))
    rows = tuple(AttributeAgreement(
        label_set=label_set, label=label, attribute=name, kind=x.kind, comparison=comparison, reference_id=a,
        candidate_id=b, n=x.n, n_exact=x.n_exact, n_one_sided=x.n_one_sided, n_text=x.n_text,
        similarity_sum=x.similarity_sum, n_numeric=x.n_numeric, abs_difference_sum=x.abs_difference_sum,
        max_abs_difference=x.max_abs_difference, confidence=confidence)
        for (comparison, a, b, label, name), x in sorted(acc.items(), key=lambda kv: kv[0]))
    order = {(r.comparison, r.reference_id, r.candidate_id, r.label, r.attribute): k for k, r in enumerate(rows)}
    mismatches.sort(key=lambda m: (order[(m.comparison, m.reference_id, m.candidate_id, m.label, m.attribute)],
                                   m.item_id))
    return AttributeReport(label_set=label_set, rows=rows, mismatches=tuple(mismatches),
                           n_region_pairs=len(compared), n_label_mismatches=n_label_mismatches)
