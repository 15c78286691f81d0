"""Size limits on untrusted input, so that one file cannot take all the memory or time.

A small export can ask for a huge allocation: a zip whose ``annotations.xml`` inflates
to gigabytes, a polygon with 100,000 points (its pairwise edge tables grow with the
square), an image said to be 10^9 pixels wide, a bootstrap of 2*10^9 resamples. Every
such place checks a limit from :class:`InputLimits` and raises
:class:`~accord.core.errors.LimitExceededError` with one line that names the limit, the
value that came, and the ``accord`` option that raises it.

The limits in force are per context (a :class:`contextvars.ContextVar`, so threads and
asyncio tasks each see their own); :func:`current_limits` reads them and
:func:`input_limits` changes some for a ``with`` block. The ``accord`` command sets them
from its top-level options (``accord --max-polygon-points 50000 report ...``).

Example:
    >>> current_limits().max_polygon_points
    10000
    >>> with input_limits(max_polygon_points=50_000):
    ...     current_limits().max_polygon_points
    50000
    >>> current_limits().max_polygon_points
    10000
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any

from .errors import ConfigError, LimitExceededError

__all__ = ["FLAGS", "InputLimits", "check_limit", "current_limits", "input_limits"]

#: The ``accord`` top-level option that sets each limit (named in every error message).
FLAGS: dict[str, str] = {
    "max_zip_member_bytes": "--max-zip-member-mb",
    "max_zip_ratio": "--max-zip-ratio",
    "max_polygon_points": "--max-polygon-points",
    "max_raster_pixels": "--max-image-pixels",
    "max_bootstrap": "--max-bootstrap",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class InputLimits:
    """The limits (every one > 0).

    Attributes:
        max_zip_member_bytes: The most bytes one zip member (a CVAT ``annotations.xml``) may
            inflate to. Default 1 GiB.
        max_zip_ratio: The most a zip member may inflate relative to its compressed size.
            XML exports compress 5-30x; a zip bomb reaches ~1000x (deflate's ceiling). Default 200.
        max_polygon_points: The most vertices one polygon may have where polygons are compared
            (exact IoU builds edge-by-edge tables per pair). Default 10,000.
        max_raster_pixels: The most pixels (height x width) of an image that a polygon is
            rasterized on or a mask is decoded on. Default 2^28 (a 16K x 16K image).
        max_bootstrap: The most bootstrap resamples (``--boot``, ``n_bootstrap``). Default 100,000.
    """

    max_zip_member_bytes: int = 1 << 30
    max_zip_ratio: float = 200.0
    max_polygon_points: int = 10_000
    max_raster_pixels: int = 1 << 28
    max_bootstrap: int = 100_000

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0 or v == float("inf"):
                raise ConfigError(f"input limit {f.name} must be a finite number > 0, got {v!r} "
                                  f"(set with accord {FLAGS[f.name]})")


_CURRENT: ContextVar[InputLimits] = ContextVar("accord_input_limits", default=InputLimits())  # noqa: B039


def current_limits() -> InputLimits:
    """The limits in force in this context."""
    return _CURRENT.get()


@contextmanager
def input_limits(**changes: Any) -> Iterator[InputLimits]:
    """Change some limits for the duration of a ``with`` block (keyword names as in :class:`InputLimits`).

    Raises:
        ConfigError: an unknown name or a value that is not a number > 0.
    """
    known = {f.name for f in fields(InputLimits)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigError(f"unknown input limits {unknown}; known: {sorted(known)}")
    token = _CURRENT.set(replace(_CURRENT.get(), **changes))
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def check_limit(name: str, value: float, what: str, *, unit: str = "") -> None:
    """Raise :class:`LimitExceededError` when ``value`` is above the limit ``name`` in force.

    The message reads ``f"{what} {value}{unit}, over the limit of {limit}{unit} ({name}); ..."``,
    so ``what`` is e.g. ``"polygon reference[3] has"`` and ``unit`` ``" points"``.
    """
    limit = getattr(current_limits(), name)
    if value > limit:
        raise LimitExceededError(
            f"{what} {value:,.0f}{unit}, over the limit of {limit:,.0f}{unit} ({name}); if the input is genuine, "
            f"raise it with 'accord {FLAGS[name]} N ...' (before the subcommand) or, in Python, "
            f"accord.core.limits.input_limits({name}=N)", limit=name, value=value, maximum=limit)
