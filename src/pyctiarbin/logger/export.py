"""Export stored readings as Battery Data Format files (``*.bdf.csv``, ``*.bdf.parquet``).

One file per test (``by="test"``), or per channel within a time range (``by="channel"``), each
with a JSON metadata sidecar (``*.metadata.json``: cycler, serial number, channel, schedule,
test name, barcode, start time, ...). Columns, in this order (:data:`BDF_COLUMNS`, then one
``temperature_t<N>_celsius`` per aux temperature):

=============================  =========================================================
``test_time_second``           test time reported by the cycler
``voltage_volt``               channel voltage
``current_ampere``             channel current (positive: charge)
``unix_time_second``           host time of the reading (UTC, s since 1970)
``cycle_count``                cycle number (from the step/cycle text; empty if unknown)
``step_id``                    step number (from the step/cycle text; empty if unknown)
``step_time_second``           step time
``charging_capacity_ah``       charge capacity
``discharging_capacity_ah``    discharge capacity
``charging_energy_wh``         charge energy
``discharging_energy_wh``      discharge energy
``power_watt``                 power
``dc_internal_resistance_ohm`` internal resistance
``ac_internal_resistance_ohm`` AC resistance (ACR)
=============================  =========================================================

CSV values are written with Python's shortest round-trip float text, so reading a file back
gives exactly the stored numbers; a missing value is an empty cell. Parquet needs pyarrow (the
``parquet`` extra).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from .readings import TestRecord
from .sinks.base import Database, open_database

__all__ = [
    "BDF_COLUMNS",
    "ExportedFile",
    "bdf_row",
    "export_bdf",
    "parse_step_and_cycle",
]

log = logging.getLogger("pyctiarbin.logger.export")

#: The fixed BDF columns, in file order (temperature columns follow).
BDF_COLUMNS = (
    "test_time_second",
    "voltage_volt",
    "current_ampere",
    "unix_time_second",
    "cycle_count",
    "step_id",
    "step_time_second",
    "charging_capacity_ah",
    "discharging_capacity_ah",
    "charging_energy_wh",
    "discharging_energy_wh",
    "power_watt",
    "dc_internal_resistance_ohm",
    "ac_internal_resistance_ohm",
)

#: Stored reading column behind each BDF column (cycle and step come from the step text).
BDF_SOURCES = {
    "test_time_second": "test_time_s",
    "voltage_volt": "voltage_v",
    "current_ampere": "current_a",
    "unix_time_second": "unix_time_s",
    "step_time_second": "step_time_s",
    "charging_capacity_ah": "charge_capacity_ah",
    "discharging_capacity_ah": "discharge_capacity_ah",
    "charging_energy_wh": "charge_energy_wh",
    "discharging_energy_wh": "discharge_energy_wh",
    "power_watt": "power_w",
    "dc_internal_resistance_ohm": "internal_resistance_ohm",
    "ac_internal_resistance_ohm": "acr_ohm",
}

_INT_COLUMNS = frozenset({"cycle_count", "step_id"})
_STEP_RE = re.compile(r"^\s*\[\s*(\d+)\s*\]\s*(\d+)")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")
_BATCH_ROWS = 50_000


def parse_step_and_cycle(text: str) -> tuple[int | None, int | None]:
    """(cycle, step) from a step/cycle text such as ``"[2] 3: CC_Discharge, CC"``; None for
    what it does not say."""
    match = _STEP_RE.match(text or "")
    if match is None:
        return None, None
    return int(match.group(1)), int(match.group(2))


def temperature_columns(count: int) -> list[str]:
    """``temperature_t1_celsius`` ... for ``count`` aux temperatures."""
    return [f"temperature_t{n}_celsius" for n in range(1, count + 1)]


def bdf_row(reading: dict[str, Any], temperatures: int) -> list[Any]:
    """The BDF values of one stored reading (a dict of ``READING_COLUMNS``), in column order,
    with ``temperatures`` temperature columns (None where a value is missing)."""
    cycle, step = parse_step_and_cycle(reading["step_and_cycle_format"])
    values: list[Any] = []
    for column in BDF_COLUMNS:
        if column == "cycle_count":
            values.append(cycle)
        elif column == "step_id":
            values.append(step)
        else:
            values.append(reading[BDF_SOURCES[column]])
    if temperatures:
        aux = reading["aux"]
        temps: list[Any] = []
        if aux:
            temps = [pair[0] for pair in json.loads(aux).get("temperature", [])]
        temps = temps[:temperatures] + [None] * (temperatures - len(temps))
        values.extend(temps)
    return values


@dataclass(frozen=True)
class ExportedFile:
    """One file written by :func:`export_bdf`."""

    path: Path
    metadata_path: Path
    rows: int
    cycler: str
    channel: int
    test_id: int | None


def _utc(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _safe(text: str, fallback: str) -> str:
    cleaned = _UNSAFE_NAME.sub("_", text).strip("._")
    return cleaned[:60] or fallback


def _unique(directory: Path, stem: str, suffix: str, taken: set[Path]) -> Path:
    path = directory / f"{stem}{suffix}"
    n = 2
    while path in taken or path.exists():
        path = directory / f"{stem}-{n}{suffix}"
        n += 1
    taken.add(path)
    return path


class _Writer:
    """Writes rows to a CSV or Parquet file, in batches."""

    def __init__(self, path: Path, columns: list[str], fmt: str) -> None:
        self.path = path
        self.columns = columns
        self.fmt = fmt
        self.rows = 0
        self._buffer: list[list[Any]] = []
        self._csv_file: Any = None
        self._csv: Any = None
        self._parquet: Any = None
        self._schema: Any = None
        if fmt == "csv":
            self._csv_file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._csv = csv.writer(self._csv_file, lineterminator="\n")
            self._csv.writerow(columns)
        else:
            pa, pq = _pyarrow()
            self._schema = pa.schema(
                [(name, pa.int64() if name in _INT_COLUMNS else pa.float64()) for name in columns]
            )
            self._parquet = pq.ParquetWriter(path, self._schema)

    def write(self, row: list[Any]) -> None:
        self.rows += 1
        if self._csv is not None:
            self._csv.writerow(["" if v is None else v for v in row])
            return
        self._buffer.append(row)
        if len(self._buffer) >= _BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        pa, _ = _pyarrow()
        columns = list(zip(*self._buffer, strict=True))
        arrays = [
            pa.array(values, type=field.type)
            for values, field in zip(columns, self._schema, strict=True)
        ]
        self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
        self._buffer.clear()

    def close(self) -> None:
        if self._csv_file is not None:
            self._csv_file.close()
        if self._parquet is not None:
            self._flush()
            self._parquet.close()


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "Parquet export needs pyarrow: pip install 'pycti-arbin[parquet]'"
        ) from exc
    return pa, pq


def _write_file(
    database: Database,
    directory: Path,
    stem: str,
    fmt: str,
    selection: dict[str, Any],
    metadata: dict[str, Any],
    taken: set[Path],
) -> ExportedFile | None:
    temperatures = database.max_aux_count("temperature", **selection)
    columns = [*BDF_COLUMNS, *temperature_columns(temperatures)]
    suffix = ".bdf.csv" if fmt == "csv" else ".bdf.parquet"
    path = _unique(directory, stem, suffix, taken)
    writer = _Writer(path, columns, fmt)
    first: float | None = None
    last: float | None = None
    try:
        for reading in database.iter_readings(**selection):
            if first is None:
                first = reading["unix_time_s"]
            last = reading["unix_time_s"]
            writer.write(bdf_row(reading, temperatures))
    except BaseException:
        writer.close()
        path.unlink(missing_ok=True)
        raise
    writer.close()
    if writer.rows == 0:
        path.unlink(missing_ok=True)
        taken.discard(path)
        return None
    metadata_path = path.with_name(path.name.rsplit(".bdf.", 1)[0] + ".metadata.json")
    meta = {
        "format": "Battery Data Format",
        "file": path.name,
        "columns": columns,
        "rows": writer.rows,
        **metadata,
        "first_reading_utc": _utc(first),
        "last_reading_utc": _utc(last),
        "exported_by": f"pycti-arbin {__version__}",
        "exported_at_utc": _utc(datetime.now(timezone.utc).timestamp()),
    }
    metadata_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return ExportedFile(
        path,
        metadata_path,
        writer.rows,
        metadata["cycler"],
        metadata["channel"],
        metadata.get("test_id"),
    )


def _cycler_meta(database: Database) -> dict[str, dict[str, Any]]:
    return {row["cycler"]: row for row in database.cycler_rows()}


def export_bdf(
    database: Database | str,
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "csv",
    by: str = "test",
    cyclers: Sequence[str] | None = None,
    channels: Sequence[int] | None = None,
    test_ids: Iterable[int] | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
) -> list[ExportedFile]:
    """Write BDF files (and metadata sidecars) into ``out_dir`` (created if missing).

    ``database``: a :class:`Database` (connected or not) or a URL. ``fmt``: ``"csv"`` or
    ``"parquet"``. ``by="test"``: one file per stored test (optionally only ``test_ids``, or
    tests of ``cyclers``/``channels`` overlapping ``[start_s, end_s)``, rows clipped to that
    range); ``by="channel"``: one file per channel with its readings in ``[start_s, end_s)``.
    Returns the files written (selections without readings write nothing).

    Raises:
        ValueError: for an unknown format, grouping or URL.
        ImportError: for Parquet without pyarrow, or a database whose driver is missing.
        OSError: if a file cannot be written.
        Exception: the database driver's error if the database cannot be read.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', not {fmt!r}")
    if by not in ("test", "channel"):
        raise ValueError(f"by must be 'test' or 'channel', not {by!r}")
    if fmt == "parquet":
        _pyarrow()
    db = open_database(database) if isinstance(database, str) else database
    opened_here = not db.connected
    if opened_here:
        db.connect()
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    taken: set[Path] = set()
    written: list[ExportedFile] = []
    try:
        cycler_meta = _cycler_meta(db)
        source = db.display_url
        if by == "test":
            wanted = set(test_ids) if test_ids is not None else None
            for test in _select_tests(db, cyclers, channels, wanted, start_s, end_s):
                info = cycler_meta.get(test.cycler, {})
                stem = (
                    f"{_safe(test.cycler, 'cycler')}_ch{test.channel:03d}_"
                    f"{_safe(test.test_name, 'test')}_{_stamp(test.start_s)}"
                )
                metadata = {
                    "cycler": test.cycler,
                    "host": info.get("host"),
                    "port": info.get("port"),
                    "serial_number": test.serial_number or info.get("serial_number", ""),
                    "channel": test.channel,
                    "schedule": test.schedule,
                    "test_name": test.test_name,
                    "barcode": test.barcode,
                    "test_id": test.test_id,
                    "start_time_utc": _utc(test.start_s),
                    "first_seen_utc": _utc(test.first_seen_s),
                    "end_time_utc": _utc(test.ended_s),
                    "end_status": test.end_status,
                    "source_database": source,
                }
                selection: dict[str, Any] = {
                    "test_id": test.test_id,
                    "start_s": start_s,
                    "end_s": end_s,
                }
                exported = _write_file(db, directory, stem, fmt, selection, metadata, taken)
                if exported is not None:
                    written.append(exported)
        else:
            for cycler, channel in db.channel_list(cyclers):
                if channels and channel not in channels:
                    continue
                info = cycler_meta.get(cycler, {})
                start_text = _stamp(start_s) if start_s is not None else "begin"
                end_text = _stamp(end_s) if end_s is not None else "end"
                stem = f"{_safe(cycler, 'cycler')}_ch{channel:03d}_{start_text}_{end_text}"
                metadata = {
                    "cycler": cycler,
                    "host": info.get("host"),
                    "port": info.get("port"),
                    "serial_number": info.get("serial_number", ""),
                    "channel": channel,
                    "range_start_utc": _utc(start_s),
                    "range_end_utc": _utc(end_s),
                    "tests": [
                        {
                            "test_id": t.test_id,
                            "test_name": t.test_name,
                            "schedule": t.schedule,
                            "start_time_utc": _utc(t.start_s),
                        }
                        for t in _select_tests(db, [cycler], [channel], None, start_s, end_s)
                    ],
                    "source_database": source,
                }
                selection = {
                    "cycler": cycler,
                    "channel": channel,
                    "start_s": start_s,
                    "end_s": end_s,
                }
                exported = _write_file(db, directory, stem, fmt, selection, metadata, taken)
                if exported is not None:
                    written.append(exported)
    finally:
        if opened_here:
            db.disconnect()
    log.info("exported %d file(s) to %s", len(written), directory)
    return written


def _select_tests(
    db: Database,
    cyclers: Sequence[str] | None,
    channels: Sequence[int] | None,
    wanted: set[int] | None,
    start_s: float | None,
    end_s: float | None,
) -> Iterator[TestRecord]:
    for test in db.list_tests(cyclers, channels):
        if wanted is not None and test.test_id not in wanted:
            continue
        if end_s is not None and test.first_seen_s >= end_s:
            continue
        if start_s is not None and test.ended_s is not None and test.ended_s < start_s:
            continue
        yield test
