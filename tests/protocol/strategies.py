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
    DirEntry,
    MetaVariableEntry,
    ResumeData,
    ResumeDataRecord,
    SmbValue,
    StartDataRecord,
    StartExEntry,
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
        if kind.record is ResumeData:
            return resume_data()
        return builds_record(kind.record)
    if isinstance(kind, fields.F32Array):
        return st.tuples(*[f32s] * kind.count)
    if isinstance(kind, fields.Enum16):
        return st.one_of(st.sampled_from(list(kind.enum)), st.integers(-0x8000, 0x7FFF))
    if isinstance(kind, fields.Wide):
        return wide_text(kind.length)
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


# (class, tail field) -> strategy. Every plain (non-wire) dataclass field of every message and
# record needs an entry here.
TAIL_STRATEGIES: dict[tuple[type, str], Any] = {
    (msgs.LoginFeedback, "picture"): st.binary(max_size=300),
    (ChannelRecord, "aux"): aux_readings(),
    (ChannelRecord, "bms"): _tuples_of(bms_values, 3),
    (ChannelRecord, "smb"): _tuples_of(smb_values, 3),
    (msgs.ChannelInfoFeedback, "channels"): st.deferred(
        lambda: _tuples_of(builds_record(ChannelRecord), 4)
    ),
    (msgs.StartRequest, "channel_indexes"): channel_lists,
    (msgs.ContinueRequest, "channel_indexes"): channel_lists,
    (msgs.GetStartDataRequest, "channel_indexes"): channel_lists,
    (msgs.GetResumeDataRequest, "channel_indexes"): channel_lists,
    (ResumeData, "tc_time_s"): st.tuples(*[f64s] * 4),
    (ResumeData, "tc_charge_capacity_ah"): st.tuples(f64s, f64s),
    (ResumeData, "tc_discharge_capacity_ah"): st.tuples(f64s, f64s),
    (ResumeData, "tc_charge_energy_wh"): st.tuples(f64s, f64s),
    (ResumeData, "tc_discharge_energy_wh"): st.tuples(f64s, f64s),
    (ResumeData, "mv_counters"): st.tuples(*[f32s] * 4),
    (ResumeData, "charge_capacity_time_s"): f64s,
    (ResumeData, "discharge_capacity_time_s"): f64s,
    (ResumeData, "mv_ud"): _mv_ud(),
    (msgs.StartExRequest, "entries"): st.deferred(
        lambda: _tuples_of(builds_record(StartExEntry), 3)
    ),
    (msgs.ResumeExRequest, "entries"): st.deferred(
        lambda: _tuples_of(builds_record(msgs.ResumeExEntry), 3)
    ),
    (StartDataRecord, "test_names"): _tuples_of(latin1_text(30), 4),
    (StartDataRecord, "steps"): _tuples_of(latin1_text(30), 4),
    (StartDataRecord, "schedule"): wide_text(200),
    (StartDataRecord, "mv_ud"): _mv_ud(),
    (msgs.GetStartDataFeedback, "records"): st.deferred(
        lambda: _tuples_of(builds_record(StartDataRecord), 3)
    ),
    (ResumeDataRecord, "steps"): _tuples_of(latin1_text(30), 4),
    (ResumeDataRecord, "test_name"): wide_text(72),
    (ResumeDataRecord, "schedule"): wide_text(200),
    (ResumeDataRecord, "creator"): wide_text(64),
    (ResumeDataRecord, "comment"): wide_text(64),
    (ResumeDataRecord, "start_time"): wide_text(64),
    (ResumeDataRecord, "resume_data"): st.deferred(resume_data),
    (msgs.GetResumeDataFeedback, "records"): st.deferred(
        lambda: _tuples_of(builds_record(ResumeDataRecord), 3)
    ),
    (msgs.UpdateMetaVariablesRequest, "entries"): st.deferred(
        lambda: st.one_of(
            _tuples_of(builds_record(MetaVariableEntry), 8),
            _tuples_of(builds_record(MetaVariableEntry), msgs.MAX_MV_ENTRIES, min_size=150),
        )
    ),
    (msgs.BrowseDirectoryFeedback, "entries"): st.deferred(
        lambda: _tuples_of(builds_record(DirEntry), 4)
    ),
    (msgs.DownloadFileFeedback, "data"): st.binary(max_size=2000),
    (msgs.UploadFileRequest, "package_count"): u32s,
    (msgs.UploadFileRequest, "package_index"): u32s,
    (msgs.UploadFileRequest, "upload_time"): f64s,
    (msgs.UploadFileRequest, "md5"): st.binary(min_size=16, max_size=16),
    (msgs.UploadFileRequest, "data"): st.binary(max_size=2000),
}

_RECORD_CACHE: dict[type, st.SearchStrategy[Any]] = {}


def builds_record(cls: type) -> st.SearchStrategy[Any]:
    """A strategy building ``cls`` (a message or a record) with every field drawn.

    Raises LookupError for a tail field without an entry in TAIL_STRATEGIES.
    """
    cached = _RECORD_CACHE.get(cls)
    if cached is not None:
        return cached
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for field in dataclasses.fields(cls):
        kind = field.metadata.get("wire")
        if kind is not None:
            kwargs[field.name] = for_wire_type(kind)
        elif (cls, field.name) in TAIL_STRATEGIES:
            kwargs[field.name] = TAIL_STRATEGIES[(cls, field.name)]
        else:
            raise LookupError(f"no strategy for the tail field {cls.__name__}.{field.name}")
    strategy = st.builds(cls, **kwargs)
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
