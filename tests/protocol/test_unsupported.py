"""UNKNOWN_CODE_FEEDBACK (0xBB111111), built from the DLL reference's offsets."""

from __future__ import annotations

import struct

from pyctiarbin.protocol import (
    TOKEN,
    CommandCode,
    FrameReader,
    UnknownCommandFeedback,
    checksum,
    decode,
    encode,
)


def reference_frame(code: int, extend: int = 0) -> bytes:
    # 0 token; 8 dwLen (whole frame, a feedback); 12 dwCmd; 16 dwCmd_Extend; 20 u32 offending
    # dwCmd; 24 u32 offending dwCmd_Extend; 28 128 reserved bytes; 156 checksum. Total 158.
    raw = struct.pack(
        "<QIIIII", TOKEN, 158, CommandCode.UNKNOWN_COMMAND_FEEDBACK, 0, code, extend
    ) + bytes(128)
    return raw + struct.pack("<H", checksum(raw))


def test_the_reference_layout_decodes_whole_and_byte_by_byte() -> None:
    frame = reference_frame(CommandCode.SEND_MESSAGE)
    message = decode(frame)
    assert message == UnknownCommandFeedback(command=CommandCode.SEND_MESSAGE)
    assert message.command_name == "SEND_MESSAGE"
    assert encode(message) == frame
    reader = FrameReader("client")
    out = []
    for byte in frame + b"\x07":
        reader.feed(bytes([byte]))
        while (got := reader.next_frame()) is not None:
            out.append(got)
    assert out == [frame]


def test_an_unlisted_offending_code_is_named_in_hex() -> None:
    message = decode(reference_frame(0xBB990001, extend=5))
    assert isinstance(message, UnknownCommandFeedback)
    assert message.command_name == "0xBB990001"
    assert message.command_extend == 5
