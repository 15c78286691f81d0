"""Per-project model state on disk, safe under concurrent webhooks and several workers.

Layout under ``state_dir``::

    <project id>/state.json            current model_version and the version history
    <project id>/annotations/<task>.json   the latest annotation of each task (from webhooks)
    <project id>/models/<version>.npz  the fitted model of each version (arrays + a JSON header)
    <project id>/connection.json       Label Studio URL + access token from /setup (mode 0600)
    <project id>/.lock                 an fcntl lock serialising writers across processes

Every file is written to a temporary file in the same folder, fsync'ed and
renamed over the old one, so a reader sees the old or the new file, never half.
Read-modify-write of ``state.json`` and training hold the project's lock: a
thread lock inside the worker and ``flock`` across workers (gunicorn).

Nothing here can run code from a file: models are saved as numpy ``.npz`` archives
read with ``allow_pickle=False`` (numeric and string arrays plus a JSON header, see
:class:`SavedModel`); ``.pkl`` files written by older versions are never opened (train
again). Project, task and version ids must match strict patterns, and every path is
resolved and checked to stay inside ``state_dir`` (a symlink pointing out is refused).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from accord.core.errors import AccordError

try:  # POSIX only; elsewhere the thread lock alone serialises writers of one process.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Label Studio project ids are integers; ``"3"`` from ``"3.1795803744"``.
PROJECT_ID = re.compile(r"^[0-9]{1,12}$")
#: Task ids: integers too (a few tools send them as strings).
TASK_ID = re.compile(r"^[0-9]{1,18}$")
#: Model versions: ``<backend name>-v<n>``; no dots, no slashes.
VERSION = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
#: JSON header of a saved model, inside the ``.npz``.
_META_KEY = "__meta__"
#: The biggest state file (JSON or model) this server reads back.
MAX_STATE_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedModel:
    """A fitted model as data that cannot execute code when read back.

    Attributes:
        meta: JSON-serialisable header (parameters, labels, vocabularies).
        arrays: Named numpy arrays of numbers or strings (never ``object`` dtype).
    """

    meta: Mapping[str, Any] = field(default_factory=dict)
    arrays: Mapping[str, Any] = field(default_factory=dict)


def _inside(root: Path, path: Path) -> Path:
    """``path`` resolved, or AccordError when it leaves ``root`` (resolved too)."""
    r = root.resolve()
    p = path.resolve()
    if p != r and r not in p.parents:
        raise AccordError("a state path leaves the state folder (a symlink or a bad id); "
                          "remove stray links from --state-dir")
    return p


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
    """The parsed JSON file at ``path`` (a regular file, not followed if a link), or ``default`` if absent."""
    try:
        raw = _read_regular(path)
    except FileNotFoundError:
        return default
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return default


def _read_regular(path: Path, max_bytes: int = MAX_STATE_FILE_BYTES) -> bytes:
    """The bytes of a regular file (no FIFO, device or final symlink), at most ``max_bytes``."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise FileNotFoundError(str(path)) from e
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            raise FileNotFoundError(str(path))
        return f.read(max_bytes + 1)[:max_bytes]


def _dump_npz(model: SavedModel) -> bytes:
    arrays: dict[str, Any] = {}
    for k, v in model.arrays.items():
        a = np.asarray(v)
        if a.dtype.hasobject or k == _META_KEY:
            raise AccordError(f"saved model array {k!r} has dtype {a.dtype} (or a reserved name); "
                              "use numbers or strings")
        arrays[str(k)] = a
    arrays[_META_KEY] = np.frombuffer(json.dumps(dict(model.meta)).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return buf.getvalue()


def _load_npz(path: Path) -> SavedModel:
    raw = _read_regular(path)
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop(_META_KEY).tobytes().decode())
    if not isinstance(meta, dict):
        raise ValueError("the model header is not a JSON object")
    return SavedModel(meta=meta, arrays=arrays)


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
        if not PROJECT_ID.match(pid):
            raise AccordError(f"project id {pid[:40]!r} is not a Label Studio project id; expected 1-12 digits "
                              "(e.g. '3' from '3.1795803744')")
        self.project_id = pid
        self.state_dir = Path(state_dir)
        self.root = self.state_dir / pid
        _inside(self.state_dir, self.root)

    def _path(self, *parts: str) -> Path:
        """A path under the project's folder, resolved and checked to stay inside ``state_dir``."""
        _inside(self.state_dir, self.root)
        return _inside(self.root, self.root.joinpath(*parts))

    @contextlib.contextmanager
    def lock(self, name: str = STATE_LOCK) -> Iterator[None]:
        """Hold one of the project's locks (a thread lock + ``flock`` across processes).

        Never take the same name twice in one thread: ``flock`` on a second file
        description of the same file would wait for the first.
        """
        if name not in (self.STATE_LOCK, self.TRAIN_LOCK):
            raise AccordError(f"unknown lock {name!r}")
        key = f"{self._path()}/{name}"
        with self._guard:
            tlock = self._thread_locks.setdefault(key, threading.RLock())
        with tlock:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self._path(name), "a+b") as fh:
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
        data = _read_json(self._path("state.json"), {})
        return data if isinstance(data, dict) else {}

    def model_version(self) -> str | None:
        """The current model version, or None before the first training."""
        v = self.read().get("model_version")
        return str(v) if v else None

    def versions(self) -> list[VersionInfo]:
        """All versions, oldest first."""
        out = []
        for v in self.read().get("versions", []):
            try:
                out.append(VersionInfo(model_version=str(v["model_version"]), trained_at=float(v["trained_at"]),
                                       n_examples=int(v["n_examples"])))
            except (KeyError, TypeError, ValueError):
                continue  # a damaged entry: skip it
        return out

    def commit_version(self, prefix: str, model: SavedModel, *, n_examples: int) -> str:
        """Save ``model`` as a new version named ``<prefix>-v<n>`` and make it current; returns the name.

        The model file is written before ``state.json`` points at it, so a reader never
        sees a version whose model file is missing.

        Raises:
            AccordError: ``model`` is not a :class:`SavedModel`, or holds ``object`` arrays.
        """
        if not isinstance(model, SavedModel):
            raise AccordError(f"commit_version takes a SavedModel (the backend's dump()), got {type(model).__name__}")
        with self.lock():
            state = self.read()
            n = int(state.get("counter", 0)) + 1
            version = f"{prefix}-v{n}"
            if not VERSION.match(version):
                raise AccordError(f"model version {version[:80]!r} is not a plain name (letters, digits, - and _)")
            _write_atomic(self._path("models", f"{version}.npz"), _dump_npz(model))
            history = list(state.get("versions", []))
            history.append({"model_version": version, "trained_at": time.time(), "n_examples": n_examples})
            state.update(counter=n, model_version=version, versions=history)
            _write_atomic(self._path("state.json"), json.dumps(state, indent=1).encode())
            return version

    def load_model(self, version: str) -> SavedModel:
        """The model saved for ``version`` (read with ``allow_pickle=False``; never a ``.pkl``).

        Raises:
            AccordError: bad version name, or no readable ``.npz`` for it (e.g. a model
            pickled by an older accord, which is never loaded: train again).
        """
        if not isinstance(version, str) or not VERSION.match(version):
            raise AccordError(f"model version {str(version)[:80]!r} is not a plain name")
        path = self._path("models", f"{version}.npz")
        try:
            return _load_npz(path)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            raise AccordError(f"the model of version {version!r} is missing or unreadable (models saved by "
                              "earlier accord releases as .pkl pickles are never loaded); train again (press Train in "
                              "Label Studio)") from e

    # -- annotations ------------------------------------------------------------------------
    def put_annotation(self, task_id: int | str, record: dict[str, Any]) -> None:
        """Store the latest annotation of a task (atomic; last writer wins)."""
        tid = str(task_id)
        if not TASK_ID.match(tid):
            raise AccordError(f"task id {tid[:40]!r} is not a Label Studio task id; expected digits")
        _write_atomic(self._path("annotations", f"{tid}.json"), json.dumps(record).encode())

    def delete_annotation(self, task_id: int | str) -> None:
        """Forget a task's annotation (no error if absent)."""
        tid = str(task_id)
        if TASK_ID.match(tid):
            self._path("annotations", f"{tid}.json").unlink(missing_ok=True)

    def annotations(self) -> dict[str, dict[str, Any]]:
        """Task id -> stored annotation record, for every task seen."""
        out: dict[str, dict[str, Any]] = {}
        folder = self._path("annotations")
        if not folder.is_dir():
            return out
        for p in sorted(folder.glob("*.json")):
            if not TASK_ID.match(p.stem):
                continue
            try:
                rec = _read_json(_inside(folder, p), None)
            except (AccordError, OSError, ValueError):
                continue  # a stray file or link: skip it
            if isinstance(rec, dict):
                out[p.stem] = rec
        return out

    # -- connection -------------------------------------------------------------------------
    def save_connection(self, hostname: str | None, access_token: str | None) -> None:
        """Remember where Label Studio is and its token (mode 0600), if they changed."""
        new = {"hostname": hostname, "access_token": access_token}
        path = self._path("connection.json")
        if _read_json(path, None) != new:
            _write_atomic(path, json.dumps(new).encode(), mode=0o600)

    def connection(self) -> tuple[str | None, str | None]:
        """``(hostname, access_token)`` saved by the last /setup, or ``(None, None)``."""
        d = _read_json(self._path("connection.json"), {})
        if not isinstance(d, dict):
            return None, None
        host, token = d.get("hostname"), d.get("access_token")
        return (host if isinstance(host, str) else None), (token if isinstance(token, str) else None)


def all_versions(state_dir: Path | str) -> list[str]:
    """Every model version of every project under ``state_dir``, oldest first per project."""
    root = Path(state_dir)
    out: list[str] = []
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if PROJECT_ID.match(p.name) and p.is_dir():
                out.extend(v.model_version for v in ProjectState(root, p.name).versions())
    return out
