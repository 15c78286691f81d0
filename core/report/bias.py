"""Bias monitoring as a mergeable section (:class:`BiasSection`).

The section answers what :func:`accord.core.qa.report._bias` answers on the whole dataset: per
metadata key, the label distribution per group (a chi-square or Fisher test), pairwise
agreement per group with Krippendorff's alpha, and the gold error rate per annotator and group,
with Benjamini-Hochberg flags across the tests. Every figure is a function of integer counts per
group, so a partial state holds counts only and merging adds them:

* the label distribution: the group x label table of the human classification records;
* agreement: per group, annotator pairs on one item and agreeing pairs (each item's first
  record per annotator, as there), and for Krippendorff's alpha the label counts of the pairable
  judgments, ``sum(m**2 - sum_k n_k**2)`` over the pairable items grouped by the number ``m`` of
  their judgments, and which annotators judged in the group;
* gold: judgments and errors per (annotator, group) cell of the gold items.

Which keys are monitored depends on every item when the config names none (a key with 2-20
values over all items, see ``_metadata_keys``), so the section then takes two passes: the first
collects the distinct values of each candidate key (at most 20 kept: past 20 a key is out), and
:meth:`BiasSection.next_params` names the keys for the second, which counts. With
``bias_fields`` or ``group_keys`` set it takes one pass.

The result is bit for bit the whole-dataset one on any split, except Krippendorff's alpha per
group where an item has 4, 6 or more annotators: the observed disagreement is summed here
exactly (as a fraction) and rounded once, where the whole-dataset kernel rounds each item's term
and sums them in item order; the two differ by a few units in the last place (far below the
6 digits the report keeps).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from operator import attrgetter
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError
from ..model import Dataset, Record
from ..qa.bias import (
    _per_group_tests,
    benjamini_hochberg,
    error_rate_by_group,
    label_distribution_test,
    sorted_codes,
)
from .engine import Context
from .engine import json_float as _f

__all__ = ["BiasSection", "BiasState", "GroupTable"]

IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

#: A key with more distinct values than this is no group (``_metadata_keys``' 2-20 rule).
MAX_GROUPS = 20
_ABSENT = object()
_ITEM, _ANNOTATOR, _LABEL = attrgetter("item_id"), attrgetter("annotator_id"), attrgetter("value.label")


# --------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupTable:
    """Counts of one classification label set under one key (rows: groups that have records).

    Attributes:
        groups / labels / annotators: Sorted names of the rows, label columns and annotator columns.
        dist: ``(G, L)`` human classification records per group and label (every record).
        n_pairs / n_agree: ``(G,)`` annotator pairs on one item, and those giving one label.
        alpha_num: ``(G, M)`` sum over the group's items with ``m >= 2`` judgments of
            ``m**2 - sum_k n_k**2``, in column ``m``.
        alpha_nc: ``(G, L)`` judgments on those items per label.
        raters: ``(G, A)`` which annotators judged an item of the group.
    """

    groups: tuple[str, ...]
    labels: tuple[str, ...]
    annotators: tuple[str, ...]
    dist: IntArray
    n_pairs: IntArray
    n_agree: IntArray
    alpha_num: IntArray
    alpha_nc: IntArray
    raters: BoolArray


@dataclass(frozen=True, slots=True, kw_only=True)
class BiasState:
    """A partial state of :class:`BiasSection` (plain data; picklable).

    Attributes:
        keys: The keys counted (as the config or the first pass gave them); ``None`` in the first
            pass, which only collects ``meta_values`` / ``data_values`` / ``data_counts``.
        meta_values: Per key of an item's ``meta`` with a str / int / bool value, its distinct
            values as strings (``None`` past :data:`MAX_GROUPS`).
        data_values / data_counts: Per string field of an item's ``data``, its distinct values
            (``None`` past :data:`MAX_GROUPS`) and how many items have it.
        found: Per counted key, ``(read from data somewhere, read from meta somewhere, some item
            has a value)``.
        tables: ``{(label set, key): GroupTable}``.
        gold: ``{(label set, key): {(annotator, group): (judgments, errors)}}`` on gold items.
    """

    keys: tuple[str, ...] | None
    meta_values: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    data_values: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    data_counts: Mapping[str, int] = field(default_factory=dict)
    found: Mapping[str, tuple[bool, bool, bool]] = field(default_factory=dict)
    tables: Mapping[tuple[str, str], GroupTable] = field(default_factory=dict)
    gold: Mapping[tuple[str, str], Mapping[tuple[str, str], tuple[int, int]]] = field(default_factory=dict)


def _union_values(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None or b is None:
        return None
    u = a | b
    return u if len(u) <= MAX_GROUPS else None


def _union_names(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[tuple[str, ...], IntArray, IntArray]:
    """Sorted union of two sorted name tables, and where each table's names went."""
    if a == b:
        same = np.arange(len(a), dtype=np.int64)
        return a, same, same
    names = tuple(sorted(set(a) | set(b)))
    at = {n: j for j, n in enumerate(names)}
    return (names, np.fromiter(map(at.__getitem__, a), dtype=np.int64, count=len(a)),
            np.fromiter(map(at.__getitem__, b), dtype=np.int64, count=len(b)))


def _embed(x: npt.NDArray[Any], rows: IntArray, cols: IntArray | None, shape: tuple[int, ...]) -> npt.NDArray[Any]:
    out: npt.NDArray[Any] = np.zeros(shape, dtype=x.dtype)
    if cols is None:
        out[rows] = x
    else:
        out[np.ix_(rows, cols)] = x
    return out


def _merge_tables(a: GroupTable, b: GroupTable) -> GroupTable:
    groups, ga, gb = _union_names(a.groups, b.groups)
    labels, la, lb = _union_names(a.labels, b.labels)
    anns, aa, ab = _union_names(a.annotators, b.annotators)
    g, n_l, n_a = len(groups), len(labels), len(anns)
    m = max(a.alpha_num.shape[1], b.alpha_num.shape[1])
    cols_m = np.arange(m, dtype=np.int64)

    def both(x: npt.NDArray[Any], y: npt.NDArray[Any], cx: IntArray | None, cy: IntArray | None,
             shape: tuple[int, ...]) -> npt.NDArray[Any]:
        out: npt.NDArray[Any] = _embed(x, ga, cx, shape) + _embed(y, gb, cy, shape)
        return out

    return GroupTable(
        groups=groups, labels=labels, annotators=anns,
        dist=both(a.dist, b.dist, la, lb, (g, n_l)),
        n_pairs=both(a.n_pairs, b.n_pairs, None, None, (g,)),
        n_agree=both(a.n_agree, b.n_agree, None, None, (g,)),
        alpha_num=both(a.alpha_num, b.alpha_num, cols_m[:a.alpha_num.shape[1]], cols_m[:b.alpha_num.shape[1]],
                       (g, m)),
        alpha_nc=both(a.alpha_nc, b.alpha_nc, la, lb, (g, n_l)),
        raters=_embed(a.raters, ga, aa, (g, n_a)) | _embed(b.raters, gb, ab, (g, n_a)))


def _alpha(num: IntArray, nc: IntArray, n_raters: int) -> float:
    """Nominal Krippendorff's alpha of one group from its sums (NaN where undefined).

    ``alpha = 1 - (n - 1) D_o / D_e`` (Krippendorff 2011) with ``D_o = sum_m num[m] / (m - 1)``
    (each pairable item's ordered unequal pairs over ``m - 1``, summed exactly) and
    ``D_e = n**2 - sum_k n_k**2`` over the ``n`` pairable judgments.
    """
    if n_raters < 2:
        return math.nan
    n = int(nc.sum())
    n_c = nc.astype(np.float64)
    if n == 0 or np.count_nonzero(n_c) < 2:
        return math.nan
    observed = float(sum((Fraction(int(v), m - 1) for m, v in enumerate(num.tolist()) if m >= 2 and v),
                         Fraction(0)))
    expected = float(n) ** 2 - float(n_c @ n_c)
    if not expected > 0.0:
        return math.nan
    return 1.0 - (n - 1) * observed / expected


def _config_keys(config: Any) -> tuple[str, ...] | None:
    """The keys the config names (``bias_fields`` before ``group_keys``), or ``None``."""
    for name in ("bias_fields", "group_keys"):
        keys = getattr(config, name, None)
        if keys is not None:
            if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
                raise ConfigError(f"[report] {name} must be a list of field names, e.g. {name} = "
                                  f"[\"language\", \"source\"], got {keys!r}")
            return tuple(keys)
    return None


def _chosen_keys(state: BiasState) -> list[str]:
    """``_metadata_keys``' automatic choice from the first pass's distinct values."""
    meta_ok = {k for k, v in state.meta_values.items() if v is not None and 2 <= len(v) <= MAX_GROUPS}
    data_ok = set()
    for k, distinct in state.data_values.items():
        if distinct is None or not 2 <= len(distinct) <= MAX_GROUPS or state.data_counts[k] < 2 * len(distinct):
            continue
        if any("://" in v or v.startswith(("/", "data:")) or len(v) > 64 for v in distinct):
            continue
        data_ok.add(k)
    return sorted(meta_ok | (data_ok - set(state.meta_values)))


# --------------------------------------------------------------------------- section


class BiasSection:
    """Bias monitoring (label distribution, agreement and gold error rate per metadata group).

    Args:
        label_sets: The whole dataset's label sets in ``Dataset.label_sets`` order (the order of
            the tests and of the gold blocks).

    Reads ``ctx.config`` (a ``ReportConfig``: ``fdr``, ``bias_fields``, ``group_keys``) and, for
    the gold error rates, ``ctx.results["gold:<label set>"]`` (a
    :class:`~accord.core.qa.gold.GoldOutcome` on the whole dataset) for every label set that has
    one. The result is the report's JSON-ready ``bias`` block. The state holds counts per group
    (and, in the first pass, at most 20 distinct values per candidate key): it grows with the
    groups, labels and annotators the result lists, never with the items.
    """

    name = "bias"
    stage = 1

    def __init__(self, label_sets: Sequence[str]) -> None:
        if isinstance(label_sets, str) or not all(isinstance(n, str) for n in label_sets):
            raise ConfigError(f"BiasSection needs the label-set names (Dataset.label_sets), got {label_sets!r}")
        self.label_sets = tuple(label_sets)

    # -- the contract

    def create(self, ctx: Context) -> BiasState:
        keys = _config_keys(ctx.config)
        if keys is None and ctx.params is not None:
            keys = tuple(ctx.params)
        return BiasState(keys=keys)

    def add(self, state: BiasState, part: Dataset, ctx: Context) -> BiasState:
        keys = state.keys
        one = self._candidates(part) if keys is None else self._counts(part, keys, ctx)
        return self.merge(state, one)

    def merge(self, a: BiasState, b: BiasState) -> BiasState:
        if a.keys != b.keys:
            raise ConfigError(f"BiasSection: cannot merge states counted for different keys ({a.keys!r} and "
                              f"{b.keys!r}); fold every partition of one pass with one context")
        meta = dict(a.meta_values)
        for k, v in b.meta_values.items():
            meta[k] = _union_values(meta[k], v) if k in meta else v
        data = dict(a.data_values)
        for k, v in b.data_values.items():
            data[k] = _union_values(data[k], v) if k in data else v
        counts = dict(a.data_counts)
        for k, c in b.data_counts.items():
            counts[k] = counts.get(k, 0) + c
        found = dict(a.found)
        for k, f in b.found.items():
            g = found.get(k, (False, False, False))
            found[k] = (g[0] or f[0], g[1] or f[1], g[2] or f[2])
        tables = dict(a.tables)
        for where, t in b.tables.items():
            tables[where] = _merge_tables(tables[where], t) if where in tables else t
        gold: dict[tuple[str, str], Mapping[tuple[str, str], tuple[int, int]]] = dict(a.gold)
        for where, cells in b.gold.items():
            if where not in gold:
                gold[where] = cells
                continue
            merged = dict(gold[where])
            for cell, (n, e) in cells.items():
                n0, e0 = merged.get(cell, (0, 0))
                merged[cell] = (n0 + n, e0 + e)
            gold[where] = merged
        return BiasState(keys=a.keys, meta_values=meta, data_values=data, data_counts=counts, found=found,
                         tables=tables, gold=gold)

    def next_params(self, state: BiasState, ctx: Context) -> tuple[str, ...] | None:
        """After the first pass of the automatic choice, the keys to count (``None``: done)."""
        if state.keys is not None:
            return None
        keys = _chosen_keys(state)
        return tuple(keys) if keys else None

    def finish(self, state: BiasState, ctx: Context) -> dict[str, Any]:
        cfg = ctx.config
        fdr = float(cfg.fdr)
        if state.keys is None:
            if _chosen_keys(state):
                raise ConfigError("BiasSection: the first pass chose keys but no second pass counted them; run the "
                                  "section through run_sections (it follows next_params)")
            keys: list[str] = []
        else:
            keys = list(state.keys)
        out: dict[str, Any] = {"fdr": cfg.fdr, "group_keys": keys, "tests": [], "distributions": [],
                               "agreement_by_group": [], "gold_error_by_group": []}
        if not keys:
            return out
        none = (False, False, False)
        sources = {k: [s for s, here in (("data", state.found.get(k, none)[0]),
                                         ("meta", state.found.get(k, none)[1])) if here]
                   for k in keys}
        out["key_sources"] = {k: v for k, v in sources.items() if v != ["meta"]}
        missing = [k for k in keys if not state.found.get(k, none)[2]]
        if missing:
            out["missing_keys"] = missing
        tests: list[dict[str, Any]] = []
        for name in self.label_sets:
            for key in keys:
                t = state.tables.get((name, key))
                if t is None or len(t.groups) < 2:
                    continue
                self._group_blocks(out, tests, name, key, t, fdr)
        for name in self.label_sets:
            for key in keys:
                cells = state.gold.get((name, key))
                if not cells or len({g for _, g in cells}) < 2:
                    continue
                out["gold_error_by_group"].append(_gold_block(name, key, cells, fdr))
        if tests:
            p = np.array([t["p_value"] if t["p_value"] is not None else np.nan for t in tests], dtype=float)
            ok = np.isfinite(p)
            flagged = np.zeros(len(p), dtype=bool)
            q = np.full(len(p), np.nan)
            if ok.any():
                fl, adj = benjamini_hochberg(p[ok], alpha=fdr)
                flagged[ok], q[ok] = fl, adj
            for t_, fl_, q_ in zip(tests, flagged, q, strict=True):
                t_["q_value"] = _f(q_)
                t_["flagged"] = bool(fl_)
        out["tests"] = tests
        return out

    # -- finishing

    @staticmethod
    def _group_blocks(out: dict[str, Any], tests: list[dict[str, Any]], name: str, key: str, t: GroupTable,
                      fdr: float) -> None:
        n_l = len(t.labels)
        cells = np.repeat(np.arange(t.dist.size, dtype=np.int64), t.dist.reshape(-1))
        dist = label_distribution_test(cells // n_l, cells % n_l)  # the test reads only the table
        tests.append({"label_set": name, "group_key": key, "what": "label distribution", "test": dist.test,
                      "statistic": _f(dist.statistic), "dof": dist.dof, "p_value": _f(dist.p_value)})
        out["distributions"].append({
            "label_set": name, "group_key": key, "groups": [t.groups[g] for g in dist.groups],
            "labels": [t.labels[lb] for lb in dist.labels], "counts": dist.counts.tolist(),
            "shares": [[_f(v) for v in row] for row in dist.proportions]})
        g_names = np.empty(len(t.groups), dtype=object)
        g_names[:] = t.groups
        rate, lo, hi, _, adj, flagged = _per_group_tests(
            g_names, t.n_agree.astype(np.intp), t.n_pairs.astype(np.intp), alpha=fdr, min_expected=5.0,
            confidence=0.95)
        n_raters = t.raters.sum(axis=1)
        alpha = [_alpha(t.alpha_num[g], t.alpha_nc[g], int(n_raters[g])) for g in range(len(t.groups))]
        out["agreement_by_group"].append({
            "label_set": name, "group_key": key,
            "groups": [{"group": str(g), "n_pairs": int(n), "agreement": _f(a), "low": _f(lo_), "high": _f(hi_),
                        "alpha": _f(al), "q_value": _f(q_), "flagged": bool(fl)}
                       for g, n, a, lo_, hi_, al, q_, fl in zip(
                           t.groups, t.n_pairs, rate, lo, hi, alpha, adj, flagged, strict=True)]})

    # -- folding one partition

    @staticmethod
    def _candidates(part: Dataset) -> BiasState:
        """First pass: the distinct values of each key that could be chosen."""
        meta: dict[str, list[Any]] = {}
        data: dict[str, list[str]] = {}
        for item in part.items.values():
            for k, v in item.meta.items():
                if isinstance(v, str | int | bool):
                    if k in meta:
                        meta[k].append(v)
                    else:
                        meta[k] = [v]
            for k, v in item.data.items():
                if isinstance(v, str) and k != "meta":
                    if k in data:
                        data[k].append(v)
                    else:
                        data[k] = [v]

        def capped(distinct: set[str]) -> frozenset[str] | None:
            return frozenset(distinct) if len(distinct) <= MAX_GROUPS else None

        data_values = {k: capped(set(vs)) for k, vs in data.items()}
        return BiasState(keys=None, meta_values={k: capped(set(map(str, vs))) for k, vs in meta.items()},
                         data_values=data_values,
                         data_counts={k: len(vs) for k, vs in data.items() if data_values[k] is not None})

    def _counts(self, part: Dataset, keys: tuple[str, ...], ctx: Context) -> BiasState:
        """Second (or only) pass: the counts per group of every key."""
        uniq = list(dict.fromkeys(keys))
        item_ids = list(part.items)
        pos = {i: j for j, i in enumerate(item_ids)}
        n_items = len(item_ids)
        values: dict[str, list[str | None]] = {k: [] for k in uniq}
        found: dict[str, tuple[bool, bool, bool]] = {}
        if uniq:
            in_data = dict.fromkeys(uniq, False)
            in_meta = dict.fromkeys(uniq, False)
            for item in part.items.values():
                m, d = item.meta, item.data
                for k in uniq:
                    v = m.get(k, _ABSENT)
                    if v is _ABSENT:
                        v = d.get(k)
                        if k in d:
                            in_data[k] = True
                    else:
                        in_meta[k] = True
                    values[k].append(v if type(v) is str else str(v) if isinstance(v, str | int | float | bool)
                                     else None)
            found = {k: (in_data[k], in_meta[k], any(v is not None for v in values[k])) for k in uniq}
        group_names: dict[str, list[str]] = {}
        item_group: dict[str, IntArray] = {}
        for k in uniq:
            names = sorted({v for v in values[k] if v is not None})
            lut = {v: j for j, v in enumerate(names)}
            group_names[k] = names
            item_group[k] = np.fromiter((-1 if v is None else lut[v] for v in values[k]), dtype=np.int64,
                                        count=n_items)
        tables = self._tables(part, uniq, pos, group_names, item_group) if uniq else {}
        gold = self._gold(part, uniq, pos, values, ctx) if uniq else {}
        return BiasState(keys=keys, found=found, tables=tables, gold=gold)

    def _tables(self, part: Dataset, keys: list[str], pos: Mapping[str, int], group_names: Mapping[str, list[str]],
                item_group: Mapping[str, IntArray]) -> dict[tuple[str, str], GroupTable]:
        schema = part.schema.label_sets
        wanted = {n for n in self.label_sets if (ls := schema.get(n)) is None or ls.kind == "classification"}
        # One pass over the records: the human classifications of every label set wanted.
        picked = [r for r in part.records
                  if r.source == "human" and r.label_set in wanted and r.value.kind == "classification"]
        by_set: dict[str, list[Record]] = {}
        if len(wanted) == 1:
            by_set[next(iter(wanted))] = picked
        else:
            for r in picked:
                by_set.setdefault(r.label_set, []).append(r)
        n_items = len(pos)
        out: dict[tuple[str, str], GroupTable] = {}
        for name in self.label_sets:
            recs = by_set.get(name)
            if not recs:
                continue
            ids = list(map(_ITEM, recs))
            anns = list(map(_ANNOTATOR, recs))
            labs = list(map(_LABEL, recs))  # a Classification's label
            item = np.fromiter(map(pos.__getitem__, ids), dtype=np.int64, count=len(ids))
            a_names, ann = sorted_codes(anns)
            l_names, lab = sorted_codes(labs)
            n_a, n_l = len(a_names), len(l_names)
            ann, lab = ann.astype(np.int64), lab.astype(np.int64)
            # Each annotator's first record on each item (record order within the item), as today.
            _, first = np.unique(item * n_a + ann, return_index=True)
            ki, ka, kl = item[first], ann[first], lab[first]
            m = np.bincount(ki, minlength=n_items).astype(np.int64)
            il, c = np.unique(ki * n_l + kl, return_counts=True)
            c = c.astype(np.int64)
            same = np.zeros(n_items, np.int64)
            np.add.at(same, il // n_l, c * c)
            agree = np.zeros(n_items, np.int64)
            np.add.at(agree, il // n_l, c * (c - 1) // 2)
            pairs = m * (m - 1) // 2
            width = int(m.max(initial=0)) + 1
            a_tab, l_tab = tuple(a_names.tolist()), tuple(l_names.tolist())
            for key in keys:
                ig = item_group[key]
                rg = ig[item]
                sel = rg >= 0
                if not sel.any():
                    continue
                present = np.unique(rg[sel])
                n_g = present.size
                remap = np.full(len(group_names[key]), -1, np.int64)
                remap[present] = np.arange(n_g)
                dist = np.bincount(remap[rg[sel]] * n_l + lab[sel], minlength=n_g * n_l).reshape(n_g, n_l)
                rated = np.flatnonzero((m > 0) & (ig >= 0))
                gi = remap[ig[rated]]
                n_pairs = np.zeros(n_g, np.int64)
                np.add.at(n_pairs, gi, pairs[rated])
                n_agree = np.zeros(n_g, np.int64)
                np.add.at(n_agree, gi, agree[rated])
                mult = m[rated] >= 2
                alpha_num = np.zeros((n_g, width), np.int64)
                mr = m[rated][mult]
                np.add.at(alpha_num, (gi[mult], mr), mr * mr - same[rated][mult])
                kg_all = ig[ki]
                kin = kg_all >= 0
                kg = remap[kg_all[kin]]
                kpair = m[ki[kin]] >= 2
                alpha_nc = np.bincount(kg[kpair] * n_l + kl[kin][kpair], minlength=n_g * n_l).reshape(n_g, n_l)
                raters = np.zeros((n_g, n_a), np.bool_)
                raters[kg, ka[kin]] = True
                names = group_names[key]
                out[(name, key)] = GroupTable(
                    groups=tuple(names[g] for g in present.tolist()), labels=l_tab, annotators=a_tab,
                    dist=dist.astype(np.int64), n_pairs=n_pairs, n_agree=n_agree, alpha_num=alpha_num,
                    alpha_nc=alpha_nc.astype(np.int64), raters=raters)
        return out

    def _gold(self, part: Dataset, keys: list[str], pos: Mapping[str, int], values: Mapping[str, list[str | None]],
              ctx: Context) -> dict[tuple[str, str], dict[tuple[str, str], tuple[int, int]]]:
        out: dict[tuple[str, str], dict[tuple[str, str], tuple[int, int]]] = {}
        for name in self.label_sets:
            outcome = ctx.results.get(f"gold:{name}")
            if outcome is None or not outcome.gold_items:
                continue
            gold_items = outcome.gold_items
            local = ([i for i in gold_items if i in pos] if len(gold_items) <= len(pos)
                     else [i for i in pos if i in gold_items])
            if not local:
                continue
            wrong = {(d.item_id, d.annotator_id) for d in outcome.discrepancies if d.item_id in pos}
            human = part.grouped_view(name, source="human")
            judged = [(item, tuple(human.get(item, {}))) for item in local]
            for key in keys:
                col = values[key]
                cells: dict[tuple[str, str], tuple[int, int]] = {}
                for item, anns in judged:
                    g = col[pos[item]]
                    if g is None:
                        continue
                    for a in anns:
                        n, e = cells.get((a, g), (0, 0))
                        cells[(a, g)] = (n + 1, e + ((item, a) in wrong))
                if cells:
                    out[(name, key)] = cells
        return out


def _gold_block(name: str, key: str, cells: Mapping[tuple[str, str], tuple[int, int]], fdr: float
                ) -> dict[str, Any]:
    """The gold error rates of one label set under one key, from its (annotator, group) counts."""
    order = sorted(cells)
    n = np.array([cells[c][0] for c in order], dtype=np.int64)
    e = np.array([cells[c][1] for c in order], dtype=np.int64)
    anns = np.repeat(np.array([a for a, _ in order], dtype=object), n)
    groups = np.repeat(np.array([g for _, g in order], dtype=object), n)
    correct = np.concatenate([np.r_[np.zeros(int(ei), bool), np.ones(int(ni - ei), bool)]
                              for ni, ei in zip(n, e, strict=True)])
    er = error_rate_by_group(correct, groups, annotators=anns, alpha=fdr)  # reads only the cell counts
    return {
        "label_set": name, "group_key": key,
        "cells": [{"annotator_id": str(c[0]), "group": str(c[1]), "n": int(nj), "errors": int(ne),
                   "error_rate": _f(r), "low": _f(lo), "high": _f(hi), "q_value": _f(q), "flagged": bool(fl)}
                  for c, nj, ne, r, lo, hi, q, fl in zip(er.cells, er.n_judgments, er.n_errors, er.error_rate,
                                                        er.ci_low, er.ci_high, er.adjusted_p_value, er.flagged,
                                                        strict=True)]}
