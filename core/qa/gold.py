"""Gold-standard scoring: each annotator against the reference items.

Per annotator and label set, the metric that fits the value kind:

* classes: accuracy (and Cohen's kappa when defined) on gold items, with the
  confusion matrix;
* numbers: share within a tolerance, and mean absolute error;
* regions (boxes, polygons, masks, keypoints, spans, segments, tracks,
  cuboids): matched precision / recall / F1 at a similarity threshold and
  the mean similarity (IoU, OKS, character overlap...) of matched pairs;
* transcripts / free text: corpus-level word accuracy (1 - WER, from summed
  edit counts) and WER / CER.

Every rate carries its successes, n and a Wilson 95% interval, so twelve gold
items visibly say little. The verdict is ``pass`` when the interval's lower
end clears the threshold, ``fail`` when its upper end is below it, and
``undecided`` otherwise. ``more_items_needed`` answers that verdict: 0 when it is
decided, else the further gold items after which the interval would clear the
threshold if the observed rate held (:func:`items_to_decide`; ``None`` when no
number would, the rate sitting on the threshold). ``items_for_target_width`` is the
planner's figure: further items that would shrink the interval to the wanted width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from ..matching.base import MatchResult
from ..model import Dataset, Record, value_label
from .intervals import gold_items_needed, proportion_interval
from .taxonomy import DEFAULT_TAXONOMY, Discrepancy, Taxonomy, classify_match

Verdict = Literal["pass", "fail", "undecided", "no gold"]
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class RateCI:
    """A proportion with its counts and Wilson interval."""

    successes: float
    n: int
    estimate: float
    low: float
    high: float

    @classmethod
    def of(cls, successes: float, n: int, *, confidence: float = 0.95) -> RateCI:
        if n <= 0:
            return cls(successes=0.0, n=0, estimate=float("nan"), low=float("nan"), high=float("nan"))
        lo, hi = proportion_interval(successes, n, confidence=confidence, method="wilson")
        return cls(successes=float(successes), n=int(n), estimate=successes / n, low=float(lo), high=float(hi))

    def to_dict(self) -> dict[str, Any]:
        def f(v: float) -> float | None:
            return None if not np.isfinite(v) else round(float(v), 6)
        return {"estimate": f(self.estimate), "low": f(self.low), "high": f(self.high),
                "successes": self.successes, "n": self.n, "method": "wilson"}


@dataclass(frozen=True, slots=True, kw_only=True)
class GoldScore:
    """One annotator's score on one label set's gold items."""

    annotator_id: str
    label_set: str
    metric: str
    score: RateCI
    n_items: int
    verdict: Verdict
    more_items_needed: int | None
    details: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    items_for_target_width: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "score": self.score.to_dict(), "n_items": self.n_items,
                "verdict": self.verdict, "more_items_needed": self.more_items_needed,
                "items_for_target_width": self.items_for_target_width,
                **{k: v for k, v in self.details.items()}}


def verdict_for(rate: RateCI, threshold: float) -> Verdict:
    """pass / fail / undecided from where the interval lies relative to ``threshold``."""
    if rate.n == 0:
        return "no gold"
    if rate.low >= threshold:
        return "pass"
    if rate.high < threshold:
        return "fail"
    return "undecided"


def _more_needed(rate: RateCI, target_width: float) -> int | None:
    if rate.n == 0:
        return None
    p = min(max(rate.estimate, 0.0), 1.0)
    return int(gold_items_needed(p, target_width, already=rate.n))


def items_to_decide(rate: RateCI, threshold: float, *, max_n: int = 1_000_000) -> int | None:
    """Further gold items that would decide the verdict if the observed rate held.

    0 when the verdict is already ``pass`` or ``fail``. Otherwise the smallest ``k`` such
    that, at the same rate on ``n + k`` items, the 95% Wilson interval's lower end reaches
    ``threshold`` (rate above it) or its upper end falls below it (rate below it); the
    Wilson interval at a fixed rate narrows as ``n`` grows, so ``k`` is found by doubling,
    then bisection. ``None`` when no gold was scored, or when no number up to ``max_n``
    decides (the rate equals the threshold, or lies within rounding of it).

    Example:
        >>> items_to_decide(RateCI.of(9, 10), 0.8)  # 0.9 on 10 items: [0.596, 0.982]
        52
    """
    verdict = verdict_for(rate, threshold)
    if verdict == "no gold":
        return None
    if verdict in ("pass", "fail"):
        return 0
    p = rate.estimate

    def decided(n: int) -> bool:
        lo, hi = proportion_interval(p * n, n, method="wilson")
        return bool(lo >= threshold) if p > threshold else bool(hi < threshold)

    if p == threshold or not decided(max_n):
        return None
    lo_n, hi_n = rate.n, rate.n + 1
    while not decided(hi_n):
        lo_n, hi_n = hi_n, min(2 * hi_n, max_n)
    while hi_n - lo_n > 1:
        mid = (lo_n + hi_n) // 2
        lo_n, hi_n = (lo_n, mid) if decided(mid) else (mid, hi_n)
    return hi_n - rate.n


@dataclass(frozen=True, slots=True, kw_only=True)
class GoldOutcome:
    """Scores, classified discrepancies and confusion counts for one label set."""

    scores: tuple[GoldScore, ...]
    discrepancies: tuple[Discrepancy, ...]
    confusion: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    gold_items: frozenset[str] = frozenset()


def reference_by_item(dataset: Dataset, label_set: str) -> dict[str, list[Record]]:
    """Gold records per item for a label set (items with a reference submission, even empty)."""
    out: dict[str, list[Record]] = {}
    for s in dataset.submissions:
        if s.source == "reference" and not s.was_cancelled:
            out.setdefault(s.item_id, [])
    for r in dataset.records:
        if r.source == "reference" and r.label_set == label_set:
            out.setdefault(r.item_id, []).append(r)
    return out


def score_classes(dataset: Dataset, label_set: str, *, threshold: float, target_width: float,
                  taxonomy: Taxonomy = DEFAULT_TAXONOMY, numeric: bool = False,
                  tolerance: float = 0.0) -> GoldOutcome:
    """Accuracy (or within-tolerance share for numbers) of each annotator on gold items."""
    gold = {i: rs[0] for i, rs in reference_by_item(dataset, label_set).items() if rs}
    human = dataset.grouped_view(label_set, source="human")
    labels = list(dataset.schema[label_set].labels) if label_set in dataset.schema else []
    seen = sorted({str(value_label(r.value)) for r in gold.values()}
                  | {str(value_label(r.value)) for per in human.values() for rs in per.values() for r in rs})
    labels = labels + [lb for lb in seen if lb not in labels]
    index = {lb: k for k, lb in enumerate(labels)}
    scores, discrepancies, confusion = [], [], {}
    for ann in dataset.annotators():
        hits, n, abs_err = 0.0, 0, []
        cm = np.zeros((len(labels), len(labels)), dtype=int)
        for item, ref in gold.items():
            rs = human.get(item, {}).get(ann)
            if not rs:
                continue
            cand = rs[0]
            n += 1
            if numeric:
                rv, cv = float(ref.value.value), float(cand.value.value)  # type: ignore[union-attr]
                abs_err.append(abs(rv - cv))
                ok = abs(rv - cv) <= tolerance
                event = "value_mismatch"
            else:
                rl, cl = str(value_label(ref.value)), str(value_label(cand.value))
                cm[index[rl], index[cl]] += 1
                ok = rl == cl
                event = "label_mismatch"
            hits += ok
            if not ok:
                hit = taxonomy.classify(event=event, kind=ref.kind, label=value_label(ref.value),
                                        label_set=label_set)
                if hit:
                    ev: dict[str, Any] = {"absolute_error": abs(rv - cv)} if numeric else {}
                    discrepancies.append(Discrepancy(
                        category=hit[0], severity=hit[1], event=event, item_id=item, label_set=label_set,
                        annotator_id=ann, kind=ref.kind, reference_region_id=ref.region_id,
                        candidate_region_id=cand.region_id, reference_label=value_label(ref.value),
                        candidate_label=value_label(cand.value), evidence=ev))
        rate = RateCI.of(hits, n)
        details: dict[str, Any] = {}
        if numeric and abs_err:
            details["mean_absolute_error"] = round(float(np.mean(abs_err)), 6)
        if not numeric and n:
            confusion[ann] = cm.tolist()
        scores.append(GoldScore(annotator_id=ann, label_set=label_set,
                                metric="within_tolerance" if numeric else "accuracy", score=rate,
                                n_items=n, verdict=verdict_for(rate, threshold),
                                more_items_needed=items_to_decide(rate, threshold), details=details,
                                items_for_target_width=_more_needed(rate, target_width)))
    conf = {"labels": labels, "by_annotator": confusion} if confusion else {}
    return GoldOutcome(scores=tuple(scores), discrepancies=tuple(discrepancies), confusion=conf,
                       gold_items=frozenset(gold))


def score_regions(dataset: Dataset, label_set: str, *, match: Any, threshold: float,
                  target_width: float, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> GoldOutcome:
    """Matched precision / recall / F1 and mean similarity of each annotator on gold items.

    ``match(reference_values, candidate_values) -> MatchResult`` does the matching.
    The F1 rate's successes are ``2 tp`` out of ``n_reference + n_candidate``.
    """
    gold = reference_by_item(dataset, label_set)
    human = dataset.grouped(label_set, source="human")
    scores: list[GoldScore] = []
    discrepancies: list[Discrepancy] = []
    for ann in dataset.annotators():
        tp = n_ref = n_cand = 0
        sims: list[float] = []
        n_items = 0
        for item, ref in gold.items():
            if ann not in human.get(item, {}):
                continue
            cand = human[item][ann]
            n_items += 1
            m: MatchResult = match([r.value for r in ref], [c.value for c in cand])
            tp += m.tp
            n_ref += m.n_reference
            n_cand += m.n_candidate
            sims.extend(m.similarity)
            found = classify_match(m, ref, cand, taxonomy=taxonomy)
            discrepancies.extend(d if d.annotator_id else _with_annotator(d, ann) for d in found)
        f1 = RateCI.of(2 * tp, n_ref + n_cand)
        details = {
            "precision": RateCI.of(tp, n_cand).to_dict(), "recall": RateCI.of(tp, n_ref).to_dict(),
            "mean_similarity": round(float(np.mean(sims)), 6) if sims else None,
            "true_positives": tp, "n_reference": n_ref, "n_candidate": n_cand,
        }
        scores.append(GoldScore(annotator_id=ann, label_set=label_set, metric="f1", score=f1,
                                n_items=n_items, verdict=verdict_for(f1, threshold),
                                more_items_needed=items_to_decide(f1, threshold), details=details,
                                items_for_target_width=_more_needed(f1, target_width)))
    return GoldOutcome(scores=tuple(scores), discrepancies=tuple(discrepancies),
                       gold_items=frozenset(gold))


def _with_annotator(d: Discrepancy, ann: str) -> Discrepancy:
    from dataclasses import replace
    return replace(d, annotator_id=ann)


def score_texts(dataset: Dataset, label_set: str, *, error_counts: Any, threshold: float,
                target_width: float, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> GoldOutcome:
    """Corpus word accuracy (1 - WER from summed counts), WER and CER per annotator.

    ``error_counts(reference_text, candidate_text) -> (word_errors, ref_words, char_errors, ref_chars)``.
    """
    gold = {i: rs[0] for i, rs in reference_by_item(dataset, label_set).items() if rs}
    human = dataset.grouped(label_set, source="human")
    scores, discrepancies = [], []
    for ann in dataset.annotators():
        werr = wn = cerr = cn = 0
        n_items = 0
        for item, ref in gold.items():
            rs = human.get(item, {}).get(ann)
            if not rs:
                continue
            cand = rs[0]
            n_items += 1
            rt, ct = str(getattr(ref.value, "text", "")), str(getattr(cand.value, "text", ""))
            we, rw, ce, rc = error_counts(rt, ct)
            werr, wn, cerr, cn = werr + we, wn + rw, cerr + ce, cn + rc
            if we:
                hit = taxonomy.classify(event="text_mismatch", kind=ref.kind, label=None, label_set=label_set)
                if hit:
                    discrepancies.append(Discrepancy(
                        category=hit[0], severity=hit[1], event="text_mismatch", item_id=item,
                        label_set=label_set, annotator_id=ann, kind=ref.kind,
                        evidence={"word_errors": we, "reference_words": rw,
                                  "wer": round(we / rw, 6) if rw else None}))
        acc = RateCI.of(max(wn - werr, 0), wn)
        details = {"wer": round(werr / wn, 6) if wn else None, "cer": round(cerr / cn, 6) if cn else None,
                   "word_errors": werr, "reference_words": wn}
        scores.append(GoldScore(annotator_id=ann, label_set=label_set, metric="word_accuracy", score=acc,
                                n_items=n_items, verdict=verdict_for(acc, threshold),
                                more_items_needed=items_to_decide(acc, threshold), details=details,
                                items_for_target_width=_more_needed(acc, target_width)))
    return GoldOutcome(scores=tuple(scores), discrepancies=tuple(discrepancies), gold_items=frozenset(gold))


def summarize(outcomes: Mapping[str, GoldOutcome]) -> dict[str, dict[str, Any]]:
    """``{annotator: {label_set: score dict}}`` for the report."""
    out: dict[str, dict[str, Any]] = {}
    for ls, o in outcomes.items():
        for s in o.scores:
            if s.n_items:
                out.setdefault(s.annotator_id, {})[ls] = s.to_dict()
    return out


def gold_item_count(outcomes: Mapping[str, GoldOutcome]) -> int:
    items: set[str] = set()
    for o in outcomes.values():
        items |= o.gold_items
    return len(items)


__all__: Sequence[str] = (
    "GoldOutcome",
    "GoldScore",
    "RateCI",
    "items_to_decide",
    "score_classes",
    "score_regions",
    "score_texts",
    "summarize",
    "verdict_for",
)
