"""Write output files atomically, and only over what may be replaced.

Every file the ``accord`` command writes (report JSON and HTML, ``convert`` output, check
and diff JSON) goes through :func:`write_atomic`. What it does with each kind of path:

* **nothing there / a regular file**: the content goes to a temporary file in the same
  folder (``.<name>.<random>.tmp``), is flushed to disk, and is renamed over the path
  (``os.replace``), so a reader sees the old file or the whole new one, never half. A new
  file gets mode ``0666 & ~umask`` (as ``open(path, "w")`` would); an existing file keeps
  its mode (a 0644 report stays 0644), though not its owner (the writer owns the new file).
* **a symbolic link**: followed (to its final target, as ``cat > link`` would); the
  *target* is replaced atomically as above and the link stays a link. A dangling link
  creates its target.
* **a character device** (``/dev/null``, ``/dev/full``, a terminal): written into directly,
  as ``cat > /dev/full`` would, never replaced by a regular file; a device that refuses the
  bytes (``/dev/full``: "No space left on device") gives an :class:`OSError`, which the
  CLI prints as one line.
* **a directory, a FIFO, a socket or a block device**: refused with
  :class:`OutputPathError` (one line saying what the path is and what to pass instead).
  A FIFO is refused because opening it blocks until a reader comes.

While a temporary file exists, SIGTERM, SIGINT and SIGHUP remove it before the signal
takes its usual effect (the handlers are installed for the duration of the write, from
the main thread only); any exception removes it too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from accord.core.errors import AccordError

__all__ = ["OutputPathError", "live_temp_files", "write_atomic", "write_bytes_atomic", "write_text_atomic"]

_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, n))
# Temporary files being written, removed by the signal handler. No lock: the handler runs in
# the main thread between bytecodes, and a lock held there would deadlock it; set.add,
# set.discard and list(set) are each atomic under the GIL.
_live: set[str] = set()


class OutputPathError(AccordError, ValueError):  # type: ignore[misc]  # accord.core is Any to mypy in cli/
    """An output path names something a file must not replace (a directory, FIFO, socket, block device)."""


def live_temp_files() -> frozenset[str]:
    """The temporary files being written right now (for tests and diagnostics)."""
    return frozenset(list(_live))


def _cleanup_live() -> None:
    for name in list(_live):
        _live.discard(name)
        with contextlib.suppress(OSError):
            os.unlink(name)


@contextlib.contextmanager
def _cleanup_on_signals() -> Iterator[None]:
    """For the block: SIGTERM/SIGINT/SIGHUP first remove the live temp files, then act as before."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread; exceptions still clean up
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        before = previous.get(signum, signal.SIG_DFL)
        if before == signal.SIG_IGN:
            return
        _cleanup_live()
        if callable(before):
            before(signum, frame)  # e.g. Python's SIGINT handler: raises KeyboardInterrupt
            return
        signal.signal(signum, signal.SIG_DFL)  # the default action (terminate), with the right status
        os.kill(os.getpid(), signum)

    for s in _SIGNALS:
        previous[s] = signal.signal(s, handler)
    try:
        yield
    finally:
        for s, before in previous.items():
            signal.signal(s, before if before is not None else signal.SIG_DFL)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _as_bytes(chunks: Iterable[bytes | str]) -> Iterator[bytes]:
    for c in chunks:
        yield c.encode("utf-8") if isinstance(c, str) else c


def write_atomic(path: Path | str, chunks: Iterable[bytes | str]) -> Path:
    """Write the concatenated ``chunks`` (``str`` as UTF-8) to ``path``; see the module notes.

    Chunks are written as they come, so a long generator never holds the whole file.

    Returns:
        The path actually written: ``path`` itself, or the final target of a symlink.

    Raises:
        OutputPathError: ``path`` is a directory, FIFO, socket or block device.
        OSError: the folder cannot be written, the disk or device is full, and the like.
    """
    path = Path(path)
    try:
        st: os.stat_result | None = os.stat(path)  # follows symlinks
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISCHR(st.st_mode):
        with open(path, "wb") as f:  # a device: write into it, never replace it
            for c in _as_bytes(chunks):
                f.write(c)
        return path
    if st is not None and not stat.S_ISREG(st.st_mode):
        why = " (opening one blocks until a reader comes)" if stat.S_ISFIFO(st.st_mode) else ""
        raise OutputPathError(f"output {str(path)!r} is {_kind(st.st_mode)}{why}, not a file; pass the path of a "
                              "file to write (a new name, or an existing regular file to replace)")
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    keep_mode = stat.S_IMODE(st.st_mode) if st is not None else None
    with _cleanup_on_signals():
        # A new file: created 0666 and the kernel applies the umask (no process-wide umask read).
        # An existing one: created private, given the old file's mode before the rename.
        tmp, fd = _create_temp(target, 0o666 if keep_mode is None else 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                for c in _as_bytes(chunks):
                    f.write(c)
                f.flush()
                if keep_mode is not None:
                    os.fchmod(f.fileno(), keep_mode)
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        finally:
            _live.discard(tmp)
    _fsync_dir(target.parent)
    return target


def _create_temp(target: Path, mode: int) -> tuple[str, int]:
    """A new temp file beside ``target``, registered as live before any byte is written."""
    for _ in range(100):
        name = str(target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp")
        _live.add(name)  # registered before it exists: a signal right after the open still removes it
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
        except FileExistsError:
            _live.discard(name)
            continue
        except BaseException:
            _live.discard(name)
            raise
        return name, fd
    raise FileExistsError(f"could not create a temporary file beside {target}")  # pragma: no cover


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: some file systems refuse to sync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` (see :func:`write_atomic`)."""
    return write_atomic(path, [data])


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` so readers see the old file or the whole new one, never half.

    See :func:`write_atomic` for symlinks (followed), devices (written into), directories and
    FIFOs (refused), modes (umask for new files, kept for existing ones) and signals.
    """
    return write_atomic(path, [text])
