"""``gate_figures`` gives the pilot gate the same two numbers a full report does, without building it."""

from __future__ import annotations

import random

import pytest

from accord.cmd_demo import load_sample
from accord.core.cost import qa_from_report
from accord.core.model import Classification, Dataset, Record
from accord.core.qa.report import build_report, gate_figures


def test_sample_project_matches_the_full_report() -> None:
    ds = load_sample()
    agreement, gold = gate_figures(ds)
    assert agreement is not None
    assert gold is not None
    assert (agreement, gold) == pytest.approx(qa_from_report(build_report(ds, checks=False)))


@pytest.mark.parametrize("seed", range(5))
def test_random_classification_with_gold_matches_the_full_report(seed: int) -> None:
    rng = random.Random(seed)
    recs = []
    for i in range(30):
        truth = rng.choice("xyz")
        if i < 10:
            recs.append(Record(item_id=f"i{i}", annotator_id="gold", label_set="c", source="reference",
                               value=Classification(label=truth)))
        for ann in ("a", "b", "c"):
            lab = truth if rng.random() < 0.7 else rng.choice("xyz")
            recs.append(Record(item_id=f"i{i}", annotator_id=ann, label_set="c", value=Classification(label=lab)))
    ds = Dataset(records=tuple(recs))
    got = gate_figures(ds, seed=seed)
    want = qa_from_report(build_report(ds, checks=False, seed=seed))
    assert got[1] is not None
    assert got == pytest.approx(want)


def test_no_second_annotator_gives_none() -> None:
    ds = Dataset(records=(Record(item_id="1", annotator_id="a", label_set="c", value=Classification(label="x")),))
    assert gate_figures(ds) == (None, None)
