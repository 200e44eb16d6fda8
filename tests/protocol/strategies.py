"""Hypothesis strategies for every CTI message, and helpers shared by the protocol tests.

Fixed fields are generated from their wire declarations (range of each integer type, f32 or f64,
text width, byte count); variable parts (the tails: channel lists, records, aux/BMS/SMB parts,
file data, picture) are spelled out per class in ``TAIL_STRATEGIES``. Building a strategy for a
class whose tail is not listed there fails, so a new message cannot go untested silently.

Generated values are ones the wire represents exactly: floats for f32 fields are f32 values,
text has no NUL and fits its field in the field's encoding, so ``decode(encode(m)) == m``.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from pyctiarbin.protocol import (
    AuxReadings,
    AuxValue,
    BmsValue,
    ChannelRecord,
    FrameReader,
    MetaVariableEntry,
    ResumeData,
    SmbValue,
    fields,
    message_classes,
)
from pyctiarbin.protocol import messages as msgs

REPO_ROOT = Path(__file__).resolve().parents[2]
CAPTURES_DIR = REPO_ROOT / "tests" / "data" / "captures"

F32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]


def f32(value: float) -> float:
    """``value`` rounded to the nearest f32, as the wire carries it."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


# --------------------------------------------------------------------------------------------
# Scalars and text

f32s = st.floats(width=32, allow_nan=False, allow_infinity=False)
f64s = st.floats(allow_nan=False, allow_infinity=False)


def latin1_text(max_size: int, *, min_size: int = 0) -> st.SearchStrategy[str]:
    """Text a 1-byte field holds: Latin-1 without NUL."""
    return st.text(
        alphabet=st.characters(min_codepoint=1, max_codepoint=0xFF),
        min_size=min_size,
        max_size=max_size,
    )


def _fit_units(text: str, units: int) -> str:
    """``text`` cut to at most ``units`` UTF-16 code units, never inside a surrogate pair."""
    data = text.encode("utf-16-le")
    if len(data) <= 2 * units:
        return text
    data = data[: 2 * units]
    if 0xD800 <= int.from_bytes(data[-2:], "little") <= 0xDBFF:
        data = data[:-2]
    return data.decode("utf-16-le")


# Any code point but NUL and lone surrogates, including ones outside the BMP (two code units).
_wide_chars = st.characters(min_codepoint=1, exclude_categories=["Cs"])


def wide_text(units: int) -> st.SearchStrategy[str]:
    """Text a ``wchar_t[units]`` field holds: short random text, or text filling the field."""
    short = st.text(alphabet=_wide_chars, max_size=min(units, 40)).map(
        lambda s: _fit_units(s, units)
    )
    full = st.text(alphabet=_wide_chars, min_size=1, max_size=4).map(
        lambda s: _fit_units(s * units, units)
    )
    return st.one_of(short, full)


def ascii_text(length: int) -> st.SearchStrategy[str]:
    """Text a ``char[length]`` field holds: short random text, or text filling the field."""
    full = latin1_text(4, min_size=1).map(lambda s: (s * length)[:length])
    return st.one_of(latin1_text(min(length, 40)), full)


def for_wire_type(kind: fields.WireType) -> st.SearchStrategy[Any]:
    """A strategy for values of one fixed wire field."""
    if isinstance(kind, fields.Nested):
        return builds_record(kind.record)
    if isinstance(kind, fields.RecordArray):
        return st.tuples(*[builds_record(kind.record)] * kind.count)
    if isinstance(kind, fields._NumberArray):
        return st.tuples(*[for_wire_type(kind.item)] * kind.count)
    if isinstance(kind, fields.Enum16):
        return st.one_of(st.sampled_from(list(kind.enum)), st.integers(-0x8000, 0x7FFF))
    if isinstance(kind, fields.Wide):
        return wide_text(kind.length)
    if isinstance(kind, fields.Credential):
        return st.text(
            alphabet=st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=kind.length
        )
    if isinstance(kind, fields.Ascii):
        return ascii_text(kind.length)
    if isinstance(kind, fields.Bytes):
        return st.binary(min_size=kind.length, max_size=kind.length)
    if kind.fmt == "B" and kind.decode is bool:
        return st.booleans()
    if kind.fmt == "f":
        return f32s
    if kind.fmt == "d":
        return f64s
    low, high = kind.low, kind.high  # type: ignore[attr-defined]
    return st.integers(low, high)


# --------------------------------------------------------------------------------------------
# Variable parts

u16s = st.integers(0, 0xFFFF)
u32s = st.integers(0, 0xFFFFFFFF)
channel_lists = st.lists(u16s, max_size=40).map(tuple)


def resume_data() -> st.SearchStrategy[ResumeData]:
    return builds_record(ResumeData)


aux_groups = st.lists(st.builds(AuxValue, f32s, f32s), max_size=3).map(tuple)


@st.composite
def aux_readings(draw: st.DrawFn) -> AuxReadings:
    kinds = draw(st.sets(st.sampled_from(msgs.AUX_KINDS), max_size=4))
    return AuxReadings(**{kind: draw(aux_groups) for kind in kinds})


bms_values = st.builds(BmsValue, u32s, f64s, latin1_text(12))
smb_values = st.builds(SmbValue, u32s, st.one_of(f64s, latin1_text(20)), latin1_text(12))


def _tuples_of(element: st.SearchStrategy[Any], max_size: int, min_size: int = 0) -> Any:
    return st.lists(element, min_size=min_size, max_size=max_size).map(tuple)


def _mv_ud() -> st.SearchStrategy[tuple[float, ...]]:
    return st.tuples(*[f32s] * 16)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | f64s | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=4)


def for_tail(kind: fields.Tail, owner: type, name: str) -> st.SearchStrategy[Any]:
    """A strategy for the value of one tail field, derived from its declaration."""
    if isinstance(kind, fields.When):
        return for_tail(kind.inner, owner, name)
    if isinstance(kind, fields.Seq):
        item = kind.item
        size = kind.max_items if kind.max_items is not None else 4
        element: st.SearchStrategy[Any]
        if isinstance(item, fields.WireType):
            element = for_wire_type(item)
            size = 40 if kind.max_items is None else size
        elif isinstance(item, fields.ThirdPartyString):
            element = latin1_text(30)
        elif isinstance(item, msgs.BmsEntry):
            element = bms_values
        elif isinstance(item, msgs.SmbEntry):
            element = smb_values
        else:
            element = st.deferred(lambda: builds_record(item))  # type: ignore[arg-type]
        return _tuples_of(element, min(size, 8) if size > 8 else size)
    if isinstance(kind, fields.WideCounted):
        return wide_text(min(kind.limit, 80))
    if isinstance(kind, (fields.CString, msgs._OptionalCString, msgs._CountedText)):
        return latin1_text(30)
    if isinstance(kind, (fields.Blob, fields.Rest)):
        return st.binary(max_size=300)
    if isinstance(kind, (msgs.JsonText, msgs.JsonEnvelope)):
        return json_objects
    if isinstance(kind, (msgs.AuxValues, msgs.ChannelExtras)):
        return aux_readings()
    raise LookupError(f"no strategy for the tail {type(kind).__name__} of {owner.__name__}.{name}")


# (class, field) -> strategy, where the derived one is not wanted.
TAIL_STRATEGIES: dict[tuple[type, str], Any] = {
    (ChannelRecord, "bms"): _tuples_of(bms_values, 3),
    (ChannelRecord, "smb"): _tuples_of(smb_values, 3),
    (msgs.UpdateMetaVariablesRequest, "entries"): st.deferred(
        lambda: st.one_of(
            _tuples_of(builds_record(MetaVariableEntry), 8),
            _tuples_of(builds_record(MetaVariableEntry), msgs.MAX_MV_ENTRIES, min_size=150),
        )
    ),
}

_RECORD_CACHE: dict[type, st.SearchStrategy[Any]] = {}


def _fix_conditional(cls: type) -> Any:
    conditional = [
        (f.name, f.metadata["tail"])
        for f in dataclasses.fields(cls)
        if isinstance(f.metadata.get("tail"), fields.When)
    ]
    if not conditional:
        return None

    def fix(obj: Any) -> Any:
        changes = {
            name: kind.absent
            for name, kind in conditional
            if not kind.present(lambda key: getattr(obj, key))
        }
        return dataclasses.replace(obj, **changes) if changes else obj

    return fix


def builds_record(cls: type) -> st.SearchStrategy[Any]:
    """A strategy building ``cls`` (a message or a record) with every field drawn.

    Raises LookupError for a tail without a derivable strategy.
    """
    cached = _RECORD_CACHE.get(cls)
    if cached is not None:
        return cached
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        kind = field.metadata.get("wire")
        tail_kind = field.metadata.get("tail")
        if (cls, field.name) in TAIL_STRATEGIES:
            kwargs[field.name] = TAIL_STRATEGIES[(cls, field.name)]
        elif kind is not None:
            kwargs[field.name] = for_wire_type(kind)
        elif isinstance(tail_kind, fields.ZeroTail):
            continue
        elif tail_kind is not None:
            kwargs[field.name] = for_tail(tail_kind, cls, field.name)
        elif "part_of" in field.metadata:
            raise LookupError(f"no strategy for {cls.__name__}.{field.name}")
        else:
            raise LookupError(f"no strategy for the tail field {cls.__name__}.{field.name}")
    strategy = st.builds(cls, **kwargs)
    fix = _fix_conditional(cls)
    if fix is not None:
        strategy = strategy.map(fix)
    _RECORD_CACHE[cls] = strategy
    return strategy


def message_strategies() -> dict[type, st.SearchStrategy[Any]]:
    """One strategy per registered message class."""
    return {cls: builds_record(cls) for cls in message_classes()}


# --------------------------------------------------------------------------------------------
# Raw frames


def with_checksum(frame_without_checksum: bytes | bytearray) -> bytes:
    """Append the CTI checksum (byte sum modulo 2**16), computed the plain way."""
    data = bytes(frame_without_checksum)
    return data + (sum(data) % 65536).to_bytes(2, "little")


def make_frame(code: int, body: bytes, *, request: bool, dw_len: int | None = None) -> bytes:
    """A frame with ``body``: dwLen by the direction's rule unless given, checksum fixed up."""
    total = 20 + len(body) + 2
    if dw_len is None:
        dw_len = total - 12 if request else total
    header = struct.pack("<QIII", 0x11DDDDDDDDDDDDDD, dw_len, code, 0)
    return with_checksum(header + body)


def fix_checksum(frame: bytes | bytearray) -> bytes:
    """``frame`` with its last two bytes replaced by the right checksum."""
    return with_checksum(bytes(frame[:-2]))


def drain(reader: FrameReader) -> list[bytes]:
    """Every whole frame ``reader`` holds now."""
    frames = []
    while (frame := reader.next_frame()) is not None:
        frames.append(frame)
    return frames


def feed_in_chunks(reader: FrameReader, data: bytes, chunk_size: int) -> list[bytes]:
    """Feed ``data`` to ``reader`` ``chunk_size`` bytes at a time; the frames it gave back."""
    frames = []
    for start in range(0, len(data), chunk_size):
        reader.feed(data[start : start + chunk_size])
        frames += drain(reader)
    return frames
