"""The logger in-process against several simulators (real TCP on 127.0.0.1), into real SQLite
files and (when configured) a real PostgreSQL schema."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest

from pyctiarbin import AsyncCyclerClient
from pyctiarbin.logger import (
    CyclerHealth,
    CyclerSpec,
    CyclerState,
    DatabaseSink,
    Gap,
    Listener,
    Logger,
    OnChangeFilter,
    ReadingBatch,
    open_sink,
)
from pyctiarbin.logger.sinks.sqlite import SqliteDatabase
from pyctiarbin.simulator import Simulator

from .support import (
    PASSWORD,
    USER,
    integrity_ok,
    outage_sink,
    query,
    readings_by_channel,
    run_async,
    until,
)

INTERVAL_S = 0.25


@asynccontextmanager
async def simulators(
    count: int, channels: int = 8, **options: Any
) -> AsyncIterator[list[Simulator]]:
    async with AsyncExitStack() as stack:
        sims = [
            await stack.enter_async_context(Simulator(channels=channels, **options))
            for _ in range(count)
        ]
        yield sims


def specs(sims: list[Simulator]) -> list[CyclerSpec]:
    return [CyclerSpec(f"sim{n}", sim.host, sim.port, USER, PASSWORD) for n, sim in enumerate(sims)]


async def start_test(sim: Simulator, channels: list[int], name: str) -> None:
    async with AsyncCyclerClient(sim.host, sim.port, username=USER, password=PASSWORD) as c:
        await c.assign_schedule(channels, "CCCV_Charge.sdx")
        await c.start(channels, name)


async def stop_test(sim: Simulator, channels: list[int]) -> None:
    async with AsyncCyclerClient(sim.host, sim.port, username=USER, password=PASSWORD) as c:
        await c.stop(channels)


async def polled(logger: Logger, more: int, timeout_s: float = 20.0) -> None:
    """Wait until every cycler of ``logger`` was polled ``more`` more times (however long the
    machine needs; the test fails after ``timeout_s``)."""
    before = [cycler.polls for cycler in logger.health().cyclers]
    await until(
        lambda: all(
            cycler.polls >= count + more
            for cycler, count in zip(logger.health().cyclers, before, strict=True)
        ),
        f"{more} more polls",
        timeout_s,
    )


def assert_complete(url: str, cycler: str, channels: int, polls: int, missed: int) -> list[float]:
    """Every channel has one reading per poll, in order, at the same times, on the grid."""
    by_channel = readings_by_channel(url, cycler)
    assert sorted(by_channel) == list(range(1, channels + 1))
    first = by_channel[1]
    assert len(first) == polls
    for times in by_channel.values():
        assert times == first  # every channel in every poll (one request per poll)
    steps = [b - a for a, b in itertools.pairwise(first)]
    assert all(step > 0 for step in steps)
    # A step longer than ~1.5 intervals is a missed interval, and the logger counted it.
    assert sum(round(step / INTERVAL_S) - 1 for step in steps if step > 1.5 * INTERVAL_S) == missed
    return first


@run_async
async def test_readings_of_several_cyclers_are_complete_and_ordered(db_url: str) -> None:
    async with simulators(3) as sims:
        await start_test(sims[0], [1, 2], "cell-A")
        logger = Logger(specs(sims), [open_sink(db_url)], interval_s=INTERVAL_S)
        await logger.run(duration_s=2.0)

    health = {c.name: c for c in logger.health().cyclers}
    for name, cycler in health.items():
        assert cycler.state is CyclerState.STOPPED
        assert cycler.polls >= 5 and cycler.errors == 0 and cycler.gaps == 0
        assert cycler.missed_intervals <= 1  # a shared CI machine may hiccup once
        assert_complete(db_url, name, 8, cycler.polls, cycler.missed_intervals)
    integrity_ok(db_url)
    assert query(db_url, "SELECT count(*) FROM gaps") == [(0,)]
    cyclers = query(db_url, "SELECT cycler, serial_number, num_channels FROM cyclers ORDER BY 1")
    # Each simulator has its own serial number (SIM and its port).
    assert cyclers == [(f"sim{n}", f"SIM{sim.port:05d}", 8) for n, sim in enumerate(sims)]

    # Every field is stored; aux temperatures too.
    row = query(
        db_url,
        "SELECT status, schedule, test_name, voltage_v, current_a, step_and_cycle_format, aux, "
        "bms FROM readings WHERE cycler = 'sim0' AND channel = 1 ORDER BY unix_time_s DESC",
    )[0]
    status, schedule, test_name, voltage, current, step, aux, bms = row
    assert (status, schedule, test_name) == ("Charge", "CCCV_Charge.sdx", "cell-A")
    assert voltage > 3.0 and current > 0 and step.startswith("[1] 1:")
    groups: dict[str, Any] = aux if isinstance(aux, dict) else json.loads(aux)
    assert groups["temperature"][0][0] == pytest.approx(25.0, abs=5.0)
    assert bms is not None

    # The running tests are recorded, and their readings selectable as a unit.
    tests = query(db_url, "SELECT test_id, channel, test_name, ended_s FROM tests ORDER BY channel")
    assert [(t[1], t[2], t[3]) for t in tests] == [(1, "cell-A", None), (2, "cell-A", None)]
    for test_id, channel, _, _ in tests:
        rows = query(
            db_url,
            "SELECT cycler, channel FROM readings WHERE test_id = %s GROUP BY cycler, channel",
            (test_id,),
        )
        assert rows == [("sim0", channel)]
    events = query(db_url, "SELECT channel, event FROM test_events ORDER BY channel")
    assert events == [(1, "observed"), (2, "observed")]
    # 'latest per channel' answers one row per channel, the newest.
    latest = query(db_url, "SELECT cycler, channel, unix_time_s FROM latest_readings ORDER BY 1, 2")
    assert len(latest) == 24
    newest = query(db_url, "SELECT MAX(unix_time_s) FROM readings WHERE cycler = 'sim1'")[0][0]
    assert all(when == newest for cycler, _, when in latest if cycler == "sim1")


@run_async
async def test_test_boundaries_are_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    async with simulators(1, channels=2) as sims:
        logger = Logger(specs(sims), [open_sink(url)], interval_s=INTERVAL_S)
        run = asyncio.get_running_loop().create_task(logger.run())
        await polled(logger, 2)  # readings before the test
        await start_test(sims[0], [1], "t-boundary")
        await polled(logger, 3)  # readings while it runs
        await stop_test(sims[0], [1])
        await polled(logger, 2)  # the stop reading and one after it
        logger.stop()
        await run

    events = query(url, "SELECT channel, event, status, test_name FROM test_events ORDER BY 3")
    kinds = [
        (e[0], e[1])
        for e in query(url, "SELECT channel, event FROM test_events ORDER BY unix_time_s")
    ]
    assert kinds == [(1, "started"), (1, "stopped")], events
    ((test_id, ended_s, end_status),) = query(url, "SELECT test_id, ended_s, end_status FROM tests")
    assert ended_s is not None and end_status in ("Idle", "Finished")
    ids = [
        r[0]
        for r in query(url, "SELECT test_id FROM readings WHERE channel = 1 ORDER BY unix_time_s")
    ]
    # None before the start, the test's id while it runs (and on the stop reading), then None.
    first = ids.index(test_id)
    last = len(ids) - 1 - ids[::-1].index(test_id)
    assert set(ids[:first]) == {None} and set(ids[last + 1 :]) == {None}
    assert set(ids[first : last + 1]) == {test_id}
    assert first >= 1 and last < len(ids) - 1
    assert query(
        url, "SELECT count(*) FROM readings WHERE channel = 2 AND test_id IS NOT NULL"
    ) == [(0,)]


@run_async
async def test_a_cycler_killed_and_restarted_leaves_a_gap_and_logging_goes_on(
    db_url: str,
) -> None:
    async with simulators(1) as (steady,):
        flaky = await Simulator(channels=8).start_async()
        port = flaky.port
        try:
            sims = [steady, flaky]
            logger = Logger(
                specs(sims),
                [open_sink(db_url)],
                interval_s=INTERVAL_S,
                backoff_s=0.1,
                max_backoff_s=0.3,
            )
            run = asyncio.get_running_loop().create_task(logger.run())
            await polled(logger, 3)
            killed_at = time.time()
            await flaky.stop_async()

            def sim1() -> CyclerHealth:
                return logger.health().cyclers[1]

            # Down for at least five poll slots, however long the machine takes to get there.
            await until(lambda: sim1().gap_intervals >= 5, "five poll slots of sim1 without data")
            down_intervals = sim1().gap_intervals
            states = {c.name: c.state for c in logger.health().cyclers}
            assert states == {"sim0": CyclerState.CONNECTED, "sim1": CyclerState.DISCONNECTED}
            flaky = await Simulator(channels=8, port=port).start_async()
            restarted_at = time.time()
            await polled(logger, 2)  # sim1 is read again (polls count successful reads)
            assert {c.name: c.state for c in logger.health().cyclers}["sim1"] is (
                CyclerState.CONNECTED
            )
            logger.stop()
            await run
        finally:
            await flaky.stop_async()

    health = {c.name: c for c in logger.health().cyclers}
    # The steady cycler was not delayed: complete, no gap.
    assert health["sim0"].gaps == 0 and health["sim0"].errors == 0
    assert_complete(db_url, "sim0", 8, health["sim0"].polls, health["sim0"].missed_intervals)
    # The restarted one: one gap, recorded with its bounds, then readings again.
    ((start_s, end_s, missed, reason),) = query(
        db_url, "SELECT start_s, end_s, missed_intervals, reason FROM gaps WHERE cycler = 'sim1'"
    )
    assert start_s <= killed_at < end_s
    assert end_s >= restarted_at
    assert missed >= down_intervals
    assert reason
    times = readings_by_channel(db_url, "sim1")[1]
    before = [t for t in times if t <= start_s]
    after = [t for t in times if t >= end_s]
    assert before and after and len(before) + len(after) == len(times)
    assert max(before) == start_s and min(after) == end_s
    assert health["sim1"].errors >= 1 and health["sim1"].gaps == 1
    integrity_ok(db_url)


@run_async
async def test_an_unreachable_cycler_does_not_hold_up_the_others(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    # A simulator that accepts connections and never answers.
    async with simulators(1) as (good,), simulators(1, silent=True) as (silent,):
        logger = Logger(
            specs([good, silent]), [open_sink(url)], interval_s=INTERVAL_S, timeout_s=0.5
        )
        await logger.run(duration_s=2.0)
    health = {c.name: c for c in logger.health().cyclers}
    assert health["sim0"].missed_intervals == 0 and health["sim0"].polls >= 7
    assert_complete(url, "sim0", 8, health["sim0"].polls, 0)
    assert health["sim1"].polls == 0 and health["sim1"].errors >= 1
    # The gap is open while the logger runs and closed (at the stop) when it ends.
    ((end_s, reason),) = query(url, "SELECT end_s, reason FROM gaps WHERE cycler = 'sim1'")
    assert end_s is not None and "no answer" in reason


@run_async
async def test_database_outage_buffers_spills_and_drains_in_order(tmp_path: Path) -> None:
    path = tmp_path / "lab.db"
    url = f"sqlite:///{path}"
    sink = outage_sink(SqliteDatabase(path, busy_timeout_s=0.05))
    async with simulators(2) as sims:
        logger = Logger(specs(sims), [sink], interval_s=INTERVAL_S)
        run = asyncio.get_running_loop().create_task(logger.run())
        await until(lambda: sink.stats().readings_written > 0, "the first readings written")
        # Another process holds the database until the sink spilled: every write fails meanwhile.
        with closing(sqlite3.connect(path, isolation_level=None)) as blocker:
            blocker.execute("BEGIN EXCLUSIVE")
            await until(lambda: sink.stats().spilled_rows > 0, "rows spilled")
            during = sink.stats()
            blocker.execute("COMMIT")
        # Draining takes as long as the machine needs: wait for it, don't guess a duration.
        await until(
            lambda: sink.stats().backlog_rows == 0 and sink.stats().spilled_rows == 0,
            "the backlog and the spill file to drain",
        )
        after = sink.stats()
        logger.stop()
        await run

    assert (during.write_errors >= 1 and not during.connected) or during.last_error
    assert during.spilled_rows > 0 and during.down_since_s is not None
    assert after.backlog_rows == 0 and after.spilled_rows == 0
    for cycler in logger.health().cyclers:
        assert_complete(url, cycler.name, 8, cycler.polls, cycler.missed_intervals)
    assert not Path(str(path) + ".spill").exists()
    integrity_ok(url)


@run_async
async def test_database_unreachable_at_stop_spills_and_next_run_writes_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lab.db"
    url = f"sqlite:///{path}"
    spill = tmp_path / "spill.sqlite"
    async with simulators(1, channels=4) as sims:
        sink = DatabaseSink(
            SqliteDatabase(path, busy_timeout_s=0.05), spill_path=spill, retry_backoff_s=0.1
        )
        logger = Logger(specs(sims), [sink], interval_s=INTERVAL_S)
        with closing(sqlite3.connect(path, isolation_level=None)) as blocker:
            # The schema exists, then the database stays locked for the whole run.
            schema = SqliteDatabase(path)
            schema.connect()
            schema.disconnect()
            blocker.execute("BEGIN EXCLUSIVE")
            await logger.run(duration_s=1.0)
            blocker.execute("COMMIT")
        polls = logger.health().cyclers[0].polls
        assert spill.exists() and sink.stats().spilled_rows >= polls * 4
        assert query(url, "SELECT count(*) FROM readings") == [(0,)]

        # The next run, a second later, drains the spill file first.
        await asyncio.sleep(1.0)
        second = Logger(specs(sims), [open_sink(url, spill_path=spill)], interval_s=INTERVAL_S)
        await second.run(duration_s=0.6)
    total = polls + second.health().cyclers[0].polls
    assert query(url, "SELECT count(*) FROM readings") == [(total * 4,)]
    assert not spill.exists()
    # The pause between the two runs is recorded as a gap of the logger itself.
    reasons = [r[0] for r in query(url, "SELECT reason FROM gaps")]
    assert reasons == ["logger not running"]


class Recorder(Listener):
    def __init__(self) -> None:
        self.batches: list[ReadingBatch] = []
        self.gaps: list[Gap] = []
        self.stopped = False
        self.started_with: list[str] = []

    async def on_start(self, cyclers: list[str]) -> None:  # type: ignore[override]
        self.started_with = list(cyclers)

    async def on_readings(self, batch: ReadingBatch) -> None:
        self.batches.append(batch)

    async def on_gap(self, gap: Gap) -> None:
        self.gaps.append(gap)

    async def stop(self) -> None:
        self.stopped = True


class Broken(Listener):
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    async def on_readings(self, batch: ReadingBatch) -> None:
        raise RuntimeError("listener bug")

    async def on_error(self, cycler: str | None, error: BaseException) -> None:
        self.errors.append(error)


@run_async
async def test_listeners_share_the_readings_and_a_failing_one_harms_nobody() -> None:
    recorder, broken = Recorder(), Broken()
    async with simulators(2, channels=3) as sims:
        logger = Logger(specs(sims), [broken, recorder], interval_s=INTERVAL_S)
        await logger.run(duration_s=1.0)
    assert recorder.stopped and recorder.started_with == ["sim0", "sim1"]
    polls = {c.name: c.polls for c in logger.health().cyclers}
    for name in ("sim0", "sim1"):
        batches = [b for b in recorder.batches if b.cycler.name == name]
        assert len(batches) == polls[name] >= 3
        indexes = [b.interval_index for b in batches]
        assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
        assert all([r.channel for r in b.readings] == [1, 2, 3] for b in batches)
    assert len(broken.errors) == sum(polls.values())
    assert all(isinstance(e, RuntimeError) for e in broken.errors)


@run_async
async def test_on_change_stores_only_changes_and_heartbeats(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    async with simulators(1, channels=3) as sims:
        await start_test(sims[0], [1], "moving")
        sink = open_sink(url, on_change=OnChangeFilter(max_interval_s=1.0))
        logger = Logger(specs(sims), [sink], interval_s=0.1)
        await logger.run(duration_s=2.5)
    polls = logger.health().cyclers[0].polls
    counts = dict(query(url, "SELECT channel, count(*) FROM readings GROUP BY channel"))
    # Idle channels: the first reading, a heartbeat each second, the last one at the stop.
    assert 3 <= counts[2] <= 5 and 3 <= counts[3] <= 5
    # The charging channel changes (capacity grows): most of its readings are kept.
    assert counts[1] > polls // 2


def test_a_port_answering_without_channels_is_an_error_not_an_empty_log(tmp_path: Path) -> None:
    # The file port answers a login, but a read of every channel with no channel.
    with Simulator(channels=2, users={USER: PASSWORD}) as sim:
        assert sim.file_port is not None
        spec = CyclerSpec("files", sim.host, sim.file_port, USER, PASSWORD)
        logger = Logger([spec], [open_sink(f"sqlite:///{tmp_path / 'lab.db'}")], interval_s=0.1)
        asyncio.run(logger.run(duration_s=0.5))
    health = logger.health().cyclers[0]
    assert health.readings == 0 and health.errors >= 1 and health.gaps == 1
    assert health.last_error == (
        f"{spec.address} answered a read of every channel with no channel: "
        f"is {spec.port} its CTI control port?"
    )


def test_one_address_under_two_names_is_refused() -> None:
    specs = [CyclerSpec("a", "Lab-7", 9031), CyclerSpec("b", "lab-7", 9031)]
    with pytest.raises(ValueError, match=r"the same cycler is named twice: lab-7:9031 \(a and b\)"):
        Logger(specs, [])
    Logger([CyclerSpec("a", "lab-7", 9031), CyclerSpec("b", "lab-7", 9041)], [])
