"""Differential tests: the column-wise spot-check draw equals the id-by-id one it replaced (#16).

``_ref_stratified_sample`` and ``_ref_spot_check`` are :func:`stratified_sample` and the
report's spot-check block as they were before the speed work (a dict of id lists per stratum;
one ``"item::annotator"`` string per submission, sorted as tuples). Same seeds must draw the
same units in the same order, with the same strata and weights.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_refs import with_old_listing

from accord.core.model import Classification, Dataset, Item, Record, Submission
from accord.core.qa import report as report_mod
from accord.core.qa.sampling import (
    Sample,
    SamplingError,
    _allocate,
    sample_size_for_margin,
    stratified_positions,
    stratified_sample,
)
from accord.core.report.engine import Context, run_sections
from accord.core.report.sampling import SamplingSection, acceptance_plan


def _sampling(ds: Dataset, item_scores: Any, cfg: Any, seed: int) -> dict[str, Any]:
    """The report's sampling block: its section on the dataset as one partition."""
    ctx = Context(config=cfg, seed=seed, schema=ds.schema, results={"report:item_scores": item_scores},
                  options={"pred_probs": None})
    out: dict[str, Any] = run_sections([SamplingSection()], [ds], ctx)["sampling"].to_dict()
    return out


def _ref_stratified_sample(ids: list[str], strata: list[Hashable], k: int, *, allocation: Any = "proportional",
                           min_per_stratum: int = 1, seed: int | None = None) -> Sample:
    pool = list(ids)
    if len(set(pool)) != len(pool):
        raise SamplingError("item ids must be unique; deduplicate them before sampling")
    keys = list(strata)
    groups: dict[Hashable, list[str]] = {}
    for i, key in zip(pool, keys, strict=True):
        groups.setdefault(key, []).append(i)
    names = sorted(groups, key=repr)
    sizes = [len(groups[n]) for n in names]
    alloc = _allocate(sizes, k, allocation, min_per_stratum)
    rng = np.random.default_rng(seed)
    out_ids: list[str] = []
    out_strata: list[Hashable] = []
    out_w: list[float] = []
    for name, size, n_h in zip(names, sizes, alloc, strict=True):
        if n_h == 0:
            continue
        pick = rng.choice(size, size=n_h, replace=False)
        out_ids.extend(groups[name][int(p)] for p in pick)
        out_strata.extend([name] * n_h)
        out_w.extend([size / n_h] * n_h)
    return Sample(ids=tuple(out_ids), strata=tuple(out_strata), weights=tuple(out_w), seed=seed,
                  method="stratified")


@settings(max_examples=150, deadline=None)
@given(strata=st.lists(st.one_of(st.sampled_from(["a", "b", "c", "a'b", 'q"']), st.integers(0, 3)),
                       min_size=1, max_size=60),
       data=st.data(), seed=st.integers(0, 2**32 - 1), allocation=st.sampled_from(["proportional", "equal"]))
def test_stratified_sample_equals_the_dict_of_lists(strata, data, seed, allocation):
    ids = [f"id{j}" for j in range(len(strata))]
    n_strata = len(set(strata))
    k = data.draw(st.integers(n_strata, len(ids)))
    got = stratified_sample(ids, strata, k, seed=seed, allocation=allocation)
    want = _ref_stratified_sample(ids, strata, k, seed=seed, allocation=allocation)
    assert got == want
    pos, got_strata, got_w = stratified_positions(strata, k, seed=seed, allocation=allocation)
    assert tuple(ids[p] for p in pos.tolist()) == want.ids
    assert (got_strata, got_w) == (want.strata, want.weights)


def test_stratified_positions_errors():
    with pytest.raises(SamplingError, match="exceeds the 2 items"):
        stratified_positions(["a", "b"], 3)
    with pytest.raises(SamplingError, match="min_per_stratum must be >= 0"):
        stratified_positions(["a", "b"], 1, min_per_stratum=-1)
    with pytest.raises(SamplingError, match="min_per_stratum=1 over 2 strata"):
        stratified_positions(["a", "b"], 1)
    pos, strata, weights = stratified_positions([], 0)
    assert (pos.tolist(), strata, weights) == ([], (), ())


# --------------------------------------------------------------------------- the report's spot check


def _ref_spot_check(ds: Dataset, cfg: report_mod.ReportConfig, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    subs = sorted((s.item_id, s.annotator_id) for s in ds.submissions
                  if s.source == "human" and not s.was_cancelled)
    if subs:
        ids = [f"{i}::{a}" for i, a in subs]
        needed = sample_size_for_margin(cfg.spot_check_margin, population=len(ids))
        k = min(needed, len(ids))
        spot = _ref_stratified_sample(ids, [a for _, a in subs], k, seed=seed)
        out["spot_check"] = {
            "unit": "submission (item x annotator)", "method": "stratified by annotator, proportional",
            "population": len(ids), "size": len(spot.ids), "seed": seed, "margin": cfg.spot_check_margin,
            "needed_for_margin": needed,
            "items": [{"item_id": x.split("::")[0], "annotator_id": str(st)}
                      for x, st in zip(spot.ids, spot.strata, strict=True)],
        }
        lot = len({i for i, _ in subs})
        if lot >= 2:
            out["acceptance"] = acceptance_plan(lot, cfg)
    return out


def _dataset(seed: int, *, item_ids: list[str] | None = None) -> Dataset:
    rng = np.random.default_rng(seed)
    ids = item_ids or [f"task-{k}" for k in rng.choice(10**6, size=int(rng.integers(1, 300)), replace=False)]
    pool = [f"user:{k}" for k in range(int(rng.integers(1, 9)))]
    records, subs = [], []
    for iid in ids:
        if rng.random() < 0.2:
            records.append(Record(item_id=iid, annotator_id="model:v1", label_set="s",
                                  value=Classification(label="x"), source="model", score=float(rng.random())))
        for ann in rng.permutation(pool)[: int(rng.integers(1, len(pool) + 1))]:
            if rng.random() < 0.1:
                subs.append(Submission(item_id=iid, annotator_id=str(ann), annotation_id=f"{iid}/{ann}/skip",
                                       was_cancelled=True))
                continue
            dur = None if rng.random() < 0.3 else float(rng.uniform(1, 20))
            records.append(Record(item_id=iid, annotator_id=str(ann), label_set="s", duration_s=dur,
                                  value=Classification(label=["x", "y"][int(rng.integers(2))])))
    order = rng.permutation(len(records))
    return Dataset(records=tuple(records[j] for j in order), items={i: Item(item_id=i) for i in ids},
                   submissions=tuple(subs))


@pytest.mark.parametrize("seed", range(25))
def test_spot_check_equals_the_id_strings(seed):
    ds = _dataset(seed)
    cfg = report_mod.ReportConfig(spot_check_margin=[0.05, 0.1, 0.2][seed % 3])
    got = _sampling(ds, {}, cfg, seed)
    want = _ref_spot_check(ds, cfg, seed)
    assert {k: got[k] for k in want} == want
    assert "spot_check" in got


def test_spot_check_with_colons_in_item_ids_equals_the_id_strings():
    # "a:" + "::" + "x" == "a" + "::" + ":x": ids that might collide take the id-string path
    ds = _dataset(3, item_ids=["a:", "a", "b::c", "b", "plain", "x:y"])
    cfg = report_mod.ReportConfig()
    got = _sampling(ds, {}, cfg, 3)
    want = _ref_spot_check(ds, cfg, 3)
    old = with_old_listing(got)  # the same draw; the old block cut ids at their first "::"
    assert {k: old[k] for k in want} == want
    items = {x["item_id"] for x in got["spot_check"]["items"]}
    assert items <= set(ds.items)  # listed whole now
    assert items - {x["item_id"] for x in old["spot_check"]["items"]}  # where the old listing was wrong


def _ref_disagreement(item_scores: dict[str, dict[str, Any]], seed: int) -> dict[str, Any] | None:
    from accord.core.qa.sampling import disagreement_sample

    worst: dict[str, float] = {}
    for scores in item_scores.values():
        for item, sc in scores.items():
            worst[item] = min(worst.get(item, 1.0), sc)
    if worst:
        items = sorted(worst)
        dis = [max(0.0, 1.0 - worst[i]) for i in items]
        k = min(20, sum(d > 0 for d in dis))
        if k:
            smp = disagreement_sample(items, dis, k, seed=seed)
            return {"method": "disagreement-weighted (A-Res)", "seed": seed, "items": list(smp.ids)}
    return None


@pytest.mark.parametrize("seed", range(25))
def test_disagreement_sample_equals_the_loop(seed):
    # Several label sets over overlapping items; scores above 1, NaN, numpy floats, all-agreeing sets.
    rng = np.random.default_rng(seed)
    ds = _dataset(seed)
    item_scores: dict[str, dict[str, Any]] = {}
    for name in [f"ls{j}" for j in range(int(rng.integers(0, 4)))]:
        chosen = [i for i in ds.items if rng.random() < 0.7]
        raw = rng.choice([0.0, 0.25, 0.5, 1.0, 1.5, np.nan, 0.9], size=len(chosen))
        item_scores[name] = {i: (np.float64(v) if rng.random() < 0.5 else float(v))
                             for i, v in zip(chosen, raw, strict=True)}
    got = _sampling(ds, item_scores, report_mod.ReportConfig(), seed).get("disagreement_sample")
    assert got == _ref_disagreement(item_scores, seed)
