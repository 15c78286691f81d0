"""``accord cost ...`` end to end on a JSONL pilot, and the HTML cost section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.cli import main
from accord.core.cost import analyze_pilot, compare_sourcing, config_from_dict, forecast, qa_from_report
from accord.core.model import Box, Dataset, Record, record_to_dict
from accord.report_cost import render_cost_section


def _records():
    return [Record(item_id=f"i{i}", annotator_id=a, label_set="obj",
                   value=Box(label="car", x=0, y=0, width=5, height=5), duration_s=30.0)
            for i in range(6) for a in ("a", "b")]


@pytest.fixture
def pilot(tmp_path):
    p = tmp_path / "pilot.jsonl"
    p.write_text("".join(json.dumps(record_to_dict(r)) + "\n" for r in _records()), encoding="utf-8")
    return p


@pytest.fixture
def config(tmp_path):
    p = tmp_path / "pricing.toml"
    p.write_text('currency = "EUR"\n[pricing]\nrate_per_hour = 24.0\n', encoding="utf-8")
    return p


def test_estimate_json(pilot, config, capsys):
    rc = main(["cost", "estimate", "--pilot", str(pilot), "--config", str(config), "--items", "1200", "--json",
               "--compare"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    fc = out["forecast"]
    # 1200 items x 30 s = 10 h x 24 EUR
    assert fc["currency"] == "EUR"
    assert fc["total_cost"]["estimate"] == pytest.approx(240.0)
    assert out["sourcing"]["verdict"] in ("in_house", "vendor", "hybrid")


def test_estimate_table_and_overrides(pilot, capsys):
    rc = main(["cost", "estimate", "--pilot", str(pilot), "--items", "1200", "--team-size", "2", "--overlap", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "Forecast for 1,200 items" in out
    assert "team of 2" in out
    # both annotators agree on every pilot item: measured conflict rate 0, so no adjudication row
    assert "measured conflict rate 0.0%" in out
    assert "\n  adjudication" not in out


def test_pilot_and_gate_exit_codes(pilot, capsys):
    assert main(["cost", "pilot", "--pilot", str(pilot)]) == 0
    assert "12 timed passes" in capsys.readouterr().out
    assert main(["cost", "gate", "--pilot", str(pilot), "--agreement", "0.9"]) == 0
    assert "Pilot gate: GO" in capsys.readouterr().out
    assert main(["cost", "gate", "--pilot", str(pilot), "--agreement", "0.3"]) == 1
    assert "Pilot gate: REVISE-GUIDELINES" in capsys.readouterr().out


def test_gate_json_reasons(pilot, capsys):
    assert main(["cost", "gate", "--pilot", str(pilot), "--agreement", "0.3", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "revise-guidelines"
    assert "0.300 is below" in out["reasons"][0]


def test_bad_config_is_usage_error(pilot, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[pricing]\nmodel = 'per_minute'\n", encoding="utf-8")
    assert main(["cost", "estimate", "--pilot", str(pilot), "--config", str(bad), "--items", "10"]) == 2
    assert "pricing.model: expected one of" in capsys.readouterr().err


def test_example_config_round_trips(tmp_path, capsys):
    assert main(["cost", "example-config"]) == 0
    p = tmp_path / "ex.toml"
    p.write_text(capsys.readouterr().out, encoding="utf-8")
    assert main(["cost", "estimate", "--config", str(p), "--items", "10", "--json"]) == 0


def test_cost_without_subcommand_is_usage(capsys):
    assert main(["cost"]) == 2


def test_render_cost_section_is_self_contained():
    cfg = config_from_dict({"qa": {"annotators_per_item": 2, "review_passes": 1}})
    fc = forecast(analyze_pilot(Dataset(records=tuple(_records()))), cfg, items=1000)
    html = render_cost_section(fc, sourcing=compare_sourcing(fc, cfg))
    assert html.startswith('<section class="cost"')
    assert "<svg" in html
    assert "</svg>" in html
    assert "annotation" in html
    assert "review" in html
    assert "<script" not in html
    assert "src=" not in html
    assert "href=" not in html
    # the dict form (as printed by --json --compare) renders the same
    assert render_cost_section({"forecast": fc.to_dict(), "sourcing": compare_sourcing(fc, cfg).to_dict()}) == html


SAMPLE = Path(__file__).resolve().parents[1] / "core" / "data" / "sample"


def test_label_studio_pilot_uses_lead_time(capsys):
    # the bundled Label Studio sample: 3 annotators x 40 items, each annotation with a lead_time
    assert main(["cost", "pilot", "--pilot", str(SAMPLE / "images_boxes.json"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["timed_passes"] == 120
    assert set(out["by_annotator"]) == {"alice@example.com", "bob@example.com", "carol@example.com"}
    assert out["overall"]["mean_s"] > 0


def test_gate_computes_qa_from_the_pilot(capsys):
    # sentiment sample: alpha just under 0.667 -> revise; NER sample agrees well -> go
    assert main(["cost", "gate", "--pilot", str(SAMPLE / "text_sentiment.json"), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    ag = next(c for c in out["checks"] if c["name"] == "agreement")
    assert ag["status"] == "fail"
    assert main(["cost", "gate", "--pilot", str(SAMPLE / "text_ner.json")]) == 0


def test_qa_from_report_picks_weakest_agreement_and_mean_gold():
    report = {"agreement": {"a": {"primary": "alpha", "coefficients": {"alpha": {"estimate": 0.9}}},
                            "b": {"primary": "kappa", "coefficients": {"kappa": {"estimate": 0.5}}}},
              "gold": {"annotators": {"x": {"a": {"score": {"estimate": 0.8}}},
                                      "y": {"a": {"score": {"estimate": 1.0}}, "b": {"score": {"estimate": None}}}}}}
    assert qa_from_report(report) == (0.5, pytest.approx(0.9))
    assert qa_from_report({}) == (None, None)
