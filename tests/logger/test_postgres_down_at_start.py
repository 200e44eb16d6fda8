"""The logger started while PostgreSQL cannot be reached (a real server behind a TCP relay that
is closed at first): it polls, buffers and spills, says the database is unreachable, and takes
its claims once the database answers; a cycler another logger owns meanwhile is lost."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from pyctiarbin.logger import CyclerSpec, Logger, open_sink
from pyctiarbin.logger.live import health_lines, render_health
from pyctiarbin.logger.poller import CyclerState
from pyctiarbin.logger.sinks.postgres import PostgresDatabase
from pyctiarbin.simulator import Simulator

from .support import (
    PASSWORD,
    USER,
    TcpProxy,
    count_readings,
    integrity_ok,
    query,
    readings_by_channel,
    requires_postgres,
    run_async,
    subprocess_env,
    until,
)

pytestmark = requires_postgres

INTERVAL_S = 0.2


@pytest.fixture
def relay(pg_relay: TcpProxy) -> TcpProxy:
    """A relay to the PostgreSQL server, closed (nothing listens on its port) until restored."""
    pg_relay.cut()
    return pg_relay


@run_async
async def test_logging_starts_without_the_database_and_claims_once_it_is_back(
    pg_url: str, relay: TcpProxy, tmp_path: Path
) -> None:
    # Another logger owns cycler "b" (directly, not through the relay).
    other = PostgresDatabase(pg_url)
    await asyncio.to_thread(other.connect)
    assert await asyncio.to_thread(other.claim, "b") is None
    sink = open_sink(
        relay.route(pg_url),
        spill_path=tmp_path / "spill.sqlite",
        spill_after_s=0.3,
        retry_backoff_s=0.1,
        max_retry_backoff_s=0.3,
    )
    try:
        async with Simulator(channels=3) as a, Simulator(channels=2) as b:
            specs = [CyclerSpec(n, s.host, s.port, USER, PASSWORD) for n, s in (("a", a), ("b", b))]
            logger = Logger(specs, [sink], interval_s=INTERVAL_S)
            run = asyncio.get_running_loop().create_task(logger.run())

            def polled(times: int) -> bool:
                return all(c.polls >= times for c in logger.health().cyclers)

            await until(lambda: polled(5) and sink.stats().spilled_rows > 0, "polls and a spill")
            during = logger.health()
            during_sink = sink.stats()
            console = Console(record=True, width=300, force_terminal=False)
            console.print(render_health(during))
            view = console.export_text()
            lines = health_lines(during)

            await asyncio.to_thread(relay.restore)
            await until(
                lambda: (
                    sink.stats().backlog_rows == 0
                    and logger.health().cyclers[1].state is CyclerState.LOST
                ),
                "the backlog to be written and b to be lost",
            )
            after = logger.health()
            logger.stop()
            await run
            polls_a = logger.health().cyclers[0].polls  # final: every poll is flushed by now
    finally:
        await asyncio.to_thread(other.disconnect)

    # While the database was unreachable: both cyclers polled, rows spilled, and it was said.
    assert all(c.state is not CyclerState.LOST and c.polls >= 5 for c in during.cyclers)
    assert all("unreachable" in c.claim_pending for c in during.cyclers)
    assert not during_sink.connected and during_sink.spilled_rows > 0
    assert "unreachable" in view and "not claimed yet" in view
    assert "unreachable" in lines[-1] and "not_claimed_yet=" in lines[0]
    # Back: "a" is ours, every poll of it stored (none lost in the outage), one row per channel.
    assert after.cyclers[0].claim_pending == "" and after.cyclers[0].state is not CyclerState.LOST
    by_channel = readings_by_channel(pg_url, "a")
    assert sorted(by_channel) == [1, 2, 3]
    assert all(len(times) == polls_a for times in by_channel.values())
    owners = dict(query(pg_url, "SELECT cycler, owner FROM claims"))
    assert owners == {"a": sink.database.owner, "b": other.owner}  # type: ignore[attr-defined]
    # "b" belongs to the other logger: lost, and none of the rows polled meanwhile written.
    assert after.cyclers[1].owner and other.owner in after.cyclers[1].owner
    assert query(pg_url, "SELECT count(*) FROM readings WHERE cycler = 'b'") == [(0,)]
    integrity_ok(pg_url)


def test_pycti_log_with_the_database_down_runs_then_the_next_run_writes_the_spill(
    pg_url: str, relay: TcpProxy, tmp_path: Path
) -> None:
    with Simulator(channels=2, users={USER: PASSWORD}) as sim:
        args = [
            sys.executable,
            "-m",
            "pyctiarbin.cli",
            "log",
            "--cycler",
            f"bay={sim.host}:{sim.port}",
            "--interval",
            "0.2",
            "--duration",
            "1.5",
            "--no-live",
            "--spill",
            str(tmp_path / "spill.sqlite"),
            "--db",
            relay.route(pg_url),
        ]

        def pycti_log() -> subprocess.CompletedProcess[str]:
            env = subprocess_env()
            return subprocess.run(
                args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
            )

        down = pycti_log()
        assert down.returncode == 0, down.stderr
        assert "owned by another logger" not in down.stderr
        assert "unreachable" in down.stderr and "logging bay anyway" in down.stderr
        assert "rows wait in the spill file" in down.stderr
        assert count_readings(pg_url) == 0

        relay.restore()
        up = pycti_log()
    assert up.returncode == 0, up.stderr
    by_channel = readings_by_channel(pg_url, "bay")
    assert sorted(by_channel) == [1, 2]
    # Both runs' polls are stored: the first run's came from its spill file.
    polls_each = [line for line in down.stdout.splitlines() if line.startswith("bay ")]
    first_polls = int(polls_each[0].split("polls=")[1].split()[0])
    assert all(len(times) > first_polls for times in by_channel.values())
    assert query(pg_url, "SELECT owner FROM claims WHERE cycler = 'bay'") != []
