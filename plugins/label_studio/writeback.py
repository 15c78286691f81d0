"""Write QA results back into a Label Studio project: idempotent, opt-in, never destructive.

What can be written (each part is asked for separately):

* **QA fields** per task, so people sort and filter in the Data Manager: the task data
  keys ``accord_agreement`` (a JSON number; absent where fewer than two annotators make it
  undefined, so a filter "agreement < 0.5" never catches those), ``accord_conflicts`` and
  ``accord_errors`` (numbers), ``accord_worst_error`` and ``accord_run`` (shown as
  ``data.*`` columns). Every other data key is left as it was. Label Studio types every
  imported data column "Unknown" (string filters); accord's own tabs declare the numeric
  ones ``Number`` (``columnsDisplayType``), so their filters compare numbers.
* **A QA prediction** (opt-in, ``qa_prediction=True``): an empty ``result`` with ``score`` =
  the task's agreement and ``model_version`` = ``accord-qa-<run id>``. The Data Manager
  computes ``predictions_score`` only for the project's *selected* model version; the
  labeling editor shows each prediction as a tab, hence opt-in (the consensus prediction
  carries the same score).
* **Views** (Data Manager tabs) ``accord: conflicts`` (tasks that need adjudication, lowest
  agreement first) and ``accord: spot-check`` (a small review sample: the report's ISO
  2859-1 sample size for the batch, or ``spot_check_size``). Found again by title and
  updated; other views are never touched.
* **Consensus** as one prediction per task with ``model_version`` ``accord-consensus`` and
  ``score`` = the task's agreement (classes: Dawid-Skene labels from the report; boxes:
  fused with :func:`accord.core.qa.consensus.fuse_boxes`; spans: majority vote with
  :func:`accord.core.qa.consensus.vote_spans`), so a reviewer accepts or fixes it.
  ``select_model_version=True`` makes it (or the QA prediction, when written) the project's
  selected version, so ``predictions_score`` sorts by agreement.

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

from accord.core.errors import AccordError
from accord.core.model import Box, Classification, Dataset, Record, Span, value_label
from accord.core.qa.report import all_discrepancies

from .convert import to_label_studio_prediction

if TYPE_CHECKING:
    from .client import LabelStudioClient, PulledProject

QA_PREFIX = "accord-qa-"
CONSENSUS_VERSION = "accord-consensus"
CONFLICT_VIEW = "accord: conflicts"
SPOT_CHECK_VIEW = "accord: spot-check"
DATA_KEYS = ("accord_agreement", "accord_conflicts", "accord_errors", "accord_worst_error", "accord_run")
#: The data keys written as JSON numbers; accord's views declare these columns ``Number``.
NUMBER_KEYS = ("accord_agreement", "accord_conflicts", "accord_errors")
_SEVERITY = {"info": 0, "minor": 1, "major": 2, "critical": 3}



class WritebackError(AccordError, ValueError):  # type: ignore[misc]
    """A write-back was asked for with arguments that cannot work (says which and how to fix it)."""


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
    for d in all_discrepancies(report):
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


def _report_weights(report: Mapping[str, Any], name: str, annotators: Sequence[str]) -> Any:
    """Each annotator's weight in the report's consensus of ``name`` (``consensus.<set>.weights``:
    gold score, else class skill, else uniform), in ``annotators``' order; an annotator the
    report did not weigh gets the mean of the others. None when the report has no weights."""
    import numpy as np

    block = (report.get("consensus") or {}).get(name)
    given = block.get("weights") if isinstance(block, Mapping) else None
    if not isinstance(given, Mapping):
        return None
    known = {a: float(v["weight"]) for a, v in given.items()
             if isinstance(v, Mapping) and isinstance(v.get("weight"), int | float) and v["weight"] > 0}
    if not known:
        return None
    fill = sum(known.values()) / len(known)
    return np.array([known.get(a, fill) for a in annotators], dtype=np.float64)


def consensus_records(dataset: Dataset, report: Mapping[str, Any], *, iou_threshold: float = 0.5
                      ) -> tuple[dict[str, list[Record]], list[str]]:
    """Consensus records per item (classes, boxes, spans) and notes on skipped label sets.

    Boxes and spans are fused with each annotator weighted as the report weighted them
    (``consensus.<set>.weights``), so a reviewer sees the consensus the report compared
    annotators with; a report without weights fuses them equally."""
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
                w = _report_weights(report, name, anns)
                if kind == "box":
                    boxes = [[_xyxy(r.value) for r in per[a]] for a in anns]
                    labs = [[str(value_label(r.value)) for r in per[a]] for a in anns]
                    fused = fuse_boxes(boxes, labs, iou_threshold=iou_threshold, reliability=w)
                    for (x1, y1, x2, y2), lab in zip(fused.boxes_xyxy.tolist(), fused.labels, strict=True):
                        out[item].append(Record(item_id=item, annotator_id=CONSENSUS_VERSION, label_set=name,
                                                value=Box(label=lab, x=x1, y=y1, width=x2 - x1, height=y2 - y1),
                                                source="consensus"))
                else:
                    spans = [[(v.start, v.end, v.label) for r in per[a] if isinstance(v := r.value, Span)]
                             for a in anns]
                    texts = {(v.start, v.end): v.text for rs in per.values() for r in rs
                             if isinstance(v := r.value, Span)}
                    # weights scaled to sum to the head count: the default quorum (a strict majority's
                    # head count) then asks for the weight a strict majority of equals would hold
                    scaled = None if w is None else w * len(anns) / w.sum()
                    for s, e, lab in vote_spans(spans, mode="exact", reliability=scaled):
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


def view_data(title: str, task_ids: Sequence[int]) -> dict[str, Any]:
    """An accord tab: exactly ``task_ids``, lowest agreement first, accord's numeric columns typed Number.

    Label Studio sorts a data column numerically only when the tab declares it ``Number``
    in ``columnsDisplayType`` (else as text), and its filter editor offers number
    operators (``<``, ``>``, ``in``) only for such columns.
    """
    return {"title": title, "filters": view_filters(task_ids), "ordering": ["tasks:data.accord_agreement"],
            "columnsDisplayType": {f"tasks:data.{k}": "Number" for k in NUMBER_KEYS}}


def default_spot_check_size(report: Mapping[str, Any], n_tasks: int) -> tuple[int, str]:
    """How many tasks a spot check reviews, and why.

    The sample size of the report's ISO 2859-1 single sampling plan for the batch (level
    and AQL from the report config; e.g. 32 of 200 tasks at level II, AQL 2.5), else
    ceil(sqrt(n)) tasks. Never more than ``n_tasks``.
    """
    raw_acc = (report.get("sampling") or {}).get("acceptance")
    acc: Mapping[str, Any] = raw_acc if isinstance(raw_acc, Mapping) else {}
    plan: Mapping[str, Any] = acc["plan"] if isinstance(acc.get("plan"), Mapping) else {}
    n = plan.get("sample_size")
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        why = (f"ISO 2859-1 {acc.get('severity', 'normal')} inspection, level {acc.get('level', 'II')}, "
               f"AQL {acc.get('aql', '?')}: accept <= {plan.get('accept', '?')} defective")
        return min(n, n_tasks), why
    return min(n_tasks, math.ceil(math.sqrt(n_tasks))), "ceil(sqrt(tasks))"


def spot_check_sample(report: Mapping[str, Any], task_ids: Sequence[int], *, seed: int = 0,
                      size: int | None = None) -> list[int]:
    """The spot-check tasks: a seeded random sample of ``size`` tasks (default
    :func:`default_spot_check_size`), drawn from the tasks of the report's
    ``sampling.spot_check`` sample (stratified by annotator) first, topped up from ``task_ids``.

    Raises:
        WritebackError: ``size`` is below 1.
    """
    if size is not None and (isinstance(size, bool) or size < 1):
        raise WritebackError(f"the spot-check size must be at least 1, got {size!r}; e.g. --spot-check-size 20")
    pool = sorted(set(task_ids))
    in_pool = set(pool)
    sc = (report.get("sampling") or {}).get("spot_check")
    sampled: set[int] = set()
    if isinstance(sc, Mapping):
        raw = sc.get("item_ids") or [x.get("item_id") for x in sc.get("items") or () if isinstance(x, Mapping)]
        sampled = {int(i) for i in raw if str(i).isdigit() and (not pool or int(i) in in_pool)}
    k = size if size is not None else default_spot_check_size(report, len(pool or sampled))[0]
    rng = random.Random(seed)
    chosen = rng.sample(sorted(sampled), min(k, len(sampled)))
    rest = sorted(in_pool - sampled)
    chosen += rng.sample(rest, min(k - len(chosen), len(rest)))
    return sorted(chosen)


def _view_filter_ids(view: Mapping[str, Any]) -> list[int] | None:
    items = ((view.get("data") or {}).get("filters") or {}).get("items") or []
    try:
        return sorted(int(i["value"]) for i in items if i.get("filter") == "filter:tasks:id")
    except (TypeError, ValueError, KeyError):
        return None


def _view_is(view: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    data = view.get("data") or {}
    ids = _view_filter_ids(view)
    want = _view_filter_ids({"data": wanted})
    return (ids == want and data.get("ordering") == wanted["ordering"]
            and all((data.get("columnsDisplayType") or {}).get(k) == v
                    for k, v in wanted["columnsDisplayType"].items()))


# --------------------------------------------------------------------------- planning


def plan_writeback(pulled: PulledProject, report: Mapping[str, Any], *, run_id: str, qa_fields: bool = False,
                   qa_prediction: bool = False, views: bool = False, consensus: bool = False,
                   select_model_version: bool = False, existing_views: Sequence[Mapping[str, Any]] = (),
                   seed: int = 0, spot_check_size: int | None = None, iou_threshold: float = 0.5) -> WritebackPlan:
    """Compare the wanted state with the pulled project and list the writes (pure).

    Args:
        pulled: The project as pulled (tasks with their predictions and data).
        report: :func:`accord.core.qa.report.build_report`'s output for ``pulled.dataset``.
        run_id: 1-64 letters, digits, ``-``, ``_`` or ``.``; QA predictions get ``accord-qa-<run_id>``.
        qa_fields / qa_prediction / views / consensus: Which parts to write. Asking for
            ``qa_fields`` or ``qa_prediction`` also removes accord's earlier QA predictions of
            other runs (and, without ``qa_prediction``, of this one).
        select_model_version: Make the QA prediction's version (with ``qa_prediction``), else
            ``accord-consensus`` (with ``consensus``), the project's selected model version.
        existing_views: The project's views (``GET /api/dm/views?project=``), to update ours.
        seed: Seed of the spot-check sample.
        spot_check_size: Tasks in the spot-check tab (default: :func:`default_spot_check_size`).

    Raises:
        WritebackError: ``run_id`` is empty or has other characters; ``select_model_version``
            without ``qa_prediction`` or ``consensus``; ``spot_check_size`` below 1.
    """
    if (not isinstance(run_id, str) or not 0 < len(run_id) <= 64
            or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in run_id)):
        raise WritebackError(f"expected a run id of 1-64 letters, digits, '-', '_' or '.', got {run_id!r}; "
                             "e.g. --run-id r1")
    if select_model_version and not (qa_prediction or consensus):
        raise WritebackError("select_model_version needs a prediction to select: add --consensus (its score is "
                             "the task's agreement) or --qa-prediction")
    ds = pulled.dataset
    mv = QA_PREFIX + run_id
    qa = task_qa(ds, report, iou_threshold=iou_threshold)
    tasks = {int(t["id"]): t for t in pulled.tasks if isinstance(t.get("id"), int)}
    deletes: list[Action] = []
    creates: list[Action] = []
    updates: list[Action] = []
    notes: list[str] = []
    if qa_fields or qa_prediction:
        for tid, q in sorted(qa.items()):
            task = tasks.get(tid, {})
            mine = [p for p in task.get("predictions") or () if isinstance(p, dict)
                    and str(p.get("model_version") or "").startswith(QA_PREFIX)]
            keep = next((p for p in mine if qa_prediction and p.get("model_version") == mv and not p.get("result")
                         and _same(p.get("score"), q.agreement_score)), None)
            for p in mine:
                if p is not keep:
                    deletes.append(Action(kind="delete_prediction", target=int(p["id"]), payload={},
                                          description=f"task {tid}: delete old QA prediction {p['id']} "
                                                      f"({p.get('model_version')})"))
            if qa_prediction and keep is None:
                payload: dict[str, Any] = {"task": tid, "result": [], "model_version": mv,
                                           "score": q.agreement_score}
                creates.append(Action(kind="create_prediction", target=tid, payload=payload,
                                      description=f"task {tid}: QA prediction {mv} score={q.agreement_score}"))
            if not qa_fields:
                continue
            data = dict(task.get("data") or {})
            wanted: dict[str, Any] = {"accord_conflicts": q.n_conflicts, "accord_errors": q.n_errors,
                                      "accord_worst_error": q.worst_error or "", "accord_run": run_id}
            if q.agreement_score is not None:
                wanted["accord_agreement"] = q.agreement_score
            stale = q.agreement_score is None and "accord_agreement" in data
            if stale or any(not _same_value(data.get(k, _MISSING), v) for k, v in wanted.items()):
                new = {k: v for k, v in data.items() if not (stale and k == "accord_agreement")}
                updates.append(Action(kind="update_task_data", target=tid, payload={**new, **wanted},
                                      description=f"task {tid}: data {wanted}"))
        if pulled.model_version and pulled.model_version.startswith(QA_PREFIX) and pulled.model_version != (
                mv if qa_prediction else None) and not select_model_version:
            notes.append(f"the project's selected model version {pulled.model_version!r} is an earlier accord QA "
                         "run whose predictions are removed; select another version in the project settings, or "
                         "push with --select-model-version")
    agreement = {t: q.agreement_score for t, q in qa.items()}
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
            score = agreement.get(tid)
            mine = [p for p in tasks[tid].get("predictions") or () if isinstance(p, dict)
                    and p.get("model_version") == CONSENSUS_VERSION]
            keep = next((p for p in mine if _same_result(p.get("result"), pred["result"])
                         and _same(p.get("score"), score)), None)
            for p in mine:
                if p is not keep:
                    deletes.append(Action(kind="delete_prediction", target=int(p["id"]), payload={},
                                          description=f"task {tid}: delete old consensus prediction {p['id']}"))
            if keep is None:
                creates.append(Action(kind="create_prediction", target=tid,
                                      payload={"task": tid, "result": pred["result"],
                                               "model_version": CONSENSUS_VERSION, "score": score},
                                      description=f"task {tid}: consensus prediction with "
                                                  f"{len(pred['result'])} result(s), score={score}"))
    # conflicts, lowest agreement first (undefined last), then by task id
    conflict_ids = sorted((t for t, q in qa.items() if q.n_conflicts),
                          key=lambda t: (agreement[t] is None, agreement[t] or 0.0, t))
    annotated = sorted(t for t in qa if _annotated(tasks.get(t)))
    spot_ids = spot_check_sample(report, annotated, seed=seed, size=spot_check_size)
    if views:
        if not qa_fields and not any("accord_agreement" in (tasks.get(t, {}).get("data") or {}) for t in qa):
            notes.append("views: the tabs sort by data.accord_agreement, which this project does not have yet; "
                         "add --qa-fields to write it")
        size_note = ("--spot-check-size" if spot_check_size is not None
                     else default_spot_check_size(report, len(annotated))[1])
        notes.append(f"spot-check: {len(spot_ids)} of {len(annotated)} annotated tasks ({size_note})")
        by_title = {str(v.get("data", {}).get("title")): v for v in existing_views
                    if isinstance(v.get("data"), dict)}
        for title, ids in ((CONFLICT_VIEW, conflict_ids), (SPOT_CHECK_VIEW, spot_ids)):
            data = view_data(title, ids)
            old = by_title.get(title)
            if old is None:
                creates.append(Action(kind="create_view", target=None, payload=data,
                                      description=f"create view {title!r} with {len(ids)} task(s)"))
            elif not _view_is(old, data):
                updates.append(Action(kind="update_view", target=int(old["id"]),
                                      payload={**(old.get("data") or {}), **data},
                                      description=f"update view {title!r} ({old['id']}) to {len(ids)} task(s)"))
    selected = mv if qa_prediction else CONSENSUS_VERSION
    if select_model_version and pulled.model_version != selected:
        updates.append(Action(kind="set_model_version", target=pulled.project_id,
                              payload={"model_version": selected},
                              description=f"select model version {selected} in project {pulled.project_id} "
                                          f"(was {pulled.model_version!r}; annotators now see its predictions)"))
    return WritebackPlan(run_id=run_id, project_id=pulled.project_id, actions=tuple(deletes + creates + updates),
                         qa=tuple(qa[t] for t in sorted(qa)), conflict_task_ids=tuple(conflict_ids),
                         spot_check_task_ids=tuple(spot_ids), notes=tuple(notes))


_MISSING = object()


def _same_value(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type: the string "0.5" is not the number 0.5, True is not 1."""
    if isinstance(b, bool) or isinstance(a, bool):
        return a is b
    if isinstance(b, int | float):
        return isinstance(a, int | float) and abs(float(a) - float(b)) < 1e-9
    return type(a) is type(b) and a == b


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
