"""``accord label-studio report|push``: QA straight from a live Label Studio project.

``report`` pulls the project (labeling config + an export snapshot with annotator emails
and full predictions, deleted again after the download), converts it and builds the QA
report. ``push`` does the same and then writes the results back, each part opt-in
(``--qa-fields``, ``--qa-prediction``, ``--views``, ``--consensus``,
``--select-model-version``), idempotently; ``--dry-run`` prints the plan and writes nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from ._validate import agreement_arg, positive_float_arg, positive_int_arg, read_text, run_id_arg, seed_arg
from .cmd_report import exit_code, print_summary, write_outputs

logger = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None,
                   help="Label Studio base URL, e.g. http://localhost:8080; else $LABEL_STUDIO_URL")
    p.add_argument("--api-key", default=None,
                   help="legacy token or personal access token; else $LABEL_STUDIO_API_KEY")
    p.add_argument("--project", type=positive_int_arg, required=True, help="project id (the number in /projects/<id>)")
    p.add_argument("--json", type=Path, default=None, dest="json_path", help="write the JSON report here")
    p.add_argument("--html", type=Path, default=None, help="write the HTML report here")
    p.add_argument("--config", type=Path, default=None, help="TOML with [report] thresholds")
    p.add_argument("--no-checks", action="store_true", help="skip the rule-based checks")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed for bootstrap and samples")
    p.add_argument("--gold", default="auto", choices=["auto", "ground-truth", "none"],
                   help="gold reference: annotations marked ground_truth, none, or auto (ground_truth unless "
                        "every annotation is marked, as Label Studio does for annotations imported with tasks)")
    p.add_argument("--timeout", type=positive_float_arg, default=60.0, help="seconds per HTTP request")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "label-studio", help="QA report from, and write-back into, a live Label Studio project",
        description="Pull a Label Studio project over its API, build the QA report, and optionally write "
                    "QA fields, Data Manager tabs and consensus predictions back.")
    lsub = p.add_subparsers(dest="ls_command", metavar="ACTION", required=True)
    r = lsub.add_parser("report", help="pull a project and build the QA report",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _common(r)
    r.add_argument("--fail-under", type=agreement_arg, default=None,
                   help="exit 1 when any label set's primary agreement is below this")
    r.set_defaults(func=run_report)
    w = lsub.add_parser(
        "push", help="pull, build the report, write results back (opt-in parts, idempotent)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Writes only what is asked for. Predictions with model versions accord-qa-* and "
                    "accord-consensus and views titled 'accord: ...' are accord's own and are replaced on a "
                    "rerun; annotations, other predictions and other views are never touched.")
    _common(w)
    w.add_argument("--run-id", type=run_id_arg, default=None,
                   help="run id (letters, digits, '.', '_', '-'); written to data.accord_run and QA predictions' "
                        "model_version accord-qa-<run id>; a UTC timestamp when not given")
    w.add_argument("--qa-fields", action="store_true",
                   help="per task: data.accord_* columns - agreement, conflicts and errors as numbers (filter "
                        "'agreement < 0.5' in accord's tabs), worst error, run id")
    w.add_argument("--qa-prediction", action="store_true",
                   help="also an empty prediction accord-qa-<run id> with score = agreement (shows as its own "
                        "tab in the labeling editor; --consensus predictions carry the same score). Without it, "
                        "--qa-fields removes accord's earlier accord-qa-* predictions")
    w.add_argument("--views", action="store_true",
                   help="Data Manager tabs 'accord: conflicts' (lowest agreement first) and 'accord: spot-check'")
    w.add_argument("--spot-check-size", type=positive_int_arg, default=None, metavar="N",
                   help="tasks in the spot-check tab; default: the ISO 2859-1 sample size for the project's "
                        "annotated tasks at the report's AQL (32 of 200 at AQL 2.5)")
    w.add_argument("--consensus", action="store_true",
                   help="consensus labels as predictions with model_version accord-consensus, score = agreement")
    w.add_argument("--select-model-version", action="store_true",
                   help="make accord-qa-<run id> (with --qa-prediction) or accord-consensus the project's "
                        "selected model version so predictions_score sorts by agreement (changes which "
                        "predictions annotators see)")
    w.add_argument("--dry-run", action="store_true", help="print what would be written; write nothing")
    w.set_defaults(func=run_push)


def _pull(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    from accord.core.qa.report import build_report, config_from_toml
    from accord.plugins.label_studio.client import LabelStudioClient, LabelStudioError

    url = args.url or os.environ.get("LABEL_STUDIO_URL")
    if not url:
        raise LabelStudioError("no Label Studio URL: pass --url or set LABEL_STUDIO_URL")
    client = LabelStudioClient(url, args.api_key, timeout_s=args.timeout)
    bar = _ByteBar(enabled=not getattr(args, "quiet", False))
    try:
        pulled = client.pull(args.project, progress=bar.update, gold=args.gold)
    finally:
        bar.close()
    for w in pulled.warnings:
        logger.warning("%s", w)
    config = config_from_toml(read_text(args.config, what="--config file")) if args.config else None
    report = build_report(pulled.dataset, config=config, seed=args.seed, checks=not args.no_checks)
    report["source"] = {"tool": "label-studio", "url": pulled.url, "project_id": pulled.project_id,
                        "title": pulled.title, "n_tasks": pulled.n_tasks, "n_annotations": pulled.n_annotations,
                        "n_cancelled": pulled.n_cancelled, "n_ground_truth": pulled.n_ground_truth,
                        "n_predictions": pulled.n_predictions, "warnings": list(pulled.warnings)}
    return client, pulled, report


def _print_source(pulled: Any) -> None:
    sys.stdout.write(f"Label Studio project {pulled.project_id} ({pulled.title}): {pulled.n_tasks} tasks, "
                     f"{pulled.n_annotations} annotations ({pulled.n_cancelled} cancelled, excluded; "
                     f"{pulled.n_ground_truth} ground truth), {pulled.n_predictions} predictions\n")
    for w in pulled.warnings:
        sys.stdout.write(f"  skipped: {w}\n")


def run_report(args: argparse.Namespace) -> int:
    _, pulled, report = _pull(args)
    write_outputs(report, json_path=args.json_path, html_path=args.html)
    _print_source(pulled)
    print_summary(report)
    return exit_code(report, args.fail_under)


def run_push(args: argparse.Namespace) -> int:
    from accord.plugins.label_studio.writeback import apply_writeback, plan_writeback

    if not (args.qa_fields or args.qa_prediction or args.views or args.consensus or args.select_model_version):
        sys.stderr.write("accord: error: nothing to write; add --qa-fields, --qa-prediction, --views, --consensus "
                         "and/or --select-model-version (with --dry-run to preview)\n")
        return 2
    if args.select_model_version and not (args.qa_prediction or args.consensus):
        sys.stderr.write("accord: error: --select-model-version needs --consensus or --qa-prediction (the "
                         "predictions whose score becomes sortable)\n")
        return 2
    client, pulled, report = _pull(args)
    write_outputs(report, json_path=args.json_path, html_path=args.html)
    _print_source(pulled)
    run_id = args.run_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    views = client.list_views(pulled.project_id) if args.views else []
    plan = plan_writeback(pulled, report, run_id=run_id, qa_fields=args.qa_fields, qa_prediction=args.qa_prediction,
                          views=args.views, consensus=args.consensus,
                          select_model_version=args.select_model_version, existing_views=views, seed=args.seed,
                          spot_check_size=args.spot_check_size)
    out = sys.stdout
    for n in plan.notes:
        out.write(f"  note: {n}\n")
    counts = plan.counts()
    summary = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(counts.items())) or "nothing (up to date)"
    if args.dry_run:
        out.write(f"dry run (run id {run_id}): would write {summary}\n")
        for a in plan.actions:
            out.write(f"  {a.description}\n")
        return 0
    result = apply_writeback(client, plan)
    out.write(f"wrote (run id {run_id}): {summary}; {len(plan.conflict_task_ids)} conflict task(s), "
              f"{len(plan.spot_check_task_ids)} spot-check task(s)\n")
    for title, vid in sorted(result.view_ids.items()):
        out.write(f"  view {title!r}: {pulled.url}/projects/{pulled.project_id}/data?tab={vid}\n")
    return 0


class _ByteBar:
    """A tqdm byte counter on an interactive stderr; silent otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self._bar: Any = None
        self._last = 0
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar = tqdm(desc="export", unit="B", unit_scale=True, leave=False)

    def update(self, done: int, total: int | None) -> None:
        if self._bar is not None:
            if total is not None:
                self._bar.total = total
            self._bar.update(done - self._last)
            self._last = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
