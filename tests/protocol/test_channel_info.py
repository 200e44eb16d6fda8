"""Channel-info feedbacks: one and sixteen channels, aux groups, and big frames' checksums."""

from __future__ import annotations

import dataclasses
import struct

from pyctiarbin.protocol import (
    AuxReadings,
    AuxValue,
    ChannelInfoFeedback,
    ChannelRecord,
    CommandCode,
    DownloadFileFeedback,
    FrameReader,
    LoginFeedback,
    StatusCode,
    UploadFileRequest,
    checksum,
    decode,
    encode,
)

from .strategies import CAPTURES_DIR, f32, make_frame

CAPTURE = (CAPTURES_DIR / "server_channel_info_msg.bin").read_bytes()
# The capture's one record, as raw bytes (after the 20-byte header and the u32 count).
CAPTURED_RECORD = CAPTURE[24:-2]
RECORD_SIZE = 1753
COUNTS_AT = 1725  # fourteen u16 counts, relative to the record
AUX_AT = 1753


def captured_record() -> ChannelRecord:
    info = decode(CAPTURE)
    assert isinstance(info, ChannelInfoFeedback)
    return info.channels[0]


def test_one_plain_channel_is_1779_bytes() -> None:
    assert len(CAPTURED_RECORD) == RECORD_SIZE
    frame = encode(ChannelInfoFeedback(channels=(ChannelRecord(channel_index=0),)))
    assert len(frame) == 1779
    assert struct.unpack_from("<I", frame, 8)[0] == 1779  # a feedback's dwLen is its size
    assert encode(ChannelInfoFeedback(channels=(captured_record(),))) == CAPTURE


def sixteen_channel_frame() -> bytes:
    """A 16-record feedback built by hand from the captured record, as MITS 10 sends it."""
    records = []
    for index in range(16):
        record = bytearray(CAPTURED_RECORD)
        struct.pack_into("<I", record, 0, index)  # ChannelIndex
        struct.pack_into("<h", record, 4, index % 5)  # Status
        struct.pack_into("<H", record, 1659, index)  # MasterChannel
        struct.pack_into("<f", record, 1677, 3.0 + index / 8)  # Voltage
        struct.pack_into("<f", record, 1681, -0.5 * index)  # Current
        records.append(bytes(record))
    body = struct.pack("<I", 16) + b"".join(records)
    return make_frame(CommandCode.GET_CHANNELS_INFO_FEEDBACK, body, request=False)


def test_sixteen_channels_are_28074_bytes_and_decode() -> None:
    frame = sixteen_channel_frame()
    assert len(frame) == 28074
    assert struct.unpack_from("<I", frame, 8)[0] == 28074
    info = decode(frame)
    assert isinstance(info, ChannelInfoFeedback)
    assert [r.channel_index for r in info.channels] == list(range(16))
    for index, record in enumerate(info.channels):
        assert record.status == StatusCode(index % 5)
        assert record.master_channel == index
        assert record.voltage_v == f32(3.0 + index / 8)
        assert record.current_a == -0.5 * index
        # Everything else is the captured record's.
        assert record.schedule == "Rest+207855.sdx"
        assert record.step_and_cycle_format == "[1] 1: Step_A, Rest"
        assert record.test_time_s == 2.5432
    assert encode(info) == frame


def test_a_one_channel_request_answered_with_all_channels_is_read_by_channel_index() -> None:
    # MITS 10 answers a request for channel index 5 with all 16 records: the client must pick
    # the record by channel_index, not take the first one. Build them in shuffled order.
    base = captured_record()
    order = [9, 3, 15, 0, 5, 12, 1, 7, 14, 2, 10, 4, 8, 13, 6, 11]
    records = tuple(
        dataclasses.replace(base, channel_index=i, master_channel=i, voltage_v=f32(3 + i / 100))
        for i in order
    )
    frame = encode(ChannelInfoFeedback(channels=records))
    assert len(frame) == 28074
    info = decode(frame)
    assert isinstance(info, ChannelInfoFeedback)
    by_index = {record.channel_index: record for record in info.channels}
    assert sorted(by_index) == list(range(16))
    wanted = by_index[5]
    assert info.channels[0].channel_index == 9
    assert wanted.voltage_v == f32(3.05)
    assert wanted.master_channel == 5


def test_sixteen_channels_through_the_reader_in_odd_chunks() -> None:
    frame = sixteen_channel_frame()
    reader = FrameReader("client")
    frames = []
    for start in range(0, len(frame) + 1000, 1000):
        reader.feed(frame[start : start + 1000])
        while (got := reader.next_frame()) is not None:
            frames.append(got)
    assert frames == [frame]


def aux_record_bytes() -> bytes:
    """The captured record with 2 aux voltages and 3 aux temperatures appended, by hand."""
    record = bytearray(CAPTURED_RECORD)
    struct.pack_into("<14H", record, COUNTS_AT, 2, 3, *([0] * 12))
    values = [(3.25, 0.0), (-1.5, 0.125), (25.5, 0.25), (26.0, -0.5), (80.75, 1.0)]
    return bytes(record) + b"".join(struct.pack("<ff", v, dt) for v, dt in values)


def test_aux_voltage_and_temperature_groups_decode_in_wire_order() -> None:
    record = aux_record_bytes()
    assert len(record) == RECORD_SIZE + 5 * 8
    frame = make_frame(
        CommandCode.GET_CHANNELS_INFO_FEEDBACK, struct.pack("<I", 1) + record, request=False
    )
    assert len(frame) == 1779 + 40
    info = decode(frame)
    assert isinstance(info, ChannelInfoFeedback)
    (channel,) = info.channels
    assert channel.aux.voltage == (AuxValue(3.25, 0.0), AuxValue(-1.5, 0.125))
    assert channel.aux.temperature == (
        AuxValue(25.5, 0.25),
        AuxValue(26.0, -0.5),
        AuxValue(80.75, 1.0),
    )
    assert channel.aux.counts() == (2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert not channel.aux.pressure
    assert channel.bms == ()
    assert channel.smb == ()
    assert channel.voltage_v == 3.4564647674560547  # the fixed part is unaffected
    assert encode(info) == frame


def test_aux_groups_encode_to_the_documented_offsets() -> None:
    aux = AuxReadings(
        temperature=(AuxValue(30.0, 0.5),),
        voltage=(AuxValue(4.0, 0.0), AuxValue(4.25, 0.0)),
        density=(AuxValue(1.25, 0.0),),
    )
    frame = encode(ChannelInfoFeedback(channels=(ChannelRecord(channel_index=2, aux=aux),)))
    record = frame[24:-2]
    counts = struct.unpack_from("<14H", record, COUNTS_AT)
    assert counts == (2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0)
    values = struct.unpack_from("<8f", record, AUX_AT)
    assert values == (4.0, 0.0, 4.25, 0.0, 30.0, 0.5, 1.25, 0.0)
    assert len(record) == RECORD_SIZE + 4 * 8
    info = decode(frame)
    assert isinstance(info, ChannelInfoFeedback)
    assert info.channels[0].aux == aux


def test_sixteen_channels_each_with_aux() -> None:
    aux = AuxReadings(voltage=(AuxValue(3.5, 0.0),) * 16, temperature=(AuxValue(25.0, 0.0),) * 16)
    records = tuple(ChannelRecord(channel_index=i, aux=aux) for i in range(16))
    frame = encode(ChannelInfoFeedback(channels=records))
    assert len(frame) == 28074 + 16 * 32 * 8
    info = decode(frame)
    assert isinstance(info, ChannelInfoFeedback)
    assert all(len(r.aux.temperature) == 16 for r in info.channels)
    assert info.channels == records


# --- big frames: the checksum is the byte sum modulo 2**16 -------------------------------------

CHUNK = b"\xff" * (512 * 1024)


def test_download_chunk_of_512_kib_wraps_the_checksum() -> None:
    message = DownloadFileFeedback(package_count=3, package_index=1, data=CHUNK)
    frame = encode(message)
    assert len(frame) == 66 + len(CHUNK)
    byte_sum = sum(frame[:-2])
    assert byte_sum > 0xFFFF * 100  # far past 16 bits
    assert struct.unpack_from("<H", frame, len(frame) - 2)[0] == byte_sum % 65536
    assert checksum(frame, 0, len(frame) - 2) == byte_sum % 65536
    assert decode(frame) == message
    reader = FrameReader("client")
    reader.feed(frame)
    assert reader.next_frame() == frame


def test_upload_chunk_and_login_picture_wrap_the_checksum() -> None:
    upload = UploadFileRequest(path="C:\\Work\\a.sdx", data=CHUNK)
    login = LoginFeedback(num_channels=16, picture=CHUNK[:100_000])
    for message in (upload, login):
        frame = encode(message)
        assert sum(frame[:-2]) > 0xFFFF
        assert struct.unpack_from("<H", frame, len(frame) - 2)[0] == sum(frame[:-2]) % 65536
        assert decode(frame) == message
