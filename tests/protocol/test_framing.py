"""FrameReader (stream to frames), the checksum, and decode()'s framing errors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyctiarbin.protocol import (
    DEFAULT_MAX_FRAME_SIZE,
    MIN_FRAME_SIZE,
    TOKEN,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    ChannelRecord,
    ChecksumError,
    CommandCode,
    FrameReader,
    LengthError,
    LoginRequest,
    ProtocolError,
    StopFeedback,
    StopRequest,
    TokenError,
    TruncatedFrameError,
    UnknownCommandError,
    checksum,
    decode,
    encode,
)
from pyctiarbin.protocol.framing import TOKEN_BYTES

from .strategies import drain, feed_in_chunks, fix_checksum, make_frame

REQUEST = encode(StopRequest(channel_index=13))
FEEDBACK = encode(StopFeedback(channel_index=13, result=0))
OTHER_FEEDBACK = encode(StopFeedback(channel_index=2, result=0x12))


def test_token_is_the_documented_bytes() -> None:
    assert TOKEN == 0x11DDDDDDDDDDDDDD
    assert bytes.fromhex("DDDDDDDDDDDDDD11") == TOKEN_BYTES
    assert MIN_FRAME_SIZE == 22


# --- resynchronisation and counting ---------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"x",
        b"\x00" * 100,
        b"\xdd" * 7,  # a token prefix that is not a token: the frame's own token follows it
        b"\xdd" * 20,
        b"\x11\xdd\xdd",
        b"\xdd\xdd\xdd\xdd\xdd\xdd\xdd\x10",  # a token with its last byte wrong
        bytes(range(256)) * 3,
    ],
    ids=lambda garbage: f"{len(garbage)}-bytes-{garbage[:3].hex()}",
)
def test_resync_after_garbage_counts_exactly_the_garbage(garbage: bytes) -> None:
    for chunk in (1, 3, 8, 1000):
        reader = FrameReader("client")
        assert feed_in_chunks(reader, garbage + FEEDBACK, chunk) == [FEEDBACK]
        assert reader.skipped_bytes == len(garbage)
        assert reader.buffered == 0


def test_stray_bytes_between_frames() -> None:
    reader = FrameReader("client")
    reader.feed(FEEDBACK + b"\r\n" + OTHER_FEEDBACK + b"\xdd\xdd\x00" + FEEDBACK)
    assert drain(reader) == [FEEDBACK, OTHER_FEEDBACK, FEEDBACK]
    assert reader.skipped_bytes == 5
    assert reader.buffered == 0


def test_garbage_is_counted_even_when_no_frame_follows() -> None:
    reader = FrameReader("client")
    reader.feed(b"hello world")
    assert reader.next_frame() is None
    assert reader.skipped_bytes == len(b"hello world")
    assert reader.buffered == 0
    reader.feed(b"\xdd\xdd")  # could start a token: held back, not counted
    assert reader.next_frame() is None
    assert (reader.skipped_bytes, reader.buffered) == (11, 2)
    reader.feed(b"!")  # now it cannot
    assert reader.next_frame() is None
    assert (reader.skipped_bytes, reader.buffered) == (14, 0)


# --- partial frames ---------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 7, 8, 11, 12, 15, 16, 20, 100, len(FEEDBACK) - 1])
def test_partial_frame_waits_for_the_rest(cut: int) -> None:
    reader = FrameReader("client")
    reader.feed(FEEDBACK[:cut])
    assert reader.next_frame() is None
    assert reader.next_frame() is None  # asking again does not consume anything
    assert reader.buffered == cut
    assert reader.skipped_bytes == 0
    reader.feed(FEEDBACK[cut:])
    assert reader.next_frame() == FEEDBACK
    assert reader.next_frame() is None


def test_requests_and_feedbacks_interleaved_with_role_any() -> None:
    login = encode(LoginRequest(username="u", password="p"))
    info = encode(ChannelInfoRequest(channel_index=-1))
    stream = REQUEST + FEEDBACK + login + OTHER_FEEDBACK + info
    reader = FrameReader("any")
    reader.feed(stream)
    assert drain(reader) == [REQUEST, FEEDBACK, login, OTHER_FEEDBACK, info]


def test_frames_from_the_reader_decode_without_a_second_checksum_pass() -> None:
    reader = FrameReader("server")
    reader.feed(REQUEST)
    frame = reader.next_frame()
    assert frame is not None
    assert decode(frame, verify_checksum=False) == StopRequest(channel_index=13)


# --- errors -----------------------------------------------------------------------------------


def corrupt(frame: bytes, position: int = 30) -> bytes:
    data = bytearray(frame)
    data[position] ^= 0x40
    return bytes(data)


def test_checksum_error_consumes_the_bad_frame_and_the_next_frame_comes_out() -> None:
    bad = corrupt(FEEDBACK)
    reader = FrameReader("client")
    reader.feed(bad + OTHER_FEEDBACK)
    with pytest.raises(ChecksumError) as info:
        reader.next_frame()
    assert info.value.frame == bad  # type: ignore[attr-defined]
    assert reader.next_frame() == OTHER_FEEDBACK
    assert reader.next_frame() is None
    assert reader.skipped_bytes == 0
    assert reader.buffered == 0


def test_checksum_error_on_a_corrupted_checksum_field() -> None:
    bad = FEEDBACK[:-1] + bytes([FEEDBACK[-1] ^ 1])
    reader = FrameReader("client")
    reader.feed(bad + FEEDBACK)
    with pytest.raises(ChecksumError):
        reader.next_frame()
    assert reader.next_frame() == FEEDBACK


@pytest.mark.parametrize(
    ("role", "dw_len"),
    [
        ("client", 0),
        ("client", 21),  # a feedback of 21 bytes cannot hold header and checksum
        ("server", 9),  # a request of 9 + 12 = 21 bytes
        ("any", 21),  # unknown code: read as a feedback
        ("client", 0xFFFFFFF0),
        ("server", 0xFFFFFFF0),
        ("any", 0xFFFFFFFF),
        ("client", DEFAULT_MAX_FRAME_SIZE + 1),
        ("server", DEFAULT_MAX_FRAME_SIZE - 11),
    ],
)
def test_length_error_for_a_length_below_the_minimum_or_above_the_maximum(
    role: str, dw_len: int
) -> None:
    bad_header = struct.pack("<QIII", TOKEN, dw_len, 0x12345678, 0)
    reader = FrameReader(role)
    reader.feed(bad_header)
    with pytest.raises(LengthError):
        reader.next_frame()
    # The reader skipped the token and resynchronises: the rest of the header is garbage.
    good = REQUEST if role == "server" else FEEDBACK
    reader.feed(good)
    assert drain(reader) == [good]
    assert reader.skipped_bytes == len(bad_header)


def test_length_at_the_limits_is_accepted() -> None:
    # A frame of exactly max_frame_size passes, one byte more does not.
    body = bytes(100)
    frame = make_frame(0xEEBA7777, body, request=False)
    reader = FrameReader("client", max_frame_size=len(frame))
    reader.feed(frame)
    assert reader.next_frame() == frame
    reader = FrameReader("client", max_frame_size=len(frame) - 1)
    reader.feed(frame)
    with pytest.raises(LengthError):
        reader.next_frame()
    # The shortest frame (no body) is fine too.
    shortest = make_frame(0xEEBA7777, b"", request=False)
    assert len(shortest) == MIN_FRAME_SIZE
    reader = FrameReader("client")
    reader.feed(shortest)
    assert reader.next_frame() == shortest


def test_hostile_length_is_rejected_before_any_body_arrives() -> None:
    reader = FrameReader("client", max_frame_size=4096)
    reader.feed(struct.pack("<QII", TOKEN, 0xFFFFFFF0, 0xEEBA0003))
    with pytest.raises(LengthError):
        reader.next_frame()
    assert reader.buffered < 16


def test_close_with_a_partial_frame_raises_truncated() -> None:
    reader = FrameReader("client")
    reader.feed(FEEDBACK[:50])
    assert reader.next_frame() is None
    with pytest.raises(TruncatedFrameError, match="50 bytes"):
        reader.close()
    assert reader.buffered == 0


def test_close_after_whole_frames_is_quiet() -> None:
    reader = FrameReader("client")
    reader.close()
    reader.feed(FEEDBACK)
    assert reader.next_frame() == FEEDBACK
    reader.close()


def test_reader_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="role"):
        FrameReader("both")
    with pytest.raises(ValueError, match="max_frame_size"):
        FrameReader("client", max_frame_size=MIN_FRAME_SIZE - 1)


# --- checksum ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), cut=st.tuples(st.integers(0, 3000), st.integers(0, 3000)))
def test_checksum_is_the_byte_sum_modulo_2_16(data: bytes, cut: tuple[int, int]) -> None:
    start, end = sorted(cut)
    assert checksum(data) == sum(data) % 65536
    assert checksum(data, start, end) == sum(data[start:end]) % 65536
    assert checksum(bytearray(data)) == checksum(memoryview(data)) == checksum(data)


def test_checksum_wraps_around() -> None:
    assert checksum(b"\xff" * 257) == (255 * 257) % 65536
    assert checksum(b"\xff" * 1_000_000) == (255 * 1_000_000) % 65536


# --- decode()'s framing checks ------------------------------------------------------------------


def test_decode_rejects_a_bad_token() -> None:
    with pytest.raises(TokenError):
        decode(fix_checksum(b"\xdc" + FEEDBACK[1:]))


def test_decode_rejects_an_unknown_code() -> None:
    with pytest.raises(UnknownCommandError):
        decode(make_frame(0xBB310007, bytes(106), request=True))


def test_decode_rejects_a_length_field_that_disagrees_with_the_frame() -> None:
    # A feedback's dwLen is the whole size; the request rule (size - 12) is wrong for it.
    with pytest.raises(LengthError):
        decode(make_frame(CommandCode.STOP_FEEDBACK, bytes(106), request=False, dw_len=116))
    with pytest.raises(LengthError):
        decode(make_frame(CommandCode.STOP, bytes(106), request=True, dw_len=128))


def test_decode_rejects_a_bad_checksum() -> None:
    with pytest.raises(ChecksumError):
        decode(corrupt(FEEDBACK))
    # ... unless told the reader already checked it.
    assert isinstance(decode(corrupt(FEEDBACK), verify_checksum=False), StopFeedback)


def test_decode_rejects_short_frames() -> None:
    with pytest.raises(TruncatedFrameError):
        decode(b"")
    with pytest.raises(TruncatedFrameError):
        decode(FEEDBACK[:21])
    # Consistent dwLen and checksum, but the body is too short for the layout.
    with pytest.raises(TruncatedFrameError):
        decode(make_frame(CommandCode.STOP_FEEDBACK, bytes(4), request=False))


def test_decode_rejects_bytes_left_over_after_the_body() -> None:
    with pytest.raises(LengthError, match="left over"):
        decode(make_frame(CommandCode.STOP_FEEDBACK, bytes(107), request=False))


def test_every_decode_error_is_a_protocol_error() -> None:
    for error in (TokenError, UnknownCommandError, LengthError, ChecksumError, TruncatedFrameError):
        assert issubclass(error, ProtocolError)


def seed_shape(frame: bytes) -> bytes:
    """pycti-arbin 0.0.13's ArbinSpoofer: checksum field zeroed, the real checksum after it."""
    zeroed = frame[:-2] + b"\x00\x00"
    return zeroed + struct.pack("<H", checksum(zeroed))


def test_zero_checksum_shape_is_refused_by_default() -> None:
    reader = FrameReader("client")
    reader.feed(seed_shape(FEEDBACK) + OTHER_FEEDBACK)
    with pytest.raises(ChecksumError):
        reader.next_frame()
    assert reader.next_frame() == OTHER_FEEDBACK
    assert reader.skipped_bytes == 2  # the appended checksum, counted as stray bytes


@pytest.mark.parametrize("how", ["whole", "byte by byte", "with trailing garbage"])
def test_zero_checksum_shape_is_accepted_when_asked(how: str) -> None:
    stream = seed_shape(FEEDBACK) + seed_shape(OTHER_FEEDBACK) + OTHER_FEEDBACK
    reader = FrameReader("client", zero_checksum=True)
    frames: list[bytes] = []
    if how == "byte by byte":
        for byte in stream:
            reader.feed(bytes([byte]))
            frames.extend(drain(reader))
    else:
        reader.feed(stream + (b"\x01\x02\x03" if how == "with trailing garbage" else b""))
        frames = drain(reader)
    # Returned without the two extra bytes, with the zeroed field as it came.
    zeroed = [FEEDBACK[:-2] + b"\x00\x00", OTHER_FEEDBACK[:-2] + b"\x00\x00"]
    assert frames == [*zeroed, OTHER_FEEDBACK]
    assert reader.zero_checksum_frames == 2
    assert reader.skipped_bytes == (3 if how == "with trailing garbage" else 0)
    assert decode(frames[0], verify_checksum=False) == decode(FEEDBACK)


def test_zero_checksum_field_followed_by_a_wrong_checksum_is_still_an_error() -> None:
    zeroed = FEEDBACK[:-2] + b"\x00\x00"
    reader = FrameReader("client", zero_checksum=True)
    reader.feed(zeroed + struct.pack("<H", checksum(zeroed) ^ 1))
    with pytest.raises(ChecksumError):
        reader.next_frame()
    assert reader.zero_checksum_frames == 0


@pytest.mark.parametrize("chunk", [1, 1000, 1 << 20])
def test_receiving_into_the_reader_gives_what_feeding_gives(chunk: int) -> None:
    # A socket receives into receive_buffer() and says how much with received().
    big = encode(ChannelInfoFeedback(tuple(ChannelRecord(channel_index=i) for i in range(40))))
    stream = b"xyz" + FEEDBACK + big + OTHER_FEEDBACK + b"\x01\x02"
    reader = FrameReader("client")
    frames: list[bytes] = []
    rest = memoryview(stream)
    while rest:
        space = reader.receive_buffer()
        count = min(len(space), chunk, len(rest))
        space[:count] = rest[:count]
        reader.received(count)
        rest = rest[count:]
        frames.extend(drain(reader))
    assert frames == [FEEDBACK, big, OTHER_FEEDBACK]
    assert reader.skipped_bytes == 5 and reader.buffered == 0
    # Once a frame's header is in, the space holds the rest of it: one receive completes it.
    reader.feed(big[:16])
    assert len(reader.receive_buffer()) >= len(big) - 16
    with pytest.raises(ValueError):
        reader.received(len(reader.receive_buffer()) + 1)
