"""The CTI wire protocol, sans-IO: framing, checksum, every documented message.

This package contains no networking code: it turns bytes into messages and messages into
bytes. The client and the simulator both speak the wire through it.

    >>> from pyctiarbin.protocol import decode, encode, StopRequest
    >>> frame = encode(StopRequest(channel_index=13))
    >>> decode(frame) == StopRequest(channel_index=13)
    True
"""

from __future__ import annotations

import struct

from ..errors import (
    ChecksumError,
    EncodeError,
    LengthError,
    ProtocolError,
    TokenError,
    TruncatedFrameError,
    UnknownCommandError,
)
from .codes import *  # noqa: F403
from .codes import __all__ as _codes_all
from .framing import (
    CHECKSUM,
    DEFAULT_MAX_FRAME_SIZE,
    HEADER,
    HEADER_SIZE,
    MIN_FRAME_SIZE,
    TOKEN,
    FrameReader,
    build_frame,
    checksum,
)
from .messages import *  # noqa: F403
from .messages import _BY_CODE, _REQUESTS, _SHARED_CODES, Message, message_class
from .messages import __all__ as _messages_all

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "MIN_FRAME_SIZE",
    "TOKEN",
    "ChecksumError",
    "EncodeError",
    "FrameReader",
    "LengthError",
    "ProtocolError",
    "TokenError",
    "TruncatedFrameError",
    "UnknownCommandError",
    "build_frame",
    "checksum",
    "decode",
    "encode",
    "message_class",
    *_codes_all,
    *_messages_all,
]


def encode(message: Message) -> bytes:
    """Encode ``message`` into one whole frame (header, body, checksum).

    Raises EncodeError, naming the field, if a value does not fit its wire field; nothing is
    built or truncated in that case.
    """
    if not isinstance(message, Message):
        raise EncodeError(f"cannot encode {type(message).__name__}: not a CTI message")
    try:
        body = message.pack()
    except (TypeError, AttributeError) as exc:
        # A value of the wrong type inside a nested record (fields check their own types).
        raise EncodeError(f"{type(message).__name__}: a value has the wrong type ({exc})") from exc
    return build_frame(message.CODE, (body,), request=message.IS_REQUEST)


def decode(frame: bytes | bytearray | memoryview, *, verify_checksum: bool = True) -> Message:
    """Decode one whole frame into its message (a request or a feedback; the code tells).

    Checks the token, that dwLen matches the frame's size for the code's direction, the
    checksum (skip with ``verify_checksum=False`` for frames a :class:`FrameReader` has already
    checked), and that the body has exactly the size its layout and counts require.

    Raises a ProtocolError subclass (TokenError, LengthError, ChecksumError,
    UnknownCommandError, TruncatedFrameError) on any malformed input, and nothing else.
    Two codes are used in both directions; for them dwLen's counting rule picks the class.
    """
    if isinstance(frame, memoryview):
        frame = frame.tobytes()
    size = len(frame)
    if size < MIN_FRAME_SIZE:
        raise TruncatedFrameError(f"a frame has at least {MIN_FRAME_SIZE} bytes, got {size}")
    token, dw_len, code, _extended = HEADER.unpack_from(frame, 0)
    if token != TOKEN:
        raise TokenError(f"frame starts with 0x{token:016X}, not the CTI token")
    cls = _BY_CODE.get(code)
    if cls is None:
        raise UnknownCommandError(f"unknown command code 0x{code:08X}")
    if code in _SHARED_CODES and dw_len + 12 == size:
        # A code used both ways: dwLen's counting rule tells the direction.
        cls = _REQUESTS[code]
    expected = dw_len + 12 if cls.IS_REQUEST else dw_len
    if expected != size:
        raise LengthError(
            f"{cls.__name__}: dwLen {dw_len} means a {expected}-byte frame, got {size} bytes"
        )
    if verify_checksum:
        (stored,) = CHECKSUM.unpack_from(frame, size - 2)
        computed = checksum(frame, 0, size - 2)
        if stored != computed:
            raise ChecksumError(
                f"{cls.__name__}: checksum 0x{stored:04X} does not match 0x{computed:04X}"
            )
    end = size - 2
    try:
        message, offset = cls.unpack_from(frame, HEADER_SIZE, end)
    except struct.error as exc:
        raise TruncatedFrameError(
            f"{cls.__name__}: frame too short for its layout ({exc})"
        ) from exc
    except (UnicodeDecodeError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        raise ProtocolError(f"{cls.__name__}: malformed field ({exc})") from exc
    if offset != end:
        raise LengthError(f"{cls.__name__}: {end - offset} bytes left over after the body")
    return message
