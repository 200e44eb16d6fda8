"""The columnar decoding of channel-info answers (ChannelTable) against the record path.

A feedback with several records is decoded as columns; its records (``channels``) are built
from them. Every field, aux/BMS/SMB included, must come out the same as decoding the records
one by one with :meth:`ChannelRecord.unpack_from`, and malformed records must fail the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyctiarbin.client.status import ChannelStatus
from pyctiarbin.interfaces.seed_dicts import channel_status_dict
from pyctiarbin.protocol import (
    AUX_KINDS,
    CHANNEL_FIELDS,
    AuxReadings,
    AuxValue,
    BmsValue,
    ChannelInfoFeedback,
    ChannelRecord,
    ChannelTable,
    FrameReader,
    ProtocolError,
    SmbValue,
    StatusCode,
    checksum,
    decode,
    encode,
    framing,
)

from .strategies import CAPTURES_DIR, builds_record, fix_checksum

# Every test here runs with each way of building records from columns.
pytestmark = pytest.mark.usefixtures("record_builder")

CAPTURE = (CAPTURES_DIR / "server_channel_info_msg.bin").read_bytes()
RECORD_SIZE = 1753
RECORDS_AT = 24  # 20-byte header, u32 count
SCHEDULE_AT, STATUS_AT, COUNTS_AT = 7, 4, 1725

records = builds_record(ChannelRecord)
plain_records = records.map(
    lambda record: dataclasses.replace(record, aux=AuxReadings(), bms=(), smb=())
)


def one_by_one(frame: bytes) -> list[ChannelRecord]:
    """The records of a channel-info frame, each decoded by the record path."""
    (count,) = struct.unpack_from("<I", frame, 20)
    offset, end, result = RECORDS_AT, len(frame) - 2, []
    for _ in range(count):
        record, offset = ChannelRecord.unpack_from(frame, offset, end)
        result.append(record)
    assert offset == end
    return result


def assert_same(table: ChannelTable, expected: list[ChannelRecord]) -> None:
    """Every column of ``table`` holds, row by row, the attributes of ``expected``."""
    assert len(table) == len(expected)
    for name in CHANNEL_FIELDS:
        assert table[name] == tuple(getattr(record, name) for record in expected), name
    assert table["channel"] == tuple(record.channel_index + 1 for record in expected)
    assert table.records() == expected
    statuses = table.records(ChannelStatus)
    assert statuses == [ChannelStatus.from_record(record) for record in expected]
    assert [channel_status_dict(s) for s in statuses] == [
        channel_status_dict(ChannelStatus.from_record(record)) for record in expected
    ]


def plain_frame(count: int) -> bytes:
    base = decode(CAPTURE)
    assert isinstance(base, ChannelInfoFeedback)
    record = base.channels[0]
    return encode(
        ChannelInfoFeedback(
            channels=tuple(
                dataclasses.replace(record, channel_index=i, voltage_v=float(i))
                for i in range(count)
            )
        )
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(records, max_size=4))
def test_columns_equal_records_for_every_field(generated: list[ChannelRecord]) -> None:
    # Records with aux, BMS and SMB parts: the table is read record by record.
    frame = encode(ChannelInfoFeedback(channels=tuple(generated)))
    feedback = decode(frame)
    assert isinstance(feedback, ChannelInfoFeedback)
    assert_same(feedback.table, one_by_one(frame))
    assert list(feedback.channels) == generated
    assert encode(feedback) == frame


@settings(max_examples=40, deadline=None)
@given(st.lists(plain_records, min_size=2, max_size=5))
def test_columns_of_plain_records_read_together_equal_records(
    generated: list[ChannelRecord],
) -> None:
    # Plain records only: the one-struct-call path, texts of every width and script included.
    frame = encode(ChannelInfoFeedback(channels=tuple(generated)))
    table, offset = ChannelTable.unpack_from(frame, RECORDS_AT, len(frame) - 2, len(generated))
    assert offset == len(frame) - 2
    assert_same(table, one_by_one(frame))
    assert table.records() == generated


@settings(max_examples=25, deadline=None)
@given(st.lists(plain_records, min_size=1, max_size=3), records, st.integers(0, 4))
def test_one_record_with_extras_among_plain_ones(
    plain: list[ChannelRecord], extra: ChannelRecord, where: int
) -> None:
    extra = dataclasses.replace(
        extra,
        aux=AuxReadings(temperature=(AuxValue(25.5, 0.25),)),
        bms=(BmsValue(1, 3.5, "V"),),
        smb=(SmbValue(2, "text", ""),),
    )
    generated = [*plain[:where], extra, *plain[where:]]
    frame = encode(ChannelInfoFeedback(channels=tuple(generated)))
    feedback = decode(frame)
    assert isinstance(feedback, ChannelInfoFeedback)
    assert_same(feedback.table, one_by_one(frame))
    assert feedback.table["smb"][len(plain[:where])] == (SmbValue(2, "text", ""),)


def test_a_whole_cycler_answer_decodes_as_columns(checksum_backend: str) -> None:
    frame = plain_frame(200)
    assert len(frame) == 24 + 200 * RECORD_SIZE + 2
    reader = FrameReader("client")
    for start in range(0, len(frame), 65536):  # as a socket delivers it
        reader.feed(frame[start : start + 65536])
    read = reader.next_frame()
    assert read == frame
    feedback = decode(read)
    assert isinstance(feedback, ChannelInfoFeedback)
    table = feedback.table
    assert table["channel_index"] == tuple(range(200))
    assert table["voltage_v"] == tuple(float(i) for i in range(200))
    assert table["schedule"] == ("Rest+207855.sdx",) * 200
    assert table["status"] == (StatusCode.REST,) * 200
    assert_same(table, one_by_one(frame))
    # The records are built from the columns on first access, equal to a plain decode.
    assert feedback == ChannelInfoFeedback(channels=tuple(one_by_one(frame)))
    assert encode(feedback) == frame


def test_the_table_follows_the_channels_of_its_feedback() -> None:
    feedback = decode(plain_frame(5))
    assert isinstance(feedback, ChannelInfoFeedback)
    first = feedback.table
    assert feedback.table is first  # kept, not rebuilt
    feedback.channels = feedback.channels[:2]
    assert feedback.table["channel_index"] == (0, 1)
    built = ChannelInfoFeedback(channels=(ChannelRecord(channel_index=4),))
    assert built.table["channel_index"] == (4,)
    assert dataclasses.replace(feedback, channels=()).table["voltage_v"] == ()
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        feedback.nothing  # type: ignore[attr-defined]  # noqa: B018


def corrupt(frame: bytes, at: int, data: bytes) -> bytes:
    changed = bytearray(frame)
    changed[at : at + len(data)] = data
    return fix_checksum(changed)


@pytest.mark.parametrize(
    ("record", "at", "data"),
    [
        (2, SCHEDULE_AT, "\ud800".encode("utf-16-le", "surrogatepass")),  # unpaired surrogate
        (0, SCHEDULE_AT + 2, "\udc00".encode("utf-16-le", "surrogatepass")),  # lone low one
        (1, COUNTS_AT, struct.pack("<H", 1)),  # an aux count the frame has no bytes for
        (2, COUNTS_AT + 26, struct.pack("<H", 1)),  # an SMB count, likewise
    ],
)
def test_malformed_records_fail_as_in_the_record_path(record: int, at: int, data: bytes) -> None:
    frame = corrupt(plain_frame(3), RECORDS_AT + record * RECORD_SIZE + at, data)
    with pytest.raises(ProtocolError):
        decode(frame)
    with pytest.raises((struct.error, ValueError)):
        one_by_one(frame)


def test_an_undocumented_status_code_decodes_alike_in_both_paths() -> None:
    frame = corrupt(plain_frame(3), RECORDS_AT + RECORD_SIZE + STATUS_AT, struct.pack("<h", 999))
    table = decode(frame).table  # type: ignore[attr-defined]
    assert table["status"][1] == 999
    assert table["status"][1].name == "UNKNOWN_999"
    assert_same(table, one_by_one(frame))


def test_garbage_after_a_text_terminator_is_padding_in_both_paths() -> None:
    # A NUL unit ends the text; an unpaired surrogate after it is padding, not an error.
    tail = "A\x00\ud800".encode("utf-16-le", "surrogatepass")
    frame = corrupt(plain_frame(3), RECORDS_AT + RECORD_SIZE + SCHEDULE_AT, tail)
    feedback = decode(frame)
    assert isinstance(feedback, ChannelInfoFeedback)
    assert feedback.table["schedule"][1] == "A"
    assert_same(feedback.table, one_by_one(frame))


def test_table_api() -> None:
    feedback = decode(plain_frame(4))
    assert isinstance(feedback, ChannelInfoFeedback)
    table = feedback.table
    picked = table.take([3, 1])
    assert picked["channel_index"] == (3, 1)
    assert picked.records() == [table.records()[3], table.records()[1]]
    assert ChannelTable(table.columns) == table
    assert ChannelTable.from_records([]) == ChannelTable({name: () for name in CHANNEL_FIELDS})
    assert len(ChannelTable.from_records([])) == 0
    assert repr(table) == "<ChannelTable: 4 channels>"
    with pytest.raises(KeyError, match="no column 'volts'"):
        table["volts"]
    with pytest.raises(ValueError, match="missing \\['bms', 'smb'\\]"):
        ChannelTable({name: () for name in CHANNEL_FIELDS[:-2]})
    with pytest.raises(ValueError, match="differ in length"):
        ChannelTable({**table.columns, "voltage_v": (1.0,)})
    with pytest.raises(ValueError, match="'schedule' is not a numeric column"):
        table.array("schedule")


def test_numeric_columns_as_numpy_arrays() -> None:
    numpy = pytest.importorskip("numpy")
    table = decode(plain_frame(3)).table  # type: ignore[attr-defined]
    voltages = table.array("voltage_v")
    assert voltages.dtype == numpy.float32
    assert voltages.tolist() == list(table["voltage_v"])
    assert table.array("status").tolist() == [int(StatusCode.REST)] * 3
    assert table.array("test_time_s").dtype == numpy.float64
    assert table.array("channel_index").tolist() == [0, 1, 2]


@pytest.mark.parametrize("size", [0, 1, 2, 255, 4096, 70_000, 400_000])
def test_checksum_backends_agree(checksum_backend: str, size: int) -> None:
    assert framing.checksum_backend() == checksum_backend
    pattern = bytes(range(256)) * (size // 256 + 1)
    for data in (pattern[:size], bytes(size), b"\xff" * size):
        expected = sum(data) & 0xFFFF
        assert checksum(data) == expected
        assert checksum(bytearray(data)) == expected
        assert checksum(memoryview(data)) == expected
        if size > 4:
            assert checksum(data, 1, size - 2) == sum(data[1 : size - 2]) & 0xFFFF
            assert checksum(data, 0, size - 2) == sum(data[: size - 2]) & 0xFFFF
            assert checksum(data, -3) == sum(data[-3:]) & 0xFFFF


def test_checksum_backend_choice() -> None:
    with pytest.raises(ValueError, match="one of \\['auto', 'compiled', 'numpy', 'python'\\]"):
        framing.use_checksum_backend("fortran")
    before = framing.use_checksum_backend("python")
    try:
        assert framing.checksum_backend() == "python"
    finally:
        framing.use_checksum_backend(before)


def test_the_reader_reuses_its_store_across_frame_sizes() -> None:
    # The reader's store grows for a whole-cycler answer and is reused; frames of every size
    # and items wider than a byte come through unchanged.
    reader = FrameReader("client")
    small = encode(ChannelInfoFeedback(channels=(ChannelRecord(channel_index=3),)))
    big = plain_frame(700)  # 1.2 MB: above what the store keeps once empty
    for frame in (small, plain_frame(200), small + small, big, small):
        for start in range(0, len(frame), 100_000):
            reader.feed(frame[start : start + 100_000])
        got = []
        while (one := reader.next_frame()) is not None:
            got.append(one)
        assert b"".join(got) == frame
        assert reader.buffered == 0
    even = small[: len(small) // 2 * 2]
    reader.feed(memoryview(even).cast("H"))
    reader.feed(small[len(even) :])
    assert reader.next_frame() == small


def blank_frame(count: int) -> bytes:
    """``count`` records whose texts are all empty (what idle channels answer)."""
    return encode(
        ChannelInfoFeedback(
            channels=tuple(
                ChannelRecord(channel_index=i, status=StatusCode.REST, voltage_v=i / 8)
                for i in range(count)
            )
        )
    )


@pytest.mark.parametrize("frame", [plain_frame(6), blank_frame(6)], ids=["texts", "no-texts"])
def test_statuses_of_a_scan_equal_the_record_path(frame: bytes) -> None:
    expected = [ChannelStatus.from_record(record) for record in one_by_one(frame)]
    table = decode(frame).table  # type: ignore[attr-defined]
    statuses = table.records(ChannelStatus)
    assert not hasattr(statuses[2], "nothing")
    assert all(type(status) is ChannelStatus for status in statuses)
    # The caller may reorder the list: each status keeps its channel.
    statuses.reverse()
    assert [status.channel for status in statuses] == [6, 5, 4, 3, 2, 1]
    assert statuses[::-1] == expected
    for name in CHANNEL_FIELDS:  # every field, in the order of the record path
        assert [getattr(s, name) for s in statuses[::-1]] == [getattr(e, name) for e in expected], (
            name
        )
    # Statuses of a subset, made before any column was decoded, come from the same rows.
    fresh = decode(frame).table  # type: ignore[attr-defined]
    picked = fresh.take([4, 1]).records(ChannelStatus)
    assert picked == [expected[4], expected[1]]
    assert fresh.take([4, 1])["voltage_v"] == (expected[4].voltage_v, expected[1].voltage_v)


def test_a_status_of_a_scan_copies_and_pickles_as_its_fields() -> None:
    frame = plain_frame(200)
    status = decode(frame).table.records(ChannelStatus)[7]  # type: ignore[attr-defined]
    expected = ChannelStatus.from_record(one_by_one(frame)[7])
    assert copy.copy(status) == expected
    assert copy.deepcopy(status) == expected
    data = pickle.dumps(decode(frame).table.records(ChannelStatus)[7])  # type: ignore[attr-defined]
    assert len(data) < 4 * RECORD_SIZE  # the fields, not the 350 KB answer they came from
    assert pickle.loads(data) == expected
    assert dataclasses.asdict(status) == dataclasses.asdict(expected)
    assert repr(status) == repr(expected)
    for unread in decode(frame).table.records(ChannelStatus)[5:9]:  # type: ignore[attr-defined]
        assert type(dataclasses.replace(unread, comm_failure=1)) is ChannelStatus
        assert type(copy.copy(unread)) is ChannelStatus
    unread = decode(frame).table.records(ChannelStatus)  # type: ignore[attr-defined]
    assert expected == unread[7]  # a status made by its constructor compared with one of a scan
    assert repr(unread[8]).startswith("ChannelStatus(channel_index=8,")
    built = ChannelStatus(channel_index=3)  # made by its constructor: an ordinary record
    assert built.channel == 4
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        built.nothing  # type: ignore[attr-defined]  # noqa: B018


@settings(max_examples=30, deadline=None)
@given(st.lists(plain_records, min_size=2, max_size=5), st.randoms(use_true_random=False))
def test_statuses_read_in_any_order_equal_the_record_path(
    generated: list[ChannelRecord], shuffler: random.Random
) -> None:
    frame = encode(ChannelInfoFeedback(channels=tuple(generated)))
    statuses = decode(frame).table.records(ChannelStatus)  # type: ignore[attr-defined]
    order = list(range(len(statuses)))
    shuffler.shuffle(order)
    first = statuses[order[0]]
    assert first.test_name == generated[order[0]].test_name
    assert [statuses[row] for row in order] == [
        ChannelStatus.from_record(generated[row]) for row in order
    ]


aux_layouts = st.lists(st.integers(0, 2), min_size=12, max_size=12)
floats32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(plain_records, min_size=2, max_size=4), aux_layouts, st.data())
def test_records_with_the_same_aux_counts_read_together_equal_records(
    generated: list[ChannelRecord], layout: list[int], data: st.DataObject
) -> None:
    # Every channel of a cycler has the same aux channels: such answers are read as columns.
    with_aux = []
    for record in generated:
        groups = {
            kind: tuple(AuxValue(data.draw(floats32), data.draw(floats32)) for _ in range(n))
            for kind, n in zip(AUX_KINDS, layout, strict=True)
        }
        with_aux.append(dataclasses.replace(record, aux=AuxReadings(**groups)))
    frame = encode(ChannelInfoFeedback(channels=tuple(with_aux)))
    expected = one_by_one(frame)
    assert expected == with_aux
    statuses = decode(frame).table.records(ChannelStatus)  # type: ignore[attr-defined]
    assert statuses[::-1] == [ChannelStatus.from_record(r) for r in expected[::-1]]
    table, offset = ChannelTable.unpack_from(frame, RECORDS_AT, len(frame) - 2, len(with_aux))
    assert offset == len(frame) - 2
    assert_same(table, expected)


def test_aux_counts_that_differ_or_overrun_fail_or_decode_as_in_the_record_path() -> None:
    base = decode(plain_frame(3)).channels  # type: ignore[attr-defined]
    two = AuxReadings(temperature=(AuxValue(21.5, 0.0), AuxValue(22.5, -0.5)))
    records = [dataclasses.replace(r, aux=two) for r in base]
    frame = encode(ChannelInfoFeedback(channels=tuple(records)))
    assert_same(decode(frame).table, one_by_one(frame))  # type: ignore[attr-defined]
    # The same size, but the second record claims one temperature and one voltage.
    at = RECORDS_AT + (RECORD_SIZE + 16) + COUNTS_AT
    moved = corrupt(frame, at, struct.pack("<HH", 1, 1))
    assert_same(decode(moved).table, one_by_one(moved))  # type: ignore[attr-defined]
    second = decode(moved).table["aux"][1]  # type: ignore[attr-defined]
    assert second.voltage == (AuxValue(21.5, 0.0),)
    # A last record claiming more aux readings than the frame holds.
    last_counts = RECORDS_AT + 2 * (RECORD_SIZE + 16) + COUNTS_AT
    short = corrupt(frame, last_counts, struct.pack("<HH", 0, 3))
    with pytest.raises(ProtocolError):
        decode(short)
    with pytest.raises(struct.error):
        one_by_one(short)
