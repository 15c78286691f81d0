"""Mergeable report sections: the map / merge / finish contract every section follows.

A report is computed from *partitions* of a dataset: disjoint sets of whole items (an item
never spans two partitions). Each section folds partitions into a partial state, partial
states merge associatively, and ``finish`` turns the merged state into the section's typed
result (the CombineFn pattern of Beam and Spark aggregators)::

    state = section.create(ctx)
    for part in partitions:            # or one task per partition on a Dask worker
        state = section.merge(state, section.add(section.create(ctx), part, ctx))
    result = section.finish(state, ctx)

Rules every section keeps (tested on random splits, ``tests/test_report_engine.py``):

* ``finish(merge(a, b)) == finish(merge(b, a))`` and merge is associative: a result never
  depends on how items were split or in which order partial states arrived.
* Anything drawn at random is keyed by the item (:func:`item_keys`), never by the order items
  were seen: Poisson bootstrap weights (:func:`poisson_weights`) and priority samples.
* States are plain picklable data (dataclasses of numpy arrays, dicts, tuples): a Dask
  worker sends them to the scheduler.
* A state's size grows with what the result reports (per-item scores, counts, a bounded
  heap), never with the records themselves.

Sections run in *stages*: a section of stage k sees the finished results of every section of
an earlier stage in ``ctx.results`` (the cost forecast reads agreement; label errors read
consensus). An *iterative* section (Dawid-Skene's EM) answers :meth:`Section.next_params`
with new parameters until it converges; each answer costs one more pass over the
partitions, its E-step per partition and its M-step on the merged sufficient statistics.
Single-process is the same loop with one partition.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from ..model import Dataset
from ..schema import Schema

S = TypeVar("S")
R = TypeVar("R", covariant=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What a section may read besides its partition.

    Attributes:
        config: The report's options (a ``ReportConfig``; typed ``Any`` here to keep this
            module free of the config's imports).
        seed: The report's seed.
        schema: The labeling schema of the whole dataset.
        results: Finished results of the sections of earlier stages, by section name.
        params: An iterative section's parameters for this pass (``None`` on the first).
        options: Inputs that are not data: resolutions, a previous report, model
            probabilities, rules, cost config (by name).
        order: The whole dataset's item ids in its order (:class:`ItemOrder`), for a
            ``finish`` that must put per-item rows back in the order the single-process
            report reads them (an item bootstrap drawn over item positions, a first-seen
            order). Only ``finish`` may read it: a Dask run keeps it on the client
            (:meth:`for_workers`), so ``add`` and ``merge`` never depend on it.
    """

    config: Any
    seed: int
    schema: Schema
    results: Mapping[str, Any] = field(default_factory=dict)
    params: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)
    order: ItemOrder | None = None

    def for_workers(self) -> Context:
        """This context without :attr:`order` (the client's alone; it is O(items) to ship)."""
        return self if self.order is None else replace(self, order=None)


class ItemOrder:
    """Item ids in dataset order, with their positions computed once when first asked."""

    __slots__ = ("_rank", "ids")

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids: tuple[str, ...] = tuple(ids)
        self._rank: dict[str, int] | None = None

    def rank(self) -> dict[str, int]:
        """``{item_id: position}``."""
        if self._rank is None:
            self._rank = {item: k for k, item in enumerate(self.ids)}
        return self._rank

    def argsort(self, item_ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """The permutation that puts ``item_ids`` (each in this order, any arrangement) in
        dataset order: ``[item_ids[j] for j in order.argsort(item_ids)]`` is sorted by position.

        Raises:
            KeyError: an item id that is not in the order.
        """
        rank = self.rank()
        pos = np.fromiter((rank[i] for i in item_ids), dtype=np.int64, count=len(item_ids))
        return np.argsort(pos, kind="stable")


def order_of(ctx: Context, fallback: Iterable[str] = ()) -> ItemOrder:
    """``ctx.order``, else an order of ``fallback`` (a section finished without one, e.g. a
    test folding partitions by hand: the order the partitions' rows arrived in)."""
    return ctx.order if ctx.order is not None else ItemOrder(fallback)


class Section(Protocol[S, R]):
    """One mergeable report section (see the module docstring)."""

    name: str
    stage: int

    def create(self, ctx: Context) -> S:
        """The empty state (the identity of :meth:`merge`)."""

    def add(self, state: S, part: Dataset, ctx: Context) -> S:
        """Fold one partition (whole items) into ``state``; may return a new object."""

    def merge(self, a: S, b: S) -> S:
        """Combine two partial states (associative; order-independent after finish)."""

    def finish(self, state: S, ctx: Context) -> R:
        """The section's typed result from the merged state."""

    def next_params(self, state: S, ctx: Context) -> Any | None:
        """Parameters for one more pass, or ``None`` when done (non-iterative: always None)."""


#: How a runner folds partitions: ``(section, ctx, partitions) -> merged state``. The local
#: one loops; the Dask runner maps ``add`` over workers and tree-merges.
Folder = Callable[[Any, Context, Sequence[Any]], Any]


def local_fold(section: Any, ctx: Context, partitions: Sequence[Any]) -> Any:
    """Fold partitions in this process, merging as it goes (memory: one partition at a time)."""
    state = section.create(ctx)
    for part in partitions:
        data = part() if callable(part) else part
        state = section.merge(state, section.add(section.create(ctx), data, ctx))
    return state


def run_sections(sections: Iterable[Any], partitions: Sequence[Any], ctx: Context, *,
                 fold: Folder = local_fold, max_passes: int = 1000,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run sections stage by stage over ``partitions``; ``{name: result}``.

    ``partitions`` holds Datasets or zero-argument callables that load one (so a partition
    is read when it is folded, not all at once).
    """
    step = progress or (lambda _s: None)
    results: dict[str, Any] = dict(ctx.results)
    by_stage: dict[int, list[Any]] = {}
    for s in sections:
        by_stage.setdefault(s.stage, []).append(s)
    for stage in sorted(by_stage):
        for section in by_stage[stage]:
            step(section.name)
            sctx = replace(ctx, results=results, params=None)
            state = fold(section, sctx, partitions)
            for _ in range(max_passes):
                params = section.next_params(state, sctx)
                if params is None:
                    break
                sctx = replace(sctx, params=params)
                state = fold(section, sctx, partitions)
            results[section.name] = section.finish(state, sctx)
    return results


def split_items(ds: Dataset, parts: Sequence[int] | npt.NDArray[np.integer[Any]], n_parts: int | None = None
                ) -> list[Dataset]:
    """``ds`` cut into partitions of whole items: item ``j`` (in ``ds.items`` order) goes to
    partition ``parts[j]``. Each partition keeps its items' records and submissions (skips
    included) in their order in ``ds``, the whole schema and the name; empty partitions are
    kept (an empty Dataset), so ``len(result) == n_parts`` (default: ``max(parts) + 1``).

    Sections are tested on such splits: the merged result of any split equals the whole.
    """
    where = np.asarray(parts, dtype=np.int64)
    if where.shape != (len(ds.items),):
        raise ValueError(f"split_items: expected one partition number per item ({len(ds.items)}), got {where.shape}")
    n = int(n_parts if n_parts is not None else (int(where.max()) + 1 if where.size else 1))
    if where.size and (where.min() < 0 or where.max() >= n):
        raise ValueError(f"split_items: partition numbers must be in 0..{n - 1}")
    of = dict(zip(ds.items, where.tolist(), strict=True))
    records: list[list[Any]] = [[] for _ in range(n)]
    subs: list[list[Any]] = [[] for _ in range(n)]
    items: list[dict[str, Any]] = [{} for _ in range(n)]
    for item_id, item in ds.items.items():
        items[of[item_id]][item_id] = item
    for r in ds.records:
        records[of[r.item_id]].append(r)
    for s in ds.submissions:
        subs[of[s.item_id]].append(s)
    return [Dataset(records=tuple(records[k]), schema=ds.schema, items=items[k], submissions=tuple(subs[k]),
                    name=ds.name) for k in range(n)]


@dataclass(frozen=True, slots=True)
class Runner:
    """Where a report's mergeable sections run: the partitions and how they are folded.

    :func:`~accord.core.qa.report.build_report` runs every mergeable section through its
    runner; the default is one partition (the whole dataset) folded in this process. The Dask
    runner (:mod:`accord.cluster.report`) gives the groups of items held on its workers and a
    fold that maps ``add`` over them and merges the states there, so only merged states reach
    the client.
    """

    partitions: Sequence[Any]
    fold: Folder = local_fold

    def run(self, sections: Iterable[Any], ctx: Context, *, progress: Callable[[str], None] | None = None
            ) -> dict[str, Any]:
        """:func:`run_sections` of ``sections`` over this runner's partitions."""
        return run_sections(sections, self.partitions, ctx, fold=self.fold, progress=progress)


def json_float(v: Any, digits: int = 6) -> float | None:
    """A figure as the report's JSON carries it: rounded to ``digits``, ``None`` when missing
    or not finite (JSON has no NaN)."""
    if v is None:
        return None
    v = float(v)
    return round(v, digits) if math.isfinite(v) else None


def item_keys(item_ids: Sequence[str], seed: int) -> npt.NDArray[np.uint64]:
    """A 64-bit key per item from the seed and the item id alone (BLAKE2b): the same item
    gets the same key in every partitioning, so samples and bootstrap weights drawn from it
    do not depend on how the data was split."""
    salt = int(seed).to_bytes(8, "little", signed=True)
    blake = hashlib.blake2b
    digests = b"".join([blake(item.encode("utf-8"), digest_size=8, key=salt).digest() for item in item_ids])
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


# Poisson(1) CDF: P(X <= k), k = 0..11 (beyond 11 has probability < 1e-9; capped there).
_POISSON1_CDF = np.cumsum([np.exp(-1.0) / float(np.prod(np.arange(1, k + 1))) for k in range(12)])
# The same thresholds on the 64-bit hash: u = (z >> 11) / 2**53 >= cdf  <=>  z >= ceil(cdf * 2**53) << 11
# (cdf * 2**53 is exact in float64), so the weights need no float conversion at all.
_POISSON1_Z = np.array([int(np.ceil(c * 9007199254740992.0)) << 11 for c in _POISSON1_CDF], dtype=np.uint64)
_FNV = np.uint64(0x100000001B3)
#: Thresholds compared on every cell; the rest only where the weight reached this many.
_DENSE = 4
#: Cells (items x resamples) per block: the working set stays in cache.
_WEIGHT_BLOCK_CELLS = 1 << 16


def poisson_weights(keys: npt.NDArray[np.uint64], n_resamples: int) -> npt.NDArray[np.uint8]:
    """``(len(keys), n_resamples)`` Poisson(1) bootstrap weights, a pure function of each
    item's key and the resample index (Hanley & MacGibbon 2006; Chamandy et al. 2012, "Estimating
    uncertainty for massive data streams"): an item's weight in resample b is the same in every
    partition, so per-resample sums merge by addition.

    The weight is the number of Poisson(1) CDF thresholds at or below ``u``, the top 53 bits of
    ``splitmix64(key * FNV_prime + b)`` as a fraction (inverse-CDF sampling, capped at 12);
    computed in cache-sized blocks, comparing the hash itself against integer thresholds.
    """
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    n = keys.size
    out = np.empty((n, n_resamples), dtype=np.uint8)
    if n == 0 or n_resamples == 0:
        return out
    b = np.arange(n_resamples, dtype=np.uint64)
    rows = max(1, _WEIGHT_BLOCK_CELLS // n_resamples)
    z = np.empty((rows, n_resamples), dtype=np.uint64)
    t = np.empty((rows, n_resamples), dtype=np.uint64)
    hit = np.empty((rows, n_resamples), dtype=np.bool_)
    with np.errstate(over="ignore"):
        for lo in range(0, n, rows):
            m = min(rows, n - lo)
            zz, tt, hh, oo = z[:m], t[:m], hit[:m], out[lo:lo + m]
            np.multiply(keys[lo:lo + m, None], _FNV, out=zz)
            zz += b[None, :]
            zz += _GOLDEN  # splitmix64, in place
            np.right_shift(zz, np.uint64(30), out=tt)
            zz ^= tt
            zz *= _M1
            np.right_shift(zz, np.uint64(27), out=tt)
            zz ^= tt
            zz *= _M2
            np.right_shift(zz, np.uint64(31), out=tt)
            zz ^= tt
            np.greater_equal(zz, _POISSON1_Z[0], out=hh)
            oo[...] = hh
            for thr in _POISSON1_Z[1:_DENSE]:
                np.greater_equal(zz, thr, out=hh)
                oo += hh
            # Weights of _DENSE or more are rare (P = 0.019): the remaining thresholds only for those.
            flat_o = oo.reshape(-1)
            tail = np.flatnonzero(flat_o >= _DENSE)
            if tail.size:
                zt = zz.reshape(-1)[tail]
                flat_o[tail] += (zt[:, None] >= _POISSON1_Z[None, _DENSE:]).sum(axis=1, dtype=np.uint8)
    return out


def _poisson_weights_reference(keys: npt.NDArray[np.uint64], n_resamples: int) -> npt.NDArray[np.uint8]:
    """The plain definition of :func:`poisson_weights` (float ``u`` and ``searchsorted``), for tests."""
    b = np.arange(n_resamples, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = _splitmix(keys[:, None] * _FNV + b[None, :])
    u = (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return np.searchsorted(_POISSON1_CDF, u, side="right").astype(np.uint8)
