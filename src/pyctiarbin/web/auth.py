"""Who may control cyclers from the dashboard: users with scrypt password hashes, sessions, CSRF.

The users come from the ``[web]`` table of the lab config file, never from the command line::

    [web]
    audit_log = "pycti-web-audit.log"      # relative to this file's folder
    [web.users.alice]
    password = "scrypt$16384$8$1$<salt, base64>$<hash, base64>"

``pycti web --hash-password`` asks for a password (twice, without echo) and prints such a line.
A hash is checked with :func:`hashlib.scrypt` and compared in constant time. A login gives a
random session id (an HttpOnly, SameSite=Strict cookie) and a random CSRF token that every
control request must send back in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import check_table
from ..shared import tomllib

__all__ = [
    "Session",
    "Sessions",
    "WebConfig",
    "hash_password",
    "load_web_config",
    "verify_password",
]

#: scrypt cost parameters of new hashes (n=2**14, r=8, p=1: ~16 MiB, ~50 ms).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_USER = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_WEB_KEYS = frozenset({"audit_log", "users", "session_hours"})


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64) of ``password``.

    Raises:
        ValueError: for an empty password.
    """
    if not password:
        raise ValueError("the password is empty")
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def _parse_hash(text: str, where: str) -> tuple[int, int, int, bytes, bytes]:
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError(
            f"{where}: expected scrypt$N$r$p$salt$hash (see pycti web --hash-password)"
        )
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = (
            base64.b64decode(parts[4], validate=True),
            base64.b64decode(parts[5], validate=True),
        )
    except ValueError:
        raise ValueError(f"{where}: malformed scrypt hash") from None
    if n < 2 or n & (n - 1) or not 0 < r <= 64 or not 0 < p <= 16 or not salt or not digest:
        raise ValueError(f"{where}: scrypt parameters out of range")
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches the ``scrypt$...`` hash ``stored``.

    Raises:
        ValueError: if ``stored`` is not such a hash.
    """
    n, r, p, salt, digest = _parse_hash(stored, "password hash")
    candidate = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=256 * 2**20
    )
    return hmac.compare_digest(candidate, digest)


@dataclass(frozen=True)
class WebConfig:
    """The ``[web]`` table: ``users`` (name -> hash), the audit log path, session lifetime."""

    users: dict[str, str] = field(default_factory=dict, repr=False)
    audit_log: Path = Path("pycti-web-audit.log")
    session_hours: float = 12.0


def load_web_config(path: str | os.PathLike[str] | None) -> WebConfig:
    """The ``[web]`` table of a lab config file (defaults when ``path`` is None or the file has
    no such table).

    Raises:
        ValueError: for an unknown key, a bad user name or a malformed hash (naming it).
        OSError: if the file cannot be read.
    """
    if path is None:
        return WebConfig()
    config_path = Path(path)
    with open(config_path, "rb") as handle:
        data: dict[str, Any] = tomllib.load(handle)
    where = f"{config_path} [web]"
    table = check_table(data.get("web", {}), where, _WEB_KEYS, error=ValueError)
    users: dict[str, str] = {}
    for name, entry in dict(table.get("users", {})).items():
        user_where = f"{config_path} [web.users.{name}]"
        if not _USER.match(name):
            raise ValueError(f"{user_where}: a user name is 1..64 letters, digits or _.@-")
        if not isinstance(entry, dict) or set(entry) != {"password"}:
            raise ValueError(f'{user_where}: expected exactly one key, password = "scrypt$..."')
        stored = entry["password"]
        if not isinstance(stored, str):
            raise ValueError(f"{user_where}: password must be a string")
        _parse_hash(stored, user_where)
        users[name] = stored
    audit = Path(str(table.get("audit_log", "pycti-web-audit.log")))
    if not audit.is_absolute():
        audit = config_path.parent / audit
    hours = table.get("session_hours", 12.0)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not hours > 0:
        raise ValueError(f"{where}: session_hours must be a positive number")
    return WebConfig(users, audit, float(hours))


@dataclass
class Session:
    """A logged-in user: ``user``, the ``csrf`` token, when it ``expires`` (monotonic)."""

    user: str
    csrf: str = field(repr=False)
    expires: float


class Sessions:
    """Logged-in sessions in memory (a restart logs everyone out), thread-safe."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def login(self, user: str, password: str) -> tuple[str, Session] | None:
        """A new session id and session if the password is right, else None (the same time
        is spent on an unknown user, so that names cannot be probed)."""
        stored = self.config.users.get(user)
        if stored is None:
            verify_password(password, hash_password("x", salt=b"\x00" * 16))
            return None
        if not verify_password(password, stored):
            return None
        session_id = secrets.token_urlsafe(32)
        session = Session(
            user, secrets.token_urlsafe(32), time.monotonic() + self.config.session_hours * 3600
        )
        with self._lock:
            self._sessions[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with that id, or None."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires < time.monotonic():
                del self._sessions[session_id]
                return None
            return session

    def logout(self, session_id: str | None) -> None:
        """End the session (if any)."""
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)
