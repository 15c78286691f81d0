"""Model vs human as a mergeable section (:class:`ModelVsHumanSection`).

The report's ``model_vs_human`` section (:func:`accord.core.qa.model_eval.model_vs_human`) scores
each model's predictions against the humans, per label set. Everything it compares is item-local:

* classes: an item's human reference (the single human's label, else the consensus label, an
  input) and each model's top prediction on the item; :meth:`~ModelVsHumanSection.add` keeps
  one small row per item (item id, label, score), and :meth:`~ModelVsHumanSection.finish`
  rebuilds the ``{item: label}`` maps and scores them with
  :func:`~accord.core.qa.model_eval.evaluate_classification` (which sorts the items itself);
* spans: each (item, human) document is scored in ``add``
  (:func:`~accord.core.qa.model_eval.evaluate_spans` of the one document) and leaves per-label
  counts, which merge by addition (span P/R/F1 are ratios of the summed counts);
* regions: each (item, human) image is matched in ``add``
  (:func:`~accord.core.qa.model_eval.region_image`: counts per label and the image's COCO rows:
  labels, boxes, scores, crowd flags, and the masks where the image holds masks, which COCO
  ``segm`` needs); ``finish`` puts the images in the one-process order (item, then human) and
  runs :func:`~accord.core.qa.model_eval.regions_of`, so COCO AP is evaluated over every image
  at once, exactly as before.

A comparison that fails (an unknown region kind, a keypoint without a sigma, a non-span value in
a span label set) leaves its error in the state; ``finish`` reports the error the one-process
loop meets first (models sorted, images in order) under ``undefined``, after the models scored
before it, as the one-process section does.

Order. Every figure is bit for bit the one-process one on any split. Two choices read the
dataset's order and are taken here in item order (``ctx.order``), where the one-process code
reads record (or submission) order, the same whenever records come grouped by item in item
order: the kind of a label set that is not in the schema (its first model record) and, in a span
label set holding non-span values, which offending item the ``undefined`` message names.

State size: per item, the reference label and one prediction per model (classes); per-label
counts (spans); per (item, human) image, counts and COCO rows (regions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import AccordError
from ..model import Dataset, Record, value_label
from ..qa.model_eval import (
    CocoRows,
    RegionImage,
    _top,
    classification_dict,
    evaluate_classification,
    evaluate_spans,
    region_dict,
    region_image,
    regions_of,
    span_dict,
)
from .engine import Context, order_of

__all__ = ["ModelKindsSection", "ModelKindsState", "ModelVsHumanInputs", "ModelVsHumanSection", "ModelVsHumanState"]

_REGION_KINDS = ("box", "polygon", "polyline", "mask", "keypoints", "segment", "cuboid", "track")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelVsHumanInputs:
    """What the section reads besides the partitions (``ctx.options["model_vs_human"]``).

    Attributes:
        consensus: Consensus labels per class label set (resolutions applied).
        iou_threshold: Region matching threshold.
        options: Similarity options for keypoint matching (``sigmas``, ``default_sigma``).
        confidence: Level of the accuracy interval.
    """

    consensus: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    iou_threshold: float = 0.5
    options: Mapping[str, Any] | None = None
    confidence: float = 0.95


@dataclass(slots=True, kw_only=True)
class _KindRows:
    """What one kind's comparisons left (classes: predictions; spans: counts; regions: images)."""

    predictions: dict[str, list[tuple[str, str, float | None]]] = field(default_factory=dict)
    span_docs: dict[str, int] = field(default_factory=dict)
    span_counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    images: dict[str, list[tuple[tuple[str, str], RegionImage]]] = field(default_factory=dict)
    #: ``{model: [(sort key, message)]}``: the first failed comparison of each partition.
    errors: dict[str, list[tuple[Any, str]]] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class _SetState:
    humans: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()
    #: classes: ``(item, reference label, from a single human)`` per item with a reference
    reference: list[tuple[str, str, bool]] = field(default_factory=list)
    rows: _KindRows = field(default_factory=_KindRows)


@dataclass(slots=True, kw_only=True)
class ModelVsHumanState:
    """Per label set, what its partitions left (plain, picklable data)."""

    sets: dict[str, _SetState] = field(default_factory=dict)


def _extend(a: dict[str, list[Any]], b: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    return {k: [*a.get(k, ()), *b.get(k, ())] for k in {*a, *b}}


def _merge_rows(a: _KindRows, b: _KindRows) -> _KindRows:
    counts: dict[str, dict[str, list[int]]] = {}
    for m in {*a.span_counts, *b.span_counts}:
        ta, tb = a.span_counts.get(m, {}), b.span_counts.get(m, {})
        counts[m] = {lb: [x + y for x, y in zip(ta.get(lb, [0, 0, 0]), tb.get(lb, [0, 0, 0]), strict=True)]
                     for lb in {*ta, *tb}}
    return _KindRows(predictions=_extend(a.predictions, b.predictions),
                     span_docs={m: a.span_docs.get(m, 0) + b.span_docs.get(m, 0) for m in {*a.span_docs, *b.span_docs}},
                     span_counts=counts, images=_extend(a.images, b.images), errors=_extend(a.errors, b.errors))


def _merge_set(a: _SetState, b: _SetState) -> _SetState:
    return _SetState(humans=a.humans | b.humans, models=a.models | b.models, reference=[*a.reference, *b.reference],
                     rows=_merge_rows(a.rows, b.rows))


def _first_model_records(part: Dataset, names: Sequence[str]) -> dict[str, tuple[str, int, str]]:
    """``{label set: (item id, position in the partition, kind)}`` of each label set's first model record."""
    wanted = set(names)
    out: dict[str, tuple[str, int, str]] = {}
    if not wanted:
        return out
    for k, r in enumerate(part.records):
        if r.source == "model" and r.label_set in wanted and r.label_set not in out:
            out[r.label_set] = (r.item_id, k, r.kind)
            if len(out) == len(wanted):
                break
    return out


def _span_counts(docs: Sequence[tuple[str, Sequence[Record], Sequence[Record]]]
                 ) -> tuple[dict[str, list[int]], tuple[str, str] | None]:
    """Per-label ``[tp, n_reference, n_candidate]`` summed over ``(item, reference, candidate)`` documents
    (:func:`~accord.core.qa.model_eval.evaluate_spans` of each), or the first document's error."""
    table: dict[str, list[int]] = {}
    for item, ref, cand in docs:
        try:
            scores = evaluate_spans([(ref, cand)])
        except AccordError as e:  # a value that is not a span
            return table, (item, str(e))
        for lb, c in scores.per_label.items():
            row = table.setdefault(lb, [0, 0, 0])
            row[0] += c.tp
            row[1] += c.n_reference
            row[2] += c.n_candidate
    return table, None


@dataclass(slots=True, kw_only=True)
class ModelKindsState:
    """Which label sets hold model and human records; each partition's first model record
    ``(item id, position in the partition, kind)`` of each label set not in the schema."""

    with_model: frozenset[str] = frozenset()
    with_human: frozenset[str] = frozenset()
    firsts: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)


class ModelKindsSection:
    """The label sets ``model_vs_human`` scores and their kinds (stage 0): ``{label set: kind}``, in
    ``label_sets`` order, for each label set holding both model and human records; the kind is the
    schema's, else the first model record's in dataset item order. :class:`ModelVsHumanSection`
    compares only these.

    Args:
        label_sets: The whole dataset's label sets.
    """

    name = "model_vs_human:kinds"
    stage = 0

    def __init__(self, label_sets: Sequence[str]) -> None:
        self.label_sets = tuple(label_sets)

    def create(self, ctx: Context) -> ModelKindsState:
        return ModelKindsState()

    def add(self, state: ModelKindsState, part: Dataset, ctx: Context) -> ModelKindsState:
        found = _first_model_records(part, [n for n in self.label_sets if n not in part.schema.label_sets])
        local = ModelKindsState(
            with_model=frozenset(n for n in self.label_sets if part.select(label_set=n, source="model")),
            with_human=frozenset(n for n in self.label_sets if part.select(label_set=n, source="human")),
            firsts={n: [f] for n, f in found.items()})
        return self.merge(state, local)

    def merge(self, a: ModelKindsState, b: ModelKindsState) -> ModelKindsState:
        return ModelKindsState(with_model=a.with_model | b.with_model, with_human=a.with_human | b.with_human,
                               firsts=_extend(a.firsts, b.firsts))

    def finish(self, state: ModelKindsState, ctx: Context) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in self.label_sets:
            if name not in state.with_model or name not in state.with_human:
                continue
            ls = ctx.schema.label_sets.get(name)
            if ls:
                out[name] = ls.kind
                continue
            firsts = state.firsts[name]
            rank = order_of(ctx, [f[0] for f in firsts]).rank()
            out[name] = min(firsts, key=lambda f: (rank.get(f[0], len(rank)), f[1]))[2]
        return out

    def next_params(self, state: ModelKindsState, ctx: Context) -> None:
        return None


class ModelVsHumanSection:
    """Every model scored against the humans, per label set (stage 1: the label sets to score and
    their kinds come from :class:`ModelKindsSection`, which must run in the same
    :func:`~accord.core.report.engine.run_sections` call; the consensus labels and matching options
    come in :class:`ModelVsHumanInputs`, ``ctx.options["model_vs_human"]``).

    Result: the report's ``model_vs_human`` dict, equal to
    :func:`~accord.core.qa.model_eval.model_vs_human`'s (see the module docstring).
    """

    name = "model_vs_human"
    stage = 1

    def create(self, ctx: Context) -> ModelVsHumanState:
        return ModelVsHumanState()

    def add(self, state: ModelVsHumanState, part: Dataset, ctx: Context) -> ModelVsHumanState:
        inputs: ModelVsHumanInputs = ctx.options[self.name]
        local = ModelVsHumanState()
        kinds: Mapping[str, str] = ctx.results[ModelKindsSection.name]
        for name, kind in kinds.items():
            human = part.grouped_view(name, source="human")
            model = part.grouped_view(name, source="model")
            st = _SetState(humans=frozenset(a for p in human.values() for a in p),
                           models=frozenset(a for p in model.values() for a in p))
            if kind == "classification":
                st.reference = self._references(human, inputs.consensus.get(name, {}))
            if model:
                st.rows = self._compare(kind, human, model, inputs)
            local.sets[name] = st
        return self.merge(state, local)

    @staticmethod
    def _references(human: Mapping[str, Mapping[str, Sequence[Record]]], cons: Mapping[str, str]
                    ) -> list[tuple[str, str, bool]]:
        out: list[tuple[str, str, bool]] = []
        for item, per in human.items():
            labs_by = {a: recs for a, recs in per.items() if recs}
            if len(labs_by) == 1:
                out.append((item, str(value_label(next(iter(labs_by.values()))[-1].value)), True))
            elif labs_by and item in cons:
                out.append((item, cons[item], False))
        return out

    @staticmethod
    def _compare(kind: str, human: Mapping[str, Mapping[str, Sequence[Record]]],
                 model: Mapping[str, Mapping[str, Sequence[Record]]], inputs: ModelVsHumanInputs) -> _KindRows:
        rows = _KindRows()
        models = sorted({a for per in model.values() for a in per})
        if kind == "classification":
            for m in models:
                preds = []
                for item, per in model.items():
                    recs = per.get(m) or []
                    if recs:
                        top = _top(recs)
                        preds.append((item, str(value_label(top.value)), top.score))
                rows.predictions[m] = preds
        elif kind == "span":
            for m in models:
                docs = [(item, h_recs, per_m.get(m) or []) for item, per_m in model.items() if m in per_m
                        for _h, h_recs in sorted(human.get(item, {}).items())]
                rows.span_docs[m] = len(docs)
                table, bad = _span_counts(docs)
                if bad is not None:
                    rows.errors[m] = [bad]
                    continue
                rows.span_counts[m] = table
        elif kind in _REGION_KINDS:
            options = inputs.options if kind == "keypoints" else None
            shared: dict[tuple[str, str], CocoRows] = {}  # a human's image, scored against every model
            for m in models:
                images: list[tuple[tuple[str, str], RegionImage]] = []
                for item, per_m in sorted(model.items()):
                    if m not in per_m:
                        continue
                    for h, h_recs in sorted(human.get(item, {}).items()):
                        try:
                            im = region_image(f"{item}\x1f{h}", h_recs, per_m.get(m) or [],
                                              iou_threshold=inputs.iou_threshold, options=options,
                                              reference_rows=shared.get((item, h)))
                            shared.setdefault((item, h), im.reference)
                            images.append(((item, h), im))
                        except AccordError as e:
                            rows.errors[m] = [((item, h), str(e))]
                            break
                    if m in rows.errors:
                        break
                rows.images[m] = images
        return rows

    def merge(self, a: ModelVsHumanState, b: ModelVsHumanState) -> ModelVsHumanState:
        sets = {n: _merge_set(a.sets.get(n, _SetState()), b.sets.get(n, _SetState())) for n in {*a.sets, *b.sets}}
        return ModelVsHumanState(sets=sets)

    def finish(self, state: ModelVsHumanState, ctx: Context) -> dict[str, Any]:
        inputs: ModelVsHumanInputs = ctx.options[self.name]
        out: dict[str, Any] = {}
        kinds: Mapping[str, str] = ctx.results[ModelKindsSection.name]
        for name, kind in kinds.items():
            st = state.sets.get(name, _SetState())
            rows = st.rows
            models = sorted(st.models)
            entry: dict[str, Any] = {"kind": kind, "n_human_annotators": len(st.humans), "models": {}}
            try:
                if kind == "classification":
                    ref = {item: label for item, label, _ in st.reference}
                    n_single = sum(single for _, _, single in st.reference)
                    entry["reference"] = {"n_items": len(ref), "n_single_human": n_single,
                                          "n_consensus": len(ref) - n_single}
                    for m in models:
                        cand = {item: (label, score) for item, label, score in rows.predictions.get(m, ())}
                        entry["models"][m] = classification_dict(
                            evaluate_classification(ref, cand, confidence=inputs.confidence))
                elif kind == "span":
                    self._spans(entry, models, rows, ctx)
                elif kind in _REGION_KINDS:
                    for m in models:
                        if rows.errors.get(m):
                            raise _ComparisonFailedError(min(rows.errors[m])[1])
                        images = [im for _, im in sorted(rows.images.get(m, ()), key=lambda t: t[0])]
                        entry["models"][m] = region_dict(regions_of(images, iou_threshold=inputs.iou_threshold))
                else:
                    entry["note"] = f"{kind} label sets are not scored against the humans yet"
            except AccordError as e:  # an unknown region kind, a keypoint without sigma, ...
                entry["undefined"] = str(e)
            except _ComparisonFailedError as e:
                entry["undefined"] = e.message
            out[name] = entry
        return out

    @staticmethod
    def _spans(entry: dict[str, Any], models: Sequence[str], rows: _KindRows, ctx: Context) -> None:
        from ..matching.spans import _scores

        for m in models:
            errors = rows.errors.get(m)
            if errors:
                rank = order_of(ctx, [i for i, _ in errors]).rank()
                raise _ComparisonFailedError(min(errors, key=lambda t: rank.get(t[0], len(rank)))[1])
            table = rows.span_counts.get(m, {})
            entry["models"][m] = {"n_documents": rows.span_docs.get(m, 0),
                                  **span_dict(_scores({lb: list(v) for lb, v in table.items()}))}

    def next_params(self, state: ModelVsHumanState, ctx: Context) -> None:
        return None


class _ComparisonFailedError(Exception):
    """A comparison that failed on a worker (its message, as the one-process section records it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

