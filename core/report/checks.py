"""Rule-based checks as a mergeable section (:class:`ChecksSection`).

Most registered checks judge one record, one submission or the records of one item (schema,
geometry, text, audio, video frames and fragments, keypoints, cuboids below ground): a
partition holds whole items, so its findings are final and partitions' findings are
concatenated. Six checks compare against the whole dataset; the state carries what they need
and :meth:`ChecksSection.finish` runs the dataset-wide part:

* ``behaviour.too_fast``: each timed human submission's label type (read within its item),
  duration, item and annotator; the medians per label type are taken at finish.
* ``behaviour.straight_lining`` and ``behaviour.label_drift``: the human classification
  records as columns (label set, annotator, label, item, position, ``created_at``);
  finish runs the registered checks themselves on the merged columns
  (:meth:`~accord.core.checks.CheckContext.from_columns`).
* ``behaviour.rubber_stamping``: per annotator, ``[unchanged, judged]`` counts (summed).
* ``video.track_jump``: every step's speed (the median and MAD are of all steps) and the steps
  faster than ``min_speed`` (only those can exceed the limit, which is at least ``min_speed``).
* ``cuboid.implausible_size``: every cuboid's dimensions and ids (priors are per-class medians).

``geometry.near_duplicate`` is per item, but its ``duplicate_index`` evidence is the box's
position among all boxes of the dataset; the state keeps each item's box count to compute it.

**Order.** A partition cannot know the dataset's order of items, so wherever a result depends
on it the section uses the *canonical* order: items sorted by id, then the order of records
(or submissions) within the item, which a partition keeps. On a dataset already in that order
the result equals :func:`~accord.core.checks.run_checks`'s exactly; otherwise it equals
``run_checks`` on the dataset so reordered. What can differ from today's ``run_checks`` on a
dataset in another order: ``duplicate_index`` of near-duplicate boxes; the label
straight-lining reports when an annotator's top labels tie in count (the first used wins); the
order of label drift's values when some lack ``created_at`` (or tie in it); and the order among
findings equal in severity, check, item, region and annotator that come from different label
sets (annotator-level behaviour findings). The dataset-wide checks are known by name; every
other check (custom ones included) is taken as per item: one that compares across items gives
its per-partition findings.

**State size.** Findings themselves (all of them feed the taxonomy discrepancies); per timed
human submission one type code, one duration and two id codes; per human classification record
five codes and its ``created_at``; one speed per video step; one row per cuboid; one count per
item with boxes. These grow with the data because the medians, label sequences and positions they
feed depend on every value. Strings are codes into each partition's own tables
(:class:`Strings`); merging concatenates, and the tables are unified once, at finish.

``durations_s`` is the sum over partitions of each check's time (plus its finish).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt

from ..checks import CheckConfig, CheckContext, Finding, effective_config, get_check, list_checks, to_discrepancies
from ..checks.base import RecordColumns, take
from ..checks.behaviour import (
    fast_outliers,
    rubber_stamping_counts,
    rubber_stamping_findings,
    timed_groups,
    too_fast_finding,
)
from ..checks.cuboid import _cuboids, implausible_size_finding, implausible_sizes
from ..checks.run import assemble_report, checked, resolve_rules
from ..checks.video import _steps, _tracks, jump_limit, track_jump_finding
from ..model import Dataset, Record
from .engine import Context

if TYPE_CHECKING:
    from ..qa.taxonomy import Discrepancy

__all__ = ["ChecksResult", "ChecksSection", "ChecksState", "RecordIds", "Strings"]

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
#: The section's result, as ``build_report`` puts it in the report: the ``checks`` JSON dict
#: (``run_checks(ds).to_dict()`` with findings cut at 2000) and every finding as a discrepancy.
ChecksResult: TypeAlias = tuple[dict[str, Any], list["Discrepancy"]]

#: Findings listed in the report (the counts and discrepancies cover all of them).
MAX_LISTED = 2000
_TOO_FAST = "behaviour.too_fast"
_STRAIGHT = "behaviour.straight_lining"
_DRIFT = "behaviour.label_drift"
_STAMPING = "behaviour.rubber_stamping"
_JUMP = "video.track_jump"
_CUBOID = "cuboid.implausible_size"
_NEAR_DUP = "geometry.near_duplicate"
_CLASS_COLUMN_CHECKS = (_STRAIGHT, _DRIFT)


@dataclass(frozen=True, slots=True)
class RecordIds:
    """What a finding about a record reads of it (the shared finding builders take it for a Record)."""

    item_id: str
    region_id: str | None
    annotator_id: str
    label_set: str
    label: str | None


def _ids(r: Record) -> RecordIds:
    return RecordIds(r.item_id, r.region_id, r.annotator_id, r.label_set, r.label)


@dataclass(frozen=True, slots=True)
class Strings:
    """A column of strings as chunks of ``(table, codes)``: each partition codes against its own
    table; merging concatenates chunks, and the tables are unified once, when read."""

    chunks: tuple[tuple[tuple[str, ...], IntArray], ...] = ()

    @staticmethod
    def of(table: Sequence[str], codes: IntArray) -> Strings:
        """``codes`` into ``table``, as one chunk."""
        return Strings(((tuple(table), codes),))

    def __add__(self, other: Strings) -> Strings:
        return Strings(self.chunks + other.chunks)

    def __len__(self) -> int:
        return sum(len(c) for _, c in self.chunks)

    def values(self) -> npt.NDArray[np.object_]:
        """Every string, as an object array."""
        parts = [np.asarray(t, dtype=object)[c] for t, c in self.chunks if len(c)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=object)

    def unified(self) -> tuple[tuple[str, ...], IntArray]:
        """``(table, codes)``: the sorted distinct strings of every table, and codes into it."""
        if not self.chunks:
            return (), np.zeros(0, dtype=np.int64)
        if len(self.chunks) == 1:
            names = np.asarray(self.chunks[0][0], dtype=str)
        else:
            names = np.concatenate([np.asarray(t, dtype=str) for t, _ in self.chunks])
        table, inv = np.unique(names, return_inverse=True)
        inv = inv.astype(np.int64).reshape(-1)
        codes, start = [], 0
        for t, c in self.chunks:
            codes.append(inv[start:start + len(t)][c] if len(c) else np.zeros(0, dtype=np.int64))
            start += len(t)
        return tuple(table.tolist()), np.concatenate(codes)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Timed:
    """``behaviour.too_fast``: one row per timed human submission."""

    label_type: Strings
    duration_s: FloatArray
    item: Strings
    annotator: Strings

    def __add__(self, other: _Timed) -> _Timed:
        return _Timed(label_type=self.label_type + other.label_type,
                      duration_s=np.concatenate([self.duration_s, other.duration_s]),
                      item=self.item + other.item, annotator=self.annotator + other.annotator)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Classifications:
    """``behaviour.straight_lining`` / ``label_drift``: one row per human classification record."""

    label_set: Strings
    annotator: Strings
    label: Strings
    item: Strings
    position: IntArray  # the record's position in its partition (compared only within its item)
    created_at: npt.NDArray[np.object_]  # str or None; all None when label drift does not run

    def __add__(self, other: _Classifications) -> _Classifications:
        return _Classifications(label_set=self.label_set + other.label_set,
                                annotator=self.annotator + other.annotator, label=self.label + other.label,
                                item=self.item + other.item,
                                position=np.concatenate([self.position, other.position]),
                                created_at=np.concatenate([self.created_at, other.created_at]))


@dataclass(slots=True, kw_only=True)
class ChecksState:
    """A partial state of :class:`ChecksSection` (plain picklable data; see the module docstring).

    Attributes:
        n_records: Records folded.
        kinds: Value kinds seen.
        durations_s: Seconds spent per check.
        findings: Final findings of the per-item checks (evidence as plain dicts).
        near_duplicates: ``(finding, item_id, index of the first box among its item's boxes)``.
        boxes_per_item: Box records per item (for ``duplicate_index``).
        timed, classifications: Columns of the dataset-wide behaviour checks.
        stamping: ``{annotator: [unchanged, judged]}``.
        speeds, jumps: Every video step's speed; the steps above ``min_speed``.
        cuboids, cuboid_dims: ``(label, ids, index among its item's cuboids)`` and ``(n, 3)`` sizes.
    """

    n_records: int = 0
    kinds: frozenset[str] = frozenset()
    durations_s: dict[str, float] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    near_duplicates: list[tuple[Finding, str, int]] = field(default_factory=list)
    boxes_per_item: dict[str, int] = field(default_factory=dict)
    timed: _Timed | None = None
    classifications: _Classifications | None = None
    stamping: dict[str, list[int]] = field(default_factory=dict)
    speeds: list[FloatArray] = field(default_factory=list)
    jumps: list[tuple[RecordIds, str, int, float]] = field(default_factory=list)
    cuboids: list[tuple[str, RecordIds, int]] = field(default_factory=list)
    cuboid_dims: list[FloatArray] = field(default_factory=list)


def _plain(f: Finding) -> Finding:
    """``f`` with a plain-dict evidence (a mapping proxy does not pickle)."""
    return f if type(f.evidence) is dict else replace(f, evidence=dict(f.evidence))


def _rank_in_group(key: IntArray) -> IntArray:
    """Each position's rank among the positions with the same ``key`` (0 for the first)."""
    n = key.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    sk = key[order]
    starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64) - run_start
    return rank


def _objects(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _add_or_none(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else a + b


class ChecksSection:
    """Every enabled rule-based check, mergeable: the result of ``_checks`` in the QA report.

    The result is ``(checks, discrepancies)``: ``checks`` is the JSON dict of the
    :class:`~accord.core.checks.CheckReport` (``run_checks(ds, rules=rules).to_dict()`` with
    findings cut at 2000), ``discrepancies`` every finding as a taxonomy discrepancy
    (:func:`~accord.core.checks.to_discrepancies`). ``durations_s`` sums each check's time over
    partitions. Which checks are per item and which dataset-wide, what the state holds, and the
    canonical order used where today's result depends on the dataset's order: see the module.

    Args:
        rules: A rules mapping (``{"checks": {name: {...}}}``) or a TOML rules file path, as
            :func:`~accord.core.checks.run_checks` takes; ``None`` runs every check with its defaults.

    Raises:
        ConfigError: Bad rules (raised when the section is made).
    """

    name = "checks"
    stage = 0

    def __init__(self, rules: Mapping[str, Any] | str | Path | None = None) -> None:
        self._rules = resolve_rules(rules)

    def _configs(self) -> list[CheckConfig]:
        out = []
        for spec in list_checks():
            cfg = effective_config(spec, self._rules)
            if cfg.enabled:
                out.append(cfg)
        return out

    def create(self, ctx: Context) -> ChecksState:
        """An empty state."""
        return ChecksState()

    def add(self, state: ChecksState, part: Dataset, ctx: Context) -> ChecksState:
        """Run the per-item checks on ``part`` and gather what the dataset-wide ones need."""
        cctx = CheckContext(part)
        kinds = cctx.kinds()
        out = self.merge(state, ChecksState(n_records=len(part.records), kinds=kinds))
        gathered_classes = False
        configs = self._configs()
        for cfg in configs:
            spec = get_check(cfg.name)
            if spec.kinds and not kinds.intersection(spec.kinds):
                continue
            t0 = time.perf_counter()
            name = cfg.name
            if name == _TOO_FAST:
                out.timed = _add_or_none(out.timed, _gather_timed(cctx))
            elif name in _CLASS_COLUMN_CHECKS:
                if not gathered_classes:
                    drift = any(c.name == _DRIFT for c in configs)  # only label drift reads created_at
                    out.classifications = _add_or_none(out.classifications,
                                                       _gather_classifications(cctx, created=drift))
                    gathered_classes = True
            elif name == _STAMPING:
                for ann, (k, n) in rubber_stamping_counts(cctx).items():
                    st = out.stamping.setdefault(ann, [0, 0])
                    st[0] += k
                    st[1] += n
            elif name == _JUMP:
                _gather_jumps(cctx, cfg, out)
            elif name == _CUBOID:
                _gather_cuboids(cctx, out)
            elif name == _NEAR_DUP:
                _near_duplicates(cctx, cfg, out)
            else:
                out.findings.extend(map(_plain, checked(name, spec.fn(cctx, cfg))))
            out.durations_s[name] = out.durations_s.get(name, 0.0) + time.perf_counter() - t0
        return out

    def merge(self, a: ChecksState, b: ChecksState) -> ChecksState:
        """Concatenate findings and columns, add counts (a new state; ``a`` and ``b`` are kept)."""
        durations = dict(a.durations_s)
        for k, secs in b.durations_s.items():
            durations[k] = durations.get(k, 0.0) + secs
        stamping = {k: list(v) for k, v in a.stamping.items()}
        for k, kn in b.stamping.items():
            st = stamping.setdefault(k, [0, 0])
            st[0] += kn[0]
            st[1] += kn[1]
        return ChecksState(
            n_records=a.n_records + b.n_records, kinds=a.kinds | b.kinds, durations_s=durations,
            findings=a.findings + b.findings, near_duplicates=a.near_duplicates + b.near_duplicates,
            boxes_per_item={**a.boxes_per_item, **b.boxes_per_item}, timed=_add_or_none(a.timed, b.timed),
            classifications=_add_or_none(a.classifications, b.classifications), stamping=stamping,
            speeds=a.speeds + b.speeds, jumps=a.jumps + b.jumps, cuboids=a.cuboids + b.cuboids,
            cuboid_dims=a.cuboid_dims + b.cuboid_dims)

    def finish(self, state: ChecksState, ctx: Context) -> ChecksResult:
        """Run the dataset-wide checks on the merged state and assemble the report."""
        findings = list(state.findings)
        durations = dict(state.durations_s)
        run: list[str] = []
        merged: list[CheckContext | None] = []

        def on_classifications(cfg: CheckConfig) -> list[Finding]:
            if not merged:
                merged.append(_classification_context(state.classifications, ctx))
            return [] if merged[0] is None else list(get_check(cfg.name).fn(merged[0], cfg))

        finishers: dict[str, Callable[[CheckConfig], list[Finding]]] = {
            _TOO_FAST: lambda cfg: _finish_timed(state.timed, cfg),
            _STRAIGHT: on_classifications,
            _DRIFT: on_classifications,
            _STAMPING: lambda cfg: list(rubber_stamping_findings(cfg, state.stamping)),
            _JUMP: lambda cfg: _finish_jumps(state, cfg),
            _CUBOID: lambda cfg: _finish_cuboids(state, cfg),
            _NEAR_DUP: lambda cfg: _finish_near_duplicates(state),
        }
        for cfg in self._configs():
            spec = get_check(cfg.name)
            if spec.kinds and not state.kinds.intersection(spec.kinds):
                continue
            run.append(cfg.name)
            done = finishers.get(cfg.name)
            if done is not None:
                t0 = time.perf_counter()
                findings.extend(checked(cfg.name, done(cfg)))
                durations[cfg.name] = durations.get(cfg.name, 0.0) + time.perf_counter() - t0
        rep = assemble_report(findings, run, n_records=state.n_records,
                              durations_s={n: durations.get(n, 0.0) for n in run})
        out = rep.to_dict()
        out["findings"] = out["findings"][:MAX_LISTED]
        return out, list(to_discrepancies(rep.findings))

    def next_params(self, state: ChecksState, ctx: Context) -> None:
        """Not iterative."""
        return None


# --------------------------------------------------------------------------- gathering


def _gather_timed(cctx: CheckContext) -> _Timed | None:
    sel, groups = timed_groups(cctx)
    if not groups:
        return None
    rows = np.concatenate([sel[g] for g, _ in groups])
    types = tuple(t for _, t in groups)
    type_code = np.repeat(np.arange(len(groups), dtype=np.int64), [len(g) for g, _ in groups])
    subs, cols = cctx.submission_columns(), cctx.columns()
    item, ann = subs.item[rows], subs.annotator[rows]
    if min(int(item.min()), int(ann.min())) < 0:  # an id no record has: code the strings themselves
        found = take(cctx.dataset.submissions, rows)
        n = np.arange(len(found), dtype=np.int64)
        items, annotators = Strings.of([s.item_id for s in found], n), Strings.of([s.annotator_id for s in found], n)
    else:
        items, annotators = Strings.of(cols.item_ids, item), Strings.of(cols.annotator_ids, ann)
    return _Timed(label_type=Strings.of(types, type_code), duration_s=subs.duration_s[rows], item=items,
                  annotator=annotators)


def _gather_classifications(cctx: CheckContext, *, created: bool) -> _Classifications | None:
    cols = cctx.columns()
    cls, human = cols.code("kinds", "classification"), cols.code("sources", "human")
    if cls < 0 or human < 0:
        return None
    sel = np.flatnonzero((cols.kind == cls) & (cols.source == human))
    if sel.size == 0:
        return None
    return _Classifications(label_set=Strings.of(cols.label_sets, cols.label_set[sel]),
                            annotator=Strings.of(cols.annotator_ids, cols.annotator[sel]),
                            label=Strings.of(cols.labels, cols.label[sel]),
                            item=Strings.of(cols.item_ids, cols.item[sel]), position=sel,
                            created_at=_objects(cctx.created_at())[sel] if created
                            else np.full(sel.size, None, dtype=object))


def _gather_jumps(cctx: CheckContext, cfg: CheckConfig, out: ChecksState) -> None:
    tracks = _tracks(cctx)
    owner, frame, speed, _ = _steps(tracks)
    if not len(speed):
        return
    out.speeds.append(speed)
    for k in np.flatnonzero(speed > float(cfg["min_speed"])).tolist():
        r, t = tracks[owner[k]]
        out.jumps.append((_ids(r), t.track_id, int(frame[k]), float(speed[k])))


def _gather_cuboids(cctx: CheckContext, out: ChecksState) -> None:
    cubs = _cuboids(cctx)
    if not cubs:
        return
    seen: dict[str, int] = {}
    for r, c in cubs:
        k = seen.get(r.item_id, 0)
        seen[r.item_id] = k + 1
        out.cuboids.append((c.label, _ids(r), k))
    out.cuboid_dims.append(np.array([(c.length, c.width, c.height) for _, c in cubs], dtype=np.float64))


def _near_duplicates(cctx: CheckContext, cfg: CheckConfig, out: ChecksState) -> None:
    found = list(checked(cfg.name, get_check(cfg.name).fn(cctx, cfg)))
    boxes = cctx.boxes()
    if not len(boxes):
        return
    counts = np.bincount(boxes.item, minlength=len(boxes.item_ids))
    out.boxes_per_item.update(zip(boxes.item_ids, counts.tolist(), strict=True))
    rank = _rank_in_group(boxes.item)
    for f in found:
        p = int(f.evidence["duplicate_index"])
        out.near_duplicates.append((_plain(f), boxes.item_ids[int(boxes.item[p])], int(rank[p])))


# --------------------------------------------------------------------------- finishing


def _finish_timed(timed: _Timed | None, cfg: CheckConfig) -> list[Finding]:
    if timed is None:
        return []
    min_count = int(cfg["min_count"])
    types, type_code = timed.label_type.unified()
    items: npt.NDArray[np.object_] | None = None
    annotators = items
    found: list[Finding] = []
    for t, label_type in enumerate(types):
        g = np.flatnonzero(type_code == t)
        if len(g) < min_count:
            continue
        d = timed.duration_s[g]
        flagged, z, med = fast_outliers(d, cfg)
        if not flagged.size:
            continue
        if items is None or annotators is None:
            items, annotators = timed.item.values(), timed.annotator.values()
        for k in flagged.tolist():
            found.append(too_fast_finding(cfg, str(items[g[k]]), str(annotators[g[k]]), float(d[k]), med,
                                          float(z[k]), label_type))
    return found


def _classification_context(cl: _Classifications | None, ctx: Context) -> CheckContext | None:
    """A check context over the merged classification columns, in canonical order."""
    if cl is None:
        return None
    item_ids, item = cl.item.unified()
    order = np.lexsort((cl.position, item))
    n = order.size
    zeros = np.zeros(n, dtype=np.int64)
    (annotator_ids, annotator), (label_sets, label_set), (labels, label) = (
        cl.annotator.unified(), cl.label_set.unified(), cl.label.unified())
    columns = RecordColumns(
        item=item[order], annotator=annotator[order], source=zeros, label_set=label_set[order], kind=zeros,
        label=label[order], multilabel=np.zeros(n, dtype=np.bool_), item_ids=item_ids,
        annotator_ids=annotator_ids, sources=("human",), label_sets=label_sets, kinds=("classification",),
        labels=labels)
    return CheckContext.from_columns(ctx.schema, columns, cl.created_at[order].tolist())


def _finish_jumps(state: ChecksState, cfg: CheckConfig) -> list[Finding]:
    if not state.speeds:
        return []
    limit, med = jump_limit(np.concatenate(state.speeds), cfg)
    return [track_jump_finding(cfg, cast(Record, ids), track_id, frame, speed, limit, med)
            for ids, track_id, frame, speed in state.jumps if speed > limit]


def _finish_cuboids(state: ChecksState, cfg: CheckConfig) -> list[Finding]:
    if not state.cuboids:
        return []
    dims = np.concatenate(state.cuboid_dims)
    order = sorted(range(len(state.cuboids)), key=lambda i: (state.cuboids[i][1].item_id, state.cuboids[i][2]))
    by_label: dict[str, list[int]] = {}
    for i in order:
        by_label.setdefault(state.cuboids[i][0], []).append(i)
    zt, min_count, min_ratio = float(cfg["z_threshold"]), int(cfg["min_count"]), float(cfg["min_ratio"])
    found: list[Finding] = []
    for label, members in by_label.items():
        d = dims[members]
        bad, z, med = implausible_sizes(d, zt=zt, min_count=min_count, min_ratio=min_ratio)
        for k in np.flatnonzero(bad).tolist():
            ids = state.cuboids[members[k]][1]
            found.append(implausible_size_finding(cfg, cast(Record, ids), label, d[k], z[k], med, len(members)))
    return found


def _finish_near_duplicates(state: ChecksState) -> list[Finding]:
    if not state.near_duplicates:
        return []
    ids = sorted(state.boxes_per_item)
    counts = np.array([state.boxes_per_item[i] for i in ids], dtype=np.int64)
    offset = dict(zip(ids, (np.cumsum(counts) - counts).tolist(), strict=True))
    return [replace(f, evidence={**f.evidence, "duplicate_index": offset[item] + k})
            for f, item, k in state.near_duplicates]

