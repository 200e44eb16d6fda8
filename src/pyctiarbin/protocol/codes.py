"""Command codes and the enumerations the CTI documents define.

Values come from Arbin's CTI documents (protocol v1.1, instructions v4.5 and the ArbinCTI 1.2
enums); where they disagree the choice is noted next to the value. Result codes carry their
documented meaning, so an error message can say what the cycler meant.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Any

__all__ = [
    "AssignResult",
    "AutoCalibrationResult",
    "AuxOptions",
    "BrowseResult",
    "ChannelSelection",
    "CommandCode",
    "ConnectResult",
    "ContinueResult",
    "FileResult",
    "FileTransferResult",
    "JumpResult",
    "LoginResult",
    "MetaCode",
    "ResultCode",
    "ResumeResult",
    "SendMessageResult",
    "SerialResult",
    "SetMetaVariableResult",
    "StartResult",
    "StatusCode",
    "StopResult",
    "UpdateMetaVariableResult",
    "meta_code_for",
]


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

    @classmethod
    def _missing_(cls, value: object) -> StatusCode | None:
        if isinstance(value, int) and -0x8000 <= value <= 0x7FFF:
            member = int.__new__(cls, value)
            member._name_ = f"UNKNOWN_{value}"
            member._value_ = value
            return member
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
    ALL = 0x700


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

    :meth:`describe` also handles codes the documents do not list.
    """

    _meanings: dict[int, str]

    def __new__(cls, value: int, meaning: str = "") -> Any:
        member = int.__new__(cls, value)
        member._value_ = value
        member._meaning = meaning  # type: ignore[attr-defined]
        return member

    @property
    def meaning(self) -> str:
        """The documented meaning of this result."""
        meaning: str = self._meaning  # type: ignore[attr-defined]
        return meaning

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


class AssignResult(ResultCode):
    SUCCESS = 0x00, "schedule assigned"
    FAILED = 0x01, "assign failed"
    INDEX = 0x10, "channel does not exist"
    ERROR = 0x11, "monitor window in use or CTI not allowed to control"
    SCHEDULE_NAME_EMPTY = 0x12, "schedule name is empty"
    SCHEDULE_NOT_FOUND = 0x13, "schedule not found in the work directory"
    CHANNEL_RUNNING = 0x14, "channel is running"
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


class StartResult(ResultCode):
    """Result of START and START_EX (R128 ``btResult``); v1.1 and the 1.2 enum."""

    SUCCESS = 0x00, "started"
    INDEX = 0x10, "invalid channel index"
    ERROR = 0x11, "monitor window in use or CTI not allowed to control"
    CHANNEL_RUNNING = 0x12, "channel is already running or unsafe"
    CHANNEL_NOT_CONNECTED = 0x13, "channel is not connected to the DAQ"
    SCHEDULE_INVALID = 0x14, "schedule is not compatible with the system"
    NO_SCHEDULE_ASSIGNED = 0x15, "no schedule assigned"
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


class ResumeResult(ResultCode):
    """Result of RESUME and RESUME_EX (R128 ``btResult``); 0x10-0x22 as START."""

    SUCCESS = 0x00, "resumed"
    INDEX = 0x10, "invalid channel index"
    ERROR = 0x11, "monitor window in use or CTI not allowed to control"
    CHANNEL_RUNNING = 0x12, "channel is already running or unsafe"
    CHANNEL_NOT_CONNECTED = 0x13, "channel is not connected to the DAQ"
    SCHEDULE_INVALID = 0x14, "schedule is not compatible with the system"
    NO_SCHEDULE_ASSIGNED = 0x15, "no schedule assigned"
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


class ContinueResult(ResultCode):
    SUCCESS = 0x00, "continued"
    INDEX = 0x10, "invalid channel index"
    ERROR = 0x11, "monitor window in use or execute error"
    CHANNEL_RUNNING = 0x12, "channel is running"
    CHANNEL_NOT_CONNECTED = 0x13, "channel is not connected to the DAQ"
    CALIBRATING = 0x14, "channel is calibrating"
    NOT_PAUSED = 0x15, "channel was not paused normally"
    CHANNEL_UNSAFE = 0x16, "channel is unsafe"


class StopResult(ResultCode):
    SUCCESS = 0x00, "stopped"
    INDEX = 0x10, "channel does not exist"
    ERROR = 0x11, "monitor window in use or CTI not allowed to control"
    CHANNEL_NOT_RUNNING = 0x12, "channel is not running"
    CHANNEL_NOT_CONNECTED = 0x13, "channel is not connected"


class JumpResult(ResultCode):
    """Result of JUMP. 0x26-0x28 follow v1.1 (the 1.2 enum lists them differently)."""

    SUCCESS = 0x00, "jumped"
    INDEX = 0x10, "invalid channel index"
    ERROR = 0x11, "monitor window in use"
    CHANNEL_NOT_RUNNING = 0x12, "channel is not running"
    CHANNEL_NOT_CONNECTED = 0x13, "channel is not connected to the DAQ"
    SCHEDULE_INVALID = 0x14, "invalid schedule"
    NO_SCHEDULE_ASSIGNED = 0x15, "no schedule assigned"
    SCHEDULE_VERSION = 0x16, "schedule version does not match MITS"
    STEP_NUMBER = 0x19, "invalid step number"
    DOWNLOADING_SCHEDULE = 0x21, "the DAQ is still downloading the schedule"
    GO_STEP = 0x24, "invalid step limit setting"
    INVALID_PARALLEL = 0x25, "invalid parallel setting"
    SAFETY = 0x26, "safety check failed"
    SCHEDULE_NAME_DIFFERENT = 0x27, "schedule name differs"
    BATTERY_SIMULATION_NOT_PARALLEL = 0x28, "battery simulation not parallel"


class SetMetaVariableResult(ResultCode):
    SUCCESS = 0x00, "meta variable set"
    FAILED = 0x10, "setting the meta variable failed"
    META_CODE_NOT_FOUND = 0x11, "meta code does not exist"
    CHANNEL_NOT_RUNNING = 0x12, "channel is not running"
    META_CODE_NOT_IN_PRO7 = 0x13, "meta code does not exist in MITS Pro 7"


class UpdateMetaVariableResult(ResultCode):
    """Result of UPDATE_MV_ADVANCED. 'Too frequent' is 0x13 as in v4.5 (v1.1 says 0x14)."""

    SUCCESS = 0x00, "meta variables updated"
    FAILED = 0x10, "updating the meta variables failed"
    META_CODE_NOT_FOUND = 0x11, "meta code does not exist"
    CHANNEL_NOT_RUNNING = 0x12, "channel is not running"
    TOO_FREQUENT = 0x13, "meta variables updated too frequently (at most every 200 ms)"


class SerialResult(ResultCode):
    SUCCESS = 0x00, "serial number read"
    ERROR = 0x10, "reading the serial number failed"


class BrowseResult(ResultCode):
    """Result of BROWSE_DIRECTORY (v4.5).

    The 1.2 enum adds 3 = schedule v1 listed and moves "failed" to 4; both count as failures.
    """

    DIRECTORY_OK = 1, "directory listed"
    SCHEDULE_OK = 2, "schedule directory listed"
    FAILED = 3, "invalid directory"
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
