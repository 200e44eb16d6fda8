"""The :class:`Simulator`: starting and stopping the simulated cycler, and where it listens.

``start()`` runs the server on its own event loop in a background thread (``with
Simulator(...)``); ``start_async()`` runs it on the running loop (``async with``). Starting
prepares the file root (a temporary one unless ``root`` is configured; removed again on stop),
the :class:`~.cycler.Cycler` and the :class:`~.listener.Listener`, then binds the ports. A
simulator starts once; stopping closes every connection and both ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ..shared import StartedOnAsyncEnter, StartedOnEnter
from .budget import MemoryBudget
from .config import SimulatorConfig
from .controls import SimulatorControls, started
from .cycler import Cycler
from .files import FileService, prepare_root
from .listener import Listener

__all__ = ["Simulator"]

logger = logging.getLogger(__name__)


class Simulator(StartedOnEnter, StartedOnAsyncEnter, SimulatorControls):
    """A simulated Arbin cycler serving CTI on TCP (see :class:`SimulatorConfig`).

    ``Simulator(config, **overrides)``: any config field (or fault field, flat) may be given as
    a keyword, e.g. ``Simulator(channels=8, speed=60, latency_s=0.05)``.

    Synchronous use runs the server on its own event loop in a background thread::

        with Simulator(channels=8) as sim:
            client = CyclerClient(sim.host, sim.port, username="admin", password="admin")

    Asynchronous use runs it on the current loop::

        async with Simulator(channels=8) as sim:
            ...

    ``host``, ``port`` and ``file_port`` are the bound ones (ports given as 0 are ephemeral).
    A stopped simulator cannot be started again; create a new one (with ``port=old_port`` to
    reuse the port). Channels in the methods below are **1-based**, as MITS shows them.

    The test-control methods (inspecting and poking channels, faults, received requests) come
    from :class:`~.controls.SimulatorControls`.

    Raises:
        TypeError: from the constructor, for an unknown option.
        ValueError: from the constructor, for an option out of range.
    """

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        base = config if config is not None else SimulatorConfig()
        self.config = base.with_overrides(**overrides) if overrides else base
        self._owns_root = self.config.root is None
        self._root: Path | None = None
        self._cycler: Cycler | None = None
        self._server: Listener | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._state = "new"

    # -- lifecycle -----------------------------------------------------------------------------

    def _prepare(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"a simulator can be started once (this one is {self._state})")
        if self.config.root is None:
            root = Path(tempfile.mkdtemp(prefix="pycti-sim-"))
        else:
            root = Path(self.config.root)
            root.mkdir(parents=True, exist_ok=True)
        self._root = root.resolve()
        prepare_root(self._root)
        self._cycler = Cycler(self.config, self._root)
        budget = MemoryBudget(self.config.memory_budget_bytes)
        files = FileService(
            self._root,
            in_use=self._cycler.schedule_in_use,
            chunk_bytes=self.config.download_chunk_bytes,
            max_file_bytes=self.config.max_file_bytes,
            budget=budget,
        )
        self._server = Listener(self.config, self._cycler, files, budget)
        self._state = "starting"

    def _cleanup_root(self) -> None:
        if self._owns_root and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)

    async def start_async(self) -> Simulator:
        """Start serving on the running event loop.

        Raises:
            OSError: if a port cannot be bound.
            RuntimeError: if this simulator was started before.
        """
        self._prepare()
        assert self._server is not None  # for the type checker; set by _prepare
        try:
            await self._server.start()
        except BaseException:
            self._state = "stopped"
            self._cleanup_root()
            raise
        # The serial number may have been derived from the bound port.
        self.config = self._server.config
        self._loop = asyncio.get_running_loop()
        self._state = "running"
        self._log_started()
        return self

    async def stop_async(self) -> None:
        """Stop serving (on the loop it runs on): close every connection and both ports."""
        if self._state != "running" or self._server is None:
            return
        self._state = "stopping"
        await self._server.stop()
        self._state = "stopped"
        self._cleanup_root()
        logger.info("simulator stopped")

    def start(self, timeout_s: float = 10.0) -> Simulator:
        """Start serving in a background thread with its own event loop; returns self.

        Raises:
            OSError: if a port cannot be bound.
            RuntimeError: if this simulator was started before, or did not start in time.
        """
        started: Future[None] = Future()

        def main() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self._thread_main(started))
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name="pycti-simulator", daemon=True)
        self._thread.start()
        try:
            started.result(timeout=timeout_s)
        except BaseException:
            self._thread.join(timeout_s)
            raise
        return self

    async def _thread_main(self, started: Future[None]) -> None:
        try:
            await self.start_async()
        except BaseException as exc:
            started.set_exception(exc)
            return
        self._stop_event = asyncio.Event()
        started.set_result(None)
        await self._stop_event.wait()
        await self.stop_async()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving and wait until the server has closed everything (idempotent)."""
        thread = self._thread
        if thread is None:
            if self._loop is not None and self._state == "running":
                raise RuntimeError("this simulator runs on an event loop: use 'await stop_async()'")
            return
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(event.set)
        thread.join(timeout_s)
        if thread.is_alive():
            raise RuntimeError("the simulator thread did not stop in time")
        self._thread = None

    def _log_started(self) -> None:
        logger.info(
            "simulator: %d channels on %s:%d (files: %s), root %s, speed %gx, server version %s",
            self.config.channels,
            self.host,
            self.port,
            self.file_port,
            self._root,
            self.config.speed,
            self.config.server_version.name,
        )

    # -- where it is ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The host the simulator listens on."""
        return self.config.host

    @property
    def port(self) -> int:
        """The bound control port.

        Raises:
            RuntimeError: if the simulator has not been started.
        """
        return self._running_server().port

    @property
    def file_port(self) -> int | None:
        """The bound file port (None when the file server is off).

        Raises:
            RuntimeError: if the simulator has not been started.
        """
        return self._running_server().file_port

    @property
    def root(self) -> Path:
        """The root directory of the file commands (user schedules in ``root / "Work"``).

        Raises:
            RuntimeError: if the simulator has not been started.
        """
        return started(self._root)

    @property
    def work_dir(self) -> Path:
        """``root / "Work"``, where users' schedules go (``*.sdx``)."""
        return self.root / "Work"

    @property
    def running(self) -> bool:
        """True while serving."""
        return self._state == "running"
