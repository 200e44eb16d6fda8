"""``CyclerClient`` (blocking) and ``AsyncCyclerClient`` (asyncio).

Both take the same arguments and have the same methods; every method is a one-line call of an
operation from :mod:`.operations`, where the command is written once. A test checks that the
two classes keep the same method names and signatures.

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

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ..credentials import Credentials, resolve_credentials
from ..protocol import (
    BarcodeChannelType,
    ChannelSelection,
    DirEntry,
    FileKind,
    LoginFeedback,
    MachineType,
    MvDataType,
    ResumeDataRecord,
    ResumeExEntry,
    ServerVersion,
    SimpleChannelRecord,
    StartDataRecord,
    StartExEntry,
    TestObjectRecord,
    TimeSensitiveResultEntry,
)
from . import operations as ops
from .operations import FileCheck, MvValues, Operation, ProgressCallback, Target
from .session import AsyncLink, ConnectionState, LinkCore, RetryPolicy, SyncLink
from .status import ChannelStatus

__all__ = ["AsyncCyclerClient", "AsyncFiles", "CyclerClient", "Files"]

T = TypeVar("T")

DEFAULT_PORT = 9031
DEFAULT_FILE_PORT = 9032
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class _ClientConfig:
    """The checked settings both clients and their file services share."""

    host: str
    port: int
    file_port: int
    credentials: Credentials = field(repr=False)
    timeout: float
    connect_timeout: float
    retry: RetryPolicy
    file_login: bool
    lenient_checksum: bool = False
    server_version: ServerVersion | None = None

    def link_kwargs(self, label: str, login: bool) -> dict[str, Any]:
        return {
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "retry": self.retry,
            "label": label,
            "login": login,
            "zero_checksum": self.lenient_checksum,
            "server_version": self.server_version,
        }


class _ClientState:
    _config: _ClientConfig
    _control: LinkCore

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
        self._config = _ClientConfig(
            host,
            port,
            file_port,
            resolve_credentials(username, password, env_path=env_path),
            float(timeout),
            float(connect_timeout if connect_timeout is not None else timeout),
            RetryPolicy(retries, backoff_s, max_backoff_s),
            file_login,
            lenient_checksum,
            _server_version(server_version),
        )
        self._open_links(self._config)

    def _open_links(self, config: _ClientConfig) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        config = self._config
        return (
            f"<{type(self).__name__} {config.host}:{config.port} "
            f"user={config.credentials.username!r} {self._control.state.value}>"
        )

    @property
    def host(self) -> str:
        return self._config.host

    @property
    def port(self) -> int:
        return self._config.port

    @property
    def state(self) -> ConnectionState:
        """The control connection's state."""
        return self._control.state

    @property
    def login_info(self) -> LoginFeedback:
        """The login feedback (``num_channels``, ``serial_number``, ``note``, ...).

        Raises CtiConnectionError if the client has not connected yet.
        """
        info = self._control.login_info
        if info is None:
            from ..errors import CtiConnectionError

            raise CtiConnectionError("not connected yet: call connect() or use 'with'")
        return info

    @property
    def num_channels(self) -> int:
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
        reported = self._control.reported_version
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


class CyclerClient(_ClientState):
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

    _control: SyncLink

    def _open_links(self, config: _ClientConfig) -> None:
        self._control = SyncLink(
            config.host, config.port, config.credentials, **config.link_kwargs("cycler", True)
        )
        self.files = Files(config)

    def __enter__(self) -> CyclerClient:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> LoginFeedback:
        """Connect and log in; returns the login feedback. Raises CtiConnectionError, LoginError."""
        return self._control.open()

    def close(self) -> None:
        """Close the control and file connections."""
        self._control.close()
        self.files.close()

    def _run(self, op: Operation[T]) -> T:
        return self._control.run(op)

    # -- reads -------------------------------------------------------------------------------

    def read_channel(self, channel: int, *, aux: bool | int = False) -> ChannelStatus:
        """Read one channel (1-based). ``aux=True`` asks for aux, BMS and SMB readings."""
        return self._run(ops.read_channel(channel, aux))

    def read_channels(
        self,
        channels: Iterable[int] | None = None,
        *,
        selection: int = ChannelSelection.ALL,
        aux: bool | int = False,
    ) -> list[ChannelStatus]:
        """Read all channels (or those listed) in ONE request, sorted by channel.

        ``selection``: :class:`ChannelSelection` ALL, RUNNING or UNSAFE.
        """
        return self._run(ops.read_channels(channels, selection, aux))

    def get_start_data(self, channels: Target) -> list[StartDataRecord]:
        """GET_START_DATA for the channels."""
        return self._run(ops.get_start_data(channels))

    def get_resume_data(self, channels: Target) -> list[ResumeDataRecord]:
        """GET_RESUME_DATA for the channels."""
        return self._run(ops.get_resume_data(channels))

    def serial_number(self) -> int:
        """GET_SERIAL: the cycler's serial number (MITS Pro 8)."""
        return self._run(ops.serial_number())

    # -- control -----------------------------------------------------------------------------

    def assign_schedule(
        self,
        channels: Target,
        schedule: str,
        *,
        capacity_ah: float = 0.0,
        barcode: str = "",
        mv_ud: Sequence[float] | None = None,
    ) -> None:
        """Assign ``schedule`` (e.g. ``"CCCV_Charge.sdx"``) to a channel, several, or ``"all"``."""
        self._run(
            ops.assign_schedule(
                channels, schedule, capacity_ah=capacity_ah, barcode=barcode, mv_ud=mv_ud
            )
        )

    def start(self, channels: Target, test_name: str) -> None:
        """Start the assigned schedule on the channels, naming the test ``test_name``."""
        self._run(ops.start(channels, test_name))

    def start_ex(self, entries: Sequence[StartExEntry]) -> None:
        """START_EX: start with per-channel test name, schedule and step (see start_ex_entry)."""
        self._run(ops.start_ex(entries))

    def continue_channels(self, channels: Target) -> None:
        """CONTINUE paused channels."""
        self._run(ops.continue_channels(channels))

    def resume(self, channels: Target) -> None:
        """RESUME stopped tests on the channels (or ``"all"``)."""
        self._run(ops.resume(channels))

    def resume_ex(self, entries: Sequence[ResumeExEntry]) -> None:
        """RESUME_EX with explicit resume data (see resume_ex_entry)."""
        self._run(ops.resume_ex(entries))

    def stop(self, channels: Target) -> None:
        """Stop the tests on the channels (or ``"all"``)."""
        self._run(ops.stop(channels))

    def jump(self, channels: Target, step: int) -> None:
        """Jump running channels to ``step`` (1-based, as MITS numbers steps)."""
        self._run(ops.jump(channels, step))

    def set_meta_variable(self, channel: int, variable: int | str, value: float) -> None:
        """Set one meta variable (``1``..``16`` or ``"MV_UD1"``..) on a running channel."""
        self._run(ops.set_meta_variable(channel, variable, value))

    def set_meta_variables(self, values: MvValues) -> None:
        """Set many meta variables on many channels in one UPDATE_MV_ADVANCED request."""
        self._run(ops.set_meta_variables(values))

    def set_kick_out(self, flag: int) -> bool:
        """CONNECT with the kick-out flag; True if the server accepted the connection."""
        return self._run(ops.set_kick_out(flag))

    def send_message(self, text: str) -> None:
        """Show ``text`` on the MITS computer."""
        self._run(ops.send_message(text))

    def start_auto_calibration(self) -> None:
        """Start auto-calibration (the Calibration window must be open on the server)."""
        self._run(ops.start_auto_calibration())

    # -- commands of newer servers (see ServerVersion.capabilities) ---------------------------

    def get_meta_variables(
        self, channels: Target, variables: Iterable[int | str]
    ) -> dict[int, dict[int | str, float]]:
        """GET_MV: ``{channel: {variable: value}}`` for MV_UD1..16 (``3``, ``"MV_UD3"``) or
        ``PV_*`` names (``"PV_Voltage"``)."""
        return self._run(ops.get_meta_variables(channels, variables))

    def set_meta_variables_ex(
        self, values: MvValues, *, data_type: int = MvDataType.META_VALUE
    ) -> None:
        """UPDATE_MV_ADVANCED_EX: set_meta_variables with a data type and per-value results."""
        self._run(ops.set_meta_variables_ex(values, data_type))

    def set_meta_variables_time_sensitive(
        self,
        values: dict[int, dict[int | str, float]],
        *,
        timeout_s: float = 1.0,
        log_to_database: bool = True,
    ) -> list[TimeSensitiveResultEntry]:
        """POST_TIME_SENSITIVE_SET_MV (MitsX_4..8): up to 8 MV_UD values per channel."""
        return self._run(ops.set_meta_variables_time_sensitive(values, timeout_s, log_to_database))

    def read_channels_simple(
        self, channels: Iterable[int] | None = None, *, selection: int = ChannelSelection.ALL
    ) -> list[SimpleChannelRecord]:
        """GET_CHANNELS_INFO_SIMPLE_MODE: compact records of all channels (or those listed)."""
        return self._run(ops.read_channels_simple(channels, selection))

    def read_current_voltage(self, channel: int) -> tuple[float, float]:
        """The minimalist read: one channel's ``(current_a, voltage_v)``."""
        return self._run(ops.read_current_voltage(channel))

    def read_test_objects(self, channels: Iterable[int] | None = None) -> list[TestObjectRecord]:
        """GET_CHANNELS_INFO_EX: each channel's test object."""
        return self._run(ops.read_test_objects(channels))

    def get_barcodes(
        self, channels: Target, *, channel_type: int = BarcodeChannelType.IV
    ) -> dict[int, str]:
        """GET_BARCODE_INFO: ``{channel: barcode}``."""
        return self._run(ops.get_barcodes(channels, channel_type))

    def set_barcodes(
        self, barcodes: dict[int, str], *, channel_type: int = BarcodeChannelType.IV
    ) -> None:
        """ASSIGN_BARCODE_INFO: set ``{channel: barcode}``."""
        self._run(ops.set_barcodes(barcodes, channel_type))

    def machine_type(self) -> MachineType:
        """GET_MACHINE_TYPE: IV, SPTT or ALL."""
        return self._run(ops.machine_type())

    def tray_status(self, trays: Iterable[int]) -> list[dict[str, Any]]:
        """GET_TRAY_STATUS (MitsX_SPTT)."""
        return self._run(ops.tray_status(trays))

    def engage_trays(self, engage: dict[int, bool]) -> None:
        """ENGAGE_TRAY (MitsX_SPTT): ``{tray: True to engage}``."""
        self._run(ops.engage_trays(engage))

    def set_data_log_interval(self, interval_s: float) -> None:
        """SET_INTERVALTIME_LOGDATA: the data-log interval in seconds."""
        self._run(ops.set_data_log_interval(interval_s))

    def server_software_version(self) -> str:
        """GET_SERVER_SOFTWARE_VERSION_NUMBER: the server software's version text."""
        return self._run(ops.server_software_version())

    def string_limits(self) -> dict[int, int]:
        """GET_STRING_LIMIT_LENGTH: ``{string type: longest length}`` (1 = test name)."""
        return self._run(ops.string_limits())

    def check_file(self, path: str, data: bytes | None = None) -> FileCheck:
        """CHECK_FILE_EX: does ``path`` exist on the cycler (and match ``data``'s MD5)?"""
        return self._run(ops.check_file(path, data))

    def assign_file(
        self, channels: Target, file_name: str, *, kind: int = FileKind.SCHEDULE
    ) -> None:
        """ASSIGN_FILE: assign a file of ``kind`` (:class:`FileKind`) to the channels."""
        self._run(ops.assign_file(channels, file_name, kind))

    def modify_schedule(self, changes: Sequence[dict[str, Any]]) -> None:
        """MODIFY_SCHEDULE (MitsX_8): change schedules' aux requirements."""
        self._run(ops.modify_schedule(changes))

    def start_advanced(
        self,
        channels: Target,
        test_name: str,
        schedule: str,
        *,
        barcode: str = "",
        test_object: dict[str, Any] | None = None,
    ) -> None:
        """SCHEDULE_START_ADVANCED (MitsX_6..8): start with schedule, barcode, test object."""
        self._run(ops.start_advanced(channels, test_name, schedule, barcode, test_object))

    def aux_mapping(self) -> dict[int, dict[str, int]]:
        """GET_MAPPING_AUX (MitsX_8): ``{channel: {aux type: count}}``."""
        return self._run(ops.aux_mapping())


class Files:
    """File commands over the file port (9032), on a connection opened on first use."""

    def __init__(self, config: _ClientConfig) -> None:
        self._config = config
        self._link = SyncLink(
            config.host,
            config.file_port,
            config.credentials,
            **config.link_kwargs("file service", config.file_login),
        )

    def close(self) -> None:
        self._link.close()

    def browse(self, path: str) -> list[DirEntry]:
        """List a directory on the cycler."""
        return self._link.run(ops.browse(path))

    def download(
        self,
        path: str,
        local_path: str | os.PathLike[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> bytes:
        """Download a file (all chunks, each checked by MD5); also write it to ``local_path``.

        ``progress(chunks_done, chunk_count, bytes_done)`` is called after each chunk.
        """
        data = self._link.run(ops.download(path, progress))
        if local_path is not None:
            Path(local_path).write_bytes(data)
        return data

    def upload(
        self,
        path: str,
        data: bytes | str | os.PathLike[str],
        *,
        chunk_size: int = ops.DEFAULT_CHUNK_SIZE,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Upload ``data`` (bytes, or the path of a local file) to ``path`` on the cycler.

        ``progress(chunks_done, chunk_count, bytes_done)`` is called after each chunk.
        """
        payload = data if isinstance(data, (bytes, bytearray)) else Path(data).read_bytes()
        self._link.run(ops.upload(path, payload, chunk_size, progress))

    def make_dir(self, path: str) -> None:
        """Create a folder."""
        self._link.run(ops.make_dir(path))

    def delete(self, path: str) -> None:
        """Delete a file (only .sdx, .sdu, .can, .smb, .txt) or a folder."""
        self._link.run(ops.delete(path))


class AsyncCyclerClient(_ClientState):
    """The asyncio CTI client: the same arguments and methods as :class:`CyclerClient`, as
    coroutines. Safe under concurrent tasks (commands on one connection run one at a time)."""

    _control: AsyncLink

    def _open_links(self, config: _ClientConfig) -> None:
        self._control = AsyncLink(
            config.host, config.port, config.credentials, **config.link_kwargs("cycler", True)
        )
        self.files = AsyncFiles(config)

    async def __aenter__(self) -> AsyncCyclerClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> LoginFeedback:
        """Connect and log in; returns the login feedback. Raises CtiConnectionError, LoginError."""
        return await self._control.open()

    async def close(self) -> None:
        """Close the control and file connections."""
        await self._control.close()
        await self.files.close()

    async def _run(self, op: Operation[T]) -> T:
        return await self._control.run(op)

    async def read_channel(self, channel: int, *, aux: bool | int = False) -> ChannelStatus:
        """See :meth:`CyclerClient.read_channel`."""
        return await self._run(ops.read_channel(channel, aux))

    async def read_channels(
        self,
        channels: Iterable[int] | None = None,
        *,
        selection: int = ChannelSelection.ALL,
        aux: bool | int = False,
    ) -> list[ChannelStatus]:
        """See :meth:`CyclerClient.read_channels`."""
        return await self._run(ops.read_channels(channels, selection, aux))

    async def get_start_data(self, channels: Target) -> list[StartDataRecord]:
        return await self._run(ops.get_start_data(channels))

    async def get_resume_data(self, channels: Target) -> list[ResumeDataRecord]:
        return await self._run(ops.get_resume_data(channels))

    async def serial_number(self) -> int:
        return await self._run(ops.serial_number())

    async def assign_schedule(
        self,
        channels: Target,
        schedule: str,
        *,
        capacity_ah: float = 0.0,
        barcode: str = "",
        mv_ud: Sequence[float] | None = None,
    ) -> None:
        await self._run(
            ops.assign_schedule(
                channels, schedule, capacity_ah=capacity_ah, barcode=barcode, mv_ud=mv_ud
            )
        )

    async def start(self, channels: Target, test_name: str) -> None:
        await self._run(ops.start(channels, test_name))

    async def start_ex(self, entries: Sequence[StartExEntry]) -> None:
        await self._run(ops.start_ex(entries))

    async def continue_channels(self, channels: Target) -> None:
        await self._run(ops.continue_channels(channels))

    async def resume(self, channels: Target) -> None:
        await self._run(ops.resume(channels))

    async def resume_ex(self, entries: Sequence[ResumeExEntry]) -> None:
        await self._run(ops.resume_ex(entries))

    async def stop(self, channels: Target) -> None:
        await self._run(ops.stop(channels))

    async def jump(self, channels: Target, step: int) -> None:
        await self._run(ops.jump(channels, step))

    async def set_meta_variable(self, channel: int, variable: int | str, value: float) -> None:
        await self._run(ops.set_meta_variable(channel, variable, value))

    async def set_meta_variables(self, values: MvValues) -> None:
        await self._run(ops.set_meta_variables(values))

    async def set_kick_out(self, flag: int) -> bool:
        return await self._run(ops.set_kick_out(flag))

    async def send_message(self, text: str) -> None:
        await self._run(ops.send_message(text))

    async def start_auto_calibration(self) -> None:
        await self._run(ops.start_auto_calibration())

    # -- commands of newer servers (see ServerVersion.capabilities) ---------------------------

    async def get_meta_variables(
        self, channels: Target, variables: Iterable[int | str]
    ) -> dict[int, dict[int | str, float]]:
        """GET_MV: ``{channel: {variable: value}}`` for MV_UD1..16 (``3``, ``"MV_UD3"``) or
        ``PV_*`` names (``"PV_Voltage"``)."""
        return await self._run(ops.get_meta_variables(channels, variables))

    async def set_meta_variables_ex(
        self, values: MvValues, *, data_type: int = MvDataType.META_VALUE
    ) -> None:
        """UPDATE_MV_ADVANCED_EX: set_meta_variables with a data type and per-value results."""
        await self._run(ops.set_meta_variables_ex(values, data_type))

    async def set_meta_variables_time_sensitive(
        self,
        values: dict[int, dict[int | str, float]],
        *,
        timeout_s: float = 1.0,
        log_to_database: bool = True,
    ) -> list[TimeSensitiveResultEntry]:
        """POST_TIME_SENSITIVE_SET_MV (MitsX_4..8): up to 8 MV_UD values per channel."""
        return await self._run(
            ops.set_meta_variables_time_sensitive(values, timeout_s, log_to_database)
        )

    async def read_channels_simple(
        self, channels: Iterable[int] | None = None, *, selection: int = ChannelSelection.ALL
    ) -> list[SimpleChannelRecord]:
        """GET_CHANNELS_INFO_SIMPLE_MODE: compact records of all channels (or those listed)."""
        return await self._run(ops.read_channels_simple(channels, selection))

    async def read_current_voltage(self, channel: int) -> tuple[float, float]:
        """The minimalist read: one channel's ``(current_a, voltage_v)``."""
        return await self._run(ops.read_current_voltage(channel))

    async def read_test_objects(
        self, channels: Iterable[int] | None = None
    ) -> list[TestObjectRecord]:
        """GET_CHANNELS_INFO_EX: each channel's test object."""
        return await self._run(ops.read_test_objects(channels))

    async def get_barcodes(
        self, channels: Target, *, channel_type: int = BarcodeChannelType.IV
    ) -> dict[int, str]:
        """GET_BARCODE_INFO: ``{channel: barcode}``."""
        return await self._run(ops.get_barcodes(channels, channel_type))

    async def set_barcodes(
        self, barcodes: dict[int, str], *, channel_type: int = BarcodeChannelType.IV
    ) -> None:
        """ASSIGN_BARCODE_INFO: set ``{channel: barcode}``."""
        await self._run(ops.set_barcodes(barcodes, channel_type))

    async def machine_type(self) -> MachineType:
        """GET_MACHINE_TYPE: IV, SPTT or ALL."""
        return await self._run(ops.machine_type())

    async def tray_status(self, trays: Iterable[int]) -> list[dict[str, Any]]:
        """GET_TRAY_STATUS (MitsX_SPTT)."""
        return await self._run(ops.tray_status(trays))

    async def engage_trays(self, engage: dict[int, bool]) -> None:
        """ENGAGE_TRAY (MitsX_SPTT): ``{tray: True to engage}``."""
        await self._run(ops.engage_trays(engage))

    async def set_data_log_interval(self, interval_s: float) -> None:
        """SET_INTERVALTIME_LOGDATA: the data-log interval in seconds."""
        await self._run(ops.set_data_log_interval(interval_s))

    async def server_software_version(self) -> str:
        """GET_SERVER_SOFTWARE_VERSION_NUMBER: the server software's version text."""
        return await self._run(ops.server_software_version())

    async def string_limits(self) -> dict[int, int]:
        """GET_STRING_LIMIT_LENGTH: ``{string type: longest length}`` (1 = test name)."""
        return await self._run(ops.string_limits())

    async def check_file(self, path: str, data: bytes | None = None) -> FileCheck:
        """CHECK_FILE_EX: does ``path`` exist on the cycler (and match ``data``'s MD5)?"""
        return await self._run(ops.check_file(path, data))

    async def assign_file(
        self, channels: Target, file_name: str, *, kind: int = FileKind.SCHEDULE
    ) -> None:
        """ASSIGN_FILE: assign a file of ``kind`` (:class:`FileKind`) to the channels."""
        await self._run(ops.assign_file(channels, file_name, kind))

    async def modify_schedule(self, changes: Sequence[dict[str, Any]]) -> None:
        """MODIFY_SCHEDULE (MitsX_8): change schedules' aux requirements."""
        await self._run(ops.modify_schedule(changes))

    async def start_advanced(
        self,
        channels: Target,
        test_name: str,
        schedule: str,
        *,
        barcode: str = "",
        test_object: dict[str, Any] | None = None,
    ) -> None:
        """SCHEDULE_START_ADVANCED (MitsX_6..8): start with schedule, barcode, test object."""
        await self._run(ops.start_advanced(channels, test_name, schedule, barcode, test_object))

    async def aux_mapping(self) -> dict[int, dict[str, int]]:
        """GET_MAPPING_AUX (MitsX_8): ``{channel: {aux type: count}}``."""
        return await self._run(ops.aux_mapping())


class AsyncFiles:
    """The file commands of :class:`AsyncCyclerClient` (see :class:`Files`)."""

    def __init__(self, config: _ClientConfig) -> None:
        self._config = config
        self._link = AsyncLink(
            config.host,
            config.file_port,
            config.credentials,
            **config.link_kwargs("file service", config.file_login),
        )

    async def close(self) -> None:
        await self._link.close()

    async def browse(self, path: str) -> list[DirEntry]:
        return await self._link.run(ops.browse(path))

    async def download(
        self,
        path: str,
        local_path: str | os.PathLike[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> bytes:
        data = await self._link.run(ops.download(path, progress))
        if local_path is not None:
            Path(local_path).write_bytes(data)
        return data

    async def upload(
        self,
        path: str,
        data: bytes | str | os.PathLike[str],
        *,
        chunk_size: int = ops.DEFAULT_CHUNK_SIZE,
        progress: ProgressCallback | None = None,
    ) -> None:
        payload = data if isinstance(data, (bytes, bytearray)) else Path(data).read_bytes()
        await self._link.run(ops.upload(path, payload, chunk_size, progress))

    async def make_dir(self, path: str) -> None:
        await self._link.run(ops.make_dir(path))

    async def delete(self, path: str) -> None:
        await self._link.run(ops.delete(path))
