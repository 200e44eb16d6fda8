"""The compiled record builder (protocol/_records.c) against building records by their class.

It fills the slots of new records straight from columns (or from another record), so it must
give records equal to the constructor's, refuse anything that is not a writable slot of the
class, and leave classes whose construction does more than store fields to their constructor.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import subprocess
import sys

import pytest

from pyctiarbin.client.status import ChannelStatus
from pyctiarbin.protocol import (
    CHANNEL_FIELDS,
    AuxReadings,
    AuxValue,
    BmsValue,
    ChannelRecord,
    ChannelTable,
    SmbValue,
    StatusCode,
    messages,
)

_records = pytest.importorskip("pyctiarbin.protocol._records")

RICH = ChannelRecord(
    channel_index=4,
    status=StatusCode.CHARGE,
    schedule="Cycle.sdx",
    test_name="cell-7 ✓",
    voltage_v=3.75,
    current_a=-1.5,
    aux=AuxReadings(temperature=(AuxValue(25.5, 0.25),)),
    bms=(BmsValue(1, 3.5, "V"),),
    smb=(SmbValue(2, "text", ""),),
)


def table_of(records: list[ChannelRecord]) -> ChannelTable:
    return ChannelTable.from_records(records)


def built_by_class(cls: type[ChannelRecord], table: ChannelTable) -> list[ChannelRecord]:
    return [cls(*row) for row in zip(*table.columns.values(), strict=True)]


@pytest.mark.parametrize("cls", [ChannelRecord, ChannelStatus])
def test_compiled_records_equal_the_constructors(cls: type[ChannelRecord]) -> None:
    rows = [dataclasses.replace(RICH, channel_index=i, voltage_v=i / 4) for i in range(5)]
    table = table_of(rows)
    before = messages.use_record_builder("compiled")
    try:
        built = table.records(cls)
        copied = messages.record_as(cls, RICH)
    finally:
        messages.use_record_builder(before)
    assert built == built_by_class(cls, table)
    assert all(type(record) is cls for record in built)
    for record, row in zip(built, rows, strict=True):
        for name in CHANNEL_FIELDS:
            assert getattr(record, name) is getattr(row, name), name  # the same objects
    assert all(gc.is_tracked(record) for record in built)  # the collector sees them
    assert type(copied) is cls and copied is not RICH
    assert dataclasses.astuple(copied) == dataclasses.astuple(RICH)


def test_classes_that_do_more_than_store_fields_are_called() -> None:
    calls = []

    @dataclasses.dataclass(slots=True)
    class Checked(ChannelRecord):
        def __post_init__(self) -> None:
            calls.append(self.channel_index)

    class OwnInit(ChannelRecord):
        __slots__ = ()

        def __init__(self, *args: object) -> None:
            calls.append(-1)
            super().__init__(*args)  # type: ignore[arg-type]

    assert messages._fillable_slots(ChannelStatus) is not None
    for cls in (Checked, OwnInit):
        assert messages._fillable_slots(cls) is None, cls
    table = table_of([dataclasses.replace(RICH, channel_index=i) for i in range(3)])
    before = messages.use_record_builder("compiled")
    try:
        assert [r.channel_index for r in table.records(Checked)] == [0, 1, 2]
        assert calls == [0, 1, 2]
        table.records(OwnInit)
        assert calls[3:] == [-1, -1, -1]
    finally:
        messages.use_record_builder(before)


def test_the_builder_refuses_what_is_not_a_writable_slot_of_the_class() -> None:
    slots = messages._fillable_slots(ChannelRecord)
    assert slots is not None
    columns = tuple((getattr(RICH, name),) for name in CHANNEL_FIELDS)
    assert _records.from_columns(ChannelRecord, slots, columns) == [RICH]

    @dataclasses.dataclass(slots=True)
    class Other:
        value: int = 0

    with pytest.raises(TypeError, match="not a writable slot"):
        _records.from_columns(Other, slots, columns)  # slots of an unrelated class
    with pytest.raises(TypeError, match="member descriptors"):
        _records.from_columns(ChannelRecord, (property(),) * len(slots), columns)
    with pytest.raises(TypeError, match="one column"):
        _records.from_columns(ChannelRecord, slots, columns[:-1])
    with pytest.raises(ValueError, match="one length"):
        _records.from_columns(ChannelRecord, slots, (*columns[:-1], ((), ())))
    with pytest.raises(TypeError, match="must be a class"):
        _records.from_columns(RICH, slots, columns)
    with pytest.raises(TypeError, match="not a writable slot"):
        _records.copy_as(ChannelRecord, slots, Other())  # a source without those slots
    half = ChannelRecord.__new__(ChannelRecord)
    with pytest.raises(AttributeError, match="unset"):
        _records.copy_as(ChannelStatus, slots, half)


def test_the_builder_choice() -> None:
    with pytest.raises(ValueError, match="record builder must be one of"):
        messages.use_record_builder("fortran")
    before = messages.use_record_builder("python")
    try:
        assert messages.record_builder() == "python"
        assert messages.use_record_builder("compiled") == "python"
        assert messages.record_builder() == "compiled"
    finally:
        messages.use_record_builder(before)
    # PYCTI_PURE_PYTHON=1 turns every acceleration off at import.
    code = "from pyctiarbin.protocol import messages, framing; print(messages.record_builder())"
    env = {**os.environ, "PYCTI_PURE_PYTHON": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "python"
