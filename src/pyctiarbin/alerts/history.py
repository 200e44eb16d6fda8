"""Alert history in the logger's database: every alert fired and resolved, for the dashboard.

``pycti log --alerts rules.toml --db URL`` runs the alert engine as a listener of the logger
(:class:`RecordingAlertListener`) and writes each event to the table ``alert_events`` of the same
database (SQLite or PostgreSQL), created when missing:

``unix_time_s`` (host time of the event), ``event`` (``fired`` / ``resolved``), ``rule``,
``severity``, ``cycler``, ``channel`` (NULL for a cycler-wide rule), ``started_s`` (when the
episode fired), ``value`` (as text), ``message``.

An alert is *active* while its ``fired`` row has no ``resolved`` row with the same rule,
cycler, channel and ``started_s``. Episodes live in the logger's memory: an alert still active
when the logger stops stays active in the table until the logger sees it again and it resolves,
or it is marked resolved when a logger with the same database starts (:meth:`AlertHistory.open`).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..logger import CyclerSpec
from .engine import AlertEngine
from .events import AlertEvent
from .listener import AlertListener

__all__ = ["ALERT_EVENT_COLUMNS", "AlertHistory", "RecordingAlertListener"]

#: Columns of the ``alert_events`` table.
ALERT_EVENT_COLUMNS = (
    "unix_time_s",
    "event",
    "rule",
    "severity",
    "cycler",
    "channel",
    "started_s",
    "value",
    "message",
)

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_events (
    unix_time_s REAL NOT NULL, event TEXT NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL,
    cycler TEXT NOT NULL, channel INTEGER, started_s REAL NOT NULL, value TEXT,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_by_time ON alert_events (unix_time_s);
"""
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS {s}.alert_events (
    unix_time_s double precision NOT NULL, event text NOT NULL, rule text NOT NULL,
    severity text NOT NULL, cycler text NOT NULL, channel integer,
    started_s double precision NOT NULL, value text, message text NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_by_time ON {s}.alert_events (unix_time_s);
"""


def _row(event: AlertEvent) -> tuple[Any, ...]:
    value = event.value
    text = None if value is None else (value if isinstance(value, str) else json.dumps(value))
    return (
        event.time,
        event.kind.value,
        event.rule,
        event.severity.value,
        event.cycler,
        event.channel,
        event.started_at,
        text,
        event.message,
    )


class AlertHistory:
    """Writes :class:`AlertEvent` rows to ``alert_events`` of a logger database (blocking; one
    connection of its own, used by one thread at a time).

    Raises:
        ValueError: from the constructor, for an unknown URL scheme.
    """

    def __init__(self, url: str) -> None:
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"alert history: unknown database URL scheme {scheme!r}")
        self.url = url
        self._conn: Any = None
        self._lock = threading.Lock()
        self._mark = "?" if scheme == "sqlite" else "%s"
        self._table = "alert_events"

    def open(self) -> None:
        """Connect, create the table if needed, and resolve the episodes a previous run left
        active (their logger is gone, so nobody will resolve them).

        Raises:
            Exception: the driver's error.
        """
        with self._lock:
            if self._conn is not None:
                return
            if self._mark == "?":
                import sqlite3

                from ..logger.sinks.sqlite import path_from_url

                path = path_from_url(self.url)
                if path.parent != path.parent.parent:
                    path.parent.mkdir(parents=True, exist_ok=True)
                conn: Any = sqlite3.connect(
                    path, timeout=10.0, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SQLITE_SCHEMA)
            else:
                import psycopg
                from psycopg import sql

                from ..logger.sinks.postgres import split_url

                dsn, schema = split_url(self.url)
                conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
                s = sql.Identifier(schema).as_string(None)
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
                conn.execute(_POSTGRES_SCHEMA.format(s=s))
                self._table = f"{s}.alert_events"
            self._conn = conn
        self._resolve_orphans()

    def _resolve_orphans(self) -> None:
        m, t = self._mark, self._table
        active = self._conn.execute(
            f"SELECT {', '.join(ALERT_EVENT_COLUMNS)} FROM {t} AS f WHERE event = 'fired' "
            f"AND NOT EXISTS (SELECT 1 FROM {t} AS r WHERE r.event = 'resolved' "
            "AND r.rule = f.rule AND r.cycler = f.cycler AND r.started_s = f.started_s "
            "AND (r.channel = f.channel OR (r.channel IS NULL AND f.channel IS NULL)))"
        ).fetchall()
        now = time.time()
        for row in active:
            values = list(row)
            values[0], values[1] = now, "resolved"
            values[8] = f"[RESOLVED] {row[2]}: the logger that raised it stopped"
            self._insert(values)
        del m

    def _insert(self, values: Sequence[Any]) -> None:
        marks = ", ".join(self._mark for _ in ALERT_EVENT_COLUMNS)
        self._conn.execute(
            f"INSERT INTO {self._table} ({', '.join(ALERT_EVENT_COLUMNS)}) VALUES ({marks})",
            tuple(values),
        )

    def write(self, events: Sequence[AlertEvent]) -> None:
        """Store ``events`` (opening the database first if needed).

        Raises:
            Exception: the driver's error.
        """
        if not events:
            return
        if self._conn is None:
            self.open()
        with self._lock:
            for event in events:
                self._insert(_row(event))

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class RecordingAlertListener(AlertListener):
    """An :class:`AlertListener` that also stores every event in ``history``."""

    def __init__(
        self,
        engine: AlertEngine,
        history: AlertHistory,
        cyclers: Sequence[CyclerSpec] = (),
        *,
        close_timeout_s: float = 10.0,
        on_alert: Callable[[AlertEvent], None] | None = None,
    ) -> None:
        super().__init__(engine, cyclers, close_timeout_s=close_timeout_s, on_alert=on_alert)
        self.history = history

    async def on_start(self, cyclers: Sequence[str]) -> None:
        await asyncio.to_thread(self.history.open)
        await super().on_start(cyclers)

    async def publish(self, events: Sequence[AlertEvent]) -> None:
        if events:
            await asyncio.to_thread(self.history.write, events)
        await super().publish(events)

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            self.history.close()
