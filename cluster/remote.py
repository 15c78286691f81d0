"""Inputs named by a URL (``s3://bucket/shards/*.json``, ``https://host/export.json``): read through fsspec.

``accord report --dask`` takes remote exports where the user has the filesystem installed
(``s3fs`` for ``s3://``, ``gcsfs`` for ``gs://``, ``aiohttp`` for ``http(s)://``, ...): fsspec
comes with dask. Credentials are the filesystem's own (the environment, its config files on
each machine): accord passes none and logs none.

What reads what:

* the client expands a pattern (``fs.glob``), reads Parquet footers and scans a big Label
  Studio export for its task boundaries (a streamed pass over the file, a few MiB at a time),
  and reads the labeling config beside an export (``<stem>.label_config.xml`` or
  ``label_config.xml``) once, so workers get its XML;
* a worker reads its own partition: the byte range of its tasks (one ranged read), its row
  groups (pyarrow over the fsspec file), or a whole smaller file, copied into a private
  temporary folder under its file name and read by the same loader as a local file; messages
  name the URL, never the temporary copy.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from accord.core.errors import ConversionError

__all__ = ["expand_url", "is_url", "local_copy", "open_url", "read_range", "sibling_config", "size_of"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_GLOB_CHARS = frozenset("*?[")


def is_url(text: str | Path) -> bool:
    """Whether an input names a file by URL (``scheme://...``) rather than by a local path."""
    return isinstance(text, str) and bool(_URL.match(text))


def _fs(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise ConversionError(f"{url}: reading a URL needs fsspec; pip install 'accord[dask]'",
                              field="paths") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        scheme = url.split("://", 1)[0]
        hint = " ".join(str(e).split())[:160]
        raise ConversionError(f"{url}: no filesystem for {scheme}:// here ({hint}); install the package "
                              "fsspec names for it, or copy the file to a local path", field="paths") from None
    return fs, path


def _oserror(url: str, e: Exception) -> ConversionError:
    text = " ".join(str(e).split())[:160] or type(e).__name__
    return ConversionError(f"{url}: cannot read it ({text}); check the URL and that this machine can reach it",
                           field="paths")


def expand_url(url: str) -> list[str]:
    """The URL itself, or, for a pattern, every file it matches (sorted), as full URLs.

    Raises:
        ConversionError: a pattern that matches nothing, or a URL that cannot be read.
    """
    fs, path = _fs(url)
    if not (_GLOB_CHARS & set(path)):
        return [url]
    try:
        found = sorted(p for p in fs.glob(path) if fs.isfile(p))
    except (OSError, ValueError) as e:
        raise _oserror(url, e) from None
    if not found:
        raise ConversionError(f"no file matches {url!r}; check the pattern", field="paths")
    return [fs.unstrip_protocol(p) for p in found]


@contextlib.contextmanager
def open_url(url: str) -> Iterator[IO[bytes]]:
    """The file at ``url``, opened for binary reading (seekable)."""
    fs, path = _fs(url)
    try:
        f = fs.open(path, "rb")
    except (OSError, ValueError) as e:
        raise _oserror(url, e) from None
    with f:
        yield f


def size_of(url: str) -> int:
    fs, path = _fs(url)
    try:
        return int(fs.size(path))
    except (OSError, ValueError, TypeError) as e:
        raise _oserror(url, e) from None


def read_range(url: str, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of the file, in one ranged read."""
    fs, path = _fs(url)
    try:
        data: bytes = fs.cat_file(path, start=start, end=end)
    except (OSError, ValueError) as e:
        raise _oserror(url, e) from None
    if len(data) != end - start:
        raise ConversionError(f"{url}: read {len(data)} bytes of the {end - start} asked for; the file changed "
                              "while the report ran: run it again", field="file")
    return data


def sibling_config(url: str) -> str | None:
    """The labeling config XML beside an export (as :func:`accord.io` looks beside a local one), or None."""
    fs, path = _fs(url)
    folder, _, name = path.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    for cand in (f"{folder}/{stem}.label_config.xml", f"{folder}/label_config.xml"):
        try:
            if fs.isfile(cand):
                text: str = fs.cat_file(cand).decode("utf-8")
                return text
        except (OSError, ValueError, UnicodeDecodeError):
            continue
    return None


@contextlib.contextmanager
def local_copy(url: str) -> Iterator[Path]:
    """A private local copy of the file, under its own name (the loaders tell formats by it);
    removed afterwards."""
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "input"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120].lstrip(".") or "input"
    folder = Path(tempfile.mkdtemp(prefix="accord-remote-"))
    try:
        target = folder / name
        with open_url(url) as src, target.open("wb") as dst:
            try:
                shutil.copyfileobj(src, dst, 1 << 22)
            except (OSError, ValueError) as e:
                raise _oserror(url, e) from None
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)
