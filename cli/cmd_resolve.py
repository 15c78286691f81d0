"""``accord resolve``: record how a conflict was adjudicated, in the ledger and/or an append-only log."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cmd_ledger import DB_HELP, existing_ledger


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "resolve",
        help="log a conflict resolution (ledger and/or append-only JSON Lines), or list them",
        description=(
            "Record an adjudicator's decision on a conflict from the report's queue: who decided, "
            "which label, why, and which guideline rule. It goes to the ledger when one exists "
            "(--db, $ACCORD_DB or .accord/ledger.db; a later decision on the same item supersedes the "
            "earlier one) and to the --log JSON Lines file when given (only ever appended to); "
            "'accord report --resolutions LOG' turns the log into guideline hot spots."
        ),
        epilog="example: accord resolve --log resolutions.jsonl --item images_boxes/14 "
               "--label-set objects --chosen Bicycle --by lead@example.com --rule '2.3 bikes with riders'",
    )
    p.add_argument("--log", type=Path, default=None, help="the resolution log (created if absent)")
    p.add_argument("--db", metavar="URL", default=None, help=DB_HELP)
    p.add_argument("--list", action="store_true", help="print the resolutions as JSON and exit "
                                                       "(from --log when given, else from the ledger)")
    p.add_argument("--item", help="item id of the conflict")
    p.add_argument("--label-set", help="label set of the conflict")
    p.add_argument("--chosen", help="the label (or value) chosen")
    p.add_argument("--by", dest="decided_by", help="who decided (e.g. an email)")
    p.add_argument("--role", default="adjudicator", help="the decider's role (ledger only), e.g. reviewer")
    p.add_argument("--reason", default="", help="why, in a sentence")
    p.add_argument("--rule", default=None, help="the guideline rule applied")
    p.set_defaults(func=run)


def _list(args: argparse.Namespace) -> int:
    from accord.store import ResolutionLog

    if args.log is not None:
        contents = ResolutionLog(args.log).read() if args.log.exists() else None
        rows = [r.to_dict() for r in contents.resolutions] if contents else []
        warnings = contents.warnings(str(args.log)) if contents else []
    else:
        ledger = existing_ledger(args.db)
        if ledger is None:
            sys.stderr.write("accord: error: no --log given and no ledger found; pass --log FILE or --db URL\n")
            return 2
        with ledger:
            rows = [d.to_dict() for d in ledger.decisions()]
        warnings = []
    json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    for warning in warnings:
        sys.stderr.write(f"accord: warning: {warning}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    from accord.core.qa.conflicts import Resolution
    from accord.store import ResolutionLog

    if args.list:
        return _list(args)
    flags = {"item": "--item", "label_set": "--label-set", "chosen": "--chosen", "decided_by": "--by"}
    missing = [flag for dest, flag in flags.items() if not getattr(args, dest)]
    if missing:
        sys.stderr.write(f"accord: error: resolving a conflict needs {', '.join(missing)} "
                         "(or use --list to read the resolutions)\n")
        return 2
    ledger = existing_ledger(args.db)
    if ledger is None and args.log is None:
        sys.stderr.write("accord: error: nowhere to record the decision: pass --log FILE (JSON Lines), or create "
                         "a ledger with 'accord ledger init' (or pass --db URL)\n")
        return 2
    resolution = Resolution(item_id=args.item, label_set=args.label_set, decided_by=args.decided_by,
                            chosen=args.chosen, reason=args.reason, guideline_rule=args.rule)
    where = []
    if ledger is not None:
        with ledger:
            d = ledger.record_decision(resolution, role=args.role)
            where.append(f"ledger entry {d.seq}" + (f", superseding entry {d.supersedes}" if d.supersedes else ""))
    if args.log is not None:
        ResolutionLog(args.log).append(resolution)
        where.append(str(args.log))
    print(f"logged: {args.item} [{args.label_set}] -> {args.chosen!r} by {args.decided_by} "  # noqa: T201
          f"({'; '.join(where)})")
    return 0
