"""Helpers of the logger tests: read what the logger stored, run it as a program."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from pyctiarbin.logger import DatabaseSink
    from pyctiarbin.logger.sinks import Database
    from pyctiarbin.simulator import Simulator

POSTGRES_ENV = "PYCTI_TEST_POSTGRES_DSN"
USER = "admin"
PASSWORD = "admin"


def postgres_dsn() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


requires_postgres = pytest.mark.skipif(
    postgres_dsn() is None,
    reason=f"{POSTGRES_ENV} is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)",
)


@contextmanager
def simulators_a_and_b(channels: tuple[int, int], test_name: str) -> Iterator[list[Simulator]]:
    """Two simulators (cyclers ``a`` and ``b``) with ``channels`` channels each; channel 1 of
    ``a`` runs CCCV_Charge.sdx as ``test_name``."""
    from pyctiarbin import CyclerClient
    from pyctiarbin.simulator import Simulator

    with Simulator(channels=channels[0]) as a, Simulator(channels=channels[1]) as b:
        with CyclerClient(a.host, a.port, username=USER, password=PASSWORD) as client:
            client.assign_schedule([1], "CCCV_Charge.sdx")
            client.start([1], test_name)
        yield [a, b]


def query(url: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one query against the logger database ``url`` (table names unqualified)."""
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            return db.execute(sql.replace("%s", "?"), args).fetchall()
    import psycopg

    from pyctiarbin.logger.sinks.postgres import split_url

    dsn, schema = split_url(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        return conn.execute(sql, args).fetchall()


def readings_by_channel(url: str, cycler: str) -> dict[int, list[float]]:
    """The reading times of each channel of ``cycler``, in time order."""
    result: dict[int, list[float]] = {}
    for channel, when in query(
        url,
        "SELECT channel, unix_time_s FROM readings WHERE cycler = %s ORDER BY channel, unix_time_s",
        (cycler,),
    ):
        result.setdefault(int(channel), []).append(float(when))
    return result


# Rows that refer to what the database does not hold. The schema declares no foreign keys (the
# writer upserts each table in one transaction), so these are checked here, in both dialects.
ORPHAN_QUERIES = {
    "readings of an unknown channel": (
        "SELECT count(*) FROM readings r WHERE NOT EXISTS "
        "(SELECT 1 FROM channels c WHERE c.cycler = r.cycler AND c.channel = r.channel)"
    ),
    "readings of an unknown test, or of another channel's test": (
        "SELECT count(*) FROM readings r WHERE r.test_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM tests t WHERE t.test_id = r.test_id "
        "AND t.cycler = r.cycler AND t.channel = r.channel)"
    ),
    "channels of an unknown cycler": (
        "SELECT count(*) FROM channels c WHERE NOT EXISTS "
        "(SELECT 1 FROM cyclers y WHERE y.cycler = c.cycler)"
    ),
}


def orphan_counts(url: str) -> dict[str, int]:
    """How many rows of each kind of :data:`ORPHAN_QUERIES` the database holds."""
    return {what: int(query(url, sql)[0][0]) for what, sql in ORPHAN_QUERIES.items()}


def integrity_ok(url: str) -> None:
    """Assert the database is consistent: SQLite's own integrity check, and in both dialects
    no reading, test reference or channel that points at nothing."""
    if url.startswith("sqlite:///"):
        assert query(url, "PRAGMA integrity_check") == [("ok",)]
    orphans = orphan_counts(url)
    assert orphans == dict.fromkeys(ORPHAN_QUERIES, 0), orphans


def outage_sink(database: Database, **options: Any) -> DatabaseSink:
    """A sink that feels a database outage at once: 40 rows of buffer, a spill after 0.3 s,
    retries every 0.1 s to 0.3 s."""
    from pyctiarbin.logger import DatabaseSink

    return DatabaseSink(
        database,
        max_buffer_rows=40,
        spill_after_s=0.3,
        retry_backoff_s=0.1,
        max_retry_backoff_s=0.3,
        **options,
    )


def subprocess_env() -> dict[str, str]:
    """The environment of a logger subprocess: the simulators' credentials, no stray pycti
    settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ARBIN_CTI_", "PYCTI_"))
    }
    env.update(ARBIN_CTI_USERNAME=USER, ARBIN_CTI_PASSWORD=PASSWORD, PYTHONIOENCODING="utf-8")
    return env


def start_logger_process(args: list[str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m pyctiarbin.cli log ARGS`` in a subprocess, its output in ``log_path``."""
    out = log_path.open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "pyctiarbin.cli", "log", "--no-live", *args],
            cwd=cwd,
            env=subprocess_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    finally:
        out.close()


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Wait, in the running event loop, until ``condition`` holds; fail the test after
    ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


def count_readings(url: str) -> int:
    """Rows in ``readings`` (0 while the table does not exist yet)."""
    try:
        return int(query(url, "SELECT count(*) FROM readings")[0][0])
    except Exception:
        return 0


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 that can be cut (every connection dropped, the port
    closed) and restored on the same port: a database outage, seen from the logger.

    Runs its own event loop in a thread; ``close()`` stops it.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy")
        self._thread.start()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.restore()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers.discard(writer)
            self._writers.discard(up_writer)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(0.05)

    def route(self, url: str) -> str:
        """``url`` with its host and port replaced by this forwarder's."""
        parts = urlsplit(url)
        netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{self.port}")
        return parts._replace(netloc=netloc).geturl()

    def restore(self) -> None:
        """Listen (again, on the same port)."""
        self._call(self._start())

    def cut(self) -> None:
        """Drop every connection and stop listening."""
        self._call(self._cut())

    def close(self) -> None:
        self.cut()

        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._call(finish())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an ``async def`` test body on a fresh event loop (``asyncio.run``)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper
