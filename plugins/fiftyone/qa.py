"""accord's QA on FiftyOne datasets: thin adapters from FiftyOne labels to ``accord.core``.

Every function here reads a sample collection (a dataset or a view) with bulk
``values()`` calls, runs ``accord.core`` on plain arrays, and writes its
results back with bulk ``set_values()`` calls: never a per-sample ``save()``.

Coordinates: FiftyOne keeps boxes, polylines and keypoints relative to the
image, in [0, 1]. IoU is invariant to scaling each axis, so box and polygon
IoU computed in relative coordinates equal the pixel IoU, and no image
metadata is needed. Keypoint OKS and open-polyline similarity are not
axis-scale invariant: their points are scaled to pixels with the sample's
``metadata.width`` / ``height`` (a video's ``frame_width`` / ``frame_height``),
computed with ``compute_metadata()`` when missing; samples whose media cannot
be read are compared in relative coordinates, with a warning.

Video datasets: fields named ``frames.<name>`` are compared frame by frame and
the frames' results are pooled per sample (see :func:`compute_disagreement`).

What is written (``key`` defaults to ``"accord"``):

* on every compared label: ``<key>_status`` (``"tp"``, ``"fp"``, ``"fn"`` or
  ``"mismatch"``), ``<key>_category`` (the error-taxonomy category, or None),
  ``<key>_iou`` (similarity of its match, or None);
* on every segmentation label: per-class ``<key>_class_iou``, ``<key>_class_dice``,
  ``<key>_class_status`` and ``<key>_class_category`` (dicts keyed by class);
* on every sample: ``<key>_agreement`` in [0, 1] (None where undefined) and
  ``<key>_n_discrepancies`` (and the same on every frame, for frame fields);
* samples below the agreement threshold get a tag, a saved view sorts the
  collection by agreement (worst first), and a summary is stored in
  ``dataset.info[key]`` for the panel.

The jobs live in one module each, and this module re-exports their public names:

* :mod:`.fields`: label kinds, units, bulk reads and writes of FiftyOne fields;
* :mod:`.values`: FiftyOne labels as accord values;
* :mod:`.disagreement`: :func:`compute_disagreement`;
* :mod:`.consensus`: :func:`compute_consensus` (skill-weighted consensus written as a label field);
* :mod:`.label_errors`: :func:`find_label_errors`;
* :mod:`.review`: :func:`sample_for_review`, :func:`review_cost_config`,
  :func:`estimate_review_cost`.
"""

from __future__ import annotations

from .consensus import ConsensusResult, compute_consensus
from .disagreement import DisagreementResult, compute_disagreement
from .fields import LabelKind, label_kind
from .label_errors import LabelErrorResult, find_label_errors
from .review import (
    PRICING_FIELDS,
    ReviewCost,
    ReviewSample,
    SampleMethod,
    estimate_review_cost,
    review_cost_config,
    sample_for_review,
)

__all__ = ["PRICING_FIELDS", "ConsensusResult", "DisagreementResult", "LabelErrorResult", "LabelKind", "ReviewCost",
           "ReviewSample", "SampleMethod", "compute_consensus", "compute_disagreement", "estimate_review_cost",
           "find_label_errors", "label_kind", "review_cost_config", "sample_for_review"]
