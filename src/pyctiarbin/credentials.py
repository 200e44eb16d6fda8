"""Where CTI credentials come from, and how they are kept out of sight.

Order: explicit arguments, else ``ARBIN_CTI_USERNAME`` / ``ARBIN_CTI_PASSWORD`` from the
environment, else a ``.env`` file (python-dotenv; by default ``.env`` in the working directory).
A :class:`Credentials` object never shows the password: not in its repr, str, or errors.

CTI credentials are ASCII, at most 32 characters each (Arbin's own client library refuses
anything else before sending): :class:`Credentials` checks that when it is made and raises
:class:`ValueError`. An error may name the user name; it never quotes a character of the
password, nor its length.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

__all__ = [
    "ENV_PASSWORD",
    "ENV_USERNAME",
    "MAX_CREDENTIAL_CHARS",
    "Credentials",
    "resolve_credentials",
]

ENV_USERNAME = "ARBIN_CTI_USERNAME"
ENV_PASSWORD = "ARBIN_CTI_PASSWORD"
#: The LOGIN request holds each of user name and password in 32 one-byte characters.
MAX_CREDENTIAL_CHARS = 32


@dataclass(frozen=True, slots=True)
class Credentials:
    """A CTI user name and password. The password never appears in the repr."""

    username: str
    password: str = field(repr=False)
    source: str = "arguments"

    def __post_init__(self) -> None:
        _check_username(self.username, self.source)
        _check_password(self.password, self.source)

    def __str__(self) -> str:
        return f"{self.username} (from {self.source})"


def _check_username(username: object, source: str) -> None:
    # The user name is not a secret: the error may show it, and its first bad character.
    if not isinstance(username, str):
        raise ValueError(f"the CTI user name (from {source}) must be text")
    bad = next((c for c in username if not "\x01" <= c <= "\x7f"), None)
    if bad is not None:
        raise ValueError(
            f"the CTI user name {username!r} (from {source}) contains {bad!r}; CTI user names "
            "are ASCII, without NUL"
        )
    if len(username) > MAX_CREDENTIAL_CHARS:
        raise ValueError(
            f"the CTI user name {username!r} (from {source}) is longer than "
            f"{MAX_CREDENTIAL_CHARS} characters, the most CTI can carry"
        )


def _check_password(password: object, source: str) -> None:
    # Never show the password, any character of it, or its length.
    if not isinstance(password, str):
        raise ValueError(f"the CTI password (from {source}) must be text")
    if len(password) > MAX_CREDENTIAL_CHARS:
        raise ValueError(
            f"the CTI password (from {source}) is longer than {MAX_CREDENTIAL_CHARS} "
            "characters, the most CTI can carry"
        )
    if not all("\x01" <= c <= "\x7f" for c in password):
        raise ValueError(
            f"the CTI password (from {source}) contains a character that is not ASCII (or a "
            "NUL); CTI passwords are ASCII only (the password is not shown)"
        )


def resolve_credentials(
    username: str | None = None,
    password: str | None = None,
    *,
    env_path: str | os.PathLike[str] | None = None,
) -> Credentials:
    """Find the credentials to log in with.

    Explicit ``username``/``password`` win; missing ones are taken from the environment, then
    from the ``.env`` file at ``env_path`` (default: ``.env`` in the working directory).

    Raises ValueError when no user name or no password can be found, naming where it looked
    (never the values), or when one is not ASCII or longer than 32 characters (naming the user
    name, never quoting the password).
    """
    if username is not None and password is not None:
        return Credentials(username, password, "arguments")
    found: dict[str, tuple[str, str]] = {}
    for key, value in ((ENV_USERNAME, username), (ENV_PASSWORD, password)):
        if value is not None:
            found[key] = (value, "arguments")
        elif key in os.environ:
            found[key] = (os.environ[key], "environment")
    path = Path(env_path) if env_path is not None else Path.cwd() / ".env"
    if len(found) < 2:
        if path.is_file():
            for key, value in dotenv_values(path).items():
                if key in (ENV_USERNAME, ENV_PASSWORD) and key not in found and value is not None:
                    found[key] = (value, str(path))
        elif env_path is not None:
            raise ValueError(f"credentials file {path} does not exist")
    missing = [key for key in (ENV_USERNAME, ENV_PASSWORD) if key not in found]
    if missing:
        raise ValueError(
            f"no CTI credentials: {' and '.join(missing)} not given as arguments, "
            f"not in the environment and not in {path}"
        )
    (user, user_source), (secret, secret_source) = found[ENV_USERNAME], found[ENV_PASSWORD]
    source = user_source if user_source == secret_source else f"{user_source} + {secret_source}"
    return Credentials(user, secret, source)
