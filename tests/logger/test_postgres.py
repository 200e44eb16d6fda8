"""PostgreSQL specifics on a real server: an outage between the logger and the database, lost
ownership while disconnected, and COPY meeting rows that are stored already."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import psycopg
import pytest

from pyctiarbin.logger import CyclerSpec, Logger
from pyctiarbin.logger.sinks import Chunk
from pyctiarbin.logger.sinks.postgres import PostgresDatabase
from pyctiarbin.simulator import Simulator

from .support import (
    PASSWORD,
    USER,
    TcpProxy,
    integrity_ok,
    outage_sink,
    query,
    readings_by_channel,
    requires_postgres,
    run_async,
    until,
)

pytestmark = requires_postgres

INTERVAL_S = 0.25


def reading_row(cycler: str, when: float) -> tuple[object, ...]:
    return (
        cycler,
        1,
        when,
        None,
        "Rest",
        0,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        0,
        *([0.0] * 14),
        None,
        None,
        None,
    )


@run_async
async def test_outage_is_buffered_spilled_and_drained_in_order(
    pg_url: str, pg_relay: TcpProxy, tmp_path: object
) -> None:
    url = pg_relay.route(pg_url)
    sink = outage_sink(
        PostgresDatabase(url, connect_timeout_s=1.0), spill_path=f"{tmp_path}/spill.sqlite"
    )
    async with Simulator(channels=8) as a, Simulator(channels=8) as b:
        specs = [CyclerSpec(n, s.host, s.port, USER, PASSWORD) for n, s in (("a", a), ("b", b))]
        logger = Logger(specs, [sink], interval_s=INTERVAL_S)
        run = asyncio.get_running_loop().create_task(logger.run())
        await until(lambda: sink.stats().readings_written > 0, "the first readings written")
        await asyncio.to_thread(pg_relay.cut)
        await until(lambda: sink.stats().spilled_rows > 0, "rows spilled during the outage")
        during = sink.stats()
        await asyncio.to_thread(pg_relay.restore)
        await until(lambda: not sink.stats().backlog_rows, "the backlog to drain", 15)
        after = sink.stats()
        logger.stop()
        await run

    assert not during.connected and during.write_errors >= 1
    assert during.spilled_rows > 0, during
    assert after.backlog_rows == 0 and after.connected
    for cycler in logger.health().cyclers:
        assert cycler.errors == 0  # the cyclers never noticed
        by_channel = readings_by_channel(pg_url, cycler.name)
        assert all(len(times) == cycler.polls for times in by_channel.values())
        steps = [y - x for x, y in zip(by_channel[1], by_channel[1][1:], strict=False)]
        assert max(steps) < 1.6 * INTERVAL_S
    integrity_ok(pg_url)


def test_a_claim_lost_while_disconnected_fences_the_rows_after_the_takeover(pg_url: str) -> None:
    ours = PostgresDatabase(pg_url)
    theirs = PostgresDatabase(pg_url)
    try:
        assert ours.claim("bay1") is None
        assert ours.claim("bay2") is None
        held = theirs.claim("bay1")
        assert held is not None and ours.owner in held
        before = time.time()
        ours.write(Chunk(readings=[reading_row("bay1", before), reading_row("bay2", before)]))

        # Our connection dies; the other logger takes bay1 meanwhile.
        with psycopg.connect(urlsplit(pg_url)._replace(query="").geturl(), autocommit=True) as c:
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (f"pycti-log {ours.owner}"[:63],),
            )
        time.sleep(0.2)
        assert theirs.claim("bay1") is None
        taken_at = query(pg_url, "SELECT claimed_s FROM claims WHERE cycler = 'bay1'")[0][0]

        with pytest.raises(psycopg.Error):
            ours.write(Chunk(readings=[reading_row("bay2", taken_at - 0.5)]))
        ours.disconnect()
        ours.connect()  # takes back what it still can
        assert ours.claimed.keys() == {"bay2"}
        assert "bay1" in ours.lost and theirs.owner in ours.lost["bay1"]
        # Rows of bay1 polled before the takeover are written, later ones are not.
        ours.write(
            Chunk(
                readings=[
                    reading_row("bay1", taken_at - 0.2),
                    reading_row("bay1", taken_at + 0.2),
                    reading_row("bay2", taken_at + 0.2),
                ]
            )
        )
        stored = query(pg_url, "SELECT cycler, unix_time_s FROM readings ORDER BY 1, 2")
        assert stored == [
            ("bay1", before),
            ("bay1", taken_at - 0.2),
            ("bay2", before),
            ("bay2", taken_at + 0.2),
        ]
    finally:
        ours.disconnect()
        theirs.disconnect()


def test_copy_meeting_stored_rows_skips_them(pg_url: str) -> None:
    database = PostgresDatabase(pg_url)
    try:
        database.connect()
        first = Chunk(readings=[reading_row("bay1", 1.0), reading_row("bay1", 2.0)])
        database.write(first)
        # The same rows again (a write whose commit was not acknowledged), plus a new one.
        database.write(Chunk(readings=[*first.readings, reading_row("bay1", 3.0)]))
        database.write(Chunk(readings=[reading_row("bay1", 4.0)]))
    finally:
        database.disconnect()
    assert query(pg_url, "SELECT unix_time_s FROM readings ORDER BY 1") == [
        (1.0,),
        (2.0,),
        (3.0,),
        (4.0,),
    ]
