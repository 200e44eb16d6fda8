"""Encoding bad values fails with EncodeError naming the field; nothing is truncated or built."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest

from pyctiarbin.errors import CtiError
from pyctiarbin.protocol import (
    MAX_MV_ENTRIES,
    AssignScheduleRequest,
    AuxReadings,
    AuxValue,
    BmsValue,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    ChannelRecord,
    EncodeError,
    LoginFeedback,
    LoginRequest,
    Message,
    MetaVariableEntry,
    SetMetaVariableRequest,
    SmbValue,
    StartExEntry,
    StartExRequest,
    StartRequest,
    StopRequest,
    UpdateMetaVariablesRequest,
    decode,
    encode,
)


def fails(message: Any, *fragments: str) -> EncodeError:
    """``encode(message)`` raises EncodeError whose text names every fragment."""
    with pytest.raises(EncodeError) as info:
        encode(message)
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return info.value


def fits(message: Message) -> bytes:
    frame = encode(message)
    assert decode(frame) == message
    return frame


def test_encode_error_is_a_value_error_and_a_cti_error() -> None:
    error = fails(StopRequest(channel_index=-1), "StopRequest.channel_index")
    assert isinstance(error, ValueError)
    assert isinstance(error, CtiError)


# --- text lengths: the limit fits, one more fails ---------------------------------------------


def test_test_name_of_72_fits_and_73_fails() -> None:
    frame = fits(StartRequest(test_name="n" * 72, channel_indexes=(1,)))
    assert len(frame) == 172
    fails(StartRequest(test_name="n" * 73, channel_indexes=(1,)), "StartRequest.test_name", "73")


def test_wide_text_is_measured_in_utf16_code_units() -> None:
    # A character outside the BMP takes two code units.
    fits(StartRequest(test_name="\U0001f50b" * 36))
    fails(StartRequest(test_name="\U0001f50b" * 36 + "x"), "test_name", "73")


def test_schedule_name_over_200_fails() -> None:
    fits(AssignScheduleRequest(channel_index=0, schedule="s" * 196 + ".sdx"))
    fails(AssignScheduleRequest(channel_index=0, schedule="s" * 197 + ".sdx"), "schedule", "201")
    fails(AssignScheduleRequest(channel_index=0, schedule="s" * 5000), "schedule")


def test_one_byte_text_over_its_width_fails() -> None:
    fits(LoginRequest(username="u" * 32, password="p" * 32))
    fails(LoginRequest(username="u" * 33, password="p"), "LoginRequest.username", "33")
    fails(LoginRequest(username="u", password="p" * 33), "LoginRequest.password")


# --- ranges -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (StopRequest(channel_index=-1), "StopRequest.channel_index"),
        (StopRequest(channel_index=2**32), "StopRequest.channel_index"),
        (StartRequest(test_name="t", channel_indexes=(70000,)), "channel_indexes[0]"),
        (StartRequest(test_name="t", channel_indexes=(1, 2, -1)), "channel_indexes[2]"),
        (ChannelInfoRequest(channel_index=40000), "ChannelInfoRequest.channel_index"),
        (ChannelInfoRequest(channel_index=-40000), "ChannelInfoRequest.channel_index"),
        (SetMetaVariableRequest(channel_index=0, meta_code=2**31), "meta_code"),
        (
            UpdateMetaVariablesRequest(entries=(MetaVariableEntry(70000, 52, 1.0),)),
            "channel_index",
        ),
        (StartExRequest(entries=(StartExEntry(channel_index=-5),)), "channel_index"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Message) else value,
)
def test_integer_outside_its_wire_range_fails(message: Message, field: str) -> None:
    fails(message, field)


def test_wrong_types_fail() -> None:
    fails(StopRequest(channel_index=1.0), "channel_index")  # type: ignore[arg-type]
    fails(StopRequest(channel_index="1"), "channel_index")  # type: ignore[arg-type]
    fails(SetMetaVariableRequest(channel_index=0, value="1.0"), "value")  # type: ignore[arg-type]
    fails(SetMetaVariableRequest(channel_index=0, value=True), "value")
    fails(LoginRequest(username=None, password="p"), "username")  # type: ignore[arg-type]
    fails(LoginFeedback(ip_address=b"\x01\x02"), "ip_address")
    fails(StartRequest(test_name="t", channel_indexes="12"), "channel_indexes")  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        encode(b"\xdd" * 22)  # type: ignore[arg-type]


# --- floats -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 3.5e38, -1e39, 1e300])
def test_meta_variable_value_must_be_a_finite_f32(value: float) -> None:
    fails(SetMetaVariableRequest(channel_index=0, value=value), "SetMetaVariableRequest.value")
    entries = (MetaVariableEntry(0, 52, 1.0), MetaVariableEntry(0, 53, value))
    fails(UpdateMetaVariablesRequest(entries=entries), "value")
    mv = (0.0,) * 7 + (value,) + (0.0,) * 8
    fails(AssignScheduleRequest(channel_index=0, mv_ud=mv), "mv_ud[7]")


def test_largest_f32_fits() -> None:
    largest = 3.4028234663852886e38
    fits(SetMetaVariableRequest(channel_index=0, value=largest))
    fits(SetMetaVariableRequest(channel_index=0, value=-largest))


def test_aux_and_bms_values_are_checked() -> None:
    bad_aux = ChannelRecord(0, aux=AuxReadings(temperature=(AuxValue(math.nan, 0.0),)))
    fails(ChannelInfoFeedback(channels=(bad_aux,)), "aux.temperature[0].value")
    bad_bms = ChannelRecord(0, bms=(BmsValue(0, math.inf, "V"),))
    fails(ChannelInfoFeedback(channels=(bad_bms,)), "bms[0].value")


# --- text that the field's encoding cannot carry ------------------------------------------------


def test_non_ascii_credentials_fail_without_quoting_them() -> None:
    # ArbinCTI.dll sends credentials as strict ASCII; the error names the field and the
    # position, never the character (it may be part of a password).
    for username, password, field, secret in (
        ("m\u00fcller", "p", "username", "\u00fc"),
        ("u", "pa\u00dfwort", "password", "\u00df"),
        ("u", "\u043f\u0430\u0440\u043e\u043b\u044c", "password", "\u043f"),
    ):
        with pytest.raises(EncodeError) as info:
            encode(LoginRequest(username=username, password=password))
        text = str(info.value)
        assert field in text and "ASCII" in text
        assert secret not in text and (field != "password" or password not in text)
        assert secret not in repr(info.value)


def test_non_latin1_in_a_one_byte_field_fails() -> None:
    bad_unit = ChannelRecord(0, bms=(BmsValue(0, 1.0, "\u2103"),))
    fails(ChannelInfoFeedback(channels=(bad_unit,)), "bms[0].unit")


def test_unpaired_surrogate_in_a_wide_field_fails() -> None:
    fails(StartRequest(test_name="test\ud800name"), "StartRequest.test_name", "surrogate")
    fails(AssignScheduleRequest(channel_index=0, schedule="\udfff.sdx"), "schedule")


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (LoginRequest(username="user\x00name", password="p"), "username"),
        (LoginRequest(username="u", password="\x00"), "password"),
        (StartRequest(test_name="a\x00b"), "test_name"),
        (AssignScheduleRequest(channel_index=0, schedule="x.sdx\x00"), "schedule"),
        (ChannelInfoFeedback(channels=(ChannelRecord(0, bms=(BmsValue(0, 1, "V\x00"),)),)), "unit"),
        (ChannelInfoFeedback(channels=(ChannelRecord(0, smb=(SmbValue(0, "a\x00", ""),)),)), "smb"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Message) else value,
)
def test_nul_inside_text_fails(message: Message, field: str) -> None:
    fails(message, field, "NUL")


# --- counts -------------------------------------------------------------------------------------


def test_more_than_160_meta_variable_entries_fails() -> None:
    assert MAX_MV_ENTRIES == 160
    entry = MetaVariableEntry(channel_index=0, meta_code=52, value=1.0)
    frame = fits(UpdateMetaVariablesRequest(entries=(entry,) * 160))
    assert len(frame) == 190 + 8 * 160
    fails(UpdateMetaVariablesRequest(entries=(entry,) * 161), "entries", "161", "160")


def test_more_aux_values_than_a_u16_count_holds_fails() -> None:
    too_many = AuxReadings(voltage=(AuxValue(1.0, 0.0),) * 0x10000)
    fails(ChannelInfoFeedback(channels=(ChannelRecord(0, aux=too_many),)), "aux.voltage")
    fits(
        ChannelInfoFeedback(channels=(ChannelRecord(0, aux=AuxReadings(ph=too_many.voltage[1:])),))
    )
    bms = (BmsValue(0, 1.0, ""),) * 0x10000
    fails(ChannelInfoFeedback(channels=(ChannelRecord(0, bms=bms),)), "bms")


def test_an_encode_error_about_the_password_quotes_none_of_it() -> None:
    from pyctiarbin.errors import EncodeError
    from pyctiarbin.protocol import LoginRequest, encode

    for password in ("pa\u20acss", "x" * 40, "nul\x00here"):
        with pytest.raises(EncodeError) as caught:
            encode(LoginRequest(username="admin", password=password))
        message = str(caught.value)
        assert message == (
            "LoginRequest.password cannot go on the wire: it must be ASCII text of at most 32 "
            "characters without NUL (the value is secret and not shown)"
        )
        # No chained error carries the value either.
        assert caught.value.__context__ is None and caught.value.__cause__ is None
    # The user name's error names the field and where the bad character is.
    with pytest.raises(EncodeError, match=r"LoginRequest\.username has a character at position 2"):
        encode(LoginRequest(username="us\u20acr", password="p"))


def test_a_transfer_time_stamp_is_echoed_whatever_its_bits_but_a_request_must_be_finite() -> None:
    from pyctiarbin.protocol import DownloadFileFeedback, DownloadFileRequest, UploadFileFeedback

    nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_DEAD_BEEF))[0]
    for feedback, offset in (
        (DownloadFileFeedback(result=2, download_time=nan), 24),
        (UploadFileFeedback(result=2, upload_time=nan), 20),
        (UploadFileFeedback(result=2, upload_time=float("-inf")), 20),
    ):
        frame = encode(feedback)
        stamp = (
            feedback.download_time
            if isinstance(feedback, DownloadFileFeedback)
            else (feedback.upload_time)
        )
        assert frame[offset : offset + 8] == struct.pack("<d", stamp)
    with pytest.raises(EncodeError, match=r"DownloadFileRequest\.download_time=nan"):
        encode(DownloadFileRequest(path="Work/a.txt", download_time=nan))
