"""Pricing models and the cost config: known answers (arithmetic in comments), validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.cost import CostConfig, Pricing, Workload, config_from_dict, load_config, price
from accord.core.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "core" / "data" / "pricing.example.toml"
WORK = Workload(items=1000, passes=2000, labels={"box": 5000, "polygon": 1000}, hours=50.0)


def test_per_label_uses_kind_rates_then_default():
    # 5000 boxes x 0.04 + 1000 polygons x 0.10 (default rate) = 200 + 100 = 300
    c = price(WORK, Pricing(model="per_label", rate_per_label=0.10, rate_per_label_by_kind={"box": 0.04}))
    assert c.total == pytest.approx(300.0)
    assert c.variable == pytest.approx(300.0)
    assert c.minimum_topup == 0.0


def test_per_hour_with_expertise_multiplier():
    # 50 h x 20 / h x 1.5 (skilled) = 1500
    c = price(WORK, Pricing(model="per_hour", rate_per_hour=20.0), rate_factor=1.5)
    assert c.total == pytest.approx(1500.0)


def test_per_task_counts_passes_not_items():
    # overlap 2: 2000 passes x 0.25 = 500
    assert price(WORK, Pricing(model="per_task", rate_per_task=0.25)).total == pytest.approx(500.0)


def test_per_project_is_fixed_plus_variable():
    # 2500 fixed + 1000 items x 0.3 = 2800
    c = price(WORK, Pricing(model="per_project", fixed_fee=2500.0, rate_per_item=0.3))
    assert (c.fixed, c.variable, c.total) == pytest.approx((2500.0, 300.0, 2800.0))


def test_minimum_charge_tops_up():
    # 2000 passes x 0.1 = 200 < minimum 1000 -> 800 top-up
    c = price(WORK, Pricing(model="per_task", rate_per_task=0.1, minimum_charge=1000.0))
    assert (c.variable, c.minimum_topup, c.total) == pytest.approx((200.0, 800.0, 1000.0))


@settings(max_examples=50, deadline=None)
@given(model=st.sampled_from(["per_label", "per_hour", "per_task", "per_project"]),
       rate=st.floats(0, 100), items=st.floats(0, 1e6), labels=st.floats(0, 1e7), hours=st.floats(0, 1e5),
       minimum=st.floats(0, 1e5))
def test_price_never_negative_and_at_least_minimum(model, rate, items, labels, hours, minimum):
    p = Pricing(model=model, rate_per_label=rate, rate_per_hour=rate, rate_per_task=rate, rate_per_item=rate,
                minimum_charge=minimum)
    c = price(Workload(items=items, passes=items, labels={"box": labels}, hours=hours), p)
    assert c.total >= 0
    assert c.total >= minimum - 1e-9
    assert c.total == pytest.approx(c.variable + c.fixed + c.minimum_topup)


def test_example_config_documents_the_defaults():
    assert load_config(EXAMPLE) == CostConfig()


def test_config_from_toml(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text('currency = "EUR"\n[pricing]\nmodel = "per_label"\nrate_per_label = 0.05\n'
                 '[qa]\nannotators_per_item = 3\n[sourcing.vendor.pricing]\nmodel = "per_task"\n'
                 'rate_per_task = 0.2\n[sourcing.weights]\ncost = 5\n', encoding="utf-8")
    cfg = load_config(p)
    assert cfg.currency == "EUR"
    assert cfg.pricing.model == "per_label"
    assert cfg.qa.annotators_per_item == 3
    assert cfg.sourcing.vendor.pricing.rate_per_task == 0.2
    assert cfg.sourcing.weights["cost"] == 5
    assert cfg.sourcing.weights["control"] == 1.0  # untouched weights keep their defaults


@pytest.mark.parametrize(("data", "match"), [
    ({"pricing": {"model": "per_item"}}, r"pricing\.model: expected one of .*per_label.*got 'per_item'"),
    ({"pricing": {"rate_per_hour": -3}}, r"pricing\.rate_per_hour: expected a finite number >= 0, got -3"),
    ({"pricing": {"rate_per_hr": 3}}, r"pricing: unknown key\(s\) \['rate_per_hr'\]"),
    ({"qa": {"annotators_per_item": 1.5}}, r"qa\.annotators_per_item: expected an integer"),
    ({"qa": {"gold_fraction": 1.0}}, r"qa\.gold_fraction: expected .* in \[0, 0\.95\], got 1\.0"),
    ({"team": {"utilization": 0}}, r"team\.utilization"),
    ({"drivers": {"label_kind": "bbox"}}, r"drivers\.label_kind: expected one of"),
    ({"drivers": {"seconds_per_label": {"bbox": 3}}}, r"drivers\.seconds_per_label\.bbox: unknown name"),
    ({"sourcing": {"weights": {k: 0 for k in ("control", "speed", "cost", "security", "expertise")}}},
     r"at least one weight > 0"),
    ({"sourcing": {"scores": {"vendor": {"control": 7}}}}, r"sourcing\.scores\.vendor\.control: .*\[1, 5\]"),
    ({"prices": {}}, r"unknown top-level key\(s\) \['prices'\]"),
    ({"currency": ""}, r"currency: expected a currency code"),
    ({"pricing": {"model": 3}}, r"pricing\.model: expected a string, got 3"),
])
def test_config_errors_name_the_key(data, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(data)


def test_bad_toml_names_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[pricing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml .*is not valid TOML"):
        load_config(p)


def test_workload_rejects_negative():
    with pytest.raises(ConfigError, match="workload hours: expected a finite number >= 0"):
        Workload(items=1, passes=1, hours=-1)
