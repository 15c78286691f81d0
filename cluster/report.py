"""``accord report --dask``: the QA report with its parsing and every section on Dask workers.

What runs where:

1. **Map (workers)**: every partition (:mod:`.partitions`) is read on a worker, in parallel:
   parsing is the main cost at scale. Each returns a small summary (format, item ids, schema,
   the kind of its first record per label set).
2. **Overlap (client)**: partitions that share an item id (two exports of the same task) are
   joined into one *group*, merged on a worker the way :func:`accord.io.merge` merges files (in
   input order), so an item never spans two groups; item ids are namespaced by tool first,
   exactly as :func:`accord.io.load_dataset` does.
3. **Class agreement (workers)**: a cheap pass over the groups gathers the annotators, the
   labels seen and the items rated per nominal classification label set, so the categories
   and annotators are ordered exactly as the single-process report orders them; then
   :class:`~accord.core.report.classes.ClassAgreementSection` folds each group on a worker and
   the states are tree-merged (:func:`~accord.core.report.engine.run_sections` with a Dask
   :data:`~accord.core.report.engine.Folder`). The states are integer sums, so the merged
   result is bit for bit the single-process one.
4. **Dawid-Skene (workers, iterative)**: with ``consensus_method = "dawid_skene"`` each
   classification label set's judgments become columns once per group (kept on its worker),
   then every EM pass maps the E-step over them and merges the sums
   (:class:`~accord.core.report.truth.DawidSkeneSection`).
5. **The report (workers)**: the groups stay on the workers (``keep_groups``) and
   :func:`~accord.core.qa.report.build_report` runs with ``runner=run.runner(client)``: every
   section of the report (agreement of every kind with its per-item scores and intervals,
   gold, consensus of every method with ambiguity, region consensus and box truth, conflicts,
   label errors, model vs human, attributes, tracks, sampling, bias, checks, cost, totals)
   folds there (:class:`DaskFold`) and only merged states reach the client (``run.sections``
   lists them). Where a section's finish needs one-process order it sorts its rows by the
   dataset's item order.
6. **No records on the client** (``gather="auto"``, what ``accord report --dask`` uses): when
   every group is one partition whose records and first passes come item by item in its item
   order (checked on the workers, :func:`_item_major`; true of every export read from one file),
   sorting by item order *is* the one-process order, so the client builds only the dataset's
   :class:`~accord.core.model.DatasetOutline` from the partitions' summaries (item ids in order,
   label sets, kinds) and never gathers a record. Otherwise (inputs that share items, such as a
   gold reference or re-exports, or records that interleave items) the records are gathered and
   put back together file by file as before (``run.gathered``, ``run.gather_reason``); ``accord
   report --ledger`` gathers them too, since the ledger stores the dataset.

Steps 3 and 4 precompute what ``build_report`` would also fold through the runner (the nominal
coefficients and the Dawid-Skene fit); they are kept because their results are checked to fit.

**Partitions** (:func:`~.partitions.plan_partitions`): one per file; a Parquet file per run of
row groups; a Label Studio JSON export at least two targets big in byte ranges cut between
tasks (the target: about four ranges per worker over the inputs, 1-32 MiB,
:func:`balanced_target_bytes`; :mod:`.json_split` finds the top-level commas with numpy,
without parsing), each range read on its worker with the task numbering of the whole file, and
a task id in two ranges stopping the run with the whole-file reader's message.

The result equals the single-process report on the same inputs. Tasks are pure functions of
their partitions, so a worker lost mid-run only costs a recomputation (Dask reschedules its
tasks from their inputs). A partition that fails to parse stops the run with a one-line error
naming the file and the row groups or byte range; with ``skip_bad_partitions`` the run goes on without it and
the report says what was skipped (``cluster.skipped`` and the first headline).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from accord.core.errors import AccordError, ConversionError
from accord.core.model import Dataset, DatasetOutline, value_label
from accord.core.report.classes import ClassAgreementSection
from accord.core.report.engine import Context, Runner, run_sections
from accord.core.schema import Schema

from ._wire import enable_pickling
from .partitions import DEFAULT_TARGET_BYTES, DEFAULT_TARGET_ROWS, Loaded, Partition, load_partition, plan_partitions

__all__ = ["ClusterRun", "DaskFold", "SkippedPartition", "cluster_dataset", "cluster_report", "note_skipped"]

#: accord's own formats keep their item ids (never namespaced by tool), as in accord.io.
_ACCORD_FORMATS = frozenset({"jsonl", "parquet"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedPartition:
    """A partition left out with ``skip_bad_partitions``: where it is and why it failed."""

    where: str
    error: str


@dataclass(slots=True, kw_only=True)
class ClusterRun:
    """What a cluster run did, with its timings in seconds.

    Attributes:
        n_workers: Workers when the run started.
        n_partitions: Partitions planned; ``n_groups``: groups after joining overlaps.
        skipped: Partitions that failed and were skipped.
        sections: Section names computed on the workers.
        map_s: Reading every partition on the workers (the map stage).
        sections_s: The class-agreement passes (statistics, fold, merge).
        gather_s: Bringing the records to the client and merging them.
    """

    n_workers: int = 0
    n_partitions: int = 0
    n_groups: int = 0
    skipped: list[SkippedPartition] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    map_s: float = 0.0
    sections_s: float = 0.0
    gather_s: float = 0.0
    #: Whether the records came to the client (False: it holds the dataset's outline only).
    gathered: bool = True
    #: Why they did (None when they did not).
    gather_reason: str | None = None
    #: The groups of items held on the workers (futures of Datasets) when the run keeps them
    #: (``cluster_dataset(keep_groups=True)``) for the report's mergeable sections; see :meth:`runner`.
    groups: list[Any] = field(default_factory=list, repr=False)

    def runner(self, client: Any) -> Runner:
        """The report's :class:`~accord.core.report.engine.Runner` over the groups kept on the
        workers: ``build_report(..., runner=run.runner(client))`` folds every mergeable section
        there (each fold is recorded in :attr:`sections`). Call :meth:`release` afterwards."""
        return Runner(tuple(self.groups), DaskFold(client, record=self.sections))

    def release(self, client: Any) -> None:
        """Drop the groups kept on the workers (idempotent)."""
        if self.groups:
            client.cancel(self.groups)
            self.groups = []

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the report's ``cluster`` block)."""
        return {"n_workers": self.n_workers, "n_partitions": self.n_partitions, "n_groups": self.n_groups,
                "n_skipped": len(self.skipped),
                "skipped": [{"partition": s.where, "error": s.error} for s in self.skipped],
                "sections_on_workers": list(self.sections)}


# --------------------------------------------------------------------------- worker tasks


@dataclass(frozen=True, slots=True, kw_only=True)
class _Summary:
    fmt: str
    name: str
    schema: Schema
    item_ids: tuple[str, ...]
    first_kind: Mapping[str, tuple[int, str]]  # label set -> (seq of its first record, its kind)
    #: The place in the file's item list of each listed item (the first ``len(item_places)`` of
    #: ``item_ids``); the rest of ``item_ids`` are items of records only, whose first record's
    #: seq is in ``record_only_seq``: what the client needs to put the item order back together.
    item_places: tuple[int, ...] = ()
    record_only_seq: tuple[int, ...] = ()


def _summarize(loaded: Loaded) -> _Summary:
    enable_pickling()
    first: dict[str, tuple[int, str]] = {}
    first_seq: dict[str, int] = {}
    for s, r in zip(loaded.seq, loaded.records, strict=True):
        if r.label_set not in first or s < first[r.label_set][0]:
            first[r.label_set] = (s, r.kind)
        if r.item_id not in first_seq or s < first_seq[r.item_id]:
            first_seq[r.item_id] = s
    ids = loaded.item_ids()
    listed = dict.fromkeys(i.item_id for _, i in loaded.items)
    places: dict[str, int] = {}
    for k, it in loaded.items:
        places.setdefault(it.item_id, k)
    return _Summary(fmt=loaded.fmt, name=loaded.name, schema=loaded.schema, item_ids=tuple(ids), first_kind=first,
                    item_places=tuple(places[i] for i in listed),
                    record_only_seq=tuple(first_seq[i] for i in ids[len(listed):]))


def _group_dataset(members: Sequence[Loaded], prefixes: Sequence[str | None], schema: Schema) -> Dataset:
    """The partitions of one group as one dataset, merged as accord.io merges files, with the
    schema of the whole input (a label set's scope may come from another file's config)."""
    from dataclasses import replace

    from accord.io import merge, namespaced

    enable_pickling()
    parts = [namespaced(m.dataset(), p) if p else m.dataset() for m, p in zip(members, prefixes, strict=True)]
    io_log = logging.getLogger("accord.io")
    level = io_log.level
    io_log.setLevel(logging.ERROR)  # merge's warnings about clashing items are the client's to give, once
    try:
        merged = merge(parts) if len(parts) > 1 else parts[0]
    finally:
        io_log.setLevel(level)
    return replace(merged, schema=schema)


@dataclass(frozen=True, slots=True, kw_only=True)
class _SetStats:
    observed: frozenset[str]
    n_items: int
    max_ratings: int


def _group_stats(ds: Dataset, label_sets: Sequence[str]) -> tuple[tuple[str, ...], dict[str, _SetStats]]:
    """The group's human annotators, and per label set what the report needs before folding: the
    labels of each annotator's first record per item, items with a rating, most ratings per item."""
    out: dict[str, _SetStats] = {}
    for name in label_sets:
        observed: set[str] = set()
        n_items = max_r = 0
        for per in ds.grouped(name, source="human").values():
            r = rated = 0
            for rs in per.values():
                if rs:
                    rated = 1
                    lab = value_label(rs[0].value)
                    if lab is not None:
                        observed.add(lab)
                        r += 1
            n_items += rated
            max_r = max(max_r, r)
        out[name] = _SetStats(observed=frozenset(observed), n_items=n_items, max_ratings=max_r)
    return ds.annotators(), out


def _item_major(ds: Dataset) -> tuple[bool, str | None, str | None]:
    """Whether a group's data come item by item in its item order, and its first and last
    *active* item (one with records or with a human pass that was not skipped).

    True when each item's records are one run, the runs follow the item order, and every label
    set's human grouping (first passes first) follows it too: then sorting any section's rows by
    item order gives the one-process order, and the client needs no record to know it. Exports
    read from one file are like this; a dataset whose records interleave items is not (the
    client then gathers the records, as before). Computing the groupings here warms the group's
    cache for the sections that fold next."""
    enable_pickling()
    rank = {item: k for k, item in enumerate(ds.items)}
    last = -1
    prev: str | None = None
    seen: set[str] = set()
    for r in ds.records:
        item = r.item_id
        if item == prev:
            continue
        k = rank[item]
        if item in seen or k < last:
            return False, None, None
        seen.add(item)
        last, prev = k, item
    active = set(seen)
    for name in ds.label_sets:
        last = -1
        for item in ds.grouped_view(name, source="human"):
            k = rank[item]
            if k < last:
                return False, None, None
            last = k
            active.add(item)
    if not active:
        return True, None, None
    ordered = sorted(active, key=rank.__getitem__)
    return True, ordered[0], ordered[-1]


def _records_can_stay(parts: Sequence[Partition], summaries: Mapping[int, _Summary], groups: Sequence[Sequence[int]],
                      checks: Sequence[tuple[bool, str | None, str | None]], prefixes: Mapping[int, str | None]
                      ) -> str | None:
    """None when the report can be built from the outline (no record to the client); else why not.

    Needs every group to be one partition (no item shared between inputs), each item-major
    (:func:`_item_major`), and a file's partitions to hold its active items in file order."""
    if any(len(g) != 1 for g in groups):
        return "some inputs share items (their partitions were joined)"
    if not all(ok for ok, _, _ in checks):
        return "some records or passes interleave items"
    spans: dict[int, list[tuple[int, int, int]]] = {}
    for g, (_, first, last) in zip(groups, checks, strict=True):
        k = g[0]
        if first is None or last is None:
            continue
        s = summaries[k]
        ids = [f"{prefixes[k]}:{i}" for i in s.item_ids] if prefixes[k] else s.item_ids  # as the group names them
        place = dict(zip(ids, s.item_places, strict=False))
        if first not in place or last not in place:
            return "an item of records only (no item entry) in a partition"
        spans.setdefault(parts[k].file_index, []).append((k, place[first], place[last]))
    for runs in spans.values():
        runs.sort()
        if any(a[2] >= b[1] for a, b in itertools.pairwise(runs)):
            return "a file's partitions interleave their items"
    return None


def _truth_stats(ds: Dataset, label_sets: Sequence[str]) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per label set, the labels (as text) and the annotators of the group's human judgments:
    what a Dawid-Skene section must know of the whole label set before its first pass."""
    from accord.core.report.truth import judgment_rows

    enable_pickling()
    out: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for name in label_sets:
        rows = judgment_rows(ds, name)
        out[name] = (frozenset(lab for _, _, lab in rows), frozenset(a for _, a, _ in rows))
    return out


def _truth_columns(ds: Dataset, section: Any) -> Any:
    enable_pickling()
    return section.columns(ds)


def _fold_one(part: Any, section: Any, ctx: Context) -> Any:
    return section.add(section.create(ctx), part, ctx)


def _merge_two(section: Any, a: Any, b: Any) -> Any:
    return section.merge(a, b)


class DaskFold:
    """A :data:`~accord.core.report.engine.Folder` on a Dask client: ``add`` maps over the
    partitions (futures of Datasets, on the workers) and the states are merged as a binary tree
    on the workers; only the merged state comes back."""

    def __init__(self, client: Any, *, record: list[str] | None = None) -> None:
        self.client = client
        self.record = record  # section names folded here, in order (once each)

    def __call__(self, section: Any, ctx: Context, partitions: Sequence[Any]) -> Any:
        if self.record is not None and section.name not in self.record:
            self.record.append(section.name)
        if not partitions:
            return section.create(ctx)
        level = list(self.client.map(_fold_one, list(partitions), section=section, ctx=ctx.for_workers(),
                                     pure=False))
        while len(level) > 1:
            pairs = zip(level[0::2], level[1::2], strict=False)  # an odd one out waits for the next level
            nxt = [self.client.submit(_merge_two, section, a, b, pure=False) for a, b in pairs]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        return level[0].result()


# --------------------------------------------------------------------------- the client side


def _one_line(part: Partition, e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    if not isinstance(e, AccordError):
        text = f"{type(e).__name__}: {text}"
    return text if text.startswith(part.where) else f"{part.where}: {text}"


def _load_all(client: Any, parts: Sequence[Partition], *, skip_bad: bool, run: ClusterRun,
              bar: Callable[[Iterable[Any], int], Iterable[Any]]) -> tuple[dict[int, Any], dict[int, _Summary]]:
    """Map :func:`load_partition` over the workers; ``(load futures, summaries)`` of the good ones."""
    from distributed import as_completed

    loads = client.map(load_partition, list(parts), pure=False)
    summaries = client.map(_summarize, loads, pure=False)
    index = {f.key: k for k, f in enumerate(summaries)}
    good: dict[int, _Summary] = {}
    failed: dict[int, str] = {}
    for fut in bar(as_completed(summaries), len(parts)):  # type: ignore[no-untyped-call]
        k = index[fut.key]
        if fut.status == "error":
            failed[k] = _one_line(parts[k], fut.exception())
            if not skip_bad:
                client.cancel(loads + summaries)
                raise ConversionError(f"{failed[k]} (pass --skip-bad-partitions to go on without it)")
        else:
            good[k] = fut.result()
    run.skipped = [SkippedPartition(where=parts[k].where, error=failed[k]) for k in sorted(failed)]
    for k in failed:
        loads[k].release()
    return {k: loads[k] for k in good}, good


def _groups(item_ids: Mapping[int, Sequence[str]]) -> list[list[int]]:
    """Partitions joined when they share an item (union-find), each group in input order."""
    parent = {k: k for k in item_ids}

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    owner: dict[str, int] = {}
    for k in sorted(item_ids):
        for i in item_ids[k]:
            o = owner.setdefault(i, k)
            if o != k:
                a, b = root(o), root(k)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for k in sorted(item_ids):
        groups.setdefault(root(k), []).append(k)
    return [groups[r] for r in sorted(groups)]


def _assemble(parts: Sequence[Partition], loaded: Mapping[int, Loaded], prefixes: Mapping[int, str | None],
              n_inputs: int) -> Dataset:
    """The dataset ``accord.io.load_dataset`` reads from the same files: each file put back in its
    order (a Parquet file's records by ``seq``, its items and submissions by their place), item
    ids namespaced as there, then merged."""
    from accord.io import merge, namespaced

    by_file: dict[int, list[Loaded]] = {}
    for k in sorted(loaded):
        by_file.setdefault(parts[k].file_index, []).append(loaded[k])
    files: list[Dataset] = []
    for fi in sorted(by_file):
        got = by_file[fi]
        first = got[0]
        if len(got) == 1 and first.partition.kind == "file":
            ds = first.dataset()
        else:
            numbered = sorted(((s, r) for g in got for s, r in zip(g.seq, g.records, strict=True)),
                              key=lambda p: p[0])
            items = sorted((p for g in got for p in g.items), key=lambda p: p[0])
            subs = sorted((p for g in got for p in g.submissions), key=lambda p: p[0])
            ds = Dataset(records=tuple(r for _, r in numbered), schema=first.schema,
                         items={i.item_id: i for _, i in items}, submissions=tuple(s for _, s in subs),
                         name=first.name)
        prefix = prefixes[first.partition.index]
        files.append(namespaced(ds, prefix) if prefix else ds)
    if not files:
        raise ConversionError("every partition failed to load; nothing to report on", field="paths")
    return merge(files, name=files[0].name if n_inputs == 1 else "merged")


def _outline(parts: Sequence[Partition], summaries: Mapping[int, _Summary], prefixes: Mapping[int, str | None],
             n_inputs: int, schema: Schema, first: Mapping[str, tuple[int, int, str]]) -> DatasetOutline:
    """The outline of the dataset :func:`_assemble` would build, from the partitions' summaries
    alone (no record reaches the client): items in the order the files and ``accord.io.merge``
    give them, the label sets and each one's first kind."""
    by_file: dict[int, list[int]] = {}
    for k in sorted(summaries):
        by_file.setdefault(parts[k].file_index, []).append(k)
    merged: dict[str, None] = {}
    names: list[str] = []
    for fi in sorted(by_file):
        ks = by_file[fi]
        head = summaries[ks[0]]
        names.append(head.name)
        if len(ks) == 1 and parts[ks[0]].kind == "file":
            ids = list(head.item_ids)
        else:  # as _assemble: listed items by their place, then record-only items by first record
            listed = sorted((p, i) for k in ks for p, i in zip(summaries[k].item_places, summaries[k].item_ids,
                                                                  strict=False))
            ids = list(dict.fromkeys(i for _, i in listed))
            seen = set(ids)
            extra = sorted((q, i) for k in ks for q, i in zip(
                summaries[k].record_only_seq, summaries[k].item_ids[len(summaries[k].item_places):], strict=True))
            for _, i in extra:
                if i not in seen:
                    seen.add(i)
                    ids.append(i)
        prefix = prefixes[ks[0]]
        merged.update(dict.fromkeys(f"{prefix}:{i}" for i in ids) if prefix else dict.fromkeys(ids))
    if not names:
        raise ConversionError("every partition failed to load; nothing to report on", field="paths")
    ordered = sorted(first, key=lambda n: first[n][:2])
    label_sets = (*schema.label_sets, *(n for n in ordered if n not in schema.label_sets))
    return DatasetOutline(name=names[0] if n_inputs == 1 else "merged", schema=schema, item_ids=tuple(merged),
                          label_sets=label_sets, first_kinds={n: first[n][2] for n in ordered})


def _no_task_twice(parts: Sequence[Partition], summaries: Mapping[int, _Summary]) -> None:
    """A task id in two byte ranges of one export stops the run, as the whole-file reader stops
    (each range has already checked its own tasks); the message names both tasks."""
    seen: dict[tuple[int, str], int] = {}
    for k in sorted(summaries):
        part = parts[k]
        if part.kind != "json-range":
            continue
        for n, item in enumerate(summaries[k].item_ids, start=part.first_task):
            was = seen.setdefault((part.file_index, item), n)
            if was != n:
                inner = ConversionError(
                    f"task id {item} appears twice in this export (tasks #{was} and #{n}), so two "
                    "different tasks would merge into one item; export each project to its own file, or give the "
                    "tasks unique ids", item_id=item, field="id")
                raise ConversionError.reworded(f"{part.path}: {inner}", inner)  # as accord.io names a file's error


def _default_bar(it: Iterable[Any], total: int) -> Iterable[Any]:
    from accord.progress import progress

    bar: Iterable[Any] = progress(it, desc="partitions", total=total)
    return bar


#: The smallest byte range :func:`balanced_target_bytes` asks for.
MIN_TARGET_BYTES = 1 << 20


def balanced_target_bytes(inputs: Sequence[Path | str], n_workers: int) -> int:
    """Bytes per range of a big Label Studio export, for ``n_workers``: about four ranges per
    worker over all the inputs, at most :data:`~.partitions.DEFAULT_TARGET_BYTES` (32 MiB, which
    bounds a worker's memory) and at least 1 MiB. A 100 MiB export on 2 workers gives 8 ranges
    of 12.5 MiB (with the 32 MiB default alone it would be 3, one worker idle half the time);
    8 shards of 48 MiB stay 8 partitions."""
    from .partitions import _size, _source

    total = 0
    for p in inputs:
        try:
            total += _size(_source(p))
        except (OSError, AccordError):
            continue  # the planner reports a file it cannot read
    want = total // max(4 * max(n_workers, 1), 1)
    return int(min(DEFAULT_TARGET_BYTES, max(MIN_TARGET_BYTES, want)))


def balanced_target_rows(inputs: Sequence[Path | str], n_workers: int, *, format: str = "auto") -> int:
    """Records per Parquet partition for ``n_workers``: about four partitions per worker over the
    inputs' row groups, at most :data:`~.partitions.DEFAULT_TARGET_ROWS` (65,536). Row groups are
    the smallest unit: a file of two row groups stays two partitions (``accord convert
    --row-group-size`` writes smaller ones). A 100k-record file of 16,384-record groups on 2
    workers gives 7 partitions of one group, not 2 of 65,536 records and one worker idle."""
    from .partitions import _row_group_sizes, _source

    total = 0
    for p in inputs:
        try:
            sized = _row_group_sizes(_source(p), format)
            total += sum(sized[0]) if sized else 0
        except (OSError, AccordError):
            continue  # the planner reports a file it cannot read
    if total == 0:
        return DEFAULT_TARGET_ROWS
    return int(min(DEFAULT_TARGET_ROWS, max(1, total // max(4 * max(n_workers, 1), 1))))


def _dawid_skene(client: Any, group_futs: Sequence[Any], label_sets: Sequence[str], cfg: Any, seed: int,
                 schema: Schema) -> dict[str, Any]:
    """Dawid-Skene of each classification label set as map-reduce rounds: each group's judgments
    become columns once (kept on its worker), then every EM pass maps the E-step over them and
    merges the sums (:class:`~accord.core.report.truth.DawidSkeneSection`)."""
    from accord.core.report.truth import DawidSkeneSection

    stats = client.gather(client.map(_truth_stats, list(group_futs), label_sets=list(label_sets), pure=False))
    ctx = Context(config=cfg, seed=seed, schema=schema)
    out: dict[str, Any] = {}
    for name in label_sets:
        labels = sorted(set().union(*(st[name][0] for st in stats)))
        annotators = sorted(set().union(*(st[name][1] for st in stats)))
        if not labels or not annotators:
            continue
        section = DawidSkeneSection(name, labels, annotators)
        cols = client.map(_truth_columns, list(group_futs), section=section, pure=False)
        try:
            out.update(run_sections([section], cols, ctx, fold=DaskFold(client)))
        finally:
            client.cancel(cols)
    return out


def cluster_dataset(client: Any, inputs: Sequence[Path | str], *, format: str = "auto",
                    label_config: Path | str | None = None, meta_keys: Sequence[str] = (),
                    reference: Path | str | None = None, join_items: bool = False, config: Any = None,
                    seed: int = 0, skip_bad_partitions: bool = False, target_rows: int | None = None,
                    target_bytes: int | None = None,
                    bar: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
                    keep_groups: bool = False, gather: bool | Literal["auto"] = True
                    ) -> tuple[Any, dict[str, Any], ClusterRun]:
    """Read ``inputs`` on the cluster and compute the mergeable sections there.

    With ``keep_groups`` the groups of items stay on the workers (``run.groups``) so that
    ``build_report(..., runner=run.runner(client))`` folds the report's other mergeable
    sections there too; call ``run.release(client)`` when the report is built. With
    ``gather="auto"`` (needs ``keep_groups``) no record comes to the client when none needs to:
    it gets the dataset's :class:`~accord.core.model.DatasetOutline` instead of the dataset,
    which ``build_report(outline, runner=run.runner(client))`` reads. That is when every group
    is one partition whose data come item by item (:func:`_item_major`, checked on the
    workers); otherwise the records are gathered (``run.gathered``, ``run.gather_reason``).
    ``gather=False`` insists (a :class:`ConversionError` saying why it cannot).

    Returns:
        The merged dataset (what :func:`accord.io.load_dataset` returns for the same arguments;
        its outline with ``gather=False``), the sections' results for
        :func:`~accord.core.qa.report.build_report`'s ``sections``, and what the run did.

    Raises:
        ConversionError: a partition failed to parse (without ``skip_bad_partitions``), or all did.
    """
    from accord.core.qa.report import _SECTION_PAIR_CELLS, ReportConfig, _boot_cfg

    if gather is not True and not keep_groups:
        raise ValueError("cluster_dataset(gather=False or 'auto') needs keep_groups=True: the records stay in the "
                         "groups")
    enable_pickling()
    cfg = config or ReportConfig()
    run = ClusterRun(n_workers=len((client.scheduler_info() or {}).get("workers") or {}))
    refs = [] if reference is None else [reference]
    if target_bytes is None:
        target_bytes = balanced_target_bytes(inputs, run.n_workers)
    if target_rows is None:
        target_rows = balanced_target_rows(inputs, run.n_workers, format=format)
    parts = plan_partitions(list(inputs), format=format, label_config=label_config, meta_keys=meta_keys,
                            references=refs, target_rows=target_rows, target_bytes=target_bytes)
    run.n_partitions = len(parts)
    t0 = time.perf_counter()
    loads, summaries = _load_all(client, parts, skip_bad=skip_bad_partitions, run=run, bar=bar or _default_bar)
    run.map_s = time.perf_counter() - t0
    if not summaries:
        raise ConversionError("every partition failed to load: " + "; ".join(s.error for s in run.skipped[:3]),
                              field="paths")
    _no_task_twice(parts, summaries)
    t1 = time.perf_counter()
    # Namespacing and the schema, exactly as accord.io.load_dataset decides them (file by file).
    file_fmt: dict[int, str] = {}
    file_schema: dict[int, Schema] = {}
    for k in sorted(summaries):
        file_fmt.setdefault(parts[k].file_index, summaries[k].fmt)
        file_schema.setdefault(parts[k].file_index, summaries[k].schema)
    tools = set(file_fmt.values()) - _ACCORD_FORMATS
    spaced = len(tools) > 1 and not join_items
    prefixes = {k: (summaries[k].fmt if spaced and summaries[k].fmt not in _ACCORD_FORMATS else None)
                for k in summaries}
    schema = Schema()
    for fi in sorted(file_schema):
        schema = schema.merged(file_schema[fi])
    ids = {k: [f"{prefixes[k]}:{i}" for i in s.item_ids] if prefixes[k] else s.item_ids for k, s in summaries.items()}
    groups = _groups(ids)
    run.n_groups = len(groups)
    # Nominal classification label sets: the kind as the report reads it (schema, else first record).
    first: dict[str, tuple[int, int, str]] = {}
    for k, s in summaries.items():
        for name, (seq, kind) in s.first_kind.items():
            cand = (parts[k].file_index, seq, kind)
            if name not in first or cand < first[name]:
                first[name] = cand
    nominal = []
    classification = []
    for name in [*schema.label_sets, *sorted(set(first) - set(schema.label_sets))]:
        ls = schema.label_sets.get(name)
        kind = ls.kind if ls else first.get(name, (0, 0, ""))[2]
        if kind == "classification" and name in first:
            classification.append(name)
            if (ls.scale if ls else "nominal") == "nominal":
                nominal.append(name)
    group_futs = [client.submit(_group_dataset, [loads[k] for k in g], [prefixes[k] for k in g], schema, pure=False)
                  for g in groups]
    results: dict[str, Any] = {}
    if nominal:
        stats = client.gather(client.map(_group_stats, group_futs, label_sets=nominal, pure=False))
        annotators = tuple(sorted({a for anns, _ in stats for a in anns}))
        sections = []
        for name in nominal:
            per = [st[name] for _, st in stats]
            n_items = sum(p.n_items for p in per)
            if len(annotators) < 2 or n_items == 0:
                continue
            ls = schema.label_sets.get(name)
            declared = list(ls.labels) if ls and ls.labels else []
            cats = sorted(set(declared).union(*(p.observed for p in per)))
            if (len(annotators) * len(cats)) ** 2 > _SECTION_PAIR_CELLS:
                continue  # the report takes its per-coefficient path for this one
            width = max(max(p.max_ratings for p in per), 2)
            bcfg = _boot_cfg(cfg, n_items * width)
            sections.append(ClassAgreementSection(name, cats, annotators, bcfg.n_bootstrap))
        ctx = Context(config=cfg, seed=seed, schema=schema)
        results = run_sections(sections, group_futs, ctx, fold=DaskFold(client))
    if classification and cfg.consensus_method == "dawid_skene":
        results.update(_dawid_skene(client, group_futs, classification, cfg, seed, schema))
    run.sections = sorted(results)
    stay_reason: str | None = "gather=True"
    if gather is not True:
        checks = client.gather(client.map(_item_major, group_futs, pure=False))
        stay_reason = _records_can_stay(parts, summaries, groups, checks, prefixes)
        if stay_reason is not None and gather is False:
            raise ConversionError(f"the records cannot stay on the workers: {stay_reason}; build the report with "
                                  "the records gathered (gather='auto')", field="gather")
    run.gathered = stay_reason is not None
    run.gather_reason = stay_reason
    if keep_groups:
        run.groups = list(group_futs)
    else:
        client.cancel(group_futs)
    run.sections_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    if not run.gathered:  # the records stay on the workers; the client gets the outline only
        outline = _outline(parts, summaries, prefixes, len(inputs), schema, first)
        loads = {}  # (cancelling would cancel the kept groups built from them: only let them go)
        run.gather_s = time.perf_counter() - t2
        return outline, results, run
    keys = sorted(loads)
    gathered = client.gather([loads[k] for k in keys])
    if keep_groups:  # cancelling would cancel the groups built from them too: only let them go
        loads = {}
    else:
        client.cancel(list(loads.values()))
    dataset = _assemble(parts, dict(zip(keys, gathered, strict=True)), prefixes, len(inputs))
    run.gather_s = time.perf_counter() - t2
    return dataset, results, run


def cluster_report(client: Any, inputs: Sequence[Path | str], *, format: str = "auto",
                   label_config: Path | str | None = None, meta_keys: Sequence[str] = (),
                   reference: Path | str | None = None, join_items: bool = False, config: Any = None,
                   seed: int = 0, skip_bad_partitions: bool = False, target_rows: int | None = None,
                   target_bytes: int | None = None,
                   bar: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
                   gather: bool | Literal["auto"] = "auto",
                   **report_options: Any) -> tuple[Any, Dataset | DatasetOutline, ClusterRun]:
    """The QA report of ``inputs`` with every section folded on the cluster (see the module
    docstring); ``report_options`` go to :func:`~accord.core.qa.report.build_report`.

    Returns:
        ``(report, dataset, run)``: the report equals the single-process report on the same
        inputs; when partitions were skipped it gains a ``cluster`` block saying which, and a
        first headline line. ``dataset`` is the merged dataset when the records were gathered
        (``gather=True``, or ``"auto"`` when they had to be: ``run.gather_reason``), else its
        :class:`~accord.core.model.DatasetOutline`.
    """
    from accord.core.qa.report import build_report

    dataset, sections, run = cluster_dataset(
        client, inputs, format=format, label_config=label_config, meta_keys=meta_keys, reference=reference,
        join_items=join_items, config=config, seed=seed, skip_bad_partitions=skip_bad_partitions,
        target_rows=target_rows, target_bytes=target_bytes, bar=bar, keep_groups=True, gather=gather)
    try:
        report = build_report(dataset, config=config, seed=seed, sections=sections, runner=run.runner(client),
                              **report_options)
    finally:
        run.release(client)
    note_skipped(report, run)
    return report, dataset, run


def note_skipped(report: dict[str, Any], run: ClusterRun) -> None:
    """When partitions were skipped: a ``cluster`` block listing them, and a first headline line."""
    if not run.skipped:
        return
    report["cluster"] = run.to_dict()
    first = run.skipped[0].where
    more = f" and {len(run.skipped) - 1} more" if len(run.skipped) > 1 else ""
    report["summary"]["headline"] = [
        f"{len(run.skipped)} input partition(s) failed to parse and were left out of this report ({first}{more}); "
        "see cluster.skipped, fix or re-export them and run again", *report["summary"]["headline"]]
