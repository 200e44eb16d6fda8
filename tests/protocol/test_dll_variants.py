"""What a real server may send that our encoder does not: forms ArbinCTI.dll's reference says
are plausible (trailing zero bytes, a NUL counted or not), the server version, the
unknown-command feedback, JSON envelopes, and frames built from pre-encoded parts."""

from __future__ import annotations

import struct

import pytest

from pyctiarbin.protocol import (
    BrowseDirectoryFeedback,
    BrowseResult,
    Capability,
    ChannelInfoFeedback,
    ChannelRecord,
    CommandCode,
    DirEntry,
    GetMetaVariablesRequest,
    GetServerSoftwareVersionFeedback,
    GetServerSoftwareVersionRequest,
    GetStartDataFeedback,
    JumpResult,
    LengthError,
    LoginFeedback,
    LoginJsonRequest,
    MetaVariableEntry,
    ProtocolError,
    ServerVersion,
    StartDataRecord,
    StatusCode,
    TimeSensitiveSetMvFeedback,
    TimeSensitiveSetMvRequest,
    UnknownCommandFeedback,
    UpdateMetaVariableResult,
    UpdateMetaVariablesRequest,
    build_frame,
    checksum,
    decode,
    encode,
)
from pyctiarbin.protocol.messages import ChannelInfoJsonFeedback, ChannelInfoJsonRequest

from .strategies import make_frame


def test_update_mv_advanced_decodes_with_or_without_the_148_zero_bytes() -> None:
    entries = (MetaVariableEntry(1, 52, 2.5),)
    arbin = encode(UpdateMetaVariablesRequest(entries=entries))
    assert len(arbin) == 190 + 8
    body = arbin[20:-2]
    for kept in (148, 100, 1, 0):
        frame = make_frame(
            CommandCode.UPDATE_META_VARIABLE_ADVANCED, body[: 28 + kept], request=True
        )
        decoded = decode(frame)
        assert isinstance(decoded, UpdateMetaVariablesRequest) and decoded.entries == entries
    # The DLL truncating to 160 entries keeps the untruncated buffer: more zeros, still fine.
    longer = make_frame(CommandCode.UPDATE_META_VARIABLE_ADVANCED, body + bytes(80), request=True)
    assert decode(longer) == UpdateMetaVariablesRequest(entries=entries)
    dirty = bytearray(body)
    dirty[-1] = 1
    with pytest.raises(ProtocolError):
        decode(make_frame(CommandCode.UPDATE_META_VARIABLE_ADVANCED, bytes(dirty), request=True))


def test_update_mv_result_codes_follow_the_dll() -> None:
    assert UpdateMetaVariableResult(0x14).name == "TOO_FREQUENT"
    assert UpdateMetaVariableResult(0x13).name == "META_CODE_NOT_IN_PRO7"
    assert [int(code) for code in UpdateMetaVariableResult][-4:] == [0x15, 0x16, 0x17, 0x18]


def test_third_party_strings_decode_with_or_without_their_nul() -> None:
    record = StartDataRecord(channel_index=0, test_names=("T1",), steps=("Rest", "CC"))
    with_nul = encode(GetStartDataFeedback(records=(record,)))[20:-2]
    head = with_nul[: 4 + 480]
    strings = [b"T1", b"Rest", b"CC"]
    without = head + b"".join(struct.pack("<I", len(s)) + s for s in strings)
    counted = head + b"".join(struct.pack("<I", len(s) + 1) + s + b"\x00" for s in strings)
    for body in (with_nul, without, counted):
        frame = make_frame(CommandCode.GET_START_DATA_FEEDBACK, body, request=False)
        assert decode(frame) == GetStartDataFeedback(records=(record,))


def test_browse_result_3_is_a_success_and_4_a_failure() -> None:
    listed = BrowseDirectoryFeedback(result=BrowseResult.SCHEDULE_V1_OK, schedule_files=("a.sdx",))
    assert listed.ok and decode(encode(listed)) == listed
    assert [(e.kind, e.name) for e in listed.listing] == [(1, "a.sdx")]
    directory = BrowseDirectoryFeedback(result=1, entries=(DirEntry(0, "Work"),))
    assert directory.listing == directory.entries
    failed = BrowseDirectoryFeedback(result=4)
    assert not failed.ok and failed.meaning == "invalid directory"


def test_new_codes() -> None:
    assert StatusCode(0x1F) is StatusCode.SUSPENDED and not StatusCode.SUSPENDED.is_running
    assert JumpResult(0x29).name == "CHANNEL_SUSPENDED"
    assert JumpResult(0x2A).name == "ACIM_TESTING"


def test_server_version_from_the_login_feedback() -> None:
    login = decode(encode(LoginFeedback(version=0x01000003, num_channels=8)))
    assert isinstance(login, LoginFeedback)
    version = login.server_version
    assert version is ServerVersion.MITSX_3 and version.uses_vls
    assert version.channel_info_code == CommandCode.GET_CHANNELS_INFO_VLS
    assert ServerVersion(0).start_code == CommandCode.START  # Pro7: legacy
    assert ServerVersion.MITSX_1.resume_ex_code == CommandCode.RESUME_BY_MV
    assert ServerVersion.MITSX_SPTT.channel_info_code == CommandCode.GET_CHANNELS_INFO_JSON
    assert ServerVersion.MITSX_SPTT.start_code == CommandCode.START
    assert ServerVersion.TY_PRO8_4 == 0x04000003
    assert ServerVersion.MITSX_5.time_sensitive and not ServerVersion.MITSX_3.time_sensitive
    unknown = ServerVersion(0x7777)
    assert unknown.name == "UNKNOWN_0x00007777" and unknown.uses_vls
    assert ServerVersion.from_name("MitsX_2") is ServerVersion.MITSX_2
    assert ServerVersion.from_name("sptt") is ServerVersion.MITSX_SPTT
    with pytest.raises(ValueError, match="Pro9"):
        ServerVersion.from_name("Pro9")


def test_unknown_command_feedback_names_the_offending_command() -> None:
    frame = encode(UnknownCommandFeedback(command=CommandCode.ASSIGN_BARCODE))
    assert len(frame) == 158
    decoded = decode(frame)
    assert isinstance(decoded, UnknownCommandFeedback)
    assert decoded.command_name == "ASSIGN_BARCODE"
    assert UnknownCommandFeedback(command=0x12345678).command_name == "0x12345678"


def test_a_code_used_both_ways_decodes_by_its_length_rule() -> None:
    request = decode(encode(GetServerSoftwareVersionRequest()))
    answer = decode(encode(GetServerSoftwareVersionFeedback(version="8.0")))
    assert isinstance(request, GetServerSoftwareVersionRequest)
    assert isinstance(answer, GetServerSoftwareVersionFeedback) and answer.version == "8.0"
    assert isinstance(decode(encode(TimeSensitiveSetMvRequest())), TimeSensitiveSetMvRequest)
    assert isinstance(decode(encode(TimeSensitiveSetMvFeedback())), TimeSensitiveSetMvFeedback)


def test_server_software_version_with_a_counted_nul() -> None:
    body = struct.pack("<I", 4) + bytes(32) + b"8.0\x00"
    frame = make_frame(CommandCode.GET_SERVER_SOFTWARE_VERSION, body, request=False)
    assert decode(frame) == GetServerSoftwareVersionFeedback(version="8.0")


def test_json_envelopes() -> None:
    request = ChannelInfoJsonRequest({"NeedType": 0x700, "ChannelIndex": -1})
    frame = encode(request)
    text = '{"NeedType":1792,"ChannelIndex":-1}'.encode("utf-16-le")
    assert frame[20:-2] == text  # bare UTF-16LE, no length, no NUL
    assert decode(frame) == request
    answer = ChannelInfoJsonFeedback({"m_Channels": [{"Channel": 0, "Status": 2}]})
    body = encode(answer)[20:-2]
    units = struct.unpack_from("<I", body)[0]
    assert body[4:] == '{"m_Channels":[{"Channel":0,"Status":2}]}'.encode("utf-16-le")
    assert units == len(body[4:]) // 2
    counted_nul = struct.pack("<I", units + 1) + body[4:] + b"\x00\x00" + bytes(6)
    frame = make_frame(CommandCode.GET_CHANNELS_INFO_JSON_FEEDBACK, counted_nul, request=False)
    assert decode(frame) == answer
    broken = make_frame(CommandCode.GET_CHANNELS_INFO_JSON_FEEDBACK, body[:-2], request=False)
    with pytest.raises(ProtocolError):
        decode(broken)


def test_login_json_request_checks_credentials_and_hides_them() -> None:
    request = LoginJsonRequest.create("admin", "s3cret")
    assert "s3cret" not in repr(request)
    assert decode(encode(request)) == request
    with pytest.raises(ValueError) as info:
        LoginJsonRequest.create("admin", "sécret")
    assert "é" not in str(info.value)


def test_minimalist_shares_the_get_mv_code() -> None:
    decoded = decode(encode(GetMetaVariablesRequest.minimalist(3)))
    assert isinstance(decoded, GetMetaVariablesRequest) and decoded.is_minimalist
    assert [q.meta_code for q in decoded.queries] == [22, 21]
    assert not GetMetaVariablesRequest().is_minimalist
    assert GetMetaVariablesRequest.minimalist(-1).queries == ()


def test_build_frame_from_pre_encoded_parts() -> None:
    records = [ChannelRecord(channel_index=i, voltage_v=3.0 + i).pack() for i in range(3)]
    message = ChannelInfoFeedback(
        channels=tuple(ChannelRecord(i, voltage_v=3.0 + i) for i in range(3))
    )
    count = struct.pack("<I", 3)
    sums = [None, *(checksum(r) for r in records)]
    frame = build_frame(
        CommandCode.GET_CHANNELS_INFO_FEEDBACK, [count, *records], request=False, part_sums=sums
    )
    assert frame == encode(message)
    assert (
        build_frame(CommandCode.GET_CHANNELS_INFO_FEEDBACK, [count, *records], request=False)
        == frame
    )
    with pytest.raises(ValueError):
        build_frame(CommandCode.STOP, [b"x"], request=True, part_sums=[])


def test_extra_non_zero_bytes_are_still_refused() -> None:
    body = encode(UnknownCommandFeedback(command=1))[20:-2] + b"\x01"
    with pytest.raises(LengthError):
        decode(make_frame(CommandCode.UNKNOWN_COMMAND_FEEDBACK, body, request=False))


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (ServerVersion.PRO7, set()),
        (ServerVersion.PRO8, {"START_AUTO_CALIBRATION"}),
        (ServerVersion.MITSX_1, set()),
        (
            ServerVersion.MITSX_2,
            {
                "GET_META_VARIABLES",
                "ADVANCED_ASSIGN_FILE",
                "MITSX_TEST_OBJECTS",
                "EDIT_ADVANCED_RESUME",
            },
        ),
        (
            ServerVersion.MITSX_SPTT,
            {
                "GET_META_VARIABLES",
                "SET_MCU_LOG_INTERVAL",
                "ADVANCED_ASSIGN_FILE",
                "ADVANCED_SET_META_VARIABLES_EX",
                "MITSX_TEST_OBJECTS",
                "EDIT_ADVANCED_RESUME",
                "BARCODE",
            },
        ),
        (
            ServerVersion.TY_PRO8_4,
            {
                "GET_META_VARIABLES",
                "SET_MCU_LOG_INTERVAL",
                "START_AUTO_CALIBRATION",
                "ADVANCED_ASSIGN_FILE",
                "EDIT_ADVANCED_RESUME",
                "BARCODE",
                "SPECIAL_SET_MV",
            },
        ),
        (
            ServerVersion.MITSX_8,
            {
                "GET_META_VARIABLES",
                "SET_MCU_LOG_INTERVAL",
                "ADVANCED_ASSIGN_FILE",
                "MITSX_TEST_OBJECTS",
                "EDIT_ADVANCED_RESUME",
                "BARCODE",
                "START_CHANNEL_ADVANCED",
                "SPECIAL_SET_MV",
                "GET_MAPPING_AUX",
                "MODIFY_SCHEDULE",
            },
        ),
    ],
)
def test_capability_flags_follow_the_dll_table(version: ServerVersion, expected: set[str]) -> None:
    assert {flag.name for flag in version.capabilities} == expected
    assert all(version.has(flag) for flag in version.capabilities)
    assert not version.has(Capability.GET_MAPPING_AUX) or version is ServerVersion.MITSX_8
