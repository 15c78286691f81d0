"""Write QA results back into a Label Studio project: idempotent, opt-in, never destructive.

What can be written (each part is asked for separately):

* **QA fields** per task, so people sort and filter in the Data Manager:
  a prediction with an empty ``result``, ``score`` = the task's agreement score and
  ``model_version`` = ``accord-qa-<run id>``; and the task data keys ``accord_agreement``,
  ``accord_conflicts``, ``accord_worst_error`` and ``accord_run`` (shown as ``data.*``
  columns). Every other data key is left as it was. The Data Manager computes its
  ``predictions_score`` column only for the project's *selected* model version, so the
  score is sortable there only after ``select_model_version=True`` - which also changes
  which predictions annotators are shown, hence opt-in.
* **Views** (Data Manager tabs) ``accord: conflicts`` (tasks that need adjudication) and
  ``accord: spot-check`` (the review sample). Found again by title and updated; other
  views are never touched.
* **Consensus** as one prediction per task with ``model_version`` ``accord-consensus``
  (classes: Dawid-Skene labels from the report; boxes: fused with
  :func:`accord.core.qa.consensus.fuse_boxes`; spans: majority vote with
  :func:`accord.core.qa.consensus.vote_spans`), so a reviewer accepts or fixes it.

Idempotency: the plan compares with what the server has (from the same pull) and only
writes differences; our earlier predictions (model versions ``accord-qa-*`` and
``accord-consensus``) are replaced, nobody else's are touched, annotations never are.
:func:`plan_writeback` is pure; :func:`apply_writeback` performs a plan.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from accord.core.model import Box, Classification, Dataset, Record, Span, value_label

from .convert import to_label_studio_prediction

if TYPE_CHECKING:
    from .client import LabelStudioClient, PulledProject

QA_PREFIX = "accord-qa-"
CONSENSUS_VERSION = "accord-consensus"
CONFLICT_VIEW = "accord: conflicts"
SPOT_CHECK_VIEW = "accord: spot-check"
DATA_KEYS = ("accord_agreement", "accord_conflicts", "accord_worst_error", "accord_run")
_SEVERITY = {"info": 0, "minor": 1, "major": 2, "critical": 3}

ActionKind = Literal["create_prediction", "delete_prediction", "update_task_data", "create_view", "update_view",
                     "set_model_version"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskQA:
    """The QA fields of one task.

    Attributes:
        task_id: The Label Studio task id.
        agreement_score: Lowest per-label-set agreement of the task's annotators, in [0, 1]
            (share of agreeing pairs for classes, mean pairwise matched F1 for regions);
            None when fewer than two annotators labeled it.
        n_conflicts: Conflict-queue entries of the task (one per label set at most).
        worst_error: Most severe error category found on the task (ties: most frequent, then name).
        worst_severity: That category's severity.
        n_errors: Classified discrepancies on the task.
    """

    task_id: int
    agreement_score: float | None
    n_conflicts: int
    worst_error: str | None
    worst_severity: str | None
    n_errors: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One write: what, on which object, with which payload, in words."""

    kind: ActionKind
    target: int | None
    payload: dict[str, Any]
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WritebackPlan:
    """Everything a write-back would do, and why.

    Attributes:
        run_id: The run id; QA predictions use ``accord-qa-<run_id>``.
        actions: The writes, in order (deletions before creations).
        qa: Per-task QA fields (also when not written).
        conflict_task_ids / spot_check_task_ids: The views' tasks.
        notes: Label sets or parts that were skipped, and why.
    """

    run_id: str
    project_id: int
    actions: tuple[Action, ...]
    qa: tuple[TaskQA, ...]
    conflict_task_ids: tuple[int, ...]
    spot_check_task_ids: tuple[int, ...]
    notes: tuple[str, ...] = ()

    @property
    def model_version(self) -> str:
        return QA_PREFIX + self.run_id

    def counts(self) -> dict[str, int]:
        return dict(Counter(a.kind for a in self.actions))


@dataclass(frozen=True, slots=True, kw_only=True)
class WritebackResult:
    """What :func:`apply_writeback` did: counts per action kind and the views' ids."""

    counts: dict[str, int]
    view_ids: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- per-task QA


def item_agreement_scores(dataset: Dataset, *, iou_threshold: float = 0.5) -> dict[str, dict[str, float]]:
    """Per item and label set, the agreement of its human annotators (the report's definition).

    Classes (and other whole-item values): share of annotator pairs giving the same value.
    Regions: mean over annotator pairs of the matched F1 (one-to-one matching at
    ``iou_threshold``, labels ignored in matching). Items with fewer than two annotators
    have no score. Text values are not scored here.
    """
    from accord.core.matching.geometry import match_regions
    from accord.core.model import REGION_KINDS

    out: dict[str, dict[str, float]] = defaultdict(dict)
    for name in dataset.label_sets:
        grouped = dataset.grouped(name, source="human")
        for item, per in grouped.items():
            anns = sorted(a for a, rs in per.items())
            if len(anns) < 2:
                continue
            kinds = {r.kind for rs in per.values() for r in rs}
            if not kinds or "text" in kinds:
                continue
            if kinds <= set(REGION_KINDS):
                f1s = [match_regions([r.value for r in per[a]], [r.value for r in per[b]],
                                     iou_threshold=iou_threshold).f1_score()
                       for a, b in itertools.combinations(anns, 2)]
                f1s = [f for f in f1s if not math.isnan(f)]
                if f1s:
                    out[item][name] = float(sum(f1s) / len(f1s))
            else:
                vals = [tuple(sorted(str(value_label(r.value)) for r in per[a])) for a in anns if per[a]]
                if len(vals) < 2:
                    continue
                pairs = list(itertools.combinations(vals, 2))
                out[item][name] = sum(x == y for x, y in pairs) / len(pairs)
    return dict(out)


def task_qa(dataset: Dataset, report: Mapping[str, Any], *, iou_threshold: float = 0.5) -> dict[int, TaskQA]:
    """The QA fields of every task from the dataset and its report.

    Uses ``report["item_scores"]`` (``{label_set: {item_id: score}}``) when the report has
    it, else :func:`item_agreement_scores` (the same definitions).
    """
    by_set = report.get("item_scores")
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    if isinstance(by_set, Mapping) and by_set:
        for name, per in by_set.items():
            for item, sc in (per or {}).items():
                if isinstance(sc, int | float):
                    scores[str(item)][str(name)] = float(sc)
    else:
        scores.update(item_agreement_scores(dataset, iou_threshold=iou_threshold))
    conflicts = Counter(str(c["item_id"]) for c in report.get("conflicts", {}).get("items", []))
    errors: dict[str, Counter[tuple[int, str]]] = defaultdict(Counter)
    for d in report.get("errors", {}).get("discrepancies", []):
        errors[str(d["item_id"])][(_SEVERITY.get(str(d.get("severity")), 0), str(d["category"]))] += 1
    sev_name = {v: k for k, v in _SEVERITY.items()}
    out: dict[int, TaskQA] = {}
    for item in dataset.items:
        try:
            tid = int(item)
        except ValueError:
            continue
        s = scores.get(item) or {}
        worst: tuple[int, str] | None = None
        if errors.get(item):
            worst = max(errors[item], key=lambda k: (k[0], errors[item][k], [-ord(c) for c in k[1]]))
        out[tid] = TaskQA(task_id=tid, agreement_score=round(min(s.values()), 6) if s else None,
                          n_conflicts=conflicts.get(item, 0), worst_error=worst[1] if worst else None,
                          worst_severity=sev_name[worst[0]] if worst else None,
                          n_errors=sum(errors[item].values()) if item in errors else 0)
    return out


# --------------------------------------------------------------------------- consensus


def consensus_records(dataset: Dataset, report: Mapping[str, Any], *, iou_threshold: float = 0.5
                      ) -> tuple[dict[str, list[Record]], list[str]]:
    """Consensus records per item (classes, boxes, spans) and notes on skipped label sets."""
    from accord.core.qa.consensus import fuse_boxes, vote_spans

    out: dict[str, list[Record]] = defaultdict(list)
    notes: list[str] = []
    for name in dataset.label_sets:
        ls = dataset.schema.label_sets.get(name)
        recs = dataset.select(label_set=name, source="human")
        if not recs:
            continue
        kind = ls.kind if ls else recs[0].kind
        if kind == "classification":
            labels = (report.get("consensus", {}).get(name) or {}).get("labels") or {}
            for item, lab in labels.items():
                out[str(item)].append(Record(item_id=str(item), annotator_id=CONSENSUS_VERSION, label_set=name,
                                             value=Classification(label=str(lab)), source="consensus"))
        elif kind in ("box", "span"):
            for item, per in dataset.grouped(name, source="human").items():
                anns = sorted(a for a in per if per[a])
                if len(anns) < 2:
                    continue
                if kind == "box":
                    boxes = [[_xyxy(r.value) for r in per[a]] for a in anns]
                    labs = [[str(value_label(r.value)) for r in per[a]] for a in anns]
                    fused = fuse_boxes(boxes, labs, iou_threshold=iou_threshold)
                    for (x1, y1, x2, y2), lab in zip(fused.boxes_xyxy.tolist(), fused.labels, strict=True):
                        out[item].append(Record(item_id=item, annotator_id=CONSENSUS_VERSION, label_set=name,
                                                value=Box(label=lab, x=x1, y=y1, width=x2 - x1, height=y2 - y1),
                                                source="consensus"))
                else:
                    spans = [[(v.start, v.end, v.label) for r in per[a] if isinstance(v := r.value, Span)]
                             for a in anns]
                    texts = {(v.start, v.end): v.text for rs in per.values() for r in rs
                             if isinstance(v := r.value, Span)}
                    for s, e, lab in vote_spans(spans, mode="exact"):
                        out[item].append(Record(item_id=item, annotator_id=CONSENSUS_VERSION, label_set=name,
                                                value=Span(label=lab, start=s, end=e, text=texts.get((s, e))),
                                                source="consensus"))
        else:
            notes.append(f"consensus: label set {name!r} ({kind}) is not written back yet (classes, boxes "
                         "and spans are)")
    return dict(out), notes


def _xyxy(v: Any) -> tuple[float, float, float, float]:
    if not isinstance(v, Box):
        raise TypeError(f"expected a Box, got {type(v).__name__}")
    return (v.x, v.y, v.x + v.width, v.y + v.height)


# --------------------------------------------------------------------------- views


def view_filters(task_ids: Sequence[int]) -> dict[str, Any]:
    """Data Manager filters selecting exactly ``task_ids`` (none when empty)."""
    ids = sorted(set(task_ids)) or [0]  # task ids start at 1: id == 0 selects nothing
    return {"conjunction": "or", "items": [
        {"filter": "filter:tasks:id", "operator": "equal", "type": "Number", "value": int(t)} for t in ids]}


def spot_check_sample(report: Mapping[str, Any], task_ids: Sequence[int], *, seed: int = 0) -> list[int]:
    """The spot-check tasks: those of the report's ``sampling.spot_check`` (its sample of
    submissions, stratified by annotator), else ceil(sqrt(n)) tasks drawn with ``seed``."""
    sc = (report.get("sampling") or {}).get("spot_check")
    if isinstance(sc, Mapping):
        raw = sc.get("item_ids") or [x.get("item_id") for x in sc.get("items") or () if isinstance(x, Mapping)]
        ids = {int(i) for i in raw if str(i).isdigit()}
        if ids:
            return sorted(ids)
    pool = sorted(set(task_ids))
    k = min(len(pool), math.ceil(math.sqrt(len(pool))))
    return sorted(random.Random(seed).sample(pool, k))


def _view_filter_ids(view: Mapping[str, Any]) -> list[int] | None:
    items = ((view.get("data") or {}).get("filters") or {}).get("items") or []
    try:
        return sorted(int(i["value"]) for i in items if i.get("filter") == "filter:tasks:id")
    except (TypeError, ValueError, KeyError):
        return None


# --------------------------------------------------------------------------- planning


def plan_writeback(pulled: PulledProject, report: Mapping[str, Any], *, run_id: str, qa_fields: bool = False,
                   views: bool = False, consensus: bool = False, select_model_version: bool = False,
                   existing_views: Sequence[Mapping[str, Any]] = (), seed: int = 0,
                   iou_threshold: float = 0.5) -> WritebackPlan:
    """Compare the wanted state with the pulled project and list the writes (pure).

    Args:
        pulled: The project as pulled (tasks with their predictions and data).
        report: :func:`accord.core.qa.report.build_report`'s output for ``pulled.dataset``.
        run_id: Letters, digits, ``-``, ``_`` or ``.``; QA predictions get ``accord-qa-<run_id>``.
        qa_fields / views / consensus / select_model_version: Which parts to write.
        existing_views: The project's views (``GET /api/dm/views?project=``), to update ours.
        seed: Seed of the spot-check sample when the report has none.

    Raises:
        ValueError: ``run_id`` is empty or has other characters.
    """
    if not run_id or not all(c.isalnum() or c in "-_." for c in run_id):
        raise ValueError(f"expected a run id of letters, digits, '-', '_' or '.', got {run_id!r}; e.g. --run-id r1")
    ds = pulled.dataset
    mv = QA_PREFIX + run_id
    qa = task_qa(ds, report, iou_threshold=iou_threshold)
    tasks = {int(t["id"]): t for t in pulled.tasks if isinstance(t.get("id"), int)}
    deletes: list[Action] = []
    creates: list[Action] = []
    updates: list[Action] = []
    notes: list[str] = []
    if qa_fields:
        for tid, q in sorted(qa.items()):
            task = tasks.get(tid, {})
            mine = [p for p in task.get("predictions") or () if isinstance(p, dict)
                    and str(p.get("model_version") or "").startswith(QA_PREFIX)]
            keep = next((p for p in mine if p.get("model_version") == mv and not p.get("result")
                         and _same(p.get("score"), q.agreement_score)), None)
            for p in mine:
                if p is not keep:
                    deletes.append(Action(kind="delete_prediction", target=int(p["id"]), payload={},
                                          description=f"task {tid}: delete old QA prediction {p['id']} "
                                                      f"({p.get('model_version')})"))
            if keep is None:
                payload: dict[str, Any] = {"task": tid, "result": [], "model_version": mv,
                                           "score": q.agreement_score}
                creates.append(Action(kind="create_prediction", target=tid, payload=payload,
                                      description=f"task {tid}: QA prediction {mv} score={q.agreement_score}"))
            data = dict(task.get("data") or {})
            wanted = {"accord_agreement": q.agreement_score, "accord_conflicts": q.n_conflicts,
                      "accord_worst_error": q.worst_error or "", "accord_run": run_id}
            if any(data.get(k, object()) != v for k, v in wanted.items()):
                updates.append(Action(kind="update_task_data", target=tid, payload={**data, **wanted},
                                      description=f"task {tid}: data {wanted}"))
    if consensus:
        cons, cnotes = consensus_records(ds, report, iou_threshold=iou_threshold)
        notes += cnotes
        for item, recs in sorted(cons.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
            if not item.isdigit() or int(item) not in tasks:
                continue
            tid = int(item)
            it = ds.items.get(item)
            pred = to_label_studio_prediction(recs, ds.schema, model_version=CONSENSUS_VERSION,
                                              width=it.width if it else None, height=it.height if it else None)
            mine = [p for p in tasks[tid].get("predictions") or () if isinstance(p, dict)
                    and p.get("model_version") == CONSENSUS_VERSION]
            keep = next((p for p in mine if _same_result(p.get("result"), pred["result"])), None)
            for p in mine:
                if p is not keep:
                    deletes.append(Action(kind="delete_prediction", target=int(p["id"]), payload={},
                                          description=f"task {tid}: delete old consensus prediction {p['id']}"))
            if keep is None:
                creates.append(Action(kind="create_prediction", target=tid,
                                      payload={"task": tid, "result": pred["result"],
                                               "model_version": CONSENSUS_VERSION},
                                      description=f"task {tid}: consensus prediction with "
                                                  f"{len(pred['result'])} result(s)"))
    conflict_ids = sorted(t for t, q in qa.items() if q.n_conflicts)
    spot_ids = spot_check_sample(report, sorted(t for t in qa if _annotated(tasks.get(t))), seed=seed)
    if views:
        by_title = {str(v.get("data", {}).get("title")): v for v in existing_views
                    if isinstance(v.get("data"), dict)}
        for title, ids in ((CONFLICT_VIEW, conflict_ids), (SPOT_CHECK_VIEW, spot_ids)):
            data = {"title": title, "filters": view_filters(ids)}
            old = by_title.get(title)
            if old is None:
                creates.append(Action(kind="create_view", target=None, payload=data,
                                      description=f"create view {title!r} with {len(ids)} task(s)"))
            elif _view_filter_ids(old) != sorted(set(ids)) and not (not ids and _view_filter_ids(old) == [0]):
                updates.append(Action(kind="update_view", target=int(old["id"]),
                                      payload={**(old.get("data") or {}), **data},
                                      description=f"update view {title!r} ({old['id']}) to {len(ids)} task(s)"))
    if select_model_version and pulled.model_version != mv:
        updates.append(Action(kind="set_model_version", target=pulled.project_id, payload={"model_version": mv},
                              description=f"select model version {mv} in project {pulled.project_id} "
                                          f"(was {pulled.model_version!r}; annotators now see its predictions)"))
    return WritebackPlan(run_id=run_id, project_id=pulled.project_id, actions=tuple(deletes + creates + updates),
                         qa=tuple(qa[t] for t in sorted(qa)), conflict_task_ids=tuple(conflict_ids),
                         spot_check_task_ids=tuple(spot_ids), notes=tuple(notes))


def _annotated(task: Mapping[str, Any] | None) -> bool:
    return bool(task) and any(isinstance(a, dict) and not a.get("was_cancelled")
                              for a in (task or {}).get("annotations") or ())


def _same(a: Any, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return isinstance(a, int | float) and abs(float(a) - b) < 1e-6


def _canon(result: Any) -> list[tuple[str, str, str]]:
    import json

    return sorted((str(r.get("from_name")), str(r.get("type")),
                   json.dumps(r.get("value"), sort_keys=True, default=str)) for r in result or ()
                  if isinstance(r, dict))


def _same_result(a: Any, b: Any) -> bool:
    ca, cb = _canon(a), _canon(b)
    if len(ca) != len(cb):
        return False
    import json

    for x, y in zip(ca, cb, strict=True):
        if x[:2] != y[:2]:
            return False
        va, vb = json.loads(x[2]), json.loads(y[2])
        if set(va) != set(vb):
            return False
        for k in va:
            if isinstance(va[k], float | int) and isinstance(vb[k], float | int):
                if abs(float(va[k]) - float(vb[k])) > 1e-4:
                    return False
            elif va[k] != vb[k]:
                return False
    return True


# --------------------------------------------------------------------------- applying


def apply_writeback(client: LabelStudioClient, plan: WritebackPlan, *, batch_size: int = 500,
                    max_workers: int = 8) -> WritebackResult:
    """Perform a plan's actions in order; returns counts and the views' ids.

    New predictions go in batches of ``batch_size`` through the project's prediction
    import (one request per batch); runs of task-data updates go ``max_workers``
    requests at a time (Label Studio has no bulk update); everything else is one
    request per action.
    """
    done: Counter[str] = Counter()
    view_ids: dict[str, int] = {}
    pid = plan.project_id
    batch: list[dict[str, Any]] = []
    updates: list[tuple[int, Mapping[str, Any]]] = []

    def flush() -> None:
        for k in range(0, len(batch), batch_size):
            done["create_prediction"] += client.import_predictions(pid, batch[k:k + batch_size])
        batch.clear()
        if updates:
            done["update_task_data"] += client.update_tasks(updates, max_workers=max_workers)
            updates.clear()

    for a in plan.actions:
        if a.kind == "create_prediction":
            batch.append(dict(a.payload))
            continue
        if a.kind == "update_task_data" and a.target is not None:
            updates.append((a.target, a.payload))
            continue
        flush()
        if a.kind == "delete_prediction" and a.target is not None:
            client.delete_prediction(a.target)
        elif a.kind == "create_view":
            view_ids[a.payload["title"]] = client.create_view(pid, a.payload)
        elif a.kind == "update_view" and a.target is not None:
            client.update_view(pid, a.target, a.payload)
            view_ids[a.payload["title"]] = a.target
        elif a.kind == "set_model_version":
            client.set_model_version(pid, a.payload["model_version"])
        done[a.kind] += 1
    flush()
    return WritebackResult(counts=dict(done), view_ids=view_ids)
