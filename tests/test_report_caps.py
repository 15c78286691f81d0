"""``max_discrepancies`` limits only the JSON listing: counts and write-backs see every discrepancy.

Before this change the CVAT breakdown, the CVAT issue plan and the Label Studio task QA fields
read the capped ``errors.discrepancies`` listing, so past 5000 discrepancies they were wrong.
"""

from __future__ import annotations

import json

from accord.core.model import Classification, Dataset, Record
from accord.core.qa.report import QAReport, ReportConfig, all_discrepancies, build_report
from accord.plugins.cvat.client import cvat_breakdown
from accord.plugins.cvat.writeback import plan_issues
from accord.plugins.label_studio.writeback import task_qa


def _dataset(n_items: int = 40) -> Dataset:
    # Three annotators; "c" disagrees with the other two on every item, so consensus flags
    # one wrong-class discrepancy per item (n_items in all), plus a few where "b" also differs.
    recs = []
    for i in range(n_items):
        labels = {"a": "cat", "b": "cat" if i % 5 else "bird", "c": "dog"}
        for ann, lab in labels.items():
            recs.append(Record(item_id=str(i + 1), annotator_id=ann, label_set="animal",
                               value=Classification(label=lab)))
    return Dataset(records=tuple(recs))


def test_counts_and_writebacks_use_every_discrepancy_not_the_listing() -> None:
    ds = _dataset()
    full = build_report(ds, config=ReportConfig(max_discrepancies=100_000), checks=False)
    capped = build_report(ds, config=ReportConfig(max_discrepancies=3), checks=False)
    n = full["errors"]["n_discrepancies"]
    assert n > 3
    assert isinstance(capped, QAReport)
    # The listing is truncated and says so; the counts are not.
    assert len(capped["errors"]["discrepancies"]) == 3
    assert capped["errors"]["n_listed"] == 3
    assert capped["errors"]["n_discrepancies"] == n
    assert capped["errors"]["counts"] == full["errors"]["counts"]
    assert len(all_discrepancies(capped)) == n
    assert all_discrepancies(capped) == all_discrepancies(full)
    # The consumers give the same answer whatever the cap.
    assert cvat_breakdown(capped, ds) == cvat_breakdown(full, ds)
    assert sum(sum(c.values()) for c in cvat_breakdown(capped, ds)["by_assignee"].values()) == n
    assert plan_issues(capped, ds, min_severity="minor") == plan_issues(full, ds, min_severity="minor")
    qa_capped, qa_full = task_qa(ds, capped), task_qa(ds, full)
    assert qa_capped == qa_full
    assert sum(t.n_errors for t in qa_capped.values()) == n


def test_a_report_read_back_from_json_falls_back_to_its_listing() -> None:
    ds = _dataset(10)
    report = build_report(ds, config=ReportConfig(max_discrepancies=2), checks=False)
    back = json.loads(json.dumps(report))
    assert not isinstance(back, QAReport)
    assert len(all_discrepancies(back)) == 2 == back["errors"]["n_listed"]
