"""How channel status is written: stable JSON/CSV records, a Rich table, a plain-text table.

The JSON keys and CSV columns are a stable interface (docs/cli.md lists them): new keys may be
added at the end, none is renamed or removed. Numbers carry their unit in the key; the status is
its text as MITS shows it; ``channel`` is 1-based. Float32 readings are rounded to 7 significant
digits (all the precision they have); a value that is not finite is ``null`` in JSON and empty in
CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from .client.status import MEASUREMENT_FIELDS

if TYPE_CHECKING:
    from .client import ChannelStatus

__all__ = [
    "CHANNEL_KEYS",
    "CSV_COLUMNS",
    "channel_record",
    "csv_text",
    "format_duration",
    "json_text",
    "plain_table",
    "status_document",
    "status_rich_table",
    "status_style",
    "status_table_rows",
]

#: Keys of one channel in ``pycti status --format json``, in order.
CHANNEL_KEYS: tuple[str, ...] = (
    "channel",
    "status",
    "status_code",
    "schedule",
    "test_name",
    "step_and_cycle",
    "exit_condition",
    "barcode",
    "test_time_s",
    "step_time_s",
    "voltage_v",
    "current_a",
    "power_w",
    "charge_capacity_ah",
    "discharge_capacity_ah",
    "charge_energy_wh",
    "discharge_energy_wh",
    "internal_resistance_ohm",
    "dvdt_vbys",
    "acr_ohm",
    "aci_ohm",
    "aci_phase_degrees",
    "temperatures_c",
)

#: Columns of ``pycti status --format csv``, in order.
CSV_COLUMNS: tuple[str, ...] = ("read_at", "cycler", *CHANNEL_KEYS)

# The readings carried as 32-bit floats on the wire (the two times are doubles).
_F32_FIELDS = tuple(
    name for name in MEASUREMENT_FIELDS if name not in ("test_time_s", "step_time_s")
)


def _f32(value: float) -> float | None:
    if not math.isfinite(value):
        return None
    return float(f"{value:.7g}")


def _f64(value: float) -> float | None:
    return value if math.isfinite(value) else None


def channel_record(status: ChannelStatus) -> dict[str, Any]:
    """One channel as the stable JSON record (keys in :data:`CHANNEL_KEYS` order)."""
    record: dict[str, Any] = {
        "channel": status.channel,
        "status": status.status.label,
        "status_code": int(status.status),
        "schedule": status.schedule,
        "test_name": status.test_name,
        "step_and_cycle": status.step_and_cycle_format,
        "exit_condition": status.exit_condition,
        "barcode": status.barcode,
        "test_time_s": _f64(status.test_time_s),
        "step_time_s": _f64(status.step_time_s),
    }
    for name in _F32_FIELDS:
        record[name] = _f32(getattr(status, name))
    record["temperatures_c"] = [_f32(value) for value in status.temperatures_c]
    return record


def status_document(
    cycler: str, read_at: datetime, records: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The JSON document of one status read: cycler, read time (ISO 8601, UTC), channels."""
    return {
        "cycler": cycler,
        "read_at": read_at.isoformat(timespec="milliseconds"),
        "channels": list(records),
    }


def json_text(document: Mapping[str, Any], *, compact: bool) -> str:
    """``document`` as JSON: one line when ``compact`` (JSON Lines), indented otherwise."""
    if compact:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join("" if v is None else repr(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return value


def csv_text(
    cycler: str, read_at: datetime, records: Iterable[Mapping[str, Any]], *, header: bool
) -> str:
    """CSV rows (``\\r\\n`` line ends, as the csv module writes) for one status read."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(CSV_COLUMNS)
    stamp = read_at.isoformat(timespec="milliseconds")
    for record in records:
        writer.writerow([stamp, cycler, *(_csv_value(record[key]) for key in CHANNEL_KEYS)])
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------
# Tables for people


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` (hours grow past 24), or ``-`` for a value that is not finite."""
    if not math.isfinite(seconds):
        return "-"
    total = int(max(seconds, 0.0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


_STYLES = {
    "Unsafe": "bold red",
    "Error": "bold red",
    "DAQ Memory Unsafe": "bold red",
    "Finished": "blue",
    "Pause": "yellow",
    "Go Pause": "yellow",
    "Idle": "dim",
    "Idle From Mcu": "dim",
    "Empty": "dim",
}


def status_style(label: str, running: bool) -> str:
    """The Rich style of a status label: green while running, red when unsafe, ..."""
    if label in _STYLES:
        return _STYLES[label]
    return "green" if running else ""


_TABLE_HEADERS = (
    "Ch",
    "Status",
    "Schedule",
    "Test",
    "Step/Cycle",
    "Test time",
    "Voltage V",
    "Current A",
    "Chg Ah",
    "Dchg Ah",
)
_RIGHT_ALIGNED = frozenset({"Ch", "Test time", "Voltage V", "Current A", "Chg Ah", "Dchg Ah"})


def status_table_rows(
    statuses: Sequence[ChannelStatus],
) -> tuple[list[str], list[list[str]], list[str]]:
    """Headers, text cells and per-row status styles of the human table.

    The temperature column appears only when some channel reports a temperature.
    """
    with_temperature = any(status.temperatures_c for status in statuses)
    headers = list(_TABLE_HEADERS) + (["Temp °C"] if with_temperature else [])
    rows: list[list[str]] = []
    styles: list[str] = []
    for status in statuses:
        record = channel_record(status)
        cells = [
            str(status.channel),
            status.status.label,
            status.schedule or "-",
            status.test_name or "-",
            status.step_and_cycle_format or "-",
            format_duration(status.test_time_s),
            _number(record["voltage_v"], 4),
            _number(record["current_a"], 4),
            _number(record["charge_capacity_ah"], 4),
            _number(record["discharge_capacity_ah"], 4),
        ]
        if with_temperature:
            temps = [t for t in record["temperatures_c"] if t is not None]
            cells.append(" ".join(f"{t:.1f}" for t in temps) if temps else "-")
        rows.append(cells)
        styles.append(status_style(status.status.label, status.status.is_running))
    return headers, rows, styles


def status_rich_table(statuses: Sequence[ChannelStatus], title: str | None = None) -> Table:
    """A Rich table of the channels, status coloured, for a terminal."""
    headers, rows, styles = status_table_rows(statuses)
    table = Table(title=title, title_justify="left", header_style="bold")
    for header in headers:
        table.add_column(
            header,
            justify="right" if header in _RIGHT_ALIGNED else "left",
            overflow="ellipsis",
            no_wrap=header not in ("Schedule", "Test", "Step/Cycle"),
        )
    for cells, style in zip(rows, styles, strict=True):
        rendered = [Text(cell) for cell in cells]
        rendered[1].stylize(style)
        table.add_row(*rendered)
    return table


def plain_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns separated by two spaces, no colours, no trailing spaces: for logs and grep."""
    materialised = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in materialised) for i in range(len(headers))]
    lines = []
    for row in materialised:
        cells = [
            cell.rjust(width) if headers[i] in _RIGHT_ALIGNED else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
