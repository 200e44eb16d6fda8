"""The stored row of a reading: every field, aux/BMS/SMB as JSON that reads back exactly."""

from __future__ import annotations

import json
import math

from pyctiarbin.client.status import ChannelStatus
from pyctiarbin.logger import READING_COLUMNS, Reading
from pyctiarbin.logger.readings import reading_row
from pyctiarbin.protocol import AuxReadings, AuxValue, BmsValue, SmbValue, StatusCode


def test_row_holds_every_field_and_json_reads_back() -> None:
    status = ChannelStatus(
        channel_index=6,
        status=StatusCode.EXTERNAL_CHARGE,
        schedule="Cycle.sdx",
        test_name='quote " and ü',
        voltage_v=3.123456789,
        current_a=float("nan"),
        aux=AuxReadings(
            voltage=(AuxValue(3.7, 0.0),),
            temperature=(AuxValue(25.123, 1e-07), AuxValue(float("inf"), -2.5)),
        ),
        bms=(BmsValue(0, 50.5, "%"),),
        smb=(SmbValue(2, 'SN "7"', ""), SmbValue(3, 4.2, "V\\")),
    )
    row = dict(zip(READING_COLUMNS, reading_row(Reading("bay1", 12.5, 99, status)), strict=True))
    assert (row["cycler"], row["channel"], row["unix_time_s"], row["test_id"]) == (
        "bay1",
        7,
        12.5,
        99,
    )
    assert row["status"] == "External Charge" and row["test_name"] == 'quote " and ü'
    assert row["voltage_v"] == 3.123456789 and row["current_a"] is None  # NaN -> NULL
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
