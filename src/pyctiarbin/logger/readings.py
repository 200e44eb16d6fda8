"""What the logger hands to its listeners: readings, test boundaries, gaps, cycler identities.

Everything here is plain data (frozen, slotted dataclasses) plus the conversion of a reading to
the flat row the SQL sinks store (:data:`READING_COLUMNS`, :func:`reading_row`). Times are host
times in UTC, as seconds since the Unix epoch (``unix_time_s``).
"""

from __future__ import annotations

import enum
import functools
import json
import math
import operator
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import Any, overload

from ..client.status import MEASUREMENT_FIELDS, ChannelStatus
from ..protocol import (
    AUX_KINDS,
    AuxReadings,
    BmsValue,
    ChannelRecord,
    ChannelTable,
    SmbValue,
    StatusCode,
)
from ..shared import DEFAULT_PORT

__all__ = [
    "EVENT_COLUMNS",
    "GAP_COLUMNS",
    "READING_COLUMNS",
    "TEST_COLUMNS",
    "CyclerInfo",
    "CyclerSpec",
    "Gap",
    "Reading",
    "ReadingBatch",
    "TableReadings",
    "TestEvent",
    "TestEventKind",
    "TestRecord",
    "aux_json",
    "aux_text",
    "bms_text",
    "reading_row",
    "smb_text",
    "table_rows",
]

Row = tuple[Any, ...]

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True, slots=True)
class CyclerSpec:
    """One cycler the logger polls: a short ``name`` (the key in the database), its address and
    optionally its credentials (else the environment / ``.env``, as for every client).

    ``CyclerSpec.parse("[NAME=]HOST:PORT")`` reads the command-line form. The password never
    appears in the repr.

    Raises:
        ValueError: from the constructor, for an empty or odd name, host or port.
    """

    name: str
    host: str
    port: int = DEFAULT_PORT
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    env_path: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(
                f"cycler name {self.name!r} must be 1..64 characters of letters, digits, "
                "'_', '-' or '.'"
            )
        if not self.host:
            raise ValueError(f"cycler {self.name!r}: the host is empty")
        port = self.port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"cycler {self.name!r}: port must be 1..65535, not {self.port!r}")

    @classmethod
    def parse(cls, text: str) -> CyclerSpec:
        """Parse ``[NAME=]HOST:PORT`` (the name defaults to ``HOST_PORT``).

        Raises:
            ValueError: if the text is not of that form.
        """
        name, eq, address = text.strip().partition("=")
        if not eq:
            name, address = "", name
        host, colon, port_text = address.rpartition(":")
        if not colon or not host or not port_text.isdigit():
            raise ValueError(f"expected [NAME=]HOST:PORT, got {text!r}")
        host = host.strip("[]")
        port = int(port_text)
        if not name:
            name = re.sub(r"[^A-Za-z0-9_.\-]", "_", f"{host}_{port}")
        return cls(name.strip(), host, port)

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class CyclerInfo:
    """Who a cycler said it is when the logger logged in (from the login feedback)."""

    name: str
    host: str
    port: int
    serial_number: str
    num_channels: int
    nickname: str = ""
    version: int = 0

    def row(self, unix_time_s: float) -> tuple[Any, ...]:
        """The ``cyclers`` table row."""
        return (
            self.name,
            self.host,
            self.port,
            self.serial_number,
            self.num_channels,
            self.nickname,
            self.version,
            unix_time_s,
        )


CYCLER_COLUMNS = (
    "cycler",
    "host",
    "port",
    "serial_number",
    "num_channels",
    "nickname",
    "version",
    "updated_s",
)


@dataclass(frozen=True, slots=True)
class Reading:
    """One channel of one cycler at one host time.

    ``status`` is the full :class:`ChannelStatus` as read (aux, BMS and SMB parts included);
    ``test_id`` identifies the test the reading belongs to (None when the channel has no test:
    idle with no test name).
    """

    cycler: str
    unix_time_s: float
    test_id: int | None
    status: ChannelStatus

    @property
    def channel(self) -> int:
        """The 1-based channel number."""
        return self.status.channel_index + 1


class TestEventKind(str, enum.Enum):
    """What happened at a test boundary."""

    __test__ = False  # not a pytest test class

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[Any]) -> str:
        # Each member's value is its name in lower case ("observed"), as stored.
        return name.lower()

    #: The logger saw this test for the first time while it was already under way (logging
    #: began, or the logger has no record of it).
    OBSERVED = enum.auto()
    #: The channel started a new test (from a stopped state, or the test time went back).
    STARTED = enum.auto()
    #: The schedule or the test name changed: the previous test ended, this one began.
    CHANGED = enum.auto()
    #: The channel stopped running without finishing (stopped, unsafe, error, ...).
    STOPPED = enum.auto()
    #: The schedule finished.
    FINISHED = enum.auto()
    #: The test was paused.
    PAUSED = enum.auto()
    #: A stopped or paused test runs again (same test).
    RESUMED = enum.auto()


@dataclass(frozen=True, slots=True)
class TestEvent:
    """A test boundary on one channel, detected by comparing consecutive readings."""

    __test__ = False

    cycler: str
    channel: int
    unix_time_s: float
    kind: TestEventKind
    test_id: int | None
    status: str
    previous_status: str
    schedule: str
    test_name: str
    barcode: str
    test_time_s: float

    def row(self) -> tuple[Any, ...]:
        """The ``test_events`` table row (:data:`EVENT_COLUMNS`)."""
        return (
            self.cycler,
            self.channel,
            self.unix_time_s,
            self.kind.value,
            self.test_id,
            self.status,
            self.previous_status,
            self.schedule,
            self.test_name,
            self.barcode,
            self.test_time_s,
        )


EVENT_COLUMNS = (
    "cycler",
    "channel",
    "unix_time_s",
    "event",
    "test_id",
    "status",
    "previous_status",
    "schedule",
    "test_name",
    "barcode",
    "test_time_s",
)


@dataclass(frozen=True, slots=True)
class TestRecord:
    """The current state of one test (a row of the ``tests`` table), sent whenever it changes.

    ``first_seen_s``: host time of the test's first reading; ``start_s``: when the test began,
    estimated as that reading's time minus its test time; ``ended_s``/``end_status``: set when
    the channel stopped or finished (cleared when it resumes).
    """

    __test__ = False

    test_id: int
    cycler: str
    channel: int
    serial_number: str
    schedule: str
    test_name: str
    barcode: str
    first_seen_s: float
    start_s: float
    last_status: str
    ended_s: float | None = None
    end_status: str | None = None

    def row(self) -> tuple[Any, ...]:
        """The ``tests`` table row (:data:`TEST_COLUMNS`)."""
        return (
            self.test_id,
            self.cycler,
            self.channel,
            self.serial_number,
            self.schedule,
            self.test_name,
            self.barcode,
            self.first_seen_s,
            self.start_s,
            self.last_status,
            self.ended_s,
            self.end_status,
        )


TEST_COLUMNS = (
    "test_id",
    "cycler",
    "channel",
    "serial_number",
    "schedule",
    "test_name",
    "barcode",
    "first_seen_s",
    "start_s",
    "last_status",
    "ended_s",
    "end_status",
)


@dataclass(frozen=True, slots=True)
class Gap:
    """A time span in which a cycler could not be read.

    Sent twice: when it opens (``end_s`` None) and when it closes (``end_s`` = the time of the
    first reading after it). ``start_s`` is the time of the last good reading (or of the first
    failed poll when there was none). ``missed_intervals`` counts the poll slots without data.
    """

    cycler: str
    start_s: float
    end_s: float | None
    missed_intervals: int
    reason: str

    def row(self) -> tuple[Any, ...]:
        """The ``gaps`` table row (:data:`GAP_COLUMNS`)."""
        return (self.cycler, self.start_s, self.end_s, self.missed_intervals, self.reason)


GAP_COLUMNS = ("cycler", "start_s", "end_s", "missed_intervals", "reason")


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """Everything one poll of one cycler produced.

    ``interval_index`` is the slot on the logger's monotonic grid (slot ``k`` is due at
    ``start + k * interval``); ``unix_time_s`` the host time of the poll (the midpoint between
    sending the request and receiving the answer). ``events`` and ``tests`` hold the test
    boundaries found in this poll and the test rows they changed.
    """

    cycler: CyclerInfo
    interval_index: int
    unix_time_s: float
    readings: Sequence[Reading]
    events: Sequence[TestEvent] = ()
    tests: Sequence[TestRecord] = ()
    _rows: list[Row] | None = field(default=None, init=False, repr=False, compare=False)

    def rows(self) -> list[Row]:
        """The ``readings`` table rows of :attr:`readings` (:func:`reading_row`), built once
        and shared by every listener that stores or publishes them: do not change the list.
        Readings the logger read as columns (:class:`TableReadings`) become rows straight
        from the columns."""
        rows = self._rows
        if rows is None:
            readings = self.readings
            if isinstance(readings, TableReadings):
                rows = readings.rows()
            else:
                rows = [reading_row(reading) for reading in readings]
            object.__setattr__(self, "_rows", rows)
        return rows


# -- the flat row the SQL sinks store -----------------------------------------------------------

#: Columns of the ``readings`` table, in the order of :func:`reading_row`.
READING_COLUMNS = (
    "cycler",
    "channel",
    "unix_time_s",
    "test_id",
    *ChannelRecord.LAYOUT.names[1:],  # status ... aci_phase_degrees, in wire order
    "aux",
    "bms",
    "smb",
)

#: Reading columns holding numbers that change continuously (the on-change filter compares
#: these with tolerances; the others must match exactly).
NUMERIC_FIELDS = MEASUREMENT_FIELDS


def _finite(value: float) -> float | None:
    # NaN and infinities are stored as NULL (neither JSON nor every database takes them).
    return value if math.isfinite(value) else None


def _num(value: float) -> str:
    # repr() of a finite float is a valid JSON number and reads back to the same float.
    return repr(value) if math.isfinite(value) else "null"


@functools.lru_cache(maxsize=1024)
def _text(value: str) -> str:
    # Units and SMB texts repeat from reading to reading: encode each once.
    return json.dumps(value, ensure_ascii=False)


_aux_groups = operator.attrgetter(*AUX_KINDS)
_value_and_dt = operator.attrgetter("value", "dt")


@functools.lru_cache(maxsize=256)
def _aux_format(counts: tuple[int, ...]) -> str:
    # The aux JSON of one shape (how many values of each kind) with a %r per number.
    parts = [
        f'"{kind}":[' + ",".join(["[%r,%r]"] * count) + "]"
        for kind, count in zip(AUX_KINDS, counts, strict=True)
        if count
    ]
    return "{" + ",".join(parts) + "}"


def aux_text(aux: AuxReadings) -> str | None:
    """The aux readings as compact JSON ``{"temperature": [[value, dt], ...], ...}`` (only the
    kinds present; a value that is not finite as null), or None when there are none."""
    groups = _aux_groups(aux)
    counts = tuple(map(len, groups))
    if not any(counts):
        return None
    numbers = tuple(chain.from_iterable(map(_value_and_dt, chain.from_iterable(groups))))
    if math.isfinite(sum(numbers)):  # all finite (an overflow to inf takes the long way)
        return _aux_format(counts) % numbers
    return _aux_format(counts).replace("%r", "%s") % tuple(map(_num, numbers))


def aux_json(status: ChannelStatus) -> str | None:
    """:func:`aux_text` of a channel status's aux readings."""
    return aux_text(status.aux)


def bms_text(bms: Sequence[BmsValue]) -> str | None:
    """The CAN-BMS entries as compact JSON ``[[index, value, unit], ...]``, or None."""
    if not bms:
        return None
    entries = ",".join(f"[{b.index},{_num(b.value)},{_text(b.unit)}]" for b in bms)
    return f"[{entries}]"


def smb_text(smb: Sequence[SmbValue]) -> str | None:
    """The SMB entries as compact JSON ``[[index, value, unit], ...]`` (a text value as a JSON
    string), or None."""
    if not smb:
        return None
    entries = ",".join(
        f"[{s.index},{_text(s.value) if isinstance(s.value, str) else _num(s.value)},"
        f"{_text(s.unit)}]"
        for s in smb
    )
    return f"[{entries}]"


def reading_row(reading: Reading) -> tuple[Any, ...]:
    """The ``readings`` table row of one reading (:data:`READING_COLUMNS` order).

    ``status`` is stored as its MITS label (``"Charge"``); aux, BMS and SMB parts as JSON text;
    numbers that are not finite as NULL.
    """
    s = reading.status
    f = _finite
    return (
        reading.cycler,
        s.channel_index + 1,
        reading.unix_time_s,
        reading.test_id,
        s.status.label,
        s.comm_failure,
        s.schedule,
        s.test_name,
        s.exit_condition,
        s.step_and_cycle_format,
        s.barcode,
        s.can_config_name,
        s.smb_config_name,
        s.master_channel,
        f(s.test_time_s),
        f(s.step_time_s),
        f(s.voltage_v),
        f(s.current_a),
        f(s.power_w),
        f(s.charge_capacity_ah),
        f(s.discharge_capacity_ah),
        f(s.charge_energy_wh),
        f(s.discharge_energy_wh),
        f(s.internal_resistance_ohm),
        f(s.dvdt_vbys),
        f(s.acr_ohm),
        f(s.aci_ohm),
        f(s.aci_phase_degrees),
        aux_text(s.aux),
        bms_text(s.bms),
        smb_text(s.smb),
    )


_LABELS = {member: member.label for member in StatusCode}
#: The aux readings of a record without any (one shared object: compared by identity).
_NO_AUX = ChannelRecord(channel_index=0).aux
#: Columns stored as the record holds them: comm_failure ... master_channel.
_PLAIN_COLUMNS = READING_COLUMNS[5 : READING_COLUMNS.index(MEASUREMENT_FIELDS[0])]
if READING_COLUMNS[:5] != ("cycler", "channel", "unix_time_s", "test_id", "status") or (
    READING_COLUMNS[5:] != (*_PLAIN_COLUMNS, *MEASUREMENT_FIELDS, "aux", "bms", "smb")
):  # pragma: no cover - a layout change
    raise RuntimeError("table_rows expects the readings columns in another layout")


def table_rows(
    cycler: str, unix_time_s: float, test_ids: Sequence[int | None], table: ChannelTable
) -> list[Row]:
    """The ``readings`` table rows of one poll read as columns: the rows :func:`reading_row`
    gives for the same readings, built a column at a time."""
    count = len(table)
    labels = list(map(_LABELS.get, table["status"]))
    if None in labels:  # an undocumented status code (a pseudo-member UNKNOWN_<code>)
        labels = [status.label for status in table["status"]]
    measurements = []
    for name in MEASUREMENT_FIELDS:
        column = table[name]
        # NaN and infinities are stored as NULL; sum() is finite only if every value is.
        measurements.append(column if math.isfinite(sum(column)) else map(_finite, column))
    aux, bms, smb = table["aux"], table["bms"], table["smb"]
    return list(
        zip(
            repeat(cycler, count),
            table.channel,
            repeat(unix_time_s, count),
            test_ids,
            labels,
            *(table[name] for name in _PLAIN_COLUMNS),
            *measurements,
            repeat(None, count)
            if all(map(operator.is_, aux, repeat(_NO_AUX)))
            else map(aux_text, aux),
            map(bms_text, bms) if any(bms) else repeat(None, count),
            map(smb_text, smb) if any(smb) else repeat(None, count),
            strict=True,
        )
    )


class TableReadings(Sequence[Reading]):
    """The readings of one poll read as columns (a :class:`ChannelTable` and the test id of
    each row). The :class:`Reading` objects are built when a listener first asks for one;
    :meth:`rows` builds the stored rows from the columns without them."""

    __slots__ = ("_readings", "cycler", "table", "test_ids", "unix_time_s")

    def __init__(
        self,
        cycler: str,
        unix_time_s: float,
        test_ids: Sequence[int | None],
        table: ChannelTable,
    ) -> None:
        """Raises ValueError if ``test_ids`` and ``table`` differ in length."""
        if len(test_ids) != len(table):
            raise ValueError(f"{len(test_ids)} test ids for {len(table)} channels")
        self.cycler = cycler
        self.unix_time_s = unix_time_s
        self.test_ids = test_ids
        self.table = table
        self._readings: list[Reading] | None = None

    def _built(self) -> list[Reading]:
        readings = self._readings
        if readings is None:
            cycler, unix_time_s = self.cycler, self.unix_time_s
            readings = self._readings = [
                Reading(cycler, unix_time_s, test_id, status)
                for test_id, status in zip(
                    self.test_ids, self.table.records(ChannelStatus), strict=True
                )
            ]
        return readings

    def __len__(self) -> int:
        return len(self.test_ids)

    def __repr__(self) -> str:
        return f"<TableReadings {self.cycler} at {self.unix_time_s}: {len(self)} readings>"

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> list[Reading]: ...

    def __getitem__(self, index: int | slice) -> Reading | list[Reading]:
        return self._built()[index]

    def __iter__(self) -> Iterator[Reading]:
        return iter(self._built())

    def rows(self) -> list[Row]:
        """The ``readings`` table rows (:func:`table_rows`)."""
        return table_rows(self.cycler, self.unix_time_s, self.test_ids, self.table)
