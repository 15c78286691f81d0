"""The report's class consensus codes the ids and labels once and decodes the results
(``_class_consensus``): every figure equals the consensus fitted on the strings themselves,
for every method, with ties, ids whose sorted order differs from their first-seen order, and
annotators who rate only some items."""

from __future__ import annotations

import random

import numpy as np
import pytest

from accord.core.model import Classification, Dataset, Record
from accord.core.qa import report as report_mod
from accord.core.qa.ambiguity import ambiguity
from accord.core.qa.consensus import CONSENSUS_METHODS, class_consensus, majority_vote, skill_intervals
from accord.core.qa.report import ReportConfig


def _data(seed: int) -> Dataset:
    rng = random.Random(seed)
    labels = ["Zeta", "alpha", "beta", "10", "9"][:rng.randint(2, 5)]
    annotators = [f"user:{rng.randint(0, 999)}" for _ in range(rng.randint(2, 6))]
    recs = []
    for i in rng.sample(range(10_000), rng.randint(5, 80)):
        truth = rng.choice(labels)
        for a in annotators:
            if rng.random() < 0.25:
                continue
            lab = truth if rng.random() < 0.65 else rng.choice(labels)
            recs.append(Record(item_id=f"task-{i}", annotator_id=a, label_set="c", value=Classification(label=lab)))
    if not recs:
        recs.append(Record(item_id="task-0", annotator_id=annotators[0], label_set="c",
                           value=Classification(label=labels[0])))
    return Dataset(records=tuple(recs))


def _on_strings(ds: Dataset, cfg: ReportConfig, seed: int) -> dict:
    """The consensus block computed the way it was before the coding: every fit on the strings."""
    rows = [(r.item_id, r.annotator_id, str(r.value.label)) for r in ds.records]  # type: ignore[union-attr]
    items, anns, labels = (list(x) for x in zip(*rows, strict=True))
    mv = majority_vote(items, anns, labels)
    res = class_consensus(items, anns, labels, method=cfg.consensus_method, seed=seed)
    ci = skill_intervals(items, anns, labels, method=cfg.consensus_method, n_resamples=cfg.n_bootstrap, seed=seed,
                         max_judgments=report_mod._SKILL_BOOTSTRAP_JUDGMENTS)
    amb = ambiguity(res, items, anns, labels, threshold=cfg.ambiguity_threshold)
    fit = res.fit
    return {"labels": {str(i): str(lab) for i, lab in zip(res.item_ids, res.labels, strict=True) if lab is not None},
            "mv": {str(i): lab for i, lab in zip(mv.item_ids, mv.labels, strict=True)},
            "ties": int(mv.tied.sum()),
            "reliability": dict(zip(map(str, res.annotator_ids), res.skills.tolist(), strict=True)),
            "priors": dict(zip(map(str, fit.classes), fit.priors.tolist(), strict=True))
            if hasattr(fit, "priors") else None,
            "ci": (list(map(str, ci.annotator_ids)), ci.low.tolist(), ci.high.tolist()),
            "amb": amb}


@pytest.mark.parametrize("method", CONSENSUS_METHODS)
@pytest.mark.parametrize("seed", range(6))
def test_coded_consensus_equals_the_fit_on_strings(method: str, seed: int) -> None:
    ds = _data(seed)
    cfg = ReportConfig(consensus_method=method, n_bootstrap=30)  # type: ignore[arg-type]
    block, labels_by_item, amb = report_mod._class_consensus(ds, "c", cfg, seed)
    want = _on_strings(ds, cfg, seed)
    assert labels_by_item == want["labels"]
    assert block["labels"] == dict(sorted(want["labels"].items()))
    assert block["n_ties"] == want["ties"]
    changed = sum(1 for i, lab in want["labels"].items() if want["mv"].get(i) not in (None, lab))
    assert block["n_changed_from_majority"] == changed
    assert block["annotator_reliability"] == {a: report_mod._f(v) for a, v in want["reliability"].items()}
    if want["priors"] is not None and "class_priors" in block:
        assert block["class_priors"] == {c: report_mod._f(p) for c, p in want["priors"].items()}
    anns, low, high = want["ci"]
    assert list(block["annotator_skill"]) == anns
    np.testing.assert_array_equal([block["annotator_skill"][a]["low"] for a in anns],
                                  [report_mod._f(x) for x in low])
    np.testing.assert_array_equal([block["annotator_skill"][a]["high"] for a in anns],
                                  [report_mod._f(x) for x in high])
    ref = want["amb"]
    assert amb is not None
    assert amb.item_ids.tolist() == ref.item_ids.tolist()
    assert amb.classes.tolist() == ref.classes.tolist()
    assert amb.annotator_ids.tolist() == ref.annotator_ids.tolist()
    np.testing.assert_array_equal(amb.distribution, ref.distribution)
    np.testing.assert_array_equal(amb.difficulty, ref.difficulty)
    np.testing.assert_array_equal(amb.ambiguous, ref.ambiguous)
    assert {k: v for k, v in block.items() if k.startswith("ambig") or k.startswith("n_ambig")} == \
        {k: v for k, v in report_mod._ambiguity_dict(ref).items()}
