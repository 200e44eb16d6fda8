"""The control loop against the simulator's MV_Current.sdx (the current follows MV_UD1)."""

from __future__ import annotations

import asyncio
import csv
import logging
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from lab_servers import PASSWORD, USER
from pyctiarbin.client import AsyncCyclerClient
from pyctiarbin.control import (
    ControlInput,
    ControlLoop,
    ControlRecord,
    ControlReport,
    CsvRecorder,
    Done,
    Fault,
    Outcome,
    SafeState,
)
from pyctiarbin.protocol import StatusCode
from pyctiarbin.simulator import Simulator

PERIOD_S = 0.25


def control(
    sim: Simulator,
    channels: list[int],
    make_loop: Callable[[AsyncCyclerClient], ControlLoop],
    *,
    during: Callable[[ControlLoop], Awaitable[None]] | None = None,
    schedule: str = "MV_Current.sdx",
) -> ControlReport:
    """Start ``schedule`` on ``channels`` and run the loop ``make_loop`` builds to its end."""

    async def main() -> ControlReport:
        async with AsyncCyclerClient(sim.host, sim.port, username=USER, password=PASSWORD) as c:
            await c.assign_schedule(channels, schedule)
            await c.start(channels, "control-test")
            loop = make_loop(c)
            if during is None:
                return await asyncio.wait_for(loop.run(), 30)
            task = asyncio.create_task(loop.run())
            await during(loop)
            return await asyncio.wait_for(task, 30)

    return asyncio.run(main())


class Schedule:
    """An algorithm class: a current profile per channel, by iteration; Done at the end."""

    def __init__(self, profiles: dict[int, list[float]]) -> None:
        self.profiles = profiles
        self.seen: dict[int, list[ControlInput]] = {ch: [] for ch in profiles}

    def __call__(self, inp: ControlInput) -> float:
        self.seen[inp.channel].append(inp)
        profile = self.profiles[inp.channel]
        if inp.iteration >= len(profile):
            raise Done("profile complete")
        return profile[inp.iteration]


def test_current_follows_the_algorithm_batched(simulator: Simulator) -> None:
    profiles = {1: [1.0, 1.0, 2.5, 2.5, -1.5, -1.5, 0.5], 6: [-2.0, -2.0, 3.0, 3.0, 0.0, 0.0, 1.0]}
    algorithm = Schedule(profiles)
    records: list[ControlRecord] = []
    report = control(
        simulator,
        [1, 6],
        lambda c: ControlLoop(
            c, [1, 6], algorithm, period_s=PERIOD_S, bounds=(-5.0, 5.0), on_record=records.append
        ),
    )
    for channel, profile in profiles.items():
        result = report.channels[channel]
        assert result.outcome is Outcome.DONE, result
        assert result.writes == len(profile)
        assert result.last_setpoints == {"MV_UD1": profile[-1]}
        # Each reading shows the current the previous setpoint asked for.
        seen = algorithm.seen[channel]
        measured = [inp.current_a for inp in seen[1:]]
        assert measured == pytest.approx(profile, abs=1e-3)
        assert simulator.channel(channel).meta_variables[0] == profile[-1]
        # The test keeps running on its schedule after the algorithm is done.
        assert simulator.channel(channel).status.is_running
        # Setpoints of both channels went out in one batch per tick.
        ticks = [r.iteration for r in records if r.channel == channel]
        assert ticks == list(range(len(profile)))
    assert report.ok and report.missed_deadlines == 0
    assert [(r.channel, r.setpoints["MV_UD1"]) for r in records[:2]] == [(1, 1.0), (6, -2.0)]
    assert records[0].unix_time_s == pytest.approx(records[1].unix_time_s)
    # Eight ticks (seven setpoints, then Done), one a period, none before its slot on the
    # loop's own clock.
    assert report.iterations == 8
    assert all(r.elapsed_s >= r.iteration * PERIOD_S for r in records)
    assert report.elapsed_s >= 7 * PERIOD_S


def test_single_writes_and_csv_record(simulator: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "setpoints.csv"
    profile = [0.5, 1.5, 1.5]
    with CsvRecorder(path) as recorder:
        report = control(
            simulator,
            [3],
            lambda c: ControlLoop(
                c,
                3,
                Schedule({3: profile}),
                period_s=PERIOD_S,
                batch=False,
                aux=True,
                on_record=recorder,
            ),
        )
    assert report.channels[3].outcome is Outcome.DONE
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["value"]) for r in rows] == profile
    assert [r["variable"] for r in rows] == ["MV_UD1"] * 3
    assert float(rows[2]["current_a"]) == pytest.approx(1.5, abs=1e-3)
    assert float(rows[0]["temperature_c"]) == pytest.approx(25.0, abs=1.0)


def test_algorithm_raising_puts_the_channel_in_its_safe_state(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    def algorithm(inp: ControlInput) -> float:
        if inp.channel == 2 and inp.iteration == 3:
            raise ZeroDivisionError("model diverged")
        if inp.iteration >= 6:
            raise Done()
        return 2.0

    report = control(
        simulator,
        [2, 4],
        lambda c: ControlLoop(
            c, [2, 4], algorithm, period_s=PERIOD_S, safe_state=SafeState(mv=0.0)
        ),
    )
    faulty, healthy = report.channels[2], report.channels[4]
    assert faulty.outcome is Outcome.SAFE_STATE and faulty.fault is Fault.ALGORITHM_ERROR
    assert "ZeroDivisionError: model diverged" in faulty.reason
    assert faulty.safe_state_applied and faulty.last_setpoints == {"MV_UD1": 0.0}
    assert faulty.iterations == 4
    assert healthy.outcome is Outcome.DONE and healthy.iterations == 7
    assert report.faults == {2: faulty} and not report.ok
    snapshot = simulator.channel(2)
    assert snapshot.meta_variables[0] == 0.0
    assert snapshot.record.current_a == pytest.approx(0.0, abs=1e-6)
    assert simulator.channel(4).record.current_a == pytest.approx(2.0, abs=1e-3)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("ch 2: safe state (MV_UD1=0)" in m and "model diverged" in m for m in errors)


@pytest.mark.parametrize(
    ("returned", "fault", "reason"),
    [
        (math.nan, Fault.NOT_FINITE, "MV_UD1 = nan is not finite"),
        (math.inf, Fault.NOT_FINITE, "is not finite"),
        (7.5, Fault.OUT_OF_BOUNDS, "MV_UD1 = 7.5 is outside [-3, 3]"),
        ({"MV_UD2": 9.0}, Fault.OUT_OF_BOUNDS, "MV_UD2 = 9 is outside [0, 1]"),
        ("1.0", Fault.BAD_SETPOINT, "MV_UD1 = '1.0' is not a number"),
        ({"MV_UD99": 1.0}, Fault.BAD_SETPOINT, "unknown meta variable 'MV_UD99'"),
        ({}, Fault.BAD_SETPOINT, "empty mapping"),
    ],
)
def test_bad_setpoints_stop_the_test(
    simulator: Simulator, returned: Any, fault: Fault, reason: str
) -> None:
    def algorithm(inp: ControlInput) -> Any:
        return 1.0 if inp.iteration < 2 else returned

    bounds: dict[str | int, tuple[float, float]] = {"MV_UD1": (-3.0, 3.0), 2: (0.0, 1.0)}
    report = control(
        simulator,
        [5],
        lambda c: ControlLoop(
            c, 5, algorithm, period_s=PERIOD_S, bounds=bounds, safe_state=SafeState.stop_test()
        ),
    )
    result = report.channels[5]
    assert result.outcome is Outcome.SAFE_STATE and result.fault is fault
    assert reason in result.reason
    assert result.safe_state_applied and result.last_setpoints == {"MV_UD1": 1.0}
    assert not simulator.channel(5).status.is_running


def test_missed_deadlines_trigger_the_safe_state(simulator: Simulator) -> None:
    calls: list[int] = []

    def slow(inp: ControlInput) -> float:
        calls.append(inp.iteration)
        if inp.iteration >= 2:
            time.sleep(0.3)  # longer than the period: every tick from here is late
        return 1.0

    report = control(
        simulator,
        [7],
        lambda c: ControlLoop(
            c,
            7,
            slow,
            period_s=PERIOD_S,
            max_missed_deadlines=3,
            safe_state=SafeState(mv=0.0, stop=True),
        ),
    )
    result = report.channels[7]
    assert result.outcome is Outcome.SAFE_STATE and result.fault is Fault.DEADLINE
    assert "3 ticks missed in a row" in result.reason
    assert report.missed_deadlines == 3 and len(calls) == 5
    assert result.safe_state_applied
    assert simulator.channel(7).meta_variables[0] == 0.0
    assert not simulator.channel(7).status.is_running


def test_loop_ends_cleanly_when_the_test_ends(simulator: Simulator) -> None:
    async def end_tests(loop: ControlLoop) -> None:
        await asyncio.sleep(3 * PERIOD_S)
        simulator.make_unsafe(1, "Unsafe: test")
        async with AsyncCyclerClient(
            simulator.host, simulator.port, username=USER, password=PASSWORD
        ) as other:
            await other.stop(2)

    report = control(
        simulator,
        [1, 2],
        lambda c: ControlLoop(c, [1, 2], lambda inp: 1.0, period_s=PERIOD_S),
        during=end_tests,
    )
    assert report.ok
    assert report.channels[1].outcome is Outcome.TEST_ENDED
    assert report.channels[1].final_status == "Unsafe"
    assert report.channels[2].outcome is Outcome.TEST_ENDED
    assert report.channels[2].reason in (
        "the test is Idle",
        "the test is Finished",
        "the test is not running any more",
    )


def test_pause_holds_and_stop_applies_the_safe_state(simulator: Simulator) -> None:
    calls: list[float] = []

    def algorithm(inp: ControlInput) -> float:
        calls.append(inp.elapsed_s)
        return 1.5

    async def pause_then_stop(loop: ControlLoop) -> None:
        await asyncio.sleep(2 * PERIOD_S)
        simulator.pause(8)
        await asyncio.sleep(0.1)
        before = len(calls)
        await asyncio.sleep(4 * PERIOD_S)
        assert len(calls) == before  # paused: the algorithm is not called
        assert simulator.channel(8).status == StatusCode.PAUSE
        loop.stop("operator ended the experiment")

    report = control(
        simulator,
        [8],
        lambda c: ControlLoop(
            c, 8, algorithm, period_s=PERIOD_S, safe_state=SafeState.stop_test(0.0)
        ),
        during=pause_then_stop,
    )
    result = report.channels[8]
    assert result.outcome is Outcome.STOPPED and result.fault is None
    assert result.reason == "operator ended the experiment"
    assert result.final_status == "Pause"
    assert simulator.channel(8).meta_variables[0] == 0.0


def test_period_and_options_are_validated(simulator: Simulator) -> None:
    async def build(**options: Any) -> None:
        async with AsyncCyclerClient(
            simulator.host, simulator.port, username=USER, password=PASSWORD
        ) as c:
            ControlLoop(c, 1, lambda inp: 0.0, **options)

    with pytest.raises(ValueError, match=r"at least 0.2 s, not 0.1: the cycler refuses"):
        asyncio.run(build(period_s=0.1))
    with pytest.raises(ValueError, match="unknown meta variable 'MV_UD17'"):
        asyncio.run(build(variable="MV_UD17"))
    with pytest.raises(ValueError, match="low <= high"):
        asyncio.run(build(bounds=(1.0, -1.0)))
    with pytest.raises(ValueError, match="must write a value"):
        SafeState(mv=None)
    asyncio.run(build(period_s=0.2))


def test_cancellation_applies_the_safe_state(simulator: Simulator) -> None:
    async def main() -> None:
        async with AsyncCyclerClient(
            simulator.host, simulator.port, username=USER, password=PASSWORD
        ) as c:
            await c.assign_schedule(6, "MV_Current.sdx")
            await c.start(6, "cancel")
            loop = ControlLoop(c, 6, lambda inp: 2.0, period_s=PERIOD_S)
            task = asyncio.create_task(loop.run())
            await asyncio.sleep(3 * PERIOD_S)
            assert simulator.channel(6).record.current_a == pytest.approx(2.0, abs=1e-3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            result = loop.results[6]
            assert result.outcome is Outcome.STOPPED
            assert result.reason == "the control loop was cancelled"
            assert result.safe_state_applied

    asyncio.run(main())
    assert simulator.channel(6).meta_variables[0] == 0.0
    assert simulator.channel(6).record.current_a == pytest.approx(0.0, abs=1e-6)


def test_blocking_helper_with_a_time_limit(simulator: Simulator) -> None:
    from pyctiarbin.client import CyclerClient
    from pyctiarbin.control import run_control_loop

    with CyclerClient(simulator.host, simulator.port, username=USER, password=PASSWORD) as c:
        c.assign_schedule(3, "MV_Current.sdx")
        c.start(3, "blocking")
    report = run_control_loop(
        simulator.host,
        simulator.port,
        channels=[3],
        algorithm=lambda inp: -1.0,
        username=USER,
        password=PASSWORD,
        period_s=PERIOD_S,
        max_duration_s=1.0,
        safe_state_on_stop=False,
    )
    result = report.channels[3]
    assert result.outcome is Outcome.STOPPED and "time limit of 1.0 s" in result.reason
    assert 3 <= result.writes <= 5
    assert simulator.channel(3).record.current_a == pytest.approx(-1.0, abs=1e-3)


def test_unknown_channel_is_refused_before_anything_is_written(simulator: Simulator) -> None:
    async def main() -> None:
        client = AsyncCyclerClient(simulator.host, simulator.port, username=USER, password=PASSWORD)
        async with client:
            loop = ControlLoop(client, [1, 9], lambda inp: 1.0, period_s=PERIOD_S)
            with pytest.raises(
                ValueError, match=r"channel\(s\) \[9\] do not exist: the cycler has 8"
            ):
                await loop.run()

    asyncio.run(main())


def test_shortest_period_keeps_its_rhythm_without_refusals(simulator: Simulator) -> None:
    """At 0.2 s the cycler's 200 ms limit is tight: no write refused, never faster than allowed.

    Only what the loop guarantees by construction is asserted; how much later than its tick an
    iteration runs depends on the machine's load, so no upper bound on time is checked here.
    """
    records: list[ControlRecord] = []

    def algorithm(inp: ControlInput) -> float:
        if inp.iteration >= 25:
            raise Done()
        return 0.1 * inp.iteration

    report = control(
        simulator,
        [1, 2],
        lambda c: ControlLoop(c, [1, 2], algorithm, period_s=0.2, on_record=records.append),
    )
    # A write the cycler refused as too frequent would end the channel in a fault or leave
    # fewer than 25 accepted writes.
    assert all(r.outcome is Outcome.DONE and r.writes == 25 for r in report.channels.values())
    assert not report.faults
    for channel in (1, 2):
        times = [r.elapsed_s for r in records if r.channel == channel]
        assert len(times) == 25
        # Ticks are at least MIN_TICK_S (0.21 s) apart on the loop's clock; averaged over 24
        # gaps, the jitter of where in an iteration the record is taken cannot bring the mean
        # under the cycler's 200 ms.
        assert (times[-1] - times[0]) / (len(times) - 1) >= 0.2, times
