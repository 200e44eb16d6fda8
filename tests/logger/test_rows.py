"""The stored row of a reading: every field, aux/BMS/SMB as JSON that reads back exactly, and
the same rows whether built from readings or from the columns of a poll."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import pytest

from pyctiarbin.client.status import ChannelStatus
from pyctiarbin.logger import READING_COLUMNS, BoundaryTracker, CyclerInfo, Reading, boundaries
from pyctiarbin.logger.readings import ReadingBatch, TableReadings, reading_row, table_rows
from pyctiarbin.protocol import ChannelTable

from .odd_readings import ODD_STATUS, PLAIN_STATUSES

INFO = CyclerInfo("bay1", "127.0.0.1", 9031, "SN42", 8)


def test_row_holds_every_field_and_json_reads_back() -> None:
    row = dict(
        zip(READING_COLUMNS, reading_row(Reading("bay1", 12.5, 99, ODD_STATUS)), strict=True)
    )
    assert (row["cycler"], row["channel"], row["unix_time_s"], row["test_id"]) == (
        "bay1",
        7,
        12.5,
        99,
    )
    assert row["status"] == "External Charge" and row["test_name"] == 'quote " and ü\\'
    assert row["voltage_v"] == 3.123456789 and row["current_a"] is None  # NaN -> NULL
    assert row["charge_capacity_ah"] is None and row["power_w"] == -1e-300
    assert json.loads(row["aux"]) == {
        "voltage": [[3.7, 0.0]],
        "temperature": [[25.123, 1e-07], [None, -2.5]],
    }
    assert json.loads(row["bms"]) == [[0, 50.5, "%"]]
    assert json.loads(row["smb"]) == [[2, 'SN "7"', ""], [3, 4.2, "V\\"]]
    assert not any(isinstance(v, float) and math.isnan(v) for v in row.values())


def test_no_aux_bms_smb_is_null() -> None:
    row = reading_row(Reading("bay1", 1.0, None, ChannelStatus(channel_index=0)))
    assert row[-3:] == (None, None, None)


@pytest.mark.parametrize(
    "statuses",
    [PLAIN_STATUSES, (*PLAIN_STATUSES, ODD_STATUS), (ODD_STATUS,)],
    ids=["plain", "mixed", "odd"],
)
def test_rows_from_columns_are_the_rows_of_the_readings(
    statuses: tuple[ChannelStatus, ...],
) -> None:
    """The logger builds its rows from the columns of a poll; they must be the rows of the
    same readings, value for value and type for type."""
    table = ChannelTable.from_records(statuses)
    test_ids = [7, None, 1 << 62, 3][: len(statuses)]
    expected = [
        reading_row(Reading("bay1", 1_700_000_000.25, test_id, status))
        for test_id, status in zip(test_ids, statuses, strict=True)
    ]
    rows = table_rows("bay1", 1_700_000_000.25, test_ids, table)
    assert rows == expected
    assert [list(map(type, row)) for row in rows] == [list(map(type, row)) for row in expected]
    readings = TableReadings("bay1", 1_700_000_000.25, test_ids, table)
    batch = ReadingBatch(INFO, 0, 1_700_000_000.25, readings)
    assert batch.rows() == expected and batch.rows() is batch.rows()  # built once
    assert list(readings) == [
        Reading("bay1", 1_700_000_000.25, test_id, status)
        for test_id, status in zip(test_ids, statuses, strict=True)
    ]
    assert readings[-1].status == statuses[-1] and len(readings) == len(statuses)
    plain = ReadingBatch(INFO, 0, 1_700_000_000.25, list(readings))
    assert plain.rows() == expected


def test_table_readings_need_a_test_id_per_channel() -> None:
    with pytest.raises(ValueError, match="2 test ids for 1 channels"):
        TableReadings("bay1", 1.0, [1, 2], ChannelTable.from_records([ODD_STATUS]))


def test_the_tracker_gives_columns_the_test_ids_and_boundaries_it_gives_readings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """process_table() and process() agree poll after poll: test ids, events, test rows."""
    polls = [
        PLAIN_STATUSES,
        (*PLAIN_STATUSES, ODD_STATUS),
        tuple(dataclasses.replace(s, test_time_s=5.0) for s in (*PLAIN_STATUSES, ODD_STATUS)),
        tuple(dataclasses.replace(s, test_name="other") for s in (*PLAIN_STATUSES, ODD_STATUS)),
        (ODD_STATUS,),
    ]
    results = []
    for use_table in (False, True):
        ids = itertools.count(1)
        monkeypatch.setattr(boundaries, "new_test_id", ids.__next__)
        tracker = BoundaryTracker("bay1")
        seen = []
        for k, statuses in enumerate(polls):
            if use_table:
                table = ChannelTable.from_records(statuses)
                seen.append(tracker.process_table(INFO, float(k), table))
            else:
                readings, events, tests = tracker.process(INFO, float(k), statuses)
                seen.append(([r.test_id for r in readings], events, tests))
        results.append(seen)
    assert results[0] == results[1]
    assert any(events for _ids, events, _tests in results[0])  # boundaries were crossed
