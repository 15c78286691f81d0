"""Database connections for the ledger: SQLite (stdlib ``sqlite3``) or PostgreSQL (psycopg 3).

A ledger is named by a URL: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (the
SQLAlchemy spelling; a bare file path works too) or ``postgresql://user@host:port/dbname``.
SQL is written once with ``?`` placeholders; :class:`Database` adapts it to the driver.

Writers serialise on one lock per ledger (SQLite ``BEGIN IMMEDIATE`` with a busy timeout;
PostgreSQL a transaction-scoped advisory lock), so appending to the hash chain is a
read-modify-write no other writer can interleave with.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from .errors import LedgerConnectionError, LedgerNotFoundError, StoreError

logger = logging.getLogger(__name__)

Dialect = Literal["sqlite", "postgresql"]
DEFAULT_PATH = Path(".accord") / "ledger.db"
BUSY_TIMEOUT_S = 30.0
_LOCK_KEY = 0x0ACC0D  # the advisory lock writers take on PostgreSQL
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def default_url(cwd: Path | None = None) -> str:
    """The ledger in ``.accord/ledger.db`` under ``cwd`` (the current folder by default)."""
    return f"sqlite:///{(cwd or Path.cwd()) / DEFAULT_PATH}"


def resolve_url(given: str | None, environ: os._Environ[str] | dict[str, str] | None = None) -> str:
    """``--db`` if given, else ``$ACCORD_DB``, else the default SQLite file under ``.accord/``."""
    env = os.environ if environ is None else environ
    return given or env.get("ACCORD_DB") or default_url()


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (or bare path); None for a server URL."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    if url.startswith("sqlite://"):
        raise StoreError(f"cannot read SQLite URL {url!r}; write sqlite:///relative/path.db or "
                         "sqlite:////absolute/path.db")
    if "://" in url:
        return None
    return Path(url)


def dialect_of(url: str) -> Dialect:
    """``sqlite`` or ``postgresql`` (``postgres://`` and ``postgresql+psycopg://`` included)."""
    if sqlite_path(url) is not None:
        return "sqlite"
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise StoreError(f"unsupported database URL {redact(url)!r}; expected sqlite:///path/to/ledger.db or "
                     "postgresql://user@host:port/dbname")


class Database:
    """One connection, with transactions and ``?``-placeholder SQL for either backend."""

    def __init__(self, url: str, *, create: bool = False) -> None:
        self.url = url
        self.dialect: Dialect = dialect_of(url)
        self.conn: Any
        if self.dialect == "sqlite":
            path = sqlite_path(url) or Path(url)
            self.path: Path | None = path
            if not path.exists():
                if not create:
                    raise LedgerNotFoundError(f"no ledger at {path}; run 'accord ledger init' first (or pass "
                                              "--db URL / set $ACCORD_DB to an existing one)")
                path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
                self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                self.conn.execute("PRAGMA synchronous = FULL")
                self.conn.execute("PRAGMA temp_store = MEMORY")
                self.conn.execute("PRAGMA cache_size = -131072")  # 128 MiB: big snapshots update large indexes
            except sqlite3.DatabaseError as e:
                raise StoreError(f"{path} is not a usable SQLite ledger ({e}); pass --db with the right "
                                 "file, or move this one away and run 'accord ledger init'") from e
            if mode != "wal":  # pragma: no cover - e.g. a network filesystem
                logger.warning("%s: SQLite refused WAL mode (%s); concurrent readers will wait", path, mode)
        else:
            self.path = None
            try:
                import psycopg
            except ImportError as e:
                from accord.core.errors import MissingExtraError

                raise MissingExtraError("a PostgreSQL ledger needs psycopg 3: pip install 'accord[store]'") from e
            dsn = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
            try:
                self.conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
            except psycopg.Error as e:
                reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                raise LedgerConnectionError(
                    f"cannot connect to the ledger database {redact(url)} ({reason}); check --db / $ACCORD_DB "
                    "and that the server is running and reachable") from e

    # -- SQL ------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns the driver's cursor."""
        return self.conn.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for every row."""
        if self.dialect == "sqlite":
            self.conn.executemany(sql, rows)
        else:
            with self.conn.cursor() as cur:
                cur.executemany(self._sql(sql), list(rows))

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Bulk-insert rows (PostgreSQL ``COPY``; SQLite ``executemany``)."""
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return
        # COPY's text format written by hand (psycopg's write_row is per-value Python): NULL as \N,
        # backslash, tab, newline and carriage return escaped; sent in chunks of about 1 MB. Most rows
        # (hex hashes, ids, JSON bodies) need no escaping: join them as they are and check the whole line
        # once (a tab inside a value shows as one tab too many), escaping value by value only when needed
        tabs = len(columns) - 1
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            chunk: list[str] = []
            size = 0
            for row in rows:
                line = None if None in row else "\t".join([v if type(v) is str else str(v) for v in row])
                if line is None or "\\" in line or "\n" in line or "\r" in line or line.count("\t") != tabs:
                    line = "\t".join("\\N" if v is None else str(v).translate(_COPY_ESCAPES) for v in row)
                line += "\n"
                chunk.append(line)
                size += len(line)
                if size > 1 << 20:
                    cp.write("".join(chunk).encode("utf-8"))
                    chunk, size = [], 0
            if chunk:
                cp.write("".join(chunk).encode("utf-8"))

    def table_exists(self, name: str) -> bool:
        """Whether a table of that name exists."""
        if self.dialect == "sqlite":
            sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            sql = "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
        return self.execute(sql, (name,)).fetchone() is not None

    # -- transactions ---------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[None]:
        """An exclusive write transaction: commits on success, rolls back on any error."""
        if self.dialect == "sqlite":
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        else:
            with self.conn.transaction():
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                yield

    @contextmanager
    def read(self) -> Iterator[None]:
        """A read transaction that sees one consistent state of the ledger."""
        if self.dialect == "sqlite":
            self.conn.execute("BEGIN")
            try:
                yield
            finally:
                self.conn.execute("COMMIT")
        else:
            with self.conn.transaction():
                self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                yield

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
