"""The report's label-error section: confident learning over consensus labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from accord.cli import main
from accord.core.formats.jsonl import dumps_dataset
from accord.core.model import Classification, Dataset, Record
from accord.core.qa.label_errors import find_label_issues
from accord.core.qa.report import build_report
from accord.core.schema import LabelSet, Schema

CLASSES = ("cat", "dog", "fox")


def _dataset_and_probs(seed: int = 3, n: int = 90, flips: int = 9):
    """Three annotators agree on every item's label; the model disagrees confidently on ``flips``
    items (the 'true' class it saw), so those consensus labels are the planted errors."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    given = truth.copy()
    flipped = rng.choice(n, flips, replace=False)
    given[flipped] = (truth[flipped] + rng.integers(1, 3, flips)) % 3
    records = tuple(Record(item_id=f"i{k:03d}", annotator_id=a, label_set="animal",
                           value=Classification(label=CLASSES[given[k]]))
                    for k in range(n) for a in ("ann", "bob", "cy"))
    probs = rng.dirichlet(np.ones(3) * 0.6, n) * 0.3
    probs[np.arange(n), truth] += 0.7
    schema = Schema.of(LabelSet(name="animal", kind="classification", labels=CLASSES))
    ds = Dataset(records=records, schema=schema)
    pred = {"animal": {f"i{k:03d}": dict(zip(CLASSES, map(float, probs[k]), strict=True)) for k in range(n)}}
    return ds, pred, given, probs, {f"i{k:03d}" for k in flipped}


def test_section_equals_confident_learning_on_the_consensus_labels():
    ds, pred, given, probs, planted = _dataset_and_probs()
    rep = build_report(ds, pred_probs=pred, checks=False)
    sec = rep["label_errors"]["animal"]
    expected = find_label_issues(given, probs)
    assert sec["n_issues"] == expected.n_issues
    assert [x["item_id"] for x in sec["issues"]] == [f"i{k:03d}" for k in expected.ranking]
    found = {x["item_id"] for x in sec["issues"]}
    # Every flag is a planted flip (the model contradicts each with p >= 0.7); pruning by the
    # estimated noise rate keeps it conservative, so most but not all flips are found.
    assert found <= planted
    assert len(found) >= len(planted) // 2
    first = sec["issues"][0]
    assert first["suggested"] != first["given"]
    assert sec["probabilities"].startswith("model probabilities")


def test_without_probabilities_scored_predictions_are_used_approximately():
    ds, *_ = _dataset_and_probs()
    model = tuple(Record(item_id=r.item_id, annotator_id="model", label_set="animal", source="model",
                         value=Classification(label="cat"), score=0.9)
                  for r in ds.records if r.annotator_id == "ann")
    rep = build_report(Dataset(records=ds.records + model, schema=ds.schema), checks=False)
    sec = rep["label_errors"]["animal"]
    assert "approximate" in sec["probabilities"]
    # A model sure that everything is a cat flags (some of) the dogs and foxes, never a cat.
    assert sec["n_issues"] > 0
    assert all(x["given"] != "cat" and x["suggested"] == "cat" for x in sec["issues"])
    assert build_report(ds, checks=False)["label_errors"] == {}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_cli_pred_probs(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str):
    ds, pred, given, probs, _ = _dataset_and_probs()
    data = tmp_path / "records.jsonl"
    data.write_text(dumps_dataset(ds))
    f = tmp_path / f"probs.{fmt}"
    if fmt == "jsonl":
        f.write_text("".join(json.dumps({"item_id": i, "label_set": "animal", "probabilities": p}) + "\n"
                             for i, p in pred["animal"].items()))
    else:  # no label_set column: the dataset's only classification label set
        rows = (f"{i}," + ",".join(str(p[c]) for c in CLASSES) + "\n" for i, p in pred["animal"].items())
        f.write_text("item_id," + ",".join(CLASSES) + "\n" + "".join(rows))
    out = tmp_path / "r.json"
    assert main(["report", str(data), "--pred-probs", str(f), "--json", str(out), "--no-checks"]) in (0, 1)
    sec = json.loads(out.read_text())["label_errors"]["animal"]
    assert sec["n_issues"] == find_label_issues(given, probs).n_issues


def test_cli_bad_pred_probs(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    ds, *_ = _dataset_and_probs()
    data = tmp_path / "records.jsonl"
    data.write_text(dumps_dataset(ds))
    f = tmp_path / "probs.jsonl"
    f.write_text('{"item": "i000"}\n')
    assert main(["report", str(data), "--pred-probs", str(f), "--no-checks"]) == 2
    err = capsys.readouterr().err
    assert "'probabilities'" in err
    assert "Traceback" not in err
