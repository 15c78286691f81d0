"""``accord preannotate``: batch pre-annotation of an image folder or a whole Label Studio project."""

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
        help="pre-annotate a folder of images or a Label Studio project (in-process or on Dask workers)",
        description=(
            "Run a registered predictor (contours, hog-person, haar-face, box-masks, onnx, vad, video-tracks, "
            "...) on every image of a folder and write its predictions, checked against the predictor's spec, as "
            "accord JSON Lines or COCO JSON; or on every task of a Label Studio project (--label-studio-url, "
            "--project) and import them into the project as predictions, in bulk. With --dask the work is "
            "mapped over Dask workers (the model is loaded once per worker); the output is the same. A "
            "project's files are read by this process only, with the token, and sent to the workers as bytes."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("folder", type=Path, nargs="?", default=None,
                   help="folder of images (searched recursively); or use --label-studio-url and --project")
    p.add_argument("--model", required=True, metavar="NAME", help="registered predictor name, e.g. contours")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a predictor parameter (repeatable), e.g. --param kinds=box,polygon")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output file of a folder run: .jsonl for accord JSON Lines, .json for COCO (or --to)")
    p.add_argument("--to", choices=["jsonl", "coco"], default=None, help="output format (default: from the suffix)")
    p.add_argument("--dask", nargs="?", const="", default=None, metavar="SPEC",
                   help="map the images over a Dask cluster: local[:N] or tcp://HOST:PORT; --dask alone reads "
                        "$DASK_SCHEDULER_ADDRESS (needs accord[dask])")
    p.add_argument("--batch-size", type=positive_int_arg, default=16, help="images (or project tasks) per Dask task")
    ls = p.add_argument_group("Label Studio project")
    ls.add_argument("--label-studio-url", metavar="URL", default=None,
                    help="pre-annotate this Label Studio's project (with --project) instead of a folder")
    ls.add_argument("--project", type=positive_int_arg, default=None, help="Label Studio project id")
    ls.add_argument("--api-key-env", default="LABEL_STUDIO_API_KEY", metavar="VAR",
                    help="environment variable holding the Label Studio token")
    ls.add_argument("--model-version", default=None,
                    help="model_version of the imported predictions (default: accord-<model>)")
    ls.add_argument("--replace", action="store_true",
                    help="delete the project's earlier predictions of the same model version first")
    ls.add_argument("--dry-run", action="store_true", help="predict and print the counts; import nothing")
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


def _run_label_studio(args: argparse.Namespace, spec: Any) -> int:
    import os

    from accord.cluster.preannotate_ls import preannotate_tasks
    from accord.core.errors import ConfigError
    from accord.ml_backends.label_studio.files import fetch_bytes
    from accord.plugins.label_studio.client import LabelStudioClient

    if args.project is None:
        raise ConfigError("--label-studio-url needs --project ID (the project to pre-annotate)")
    token = os.environ.get(args.api_key_env)
    if not token:
        raise ConfigError(f"no Label Studio token: set {args.api_key_env} (Label Studio: Account & Settings > "
                          "Access Token)")
    url = args.label_studio_url.rstrip("/")
    ls = LabelStudioClient(url, token)
    config = str(ls.project(args.project).get("label_config") or "")
    if not config.strip():
        raise ConfigError(f"project {args.project} has no labeling config; set one in Label Studio first")
    tasks = ls.export_snapshot(args.project)
    version = args.model_version or f"accord-{args.model}"

    def fetch(ref: str) -> bytes:  # only the configured Label Studio, with its token (the ML backend's policy)
        data: bytes = fetch_bytes(ref, hostname=url, access_token=token)
        return data

    if args.dask is not None:
        from accord.cluster.connect import connect

        with connect(args.dask) as client:
            out = preannotate_tasks(tasks, config, spec, fetch=fetch, client=client, batch_size=args.batch_size)
    else:
        out = preannotate_tasks(tasks, config, spec, fetch=fetch, batch_size=args.batch_size)
    for tid, why in out.skipped[:20]:
        logger.warning("task %s skipped: %s", tid, why)
    rows = [{**r, "model_version": version} for r in out.predictions]
    removed = written = 0
    if not args.dry_run:
        if args.replace:
            for p in ls.list_predictions(args.project):
                if p.get("model_version") == version and isinstance(p.get("id"), int):
                    ls.delete_prediction(p["id"])
                    removed += 1
        for i in range(0, len(rows), 500):
            written += ls.import_predictions(args.project, rows[i:i + 500])
    regions = sum(len(r["result"]) for r in rows)
    verb, n = ("would import", len(rows)) if args.dry_run else ("imported", written)
    sys.stdout.write(f"{out.n_tasks} tasks, {len(out.skipped)} skipped; {verb} {n} "
                     f"predictions ({regions} regions) as {version!r} into project {args.project}"
                     + (f"; {removed} earlier predictions of that version deleted" if removed else "") + "\n")
    return 0


def run(args: argparse.Namespace) -> int:
    from accord.cluster.preannotate import PredictorSpec, preannotate_folder
    from accord.core.errors import ConfigError

    spec = PredictorSpec(name=args.model, params=_params(args.param))
    if args.label_studio_url is not None:
        if args.folder is not None or args.output is not None:
            raise ConfigError("pass either a folder with -o, or --label-studio-url with --project, not both")
        return _run_label_studio(args, spec)
    if args.folder is None or args.output is None:
        raise ConfigError("pass a folder of images and -o OUTPUT (or --label-studio-url URL --project ID)")
    to = args.to or {".jsonl": "jsonl", ".json": "coco"}.get(args.output.suffix.lower())
    if to is None:
        raise ConfigError(f"cannot tell the output format of {str(args.output)!r}; name it .jsonl (accord JSON Lines) "
                          "or .json (COCO), or pass --to")
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
