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


@dataclass(frozen=True)
class Handler:
    """An entry of the dispatch table: how one request is served, or refused."""

    request: type[m.Message]
    name: str
    handle: Handle
    refuse: refusals.Refuse
    port: str = CONTROL_PORT  # CONTROL_PORT, FILE_PORT or ANY_PORT
    needs_login: bool = True
    needs_control: bool = False


def handler_table(c: CommandHandlers) -> dict[int, Handler]:
    """The dispatch table of the command methods of ``c``, keyed by request command code."""
    per_channel, single, fixed = refusals.per_channel, refusals.single, refusals.fixed
    handlers = [
        Handler(
            m.LoginRequest,
            "login",
            c.login,
            fixed(m.LoginFeedback, result=LoginResult.FAILED),
            port=ANY_PORT,
            needs_login=False,
        ),
        Handler(
            m.ConnectRequest,
            "connect",
            c.connect,
            fixed(m.ConnectFeedback, connect_result=ConnectResult.REJECTED),
            port=ANY_PORT,
            needs_login=False,
        ),
        Handler(m.ChannelInfoRequest, "channel_info", c.channel_info, fixed(m.ChannelInfoFeedback)),
        Handler(
            m.AssignScheduleRequest,
            "assign_schedule",
            c.assign,
            per_channel(m.AssignScheduleFeedback, AssignResult.ERROR, AssignResult.FAILED),
            needs_control=True,
        ),
        Handler(
            m.StartRequest,
            "start",
            c.start,
            per_channel(m.StartFeedback, StartResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.StartExRequest,
            "start_ex",
            c.start_ex,
            per_channel(m.StartFeedback, StartResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.ContinueRequest,
            "continue",
            c.continue_channel,
            per_channel(m.ContinueFeedback, ContinueResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.ResumeRequest,
            "resume",
            c.resume,
            per_channel(m.ResumeFeedback, ResumeResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.ResumeExRequest,
            "resume_ex",
            c.resume_ex,
            per_channel(m.ResumeFeedback, ResumeResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.StopRequest,
            "stop",
            c.stop,
            per_channel(m.StopFeedback, StopResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.JumpRequest,
            "jump",
            c.jump,
            per_channel(m.JumpFeedback, JumpResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.SetMetaVariableRequest,
            "set_meta_variable",
            c.set_mv,
            per_channel(m.SetMetaVariableFeedback, SetMetaVariableResult.FAILED),
            needs_control=True,
        ),
        Handler(
            m.UpdateMetaVariablesRequest,
            "update_meta_variables",
            c.update_mvs,
            per_channel(m.UpdateMetaVariablesFeedback, UpdateMetaVariableResult.FAILED),
            needs_control=True,
        ),
        Handler(
            m.GetSerialNumberRequest,
            "get_serial_number",
            c.serial,
            fixed(m.GetSerialNumberFeedback, result=SerialResult.ERROR),
        ),
        Handler(
            m.GetStartDataRequest,
            "get_start_data",
            c.start_data,
            single(refusals.start_data_failed),
        ),
        Handler(
            m.GetResumeDataRequest,
            "get_resume_data",
            c.resume_data,
            single(refusals.resume_data_failed),
        ),
        Handler(
            m.SendMessageRequest,
            "send_message",
            c.send_message,
            fixed(m.SendMessageFeedback, result=SendMessageResult.FAILED),
        ),
        Handler(
            m.AutoCalibrationRequest,
            "auto_calibration",
            c.auto_calibration,
            fixed(m.AutoCalibrationFeedback, result=AutoCalibrationResult.FAILED),
            needs_control=True,
        ),
        Handler(
            m.BrowseDirectoryRequest,
            "browse",
            c.browse,
            fixed(m.BrowseDirectoryFeedback, result=BrowseResult.FAILED),
            port=ANY_PORT,
        ),
        Handler(
            m.DownloadFileRequest,
            "download",
            c.download,
            single(refusals.download_failed),
            port=ANY_PORT,
        ),
        Handler(
            m.UploadFileRequest, "upload", c.upload, single(refusals.upload_failed), port=ANY_PORT
        ),
        Handler(
            m.NewOrDeleteRequest,
            "new_or_delete",
            c.new_or_delete,
            single(refusals.new_or_delete_failed),
            port=ANY_PORT,
        ),
        Handler(
            m.NewFolderRequest,
            "new_folder",
            c.new_folder,
            fixed(m.NewFolderFeedback, result=FileResult.NEW_FAILED),
            port=ANY_PORT,
        ),
        Handler(
            m.DeleteFolderRequest,
            "delete_folder",
            c.delete_folder,
            fixed(m.DeleteFolderFeedback, result=FileResult.DELETE_FAILED),
            port=ANY_PORT,
        ),
        # The version variants and the commands of ArbinCTI.dll beyond the documents.
        Handler(
            m.ChannelInfoVlsRequest,
            "channel_info_vls",
            c.channel_info_vls,
            fixed(m.ChannelInfoVlsFeedback),
        ),
        Handler(
            m.ChannelInfoJsonRequest,
            "channel_info_json",
            c.channel_info_json,
            fixed(m.ChannelInfoJsonFeedback, {"m_Channels": []}),
        ),
        Handler(
            m.StartVlsRequest,
            "start_vls",
            c.start_vls,
            per_channel(m.StartVlsFeedback, StartResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.StartExVlsRequest,
            "start_ex_vls",
            c.start_ex_vls,
            per_channel(m.StartExVlsFeedback, StartResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.ResumeExVlsRequest,
            "resume_ex_vls",
            c.resume_ex_vls,
            per_channel(m.ResumeExVlsFeedback, ResumeResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.ResumeByMvRequest,
            "resume_by_mv",
            c.resume_by_mv,
            per_channel(m.ResumeByMvFeedback, ResumeResult.ERROR),
            needs_control=True,
        ),
        Handler(
            m.GetResumeDataVlsRequest,
            "get_resume_data_vls",
            c.resume_data_vls,
            single(refusals.mv_records_failed(m.GetResumeDataVlsFeedback, m.ResumeVlsRecord)),
        ),
        Handler(
            m.GetResumeDataByMvRequest,
            "get_resume_data_by_mv",
            c.resume_data_by_mv,
            single(refusals.mv_records_failed(m.GetResumeDataByMvFeedback, m.ResumeByMvRecord)),
        ),
        Handler(
            m.GetMetaVariablesRequest,
            "get_meta_variables",
            c.get_mvs,
            single(refusals.get_mvs_failed),
        ),
        Handler(
            m.UpdateMetaVariablesExRequest,
            "update_meta_variables_ex",
            c.update_mvs_ex,
            single(refusals.update_mvs_ex_failed),
            needs_control=True,
        ),
        Handler(
            m.TimeSensitiveSetMvRequest,
            "time_sensitive_set_mv",
            c.time_sensitive,
            single(refusals.time_sensitive_failed),
            needs_control=True,
        ),
        Handler(
            m.SimpleChannelInfoRequest,
            "channel_info_simple",
            c.channel_info_simple,
            fixed(m.SimpleChannelInfoFeedback),
        ),
        Handler(
            m.ChannelsInfoExRequest,
            "channel_info_ex",
            c.channel_info_ex,
            fixed(m.ChannelsInfoExFeedback),
        ),
        Handler(
            m.GetBarcodeRequest,
            "get_barcode",
            c.get_barcodes,
            single(refusals.barcodes_failed(m.GetBarcodeFeedback, GetBarcodeResult.ERROR)),
        ),
        Handler(
            m.AssignBarcodeRequest,
            "assign_barcode",
            c.assign_barcodes,
            single(refusals.barcodes_failed(m.AssignBarcodeFeedback, AssignBarcodeResult.ERROR)),
            needs_control=True,
        ),
        Handler(
            m.GetMachineTypeRequest,
            "get_machine_type",
            c.machine_type,
            fixed(m.GetMachineTypeFeedback, result=MachineTypeResult.ERROR),
        ),
        Handler(
            m.GetTrayStatusRequest,
            "get_tray_status",
            c.tray_status,
            fixed(m.GetTrayStatusFeedback, {"TrayStatusInfos": []}),
        ),
        Handler(
            m.EngageTrayRequest,
            "engage_tray",
            c.engage_trays,
            fixed(m.EngageTrayFeedback, {"EngageTrayInfos": []}),
            needs_control=True,
        ),
        Handler(
            m.SetDataLogIntervalRequest,
            "set_data_log_interval",
            c.set_data_log_interval,
            single(refusals.data_log_interval_failed),
            needs_control=True,
        ),
        Handler(
            m.GetServerSoftwareVersionRequest,
            "get_server_software_version",
            c.software_version,
            fixed(m.GetServerSoftwareVersionFeedback),
        ),
        Handler(
            m.GetStringLimitsRequest,
            "get_string_limits",
            c.string_limits,
            fixed(m.GetStringLimitsFeedback),
        ),
        Handler(
            m.CheckFileExRequest,
            "check_file_ex",
            c.check_file,
            single(lambda r, why: m.CheckFileExFeedback(reason=why)),
            port=ANY_PORT,
        ),
        Handler(
            m.AssignFileRequest,
            "assign_file",
            c.assign_file,
            single(refusals.assign_file_failed),
            needs_control=True,
        ),
        Handler(
            m.ModifyScheduleRequest,
            "modify_schedule",
            c.modify_schedule,
            single(refusals.json_task_failed(m.ModifyScheduleFeedback, "ScheduleModifyInfos")),
            needs_control=True,
        ),
        Handler(
            m.StartAdvancedRequest,
            "start_advanced",
            c.start_advanced,
            single(refusals.start_advanced_failed),
            needs_control=True,
        ),
        Handler(
            m.GetMappingAuxRequest,
            "get_mapping_aux",
            c.mapping_aux,
            single(refusals.json_task_failed(m.GetMappingAuxFeedback, "MappingInfos")),
        ),
    ]
    return {int(handler.request.CODE): handler for handler in handlers}


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
