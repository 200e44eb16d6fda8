"""What the dashboard shows, read from the logger's database: the fleet snapshot, a channel's
plotted series, alerts. Plain functions of a :class:`~pyctiarbin.data.LabData` returning
JSON-ready dicts; no web framework here."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from ..data import LabData, ReadingSelection
from ..logger.boundaries import status_from_label
from ..logger.export import parse_step_and_cycle
from ..protocol import StatusCode

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["FLEET_COLUMNS", "SERIES_COLUMNS", "alerts", "fleet", "series", "status_class"]

#: Columns of each channel row of :func:`fleet`, in order.
FLEET_COLUMNS = (
    "channel",
    "status",
    "class",
    "test_name",
    "test_id",
    "cycle",
    "step",
    "voltage_v",
    "current_a",
    "temperature_c",
    "charge_capacity_ah",
    "discharge_capacity_ah",
    "unix_time_s",
)

#: Columns of :func:`series`.
SERIES_COLUMNS = (
    "unix_time_s",
    "test_time_s",
    "voltage_v",
    "current_a",
    "temperature_c",
    "charge_capacity_ah",
    "discharge_capacity_ah",
)

_ALARM = frozenset({StatusCode.UNSAFE, StatusCode.ERROR, StatusCode.DAQ_MEMORY_UNSAFE})


def status_class(label: str) -> str:
    """The colour class of a status: ``run``, ``pause``, ``done``, ``alarm`` or ``idle``."""
    try:
        status = status_from_label(label)
    except ValueError:
        return "alarm"
    if status in _ALARM:
        return "alarm"
    if status is StatusCode.FINISHED:
        return "done"
    if status in (StatusCode.PAUSE, StatusCode.GO_PAUSE):
        return "pause"
    if status.is_running:
        return "run"
    return "idle"


def _temperature(aux: str | None) -> float | None:
    if not aux:
        return None
    values = json.loads(aux).get("temperature")
    if not values:
        return None
    value = values[0][0]
    return float(value) if value is not None else None


def fleet(lab: LabData, *, stale_after_s: float = 10.0, now: float | None = None) -> dict[str, Any]:
    """Every cycler with the latest reading of each of its channels.

    A cycler is ``down`` when it has an open gap, or when its last reading is older than
    ``stale_after_s``; ``gap_since_s`` says since when. Channel rows follow
    :data:`FLEET_COLUMNS` (``unix_time_s`` of the reading: the page shows its age).
    """
    now = time.time() if now is None else now
    latest = lab.latest()
    open_gaps: dict[str, dict[str, Any]] = {}
    for gap in lab.gaps(since_s=now - 24 * 3600):
        if gap["end_s"] is None:
            open_gaps.setdefault(gap["cycler"], gap)
    cyclers: dict[str, dict[str, Any]] = {}
    for info in lab.cyclers():
        cyclers[info["cycler"]] = {
            "name": info["cycler"],
            "address": f"{info['host']}:{info['port']}",
            "serial_number": info["serial_number"],
            "num_channels": info["num_channels"],
            "last_poll_s": info.get("last_poll_s"),
            "channels": [],
        }
    columns = latest.columns
    at = {name: columns.index(name) for name in columns}
    for row in latest.rows():
        name = row[at["cycler"]]
        entry = cyclers.setdefault(
            name,
            {
                "name": name,
                "address": "",
                "serial_number": "",
                "num_channels": 0,
                "last_poll_s": None,
                "channels": [],
            },
        )
        cycle, step = parse_step_and_cycle(row[at["step_and_cycle_format"]])
        status = row[at["status"]]
        entry["channels"].append(
            [
                row[at["channel"]],
                status,
                status_class(status),
                row[at["test_name"]],
                str(row[at["test_id"]]) if row[at["test_id"]] is not None else None,
                cycle,
                step,
                row[at["voltage_v"]],
                row[at["current_a"]],
                _temperature(row[at["aux"]]),
                row[at["charge_capacity_ah"]],
                row[at["discharge_capacity_ah"]],
                row[at["unix_time_s"]],
            ]
        )
    for entry in cyclers.values():
        newest = max((ch[-1] for ch in entry["channels"]), default=None)
        open_gap = open_gaps.get(entry["name"])
        stale = newest is None or now - newest > stale_after_s
        entry["last_reading_s"] = newest
        entry["down"] = open_gap is not None or stale
        entry["gap_since_s"] = (
            open_gap["start_s"] if open_gap is not None else newest if stale else None
        )
        entry["gap_reason"] = (
            open_gap["reason"] if open_gap is not None else ("no recent reading" if stale else None)
        )
    return {
        "now": now,
        "columns": list(FLEET_COLUMNS),
        "cyclers": sorted(cyclers.values(), key=lambda c: c["name"]),
        "gaps": [
            {k: gap[k] for k in ("cycler", "start_s", "end_s", "missed_intervals", "reason")}
            for gap in lab.gaps(since_s=now - 24 * 3600)[:50]
        ],
    }


def series(
    lab: LabData, *, max_points: int = 1500, **selection: Unpack[ReadingSelection]
) -> dict[str, Any]:
    """The readings of the ``selection`` (a channel's or a test's) for plotting, downsampled on
    the server (:meth:`LabData.series`): ``{"columns": SERIES_COLUMNS, "data": [[...], ...]}``
    by column.

    Raises:
        ValueError: for neither a test nor a cycler and channel, or max_points < 2.
        TypeError: for an unknown selection key.
    """
    table = lab.series(
        columns=[
            "unix_time_s",
            "test_time_s",
            "voltage_v",
            "current_a",
            "aux",
            "charge_capacity_ah",
            "discharge_capacity_ah",
        ],
        max_points=max_points,
        **selection,
    )
    data = {c: table[c] for c in table.columns if c != "aux"}
    data["temperature_c"] = [_temperature(a) for a in table["aux"]]
    return {"columns": list(SERIES_COLUMNS), "data": [data[c] for c in SERIES_COLUMNS]}


def alerts(lab: LabData, *, limit: int = 500) -> dict[str, Any]:
    """Active alerts (fired, not resolved) and the latest ``limit`` alert events."""
    events = lab.alert_events(limit=limit)
    resolved = {
        (e["rule"], e["cycler"], e["channel"], e["started_s"])
        for e in events
        if e["event"] == "resolved"
    }
    active = [
        e
        for e in events
        if e["event"] == "fired"
        and (e["rule"], e["cycler"], e["channel"], e["started_s"]) not in resolved
    ]
    return {"active": active, "events": events}
