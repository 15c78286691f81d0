"""Pickling accord's data for the trip between Dask's client and workers.

accord's records, items and schemas keep their mappings read-only as :class:`types.MappingProxyType`,
which the standard pickler refuses. :func:`enable_pickling` registers a reducer for it (a copy of
the mapping, re-wrapped on load) with :mod:`copyreg`; every task in :mod:`accord.cluster` calls
it before it returns data, and the runner calls it on the client. Loading needs nothing
registered: the pickle names :func:`_mappingproxy`, importable in any process with accord.
"""

from __future__ import annotations

import copyreg
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

_done = False


def _mappingproxy(d: Mapping[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(dict(d))


def _reduce(m: MappingProxyType[str, Any]) -> tuple[Any, tuple[dict[str, Any]]]:
    return _mappingproxy, (dict(m),)


def enable_pickling() -> None:
    """Make :class:`types.MappingProxyType` picklable in this process (idempotent)."""
    global _done
    if not _done:
        copyreg.pickle(MappingProxyType, _reduce)
        _done = True
