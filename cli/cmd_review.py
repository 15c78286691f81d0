"""``accord review``: the adjudication web app, its users, write-back to Label Studio, the edge-case gallery."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .cmd_ledger import DB_HELP

logger = logging.getLogger(__name__)

EXTRA = "review"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "review",
        help="the review web app: adjudicate conflicts side by side, second passes, roles, write-back",
        description=(
            "Reviewers resolve the report's conflicts in a browser, every annotator's version drawn side "
            "by side; each action is a ledger decision (who, role, when). 'user add' creates accounts "
            "(annotator, reviewer, expert, admin), 'serve' runs the app, 'push' writes decisions to Label "
            "Studio as accord-adjudicated predictions, 'gallery' writes resolved conflicts grouped by "
            "guideline rule as one HTML page. Needs pip install 'accord[review]'."
        ),
        epilog="example: accord review user add lead --role reviewer && accord review serve --report report.json",
    )
    rsub = p.add_subparsers(dest="review_command", metavar="ACTION", required=True)

    user = rsub.add_parser("user", help="manage users")
    usub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = usub.add_parser("add", help="create a user (the password is asked for, or read from stdin)")
    add.add_argument("name", help="user name (letters, digits, . _ @ + -)")
    add.add_argument("--role", required=True, choices=("annotator", "reviewer", "expert", "admin"))
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    add.add_argument("--replace", action="store_true", help="reset the role and password of an existing user")
    add.add_argument("--db", metavar="URL", default=None, help=DB_HELP)
    add.set_defaults(func=run_user_add)

    srv = rsub.add_parser("serve", help="run the review app")
    srv.add_argument("--report", type=Path, required=True, help="report.json written by 'accord report'")
    srv.add_argument("--db", metavar="URL", default=None, help=DB_HELP)
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on")
    srv.add_argument("--port", type=int, default=8765, help="port to listen on")
    srv.add_argument("--secret-file", type=Path, default=None,
                     help="file with the cookie-signing secret (created, mode 600, when absent); without it a "
                          "random secret is used and sessions end when the server stops")
    srv.add_argument("--seed", type=int, default=0, help="seed of the second-pass sample")
    srv.add_argument("--secure-cookie", action="store_true", help="mark the session cookie Secure (behind HTTPS)")
    srv.add_argument("--media-root", type=Path, default=None, metavar="DIR",
                     help="folder of the items' images: an item's image path is read relative to it, never "
                          "outside it (no '..', absolute paths or symlinks leaving it); else a placeholder canvas")
    srv.add_argument("--label-studio-url", default=None, metavar="URL",
                     help="Label Studio whose /data/... image URLs the server fetches (only this host, with the "
                          "token of --api-key-env)")
    srv.add_argument("--api-key-env", default="LABEL_STUDIO_API_KEY",
                     help="environment variable with the Label Studio token used to fetch images")
    srv.set_defaults(func=run_serve)

    push = rsub.add_parser(
        "push", help="write resolved decisions to Label Studio (predictions or ground-truth annotations) or to "
        "CVAT (the task's ground-truth job; accord's conflict issues resolved)")
    push.add_argument("--report", type=Path, required=True)
    push.add_argument("--db", metavar="URL", default=None, help=DB_HELP)
    push.add_argument("--label-studio-url", default=None, help="Label Studio base URL (with --project)")
    push.add_argument("--api-key-env", default="LABEL_STUDIO_API_KEY",
                      help="environment variable with the Label Studio token; with --as annotation its user "
                      "is the annotations' author (use the reviewer's token)")
    push.add_argument("--project", type=int, default=None, help="Label Studio project id")
    push.add_argument("--as", dest="push_as", choices=("prediction", "annotation"), default="prediction",
                      help="Label Studio: accord-adjudicated predictions (default) or ground-truth annotations")
    push.add_argument("--cvat-url", default=None, help="CVAT base URL (with --task)")
    push.add_argument("--task", type=int, default=None, help="CVAT task id (its ground-truth job gets the decisions)")
    push.add_argument("--cvat-token-env", default="CVAT_ACCESS_TOKEN",
                      help="environment variable with the CVAT Personal Access Token")
    push.add_argument("--seed", type=int, default=0, help="the second-pass seed the app used")
    push.add_argument("--dry-run", action="store_true", help="print what would be written; write nothing")
    push.set_defaults(func=run_push)

    gal = rsub.add_parser("gallery", help="resolved conflicts with rationale, grouped by guideline rule (HTML)")
    gal.add_argument("--report", type=Path, required=True)
    gal.add_argument("--db", metavar="URL", default=None, help=DB_HELP)
    gal.add_argument("-o", "--out", type=Path, default=Path("gallery.html"))
    gal.set_defaults(func=run_gallery)


def _need_extra() -> None:
    from ._extras import require

    for mod in ("fastapi", "jinja2", "argon2", "itsdangerous"):
        require(mod, EXTRA, purpose="accord review")


def _db(url: str | None) -> Any:
    from accord.review.auth import ensure_tables
    from accord.store.db import resolve_url
    from accord.store.ledger import Ledger

    ledger = Ledger.init(resolve_url(url))
    ensure_tables(ledger.db)
    return ledger


def run_user_add(args: argparse.Namespace) -> int:
    _need_extra()
    from accord.review.auth import add_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            sys.stderr.write("accord: error: the passwords differ; run the command again\n")
            return 2
    with _db(args.db) as ledger:
        user = add_user(ledger.db, args.name, args.role, password, replace=args.replace)
        where = ledger.where
    print(f"user {user.name} ({user.role}) saved in {where}")  # noqa: T201
    return 0


def _secret(path: Path | None) -> bytes:
    from accord.review.app import new_secret

    if path is None:
        fresh: bytes = new_secret()
        return fresh
    if path.exists():
        data: bytes = path.read_bytes().strip()
        if len(data) < 16:
            raise ValueError(f"the secret file {path} holds {len(data)} bytes; it needs at least 16 "
                             "(delete it to have a new one made)")
        return data
    secret: bytes = new_secret().hex().encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    return secret


def run_serve(args: argparse.Namespace) -> int:
    _need_extra()
    import uvicorn

    from accord.review.app import Settings, create_app
    from accord.store.db import resolve_url

    if not 0 < args.port < 65536:
        sys.stderr.write(f"accord: error: --port must be 1-65535; got {args.port}\n")
        return 2
    from accord.review.media import MediaSource

    if args.media_root is not None and not args.media_root.is_dir():
        sys.stderr.write(f"accord: error: --media-root {args.media_root} is not a folder; pass the folder that "
                         "holds the items' images\n")
        return 2
    ls_url = None
    if args.label_studio_url is not None:
        from urllib.parse import urlsplit

        u = urlsplit(args.label_studio_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            sys.stderr.write(f"accord: error: --label-studio-url must be http(s)://host[:port]; got "
                             f"{args.label_studio_url!r}\n")
            return 2
        ls_url = f"{u.scheme}://{u.netloc}"
    token = os.environ.get(args.api_key_env) if ls_url else None
    if ls_url and not token:
        logger.warning("$%s is empty: Label Studio images are fetched without a token", args.api_key_env)
    media = MediaSource(root=args.media_root, label_studio_url=ls_url, token=token or None)
    settings = Settings(report_path=args.report, db_url=resolve_url(args.db), secret=_secret(args.secret_file),
                        seed=args.seed, secure_cookie=args.secure_cookie, media=media)
    app = create_app(settings)
    logger.info("review app on http://%s:%d", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _queue_and_decisions(report: Path, db: str | None) -> tuple[Any, Any, Any]:
    from accord.review.queue import conflicts_of, decisions_by_key, load_report, read_policies

    conflicts = conflicts_of(load_report(report))
    with _db(db) as ledger:
        return conflicts, decisions_by_key(ledger.decisions()), read_policies(ledger.db)


def run_push(args: argparse.Namespace) -> int:
    if (args.label_studio_url is None) == (args.cvat_url is None):
        sys.stderr.write("accord: error: give either --label-studio-url URL --project ID or --cvat-url URL "
                         "--task ID\n")
        return 2
    if args.cvat_url is not None:
        return _push_cvat(args)
    if args.project is None:
        sys.stderr.write("accord: error: --label-studio-url needs --project ID (the number in /projects/<id>)\n")
        return 2
    return _push_label_studio(args)


def _push_label_studio(args: argparse.Namespace) -> int:
    import json

    from accord.plugins.label_studio.client import LabelStudioClient
    from accord.plugins.label_studio.config import parse_label_config_full
    from accord.review.push import (
        push_annotations_to_label_studio,
        push_to_label_studio,
        to_label_studio_annotations,
        to_label_studio_predictions,
    )

    key = os.environ.get(args.api_key_env)
    if not key:
        sys.stderr.write(f"accord: error: ${args.api_key_env} is empty; export the Label Studio token there "
                         "(or name another variable with --api-key-env)\n")
        return 2
    conflicts, by_key, policies = _queue_and_decisions(args.report, args.db)
    client = LabelStudioClient(args.label_studio_url, key)
    schema = parse_label_config_full(str(client.project(args.project).get("label_config") or "")).schema
    to_plan = to_label_studio_annotations if args.push_as == "annotation" else to_label_studio_predictions
    plan = to_plan(conflicts, by_key, schema, policies=policies, seed=args.seed)
    for item, ls, why in plan.skipped:
        logger.warning("skipped %s [%s]: %s", item, ls, why)
    if args.dry_run:
        json.dump(plan.predictions, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.push_as == "annotation":
        created, updated = push_annotations_to_label_studio(client, plan)
        print(f"wrote {created + updated} ground-truth annotation(s) to project {args.project} "  # noqa: T201
              f"({created} created, {updated} updated); {len(plan.skipped)} decision(s) skipped")
        return 0
    n = push_to_label_studio(client, args.project, plan)
    print(f"wrote {n} accord-adjudicated prediction(s) to project {args.project}; "  # noqa: T201
          f"{len(plan.skipped)} decision(s) skipped")
    return 0


def _push_cvat(args: argparse.Namespace) -> int:
    import json

    if args.task is None:
        sys.stderr.write("accord: error: --cvat-url needs --task ID (the number in /tasks/<id>)\n")
        return 2
    token = os.environ.get(args.cvat_token_env)
    if not token:
        sys.stderr.write(f"accord: error: ${args.cvat_token_env} is empty; export a CVAT Personal Access Token "
                         "there (or name another variable with --cvat-token-env)\n")
        return 2
    from accord.plugins.cvat.client import connect, fetch_payload
    from accord.plugins.cvat.push import push_to_cvat, to_cvat_shapes
    from accord.review.push import decided_values

    try:
        from cvat_sdk.api_client.exceptions import ApiException
        from urllib3.exceptions import HTTPError
    except ImportError:
        sys.stderr.write("accord: error: pushing to CVAT needs cvat-sdk; pip install 'accord[cvat]'\n")
        return 2
    conflicts, by_key, policies = _queue_and_decisions(args.report, args.db)

    try:
        client = connect(args.cvat_url, token=token)
        plan = to_cvat_shapes(decided_values(conflicts, by_key, policies=policies, seed=args.seed),
                              fetch_payload(client, args.task))
        res = push_to_cvat(client, plan, dry_run=args.dry_run)
    except ApiException as e:
        sys.stderr.write(f"accord: error: CVAT at {args.cvat_url} answered {e.status} {e.reason} while pushing to "
                         f"task {args.task}; check the id and that the token may edit its ground-truth job\n")
        return 2
    except HTTPError as e:
        sys.stderr.write(f"accord: error: cannot reach CVAT at {args.cvat_url}: {e}; check --cvat-url\n")
        return 2
    for item, ls, why in plan.skipped:
        logger.warning("skipped %s [%s]: %s", item, ls, why)
    if args.dry_run:
        json.dump({"job": plan.job_id, "create": plan.create, "delete": plan.delete,
                   "issues_to_resolve": res.issues_resolved,
                   "skipped": [list(s) for s in plan.skipped]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"wrote {res.created} shape(s)/tag(s) to ground-truth job {res.job_id} of task {args.task} "  # noqa: T201
          f"({res.deleted} replaced, {res.unchanged} decision(s) already there); {res.issues_resolved} issue(s) "
          f"resolved; {len(plan.skipped)} decision(s) skipped")
    return 0


def run_gallery(args: argparse.Namespace) -> int:
    from accord.review.app import gallery_html

    from .atomic import write_text_atomic

    conflicts, by_key, _ = _queue_and_decisions(args.report, args.db)
    html = gallery_html(conflicts, by_key)
    write_text_atomic(args.out, html)
    print(f"wrote {args.out}")  # noqa: T201
    return 0
