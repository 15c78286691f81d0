"""Object keypoint similarity (OKS) between keypoint skeletons, as in COCO keypoint evaluation.

For a reference skeleton with labeled keypoints ``i`` (visibility > 0) and a
candidate skeleton::

    OKS = mean_i exp(-d_i^2 / (2 * area * (2 * sigma_i)^2))

where ``d_i`` is the distance between the two points named ``i``, ``area`` is
the reference object's area and ``sigma_i`` the per-keypoint falloff
(COCO's ``computeOks`` in ``pycocotools/cocoeval.py``; Ronchi & Perona,
"Benchmarking and Error Diagnosis in Multi-Instance Pose Estimation", ICCV
2017; https://cocodataset.org/#keypoints-eval). The default sigmas are COCO's
17 person keypoints; others are given by name.

Differences from COCO, all documented: keypoints are paired by *name*, not by
position; a reference keypoint that the candidate lacks or marks visibility 0
counts as infinitely far (contributes 0); a reference with no labeled keypoint
has undefined OKS (NaN; :func:`~accord.core.matching.base.match_similarity`
never matches NaN). COCO uses the object's segmentation area; here ``area``
comes from ``reference_areas`` when given, otherwise the area of the reference
keypoints' bounding box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

from ..errors import InvalidAnnotationError
from ..model import Keypoints
from .base import FloatArray
from .registry import register_similarity

__all__ = ["COCO_PERSON_SIGMAS", "DEFAULT_KEYPOINT_SIGMA", "oks_matrix"]

#: The falloff used for keypoints that are not COCO person keypoints when the caller gives
#: none of its own (the QA report, ``[report] default_keypoint_sigma``; the FiftyOne plugin):
#: 0.05, inside COCO's range (0.025 for eyes to 0.107 for hips) and near its mean (0.072)
#: without being as lenient as the hips. At OKS 0.5 a point then matches within about
#: ``0.12 * sqrt(area)`` of the reference (a 1-pixel-squared area scale gives 0.12 px).
DEFAULT_KEYPOINT_SIGMA: float = 0.05

#: COCO's per-keypoint sigmas for the 17 person keypoints (pycocotools ``COCOeval``'s ``kpt_oks_sigmas``).
COCO_PERSON_SIGMAS: Mapping[str, float] = MappingProxyType(dict(zip(
    ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
     "left_knee", "right_knee", "left_ankle", "right_ankle"),
    (np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89])
     / 10.0).tolist(),
    strict=True,
)))


def oks_matrix(
    reference: Sequence[Keypoints],
    candidate: Sequence[Keypoints],
    *,
    sigmas: Mapping[str, float] | None = None,
    default_sigma: float | None = None,
    reference_areas: Sequence[float] | None = None,
) -> FloatArray:
    """OKS between every reference and candidate skeleton.

    Args:
        reference: ``n`` :class:`~accord.core.model.Keypoints` values (the gold skeletons).
        candidate: ``m`` skeletons.
        sigmas: Per-keypoint sigma by name, overriding / extending :data:`COCO_PERSON_SIGMAS`.
        default_sigma: Sigma for names found in neither; without it an unknown name raises.
        reference_areas: Object area of each reference (e.g. its box or segmentation area);
            default: the area of the bounding box of its labeled keypoints.

    Returns:
        (n, m) OKS in [0, 1]; NaN in rows whose reference has no labeled keypoint. Not
        symmetric: the reference decides which points count and the scale.

    Raises:
        InvalidAnnotationError: For a keypoint name with no sigma, a sigma <= 0, or a wrong
            number of areas.

    >>> from accord.core.model import Keypoint, Keypoints
    >>> ref = Keypoints(label="p", points=(Keypoint(name="nose", x=0, y=0),))
    >>> cand = Keypoints(label="p", points=(Keypoint(name="nose", x=1, y=0),))
    >>> # area 1 (given), sigma 0.026: exp(-1 / (2 * 1 * 0.052**2))
    >>> float(oks_matrix([ref], [cand], reference_areas=[1.0])[0, 0]) < 1e-40
    True
    """
    for role, values in (("reference", reference), ("candidate", candidate)):
        for i, v in enumerate(values):
            if not isinstance(v, Keypoints):
                raise InvalidAnnotationError(
                    f"{role}[{i}] should be a Keypoints value, got {type(v).__name__}; pass only skeletons"
                )
    table = dict(COCO_PERSON_SIGMAS)
    if sigmas:
        table.update({str(k): float(s) for k, s in sigmas.items()})
    bad = {k: s for k, s in table.items() if not s > 0}
    if bad or (default_sigma is not None and not default_sigma > 0):
        raise InvalidAnnotationError(f"sigmas must be > 0, got {bad or default_sigma!r}")
    if reference_areas is not None and len(reference_areas) != len(reference):
        raise InvalidAnnotationError(
            f"need one area per reference skeleton: {len(reference)} skeletons, {len(reference_areas)} areas"
        )
    n, m = len(reference), len(candidate)
    out = np.zeros((n, m))
    if n == 0 or m == 0:
        return out
    # One column per keypoint name; candidate coordinates NaN where missing or not labeled.
    names: dict[str, int] = {}
    for v in reference:
        for p in v.points:
            if p.visibility > 0:
                names.setdefault(p.name, len(names))
    k = len(names)
    ref_xy = np.full((n, k, 2), np.nan)
    cand_xy = np.full((m, k, 2), np.nan)
    for i, v in enumerate(reference):
        for p in v.points:
            if p.visibility > 0:
                ref_xy[i, names[p.name]] = (p.x, p.y)
    for j, v in enumerate(candidate):
        for p in v.points:
            if p.visibility > 0 and p.name in names:
                cand_xy[j, names[p.name]] = (p.x, p.y)
    sig = np.empty(k)
    for name, col in names.items():
        s = table.get(name, default_sigma)
        if s is None:
            unknown = sorted(n for n in names if n not in table)
            raise InvalidAnnotationError(
                f"no sigma for keypoint {name!r} ({len(unknown)} name(s) without one: {unknown[:10]!r}); "
                f"sigmas are known for {len(table)} names (COCO's person keypoints and those given). "
                f"Give sigmas={{{name!r}: {DEFAULT_KEYPOINT_SIGMA}}} or default_sigma={DEFAULT_KEYPOINT_SIGMA} "
                "(DEFAULT_KEYPOINT_SIGMA)"
            )
        sig[col] = s
    labeled = ~np.isnan(ref_xy[..., 0])  # (n, k)
    if reference_areas is not None:
        area = np.asarray(reference_areas, dtype=np.float64)
        if np.any(~np.isfinite(area)) or np.any(area < 0):
            raise InvalidAnnotationError(f"reference areas must be finite and >= 0, got {list(reference_areas)!r}")
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            hi = np.max(np.where(labeled[..., None], ref_xy, -np.inf), axis=1, initial=-np.inf)
            lo = np.min(np.where(labeled[..., None], ref_xy, np.inf), axis=1, initial=np.inf)
            span = hi - lo
            area = np.where(labeled.any(axis=1), span[:, 0] * span[:, 1], 0.0)
    d2 = np.sum((ref_xy[:, None] - cand_xy[None, :]) ** 2, axis=3)  # (n, m, k), NaN where missing
    var = (2 * sig) ** 2
    eps = np.spacing(1)  # COCO adds machine epsilon to the area
    e = d2 / var[None, None, :] / (area[:, None, None] + eps) / 2
    contrib = np.where(np.isnan(e), 0.0, np.exp(-np.where(np.isnan(e), 0.0, e)))
    contrib = np.where(labeled[:, None, :], contrib, 0.0)
    count = labeled.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = np.where(count[:, None] > 0, contrib.sum(axis=2) / count[:, None], np.nan)
    return result


register_similarity(Keypoints.kind, oks_matrix)
