"""``accord convert``: read exports (Label Studio, CVAT, COCO, accord JSONL or Parquet), write accord JSON Lines or
Parquet."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

from ._validate import positive_int_arg
from .atomic import write_atomic, write_bytes_atomic, write_text_atomic


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "convert",
        help="convert exports (Label Studio, CVAT, COCO) to accord JSON Lines or Parquet",
        description=(
            "Read one or more annotation exports (Label Studio JSON / JSON_MIN / task, CVAT for images or "
            "video 1.1 XML or zip, COCO instances or keypoints JSON, accord JSONL or Parquet) and write one "
            "accord JSON Lines file (a header line with the schema, items and submissions, then one record per "
            "line) or, for an output ending .parquet or with --to parquet, one accord Parquet file (one row per "
            "record, the schema, items and submissions in its metadata; needs pip install 'accord[columnar]'). "
            "Every command reads either back, e.g. accord report out.parquet."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="export files")
    p.add_argument("--format", default="auto", choices=["auto", "label-studio", "cvat", "coco", "jsonl", "parquet"],
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
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="the file to write: accord Parquet if it ends .parquet, else accord JSON Lines")
    p.add_argument("--to", default="auto", choices=["auto", "jsonl", "parquet"], dest="to",
                   help="output format (auto: parquet for an output ending .parquet or .pq, else jsonl)")
    p.add_argument("--row-group-size", type=positive_int_arg, default=65_536, metavar="N",
                   help="Parquet only: records per row group at most (a row group never splits an item)")
    p.set_defaults(func=run)


def output_format(path: Path, to: str = "auto") -> str:
    """``parquet`` or ``jsonl``: ``to`` when given, else from the output's suffix (``.parquet``/``.pq``)."""
    if to != "auto":
        return to
    return "parquet" if path.suffix.lower() in (".parquet", ".pq") else "jsonl"


def _streamed_jsonl(args: argparse.Namespace) -> tuple[int, int, int] | None:
    """One Label Studio export to accord JSON Lines while it is read: records go to a spool file as
    each task is converted, and only the items and submissions (the header) stay in memory; the
    output is the header, then the spool, written atomically. ``(records, items, annotators)``, or
    None when the export cannot be streamed (the whole-file path then converts it). The bytes
    equal the whole-file path's."""
    import logging
    import tempfile
    from collections.abc import Iterator

    from accord.core.formats.jsonl import header_line, record_line
    from accord.core.model import Dataset, Item, Submission

    from .io import NotStreamableError, stream_label_studio_file

    path: Path = args.inputs[0]
    warnings: list[str] = []
    items: dict[str, Item] = {}
    subs: list[Submission] = []
    annotators: set[str] = set()
    n_records = 0
    with tempfile.TemporaryFile(prefix="accord-convert-") as spool:
        try:
            stream: Iterator[Any] = stream_label_studio_file(
                path, explicit=args.format == "label-studio", label_config=args.label_config,
                meta_keys=args.meta_keys, warnings=warnings)
            schema = next(stream)
            lines: list[bytes] = []
            for recs, ss, item in stream:
                for r in recs:
                    lines.append(record_line(r).encode("utf-8"))
                    annotators.add(r.annotator_id)
                n_records += len(recs)
                subs += ss
                items[item.item_id] = item
                if len(lines) >= 4096:
                    spool.write(b"\n".join(lines) + b"\n")
                    lines.clear()
            if lines:
                spool.write(b"\n".join(lines) + b"\n")
        except NotStreamableError:
            return None
        for w in warnings:
            logging.getLogger("accord.io").warning("%s: %s", path, w)
        annotators.update(s.annotator_id for s in subs)
        # the header's items and submissions as a Dataset keeps them (its skip and duplicate rules)
        head = Dataset(records=(), schema=schema, items=items, submissions=tuple(subs), name=path.stem)

        def chunks() -> Iterator[bytes]:
            yield header_line(name=head.name, schema=head.schema, items=head.items.values(),
                              submissions=head.submissions).encode() + b"\n"
            spool.seek(0)
            while block := spool.read(1 << 20):
                yield block

        write_atomic(args.output, chunks())
    return n_records, len(items), len(annotators)


def run(args: argparse.Namespace) -> int:
    from .io import load_dataset

    to = output_format(args.output, args.to)
    if to == "parquet":
        from accord.store.parquet import require_pyarrow

        require_pyarrow()  # a missing extra is said before the inputs are read, not after
    elif (len(args.inputs) == 1 and args.reference is None and args.format in ("auto", "label-studio")
          and args.inputs[0].is_file()):
        done = _streamed_jsonl(args)
        if done is not None:
            n_rec, n_items, n_ann = done
            sys.stderr.write(f"accord convert: {n_rec} records, {n_items} items, {n_ann} annotators -> "
                             f"{args.output} ({to})\n")
            return 0
    ds = load_dataset(args.inputs, format=args.format, reference=args.reference, label_config=args.label_config,
                      meta_keys=args.meta_keys, join_items=args.join_items)
    if to == "parquet":
        from accord.store.parquet import write_parquet

        buf = io.BytesIO()  # then written as every output is (symlinks, devices, modes, signals: cli/atomic.py)
        write_parquet(ds, buf, row_group_size=args.row_group_size)
        write_bytes_atomic(args.output, buf.getvalue())
    else:
        from accord.core.formats.jsonl import dumps_dataset

        write_text_atomic(args.output, dumps_dataset(ds))
    sys.stderr.write(f"accord convert: {len(ds.records)} records, {len(ds.items)} items, "
                     f"{len(ds.annotators(source=None))} annotators -> {args.output} ({to})\n")
    return 0
