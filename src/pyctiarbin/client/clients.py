"""``CyclerClient`` (blocking) and ``AsyncCyclerClient`` (asyncio).

Both take the same arguments and have the same methods, written once (:class:`_Commands`,
:class:`_FileCommands`): a method turns its arguments into an operation from :mod:`.operations`
and the client's link runs it, in place for the blocking classes, as a coroutine for the
asyncio ones. Local file reads and writes run in a worker thread under asyncio.

Channels are the 1-based numbers MITS displays. Methods raise:

* ``ValueError`` (or :class:`EncodeError`, a ``ValueError``) for a bad argument, before
  anything is sent;
* :class:`CommandRejected` (or a subclass such as :class:`ChannelRunning`) when the cycler
  refuses, with its documented code and meaning; :class:`BatchRejected` when some channels of a
  multi-channel command refuse;
* :class:`CtiTimeout` (a ``TimeoutError``) when no answer arrives within ``timeout``;
* :class:`CtiConnectionError` when the cycler cannot be reached; for a control command whose
  answer was lost, ``outcome_unknown`` is true and the command was not sent again;
* :class:`LoginError` when the cycler refuses the credentials;
* :class:`UnsupportedCommand` when the server answers that it does not know the command
  (UNKNOWN_CODE_FEEDBACK); the connection stays usable.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import re
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from types import MethodType
from typing import Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload

from ..credentials import resolve_credentials
from ..protocol import (
    ChannelSelection,
    ChannelTable,
    LoginFeedback,
    ServerVersion,
)
from ..shared import DEFAULT_FILE_PORT, DEFAULT_PORT, AsyncClosedOnExit, ClosedOnExit
from . import operations as ops
from .operations import Operation, ProgressCallback
from .session import (
    AsyncLink,
    ConnectionState,
    LinkCore,
    LinkSettings,
    LocalWork,
    Plan,
    RetryPolicy,
    SyncLink,
)
from .status import ChannelStatus

__all__ = ["AsyncCyclerClient", "AsyncFiles", "CyclerClient", "Files"]

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_TIMEOUT_S = 10.0


class _Blocking:
    """Marks a class whose commands block until done."""

    _asynchronous: Literal[False] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _bind_commands(cls)


class _Asyncio:
    """Marks a class whose commands are coroutines."""

    _asynchronous: Literal[True] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _bind_commands(cls)


def _bind_commands(cls: type) -> None:
    """Give ``cls`` each of its commands as the plain function of its kind: looking one up
    then costs what a method lookup costs, not a descriptor call."""
    asynchronous = getattr(cls, "_asynchronous", False)
    for name in dir(cls):
        found = inspect.getattr_static(cls, name)
        if isinstance(found, _Command):
            setattr(cls, name, found._asynchronous if asynchronous else found._blocking)


def _forwarder(build: Callable[..., Any], *, asynchronous: bool) -> Callable[..., Any]:
    """A function taking the parameters of ``build`` that runs what ``build`` makes of them on
    the client's link (awaited, if ``asynchronous``).

    It is written out with those parameters, as dataclasses writes an ``__init__``: a
    ``*args, **kwargs`` wrapper packs and unpacks every call's arguments, which costs a
    one-channel read some 2 %.
    """
    namespace: dict[str, Any] = {"_build": build}
    header: list[str] = []
    call: list[str] = []
    positional_only = keyword_only = False
    for parameter in inspect.signature(build).parameters.values():
        name, kind = parameter.name, parameter.kind
        if name.startswith("_"):  # would shadow the names the function itself uses
            raise TypeError(f"{build.__qualname__}: a parameter name must not start with '_'")
        if positional_only and kind is not parameter.POSITIONAL_ONLY:
            header.append("/")
            positional_only = False
        written = name
        if parameter.default is not parameter.empty:
            namespace[f"_default_{name}"] = parameter.default
            written += f"=_default_{name}"
        if kind is parameter.VAR_POSITIONAL:
            header.append(f"*{name}")
            call.append(f"*{name}")
            keyword_only = True
        elif kind is parameter.VAR_KEYWORD:
            header.append(f"**{name}")
            call.append(f"**{name}")
        elif kind is parameter.KEYWORD_ONLY:
            if not keyword_only:
                header.append("*")
                keyword_only = True
            header.append(written)
            call.append(f"{name}={name}")
        else:
            header.append(written)
            call.append(name)
            positional_only = kind is parameter.POSITIONAL_ONLY or not call[:-1]  # the client
    if positional_only:
        header.append("/")
    prefix, run = ("async ", "await ") if asynchronous else ("", "")
    source = (
        f"{prefix}def forward({', '.join(header)}):\n"
        f"    return {run}{call[0]}._link.run(_build({', '.join(call)}))\n"
    )
    exec(source, namespace)  # the source is made above from a signature, nothing else
    return namespace["forward"]  # type: ignore[no-any-return]


class _Command(Generic[P, T]):
    """A client method written once for both kinds of client.

    ``build`` turns the arguments into an operation (or a :data:`Plan` of operations and local
    file work); the client's link runs it. Read from a blocking class, the method is a plain
    function; from an asyncio class, a coroutine function. Both carry ``build``'s docstring and
    signature.
    """

    def __init__(self, build: Callable[Concatenate[Any, P], Operation[T] | Plan[T]]) -> None:
        blocking = functools.wraps(build)(_forwarder(build, asynchronous=False))
        asynchronous = functools.wraps(build)(_forwarder(build, asynchronous=True))
        # Shown as returning what the command returns, not the operation that computes it.
        signature = inspect.signature(build)
        built = re.fullmatch(r"(?:Operation|Plan)\[(.*)\]", str(signature.return_annotation))
        if built is not None:
            signature = signature.replace(return_annotation=built.group(1))
        blocking.__signature__ = asynchronous.__signature__ = signature  # type: ignore[attr-defined]
        self._blocking = blocking
        self._asynchronous = asynchronous
        self.__doc__ = build.__doc__

    @classmethod
    def of(cls, operation: Callable[P, Operation[T]]) -> _Command[P, T]:
        """The command that runs ``operation`` as it stands: its arguments, its docstring."""

        @functools.wraps(operation)
        def build(client: Any, /, *args: P.args, **kwargs: P.kwargs) -> Operation[T]:
            return operation(*args, **kwargs)

        # The method's signature: the operation's, after the client.
        signature = inspect.signature(operation)
        this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
        build.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[this, *signature.parameters.values()]
        )
        return cls(build)

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Callable[..., Any]: ...

    @overload
    def __get__(self, client: _Blocking, owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, client: _Asyncio, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, client: Any, owner: type[Any]) -> Callable[..., Any]:
        function = self._asynchronous if getattr(owner, "_asynchronous", False) else self._blocking
        return function if client is None else MethodType(function, client)


command = _Command


class _ClientState:
    """Settings, connection state and login facts of a client (not its commands)."""

    _link: LinkCore

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        username: str | None = None,
        password: str | None = None,
        env_path: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float | None = None,
        file_port: int = DEFAULT_FILE_PORT,
        retries: int = 3,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        file_login: bool = True,
        lenient_checksum: bool = False,
        server_version: ServerVersion | str | int | None = None,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise ValueError("host must be a non-empty string")
        for name, value in (("port", port), ("file_port", file_port)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
                raise ValueError(f"{name} must be a TCP port (1..65535), not {value!r}")
        if not isinstance(lenient_checksum, bool):
            raise ValueError(f"lenient_checksum must be True or False, not {lenient_checksum!r}")
        control = LinkSettings(
            host,
            port,
            resolve_credentials(username, password, env_path=env_path),
            float(timeout),
            float(connect_timeout if connect_timeout is not None else timeout),
            RetryPolicy(retries, backoff_s, max_backoff_s),
            "cycler",
            True,
            lenient_checksum,
            _server_version(server_version),
        )
        files = dataclasses.replace(control, port=file_port, label="file service", login=file_login)
        self._open_links(control, files)

    def _open_links(self, control: LinkSettings, files: LinkSettings) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = self._link.settings
        return (
            f"<{type(self).__name__} {settings.host}:{settings.port} "
            f"user={settings.credentials.username!r} {self._link.state.value}>"
        )

    @property
    def host(self) -> str:
        """The cycler's host name or address."""
        return self._link.settings.host

    @property
    def port(self) -> int:
        """The CTI control port."""
        return self._link.settings.port

    @property
    def state(self) -> ConnectionState:
        """The control connection's state."""
        return self._link.state

    @property
    def login_info(self) -> LoginFeedback:
        """The login feedback (``num_channels``, ``serial_number``, ``note``, ...).

        Raises CtiConnectionError if the client has not connected yet.
        """
        info = self._link.login_info
        if info is None:
            from ..errors import CtiConnectionError

            raise CtiConnectionError("not connected yet: call connect() or use 'with'")
        return info

    @property
    def num_channels(self) -> int:
        """The number of channels the login reported. Raises CtiConnectionError before the
        first connection."""
        return self.login_info.num_channels

    @property
    def server_version(self) -> ServerVersion:
        """The server version whose command variants the client uses: the login's, or the
        ``server_version`` option. Raises CtiConnectionError before the first connection."""
        return self.login_info.server_version

    @property
    def reported_server_version(self) -> ServerVersion:
        """The server version the login feedback reported (even when overridden)."""
        info = self.login_info  # raises if not connected
        reported = self._link.reported_version
        return reported if reported is not None else info.server_version


def _server_version(value: ServerVersion | str | int | None) -> ServerVersion | None:
    """Check the ``server_version`` option: a ServerVersion, its name or its number."""
    if value is None or isinstance(value, ServerVersion):
        return value
    if isinstance(value, str):
        return ServerVersion.from_name(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF:
        return ServerVersion(value)
    raise ValueError(f"server_version must be a ServerVersion, its name or number, not {value!r}")


class _Commands:
    """The cycler commands, written once for :class:`CyclerClient` and
    :class:`AsyncCyclerClient` (see :class:`_Command`)."""

    # -- reads -------------------------------------------------------------------------------

    @command
    def read_channel(self, channel: int, *, aux: bool | int = False) -> Operation[ChannelStatus]:
        """Read one channel (1-based). ``aux=True`` asks for aux, BMS and SMB readings."""
        return ops.read_channel(channel, aux)

    @command
    def read_channels(
        self,
        channels: Iterable[int] | None = None,
        *,
        selection: int = ChannelSelection.ALL,
        aux: bool | int = False,
    ) -> Operation[list[ChannelStatus]]:
        """Read all channels (or those listed) in ONE request, sorted by channel.

        ``selection``: :class:`ChannelSelection` ALL, RUNNING or UNSAFE.
        """
        return ops.read_channels(channels, selection, aux)

    @command
    def read_channels_columns(
        self,
        channels: Iterable[int] | None = None,
        *,
        selection: int = ChannelSelection.ALL,
        aux: bool | int = False,
    ) -> Operation[ChannelTable]:
        """:meth:`read_channels` as columns: one :class:`ChannelTable` whose rows are the
        channels, sorted by channel (``table["voltage_v"]``, ``table.array("voltage_v")``,
        ``table.records()``). Cheaper than building a status per channel."""
        return ops.read_channels_columns(channels, selection, aux)

    get_start_data = command.of(ops.get_start_data)
    get_resume_data = command.of(ops.get_resume_data)
    serial_number = command.of(ops.serial_number)

    # -- control -----------------------------------------------------------------------------

    assign_schedule = command.of(ops.assign_schedule)
    start = command.of(ops.start)
    start_ex = command.of(ops.start_ex)
    continue_channels = command.of(ops.continue_channels)
    resume = command.of(ops.resume)
    resume_ex = command.of(ops.resume_ex)
    stop = command.of(ops.stop)
    jump = command.of(ops.jump)
    set_meta_variable = command.of(ops.set_meta_variable)
    set_meta_variables = command.of(ops.set_meta_variables)
    set_kick_out = command.of(ops.set_kick_out)
    send_message = command.of(ops.send_message)
    start_auto_calibration = command.of(ops.start_auto_calibration)

    # -- commands of newer servers (see ServerVersion.capabilities) ---------------------------

    get_meta_variables = command.of(ops.get_meta_variables)
    set_meta_variables_ex = command.of(ops.set_meta_variables_ex)
    set_meta_variables_time_sensitive = command.of(ops.set_meta_variables_time_sensitive)
    read_channels_simple = command.of(ops.read_channels_simple)
    read_current_voltage = command.of(ops.read_current_voltage)
    read_test_objects = command.of(ops.read_test_objects)
    get_barcodes = command.of(ops.get_barcodes)
    set_barcodes = command.of(ops.set_barcodes)
    machine_type = command.of(ops.machine_type)
    tray_status = command.of(ops.tray_status)
    engage_trays = command.of(ops.engage_trays)
    set_data_log_interval = command.of(ops.set_data_log_interval)
    server_software_version = command.of(ops.server_software_version)
    string_limits = command.of(ops.string_limits)
    check_file = command.of(ops.check_file)
    assign_file = command.of(ops.assign_file)
    modify_schedule = command.of(ops.modify_schedule)
    start_advanced = command.of(ops.start_advanced)
    aux_mapping = command.of(ops.aux_mapping)


class CyclerClient(_Blocking, ClosedOnExit, _ClientState, _Commands):
    """A blocking CTI client. Safe to share between threads (one command at a time).

    ``CyclerClient(host, port=9031, *, username=None, password=None, env_path=None,
    timeout=10.0, connect_timeout=None, file_port=9032, retries=3, backoff_s=0.2,
    max_backoff_s=5.0, file_login=True, lenient_checksum=False, server_version=None)``

    Command variants (legacy, VLS, JSON, resume-by-MV) follow the server version the login
    reports, as in Arbin's client; ``server_version`` (a :class:`ServerVersion`, its name such
    as ``"MitsX_3"``, or its number) overrides it for a server that reports the wrong one.

    ``lenient_checksum=True`` also accepts a peer that sends every frame with its checksum
    field zeroed and the real checksum in two bytes after the frame (pycti-arbin 0.0.13's
    ``ArbinSpoofer``); a warning is logged once per connection. Strict by default: such a
    frame is a corrupted frame, and the connection is closed.

    Answers are matched to requests by feedback code, channel and transfer identity; anything
    else on the connection closes it (a read is retried, a control command raises
    :class:`CtiConnectionError` with ``outcome_unknown=True``). See :mod:`.session`.

    Credentials: the arguments, else ``ARBIN_CTI_USERNAME``/``ARBIN_CTI_PASSWORD`` from the
    environment, else the ``.env`` file at ``env_path`` (default ``./.env``); ValueError if none.
    Use it as a context manager, or call :meth:`connect` and :meth:`close`. Commands connect
    (and reconnect) by themselves.
    """

    _link: SyncLink

    def _open_links(self, control: LinkSettings, files: LinkSettings) -> None:
        self._link = SyncLink(control)
        self.files = Files(files)

    def __enter__(self) -> CyclerClient:
        self.connect()
        return self

    def connect(self) -> LoginFeedback:
        """Connect and log in; returns the login feedback. Raises CtiConnectionError, LoginError."""
        return self._link.open()

    def close(self) -> None:
        """Close the control and file connections."""
        self._link.close()
        self.files.close()


class _FileCommands:
    """File commands over the file port (9032), written once for :class:`Files` and
    :class:`AsyncFiles`; the connection opens on first use."""

    _link: LinkCore

    def __init__(self, settings: LinkSettings) -> None:
        link_class: type[LinkCore] = AsyncLink if isinstance(self, _Asyncio) else SyncLink
        self._link = link_class(settings)

    browse = command.of(ops.browse)

    @command
    def download(
        self,
        path: str,
        local_path: str | os.PathLike[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> Plan[bytes]:
        """Download a file (all chunks, each checked by MD5); also write it to ``local_path``.

        ``progress(chunks_done, chunk_count, bytes_done)`` is called after each chunk. Raises
        OSError if ``local_path`` cannot be written.
        """
        data: bytes = yield ops.download(path, progress)
        if local_path is not None:
            yield LocalWork(Path(local_path).write_bytes, data)
        return data

    @command
    def upload(
        self,
        path: str,
        data: bytes | str | os.PathLike[str],
        *,
        chunk_size: int = ops.DEFAULT_CHUNK_SIZE,
        progress: ProgressCallback | None = None,
    ) -> Plan[None]:
        """Upload ``data`` (bytes, or the path of a local file) to ``path`` on the cycler.

        ``progress(chunks_done, chunk_count, bytes_done)`` is called after each chunk. Raises
        OSError if the local file cannot be read.
        """
        payload = data
        if not isinstance(data, (bytes, bytearray)):
            payload = yield LocalWork(Path(data).read_bytes)
        yield ops.upload(path, payload, chunk_size, progress)  # type: ignore[arg-type]

    make_dir = command.of(ops.make_dir)
    delete = command.of(ops.delete)


class Files(_Blocking, ClosedOnExit, _FileCommands):
    """File commands over the file port (9032), on a connection opened on first use."""

    _link: SyncLink

    def close(self) -> None:
        """Close the file connection."""
        self._link.close()


class AsyncFiles(_Asyncio, AsyncClosedOnExit, _FileCommands):
    """The file commands of :class:`AsyncCyclerClient`, as coroutines (see :class:`Files`)."""

    _link: AsyncLink

    async def close(self) -> None:
        """Close the file connection."""
        await self._link.close()


class AsyncCyclerClient(_Asyncio, AsyncClosedOnExit, _ClientState, _Commands):
    """The asyncio CTI client: the same arguments and methods as :class:`CyclerClient`, as
    coroutines. Safe under concurrent tasks (commands on one connection run one at a time)."""

    _link: AsyncLink

    def _open_links(self, control: LinkSettings, files: LinkSettings) -> None:
        self._link = AsyncLink(control)
        self.files = AsyncFiles(files)

    async def __aenter__(self) -> AsyncCyclerClient:
        await self.connect()
        return self

    async def connect(self) -> LoginFeedback:
        """Connect and log in; returns the login feedback. Raises CtiConnectionError, LoginError."""
        return await self._link.open()

    async def close(self) -> None:
        """Close the control and file connections."""
        await self._link.close()
        await self.files.close()
