"""Every CTI request and feedback, declared once: the commands of Arbin's documents and of
Arbin's own client library (ArbinCTI.dll, ``reference/arbincti-dll-wire.md``), both directions.

Offsets in the comments are from the start of the frame (the body starts at 20). Where the
sources disagree, ArbinCTI.dll decides (it is what real cyclers are driven with), then the
captures, then the v4.5 and v1.1 documents. Where the DLL reference marks a layout partial or
an open question, the decision taken is written at the class (and in docs/protocol.md).
Channel indexes are 0-based, as on the wire.

A message is a slotted dataclass deriving from :class:`Request` or :class:`Feedback` (its
direction, ``IS_REQUEST``) with its command code in the class statement,
``class StopRequest(Request, code=CommandCode.STOP)`` (``CODE``); declaring it compiles and
registers it (``__init_subclass__``). Fixed fields
are ``wire()``, variable parts ``tail()`` (see ``fields.py``), counts that are not fields of
their own ``count()`` class variables. Feedbacks carrying a result declare ``RESULTS`` (the
command's result table, with meanings); its ``COMMAND`` (the command's name in errors) comes
from that table.
"""

from __future__ import annotations

import codecs
import functools
import inspect
import json
import os
import struct
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..errors import EncodeError
from .codes import (
    AssignBarcodeResult,
    AssignFileResult,
    AssignResult,
    AutoCalibrationResult,
    BarcodeChannelType,
    BrowseResult,
    ChannelSelection,
    CheckFileResult,
    CommandCode,
    ConnectResult,
    ContinueResult,
    ConvertTestObjectResult,
    DataLogIntervalResult,
    FileKind,
    FileResult,
    FileTransferResult,
    GetBarcodeResult,
    GetMetaVariableResult,
    JumpResult,
    LoginResult,
    MachineType,
    MachineTypeResult,
    MetaCode,
    MvDataType,
    ResultCode,
    ResumeResult,
    SendMessageResult,
    SerialResult,
    ServerVersion,
    SetMetaVariableResult,
    StartResult,
    StatusCode,
    StopResult,
    TimeSensitiveResult,
    UpdateMetaVariableResult,
    UpdateParametersResult,
)
from .fields import (
    F32,
    F64,
    FLAG,
    I16,
    I32,
    I64,
    STAMP,
    U8,
    U16,
    U32,
    U64,
    Ascii,
    Blob,
    Bytes,
    Count,
    Credential,
    CString,
    Enum16,
    F32Array,
    F64Array,
    I32Array,
    Nested,
    RecordArray,
    Rest,
    Seq,
    Tail,
    ThirdPartyString,
    U16Array,
    When,
    Wide,
    WideCounted,
    WireStruct,
    count,
    decode_ascii,
    decode_wide,
    encode_ascii,
    part_of,
    tail,
    wide_units,
    wire,
    zero_tail,
)
from .framing import register_direction

__all__ = [
    "AUX_KINDS",
    "CHANNEL_FIELDS",
    "GET_MV_VERSION",
    "MAX_FILE_CHUNK",
    "MAX_GET_MV_ENTRIES",
    "MAX_MV_ENTRIES",
    "MAX_MV_EX_ENTRIES",
    "MINIMALIST_VERSION",
    "ApplyUdpFeedback",
    "ApplyUdpRequest",
    "AssignBarcodeFeedback",
    "AssignBarcodeJsonFeedback",
    "AssignBarcodeJsonRequest",
    "AssignBarcodeRequest",
    "AssignFileFeedback",
    "AssignFileRequest",
    "AssignScheduleFeedback",
    "AssignScheduleRequest",
    "AutoCalibrationFeedback",
    "AutoCalibrationRequest",
    "AuxReadings",
    "AuxValue",
    "AuxValues",
    "BarcodeEntry",
    "BarcodeQuery",
    "BmsEntry",
    "BmsValue",
    "BrowseDirectoryFeedback",
    "BrowseDirectoryRequest",
    "ChannelExtras",
    "ChannelInfoFeedback",
    "ChannelInfoJsonFeedback",
    "ChannelInfoJsonRequest",
    "ChannelInfoRequest",
    "ChannelInfoVlsFeedback",
    "ChannelInfoVlsRequest",
    "ChannelRecord",
    "ChannelResult",
    "ChannelTable",
    "ChannelsInfoExFeedback",
    "ChannelsInfoExRequest",
    "CheckFileExFeedback",
    "CheckFileExRequest",
    "CheckFileFeedback",
    "CheckFileRequest",
    "ConnectFeedback",
    "ConnectRequest",
    "ContinueFeedback",
    "ContinueRequest",
    "ConvertTestObjectFeedback",
    "ConvertTestObjectRequest",
    "CustomCallbackFeedback",
    "CustomCallbackRequest",
    "DeleteFolderFeedback",
    "DeleteFolderRequest",
    "DirEntry",
    "DownloadFileFeedback",
    "DownloadFileRequest",
    "DwordItem",
    "EngageTrayFeedback",
    "EngageTrayRequest",
    "Feedback",
    "GetBarcodeFeedback",
    "GetBarcodeJsonFeedback",
    "GetBarcodeJsonRequest",
    "GetBarcodeRequest",
    "GetMachineTypeFeedback",
    "GetMachineTypeRequest",
    "GetMappingAuxFeedback",
    "GetMappingAuxRequest",
    "GetMetaVariablesFeedback",
    "GetMetaVariablesRequest",
    "GetResumeDataByMvFeedback",
    "GetResumeDataByMvRequest",
    "GetResumeDataFeedback",
    "GetResumeDataRequest",
    "GetResumeDataVlsFeedback",
    "GetResumeDataVlsRequest",
    "GetSerialNumberFeedback",
    "GetSerialNumberRequest",
    "GetServerSoftwareVersionFeedback",
    "GetServerSoftwareVersionRequest",
    "GetStartDataFeedback",
    "GetStartDataRequest",
    "GetStringLimitsFeedback",
    "GetStringLimitsRequest",
    "GetTChamberMappingFeedback",
    "GetTChamberMappingRequest",
    "GetTrayStatusFeedback",
    "GetTrayStatusRequest",
    "JsonEnvelope",
    "JsonFeedback",
    "JsonRequest",
    "JsonText",
    "JumpFeedback",
    "JumpRequest",
    "LoginFeedback",
    "LoginJsonFeedback",
    "LoginJsonRequest",
    "LoginRequest",
    "Message",
    "MetaVariableEntry",
    "MetaVariableExEntry",
    "MetaVariableQuery",
    "MinimalistFeedback",
    "ModifyScheduleFeedback",
    "ModifyScheduleRequest",
    "NewFolderFeedback",
    "NewFolderRequest",
    "NewOrDeleteFeedback",
    "NewOrDeleteRequest",
    "ParameterValue",
    "QwordItem",
    "Request",
    "ResultFeedback",
    "ResumeByMvEntry",
    "ResumeByMvFeedback",
    "ResumeByMvRecord",
    "ResumeByMvRequest",
    "ResumeData",
    "ResumeDataRecord",
    "ResumeExEntry",
    "ResumeExRequest",
    "ResumeExVlsFeedback",
    "ResumeExVlsRequest",
    "ResumeFeedback",
    "ResumeRequest",
    "ResumeVlsRecord",
    "SendMessageFeedback",
    "SendMessageRequest",
    "SetDataLogIntervalFeedback",
    "SetDataLogIntervalRequest",
    "SetMetaVariableFeedback",
    "SetMetaVariableRequest",
    "SimpleChannelInfoFeedback",
    "SimpleChannelInfoRequest",
    "SimpleChannelRecord",
    "SmbEntry",
    "SmbValue",
    "SpecialSetMvFeedback",
    "SpecialSetMvRequest",
    "SpttChannelInfoFeedback",
    "SpttChannelInfoRequest",
    "SpttChannelRecord",
    "StartAdvancedFeedback",
    "StartAdvancedRequest",
    "StartDataRecord",
    "StartExEntry",
    "StartExRequest",
    "StartExVlsFeedback",
    "StartExVlsRequest",
    "StartFeedback",
    "StartRequest",
    "StartVlsFeedback",
    "StartVlsRequest",
    "StopFeedback",
    "StopRequest",
    "StringLimit",
    "TChamberGroup",
    "TestObjectRecord",
    "TimeSensitiveEntry",
    "TimeSensitiveResultEntry",
    "TimeSensitiveSetMvFeedback",
    "TimeSensitiveSetMvRequest",
    "TimeSensitiveSlot",
    "UdpAnswer",
    "UdpQuery",
    "UnknownCommandFeedback",
    "UpdateMetaVariablesExFeedback",
    "UpdateMetaVariablesExRequest",
    "UpdateMetaVariablesFeedback",
    "UpdateMetaVariablesRequest",
    "UpdateParametersFeedback",
    "UpdateParametersRequest",
    "UploadFileFeedback",
    "UploadFileRequest",
    "VlsChannelRecord",
    "VlsExEntry",
    "message_class",
    "message_classes",
    "record_as",
    "record_builder",
    "register",
    "use_record_builder",
]

Buffer = bytes | bytearray | memoryview
M = TypeVar("M", bound="Message")

_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_U32_PAIR = struct.Struct("<II")
_AUX_COUNTS = struct.Struct("<14H")

#: Largest number of entries in one UPDATE_MV_ADVANCED request. ArbinCTI.dll caps it at 160
#: for every server but MitsX_SPTT; the encoder keeps that cap (decoding accepts any count).
MAX_MV_ENTRIES = 160
#: ArbinCTI.dll's caps for UPDATE_MV_ADVANCED_EX and GET_MV (all servers but MitsX_SPTT).
MAX_MV_EX_ENTRIES = 118
MAX_GET_MV_ENTRIES = 128
#: ArbinCTI.dll refuses upload chunks above 30 MiB and download chunks of 30 MiB or more.
MAX_FILE_CHUNK = 30 * 1024 * 1024

_REQUESTS: dict[int, type[Message]] = {}
_FEEDBACKS: dict[int, type[Message]] = {}
# decode()'s lookup: one class per code (the feedback for a code used both ways, which
# decode() then settles by dwLen), and the codes used both ways.
_BY_CODE: dict[int, type[Message]] = {}
_SHARED_CODES: set[int] = set()


class Message(WireStruct):
    """Base of every request and feedback. ``CODE`` is its dwCmd; ``IS_REQUEST`` its direction.

    Declaring a subclass of :class:`Request` or :class:`Feedback` with a code (as
    ``@dataclass(slots=True) class StopRequest(Request, code=CommandCode.STOP)``) registers it.
    """

    __slots__ = ()
    CODE: ClassVar[int]
    IS_REQUEST: ClassVar[bool]
    # The command's name in errors: that of the RESULTS table, for feedbacks that have one.
    COMMAND: ClassVar[str]

    def __init_subclass__(cls, *, code: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            # The class statement's ``code=``. dataclass(slots=True) then builds the final
            # class from this one's namespace, so that class has CODE of its own.
            cls.CODE = code
        results: type[ResultCode] | None = getattr(cls, "RESULTS", None)
        if results is not None and results.command is not None:
            cls.COMMAND = results.command
        if "__dataclass_fields__" in cls.__dict__ and "CODE" in cls.__dict__:
            _register(cls)


class Request(Message):
    """Base of the requests (client to server)."""

    __slots__ = ()
    IS_REQUEST: ClassVar[bool] = True


class Feedback(Message):
    """Base of the feedbacks (server to client)."""

    __slots__ = ()
    IS_REQUEST: ClassVar[bool] = False


def _register(cls: type[Message]) -> None:
    code = int(cls.CODE)
    table = _REQUESTS if cls.IS_REQUEST else _FEEDBACKS
    known = table.get(code)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise TypeError(f"command code 0x{code:08X} registered twice ({known.__name__})")
    table[code] = cls
    register_direction(code, request=cls.IS_REQUEST)
    if code in _REQUESTS and code in _FEEDBACKS:
        _SHARED_CODES.add(code)
        _BY_CODE[code] = _FEEDBACKS[code]
    else:
        _BY_CODE[code] = cls


def register(cls: type[M]) -> type[M]:
    """Kept for older declarations: classes register themselves when declared."""
    if message_class(cls.CODE, request=cls.IS_REQUEST) is not cls:
        _register(cls)
    return cls


def message_class(code: int, *, request: bool | None = None) -> type[Message] | None:
    """The message class for command ``code``, or None if no layout is known.

    Two codes are used in both directions (TIME_SENSITIVE_SET_MV, GET_SERVER_SOFTWARE_VERSION):
    pass ``request`` to choose; without it the request class is returned for them.
    """
    if request is None:
        return _REQUESTS.get(code) or _FEEDBACKS.get(code)
    return (_REQUESTS if request else _FEEDBACKS).get(code)


def message_classes() -> list[type[Message]]:
    """Every registered message class, requests and feedbacks."""
    return [*_REQUESTS.values(), *_FEEDBACKS.values()]


def _mv_tuple() -> tuple[float, ...]:
    return (0.0,) * 16


# --------------------------------------------------------------------------------------------
# R128: the common 128-byte result feedback


@dataclass(slots=True)
class ResultFeedback(Feedback):
    """The 128-byte result feedback shared by the channel control commands (R128): i32 channel
    at 20, u8 result at 24, 101 reserved.

    ``channel_index`` is the channel the result refers to (servers do not reliably send -1 on
    success, so judge by ``result``); ``result`` is 0 on success.
    """

    RESULTS: ClassVar[type[ResultCode]]
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


class _ResultMixin:
    """``ok`` and ``meaning`` for feedbacks whose ``result`` field is judged by ``RESULTS``."""

    __slots__ = ()
    RESULTS: ClassVar[type[ResultCode]]
    SUCCESS_CODES: ClassVar[frozenset[int]] = frozenset({0})
    result: int

    @property
    def ok(self) -> bool:
        return self.result in self.SUCCESS_CODES

    @property
    def meaning(self) -> str:
        return self.RESULTS.describe(self.result)


# --------------------------------------------------------------------------------------------
# JSON messages (ArbinCTI.dll 1.3: requests are bare UTF-16LE JSON; feedbacks a u32 length in
# code units, then the UTF-16LE JSON). No server sample exists for any of them (open question
# 6): the members are those of the client classes the DLL serialises; ``content`` carries the
# whole object, so a server's extra or differently cased members are kept, not lost.


def _json_dump(owner: str, name: str, value: Any) -> str:
    if not isinstance(value, dict):
        raise EncodeError(f"{owner}.{name} must be a dict (a JSON object)")
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"{owner}.{name} is not JSON-serialisable ({exc})") from None


def _json_load(raw: bytes) -> dict[str, Any]:
    text = raw.decode("utf-16-le").rstrip("\x00")
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("the JSON body is not an object")
    return value


class JsonText(Tail):
    """A request's JSON body: compact JSON as raw UTF-16LE to the end of the body (no BOM, no
    length, no NUL). Decoding tolerates trailing NUL code units."""

    __slots__ = ()

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        text = _json_dump(owner, name, value)
        try:
            return text.encode("utf-16-le")
        except UnicodeEncodeError:
            raise EncodeError(f"{owner}.{name} contains an unpaired surrogate") from None

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        return _json_load(bytes(buffer[offset:end])), end


class JsonEnvelope(Tail):
    """A feedback's JSON body: u32 L (UTF-16 code units) at 20, then L units of JSON at 24.

    Decoding accepts an L that counts a terminating NUL and trailing zero bytes after the text.
    """

    __slots__ = ()

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        data = JsonText().encode(owner, name, value)
        return _U32.pack(len(data) // 2) + data

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        (units,) = _U32.unpack_from(buffer, offset)
        offset += 4
        after = offset + 2 * units
        if after > end:
            raise struct.error("JSON text overruns the frame")
        if bytes(buffer[after:end]).count(0) != end - after:
            raise ValueError("bytes after the JSON text are not zero")
        return _json_load(bytes(buffer[offset:after])), end


@dataclass(slots=True)
class JsonRequest(Request):
    """A request whose body is one JSON object (``content``)."""

    content: dict[str, Any] = tail(JsonText(), default_factory=dict)


@dataclass(slots=True)
class JsonFeedback(Feedback):
    """A feedback whose body is one JSON object (``content``)."""

    content: dict[str, Any] = tail(JsonEnvelope(), default_factory=dict)


# --------------------------------------------------------------------------------------------
# LOGIN, CONNECT, unknown command


@dataclass(slots=True)
class LoginRequest(Request, code=CommandCode.LOGIN):
    """LOGIN request (86 bytes): user at 20 and password at 52, each ``char[32]``.

    ArbinCTI.dll sends both as strict ASCII (a 32-character value fills its field with no
    NUL); a non-ASCII character raises EncodeError, which never quotes the characters.
    """

    username: str = wire(Credential(32))  # 20
    password: str = wire(Credential(32), repr=False)  # 52


@dataclass(slots=True)
class LoginFeedback(Feedback, code=CommandCode.LOGIN_FEEDBACK):
    """LOGIN feedback (8678 bytes plus the picture).

    ``result``: 1 success, 2 failed, 3 already logged in (:class:`LoginResult`).
    ``version`` is the server's ``CTI_VERSION`` (see :attr:`server_version`), which decides the
    command variants a client uses. ``num_channels`` is dwChannelNum at 8664.
    ``ip_address`` and ``itac`` are opaque.
    """

    RESULTS: ClassVar[type[ResultCode]] = LoginResult

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
    picture: bytes = tail(Blob(U32), default=b"")  # 8672: u32 length, then the picture

    @property
    def succeeded(self) -> bool:
        return self.result == LoginResult.SUCCESS

    @property
    def meaning(self) -> str:
        return LoginResult.describe(self.result)

    @property
    def server_version(self) -> ServerVersion:
        """``version`` as a :class:`ServerVersion` (an unknown value gives a pseudo-member)."""
        return ServerVersion(self.version)


@dataclass(slots=True)
class LoginJsonRequest(JsonRequest, code=CommandCode.LOGIN_JSON):
    """LOGIN_JSON request: ``{"Username": ..., "Password": ...}`` (ASCII, at most 32 bytes
    each, as the binary login). Build it with :meth:`create`; the repr hides the content."""

    content: dict[str, Any] = tail(JsonText(), default_factory=dict, repr=False)

    @classmethod
    def create(cls, username: str, password: str) -> LoginJsonRequest:
        """Raises EncodeError for non-ASCII or over-long credentials (never quoting them)."""
        checker = Credential(32)
        checker.encode(cls.__name__, "username", username)
        checker.encode(cls.__name__, "password", password)
        return cls({"Username": username, "Password": password})


@dataclass(slots=True)
class LoginJsonFeedback(JsonFeedback, code=CommandCode.LOGIN_JSON_FEEDBACK):
    """LOGIN_JSON feedback: ``Result, UserType, SN, Note, NickName, Location, ..., Version,
    Img, ServerInfo``; ``Version`` is the server version, as in the binary login."""

    @property
    def server_version(self) -> ServerVersion:
        return ServerVersion(int(self.content.get("Version", 0)))


@dataclass(slots=True)
class ConnectRequest(Request, code=CommandCode.CONNECT):
    """CONNECT request (58 bytes): u32 flag at 20, 32 reserved. ArbinCTI.dll sends 1 for "this
    client may be kicked out" (``bSetKickOut``); the server-side meaning is open question 8."""

    set_kick_out: int = wire(U32, default=0, pad_after=32)  # 20, then 32 reserved


@dataclass(slots=True)
class ConnectFeedback(Feedback, code=CommandCode.CONNECT_FEEDBACK):
    """CONNECT feedback (62 bytes): the flag echoed at 20, the result at 24 (0 accepted,
    1 rejected: documents only), 32 reserved."""

    RESULTS: ClassVar[type[ResultCode]] = ConnectResult

    set_kick_out: int = wire(U32, default=0)  # 20
    connect_result: int = wire(U32, default=ConnectResult.ACCEPTED, pad_after=32)  # 24

    @property
    def ok(self) -> bool:
        return self.connect_result == ConnectResult.ACCEPTED


@dataclass(slots=True)
class UnknownCommandFeedback(Feedback, code=CommandCode.UNKNOWN_COMMAND_FEEDBACK):
    """UNKNOWN_CODE_FEEDBACK (158 bytes): the server's answer to a command code it does not
    support: the offending dwCmd at 20, its dwCmd_Extend at 24, 128 reserved."""

    command: int = wire(U32)  # 20
    command_extend: int = wire(U32, default=0, pad_after=128)  # 24

    @property
    def command_name(self) -> str:
        """The offending command's name, or its hexadecimal code if unknown."""
        try:
            return CommandCode(self.command).name
        except ValueError:
            return f"0x{self.command:08X}"


# --------------------------------------------------------------------------------------------
# Channel data: GET_CHANNELS_INFO (legacy, VLS, JSON), simple, minimalist, extended, SPTT


@dataclass(slots=True)
class _ChannelQuery(Request):
    """The 62-byte channel-data request shared by GET_CHANNELS_INFO and its VLS variant.

    ``channel_index``: 0-based channel, or -1 for all channels. ``selection``: 1 all, 2 running,
    3 unsafe (:class:`ChannelSelection`). ``aux_options``: OR of :class:`AuxOptions`.
    """

    channel_index: int = wire(I16, default=-1)  # 20
    selection: int = wire(I16, default=ChannelSelection.ALL)  # 22
    aux_options: int = wire(U32, default=0, pad_after=32)  # 24, then 32 reserved


@dataclass(slots=True)
class ChannelInfoRequest(_ChannelQuery, code=CommandCode.GET_CHANNELS_INFO):
    """GET_CHANNELS_INFO request (62 bytes), answered by :class:`ChannelInfoFeedback`."""


@dataclass(slots=True)
class ChannelInfoVlsRequest(_ChannelQuery, code=CommandCode.GET_CHANNELS_INFO_VLS):
    """GET_CHANNELS_INFO_VLS request (62 bytes, as the legacy one), for VLS servers; answered
    by :class:`ChannelInfoVlsFeedback`."""


@dataclass(frozen=True, slots=True)
class AuxValue:
    """One auxiliary reading: its value and its rate of change."""

    value: float
    dt: float


@dataclass(frozen=True, slots=True)
class AuxReadings:
    """Auxiliary readings of one channel, grouped by kind in wire order (the order of their
    count fields; :data:`AUX_KINDS` lists them)."""

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


#: The aux groups in the order of their count fields, which is their order on the wire.
AUX_KINDS: tuple[str, ...] = tuple(field.name for field in dataclass_fields(AuxReadings))
_NO_AUX = AuxReadings()


@dataclass(frozen=True, slots=True)
class BmsValue:
    """A CAN-BMS entry: u32 index, f64 value, NUL-terminated 1-byte unit."""

    index: int
    value: float
    unit: str = ""


@dataclass(frozen=True, slots=True)
class SmbValue:
    """An SMB entry: u32 index, u32 type (0 double, otherwise string), the value, the unit.

    ``value`` is a float for type 0 and a str (NUL-terminated, at most 1024 bytes) otherwise.
    """

    index: int
    value: float | str
    unit: str = ""


def _aux_counts(aux: Any, owner: str) -> tuple[int, ...]:
    if not isinstance(aux, AuxReadings):
        raise EncodeError(f"{owner}.aux must be AuxReadings")
    return aux.counts()


class AuxValues(Tail):
    """The aux values {f32 value, f32 dValue/dt}, grouped in the order of the twelve counts,
    which a hidden count (a ``U16Array(12)``) named ``counts_name`` carries."""

    __slots__ = ("counts_name",)

    def __init__(self, counts_name: str) -> None:
        self.counts_name = counts_name

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        _aux_counts(value, owner)
        parts = []
        for kind in AUX_KINDS:
            for position, entry in enumerate(getattr(value, kind)):
                label = f"{name}.{kind}[{position}]"
                parts.append(
                    struct.pack(
                        "<ff",
                        F32.encode(owner, label + ".value", entry.value),
                        F32.encode(owner, label + ".dt", entry.dt),
                    )
                )
        return b"".join(parts)

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        return _decode_aux(buffer, offset, end, ctx[self.counts_name])


def _decode_aux(
    buffer: Buffer, offset: int, end: int, counts: tuple[int, ...]
) -> tuple[AuxReadings, int]:
    total = sum(counts)
    if not total:
        return _NO_AUX, offset
    if offset + 8 * total > end:
        raise struct.error("aux values overrun the frame")
    raw = struct.unpack_from(f"<{2 * total}f", buffer, offset)
    return _aux_readings(_aux_plan(counts), raw), offset + 8 * total


@functools.lru_cache(maxsize=64)
def _aux_plan(counts: tuple[int, ...]) -> tuple[tuple[str, int, int], ...]:
    """Where each aux group with readings lies among the {value, dt} floats: (kind, start, end)."""
    plan, at = [], 0
    for kind, number in zip(AUX_KINDS, counts, strict=True):
        if number:
            plan.append((kind, at, at + 2 * number))
            at += 2 * number
    return tuple(plan)


def _aux_readings(plan: tuple[tuple[str, int, int], ...], raw: Sequence[float]) -> AuxReadings:
    """The aux readings of one record from its {value, dt} floats, laid out as ``plan`` says."""
    return AuxReadings(
        **{kind: tuple(map(AuxValue, raw[a:b:2], raw[a + 1 : b : 2])) for kind, a, b in plan}
    )


_UNIT = CString()
_SMB_TEXT = CString(1024)


class BmsEntry(Tail):
    """One CAN-BMS entry: u32 index, f64 value, ``az`` unit (a :class:`BmsValue`)."""

    __slots__ = ()

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        if not isinstance(value, BmsValue):
            raise EncodeError(f"{owner}.{name} must be a BmsValue")
        return (
            _U32.pack(U32.encode(owner, name + ".index", value.index))
            + _F64.pack(F64.encode(owner, name + ".value", value.value))
            + _UNIT.encode(owner, name + ".unit", value.unit)
        )

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        if offset + 12 > end:
            raise struct.error("BMS entry overruns the frame")
        (index,) = _U32.unpack_from(buffer, offset)
        (value,) = _F64.unpack_from(buffer, offset + 4)
        unit, offset = _UNIT.decode(buffer, offset + 12, end, ctx)
        return BmsValue(index, value, unit), offset


class SmbEntry(Tail):
    """One SMB entry: u32 index, u32 type, then an f64 (type 0) or an ``az`` string (any other
    type, as the DLL reads it; we write 1), then the ``az`` unit (a :class:`SmbValue`)."""

    __slots__ = ()

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        if not isinstance(value, SmbValue):
            raise EncodeError(f"{owner}.{name} must be an SmbValue")
        index = U32.encode(owner, name + ".index", value.index)
        if isinstance(value.value, str):
            body = _U32_PAIR.pack(index, 1) + _SMB_TEXT.encode(owner, name + ".value", value.value)
        else:
            body = _U32_PAIR.pack(index, 0) + _F64.pack(
                F64.encode(owner, name + ".value", value.value)
            )
        return body + _UNIT.encode(owner, name + ".unit", value.unit)

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        if offset + 8 > end:
            raise struct.error("SMB entry overruns the frame")
        index, kind = _U32_PAIR.unpack_from(buffer, offset)
        offset += 8
        smb_value: float | str
        if kind == 0:
            if offset + 8 > end:
                raise struct.error("SMB value overruns the frame")
            (smb_value,) = _F64.unpack_from(buffer, offset)
            offset += 8
        else:
            smb_value, offset = _SMB_TEXT.decode(buffer, offset, end, ctx)
        unit, offset = _UNIT.decode(buffer, offset, end, ctx)
        return SmbValue(index, smb_value, unit), offset


_BMS_ENTRY = BmsEntry()
_SMB_ENTRY = SmbEntry()


class ChannelExtras(Tail):
    """The variable end of a legacy channel record, filling ``aux``, ``bms`` and ``smb``:
    fourteen u16 counts (twelve aux groups, BMS, SMB), then the aux values, BMS and SMB
    entries."""

    __slots__ = ()
    names = ("aux", "bms", "smb")

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        aux, bms, smb = value.aux, value.bms, value.smb
        if aux is _NO_AUX and not bms and not smb:  # most records: fourteen zero counts
            return _NO_EXTRAS
        counts = (*_aux_counts(aux, owner), len(bms), len(smb))
        labels = (*(f"aux.{kind}" for kind in AUX_KINDS), "bms", "smb")
        for label, number in zip(labels, counts, strict=True):
            if number > 0xFFFF:
                raise EncodeError(
                    f"{owner}.{label} has {number} entries; its u16 count holds 65535"
                )
        parts = [_AUX_COUNTS.pack(*counts), _AUX_VALUES.encode(owner, "aux", aux)]
        parts.extend(_BMS_ENTRY.encode(owner, f"bms[{i}]", v) for i, v in enumerate(bms))
        parts.extend(_SMB_ENTRY.encode(owner, f"smb[{i}]", v) for i, v in enumerate(smb))
        return b"".join(parts)

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        if offset + _AUX_COUNTS.size > end:
            raise struct.error("channel record counts overrun the frame")
        counts = _AUX_COUNTS.unpack_from(buffer, offset)
        offset += _AUX_COUNTS.size
        aux, offset = _decode_aux(buffer, offset, end, counts[:12])
        bms, smb = [], []
        for _ in range(counts[12]):
            entry, offset = _BMS_ENTRY.decode(buffer, offset, end, ctx)
            bms.append(entry)
        for _ in range(counts[13]):
            smb_entry, offset = _SMB_ENTRY.decode(buffer, offset, end, ctx)
            smb.append(smb_entry)
        return (aux, tuple(bms), tuple(smb)), offset


_CHANNEL_EXTRAS = ChannelExtras()
_AUX_VALUES = AuxValues("")
_NO_EXTRAS = bytes(_AUX_COUNTS.size)


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
    aux: AuxReadings = tail(_CHANNEL_EXTRAS, default=_NO_AUX)
    bms: tuple[BmsValue, ...] = part_of("aux", default=())
    smb: tuple[SmbValue, ...] = part_of("aux", default=())

    @classmethod
    def unpack_from(cls, buffer: Buffer, offset: int, end: int) -> tuple[ChannelRecord, int]:
        """Parse one record at ``offset``.

        A status scan decodes thousands of these, so the common case (no aux, BMS or SMB part)
        is one struct call over the fixed 1753 bytes, counts included, and one constructor call.
        """
        after = offset + _RECORD_SIZE
        if after > end:
            raise struct.error(f"a channel record needs {_RECORD_SIZE} bytes, {end - offset} left")
        # Text fields are read as their first character only (zero: an empty text, as most
        # are); the others are decoded from the buffer.
        v = _RECORD_MARKERS(buffer, offset)
        if v[25] != _ZERO_COUNTS:  # an aux, BMS or SMB part follows
            return cls._unpack_with_extras(buffer, offset, end, _RECORD_UNPACK(buffer, offset))
        status = _STATUS_BY_CODE.get(v[1])
        if status is None:
            status = StatusCode(v[1])  # UNKNOWN_<code> for an undocumented code
        at = offset
        try:
            return cls(
                v[0],
                status,
                v[2],
                _utf16(buffer[at + 7 : at + 407])[0].partition("\x00")[0] if v[3] else "",
                _utf16(buffer[at + 407 : at + 551])[0].partition("\x00")[0] if v[4] else "",
                decode_ascii(bytes(buffer[at + 551 : at + 651])) if v[5] else "",
                decode_ascii(bytes(buffer[at + 651 : at + 715])) if v[6] else "",
                _utf16(buffer[at + 715 : at + 859])[0].partition("\x00")[0] if v[7] else "",
                _utf16(buffer[at + 859 : at + 1259])[0].partition("\x00")[0] if v[8] else "",
                _utf16(buffer[at + 1259 : at + 1659])[0].partition("\x00")[0] if v[9] else "",
                v[10],
                v[11],
                v[12],
                v[13],
                v[14],
                v[15],
                v[16],
                v[17],
                v[18],
                v[19],
                v[20],
                v[21],
                v[22],
                v[23],
                v[24],
            ), after
        except UnicodeDecodeError:
            # Bytes after a text's NUL are padding: decode_wide stops at the NUL, or raises.
            return cls._unpack_with_extras(buffer, offset, end, _RECORD_UNPACK(buffer, offset))

    @classmethod
    def _unpack_with_extras(
        cls, buffer: Buffer, offset: int, end: int, v: tuple[Any, ...]
    ) -> tuple[ChannelRecord, int]:
        status = _STATUS_BY_CODE.get(v[1])
        head = (
            v[0],
            status if status is not None else StatusCode(v[1]),
            v[2],
            decode_wide(v[3]),
            decode_wide(v[4]),
            decode_ascii(v[5]),
            decode_ascii(v[6]),
            decode_wide(v[7]),
            decode_wide(v[8]),
            decode_wide(v[9]),
            *v[10:25],
        )
        after = offset + _RECORD_SIZE
        if v[25] == _ZERO_COUNTS:
            return cls(*head), after
        extras, after = _CHANNEL_EXTRAS.decode(buffer, after - _AUX_COUNTS.size, end, {})
        return cls(*head, *extras), after


# The fixed part of a record and its fourteen counts, these as one bytes value (all zero in a
# plain record).
_RECORD_UNPACK = struct.Struct(
    ChannelRecord.LAYOUT.struct.format + f"{_AUX_COUNTS.size}s"
).unpack_from
_RECORD_SIZE = ChannelRecord.LAYOUT.size + _AUX_COUNTS.size
_ZERO_COUNTS = bytes(_AUX_COUNTS.size)
_utf16 = codecs.utf_16_le_decode
_STATUS_BY_CODE = {int(member): member for member in StatusCode}


# --------------------------------------------------------------------------------------------
# The records of one channel-info answer as columns

#: Every attribute of a :class:`ChannelRecord`, in constructor (and wire) order: the columns of a
#: :class:`ChannelTable`.
CHANNEL_FIELDS: tuple[str, ...] = (*ChannelRecord.LAYOUT.names, "aux", "bms", "smb")
_WIDE_TEXT = ("schedule", "test_name", "barcode", "can_config_name", "smb_config_name")
_ASCII_TEXT = ("exit_condition", "step_and_cycle_format")
R = TypeVar("R", bound=ChannelRecord)


def _gather_format(numbers: bool = True) -> tuple[str, tuple[tuple[str, int, int], ...]]:
    """The struct format reading one record without its text fields, and where the texts are.

    Each text field is read as its first character only (a u16 unit or a byte; zero means an
    empty text); the texts that are not empty are decoded from the buffer afterwards. Without
    ``numbers``, only the channel index, the text markers and the counts are read.
    """
    parts, texts, at, pad = ["<"], [], 0, 0
    for name, kind in ChannelRecord.LAYOUT.encoders:
        size = struct.calcsize("<" + kind.fmt)
        at += size
        is_text = name in _WIDE_TEXT or name in _ASCII_TEXT
        if not numbers and not is_text and name != "channel_index":
            pad += size  # one pad over neighbouring fields: read faster than one per field
            continue
        if pad:
            parts.append(f"{pad}x")
            pad = 0
        if is_text:
            marker = "H" if name in _WIDE_TEXT else "B"
            parts.append(f"{marker}{size - struct.calcsize(marker)}x")
            texts.append((name, at - size, size))
        else:
            parts.append(kind.fmt)
    if pad:
        parts.append(f"{pad}x")
    parts.append(f"{_AUX_COUNTS.size}s")  # the fourteen counts, compared as one bytes value
    return "".join(parts), tuple(texts)


_GATHER_RECORD, _TEXT_FIELDS = _gather_format()
_SKELETON_RECORD = _gather_format(numbers=False)[0]
_RECORD_MARKERS = struct.Struct(_GATHER_RECORD).unpack_from
# unpack_from spells the text fields' offsets out, for speed; they must be these.
if tuple((at, size) for _name, at, size in _TEXT_FIELDS) != (
    (7, 400),
    (407, 144),
    (551, 100),
    (651, 64),
    (715, 144),
    (859, 400),
    (1259, 400),
):  # pragma: no cover - a change of the declared layout
    raise RuntimeError("ChannelRecord.unpack_from's text offsets do not match its layout")


def _numbers_format() -> tuple[str, tuple[int, ...]]:
    """The struct format reading the numeric fields of one record (its texts, read apart, and
    its counts skipped), and where those fields are in :data:`CHANNEL_FIELDS`."""
    parts, positions, pad = ["<"], [], 0
    for position, (name, kind) in enumerate(ChannelRecord.LAYOUT.encoders):
        if name in _WIDE_TEXT or name in _ASCII_TEXT:
            pad += struct.calcsize("<" + kind.fmt)
            continue
        if pad:
            parts.append(f"{pad}x")
            pad = 0
        parts.append(kind.fmt)
        positions.append(position)
    parts.append(f"{pad + _AUX_COUNTS.size}x")
    return "".join(parts), tuple(positions)


_NUMBERS_RECORD, _NUMBER_POSITIONS = _numbers_format()
_STATUS_POSITION = CHANNEL_FIELDS.index("status")
_SKELETON_ITEMS = len(struct.unpack_from(_SKELETON_RECORD, bytes(_RECORD_SIZE)))
# A record's channel index and its fourteen counts: what a scan reads of every record first.
_INDEX_AND_COUNTS = f"<I{ChannelRecord.LAYOUT.size - 4}x{_AUX_COUNTS.size}s"
# Where the first unit of each text lies in a record (two bytes for UTF-16 texts).
_TEXT_FIRST_BYTES = tuple(
    at + byte for name, at, _size in _TEXT_FIELDS for byte in range(2 if name in _WIDE_TEXT else 1)
)


@functools.lru_cache(maxsize=128)
def _gather(count: int, record_format: str) -> struct.Struct:
    """One struct reading ``count`` consecutive records with ``record_format``."""
    return struct.Struct("<" + record_format[1:] * count)


def _decode_status(code: int) -> StatusCode:
    status = _STATUS_BY_CODE.get(code)
    return status if status is not None else StatusCode(code)  # UNKNOWN_<code> if undocumented


class _PlainRecords:
    """``count`` records one after another in ``buffer``, every one ``stride`` bytes long with
    the same aux counts (``aux_counts``; none in a plain status scan) and no BMS or SMB part.
    Not decoded yet, but checked: their texts are decoded (the only fixed fields that can be
    malformed). A deferred :class:`ChannelTable` decodes every column from them, all together,
    on first need."""

    __slots__ = (
        "_columns",
        "aux_counts",
        "aux_values",
        "buffer",
        "count",
        "offset",
        "stride",
        "texts",
    )

    def __init__(
        self, buffer: Buffer, offset: int, count: int, aux_counts: tuple[int, ...]
    ) -> None:
        self.buffer, self.offset, self.count = buffer, offset, count
        self.aux_counts = aux_counts
        self.aux_values = 2 * sum(aux_counts)  # {value, dt} per aux reading
        self.stride = stride = _RECORD_SIZE + 4 * self.aux_values
        self._columns: list[tuple[Any, ...]] | None = None
        # In most scans every text is empty: the first unit of each is zero.
        end = offset + count * stride
        firsts = b"".join(buffer[offset + at : end : stride] for at in _TEXT_FIRST_BYTES)
        if firsts.count(0) == len(firsts):
            self.texts = [("",) * count] * len(_TEXT_FIELDS)
        else:
            record_format = _SKELETON_RECORD + (f"{stride - _RECORD_SIZE}x" if aux_counts else "")
            skeleton = _gather(count, record_format).unpack_from(buffer, offset)
            self.texts = [
                _text_column(self, text, skeleton[1 + k :: _SKELETON_ITEMS])
                for k, text in enumerate(_TEXT_FIELDS)
            ]

    def columns(self) -> list[tuple[Any, ...]]:
        """Every column, in :data:`CHANNEL_FIELDS` order (decoded once)."""
        if self._columns is None:
            count, values = self.count, self.aux_values
            record_format = _NUMBERS_RECORD + (f"{values}f" if values else "")
            flat = _gather(count, record_format).unpack_from(self.buffer, self.offset)
            numbers = len(_NUMBER_POSITIONS)
            width = numbers + values
            columns: list[tuple[Any, ...]] = [()] * len(CHANNEL_FIELDS)
            for k, position in enumerate(_NUMBER_POSITIONS):
                columns[position] = flat[k::width]
            codes = columns[_STATUS_POSITION]
            try:
                columns[_STATUS_POSITION] = tuple(map(_STATUS_BY_CODE.__getitem__, codes))
            except KeyError:  # an undocumented code: a pseudo-member UNKNOWN_<code>
                columns[_STATUS_POSITION] = tuple(map(_decode_status, codes))
            for position, texts in zip(_TEXT_POSITIONS, self.texts, strict=True):
                columns[position] = texts
            if values:
                plan = _aux_plan(self.aux_counts)
                starts = range(numbers, count * width, width)
                aux = tuple(_aux_readings(plan, flat[at : at + values]) for at in starts)
            else:
                aux = (_NO_AUX,) * count
            columns[-3:] = [aux, ((),) * count, ((),) * count]
            self._columns = columns
        return self._columns


def _text_column(
    records: _PlainRecords, text: tuple[str, int, int], firsts: tuple[int, ...]
) -> tuple[str, ...]:
    """One text field of ``records``, given the first unit of each text."""
    if not any(firsts):
        return ("",) * records.count
    name, at, size = text
    decode_text = decode_wide if name in _WIDE_TEXT else decode_ascii
    buffer, stride, first_at = records.buffer, records.stride, records.offset + at
    starts = range(first_at, first_at + records.count * stride, stride)
    return tuple(
        decode_text(bytes(buffer[start : start + size])) if first else ""
        for start, first in zip(starts, firsts, strict=True)
    )


# The optional C builder of records (protocol/_records.c): see use_record_builder.
_record_values = attrgetter(*CHANNEL_FIELDS)
_BUILDERS = ("auto", "compiled", "python")
_from_columns: Any = None
_copy_as: Any = None
_record_builder = "auto"


def use_record_builder(name: str) -> str:
    """Choose how :meth:`ChannelTable.records` builds records: ``"compiled"`` (the optional C
    extension, which fills each record's slots from the columns), ``"python"`` (calls the class
    for each row) or ``"auto"`` (the compiled one if built). Returns the previous choice.

    Both give equal records; the tests run each. ``PYCTI_PURE_PYTHON=1`` in the environment
    chooses ``"python"`` at import. Raises ValueError for another name and ModuleNotFoundError
    if the compiled builder is not built.
    """
    global _from_columns, _copy_as, _record_builder  # one process-wide switch
    if name not in _BUILDERS:
        raise ValueError(f"record builder must be one of {list(_BUILDERS)}, not {name!r}")
    compiled: Any = None
    if name != "python":
        try:
            from . import _records as compiled  # built only where a compiler was
        except ImportError:
            if name == "compiled":
                raise ModuleNotFoundError(
                    "the compiled record builder (protocol._records) is not built"
                ) from None
    before = _record_builder
    _record_builder = name
    _from_columns = None if compiled is None else compiled.from_columns
    _copy_as = None if compiled is None else compiled.copy_as
    return before


def record_builder() -> str:
    """What :meth:`ChannelTable.records` uses now: ``"compiled"`` or ``"python"``."""
    return "compiled" if _from_columns is not None else "python"


def record_as(cls: type[R], record: ChannelRecord) -> R:
    """A record of ``cls`` (:class:`ChannelRecord` or a subclass adding no field) holding the
    fields of ``record`` (a copy; ``record`` is left as it is)."""
    copy_as = _copy_as
    if copy_as is not None:
        slots = _FILLABLE[cls] if cls in _FILLABLE else _fillable_slots(cls)
        if slots is not None:
            return copy_as(cls, slots, record)  # type: ignore[no-any-return]
    return cls(*_record_values(record))


_FILLABLE: dict[type, tuple[Any, ...] | None] = {}


def _fillable_slots(cls: type) -> tuple[Any, ...] | None:
    """The slots of :data:`CHANNEL_FIELDS` in ``cls``, if a record of ``cls`` is made by
    storing each field in its slot and nothing else (else None: the class is called).

    That holds for :class:`ChannelRecord` and for subclasses that add no field, no
    ``__new__`` and no ``__init__`` of their own: dataclass gives them an ``__init__`` whose
    code is the same as ChannelRecord's.
    """
    try:
        return _FILLABLE[cls]
    except KeyError:
        pass
    if len(_FILLABLE) >= 64:  # classes made on the fly are not kept forever
        _FILLABLE.clear()
    slots = _FILLABLE[cls] = _slots_to_fill(cls)
    return slots


def _slots_to_fill(cls: type) -> tuple[Any, ...] | None:
    if not issubclass(cls, ChannelRecord) or cls.__new__ is not object.__new__:
        return None
    mine, base = getattr(cls.__init__, "__code__", None), ChannelRecord.__init__.__code__
    if mine is None or (mine.co_code, mine.co_names, mine.co_varnames) != (
        base.co_code,
        base.co_names,
        base.co_varnames,
    ):
        return None
    slots = tuple(inspect.getattr_static(cls, name) for name in CHANNEL_FIELDS)
    if any(type(slot) is not types.MemberDescriptorType for slot in slots):
        return None
    return slots


use_record_builder("python" if os.environ.get("PYCTI_PURE_PYTHON", "") not in ("", "0") else "auto")


class ChannelTable:
    """The records of a channel-info answer as columns: one tuple per field, row ``i`` of every
    column belonging to the same channel.

    The columns are the attributes of :class:`ChannelRecord` (:data:`CHANNEL_FIELDS`:
    ``channel_index``, ``status``, ..., ``voltage_v``, ..., ``aux``, ``bms``, ``smb``), with the
    same values a record has; ``table["voltage_v"]`` is a tuple of floats, ``table.records()``
    builds the records. :meth:`unpack_from` decodes the records of one answer together: a
    status scan of a whole cycler costs one struct call, not one per channel, made when a
    column other than ``channel_index`` is first read.
    :meth:`array` gives a numeric column as a numpy array (numpy is optional).
    """

    __slots__ = ("_columns", "_deferred", "_length")

    def __init__(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """Raises ValueError if a field of :data:`CHANNEL_FIELDS` is missing, unknown fields
        are given, or the columns differ in length."""
        unknown = set(columns) - set(CHANNEL_FIELDS)
        missing = [name for name in CHANNEL_FIELDS if name not in columns]
        if unknown or missing:
            raise ValueError(
                f"a channel table needs the columns {list(CHANNEL_FIELDS)}; "
                f"missing {missing}, unknown {sorted(unknown)}"
            )
        self._columns = {name: tuple(columns[name]) for name in CHANNEL_FIELDS}
        lengths = {len(column) for column in self._columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"the columns of a channel table differ in length: {sorted(lengths)}")
        self._length = lengths.pop()
        self._deferred: tuple[_PlainRecords, tuple[int, ...] | None] | None = None

    @classmethod
    def _trusted(cls, columns: Sequence[tuple[Any, ...]], length: int) -> ChannelTable:
        # The decoder's columns are complete and of one length by construction.
        table = cls.__new__(cls)
        table._columns = dict(zip(CHANNEL_FIELDS, columns, strict=True))
        table._length = length
        table._deferred = None
        return table

    @classmethod
    def _of_plain_records(
        cls, source: _PlainRecords, rows: tuple[int, ...] | None, indexes: tuple[int, ...]
    ) -> ChannelTable:
        # Only the channel indexes are read; the other columns wait for a first read.
        table = cls.__new__(cls)
        table._columns = {"channel_index": indexes}
        table._length = len(indexes)
        table._deferred = (source, rows)
        return table

    def _all_columns(self) -> dict[str, tuple[Any, ...]]:
        deferred = self._deferred
        if deferred is not None:
            source, rows = deferred
            columns = source.columns()
            if rows is not None:
                columns = [tuple(column[row] for row in rows) for column in columns]
            self._columns = dict(zip(CHANNEL_FIELDS, columns, strict=True))
            self._deferred = None
        return self._columns

    @classmethod
    def from_records(cls, records: Iterable[ChannelRecord]) -> ChannelTable:
        """The table of ``records`` (records, or :class:`ChannelRecord` subclasses)."""
        rows = [attrgetter(*CHANNEL_FIELDS)(record) for record in records]
        if not rows:
            return cls._trusted([() for _ in CHANNEL_FIELDS], 0)
        return cls._trusted(list(zip(*rows, strict=True)), len(rows))

    @classmethod
    def unpack_from(
        cls, buffer: Buffer, offset: int, end: int, count: int
    ) -> tuple[ChannelTable, int]:
        """Decode ``count`` consecutive records at ``offset`` (not past ``end``).

        Raises struct.error or ValueError as :meth:`ChannelRecord.unpack_from` does, for the
        same inputs. When the records have no BMS or SMB part and the same aux counts (what a
        status scan returns: none, or the cycler's aux channels), one struct call reads their
        indexes and counts, one more the other columns when they are first read; otherwise
        the records are read one by one.
        """
        if count > 1 and offset + _RECORD_SIZE <= end:
            first = bytes(buffer[offset + _RECORD_SIZE - _AUX_COUNTS.size : offset + _RECORD_SIZE])
            counts = _AUX_COUNTS.unpack(first)
            aux_size = 8 * sum(counts)
            after = offset + count * (_RECORD_SIZE + aux_size)
            if after == end and not counts[12] and not counts[13]:
                record_format = _INDEX_AND_COUNTS + (f"{aux_size}x" if aux_size else "")
                skeleton = _gather(count, record_format).unpack_from(buffer, offset)
                if skeleton[1::2].count(first) == count:
                    source = _PlainRecords(buffer, offset, count, counts[:12])
                    return cls._of_plain_records(source, None, skeleton[::2]), after
        unpack_record = ChannelRecord.unpack_from
        records = []
        for _ in range(count):
            record, offset = unpack_record(buffer, offset, end)
            records.append(record)
        return cls.from_records(records), offset

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, name: str) -> tuple[Any, ...]:
        """The column ``name`` (a field of :data:`CHANNEL_FIELDS`, or ``"channel"``, the
        1-based channel numbers); KeyError naming the fields for any other name."""
        column = self._columns.get(name)
        if column is not None:
            return column
        if name == "channel":
            return self.channel
        if name in CHANNEL_FIELDS:
            return self._all_columns()[name]
        raise KeyError(f"no column {name!r}; the columns are {list(CHANNEL_FIELDS)} and 'channel'")

    @property
    def channel(self) -> tuple[int, ...]:
        """The 1-based channel numbers MITS shows (``channel_index + 1``)."""
        return tuple(index + 1 for index in self._columns["channel_index"])

    @property
    def columns(self) -> dict[str, tuple[Any, ...]]:
        """Every column by field name, in :data:`CHANNEL_FIELDS` order (a new dict)."""
        return dict(self._all_columns())

    def records(self, cls: type[R] = ChannelRecord) -> list[R]:  # type: ignore[assignment]
        """The rows as records of ``cls`` (:class:`ChannelRecord` or a subclass adding no
        field, such as the client's ``ChannelStatus``)."""
        columns = self._all_columns().values()
        slots = _fillable_slots(cls) if _from_columns is not None else None
        if slots is None:
            return list(map(cls, *columns))
        return _from_columns(cls, slots, tuple(columns))  # type: ignore[no-any-return]

    def take(self, rows: Iterable[int]) -> ChannelTable:
        """A table of the given rows (0-based positions), in the order given."""
        picked = list(rows)
        deferred = self._deferred
        if deferred is not None:
            source, kept = deferred
            indexes = self._columns["channel_index"]
            return type(self)._of_plain_records(
                source,
                tuple(picked) if kept is None else tuple(kept[row] for row in picked),
                tuple(indexes[row] for row in picked),
            )
        columns = [tuple(column[row] for row in picked) for column in self._columns.values()]
        return type(self)._trusted(columns, len(picked))

    def array(self, name: str) -> Any:
        """The numeric column ``name`` as a numpy array (``status`` as its integer codes).

        Raises ValueError for a text or aux/BMS/SMB column and ModuleNotFoundError if numpy
        is not installed.
        """
        if name not in _NUMERIC_DTYPES:
            raise ValueError(
                f"{name!r} is not a numeric column; numeric columns: {list(_NUMERIC_DTYPES)}"
            )
        import numpy

        return numpy.array(self[name], dtype=_NUMERIC_DTYPES[name])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChannelTable):
            return NotImplemented
        return self._all_columns() == other._all_columns()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ChannelTable: {self._length} channels>"


_TEXT_POSITIONS = tuple(CHANNEL_FIELDS.index(name) for name, _at, _size in _TEXT_FIELDS)
_DTYPES = {"B": "u1", "h": "i2", "H": "u2", "I": "u4", "f": "f4", "d": "f8"}
_NUMERIC_DTYPES: dict[str, str] = {
    name: "<" + _DTYPES[kind.fmt]
    for name, kind in ChannelRecord.LAYOUT.encoders
    if name not in _WIDE_TEXT and name not in _ASCII_TEXT
}


class _KeepsTable(Message):
    """Holds the table a channel-info feedback was decoded as: ``(records, table)``, where
    ``records`` is the ``channels`` tuple the table belongs to, or None while the records have
    not been built. A feedback decoded from several records builds them on first access of
    ``channels`` (a scan that only wants columns, or statuses, never pays for them)."""

    __slots__ = ("_table",)
    _table: tuple[tuple[ChannelRecord, ...] | None, ChannelTable]

    def _keep_table(self, records: tuple[ChannelRecord, ...] | None, table: ChannelTable) -> None:
        self._table = (records, table)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # Only reached when a slot is unset: ``channels`` of a feedback decoded as a table.
            if name == "channels":
                try:
                    records, table = object.__getattribute__(self, "_table")
                except AttributeError:
                    records = table = None
                if records is None and table is not None:
                    channels = tuple(table.records())
                    self.channels = channels
                    self._keep_table(channels, table)
                    return channels
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


@dataclass(slots=True)
class ChannelInfoFeedback(_KeepsTable):
    """GET_CHANNELS_INFO feedback: u32 ChannelNum at 20, then that many :class:`ChannelRecord`.

    A 1-channel feedback without aux is 1779 bytes; 16 channels are 28074 bytes. MITS 10 may
    answer a one-channel request with every channel: select records by ``channel_index``.
    :attr:`table` gives the same records as columns (a :class:`ChannelTable`).
    """

    CODE: ClassVar[int] = CommandCode.GET_CHANNELS_INFO_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    channels: tuple[ChannelRecord, ...] = tail(Seq(ChannelRecord, U32), default=())

    @classmethod
    def unpack_from(cls, buffer: Buffer, offset: int, end: int) -> tuple[ChannelInfoFeedback, int]:
        # The hot path of every status read: the declared Seq tail, unrolled.
        (number,) = _U32.unpack_from(buffer, offset)
        offset += 4
        if number == 1:  # the answer to a one-channel read
            record, offset = ChannelRecord.unpack_from(buffer, offset, end)
            return cls((record,)), offset
        # Several records (a scan) are decoded together, as columns; the records are built
        # from the columns when ``channels`` is first read.
        table, offset = ChannelTable.unpack_from(buffer, offset, end, number)
        feedback = cls.__new__(cls)
        feedback._keep_table(None, table)
        return feedback, offset

    @property
    def table(self) -> ChannelTable:
        """The records as columns (decoded with them, or built from :attr:`channels`)."""
        records: tuple[ChannelRecord, ...] | None
        table: ChannelTable | None
        try:
            records, table = self._table
        except AttributeError:
            records, table = None, None
        try:
            channels = _CHANNELS_SLOT.__get__(self)  # without building them
        except AttributeError:
            if table is None:
                raise
            return table  # decoded as a table; records not built
        if table is None or records is not channels:
            table = ChannelTable.from_records(channels)
            self._keep_table(channels, table)
        return table


_CHANNELS_SLOT = ChannelInfoFeedback.__dict__["channels"]


def _vls_counts(obj: Any) -> tuple[int, ...]:
    return _aux_counts(obj.aux, type(obj).__name__)


def _cstring_units(name: str) -> Any:
    def measure(obj: Any) -> int:
        return len(encode_ascii(type(obj).__name__, name, getattr(obj, name), 1 << 16))

    return measure


class _OptionalCString(Tail):
    """A VLS 1-byte string: present only when its length (a hidden count) is > 0, then read up
    to and including its NUL; the length itself is not used to advance (ArbinCTI.dll). We
    write the length without the NUL (open question 4)."""

    __slots__ = ("count_name",)

    def __init__(self, count_name: str) -> None:
        self.count_name = count_name

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        return _UNIT.encode(owner, name, value) if value else b""

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        if not ctx[self.count_name]:
            return "", offset
        return _UNIT.decode(buffer, offset, end, ctx)


@dataclass(slots=True)
class VlsChannelRecord(WireStruct):
    """One channel in a GET_CHANNELS_INFO_VLS feedback: 155 fixed bytes, then the strings at
    their own lengths, then aux values, BMS and SMB entries.

    Relative offsets: index 0, status 4, comm failure 6, master 7, test time 9, step time 17,
    twelve f32 readings from 25, seven u16 string lengths from 73 (schedule, test name, exit
    condition, step/cycle, barcode, CAN config, SMB config), twelve u16 aux counts from 87,
    BMS count 111, SMB count 113, 40 reserved, then the variable part from 155. The attribute
    names are those of :class:`ChannelRecord`; :meth:`to_channel_record` converts.
    """

    channel_index: int = wire(U32)  # 0
    status: StatusCode = wire(Enum16(StatusCode), default=StatusCode.IDLE)  # 4
    comm_failure: int = wire(U8, default=0)  # 6
    master_channel: int = wire(U16, default=0)  # 7
    test_time_s: float = wire(F64, default=0.0)  # 9
    step_time_s: float = wire(F64, default=0.0)  # 17
    voltage_v: float = wire(F32, default=0.0)  # 25
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
    _schedule_units: ClassVar[Count] = count(U16, "schedule", measure=wide_units("schedule"))  # 73
    _test_name_units: ClassVar[Count] = count(U16, "test_name", measure=wide_units("test_name"))
    _exit_length: ClassVar[Count] = count(
        U16, "exit_condition", measure=_cstring_units("exit_condition")
    )
    _step_length: ClassVar[Count] = count(
        U16, "step_and_cycle_format", measure=_cstring_units("step_and_cycle_format")
    )
    _barcode_units: ClassVar[Count] = count(U16, "barcode", measure=wide_units("barcode"))
    _can_units: ClassVar[Count] = count(
        U16, "can_config_name", measure=wide_units("can_config_name")
    )
    _smb_units: ClassVar[Count] = count(
        U16, "smb_config_name", measure=wide_units("smb_config_name")
    )
    _aux_counts: ClassVar[Count] = count(U16Array(12), "aux", measure=_vls_counts)  # 87
    _bms_count: ClassVar[Count] = count(U16, "bms")  # 111
    _smb_count: ClassVar[Count] = count(U16, "smb", pad_after=40)  # 113, then 40 reserved
    schedule: str = tail(WideCounted("_schedule_units"), default="")  # 155
    test_name: str = tail(WideCounted("_test_name_units"), default="")
    exit_condition: str = tail(_OptionalCString("_exit_length"), default="")
    step_and_cycle_format: str = tail(_OptionalCString("_step_length"), default="")
    barcode: str = tail(WideCounted("_barcode_units"), default="")
    can_config_name: str = tail(WideCounted("_can_units"), default="")
    smb_config_name: str = tail(WideCounted("_smb_units"), default="")
    aux: AuxReadings = tail(AuxValues("_aux_counts"), default=_NO_AUX)
    bms: tuple[BmsValue, ...] = tail(Seq(_BMS_ENTRY, "_bms_count"), default=())
    smb: tuple[SmbValue, ...] = tail(Seq(_SMB_ENTRY, "_smb_count"), default=())

    def to_channel_record(self) -> ChannelRecord:
        """The same values as a :class:`ChannelRecord` (what a legacy feedback carries)."""
        return ChannelRecord(**{name: getattr(self, name) for name in _CHANNEL_RECORD_NAMES})


_CHANNEL_RECORD_NAMES = (*ChannelRecord.LAYOUT.names, "aux", "bms", "smb")


@dataclass(slots=True)
class ChannelInfoVlsFeedback(Feedback, code=CommandCode.GET_CHANNELS_INFO_VLS_FEEDBACK):
    """GET_CHANNELS_INFO_VLS feedback: u32 N at 20, then N :class:`VlsChannelRecord`."""

    channels: tuple[VlsChannelRecord, ...] = tail(Seq(VlsChannelRecord, U32), default=())


@dataclass(slots=True)
class ChannelInfoJsonRequest(JsonRequest, code=CommandCode.GET_CHANNELS_INFO_JSON):
    """GET_CHANNELS_INFO_JSON request (MitsX_SPTT): ``{"NeedType": u32, "ChannelIndex": int,
    "FilterMonitorChannelType": int}``."""


@dataclass(slots=True)
class ChannelInfoJsonFeedback(JsonFeedback, code=CommandCode.GET_CHANNELS_INFO_JSON_FEEDBACK):
    """GET_CHANNELS_INFO_JSON feedback: ``{"m_Channels": [ {Channel, Status, ...} ]}``."""


@dataclass(slots=True)
class SimpleChannelInfoRequest(Request, code=CommandCode.GET_CHANNELS_INFO_SIMPLE):
    """GET_CHANNELS_INFO_SIMPLE_MODE request (62 bytes): i16 channel (-1 all) at 20,
    i16 selection at 22, 36 reserved."""

    channel_index: int = wire(I16, default=-1)  # 20
    selection: int = wire(I16, default=ChannelSelection.ALL, pad_after=36)  # 22


def _aux_only_counts(obj: Any) -> tuple[int, ...]:
    return _aux_counts(obj.aux, type(obj).__name__)


@dataclass(slots=True)
class SimpleChannelRecord(WireStruct):
    """One record of the simple-mode feedback (59 bytes + aux values): index 0, master 4,
    step number 6 (the DLL does not read it), status 8, comm failure 10, test time 11, step
    time 19, voltage 27, current 31, twelve u16 aux counts 35, aux values 59."""

    channel_index: int = wire(U32)  # 0
    master_channel: int = wire(U16, default=0)  # 4
    step_number: int = wire(U16, default=0)  # 6
    status: StatusCode = wire(Enum16(StatusCode), default=StatusCode.IDLE)  # 8
    comm_failure: int = wire(U8, default=0)  # 10
    test_time_s: float = wire(F64, default=0.0)  # 11
    step_time_s: float = wire(F64, default=0.0)  # 19
    voltage_v: float = wire(F32, default=0.0)  # 27
    current_a: float = wire(F32, default=0.0)  # 31
    _aux_counts: ClassVar[Count] = count(U16Array(12), "aux", measure=_aux_only_counts)  # 35
    aux: AuxReadings = tail(AuxValues("_aux_counts"), default=_NO_AUX)  # 59


@dataclass(slots=True)
class SimpleChannelInfoFeedback(Feedback, code=CommandCode.GET_CHANNELS_INFO_SIMPLE_FEEDBACK):
    """GET_CHANNELS_INFO_SIMPLE_MODE feedback: u32 N at 20, N :class:`SimpleChannelRecord`."""

    channels: tuple[SimpleChannelRecord, ...] = tail(Seq(SimpleChannelRecord, U32), default=())


@dataclass(slots=True)
class ChannelsInfoExRequest(Request, code=CommandCode.GET_CHANNELS_INFO_EX):
    """GET_CHANNELS_INFO_EX request (58 bytes): i16 channel at 20, i16 selection at 22,
    32 reserved."""

    channel_index: int = wire(I16, default=-1)  # 20
    selection: int = wire(I16, default=ChannelSelection.ALL, pad_after=32)  # 22


@dataclass(slots=True)
class TestObjectRecord(WireStruct):
    """One test-object record of GET_CHANNELS_INFO_EX (1095 bytes): u16 channel 0, test
    object 2, chart 402, eight f32 from 802, auto-calculate 834, mass 835, 256 reserved."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    channel_index: int = wire(U16)  # 0
    test_object_name: str = wire(Wide(200), default="")  # 2
    chart_name: str = wire(Wide(200), default="")  # 402
    nominal_capacity: float = wire(F32, default=0.0)  # 802
    max_current_charge: float = wire(F32, default=0.0)
    min_voltage_charge: float = wire(F32, default=0.0)
    max_voltage_charge: float = wire(F32, default=0.0)
    nominal_voltage: float = wire(F32, default=0.0)
    nominal_capacitance: float = wire(F32, default=0.0)
    nominal_ir: float = wire(F32, default=0.0)
    specific_capacity: float = wire(F32, default=0.0)
    auto_calculate: int = wire(U8, default=0)  # 834
    mass: float = wire(F32, default=0.0, pad_after=256)  # 835


@dataclass(slots=True)
class ChannelsInfoExFeedback(Feedback, code=CommandCode.GET_CHANNELS_INFO_EX_FEEDBACK):
    """GET_CHANNELS_INFO_EX feedback: u32 N at 20, then N :class:`TestObjectRecord`."""

    records: tuple[TestObjectRecord, ...] = tail(Seq(TestObjectRecord, U32), default=())


@dataclass(slots=True)
class SpttChannelInfoRequest(Request, code=CommandCode.GET_CHANNELS_INFO_SPTT):
    """GET_CHANNELS_INFO_SPTT request (56 bytes; DM build only): i16 channel at 20, 32
    reserved. Its code lies in the feedback range; it is declared as a request because the DM
    client sends it (open question 12)."""

    channel_index: int = wire(I16, default=-1, pad_after=32)  # 20


@dataclass(slots=True)
class SpttChannelRecord(WireStruct):
    """One 56-byte SPTT record: global index 0, nine f32 from 4, status 40, type 41 (0 EQ,
    1 CELL), parent global index 42, three reserved f32 from 44."""

    global_index: int = wire(I32)  # 0
    voltage_v: float = wire(F32, default=0.0)  # 4
    current_a: float = wire(F32, default=0.0)
    power_w: float = wire(F32, default=0.0)
    charge_capacity_ah: float = wire(F32, default=0.0)
    discharge_capacity_ah: float = wire(F32, default=0.0)
    charge_energy_wh: float = wire(F32, default=0.0)
    discharge_energy_wh: float = wire(F32, default=0.0)
    internal_resistance_ohm: float = wire(F32, default=0.0)
    aux_temperature_c: float = wire(F32, default=0.0)
    status: int = wire(U8, default=0)  # 40
    kind: int = wire(U8, default=0)  # 41
    parent_global_index: int = wire(U16, default=0, pad_after=12)  # 42, then 3 reserved f32


@dataclass(slots=True)
class SpttChannelInfoFeedback(Feedback, code=CommandCode.GET_CHANNELS_INFO_SPTT_FEEDBACK):
    """GET_CHANNELS_INFO_SPTT feedback (DM): u32 N at 20, 32 reserved, N 56-byte records."""

    _record_count: ClassVar[Count] = count(U32, "records", pad_after=32)  # 20
    records: tuple[SpttChannelRecord, ...] = tail(
        Seq(SpttChannelRecord, "_record_count"), default=()
    )  # 56


# --------------------------------------------------------------------------------------------
# ASSIGN, START, CONTINUE, RESUME, STOP, JUMP, serial number

_CHANNEL_LIST = Seq(U16, U32)  # u32 N, then N u16 channel indexes


@dataclass(slots=True)
class AssignScheduleRequest(Request, code=CommandCode.ASSIGN_SCHEDULE):
    """ASSIGN_SCHEDULE (ASSIGN_SDU) request (671 bytes): i32 channel 20, assign-all 24,
    schedule 25, capacity 425, barcode 429, MV_UD1..16 573, 32 reserved 637.

    Capacity, barcode and the MV_UD initial values only take effect on MITS Pro 7 (the DLL
    fills only MV_UD1..4; all 16 are carried here).
    """

    channel_index: int = wire(I32)  # 20
    assign_all: bool = wire(FLAG, default=False)  # 24
    schedule: str = wire(Wide(200), default="")  # 25
    capacity_ah: float = wire(F32, default=0.0)  # 425
    barcode: str = wire(Wide(72), default="")  # 429
    mv_ud: tuple[float, ...] = wire(F32Array(16), default=_mv_tuple(), pad_after=32)  # 573


@dataclass(slots=True)
class AssignScheduleFeedback(ResultFeedback, code=CommandCode.ASSIGN_SCHEDULE_FEEDBACK):
    RESULTS: ClassVar[type[ResultCode]] = AssignResult


@dataclass(slots=True)
class StartRequest(Request, code=CommandCode.START):
    """START request (170 + 2N bytes): test name 20 (72 wchar_t), u32 N at 164, N u16 channel
    indexes at 168. Confirmed by the capture and ArbinCTI.dll."""

    test_name: str = wire(Wide(72))  # 20
    channel_indexes: tuple[int, ...] = tail(_CHANNEL_LIST, default=())  # 164


@dataclass(slots=True)
class StartFeedback(ResultFeedback, code=CommandCode.START_FEEDBACK):
    """Feedback of START and of START_EX."""

    RESULTS: ClassVar[type[ResultCode]] = StartResult


@dataclass(slots=True)
class StartVlsRequest(Request, code=CommandCode.START_VLS):
    """SCHEDULE_START_VLS request (30 + 2T + 2N bytes): u32 T (test-name length in UTF-16 units)
    at 20, u32 N at 24, the test name at 28 (no length limit), then N u16 channel indexes."""

    _name_units: ClassVar[Count] = count(U32, "test_name", measure=wide_units("test_name"))  # 20
    _channel_count: ClassVar[Count] = count(U32, "channel_indexes")  # 24
    test_name: str = tail(WideCounted("_name_units", 1 << 30))  # 28
    channel_indexes: tuple[int, ...] = tail(Seq(U16, "_channel_count"), default=())


@dataclass(slots=True)
class StartVlsFeedback(ResultFeedback, code=CommandCode.START_VLS_FEEDBACK):
    """Feedback of SCHEDULE_START_VLS (R128)."""

    RESULTS: ClassVar[type[ResultCode]] = StartResult


@dataclass(slots=True)
class ContinueRequest(Request, code=CommandCode.CONTINUE):
    """CONTINUE request (26 + 2N bytes): u32 N, then N u16 channel indexes."""

    channel_indexes: tuple[int, ...] = tail(_CHANNEL_LIST, default=())  # 20


@dataclass(slots=True)
class ContinueFeedback(ResultFeedback, code=CommandCode.CONTINUE_FEEDBACK):
    RESULTS: ClassVar[type[ResultCode]] = ContinueResult


@dataclass(slots=True)
class ResumeRequest(Request, code=CommandCode.RESUME):
    """RESUME request (128 bytes): i32 channel at 20, resume-all flag at 24."""

    channel_index: int = wire(I32)
    resume_all: bool = wire(FLAG, default=False, pad_after=101)


@dataclass(slots=True)
class ResumeFeedback(ResultFeedback, code=CommandCode.RESUME_FEEDBACK):
    """Feedback of RESUME and of RESUME_EX."""

    RESULTS: ClassVar[type[ResultCode]] = ResumeResult


@dataclass(slots=True)
class StopRequest(Request, code=CommandCode.STOP):
    """STOP request (128 bytes): u32 channel at 20, stop-all flag at 24."""

    channel_index: int = wire(U32)
    stop_all: bool = wire(FLAG, default=False, pad_after=101)


@dataclass(slots=True)
class StopFeedback(ResultFeedback, code=CommandCode.STOP_FEEDBACK):
    RESULTS: ClassVar[type[ResultCode]] = StopResult


@dataclass(slots=True)
class JumpRequest(Request, code=CommandCode.JUMP):
    """JUMP request (131 bytes): i32 step at 20, i32 channel at 24, 101 reserved.

    Both are 0-based on the wire (ArbinCTI.dll logs step + 1); the value is sent as given.
    """

    step: int = wire(I32)
    channel_index: int = wire(I32, pad_after=101)


@dataclass(slots=True)
class JumpFeedback(ResultFeedback, code=CommandCode.JUMP_FEEDBACK):
    RESULTS: ClassVar[type[ResultCode]] = JumpResult


@dataclass(slots=True)
class GetSerialNumberRequest(Request, code=CommandCode.GET_SERIAL_NUMBER):
    """GET_SERIAL request (128 bytes); both fields are unused and zero."""

    unused_serial: int = wire(U32, default=0)
    unused_result: int = wire(U8, default=0, pad_after=101)


@dataclass(slots=True)
class GetSerialNumberFeedback(_ResultMixin, Feedback, code=CommandCode.GET_SERIAL_NUMBER_FEEDBACK):
    """GET_SERIAL feedback (128 bytes): serial number at 20 (the only field ArbinCTI.dll
    reads), result at 24 (0 ok, 0x10 error)."""

    RESULTS: ClassVar[type[ResultCode]] = SerialResult

    serial_number: int = wire(U32, default=0)
    result: int = wire(U8, default=SerialResult.SUCCESS, pad_after=101)


# --------------------------------------------------------------------------------------------
# Start/resume data, START_EX / RESUME_EX and their VLS and MV-list variants


@dataclass(slots=True)
class ResumeData(WireStruct):
    """THIRD_PARTY_RESUME_DATA (244 bytes), the counters a legacy Ex record carries: cycle 0,
    eighteen f64 from 4 (test time, step time, capacities, energies, TC timers 1-4, TC
    capacities and energies 1-2), MV counters 1-4 (f32) 148, charge/discharge capacity time
    164/172, MV_UD1..16 (f32) 180."""

    cycle: int = wire(U32, default=0)
    test_time_s: float = wire(F64, default=0.0)
    step_time_s: float = wire(F64, default=0.0)
    charge_capacity_ah: float = wire(F64, default=0.0)
    discharge_capacity_ah: float = wire(F64, default=0.0)
    charge_energy_wh: float = wire(F64, default=0.0)
    discharge_energy_wh: float = wire(F64, default=0.0)
    tc_time_s: tuple[float, ...] = wire(F64Array(4), default=(0.0,) * 4)
    tc_charge_capacity_ah: tuple[float, ...] = wire(F64Array(2), default=(0.0,) * 2)
    tc_discharge_capacity_ah: tuple[float, ...] = wire(F64Array(2), default=(0.0,) * 2)
    tc_charge_energy_wh: tuple[float, ...] = wire(F64Array(2), default=(0.0,) * 2)
    tc_discharge_energy_wh: tuple[float, ...] = wire(F64Array(2), default=(0.0,) * 2)
    mv_counters: tuple[float, ...] = wire(F32Array(4), default=(0.0,) * 4)
    charge_capacity_time_s: float = wire(F64, default=0.0)
    discharge_capacity_time_s: float = wire(F64, default=0.0)
    mv_ud: tuple[float, ...] = wire(F32Array(16), default=_mv_tuple())

    @classmethod
    def size(cls) -> int:
        return cls.LAYOUT.size


_RESUME_DATA = Nested(ResumeData)


@dataclass(slots=True)
class StartExEntry(WireStruct):
    """THIRD_PARTY_CHANNEL_START_DATA_EX (1052 bytes): channel 0, test name 4, schedule 148,
    creator 548, comment 676, select step 804, resume data 808. (ArbinCTI.dll gives every
    record the first one's test name.)"""

    channel_index: int = wire(U32)
    test_name: str = wire(Wide(72), default="")
    schedule: str = wire(Wide(200), default="")
    creator: str = wire(Wide(64), default="")
    comment: str = wire(Wide(64), default="")
    select_step: int = wire(U32, default=0)
    resume_data: ResumeData = wire(_RESUME_DATA, default_factory=ResumeData)


@dataclass(slots=True)
class StartExRequest(Request, code=CommandCode.START_EX):
    """START_EX request (26 + 1052N bytes): u32 N, N :class:`StartExEntry`; answered by
    :class:`StartFeedback`."""

    entries: tuple[StartExEntry, ...] = tail(Seq(StartExEntry, U32), default=())


@dataclass(slots=True)
class ResumeExEntry(WireStruct):
    """THIRD_PARTY_CHANNEL_RESUME_DATA_EX (796 bytes): channel 0, test name 4, schedule 148,
    select step 548, resume data 552."""

    channel_index: int = wire(U32)
    test_name: str = wire(Wide(72), default="")
    schedule: str = wire(Wide(200), default="")
    select_step: int = wire(U32, default=0)
    resume_data: ResumeData = wire(_RESUME_DATA, default_factory=ResumeData)


@dataclass(slots=True)
class ResumeExRequest(Request, code=CommandCode.RESUME_EX):
    """RESUME_EX request (26 + 796N bytes, marked obsolete in the DLL); answered by
    :class:`ResumeFeedback`."""

    entries: tuple[ResumeExEntry, ...] = tail(Seq(ResumeExEntry, U32), default=())


@dataclass(slots=True)
class GetStartDataRequest(Request, code=CommandCode.GET_START_DATA):
    """GET_START_DATA request (26 + 2N bytes): u32 N, N u16 channel indexes."""

    channel_indexes: tuple[int, ...] = tail(_CHANNEL_LIST, default=())


_STRING = ThirdPartyString()


@dataclass(slots=True)
class StartDataRecord(WireStruct):
    """THIRD_PARTY_CHANNEL_START_DATA_DESC (480 fixed bytes): channel 0, channel code 4, test
    name count T 8, step count S 12, schedule 16, MV_UD1..16 416; then T test names and S step
    labels, each a THIRD_PARTY_STRING (u32 length, the characters, a NUL not counted).

    ``channel_code``: 34 test-name query failed, 35 test name empty, 36 resume table read failed.
    """

    channel_index: int = wire(U32)  # 0
    channel_code: int = wire(U32, default=0)  # 4
    _test_name_count: ClassVar[Count] = count(U32, "test_names")  # 8
    _step_count: ClassVar[Count] = count(U32, "steps")  # 12
    schedule: str = wire(Wide(200), default="")  # 16
    mv_ud: tuple[float, ...] = wire(F32Array(16), default=_mv_tuple())  # 416
    test_names: tuple[str, ...] = tail(Seq(_STRING, "_test_name_count"), default=())  # 480
    steps: tuple[str, ...] = tail(Seq(_STRING, "_step_count"), default=())


@dataclass(slots=True)
class GetStartDataFeedback(Feedback, code=CommandCode.GET_START_DATA_FEEDBACK):
    """GET_START_DATA feedback: u32 N, then N :class:`StartDataRecord`."""

    records: tuple[StartDataRecord, ...] = tail(Seq(StartDataRecord, U32), default=())


@dataclass(slots=True)
class GetResumeDataRequest(Request, code=CommandCode.GET_RESUME_DATA):
    """GET_RESUME_DATA request (26 + 2N bytes): u32 N, N u16 channel indexes."""

    channel_indexes: tuple[int, ...] = tail(_CHANNEL_LIST, default=())


@dataclass(slots=True)
class GetResumeDataByMvRequest(Request, code=CommandCode.GET_RESUME_DATA_BY_MV):
    """GET_RESUME_DATA_BY_MV request (MitsX_1/2/SPTT; 26 + 2N bytes): u32 N, N u16 channels."""

    channel_indexes: tuple[int, ...] = tail(_CHANNEL_LIST, default=())


@dataclass(slots=True)
class GetResumeDataVlsRequest(Request, code=CommandCode.GET_RESUME_DATA_VLS):
    """GET_RESUME_DATA_VLS request (VLS servers; 26 + 2N bytes): u32 N, N u16 channels."""

    channel_indexes: tuple[int, ...] = tail(_CHANNEL_LIST, default=())


@dataclass(slots=True)
class ResumeDataRecord(WireStruct):
    """THIRD_PARTY_CHANNEL_RESUME_DATA_DESC (1184 fixed bytes): channel 0, channel code 4,
    step count S 8, test name 12, schedule 156, creator 556, comment 684, start time 812,
    resume data 940; then S step labels (THIRD_PARTY_STRING)."""

    channel_index: int = wire(U32)  # 0
    channel_code: int = wire(U32, default=0)  # 4
    _step_count: ClassVar[Count] = count(U32, "steps")  # 8
    test_name: str = wire(Wide(72), default="")  # 12
    schedule: str = wire(Wide(200), default="")  # 156
    creator: str = wire(Wide(64), default="")  # 556
    comment: str = wire(Wide(64), default="")  # 684
    start_time: str = wire(Wide(64), default="")  # 812
    resume_data: ResumeData = wire(_RESUME_DATA, default_factory=ResumeData)  # 940
    steps: tuple[str, ...] = tail(Seq(_STRING, "_step_count"), default=())  # 1184


@dataclass(slots=True)
class GetResumeDataFeedback(Feedback, code=CommandCode.GET_RESUME_DATA_FEEDBACK):
    """GET_RESUME_DATA feedback: u32 N, then N :class:`ResumeDataRecord`."""

    records: tuple[ResumeDataRecord, ...] = tail(Seq(ResumeDataRecord, U32), default=())


@dataclass(slots=True)
class DwordItem(WireStruct):
    """MV-list DWORD item (16 bytes): i32 meta code, u32 value, i32 value, f32 value.

    ArbinCTI.dll writes cycle/step (codes 2/1) into the i32 slot but reads the u32 slot (open
    question 5): fill both with the same integer; readers should take ``value_u32``.
    """

    meta_code: int = wire(I32)
    value_u32: int = wire(U32, default=0)
    value_i32: int = wire(I32, default=0)
    value_f32: float = wire(F32, default=0.0)


@dataclass(slots=True)
class QwordItem(WireStruct):
    """MV-list QWORD item (28 bytes): i32 meta code, i64 value, u64 value, f64 value."""

    meta_code: int = wire(I32)
    value_i64: int = wire(I64, default=0)
    value_u64: int = wire(U64, default=0)
    value_f64: float = wire(F64, default=0.0)


@dataclass(slots=True)
class ResumeByMvRecord(WireStruct):
    """A GET_RESUME_DATA_BY_MV record (996 fixed bytes + MV list + steps): channel 0, code 4,
    step count 8, test id 12, 16 reserved, test name 32, schedule 176, creator 576, comment
    704, start time 832, 32 reserved, u16 DWORD count 992, u16 QWORD count 994, the items
    from 996, then the step labels."""

    channel_index: int = wire(U32)  # 0
    channel_code: int = wire(U32, default=0)  # 4
    _step_count: ClassVar[Count] = count(U32, "steps")  # 8
    test_id: int = wire(I32, default=0, pad_after=16)  # 12
    test_name: str = wire(Wide(72), default="")  # 32
    schedule: str = wire(Wide(200), default="")  # 176
    creator: str = wire(Wide(64), default="")  # 576
    comment: str = wire(Wide(64), default="")  # 704
    start_time: str = wire(Wide(64), default="", pad_after=32)  # 832
    _dword_count: ClassVar[Count] = count(U16, "dwords")  # 992
    _qword_count: ClassVar[Count] = count(U16, "qwords")  # 994
    dwords: tuple[DwordItem, ...] = tail(Seq(DwordItem, "_dword_count"), default=())  # 996
    qwords: tuple[QwordItem, ...] = tail(Seq(QwordItem, "_qword_count"), default=())
    steps: tuple[str, ...] = tail(Seq(_STRING, "_step_count"), default=())


@dataclass(slots=True)
class GetResumeDataByMvFeedback(Feedback, code=CommandCode.GET_RESUME_DATA_BY_MV_FEEDBACK):
    """GET_RESUME_DATA_BY_MV feedback: u32 N, then N :class:`ResumeByMvRecord`."""

    records: tuple[ResumeByMvRecord, ...] = tail(Seq(ResumeByMvRecord, U32), default=())


@dataclass(slots=True)
class ResumeVlsRecord(WireStruct):
    """A GET_RESUME_DATA_VLS record (88 fixed bytes): channel 0, code 4, step count 8, test id
    12, 16 reserved, u32 lengths of test name / schedule / creator / comment / start time
    32-48, 32 reserved, u16 DWORD count 84, u16 QWORD count 86, items from 88; then the five
    strings (UTF-16, at their lengths), then the step labels."""

    channel_index: int = wire(U32)  # 0
    channel_code: int = wire(U32, default=0)  # 4
    _step_count: ClassVar[Count] = count(U32, "steps")  # 8
    test_id: int = wire(I32, default=0, pad_after=16)  # 12
    _test_name_units: ClassVar[Count] = count(U32, "test_name", measure=wide_units("test_name"))
    _schedule_units: ClassVar[Count] = count(U32, "schedule", measure=wide_units("schedule"))
    _creator_units: ClassVar[Count] = count(U32, "creator", measure=wide_units("creator"))
    _comment_units: ClassVar[Count] = count(U32, "comment", measure=wide_units("comment"))
    _start_time_units: ClassVar[Count] = count(
        U32, "start_time", measure=wide_units("start_time"), pad_after=32
    )
    _dword_count: ClassVar[Count] = count(U16, "dwords")  # 84
    _qword_count: ClassVar[Count] = count(U16, "qwords")  # 86
    dwords: tuple[DwordItem, ...] = tail(Seq(DwordItem, "_dword_count"), default=())  # 88
    qwords: tuple[QwordItem, ...] = tail(Seq(QwordItem, "_qword_count"), default=())
    test_name: str = tail(WideCounted("_test_name_units", 1 << 30), default="")
    schedule: str = tail(WideCounted("_schedule_units", 1 << 30), default="")
    creator: str = tail(WideCounted("_creator_units", 1 << 30), default="")
    comment: str = tail(WideCounted("_comment_units", 1 << 30), default="")
    start_time: str = tail(WideCounted("_start_time_units", 1 << 30), default="")
    steps: tuple[str, ...] = tail(Seq(_STRING, "_step_count"), default=())


@dataclass(slots=True)
class GetResumeDataVlsFeedback(Feedback, code=CommandCode.GET_RESUME_DATA_VLS_FEEDBACK):
    """GET_RESUME_DATA_VLS feedback: u32 N, then N :class:`ResumeVlsRecord`."""

    records: tuple[ResumeVlsRecord, ...] = tail(Seq(ResumeVlsRecord, U32), default=())


@dataclass(slots=True)
class VlsExEntry(WireStruct):
    """An entry of START_EX_VLS / RESUME_EX_VLS: channel 0, u32 T 4, u32 S 8, test id 12 (0 for
    START), 64 reserved, u16 DWORD count 80, u16 QWORD count 82, items from 84, then the test
    name and the schedule (UTF-16, at their lengths). The select step is MV code 1."""

    channel_index: int = wire(U32)  # 0
    _test_name_units: ClassVar[Count] = count(U32, "test_name", measure=wide_units("test_name"))
    _schedule_units: ClassVar[Count] = count(U32, "schedule", measure=wide_units("schedule"))
    test_id: int = wire(I32, default=0, pad_after=64)  # 12
    _dword_count: ClassVar[Count] = count(U16, "dwords")  # 80
    _qword_count: ClassVar[Count] = count(U16, "qwords")  # 82
    dwords: tuple[DwordItem, ...] = tail(Seq(DwordItem, "_dword_count"), default=())  # 84
    qwords: tuple[QwordItem, ...] = tail(Seq(QwordItem, "_qword_count"), default=())
    test_name: str = tail(WideCounted("_test_name_units", 1 << 30), default="")
    schedule: str = tail(WideCounted("_schedule_units", 200), default="")


@dataclass(slots=True)
class _VlsExRequest(Request):
    """u32 N at 20, u32 creator length 24, u32 comment length 28, creator and comment from 32
    (UTF-16, at most 64 units each), then N :class:`VlsExEntry`."""

    _entry_count: ClassVar[Count] = count(U32, "entries")  # 20
    _creator_units: ClassVar[Count] = count(U32, "creator", measure=wide_units("creator"))  # 24
    _comment_units: ClassVar[Count] = count(U32, "comment", measure=wide_units("comment"))  # 28
    creator: str = tail(WideCounted("_creator_units", 64), default="")  # 32
    comment: str = tail(WideCounted("_comment_units", 64), default="")
    entries: tuple[VlsExEntry, ...] = tail(Seq(VlsExEntry, "_entry_count"), default=())


@dataclass(slots=True)
class StartExVlsRequest(_VlsExRequest, code=CommandCode.START_EX_VLS):
    """START_EX_VLS request (VLS servers); answered by :class:`StartExVlsFeedback`."""


@dataclass(slots=True)
class StartExVlsFeedback(ResultFeedback, code=CommandCode.START_EX_VLS_FEEDBACK):
    RESULTS: ClassVar[type[ResultCode]] = StartResult


@dataclass(slots=True)
class ResumeExVlsRequest(_VlsExRequest, code=CommandCode.RESUME_EX_VLS):
    """RESUME_EX_VLS request (VLS servers; creator and comment always empty in the DLL);
    answered by :class:`ResumeExVlsFeedback`."""


@dataclass(slots=True)
class ResumeExVlsFeedback(ResultFeedback, code=CommandCode.RESUME_EX_VLS_FEEDBACK):
    RESULTS: ClassVar[type[ResultCode]] = ResumeResult


@dataclass(slots=True)
class ResumeByMvEntry(WireStruct):
    """A RESUME_BY_MV entry (620 fixed bytes + MV list): channel 0, test name 4, schedule 148,
    test id 548, 64 reserved, u16 DWORD count 616, u16 QWORD count 618, items from 620."""

    channel_index: int = wire(U32)  # 0
    test_name: str = wire(Wide(72), default="")  # 4
    schedule: str = wire(Wide(200), default="")  # 148
    test_id: int = wire(I32, default=0, pad_after=64)  # 548
    _dword_count: ClassVar[Count] = count(U16, "dwords")  # 616
    _qword_count: ClassVar[Count] = count(U16, "qwords")  # 618
    dwords: tuple[DwordItem, ...] = tail(Seq(DwordItem, "_dword_count"), default=())  # 620
    qwords: tuple[QwordItem, ...] = tail(Seq(QwordItem, "_qword_count"), default=())


@dataclass(slots=True)
class ResumeByMvRequest(Request, code=CommandCode.RESUME_BY_MV):
    """RESUME_BY_MV request (MitsX_1/2/SPTT): u32 N at 20, then N :class:`ResumeByMvEntry`."""

    entries: tuple[ResumeByMvEntry, ...] = tail(Seq(ResumeByMvEntry, U32), default=())


@dataclass(slots=True)
class ResumeByMvFeedback(ResultFeedback, code=CommandCode.RESUME_BY_MV_FEEDBACK):
    """RESUME_BY_MV_FEED 0xCD310006: declared R128-shaped in the DLL, which has no parser for
    it (open question 1). Decision: decoded as R128 with the RESUME result table; a client
    must also accept 0xBB130002 (:class:`ResumeFeedback`) as the answer."""

    RESULTS: ClassVar[type[ResultCode]] = ResumeResult


@dataclass(slots=True)
class StartAdvancedRequest(JsonRequest, code=CommandCode.START_ADVANCED):
    """SCHEDULE_START_ADVANCED request (MitsX_6..8): ``{"TaskID": i64, "Channels": [
    {ChannelIndex, TestName, ScheduleName, Barcode, TestObject {...}} ]}``."""


@dataclass(slots=True)
class StartAdvancedFeedback(JsonFeedback, code=CommandCode.START_ADVANCED_FEEDBACK):
    """SCHEDULE_START_ADVANCED feedback: ``TaskID, SuccessfulChannelIDs, FailedResults [
    {ChannelIndex, StartResult, Message}]``."""


# --------------------------------------------------------------------------------------------
# Meta variables


@dataclass(slots=True)
class SetMetaVariableRequest(Request, code=CommandCode.SET_META_VARIABLE):
    """SET_MV request (74 bytes): channel 20, MV type 24 (1), meta code 28, 16 reserved,
    value type 48 (1 = float), value 52 (f32), 16 reserved."""

    channel_index: int = wire(U32)
    mv_type: int = wire(I32, default=1)
    meta_code: int = wire(I32, default=MetaCode.MV_UD1, pad_after=16)
    value_type: int = wire(I32, default=1)
    value: float = wire(F32, default=0.0, pad_after=16)


@dataclass(slots=True)
class SetMetaVariableFeedback(ResultFeedback, code=CommandCode.SET_META_VARIABLE_FEEDBACK):
    RESULTS: ClassVar[type[ResultCode]] = SetMetaVariableResult


@dataclass(slots=True)
class MetaVariableEntry(WireStruct):
    """METAVARIABLE_DATA_CH_CODE (8 bytes): u16 channel, u16 meta code, f32 value."""

    channel_index: int = wire(U16)
    meta_code: int = wire(U16)
    value: float = wire(F32)


@dataclass(slots=True)
class UpdateMetaVariablesRequest(Request, code=CommandCode.UPDATE_META_VARIABLE_ADVANCED):
    """UPDATE_MV_ADVANCED request, as ArbinCTI.dll sends it (190 + 8M bytes): u16 entry count
    M at 20, 18 reserved, M 8-byte :class:`MetaVariableEntry` from 40, then 148 zero bytes.

    (v4.5's header, a u32 channel at 20 and entries at 42, is wrong.) Decoding accepts the 148
    zero bytes, fewer, or none (open question 2). The encoder keeps the DLL's cap of 160
    entries; MitsX_SPTT servers take more, which decoding accepts.
    """

    _entry_count: ClassVar[Count] = count(U16, "entries", pad_after=18)  # 20
    entries: tuple[MetaVariableEntry, ...] = tail(
        Seq(MetaVariableEntry, "_entry_count", max_items=MAX_MV_ENTRIES), default=()
    )  # 40
    reserved: int = zero_tail(148)


@dataclass(slots=True)
class UpdateMetaVariablesFeedback(
    ResultFeedback, code=CommandCode.UPDATE_META_VARIABLE_ADVANCED_FEEDBACK
):
    RESULTS: ClassVar[type[ResultCode]] = UpdateMetaVariableResult


@dataclass(slots=True)
class MetaVariableExEntry(WireStruct):
    """UPDATE_MV_ADVANCED_EX entry (12 bytes): u16 channel, u16 meta code, u8 data type
    (:class:`MvDataType`), u8 error (0 in requests, the result in feedbacks), 2 reserved,
    f32 value."""

    channel_index: int = wire(U16)
    meta_code: int = wire(U16)
    data_type: int = wire(U8, default=MvDataType.META_VALUE)
    error: int = wire(U8, default=0, pad_after=2)
    value: float = wire(F32, default=0.0)


@dataclass(slots=True)
class UpdateMetaVariablesExRequest(Request, code=CommandCode.UPDATE_META_VARIABLE_ADVANCED_EX):
    """UPDATE_MV_ADVANCED_EX request (42 + 12M bytes): u16 M at 20, 18 reserved, M
    :class:`MetaVariableExEntry` from 40. (ArbinCTI.dll caps M at 118 but for MitsX_SPTT.)"""

    _entry_count: ClassVar[Count] = count(U16, "entries", pad_after=18)  # 20
    entries: tuple[MetaVariableExEntry, ...] = tail(
        Seq(MetaVariableExEntry, "_entry_count"), default=()
    )  # 40


@dataclass(slots=True)
class UpdateMetaVariablesExFeedback(
    Feedback, code=CommandCode.UPDATE_META_VARIABLE_ADVANCED_EX_FEEDBACK
):
    """UPDATE_MV_ADVANCED_EX feedback: same shape; each entry's ``error`` is its result
    (:class:`UpdateMetaVariableResult`)."""

    RESULTS: ClassVar[type[ResultCode]] = UpdateMetaVariableResult

    _entry_count: ClassVar[Count] = count(U16, "entries", pad_after=18)  # 20
    entries: tuple[MetaVariableExEntry, ...] = tail(
        Seq(MetaVariableExEntry, "_entry_count"), default=()
    )  # 40


@dataclass(slots=True)
class MetaVariableQuery(WireStruct):
    """GET_MV entry (10 bytes): u16 channel, u8 error, u8 data type, u16 meta code, f32 value
    (0 in requests; the value read in feedbacks, ``error`` its :class:`GetMetaVariableResult`)."""

    channel_index: int = wire(U16)
    error: int = wire(U8, default=0)
    data_type: int = wire(U8, default=MvDataType.META_VALUE)
    meta_code: int = wire(U16, default=0)
    value: float = wire(F32, default=0.0)


#: The version word of GET_MV (0x0101) and of the MINIMALIST request (0x0201), which share
#: the code 0xBB150003.
GET_MV_VERSION = 0x0101
MINIMALIST_VERSION = 0x0201


@dataclass(slots=True)
class GetMetaVariablesRequest(Request, code=CommandCode.GET_META_VARIABLES):
    """GET_MV_VALUE request (190 + 10N bytes): u16 N at 20, u16 version at 22 (0x0101), 16
    reserved, N :class:`MetaVariableQuery` from 40, then 148 zero bytes (decoding accepts
    fewer or none).

    The MINIMALIST request uses the same code with version 0x0201 and two queries (current,
    voltage) per channel; :meth:`minimalist` builds it. A server tells them apart by the
    version word (open question 3) and answers 0xEEBC0002 / 0xBB510003.
    """

    _query_count: ClassVar[Count] = count(U16, "queries")  # 20
    version: int = wire(U16, default=GET_MV_VERSION, pad_after=16)  # 22
    queries: tuple[MetaVariableQuery, ...] = tail(
        Seq(MetaVariableQuery, "_query_count"), default=()
    )  # 40
    reserved: int = zero_tail(148)

    @property
    def is_minimalist(self) -> bool:
        return self.version == MINIMALIST_VERSION

    @classmethod
    def minimalist(cls, channel_index: int) -> GetMetaVariablesRequest:
        """The MINIMALIST request for one channel, as ArbinCTI.dll builds it (no queries for a
        negative channel)."""
        if channel_index < 0:
            return cls(version=MINIMALIST_VERSION)
        return cls(
            version=MINIMALIST_VERSION,
            queries=(
                MetaVariableQuery(channel_index, 0, MvDataType.META_VALUE, 22),
                MetaVariableQuery(channel_index, 0, MvDataType.META_VALUE, 21),
            ),
        )


@dataclass(slots=True)
class GetMetaVariablesFeedback(Feedback, code=CommandCode.GET_META_VARIABLES_FEEDBACK):
    """GET_MV_VALUE feedback (42 + 10N bytes): u16 N at 20, 18 reserved, N
    :class:`MetaVariableQuery` from 40 (``error`` per entry)."""

    RESULTS: ClassVar[type[ResultCode]] = GetMetaVariableResult

    _value_count: ClassVar[Count] = count(U16, "values", pad_after=18)  # 20
    values: tuple[MetaVariableQuery, ...] = tail(
        Seq(MetaVariableQuery, "_value_count"), default=()
    )  # 40


@dataclass(slots=True)
class MinimalistFeedback(Feedback, code=CommandCode.MINIMALIST_FEEDBACK):
    """MINIMALIST_MODE_INFO feedback 0xEEBC0002: the shape of GET_MV_VALUE's feedback; per
    channel, code 22 is the current and 21 the voltage (a non-zero error means 0)."""

    _value_count: ClassVar[Count] = count(U16, "values", pad_after=18)  # 20
    values: tuple[MetaVariableQuery, ...] = tail(
        Seq(MetaVariableQuery, "_value_count"), default=()
    )  # 40


@dataclass(slots=True)
class TimeSensitiveSlot(WireStruct):
    """One of the eight MV slots of a time-sensitive entry (8 bytes): f32 value, u16 meta code
    (MV_UD codes), u8 enable, u8 reserved."""

    value: float = wire(F32, default=0.0)
    meta_code: int = wire(U16, default=0)
    enable: bool = wire(FLAG, default=False, pad_after=1)


def _empty_slots() -> tuple[TimeSensitiveSlot, ...]:
    return tuple(TimeSensitiveSlot() for _ in range(8))


@dataclass(slots=True)
class TimeSensitiveEntry(WireStruct):
    """A TIME_SENSITIVE_SET_MV entry (68 bytes): u16 global channel 0, u8 flags 2 (bit 0: log
    to the database), u8 reserved, eight :class:`TimeSensitiveSlot` from 4."""

    channel_index: int = wire(U16)
    flags: int = wire(U8, default=1, pad_after=1)
    slots: tuple[TimeSensitiveSlot, ...] = wire(
        RecordArray(TimeSensitiveSlot, 8), default_factory=_empty_slots
    )


@dataclass(slots=True)
class TimeSensitiveSetMvRequest(Request, code=CommandCode.TIME_SENSITIVE_SET_MV):
    """POST_TIME_SENSITIVE_SET_MV request (MitsX_4..8; 42 + 68C bytes): u16 C at 20, 14
    reserved, f32 timeout at 36, C :class:`TimeSensitiveEntry` from 40. The feedback has the
    same code."""

    _entry_count: ClassVar[Count] = count(U16, "entries", pad_after=14)  # 20
    timeout_s: float = wire(F32, default=0.0)  # 36
    entries: tuple[TimeSensitiveEntry, ...] = tail(
        Seq(TimeSensitiveEntry, "_entry_count"), default=()
    )  # 40


@dataclass(slots=True)
class TimeSensitiveResultEntry(WireStruct):
    """A TIME_SENSITIVE_SET_MV feedback entry (80 bytes): u16 global index 0, i16 step 2,
    i16 sub-step 4, u8 control status 6, u8 result 7, f32 current 8, f32 voltage 12,
    MV_UD1..16 from 16."""

    channel_index: int = wire(U16)
    step_index: int = wire(I16, default=0)
    sub_step_index: int = wire(I16, default=0)
    status: int = wire(U8, default=0)
    result: int = wire(U8, default=0)
    current_a: float = wire(F32, default=0.0)
    voltage_v: float = wire(F32, default=0.0)
    mv_ud: tuple[float, ...] = wire(F32Array(16), default=_mv_tuple())


@dataclass(slots=True)
class TimeSensitiveSetMvFeedback(Feedback, code=CommandCode.TIME_SENSITIVE_SET_MV):
    """POST_TIME_SENSITIVE_SET_MV feedback (same code as the request): u16 count at 20, 18
    reserved, count :class:`TimeSensitiveResultEntry` from 40."""

    RESULTS: ClassVar[type[ResultCode]] = TimeSensitiveResult

    _entry_count: ClassVar[Count] = count(U16, "entries", pad_after=18)  # 20
    entries: tuple[TimeSensitiveResultEntry, ...] = tail(
        Seq(TimeSensitiveResultEntry, "_entry_count"), default=()
    )  # 40


@dataclass(slots=True)
class SpecialSetMvRequest(JsonRequest, code=CommandCode.SPECIAL_SET_MV):
    """SPECIAL_SET_MV request (MitsX_7/8, TY_Pro8_4): ``{"TaskID", "SettingSource" (0 fast
    charge, 1 chiller), "MetaVariableInfos": [{Enable, ChannelIndexInGlobal, MetaCode,
    SetValue, DataType, Error}]}``."""


@dataclass(slots=True)
class SpecialSetMvFeedback(JsonFeedback, code=CommandCode.SPECIAL_SET_MV_FEEDBACK):
    """SPECIAL_SET_MV feedback: the request's members; ``Error`` per entry uses the
    UPDATE_MV_ADVANCED result table."""


@dataclass(slots=True)
class UdpQuery(WireStruct):
    """APPLY_UDP_COMMUNICATION request entry (14 bytes): u16 global index, u8 0, u8 data type,
    u16 meta code, 3 reserved, u8 mode (0 read, 1 write and read), f32 0."""

    channel_index: int = wire(U16, pad_after=1)
    data_type: int = wire(U8, default=MvDataType.META_VALUE)
    meta_code: int = wire(U16, default=0, pad_after=3)
    mode: int = wire(U8, default=0)
    value: float = wire(F32, default=0.0)


@dataclass(slots=True)
class ApplyUdpRequest(Request, code=CommandCode.APPLY_UDP_COMMUNICATION):
    """APPLY_UDP_COMMUNICATION request (DM build; 382 + 14N bytes): u32 N 20, u16 client UDP
    port 24, client IPv4 26 (network order), 202 reserved, N :class:`UdpQuery` from 232, then
    148 zero bytes (decoding accepts fewer or none)."""

    _query_count: ClassVar[Count] = count(U32, "queries")  # 20
    udp_port: int = wire(U16, default=0)  # 24
    ip_address: bytes = wire(Bytes(4), default=b"\x00\x00\x00\x00", pad_after=202)  # 26
    queries: tuple[UdpQuery, ...] = tail(Seq(UdpQuery, "_query_count"), default=())  # 232
    reserved: int = zero_tail(148)


@dataclass(slots=True)
class UdpAnswer(WireStruct):
    """APPLY_UDP_COMMUNICATION feedback entry (16 bytes): u16 global index, u8 error, u8 data
    type, u16 meta code, u16 MCU UDP port, MCU IPv4, 3 reserved, u8 mode."""

    channel_index: int = wire(U16)
    error: int = wire(U8, default=0)
    data_type: int = wire(U8, default=MvDataType.META_VALUE)
    meta_code: int = wire(U16, default=0)
    udp_port: int = wire(U16, default=0)
    ip_address: bytes = wire(Bytes(4), default=b"\x00\x00\x00\x00", pad_after=3)
    mode: int = wire(U8, default=0)


@dataclass(slots=True)
class ApplyUdpFeedback(Feedback, code=CommandCode.APPLY_UDP_COMMUNICATION_FEEDBACK):
    """APPLY_UDP_COMMUNICATION feedback (DM; 34 + 16N bytes): u32 N 20, 8 reserved, N
    :class:`UdpAnswer` from 32 (``error`` as GET_MV's)."""

    RESULTS: ClassVar[type[ResultCode]] = GetMetaVariableResult

    _answer_count: ClassVar[Count] = count(U32, "answers", pad_after=8)  # 20
    answers: tuple[UdpAnswer, ...] = tail(Seq(UdpAnswer, "_answer_count"), default=())  # 32


# --------------------------------------------------------------------------------------------
# Files


@dataclass(slots=True)
class BrowseDirectoryRequest(Request, code=CommandCode.BROWSE_DIRECTORY):
    """BROWSE_DIRECTORY request (2070 bytes): path, 1024 wchar_t (Arbin's demos pass the
    keywords ``SCHEDULE`` and ``TEST OBJECT``)."""

    path: str = wire(Wide(1024))


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


def _browse_entries(get: Any) -> bool:
    return bool(get("result") != BrowseResult.SCHEDULE_V1_OK)


def _browse_schedule_files(get: Any) -> bool:
    return bool(get("result") == BrowseResult.SCHEDULE_V1_OK)


def _browse_count(obj: Any) -> int:
    chosen = obj.schedule_files if _browse_schedule_files(obj.__getattribute__) else obj.entries
    return len(_check_tuple(type(obj).__name__, "entries", chosen))


def _check_tuple(owner: str, name: str, value: Any) -> Any:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise EncodeError(f"{owner}.{name} must be a sequence")
    return value


@dataclass(slots=True)
class BrowseDirectoryFeedback(Feedback, code=CommandCode.BROWSE_DIRECTORY_FEEDBACK):
    """BROWSE_DIRECTORY feedback: u32 result at 20, u32 n at 24, n entries from 28.

    Results (ArbinCTI.dll): 1 directory and 2 schedules (obsolete) carry n 200-byte
    :class:`DirEntry`; 3 carries n 440-byte schedule file names (``schedule_files``, relative
    names of 220 wchar_t); 4 is a failure. 1, 2 and 3 are successes.
    """

    RESULTS: ClassVar[type[ResultCode]] = BrowseResult
    SUCCESS_CODES: ClassVar[frozenset[int]] = frozenset({1, 2, 3})

    result: int = wire(U32, default=BrowseResult.DIRECTORY_OK)  # 20
    _entry_count: ClassVar[Count] = count(U32, "entries", measure=_browse_count)  # 24
    entries: tuple[DirEntry, ...] = tail(
        When(Seq(DirEntry, "_entry_count"), _browse_entries, ()), default=()
    )  # 28
    schedule_files: tuple[str, ...] = tail(
        When(Seq(Wide(220), "_entry_count"), _browse_schedule_files, ()), default=()
    )  # 28

    @property
    def ok(self) -> bool:
        return self.result in self.SUCCESS_CODES

    @property
    def meaning(self) -> str:
        return BrowseResult.describe(self.result)

    @property
    def listing(self) -> tuple[DirEntry, ...]:
        """Every entry as a :class:`DirEntry`, whichever form the server chose: result 3's
        schedule names become file entries (size 0, no modification time)."""
        if self.result == BrowseResult.SCHEDULE_V1_OK:
            return tuple(DirEntry(kind=1, name=name) for name in self.schedule_files)
        return self.entries


@dataclass(slots=True)
class DownloadFileRequest(Request, code=CommandCode.DOWNLOAD_FILE):
    """DOWNLOAD_FILE request (2078 bytes): path (1024 wchar_t), f64 time at 2068 (an id)."""

    path: str = wire(Wide(1024))
    download_time: float = wire(F64, default=0.0)


@dataclass(slots=True)
class DownloadFileFeedback(_ResultMixin, Feedback, code=CommandCode.DOWNLOAD_FILE_FEEDBACK):
    """DOWNLOAD_FILE feedback (66 + F bytes), one per chunk: result 20, time 24, chunk count
    32, chunk index 36, MD5 of the chunk 40, u64 F 56, F bytes of data from 64.
    Result: 1 success, 2 failed, 3 MD5 error, 4 chunk too large."""

    RESULTS: ClassVar[type[ResultCode]] = FileTransferResult
    SUCCESS_CODES: ClassVar[frozenset[int]] = frozenset({FileTransferResult.SUCCESS})

    result: int = wire(U32, default=FileTransferResult.SUCCESS)
    download_time: float = wire(STAMP, default=0.0)
    package_count: int = wire(U32, default=1)
    package_index: int = wire(U32, default=0)
    md5: bytes = wire(Bytes(16), default=b"\x00" * 16)
    data: bytes = tail(Blob(U64), default=b"")


@dataclass(slots=True)
class UploadFileRequest(Request, code=CommandCode.UPLOAD_FILE):
    """UPLOAD_FILE request (2110 + F bytes), one per chunk: path 20, u64 F 2068, chunk count
    2076, chunk index 2080 (0-based), f64 time 2084 (an id), MD5 of the chunk 2092, F bytes
    of data from 2108 (at most 30 MiB, as ArbinCTI.dll)."""

    path: str = wire(Wide(1024))  # 20
    _data_length: ClassVar[Count] = count(U64, "data")  # 2068
    package_count: int = wire(U32, default=1)  # 2076
    package_index: int = wire(U32, default=0)  # 2080
    upload_time: float = wire(F64, default=0.0)  # 2084
    md5: bytes = wire(Bytes(16), default=b"\x00" * 16)  # 2092
    data: bytes = tail(Blob("_data_length", limit=MAX_FILE_CHUNK), default=b"")  # 2108


@dataclass(slots=True)
class UploadFileFeedback(_ResultMixin, Feedback, code=CommandCode.UPLOAD_FILE_FEEDBACK):
    """UPLOAD_FILE feedback (42 bytes), as ArbinCTI.dll reads it (and v1.1 has it): f64 time
    at 20, chunk count 28, chunk index 32, result 36. (v4.5's order, result first, is wrong.)
    Result: 1 success, 2 failed, 3 MD5 error, 4 a test is running."""

    RESULTS: ClassVar[type[ResultCode]] = FileTransferResult
    SUCCESS_CODES: ClassVar[frozenset[int]] = frozenset({FileTransferResult.SUCCESS})

    upload_time: float = wire(STAMP, default=0.0)  # 20
    package_count: int = wire(U32, default=1)  # 28
    package_index: int = wire(U32, default=0)  # 32
    result: int = wire(U32, default=FileTransferResult.SUCCESS)  # 36


@dataclass(slots=True)
class _FileResultFeedback(_ResultMixin, Feedback):
    """The feedback of NEW_OR_DELETE, NEW_FOLDER and DELETE_FOLDER (26 bytes): u32 result
    (:class:`FileResult`) at 20."""

    RESULTS: ClassVar[type[ResultCode]] = FileResult
    SUCCESS_CODES: ClassVar[frozenset[int]] = frozenset({FileResult.NEW_OK, FileResult.DELETE_OK})

    result: int = wire(U32, default=FileResult.NEW_OK)


@dataclass(slots=True)
class _PathRequest(Request):
    """The request of NEW_FOLDER and DELETE_FOLDER (2070 bytes): path (1024 wchar_t) at 20."""

    path: str = wire(Wide(1024))


@dataclass(slots=True)
class NewOrDeleteRequest(Request, code=CommandCode.NEW_OR_DELETE):
    """NEW_OR_DELETE request (2074 bytes): u32 type (0 delete, 1 create folder), path."""

    kind: int = wire(U32)
    path: str = wire(Wide(1024))


@dataclass(slots=True)
class NewOrDeleteFeedback(_FileResultFeedback, code=CommandCode.NEW_OR_DELETE_FEEDBACK):
    """NEW_OR_DELETE feedback."""


@dataclass(slots=True)
class NewFolderRequest(_PathRequest, code=CommandCode.NEW_FOLDER):
    """NEW_FOLDER request: the path of the folder to create."""


@dataclass(slots=True)
class NewFolderFeedback(_FileResultFeedback, code=CommandCode.NEW_FOLDER_FEEDBACK):
    """NEW_FOLDER feedback."""


@dataclass(slots=True)
class DeleteFolderRequest(_PathRequest, code=CommandCode.DELETE_FOLDER):
    """DELETE_FOLDER request: the path of the file or folder to delete."""


@dataclass(slots=True)
class DeleteFolderFeedback(_FileResultFeedback, code=CommandCode.DELETE_FOLDER_FEEDBACK):
    """DELETE_FOLDER feedback (its default result is DELETE_OK)."""

    result: int = wire(U32, default=FileResult.DELETE_OK)


@dataclass(slots=True)
class CheckFileRequest(Request, code=CommandCode.CHECK_FILE):
    """CHECK_FILE request (obsolete; 446 bytes): file name (200 wchar_t) at 20, 24 reserved."""

    file_name: str = wire(Wide(200), pad_after=24)


@dataclass(slots=True)
class CheckFileFeedback(_ResultMixin, Feedback, code=CommandCode.CHECK_FILE_FEEDBACK):
    """CHECK_FILE feedback (2607 bytes): u8 result 20 (0 exists, 1 does not), reason 21
    (256 wchar_t), file path 533 (1024 wchar_t), 24 reserved."""

    RESULTS: ClassVar[type[ResultCode]] = CheckFileResult

    result: int = wire(U8, default=CheckFileResult.EXISTS)
    reason: str = wire(Wide(256), default="")
    file_path: str = wire(Wide(1024), default="", pad_after=24)


@dataclass(slots=True)
class CheckFileExRequest(Request, code=CommandCode.CHECK_FILE_EX):
    """CHECK_FILE_EX request (846 bytes): directory part of the remote name 20, file name
    part 420 (200 wchar_t each), MD5 of the whole file 820, 8 reserved."""

    directory: str = wire(Wide(200))
    file_name: str = wire(Wide(200))
    md5: bytes = wire(Bytes(16), default=b"\x00" * 16, pad_after=8)


@dataclass(slots=True)
class CheckFileExFeedback(Feedback, code=CommandCode.CHECK_FILE_EX_FEEDBACK):
    """CHECK_FILE_EX feedback (2609 bytes): u8 path exists 20, u8 name exists 21, u8 MD5
    matches 22 (each true only if 1), reason 23, server file path 535, 24 reserved."""

    path_exists: int = wire(U8, default=0)
    name_exists: int = wire(U8, default=0)
    md5_matches: int = wire(U8, default=0)
    reason: str = wire(Wide(256), default="")
    file_path: str = wire(Wide(1024), default="", pad_after=24)


def _not_for_all(get: Any) -> bool:
    return not get("for_all")


def _for_all_is_zero(get: Any) -> bool:
    return bool(get("for_all") == 0)


@dataclass(slots=True)
class AssignFileRequest(Request, code=CommandCode.ASSIGN_FILE):
    """ASSIGN_FILE request (434 + 2N bytes): i32 N 20, file name 24 (200 wchar_t), u8 for-all
    424, u8 file kind 425 (:class:`FileKind`), 6 reserved, then (only if not for-all) N u16
    channel indexes from 432. ArbinCTI.dll writes the caller's list length even for all; we
    require an empty list then (nothing is sent that would not be read back)."""

    _channel_count: ClassVar[Count] = count(I32, "channel_indexes")  # 20
    file_name: str = wire(Wide(200))  # 24
    for_all: bool = wire(FLAG, default=False)  # 424
    file_kind: int = wire(U8, default=FileKind.SCHEDULE, pad_after=6)  # 425
    channel_indexes: tuple[int, ...] = tail(
        When(Seq(U16, "_channel_count"), _not_for_all, ()), default=()
    )  # 432


@dataclass(slots=True)
class ChannelResult(WireStruct):
    """A per-channel result (5 bytes): i32 channel, u8 result."""

    channel_index: int = wire(I32)
    result: int = wire(U8, default=0)


@dataclass(slots=True)
class AssignFileFeedback(Feedback, code=CommandCode.ASSIGN_FILE_FEEDBACK):
    """ASSIGN_FILE feedback (546 + 5N bytes): i32 N 20, reason 24 (256 wchar_t), 8 reserved,
    N :class:`ChannelResult` from 544 (:class:`AssignFileResult`)."""

    RESULTS: ClassVar[type[ResultCode]] = AssignFileResult

    _result_count: ClassVar[Count] = count(I32, "results")  # 20
    reason: str = wire(Wide(256), default="", pad_after=8)  # 24
    results: tuple[ChannelResult, ...] = tail(
        Seq(ChannelResult, "_result_count"), default=()
    )  # 544


# --------------------------------------------------------------------------------------------
# Test objects, barcodes, system


@dataclass(slots=True)
class ParameterValue(WireStruct):
    """An UPDATE_PARAMETERS entry (10 bytes): u16 parameter (:class:`ParameterCode`), f64."""

    parameter: int = wire(U16)
    value: float = wire(F64, default=0.0)


@dataclass(slots=True)
class UpdateParametersRequest(Request, code=CommandCode.UPDATE_PARAMETERS):
    """UPDATE_PARAMETERS request (155 + 10P + 4C bytes): i32 C 20 (0 for all), u8 for-all 24,
    i32 P 25, 124 reserved, P :class:`ParameterValue` from 153, then (only if not for-all) C
    i32 channel indexes."""

    _channel_count: ClassVar[Count] = count(I32, "channel_indexes")  # 20
    for_all: bool = wire(FLAG, default=False)  # 24
    _parameter_count: ClassVar[Count] = count(I32, "parameters", pad_after=124)  # 25
    parameters: tuple[ParameterValue, ...] = tail(
        Seq(ParameterValue, "_parameter_count"), default=()
    )  # 153
    channel_indexes: tuple[int, ...] = tail(
        When(Seq(I32, "_channel_count"), _not_for_all, ()), default=()
    )


@dataclass(slots=True)
class UpdateParametersFeedback(_ResultMixin, Feedback, code=CommandCode.UPDATE_PARAMETERS_FEEDBACK):
    """UPDATE_PARAMETERS feedback (546 + 5N bytes): i32 N 20, u8 result 24, u8 for-all 25,
    reason 26 (256 wchar_t), 8 reserved, then (only if for-all is 0) N :class:`ChannelResult`
    from 546."""

    RESULTS: ClassVar[type[ResultCode]] = UpdateParametersResult

    _result_count: ClassVar[Count] = count(I32, "results")  # 20
    result: int = wire(U8, default=0)  # 24
    for_all: int = wire(U8, default=0)  # 25
    reason: str = wire(Wide(256), default="", pad_after=8)  # 26
    results: tuple[ChannelResult, ...] = tail(
        When(Seq(ChannelResult, "_result_count"), _for_all_is_zero, ()), default=()
    )  # 546


@dataclass(slots=True)
class ConvertTestObjectRequest(Request, code=CommandCode.CONVERT_TEST_OBJECT):
    """CONVERT_TO_ANONYMOUS_OR_NAMED_TESTOBJECT request (35 + 2N bytes): i32 N 20, u8
    to-anonymous 24, u8 for-all 25, 7 reserved, then (only if not for-all) N u16 channels."""

    _channel_count: ClassVar[Count] = count(I32, "channel_indexes")  # 20
    to_anonymous: bool = wire(FLAG, default=False)  # 24
    for_all: bool = wire(FLAG, default=False, pad_after=7)  # 25
    channel_indexes: tuple[int, ...] = tail(
        When(Seq(U16, "_channel_count"), _not_for_all, ()), default=()
    )  # 33


@dataclass(slots=True)
class ConvertTestObjectFeedback(Feedback, code=CommandCode.CONVERT_TEST_OBJECT_FEEDBACK):
    """CONVERT_TO_ANONYMOUS_OR_NAMED_TESTOBJECT feedback (546 + 5N bytes): i32 N 20, reason
    24, 8 reserved, N :class:`ChannelResult` from 544 (:class:`ConvertTestObjectResult`)."""

    RESULTS: ClassVar[type[ResultCode]] = ConvertTestObjectResult

    _result_count: ClassVar[Count] = count(I32, "results")  # 20
    reason: str = wire(Wide(256), default="", pad_after=8)  # 24
    results: tuple[ChannelResult, ...] = tail(
        Seq(ChannelResult, "_result_count"), default=()
    )  # 544


@dataclass(slots=True)
class BarcodeEntry(WireStruct):
    """A barcode entry (154 + 2I bytes): u16 global index 0, u16 error 2 (0 in requests, the
    result in feedbacks), 4 reserved, barcode 8 (72 wchar_t), u16 I 152, I wchar_t of info."""

    channel_index: int = wire(U16)
    error: int = wire(U16, default=0, pad_after=4)
    barcode: str = wire(Wide(72), default="")
    _info_units: ClassVar[Count] = count(U16, "info", measure=wide_units("info"))
    info: str = tail(WideCounted("_info_units"), default="")


@dataclass(slots=True)
class _BarcodeList(Message):
    """u32 N 20, u16 channel type 24 (:class:`BarcodeChannelType`), 16 reserved, N
    :class:`BarcodeEntry` from 42."""

    _entry_count: ClassVar[Count] = count(U32, "entries")  # 20
    channel_type: int = wire(U16, default=BarcodeChannelType.IV, pad_after=16)  # 24
    entries: tuple[BarcodeEntry, ...] = tail(Seq(BarcodeEntry, "_entry_count"), default=())


@dataclass(slots=True)
class AssignBarcodeRequest(_BarcodeList, Request, code=CommandCode.ASSIGN_BARCODE):
    """ASSIGN_BARCODE_INFO request (44 + Σ(154 + 2I) bytes)."""


@dataclass(slots=True)
class AssignBarcodeFeedback(_BarcodeList, Feedback, code=CommandCode.ASSIGN_BARCODE_FEEDBACK):
    """ASSIGN_BARCODE_INFO feedback: the request's shape; ``error`` per entry is its result
    (:class:`AssignBarcodeResult`)."""

    RESULTS: ClassVar[type[ResultCode]] = AssignBarcodeResult


@dataclass(slots=True)
class BarcodeQuery(WireStruct):
    """A GET_BARCODE_INFO request entry (6 bytes): u16 global index, u32 0."""

    channel_index: int = wire(U16, pad_after=4)


@dataclass(slots=True)
class GetBarcodeRequest(Request, code=CommandCode.GET_BARCODE):
    """GET_BARCODE_INFO request (44 + 6N bytes): u32 N 20, u16 channel type 24, 16 reserved,
    N :class:`BarcodeQuery` from 42."""

    _query_count: ClassVar[Count] = count(U32, "queries")  # 20
    channel_type: int = wire(U16, default=BarcodeChannelType.IV, pad_after=16)  # 24
    queries: tuple[BarcodeQuery, ...] = tail(Seq(BarcodeQuery, "_query_count"), default=())


@dataclass(slots=True)
class GetBarcodeFeedback(_BarcodeList, Feedback, code=CommandCode.GET_BARCODE_FEEDBACK):
    """GET_BARCODE_INFO feedback: the assign request's shape; ``error`` per entry is its
    result (:class:`GetBarcodeResult`)."""

    RESULTS: ClassVar[type[ResultCode]] = GetBarcodeResult


@dataclass(slots=True)
class AssignBarcodeJsonRequest(JsonRequest, code=CommandCode.ASSIGN_BARCODE_JSON):
    """ASSIGN_BARCODE_INFO_JSON (MitsX_SPTT): ``{"BarcodeInfos": [{ChannelType, GlobalIndex,
    Barcode, Info, Error}]}``."""


@dataclass(slots=True)
class AssignBarcodeJsonFeedback(JsonFeedback, code=CommandCode.ASSIGN_BARCODE_JSON_FEEDBACK):
    """``{"BarcodeInfos": [...five members...], "ChannelType"}``."""


@dataclass(slots=True)
class GetBarcodeJsonRequest(JsonRequest, code=CommandCode.GET_BARCODE_JSON):
    """GET_BARCODE_INFO_JSON (MitsX_SPTT): ``{"BarcodeInfos": [{ChannelType, GlobalIndex}]}``."""


@dataclass(slots=True)
class GetBarcodeJsonFeedback(JsonFeedback, code=CommandCode.GET_BARCODE_JSON_FEEDBACK):
    """``{"BarcodeInfos": [...five members...], "ChannelType"}``."""


@dataclass(slots=True)
class GetMachineTypeRequest(Request, code=CommandCode.GET_MACHINE_TYPE):
    """GET_MACHINE_TYPE request (54 bytes): 32 reserved zero bytes."""

    TRAILING_PAD: ClassVar[int] = 32


@dataclass(slots=True)
class GetMachineTypeFeedback(_ResultMixin, Feedback, code=CommandCode.GET_MACHINE_TYPE_FEEDBACK):
    """GET_MACHINE_TYPE feedback (58 bytes): u32 machine type 20 (:class:`MachineType`),
    u16 error 24 (0 success, 0x10 error), 30 reserved."""

    RESULTS: ClassVar[type[ResultCode]] = MachineTypeResult

    machine_type: int = wire(U32, default=MachineType.IV)
    result: int = wire(U16, default=MachineTypeResult.SUCCESS, pad_after=30)


@dataclass(slots=True)
class GetTrayStatusRequest(JsonRequest, code=CommandCode.GET_TRAY_STATUS):
    """GET_TRAY_STATUS (MitsX_SPTT), JSON as in the TB/FA builds: ``{"TrayIndexList": [int]}``.
    The DM build's binary form of the same code is not declared (open question 6 in
    docs/protocol.md: one code cannot be decoded both ways)."""


@dataclass(slots=True)
class GetTrayStatusFeedback(JsonFeedback, code=CommandCode.GET_TRAY_STATUS_FEEDBACK):
    """``{"TrayStatusInfos": [{GlobalIndex, IsEngagementDown, IsEngagementUp,
    IsTrayInserted, Error, MetaValues: [{Value, AliasName, Error}]}]}``."""


@dataclass(slots=True)
class EngageTrayRequest(JsonRequest, code=CommandCode.ENGAGE_TRAY):
    """ENGAGE_TRAY (MitsX_SPTT), JSON: ``{"EngageTrays": [{GlobalIndex, Engage, Error}]}``."""


@dataclass(slots=True)
class EngageTrayFeedback(JsonFeedback, code=CommandCode.ENGAGE_TRAY_FEEDBACK):
    """``{"EngageTrayInfos": [{GlobalIndex, Engage, Error}]}``."""


@dataclass(slots=True)
class SetDataLogIntervalRequest(Request, code=CommandCode.SET_DATA_LOG_INTERVAL):
    """SET_INTERVALTIME_LOGDATA request (194 bytes): 20 reserved, f32 interval (s) at 40, then
    148 zero bytes (decoding accepts fewer or none)."""

    PAD_BEFORE: ClassVar[int] = 20

    interval_s: float = wire(F32)  # 40
    reserved: int = zero_tail(148)  # 44


@dataclass(slots=True)
class SetDataLogIntervalFeedback(
    _ResultMixin, Feedback, code=CommandCode.SET_DATA_LOG_INTERVAL_FEEDBACK
):
    """SET_INTERVALTIME_LOGDATA feedback (478 bytes): u8 result 20, 15 reserved, reason 36
    (220 wchar_t). The DLL's -2/-1 results can only arrive as 0xFE/0xFF (open question 9):
    declared so in :class:`DataLogIntervalResult`."""

    RESULTS: ClassVar[type[ResultCode]] = DataLogIntervalResult

    result: int = wire(U8, default=DataLogIntervalResult.SUCCESS, pad_after=15)
    reason: str = wire(Wide(220), default="")


@dataclass(slots=True)
class GetTChamberMappingRequest(Request, code=CommandCode.GET_TCHAMBER_MAPPING):
    """GET_GROUP_T_CHAMBER_MAPPING_INFO request (234 bytes): 64 reserved bytes, then 148 zero
    bytes (decoding accepts fewer or none)."""

    PAD_BEFORE: ClassVar[int] = 64

    reserved: int = zero_tail(148)


@dataclass(slots=True)
class TChamberGroup(WireStruct):
    """A T-chamber group (401 bytes): name (64 wchar_t), u16 C, 64 i32 channel slots (the
    first C are used, :attr:`channel_indexes`), 15 reserved."""

    name: str = wire(Wide(64), default="")
    channel_count: int = wire(U16, default=0)
    channel_slots: tuple[int, ...] = wire(I32Array(64), default=(0,) * 64, pad_after=15)

    @property
    def channel_indexes(self) -> tuple[int, ...]:
        return self.channel_slots[: self.channel_count]

    @classmethod
    def of(cls, name: str, channel_indexes: tuple[int, ...]) -> TChamberGroup:
        """A group with the given channels (at most 64; EncodeError otherwise)."""
        if len(channel_indexes) > 64:
            raise EncodeError(f"TChamberGroup holds 64 channels, not {len(channel_indexes)}")
        slots = tuple(channel_indexes) + (0,) * (64 - len(channel_indexes))
        return cls(name, len(channel_indexes), slots)


@dataclass(slots=True)
class GetTChamberMappingFeedback(Feedback, code=CommandCode.GET_TCHAMBER_MAPPING_FEEDBACK):
    """GET_GROUP_T_CHAMBER_MAPPING_INFO feedback (40 + 401G bytes): u16 G 20, 16 reserved,
    G :class:`TChamberGroup` from 38."""

    _group_count: ClassVar[Count] = count(U16, "groups", pad_after=16)  # 20
    groups: tuple[TChamberGroup, ...] = tail(Seq(TChamberGroup, "_group_count"), default=())


@dataclass(slots=True)
class GetStringLimitsRequest(Request, code=CommandCode.GET_STRING_LIMITS):
    """GET_STRING_LIMIT_LENGTH request (58 bytes): u32 string types 20 (the DLL always sends 1,
    the test name), 32 reserved."""

    string_types: int = wire(U32, default=1, pad_after=32)


@dataclass(slots=True)
class StringLimit(WireStruct):
    """A string limit (8 bytes): u32 string type (:class:`StringLimitType`), u32 limit."""

    string_type: int = wire(U32)
    limit: int = wire(U32, default=0)


@dataclass(slots=True)
class GetStringLimitsFeedback(Feedback, code=CommandCode.GET_STRING_LIMITS_FEEDBACK):
    """GET_STRING_LIMIT_LENGTH feedback (58 + 8N bytes): u32 N 20, 32 reserved, N
    :class:`StringLimit` from 56."""

    _limit_count: ClassVar[Count] = count(U32, "limits", pad_after=32)  # 20
    limits: tuple[StringLimit, ...] = tail(Seq(StringLimit, "_limit_count"), default=())


@dataclass(slots=True)
class GetServerSoftwareVersionRequest(Request, code=CommandCode.GET_SERVER_SOFTWARE_VERSION):
    """GET_SERVER_SOFTWARE_VERSION_NUMBER request (54 bytes): 32 reserved zero bytes. The
    feedback has the same code."""

    TRAILING_PAD: ClassVar[int] = 32


class _CountedText(Tail):
    """L bytes of 1-byte text, L from a hidden count; decoding stops at a NUL inside them (so
    an L that counts a NUL reads the same text, open question 10). We write no NUL."""

    __slots__ = ("count_name",)

    def __init__(self, count_name: str) -> None:
        self.count_name = count_name

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        return encode_ascii(owner, name, value, 1 << 20)

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        after = offset + ctx[self.count_name]
        if after > end:
            raise struct.error("text overruns the frame")
        return bytes(buffer[offset:after]).partition(b"\x00")[0].decode("latin-1"), after


def _text_length(obj: Any) -> int:
    return len(encode_ascii(type(obj).__name__, "version", obj.version, 1 << 20))


@dataclass(slots=True)
class GetServerSoftwareVersionFeedback(Feedback, code=CommandCode.GET_SERVER_SOFTWARE_VERSION):
    """GET_SERVER_SOFTWARE_VERSION_NUMBER feedback (58 + L bytes, same code as the request):
    u32 L 20, 32 reserved, L bytes of 1-byte text from 56."""

    _length: ClassVar[Count] = count(U32, "version", measure=_text_length, pad_after=32)  # 20
    version: str = tail(_CountedText("_length"), default="")  # 56


@dataclass(slots=True)
class GetMappingAuxRequest(JsonRequest, code=CommandCode.GET_MAPPING_AUX):
    """GET_MAPPING_AUX request (MitsX_8): ``{"TaskID"}``."""


@dataclass(slots=True)
class GetMappingAuxFeedback(JsonFeedback, code=CommandCode.GET_MAPPING_AUX_FEEDBACK):
    """``{"TaskID", "MappingInfos": [{ChannelIndex, AuxChannelInfos: [{AuxChannelType,
    AuxCount}]}]}`` (:class:`AuxChannelType`)."""


@dataclass(slots=True)
class ModifyScheduleRequest(JsonRequest, code=CommandCode.MODIFY_SCHEDULE):
    """MODIFY_SCHEDULE request (MitsX_8): ``{"TaskID", "ScheduleModifyInfos": [{ScheduleName,
    Aux...Requirement: {Enable, AuxCount[, SafetyScope{Low, High}]}, ...}]}``."""


@dataclass(slots=True)
class ModifyScheduleFeedback(JsonFeedback, code=CommandCode.MODIFY_SCHEDULE_FEEDBACK):
    """``{"TaskID", "ScheduleModifyInfos": [{ScheduleName, Result, Message}]}``
    (:class:`ModifyScheduleResult`)."""


@dataclass(slots=True)
class CustomCallbackRequest(Request, code=CommandCode.CUSTOM_CALLBACK):
    """CUSTOM_CALLBACK request (DM build only): a BSON document ``{Header: {Type, SN}, Data}``
    carried as raw bytes; its payload schemas were not extracted (open question 12)."""

    document: bytes = tail(Rest(), default=b"")


@dataclass(slots=True)
class CustomCallbackFeedback(Feedback, code=CommandCode.CUSTOM_CALLBACK_FEEDBACK):
    """CUSTOM_CALLBACK feedback (DM build only): the BSON document as raw bytes."""

    document: bytes = tail(Rest(), default=b"")


# --------------------------------------------------------------------------------------------
# Messages and calibration


@dataclass(slots=True)
class SendMessageRequest(Request, code=CommandCode.SEND_MESSAGE):
    """SEND_MSG_TO_CTI request (2070 bytes): text shown by the server, 1024 wchar_t
    (ArbinCTI.dll insists on the form ``[DateTime]<-->[RichText]``; not enforced here)."""

    text: str = wire(Wide(1024))


@dataclass(slots=True)
class SendMessageFeedback(_ResultMixin, Feedback, code=CommandCode.SEND_MESSAGE_FEEDBACK):
    """SEND_MSG_TO_CTI feedback (26 bytes): 1 success, 2 failed."""

    RESULTS: ClassVar[type[ResultCode]] = SendMessageResult
    SUCCESS_CODES: ClassVar[frozenset[int]] = frozenset({SendMessageResult.SUCCESS})

    result: int = wire(U32, default=SendMessageResult.SUCCESS)


@dataclass(slots=True)
class AutoCalibrationRequest(Request, code=CommandCode.AUTO_CALIBRATION_START):
    """AUTOCALI_START request (124 bytes): 102 reserved zero bytes."""

    TRAILING_PAD: ClassVar[int] = 102


@dataclass(slots=True)
class AutoCalibrationFeedback(
    _ResultMixin, Feedback, code=CommandCode.AUTO_CALIBRATION_START_FEEDBACK
):
    """AUTOCALI_START feedback (26 bytes): 1 success, 2 failed (ArbinCTI.dll and v4.5)."""

    RESULTS: ClassVar[type[ResultCode]] = AutoCalibrationResult
    SUCCESS_CODES: ClassVar[frozenset[int]] = frozenset({AutoCalibrationResult.SUCCESS})

    result: int = wire(U32, default=AutoCalibrationResult.SUCCESS)
