"""Standalone alerts: poll cyclers with :class:`AsyncCyclerClient` and feed an engine.

Inside the data logger the engine listens to the logger's readings instead (see
:mod:`pyctiarbin.alerts.listener`); this poller is for ``pycti alerts`` run on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from ..client import AsyncCyclerClient
from ..errors import CtiError
from .engine import AlertEngine
from .notifiers import AsyncClientStopper

__all__ = ["AlertMonitor"]

log = logging.getLogger("pyctiarbin.alerts")


class AlertMonitor:
    """Reads every channel of each cycler every ``interval_s`` (one request per cycler, with
    aux data when ``aux``) and hands the readings, or the error, to ``engine``.

    ``clients`` maps cycler names (as rules name them) to clients; the monitor neither opens
    nor closes them. Rules with ``action = "stop"`` stop channels through the same clients.
    A read slower than the interval skips the slots it overran (no burst of catch-up reads).

    Raises:
        ValueError: from the constructor for no cycler or a non-positive interval.
    """

    def __init__(
        self,
        engine: AlertEngine,
        clients: Mapping[str, AsyncCyclerClient],
        *,
        interval_s: float = 1.0,
        aux: bool = True,
    ) -> None:
        if not clients:
            raise ValueError("the alert monitor needs at least one cycler")
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, not {interval_s!r}")
        self.engine = engine
        self.clients = dict(clients)
        self.interval_s = float(interval_s)
        self.aux = aux
        self.polls = 0
        self.failures = 0
        self._stop: asyncio.Event | None = None

    def stop(self) -> None:
        """Ask :meth:`run` to return (call it on the monitor's event loop)."""
        if self._stop is not None:
            self._stop.set()

    async def run(self, duration_s: float | None = None) -> None:
        """Poll until :meth:`stop`, cancellation, or ``duration_s`` seconds have passed.

        Close the engine after this returns (outside the event loop or with
        ``asyncio.to_thread``), so that queued alerts are delivered.
        """
        self._stop = asyncio.Event()
        self.engine.set_stopper(AsyncClientStopper(self.clients, asyncio.get_running_loop()))
        tasks = [
            asyncio.create_task(self._poll(name, client), name=f"alerts-poll-{name}")
            for name, client in self.clients.items()
        ]
        try:
            if duration_s is None:
                await self._stop.wait()
            else:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), duration_s)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll(self, name: str, client: AsyncCyclerClient) -> None:
        start = time.monotonic()
        slot = 0
        failing = False
        while True:
            try:
                statuses = await client.read_channels(aux=self.aux)
            except (CtiError, OSError) as exc:
                self.failures += 1
                if not failing:
                    log.warning("cannot read cycler %s: %s", name, exc)
                failing = True
                self.engine.on_error(name, exc, time.time())
            else:
                if failing:
                    log.info("cycler %s can be read again", name)
                failing = False
                self.polls += 1
                self.engine.on_readings(name, statuses, time.time())
            slot = max(slot + 1, int((time.monotonic() - start) / self.interval_s) + 1)
            await asyncio.sleep(max(0.0, start + slot * self.interval_s - time.monotonic()))
