"""The consensus functions of ``core/qa/report.py`` as they were before issue #16 made them
mergeable sections (:mod:`accord.core.report.consensus`), copied unchanged but for their
imports: the whole-dataset references the section tests compare against
(``tests/test_report_consensus_section.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core.model import Dataset, MultiLabel, value_label
from accord.core.qa.ambiguity import Ambiguity
from accord.core.qa.consensus import ClassConsensus, _encode_strings
from accord.core.qa.report import (
    _SKILL_BOOTSTRAP_JUDGMENTS,
    ReportConfig,
    _ambiguity_dict,
    _ci_dict,
    _decode_labels,
    _decoded,
    _f,
)


def _class_consensus(ds: Dataset, name: str, cfg: ReportConfig, seed: int,
                     sections: Mapping[str, Any] | None = None
                     ) -> tuple[dict[str, Any], dict[str, str], Ambiguity | None]:
    """Consensus labels of a class label set by ``cfg.consensus_method``, with annotator skills,
    and each item's soft label and difficulty (:mod:`accord.core.qa.ambiguity`). A Dawid-Skene
    fit computed elsewhere (``sections["consensus:<set>"]``, the map-reduce rounds of
    :mod:`accord.core.report.truth`) is used instead of fitting here."""
    from accord.core.qa.ambiguity import ambiguity
    from accord.core.qa.consensus import (
        SKILL_DEFINITIONS,
        DawidSkeneResult,
        GladResult,
        OneCoinResult,
        class_consensus,
        majority_vote,
        skill_intervals,
    )
    from accord.core.report.truth import judgment_rows

    rows = judgment_rows(ds, name)
    if not rows:
        return {}, {}, None
    method = cfg.consensus_method
    pre = (sections or {}).get(f"consensus:{name}") if method == "dawid_skene" else None
    items: npt.ArrayLike
    anns: npt.ArrayLike
    labels: npt.ArrayLike
    if isinstance(pre, DawidSkeneResult):  # fitted on the strings elsewhere: every step here reads them too
        items, anns, labels = (list(x) for x in zip(*rows, strict=True))
        item_u = ann_u = cls_u = None
        res = ClassConsensus(method=method, item_ids=pre.item_ids, labels=pre.labels, annotator_ids=pre.annotator_ids,
                             skills=pre.accuracy_score(), fit=pre)
    else:
        # The strings are coded once, in sorted order (the order every fit sorts them in), and
        # every fit below reads the codes; the results are decoded back before anything reads them.
        item_u, ii = _encode_strings([r[0] for r in rows])
        ann_u, aa = _encode_strings([r[1] for r in rows])
        cls_u, ll = _encode_strings([r[2] for r in rows])
        items, anns, labels = ii, aa, ll
        res = _decoded(class_consensus(ii, aa, ll, method=method, seed=seed), item_u, ann_u, cls_u)
    mv = majority_vote(items, anns, labels)
    if item_u is not None and cls_u is not None:
        mv = replace(mv, item_ids=item_u[mv.item_ids.astype(np.intp)], labels=_decode_labels(list(mv.labels), cls_u))
    fit = res.fit
    labels_by_item = {str(i): str(lab) for i, lab in zip(res.item_ids, res.labels, strict=True) if lab is not None}
    mv_by_item = {str(i): lab for i, lab in zip(mv.item_ids, mv.labels, strict=True)}
    changed = sum(1 for i, lab in labels_by_item.items() if mv_by_item.get(i) not in (None, lab))
    reliability = {str(a): _f(acc) for a, acc in zip(res.annotator_ids, res.skills, strict=True)}
    out: dict[str, Any] = {"method": method, "n_items": len(labels_by_item)}
    em = fit if isinstance(fit, DawidSkeneResult | OneCoinResult | GladResult) else None
    if em is not None:
        out["n_iterations"] = em.n_iter
        out["converged"] = bool(em.converged)
    out.update({"n_ties": int(mv.tied.sum()), "n_changed_from_majority": changed,
                "annotator_reliability": reliability})
    if em is not None and not isinstance(em, GladResult):  # GLAD's prior is fixed, not estimated
        out["class_priors"] = {str(c): _f(p) for c, p in zip(em.classes, em.priors, strict=True)}
    ci = skill_intervals(items, anns, labels, method=method, n_resamples=cfg.n_bootstrap, seed=seed,
                         max_judgments=_SKILL_BOOTSTRAP_JUDGMENTS)
    if ann_u is not None:
        ci = replace(ci, annotator_ids=ann_u[ci.annotator_ids.astype(np.intp)])
    out["annotator_skill"] = {str(a): _ci_dict(est, lo, hi, int(n)) for a, est, lo, hi, n in zip(
        ci.annotator_ids, ci.skills, ci.low, ci.high, ci.n_judgments, strict=True)}
    out["skill"] = {"definition": SKILL_DEFINITIONS[method], "confidence": ci.confidence,
                    "n_resamples": ci.n_resamples, "seed": seed,
                    "interval": "percentile bootstrap over items, the model refitted on each resample"}
    out["labels"] = dict(sorted(labels_by_item.items()))
    if item_u is not None and ann_u is not None and cls_u is not None:
        coded = replace(res, item_ids=np.arange(len(item_u)).astype(object),
                        annotator_ids=np.arange(len(ann_u)).astype(object))
        amb = ambiguity(coded, items, anns, labels, threshold=cfg.ambiguity_threshold)
        amb = replace(amb, item_ids=item_u[amb.item_ids.astype(np.intp)], classes=cls_u[amb.classes.astype(np.intp)],
                      annotator_ids=ann_u[amb.annotator_ids.astype(np.intp)])
    else:
        amb = ambiguity(res, items, anns, labels, threshold=cfg.ambiguity_threshold)
    out.update(_ambiguity_dict(amb))
    return out, labels_by_item, amb


def _multilabel_consensus(ds: Dataset, name: str, cfg: ReportConfig) -> dict[str, Any]:
    """Binary-relevance consensus of a multi-select label set (:mod:`accord.core.qa.multilabel_consensus`)."""
    from accord.core.qa.multilabel_consensus import MultilabelMethod, multilabel_consensus

    ls = ds.schema.label_sets.get(name)
    items: list[str] = []
    anns: list[str] = []
    chosen: list[frozenset[str]] = []
    for item, per in ds.grouped_view(name, source="human").items():
        for a, rs in per.items():
            labs: set[str] = set()
            for r in rs:
                v = r.value
                labs |= set(v.labels) if isinstance(v, MultiLabel) else {str(value_label(v))}
            items.append(item)
            anns.append(a)
            chosen.append(frozenset(labs))
    if not items:
        return {}
    method: MultilabelMethod = "majority_vote" if cfg.consensus_method == "majority_vote" else "dawid_skene"
    res = multilabel_consensus(items, anns, chosen, labels=list(ls.labels) if ls and ls.labels else None,
                               method=method)
    prevalence, score = res.prevalence, res.agreement_score
    n_present = res.present.sum(axis=0)
    return {
        "method": method, "strategy": "binary relevance: one present/absent consensus per label "
                                      + ("(majority of the submissions; a tie is absent)" if method == "majority_vote"
                                         else "(two-class Dawid-Skene per label; present when P > 0.5)"),
        "n_items": len(res.item_ids),
        "per_label": {lab: {"prevalence": _f(prevalence[j]), "n_items_present": int(n_present[j])}
                      for j, lab in enumerate(res.labels)},
        "annotator_agreement": {
            "metric": "share of the annotator's present/absent answers equal to the consensus, per label",
            "annotators": {str(a): {lab: {"estimate": _f(score[k, j]), "n": int(res.n_judged[k])}
                                    for j, lab in enumerate(res.labels)}
                           for k, a in enumerate(res.annotator_ids)}},
        "labels": {i: list(s) for i, s in sorted(res.sets().items())},
    }
