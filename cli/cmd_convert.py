"""``accord convert``: read exports (Label Studio, CVAT, COCO, accord JSONL), write accord JSON Lines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .atomic import write_text_atomic


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "convert",
        help="convert exports (Label Studio, CVAT, COCO) to accord JSON Lines",
        description=(
            "Read one or more annotation exports (Label Studio JSON / JSON_MIN / task, CVAT for images or "
            "video 1.1 XML or zip, COCO instances or keypoints JSON, accord JSONL) and write one accord "
            "JSON Lines file: a header line with the schema, items and submissions, then one record per line."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="export files")
    p.add_argument("--format", default="auto", choices=["auto", "label-studio", "cvat", "coco", "jsonl"],
                   help="input format (auto: detected from the content)")
    p.add_argument("--label-config", type=Path, default=None,
                   help="Label Studio labeling config XML (else <stem>.label_config.xml beside the export)")
    p.add_argument("--reference", type=Path, action="append", default=None,
                   help="a gold export whose annotations become source 'reference' (repeatable)")
    p.add_argument("--join-items", action="store_true",
                   help="join items with equal ids across inputs from different tools (by default item ids are "
                        "namespaced by tool, e.g. 'label-studio:1' and 'coco:1', as tools number items "
                        "independently)")
    p.add_argument("--meta-key", action="append", default=[], dest="meta_keys", metavar="KEY",
                   help="Label Studio task data key to copy into item metadata (repeatable)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the accord JSON Lines file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accord.core.formats.jsonl import dumps_dataset

    from .io import load_dataset

    ds = load_dataset(args.inputs, format=args.format, reference=args.reference, label_config=args.label_config,
                      meta_keys=args.meta_keys, join_items=args.join_items)
    write_text_atomic(args.output, dumps_dataset(ds))
    sys.stderr.write(f"accord convert: {len(ds.records)} records, {len(ds.items)} items, "
                     f"{len(ds.annotators(source=None))} annotators -> {args.output}\n")
    return 0
