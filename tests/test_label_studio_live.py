"""The Label Studio plugin against a real Label Studio 1.23 server (integration).

A session-scoped server is started from its own venv on a free localhost port with a
copied, migrated data dir (see ``tests/ls_server.py``), filled with three projects
(text classification with three annotators, image boxes and NER with two, ground truth
and a cancelled annotation), and always stopped. Numbers are checked against
independent computations (``krippendorff``, hand-counted pairs, plain majority vote,
averaged boxes) and write-backs are read back through the API.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import ls_server

LS_BIN = ls_server.find_label_studio()

from accord.core.qa.report import build_report  # noqa: E402
from accord.plugins.label_studio.client import LabelStudioClient, LabelStudioError  # noqa: E402
from accord.plugins.label_studio.writeback import (  # noqa: E402
    CONFLICT_VIEW,
    CONSENSUS_VERSION,
    NUMBER_KEYS,
    SPOT_CHECK_VIEW,
    apply_writeback,
    plan_writeback,
    spot_check_sample,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

TEXT_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="pos"/><Choice value="neg"/><Choice value="neu"/>
  </Choices>
  <DateTime name="when" toName="text" only="date"/>
</View>"""

# Three annotators per task; hand-made so that some tasks disagree.
SENTIMENT = [
    ("pos", "pos", "pos"), ("neg", "neg", "neg"), ("pos", "neg", "pos"), ("neu", "neu", "pos"),
    ("neg", "pos", "neu"), ("pos", "pos", "pos"), ("neu", "neu", "neu"), ("neg", "neg", "pos"),
]
GOLD_SENTIMENT = {0: "pos", 2: "pos", 4: "neg"}  # task index -> admin ground-truth label

IMAGE_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="objects" toName="image"><Label value="car"/><Label value="person"/></RectangleLabels>
</View>"""
W, H = 200.0, 100.0
# Per task, per annotator: boxes in pixels (x, y, w, h, label).
BOXES = [
    ([(10, 10, 40, 20, "car")], [(12, 10, 40, 20, "car")]),
    ([(10, 10, 40, 20, "car"), (100, 50, 30, 30, "person")], [(11, 11, 40, 20, "car")]),
    ([(50, 20, 20, 40, "person")], [(150, 60, 20, 20, "car")]),
]

NER_CONFIG = """<View>
  <Labels name="ner" toName="text"><Label value="PER"/><Label value="ORG"/></Labels>
  <Text name="text" value="$text"/>
</View>"""
NER_TEXTS = ["Ada Lovelace met Charles Babbage.", "Alan Turing worked at Bletchley Park."]
NER_SPANS = [
    ([(0, 12, "PER"), (17, 32, "PER")], [(0, 12, "PER"), (17, 32, "PER")]),
    ([(0, 11, "PER"), (22, 36, "ORG")], [(0, 11, "PER")]),
]


def _choice(label: str) -> list[dict[str, Any]]:
    return [{"id": "c1", "from_name": "sentiment", "to_name": "text", "type": "choices",
             "value": {"choices": [label]}}]


def _box(x: float, y: float, w: float, h: float, label: str, k: int) -> dict[str, Any]:
    return {"id": f"b{k}", "from_name": "objects", "to_name": "image", "type": "rectanglelabels",
            "original_width": W, "original_height": H, "image_rotation": 0,
            "value": {"x": 100 * x / W, "y": 100 * y / H, "width": 100 * w / W, "height": 100 * h / H,
                      "rotation": 0, "rectanglelabels": [label]}}


def _span(text: str, s: int, e: int, label: str, k: int) -> dict[str, Any]:
    return {"id": f"s{k}", "from_name": "ner", "to_name": "text", "type": "labels",
            "value": {"start": s, "end": e, "text": text[s:e], "labels": [label]}}


class Env:
    def __init__(self, server: ls_server.Server) -> None:
        from label_studio_sdk import LabelStudio

        self.server = server
        self.url = server.url
        self.token = server.token
        self.ls = LabelStudio(base_url=server.url, api_key=server.token)
        me = self.ls.users.whoami()
        self.admin_id, self.admin_email = me.id, me.email
        self.users: list[tuple[int, str]] = []
        for k in range(3):
            email = f"annotator{k + 1}@example.com"
            u = self.ls.users.create(username=f"annotator{k + 1}", email=email)
            self.users.append((u.id, email))
        self.text = self._text_project()
        self.image = self._image_project()
        self.ner = self._ner_project()

    def _import(self, project: int, rows: list[dict[str, Any]]) -> list[int]:
        res = self.ls.projects.import_tasks(id=project, request=rows, return_task_ids=True)
        ids = list(res.task_ids or [])
        assert len(ids) == len(rows)
        return ids

    def _text_project(self) -> dict[str, Any]:
        p = self.ls.projects.create(title="accord text", label_config=TEXT_CONFIG)
        ids = self._import(p.id, [{"text": f"review {k}"} for k in range(len(SENTIMENT))])
        for k, (tid, labs) in enumerate(zip(ids, SENTIMENT, strict=True)):
            for (uid, _), lab in zip(self.users, labs, strict=True):
                self.ls.annotations.create(id=tid, result=_choice(lab), completed_by=uid, lead_time=10.0 + k)
            if k in GOLD_SENTIMENT:
                self.ls.annotations.create(id=tid, result=_choice(GOLD_SENTIMENT[k]), completed_by=self.admin_id,
                                           ground_truth=True)
        # a skipped task: cancelled, must be excluded and counted
        self.ls.annotations.create(id=ids[-1], result=[], completed_by=self.admin_id, was_cancelled=True)
        # somebody else's prediction, never to be touched
        self.ls.predictions.create(task=ids[0], result=_choice("neg"), model_version="their-model", score=0.3)
        return {"id": p.id, "task_ids": ids}

    def _image_project(self) -> dict[str, Any]:
        p = self.ls.projects.create(title="accord boxes", label_config=IMAGE_CONFIG)
        ids = self._import(p.id, [{"image": f"https://example.invalid/{k}.jpg"} for k in range(len(BOXES))])
        for tid, per in zip(ids, BOXES, strict=True):
            for (uid, _), boxes in zip(self.users, per, strict=False):
                self.ls.annotations.create(id=tid, completed_by=uid, lead_time=20.0,
                                           result=[_box(*b, k) for k, b in enumerate(boxes)])
        self.ls.annotations.create(id=ids[0], completed_by=self.admin_id, ground_truth=True,
                                   result=[_box(10, 10, 40, 20, "car", 0)])
        return {"id": p.id, "task_ids": ids}

    def _ner_project(self) -> dict[str, Any]:
        p = self.ls.projects.create(title="accord ner", label_config=NER_CONFIG)
        ids = self._import(p.id, [{"text": t} for t in NER_TEXTS])
        for tid, text, per in zip(ids, NER_TEXTS, NER_SPANS, strict=True):
            for (uid, _), spans in zip(self.users, per, strict=False):
                self.ls.annotations.create(id=tid, completed_by=uid, lead_time=15.0,
                                           result=[_span(text, *s, k) for k, s in enumerate(spans)])
        return {"id": p.id, "task_ids": ids}

    def client(self) -> LabelStudioClient:
        return LabelStudioClient(self.url, self.token)


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if LS_BIN is None:  # the CI installs it with scripts/install_label_studio.sh
        pytest.skip("no Label Studio venv (run scripts/install_label_studio.sh)")
    pytest.importorskip("label_studio_sdk")
    server = ls_server.start_from_template(LS_BIN, tmp_path_factory.mktemp("ls"))
    try:
        yield Env(server)
    finally:
        server.stop()


def _pairs_share(labels: tuple[str, ...]) -> float:
    pairs = list(itertools.combinations(labels, 2))
    return sum(a == b for a, b in pairs) / len(pairs)


# --------------------------------------------------------------------------- reading


@pytest.mark.integration
def test_pull_counts_identities_gold_and_skips(env: Env) -> None:
    pulled = env.client().pull(env.text["id"])
    ds = pulled.dataset
    assert pulled.n_tasks == len(SENTIMENT)
    assert pulled.n_cancelled == 1
    assert pulled.n_ground_truth == len(GOLD_SENTIMENT)
    assert pulled.n_annotations == 3 * len(SENTIMENT) + len(GOLD_SENTIMENT) + 1
    # annotators appear by email; gold is the reference; the cancelled one has no records
    humans = {r.annotator_id for r in ds.records if r.source == "human"}
    assert humans == {e for _, e in env.users}
    refs = {(r.item_id, str(r.value.label)) for r in ds.records if r.source == "reference"}  # type: ignore[union-attr]
    assert refs == {(str(env.text["task_ids"][k]), lab) for k, lab in GOLD_SENTIMENT.items()}
    assert sum(s.was_cancelled for s in ds.submissions) == 1
    assert not any(r.annotator_id == env.admin_email and r.source == "human" for r in ds.records)
    # the unsupported DateTime control is reported, not fatal
    assert any("DateTime" in w or "when" in w for w in pulled.warnings), pulled.warnings
    assert "sentiment" in ds.schema.label_sets
    assert "when" not in ds.schema.label_sets


@pytest.mark.integration
def test_annotations_imported_with_tasks_are_not_all_gold(env: Env) -> None:
    # Label Studio 1.23 marks annotations imported together with tasks as ground_truth
    # (tasks/serializers.py: annotation.pop('ground_truth', True)); auto mode undoes that.
    p = env.ls.projects.create(title="accord imported", label_config=TEXT_CONFIG)
    rows = [{"data": {"text": f"x{k}"}, "annotations": [
        {"completed_by": uid, "lead_time": 2.0, "result": _choice(lab)}
        for (uid, _), lab in zip(env.users, labs, strict=True)]} for k, labs in enumerate(SENTIMENT[:3])]
    env.ls.projects.import_tasks(id=p.id, request=rows)
    c = env.client()
    auto = c.pull(p.id)
    assert any("marked ground_truth" in w for w in auto.warnings)
    assert {r.source for r in auto.dataset.records} == {"human"}
    assert auto.n_ground_truth == 0
    kept = c.pull(p.id, gold="ground-truth")
    assert {r.source for r in kept.dataset.records} == {"reference"}
    assert kept.n_ground_truth == 9


@pytest.mark.integration
def test_report_agreement_matches_krippendorff(env: Env) -> None:
    import krippendorff
    import numpy as np

    pulled = env.client().pull(env.text["id"])
    report = build_report(pulled.dataset, seed=0, checks=False)
    codes = {"pos": 0, "neg": 1, "neu": 2}
    matrix = np.array([[codes[row[a]] for row in SENTIMENT] for a in range(3)], dtype=float)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    got = report["agreement"]["sentiment"]["coefficients"]["krippendorff_alpha"]["estimate"]
    assert got == pytest.approx(expected, abs=1e-6)
    assert report["summary"]["cancelled_submissions"] == 1


@pytest.mark.integration
def test_pull_boxes_and_spans_convert_pixels(env: Env) -> None:
    c = env.client()
    boxes = c.pull(env.image["id"]).dataset
    b = next(r for r in boxes.records if r.source == "reference")
    assert (b.value.x, b.value.y, b.value.width, b.value.height) == pytest.approx((10, 10, 40, 20))  # type: ignore[union-attr]
    ner = c.pull(env.ner["id"]).dataset
    spans = sorted((r.value.start, r.value.end, r.value.label) for r in ner.records  # type: ignore[union-attr]
                   if r.annotator_id == env.users[0][1] and r.item_id == str(env.ner["task_ids"][1]))
    assert spans == [(0, 11, "PER"), (22, 36, "ORG")]


# --------------------------------------------------------------------------- writing


def _get(env: Env, path: str) -> Any:
    import httpx

    r = httpx.get(env.url + path, headers={"Authorization": f"Token {env.token}"}, timeout=30)
    r.raise_for_status()
    return r.json()


def _view_task_ids(env: Env, project: int, view_id: int, *, keep_order: bool = False) -> list[int]:
    out = _get(env, f"/api/tasks?view={view_id}&project={project}&page_size=1000")
    tasks = out["tasks"] if isinstance(out, dict) else out
    ids = [int(t["id"]) for t in tasks]
    return ids if keep_order else sorted(ids)


@pytest.mark.integration
def test_push_writes_fields_views_consensus_and_is_idempotent(env: Env) -> None:
    c = env.client()
    pid, tids = env.text["id"], env.text["task_ids"]
    env.ls.views.create(project=pid, data={"title": "someone's tab", "filters": {"conjunction": "and", "items": []}})
    pulled = c.pull(pid)
    report = build_report(pulled.dataset, seed=0, checks=False)
    plan = plan_writeback(pulled, report, run_id="r1", qa_fields=True, views=True, consensus=True,
                          existing_views=c.list_views(pid))
    res = apply_writeback(c, plan)
    assert res.counts["create_prediction"] == len(SENTIMENT)  # a consensus prediction per task, no empty QA one
    # independent: share of agreeing pairs per task; conflicts below the report's 0.667 or against gold
    expected_score = {tid: _pairs_share(SENTIMENT[k]) for k, tid in enumerate(tids)}
    preds = c.list_predictions(pid)
    assert not [p for p in preds if p["model_version"].startswith("accord-qa-")]
    thr = report["conflicts"]["threshold"]
    gold_bad = {tids[k] for k, g in GOLD_SENTIMENT.items() if any(x != g for x in SENTIMENT[k])}
    expected_conflicts = sorted({t for t, s in expected_score.items() if s < thr} | gold_bad)
    assert sorted(plan.conflict_task_ids) == expected_conflicts
    for t in tids:
        data = _get(env, f"/api/tasks/{t}")["data"]
        assert data["text"].startswith("review ")  # user data kept
        # numbers stay JSON numbers (so Data Manager number filters and sorting work)
        assert isinstance(data["accord_agreement"], float)
        assert data["accord_agreement"] == pytest.approx(expected_score[t], abs=1e-6)
        assert type(data["accord_conflicts"]) is int
        assert data["accord_conflicts"] == (1 if t in expected_conflicts else 0)
        assert type(data["accord_errors"]) is int
    # worst error: none where everybody agrees with the gold, some where annotator 2 contradicts it
    assert _get(env, f"/api/tasks/{tids[0]}")["data"]["accord_worst_error"] == ""
    assert _get(env, f"/api/tasks/{tids[2]}")["data"]["accord_worst_error"] != ""
    # views: ours filter exactly the conflict / sample tasks; the user's tab is untouched
    views = {v["data"]["title"]: v for v in c.list_views(pid)}
    assert _view_task_ids(env, pid, int(views[CONFLICT_VIEW]["id"])) == expected_conflicts
    # the conflicts tab lists the lowest agreement first (ties by task id), as Label Studio serves it
    by_agreement = sorted(expected_conflicts, key=lambda t: (expected_score[t], t))
    served = _view_task_ids(env, pid, int(views[CONFLICT_VIEW]["id"]), keep_order=True)
    assert [expected_score[t] for t in served] == [expected_score[t] for t in by_agreement]
    assert _view_task_ids(env, pid, int(views[SPOT_CHECK_VIEW]["id"])) == list(plan.spot_check_task_ids)
    assert views["someone's tab"]["data"]["filters"]["items"] == []
    # consensus = plain majority where one exists (Dawid-Skene agrees on this data)
    cons = {p["task"]: p["result"][0]["value"]["choices"][0] for p in preds if p["model_version"] == CONSENSUS_VERSION}
    for k, tid in enumerate(tids):
        top = Counter(SENTIMENT[k]).most_common()
        if top[0][1] >= 2:
            assert cons[tid] == top[0][0]
    # each consensus prediction carries the task's agreement as its score
    scores = {p["task"]: p["score"] for p in preds if p["model_version"] == CONSENSUS_VERSION}
    assert scores == pytest.approx(expected_score, abs=1e-6)
    assert any(p["model_version"] == "their-model" for p in preds)
    # a rerun with the same run id writes nothing
    pulled2 = c.pull(pid)
    plan2 = plan_writeback(pulled2, build_report(pulled2.dataset, seed=0, checks=False), run_id="r1",
                           qa_fields=True, views=True, consensus=True, existing_views=c.list_views(pid))
    assert plan2.actions == (), [a.description for a in plan2.actions]
    # an opt-in QA prediction, with a new run id, touches our own QA predictions only
    plan3 = plan_writeback(pulled2, build_report(pulled2.dataset, seed=0, checks=False), run_id="r2",
                           qa_fields=True, qa_prediction=True)
    apply_writeback(c, plan3)
    versions = Counter(p["model_version"] for p in c.list_predictions(pid))
    assert versions["accord-qa-r1"] == 0
    assert versions["accord-qa-r2"] == len(SENTIMENT)
    assert versions["their-model"] == 1
    assert versions[CONSENSUS_VERSION] == len(SENTIMENT)
    assert sum(1 for v in c.list_views(pid) if v["data"]["title"] == CONFLICT_VIEW) == 1


@pytest.mark.integration
def test_box_and_span_consensus_predictions(env: Env) -> None:
    c = env.client()
    pulled = c.pull(env.image["id"])
    plan = plan_writeback(pulled, build_report(pulled.dataset, seed=0, checks=False), run_id="b1", consensus=True)
    apply_writeback(c, plan)
    preds = {p["task"]: p for p in c.list_predictions(env.image["id"]) if p["model_version"] == CONSENSUS_VERSION}
    # task 0: two matching cars -> their mean box, in percent
    r = preds[env.image["task_ids"][0]]["result"]
    assert len(r) == 1
    v = r[0]["value"]
    assert (v["x"], v["y"], v["width"], v["height"]) == pytest.approx(
        (100 * 11 / W, 100 * 10 / H, 100 * 40 / W, 100 * 20 / H), abs=1e-6)
    assert v["rectanglelabels"] == ["car"]
    # task 2: no overlap -> no majority region
    assert preds.get(env.image["task_ids"][2], {"result": []})["result"] == []
    pulled = c.pull(env.ner["id"])
    apply_writeback(c, plan_writeback(pulled, build_report(pulled.dataset, seed=0, checks=False), run_id="n1",
                                      consensus=True))
    preds = {p["task"]: p for p in c.list_predictions(env.ner["id"]) if p["model_version"] == CONSENSUS_VERSION}
    got = sorted((x["value"]["start"], x["value"]["end"], x["value"]["labels"][0])
                 for x in preds[env.ner["task_ids"][1]]["result"])
    assert got == [(0, 11, "PER")]  # only the span both annotators marked


@pytest.mark.integration
def test_select_model_version_makes_score_sortable(env: Env) -> None:
    c = env.client()
    pid, tids = env.ner["id"], env.ner["task_ids"]
    pulled = c.pull(pid)
    plan = plan_writeback(pulled, build_report(pulled.dataset, seed=0, checks=False), run_id="mv1",
                          consensus=True, select_model_version=True)
    assert [a.kind for a in plan.actions].count("set_model_version") == 1
    apply_writeback(c, plan)
    # the consensus prediction carries the score: no empty QA prediction is needed to sort by agreement
    assert c.project(pid)["model_version"] == CONSENSUS_VERSION
    assert not [p for p in c.list_predictions(pid) if p["model_version"].startswith("accord-qa-")]
    # independent: mean pairwise matched F1 per task (one pair): task 0 2/2 matched, task 1 1 of 2+1
    expected = {tids[0]: 1.0, tids[1]: 2 * 1 / (2 + 1)}
    out = _get(env, f"/api/tasks?project={pid}&fields=all&page_size=100")
    tasks = out["tasks"] if isinstance(out, dict) else out
    got = {int(t["id"]): t.get("predictions_score") for t in tasks}
    assert got == pytest.approx(expected, abs=1e-6)


# Agreement per task (share of agreeing pairs): 1, 0, 1/3, undefined (one annotator), 1, 2/3... as below.
FILTER_SENTIMENT = [("pos", "pos", "pos"), ("pos", "neg", "neu"), ("pos", "pos", "neg"), ("neg",), ("neg", "neg")]
AGREEMENT_BELOW_HALF = {"conjunction": "and", "items": [
    {"filter": "filter:tasks:data.accord_agreement", "operator": "less", "type": "Number", "value": 0.5}]}


@pytest.fixture(scope="session")
def filter_project(env: Env) -> dict[str, Any]:
    """A project whose pushed QA fields a Data Manager filter 'agreement < 0.5' is applied to."""
    p = env.ls.projects.create(title="accord filter", label_config=TEXT_CONFIG)
    ids = env._import(p.id, [{"text": f"filter {k}"} for k in range(len(FILTER_SENTIMENT))])
    for tid, labs in zip(ids, FILTER_SENTIMENT, strict=True):
        for (uid, _), lab in zip(env.users, labs, strict=False):
            env.ls.annotations.create(id=tid, result=_choice(lab), completed_by=uid, lead_time=3.0)
    c = env.client()
    pulled = c.pull(p.id)
    plan = plan_writeback(pulled, build_report(pulled.dataset, seed=0, checks=False), run_id="f1",
                          qa_fields=True, views=True, existing_views=c.list_views(p.id))
    apply_writeback(c, plan)
    noisy = ["inner_id", "completed_at", "cancelled_annotations", "total_predictions", "annotators",
             "annotations_results", "annotations_ids", "predictions_score", "predictions_model_versions",
             "predictions_results", "file_upload", "storage_filename", "created_at", "updated_at", "updated_by",
             "avg_lead_time", "draft_exists", "reviewers", "comments", "unresolved_comment_count",
             "last_comment_updated_at", "ground_truth"]
    view = env.ls.views.create(project=p.id, data={
        "title": "agreement < 0.5", "filters": AGREEMENT_BELOW_HALF,
        "columnsDisplayType": {f"tasks:data.{k}": "Number" for k in NUMBER_KEYS},
        "hiddenColumns": {"explore": [f"tasks:{c}" for c in noisy], "labeling": []}})
    return {"id": p.id, "task_ids": ids, "view_id": view.id}


@pytest.mark.integration
def test_data_manager_number_filter_on_agreement(env: Env, filter_project: dict[str, Any]) -> None:
    """Label Studio's own filter "accord_agreement < 0.5" (type Number) returns exactly the tasks whose
    agreement is below 0.5; a task with one annotator (agreement undefined) has no value, so no filter
    catches it (Label Studio counts a JSON null as 0 here)."""
    pid, ids = filter_project["id"], filter_project["task_ids"]
    expected = sorted(t for t, labs in zip(ids, FILTER_SENTIMENT, strict=True)
                      if len(labs) >= 2 and _pairs_share(labs) < 0.5)
    assert len(expected) == 2  # the hand-made data: 0 and 1/3
    assert _view_task_ids(env, pid, filter_project["view_id"]) == expected
    undefined = ids[3]
    assert "accord_agreement" not in _get(env, f"/api/tasks/{undefined}")["data"]
    # "greater or equal" is the complement among tasks that have a value
    view = env.ls.views.create(project=pid, data={"title": "agreement >= 0.5", "filters": {
        "conjunction": "and", "items": [{**AGREEMENT_BELOW_HALF["items"][0], "operator": "greater_or_equal"}]}})
    assert _view_task_ids(env, pid, view.id) == sorted(set(ids) - set(expected) - {undefined})
    # accord's own tabs declare the numeric columns Number
    ours = {v["data"]["title"]: v["data"] for v in env.client().list_views(pid)}
    assert ours[CONFLICT_VIEW]["columnsDisplayType"]["tasks:data.accord_agreement"] == "Number"
    assert ours[CONFLICT_VIEW]["ordering"] == ["tasks:data.accord_agreement"]


@pytest.mark.integration
def test_pull_deletes_its_export_snapshot(env: Env) -> None:
    pid = env.image["id"]
    before = [e.id for e in env.ls.projects.exports.list(id=pid)]
    env.client().pull(pid)
    env.client().pull(pid)
    assert [e.id for e in env.ls.projects.exports.list(id=pid)] == before


# --------------------------------------------------------------------------- errors and CLI


def _accord(*args: str, env_vars: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    e = {**os.environ, **(env_vars or {})}
    return subprocess.run([sys.executable, "-m", "accord", *args], capture_output=True, text=True, env=e,
                          timeout=120, check=False)


@pytest.mark.integration
def test_errors_are_one_line_and_say_what_to_do(env: Env) -> None:
    with pytest.raises(LabelStudioError, match="refused the API key"):
        LabelStudioClient(env.url, "not-a-valid-token").project(env.text["id"])
    with pytest.raises(LabelStudioError, match="project 99999 was not found"):
        env.client().project(99999)
    dead = f"http://127.0.0.1:{ls_server.free_port()}"
    with pytest.raises(LabelStudioError, match="cannot reach Label Studio"):
        LabelStudioClient(dead, "x", timeout_s=5).project(1)
    with pytest.raises(LabelStudioError, match="LABEL_STUDIO_API_KEY"):
        LabelStudioClient(env.url, "", sdk=object())
    p = _accord("label-studio", "report", "--url", env.url, "--project", "99999",
                env_vars={"LABEL_STUDIO_API_KEY": env.token})
    assert p.returncode == 2
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("accord:")]
    assert len(lines) == 1
    assert "not found" in lines[0]
    assert "Traceback" not in p.stderr


@pytest.mark.integration
def test_personal_access_token_works(env: Env) -> None:
    import httpx

    r = httpx.post(env.url + "/api/token/", headers={"Authorization": f"Token {env.token}"}, timeout=30)
    if r.status_code >= 400:
        pytest.skip(f"this server does not issue personal access tokens ({r.status_code})")
    pat = r.json().get("token") or r.json().get("refresh")
    assert pat
    assert pat.count(".") == 2
    assert LabelStudioClient(env.url, pat).project(env.text["id"])["id"] == env.text["id"]


@pytest.mark.integration
def test_cli_report_and_push_dry_run(env: Env, tmp_path: Path) -> None:
    pid = env.ner["id"]
    out = tmp_path / "r.json"
    p = _accord("-q", "label-studio", "report", "--url", env.url, "--project", str(pid), "--json", str(out),
                env_vars={"LABEL_STUDIO_API_KEY": env.token})
    assert p.returncode == 0, p.stderr
    rep = json.loads(out.read_text())
    assert rep["source"]["project_id"] == pid
    assert rep["summary"]["n_items"] == len(NER_TEXTS)
    before = env.client().list_predictions(pid)
    p = _accord("-q", "label-studio", "push", "--url", env.url, "--api-key", env.token, "--project", str(pid),
                "--run-id", "dry", "--qa-fields", "--views", "--dry-run")
    assert p.returncode == 0, p.stderr
    assert "dry run (run id dry): would write" in p.stdout
    assert "'accord_run': 'dry'" in p.stdout
    assert env.client().list_predictions(pid) == before
    assert not any(v["data"]["title"].startswith("accord:") for v in env.client().list_views(pid))
    # a real push, then a rerun that finds nothing to do
    args = ("label-studio", "push", "--url", env.url, "--api-key", env.token, "--project", str(pid),
            "--run-id", "cli", "--qa-fields", "--qa-prediction", "--views", "--consensus", "--spot-check-size", "1",
            "-q")  # -q after the subcommand works too
    p = _accord(*args)
    assert p.returncode == 0, p.stderr
    assert "wrote (run id cli)" in p.stdout
    assert "accord: conflicts" in p.stdout
    assert "1 spot-check task(s)" in p.stdout
    versions = Counter(x["model_version"] for x in env.client().list_predictions(pid))
    assert versions["accord-qa-cli"] == len(NER_TEXTS)
    # no export snapshot is left behind by the pulls (report, dry run, push)
    assert env.ls.projects.exports.list(id=pid) == []
    p = _accord(*args, "--dry-run")
    assert "would write nothing (up to date)" in p.stdout, p.stdout
    p = _accord("label-studio", "push", "--url", env.url, "--api-key", env.token, "--project", str(pid))
    assert p.returncode == 2
    assert "nothing to write" in p.stderr
    p = _accord("label-studio", "push", "--url", env.url, "--api-key", env.token, "--project", str(pid),
                "--select-model-version")
    assert p.returncode == 2
    assert "needs --consensus or --qa-prediction" in p.stderr


# --------------------------------------------------------------------------- the Data Manager in a browser


@pytest.mark.integration
def test_data_manager_shows_conflict_tab(env: Env) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no chromium")
    pytest.importorskip("websockets")
    from ls_browser import screenshot_data_manager

    c = env.client()
    pid = env.text["id"]
    views = {v["data"]["title"]: v for v in c.list_views(pid)}
    if CONFLICT_VIEW not in views:
        pulled = c.pull(pid)
        apply_writeback(c, plan_writeback(pulled, build_report(pulled.dataset, checks=False), run_id="ui",
                                          views=True, existing_views=c.list_views(pid)))
        views = {v["data"]["title"]: v for v in c.list_views(pid)}
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "label_studio_conflicts_tab.png"
    text = screenshot_data_manager(chromium, env.url, ls_server.ADMIN_EMAIL, ls_server.ADMIN_PASSWORD,
                                   f"/projects/{pid}/data?tab={views[CONFLICT_VIEW]['id']}", shot)
    assert shot.is_file()
    assert shot.stat().st_size > 10_000
    assert CONFLICT_VIEW in text
    # the footer counts the tab's tasks: exactly the conflict queue
    n_conflicts = len(_view_task_ids(env, pid, int(views[CONFLICT_VIEW]["id"])))
    assert n_conflicts > 0
    assert re.search(rf"Tasks:\s*{n_conflicts}\s*/\s*{len(SENTIMENT)}", text), text[-500:]


@pytest.mark.integration
def test_data_manager_filter_in_the_browser(env: Env, filter_project: dict[str, Any]) -> None:
    """The 'agreement < 0.5' tab in the real Data Manager shows 2 of the 5 tasks (screenshot kept)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no chromium")
    pytest.importorskip("websockets")
    from ls_browser import screenshot_data_manager

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "label_studio_agreement_filter.png"
    pid = filter_project["id"]
    text = screenshot_data_manager(chromium, env.url, ls_server.ADMIN_EMAIL, ls_server.ADMIN_PASSWORD,
                                   f"/projects/{pid}/data?tab={filter_project['view_id']}", shot,
                                   wait_for="agreement < 0.5")
    assert shot.stat().st_size > 10_000
    assert re.search(rf"Tasks:\s*2\s*/\s*{len(FILTER_SENTIMENT)}", text), text[-500:]
    assert "0.333" in text  # accord_agreement (shown to 3 places) of the task where 1 of 3 pairs agrees


# --------------------------------------------------------------------------- without a server


def _offline_pulled(tasks: list[dict[str, Any]]) -> Any:
    from accord.plugins.label_studio.client import PulledProject
    from accord.plugins.label_studio.convert import from_label_studio_export

    ds = from_label_studio_export(tasks, TEXT_CONFIG)
    return PulledProject(url="http://x", project_id=1, title="t", label_config=TEXT_CONFIG, tasks=tasks,
                         dataset=ds, warnings=(), n_tasks=len(tasks), n_annotations=0, n_cancelled=0,
                         n_ground_truth=0, n_predictions=0, model_version=None)


def _offline_tasks() -> list[dict[str, Any]]:
    tasks = []
    for k, labs in enumerate(SENTIMENT[:4]):
        anns = [{"id": 10 * k + a, "completed_by": {"id": a, "email": f"u{a}@x"}, "result": _choice(lab),
                 "lead_time": 5.0} for a, lab in enumerate(labs)]
        tasks.append({"id": k + 1, "data": {"text": f"t{k}", "mine": k}, "annotations": anns, "predictions": []})
    return tasks


@pytest.mark.filterwarnings("ignore")
def test_plan_is_idempotent_and_only_replaces_its_own() -> None:
    tasks = _offline_tasks()
    pulled = _offline_pulled(tasks)
    report = build_report(pulled.dataset, checks=False)
    plan = plan_writeback(pulled, report, run_id="r1", qa_fields=True, qa_prediction=True)
    assert [a.kind for a in plan.actions].count("create_prediction") == 4
    # the user's data keys survive in the merged payload
    upd = next(a for a in plan.actions if a.kind == "update_task_data" and a.target == 1)
    assert upd.payload["mine"] == 0
    assert upd.payload["text"] == "t0"
    # simulate the server after applying: then nothing is left to do
    for t in tasks:
        q = next(x for x in plan.qa if x.task_id == t["id"])
        t["predictions"] = [{"id": 100 + t["id"], "model_version": "accord-qa-r1", "result": [],
                             "score": q.agreement_score},
                            {"id": 200 + t["id"], "model_version": "their-model", "result": [], "score": 0.1}]
        t["data"] = next(a.payload for a in plan.actions if a.kind == "update_task_data" and a.target == t["id"])
    again = plan_writeback(_offline_pulled(tasks), report, run_id="r1", qa_fields=True, qa_prediction=True)
    assert again.actions == ()
    # a new run id deletes exactly our old predictions
    new = plan_writeback(_offline_pulled(tasks), report, run_id="r2", qa_fields=True, qa_prediction=True)
    assert sorted(a.target for a in new.actions if a.kind == "delete_prediction") == [101, 102, 103, 104]
    # without --qa-prediction our old empty predictions go (they showed as a tab of their own) and none is made
    fields_only = plan_writeback(_offline_pulled(tasks), report, run_id="r1", qa_fields=True)
    assert sorted(a.target for a in fields_only.actions if a.kind == "delete_prediction") == [101, 102, 103, 104]
    assert not [a for a in fields_only.actions if a.kind == "create_prediction"]


def test_agreement_scores_are_shares_of_agreeing_pairs() -> None:
    # hand count: (pos,pos,pos) 3/3, (neg,neg,neg) 3/3, (pos,neg,pos) 1/3, (neu,neu,pos) 1/3
    pulled = _offline_pulled(_offline_tasks())
    plan = plan_writeback(pulled, build_report(pulled.dataset, checks=False), run_id="x")
    assert [q.agreement_score for q in plan.qa] == pytest.approx([1.0, 1.0, 1 / 3, 1 / 3])
    assert plan.conflict_task_ids == (3, 4)
    # the report's own per-item scores win when it has them
    from accord.plugins.label_studio.writeback import task_qa

    qa = task_qa(pulled.dataset, {"item_scores": {"sentiment": {"1": 0.25}}})
    assert qa[1].agreement_score == 0.25
    assert qa[2].agreement_score is None


def test_view_filters_and_spot_check_sample() -> None:
    from accord.plugins.label_studio.writeback import spot_check_sample, view_filters

    assert [i["value"] for i in view_filters([3, 1, 3])["items"]] == [1, 3]
    assert [i["value"] for i in view_filters([])["items"]] == [0]  # selects nothing, never everything
    s = spot_check_sample({}, list(range(1, 101)), seed=3)
    assert len(s) == 10  # ceil(sqrt(100)) without an acceptance plan
    assert s == spot_check_sample({}, list(range(1, 101)), seed=3)
    assert spot_check_sample({"sampling": {"spot_check": {"item_ids": ["7", "2"]}}}, [1, 2, 7]) == [2, 7]
    rep = {"sampling": {"spot_check": {"items": [{"item_id": "7", "annotator_id": "a"},
                                                 {"item_id": "7", "annotator_id": "b"}]}}}
    picked = spot_check_sample(rep, [1, 2, 7])  # ceil(sqrt(3)) = 2: the report's task first, topped up
    assert len(picked) == 2
    assert 7 in picked
    assert spot_check_sample(rep, [1, 2, 7], size=1) == [7]
    with pytest.raises(ValueError, match="at least 1"):
        spot_check_sample(rep, [1, 2, 7], size=0)


def test_bad_inputs_raise_with_a_fix() -> None:
    with pytest.raises(LabelStudioError, match="http://localhost:8080"):
        LabelStudioClient("localhost:8080", "k", sdk=object())
    pulled = _offline_pulled(_offline_tasks())
    with pytest.raises(ValueError, match="run id"):
        plan_writeback(pulled, {}, run_id="a b")


def test_update_tasks_overlaps_requests_and_reports_the_first_failure() -> None:
    """Task-data updates go several at a time; every one is attempted, the first error raised."""
    import threading
    import time

    class Tasks:
        def __init__(self) -> None:
            self.seen: list[str] = []
            self.active = self.peak = 0
            self.lock = threading.Lock()

        def update(self, id: str, data: dict[str, Any]) -> None:
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(0.02)
            with self.lock:
                self.active -= 1
                self.seen.append(id)
            if data.get("fail"):
                raise ValueError("boom")

    class Sdk:
        tasks = Tasks()

    client = LabelStudioClient("http://localhost:1", "k", sdk=Sdk())
    assert client.update_tasks([(i, {"x": i}) for i in range(16)], max_workers=4) == 16
    assert sorted(map(int, Sdk.tasks.seen)) == list(range(16))
    assert Sdk.tasks.peak > 1
    Sdk.tasks.seen.clear()
    with pytest.raises(LabelStudioError, match="update task 3"):
        client.update_tasks([(i, {"fail": i == 3}) for i in range(8)], max_workers=4)
    assert len(Sdk.tasks.seen) == 8


def _one_annotator_tasks() -> list[dict[str, Any]]:
    tasks = _offline_tasks()
    tasks.append({"id": 5, "data": {"text": "alone", "accord_agreement": None}, "predictions": [],
                  "annotations": [{"id": 99, "completed_by": {"id": 0, "email": "u0@x"}, "result": _choice("pos")}]})
    return tasks


@pytest.mark.filterwarnings("ignore")
def test_qa_fields_are_typed_numbers_and_undefined_agreement_is_absent() -> None:
    """Numbers go out as JSON numbers; an undefined agreement is left out (Label Studio reads a JSON null
    as 0 in a number filter, so 'agreement < 0.5' would catch every single-annotator task)."""
    tasks = _one_annotator_tasks()
    tasks[0]["data"].update(accord_agreement="1.0", accord_conflicts="0")  # strings from somewhere else
    pulled = _offline_pulled(tasks)
    plan = plan_writeback(pulled, build_report(pulled.dataset, checks=False), run_id="r1", qa_fields=True)
    data = {a.target: a.payload for a in plan.actions if a.kind == "update_task_data"}
    assert set(data) == {1, 2, 3, 4, 5}  # task 1 too: its strings are replaced by numbers
    assert data[1]["accord_agreement"] == 1.0
    assert isinstance(data[1]["accord_agreement"], float)
    assert data[1]["accord_conflicts"] == 0
    assert type(data[1]["accord_conflicts"]) is int
    assert type(data[3]["accord_errors"]) is int
    assert "accord_agreement" not in data[5]
    assert data[5]["text"] == "alone"


@pytest.mark.filterwarnings("ignore")
def test_consensus_predictions_carry_the_agreement_and_tabs_sort_by_it() -> None:
    pulled = _offline_pulled(_offline_tasks())
    plan = plan_writeback(pulled, build_report(pulled.dataset, checks=False), run_id="r1", consensus=True,
                          views=True, select_model_version=True)
    # hand count as in test_agreement_scores_are_shares_of_agreeing_pairs
    scores = {a.target: a.payload["score"] for a in plan.actions if a.kind == "create_prediction"}
    assert scores == pytest.approx({1: 1.0, 2: 1.0, 3: 1 / 3, 4: 1 / 3})
    assert not [a for a in plan.actions if a.kind == "create_prediction"
                and a.payload["model_version"].startswith("accord-qa-")]
    sel = next(a for a in plan.actions if a.kind == "set_model_version")
    assert sel.payload == {"model_version": CONSENSUS_VERSION}
    view = next(a.payload for a in plan.actions if a.kind == "create_view" and a.payload["title"] == CONFLICT_VIEW)
    assert view["ordering"] == ["tasks:data.accord_agreement"]
    assert view["columnsDisplayType"]["tasks:data.accord_agreement"] == "Number"
    from accord.plugins.label_studio.writeback import WritebackError

    with pytest.raises(WritebackError, match="--consensus"):
        plan_writeback(pulled, {}, run_id="x", qa_fields=True, select_model_version=True)


def test_conflicts_are_ordered_lowest_agreement_first() -> None:
    from accord.plugins.label_studio.writeback import task_qa

    tasks = _offline_tasks()
    pulled = _offline_pulled(tasks)
    report = {"item_scores": {"sentiment": {"1": 0.9, "2": 0.2, "3": 0.5, "4": 0.2}},
              "conflicts": {"items": [{"item_id": i} for i in ("1", "2", "3", "4")]}}
    assert task_qa(pulled.dataset, report)[2].agreement_score == 0.2
    plan = plan_writeback(pulled, report, run_id="o")
    assert plan.conflict_task_ids == (2, 4, 3, 1)


def test_spot_check_is_a_small_sample_of_a_200_task_project() -> None:
    """With the report's ISO 2859-1 plan (200 tasks, level II, AQL 2.5: n = 32, Table II-A letter G) the
    tab holds 32 tasks, drawn from the report's stratified sample, not the 170 that sample covers."""
    from accord.core.qa.acceptance import single_sampling_plan
    from accord.plugins.label_studio.writeback import default_spot_check_size

    plan = single_sampling_plan(200, 2.5)
    assert plan.sample_size == 32
    report = {"sampling": {"spot_check": {"items": [{"item_id": str(i)} for i in range(1, 171)]},
                           "acceptance": {"plan": plan.to_dict(), "level": "II", "aql": 2.5}}}
    tasks = list(range(1, 201))
    picked = spot_check_sample(report, tasks, seed=1)
    assert len(picked) == 32
    assert set(picked) <= set(range(1, 171))
    assert picked == spot_check_sample(report, tasks, seed=1)
    assert picked != spot_check_sample(report, tasks, seed=2)
    assert len(spot_check_sample(report, tasks, size=12)) == 12
    assert len(spot_check_sample(report, tasks, size=500)) == 200
    assert default_spot_check_size(report, 200)[0] == 32
    assert "AQL 2.5" in default_spot_check_size(report, 200)[1]


def test_export_snapshot_is_deleted_after_download_and_after_failure() -> None:
    class Exports:
        def __init__(self, status: str, body: bytes = b"[]") -> None:
            self.status, self.body, self.deleted = status, body, []

        def create(self, **kw: Any) -> dict[str, Any]:
            return {"id": 7}

        def get(self, **kw: Any) -> dict[str, Any]:
            return {"id": 7, "status": self.status}

        def download(self, **kw: Any) -> Iterator[bytes]:
            yield self.body

        def delete(self, id: int, export_pk: int) -> None:
            self.deleted.append((id, export_pk))

    class Projects:
        def __init__(self, exports: Exports) -> None:
            self.exports = exports

    class Sdk:
        def __init__(self, exports: Exports) -> None:
            self.projects = Projects(exports)

    ok = Exports("completed", b'[{"id": 1, "data": {}}]')
    assert LabelStudioClient("http://x", "k", sdk=Sdk(ok)).export_snapshot(3) == [{"id": 1, "data": {}}]
    assert ok.deleted == [(3, 7)]
    failed = Exports("failed")
    with pytest.raises(LabelStudioError, match="failed on the server"):
        LabelStudioClient("http://x", "k", sdk=Sdk(failed)).export_snapshot(3)
    assert failed.deleted == [(3, 7)]
