"""Gold scoring as a mergeable section (:class:`GoldSection`): per-item comparisons, summed counts.

:mod:`accord.core.qa.gold` scores each annotator against the reference (gold) records of one
label set. Every figure it reports is a sum over (gold item, annotator) comparisons, and a
comparison reads one item only, so the work splits by item:

* :meth:`GoldSection.add` compares, on each gold item of the partition, every annotator's
  records with the reference (class equality, numeric tolerance, the region matcher, word and
  character edit counts) and keeps integer counts per annotator, the confusion counts by
  ``(annotator, reference label, candidate label)``, the classified discrepancies, and the
  few float values a mean is taken of (numeric absolute errors, matched similarities);
* :meth:`GoldSection.merge` adds the counts and concatenates the lists;
* :meth:`GoldSection.finish` builds the Wilson intervals, verdicts and item counts from the
  summed counts (:meth:`~accord.core.qa.gold.RateCI.of`, :func:`~accord.core.qa.gold.verdict_for`,
  :func:`~accord.core.qa.gold.items_to_decide`), exactly as the one-process functions do.

Order. The one-process functions walk gold items in the order their reference submissions
appear in the dataset, which a partition cannot know. This section uses the canonical order
instead: annotators sorted (as today), then gold items sorted by id, then, within one item and
annotator, the order the matcher and taxonomy produce (which a partition keeps). The
discrepancy list is in that order, and the two float means (``mean_absolute_error``,
``mean_similarity``) are ``np.mean`` over the values in that order: bit-identical to today's
whenever today's gold order is sorted by item id, otherwise equal up to the order of float
additions (about 1e-16 relative, before the 6-digit rounding the report applies). Every count,
rate, interval and verdict is exact on any split.

State size: counts per annotator, confusion counts (annotators x labels squared at most), the
discrepancies (which the result lists), the gold item ids (which the result reports), and one
float per numeric comparison or matched region pair (a mean's bits depend on every value).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..model import REGION_KINDS, Dataset, value_label
from ..qa.gold import GoldOutcome, GoldScore, RateCI, _more_needed, items_to_decide, reference_by_item, verdict_for
from ..qa.taxonomy import Discrepancy, classify_match
from .engine import Context

__all__ = ["GoldSection", "GoldState"]

Family = Literal["classes", "numeric", "regions", "texts"]
FloatArray = npt.NDArray[np.float64]

#: Integer counts kept per annotator, by family (the GoldScore is built from their sums).
_COUNTS: Mapping[str, tuple[str, ...]] = {
    "classes": ("n_items",),  # hits and n come from the confusion counts
    "numeric": ("n_items", "hits"),
    "regions": ("n_items", "true_positives", "n_reference", "n_candidate"),
    "texts": ("n_items", "word_errors", "reference_words", "char_errors", "reference_chars"),
}


@dataclass(slots=True, kw_only=True)
class GoldState:
    """Sums over the gold items folded so far (plain, picklable data).

    Attributes:
        annotators: Human annotators with a submission in the folded partitions (the result
            scores each, with ``n_items == 0`` where they met no gold item).
        gold_items: Items with gold for this label set (``GoldOutcome.gold_items``).
        schema_labels: The schema's labels of the label set (``None`` until a partition is
            folded; every partition carries the whole schema).
        seen: Classification only: every label a human or reference record of the label set
            carries (the confusion matrix's labels beyond the schema's).
        counts: ``{annotator: [count, ...]}`` in the order of ``_COUNTS[family]``.
        confusion: Classification only: ``{(annotator, reference label, candidate label): n}``.
        values: ``{annotator: [(item_id, values), ...]}``: absolute errors (numeric) or matched
            similarities (regions) of each comparison, for the means.
        discrepancies: ``(annotator, item_id, discrepancy, evidence was a mapping proxy)`` in
            each partition's order; evidence is a plain dict here (a mapping proxy does not pickle).
    """

    annotators: frozenset[str] = frozenset()
    gold_items: frozenset[str] = frozenset()
    schema_labels: tuple[str, ...] | None = None
    seen: frozenset[str] = frozenset()
    counts: dict[str, list[int]] = field(default_factory=dict)
    confusion: dict[tuple[str, str, str], int] = field(default_factory=dict)
    values: dict[str, list[tuple[str, FloatArray]]] = field(default_factory=dict)
    discrepancies: list[tuple[str, str, Discrepancy, bool]] = field(default_factory=list)


def _plain(d: Discrepancy) -> tuple[Discrepancy, bool]:
    if type(d.evidence) is dict:
        return d, False
    return replace(d, evidence=dict(d.evidence)), isinstance(d.evidence, MappingProxyType)


class GoldSection:
    """Gold scoring of one label set (stage 0), equal to ``accord.core.qa.gold.score_classes`` /
    ``score_regions`` / ``score_texts`` as :func:`accord.core.qa.report.build_report` calls them.

    Args:
        label_set: The label set.
        kind: Its value kind: a class kind (``classification``, ``multilabel``, ``numeric``),
            a region kind (``box``, ``polygon``, ``mask``, ``span``, ``segment``, ...) or ``text``.

    Reads ``ctx.config`` (a ``ReportConfig``: ``gold_threshold``, ``gold_target_width``,
    ``taxonomy``, ``numeric_tolerance``, and the region matcher's ``iou_threshold`` and
    keypoint sigmas); nothing from ``ctx.results`` or ``ctx.options``. Result: a
    :class:`~accord.core.qa.gold.GoldOutcome` (see the module docstring for its order).

    Raises:
        ConfigError: A kind gold scoring does not measure.
    """

    stage = 0

    def __init__(self, label_set: str, kind: str) -> None:
        from ..qa.report import CLASS_KINDS

        family: Family
        if kind in CLASS_KINDS:
            family = "numeric" if kind == "numeric" else "classes"
        elif kind in REGION_KINDS:
            family = "regions"
        elif kind == "text":
            family = "texts"
        else:
            raise ConfigError(f"gold scoring measures class, region and text kinds, got {kind!r} for label set "
                              f"{label_set!r}; leave the label set out of the gold sections")
        self.label_set = label_set
        self.kind = kind
        self.family: Family = family
        self.name = f"gold:{label_set}"

    # -- the contract

    def create(self, ctx: Context) -> GoldState:
        return GoldState()

    def add(self, state: GoldState, part: Dataset, ctx: Context) -> GoldState:
        return self.merge(state, self._fold(part, ctx.config))

    def merge(self, a: GoldState, b: GoldState) -> GoldState:
        counts = {k: list(v) for k, v in a.counts.items()}
        for k, v in b.counts.items():
            have = counts.get(k)
            counts[k] = list(v) if have is None else [x + y for x, y in zip(have, v, strict=True)]
        confusion = dict(a.confusion)
        for key, n in b.confusion.items():
            confusion[key] = confusion.get(key, 0) + n
        values = {k: list(rows) for k, rows in a.values.items()}
        for k, rows in b.values.items():
            values.setdefault(k, []).extend(rows)
        return GoldState(annotators=a.annotators | b.annotators, gold_items=a.gold_items | b.gold_items,
                         schema_labels=a.schema_labels if a.schema_labels is not None else b.schema_labels,
                         seen=a.seen | b.seen, counts=counts, confusion=confusion, values=values,
                         discrepancies=[*a.discrepancies, *b.discrepancies])

    def next_params(self, state: GoldState, ctx: Context) -> None:
        return None

    def finish(self, state: GoldState, ctx: Context) -> GoldOutcome:
        cfg = ctx.config
        threshold, width = cfg.gold_threshold, cfg.gold_target_width
        annotators = sorted(state.annotators)
        zero = [0] * len(_COUNTS[self.family])
        labels: list[str] = []
        index: dict[str, int] = {}
        if self.family == "classes":
            labels = list(state.schema_labels or ())
            labels = labels + [lb for lb in sorted(state.seen) if lb not in labels]
            index = {lb: k for k, lb in enumerate(labels)}
        tables: dict[str, list[tuple[int, int, int]]] = {}
        for (ann, rl, cl), n in state.confusion.items():
            tables.setdefault(ann, []).append((index[rl], index[cl], n))
        scores: list[GoldScore] = []
        confusion: dict[str, Any] = {}
        for ann in annotators:
            c = state.counts.get(ann, zero)
            n_items = c[0]
            details: dict[str, Any] = {}
            if self.family in ("classes", "numeric"):
                if self.family == "classes":
                    cm = np.zeros((len(labels), len(labels)), dtype=int)
                    for i, j, k in tables.get(ann, ()):
                        cm[i, j] += k
                    hits = float(np.trace(cm))
                    if n_items:
                        confusion[ann] = cm.tolist()
                else:
                    hits = float(c[1])
                    errors = self._values(state, ann)
                    if errors.size:
                        details["mean_absolute_error"] = round(float(np.mean(errors)), 6)
                rate = RateCI.of(hits, n_items)
                metric = "accuracy" if self.family == "classes" else "within_tolerance"
            elif self.family == "regions":
                tp, n_ref, n_cand = c[1], c[2], c[3]
                sims = self._values(state, ann)
                rate = RateCI.of(2 * tp, n_ref + n_cand)
                metric = "f1"
                details = {
                    "precision": RateCI.of(tp, n_cand).to_dict(), "recall": RateCI.of(tp, n_ref).to_dict(),
                    "mean_similarity": round(float(np.mean(sims)), 6) if sims.size else None,
                    "true_positives": tp, "n_reference": n_ref, "n_candidate": n_cand,
                }
            else:
                werr, wn, cerr, cn = c[1], c[2], c[3], c[4]
                rate = RateCI.of(max(wn - werr, 0), wn)
                metric = "word_accuracy"
                details = {"wer": round(werr / wn, 6) if wn else None, "cer": round(cerr / cn, 6) if cn else None,
                           "word_errors": werr, "reference_words": wn}
            scores.append(GoldScore(annotator_id=ann, label_set=self.label_set, metric=metric, score=rate,
                                    n_items=n_items, verdict=verdict_for(rate, threshold),
                                    more_items_needed=items_to_decide(rate, threshold), details=details,
                                    items_for_target_width=_more_needed(rate, width)))
        ordered = sorted(state.discrepancies, key=lambda e: (e[0], e[1]))  # stable: an item's order stays
        found = tuple(replace(d, evidence=MappingProxyType(d.evidence)) if proxy else d for _, _, d, proxy in ordered)
        gold_items = frozenset(state.gold_items)
        if self.family not in ("classes", "numeric"):  # score_regions / score_texts leave the default
            return GoldOutcome(scores=tuple(scores), discrepancies=found, gold_items=gold_items)
        conf = {"labels": labels, "by_annotator": confusion} if confusion else {}
        return GoldOutcome(scores=tuple(scores), discrepancies=found, confusion=conf, gold_items=gold_items)

    # -- one partition

    @staticmethod
    def _values(state: GoldState, ann: str) -> FloatArray:
        rows = sorted(state.values.get(ann, ()), key=lambda e: e[0])
        return np.concatenate([v for _, v in rows]) if rows else np.zeros(0)

    def _fold(self, part: Dataset, cfg: Any) -> GoldState:
        name = self.label_set
        annotators = frozenset(part.annotators())
        refs = reference_by_item(part, name)
        out = GoldState(annotators=annotators,
                        schema_labels=tuple(part.schema[name].labels) if name in part.schema else ())
        if self.family == "regions":
            out.gold_items = frozenset(refs)
            self._fold_regions(out, part, refs, cfg)
            return out
        gold = {i: rs[0] for i, rs in refs.items() if rs}
        out.gold_items = frozenset(gold)
        human = part.grouped_view(name, source="human")
        if self.family == "classes":
            if any(s.was_cancelled for s in part.submissions):  # the grouping leaves skipped passes out
                recs: Sequence[Any] = [r for per in human.values() for rs in per.values() for r in rs]
            else:  # no skip: the grouping holds every human record of the label set
                recs = part.select(label_set=name, source="human")
            labels = set(map(value_label, map(attrgetter("value"), recs)))
            labels.update(value_label(r.value) for r in gold.values())
            out.seen = frozenset(map(str, labels))
        taxonomy = cfg.taxonomy
        counts = out.counts
        for item, ref in gold.items():
            per = human.get(item)
            if not per:
                continue
            for ann, rs in per.items():
                if not rs or ann not in annotators:
                    continue
                cand = rs[0]
                c = counts.get(ann)
                if c is None:
                    c = counts[ann] = [0] * len(_COUNTS[self.family])
                c[0] += 1
                if self.family == "texts":
                    self._text(out, c, item, ann, ref, cand, taxonomy)
                    continue
                if self.family == "numeric":
                    rv, cv = float(ref.value.value), float(cand.value.value)  # type: ignore[union-attr]
                    err = abs(rv - cv)
                    out.values.setdefault(ann, []).append((item, np.array([err])))
                    ok = err <= cfg.numeric_tolerance
                    c[1] += ok
                    event = "value_mismatch"
                else:
                    rl, cl = str(value_label(ref.value)), str(value_label(cand.value))
                    key = (ann, rl, cl)
                    out.confusion[key] = out.confusion.get(key, 0) + 1
                    ok = rl == cl
                    event = "label_mismatch"
                if ok:
                    continue
                hit = taxonomy.classify(event=event, kind=ref.kind, label=value_label(ref.value), label_set=name)
                if hit:
                    ev: dict[str, Any] = {"absolute_error": err} if self.family == "numeric" else {}
                    out.discrepancies.append((ann, item, Discrepancy(
                        category=hit[0], severity=hit[1], event=event, item_id=item, label_set=name,
                        annotator_id=ann, kind=ref.kind, reference_region_id=ref.region_id,
                        candidate_region_id=cand.region_id, reference_label=value_label(ref.value),
                        candidate_label=value_label(cand.value), evidence=ev), False))
        return out

    def _text(self, out: GoldState, c: list[int], item: str, ann: str, ref: Any, cand: Any, taxonomy: Any) -> None:
        from ..qa.report import word_error_counts

        rt, ct = str(getattr(ref.value, "text", "")), str(getattr(cand.value, "text", ""))
        we, rw, ce, rc = word_error_counts(rt, ct)
        c[1] += we
        c[2] += rw
        c[3] += ce
        c[4] += rc
        if we:
            hit = taxonomy.classify(event="text_mismatch", kind=ref.kind, label=None, label_set=self.label_set)
            if hit:
                out.discrepancies.append((ann, item, Discrepancy(
                    category=hit[0], severity=hit[1], event="text_mismatch", item_id=item,
                    label_set=self.label_set, annotator_id=ann, kind=ref.kind,
                    evidence={"word_errors": we, "reference_words": rw,
                              "wer": round(we / rw, 6) if rw else None}), False))

    def _fold_regions(self, out: GoldState, part: Dataset, refs: Mapping[str, Sequence[Any]], cfg: Any) -> None:
        from ..qa.report import _region_matcher

        match: Callable[[Sequence[Any], Sequence[Any]], Any] = _region_matcher(cfg)
        taxonomy = cfg.taxonomy
        human = part.grouped_view(self.label_set, source="human")
        annotators = out.annotators
        for item, ref in refs.items():
            per = human.get(item)
            if not per:
                continue
            ref_values = [r.value for r in ref]
            for ann, cand in per.items():
                if ann not in annotators:
                    continue
                m = match(ref_values, [r.value for r in cand])
                c = out.counts.get(ann)
                if c is None:
                    c = out.counts[ann] = [0, 0, 0, 0]
                c[0] += 1
                c[1] += m.tp
                c[2] += m.n_reference
                c[3] += m.n_candidate
                if len(m.similarity):
                    out.values.setdefault(ann, []).append((item, np.asarray(m.similarity, dtype=np.float64)))
                for d in classify_match(m, list(ref), list(cand), taxonomy=taxonomy):
                    plain, proxy = _plain(d if d.annotator_id else replace(d, annotator_id=ann))
                    out.discrepancies.append((ann, item, plain, proxy))
