"""``accord serve label-studio``: run the Label Studio ML backend (pre-annotation server).

With ``--workers N`` (N > 1) the server is gunicorn with uvicorn workers when gunicorn is
installed (``--server auto``, the default), else uvicorn's own process manager. Each
worker builds the model once when it starts (never in ``/setup``). Settings reach the
workers as ``ACCORD_SERVE_*`` environment variables, so the same app runs under a
gunicorn you start yourself::

    ACCORD_SERVE_STATE_DIR=/srv/accord ACCORD_SERVE_TOKEN=... LABEL_STUDIO_URL=http://ls:8080 \\
        gunicorn -k uvicorn.workers.UvicornWorker -w 4 -b 0.0.0.0:9090 \\
        'accord.ml_backends.label_studio.app:app_from_env()'

Listening on anything but loopback needs ``--basic-auth`` or ``--auth-token`` (or
``--insecure-no-auth``); task files are read only from ``--label-studio-url``, from
``--allow-local-dir`` folders, and, with ``--allow-remote-media``, from other hosts.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accord._extras import require
from accord.core.errors import AccordError

_APP = "accord.ml_backends.label_studio.app:app_from_env"
#: A predict batch may take up to Label Studio's own 100 s timeout; gunicorn restarts a silent worker after this.
_WORKER_TIMEOUT_S = 120


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
                    help="model: text (default: Choices classifier + Labels tagger over Text), image (contour "
                         "baseline), or an image predictor: onnx, hog-person, haar-face, contours")
    ls.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                    help="a model parameter, repeatable: -p onnx_path=yolov8n.onnx -p conf_threshold=0.3 "
                         "(text: strategy, multilabel_threshold)")
    ls.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; 0.0.0.0 for all)")
    ls.add_argument("--port", type=int, default=9090, help="port (default 9090)")
    ls.add_argument("--workers", type=int, default=1, help="worker processes; the model is loaded once in each")
    ls.add_argument("--server", choices=("auto", "gunicorn", "uvicorn"), default="auto",
                    help="process manager for --workers > 1: gunicorn with uvicorn workers (auto: when "
                         "installed), or uvicorn's own")
    ls.add_argument("--state-dir", type=Path, default=Path(os.environ.get("ACCORD_SERVE_STATE_DIR", "accord-ml-state")),
                    help="folder for per-project models and versions (default ./accord-ml-state)")
    ls.add_argument("--basic-auth", metavar="USER:PASS", default=None,
                    help="require HTTP basic auth on every route but /health (or set ACCORD_SERVE_BASIC_AUTH, "
                         "which keeps the password out of the process list)")
    ls.add_argument("--auth-token", default=None, metavar="TOKEN",
                    help="require 'Authorization: Bearer TOKEN' on every route but /health (or set "
                         "ACCORD_SERVE_TOKEN, which keeps it out of the process list)")
    ls.add_argument("--insecure-no-auth", action="store_true",
                    help="serve clients on other machines without any auth (only on a network you trust); "
                         "without it, a server with no auth answers loopback clients only and refuses to "
                         "start on a non-loopback --host")
    ls.add_argument("--label-studio-url", default=None,
                    help="Label Studio's URL (or LABEL_STUDIO_URL): the only host sent the API key, for task "
                         "files (/data/...) and the export API; /setup's hostname never replaces it")
    ls.add_argument("--allow-local-dir", action="append", default=[], type=Path, metavar="DIR",
                    help="a folder task files may be read from as local paths or file:// URLs, repeatable "
                         "(like Label Studio's LOCAL_FILES_DOCUMENT_ROOT); default: none")
    ls.add_argument("--allow-remote-media", action="store_true",
                    help="fetch task files from http(s) hosts other than Label Studio (never with the key; "
                         "public addresses only unless --allow-private-media)")
    ls.add_argument("--allow-private-media", action="store_true",
                    help="let --allow-remote-media reach loopback, private and link-local addresses")
    ls.add_argument("--max-body-bytes", type=int, default=None, metavar="N",
                    help="largest request body (default 8 MiB; larger answers 413)")
    ls.add_argument("--max-media-bytes", type=int, default=None, metavar="N",
                    help="largest task file read (default 64 MiB)")
    ls.add_argument("--request-timeout-s", type=float, default=None, metavar="S",
                    help="time budget of one /predict (default 90; LS waits 100)")
    ls.add_argument("--train-on-annotation", action="store_true",
                    help="retrain after every annotation webhook, not only when Train is pressed")
    ls.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    ls.set_defaults(func=run_label_studio)


def parse_params(items: list[str]) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; a later key wins.

    Raises:
        AccordError: an item without ``=`` or with an empty key.
    """
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AccordError(f"-p/--param takes KEY=VALUE (e.g. -p onnx_path=model.onnx), got {item!r}")
        out[key.strip()] = value
    return out


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """The ``ACCORD_SERVE_*`` variables that carry ``args`` to the worker processes."""
    if args.workers < 1:
        raise AccordError(f"--workers must be at least 1, got {args.workers}")
    if not 0 < args.port < 65536:
        raise AccordError(f"--port must be in 1..65535, got {args.port}")
    params = parse_params(getattr(args, "param", []) or [])
    for key in ("onnx_path", "labels_path", "cascade"):  # workers may start in another folder
        if key in params and params[key] and Path(params[key]).exists():
            params[key] = str(Path(params[key]).resolve())
    env = {"ACCORD_SERVE_MODEL": args.model, "ACCORD_SERVE_STATE_DIR": str(Path(args.state_dir).resolve()),
           "ACCORD_SERVE_TRAIN_ON_ANNOTATION": "1" if args.train_on_annotation else "0",
           "ACCORD_SERVE_MODEL_PARAMS": json.dumps(params)}
    for flag, name in (("insecure_no_auth", "INSECURE_NO_AUTH"), ("allow_remote_media", "ALLOW_REMOTE_MEDIA"),
                       ("allow_private_media", "ALLOW_PRIVATE_MEDIA")):
        if getattr(args, flag, False):
            env["ACCORD_SERVE_" + name] = "1"
    for flag, name in (("max_body_bytes", "MAX_BODY_BYTES"), ("max_media_bytes", "MAX_MEDIA_BYTES"),
                       ("request_timeout_s", "REQUEST_TIMEOUT_S")):
        v = getattr(args, flag, None)
        if v is not None:
            if not 0 < v < float("inf"):
                raise AccordError(f"--{flag.replace('_', '-')} must be positive and finite, got {v}")
            env["ACCORD_SERVE_" + name] = str(v)
    dirs = []
    for d in getattr(args, "allow_local_dir", []) or []:
        if not Path(d).is_dir():
            raise AccordError(f"--allow-local-dir {str(d)!r} is not a folder; pass an existing folder of task files")
        dirs.append(str(Path(d).resolve()))
    if dirs:
        env["ACCORD_SERVE_ALLOW_LOCAL_DIRS"] = os.pathsep.join(dirs)
    if getattr(args, "auth_token", None) is not None:
        if len(args.auth_token) < 16:
            raise AccordError("--auth-token must be at least 16 characters (e.g. from: python -c "
                              "'import secrets; print(secrets.token_urlsafe())')")
        env["ACCORD_SERVE_TOKEN"] = args.auth_token
    if args.basic_auth is not None:
        user, sep, _ = args.basic_auth.partition(":")
        if not sep or not user:
            raise AccordError("--basic-auth must be USER:PASSWORD (e.g. labelstudio:s3cret)")
        env["ACCORD_SERVE_BASIC_AUTH"] = args.basic_auth
    if args.label_studio_url:
        from accord.ml_backends.label_studio.app import check_label_studio_url

        env["LABEL_STUDIO_URL"] = check_label_studio_url(args.label_studio_url)
    return env


def check_exposure(host: str, env: Mapping[str, str]) -> None:
    """Refuse a non-loopback ``host`` without auth (``env``: the server's variables over ``os.environ``).

    Raises:
        AccordError: no ``--basic-auth``/``--auth-token`` and no ``--insecure-no-auth``.
    """
    from accord.ml_backends.label_studio.app import is_loopback_host

    has_auth = bool(env.get("ACCORD_SERVE_BASIC_AUTH") or env.get("ACCORD_SERVE_TOKEN"))
    insecure = (env.get("ACCORD_SERVE_INSECURE_NO_AUTH") or "").lower() in ("1", "true", "yes", "on")
    if not is_loopback_host(host) and not has_auth and not insecure:
        raise AccordError(f"--host {host} listens beyond this machine but no auth is set: anyone who reaches the "
                          "port could use the server; add --basic-auth USER:PASS (set the same in Label Studio's "
                          "model connection) or --auth-token, or --insecure-no-auth on a network you trust")


def uvicorn_worker_class() -> type[Any]:
    """The gunicorn worker class: ``uvicorn_worker.UvicornWorker`` when installed, else uvicorn's own."""
    if importlib.util.find_spec("uvicorn_worker") is not None:
        from uvicorn_worker import UvicornWorker as Worker
    else:
        with warnings.catch_warnings():  # uvicorn >= 0.30 marks uvicorn.workers deprecated; it still works
            warnings.simplefilter("ignore", DeprecationWarning)
            from uvicorn.workers import UvicornWorker as Worker
    cls: type[Any] = Worker
    return cls


def gunicorn_options(args: argparse.Namespace, control_dir: Path | None = None) -> dict[str, Any]:
    """gunicorn settings for ``args`` (workers build the app after the fork: ``preload_app`` is off).

    ``control_dir``: a private folder for this arbiter's control socket (gunicorn >= 25.1
    puts one per user at ``$XDG_RUNTIME_DIR/gunicorn.ctl`` by default, so two servers of
    one user would fight over it).
    """
    opts = {"bind": f"{args.host}:{args.port}", "workers": args.workers, "worker_class": uvicorn_worker_class(),
            "loglevel": args.log_level, "timeout": _WORKER_TIMEOUT_S, "graceful_timeout": 30,
            "preload_app": False, "proc_name": "accord-ml-backend", "accesslog": None, "errorlog": "-"}
    if control_dir is not None:
        opts["control_socket"] = str(control_dir / "gunicorn.ctl")
    return opts


def run_gunicorn(options: Mapping[str, Any]) -> None:
    """Run gunicorn's arbiter in this process; each worker calls ``app_from_env()`` once when it starts."""
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # control_socket: gunicorn >= 25.1 only
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from accord.ml_backends.label_studio.app import app_from_env

            return app_from_env()

    _App().run()


def run_label_studio(args: argparse.Namespace) -> int:
    """Validate the settings, build the app once here (fail fast), then hand over to the server."""
    require("fastapi", "serve", purpose="accord serve")
    uvicorn = require("uvicorn", "serve", purpose="accord serve")
    env = server_env(args)
    check_exposure(args.host, {**os.environ, **env})
    use_gunicorn = args.workers > 1 and args.server != "uvicorn"
    if use_gunicorn and args.server == "gunicorn":
        require("gunicorn", "serve", purpose="accord serve --server gunicorn")
    use_gunicorn = use_gunicorn and importlib.util.find_spec("gunicorn") is not None
    from accord.ml_backends.label_studio.app import create_app, settings_from_env

    app = create_app(settings_from_env({**os.environ, **env}))  # bad settings fail here, not in every worker
    Path(env["ACCORD_SERVE_STATE_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)  # worker processes read their settings from here
    if args.workers == 1:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
        return 0
    del app  # the workers build their own; do not fork a loaded model
    gc.collect()
    if use_gunicorn:
        control_dir = Path(tempfile.mkdtemp(prefix="accord-gunicorn-"))  # short: a socket path has <= 107 bytes
        try:
            run_gunicorn(gunicorn_options(args, control_dir))
        finally:
            shutil.rmtree(control_dir, ignore_errors=True)
    else:
        uvicorn.run(_APP, factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level=args.log_level)
    return 0
