"""The lab configuration file: which cyclers exist, and where the CTI credentials come from.

One TOML file serves the ``pycti`` command, the logger and test plans::

    # lab.toml
    [credentials]
    env_file = "cti.env"        # a .env file with ARBIN_CTI_USERNAME / ARBIN_CTI_PASSWORD,
                                # relative to this file's folder
    # or, instead of env_file:
    # username = "labuser"      # the password then comes from the environment or a .env file
    # password = "..."          # only in a file that others cannot read (see below)

    [cyclers.bay1]
    host = "192.168.10.21"
    port = 9031                 # optional, default 9031
    file_port = 9032            # optional, default: port + 1

    [cyclers.bay2]
    host = "192.168.10.22"

    [mqtt]                      # optional: where `pycti log` publishes live readings
    url = "mqtt://broker.lab:1883/lab1"   # or mqtts:// (TLS); see docs/mqtt.md
    # username = "pycti"        # else PYCTI_MQTT_USERNAME / PYCTI_MQTT_PASSWORD
    # ca_file = "lab-ca.pem"    # TLS files, relative to this file's folder

A password written in the file is accepted only when the file is not readable by other users
(POSIX mode without the ``o+r`` bit, e.g. ``chmod 600 lab.toml``); otherwise loading fails with
:class:`ConfigError`. On Windows, where permission bits do not describe who may read a file,
the check is not made: keep such a file in your own profile folder.

API: :func:`load_lab_config` reads a file into a :class:`LabConfig`; :func:`resolve_cycler`
turns ``NAME``, ``HOST:PORT`` or ``NAME=HOST:PORT`` into a :class:`CyclerAddress`;
:func:`resolve_lab_credentials` picks the credentials (environment, ``.env`` files, config).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .credentials import ENV_PASSWORD, ENV_USERNAME, Credentials
from .shared import DEFAULT_FILE_PORT, DEFAULT_PORT, tomllib

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_FILE_PORT",
    "DEFAULT_PORT",
    "FILE_PORT_ENV_VAR",
    "PORT_ENV_VAR",
    "ConfigError",
    "CredentialsConfig",
    "CyclerAddress",
    "LabConfig",
    "MqttConfig",
    "check_table",
    "default_file_port",
    "host_ports",
    "load_lab_config",
    "parse_host_port",
    "read_toml",
    "reading_file",
    "resolve_cycler",
    "resolve_lab_credentials",
]

log = logging.getLogger("pyctiarbin.config")

#: Environment variable naming the lab config file when no path is given explicitly.
CONFIG_ENV_VAR = "PYCTI_CONFIG"
#: Environment variables that replace DEFAULT_PORT / DEFAULT_FILE_PORT for a bare ``--host``.
PORT_ENV_VAR = "PYCTI_PORT"
FILE_PORT_ENV_VAR = "PYCTI_FILE_PORT"


def default_file_port(port: int) -> int:
    """The file port of a cycler whose control port is ``port`` when none is given: the next
    port (9031 -> 9032, as MITS does).

    Raises:
        ConfigError: for port 65535, which has no next port.
    """
    if port >= 0xFFFF:
        raise ConfigError(f"control port {port} has no next port for files: give the file port")
    return port + 1


_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_CYCLER_KEYS = frozenset({"host", "port", "file_port"})
_CREDENTIAL_KEYS = frozenset({"env_file", "username", "password"})
# [web]: the dashboard's users and audit log (read by pyctiarbin.web.auth).
_TOP_KEYS = frozenset({"credentials", "cyclers", "mqtt", "web"})
_MQTT_KEYS = frozenset(
    {"url", "username", "password", "ca_file", "cert_file", "key_file", "queue_size"}
)

#: Where the logger's MQTT publisher finds its broker credentials and TLS files (these win over
#: the config file's ``[mqtt]`` table).
ENV_MQTT_USERNAME = "PYCTI_MQTT_USERNAME"
ENV_MQTT_PASSWORD = "PYCTI_MQTT_PASSWORD"
ENV_MQTT_CA_FILE = "PYCTI_MQTT_CA_FILE"
ENV_MQTT_CERT_FILE = "PYCTI_MQTT_CERT_FILE"
ENV_MQTT_KEY_FILE = "PYCTI_MQTT_KEY_FILE"


class ConfigError(ValueError):
    """A lab config file, a cycler spec or the credentials settings are wrong.

    The message names the file and the key (never a password).
    """


# ------------------------------------------------------------------------------------------
# Reading the lab's TOML files (lab config, alert rules, plans): the same errors for each


@contextlib.contextmanager
def reading_file(path: Path, what: str, error: type[ValueError] = ConfigError) -> Iterator[None]:
    """Read the ``what`` file at ``path`` (``"config"``, ``"rules"``, ...) inside this block.

    Raises:
        ValueError: ``error``, naming the file, if it does not exist, cannot be read, or is not
            valid TOML.
    """
    try:
        yield
    except FileNotFoundError:
        raise error(f"{what} file {path} does not exist") from None
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path} is not valid TOML: {exc}") from exc


def read_toml(path: Path, what: str, error: type[ValueError] = ConfigError) -> dict[str, Any]:
    """The TOML document of the ``what`` file at ``path``.

    Raises:
        ValueError: ``error`` as :func:`reading_file` says.
    """
    with reading_file(path, what, error), path.open("rb") as handle:
        document: dict[str, Any] = tomllib.load(handle)
    return document


def check_table(
    table: Any,
    where: str,
    keys: frozenset[str],
    *,
    shape: str = "a table",
    error: type[ValueError] = ConfigError,
) -> dict[str, Any]:
    """``table`` if it is a table holding only ``keys``.

    Raises:
        ValueError: ``error``, starting with ``where``, if ``table`` is not a table (``where
            must be <shape>``) or has a key outside ``keys`` (naming both).
    """
    if not isinstance(table, dict):
        raise error(f"{where} must be {shape}")
    unknown = set(table) - keys
    if unknown:
        raise error(
            f"{where} has unknown key(s) {', '.join(sorted(unknown))}; "
            f"expected {', '.join(sorted(keys))}"
        )
    return table


@dataclass(frozen=True, slots=True)
class CyclerAddress:
    """Where one cycler listens. ``name`` is the config name, or None for a bare address.

    :func:`resolve_cycler` and the config file give ``file_port`` the control port + 1 when
    none is given (:func:`default_file_port`).
    """

    host: str
    port: int = DEFAULT_PORT
    file_port: int = DEFAULT_FILE_PORT
    name: str | None = None

    def __str__(self) -> str:
        address = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return f"{self.name} ({address})" if self.name else address

    @property
    def label(self) -> str:
        """The name if there is one, else ``host:port``: short, for logs and tables."""
        return self.name or str(self)


@dataclass(frozen=True, slots=True)
class CredentialsConfig:
    """The ``[credentials]`` table. The password never appears in the repr."""

    env_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """The ``[mqtt]`` table: the broker the logger publishes to (``url``,
    ``mqtt://HOST[:PORT][/PREFIX]`` or ``mqtts://``), its credentials and TLS files, and the
    queue size per cycler. The password never appears in the repr."""

    url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    queue_size: int | None = None


@dataclass(frozen=True, slots=True)
class LabConfig:
    """A loaded lab config file (``path`` is None for an empty, in-memory config)."""

    path: Path | None = None
    credentials: CredentialsConfig = field(default_factory=CredentialsConfig)
    cyclers: Mapping[str, CyclerAddress] = field(default_factory=lambda: MappingProxyType({}))
    mqtt: MqttConfig = field(default_factory=MqttConfig)

    def cycler(self, name: str) -> CyclerAddress:
        """The cycler called ``name``.

        Raises:
            ConfigError: if the config names no such cycler (the message lists the known ones).
        """
        try:
            return self.cyclers[name]
        except KeyError:
            where = f"the config file {self.path}" if self.path else "the lab config"
            known = ", ".join(sorted(self.cyclers)) or "none"
            raise ConfigError(
                f"unknown cycler {name!r}: {where} names these cyclers: {known}"
            ) from None


# ------------------------------------------------------------------------------------------
# Loading


def _check_port(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{where} must be a TCP port number (1..65535), not {value!r}")
    return value


def host_ports(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """The (control, file) ports of a cycler given by host alone.

    ``$PYCTI_PORT`` / ``$PYCTI_FILE_PORT`` when set, else 9031 and the control port + 1. A
    config file's or a ``HOST:PORT`` spec's port is never replaced by them. Raises ConfigError
    naming the variable when one is not a port number.
    """
    env = os.environ if environ is None else environ
    ports: list[int] = []
    for variable in (PORT_ENV_VAR, FILE_PORT_ENV_VAR):
        text = env.get(variable, "").strip()
        if not text:
            ports.append(DEFAULT_PORT if not ports else default_file_port(ports[0]))
            continue
        try:
            value = int(text)
        except ValueError:
            value = -1
        if not 1 <= value <= 65535:
            raise ConfigError(f"${variable} must be a TCP port number (1..65535), not {text!r}")
        ports.append(value)
    return ports[0], ports[1]


def _check_text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string, not {value!r}")
    return value.strip()


def _check_private(path: Path) -> None:
    """Refuse a password in a file that other users may read (POSIX only)."""
    if os.name == "nt":
        return
    mode = path.stat().st_mode
    if mode & stat.S_IROTH:
        raise ConfigError(
            f"{path} holds a password but other users may read it (mode "
            f"{stat.S_IMODE(mode):03o}); run 'chmod o-rwx {path}', or move the password to an "
            f"env file or to the {ENV_PASSWORD} environment variable"
        )
    if mode & stat.S_IRGRP:
        log.warning("%s holds a password and its group may read it", path)


def _parse_credentials(table: Any, path: Path) -> CredentialsConfig:
    where = f"{path}: [credentials]"
    table = check_table(table, where, _CREDENTIAL_KEYS)
    env_file = None
    if "env_file" in table:
        env_file = Path(_check_text(table["env_file"], f"{where} env_file")).expanduser()
        if not env_file.is_absolute():
            env_file = path.parent / env_file
    username = _check_text(table["username"], f"{where} username") if "username" in table else None
    password = None
    if "password" in table:
        if not isinstance(table["password"], str):
            raise ConfigError(f"{where} password must be a string")
        if env_file is not None:
            raise ConfigError(f"{where} gives both env_file and password; keep one")
        _check_private(path)
        password = table["password"]
    return CredentialsConfig(env_file, username, password)


def _parse_cycler(name: str, table: Any, path: Path) -> CyclerAddress:
    where = f"{path}: [cyclers.{name}]"
    if not _NAME.match(name):
        raise ConfigError(f"{where}: a cycler name holds letters, digits, '_', '-' and '.' only")
    table = check_table(table, where, _CYCLER_KEYS, shape="a table with host, port and file_port")
    if "host" not in table:
        raise ConfigError(f"{where} lacks the host key")
    host = _check_text(table["host"], f"{where} host")
    port = _check_port(table.get("port", DEFAULT_PORT), f"{where} port")
    file_port = (
        _check_port(table["file_port"], f"{where} file_port")
        if "file_port" in table
        else default_file_port(port)
    )
    return CyclerAddress(host, port, file_port, name)


def _parse_mqtt(table: Any, path: Path) -> MqttConfig:
    where = f"{path}: [mqtt]"
    table = check_table(table, where, _MQTT_KEYS)
    text = {
        key: _check_text(table[key], f"{where} {key}")
        for key in table
        if key in ("url", "username", "ca_file", "cert_file", "key_file")
    }
    files = {}
    for key in ("ca_file", "cert_file", "key_file"):
        if key in text:
            file = Path(text[key]).expanduser()
            files[key] = file if file.is_absolute() else path.parent / file
    password = None
    if "password" in table:
        if not isinstance(table["password"], str):
            raise ConfigError(f"{where} password must be a string")
        _check_private(path)
        password = table["password"]
    queue_size = table.get("queue_size")
    if queue_size is not None and (
        isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1
    ):
        raise ConfigError(f"{where} queue_size must be a positive integer, not {queue_size!r}")
    return MqttConfig(
        text.get("url"), text.get("username"), password, queue_size=queue_size, **files
    )


def load_lab_config(path: str | os.PathLike[str]) -> LabConfig:
    """Read the lab config file at ``path`` (TOML, see the module docstring).

    Raises:
        ConfigError: if the file does not exist, cannot be read, is not valid TOML, has an
            unknown key or a wrong value, or holds a password while others may read it.
    """
    config_path = Path(path).expanduser()
    data = read_toml(config_path, "config")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"{config_path} has unknown top-level key(s) {', '.join(sorted(unknown))}; "
            "expected [credentials], [cyclers.NAME] and [mqtt] tables"
        )
    credentials = _parse_credentials(data.get("credentials", {}), config_path)
    cyclers_table = data.get("cyclers", {})
    if not isinstance(cyclers_table, dict):
        raise ConfigError(f"{config_path}: cyclers must be tables like [cyclers.NAME]")
    cyclers = {
        name: _parse_cycler(name, table, config_path) for name, table in cyclers_table.items()
    }
    mqtt = _parse_mqtt(data["mqtt"], config_path) if "mqtt" in data else MqttConfig()
    return LabConfig(config_path, credentials, MappingProxyType(cyclers), mqtt)


# ------------------------------------------------------------------------------------------
# Cyclers


def parse_host_port(text: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (or ``[IPv6]:PORT``) into host and port.

    Raises:
        ConfigError: if there is no port, the port is not a number in 1..65535, or no host.
    """
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ConfigError(f"expected [IPV6]:PORT, not {text!r}")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            raise ConfigError(f"expected HOST:PORT, not {text!r}")
    if not host:
        raise ConfigError(f"no host in {text!r}; expected HOST:PORT")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"port {port_text!r} in {text!r} is not a number in 1..65535")
    return host, int(port_text)


def resolve_cycler(
    spec: str, config: LabConfig | None = None, *, file_port: int | None = None
) -> CyclerAddress:
    """The cycler ``spec`` stands for.

    ``spec`` is ``NAME`` (a ``[cyclers.NAME]`` of ``config``), ``HOST:PORT``, or
    ``NAME=HOST:PORT`` (a name for logs and tables, with its address). ``file_port`` overrides
    the file port (default: the config's, else the control port + 1).

    Raises:
        ConfigError: for a malformed spec, or a NAME the config does not define (or no config).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("a cycler is NAME, HOST:PORT or NAME=HOST:PORT, not an empty string")
    spec = spec.strip()
    name, equals, address = spec.partition("=")
    if equals:
        name = name.strip()
        if not _NAME.match(name):
            raise ConfigError(
                f"cycler name {name!r} in {spec!r}: use letters, digits, '_', '-' and '.'"
            )
        host, port = parse_host_port(address)
        return CyclerAddress(host, port, file_port or default_file_port(port), name)
    if ":" in spec:
        host, port = parse_host_port(spec)
        return CyclerAddress(host, port, file_port or default_file_port(port))
    if config is None or config.path is None:
        raise ConfigError(
            f"cycler {spec!r} is a name, but no config file was given (--config or "
            f"{CONFIG_ENV_VAR}); give HOST:PORT instead"
        )
    found = config.cycler(spec)
    if file_port is not None:
        return CyclerAddress(found.host, found.port, file_port, found.name)
    return found


# ------------------------------------------------------------------------------------------
# Credentials


def _read_env_file(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    if not path.is_file():
        raise ConfigError(f"credentials file {path} does not exist")
    return {
        key: value
        for key, value in dotenv_values(path).items()
        if key in (ENV_USERNAME, ENV_PASSWORD) and value is not None
    }


def resolve_lab_credentials(
    config: LabConfig | None = None,
    *,
    username: str | None = None,
    env_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """The credentials to log in with, looked up in this order, each value on its own:

    1. ``username`` (a user name only: a password is never taken as an argument here);
    2. the ``ARBIN_CTI_USERNAME`` / ``ARBIN_CTI_PASSWORD`` environment variables;
    3. the ``env_file`` given (a ``.env`` file), if any;
    4. the config's ``[credentials]``: its ``env_file``, or its ``username``/``password``;
    5. ``.env`` in the working directory, if it exists and nothing above named a file.

    The returned :class:`Credentials` names its sources in ``source`` (never the values).

    Raises:
        ConfigError: if a named env file does not exist, or no user name or no password is
            found anywhere (the message says where it looked).
    """
    env = os.environ if environ is None else environ
    sources: list[tuple[str, dict[str, str]]] = []
    if username is not None:
        sources.append(("--user", {ENV_USERNAME: username}))
    sources.append(("environment", {k: env[k] for k in (ENV_USERNAME, ENV_PASSWORD) if k in env}))
    named_file = False
    if env_file is not None:
        path = Path(env_file).expanduser()
        sources.append((str(path), _read_env_file(path)))
        named_file = True
    section = config.credentials if config is not None else CredentialsConfig()
    if section.env_file is not None:
        sources.append((str(section.env_file), _read_env_file(section.env_file)))
        named_file = True
    inline = {
        key: value
        for key, value in ((ENV_USERNAME, section.username), (ENV_PASSWORD, section.password))
        if value is not None
    }
    if inline and config is not None:
        sources.append((f"config {config.path}", inline))
    default_env = Path.cwd() / ".env"
    if not named_file and default_env.is_file():
        sources.append((str(default_env), _read_env_file(default_env)))

    found: dict[str, tuple[str, str]] = {}
    for label, values in sources:
        for key, value in values.items():
            found.setdefault(key, (value, label))
    missing = [key for key in (ENV_USERNAME, ENV_PASSWORD) if key not in found]
    if missing:
        looked = ", ".join(label for label, _ in sources)
        if not named_file and not default_env.is_file():
            looked += f", {default_env} (absent)"
        what = " and no ".join("user name" if k == ENV_USERNAME else "password" for k in missing)
        raise ConfigError(f"no CTI {what} found; looked in: {looked}")
    (user, user_source), (secret, secret_source) = found[ENV_USERNAME], found[ENV_PASSWORD]
    source = user_source if user_source == secret_source else f"{user_source} + {secret_source}"
    return Credentials(user, secret, source)
