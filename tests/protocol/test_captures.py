"""The 12 captured messages: decoded values, byte-exact re-encoding, and stream parsing.

Each ``.json`` beside a capture holds the values pycti-arbin 0.0.13 decoded from it, under that
library's key names. The tables below map every one of those keys to our attribute (or to a
check); a key without a mapping fails the test, so no field goes unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pyctiarbin.protocol import (
    AUX_KINDS,
    TOKEN,
    AssignScheduleFeedback,
    AssignScheduleRequest,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    FrameReader,
    LoginFeedback,
    LoginRequest,
    LoginResult,
    Message,
    MetaCode,
    ProtocolError,
    SetMetaVariableFeedback,
    SetMetaVariableRequest,
    StartFeedback,
    StartRequest,
    StatusCode,
    StopFeedback,
    StopRequest,
    decode,
    encode,
)
from pyctiarbin.protocol.framing import HEADER

from .strategies import CAPTURES_DIR, drain, feed_in_chunks

# A check takes the decoded message and the json value and asserts something.
Check = Callable[[Any, Any], None]


def attr(name: str) -> Check:
    """The attribute ``name`` (dotted path allowed) equals the json value exactly."""

    def check(message: Any, expected: Any) -> None:
        value = message
        for part in name.split("."):
            value = getattr(value, part)
        assert value == expected, f"{name}: {value!r} != {expected!r}"

    return check


def empty_flag(name: str) -> Check:
    """The seed decodes a 1-byte flag as a char: "" is a zero byte, i.e. False."""

    def check(message: Any, expected: Any) -> None:
        assert expected == ""
        assert getattr(message, name) is False

    return check


def reserved(message: Any, expected: Any) -> None:
    # The seed shows reserved bytes as text; "" means all zero. Our encoder writes zeros there,
    # so the byte-exact re-encoding checked for every capture proves the bytes are zero.
    assert expected == ""


def header_check(message: Any, expected: Any) -> None:
    assert expected == TOKEN


def r128_success(message: Any, expected: Any) -> None:
    assert expected == "success"
    assert message.result == 0
    assert message.ok


def login_success(message: Any, expected: Any) -> None:
    assert expected == "success"
    assert message.result == LoginResult.SUCCESS
    assert int(LoginResult.SUCCESS) == 1
    assert message.succeeded


def channel_list_length(message: Any, expected: Any) -> None:
    assert len(message.channel_indexes) == expected


def first_channel_index(message: Any, expected: Any) -> None:
    assert message.channel_indexes[0] == expected


def mv_ud(position: int) -> Check:
    def check(message: Any, expected: Any) -> None:
        assert message.mv_ud[position] == expected

    return check


def ip_address(message: Any, expected: Any) -> None:
    # The seed shows the 4 raw bytes as a Latin-1 string.
    assert message.ip_address == expected.encode("latin-1") == b"\x03\x03\x1f\x51"


def picture_length(message: Any, expected: Any) -> None:
    assert len(message.picture) == expected


def record(name: str) -> Check:
    """An attribute of the one channel record of a channel-info feedback."""
    inner = attr(name)

    def check(message: Any, expected: Any) -> None:
        inner(message.channels[0], expected)

    return check


def status(message: Any, expected: Any) -> None:
    value = message.channels[0].status
    assert value is StatusCode.REST
    assert value.label == expected == "Rest"


def record_count(message: Any, expected: Any) -> None:
    assert len(message.channels) == expected


def aux_count(kind: str) -> Check:
    def check(message: Any, expected: Any) -> None:
        assert len(getattr(message.channels[0].aux, kind)) == expected

    return check


def aux_values(kind: str, part: str) -> Check:
    def check(message: Any, expected: Any) -> None:
        assert [getattr(v, part) for v in getattr(message.channels[0].aux, kind)] == expected

    return check


def tail_count(name: str) -> Check:
    def check(message: Any, expected: Any) -> None:
        assert len(getattr(message.channels[0], name)) == expected

    return check


# Header keys are checked against the raw header (decode does not keep dwLen); see below.
HEADER_KEYS = {"header", "msg_length", "command_code", "extended_command_code"}

CHANNEL_INFO_FEEDBACK_KEYS: dict[str, Check] = {
    "number_of_channels": record_count,
    "channel": record("channel_index"),
    "status": status,
    "comm_failure": record("comm_failure"),
    "schedule": record("schedule"),
    "testname": record("test_name"),
    "exit_condition": record("exit_condition"),
    "step_and_cycle_format": record("step_and_cycle_format"),
    "barcode": record("barcode"),
    "can_config_name": record("can_config_name"),
    "smb_config_name": record("smb_config_name"),
    "master_channel": record("master_channel"),
    "test_time_s": record("test_time_s"),
    "step_time_s": record("step_time_s"),
    "voltage_v": record("voltage_v"),
    "current_a": record("current_a"),
    "power_w": record("power_w"),
    "charge_capacity_ah": record("charge_capacity_ah"),
    "discharge_capacity_ah": record("discharge_capacity_ah"),
    "charge_energy_wh": record("charge_energy_wh"),
    "discharge_energy_wh": record("discharge_energy_wh"),
    "internal_resistance_ohm": record("internal_resistance_ohm"),
    "dvdt_vbys": record("dvdt_vbys"),
    "acr_ohm": record("acr_ohm"),
    "aci_ohm": record("aci_ohm"),
    "aci_phase_degrees": record("aci_phase_degrees"),
    "bms_count": tail_count("bms"),
    "smb_count": tail_count("smb"),
    **{f"aux_{kind}_count": aux_count(kind) for kind in AUX_KINDS},
    **{f"aux_{kind}": aux_values(kind, "value") for kind in AUX_KINDS},
    **{f"aux_{kind}_dt": aux_values(kind, "dt") for kind in AUX_KINDS},
}

# capture name -> (class, direction role, json key -> check)
CAPTURES: dict[str, tuple[type[Message], str, dict[str, Check]]] = {
    "client_login_msg": (
        LoginRequest,
        "server",
        {"username": attr("username"), "password": attr("password")},
    ),
    "server_login_msg": (
        LoginFeedback,
        "client",
        {
            "result": login_success,
            "ip_address": ip_address,
            "cycler_sn": attr("serial_number"),
            "note": attr("note"),
            "nick_name": attr("nickname"),
            "location": attr("location"),
            "emergency_contact": attr("emergency_contact"),
            "other_comments": attr("other_comments"),
            "email": attr("email"),
            "call": attr("call"),
            "itac": attr("itac"),
            "version": attr("version"),
            "allow_control": attr("allow_control"),
            "num_channels": attr("num_channels"),
            "user_type": attr("user_type"),
            "picture_length": picture_length,
        },
    ),
    "client_channel_info_msg": (
        ChannelInfoRequest,
        "server",
        {
            "channel": attr("channel_index"),
            "channel_selection": attr("selection"),
            "aux_options": attr("aux_options"),
            "reserved": reserved,
        },
    ),
    "server_channel_info_msg": (ChannelInfoFeedback, "client", CHANNEL_INFO_FEEDBACK_KEYS),
    "client_assign_schedule_msg": (
        AssignScheduleRequest,
        "server",
        {
            "channel": attr("channel_index"),
            "assign_all_channels": empty_flag("assign_all"),
            "schedule": attr("schedule"),
            "test_capacity_ah": attr("capacity_ah"),
            "barcode": attr("barcode"),
            **{f"user_variable_{i}": mv_ud(i - 1) for i in range(1, 17)},
            "reserved": reserved,
        },
    ),
    "server_assign_schedule_msg": (
        AssignScheduleFeedback,
        "client",
        {"channel": attr("channel_index"), "result": r128_success, "reserved": reserved},
    ),
    "client_start_schedule_msg": (
        StartRequest,
        "server",
        {
            "test_name": attr("test_name"),
            "num_channels_to_start": channel_list_length,
            "channel": first_channel_index,
        },
    ),
    "server_start_schedule_msg": (
        StartFeedback,
        "client",
        {"channel": attr("channel_index"), "result": r128_success, "reserved": reserved},
    ),
    "client_stop_schedule_msg": (
        StopRequest,
        "server",
        {
            "channel": attr("channel_index"),
            "stop_all_channels": empty_flag("stop_all"),
            "reserved": reserved,
        },
    ),
    "server_stop_schedule_msg": (
        StopFeedback,
        "client",
        {"channel": attr("channel_index"), "result": r128_success, "reserved": reserved},
    ),
    "client_set_meta_variable_msg": (
        SetMetaVariableRequest,
        "server",
        {
            "channel": attr("channel_index"),
            "mv_type": attr("mv_type"),
            "mv_meta_code": attr("meta_code"),
            "reserved_1": reserved,
            "mv_value_type": attr("value_type"),
            "mv_data": attr("value"),
            "reserved_2": reserved,
        },
    ),
    "server_set_meta_variable_msg": (
        SetMetaVariableFeedback,
        "client",
        {"channel": attr("channel_index"), "result": r128_success, "reserved": reserved},
    ),
}

NAMES = sorted(CAPTURES)


def load(name: str) -> tuple[bytes, dict[str, Any]]:
    frame = (CAPTURES_DIR / f"{name}.bin").read_bytes()
    values = json.loads((CAPTURES_DIR / f"{name}.json").read_text())
    return frame, values


def test_all_twelve_captures_are_covered() -> None:
    on_disk = sorted(p.stem for p in CAPTURES_DIR.glob("*.bin"))
    assert on_disk == NAMES
    assert len(NAMES) == 12


@pytest.mark.parametrize("name", NAMES)
def test_capture_decodes_to_its_json_values(name: str) -> None:
    frame, values = load(name)
    cls, _role, checks = CAPTURES[name]
    message = decode(frame)
    assert type(message) is cls

    assert set(values) == HEADER_KEYS | set(checks), "every json key must be mapped"
    token, dw_len, code, extended = HEADER.unpack_from(frame)
    assert values["header"] == token == TOKEN
    assert values["msg_length"] == dw_len
    assert values["command_code"] == code == cls.CODE
    assert values["extended_command_code"] == extended == 0
    for key, check in checks.items():
        check(message, values[key])


def test_known_values_spelled_out() -> None:
    """A few values written here by hand, independent of the json files."""
    login = decode(load("server_login_msg")[0])
    assert isinstance(login, LoginFeedback)
    assert (login.num_channels, login.serial_number, login.itac) == (16, "207855", 7918320)
    info = decode(load("server_channel_info_msg")[0])
    assert isinstance(info, ChannelInfoFeedback)
    (channel,) = info.channels
    assert channel.channel_index == 13
    assert channel.schedule == "Rest+207855.sdx"
    assert channel.voltage_v == 3.4564647674560547
    assert channel.test_time_s == 2.5432
    mv = decode(load("client_set_meta_variable_msg")[0])
    assert isinstance(mv, SetMetaVariableRequest)
    assert mv.meta_code == MetaCode.MV_UD1
    assert mv.value == 0.20000000298023224  # 0.2 as an f32
    start = decode(load("client_start_schedule_msg")[0])
    assert start == StartRequest(test_name="sample_test_name", channel_indexes=(13,))


@pytest.mark.parametrize("name", NAMES)
def test_capture_re_encodes_byte_for_byte(name: str) -> None:
    frame, _values = load(name)
    message = decode(frame)
    assert encode(message) == frame
    assert decode(bytearray(frame)) == message
    assert decode(memoryview(frame)) == message


# --- stream parsing, h11 style: whole, byte by byte, with garbage around ----------------------


def roles_for(name: str) -> list[str]:
    return ["any", CAPTURES[name][1]]


CASES = [(name, role) for name in NAMES for role in roles_for(name)]


@pytest.mark.parametrize(("name", "role"), CASES)
def test_stream_whole(name: str, role: str) -> None:
    frame, _ = load(name)
    reader = FrameReader(role)
    reader.feed(frame)
    assert drain(reader) == [frame]
    assert reader.buffered == 0
    assert reader.skipped_bytes == 0
    reader.close()


@pytest.mark.parametrize(("name", "role"), CASES)
def test_stream_one_byte_at_a_time(name: str, role: str) -> None:
    frame, _ = load(name)
    reader = FrameReader(role)
    got = []
    for position in range(len(frame)):
        reader.feed(frame[position : position + 1])
        result = reader.next_frame()
        if position < len(frame) - 1:
            assert result is None
        else:
            got.append(result)
    assert got == [frame]
    assert reader.buffered == 0
    assert reader.skipped_bytes == 0
    reader.close()


# Garbage that starts like a token, holds a broken token and ends like one, so resync is tested.
GARBAGE = b"\x00junk\xdd\xdd\xdd\x11\xdd\xdd\xdd\xdd\xdd\xdd\xdd\x12\xff\xdd\xdd\xdd"


@pytest.mark.parametrize(("name", "role"), CASES)
def test_stream_with_garbage_before(name: str, role: str) -> None:
    frame, _ = load(name)
    for chunk_size in (len(GARBAGE) + len(frame), 1, 7):
        reader = FrameReader(role)
        assert feed_in_chunks(reader, GARBAGE + frame, chunk_size) == [frame]
        assert reader.skipped_bytes == len(GARBAGE)
        assert reader.buffered == 0


@pytest.mark.parametrize(("name", "role"), CASES)
def test_stream_with_trailing_garbage(name: str, role: str) -> None:
    frame, _ = load(name)
    reader = FrameReader(role)
    reader.feed(frame + b"trailing\x00garbage")
    assert reader.next_frame() == frame
    assert reader.next_frame() is None
    assert reader.skipped_bytes == len(b"trailing\x00garbage")
    reader.close()

    # Trailing bytes that could begin the next token are held; at the end of the stream they
    # are a truncated frame, not silently dropped.
    reader = FrameReader(role)
    reader.feed(frame + b"\xdd\xdd\xdd")
    assert reader.next_frame() == frame
    assert reader.next_frame() is None
    assert reader.buffered == 3
    with pytest.raises(ProtocolError, match="3 bytes"):
        reader.close()


@pytest.mark.parametrize(("name", "role"), CASES)
def test_stream_two_frames_concatenated(name: str, role: str) -> None:
    frame, _ = load(name)
    reader = FrameReader(role)
    reader.feed(frame + frame)
    assert drain(reader) == [frame, frame]
    # Split at every point near the boundary, too.
    for cut in range(len(frame) - 3, len(frame) + 4):
        reader = FrameReader(role)
        data = frame + frame
        reader.feed(data[:cut])
        first = drain(reader)
        reader.feed(data[cut:])
        assert first + drain(reader) == [frame, frame]
        assert reader.skipped_bytes == 0


@pytest.mark.parametrize("name", NAMES)
def test_stream_with_the_wrong_role_does_not_yield_the_capture(name: str) -> None:
    # dwLen counts differently by direction, so the role matters when the code is not consulted.
    frame, _ = load(name)
    wrong = "client" if CAPTURES[name][1] == "server" else "server"
    reader = FrameReader(wrong)
    reader.feed(frame)
    try:
        result = reader.next_frame()
    except ProtocolError:
        result = None
    assert result != frame
