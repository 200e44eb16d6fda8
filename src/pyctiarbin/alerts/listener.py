"""The alert engine as a listener of the data logger: alerts on the logger's own readings.

::

    from pyctiarbin.alerts import AlertListener, load_alert_config
    from pyctiarbin.logger import Logger, open_sink

    alerts = AlertListener(load_alert_config("rules.toml").engine(), cyclers)
    logger = Logger(cyclers, [open_sink("sqlite:///lab.db"), alerts], interval_s=1.0)
    await logger.run()

No second polling loop: every :class:`~pyctiarbin.logger.ReadingBatch` the logger reads goes
through the rules, every failed poll feeds the 'unreachable' rules. ``pycti alerts`` runs the
same listener on a logger without a database (:func:`run_alerts`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from ..client import AsyncCyclerClient
from ..logger import CyclerSpec, Listener, Logger, ReadingBatch
from .engine import AlertEngine
from .events import AlertEvent
from .notifiers import AsyncClientStopper

__all__ = ["AlertListener", "run_alerts"]

log = logging.getLogger("pyctiarbin.alerts")


class AlertListener(Listener):
    """Feeds a logger's readings and poll errors to ``engine``.

    ``cyclers``: the logger's :class:`CyclerSpec` list, needed only by rules with
    ``action = "stop"`` (the listener then opens its own control connection to a cycler the
    first time it must stop a channel there). The engine is closed when the logger stops
    (queued alerts are delivered first, for up to ``close_timeout_s``). ``on_alert`` is called
    (on the event loop's thread) with every event the engine produced, e.g. an MQTT
    publisher's :meth:`~pyctiarbin.logger.mqtt.MqttPublisher.alert_sink`.
    """

    def __init__(
        self,
        engine: AlertEngine,
        cyclers: Sequence[CyclerSpec] = (),
        *,
        close_timeout_s: float = 10.0,
        on_alert: Callable[[AlertEvent], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_alert = on_alert
        self.specs = {spec.name: spec for spec in cyclers}
        self.close_timeout_s = close_timeout_s
        self._clients: dict[str, AsyncCyclerClient] = {}

    async def on_start(self, cyclers: Sequence[str]) -> None:
        if any(rule.action == "stop" for rule in self.engine.rules):
            for spec in self.specs.values():
                self._clients[spec.name] = AsyncCyclerClient(
                    spec.host,
                    spec.port,
                    username=spec.username,
                    password=spec.password,
                    env_path=spec.env_path,
                    file_login=False,
                )
            missing = sorted(set(cyclers) - set(self._clients))
            if missing:
                log.warning(
                    "alert rules may stop channels, but no address was given for %s",
                    ", ".join(missing),
                )
            self.engine.set_stopper(AsyncClientStopper(self._clients, asyncio.get_running_loop()))

    async def on_readings(self, batch: ReadingBatch) -> None:
        events = self.engine.on_readings(
            batch.cycler.name, [reading.status for reading in batch.readings], batch.unix_time_s
        )
        await self.publish(events)

    async def on_error(self, cycler: str | None, error: BaseException) -> None:
        # cycler None: one of this listener's own methods raised; the logger logged it.
        if cycler is not None:
            await self.publish(self.engine.on_error(cycler, error, time.time()))

    async def publish(self, events: Sequence[AlertEvent]) -> None:
        """Hand the engine's new events on to ``on_alert``; subclasses add destinations."""
        if self.on_alert is not None:
            for event in events:
                self.on_alert(event)

    async def stop(self) -> None:
        # Off the event loop: delivering the last alerts (and a stop action, which needs this
        # loop to run) may take a while.
        await asyncio.to_thread(self.engine.close, self.close_timeout_s)
        for client in self._clients.values():
            await client.close()

    def stats(self) -> dict[str, int | list[str]]:
        """Figures for the logger's health view: the number of ``active`` alerts, which ones
        (``"active alerts"``: rule and where), and per notifier the events delivered and
        failed."""
        active = self.engine.active
        counts: dict[str, int | list[str]] = {
            "active": len(active),
            "active alerts": [f"{event.rule} ({event.where})" for event in active],
        }
        for name, stats in self.engine.stats.items():
            counts[f"{name} delivered"] = stats.delivered
            counts[f"{name} failed"] = stats.failed
        return counts


async def run_alerts(
    engine: AlertEngine,
    cyclers: Sequence[CyclerSpec],
    *,
    interval_s: float = 1.0,
    duration_s: float | None = None,
    timeout_s: float | None = None,
    logger_ready: asyncio.Future[Logger] | None = None,
) -> None:
    """Standalone alerts: poll ``cyclers`` with a :class:`Logger` that stores nothing and only
    feeds ``engine``; returns after ``duration_s`` (or when the logger is stopped). The engine
    is closed at the end. ``logger_ready`` receives the logger (to stop it from outside).

    Raises:
        ValueError: for no cycler, duplicate names or a bad interval.
    """
    logger = Logger(
        cyclers,
        [AlertListener(engine, cyclers)],
        interval_s=interval_s,
        aux=True,
        timeout_s=timeout_s,
    )
    if logger_ready is not None:
        logger_ready.set_result(logger)
    await logger.run(duration_s)
