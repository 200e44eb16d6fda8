"""What tests and tools do to a running simulator besides speaking CTI to it.

Inspect a channel, force its status or readings, make it unsafe, pause it, change the speed,
inject faults, and read back what clients sent (SEND_MESSAGE texts, request codes). Channels
here are **1-based**, as MITS shows them; the :class:`~.cycler.Cycler` underneath counts from 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from ..protocol import ServerVersion, StatusCode
from .budget import MemoryBudget
from .config import Faults, SimulatorConfig
from .cycler import ChannelSnapshot, Cycler
from .listener import Listener

__all__ = ["SimulatorControls", "started"]

_Part = TypeVar("_Part")


def started(part: _Part | None) -> _Part:
    """``part`` of a simulator (its root, cycler, listener), which exists once started.

    Raises:
        RuntimeError: if ``part`` is None: the simulator has not been started.
    """
    if part is None:
        raise RuntimeError("the simulator has not been started")
    return part


class SimulatorControls:
    """The test-control methods of :class:`~.lifecycle.Simulator` (a mixin over its state)."""

    config: SimulatorConfig
    _cycler: Cycler | None
    _server: Listener | None
    _state: str

    def _running_server(self) -> Listener:
        return started(None if self._state in ("new", "starting") else self._server)

    @property
    def cycler(self) -> Cycler:
        """The cycler model (0-based channel indexes; thread-safe).

        Raises:
            RuntimeError: if the simulator has not been started.
        """
        return started(self._cycler)

    # -- inspecting and poking (1-based channels) ----------------------------------------------

    def _index(self, channel: int) -> int:
        if not 1 <= channel <= self.config.channels:
            raise IndexError(f"channel {channel} does not exist (1..{self.config.channels})")
        return channel - 1

    @property
    def received_messages(self) -> list[str]:
        """The texts received by SEND_MESSAGE, oldest first (a copy)."""
        cycler = self.cycler
        with cycler.lock:
            return list(cycler.received_messages)

    @property
    def received_codes(self) -> list[int]:
        """The command codes of the requests received (both ports; the latest 100 000), oldest
        first (a copy)."""
        return list(self._running_server().dispatcher.received_codes)

    def clear_received_codes(self) -> None:
        """Forget the request codes received so far."""
        self._running_server().dispatcher.received_codes.clear()

    @property
    def server_version(self) -> ServerVersion:
        """The server version this simulator reports and answers as."""
        return self.config.server_version

    @property
    def session_count(self) -> int:
        """Number of open connections (both ports)."""
        return len(self._running_server().connections)

    @property
    def memory_budget(self) -> MemoryBudget:
        """The budget of partial frames and unfinished uploads: ``used_bytes`` (held now),
        ``peak_bytes``, ``limit_bytes`` (``memory_budget_bytes``) and ``refusals``.

        Raises:
            RuntimeError: if the simulator has not been started.
        """
        return self._running_server().budget

    def channel(self, channel: int) -> ChannelSnapshot:
        """A snapshot of channel ``channel`` (1-based): status, record, engine reading, SOC.

        Raises:
            IndexError: if the channel does not exist.
            RuntimeError: if the simulator has not been started.
        """
        return self.cycler.snapshot(self._index(channel))

    def set_channel_status(
        self, channel: int, status: StatusCode | int | None = None, **fields: Any
    ) -> None:
        """Force the reported ``status`` of ``channel`` (1-based) and/or pin record fields.

        ``status=None`` leaves the status as it is; pass ``release_status=True`` to go back to the
        engine's status. Fields are channel-record attributes (``voltage_v=2.5``,
        ``exit_condition="..."``); a field given as None is released.

        Raises:
            IndexError: if the channel does not exist.
            KeyError: for an unknown field.
            ValueError: if a value cannot go on the wire.
        """
        index = self._index(channel)
        release = bool(fields.pop("release_status", False))
        if fields:
            self.cycler.set_fields(index, fields)
        if status is not None or release:
            self.cycler.force_status(index, status)

    def make_unsafe(self, channel: int, reason: str = "Unsafe: simulated fault") -> None:
        """Stop ``channel``'s test and report it Unsafe with ``reason`` as exit condition.

        Raises:
            IndexError: if the channel does not exist.
            ValueError: if ``reason`` does not fit the 100-character exit condition.
        """
        self.cycler.make_unsafe(self._index(channel), reason)

    def set_aux(
        self,
        channel: int,
        *,
        temperature_c: float | None = None,
        voltage_v: float | None = None,
        clear: bool = False,
    ) -> None:
        """Pin the aux temperature / voltage readings of ``channel`` (``clear``: release).

        Raises:
            IndexError: if the channel does not exist.
            ValueError: if a value is not finite.
        """
        self.cycler.set_aux(
            self._index(channel), temperature_c=temperature_c, voltage_v=voltage_v, clear=clear
        )

    def clear_overrides(self, channel: int) -> None:
        """Release pinned fields, aux values and the forced status of ``channel``.

        Raises:
            IndexError: if the channel does not exist.
        """
        self.cycler.clear_overrides(self._index(channel))

    def pause(self, channel: int) -> bool:
        """Pause ``channel``'s running test (MITS's Pause button); whether it was running.

        Raises:
            IndexError: if the channel does not exist.
        """
        return self.cycler.pause(self._index(channel))

    def set_speed(self, speed: float) -> None:
        """Change the simulation speed from now on.

        Raises:
            ValueError: if ``speed`` is not positive and finite.
        """
        self.cycler.set_speed(speed)

    def set_faults(self, faults: Faults | None = None, **fields: Any) -> None:
        """Replace the injected faults (``Faults(...)``, or fields such as ``silent=True``);
        they apply to new frames on open connections too. ``set_faults()`` switches all off.

        Raises:
            TypeError: for an unknown fault field.
            ValueError: for a value out of range.
        """
        new = faults if faults is not None else Faults()
        if fields:
            new = dataclasses.replace(new, **fields)
        self.config = dataclasses.replace(self.config, faults=new)
        server = self._server
        if server is not None:
            server.config = self.config
