"""``accord runs``: the QA runs recorded in the ledger, newest first (and how ``report`` records one)."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cmd_ledger import add_db_argument, open_ledger
from .ledger_html import format_interval


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "runs",
        help="the QA runs recorded in the ledger, newest first",
        description=("Every 'accord report' recorded in the ledger: its input snapshots, config hash, accord "
                     "version, seed, headline agreement (with intervals) and error counts, report file hashes."),
    )
    p.add_argument("--format", choices=["table", "json"], default="table", help="what to print")
    p.add_argument("--limit", type=int, default=20, help="runs to show (0: all)")
    p.add_argument("--trend", action="store_true",
                   help="agreement (with intervals) and error counts per label set across runs, oldest first, "
                        "with the snapshot names/tags each run read")
    add_db_argument(p)
    p.set_defaults(func=run)


def headline_of(report: dict[str, Any]) -> dict[str, Any]:
    """The figures a run keeps: primary agreement per label set with its interval, error counts by category."""
    agreement = {}
    for name, a in report.get("agreement", {}).items():
        main = a.get("primary")
        c = a.get("coefficients", {}).get(main) or {}
        agreement[name] = {"coefficient": main, "estimate": c.get("estimate"), "low": c.get("low"),
                           "high": c.get("high"), "n": c.get("n")}
    s = report.get("summary", {})
    return {"agreement": agreement, "errors_by_category": report.get("errors", {}).get("counts", {}).get(
        "by_category", {}), "n_items": s.get("n_items"), "n_records": s.get("n_records"),
        "n_conflicts": s.get("n_conflicts")}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def record_report_run(ledger: Any, *, dataset: Any, report: dict[str, Any], inputs: Sequence[Path],
                      config_path: Path | None, seed: int | None, files: Sequence[Path | None],
                      pulled_by: str) -> Any:
    """Snapshot the report's input (rows already stored are reused) and record the run; the RunInfo."""
    import accord

    snap = ledger.add_snapshot(dataset.records, source=" ".join(str(p) for p in inputs), pulled_by=pulled_by)
    config_text = config_path.read_text(encoding="utf-8") if config_path else ""
    return ledger.record_run(inputs=[snap.snapshot_hash], config_text=config_text,
                             accord_version=accord.__version__, seed=seed, headline=headline_of(report),
                             report_files={str(p): _sha256_file(p) for p in files if p is not None})


def run(args: argparse.Namespace) -> int:
    from accord.store.trend import snapshot_names, trend

    with open_ledger(args) as ledger, ledger.db.read():
        runs = ledger.runs()
        names = snapshot_names(ledger)  # a name for each content hash, when any snapshot of it has one
    runs = runs[:args.limit] if args.limit else runs
    if args.trend:
        t = trend(runs, names)
        if args.format == "json":
            json.dump(t, sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
            return 0
        for ls, points in t["agreement"].items():
            sys.stdout.write(f"{ls}\n")
            for pt in points:
                sys.stdout.write(f"    entry {pt['entry']:<5} {pt['created_at'][:19]}  {', '.join(pt['inputs']):<24} "
                                 f"{pt['coefficient'] or '':<22} {format_interval(pt)}\n")
        return 0
    if args.format == "json":
        json.dump([r.to_dict() for r in runs], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if not runs:
        sys.stdout.write("no QA runs recorded yet (run 'accord report ... --ledger')\n")
    for r in runs:
        tags = ", ".join(names.get(h, h[:12]) for h in r.inputs)
        sys.stdout.write(f"run (entry {r.seq}) {r.created_at}  accord {r.accord_version}  seed {r.seed}  "
                         f"config {r.config_hash[:12]}  inputs {tags}\n")
        for name, a in r.headline.get("agreement", {}).items():
            sys.stdout.write(f"    {name:<24} {a.get('coefficient') or '':<22} {format_interval(a)}\n")
        errs = r.headline.get("errors_by_category") or {}
        if errs:
            sys.stdout.write("    errors: " + ", ".join(f"{k} {v}" for k, v in sorted(errs.items())) + "\n")
    return 0


def record_if_ledger(args: argparse.Namespace, *, dataset: Any, report: dict[str, Any]) -> Any:
    """For ``accord report``: record the run when ``--ledger`` (or ``--db``) asks, or a ledger exists and
    ``--no-ledger`` was not given. The RunInfo, or None."""
    import getpass
    import os

    from .cmd_ledger import existing_ledger

    if args.ledger is False:
        return None
    if args.ledger or args.db:
        ledger = open_ledger(args)
    else:
        ledger = existing_ledger(None)
        if ledger is None:
            return None
    with ledger:
        run_info = record_report_run(ledger, dataset=dataset, report=report, inputs=args.inputs,
                                     config_path=args.config, seed=args.seed, files=[args.json_path, args.html],
                                     pulled_by=os.environ.get("USER") or getpass.getuser())
        where = ledger.where
    sys.stderr.write(f"accord: recorded the run in the ledger {where} (entry {run_info.seq})\n")
    return run_info


def report_trend(args: argparse.Namespace, report: dict[str, Any]) -> dict[str, Any]:
    """For ``accord report --trend``: the trend over the ledger's recorded runs, this report last."""
    from accord.store.trend import ledger_trend

    with open_ledger(args) as ledger:
        t: dict[str, Any] = ledger_trend(ledger, current=headline_of(report), current_at=report.get("generated_at"))
    return t
