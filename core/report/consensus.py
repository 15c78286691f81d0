"""Class and multi-label consensus as mergeable sections (issue #16).

:class:`ClassConsensusSection` gives the report's consensus block of one classification label
set under every ``consensus_method`` (majority vote, Dawid-Skene, one-coin, GLAD, MACE, Wawa,
zero-based skill), with the item-bootstrap skill intervals and the ambiguity block;
:class:`MultilabelConsensusSection` the binary-relevance block of a multi-select label set.

**The state is O(judgments)**, as compact integer columns: each partition's judgments
(``(item, annotator, label)``, as :func:`~.truth.judgment_rows` reads them) interned per
partition into small string tables and ``int32`` codes; merging concatenates the chunks. That
is the honest size: the EM fits (Dawid-Skene, one-coin, GLAD, MACE) read every judgment on
every iteration, and the skill intervals refit the model on item resamples of all of them, so
no sum over items summarizes them (Dawid-Skene's own map-reduce EM is
:class:`~.truth.DawidSkeneSection`; the report uses its fit when a Dask run gives it).

``finish`` puts the judgments back in the order the single-process report reads them and runs
the report's own computation on them, so every figure is the one-partition figure. The order
matters: the fits sum floats in judgment order, and EM iterations and bootstrap refits can
carry a last-bit difference into a reported digit. It is restored so:
each chunk keeps its partition's record order; chunks are interleaved as a merge of the
chunks by item position (``ctx.order``) would interleave them, i.e. a stable sort by the
running maximum of the item positions along each chunk. One partition keeps its record order
exactly; any split gives the dataset's record order whenever its records come item by item in
item order (the Label Studio exports and crowd files of the tests do); a dataset whose records
interleave items is reproduced up to the order of floating-point additions (a split may then
change a figure's last digits).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..model import Dataset, MultiLabel, value_label
from .engine import Context, order_of
from .truth import judgment_rows

if TYPE_CHECKING:
    from ..qa.ambiguity import Ambiguity

__all__ = ["ClassConsensusResult", "ClassConsensusSection", "ConsensusState", "JudgmentChunk",
           "MultilabelConsensusSection", "restore_order"]

IntArray = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgmentChunk:
    """One partition's rows of one label set, interned (whole items; rows in record order).

    Attributes:
        item_ids / annotators / labels: The partition's strings, first-seen order.
        item / annotator: One entry per row: index into ``item_ids`` / ``annotators``.
        label: Class consensus: one label code per row (into ``labels``).
        chosen: Multi-label consensus: the label codes each row chose (empty: none).
    """

    item_ids: tuple[str, ...]
    annotators: tuple[str, ...]
    labels: tuple[str, ...]
    item: IntArray
    annotator: IntArray
    label: IntArray | None = None
    chosen: tuple[tuple[int, ...], ...] | None = None

    @property
    def n_rows(self) -> int:
        """Rows (judgments or submissions) in the chunk."""
        return int(self.item.size)


@dataclass(frozen=True, slots=True)
class ConsensusState:
    """The chunks folded so far (merge concatenates them)."""

    chunks: tuple[JudgmentChunk, ...] = ()


def _interned(values: Iterable[str]) -> tuple[tuple[str, ...], IntArray]:
    index: dict[str, int] = {}
    codes = [index.setdefault(v, len(index)) for v in values]
    return tuple(index), np.asarray(codes, dtype=np.int32)


def restore_order(chunks: Sequence[JudgmentChunk], ctx: Context) -> npt.NDArray[np.intp]:
    """The permutation of the chunks' concatenated rows into the single-process order.

    Each chunk's rows keep their order; the chunks are interleaved by the running maximum of
    their rows' item positions (``ctx.order``), which is what merging the chunks by item
    position gives: items never span chunks, so no two chunks share a key and the result does
    not depend on the order the chunks arrived in.
    """
    order = order_of(ctx, (i for c in chunks for i in c.item_ids))
    rank = order.rank()
    runs = []
    for c in chunks:
        pos = np.fromiter((rank[i] for i in c.item_ids), dtype=np.int64, count=len(c.item_ids))
        runs.append(np.maximum.accumulate(pos[c.item]) if c.n_rows else np.zeros(0, dtype=np.int64))
    key = np.concatenate(runs) if runs else np.zeros(0, dtype=np.int64)
    return np.argsort(key, kind="stable")


def _column(chunks: Sequence[JudgmentChunk], table: str, codes: str, perm: npt.NDArray[np.intp]) -> list[str]:
    parts = []
    for c in chunks:
        strings = np.empty(len(getattr(c, table)), dtype=object)
        strings[:] = list(getattr(c, table))
        parts.append(strings[getattr(c, codes)])
    out: list[str] = np.concatenate(parts)[perm].tolist()
    return out


class _ChunkSection:
    """create / merge / next_params shared by both consensus sections."""

    stage = 0

    def create(self, ctx: Context) -> ConsensusState:
        return ConsensusState()

    def merge(self, a: ConsensusState, b: ConsensusState) -> ConsensusState:
        return ConsensusState(a.chunks + b.chunks)

    def next_params(self, state: ConsensusState, ctx: Context) -> None:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassConsensusResult:
    """One classification label set's consensus, as the report uses it.

    Attributes:
        block: The report's ``consensus.<label set>`` block (empty without judgments).
        labels: Consensus label by item (items without one left out).
        ambiguity: Soft labels and difficulties (``None`` without judgments).
    """

    block: dict[str, Any]
    labels: dict[str, str]
    ambiguity: Ambiguity | None


class ClassConsensusSection(_ChunkSection):
    """Class consensus of one label set by ``ctx.config.consensus_method``, with skill intervals
    and ambiguity (see the module docstring); result: :class:`ClassConsensusResult`.

    ``ctx.options[name]`` may hold a Dawid-Skene fit made elsewhere (the map-reduce rounds of
    :class:`~.truth.DawidSkeneSection`), used instead of fitting here.
    """

    def __init__(self, label_set: str) -> None:
        self.label_set = label_set
        self.name = f"class_consensus:{label_set}"

    def add(self, state: ConsensusState, part: Dataset, ctx: Context) -> ConsensusState:
        rows = judgment_rows(part, self.label_set)
        if not rows:
            return state
        item_ids, item = _interned(r[0] for r in rows)
        annotators, annotator = _interned(r[1] for r in rows)
        labels, label = _interned(r[2] for r in rows)
        chunk = JudgmentChunk(item_ids=item_ids, annotators=annotators, labels=labels, item=item,
                              annotator=annotator, label=label)
        return ConsensusState((*state.chunks, chunk))

    def finish(self, state: ConsensusState, ctx: Context) -> ClassConsensusResult:
        from ..qa.report import _class_consensus_of

        chunks = [c for c in state.chunks if c.n_rows]
        if not chunks:
            return ClassConsensusResult(block={}, labels={}, ambiguity=None)
        perm = restore_order(chunks, ctx)
        block, labels, amb = _class_consensus_of(
            _column(chunks, "item_ids", "item", perm), _column(chunks, "annotators", "annotator", perm),
            _column(chunks, "labels", "label", perm), ctx.config, ctx.seed, pre=ctx.options.get(self.name))
        return ClassConsensusResult(block=block, labels=labels, ambiguity=amb)


class MultilabelConsensusSection(_ChunkSection):
    """Binary-relevance consensus of one multi-select label set (the report's block; ``{}``
    without submissions). One row per submission of the label set (``grouped_view``), with the
    union of its records' labels."""

    def __init__(self, label_set: str) -> None:
        self.label_set = label_set
        self.name = f"multilabel_consensus:{label_set}"

    def add(self, state: ConsensusState, part: Dataset, ctx: Context) -> ConsensusState:
        items: list[str] = []
        anns: list[str] = []
        sets: list[set[str]] = []
        for item, per in part.grouped_view(self.label_set, source="human").items():
            for a, rs in per.items():
                labs: set[str] = set()
                for r in rs:
                    v = r.value
                    labs |= set(v.labels) if isinstance(v, MultiLabel) else {str(value_label(v))}
                items.append(item)
                anns.append(a)
                sets.append(labs)
        if not items:
            return state
        item_ids, item_codes = _interned(items)
        annotators, annotator = _interned(anns)
        index: dict[str, int] = {}
        chosen = tuple(tuple(sorted(index.setdefault(x, len(index)) for x in s)) for s in sets)
        chunk = JudgmentChunk(item_ids=item_ids, annotators=annotators, labels=tuple(index), item=item_codes,
                              annotator=annotator, chosen=chosen)
        return ConsensusState((*state.chunks, chunk))

    def finish(self, state: ConsensusState, ctx: Context) -> dict[str, Any]:
        from ..qa.report import _multilabel_consensus_of

        chunks = [c for c in state.chunks if c.n_rows]
        if not chunks:
            return {}
        perm = restore_order(chunks, ctx)
        chosen: list[frozenset[str]] = []
        for c in chunks:
            chosen.extend(frozenset(c.labels[k] for k in codes) for codes in (c.chosen or ()))
        ls = ctx.schema.label_sets.get(self.label_set)
        return _multilabel_consensus_of(
            _column(chunks, "item_ids", "item", perm), _column(chunks, "annotators", "annotator", perm),
            [chosen[j] for j in perm.tolist()], labels=list(ls.labels) if ls and ls.labels else None,
            cfg=ctx.config)
