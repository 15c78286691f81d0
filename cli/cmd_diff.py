"""``accord diff``: what changed between two snapshots in the ledger."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .cmd_ledger import add_db_argument, open_ledger


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "diff",
        help="what changed between two snapshots: added, removed, relabeled, moved regions, edited text",
        description=(
            "Compare two snapshots (names or hashes) per item and annotator: rows added and removed, "
            "labels changed (old -> new), regions moved or resized (with their IoU), texts edited, and "
            "any other field changed, with who and when. A readable table, or JSON (--json PATH, "
            "--format json)."
        ),
        epilog="example: accord diff v2 v3 --json changes.json",
    )
    p.add_argument("a", metavar="A", help="the older snapshot (name or hash)")
    p.add_argument("b", metavar="B", help="the newer snapshot (name or hash)")
    p.add_argument("--json", type=Path, default=None, dest="json_path", help="write the changes as JSON here")
    p.add_argument("--html", type=Path, default=None, help="write a self-contained HTML page of the changes here")
    p.add_argument("--format", choices=["table", "json"], default="table", help="what to print")
    p.add_argument("--min-iou", type=float, default=0.1,
                   help="least overlap for a region to count as moved rather than removed + added")
    p.add_argument("--limit", type=int, default=200, help="table rows to print at most (0: all)")
    add_db_argument(p)
    p.set_defaults(func=run)


def diff_report(ledger: Any, a_ref: str, b_ref: str, *, min_iou: float = 0.1) -> dict[str, Any]:
    """The diff of two snapshots as a JSON-ready dict."""
    from accord.store.diff import counts, diff_records

    a, b = ledger.get_snapshot(a_ref), ledger.get_snapshot(b_ref)
    only_a, only_b = ledger.changed_rows(a, b)
    changes = diff_records(only_a, only_b, min_iou=min_iou)
    return {"a": a.to_dict(), "b": b.to_dict(), "counts": counts(changes), "changes": [c.to_dict() for c in changes],
            "_objects": changes}


def _table(d: dict[str, Any], limit: int) -> str:
    a, b = d["a"], d["b"]
    lines = [f"{a['name'] or a['snapshot_hash'][:12]} ({a['n_rows']} rows) -> "
             f"{b['name'] or b['snapshot_hash'][:12]} ({b['n_rows']} rows): "
             + ", ".join(f"{n} {k}" for k, n in d["counts"].items() if n) if any(d["counts"].values())
             else f"{a['name'] or a['snapshot_hash'][:12]} -> {b['name'] or b['snapshot_hash'][:12]}: no changes"]
    changes = d["_objects"]
    if changes:
        rows = [("change", "item", "label set", "annotator", "when", "detail")]
        rows += [(c.change, c.item_id, c.label_set, c.annotator_id, c.when or "", c.detail())
                 for c in (changes[:limit] if limit else changes)]
        widths = [min(40, max(len(str(r[i])) for r in rows)) for i in range(len(rows[0]) - 1)]
        for r in rows:
            lines.append("  ".join(str(v)[:40].ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
        if limit and len(changes) > limit:
            lines.append(f"... {len(changes) - limit} more (--limit 0 for all, or --json PATH)")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        d = diff_report(ledger, args.a, args.b, min_iou=args.min_iou)
    plain = {k: v for k, v in d.items() if k != "_objects"}
    if args.json_path is not None:
        write_text_atomic(args.json_path, json.dumps(plain, indent=2, ensure_ascii=False) + "\n")
    if args.html is not None:
        from .ledger_html import render_diff_html

        write_text_atomic(args.html, render_diff_html(plain))
    if args.format == "json":
        json.dump(plain, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(_table(d, args.limit))
    return 0
