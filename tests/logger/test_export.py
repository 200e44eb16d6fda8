"""Export round trip: BDF CSV and Parquet files hold exactly the stored readings."""

from __future__ import annotations

import asyncio
import csv
import json
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyctiarbin.logger.export import (
    BDF_COLUMNS,
    BDF_SOURCES,
    export_bdf,
    parse_step_and_cycle,
    shortest_float32,
)

from .cycling import log_cycling
from .support import query

COLUMNS = [*BDF_COLUMNS, "temperature_t1_celsius"]
# The columns whose values travel as 64-bit floats; every other float is a 32-bit one.
F64_COLUMNS = {"test_time_second", "unix_time_second", "step_time_second"}


@pytest.fixture(scope="module")
def logged(module_db_url: str) -> str:
    # Fast simulated time, so that values move between readings and steps change.
    asyncio.run(
        log_cycling(
            module_db_url,
            duration_s=1.5,
            channels=4,
            speed=200.0,
            interval_s=0.1,
            test_name="export-me",
            aux_temperature=(2, 31.5),
        )
    )
    return module_db_url


def stored(url: str, test_id: int) -> list[dict[str, Any]]:
    names = [
        "unix_time_s",
        "test_time_s",
        "voltage_v",
        "current_a",
        "step_time_s",
        "charge_capacity_ah",
        "discharge_capacity_ah",
        "charge_energy_wh",
        "discharge_energy_wh",
        "power_w",
        "internal_resistance_ohm",
        "acr_ohm",
        "step_and_cycle_format",
        "aux",
    ]
    rows = query(
        url,
        f"SELECT {', '.join(names)} FROM readings WHERE test_id = %s ORDER BY unix_time_s",
        (test_id,),
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


def expected_values(record: dict[str, Any]) -> list[Any]:
    cycle, step = parse_step_and_cycle(record["step_and_cycle_format"])
    aux = record["aux"] if isinstance(record["aux"], dict) else json.loads(record["aux"])
    from_step_text = {"cycle_count": cycle, "step_index": step, "step_id": str(step)}
    stored = {column: record[source] for column, source in BDF_SOURCES.items()}
    as_written = {
        column: value if column in F64_COLUMNS else shortest_float32(value)
        for column, value in stored.items()
    }
    values = [
        from_step_text[column] if column in from_step_text else as_written[column]
        for column in BDF_COLUMNS
    ]
    return [*values, shortest_float32(aux["temperature"][0][0])]


def test_csv_and_parquet_match_the_stored_readings(logged: str, tmp_path: Path) -> None:
    tests = query(
        logged,
        "SELECT test_id, channel, schedule, test_name, start_s, serial_number "
        "FROM tests ORDER BY channel",
    )
    assert [t[1] for t in tests] == [1, 2]
    csv_files = export_bdf(logged, tmp_path / "csv", fmt="csv")
    parquet_files = export_bdf(logged, tmp_path / "parquet", fmt="parquet")
    assert len(csv_files) == len(parquet_files) == 2

    for (test_id, channel, schedule, test_name, start_s, serial), as_csv, as_parquet in zip(
        tests, csv_files, parquet_files, strict=True
    ):
        records = stored(logged, test_id)
        assert len(records) >= 8
        expected = [expected_values(r) for r in records]
        # Steps and cycles come through as numbers.
        assert all(isinstance(row[4], int) and isinstance(row[5], int) for row in expected)

        assert as_csv.path.name.endswith(".bdf.csv") and as_csv.rows == len(records)
        with as_csv.path.open(newline="") as handle:
            reader = csv.reader(handle)
            assert next(reader) == COLUMNS
            got = [
                [
                    int(v)
                    if name in ("cycle_count", "step_index")
                    else v
                    if name == "step_id"
                    else float(v)
                    for name, v in zip(COLUMNS, row, strict=True)
                ]
                for row in reader
            ]
        assert got == expected

        assert as_parquet.path.name.endswith(".bdf.parquet")
        table = pq.read_table(as_parquet.path)
        assert table.column_names == COLUMNS
        file_meta = table.schema.metadata
        assert file_meta[b"bdf_version"] == b"1.2"
        assert json.loads(file_meta[b"bdf_units"])["current_ampere"] == "A"
        assert table.schema.field("voltage_volt").metadata == {b"unit": b"V"}
        assert table.schema.field("temperature_t1_celsius").metadata == {b"unit": b"degC"}
        assert table.schema.field("step_id").metadata is None
        assert [list(row.values()) for row in table.to_pylist()] == expected

        for exported in (as_csv, as_parquet):
            meta = json.loads(exported.metadata_path.read_text())
            assert meta["cycler"] == "bay1" and meta["channel"] == channel
            assert (meta["schedule"], meta["test_name"]) == (schedule, test_name)
            assert meta["serial_number"] == serial and serial.startswith("SIM")
            assert exported.metadata_path.name.endswith(".bdf.metadata.json")
            stem = exported.path.name.rsplit(".bdf.", 1)[0]
            assert exported.metadata_path.name == f"{stem}.bdf.metadata.json"
            assert meta["bdf_version"] == "1.2" and meta["units"]["voltage_volt"] == "V"
            assert meta["extension_columns"] == ["step_time_second"]
            assert meta["test_id"] == test_id and meta["rows"] == len(records)
            started = datetime.fromisoformat(meta["start_time_utc"].replace("Z", "+00:00"))
            assert started.timestamp() == pytest.approx(start_s, abs=1e-5)
            assert meta["columns"] == COLUMNS
    # The pinned aux temperature of channel 2 is what its file says.
    assert all(row[-1] == pytest.approx(31.5) for row in expected)


def test_export_by_channel_and_time_range(logged: str, tmp_path: Path) -> None:
    times = [
        t[0] for t in query(logged, "SELECT unix_time_s FROM readings WHERE channel = 3 ORDER BY 1")
    ]
    start_s, end_s = times[2], times[6]
    # Channels 3 and 4 never ran a test: skipped unless asked for.
    assert export_bdf(logged, tmp_path / "none", by="channel", channels=[3, 4]) == []
    assert list((tmp_path / "none").iterdir()) == []
    ran = export_bdf(logged, tmp_path / "ran", by="channel")
    assert [(f.cycler, f.channel) for f in ran] == [("bay1", 1), ("bay1", 2)]
    files = export_bdf(
        logged,
        tmp_path,
        by="channel",
        channels=[3, 4],
        start_s=start_s,
        end_s=end_s,
        include_idle=True,
    )
    assert [(f.cycler, f.channel, f.rows) for f in files] == [("bay1", 3, 4), ("bay1", 4, 4)]
    with files[0].path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["unix_time_second"]) for r in rows] == times[2:6]
    # An idle channel has no cycle or step: empty cells.
    assert {r["cycle_count"] for r in rows} == {""}
    meta = json.loads(files[0].metadata_path.read_text())
    assert meta["tests"] == [] and meta["range_start_utc"].endswith("Z")


def test_nothing_to_export_writes_nothing(logged: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export_bdf(logged, out, test_ids=[12345]) == []
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"fmt": "xlsx"}, "format must be"), ({"by": "week"}, "by must be")],
)
def test_bad_export_arguments(tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        export_bdf(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, **kwargs)  # type: ignore[arg-type]


# What the alliance's reader (batterydf 0.1.0) ignores of our columns: the ontology's names it
# does not know and our extensions (see docs/bdf.md). It knows the rest, by machine name.
READER_IGNORES = {
    "step_id",
    "dc_internal_resistance_ohm",
    "ac_internal_resistance_ohm",
    "step_time_second",
}
READER_KNOWS = set(COLUMNS) - READER_IGNORES


def _aux(record: dict[str, Any]) -> Any:
    aux = record["aux"]
    return aux if isinstance(aux, dict) else json.loads(aux)


def _same_float32(a: float, b: float) -> bool:
    return bool(struct.pack("<f", a) == struct.pack("<f", b))


# batterydf 0.1.0 calls pandas APIs that newer pandas deprecates: its warning, not ours.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.rename is deprecated")
def test_the_alliance_reader_reads_and_validates_our_files(logged: str, tmp_path: Path) -> None:
    import bdf  # type: ignore[import-untyped]
    from bdf.normalize import spec  # type: ignore[import-untyped]

    assert set(COLUMNS) > READER_IGNORES
    tests = query(logged, "SELECT test_id FROM tests ORDER BY channel")
    for fmt in ("csv", "parquet"):
        for (test_id,), exported in zip(
            tests, export_bdf(logged, tmp_path / fmt, fmt=fmt), strict=True
        ):
            frame = bdf.read(exported.path)
            report = bdf.validate(frame, raise_on_error=True)
            assert report["ok"] and report["missing"] == []
            # Every column with a quantity the reader knows is recognised; it ignores only the
            # ontology's names it does not know and our documented extensions.
            assert set(report["extras"]) == READER_IGNORES
            labels = {name: spec._label_for(name) for name in READER_KNOWS}
            assert set(labels.values()) <= set(frame.columns)

            records = stored(logged, test_id)
            assert len(frame) == len(records)
            for name, label in labels.items():
                got = frame[label].tolist()
                if name in ("cycle_count", "step_index"):
                    cycle_step = [parse_step_and_cycle(r["step_and_cycle_format"]) for r in records]
                    want = [pair[0 if name == "cycle_count" else 1] for pair in cycle_step]
                    assert got == want, name
                elif name == "temperature_t1_celsius":
                    want = [_aux(r)["temperature"][0][0] for r in records]
                    assert all(map(_same_float32, got, want)), name
                elif name in F64_COLUMNS:
                    assert got == [r[BDF_SOURCES[name]] for r in records], name
                else:
                    want = [r[BDF_SOURCES[name]] for r in records]
                    assert all(map(_same_float32, got, want)), name
            # The values the reader ignores are there, under the ontology's names.
            steps = frame[labels["step_index"]].tolist()
            assert frame["step_id"].astype(str).tolist() == [str(step) for step in steps]
            assert (
                frame["dc_internal_resistance_ohm"].tolist()
                == frame[labels["internal_resistance_ohm"]].tolist()
            )


def test_float32_values_are_written_with_the_digits_they_carry() -> None:
    assert shortest_float32(0.029999999329447746) == 0.03
    assert repr(shortest_float32(4.199999809265137)) == "4.2"
    assert shortest_float32(-0.0) == 0.0 and shortest_float32(float("inf")) == float("inf")
    assert repr(shortest_float32(3.4028234663852886e38)) == "3.4028235e+38"


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_shortest_float32_is_the_same_float32_in_the_fewest_digits(value: float) -> None:
    short = shortest_float32(value)
    assert _same_float32(short, value)
    digits = len(f"{short:e}".split("e")[0].replace("-", "").replace(".", "").rstrip("0"))
    if digits > 1:
        fewer = float(f"{value:.{digits - 2}e}")
        assert not _same_float32(fewer, value)
