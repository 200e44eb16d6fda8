"""The PostgreSQL database (``postgresql://user@host:5432/db[?schema=name]``), through psycopg 3.

Readings go in with ``COPY``; the other tables with upserts. The tables are those of the SQLite
database (``docs/logger.md``) in the schema named by ``?schema=`` (default ``public``), with
``jsonb`` for the aux, BMS and SMB parts, plus ``claims``.

Several logger processes may share one database, each owning a disjoint set of cyclers. A
process owns a cycler while it holds a session-level advisory lock on it (on the connection it
writes through) and records itself in ``claims``; the lock dies with the process, even after a
``kill -9``. When the connection drops, the locks go with it: on reconnecting, the process takes
them again before writing. If another process took one meanwhile, the cycler is *lost*: the
logger stops polling it, and the rows it holds for that cycler from the moment the other process
claimed it are dropped (the other process logs that time), so no cycler is logged twice.

A database that cannot be reached when the logger starts does not stop it: each cycler is logged
with its claim *pending* (rows are buffered and spilled as during any outage), and the claims
are taken as soon as the database answers, before the first write. A cycler found claimed by
another process then is lost as above, and the rows this process held for it are dropped.

Needs the ``postgres`` extra (``pip install pycti-arbin[postgres]``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

try:
    import psycopg
    from psycopg import sql
except ImportError as exc:  # the postgres extra is not installed
    raise ImportError(
        f"PostgreSQL needs psycopg 3, which is not installed ({exc}): "
        "pip install 'pycti-arbin[postgres]'",
        name=exc.name,
    ) from exc

from ..listener import OwnershipGuard
from ..readings import EVENT_COLUMNS, GAP_COLUMNS, READING_COLUMNS, TEST_COLUMNS
from .buffered import DatabaseSink
from .chunk import Chunk, channel_key
from .database import SqlDatabase, redact_url, spill_path_for
from .queries import Query, QueryBuilder

__all__ = ["PostgresDatabase", "PostgresQueries", "PostgresSink", "split_url"]

log = logging.getLogger("pyctiarbin.logger.postgres")

_SCHEMA_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_READING_TYPES = {
    "cycler": "text NOT NULL",
    "channel": "integer NOT NULL",
    "unix_time_s": "double precision NOT NULL",
    "test_id": "bigint",
    "status": "text NOT NULL",
    "comm_failure": "integer NOT NULL",
    "schedule": "text NOT NULL",
    "test_name": "text NOT NULL",
    "exit_condition": "text NOT NULL",
    "step_and_cycle_format": "text NOT NULL",
    "barcode": "text NOT NULL",
    "can_config_name": "text NOT NULL",
    "smb_config_name": "text NOT NULL",
    "master_channel": "integer NOT NULL",
    "aux": "jsonb",
    "bms": "jsonb",
    "smb": "jsonb",
}


def _schema_sql(s: str) -> str:
    reading_columns = ",\n    ".join(
        f"{c} {_READING_TYPES.get(c, 'double precision')}" for c in READING_COLUMNS
    )
    return f"""
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.schema_info (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.cyclers (
    cycler text PRIMARY KEY, host text NOT NULL, port integer NOT NULL,
    serial_number text NOT NULL, num_channels integer NOT NULL, nickname text NOT NULL,
    version bigint NOT NULL, updated_s double precision NOT NULL, last_poll_s double precision
);
CREATE TABLE IF NOT EXISTS {s}.channels (
    cycler text NOT NULL, channel integer NOT NULL, PRIMARY KEY (cycler, channel)
);
CREATE TABLE IF NOT EXISTS {s}.readings (
    {reading_columns},
    PRIMARY KEY (cycler, channel, unix_time_s)
);
CREATE INDEX IF NOT EXISTS readings_by_test ON {s}.readings (test_id, unix_time_s);
CREATE TABLE IF NOT EXISTS {s}.tests (
    test_id bigint PRIMARY KEY, cycler text NOT NULL, channel integer NOT NULL,
    serial_number text NOT NULL, schedule text NOT NULL, test_name text NOT NULL,
    barcode text NOT NULL, first_seen_s double precision NOT NULL,
    start_s double precision NOT NULL, last_status text NOT NULL,
    ended_s double precision, end_status text
);
CREATE INDEX IF NOT EXISTS tests_by_channel ON {s}.tests (cycler, channel, first_seen_s);
CREATE TABLE IF NOT EXISTS {s}.test_events (
    cycler text NOT NULL, channel integer NOT NULL, unix_time_s double precision NOT NULL,
    event text NOT NULL, test_id bigint, status text NOT NULL, previous_status text NOT NULL,
    schedule text NOT NULL, test_name text NOT NULL, barcode text NOT NULL,
    test_time_s double precision,
    PRIMARY KEY (cycler, channel, unix_time_s, event)
);
CREATE INDEX IF NOT EXISTS test_events_by_test ON {s}.test_events (test_id, unix_time_s);
CREATE TABLE IF NOT EXISTS {s}.gaps (
    cycler text NOT NULL, start_s double precision NOT NULL, end_s double precision,
    missed_intervals integer NOT NULL, reason text NOT NULL, PRIMARY KEY (cycler, start_s)
);
CREATE TABLE IF NOT EXISTS {s}.claims (
    cycler text PRIMARY KEY, owner text NOT NULL, claimed_s double precision NOT NULL
);
CREATE OR REPLACE VIEW {s}.latest_readings AS
    SELECT r.* FROM {s}.channels AS c
    CROSS JOIN LATERAL (
        SELECT * FROM {s}.readings AS x
        WHERE x.cycler = c.cycler AND x.channel = c.channel
        ORDER BY x.unix_time_s DESC LIMIT 1
    ) AS r;
INSERT INTO {s}.schema_info VALUES ('version', '1') ON CONFLICT DO NOTHING;
"""


def _lock_key(*parts: str) -> int:
    digest = hashlib.sha256("\x00".join(("pycti-arbin", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def split_url(url: str) -> tuple[str, str]:
    """The libpq URL without our ``schema`` parameter, and the schema.

    Raises:
        ValueError: if the URL is not postgresql:// or the schema name is not a plain
            identifier.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise ValueError(f"expected a postgresql:// URL, got scheme {parts.scheme!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "public"
    kept = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    if not _SCHEMA_RE.match(schema):
        raise ValueError(f"schema {schema!r} must be a plain identifier (letters, digits, _)")
    return parts._replace(scheme="postgresql", query=urlencode(kept)).geturl(), schema


class PostgresQueries(QueryBuilder):
    """The read queries in PostgreSQL's words: ``%s`` marks, tables in the logger's schema,
    ``jsonb_array_length``; psycopg hands ``jsonb`` back parsed."""

    mark = "%s"
    parses_json = True

    def __init__(self, schema: str) -> None:
        #: The schema name, quoted for the SQL text.
        self.schema_sql = sql.Identifier(schema).as_string(None)

    def table(self, name: str) -> str:
        return f"{self.schema_sql}.{name}"

    def aux_count(self, kind: str) -> str:
        return f"MAX(jsonb_array_length(aux -> '{kind}'))"

    def cycle_number(self) -> str:
        return "CAST(substring(step_and_cycle_format from '^\\s*\\[\\s*(\\d+)') AS integer)"

    def table_exists(self, name: str) -> Query:
        return "SELECT to_regclass(%s) IS NOT NULL", [self.table(name)]

    def latest(self, cyclers: Sequence[str] | None, columns: Sequence[str]) -> Query:
        where, args = self._where(cyclers, None)
        select = f"SELECT {', '.join(columns)} FROM {self.table('latest_readings')}"
        return select + where + " ORDER BY cycler, channel", args

    def bucket_lookups(self, selected: str, source: str) -> str:
        return (
            f"SELECT {selected} FROM generate_series(0, %s - 1) AS b(i) CROSS JOIN LATERAL "
            f"(SELECT *{source} AND unix_time_s >= %s + b.i * %s ORDER BY unix_time_s LIMIT 1) "
            "AS r ORDER BY r.unix_time_s"
        )


class _Fence:
    """Rows of a lost cycler from ``start_s`` (another process's claim) until ``end_s`` (our
    claim again, None while not reclaimed) must not be written."""

    __slots__ = ("end_s", "start_s")

    def __init__(self, start_s: float) -> None:
        self.start_s = start_s
        self.end_s: float | None = None

    def covers(self, when: float) -> bool:
        return when >= self.start_s and (self.end_s is None or when < self.end_s)


class PostgresSink(DatabaseSink, OwnershipGuard):
    """A :class:`DatabaseSink` on PostgreSQL that also claims cyclers (an
    :class:`~pyctiarbin.logger.listener.OwnershipGuard`): the logger polls a cycler only while
    this process holds its claim in the database."""

    database: PostgresDatabase

    async def claim(self, cycler: str) -> str | None:
        """Claim ``cycler``: None if this process owns it now, or may log it until the
        database can be reached (the claim is then *pending*, see :meth:`pending`), else who
        has it."""
        await self._start()
        try:
            return await self._in_db_thread(self._claim, cycler)
        except psycopg.Error as exc:
            await self._in_db_thread(self.database.claim_later, cycler)
            log.warning(
                "database %s unreachable (%s): logging %s anyway, buffering its rows; its claim "
                "is taken once the database answers",
                self.database.display_url,
                _first_line(exc),
                cycler,
            )
            return None

    def _claim(self, cycler: str) -> str | None:
        # In the database thread; a failed claim drops the connection there.
        try:
            return self.database.claim(cycler)
        except BaseException:
            self.database.disconnect()
            raise

    async def release(self, cycler: str) -> None:
        """Give up the claim on ``cycler`` (nothing to do once the sink stopped: closing the
        connection released every claim)."""
        if self._db_thread is None:
            self.database.claimed.pop(cycler, None)
            return
        await self._in_db_thread(self.database.release, cycler)

    def lost(self) -> dict[str, str]:
        """Cyclers lost to another process since this one claimed them."""
        return dict(self.database.lost)

    def pending(self) -> dict[str, str]:
        """Cyclers logged without their claim, because the database is unreachable."""
        reason = f"database {self.database.display_url} unreachable"
        return dict.fromkeys(list(self.database.pending), reason)

    def _awaits_database(self) -> bool:
        return bool(self.database.pending)


class PostgresDatabase(SqlDatabase):
    """A PostgreSQL database holding the logger's tables (see the module docstring)."""

    schemes = ("postgresql", "postgres")
    sink_class = PostgresSink

    def __init__(self, url: str, *, connect_timeout_s: float = 5.0) -> None:
        self._url, self.schema = split_url(url)
        self._display = redact_url(url)
        self.connect_timeout_s = connect_timeout_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._conn: psycopg.Connection[Any] | None = None
        self.queries = PostgresQueries(self.schema)
        self._s = self.queries.schema_sql
        self._channels: set[tuple[str, int]] = set()
        #: Cyclers this process owns (name -> advisory lock key).
        self.claimed: dict[str, int] = {}
        #: Cyclers lost to another process (name -> description of the new owner).
        self.lost: dict[str, str] = {}
        #: Cyclers logged while the database could not be reached, their claim still to be
        #: taken (name -> host time from which this process logged it).
        self.pending: dict[str, float] = {}
        self._fences: dict[str, list[_Fence]] = {}
        self._staging_ready = False
        self._prepare_statements()

    def __repr__(self) -> str:
        return f"<PostgresDatabase {self._display}>"

    @classmethod
    def from_url(cls, url: str) -> PostgresDatabase:
        """Raises ValueError if the URL is malformed."""
        return cls(url)

    @property
    def display_url(self) -> str:
        return self._display

    @property
    def default_spill_path(self) -> Path:
        return spill_path_for(self._display)

    @property
    def connected(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.closed and not conn.broken

    def _prepare_statements(self) -> None:
        s = self._s
        cols = ", ".join(READING_COLUMNS)
        self._copy_readings = f"COPY {s}.readings ({cols}) FROM STDIN"
        self._copy_staging = f"COPY pycti_staging ({cols}) FROM STDIN"
        self._merge_staging = (
            f"INSERT INTO {s}.readings ({cols}) SELECT {cols} FROM pycti_staging "
            "ON CONFLICT DO NOTHING"
        )
        marks = ", ".join("%s" for _ in EVENT_COLUMNS)
        self._insert_events = (
            f"INSERT INTO {s}.test_events ({', '.join(EVENT_COLUMNS)}) VALUES ({marks}) "
            "ON CONFLICT DO NOTHING"
        )
        marks = ", ".join("%s" for _ in TEST_COLUMNS)
        self._upsert_tests = (
            f"INSERT INTO {s}.tests ({', '.join(TEST_COLUMNS)}) VALUES ({marks}) "
            "ON CONFLICT (test_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in TEST_COLUMNS[1:])
        )
        marks = ", ".join("%s" for _ in GAP_COLUMNS)
        self._upsert_gaps = (
            f"INSERT INTO {s}.gaps ({', '.join(GAP_COLUMNS)}) VALUES ({marks}) "
            "ON CONFLICT (cycler, start_s) DO UPDATE SET end_s = excluded.end_s, "
            "missed_intervals = excluded.missed_intervals, reason = excluded.reason"
        )
        self._upsert_cyclers = (
            f"INSERT INTO {s}.cyclers (cycler, host, port, serial_number, num_channels, "
            "nickname, version, updated_s) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (cycler) DO UPDATE SET host = excluded.host, port = excluded.port, "
            "serial_number = excluded.serial_number, num_channels = excluded.num_channels, "
            "nickname = excluded.nickname, version = excluded.version, "
            "updated_s = excluded.updated_s"
        )
        self._update_poll = (
            f"UPDATE {s}.cyclers SET last_poll_s = GREATEST(COALESCE(last_poll_s, %s), %s) "
            "WHERE cycler = %s"
        )
        self._insert_channels = f"INSERT INTO {s}.channels VALUES (%s, %s) ON CONFLICT DO NOTHING"

    # -- connection ----------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect, create the schema if needed, and take back the claims held before a
        reconnect (a claim another process took meanwhile is recorded as lost).

        Raises:
            psycopg.Error: if the server cannot be reached or refuses.
        """
        if self.connected:
            return
        self.disconnect()
        conn = psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=max(1, round(self.connect_timeout_s)),
            application_name=f"pycti-log {self.owner}"[:63],
        )
        with self._closed_on_error(conn):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("schema"),))
                conn.execute(_schema_sql(self._s))
            self._channels = self._known_channels(conn)
        self._conn = conn
        self._staging_ready = False
        try:
            for cycler in list(self.claimed):
                self._reclaim(cycler)
            for cycler in list(self.pending):
                self._take_pending(cycler)
        except BaseException:
            # Claims not settled: no write may go through this connection.
            self.disconnect()
            raise

    def connect_existing(self) -> None:
        """Connect to read: no schema or table is created.

        Raises:
            LookupError: if the schema holds no logger tables.
            psycopg.Error: if the server cannot be reached or refuses.
        """
        if self.connected:
            return
        self.disconnect()
        conn = psycopg.connect(
            self._url, autocommit=True, connect_timeout=max(1, round(self.connect_timeout_s))
        )
        with self._closed_on_error(conn):
            text, args = self.queries.table_exists("readings")
            row = conn.execute(text, args).fetchone()
            if row is None or not row[0]:
                raise LookupError(
                    f"{self._display} holds no pycti logger tables in schema {self.schema!r}"
                )
            self._channels = self._known_channels(conn)
        self._conn = conn

    def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing a broken connection
                log.debug("closing the PostgreSQL connection failed", exc_info=True)

    def _require(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            raise psycopg.OperationalError(f"not connected to {self._display}")
        return conn

    # -- ownership -----------------------------------------------------------------------------

    def _key(self, cycler: str) -> int:
        return _lock_key(self.schema, cycler)

    def _holder(self, conn: psycopg.Connection[Any], cycler: str) -> tuple[str, float | None]:
        row = conn.execute(
            f"SELECT owner, claimed_s FROM {self._s}.claims WHERE cycler = %s",
            (cycler,),
        ).fetchone()
        if row is None:
            return "another logger", None
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row[1]))
        return f"logger {row[0]} (since {since} UTC)", float(row[1])

    def claim(self, cycler: str) -> str | None:
        """Take the advisory lock of ``cycler``: None on success, else who holds it.

        Raises:
            psycopg.Error: if the server cannot be reached.
        """
        if not self.connected:
            self.connect()
        conn = self._require()
        if cycler in self.claimed:
            return None
        key = self._key(cycler)
        (granted,) = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() or (False,)
        if not granted:
            return self._holder(conn, cycler)[0]
        now = time.time()
        conn.execute(
            f"INSERT INTO {self._s}.claims VALUES (%s, %s, %s) ON CONFLICT (cycler) DO UPDATE "
            "SET owner = excluded.owner, claimed_s = excluded.claimed_s",
            (cycler, self.owner, now),
        )
        self.claimed[cycler] = key
        self.lost.pop(cycler, None)
        for fence in self._fences.get(cycler, []):
            if fence.end_s is None:
                fence.end_s = now
        log.info("claimed cycler %s in %s", cycler, self._display)
        return None

    def claim_later(self, cycler: str) -> None:
        """Log ``cycler`` before its claim can be taken (the database is unreachable); the
        claim is taken by the next :meth:`connect`."""
        if cycler not in self.claimed:
            self.pending.setdefault(cycler, time.time())

    def _take_pending(self, cycler: str) -> None:
        since = self.pending[cycler]
        holder = self.claim(cycler)
        del self.pending[cycler]
        if holder is None:
            log.warning(
                "claimed cycler %s in %s, which was unreachable when logging began",
                cycler,
                self._display,
            )
            return
        # Someone else owned it: what this process logged meanwhile is theirs to log.
        self.lost[cycler] = holder
        self._fences.setdefault(cycler, []).append(_Fence(since))
        log.error(
            "cycler %s, logged while %s was unreachable, is owned by %s; its rows are dropped",
            cycler,
            self._display,
            holder,
        )

    def _reclaim(self, cycler: str) -> None:
        conn = self._require()
        key = self.claimed[cycler]
        (granted,) = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() or (False,)
        holder, claimed_s = self._holder(conn, cycler)
        owner_row = conn.execute(
            f"SELECT owner FROM {self._s}.claims WHERE cycler = %s", (cycler,)
        ).fetchone()
        still_ours = owner_row is not None and owner_row[0] == self.owner
        if granted and still_ours:
            return
        if granted:
            # Free again, but someone else held it in between: give it back and treat it as lost.
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        del self.claimed[cycler]
        self.lost[cycler] = holder
        self._fences.setdefault(cycler, []).append(
            _Fence(claimed_s if claimed_s is not None else time.time())
        )
        log.error("lost cycler %s to %s while disconnected from %s", cycler, holder, self._display)

    def release(self, cycler: str) -> None:
        """Give up the advisory lock of ``cycler`` (no-op when not connected)."""
        self.pending.pop(cycler, None)
        key = self.claimed.pop(cycler, None)
        if key is None or not self.connected:
            return
        self._require().execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _fenced(self, chunk: Chunk) -> Chunk:
        fences = self._fences
        if not fences:
            return chunk

        def blocked(cycler: str, when: float) -> bool:
            return any(f.covers(when) for f in fences.get(cycler, ()))

        kept = Chunk(
            readings=[r for r in chunk.readings if not blocked(r[0], r[2])],
            events=[e for e in chunk.events if not blocked(e[0], e[2])],
            tests=[t for t in chunk.tests if not blocked(t[1], t[7])],
            gaps=[g for g in chunk.gaps if not blocked(g[0], g[1])],
            cyclers=chunk.cyclers,
            polls=[p for p in chunk.polls if not blocked(p[0], p[1])],
        )
        dropped = len(chunk.readings) - len(kept.readings)
        if dropped:
            log.warning("dropped %d readings of cyclers now logged by another process", dropped)
        return kept

    # -- writing -------------------------------------------------------------------------------

    def write(self, chunk: Chunk) -> None:
        """Commit ``chunk`` in one transaction: COPY for the readings (a COPY that meets rows
        already stored is redone through a staging table, skipping them).

        Raises:
            psycopg.Error: on any failure; the transaction is rolled back.
        """
        conn = self._require()
        chunk = self._fenced(chunk)
        try:
            self._write(conn, chunk, staging=False)
        except psycopg.errors.UniqueViolation:
            log.info(
                "%s: some rows were stored already (a retried write); skipping them", self._display
            )
            self._write(conn, chunk, staging=True)

    def _write(self, conn: psycopg.Connection[Any], chunk: Chunk, *, staging: bool) -> None:
        new_channels = set(map(channel_key, chunk.readings)) - self._channels
        with conn.transaction(), conn.cursor() as cur:
            if chunk.cyclers:
                cur.executemany(self._upsert_cyclers, chunk.cyclers)
            if new_channels:
                cur.executemany(self._insert_channels, sorted(new_channels))
            if chunk.tests:
                cur.executemany(self._upsert_tests, chunk.tests)
            if chunk.readings:
                if staging:
                    if not self._staging_ready:
                        cur.execute(
                            f"CREATE TEMP TABLE IF NOT EXISTS pycti_staging "
                            f"(LIKE {self._s}.readings) ON COMMIT DELETE ROWS"
                        )
                    with cur.copy(self._copy_staging) as copy:
                        for row in chunk.readings:
                            copy.write_row(row)
                    cur.execute(self._merge_staging)
                else:
                    with cur.copy(self._copy_readings) as copy:
                        for row in chunk.readings:
                            copy.write_row(row)
            if chunk.events:
                cur.executemany(self._insert_events, chunk.events)
            if chunk.gaps:
                cur.executemany(self._upsert_gaps, chunk.gaps)
            for cycler, when in chunk.latest_polls().items():
                cur.execute(self._update_poll, (when, when, cycler))
        if staging:
            self._staging_ready = True
        self._channels |= new_channels

    # -- reading back --------------------------------------------------------------------------

    def _stream(self, query: Query) -> Iterator[tuple[Any, ...]]:
        # A server-side cursor: an export of millions of readings is not held in memory.
        text, args = query
        conn = self._require()
        with conn.transaction(), conn.cursor(name=f"pycti_export_{uuid.uuid4().hex[:8]}") as cur:
            cur.itersize = 5000
            cur.execute(text, args)
            yield from cur


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
