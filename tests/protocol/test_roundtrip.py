"""Property tests: every message survives encode -> decode -> encode unchanged."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pyctiarbin.protocol import (
    TOKEN,
    AuxReadings,
    AuxValue,
    BmsValue,
    ChannelInfoFeedback,
    ChannelRecord,
    FrameReader,
    Message,
    MetaVariableEntry,
    SetMetaVariableRequest,
    SmbValue,
    UpdateMetaVariablesRequest,
    decode,
    encode,
    message_class,
    message_classes,
)
from pyctiarbin.protocol.framing import HEADER

from .strategies import (
    F32_MAX,
    aux_readings,
    builds_record,
    f32,
    f32s,
    f64s,
    latin1_text,
    message_strategies,
    u32s,
)

ALL_CLASSES = message_classes()
STRATEGIES = message_strategies()


def test_there_are_122_message_classes_and_each_has_a_strategy() -> None:
    # Every code of ArbinCTI.dll's catalogue with a layout, both ways: 61 requests and 61
    # feedbacks. START_EX and RESUME_EX reuse the START and RESUME feedbacks; MINIMALIST's
    # request is GET_MV's (one class, told apart by the version word); two codes are used in
    # both directions (TIME_SENSITIVE_SET_MV, GET_SERVER_SOFTWARE_VERSION).
    assert len(ALL_CLASSES) == 122
    assert len(set(ALL_CLASSES)) == 122
    assert sum(cls.IS_REQUEST for cls in ALL_CLASSES) == 61
    assert sum(not cls.IS_REQUEST for cls in ALL_CLASSES) == 61
    assert set(STRATEGIES) == set(ALL_CLASSES)
    for cls in ALL_CLASSES:
        assert message_class(cls.CODE, request=cls.IS_REQUEST) is cls


def check_frame(message: Message) -> bytes:
    """Encode ``message`` and check everything about the frame and its decoding."""
    frame = encode(message)
    assert isinstance(frame, bytes)

    token, dw_len, code, extended = HEADER.unpack_from(frame)
    assert token == TOKEN
    assert code == type(message).CODE
    assert extended == 0
    assert dw_len == (len(frame) - 12 if type(message).IS_REQUEST else len(frame))
    assert int.from_bytes(frame[-2:], "little") == sum(frame[:-2]) % 65536

    decoded = decode(frame)
    assert type(decoded) is type(message)
    assert decoded == message
    assert encode(decoded) == frame

    role = "server" if type(message).IS_REQUEST else "client"
    # "any" decides by code; for a code used both ways it reads a feedback.
    shared = message_class(type(message).CODE, request=not type(message).IS_REQUEST) is not None
    for reader_role in (role,) if shared and type(message).IS_REQUEST else ("any", role):
        reader = FrameReader(reader_role)
        reader.feed(frame)
        assert reader.next_frame() == frame
        assert reader.next_frame() is None
        assert reader.buffered == 0
        assert reader.skipped_bytes == 0
    return frame


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_message_round_trips(cls: type[Message], data: st.DataObject) -> None:
    check_frame(data.draw(STRATEGIES[cls], label=cls.__name__))


# --- variable parts, with the interesting shapes forced rather than left to chance ---------

rich_records = st.builds(
    ChannelRecord,
    channel_index=u32s,
    aux=aux_readings().filter(bool),
    bms=st.lists(st.builds(BmsValue, u32s, f64s, latin1_text(12)), min_size=1, max_size=4).map(
        tuple
    ),
    smb=st.tuples(
        st.builds(SmbValue, u32s, f64s, latin1_text(12)),
        st.builds(SmbValue, u32s, latin1_text(30), latin1_text(12)),
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(
        st.one_of(rich_records, builds_record(ChannelRecord)), min_size=2, max_size=6
    ).map(tuple)
)
def test_channel_info_with_several_records_and_aux_bms_smb_round_trips(
    records: tuple[ChannelRecord, ...],
) -> None:
    frame = check_frame(ChannelInfoFeedback(channels=records))
    decoded = decode(frame)
    assert isinstance(decoded, ChannelInfoFeedback)
    assert [r.channel_index for r in decoded.channels] == [r.channel_index for r in records]
    for got, sent in zip(decoded.channels, records, strict=True):
        assert got.aux.counts() == sent.aux.counts()
        assert [type(s.value) for s in got.smb] == [type(s.value) for s in sent.smb]


@settings(max_examples=30, deadline=None)
@example(count=0)
@example(count=1)
@example(count=160)
@given(count=st.integers(0, 160))
def test_update_meta_variables_with_0_to_160_entries(count: int) -> None:
    entries = tuple(
        MetaVariableEntry(channel_index=i % 16, meta_code=52 + i % 4, value=f32(i / 7))
        for i in range(count)
    )
    frame = check_frame(UpdateMetaVariablesRequest(entries=entries))
    assert len(frame) == 190 + 8 * count


@settings(max_examples=200, deadline=None)
@given(value=st.floats(min_value=-F32_MAX, max_value=F32_MAX))
def test_f32_fields_carry_the_nearest_f32(value: float) -> None:
    decoded = decode(encode(SetMetaVariableRequest(channel_index=0, value=value)))
    assert isinstance(decoded, SetMetaVariableRequest)
    assert decoded.value == f32(value)
    assert math.isfinite(decoded.value)


@settings(max_examples=100, deadline=None)
@given(value=f32s, dt=f32s)
def test_aux_value_f32_pairs_are_exact(value: float, dt: float) -> None:
    record = ChannelRecord(channel_index=0, aux=AuxReadings(ph=(AuxValue(value, dt),)))
    decoded = decode(encode(ChannelInfoFeedback(channels=(record,))))
    assert isinstance(decoded, ChannelInfoFeedback)
    assert decoded.channels[0].aux.ph == (AuxValue(value, dt),)
