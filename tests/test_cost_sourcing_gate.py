"""In-house vs vendor vs hybrid (TCO and decision matrix) and the pilot gate."""

from __future__ import annotations

import pytest

from accord.core.cost import analyze_pilot, compare_sourcing, config_from_dict, forecast, pilot_gate
from accord.core.model import Classification, Dataset, Record

BASE = {"drivers": {"label_kind": "classification", "seconds_per_label": {"classification": 36.0},
                    "seconds_per_item_overhead": 0.0},
        "pricing": {"rate_per_hour": 20.0}}


def _decision(**sourcing):
    cfg = config_from_dict({**BASE, "sourcing": sourcing})
    return compare_sourcing(forecast(None, cfg, items=1000), cfg)


def test_tco_known_answer():
    # 1000 items x 36 s = 10 h. In-house (team 1): labour 200, hiring 1000, training 16 h x 20 = 320,
    # management 0.15 x 200 = 30, tooling 1 month x 500 -> 2050 over 10 / 6.4 = 1.5625 days.
    # Vendor: 10 h x 1.2 = 12 h x 12 = 144 + 10% management = 158.4 over 12 / (20 x 6.4) days.
    # Hybrid 50/50: in-house 5 h -> 100 + 1000 + 320 + 15 + 500 = 1935; vendor 6 h -> 72 + 7.2.
    d = _decision()
    by = {o.option: o for o in d.options}
    assert by["in_house"].total == pytest.approx(2050.0)
    assert by["in_house"].working_days == pytest.approx(1.5625)
    assert by["vendor"].total == pytest.approx(158.4)
    assert by["vendor"].working_days == pytest.approx(12 / 128)
    assert by["hybrid"].total == pytest.approx(1935.0 + 79.2)
    assert by["in_house"].total == pytest.approx(sum(by["in_house"].lines.values()))


def test_weights_decide_and_explanation_says_why():
    cost_only = _decision(weights={"control": 0, "speed": 0, "cost": 1, "security": 0, "expertise": 0})
    assert cost_only.verdict == "vendor"
    assert cost_only.scores["vendor"]["cost"] == pytest.approx(5.0)
    assert cost_only.scores["in_house"]["cost"] == pytest.approx(1 + 4 * 158.4 / 2050)  # scale 1..5
    control_only = _decision(weights={"control": 1, "speed": 0, "cost": 0, "security": 0, "expertise": 0})
    assert control_only.verdict == "in_house"
    assert any("Decided by control" in s for s in control_only.explanation)


def test_flip_threshold_is_exact():
    d = _decision()
    line = next(s for s in d.explanation if "would change" in s)
    # raise that weight just past the stated threshold and the verdict flips
    crit = line.split("weight of ")[1].split(" ")[0]
    limit = float(line.rstrip(".").split("above ")[1])
    second = line.split("change to ")[1].split(" ")[0]
    w = dict(d.weights)
    w[crit] = limit * 1.01
    assert _decision(weights=w).verdict == second
    w[crit] = limit * 0.99
    assert _decision(weights=w).verdict == d.verdict


def _pilot(times_a, times_b, agree=True):
    recs = []
    for i, (ta, tb) in enumerate(zip(times_a, times_b, strict=True)):
        recs.append(Record(item_id=f"i{i}", annotator_id="a", label_set="s", value=Classification(label="pos"),
                           duration_s=ta))
        lab = "pos" if agree or i % 2 else "neg"
        recs.append(Record(item_id=f"i{i}", annotator_id="b", label_set="s", value=Classification(label=lab),
                           duration_s=tb))
    return analyze_pilot(Dataset(records=tuple(recs)))


def test_gate_go_with_reasons():
    r = pilot_gate(_pilot([10, 11, 12, 10, 11, 12], [12, 13, 11, 12, 13, 11]), agreement=0.82, gold_score=0.9)
    assert r.verdict == "go"
    assert all(c.status != "fail" for c in r.checks)
    assert any("agreement 0.820 meets" in s for s in r.reasons)


def test_gate_revise_on_low_agreement_and_hotspot():
    r = pilot_gate(_pilot([10] * 6, [11] * 6, agree=False), agreement=0.41, gold_score=0.9)
    assert r.verdict == "revise-guidelines"
    names = {c.name for c in r.checks if c.status == "fail"}
    assert names == {"agreement", "hotspots"}
    assert any("0.410 is below the threshold 0.667" in s for s in r.reasons)


def test_gate_revise_on_speed_gap():
    r = pilot_gate(_pilot([10, 11, 12, 10], [50, 55, 60, 52]))
    fail = [c for c in r.checks if c.status == "fail"]
    assert [c.name for c in fail] == ["speed_gap"]
    assert "slowest: b" in fail[0].message
    assert r.verdict == "revise-guidelines"


def test_gate_without_evidence_revises():
    r = pilot_gate(None)
    assert r.verdict == "revise-guidelines"
    assert "nothing was measured" in r.reasons[0]


@pytest.mark.parametrize(("kw", "match"), [
    ({"gold_score": 2.0}, r"gold_score must be a finite number in \[0, 1\], got 2.0"),
    ({"gold_score": -0.1}, "gold_score"),
    ({"gold_score": float("nan")}, "gold_score"),
    ({"agreement": float("inf")}, "agreement"),
    ({"agreement": -1.5}, r"agreement must be a finite number in \[-1, 1\]"),
    ({"agreement": True}, "agreement"),
])
def test_gate_refuses_scores_out_of_range(kw, match):
    # a gold score of 2 used to pass the 0.8 threshold and say GO
    from accord.core.errors import InvalidAnnotationError

    with pytest.raises(InvalidAnnotationError, match=match):
        pilot_gate(None, **kw)


def test_gate_accepts_the_ends_of_the_ranges():
    assert pilot_gate(None, agreement=-1.0, gold_score=0.0).verdict == "revise-guidelines"
    assert pilot_gate(None, agreement=1.0, gold_score=1.0).verdict == "go"
