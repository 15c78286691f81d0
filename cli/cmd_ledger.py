"""``accord ledger``: create and verify the audit ledger (snapshots, QA runs, decisions; hash-chained).

The ledger is a database: SQLite in ``.accord/ledger.db`` by default, or whatever ``--db URL`` /
``$ACCORD_DB`` names (``sqlite:///path`` or ``postgresql://user@host:port/db``). The helpers here
(``add_db_argument``, ``open_ledger``, ``existing_ledger``) are shared by the other ledger commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

DB_HELP = ("the ledger database URL: sqlite:///path/ledger.db or postgresql://user@host:port/db "
           "(default: $ACCORD_DB, else .accord/ledger.db in the current folder)")


def add_db_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", default=None, help=DB_HELP)


def open_ledger(args: argparse.Namespace) -> Any:
    """The ledger ``--db`` / ``$ACCORD_DB`` / the default names (it must exist)."""
    from accord.store.db import resolve_url
    from accord.store.ledger import Ledger

    return Ledger.open(resolve_url(getattr(args, "db", None)))


def existing_ledger(db: str | None) -> Any:
    """The ledger named by ``db`` or ``$ACCORD_DB`` (which must open), else the default one if its file exists,
    else None."""
    from accord.store.db import default_url, sqlite_path
    from accord.store.ledger import Ledger

    url = db or os.environ.get("ACCORD_DB")
    if url:
        return Ledger.open(url)
    url = default_url()
    path = sqlite_path(url)
    return Ledger.open(url) if path is not None and path.exists() else None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ledger",
        help="create or verify the audit ledger (dataset snapshots, QA runs, decisions; hash-chained)",
        description=(
            "The ledger keeps dataset versions ('accord snapshot'), every QA run ('accord report --ledger') "
            "and every reviewer decision ('accord resolve'), each entry carrying the hash of the one before. "
            "'init' creates it (SQLite under .accord/ by default, or --db URL for PostgreSQL); 'verify' "
            "recomputes the chain and names the first entry that does not match."
        ),
        epilog="example: accord ledger init && accord snapshot export.json --name v1 && accord ledger verify",
    )
    lsub = p.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    init = lsub.add_parser("init", help="create the ledger (or upgrade an older schema)")
    add_db_argument(init)
    init.set_defaults(func=run_init)
    ver = lsub.add_parser("verify", help="recompute the hash chain; exit 1 naming the first entry that fails")
    add_db_argument(ver)
    ver.add_argument("--deep", action="store_true",
                     help="also rehash every stored annotation row and snapshot content (reads everything)")
    ver.add_argument("--json", action="store_true", dest="as_json", help="print the result as JSON")
    ver.set_defaults(func=run_verify)


def run_init(args: argparse.Namespace) -> int:
    from accord.store.db import resolve_url
    from accord.store.ledger import Ledger
    from accord.store.schema import SCHEMA_VERSION

    with Ledger.init(resolve_url(args.db)) as ledger:
        seq, head = ledger.head()
        print(f"ledger ready: {ledger.where} (schema {SCHEMA_VERSION}, {seq} entries, head {head[:16]})")  # noqa: T201
    return 0


def run_verify(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        res = ledger.verify(deep=args.deep)
        where = ledger.where
    if args.as_json:
        json.dump({"ok": res.ok, "entries": res.n_entries, "head_hash": res.head_hash, "first_bad": res.first_bad,
                   "problem": res.problem, "checked_rows": res.checked_rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    if not res.ok:
        sys.stderr.write(f"accord: ledger {where} does not verify: {res.problem}\n")
        return 1
    if not args.as_json:
        extra = f", {res.checked_rows} rows rehashed" if args.deep else ""
        print(f"ledger {where}: {res.n_entries} entries verify{extra}; head {res.head_hash}")  # noqa: T201
    return 0
