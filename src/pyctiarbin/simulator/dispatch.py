"""Requests to replies: the simulator's dispatch table and the session rules it enforces.

Each request command code has one :class:`Handler`: the command method that serves it, how it is
refused, the port it belongs to, and whether it needs a LOGIN and control permission. The
:class:`Dispatcher` decodes a frame, checks those rules, calls the method and encodes its
replies. A request that is refused, that cannot be decoded, or whose method raises is answered
with the command's failure reply (:mod:`.refusals`); a command the configured server version does
not know gets the UNKNOWN_COMMAND feedback; a code without a documented layout is ignored.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from ..protocol import (
    AssignBarcodeResult,
    AssignResult,
    AutoCalibrationResult,
    BrowseResult,
    ConnectResult,
    ContinueResult,
    FileResult,
    GetBarcodeResult,
    JumpResult,
    LoginResult,
    MachineTypeResult,
    ResumeResult,
    SendMessageResult,
    SerialResult,
    SetMetaVariableResult,
    StartResult,
    StopResult,
    UpdateMetaVariableResult,
    decode,
    encode,
)
from ..protocol import messages as m
from . import refusals
from .connection import ANY_PORT, CONTROL_PORT, Connection, Reply
from .handlers import CommandHandlers
from .versions import lacks

__all__ = ["Dispatcher", "Handler", "handler_table"]

logger = logging.getLogger(__name__)

#: How many request codes a simulator remembers (a long-running one must not grow).
RECEIVED_CODES_KEPT = 100_000

Handle = Callable[[Connection, Any], list[Reply]]
#: Request class -> (command method, refusal).
Entries = dict[type[m.Message], tuple[Handle, refusals.Refuse]]


@dataclass(frozen=True)
class Handler:
    """An entry of the dispatch table: how one request is served, or refused."""

    handle: Handle
    refuse: refusals.Refuse
    port: str = CONTROL_PORT  # CONTROL_PORT, FILE_PORT or ANY_PORT
    needs_login: bool = True
    needs_control: bool = False

    @property
    def name(self) -> str:
        """The command's name in log lines (its method's)."""
        return str(getattr(self.handle, "__name__", "handler"))


def handler_table(c: CommandHandlers) -> dict[int, Handler]:
    """The dispatch table of the command methods of ``c``, keyed by request command code."""
    per_channel, single, fixed = refusals.per_channel, refusals.single, refusals.fixed
    # Served before a LOGIN, on both ports.
    session: Entries = {
        m.LoginRequest: (c.login, fixed(m.LoginFeedback, result=LoginResult.FAILED)),
        m.ConnectRequest: (
            c.connect,
            fixed(m.ConnectFeedback, connect_result=ConnectResult.REJECTED),
        ),
    }
    # Control port, after a LOGIN.
    reading: Entries = {
        m.ChannelInfoRequest: (c.channel_info, fixed(m.ChannelInfoFeedback)),
        m.GetSerialNumberRequest: (
            c.get_serial_number,
            fixed(m.GetSerialNumberFeedback, result=SerialResult.ERROR),
        ),
        m.GetStartDataRequest: (c.get_start_data, single(refusals.start_data_failed)),
        m.GetResumeDataRequest: (c.get_resume_data, single(refusals.resume_data_failed)),
        m.SendMessageRequest: (
            c.send_message,
            fixed(m.SendMessageFeedback, result=SendMessageResult.FAILED),
        ),
        # The version variants and the commands of ArbinCTI.dll beyond the documents.
        m.ChannelInfoVlsRequest: (c.channel_info_vls, fixed(m.ChannelInfoVlsFeedback)),
        m.ChannelInfoJsonRequest: (
            c.channel_info_json,
            fixed(m.ChannelInfoJsonFeedback, {"m_Channels": []}),
        ),
        m.GetResumeDataVlsRequest: (
            c.get_resume_data_vls,
            single(refusals.mv_records_failed(m.GetResumeDataVlsFeedback, m.ResumeVlsRecord)),
        ),
        m.GetResumeDataByMvRequest: (
            c.get_resume_data_by_mv,
            single(refusals.mv_records_failed(m.GetResumeDataByMvFeedback, m.ResumeByMvRecord)),
        ),
        m.GetMetaVariablesRequest: (c.get_meta_variables, single(refusals.get_mvs_failed)),
        m.SimpleChannelInfoRequest: (c.channel_info_simple, fixed(m.SimpleChannelInfoFeedback)),
        m.ChannelsInfoExRequest: (c.channel_info_ex, fixed(m.ChannelsInfoExFeedback)),
        m.GetBarcodeRequest: (
            c.get_barcode,
            single(refusals.barcodes_failed(m.GetBarcodeFeedback, GetBarcodeResult.ERROR)),
        ),
        m.GetMachineTypeRequest: (
            c.get_machine_type,
            fixed(m.GetMachineTypeFeedback, result=MachineTypeResult.ERROR),
        ),
        m.GetTrayStatusRequest: (
            c.get_tray_status,
            fixed(m.GetTrayStatusFeedback, {"TrayStatusInfos": []}),
        ),
        m.GetServerSoftwareVersionRequest: (
            c.get_server_software_version,
            fixed(m.GetServerSoftwareVersionFeedback),
        ),
        m.GetStringLimitsRequest: (c.get_string_limits, fixed(m.GetStringLimitsFeedback)),
        m.GetMappingAuxRequest: (
            c.get_mapping_aux,
            single(refusals.json_task_failed(m.GetMappingAuxFeedback, "MappingInfos")),
        ),
    }
    # Control port, after a LOGIN, by a user allowed to control. R128 commands answer one
    # feedback per channel.
    control: Entries = {
        m.AssignScheduleRequest: (
            c.assign_schedule,
            per_channel(m.AssignScheduleFeedback, AssignResult.ERROR, AssignResult.FAILED),
        ),
        m.StartRequest: (c.start, per_channel(m.StartFeedback, StartResult.ERROR)),
        m.StartExRequest: (c.start_ex, per_channel(m.StartFeedback, StartResult.ERROR)),
        m.ContinueRequest: (
            c.continue_channel,
            per_channel(m.ContinueFeedback, ContinueResult.ERROR),
        ),
        m.ResumeRequest: (c.resume, per_channel(m.ResumeFeedback, ResumeResult.ERROR)),
        m.ResumeExRequest: (c.resume_ex, per_channel(m.ResumeFeedback, ResumeResult.ERROR)),
        m.StopRequest: (c.stop, per_channel(m.StopFeedback, StopResult.ERROR)),
        m.JumpRequest: (c.jump, per_channel(m.JumpFeedback, JumpResult.ERROR)),
        m.SetMetaVariableRequest: (
            c.set_meta_variable,
            per_channel(m.SetMetaVariableFeedback, SetMetaVariableResult.FAILED),
        ),
        m.UpdateMetaVariablesRequest: (
            c.update_meta_variables,
            per_channel(m.UpdateMetaVariablesFeedback, UpdateMetaVariableResult.FAILED),
        ),
        m.StartVlsRequest: (c.start_vls, per_channel(m.StartVlsFeedback, StartResult.ERROR)),
        m.StartExVlsRequest: (c.start_ex_vls, per_channel(m.StartExVlsFeedback, StartResult.ERROR)),
        m.ResumeExVlsRequest: (
            c.resume_ex_vls,
            per_channel(m.ResumeExVlsFeedback, ResumeResult.ERROR),
        ),
        m.ResumeByMvRequest: (
            c.resume_by_mv,
            per_channel(m.ResumeByMvFeedback, ResumeResult.ERROR),
        ),
        m.AutoCalibrationRequest: (
            c.auto_calibration,
            fixed(m.AutoCalibrationFeedback, result=AutoCalibrationResult.FAILED),
        ),
        m.UpdateMetaVariablesExRequest: (
            c.update_meta_variables_ex,
            single(refusals.update_mvs_ex_failed),
        ),
        m.TimeSensitiveSetMvRequest: (
            c.time_sensitive_set_mv,
            single(refusals.time_sensitive_failed),
        ),
        m.AssignBarcodeRequest: (
            c.assign_barcode,
            single(refusals.barcodes_failed(m.AssignBarcodeFeedback, AssignBarcodeResult.ERROR)),
        ),
        m.EngageTrayRequest: (c.engage_tray, fixed(m.EngageTrayFeedback, {"EngageTrayInfos": []})),
        m.SetDataLogIntervalRequest: (
            c.set_data_log_interval,
            single(refusals.data_log_interval_failed),
        ),
        m.AssignFileRequest: (c.assign_file, single(refusals.assign_file_failed)),
        m.ModifyScheduleRequest: (
            c.modify_schedule,
            single(refusals.json_task_failed(m.ModifyScheduleFeedback, "ScheduleModifyInfos")),
        ),
        m.StartAdvancedRequest: (c.start_advanced, single(refusals.start_advanced_failed)),
    }
    # File commands: on the file port, and on the control port after a LOGIN.
    files: Entries = {
        m.BrowseDirectoryRequest: (
            c.browse,
            fixed(m.BrowseDirectoryFeedback, result=BrowseResult.FAILED),
        ),
        m.DownloadFileRequest: (c.download, single(refusals.download_failed)),
        m.UploadFileRequest: (c.upload, single(refusals.upload_failed)),
        m.NewOrDeleteRequest: (c.new_or_delete, single(refusals.new_or_delete_failed)),
        m.NewFolderRequest: (
            c.new_folder,
            fixed(m.NewFolderFeedback, result=FileResult.NEW_FAILED),
        ),
        m.DeleteFolderRequest: (
            c.delete_folder,
            fixed(m.DeleteFolderFeedback, result=FileResult.DELETE_FAILED),
        ),
        m.CheckFileExRequest: (
            c.check_file_ex,
            single(lambda request, why: m.CheckFileExFeedback(reason=why)),
        ),
    }
    groups: tuple[tuple[Entries, dict[str, Any]], ...] = (
        (session, {"port": ANY_PORT, "needs_login": False}),
        (reading, {}),
        (control, {"needs_control": True}),
        (files, {"port": ANY_PORT}),
    )
    return {
        int(request.CODE): Handler(handle, refuse, **flags)
        for group, flags in groups
        for request, (handle, refuse) in group.items()
    }


class Dispatcher:
    """Answers the frames of every connection through the handler table of ``commands``."""

    def __init__(self, commands: CommandHandlers) -> None:
        self.commands = commands
        self.handlers = handler_table(commands)
        #: Command codes of the latest requests received, oldest first (for tests and tools).
        self.received_codes: deque[int] = deque(maxlen=RECEIVED_CODES_KEPT)

    def dispatch(self, connection: Connection, frame: bytes) -> list[bytes]:
        """Decode, check and handle one request; the encoded replies (maybe none)."""
        code = int.from_bytes(frame[12:16], "little")
        self.received_codes.append(code)
        config = self.commands.config
        if lacks(config.server_version, code):
            logger.info(
                "connection %d: command 0x%08X is not served by a %s server",
                connection.number,
                code,
                config.server_version.name,
            )
            return [encode(m.UnknownCommandFeedback(command=code))]
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
            why = refusals.HANDLER_ERROR
        if not why:
            why = self.refusal(connection, handler)
        if not why:
            try:
                return _encoded(handler.handle(connection, request))
            except Exception:
                logger.exception(
                    "connection %d: %s failed; answering with its failure code",
                    connection.number,
                    handler.name,
                )
                why = refusals.HANDLER_ERROR
        else:
            logger.info("connection %d: %s refused: %s", connection.number, handler.name, why)
        return _encoded(handler.refuse(request, why))

    def refusal(self, connection: Connection, handler: Handler) -> str:
        """Why ``connection`` may not use ``handler`` (port, login, control), or ``""``."""
        if handler.port != ANY_PORT and handler.port != connection.port:
            return refusals.WRONG_PORT
        if (
            handler.needs_login
            and not connection.logged_in
            and (connection.port == CONTROL_PORT or self.commands.config.require_file_login)
        ):
            return refusals.NOT_LOGGED_IN
        if handler.needs_control and not connection.may_control:
            return refusals.NO_CONTROL
        return ""


def _encoded(replies: list[Reply]) -> list[bytes]:
    return [reply if isinstance(reply, bytes) else encode(reply) for reply in replies]
