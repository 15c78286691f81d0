"""accord's persistence: the append-only resolution log and the ledger (snapshots, QA runs, decisions).

Everything accord keeps on disk between runs lives here, never in ``accord.core``:

* :class:`~accord.store.resolution_log.ResolutionLog`: the JSON Lines log ``accord resolve --log``
  appends to (checksummed lines; a torn write is recognised exactly and never poisons later appends).
* :class:`~accord.store.ledger.Ledger`: a database (SQLite by default, PostgreSQL for teams) of
  content-addressed dataset snapshots, QA runs and reviewer decisions, every entry hash-chained.

Importing this package opens nothing and reads no environment.
"""

from __future__ import annotations

from .errors import (
    LedgerConnectionError,
    LedgerNotFoundError,
    ResolutionLogError,
    SchemaVersionError,
    SnapshotNotFoundError,
    SnapshotSourceError,
    StoreError,
)
from .resolution_log import LogContents, ResolutionLog

__all__ = [
    "LedgerConnectionError",
    "LedgerNotFoundError",
    "LogContents",
    "ResolutionLog",
    "ResolutionLogError",
    "SchemaVersionError",
    "SnapshotNotFoundError",
    "SnapshotSourceError",
    "StoreError",
]
