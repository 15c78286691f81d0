"""The report's whole-dataset sections as they were before they became mergeable (issue #16),
kept verbatim as the references the section tests compare with: the checks, the sampling
block (its ISO 2859-1 acceptance plan is the section's own, unchanged) and the cost block, each computed from one whole
``Dataset`` by walking it in its own order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from accord.core.cost import CostConfig
from accord.core.model import Dataset
from accord.core.qa.active_learning_orders import active_learning_orders
from accord.core.qa.report import ReportConfig, _f
from accord.core.qa.taxonomy import Discrepancy
from accord.core.report.sampling import acceptance_plan


def ref_checks(ds: Dataset, rules: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[Discrepancy]]:
    """Rule-based checks, and their findings as taxonomy discrepancies (source ``automated``)."""
    from accord.core.checks import run_checks, to_discrepancies

    rep = run_checks(ds, rules=rules)
    out = rep.to_dict()
    out["findings"] = out["findings"][:2000]
    discrepancies = list(to_discrepancies(rep.findings))
    return out, discrepancies

def ref_sampling(ds: Dataset, item_scores: Mapping[str, Mapping[str, float]], cfg: ReportConfig,
              seed: int, *, pred_probs: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None
              ) -> dict[str, Any]:
    """Spot-check sample, ISO 2859-1 plan with its OC curve, disagreement sample, review orders."""
    from operator import attrgetter

    from accord.core.qa.active_learning import uncertainty_ranking
    from accord.core.qa.bias import sorted_codes
    from accord.core.qa.sampling import (
        disagreement_sample,
        sample_size_for_margin,
        stratified_positions,
        stratified_sample,
    )

    out: dict[str, Any] = {}
    # The spot-check population: real human submissions in (item, annotator) order, as columns.
    done = [s for s in ds.submissions if s.source == "human" and not s.was_cancelled]
    if done:
        # items by their place in ds.items (a submission's item is always there), ranked in sorted order
        item_ids = list(ds.items)
        place = {i: j for j, i in enumerate(item_ids)}
        item_at = np.fromiter(map(place.__getitem__, map(attrgetter("item_id"), done)), dtype=np.intp,
                              count=len(done))
        item_rank = np.empty(len(item_ids), dtype=np.intp)
        item_rank[sorted(range(len(item_ids)), key=item_ids.__getitem__)] = np.arange(len(item_ids))
        ann_names, ann_code = sorted_codes(list(map(attrgetter("annotator_id"), done)))
        order = np.lexsort((ann_code, item_rank[item_at]))
        present = [item_ids[j] for j in np.unique(item_at).tolist()]
        needed = sample_size_for_margin(cfg.spot_check_margin, population=len(done))
        k = min(needed, len(done))
        if any("::" in i or i.endswith(":") for i in present):
            # "item::annotator" ids might collide: draw from the ids themselves (a collision is an error)
            subs = [(item_ids[i], ann_names[a]) for i, a in zip(item_at[order], ann_code[order], strict=True)]
            spot = stratified_sample([f"{i}::{a}" for i, a in subs], [a for _, a in subs], k, seed=seed)
            drawn = [(x.split("::")[0], st) for x, st in zip(spot.ids, spot.strata, strict=True)]
        else:  # the ids are distinct and split back at their first "::": draw positions, make no ids
            pos, strata, _ = stratified_positions(ann_names[ann_code[order]], k, seed=seed)
            drawn = [(item_ids[j], st) for j, st in zip(item_at[order[pos]].tolist(), strata, strict=True)]
        out["spot_check"] = {
            "unit": "submission (item x annotator)", "method": "stratified by annotator, proportional",
            "population": len(done), "size": len(drawn), "seed": seed, "margin": cfg.spot_check_margin,
            "needed_for_margin": needed,
            "items": [{"item_id": i, "annotator_id": str(st)} for i, st in drawn],
        }
        lot = len(present)
        if lot >= 2:
            out["acceptance"] = acceptance_plan(lot, cfg)
    # Each item's lowest score over the label sets, capped at 1 (min(1.0, score) as it goes).
    worst: dict[str, float] = {}
    for scores in item_scores.values():
        if not worst:
            worst = {item: sc if sc < 1.0 else 1.0 for item, sc in scores.items()}
            continue
        for item, sc in scores.items():
            prev = worst.get(item, 1.0)
            worst[item] = sc if sc < prev else prev
    if worst:
        items = sorted(worst)
        dis = np.maximum(0.0, 1.0 - np.fromiter(map(worst.__getitem__, items), dtype=np.float64, count=len(items)))
        k = min(20, int(np.count_nonzero(dis > 0)))
        if k:
            smp = disagreement_sample(items, dis.tolist(), k, seed=seed)
            out["disagreement_sample"] = {"method": "disagreement-weighted (A-Res)", "seed": seed,
                                          "items": list(smp.ids)}
    # Review order from model confidence: least confident first (top-class score only).
    conf: dict[str, float] = {}
    for r in [r for r in ds.records if r.source == "model"]:
        if r.score is not None and 0.0 <= r.score <= 1.0:
            conf[r.item_id] = min(conf.get(r.item_id, 1.0), float(r.score))
    if conf:
        items = sorted(conf)
        p = np.array([conf[i] for i in items])
        rank = uncertainty_ranking(np.column_stack([p, 1.0 - p]), method="least_confidence")
        out["active_learning"] = {
            "strategy": "least confidence of the model's top class",
            "items": [{"item_id": items[j], "score": _f(rank.scores[j])} for j in rank.order[:50]],
        }
    # Every order the predictions support: least confidence, committee vote entropy, k-center.
    orders = active_learning_orders(ds, pred_probs=pred_probs)
    if orders:
        out.setdefault("active_learning", {"strategy": orders[0]["method"], "items": orders[0]["items"]})
        out["active_learning"]["orders"] = orders
    return out

def ref_cost(ds: Dataset, agreement: Mapping[str, Any], gold: Mapping[str, Any], config: CostConfig | None,
          items: int | None, seed: int) -> dict[str, Any]:
    """Pilot timing, the forecast for ``items`` items, in-house vs vendor, and the pilot gate."""
    from accord.core.cost import analyze_pilot, compare_sourcing, config_from_dict, forecast, pilot_gate, qa_from_report

    cfg = config or config_from_dict({})
    timed = any(s.source == "human" and not s.was_cancelled and s.duration_s for s in ds.submissions)
    # Without annotation times the forecast falls back to the config's seconds per label.
    pilot = analyze_pilot(ds) if timed else None
    fc = forecast(pilot, cfg, items=items or max(len(ds.items), 1), n_boot=500, seed=seed)
    agreement_est, gold_est = qa_from_report({"agreement": agreement, "gold": {"annotators": gold}})
    gate = pilot_gate(pilot, thresholds=cfg.gate, agreement=agreement_est, gold_score=gold_est)
    return {"forecast": fc.to_dict(), "sourcing": compare_sourcing(fc, cfg).to_dict(),
            "gate": gate.to_dict()}


def with_old_listing(sampling: dict[str, Any]) -> dict[str, Any]:
    """A sampling block with its spot-check items listed as the old block listed them: the unit
    ``"item::annotator"`` cut at its first "::", so "t::12" was listed as "t" and "a:" as "a" (the
    old bug ``ref_sampling`` keeps; the draw is the same)."""
    spot = sampling.get("spot_check")
    if not spot:
        return sampling
    items = [{**x, "item_id": f"{x['item_id']}::{x['annotator_id']}".split("::")[0]} for x in spot["items"]]
    return {**sampling, "spot_check": {**spot, "items": items}}


@contextmanager
def captured_section(name: str, record: Callable[[Any, Any], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """While inside, ``build_report``'s section class ``name`` (e.g. ``"CostSection"``) records
    ``record(ctx, result)`` of each finish into the yielded dict."""
    from accord.core.qa import report as report_mod

    seen: dict[str, Any] = {}
    real = getattr(report_mod, name)

    class Spy(real):  # type: ignore[misc, valid-type]
        def finish(self, state: Any, ctx: Any) -> Any:
            out = super().finish(state, ctx)
            seen.update(record(ctx, out))
            return out

    setattr(report_mod, name, Spy)
    try:
        yield seen
    finally:
        setattr(report_mod, name, real)
