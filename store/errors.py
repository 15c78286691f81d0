"""The errors the store raises: each is an :class:`~accord.core.errors.AccordError` (the CLI's exit code 2)."""

from __future__ import annotations

from accord.core.errors import AccordError


class StoreError(AccordError, RuntimeError):
    """The ledger cannot be opened, read or written as asked (the message says what to do)."""


class LedgerNotFoundError(StoreError):
    """No ledger at the given location (run ``accord ledger init``)."""


class LedgerConnectionError(StoreError):
    """The database server cannot be reached or refused the connection."""


class SchemaVersionError(StoreError):
    """The ledger's schema is newer than this accord understands."""


class SnapshotNotFoundError(StoreError, LookupError):
    """No snapshot of that name or hash."""


class ResolutionLogError(StoreError, ValueError):
    """A resolution log line (not a torn one) is not a valid resolution."""


class SnapshotSourceError(StoreError):
    """A live source for a snapshot (a CVAT task, ...) could not be read; the message says what to check."""
