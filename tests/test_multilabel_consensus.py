"""Binary-relevance consensus for multi-select classes (issue 20): a hand case, a differential test
of the per-label Dawid-Skene against crowd-kit, and the report's ``consensus.<set>`` on a real
Label Studio export (``Choices choice="multiple"``)."""

from __future__ import annotations

import json
import warnings
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene

from accord.core.errors import InvalidAnnotationError
from accord.core.qa.multilabel_consensus import multilabel_consensus
from accord.core.qa.report import ReportConfig, build_report
from accord.report_html import render_html

# Five items, three annotators (c did not do items 4 and 5):
#   item 1: a {politics, sports}  b {politics}        c {politics, tech}
#   item 2: a {sports}            b {sports, tech}    c {tech}
#   item 3: a {}                  b {}                c {politics}
#   item 4: a {tech}              b {tech}
#   item 5: a {sports}            b {}
HAND_ITEMS = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 5]
HAND_ANNS = ["a", "b", "c"] * 3 + ["a", "b", "a", "b"]
HAND_SETS: list[set[str]] = [{"politics", "sports"}, {"politics"}, {"politics", "tech"},
                             {"sports"}, {"sports", "tech"}, {"tech"},
                             set(), set(), {"politics"},
                             {"tech"}, {"tech"},
                             {"sports"}, set()]


def test_majority_binary_relevance_by_hand() -> None:
    r = multilabel_consensus(HAND_ITEMS, HAND_ANNS, HAND_SETS, labels=["politics", "sports", "tech"],
                             method="majority_vote")
    # Share choosing each label (politics, sports, tech):
    #   item 1: 3/3, 1/3, 1/3 -> {politics}     item 2: 0, 2/3, 2/3 -> {sports, tech}
    #   item 3: 1/3, 0, 0     -> {}             item 4: 0, 0, 2/2   -> {tech}
    #   item 5: 0, 1/2, 0     -> {} (a 1-1 tie is absent)
    assert r.sets() == {"1": ("politics",), "2": ("sports", "tech"), "3": (), "4": ("tech",), "5": ()}
    assert r.posterior[:, 1].tolist() == pytest.approx([1 / 3, 2 / 3, 0, 0, 1 / 2])
    # prevalence: politics 1/5, sports 1/5, tech 2/5
    assert r.prevalence.tolist() == pytest.approx([0.2, 0.2, 0.4])
    # agreement with the consensus, per annotator and label (present/absent over their submissions):
    #   a (items 1-5): politics chose [1,0,0,0,0] vs [1,0,0,0,0] -> 5/5; sports [1,1,0,0,1] vs
    #     [0,1,0,0,0] -> 3/5; tech [0,0,0,1,0] vs [0,1,0,1,0] -> 4/5
    #   b (items 1-5): politics [1,0,0,0,0], sports [0,1,0,0,0], tech [0,1,0,1,0] -> 5/5 each
    #   c (items 1-3): politics [1,0,1] vs [1,0,0], sports [0,0,0] vs [0,1,0], tech [1,1,0] vs [0,1,0] -> 2/3 each
    assert r.annotator_ids.tolist() == ["a", "b", "c"]
    assert r.n_judged.tolist() == [5, 5, 3]
    assert r.n_agree.tolist() == [[5, 3, 4], [5, 5, 5], [2, 2, 2]]
    assert r.agreement_score[0].tolist() == pytest.approx([1.0, 0.6, 0.8])


def test_labels_order_and_union_of_repeated_submissions() -> None:
    # The same annotator twice on one item: the union of the two answers; an unlisted label is added after.
    r = multilabel_consensus(["t", "t", "t"], ["a", "a", "b"], [{"x"}, {"y"}, {"x", "z"}], labels=["y", "x"],
                             method="majority_vote")
    assert r.labels == ("y", "x", "z")
    assert r.n_judged.tolist() == [1, 1]
    # a = {x, y}, b = {x, z}: x 2/2 present, y and z 1/2 absent
    assert r.sets() == {"t": ("x",)}


def test_bad_inputs() -> None:
    with pytest.raises(InvalidAnnotationError, match="unknown multi-label consensus method 'glad'"):
        multilabel_consensus([1], ["a"], [{"x"}], method="glad")  # type: ignore[arg-type]
    with pytest.raises(InvalidAnnotationError, match="one entry per submission"):
        multilabel_consensus([1, 2], ["a"], [{"x"}])
    with pytest.raises(InvalidAnnotationError, match="no submissions"):
        multilabel_consensus([], [], [])


def _simulate(seed: int, n: int = 150, n_ann: int = 6) -> tuple[list[int], list[int], list[set[str]]]:
    rng = np.random.default_rng(seed)
    labels = ["a", "b", "c", "d"]
    prevalence = np.array([0.5, 0.3, 0.15, 0.05])
    sens = rng.uniform(0.6, 0.98, (n_ann, len(labels)))
    spec = rng.uniform(0.8, 0.99, (n_ann, len(labels)))
    items, anns, sets = [], [], []
    for i in range(n):
        truth = rng.random(len(labels)) < prevalence
        for a in rng.choice(n_ann, 4, replace=False):
            p = np.where(truth, sens[a], 1 - spec[a])
            items.append(i)
            anns.append(int(a))
            sets.append({lab for lab, on in zip(labels, rng.random(len(labels)) < p, strict=True) if on})
    return items, anns, sets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_label_dawid_skene_matches_crowdkit(seed: int) -> None:
    items, anns, sets = _simulate(seed)
    r = multilabel_consensus(items, anns, sets, labels=["a", "b", "c", "d"])
    assert r.method == "dawid_skene"
    for j, lab in enumerate(r.labels):
        df = pd.DataFrame({"task": items, "worker": anns, "label": [int(lab in s) for s in sets]})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ck = DawidSkene(n_iter=100, tol=1e-5).fit(df)
        p1 = ck.probas_.reindex(columns=[0, 1], fill_value=0.0).loc[list(range(150)), 1].to_numpy()
        np.testing.assert_allclose(r.posterior[:, j], p1, atol=1e-6)
        want = ck.labels_.loc[list(range(150))].to_numpy() == 1
        close = np.abs(p1 - 0.5) < 1e-9  # crowd-kit's argmax picks the first class on an exact tie
        assert (r.present[:, j] == want)[~close].all()


def test_dawid_skene_beats_majority_against_the_truth() -> None:
    # Simulated truth: the per-label EM recovers more of it than the per-label majority.
    rng = np.random.default_rng(7)
    n, n_ann = 400, 7
    truth = rng.random((n, 3)) < [0.4, 0.2, 0.1]
    sens = np.array([0.95, 0.9, 0.9, 0.4, 0.35, 0.3, 0.3])  # four careless annotators who miss labels
    items, anns, sets = [], [], []
    for i in range(n):
        for a in rng.choice(n_ann, 5, replace=False):
            p = np.where(truth[i], sens[a], 0.02)
            items.append(i)
            anns.append(int(a))
            sets.append({lab for lab, on in zip("xyz", rng.random(3) < p, strict=True) if on})
    ds = multilabel_consensus(items, anns, sets, labels=list("xyz"))
    mv = multilabel_consensus(items, anns, sets, labels=list("xyz"), method="majority_vote")
    acc_ds = float((ds.present == truth).mean())
    acc_mv = float((mv.present == truth).mean())
    assert acc_ds > acc_mv + 0.02
    assert acc_ds > 0.95


# --------------------------------------------------------------------------- the report

_MULTI_XML = ('<View><Text name="text" value="$text"/><Choices name="topics" toName="text" choice="multiple">'
              '<Choice value="politics"/><Choice value="sports"/><Choice value="tech"/></Choices></View>')


def _task(tid: int, picks: dict[str, list[str]]) -> dict[str, Any]:
    return {"id": tid, "data": {"text": f"t{tid}"}, "annotations": [
        {"id": tid * 10 + k, "completed_by": {"id": k + 2, "email": who},
         "result": [{"from_name": "topics", "to_name": "text", "type": "choices", "value": {"choices": labs}}]
         if labs else []}
        for k, (who, labs) in enumerate(picks.items())]}


def _hand_export() -> list[dict[str, Any]]:
    by_item: dict[int, dict[str, list[str]]] = {}
    for i, a, s in zip(HAND_ITEMS, HAND_ANNS, HAND_SETS, strict=True):
        by_item.setdefault(i, {})[f"{a}@x"] = sorted(s)
    return [_task(i, picks) for i, picks in sorted(by_item.items())]


@pytest.mark.parametrize("method", ["majority_vote", "dawid_skene"])
def test_report_consensus_section_for_a_multi_select_label_set(method: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from accord.plugins.label_studio.convert import from_label_studio_export

    ds = from_label_studio_export(_hand_export(), _MULTI_XML)
    rep = build_report(ds, config=ReportConfig(n_bootstrap=20, consensus_method=method), checks=False)  # type: ignore[arg-type]
    c = rep["consensus"]["topics"]
    assert c["method"] == method
    assert "binary relevance" in c["strategy"]
    assert c["n_items"] == 5
    assert list(c["per_label"]) == ["politics", "sports", "tech"]  # the labeling config's order
    ours = multilabel_consensus([f"{i}" for i in HAND_ITEMS], [f"{a}@x" for a in HAND_ANNS], HAND_SETS,
                                labels=["politics", "sports", "tech"], method=method)  # type: ignore[arg-type]
    assert c["labels"] == {i: list(s) for i, s in ours.sets().items()}
    for j, lab in enumerate(ours.labels):
        assert c["per_label"][lab]["prevalence"] == pytest.approx(ours.prevalence[j])
    if method == "majority_vote":  # the hand case above
        assert c["labels"] == {"1": ["politics"], "2": ["sports", "tech"], "3": [], "4": ["tech"], "5": []}
        assert {lab: v["prevalence"] for lab, v in c["per_label"].items()} == pytest.approx(
            {"politics": 0.2, "sports": 0.2, "tech": 0.4})
        a = c["annotator_agreement"]["annotators"]["a@x"]
        assert {lab: v["estimate"] for lab, v in a.items()} == pytest.approx({"politics": 1.0, "sports": 0.6,
                                                                              "tech": 0.8})
        assert a["sports"]["n"] == 5
        assert c["annotator_agreement"]["annotators"]["c@x"]["tech"] == {"estimate": pytest.approx(2 / 3), "n": 3}
    schema = json.loads((resources.files("accord.core") / "data" / "report.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(rep)), schema)
    html = render_html(rep)
    section = html[html.index('id="consensus"'):html.index('id="label_errors"')]
    assert "binary relevance" in section
    assert "<th>prevalence</th>" in section
    assert "Agreement with the consensus" in section


def test_docstring_examples_run() -> None:
    import doctest

    import accord.core.qa.multilabel_consensus as mod

    result = doctest.testmod(mod)
    assert result.attempted >= 2
    assert result.failed == 0
