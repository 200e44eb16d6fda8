"""The database consistency check the logger tests rely on can fail, on each kind of orphan."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from pyctiarbin.logger.sinks.sqlite import SqliteDatabase

from .support import ORPHAN_QUERIES, integrity_ok, orphan_counts

_CYCLER = (
    "INSERT INTO cyclers (cycler, host, port, serial_number, num_channels, nickname, version, "
    "updated_s) VALUES ('bay', '127.0.0.1', 9031, 'SN', 8, '', 1, 0.0)"
)
_CHANNEL = "INSERT INTO channels (cycler, channel) VALUES ('bay', 1)"


def _reading(channel: int, test_id: int | None) -> str:
    return (
        "INSERT INTO readings (cycler, channel, unix_time_s, test_id, status, comm_failure, "
        "schedule, test_name, exit_condition, step_and_cycle_format, barcode, can_config_name, "
        f"smb_config_name, master_channel) VALUES ('bay', {channel}, 1.0, "
        f"{'NULL' if test_id is None else test_id}, 'Rest', 0, '', '', '', '', '', '', '', 0)"
    )


# Each orphan, alone in an otherwise consistent database.
ORPHANS = {
    "readings of an unknown channel": [_CYCLER, _CHANNEL, _reading(2, None)],
    "readings of an unknown test, or of another channel's test": [
        _CYCLER,
        _CHANNEL,
        _reading(1, 99),
    ],
    "channels of an unknown cycler": [_CHANNEL],
}


def test_every_kind_of_orphan_has_a_case() -> None:
    assert ORPHANS.keys() == ORPHAN_QUERIES.keys()


@pytest.mark.parametrize("orphan", list(ORPHANS))
def test_integrity_check_fails_on_each_kind_of_orphan(tmp_path: Path, orphan: str) -> None:
    path = tmp_path / "log.db"
    database = SqliteDatabase(path)
    database.connect()  # creates the tables
    database.disconnect()
    url = f"sqlite:///{path}"
    integrity_ok(url)  # an empty database is consistent

    with closing(sqlite3.connect(path)) as db, db:
        for statement in ORPHANS[orphan]:
            db.execute(statement)

    assert orphan_counts(url) == {what: int(what == orphan) for what in ORPHAN_QUERIES}
    with pytest.raises(AssertionError, match=re.escape(orphan)):
        integrity_ok(url)
