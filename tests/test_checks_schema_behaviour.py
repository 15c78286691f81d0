"""Schema and annotator-behaviour checks: planted violations, clean data, differential tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import median_abs_deviation
from statsmodels.stats.proportion import proportions_ztest

from accord.core.checks import run_checks
from accord.core.checks.base import robust_z
from accord.core.checks.behaviour import two_proportion_z
from accord.core.model import Box, Classification, Dataset, MultiLabel, Record, Submission
from accord.core.schema import AttributeSpec, LabelSet, Schema

SCHEMA = Schema.of(
    LabelSet(name="sentiment", kind="classification", labels=("pos", "neg", "neu")),
    LabelSet(name="objects", kind="box", labels=("car", "bus"), multiple=True,
             attributes={"car": (AttributeSpec(name="occluded", values=("true", "false"), input_type="checkbox"),
                                 AttributeSpec(name="color", values=("red", "blue")))}),
    LabelSet(name="topic", kind="multilabel", labels=("a", "b", "c"), extra={"required": True}),
)
SCHEMA_CHECKS = ("schema.unknown_label", "schema.unknown_attribute", "schema.missing_label_set",
                 "schema.multiple_values")


def rec(item: str, ann: str, ls: str, value: object, *, attributes: dict[str, object] | None = None,
        source: str = "human", duration_s: float | None = None, created_at: str | None = None) -> Record:
    return Record(item_id=item, annotator_id=ann, label_set=ls, value=value,  # type: ignore[arg-type]
                  attributes=attributes or {}, source=source, duration_s=duration_s,  # type: ignore[arg-type]
                  created_at=created_at)


def clean_schema_data() -> Dataset:
    records = []
    for i in range(20):
        for ann in ("a", "b", "c"):
            records.append(rec(f"t{i}", ann, "sentiment", Classification(label=("pos", "neg", "neu")[i % 3])))
            records.append(rec(f"t{i}", ann, "topic", MultiLabel(labels=("a", "c"))))
            records.append(rec(f"t{i}", ann, "objects", Box(label="car", x=1, y=1, width=9, height=9),
                               attributes={"occluded": True, "color": "red"}))
            records.append(rec(f"t{i}", ann, "objects", Box(label="bus", x=50, y=1, width=9, height=9)))
    return Dataset(records=tuple(records), schema=SCHEMA)


@pytest.mark.parametrize("check", SCHEMA_CHECKS)
def test_clean_schema_data_has_no_findings(check: str) -> None:
    assert run_checks(clean_schema_data(), only=[check]).findings == ()


def test_schema_planted() -> None:
    bad = [
        rec("x", "a", "sentiment", Classification(label="angry")),  # not in the label set
        rec("x", "a", "sentiment", Classification(label="pos")),  # a second value: single choice
        rec("x", "a", "mood", Classification(label="happy")),  # label set not in the schema
        rec("x", "a", "objects", Box(label="car", x=1, y=1, width=9, height=9),
            attributes={"color": "green", "speed": 3, "source": "manual", "z_order": 0}),
        # bad value, undeclared attribute; CVAT's bookkeeping (source, z_order) is not a finding
        rec("x", "a", "topic", MultiLabel(labels=("a", "z"))),  # "z" not allowed
        rec("y", "b", "sentiment", Classification(label="neg")),  # b gave no topic: required
    ]
    ds = Dataset(records=(*clean_schema_data().records, *bad), schema=SCHEMA)

    def got(check: str) -> list[tuple[str | None, str | None, str | None]]:
        return sorted((f.item_id, f.label_set, f.label) for f in run_checks(ds, only=[check]).findings)

    assert got("schema.unknown_label") == [("x", "mood", "happy"), ("x", "sentiment", "angry"), ("x", "topic", "z")]
    attr = run_checks(ds, only=["schema.unknown_attribute"]).findings
    assert sorted(f.evidence["attribute"] for f in attr) == ["color", "speed"]
    assert {f.category for f in attr} == {"wrong_attribute"}
    assert got("schema.missing_label_set") == [("y", "topic", None)]
    assert got("schema.multiple_values") == [("x", "sentiment", "angry")]
    assert run_checks(ds, only=["schema.multiple_values"]).findings[0].evidence == {"n_values": 2}
    more = {"checks": {"schema.missing_label_set": {"required": ["objects"]}}}
    extra = run_checks(ds, only=["schema.missing_label_set"], rules=more).findings
    assert sorted((f.item_id, f.label_set) for f in extra) == [("y", "objects"), ("y", "topic")]


def behaviour_data(*, straight: bool = False, fast: bool = False, stamp: bool = False, drift: bool = False,
                   seed: int = 0) -> Dataset:
    """Six annotators label 200 items each; pre-annotations exist for every item."""
    rng = np.random.default_rng(seed)
    labels = ("pos", "neg", "neu")
    records = []
    subs = []
    for i in range(200):
        pre = labels[int(rng.integers(3))]
        records.append(rec(f"t{i}", "model", "sentiment", Classification(label=pre), source="model"))
        for ann in ("a", "b", "c", "d", "e", "f"):
            lab = labels[int(rng.integers(3))]
            if ann == "a" and straight:
                lab = "pos"
            if ann == "b" and stamp:
                lab = pre
            if ann == "c" and drift and i >= 100 and rng.random() < 0.55:
                lab = "neu"  # from a third to 70% "neu": a drift, though not straight-lining
            dur = float(rng.lognormal(np.log(30), 0.3))
            if ann == "d" and fast and i % 20 == 0:
                dur = 1.0
            ts = f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}"
            records.append(rec(f"t{i}", ann, "sentiment", Classification(label=lab), created_at=ts))
            subs.append(Submission(item_id=f"t{i}", annotator_id=ann, duration_s=dur, created_at=ts))
    return Dataset(records=tuple(records), submissions=tuple(subs), schema=SCHEMA)


BEHAVIOUR = ("behaviour.too_fast", "behaviour.straight_lining", "behaviour.rubber_stamping", "behaviour.label_drift")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_behaviour_has_no_findings(seed: int) -> None:
    assert run_checks(behaviour_data(seed=seed), only=BEHAVIOUR).findings == ()


def test_behaviour_planted() -> None:
    ds = behaviour_data(straight=True, fast=True, stamp=True, drift=True)
    rep = run_checks(ds, only=BEHAVIOUR)
    by = {c: sorted({(f.annotator_id or "", f.item_id or "") for f in rep.findings if f.check == c}) for c in BEHAVIOUR}
    assert by["behaviour.straight_lining"] == [("a", "")]
    assert by["behaviour.rubber_stamping"] == [("b", "")]
    assert by["behaviour.too_fast"] == [("d", f"t{i}") for i in sorted(range(0, 200, 20), key=str)]
    assert [a for a, _ in by["behaviour.label_drift"]] == ["c"]
    drift = next(f for f in rep.findings if f.check == "behaviour.label_drift")
    assert drift.evidence["window"] == 2  # values 100..149: the first window after the change
    assert {f.category for f in rep.findings} == {"suspicious_behaviour"}


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 200), st.integers(1, 200), st.data())
def test_two_proportion_z_matches_statsmodels(n1: int, n2: int, data: st.DataObject) -> None:
    k1 = data.draw(st.integers(0, n1))
    k2 = data.draw(st.integers(0, n2))
    z = two_proportion_z(k1, n1, k2, n2)
    if 0 < k1 + k2 < n1 + n2:
        want, _ = proportions_ztest([k1, k2], [n1, n2])
        assert z == pytest.approx(want, rel=1e-9, abs=1e-9)
    else:
        assert z == 0.0  # pooled variance 0: undefined, reported as no evidence


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=30))
def test_robust_z_matches_scipy_mad(values: list[float]) -> None:
    x = np.array(values)
    mad = median_abs_deviation(x, scale="normal")
    z = robust_z(x)
    if mad > 0:
        np.testing.assert_allclose(z, (x - np.median(x)) / mad, rtol=1e-9)
    else:
        assert np.all((z == 0) | np.isinf(z))


# --------------------------------------------------------------------------- issue 16: drift screened at once


@pytest.mark.parametrize("seed", range(12))
def test_drift_screen_keeps_every_window_the_one_by_one_test_flags(seed: int) -> None:
    """The vectorized screen against ``chi2_contingency`` run window by window (the old loop)."""
    from scipy.stats import chi2_contingency

    from accord.core.checks.behaviour import _drift_candidates

    rng = np.random.default_rng(seed)
    k, window = int(rng.integers(2, 6)), int(rng.integers(3, 30))
    n = int(rng.integers(2 * window, 60 * window))
    codes = rng.integers(0, k, n)
    if seed % 2:  # a drift part way
        cut = int(rng.integers(0, n))
        codes[cut:] = np.where(rng.random(n - cut) < 0.6, 0, codes[cut:])
    if seed % 3 == 0:  # a label that only shows up late (empty columns early on)
        codes[: n // 2] = np.minimum(codes[: n // 2], k - 2)
    tests = n // window - 1
    thr = float(rng.choice([0.05, 0.5, 1e-3])) / tests
    exact = {}
    for w in range(1, n // window):
        table = np.stack([np.bincount(codes[:w * window], minlength=k),
                          np.bincount(codes[w * window:(w + 1) * window], minlength=k)])
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] >= 2:
            exact[w] = float(chi2_contingency(table, correction=False).pvalue)
    got = set(_drift_candidates(codes, window, k, thr))
    assert {w for w, p in exact.items() if p < thr} <= got  # nothing the exact test flags is screened out
    assert got <= {w for w, p in exact.items() if p < thr * (1 + 1e-5)}  # and the screen is tight


@pytest.mark.parametrize("seed", range(4))
def test_label_drift_findings_equal_testing_every_window(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import accord.core.checks.behaviour as behaviour

    ds = behaviour_data(drift=True, seed=seed)
    fast = run_checks(ds, only=("behaviour.label_drift",))
    monkeypatch.setattr(behaviour, "_drift_candidates", lambda codes, window, k, thr: range(1, codes.size // window))
    slow = run_checks(ds, only=("behaviour.label_drift",))
    assert fast.findings
    assert fast.findings == slow.findings
