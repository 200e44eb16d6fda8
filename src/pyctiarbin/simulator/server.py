"""The asyncio CTI server of the simulator and the :class:`Simulator` that runs it.

The server speaks the wire through :mod:`pyctiarbin.protocol` in the server role: a
``FrameReader(role="server")`` per connection, :func:`~pyctiarbin.protocol.decode` for requests
and :func:`~pyctiarbin.protocol.encode` for feedbacks. Requests are dispatched through a handler
table keyed by command code. Each entry knows the port it belongs to, whether it needs a login
and control permission, and how to refuse: a request that is refused, or whose handler crashes,
is answered with the command's documented failure code. A failure that no reply can express is
logged and the connection is closed; the server itself keeps running.

Session rules:

- Before a successful LOGIN, only LOGIN and CONNECT are served on the control port; anything else
  is answered with its failure code (0x11 "not allowed to control" for channel commands, an
  empty record list for channel info). A wrong user name or password gets LOGIN result 2;
  logging in again on the same connection gets result 3 (already logged in).
- CONNECT carries the kick-out flag: 1 means "this session may be kicked out". When more than
  ``max_sessions`` connections are open, CONNECT closes the oldest other session that allowed it
  and answers 0 (accepted), or answers 1 (rejected, full) and closes the new connection.
- Channel control needs a user allowed to control (``allow_control`` and not a read-only user).
- File commands are served on the file port (LOGIN there is optional unless
  ``require_file_login``) and, after a LOGIN, on the control port too, where Arbin's own demo
  clients send them; channel commands on the control port only.
- A connection that must log in (every control-port connection; file-port ones with
  ``require_file_login``) and has not done so within ``login_timeout_s`` is closed. Before its
  LOGIN it may not send more than ``PRE_LOGIN_MAX_BYTES`` without completing a frame (LOGIN and
  CONNECT are small); a connection that does is closed.

Hostile clients: partial frames and unfinished uploads of every connection share one
:class:`~.budget.MemoryBudget` of ``memory_budget_bytes``. A connection whose partial frame
would take the total above it is closed; an upload chunk that would is answered with UPLOAD
result 2 (failed). An UPLOAD or DOWNLOAD whose time stamp is not a finite number is answered
with result 2, the time echoed bit for bit. GET_START_DATA and GET_RESUME_DATA carry test
names and step labels as 1-byte text: a character outside Latin-1 goes out as ``?``, as a
Windows server's code page conversion does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import ipaddress
import logging
import math
import os
import re
import shutil
import socket
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import ChecksumError, ProtocolError
from ..protocol import (
    AssignBarcodeFeedback,
    AssignBarcodeRequest,
    AssignBarcodeResult,
    AssignFileFeedback,
    AssignFileRequest,
    AssignFileResult,
    AssignResult,
    AssignScheduleFeedback,
    AssignScheduleRequest,
    AutoCalibrationFeedback,
    AutoCalibrationRequest,
    AutoCalibrationResult,
    AuxOptions,
    BarcodeChannelType,
    BarcodeEntry,
    BrowseDirectoryFeedback,
    BrowseDirectoryRequest,
    BrowseResult,
    ChannelInfoFeedback,
    ChannelInfoJsonFeedback,
    ChannelInfoJsonRequest,
    ChannelInfoRequest,
    ChannelInfoVlsFeedback,
    ChannelInfoVlsRequest,
    ChannelRecord,
    ChannelResult,
    ChannelsInfoExFeedback,
    ChannelsInfoExRequest,
    CheckFileExFeedback,
    CheckFileExRequest,
    ConnectFeedback,
    ConnectRequest,
    ConnectResult,
    ContinueFeedback,
    ContinueRequest,
    DeleteFolderFeedback,
    DeleteFolderRequest,
    DownloadFileFeedback,
    DownloadFileRequest,
    EngageTrayFeedback,
    EngageTrayRequest,
    FileKind,
    FileResult,
    FileTransferResult,
    FrameReader,
    GetBarcodeFeedback,
    GetBarcodeRequest,
    GetBarcodeResult,
    GetMachineTypeFeedback,
    GetMachineTypeRequest,
    GetMappingAuxFeedback,
    GetMappingAuxRequest,
    GetMetaVariableResult,
    GetMetaVariablesFeedback,
    GetMetaVariablesRequest,
    GetResumeDataByMvFeedback,
    GetResumeDataByMvRequest,
    GetResumeDataFeedback,
    GetResumeDataRequest,
    GetResumeDataVlsFeedback,
    GetResumeDataVlsRequest,
    GetSerialNumberFeedback,
    GetSerialNumberRequest,
    GetServerSoftwareVersionFeedback,
    GetServerSoftwareVersionRequest,
    GetStartDataFeedback,
    GetStartDataRequest,
    GetStringLimitsFeedback,
    GetStringLimitsRequest,
    GetTrayStatusFeedback,
    GetTrayStatusRequest,
    JumpFeedback,
    JumpRequest,
    LoginFeedback,
    LoginRequest,
    LoginResult,
    MachineType,
    MachineTypeResult,
    Message,
    MetaCode,
    MetaVariableExEntry,
    MetaVariableQuery,
    MinimalistFeedback,
    ModifyScheduleFeedback,
    ModifyScheduleRequest,
    ModifyScheduleResult,
    NewFolderFeedback,
    NewFolderRequest,
    NewOrDeleteFeedback,
    NewOrDeleteRequest,
    ResultFeedback,
    ResumeByMvFeedback,
    ResumeByMvRecord,
    ResumeByMvRequest,
    ResumeDataRecord,
    ResumeExRequest,
    ResumeExVlsFeedback,
    ResumeExVlsRequest,
    ResumeFeedback,
    ResumeRequest,
    ResumeVlsRecord,
    SendMessageFeedback,
    SendMessageRequest,
    SendMessageResult,
    SerialResult,
    ServerVersion,
    SetDataLogIntervalFeedback,
    SetDataLogIntervalRequest,
    SetMetaVariableFeedback,
    SetMetaVariableRequest,
    SimpleChannelInfoFeedback,
    SimpleChannelInfoRequest,
    SimpleChannelRecord,
    StartAdvancedFeedback,
    StartAdvancedRequest,
    StartDataRecord,
    StartExRequest,
    StartExVlsFeedback,
    StartExVlsRequest,
    StartFeedback,
    StartRequest,
    StartResult,
    StartVlsFeedback,
    StartVlsRequest,
    StatusCode,
    StopFeedback,
    StopRequest,
    StringLimit,
    TestObjectRecord,
    TimeSensitiveResult,
    TimeSensitiveResultEntry,
    TimeSensitiveSetMvFeedback,
    TimeSensitiveSetMvRequest,
    TrayResult,
    UnknownCommandFeedback,
    UpdateMetaVariableResult,
    UpdateMetaVariablesExFeedback,
    UpdateMetaVariablesExRequest,
    UpdateMetaVariablesFeedback,
    UpdateMetaVariablesRequest,
    UploadFileFeedback,
    UploadFileRequest,
    decode,
    encode,
)
from ..protocol.messages import MAX_MV_ENTRIES, VlsChannelRecord
from ..protocol.variants import channel_json, mv_list, resume_data_from_mv_list
from .budget import MemoryBudget
from .config import Faults, SimulatorConfig
from .cycler import ChannelSnapshot, Cycler
from .faults import FaultState, shape_frames
from .files import FileService, PathRefused, UploadState, prepare_root
from .versions import lacks

__all__ = ["PRE_LOGIN_MAX_BYTES", "PortBindError", "Simulator"]

logger = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
_CONTROL = "control"
_FILE = "file"
# File commands are served on both ports (on the control port after a LOGIN).
_FILES_ANY_PORT = "any"

# Why a request is refused instead of served.
_NOT_LOGGED_IN = "not logged in"
_NO_CONTROL = "user may not control"
_WRONG_PORT = "wrong port"
_ERROR = "handler error"

#: Bytes a connection that must log in may hold, before its LOGIN, without a whole frame.
PRE_LOGIN_MAX_BYTES = 64 * 1024


@dataclass(eq=False)
class _Connection:
    """One client connection (a session once logged in)."""

    number: int
    port: str
    peer: str
    local_ip: bytes
    writer: asyncio.StreamWriter
    logged_in: bool = False
    username: str = ""
    may_control: bool = False
    kick_out_allowed: bool = False
    close_after_reply: bool = False
    uploads: dict[str, UploadState] = field(default_factory=dict)
    faults: FaultState = field(default_factory=FaultState)
    #: Bytes of the partial frame reserved in the memory budget.
    frame_bytes: int = 0
    must_log_in: bool = False
    login_timer: asyncio.TimerHandle | None = None


Reply = Message | bytes
_Handle = Callable[[_Connection, Any], list[Reply]]
_Refuse = Callable[[Any, str], list[Reply]]


@dataclass(frozen=True)
class _Handler:
    """An entry of the dispatch table."""

    name: str
    handle: _Handle
    refuse: _Refuse
    port: str = _CONTROL  # _CONTROL, _FILE or "any"
    needs_login: bool = True
    needs_control: bool = False


def _r128(feedback: type[ResultFeedback], indexes: Sequence[int], code: int) -> list[Reply]:
    return [feedback(channel_index=_i32(index), result=code) for index in indexes]


def _i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x1_0000_0000 if value & 0x8000_0000 else value


def _serial_as_int(serial: str) -> int:
    digits = re.sub(r"\D", "", serial)
    return int(digits[-9:]) if digits else 0


class PortBindError(OSError):
    """A listening port of the simulator could not be bound (in use, not permitted, ...).

    ``role`` is ``"control"`` or ``"file"``; ``host`` and ``port`` are the ones asked for;
    ``errno`` and ``strerror`` are those of the underlying error.
    """

    def __init__(self, role: str, host: str, port: int, cause: OSError) -> None:
        # asyncio's message repeats the address; the system's own text says it all.
        why = os.strerror(cause.errno) if cause.errno else (cause.strerror or str(cause))
        super().__init__(cause.errno, why)
        self.role = role
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return f"cannot listen on {self.role} port {self.host}:{self.port}: {self.strerror}"


class _Server:
    """The two listening sockets, their connections and the dispatch table."""

    def __init__(
        self, config: SimulatorConfig, cycler: Cycler, files: FileService, budget: MemoryBudget
    ) -> None:
        self.config = config
        self.cycler = cycler
        self.files = files
        self.budget = budget
        self.connections: dict[int, _Connection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._servers: list[asyncio.Server] = []
        self._next_number = 0
        self.port = 0
        self.file_port: int | None = None
        self.handlers = self._handler_table()
        #: Command codes of the latest requests received, oldest first (for tests and tools).
        self.received_codes: deque[int] = deque(maxlen=_RECEIVED_CODES_KEPT)
        # State of the commands of newer servers.
        self.data_log_interval_s = 1.0
        self.trays_engaged: dict[int, bool] = {index: False for index in range(_TRAYS)}

    # -- the dispatch table --------------------------------------------------------------------

    def _handler_table(self) -> dict[int, _Handler]:
        def r128(feedback: type[ResultFeedback], refused: int, error: int | None = None) -> _Refuse:
            def refuse(request: Any, why: str) -> list[Reply]:
                code = error if (why == _ERROR and error is not None) else refused
                return _r128(feedback, _request_channels(request), code)

            return refuse

        def single(make: Callable[[Any, str], Reply]) -> _Refuse:
            return lambda request, why: [make(request, why)]

        table: list[tuple[type[Message], _Handler]] = [
            (
                LoginRequest,
                _Handler(
                    "login",
                    self._login,
                    single(lambda r, w: LoginFeedback(result=LoginResult.FAILED)),
                    "any",
                    False,
                ),
            ),
            (
                ConnectRequest,
                _Handler(
                    "connect",
                    self._connect,
                    single(lambda r, w: ConnectFeedback(connect_result=ConnectResult.REJECTED)),
                    "any",
                    False,
                ),
            ),
            (
                ChannelInfoRequest,
                _Handler(
                    "channel_info", self._channel_info, single(lambda r, w: ChannelInfoFeedback())
                ),
            ),
            (
                AssignScheduleRequest,
                _Handler(
                    "assign_schedule",
                    self._assign,
                    r128(AssignScheduleFeedback, AssignResult.ERROR, AssignResult.FAILED),
                    needs_control=True,
                ),
            ),
            (
                StartRequest,
                _Handler(
                    "start", self._start, r128(StartFeedback, StartResult.ERROR), needs_control=True
                ),
            ),
            (
                StartExRequest,
                _Handler(
                    "start_ex",
                    self._start_ex,
                    r128(StartFeedback, StartResult.ERROR),
                    needs_control=True,
                ),
            ),
            (
                ContinueRequest,
                _Handler(
                    "continue", self._continue, r128(ContinueFeedback, 0x11), needs_control=True
                ),
            ),
            (
                ResumeRequest,
                _Handler("resume", self._resume, r128(ResumeFeedback, 0x11), needs_control=True),
            ),
            (
                ResumeExRequest,
                _Handler(
                    "resume_ex", self._resume_ex, r128(ResumeFeedback, 0x11), needs_control=True
                ),
            ),
            (
                StopRequest,
                _Handler("stop", self._stop, r128(StopFeedback, 0x11), needs_control=True),
            ),
            (
                JumpRequest,
                _Handler("jump", self._jump, r128(JumpFeedback, 0x11), needs_control=True),
            ),
            (
                SetMetaVariableRequest,
                _Handler(
                    "set_meta_variable",
                    self._set_mv,
                    r128(SetMetaVariableFeedback, 0x10),
                    needs_control=True,
                ),
            ),
            (
                UpdateMetaVariablesRequest,
                _Handler(
                    "update_meta_variables",
                    self._update_mvs,
                    r128(UpdateMetaVariablesFeedback, 0x10),
                    needs_control=True,
                ),
            ),
            (
                GetSerialNumberRequest,
                _Handler(
                    "get_serial_number",
                    self._serial,
                    single(lambda r, w: GetSerialNumberFeedback(result=SerialResult.ERROR)),
                ),
            ),
            (
                GetStartDataRequest,
                _Handler(
                    "get_start_data",
                    self._start_data,
                    single(lambda r, w: _start_data_failed(r)),
                ),
            ),
            (
                GetResumeDataRequest,
                _Handler(
                    "get_resume_data",
                    self._resume_data,
                    single(lambda r, w: _resume_data_failed(r)),
                ),
            ),
            (
                SendMessageRequest,
                _Handler(
                    "send_message",
                    self._send_message,
                    single(lambda r, w: SendMessageFeedback(result=SendMessageResult.FAILED)),
                ),
            ),
            (
                AutoCalibrationRequest,
                _Handler(
                    "auto_calibration",
                    self._auto_calibration,
                    single(
                        lambda r, w: AutoCalibrationFeedback(result=AutoCalibrationResult.FAILED)
                    ),
                    needs_control=True,
                ),
            ),
            (
                BrowseDirectoryRequest,
                _Handler(
                    "browse",
                    self._browse,
                    single(lambda r, w: BrowseDirectoryFeedback(result=BrowseResult.FAILED)),
                    _FILES_ANY_PORT,
                ),
            ),
            (
                DownloadFileRequest,
                _Handler(
                    "download",
                    self._download,
                    single(lambda r, w: _download_failed(r)),
                    _FILES_ANY_PORT,
                ),
            ),
            (
                UploadFileRequest,
                _Handler(
                    "upload",
                    self._upload,
                    single(lambda r, w: _upload_failed(r)),
                    _FILES_ANY_PORT,
                ),
            ),
            (
                NewOrDeleteRequest,
                _Handler(
                    "new_or_delete",
                    self._new_or_delete,
                    single(
                        lambda r, w: NewOrDeleteFeedback(
                            result=FileResult.NEW_FAILED
                            if getattr(r, "kind", 0) == 1
                            else FileResult.DELETE_FAILED
                        )
                    ),
                    _FILES_ANY_PORT,
                ),
            ),
            (
                NewFolderRequest,
                _Handler(
                    "new_folder",
                    self._new_folder,
                    single(lambda r, w: NewFolderFeedback(result=FileResult.NEW_FAILED)),
                    _FILES_ANY_PORT,
                ),
            ),
            (
                DeleteFolderRequest,
                _Handler(
                    "delete_folder",
                    self._delete_folder,
                    single(lambda r, w: DeleteFolderFeedback(result=FileResult.DELETE_FAILED)),
                    _FILES_ANY_PORT,
                ),
            ),
            *self._newer_handlers(r128, single),
        ]
        return {int(request.CODE): handler for request, handler in table}

    def _newer_handlers(
        self,
        r128: Callable[..., _Refuse],
        single: Callable[[Callable[[Any, str], Reply]], _Refuse],
    ) -> list[tuple[type[Message], _Handler]]:
        """The version variants and the commands of ArbinCTI.dll beyond the documents."""
        return [
            (
                ChannelInfoVlsRequest,
                _Handler(
                    "channel_info_vls",
                    self._channel_info_vls,
                    single(lambda r, w: ChannelInfoVlsFeedback()),
                ),
            ),
            (
                ChannelInfoJsonRequest,
                _Handler(
                    "channel_info_json",
                    self._channel_info_json,
                    single(lambda r, w: ChannelInfoJsonFeedback({"m_Channels": []})),
                ),
            ),
            (
                StartVlsRequest,
                _Handler(
                    "start_vls",
                    self._start_vls,
                    r128(StartVlsFeedback, StartResult.ERROR),
                    needs_control=True,
                ),
            ),
            (
                StartExVlsRequest,
                _Handler(
                    "start_ex_vls",
                    self._start_ex_vls,
                    r128(StartExVlsFeedback, StartResult.ERROR),
                    needs_control=True,
                ),
            ),
            (
                ResumeExVlsRequest,
                _Handler(
                    "resume_ex_vls",
                    self._resume_ex_vls,
                    r128(ResumeExVlsFeedback, 0x11),
                    needs_control=True,
                ),
            ),
            (
                ResumeByMvRequest,
                _Handler(
                    "resume_by_mv",
                    self._resume_by_mv,
                    r128(ResumeByMvFeedback, 0x11),
                    needs_control=True,
                ),
            ),
            (
                GetResumeDataVlsRequest,
                _Handler(
                    "get_resume_data_vls",
                    self._resume_data_vls,
                    single(
                        lambda r, w: GetResumeDataVlsFeedback(
                            records=_mv_records_failed(r, ResumeVlsRecord)
                        )
                    ),
                ),
            ),
            (
                GetResumeDataByMvRequest,
                _Handler(
                    "get_resume_data_by_mv",
                    self._resume_data_by_mv,
                    single(
                        lambda r, w: GetResumeDataByMvFeedback(
                            records=_mv_records_failed(r, ResumeByMvRecord)
                        )
                    ),
                ),
            ),
            (
                GetMetaVariablesRequest,
                _Handler("get_meta_variables", self._get_mvs, single(_get_mvs_failed)),
            ),
            (
                UpdateMetaVariablesExRequest,
                _Handler(
                    "update_meta_variables_ex",
                    self._update_mvs_ex,
                    single(_update_mvs_ex_failed),
                    needs_control=True,
                ),
            ),
            (
                TimeSensitiveSetMvRequest,
                _Handler(
                    "time_sensitive_set_mv",
                    self._time_sensitive,
                    single(_time_sensitive_failed),
                    needs_control=True,
                ),
            ),
            (
                SimpleChannelInfoRequest,
                _Handler(
                    "channel_info_simple",
                    self._channel_info_simple,
                    single(lambda r, w: SimpleChannelInfoFeedback()),
                ),
            ),
            (
                ChannelsInfoExRequest,
                _Handler(
                    "channel_info_ex",
                    self._channel_info_ex,
                    single(lambda r, w: ChannelsInfoExFeedback()),
                ),
            ),
            (
                GetBarcodeRequest,
                _Handler(
                    "get_barcode",
                    self._get_barcodes,
                    single(
                        lambda r, w: _barcodes_failed(r, GetBarcodeFeedback, GetBarcodeResult.ERROR)
                    ),
                ),
            ),
            (
                AssignBarcodeRequest,
                _Handler(
                    "assign_barcode",
                    self._assign_barcodes,
                    single(
                        lambda r, w: _barcodes_failed(
                            r, AssignBarcodeFeedback, AssignBarcodeResult.ERROR
                        )
                    ),
                    needs_control=True,
                ),
            ),
            (
                GetMachineTypeRequest,
                _Handler(
                    "get_machine_type",
                    self._machine_type,
                    single(lambda r, w: GetMachineTypeFeedback(result=MachineTypeResult.ERROR)),
                ),
            ),
            (
                GetTrayStatusRequest,
                _Handler(
                    "get_tray_status",
                    self._tray_status,
                    single(lambda r, w: GetTrayStatusFeedback({"TrayStatusInfos": []})),
                ),
            ),
            (
                EngageTrayRequest,
                _Handler(
                    "engage_tray",
                    self._engage_trays,
                    single(lambda r, w: EngageTrayFeedback({"EngageTrayInfos": []})),
                    needs_control=True,
                ),
            ),
            (
                SetDataLogIntervalRequest,
                _Handler(
                    "set_data_log_interval",
                    self._set_data_log_interval,
                    single(lambda r, w: SetDataLogIntervalFeedback(result=2, reason=w)),
                    needs_control=True,
                ),
            ),
            (
                GetServerSoftwareVersionRequest,
                _Handler(
                    "get_server_software_version",
                    self._software_version,
                    single(lambda r, w: GetServerSoftwareVersionFeedback()),
                ),
            ),
            (
                GetStringLimitsRequest,
                _Handler(
                    "get_string_limits",
                    self._string_limits,
                    single(lambda r, w: GetStringLimitsFeedback()),
                ),
            ),
            (
                CheckFileExRequest,
                _Handler(
                    "check_file_ex",
                    self._check_file,
                    single(lambda r, w: CheckFileExFeedback(reason=w)),
                    _FILES_ANY_PORT,
                ),
            ),
            (
                AssignFileRequest,
                _Handler(
                    "assign_file",
                    self._assign_file,
                    single(
                        lambda r, w: AssignFileFeedback(
                            reason=w,
                            results=tuple(
                                ChannelResult(i, AssignFileResult.FAILED)
                                for i in (getattr(r, "channel_indexes", None) or ())
                            ),
                        )
                    ),
                    needs_control=True,
                ),
            ),
            (
                ModifyScheduleRequest,
                _Handler(
                    "modify_schedule",
                    self._modify_schedule,
                    single(
                        lambda r, w: _json_task_failed(
                            r, ModifyScheduleFeedback, "ScheduleModifyInfos"
                        )
                    ),
                    needs_control=True,
                ),
            ),
            (
                StartAdvancedRequest,
                _Handler(
                    "start_advanced",
                    self._start_advanced,
                    single(_start_advanced_failed),
                    needs_control=True,
                ),
            ),
            (
                GetMappingAuxRequest,
                _Handler(
                    "get_mapping_aux",
                    self._mapping_aux,
                    single(
                        lambda r, w: _json_task_failed(r, GetMappingAuxFeedback, "MappingInfos")
                    ),
                ),
            ),
        ]

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        try:
            control = await asyncio.start_server(
                lambda r, w: self._accept(r, w, _CONTROL), config.host, config.port
            )
        except OSError as exc:
            raise PortBindError(_CONTROL, config.host, config.port, exc) from exc
        self._servers.append(control)
        self.port = control.sockets[0].getsockname()[1]
        if config.serial_number is None:
            self.config = config = replace(config, serial_number=f"SIM{self.port:05d}")
        if config.file_port is not None:
            try:
                files = await asyncio.start_server(
                    lambda r, w: self._accept(r, w, _FILE), config.host, config.file_port
                )
            except OSError as exc:
                control.close()
                await control.wait_closed()
                self._servers.clear()
                raise PortBindError(_FILE, config.host, config.file_port, exc) from exc
            self._servers.append(files)
            self.file_port = files.sockets[0].getsockname()[1]

    @property
    def serial_number(self) -> str:
        """The serial number reported (the configured one, else derived from the bound port)."""
        return self.config.serial_number or f"SIM{self.port:05d}"

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self.connections.values()):
            connection.writer.transport.abort()
        # Aborted transports end every connection task by themselves; cancel what lingers.
        tasks = list(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: str
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer, port)
        except asyncio.CancelledError:
            # Only stop() cancels a connection task; ending it quietly keeps asyncio's
            # connection callback (which calls task.exception()) from reporting an error.
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)

    # -- one connection ------------------------------------------------------------------------

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: str
    ) -> None:
        self._next_number += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        connection = _Connection(
            number=self._next_number,
            port=port,
            peer=f"{peer[0]}:{peer[1]}" if peer else "?",
            local_ip=_ip_bytes(local[0] if local else ""),
            writer=writer,
            must_log_in=port == _CONTROL or self.config.require_file_login,
        )
        self.connections[connection.number] = connection
        logger.info(
            "connection %d from %s on the %s port", connection.number, connection.peer, port
        )
        timeout_s = self.config.login_timeout_s
        if connection.must_log_in and timeout_s is not None:
            connection.login_timer = asyncio.get_running_loop().call_later(
                timeout_s, self._login_overdue, connection
            )
        framer = FrameReader(role="server")
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    break
                framer.feed(data)
                if not self._hold_partial(connection, framer.buffered):
                    break
                if not await self._serve_frames(connection, framer):
                    break
                if self._too_much_before_login(connection, framer.buffered):
                    break
        except (ConnectionError, OSError) as exc:
            logger.info("connection %d: %s", connection.number, exc)
        except Exception:  # a reply that could not be built even as a failure
            logger.exception("connection %d: closing after an internal error", connection.number)
        finally:
            self.connections.pop(connection.number, None)
            if connection.login_timer is not None:
                connection.login_timer.cancel()
            self.budget.release(connection.frame_bytes)
            connection.frame_bytes = 0
            self.files.discard_uploads(connection.uploads)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            logger.info("connection %d closed", connection.number)

    def _too_much_before_login(self, connection: _Connection, partial: int) -> bool:
        """True (the connection is closed) when a connection that must log in and has not
        holds more than ``PRE_LOGIN_MAX_BYTES`` of a frame that is not whole yet."""
        if partial <= PRE_LOGIN_MAX_BYTES or connection.logged_in or not connection.must_log_in:
            return False
        logger.warning(
            "connection %d: %d bytes without a whole frame before a LOGIN; closing",
            connection.number,
            partial,
        )
        connection.writer.transport.abort()
        return True

    def _hold_partial(self, connection: _Connection, held: int) -> bool:
        """Reserve (or release) the memory of the ``held`` bytes a connection's framer holds;
        False (the connection is closed) when they would take the budget above its limit."""
        more = held - connection.frame_bytes
        if more > 0 and not self.budget.try_reserve(more):
            logger.warning(
                "connection %d: a partial frame of %d bytes would take the memory held for "
                "partial frames and unfinished uploads above the budget of %d bytes; closing",
                connection.number,
                held,
                self.budget.limit_bytes,
            )
            connection.writer.transport.abort()
            return False
        if more < 0:
            self.budget.release(-more)
        connection.frame_bytes = held
        return True

    def _login_overdue(self, connection: _Connection) -> None:
        connection.login_timer = None
        if connection.logged_in or connection.number not in self.connections:
            return
        logger.info(
            "connection %d: no LOGIN within %g s; closing",
            connection.number,
            self.config.login_timeout_s,
        )
        connection.writer.transport.abort()

    async def _serve_frames(self, connection: _Connection, framer: FrameReader) -> bool:
        """Answer every whole frame buffered; False when the connection must close."""
        while True:
            try:
                frame = framer.next_frame()
            except ChecksumError as exc:
                logger.warning("connection %d: frame dropped: %s", connection.number, exc)
                continue
            except ProtocolError as exc:
                logger.warning("connection %d: %s", connection.number, exc)
                continue
            if frame is None:
                return True
            self._hold_partial(connection, framer.buffered)  # less than before: releases only
            faults = self.config.faults
            if connection.faults.should_drop(faults):
                logger.info("connection %d: dropped by fault injection", connection.number)
                connection.writer.transport.abort()
                return False
            replies = self._dispatch(connection, frame)
            if faults.silent or not replies:
                continue
            await self._send(connection, replies, faults)
            if connection.close_after_reply:
                return False

    async def _send(self, connection: _Connection, frames: list[bytes], faults: Faults) -> None:
        plan = shape_frames(frames, faults, connection.faults)
        if plan.delay_s:
            await asyncio.sleep(plan.delay_s)
        writer = connection.writer
        for piece in plan.pieces:
            writer.write(piece)
            if plan.separate:
                await writer.drain()
                await asyncio.sleep(0.001)
        await writer.drain()

    def _dispatch(self, connection: _Connection, frame: bytes) -> list[bytes]:
        """Decode, check and handle one request; the encoded replies (maybe none)."""
        code = int.from_bytes(frame[12:16], "little")
        self.received_codes.append(code)
        if lacks(self.config.server_version, code):
            logger.info(
                "connection %d: command 0x%08X is not served by a %s server",
                connection.number,
                code,
                self.config.server_version.name,
            )
            return [encode(UnknownCommandFeedback(command=code))]
        handler = self.handlers.get(code)
        if handler is None:
            logger.warning(
                "connection %d: command 0x%08X has no documented layout; ignored",
                connection.number,
                code,
            )
            return []
        request: Any = None
        why = ""
        try:
            request = decode(frame, verify_checksum=False)
        except ProtocolError as exc:
            logger.warning("connection %d: malformed %s: %s", connection.number, handler.name, exc)
            why = _ERROR
        if not why:
            why = self._refusal(connection, handler)
        if not why:
            try:
                return [
                    r if isinstance(r, bytes) else encode(r)
                    for r in handler.handle(connection, request)
                ]
            except Exception:
                logger.exception(
                    "connection %d: %s failed; answering with its failure code",
                    connection.number,
                    handler.name,
                )
                why = _ERROR
        else:
            logger.info("connection %d: %s refused: %s", connection.number, handler.name, why)
        return [r if isinstance(r, bytes) else encode(r) for r in handler.refuse(request, why)]

    def _refusal(self, connection: _Connection, handler: _Handler) -> str:
        if handler.port != "any" and handler.port != connection.port:
            return _WRONG_PORT
        if (
            handler.needs_login
            and not connection.logged_in
            and (connection.port == _CONTROL or self.config.require_file_login)
        ):
            return _NOT_LOGGED_IN
        if handler.needs_control and not connection.may_control:
            return _NO_CONTROL
        return ""

    # -- session commands ----------------------------------------------------------------------

    def _login(self, connection: _Connection, request: LoginRequest) -> list[Reply]:
        config = self.config
        if connection.logged_in:
            result = LoginResult.ALREADY_LOGGED_IN
        else:
            expected = config.users.get(request.username)
            valid = expected is not None and hmac.compare_digest(
                expected.encode("utf-8"), request.password.encode("utf-8")
            )
            if not (valid or config.accept_any_login):
                logger.info(
                    "connection %d: login refused for user %r", connection.number, request.username
                )
                return [LoginFeedback(result=LoginResult.FAILED)]
            connection.logged_in = True
            if connection.login_timer is not None:
                connection.login_timer.cancel()
                connection.login_timer = None
            connection.username = request.username
            connection.may_control = (
                config.allow_control and request.username not in config.read_only_users
            )
            logger.info(
                "connection %d: user %r logged in%s",
                connection.number,
                request.username,
                "" if connection.may_control else " (read only)",
            )
            result = LoginResult.SUCCESS
        return [
            LoginFeedback(
                result=result,
                ip_address=connection.local_ip,
                serial_number=self.serial_number,
                note="pycti-arbin simulator",
                nickname=config.nickname,
                location="simulated",
                other_comments=f"speed {self.cycler.speed:g}x",
                version=int(config.server_version),
                allow_control=1 if connection.may_control else 0,
                num_channels=config.channels,
                user_type=0,
            )
        ]

    def _connect(self, connection: _Connection, request: ConnectRequest) -> list[Reply]:
        connection.kick_out_allowed = request.set_kick_out == 1
        result = ConnectResult.ACCEPTED
        open_sessions = [c for c in self.connections.values() if c.port == connection.port]
        if len(open_sessions) > self.config.max_sessions:
            victims = [c for c in open_sessions if c is not connection and c.kick_out_allowed]
            if victims:
                victim = min(victims, key=lambda c: c.number)
                logger.info(
                    "connection %d kicked out by connection %d", victim.number, connection.number
                )
                victim.writer.transport.abort()
            else:
                result = ConnectResult.REJECTED
                connection.close_after_reply = True
        return [ConnectFeedback(set_kick_out=request.set_kick_out, connect_result=result)]

    def _serial(self, connection: _Connection, request: GetSerialNumberRequest) -> list[Reply]:
        return [GetSerialNumberFeedback(serial_number=_serial_as_int(self.serial_number))]

    def _send_message(self, connection: _Connection, request: SendMessageRequest) -> list[Reply]:
        text = request.text
        if not text.strip():
            return [SendMessageFeedback(result=SendMessageResult.FAILED)]
        with self.cycler.lock:
            self.cycler.received_messages.append(text)
        logger.info(
            "message from connection %d (%s): %s", connection.number, connection.username, text
        )
        return [SendMessageFeedback(result=SendMessageResult.SUCCESS)]

    def _auto_calibration(
        self, connection: _Connection, request: AutoCalibrationRequest
    ) -> list[Reply]:
        # Calibration needs every channel at rest; a running test makes it fail.
        if self.cycler.any_running():
            return [AutoCalibrationFeedback(result=AutoCalibrationResult.FAILED)]
        logger.info("connection %d: auto-calibration started", connection.number)
        return [AutoCalibrationFeedback(result=AutoCalibrationResult.SUCCESS)]

    # -- channel commands ----------------------------------------------------------------------

    def _channel_info(self, connection: _Connection, request: ChannelInfoRequest) -> list[Reply]:
        return [
            self.cycler.channel_info_frame(
                request.channel_index, request.selection, request.aux_options
            )
        ]

    def _all_or_one(self, index: int, everything: bool) -> range | tuple[int]:
        return range(self.cycler.num_channels) if everything else (index,)

    def _assign(self, connection: _Connection, request: AssignScheduleRequest) -> list[Reply]:
        assign = self.cycler.assign
        return [
            AssignScheduleFeedback(channel_index=index, result=assign(index, request.schedule))
            for index in self._all_or_one(request.channel_index, request.assign_all)
        ]

    def _start(self, connection: _Connection, request: StartRequest) -> list[Reply]:
        if not request.channel_indexes:
            return [StartFeedback(channel_index=-1, result=StartResult.SAFOR_GROUP)]
        return [
            StartFeedback(channel_index=index, result=self.cycler.start(index, request.test_name))
            for index in request.channel_indexes
        ]

    def _start_ex(self, connection: _Connection, request: StartExRequest) -> list[Reply]:
        if not request.entries:
            return [StartFeedback(channel_index=-1, result=StartResult.SAFOR_GROUP)]
        replies: list[Reply] = []
        for entry in request.entries:
            index = _i32(entry.channel_index)
            code = self._assign_for_start(index, entry.schedule)
            if code == 0:
                code = self.cycler.start(index, entry.test_name, entry.select_step)
            replies.append(StartFeedback(channel_index=index, result=code))
        return replies

    def _assign_for_start(self, index: int, schedule: str) -> int:
        """Assign ``schedule`` (if given) before a START_EX/RESUME_EX; a start result code."""
        if not schedule.strip():
            return 0
        code = self.cycler.assign(index, schedule)
        if code == AssignResult.SUCCESS:
            return 0
        if code == AssignResult.INDEX:
            return StartResult.INDEX
        if code == AssignResult.CHANNEL_RUNNING:
            return StartResult.CHANNEL_RUNNING
        return StartResult.SCHEDULE_INVALID

    def _continue(self, connection: _Connection, request: ContinueRequest) -> list[Reply]:
        if not request.channel_indexes:
            return [ContinueFeedback(channel_index=-1, result=0x10)]
        return [
            ContinueFeedback(channel_index=index, result=self.cycler.continue_channel(index))
            for index in request.channel_indexes
        ]

    def _resume(self, connection: _Connection, request: ResumeRequest) -> list[Reply]:
        return [
            ResumeFeedback(channel_index=index, result=self.cycler.resume(index))
            for index in self._all_or_one(request.channel_index, request.resume_all)
        ]

    def _resume_ex(self, connection: _Connection, request: ResumeExRequest) -> list[Reply]:
        if not request.entries:
            return [ResumeFeedback(channel_index=-1, result=StartResult.SAFOR_GROUP)]
        replies: list[Reply] = []
        cycler = self.cycler
        for entry in request.entries:
            index = _i32(entry.channel_index)
            code = cycler.resume(index)
            if code in (0x15, 0x23):  # nothing to resume: start the schedule at the step
                code = self._assign_for_start(index, entry.schedule)
                if code == 0:
                    code = cycler.start(index, entry.test_name, entry.select_step)
            replies.append(ResumeFeedback(channel_index=index, result=code))
        return replies

    def _stop(self, connection: _Connection, request: StopRequest) -> list[Reply]:
        return [
            StopFeedback(channel_index=index, result=self.cycler.stop(index))
            for index in self._all_or_one(_i32(request.channel_index), request.stop_all)
        ]

    def _jump(self, connection: _Connection, request: JumpRequest) -> list[Reply]:
        result = self.cycler.jump(request.channel_index, request.step)
        return [JumpFeedback(channel_index=request.channel_index, result=result)]

    def _set_mv(self, connection: _Connection, request: SetMetaVariableRequest) -> list[Reply]:
        result = self.cycler.set_meta_variable(
            request.channel_index,
            request.meta_code,
            request.value,
            mv_type=request.mv_type,
            value_type=request.value_type,
        )
        return [SetMetaVariableFeedback(channel_index=_i32(request.channel_index), result=result)]

    def _update_mvs(
        self, connection: _Connection, request: UpdateMetaVariablesRequest
    ) -> list[Reply]:
        failed, result = self.cycler.update_meta_variables(request.entries, MAX_MV_ENTRIES)
        first = request.entries[0].channel_index if request.entries else -1
        index = first if failed is None else failed
        return [UpdateMetaVariablesFeedback(channel_index=_i32(index), result=result)]

    def _start_data(self, connection: _Connection, request: GetStartDataRequest) -> list[Reply]:
        records = tuple(
            dataclasses.replace(
                record,
                test_names=_one_byte_texts(record.test_names),
                steps=_one_byte_texts(record.steps),
            )
            for record in map(self.cycler.start_data, request.channel_indexes)
        )
        return [GetStartDataFeedback(records=records)]

    def _resume_data(self, connection: _Connection, request: GetResumeDataRequest) -> list[Reply]:
        records = tuple(
            dataclasses.replace(record, steps=_one_byte_texts(record.steps))
            for record in map(self.cycler.resume_data, request.channel_indexes)
        )
        return [GetResumeDataFeedback(records=records)]

    # -- version variants and the commands of newer servers --------------------------------

    def _records(self, index: int, selection: int, options: int) -> tuple[ChannelRecord, ...]:
        """The channel records a legacy channel-info request would return, decoded."""
        frame = self.cycler.channel_info_frame(index, selection, options)
        feedback = decode(frame, verify_checksum=False)
        assert isinstance(feedback, ChannelInfoFeedback)  # built just above
        return feedback.channels

    def _channel_info_vls(
        self, connection: _Connection, request: ChannelInfoVlsRequest
    ) -> list[Reply]:
        records = self._records(request.channel_index, request.selection, request.aux_options)
        vls = tuple(
            VlsChannelRecord(**{name: getattr(r, name) for name in _VLS_NAMES}) for r in records
        )
        return [ChannelInfoVlsFeedback(vls)]

    def _channel_info_json(
        self, connection: _Connection, request: ChannelInfoJsonRequest
    ) -> list[Reply]:
        content = request.content
        index = content.get("ChannelIndex", -1)
        selection = content.get("FilterMonitorChannelType", 1)
        if not isinstance(index, int) or not isinstance(selection, int):
            raise ValueError("ChannelIndex and FilterMonitorChannelType must be integers")
        records = self._records(index, selection, 0)
        return [ChannelInfoJsonFeedback({"m_Channels": [channel_json(r) for r in records]})]

    def _start_vls(self, connection: _Connection, request: StartVlsRequest) -> list[Reply]:
        if not request.channel_indexes:
            return [StartVlsFeedback(channel_index=-1, result=StartResult.SAFOR_GROUP)]
        return [
            StartVlsFeedback(channel_index=i, result=self.cycler.start(i, request.test_name))
            for i in request.channel_indexes
        ]

    def _start_ex_vls(self, connection: _Connection, request: StartExVlsRequest) -> list[Reply]:
        if not request.entries:
            return [StartExVlsFeedback(channel_index=-1, result=StartResult.SAFOR_GROUP)]
        replies: list[Reply] = []
        for entry in request.entries:
            index = _i32(entry.channel_index)
            _data, step = resume_data_from_mv_list(entry.dwords, entry.qwords)
            code = self._assign_for_start(index, entry.schedule)
            if code == 0:
                code = self.cycler.start(index, entry.test_name, step)
            replies.append(StartExVlsFeedback(channel_index=index, result=code))
        return replies

    def _resume_by_list(
        self, entries: Sequence[Any], feedback: type[ResultFeedback]
    ) -> list[Reply]:
        if not entries:
            return [feedback(channel_index=-1, result=StartResult.SAFOR_GROUP)]
        replies: list[Reply] = []
        cycler = self.cycler
        for entry in entries:
            index = _i32(entry.channel_index)
            code = cycler.resume(index)
            if code in (0x15, 0x23):  # nothing to resume: start the schedule at the step
                _data, step = resume_data_from_mv_list(entry.dwords, entry.qwords)
                code = self._assign_for_start(index, entry.schedule)
                if code == 0:
                    code = cycler.start(index, entry.test_name, step)
            replies.append(feedback(channel_index=index, result=code))
        return replies

    def _resume_ex_vls(self, connection: _Connection, request: ResumeExVlsRequest) -> list[Reply]:
        return self._resume_by_list(request.entries, ResumeExVlsFeedback)

    def _resume_by_mv(self, connection: _Connection, request: ResumeByMvRequest) -> list[Reply]:
        # Open question 1: which feedback a server sends; the simulator sends 0xCD310006.
        return self._resume_by_list(request.entries, ResumeByMvFeedback)

    def _resume_data_vls(
        self, connection: _Connection, request: GetResumeDataVlsRequest
    ) -> list[Reply]:
        return [
            GetResumeDataVlsFeedback(self._mv_records(request.channel_indexes, ResumeVlsRecord))
        ]

    def _resume_data_by_mv(
        self, connection: _Connection, request: GetResumeDataByMvRequest
    ) -> list[Reply]:
        return [
            GetResumeDataByMvFeedback(self._mv_records(request.channel_indexes, ResumeByMvRecord))
        ]

    def _mv_records(self, indexes: Sequence[int], cls: Any) -> tuple[Any, ...]:
        records = []
        for index in indexes:
            legacy = self.cycler.resume_data(index)
            step = 0
            if legacy.channel_code == 0:
                step = max(self.cycler.snapshot(index).reading.step_number - 1, 0)
            dwords, qwords = mv_list(legacy.resume_data, step)
            records.append(
                cls(
                    channel_index=legacy.channel_index,
                    channel_code=legacy.channel_code,
                    test_name=legacy.test_name,
                    schedule=legacy.schedule,
                    creator=legacy.creator,
                    comment=legacy.comment,
                    start_time=legacy.start_time,
                    dwords=dwords,
                    qwords=qwords,
                    steps=_one_byte_texts(legacy.steps),
                )
            )
        return tuple(records)

    def _meta_value(self, index: int, code: int) -> tuple[int, float]:
        """``(GET_MV error, value)`` of meta code ``code`` on channel ``index``."""
        if not 0 <= index < self.cycler.num_channels:
            return GetMetaVariableResult.CHANNEL_INDEX, 0.0
        reading = self.cycler.snapshot(index).reading
        if code in _MV_UD_NUMBER:
            return 0, reading.meta_variables[_MV_UD_NUMBER[code] - 1]
        name = _PV_READINGS.get(code)
        if name is None:
            return GetMetaVariableResult.META_CODE_NOT_FOUND, 0.0
        return 0, float(getattr(reading, name))

    def _get_mvs(self, connection: _Connection, request: GetMetaVariablesRequest) -> list[Reply]:
        values = []
        for query in request.queries:
            error, value = self._meta_value(query.channel_index, query.meta_code)
            if query.data_type != 1 and not error:
                error = GetMetaVariableResult.DATA_TYPE_NOT_SUPPORTED
            values.append(
                MetaVariableQuery(
                    query.channel_index, error, query.data_type, query.meta_code, value
                )
            )
        if request.is_minimalist:
            return [MinimalistFeedback(tuple(values))]
        return [GetMetaVariablesFeedback(tuple(values))]

    def _update_mvs_ex(
        self, connection: _Connection, request: UpdateMetaVariablesExRequest
    ) -> list[Reply]:
        answers = []
        for entry in request.entries:
            if entry.data_type != 1:
                error = int(UpdateMetaVariableResult.DATA_TYPE_NOT_SUPPORTED)
            else:
                # SET_MV and UPDATE_MV_ADVANCED share the codes 0x00-0x12.
                error = self.cycler.set_meta_variable(
                    entry.channel_index, entry.meta_code, entry.value
                )
            answers.append(
                MetaVariableExEntry(
                    entry.channel_index, entry.meta_code, entry.data_type, error, entry.value
                )
            )
        return [UpdateMetaVariablesExFeedback(tuple(answers))]

    def _time_sensitive(
        self, connection: _Connection, request: TimeSensitiveSetMvRequest
    ) -> list[Reply]:
        answers = []
        cycler = self.cycler
        for entry in request.entries:
            index = entry.channel_index
            if index >= cycler.num_channels:
                answers.append(
                    TimeSensitiveResultEntry(index, result=TimeSensitiveResult.CHANNEL_INDEX)
                )
                continue
            result = 0
            for slot in entry.slots:
                if slot.enable:
                    code = cycler.set_meta_variable(index, slot.meta_code, slot.value)
                    if code == 0x12:  # not running: the DLL's SUCCESS_NOTRUNNING is not a set
                        result = TimeSensitiveResult.ERROR
                    elif code:
                        result = TimeSensitiveResult.META_CODE_NOT_FOUND
            snap = cycler.snapshot(index)
            answers.append(
                TimeSensitiveResultEntry(
                    index,
                    step_index=max(snap.reading.step_number - 1, 0),
                    status=int(snap.status) & 0xFF,
                    result=result,
                    current_a=snap.reading.current_a,
                    voltage_v=snap.reading.voltage_v,
                    mv_ud=snap.meta_variables,
                )
            )
        return [TimeSensitiveSetMvFeedback(tuple(answers))]

    def _channel_info_simple(
        self, connection: _Connection, request: SimpleChannelInfoRequest
    ) -> list[Reply]:
        records = self._records(request.channel_index, request.selection, AuxOptions.AUX)
        simple = tuple(
            SimpleChannelRecord(
                r.channel_index,
                r.master_channel,
                max(self.cycler.snapshot(r.channel_index).reading.step_number - 1, 0),
                r.status,
                r.comm_failure,
                r.test_time_s,
                r.step_time_s,
                r.voltage_v,
                r.current_a,
                r.aux,
            )
            for r in records
        )
        return [SimpleChannelInfoFeedback(simple)]

    def _channel_info_ex(
        self, connection: _Connection, request: ChannelsInfoExRequest
    ) -> list[Reply]:
        config = self.config
        records = []
        for r in self._records(request.channel_index, request.selection, 0):
            cell = config.channel_cells.get(r.channel_index + 1, config.cell)
            records.append(
                TestObjectRecord(
                    r.channel_index,
                    test_object_name="Simulated NMC cell",
                    nominal_capacity=cell.capacity_ah,
                    max_current_charge=config.max_current_a,
                    min_voltage_charge=2.5,
                    max_voltage_charge=4.2,
                    nominal_voltage=3.6,
                    nominal_ir=cell.r0_ohm,
                    mass=0.045,
                )
            )
        return [ChannelsInfoExFeedback(tuple(records))]

    def _get_barcodes(self, connection: _Connection, request: GetBarcodeRequest) -> list[Reply]:
        entries = []
        for query in request.queries:
            index = query.channel_index
            if request.channel_type != BarcodeChannelType.IV:
                entries.append(BarcodeEntry(index, GetBarcodeResult.CHANNEL_TYPE_NOT_SUPPORTED))
            elif index >= self.cycler.num_channels:
                entries.append(BarcodeEntry(index, GetBarcodeResult.CHANNEL_INDEX))
            else:
                entries.append(BarcodeEntry(index, 0, self.cycler.snapshot(index).record.barcode))
        return [GetBarcodeFeedback(request.channel_type, tuple(entries))]

    def _assign_barcodes(
        self, connection: _Connection, request: AssignBarcodeRequest
    ) -> list[Reply]:
        entries = []
        cycler = self.cycler
        for entry in request.entries:
            index = entry.channel_index
            if request.channel_type != BarcodeChannelType.IV:
                error = int(AssignBarcodeResult.CHANNEL_TYPE_NOT_SUPPORTED)
            elif index >= cycler.num_channels:
                error = int(AssignBarcodeResult.CHANNEL_INDEX)
            elif cycler.is_running(index):
                error = int(AssignBarcodeResult.CHANNEL_RUNNING)
            else:
                cycler.set_barcode(index, entry.barcode)
                error = 0
            entries.append(BarcodeEntry(index, error, entry.barcode, entry.info))
        return [AssignBarcodeFeedback(request.channel_type, tuple(entries))]

    def _machine_type(self, connection: _Connection, request: GetMachineTypeRequest) -> list[Reply]:
        sptt = self.config.server_version.uses_json_channels
        return [GetMachineTypeFeedback(MachineType.SPTT if sptt else MachineType.IV)]

    def _tray_status(self, connection: _Connection, request: GetTrayStatusRequest) -> list[Reply]:
        trays = request.content.get("TrayIndexList", [])
        if not isinstance(trays, list):
            raise ValueError("TrayIndexList must be a list")
        infos = []
        for tray in trays:
            engaged = self.trays_engaged.get(tray)
            infos.append(
                {
                    "GlobalIndex": tray,
                    "IsEngagementDown": bool(engaged),
                    "IsEngagementUp": engaged is False,
                    "IsTrayInserted": engaged is not None,
                    "Error": 0 if engaged is not None else int(TrayResult.INDEX),
                    "MetaValues": [],
                }
            )
        return [GetTrayStatusFeedback({"TrayStatusInfos": infos})]

    def _engage_trays(self, connection: _Connection, request: EngageTrayRequest) -> list[Reply]:
        answers = []
        for item in request.content.get("EngageTrays", []):
            tray, engage = item.get("GlobalIndex"), bool(item.get("Engage"))
            error = 0
            if tray not in self.trays_engaged:
                error = int(TrayResult.INDEX)
            else:
                self.trays_engaged[tray] = engage
            answers.append({"GlobalIndex": tray, "Engage": engage, "Error": error})
        return [EngageTrayFeedback({"EngageTrayInfos": answers})]

    def _set_data_log_interval(
        self, connection: _Connection, request: SetDataLogIntervalRequest
    ) -> list[Reply]:
        interval = request.interval_s
        if not (math.isfinite(interval) and 0.01 <= interval <= 3600.0):
            return [SetDataLogIntervalFeedback(result=3, reason="interval must be 0.01..3600 s")]
        self.data_log_interval_s = interval
        return [SetDataLogIntervalFeedback(result=0)]

    def _software_version(
        self, connection: _Connection, request: GetServerSoftwareVersionRequest
    ) -> list[Reply]:
        return [GetServerSoftwareVersionFeedback(self.config.software_version)]

    def _string_limits(
        self, connection: _Connection, request: GetStringLimitsRequest
    ) -> list[Reply]:
        # A VLS server takes test names of any length (START_VLS has no limit); legacy: 72.
        limit = 1024 if self.config.server_version.uses_vls else 72
        return [GetStringLimitsFeedback((StringLimit(1, limit),))]

    def _check_file(self, connection: _Connection, request: CheckFileExRequest) -> list[Reply]:
        try:
            folder = self.files.resolve(request.directory)
            path = self.files.resolve(f"{request.directory}\\{request.file_name}")
        except PathRefused as exc:
            return [CheckFileExFeedback(reason=str(exc)[:256])]
        exists = path.is_file()
        matches = exists and hashlib.md5(path.read_bytes()).digest() == request.md5
        wire_path = str(path.relative_to(self.files.root)).replace("/", "\\")
        return [
            CheckFileExFeedback(
                path_exists=int(folder.is_dir()),
                name_exists=int(exists),
                md5_matches=int(matches),
                reason="" if exists else "file not found",
                file_path=wire_path,
            )
        ]

    def _assign_file(self, connection: _Connection, request: AssignFileRequest) -> list[Reply]:
        indexes = range(self.cycler.num_channels) if request.for_all else request.channel_indexes
        results = []
        for index in indexes:
            if request.file_kind != FileKind.SCHEDULE:
                code = int(AssignFileResult.UNSUPPORTED_FILE_TYPE)
            else:
                code = self.cycler.assign(index, request.file_name)
            results.append(ChannelResult(index, code))
        return [AssignFileFeedback(results=tuple(results))]

    def _modify_schedule(
        self, connection: _Connection, request: ModifyScheduleRequest
    ) -> list[Reply]:
        content = request.content
        answers = []
        for info in content.get("ScheduleModifyInfos", []):
            name = info.get("ScheduleName", "")
            if not isinstance(name, str) or not name.strip():
                result, message = ModifyScheduleResult.SCHEDULE_NAME_EMPTY, "no schedule name"
            else:
                try:
                    self.cycler.load_schedule(name)
                except Exception as exc:  # not found or not a schedule
                    result, message = ModifyScheduleResult.SCHEDULE_NOT_FOUND, str(exc)
                else:
                    result, message = ModifyScheduleResult.SUCCESS, ""
            answers.append({"ScheduleName": name, "Result": int(result), "Message": message})
        return [
            ModifyScheduleFeedback(
                {"TaskID": content.get("TaskID"), "ScheduleModifyInfos": answers}
            )
        ]

    def _start_advanced(
        self, connection: _Connection, request: StartAdvancedRequest
    ) -> list[Reply]:
        content = request.content
        succeeded: list[int] = []
        failed: list[dict[str, Any]] = []
        for channel in content.get("Channels", []):
            index = channel.get("ChannelIndex", -1)
            code = self._assign_for_start(index, str(channel.get("ScheduleName", "")))
            if code == 0 and channel.get("Barcode"):
                if self.cycler.is_running(index):
                    code = int(StartResult.CHANNEL_RUNNING)
                else:
                    self.cycler.set_barcode(index, str(channel["Barcode"]))
            if code == 0:
                code = self.cycler.start(index, str(channel.get("TestName", "")))
            if code == 0:
                succeeded.append(index)
            else:
                failed.append(
                    {
                        "ChannelIndex": index,
                        "StartResult": code,
                        "Message": StartResult.describe(code),
                    }
                )
        return [
            StartAdvancedFeedback(
                {
                    "TaskID": content.get("TaskID"),
                    "SuccessfulChannelIDs": succeeded,
                    "FailedResults": failed,
                }
            )
        ]

    def _mapping_aux(self, connection: _Connection, request: GetMappingAuxRequest) -> list[Reply]:
        config = self.config
        infos = [
            {
                "ChannelIndex": index,
                "AuxChannelInfos": [
                    {"AuxChannelType": 0, "AuxCount": config.aux_voltage_count},
                    {"AuxChannelType": 1, "AuxCount": config.aux_temperature_count},
                ],
            }
            for index in range(config.channels)
        ]
        return [
            GetMappingAuxFeedback({"TaskID": request.content.get("TaskID"), "MappingInfos": infos})
        ]

    # -- file commands -------------------------------------------------------------------------

    def _browse(self, connection: _Connection, request: BrowseDirectoryRequest) -> list[Reply]:
        return [self.files.browse(request)]

    def _download(self, connection: _Connection, request: DownloadFileRequest) -> list[Reply]:
        if not math.isfinite(request.download_time):
            logger.info("download %r refused: its time stamp is not a number", request.path)
            return [_download_failed(request)]
        return list(self.files.download(request))

    def _upload(self, connection: _Connection, request: UploadFileRequest) -> list[Reply]:
        if not math.isfinite(request.upload_time):
            logger.info("upload %r refused: its time stamp is not a number", request.path)
            self.files.discard_upload(connection.uploads, request.path)
            return [_upload_failed(request)]
        return [self.files.upload(request, connection.uploads)]

    def _new_or_delete(self, connection: _Connection, request: NewOrDeleteRequest) -> list[Reply]:
        return [self.files.new_or_delete(request)]

    def _new_folder(self, connection: _Connection, request: NewFolderRequest) -> list[Reply]:
        return [self.files.new_folder_request(request)]

    def _delete_folder(self, connection: _Connection, request: DeleteFolderRequest) -> list[Reply]:
        return [self.files.delete_request(request)]


def _one_byte_texts(texts: Sequence[str]) -> tuple[str, ...]:
    """Texts for a 1-byte (THIRD_PARTY_STRING) field: a character outside Latin-1 becomes
    ``?``, as the Windows code page conversion of a real server makes it."""
    return tuple(text.encode("latin-1", "replace").decode("latin-1") for text in texts)


def _download_failed(request: Any) -> Reply:
    # The time stamp identifies the transfer: it is echoed as sent, even a NaN (STAMP field).
    return DownloadFileFeedback(
        result=FileTransferResult.FAILED,
        package_count=0,
        download_time=getattr(request, "download_time", 0.0),
    )


def _upload_failed(request: Any) -> Reply:
    return UploadFileFeedback(
        result=FileTransferResult.FAILED,
        upload_time=getattr(request, "upload_time", 0.0),
        package_count=getattr(request, "package_count", 0),
        package_index=getattr(request, "package_index", 0),
    )


def _start_data_failed(request: Any) -> Reply:
    # One record per channel asked, each with code 34 (test-name query failed): an empty
    # list would read as "no channel asked".
    indexes = getattr(request, "channel_indexes", None) or ()
    return GetStartDataFeedback(
        records=tuple(StartDataRecord(channel_index=i, channel_code=34) for i in indexes)
    )


def _resume_data_failed(request: Any) -> Reply:
    indexes = getattr(request, "channel_indexes", None) or ()
    return GetResumeDataFeedback(
        records=tuple(ResumeDataRecord(channel_index=i, channel_code=36) for i in indexes)
    )


_TRAYS = 4
#: How many request codes a simulator remembers (a long-running one must not grow).
_RECEIVED_CODES_KEPT = 100_000
_VLS_NAMES = (*ChannelRecord.LAYOUT.names, "aux", "bms", "smb")
_MV_UD_NUMBER = {int(code): number for number, code in enumerate(MetaCode, start=1)}
# Meta code -> the channel reading GET_MV answers for it (DLL reference 5.2).
_PV_READINGS = {
    1: "step_number",
    2: "cycle_index",
    3: "step_time_s",
    4: "test_time_s",
    21: "voltage_v",
    22: "current_a",
    23: "charge_capacity_ah",
    24: "discharge_capacity_ah",
    25: "charge_energy_wh",
    26: "discharge_energy_wh",
}


def _mv_records_failed(request: Any, cls: Any) -> tuple[Any, ...]:
    indexes = getattr(request, "channel_indexes", None) or ()
    return tuple(cls(channel_index=i, channel_code=36) for i in indexes)


def _get_mvs_failed(request: Any, why: str) -> Reply:
    queries = getattr(request, "queries", None) or ()
    values = tuple(
        MetaVariableQuery(q.channel_index, GetMetaVariableResult.ERROR, q.data_type, q.meta_code)
        for q in queries
    )
    if getattr(request, "is_minimalist", False):
        return MinimalistFeedback(values)
    return GetMetaVariablesFeedback(values)


def _update_mvs_ex_failed(request: Any, why: str) -> Reply:
    entries = getattr(request, "entries", None) or ()
    return UpdateMetaVariablesExFeedback(
        tuple(
            MetaVariableExEntry(e.channel_index, e.meta_code, e.data_type, 0x10, e.value)
            for e in entries
        )
    )


def _time_sensitive_failed(request: Any, why: str) -> Reply:
    entries = getattr(request, "entries", None) or ()
    return TimeSensitiveSetMvFeedback(
        tuple(
            TimeSensitiveResultEntry(
                e.channel_index,
                result=TimeSensitiveResult.NOT_ALLOWED_TO_CONTROL
                if why == _NO_CONTROL
                else TimeSensitiveResult.ERROR,
            )
            for e in entries
        )
    )


def _barcodes_failed(request: Any, cls: Any, code: int) -> Reply:
    items = getattr(request, "entries", None) or getattr(request, "queries", None) or ()
    reply: Reply = cls(
        getattr(request, "channel_type", 1),
        tuple(BarcodeEntry(item.channel_index, code) for item in items),
    )
    return reply


def _json_task_failed(request: Any, cls: Any, key: str) -> Reply:
    content = getattr(request, "content", None) or {}
    task = content.get("TaskID") if isinstance(content, dict) else None
    reply: Reply = cls({"TaskID": task, key: [], "Error": "refused"})
    return reply


def _start_advanced_failed(request: Any, why: str) -> Reply:
    content = getattr(request, "content", None)
    content = content if isinstance(content, dict) else {}
    failed = [
        {"ChannelIndex": c.get("ChannelIndex"), "StartResult": 0x11, "Message": why}
        for c in content.get("Channels", [])
        if isinstance(c, dict)
    ]
    return StartAdvancedFeedback(
        {"TaskID": content.get("TaskID"), "SuccessfulChannelIDs": [], "FailedResults": failed}
    )


def _request_channels(request: Any) -> Sequence[int]:
    """The channel indexes a refused R128 request is answered for (one feedback each)."""
    if request is None:
        return (-1,)
    indexes = getattr(request, "channel_indexes", None)
    if indexes:
        return tuple(indexes)
    entries = getattr(request, "entries", None)
    if entries and not hasattr(request, "channel_index"):
        return tuple(entry.channel_index for entry in entries)
    index = getattr(request, "channel_index", None)
    return (index,) if isinstance(index, int) else (-1,)


def _ip_bytes(host: str) -> bytes:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return b"\x00\x00\x00\x00"
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        return mapped.packed if mapped is not None else b"\x00\x00\x00\x00"
    return address.packed


class Simulator:
    """A simulated Arbin cycler serving CTI on TCP (see :class:`SimulatorConfig`).

    ``Simulator(config, **overrides)``: any config field (or fault field, flat) may be given as
    a keyword, e.g. ``Simulator(channels=8, speed=60, latency_s=0.05)``.

    Synchronous use runs the server on its own event loop in a background thread::

        with Simulator(channels=8) as sim:
            client = CyclerClient(sim.host, sim.port, username="admin", password="admin")

    Asynchronous use runs it on the current loop::

        async with Simulator(channels=8) as sim:
            ...

    ``host``, ``port`` and ``file_port`` are the bound ones (ports given as 0 are ephemeral).
    A stopped simulator cannot be started again; create a new one (with ``port=old_port`` to
    reuse the port). Channels in the methods below are **1-based**, as MITS shows them.

    Raises:
        TypeError: from the constructor, for an unknown option.
        ValueError: from the constructor, for an option out of range.
    """

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        base = config if config is not None else SimulatorConfig()
        self.config = base.with_overrides(**overrides) if overrides else base
        self._owns_root = self.config.root is None
        self._root: Path | None = None
        self._cycler: Cycler | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._state = "new"

    # -- lifecycle -----------------------------------------------------------------------------

    def _prepare(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"a simulator can be started once (this one is {self._state})")
        if self.config.root is None:
            root = Path(tempfile.mkdtemp(prefix="pycti-sim-"))
        else:
            root = Path(self.config.root)
            root.mkdir(parents=True, exist_ok=True)
        self._root = root.resolve()
        prepare_root(self._root)
        self._cycler = Cycler(self.config, self._root)
        budget = MemoryBudget(self.config.memory_budget_bytes)
        files = FileService(
            self._root,
            in_use=self._cycler.schedule_in_use,
            chunk_bytes=self.config.download_chunk_bytes,
            max_file_bytes=self.config.max_file_bytes,
            budget=budget,
        )
        self._server = _Server(self.config, self._cycler, files, budget)
        self._state = "starting"

    def _cleanup_root(self) -> None:
        if self._owns_root and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)

    async def start_async(self) -> Simulator:
        """Start serving on the running event loop.

        Raises:
            OSError: if a port cannot be bound.
            RuntimeError: if this simulator was started before.
        """
        self._prepare()
        assert self._server is not None  # for the type checker; set by _prepare
        try:
            await self._server.start()
        except BaseException:
            self._state = "stopped"
            self._cleanup_root()
            raise
        # The serial number may have been derived from the bound port.
        self.config = self._server.config
        self._loop = asyncio.get_running_loop()
        self._state = "running"
        self._log_started()
        return self

    async def stop_async(self) -> None:
        """Stop serving (on the loop it runs on): close every connection and both ports."""
        if self._state != "running" or self._server is None:
            return
        self._state = "stopping"
        await self._server.stop()
        self._state = "stopped"
        self._cleanup_root()
        logger.info("simulator stopped")

    def start(self, timeout_s: float = 10.0) -> Simulator:
        """Start serving in a background thread with its own event loop; returns self.

        Raises:
            OSError: if a port cannot be bound.
            RuntimeError: if this simulator was started before, or did not start in time.
        """
        started: Future[None] = Future()

        def main() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self._thread_main(started))
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name="pycti-simulator", daemon=True)
        self._thread.start()
        try:
            started.result(timeout=timeout_s)
        except BaseException:
            self._thread.join(timeout_s)
            raise
        return self

    async def _thread_main(self, started: Future[None]) -> None:
        try:
            await self.start_async()
        except BaseException as exc:
            started.set_exception(exc)
            return
        self._stop_event = asyncio.Event()
        started.set_result(None)
        await self._stop_event.wait()
        await self.stop_async()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving and wait until the server has closed everything (idempotent)."""
        thread = self._thread
        if thread is None:
            if self._loop is not None and self._state == "running":
                raise RuntimeError("this simulator runs on an event loop: use 'await stop_async()'")
            return
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(event.set)
        thread.join(timeout_s)
        if thread.is_alive():
            raise RuntimeError("the simulator thread did not stop in time")
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Simulator:
        return await self.start_async()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_async()

    def _log_started(self) -> None:
        logger.info(
            "simulator: %d channels on %s:%d (files: %s), root %s, speed %gx, server version %s",
            self.config.channels,
            self.host,
            self.port,
            self.file_port,
            self._root,
            self.config.speed,
            self.config.server_version.name,
        )

    # -- where it is ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The host the simulator listens on."""
        return self.config.host

    @property
    def port(self) -> int:
        """The bound control port.

        Raises:
            RuntimeError: if the simulator has not been started.
        """
        return self._running_server().port

    @property
    def file_port(self) -> int | None:
        """The bound file port (None when the file server is off).

        Raises:
            RuntimeError: if the simulator has not been started.
        """
        return self._running_server().file_port

    @property
    def root(self) -> Path:
        """The root directory of the file commands (user schedules in ``root / "Work"``).

        Raises:
            RuntimeError: if the simulator has not been started.
        """
        if self._root is None:
            raise RuntimeError("the simulator has not been started")
        return self._root

    @property
    def work_dir(self) -> Path:
        """``root / "Work"``, where users' schedules go (``*.sdx``)."""
        return self.root / "Work"

    @property
    def running(self) -> bool:
        """True while serving."""
        return self._state == "running"

    def _running_server(self) -> _Server:
        if self._server is None or self._state in ("new", "starting"):
            raise RuntimeError("the simulator has not been started")
        return self._server

    @property
    def cycler(self) -> Cycler:
        """The cycler model (0-based channel indexes; thread-safe).

        Raises:
            RuntimeError: if the simulator has not been started.
        """
        if self._cycler is None:
            raise RuntimeError("the simulator has not been started")
        return self._cycler

    # -- inspecting and poking (1-based channels) ----------------------------------------------

    def _index(self, channel: int) -> int:
        if not 1 <= channel <= self.config.channels:
            raise IndexError(f"channel {channel} does not exist (1..{self.config.channels})")
        return channel - 1

    @property
    def received_messages(self) -> list[str]:
        """The texts received by SEND_MESSAGE, oldest first (a copy)."""
        cycler = self.cycler
        with cycler.lock:
            return list(cycler.received_messages)

    @property
    def received_codes(self) -> list[int]:
        """The command codes of the requests received (both ports; the latest 100 000), oldest
        first (a copy)."""
        return list(self._running_server().received_codes)

    def clear_received_codes(self) -> None:
        """Forget the request codes received so far."""
        self._running_server().received_codes.clear()

    @property
    def server_version(self) -> ServerVersion:
        """The server version this simulator reports and answers as."""
        return self.config.server_version

    @property
    def session_count(self) -> int:
        """Number of open connections (both ports)."""
        return len(self._running_server().connections)

    @property
    def memory_budget(self) -> MemoryBudget:
        """The budget of partial frames and unfinished uploads: ``used_bytes`` (held now),
        ``peak_bytes``, ``limit_bytes`` (``memory_budget_bytes``) and ``refusals``.

        Raises:
            RuntimeError: if the simulator has not been started.
        """
        return self._running_server().budget

    def channel(self, channel: int) -> ChannelSnapshot:
        """A snapshot of channel ``channel`` (1-based): status, record, engine reading, SOC.

        Raises:
            IndexError: if the channel does not exist.
            RuntimeError: if the simulator has not been started.
        """
        return self.cycler.snapshot(self._index(channel))

    def set_channel_status(
        self, channel: int, status: StatusCode | int | None = None, **fields: Any
    ) -> None:
        """Force the reported ``status`` of ``channel`` (1-based) and/or pin record fields.

        ``status=None`` leaves the status as it is; pass ``release_status=True`` to go back to the
        engine's status. Fields are channel-record attributes (``voltage_v=2.5``,
        ``exit_condition="..."``); a field given as None is released.

        Raises:
            IndexError: if the channel does not exist.
            KeyError: for an unknown field.
            ValueError: if a value cannot go on the wire.
        """
        index = self._index(channel)
        release = bool(fields.pop("release_status", False))
        if fields:
            self.cycler.set_fields(index, fields)
        if status is not None or release:
            self.cycler.force_status(index, status)

    def make_unsafe(self, channel: int, reason: str = "Unsafe: simulated fault") -> None:
        """Stop ``channel``'s test and report it Unsafe with ``reason`` as exit condition.

        Raises:
            IndexError: if the channel does not exist.
            ValueError: if ``reason`` does not fit the 100-character exit condition.
        """
        self.cycler.make_unsafe(self._index(channel), reason)

    def set_aux(
        self,
        channel: int,
        *,
        temperature_c: float | None = None,
        voltage_v: float | None = None,
        clear: bool = False,
    ) -> None:
        """Pin the aux temperature / voltage readings of ``channel`` (``clear``: release).

        Raises:
            IndexError: if the channel does not exist.
            ValueError: if a value is not finite.
        """
        self.cycler.set_aux(
            self._index(channel), temperature_c=temperature_c, voltage_v=voltage_v, clear=clear
        )

    def clear_overrides(self, channel: int) -> None:
        """Release pinned fields, aux values and the forced status of ``channel``.

        Raises:
            IndexError: if the channel does not exist.
        """
        self.cycler.clear_overrides(self._index(channel))

    def pause(self, channel: int) -> bool:
        """Pause ``channel``'s running test (MITS's Pause button); whether it was running.

        Raises:
            IndexError: if the channel does not exist.
        """
        return self.cycler.pause(self._index(channel))

    def set_speed(self, speed: float) -> None:
        """Change the simulation speed from now on.

        Raises:
            ValueError: if ``speed`` is not positive and finite.
        """
        self.cycler.set_speed(speed)

    def set_faults(self, faults: Faults | None = None, **fields: Any) -> None:
        """Replace the injected faults (``Faults(...)``, or fields such as ``silent=True``);
        they apply to new frames on open connections too. ``set_faults()`` switches all off.

        Raises:
            TypeError: for an unknown fault field.
            ValueError: for a value out of range.
        """
        new = faults if faults is not None else Faults()
        if fields:
            new = dataclasses.replace(new, **fields)
        self.config = dataclasses.replace(self.config, faults=new)
        server = self._server
        if server is not None:
            server.config = self.config
