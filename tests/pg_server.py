"""A throwaway PostgreSQL cluster for the ledger's integration tests.

``initdb`` a cluster in a temporary folder and start it on a free 127.0.0.1 port, as the
unprivileged ``postgres`` user when the tests run as root (PostgreSQL refuses root), and stop
it afterwards. Debian's ``postgresql`` package provides the binaries (``.ci/run`` installs it).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pg_bindir() -> Path | None:
    """The folder of ``initdb`` / ``pg_ctl`` (Debian keeps them off PATH), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(cands[-1]).parent if cands else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_pg_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{c}'" for c in cmd)]


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yield the URL of a fresh cluster's ``postgres`` database (user ``accord``, trust auth)."""
    bindir = pg_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) not found; apt-get install postgresql")
    tmp = Path(tempfile.mkdtemp(prefix="accord-pg-"))
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
    data, port = tmp / "data", free_port()
    subprocess.run(_as_pg_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "accord", "-E",
                                "UTF8"]), check=True, capture_output=True, timeout=120)
    opts = f"-p {port} -k {tmp} -h 127.0.0.1 -c fsync=off"
    subprocess.run(_as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(tmp / "log"), "-w",
                                "start"]), check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://accord@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


def new_database(server_url: str) -> str:
    """Create an empty database on the cluster; its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name
