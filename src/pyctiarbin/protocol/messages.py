"""Every CTI request and feedback the documents give a layout for, declared once.

Offsets in the comments are from the start of the frame (the body starts at 20). Layouts come
from Arbin's protocol v1.1 and instructions v4.5; where they conflict, the captured messages
decide, and where nothing settles it the v4.5 layout is used (noted at the class).
Channel indexes are 0-based, as on the wire.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from ..errors import EncodeError
from .codes import (
    AssignResult,
    AutoCalibrationResult,
    BrowseResult,
    ChannelSelection,
    CommandCode,
    ConnectResult,
    ContinueResult,
    FileResult,
    FileTransferResult,
    JumpResult,
    LoginResult,
    MetaCode,
    ResultCode,
    ResumeResult,
    SendMessageResult,
    SerialResult,
    SetMetaVariableResult,
    StartResult,
    StatusCode,
    StopResult,
    UpdateMetaVariableResult,
)
from .fields import (
    F32,
    F64,
    FLAG,
    I16,
    I32,
    U8,
    U16,
    U32,
    Ascii,
    Bytes,
    Enum16,
    F32Array,
    Nested,
    Wide,
    WireStruct,
    compiled,
    decode_wide,
    encode_ascii,
    encode_wide,
    wire,
)
from .framing import register_direction

__all__ = [
    "AUX_KINDS",
    "MAX_MV_ENTRIES",
    "AssignScheduleFeedback",
    "AssignScheduleRequest",
    "AutoCalibrationFeedback",
    "AutoCalibrationRequest",
    "AuxReadings",
    "AuxValue",
    "BmsValue",
    "BrowseDirectoryFeedback",
    "BrowseDirectoryRequest",
    "ChannelInfoFeedback",
    "ChannelInfoRequest",
    "ChannelRecord",
    "ConnectFeedback",
    "ConnectRequest",
    "ContinueFeedback",
    "ContinueRequest",
    "DeleteFolderFeedback",
    "DeleteFolderRequest",
    "DirEntry",
    "DownloadFileFeedback",
    "DownloadFileRequest",
    "GetResumeDataFeedback",
    "GetResumeDataRequest",
    "GetSerialNumberFeedback",
    "GetSerialNumberRequest",
    "GetStartDataFeedback",
    "GetStartDataRequest",
    "JumpFeedback",
    "JumpRequest",
    "LoginFeedback",
    "LoginRequest",
    "Message",
    "MetaVariableEntry",
    "NewFolderFeedback",
    "NewFolderRequest",
    "NewOrDeleteFeedback",
    "NewOrDeleteRequest",
    "ResultFeedback",
    "ResumeData",
    "ResumeDataRecord",
    "ResumeExEntry",
    "ResumeExRequest",
    "ResumeFeedback",
    "ResumeRequest",
    "SendMessageFeedback",
    "SendMessageRequest",
    "SetMetaVariableFeedback",
    "SetMetaVariableRequest",
    "SmbValue",
    "StartDataRecord",
    "StartExEntry",
    "StartExRequest",
    "StartFeedback",
    "StartRequest",
    "StopFeedback",
    "StopRequest",
    "UpdateMetaVariablesFeedback",
    "UpdateMetaVariablesRequest",
    "UploadFileFeedback",
    "UploadFileRequest",
    "message_classes",
]

Buffer = bytes | bytearray | memoryview
M = TypeVar("M", bound="Message")

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_U32_PAIR = struct.Struct("<II")
_AUX_COUNTS = struct.Struct("<14H")
_AUX_VALUE = struct.Struct("<ff")

#: Largest number of entries in one UPDATE_MV_ADVANCED request (v4.5 and the .NET client).
MAX_MV_ENTRIES = 160

_REGISTRY: dict[int, type[Message]] = {}


class Message(WireStruct):
    """Base of every request and feedback. ``CODE`` is its dwCmd; ``IS_REQUEST`` its direction."""

    __slots__ = ()
    CODE: ClassVar[int]
    IS_REQUEST: ClassVar[bool]


def register(cls: type[M]) -> type[M]:
    """Add a compiled message class to the registry keyed by its command code."""
    code = int(cls.CODE)
    if code in _REGISTRY:
        raise TypeError(f"command code 0x{code:08X} registered twice")
    _REGISTRY[code] = cls
    register_direction(code, request=cls.IS_REQUEST)
    return cls


def message_class(code: int) -> type[Message] | None:
    """The message class for command ``code``, or None if no layout is known."""
    return _REGISTRY.get(code)


def message_classes() -> list[type[Message]]:
    """Every registered message class, requests and feedbacks."""
    return list(_REGISTRY.values())


# --------------------------------------------------------------------------------------------
# Helpers for variable-length tails


def _check_index_list(owner: str, name: str, values: Any, high: int = 0xFFFF) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise EncodeError(f"{owner}.{name} must be a sequence of channel indexes")
    checked = tuple(values)
    for position, value in enumerate(checked):
        if not isinstance(value, int) or not 0 <= value <= high:
            raise EncodeError(f"{owner}.{name}[{position}]={value!r} is outside 0..{high}")
    return checked


def _pack_u16_list(owner: str, name: str, values: Any) -> bytes:
    checked = _check_index_list(owner, name, values)
    return struct.pack(f"<I{len(checked)}H", len(checked), *checked)


def _unpack_u16_list(buffer: Buffer, offset: int, end: int) -> tuple[tuple[int, ...], int]:
    (count,) = _U32.unpack_from(buffer, offset)
    offset += 4
    after = offset + 2 * count
    if after > end:
        raise struct.error(f"list of {count} channel indexes overruns the frame")
    return struct.unpack_from(f"<{count}H", buffer, offset), after


def _pack_records(owner: str, name: str, records: Any, kind: type[WireStruct]) -> bytes:
    if isinstance(records, (str, bytes)) or not hasattr(records, "__iter__"):
        raise EncodeError(f"{owner}.{name} must be a sequence of {kind.__name__}")
    parts = [b""]
    count = 0
    for record in records:
        if not isinstance(record, kind):
            raise EncodeError(f"{owner}.{name}[{count}] must be a {kind.__name__}")
        parts.append(record.pack())
        count += 1
    parts[0] = _U32.pack(count)
    return b"".join(parts)


R = TypeVar("R", bound=WireStruct)


def _unpack_records(
    buffer: Buffer, offset: int, end: int, kind: type[R]
) -> tuple[tuple[R, ...], int]:
    (count,) = _U32.unpack_from(buffer, offset)
    offset += 4
    records = []
    for _ in range(count):
        record, offset = kind.unpack_from(buffer, offset, end)
        records.append(record)
    return tuple(records), offset


def _pack_cstring(owner: str, name: str, value: Any) -> bytes:
    return encode_ascii(owner, name, value, 1 << 16) + b"\x00"


def _unpack_cstring(buffer: Buffer, offset: int, end: int) -> tuple[str, int]:
    # decode() hands over bytes; find() with bounds then scans in place, never copying the
    # rest of the frame (a frame of many BMS/SMB entries stays linear to decode).
    if isinstance(buffer, memoryview):
        buffer = bytes(buffer)
    stop = buffer.find(b"\x00", offset, end)
    if stop < 0:
        raise struct.error("NUL-terminated string runs past the end of the frame")
    return buffer[offset:stop].decode("latin-1"), stop + 1


def _pack_third_party_strings(owner: str, name: str, values: Any) -> bytes:
    # THIRD_PARTY_STRING: u32 length, then that many 1-byte characters (no terminator).
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise EncodeError(f"{owner}.{name} must be a sequence of strings, not {values!r}")
    parts = []
    for position, value in enumerate(values):
        data = encode_ascii(owner, f"{name}[{position}]", value, 1 << 20)
        parts.append(_U32.pack(len(data)) + data)
    return b"".join(parts)


def _unpack_third_party_strings(
    buffer: Buffer, offset: int, end: int, count: int
) -> tuple[tuple[str, ...], int]:
    values = []
    for _ in range(count):
        (length,) = _U32.unpack_from(buffer, offset)
        offset += 4
        if offset + length > end:
            raise struct.error("string overruns the frame")
        values.append(bytes(buffer[offset : offset + length]).rstrip(b"\x00").decode("latin-1"))
        offset += length
    return tuple(values), offset


def _mv_tuple() -> tuple[float, ...]:
    return (0.0,) * 16


# --------------------------------------------------------------------------------------------
# R128: the common 128-byte result feedback


@dataclass(slots=True)
class ResultFeedback(Message):
    """The 128-byte result feedback shared by the channel control commands.

    ``channel_index`` is the channel the result refers to (servers do not reliably send -1 on
    success, so judge by ``result``); ``result`` is 0 on success.
    """

    IS_REQUEST: ClassVar[bool] = False
    RESULTS: ClassVar[type[ResultCode]]
    COMMAND: ClassVar[str]
    SUCCESS: ClassVar[int] = 0

    channel_index: int = wire(I32)  # 20
    result: int = wire(U8, default=0, pad_after=101)  # 24, then 101 reserved

    @property
    def ok(self) -> bool:
        """True if the command succeeded on this channel."""
        return self.result == self.SUCCESS

    @property
    def meaning(self) -> str:
        """The documented meaning of ``result``."""
        return self.RESULTS.describe(self.result)


# --------------------------------------------------------------------------------------------
# LOGIN and CONNECT


@register
@compiled
@dataclass(slots=True)
class LoginRequest(Message):
    """LOGIN request (86 bytes). User and password are 1-byte text of 32 characters."""

    CODE: ClassVar[int] = CommandCode.LOGIN
    IS_REQUEST: ClassVar[bool] = True

    username: str = wire(Ascii(32))  # 20
    password: str = wire(Ascii(32), repr=False)  # 52


@register
@compiled
@dataclass(slots=True)
class LoginFeedback(Message):
    """LOGIN feedback (8678 bytes plus the picture).

    ``result``: 1 success, 2 failed, 3 already logged in (:class:`LoginResult`).
    ``num_channels`` is dwChannelNum at 8664 (named dwChannelLength in v1.1; the captured value
    matches the cycler's channel count). ``ip_address`` and ``itac`` are opaque.
    """

    CODE: ClassVar[int] = CommandCode.LOGIN_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    result: int = wire(U32, default=LoginResult.SUCCESS)  # 20
    ip_address: bytes = wire(Bytes(4), default=b"\x00\x00\x00\x00")  # 24
    serial_number: str = wire(Ascii(16), default="")  # 28
    note: str = wire(Ascii(256), default="")  # 44
    nickname: str = wire(Wide(1024), default="")  # 300
    location: str = wire(Wide(1024), default="")  # 2348
    emergency_contact: str = wire(Wide(1024), default="")  # 4396
    other_comments: str = wire(Wide(1024), default="")  # 6444
    email: str = wire(Wide(64), default="")  # 8492
    call: str = wire(Wide(16), default="")  # 8620
    itac: int = wire(U32, default=0)  # 8652
    version: int = wire(U32, default=1)  # 8656
    allow_control: int = wire(U32, default=1)  # 8660
    num_channels: int = wire(U32, default=0)  # 8664
    user_type: int = wire(U32, default=0)  # 8668
    picture: bytes = b""  # 8672: u32 length, then the picture bytes

    @property
    def succeeded(self) -> bool:
        return self.result == LoginResult.SUCCESS

    @property
    def meaning(self) -> str:
        return LoginResult.describe(self.result)

    def _pack_tail(self) -> bytes:
        if not isinstance(self.picture, (bytes, bytearray)):
            raise EncodeError("LoginFeedback.picture must be bytes")
        return _U32.pack(len(self.picture)) + bytes(self.picture)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        (length,) = _U32.unpack_from(buffer, offset)
        offset += 4
        if offset + length > end:
            raise struct.error("login picture overruns the frame")
        return {"picture": bytes(buffer[offset : offset + length])}, offset + length


@register
@compiled
@dataclass(slots=True)
class ConnectRequest(Message):
    """CONNECT request (58 bytes): the kick-out flag (its meaning differs between documents)."""

    CODE: ClassVar[int] = CommandCode.CONNECT
    IS_REQUEST: ClassVar[bool] = True

    set_kick_out: int = wire(U32, default=0, pad_after=32)  # 20, then 32 reserved


@register
@compiled
@dataclass(slots=True)
class ConnectFeedback(Message):
    """CONNECT feedback (62 bytes): the flag echoed and 0 accepted / 1 rejected (full)."""

    CODE: ClassVar[int] = CommandCode.CONNECT_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    set_kick_out: int = wire(U32, default=0)  # 20
    connect_result: int = wire(U32, default=ConnectResult.ACCEPTED, pad_after=32)  # 24

    @property
    def ok(self) -> bool:
        return self.connect_result == ConnectResult.ACCEPTED


# --------------------------------------------------------------------------------------------
# GET_CHANNELS_INFO


@register
@compiled
@dataclass(slots=True)
class ChannelInfoRequest(Message):
    """GET_CHANNELS_INFO request (62 bytes).

    ``channel_index``: 0-based channel, or -1 for all channels. ``selection``: 1 all, 2 running,
    3 unsafe (:class:`ChannelSelection`). ``aux_options``: OR of :class:`AuxOptions`.
    """

    CODE: ClassVar[int] = CommandCode.GET_CHANNELS_INFO
    IS_REQUEST: ClassVar[bool] = True

    channel_index: int = wire(I16, default=-1)  # 20
    selection: int = wire(I16, default=ChannelSelection.ALL)  # 22
    aux_options: int = wire(U32, default=0, pad_after=32)  # 24, then 32 reserved


@dataclass(frozen=True, slots=True)
class AuxValue:
    """One auxiliary reading: its value and its rate of change."""

    value: float
    dt: float


#: The aux groups in the order of their count fields, which is their order on the wire.
AUX_KINDS = (
    "voltage",
    "temperature",
    "pressure",
    "external",
    "flow",
    "ao",
    "di",
    "do",
    "humidity",
    "safety",
    "ph",
    "density",
)


@dataclass(frozen=True, slots=True)
class AuxReadings:
    """Auxiliary readings of one channel, grouped by kind in wire order."""

    voltage: tuple[AuxValue, ...] = ()
    temperature: tuple[AuxValue, ...] = ()
    pressure: tuple[AuxValue, ...] = ()
    external: tuple[AuxValue, ...] = ()
    flow: tuple[AuxValue, ...] = ()
    ao: tuple[AuxValue, ...] = ()
    di: tuple[AuxValue, ...] = ()
    do: tuple[AuxValue, ...] = ()
    humidity: tuple[AuxValue, ...] = ()
    safety: tuple[AuxValue, ...] = ()
    ph: tuple[AuxValue, ...] = ()
    density: tuple[AuxValue, ...] = ()

    def __bool__(self) -> bool:
        return any(getattr(self, kind) for kind in AUX_KINDS)

    def counts(self) -> tuple[int, ...]:
        return tuple(len(getattr(self, kind)) for kind in AUX_KINDS)


_NO_AUX = AuxReadings()


@dataclass(frozen=True, slots=True)
class BmsValue:
    """A CAN-BMS entry (v4.5 layout: u32 index, f64 value, NUL-terminated 1-byte unit)."""

    index: int
    value: float
    unit: str = ""


@dataclass(frozen=True, slots=True)
class SmbValue:
    """An SMB entry (v4.5 layout): u32 index, u32 type (0 double, 1 string), the value, unit.

    ``value`` is a float for type 0 and a str for type 1.
    """

    index: int
    value: float | str
    unit: str = ""


@compiled
@dataclass(slots=True)
class ChannelRecord(WireStruct):
    """One channel in a channel-info feedback: 1753 fixed bytes, then aux, BMS and SMB parts.

    Relative offsets: index 0, status 4, comm failure 6, schedule 7, test name 407, exit
    condition 551, step/cycle 651, barcode 715, CAN config 859, SMB config 1259, master 1659,
    test time 1661, step time 1669, then twelve f32 readings from 1677, fourteen u16 counts
    from 1725 (twelve aux groups, BMS, SMB), and the variable parts from 1753.
    """

    channel_index: int = wire(U32)
    status: StatusCode = wire(Enum16(StatusCode), default=StatusCode.IDLE)
    comm_failure: int = wire(U8, default=0)
    schedule: str = wire(Wide(200), default="")
    test_name: str = wire(Wide(72), default="")
    exit_condition: str = wire(Ascii(100), default="")
    step_and_cycle_format: str = wire(Ascii(64), default="")
    barcode: str = wire(Wide(72), default="")
    can_config_name: str = wire(Wide(200), default="")
    smb_config_name: str = wire(Wide(200), default="")
    master_channel: int = wire(U16, default=0)
    test_time_s: float = wire(F64, default=0.0)
    step_time_s: float = wire(F64, default=0.0)
    voltage_v: float = wire(F32, default=0.0)
    current_a: float = wire(F32, default=0.0)
    power_w: float = wire(F32, default=0.0)
    charge_capacity_ah: float = wire(F32, default=0.0)
    discharge_capacity_ah: float = wire(F32, default=0.0)
    charge_energy_wh: float = wire(F32, default=0.0)
    discharge_energy_wh: float = wire(F32, default=0.0)
    internal_resistance_ohm: float = wire(F32, default=0.0)
    dvdt_vbys: float = wire(F32, default=0.0)
    acr_ohm: float = wire(F32, default=0.0)
    aci_ohm: float = wire(F32, default=0.0)
    aci_phase_degrees: float = wire(F32, default=0.0)
    aux: AuxReadings = _NO_AUX
    bms: tuple[BmsValue, ...] = ()
    smb: tuple[SmbValue, ...] = ()

    @classmethod
    def unpack_from(cls, buffer: Buffer, offset: int, end: int) -> tuple[ChannelRecord, int]:
        """Parse one record at ``offset``.

        A status scan decodes thousands of these, so the common case (no aux, BMS or SMB part)
        is one struct call over the fixed 1753 bytes, counts included, and one constructor call.
        """
        after = offset + _RECORD_SIZE
        if after > end:
            raise struct.error(f"a channel record needs {_RECORD_SIZE} bytes, {end - offset} left")
        v = _RECORD_UNPACK(buffer, offset)
        status = _STATUS_BY_CODE.get(v[1])
        # Empty text fields (most of them) are recognised inline, without a call.
        head = (
            v[0],
            status if status is not None else StatusCode(v[1]),
            v[2],
            decode_wide(v[3]) if v[3][0] or v[3][1] else "",
            decode_wide(v[4]) if v[4][0] or v[4][1] else "",
            v[5].partition(b"\x00")[0].decode("latin-1"),
            v[6].partition(b"\x00")[0].decode("latin-1"),
            decode_wide(v[7]) if v[7][0] or v[7][1] else "",
            decode_wide(v[8]) if v[8][0] or v[8][1] else "",
            decode_wide(v[9]) if v[9][0] or v[9][1] else "",
            *v[10:25],
        )
        if v[25:] == _NO_COUNTS:
            return cls(*head), after
        tail, after = cls._unpack_tail(buffer, after - _AUX_COUNTS.size, end)
        return cls(*head, **tail), after

    def _pack_tail(self) -> bytes:
        aux = self.aux
        if not isinstance(aux, AuxReadings):
            raise EncodeError("ChannelRecord.aux must be AuxReadings")
        counts = (*aux.counts(), len(self.bms), len(self.smb))
        if max(counts) > 0xFFFF:
            names = (*(f"aux.{kind}" for kind in AUX_KINDS), "bms", "smb")
            for name, count in zip(names, counts, strict=True):
                if count > 0xFFFF:
                    raise EncodeError(
                        f"ChannelRecord.{name} has {count} entries; its u16 count holds 65535"
                    )
        parts = [_AUX_COUNTS.pack(*counts)]
        for kind in AUX_KINDS:
            for position, entry in enumerate(getattr(aux, kind)):
                name = f"aux.{kind}[{position}]"
                parts.append(
                    _AUX_VALUE.pack(
                        F32.encode("ChannelRecord", name + ".value", entry.value),
                        F32.encode("ChannelRecord", name + ".dt", entry.dt),
                    )
                )
        for position, bms in enumerate(self.bms):
            name = f"bms[{position}]"
            parts.append(
                _U32.pack(U32.encode("ChannelRecord", name + ".index", bms.index))
                + _F64.pack(F64.encode("ChannelRecord", name + ".value", bms.value))
                + _pack_cstring("ChannelRecord", name + ".unit", bms.unit)
            )
        for position, smb in enumerate(self.smb):
            name = f"smb[{position}]"
            index = U32.encode("ChannelRecord", name + ".index", smb.index)
            if isinstance(smb.value, str):
                value = _U32_PAIR.pack(index, 1) + _pack_cstring("ChannelRecord", name, smb.value)
            else:
                value = _U32_PAIR.pack(index, 0) + _F64.pack(
                    F64.encode("ChannelRecord", name + ".value", smb.value)
                )
            parts.append(value + _pack_cstring("ChannelRecord", name + ".unit", smb.unit))
        return b"".join(parts)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        counts = _AUX_COUNTS.unpack_from(buffer, offset)
        offset += 28
        if not any(counts):
            return {}, offset
        tail: dict[str, Any] = {}
        total_aux = sum(counts[:12])
        if total_aux:
            if offset + 8 * total_aux > end:
                raise struct.error("aux values overrun the frame")
            groups = {}
            for kind, count in zip(AUX_KINDS, counts[:12], strict=True):
                if count:
                    raw = struct.unpack_from(f"<{2 * count}f", buffer, offset)
                    groups[kind] = tuple(
                        AuxValue(raw[i], raw[i + 1]) for i in range(0, 2 * count, 2)
                    )
                    offset += 8 * count
            tail["aux"] = AuxReadings(**groups)
        bms_values = []
        for _ in range(counts[12]):
            (index,) = _U32.unpack_from(buffer, offset)
            (value,) = _F64.unpack_from(buffer, offset + 4)
            unit, offset = _unpack_cstring(buffer, offset + 12, end)
            bms_values.append(BmsValue(index, value, unit))
        smb_values = []
        for _ in range(counts[13]):
            index, kind = _U32_PAIR.unpack_from(buffer, offset)
            offset += 8
            smb_value: float | str
            if kind == 0:
                (smb_value,) = _F64.unpack_from(buffer, offset)
                offset += 8
            elif kind == 1:
                smb_value, offset = _unpack_cstring(buffer, offset, end)
            else:
                raise ValueError(f"SMB entry type {kind} is neither 0 (double) nor 1 (string)")
            unit, offset = _unpack_cstring(buffer, offset, end)
            smb_values.append(SmbValue(index, smb_value, unit))
        if bms_values:
            tail["bms"] = tuple(bms_values)
        if smb_values:
            tail["smb"] = tuple(smb_values)
        return tail, offset


_RECORD_UNPACK = struct.Struct(ChannelRecord.LAYOUT.struct.format + "14H").unpack_from
_RECORD_SIZE = ChannelRecord.LAYOUT.size + _AUX_COUNTS.size
_NO_COUNTS = (0,) * 14
_STATUS_BY_CODE = {int(member): member for member in StatusCode}


@register
@compiled
@dataclass(slots=True)
class ChannelInfoFeedback(Message):
    """GET_CHANNELS_INFO feedback: u32 ChannelNum at 20, then that many :class:`ChannelRecord`.

    A 1-channel feedback without aux is 1779 bytes; 16 channels are 28074 bytes. MITS 10 may
    answer a one-channel request with every channel: select records by ``channel_index``.
    """

    CODE: ClassVar[int] = CommandCode.GET_CHANNELS_INFO_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    channels: tuple[ChannelRecord, ...] = ()

    @classmethod
    def unpack_from(cls, buffer: Buffer, offset: int, end: int) -> tuple[ChannelInfoFeedback, int]:
        (count,) = _U32.unpack_from(buffer, offset)
        offset += 4
        if count == 1:  # the answer to a one-channel read
            record, offset = ChannelRecord.unpack_from(buffer, offset, end)
            return cls((record,)), offset
        unpack_record = ChannelRecord.unpack_from
        records = []
        for _ in range(count):
            record, offset = unpack_record(buffer, offset, end)
            records.append(record)
        return cls(tuple(records)), offset

    def _pack_tail(self) -> bytes:
        return _pack_records("ChannelInfoFeedback", "channels", self.channels, ChannelRecord)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        channels, offset = _unpack_records(buffer, offset, end, ChannelRecord)
        return {"channels": channels}, offset


# --------------------------------------------------------------------------------------------
# ASSIGN, START, CONTINUE, RESUME, STOP, JUMP


@register
@compiled
@dataclass(slots=True)
class AssignScheduleRequest(Message):
    """ASSIGN_SCHEDULE request (671 bytes).

    Capacity, barcode and the MV_UD initial values only take effect on MITS Pro 7.
    """

    CODE: ClassVar[int] = CommandCode.ASSIGN_SCHEDULE
    IS_REQUEST: ClassVar[bool] = True

    channel_index: int = wire(I32)  # 20
    assign_all: bool = wire(FLAG, default=False)  # 24
    schedule: str = wire(Wide(200), default="")  # 25
    capacity_ah: float = wire(F32, default=0.0)  # 425
    barcode: str = wire(Wide(72), default="")  # 429
    mv_ud: tuple[float, ...] = wire(F32Array(16), default=_mv_tuple(), pad_after=32)  # 573


@register
@compiled
@dataclass(slots=True)
class AssignScheduleFeedback(ResultFeedback):
    CODE: ClassVar[int] = CommandCode.ASSIGN_SCHEDULE_FEEDBACK
    RESULTS: ClassVar[type[ResultCode]] = AssignResult
    COMMAND: ClassVar[str] = "assign_schedule"


@register
@compiled
@dataclass(slots=True)
class StartRequest(Message):
    """START request (170 + 2N bytes): test name, u32 N at 164, N u16 channel indexes at 168.

    This is the v4.5 layout, which the captured START message confirms (v1.1 differs).
    """

    CODE: ClassVar[int] = CommandCode.START
    IS_REQUEST: ClassVar[bool] = True

    test_name: str = wire(Wide(72))  # 20
    channel_indexes: tuple[int, ...] = ()  # 164

    def _pack_tail(self) -> bytes:
        return _pack_u16_list("StartRequest", "channel_indexes", self.channel_indexes)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        indexes, offset = _unpack_u16_list(buffer, offset, end)
        return {"channel_indexes": indexes}, offset


@register
@compiled
@dataclass(slots=True)
class StartFeedback(ResultFeedback):
    """Feedback of START and of START_EX."""

    CODE: ClassVar[int] = CommandCode.START_FEEDBACK
    RESULTS: ClassVar[type[ResultCode]] = StartResult
    COMMAND: ClassVar[str] = "start"


@register
@compiled
@dataclass(slots=True)
class ContinueRequest(Message):
    """CONTINUE request (26 + 2N bytes): u32 N, then N u16 channel indexes (v4.5 layout)."""

    CODE: ClassVar[int] = CommandCode.CONTINUE
    IS_REQUEST: ClassVar[bool] = True

    channel_indexes: tuple[int, ...] = ()

    def _pack_tail(self) -> bytes:
        return _pack_u16_list("ContinueRequest", "channel_indexes", self.channel_indexes)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        indexes, offset = _unpack_u16_list(buffer, offset, end)
        return {"channel_indexes": indexes}, offset


@register
@compiled
@dataclass(slots=True)
class ContinueFeedback(ResultFeedback):
    CODE: ClassVar[int] = CommandCode.CONTINUE_FEEDBACK
    RESULTS: ClassVar[type[ResultCode]] = ContinueResult
    COMMAND: ClassVar[str] = "continue"


@register
@compiled
@dataclass(slots=True)
class ResumeRequest(Message):
    """RESUME request (128 bytes): i32 channel at 20, resume-all flag at 24."""

    CODE: ClassVar[int] = CommandCode.RESUME
    IS_REQUEST: ClassVar[bool] = True

    channel_index: int = wire(I32)
    resume_all: bool = wire(FLAG, default=False, pad_after=101)


@register
@compiled
@dataclass(slots=True)
class ResumeFeedback(ResultFeedback):
    """Feedback of RESUME and of RESUME_EX."""

    CODE: ClassVar[int] = CommandCode.RESUME_FEEDBACK
    RESULTS: ClassVar[type[ResultCode]] = ResumeResult
    COMMAND: ClassVar[str] = "resume"


@register
@compiled
@dataclass(slots=True)
class StopRequest(Message):
    """STOP request (128 bytes): u32 channel at 20, stop-all flag at 24."""

    CODE: ClassVar[int] = CommandCode.STOP
    IS_REQUEST: ClassVar[bool] = True

    channel_index: int = wire(U32)
    stop_all: bool = wire(FLAG, default=False, pad_after=101)


@register
@compiled
@dataclass(slots=True)
class StopFeedback(ResultFeedback):
    CODE: ClassVar[int] = CommandCode.STOP_FEEDBACK
    RESULTS: ClassVar[type[ResultCode]] = StopResult
    COMMAND: ClassVar[str] = "stop"


@register
@compiled
@dataclass(slots=True)
class JumpRequest(Message):
    """JUMP request (131 bytes): i32 step at 20, i32 channel at 24, 101 reserved.

    Step numbering is disputed (v1.1: 0-based; ArbinCTI 1.2: 1..n); the value is sent as given.
    """

    CODE: ClassVar[int] = CommandCode.JUMP
    IS_REQUEST: ClassVar[bool] = True

    step: int = wire(I32)
    channel_index: int = wire(I32, pad_after=101)


@register
@compiled
@dataclass(slots=True)
class JumpFeedback(ResultFeedback):
    CODE: ClassVar[int] = CommandCode.JUMP_FEEDBACK
    RESULTS: ClassVar[type[ResultCode]] = JumpResult
    COMMAND: ClassVar[str] = "jump"


# --------------------------------------------------------------------------------------------
# START_EX, RESUME_EX, GET_START_DATA, GET_RESUME_DATA (v4.5 only)


@compiled
@dataclass(slots=True)
class ResumeData(WireStruct):
    """THIRD_PARTY_RESUME_DATA (244 bytes), the counters a test resumes from (v4.5 layout).

    The ArbinCTI 1.2 .NET struct has a TestID and eight MV counters; no wire layout for it is
    documented, so this follows v4.5.
    """

    cycle: int = wire(U32, default=0)
    test_time_s: float = wire(F64, default=0.0)
    step_time_s: float = wire(F64, default=0.0)
    charge_capacity_ah: float = wire(F64, default=0.0)
    discharge_capacity_ah: float = wire(F64, default=0.0)
    charge_energy_wh: float = wire(F64, default=0.0)
    discharge_energy_wh: float = wire(F64, default=0.0)
    tc_time_s: tuple[float, ...] = field(default=(0.0,) * 4)
    tc_charge_capacity_ah: tuple[float, ...] = field(default=(0.0,) * 2)
    tc_discharge_capacity_ah: tuple[float, ...] = field(default=(0.0,) * 2)
    tc_charge_energy_wh: tuple[float, ...] = field(default=(0.0,) * 2)
    tc_discharge_energy_wh: tuple[float, ...] = field(default=(0.0,) * 2)
    mv_counters: tuple[float, ...] = field(default=(0.0,) * 4)
    charge_capacity_time_s: float = 0.0
    discharge_capacity_time_s: float = 0.0
    mv_ud: tuple[float, ...] = field(default_factory=_mv_tuple)

    # The counters are fixed arrays; they are packed as a tail of exactly 192 bytes.
    _TAIL: ClassVar[struct.Struct] = struct.Struct("<4d2d2d2d2d4f2d16f")

    def _pack_tail(self) -> bytes:
        values: list[float] = []
        for name, count, kind in (
            ("tc_time_s", 4, F64),
            ("tc_charge_capacity_ah", 2, F64),
            ("tc_discharge_capacity_ah", 2, F64),
            ("tc_charge_energy_wh", 2, F64),
            ("tc_discharge_energy_wh", 2, F64),
            ("mv_counters", 4, F32),
        ):
            seq = getattr(self, name)
            if isinstance(seq, (str, bytes)) or len(seq) != count:
                raise EncodeError(f"ResumeData.{name} must hold {count} numbers")
            values.extend(kind.encode("ResumeData", f"{name}[{i}]", v) for i, v in enumerate(seq))
        values.append(
            F64.encode("ResumeData", "charge_capacity_time_s", self.charge_capacity_time_s)
        )
        values.append(
            F64.encode("ResumeData", "discharge_capacity_time_s", self.discharge_capacity_time_s)
        )
        if isinstance(self.mv_ud, (str, bytes)) or len(self.mv_ud) != 16:
            raise EncodeError("ResumeData.mv_ud must hold 16 numbers")
        values.extend(F32.encode("ResumeData", f"mv_ud[{i}]", v) for i, v in enumerate(self.mv_ud))
        return self._TAIL.pack(*values)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        if offset + cls._TAIL.size > end:
            raise struct.error("resume data overruns the frame")
        v = cls._TAIL.unpack_from(buffer, offset)
        return {
            "tc_time_s": v[0:4],
            "tc_charge_capacity_ah": v[4:6],
            "tc_discharge_capacity_ah": v[6:8],
            "tc_charge_energy_wh": v[8:10],
            "tc_discharge_energy_wh": v[10:12],
            "mv_counters": v[12:16],
            "charge_capacity_time_s": v[16],
            "discharge_capacity_time_s": v[17],
            "mv_ud": v[18:34],
        }, offset + cls._TAIL.size

    @classmethod
    def size(cls) -> int:
        return cls.LAYOUT.size + cls._TAIL.size


class _NestedResumeData(Nested):
    """ResumeData has a fixed-size tail, so it nests by its full 244 bytes."""

    def __init__(self) -> None:
        total = ResumeData.size()

        def decode(raw: bytes) -> ResumeData:
            return ResumeData.unpack_from(raw, 0, total)[0]

        Nested.__init__(self, ResumeData)
        self.fmt = f"{total}s"
        self.size = total
        self.decode = decode


_RESUME_DATA = _NestedResumeData()


@compiled
@dataclass(slots=True)
class StartExEntry(WireStruct):
    """THIRD_PARTY_CHANNEL_START_DATA_EX (1052 bytes).

    Only the test name, schedule and step are used by the server when starting.
    """

    channel_index: int = wire(U32)
    test_name: str = wire(Wide(72), default="")
    schedule: str = wire(Wide(200), default="")
    creator: str = wire(Wide(64), default="")
    comment: str = wire(Wide(64), default="")
    select_step: int = wire(U32, default=0)
    resume_data: ResumeData = wire(_RESUME_DATA, default_factory=ResumeData)


@register
@compiled
@dataclass(slots=True)
class StartExRequest(Message):
    """START_EX request (26 + 1052N bytes); answered by :class:`StartFeedback`."""

    CODE: ClassVar[int] = CommandCode.START_EX
    IS_REQUEST: ClassVar[bool] = True

    entries: tuple[StartExEntry, ...] = ()

    def _pack_tail(self) -> bytes:
        return _pack_records("StartExRequest", "entries", self.entries, StartExEntry)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        entries, offset = _unpack_records(buffer, offset, end, StartExEntry)
        return {"entries": entries}, offset


@compiled
@dataclass(slots=True)
class ResumeExEntry(WireStruct):
    """THIRD_PARTY_CHANNEL_RESUME_DATA_EX (796 bytes)."""

    channel_index: int = wire(U32)
    test_name: str = wire(Wide(72), default="")
    schedule: str = wire(Wide(200), default="")
    select_step: int = wire(U32, default=0)
    resume_data: ResumeData = wire(_RESUME_DATA, default_factory=ResumeData)


@register
@compiled
@dataclass(slots=True)
class ResumeExRequest(Message):
    """RESUME_EX request (26 + 796N bytes); answered by :class:`ResumeFeedback`."""

    CODE: ClassVar[int] = CommandCode.RESUME_EX
    IS_REQUEST: ClassVar[bool] = True

    entries: tuple[ResumeExEntry, ...] = ()

    def _pack_tail(self) -> bytes:
        return _pack_records("ResumeExRequest", "entries", self.entries, ResumeExEntry)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        entries, offset = _unpack_records(buffer, offset, end, ResumeExEntry)
        return {"entries": entries}, offset


@register
@compiled
@dataclass(slots=True)
class GetStartDataRequest(Message):
    """GET_START_DATA request (26 + 2N bytes): u32 N, N u16 channel indexes."""

    CODE: ClassVar[int] = CommandCode.GET_START_DATA
    IS_REQUEST: ClassVar[bool] = True

    channel_indexes: tuple[int, ...] = ()

    def _pack_tail(self) -> bytes:
        return _pack_u16_list("GetStartDataRequest", "channel_indexes", self.channel_indexes)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        indexes, offset = _unpack_u16_list(buffer, offset, end)
        return {"channel_indexes": indexes}, offset


@compiled
@dataclass(slots=True)
class StartDataRecord(WireStruct):
    """THIRD_PARTY_CHANNEL_START_DATA_DESC: channel, code, T and S counts, schedule, 16 MV_UD,
    then T test names and S step labels (u32 length + 1-byte characters each).

    ``channel_code``: 34 test-name query failed, 35 test name empty, 36 resume table read failed.
    """

    channel_index: int = wire(U32)
    channel_code: int = wire(U32, default=0)
    test_names: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    schedule: str = ""
    mv_ud: tuple[float, ...] = field(default_factory=_mv_tuple)

    _MIDDLE: ClassVar[struct.Struct] = struct.Struct("<II400s16f")

    def _pack_tail(self) -> bytes:
        schedule = encode_wide("StartDataRecord", "schedule", self.schedule, 200)
        mv: bytes = F32Array(16).encode("StartDataRecord", "mv_ud", self.mv_ud)
        return (
            _U32_PAIR.pack(len(self.test_names), len(self.steps))
            + schedule.ljust(400, b"\x00")
            + mv
            + _pack_third_party_strings("StartDataRecord", "test_names", self.test_names)
            + _pack_third_party_strings("StartDataRecord", "steps", self.steps)
        )

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        if offset + cls._MIDDLE.size > end:
            raise struct.error("start data record overruns the frame")
        names_count, steps_count, schedule, *mv = cls._MIDDLE.unpack_from(buffer, offset)
        offset += cls._MIDDLE.size
        test_names, offset = _unpack_third_party_strings(buffer, offset, end, names_count)
        steps, offset = _unpack_third_party_strings(buffer, offset, end, steps_count)
        return {
            "test_names": test_names,
            "steps": steps,
            "schedule": decode_wide(schedule),
            "mv_ud": tuple(mv),
        }, offset


@register
@compiled
@dataclass(slots=True)
class GetStartDataFeedback(Message):
    """GET_START_DATA feedback: u32 N, then N :class:`StartDataRecord`."""

    CODE: ClassVar[int] = CommandCode.GET_START_DATA_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    records: tuple[StartDataRecord, ...] = ()

    def _pack_tail(self) -> bytes:
        return _pack_records("GetStartDataFeedback", "records", self.records, StartDataRecord)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        records, offset = _unpack_records(buffer, offset, end, StartDataRecord)
        return {"records": records}, offset


@register
@compiled
@dataclass(slots=True)
class GetResumeDataRequest(Message):
    """GET_RESUME_DATA request (26 + 2N bytes): u32 N, N u16 channel indexes."""

    CODE: ClassVar[int] = CommandCode.GET_RESUME_DATA
    IS_REQUEST: ClassVar[bool] = True

    channel_indexes: tuple[int, ...] = ()

    def _pack_tail(self) -> bytes:
        return _pack_u16_list("GetResumeDataRequest", "channel_indexes", self.channel_indexes)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        indexes, offset = _unpack_u16_list(buffer, offset, end)
        return {"channel_indexes": indexes}, offset


@compiled
@dataclass(slots=True)
class ResumeDataRecord(WireStruct):
    """THIRD_PARTY_CHANNEL_RESUME_DATA_DESC (1184 fixed bytes, then S step labels)."""

    channel_index: int = wire(U32)
    channel_code: int = wire(U32, default=0)
    steps: tuple[str, ...] = ()
    test_name: str = ""
    schedule: str = ""
    creator: str = ""
    comment: str = ""
    start_time: str = ""
    resume_data: ResumeData = field(default_factory=ResumeData)

    _MIDDLE: ClassVar[struct.Struct] = struct.Struct("<I144s400s128s128s128s")

    def _pack_tail(self) -> bytes:
        texts = [
            encode_wide("ResumeDataRecord", name, getattr(self, name), length).ljust(
                2 * length, b"\0"
            )
            for name, length in (
                ("test_name", 72),
                ("schedule", 200),
                ("creator", 64),
                ("comment", 64),
                ("start_time", 64),
            )
        ]
        resume: bytes = _RESUME_DATA.encode("ResumeDataRecord", "resume_data", self.resume_data)
        return (
            _U32.pack(len(self.steps))
            + b"".join(texts)
            + resume
            + _pack_third_party_strings("ResumeDataRecord", "steps", self.steps)
        )

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        if offset + cls._MIDDLE.size + ResumeData.size() > end:
            raise struct.error("resume data record overruns the frame")
        steps_count, *texts = cls._MIDDLE.unpack_from(buffer, offset)
        offset += cls._MIDDLE.size
        resume_data, offset = ResumeData.unpack_from(buffer, offset, end)
        steps, offset = _unpack_third_party_strings(buffer, offset, end, steps_count)
        test_name, schedule, creator, comment, start_time = (decode_wide(t) for t in texts)
        return {
            "steps": steps,
            "test_name": test_name,
            "schedule": schedule,
            "creator": creator,
            "comment": comment,
            "start_time": start_time,
            "resume_data": resume_data,
        }, offset


@register
@compiled
@dataclass(slots=True)
class GetResumeDataFeedback(Message):
    """GET_RESUME_DATA feedback: u32 N, then N :class:`ResumeDataRecord`."""

    CODE: ClassVar[int] = CommandCode.GET_RESUME_DATA_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    records: tuple[ResumeDataRecord, ...] = ()

    def _pack_tail(self) -> bytes:
        return _pack_records("GetResumeDataFeedback", "records", self.records, ResumeDataRecord)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        records, offset = _unpack_records(buffer, offset, end, ResumeDataRecord)
        return {"records": records}, offset


# --------------------------------------------------------------------------------------------
# Meta variables and serial number


@register
@compiled
@dataclass(slots=True)
class SetMetaVariableRequest(Message):
    """SET_MV request (74 bytes): channel 20, MV_Type 24 (1), meta code 28, 16 reserved,
    MV_ValueType 48 (1 = float), value 52 (f32), 16 reserved."""

    CODE: ClassVar[int] = CommandCode.SET_META_VARIABLE
    IS_REQUEST: ClassVar[bool] = True

    channel_index: int = wire(U32)
    mv_type: int = wire(I32, default=1)
    meta_code: int = wire(I32, default=MetaCode.MV_UD1, pad_after=16)
    value_type: int = wire(I32, default=1)
    value: float = wire(F32, default=0.0, pad_after=16)


@register
@compiled
@dataclass(slots=True)
class SetMetaVariableFeedback(ResultFeedback):
    CODE: ClassVar[int] = CommandCode.SET_META_VARIABLE_FEEDBACK
    RESULTS: ClassVar[type[ResultCode]] = SetMetaVariableResult
    COMMAND: ClassVar[str] = "set_meta_variable"


@compiled
@dataclass(slots=True)
class MetaVariableEntry(WireStruct):
    """METAVARIABLE_DATA_CH_CODE (8 bytes): u16 channel, u16 meta code, f32 value."""

    channel_index: int = wire(U16)
    meta_code: int = wire(U16)
    value: float = wire(F32)


_MV_ENTRY_SIZE = MetaVariableEntry.LAYOUT.size


@register
@compiled
@dataclass(slots=True)
class UpdateMetaVariablesRequest(Message):
    """UPDATE_MV_ADVANCED request, v4.5 layout: u32 channel index at 20, 18 reserved, then
    up to 160 8-byte entries from 42 until the checksum (44 + 8M bytes).

    v1.1 instead has a u16 entry count at 20 and entries from 40; no capture settles it, so the
    newest document (v4.5) is followed. The number of entries follows from the frame length.
    """

    CODE: ClassVar[int] = CommandCode.UPDATE_META_VARIABLE_ADVANCED
    IS_REQUEST: ClassVar[bool] = True

    channel_index: int = wire(U32, default=0, pad_after=18)
    entries: tuple[MetaVariableEntry, ...] = ()

    def _pack_tail(self) -> bytes:
        entries = self.entries
        if isinstance(entries, (str, bytes)) or not hasattr(entries, "__len__"):
            raise EncodeError("UpdateMetaVariablesRequest.entries must be a sequence")
        if len(entries) > MAX_MV_ENTRIES:
            raise EncodeError(
                f"UpdateMetaVariablesRequest.entries has {len(entries)} entries; "
                f"at most {MAX_MV_ENTRIES} fit one request"
            )
        parts = []
        for position, entry in enumerate(entries):
            if not isinstance(entry, MetaVariableEntry):
                raise EncodeError(
                    f"UpdateMetaVariablesRequest.entries[{position}] must be a MetaVariableEntry"
                )
            parts.append(entry.pack())
        return b"".join(parts)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        remaining = end - offset
        if remaining % _MV_ENTRY_SIZE:
            raise struct.error(
                f"{remaining} bytes of entries is not a multiple of {_MV_ENTRY_SIZE}"
            )
        entries = []
        while offset < end:
            entry, offset = MetaVariableEntry.unpack_from(buffer, offset, end)
            entries.append(entry)
        return {"entries": tuple(entries)}, offset


@register
@compiled
@dataclass(slots=True)
class UpdateMetaVariablesFeedback(ResultFeedback):
    CODE: ClassVar[int] = CommandCode.UPDATE_META_VARIABLE_ADVANCED_FEEDBACK
    RESULTS: ClassVar[type[ResultCode]] = UpdateMetaVariableResult
    COMMAND: ClassVar[str] = "update_meta_variables"


@register
@compiled
@dataclass(slots=True)
class GetSerialNumberRequest(Message):
    """GET_SERIAL request (128 bytes); both fields are unused and zero."""

    CODE: ClassVar[int] = CommandCode.GET_SERIAL_NUMBER
    IS_REQUEST: ClassVar[bool] = True

    unused_serial: int = wire(U32, default=0)
    unused_result: int = wire(U8, default=0, pad_after=101)


@register
@compiled
@dataclass(slots=True)
class GetSerialNumberFeedback(Message):
    """GET_SERIAL feedback (128 bytes): u32 serial number at 20, result at 24 (0 ok, 0x10 error)."""

    CODE: ClassVar[int] = CommandCode.GET_SERIAL_NUMBER_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    serial_number: int = wire(U32, default=0)
    result: int = wire(U8, default=SerialResult.SUCCESS, pad_after=101)

    @property
    def ok(self) -> bool:
        return self.result == SerialResult.SUCCESS

    @property
    def meaning(self) -> str:
        return SerialResult.describe(self.result)


# --------------------------------------------------------------------------------------------
# Files (port 9032)


@register
@compiled
@dataclass(slots=True)
class BrowseDirectoryRequest(Message):
    """BROWSE_DIRECTORY request (2070 bytes): directory path, 1024 wchar_t."""

    CODE: ClassVar[int] = CommandCode.BROWSE_DIRECTORY
    IS_REQUEST: ClassVar[bool] = True

    path: str = wire(Wide(1024))


@compiled
@dataclass(slots=True)
class DirEntry(WireStruct):
    """DirFileInfo (200 bytes): type (0 directory, 1 file), name, size, modified text."""

    kind: int = wire(U32)
    name: str = wire(Wide(64))
    size: int = wire(I32, default=0)
    modified: str = wire(Wide(32), default="")

    @property
    def is_dir(self) -> bool:
        return self.kind == 0


@register
@compiled
@dataclass(slots=True)
class BrowseDirectoryFeedback(Message):
    """BROWSE_DIRECTORY feedback (30 + 200n bytes): result, u32 n, n :class:`DirEntry`."""

    CODE: ClassVar[int] = CommandCode.BROWSE_DIRECTORY_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    result: int = wire(U32, default=BrowseResult.DIRECTORY_OK)
    entries: tuple[DirEntry, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result in (BrowseResult.DIRECTORY_OK, BrowseResult.SCHEDULE_OK)

    @property
    def meaning(self) -> str:
        return BrowseResult.describe(self.result)

    def _pack_tail(self) -> bytes:
        return _pack_records("BrowseDirectoryFeedback", "entries", self.entries, DirEntry)

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        entries, offset = _unpack_records(buffer, offset, end, DirEntry)
        return {"entries": entries}, offset


@register
@compiled
@dataclass(slots=True)
class DownloadFileRequest(Message):
    """DOWNLOAD_FILE request (2078 bytes): path (1024 wchar_t), f64 timestamp used as an id."""

    CODE: ClassVar[int] = CommandCode.DOWNLOAD_FILE
    IS_REQUEST: ClassVar[bool] = True

    path: str = wire(Wide(1024))
    download_time: float = wire(F64, default=0.0)


def _check_bytes(owner: str, name: str, value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError(f"{owner}.{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


@register
@compiled
@dataclass(slots=True)
class DownloadFileFeedback(Message):
    """DOWNLOAD_FILE feedback (66 + F bytes), one per chunk: result, timestamp, chunk count,
    chunk index, MD5 of the chunk, u64 F at 56, then F bytes of data at 64."""

    CODE: ClassVar[int] = CommandCode.DOWNLOAD_FILE_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    result: int = wire(U32, default=FileTransferResult.SUCCESS)
    download_time: float = wire(F64, default=0.0)
    package_count: int = wire(U32, default=1)
    package_index: int = wire(U32, default=0)
    md5: bytes = wire(Bytes(16), default=b"\x00" * 16)
    data: bytes = b""

    @property
    def ok(self) -> bool:
        return self.result == FileTransferResult.SUCCESS

    @property
    def meaning(self) -> str:
        return FileTransferResult.describe(self.result)

    def _pack_tail(self) -> bytes:
        data = _check_bytes("DownloadFileFeedback", "data", self.data)
        return _U64.pack(len(data)) + data

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        (length,) = _U64.unpack_from(buffer, offset)
        offset += 8
        if offset + length > end:
            raise struct.error("download chunk overruns the frame")
        return {"data": bytes(buffer[offset : offset + length])}, offset + length


@register
@compiled
@dataclass(slots=True)
class UploadFileRequest(Message):
    """UPLOAD_FILE request (2110 + F bytes), one per chunk: path, u64 F at 2068, chunk count,
    chunk index, f64 timestamp, MD5 of the chunk, then F bytes of data at 2108 (v4.5; v1.1
    has no data field, which could not carry a file)."""

    CODE: ClassVar[int] = CommandCode.UPLOAD_FILE
    IS_REQUEST: ClassVar[bool] = True

    path: str = wire(Wide(1024))
    package_count: int = 1
    package_index: int = 0
    upload_time: float = 0.0
    md5: bytes = b"\x00" * 16
    data: bytes = b""

    _MIDDLE: ClassVar[struct.Struct] = struct.Struct("<QIId16s")

    def _pack_tail(self) -> bytes:
        owner = "UploadFileRequest"
        data = _check_bytes(owner, "data", self.data)
        return (
            self._MIDDLE.pack(
                len(data),
                U32.encode(owner, "package_count", self.package_count),
                U32.encode(owner, "package_index", self.package_index),
                F64.encode(owner, "upload_time", self.upload_time),
                Bytes(16).encode(owner, "md5", self.md5),
            )
            + data
        )

    @classmethod
    def _unpack_tail(cls, buffer: Buffer, offset: int, end: int) -> tuple[dict[str, Any], int]:
        length, count, index, upload_time, md5 = cls._MIDDLE.unpack_from(buffer, offset)
        offset += cls._MIDDLE.size
        if offset + length > end:
            raise struct.error("upload chunk overruns the frame")
        return {
            "package_count": count,
            "package_index": index,
            "upload_time": upload_time,
            "md5": md5,
            "data": bytes(buffer[offset : offset + length]),
        }, offset + length


@register
@compiled
@dataclass(slots=True)
class UploadFileFeedback(Message):
    """UPLOAD_FILE feedback (42 bytes), v4.5 field order: result, timestamp, chunk count,
    chunk index. (v1.1 puts the result last; no capture settles it.)"""

    CODE: ClassVar[int] = CommandCode.UPLOAD_FILE_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    result: int = wire(U32, default=FileTransferResult.SUCCESS)
    upload_time: float = wire(F64, default=0.0)
    package_count: int = wire(U32, default=1)
    package_index: int = wire(U32, default=0)

    @property
    def ok(self) -> bool:
        return self.result == FileTransferResult.SUCCESS

    @property
    def meaning(self) -> str:
        return FileTransferResult.describe(self.result)


class _FileResultMixin:
    __slots__ = ()
    result: int

    @property
    def ok(self) -> bool:
        return self.result in (FileResult.NEW_OK, FileResult.DELETE_OK)

    @property
    def meaning(self) -> str:
        return FileResult.describe(self.result)


@register
@compiled
@dataclass(slots=True)
class NewOrDeleteRequest(Message):
    """NEW_OR_DELETE request (2074 bytes): u32 type (0 delete, 1 create folder), path."""

    CODE: ClassVar[int] = CommandCode.NEW_OR_DELETE
    IS_REQUEST: ClassVar[bool] = True

    kind: int = wire(U32)
    path: str = wire(Wide(1024))


@register
@compiled
@dataclass(slots=True)
class NewOrDeleteFeedback(_FileResultMixin, Message):
    CODE: ClassVar[int] = CommandCode.NEW_OR_DELETE_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    result: int = wire(U32, default=FileResult.NEW_OK)


@register
@compiled
@dataclass(slots=True)
class NewFolderRequest(Message):
    """NEW_FOLDER request (2070 bytes): path."""

    CODE: ClassVar[int] = CommandCode.NEW_FOLDER
    IS_REQUEST: ClassVar[bool] = True

    path: str = wire(Wide(1024))


@register
@compiled
@dataclass(slots=True)
class NewFolderFeedback(_FileResultMixin, Message):
    CODE: ClassVar[int] = CommandCode.NEW_FOLDER_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    result: int = wire(U32, default=FileResult.NEW_OK)


@register
@compiled
@dataclass(slots=True)
class DeleteFolderRequest(Message):
    """DELETE_FOLDER request (2070 bytes): path of the file or folder to delete."""

    CODE: ClassVar[int] = CommandCode.DELETE_FOLDER
    IS_REQUEST: ClassVar[bool] = True

    path: str = wire(Wide(1024))


@register
@compiled
@dataclass(slots=True)
class DeleteFolderFeedback(_FileResultMixin, Message):
    CODE: ClassVar[int] = CommandCode.DELETE_FOLDER_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    result: int = wire(U32, default=FileResult.DELETE_OK)


# --------------------------------------------------------------------------------------------
# Messages and calibration


@register
@compiled
@dataclass(slots=True)
class SendMessageRequest(Message):
    """SEND_MSG_TO_CTI request (2070 bytes): text shown by the server, 1024 wchar_t."""

    CODE: ClassVar[int] = CommandCode.SEND_MESSAGE
    IS_REQUEST: ClassVar[bool] = True

    text: str = wire(Wide(1024))


@register
@compiled
@dataclass(slots=True)
class SendMessageFeedback(Message):
    """SEND_MSG_TO_CTI feedback (26 bytes): 1 success, 2 failed."""

    CODE: ClassVar[int] = CommandCode.SEND_MESSAGE_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    result: int = wire(U32, default=SendMessageResult.SUCCESS)

    @property
    def ok(self) -> bool:
        return self.result == SendMessageResult.SUCCESS

    @property
    def meaning(self) -> str:
        return SendMessageResult.describe(self.result)


@register
@compiled
@dataclass(slots=True)
class AutoCalibrationRequest(Message):
    """AUTOCALI_START request (124 bytes): 102 reserved zero bytes."""

    CODE: ClassVar[int] = CommandCode.AUTO_CALIBRATION_START
    IS_REQUEST: ClassVar[bool] = True
    TRAILING_PAD: ClassVar[int] = 102


@register
@compiled
@dataclass(slots=True)
class AutoCalibrationFeedback(Message):
    """AUTOCALI_START feedback (26 bytes): 1 success; 0 (v1.1) or 2 (v4.5) failure."""

    CODE: ClassVar[int] = CommandCode.AUTO_CALIBRATION_START_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    result: int = wire(U32, default=AutoCalibrationResult.SUCCESS)

    @property
    def ok(self) -> bool:
        return self.result == AutoCalibrationResult.SUCCESS

    @property
    def meaning(self) -> str:
        return AutoCalibrationResult.describe(self.result)
