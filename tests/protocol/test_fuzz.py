"""Fuzzing: any input either decodes or raises a ProtocolError, and the reader keeps sync.

The invariant (as in h11's fuzz harness): bytes from the wire never make the protocol layer
raise anything but a ProtocolError subclass - no IndexError, struct.error, UnicodeDecodeError,
MemoryError - and never make it hang or buffer without bound.
"""

from __future__ import annotations

import contextlib
import itertools
import struct
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pyctiarbin.protocol import (
    DEFAULT_MAX_FRAME_SIZE,
    MIN_FRAME_SIZE,
    TOKEN,
    BmsValue,
    ChannelInfoFeedback,
    ChannelRecord,
    ChecksumError,
    CommandCode,
    CustomCallbackFeedback,
    CustomCallbackRequest,
    EncodeError,
    FrameReader,
    LoginFeedback,
    Message,
    ProtocolError,
    SmbValue,
    StopFeedback,
    TruncatedFrameError,
    decode,
    encode,
    message_class,
    message_classes,
)
from pyctiarbin.protocol.framing import TOKEN_BYTES

from .strategies import CAPTURES_DIR, make_frame, message_strategies, with_checksum

pytestmark = pytest.mark.timeout(120)

ALL_CLASSES = message_classes()
STRATEGIES = message_strategies()
CAPTURE_FRAMES = [path.read_bytes() for path in sorted(CAPTURES_DIR.glob("*.bin"))]

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def decode_or_protocol_error(frame: bytes) -> Message | None:
    """Decode ``frame``; a ProtocolError is an allowed outcome, anything else fails the test.

    A decoded message must also re-encode or refuse with EncodeError (a decoded value such as a
    NaN reading cannot be sent back), never crash the encoder.
    """
    try:
        message = decode(frame)
    except ProtocolError:
        return None
    assert isinstance(message, Message)
    with contextlib.suppress(EncodeError):
        encode(message)
    return message


# --- decode() ---------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=4000))
def test_decode_random_bytes(data: bytes) -> None:
    decode_or_protocol_error(data)


@FUZZ
@given(
    cls=st.sampled_from(ALL_CLASSES),
    body=st.one_of(st.binary(max_size=300), st.binary(min_size=1000, max_size=9000)),
)
def test_decode_random_body_behind_a_valid_header(cls: type[Message], body: bytes) -> None:
    # dwLen and checksum are right, so the body parser of every class sees the random bytes.
    decode_or_protocol_error(make_frame(cls.CODE, body, request=cls.IS_REQUEST))


@FUZZ
@given(
    cls=st.sampled_from(ALL_CLASSES),
    data=st.binary(max_size=3000),
    dw_len=st.integers(0, 0xFFFFFFFF),
)
def test_decode_random_length_field(cls: type[Message], data: bytes, dw_len: int) -> None:
    frame = with_checksum(struct.pack("<QIII", TOKEN, dw_len, cls.CODE, 0) + data)
    decode_or_protocol_error(frame)


INTERESTING_U32 = st.sampled_from(
    [0, 1, 2, 3, 7, 8, 16, 160, 161, 255, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid frame (generated or captured), mutated, with dwLen and checksum mostly fixed up."""
    if draw(st.booleans()):
        cls = draw(st.sampled_from(ALL_CLASSES))
        frame = bytearray(encode(draw(STRATEGIES[cls])))
    else:
        frame = bytearray(draw(st.sampled_from(CAPTURE_FRAMES)))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "truncate", "extend", "u32", "byte"]))
        # Mostly mutate the body (from byte 20), sometimes the header.
        low = draw(st.sampled_from([20, 20, 20, 0]))
        if len(frame) <= low:
            frame += draw(st.binary(min_size=1, max_size=32))
            continue
        position = draw(st.integers(low, len(frame) - 1))
        if operation == "flip":
            frame[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "truncate":
            del frame[position:]
        elif operation == "extend":
            frame[position:position] = draw(st.binary(min_size=1, max_size=64))
        elif operation == "u32":
            frame[position : position + 4] = struct.pack("<I", draw(INTERESTING_U32))
        else:
            frame[position] = draw(st.sampled_from([0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF]))
    if len(frame) >= MIN_FRAME_SIZE:
        length_rule = draw(st.sampled_from(["fix", "fix", "keep", "random"]))
        if length_rule == "fix":
            (code,) = struct.unpack_from("<I", frame, 12)
            cls_for_code = message_class(code)
            is_request = cls_for_code is not None and cls_for_code.IS_REQUEST
            struct.pack_into("<I", frame, 8, len(frame) - 12 if is_request else len(frame))
        elif length_rule == "random":
            struct.pack_into("<I", frame, 8, draw(st.integers(0, 0xFFFFFFFF)))
        if draw(st.integers(0, 9)):  # usually: fix the checksum so the body parser runs
            frame[-2:] = (sum(frame[:-2]) % 65536).to_bytes(2, "little")
    return bytes(frame)


@FUZZ
@given(frame=mutated_frames())
def test_decode_mutated_valid_frames(frame: bytes) -> None:
    decode_or_protocol_error(frame)


@settings(max_examples=100, deadline=None)
@given(
    cls=st.sampled_from(ALL_CLASSES),
    data=st.data(),
)
def test_decode_every_truncation_of_a_valid_frame_with_fixed_up_length(
    cls: type[Message], data: st.DataObject
) -> None:
    message = data.draw(STRATEGIES[cls])
    body = encode(message)[20:-2]
    for cut in range(len(body) - 1, max(-1, len(body) - 40), -1):
        truncated = make_frame(cls.CODE, body[:cut], request=cls.IS_REQUEST)
        try:
            shorter = decode(truncated)
        except ProtocolError:
            continue
        if isinstance(message, (CustomCallbackRequest, CustomCallbackFeedback)):
            # An opaque BSON document runs to the end of the body: any length is a document.
            assert isinstance(shorter, type(message))
            assert shorter.document == message.document[:cut]
            continue
        # Otherwise only optional bytes may be cut: reserved zero bytes a sender may omit
        # (the 148-byte tails) or the NUL after a THIRD_PARTY_STRING. Nothing else is lost.
        assert shorter == message


# --- hostile counts must not make decoding slow --------------------------------------------


def _record_with_entries(channel_index: int, count_slot: int, entry: bytes) -> bytes:
    """A raw channel record whose BMS (slot 12) or SMB (slot 13) count is 0xFFFF."""
    plain = encode(ChannelInfoFeedback(channels=(ChannelRecord(channel_index),)))[24:-2]
    assert len(plain) == 1753
    counts = bytearray(28)
    counts[2 * count_slot : 2 * count_slot + 2] = b"\xff\xff"
    return plain[:-28] + bytes(counts) + entry * 0xFFFF


def test_many_bms_and_smb_entries_decode_in_linear_time() -> None:
    # Nine records with the u16 maximum of NUL-terminated BMS or SMB entries fill a frame of
    # almost DEFAULT_MAX_FRAME_SIZE. A parser that copies the rest of the frame to find each
    # NUL is quadratic here (minutes); a linear one needs about a second.
    bms_entry = struct.pack("<Id", 7, 1.5) + b"V\x00"
    smb_entry = struct.pack("<II", 8, 1) + b"on\x00" + b"\x00"
    records = [_record_with_entries(i, 12, bms_entry) for i in range(8)]
    records.append(_record_with_entries(8, 13, smb_entry))
    body = struct.pack("<I", len(records)) + b"".join(records)
    frame = make_frame(CommandCode.GET_CHANNELS_INFO_FEEDBACK, body, request=False)
    assert 7_000_000 < len(frame) <= DEFAULT_MAX_FRAME_SIZE
    started = time.perf_counter()
    decoded = decode(frame)
    elapsed = time.perf_counter() - started
    assert isinstance(decoded, ChannelInfoFeedback)
    assert [len(r.bms) for r in decoded.channels] == [0xFFFF] * 8 + [0]
    assert decoded.channels[8].smb[-1] == SmbValue(8, "on", "")
    assert decoded.channels[3].bms[100] == BmsValue(7, 1.5, "V")
    assert elapsed < 10, f"decoding took {elapsed:.1f} s"


def test_unterminated_unit_at_the_end_is_a_protocol_error() -> None:
    record = ChannelRecord(0, bms=(BmsValue(1, 2.0, "xyz"),))
    body = encode(ChannelInfoFeedback(channels=(record,)))[20:-2]
    assert body.endswith(b"xyz\x00")
    code = CommandCode.GET_CHANNELS_INFO_FEEDBACK
    for broken in (body[:-1], body[:-1] + b"!"):
        with pytest.raises(TruncatedFrameError):
            decode(make_frame(code, broken, request=False))


# --- FrameReader --------------------------------------------------------------------------------

POOL = [
    *CAPTURE_FRAMES,
    encode(StopFeedback(channel_index=1, result=0)),
    encode(LoginFeedback(picture=b"\x89PNG" * 100)),
]


def _hostile_header(max_frame_size: int) -> st.SearchStrategy[bytes]:
    lengths = st.one_of(st.integers(0, 9), st.integers(max_frame_size + 1, 0xFFFFFFFF))
    return st.builds(
        lambda dw_len, code: TOKEN_BYTES + struct.pack("<II", dw_len, code),
        lengths,
        st.integers(0, 0xFFFFFFFF),
    )


def _chunks(max_frame_size: int) -> st.SearchStrategy[list[bytes]]:
    pool = st.sampled_from(POOL)
    piece = st.one_of(
        st.binary(max_size=80),
        pool,
        pool.flatmap(lambda f: st.integers(1, len(f) - 1).map(lambda cut: f[:cut])),
        pool.flatmap(lambda f: st.integers(1, len(f) - 1).map(lambda cut: f[cut:])),
        pool.flatmap(
            lambda f: st.integers(20, len(f) - 1).map(
                lambda p: f[:p] + bytes([f[p] ^ 0x01]) + f[p + 1 :]
            )
        ),
        _hostile_header(max_frame_size),
        st.just(TOKEN_BYTES),
    )
    return st.lists(piece, max_size=25)


@FUZZ
@given(
    role=st.sampled_from(["client", "server", "any"]),
    max_frame_size=st.sampled_from([MIN_FRAME_SIZE, 200, 9000, DEFAULT_MAX_FRAME_SIZE]),
    data=st.data(),
)
def test_reader_fed_random_chunks(role: str, max_frame_size: int, data: st.DataObject) -> None:
    pieces = data.draw(_chunks(max_frame_size))
    stream = b"".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    bounds = [0, *cuts, len(stream)]
    reader = FrameReader(role, max_frame_size=max_frame_size)
    out = dropped = 0
    for start, stop in itertools.pairwise(bounds):
        reader.feed(stream[start:stop])
        while True:
            try:
                frame = reader.next_frame()
            except ChecksumError as exc:
                dropped += len(exc.frame)  # type: ignore[attr-defined]
                continue
            except ProtocolError:
                continue
            if frame is None:
                break
            assert type(frame) is bytes
            assert frame.startswith(TOKEN_BYTES)
            assert MIN_FRAME_SIZE <= len(frame) <= max_frame_size
            assert int.from_bytes(frame[-2:], "little") == sum(frame[:-2]) % 65536
            out += len(frame)
        # Waiting for more never means holding more than one maximal frame.
        assert reader.buffered < max_frame_size
        # Nothing is dropped without being counted.
        assert stop == out + dropped + reader.skipped_bytes + reader.buffered
    left = reader.buffered
    if left:
        with pytest.raises(ProtocolError):
            reader.close()
    else:
        reader.close()


@FUZZ
@given(
    role=st.sampled_from(["client", "any"]),
    frame=st.sampled_from([f for f in POOL if decode(f).IS_REQUEST is False]),
    garbage_pieces=st.lists(
        st.one_of(st.binary(max_size=40), _hostile_header(DEFAULT_MAX_FRAME_SIZE)), max_size=8
    ),
    chunk=st.integers(1, 64),
)
def test_reader_finds_a_valid_frame_after_garbage(
    role: str, frame: bytes, garbage_pieces: list[bytes], chunk: int
) -> None:
    garbage = b"".join(garbage_pieces)
    # Only the hostile headers may hold a token (a token inside random garbage followed by a
    # plausible length would legitimately swallow the next frame).
    hostile = sum(piece.startswith(TOKEN_BYTES) for piece in garbage_pieces)
    assume((garbage + frame[:8]).count(TOKEN_BYTES) == hostile + 1)
    stream = garbage + frame
    reader = FrameReader(role)
    frames = []
    length_errors = 0
    for start in range(0, len(stream), chunk):
        reader.feed(stream[start : start + chunk])
        while True:
            try:
                result = reader.next_frame()
            except ProtocolError as exc:
                assert not isinstance(exc, ChecksumError)
                length_errors += 1
                continue
            if result is None:
                break
            frames.append(result)
    assert frames == [frame]
    assert length_errors == hostile
    assert reader.skipped_bytes == len(garbage)
    assert reader.buffered == 0


@pytest.mark.parametrize("role", ["client", "server", "any"])
@pytest.mark.parametrize("dw_len", [0xFFFFFFF0, 0xFFFFFFFF, DEFAULT_MAX_FRAME_SIZE + 1])
def test_hostile_length_never_buffers_beyond_the_maximum(role: str, dw_len: int) -> None:
    max_frame_size = 64 * 1024
    reader = FrameReader(role, max_frame_size=max_frame_size)
    reader.feed(struct.pack("<QIII", TOKEN, dw_len, 0xEEBA0003, 0))
    with pytest.raises(ProtocolError):
        reader.next_frame()
    # A peer that keeps sending after the bad header: the bytes are scanned as garbage.
    filler = bytes(range(1, 200)) * 50
    for _ in range(100):
        reader.feed(filler)
        assert reader.next_frame() is None
        assert reader.buffered < max_frame_size
    # ... and a valid frame still comes through.
    frame = encode(StopFeedback(channel_index=1))
    if role == "server":
        frame = CAPTURE_FRAMES[[decode(f).IS_REQUEST for f in CAPTURE_FRAMES].index(True)]
    reader.feed(frame)
    assert reader.next_frame() == frame
