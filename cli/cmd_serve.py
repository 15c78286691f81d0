"""``accord serve label-studio``: run the Label Studio ML backend (pre-annotation server).

Workers are separate processes (uvicorn's supervisor); each builds the model once at
start. Settings reach the workers as ``ACCORD_SERVE_*`` environment variables, so the
same app runs under gunicorn::

    ACCORD_SERVE_STATE_DIR=/srv/accord gunicorn -k uvicorn.workers.UvicornWorker -w 4 \\
        -b 0.0.0.0:9090 'accord.ml_backends.label_studio.app:app_from_env()'
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from accord._extras import require
from accord.core.errors import AccordError

_APP = "accord.ml_backends.label_studio.app:app_from_env"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``serve`` and its ``label-studio`` subcommand."""
    p = sub.add_parser("serve", help="run a pre-annotation server (Label Studio ML backend)",
                       description="Run a pre-annotation server. Needs: pip install 'accord[serve]'.")
    ss = p.add_subparsers(dest="serve_command", metavar="SERVER")
    def usage(_: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)
    ls = ss.add_parser(
        "label-studio", help="Label Studio ML backend: /health /setup /predict /webhook /versions /metrics",
        description="Serve pre-annotations to Label Studio (connect it under Project > Settings > Model). "
                    "Predictions carry a score (higher = more confident) so sorting tasks by prediction "
                    "score puts the least confident first; the Train button retrains per project.")
    ls.add_argument("--model", default=os.environ.get("ACCORD_SERVE_MODEL", "text"),
                    help="model family (default: text = Choices classifier + Labels tagger over Text)")
    ls.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; 0.0.0.0 for all)")
    ls.add_argument("--port", type=int, default=9090, help="port (default 9090)")
    ls.add_argument("--workers", type=int, default=1, help="worker processes; the model is loaded once in each")
    ls.add_argument("--state-dir", type=Path, default=Path(os.environ.get("ACCORD_SERVE_STATE_DIR", "accord-ml-state")),
                    help="folder for per-project models and versions (default ./accord-ml-state)")
    ls.add_argument("--basic-auth", metavar="USER:PASS", default=None,
                    help="require HTTP basic auth on every route but /health (or set ACCORD_SERVE_BASIC_AUTH, "
                         "which keeps the password out of the process list)")
    ls.add_argument("--label-studio-url", default=None,
                    help="Label Studio URL for files and the export API (default: what /setup sends, "
                         "or LABEL_STUDIO_URL)")
    ls.add_argument("--train-on-annotation", action="store_true",
                    help="retrain after every annotation webhook, not only when Train is pressed")
    ls.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    ls.set_defaults(func=run_label_studio)


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """The ``ACCORD_SERVE_*`` variables that carry ``args`` to the worker processes."""
    if args.workers < 1:
        raise AccordError(f"--workers must be at least 1, got {args.workers}")
    if not 0 < args.port < 65536:
        raise AccordError(f"--port must be in 1..65535, got {args.port}")
    env = {"ACCORD_SERVE_MODEL": args.model, "ACCORD_SERVE_STATE_DIR": str(Path(args.state_dir).resolve()),
           "ACCORD_SERVE_TRAIN_ON_ANNOTATION": "1" if args.train_on_annotation else "0"}
    if args.basic_auth is not None:
        user, sep, _ = args.basic_auth.partition(":")
        if not sep or not user:
            raise AccordError("--basic-auth must be USER:PASSWORD (e.g. labelstudio:s3cret)")
        env["ACCORD_SERVE_BASIC_AUTH"] = args.basic_auth
    if args.label_studio_url:
        env["LABEL_STUDIO_URL"] = args.label_studio_url
    return env


def run_label_studio(args: argparse.Namespace) -> int:
    """Validate the settings, build the app once here (fail fast), then hand over to uvicorn."""
    require("fastapi", "serve", purpose="accord serve")
    uvicorn = require("uvicorn", "serve", purpose="accord serve")
    env = server_env(args)
    from accord.ml_backends.label_studio.app import create_app, settings_from_env

    app = create_app(settings_from_env({**os.environ, **env}))  # bad settings fail here, not in every worker
    Path(env["ACCORD_SERVE_STATE_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)  # worker processes read their settings from here
    if args.workers == 1:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    else:
        uvicorn.run(_APP, factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level=args.log_level)
    return 0
