"""``accord audit-pack``: a self-contained HTML + JSON datasheet of one dataset version, for auditors."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .cmd_ledger import add_db_argument, open_ledger


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit-pack",
        help="a datasheet (HTML + JSON) of one dataset version: sources, hashes, labels, QA, decisions, chain",
        description=("Write datasheet.html and datasheet.json for a snapshot: its source and hashes, the label "
                     "distribution, the QA runs on it (agreement with intervals, error counts), the decisions "
                     "taken on its items, the guideline rules and version tags in force, and the ledger chain's "
                     "head hash (verified)."),
        epilog="example: accord audit-pack --snapshot v3 --out audit/v3",
    )
    p.add_argument("--snapshot", required=True, help="the snapshot (name or hash)")
    p.add_argument("--out", type=Path, required=True, help="folder to write datasheet.html and datasheet.json to")
    add_db_argument(p)
    p.set_defaults(func=run)


def audit_pack(ledger: Any, ref: str) -> dict[str, Any]:
    """The datasheet as a JSON-ready dict."""
    import accord
    from accord.core.model import value_label

    snap = ledger.get_snapshot(ref)
    records = ledger.snapshot_records(snap)
    dist: dict[str, Counter[str]] = {}
    for r in records:
        lab = value_label(r.value)
        dist.setdefault(r.label_set, Counter())[lab if lab is not None else f"({r.value.kind})"] += 1
    items = {r.item_id for r in records}
    runs = [r.to_dict() for r in ledger.runs() if snap.snapshot_hash in r.inputs]
    decisions = [d.to_dict() for d in ledger.decisions() if d.item_id in items]
    superseded = {d["supersedes_entry"] for d in decisions if d["supersedes_entry"] is not None}
    for d in decisions:
        d["in_force"] = d["entry"] not in superseded
    rules = Counter(d["guideline_rule"] for d in decisions if d["guideline_rule"])
    res = ledger.verify()
    return {
        "format": "accord-audit-pack", "version": 1, "accord_version": accord.__version__,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "snapshot": snap.to_dict(), "n_items": len(items), "n_annotators": len({r.annotator_id for r in records}),
        "label_distribution": {ls: dict(sorted(c.items())) for ls, c in sorted(dist.items())},
        "runs": runs, "decisions": decisions, "guideline_rules": dict(sorted(rules.items())),
        "tags_so_far": [s.to_dict() for s in ledger.snapshots() if s.name and s.seq <= snap.seq],
        "chain": {"ok": res.ok, "entries": res.n_entries, "head_hash": res.head_hash, "problem": res.problem},
    }


def run(args: argparse.Namespace) -> int:
    from .ledger_html import render_audit_html

    with open_ledger(args) as ledger:
        pack = audit_pack(ledger, args.snapshot)
    write_text_atomic(args.out / "datasheet.json", json.dumps(pack, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(args.out / "datasheet.html", render_audit_html(pack))
    state = "verifies" if pack["chain"]["ok"] else "DOES NOT VERIFY"
    print(f"wrote {args.out / 'datasheet.html'} and datasheet.json: snapshot "  # noqa: T201
          f"{pack['snapshot']['name'] or pack['snapshot']['snapshot_hash'][:12]}, {len(pack['runs'])} QA runs, "
          f"{len(pack['decisions'])} decisions; chain {state}, head {pack['chain']['head_hash'][:16]}")
    return 0 if pack["chain"]["ok"] else 1
