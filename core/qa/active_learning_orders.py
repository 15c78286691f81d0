"""The report's active-learning orders: which items to look at next, by three criteria.

Built from a dataset's model predictions (records with ``source="model"``; each model
version or model annotator is one ``annotator_id``):

* **least confidence** (Settles 2009): every scored item, lowest top-class score first
  (the report's original order);
* **committee disagreement**, per classification label set that at least two model
  versions predicted: the vote entropy of their labels (Dagan & Engelson 1995) on the
  items every one of them predicted, via
  :func:`~accord.core.qa.active_learning.committee_disagreement`;
* **k-center diversity** (Sener & Savarese 2018), per label set, over each item's model
  vector: class probabilities for classification label sets (given ``pred_probs``, else
  the predictions' top-class score with the rest spread evenly, averaged over model
  versions), or, for region label sets, the highest score the models gave each class on
  the item; via :func:`~accord.core.qa.active_learning.k_center_greedy`.

Each order says its method, its label set, what it ranked (``n_ranked`` of
``n_candidates``) and lists the top items with their scores.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..model import Dataset, value_label
from .active_learning import committee_disagreement, k_center_greedy, uncertainty_ranking

__all__ = ["active_learning_orders"]

#: Items listed per order (the full orders are long; the top is what a reviewer works through).
TOP = 50


def _r(v: float) -> float | None:
    v = float(v)
    return round(v, 6) if np.isfinite(v) else None


def _listing(items: Sequence[str], order: Any, scores: Any, top: int) -> list[dict[str, Any]]:
    return [{"item_id": items[j], "score": _r(scores[j])} for j in order.tolist()[:top]]


def _least_confidence(ds: Dataset, top: int) -> dict[str, Any] | None:
    conf: dict[str, float] = {}
    for r in ds.records:
        if r.source == "model" and r.score is not None and 0.0 <= r.score <= 1.0:
            conf[r.item_id] = min(conf.get(r.item_id, 1.0), float(r.score))
    if not conf:
        return None
    items = sorted(conf)
    p = np.array([conf[i] for i in items])
    rank = uncertainty_ranking(np.column_stack([p, 1.0 - p]), method="least_confidence")
    return {"method": "least_confidence", "label_set": None,
            "basis": "the lowest top-class score any model gave the item, over every label set",
            "n_candidates": len(items), "n_ranked": len(items), "items": _listing(items, rank.order, rank.scores, top)}


def _classes(ds: Dataset, name: str, extra: Sequence[str] = ()) -> list[str]:
    ls = ds.schema.label_sets.get(name)
    seen = {str(value_label(r.value)) for r in ds.select(label_set=name) if value_label(r.value) is not None}
    return sorted({*(ls.labels if ls and ls.labels else ()), *seen, *extra})


def _committee(name: str, preds: Mapping[str, Mapping[str, tuple[str, float | None]]], classes: Sequence[str],
               top: int) -> dict[str, Any] | None:
    """The vote-entropy order from each model's ``{item: (label, score)}``."""
    models = sorted(preds)
    if len(models) < 2 or len(classes) < 2:
        return None
    shared = sorted(set.intersection(*(set(preds[m]) for m in models)))
    if not shared:
        return None
    index = {c: k for k, c in enumerate(classes)}
    votes = np.zeros((len(models), len(shared), len(classes)))
    for a, m in enumerate(models):
        for i, item in enumerate(shared):
            votes[a, i, index[preds[m][item][0]]] = 1.0
    rank = committee_disagreement(votes, method="vote_entropy")
    return {"method": "vote_entropy", "label_set": name, "models": models,
            "basis": "entropy (nats) of the models' labels, on the items every model predicted",
            "n_candidates": len(shared), "n_ranked": len(shared),
            "n_disagreeing": int(np.count_nonzero(rank.scores > 0)),
            "items": _listing(shared, rank.order, rank.scores, top)}


def _class_vectors(preds: Mapping[str, Mapping[str, tuple[str, float | None]]], classes: Sequence[str],
                   given: Mapping[str, Mapping[str, float]] | None) -> tuple[list[str], Any, str]:
    """Each item's class vector: the given probabilities, else each model's top-class score with
    the rest spread evenly, averaged over models."""
    k = len(classes)
    index = {c: j for j, c in enumerate(classes)}
    if given:
        items = sorted(given)
        x = np.array([[float(given[i].get(c, 0.0)) for c in classes] for i in items])
        return items, x, "model class probabilities (given)"
    acc: dict[str, list[Any]] = defaultdict(list)
    for by_item in preds.values():
        for item, (lab, score) in by_item.items():
            s = 1.0 if score is None or not 0.0 <= score <= 1.0 else float(score)
            v = np.full(k, (1.0 - s) / (k - 1))
            v[index[lab]] = s
            acc[item].append(v)
    items = sorted(acc)
    x = np.array([np.mean(acc[i], axis=0) for i in items]) if items else np.zeros((0, k))
    return items, x, ("model predictions' top-class score, the rest spread evenly, averaged over model versions "
                      "(approximate class probabilities)")


def _region_vectors(item: Sequence[str], lab: Sequence[str], score: Sequence[float], scored: Sequence[bool]
                    ) -> tuple[list[str], Any, str]:
    """Each item's highest model score per class, from the labelled model records' columns
    (``scored``: the record has a score)."""
    best: dict[str, dict[str, float]] = defaultdict(dict)
    for i, lb, sc, has in zip(item, lab, score, scored, strict=True):
        if not has:
            continue
        row = best[i]
        row[lb] = max(row.get(lb, 0.0), float(sc))
    items = sorted(best)
    labels = sorted({lb for row in best.values() for lb in row})
    x = np.array([[best[i].get(lb, 0.0) for lb in labels] for i in items]) if items else np.zeros((0, 0))
    return items, x, f"the highest model score per class on the item ({', '.join(labels[:10])})"


def _k_center(name: str, items: list[str], x: Any, basis: str, top: int) -> dict[str, Any] | None:
    if len(items) < 2 or x.ndim != 2 or x.shape[1] == 0 or not np.all(np.isfinite(x)):
        return None
    # Plain k-center (no item counts as labeled): the first pick is the first item in id order,
    # every later one the item farthest from those picked.
    k = min(top, len(items))
    rank = k_center_greedy(x, k)
    return {"method": "k_center", "label_set": name, "basis": basis,
            "n_candidates": len(items), "n_ranked": int(rank.order.size),
            "items": [{"item_id": items[j], "score": _r(rank.scores[j]) if n else None}
                      for n, j in enumerate(rank.order.tolist())]}


def active_learning_orders(ds: Dataset, *, pred_probs: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                           top: int = TOP) -> list[dict[str, Any]]:
    """Every order the dataset's model predictions support (see the module docstring).

    Args:
        ds: The dataset; only records with ``source="model"`` are read.
        pred_probs: Optional ``{label_set: {item_id: {class: p}}}`` (the report's), used
            for the k-center vectors of classification label sets.
        top: Items listed per order (k-center picks this many).

    Returns:
        A list of orders, each ``{"method", "label_set", "basis", "n_candidates",
        "n_ranked", "items": [{"item_id", "score"}]}`` (committee orders add ``models``
        and ``n_disagreeing``); empty without model predictions. A k-center score is the
        item's distance to the items picked before it (``None`` for the first pick).
    """
    orders: list[dict[str, Any]] = []
    lc = _least_confidence(ds, top)
    if lc:
        orders.append(lc)
    for name in ds.label_sets:
        model = ds.select(label_set=name, source="model")
        if not model and not (pred_probs or {}).get(name):
            continue
        ls = ds.schema.label_sets.get(name)
        kind = ls.kind if ls else (model[0].kind if model else "classification")
        if kind == "classification":
            given = (pred_probs or {}).get(name)
            classes = _classes(ds, name, [c for p in (given or {}).values() for c in p])
            preds: dict[str, dict[str, tuple[str, float | None]]] = defaultdict(dict)
            for r in model:
                if (lab := value_label(r.value)) is not None:
                    preds[r.annotator_id].setdefault(r.item_id, (str(lab), r.score))
            committee = _committee(name, preds, classes, top)
            if committee:
                orders.append(committee)
            if len(classes) >= 2:
                kc = _k_center(name, *_class_vectors(preds, classes, given), top)
                if kc:
                    orders.append(kc)
        elif model:
            labelled = [(r, str(lab)) for r in model if (lab := value_label(r.value)) is not None]
            kc = _k_center(name, *_region_vectors([r.item_id for r, _ in labelled], [lb for _, lb in labelled],
                                                  [r.score or 0.0 for r, _ in labelled],
                                                  [r.score is not None for r, _ in labelled]), top)
            if kc:
                orders.append(kc)
    return orders
