"""Fetch a task's file (image, audio) the way Label Studio stores it.

A task's ``data`` value is one of:

* a Label Studio path: ``/data/upload/3/abc.jpg`` or ``/data/local-files/?d=images/a.jpg``,
  fetched from the Label Studio URL with ``Authorization: Token <access token>``
  (the token /setup sent, or ``LABEL_STUDIO_API_KEY``);
* an ``http(s)://`` URL: fetched as is (with the token only when it points at Label Studio);
* a local path, or ``file://`` URL: read from disk.

Also used to call the Label Studio API (the export of a project's annotations).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from accord.core.errors import AccordError

MAX_BYTES = 256 * 1024 * 1024


def _auth_headers(token: str | None, *, bearer: bool = False) -> dict[str, str]:
    if not token:
        return {}
    return {"Authorization": f"{'Bearer' if bearer else 'Token'} {token}"}


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def _get(url: str, headers: dict[str, str], timeout_s: float, max_bytes: int) -> bytes:
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout_s) as r:
        data: bytes = r.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise AccordError(f"{url} is larger than {max_bytes} bytes; raise MAX_BYTES or resize the file")
    return data


def fetch_bytes(ref: str, *, hostname: str | None = None, access_token: str | None = None,
                timeout_s: float = 30.0, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of the file a task's data value points at (see the module docstring).

    Raises:
        AccordError: the file cannot be fetched (says which URL and why, never the token).
    """
    if not isinstance(ref, str) or not ref:
        raise AccordError(f"expected a file URL or path in the task data, got {ref!r}")
    try:
        if ref.startswith("/data/") or ref.startswith("data/"):
            if not hostname:
                raise AccordError(f"{ref!r} is a Label Studio path but the Label Studio URL is unknown; "
                                  "set LABEL_STUDIO_URL or let Label Studio call /setup first")
            url = hostname.rstrip("/") + "/" + ref.lstrip("/")
            return _get_with_token(url, access_token, timeout_s, max_bytes)
        scheme = urllib.parse.urlsplit(ref).scheme
        if scheme in ("http", "https"):
            if hostname and _same_origin(ref, hostname):
                return _get_with_token(ref, access_token, timeout_s, max_bytes)
            return _get(ref, {}, timeout_s, max_bytes)
        if scheme == "file":
            ref = urllib.parse.unquote(urllib.parse.urlsplit(ref).path)
        elif scheme and len(scheme) > 1:
            raise AccordError(f"unsupported URL scheme {scheme!r} in {ref!r}; use http(s), a Label Studio "
                              "/data/ path or a local file path")
        path = Path(ref)
        if path.stat().st_size > max_bytes:
            raise AccordError(f"{path} is larger than {max_bytes} bytes")
        return path.read_bytes()
    except urllib.error.HTTPError as e:
        raise AccordError(f"fetching {_redact(ref)} failed: HTTP {e.code} {e.reason}"
                          + ("; check the access token (LABEL_STUDIO_API_KEY)" if e.code in (401, 403) else "")
                          ) from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise AccordError(f"fetching {_redact(ref)} failed: {e}") from e


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query="")) if "token" in parts.query.lower() else url


def _get_with_token(url: str, token: str | None, timeout_s: float, max_bytes: int) -> bytes:
    """GET with the legacy ``Token`` header; on 401 try ``token`` as a personal access (JWT refresh) token."""
    try:
        return _get(url, _auth_headers(token), timeout_s, max_bytes)
    except urllib.error.HTTPError as e:
        if e.code != 401 or not token:
            raise
        access = _exchange_refresh_token(url, token, timeout_s)
        return _get(url, _auth_headers(access, bearer=True), timeout_s, max_bytes)


def _exchange_refresh_token(url: str, token: str, timeout_s: float) -> str:
    parts = urllib.parse.urlsplit(url)
    refresh_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/api/token/refresh/", "", ""))
    req = urllib.request.Request(refresh_url, data=json.dumps({"refresh": token}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout_s) as r:
        body = json.loads(r.read())
    access = body.get("access") if isinstance(body, dict) else None
    if not isinstance(access, str):
        raise AccordError("Label Studio rejected the access token; set LABEL_STUDIO_API_KEY to a valid token")
    return access


def fetch_json(url: str, *, access_token: str | None, timeout_s: float = 60.0) -> Any:
    """GET a Label Studio API URL and parse the JSON body.

    Raises:
        AccordError: HTTP or network failure, or a body that is not JSON.
    """
    raw = fetch_bytes(url, hostname=url, access_token=access_token, timeout_s=timeout_s)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise AccordError(f"{url} did not answer JSON: {e}") from e
