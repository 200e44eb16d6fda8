"""Logged readings as pandas, polars and Arrow: the values and types are the stored ones."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from pyctiarbin import AsyncCyclerClient
from pyctiarbin.alerts import AlertEvent, EventKind, Severity
from pyctiarbin.alerts.history import AlertHistory
from pyctiarbin.data import READING_TYPES, LabData, Table, status_table
from pyctiarbin.logger import READING_COLUMNS
from pyctiarbin.logger.export import parse_step_and_cycle
from pyctiarbin.simulator import Simulator

from .cycling import log_cycling
from .support import PASSWORD, USER, query

PANDAS_TYPES = {
    "float": "float64",
    "int": "int64",
    "int?": "Int64",
    "str": "string",
    "str?": "string",
}
POLARS_TYPES = {
    "float": pl.Float64,
    "int": pl.Int64,
    "int?": pl.Int64,
    "str": pl.String,
    "str?": pl.String,
}
ARROW_TYPES = {
    "float": pa.float64(),
    "int": pa.int64(),
    "int?": pa.int64(),
    "str": pa.string(),
    "str?": pa.string(),
}


@pytest.fixture(scope="module")
def logged(module_db_url: str) -> str:
    asyncio.run(log_cycling(module_db_url))
    return module_db_url


def _stored(url: str, test_id: int) -> list[tuple[Any, ...]]:
    rows = query(
        url,
        f"SELECT {', '.join(READING_COLUMNS)} FROM readings WHERE test_id = %s "
        "ORDER BY unix_time_s",
        (test_id,),
    )
    assert len(rows) > 10
    return rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _normalise_json(url: str, column: str, value: Any) -> Any:
    # PostgreSQL returns jsonb parsed; LabData returns JSON text (as SQLite stores it).
    if column not in ("aux", "bms", "smb") or value is None or isinstance(value, str):
        return value
    import json

    return json.dumps(value, separators=(",", ":"))


def test_readings_of_a_test_in_pandas_polars_arrow(logged: str) -> None:
    with LabData(logged) as lab:
        tests = lab.tests(cycler="bay1", channel=1)
        assert len(tests) == 1
        test_id = tests[0].test_id
        table = lab.readings(test_id=test_id)
        stored = _stored(logged, test_id)
        assert table.columns == READING_COLUMNS
        assert len(table) == len(stored)

        frame = lab.readings(test_id=test_id).to_pandas()
        assert list(frame.columns) == list(READING_COLUMNS)
        for column in READING_COLUMNS:
            assert str(frame[column].dtype) == PANDAS_TYPES[READING_TYPES[column]], column
        polars_frame = table.to_polars()
        arrow = table.to_arrow()
        for column in READING_COLUMNS:
            assert polars_frame.schema[column] == POLARS_TYPES[READING_TYPES[column]], column
            assert arrow.schema.field(column).type == ARROW_TYPES[READING_TYPES[column]], column

        for i, row in enumerate(stored):
            for j, column in enumerate(READING_COLUMNS):
                want = _normalise_json(logged, column, row[j])
                got_pandas = frame[column].iloc[i]
                if want is None:
                    assert pd.isna(got_pandas), (column, i)
                else:
                    assert got_pandas == want, (column, i)
                assert polars_frame[column][i] == want, (column, i)
                assert arrow.column(column)[i].as_py() == want, (column, i)
        # The run moved: voltages differ, the aux temperature set on the simulator is there.
        assert frame["voltage_v"].nunique() > 3
        assert frame["test_id"].iloc[0] == test_id
        assert '"temperature":[[29.25' in frame["aux"].iloc[-1]


def test_channel_time_range_and_unknown_columns(logged: str) -> None:
    with LabData(logged) as lab:
        everything = lab.readings(cycler="bay1", channel=3, columns=["unix_time_s", "status"])
        times = everything["unix_time_s"]
        assert len(times) > 10 and times == sorted(times)
        assert set(everything["status"]) == {"Idle"}
        start, end = times[3], times[8]
        part = lab.readings(cycler="bay1", channel=3, start_s=start, end_s=end)
        assert part["unix_time_s"] == times[3:8]
        assert part.to_pandas()["test_id"].isna().all()
        with pytest.raises(ValueError, match="unknown reading column"):
            lab.readings(cycler="bay1", channel=3, columns=["volts"])
        with pytest.raises(ValueError, match="test_id, or a cycler and a channel"):
            lab.readings(cycler="bay1")


def test_downsampled_series_are_stored_readings(logged: str) -> None:
    with LabData(logged) as lab:
        test_id = lab.tests(cycler="bay1", channel=2)[0].test_id
        full = lab.readings(test_id=test_id, columns=["unix_time_s", "voltage_v"])
        small = lab.series(test_id=test_id, columns=["unix_time_s", "voltage_v"], max_points=8)
        assert 2 <= len(small) <= 8
        pairs = set(full.rows())
        assert all(row in pairs for row in small.rows())
        assert small["unix_time_s"][0] == full["unix_time_s"][0]
        everything = lab.series(test_id=test_id, columns=["unix_time_s"], max_points=10**6)
        assert everything["unix_time_s"] == full["unix_time_s"]


def test_cycles_capacity_and_efficiency(logged: str) -> None:
    with LabData(logged) as lab:
        test_id = lab.tests(cycler="bay1", channel=1)[0].test_id
        cycles = lab.cycles(test_id)
        stored = lab.readings(test_id=test_id)
    expected: dict[int, list[float]] = {}
    for text, charge, discharge in zip(
        stored["step_and_cycle_format"],
        stored["charge_capacity_ah"],
        stored["discharge_capacity_ah"],
        strict=True,
    ):
        cycle, _ = parse_step_and_cycle(text)
        if cycle is None:
            continue
        best = expected.setdefault(cycle, [0.0, 0.0])
        best[0], best[1] = max(best[0], charge), max(best[1], discharge)
    assert cycles["cycle"] == sorted(expected)
    assert len(cycles) >= 2
    for i, cycle in enumerate(cycles["cycle"]):
        assert cycles["charge_capacity_ah"][i] == expected[cycle][0]
        assert cycles["discharge_capacity_ah"][i] == expected[cycle][1]
        efficiency = cycles["coulombic_efficiency"][i]
        if expected[cycle][0] > 0:
            assert efficiency == expected[cycle][1] / expected[cycle][0]
    frame = cycles.to_pandas()
    assert str(frame["cycle"].dtype) == "int64"
    assert str(frame["coulombic_efficiency"].dtype) == "float64"


def test_read_channels_to_dataframe() -> None:
    async def main() -> None:
        async with Simulator(channels=4) as sim:
            sim.set_aux(3, temperature_c=41.5)
            async with AsyncCyclerClient(
                sim.host, sim.port, username=USER, password=PASSWORD
            ) as client:
                statuses = await client.read_channels(aux=True)
            table = status_table(statuses, cycler="bench", unix_time_s=1.5)
            frame = table.to_pandas()
            assert list(frame["channel"]) == [1, 2, 3, 4]
            assert "test_id" not in frame.columns
            assert list(frame["voltage_v"]) == [s.voltage_v for s in statuses]
            assert str(frame["voltage_v"].dtype) == "float64"
            assert str(frame["status"].dtype) == "string"
            assert set(frame["cycler"]) == {"bench"}
            assert '"temperature":[[41.5' in frame["aux"].iloc[2]
            assert table.to_polars()["channel"].to_list() == [1, 2, 3, 4]
            assert table.to_arrow().num_rows == 4

    asyncio.run(main())


def test_table_checks_its_input() -> None:
    with pytest.raises(ValueError, match="unequal length"):
        Table(["a", "b"], ["int", "int"], [[1], [1, 2]])
    with pytest.raises(ValueError, match="unknown column kind"):
        Table(["a"], ["complex"], [[1]])
    with pytest.raises(FileNotFoundError, match="no logger database"):
        LabData("sqlite:///does/not/exist.db")
    with pytest.raises(ValueError, match="unknown database URL scheme"):
        LabData("mysql://x/y")


def test_latest_reading_of_every_channel(logged: str) -> None:
    with LabData(logged) as lab:
        latest = lab.latest()
        assert [(c, n) for c, n in zip(latest["cycler"], latest["channel"], strict=True)] == [
            ("bay1", 1),
            ("bay1", 2),
            ("bay1", 3),
        ]
        for i, channel in enumerate(latest["channel"]):
            newest = max(lab.readings(cycler="bay1", channel=channel)["unix_time_s"])
            assert latest["unix_time_s"][i] == newest
        assert lab.latest(["nowhere"]).to_pandas().empty


def test_alert_history_round_trip(db_url: str) -> None:
    asyncio.run(log_cycling(db_url, duration_s=0.3))
    fired = AlertEvent(
        EventKind.FIRED,
        "hot",
        Severity.CRITICAL,
        "bay1",
        2,
        10.0,
        10.0,
        47.5,
        "[CRITICAL] hot: bay1 ch 2",
    )
    wide = AlertEvent(
        EventKind.FIRED,
        "down",
        Severity.WARNING,
        "bay1",
        None,
        11.0,
        11.0,
        "refused",
        "[WARNING] down: bay1",
    )
    resolved = AlertEvent(
        EventKind.RESOLVED,
        "hot",
        Severity.CRITICAL,
        "bay1",
        2,
        20.0,
        10.0,
        44.0,
        "[RESOLVED] hot: bay1 ch 2",
    )
    history = AlertHistory(db_url)
    try:
        history.write([fired, wide])
        with LabData(db_url) as lab:
            events = lab.alert_events()
            assert [(e["event"], e["rule"], e["channel"]) for e in events] == [
                ("fired", "down", None),
                ("fired", "hot", 2),
            ]
            assert events[1]["value"] == "47.5" and events[0]["value"] == "refused"
        history.write([resolved])
    finally:
        history.close()
    # A new logger on this database resolves what the previous one left active.
    history = AlertHistory(db_url)
    try:
        history.open()
    finally:
        history.close()
    with LabData(db_url) as lab:
        events = lab.alert_events()
    assert len(events) == 4
    closing = [e for e in events if e["rule"] == "down" and e["event"] == "resolved"]
    assert len(closing) == 1 and "the logger that raised it stopped" in closing[0]["message"]
    assert closing[0]["started_s"] == 11.0 and closing[0]["channel"] is None


def test_dashboard_views_read_the_database(logged: str) -> None:
    from pyctiarbin.web.fleet import FLEET_COLUMNS, SERIES_COLUMNS, fleet, series

    with LabData(logged) as lab:
        snapshot = fleet(lab, stale_after_s=1e9)
        test_id = lab.tests(cycler="bay1", channel=1)[0].test_id
        plotted = series(lab, test_id=test_id, max_points=5)
        stored = lab.readings(test_id=test_id, columns=["unix_time_s"])
    (bay1,) = snapshot["cyclers"]
    assert bay1["name"] == "bay1" and not bay1["down"] and bay1["num_channels"] == 3
    rows = [dict(zip(FLEET_COLUMNS, row, strict=True)) for row in bay1["channels"]]
    assert [r["channel"] for r in rows] == [1, 2, 3]
    assert rows[0]["temperature_c"] == 29.25 and rows[0]["test_name"] == "frames"
    assert rows[0]["test_id"] in (str(test_id), None)  # None after the test ended
    assert rows[2]["class"] == "idle" and rows[2]["test_id"] is None
    assert plotted["columns"] == list(SERIES_COLUMNS)
    times = plotted["data"][0]
    assert 2 <= len(times) <= 5 and set(times) <= set(stored["unix_time_s"])
    assert plotted["data"][SERIES_COLUMNS.index("temperature_c")][0] == 29.25
