"""Committee and k-center orders in the report's active-learning section (#20)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from accord.core.model import Box, Classification, Dataset, Record
from accord.core.qa.active_learning_orders import active_learning_orders
from accord.core.qa.report import ReportConfig, build_report
from accord.core.schema import LabelSet, Schema
from accord.report_html import render_html

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "core" / "data" / "report.schema.json"
DISAGREE = {"t03", "t07"}


def _rec(item: str, who: str, label: str, source: str = "human", score: float | None = None) -> Record:
    return Record(item_id=item, annotator_id=who, label_set="sentiment", source=source,  # type: ignore[arg-type]
                  value=Classification(label=label), score=score)


def _dataset(*, versions: tuple[str, ...] = ("model:v1", "model:v2")) -> Dataset:
    """Ten items two humans labelled; model:v1 and model:v2 agree except on t03 and t07;
    v1 alone also predicts t10."""
    recs: list[Record] = []
    for k in range(10):
        item = f"t{k:02d}"
        gold = "pos" if k % 2 else "neg"
        recs += [_rec(item, "ann", gold), _rec(item, "bea", gold)]
        for v in versions:
            label = ("neg" if gold == "pos" else "pos") if v == "model:v2" and item in DISAGREE else gold
            recs.append(_rec(item, v, label, "model", 0.8))
    recs.append(_rec("t10", versions[0], "pos", "model", 0.6))
    schema = Schema(label_sets={"sentiment": LabelSet(name="sentiment", kind="classification",
                                                      labels=("neg", "pos"))})
    return Dataset(records=tuple(recs), schema=schema)


def _validate(report: dict) -> None:
    import jsonschema

    jsonschema.validate(json.loads(json.dumps(report)), json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def _order(report: dict, method: str) -> dict:
    (o,) = [o for o in report["sampling"]["active_learning"]["orders"] if o["method"] == method]
    return o


def test_committee_ranks_the_items_the_two_versions_disagree_on_first() -> None:
    report = build_report(_dataset(), config=ReportConfig(n_bootstrap=20), seed=0)
    o = _order(report, "vote_entropy")
    assert o["label_set"] == "sentiment"
    assert o["models"] == ["model:v1", "model:v2"]
    # t10 has one vote only: the committee ranks the 10 items both versions predicted.
    assert (o["n_candidates"], o["n_ranked"], o["n_disagreeing"]) == (10, 10, 2)
    top = o["items"][:2]
    assert {x["item_id"] for x in top} == DISAGREE
    # One vote each for two classes: entropy ln 2 nats (Dagan & Engelson 1995); agreement: 0.
    assert all(x["score"] == pytest.approx(math.log(2), abs=1e-6) for x in top)
    assert all(x["score"] == 0.0 for x in o["items"][2:])
    assert [x["item_id"] for x in o["items"][2:]] == sorted({f"t{k:02d}" for k in range(10)} - DISAGREE)
    # The least-confidence order is still there, and stays the section's headline order.
    lc = _order(report, "least_confidence")
    assert lc["n_ranked"] == 11
    assert report["sampling"]["active_learning"]["items"][0]["item_id"] == "t10"  # score 0.6: least confident
    _validate(report)
    html = render_html(report)
    assert "vote_entropy" in html
    assert "t03, t07" in html


def test_one_model_version_is_no_committee() -> None:
    orders = active_learning_orders(_dataset(versions=("model:v1",)))
    assert "vote_entropy" not in {o["method"] for o in orders}


def test_k_center_over_given_probabilities_hand_checked() -> None:
    # Probability vectors a (1, 0), b (0.9, 0.1), c (0, 1), d (0.5, 0.5). Start at a (first id);
    # farthest from a is c (sqrt 2 = 1.414214); then d (min(|d-a|, |d-c|) = sqrt(0.5) = 0.707107)
    # beats b (|b-a| = sqrt(0.02) = 0.141421); b last.
    probs = {"a": {"neg": 1.0, "pos": 0.0}, "b": {"neg": 0.9, "pos": 0.1},
             "c": {"neg": 0.0, "pos": 1.0}, "d": {"neg": 0.5, "pos": 0.5}}
    recs = [_rec(i, who, "neg") for i in probs for who in ("ann", "bea")]
    recs.append(_rec("a", "model:v1", "neg", "model", 0.9))
    ds = Dataset(records=tuple(recs),
                 schema=Schema(label_sets={"sentiment": LabelSet(name="sentiment", kind="classification",
                                                                 labels=("neg", "pos"))}))
    report = build_report(ds, config=ReportConfig(n_bootstrap=20), seed=0, pred_probs={"sentiment": probs})
    o = _order(report, "k_center")
    assert o["basis"] == "model class probabilities (given)"
    assert (o["n_candidates"], o["n_ranked"]) == (4, 4)
    assert [x["item_id"] for x in o["items"]] == ["a", "c", "d", "b"]
    assert [x["score"] for x in o["items"]] == [None, pytest.approx(math.sqrt(2), abs=1e-6),
                                                pytest.approx(math.sqrt(0.5), abs=1e-6),
                                                pytest.approx(math.sqrt(0.02), abs=1e-6)]
    _validate(report)


def test_k_center_over_detection_scores() -> None:
    # Per item: the highest model score per class. i0 (car 0.9), i1 (car 0.85), i2 (person 0.9):
    # from i0 the farthest is i2, then i1.
    recs = []
    for item, label, score in (("i0", "car", 0.9), ("i1", "car", 0.85), ("i2", "person", 0.9)):
        for who in ("ann", "bea"):
            recs.append(Record(item_id=item, annotator_id=who, label_set="objects", region_id=f"{who}{item}",
                               value=Box(x=0, y=0, width=10, height=10, label=label)))
        recs.append(Record(item_id=item, annotator_id="model:det", label_set="objects", source="model",
                           region_id=f"m{item}", score=score, value=Box(x=0, y=0, width=10, height=10, label=label)))
    orders = active_learning_orders(Dataset(records=tuple(recs)))
    (kc,) = [o for o in orders if o["method"] == "k_center"]
    assert kc["label_set"] == "objects"
    assert [x["item_id"] for x in kc["items"]] == ["i0", "i2", "i1"]
    assert kc["items"][2]["score"] == pytest.approx(0.05, abs=1e-6)  # |0.9 - 0.85| on the car axis
