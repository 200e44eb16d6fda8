"""Declaring wire layouts once and compiling them to precompiled ``struct.Struct`` objects.

A message or record is a slotted dataclass deriving from :class:`WireStruct`. Its parts are
declared in wire order, and the class is compiled when ``@dataclass(slots=True)`` creates it::

    @dataclass(slots=True)
    class UpdateMetaVariablesRequest(Request, code=CommandCode.UPDATE_META_VARIABLE_ADVANCED):
        _entry_count: ClassVar[Count] = count(U16, "entries", pad_after=18)   # 20
        entries: tuple[MetaVariableEntry, ...] = tail(Seq(MetaVariableEntry, "_entry_count"))
        reserved: int = zero_tail(148)

* ``wire(kind)`` fields are fixed: each run of them (with hidden counts) becomes one struct,
  plus per-field converters (text decoding, enum lookup) and validators (range, length,
  encodability).
* ``count(kind, of)`` class variables are counts on the wire that are not fields of their own:
  encoding measures them from the field ``of``; decoding hands them to the tails.
* ``tail(kind)`` fields are the variable parts, described by :class:`Tail` objects: sequences
  (:class:`Seq`: u16 channel lists, record lists, string lists), strings
  (:class:`ThirdPartyString`, :class:`CString`, :class:`WideCounted`), :class:`Blob`,
  :class:`Rest`, :class:`ZeroTail`, and conditional parts (:class:`When`).

Text fields come in two widths, fixed by the struct: 1-byte characters (encoded as Latin-1,
a superset of the ASCII the documents use; credentials are strict ASCII) and ``wchar_t``
(UTF-16LE, 2 bytes per code unit). Strings are NUL padded. Encoding never truncates: a value
that does not fit raises :class:`EncodeError` naming the field; a string may fill its field.
"""

from __future__ import annotations

import codecs
import dataclasses
import inspect
import math
import operator
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
    "I64",
    "STAMP",
    "U8",
    "U16",
    "U32",
    "U64",
    "Ascii",
    "Blob",
    "Bytes",
    "CString",
    "Count",
    "Credential",
    "Enum16",
    "F32Array",
    "F64Array",
    "I32Array",
    "Layout",
    "Nested",
    "RecordArray",
    "Rest",
    "Seq",
    "Tail",
    "ThirdPartyString",
    "U16Array",
    "When",
    "Wide",
    "WideCounted",
    "WireStruct",
    "WireType",
    "ZeroTail",
    "compiled",
    "count",
    "cstring_length",
    "decode_ascii",
    "decode_wide",
    "encode_ascii",
    "encode_wide",
    "part_of",
    "tail",
    "wide_units",
    "wire",
    "zero_tail",
]

_F32_MAX: Final = 3.4028234663852886e38
_U32: Final = struct.Struct("<I")


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
    __slots__ = ("finite", "limit")

    def __init__(self, fmt: str, limit: float, *, finite: bool = True) -> None:
        super().__init__(fmt)
        self.limit = limit
        self.finite = finite

    def encode(self, owner: str, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EncodeError(f"{owner}.{name} must be a number, not {type(value).__name__}")
        if not self.finite:
            return float(value)
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


class _Text(WireType):
    """A fixed-width text field of ``length`` characters, NUL padded: 1-byte characters, or
    UTF-16LE code units when ``UNIT_BYTES`` is 2."""

    __slots__ = ("length",)
    UNIT_BYTES: ClassVar[int] = 1

    def __init__(self, length: int) -> None:
        wide = self.UNIT_BYTES == 2
        super().__init__(f"{self.UNIT_BYTES * length}s", decode_wide if wide else decode_ascii)
        self.length = length


class Ascii(_Text):
    """``char[n]`` / ``BYTE[n]``: 1-byte characters, NUL padded."""

    __slots__ = ()

    def encode(self, owner: str, name: str, value: Any) -> Any:
        return _encode_text(owner, name, value, self.length, False)


class Wide(_Text):
    """``wchar_t[n]``: n UTF-16LE code units (2n bytes), NUL padded."""

    __slots__ = ()
    UNIT_BYTES: ClassVar[int] = 2

    def encode(self, owner: str, name: str, value: Any) -> Any:
        return _encode_text(owner, name, value, self.length, True)


def _encode_text(owner: str, name: str, value: Any, length: int, wide: bool) -> bytes:
    if not isinstance(value, str):
        raise EncodeError(f"{owner}.{name} must be a str, not {type(value).__name__}")
    if "\x00" in value:
        raise EncodeError(f"{owner}.{name} contains a NUL character")
    try:
        data = value.encode("utf-16-le" if wide else "latin-1")
    except UnicodeEncodeError as exc:
        if wide:
            raise EncodeError(f"{owner}.{name} contains an unpaired surrogate") from None
        raise EncodeError(
            f"{owner}.{name} contains {value[exc.start]!r}, which a 1-byte text field cannot hold"
        ) from None
    units = len(data) // 2 if wide else len(data)
    if units > length:
        unit = "UTF-16 code units" if wide else "characters"
        raise EncodeError(f"{owner}.{name} is {units} {unit} long; the field holds {length}")
    return data


def encode_ascii(owner: str, name: str, value: Any, length: int) -> bytes:
    """Validate and encode a 1-byte text field of ``length`` characters."""
    return _encode_text(owner, name, value, length, False)


def encode_wide(owner: str, name: str, value: Any, length: int) -> bytes:
    """Validate and encode a UTF-16LE text field of ``length`` code units."""
    return _encode_text(owner, name, value, length, True)


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
I64: Final = _Int("q", -0x8000000000000000, 0x7FFFFFFFFFFFFFFF)
F32: Final = _Float("f", _F32_MAX)
F64: Final = _Float("d", 1.7976931348623157e308)
#: An f64 that identifies a transfer (the DOWNLOAD/UPLOAD time stamp) rather than measures
#: anything: a feedback echoes the request's 8 bytes, whatever they are, NaN and infinities too.
STAMP: Final = _Float("d", math.inf, finite=False)
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


def _check_fixed_sequence(owner: str, name: str, value: Any, count: int, what: str) -> None:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise EncodeError(f"{owner}.{name} must be a sequence of {count} {what}")
    if len(value) != count:
        raise EncodeError(f"{owner}.{name} must hold {count} {what}, not {len(value)}")


class _NumberArray(WireType):
    """``type[n]`` carried as a tuple of n numbers."""

    __slots__ = ("count", "item", "packer")

    def __init__(self, item: WireType, count: int) -> None:
        packer = struct.Struct(f"<{count}{item.fmt}")
        super().__init__(f"{packer.size}s", packer.unpack)
        self.count = count
        self.item = item
        self.packer = packer

    def encode(self, owner: str, name: str, value: Any) -> Any:
        _check_fixed_sequence(owner, name, value, self.count, "numbers")
        item = self.item
        checked = [item.encode(owner, f"{name}[{i}]", v) for i, v in enumerate(value)]
        return self.packer.pack(*checked)


def _number_array(item: WireType, c_type: str) -> Callable[[int], WireType]:
    def array(count: int) -> WireType:
        return _NumberArray(item, count)

    array.__doc__ = f"``{c_type}[n]`` carried as a tuple of n numbers."
    return array


F32Array = _number_array(F32, "float")
F64Array = _number_array(F64, "double")
I32Array = _number_array(I32, "int32")
U16Array = _number_array(U16, "uint16")


class Credential(_Text):
    """A credential field: ``char[n]`` of strict ASCII, as ArbinCTI.dll sends user and password.

    Encoding errors name the field and the position of a bad character, never the character
    (the value may be a password). Decoding reads Latin-1 up to the first NUL.
    """

    __slots__ = ()

    def encode(self, owner: str, name: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise EncodeError(f"{owner}.{name} must be a str, not {type(value).__name__}")
        for position, char in enumerate(value):
            if not "\x01" <= char <= "\x7f":
                raise EncodeError(
                    f"{owner}.{name} has a character at position {position} that is not "
                    "ASCII or is NUL (Arbin's CTI takes ASCII credentials only)"
                )
        if len(value) > self.length:
            raise EncodeError(
                f"{owner}.{name} is {len(value)} characters long; the field holds {self.length}"
            )
        return value.encode("ascii")


class RecordArray(WireType):
    """A fixed number of fixed-size records, carried as a tuple."""

    __slots__ = ("count", "record", "record_size")

    def __init__(self, record: type[WireStruct], count: int) -> None:
        size = record.LAYOUT.size
        if record.FIXED_SIZE is None:
            raise TypeError(f"{record.__name__} is not fixed-size")

        def decode(raw: bytes) -> tuple[Any, ...]:
            unpack = record.unpack_from
            return tuple(unpack(raw, i * size, len(raw))[0] for i in range(count))

        super().__init__(f"{size * count}s", decode)
        self.count = count
        self.record = record
        self.record_size = size

    def encode(self, owner: str, name: str, value: Any) -> Any:
        _check_fixed_sequence(owner, name, value, self.count, "records")
        parts = []
        for position, record in enumerate(value):
            if not isinstance(record, self.record):
                raise EncodeError(f"{owner}.{name}[{position}] must be a {self.record.__name__}")
            parts.append(record.pack())
        return b"".join(parts)


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

    __slots__ = ("encoders", "names", "owner", "pad_before", "pads", "size", "struct", "unpack")

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
        self.pad_before = pad_before
        self.pads = tuple(pad for _name, _kind, pad in entries)
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
Buffer = bytes | bytearray | memoryview

# --------------------------------------------------------------------------------------------
# Variable parts: counts and tails


class Count:
    """A count on the wire that is not a field of its own: its value is measured from a field.

    Declared in the class body as a ``ClassVar`` at its wire position::

        _entry_count: ClassVar[Count] = count(U16, "entries", pad_after=18)   # 20

    On encode the value is ``measure(obj)`` (``len`` of the field ``of`` by default); on
    decode it is handed to the tails that read ``of`` (see :class:`Seq`).
    """

    __slots__ = ("kind", "measure", "of", "pad_after")

    def __init__(
        self,
        kind: WireType,
        of: str,
        *,
        pad_after: int = 0,
        measure: Callable[[Any], Any] | None = None,
    ) -> None:
        self.kind = kind
        self.of = of
        self.pad_after = pad_after
        self.measure = measure if measure is not None else _measure_len(of)

    def encode(self, owner: str, name: str, value: Any) -> Any:
        try:
            return self.kind.encode(owner, name, value)
        except EncodeError:
            high = getattr(self.kind, "high", None)
            raise EncodeError(
                f"{owner}.{self.of} has {value} entries; its count field holds {high}"
            ) from None


def _measure_len(name: str) -> Callable[[Any], Any]:
    def measure(obj: Any) -> Any:
        value = getattr(obj, name)
        if isinstance(value, str) or not hasattr(value, "__len__"):
            raise EncodeError(f"{type(obj).__name__}.{name} must be a sequence")
        return len(value)

    return measure


def count(
    kind: WireType,
    of: str,
    *,
    pad_after: int = 0,
    measure: Callable[[Any], Any] | None = None,
) -> Any:
    """Declare a hidden count (a ``ClassVar``) whose value is measured from field ``of``."""
    return Count(kind, of, pad_after=pad_after, measure=measure)


class Tail:
    """A variable-length part of a message or record (after, or between, fixed runs).

    ``encode(owner, name, value)`` returns its bytes (validating the value, EncodeError naming
    the field); ``decode(buffer, offset, end, ctx)`` returns ``(value, next offset)`` and raises
    ``struct.error`` / ``ValueError`` on malformed input (decode() turns them into
    ProtocolError). ``ctx`` maps the names decoded so far (fields and hidden counts) to values.

    A *group* tail (``names`` set) fills several fields at once: ``encode`` then receives the
    whole object and ``decode`` returns one value per name.
    """

    __slots__ = ()
    names: tuple[str, ...] = ()

    def encode(self, owner: str, name: str, value: Any) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(
        self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]
    ) -> tuple[Any, int]:  # pragma: no cover - abstract
        raise NotImplementedError


def tail(
    kind: Tail,
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    repr: bool = True,
) -> Any:
    """Declare a dataclass field as the variable wire part ``kind``."""
    metadata = {"tail": kind}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata, repr=repr)
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata, repr=repr)
    return dataclasses.field(default=default, metadata=metadata, repr=repr)


def part_of(group: str, *, default: Any = dataclasses.MISSING) -> Any:
    """Declare a field filled by the group tail declared on field ``group``."""
    metadata = {"part_of": group}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _check_sequence(owner: str, name: str, value: Any) -> Any:
    if isinstance(value, (str, bytes, bytearray)) or not hasattr(value, "__len__"):
        raise EncodeError(f"{owner}.{name} must be a sequence, not {type(value).__name__}")
    return value


class Seq(Tail):
    """A sequence of items: fixed wire values (``U16`` channel indexes), records (a compiled
    :class:`WireStruct`) or element tails (strings).

    ``count`` says where the number of items comes from: a wire type (a count written just
    before the items), the name of a hidden :class:`Count` declared earlier, or ``None`` (the
    items run to the end of the body; fixed-size items only).
    """

    __slots__ = ("count", "count_name", "item", "item_packer", "max_items")

    def __init__(
        self,
        item: WireType | type[WireStruct] | Tail,
        count: WireType | str | None = None,
        *,
        max_items: int | None = None,
    ) -> None:
        self.item = item
        self.count = count if isinstance(count, WireType) else None
        self.count_name = count if isinstance(count, str) else None
        self.max_items = max_items
        self.item_packer = (
            item
            if isinstance(item, WireType) and item.decode is None and item.fmt in "BHhIiQqfd"
            else None
        )

    def _item_size(self) -> int | None:
        item = self.item
        if isinstance(item, WireType):
            return item.size
        if isinstance(item, type) and issubclass(item, WireStruct):
            return item.FIXED_SIZE
        return None

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        items = tuple(_check_sequence(owner, name, value))
        if self.max_items is not None and len(items) > self.max_items:
            raise EncodeError(
                f"{owner}.{name} has {len(items)} entries; at most {self.max_items} fit"
            )
        parts: list[bytes] = []
        if self.count is not None:
            number = Count(self.count, name).encode(owner, name, len(items))
            parts.append(struct.pack("<" + self.count.fmt, number))
        item = self.item
        if isinstance(item, WireType):
            checked = [item.encode(owner, f"{name}[{i}]", v) for i, v in enumerate(items)]
            parts.append(struct.pack(_repeat(item.fmt, len(checked)), *checked))
        elif isinstance(item, Tail):
            parts.extend(item.encode(owner, f"{name}[{i}]", v) for i, v in enumerate(items))
        else:
            for position, record in enumerate(items):
                if not isinstance(record, item):
                    raise EncodeError(f"{owner}.{name}[{position}] must be a {item.__name__}")
                parts.append(record.pack())
        return b"".join(parts)

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        if self.count is not None:
            (number,) = struct.unpack_from("<" + self.count.fmt, buffer, offset)
            offset += self.count.size
        elif self.count_name is not None:
            number = ctx[self.count_name]
        else:
            size = self._item_size()
            if not size:
                raise TypeError("a sequence running to the end needs fixed-size items")
            remaining = end - offset
            if remaining % size:
                raise struct.error(f"{remaining} bytes of entries is not a multiple of {size}")
            number = remaining // size
        item = self.item
        if isinstance(item, WireType):
            after = offset + item.size * number
            if after > end:
                raise struct.error(f"{number} items overrun the frame")
            raw = struct.unpack_from(_repeat(item.fmt, number), buffer, offset)
            if item.decode is not None:
                raw = tuple(item.decode(v) for v in raw)
            return raw, after
        values = []
        if isinstance(item, Tail):
            for _ in range(number):
                value, offset = item.decode(buffer, offset, end, ctx)
                values.append(value)
        else:
            size = item.FIXED_SIZE
            if size is not None and offset + size * number > end:
                raise struct.error(f"{number} records overrun the frame")
            unpack = item.unpack_from
            for _ in range(number):
                value, offset = unpack(buffer, offset, end)
                values.append(value)
        return tuple(values), offset


def _repeat(fmt: str, number: int) -> str:
    """The struct format of ``number`` items of format ``fmt`` ("H" -> "<5H", "8s" -> "<8s8s")."""
    return f"<{number}{fmt}" if len(fmt) == 1 else "<" + fmt * number


class When(Tail):
    """A tail present only when ``present(values)`` holds (``values``: the decoded names, or
    the object being encoded, read through ``getattr``); otherwise its value is ``absent``."""

    __slots__ = ("absent", "inner", "present")

    def __init__(self, inner: Tail, present: Callable[[Callable[[str], Any]], bool], absent: Any):
        self.inner = inner
        self.present = present
        self.absent = absent

    def encode_for(self, owner: str, name: str, obj: Any) -> bytes:
        if not self.present(lambda key: getattr(obj, key)):
            if getattr(obj, name) != self.absent:
                raise EncodeError(
                    f"{owner}.{name} must be {self.absent!r} here: it is not sent in this case"
                )
            return b""
        return self.inner.encode(owner, name, getattr(obj, name))

    def encode(self, owner: str, name: str, value: Any) -> bytes:  # pragma: no cover - unused
        return self.inner.encode(owner, name, value)

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        if not self.present(ctx.__getitem__):
            return self.absent, offset
        return self.inner.decode(buffer, offset, end, ctx)


class CString(Tail):
    """``az``: 1-byte text (Latin-1) ended by a NUL; the reader advances past the NUL."""

    __slots__ = ("limit",)

    def __init__(self, limit: int = 1 << 16) -> None:
        self.limit = limit

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        return encode_ascii(owner, name, value, self.limit) + b"\x00"

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        if isinstance(buffer, memoryview):
            buffer = bytes(buffer)
        stop = buffer.find(b"\x00", offset, end)
        if stop < 0:
            raise struct.error("NUL-terminated string runs past the end of the frame")
        return buffer[offset:stop].decode("latin-1"), stop + 1


class ThirdPartyString(Tail):
    """THIRD_PARTY_STRING: u32 length, that many 1-byte characters, then a NUL the length does
    not count (ArbinCTI.dll). Decoding accepts the NUL present or absent: a zero byte right
    after the characters is taken as the terminator. Trailing NULs inside the counted bytes
    are dropped (a length that counts the NUL)."""

    __slots__ = ("limit",)

    def __init__(self, limit: int = 1 << 20) -> None:
        self.limit = limit

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        data = encode_ascii(owner, name, value, self.limit)
        return _U32.pack(len(data)) + data + b"\x00"

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        (length,) = _U32.unpack_from(buffer, offset)
        offset += 4
        after = offset + length
        if after > end:
            raise struct.error("string overruns the frame")
        text = bytes(buffer[offset:after]).rstrip(b"\x00").decode("latin-1")
        if after < end and buffer[after] == 0:
            after += 1
        return text, after


class WideCounted(Tail):
    """``wsv(L)``: L UTF-16LE code units, no terminator, L from a hidden :class:`Count`."""

    __slots__ = ("count_name", "limit")

    def __init__(self, count_name: str, limit: int = 0xFFFF) -> None:
        self.count_name = count_name
        self.limit = limit

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        return encode_wide(owner, name, value, self.limit)

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        units = ctx[self.count_name]
        after = offset + 2 * units
        if after > end:
            raise struct.error("UTF-16 string overruns the frame")
        if not units:
            return "", offset
        return _utf_16_le_decode(bytes(buffer[offset:after]), "strict", True)[0], after


def wide_units(name: str) -> Callable[[Any], int]:
    """A :class:`Count` measure: the UTF-16 code units of text field ``name``."""

    def measure(obj: Any) -> int:
        value = getattr(obj, name)
        if not isinstance(value, str):
            raise EncodeError(f"{type(obj).__name__}.{name} must be a str")
        return len(encode_wide(type(obj).__name__, name, value, 1 << 30)) // 2

    return measure


def cstring_length(name: str) -> Callable[[Any], int]:
    """A :class:`Count` measure: the length of 1-byte text field ``name``, its NUL not counted."""

    def measure(obj: Any) -> int:
        value = getattr(obj, name)
        return len(encode_ascii(type(obj).__name__, name, value, 1 << 30))

    return measure


class Blob(Tail):
    """Raw bytes preceded by their length (a wire type), or sized by a hidden count."""

    __slots__ = ("count_name", "length", "limit")

    def __init__(self, length: WireType | str, *, limit: int | None = None) -> None:
        self.length = length if isinstance(length, WireType) else None
        self.count_name = length if isinstance(length, str) else None
        self.limit = limit

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise EncodeError(f"{owner}.{name} must be bytes, not {type(value).__name__}")
        data = bytes(value)
        if self.limit is not None and len(data) > self.limit:
            raise EncodeError(f"{owner}.{name} is {len(data)} bytes; at most {self.limit} fit")
        if self.length is None:
            return data
        return struct.pack("<" + self.length.fmt, len(data)) + data

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        if self.length is not None:
            (size,) = struct.unpack_from("<" + self.length.fmt, buffer, offset)
            offset += self.length.size
        else:
            size = ctx[self.count_name]  # type: ignore[index]
        after = offset + size
        if after > end:
            raise struct.error(f"{size} bytes of data overrun the frame")
        return bytes(buffer[offset:after]), after


class Rest(Tail):
    """Every remaining byte of the body, as bytes."""

    __slots__ = ()

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise EncodeError(f"{owner}.{name} must be bytes, not {type(value).__name__}")
        return bytes(value)

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        return bytes(buffer[offset:end]), end


class ZeroTail(Tail):
    """Reserved zero bytes at the end of a body that not every sender includes.

    Encoding writes ``size`` zeros (as Arbin's client does); decoding accepts any number of
    trailing bytes, including none, as long as they are all zero. The field's value is the
    number of zero bytes found (it does not take part in comparisons).
    """

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def encode(self, owner: str, name: str, value: Any) -> bytes:
        return bytes(self.size)

    def decode(self, buffer: Buffer, offset: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        if offset > end:
            raise struct.error("body overruns the frame")
        if bytes(buffer[offset:end]).count(0) != end - offset:
            raise ValueError(f"{end - offset} trailing bytes are not all zero")
        return end - offset, end


def zero_tail(size: int) -> Any:
    """Declare trailing reserved zero bytes (see :class:`ZeroTail`)."""
    return dataclasses.field(
        default=size, repr=False, compare=False, metadata={"tail": ZeroTail(size)}
    )


# --------------------------------------------------------------------------------------------
# Compiling declarations


class _Run:
    """A run of fixed fields (and hidden counts) compiled to one struct.

    ``values(obj)`` returns the run's values in wire order: one ``attrgetter`` call when the run
    has no hidden counts (the common case), else one call per entry.
    """

    __slots__ = ("getters", "layout", "names", "values")

    def __init__(self, layout: Layout, getters: list[Callable[[Any], Any]]) -> None:
        self.layout = layout
        self.names = layout.names
        self.getters = getters
        self.values: Callable[[Any], Any]
        if any(isinstance(kind, _CountKind) for _name, kind in layout.encoders):
            self.values = lambda obj: [get(obj) for get in getters]
        elif len(self.names) == 1:
            single = operator.attrgetter(self.names[0])
            self.values = lambda obj: (single(obj),)
        elif self.names:
            self.values = operator.attrgetter(*self.names)
        else:
            self.values = lambda obj: ()


class _TailStep:
    __slots__ = ("kind", "name", "names")

    def __init__(self, kind: Tail, name: str, names: tuple[str, ...]) -> None:
        self.kind = kind
        self.name = name
        self.names = names


class WireStruct:
    """Base of every message and record: fixed runs, hidden counts and tails, in wire order.

    A subclass declared as ``@dataclass(slots=True)`` is compiled when the dataclass decorator
    creates it (``__init_subclass__``): its ``wire()`` fields become precompiled structs, its
    ``tail()`` fields and ``count()`` markers the variable parts. Nothing is hand-packed.
    """

    __slots__ = ()
    LAYOUT: ClassVar[Layout]
    FIXED_SIZE: ClassVar[int | None] = None
    PAD_BEFORE: ClassVar[int] = 0
    TRAILING_PAD: ClassVar[int] = 0
    _STEPS: ClassVar[tuple[_Run | _TailStep, ...]] = ()
    _INIT_NAMES: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # dataclass(slots=True) builds a second class from the first; that one carries the
        # dataclass fields in its own namespace and is the class that stays.
        if "__dataclass_fields__" in cls.__dict__:
            _compile(cls)

    def pack(self) -> bytes:
        """The wire bytes of this structure (the body, for a message)."""
        owner = type(self).__name__
        parts: list[bytes] = []
        for step in self._STEPS:
            if isinstance(step, _Run):
                layout = step.layout
                values = [
                    kind.encode(owner, name, value)
                    for (name, kind), value in zip(layout.encoders, step.values(self), strict=True)
                ]
                parts.append(layout.struct.pack(*values))
            elif step.names:
                parts.append(step.kind.encode(owner, step.name, self))
            elif isinstance(step.kind, When):
                parts.append(step.kind.encode_for(owner, step.name, self))
            else:
                parts.append(step.kind.encode(owner, step.name, getattr(self, step.name)))
        return b"".join(parts)

    @classmethod
    def unpack_from(cls: type[T], buffer: Buffer, offset: int, end: int) -> tuple[T, int]:
        """Parse one structure at ``offset`` (not past ``end``); return it and the next offset.

        Raises struct.error (too short) or ValueError (a malformed value).
        """
        steps = cls._STEPS  # type: ignore[attr-defined]
        ctx: dict[str, Any] = {}
        for step in steps:
            if isinstance(step, _Run):
                layout = step.layout
                after = offset + layout.size
                if after > end:
                    raise struct.error(
                        f"{cls.__name__} needs {layout.size} bytes, {end - offset} left"
                    )
                if layout.size:
                    ctx.update(zip(step.names, layout.unpack(buffer, offset), strict=True))
                offset = after
            elif step.names:
                values, offset = step.kind.decode(buffer, offset, end, ctx)
                ctx.update(zip(step.names, values, strict=True))
            else:
                ctx[step.name], offset = step.kind.decode(buffer, offset, end, ctx)
        return cls(*[ctx[name] for name in cls._INIT_NAMES]), offset  # type: ignore[attr-defined]


def _compile(cls: type[WireStruct]) -> None:
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    order: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for klass in reversed(cls.__mro__):
        if "__dataclass_fields__" not in klass.__dict__:
            continue
        for name in inspect.get_annotations(klass):
            if name in seen:
                continue
            value = klass.__dict__.get(name)
            if isinstance(value, Count):
                order.append((name, value))
                seen.add(name)
            elif name in fields:
                order.append((name, fields[name]))
                seen.add(name)
    for name, field in fields.items():  # fields declared without an annotation in this MRO
        if name not in seen:
            order.append((name, field))

    steps: list[_Run | _TailStep] = []
    entries: list[tuple[str, WireType, int]] = []
    getters: list[Callable[[Any], Any]] = []
    pad_before = cls.__dict__.get("PAD_BEFORE", getattr(cls, "PAD_BEFORE", 0))
    first_run = True

    def close_run() -> None:
        nonlocal entries, getters, first_run
        if entries or first_run:
            layout = Layout(cls.__name__, entries, pad_before if first_run else 0)
            steps.append(_Run(layout, getters))
        entries, getters = [], []
        first_run = False

    for name, item in order:
        if isinstance(item, Count):
            entries.append((name, _CountKind(item), item.pad_after))
            getters.append(item.measure)
            continue
        kind = item.metadata.get("wire")
        if kind is not None:
            if not item.repr:
                kind = _Secret(kind)
            entries.append((name, kind, item.metadata["pad_after"]))
            getters.append(_getter(name))
            continue
        tail_kind = item.metadata.get("tail")
        if tail_kind is not None:
            close_run()
            steps.append(_TailStep(tail_kind, name, tail_kind.names))
            continue
        if "part_of" in item.metadata:
            continue
        raise TypeError(f"{cls.__name__}.{name} is neither a wire, tail nor part_of field")
    if entries or first_run:
        close_run()
    trailing = getattr(cls, "TRAILING_PAD", 0)
    if trailing:
        last = steps[-1]
        if not isinstance(last, _Run):
            raise TypeError(f"{cls.__name__}: TRAILING_PAD needs a fixed part at the end")
        old = last.layout
        rebuilt = [(n, k, p) for (n, k), p in zip(old.encoders, old.pads, strict=True)]
        if rebuilt:
            n, k, p = rebuilt[-1]
            rebuilt[-1] = (n, k, p + trailing)
            steps[-1] = _Run(Layout(cls.__name__, rebuilt, old.pad_before), last.getters)
        else:
            steps[-1] = _Run(Layout(cls.__name__, [], old.pad_before + trailing), last.getters)
    first = steps[0]
    cls.LAYOUT = first.layout if isinstance(first, _Run) else Layout(cls.__name__, [], 0)
    cls.FIXED_SIZE = cls.LAYOUT.size if len(steps) == 1 else None
    cls._STEPS = tuple(steps)
    cls._INIT_NAMES = tuple(f.name for f in fields.values() if f.init)
    plain = (
        len(steps) == 1
        and not any(isinstance(e[1], _CountKind) for e in steps[0].layout.encoders)  # type: ignore[union-attr]
        and cls.LAYOUT.names == cls._INIT_NAMES
        and not any(
            _custom_unpack(k)
            for k in cls.__mro__
            if k is not WireStruct and issubclass(k, WireStruct)
        )
    )
    if plain:
        _install_fixed_unpack(cls)


_GENERATED: set[Any] = set()


def _custom_unpack(klass: type) -> bool:
    method = klass.__dict__.get("unpack_from")
    return method is not None and method.__func__ not in _GENERATED


def _install_fixed_unpack(cls: type[WireStruct]) -> None:
    """A message of fixed fields only decodes with one struct call and one constructor call."""
    layout = cls.LAYOUT
    size = layout.size
    unpack = layout.unpack
    name = cls.__name__

    def unpack_from(klass: Any, buffer: Buffer, offset: int, end: int) -> tuple[Any, int]:
        after = offset + size
        if after > end:
            raise struct.error(f"{name} needs {size} bytes, {end - offset} left")
        return (klass(*unpack(buffer, offset)) if size else klass()), after

    _GENERATED.add(unpack_from)
    cls.unpack_from = classmethod(unpack_from)  # type: ignore[assignment, method-assign]


class _CountKind(WireType):
    """The wire type of a hidden count: its own type, with the count's error message."""

    __slots__ = ("count",)

    def __init__(self, count: Count) -> None:
        super().__init__(count.kind.fmt, count.kind.decode)
        self.count = count

    def encode(self, owner: str, name: str, value: Any) -> Any:
        return self.count.encode(owner, name, value)


def _getter(name: str) -> Callable[[Any], Any]:
    def get(obj: Any) -> Any:
        return getattr(obj, name)

    return get


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
            f"{owner}.{name} cannot go on the wire: it must be ASCII text of {limit}"
            "characters without NUL (the value is secret and not shown)"
        )


def compiled(cls: type[T]) -> type[T]:
    """Kept for declarations written before compilation happened on declaration: a no-op
    for a slotted dataclass (already compiled), compiles any other dataclass."""
    if "_STEPS" not in cls.__dict__:
        _compile(cls)  # type: ignore[arg-type]
    return cls
