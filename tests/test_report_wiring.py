"""What #19 and #20 wire into `accord report`: reviewers' grades of the spot check, COCO AP of each
annotator against gold, the geometry EM, and the ledger's review decisions, in JSON and HTML."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from accord.cli import main
from accord.core.qa.conflicts import Resolution

SAMPLE = Path(__file__).resolve().parents[1] / "core" / "data" / "sample"


def _report(tmp_path: Path, *extra: str) -> tuple[dict, str]:
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    code = main(["report", str(SAMPLE / "images_boxes.json"), "--label-config",
                 str(SAMPLE / "images_boxes.label_config.xml"), "--json", str(out), "--html", str(html),
                 "--no-ledger", *extra])
    assert code in (0, 1)
    return json.loads(out.read_text(encoding="utf-8")), html.read_text(encoding="utf-8")


def test_grades_of_the_drawn_sample_give_the_batch_error_rate(tmp_path: Path) -> None:
    first, _ = _report(tmp_path)
    drawn = first["sampling"]["spot_check"]["items"]
    grades = tmp_path / "grades.csv"
    with grades.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "annotator_id", "grade", "reviewer"])
        for k, x in enumerate(drawn):
            w.writerow([x["item_id"], x["annotator_id"], "fail" if k % 4 == 0 else "pass", "rita"])
    report, html = _report(tmp_path, "--grades", str(grades))
    g = report["sampling"]["spot_check_grades"]
    n_fail = sum(1 for k in range(len(drawn)) if k % 4 == 0)
    assert g["n_used"] == len(drawn)
    assert g["estimate"]["errors"] == n_fail
    assert g["n_outside_sample"] == 0
    assert sum(e["errors"] for e in g["by_annotator"].values()) == n_fail
    est = g["estimate"]
    assert 0 < est["estimate"] < 1
    assert est["low"] <= est["estimate"] <= est["high"]
    assert "Spot-check grades" in html


def test_a_bad_grades_file_is_one_line_naming_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grades = tmp_path / "grades.csv"
    grades.write_text("item_id,annotator_id,grade\nx,y,maybe\n", encoding="utf-8")
    assert main(["report", str(SAMPLE / "images_boxes.json"), "--grades", str(grades), "--no-ledger"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "line 2" in err[0]
    assert "pass or fail" in err[0]


def test_box_sets_with_gold_get_coco_per_annotator_and_the_geometry_em(tmp_path: Path) -> None:
    report, html = _report(tmp_path)
    (ls,) = report["gold"]["coco"]
    rows = report["gold"]["coco"][ls]
    assert rows
    assert all(0.0 <= r["AP"] <= 1.0 and r["n_images"] > 0 for r in rows.values())
    truth = report["consensus"][ls]["truth_inference"]
    assert {a["annotator_id"] for a in truth["annotators"]} == set(report["summary"]["annotators"])
    for a in truth["annotators"]:
        lo, hi = a["miss_rate_interval"]
        assert lo <= a["miss_rate"] <= hi
    assert "Each annotator as a detector against gold" in html
    assert "Geometry truth inference" in html


def test_ledger_decisions_reach_the_next_report_but_pending_escalations_do_not(tmp_path: Path) -> None:
    from accord.store.ledger import Ledger

    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    first, _ = _report(tmp_path)
    queue = first["conflicts"]["items"]
    assert len(queue) >= 2
    decided, escalated = queue[0], queue[1]
    with Ledger.init(db) as ledger:
        chosen = next(iter(decided["versions"].values()))
        ledger.record_decision(Resolution(item_id=decided["item_id"], label_set=decided["label_set"],
                                          chosen=chosen, decided_by="rita", reason="matches the image"))
        ledger.record_decision(Resolution(item_id=escalated["item_id"], label_set=escalated["label_set"],
                                          chosen={"status": "escalated"}, decided_by="rita", reason="unsure"))
    out = tmp_path / "next.json"
    main(["report", str(SAMPLE / "images_boxes.json"), "--label-config", str(SAMPLE / "images_boxes.label_config.xml"),
          "--json", str(out), "--db", db, "--no-ledger"])
    assert json.loads(out.read_text(encoding="utf-8"))["conflicts"]["n_resolved"] == 0  # --no-ledger: not read
    main(["report", str(SAMPLE / "images_boxes.json"), "--label-config", str(SAMPLE / "images_boxes.label_config.xml"),
          "--json", str(out), "--db", db])
    nxt = json.loads(out.read_text(encoding="utf-8"))
    open_items = {(c["item_id"], c["label_set"]) for c in nxt["conflicts"]["items"]}
    assert (decided["item_id"], decided["label_set"]) not in open_items
    assert (escalated["item_id"], escalated["label_set"]) in open_items
    assert nxt["conflicts"]["n_resolved"] == 1


def test_speaker_turn_sets_with_gold_get_each_annotators_diarization_error_rate() -> None:
    import jsonschema

    from accord.core.model import Dataset, Record, Segment
    from accord.core.qa.report import ReportConfig, build_report
    from accord.report_html import render_html

    def turn(item: str, who: str, a: float, b: float, spk: str, source: str = "human") -> Record:
        return Record(item_id=item, annotator_id=who, label_set="turns", source=source,  # type: ignore[arg-type]
                      value=Segment(start=a, end=b, speaker=spk, label=spk))

    recs = [turn("1", "gold", 0, 10, "A", "reference"), turn("1", "gold", 10, 20, "B", "reference"),
            turn("1", "ann", 0, 12, "x"), turn("1", "ann", 12, 20, "y"),
            turn("1", "bob", 0, 10, "p"), turn("1", "bob", 10, 20, "q")]
    report = build_report(Dataset(records=tuple(recs)), config=ReportConfig(n_bootstrap=20), checks=False)
    der = report["gold"]["diarization"]["turns"]
    assert der["ann"]["der"] == 0.1  # 2 of 20 s given to the wrong speaker (NIST's example)
    assert der["bob"]["der"] == 0.0
    schema = json.loads((Path(__file__).resolve().parents[1] / "core" / "data" / "report.schema.json")
                        .read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(json.dumps(report)), schema)
    assert "diarization error rate" in render_html(report)
