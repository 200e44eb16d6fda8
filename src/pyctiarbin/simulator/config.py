"""The simulated cycler, described as data: :class:`SimulatorConfig` and :class:`Faults`.

A configuration is a frozen dataclass; ``dataclasses.replace`` derives variants. Nothing here
opens a socket or touches the disk except :func:`resolve_users`, which reads the environment and
a ``.env`` file when asked to.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..protocol.codes import ServerVersion
from .cell import CellParameters

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "Faults",
    "SimulatorConfig",
    "parse_users",
    "resolve_users",
]

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "admin"


def _default_users() -> Mapping[str, str]:
    return MappingProxyType({DEFAULT_USERNAME: DEFAULT_PASSWORD})


@dataclass(frozen=True)
class Faults:
    """Misbehaviour the simulator injects so that clients can be tested against it (all off by
    default). Faults apply to the control port and the file port alike.

    - ``latency_s``: wait this long before sending each answer.
    - ``drop_after_frames``: answer this many requests on a connection, then close the
      connection when the next request arrives, without acting on it.
    - ``corrupt_checksum_every``: every N-th frame sent on a connection carries a wrong checksum.
    - ``split_writes``: write each answer in pieces of this many bytes (separate TCP segments).
    - ``stray_bytes``: send this many garbage bytes (never a token) after each frame.
    - ``silent``: read requests and never answer.

    Raises:
        ValueError: from the constructor when a value is negative, not finite, or zero where a
            positive count is needed.
    """

    latency_s: float = 0.0
    drop_after_frames: int | None = None
    corrupt_checksum_every: int | None = None
    split_writes: int | None = None
    stray_bytes: int = 0
    silent: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.latency_s) or self.latency_s < 0:
            raise ValueError(f"latency_s must be a finite number >= 0, got {self.latency_s!r}")
        if self.drop_after_frames is not None and self.drop_after_frames < 0:
            raise ValueError("drop_after_frames must be >= 0")
        for name in ("corrupt_checksum_every", "split_writes"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.stray_bytes < 0:
            raise ValueError("stray_bytes must be >= 0")

    @property
    def active(self) -> bool:
        """True when any fault is switched on."""
        return self != Faults()


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that describes a simulated cycler.

    Network: ``host``, ``port`` (control, 0 = ephemeral), ``file_port`` (file commands, 0 =
    ephemeral, ``None`` = no file server). Cycler: ``channels``, ``serial_number`` (``None``:
    ``SIM`` and the bound control port in five digits, ``SIM09031``, so that simulators running
    side by side on one host differ and a given port always gives the same one), ``nickname``,
    ``users`` (user name -> password), ``allow_control`` (False: every user may only read),
    ``read_only_users`` (these users may only read). Time: ``speed`` (simulated seconds per
    wall-clock second). Files: ``root`` (None = a fresh temporary directory, removed at stop;
    user schedules live in ``<root>/Work``). ``answer_all``: answer a one-channel status request
    with every channel, as MITS 10 does. ``faults``: see :class:`Faults`.

    Less common knobs: ``lenient`` (the seed ArbinSpoofer's leniency: an unknown schedule is
    assigned as a rest schedule under the name given, and meta variables may be set on a channel
    that is not running), ``accept_any_login`` (any user name and password logs in, as with the
    seed's spoofer), ``require_file_login`` (the file port
    also requires a LOGIN first; off by default because the documents do not say that MITS
    requires it), ``max_sessions`` (connections beyond this are refused by CONNECT, unless an
    older session agreed to be kicked out), ``aux_voltage_count`` / ``aux_temperature_count``
    (aux channels per IV channel), ``cell`` (cell parameters of every channel),
    ``channel_cells`` (1-based channel number -> cell parameters, overriding ``cell``),
    ``max_current_a`` (channel current range), ``mv_min_interval_s`` (UPDATE_MV_ADVANCED more
    often than this per channel is refused as too frequent), ``refresh_interval_s`` (a channel's
    readings are recomputed at most this often, in wall-clock seconds, unless a command changed
    the channel), ``download_chunk_bytes`` (size of download chunks), ``max_file_bytes``
    (largest file served or accepted).

    Against hostile clients: ``memory_budget_bytes`` (the most memory all connections together
    may make the simulator hold in partial frames and unfinished uploads; default 128 MiB: a
    connection whose partial frame would exceed it is closed, an upload chunk that would is
    refused with result 2), ``login_timeout_s`` (a connection that must log in and has not
    within this many seconds is closed; default 30 s, None = never).

    Server version: ``server_version`` (a :class:`~pyctiarbin.protocol.ServerVersion` or its
    name, e.g. ``"MitsX_3"``; default Pro8) is what the login reports; the server then answers
    the command variants that version is sent (VLS, JSON channel data, resume-by-MV) and
    answers UNKNOWN_CODE_FEEDBACK to commands that version lacks (see ``simulator/versions.py``).
    ``software_version`` is the text GET_SERVER_SOFTWARE_VERSION_NUMBER answers.

    Raises:
        ValueError: from the constructor when a value is out of range.
    """

    host: str = "127.0.0.1"
    port: int = 0
    file_port: int | None = 0
    channels: int = 16
    users: Mapping[str, str] = field(default_factory=_default_users)
    speed: float = 1.0
    root: str | os.PathLike[str] | None = None
    answer_all: bool = False
    faults: Faults = field(default_factory=Faults)
    serial_number: str | None = None
    nickname: str = "pycti-arbin simulator"
    allow_control: bool = True
    read_only_users: frozenset[str] = frozenset()
    lenient: bool = False
    accept_any_login: bool = False
    require_file_login: bool = False
    max_sessions: int = 256
    aux_voltage_count: int = 1
    aux_temperature_count: int = 1
    cell: CellParameters = field(default_factory=CellParameters)
    channel_cells: Mapping[int, CellParameters] = field(default_factory=dict)
    max_current_a: float = 10.0
    mv_min_interval_s: float = 0.2
    refresh_interval_s: float = 0.01
    download_chunk_bytes: int = 512 * 1024
    max_file_bytes: int = 64 * 1024 * 1024
    memory_budget_bytes: int = 128 * 1024 * 1024
    login_timeout_s: float | None = 30.0
    server_version: ServerVersion = ServerVersion.PRO8
    software_version: str = "8.00.0 (pycti-arbin simulator)"

    def __post_init__(self) -> None:
        version: Any = self.server_version
        if isinstance(version, str):
            version = ServerVersion.from_name(version)
        elif isinstance(version, int) and not isinstance(version, bool):
            version = ServerVersion(version)
        else:
            raise ValueError(f"server_version must be a ServerVersion or its name, not {version!r}")
        object.__setattr__(self, "server_version", version)
        if not self.software_version.isascii() or len(self.software_version) > 1024:
            raise ValueError("software_version must be ASCII text of at most 1024 characters")
        if not 1 <= self.channels <= 0xFFFF:
            raise ValueError(f"channels must be 1..65535, got {self.channels!r}")
        if not math.isfinite(self.speed) or self.speed <= 0:
            raise ValueError(f"speed must be a positive finite number, got {self.speed!r}")
        for name in ("port",):
            value = getattr(self, name)
            if not 0 <= value <= 0xFFFF:
                raise ValueError(f"{name} must be 0..65535, got {value!r}")
        if self.file_port is not None and not 0 <= self.file_port <= 0xFFFF:
            raise ValueError(f"file_port must be 0..65535 or None, got {self.file_port!r}")
        if not self.users and not self.accept_any_login:
            raise ValueError("users must name at least one user (or set accept_any_login=True)")
        for user, password in self.users.items():
            if not isinstance(user, str) or not isinstance(password, str):
                raise ValueError("users must map user names (str) to passwords (str)")
            if not user.isascii() or "\x00" in user:
                raise ValueError(f"user name {user!r} is not ASCII; CTI credentials are ASCII")
            if not password.isascii() or "\x00" in password:
                # Never quote the password, nor any character of it.
                raise ValueError(
                    f"the password of user {user!r} is not ASCII; CTI credentials are ASCII"
                )
            if len(user) > 32 or len(password) > 32:
                raise ValueError("user names and passwords hold at most 32 characters")
        if self.serial_number is not None and len(self.serial_number) > 16:
            raise ValueError("serial_number holds at most 16 characters")
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        if not 0 <= self.aux_voltage_count <= 64 or not 0 <= self.aux_temperature_count <= 64:
            raise ValueError("aux counts must be 0..64")
        if not math.isfinite(self.max_current_a) or self.max_current_a <= 0:
            raise ValueError("max_current_a must be positive")
        if self.mv_min_interval_s < 0 or self.refresh_interval_s < 0:
            raise ValueError("intervals must be >= 0")
        if not 1 <= self.download_chunk_bytes <= 4 * 1024 * 1024:
            raise ValueError("download_chunk_bytes must be 1..4 MiB")
        if self.max_file_bytes < 0:
            raise ValueError("max_file_bytes must be >= 0")
        if self.memory_budget_bytes < 0:
            raise ValueError(f"memory_budget_bytes must be >= 0, got {self.memory_budget_bytes!r}")
        timeout = self.login_timeout_s
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(
                f"login_timeout_s must be a positive number of seconds or None, got {timeout!r}"
            )
        for number in self.channel_cells:
            if not 1 <= number <= self.channels:
                raise ValueError(
                    f"channel_cells: no channel {number!r} (channels 1..{self.channels})"
                )
        object.__setattr__(self, "channel_cells", MappingProxyType(dict(self.channel_cells)))
        # Keep a private, read-only copy so that a caller's dict cannot change a running cycler.
        object.__setattr__(self, "users", MappingProxyType(dict(self.users)))
        object.__setattr__(self, "read_only_users", frozenset(self.read_only_users))

    def with_overrides(self, **overrides: Any) -> SimulatorConfig:
        """A copy with the given fields replaced (``Faults`` fields may be given flat, too:
        ``latency_s=0.1`` sets ``faults.latency_s``).

        Raises:
            TypeError: for a name that is neither a config nor a fault field.
            ValueError: when a value is out of range.
        """
        import dataclasses

        names = {f.name for f in dataclasses.fields(SimulatorConfig)}
        fault_names = {f.name for f in dataclasses.fields(Faults)}
        own = {k: v for k, v in overrides.items() if k in names}
        faults = {k: v for k, v in overrides.items() if k in fault_names}
        unknown = set(overrides) - names - fault_names
        if unknown:
            raise TypeError(f"unknown simulator option(s): {', '.join(sorted(unknown))}")
        config = dataclasses.replace(self, **own) if own else self
        if faults:
            config = dataclasses.replace(
                config, faults=dataclasses.replace(config.faults, **faults)
            )
        return config


def parse_users(text: str) -> dict[str, str]:
    """Parse ``USER:PASS,USER2:PASS2`` into a mapping.

    Raises:
        ValueError: if an entry has no ``:`` or an empty user name.
    """
    users: dict[str, str] = {}
    for position, entry in enumerate(text.split(","), 1):
        entry = entry.strip()
        if not entry:
            continue
        user, colon, password = entry.partition(":")
        if not colon or not user.strip():
            # The entry may be a password typed alone: never quote it.
            raise ValueError(f"--users entry {position} is not USER:PASS (not shown)")
        users[user.strip()] = password
    if not users:
        raise ValueError("--users names no user")
    return users


def resolve_users(
    users_option: str | None = None,
    *,
    env_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], str]:
    """The users of a simulator started from the command line, and where they came from.

    Order: ``users_option`` (``USER:PASS,...``), else ``ARBIN_CTI_USERNAME`` /
    ``ARBIN_CTI_PASSWORD`` from the environment, else from the ``.env`` file at ``env_path``
    (default: ``.env`` in the working directory), else ``admin:admin``. The second element
    names the source (``"--users"``, ``"environment"``, ``".env file <path>"`` or
    ``"default"``); it never contains a password.

    Raises:
        ValueError: if ``users_option`` is malformed.
    """
    if users_option:
        return parse_users(users_option), "--users"
    env = os.environ if environ is None else environ
    user, password = env.get("ARBIN_CTI_USERNAME"), env.get("ARBIN_CTI_PASSWORD")
    if user and password is not None:
        return {user: password}, "environment (ARBIN_CTI_USERNAME/ARBIN_CTI_PASSWORD)"
    path = Path(env_path) if env_path is not None else Path.cwd() / ".env"
    if path.is_file():
        from dotenv import dotenv_values

        values = dotenv_values(path)
        user, password = values.get("ARBIN_CTI_USERNAME"), values.get("ARBIN_CTI_PASSWORD")
        if user and password is not None:
            return {user: password}, f".env file {path}"
    return {DEFAULT_USERNAME: DEFAULT_PASSWORD}, "default"
