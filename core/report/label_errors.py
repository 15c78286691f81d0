"""Label errors (confident learning) as a mergeable section (:class:`LabelErrorsSection`).

The report's ``label_errors`` section flags consensus class labels that are probably wrong
(:func:`~accord.core.qa.label_errors.find_label_issues`, Northcutt et al., JAIR 2021). What it
reads per item is item-local: the item's consensus label (an input, ``ctx.options``) and its
class probabilities, given (``pred_probs``) or approximated from the item's own scored model
predictions (the top class gets its score, the other classes share the rest evenly). So:

* :meth:`LabelErrorsSection.add` builds, per class label set, one row per item of the partition
  that has both a consensus label and probabilities: the item id, its given label's code and its
  normalised probability row (the same arithmetic, row by row, as the one-process code);
* :meth:`~LabelErrorsSection.merge` concatenates the rows;
* :meth:`~LabelErrorsSection.finish` sorts the rows by item id (the order the one-process code
  uses) and runs confident learning on them.

The class list of a label set (schema labels, consensus labels, classes named in the given
probabilities) depends on the inputs alone, so every partition codes labels the same way. The
state holds one row of ``len(classes)`` floats per scored item: confident learning needs every
item's probabilities at once. The result is bit for bit the one-process one on any split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..model import Dataset, value_label
from .engine import Context
from .engine import json_float as _f

__all__ = ["LabelErrorInputs", "LabelErrorsSection", "LabelErrorsState", "class_list", "model_probabilities"]

FloatArray = npt.NDArray[np.float64]

_GIVEN = "model probabilities (given)"
_APPROX = "model predictions' top-class score (approximate: other classes share the rest evenly)"
_NOTE = ("fewer than two items with both a consensus label and model probabilities, or one class only: "
         "nothing to learn from")


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelErrorInputs:
    """What the section reads besides the partitions (``ctx.options["label_errors"]``).

    Attributes:
        class_labels: Consensus label per item, per classification label set (resolutions applied),
            in the report's label-set order.
        pred_probs: Given model probabilities ``{label_set: {item_id: {class: p}}}``, or ``None``.
    """

    class_labels: Mapping[str, Mapping[str, str]]
    pred_probs: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None


@dataclass(slots=True, kw_only=True)
class _Rows:
    items: list[str] = field(default_factory=list)
    given: list[npt.NDArray[np.intp]] = field(default_factory=list)
    probs: list[FloatArray] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class LabelErrorsState:
    """Per label set, the scored items' rows (concatenated on merge); which sets have probabilities.

    Attributes:
        rows: ``{label_set: rows}``: item ids, given-label codes (arrays) and normalised
            probability rows (``(n, len(classes))`` arrays), one block per partition.
        with_probs: Label sets where some item of the folded partitions has probabilities
            (given ones, or a usable scored model prediction).
    """

    rows: dict[str, _Rows] = field(default_factory=dict)
    with_probs: frozenset[str] = frozenset()


def class_list(schema_labels: Sequence[str], labels: Mapping[str, str],
               probs: Mapping[str, Mapping[str, float]] | None) -> list[str]:
    """The label set's classes, sorted: the schema's, every consensus label, every class given probabilities."""
    return sorted({*schema_labels, *labels.values(), *(c for p in (probs or {}).values() for c in p)})


def model_probabilities(ds: Dataset, name: str, classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Approximate class probabilities from scored model predictions: top class = its score (the
    item's last usable prediction wins)."""
    k = len(classes)
    out: dict[str, dict[str, float]] = {}
    for r in ds.select(label_set=name, source="model"):
        label = str(value_label(r.value))
        if r.score is None or not 0.0 <= r.score <= 1.0 or label not in classes or k < 2:
            continue
        rest = (1.0 - float(r.score)) / (k - 1)
        out[r.item_id] = {c: (float(r.score) if c == label else rest) for c in classes}
    return out


class LabelErrorsSection:
    """Confident learning over each class label set's consensus labels (stage 0: the consensus
    labels and given probabilities come in :class:`LabelErrorInputs`, ``ctx.options["label_errors"]``).

    Result: the report's ``label_errors`` dict, equal to the one-process section's.
    """

    name = "label_errors"
    stage = 0

    def create(self, ctx: Context) -> LabelErrorsState:
        return LabelErrorsState()

    def add(self, state: LabelErrorsState, part: Dataset, ctx: Context) -> LabelErrorsState:
        inputs: LabelErrorInputs = ctx.options[self.name]
        local = LabelErrorsState()
        here = part.items
        with_probs: set[str] = set()
        for name, labels in inputs.class_labels.items():
            ls = part.schema.label_sets.get(name)
            probs = (inputs.pred_probs or {}).get(name)
            classes = class_list(ls.labels if ls else (), labels, probs)
            if probs:
                with_probs.add(name)
            else:
                probs = model_probabilities(part, name, classes)
                if probs:
                    with_probs.add(name)
            items = [i for i in labels if i in here and i in probs]
            if not items:
                continue
            index = {c: j for j, c in enumerate(classes)}
            p = np.array([[float(probs[i].get(c, 0.0)) for c in classes] for i in items], dtype=np.float64)
            sums = p.sum(axis=1, keepdims=True)
            p = np.divide(p, sums, out=np.full_like(p, 1.0 / len(classes)), where=sums > 0)
            y = np.array([index[labels[i]] for i in items], dtype=np.intp)
            local.rows[name] = _Rows(items=items, given=[y], probs=[p])
        local.with_probs = frozenset(with_probs)
        return self.merge(state, local)

    def merge(self, a: LabelErrorsState, b: LabelErrorsState) -> LabelErrorsState:
        rows: dict[str, _Rows] = {}
        for name in {*a.rows, *b.rows}:
            ra, rb = a.rows.get(name, _Rows()), b.rows.get(name, _Rows())
            rows[name] = _Rows(items=[*ra.items, *rb.items], given=[*ra.given, *rb.given],
                               probs=[*ra.probs, *rb.probs])
        return LabelErrorsState(rows=rows, with_probs=a.with_probs | b.with_probs)

    def finish(self, state: LabelErrorsState, ctx: Context) -> dict[str, Any]:
        from ..qa.label_errors import find_label_issues

        inputs: LabelErrorInputs = ctx.options[self.name]
        pred_probs = inputs.pred_probs
        out: dict[str, Any] = {}
        for name, labels in inputs.class_labels.items():
            ls = ctx.schema.label_sets.get(name)
            given = (pred_probs or {}).get(name)
            classes = class_list(ls.labels if ls else (), labels, given)
            source = _GIVEN if given else _APPROX
            rows = state.rows.get(name, _Rows())
            k = len(classes)
            y_all = np.concatenate(rows.given) if rows.given else np.zeros(0, dtype=np.intp)
            p_all = np.concatenate(rows.probs) if rows.probs else np.zeros((0, k), dtype=np.float64)
            order = sorted(range(len(rows.items)), key=rows.items.__getitem__)
            items = [rows.items[j] for j in order]
            if len(items) < 2 or len({labels[i] for i in items}) < 2:
                if name in state.with_probs or pred_probs:
                    out[name] = {"note": _NOTE}
                continue
            take = np.asarray(order, dtype=np.intp)
            p = np.ascontiguousarray(p_all[take])
            y = np.ascontiguousarray(y_all[take])
            res = find_label_issues(y, p)
            out[name] = {
                "method": "confident learning, prune by noise rate (Northcutt et al., JAIR 2021)",
                "probabilities": source, "classes": classes, "n_items": len(items), "n_issues": res.n_issues,
                "issues": [{"item_id": items[j], "given": labels[items[j]],
                            "suggested": classes[int(np.argmax(p[j]))],
                            "self_confidence": _f(p[j, y[j]]), "rank": r + 1}
                           for r, j in enumerate(res.ranking[:200])],
                "confident_joint": {"classes": classes, "counts": res.confident_joint.tolist()},
            }
        return out

    def next_params(self, state: LabelErrorsState, ctx: Context) -> None:
        return None
