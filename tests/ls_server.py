"""Start and stop a real Label Studio server for the integration tests.

The server runs from its own virtual environment (``scripts/install_label_studio.sh``
makes one; ``ACCORD_LS_BIN`` is looked at first) on a free
localhost port, with SQLite in a temporary data directory. The first start migrates a
template data directory (about 30 s) that later starts copy (3-4 s).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "accord-test-pw-123"
ADMIN_TOKEN = "accordlivetoken0123456789"

_CANDIDATES = (
    os.environ.get("ACCORD_LS_BIN", ""),
    "/opt/accord-ls-venv/bin/label-studio",
    str(Path.home() / ".cache/accord/ls-venv/bin/label-studio"),
)


def find_label_studio() -> str | None:
    """The ``label-studio`` executable of a separate venv, or None."""
    for c in _CANDIDATES:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "DJANGO_DB": "sqlite",
        "LABEL_STUDIO_USERNAME": ADMIN_EMAIL, "LABEL_STUDIO_PASSWORD": ADMIN_PASSWORD,
        "LABEL_STUDIO_USER_TOKEN": ADMIN_TOKEN, "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false", "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
    })
    env.pop("VIRTUAL_ENV", None)
    return env


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"label-studio exited with {proc.returncode}; log tail:\n"
                               + log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"label-studio did not answer /health at {url} within {timeout_s:.0f} s")


def start(binary: str, data_dir: Path, *, timeout_s: float = 180) -> Server:
    """Start Label Studio on a free port with ``data_dir`` and wait for /health."""
    port = free_port()
    log = data_dir.parent / f"{data_dir.name}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [binary, "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)],
            env=_env(data_dir), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    server = Server(url=url, token=ADMIN_TOKEN, process=proc, data_dir=data_dir, log_path=log)
    try:
        _wait_healthy(url, proc, timeout_s, log)
    except BaseException:
        server.stop()
        raise
    return server


def template_dir() -> Path:
    return Path(os.environ.get("ACCORD_LS_TEMPLATE", Path.home() / ".cache/accord/ls-template-1.23"))


def start_from_template(binary: str, workdir: Path) -> Server:
    """Copy (making it first if needed) a migrated data dir into ``workdir`` and start on it."""
    tmpl = template_dir()
    if not (tmpl / "label_studio.sqlite3").is_file():
        building = tmpl.with_name(tmpl.name + f".building-{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        s = start(binary, building)
        s.stop()
        shutil.rmtree(tmpl, ignore_errors=True)
        building.rename(tmpl)
    data = workdir / "ls-data"
    shutil.copytree(tmpl, data)
    return start(binary, data, timeout_s=120)
