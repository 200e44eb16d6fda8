"""Every client command, written once, as a sans-IO operation.

An operation is a generator that yields either a frame (``bytes``) to send or :data:`RECEIVE`
to ask for the next decoded message, and returns the command's result (or raises). The
blocking and the asyncio clients only pump operations: they do the I/O, the operations do the
protocol. Arguments are validated before the first frame is yielded, so a bad argument never
puts a byte on the wire.

Answer matching (CTI has no request ids): an operation accepts a message only if its command
code is the feedback code of the request, and, where the feedback carries them, its channel
indexes and its transfer identity (download/upload time stamp, chunk index) are the ones the
request asked for. Anything else raises :class:`Mismatch`; the link then stops trusting the
connection (see :mod:`.session`). Nothing is skipped.

Channel numbers here are the 1-based numbers MITS shows; the wire index is ``channel - 1``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..errors import (
    BatchRejected,
    CommandRejected,
    CtiError,
    FileOperationFailed,
    UnexpectedFeedback,
)
from ..protocol import (
    AssignScheduleFeedback,
    AssignScheduleRequest,
    AutoCalibrationFeedback,
    AutoCalibrationRequest,
    AuxOptions,
    BrowseDirectoryFeedback,
    BrowseDirectoryRequest,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    ChannelSelection,
    ChannelTable,
    ConnectFeedback,
    ConnectRequest,
    ContinueFeedback,
    ContinueRequest,
    DeleteFolderFeedback,
    DeleteFolderRequest,
    DirEntry,
    DownloadFileFeedback,
    DownloadFileRequest,
    FileTransferResult,
    GetResumeDataFeedback,
    GetResumeDataRequest,
    GetSerialNumberFeedback,
    GetSerialNumberRequest,
    GetStartDataFeedback,
    GetStartDataRequest,
    JumpFeedback,
    JumpRequest,
    LoginFeedback,
    MetaVariableEntry,
    NewFolderFeedback,
    NewFolderRequest,
    ResultFeedback,
    ResumeData,
    ResumeDataRecord,
    ResumeExEntry,
    ResumeExRequest,
    ResumeFeedback,
    ResumeRequest,
    SendMessageFeedback,
    SendMessageRequest,
    SetMetaVariableFeedback,
    SetMetaVariableRequest,
    StartDataRecord,
    StartExEntry,
    StartExRequest,
    StartFeedback,
    StartRequest,
    StopFeedback,
    StopRequest,
    UpdateMetaVariablesFeedback,
    UpdateMetaVariablesRequest,
    UploadFileFeedback,
    UploadFileRequest,
    encode,
    meta_code_for,
)
from ..protocol.messages import MAX_MV_ENTRIES, Message
from .status import ChannelStatus

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "RECEIVE",
    "Mismatch",
    "Operation",
    "ProgressCallback",
    "Target",
]

log = logging.getLogger("pyctiarbin.client")

T = TypeVar("T")
M = TypeVar("M", bound=Message)


class _Receive:
    __slots__ = ()

    def __repr__(self) -> str:
        return "RECEIVE"


#: Yielded by an operation to ask the pump for the next decoded message.
RECEIVE = _Receive()

OpGen = Generator[bytes | _Receive, Message | None, T]

#: Channels a command addresses: one number, several, or "all" (the string).
Target = int | Iterable[int] | str

#: Upload chunk size; the documents allow chunks up to 512 KB.
DEFAULT_CHUNK_SIZE = 256 * 1024


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    """One command: how to run it and how to treat it when the connection fails.

    ``control`` marks commands that change the cycler's state: once one of their frames has been
    sent, a lost answer makes the outcome unknown and the command is not sent again.
    ``port`` is ``"control"`` (9031) or ``"file"`` (9032).
    """

    name: str
    control: bool
    run: Callable[[LoginFeedback], OpGen[T]]
    port: str = "control"


# --------------------------------------------------------------------------------------------
# Validation


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    return value


def channel_index(channel: Any, num_channels: int, name: str = "channel") -> int:
    """The 0-based wire index of 1-based ``channel``; ValueError if it is not on the cycler."""
    _check_int(name, channel)
    if not 1 <= channel <= num_channels:
        raise ValueError(
            f"{name} {channel} does not exist; this cycler has channels 1..{num_channels}"
        )
    return int(channel) - 1


def channel_indexes(target: Target, num_channels: int) -> list[int]:
    """0-based wire indexes for ``target``: a channel, an iterable of channels, or ``"all"``."""
    if isinstance(target, str):
        if target.lower() != "all":
            raise ValueError(f"channels must be channel numbers or 'all', not {target!r}")
        return list(range(num_channels))
    if isinstance(target, int):
        return [channel_index(target, num_channels)]
    indexes = [channel_index(ch, num_channels, "channel") for ch in target]
    if not indexes:
        raise ValueError("no channel given")
    if len(set(indexes)) != len(indexes):
        raise ValueError("a channel is given more than once")
    return indexes


def _check_finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return float(value)


def _aux_options(aux: bool | int) -> int:
    if aux is True:
        return int(AuxOptions.ALL)
    if aux is False:
        return 0
    return int(AuxOptions(_check_int("aux", aux)))


# --------------------------------------------------------------------------------------------
# Receiving


class Mismatch(CtiError):
    """A message that is not the answer the running operation waits for (another command's or
    another channel's feedback, another transfer's chunk, one answer too many).

    Raised inside an operation; the link closes the connection, because from then on it cannot
    tell which answer belongs to which request, and reports a :class:`CtiConnectionError`.
    """


def expect(cls: type[M]) -> OpGen[M]:
    """Receive the next message; it must be a ``cls`` (else :class:`Mismatch`)."""
    message = yield RECEIVE
    if type(message) is not cls:
        raise Mismatch(f"a {type(message).__name__} arrived while waiting for a {cls.__name__}")
    return message


def _collect_results(
    cls: type[ResultFeedback], indexes: Sequence[int]
) -> OpGen[dict[int, ResultFeedback]]:
    """Collect exactly one result feedback per channel index asked for."""
    pending = set(indexes)
    results: dict[int, ResultFeedback] = {}
    while pending:
        feedback = yield from expect(cls)
        index = feedback.channel_index
        if index not in pending and index == -1 and len(pending) == 1:
            # v1.1 says a success may carry -1 instead of the channel.
            index = next(iter(pending))
        if index not in pending:
            asked = "answered already" if index in results else "not asked for"
            raise Mismatch(f"a {cls.__name__} for channel index {index}, {asked}")
        pending.discard(index)
        results[index] = feedback
    return results


def _all_channels_results(
    cls: type[ResultFeedback], num_channels: int
) -> OpGen[dict[int, ResultFeedback] | ResultFeedback]:
    """The answer to a request sent with the all-channels flag (assign, resume, stop).

    Whether a cycler answers such a request once per channel or once per request is not
    settled (DLL reference, open question 13), so both are accepted, and the count is made
    exact: after the first feedback the operation sends a one-channel status read as a
    barrier. A cycler answers in request order, so every feedback that belongs to the command
    arrives before the barrier's answer. Exactly one feedback means "once per request" (it
    stands for every channel; returned alone); exactly one per channel, each channel once,
    means "once per channel" (returned by index). Any other count raises :class:`Mismatch`:
    the connection is replaced and the outcome is unknown. So no late feedback can be taken
    for a later command's.
    """
    first = yield from expect(cls)
    if not -1 <= first.channel_index < num_channels:
        raise Mismatch(f"a {cls.__name__} for channel index {first.channel_index}")
    if num_channels == 1:
        return first
    yield _channel_info_frame(0, ChannelSelection.ALL, 0)
    received = [first]
    while True:
        message = yield RECEIVE
        if type(message) is ChannelInfoFeedback:
            if not any(record.channel_index == 0 for record in message.channels):
                raise Mismatch("the answer to the barrier read lacks channel index 0")
            break
        if type(message) is not cls:
            raise Mismatch(f"a {type(message).__name__} arrived while waiting for a {cls.__name__}")
        received.append(message)
    if len(received) == 1:
        return first
    indexes = {feedback.channel_index for feedback in received}
    if len(received) != num_channels or indexes != set(range(num_channels)):
        raise Mismatch(
            f"{len(received)} {cls.__name__}s (channel indexes {sorted(indexes)}) for a "
            f"request to all {num_channels} channels; expected 1 or one per channel"
        )
    return {feedback.channel_index: feedback for feedback in received}


def _raise_rejections(command: str, results: Mapping[int, ResultFeedback]) -> None:
    rejections = {
        index + 1: CommandRejected.for_code(command, fb.result, fb.meaning, channel=index + 1)
        for index, fb in results.items()
        if not fb.ok
    }
    if not rejections:
        return
    if len(results) == 1:
        raise next(iter(rejections.values()))
    succeeded = sorted(index + 1 for index, fb in results.items() if fb.ok)
    raise BatchRejected(command, rejections, succeeded)


# --------------------------------------------------------------------------------------------
# Reads


@functools.lru_cache(maxsize=1024)
def _channel_info_frame(index: int, selection: int, options: int) -> bytes:
    # Status polls repeat the same few requests; their frames are encoded once.
    return encode(ChannelInfoRequest(index, selection, options))


def read_channel(channel: int, aux: bool | int = False) -> Operation[ChannelStatus]:
    options = _aux_options(aux)
    if type(channel) is int:  # the usual call: the operation is made once, then reused
        return _read_channel(channel, options)
    return _read_channel.__wrapped__(channel, options)


@functools.lru_cache(maxsize=1024)
def _read_channel(channel: int, options: int) -> Operation[ChannelStatus]:
    def run(info: LoginFeedback) -> OpGen[ChannelStatus]:
        index = channel_index(channel, info.num_channels)
        yield _channel_info_frame(index, ChannelSelection.ALL, options)
        feedback = yield from expect(ChannelInfoFeedback)
        # MITS 10 answers a one-channel request with every channel: pick the one asked for.
        for record in feedback.channels:
            if record.channel_index == index:
                return ChannelStatus.from_record(record)
        raise Mismatch(
            f"a read of channel {channel} was answered with channel indexes "
            f"{[r.channel_index for r in feedback.channels]}, not {index}"
        )

    return Operation("read_channel", False, run)


def read_channels(
    channels: Iterable[int] | None = None,
    selection: int = ChannelSelection.ALL,
    aux: bool | int = False,
) -> Operation[list[ChannelStatus]]:
    read = _read_table(channels, selection, aux)

    def run(info: LoginFeedback) -> OpGen[list[ChannelStatus]]:
        table = yield from read(info)
        return table.records(ChannelStatus)

    return Operation("read_channels", False, run)


def read_channels_columns(
    channels: Iterable[int] | None = None,
    selection: int = ChannelSelection.ALL,
    aux: bool | int = False,
) -> Operation[ChannelTable]:
    return Operation("read_channels_columns", False, _read_table(channels, selection, aux))


def _read_table(
    channels: Iterable[int] | None, selection: int, aux: bool | int
) -> Callable[[LoginFeedback], OpGen[ChannelTable]]:
    """What read_channels and read_channels_columns share: the answer as a table of the
    channels asked for, by channel index."""
    options = _aux_options(aux)
    wanted_channels = None if channels is None else list(channels)
    selection = ChannelSelection(_check_int("selection", selection))

    def run(info: LoginFeedback) -> OpGen[ChannelTable]:
        wanted = (
            None
            if wanted_channels is None
            else set(channel_indexes(wanted_channels, info.num_channels))
        )
        yield _channel_info_frame(-1, selection, options)
        feedback = yield from expect(ChannelInfoFeedback)
        table = feedback.table
        if selection == ChannelSelection.ALL and len(table) == 1 < info.num_channels:
            # Protocol v1.1 servers answer "all channels" with one feedback per channel.
            records = list(feedback.channels)
            while len(records) < info.num_channels:
                more = yield from expect(ChannelInfoFeedback)
                records.extend(more.channels)
            table = ChannelTable.from_records(records)
        seen = table["channel_index"]
        if seen != _all_indexes(len(seen)):  # anything but the usual 0, 1, ..., n - 1
            if len(set(seen)) != len(seen) or not all(0 <= i < info.num_channels for i in seen):
                raise Mismatch(f"a read of all channels was answered with channel indexes {seen}")
            table = table.take(sorted(range(len(seen)), key=seen.__getitem__))
            seen = table["channel_index"]
        elif len(seen) > info.num_channels:
            raise Mismatch(f"a read of all channels was answered with channel indexes {seen}")
        if wanted is not None:
            table = table.take(row for row, index in enumerate(seen) if index in wanted)
            if selection == ChannelSelection.ALL and len(table) != len(wanted):
                missing = sorted(wanted - set(table["channel_index"]))
                raise UnexpectedFeedback(
                    f"the cycler's answer lacks channels {[i + 1 for i in missing]}"
                )
        return table

    return run


@functools.lru_cache(maxsize=64)
def _all_indexes(count: int) -> tuple[int, ...]:
    return tuple(range(count))


def _check_record_indexes(
    command: str, indexes: Sequence[int], records: Sequence[StartDataRecord | ResumeDataRecord]
) -> None:
    answered = sorted(record.channel_index for record in records)
    if answered != sorted(indexes):
        raise Mismatch(f"{command} for channel indexes {list(indexes)} answered for {answered}")


def get_start_data(channels: Target) -> Operation[list[StartDataRecord]]:
    def run(info: LoginFeedback) -> OpGen[list[StartDataRecord]]:
        indexes = channel_indexes(channels, info.num_channels)
        yield encode(GetStartDataRequest(tuple(indexes)))
        feedback = yield from expect(GetStartDataFeedback)
        _check_record_indexes("GET_START_DATA", indexes, feedback.records)
        return list(feedback.records)

    return Operation("get_start_data", False, run)


def get_resume_data(channels: Target) -> Operation[list[ResumeDataRecord]]:
    def run(info: LoginFeedback) -> OpGen[list[ResumeDataRecord]]:
        indexes = channel_indexes(channels, info.num_channels)
        yield encode(GetResumeDataRequest(tuple(indexes)))
        feedback = yield from expect(GetResumeDataFeedback)
        _check_record_indexes("GET_RESUME_DATA", indexes, feedback.records)
        return list(feedback.records)

    return Operation("get_resume_data", False, run)


def serial_number() -> Operation[int]:
    def run(info: LoginFeedback) -> OpGen[int]:
        yield encode(GetSerialNumberRequest())
        feedback = yield from expect(GetSerialNumberFeedback)
        if not feedback.ok:
            raise CommandRejected.for_code("serial_number", feedback.result, feedback.meaning)
        return feedback.serial_number

    return Operation("serial_number", False, run)


# --------------------------------------------------------------------------------------------
# Control


def _per_channel(
    name: str,
    target: Target,
    build: Callable[[list[int], bool], list[Message]],
    feedback_cls: type[ResultFeedback],
    *,
    all_flag: bool = False,
) -> Operation[None]:
    """A control command answered by one result feedback per channel.

    ``all_flag``: ``"all"`` is sent as one request with the all-channels flag, which a cycler
    may answer once per channel or once per request (see :func:`_all_channels_results`).
    """

    def run(info: LoginFeedback) -> OpGen[None]:
        indexes = channel_indexes(target, info.num_channels)
        every = isinstance(target, str)
        frames = [encode(message) for message in build(indexes, every)]
        yield from frames
        if every and all_flag:
            answer = yield from _all_channels_results(feedback_cls, info.num_channels)
            if isinstance(answer, dict):
                _raise_rejections(feedback_cls.COMMAND, answer)
            elif not answer.ok:
                raise CommandRejected.for_code(feedback_cls.COMMAND, answer.result, answer.meaning)
            return
        results = yield from _collect_results(feedback_cls, indexes)
        _raise_rejections(feedback_cls.COMMAND, results)

    return Operation(name, True, run)


def assign_schedule(
    target: Target,
    schedule: str,
    *,
    capacity_ah: float = 0.0,
    barcode: str = "",
    mv_ud: Sequence[float] | None = None,
) -> Operation[None]:
    if not isinstance(schedule, str) or not schedule.strip():
        raise ValueError("schedule must be a non-empty file name, e.g. 'Rest.sdx'")
    capacity = _check_finite("capacity_ah", capacity_ah)
    values = tuple(_check_finite(f"mv_ud[{i}]", v) for i, v in enumerate(mv_ud or (0.0,) * 16))
    if len(values) != 16:
        raise ValueError(f"mv_ud must hold 16 values (MV_UD1..16), not {len(values)}")

    def build(indexes: list[int], every: bool) -> list[Message]:
        if every:
            return [AssignScheduleRequest(-1, True, schedule, capacity, barcode, values)]
        return [
            AssignScheduleRequest(i, False, schedule, capacity, barcode, values) for i in indexes
        ]

    return _per_channel("assign_schedule", target, build, AssignScheduleFeedback, all_flag=True)


def start(target: Target, test_name: str) -> Operation[None]:
    if not isinstance(test_name, str) or not test_name:
        raise ValueError("test_name must be a non-empty string")

    def build(indexes: list[int], every: bool) -> list[Message]:
        return [StartRequest(test_name, tuple(indexes))]

    return _per_channel("start", target, build, StartFeedback)


def start_ex(entries: Sequence[StartExEntry]) -> Operation[None]:
    """START_EX with explicit entries (``channel_index`` in each entry is 0-based)."""
    checked = tuple(entries)
    if not checked or not all(isinstance(e, StartExEntry) for e in checked):
        raise ValueError("start_ex needs one or more StartExEntry")

    def run(info: LoginFeedback) -> OpGen[None]:
        indexes = [channel_index(e.channel_index + 1, info.num_channels) for e in checked]
        yield encode(StartExRequest(checked))
        results = yield from _collect_results(StartFeedback, indexes)
        _raise_rejections("start", results)

    return Operation("start_ex", True, run)


def continue_channels(target: Target) -> Operation[None]:
    def build(indexes: list[int], every: bool) -> list[Message]:
        return [ContinueRequest(tuple(indexes))]

    return _per_channel("continue", target, build, ContinueFeedback)


def resume(target: Target) -> Operation[None]:
    def build(indexes: list[int], every: bool) -> list[Message]:
        if every:
            return [ResumeRequest(0, True)]
        return [ResumeRequest(i, False) for i in indexes]

    return _per_channel("resume", target, build, ResumeFeedback, all_flag=True)


def resume_ex(entries: Sequence[ResumeExEntry]) -> Operation[None]:
    """RESUME_EX with explicit entries (``channel_index`` in each entry is 0-based)."""
    checked = tuple(entries)
    if not checked or not all(isinstance(e, ResumeExEntry) for e in checked):
        raise ValueError("resume_ex needs one or more ResumeExEntry")

    def run(info: LoginFeedback) -> OpGen[None]:
        indexes = [channel_index(e.channel_index + 1, info.num_channels) for e in checked]
        yield encode(ResumeExRequest(checked))
        results = yield from _collect_results(ResumeFeedback, indexes)
        _raise_rejections("resume", results)

    return Operation("resume_ex", True, run)


def stop(target: Target) -> Operation[None]:
    def build(indexes: list[int], every: bool) -> list[Message]:
        if every:
            return [StopRequest(0, True)]
        return [StopRequest(i, False) for i in indexes]

    return _per_channel("stop", target, build, StopFeedback, all_flag=True)


def jump(target: Target, step: int) -> Operation[None]:
    """JUMP to ``step``, the 1-based step number MITS shows.

    The wire field is 0-based, as protocol v1.1 (the one document describing the field) says;
    the ArbinCTI 1.2 method numbers steps from 1 at its API, which is what ``step`` is here.
    """
    _check_int("step", step)
    if step < 1:
        raise ValueError(f"step must be 1 or more, not {step}")

    def build(indexes: list[int], every: bool) -> list[Message]:
        return [JumpRequest(step - 1, i) for i in indexes]

    return _per_channel("jump", target, build, JumpFeedback)


def set_meta_variable(channel: int, variable: int | str, value: float) -> Operation[None]:
    code = meta_code_for(variable)
    number = _check_finite("value", value)

    def build(indexes: list[int], every: bool) -> list[Message]:
        return [SetMetaVariableRequest(indexes[0], 1, int(code), 1, number)]

    if not isinstance(channel, int) or isinstance(channel, bool):
        raise ValueError(f"channel must be an integer, not {channel!r}")
    return _per_channel("set_meta_variable", channel, build, SetMetaVariableFeedback)


MvValues = Mapping[int, Mapping[int | str, float]] | Iterable[tuple[int, int | str, float]]


def set_meta_variables(values: MvValues) -> Operation[None]:
    """UPDATE_MV_ADVANCED: many meta variables on many channels in one request.

    ``values`` is ``{channel: {variable: value}}`` or an iterable of ``(channel, variable,
    value)``; at most 160 values.
    """
    triples: list[tuple[int, int | str, float]] = []
    if isinstance(values, Mapping):
        for ch, per_channel in values.items():
            for var, val in per_channel.items():
                triples.append((ch, var, val))
    else:
        triples = [tuple(item) for item in values]  # type: ignore[misc]
    if not triples:
        raise ValueError("no meta variable given")
    if len(triples) > MAX_MV_ENTRIES:
        raise ValueError(
            f"{len(triples)} meta variables; one request holds at most {MAX_MV_ENTRIES}"
        )
    prepared = [
        (ch, int(meta_code_for(var)), _check_finite(f"value for channel {ch} {var}", val))
        for ch, var, val in triples
    ]

    def run(info: LoginFeedback) -> OpGen[None]:
        entries = tuple(
            MetaVariableEntry(channel_index(ch, info.num_channels), code, val)
            for ch, code, val in prepared
        )
        yield encode(UpdateMetaVariablesRequest(entries=entries))
        feedback = yield from expect(UpdateMetaVariablesFeedback)
        if feedback.channel_index not in {-1, *(entry.channel_index for entry in entries)}:
            raise Mismatch(
                f"an UpdateMetaVariablesFeedback for channel index {feedback.channel_index}, "
                "not asked for"
            )
        if not feedback.ok:
            channel = feedback.channel_index + 1 if feedback.channel_index >= 0 else None
            raise CommandRejected.for_code(
                "update_meta_variables", feedback.result, feedback.meaning, channel=channel
            )

    return Operation("set_meta_variables", True, run)


def set_kick_out(flag: int) -> Operation[bool]:
    """CONNECT: set the kick-out flag; returns whether the server accepted the connection."""
    _check_int("flag", flag)

    def run(info: LoginFeedback) -> OpGen[bool]:
        yield encode(ConnectRequest(flag))
        feedback = yield from expect(ConnectFeedback)
        if feedback.set_kick_out != flag:
            raise Mismatch(f"a ConnectFeedback for flag {feedback.set_kick_out}, not {flag}")
        return feedback.ok

    return Operation("set_kick_out", True, run)


def send_message(text: str) -> Operation[None]:
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string")

    def run(info: LoginFeedback) -> OpGen[None]:
        yield encode(SendMessageRequest(text))
        feedback = yield from expect(SendMessageFeedback)
        if not feedback.ok:
            raise CommandRejected.for_code("send_message", feedback.result, feedback.meaning)

    return Operation("send_message", True, run)


def start_auto_calibration() -> Operation[None]:
    def run(info: LoginFeedback) -> OpGen[None]:
        yield encode(AutoCalibrationRequest())
        feedback = yield from expect(AutoCalibrationFeedback)
        if not feedback.ok:
            raise CommandRejected.for_code(
                "start_auto_calibration", feedback.result, feedback.meaning
            )

    return Operation("start_auto_calibration", True, run)


# --------------------------------------------------------------------------------------------
# Files (port 9032)


def _check_path(path: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(path, str) or not (path or allow_empty):
        raise ValueError(f"path must be a non-empty string, not {path!r}")
    return path


def browse(path: str = "") -> Operation[list[DirEntry]]:
    """List ``path`` ("" is the top of the cycler's file area)."""
    _check_path(path, allow_empty=True)

    def run(info: LoginFeedback) -> OpGen[list[DirEntry]]:
        yield encode(BrowseDirectoryRequest(path))
        feedback = yield from expect(BrowseDirectoryFeedback)
        if not feedback.ok:
            raise FileOperationFailed("browse", feedback.result, f"{feedback.meaning}: {path}")
        return list(feedback.listing)  # result 3 lists schedule names, not 200-byte entries

    return Operation("browse", False, run, "file")


#: ``progress(chunks_done, chunk_count, bytes_done)``, called after each file chunk.
ProgressCallback = Callable[[int, int, int], None]


def download(path: str, progress: ProgressCallback | None = None) -> Operation[bytes]:
    _check_path(path)

    def run(info: LoginFeedback) -> OpGen[bytes]:
        stamp = time.time()
        yield encode(DownloadFileRequest(path, stamp))
        chunks: list[bytes] = []
        count = 0
        while True:
            feedback = yield from expect(DownloadFileFeedback)
            # The echoed time stamp is the transfer's identity: a chunk of another download
            # (a late one, or one left over) must never be spliced into this file.
            if feedback.download_time != stamp:
                raise Mismatch(
                    f"a chunk of another download (time stamp {feedback.download_time!r}, "
                    f"not {stamp!r}) arrived during the download of {path}"
                )
            if feedback.ok and feedback.package_index != len(chunks):
                raise Mismatch(
                    f"chunk {feedback.package_index} of {path} arrived, expected {len(chunks)}"
                )
            if feedback.ok and chunks and feedback.package_count != count:
                raise Mismatch(
                    f"chunk {feedback.package_index} of {path} says {feedback.package_count} "
                    f"chunks, the first said {count}"
                )
            count = feedback.package_count
            if not feedback.ok:
                raise FileOperationFailed(
                    "download", feedback.result, f"{feedback.meaning}: {path}"
                )
            if hashlib.md5(feedback.data).digest() != feedback.md5:
                raise FileOperationFailed(
                    "download",
                    FileTransferResult.MD5_ERROR,
                    f"MD5 of chunk {feedback.package_index} of {path} does not match",
                )
            chunks.append(feedback.data)
            if progress is not None:
                progress(len(chunks), feedback.package_count, sum(map(len, chunks)))
            if len(chunks) >= feedback.package_count:
                return b"".join(chunks)

    return Operation("download", False, run, "file")


def upload(
    path: str,
    data: bytes,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: ProgressCallback | None = None,
) -> Operation[None]:
    _check_path(path)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError("data must be bytes")
    _check_int("chunk_size", chunk_size)
    if not 1 <= chunk_size <= 512 * 1024:
        raise ValueError("chunk_size must be between 1 and 524288 bytes")
    payload = bytes(data)

    def run(info: LoginFeedback) -> OpGen[None]:
        stamp = time.time()
        chunks = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] or [b""]
        for index, chunk in enumerate(chunks):
            yield encode(
                UploadFileRequest(
                    path, len(chunks), index, stamp, hashlib.md5(chunk).digest(), chunk
                )
            )
            feedback = yield from expect(UploadFileFeedback)
            if feedback.upload_time != stamp or feedback.package_index != index:
                raise Mismatch(
                    f"an upload answer for time stamp {feedback.upload_time!r} chunk "
                    f"{feedback.package_index} arrived, expected {stamp!r} chunk {index}"
                )
            if not feedback.ok:
                raise FileOperationFailed(
                    "upload", feedback.result, f"{feedback.meaning}: {path} (chunk {index})"
                )
            if progress is not None:
                progress(index + 1, len(chunks), min((index + 1) * chunk_size, len(payload)))

    return Operation("upload", True, run, "file")


def make_dir(path: str) -> Operation[None]:
    _check_path(path)

    def run(info: LoginFeedback) -> OpGen[None]:
        yield encode(NewFolderRequest(path))
        feedback = yield from expect(NewFolderFeedback)
        if not feedback.ok:
            raise FileOperationFailed("make_dir", feedback.result, f"{feedback.meaning}: {path}")

    return Operation("make_dir", True, run, "file")


def delete(path: str) -> Operation[None]:
    _check_path(path)

    def run(info: LoginFeedback) -> OpGen[None]:
        yield encode(DeleteFolderRequest(path))
        feedback = yield from expect(DeleteFolderFeedback)
        if not feedback.ok:
            raise FileOperationFailed("delete", feedback.result, f"{feedback.meaning}: {path}")

    return Operation("delete", True, run, "file")


def start_ex_entry(
    channel: int,
    test_name: str,
    schedule: str,
    *,
    step: int = 1,
    creator: str = "",
    comment: str = "",
    resume_data: ResumeData | None = None,
) -> StartExEntry:
    """Build a START_EX entry from a 1-based channel number and a 1-based first step.

    On the wire both are 0-based (``channel_index``, ``select_step``).
    """
    index = _check_int("channel", channel) - 1
    if index < 0:
        raise ValueError(f"channel must be 1 or more, not {channel}")
    if _check_int("step", step) < 1:
        raise ValueError(f"step must be 1 or more, not {step}")
    return StartExEntry(
        index, test_name, schedule, creator, comment, step - 1, resume_data or ResumeData()
    )


def resume_ex_entry(
    channel: int,
    test_name: str,
    schedule: str,
    *,
    step: int = 1,
    resume_data: ResumeData | None = None,
) -> ResumeExEntry:
    """Build a RESUME_EX entry from a 1-based channel number and a 1-based step."""
    index = _check_int("channel", channel) - 1
    if index < 0:
        raise ValueError(f"channel must be 1 or more, not {channel}")
    if _check_int("step", step) < 1:
        raise ValueError(f"step must be 1 or more, not {step}")
    return ResumeExEntry(index, test_name, schedule, step - 1, resume_data or ResumeData())
