"""The listener interface: what the :class:`~pyctiarbin.logger.Logger` pumps its readings into.

Modelled on python-can's ``Listener``/``Notifier``: one poller, many listeners. A database sink
is a listener; so is the live view, an alert engine, or your own code::

    class PrintVoltages(Listener):
        async def on_readings(self, batch: ReadingBatch) -> None:
            for reading in batch.readings:
                print(batch.cycler.name, reading.channel, reading.status.voltage_v)

    logger = Logger(cyclers, [open_sink("sqlite:///lab.db"), PrintVoltages()], interval_s=1)

Every listener gets every batch, in poll order per cycler, on its own asyncio task: a slow
listener delays neither the polling nor the other listeners (its queue grows instead, see
``Logger.health()``). An exception raised by a listener method is logged and handed to its
:meth:`Listener.on_error`; it never stops the logger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .readings import CyclerInfo, Gap, ReadingBatch

if TYPE_CHECKING:
    from .boundaries import ChannelTrack

__all__ = ["Listener", "OwnershipGuard", "StateSource"]


class Listener:
    """Base class of everything that receives the logger's output. Override what you need;
    only :meth:`on_readings` is required."""

    async def on_start(self, cyclers: Sequence[str]) -> None:
        """Called once, before the first poll, with the names of the cyclers to be logged."""

    async def on_cycler(self, info: CyclerInfo) -> None:
        """Called when the logger logged in to a cycler (again, after a reconnect)."""

    async def on_readings(self, batch: ReadingBatch) -> None:
        """Called with every poll of every cycler. Must not block the event loop."""
        raise NotImplementedError

    async def on_gap(self, gap: Gap) -> None:
        """Called when a cycler stops answering (``gap.end_s`` None) and when it is back."""

    async def on_error(self, cycler: str | None, error: BaseException) -> None:
        """Called when polling ``cycler`` failed, or (``cycler`` None) when this listener's
        own method raised ``error``."""

    async def stop(self) -> None:
        """Called once when the logger stops, after the last batch: flush and close here."""


class StateSource:
    """A listener that can tell where logging left off (a database sink).

    The logger asks the first listener that is a ``StateSource`` before polling, so a test that
    was running when the logger last stopped keeps its test id.
    """

    async def last_state(self, cycler: str) -> tuple[dict[int, ChannelTrack], float | None]:
        """The last known state of each channel of ``cycler`` (1-based channel -> track) and the
        host time of the last reading stored for it (None if none)."""
        raise NotImplementedError


class OwnershipGuard:
    """A listener that claims cyclers exclusively (a database shared by several loggers).

    The logger polls a cycler only while every guard granted it; a guard that lost a claim
    reports it through :meth:`lost`, and the logger stops polling that cycler.
    """

    async def claim(self, cycler: str) -> str | None:
        """Try to claim ``cycler``: None when this process now owns it, else a description of
        who holds it (or why it cannot be claimed). Never raises for "taken"."""
        raise NotImplementedError

    async def release(self, cycler: str) -> None:
        """Give up the claim on ``cycler`` (after its last rows were written)."""
        raise NotImplementedError

    def lost(self) -> dict[str, str]:
        """Cyclers whose claim this process lost since it took them (name -> who has it now)."""
        raise NotImplementedError

    def pending(self) -> dict[str, str]:
        """Cyclers granted by :meth:`claim` before their claim could be taken (name -> why,
        e.g. the database is unreachable). Such a cycler is polled; if the claim turns out to
        be someone else's, it shows up in :meth:`lost`. None by default."""
        return {}
