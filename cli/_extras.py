"""Import optional dependencies with an error that names the pip extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from accord.core.errors import MissingExtraError


def require(module: str, extra: str, *, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``accord[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        what = f" for {purpose}" if purpose else ""
        raise MissingExtraError(
            f"{module!r} is needed{what} but is not installed; "
            f"install it with: pip install 'accord[{extra}]'"
        ) from e
