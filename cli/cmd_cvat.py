"""``accord cvat``: the QA report for a CVAT task or project, from the API or an export.

``accord cvat report --url URL (--token PAT | --user U --password P) (--task ID | --project ID)``
reads every job through cvat-sdk (annotation jobs, ground-truth jobs as the reference,
consensus replicas as annotators); ``accord cvat report --export FILE [--reference FILE]``
reads CVAT for images/video 1.1 XML (zip or bare) or COCO 1.0 exports. The report is
``accord report``'s with a ``cvat`` section (counts per job, assignee, label and frame in
CVAT's vocabulary), and with ``attributes`` and ``tracks`` sections when regions carry
attributes or the task is a video with box tracks (API keyframes are interpolated first).
With ``--write-issues`` (API path only) each discrepancy at or above
``--min-severity`` becomes a CVAT issue at its frame and position, never twice;
``--dry-run`` only counts. ``--move-stage``/``--move-state`` move the jobs that got issues.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ._validate import agreement_arg, positive_int_arg, read_text, seed_arg

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cvat", help="CVAT: QA report from the API or an export, issues written back",
                       description="CVAT integration: QA reports for tasks and projects, issues written back.")
    csub = p.add_subparsers(dest="cvat_command", metavar="SUBCOMMAND")
    r = csub.add_parser(
        "report", help="QA report for a CVAT task/project (API) or export",
        description=("Build the QA report for a CVAT task or project through the API (cvat-sdk), or for a "
                     "CVAT for images/video 1.1 or COCO 1.0 export. Ground-truth jobs are the reference; "
                     "consensus replicas are annotators."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = r.add_argument_group("source (an API task/project, or an export file)")
    src.add_argument("--url", default=None, help="CVAT server URL, e.g. https://app.cvat.ai")
    src.add_argument("--token", default=None,
                     help="Personal Access Token; else $CVAT_ACCESS_TOKEN")
    src.add_argument("--user", default=None, help="user name (with --password)")
    src.add_argument("--password", default=None, help="password; else $CVAT_PASSWORD")
    which = src.add_mutually_exclusive_group()
    which.add_argument("--task", type=positive_int_arg, default=None, help="task id")
    which.add_argument("--project", type=positive_int_arg, default=None, help="project id")
    src.add_argument("--export", type=Path, nargs="+", default=None, metavar="FILE",
                     help="CVAT for images/video 1.1 XML or zip, or COCO 1.0 JSON export(s)")
    src.add_argument("--reference", type=Path, default=None, help="a gold export (with --export)")
    out = r.add_argument_group("output")
    out.add_argument("--json", type=Path, default=None, dest="json_path", help="write the JSON report here")
    out.add_argument("--html", type=Path, default=None, help="write the HTML report here")
    out.add_argument("--config", type=Path, default=None, help="TOML with [report] thresholds and [taxonomy]")
    out.add_argument("--no-checks", action="store_true", help="skip the rule-based checks")
    out.add_argument("--seed", type=seed_arg, default=0, help="seed for bootstrap and samples")
    out.add_argument("--fail-under", type=agreement_arg, default=None,
                     help="exit 1 when any label set's primary agreement is below this")
    wb = r.add_argument_group("writing back (API path only; opt-in)")
    wb.add_argument("--write-issues", action="store_true", help="create CVAT issues for discrepancies")
    wb.add_argument("--dry-run", action="store_true", help="plan issues and job moves, change nothing")
    wb.add_argument("--min-severity", default="major", choices=["info", "minor", "major", "critical"],
                    help="lowest severity that becomes an issue")
    wb.add_argument("--against", default="reference,consensus",
                    help="comparisons that raise issues: reference, consensus, annotator (comma-separated)")
    wb.add_argument("--conflicts", action="store_true",
                    help="also raise whole-frame issues for the conflict queue (low agreement, no gold needed)")
    wb.add_argument("--move-stage", default=None, choices=["annotation", "validation", "acceptance"],
                    help="move jobs with issues to this stage")
    wb.add_argument("--move-state", default=None, choices=["new", "in progress", "rejected", "completed"],
                    help="set jobs with issues to this state")
    r.set_defaults(func=run_report)

    a = csub.add_parser(
        "annotate", help="pre-annotate a CVAT task with a predictor (images, masks, tracks, cuboids, tags)",
        description=("Run a registered predictor on a CVAT task's frames and upload its output, checked against "
                     "the predictor's spec: image predictors (contours, onnx, box-masks, ...) as shapes through "
                     "cvat-sdk's auto-annotation, video-tracks as box tracks with keyframes and 'outside', "
                     "pointcloud-cuboids as cuboids of a 3D task, video-events as frame tags. Labels map by name "
                     "to the task's labels."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a.add_argument("--url", required=True, help="CVAT server URL, e.g. https://app.cvat.ai")
    a.add_argument("--token", default=None, help="Personal Access Token; else $CVAT_ACCESS_TOKEN")
    a.add_argument("--user", default=None, help="user name (with --password)")
    a.add_argument("--password", default=None, help="password; else $CVAT_PASSWORD")
    a.add_argument("--task", type=positive_int_arg, required=True, help="task id")
    a.add_argument("--model", required=True, metavar="NAME",
                   help="registered predictor: contours, onnx, box-masks, video-tracks, pointcloud-cuboids, ...")
    a.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a predictor parameter (repeatable), e.g. --param detector=contours")
    a.add_argument("--conf-threshold", type=float, default=None, help="drop predictions scored below this")
    a.add_argument("--clear-existing", action="store_true", help="replace the task's annotations instead of adding")
    a.add_argument("--allow-unmatched-labels", action="store_true",
                   help="skip predictor labels the task lacks instead of failing")
    a.set_defaults(func=run_annotate)

    def usage(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)


def _usage(msg: str) -> int:
    sys.stderr.write(f"accord cvat report: error: {msg}\n")
    return 2


def _login(args: argparse.Namespace) -> tuple[str | None, str | None] | None:
    token = args.token or (None if args.user else os.environ.get("CVAT_ACCESS_TOKEN"))
    password = args.password or os.environ.get("CVAT_PASSWORD")
    if token is None and (args.user is None or password is None):
        return None
    return token, password


def run_annotate(args: argparse.Namespace) -> int:
    """``accord cvat annotate``: a predictor's output uploaded to a task, by the predictor's modality."""
    from cvat_sdk.api_client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    import accord.ml_backends.cvat_function as fn
    from accord.ml_backends.predictor_registry import get_predictor
    from accord.ml_backends.predictor_spec import modality_of
    from accord.plugins.cvat.client import connect

    from .cmd_preannotate import _params

    login = _login(args)
    if login is None:
        return _usage("log in with --token PAT (or $CVAT_ACCESS_TOKEN), or --user and --password")
    token, password = login
    params = _params(args.param)
    modality = modality_of(get_predictor(args.model, **params))  # a bad name or parameter fails here
    common = {"clear_existing": args.clear_existing, "allow_unmatched_labels": args.allow_unmatched_labels}
    try:
        client = connect(args.url, token=token, user=None if token else args.user,
                         password=None if token else password)
        if modality == "tracks":
            n = fn.annotate_video_task(client, args.task, model=args.model, conf_threshold=args.conf_threshold,
                                       **common, **params)
            what = "tracks"
        elif modality == "pointcloud":
            n = fn.annotate_point_cloud_task(client, args.task, model=args.model,
                                             conf_threshold=args.conf_threshold, **common, **params)
            what = "cuboids"
        elif modality == "events":
            n = fn.annotate_events_task(client, args.task, model=args.model, **common, **params)
            what = "frame tags"
        elif modality == "image":
            from cvat_sdk.auto_annotation import annotate_task

            annotate_task(client, args.task, fn.create(model=args.model, **params), conf_threshold=args.conf_threshold,
                          clear_existing=args.clear_existing, allow_unmatched_labels=args.allow_unmatched_labels)
            n, what = -1, "shapes"
        else:
            return _usage(f"model {args.model!r} reads {modality} data, which CVAT has no task for")
    except ApiException as e:
        return _usage(f"CVAT at {args.url} answered {e.status} {e.reason} for task {args.task}; check the id and "
                      "that your token or login may edit it")
    except HTTPError as e:
        return _usage(f"cannot reach CVAT at {args.url}: {e}; check --url")
    done = f"{n} {what}" if n >= 0 else what
    sys.stdout.write(f"task {args.task}: {done} by {args.model} uploaded\n")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from accord.core.qa.report import build_report, config_from_toml
    from accord.plugins.cvat.client import cvat_breakdown

    from .cmd_report import exit_code, print_summary, write_outputs

    api = args.url is not None
    if api == (args.export is not None):
        return _usage("give either --url with --task/--project, or --export FILE")
    if api and args.task is None and args.project is None:
        return _usage("with --url, give --task ID or --project ID")
    if not api and (args.write_issues or args.move_stage or args.move_state):
        return _usage("--write-issues and --move-stage/--move-state need the API (--url), not an export")
    if api and args.reference is not None:
        return _usage("--reference goes with --export; through the API, ground-truth jobs are the reference")
    config = config_from_toml(read_text(args.config, what="--config file")) if args.config else None
    client: Any = None
    if api:
        from accord.plugins.cvat.client import connect, fetch_project, fetch_task

        token = args.token or (None if args.user else os.environ.get("CVAT_ACCESS_TOKEN"))
        password = args.password or os.environ.get("CVAT_PASSWORD")
        if token is None and (args.user is None or password is None):
            return _usage("log in with --token PAT (or $CVAT_ACCESS_TOKEN), or --user and --password")
        from cvat_sdk.api_client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            client = connect(args.url, token=token, user=None if token else args.user,
                             password=None if token else password)
            dataset = (fetch_task(client, args.task) if args.task is not None
                       else fetch_project(client, args.project))
        except ApiException as e:
            what = f"task {args.task}" if args.task is not None else f"project {args.project}"
            return _usage(f"CVAT at {args.url} answered {e.status} {e.reason} while reading {what}; check the id "
                          "and that your token or login may see it")
        except HTTPError as e:
            return _usage(f"cannot reach CVAT at {args.url}: {e}; check --url")
    else:
        from .io import load_dataset

        dataset = load_dataset(args.export, format="auto", reference=args.reference)
    report = build_report(dataset, config=config, seed=args.seed, checks=not args.no_checks)
    report["cvat"] = cvat_breakdown(report, dataset)
    if client is not None and (args.write_issues or args.move_stage or args.move_state):
        report["cvat"]["writeback"] = _write_back(client, report, dataset, args)
    write_outputs(report, json_path=args.json_path, html_path=args.html)
    print_summary(report)
    wbk = report["cvat"].get("writeback")
    if wbk:
        verb = "would create" if wbk["dry_run"] else "created"
        sys.stdout.write(f"  issues: {wbk['planned']} planned, {wbk['created']} {verb}, "
                         f"{wbk['skipped_existing']} already in CVAT; jobs moved: {wbk['jobs_moved']}\n")
    return exit_code(report, args.fail_under)


def _write_back(client: Any, report: dict[str, Any], dataset: Any, args: argparse.Namespace) -> dict[str, Any]:
    from accord.plugins.cvat.writeback import move_jobs, plan_issues, write_issues

    against = tuple(a.strip() for a in args.against.split(",") if a.strip())
    plans = plan_issues(report, dataset, min_severity=args.min_severity, against=against,
                        conflicts=args.conflicts)
    out: dict[str, Any] = {"dry_run": bool(args.dry_run), "planned": len(plans), "created": 0,
                           "skipped_existing": 0, "jobs_moved": []}
    if args.write_issues:
        res = write_issues(client, plans, dry_run=args.dry_run)
        out.update(created=res.created, skipped_existing=res.skipped_existing)
    if args.move_stage or args.move_state:
        out["jobs_moved"] = list(move_jobs(client, {p.job_id for p in plans}, stage=args.move_stage,
                                           state=args.move_state, dry_run=args.dry_run))
    out["issues"] = [{"job": p.job_id, "frame": p.frame, "position": list(p.position), "message": p.message}
                     for p in plans[:200]]
    return out
