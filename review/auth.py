"""Users, roles, passwords and sessions of the review app.

* Users live in the ledger's database, in their own table ``review_users`` (name, role, argon2
  hash); sessions in ``review_sessions`` (a random id per login, so a session id planted before
  login is never the one in use after it: no fixation; logout deletes the row).
* The session cookie is the session id signed with itsdangerous (``URLSafeTimedSerializer``);
  the role is read from the users table on every request, never from the cookie.
* CSRF: every session (also the anonymous one that shows the login form) carries a random
  token; every POST form sends it back and the server compares it in constant time.
"""

from __future__ import annotations

import contextlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from accord.core.errors import AccordError
from accord.store.db import Database

Role = Literal["annotator", "reviewer", "expert", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
NAME_RE = re.compile(r"^[A-Za-z0-9._@+-]{1,120}$")
SESSION_MAX_AGE_S = 12 * 3600
MIN_PASSWORD_LEN = 8

_HASHER = PasswordHasher()

_TABLES = (
    "CREATE TABLE IF NOT EXISTS review_users (name TEXT PRIMARY KEY, role TEXT NOT NULL, "
    "password_hash TEXT NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS review_sessions (sid TEXT PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL, "
    "created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS review_policies (label_set TEXT PRIMARY KEY, passes INTEGER NOT NULL, "
    "second_pass_share REAL NOT NULL, updated_by TEXT NOT NULL, updated_at TEXT NOT NULL)",
)


class AuthError(AccordError, ValueError):  # type: ignore[misc]
    """A user name, role or password that cannot be used (the message says what to change)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A signed-in user (the role as stored now)."""

    name: str
    role: Role


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def ensure_tables(db: Database) -> None:
    """Create the review tables when absent (idempotent)."""
    with db.write():
        for sql in _TABLES:
            db.execute(sql)


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise AuthError(f"user name {name!r} is not usable; use 1-120 letters, digits or . _ @ + -")
    return name


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    return role  # type: ignore[return-value]


def add_user(db: Database, name: str, role: str, password: str, *, replace: bool = False) -> User:
    """Create (or with ``replace``, reset) a user with an argon2 hash of the password."""
    check_name(name)
    r = check_role(role)
    if len(password) < MIN_PASSWORD_LEN:
        raise AuthError(f"the password must have at least {MIN_PASSWORD_LEN} characters; got {len(password)}")
    h = _HASHER.hash(password)
    with db.write():
        exists = db.execute("SELECT 1 FROM review_users WHERE name = ?", (name,)).fetchone() is not None
        if exists and not replace:
            raise AuthError(f"user {name!r} exists already; pass --replace to reset the role and password")
        if exists:
            db.execute("UPDATE review_users SET role = ?, password_hash = ? WHERE name = ?", (r, h, name))
            db.execute("DELETE FROM review_sessions WHERE name = ?", (name,))
        else:
            db.execute("INSERT INTO review_users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                       (name, r, h, _now()))
    return User(name=name, role=r)


def list_users(db: Database) -> list[User]:
    return [User(name=n, role=r) for n, r in db.execute("SELECT name, role FROM review_users ORDER BY name")]


def get_user(db: Database, name: str) -> User | None:
    row = db.execute("SELECT name, role FROM review_users WHERE name = ?", (name,)).fetchone()
    return User(name=row[0], role=row[1]) if row and row[1] in ROLES else None


def authenticate(db: Database, name: str, password: str) -> User | None:
    """The user when the password matches, else None (the same answer for an unknown name)."""
    row = db.execute("SELECT name, role, password_hash FROM review_users WHERE name = ?", (name,)).fetchone()
    if row is None:
        with contextlib.suppress(VerificationError):  # spend the same time as for a known name
            _HASHER.verify(_DUMMY_HASH, password)
        return None
    try:
        _HASHER.verify(row[2], password)
    except (VerificationError, InvalidHashError):
        return None
    return User(name=row[0], role=row[1]) if row[1] in ROLES else None


_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class Sessions:
    """Signed session cookies backed by the ``review_sessions`` table."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise AuthError("the session secret must have at least 16 bytes")
        self._signer = URLSafeTimedSerializer(secret, salt="accord-review-session")

    def sign(self, payload: dict[str, Any]) -> str:
        return str(self._signer.dumps(payload))

    def unsign(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def anonymous() -> dict[str, Any]:
        """A pre-login session: only a CSRF token for the login form."""
        return {"csrf": secrets.token_urlsafe(32)}

    @staticmethod
    def start(db: Database, user: User) -> dict[str, Any]:
        """A fresh session id and CSRF token for a user who just logged in."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with db.write():
            db.execute("INSERT INTO review_sessions (sid, name, csrf, created_at) VALUES (?, ?, ?, ?)",
                       (sid, user.name, csrf, _now()))
        return {"sid": sid, "csrf": csrf}

    @staticmethod
    def user_of(db: Database, data: dict[str, Any] | None) -> User | None:
        """The user of a live session (its row present, its CSRF token matching), else None."""
        if not data or not isinstance(data.get("sid"), str):
            return None
        row = db.execute("SELECT name, csrf FROM review_sessions WHERE sid = ?", (data["sid"],)).fetchone()
        if row is None or not hmac.compare_digest(str(row[1]), str(data.get("csrf", ""))):
            return None
        return get_user(db, row[0])

    @staticmethod
    def end(db: Database, data: dict[str, Any] | None) -> None:
        if data and isinstance(data.get("sid"), str):
            with db.write():
                db.execute("DELETE FROM review_sessions WHERE sid = ?", (data["sid"],))


def csrf_ok(session: dict[str, Any] | None, sent: str | None) -> bool:
    """Whether the form's token matches the session's (constant-time)."""
    want = (session or {}).get("csrf")
    return isinstance(want, str) and isinstance(sent, str) and bool(sent) and hmac.compare_digest(want, sent)
