"""The ``grabcut`` predictor family: interactive masks from a box or clicks, classical and offline.

:class:`GrabCutSegmenter` turns a :class:`Prompt` (a box, positive and negative clicks,
in pixels) into one ``mask`` :class:`~.predictor_spec.Prediction` with OpenCV's GrabCut
(Rother, Kolmogorov & Blake 2004, "GrabCut: interactive foreground extraction using
iterated graph cuts"; ``cv2.grabCut``). Seeds:

* a box: outside it is background for sure, inside it is probably foreground
  (GrabCut's rectangle mode);
* a positive click: a small disc of sure foreground; with no box, the rest of the
  image starts as probable background and a disc of a fifth of the image's short side
  around the click as probable foreground, so the colour models start near the object;
* a negative click: a small disc of sure background.

The prediction's label is the prompt's (the label the annotator chose in Label Studio)
and its score is 1.0: GrabCut gives no calibrated confidence, and the annotator's prompt
vouches for the region. Images whose longer side exceeds ``max_side`` are segmented at
that size and the mask is scaled back (nearest neighbour), so a large photo answers in well under a second.

It answers only interactive requests (Label Studio's smart tools): :meth:`predict`
without a prompt returns nothing. Needs ``opencv-python-headless`` (``accord[serve]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from accord.core.errors import BadPredictorError
from accord.ml_backends.predictor_spec import LabelInfo, Prediction


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt:
    """What the annotator drew, in pixels of the image: a box and/or clicks, and the label to give the mask.

    Attributes:
        label: The mask's label.
        box: ``(x1, y1, x2, y2)`` with ``x1 < x2``, ``y1 < y2``, inside the image, or None.
        positive: Clicks on the object, ``(x, y)`` each.
        negative: Clicks off the object.
    """

    label: str
    box: tuple[float, float, float, float] | None = None
    positive: tuple[tuple[float, float], ...] = ()
    negative: tuple[tuple[float, float], ...] = ()


@runtime_checkable
class InteractivePredictor(Protocol):
    """A predictor that also answers a :class:`Prompt` (Label Studio's interactive mode)."""

    @property
    def labels(self) -> tuple[LabelInfo, ...]: ...

    def predict(self, image: npt.NDArray[np.uint8]) -> list[Prediction]: ...

    def segment(self, image: npt.NDArray[np.uint8], prompt: Prompt) -> list[Prediction]: ...


class GrabCutSegmenter:
    """Interactive masks by GrabCut (see the module docstring).

    Args:
        iterations: GrabCut iterations, 1 or more (5 by default).
        max_side: Longest image side GrabCut runs at, 32 or more (800 by default).
        click_radius: Radius in pixels (at the working size) of the sure disc around a click.
    """

    def __init__(self, *, iterations: int = 5, max_side: int = 800, click_radius: int = 3) -> None:
        if not isinstance(iterations, int) or iterations < 1:
            raise BadPredictorError(f"grabcut iterations must be an integer >= 1, got {iterations!r}")
        if not isinstance(max_side, int) or max_side < 32:
            raise BadPredictorError(f"grabcut max_side must be an integer >= 32, got {max_side!r}")
        if not isinstance(click_radius, int) or click_radius < 1:
            raise BadPredictorError(f"grabcut click_radius must be an integer >= 1, got {click_radius!r}")
        self.iterations = iterations
        self.max_side = max_side
        self.click_radius = click_radius

    @property
    def labels(self) -> tuple[LabelInfo, ...]:
        """One generic ``object`` mask; interactive masks take the prompt's label instead."""
        return (LabelInfo(name="object", kind="mask"),)

    def predict(self, image: npt.NDArray[np.uint8]) -> list[Prediction]:
        """Nothing: GrabCut needs a box or a click (see :meth:`segment`)."""
        return []

    def segment(self, image: npt.NDArray[np.uint8], prompt: Prompt) -> list[Prediction]:
        """One mask for ``prompt``, or none when GrabCut finds no foreground.

        Raises:
            BadPredictorError: the prompt has neither a box nor a positive click, or lies outside the image.
        """
        try:
            import cv2
        except ImportError as e:
            raise BadPredictorError("the grabcut predictor needs OpenCV; install it with: "
                                    "pip install 'accord[serve]'") from e
        h, w = int(image.shape[0]), int(image.shape[1])
        _check_prompt(prompt, w, h)
        scale = min(1.0, self.max_side / max(h, w))
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        img = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
        small = img if scale == 1.0 else cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        seed = np.full((sh, sw), cv2.GC_PR_BGD, dtype=np.uint8)
        if prompt.box is not None:
            x1, y1, x2, y2 = (v * scale for v in prompt.box)
            seed[:] = cv2.GC_BGD
            c1, r1 = max(0, math.floor(x1)), max(0, math.floor(y1))
            c2, r2 = min(sw, math.ceil(x2)), min(sh, math.ceil(y2))
            seed[r1:r2, c1:c2] = cv2.GC_PR_FGD
        else:
            grow = max(self.click_radius + 1, round(min(sw, sh) / 5))
            for x, y in prompt.positive:
                cv2.circle(seed, (round(x * scale), round(y * scale)), grow, int(cv2.GC_PR_FGD), -1)
        for x, y in prompt.positive:
            cv2.circle(seed, (round(x * scale), round(y * scale)), self.click_radius, int(cv2.GC_FGD), -1)
        for x, y in prompt.negative:
            cv2.circle(seed, (round(x * scale), round(y * scale)), self.click_radius, int(cv2.GC_BGD), -1)
        if not np.isin(seed, (cv2.GC_BGD, cv2.GC_PR_BGD)).any() or not np.isin(
                seed, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
            # GrabCut needs both colour models: a box covering the whole image leaves no background
            seed[[0, -1], :] = np.where(seed[[0, -1], :] == cv2.GC_FGD, cv2.GC_FGD, cv2.GC_PR_BGD)
            seed[:, [0, -1]] = np.where(seed[:, [0, -1]] == cv2.GC_FGD, cv2.GC_FGD, cv2.GC_PR_BGD)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)  # GrabCut's k-means starts from OpenCV's global RNG: same prompt, same mask
        try:
            cv2.grabCut(bgr, seed, (0, 0, 0, 0), bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
        except cv2.error as e:
            raise BadPredictorError("GrabCut could not segment this prompt (too few pixels of object or "
                                    "background); draw a larger box or click inside the object") from e
        fg = (seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)
        if scale != 1.0:
            fg = cv2.resize(fg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        mask: npt.NDArray[np.bool_] = np.asarray(fg, dtype=bool)
        if not mask.any():
            return []
        return [Prediction(label=prompt.label, kind="mask", score=1.0, mask=mask)]


def _check_prompt(prompt: Prompt, width: int, height: int) -> None:
    def inside(x: float, y: float) -> bool:
        return math.isfinite(x) and math.isfinite(y) and 0.0 <= x <= width and 0.0 <= y <= height

    if prompt.box is None and not prompt.positive:
        raise BadPredictorError("a grabcut prompt needs a box or a positive click; draw a rectangle or "
                                "click on the object")
    if prompt.box is not None:
        x1, y1, x2, y2 = prompt.box
        if not (inside(x1, y1) and inside(x2, y2) and x2 - x1 >= 1.0 and y2 - y1 >= 1.0):
            raise BadPredictorError(f"the box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) must lie inside the "
                                    f"{width} x {height} image and be at least 1 pixel wide and high")
    for x, y in (*prompt.positive, *prompt.negative):
        if not inside(x, y):
            raise BadPredictorError(f"the click ({x:g}, {y:g}) is outside the {width} x {height} image")


def grabcut_from_params(**params: Any) -> GrabCutSegmenter:
    """A :class:`GrabCutSegmenter` from CLI parameters (strings allowed).

    Takes ``iterations``, ``max_side`` and ``click_radius``.

    Raises:
        BadPredictorError: an unknown parameter, or a value that is not a whole number.
    """
    known = ("iterations", "max_side", "click_radius")
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise BadPredictorError(f"the grabcut predictor takes {list(known)}, got {unknown}")
    kw: dict[str, int] = {}
    for k, v in params.items():
        try:
            kw[k] = int(v)
        except (TypeError, ValueError) as e:
            raise BadPredictorError(f"grabcut {k} must be a whole number, got {v!r}") from e
    return GrabCutSegmenter(**kw)


__all__: Sequence[str] = ("GrabCutSegmenter", "InteractivePredictor", "Prompt", "grabcut_from_params")
