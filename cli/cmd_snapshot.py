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

from ._validate import positive_int_arg
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
        epilog=("examples: accord snapshot export.json --name v3 --by lead@example.com; "
                "accord snapshot --cvat https://app.cvat.ai --task 42 --name guidelines-2.1 (token in "
                "$CVAT_ACCESS_TOKEN); accord snapshot --fiftyone street --field alice --field bob --name v1"),
    )
    p.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                   help="export files (Label Studio JSON, CVAT XML or zip, COCO JSON, accord JSONL)")
    p.add_argument("--name", default=None, help="a name or tag for this version (e.g. v3, guidelines-2.1)")
    p.add_argument("--format", default="auto",
                   choices=["auto", "label-studio", "cvat", "coco", "jsonl", "parquet"], help="input format")
    p.add_argument("--label-config", type=Path, default=None,
                   help="Label Studio labeling config XML (else looked for beside the export)")
    p.add_argument("--reference", type=Path, default=None,
                   help="a gold export whose annotations are the reference (CVAT, COCO)")
    p.add_argument("--label-studio", metavar="URL", default=None,
                   help="pull a live Label Studio project instead of reading files (with --project)")
    p.add_argument("--project", type=int, default=None, help="the Label Studio project id (with --label-studio)")
    p.add_argument("--api-key", default=None,
                   help="Label Studio token (legacy or personal access token); else $LABEL_STUDIO_API_KEY")
    p.add_argument("--cvat", metavar="URL", default=None,
                   help="pull a live CVAT task through its API instead of reading files (with --task)")
    p.add_argument("--task", type=positive_int_arg, default=None, help="the CVAT task id (with --cvat)")
    p.add_argument("--token", default=None, help="CVAT Personal Access Token; else $CVAT_ACCESS_TOKEN")
    p.add_argument("--fiftyone", metavar="DATASET", default=None,
                   help="read a FiftyOne dataset (by name) instead of files (with --field)")
    p.add_argument("--field", action="append", default=None, dest="fields", metavar="FIELD",
                   help="a FiftyOne label field, one annotator's labels (repeat it; with --fiftyone)")
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
    sources = [bool(args.inputs), args.label_studio is not None, args.cvat is not None, args.fiftyone is not None]
    if (sum(sources) != 1 or (args.label_studio is not None) != (args.project is not None)
            or (args.cvat is not None) != (args.task is not None)
            or (args.fiftyone is not None) != bool(args.fields)):
        sys.stderr.write("accord: error: snapshot needs INPUT export files, or --label-studio URL --project N, "
                         "or --cvat URL --task N, or --fiftyone DATASET --field FIELD... (one of them), or --list\n")
        return 2
    token = None
    if args.cvat is not None:
        token = args.token or os.environ.get("CVAT_ACCESS_TOKEN")
        if not token:
            sys.stderr.write("accord: error: --cvat needs a Personal Access Token: --token PAT or "
                             "$CVAT_ACCESS_TOKEN\n")
            return 2
    who = args.by or os.environ.get("USER") or getpass.getuser()
    with open_ledger(args) as ledger:  # before reading: a missing ledger fails fast
        if args.label_studio is not None:
            records, source = _pull_label_studio(args)
        elif args.cvat is not None:
            records, source = _pull_cvat(args.cvat, args.task, str(token))
        elif args.fiftyone is not None:
            records, source = _read_fiftyone(args.fiftyone, args.fields)
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


def _pull_cvat(url: str, task_id: int, token: str) -> tuple[Any, str]:
    """The records of a live CVAT task (the loader ``accord cvat report`` uses), and the source to record."""
    from accord.core.errors import MissingExtraError
    from accord.plugins.cvat.client import connect, fetch_task
    from accord.store.errors import SnapshotSourceError

    try:
        from cvat_sdk.api_client.exceptions import ApiException
        from urllib3.exceptions import HTTPError
    except ImportError as e:
        raise MissingExtraError("a CVAT snapshot needs cvat-sdk, which is not installed; "
                                "install it with: pip install 'accord[cvat]'") from e
    try:
        dataset = fetch_task(connect(url, token=token), task_id)
    except ApiException as e:
        raise SnapshotSourceError(f"CVAT at {url} answered {e.status} {e.reason} while reading task {task_id}; "
                                  "check --task and that your token (--token / $CVAT_ACCESS_TOKEN) may see it") from e
    except HTTPError as e:
        raise SnapshotSourceError(f"cannot reach CVAT at {url} ({type(e).__name__}); check --cvat and that the "
                                  "server is running") from e
    return dataset.records, f"cvat {url.rstrip('/')} task {task_id} ({dataset.name})"


def _read_fiftyone(name: str, fields: list[str]) -> tuple[Any, str]:
    """The records of label fields of a FiftyOne dataset (one annotator per field), and the source to record."""
    from accord.store.errors import SnapshotSourceError

    from ._extras import require

    fo = require("fiftyone", "fiftyone", purpose="a FiftyOne snapshot (--fiftyone)")
    if not fo.dataset_exists(name):
        raise SnapshotSourceError(f"no FiftyOne dataset named {name!r}; the datasets are {fo.list_datasets()} "
                                  "(check --fiftyone, and $FIFTYONE_DATABASE_URI if it lives elsewhere)")
    from accord.plugins.fiftyone.convert import from_fiftyone

    dataset = from_fiftyone(fo.load_dataset(name), fields)
    return dataset.records, f"fiftyone dataset {name} fields {','.join(fields)}"
