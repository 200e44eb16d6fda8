"""Export stored readings as Battery Data Format files (``*.bdf.csv``, ``*.bdf.parquet``).

One file per test (``by="test"``), or per channel within a time range (``by="channel"``; a
channel that ran no test in the range is skipped unless ``include_idle``), each with a JSON
metadata sidecar named as the Battery Data Alliance names them (``X.bdf.metadata.json`` next to
``X.bdf.csv``: cycler, serial number, channel, schedule, test name, barcode, start time, units,
BDF version, ...). Columns, in this order (:data:`BDF_COLUMNS`, then one
``temperature_t<N>_celsius`` per aux temperature):

=============================  ======  ==================================================
``test_time_second``           s       test time reported by the cycler
``voltage_volt``               V       channel voltage
``current_ampere``             A       channel current (positive: charge)
``unix_time_second``           s       host time of the reading (UTC, s since 1970)
``cycle_count``                1       cycle number (from the step/cycle text; empty if unknown)
``step_index``                 1       step number in the schedule (idem)
``step_id``                    --      the same step number as text (the ontology's name)
``step_time_second``           s       step time (extension)
``charging_capacity_ah``       Ah      charge capacity
``discharging_capacity_ah``    Ah      discharge capacity
``charging_energy_wh``         Wh      charge energy
``discharging_energy_wh``      Wh      discharge energy
``power_watt``                 W       power
``internal_resistance_ohm``    ohm     internal (DC) resistance
``dc_internal_resistance_ohm`` ohm     the same value under the ontology's name
``ac_internal_resistance_ohm`` ohm     AC resistance (ACR)
=============================  ======  ==================================================

Names: the alliance's reader (``batterydf``, import name ``bdf``) and its ontology (1.2)
disagree on a few quantities. Every quantity is written under the name the reader recognises
(``step_index``, ``internal_resistance_ohm``) and, where the ontology names it differently,
under the ontology's name too (``step_id``, typed as text as the ontology types it;
``dc_internal_resistance_ohm``); ``ac_internal_resistance_ohm`` exists in the ontology only.
``step_count`` (steps executed so far) is not written: CTI reports the step's place in the
schedule, and a count derived from sampled readings would miss short steps.
``step_time_second`` and temperatures past ``temperature_t5_celsius`` are extensions
(:data:`EXTENSION_COLUMNS`), named after the BDF pattern; docs/bdf.md lists the choices.

Values: a value the cycler sends as a 32-bit float (voltage, current, capacities, energies,
power, resistances, aux temperatures) is written as the shortest decimal that reads back to the
same 32-bit float (``0.03``, not ``0.029999999329447746``); the 64-bit times are written with
Python's shortest round-trip text. A missing value is an empty cell. Parquet (pyarrow, the
``parquet`` extra) carries the unit of each column in the field metadata and the BDF version,
units and export metadata in the file metadata.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..protocol import ChannelRecord
from ..protocol.fields import F32
from .readings import TestRecord
from .sinks.database import Database, open_database
from .sinks.queries import ReadingSelection

__all__ = [
    "BDF_COLUMNS",
    "BDF_UNITS",
    "BDF_VERSION",
    "EXTENSION_COLUMNS",
    "ExportedFile",
    "bdf_row",
    "describe_empty_export",
    "export_bdf",
    "parse_step_and_cycle",
    "shortest_float32",
]

log = logging.getLogger("pyctiarbin.logger.export")

#: The version of the BDF ontology whose names the columns follow.
BDF_VERSION = "1.2"

#: The fixed BDF columns, in file order (temperature columns follow).
BDF_COLUMNS = (
    "test_time_second",
    "voltage_volt",
    "current_ampere",
    "unix_time_second",
    "cycle_count",
    "step_index",
    "step_id",
    "step_time_second",
    "charging_capacity_ah",
    "discharging_capacity_ah",
    "charging_energy_wh",
    "discharging_energy_wh",
    "power_watt",
    "internal_resistance_ohm",
    "dc_internal_resistance_ohm",
    "ac_internal_resistance_ohm",
)

#: The unit of each fixed column (BDF unit notation; ``step_id`` is text and has none).
BDF_UNITS = {
    "test_time_second": "s",
    "voltage_volt": "V",
    "current_ampere": "A",
    "unix_time_second": "s",
    "cycle_count": "1",
    "step_index": "1",
    "step_time_second": "s",
    "charging_capacity_ah": "Ah",
    "discharging_capacity_ah": "Ah",
    "charging_energy_wh": "Wh",
    "discharging_energy_wh": "Wh",
    "power_watt": "W",
    "internal_resistance_ohm": "ohm",
    "dc_internal_resistance_ohm": "ohm",
    "ac_internal_resistance_ohm": "ohm",
}

#: Columns that are no BDF quantity (temperatures past T5 follow the same rule).
EXTENSION_COLUMNS = frozenset({"step_time_second"})

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
    "internal_resistance_ohm": "internal_resistance_ohm",
    "dc_internal_resistance_ohm": "internal_resistance_ohm",
    "ac_internal_resistance_ohm": "acr_ohm",
}

# The readings that travel as 32-bit floats, as the protocol declares them.
_F32_READINGS = frozenset(
    f.name for f in dataclasses.fields(ChannelRecord) if f.metadata.get("wire") is F32
)
_F32_COLUMNS = frozenset(c for c, source in BDF_SOURCES.items() if source in _F32_READINGS)
_INT_COLUMNS = frozenset({"cycle_count", "step_index"})
_TEXT_COLUMNS = frozenset({"step_id"})
_STEP_RE = re.compile(r"^\s*\[\s*(\d+)\s*\]\s*(\d+)")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")
_BATCH_ROWS = 50_000
_SINGLE = struct.Struct("<f")


def shortest_float32(value: float) -> float:
    """The float with the shortest decimal text that is the same 32-bit float as ``value``
    (``0.029999999329447746`` -> ``0.03``). Not finite values come back unchanged."""
    if not math.isfinite(value):
        return value
    single = _SINGLE.unpack(_SINGLE.pack(value))[0]
    for digits in range(1, 10):
        candidate = float(f"{single:.{digits}g}")
        try:
            if _SINGLE.unpack(_SINGLE.pack(candidate))[0] == single:
                return candidate
        except OverflowError:  # rounded up past the largest float32
            continue
    return float(single)


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
        elif column == "step_index":
            values.append(step)
        elif column == "step_id":
            values.append(None if step is None else str(step))
        else:
            value = reading[BDF_SOURCES[column]]
            if value is not None and column in _F32_COLUMNS:
                value = shortest_float32(value)
            values.append(value)
    if temperatures:
        aux = reading["aux"]
        temps: list[Any] = []
        if aux:
            temps = [
                None if pair[0] is None else shortest_float32(pair[0])
                for pair in json.loads(aux).get("temperature", [])
            ]
        temps = temps[:temperatures] + [None] * (temperatures - len(temps))
        values.extend(temps)
    return values


def column_units(columns: Sequence[str]) -> dict[str, str]:
    """The unit of each column that has one (temperatures: ``degC``)."""
    units = {}
    for column in columns:
        if column in BDF_UNITS:
            units[column] = BDF_UNITS[column]
        elif column.startswith("temperature_t") and column.endswith("_celsius"):
            units[column] = "degC"
    return units


def extension_columns(columns: Sequence[str]) -> list[str]:
    """The columns that are no BDF quantity: :data:`EXTENSION_COLUMNS` and temperatures past
    ``temperature_t5_celsius``."""
    return [
        c
        for c in columns
        if c in EXTENSION_COLUMNS
        or (c.startswith("temperature_t") and int(c[len("temperature_t") : -len("_celsius")]) > 5)
    ]


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

    def __init__(
        self, path: Path, columns: list[str], fmt: str, file_metadata: dict[str, str]
    ) -> None:
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
            units = column_units(columns)
            fields = []
            for name in columns:
                if name in _INT_COLUMNS:
                    kind = pa.int64()
                elif name in _TEXT_COLUMNS:
                    kind = pa.string()
                else:
                    kind = pa.float64()
                unit = {"unit": units[name]} if name in units else None
                fields.append(pa.field(name, kind, metadata=unit))
            self._schema = pa.schema(fields, metadata=file_metadata)
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
    selection: ReadingSelection,
    metadata: dict[str, Any],
    taken: set[Path],
) -> ExportedFile | None:
    temperatures = database.max_aux_count("temperature", **selection)
    columns = [*BDF_COLUMNS, *temperature_columns(temperatures)]
    suffix = ".bdf.csv" if fmt == "csv" else ".bdf.parquet"
    path = _unique(directory, stem, suffix, taken)
    units = column_units(columns)
    described = {
        "format": "Battery Data Format",
        "bdf_version": BDF_VERSION,
        "file": path.name,
        "columns": columns,
        "units": units,
        "extension_columns": extension_columns(columns),
        **metadata,
    }
    writer = _Writer(
        path,
        columns,
        fmt,
        {
            "bdf_version": BDF_VERSION,
            "bdf_units": json.dumps(units),
            "pycti_arbin": json.dumps(described),
        },
    )
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
    metadata_path = path.with_name(path.name.rsplit(".bdf.", 1)[0] + ".bdf.metadata.json")
    meta = {
        **described,
        "rows": writer.rows,
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
    include_idle: bool = False,
) -> list[ExportedFile]:
    """Write BDF files (and metadata sidecars) into ``out_dir`` (created if missing).

    ``database``: a :class:`Database` (connected or not) or a URL; one not connected is opened
    for reading only (:meth:`Database.connect_existing`: nothing is created). ``fmt``: ``"csv"``
    or ``"parquet"``. ``by="test"``: one file per stored test (optionally only ``test_ids``, or
    tests of ``cyclers``/``channels`` overlapping ``[start_s, end_s)``, rows clipped to that
    range); ``by="channel"``: one file per channel with its readings in ``[start_s, end_s)``,
    for the channels that ran a test in that range, or every channel with ``include_idle``.
    Returns the files written (selections without readings write nothing;
    :func:`describe_empty_export` says why and what to try).

    Raises:
        FileNotFoundError: for an SQLite database that does not exist.
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
        db.connect_existing()
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
                selection: ReadingSelection = {
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
                tests = list(_select_tests(db, [cycler], [channel], None, start_s, end_s))
                if not tests and not include_idle:
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
                        for t in tests
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


def describe_empty_export(
    database: Database,
    *,
    by: str = "test",
    cyclers: Sequence[str] | None = None,
    channels: Sequence[int] | None = None,
    test_ids: Iterable[int] | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    include_idle: bool = False,
) -> str:
    """Why :func:`export_bdf` with these arguments wrote nothing, and what to try instead (the
    options named are those of ``pycti export``). ``database`` must be connected."""
    where = database.display_url
    logged = [
        (cycler, channel)
        for cycler, channel in database.channel_list(cyclers)
        if not channels or channel in channels
    ]
    if not database.channel_list(None):
        return f"{where} holds no readings: log some first (pycti log --db {where} ...)"
    if not logged:
        return f"{where} holds no readings of the selected cyclers/channels (--cycler, --channel)"
    all_tests = list(database.list_tests(cyclers, channels))
    in_range = list(_select_tests(database, cyclers, channels, None, start_s, end_s))
    if by == "test":
        if test_ids is not None and in_range:
            known = ", ".join(str(t.test_id) for t in in_range[:10])
            return f"no stored test has the --test-id given (tests here: {known})"
        if not all_tests:
            return (
                f"no test ran on the {len(logged)} logged channel(s): their readings are idle "
                "readings, which belong to no test; export them with --by channel "
                "--include-idle"
            )
        if not in_range:
            return (
                f"none of the {len(all_tests)} stored test(s) overlaps --start/--end; widen "
                "the range, or export idle readings with --by channel --include-idle"
            )
        return "the selected tests hold no readings in the range (--start/--end)"
    if not in_range and not include_idle:
        return (
            f"none of the {len(logged)} logged channel(s) ran a test in the range: add "
            "--include-idle to export their idle readings too"
        )
    return "the selected channels hold no readings in the range (--start/--end)"
