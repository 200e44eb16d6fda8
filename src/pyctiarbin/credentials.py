"""Where CTI credentials come from, and how they are kept out of sight.

Order: explicit arguments, else ``ARBIN_CTI_USERNAME`` / ``ARBIN_CTI_PASSWORD`` from the
environment, else a ``.env`` file (python-dotenv; by default ``.env`` in the working directory).
A :class:`Credentials` object never shows the password: not in its repr, str, or errors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

__all__ = ["ENV_PASSWORD", "ENV_USERNAME", "Credentials", "resolve_credentials"]

ENV_USERNAME = "ARBIN_CTI_USERNAME"
ENV_PASSWORD = "ARBIN_CTI_PASSWORD"


@dataclass(frozen=True, slots=True)
class Credentials:
    """A CTI user name and password. The password never appears in the repr."""

    username: str
    password: str = field(repr=False)
    source: str = "arguments"

    def __str__(self) -> str:
        return f"{self.username} (from {self.source})"


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
    (never the values).
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
