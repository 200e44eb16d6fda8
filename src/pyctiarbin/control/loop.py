"""The closed-loop control loop: read, call the algorithm, write MV_UD values, every period.

Every ``period_s`` (at least 0.2 s: a cycler refuses meta-variable updates more often) the
loop reads the channels in one request, calls the algorithm once per running channel, checks
what it returned, and writes all the setpoints in one UPDATE_MV_ADVANCED message (or one
SET_MV message per value with ``batch=False``). Every setpoint is logged with the reading it
was computed from (logger ``pyctiarbin.control.setpoints``, and ``on_record``).

Safety. A channel goes to its :class:`SafeState` (write a safe MV value, and/or stop the test)
when the algorithm raises, returns a value that is not finite or not a setpoint, or one out of
``bounds``; a write the cycler refuses for good (e.g. unknown meta variable) does the same.
Every channel goes to its safe state when the loop misses ``max_missed_deadlines`` ticks in a
row (an iteration that ends after the next tick is due, a failed read, a lost write). The
:class:`ChannelResult` says which fault and why, and the fault is logged at ERROR.

End. A channel's control ends cleanly when its test stops running (finished, stopped,
unsafe, ...; a paused test is held, not ended), or when the algorithm raises :class:`Done`.
The loop returns when no channel is left, when :meth:`ControlLoop.stop` is called, after
``max_duration_s``, or on cancellation; in the last three cases the channels still under
control go to their safe state unless ``safe_state_on_stop=False``.

Timing. Ticks are on a fixed grid (``start + k * period_s``); an iteration that overruns skips
the ticks it missed instead of bursting. The cycler times the 200 ms between two updates of a
channel itself, on its own clock, so the loop sends two writes at least 200 ms plus
:data:`MV_GUARD_S` (5 ms, against network jitter) apart, and runs its ticks at least
:data:`MIN_TICK_S` (210 ms) apart, so that the read and the algorithm may take 5 ms longer in one
tick than in the next without delaying a write: a 0.2 s period runs at 0.21 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..client import AsyncCyclerClient, ConnectionState
from ..client.status import ChannelStatus
from ..errors import (
    BatchRejected,
    ChannelNotRunning,
    CommandRejected,
    CtiError,
    TooFrequent,
)
from ..protocol import StatusCode
from ..shared import DEFAULT_PORT
from .types import (
    Algorithm,
    ChannelResult,
    ControlInput,
    ControlRecord,
    ControlReport,
    Done,
    Fault,
    Outcome,
    SafeState,
    Setpoint,
    mv_name,
)

__all__ = ["MIN_PERIOD_S", "MIN_TICK_S", "MV_GUARD_S", "ControlLoop", "run_control_loop"]

log = logging.getLogger("pyctiarbin.control")
setpoint_log = logging.getLogger("pyctiarbin.control.setpoints")

#: A cycler refuses meta-variable updates of a channel more often than every 200 ms.
MIN_PERIOD_S = 0.2
#: Extra time kept between two writes, against clock and network jitter.
MV_GUARD_S = 0.005
#: The shortest time between two ticks.
MIN_TICK_S = MIN_PERIOD_S + 2 * MV_GUARD_S

Bounds = Mapping[str | int, tuple[float, float]]


class _SetpointError(Exception):
    def __init__(self, fault: Fault, reason: str) -> None:
        super().__init__(reason)
        self.fault = fault
        self.reason = reason


class _Channel:
    """A controlled channel's state."""

    __slots__ = ("algorithm", "channel", "iteration", "result", "setpoints", "status")

    def __init__(self, channel: int, algorithm: Algorithm) -> None:
        self.channel = channel
        self.algorithm = algorithm
        self.iteration = 0
        self.setpoints: dict[str, float] = {}
        self.status: ChannelStatus | None = None
        self.result = ChannelResult(channel)

    @property
    def active(self) -> bool:
        return self.result.outcome is None


class ControlLoop:
    """Runs ``algorithm`` on ``channels`` of the cycler behind ``client``.

    ``algorithm``: one callable for every channel, or ``{channel: callable}``. ``variable``:
    the meta variable a plain number is written to (default MV_UD1). ``bounds``: ``(low,
    high)`` for that variable, or ``{variable: (low, high)}``; a setpoint outside them is a
    fault (never clamped). ``safe_state``: see :class:`SafeState` (default: write 0.0).
    ``aux``: read aux data too (temperatures for the algorithm). ``on_record``: called with
    every :class:`ControlRecord` (e.g. :class:`CsvRecorder`). ``name``: the cycler's name in
    log lines.

    Raises:
        ValueError: from the constructor for a period under 0.2 s, no channel, a channel
            without an algorithm, bad bounds, or a variable that is not MV_UD1..16.
    """

    def __init__(
        self,
        client: AsyncCyclerClient,
        channels: int | Iterable[int],
        algorithm: Algorithm | Mapping[int, Algorithm],
        *,
        period_s: float = 1.0,
        variable: str | int = "MV_UD1",
        bounds: tuple[float, float] | Bounds | None = None,
        safe_state: SafeState | None = None,
        max_missed_deadlines: int = 3,
        batch: bool = True,
        aux: bool = False,
        max_duration_s: float | None = None,
        safe_state_on_stop: bool = True,
        on_record: Callable[[ControlRecord], None] | None = None,
        name: str = "",
    ) -> None:
        if isinstance(period_s, bool) or not isinstance(period_s, (int, float)):
            raise ValueError(f"period_s must be a number of seconds, not {period_s!r}")
        if not math.isfinite(period_s) or period_s < MIN_PERIOD_S:
            raise ValueError(
                f"period_s must be at least {MIN_PERIOD_S} s, not {period_s!r}: the cycler "
                "refuses meta-variable updates more often than every 200 ms"
            )
        numbers = [channels] if isinstance(channels, int) else sorted(set(channels))
        if not numbers:
            raise ValueError("no channel to control")
        for number in numbers:
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise ValueError(f"channels are 1-based integers, not {number!r}")
        if isinstance(algorithm, Mapping):
            missing = [ch for ch in numbers if ch not in algorithm]
            if missing:
                raise ValueError(f"no algorithm for channel(s) {missing}")
            algorithms = {ch: algorithm[ch] for ch in numbers}
        else:
            if not callable(algorithm):
                raise ValueError("algorithm must be callable (a function or an object)")
            algorithms = dict.fromkeys(numbers, algorithm)
        if max_missed_deadlines < 1:
            raise ValueError("max_missed_deadlines must be >= 1")
        if max_duration_s is not None and not max_duration_s > 0:
            raise ValueError("max_duration_s must be > 0 (or None)")
        self.client = client
        self.period_s = float(period_s)
        self.variable = mv_name(variable)
        self.bounds = self._parse_bounds(bounds)
        self.safe_state = safe_state if safe_state is not None else SafeState()
        self.safe_state.values_for(self.variable)  # validates the variable names
        self.max_missed_deadlines = int(max_missed_deadlines)
        self.batch = batch
        self.aux = aux
        self.max_duration_s = max_duration_s
        self.safe_state_on_stop = safe_state_on_stop
        self.on_record = on_record
        self.name = name or f"{client.host}:{client.port}"
        self._channels = {ch: _Channel(ch, fn) for ch, fn in algorithms.items()}
        self._stop_event: asyncio.Event | None = None
        self._stop_reason = ""
        self._start = 0.0
        self._last_write = -math.inf
        self._missed = 0
        self._consecutive_missed = 0
        self._ticks = 0
        self._busy_s = 0.0
        self._max_busy_s = 0.0
        self._problem = (Fault.DEADLINE, "")
        self._started = False

    def _parse_bounds(
        self, bounds: tuple[float, float] | Bounds | None
    ) -> dict[str, tuple[float, float]]:
        if bounds is None:
            return {}
        pairs = dict(bounds) if isinstance(bounds, Mapping) else {self.variable: bounds}
        parsed: dict[str, tuple[float, float]] = {}
        for variable, pair in pairs.items():
            name = mv_name(variable)
            try:
                low, high = (float(v) for v in pair)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"bounds for {name} must be (low, high), not {pair!r}") from exc
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"bounds for {name} must be finite with low <= high")
            parsed[name] = (low, high)
        return parsed

    def __repr__(self) -> str:
        return (
            f"<ControlLoop {self.name} channels {sorted(self._channels)} "
            f"every {self.period_s} s -> {self.variable}>"
        )

    # -- public --------------------------------------------------------------------------------

    def stop(self, reason: str = "stopped by the user") -> None:
        """Ask :meth:`run` to end after the current iteration (call it on the loop's event
        loop). Channels still under control go to their safe state if ``safe_state_on_stop``."""
        self._stop_reason = reason
        if self._stop_event is not None:
            self._stop_event.set()

    @property
    def results(self) -> dict[int, ChannelResult]:
        """The per-channel results so far."""
        return {ch: state.result for ch, state in self._channels.items()}

    async def run(self) -> ControlReport:
        """Run until every channel has ended (see the module docstring); returns the report.

        Faults never raise: they end in the channel's safe state, reported in the result.

        Raises:
            RuntimeError: if this loop has run before.
            ValueError: if a channel does not exist on the cycler (nothing was written).
            CtiConnectionError, LoginError: if the client is not connected and cannot connect.
            asyncio.CancelledError: when cancelled (after the channels were put in their safe
                state).
        """
        if self._started:
            raise RuntimeError("a control loop runs once; create a new one")
        self._started = True
        if self.client.state is not ConnectionState.CONNECTED:
            await self.client.connect()
        missing = [ch for ch in self._channels if ch > self.client.num_channels]
        if missing:
            raise ValueError(
                f"channel(s) {missing} do not exist: the cycler has "
                f"{self.client.num_channels} channels"
            )
        stop_event = self._stop_event = asyncio.Event()
        self._start = time.monotonic()
        period = max(self.period_s, MIN_TICK_S)
        tick = 0
        log.info("%r started", self)
        try:
            while self._active():
                due = self._start + tick * period
                if await _wait_until(due, stop_event):
                    break
                if (
                    self.max_duration_s is not None
                    and time.monotonic() - self._start >= self.max_duration_s
                ):
                    self._stop_reason = f"time limit of {self.max_duration_s} s reached"
                    break
                began = time.monotonic()
                missed = await self._iteration()
                end = time.monotonic()
                self._ticks += 1
                self._busy_s += end - began
                self._max_busy_s = max(self._max_busy_s, end - began)
                if end > due + period:
                    missed = True
                    self._problem = (
                        Fault.DEADLINE,
                        f"an iteration took {end - due:.3f} s (period {period:.3f} s)",
                    )
                if missed and self._active():
                    await self._count_miss()
                else:
                    self._consecutive_missed = 0
                tick = max(tick + 1, math.floor((end - self._start) / period) + 1)
        except BaseException as exc:
            # Cancelled (Ctrl-C), or a bug: leave no channel under a setpoint nobody controls.
            if isinstance(exc, asyncio.CancelledError):
                await self._end_remaining("the control loop was cancelled")
            else:
                log.exception("%r failed", self)
                await self._end_remaining(f"the control loop failed: {type(exc).__name__}: {exc}")
            raise
        await self._end_remaining(self._stop_reason or "stopped")
        report = ControlReport(
            {ch: state.result for ch, state in self._channels.items()},
            self._ticks,
            self._missed,
            time.monotonic() - self._start,
            self._busy_s / self._ticks if self._ticks else 0.0,
            self._max_busy_s,
        )
        log.info(
            "%r ended after %d iterations: %s",
            self,
            self._ticks,
            ", ".join(
                f"ch {ch} {r.outcome.value if r.outcome else '?'}"
                for ch, r in report.channels.items()
            ),
        )
        return report

    # -- one iteration ---------------------------------------------------------------------------

    def _active(self) -> list[_Channel]:
        return [state for state in self._channels.values() if state.active]

    async def _count_miss(self) -> None:
        self._missed += 1
        self._consecutive_missed += 1
        fault, detail = self._problem
        log.warning(
            "%s: missed tick (%d in a row, limit %d): %s",
            self.name,
            self._consecutive_missed,
            self.max_missed_deadlines,
            detail,
        )
        if self._consecutive_missed >= self.max_missed_deadlines:
            reason = f"{self._consecutive_missed} ticks missed in a row (last: {detail})"
            await self._safe_state(self._active(), fault, reason)

    async def _iteration(self) -> bool:
        """One tick; True when it produced no control (read or write failed)."""
        active = self._active()
        host_time = time.time()
        elapsed = time.monotonic() - self._start
        try:
            statuses = await self.client.read_channels([s.channel for s in active], aux=self.aux)
        except (CtiError, OSError) as exc:
            self._problem = (Fault.READ_FAILED, f"read failed: {type(exc).__name__}: {exc}")
            return True
        by_channel = {status.channel: status for status in statuses}
        setpoints: dict[int, dict[str, float]] = {}
        faulted: dict[int, tuple[Fault, str]] = {}
        done: list[tuple[_Channel, Done]] = []
        called: list[_Channel] = []
        for state in active:
            status = by_channel.get(state.channel)
            if status is None:
                continue
            state.status = status
            state.result.final_status = status.status.label
            if status.status is StatusCode.PAUSE:
                continue
            if not status.status.is_running:
                self._finish(state, Outcome.TEST_ENDED, f"the test is {status.status.label}")
                continue
            state.result.iterations += 1
            try:
                returned = state.algorithm(
                    ControlInput(
                        state.channel, status, elapsed, state.iteration, dict(state.setpoints)
                    )
                )
                setpoints[state.channel] = self._check(returned)
            except Done as ended:
                done.append((state, ended))
            except _SetpointError as bad:
                faulted[state.channel] = (bad.fault, bad.reason)
            except Exception as exc:
                log.exception("%s ch %d: the algorithm raised", self.name, state.channel)
                faulted[state.channel] = (Fault.ALGORITHM_ERROR, f"{type(exc).__name__}: {exc}")
            called.append(state)
        safe_values = self.safe_state.values_for(self.variable)
        writes: dict[int, dict[str, float]] = dict(setpoints)
        if safe_values:
            writes.update(dict.fromkeys(faulted, safe_values))
        errors = await self._write(writes) if writes else {}
        missed = False
        refused: list[tuple[_Channel, str]] = []
        for channel, values in setpoints.items():
            state = self._channels[channel]
            error = errors.get(channel)
            if error is None:
                self._record(state, values, host_time, elapsed, safe=False)
            elif isinstance(error, ChannelNotRunning):
                self._finish(state, Outcome.TEST_ENDED, "the test is not running any more")
            elif isinstance(error, CommandRejected) and not isinstance(error, TooFrequent):
                refused.append((state, str(error)))
            else:
                missed = True
                self._problem = (
                    Fault.WRITE_FAILED,
                    f"write failed: {type(error).__name__}: {error}",
                )
        for channel, (fault, reason) in faulted.items():
            state = self._channels[channel]
            write_error = errors.get(channel)
            if safe_values and write_error is None:
                self._record(state, safe_values, host_time, elapsed, safe=True)
            await self._enter_safe_state(state, fault, reason, write_error=write_error)
        for state, reason in refused:
            await self._safe_state([state], Fault.WRITE_FAILED, reason)
        for state, finished in done:
            await self._done(state, finished)
        for state in called:
            state.iteration += 1
        return missed

    def _check(self, returned: Setpoint) -> dict[str, float]:
        """The algorithm's return value as ``{MV name: value}``; raises _SetpointError."""
        if isinstance(returned, Mapping):
            if not returned:
                raise _SetpointError(Fault.BAD_SETPOINT, "the algorithm returned an empty mapping")
            items = list(returned.items())
        else:
            items = [(self.variable, returned)]
        values: dict[str, float] = {}
        for variable, value in items:
            try:
                name = mv_name(variable)
            except ValueError as exc:
                raise _SetpointError(Fault.BAD_SETPOINT, str(exc)) from None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _SetpointError(Fault.BAD_SETPOINT, f"{name} = {value!r} is not a number")
            if not math.isfinite(value):
                raise _SetpointError(Fault.NOT_FINITE, f"{name} = {value!r} is not finite")
            low, high = self.bounds.get(name, (-math.inf, math.inf))
            if not low <= value <= high:
                raise _SetpointError(
                    Fault.OUT_OF_BOUNDS, f"{name} = {value:g} is outside [{low:g}, {high:g}]"
                )
            values[name] = float(value)
        return values

    async def _write(self, writes: Mapping[int, Mapping[str, float]]) -> dict[int, BaseException]:
        """Write the values; returns the error of each channel that was not written."""
        wait = self._last_write + MIN_PERIOD_S + MV_GUARD_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        errors: dict[int, BaseException] = {}
        pending = {ch: dict(values) for ch, values in writes.items()}
        # The cycler times the interval from when a write arrives: count from when it leaves.
        self._last_write = time.monotonic()
        if self.batch:
            while pending:
                try:
                    await self.client.set_meta_variables(
                        [
                            (ch, var, val)
                            for ch, values in pending.items()
                            for var, val in values.items()
                        ]
                    )
                except CommandRejected as exc:
                    if isinstance(exc, TooFrequent) or exc.channel not in pending:
                        errors.update(dict.fromkeys(pending, exc))
                        break
                    # The cycler wrote nothing: leave out the channel it refused, send the rest.
                    errors[exc.channel] = exc
                    del pending[exc.channel]
                except (CtiError, OSError) as exc:
                    errors.update(dict.fromkeys(pending, exc))
                    break
                else:
                    break
        else:
            for channel, values in pending.items():
                for variable, value in values.items():
                    try:
                        await self.client.set_meta_variable(channel, variable, value)
                    except (CtiError, OSError) as exc:
                        errors[channel] = exc
                        break
        return errors

    def _record(
        self,
        state: _Channel,
        values: Mapping[str, float],
        host_time: float,
        elapsed: float,
        *,
        safe: bool,
    ) -> None:
        state.setpoints.update(values)
        state.result.writes += 1
        state.result.last_setpoints = dict(state.setpoints)
        status = state.status
        if status is None:
            return
        setpoint_log.info(
            "%s ch %d #%d %s t=%.3f s V=%.4f V I=%.4f A -> %s%s",
            self.name,
            state.channel,
            state.iteration,
            status.status.label,
            status.test_time_s,
            status.voltage_v,
            status.current_a,
            ", ".join(f"{k}={v:.6g}" for k, v in values.items()),
            " (safe state)" if safe else "",
        )
        if self.on_record is not None:
            record = ControlRecord(
                host_time, elapsed, state.iteration, state.channel, status, dict(values), safe
            )
            try:
                self.on_record(record)
            except Exception:
                log.exception("%s ch %d: on_record raised", self.name, state.channel)

    # -- ends ----------------------------------------------------------------------------------

    def _finish(self, state: _Channel, outcome: Outcome, reason: str) -> None:
        state.result.outcome = outcome
        state.result.reason = reason
        log.info(
            "%s ch %d: control ended (%s): %s", self.name, state.channel, outcome.value, reason
        )

    async def _done(self, state: _Channel, finished: Done) -> None:
        if finished.stop_test:
            try:
                await self.client.stop(state.channel)
            except ChannelNotRunning:
                pass
            except (CtiError, OSError) as exc:
                log.error(
                    "%s ch %d: the algorithm is done but stopping the test failed: %s",
                    self.name,
                    state.channel,
                    exc,
                )
                self._finish(state, Outcome.DONE, f"{finished.reason}; stop failed: {exc}")
                return
            self._finish(state, Outcome.DONE, f"{finished.reason}; test stopped")
            return
        self._finish(state, Outcome.DONE, finished.reason)

    async def _safe_state(self, states: list[_Channel], fault: Fault | None, reason: str) -> None:
        """Put ``states`` in the safe state (a loop-wide fault, or the end of the loop)."""
        if not states:
            return
        values = self.safe_state.values_for(self.variable)
        errors: dict[int, BaseException] = {}
        if values:
            errors = await self._write({state.channel: values for state in states})
            host_time, elapsed = time.time(), time.monotonic() - self._start
            for state in states:
                if state.channel not in errors:
                    self._record(state, values, host_time, elapsed, safe=True)
        for state in states:
            await self._enter_safe_state(
                state, fault, reason, write_error=errors.get(state.channel), stop_now=False
            )
        stopping = [s for s in states if self.safe_state.stop]
        if stopping:
            await self._stop_channels(stopping)

    async def _enter_safe_state(
        self,
        state: _Channel,
        fault: Fault | None,
        reason: str,
        *,
        write_error: BaseException | None = None,
        stop_now: bool = True,
    ) -> None:
        result = state.result
        result.outcome = Outcome.SAFE_STATE if fault is not None else Outcome.STOPPED
        result.fault = fault
        result.reason = f"{fault.value}: {reason}" if fault is not None else reason
        problems = []
        if write_error is not None and not isinstance(write_error, ChannelNotRunning):
            problems.append(f"writing the safe value failed: {write_error}")
        result.safe_state_error = "; ".join(problems) or None
        result.safe_state_applied = not problems
        if fault is not None:
            log.error(
                "%s ch %d: safe state (%s): %s%s",
                self.name,
                state.channel,
                self._describe_safe_state(),
                result.reason,
                f" [{result.safe_state_error}]" if result.safe_state_error else "",
            )
        else:
            log.info(
                "%s ch %d: %s; safe state (%s)",
                self.name,
                state.channel,
                reason,
                self._describe_safe_state(),
            )
        if stop_now and self.safe_state.stop:
            await self._stop_channels([state])

    async def _stop_channels(self, states: list[_Channel]) -> None:
        try:
            await self.client.stop([state.channel for state in states])
        except BatchRejected as exc:
            failures: dict[int, BaseException] = dict(exc.rejections)
        except ChannelNotRunning as exc:
            failures = (
                {} if exc.channel is not None else dict.fromkeys((s.channel for s in states), exc)
            )
        except (CtiError, OSError) as exc:
            failures = dict.fromkeys((s.channel for s in states), exc)
        else:
            failures = {}
        for state in states:
            error = failures.get(state.channel)
            if error is None or isinstance(error, ChannelNotRunning):
                continue
            result = state.result
            text = f"stopping the test failed: {error}"
            result.safe_state_error = (
                f"{result.safe_state_error}; {text}" if result.safe_state_error else text
            )
            result.safe_state_applied = False
            log.error("%s ch %d: %s", self.name, state.channel, text)

    def _describe_safe_state(self) -> str:
        parts = [f"{k}={v:g}" for k, v in self.safe_state.values_for(self.variable).items()]
        if self.safe_state.stop:
            parts.append("stop the test")
        return ", ".join(parts)

    async def _end_remaining(self, reason: str) -> None:
        remaining = self._active()
        if not remaining:
            return
        if self.safe_state_on_stop:
            await self._safe_state(remaining, None, reason)
        else:
            for state in remaining:
                self._finish(state, Outcome.STOPPED, reason)


async def _wait_until(due: float, stop_event: asyncio.Event) -> bool:
    """Sleep until ``due`` (monotonic); True when a stop was requested."""
    delay = due - time.monotonic()
    if delay > 0 and not stop_event.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop_event.wait(), delay)
    return stop_event.is_set()


async def _run(
    host: str, port: int, loop_options: dict[str, Any], client_options: dict[str, Any]
) -> ControlReport:
    async with AsyncCyclerClient(host, port, **client_options) as client:
        return await ControlLoop(client, **loop_options).run()


def run_control_loop(
    host: str,
    port: int = DEFAULT_PORT,
    *,
    channels: int | Iterable[int],
    algorithm: Algorithm | Mapping[int, Algorithm],
    username: str | None = None,
    password: str | None = None,
    env_path: str | None = None,
    **options: Any,
) -> ControlReport:
    """Blocking convenience: connect, run a :class:`ControlLoop` to its end, disconnect.

    ``options`` are the keyword arguments of :class:`ControlLoop` (``period_s``, ``bounds``,
    ``safe_state``, ...). Credentials as for every client (arguments, environment, ``.env``).

    Raises:
        ValueError: for invalid options or missing credentials.
        CtiConnectionError, LoginError: when the cycler cannot be reached or refuses the login.
    """
    client_options = {"username": username, "password": password, "env_path": env_path}
    loop_options = {"channels": channels, "algorithm": algorithm, **options}
    return asyncio.run(_run(host, port, loop_options, client_options))
