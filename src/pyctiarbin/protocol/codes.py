"""Command codes and the enumerations the CTI documents define.

Values come from Arbin's CTI documents (protocol v1.1, instructions v4.5 and the ArbinCTI 1.2
enums); where they disagree the choice is noted next to the value. Result codes carry their
documented meaning, so an error message can say what the cycler meant, and a failure that
callers branch on names the :class:`~pyctiarbin.errors.CommandRejected` subclass it raises.
"""

from __future__ import annotations

from enum import Enum, IntEnum, IntFlag
from typing import Any, ClassVar, TypeVar

from ..errors import (
    ChannelNotRunning,
    ChannelRunning,
    CommandRejected,
    MetaCodeNotFound,
    NoScheduleAssigned,
    NotAllowedToControl,
    ScheduleNotFound,
    TooFrequent,
    UnknownChannel,
)

__all__ = [
    "AssignBarcodeResult",
    "AssignFileResult",
    "AssignResult",
    "AutoCalibrationResult",
    "AuxChannelType",
    "AuxOptions",
    "BarcodeChannelType",
    "BrowseResult",
    "Capability",
    "ChannelSelection",
    "CheckFileResult",
    "CommandCode",
    "ConnectResult",
    "ContinueResult",
    "ConvertTestObjectResult",
    "DataLogIntervalResult",
    "FileKind",
    "FileResult",
    "FileTransferResult",
    "GetBarcodeResult",
    "GetMetaVariableResult",
    "JumpResult",
    "LoginResult",
    "MachineType",
    "MachineTypeResult",
    "MetaCode",
    "ModifyScheduleResult",
    "MvDataType",
    "ParameterCode",
    "ResultCode",
    "ResumeResult",
    "SendMessageResult",
    "SerialResult",
    "ServerVersion",
    "SetMetaVariableResult",
    "StartDataResult",
    "StartResult",
    "StatusCode",
    "StopResult",
    "StringLimitType",
    "TimeSensitiveResult",
    "TrayResult",
    "UpdateMetaVariableResult",
    "UpdateParametersResult",
    "meta_code_for",
]


_E = TypeVar("_E", bound=IntEnum)


def _undocumented(enum: type[_E], value: int, name: str) -> _E:
    """A pseudo-member of ``enum`` for a value the documents do not list, so that newer
    firmware decodes instead of failing."""
    member = int.__new__(enum, value)
    member._name_ = name
    member._value_ = value
    return member


class CommandCode(IntEnum):
    """``dwCmd`` values: requests and their feedbacks (the v4.5 code table)."""

    LOGIN = 0xEEAB0001
    LOGIN_FEEDBACK = 0xEEBA0001
    CONNECT = 0xEEAB0002
    CONNECT_FEEDBACK = 0xEEBA0002
    GET_CHANNELS_INFO = 0xEEAB0003
    GET_CHANNELS_INFO_FEEDBACK = 0xEEBA0003
    ASSIGN_SCHEDULE = 0xBB210001
    ASSIGN_SCHEDULE_FEEDBACK = 0xBB120001
    START = 0xBB320004
    START_FEEDBACK = 0xBB230004  # also answers START_EX
    GET_START_DATA = 0xCD130001
    GET_START_DATA_FEEDBACK = 0xCD310001
    START_EX = 0xCD130002
    CONTINUE = 0xBB320006
    CONTINUE_FEEDBACK = 0xBB230006
    RESUME = 0xBB310002
    RESUME_FEEDBACK = 0xBB130002  # also answers RESUME_EX
    RESUME_EX = 0xCD130004
    GET_RESUME_DATA = 0xCD130003
    GET_RESUME_DATA_FEEDBACK = 0xCD310003
    STOP = 0xBB310001
    STOP_FEEDBACK = 0xBB130001
    JUMP = 0xBB320005
    JUMP_FEEDBACK = 0xBB230005
    SET_META_VARIABLE = 0xBB150001
    SET_META_VARIABLE_FEEDBACK = 0xBB510001
    UPDATE_META_VARIABLE_ADVANCED = 0xBB150002
    UPDATE_META_VARIABLE_ADVANCED_FEEDBACK = 0xBB510002
    GET_SERIAL_NUMBER = 0xBB340001
    GET_SERIAL_NUMBER_FEEDBACK = 0xBB430001
    BROWSE_DIRECTORY = 0xCC130001
    BROWSE_DIRECTORY_FEEDBACK = 0xCC310001
    DOWNLOAD_FILE = 0xCC130002
    DOWNLOAD_FILE_FEEDBACK = 0xCC310002
    UPLOAD_FILE = 0xCC130003
    UPLOAD_FILE_FEEDBACK = 0xCC310003
    NEW_OR_DELETE = 0xCC130004
    NEW_OR_DELETE_FEEDBACK = 0xCC310004
    NEW_FOLDER = 0xCC130005
    NEW_FOLDER_FEEDBACK = 0xCC310005
    DELETE_FOLDER = 0xCC130006
    DELETE_FOLDER_FEEDBACK = 0xCC310006
    SEND_MESSAGE = 0xCD140002
    SEND_MESSAGE_FEEDBACK = 0xCD410002
    AUTO_CALIBRATION_START = 0xCD140001
    AUTO_CALIBRATION_START_FEEDBACK = 0xCD410001
    # Codes of ArbinCTI.dll (arbincti-dll-wire.md, section 3) beyond the v4.5 table.
    LOGIN_JSON = 0xEEAB0011
    LOGIN_JSON_FEEDBACK = 0xEEBA0011
    UNKNOWN_COMMAND_FEEDBACK = 0xBB111111
    GET_CHANNELS_INFO_VLS = 0xEEAB0004
    GET_CHANNELS_INFO_VLS_FEEDBACK = 0xEEBA0004
    GET_CHANNELS_INFO_JSON = 0xEEAB0033
    GET_CHANNELS_INFO_JSON_FEEDBACK = 0xEEBA0033
    GET_CHANNELS_INFO_SIMPLE = 0xEECB0001
    GET_CHANNELS_INFO_SIMPLE_FEEDBACK = 0xEEBC0001
    MINIMALIST_FEEDBACK = 0xEEBC0002  # answers GET_META_VARIABLES with version word 0x0201
    GET_CHANNELS_INFO_EX = 0xBB370001
    GET_CHANNELS_INFO_EX_FEEDBACK = 0xBB370002
    GET_CHANNELS_INFO_SPTT = 0xEEBA0031  # DM build only; a request code in the feedback range
    GET_CHANNELS_INFO_SPTT_FEEDBACK = 0xEEBA0013
    START_VLS = 0xBB320014
    START_VLS_FEEDBACK = 0xBB230014
    START_EX_VLS = 0xCD130012
    START_EX_VLS_FEEDBACK = 0xCD310012
    GET_RESUME_DATA_BY_MV = 0xCD130005
    GET_RESUME_DATA_BY_MV_FEEDBACK = 0xCD310005
    GET_RESUME_DATA_VLS = 0xCD130013
    GET_RESUME_DATA_VLS_FEEDBACK = 0xCD310013
    RESUME_EX_VLS = 0xCD130014
    RESUME_EX_VLS_FEEDBACK = 0xCD310014
    RESUME_BY_MV = 0xCD130006
    RESUME_BY_MV_FEEDBACK = 0xCD310006
    START_ADVANCED = 0xBB320114
    START_ADVANCED_FEEDBACK = 0xBB230114
    UPDATE_META_VARIABLE_ADVANCED_EX = 0xBB150004
    UPDATE_META_VARIABLE_ADVANCED_EX_FEEDBACK = 0xBB510004
    GET_META_VARIABLES = 0xBB150003  # also the MINIMALIST request (version word 0x0201)
    GET_META_VARIABLES_FEEDBACK = 0xBB510003
    TIME_SENSITIVE_SET_MV = 0xBBCC0201  # the same code both ways
    SPECIAL_SET_MV = 0xBB420114
    SPECIAL_SET_MV_FEEDBACK = 0xBB240114
    APPLY_UDP_COMMUNICATION = 0xBB610001  # DM build only
    APPLY_UDP_COMMUNICATION_FEEDBACK = 0xBB160001
    CHECK_FILE = 0xBB350003
    CHECK_FILE_FEEDBACK = 0xBB350004
    CHECK_FILE_EX = 0xBB350005
    CHECK_FILE_EX_FEEDBACK = 0xBB530005
    ASSIGN_FILE = 0xBB230001
    ASSIGN_FILE_FEEDBACK = 0xBB320001
    UPDATE_PARAMETERS = 0xBB780001
    UPDATE_PARAMETERS_FEEDBACK = 0xBB870002
    CONVERT_TEST_OBJECT = 0xBB360001
    CONVERT_TEST_OBJECT_FEEDBACK = 0xBB360002
    ASSIGN_BARCODE = 0xBB610007
    ASSIGN_BARCODE_FEEDBACK = 0xBB160007
    ASSIGN_BARCODE_JSON = 0xBB610017
    ASSIGN_BARCODE_JSON_FEEDBACK = 0xBB160017
    GET_BARCODE = 0xBB610008
    GET_BARCODE_FEEDBACK = 0xBB160008
    GET_BARCODE_JSON = 0xBB610018
    GET_BARCODE_JSON_FEEDBACK = 0xBB160018
    GET_MACHINE_TYPE = 0xBB6A0001
    GET_MACHINE_TYPE_FEEDBACK = 0xBBA60001
    GET_TRAY_STATUS = 0xBB6A0002
    GET_TRAY_STATUS_FEEDBACK = 0xBBA60002
    ENGAGE_TRAY = 0xBB6A0003
    ENGAGE_TRAY_FEEDBACK = 0xBBA60003
    SET_DATA_LOG_INTERVAL = 0xFFCA0001
    SET_DATA_LOG_INTERVAL_FEEDBACK = 0xFFAC0001
    GET_TCHAMBER_MAPPING = 0xFFCA0002
    GET_TCHAMBER_MAPPING_FEEDBACK = 0xFFAC0002
    GET_STRING_LIMITS = 0xBBCA0001
    GET_STRING_LIMITS_FEEDBACK = 0xBBAC0001
    GET_SERVER_SOFTWARE_VERSION = 0xBBCC0001  # the same code both ways
    GET_MAPPING_AUX = 0xBB520114
    GET_MAPPING_AUX_FEEDBACK = 0xBB250114
    MODIFY_SCHEDULE = 0xBB620114
    MODIFY_SCHEDULE_FEEDBACK = 0xBB260114
    CUSTOM_CALLBACK = 0x0BBCCD01  # DM build only (BSON)
    CUSTOM_CALLBACK_FEEDBACK = 0x0BBCCD02


class StatusCode(IntEnum):
    """Channel status (``Status``, i16, in every channel-info record).

    A code the documents do not list decodes to a pseudo-member named ``UNKNOWN_<code>``
    instead of failing, so newer firmware does not break status reads.
    """

    IDLE = 0x00
    TRANSITION = 0x01
    CHARGE = 0x02
    DISCHARGE = 0x03
    REST = 0x04
    WAIT = 0x05
    EXTERNAL_CHARGE = 0x06
    CALIBRATION = 0x07
    UNSAFE = 0x08
    PULSE = 0x09
    INTERNAL_RESISTANCE = 0x0A
    AC_IMPEDANCE = 0x0B
    ACI_CELL = 0x0C
    TEST_SETTINGS = 0x0D
    ERROR = 0x0E
    FINISHED = 0x0F
    VOLT_METER = 0x10
    WAITING_FOR_ACS = 0x11
    PAUSE = 0x12
    EMPTY = 0x13
    IDLE_FROM_MCU = 0x14
    START = 0x15
    RUNNING = 0x16
    STEP_TRANSFER = 0x17
    RESUME = 0x18
    GO_PAUSE = 0x19
    GO_STOP = 0x1A
    GO_NEXT_STEP = 0x1B
    ONLINE_UPDATE = 0x1C
    DAQ_MEMORY_UNSAFE = 0x1D
    ACR = 0x1E
    SUSPENDED = 0x1F  # CS_SUSPENT in ArbinCTI.dll

    @classmethod
    def _missing_(cls, value: object) -> StatusCode | None:
        if isinstance(value, int) and -0x8000 <= value <= 0x7FFF:
            return _undocumented(cls, value, f"UNKNOWN_{value}")
        return None

    @property
    def label(self) -> str:
        """The status as MITS shows it, e.g. ``"External Charge"``."""
        return _STATUS_LABELS.get(self._value_, self._name_)

    @property
    def is_running(self) -> bool:
        """True for the states in which a schedule is executing on the channel."""
        return self._value_ in _RUNNING_STATES


_STATUS_LABELS = {
    0x0A: "Internal Resistance",
    0x0B: "AC Impedance",
    0x0C: "ACI Cell",
    0x11: "Waiting for ACS",
    0x14: "Idle from MCU",
    0x1D: "DAQ Memory Unsafe",
    0x1E: "ACR",
}
for _member in StatusCode:
    _STATUS_LABELS.setdefault(_member.value, _member.name.replace("_", " ").title())

_RUNNING_STATES = frozenset(
    {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x09, 0x0A, 0x0B, 0x0C, 0x15, 0x16, 0x17, 0x18, 0x1B, 0x1E}
)


class ChannelSelection(IntEnum):
    """``InfoType``/``ChnSelection`` of GET_CHANNELS_INFO."""

    ALL = 1
    RUNNING = 2
    UNSAFE = 3


class AuxOptions(IntFlag):
    """``NeedTypeSet``/``AuxDataOptions`` bit flags of GET_CHANNELS_INFO."""

    NONE = 0x000
    BMS = 0x100
    SMB = 0x200
    AUX = 0x400
    EQ = 0x800  # ArbinCTI.dll (TB)
    CELL = 0x1000  # ArbinCTI.dll (TB)
    ALL = 0x700  # what Arbin's own applications send


class MetaCode(IntEnum):
    """``MV_MetaCode`` of the user meta variables MV_UD1..MV_UD16."""

    MV_UD1 = 52
    MV_UD2 = 53
    MV_UD3 = 54
    MV_UD4 = 55
    MV_UD5 = 105
    MV_UD6 = 106
    MV_UD7 = 107
    MV_UD8 = 108
    MV_UD9 = 109
    MV_UD10 = 110
    MV_UD11 = 111
    MV_UD12 = 112
    MV_UD13 = 113
    MV_UD14 = 114
    MV_UD15 = 115
    MV_UD16 = 116


def meta_code_for(variable: int | str | MetaCode) -> MetaCode:
    """Return the meta code for ``variable``: a :class:`MetaCode`, ``"MV_UD3"``, or ``3``.

    Raises ValueError when the variable is not one of MV_UD1..MV_UD16.
    """
    if isinstance(variable, MetaCode):
        return variable
    if isinstance(variable, str):
        try:
            return MetaCode[variable.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown meta variable {variable!r}; expected MV_UD1..MV_UD16"
            ) from None
    if isinstance(variable, int) and not isinstance(variable, bool) and 1 <= variable <= 16:
        return MetaCode[f"MV_UD{variable}"]
    raise ValueError(f"unknown meta variable {variable!r}; expected 1..16 or 'MV_UD1'..'MV_UD16'")


class ResultCode(IntEnum):
    """Base of the per-command result enums; each member has a documented ``meaning``.

    A member is declared ``NAME = code, meaning`` or, for a failure callers branch on,
    ``NAME = code, meaning, ExceptionClass``: the class :meth:`CommandRejected.for_code`
    builds for it (:attr:`rejection`). A table that answers a command names it,
    ``class StartResult(ResultCode, command="start")``; that name is the ``command`` of the
    errors it raises. :meth:`describe` also handles codes the documents do not list.
    """

    command: ClassVar[str | None]

    def __init_subclass__(cls, *, command: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.command = command

    def __new__(
        cls, value: int, meaning: str = "", rejection: type[CommandRejected] = CommandRejected
    ) -> Any:
        member = int.__new__(cls, value)
        member._value_ = value
        member._meaning = meaning  # type: ignore[attr-defined]
        member._rejection = rejection  # type: ignore[attr-defined]
        return member

    @property
    def meaning(self) -> str:
        """The documented meaning of this result."""
        meaning: str = self._meaning  # type: ignore[attr-defined]
        return meaning

    @property
    def rejection(self) -> type[CommandRejected]:
        """The exception class this result raises as a failure (:class:`CommandRejected`
        unless the member names a subclass)."""
        rejection: type[CommandRejected] = self._rejection  # type: ignore[attr-defined]
        return rejection

    @classmethod
    def describe(cls, code: int) -> str:
        """The documented meaning of ``code``, or a plain note that it is undocumented."""
        try:
            return str(cls(code).meaning)
        except ValueError:
            return f"undocumented result code {code}"


class LoginResult(ResultCode):
    SUCCESS = 1, "login succeeded"
    FAILED = 2, "login failed: wrong user name or password, or no CTI permission"
    ALREADY_LOGGED_IN = 3, "this user is already logged in"


class ConnectResult(ResultCode):
    ACCEPTED = 0, "connection accepted"
    REJECTED = 1, "connection rejected: the server is full"


class AssignResult(ResultCode, command="assign_schedule"):
    SUCCESS = 0x00, "schedule assigned"
    FAILED = 0x01, "assign failed"
    INDEX = 0x10, "channel does not exist", UnknownChannel
    ERROR = 0x11, "monitor window in use or CTI not allowed to control", NotAllowedToControl
    SCHEDULE_NAME_EMPTY = 0x12, "schedule name is empty"
    SCHEDULE_NOT_FOUND = 0x13, "schedule not found in the work directory", ScheduleNotFound
    CHANNEL_RUNNING = 0x14, "channel is running", ChannelRunning
    CHANNEL_DOWNLOADING = 0x15, "channel is downloading another schedule"
    BATCH_FILE_OPENED = 0x16, "a batch file is open"
    CANNOT_ASSIGN = 0x17, "the schedule could not be assigned"
    SAVE_FAILED = 0x18, "saving the assignment failed"
    UNSUPPORTED_FILE_TYPE = 0x19, "unsupported file type"
    NOT_ASSIGN_SCHEDULE = 0x1A, "file is not an assignable schedule"
    SCHEDULE_NOT_AUX_REQUIREMENT = 0x1B, "schedule does not meet the aux requirements"
    SCHEDULE_IS_RUNNING = 0x1C, "schedule is running"
    SCHEDULE_MUID_NOT_SAME = 0x1D, "schedule MUID differs (file copied from another PC)"
    SCHEDULE_CLEAR = 0x1E, "schedule cleared"


class StartResult(ResultCode, command="start"):
    """Result of START and START_EX (R128 ``btResult``); v1.1 and the 1.2 enum."""

    SUCCESS = 0x00, "started"
    INDEX = 0x10, "invalid channel index", UnknownChannel
    ERROR = 0x11, "monitor window in use or CTI not allowed to control", NotAllowedToControl
    CHANNEL_RUNNING = 0x12, "channel is already running or unsafe", ChannelRunning
    CHANNEL_NOT_CONNECTED = 0x13, "channel is not connected to the DAQ"
    SCHEDULE_INVALID = 0x14, "schedule is not compatible with the system"
    NO_SCHEDULE_ASSIGNED = 0x15, "no schedule assigned", NoScheduleAssigned
    SCHEDULE_VERSION = 0x16, "schedule version does not match MITS"
    POWER_PROTECTED = 0x17, "power protected"
    RESULTS_FILE_SIZE_LIMIT = 0x18, "results file too large"
    STEP_NUMBER = 0x19, "invalid step number"
    NO_CAN_CONFIGURATION = 0x1A, "no CAN configuration assigned"
    AUX_CHANNEL_MAP = 0x1B, "aux channel map or aux count in the schedule is invalid"
    BUILD_AUX_COUNT = 0x1C, "built-in aux count is invalid"
    POWER_CLAMP_CHECK = 0x1D, "power clamp range is zero"
    AUX_AI = 0x1E, "aux AI mapping error"
    SAFOR_GROUP = 0x1F, "SAFOR group error or no channel selected"
    BT6000_RUNNING_GROUP = 0x20, "BT6000 group is running"
    DOWNLOADING_SCHEDULE = 0x21, "the DAQ is still downloading the schedule"
    DATABASE_QUERY_TEST_NAME = 0x22, "database query of the test name failed"
    TEST_NAME_EXISTS = 0x23, "test name is empty or already exists"
    GO_STEP = 0x24, "invalid step or step limit setting"
    INVALID_PARALLEL = 0x25, "invalid parallel channel setting"
    SAFETY = 0x26, "schedule safety pre-check failed"
    SCHEDULE_NAME_DIFFERENT = 0x27, "schedule name differs"
    BATTERY_SIMULATION_NOT_PARALLEL = 0x28, "battery simulation error"
    CSV_WAIT_TIME = 0x29, "wait until the CSV file is written (45 s)"
    CHANNEL_SUSPENDED = 0x2A, "channel is suspended"
    TEST_NAME_TOO_LONG = 0x2B, "test name is too long"


class ResumeResult(ResultCode, command="resume"):
    """Result of RESUME and RESUME_EX (R128 ``btResult``); 0x10-0x22 as START."""

    SUCCESS = 0x00, "resumed"
    INDEX = 0x10, "invalid channel index", UnknownChannel
    ERROR = 0x11, "monitor window in use or CTI not allowed to control", NotAllowedToControl
    CHANNEL_RUNNING = 0x12, "channel is already running or unsafe", ChannelRunning
    CHANNEL_NOT_CONNECTED = 0x13, "channel is not connected to the DAQ"
    SCHEDULE_INVALID = 0x14, "schedule is not compatible with the system"
    NO_SCHEDULE_ASSIGNED = 0x15, "no schedule assigned", NoScheduleAssigned
    SCHEDULE_VERSION = 0x16, "schedule version does not match MITS"
    POWER_PROTECTED = 0x17, "power protected"
    RESULTS_FILE_SIZE_LIMIT = 0x18, "results file too large"
    STEP_NUMBER = 0x19, "invalid step number"
    NO_CAN_CONFIGURATION = 0x1A, "no CAN configuration assigned"
    AUX_CHANNEL_MAP = 0x1B, "aux channel map or aux count in the schedule is invalid"
    BUILD_AUX_COUNT = 0x1C, "built-in aux count is invalid"
    POWER_CLAMP_CHECK = 0x1D, "power clamp range is zero"
    AUX_AI = 0x1E, "aux AI mapping error"
    SAFOR_GROUP = 0x1F, "SAFOR group error or no channel selected"
    BT6000_RUNNING_GROUP = 0x20, "BT6000 group is running"
    DOWNLOADING_SCHEDULE = 0x21, "the DAQ is still downloading the schedule"
    DATABASE_QUERY_TEST_NAME = 0x22, "database query of the test name failed"
    NO_TEST_NAME = 0x23, "no test name, or the schedule differs from the last one"
    LOAD_RESUME_DATA = 0x24, "loading resume data from the database failed"
    TOO_MANY_TEST_NAMES = 0x25, "too many test names (limit 128)"
    SAFETY = 0x26, "safety check failed"
    BATTERY_SIMULATION_NOT_PARALLEL = 0x27, "battery simulation not parallel"
    CHANNEL_SUSPENDED = 0x28, "channel is suspended"


class ContinueResult(ResultCode, command="continue"):
    SUCCESS = 0x00, "continued"
    INDEX = 0x10, "invalid channel index", UnknownChannel
    ERROR = 0x11, "monitor window in use or execute error", NotAllowedToControl
    CHANNEL_RUNNING = 0x12, "channel is running", ChannelRunning
    CHANNEL_NOT_CONNECTED = 0x13, "channel is not connected to the DAQ"
    CALIBRATING = 0x14, "channel is calibrating"
    NOT_PAUSED = 0x15, "channel was not paused normally"
    CHANNEL_UNSAFE = 0x16, "channel is unsafe"


class StopResult(ResultCode, command="stop"):
    SUCCESS = 0x00, "stopped"
    INDEX = 0x10, "channel does not exist", UnknownChannel
    ERROR = 0x11, "monitor window in use or CTI not allowed to control", NotAllowedToControl
    CHANNEL_NOT_RUNNING = 0x12, "channel is not running", ChannelNotRunning
    CHANNEL_NOT_CONNECTED = 0x13, "channel is not connected"


class JumpResult(ResultCode, command="jump"):
    """Result of JUMP (JUMP_TOKEN of ArbinCTI.dll): 0x10-0x22 as START, then 0x23-0x2A."""

    SUCCESS = 0x00, "jumped"
    INDEX = 0x10, "invalid channel index", UnknownChannel
    ERROR = 0x11, "monitor window in use", NotAllowedToControl
    CHANNEL_NOT_RUNNING = 0x12, "channel is not running", ChannelNotRunning
    CHANNEL_NOT_CONNECTED = 0x13, "channel is not connected to the DAQ"
    SCHEDULE_INVALID = 0x14, "invalid schedule"
    NO_SCHEDULE_ASSIGNED = 0x15, "no schedule assigned", NoScheduleAssigned
    SCHEDULE_VERSION = 0x16, "schedule version does not match MITS"
    POWER_PROTECTED = 0x17, "power protected"
    RESULTS_FILE_SIZE_LIMIT = 0x18, "results file too large"
    STEP_NUMBER = 0x19, "invalid step number"
    NO_CAN_CONFIGURATION = 0x1A, "no CAN configuration assigned"
    AUX_CHANNEL_MAP = 0x1B, "aux channel map or aux count in the schedule is invalid"
    BUILD_AUX_COUNT = 0x1C, "built-in aux count is invalid"
    POWER_CLAMP_CHECK = 0x1D, "power clamp range is zero"
    AUX_AI = 0x1E, "aux AI mapping error"
    SAFOR_GROUP = 0x1F, "SAFOR group error or no channel selected"
    BT6000_RUNNING_GROUP = 0x20, "BT6000 group is running"
    DOWNLOADING_SCHEDULE = 0x21, "the DAQ is still downloading the schedule"
    DATABASE_QUERY_TEST_NAME = 0x22, "database query of the test name failed"
    TEST_NAME_EXISTS = 0x23, "test name is empty or already exists"
    GO_STEP = 0x24, "invalid step limit setting"
    INVALID_PARALLEL = 0x25, "invalid parallel setting"
    SAFETY = 0x26, "safety check failed"
    SCHEDULE_NAME_DIFFERENT = 0x27, "schedule name differs"
    BATTERY_SIMULATION_NOT_PARALLEL = 0x28, "battery simulation not parallel"
    CHANNEL_SUSPENDED = 0x29, "channel is suspended"
    ACIM_TESTING = 0x2A, "an ACIM test is running on the channel"


class SetMetaVariableResult(ResultCode, command="set_meta_variable"):
    SUCCESS = 0x00, "meta variable set"
    FAILED = 0x10, "setting the meta variable failed"
    META_CODE_NOT_FOUND = 0x11, "meta code does not exist", MetaCodeNotFound
    CHANNEL_NOT_RUNNING = 0x12, "channel is not running", ChannelNotRunning
    META_CODE_NOT_IN_PRO7 = 0x13, "meta code does not exist in MITS Pro 7", MetaCodeNotFound


class UpdateMetaVariableResult(ResultCode, command="update_meta_variables"):
    """Result of UPDATE_MV_ADVANCED (and per entry of _EX, SPECIAL_SET_MV), ArbinCTI.dll:
    'too frequent' is 0x14, as in v1.1 (v4.5 and the 1.2 manual wrongly say 0x13)."""

    SUCCESS = 0x00, "meta variables updated"
    FAILED = 0x10, "updating the meta variables failed"
    META_CODE_NOT_FOUND = 0x11, "meta code does not exist", MetaCodeNotFound
    CHANNEL_NOT_RUNNING = 0x12, "channel is not running", ChannelNotRunning
    META_CODE_NOT_IN_PRO7 = 0x13, "meta code does not exist in MITS Pro 7", MetaCodeNotFound
    TOO_FREQUENT = (
        0x14,
        "meta variables updated too frequently (at most every 200 ms)",
        TooFrequent,
    )
    DATA_TYPE_NOT_SUPPORTED = 0x15, "data type not supported"
    NO_TEMPERATURE_CHAMBER = 0x16, "no temperature chamber"
    NOT_CONTROLLED_AUXILIARY = 0x17, "auxiliary channel is not controlled"
    MCU_ACK_FAILED = 0x18, "the channel's MCU did not acknowledge"


class SerialResult(ResultCode):
    SUCCESS = 0x00, "serial number read"
    ERROR = 0x10, "reading the serial number failed"


class BrowseResult(ResultCode):
    """Result of BROWSE_DIRECTORY, as ArbinCTI.dll reads it: 1 directory listed (200-byte
    entries), 2 schedules listed (200-byte entries, obsolete), 3 schedules listed as
    "version 1" (440-byte entries: a relative file name), 4 failed. (v1.1/v4.5 call 3 a
    failure; the DLL and the 1.2 enum do not.)"""

    DIRECTORY_OK = 1, "directory listed"
    SCHEDULE_OK = 2, "schedule directory listed"
    SCHEDULE_V1_OK = 3, "schedule files listed"
    FAILED = 4, "invalid directory"
    FAILED_V12 = 4, "invalid directory"


class FileTransferResult(ResultCode):
    SUCCESS = 1, "transferred"
    FAILED = 2, "transfer failed"
    MD5_ERROR = 3, "MD5 check failed"
    FILE_BUSY_OR_TOO_LARGE = 4, "file is in use by a running test or is too large"


class FileResult(ResultCode):
    """Result of NEW_OR_DELETE, NEW_FOLDER and DELETE_FOLDER."""

    NEW_OK = 1, "created"
    DELETE_OK = 2, "deleted"
    NEW_FAILED = 3, "creating failed"
    FOLDER_NOT_ALLOWED = 4, "folders cannot be added in this directory"
    DELETE_FAILED = 5, "delete failed"
    TYPE_NOT_DELETABLE = 6, "this file type may not be deleted"
    FILE_IN_USE = 7, "file is in use by a running test"
    NOT_FOUND = 8, "file does not exist"


class SendMessageResult(ResultCode):
    SUCCESS = 1, "message shown"
    FAILED = 2, "sending the message failed"


class AutoCalibrationResult(ResultCode):
    """Result of AUTOCALI_START: 1 success in every document; 0 (v1.1) and 2 (v4.5) fail."""

    FAILED_V11 = 0, "auto-calibration could not start"
    SUCCESS = 1, "auto-calibration started"
    FAILED = 2, "auto-calibration could not start"


# --------------------------------------------------------------------------------------------
# ArbinCTI.dll enumerations (arbincti-dll-wire.md, sections 2, 4 and 5)


class ServerVersion(IntEnum):
    """``CTI_VERSION``: the server version in the login feedback's ``Version`` (u32 @8656).

    It decides which command variants Arbin's client sends (section 2.2): see
    :attr:`uses_vls`, :attr:`is_mitsx`, :attr:`uses_json_channels`, :attr:`time_sensitive`
    and the ``*_code`` properties. A value not in the enum decodes to a pseudo-member
    ``UNKNOWN_0x...`` and, as in the DLL, counts as a VLS server.
    """

    PRO7 = 0x00000000  # "None = CTI_PRO7"; also what a client assumes before the login
    PRO8 = 0x00000001
    PRO8_2 = 0x00000002
    MITSX_1 = 0x01000001
    MITSX_2 = 0x01000002
    MITSX_3 = 0x01000003
    MITSX_4 = 0x01000004
    MITSX_5 = 0x01000005
    MITSX_6 = 0x01000006
    MITSX_7 = 0x01000007
    MITSX_8 = 0x01000008
    MITSX_SPTT = 0x01001001
    PRO7_MVUD = 0x02000001
    TY_PRO7_2 = 0x02000002
    TY_PRO7_3 = 0x02000003
    TY_PRO7_4 = 0x02000004
    TY_PRO8_1 = 0x04000001
    TY_PRO8_2 = 0x04000002
    TY_PRO8_4 = 0x04000003  # the DLL's name says 4, its value is 3
    TY_PRO8_SPTT = 0x04001001
    ZY_PRO8_GX = 0x08000001

    @classmethod
    def _missing_(cls, value: object) -> ServerVersion | None:
        if isinstance(value, int) and 0 <= value <= 0xFFFFFFFF:
            return _undocumented(cls, value, f"UNKNOWN_0x{value:08X}")
        return None

    @classmethod
    def from_name(cls, name: str) -> ServerVersion:
        """The version named ``name``, case-insensitive (``"MitsX_3"``, ``"pro8"``, ``"SPTT"``).

        Raises ValueError naming the known versions.
        """
        key = name.strip().upper().replace("-", "_")
        if key == "SPTT":
            key = "MITSX_SPTT"
        try:
            return cls[key]
        except KeyError:
            known = ", ".join(member.name for member in cls)
            raise ValueError(f"unknown server version {name!r}; known: {known}") from None

    @property
    def uses_vls(self) -> bool:
        """VLS predicate of the DLL: MitsX_3..8, TY_Pro7_3/4, TY_Pro8_2/4, and unknown values."""
        return self._value_ in _VLS_VERSIONS or self._value_ not in _KNOWN_VERSIONS

    @property
    def is_mitsx(self) -> bool:
        """MitsX_1..8 or MitsX_SPTT."""
        return 0x01000001 <= self._value_ <= 0x01000008 or self._value_ == 0x01001001

    @property
    def uses_json_channels(self) -> bool:
        """MitsX_SPTT only: channel data as JSON, and no MV-entry caps."""
        return self._value_ == 0x01001001

    @property
    def time_sensitive(self) -> bool:
        """MitsX_4..8: the client allows TIME_SENSITIVE_SET_MV."""
        return 0x01000004 <= self._value_ <= 0x01000008

    @property
    def channel_info_code(self) -> CommandCode:
        """The channel-data request Arbin's client sends to this server."""
        if self.uses_vls:
            return CommandCode.GET_CHANNELS_INFO_VLS
        if self.uses_json_channels:
            return CommandCode.GET_CHANNELS_INFO_JSON
        return CommandCode.GET_CHANNELS_INFO

    @property
    def start_code(self) -> CommandCode:
        return CommandCode.START_VLS if self.uses_vls else CommandCode.START

    @property
    def start_ex_code(self) -> CommandCode:
        return CommandCode.START_EX_VLS if self.uses_vls else CommandCode.START_EX

    @property
    def resume_data_code(self) -> CommandCode:
        if self.uses_vls:
            return CommandCode.GET_RESUME_DATA_VLS
        if self.is_mitsx:
            return CommandCode.GET_RESUME_DATA_BY_MV
        return CommandCode.GET_RESUME_DATA

    @property
    def resume_ex_code(self) -> CommandCode:
        if self.uses_vls:
            return CommandCode.RESUME_EX_VLS
        if self.is_mitsx:
            return CommandCode.RESUME_BY_MV
        return CommandCode.RESUME_EX

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The capability flags ArbinCTI.dll exports for applications (section 2.3)."""
        value = self._value_
        return frozenset(
            flag
            for flag, (listed, excluded) in _CAPABILITY_TABLE.items()
            if (value in listed) != excluded
        )

    def has(self, capability: Capability) -> bool:
        """True if this server version has ``capability`` (section 2.3 of the reference)."""
        return capability in self.capabilities


class Capability(Enum):
    """The capability flags ArbinCTI.dll exports per server version (not used inside the DLL;
    they tell an application which commands a server takes)."""

    GET_META_VARIABLES = "GetMetaVariables"
    SET_MCU_LOG_INTERVAL = "SetMCULogInterval"
    START_AUTO_CALIBRATION = "StartAutoCalibration"
    ADVANCED_ASSIGN_FILE = "AdvancedAssignFile"
    ADVANCED_ASSIGN_FILE_PRO7 = "AdvancedAssignFilePro7"
    ADVANCED_SET_META_VARIABLES_EX = "AdvancedSetMetaVariablesEx"
    MITSX_TEST_OBJECTS = "MitsXTO"
    EDIT_ADVANCED_RESUME = "EditAdvResume"
    BARCODE = "Barcode"
    START_CHANNEL_ADVANCED = "StartChannelAdvanced"
    SPECIAL_SET_MV = "SpecialSetMV"
    GET_MAPPING_AUX = "GetMappingAux"
    MODIFY_SCHEDULE = "ModifySchedule"


_V = ServerVersion
_MITSX_2_8 = frozenset(int(_V(0x01000000 + n)) for n in range(2, 9))
# flag -> (versions, excluded): with excluded, every value but the listed ones has the flag.
_CAPABILITY_TABLE: dict[Capability, tuple[frozenset[int], bool]] = {
    Capability.GET_META_VARIABLES: (frozenset({0, 1, 0x01000001}), True),
    Capability.SET_MCU_LOG_INTERVAL: (
        frozenset({0, 1, 0x01000001, 0x01000002, 0x01000003, 0x01000004}),
        True,
    ),
    Capability.START_AUTO_CALIBRATION: (
        frozenset({1, 2, 0x04000001, 0x04000002, 0x04000003, 0x04001001}),
        False,
    ),
    Capability.ADVANCED_ASSIGN_FILE: (
        _MITSX_2_8
        | {0x01001001, 0x02000002, 0x02000003, 0x02000004, 0x04000001, 0x04000002, 0x04000003},
        False,
    ),
    Capability.ADVANCED_ASSIGN_FILE_PRO7: (frozenset({0x02000002, 0x02000003, 0x02000004}), False),
    Capability.ADVANCED_SET_META_VARIABLES_EX: (frozenset({0x01001001, 0x04001001}), False),
    Capability.MITSX_TEST_OBJECTS: (_MITSX_2_8 | {0x01001001}, False),
    Capability.EDIT_ADVANCED_RESUME: (
        _MITSX_2_8 | {0x01001001, 0x02000003, 0x02000004, 0x04000002, 0x04000003},
        False,
    ),
    Capability.BARCODE: (
        frozenset(range(0x01000004, 0x01000009)) | {0x01001001, 0x04000002, 0x04000003},
        False,
    ),
    Capability.START_CHANNEL_ADVANCED: (frozenset({0x01000006, 0x01000007, 0x01000008}), False),
    Capability.SPECIAL_SET_MV: (frozenset({0x01000007, 0x01000008, 0x04000003}), False),
    Capability.GET_MAPPING_AUX: (frozenset({0x01000008}), False),
    Capability.MODIFY_SCHEDULE: (frozenset({0x01000008}), False),
}

_KNOWN_VERSIONS = frozenset(int(member) for member in ServerVersion)
_VLS_VERSIONS = frozenset(
    {
        0x01000003,
        0x01000004,
        0x01000005,
        0x01000006,
        0x01000007,
        0x01000008,
        0x02000003,
        0x02000004,
        0x04000002,
        0x04000003,
    }
)


class MvDataType(IntEnum):
    """``TE_DATA_TYPE``: the data type byte of MV entries (section 5.3)."""

    META_VALUE = 0x01
    AUX_TEMPERATURE = 0x0A
    AUX_DTDT = 0x0B
    AUX_VOLTAGE = 0x0C
    AUX_DVDT = 0x0D
    AUX_PRESSURE = 0x0E
    AUX_DPDT = 0x0F
    AUX_PH = 0x10
    AUX_DPHDT = 0x11
    AUX_FLOW_RATE = 0x12
    AUX_DFRDT = 0x13
    AUX_CONCENTRATION = 0x14
    AUX_DCONCENTRATIONDT = 0x15
    AUX_DI = 0x16
    AUX_DO = 0x17
    CAN_BMS = 0x18
    AUX_EXTERNAL_CHARGE = 0x19
    AUX_HUMIDITY = 0x1A
    AUX_DHUMDT = 0x1B
    SMB_BMS = 0x1C
    AUX_AO = 0x1E
    EQ = 0x1F
    CELL = 0x20


class GetMetaVariableResult(ResultCode, command="get_meta_variables"):
    """Per-entry error of GET_MV_VALUE (and APPLY_UDP_COMMUNICATION)."""

    SUCCESS = 0x00, "value read"
    ERROR = 0x10, "reading failed"
    DATA_TYPE_NOT_SUPPORTED = 0x11, "data type not supported"
    META_CODE_NOT_FOUND = 0x12, "meta code does not exist"
    CHANNEL_INDEX = 0x13, "invalid channel index"
    AUX_INDEX = 0x14, "invalid aux index"
    AUX_NOT_ASSIGNED = 0x15, "aux channel not assigned"
    CANBMS_INDEX = 0x16, "invalid CAN-BMS index"
    CANBMS_NOT_FOUND = 0x17, "CAN-BMS does not exist"
    CANBMS_DISABLED = 0x18, "CAN-BMS disabled"
    DAQ_NOT_CONNECTED = 0x19, "DAQ not connected"
    TIMEOUT = 0x1A, "timed out"
    MCU_ACK_FAILED = 0x1B, "the channel's MCU did not acknowledge"
    META_CODE_NOT_SUPPORTED = 0x1C, "meta code not supported"
    SMB_NOT_FOUND = 0x1D, "SMB does not exist"
    SMB_INDEX = 0x1E, "invalid SMB index"
    SMB_STRING_NOT_SUPPORTED = 0x1F, "SMB string values not supported"
    SMB_DISABLED = 0x20, "SMB disabled"
    AUX_TYPE = 0x21, "invalid aux type"
    OBJECT_NULL = 0x22, "internal object missing"
    DCOM_ERROR = 0x23, "DCOM error"
    WRITE_NOT_SUPPORTED = 0x24, "writing not supported"
    EQ_INDEX = 0x25, "invalid EQ index"
    CELL_INDEX = 0x26, "invalid cell index"


class TimeSensitiveResult(ResultCode, command="time_sensitive_set_mv"):
    """Per-channel result of TIME_SENSITIVE_SET_MV."""

    SUCCESS = 0x00, "meta variables set"
    SUCCESS_NOT_RUNNING = 0x01, "set, but the channel is not running"
    ERROR = 0x10, "setting failed"
    DATA_TYPE_NOT_SUPPORTED = 0x11, "data type not supported"
    META_CODE_NOT_FOUND = 0x12, "meta code does not exist"
    CHANNEL_INDEX = 0x13, "invalid channel index"
    AUX_INDEX = 0x14, "invalid aux index"
    AUX_NOT_ASSIGNED = 0x15, "aux channel not assigned"
    CANBMS_INDEX = 0x16, "invalid CAN-BMS index"
    CANBMS_NOT_FOUND = 0x17, "CAN-BMS does not exist"
    CANBMS_DISABLED = 0x18, "CAN-BMS disabled"
    DAQ_NOT_CONNECTED = 0x19, "DAQ not connected"
    TIMEOUT = 0x1A, "timed out"
    MCU_ACK_FAILED = 0x1B, "the channel's MCU did not acknowledge"
    NOT_ALLOWED_TO_CONTROL = 0x1C, "CTI may not control this channel"
    MCU_SOCKET_DISCONNECTED = 0x1D, "the MCU socket is disconnected"


class StartDataResult(ResultCode):
    """``channel_code`` of start/resume data records (documents; the DLL's 0 / 0x10 enum)."""

    SUCCESS = 0, "data read"
    ERROR = 0x10, "reading the data failed"
    TEST_NAME_QUERY_FAILED = 34, "test-name database query failed"
    TEST_NAME_EMPTY = 35, "test name is empty"
    RESUME_TABLE_READ_FAILED = 36, "reading the resume table failed"


class AssignFileResult(ResultCode, command="assign_file"):
    """Per-channel result of ASSIGN_FILE (ASSIGN_TOKEN plus 0x01)."""

    SUCCESS = 0x00, "file assigned"
    FAILED = 0x01, "assign failed"
    INDEX = 0x10, "channel does not exist"
    ERROR = 0x11, "monitor window in use or CTI not allowed to control"
    FILE_NAME_EMPTY = 0x12, "file name is empty"
    FILE_NOT_FOUND = 0x13, "file not found"
    CHANNEL_RUNNING = 0x14, "channel is running"
    CHANNEL_DOWNLOADING = 0x15, "channel is downloading another schedule"
    BATCH_FILE_OPENED = 0x16, "a batch file is open"
    FILE_CANNOT_ASSIGN = 0x17, "the file could not be assigned"
    FILE_SAVE_FAILED = 0x18, "saving the assignment failed"
    UNSUPPORTED_FILE_TYPE = 0x19, "unsupported file type"
    NOT_ASSIGN_SCHEDULE = 0x1A, "no schedule assigned to the channel"
    SCHEDULE_NOT_AUX_REQUIREMENT = 0x1B, "schedule does not meet the aux requirements"
    SCHEDULE_IS_RUNNING = 0x1C, "schedule is running"
    SCHEDULE_MUID_NOT_SAME = 0x1D, "schedule MUID differs"
    FILE_CLEAR = 0x1E, "file cleared"


class FileKind(IntEnum):
    """File kind of ASSIGN_FILE."""

    SCHEDULE = 0
    CANBMS = 1
    SMB = 2
    SIMULATION = 3
    BATTERY_SIMULATION = 4
    TEST_OBJECT = 5
    CHART = 6


class UpdateParametersResult(ResultCode, command="update_parameters"):
    SUCCESS = 0x00, "parameters updated"
    INDEX = 0x10, "channel does not exist"
    ERROR = 0x11, "updating failed"
    TEST_OBJECT_NAME_EMPTY = 0x12, "test object name is empty"
    TEST_OBJECT_NOT_FOUND = 0x13, "test object not found"
    CHANNEL_RUNNING = 0x14, "channel is running"
    CHANNEL_DOWNLOADING = 0x15, "channel is downloading"
    BATCH_FILE_OPENED = 0x16, "a batch file is open"
    CANNOT_ASSIGN_TEST_OBJECT = 0x17, "the test object could not be assigned"
    TEST_OBJECT_SAVE_FAILED = 0x18, "saving the test object failed"


class ParameterCode(IntEnum):
    """Parameter code of UPDATE_PARAMETERS entries."""

    NOMINAL_CAPACITY = 0
    I_MAX = 1
    V_MAX = 2
    V_MIN = 3
    MASS = 4
    SPECIFIC_CAPACITY = 5
    NOMINAL_IR = 6
    NOMINAL_VOLTAGE = 7
    NOMINAL_CAPACITANCE = 8
    IS_AUTO_CALCULATE = 9


class ConvertTestObjectResult(ResultCode, command="convert_test_object"):
    SUCCESS = 0, "converted"
    FAILED = 1, "conversion failed"
    CHANNEL_RUNNING = 2, "channel is running"
    NO_TEST_OBJECT_FILE = 3, "no test object file"


class BarcodeChannelType(IntEnum):
    IV = 1
    EQ = 2
    CELL = 3
    TRAY = 4


class AssignBarcodeResult(ResultCode):
    SUCCESS = 0x00, "barcode assigned"
    ERROR = 0x10, "assigning the barcode failed"
    CHANNEL_RUNNING = 0x11, "channel is running"
    CHANNEL_INDEX = 0x12, "invalid channel index"
    CHANNEL_TYPE_NOT_SUPPORTED = 0x13, "channel type not supported"
    CELL_INDEX = 0x14, "invalid cell index"
    EQ_INDEX = 0x15, "invalid EQ index"
    TRAY_INDEX = 0x16, "invalid tray index"
    SPTT_MAPPING = 0x17, "SPTT mapping error"


class GetBarcodeResult(ResultCode):
    SUCCESS = 0x00, "barcode read"
    ERROR = 0x10, "reading the barcode failed"
    CHANNEL_INDEX = 0x11, "invalid channel index"
    CHANNEL_TYPE_NOT_SUPPORTED = 0x12, "channel type not supported"
    CELL_INDEX = 0x13, "invalid cell index"
    EQ_INDEX = 0x14, "invalid EQ index"
    TRAY_INDEX = 0x15, "invalid tray index"
    SPTT_MAPPING = 0x16, "SPTT mapping error"


class MachineType(IntEnum):
    IV = 1
    SPTT = 2
    ALL = 3


class MachineTypeResult(ResultCode):
    SUCCESS = 0x00, "machine type read"
    ERROR = 0x10, "reading the machine type failed"


class TrayResult(ResultCode):
    """Per-tray result of GET_TRAY_STATUS and ENGAGE_TRAY."""

    SUCCESS = 0x00, "done"
    ERROR = 0x10, "failed"
    INDEX = 0x11, "invalid tray index"
    NETWORK = 0x12, "network error"
    UNIT = 0x13, "unit error"
    SPTT_MAPPING_INDEX = 0x14, "invalid SPTT mapping index"
    CHANNEL_NULL = 0x15, "no channel"
    CHANNEL_RUNNING = 0x16, "channel is running"


class DataLogIntervalResult(ResultCode):
    """Result of SET_INTERVALTIME_LOGDATA; the field is one byte, so -2/-1 arrive as
    0xFE/0xFF (and are declared so)."""

    SUCCESS = 0, "data-log interval set"
    PARTIAL_SUCCESS = 1, "data-log interval set on some channels"
    FAILED = 2, "setting the data-log interval failed"
    EXCEED_LIMIT = 3, "interval outside the allowed range"
    DAQ_DISCONNECTED = 0xFE, "DAQ disconnected (-2)"
    DCOM_FAILED = 0xFF, "DCOM failed (-1)"


class StringLimitType(IntEnum):
    TEST_NAME = 1


class CheckFileResult(ResultCode):
    """Result of the obsolete CHECK_FILE."""

    EXISTS = 0, "file exists"
    NOT_FOUND = 1, "file does not exist"


class ModifyScheduleResult(ResultCode):
    SUCCESS = 0x00, "schedule modified"
    ERROR = 0x10, "modifying failed"
    SCHEDULE_NAME_EMPTY = 0x11, "schedule name is empty"
    SCHEDULE_NOT_FOUND = 0x12, "schedule does not exist"
    SCHEDULE_RUNNING = 0x13, "schedule is running"
    AUX_COUNT_EXCEEDS_MAPPING = 0x14, "aux count exceeds the mapping"
    AUX_COUNT_EXCEEDS_SYSCONFIG = 0x15, "aux count exceeds the system configuration"
    AUX_SAFETY_SCOPE = 0x16, "invalid aux safety scope"
    NO_SN_CYCLER = 0x17, "no cycler serial number"
    NO_LOGIN = 0x18, "not logged in"
    NO_PERMISSION = 0x19, "no permission"


class AuxChannelType(IntEnum):
    """AuxChannelType of GET_MAPPING_AUX."""

    VOLTAGE = 0
    TEMPERATURE = 1
    PRESSURE = 2
    DI = 3
    DO = 4
    EXTERNAL_CHARGE = 5
    SAFETY = 6
    HUMIDITY = 7
    AO = 8
    CANBMS = 9
    SMB = 10


def _register_rejections() -> None:
    """Hand every command's result codes that name a subclass to :class:`CommandRejected`,
    which picks the class by (command, code)."""
    for table in ResultCode.__subclasses__():
        if table.command is None:
            continue
        for result in table:
            if result.rejection is not CommandRejected:
                result.rejection.register(table.command, result.value)


_register_rejections()
