"""examples/fast_charge.py, end to end against the simulator's MV_Current.sdx."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lab_servers import PASSWORD, USER
from pyctiarbin.client import AsyncCyclerClient
from pyctiarbin.control import ControlRecord, Outcome
from pyctiarbin.simulator import Simulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fast_charge.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fast_charge_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_fast_charge_steps_down_and_completes(example: ModuleType) -> None:
    records: list[ControlRecord] = []
    algorithm = example.StepDownFastCharge(capacity_ah=3.0)
    with Simulator(channels=3, speed=300.0) as sim:
        soc_before = sim.channel(2).soc

        async def main() -> object:
            async with AsyncCyclerClient(sim.host, sim.port, username=USER, password=PASSWORD) as c:
                return await example.fast_charge(
                    c, [2, 3], algorithm, period_s=0.25, records=records
                )

        report = asyncio.run(main())
        final = sim.channel(2)
    for channel in (2, 3):
        result = report.channels[channel]  # type: ignore[attr-defined]
        assert result.outcome is Outcome.DONE, result
        assert result.reason.startswith("charged: ") and result.reason.endswith("test stopped")
        stages = [stage for stage, _, _ in algorithm.stages[channel]]
        assert stages == [0, 1, 2, 3]
        written = [r for r in records if r.channel == channel]
        currents = [r.setpoints["MV_UD1"] for r in written]
        # 6 A, 4.5 A, 3 A, 1.5 A (halved if the cell got hotter than 40 °C), never rising.
        assert currents[0] == 6.0 and currents[-1] in (1.5, 0.75)
        assert all(b <= a for a, b in itertools.pairwise(currents))
        # Every reading after the first shows the current written one tick before.
        for before, after in itertools.pairwise(written):
            assert after.status.current_a == pytest.approx(before.setpoints["MV_UD1"], abs=1e-3)
        assert all(r.status.voltage_v < 4.2 for r in written)
    assert not final.status.is_running
    assert final.soc > soc_before + 0.2


def test_fast_charge_command_line(example: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert example.main(["--channels", "1", "--speed", "400", "--period", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "done" in out and "2.0C@0.0 1.5C@" in out
