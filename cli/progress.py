"""Progress bars for long work (tqdm when installed and stderr is a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None,
             enabled: bool = True) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar on an interactive stderr; plain iteration otherwise."""
    if enabled and sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            yield from tqdm(iterable, desc=desc, total=total, unit="it", leave=False)
            return
    yield from iterable
