"""The append-only JSON Lines log of conflict resolutions (``accord resolve --log``).

Each line is one JSON object that carries a checksum and the length of its payload::

    {"crc32":"1c291ca3","len":183,"resolution":{...canonical JSON of Resolution.to_dict()...}}

so a line cut short by a crash mid-append is recognised exactly: its header is a prefix of
the header's shape, or it is shorter than the length it declares. A line of the same
shape whose checksum does not match, or a line that is neither a resolution nor a cut
one, is an error (the log was edited or damaged). Lines written before checksums (plain
``Resolution.to_dict()`` objects) are still read; for them a cut is recognised from where
the JSON ends early.

Appending never rewrites a byte: it locks the file (``flock``), starts a fresh line when
the file does not end with a newline (a torn tail stays where it is, reported as torn),
writes the line with one ``write`` to a descriptor opened ``O_APPEND``, then ``fsync``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.core.errors import AccordError
from accord.core.qa.conflicts import Resolution

from .errors import ResolutionLogError

try:  # POSIX: serialise appends across processes too
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LogContents", "ResolutionLog", "ResolutionLogError", "encode_line"]

_HEADER = re.compile(rb'\{"crc32":"([0-9a-f]{8})","len":(\d+),"resolution":')
_LITERALS = ("null", "true", "false")
_NUMBER_CHARS = frozenset("0123456789+-.eE")


def _canonical(d: dict[str, Any]) -> bytes:
    return json.dumps(d, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def encode_line(resolution: Resolution) -> bytes:
    """One log line (with its newline) for ``resolution``."""
    payload = _canonical(resolution.to_dict())
    head = b'{"crc32":"%08x","len":%d,"resolution":' % (zlib.crc32(payload), len(payload))
    return head + payload + b"}\n"


def _is_header_prefix(line: bytes) -> bool:
    """Whether ``line`` is a proper prefix of ``{"crc32":"<8 hex>","len":<digits>,"resolution":``."""
    pos = 0
    for literal, run_chars, run_min, run_max in ((b'{"crc32":"', b"0123456789abcdef", 8, 8),
                                                 (b'","len":', b"0123456789", 1, 20),
                                                 (b',"resolution":', b"", 0, 0)):
        rest = line[pos:pos + len(literal)]
        if not literal.startswith(rest):
            return False
        if len(rest) < len(literal):
            return True
        pos += len(literal)
        start = pos
        while pos < len(line) and pos - start < run_max and line[pos] in run_chars:
            pos += 1
        if pos == len(line) and run_max:
            return True
        if pos - start < run_min:
            return False
    return False  # the whole header is there: not a prefix of it


def _v1_cut_short(line: str, err: json.JSONDecodeError) -> bool:
    """Whether an unparsable pre-checksum line is JSON that ends early (a torn write)."""
    if err.msg.startswith("Unterminated string"):
        return True
    rest = line[err.pos:].rstrip()
    if not rest:
        return True
    if any(lit.startswith(rest) and rest != lit for lit in _LITERALS):
        return True  # cut inside null / true / false
    if len(rest) <= 4 and set(rest) <= _NUMBER_CHARS and err.pos + len(rest) >= len(line.rstrip()):
        return True  # cut inside a number: '-', '1.', '1e', '1e-'
    return err.msg.startswith("Invalid \\uXXXX escape") and len(line) - err.pos <= 6


@dataclass(frozen=True, slots=True, kw_only=True)
class LogContents:
    """What :meth:`ResolutionLog.read` found.

    Attributes:
        resolutions: Every complete resolution, in file order.
        torn_tail: The incomplete last line (crash mid-append), or None.
        torn_lines: Earlier incomplete lines ``(line_no, text)``: a crash mid-append
            followed by later appends (each append starts on a fresh line).
    """

    resolutions: tuple[Resolution, ...]
    torn_tail: str | None
    torn_lines: tuple[tuple[int, str], ...] = ()

    def latest(self) -> dict[tuple[str, str], Resolution]:
        """The last resolution per (item_id, label_set): later lines supersede earlier ones."""
        return {(r.item_id, r.label_set): r for r in self.resolutions}

    def warnings(self, name: str) -> list[str]:
        """One sentence per skipped torn line, for the user."""
        out = [f"line {no} of {name} is an incomplete write (a crash mid-append) and was skipped"
               for no, _ in self.torn_lines]
        if self.torn_tail is not None:
            out.append(f"the last line of {name} is an incomplete write (a crash mid-append) and was skipped; "
                       "the next append starts a fresh line")
        return out


class ResolutionLog:
    """An append-only JSON Lines log of resolutions (see the module docstring for the format)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, resolution: Resolution) -> None:
        """Write one resolution as one checksummed line and fsync it."""
        data = encode_line(resolution)
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # close a torn line left by a crash; never rewrite it
                written = os.write(fd, data)
                if written != len(data):  # pragma: no cover - regular files write fully
                    raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
                os.fsync(fd)
            finally:
                os.close(fd)  # also releases the flock

    def _bad(self, no: int, why: str) -> ResolutionLogError:
        return ResolutionLogError(f"{self.path}:{no}: not a JSON resolution ({why}); the log is append-only -- "
                                  "fix or remove that line by hand")

    def _parse(self, no: int, line: bytes) -> Resolution | None:
        """The line's resolution, or None when the line is an incomplete write."""
        m = _HEADER.match(line)
        if m is not None:
            length = int(m.group(2))
            end = m.end() + length
            if len(line) < end + 1:
                return None  # shorter than it says it is: cut short
            payload = line[m.end():end]
            if line[end:] != b"}" or f"{zlib.crc32(payload):08x}" != m.group(1).decode():
                raise self._bad(no, "its checksum or length does not match its content")
            return self._resolution(no, json.loads(payload.decode("utf-8")))
        if _is_header_prefix(line):
            return None
        text = line.decode("utf-8", errors="replace")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            if _v1_cut_short(text, e):
                return None
            raise self._bad(no, str(e)) from e
        return self._resolution(no, obj)

    def _resolution(self, no: int, obj: Any) -> Resolution:
        if not isinstance(obj, dict):
            raise self._bad(no, f"expected a JSON object, got {type(obj).__name__}")
        try:
            return Resolution.from_dict(obj)
        except AccordError as e:
            raise ResolutionLogError(f"{self.path}:{no}: {e}; fix or remove that line by hand") from e

    def read(self) -> LogContents:
        """Every resolution; incomplete lines (torn writes) are skipped and reported.

        Raises:
            ResolutionLogError: a line is neither a resolution nor an incomplete write.
        """
        if not self.path.exists():
            return LogContents(resolutions=(), torn_tail=None)
        lines = self.path.read_bytes().split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        out: list[Resolution] = []
        torn_lines: list[tuple[int, str]] = []
        for no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            r = self._parse(no, line)
            if r is None:
                torn_lines.append((no, line.decode("utf-8", errors="replace")))
            else:
                out.append(r)
        torn: str | None = None
        if tail.strip():
            r = self._parse(len(lines) + 1, tail)
            if r is None:
                torn = tail.decode("utf-8", errors="replace")
            else:
                out.append(r)
        return LogContents(resolutions=tuple(out), torn_tail=torn, torn_lines=tuple(torn_lines))
