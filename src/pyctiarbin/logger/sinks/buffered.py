"""The buffering database sink: :class:`DatabaseSink`, and :func:`open_sink` that makes one for
a database URL.

A :class:`DatabaseSink` is a :class:`~pyctiarbin.logger.Listener`. It turns each batch into
rows at once and returns; a writer task commits them in batched transactions on the database's
own thread. When the database is down or slow the rows wait in memory up to
``max_buffer_rows``, then (or after ``spill_after_s`` of outage) move to a local spill file;
once the database is back, the spill file is drained first, in order, then the memory. Stopping
the sink writes everything it holds, or, if the database is unreachable, spills it.

Writes are idempotent (see :class:`Chunk`), so a chunk may be written twice without harm.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

from ...shared import Backoff
from ..boundaries import ChannelTrack
from ..listener import Listener, StateSource
from ..onchange import OnChangeFilter
from ..readings import CyclerInfo, Gap, ReadingBatch, reading_row
from .chunk import Chunk
from .database import Database, open_database
from .spill import SpillFile

__all__ = ["DatabaseSink", "SinkStats", "open_sink"]

log = logging.getLogger("pyctiarbin.logger.sink")

T = TypeVar("T")


@dataclass
class SinkStats:
    """Figures of one database sink (``DatabaseSink.stats()``)."""

    url: str
    connected: bool
    rows_written: int = 0
    readings_written: int = 0
    readings_by_cycler: dict[str, int] = field(default_factory=dict)
    #: Rows waiting in memory (including a write under way).
    buffered_rows: int = 0
    #: Rows in the spill file.
    spilled_rows: int = 0
    spill_path: str = ""
    transactions: int = 0
    write_errors: int = 0
    last_error: str = ""
    last_write_s: float | None = None
    last_write_duration_s: float | None = None
    down_since_s: float | None = None
    #: True once the sink stopped (its database is closed).
    closed: bool = False

    @property
    def state(self) -> str:
        """``up``, ``down`` or ``closed``."""
        if self.closed:
            return "closed"
        return "up" if self.connected else "down"

    @property
    def backlog_rows(self) -> int:
        """Rows not in the database yet."""
        return self.buffered_rows + self.spilled_rows


class DatabaseSink(Listener, StateSource):
    """Writes the logger's output into a :class:`Database`, losing nothing.

    Options: ``max_buffer_rows`` (rows kept in memory while the database is down or slow
    before spilling; default 100 000), ``on_change`` (an :class:`OnChangeFilter`: store a
    reading only when it changed), ``spill_path`` (default: next to an SQLite database, in
    the working directory for others), ``spill_after_s`` (spill everything held in memory once
    the database has been down this long; default 10 s, so that a crash during an outage loses
    little), ``batch_delay_s`` (how long to gather rows before a transaction; default 0.05 s),
    ``max_batch_rows`` (largest transaction), ``retry_backoff_s``/``max_retry_backoff_s``
    (reconnection backoff), ``flush_timeout_s`` (how long :meth:`stop` tries the database
    before spilling what is left).
    """

    def __init__(
        self,
        database: Database,
        *,
        max_buffer_rows: int = 100_000,
        spill_path: str | os.PathLike[str] | None = None,
        spill_after_s: float = 10.0,
        batch_delay_s: float = 0.05,
        max_batch_rows: int = 50_000,
        retry_backoff_s: float = 0.5,
        max_retry_backoff_s: float = 10.0,
        flush_timeout_s: float = 30.0,
        on_change: OnChangeFilter | None = None,
    ) -> None:
        if max_buffer_rows < 0 or max_batch_rows < 1:
            raise ValueError("max_buffer_rows must be >= 0 and max_batch_rows >= 1")
        if min(spill_after_s, batch_delay_s, flush_timeout_s) < 0 or retry_backoff_s <= 0:
            raise ValueError("times must not be negative (retry_backoff_s positive)")
        self.database = database
        self.max_buffer_rows = max_buffer_rows
        self.spill_after_s = spill_after_s
        self.batch_delay_s = batch_delay_s
        self.max_batch_rows = max_batch_rows
        #: Between attempts to reach the database again.
        self.retry_backoff = Backoff(retry_backoff_s, max(max_retry_backoff_s, retry_backoff_s))
        self.flush_timeout_s = flush_timeout_s
        self.on_change = on_change
        self.spill = SpillFile(
            spill_path if spill_path is not None else database.default_spill_path
        )
        self._pending: deque[Chunk] = deque()
        self._pending_rows = 0
        self._in_flight_rows = 0
        self._stats = SinkStats(database.display_url, False)
        self._db_thread: ThreadPoolExecutor | None = None
        self._spill_thread: ThreadPoolExecutor | None = None
        self._writer: asyncio.Task[None] | None = None
        self._spiller: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._stop_requested: asyncio.Future[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._drain_lock: asyncio.Lock | None = None
        self._stopping = False
        self._closed = False
        self._down_since: float | None = None
        self._started = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.database.display_url}>"

    # -- threads -------------------------------------------------------------------------------

    async def _in_db_thread(self, function: Callable[..., T], *args: Any) -> T:
        if self._db_thread is None:
            self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="pycti-sink-db")
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, function, *args)

    async def _in_spill_thread(self, function: Callable[..., T], *args: Any) -> T:
        if self._spill_thread is None:
            self._spill_thread = ThreadPoolExecutor(1, thread_name_prefix="pycti-sink-spill")
        return await asyncio.get_running_loop().run_in_executor(self._spill_thread, function, *args)

    # -- listener interface --------------------------------------------------------------------

    async def on_start(self, cyclers: Sequence[str]) -> None:
        """Open the database (an unreachable one is retried later) and any spill file left
        by an earlier run; start the writer.

        Raises:
            sqlite3.Error: if a leftover spill file is damaged.
        """
        await self._start()

    async def _start(self) -> None:
        if self._started:
            return
        self._started = True
        self._wake = asyncio.Event()
        self._stop_requested = asyncio.get_running_loop().create_future()
        self._lock = asyncio.Lock()
        await self._in_spill_thread(self.spill.open_existing)
        await self._connect()
        self._writer = asyncio.get_running_loop().create_task(
            self._write_loop(), name=f"pycti-sink-{self.database.display_url}"
        )

    async def on_cycler(self, info: CyclerInfo) -> None:
        self._add(Chunk(cyclers=[info.row(time.time())]))

    async def on_readings(self, batch: ReadingBatch) -> None:
        if self.on_change is None:
            rows = batch.rows()
        else:
            rows = [reading_row(reading) for reading in self.on_change.filter(batch.readings)]
        chunk = Chunk(
            readings=rows,
            events=[event.row() for event in batch.events],
            tests=[test.row() for test in batch.tests],
            polls=[(batch.cycler.name, batch.unix_time_s)],
        )
        self._add(chunk)

    async def on_gap(self, gap: Gap) -> None:
        self._add(Chunk(gaps=[gap.row()]))

    async def last_state(self, cycler: str) -> tuple[dict[int, ChannelTrack], float | None]:
        """Where logging of ``cycler`` left off (see :class:`StateSource`); the spill file is
        written first so that the answer is up to date.

        Raises:
            Exception: the driver's error if the database cannot be read.
        """
        await self._start()
        if not self.database.connected:
            raise ConnectionError(f"database {self.database.display_url} is not reachable")
        while self.spill.chunks:
            await self._drain_spill_once()
        return await self._in_db_thread(self.database.last_state, cycler)

    def stats(self) -> SinkStats:
        """A snapshot of the sink's figures."""
        stats = self._stats
        stats.connected = self.database.connected
        stats.buffered_rows = self._pending_rows + self._in_flight_rows
        stats.spilled_rows = self.spill.rows
        stats.spill_path = str(self.spill.path or "")
        stats.down_since_s = self._down_since
        stats.closed = self._closed
        return SinkStats(**{**vars(stats), "readings_by_cycler": dict(stats.readings_by_cycler)})

    async def stop(self) -> None:
        """Write everything held (spill it if the database stays unreachable for
        ``flush_timeout_s``), then close the database and the spill file."""
        if self.on_change is not None and not self._stopping:
            tail = self.on_change.flush()
            if tail:
                self._add(Chunk(readings=[reading_row(reading) for reading in tail]))
        self._stopping = True
        try:
            if self._wake is not None:
                self._wake.set()
            if self._stop_requested is not None and not self._stop_requested.done():
                self._stop_requested.set_result(None)
            if self._spiller is not None:
                await self._spiller
            if self._writer is not None:
                await self._writer
        finally:
            if self._db_thread is not None:
                await self._in_db_thread(self.database.disconnect)
            if self._spill_thread is not None:
                await self._in_spill_thread(self.spill.close)
            for pool in (self._db_thread, self._spill_thread):
                if pool is not None:
                    pool.shutdown(wait=True)
            self._db_thread = self._spill_thread = None
            self._closed = True
            if self._pending_rows:
                log.error(
                    "%s: %d rows could be neither written nor spilled",
                    self.database.display_url,
                    self._pending_rows,
                )

    # -- buffering -----------------------------------------------------------------------------

    def _add(self, chunk: Chunk) -> None:
        if self._stopping and self._writer is not None and self._writer.done():
            raise RuntimeError(f"{self!r} is stopped")
        self._pending.append(chunk)
        self._pending_rows += chunk.rows
        if self._wake is not None:
            self._wake.set()
        self._maybe_spill()

    def _should_spill(self) -> bool:
        if not self._pending:
            return False
        if self._pending_rows > self.max_buffer_rows:
            return True
        down = self._down_since
        return down is not None and time.monotonic() - down >= self.spill_after_s

    def _maybe_spill(self) -> None:
        if self._spiller is not None and not self._spiller.done():
            return
        if self._should_spill():
            self._spiller = asyncio.get_running_loop().create_task(
                self._spill_pending(), name="pycti-sink-spill"
            )

    async def _spill_pending(self) -> None:
        """Move the oldest chunks held in memory to the spill file (all of them while the
        database is down, else down to half the bound)."""
        async with self._order_lock():
            while self._should_spill():
                down = self._down_since is not None
                target = 0 if down or self._stopping else self.max_buffer_rows // 2
                taken: list[Chunk] = []
                rows = 0
                while self._pending and self._pending_rows - rows > target:
                    chunk = self._pending.popleft()
                    taken.append(chunk)
                    rows += chunk.rows
                if not taken:
                    return
                self._pending_rows -= rows
                try:
                    await self._in_spill_thread(self.spill.append, taken)
                except Exception as exc:
                    self._pending.extendleft(reversed(taken))
                    self._pending_rows += rows
                    self._stats.last_error = f"cannot spill: {exc}"
                    log.error(
                        "%s: cannot spill %d rows to %s: %s",
                        self.database.display_url,
                        rows,
                        self.spill.base_path,
                        exc,
                    )
                    return
                log.warning(
                    "%s: spilled %d rows to %s (%d rows spilled in all)",
                    self.database.display_url,
                    rows,
                    self.spill.path,
                    self.spill.rows,
                )

    def _order_lock(self) -> asyncio.Lock:
        # Held while chunks move between memory and the spill file, so that their order holds.
        if self._lock is None:
            raise RuntimeError("the sink was not started")
        return self._lock

    # -- writing -------------------------------------------------------------------------------

    async def _connect(self) -> bool:
        try:
            await self._in_db_thread(self.database.connect)
        except Exception as exc:
            self._note_failure(exc, "cannot connect to")
            return False
        if self._down_since is not None:
            log.info("%s: database reachable again", self.database.display_url)
            self._down_since = None
        return True

    def _awaits_database(self) -> bool:
        """True while something besides rows waits for the database (a claim to take), so
        that the writer keeps trying to connect even when no row is waiting."""
        return False

    def _note_failure(self, exc: BaseException, what: str) -> None:
        self._stats.write_errors += 1
        self._stats.last_error = f"{type(exc).__name__}: {exc}"
        first = self._down_since is None
        if first:
            self._down_since = time.monotonic()
        level = logging.WARNING if first else logging.DEBUG
        log.log(
            level,
            "%s %s: %s: %s (rows are kept and retried)",
            what,
            self.database.display_url,
            type(exc).__name__,
            exc,
        )

    def _wrote(self, chunk: Chunk, started: float) -> None:
        stats = self._stats
        stats.rows_written += chunk.rows
        stats.readings_written += len(chunk.readings)
        stats.transactions += 1
        stats.last_write_s = time.time()
        stats.last_write_duration_s = time.monotonic() - started
        by_cycler = stats.readings_by_cycler
        for cycler, count in Counter(map(itemgetter(0), chunk.readings)).items():
            by_cycler[cycler] = by_cycler.get(cycler, 0) + count
        self._down_since = None

    async def _drain_spill_once(self) -> None:
        """Write the oldest spilled chunks and delete them from the spill file.

        Raises:
            Exception: the driver's error (the chunks stay spilled).
        """
        if self._drain_lock is None:
            self._drain_lock = asyncio.Lock()
        async with self._drain_lock:  # the writer and last_state() may both drain
            peeked = await self._in_spill_thread(self.spill.peek, self.max_batch_rows)
            if peeked is None:
                return
            seq, chunk = peeked
            started = time.monotonic()
            await self._in_db_thread(self._write_chunk, chunk)
            await self._in_spill_thread(self.spill.delete_through, seq)
            self._wrote(chunk, started)

    def _write_chunk(self, chunk: Chunk) -> None:
        # In the database thread. After a failure the connection is dropped (here, on the
        # thread that owns it), and the next write connects again.
        database = self.database
        try:
            if not database.connected:
                database.connect()
            database.write(chunk)
        except BaseException:
            database.disconnect()
            raise

    async def _write_pending_once(self) -> None:
        """Write the oldest chunks held in memory in one transaction.

        Raises:
            Exception: the driver's error (the chunks are put back, in order).
        """
        async with self._order_lock():
            taken: list[Chunk] = []
            rows = 0
            while self._pending and (
                not taken or rows + self._pending[0].rows <= self.max_batch_rows
            ):
                chunk = self._pending.popleft()
                taken.append(chunk)
                rows += chunk.rows
            self._pending_rows -= rows
            self._in_flight_rows = rows
        if not taken:
            return
        chunk = Chunk.merge(taken)
        started = time.monotonic()
        try:
            await self._in_db_thread(self._write_chunk, chunk)
        except BaseException:
            # Put the chunks back where order says: in front of the spill file when it took
            # newer chunks meanwhile, else in front of the memory.
            async with self._order_lock():
                self._in_flight_rows = 0
                if self.spill.chunks:
                    try:
                        await self._in_spill_thread(self.spill.push_front, taken)
                    except Exception:
                        log.exception("cannot put %d rows back into the spill file", rows)
                        self._pending.extendleft(reversed(taken))
                        self._pending_rows += rows
                else:
                    self._pending.extendleft(reversed(taken))
                    self._pending_rows += rows
            raise
        self._in_flight_rows = 0
        self._wrote(chunk, started)

    async def _write_loop(self) -> None:
        wake = self._wake
        if wake is None:
            raise RuntimeError("the sink was not started")
        backoff = self.retry_backoff
        failures = 0  # in a row, for the backoff
        flush_deadline: float | None = None
        while True:
            if self._stopping and flush_deadline is None:
                flush_deadline = time.monotonic() + self.flush_timeout_s
            if not self._pending and not self.spill.chunks:
                if self._stopping:
                    return
                if self._awaits_database() and not self.database.connected:
                    if not await self._connect():
                        failures += 1
                        stop = self._stop_requested
                        if stop is not None and not stop.done():
                            await asyncio.wait({stop}, timeout=backoff.delay(failures))
                    continue
                wake.clear()
                await wake.wait()
                if self.batch_delay_s and not self._stopping:
                    await asyncio.sleep(self.batch_delay_s)
                continue
            if flush_deadline is not None and time.monotonic() >= flush_deadline:
                log.warning(
                    "%s: flushing took longer than %g s",
                    self.database.display_url,
                    self.flush_timeout_s,
                )
                await self._spill_everything()
                return
            try:
                if self.spill.chunks:
                    await self._drain_spill_once()
                else:
                    await self._write_pending_once()
                failures = 0
                continue
            except Exception as exc:
                self._note_failure(exc, "cannot write to")
            if self._stopping:
                # No retries on the way out: what is left goes to the spill file, which the
                # next run drains.
                await self._spill_everything()
                return
            self._maybe_spill()
            failures += 1
            # A new batch does not cut the backoff short (the database is down); a stop does.
            stop = self._stop_requested
            if stop is not None and not stop.done():
                await asyncio.wait({stop}, timeout=backoff.delay(failures))

    async def _spill_everything(self) -> None:
        if self._spiller is not None:
            await self._spiller
        async with self._order_lock():
            if not self._pending:
                return
            taken = list(self._pending)
            rows = self._pending_rows
            try:
                await self._in_spill_thread(self.spill.append, taken)
            except Exception:
                log.exception("%s: cannot spill the last %d rows", self.database.display_url, rows)
                return
            self._pending.clear()
            self._pending_rows = 0
            log.warning(
                "%s: database unreachable at stop; %d rows spilled to %s",
                self.database.display_url,
                rows,
                self.spill.path,
            )


def open_sink(url: str, **options: Any) -> DatabaseSink:
    """A database sink (a listener) for ``url``; ``options`` go to :class:`DatabaseSink`
    (``max_buffer_rows``, ``spill_path``, ``spill_after_s``, ...).

    Raises:
        ValueError: for an unknown scheme or a malformed URL.
        ImportError: if the driver of the scheme is not installed.
    """
    database = open_database(url)
    sink_class = database.sink_class or DatabaseSink
    return sink_class(database, **options)
