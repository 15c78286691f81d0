"""The review app's adjudication in ``accord report``: the ``review`` section (JSON and HTML).

Decisions are written to a real SQLite ledger the way the app writes them (first pass as
``reviewer``, blind second pass as ``reviewer/second-pass``, the expert as ``expert``); the next
``accord report --db`` counts them and gives each first-pass reviewer's agreement with second
passes and with experts. Hand count for the ledger below: rev1's first passes are checked
twice by a second pass (x1 agrees, x2 does not) and once by the expert (x2: agrees with rev1),
so second pass 1/2 and expert 1/1; Wilson 95 % for 1/2 is [0.0945, 0.9055] (Wilson 1927,
z = 1.96: centre 0.5, half-width 1.96 * sqrt(0.25/2 + 0.9604/4) / (1 + 3.8416/2) = 0.4055).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.cli import main
from accord.core.formats.jsonl import dumps_dataset
from accord.core.model import Classification, Dataset, Record
from accord.core.qa.conflicts import Resolution
from accord.store.ledger import Ledger


def _data(path: Path) -> Path:
    labels = {"ann_a": "pos", "ann_b": "neg", "ann_c": "pos"}
    recs = [Record(item_id=f"x{i}", annotator_id=a, label_set="sentiment",
                   value=Classification(label=lab if i % 3 else "neu"))
            for i in range(1, 13) for a, lab in labels.items()]
    path.write_text(dumps_dataset(Dataset(records=tuple(recs))), encoding="utf-8")
    return path


def _decide(ledger: Ledger, item: str, who: str, role: str, chosen: object) -> None:
    ledger.record_decision(Resolution(item_id=item, label_set="sentiment", decided_by=who, chosen=chosen,
                                      reason="", guideline_rule=None), role=role)


def test_report_has_the_review_section_with_reviewer_agreement(tmp_path: Path) -> None:
    data = _data(tmp_path / "data.jsonl")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.init(url) as ledger:
        _decide(ledger, "x1", "rev1", "reviewer", "pos")
        _decide(ledger, "x1", "rev2", "reviewer/second-pass", "pos")
        _decide(ledger, "x2", "rev1", "reviewer", "pos")
        _decide(ledger, "x2", "rev2", "reviewer/second-pass", "neg")
        _decide(ledger, "x2", "rev2", "reviewer/second-pass", {"status": "escalated", "why": "disagree"})
        _decide(ledger, "x2", "exp", "expert", "pos")
        _decide(ledger, "x4", "rev2", "reviewer", {"status": "ambiguous", "soft": {"neg": 0.33, "pos": 0.67}})
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    assert main(["-q", "report", str(data), "--no-checks", "--db", url, "--json", str(out), "--html", str(html)]) == 0
    import json
    from importlib.resources import files

    import jsonschema

    report = json.loads(out.read_text())
    jsonschema.validate(report, json.loads(files("accord.core").joinpath("data/report.schema.json").read_text()))
    review = report["review"]
    assert review["n_decisions"] == 7
    assert review["n_conflicts"] == 3
    assert review["n_second_passes"] == 3
    assert review["n_expert_decisions"] == 1
    assert review["n_escalations"] == 1
    assert review["n_ambiguous"] == 1
    rev1 = review["reviewers"]["rev1"]
    assert (rev1["second_pass"]["agreements"], rev1["second_pass"]["n"]) == (1, 2)
    assert rev1["second_pass"]["low"] == pytest.approx(0.0945, abs=1e-4)
    assert rev1["second_pass"]["high"] == pytest.approx(0.9055, abs=1e-4)
    assert (rev1["expert"]["agreements"], rev1["expert"]["n"]) == (1, 1)
    page = html.read_text()
    assert "Review (adjudication)" in page
    assert "<td>rev1</td>" in page
    assert "0.500 [0.095, 0.905] (1/2)" in page  # second pass
    assert "1.000 [0.207, 1.000] (1/1)" in page  # expert: Wilson 1/1, low 0.2065


def test_no_review_section_without_decisions_or_with_no_ledger(tmp_path: Path) -> None:
    import json

    data = _data(tmp_path / "data.jsonl")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.init(url):
        pass
    out = tmp_path / "r.json"
    assert main(["-q", "report", str(data), "--no-checks", "--db", url, "--json", str(out)]) == 0
    assert "review" not in json.loads(out.read_text())
    with Ledger.open(url) as ledger:
        _decide(ledger, "x1", "rev1", "reviewer", "pos")
    assert main(["-q", "report", str(data), "--no-checks", "--no-ledger", "--json", str(out)]) == 0
    assert "review" not in json.loads(out.read_text())
