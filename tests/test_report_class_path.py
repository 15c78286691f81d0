"""The report's nominal class agreement comes from the mergeable section, with the agreement module's estimates."""

from __future__ import annotations

import random

import numpy as np
import pytest

from accord.core import agreement as ag
from accord.core.model import Classification, Dataset, Record
from accord.core.qa import report as report_mod
from accord.core.qa.report import ReportConfig, build_report


def _data(seed: int, n_annotators: int = 3, n_items: int = 60) -> tuple[Dataset, np.ndarray]:
    rng = random.Random(seed)
    recs, rows = [], []
    for i in range(n_items):
        truth = rng.choice("abcd")
        row = []
        for a in range(n_annotators):
            if rng.random() < 0.15:  # not every annotator rates every item
                row.append(np.nan)
                continue
            lab = truth if rng.random() < 0.6 else rng.choice("abcd")
            row.append(float("abcd".index(lab)))
            recs.append(Record(item_id=f"i{i}", annotator_id=f"ann{a:03d}", label_set="c",
                               value=Classification(label=lab)))
        rows.append(row)
    m = np.array(rows)
    return Dataset(records=tuple(recs)), m[np.sum(~np.isnan(m), axis=1) > 0]


@pytest.mark.parametrize("seed", range(4))
def test_estimates_equal_the_agreement_module_and_intervals_bracket_them(seed: int) -> None:
    ds, m = _data(seed)
    coefs = build_report(ds, seed=seed, checks=False)["agreement"]["c"]["coefficients"]
    cats = [0.0, 1.0, 2.0, 3.0]
    want = {"krippendorff_alpha": ag.krippendorff_alpha(m), "percent_agreement": ag.percent_agreement(m),
            "gwet_ac1": ag.gwet_ac1(m, categories=cats), "brennan_prediger": ag.brennan_prediger(m, categories=cats)}
    for key, value in want.items():
        assert coefs[key]["estimate"] == pytest.approx(value, abs=1e-6), key
        assert coefs[key]["low"] <= coefs[key]["estimate"] <= coefs[key]["high"], key
        assert coefs[key]["n"] == m.shape[0]


def test_a_huge_pair_table_takes_the_per_coefficient_path_with_the_same_estimates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ds, _ = _data(7, n_annotators=5)
    fast = build_report(ds, checks=False, config=ReportConfig(n_bootstrap=100))["agreement"]["c"]["coefficients"]
    monkeypatch.setattr(report_mod, "_SECTION_PAIR_CELLS", 1)
    slow = build_report(ds, checks=False, config=ReportConfig(n_bootstrap=100))["agreement"]["c"]["coefficients"]
    for key in ("krippendorff_alpha", "percent_agreement", "gwet_ac1", "brennan_prediger"):
        assert fast[key]["estimate"] == slow[key]["estimate"]
        assert (fast[key]["low"], fast[key]["high"]) != (slow[key]["low"], slow[key]["high"])  # two bootstraps
