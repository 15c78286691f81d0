"""Per-project model state on disk, safe under concurrent webhooks and several workers.

Layout under ``state_dir``::

    <project id>/state.json            current model_version and the version history
    <project id>/annotations/<task>.json   the latest annotation of each task (from webhooks)
    <project id>/models/<version>.pkl  the fitted model of each version
    <project id>/connection.json       Label Studio URL + access token from /setup (mode 0600)
    <project id>/.lock                 an fcntl lock serialising writers across processes

Every file is written to a temporary file in the same folder, fsync'ed and
renamed over the old one, so a reader sees the old or the new file, never half.
Read-modify-write of ``state.json`` and training hold the project's lock: a
thread lock inside the worker and ``flock`` across workers (gunicorn).

The model pickles are written by this server and read back only by it; do not
point ``state_dir`` at files from an untrusted source.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from accord.core.errors import AccordError

try:  # POSIX only; elsewhere the thread lock alone serialises writers of one process.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionInfo:
    """One trained model version of a project."""

    model_version: str
    trained_at: float
    n_examples: int


class ProjectState:
    """The on-disk state of one Label Studio project (see the module docstring)."""

    _thread_locks: ClassVar[dict[str, threading.RLock]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()
    #: lock file names: one for state writes, one held for a whole training run.
    STATE_LOCK, TRAIN_LOCK = ".lock", ".train.lock"

    def __init__(self, state_dir: Path | str, project_id: str | int) -> None:
        pid = str(project_id)
        if not _SAFE.match(pid):
            raise AccordError(f"project id {pid!r} is not a plain id; expected digits as Label Studio sends "
                              "(e.g. '3' from '3.1795803744')")
        self.project_id = pid
        self.root = Path(state_dir) / pid

    @contextlib.contextmanager
    def lock(self, name: str = STATE_LOCK) -> Iterator[None]:
        """Hold one of the project's locks (a thread lock + ``flock`` across processes).

        Never take the same name twice in one thread: ``flock`` on a second file
        description of the same file would wait for the first.
        """
        key = f"{self.root.resolve()}/{name}"
        with self._guard:
            tlock = self._thread_locks.setdefault(key, threading.RLock())
        with tlock:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / name, "a+b") as fh:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    if fcntl is not None:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # -- versions ---------------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        """The parsed ``state.json`` (``{}`` before the first training)."""
        data = _read_json(self.root / "state.json", {})
        return data if isinstance(data, dict) else {}

    def model_version(self) -> str | None:
        """The current model version, or None before the first training."""
        v = self.read().get("model_version")
        return str(v) if v else None

    def versions(self) -> list[VersionInfo]:
        """All versions, oldest first."""
        return [VersionInfo(model_version=str(v["model_version"]), trained_at=float(v["trained_at"]),
                            n_examples=int(v["n_examples"])) for v in self.read().get("versions", [])]

    def commit_version(self, prefix: str, model: Any, *, n_examples: int) -> str:
        """Save ``model`` as a new version named ``<prefix>-v<n>`` and make it current; returns the name.

        The pickle is written before ``state.json`` points at it, so a reader never
        sees a version whose model file is missing.
        """
        with self.lock():
            state = self.read()
            n = int(state.get("counter", 0)) + 1
            version = f"{prefix}-v{n}"
            _write_atomic(self.root / "models" / f"{version}.pkl", pickle.dumps(model, protocol=5))
            history = list(state.get("versions", []))
            history.append({"model_version": version, "trained_at": time.time(), "n_examples": n_examples})
            state.update(counter=n, model_version=version, versions=history)
            _write_atomic(self.root / "state.json", json.dumps(state, indent=1).encode())
            return version

    def load_model(self, version: str) -> Any:
        """Unpickle the model saved for ``version``."""
        if not _SAFE.match(version):
            raise AccordError(f"model version {version!r} is not a plain name")
        path = self.root / "models" / f"{version}.pkl"
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except FileNotFoundError as e:
            raise AccordError(f"model file {path} for version {version!r} is missing; "
                              "train again (press Train in Label Studio)") from e

    # -- annotations ------------------------------------------------------------------------
    def put_annotation(self, task_id: int | str, record: dict[str, Any]) -> None:
        """Store the latest annotation of a task (atomic; last writer wins)."""
        tid = str(task_id)
        if not _SAFE.match(tid):
            raise AccordError(f"task id {tid!r} is not a plain id")
        _write_atomic(self.root / "annotations" / f"{tid}.json", json.dumps(record).encode())

    def delete_annotation(self, task_id: int | str) -> None:
        """Forget a task's annotation (no error if absent)."""
        tid = str(task_id)
        if _SAFE.match(tid):
            (self.root / "annotations" / f"{tid}.json").unlink(missing_ok=True)

    def annotations(self) -> dict[str, dict[str, Any]]:
        """Task id -> stored annotation record, for every task seen."""
        out: dict[str, dict[str, Any]] = {}
        folder = self.root / "annotations"
        if not folder.is_dir():
            return out
        for p in sorted(folder.glob("*.json")):
            try:
                out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
            except (FileNotFoundError, json.JSONDecodeError):
                continue  # deleted meanwhile, or a stray file: skip it
        return out

    # -- connection -------------------------------------------------------------------------
    def save_connection(self, hostname: str | None, access_token: str | None) -> None:
        """Remember where Label Studio is and its token (mode 0600), if they changed."""
        new = {"hostname": hostname, "access_token": access_token}
        if _read_json(self.root / "connection.json", None) != new:
            _write_atomic(self.root / "connection.json", json.dumps(new).encode(), mode=0o600)

    def connection(self) -> tuple[str | None, str | None]:
        """``(hostname, access_token)`` saved by the last /setup, or ``(None, None)``."""
        d = _read_json(self.root / "connection.json", {})
        return d.get("hostname"), d.get("access_token")


def all_versions(state_dir: Path | str) -> list[str]:
    """Every model version of every project under ``state_dir``, oldest first per project."""
    root = Path(state_dir)
    out: list[str] = []
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.is_dir() and _SAFE.match(p.name):
                out.extend(v.model_version for v in ProjectState(root, p.name).versions())
    return out
