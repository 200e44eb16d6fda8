"""The database consistency check the logger tests rely on can fail."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from pyctiarbin.logger.sinks.sqlite import SqliteDatabase

from .support import integrity_ok


def test_integrity_check_fails_on_a_channel_of_an_unknown_cycler(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    database = SqliteDatabase(path)
    database.connect()  # creates the tables
    database.disconnect()
    url = f"sqlite:///{path}"
    integrity_ok(url)  # an empty database is consistent

    with closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO channels (cycler, channel) VALUES ('ghost', 1)")

    with pytest.raises(AssertionError, match="channels of an unknown cycler"):
        integrity_ok(url)
