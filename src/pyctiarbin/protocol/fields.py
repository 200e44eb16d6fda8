"""Declaring wire layouts once and compiling them to precompiled ``struct.Struct`` objects.

A message or record is a slotted dataclass whose wire fields are declared with :func:`wire`::

    @compiled
    @dataclass(slots=True)
    class StopRequest(Message):
        channel_index: int = wire(U32)
        stop_all: bool = wire(FLAG, pad_after=101)

:func:`compiled` reads the declarations in order and builds one ``struct.Struct`` for the fixed
part, plus the per-field converters (text decoding, enum lookup) and validators (range, length,
encodability). Variable-length tails (channel lists, channel records, file data) are handled by
the class's own ``_pack_tail`` / ``_unpack_tail``; their fields are plain dataclass fields.

Text fields come in two widths, fixed by the struct: 1-byte characters (encoded as Latin-1,
a superset of the ASCII the documents use) and ``wchar_t`` (UTF-16LE, 2 bytes per code unit).
Strings are NUL padded. Encoding never truncates: a value that does not fit raises
:class:`EncodeError` naming the field; a string may fill its whole field.
"""

from __future__ import annotations

import codecs
import dataclasses
import math
import struct
from collections.abc import Callable
from enum import IntEnum
from typing import Any, ClassVar, Final, TypeVar

from ..errors import EncodeError

__all__ = [
    "F32",
    "F64",
    "FLAG",
    "I16",
    "I32",
    "U8",
    "U16",
    "U32",
    "U64",
    "Ascii",
    "Bytes",
    "Enum16",
    "F32Array",
    "Layout",
    "Nested",
    "Wide",
    "WireType",
    "compiled",
    "decode_ascii",
    "decode_wide",
    "wire",
]

_F32_MAX: Final = 3.4028234663852886e38


class WireType:
    """One fixed-size wire type: its struct format, decoder and encoder.

    ``decode`` is ``None`` when the unpacked value is already the Python value.
    ``encode(owner, name, value)`` validates and returns the value to pack.
    """

    __slots__ = ("decode", "fmt", "size")

    def __init__(self, fmt: str, decode: Callable[[Any], Any] | None = None) -> None:
        self.fmt = fmt
        self.size = struct.calcsize("<" + fmt)
        self.decode = decode

    def encode(self, owner: str, name: str, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class _Int(WireType):
    __slots__ = ("high", "low")

    def __init__(self, fmt: str, low: int, high: int) -> None:
        super().__init__(fmt)
        self.low = low
        self.high = high

    def encode(self, owner: str, name: str, value: Any) -> Any:
        if not isinstance(value, int):
            raise EncodeError(f"{owner}.{name} must be an integer, not {type(value).__name__}")
        if not self.low <= value <= self.high:
            raise EncodeError(f"{owner}.{name}={value} is outside {self.low}..{self.high}")
        return int(value)


class _Flag(WireType):
    def __init__(self) -> None:
        super().__init__("B", bool)

    def encode(self, owner: str, name: str, value: Any) -> Any:
        if value not in (0, 1):  # True/False compare equal to 1/0
            raise EncodeError(f"{owner}.{name} must be a bool, not {value!r}")
        return 1 if value else 0


class _Float(WireType):
    __slots__ = ("limit",)

    def __init__(self, fmt: str, limit: float) -> None:
        super().__init__(fmt)
        self.limit = limit

    def encode(self, owner: str, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EncodeError(f"{owner}.{name} must be a number, not {type(value).__name__}")
        if not math.isfinite(value):
            raise EncodeError(f"{owner}.{name}={value} is not a finite number")
        if abs(value) > self.limit:
            raise EncodeError(f"{owner}.{name}={value} does not fit the wire's {self.fmt} type")
        return float(value)


class Enum16(WireType):
    """An i16 decoded to an IntEnum (which may create pseudo-members for unknown codes)."""

    __slots__ = ("enum",)

    def __init__(self, enum: type[IntEnum]) -> None:
        cache = {int(member): member for member in enum}

        def decode(raw: int) -> IntEnum:
            member = cache.get(raw)
            return member if member is not None else enum(raw)

        super().__init__("h", decode)
        self.enum = enum

    def encode(self, owner: str, name: str, value: Any) -> Any:
        if not isinstance(value, int) or not -0x8000 <= value <= 0x7FFF:
            raise EncodeError(f"{owner}.{name}={value!r} is not a valid {self.enum.__name__}")
        return int(value)


_utf_16_le_decode = codecs.utf_16_le_decode


def decode_ascii(raw: bytes) -> str:
    """Decode a NUL-padded 1-byte text field (everything after the first NUL is padding)."""
    return raw.partition(b"\x00")[0].decode("latin-1")


def decode_wide(raw: bytes) -> str:
    """Decode a NUL-padded UTF-16LE field, stopping at the first NUL code unit.

    Raises UnicodeDecodeError for an unpaired surrogate before the NUL (the caller turns it
    into a ProtocolError); bytes after the NUL are padding and never make decoding fail.
    """
    if not (raw[0] or raw[1]):
        return ""
    try:
        # Decoding the whole field and cutting at the NUL is the fast path; the codec function
        # is called directly because bytes.decode() looks 'utf-16-le' up in the registry.
        return _utf_16_le_decode(raw)[0].partition("\x00")[0]
    except UnicodeDecodeError:
        end = raw.find(b"\x00\x00")
        while end > 0 and end & 1:
            end = raw.find(b"\x00\x00", end + 1)
        return _utf_16_le_decode(raw if end < 0 else raw[:end], "strict", True)[0]


class Ascii(WireType):
    """``char[n]`` / ``BYTE[n]``: 1-byte characters, NUL padded."""

    __slots__ = ("length",)

    def __init__(self, length: int) -> None:
        super().__init__(f"{length}s", decode_ascii)
        self.length = length

    def encode(self, owner: str, name: str, value: Any) -> Any:
        return encode_ascii(owner, name, value, self.length)


class Wide(WireType):
    """``wchar_t[n]``: n UTF-16LE code units (2n bytes), NUL padded."""

    __slots__ = ("length",)

    def __init__(self, length: int) -> None:
        super().__init__(f"{2 * length}s", decode_wide)
        self.length = length

    def encode(self, owner: str, name: str, value: Any) -> Any:
        return encode_wide(owner, name, value, self.length)


def encode_ascii(owner: str, name: str, value: Any, length: int) -> bytes:
    """Validate and encode a 1-byte text field of ``length`` characters."""
    if not isinstance(value, str):
        raise EncodeError(f"{owner}.{name} must be a str, not {type(value).__name__}")
    if "\x00" in value:
        raise EncodeError(f"{owner}.{name} contains a NUL character")
    try:
        data = value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise EncodeError(
            f"{owner}.{name} contains {value[exc.start]!r}, which a 1-byte text field cannot hold"
        ) from None
    if len(data) > length:
        raise EncodeError(
            f"{owner}.{name} is {len(data)} characters long; the field holds {length}"
        )
    return data


def encode_wide(owner: str, name: str, value: Any, length: int) -> bytes:
    """Validate and encode a UTF-16LE text field of ``length`` code units."""
    if not isinstance(value, str):
        raise EncodeError(f"{owner}.{name} must be a str, not {type(value).__name__}")
    if "\x00" in value:
        raise EncodeError(f"{owner}.{name} contains a NUL character")
    try:
        data = value.encode("utf-16-le")
    except UnicodeEncodeError:
        raise EncodeError(f"{owner}.{name} contains an unpaired surrogate") from None
    if len(data) > 2 * length:
        raise EncodeError(
            f"{owner}.{name} is {len(data) // 2} UTF-16 code units long; the field holds {length}"
        )
    return data


class Bytes(WireType):
    """``byte[n]`` carried as raw bytes of exactly n bytes."""

    __slots__ = ("length",)

    def __init__(self, length: int) -> None:
        super().__init__(f"{length}s")
        self.length = length

    def encode(self, owner: str, name: str, value: Any) -> Any:
        if not isinstance(value, (bytes, bytearray)):
            raise EncodeError(f"{owner}.{name} must be bytes, not {type(value).__name__}")
        if len(value) != self.length:
            raise EncodeError(f"{owner}.{name} must be {self.length} bytes, not {len(value)}")
        return bytes(value)


U8: Final = _Int("B", 0, 0xFF)
U16: Final = _Int("H", 0, 0xFFFF)
I16: Final = _Int("h", -0x8000, 0x7FFF)
U32: Final = _Int("I", 0, 0xFFFFFFFF)
I32: Final = _Int("i", -0x80000000, 0x7FFFFFFF)
U64: Final = _Int("Q", 0, 0xFFFFFFFFFFFFFFFF)
F32: Final = _Float("f", _F32_MAX)
F64: Final = _Float("d", 1.7976931348623157e308)
FLAG: Final = _Flag()


def wire(
    kind: WireType,
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    pad_after: int = 0,
    repr: bool = True,
) -> Any:
    """Declare a dataclass field as a fixed wire field of type ``kind``.

    ``pad_after`` reserved zero bytes follow the field on the wire; ``repr=False`` marks a
    secret (a password): it stays out of the dataclass repr, and an :class:`EncodeError` about
    it never quotes its value or any character of it.
    """
    metadata = {"wire": kind, "pad_after": pad_after}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata, repr=repr)
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata, repr=repr)
    return dataclasses.field(default=default, metadata=metadata, repr=repr)


class F32Array(WireType):
    """``float[n]`` carried as a tuple of n floats."""

    __slots__ = ("count", "packer")

    def __init__(self, count: int) -> None:
        packer = struct.Struct(f"<{count}f")
        super().__init__(f"{4 * count}s", packer.unpack)
        self.count = count
        self.packer = packer

    def encode(self, owner: str, name: str, value: Any) -> Any:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            raise EncodeError(f"{owner}.{name} must be a sequence of {self.count} numbers")
        if len(value) != self.count:
            raise EncodeError(f"{owner}.{name} must hold {self.count} numbers, not {len(value)}")
        checked = [F32.encode(owner, f"{name}[{i}]", v) for i, v in enumerate(value)]
        return self.packer.pack(*checked)


class Nested(WireType):
    """A fixed-size record (a compiled :class:`WireStruct` with no tail) inside another."""

    __slots__ = ("record",)

    def __init__(self, record: type[WireStruct]) -> None:
        size = record.LAYOUT.size

        def decode(raw: bytes) -> WireStruct:
            return record.unpack_from(raw, 0, size)[0]

        super().__init__(f"{size}s", decode)
        self.record = record

    def encode(self, owner: str, name: str, value: Any) -> Any:
        if not isinstance(value, self.record):
            raise EncodeError(f"{owner}.{name} must be a {self.record.__name__}")
        return value.pack()


class Layout:
    """The compiled fixed part of a message or record.

    ``unpack(buffer, offset)`` returns the converted field values as a tuple. It is generated
    once per layout (as dataclasses generate ``__init__``) so that decoding a record is one
    ``struct`` call plus one call per converted field, with no per-field loop.
    """

    __slots__ = ("encoders", "names", "owner", "size", "struct", "unpack")

    def __init__(
        self, owner: str, entries: list[tuple[str, WireType, int]], pad_before: int
    ) -> None:
        fmt = ["<"]
        if pad_before:
            fmt.append(f"{pad_before}x")
        for _name, kind, pad_after in entries:
            fmt.append(kind.fmt)
            if pad_after:
                fmt.append(f"{pad_after}x")
        self.owner = owner
        self.struct = struct.Struct("".join(fmt))
        self.size = self.struct.size
        self.names = tuple(name for name, _kind, _pad in entries)
        self.encoders = tuple((name, kind) for name, kind, _pad in entries)
        self.unpack: Callable[[Any, int], tuple[Any, ...]]
        converters = {
            f"d{i}": kind.decode for i, (_n, kind, _p) in enumerate(entries) if kind.decode
        }
        if not converters:
            self.unpack = self.struct.unpack_from
            return
        items = [
            f"d{i}(v[{i}])" if f"d{i}" in converters else f"v[{i}]" for i in range(len(entries))
        ]
        source = (
            "def unpack(buffer, offset):\n"
            "    v = unpack_from(buffer, offset)\n"
            f"    return ({', '.join(items)},)\n"
        )
        namespace: dict[str, Any] = {"unpack_from": self.struct.unpack_from, **converters}
        exec(source, namespace)
        self.unpack = namespace["unpack"]

    def pack(self, obj: Any) -> bytes:
        """Validate every fixed field of ``obj`` and pack them (EncodeError names a bad field)."""
        owner = self.owner
        values = [kind.encode(owner, name, getattr(obj, name)) for name, kind in self.encoders]
        return self.struct.pack(*values)


T = TypeVar("T")


class WireStruct:
    """Base of every message and record: a compiled fixed part and an optional tail."""

    __slots__ = ()
    LAYOUT: ClassVar[Layout]
    PAD_BEFORE: ClassVar[int] = 0
    TRAILING_PAD: ClassVar[int] = 0

    def _pack_tail(self) -> bytes:
        """Bytes of the variable part after the fixed fields (none by default)."""
        return b""

    @classmethod
    def _unpack_tail(
        cls, buffer: bytes | bytearray | memoryview, offset: int, end: int
    ) -> tuple[dict[str, Any], int]:
        """Parse the variable part at ``offset``; return its fields and the new offset."""
        return {}, offset

    def pack(self) -> bytes:
        """The wire bytes of this structure (the body, for a message)."""
        head = self.LAYOUT.pack(self)
        tail = self._pack_tail()
        return head + tail if tail else head

    @classmethod
    def unpack_from(
        cls: type[T], buffer: bytes | bytearray | memoryview, offset: int, end: int
    ) -> tuple[T, int]:
        """Parse one structure at ``offset`` (not past ``end``); return it and the next offset."""
        layout: Layout = cls.LAYOUT  # type: ignore[attr-defined]
        after = offset + layout.size
        if after > end:
            raise struct.error(f"{cls.__name__} needs {layout.size} bytes, {end - offset} left")
        values = layout.unpack(buffer, offset) if layout.size else ()
        tail, after = cls._unpack_tail(buffer, after, end)  # type: ignore[attr-defined]
        return (cls(*values, **tail) if tail else cls(*values)), after


class _Secret(WireType):
    """A secret field: encoded as ``kind``, but its errors never show the value."""

    __slots__ = ("kind",)

    def __init__(self, kind: WireType) -> None:
        super().__init__(kind.fmt, kind.decode)
        self.kind = kind

    def encode(self, owner: str, name: str, value: Any) -> Any:
        try:
            return self.kind.encode(owner, name, value)
        except EncodeError:
            pass  # raised below, outside the handler, so that no context keeps the value
        length = getattr(self.kind, "length", None)
        limit = f"at most {length} " if length is not None else ""
        raise EncodeError(
            f"{owner}.{name} cannot go on the wire: it must be text of {limit}one-byte "
            "characters without NUL (the value is secret and not shown)"
        )


def compiled(cls: type[T]) -> type[T]:
    """Compile the ``wire()`` fields of dataclass ``cls`` into its :class:`Layout`.

    The wire fields must come first, in wire order; tail fields (plain dataclass fields) follow.
    """
    entries: list[tuple[str, WireType, int]] = []
    seen_tail = False
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = field.metadata.get("wire")
        if kind is None:
            seen_tail = True
            continue
        if seen_tail:
            raise TypeError(f"{cls.__name__}.{field.name}: wire fields must precede tail fields")
        if not field.repr:
            kind = _Secret(kind)
        entries.append((field.name, kind, field.metadata["pad_after"]))
    pad_before = getattr(cls, "PAD_BEFORE", 0)
    trailing = getattr(cls, "TRAILING_PAD", 0)
    if trailing:
        if entries:
            name, kind, pad = entries[-1]
            entries[-1] = (name, kind, pad + trailing)
        else:
            pad_before += trailing
    cls.LAYOUT = Layout(cls.__name__, entries, pad_before)  # type: ignore[attr-defined]
    return cls
