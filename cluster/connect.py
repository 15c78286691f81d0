"""Connect to a Dask cluster from a ``--dask`` spec: start a local one or join a running scheduler.

Specs:

* ``local`` / ``local:N``: a :class:`distributed.LocalCluster` of ``N`` worker *processes* (one
  thread each; ``local`` alone: one per CPU), closed when the ``with`` block ends. Its
  dashboard runs on a free port when bokeh is installed.
* ``tcp://HOST:PORT`` (or ``tls://``): the scheduler of a running cluster (``dask scheduler``);
  the cluster is left running.

Dask is imported only when a spec is used: without the ``dask`` extra the error says
``pip install 'accord[dask]'``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Literal

from accord.core.errors import ConfigError, MissingExtraError

logger = logging.getLogger(__name__)

__all__ = ["ENV_ADDRESS", "ClusterSpec", "connect", "parse_spec"]

#: The environment variable Dask itself reads for a scheduler address.
ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"
#: Most worker processes a ``local:N`` spec starts.
MAX_LOCAL_WORKERS = 256
_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
_HOW = "expected local, local:N (N worker processes) or tcp://HOST:PORT (a running scheduler)"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSpec:
    """A parsed ``--dask`` spec: a local cluster of ``n_workers`` or a scheduler ``address``."""

    kind: Literal["local", "remote"]
    n_workers: int = 0
    address: str = ""


def parse_spec(spec: str | None, *, env: dict[str, str] | None = None) -> ClusterSpec:
    """Parse a ``--dask`` spec; ``None`` or ``""`` reads :data:`ENV_ADDRESS`.

    Raises:
        ConfigError: a spec that is none of the forms above (the message lists them).
    """
    text = (spec or "").strip()
    if not text:
        text = (env if env is not None else os.environ).get(ENV_ADDRESS, "").strip()
        if not text:
            raise ConfigError(f"--dask without a spec needs {ENV_ADDRESS} set; {_HOW}, e.g. --dask local:2")
    if text == "local":
        return ClusterSpec(kind="local", n_workers=max(1, os.cpu_count() or 1))
    if text.startswith("local:"):
        n = text[6:]
        if not n.isdigit() or not 1 <= int(n) <= MAX_LOCAL_WORKERS:
            raise ConfigError(f"--dask {text!r}: N in local:N must be a whole number from 1 to "
                              f"{MAX_LOCAL_WORKERS}; e.g. --dask local:2")
        return ClusterSpec(kind="local", n_workers=int(n))
    m = _ADDRESS.match(text)
    if m is None or not 0 < int(m.group(3)) < 65536:
        raise ConfigError(f"--dask {text!r}: {_HOW}, e.g. --dask local:2 or --dask tcp://10.0.0.5:8786")
    return ClusterSpec(kind="remote", address=text)


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:
        raise MissingExtraError("--dask needs dask and distributed, which are not installed; install them with: "
                                "pip install 'accord[dask]'") from e
    return distributed


@contextmanager
def connect(spec: str | ClusterSpec | None, *, timeout_s: float = 10.0,
            out: IO[str] | None = None) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``spec`` (see the module docstring), inside a ``with``.

    Prints the dashboard link (when there is one) to ``out`` (stderr by default). A local
    cluster is closed on leaving the block; a remote one is left running.

    Raises:
        ConfigError: a bad spec, or a scheduler that does not answer within ``timeout_s``.
        MissingExtraError: dask / distributed are not installed.
    """
    parsed = spec if isinstance(spec, ClusterSpec) else parse_spec(spec)
    distributed = _require_distributed()
    stream = out if out is not None else sys.stderr
    with _quiet_dask():
        yield from _connected(distributed, parsed, timeout_s, stream)


#: Loggers of Dask's own machinery: its INFO lines (every worker, client and comm opened or
#: closed, the "Batched Comm Closed" tracebacks of a normal shutdown) are for ``-v`` only.
_DASK_LOGGERS = ("distributed", "tornado", "bokeh")


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's loggers at WARNING (unless the root logger is at DEBUG, ``accord -v``), restored on leaving."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    saved = {name: logging.getLogger(name).level for name in _DASK_LOGGERS}
    for name in _DASK_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, saved[name]))
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _connected(distributed: Any, parsed: ClusterSpec, timeout_s: float, stream: IO[str]) -> Iterator[Any]:
    cluster = None
    dashboard = None
    if parsed.kind == "local":
        dashboard = ":0" if importlib.util.find_spec("bokeh") is not None else None
        try:
            cluster = distributed.LocalCluster(n_workers=parsed.n_workers, threads_per_worker=1, processes=True,
                                               dashboard_address=dashboard)
        except (OSError, RuntimeError, TimeoutError) as e:
            raise ConfigError(f"could not start a local Dask cluster of {parsed.n_workers} worker processes: "
                              f"{' '.join(str(e).split())[:200]}; try fewer workers (--dask local:1)") from e
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(parsed.address, timeout=timeout_s)
        except (OSError, TimeoutError) as e:
            raise ConfigError(f"cannot reach the Dask scheduler at {parsed.address} within {timeout_s:g} s "
                              f"({type(e).__name__}); check the address, or start one with 'dask scheduler' "
                              "(or use --dask local:N)") from e
    try:
        # Without bokeh a local scheduler still lists an HTTP "dashboard" service, with no dashboard on it.
        link = _dashboard_link(client) if cluster is None or dashboard else None
        where = f"local cluster of {parsed.n_workers} workers" if cluster is not None else parsed.address
        stream.write(f"accord: Dask {where}" + (f", dashboard {link}\n" if link else " (no dashboard: "
                                                 "pip install bokeh for one)\n"))
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dashboard_link(client: Any) -> str | None:
    try:
        services = (client.scheduler_info() or {}).get("services") or {}
        return str(client.dashboard_link) if "dashboard" in services else None
    except (KeyError, AttributeError, OSError):
        return None
