"""Class agreement as the report computed it before it became a mergeable section (issue #16), kept
verbatim (from ``accord.core.qa.report`` before the change) as the reference the section tests compare
with: ``ref_class_agreement`` reads one whole ``Dataset`` (its ratings matrix, rows in sorted item order,
columns in ``ds.annotators()`` order) and returns the agreement block and the per-item scores."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core import agreement as ag
from accord.core.errors import UndefinedAgreementError
from accord.core.model import Dataset, MultiLabel, Record, value_label
from accord.core.qa.report import (
    _SECTION_PAIR_CELLS,
    ReportConfig,
    _boot_cfg,
    _compact,
    _f,
    _nominal_section,
    _off_schema,
    _pairwise_block,
    _section_ci,
    _specific_agreement_intervals,
    _with_ci,
    masi_distance,
)


def _ratings_matrix(per_item: Mapping[str, Mapping[str, Sequence[Record]]], annotators: Sequence[str],
                    numeric: bool) -> tuple[list[str], npt.NDArray[Any]]:
    items = sorted(per_item)
    col = {a: j for j, a in enumerate(annotators)}
    m = np.full((len(items), len(annotators)), np.nan if numeric else None, dtype=float if numeric else object)
    at: list[int] = []  # flat cell of each first record, filled in one assignment
    values: list[Any] = []
    width = len(annotators)
    for i, item in enumerate(items):
        for a, rs in per_item[item].items():
            if rs and a in col:
                v = rs[0].value
                at.append(i * width + col[a])
                values.append(float(v.value) if numeric else value_label(v))  # type: ignore[union-attr]
    if at:
        filled = np.empty(len(values), dtype=m.dtype)
        filled[:] = values
        m.reshape(-1)[np.asarray(at, dtype=np.intp)] = filled
    return items, m


def ref_class_agreement(ds: Dataset, name: str, config: ReportConfig, seed: int, *,
                     sections: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    ls = ds.schema.label_sets.get(name)
    kind = ls.kind if ls else ds.select(label_set=name)[0].kind
    if kind == "multilabel":
        return ref_multilabel_agreement(ds, name, config, seed)
    numeric = kind == "numeric"
    per_item = {i: a for i, a in ds.grouped_view(name, source="human").items()
                if any(a.values())}
    annotators = ds.annotators()
    items, m = _ratings_matrix(per_item, annotators, numeric)
    out: dict[str, Any] = {"kind": kind, "n_items": len(items), "n_annotators": len(annotators),
                           "coefficients": {}, "per_label": {}}
    item_scores: dict[str, float] = {}
    if len(annotators) < 2 or not items:
        out["note"] = "fewer than two annotators: agreement is undefined"
        out["primary"] = None
        return out, item_scores
    scale = ls.scale if ls else "nominal"
    level = "interval" if numeric and scale == "nominal" else scale
    coefs: dict[str, Any] = {}
    if numeric:
        dense = _compact(m.astype(np.float64))
        coefs["krippendorff_alpha"] = _with_ci(ag.krippendorff_alpha, dense, _boot_cfg(config, dense.size), seed,
                                               level=level)
        present = ~np.isnan(m)
    else:
        # Code labels once (sorted label order, so ordinal ranks are unchanged); every coefficient
        # then sees float codes, and labels outside the schema join the categories (and a finding).
        off = _off_schema(ls, m, items)
        if off:
            out["off_schema_labels"] = off
        declared = list(ls.labels) if ls and ls.labels else []
        flat = m.reshape(-1).tolist()
        observed = set(flat) - {None}
        cats = sorted(set(declared) | observed)
        index: dict[Any, int] = {c: k for k, c in enumerate(cats)}
        index[None] = -1
        codes = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat)).reshape(m.shape)
        coded = _compact(np.where(codes >= 0, codes.astype(np.float64), np.nan))
        bcfg = _boot_cfg(config, coded.size)
        categories = ([float(index[c]) for c in declared] + [float(index[c]) for c in sorted(observed)
                                                             if c not in set(declared)]) if declared else None
        present = codes >= 0
        sizes = present.sum(axis=1)
        full = present.all(axis=1)
        full_coded = np.where(codes >= 0, codes.astype(np.float64), np.nan)[full]
        fast = _nominal_section(name, cats, annotators, items, codes, present, bcfg, seed,
                                precomputed=(sections or {}).get(f"agreement:{name}")) \
            if level == "nominal" and (len(annotators) * len(cats)) ** 2 <= _SECTION_PAIR_CELLS else None
        if fast is not None:
            # Nominal: one pass of integer sums gives every coefficient and its Poisson-bootstrap
            # interval (accord.core.report.classes; the same estimates as accord.core.agreement).
            for key in ("krippendorff_alpha", "percent_agreement", "gwet_ac1", "brennan_prediger"):
                coefs[key] = _section_ci(fast, key, int(coded.shape[0]))
        else:
            coefs["krippendorff_alpha"] = _with_ci(ag.krippendorff_alpha, coded if level in ("nominal", "ordinal")
                                                   else m, bcfg, seed, level=level)
            coefs["percent_agreement"] = _with_ci(ag.percent_agreement, coded, bcfg, seed)
            coefs["gwet_ac1"] = _with_ci(ag.gwet_ac1, coded, bcfg, seed, categories=categories)
            coefs["brennan_prediger"] = _with_ci(ag.brennan_prediger, coded, bcfg, seed, categories=categories)
        if fast is not None and fast.ratings_per_item is not None and fast.ratings_per_item >= 2:
            coefs["fleiss_kappa"] = {**_section_ci(fast, "fleiss_kappa", int(coded.shape[0])),
                                     "ratings_per_item": int(sizes[0])}
        elif sizes.min() >= 2 and sizes.min() == sizes.max():
            # Fleiss (1971) as defined: every item has the same number of ratings (any raters).
            # The count table is built once; the bootstrap resamples its rows (the same items).
            coefs["fleiss_kappa"] = {**_with_ci(
                ag.fleiss_kappa, ag.counts_from_ratings(coded, categories=categories), bcfg, seed),
                "ratings_per_item": int(sizes[0])}
        elif full.sum() >= 2:
            coefs["fleiss_kappa"] = {**_with_ci(
                ag.fleiss_kappa, ag.counts_from_ratings(full_coded, categories=categories), bcfg,
                seed), "note": "items rated by every annotator only"}
    out["coefficients"] = coefs
    out["primary"] = "krippendorff_alpha"
    out["level"] = level
    if numeric:
        # annotator x annotator alpha on the items both rated, for pairs sharing enough items.
        p = present.astype(np.int64)
        shared = p.T @ p
        mat: list[list[float | None]] = []
        for a in range(len(annotators)):
            row: list[float | None] = []
            for b in range(len(annotators)):
                if a == b:
                    row.append(1.0)
                    continue
                v: float | None = None
                if shared[a, b] >= config.min_pair_items:
                    both = present[:, a] & present[:, b]
                    try:
                        v = ag.krippendorff_alpha(m[both][:, [a, b]], level=level)
                    except (UndefinedAgreementError, ValueError):
                        v = None
                row.append(_f(v))
            mat.append(row)
        out["pairwise"] = {"annotators": list(annotators), "metric": "alpha", "matrix": mat,
                           "min_items": config.min_pair_items}
        for i, item in enumerate(items):
            vals = [v for v in m[i] if not np.isnan(v)]
            if len(vals) < 2:
                continue
            spread = float(np.ptp(vals))
            rng = float(np.nanmax(m.astype(float)) - np.nanmin(m.astype(float))) or 1.0
            item_scores[item] = 1.0 - spread / rng
        return out, item_scores
    out["pairwise"], out["annotator_vs_rest"], pair_iv = _pairwise_block(codes, len(cats), annotators, config,
                                                                         "cohen_kappa", seed=seed)
    # per item: share of agreeing pairs, sum_k c_k (c_k - 1) / (n (n - 1)), from the count table.
    counts = np.zeros((len(items), max(len(cats), 1)), dtype=np.int64)
    rows_i, cols_i = np.nonzero(present)
    np.add.at(counts, (rows_i, codes[rows_i, cols_i]), 1)
    n_i = counts.sum(axis=1)
    same = (counts * (counts - 1)).sum(axis=1)
    for i in np.flatnonzero(n_i >= 2):
        item_scores[items[i]] = int(same[i]) / int(n_i[i] * (n_i[i] - 1))
    # Specific (positive) agreement per label: sum n_ik(n_ik-1) / sum n_ik(n_i-1).
    pairable = n_i >= 2
    num = (counts[pairable] * (counts[pairable] - 1)).sum(axis=0)
    den = (counts[pairable] * (n_i[pairable, None] - 1)).sum(axis=0)
    seen = counts[pairable].sum(axis=0) > 0
    out["per_label"] = {cats[k]: {"metric": "specific_agreement", "estimate": _f(num[k] / den[k] if den[k] else None),
                                  "low": None, "high": None, "n": int(den[k])}
                        for k in sorted(np.flatnonzero(seen), key=lambda k: cats[k])}
    out["intervals"] = {**_specific_agreement_intervals(counts[pairable], n_i[pairable], cats, seen, config, seed),
                        "pairwise": pair_iv}
    return out, item_scores


def ref_multilabel_agreement(ds: Dataset, name: str, config: ReportConfig, seed: int
                          ) -> tuple[dict[str, Any], dict[str, float]]:
    """Multi-select classes treated as sets: MASI alpha, exact-set agreement, per-label binary alpha.

    A submission that chose nothing in the label set counts as the empty set.
    """
    ls = ds.schema.label_sets.get(name)
    human = ds.grouped_view(name, source="human")
    annotators = ds.annotators()
    col = {a: j for j, a in enumerate(annotators)}
    per_item = {i: per for i, per in human.items() if per}
    items = sorted(per_item)
    sets: list[list[frozenset[str] | None]] = [[None] * len(annotators) for _ in items]
    for i, item in enumerate(items):
        for a, rs in per_item[item].items():
            if a in col:
                labs: set[str] = set()
                for r in rs:
                    v = r.value
                    labs |= set(v.labels) if isinstance(v, MultiLabel) else {str(value_label(v))}
                sets[i][col[a]] = frozenset(labs)
    out: dict[str, Any] = {"kind": "multilabel", "n_items": len(items), "n_annotators": len(annotators),
                           "coefficients": {}, "per_label": {}, "primary": None}
    item_scores: dict[str, float] = {}
    distinct = sorted({s for row in sets for s in row if s is not None}, key=lambda s: sorted(s))
    if len(annotators) < 2 or not items:
        out["note"] = "fewer than two annotators: agreement is undefined"
        return out, item_scores
    declared = list(ls.labels) if ls and ls.labels else []
    observed = sorted({lab for s in distinct for lab in s})
    off = [lab for lab in observed if declared and lab not in declared]
    if off:
        out["off_schema_labels"] = [{"label": lab, "n_ratings": sum(lab in s for row in sets for s in row if s),
                                     "item_ids": [items[i] for i, row in enumerate(sets)
                                                  if any(s and lab in s for s in row)][:20]} for lab in off]
    index = {s: k for k, s in enumerate(distinct)}
    codes = np.array([[index[s] if s is not None else -1 for s in row] for row in sets], dtype=np.int64)
    coded = _compact(np.where(codes >= 0, codes.astype(np.float64), np.nan))
    bcfg = _boot_cfg(config, coded.size)
    if len(distinct) <= 64:  # the distance is called once per pair of distinct sets and resample

        def masi(x: float, y: float) -> float:
            return masi_distance(distinct[int(x)], distinct[int(y)])
        out["coefficients"]["krippendorff_alpha"] = _with_ci(ag.krippendorff_alpha, coded,
                                                             replace(bcfg, n_bootstrap=min(bcfg.n_bootstrap, 200)),
                                                             seed, level=masi)
        out["primary"] = "krippendorff_alpha"
        out["level"] = "MASI distance between label sets (Passonneau 2006)"
    out["coefficients"]["exact_set_agreement"] = _with_ci(ag.percent_agreement, coded, bcfg, seed)
    if out["primary"] is None:
        out["primary"] = "exact_set_agreement"
    for lab in [*declared, *(x for x in observed if x not in declared)]:
        binary = _compact(np.array([[np.nan if s is None else float(lab in s) for s in row] for row in sets]))
        res = _with_ci(ag.krippendorff_alpha, binary, bcfg, seed, level="nominal")
        res["metric"] = "krippendorff_alpha (label present / absent)"
        res["prevalence"] = _f(np.nanmean(binary)) if np.isfinite(binary).any() else None
        out["per_label"][lab] = res
    out["pairwise"], out["annotator_vs_rest"], pair_iv = _pairwise_block(
        codes, len(distinct), annotators, config, "cohen_kappa (exact label set)", seed=seed)
    out["intervals"] = {**{key: pair_iv[key] for key in ("method", "n_resamples", "seed", "confidence")},
                        "pairwise": pair_iv}
    for i, item in enumerate(items):
        vals = [s for s in sets[i] if s is not None]
        if len(vals) < 2:
            continue
        sims = [1.0 if not (x | y) else len(x & y) / len(x | y) for x, y in itertools.combinations(vals, 2)]
        item_scores[item] = float(np.mean(sims))
    return out, item_scores


