"""``accord check``: rule-based checks over whole exports, before any human QA."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

from ._validate import read_text
from .atomic import write_text_atomic

logger = logging.getLogger(__name__)

_SEVERITIES = ("info", "minor", "major", "critical")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="rule-based checks (schema, geometry, text, audio, video, 3D, annotator behaviour)",
        description=(
            "Run accord's automated checks over annotation exports: labels outside the schema, "
            "boxes outside the image or duplicated, self-intersecting polygons, spans cutting "
            "tokens, overlapping speaker segments, jumping or fragmented tracks, implausible "
            "cuboids, and suspicious annotator behaviour. Prints counts per check; --json writes "
            "every finding."
        ),
        epilog="A documented rules file with every check and default: accord/core/data/rules.example.toml",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                   help="export files (Label Studio JSON, CVAT XML or zip, COCO JSON, accord JSONL)")
    p.add_argument("--format", default="auto",
                   choices=["auto", "label-studio", "cvat", "coco", "jsonl", "parquet"], help="input format")
    p.add_argument("--label-config", type=Path, default=None,
                   help="Label Studio labeling config XML (else looked for beside the export)")
    p.add_argument("--rules", type=Path, default=None, help="TOML rules file (severities, thresholds)")
    p.add_argument("--only", action="append", default=None, metavar="CHECK",
                   help="run only this check (repeatable)")
    p.add_argument("--json", type=Path, default=None, dest="json_path", help="write the full report here")
    p.add_argument("--output", choices=["table", "json"], default="table",
                   help="what to print on stdout: a table of counts, or the JSON report")
    p.add_argument("--fail-on", choices=_SEVERITIES, default=None, metavar="SEVERITY",
                   help="exit 1 when any finding is at or above this severity (info|minor|major|critical)")
    p.add_argument("--list", action="store_true", dest="list_checks", help="list the checks and exit")
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> Any:
    from .io import load_dataset

    return load_dataset(args.inputs, format=args.format, label_config=args.label_config)


def print_table(report: dict[str, Any], out: TextIO) -> None:
    """One line per check: counts by severity; then the worst findings."""
    out.write(f"{report['n_records']} records, {len(report['checks_run'])} checks, "
              f"{report['n_findings']} findings\n")
    out.write(f"  {'check':<32}" + "".join(f"{s:>10}" for s in _SEVERITIES) + f"{'time_s':>10}\n")
    durations = report.get("durations_s", {})
    for name, counts in report["by_check"].items():
        out.write(f"  {name:<32}" + "".join(f"{counts.get(s, 0):>10}" for s in _SEVERITIES)
                  + f"{durations.get(name, 0.0):>10.2f}\n")
    for f in report["findings"][:10]:
        where = " ".join(x for x in (f["item_id"], f["region_id"], f["annotator_id"]) if x)
        out.write(f"  [{f['severity']}] {f['check']} {where}: {f['message']}\n")
    if report["n_findings"] > 10:
        out.write(f"  ... {report['n_findings'] - 10} more (use --json)\n")


def run(args: argparse.Namespace) -> int:
    from accord.core.checks import list_checks, run_checks

    if args.list_checks:
        for s in list_checks():
            sys.stdout.write(f"{s.name:<32} {s.severity:<8} {', '.join(s.kinds) or '*':<24} {s.description}\n")
        return 0
    if not args.inputs:
        sys.stderr.write("accord check: error: give at least one INPUT file (or --list)\n")
        return 2
    rules = None
    if args.rules is not None:
        from accord.core._toml import loads_toml

        rules = loads_toml(read_text(args.rules, what="--rules file"), what=f"rules file {str(args.rules)!r}")
    dataset = _load(args)
    result = run_checks(dataset, rules=rules, only=args.only,
                        progress=lambda name: logger.debug("running %s", name))
    report = result.to_dict()
    text = json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if args.json_path is not None:
        write_text_atomic(args.json_path, text)
        logger.info("wrote %s", args.json_path)
    if args.output == "json":
        sys.stdout.write(text)
    else:
        print_table(report, sys.stdout)
    if args.fail_on is not None and result.at_least(args.fail_on):
        n = len(result.at_least(args.fail_on))
        sys.stderr.write(f"accord check: {n} finding(s) at or above {args.fail_on}\n")
        return 1
    return 0
