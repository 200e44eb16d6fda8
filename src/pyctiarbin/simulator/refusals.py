"""Why the simulator refuses a request, and the failure reply each command answers with.

A refused request (wrong port, not logged in, no control permission) and a request whose
handler crashes are both answered with the command's documented failure code: never with
silence, and never by closing the connection. Each builder here reads only what it needs of the
request, by ``getattr``: a request that could not be decoded arrives as None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..protocol import (
    AssignFileResult,
    DataLogIntervalResult,
    FileResult,
    FileTransferResult,
    GetMetaVariableResult,
    StartDataResult,
    StartResult,
    TimeSensitiveResult,
    UpdateMetaVariableResult,
)
from ..protocol import messages as m
from .connection import Reply

__all__ = [
    "HANDLER_ERROR",
    "NOT_LOGGED_IN",
    "NO_CONTROL",
    "WRONG_PORT",
    "Refuse",
    "wire_i32",
]

# Why a request is refused instead of served.
NOT_LOGGED_IN = "not logged in"
NO_CONTROL = "user may not control"
WRONG_PORT = "wrong port"
HANDLER_ERROR = "handler error"

#: Builds the failure replies of a request (maybe None: undecodable) refused for a reason.
Refuse = Callable[[Any, str], list[Reply]]


def wire_i32(value: int) -> int:
    """``value`` as the signed 32-bit channel index a feedback carries (0xFFFFFFFF is -1)."""
    value &= 0xFFFFFFFF
    return value - 0x1_0000_0000 if value & 0x8000_0000 else value


def per_channel(feedback: type[m.ResultFeedback], refused: int, error: int | None = None) -> Refuse:
    """One R128 ``feedback`` per channel of the request, with ``refused`` (``error`` instead
    when the handler crashed and the command documents a code for that)."""

    def refuse(request: Any, why: str) -> list[Reply]:
        code = error if (why == HANDLER_ERROR and error is not None) else refused
        return [
            feedback(channel_index=wire_i32(index), result=code)
            for index in _request_channels(request)
        ]

    return refuse


def single(make: Callable[[Any, str], Reply]) -> Refuse:
    """One failure reply, made by ``make(request, why)``."""
    return lambda request, why: [make(request, why)]


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


def _indexes(request: Any) -> Sequence[int]:
    return getattr(request, "channel_indexes", None) or ()


def download_failed(request: Any, why: str = "") -> Reply:
    """DOWNLOAD result 2."""
    # The time stamp identifies the transfer: it is echoed as sent, even a NaN (STAMP field).
    return m.DownloadFileFeedback(
        result=FileTransferResult.FAILED,
        package_count=0,
        download_time=getattr(request, "download_time", 0.0),
    )


def upload_failed(request: Any, why: str = "") -> Reply:
    """UPLOAD result 2, echoing the transfer's time stamp and package numbers."""
    return m.UploadFileFeedback(
        result=FileTransferResult.FAILED,
        upload_time=getattr(request, "upload_time", 0.0),
        package_count=getattr(request, "package_count", 0),
        package_index=getattr(request, "package_index", 0),
    )


def start_data_failed(request: Any, why: str) -> Reply:
    """GET_START_DATA: one failed record per channel asked."""
    # An empty list would read as "no channel asked".
    code = StartDataResult.TEST_NAME_QUERY_FAILED
    return m.GetStartDataFeedback(
        records=tuple(
            m.StartDataRecord(channel_index=i, channel_code=code) for i in _indexes(request)
        )
    )


def resume_data_failed(request: Any, why: str) -> Reply:
    """GET_RESUME_DATA: one failed record per channel asked."""
    code = StartDataResult.RESUME_TABLE_READ_FAILED
    return m.GetResumeDataFeedback(
        records=tuple(
            m.ResumeDataRecord(channel_index=i, channel_code=code) for i in _indexes(request)
        )
    )


def mv_records_failed(feedback: Any, record: Any) -> Callable[[Any, str], Reply]:
    """GET_RESUME_DATA_VLS / _BY_MV: one failed ``record`` per channel asked."""
    code = StartDataResult.RESUME_TABLE_READ_FAILED

    def make(request: Any, why: str) -> Reply:
        reply: Reply = feedback(
            records=tuple(record(channel_index=i, channel_code=code) for i in _indexes(request))
        )
        return reply

    return make


def get_mvs_failed(request: Any, why: str) -> Reply:
    """GET_MV: every query answered with the reading error."""
    queries = getattr(request, "queries", None) or ()
    values = tuple(
        m.MetaVariableQuery(q.channel_index, GetMetaVariableResult.ERROR, q.data_type, q.meta_code)
        for q in queries
    )
    if getattr(request, "is_minimalist", False):
        return m.MinimalistFeedback(values)
    return m.GetMetaVariablesFeedback(values)


def update_mvs_ex_failed(request: Any, why: str) -> Reply:
    """UPDATE_MV_ADVANCED_EX: every entry answered as failed."""
    entries = getattr(request, "entries", None) or ()
    failed = UpdateMetaVariableResult.FAILED
    return m.UpdateMetaVariablesExFeedback(
        tuple(
            m.MetaVariableExEntry(e.channel_index, e.meta_code, e.data_type, failed, e.value)
            for e in entries
        )
    )


def time_sensitive_failed(request: Any, why: str) -> Reply:
    """SPECIAL_SET_MV: every entry refused (a permission refusal says so)."""
    entries = getattr(request, "entries", None) or ()
    result = (
        TimeSensitiveResult.NOT_ALLOWED_TO_CONTROL
        if why == NO_CONTROL
        else TimeSensitiveResult.ERROR
    )
    return m.TimeSensitiveSetMvFeedback(
        tuple(m.TimeSensitiveResultEntry(e.channel_index, result=result) for e in entries)
    )


def barcodes_failed(feedback: Any, code: int) -> Callable[[Any, str], Reply]:
    """GET_BARCODE / ASSIGN_BARCODE: every item answered with ``code``."""

    def make(request: Any, why: str) -> Reply:
        items = getattr(request, "entries", None) or getattr(request, "queries", None) or ()
        reply: Reply = feedback(
            getattr(request, "channel_type", 1),
            tuple(m.BarcodeEntry(item.channel_index, code) for item in items),
        )
        return reply

    return make


def json_task_failed(feedback: Any, key: str) -> Callable[[Any, str], Reply]:
    """A JSON task command refused: its task id echoed, an empty ``key`` list and an error."""

    def make(request: Any, why: str) -> Reply:
        content = getattr(request, "content", None) or {}
        task = content.get("TaskID") if isinstance(content, dict) else None
        reply: Reply = feedback({"TaskID": task, key: [], "Error": "refused"})
        return reply

    return make


def start_advanced_failed(request: Any, why: str) -> Reply:
    """START_ADVANCED: every channel asked in the failed list, with the reason."""
    content = getattr(request, "content", None)
    content = content if isinstance(content, dict) else {}
    failed = [
        {
            "ChannelIndex": c.get("ChannelIndex"),
            "StartResult": int(StartResult.ERROR),
            "Message": why,
        }
        for c in content.get("Channels", [])
        if isinstance(c, dict)
    ]
    return m.StartAdvancedFeedback(
        {"TaskID": content.get("TaskID"), "SuccessfulChannelIDs": [], "FailedResults": failed}
    )


def assign_file_failed(request: Any, why: str) -> Reply:
    """ASSIGN_FILE: every channel asked failed, with the reason."""
    return m.AssignFileFeedback(
        reason=why,
        results=tuple(m.ChannelResult(i, AssignFileResult.FAILED) for i in _indexes(request)),
    )


def new_or_delete_failed(request: Any, why: str) -> Reply:
    """NEW_OR_DELETE: the failure of what was asked (1 = new, else delete)."""
    new = getattr(request, "kind", 0) == 1
    return m.NewOrDeleteFeedback(result=FileResult.NEW_FAILED if new else FileResult.DELETE_FAILED)


def data_log_interval_failed(request: Any, why: str) -> Reply:
    """SET_INTERVALTIME_LOGDATA result 2, with the reason."""
    return m.SetDataLogIntervalFeedback(result=DataLogIntervalResult.FAILED, reason=why)


def fixed(feedback: Any, *args: Any, **fields: Any) -> Refuse:
    """One ``feedback(*args, **fields)``, whatever the request."""
    return lambda request, why: [feedback(*args, **fields)]
