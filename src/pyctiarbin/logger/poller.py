"""The :class:`Logger`: polls many cyclers on a fixed grid and pumps the readings into listeners.

One asyncio task per cycler, one connection (an :class:`AsyncCyclerClient`) each, all channels
in one request per interval. Poll ``k`` of every cycler is due at ``start + k * interval`` on the
monotonic clock, so polls never drift; a poll that comes too late to make its slot is counted as
a missed interval. A cycler that stops answering is retried with capped exponential backoff
while the others go on; the time without data is reported as a :class:`Gap` when it begins and
when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..client import AsyncCyclerClient, ConnectionState
from ..errors import CtiError, LoginError, UnexpectedFeedback
from ..shared import Backoff
from .boundaries import BoundaryTracker, ChannelTrack
from .listener import Listener, OwnershipGuard, StateSource
from .readings import CyclerInfo, CyclerSpec, Gap, ReadingBatch, TableReadings

if TYPE_CHECKING:
    from ..protocol import ChannelTable
    from .mqtt import MqttSettings

__all__ = [
    "CyclerHealth",
    "CyclerState",
    "Logger",
    "LoggerHealth",
    "OwnershipError",
    "install_stop_signals",
]

log = logging.getLogger("pyctiarbin.logger")

_Restored = tuple[dict[int, ChannelTrack], float | None]

#: How long a poll in progress may take to finish once the logger is asked to stop.
_STOP_GRACE_S = 5.0


class OwnershipError(RuntimeError):
    """A cycler to be logged is owned by another logger process (and standby is off)."""


class CyclerState(enum.Enum):
    """Where the logger stands with one cycler."""

    STARTING = "starting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    STANDBY = "standby"
    LOST = "lost"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class CyclerHealth:
    """Live figures of one cycler (``Logger.health()``)."""

    name: str
    address: str
    state: CyclerState = CyclerState.STARTING
    serial_number: str = ""
    num_channels: int = 0
    polls: int = 0
    readings: int = 0
    #: Slots skipped because the logger was late (the poll before took too long).
    missed_intervals: int = 0
    #: Slots without data because the cycler could not be read.
    gap_intervals: int = 0
    gaps: int = 0
    errors: int = 0
    last_error: str = ""
    last_reading_unix_s: float | None = None
    last_poll_latency_s: float | None = None
    owner: str = ""
    #: Why the cycler is polled without its claim (the database is unreachable), else "".
    claim_pending: str = ""

    def reading_age_s(self, now_unix_s: float | None = None) -> float | None:
        """Seconds since the last reading, or None if there was none."""
        if self.last_reading_unix_s is None:
            return None
        now = time.time() if now_unix_s is None else now_unix_s
        return max(0.0, now - self.last_reading_unix_s)


@dataclass
class ListenerHealth:
    """The backlog of one listener's queue, and its own figures if it has any."""

    name: str
    queued: int
    stats: Any = None


@dataclass
class LoggerHealth:
    """A snapshot of the logger's health."""

    interval_s: float
    running_s: float
    cyclers: list[CyclerHealth] = field(default_factory=list)
    listeners: list[ListenerHealth] = field(default_factory=list)


#: The listener method each kind of event calls.
_LISTENER_METHODS = {
    "readings": "on_readings",
    "gap": "on_gap",
    "cycler": "on_cycler",
    "error": "on_error",
}


@dataclass(frozen=True, slots=True)
class _Event:
    """What the logger hands its listeners: a call of the listener method of ``kind``
    (:data:`_LISTENER_METHODS`) with ``args``."""

    kind: str
    args: tuple[Any, ...]

    def __post_init__(self) -> None:
        if self.kind not in _LISTENER_METHODS:
            raise ValueError(f"no listener method for an event of kind {self.kind!r}")

    async def deliver(self, listener: Listener) -> None:
        await getattr(listener, _LISTENER_METHODS[self.kind])(*self.args)


class _Dispatcher:
    """One listener's queue and the task that feeds it."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.queue: asyncio.Queue[_Event | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._pump(), name=f"pycti-listener-{type(self.listener).__name__}"
        )

    async def _pump(self) -> None:
        listener = self.listener
        while True:
            event = await self.queue.get()
            if event is None:
                return
            try:
                await event.deliver(listener)
            except Exception as exc:
                log.exception("listener %s failed on %s", type(listener).__name__, event.kind)
                try:
                    await listener.on_error(None, exc)
                except Exception:
                    log.exception("listener %s failed in on_error", type(listener).__name__)

    async def close(self) -> None:
        self.queue.put_nowait(None)
        if self.task is not None:
            await self.task


class Logger:
    """Polls cyclers at a fixed interval and hands every reading to listeners.

    ``Logger(cyclers, listeners, interval_s=1.0)``: ``cyclers`` are :class:`CyclerSpec`;
    ``listeners`` are :class:`Listener` objects (database sinks from :func:`open_sink`, the
    live view, alert engines, ...). ``await logger.run(duration_s=None)`` polls until
    :meth:`stop` is called (or ``duration_s`` has passed), then flushes and stops every listener.

    Options: ``aux`` (read aux/BMS/SMB values too; default True), ``timeout_s`` (answer timeout
    per poll, default ``max(1, interval)``), ``backoff_s``/``max_backoff_s`` (reconnect backoff),
    ``standby`` (wait for a cycler owned by another logger instead of failing),
    ``claim_retry_s`` (how often a standby logger tries to take over), ``mqtt`` (a broker URL
    ``mqtt://HOST[:PORT][/PREFIX]`` or :class:`~pyctiarbin.logger.mqtt.MqttSettings`: also
    publish every reading there, see :class:`~pyctiarbin.logger.mqtt.MqttPublisher`).

    Raises:
        ValueError: from the constructor, for duplicate cycler names, one address (host and
            port, the host compared without case) given twice, a bad interval or a bad MQTT URL.
        ImportError: from the constructor, for ``mqtt`` without gmqtt installed.
    """

    def __init__(
        self,
        cyclers: Sequence[CyclerSpec],
        listeners: Sequence[Listener] = (),
        *,
        interval_s: float = 1.0,
        aux: bool = True,
        timeout_s: float | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        standby: bool = False,
        claim_retry_s: float = 5.0,
        mqtt: str | MqttSettings | None = None,
    ) -> None:
        if not cyclers:
            raise ValueError("no cycler to log")
        names = [spec.name for spec in cyclers]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"cycler names must be unique; repeated: {', '.join(duplicates)}")
        # One cycler under two names would be polled twice and stored twice, as two cyclers.
        by_address: dict[tuple[str, int], list[str]] = {}
        for spec in cyclers:
            by_address.setdefault((spec.host.strip().lower(), spec.port), []).append(spec.name)
        twice = [
            f"{host}:{port} ({' and '.join(names)})"
            for (host, port), names in by_address.items()
            if len(names) > 1
        ]
        if twice:
            raise ValueError(
                f"the same cycler is named twice: {'; '.join(twice)}; log each cycler once"
            )
        if not (math.isfinite(interval_s) and interval_s > 0):
            raise ValueError(f"interval_s must be a positive number of seconds, not {interval_s!r}")
        if backoff_s <= 0 or max_backoff_s < backoff_s or claim_retry_s <= 0:
            raise ValueError("backoff_s, max_backoff_s and claim_retry_s must be positive")
        self.cyclers = list(cyclers)
        self.listeners = list(listeners)
        if mqtt is not None:
            from .mqtt import MqttPublisher

            self.listeners.append(MqttPublisher(mqtt))
        self.interval_s = float(interval_s)
        self.aux = aux
        self.timeout_s = float(timeout_s) if timeout_s is not None else max(1.0, self.interval_s)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._backoff = Backoff(backoff_s, max_backoff_s)
        self.standby = standby
        self.claim_retry_s = claim_retry_s
        self._health = {spec.name: CyclerHealth(spec.name, spec.address) for spec in cyclers}
        self._dispatchers: list[_Dispatcher] = []
        #: Of the run under way: the guards every cycler must be granted by, and the loop time
        #: of slot 0 of the polling grid.
        self._guards: list[OwnershipGuard] = []
        self._grid_start = 0.0
        self._stop: asyncio.Future[None] | None = None
        self._started_monotonic: float | None = None
        self._running = False

    # -- control -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the logger to stop (from the event loop's thread; see :meth:`stop_threadsafe`).
        :meth:`run` then finishes the polls under way, flushes the listeners and returns."""
        if self._stop is not None and not self._stop.done():
            self._stop.set_result(None)

    def stop_threadsafe(self) -> None:
        """:meth:`stop`, callable from any thread or a signal handler."""
        future = self._stop
        if future is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                future.get_loop().call_soon_threadsafe(self.stop)

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop is not None and self._stop.done()

    def health(self) -> LoggerHealth:
        """A snapshot of every cycler's and listener's health."""
        loop_time = time.monotonic()
        started = self._started_monotonic
        result = LoggerHealth(self.interval_s, loop_time - started if started is not None else 0.0)
        result.cyclers = [CyclerHealth(**vars(health)) for health in self._health.values()]
        for guard in self.listeners:
            if isinstance(guard, OwnershipGuard):
                pending = guard.pending()
                for cycler in result.cyclers:
                    cycler.claim_pending = cycler.claim_pending or pending.get(cycler.name, "")
        for dispatcher in self._dispatchers:
            listener = dispatcher.listener
            stats_method = getattr(listener, "stats", None)
            stats = stats_method() if callable(stats_method) else None
            result.listeners.append(
                ListenerHealth(type(listener).__name__, dispatcher.queue.qsize(), stats)
            )
        return result

    # -- running -------------------------------------------------------------------------------

    async def run(self, duration_s: float | None = None) -> None:
        """Poll until :meth:`stop` (or for ``duration_s`` seconds), then stop every listener.

        Raises:
            OwnershipError: if a cycler is owned by another logger and ``standby`` is off (raised
                before anything is polled). A database that cannot be reached is not a reason:
                the cyclers are then polled with their claims pending (see
                :meth:`OwnershipGuard.pending`), and a claim found taken later makes the cycler
                lost.
            RuntimeError: if this logger is already running.
        """
        if self._running:
            raise RuntimeError("this logger is already running")
        self._running = True
        loop = asyncio.get_running_loop()
        self._stop = loop.create_future()
        names = [spec.name for spec in self.cyclers]
        self._dispatchers = [_Dispatcher(listener) for listener in self.listeners]
        guards: list[OwnershipGuard] = [x for x in self.listeners if isinstance(x, OwnershipGuard)]
        claimed: list[str] = []
        tasks: list[asyncio.Task[None]] = []
        timer: asyncio.TimerHandle | None = None
        try:
            for listener in self.listeners:
                await listener.on_start(names)
            if not self.standby:
                refused = []
                for name in names:
                    owner = await self._claim(guards, name)
                    if owner is None:
                        claimed.append(name)
                    else:
                        refused.append(f"{name} ({owner})")
                if refused:
                    raise OwnershipError(
                        "cannot log cycler(s) owned by another logger: "
                        + "; ".join(refused)
                        + " (use standby to wait for them)"
                    )
            for dispatcher in self._dispatchers:
                dispatcher.start()
            self._guards = guards
            self._grid_start = loop.time()
            self._started_monotonic = time.monotonic()
            for spec in self.cyclers:
                task = loop.create_task(
                    _CyclerPoller(self, spec, spec.name in claimed).run(),
                    name=f"pycti-log-{spec.name}",
                )
                tasks.append(task)
            if duration_s is not None:
                timer = loop.call_later(duration_s, self.stop)
            await asyncio.shield(self._stop)
        finally:
            if timer is not None:
                timer.cancel()
            self.stop()
            await self._finish_tasks(tasks)
            for dispatcher in self._dispatchers:
                if dispatcher.task is not None:
                    await dispatcher.close()
            for listener in self.listeners:
                try:
                    await listener.stop()
                except Exception:
                    log.exception("listener %s failed to stop", type(listener).__name__)
            for guard in guards:
                for name in names:
                    with contextlib.suppress(Exception):
                        await guard.release(name)
            self._running = False

    async def _finish_tasks(self, tasks: list[asyncio.Task[None]]) -> None:
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=_STOP_GRACE_S)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for task in tasks:
            if task.cancelled():
                continue
            exc = task.exception()
            if exc is not None:
                log.error("polling task %s failed", task.get_name(), exc_info=exc)

    async def _claim(self, guards: list[OwnershipGuard], name: str) -> str | None:
        for guard in guards:
            owner = await guard.claim(name)
            if owner is not None:
                return owner
        return None

    async def _restore(self, name: str) -> _Restored:
        """Where logging of ``name`` left off, from the first listener that knows (asked when
        this process starts to poll the cycler: at the start, or after taking it over)."""
        source = next((x for x in self.listeners if isinstance(x, StateSource)), None)
        if source is None:
            return {}, None
        try:
            return await source.last_state(name)
        except Exception as exc:
            log.warning(
                "cannot read where logging of %s left off (%s); tests under way get new ids",
                name,
                exc,
            )
            return {}, None

    def _emit(self, event: _Event) -> None:
        for dispatcher in self._dispatchers:
            dispatcher.queue.put_nowait(event)

    async def _sleep_until(self, deadline: float) -> bool:
        """Sleep until the loop time ``deadline``; False if the logger was stopped meanwhile."""
        stop = self._stop
        if stop is None or stop.done():
            return False
        delay = deadline - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.wait({stop}, timeout=delay)
        return not stop.done()

    async def _standby(self, guards: list[OwnershipGuard], health: CyclerHealth) -> bool:
        """Wait until every guard grants the cycler; False if the logger stopped first."""
        loop = asyncio.get_running_loop()
        while not self.stopping:
            owner = await self._claim(guards, health.name)
            if owner is None:
                health.owner = ""
                return True
            if health.state is not CyclerState.STANDBY:
                log.info("%s is owned by %s; standing by", health.name, owner)
            health.state = CyclerState.STANDBY
            health.owner = owner
            if not await self._sleep_until(loop.time() + self.claim_retry_s):
                return False
        return False

    def _lost(self, guards: list[OwnershipGuard], name: str) -> str | None:
        for guard in guards:
            owner = guard.lost().get(name)
            if owner is not None:
                return owner
        return None


class _CyclerPoller:
    """One cycler's polling for one run of a :class:`Logger`.

    Poll ``k`` is due at ``start + k * interval`` (loop time). Each slot ends one way: skipped
    (too late, or backing off after a failure), a failed read (opens or extends the gap and
    backs off), or a batch of readings (closes the gap). A cycler lost to another logger stops
    being polled, or with ``standby`` is waited for and taken back.
    """

    def __init__(self, logger: Logger, spec: CyclerSpec, claimed: bool) -> None:
        self.logger = logger
        self.spec = spec
        self.claimed = claimed
        self.start = logger._grid_start
        self.guards = logger._guards
        self.interval = logger.interval_s
        self.health = logger._health[spec.name]
        self.loop = asyncio.get_running_loop()
        self.client: AsyncCyclerClient | None = None
        self.info: CyclerInfo | None = None
        #: The time without data under way, emitted when it opens and when it closes.
        self.gap: Gap | None = None
        #: Failed reads in a row (for the backoff).
        self.failures = 0
        self.retry_at = 0.0
        #: The slot of the next poll.
        self.k = 0
        self.tracker = BoundaryTracker(spec.name, {})
        self.last_good_s: float | None = None
        self.first_poll = True

    def _emit(self, event: _Event) -> None:
        self.logger._emit(event)

    def _open_client(self) -> AsyncCyclerClient | None:
        spec, logger = self.spec, self.logger
        try:
            return AsyncCyclerClient(
                spec.host,
                spec.port,
                username=spec.username,
                password=spec.password,
                env_path=spec.env_path,
                timeout=logger.timeout_s,
                connect_timeout=logger.timeout_s,
                retries=1,
                backoff_s=0.05,
                max_backoff_s=0.05,
                file_login=False,
            )
        except ValueError as exc:
            self.health.state = CyclerState.FAILED
            self.health.last_error = str(exc)
            self.health.errors += 1
            log.error("cannot log %s: %s", spec.name, exc)
            self._emit(_Event("error", (spec.name, exc)))
            return None

    async def _restore(self) -> None:
        """Carry on from what is stored (at the start, or after taking the cycler back)."""
        tracks, self.last_good_s = await self.logger._restore(self.spec.name)
        self.tracker = BoundaryTracker(self.spec.name, tracks)
        self.first_poll = True

    def _slots_since_start(self) -> float:
        return (self.loop.time() - self.start) / self.interval

    async def run(self) -> None:
        client = self._open_client()
        if client is None:
            return
        self.client = client
        logger, health = self.logger, self.health
        try:
            if self.guards and not self.claimed and not await logger._standby(self.guards, health):
                return
            await self._restore()
            # Start on the current slot of the shared grid if it is only just due, else on
            # the next one.
            self.k = max(0, math.ceil(self._slots_since_start() - 0.1))
            while True:
                due = self.start + self.k * self.interval
                if not await logger._sleep_until(due):
                    break
                late = self.loop.time() - due
                if late >= self.interval:
                    self._skip_late_slots(late)
                    continue
                lost = logger._lost(self.guards, self.spec.name)
                if lost is not None:
                    if not await self._taken_back_after_loss(lost):
                        break
                    continue
                if self.loop.time() < self.retry_at:
                    # Backing off: this slot stays empty.
                    health.gap_intervals += 1
                    self._extend_gap(1)
                    self.k += 1
                    continue
                await self._poll(client)
                self.k += 1
        finally:
            if self.gap is not None:
                # Logging ends with the cycler still unreachable: the gap ends here too.
                self._emit(_Event("gap", (replace(self.gap, end_s=time.time()),)))
            if health.state not in (CyclerState.FAILED, CyclerState.LOST):
                health.state = CyclerState.STOPPED
            await client.close()

    def _extend_gap(self, intervals: int) -> None:
        if self.gap is not None:
            self.gap = replace(self.gap, missed_intervals=self.gap.missed_intervals + intervals)

    def _skip_late_slots(self, late: float) -> None:
        skipped = int(late // self.interval)
        self.k += skipped
        if self.gap is None:
            self.health.missed_intervals += skipped
            log.warning("%s: late by %.3f s, skipped %d interval(s)", self.spec.name, late, skipped)
        else:
            self.health.gap_intervals += skipped
            self._extend_gap(skipped)

    async def _taken_back_after_loss(self, owner: str) -> bool:
        """The cycler was lost to ``owner``: True once taken back (standby), else False."""
        health = self.health
        health.state = CyclerState.LOST
        health.owner = owner
        log.error("%s: ownership lost to %s; no longer polling it", self.spec.name, owner)
        if self.gap is not None:
            self._emit(_Event("gap", (replace(self.gap, end_s=time.time()),)))
            self.gap = None
        logger = self.logger
        if not logger.standby or not await logger._standby(self.guards, health):
            return False
        # Taken back: carry on from what the other logger stored.
        await self._restore()
        self.k = max(self.k, math.ceil(self._slots_since_start()))
        return True

    async def _poll(self, client: AsyncCyclerClient) -> None:
        spec = self.spec
        reconnect = client.state is not ConnectionState.CONNECTED
        t0 = time.time()
        m0 = self.loop.time()
        try:
            table = await client.read_channels_columns(aux=self.logger.aux)
            if not len(table):
                # The file port (or another server) answers a login but no read.
                raise UnexpectedFeedback(
                    f"{spec.address} answered a read of every channel with no channel: "
                    f"is {spec.port} its CTI control port?"
                )
        except CtiError as exc:
            self._read_failed(exc, t0)
            return
        t1 = time.time()
        self.health.last_poll_latency_s = self.loop.time() - m0
        self._read_succeeded(client, reconnect, (t0 + t1) / 2, table)

    def _read_failed(self, exc: CtiError, t0: float) -> None:
        spec, health = self.spec, self.health
        self.failures += 1
        health.errors += 1
        health.last_error = str(exc)
        health.state = CyclerState.DISCONNECTED
        health.gap_intervals += 1
        if self.gap is None:
            start_s = self.last_good_s if self.last_good_s is not None else t0
            self.gap = Gap(spec.name, start_s, None, 1, str(exc))
            health.gaps += 1
            log.warning("%s: cannot read (%s); recording a gap", spec.name, exc)
            self._emit(_Event("gap", (self.gap,)))
        else:
            self._extend_gap(1)
        self._emit(_Event("error", (spec.name, exc)))
        logger = self.logger
        # A refused login is not retried in a hot loop: wait the longest backoff.
        if isinstance(exc, LoginError):
            delay = logger.max_backoff_s
        else:
            delay = logger._backoff.delay(self.failures)
        self.retry_at = self.loop.time() + delay

    def _read_succeeded(
        self,
        client: AsyncCyclerClient,
        reconnect: bool,
        now_s: float,
        table: ChannelTable,
    ) -> None:
        spec, health = self.spec, self.health
        info = self.info
        if reconnect or info is None:
            login = client.login_info
            info = self.info = CyclerInfo(
                spec.name,
                spec.host,
                spec.port,
                login.serial_number,
                login.num_channels,
                login.nickname,
                login.version,
            )
            health.serial_number = info.serial_number
            health.num_channels = info.num_channels
            log.info(
                "%s: logging %d channels of %s (serial %s)",
                spec.name,
                info.num_channels,
                spec.address,
                info.serial_number or "?",
            )
            self._emit(_Event("cycler", (info,)))
        gap, last_good_s, interval = self.gap, self.last_good_s, self.interval
        if gap is not None:
            log.info(
                "%s: back after %.1f s (%d interval(s) without data)",
                spec.name,
                now_s - gap.start_s,
                gap.missed_intervals,
            )
            self._emit(_Event("gap", (replace(gap, end_s=now_s),)))
            self.gap = None
        elif self.first_poll and last_good_s is not None and now_s - last_good_s > 1.5 * interval:
            # The first poll of this run, long after the last stored one: the logger itself
            # was not running in between.
            missed = max(0, round((now_s - last_good_s) / interval) - 1)
            self._emit(
                _Event("gap", (Gap(spec.name, last_good_s, now_s, missed, "logger not running"),))
            )
            health.gaps += 1
        self.failures = 0
        health.state = CyclerState.CONNECTED
        # The readings stay columns: the sinks build their rows from them, and the Reading
        # objects are made only for a listener that asks for them.
        test_ids, events, tests = self.tracker.process_table(info, now_s, table)
        readings = TableReadings(spec.name, now_s, test_ids, table)
        batch = ReadingBatch(info, self.k, now_s, readings, events, tests)
        self._emit(_Event("readings", (batch,)))
        health.polls += 1
        self.first_poll = False
        health.readings += len(readings)
        health.last_reading_unix_s = now_s
        self.last_good_s = now_s


def install_stop_signals(logger: Logger) -> None:
    """Make SIGINT and SIGTERM (Ctrl-C, ``kill``) stop ``logger`` cleanly: it finishes the
    polls under way, flushes every listener and :meth:`Logger.run` returns.

    Call it from the event loop's thread, before or while the logger runs. Where the event loop
    cannot take signal handlers (Windows), plain ``signal.signal`` handlers are used.
    """
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, logger.stop)
        except (NotImplementedError, RuntimeError):
            signal.signal(signum, lambda _signum, _frame: logger.stop_threadsafe())
