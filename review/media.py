"""The images under the review app's drawings, looked up from a conflict's item, never from a request.

Two sources, both configured when the app starts (``accord review serve``):

* ``--media-root DIR``: the item's image path (``item.image`` in the report) read as a path
  *relative* to DIR. Refused: absolute paths, any ``..`` part (also percent-encoded), a scheme
  (``file:``, ``http:``), backslashes and NUL, and anything whose real path (symlinks resolved)
  is not inside DIR.
* ``--label-studio-url URL`` with a token: an item image that is a Label Studio ``/data/...``
  path, or an absolute URL on *that same* scheme, host and port, is fetched server-side with
  ``Authorization: Token ...``. No other host is ever contacted (the host comes from the
  configuration only), redirects are not followed (a redirect could point elsewhere), proxies
  from the environment are not used (the token would travel through them), and the answer must
  be an image (``image/*`` other than SVG, magic bytes checked) of at most ``max_bytes``.

Whatever fails gives ``None``: the app answers 404 and the page keeps its placeholder canvas.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

#: The largest image served (bytes).
MAX_IMAGE_BYTES = 25 * 2**20

#: Magic bytes of the raster formats served (SVG is refused: it can carry scripts).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"), (b"BM", "image/bmp"))


def sniff(head: bytes) -> str | None:
    """The content type of a raster image from its first bytes (PNG, JPEG, GIF, BMP, WebP), else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((t for magic, t in _MAGIC if head.startswith(magic)), None)


def _decoded(ref: str) -> str | None:
    """``ref`` percent-decoded until stable (``%252e`` too), or None if it never settles."""
    for _ in range(4):
        nxt = unquote(ref)
        if nxt == ref:
            return ref
        ref = nxt
    return None


def confined_path(root: Path, ref: str) -> Path | None:
    """The file ``ref`` names inside ``root``, or None when ``ref`` would leave it (see the module doc)."""
    plain = _decoded(ref)
    if not plain or "\x00" in plain or "\\" in plain or len(plain) > 4096:
        return None
    if urlsplit(plain).scheme:  # file:, http:, c: ...
        return None
    rel = PurePosixPath(plain)
    if rel.is_absolute() or ".." in rel.parts:
        return None
    try:
        base = root.resolve(strict=True)
        target = (base / rel).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx is then an HTTPError: never follow it to a host nobody configured


def _origin(scheme: str, host: str | None, port: int | None) -> tuple[str, str, int]:
    return scheme.lower(), (host or "").lower(), port or (443 if scheme.lower() == "https" else 80)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaSource:
    """Where item images come from: a confined local folder and/or one Label Studio host."""

    root: Path | None = None
    label_studio_url: str | None = None
    token: str | None = field(default=None, repr=False)
    max_bytes: int = MAX_IMAGE_BYTES
    timeout_s: float = 10.0

    @property
    def configured(self) -> bool:
        return self.root is not None or self.label_studio_url is not None

    def label_studio_target(self, ref: str) -> str | None:
        """The URL to fetch for ``ref`` on the configured Label Studio host, or None (another host, not /data/)."""
        if not self.label_studio_url or any(ch in ref for ch in "\\\x00\r\n\t "):
            return None
        base = urlsplit(self.label_studio_url)
        if ref.startswith("/data/"):
            return f"{base.scheme}://{base.netloc}{ref}"
        u = urlsplit(ref)
        if u.scheme not in ("http", "https") or u.username or u.password:
            return None
        try:
            same = _origin(u.scheme, u.hostname, u.port) == _origin(base.scheme, base.hostname, base.port)
        except ValueError:  # a bad port
            return None
        return ref if same and u.path.startswith("/data/") else None

    def get(self, ref: object) -> tuple[bytes, str] | None:
        """The image ``ref`` (an item's image path or URL from the report) names, with its type, or None."""
        if not isinstance(ref, str) or not ref:
            return None
        target = self.label_studio_target(ref)
        if target is not None:
            return self._fetch(target)
        if self.root is not None:
            path = confined_path(self.root, ref)
            if path is not None:
                return self._read(path)
        return None

    def _read(self, path: Path) -> tuple[bytes, str] | None:
        try:
            with path.open("rb") as f:
                data = f.read(self.max_bytes + 1)
        except OSError:
            return None
        kind = sniff(data[:16])
        return (data, kind) if kind and len(data) <= self.max_bytes else None

    def _fetch(self, url: str) -> tuple[bytes, str] | None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        try:
            with opener.open(urllib.request.Request(url, headers=headers), timeout=self.timeout_s) as resp:
                ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                size = resp.headers.get("Content-Length")
                if not ctype.startswith("image/") or ctype == "image/svg+xml":
                    logger.warning("Label Studio answered %s for an image, not a raster image", ctype or "no type")
                    return None
                if size is not None and size.isdigit() and int(size) > self.max_bytes:
                    return None
                data = resp.read(self.max_bytes + 1)
        except (urllib.error.URLError, OSError, ValueError) as e:
            logger.warning("cannot fetch an image from Label Studio: %s", e)
            return None
        kind = sniff(data[:16])
        return (data, kind) if kind and len(data) <= self.max_bytes else None
