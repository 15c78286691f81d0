"""``accord acceptance``: ISO 2859-1 plans for a batch, and the switching rules over a lot history.

``accord acceptance plan --lot 1000 --aql 1.0`` prints the normal, tightened and reduced
single sampling plans (sample size, accept / reject numbers) and, with ``--defects``, the
verdict. ``accord acceptance switching lots.csv --aql 1.0`` replays a history of lots
(``lot_size,defects`` per line, oldest first) through the switching rules and says which
severity the next lot is inspected under.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from accord.core.errors import ConversionError

from ._validate import count_arg, positive_float_arg, positive_int_arg, read_text

_LEVELS = ["I", "II", "III", "S-1", "S-2", "S-3", "S-4"]
_SEVERITIES = ["normal", "tightened", "reduced"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "acceptance",
        help="ISO 2859-1 acceptance sampling: plans for a batch, switching rules over a lot history",
        description=(
            "Acceptance sampling by ISO 2859-1 (single sampling, attributes): how many items of a "
            "batch to review and how many defects to tolerate at an AQL, under normal, tightened "
            "or reduced inspection, and which of the three the switching rules call for after a "
            "history of lots."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sp = p.add_subparsers(dest="acceptance_cmd", metavar="COMMAND")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--aql", type=positive_float_arg, default=2.5,
                       help="acceptance quality limit, percent defective")
        q.add_argument("--level", choices=_LEVELS, default="II", help="inspection level")
        q.add_argument("--json", action="store_true", dest="as_json", help="print JSON instead of text")

    plan = sp.add_parser("plan", help="the plans for one batch (and the verdict with --defects)",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    plan.add_argument("--lot", type=positive_int_arg, required=True, help="items in the batch")
    plan.add_argument("--severity", choices=_SEVERITIES, default="normal",
                      help="severity in force (what the switching rules say)")
    plan.add_argument("--defects", type=count_arg, default=None,
                      help="defects found in the sample: print the verdict")
    common(plan)
    plan.set_defaults(func=run_plan)

    sw = sp.add_parser(
        "switching", help="replay a lot history through the switching rules",
        description=("Read lots oldest first from a CSV with columns lot_size,defects (a header line is "
                     "optional; '-' reads stdin), inspect each under the plan of the severity then in "
                     "force, and apply ISO 2859-1's switching rules."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sw.add_argument("history", help="CSV file of lot_size,defects ('-' for stdin)")
    sw.add_argument("--start", choices=_SEVERITIES, default="normal", help="severity of the first lot")
    sw.add_argument("--no-reduced", action="store_true",
                    help="the responsible authority does not allow reduced inspection")
    common(sw)
    sw.set_defaults(func=run_switching)

    def usage(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)


def run_plan(args: argparse.Namespace) -> int:
    from accord.core.qa.acceptance import inspect_lot, plans_by_severity

    plans = plans_by_severity(args.lot, args.aql, level=args.level)
    out: dict[str, Any] = {"lot_size": args.lot, "aql": args.aql, "level": args.level,
                           "severity": args.severity, "plans": {k: v.to_dict() for k, v in plans.items()}}
    if args.defects is not None:
        out["verdict"] = "accept" if inspect_lot(plans[args.severity], args.defects).accepted else "reject"
        out["defects"] = args.defects
    if args.as_json:
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return 0
    w = sys.stdout.write
    w(f"ISO 2859-1 single sampling, lot {args.lot}, level {args.level}, AQL {args.aql}%\n")
    w(f"  {'severity':<10} {'letter':>6} {'sample':>7} {'accept <=':>10} {'reject >=':>10}\n")
    for sev, q in plans.items():
        mark = " <- in force" if sev == args.severity else ""
        full = " (inspect all)" if q.hundred_percent else ""
        w(f"  {sev:<10} {q.letter:>6} {q.sample_size:>7} {q.accept:>10} {q.reject:>10}{full}{mark}\n")
    if args.defects is not None:
        w(f"{args.defects} defects in the sample: {out['verdict'].upper()}\n")
    return 0


def _read_history(path: str) -> list[tuple[int, int]]:
    text = sys.stdin.read() if path == "-" else _read(Path(path))
    lots: list[tuple[int, int]] = []
    for n, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
            continue
        if len(row) < 2:
            raise ConversionError(f"{path}, line {n}: expected 'lot_size,defects', got {','.join(row)!r}")
        if n == 1 and not row[0].strip().lstrip("+-").isdigit():  # a header line
            continue
        try:
            lots.append((int(row[0]), int(row[1])))
        except ValueError:
            raise ConversionError(
                f"{path}, line {n}: lot_size and defects must be integers, got {row[0]!r}, {row[1]!r}") from None
    if not lots:
        raise ConversionError(f"{path}: no lots; expected lines of 'lot_size,defects', oldest first")
    return lots


def _read(path: Path) -> str:
    try:
        return read_text(path, what="the lot history")
    except OSError as e:
        raise ConversionError(f"cannot read the lot history {str(path)!r}: {e.strerror}") from e


def run_switching(args: argparse.Namespace) -> int:
    from accord.core.qa.acceptance import SwitchingState, apply_switching_rules, single_sampling_plan

    lots = _read_history(args.history)
    outcomes, state = apply_switching_rules(lots, args.aql, level=args.level,
                                            start=SwitchingState(severity=args.start),
                                            reduced_allowed=not args.no_reduced)
    next_plan = None if state.discontinued else single_sampling_plan(lots[-1][0], args.aql, level=args.level,
                                                                     severity=state.severity)
    out = {
        "aql": args.aql, "level": args.level,
        "lots": [{"lot": o.index + 1, "lot_size": o.plan.lot_size, "defects": o.defects,
                  "accepted": o.accepted, "switching_score": o.switching_score, "event": o.event,
                  "plan": o.plan.to_dict()} for o in outcomes],
        "next_severity": None if state.discontinued else state.severity,
        "discontinued": state.discontinued,
        "switching_score": state.switching_score,
        "next_plan": next_plan.to_dict() if next_plan else None,
        "not_judged": len(lots) - len(outcomes),
    }
    if args.as_json:
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return 0
    w = sys.stdout.write
    w(f"{'lot':>4} {'size':>8} {'severity':<10} {'n':>5} {'Ac':>4} {'defects':>8} {'verdict':<7} "
      f"{'score':>5}  switch\n")
    for o in outcomes:
        w(f"{o.index + 1:>4} {o.plan.lot_size:>8} {o.plan.severity:<10} {o.plan.sample_size:>5} "
          f"{o.plan.accept:>4} {o.defects:>8} {'accept' if o.accepted else 'reject':<7} "
          f"{o.switching_score:>5}  {o.event or ''}\n")
    if next_plan is None:
        w(f"Inspection DISCONTINUED: 5 lots not accepted on tightened inspection "
          f"({out['not_judged']} later lots not judged). Resume on tightened once the supplier has acted.\n")
        return 1
    w(f"Next lot: {state.severity} inspection (for a lot of {next_plan.lot_size}: sample "
      f"{next_plan.sample_size}, accept <= {next_plan.accept}).\n")
    return 0
