"""Physics seen over the wire: a CCCV charge at 3600x reaches its voltage limit and tapers
the current like a real cell; simulated time follows --speed; MV_UD1 drives a current.

The simulator runs on a clock of the test's own (``Cycler.set_clock``), so what a test sees
depends on the time it lets pass, not on the load of the machine.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import pytest

from pyctiarbin.protocol import (
    AssignScheduleRequest,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    ChannelRecord,
    SetMetaVariableRequest,
    StartRequest,
    StatusCode,
)
from pyctiarbin.simulator import Simulator
from pyctiarbin.simulator.rawclient import RawClient

from .clock import ManualClock


@contextlib.contextmanager
def started_on_manual_clock(
    speed: float, schedule: str, channel_index: int = 0, channels: int = 1
) -> Iterator[tuple[Simulator, RawClient, ManualClock]]:
    """A simulator on a manual clock, and a logged-in client whose ``channel_index`` runs
    ``schedule``."""
    clock = ManualClock()
    with Simulator(channels=channels, speed=speed) as sim, RawClient(sim.host, sim.port) as client:
        sim.cycler.set_clock(clock)
        client.login("admin", "admin")
        assign = AssignScheduleRequest(channel_index=channel_index, schedule=schedule)
        assert client.result(assign) == 0
        start = StartRequest(test_name=schedule, channel_indexes=(channel_index,))
        assert client.result(start) == 0
        yield sim, client, clock


def read(client: RawClient, index: int) -> ChannelRecord:
    answer = client.request(ChannelInfoRequest(channel_index=index))
    assert isinstance(answer, ChannelInfoFeedback)
    return answer.channels[0]


def test_cccv_charge_reaches_its_limit_and_tapers() -> None:
    with started_on_manual_clock(3600.0, "CCCV_Charge.sdx", 1, channels=2) as (sim, client, clock):
        samples: list[ChannelRecord] = []
        # 18 simulated seconds between reads; the charge takes well under 20 simulated hours.
        for _ in range(4000):
            record = read(client, 1)
            samples.append(record)
            if record.status is StatusCode.FINISHED:
                break
            clock.advance(0.005)
        assert samples[-1].status is StatusCode.FINISHED, "the charge did not finish in time"
        running = [s for s in samples if s.status is StatusCode.CHARGE]
        # One CCCV step: "Step and Cycle" says " CV" once the voltage is held.
        cc = [s for s in running if s.step_and_cycle_format.endswith("CCCV")]
        cv = [s for s in running if s.step_and_cycle_format.endswith("CCCV CV")]
        assert len(cc) >= 10 and len(cv) >= 10, (len(cc), len(cv))

        # CC: constant 1C (3 A), voltage rising towards 4.2 V.
        assert all(s.current_a == pytest.approx(3.0) for s in cc)
        assert all(a.voltage_v <= b.voltage_v + 1e-4 for a, b in itertools.pairwise(cc))
        assert cc[0].voltage_v < 4.1
        # CV: voltage held at the limit, current tapering down to the C/20 cut-off.
        assert all(s.voltage_v == pytest.approx(4.2, abs=5e-3) for s in cv)
        assert all(b.current_a <= a.current_a + 1e-3 for a, b in itertools.pairwise(cv))
        assert cv[0].current_a > 1.0 and cv[-1].current_a < 0.3
        assert max(s.voltage_v for s in samples) <= 4.2 + 5e-3
        assert samples[-1].exit_condition.startswith("PV_CHAN_CV_Stage_Current<0.15")

        # Capacity grows monotonically; energy is the integral of V*I.
        capacities = [s.charge_capacity_ah for s in samples]
        assert all(a <= b + 1e-6 for a, b in itertools.pairwise(capacities))
        assert samples[-1].charge_capacity_ah > 1.2
        assert all(s.discharge_capacity_ah == 0.0 for s in samples)
        energy_wh = 0.0
        for a, b in itertools.pairwise(running):
            dt_h = (b.test_time_s - a.test_time_s) / 3600.0
            energy_wh += 0.5 * (a.voltage_v * a.current_a + b.voltage_v * b.current_a) * dt_h
        covered = running[-1].charge_energy_wh - running[0].charge_energy_wh
        assert energy_wh == pytest.approx(covered, rel=0.03)
        # Power is V*I, and the cell warms up while charging.
        assert all(s.power_w == pytest.approx(s.voltage_v * s.current_a, rel=1e-4) for s in cc)
        assert sim.channel(2).reading.temperature_c > 25.0


def test_simulated_time_follows_speed() -> None:
    with started_on_manual_clock(120.0, "Rest.sdx") as (sim, client, clock):
        clock.advance(0.5)
        record = read(client, 0)
        assert record.test_time_s == pytest.approx(120.0 * 0.5)
        assert record.step_time_s == pytest.approx(record.test_time_s)
        sim.set_speed(1.0)
        before = read(client, 0).test_time_s
        clock.advance(0.2)
        assert read(client, 0).test_time_s - before == pytest.approx(0.2)


def test_meta_variable_drives_the_current_and_the_capacity() -> None:
    with started_on_manual_clock(600.0, "MV_Current.sdx") as (sim, client, clock):
        assert read(client, 0).status is StatusCode.REST  # MV_UD1 = 0: no current
        client.request(SetMetaVariableRequest(channel_index=0, value=-1.5))
        clock.advance(0.3)
        record = read(client, 0)
        assert record.status is StatusCode.DISCHARGE
        assert record.current_a == pytest.approx(-1.5)
        assert record.discharge_capacity_ah > 0.05 and record.charge_capacity_ah == 0.0
        assert record.discharge_energy_wh == pytest.approx(
            record.discharge_capacity_ah * 3.7, rel=0.1
        )
        assert sim.channel(1).soc < 0.5
