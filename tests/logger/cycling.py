"""A logged cycling test: a simulator running a few cycles fast, logged into a database."""

from __future__ import annotations

from pyctiarbin import AsyncCyclerClient
from pyctiarbin.logger import CyclerSpec, Logger, open_sink
from pyctiarbin.simulator import Simulator

from .support import PASSWORD, USER


async def log_cycling(url: str, *, duration_s: float = 3.0) -> None:
    """Channels 1 and 2 of a 3-channel simulator run Cycle_CCCV.sdx (test name ``frames``)
    at 12000x speed, about three cycles in three seconds, logged every 30 ms as ``bay1``;
    channel 1 has an aux temperature of 29.25 degC; channel 3 stays idle."""
    async with Simulator(channels=3, speed=12000.0) as sim:
        async with AsyncCyclerClient(sim.host, sim.port, username=USER, password=PASSWORD) as c:
            await c.assign_schedule([1, 2], "Cycle_CCCV.sdx")
            await c.start([1, 2], "frames")
        sim.set_aux(1, temperature_c=29.25)
        logger = Logger(
            [CyclerSpec("bay1", sim.host, sim.port, USER, PASSWORD)],
            [open_sink(url)],
            interval_s=0.03,
        )
        await logger.run(duration_s=duration_s)
