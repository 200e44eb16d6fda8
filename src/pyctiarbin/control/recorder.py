"""A CSV file of every setpoint a control loop wrote, with its reading."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import IO

from ..shared import ClosedOnExit
from .types import ControlRecord

__all__ = ["CsvRecorder"]

COLUMNS = (
    "unix_time_s",
    "elapsed_s",
    "iteration",
    "channel",
    "status",
    "test_time_s",
    "step_time_s",
    "voltage_v",
    "current_a",
    "temperature_c",
    "variable",
    "value",
    "safe_state",
)


class CsvRecorder(ClosedOnExit):
    """Pass as ``on_record`` to a :class:`~pyctiarbin.control.ControlLoop`: one row per
    variable written (columns: :data:`COLUMNS`). ``temperature_c`` is the first aux
    temperature, empty without aux data. Rows are flushed as they are written.

    Raises:
        OSError: from the constructor if the file cannot be created.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] = self.path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self.rows = 0

    def __call__(self, record: ControlRecord) -> None:
        status = record.status
        temperatures = status.temperatures_c
        for variable, value in record.setpoints.items():
            self._writer.writerow(
                (
                    f"{record.unix_time_s:.3f}",
                    f"{record.elapsed_s:.3f}",
                    record.iteration,
                    record.channel,
                    status.status.label,
                    status.test_time_s,
                    status.step_time_s,
                    status.voltage_v,
                    status.current_a,
                    temperatures[0] if temperatures else "",
                    variable,
                    value,
                    int(record.safe_state),
                )
            )
            self.rows += 1
        self._file.flush()

    def close(self) -> None:
        self._file.close()
