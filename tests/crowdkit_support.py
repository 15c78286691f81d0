"""What the crowd-kit differential tests share: the scikit-learn patch crowd-kit 1.4 needs, a
quiet fit, and the label/posterior comparison (tests/test_truth_inference*.py)."""

from __future__ import annotations

import warnings
from typing import Any

import crowdkit.aggregation.classification.wawa as ck_wawa
import crowdkit.aggregation.classification.zero_based_skill as ck_zbs
import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import Wawa, ZeroBasedSkill


def patch_check_is_fitted(monkeypatch: pytest.MonkeyPatch) -> None:
    """crowd-kit 1.4's Wawa/ZBS ``predict`` calls scikit-learn's ``check_is_fitted``, which fails on
    scikit-learn >= 1.6 (no ``__sklearn_tags__``); the check only guards an unfitted model."""
    monkeypatch.setattr(ck_wawa, "check_is_fitted", lambda *a, **k: None)
    monkeypatch.setattr(ck_zbs, "check_is_fitted", lambda *a, **k: None)


def quiet_fit(model: Any, df: pd.DataFrame) -> Any:
    """Fit a crowd-kit aggregator (Wawa and ZBS through ``fit_predict``), warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(model, Wawa | ZeroBasedSkill):
            model.fit_predict(df)
        else:
            model.fit(df)
    return model


def same_labels_and_probas(ck: Any, ours: Any) -> None:
    """crowd-kit's labels equal ours, and its posteriors to 1e-9, on our items and classes."""
    items, classes = list(ours.item_ids), list(ours.classes)
    assert (ck.labels_.loc[items].to_numpy().astype(int) == ours.labels.astype(int)).all()
    np.testing.assert_allclose(ck.probas_.loc[items, classes].to_numpy(), ours.posteriors, atol=1e-9)
