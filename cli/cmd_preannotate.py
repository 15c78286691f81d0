"""``accord preannotate``: batch pre-annotation of an image folder with a registered predictor."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ._validate import positive_int_arg
from .atomic import write_text_atomic

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "preannotate",
        help="pre-annotate a folder of images with a predictor (in-process or on Dask workers)",
        description=(
            "Run a registered predictor (contours, hog-person, haar-face, box-masks, onnx, ...) on every image of "
            "a folder and write its predictions, checked against the predictor's spec, as accord JSON Lines or "
            "COCO JSON. With --dask the images are mapped over Dask workers (the model is loaded once per "
            "worker); the output is the same."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("folder", type=Path, help="folder of images (searched recursively)")
    p.add_argument("--model", required=True, metavar="NAME", help="registered predictor name, e.g. contours")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a predictor parameter (repeatable), e.g. --param kinds=box,polygon")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output file: .jsonl for accord JSON Lines, .json for COCO (or --to)")
    p.add_argument("--to", choices=["jsonl", "coco"], default=None, help="output format (default: from the suffix)")
    p.add_argument("--dask", nargs="?", const="", default=None, metavar="SPEC",
                   help="map the images over a Dask cluster: local[:N] or tcp://HOST:PORT; --dask alone reads "
                        "$DASK_SCHEDULER_ADDRESS (needs accord[dask])")
    p.add_argument("--batch-size", type=positive_int_arg, default=16, help="images per task")
    p.set_defaults(func=run)


def _params(values: list[str]) -> dict[str, str]:
    from accord.core.errors import ConfigError

    out: dict[str, str] = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param expects KEY=VALUE (e.g. --param min_area_px=32), got {v!r}")
        out[key.strip()] = val.strip()
    return out


def run(args: argparse.Namespace) -> int:
    from accord.cluster.preannotate import PredictorSpec, preannotate_folder
    from accord.core.errors import ConfigError

    to = args.to or {".jsonl": "jsonl", ".json": "coco"}.get(args.output.suffix.lower())
    if to is None:
        raise ConfigError(f"cannot tell the output format of {str(args.output)!r}; name it .jsonl (accord JSON Lines) "
                          "or .json (COCO), or pass --to")
    spec = PredictorSpec(name=args.model, params=_params(args.param))
    if args.dask is not None:
        from accord.cluster.connect import connect

        with connect(args.dask) as client:
            ds = preannotate_folder(args.folder, spec, client=client, batch_size=args.batch_size)
    else:
        ds = preannotate_folder(args.folder, spec, batch_size=args.batch_size)
    text: Any
    if to == "jsonl":
        from accord.core.formats.jsonl import dumps_dataset

        text = dumps_dataset(ds)
    else:
        from accord.core.formats.coco import to_coco

        text = json.dumps(to_coco(ds, source="model"), ensure_ascii=False) + "\n"
    write_text_atomic(args.output, text)
    sys.stdout.write(f"{len(ds.items)} images, {len(ds.records)} predictions by {args.model} -> {args.output}\n")
    return 0
