"""Differential tests: the column-wise bias code equals the per-record loops it replaced (#16).

``_ref_codes``, ``_ref_agreement_by_group`` and ``_ref_bias`` below are the implementations of
:mod:`accord.core.qa.bias` and the report's ``_bias`` section as they were before the speed
work (one Python pass per item and record). Seeded random datasets, with duplicate judgments,
one-annotator items, single-annotator data, items lacking the group key, int and bool group
values, keys in ``meta`` for some items and ``data`` for others, model and reference records,
cancelled submissions and a box label set, must give identical results: the same arrays bit
for bit (NaN where NaN) and the same report JSON, keys in the same order.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.agreement import krippendorff_alpha
from accord.core.errors import InvalidAnnotationError, UndefinedAgreementError
from accord.core.model import Box, Classification, Dataset, Item, Record, Submission, value_label
from accord.core.qa import bias
from accord.core.qa import gold as gold_mod
from accord.core.qa import report as report_mod
from accord.core.qa.bias import GroupAgreement, agreement_by_group, sorted_codes

# --------------------------------------------------------------------------- the old implementations


def _ref_codes(values: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(values, dtype=object).reshape(-1)
    try:
        uniq, inv = np.unique(arr, return_inverse=True)
    except TypeError as e:
        raise InvalidAnnotationError(f"{name} must be mutually comparable (all str or all int)") from e
    return uniq.astype(object), inv.astype(np.intp).reshape(-1)


def _ref_group_alpha(units: list[dict[Hashable, Hashable]]) -> float:
    raters = sorted({a for u in units for a in u}, key=str)
    if len(raters) < 2:
        return math.nan
    col = {a: j for j, a in enumerate(raters)}
    labels = sorted({v for u in units for v in u.values()}, key=str)
    code = {v: float(k) for k, v in enumerate(labels)}
    ratings = np.full((len(units), len(raters)), np.nan)
    for i, u in enumerate(units):
        for a, v in u.items():
            ratings[i, col[a]] = code[v]
    try:
        return krippendorff_alpha(ratings)
    except UndefinedAgreementError:
        return math.nan


def _ref_agreement_by_group(items: Any, annotators: Any, labels: Any, groups: Any, *, alpha: float = 0.05,
                            confidence: float = 0.95, min_expected: float = 5.0) -> GroupAgreement:
    _, ii = _ref_codes(items, "items")
    lab = np.asarray(labels, dtype=object).reshape(-1)
    ann = np.asarray(annotators, dtype=object).reshape(-1)
    g_names, g = _ref_codes(groups, "groups")
    if not (len(ii) == len(lab) == len(ann) == len(g)) or len(ii) == 0:
        raise InvalidAnnotationError("items, annotators, labels and groups need one entry per judgment")
    n_pairs = np.zeros(len(g_names), dtype=np.intp)
    n_agree = np.zeros(len(g_names), dtype=np.intp)
    units: list[list[dict[Hashable, Hashable]]] = [[] for _ in g_names]
    order = np.argsort(ii, kind="stable")
    bounds = np.flatnonzero(np.diff(ii[order])) + 1
    for block in np.split(order, bounds):
        grp = np.unique(g[block])
        if len(grp) > 1:
            raise InvalidAnnotationError(
                f"item has judgments in several groups {[g_names[x] for x in grp]!r}; agreement per group needs "
                "an item-level group (use the item's metadata)"
            )
        seen: dict[Hashable, Hashable] = {}
        for k in block:
            seen.setdefault(ann[k], lab[k])
        units[grp[0]].append(seen)
        values = list(seen.values())
        m = len(values)
        counts: dict[Hashable, int] = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        n_pairs[grp[0]] += m * (m - 1) // 2
        n_agree[grp[0]] += sum(c * (c - 1) // 2 for c in counts.values())
    rate, lo, hi, p, adj, flagged = bias._per_group_tests(g_names, n_agree, n_pairs, alpha=alpha,
                                                          min_expected=min_expected, confidence=confidence)
    alpha_score = np.array([_ref_group_alpha(u) for u in units], dtype=np.float64)
    return GroupAgreement(groups=g_names, n_pairs=n_pairs, n_agree=n_agree, agreement_score=rate,
                          ci_low=lo, ci_high=hi, p_value=p, adjusted_p_value=adj, flagged=flagged,
                          alpha_score=alpha_score)


def _ref_group_values(ds: Dataset, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The old reader of the groups: ``{item_id: {key: value}}`` from each item's ``meta``,
    else its ``data`` (scalars only)."""
    out: dict[str, dict[str, Any]] = {}
    for i, it in ds.items.items():
        row: dict[str, Any] = {}
        for k in keys:
            v = it.meta[k] if k in it.meta else it.data.get(k)
            if isinstance(v, str | int | float | bool):
                row[k] = v
        out[i] = row
    return out


def _ref_metadata_keys(ds: Dataset, config: report_mod.ReportConfig) -> list[str]:
    if config.bias_fields is not None:
        return list(config.bias_fields)
    if config.group_keys is not None:
        return list(config.group_keys)
    values: dict[str, set[str]] = defaultdict(set)
    for item in ds.items.values():
        for k, v in item.meta.items():
            if isinstance(v, str | int | bool):
                values[k].add(str(v))
    keys = {k for k, v in values.items() if 2 <= len(v) <= 20}
    return sorted(keys | (set(_ref_data_candidates(ds)) - set(values)))


def _ref_data_candidates(ds: Dataset) -> list[str]:
    """Fields of the items' ``data`` that look like grouping columns (the report's choice before
    the bias section took it over).

    A candidate is a string field with 2-20 distinct values, each shared by at least two
    items on average (not free text), that is not a URL or a path (not the media).
    """
    values: dict[str, set[str]] = defaultdict(set)
    counts: Counter[str] = Counter()
    free_text: set[str] = set()  # past 20 distinct values: not a group, and not worth hashing on
    for item in ds.items.values():
        for k, v in item.data.items():
            if isinstance(v, str) and k != "meta" and k not in free_text:
                counts[k] += 1
                seen = values[k]
                seen.add(v)
                if len(seen) > 20:
                    free_text.add(k)
    out = []
    for k, distinct in values.items():
        if k in free_text or not 2 <= len(distinct) <= 20 or counts[k] < 2 * len(distinct):
            continue
        if any("://" in v or v.startswith(("/", "data:")) or len(v) > 64 for v in distinct):
            continue
        out.append(k)
    return sorted(out)


def _ref_bias(ds: Dataset, cfg: report_mod.ReportConfig, gold: Mapping[str, gold_mod.GoldOutcome]) -> dict[str, Any]:
    """The report's bias section as it was: rows of strings per record, then the tests."""
    _f, label_distribution_test = report_mod._f, bias.label_distribution_test
    keys = _ref_metadata_keys(ds, cfg)
    out: dict[str, Any] = {"fdr": cfg.fdr, "group_keys": keys, "tests": [], "distributions": [],
                           "agreement_by_group": [], "gold_error_by_group": []}
    if not keys:
        return out
    meta = _ref_group_values(ds, keys)
    sources = {k: sorted({"meta" if k in it.meta else "data" for it in ds.items.values()
                          if k in it.meta or k in it.data}) for k in keys}
    out["key_sources"] = {k: v for k, v in sources.items() if v != ["meta"]}
    missing = [k for k in keys if not any(k in row for row in meta.values())]
    if missing:
        out["missing_keys"] = missing
    tests: list[dict[str, Any]] = []
    for name in ds.label_sets:
        ls = ds.schema.label_sets.get(name)
        recs = [r for r in ds.select(label_set=name, source="human") if r.kind == "classification"]
        if not recs or (ls and ls.kind != "classification"):
            continue
        for key in keys:
            rows = [(r.item_id, r.annotator_id, str(value_label(r.value)), str(meta[r.item_id][key]))
                    for r in recs if key in meta.get(r.item_id, {})]
            if len({g for *_, g in rows}) < 2:
                continue
            items, anns, labels, groups = (list(x) for x in zip(*rows, strict=True))
            dist = label_distribution_test(groups, labels)
            tests.append({"label_set": name, "group_key": key, "what": "label distribution",
                          "test": dist.test, "statistic": _f(dist.statistic), "dof": dist.dof,
                          "p_value": _f(dist.p_value)})
            out["distributions"].append({
                "label_set": name, "group_key": key, "groups": [str(g) for g in dist.groups],
                "labels": [str(lb) for lb in dist.labels], "counts": dist.counts.tolist(),
                "shares": [[_f(v) for v in row] for row in dist.proportions]})
            ga = _ref_agreement_by_group(items, anns, labels, groups, alpha=cfg.fdr)
            out["agreement_by_group"].append({
                "label_set": name, "group_key": key,
                "groups": [{"group": str(g), "n_pairs": int(n), "agreement": _f(a), "low": _f(lo),
                            "high": _f(hi), "alpha": _f(al), "q_value": _f(q), "flagged": bool(fl)}
                           for g, n, a, lo, hi, al, q, fl in zip(
                               ga.groups, ga.n_pairs, ga.agreement_score, ga.ci_low, ga.ci_high,
                               ga.alpha_score, ga.adjusted_p_value, ga.flagged, strict=True)]})
    for name, outcome in gold.items():
        if not outcome.gold_items:
            continue
        wrong = {(d.item_id, d.annotator_id) for d in outcome.discrepancies}
        human = ds.grouped(name, source="human")
        for key in keys:
            rows2 = [(item, ann, (item, ann) not in wrong, str(meta[item][key]))
                     for item in outcome.gold_items for ann in human.get(item, {})
                     if key in meta.get(item, {})]
            if len({g for *_, g in rows2}) < 2:
                continue
            _, anns2, correct, groups2 = (list(x) for x in zip(*rows2, strict=True))
            er = bias.error_rate_by_group(correct, groups2, annotators=anns2, alpha=cfg.fdr)
            out["gold_error_by_group"].append({
                "label_set": name, "group_key": key,
                "cells": [{"annotator_id": str(c[0]), "group": str(c[1]), "n": int(n), "errors": int(e),
                           "error_rate": _f(r), "low": _f(lo), "high": _f(hi), "q_value": _f(q),
                           "flagged": bool(fl)}
                          for c, n, e, r, lo, hi, q, fl in zip(er.cells, er.n_judgments, er.n_errors,
                                                               er.error_rate, er.ci_low, er.ci_high,
                                                               er.adjusted_p_value, er.flagged, strict=True)]})
    if tests:
        p = np.array([t["p_value"] if t["p_value"] is not None else np.nan for t in tests], dtype=float)
        ok = np.isfinite(p)
        flagged = np.zeros(len(p), dtype=bool)
        q = np.full(len(p), np.nan)
        if ok.any():
            fl, adj = bias.benjamini_hochberg(p[ok], alpha=cfg.fdr)
            flagged[ok], q[ok] = fl, adj
        for t, fl_, q_ in zip(tests, flagged, q, strict=True):
            t["q_value"] = _f(q_)
            t["flagged"] = bool(fl_)
    out["tests"] = tests
    return out


# --------------------------------------------------------------------------- helpers


def _same_arrays(got: Any, want: Any) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    if got.dtype.kind == "f" or want.dtype.kind == "f":
        # bit for bit: equal values (0.0 == -0.0 aside, which neither side makes) or both NaN
        np.testing.assert_array_equal(got, want, strict=True)
    else:
        assert got.tolist() == want.tolist()


def _same_agreement(got: GroupAgreement, want: GroupAgreement) -> None:
    assert got.groups.tolist() == want.groups.tolist()
    for f in ("n_pairs", "n_agree", "agreement_score", "ci_low", "ci_high", "p_value", "adjusted_p_value",
              "flagged", "alpha_score"):
        _same_arrays(getattr(got, f), getattr(want, f))


def _judgments(rng: np.random.Generator, *, int_ids: bool = False) -> tuple[list[Any], ...]:
    """Random long-format judgments: items x random annotator subsets, some duplicated judgments."""
    n_items = int(rng.integers(1, 40))
    pool = [f"u{k}" for k in rng.permutation(int(rng.integers(1, 8)))]  # u10 sorts before u2 as str
    n_labels = int(rng.integers(1, 14))
    label_pool: list[Any] = [int(k) for k in range(n_labels)] if int_ids else [f"c{k}" for k in range(n_labels)]
    group_pool = [f"g{k}" for k in range(int(rng.integers(1, 5)))]
    items, anns, labels, groups = [], [], [], []
    ids = rng.choice(10**6, size=n_items, replace=False)
    for i in ids:
        item: Any = int(i) if int_ids else f"t{i}"
        grp = group_pool[int(rng.integers(len(group_pool)))]
        for a in rng.permutation(pool)[: int(rng.integers(1, len(pool) + 1))]:
            for _ in range(1 + int(rng.random() < 0.15)):  # now and then a second judgment by the same annotator
                items.append(item)
                anns.append(int(a[1:]) if int_ids else str(a))
                labels.append(label_pool[int(rng.integers(n_labels))])
                groups.append(grp)
    order = rng.permutation(len(items))  # judgments in no particular order
    return tuple([x[k] for k in order] for x in (items, anns, labels, groups))


# --------------------------------------------------------------------------- _codes


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.lists(st.text(max_size=4), max_size=40), st.lists(st.integers(-5, 5), max_size=40),
                 st.lists(st.sampled_from(["a", "b", "B", "ä", "a\x00", ""]), max_size=40)))
def test_codes_match_np_unique(values):
    got_names, got_codes = bias._codes(values, "x")
    want_names, want_codes = _ref_codes(values, "x")
    assert got_names.dtype == object
    assert got_names.tolist() == want_names.tolist()
    assert [type(v) for v in got_names.tolist()] == [type(v) for v in want_names.tolist()]
    assert got_codes.dtype == np.intp
    assert got_codes.tolist() == want_codes.tolist()


@pytest.mark.parametrize("values", [np.array([3, 1, 3, 2]), np.array([True, False, True]), np.array([], dtype=int),
                                    np.array(["b", "a", "b"]), [("x", "a"), ("y", "b")], [[1, 2], [3, 4]]])
def test_codes_match_np_unique_on_arrays(values):
    got_names, got_codes = bias._codes(values, "x")
    want_names, want_codes = _ref_codes(values, "x")
    assert got_names.tolist() == want_names.tolist()
    assert [type(v) for v in got_names.tolist()] == [type(v) for v in want_names.tolist()]
    assert got_codes.tolist() == want_codes.tolist()


def test_codes_reject_a_mix_of_types():
    with pytest.raises(InvalidAnnotationError, match="groups must be mutually comparable"):
        bias._codes(["a", 1, "a"], "groups")
    with pytest.raises(InvalidAnnotationError, match="values must be mutually comparable"):
        sorted_codes(["a", 1])


def test_sorted_codes_order_names_as_strings():
    names, codes = sorted_codes(["c10", "c2", "c10", "c1"])
    assert names.tolist() == ["c1", "c10", "c2"]  # str order, not numeric
    assert codes.tolist() == [1, 2, 1, 0]


# --------------------------------------------------------------------------- agreement_by_group


@pytest.mark.parametrize("seed", range(60))
def test_agreement_by_group_equals_the_loop(seed):
    rng = np.random.default_rng(seed)
    items, anns, labels, groups = _judgments(rng, int_ids=seed % 3 == 0)
    _same_agreement(agreement_by_group(items, anns, labels, groups),
                    _ref_agreement_by_group(items, anns, labels, groups))


def test_agreement_by_group_many_annotators_per_item():
    # Items rated by 2..9 annotators: the per-unit weights 1/(m - 1) are inexact (m = 4, 7, 8),
    # so alpha equals the loop's only if the units are summed in the same (sorted item) order.
    rng = np.random.default_rng(11)
    items, anns, labels, groups = [], [], [], []
    for i in rng.permutation(300):
        for a in rng.permutation(9)[: int(rng.integers(2, 10))]:
            items.append(f"item-{i}")
            anns.append(f"rater{a}")
            labels.append(["yes", "no", "maybe"][int(rng.integers(3))] if rng.random() < 0.6 else "yes")
            groups.append("even" if i % 2 == 0 else "odd")
    got = agreement_by_group(items, anns, labels, groups)
    _same_agreement(got, _ref_agreement_by_group(items, anns, labels, groups))
    assert np.isfinite(got.alpha_score).all()


def test_agreement_by_group_edges_equal_the_loop():
    cases = [
        (["i"], ["a"], ["x"], ["G"]),  # one judgment: no pair, alpha undefined
        (["i", "j"], ["a", "a"], ["x", "y"], ["G", "H"]),  # a single annotator
        (["i", "i", "i"], ["a", "a", "b"], ["x", "y", "y"], ["G", "G", "G"]),  # a's second judgment is ignored
        (["i", "i", "j", "j"], ["a", "b", "a", "b"], ["x", "x", "x", "x"], ["G", "G", "G", "G"]),  # one value
        ([2, 10, 2, 10], [1, 1, 2, 2], [10, 2, 10, 3], [0, 1, 0, 1]),  # ints: str order != numeric order
    ]
    for items, anns, labels, groups in cases:
        _same_agreement(agreement_by_group(items, anns, labels, groups),
                        _ref_agreement_by_group(items, anns, labels, groups))


def test_agreement_by_group_errors_match_the_loop():
    args = (["i", "j", "i", "j"], ["a", "a", "b", "b"], ["x", "x", "y", "x"], ["A", "B", "C", "B"])
    with pytest.raises(InvalidAnnotationError) as want:
        _ref_agreement_by_group(*args)
    with pytest.raises(InvalidAnnotationError) as got:
        agreement_by_group(*args)
    assert str(got.value) == str(want.value)
    assert "['A', 'C']" in str(got.value)
    with pytest.raises(InvalidAnnotationError, match="one entry per judgment"):
        agreement_by_group([], [], [], [])
    with pytest.raises(InvalidAnnotationError, match="items must be mutually comparable"):
        agreement_by_group(["i", 1], ["a", "b"], ["x", "x"], ["G", "G"])


@pytest.mark.parametrize("seed", range(20))
def test_distribution_and_error_rates_equal_np_unique_codes(seed, monkeypatch):
    rng = np.random.default_rng(100 + seed)
    _, anns, labels, groups = _judgments(rng, int_ids=seed % 2 == 1)
    correct = (rng.random(len(anns)) < 0.8).tolist()
    got_d = bias.label_distribution_test(groups, labels)
    got_e = bias.error_rate_by_group(correct, groups, annotators=anns)
    got_e1 = bias.error_rate_by_group(correct, groups)
    monkeypatch.setattr(bias, "_codes", _ref_codes)
    want_d = bias.label_distribution_test(groups, labels)
    want_e = bias.error_rate_by_group(correct, groups, annotators=anns)
    want_e1 = bias.error_rate_by_group(correct, groups)
    assert got_d.groups.tolist() == want_d.groups.tolist()
    assert got_d.labels.tolist() == want_d.labels.tolist()
    assert (got_d.test, got_d.dof) == (want_d.test, want_d.dof)
    _same_arrays(got_d.counts, want_d.counts)
    _same_arrays(got_d.expected, want_d.expected)
    _same_arrays([got_d.statistic, got_d.p_value], [want_d.statistic, want_d.p_value])
    for g, w in ((got_e, want_e), (got_e1, want_e1)):
        assert g.cells == w.cells
        for f in ("n_judgments", "n_errors", "error_rate", "ci_low", "ci_high", "p_value", "adjusted_p_value",
                  "flagged"):
            _same_arrays(getattr(g, f), getattr(w, f))


# --------------------------------------------------------------------------- the report section


def _dataset(seed: int) -> Dataset:
    """A project with two classification label sets and a box one, gold, models, skips and mixed metadata."""
    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(2, 80))
    pool = [f"user:{k}" for k in rng.permutation(int(rng.integers(1, 6)) if seed % 5 else 1) + 1]
    sites: list[Any] = ["north", "south", "east", 3, True][: int(rng.integers(1, 6))]
    items, records, subs = [], [], []
    for k in rng.choice(10**5, size=n_items, replace=False):
        iid = str(k)
        meta: dict[str, Any] = {}
        data: dict[str, Any] = {"text": f"review {k}"}
        if rng.random() < 0.85:
            site = sites[int(rng.integers(len(sites)))]
            (meta if rng.random() < 0.7 else data)["site"] = site  # in meta for most, in data for some
        if rng.random() < 0.9:
            data["lang"] = ["en", "de", "fr"][int(rng.integers(3))]
        if rng.random() < 0.1:
            meta["nested"] = {"a": 1}  # not a scalar: never a group
        items.append(Item(item_id=iid, data=data, meta=meta))
        truth = ["pos", "neg", "neu", "mix"][int(rng.integers(4))]
        if rng.random() < 0.25:  # a gold item
            records.append(Record(item_id=iid, annotator_id="lead", label_set="sentiment",
                                  value=Classification(label=truth), source="reference"))
        if rng.random() < 0.3:
            records.append(Record(item_id=iid, annotator_id="model:v1", label_set="sentiment",
                                  value=Classification(label=truth), source="model", score=float(rng.random())))
        for a in rng.permutation(pool)[: int(rng.integers(1, len(pool) + 1))]:
            ann = str(a)
            if rng.random() < 0.08:  # a skipped task: a cancelled submission, no judgment
                subs.append(Submission(item_id=iid, annotator_id=ann, annotation_id=f"{iid}-{ann}-skip",
                                       was_cancelled=True))
                continue
            dur = None if rng.random() < 0.3 else float(rng.uniform(1, 30))
            lab = truth if rng.random() < 0.7 else ["pos", "neg", "neu", "mix"][int(rng.integers(4))]
            records.append(Record(item_id=iid, annotator_id=ann, label_set="sentiment",
                                  value=Classification(label=lab), duration_s=dur, annotation_id=f"{iid}-{ann}"))
            if rng.random() < 0.5:
                records.append(Record(item_id=iid, annotator_id=ann, label_set="topic",
                                      value=Classification(label=["a", "b"][int(rng.integers(2))]),
                                      duration_s=dur, annotation_id=f"{iid}-{ann}"))
            if rng.random() < 0.3:
                records.append(Record(item_id=iid, annotator_id=ann, label_set="boxes",
                                      value=Box(label="car", x=1.0, y=2.0, width=3.0, height=4.0),
                                      annotation_id=f"{iid}-{ann}"))
    order = rng.permutation(len(records))
    return Dataset(records=tuple(records[j] for j in order), items={it.item_id: it for it in items},
                   submissions=tuple(subs))


def _gold(ds: Dataset, cfg: report_mod.ReportConfig) -> dict[str, gold_mod.GoldOutcome]:
    return {name: gold_mod.score_classes(ds, name, threshold=cfg.gold_threshold, target_width=cfg.gold_target_width,
                                         taxonomy=cfg.taxonomy)
            for name in ("sentiment", "topic")}


@pytest.mark.parametrize("seed", range(40))
def test_bias_section_equals_the_loop(seed, monkeypatch):
    ds = _dataset(seed)
    configs = [report_mod.ReportConfig(),
               report_mod.ReportConfig(bias_fields=("site", "lang", "absent", "nested", "text"))]
    for cfg in configs:
        gold = _gold(ds, cfg)
        got = report_mod._bias(ds, cfg, gold)
        with monkeypatch.context() as m:
            m.setattr(bias, "_codes", _ref_codes)
            want = _ref_bias(ds, cfg, gold)
        assert json.dumps(got) == json.dumps(want)


def test_bias_section_finds_something_to_compare():
    """The random projects above exercise every part of the section, not only its empty answers."""
    seen = {"tests": 0, "agreement": 0, "gold": 0, "data_key": 0, "missing": 0, "alpha": 0}
    for seed in range(40):
        ds = _dataset(seed)
        cfg = report_mod.ReportConfig(bias_fields=("site", "lang", "absent"))
        out = report_mod._bias(ds, cfg, _gold(ds, cfg))
        seen["tests"] += len(out["tests"])
        seen["agreement"] += sum(len(a["groups"]) for a in out["agreement_by_group"])
        seen["alpha"] += sum(g["alpha"] is not None for a in out["agreement_by_group"] for g in a["groups"])
        seen["gold"] += sum(len(c["cells"]) for c in out["gold_error_by_group"])
        seen["data_key"] += "data" in out["key_sources"].get("site", [])
        seen["missing"] += "absent" in out.get("missing_keys", [])
    assert all(v > 0 for v in seen.values()), seen


@pytest.mark.parametrize("seed", range(30))
def test_agreement_by_group_codes_equals_the_names(seed):
    rng = np.random.default_rng(500 + seed)
    items, anns, labels, groups = _judgments(rng)
    _, item_codes = sorted_codes(items)
    ann_pool = sorted(set(anns), key=lambda a: rng.random())  # any order for annotator and label names
    lab_pool = sorted(set(labels), key=lambda a: rng.random())
    group_pool = sorted(set(groups) | {"unused"})  # a sorted name list may hold groups that never occur
    got = bias.agreement_by_group_codes(
        item_codes * 3 + 7, [ann_pool.index(a) for a in anns], [lab_pool.index(v) for v in labels],
        [group_pool.index(g) for g in groups], annotator_names=ann_pool, label_names=lab_pool,
        group_names=group_pool)
    _same_agreement(got, _ref_agreement_by_group(items, anns, labels, groups))


def test_agreement_by_group_codes_rejects_bad_codes():
    kw = {"annotator_names": ["a", "b"], "label_names": ["x"], "group_names": ["G"]}
    with pytest.raises(InvalidAnnotationError, match="annotators must be integer codes into its 2 names"):
        bias.agreement_by_group_codes([0, 1], [0, 2], [0, 0], [0, 0], **kw)
    with pytest.raises(InvalidAnnotationError, match="labels must be integer codes"):
        bias.agreement_by_group_codes([0, 1], [0, 1], [0.0, 0.0], [0, 0], **kw)
    with pytest.raises(InvalidAnnotationError, match="items must be integer codes"):
        bias.agreement_by_group_codes(["i", "j"], [0, 1], [0, 0], [0, 0], **kw)
    with pytest.raises(InvalidAnnotationError, match="one entry per judgment"):
        bias.agreement_by_group_codes([0, 1], [0], [0, 0], [0, 0], **kw)
