"""Channel statuses with everything a stored row must carry exactly: odd texts, numbers that
are not finite, aux/BMS/SMB parts, an undocumented status code."""

from __future__ import annotations

from typing import Any

from pyctiarbin.client.status import ChannelStatus
from pyctiarbin.protocol import AuxReadings, AuxValue, BmsValue, SmbValue, StatusCode

#: Texts JSON must escape: quotes, a backslash, non-ASCII.
ODD_TEXTS = {"schedule": 'Cycle "A".sdx', "test_name": 'quote " and ü\\'}
#: Numbers: many digits, NaN, a tiny one and an infinity (the last two stored as NULL).
ODD_NUMBERS = {
    "voltage_v": 3.123456789,
    "current_a": float("nan"),
    "power_w": -1e-300,
    "charge_capacity_ah": float("-inf"),
}
#: Aux values (one infinite), a BMS entry, SMB entries (a text value among them).
ODD_PARTS: dict[str, Any] = {
    "aux": AuxReadings(
        voltage=(AuxValue(3.7, 0.0),),
        temperature=(AuxValue(25.123, 1e-07), AuxValue(float("inf"), -2.5)),
    ),
    "bms": (BmsValue(0, 50.5, "%"),),
    "smb": (SmbValue(2, 'SN "7"', ""), SmbValue(3, 4.2, "V\\")),
}
#: Every part of a row at once.
ODD_STATUS = ChannelStatus(
    channel_index=6, status=StatusCode.EXTERNAL_CHARGE, **ODD_TEXTS, **ODD_NUMBERS, **ODD_PARTS
)

#: Plain statuses around it: idle with no test, a renamed test, an undocumented status code.
PLAIN_STATUSES = (
    ChannelStatus(channel_index=0, status=StatusCode.IDLE),
    ChannelStatus(channel_index=1, status=StatusCode.IDLE, test_name="next", voltage_v=4.2),
    ChannelStatus(channel_index=2, status=StatusCode(777), current_a=-0.5),
)
