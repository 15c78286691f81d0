"""3D checks on cuboids.

* ``cuboid.implausible_size``: a dimension (length, width or height) far from its
  class's typical size. Size priors come from the data itself: per label, the
  median and MAD of each log-dimension (robust to the outliers being sought;
  Rousseeuw & Croux 1993); a cuboid is flagged when any robust z-score exceeds
  ``z_threshold`` and the ratio to the median exceeds ``min_ratio``. Labels with
  fewer than ``min_count`` cuboids are skipped; zero dimensions are always flagged.
* ``cuboid.below_ground``: the cuboid's bottom (centre ``z`` minus half the height)
  below the ground by more than ``tolerance_m``. The ground is the plane
  ``ground_plane = [a, b, c, d]`` (``a x + b y + c z + d = 0``, normal pointing up),
  else ``z = ground_z``, else the item's ``meta["ground_z"]``; without any, nothing is checked.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from ..model import Cuboid, Record
from .base import MAD_TO_SD, POOR_LOCALIZATION, CheckConfig, CheckContext, Finding, finding
from .registry import register_check

_DIMS = ("length", "width", "height")


def _cuboids(ctx: CheckContext) -> list[tuple[Record, Cuboid]]:
    return [(r, r.value) for r in ctx.records("cuboid") if isinstance(r.value, Cuboid)]


def check_implausible_size(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Cuboids whose dimensions are outliers for their class."""
    zt, min_count, min_ratio = float(cfg["z_threshold"]), int(cfg["min_count"]), float(cfg["min_ratio"])
    by_label: dict[str, list[tuple[Record, Cuboid]]] = {}
    for r, c in _cuboids(ctx):
        by_label.setdefault(c.label, []).append((r, c))
    for label, members in by_label.items():
        dims = np.array([(c.length, c.width, c.height) for _, c in members], dtype=np.float64)
        bad, z, med = implausible_sizes(dims, zt=zt, min_count=min_count, min_ratio=min_ratio)
        for k in np.flatnonzero(bad):
            r, c = members[k]
            yield implausible_size_finding(cfg, r, label, dims[k], z[k], med, len(members))


def implausible_sizes(dims: npt.NDArray[np.float64], *, zt: float, min_count: int, min_ratio: float
                      ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(bad, z, median log-dimension)`` for the ``(n, 3)`` dimensions of one class's cuboids."""
    zero = (dims <= 0).any(axis=1)
    if len(dims) >= min_count:
        with np.errstate(divide="ignore"):
            logd = np.log(np.where(dims > 0, dims, np.nan))
        med = np.nanmedian(logd, axis=0)
        mad = MAD_TO_SD * np.nanmedian(np.abs(logd - med), axis=0)
        # A floor on the MAD (1% in size) keeps identical priors from flagging rounding noise.
        z = (logd - med) / np.maximum(mad, 0.01)
        bad = zero | ((np.abs(z) > zt) & (np.abs(logd - med) > np.log(min_ratio))).any(axis=1)
    else:
        z = np.full_like(dims, np.nan)
        med = np.full(3, np.nan)
        bad = zero
    return bad, z, med


def implausible_size_finding(cfg: CheckConfig, record: Record, label: str, dims: npt.NDArray[np.float64],
                             z: npt.NDArray[np.float64], med: npt.NDArray[np.float64], n_class: int) -> Finding:
    """The finding of one cuboid (``record``) whose length, width and height ``dims`` are implausible."""
    ev = {"dims_m": dict(zip(_DIMS, dims.tolist(), strict=True)),
          "median_m": dict(zip(_DIMS, np.exp(med).tolist(), strict=True)),
          "z": dict(zip(_DIMS, z.tolist(), strict=True)), "n_class": n_class}
    length, width, height = dims.tolist()
    return finding(cfg.name, cfg, record, category=POOR_LOCALIZATION, evidence=ev,
                   message=f"{label!r} cuboid of {length:.2f} x {width:.2f} x {height:.2f} m is "
                           f"implausible for its class")


def check_below_ground(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    """Cuboids whose bottom lies below the ground plane."""
    tol = float(cfg["tolerance_m"])
    plane = cfg["ground_plane"]
    if plane:
        a, b, c, d = (float(v) for v in plane)
        norm = float(np.sqrt(a * a + b * b + c * c))
    for r, cub in _cuboids(ctx):
        bottom = cub.z - cub.height / 2
        if plane:
            dist = (a * cub.x + b * cub.y + c * bottom + d) / norm
        else:
            it = ctx.item(r.item_id)
            gz = cfg["ground_z"]
            if gz is None and it is not None:
                gz = it.meta.get("ground_z")
            if gz is None:
                continue
            dist = bottom - float(gz)
        if dist < -tol:
            yield finding(cfg.name, cfg, r, category=POOR_LOCALIZATION,
                          evidence={"depth_below_ground_m": -dist, "bottom_z": bottom},
                          message=f"cuboid bottom is {-dist:.2f} m below the ground")


def register() -> None:
    """Register the 3D checks."""
    register_check("cuboid.implausible_size", kinds=("cuboid",), fn=check_implausible_size, severity="minor",
                   params={"z_threshold": 5.0, "min_ratio": 1.5, "min_count": 10},
                   description="cuboid dimensions implausible for their class (robust priors from the data)")
    register_check("cuboid.below_ground", kinds=("cuboid",), fn=check_below_ground, severity="major",
                   params={"ground_plane": [], "ground_z": None, "tolerance_m": 0.3},
                   description="cuboids below the ground plane, when one is given")
