"""Fetch a task's file (image, audio) the way Label Studio stores it, and nothing else.

Task data comes from whoever can call the ML backend, so every reference is checked
against what the operator allowed (:class:`MediaPolicy`) before anything is opened:

* a Label Studio path, ``/data/upload/3/abc.jpg`` or ``/data/local-files/?d=images/a.jpg``:
  fetched from the **configured** Label Studio URL (``--label-studio-url``) with
  ``Authorization: Token <access token>``. The token is sent to that origin only; a
  redirect to another host is refused, or, with ``--allow-remote-media``, followed
  without the token and under the remote rules below (cloud storage presigned URLs);
* an ``http(s)://`` URL of the Label Studio origin: as above;
* an ``http(s)://`` URL of any other host: only with ``--allow-remote-media``, never
  with the token, and never to a loopback, private, link-local or otherwise
  non-global address (every address the name resolves to is checked, and so is the
  peer of the connection, which defeats DNS rebinding) unless
  ``--allow-private-media``; no proxy from the environment;
* a local path, or ``file://`` URL: only inside an ``--allow-local-dir`` folder
  (symlinks resolved first), only a regular file (no FIFO, device or directory),
  opened with ``O_NOFOLLOW | O_NONBLOCK``.

Every read is capped (``max_bytes``) and has a total deadline, not just a socket
timeout. Refusals and failures of task references answer one message,
:data:`NOT_ALLOWED`, whatever the reason (missing, forbidden, unreachable), so the
answer tells an attacker nothing about which files exist or which ports are open;
the reason goes to the server log.

Also used to call the Label Studio API (the export of a project's annotations).
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import json
import logging
import os
import socket
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.core.errors import AccordError

logger = logging.getLogger(__name__)

#: The largest task file read (bytes); ``--max-media-bytes``.
MAX_BYTES = 64 * 1024 * 1024
#: The largest Label Studio export read when training (bytes).
MAX_EXPORT_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 16
_MAX_REDIRECTS = 5

#: What every refused or failed task reference answers (the reason is logged, not sent).
NOT_ALLOWED = ("the task's file is not allowed or could not be read: local files are read only inside "
               "--allow-local-dir folders, URLs only from the --label-studio-url (other hosts need "
               "--allow-remote-media); the server log has the reason")


class _RefusedError(Exception):
    """Internal: a reference the policy refuses (the text goes to the log only)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaPolicy:
    """What task references the server may open (see the module docstring).

    Attributes:
        label_studio_url: The operator's Label Studio URL; the only origin a token goes to.
        access_token: Label Studio token (legacy ``Token`` or a personal access token).
        allow_local_dirs: Folders local files may be read from (none: no local files).
        allow_remote_media: Fetch ``http(s)`` URLs of other hosts (without the token).
        allow_private_media: Let those URLs reach loopback/private/link-local addresses.
        max_bytes: Largest file read.
        timeout_s: Total time for one fetch (connect, redirects and body).
    """

    label_studio_url: str | None = None
    access_token: str | None = None
    allow_local_dirs: tuple[Path, ...] = ()
    allow_remote_media: bool = False
    allow_private_media: bool = False
    max_bytes: int = MAX_BYTES
    timeout_s: float = 30.0


def _origin(url: str) -> tuple[str, str, int]:
    p = urllib.parse.urlsplit(url)
    scheme = p.scheme.lower()
    port = p.port or (443 if scheme == "https" else 80)
    return scheme, (p.hostname or "").lower(), port


def same_origin(a: str, b: str) -> bool:
    """True when two URLs have the same scheme, host (case-insensitive) and port (default ports filled in)."""
    try:
        return _origin(a) == _origin(b)
    except ValueError:
        return False


def _is_public(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return bool(addr.is_global) and not addr.is_multicast


def _check_host(host: str, port: int, allow_private: bool) -> None:
    """Refuse a host any of whose addresses is not public (unless private addresses are allowed)."""
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise _RefusedError(f"cannot resolve {host!r}") from e
    bad = sorted({str(i[4][0]) for i in infos if not _is_public(str(i[4][0]))})
    if bad or not infos:
        raise _RefusedError(f"{host!r} resolves to non-public addresses {bad} (--allow-private-media allows them)")


class _Guard:
    """Per-fetch rules the connections and redirects enforce."""

    def __init__(self, policy: MediaPolicy, deadline: float) -> None:
        self.policy = policy
        self.deadline = deadline

    def is_label_studio(self, scheme: str, host: str, port: int) -> bool:
        ls = self.policy.label_studio_url
        return bool(ls) and _origin(ls or "") == (scheme, host.lower(), port)

    def check_peer(self, scheme: str, host: str, port: int, sock: Any) -> None:
        if self.is_label_studio(scheme, host, port) or self.policy.allow_private_media:
            return
        peer = str(sock.getpeername()[0])
        if not _is_public(peer):
            raise _RefusedError(f"{host!r} connected to the non-public address {peer}")

    def remaining_s(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _RefusedError("the fetch ran out of time")
        return left


def _checked(base: type[http.client.HTTPConnection], scheme: str) -> Any:
    class Checked(base):  # type: ignore[valid-type,misc]
        def __init__(self, *a: Any, guard: _Guard, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self._guard = guard

        def connect(self) -> None:
            super().connect()
            try:
                self._guard.check_peer(scheme, str(self.host), int(self.port or 0), self.sock)
            except _RefusedError:
                self.close()
                raise

    return Checked


_CheckedHTTP = _checked(http.client.HTTPConnection, "http")
_CheckedHTTPS = _checked(http.client.HTTPSConnection, "https")


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(functools.partial(_CheckedHTTP, guard=self.guard), req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(functools.partial(_CheckedHTTPS, guard=self.guard), req,
                            context=getattr(self, "_context", None))


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect within the Label Studio origin; elsewhere only as remote media, without the token."""

    max_redirections = _MAX_REDIRECTS

    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        scheme, host, port = _origin(newurl)
        if scheme not in ("http", "https") or not host:
            raise _RefusedError(f"a redirect to {scheme!r} is not followed")
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None or self.guard.is_label_studio(scheme, host, port):
            return new
        if not self.guard.policy.allow_remote_media:
            raise _RefusedError(f"a redirect to another host ({host!r}) is not followed without --allow-remote-media")
        _check_host(host, port, self.guard.policy.allow_private_media)
        for k in list(new.headers):
            if k.lower() == "authorization":
                del new.headers[k]
        new.unredirected_hdrs.pop("Authorization", None)
        return new


def _get(url: str, headers: dict[str, str], guard: _Guard, max_bytes: int,
         data: bytes | None = None) -> bytes:
    """GET (or POST ``data``) with the guard's rules; the body, at most ``max_bytes``.

    Each socket operation times out at what is left of the deadline, and the deadline
    is checked after every chunk, so a slow sender is cut off too.
    """
    opener = urllib.request.OpenerDirector()
    for h in (urllib.request.ProxyHandler({}), urllib.request.UnknownHandler(),
              urllib.request.HTTPDefaultErrorHandler(), _Redirects(guard), urllib.request.HTTPErrorProcessor(),
              _HTTP(guard), _HTTPS(guard)):
        opener.add_handler(h)
    req = urllib.request.Request(url, data=data, headers=headers)
    with opener.open(req, timeout=guard.remaining_s()) as r:
        declared = r.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise _RefusedError(f"{_redact(url)} declares {declared} bytes, more than {max_bytes}")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk: bytes = r.read(min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise _RefusedError(f"{_redact(url)} is larger than {max_bytes} bytes (--max-media-bytes)")
            guard.remaining_s()
    return b"".join(chunks)


def _read_local(ref: str, dirs: Sequence[Path], max_bytes: int) -> bytes:
    """A regular file inside one of ``dirs`` (symlinks resolved first), at most ``max_bytes``."""
    if not dirs:
        raise _RefusedError("local files are off (no --allow-local-dir)")
    real = os.path.realpath(ref)
    for d in dirs:
        root = os.path.realpath(d)
        if os.path.commonpath([root, real]) == root:
            break
    else:
        raise _RefusedError(f"{real!r} is outside every --allow-local-dir")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(real, flags)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _RefusedError(f"{real!r} is not a regular file")
        if st.st_size > max_bytes:
            raise _RefusedError(f"{real!r} is larger than {max_bytes} bytes (--max-media-bytes)")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _RefusedError(f"{real!r} grew past {max_bytes} bytes")
    return data


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query="")) if parts.query else url


def _auth_headers(token: str | None, *, bearer: bool = False) -> dict[str, str]:
    if not token:
        return {}
    return {"Authorization": f"{'Bearer' if bearer else 'Token'} {token}"}


def _from_label_studio(url: str, policy: MediaPolicy, guard: _Guard, max_bytes: int) -> bytes:
    """GET a Label Studio URL with the token (legacy ``Token``; on 401 as a personal access token)."""
    token = policy.access_token
    try:
        try:
            return _get(url, _auth_headers(token), guard, max_bytes)
        except urllib.error.HTTPError as e:
            if e.code != 401 or not token:
                raise
            access = _exchange_refresh_token(url, token, guard)
            return _get(url, _auth_headers(access, bearer=True), guard, max_bytes)
    except urllib.error.HTTPError as e:
        hint = "; check the access token (LABEL_STUDIO_API_KEY)" if e.code in (401, 403) else ""
        raise AccordError(f"Label Studio answered HTTP {e.code} for {_redact(url)}{hint}") from e
    except _RefusedError as e:
        logger.warning("refused while fetching %s from Label Studio: %s", _redact(url), e)
        raise AccordError(NOT_ALLOWED) from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        logger.warning("fetching %s from Label Studio failed: %r", _redact(url), e)
        raise AccordError(f"Label Studio at {_redact(policy.label_studio_url or '')} could not be reached for "
                          f"{_redact(url)}; check --label-studio-url and that Label Studio is up") from None


def fetch_bytes(ref: str, *, hostname: str | None = None, access_token: str | None = None,
                allow_local_dirs: Sequence[Path | str] = (), allow_remote_media: bool = False,
                allow_private_media: bool = False, timeout_s: float = 30.0, max_bytes: int = MAX_BYTES,
                policy: MediaPolicy | None = None) -> bytes:
    """The bytes of the file a task's data value points at, if the policy allows it (module docstring).

    Args:
        ref: The task's data value.
        hostname: The operator-configured Label Studio URL (never what a client sent).
        access_token: Token for that URL.
        allow_local_dirs, allow_remote_media, allow_private_media, timeout_s, max_bytes:
            See :class:`MediaPolicy`; ``policy`` given instead wins.
        policy: All of the above at once.

    Raises:
        AccordError: refused or failed; :data:`NOT_ALLOWED` for anything but a Label
        Studio URL (whose errors say what Label Studio answered, never the token).
    """
    if policy is None:
        policy = MediaPolicy(label_studio_url=hostname, access_token=access_token,
                             allow_local_dirs=tuple(Path(d) for d in allow_local_dirs),
                             allow_remote_media=allow_remote_media, allow_private_media=allow_private_media,
                             max_bytes=max_bytes, timeout_s=timeout_s)
    if not isinstance(ref, str) or not ref:
        raise AccordError(f"expected a file URL or path in the task data, got {type(ref).__name__}")
    guard = _Guard(policy, time.monotonic() + policy.timeout_s)
    ls = policy.label_studio_url
    if ref.startswith(("/data/", "data/")):
        if not ls:
            raise AccordError("the task's file is a Label Studio path but no Label Studio URL is configured; "
                              "start the server with --label-studio-url (or LABEL_STUDIO_URL)")
        return _from_label_studio(ls.rstrip("/") + "/" + ref.lstrip("/"), policy, guard, policy.max_bytes)
    try:
        scheme = urllib.parse.urlsplit(ref).scheme.lower()
        if scheme in ("http", "https"):
            if ls and same_origin(ref, ls):
                return _from_label_studio(ref, policy, guard, policy.max_bytes)
            if not policy.allow_remote_media:
                raise _RefusedError("URLs of hosts other than the Label Studio URL are off (--allow-remote-media)")
            _, host, port = _origin(ref)
            _check_host(host, port, policy.allow_private_media)
            return _get(ref, {}, guard, policy.max_bytes)
        if scheme == "file":
            parts = urllib.parse.urlsplit(ref)
            if parts.netloc not in ("", "localhost"):
                raise _RefusedError("file:// URLs of other hosts are not read")
            return _read_local(urllib.parse.unquote(parts.path), policy.allow_local_dirs, policy.max_bytes)
        if scheme and len(scheme) > 1:
            raise _RefusedError(f"unsupported URL scheme {scheme!r}")
        return _read_local(ref, policy.allow_local_dirs, policy.max_bytes)
    except AccordError:
        raise
    except (_RefusedError, urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        logger.warning("task file %r refused or unreadable: %s", ref[:200], e)
        raise AccordError(NOT_ALLOWED) from None


def _exchange_refresh_token(url: str, token: str, guard: _Guard) -> str:
    parts = urllib.parse.urlsplit(url)
    refresh_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/api/token/refresh/", "", ""))
    raw = _get(refresh_url, {"Content-Type": "application/json"}, guard, 1 << 20,
               data=json.dumps({"refresh": token}).encode())
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    access = body.get("access") if isinstance(body, dict) else None
    if not isinstance(access, str):
        raise AccordError("Label Studio rejected the access token; set LABEL_STUDIO_API_KEY to a valid token")
    return access


def fetch_json(path: str, *, label_studio_url: str, access_token: str | None, timeout_s: float = 120.0,
               max_bytes: int = MAX_EXPORT_BYTES) -> Any:
    """GET ``path`` (e.g. ``/api/projects/3/export?...``) from the configured Label Studio and parse it.

    Raises:
        AccordError: HTTP or network failure, or a body that is not JSON.
    """
    policy = MediaPolicy(label_studio_url=label_studio_url, access_token=access_token, timeout_s=timeout_s,
                         max_bytes=max_bytes)
    guard = _Guard(policy, time.monotonic() + timeout_s)
    url = label_studio_url.rstrip("/") + "/" + path.lstrip("/")
    raw = _from_label_studio(url, policy, guard, max_bytes)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AccordError(f"Label Studio did not answer JSON for {_redact(url)}") from e
