"""A logged cycling test: a simulator running a few cycles fast, logged into a database."""

from __future__ import annotations

from pyctiarbin import AsyncCyclerClient
from pyctiarbin.logger import CyclerSpec, Logger, open_sink
from pyctiarbin.simulator import Simulator

from .support import PASSWORD, USER


async def log_cycling(
    url: str,
    *,
    duration_s: float = 3.0,
    channels: int = 3,
    speed: float = 12000.0,
    interval_s: float = 0.03,
    test_name: str = "frames",
    aux_temperature: tuple[int, float] = (1, 29.25),
) -> None:
    """Channels 1 and 2 of a simulator run Cycle_CCCV.sdx (``test_name``) fast, logged as
    ``bay1``; one channel has an aux temperature (channel, degC); the other channels stay idle.

    By default: 3 channels at 12000x speed, about three cycles in three seconds, logged every
    30 ms, channel 1 at 29.25 degC."""
    async with Simulator(channels=channels, speed=speed) as sim:
        async with AsyncCyclerClient(sim.host, sim.port, username=USER, password=PASSWORD) as c:
            await c.assign_schedule([1, 2], "Cycle_CCCV.sdx")
            await c.start([1, 2], test_name)
        channel, temperature_c = aux_temperature
        sim.set_aux(channel, temperature_c=temperature_c)
        logger = Logger(
            [CyclerSpec("bay1", sim.host, sim.port, USER, PASSWORD)],
            [open_sink(url)],
            interval_s=interval_s,
        )
        await logger.run(duration_s=duration_s)
