"""The SQLite database (``sqlite:///path.db``): the logger's embedded default.

WAL journal, ``synchronous=NORMAL`` (a commit survives a crash of the process; the database is
consistent after a power loss), one transaction per batch. The schema is in
``docs/logger.md`` and in :data:`SCHEMA` below:

* ``readings``: one row per channel per poll, appended in time order; the unique index
  ``readings_by_channel (cycler, channel, unix_time_s)`` makes "one channel over time" a range
  scan (a rowid table with a narrow index inserts three times faster than a table clustered by
  that key, which must write wide rows at thousands of places);
* ``channels`` + the ``latest_readings`` view: "latest per channel" is one key lookup per
  channel;
* ``tests`` and ``test_events``: test boundaries (a test's readings: ``WHERE test_id = ?``,
  index ``readings_by_test``);
* ``gaps``: when a cycler could not be read; ``cyclers``: who each cycler is.

URL forms: ``sqlite:///relative.db``, ``sqlite:////absolute/path.db``, ``sqlite:///C:/x.db``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..readings import EVENT_COLUMNS, GAP_COLUMNS, READING_COLUMNS, TEST_COLUMNS
from .chunk import Chunk, channel_key
from .database import SqlDatabase
from .queries import Query, QueryBuilder

__all__ = ["READING_SQL_TYPES", "SCHEMA", "SCHEMA_VERSION", "SqliteDatabase", "SqliteQueries"]

SCHEMA_VERSION = 1

#: The SQLite type of every column of ``readings`` (the numeric ones not named are ``REAL``).
READING_SQL_TYPES = {
    "cycler": "TEXT NOT NULL",
    "channel": "INTEGER NOT NULL",
    "unix_time_s": "REAL NOT NULL",
    "test_id": "INTEGER",
    "status": "TEXT NOT NULL",
    "comm_failure": "INTEGER NOT NULL",
    "schedule": "TEXT NOT NULL",
    "test_name": "TEXT NOT NULL",
    "exit_condition": "TEXT NOT NULL",
    "step_and_cycle_format": "TEXT NOT NULL",
    "barcode": "TEXT NOT NULL",
    "can_config_name": "TEXT NOT NULL",
    "smb_config_name": "TEXT NOT NULL",
    "master_channel": "INTEGER NOT NULL",
    "aux": "TEXT",
    "bms": "TEXT",
    "smb": "TEXT",
}

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS schema_info (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cyclers (
    cycler        TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    port          INTEGER NOT NULL,
    serial_number TEXT NOT NULL,
    num_channels  INTEGER NOT NULL,
    nickname      TEXT NOT NULL,
    version       INTEGER NOT NULL,
    updated_s     REAL NOT NULL,
    last_poll_s   REAL
);
CREATE TABLE IF NOT EXISTS channels (
    cycler  TEXT NOT NULL,
    channel INTEGER NOT NULL,
    PRIMARY KEY (cycler, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS readings (
    {", ".join(f"{c} {READING_SQL_TYPES.get(c, 'REAL')}" for c in READING_COLUMNS)}
);
CREATE UNIQUE INDEX IF NOT EXISTS readings_by_channel ON readings (cycler, channel, unix_time_s);
CREATE INDEX IF NOT EXISTS readings_by_test ON readings (test_id, unix_time_s)
    WHERE test_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS tests (
    test_id       INTEGER PRIMARY KEY,
    cycler        TEXT NOT NULL,
    channel       INTEGER NOT NULL,
    serial_number TEXT NOT NULL,
    schedule      TEXT NOT NULL,
    test_name     TEXT NOT NULL,
    barcode       TEXT NOT NULL,
    first_seen_s  REAL NOT NULL,
    start_s       REAL NOT NULL,
    last_status   TEXT NOT NULL,
    ended_s       REAL,
    end_status    TEXT
);
CREATE INDEX IF NOT EXISTS tests_by_channel ON tests (cycler, channel, first_seen_s);
CREATE TABLE IF NOT EXISTS test_events (
    cycler          TEXT NOT NULL,
    channel         INTEGER NOT NULL,
    unix_time_s     REAL NOT NULL,
    event           TEXT NOT NULL,
    test_id         INTEGER,
    status          TEXT NOT NULL,
    previous_status TEXT NOT NULL,
    schedule        TEXT NOT NULL,
    test_name       TEXT NOT NULL,
    barcode         TEXT NOT NULL,
    test_time_s     REAL,
    PRIMARY KEY (cycler, channel, unix_time_s, event)
);
CREATE INDEX IF NOT EXISTS test_events_by_test ON test_events (test_id, unix_time_s);
CREATE TABLE IF NOT EXISTS gaps (
    cycler           TEXT NOT NULL,
    start_s          REAL NOT NULL,
    end_s            REAL,
    missed_intervals INTEGER NOT NULL,
    reason           TEXT NOT NULL,
    PRIMARY KEY (cycler, start_s)
);
CREATE VIEW IF NOT EXISTS latest_readings AS
    SELECT r.* FROM channels AS c
    JOIN readings AS r
      ON r.cycler = c.cycler AND r.channel = c.channel
     AND r.unix_time_s = (SELECT MAX(x.unix_time_s) FROM readings AS x
                          WHERE x.cycler = c.cycler AND x.channel = c.channel);
"""


def _placeholders(columns: Sequence[object]) -> str:
    return ", ".join("?" for _ in columns)


_INSERT_READINGS = (
    f"INSERT OR IGNORE INTO readings ({', '.join(READING_COLUMNS)}) "
    f"VALUES ({_placeholders(READING_COLUMNS)})"
)
_INSERT_EVENTS = (
    f"INSERT OR IGNORE INTO test_events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({_placeholders(EVENT_COLUMNS)})"
)
_UPSERT_TESTS = (
    f"INSERT INTO tests ({', '.join(TEST_COLUMNS)}) VALUES ({_placeholders(TEST_COLUMNS)}) "
    "ON CONFLICT (test_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in TEST_COLUMNS[1:])
)
_UPSERT_GAPS = (
    f"INSERT INTO gaps ({', '.join(GAP_COLUMNS)}) VALUES ({_placeholders(GAP_COLUMNS)}) "
    "ON CONFLICT (cycler, start_s) DO UPDATE SET end_s = excluded.end_s, "
    "missed_intervals = excluded.missed_intervals, reason = excluded.reason"
)
_UPSERT_CYCLERS = (
    "INSERT INTO cyclers (cycler, host, port, serial_number, num_channels, nickname, version, "
    "updated_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cycler) DO UPDATE SET "
    "host = excluded.host, port = excluded.port, serial_number = excluded.serial_number, "
    "num_channels = excluded.num_channels, nickname = excluded.nickname, "
    "version = excluded.version, updated_s = excluded.updated_s"
)
_UPDATE_POLL = "UPDATE cyclers SET last_poll_s = MAX(COALESCE(last_poll_s, ?), ?) WHERE cycler = ?"


def path_from_url(url: str) -> Path:
    """The file path in ``sqlite:///path``.

    Raises:
        ValueError: if the URL is not of that form.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite" or parts.netloc or not parts.path.startswith("/"):
        raise ValueError(
            f"expected sqlite:///relative/path.db or sqlite:////absolute/path.db, got {url!r}"
        )
    # sqlite:///lab.db -> lab.db; sqlite:////abs/lab.db -> /abs/lab.db; sqlite:///C:/lab.db
    path = unquote(parts.path[1:])
    if not path:
        raise ValueError(f"no file name in {url!r}")
    return Path(path)


class SqliteQueries(QueryBuilder):
    """The read queries in SQLite's words (``?`` marks, JSON1's ``json_array_length``)."""

    mark = "?"

    def table(self, name: str) -> str:
        return name

    def aux_count(self, kind: str) -> str:
        return f"MAX(json_array_length(aux, '$.{kind}'))"

    def cycle_number(self) -> str:
        return (
            "CASE WHEN substr(ltrim(step_and_cycle_format), 1, 1) = '[' "
            "THEN CAST(substr(ltrim(step_and_cycle_format), 2) AS INTEGER) END"
        )

    def table_exists(self, name: str) -> Query:
        return "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)", [
            name
        ]

    def latest(self, cyclers: Sequence[str] | None, columns: Sequence[str]) -> Query:
        # SQLite plans the latest_readings view as a scan of every reading; one index lookup
        # per channel instead.
        where = f" WHERE {self._in('c.cycler', cyclers)}" if cyclers else ""
        return (
            f"SELECT {', '.join(f'r.{c}' for c in columns)} FROM channels AS c "
            "JOIN readings AS r ON r.rowid = (SELECT rowid FROM readings AS x "
            "WHERE x.cycler = c.cycler AND x.channel = c.channel "
            f"ORDER BY x.unix_time_s DESC LIMIT 1){where} ORDER BY c.cycler, c.channel",
            list(cyclers or ()),
        )

    def bucket_lookups(self, selected: str, source: str) -> str:
        return (
            "WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i + 1 < ?) "
            f"SELECT {selected} FROM b JOIN readings AS r ON r.rowid = (SELECT rowid{source} "
            "AND unix_time_s >= ? + b.i * ? ORDER BY unix_time_s LIMIT 1) ORDER BY r.unix_time_s"
        )


class SqliteDatabase(SqlDatabase):
    """An SQLite file holding the logger's tables (see the module docstring).

    ``SqliteDatabase(path)``; ``SqliteDatabase.from_url("sqlite:///lab.db")``.
    """

    schemes = ("sqlite",)
    queries = SqliteQueries()

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._db: sqlite3.Connection | None = None
        self._channels: set[tuple[str, int]] = set()

    def __repr__(self) -> str:
        return f"<SqliteDatabase {self.path}>"

    @classmethod
    def from_url(cls, url: str) -> SqliteDatabase:
        """See :func:`path_from_url`.

        Raises:
            ValueError: if the URL is malformed.
        """
        return cls(path_from_url(url))

    @property
    def display_url(self) -> str:
        return f"sqlite:///{self.path}"

    @property
    def default_spill_path(self) -> Path:
        return self.path.with_name(self.path.name + ".spill")

    @property
    def connected(self) -> bool:
        return self._db is not None

    def connect(self) -> None:
        """Open the file (created if missing) and create the tables.

        Raises:
            sqlite3.Error: if the file cannot be opened or is not a logger database.
            RuntimeError: if the file holds a newer schema version.
        """
        if self._db is not None:
            return
        if self.path.parent != Path(""):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        self._adopt(db, create=True)

    def connect_existing(self) -> None:
        """Open the file to read it: no file, folder, table or WAL switch is created.

        Raises:
            FileNotFoundError: if the file does not exist.
            LookupError: if the file holds no logger tables.
            RuntimeError: if the file holds a newer schema version.
            sqlite3.Error: if the file cannot be opened or is not an SQLite database.
        """
        if self._db is not None:
            return
        if not self.path.is_file():
            raise FileNotFoundError(
                f"no logger database at {self.path} (nothing was created; check --db)"
            )
        # mode=rw: open as it is, never create (mode=ro cannot read a WAL file whose -shm
        # file is missing).
        uri = f"{self.path.resolve().as_uri()}?mode=rw"
        db = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout_s, isolation_level=None)
        self._adopt(db, create=False)

    def _adopt(self, db: sqlite3.Connection, *, create: bool) -> None:
        """Check the schema of the just opened ``db`` (creating it first if ``create``) and
        keep the connection; close it on any error."""
        with self._closed_on_error(db):
            if create:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript("BEGIN;" + SCHEMA + "COMMIT;")
            try:
                row = db.execute("SELECT value FROM schema_info WHERE key = 'version'").fetchone()
            except sqlite3.OperationalError as exc:
                if create:
                    raise
                raise LookupError(f"{self.path} is not a pycti logger database ({exc})") from exc
            if row is None and create:
                db.execute(
                    "INSERT OR IGNORE INTO schema_info VALUES ('version', ?)", (SCHEMA_VERSION,)
                )
            elif row is not None and int(row[0]) > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has logger schema version {row[0]}; this pycti-arbin knows "
                    f"up to {SCHEMA_VERSION}"
                )
            self._channels = self._known_channels(db)
        self._db = db

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.OperationalError(f"{self.path} is not open")
        return self._db

    def write(self, chunk: Chunk) -> None:
        """Commit ``chunk`` in one transaction (rolled back on error).

        Raises:
            sqlite3.Error: e.g. the file is locked longer than the busy timeout, or the disk
                is full.
        """
        db = self._require()
        new_channels = set(map(channel_key, chunk.readings)) - self._channels
        db.execute("BEGIN IMMEDIATE")
        try:
            if chunk.cyclers:
                db.executemany(_UPSERT_CYCLERS, chunk.cyclers)
            if new_channels:
                db.executemany("INSERT OR IGNORE INTO channels VALUES (?, ?)", new_channels)
            if chunk.tests:
                db.executemany(_UPSERT_TESTS, chunk.tests)
            if chunk.readings:
                db.executemany(_INSERT_READINGS, chunk.readings)
            if chunk.events:
                db.executemany(_INSERT_EVENTS, chunk.events)
            if chunk.gaps:
                db.executemany(_UPSERT_GAPS, chunk.gaps)
            for cycler, when in chunk.latest_polls().items():
                db.execute(_UPDATE_POLL, (when, when, cycler))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._channels |= new_channels

    def disconnect(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):  # closing is best effort
                db.close()
