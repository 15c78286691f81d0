"""The region and text agreement functions as they were before they became mergeable sections
(issue #16), verbatim from ``accord.core.qa.report``: the references the section tests compare
:class:`~accord.core.report.regions.RegionAgreementSection` and
:class:`~accord.core.report.regions.TextAgreementSection` against, figure for figure."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from accord.core.agreement_structured import structured_alpha
from accord.core.errors import UndefinedAgreementError
from accord.core.model import Dataset, Record, value_label
from accord.core.qa.region_intervals import RatioStats
from accord.core.qa.report import (
    _EXPECTED_PAIRS,
    ReportConfig,
    _ci_dict,
    _f,
    _region_intervals,
    _region_matcher,
    _set_distance,
    word_error_counts,
)
from accord.core.qa.taxonomy import Discrepancy

__all__ = ["ref_region_agreement", "ref_text_agreement"]


def ref_region_agreement(ds: Dataset, name: str, config: ReportConfig, seed: int
                          ) -> tuple[dict[str, Any], dict[str, float], list[Discrepancy]]:
    ls = ds.schema.label_sets.get(name)
    kind = ls.kind if ls else ds.select(label_set=name)[0].kind
    human = ds.grouped_view(name, source="human")
    annotators = ds.annotators()
    match = _region_matcher(config)
    dist = _set_distance(match)
    units = {i: per for i, per in human.items() if len(per) >= 2}
    out: dict[str, Any] = {"kind": kind, "n_items": len(units), "n_annotators": len(annotators),
                           "coefficients": {}, "per_label": {}, "primary": None}
    item_scores: dict[str, float] = {}
    if len(annotators) < 2 or not units:
        out["note"] = "fewer than two annotators per item: agreement is undefined"
        return out, item_scores, []
    # Pairwise matched F1 per annotator pair, per item, and per label.
    pair_tp: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    label_tp: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    sims: list[float] = []
    # Each item's counts, once, for the item-bootstrap intervals (accord.core.qa.region_intervals).
    stats = RatioStats(n_items=len(units))
    for ix, (item, per) in enumerate(units.items()):
        f1s = []
        item_label: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for a, b in itertools.combinations(sorted(per), 2):
            ra, rb = per[a], per[b]
            m = match([r.value for r in ra], [r.value for r in rb])
            acc = pair_tp[(a, b)]
            acc[0] += m.tp
            acc[1] += m.n_reference + m.n_candidate
            acc[2] += sum(m.similarity)
            stats.add(ix, ("pair", a, b), 2.0 * m.tp, float(m.n_reference + m.n_candidate))
            stats.add(ix, "matched_f1", 2.0 * m.tp, float(m.n_reference + m.n_candidate))
            stats.add(ix, "mean_matched_similarity", float(sum(m.similarity)), float(len(m.similarity)))
            f1s.append(m.f1_score())
            sims.extend(m.similarity)
            bad = set(m.label_mismatches)
            for k, (i, _) in enumerate(m.pairs):
                lab = str(value_label(ra[i].value))
                item_label[lab][0] += 2 * (k not in bad)
                item_label[lab][1] += 2
            for i in m.unmatched_reference:
                item_label[str(value_label(ra[i].value))][1] += 1
            for j in m.unmatched_candidate:
                item_label[str(value_label(rb[j].value))][1] += 1
        for lab, (num, den) in item_label.items():
            label_tp[lab][0] += num
            label_tp[lab][1] += den
            stats.add(ix, ("label", lab), num, den)
        item_scores[item] = float(np.mean(f1s)) if f1s else 1.0
    memo: dict[tuple[int, int], float] = {}

    def cached(x: Sequence[Record], y: Sequence[Record]) -> float:
        key = (id(x), id(y)) if id(x) <= id(y) else (id(y), id(x))
        if key not in memo:
            memo[key] = dist(x, y)
        return memo[key]

    try:
        res = structured_alpha(units, cached, seed=seed,  # type: ignore[arg-type]
                               max_expected_pairs=_EXPECTED_PAIRS)
        # Bootstrap as Krippendorff does: resample items for the observed
        # disagreement, hold the expected disagreement of the whole data fixed.
        per_item = [[cached(x, y) for x, y in itertools.combinations(list(per.values()), 2)]
                    for per in units.values()]
        sums = np.array([sum(d) for d in per_item])
        counts = np.array([len(d) for d in per_item])
        rng = np.random.default_rng(seed)
        pick = rng.integers(0, len(per_item), (min(config.n_bootstrap, 1000), len(per_item)))
        boot_do = sums[pick].sum(axis=1) / np.maximum(counts[pick].sum(axis=1), 1)
        boots = 1.0 - boot_do / res.expected_distance
        lo, hi = (float(x) for x in np.percentile(boots, [2.5, 97.5]))
        out["coefficients"]["structured_alpha"] = _ci_dict(res.alpha, lo, hi, len(units))
    except UndefinedAgreementError as e:
        out["coefficients"]["structured_alpha"] = {**_ci_dict(None, None, None, len(units)), "undefined": str(e)}
    tp = sum(v[0] for v in pair_tp.values())
    tot = sum(v[1] for v in pair_tp.values())
    out["coefficients"]["matched_f1"] = _ci_dict(2 * tp / tot if tot else None, None, None, len(units))
    mean_sim = float(np.mean(sims)) if sims else None
    out["coefficients"]["mean_matched_similarity"] = _ci_dict(mean_sim, None, None, len(sims))
    out["primary"] = "structured_alpha"
    mat: list[list[float | None]] = []
    for a in annotators:
        row: list[float | None] = []
        for b in annotators:
            if a == b:
                row.append(1.0)
                continue
            v = pair_tp.get((a, b)) or pair_tp.get((b, a))
            row.append(_f(2 * v[0] / v[1]) if v and v[1] else None)
        mat.append(row)
    out["pairwise"] = {"annotators": list(annotators), "metric": "matched_f1", "matrix": mat}
    out["per_label"] = {lab: {"metric": "matched_f1", "estimate": _f(a / b if b else None), "low": None,
                              "high": None, "n": int(b)} for lab, (a, b) in sorted(label_tp.items())}
    out["intervals"] = _region_intervals(stats, annotators, sorted(label_tp), config, seed)
    return out, item_scores, []


def ref_text_agreement(ds: Dataset, name: str, config: ReportConfig) -> tuple[dict[str, Any], dict[str, float]]:
    human = ds.grouped_view(name, source="human")
    annotators = ds.annotators()
    out: dict[str, Any] = {"kind": "text", "n_items": 0, "n_annotators": len(annotators),
                           "coefficients": {}, "per_label": {}, "primary": None}
    item_scores: dict[str, float] = {}
    pair: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    n_items = 0
    for item, per in human.items():
        texts = {a: str(getattr(rs[0].value, "text", "")) for a, rs in per.items() if rs}
        if len(texts) < 2:
            continue
        n_items += 1
        accs = []
        for a, b in itertools.combinations(sorted(texts), 2):
            # symmetric: average the two directions' word errors
            e1, n1, *_ = word_error_counts(texts[a], texts[b])
            e2, n2, *_ = word_error_counts(texts[b], texts[a])
            pair[(a, b)][0] += e1 + e2
            pair[(a, b)][1] += n1 + n2
            accs.append(1 - (e1 + e2) / (n1 + n2) if n1 + n2 else 1.0)
        item_scores[item] = max(0.0, float(np.mean(accs)))
    out["n_items"] = n_items
    if n_items:
        e = sum(v[0] for v in pair.values())
        n = sum(v[1] for v in pair.values())
        out["coefficients"]["word_agreement"] = _ci_dict(1 - e / n if n else None, None, None, n_items)
        out["coefficients"]["pairwise_wer"] = _ci_dict(e / n if n else None, None, None, n_items)
        out["primary"] = "word_agreement"
        out["pairwise"] = {"annotators": list(annotators), "metric": "1 - WER", "matrix": [
            [1.0 if a == b else _f(1 - (pair.get((a, b)) or pair.get((b, a)) or [0, 0])[0]
                                    / max(1, (pair.get((a, b)) or pair.get((b, a)) or [0, 1])[1]))
             for b in annotators] for a in annotators]}
    else:
        out["note"] = "fewer than two transcripts per item"
    return out, item_scores
