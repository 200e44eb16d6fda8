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
import itertools
import logging
import math
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from ..errors import (
    BatchRejected,
    CommandRejected,
    CtiError,
    FileOperationFailed,
    ProtocolError,
    UnexpectedFeedback,
    UnsupportedCommand,
)
from ..protocol import (
    AuxChannelType,
    AuxOptions,
    BarcodeChannelType,
    ChannelSelection,
    CommandCode,
    FileKind,
    FileTransferResult,
    GetMetaVariableResult,
    MachineType,
    ModifyScheduleResult,
    MvDataType,
    ServerVersion,
    StartResult,
    TrayResult,
    encode,
    meta_code_for,
)
from ..protocol import messages as m
from ..protocol.messages import MAX_MV_ENTRIES, Message
from ..protocol.variants import channel_record_from_json, mv_list, resume_data_from_mv_list
from .status import ChannelStatus

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "PV_CODES",
    "RECEIVE",
    "FileCheck",
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

    ``exchange``, where given, says the same as ``run`` in a form a link can carry out without
    running a script: for a server it returns an :data:`Exchange` (one request, answered by one
    feedback), or None where the operation takes more than that there. ``run`` must then be
    :func:`one_exchange` of it, so both forms mean the same.
    """

    name: str
    control: bool
    run: Callable[[m.LoginFeedback], OpGen[T]]
    port: str = "control"
    exchange: Callable[[m.LoginFeedback], Exchange[T] | None] | None = None


#: An operation that is one request answered by one message: the request's frame, the class the
#: answer must be, and what turns the answer into the result (raising :class:`Mismatch` if the
#: answer does not belong to the request).
Exchange: TypeAlias = "tuple[bytes, type[Message], Callable[[Any], T]]"


def one_exchange(
    exchange: Callable[[m.LoginFeedback], Exchange[T] | None],
    otherwise: Callable[[m.LoginFeedback], OpGen[T]],
) -> Callable[[m.LoginFeedback], OpGen[T]]:
    """The script of an operation that is ``exchange`` where it says so, else ``otherwise``."""

    def run(info: m.LoginFeedback) -> OpGen[T]:
        step = exchange(info)
        if step is None:
            return (yield from otherwise(info))
        frame, answer, finish = step
        yield frame
        return finish((yield from expect(answer)))

    return run


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

    @classmethod
    def instead_of(cls, message: object, awaited: type) -> Mismatch:
        """A ``message`` of another class arrived while an ``awaited`` was waited for."""
        return cls(f"a {type(message).__name__} arrived while waiting for a {awaited.__name__}")


def expect(cls: type[M]) -> OpGen[M]:
    """Receive the next message; it must be a ``cls`` (else :class:`Mismatch`)."""
    message = yield RECEIVE
    if type(message) is not cls:
        raise Mismatch.instead_of(message, cls)
    return message


def _collect_results(
    cls: type[m.ResultFeedback],
    indexes: Sequence[int],
    also: type[m.ResultFeedback] | None = None,
) -> OpGen[dict[int, m.ResultFeedback]]:
    """Collect exactly one result feedback per channel index asked for (a ``cls``, or an
    ``also`` where a command may be answered with either)."""
    pending = set(indexes)
    results: dict[int, m.ResultFeedback] = {}
    while pending:
        if also is None:
            feedback = yield from expect(cls)
        else:
            message = yield RECEIVE
            if type(message) is not cls and type(message) is not also:
                raise Mismatch.instead_of(message, cls)
            feedback = message
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
    cls: type[m.ResultFeedback], num_channels: int
) -> OpGen[dict[int, m.ResultFeedback] | m.ResultFeedback]:
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
        if type(message) is m.ChannelInfoFeedback:
            if not any(record.channel_index == 0 for record in message.channels):
                raise Mismatch("the answer to the barrier read lacks channel index 0")
            break
        if type(message) is not cls:
            raise Mismatch.instead_of(message, cls)
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


def _raise_rejections(command: str, results: Mapping[int, m.ResultFeedback]) -> None:
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


@functools.lru_cache(maxsize=64)
def _channel_variant(version: int) -> int:
    """The channel-data request code Arbin's client sends to server ``version`` (2.2)."""
    return int(ServerVersion(version).channel_info_code)


def _version(info: m.LoginFeedback) -> ServerVersion:
    return ServerVersion(info.version)


def _variant_records(
    code: int, index: int, selection: int, options: int
) -> OpGen[list[m.ChannelRecord]]:
    """Channel records read with the VLS or the JSON channel-data request."""
    if code == CommandCode.GET_CHANNELS_INFO_VLS:
        yield encode(m.ChannelInfoVlsRequest(index, selection, options))
        vls = yield from expect(m.ChannelInfoVlsFeedback)
        return [record.to_channel_record() for record in vls.channels]
    yield encode(
        m.ChannelInfoJsonRequest(
            {"NeedType": options, "ChannelIndex": index, "FilterMonitorChannelType": selection}
        )
    )
    feedback = yield from expect(m.ChannelInfoJsonFeedback)
    items = feedback.content.get("m_Channels")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ProtocolError("a JSON channel-data feedback without an 'm_Channels' list of objects")
    try:
        return [channel_record_from_json(item) for item in items]
    except ValueError as exc:
        raise ProtocolError(f"a JSON channel-data feedback: {exc}") from exc


@functools.lru_cache(maxsize=1024)
def _channel_info_frame(index: int, selection: int, options: int) -> bytes:
    # Status polls repeat the same few requests; their frames are encoded once.
    return encode(m.ChannelInfoRequest(index, selection, options))


def read_channel(channel: int, aux: bool | int = False) -> Operation[ChannelStatus]:
    if aux is False and type(channel) is int:  # a status poll: its operation is reused
        op = _PLAIN_READS.get(channel)
        if op is not None:
            return op
    options = 0 if aux is False else _aux_options(aux)
    if type(channel) is not int:
        return _read_channel.__wrapped__(int(_check_int("channel", channel)), options)
    op = _read_channel(channel, options)
    if not options and len(_PLAIN_READS) < 1024:
        _PLAIN_READS[channel] = op
    return op


# The operations of plain one-channel reads, by channel: a poll finds its own at the cost of
# one dictionary lookup.
_PLAIN_READS: dict[int, Operation[ChannelStatus]] = {}


# The hot path of a status poll compares with these: an enum member costs an attribute lookup.
_LEGACY_CHANNEL_INFO = int(CommandCode.GET_CHANNELS_INFO)
_SELECT_ALL = int(ChannelSelection.ALL)


@functools.lru_cache(maxsize=1024)
def _read_channel(channel: int, options: int) -> Operation[ChannelStatus]:
    index = channel - 1  # once channel_index has found the channel on the cycler

    def status_in(feedback: m.ChannelInfoFeedback) -> ChannelStatus:
        # MITS 10 answers a one-channel request with every channel: pick the one asked for.
        records = feedback.channels
        for record in records:
            if record.channel_index == index:
                return m.record_as(ChannelStatus, record)
        raise Mismatch(
            f"a read of channel {channel} was answered with channel indexes "
            f"{[r.channel_index for r in records]}, not {index}"
        )

    # A poll repeats the read on the same connection: its exchange is made once per login.
    # (The operation is shared by every client; the pair is read and replaced whole.)
    made: list[tuple[m.LoginFeedback | None, Exchange[ChannelStatus] | None]] = [(None, None)]

    def exchange(info: m.LoginFeedback) -> Exchange[ChannelStatus] | None:
        made_for, step = made[0]
        if made_for is info:
            return step
        channel_index(channel, info.num_channels)
        step = None
        if _channel_variant(info.version) == _LEGACY_CHANNEL_INFO:
            frame = _channel_info_frame(index, _SELECT_ALL, options)
            step = (frame, m.ChannelInfoFeedback, status_in)
        made[0] = (info, step)
        return step

    def variant(info: m.LoginFeedback) -> OpGen[ChannelStatus]:
        code = _channel_variant(info.version)
        records = yield from _variant_records(code, index, ChannelSelection.ALL, options)
        return status_in(m.ChannelInfoFeedback(tuple(records)))

    return Operation("read_channel", False, one_exchange(exchange, variant), exchange=exchange)


def read_channels(
    channels: Iterable[int] | None = None,
    selection: int = ChannelSelection.ALL,
    aux: bool | int = False,
) -> Operation[list[ChannelStatus]]:
    read = _read_table(channels, selection, aux)

    def run(info: m.LoginFeedback) -> OpGen[list[ChannelStatus]]:
        table = yield from read(info)
        return table.records(ChannelStatus)

    return Operation("read_channels", False, run)


def read_channels_columns(
    channels: Iterable[int] | None = None,
    selection: int = ChannelSelection.ALL,
    aux: bool | int = False,
) -> Operation[m.ChannelTable]:
    return Operation("read_channels_columns", False, _read_table(channels, selection, aux))


def _read_table(
    channels: Iterable[int] | None, selection: int, aux: bool | int
) -> Callable[[m.LoginFeedback], OpGen[m.ChannelTable]]:
    """What read_channels and read_channels_columns share: the answer as a table of the
    channels asked for, by channel index."""
    options = _aux_options(aux)
    wanted_channels = None if channels is None else list(channels)
    selection = ChannelSelection(_check_int("selection", selection))

    def run(info: m.LoginFeedback) -> OpGen[m.ChannelTable]:
        wanted = (
            None
            if wanted_channels is None
            else set(channel_indexes(wanted_channels, info.num_channels))
        )
        variant = _channel_variant(info.version)
        if variant != CommandCode.GET_CHANNELS_INFO:
            records = yield from _variant_records(variant, -1, selection, options)
            table = m.ChannelTable.from_records(records)
        else:
            yield _channel_info_frame(-1, selection, options)
            feedback = yield from expect(m.ChannelInfoFeedback)
            table = feedback.table
            if selection == ChannelSelection.ALL and len(table) == 1 < info.num_channels:
                # Protocol v1.1 servers answer "all channels" with one feedback per channel.
                records = list(feedback.channels)
                while len(records) < info.num_channels:
                    more = yield from expect(m.ChannelInfoFeedback)
                    records.extend(more.channels)
                table = m.ChannelTable.from_records(records)
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
    command: str, indexes: Sequence[int], records: Sequence[m.StartDataRecord | m.ResumeDataRecord]
) -> None:
    answered = sorted(record.channel_index for record in records)
    if answered != sorted(indexes):
        raise Mismatch(f"{command} for channel indexes {list(indexes)} answered for {answered}")


def get_start_data(channels: Target) -> Operation[list[m.StartDataRecord]]:
    """GET_START_DATA for the channels."""

    def run(info: m.LoginFeedback) -> OpGen[list[m.StartDataRecord]]:
        indexes = channel_indexes(channels, info.num_channels)
        yield encode(m.GetStartDataRequest(tuple(indexes)))
        feedback = yield from expect(m.GetStartDataFeedback)
        _check_record_indexes("GET_START_DATA", indexes, feedback.records)
        return list(feedback.records)

    return Operation("get_start_data", False, run)


def get_resume_data(channels: Target) -> Operation[list[m.ResumeDataRecord]]:
    """GET_RESUME_DATA, or its resume-by-MV or VLS variant as the server version asks (2.2);
    the variants' MV lists are returned as :class:`ResumeData` (the step labels, the test id
    and counters 5..8 of the MV list are not carried)."""

    def run(info: m.LoginFeedback) -> OpGen[list[m.ResumeDataRecord]]:
        indexes = channel_indexes(channels, info.num_channels)
        code = _version(info).resume_data_code
        if code == CommandCode.GET_RESUME_DATA:
            yield encode(m.GetResumeDataRequest(tuple(indexes)))
            feedback = yield from expect(m.GetResumeDataFeedback)
            records = list(feedback.records)
        else:
            if code == CommandCode.GET_RESUME_DATA_VLS:
                yield encode(m.GetResumeDataVlsRequest(tuple(indexes)))
                variant: Any = yield from expect(m.GetResumeDataVlsFeedback)
            else:
                yield encode(m.GetResumeDataByMvRequest(tuple(indexes)))
                variant = yield from expect(m.GetResumeDataByMvFeedback)
            records = []
            for record in variant.records:
                data, _step = resume_data_from_mv_list(record.dwords, record.qwords)
                records.append(
                    m.ResumeDataRecord(
                        channel_index=record.channel_index,
                        channel_code=record.channel_code,
                        test_name=record.test_name,
                        schedule=record.schedule,
                        creator=record.creator,
                        comment=record.comment,
                        start_time=record.start_time,
                        resume_data=data,
                        steps=record.steps,
                    )
                )
        _check_record_indexes("GET_RESUME_DATA", indexes, records)
        return records

    return Operation("get_resume_data", False, run)


def _query(name: str, request: Message, answer: type[M], result: Callable[[M], T]) -> Operation[T]:
    """A read of one request and one answer; returns ``result(answer)``. Raises
    CommandRejected when the answer carries a refusal (its ``ok`` is false)."""

    def run(info: m.LoginFeedback) -> OpGen[T]:
        yield encode(request)
        feedback: Any = yield from expect(answer)
        if not getattr(feedback, "ok", True):
            raise CommandRejected.for_code(name, feedback.result, feedback.meaning)
        return result(feedback)

    return Operation(name, False, run)


def serial_number() -> Operation[int]:
    """GET_SERIAL: the cycler's serial number (MITS Pro 8)."""
    request, answer = m.GetSerialNumberRequest(), m.GetSerialNumberFeedback
    return _query("serial_number", request, answer, lambda got: got.serial_number)


# --------------------------------------------------------------------------------------------
# Control


#: Builds a command's requests from the wire indexes it addresses and whether that is "all".
_RequestBuilder = Callable[[list[int], bool], list[Message]]


def _per_channel(
    name: str,
    target: Target,
    build: _RequestBuilder,
    feedback_cls: type[m.ResultFeedback],
    *,
    all_flag: bool = False,
) -> Operation[None]:
    """A control command answered by one result feedback per channel.

    ``all_flag``: ``"all"`` is sent as one request with the all-channels flag, which a cycler
    may answer once per channel or once per request (see :func:`_all_channels_results`).
    """

    def run(info: m.LoginFeedback) -> OpGen[None]:
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
    channels: Target,
    schedule: str,
    *,
    capacity_ah: float = 0.0,
    barcode: str = "",
    mv_ud: Sequence[float] | None = None,
) -> Operation[None]:
    """Assign ``schedule`` (e.g. ``"CCCV_Charge.sdx"``) to a channel, several, or ``"all"``."""
    if not isinstance(schedule, str) or not schedule.strip():
        raise ValueError("schedule must be a non-empty file name, e.g. 'Rest.sdx'")
    capacity = _check_finite("capacity_ah", capacity_ah)
    values = tuple(_check_finite(f"mv_ud[{i}]", v) for i, v in enumerate(mv_ud or (0.0,) * 16))
    if len(values) != 16:
        raise ValueError(f"mv_ud must hold 16 values (MV_UD1..16), not {len(values)}")

    def build(indexes: list[int], every: bool) -> list[Message]:
        if every:
            return [m.AssignScheduleRequest(-1, True, schedule, capacity, barcode, values)]
        return [
            m.AssignScheduleRequest(i, False, schedule, capacity, barcode, values) for i in indexes
        ]

    return _per_channel("assign_schedule", channels, build, m.AssignScheduleFeedback, all_flag=True)


def start(channels: Target, test_name: str) -> Operation[None]:
    """Start the assigned schedule on the channels (or ``"all"``), naming the test
    ``test_name``: SCHEDULE_START, or SCHEDULE_START_VLS for a VLS server (2.2)."""
    if not isinstance(test_name, str) or not test_name:
        raise ValueError("test_name must be a non-empty string")

    def run(info: m.LoginFeedback) -> OpGen[None]:
        indexes = tuple(channel_indexes(channels, info.num_channels))
        feedback_cls: type[m.ResultFeedback]
        if _version(info).uses_vls:
            yield encode(m.StartVlsRequest(test_name, indexes))
            feedback_cls = m.StartVlsFeedback
        else:
            yield encode(m.StartRequest(test_name, indexes))
            feedback_cls = m.StartFeedback
        results = yield from _collect_results(feedback_cls, indexes)
        _raise_rejections("start", results)

    return Operation("start", True, run)


def _vls_entry(entry: m.StartExEntry | m.ResumeExEntry) -> m.VlsExEntry:
    dwords, qwords = mv_list(entry.resume_data, entry.select_step)
    return m.VlsExEntry(
        channel_index=entry.channel_index,
        test_id=0,
        dwords=dwords,
        qwords=qwords,
        test_name=entry.test_name,
        schedule=entry.schedule,
    )


def start_ex(entries: Sequence[m.StartExEntry]) -> Operation[None]:
    """START_EX with explicit entries (``channel_index`` in each entry is 0-based); a VLS
    server is sent START_EX_VLS, whose one creator and comment are the first entry's."""
    checked = tuple(entries)
    if not checked or not all(isinstance(e, m.StartExEntry) for e in checked):
        raise ValueError("start_ex needs one or more StartExEntry")

    def run(info: m.LoginFeedback) -> OpGen[None]:
        indexes = [channel_index(e.channel_index + 1, info.num_channels) for e in checked]
        feedback_cls: type[m.ResultFeedback] = m.StartFeedback
        if _version(info).uses_vls:
            first = checked[0]
            vls = tuple(_vls_entry(entry) for entry in checked)
            yield encode(
                m.StartExVlsRequest(creator=first.creator, comment=first.comment, entries=vls)
            )
            feedback_cls = m.StartExVlsFeedback
        else:
            yield encode(m.StartExRequest(checked))
        results = yield from _collect_results(feedback_cls, indexes)
        _raise_rejections("start", results)

    return Operation("start_ex", True, run)


def continue_channels(channels: Target) -> Operation[None]:
    """CONTINUE paused channels."""

    def build(indexes: list[int], every: bool) -> list[Message]:
        return [m.ContinueRequest(tuple(indexes))]

    return _per_channel("continue", channels, build, m.ContinueFeedback)


def _one_or_all(request: Callable[[int, bool], Message]) -> _RequestBuilder:
    """The requests of a command that has an all-channels flag: one with the flag set for
    every channel, else one per channel."""

    def build(indexes: list[int], every: bool) -> list[Message]:
        return [request(0, True)] if every else [request(i, False) for i in indexes]

    return build


def resume(channels: Target) -> Operation[None]:
    """RESUME stopped tests on the channels (or ``"all"``)."""
    return _per_channel(
        "resume", channels, _one_or_all(m.ResumeRequest), m.ResumeFeedback, all_flag=True
    )


def resume_ex(entries: Sequence[m.ResumeExEntry]) -> Operation[None]:
    """RESUME_EX with explicit entries (``channel_index`` in each entry is 0-based); a VLS
    server is sent RESUME_EX_VLS, MitsX_1/2/SPTT RESUME_BY_MV (2.2)."""
    checked = tuple(entries)
    if not checked or not all(isinstance(e, m.ResumeExEntry) for e in checked):
        raise ValueError("resume_ex needs one or more ResumeExEntry")

    def run(info: m.LoginFeedback) -> OpGen[None]:
        indexes = [channel_index(e.channel_index + 1, info.num_channels) for e in checked]
        code = _version(info).resume_ex_code
        if code == CommandCode.RESUME_EX_VLS:
            yield encode(m.ResumeExVlsRequest(entries=tuple(map(_vls_entry, checked))))
            results = yield from _collect_results(m.ResumeExVlsFeedback, indexes)
        elif code == CommandCode.RESUME_BY_MV:
            by_mv = []
            for entry in checked:
                dwords, qwords = mv_list(entry.resume_data, entry.select_step)
                by_mv.append(
                    m.ResumeByMvEntry(
                        entry.channel_index, entry.test_name, entry.schedule, 0, dwords, qwords
                    )
                )
            yield encode(m.ResumeByMvRequest(tuple(by_mv)))
            # Which feedback a server sends is open question 1: either is the answer.
            results = yield from _collect_results(
                m.ResumeByMvFeedback, indexes, also=m.ResumeFeedback
            )
        else:
            yield encode(m.ResumeExRequest(checked))
            results = yield from _collect_results(m.ResumeFeedback, indexes)
        _raise_rejections("resume", results)

    return Operation("resume_ex", True, run)


def stop(channels: Target) -> Operation[None]:
    """Stop the tests on the channels (or ``"all"``)."""
    return _per_channel("stop", channels, _one_or_all(m.StopRequest), m.StopFeedback, all_flag=True)


def jump(channels: Target, step: int) -> Operation[None]:
    """JUMP running channels to ``step``, the 1-based step number MITS shows.

    The wire field is 0-based, as protocol v1.1 (the one document describing the field) says;
    the ArbinCTI 1.2 method numbers steps from 1 at its API, which is what ``step`` is here.
    """
    _check_int("step", step)
    if step < 1:
        raise ValueError(f"step must be 1 or more, not {step}")

    def build(indexes: list[int], every: bool) -> list[Message]:
        return [m.JumpRequest(step - 1, i) for i in indexes]

    return _per_channel("jump", channels, build, m.JumpFeedback)


def set_meta_variable(channel: int, variable: int | str, value: float) -> Operation[None]:
    """Set one meta variable (``1``..``16`` or ``"MV_UD1"``..) on a running channel."""
    code = meta_code_for(variable)
    number = _check_finite("value", value)

    def build(indexes: list[int], every: bool) -> list[Message]:
        return [m.SetMetaVariableRequest(indexes[0], 1, int(code), 1, number)]

    if not isinstance(channel, int) or isinstance(channel, bool):
        raise ValueError(f"channel must be an integer, not {channel!r}")
    return _per_channel("set_meta_variable", channel, build, m.SetMetaVariableFeedback)


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

    def run(info: m.LoginFeedback) -> OpGen[None]:
        entries = tuple(
            m.MetaVariableEntry(channel_index(ch, info.num_channels), code, val)
            for ch, code, val in prepared
        )
        yield encode(m.UpdateMetaVariablesRequest(entries=entries))
        feedback = yield from expect(m.UpdateMetaVariablesFeedback)
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

    def run(info: m.LoginFeedback) -> OpGen[bool]:
        yield encode(m.ConnectRequest(flag))
        feedback = yield from expect(m.ConnectFeedback)
        if feedback.set_kick_out != flag:
            raise Mismatch(f"a ConnectFeedback for flag {feedback.set_kick_out}, not {flag}")
        return feedback.ok

    return Operation("set_kick_out", True, run)


def send_message(text: str) -> Operation[None]:
    """Show ``text`` on the MITS computer."""
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string")

    def run(info: m.LoginFeedback) -> OpGen[None]:
        yield encode(m.SendMessageRequest(text))
        feedback = yield from expect(m.SendMessageFeedback)
        if not feedback.ok:
            raise CommandRejected.for_code("send_message", feedback.result, feedback.meaning)

    return Operation("send_message", True, run)


def start_auto_calibration() -> Operation[None]:
    """Start auto-calibration (the Calibration window must be open on the server)."""

    def run(info: m.LoginFeedback) -> OpGen[None]:
        yield encode(m.AutoCalibrationRequest())
        feedback = yield from expect(m.AutoCalibrationFeedback)
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


def _path_command(
    name: str,
    request: Callable[[str], Message],
    answer: type[M],
    path: str,
    result: Callable[[M], T],
    *,
    control: bool,
) -> Operation[T]:
    """A file command that names one path and succeeds or fails as a whole; returns
    ``result(answer)``. Raises FileOperationFailed (with the cycler's result) when the answer
    is not OK."""

    def run(info: m.LoginFeedback) -> OpGen[T]:
        yield encode(request(path))
        feedback: Any = yield from expect(answer)
        if not feedback.ok:
            raise FileOperationFailed(name, feedback.result, f"{feedback.meaning}: {path}")
        return result(feedback)

    return Operation(name, control, run, "file")


def _nothing(_answer: Message) -> None:
    return None


def browse(path: str = "") -> Operation[list[m.DirEntry]]:
    """List ``path`` ("" is the top of the cycler's file area)."""
    _check_path(path, allow_empty=True)
    return _path_command(
        "browse",
        m.BrowseDirectoryRequest,
        m.BrowseDirectoryFeedback,
        path,
        # Result 3 lists schedule names, not 200-byte entries.
        lambda feedback: list(feedback.listing),
        control=False,
    )


#: ``progress(chunks_done, chunk_count, bytes_done)``, called after each file chunk.
ProgressCallback = Callable[[int, int, int], None]


def download(path: str, progress: ProgressCallback | None = None) -> Operation[bytes]:
    _check_path(path)

    def run(info: m.LoginFeedback) -> OpGen[bytes]:
        stamp = time.time()
        yield encode(m.DownloadFileRequest(path, stamp))
        chunks: list[bytes] = []
        count = 0
        while True:
            feedback = yield from expect(m.DownloadFileFeedback)
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

    def run(info: m.LoginFeedback) -> OpGen[None]:
        stamp = time.time()
        chunks = [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] or [b""]
        for index, chunk in enumerate(chunks):
            yield encode(
                m.UploadFileRequest(
                    path, len(chunks), index, stamp, hashlib.md5(chunk).digest(), chunk
                )
            )
            feedback = yield from expect(m.UploadFileFeedback)
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
    """Create the folder ``path``."""
    _check_path(path)
    return _path_command(
        "make_dir", m.NewFolderRequest, m.NewFolderFeedback, path, _nothing, control=True
    )


def delete(path: str) -> Operation[None]:
    """Delete the file (only .sdx, .sdu, .can, .smb, .txt) or the folder ``path``."""
    _check_path(path)
    return _path_command(
        "delete", m.DeleteFolderRequest, m.DeleteFolderFeedback, path, _nothing, control=True
    )


def start_ex_entry(
    channel: int,
    test_name: str,
    schedule: str,
    *,
    step: int = 1,
    creator: str = "",
    comment: str = "",
    resume_data: m.ResumeData | None = None,
) -> m.StartExEntry:
    """Build a START_EX entry from a 1-based channel number and a 1-based first step.

    On the wire both are 0-based (``channel_index``, ``select_step``).
    """
    index = _check_int("channel", channel) - 1
    if index < 0:
        raise ValueError(f"channel must be 1 or more, not {channel}")
    if _check_int("step", step) < 1:
        raise ValueError(f"step must be 1 or more, not {step}")
    return m.StartExEntry(
        index, test_name, schedule, creator, comment, step - 1, resume_data or m.ResumeData()
    )


def resume_ex_entry(
    channel: int,
    test_name: str,
    schedule: str,
    *,
    step: int = 1,
    resume_data: m.ResumeData | None = None,
) -> m.ResumeExEntry:
    """Build a RESUME_EX entry from a 1-based channel number and a 1-based step."""
    index = _check_int("channel", channel) - 1
    if index < 0:
        raise ValueError(f"channel must be 1 or more, not {channel}")
    if _check_int("step", step) < 1:
        raise ValueError(f"step must be 1 or more, not {step}")
    return m.ResumeExEntry(index, test_name, schedule, step - 1, resume_data or m.ResumeData())


# --------------------------------------------------------------------------------------------
# Commands of ArbinCTI.dll beyond the documents (DLL reference 4.2-4.7). Which server version
# takes which is in ``ServerVersion.capabilities``; a server that lacks one answers
# UNKNOWN_CODE_FEEDBACK, which raises UnsupportedCommand. Where Arbin's client itself refuses
# a command for a version (time-sensitive MV set, trays), so does this one, before sending.

#: Process-variable meta codes the client's own logic names (DLL reference 5.2), readable
#: with :func:`get_meta_variables` beside MV_UD1..16.
PV_CODES: dict[str, int] = {
    "PV_STEPINDEX": 1,
    "PV_CYCLEINDEX": 2,
    "PV_STEPTIME": 3,
    "PV_TESTTIME": 4,
    "PV_VOLTAGE": 21,
    "PV_CURRENT": 22,
    "PV_CHARGECAPACITY": 23,
    "PV_DISCHARGECAPACITY": 24,
    "PV_CHARGEENERGY": 25,
    "PV_DISCHARGEENERGY": 26,
}

_task_ids = itertools.count(1)


def _readable_code(variable: int | str) -> int:
    """Meta code of ``variable``: MV_UD1..16 (as :func:`meta_code_for`) or a ``PV_*`` name."""
    if isinstance(variable, str):
        key = variable.strip().upper().replace("_", "")
        for name, code in PV_CODES.items():
            if name.replace("_", "") == key:
                return code
    return int(meta_code_for(variable))


def _refuse_locally(name: str, code: int, why: str) -> UnsupportedCommand:
    error = UnsupportedCommand(name, code, CommandCode(code).name)
    error.args = (f"{error}: {why}",)
    return error


def _raise_entry_errors(command: str, table: Any, outcomes: Sequence[tuple[int, int]]) -> None:
    """Raise for per-entry results ``(channel index, code)`` that are not 0: one
    :class:`CommandRejected`, or :class:`BatchRejected` when several channels answered."""
    rejections: dict[int, CommandRejected] = {}
    for index, code in outcomes:
        if code and index + 1 not in rejections:
            rejections[index + 1] = CommandRejected.for_code(
                command, code, table.describe(code), channel=index + 1
            )
    if not rejections:
        return
    channels = {index + 1 for index, _code in outcomes}
    if len(channels) == 1:
        raise next(iter(rejections.values()))
    raise BatchRejected(command, rejections, sorted(channels - set(rejections)))


def _settle_entries(
    command: str,
    name: str,
    entries: Sequence[Any],
    feedback: Any,
    *,
    by_code: bool = False,
    error: Callable[[Any], int] = attrgetter("error"),
) -> None:
    """Check that ``feedback.entries`` answer the ``entries`` sent, then raise the refusals
    among them (see :func:`_raise_entry_errors`; ``error`` reads an answer's result code).

    ``by_code``: the answers follow the entries in order, by channel and meta code; otherwise
    they name the same channels in any order. Raises Mismatch when they answer other entries.
    """
    answered = feedback.entries
    if by_code:
        asked = [(e.channel_index, e.meta_code) for e in entries]
        got = [(e.channel_index, e.meta_code) for e in answered]
    else:
        asked = sorted(e.channel_index for e in entries)
        got = sorted(e.channel_index for e in answered)
    if got != asked:
        raise Mismatch(f"{command} answered for {got}, not for the {asked} it was sent")
    _raise_entry_errors(name, feedback.RESULTS, [(e.channel_index, error(e)) for e in answered])


def _mv_triples(values: MvValues) -> list[tuple[int, int | str, float]]:
    if isinstance(values, Mapping):
        return [(ch, var, val) for ch, per in values.items() for var, val in per.items()]
    return [tuple(item) for item in values]  # type: ignore[misc]


def get_meta_variables(
    channels: Target, variables: Iterable[int | str]
) -> Operation[dict[int, dict[int | str, float]]]:
    """GET_MV: read meta variables (MV_UD1..16 as ``1``..``16`` or ``"MV_UD3"``, or a
    ``PV_*`` name such as ``"PV_Voltage"``) of one or more channels in one request.

    Returns ``{channel: {variable as given: value}}``. At most 128 values per request but for
    MitsX_SPTT, as Arbin's client allows. A per-value error raises CommandRejected (or
    BatchRejected) with the GET_MV result code.
    """
    wanted = list(variables)
    if not wanted:
        raise ValueError("no meta variable given")
    codes = [_readable_code(variable) for variable in wanted]

    def run(info: m.LoginFeedback) -> OpGen[dict[int, dict[int | str, float]]]:
        indexes = channel_indexes(channels, info.num_channels)
        queries = tuple(
            m.MetaVariableQuery(index, 0, MvDataType.META_VALUE, code)
            for index in indexes
            for code in codes
        )
        if len(queries) > 128 and not _version(info).uses_json_channels:
            raise ValueError(f"{len(queries)} values; one GET_MV request holds at most 128")
        yield encode(m.GetMetaVariablesRequest(queries=queries))
        feedback = yield from expect(m.GetMetaVariablesFeedback)
        answered = [(value.channel_index, value.meta_code) for value in feedback.values]
        if answered != [(query.channel_index, query.meta_code) for query in queries]:
            raise Mismatch(f"GET_MV asked for {len(queries)} values, answered for {answered}")
        _raise_entry_errors(
            "get_meta_variables",
            GetMetaVariableResult,
            [(value.channel_index, value.error) for value in feedback.values],
        )
        result: dict[int, dict[int | str, float]] = {index + 1: {} for index in indexes}
        values = iter(feedback.values)
        for index in indexes:
            for variable in wanted:
                result[index + 1][variable] = next(values).value
        return result

    return Operation("get_meta_variables", False, run)


def set_meta_variables_ex(
    values: MvValues, *, data_type: int = MvDataType.META_VALUE
) -> Operation[None]:
    """UPDATE_MV_ADVANCED_EX: many values in one request, each with its data type
    (:class:`MvDataType`) and its own result. At most 118 values but for MitsX_SPTT."""
    triples = _mv_triples(values)
    if not triples:
        raise ValueError("no meta variable given")
    kind = int(MvDataType(_check_int("data_type", data_type)))
    prepared = [
        (ch, int(meta_code_for(var)), _check_finite(f"value for channel {ch} {var}", val))
        for ch, var, val in triples
    ]

    def run(info: m.LoginFeedback) -> OpGen[None]:
        if len(prepared) > 118 and not _version(info).uses_json_channels:
            raise ValueError(f"{len(prepared)} values; one request holds at most 118")
        entries = tuple(
            m.MetaVariableExEntry(channel_index(ch, info.num_channels), code, kind, 0, val)
            for ch, code, val in prepared
        )
        yield encode(m.UpdateMetaVariablesExRequest(entries))
        feedback = yield from expect(m.UpdateMetaVariablesExFeedback)
        _settle_entries(
            "UPDATE_MV_ADVANCED_EX", "update_meta_variables", entries, feedback, by_code=True
        )

    return Operation("set_meta_variables_ex", True, run)


def set_meta_variables_time_sensitive(
    values: Mapping[int, Mapping[int | str, float]],
    *,
    timeout_s: float = 1.0,
    log_to_database: bool = True,
) -> Operation[list[m.TimeSensitiveResultEntry]]:
    """POST_TIME_SENSITIVE_SET_MV (MitsX_4..8): up to 8 MV_UD values per channel, answered
    with each channel's step, status, current, voltage and MV_UD1..16 (returned). Arbin's
    client refuses it for other versions; so does this one (UnsupportedCommand, nothing sent).
    """
    timeout = _check_finite("timeout_s", timeout_s)
    if not isinstance(values, Mapping) or not values:
        raise ValueError("values must map channels to {variable: value}")
    prepared: list[tuple[int, list[m.TimeSensitiveSlot]]] = []
    for ch, per_channel in values.items():
        slots = [
            m.TimeSensitiveSlot(
                _check_finite(f"value for channel {ch}", val), meta_code_for(v), True
            )
            for v, val in per_channel.items()
        ]
        if not 1 <= len(slots) <= 8:
            raise ValueError(f"channel {ch}: 1 to 8 meta variables per channel, not {len(slots)}")
        slots.extend(m.TimeSensitiveSlot() for _ in range(8 - len(slots)))
        prepared.append((ch, slots))

    def run(info: m.LoginFeedback) -> OpGen[list[m.TimeSensitiveResultEntry]]:
        version = _version(info)
        if not version.time_sensitive:
            raise _refuse_locally(
                "set_meta_variables_time_sensitive",
                CommandCode.TIME_SENSITIVE_SET_MV,
                f"only MitsX_4..8 servers take it, this one is {version.name}",
            )
        entries = tuple(
            m.TimeSensitiveEntry(
                channel_index(ch, info.num_channels), 1 if log_to_database else 0, tuple(slots)
            )
            for ch, slots in prepared
        )
        yield encode(m.TimeSensitiveSetMvRequest(timeout_s=timeout, entries=entries))
        feedback = yield from expect(m.TimeSensitiveSetMvFeedback)
        # Results 0 and 1 both mean the values were set.
        _settle_entries(
            "TIME_SENSITIVE_SET_MV",
            "set_meta_variables_time_sensitive",
            entries,
            feedback,
            error=lambda e: 0 if e.result in (0, 1) else e.result,
        )
        return sorted(feedback.entries, key=lambda e: e.channel_index)

    return Operation("set_meta_variables_time_sensitive", True, run)


class _ChannelIndexed(Protocol):
    @property
    def channel_index(self) -> int: ...


R = TypeVar("R", bound=_ChannelIndexed)


def _wanted_indexes(channels: list[int] | None, num_channels: int) -> set[int] | None:
    """The wire indexes of ``channels`` (None: all). Raises ValueError for a bad channel."""
    return None if channels is None else set(channel_indexes(channels, num_channels))


def _records_of(
    records: Sequence[R], wanted: set[int] | None, num_channels: int, what: str
) -> list[R]:
    """The records of an all-channel answer for the ``wanted`` indexes, sorted by channel.

    Raises Mismatch if the answer repeats a channel or names one the cycler does not have.
    """
    seen = [record.channel_index for record in records]
    if len(set(seen)) != len(seen) or not all(0 <= i < num_channels for i in seen):
        raise Mismatch(f"a {what} was answered with channel indexes {seen}")
    return sorted(
        (r for r in records if wanted is None or r.channel_index in wanted),
        key=lambda r: r.channel_index,
    )


def read_channels_simple(
    channels: Iterable[int] | None = None, *, selection: int = ChannelSelection.ALL
) -> Operation[list[m.SimpleChannelRecord]]:
    """GET_CHANNELS_INFO_SIMPLE_MODE: status, times, voltage, current and aux values of all
    channels (or those listed) in one compact request, sorted by channel."""
    wanted_channels = None if channels is None else list(channels)
    chosen = ChannelSelection(_check_int("selection", selection))

    def run(info: m.LoginFeedback) -> OpGen[list[m.SimpleChannelRecord]]:
        wanted = _wanted_indexes(wanted_channels, info.num_channels)
        yield encode(m.SimpleChannelInfoRequest(-1, chosen))
        feedback = yield from expect(m.SimpleChannelInfoFeedback)
        return _records_of(feedback.channels, wanted, info.num_channels, "simple-mode read")

    return Operation("read_channels_simple", False, run)


def read_current_voltage(channel: int) -> Operation[tuple[float, float]]:
    """The MINIMALIST read (GET_MV's code, version word 0x0201): one channel's
    ``(current_a, voltage_v)``. A per-value error raises CommandRejected."""

    def run(info: m.LoginFeedback) -> OpGen[tuple[float, float]]:
        index = channel_index(channel, info.num_channels)
        yield encode(m.GetMetaVariablesRequest.minimalist(index))
        feedback = yield from expect(m.MinimalistFeedback)
        by_code = {v.meta_code: v for v in feedback.values if v.channel_index == index}
        if len(feedback.values) != 2 or set(by_code) != {21, 22}:
            raise Mismatch(
                f"a minimalist read of channel {channel} was answered with "
                f"{[(v.channel_index, v.meta_code) for v in feedback.values]}"
            )
        _raise_entry_errors(
            "read_current_voltage",
            GetMetaVariableResult,
            [(index, by_code[22].error), (index, by_code[21].error)],
        )
        return by_code[22].value, by_code[21].value

    return Operation("read_current_voltage", False, run)


def read_test_objects(channels: Iterable[int] | None = None) -> Operation[list[m.TestObjectRecord]]:
    """GET_CHANNELS_INFO_EX: each channel's test object (name, chart, nominal values, mass)."""
    wanted_channels = None if channels is None else list(channels)

    def run(info: m.LoginFeedback) -> OpGen[list[m.TestObjectRecord]]:
        wanted = _wanted_indexes(wanted_channels, info.num_channels)
        yield encode(m.ChannelsInfoExRequest(-1, ChannelSelection.ALL))
        feedback = yield from expect(m.ChannelsInfoExFeedback)
        return _records_of(feedback.records, wanted, info.num_channels, "test-object read")

    return Operation("read_test_objects", False, run)


def get_barcodes(
    channels: Target, *, channel_type: int = BarcodeChannelType.IV
) -> Operation[dict[int, str]]:
    """GET_BARCODE_INFO: ``{channel: barcode}``. A per-channel error raises CommandRejected."""
    kind = int(BarcodeChannelType(_check_int("channel_type", channel_type)))

    def run(info: m.LoginFeedback) -> OpGen[dict[int, str]]:
        indexes = channel_indexes(channels, info.num_channels)
        yield encode(m.GetBarcodeRequest(kind, tuple(m.BarcodeQuery(i) for i in indexes)))
        feedback = yield from expect(m.GetBarcodeFeedback)
        answered = [entry.channel_index for entry in feedback.entries]
        if sorted(answered) != sorted(indexes):
            raise Mismatch(f"GET_BARCODE_INFO for {indexes} answered for {answered}")
        _raise_entry_errors(
            "get_barcodes",
            feedback.RESULTS,
            [(entry.channel_index, entry.error) for entry in feedback.entries],
        )
        return {entry.channel_index + 1: entry.barcode for entry in feedback.entries}

    return Operation("get_barcodes", False, run)


def set_barcodes(
    barcodes: Mapping[int, str], *, channel_type: int = BarcodeChannelType.IV
) -> Operation[None]:
    """ASSIGN_BARCODE_INFO: set ``{channel: barcode}`` (at most 72 characters each)."""
    kind = int(BarcodeChannelType(_check_int("channel_type", channel_type)))
    if not isinstance(barcodes, Mapping) or not barcodes:
        raise ValueError("barcodes must map channel numbers to barcodes")
    for ch, code in barcodes.items():
        if not isinstance(code, str) or len(code) > 72:
            raise ValueError(f"channel {ch}: a barcode is a string of at most 72 characters")

    def run(info: m.LoginFeedback) -> OpGen[None]:
        entries = tuple(
            m.BarcodeEntry(channel_index(ch, info.num_channels), 0, code)
            for ch, code in barcodes.items()
        )
        yield encode(m.AssignBarcodeRequest(kind, entries))
        feedback = yield from expect(m.AssignBarcodeFeedback)
        _settle_entries("ASSIGN_BARCODE_INFO", "set_barcodes", entries, feedback)

    return Operation("set_barcodes", True, run)


def machine_type() -> Operation[MachineType]:
    """GET_MACHINE_TYPE: IV, SPTT or ALL."""
    request, answer = m.GetMachineTypeRequest(), m.GetMachineTypeFeedback
    return _query("machine_type", request, answer, lambda got: MachineType(got.machine_type))


def _json_list(content: Mapping[str, Any], key: str, command: str) -> list[dict[str, Any]]:
    items = content.get(key)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ProtocolError(f"the {command} feedback has no {key!r} list of objects")
    return items


def _check_task(content: Mapping[str, Any], task_id: int, command: str) -> None:
    if content.get("TaskID") != task_id:
        raise Mismatch(f"a {command} feedback for task {content.get('TaskID')!r}, not {task_id}")


def _require_sptt(info: m.LoginFeedback, name: str, code: int) -> None:
    version = _version(info)
    if not version.uses_json_channels:
        raise _refuse_locally(name, code, f"only MitsX_SPTT servers take it, not {version.name}")


def _tray_answers(
    name: str, command: str, content: Mapping[str, Any], key: str, trays: Iterable[int]
) -> list[dict[str, Any]]:
    """The per-tray answers of an SPTT tray command (the JSON list under ``key``).

    Raises Mismatch when they answer other trays than ``trays``, and CommandRejected (or
    BatchRejected) for the trays that report an error.
    """
    items = _json_list(content, key, command)
    if sorted(item.get("GlobalIndex", -1) for item in items) != sorted(trays):
        raise Mismatch(f"{command} answered for other trays")
    _raise_entry_errors(
        name, TrayResult, [(item["GlobalIndex"], item.get("Error", 0)) for item in items]
    )
    return items


def tray_status(trays: Iterable[int]) -> Operation[list[dict[str, Any]]]:
    """GET_TRAY_STATUS (MitsX_SPTT; tray indexes as the server numbers them): one dict per
    tray (``GlobalIndex``, ``IsEngagementDown``, ``IsEngagementUp``, ``IsTrayInserted``,
    ``MetaValues``). A tray's error raises CommandRejected."""
    wanted = [_check_int("tray", tray) for tray in trays]
    if not wanted:
        raise ValueError("no tray given")

    def run(info: m.LoginFeedback) -> OpGen[list[dict[str, Any]]]:
        _require_sptt(info, "tray_status", CommandCode.GET_TRAY_STATUS)
        yield encode(m.GetTrayStatusRequest({"TrayIndexList": wanted}))
        feedback = yield from expect(m.GetTrayStatusFeedback)
        return _tray_answers(
            "tray_status", "GET_TRAY_STATUS", feedback.content, "TrayStatusInfos", wanted
        )

    return Operation("tray_status", False, run)


def engage_trays(engage: Mapping[int, bool]) -> Operation[None]:
    """ENGAGE_TRAY (MitsX_SPTT): ``{tray index: True to engage, False to disengage}``."""
    if not isinstance(engage, Mapping) or not engage:
        raise ValueError("engage must map tray indexes to True/False")
    items = [
        {"GlobalIndex": _check_int("tray", t), "Engage": bool(e), "Error": 0}
        for t, e in engage.items()
    ]

    def run(info: m.LoginFeedback) -> OpGen[None]:
        _require_sptt(info, "engage_trays", CommandCode.ENGAGE_TRAY)
        yield encode(m.EngageTrayRequest({"EngageTrays": items}))
        feedback = yield from expect(m.EngageTrayFeedback)
        _tray_answers(
            "engage_trays", "ENGAGE_TRAY", feedback.content, "EngageTrayInfos", list(engage)
        )

    return Operation("engage_trays", True, run)


def set_data_log_interval(interval_s: float) -> Operation[None]:
    """SET_INTERVALTIME_LOGDATA: the MCU data-log interval in seconds (positive)."""
    interval = _check_finite("interval_s", interval_s)
    if interval <= 0:
        raise ValueError(f"interval_s must be positive, not {interval_s!r}")

    def run(info: m.LoginFeedback) -> OpGen[None]:
        yield encode(m.SetDataLogIntervalRequest(interval))
        feedback = yield from expect(m.SetDataLogIntervalFeedback)
        if not feedback.ok:
            why = f"{feedback.meaning}: {feedback.reason}" if feedback.reason else feedback.meaning
            raise CommandRejected.for_code("set_data_log_interval", feedback.result, why)

    return Operation("set_data_log_interval", True, run)


def server_software_version() -> Operation[str]:
    """GET_SERVER_SOFTWARE_VERSION_NUMBER: the server software's version text."""
    request, answer = m.GetServerSoftwareVersionRequest(), m.GetServerSoftwareVersionFeedback
    return _query("server_software_version", request, answer, lambda got: got.version)


def string_limits() -> Operation[dict[int, int]]:
    """GET_STRING_LIMIT_LENGTH: ``{string type: longest length}`` (type 1 is the test name)."""
    request, answer = m.GetStringLimitsRequest(), m.GetStringLimitsFeedback
    return _query("string_limits", request, answer, _limits_by_type)


def _limits_by_type(answer: m.GetStringLimitsFeedback) -> dict[int, int]:
    return {limit.string_type: limit.limit for limit in answer.limits}


@dataclass(frozen=True, slots=True)
class FileCheck:
    """CHECK_FILE_EX's answer: whether the folder and the file exist on the cycler, whether the
    file's MD5 is the one given, the server's path for it and the server's reason text."""

    path_exists: bool
    name_exists: bool
    md5_matches: bool
    server_path: str
    reason: str


def check_file(path: str, data: bytes | None = None) -> Operation[FileCheck]:
    """CHECK_FILE_EX: does ``path`` (e.g. ``"Work\\\\Rest.sdx"``) exist on the cycler, and
    match the MD5 of ``data`` when given?"""
    if not isinstance(path, str) or not path.strip():
        raise ValueError("path must be a non-empty string")
    folder, _sep, name = path.replace("/", "\\").rpartition("\\")
    digest = hashlib.md5(bytes(data)).digest() if data is not None else b"\x00" * 16

    def run(info: m.LoginFeedback) -> OpGen[FileCheck]:
        yield encode(m.CheckFileExRequest(folder, name, digest))
        feedback = yield from expect(m.CheckFileExFeedback)
        return FileCheck(
            feedback.path_exists == 1,
            feedback.name_exists == 1,
            feedback.md5_matches == 1,
            feedback.file_path,
            feedback.reason,
        )

    return Operation("check_file", False, run)


def assign_file(
    channels: Target, file_name: str, *, kind: int = FileKind.SCHEDULE
) -> Operation[None]:
    """ASSIGN_FILE: assign a schedule, CAN/SMB configuration, simulation, test object or chart
    file (:class:`FileKind`) to channels, or to ``"all"``."""
    if not isinstance(file_name, str) or not file_name.strip():
        raise ValueError("file_name must be a non-empty file name")
    file_kind = int(FileKind(_check_int("kind", kind)))

    def run(info: m.LoginFeedback) -> OpGen[None]:
        indexes = channel_indexes(channels, info.num_channels)
        every = isinstance(channels, str)
        chosen = () if every else tuple(indexes)
        yield encode(m.AssignFileRequest(file_name, every, file_kind, chosen))
        feedback = yield from expect(m.AssignFileFeedback)
        answered = [r.channel_index for r in feedback.results]
        if not set(answered) <= set(indexes) or len(set(answered)) != len(answered):
            raise Mismatch(f"ASSIGN_FILE for {indexes} answered for {answered}")
        if not every and sorted(answered) != sorted(indexes):
            raise Mismatch(f"ASSIGN_FILE for {indexes} answered for {answered}")
        _raise_entry_errors(
            "assign_file", feedback.RESULTS, [(r.channel_index, r.result) for r in feedback.results]
        )

    return Operation("assign_file", True, run)


def modify_schedule(changes: Sequence[Mapping[str, Any]]) -> Operation[None]:
    """MODIFY_SCHEDULE (MitsX_8): each change is a ``ScheduleModifyInfo`` object of the DLL
    (``ScheduleName`` and the ``Aux...Requirement`` members). A schedule's error raises
    CommandRejected with the server's message."""
    items = [dict(change) for change in changes]
    if not items or not all(isinstance(i.get("ScheduleName"), str) for i in items):
        raise ValueError("each change needs a 'ScheduleName'")

    def run(info: m.LoginFeedback) -> OpGen[None]:
        task = next(_task_ids)
        yield encode(m.ModifyScheduleRequest({"TaskID": task, "ScheduleModifyInfos": items}))
        feedback = yield from expect(m.ModifyScheduleFeedback)
        _check_task(feedback.content, task, "MODIFY_SCHEDULE")
        for answer in _json_list(feedback.content, "ScheduleModifyInfos", "MODIFY_SCHEDULE"):
            code = answer.get("Result", 0)
            if code:
                meaning = ModifyScheduleResult.describe(int(code))
                text = answer.get("Message") or ""
                raise CommandRejected.for_code(
                    "modify_schedule",
                    int(code),
                    f"{answer.get('ScheduleName')}: {meaning}" + (f" ({text})" if text else ""),
                )

    return Operation("modify_schedule", True, run)


def start_advanced(
    channels: Target,
    test_name: str,
    schedule: str,
    *,
    barcode: str = "",
    test_object: Mapping[str, Any] | None = None,
) -> Operation[None]:
    """SCHEDULE_START_ADVANCED (MitsX_6..8): start ``schedule`` as ``test_name`` on the
    channels, with a barcode and the DLL's ``TestObject`` members (``Mass``,
    ``NorminalCapacity``, ...). Failed channels raise CommandRejected/BatchRejected with their
    START result code."""
    if not isinstance(test_name, str) or not test_name:
        raise ValueError("test_name must be a non-empty string")
    if not isinstance(schedule, str) or not schedule.strip():
        raise ValueError("schedule must be a non-empty file name")
    extra = dict(test_object or {})

    def run(info: m.LoginFeedback) -> OpGen[None]:
        indexes = channel_indexes(channels, info.num_channels)
        task = next(_task_ids)
        channel_entries = [
            {
                "ChannelIndex": index,
                "TestName": test_name,
                "ScheduleName": schedule,
                "Barcode": barcode,
                "TestObject": extra,
            }
            for index in indexes
        ]
        yield encode(m.StartAdvancedRequest({"TaskID": task, "Channels": channel_entries}))
        feedback = yield from expect(m.StartAdvancedFeedback)
        _check_task(feedback.content, task, "SCHEDULE_START_ADVANCED")
        failed = _json_list(feedback.content, "FailedResults", "SCHEDULE_START_ADVANCED")
        succeeded = feedback.content.get("SuccessfulChannelIDs", [])
        answered = sorted([*succeeded, *(f.get("ChannelIndex") for f in failed)])
        if answered != sorted(indexes):
            raise Mismatch(f"SCHEDULE_START_ADVANCED for {indexes} answered for {answered}")
        _raise_entry_errors(
            "start",
            StartResult,
            [(i, 0) for i in succeeded]
            + [(f["ChannelIndex"], f.get("StartResult", 0x11)) for f in failed],
        )

    return Operation("start_advanced", True, run)


def aux_mapping() -> Operation[dict[int, dict[str, int]]]:
    """GET_MAPPING_AUX (MitsX_8): ``{channel: {aux type name: count}}``."""

    def run(info: m.LoginFeedback) -> OpGen[dict[int, dict[str, int]]]:
        task = next(_task_ids)
        yield encode(m.GetMappingAuxRequest({"TaskID": task}))
        feedback = yield from expect(m.GetMappingAuxFeedback)
        _check_task(feedback.content, task, "GET_MAPPING_AUX")
        mapping: dict[int, dict[str, int]] = {}
        for item in _json_list(feedback.content, "MappingInfos", "GET_MAPPING_AUX"):
            counts: dict[str, int] = {}
            for aux in item.get("AuxChannelInfos", []):
                kind = aux.get("AuxChannelType")
                try:
                    name = AuxChannelType(kind).name if isinstance(kind, int) else str(kind)
                except ValueError:
                    name = str(kind)
                counts[name] = int(aux.get("AuxCount", 0))
            mapping[int(item.get("ChannelIndex", -1)) + 1] = counts
        return mapping

    return Operation("aux_mapping", False, run)
