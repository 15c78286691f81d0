"""``accord history``: every version of an item's labels in the ledger, and every decision on it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .cmd_ledger import add_db_argument, open_ledger


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "history",
        help="every version of an item's labels across snapshots, and every decision on it",
        description=("The item's annotation rows in each snapshot that holds it (consecutive snapshots with the "
                     "same rows are shown once), and the decisions taken on it, superseded ones marked."),
        epilog="example: accord history images_boxes/14 --label-set objects",
    )
    p.add_argument("item", metavar="ITEM", help="the item id")
    p.add_argument("--label-set", default=None, help="only this label set")
    p.add_argument("--format", choices=["table", "json"], default="table", help="what to print")
    add_db_argument(p)
    p.set_defaults(func=run)


def item_history(ledger: Any, item: str, label_set: str | None) -> dict[str, Any]:
    """Versions (rows per run of identical snapshots) and decisions, JSON-ready."""
    from accord.core.model import record_to_dict
    from accord.store.ledger import canonical_json

    versions: list[dict[str, Any]] = []
    for snap, records in ledger.history(item, label_set):
        rows = sorted((record_to_dict(r) for r in records), key=canonical_json)
        if versions and versions[-1]["rows"] == rows:
            versions[-1]["snapshots"].append(snap.to_dict())
            continue
        versions.append({"snapshots": [snap.to_dict()], "rows": rows})
    decisions = [d.to_dict() for d in ledger.decisions(item, label_set)]
    superseded = {d["supersedes_entry"] for d in decisions if d["supersedes_entry"] is not None}
    for d in decisions:
        d["in_force"] = d["entry"] not in superseded
    return {"item_id": item, "label_set": label_set, "versions": versions, "decisions": decisions}


def _value(row: dict[str, Any]) -> str:
    v = row.get("value", {})
    rest = {k: x for k, x in v.items() if k not in ("kind", "label")}
    label = v.get("label")
    return f"{v.get('kind')} {label!r} {json.dumps(rest)[:60]}" if label else f"{v.get('kind')} {json.dumps(rest)[:70]}"


def run(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        h = item_history(ledger, args.item, args.label_set)
    if args.format == "json":
        json.dump(h, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    if not h["versions"] and not h["decisions"]:
        out.write(f"{args.item}: not in any snapshot and no decisions\n")
        return 0
    for v in h["versions"]:
        names = ", ".join(s["name"] or s["snapshot_hash"][:12] for s in v["snapshots"])
        out.write(f"== {names} (pulled {v['snapshots'][0]['pulled_at']} by {v['snapshots'][0]['pulled_by']}): "
                  f"{len(v['rows'])} rows\n")
        for r in v["rows"]:
            out.write(f"   {r['label_set']:<16} {r['annotator_id']:<24} {_value(r)}\n")
    for d in h["decisions"]:
        state = "in force" if d["in_force"] else "superseded"
        rule = f" [rule {d['guideline_rule']}]" if d["guideline_rule"] else ""
        out.write(f"-- decision (entry {d['entry']}, {state}) {d['decided_at']} {d['reviewer']} ({d['role']}): "
                  f"{d['label_set']} -> {d['decision']!r}{rule} {d['rationale']}\n")
    return 0
