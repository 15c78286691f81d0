"""``accord resolve``: record how a conflict was adjudicated, in an append-only log."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "resolve",
        help="log a conflict resolution (append-only JSON Lines), or list the log",
        description=(
            "Record an adjudicator's decision on a conflict from the report's queue: who decided, "
            "which label, why, and which guideline rule. The log is JSON Lines, only ever appended "
            "to; 'accord report --resolutions LOG' turns it into guideline hot spots."
        ),
        epilog="example: accord resolve --log resolutions.jsonl --item images_boxes/14 "
               "--label-set objects --chosen Bicycle --by lead@example.com --rule '2.3 bikes with riders'",
    )
    p.add_argument("--log", type=Path, required=True, help="the resolution log (created if absent)")
    p.add_argument("--list", action="store_true", help="print the log's resolutions as JSON and exit")
    p.add_argument("--item", help="item id of the conflict")
    p.add_argument("--label-set", help="label set of the conflict")
    p.add_argument("--chosen", help="the label (or value) chosen")
    p.add_argument("--by", dest="decided_by", help="who decided (e.g. an email)")
    p.add_argument("--reason", default="", help="why, in a sentence")
    p.add_argument("--rule", default=None, help="the guideline rule applied")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accord.core.qa.conflicts import Resolution, ResolutionLog

    log = ResolutionLog(args.log)
    if args.list:
        contents = log.read() if args.log.exists() else None
        rows = [r.to_dict() for r in contents.resolutions] if contents else []
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        if contents and contents.torn_lines:
            sys.stderr.write(f"accord: warning: {contents.torn_lines} torn line(s) in {args.log} were skipped\n")
        return 0
    flags = {"item": "--item", "label_set": "--label-set", "chosen": "--chosen", "decided_by": "--by"}
    missing = [flag for dest, flag in flags.items() if not getattr(args, dest)]
    if missing:
        sys.stderr.write(f"accord: error: resolving a conflict needs {', '.join(missing)} "
                         "(or use --list to read the log)\n")
        return 2
    log.append(Resolution(item_id=args.item, label_set=args.label_set, decided_by=args.decided_by,
                          chosen=args.chosen, reason=args.reason, guideline_rule=args.rule))
    print(f"logged: {args.item} [{args.label_set}] -> {args.chosen!r} by {args.decided_by}")  # noqa: T201
    return 0
