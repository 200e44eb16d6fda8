"""The simulator's answer to each CTI command: one method per request.

Every command method takes ``(connection, request)`` and returns the replies (messages, or
frames already encoded). Permissions are checked before a method is called (see
:mod:`.dispatch`); a method only refuses what its command documents, with the command's result
code, and may raise: the dispatcher then answers with the command's failure reply. The channel
state lives in the :class:`~.cycler.Cycler`, the files under the root in the
:class:`~.files.FileService`; the few settings of newer servers (data-log interval, trays)
live here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..protocol import (
    AssignBarcodeResult,
    AssignFileResult,
    AssignResult,
    AutoCalibrationResult,
    AuxOptions,
    BarcodeChannelType,
    ConnectResult,
    ContinueResult,
    DataLogIntervalResult,
    FileKind,
    GetBarcodeResult,
    GetMetaVariableResult,
    LoginResult,
    MachineType,
    ModifyScheduleResult,
    ResumeResult,
    SendMessageResult,
    SetMetaVariableResult,
    StartDataResult,
    StartResult,
    TimeSensitiveResult,
    TrayResult,
    UpdateMetaVariableResult,
    decode,
)
from ..protocol import messages as m
from ..protocol.variants import channel_json, mv_list, resume_data_from_mv_list
from .config import SimulatorConfig
from .connection import Connection, Reply
from .cycler import Cycler
from .files import FileService, PathRefused
from .refusals import download_failed, upload_failed, wire_i32
from .schedule import meta_code_number

__all__ = ["CommandHandlers"]

logger = logging.getLogger(__name__)

_TRAYS = 4
# RESUME_EX and its variants start the schedule at the entry's step when there is nothing to resume.
_NOTHING_TO_RESUME = frozenset({ResumeResult.NO_SCHEDULE_ASSIGNED, ResumeResult.NO_TEST_NAME})
_VLS_NAMES = (*m.ChannelRecord.LAYOUT.names, "aux", "bms", "smb")
# What a VLS resume record copies from the legacy one (the resume data goes as MV lists).
_RESUME_RECORD_NAMES = (
    "channel_index",
    "channel_code",
    "test_name",
    "schedule",
    "creator",
    "comment",
    "start_time",
)
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


class CommandHandlers:
    """The command methods of one simulator, over its cycler and its file service.

    ``connections`` are the listener's open connections (CONNECT counts them and kicks one
    out); ``config`` may be replaced while serving (faults set from outside).
    """

    def __init__(
        self,
        config: SimulatorConfig,
        cycler: Cycler,
        files: FileService,
        connections: dict[int, Connection],
    ) -> None:
        self.config = config
        self.cycler = cycler
        self.files = files
        self.connections = connections
        # State of the commands of newer servers.
        self.data_log_interval_s = 1.0
        self.trays_engaged: dict[int, bool] = {index: False for index in range(_TRAYS)}

    @property
    def serial_number(self) -> str:
        """The serial number reported (the listener derives it from its port when unset)."""
        return self.config.serial_number or ""

    # -- session commands ----------------------------------------------------------------------

    def login(self, connection: Connection, request: m.LoginRequest) -> list[Reply]:
        """LOGIN: 1 for a known user and password (or any with ``accept_any_login``), 2
        otherwise, 3 when this connection is logged in already."""
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
                return [m.LoginFeedback(result=LoginResult.FAILED)]
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
            m.LoginFeedback(
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

    def connect(self, connection: Connection, request: m.ConnectRequest) -> list[Reply]:
        """CONNECT: beyond ``max_sessions``, kick out the oldest session that allows it, or
        reject and close this one."""
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
        return [m.ConnectFeedback(set_kick_out=request.set_kick_out, connect_result=result)]

    def get_serial_number(
        self, connection: Connection, request: m.GetSerialNumberRequest
    ) -> list[Reply]:
        """GET_SERIAL_NUMBER: the digits of the serial number."""
        return [m.GetSerialNumberFeedback(serial_number=_serial_as_int(self.serial_number))]

    def send_message(self, connection: Connection, request: m.SendMessageRequest) -> list[Reply]:
        """SEND_MESSAGE: keep and log the text; an empty one fails."""
        text = request.text
        if not text.strip():
            return [m.SendMessageFeedback(result=SendMessageResult.FAILED)]
        with self.cycler.lock:
            self.cycler.received_messages.append(text)
        logger.info(
            "message from connection %d (%s): %s", connection.number, connection.username, text
        )
        return [m.SendMessageFeedback(result=SendMessageResult.SUCCESS)]

    def auto_calibration(
        self, connection: Connection, request: m.AutoCalibrationRequest
    ) -> list[Reply]:
        """AUTOCALI_START: succeeds only while no channel runs."""
        # Calibration needs every channel at rest; a running test makes it fail.
        if self.cycler.any_running():
            return [m.AutoCalibrationFeedback(result=AutoCalibrationResult.FAILED)]
        logger.info("connection %d: auto-calibration started", connection.number)
        return [m.AutoCalibrationFeedback(result=AutoCalibrationResult.SUCCESS)]

    # -- channel commands ----------------------------------------------------------------------

    def channel_info(self, connection: Connection, request: m.ChannelInfoRequest) -> list[Reply]:
        """GET_CHANNELS_INFO: the packed records of the channels asked."""
        return [
            self.cycler.channel_info_frame(
                request.channel_index, request.selection, request.aux_options
            )
        ]

    def _all_or_one(self, index: int, everything: bool) -> range | tuple[int]:
        return range(self.cycler.num_channels) if everything else (index,)

    def assign_schedule(
        self, connection: Connection, request: m.AssignScheduleRequest
    ) -> list[Reply]:
        """ASSIGN_SCHEDULE on one channel or all; one feedback per channel."""
        assign = self.cycler.assign
        return [
            m.AssignScheduleFeedback(channel_index=index, result=assign(index, request.schedule))
            for index in self._all_or_one(request.channel_index, request.assign_all)
        ]

    def start(self, connection: Connection, request: m.StartRequest) -> list[Reply]:
        """START the test name on every channel listed."""
        return self._start_each(request.channel_indexes, request.test_name, m.StartFeedback)

    def start_ex(self, connection: Connection, request: m.StartExRequest) -> list[Reply]:
        """START_EX: per entry, assign its schedule (if named) and start at its step."""
        return self._start_entries(request.entries, m.StartFeedback, _select_step, resume=False)

    def _start_each(
        self, indexes: Sequence[int], test_name: str, feedback: type[m.ResultFeedback]
    ) -> list[Reply]:
        """START and START_VLS: one test name started on every channel listed."""
        if not indexes:
            return [feedback(channel_index=-1, result=StartResult.SAFOR_GROUP)]
        start = self.cycler.start
        return [feedback(channel_index=i, result=start(i, test_name)) for i in indexes]

    def _start_entries(
        self,
        entries: Sequence[Any],
        feedback: type[m.ResultFeedback],
        step_of: Callable[[Any], int],
        *,
        resume: bool,
    ) -> list[Reply]:
        """START_EX, RESUME_EX and their VLS variants: per entry, assign the schedule it names
        (if any), then start its test at its step. With ``resume``, a test that can be resumed
        is resumed instead."""
        if not entries:
            return [feedback(channel_index=-1, result=StartResult.SAFOR_GROUP)]
        replies: list[Reply] = []
        cycler = self.cycler
        for entry in entries:
            index = wire_i32(entry.channel_index)
            if resume:
                resumed = cycler.resume(index)
                if resumed not in _NOTHING_TO_RESUME:
                    replies.append(feedback(channel_index=index, result=resumed))
                    continue
            step = step_of(entry)
            code = self._assign_for_start(index, entry.schedule)
            if code == StartResult.SUCCESS:
                code = cycler.start(index, entry.test_name, step)
            replies.append(feedback(channel_index=index, result=code))
        return replies

    def _assign_for_start(self, index: int, schedule: str) -> StartResult:
        """Assign ``schedule`` (if given) before a START_EX/RESUME_EX; a start result code."""
        if not schedule.strip():
            return StartResult.SUCCESS
        code = self.cycler.assign(index, schedule)
        if code == AssignResult.SUCCESS:
            return StartResult.SUCCESS
        if code == AssignResult.INDEX:
            return StartResult.INDEX
        if code == AssignResult.CHANNEL_RUNNING:
            return StartResult.CHANNEL_RUNNING
        return StartResult.SCHEDULE_INVALID

    def continue_channel(self, connection: Connection, request: m.ContinueRequest) -> list[Reply]:
        """CONTINUE paused channels."""
        if not request.channel_indexes:
            return [m.ContinueFeedback(channel_index=-1, result=ContinueResult.INDEX)]
        return [
            m.ContinueFeedback(channel_index=index, result=self.cycler.continue_channel(index))
            for index in request.channel_indexes
        ]

    def resume(self, connection: Connection, request: m.ResumeRequest) -> list[Reply]:
        """RESUME one channel or all; one feedback per channel."""
        return [
            m.ResumeFeedback(channel_index=index, result=self.cycler.resume(index))
            for index in self._all_or_one(request.channel_index, request.resume_all)
        ]

    def resume_ex(self, connection: Connection, request: m.ResumeExRequest) -> list[Reply]:
        """RESUME_EX: resume each entry, or start its schedule at its step when nothing can be
        resumed."""
        return self._start_entries(request.entries, m.ResumeFeedback, _select_step, resume=True)

    def stop(self, connection: Connection, request: m.StopRequest) -> list[Reply]:
        """STOP one channel or all; one feedback per channel."""
        return [
            m.StopFeedback(channel_index=index, result=self.cycler.stop(index))
            for index in self._all_or_one(wire_i32(request.channel_index), request.stop_all)
        ]

    def jump(self, connection: Connection, request: m.JumpRequest) -> list[Reply]:
        """JUMP a running channel to a step (0-based)."""
        result = self.cycler.jump(request.channel_index, request.step)
        return [m.JumpFeedback(channel_index=request.channel_index, result=result)]

    def set_meta_variable(
        self, connection: Connection, request: m.SetMetaVariableRequest
    ) -> list[Reply]:
        """SET_MV_VALUE on one channel."""
        result = self.cycler.set_meta_variable(
            request.channel_index,
            request.meta_code,
            request.value,
            mv_type=request.mv_type,
            value_type=request.value_type,
        )
        return [
            m.SetMetaVariableFeedback(channel_index=wire_i32(request.channel_index), result=result)
        ]

    def update_meta_variables(
        self, connection: Connection, request: m.UpdateMetaVariablesRequest
    ) -> list[Reply]:
        """UPDATE_MV_ADVANCED: all entries or none; one feedback (the first failing entry's
        channel)."""
        failed, result = self.cycler.update_meta_variables(request.entries, m.MAX_MV_ENTRIES)
        first = request.entries[0].channel_index if request.entries else -1
        index = first if failed is None else failed
        return [m.UpdateMetaVariablesFeedback(channel_index=wire_i32(index), result=result)]

    def get_start_data(self, connection: Connection, request: m.GetStartDataRequest) -> list[Reply]:
        """GET_START_DATA: test names, step labels and meta variables of the channels asked."""
        records = tuple(
            dataclasses.replace(
                record,
                test_names=_one_byte_texts(record.test_names),
                steps=_one_byte_texts(record.steps),
            )
            for record in map(self.cycler.start_data, request.channel_indexes)
        )
        return [m.GetStartDataFeedback(records=records)]

    def get_resume_data(
        self, connection: Connection, request: m.GetResumeDataRequest
    ) -> list[Reply]:
        """GET_RESUME_DATA: what RESUME would resume on the channels asked."""
        records = tuple(
            dataclasses.replace(record, steps=_one_byte_texts(record.steps))
            for record in map(self.cycler.resume_data, request.channel_indexes)
        )
        return [m.GetResumeDataFeedback(records=records)]

    # -- version variants and the commands of newer servers --------------------------------

    def _records(self, index: int, selection: int, options: int) -> tuple[m.ChannelRecord, ...]:
        """The channel records a legacy channel-info request would return, decoded."""
        frame = self.cycler.channel_info_frame(index, selection, options)
        feedback = decode(frame, verify_checksum=False)
        assert isinstance(feedback, m.ChannelInfoFeedback)  # built just above
        return feedback.channels

    def channel_info_vls(
        self, connection: Connection, request: m.ChannelInfoVlsRequest
    ) -> list[Reply]:
        """GET_CHANNELS_INFO_VLS: the legacy records, in the VLS layout."""
        records = self._records(request.channel_index, request.selection, request.aux_options)
        vls = tuple(
            m.VlsChannelRecord(**{name: getattr(r, name) for name in _VLS_NAMES}) for r in records
        )
        return [m.ChannelInfoVlsFeedback(vls)]

    def channel_info_json(
        self, connection: Connection, request: m.ChannelInfoJsonRequest
    ) -> list[Reply]:
        """GET_CHANNELS_INFO_JSON: the legacy records, as JSON."""
        content = request.content
        index = content.get("ChannelIndex", -1)
        selection = content.get("FilterMonitorChannelType", 1)
        if not isinstance(index, int) or not isinstance(selection, int):
            raise ValueError("ChannelIndex and FilterMonitorChannelType must be integers")
        records = self._records(index, selection, 0)
        return [m.ChannelInfoJsonFeedback({"m_Channels": [channel_json(r) for r in records]})]

    def start_vls(self, connection: Connection, request: m.StartVlsRequest) -> list[Reply]:
        """START_VLS: as START, test names of any length."""
        return self._start_each(request.channel_indexes, request.test_name, m.StartVlsFeedback)

    def start_ex_vls(self, connection: Connection, request: m.StartExVlsRequest) -> list[Reply]:
        """START_EX_VLS: as START_EX, the step taken from the entry's meta-variable list."""
        return self._start_entries(
            request.entries, m.StartExVlsFeedback, _mv_list_step, resume=False
        )

    def resume_ex_vls(self, connection: Connection, request: m.ResumeExVlsRequest) -> list[Reply]:
        """RESUME_EX_VLS: as RESUME_EX, the step taken from the entry's meta-variable list."""
        return self._start_entries(
            request.entries, m.ResumeExVlsFeedback, _mv_list_step, resume=True
        )

    def resume_by_mv(self, connection: Connection, request: m.ResumeByMvRequest) -> list[Reply]:
        """RESUME_BY_MV: as RESUME_EX_VLS."""
        # Open question 1: which feedback a server sends; the simulator sends 0xCD310006.
        return self._start_entries(
            request.entries, m.ResumeByMvFeedback, _mv_list_step, resume=True
        )

    def get_resume_data_vls(
        self, connection: Connection, request: m.GetResumeDataVlsRequest
    ) -> list[Reply]:
        """GET_RESUME_DATA_VLS: resume data with the meta-variable lists."""
        return [
            m.GetResumeDataVlsFeedback(self._mv_records(request.channel_indexes, m.ResumeVlsRecord))
        ]

    def get_resume_data_by_mv(
        self, connection: Connection, request: m.GetResumeDataByMvRequest
    ) -> list[Reply]:
        """GET_RESUME_DATA_BY_MV: as GET_RESUME_DATA_VLS."""
        return [
            m.GetResumeDataByMvFeedback(
                self._mv_records(request.channel_indexes, m.ResumeByMvRecord)
            )
        ]

    def _mv_records(self, indexes: Sequence[int], cls: Any) -> tuple[Any, ...]:
        records = []
        for index in indexes:
            legacy = self.cycler.resume_data(index)
            step = 0
            if legacy.channel_code == StartDataResult.SUCCESS:
                step = max(self.cycler.snapshot(index).reading.step_number - 1, 0)
            dwords, qwords = mv_list(legacy.resume_data, step)
            records.append(
                cls(
                    **{name: getattr(legacy, name) for name in _RESUME_RECORD_NAMES},
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
        number = meta_code_number(code)
        if number is not None:
            return GetMetaVariableResult.SUCCESS, reading.meta_variables[number - 1]
        name = _PV_READINGS.get(code)
        if name is None:
            return GetMetaVariableResult.META_CODE_NOT_FOUND, 0.0
        return GetMetaVariableResult.SUCCESS, float(getattr(reading, name))

    def get_meta_variables(
        self, connection: Connection, request: m.GetMetaVariablesRequest
    ) -> list[Reply]:
        """GET_MV: user meta variables and the readings the DLL reference lists."""
        values = []
        for query in request.queries:
            error, value = self._meta_value(query.channel_index, query.meta_code)
            if query.data_type != 1 and not error:
                error = GetMetaVariableResult.DATA_TYPE_NOT_SUPPORTED
            values.append(
                m.MetaVariableQuery(
                    query.channel_index, error, query.data_type, query.meta_code, value
                )
            )
        if request.is_minimalist:
            return [m.MinimalistFeedback(tuple(values))]
        return [m.GetMetaVariablesFeedback(tuple(values))]

    def update_meta_variables_ex(
        self, connection: Connection, request: m.UpdateMetaVariablesExRequest
    ) -> list[Reply]:
        """UPDATE_MV_ADVANCED_EX: one answer per entry (floating-point values only)."""
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
                m.MetaVariableExEntry(
                    entry.channel_index, entry.meta_code, entry.data_type, error, entry.value
                )
            )
        return [m.UpdateMetaVariablesExFeedback(tuple(answers))]

    def time_sensitive_set_mv(
        self, connection: Connection, request: m.TimeSensitiveSetMvRequest
    ) -> list[Reply]:
        """SPECIAL_SET_MV: set the enabled slots and answer with each channel's readings."""
        answers = []
        cycler = self.cycler
        for entry in request.entries:
            index = entry.channel_index
            if index >= cycler.num_channels:
                answers.append(
                    m.TimeSensitiveResultEntry(index, result=TimeSensitiveResult.CHANNEL_INDEX)
                )
                continue
            result = TimeSensitiveResult.SUCCESS
            for slot in entry.slots:
                if slot.enable:
                    code = cycler.set_meta_variable(index, slot.meta_code, slot.value)
                    if code == SetMetaVariableResult.CHANNEL_NOT_RUNNING:
                        # the DLL's SUCCESS_NOTRUNNING is not a set
                        result = TimeSensitiveResult.ERROR
                    elif code:
                        result = TimeSensitiveResult.META_CODE_NOT_FOUND
            snap = cycler.snapshot(index)
            answers.append(
                m.TimeSensitiveResultEntry(
                    index,
                    step_index=max(snap.reading.step_number - 1, 0),
                    status=int(snap.status) & 0xFF,
                    result=result,
                    current_a=snap.reading.current_a,
                    voltage_v=snap.reading.voltage_v,
                    mv_ud=snap.meta_variables,
                )
            )
        return [m.TimeSensitiveSetMvFeedback(tuple(answers))]

    def channel_info_simple(
        self, connection: Connection, request: m.SimpleChannelInfoRequest
    ) -> list[Reply]:
        """GET_CHANNELS_INFO_SIMPLE: the legacy records, reduced."""
        records = self._records(request.channel_index, request.selection, AuxOptions.AUX)
        simple = tuple(
            m.SimpleChannelRecord(
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
        return [m.SimpleChannelInfoFeedback(simple)]

    def channel_info_ex(
        self, connection: Connection, request: m.ChannelsInfoExRequest
    ) -> list[Reply]:
        """GET_CHANNELS_INFO_EX: the test object of each channel."""
        config = self.config
        records = []
        for r in self._records(request.channel_index, request.selection, 0):
            cell = config.channel_cells.get(r.channel_index + 1, config.cell)
            records.append(
                m.TestObjectRecord(
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
        return [m.ChannelsInfoExFeedback(tuple(records))]

    def get_barcode(self, connection: Connection, request: m.GetBarcodeRequest) -> list[Reply]:
        """GET_BARCODE of IV channels."""
        entries = []
        for query in request.queries:
            index = query.channel_index
            if request.channel_type != BarcodeChannelType.IV:
                entries.append(m.BarcodeEntry(index, GetBarcodeResult.CHANNEL_TYPE_NOT_SUPPORTED))
            elif index >= self.cycler.num_channels:
                entries.append(m.BarcodeEntry(index, GetBarcodeResult.CHANNEL_INDEX))
            else:
                barcode = self.cycler.snapshot(index).record.barcode
                entries.append(m.BarcodeEntry(index, GetBarcodeResult.SUCCESS, barcode))
        return [m.GetBarcodeFeedback(request.channel_type, tuple(entries))]

    def assign_barcode(
        self, connection: Connection, request: m.AssignBarcodeRequest
    ) -> list[Reply]:
        """ASSIGN_BARCODE to IV channels that do not run."""
        entries = []
        cycler = self.cycler
        iv = request.channel_type == BarcodeChannelType.IV
        for entry in request.entries:
            index = entry.channel_index
            if not iv:
                error = int(AssignBarcodeResult.CHANNEL_TYPE_NOT_SUPPORTED)
            elif index >= cycler.num_channels:
                error = int(AssignBarcodeResult.CHANNEL_INDEX)
            elif cycler.is_running(index):
                error = int(AssignBarcodeResult.CHANNEL_RUNNING)
            else:
                cycler.set_barcode(index, entry.barcode)
                error = int(AssignBarcodeResult.SUCCESS)
            entries.append(m.BarcodeEntry(index, error, entry.barcode, entry.info))
        return [m.AssignBarcodeFeedback(request.channel_type, tuple(entries))]

    def get_machine_type(
        self, connection: Connection, request: m.GetMachineTypeRequest
    ) -> list[Reply]:
        """GET_MACHINE_TYPE: SPTT for a server with JSON channels, else IV."""
        sptt = self.config.server_version.uses_json_channels
        return [m.GetMachineTypeFeedback(MachineType.SPTT if sptt else MachineType.IV)]

    def get_tray_status(
        self, connection: Connection, request: m.GetTrayStatusRequest
    ) -> list[Reply]:
        """GET_TRAY_STATUS of the trays asked."""
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
                    "Error": int(TrayResult.SUCCESS if engaged is not None else TrayResult.INDEX),
                    "MetaValues": [],
                }
            )
        return [m.GetTrayStatusFeedback({"TrayStatusInfos": infos})]

    def engage_tray(self, connection: Connection, request: m.EngageTrayRequest) -> list[Reply]:
        """ENGAGE_TRAY: engage or release the trays asked."""
        answers = []
        for item in request.content.get("EngageTrays", []):
            tray, engage = item.get("GlobalIndex"), bool(item.get("Engage"))
            error = int(TrayResult.SUCCESS)
            if tray not in self.trays_engaged:
                error = int(TrayResult.INDEX)
            else:
                self.trays_engaged[tray] = engage
            answers.append({"GlobalIndex": tray, "Engage": engage, "Error": error})
        return [m.EngageTrayFeedback({"EngageTrayInfos": answers})]

    def set_data_log_interval(
        self, connection: Connection, request: m.SetDataLogIntervalRequest
    ) -> list[Reply]:
        """SET_INTERVALTIME_LOGDATA: 0.01 to 3600 s."""
        interval = request.interval_s
        if not (math.isfinite(interval) and 0.01 <= interval <= 3600.0):
            return [
                m.SetDataLogIntervalFeedback(
                    result=DataLogIntervalResult.EXCEED_LIMIT,
                    reason="interval must be 0.01..3600 s",
                )
            ]
        self.data_log_interval_s = interval
        return [m.SetDataLogIntervalFeedback(result=DataLogIntervalResult.SUCCESS)]

    def get_server_software_version(
        self, connection: Connection, request: m.GetServerSoftwareVersionRequest
    ) -> list[Reply]:
        """GET_SERVER_SOFTWARE_VERSION: the configured text."""
        return [m.GetServerSoftwareVersionFeedback(self.config.software_version)]

    def get_string_limits(
        self, connection: Connection, request: m.GetStringLimitsRequest
    ) -> list[Reply]:
        """GET_STRING_LIMITS: the longest test name accepted."""
        # A VLS server takes test names of any length (START_VLS has no limit); legacy: 72.
        limit = 1024 if self.config.server_version.uses_vls else 72
        return [m.GetStringLimitsFeedback((m.StringLimit(1, limit),))]

    def check_file_ex(self, connection: Connection, request: m.CheckFileExRequest) -> list[Reply]:
        """CHECK_FILE_EX: whether the folder and file exist and the MD5 matches."""
        try:
            folder = self.files.resolve(request.directory)
            path = self.files.resolve(f"{request.directory}\\{request.file_name}")
        except PathRefused as exc:
            return [m.CheckFileExFeedback(reason=str(exc)[:256])]
        exists = path.is_file()
        matches = exists and hashlib.md5(path.read_bytes()).digest() == request.md5
        wire_path = str(path.relative_to(self.files.root)).replace("/", "\\")
        return [
            m.CheckFileExFeedback(
                path_exists=int(folder.is_dir()),
                name_exists=int(exists),
                md5_matches=int(matches),
                reason="" if exists else "file not found",
                file_path=wire_path,
            )
        ]

    def assign_file(self, connection: Connection, request: m.AssignFileRequest) -> list[Reply]:
        """ASSIGN_FILE: schedules only; one result per channel."""
        indexes = range(self.cycler.num_channels) if request.for_all else request.channel_indexes
        results = []
        for index in indexes:
            if request.file_kind != FileKind.SCHEDULE:
                code = int(AssignFileResult.UNSUPPORTED_FILE_TYPE)
            else:
                code = self.cycler.assign(index, request.file_name)
            results.append(m.ChannelResult(index, code))
        return [m.AssignFileFeedback(results=tuple(results))]

    def modify_schedule(
        self, connection: Connection, request: m.ModifyScheduleRequest
    ) -> list[Reply]:
        """MODIFY_SCHEDULE: reload each schedule named."""
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
            m.ModifyScheduleFeedback(
                {"TaskID": content.get("TaskID"), "ScheduleModifyInfos": answers}
            )
        ]

    def start_advanced(
        self, connection: Connection, request: m.StartAdvancedRequest
    ) -> list[Reply]:
        """START_ADVANCED: per channel, assign, set the barcode and start."""
        content = request.content
        succeeded: list[int] = []
        failed: list[dict[str, Any]] = []
        for channel in content.get("Channels", []):
            index = channel.get("ChannelIndex", -1)
            code = self._assign_for_start(index, str(channel.get("ScheduleName", "")))
            if code == StartResult.SUCCESS and channel.get("Barcode"):
                if self.cycler.is_running(index):
                    code = StartResult.CHANNEL_RUNNING
                else:
                    self.cycler.set_barcode(index, str(channel["Barcode"]))
            if code == StartResult.SUCCESS:
                code = self.cycler.start(index, str(channel.get("TestName", "")))
            if code == StartResult.SUCCESS:
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
            m.StartAdvancedFeedback(
                {
                    "TaskID": content.get("TaskID"),
                    "SuccessfulChannelIDs": succeeded,
                    "FailedResults": failed,
                }
            )
        ]

    def get_mapping_aux(
        self, connection: Connection, request: m.GetMappingAuxRequest
    ) -> list[Reply]:
        """GET_MAPPING_AUX: the aux counts of every channel."""
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
            m.GetMappingAuxFeedback(
                {"TaskID": request.content.get("TaskID"), "MappingInfos": infos}
            )
        ]

    # -- file commands -------------------------------------------------------------------------

    def browse(self, connection: Connection, request: m.BrowseDirectoryRequest) -> list[Reply]:
        """BROWSE_DIRECTORY under the root."""
        return [self.files.browse(request)]

    def download(self, connection: Connection, request: m.DownloadFileRequest) -> list[Reply]:
        """DOWNLOAD_FILE, in chunks; a time stamp that is not a number fails."""
        if not math.isfinite(request.download_time):
            logger.info("download %r refused: its time stamp is not a number", request.path)
            return [download_failed(request)]
        return list(self.files.download(request))

    def upload(self, connection: Connection, request: m.UploadFileRequest) -> list[Reply]:
        """UPLOAD_FILE chunk; a time stamp that is not a number fails and drops the upload."""
        if not math.isfinite(request.upload_time):
            logger.info("upload %r refused: its time stamp is not a number", request.path)
            self.files.discard_upload(connection.uploads, request.path)
            return [upload_failed(request)]
        return [self.files.upload(request, connection.uploads)]

    def new_or_delete(self, connection: Connection, request: m.NewOrDeleteRequest) -> list[Reply]:
        """NEW_OR_DELETE a file under the root."""
        return [self.files.new_or_delete(request)]

    def new_folder(self, connection: Connection, request: m.NewFolderRequest) -> list[Reply]:
        """NEW_FOLDER under the root."""
        return [self.files.new_folder_request(request)]

    def delete_folder(self, connection: Connection, request: m.DeleteFolderRequest) -> list[Reply]:
        """DELETE_FOLDER under the root."""
        return [self.files.delete_request(request)]


def _select_step(entry: Any) -> int:
    """The 0-based first step of a START_EX/RESUME_EX entry."""
    return int(entry.select_step)


def _mv_list_step(entry: Any) -> int:
    """The 0-based first step of a VLS entry, from its meta-variable list."""
    _data, step = resume_data_from_mv_list(entry.dwords, entry.qwords)
    return step


def _serial_as_int(serial: str) -> int:
    digits = re.sub(r"\D", "", serial)
    return int(digits[-9:]) if digits else 0


def _one_byte_texts(texts: Sequence[str]) -> tuple[str, ...]:
    """Texts for a 1-byte (THIRD_PARTY_STRING) field: a character outside Latin-1 becomes
    ``?``, as the Windows code page conversion of a real server makes it."""
    return tuple(text.encode("latin-1", "replace").decode("latin-1") for text in texts)
