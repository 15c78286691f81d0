"""The ``contours`` predictor family: :class:`ContourDetector`, classical and offline.

:class:`ContourDetector` is the default: classical and deterministic, it needs no
download. It separates foreground from background by Otsu's threshold (Otsu 1979,
"A threshold selection method from gray-level histograms"), on the side of the
histogram that differs from the border's, and reports each connected blob as an
``object`` (box, polygon, mask, and an ``extent`` skeleton of its four extreme
points), plus an image tag ``light`` or ``dark`` for the background. The score of a
blob is its solidity (area over the area of the convex hull of its outline), in
``[0, 1]``. Blobs are 4-connected components (``scipy.ndimage.label``). Outlines come
from OpenCV's ``findContours`` when ``opencv-python-headless`` is installed (vertices at
boundary pixel centres); without it the outline is the blob's bounding rectangle in the
same convention, so polygons and scores are coarser. It is a baseline for pipelines and
tests, not a trained model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core.errors import BadPredictorError
from accord.ml_backends.predictor_spec import LabelInfo, Prediction, PredictionKind


def _components(fg: npt.NDArray[np.bool_]) -> list[npt.NDArray[np.bool_]]:
    from scipy import ndimage

    lab, n = ndimage.label(fg)
    return [lab == i for i in range(1, n + 1)]


def _otsu(gray: npt.NDArray[np.uint8]) -> int:
    hist = np.bincount(gray.ravel(), minlength=256).astype(float)
    p = hist / hist.sum()
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    return int(np.nanargmax(between))


def _hull_area(pts: npt.NDArray[np.float64]) -> float:
    """Convex hull area by the monotone chain (Andrew 1979)."""
    p = sorted(set(map(tuple, pts.tolist())))
    if len(p) < 3:
        return 0.0

    def cross(o: Any, a: Any, b: Any) -> float:
        return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))

    lower: list[Any] = []
    for q in p:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    upper: list[Any] = []
    for q in reversed(p):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    h = np.array(lower[:-1] + upper[:-1], dtype=float)
    return float(abs(np.dot(h[:, 0], np.roll(h[:, 1], 1)) - np.dot(h[:, 1], np.roll(h[:, 0], 1))) / 2)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContourDetector:
    """Blobs that differ from the image border, by Otsu's threshold (see the module docstring).

    Attributes:
        min_area_px: Blobs smaller than this are ignored.
        kinds: Which geometries to report for each blob.
    """

    min_area_px: int = 16
    kinds: tuple[PredictionKind, ...] = ("box", "polygon", "mask", "keypoints", "tag")

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        out = [LabelInfo(name="object", kind=k) for k in self.kinds if k in ("box", "polygon", "mask")]
        if "keypoints" in self.kinds:
            out.append(LabelInfo(name="extent", kind="keypoints", keypoints=("top", "right", "bottom", "left")))
        if "tag" in self.kinds:
            out += [LabelInfo(name="light", kind="tag"), LabelInfo(name="dark", kind="tag")]
        return tuple(out)

    def predict(self, image: npt.NDArray[np.uint8]) -> list[Prediction]:
        """Predictions for one ``H x W x 3`` (or ``H x W``) uint8 image.

        Raises:
            BadPredictorError: the image is not a 2-D or 3-D uint8 array.
        """
        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or img.size == 0:
            raise BadPredictorError(f"expected a non-empty uint8 image H x W (x C), got dtype {img.dtype} shape "
                                    f"{img.shape}; convert with np.asarray(pil_image.convert('RGB'))")
        gray = img if img.ndim == 2 else img[..., :3].mean(axis=2).round().astype(np.uint8)
        t = _otsu(gray)
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        light_bg = float(np.median(border)) > t
        fg = gray <= t if light_bg else gray > t
        out: list[Prediction] = []
        if "tag" in self.kinds:
            out.append(Prediction(label="light" if light_bg else "dark", kind="tag",
                                  score=float(abs(np.median(border) - t) / 255.0) if border.size else 0.0))
        for comp in _components(fg):
            area = int(comp.sum())
            if area < self.min_area_px:
                continue
            ys, xs = np.nonzero(comp)
            x1, y1, x2, y2 = float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1
            poly = _outline(comp)
            hull = _hull_area(np.array(poly, dtype=float)) if len(poly) >= 3 else 0.0
            score = float(min(1.0, area / hull)) if hull > 0 else 1.0
            if "box" in self.kinds:
                out.append(Prediction(label="object", kind="box", score=score, points=((x1, y1), (x2, y2))))
            if "polygon" in self.kinds and len(poly) >= 3:
                out.append(Prediction(label="object", kind="polygon", score=score, points=tuple(poly)))
            if "mask" in self.kinds:
                out.append(Prediction(label="object", kind="mask", score=score, mask=comp))
            if "keypoints" in self.kinds:
                top = (float(xs[np.argmin(ys)]) + 0.5, y1 + 0.5)
                bottom = (float(xs[np.argmax(ys)]) + 0.5, y2 - 0.5)
                left = (x1 + 0.5, float(ys[np.argmin(xs)]) + 0.5)
                right = (x2 - 0.5, float(ys[np.argmax(xs)]) + 0.5)
                out.append(Prediction(label="extent", kind="keypoints", score=score,
                                      points=(top, right, bottom, left)))
        return out


def _outline(comp: npt.NDArray[np.bool_]) -> list[tuple[float, float]]:
    """The blob's outer contour in pixel-corner coordinates (OpenCV when installed)."""
    try:
        import cv2
    except ImportError:
        ys, xs = np.nonzero(comp)
        x1, y1, x2, y2 = float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
        return [(x1, y1), (x1, y2), (x2, y2), (x2, y1)]
    contours, _ = cv2.findContours(comp.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    c = max(contours, key=cv2.contourArea)
    return [(float(x), float(y)) for x, y in c.reshape(-1, 2)]


def contours_from_params(**params: Any) -> ContourDetector:
    """The ``contours`` factory: ``kinds="box,polygon"`` and ``min_area_px="32"`` from the CLIs are converted."""
    kinds = params.pop("kinds", None)
    if isinstance(kinds, str):
        params["kinds"] = tuple(k.strip() for k in kinds.split(",") if k.strip())
    elif kinds is not None:
        params["kinds"] = tuple(kinds)
    if "min_area_px" in params:
        params["min_area_px"] = int(params["min_area_px"])
    return ContourDetector(**params)
