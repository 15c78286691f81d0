"""Region and text agreement as mergeable sections: per-item matching, merged rows, one finish.

:class:`RegionAgreementSection` gives what ``agreement.<label set>`` reports for a region label
set (boxes, polygons, masks, keypoints, spans, segments, cuboids, tracks: ``REGION_KINDS``);
:class:`TextAgreementSection` the same for free text. Both return ``(agreement block, item
scores)`` exactly as the one-process functions did (kept in ``tests/report_refs_regions.py``).

The expensive part is item-local: every annotator pair of an item is matched once
(``match(...)``), in :meth:`~RegionAgreementSection.add`, which keeps compact per-item rows
(numpy arrays and small dicts, never records): the item's pair F1 score, its within-item
set distances, its matched similarities, its :class:`~accord.core.qa.region_intervals.RatioStats`
entries (interned keys, numerators, denominators), and summed integer counts per annotator
pair and label. :meth:`~RegionAgreementSection.merge` concatenates rows and adds counts;
:meth:`~RegionAgreementSection.finish` puts the rows back in the single-process order
(``ctx.order``) and runs the same global computation on them: the pairwise matrix, per-label
figures, the item-bootstrap intervals and structured alpha with its bootstrap. Every figure is
bit for bit the single-process one, on any split, in any partition order.

Order. The single-process functions walk the label set's grouping
(:meth:`~accord.core.model.Dataset.grouped_view`, items in the order of their first human
submission), which is not always the dataset's item order. ``build_report`` therefore runs these
sections with ``ctx.order`` set to :func:`grouping_order` (the grouping's item order; client-side
only, like every ``ctx.order``).

Structured alpha in two passes (issue #17). Its expected disagreement ``D_e`` compares
annotations of *different* items, so it needs values from other partitions. Pass 1 (no params)
only lists each partition's units (items with two or more annotators) and their number of
annotations: a few bytes per item. :meth:`~RegionAgreementSection.next_params` then lays the units
out in dataset order and replays :func:`~accord.core.agreement_structured.structured_alpha`'s own
seeded sampler on that layout (it depends only on the layout and the seed), naming exactly the
annotations its cross-item pairs use: every annotation when at most ``max_expected_pairs`` (3000)
cross-item pairs exist, else the at most ``2 * 3000`` annotations of the 3000 pairs drawn
uniformly with replacement (seeded with the report's seed). Pass 2 does the matching above and
also returns those named annotations' values (at most 6000 annotation sets, whatever the dataset's
size); finish computes ``D_e`` from them on the client, each cross pair once, in the sampler's
order, as the one-process code did.

State size: per item, one score, ``C(m, 2)`` distances for ``m`` annotators, one similarity per
matched region pair (a mean's bits depend on every value, in order) and a few ratio entries per
pair and label; per annotator pair and label, two counts; plus the sampled annotations' values.

Against gold (:class:`GoldCocoSection`, :class:`GoldDerSection`) and cpWER (:class:`CpwerSection`)
follow the same shape: each (annotator, gold item) or (annotator pair, item) is scored in ``add``
(a COCO image's match rows, an item's diarization errors, an item's word-error counts), and
``finish`` sums them per annotator in item-id order, as the one-process functions
(:mod:`accord.core.qa.annotator_eval`, :func:`~accord.core.qa.cpwer.annotators_cpwer`) walk
``sorted(gold)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import UndefinedAgreementError
from ..matching.base import MatchResult
from ..model import Dataset, DatasetOutline, value_label
from .engine import Context, ItemOrder, json_float, order_of

__all__ = ["CpwerSection", "GoldCocoSection", "GoldDerSection", "GoldRowsState", "RegionAgreementSection",
           "RegionState", "TextAgreementSection", "TextState", "UnitsNeeded", "agreement_of", "grouping_order",
           "result_of"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Most cross-item pairs structured alpha matches for its expected distance (the report's setting).
EXPECTED_PAIRS = 3000


def grouping_order(ds: Dataset | DatasetOutline, label_set: str) -> ItemOrder:
    """The item order the one-process agreement functions walked: the human grouping's
    (:meth:`~accord.core.model.Dataset.grouped_view`), which ``finish`` restores. Of an
    outline, its item order: a Dask run keeps the records on the workers only when every
    partition's groupings follow its item order (``accord.cluster.report._item_major``)."""
    if isinstance(ds, DatasetOutline):
        return ItemOrder(ds.item_ids)
    return ItemOrder(ds.grouped_view(label_set, source="human"))


_f = json_float


def _ci_dict(est: float | None, low: float | None, high: float | None, n: int) -> dict[str, Any]:
    """A figure as the report writes it (``accord.core.qa.report._ci_dict``'s shape)."""
    return {"estimate": _f(est), "low": _f(low), "high": _f(high), "n": n}


def _segments(counts: IntArray) -> tuple[IntArray, IntArray]:
    """``(starts, ends)`` of consecutive variable-length rows of the given lengths."""
    ends = np.cumsum(counts, dtype=np.int64)
    return ends - counts, ends


def _reorder_rows(values: FloatArray, counts: IntArray, perm: IntArray) -> FloatArray:
    """The concatenated rows ``values`` (row ``k`` has ``counts[k]`` entries) with rows in ``perm`` order."""
    if not values.size:
        return values
    starts, _ = _segments(counts)
    c = counts[perm]
    new_starts, _ = _segments(c)
    take = np.arange(int(c.sum()), dtype=np.int64) + np.repeat(starts[perm] - new_starts, c)
    return values[take]


# --------------------------------------------------------------------------- regions


@dataclass(frozen=True, slots=True)
class UnitsNeeded:
    """Pass 2's parameters: the annotations (``(item id, position within the item's grouping)``)
    whose values structured alpha's expected disagreement reads (at most ``2 * EXPECTED_PAIRS``)."""

    units: frozenset[tuple[str, int]]


@dataclass(slots=True)
class RegionState:
    """A region section's partial state (plain data; see the module docstring for its size).

    Attributes:
        annotators: Human annotator ids seen (``Dataset.annotators`` of each partition).
        items: Unit item ids (two or more annotators), in partition order.
        sizes: Annotators per unit.
        scores: Per unit, the mean F1 of its annotator pairs (pass 2).
        dists: Per unit, its ``C(m, 2)`` set distances, concatenated (pass 2).
        sims: Per unit, its matched similarities, concatenated; ``n_sims`` their counts (pass 2).
        entry_unit / entry_key / entry_num / entry_den: The units' ratio entries in the order the
            one-process loop added them (unit index in ``items``, key code into ``keys``).
        keys: The ratio keys, by code.
        pair_counts: ``{(a, b): [true positives, n_reference + n_candidate]}`` summed per pair
            (integer-valued floats, as the one-process sums: exact in any order).
        label_counts: ``{label: [2 x same-label matches, regions]}`` summed per label.
        values: The named annotations' values, ``{(item, position): values}`` (pass 2).
    """

    annotators: set[str] = field(default_factory=set)
    items: list[str] = field(default_factory=list)
    sizes: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: FloatArray = field(default_factory=lambda: np.zeros(0, np.float64))
    dists: FloatArray = field(default_factory=lambda: np.zeros(0, np.float64))
    sims: FloatArray = field(default_factory=lambda: np.zeros(0, np.float64))
    n_sims: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    entry_unit: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    entry_key: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    entry_num: FloatArray = field(default_factory=lambda: np.zeros(0, np.float64))
    entry_den: FloatArray = field(default_factory=lambda: np.zeros(0, np.float64))
    keys: list[Hashable] = field(default_factory=list)
    pair_counts: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    label_counts: dict[str, list[float]] = field(default_factory=dict)
    values: dict[tuple[str, int], tuple[Any, ...]] = field(default_factory=dict)


def _soft_distance(m: MatchResult, n_a: int, n_b: int) -> float:
    """``1 - soft F1`` of two non-empty annotation sets from their match (``_set_distance``'s arithmetic)."""
    bad = set(m.label_mismatches)
    s = sum(sim for k, sim in enumerate(m.similarity) if k not in bad)
    return 1.0 - 2.0 * s / (n_a + n_b)


def value_distance(match: Callable[[Sequence[Any], Sequence[Any]], Any]) -> Callable[[Sequence[Any], Sequence[Any]],
                                                                                      float]:
    """``_set_distance`` on annotation values instead of records (the same arithmetic)."""
    def distance(a: Sequence[Any], b: Sequence[Any]) -> float:
        if not a and not b:
            return 0.0
        if not a or not b:
            return 1.0
        return _soft_distance(match(list(a), list(b)), len(a), len(b))
    return distance


class RegionAgreementSection:
    """Agreement of one region label set (module docstring); result ``(block, item scores)``.

    Two passes: pass 1 lists the units, pass 2 (params :class:`UnitsNeeded`) matches and
    returns the sampled annotations' values.
    """

    stage = 0

    def __init__(self, label_set: str, kind: str) -> None:
        self.label_set = label_set
        self.kind = kind
        self.name = f"regions:{label_set}"

    def create(self, ctx: Context) -> RegionState:
        return RegionState()

    def add(self, state: RegionState, part: Dataset, ctx: Context) -> RegionState:
        from ..qa.report import _region_matcher

        human = part.grouped_view(self.label_set, source="human")
        units = [(i, per) for i, per in human.items() if len(per) >= 2]
        out = RegionState(annotators=set(part.annotators()), items=[i for i, _ in units],
                          sizes=np.array([len(per) for _, per in units], dtype=np.int64))
        needed: UnitsNeeded | None = ctx.params
        if needed is None:  # pass 1: the layout only
            return self.merge(state, out)
        match = _region_matcher(ctx.config)
        pair_counts: dict[tuple[str, str], list[float]] = {}
        label_counts: dict[str, list[float]] = {}
        key_code: dict[Hashable, int] = {}
        keys: list[Hashable] = []
        e_unit: list[int] = []
        e_key: list[int] = []
        e_num: list[float] = []
        e_den: list[float] = []
        scores: list[float] = []
        dists: list[float] = []
        sims: list[float] = []
        n_sims: list[int] = []

        def entry(ix: int, key: Hashable, num: float, den: float) -> None:
            code = key_code.get(key)
            if code is None:
                code = key_code[key] = len(keys)
                keys.append(key)
            e_unit.append(ix)
            e_key.append(code)
            e_num.append(num)
            e_den.append(den)

        for ix, (_item, per) in enumerate(units):
            f1s: list[float] = []
            item_label: dict[str, list[float]] = {}
            n_before = len(sims)
            done: dict[tuple[str, str], Any] = {}
            for a, b in itertools.combinations(sorted(per), 2):
                ra, rb = per[a], per[b]
                m = match([r.value for r in ra], [r.value for r in rb])
                done[(a, b)] = m
                acc = pair_counts.get((a, b))
                if acc is None:
                    acc = pair_counts[(a, b)] = [0.0, 0.0]
                acc[0] += m.tp
                acc[1] += m.n_reference + m.n_candidate
                entry(ix, ("pair", a, b), 2.0 * m.tp, float(m.n_reference + m.n_candidate))
                entry(ix, "matched_f1", 2.0 * m.tp, float(m.n_reference + m.n_candidate))
                entry(ix, "mean_matched_similarity", float(sum(m.similarity)), float(len(m.similarity)))
                f1s.append(m.f1_score())
                sims.extend(m.similarity)
                bad = set(m.label_mismatches)
                for k, (i, _) in enumerate(m.pairs):
                    lab = str(value_label(ra[i].value))
                    cell = item_label.setdefault(lab, [0.0, 0.0])
                    cell[0] += 2 * (k not in bad)
                    cell[1] += 2
                for i in m.unmatched_reference:
                    item_label.setdefault(str(value_label(ra[i].value)), [0.0, 0.0])[1] += 1
                for j in m.unmatched_candidate:
                    item_label.setdefault(str(value_label(rb[j].value)), [0.0, 0.0])[1] += 1
            for lab, (num, den) in item_label.items():
                total = label_counts.get(lab)
                if total is None:
                    total = label_counts[lab] = [0.0, 0.0]
                total[0] += num
                total[1] += den
                entry(ix, ("label", lab), num, den)
            scores.append(float(np.mean(f1s)) if f1s else 1.0)
            n_sims.append(len(sims) - n_before)
            # Within-item set distances, in the order structured alpha pairs an item's annotations.
            names = list(per)
            for x, y in itertools.combinations(range(len(names)), 2):
                rx, ry = per[names[x]], per[names[y]]
                if not rx and not ry:
                    dists.append(0.0)
                elif not rx or not ry:
                    dists.append(1.0)
                else:  # the same call as the F1 loop's when the pair is in sorted order
                    mm = done.get((names[x], names[y]))
                    if mm is None:
                        mm = match([r.value for r in rx], [r.value for r in ry])
                    dists.append(_soft_distance(mm, len(rx), len(ry)))
        for item, pos in needed.units:
            found = human.get(item)
            if found is not None:
                out.values[(item, pos)] = tuple(r.value for r in list(found.values())[pos])
        out.scores = np.asarray(scores, dtype=np.float64)
        out.dists = np.asarray(dists, dtype=np.float64)
        out.sims = np.asarray(sims, dtype=np.float64)
        out.n_sims = np.asarray(n_sims, dtype=np.int64)
        out.entry_unit = np.asarray(e_unit, dtype=np.int64)
        out.entry_key = np.asarray(e_key, dtype=np.int64)
        out.entry_num = np.asarray(e_num, dtype=np.float64)
        out.entry_den = np.asarray(e_den, dtype=np.float64)
        out.keys = keys
        out.pair_counts = pair_counts
        out.label_counts = label_counts
        return self.merge(state, out)

    def merge(self, a: RegionState, b: RegionState) -> RegionState:
        code = {k: j for j, k in enumerate(a.keys)}
        keys = list(a.keys)
        remap = np.empty(len(b.keys), dtype=np.int64)
        for j, k in enumerate(b.keys):
            if k not in code:
                code[k] = len(keys)
                keys.append(k)
            remap[j] = code[k]
        pair_counts = {k: list(v) for k, v in a.pair_counts.items()}
        for k, v in b.pair_counts.items():
            c = pair_counts.setdefault(k, [0.0, 0.0])
            c[0] += v[0]
            c[1] += v[1]
        label_counts = {k: list(v) for k, v in a.label_counts.items()}
        for k, v in b.label_counts.items():
            c = label_counts.setdefault(k, [0.0, 0.0])
            c[0] += v[0]
            c[1] += v[1]
        return RegionState(
            annotators=a.annotators | b.annotators, items=[*a.items, *b.items],
            sizes=np.concatenate([a.sizes, b.sizes]), scores=np.concatenate([a.scores, b.scores]),
            dists=np.concatenate([a.dists, b.dists]), sims=np.concatenate([a.sims, b.sims]),
            n_sims=np.concatenate([a.n_sims, b.n_sims]),
            entry_unit=np.concatenate([a.entry_unit, b.entry_unit + len(a.items)]),
            entry_key=np.concatenate([a.entry_key, remap[b.entry_key]]),
            entry_num=np.concatenate([a.entry_num, b.entry_num]), entry_den=np.concatenate([a.entry_den, b.entry_den]),
            keys=keys, pair_counts=pair_counts, label_counts=label_counts, values={**a.values, **b.values})

    def next_params(self, state: RegionState, ctx: Context) -> UnitsNeeded | None:
        """After pass 1: the annotations structured alpha's sampler will pair across items."""
        if ctx.params is not None:
            return None
        from ..agreement_structured import structured_alpha

        perm = order_of(ctx, state.items).argsort(state.items)
        items = [state.items[k] for k in perm.tolist()]
        sizes = state.sizes[perm].tolist()
        units = _layout(items, sizes)
        wanted: set[tuple[str, int]] = set()

        def record(x: tuple[int, int], y: tuple[int, int]) -> float:
            if x[0] != y[0]:  # a cross-item pair: the sampler's, in its order
                wanted.add((items[x[0]], x[1]))
                wanted.add((items[y[0]], y[1]))
            return 1.0

        if len(units) >= 2:  # else alpha is undefined before any cross pair is drawn
            structured_alpha(units, record, seed=ctx.seed, max_expected_pairs=EXPECTED_PAIRS)
        return UnitsNeeded(frozenset(wanted))

    def finish(self, state: RegionState, ctx: Context) -> tuple[dict[str, Any], dict[str, float]]:
        from ..agreement_structured import structured_alpha
        from ..qa.region_intervals import RatioStats
        from ..qa.report import _region_intervals, _region_matcher

        cfg = ctx.config
        seed = ctx.seed
        annotators = sorted(state.annotators)
        n_units = len(state.items)
        perm = order_of(ctx, state.items).argsort(state.items)
        items = [state.items[k] for k in perm.tolist()]
        out: dict[str, Any] = {"kind": self.kind, "n_items": n_units, "n_annotators": len(annotators),
                               "coefficients": {}, "per_label": {}, "primary": None}
        if len(annotators) < 2 or not n_units:
            out["note"] = "fewer than two annotators per item: agreement is undefined"
            return out, {}
        rank = np.empty(n_units, dtype=np.int64)
        rank[perm] = np.arange(n_units, dtype=np.int64)  # unit k's place in dataset order
        sizes = state.sizes[perm]
        scores = state.scores[perm]
        item_scores = {item: float(s) for item, s in zip(items, scores.tolist(), strict=True)}
        n_pairs = state.sizes * (state.sizes - 1) // 2
        dists = _reorder_rows(state.dists, n_pairs, perm)
        sims = _reorder_rows(state.sims, state.n_sims, perm)
        stats = RatioStats(n_items=n_units)
        order = np.argsort(rank[state.entry_unit], kind="stable")
        for u, c, num, den in zip(rank[state.entry_unit][order].tolist(), state.entry_key[order].tolist(),
                                  state.entry_num[order].tolist(), state.entry_den[order].tolist(), strict=True):
            stats.add(u, state.keys[c], num, den)
        # Structured alpha: within-item distances from the rows, cross-item ones from the sampled values.
        starts, _ = _segments(n_pairs[perm])
        dist = _value_memo(_region_matcher(cfg), state.values, items)

        def distance(x: tuple[int, int], y: tuple[int, int]) -> float:
            if x[0] == y[0]:
                m = int(sizes[x[0]])
                i, j = (x[1], y[1]) if x[1] < y[1] else (y[1], x[1])
                return float(dists[int(starts[x[0]]) + i * m - i * (i + 1) // 2 + (j - i - 1)])
            return dist(x, y)

        units = _layout(items, sizes.tolist())
        try:
            res = structured_alpha(units, distance, seed=seed, max_expected_pairs=EXPECTED_PAIRS)
            counts = n_pairs[perm]
            # Python's sum over each item's distances, in order (the one-process arithmetic).
            sums = np.array([sum(dists[s0:s0 + c0].tolist()) for s0, c0 in zip(starts.tolist(), counts.tolist(),
                                                                               strict=True)])
            rng = np.random.default_rng(seed)
            pick = rng.integers(0, n_units, (min(cfg.n_bootstrap, 1000), n_units))
            boot_do = sums[pick].sum(axis=1) / np.maximum(counts[pick].sum(axis=1), 1)
            boots = 1.0 - boot_do / res.expected_distance
            lo, hi = (float(x) for x in np.percentile(boots, [2.5, 97.5]))
            out["coefficients"]["structured_alpha"] = _ci_dict(res.alpha, lo, hi, n_units)
        except UndefinedAgreementError as e:
            out["coefficients"]["structured_alpha"] = {**_ci_dict(None, None, None, n_units), "undefined": str(e)}
        tp = sum(v[0] for v in state.pair_counts.values())
        tot = sum(v[1] for v in state.pair_counts.values())
        out["coefficients"]["matched_f1"] = _ci_dict(2 * tp / tot if tot else None, None, None, n_units)
        mean_sim = float(np.mean(sims)) if sims.size else None
        out["coefficients"]["mean_matched_similarity"] = _ci_dict(mean_sim, None, None, int(sims.size))
        out["primary"] = "structured_alpha"
        mat: list[list[float | None]] = []
        for a in annotators:
            row: list[float | None] = []
            for b in annotators:
                if a == b:
                    row.append(1.0)
                    continue
                v = state.pair_counts.get((a, b)) or state.pair_counts.get((b, a))
                row.append(_f(2 * v[0] / v[1]) if v and v[1] else None)
            mat.append(row)
        out["pairwise"] = {"annotators": list(annotators), "metric": "matched_f1", "matrix": mat}
        out["per_label"] = {lab: {"metric": "matched_f1", "estimate": _f(a / b if b else None), "low": None,
                                  "high": None, "n": int(b)} for lab, (a, b) in sorted(state.label_counts.items())}
        out["intervals"] = _region_intervals(stats, annotators, sorted(state.label_counts), cfg, seed)
        return out, item_scores


def _layout(items: Sequence[str], sizes: Sequence[int]) -> Mapping[Hashable, Mapping[Hashable, tuple[int, int]]]:
    """Structured alpha's units with a token ``(unit, position)`` per annotation, in dataset order."""
    out: dict[Hashable, Mapping[Hashable, tuple[int, int]]] = {}
    for u, (item, m) in enumerate(zip(items, sizes, strict=True)):
        out[item] = {pos: (u, pos) for pos in range(int(m))}
    return out


def _value_memo(match: Callable[[Sequence[Any], Sequence[Any]], Any], values: Mapping[tuple[str, int], Any],
                items: Sequence[str]) -> Callable[[tuple[int, int], tuple[int, int]], float]:
    """The cross-item distance of two annotations (by ``(unit, position)``), each unordered pair
    computed once, in the direction first asked (as the one-process memo did)."""
    dist = value_distance(match)
    memo: dict[tuple[tuple[int, int], tuple[int, int]], float] = {}

    def cached(x: tuple[int, int], y: tuple[int, int]) -> float:
        key = (x, y) if x <= y else (y, x)
        d = memo.get(key)
        if d is None:
            d = memo[key] = dist(values[(items[x[0]], x[1])], values[(items[y[0]], y[1])])
        return d
    return cached


# --------------------------------------------------------------------------- text


@dataclass(slots=True)
class TextState:
    """A text section's partial state: per item with two or more transcripts, its id and its
    mean pair word agreement; per annotator pair, summed word errors and reference words."""

    annotators: set[str] = field(default_factory=set)
    items: list[str] = field(default_factory=list)
    scores: FloatArray = field(default_factory=lambda: np.zeros(0, np.float64))
    pair_counts: dict[tuple[str, str], list[int]] = field(default_factory=dict)


class TextAgreementSection:
    """Word agreement of one free-text label set; result ``(block, item scores)``.

    One pass: every transcript pair of an item is scored in :meth:`add` (symmetric: the two
    directions' word errors summed), counts add up, item scores go back in ``ctx.order``.
    """

    stage = 0

    def __init__(self, label_set: str) -> None:
        self.label_set = label_set
        self.name = f"text:{label_set}"

    def create(self, ctx: Context) -> TextState:
        return TextState()

    def add(self, state: TextState, part: Dataset, ctx: Context) -> TextState:
        from ..qa.report import word_error_counts

        human = part.grouped_view(self.label_set, source="human")
        pair: dict[tuple[str, str], list[int]] = {}
        items: list[str] = []
        scores: list[float] = []
        for item, per in human.items():
            texts = {a: str(getattr(rs[0].value, "text", "")) for a, rs in per.items() if rs}
            if len(texts) < 2:
                continue
            accs = []
            for a, b in itertools.combinations(sorted(texts), 2):
                e1, n1, *_ = word_error_counts(texts[a], texts[b])
                e2, n2, *_ = word_error_counts(texts[b], texts[a])
                c = pair.setdefault((a, b), [0, 0])
                c[0] += e1 + e2
                c[1] += n1 + n2
                accs.append(1 - (e1 + e2) / (n1 + n2) if n1 + n2 else 1.0)
            items.append(item)
            scores.append(max(0.0, float(np.mean(accs))))
        return self.merge(state, TextState(annotators=set(part.annotators()), items=items,
                                           scores=np.asarray(scores, dtype=np.float64), pair_counts=pair))

    def merge(self, a: TextState, b: TextState) -> TextState:
        pair = {k: list(v) for k, v in a.pair_counts.items()}
        for k, v in b.pair_counts.items():
            c = pair.setdefault(k, [0, 0])
            c[0] += v[0]
            c[1] += v[1]
        return TextState(annotators=a.annotators | b.annotators, items=[*a.items, *b.items],
                         scores=np.concatenate([a.scores, b.scores]), pair_counts=pair)

    def next_params(self, state: TextState, ctx: Context) -> None:
        return None

    def finish(self, state: TextState, ctx: Context) -> tuple[dict[str, Any], dict[str, float]]:
        annotators = sorted(state.annotators)
        perm = order_of(ctx, state.items).argsort(state.items)
        item_scores = {state.items[k]: float(state.scores[k]) for k in perm.tolist()}
        n_items = len(state.items)
        out: dict[str, Any] = {"kind": "text", "n_items": n_items, "n_annotators": len(annotators),
                               "coefficients": {}, "per_label": {}, "primary": None}
        pair = state.pair_counts
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


# --------------------------------------------------------------------------- running one


def agreement_of(section: RegionAgreementSection | TextAgreementSection, ds: Dataset | DatasetOutline, runner: Any,
                 ctx: Context) -> tuple[dict[str, Any], dict[str, float]]:
    """``section`` run over ``runner``'s partitions, finished in ``ds``'s grouping order of its
    label set (:func:`grouping_order`, the one-process order): ``(agreement block, item scores)``."""
    result: tuple[dict[str, Any], dict[str, float]] = runner.run(
        [section], replace(ctx, order=grouping_order(ds, section.label_set)))[section.name]
    return result


# --------------------------------------------------------------------------- against gold: COCO, DER; cpWER


@dataclass(slots=True)
class GoldRowsState:
    """Per annotator (or annotator pair) and item: one item-local result (a COCO image's match counts and rows,
    an item's diarization errors, an item's cpWER counts), and the annotators seen.

    ``gold`` counts the partition's gold items (``has_text``: whether any human transcript with a
    speaker was seen, cpWER only). Rows are summed in sorted item order at finish, as the
    one-process functions walk ``sorted(gold)``."""

    annotators: set[str] = field(default_factory=set)
    rows: dict[Hashable, list[tuple[str, Any]]] = field(default_factory=dict)
    gold: int = 0
    has_text: bool = False


def _merge_rows(a: GoldRowsState, b: GoldRowsState) -> GoldRowsState:
    rows = {k: list(v) for k, v in a.rows.items()}
    for k, v in b.rows.items():
        rows.setdefault(k, []).extend(v)
    return GoldRowsState(annotators=a.annotators | b.annotators, rows=rows, gold=a.gold + b.gold,
                         has_text=a.has_text or b.has_text)


class GoldCocoSection:
    """``gold.coco.<label set>``: each annotator's COCO AP / AR on the gold items they labelled
    (:func:`~accord.core.qa.annotator_eval.annotators_vs_gold_coco`). :meth:`add` matches each gold
    image (:func:`~accord.core.qa.model_eval.region_image`, item-local); :meth:`finish` runs
    :func:`~accord.core.qa.model_eval.regions_of` over each annotator's images in item-id order.
    State: one :class:`~accord.core.qa.model_eval.RegionImage` (counts and COCO rows of the gold
    item's regions) per annotator and gold item."""

    stage = 0

    def __init__(self, label_set: str) -> None:
        self.label_set = label_set
        self.name = f"gold_coco:{label_set}"

    def create(self, ctx: Context) -> GoldRowsState:
        return GoldRowsState()

    def add(self, state: GoldRowsState, part: Dataset, ctx: Context) -> GoldRowsState:
        from ..qa.gold import reference_by_item
        from ..qa.model_eval import region_image

        gold = reference_by_item(part, self.label_set)
        human = part.grouped_view(self.label_set, source="human")
        out = GoldRowsState(annotators=set(part.annotators()), gold=len(gold))
        for item, ref in gold.items():
            for ann, cand in human.get(item, {}).items():
                out.rows.setdefault(ann, []).append((item, region_image(item, ref, cand)))
        return _merge_rows(state, out)

    def merge(self, a: GoldRowsState, b: GoldRowsState) -> GoldRowsState:
        return _merge_rows(a, b)

    def next_params(self, state: GoldRowsState, ctx: Context) -> None:
        return None

    def finish(self, state: GoldRowsState, ctx: Context) -> dict[str, dict[str, Any]]:
        from ..qa.model_eval import regions_of

        out: dict[str, dict[str, Any]] = {}
        if not state.gold:
            return out
        for ann in sorted(state.annotators):
            images = [im for _, im in sorted(state.rows.get(ann, []), key=lambda t: t[0])]
            if not images:
                continue
            ev = regions_of(images)
            row: dict[str, Any] = {"n_images": len(images)}
            if ev.coco is None:
                row["note"] = ev.coco_note
            else:
                row.update({k: (None if v is None else round(v, 6)) for k, v in ev.coco.items()})
            out[ann] = row
        return out


class GoldDerSection:
    """``gold.diarization.<label set>``: each annotator's corpus DER against gold speaker turns
    (:func:`~accord.core.qa.annotator_eval.annotators_vs_gold_der`). :meth:`add` scores each
    (annotator, gold item) (:func:`~accord.core.matching.segments.diarization_errors`, item-local);
    :meth:`finish` sums each annotator's in item-id order (the float sums of the one-process
    function). State: one :class:`~accord.core.matching.segments.DiarizationErrors` per annotator
    and gold item."""

    stage = 0

    def __init__(self, label_set: str) -> None:
        self.label_set = label_set
        self.name = f"gold_der:{label_set}"

    def create(self, ctx: Context) -> GoldRowsState:
        return GoldRowsState()

    def add(self, state: GoldRowsState, part: Dataset, ctx: Context) -> GoldRowsState:
        from ..matching.segments import diarization_errors
        from ..qa.annotator_eval import _turns
        from ..qa.gold import reference_by_item

        gold = {item: turns for item, recs in reference_by_item(part, self.label_set).items()
                if (turns := _turns(recs))}
        human = part.grouped_view(self.label_set, source="human")
        out = GoldRowsState(annotators=set(part.annotators()), gold=len(gold))
        for item, turns in gold.items():
            for ann, cand in human.get(item, {}).items():
                out.rows.setdefault(ann, []).append((item, diarization_errors(turns, _turns(cand))))
        return _merge_rows(state, out)

    def merge(self, a: GoldRowsState, b: GoldRowsState) -> GoldRowsState:
        return _merge_rows(a, b)

    def next_params(self, state: GoldRowsState, ctx: Context) -> None:
        return None

    def finish(self, state: GoldRowsState, ctx: Context) -> dict[str, dict[str, Any]]:
        from ..matching.segments import DiarizationErrors

        out: dict[str, dict[str, Any]] = {}
        if not state.gold:
            return out
        for ann in sorted(state.annotators):
            rows = sorted(state.rows.get(ann, []), key=lambda t: t[0])
            if not rows:
                continue
            total = DiarizationErrors(total=0.0, missed=0.0, false_alarm=0.0, confusion=0.0, correct=0.0, mapping=())
            for _, d in rows:
                total = total + d
            t = total.total

            def rate(x: float, t: float = t) -> float | None:
                return round(x / t, 6) if t > 0 else None

            out[ann] = {"n_items": len(rows), "der": rate(total.missed + total.false_alarm + total.confusion),
                        "missed": rate(total.missed), "false_alarm": rate(total.false_alarm),
                        "confusion": rate(total.confusion), "total": round(total.total, 6)}
        return out


class CpwerSection:
    """``agreement.<segment label set>.cpwer``
    (:func:`~accord.core.qa.cpwer.annotators_cpwer`): against gold where any item has gold speaker
    transcripts, else between annotators. Two passes: pass 1 only finds whether gold (and any
    speaker transcript) exists anywhere, so pass 2 (params ``"gold"`` or ``"each other"``) scores
    only the rows the result uses: per (annotator, gold item), or per (annotator pair, item), its
    integer word-error counts (:func:`~accord.core.qa.cpwer.cp_word_errors`, item-local), summed at
    finish. State: three integers per row."""

    stage = 0

    def __init__(self, label_set: str) -> None:
        self.label_set = label_set
        self.name = f"cpwer:{label_set}"

    def create(self, ctx: Context) -> GoldRowsState:
        return GoldRowsState()

    def add(self, state: GoldRowsState, part: Dataset, ctx: Context) -> GoldRowsState:
        from ..qa.cpwer import _by_item, cp_word_errors
        from ..qa.gold import reference_by_item

        human = part.grouped_view(self.label_set, source="human")
        texts = {item: {a: _by_item(rs) for a, rs in per.items()} for item, per in human.items()}
        gold = {item: t for item, recs in reference_by_item(part, self.label_set).items() if (t := _by_item(recs))}
        out = GoldRowsState(annotators=set(part.annotators()), gold=len(gold),
                            has_text=any(t for per in texts.values() for t in per.values()))
        if ctx.params == "gold":
            for item, ref in gold.items():
                for ann, cand in texts.get(item, {}).items():
                    e = cp_word_errors(ref, cand)
                    out.rows.setdefault(ann, []).append((item, (e.errors, e.n_reference, e.n_recordings)))
        elif ctx.params == "each other":
            for item, per in texts.items():
                anns = sorted(a for a, t in per.items() if t)
                for a_ix, a in enumerate(anns):
                    for b in anns[a_ix + 1:]:
                        e = cp_word_errors(per[a], per[b]) + cp_word_errors(per[b], per[a])
                        out.rows.setdefault((a, b), []).append((item, (e.errors, e.n_reference,
                                                                              e.n_recordings)))
        return _merge_rows(state, out)

    def merge(self, a: GoldRowsState, b: GoldRowsState) -> GoldRowsState:
        return _merge_rows(a, b)

    def next_params(self, state: GoldRowsState, ctx: Context) -> str | None:
        if ctx.params is not None or (not state.gold and not state.has_text):
            return None
        return "gold" if state.gold else "each other"

    def finish(self, state: GoldRowsState, ctx: Context) -> dict[str, Any] | None:
        if ctx.params is None:
            return None  # no speaker transcript anywhere
        method = ("cpWER (CHiME-6, Watanabe et al. 2020): each speaker's segments concatenated in time order, "
                  "speakers mapped one-to-one to minimise word errors (Hungarian method), unmatched speakers' "
                  "words all errors; errors over reference words")

        def sums(key: Hashable) -> tuple[int, int, int]:
            rows = state.rows.get(key, [])
            return (len(rows), sum(r[1][0] for r in rows), sum(r[1][1] for r in rows))

        rows: list[dict[str, Any]] = []
        anns = sorted(state.annotators)
        if ctx.params == "gold":
            for ann in anns:
                n, errors, n_ref = sums(ann)
                if n:
                    rows.append({"annotator_id": ann, "n_items": n, "errors": errors, "n_reference_words": n_ref,
                                 "cpwer": round(errors / n_ref, 6) if n_ref else None})
        else:
            for a_ix, a in enumerate(anns):
                for b in anns[a_ix + 1:]:
                    n, errors, n_ref = sums((a, b))
                    if n:
                        rows.append({"annotator_a": a, "annotator_b": b, "n_items": n, "errors": errors,
                                     "n_reference_words": n_ref, "cpwer": round(errors / n_ref, 6) if n_ref else None})
        rows.sort(key=lambda x: (-(x["cpwer"] if x["cpwer"] is not None else -1.0),
                                 x.get("annotator_id") or x.get("annotator_a", "")))
        return {"method": method, "against": ctx.params, "rows": rows}


def result_of(section: Any, runner: Any, ctx: Context) -> Any:
    """One section's result over ``runner``'s partitions."""
    return runner.run([section], ctx)[section.name]
