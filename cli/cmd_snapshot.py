"""``accord snapshot``: store a dataset version (the annotation rows of exports) in the ledger."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .cmd_ledger import add_db_argument, open_ledger

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "snapshot",
        help="store a dataset version (content-addressed annotation rows) in the ledger",
        description=(
            "Read exports (the inputs 'accord report' takes) and store their annotation rows as one "
            "snapshot: a row's hash covers its item, annotator, label set and value; the snapshot's hash "
            "covers its rows. Rows already stored are kept once. --list shows the snapshots."
        ),
        epilog="example: accord snapshot export.json --name v3 --by lead@example.com",
    )
    p.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                   help="export files (Label Studio JSON, CVAT XML or zip, COCO JSON, accord JSONL)")
    p.add_argument("--name", default=None, help="a name or tag for this version (e.g. v3, guidelines-2.1)")
    p.add_argument("--format", default="auto",
                   choices=["auto", "label-studio", "cvat", "coco", "jsonl"], help="input format")
    p.add_argument("--label-config", type=Path, default=None,
                   help="Label Studio labeling config XML (else looked for beside the export)")
    p.add_argument("--reference", type=Path, default=None,
                   help="a gold export whose annotations are the reference (CVAT, COCO)")
    p.add_argument("--label-studio", metavar="URL", default=None,
                   help="pull a live Label Studio project instead of reading files (with --project)")
    p.add_argument("--project", type=int, default=None, help="the Label Studio project id (with --label-studio)")
    p.add_argument("--api-key", default=None,
                   help="Label Studio token (legacy or personal access token); else $LABEL_STUDIO_API_KEY")
    p.add_argument("--by", default=None, help="who pulled it (default: $USER)")
    p.add_argument("--list", action="store_true", help="list the snapshots instead (JSON)")
    add_db_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        with open_ledger(args) as ledger:
            json.dump([s.to_dict() for s in ledger.snapshots()], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    live = args.label_studio is not None
    if live == bool(args.inputs) or live != (args.project is not None):
        sys.stderr.write("accord: error: snapshot needs INPUT export files, or --label-studio URL --project N "
                         "(not both), or --list\n")
        return 2
    who = args.by or os.environ.get("USER") or getpass.getuser()
    with open_ledger(args) as ledger:  # before reading: a missing ledger fails fast
        if live:
            records, source = _pull_label_studio(args)
        else:
            from .io import load_dataset

            records = load_dataset(args.inputs, format=args.format, reference=args.reference,
                                   label_config=args.label_config).records
            source = " ".join(str(p) for p in args.inputs)
        snap = ledger.add_snapshot(records, source=source, pulled_by=who, name=args.name)
    stored = "rows already stored (same content as an earlier snapshot)" if snap.reused_content else "stored"
    print(f"snapshot {snap.label()}: {snap.n_rows} annotation rows, {stored}; "  # noqa: T201
          f"hash {snap.snapshot_hash}")
    return 0


def _pull_label_studio(args: argparse.Namespace) -> tuple[Any, str]:
    """The records of a live Label Studio project, and the source to record (URL and project id)."""
    from accord.plugins.label_studio.client import LabelStudioClient

    client = LabelStudioClient(args.label_studio, args.api_key)
    pulled = client.pull(args.project)
    for w in pulled.warnings:
        logger.warning("%s", w)
    return pulled.dataset.records, f"label-studio {pulled.url} project {pulled.project_id} ({pulled.title})"
