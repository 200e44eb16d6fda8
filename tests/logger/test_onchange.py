"""The on-change filter: keep a reading when it changed beyond tolerances, or periodically."""

from __future__ import annotations

import math

import pytest

from pyctiarbin.client.status import ChannelStatus
from pyctiarbin.logger import OnChangeFilter, Reading
from pyctiarbin.protocol import AuxReadings, AuxValue, StatusCode


def reading(
    when: float,
    voltage_v: float = 3.7,
    channel: int = 1,
    code: StatusCode = StatusCode.REST,
    temperature_c: float = 25.0,
    test_time_s: float = 0.0,
) -> Reading:
    status = ChannelStatus(
        channel_index=channel - 1,
        status=code,
        voltage_v=voltage_v,
        test_time_s=test_time_s,
        aux=AuxReadings(temperature=(AuxValue(temperature_c, 0.0),)),
    )
    return Reading("bay1", when, None, status)


def times(readings: list[Reading]) -> list[float]:
    return [r.unix_time_s for r in readings]


def test_first_reading_kept_then_only_changes_and_heartbeats() -> None:
    f = OnChangeFilter(max_interval_s=10.0)
    assert times(f.filter([reading(0.0)])) == [0.0]
    # The test clock always moves: not a change.
    assert f.filter([reading(1.0, test_time_s=1.0)]) == []
    assert f.filter([reading(2.0, voltage_v=3.7005)]) == []  # within 1 mV
    # A change keeps the reading and the last one dropped before it (flat, then the jump).
    assert times(f.filter([reading(3.0, voltage_v=3.75)])) == [2.0, 3.0]
    assert f.filter([reading(4.0, voltage_v=3.75)]) == []
    # Heartbeat: at least every max_interval_s, without the dropped reading before it.
    assert times(f.filter([reading(13.0, voltage_v=3.75)])) == [13.0]
    assert (f.readings_in, f.readings_out) == (6, 4)


def test_status_text_and_aux_changes_are_changes() -> None:
    f = OnChangeFilter(max_interval_s=100.0)
    f.filter([reading(0.0)])
    assert times(f.filter([reading(1.0, code=StatusCode.CHARGE)])) == [1.0]
    assert f.filter([reading(2.0, code=StatusCode.CHARGE, temperature_c=25.05)]) == []
    assert times(f.filter([reading(3.0, code=StatusCode.CHARGE, temperature_c=25.5)])) == [
        2.0,
        3.0,
    ]


def test_tolerances_are_per_field_and_channels_independent() -> None:
    f = OnChangeFilter({"voltage_v": 0.1, "aux_temperature": math.inf}, max_interval_s=100.0)
    f.filter([reading(0.0, channel=1), reading(0.0, channel=2)])
    kept = f.filter(
        [reading(1.0, 3.75, channel=1, temperature_c=90.0), reading(1.0, 3.9, channel=2)]
    )
    assert [(r.channel, r.unix_time_s) for r in kept] == [(2, 1.0)]


def test_flush_returns_the_last_dropped_reading_of_each_channel() -> None:
    f = OnChangeFilter(max_interval_s=100.0)
    f.filter([reading(0.0, channel=1), reading(0.0, channel=2)])
    f.filter([reading(1.0, channel=1), reading(1.0, channel=2)])
    f.filter([reading(2.0, channel=1)])
    assert sorted((r.channel, r.unix_time_s) for r in f.flush()) == [(1, 2.0), (2, 1.0)]
    assert f.flush() == []


@pytest.mark.parametrize(
    ("tolerances", "max_interval_s", "message"),
    [
        ({"voltage": 0.1}, 1.0, "no tolerance for 'voltage'"),
        ({"voltage_v": -1.0}, 1.0, "must be >= 0"),
        ({}, 0.0, "max_interval_s must be positive"),
    ],
)
def test_bad_settings_are_refused(
    tolerances: dict[str, float], max_interval_s: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OnChangeFilter(tolerances, max_interval_s)
