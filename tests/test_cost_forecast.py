"""Forecast on constructed pilots: known answers, bootstrap intervals, properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from accord.core.cost import analyze_pilot, config_from_dict, forecast, outlier_mask
from accord.core.errors import InvalidAnnotationError
from accord.core.model import Box, Dataset, Record


def _pilot(durations, boxes=2):
    recs = [Record(item_id=f"i{i}", annotator_id="a", label_set="obj",
                   value=Box(label="car", x=20.0 * j, y=0, width=5, height=5), duration_s=float(d))
            for i, d in enumerate(durations) for j in range(boxes)]
    return analyze_pilot(Dataset(records=tuple(recs)))


FLAT = _pilot([30, 30, 30, 30])


def pre_annotated_pilot():
    """Items 0-3 carry a model box and take 10 s; items 4-7 have no predictions and take 20 s."""
    box = Box(label="car", x=0, y=0, width=5, height=5)
    recs = [Record(item_id=f"i{i}", annotator_id="yolo", label_set="obj", source="model", value=box)
            for i in range(4)]
    recs += [Record(item_id=f"i{i}", annotator_id="h", label_set="obj", value=box, duration_s=10.0 if i < 4 else 20.0)
             for i in range(8)]
    return Dataset(records=tuple(recs))


def test_known_answer_plain():
    # 1000 items x 30 s = 8.333 h x 20 /h = 166.67; days = 8.333 / (1 x 8 x 0.8) = 1.302
    fc = forecast(FLAT, config_from_dict({"pricing": {"rate_per_hour": 20.0}}), items=1000)
    assert fc.total_hours.estimate == pytest.approx(1000 * 30 / 3600)
    assert fc.total_cost.estimate == pytest.approx(1000 * 30 / 3600 * 20)
    assert fc.working_days.estimate == pytest.approx(1000 * 30 / 3600 / 6.4)
    # identical pilot items: every bootstrap replicate is the same
    assert fc.total_cost.low == pytest.approx(fc.total_cost.high)
    assert fc.labels_per_pass == {"box": 2.0}


def test_known_answer_with_qa_plan():
    cfg = config_from_dict({
        "pricing": {"rate_per_hour": 20.0},
        "qa": {"annotators_per_item": 2, "gold_fraction": 0.2, "review_passes": 1, "review_time_factor": 0.5,
               "spot_check_rate": 0.1, "spot_check_time_factor": 0.5, "conflict_rate": 0.25,
               "adjudication_time_factor": 1.0, "rate_per_hour": 30.0},
    })
    fc = forecast(FLAT, cfg, items=1000)
    c = {x.name: x.cost for x in fc.components}
    # passes = 1000 x 2 / 0.8 = 2500: 2000 production (16.67 h) + 500 gold (4.17 h) at 20 /h
    assert fc.passes == pytest.approx(2500)
    assert c["annotation"] == pytest.approx(2000 * 30 / 3600 * 20)  # 333.33
    assert c["gold"] == pytest.approx(500 * 30 / 3600 * 20)  # 83.33
    assert c["review"] == pytest.approx(1000 * 0.5 * 30 / 3600 * 30)  # 125
    assert c["spot_check"] == pytest.approx(1000 * 0.1 * 0.5 * 30 / 3600 * 30)  # 12.5
    assert c["adjudication"] == pytest.approx(1000 * 0.25 * 30 / 3600 * 30)  # 62.5 (pilot had no overlap)
    assert fc.total_cost.estimate == pytest.approx(616.6666667)
    assert sum(c.values()) == pytest.approx(fc.total_cost.estimate)


@pytest.mark.parametrize(("pricing", "expected"), [
    ({"model": "per_label", "rate_per_label": 0.05, "rate_per_label_by_kind": {"box": 0.1}}, 1000 * 2 * 0.1),
    ({"model": "per_task", "rate_per_task": 0.2}, 1000 * 0.2),
    ({"model": "per_project", "fixed_fee": 500.0, "rate_per_item": 0.1}, 500 + 1000 * 0.1),
    ({"model": "per_task", "rate_per_task": 0.2, "minimum_charge": 1000.0}, 1000.0),
])
def test_known_answer_pricing_models(pricing, expected):
    fc = forecast(FLAT, config_from_dict({"pricing": pricing}), items=1000)
    assert fc.total_cost.estimate == pytest.approx(expected)


def test_drivers_scale_time():
    # expert rate x3, poor data x1.4, half the items multilingual at x1.3 -> time x 1.4 x 1.15
    cfg = config_from_dict({"pricing": {"rate_per_hour": 10.0},
                            "drivers": {"expertise": "expert", "data_quality": "poor", "multilingual_share": 0.5}})
    fc = forecast(FLAT, cfg, items=360)
    assert fc.seconds_per_pass.estimate == pytest.approx(30 * 1.4 * 1.15)
    assert fc.total_cost.estimate == pytest.approx(360 * 30 * 1.4 * 1.15 / 3600 * 10 * 3)


def test_without_pilot_uses_defaults():
    # 5 s overhead + 3 polygons x 30 s = 95 s per item
    cfg = config_from_dict({"drivers": {"label_kind": "polygon", "objects_per_item": 3}})
    fc = forecast(None, cfg, items=100)
    assert fc.seconds_per_pass.estimate == pytest.approx(95.0)
    assert fc.n_boot == 0
    assert "no pilot" in fc.notes[0]


def test_pre_annotation_uses_pre_annotated_time_and_reports_saving():
    p = analyze_pilot(pre_annotated_pilot())
    on = forecast(p, config_from_dict({"team": {"pre_annotation": True}}), items=3600)
    off = forecast(p, config_from_dict({}), items=3600)
    assert on.seconds_per_pass.estimate == pytest.approx(10.0)
    assert off.seconds_per_pass.estimate == pytest.approx(20.0)
    # 3600 items x (20 - 10) s = 10 h x 20 /h
    assert on.pre_annotation_saving == pytest.approx(200.0)


def test_bootstrap_matches_scipy_percentile_interval():
    rng = np.random.default_rng(7)
    d = rng.lognormal(3.0, 0.4, size=60)
    p = _pilot(d, boxes=1)
    d = d[~outlier_mask(d)]  # the forecast bootstraps the passes kept after trimming
    fc = forecast(p, config_from_dict({}), items=1000, n_boot=4000, confidence=0.9, seed=1)
    ref = stats.bootstrap((d,), np.mean, n_resamples=4000, confidence_level=0.9, method="percentile",
                          random_state=2).confidence_interval
    # one pass per item: our ratio estimate is the mean; Monte Carlo error of two runs ~1%
    assert fc.seconds_per_pass.low == pytest.approx(ref.low, rel=0.02)
    assert fc.seconds_per_pass.high == pytest.approx(ref.high, rel=0.02)
    assert fc.total_cost.low < fc.total_cost.estimate < fc.total_cost.high


def test_same_seed_same_interval():
    p = _pilot([10, 20, 35, 12, 50, 18, 22])
    a = forecast(p, config_from_dict({}), items=500, seed=3)
    b = forecast(p, config_from_dict({}), items=500, seed=3)
    assert a == b


@settings(max_examples=30, deadline=None)
@given(durations=st.lists(st.floats(1, 600), min_size=2, max_size=15),
       model=st.sampled_from(["per_label", "per_hour", "per_task", "per_project"]),
       overlap=st.integers(1, 4), gold=st.floats(0, 0.5), review=st.floats(0, 2), items=st.integers(1, 10**6))
def test_cost_never_negative_and_grows_with_overlap(durations, model, overlap, gold, review, items):
    p = _pilot(durations)

    def cfg(k):
        return config_from_dict({"pricing": {"model": model, "rate_per_label": 0.03, "rate_per_task": 0.2,
                                             "rate_per_item": 0.1, "fixed_fee": 10.0},
                                 "qa": {"annotators_per_item": k, "gold_fraction": gold, "review_passes": review}})

    lo = forecast(p, cfg(overlap), items=items, n_boot=200)
    hi = forecast(p, cfg(overlap + 1), items=items, n_boot=200)
    for fc in (lo, hi):
        assert fc.total_cost.low >= 0
        assert all(c.cost >= 0 and c.hours >= 0 for c in fc.components)
        assert sum(c.cost for c in fc.components) == pytest.approx(fc.total_cost.estimate)
        assert fc.total_cost.low <= fc.total_cost.high
    assert hi.total_cost.estimate >= lo.total_cost.estimate - 1e-9
    assert hi.total_hours.estimate > lo.total_hours.estimate


@pytest.mark.parametrize(("kw", "match"), [
    ({"items": 0}, r"items must be an integer >= 1"),
    ({"items": 10, "n_boot": 5}, r"n_boot must be >= 100"),
    ({"items": 10, "confidence": 1.0}, r"confidence must be in \(0, 1\)"),
])
def test_forecast_errors(kw, match):
    with pytest.raises(InvalidAnnotationError, match=match):
        forecast(FLAT, config_from_dict({}), **kw)
