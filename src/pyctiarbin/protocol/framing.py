"""Framing of CTI messages: header, checksum and a stream reader.

Every message, in both directions, is laid out as::

    offset  size  field
    0       8     token        u64 0x11DDDDDDDDDDDDDD, on the wire DD DD DD DD DD DD DD 11
    8       4     dwLen        u32, see below
    12      4     dwCmd        u32 command code
    16      4     dwCmd_Extend u32, always 0
    20      L     body         command specific
    20+L    2     checksum     u16, sum of every preceding byte modulo 2**16

All integers and floats are little-endian and structures are packed (no padding).

``dwLen`` counts differently by direction (every capture agrees with protocol v1.1):
requests count from ``dwCmd`` to the checksum (total - 12); feedbacks count the whole message
(total). The command code tells which: request and feedback codes never coincide.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Final

from ..errors import ChecksumError, LengthError, TruncatedFrameError

__all__ = [
    "CHECKSUM",
    "DEFAULT_MAX_FRAME_SIZE",
    "HEADER",
    "HEADER_SIZE",
    "MIN_FRAME_SIZE",
    "TOKEN",
    "TOKEN_BYTES",
    "FrameReader",
    "build_frame",
    "checksum",
    "checksum_backend",
    "use_checksum_backend",
]

TOKEN: Final = 0x11DDDDDDDDDDDDDD
TOKEN_BYTES: Final = TOKEN.to_bytes(8, "little")
HEADER: Final = struct.Struct("<QIII")
HEADER_SIZE: Final = HEADER.size  # 20
CHECKSUM: Final = struct.Struct("<H")
MIN_FRAME_SIZE: Final = HEADER_SIZE + CHECKSUM.size  # 22
_LEN_AND_CODE: Final = struct.Struct("<II")

# The largest legitimate frames are download/upload chunks (up to 512 KiB of data plus about
# 2 KiB of header) and login feedbacks carrying a picture. A length field beyond this bound is
# treated as corruption, so a hostile peer cannot make a reader wait for gigabytes.
DEFAULT_MAX_FRAME_SIZE: Final = 8 * 1024 * 1024

# zlib.adler32 started from 0 keeps A = sum(bytes) modulo 65521 in its low 16 bits and B in
# its high 16 bits. For a block of at most 256 bytes A is at most 65280, below the modulus, so
# it is the exact byte sum of the block. Adding the blocks' adler32 values leaves the sum of the
# A parts, modulo 2**16, in the low 16 bits (B only ever adds multiples of 2**16).
# Zero bytes add nothing, and CTI frames are mostly NUL padding: dropping them first (one C
# pass) leaves a few blocks instead of dozens. Together this is five to ten times faster than
# sum() over the bytes.
_BLOCK: Final = 256
_PROBE: Final = 4096
_adler32 = zlib.adler32

#: With numpy (and no compiled checksum), ranges of at least this many bytes (a whole-cycler
#: status answer is 350 KB) are summed by numpy: one C pass that copies nothing, two to three
#: times faster than dropping the zeros. Below it, numpy's call overhead costs more than it saves.
NUMPY_MIN_SIZE: Final = 32 * 1024

_ByteSum = Callable[[bytes | bytearray | memoryview, int, int], int]
_BACKENDS: Final = ("auto", "compiled", "numpy", "python")
# The choice (see use_checksum_backend), the C byte sum when built and chosen, and the numpy
# sum when chosen and installed (looked up on first use).
_backend = "python" if os.environ.get("PYCTI_PURE_PYTHON", "") not in ("", "0") else "auto"
_compiled_sum: _ByteSum | None = None
_numpy_sum: _ByteSum | None = None
_numpy_checked = False


def _compiled_module() -> _ByteSum | None:
    try:
        from ._checksum import byte_sum  # built only where a compiler was
    except ImportError:
        return None
    return byte_sum


def use_checksum_backend(name: str) -> str:
    """Choose how :func:`checksum` sums: ``"compiled"`` (the optional C extension),
    ``"numpy"`` (for large ranges, if numpy is installed), ``"python"`` (no acceleration) or
    ``"auto"`` (the compiled one if built, else numpy if installed). Returns the previous choice.

    Every backend gives the same sums; the tests run each. ``PYCTI_PURE_PYTHON=1`` in the
    environment chooses ``"python"`` at import. Raises ValueError for another name and
    ModuleNotFoundError if the chosen acceleration is not installed.
    """
    global _backend, _compiled_sum, _numpy_sum, _numpy_checked  # one process-wide switch
    if name not in _BACKENDS:
        raise ValueError(f"checksum backend must be one of {list(_BACKENDS)}, not {name!r}")
    compiled = _compiled_module() if name in ("auto", "compiled") else None
    if name == "compiled" and compiled is None:
        raise ModuleNotFoundError("the compiled checksum (protocol._checksum) is not built")
    if name == "numpy" and importlib.util.find_spec("numpy") is None:
        raise ModuleNotFoundError("numpy is not installed")
    before = _backend
    _backend, _compiled_sum, _numpy_sum, _numpy_checked = name, compiled, None, False
    return before


def checksum_backend() -> str:
    """What :func:`checksum` uses now: ``"compiled"``, ``"numpy"`` or ``"python"``."""
    if _compiled_sum is not None:
        return "compiled"
    if _backend in ("auto", "numpy") and importlib.util.find_spec("numpy") is not None:
        return "numpy"
    return "python"


def _load_numpy_sum() -> None:
    global _numpy_checked, _numpy_sum  # resolved once, on first use
    _numpy_checked = True
    if _backend not in ("auto", "numpy"):
        return
    try:
        import numpy  # optional; only worth importing for big frames
    except ImportError:
        return
    frombuffer, uint8, uint16 = numpy.frombuffer, numpy.uint8, numpy.uint16

    def numpy_sum(data: bytes | bytearray | memoryview, start: int, end: int) -> int:
        # Summed in uint16, numpy wraps modulo 2**16: exactly the CTI checksum.
        return int(frombuffer(data, uint8, end - start, start).sum(dtype=uint16))

    _numpy_sum = numpy_sum


def checksum(data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None) -> int:
    """Return the CTI checksum of ``data[start:end]``: the byte sum modulo 2**16."""
    if _compiled_sum is not None:
        return _compiled_sum(data, start, end)  # type: ignore[arg-type]
    size = len(data)
    if end is None:
        end = size
    if not 0 <= start <= end <= size:  # slice semantics (negative or outlying bounds)
        start, end, _step = slice(start, end).indices(size)
        end = max(start, end)
    if end - start >= NUMPY_MIN_SIZE:
        if not _numpy_checked:
            _load_numpy_sum()
        if _numpy_sum is not None:
            return _numpy_sum(data, start, end)
    # The bytes of ``part`` beyond ``end`` (a frame's own checksum field) are subtracted at
    # the end; that spares copying a whole frame to leave them out.
    excess = 0
    part: bytes | bytearray
    if start == 0 and isinstance(data, bytes) and size - end <= 2:
        part = data
        if end != size:
            excess = data[-1] + data[-2] if end == size - 2 else data[-1]
    else:
        piece = data[start:end]
        part = piece.tobytes() if isinstance(piece, memoryview) else piece
    # Status and control frames are mostly NUL padding: drop the zeros first. File chunks are
    # dense with data; a look at their first bytes spares them a pass that would not pay.
    if end - start <= _PROBE or len(part[:_PROBE].translate(None, b"\x00")) < _PROBE // 2:
        part = part.translate(None, b"\x00")
    if len(part) <= _BLOCK:
        return (_adler32(part, 0) - excess) & 0xFFFF
    total = -excess
    for offset in range(0, len(part), _BLOCK):
        total += _adler32(part[offset : offset + _BLOCK], 0)
    return total & 0xFFFF


use_checksum_backend(_backend)  # the compiled sum, if chosen and built


def build_frame(
    code: int,
    parts: Sequence[bytes],
    *,
    request: bool,
    part_sums: Sequence[int | None] | None = None,
) -> bytes:
    """One whole frame (header, body, checksum) from body parts encoded beforehand.

    ``parts`` are joined as the body; ``part_sums`` may give each part's :func:`checksum`
    (``None`` where unknown), so that a sender caching encoded records (the simulator's channel
    records) does not sum them again. dwLen follows the direction's rule.
    """
    size = HEADER_SIZE + sum(len(part) for part in parts) + CHECKSUM.size
    head = HEADER.pack(TOKEN, size - 12 if request else size, code, 0)
    if part_sums is None:
        body = b"".join(parts)
        total = checksum(head) + checksum(body)
    else:
        if len(part_sums) != len(parts):
            raise ValueError("part_sums must give one entry per part")
        body = b"".join(parts)
        total = checksum(head)
        for part, known in zip(parts, part_sums, strict=True):
            total += checksum(part) if known is None else known
    return b"".join((head, body, CHECKSUM.pack(total & 0xFFFF)))


# The direction of a command code decides how dwLen counts. Filled by the message registry.
_REQUEST_CODES: set[int] = set()
_FEEDBACK_CODES: set[int] = set()


def register_direction(code: int, *, request: bool) -> None:
    """Record whether ``code`` is a request (dwLen = total - 12) or a feedback (dwLen = total)."""
    (_REQUEST_CODES if request else _FEEDBACK_CODES).add(code)


def frame_size(dw_len: int, code: int, role: str) -> int:
    """Total frame size for a header with ``dw_len`` and ``code``, read by ``role``.

    ``role`` is ``"client"`` (frames are feedbacks), ``"server"`` (frames are requests) or
    ``"any"`` (the code decides; an unknown code is read as a feedback).
    """
    if role == "server":
        return dw_len + 12
    if role == "client":
        return dw_len
    # A code used both ways (two exist) is read as a feedback: "any" is for tests and tools.
    return dw_len + 12 if code in _REQUEST_CODES and code not in _FEEDBACK_CODES else dw_len


# A reader's store starts at 64 KiB and grows to the largest frame it has held; above 1 MiB
# (file chunks) it shrinks back once empty.
_STORE_SIZE: Final = 64 * 1024
_STORE_KEEP: Final = 1024 * 1024
# receive_buffer() offers at least this much space when the length of what comes next is unknown.
_RECEIVE_SIZE: Final = 16 * 1024


class FrameReader:
    """Turn a byte stream into whole CTI frames. No I/O: feed it what the socket gave.

    ``feed(data)`` appends bytes; ``next_frame()`` then has three outcomes, as in h11:

    * returns one whole frame (``bytes``), token to checksum, with its checksum verified;
    * returns ``None``: more bytes are needed;
    * raises a :class:`ProtocolError` subclass. The offending bytes have been consumed, so the
      next call carries on with the rest of the stream:

      - :class:`ChecksumError`: a frame of consistent length whose checksum is wrong (the frame
        is dropped; the error carries it as ``.frame``);
      - :class:`LengthError`: a length field below the minimum or above ``max_frame_size``
        (the token is skipped and the reader resynchronises on the next token).

    Bytes before a token (garbage, stray bytes between frames) are skipped and counted in
    :attr:`skipped_bytes`; nothing is dropped without being counted.

    ``role`` says which way dwLen counts: ``"client"`` reads feedbacks, ``"server"`` reads
    requests, ``"any"`` decides by command code.

    ``zero_checksum=True`` also accepts the shape pycti-arbin 0.0.13's ``ArbinSpoofer`` sends:
    the checksum field zeroed and the real checksum in two bytes *after* the frame (outside
    dwLen). Such a frame is returned without its two extra bytes and counted in
    :attr:`zero_checksum_frames`; a zeroed field followed by anything else is still a
    :class:`ChecksumError`. Off by default: a strict reader never waits for bytes beyond dwLen.
    """

    __slots__ = (
        "_end",
        "_max_frame_size",
        "_role",
        "_start",
        "_store",
        "_view",
        "_zero_checksum",
        "skipped_bytes",
        "zero_checksum_frames",
    )

    def __init__(
        self,
        role: str = "client",
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        zero_checksum: bool = False,
    ) -> None:
        if role not in ("client", "server", "any"):
            raise ValueError(f"role must be 'client', 'server' or 'any', not {role!r}")
        if max_frame_size < MIN_FRAME_SIZE:
            raise ValueError(f"max_frame_size must be at least {MIN_FRAME_SIZE}")
        self._role = role
        self._max_frame_size = max_frame_size
        # The unread bytes are _store[_start:_end]. The store keeps its size from frame to
        # frame: a whole-cycler answer (350 KB) is copied into memory already in use, not into
        # fresh pages each time (which costs more than the copy).
        self._store = bytearray(_STORE_SIZE)
        self._view = memoryview(self._store)  # the store never resizes: it is replaced
        self._start = self._end = 0
        self._zero_checksum = zero_checksum
        self.skipped_bytes = 0
        self.zero_checksum_frames = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes (a copy; :meth:`receive_buffer` spares it)."""
        count = len(data)
        if isinstance(data, memoryview) and data.nbytes != count:  # items wider than a byte
            data = data.tobytes()
            count = len(data)
        end = self._end
        if end + count > len(self._store):
            self._make_room(count)
            end = self._end
        self._store[end : end + count] = data
        self._end = end + count

    def receive_buffer(self) -> memoryview:
        """Free space after the held bytes, for a socket to receive into (``recv_into``);
        call :meth:`received` next, before anything else, with the number of bytes written at
        its start. The bytes then need no copy into the reader.

        When the length of the frame being received is known, the space holds all of its
        rest, so that one receive can complete it; otherwise it holds at least 16 KiB.
        """
        start, end = self._start, self._end
        wanted = _RECEIVE_SIZE
        if end - start >= 16 and self._store.startswith(TOKEN_BYTES, start):
            size = self._size_at(start)
            if MIN_FRAME_SIZE <= size <= self._max_frame_size:
                wanted = max(wanted, size - (end - start))
        if len(self._store) - end < wanted:
            self._make_room(wanted)
            end = self._end
        return self._view[end:]

    def received(self, count: int) -> None:
        """Take the ``count`` bytes just written at the start of :meth:`receive_buffer`.

        Raises ValueError for a count that the space cannot hold.
        """
        end = self._end + count
        if count < 0 or end > len(self._store):
            raise ValueError(f"{count} bytes cannot have been received into the free space")
        self._end = end

    def _size_at(self, start: int) -> int:
        """The size of the frame whose token is at ``start`` (its header held), as dwLen says."""
        dw_len, code = _LEN_AND_CODE.unpack_from(self._store, start + 8)
        return dw_len if self._role == "client" else frame_size(dw_len, code, self._role)

    def _make_room(self, count: int) -> None:
        """Move the unread bytes to the front of the store, in a larger one if need be."""
        start, end = self._start, self._end
        unread = end - start
        store = self._store
        if unread + count > len(store):
            store = bytearray(max(unread + count, 2 * len(store)))
        store[:unread] = self._view[start:end]
        self._store, self._view, self._start, self._end = store, memoryview(store), 0, unread

    def _consume(self, count: int) -> None:
        self._start += count
        if self._start == self._end:
            self._start = self._end = 0
            if len(self._store) > _STORE_KEEP:  # after a file chunk: give the memory back
                self._store = bytearray(_STORE_SIZE)
                self._view = memoryview(self._store)

    @property
    def buffered(self) -> int:
        """Number of bytes held that do not yet form a whole frame."""
        return self._end - self._start

    def next_frame(self) -> bytes | None:
        """Return the next whole frame, ``None`` if more data is needed, or raise (see class)."""
        if self._start == self._end:
            return None
        buf = self._store
        while True:
            start, end = self._start, self._end
            if end - start < 8:
                self._skip_to_possible_token()
                return None
            if not buf.startswith(TOKEN_BYTES, start):
                index = buf.find(TOKEN_BYTES, start, end)
                if index < 0:
                    self._skip_to_possible_token()
                    return None
                self.skipped_bytes += index - start
                self._consume(index - start)
                continue
            if end - start < 16:
                return None
            size = self._size_at(start)
            if size < MIN_FRAME_SIZE or size > self._max_frame_size:
                # Not a frame we can trust: skip this token and look for the next one.
                self._consume(8)
                self.skipped_bytes += 8
                raise LengthError(
                    f"frame length {size} is outside {MIN_FRAME_SIZE}..{self._max_frame_size}"
                )
            if end - start < size:
                return None
            if self._zero_checksum and buf[start + size - 2] == 0 and buf[start + size - 1] == 0:
                computed = checksum(buf, start, start + size - 2)
                if computed != 0:
                    # The 0.0.13 shape: the real checksum follows the zeroed field.
                    if end - start < size + 2:
                        return None
                    (trailing,) = CHECKSUM.unpack_from(buf, start + size)
                    if trailing == computed:
                        frame = bytes(self._view[start : start + size])
                        self._consume(size + 2)
                        self.zero_checksum_frames += 1
                        return frame
            frame = bytes(self._view[start : start + size])
            if start + size == end:  # the usual case: the store held this frame alone
                self._start = self._end = 0
                if len(buf) > _STORE_KEEP:
                    self._consume(0)
            else:
                self._consume(size)
            (stored,) = CHECKSUM.unpack_from(frame, size - 2)
            byte_sum = _compiled_sum or checksum
            computed = byte_sum(frame, 0, size - 2)
            if stored != computed:
                _dw_len, code = _LEN_AND_CODE.unpack_from(frame, 8)
                error = ChecksumError(
                    f"checksum mismatch in a {size}-byte frame (code 0x{code:08X}): "
                    f"stored 0x{stored:04X}, computed 0x{computed:04X}"
                )
                error.frame = frame  # type: ignore[attr-defined]
                raise error
            return frame

    def _skip_to_possible_token(self) -> None:
        # Keep only a tail that could be the start of a token split across reads.
        buf, start, end = self._store, self._start, self._end
        keep = 0
        for length in range(min(7, end - start), 0, -1):
            if buf.endswith(TOKEN_BYTES[:length], start, end):
                keep = length
                break
        drop = end - start - keep
        if drop:
            self.skipped_bytes += drop
            self._consume(drop)

    def close(self) -> None:
        """Declare the end of the stream; raises if a partial frame is left over."""
        if self._end > self._start:
            left = self._end - self._start
            self._start = self._end = 0
            raise TruncatedFrameError(f"stream ended inside a frame ({left} bytes left over)")
