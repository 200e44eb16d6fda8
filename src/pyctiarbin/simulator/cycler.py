"""The simulated cycler: its channels, their state machine, simulated time and status records.

Each channel drives a :class:`~.engine.ScheduleRun` (a cell model running a schedule). Time is
lazy: a channel is advanced to "now" (``monotonic() x speed``) only when someone looks at it or
commands it, and at most every ``refresh_interval_s`` of wall-clock time unless a command changed
it. The packed channel-info record of a channel is cached until the channel changes; an idle,
relaxed channel ("quiescent") keeps its record until a command touches it, so answering a
512-channel status request is mostly a ``bytes.join``.

Control methods return a member of their command's result enum (``StartResult.SUCCESS``, ...)
and never raise for a refusal; permissions (``ERROR``, 0x11) are the server's business. Channel
indexes are 0-based here, as on the wire. Every public method is thread-safe (one re-entrant
lock).

Status mapping from the engine: idle -> Idle, rest -> Rest, charge -> Charge, discharge ->
Discharge, paused -> Pause, finished -> Finished, stopped -> Idle (exit condition ``Stop``),
unsafe -> Unsafe. A status forced from outside (``force_status``) wins over the engine's.
An unsafe channel refuses START, RESUME and CONTINUE until a schedule is assigned again, which
acknowledges the unsafe condition.
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..protocol import (
    AssignResult,
    AuxOptions,
    AuxReadings,
    AuxValue,
    BmsValue,
    ChannelRecord,
    ChannelSelection,
    CommandCode,
    ContinueResult,
    JumpResult,
    MetaVariableEntry,
    ResumeData,
    ResumeDataRecord,
    ResumeResult,
    SetMetaVariableResult,
    SmbValue,
    StartDataRecord,
    StartDataResult,
    StartResult,
    StatusCode,
    StopResult,
    UpdateMetaVariableResult,
    checksum,
)
from ..protocol.framing import build_frame
from .cell import Cell
from .config import SimulatorConfig
from .engine import (
    ChannelReading,
    RunSettings,
    RunStateError,
    RunStatus,
    ScheduleRun,
    StepRecord,
)
from .schedule import (
    Schedule,
    ScheduleNotFoundError,
    ScheduleParseError,
    UnknownStepError,
    find_schedule,
    meta_code_number,
    read_schedule,
    rest_schedule,
)

__all__ = [
    "RECORD_FIELDS",
    "ChannelSnapshot",
    "Cycler",
]

logger = logging.getLogger(__name__)

_U32 = struct.Struct("<I")
_ENGINE_STATUS = {
    RunStatus.IDLE: StatusCode.IDLE,
    RunStatus.REST: StatusCode.REST,
    RunStatus.CHARGE: StatusCode.CHARGE,
    RunStatus.DISCHARGE: StatusCode.DISCHARGE,
    RunStatus.PAUSED: StatusCode.PAUSE,
    RunStatus.FINISHED: StatusCode.FINISHED,
    RunStatus.STOPPED: StatusCode.IDLE,
    RunStatus.UNSAFE: StatusCode.UNSAFE,
}
_UNSAFE_STATES = frozenset({StatusCode.UNSAFE, StatusCode.DAQ_MEMORY_UNSAFE})
#: Steps remembered per channel for :meth:`Cycler.step_history`.
_STEP_HISTORY = 1024
_FEEDBACK_CODE = int(CommandCode.GET_CHANNELS_INFO_FEEDBACK)

#: Channel-record fields that :meth:`Cycler.set_fields` may pin (everything but the index and
#: the aux/BMS/SMB parts; ``status`` goes through :meth:`Cycler.force_status`).
RECORD_FIELDS = frozenset(
    name for name in ChannelRecord.LAYOUT.names if name not in ("channel_index", "status")
)


@dataclass(frozen=True)
class ChannelSnapshot:
    """What one channel looks like now (for tests and tools; see :meth:`Cycler.snapshot`).

    ``channel`` is 1-based (as MITS shows it), ``channel_index`` 0-based (as on the wire).
    ``record`` is exactly what a channel-info request without aux data would return;
    ``reading`` is the engine's view, with ``soc`` and the cell ``temperature_c``.
    """

    channel: int
    channel_index: int
    status: StatusCode
    test_name: str
    schedule: str
    record: ChannelRecord
    reading: ChannelReading
    soc: float
    meta_variables: tuple[float, ...]


class _Channel:
    """One IV channel: the run, what the cycler adds around it, and the record cache."""

    __slots__ = (
        "aux_overrides",
        "barcode",
        "cache",
        "dirty",
        "fields",
        "forced_status",
        "index",
        "last_mv_update_s",
        "quiescent",
        "run",
        "sim_time_s",
        "step_history",
        "temperature_c",
        "temperature_rate",
        "test_name",
        "unsafe_acknowledged",
        "wall_time_s",
    )

    def __init__(
        self,
        index: int,
        run: ScheduleRun,
        sim_time_s: float,
        wall_time_s: float,
        step_history: deque[StepRecord],
    ) -> None:
        self.index = index
        self.run = run
        self.step_history = step_history
        self.sim_time_s = sim_time_s
        self.wall_time_s = wall_time_s
        self.test_name = ""
        self.barcode = ""
        self.forced_status: StatusCode | None = None
        self.fields: dict[str, Any] = {}
        self.aux_overrides: dict[str, float] = {}
        self.cache: dict[int, tuple[bytes, int]] = {}
        self.dirty = True
        self.quiescent = False
        self.unsafe_acknowledged = False
        self.last_mv_update_s = -math.inf
        self.temperature_c = run.cell.temperature_c
        self.temperature_rate = 0.0

    @property
    def status(self) -> StatusCode:
        if self.forced_status is not None:
            return self.forced_status
        engine = self.run.status
        if engine is RunStatus.UNSAFE and self.unsafe_acknowledged:
            return StatusCode.IDLE
        return _ENGINE_STATUS[engine]

    @property
    def busy(self) -> bool:
        """Running or paused: a test is in progress."""
        status = self.status
        return status.is_running or status is StatusCode.PAUSE

    @property
    def unsafe(self) -> bool:
        return self.status in _UNSAFE_STATES


class Cycler:
    """The state of a simulated cycler (see the module docstring).

    ``root`` is the simulator's root directory; schedules are looked up in ``<root>/Work``, then
    among the shipped ones. ``clock`` returns wall-clock seconds (monotonic).

    Raises:
        Nothing from the constructor.
    """

    def __init__(
        self,
        config: SimulatorConfig,
        root: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.root = root
        self.work_dir = root / "Work"
        self.lock = threading.RLock()
        self.received_messages: list[str] = []
        self._clock = clock
        self._speed = config.speed
        self._wall_base_s = clock()
        self._sim_base_s = 0.0
        self._schedules: dict[Path, tuple[int, Schedule]] = {}
        settings = RunSettings(max_current_a=config.max_current_a)
        now = self._wall_base_s
        self._channels = []
        for index in range(config.channels):
            history: deque[StepRecord] = deque(maxlen=_STEP_HISTORY)
            cell = Cell(config.channel_cells.get(index + 1, config.cell))
            run = ScheduleRun(cell=cell, settings=settings, on_step=history.append)
            self._channels.append(_Channel(index, run, 0.0, now, history))

    # -- time ----------------------------------------------------------------------------------

    @property
    def num_channels(self) -> int:
        return len(self._channels)

    @property
    def speed(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on (simulated time stays continuous).

        Raises:
            ValueError: if ``speed`` is not a positive finite number.
        """
        if not math.isfinite(speed) or speed <= 0:
            raise ValueError(f"speed must be a positive finite number, got {speed!r}")
        with self.lock:
            now = self._clock()
            for channel in self._channels:  # time so far passed at the old speed
                if not channel.quiescent:
                    self._refresh(channel, now, force=True)
            self._sim_base_s = self.sim_time_s(now)
            self._wall_base_s = now
            self._speed = speed

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Take wall-clock seconds from ``clock`` from now on (simulated time stays continuous).

        Tests drive the simulation with a clock of their own this way, whatever the load of
        the machine.
        """
        with self.lock:
            now = self._clock()
            for channel in self._channels:
                self._refresh(channel, now, force=True)
            self._sim_base_s = self.sim_time_s(now)
            self._clock = clock
            self._wall_base_s = clock()
            for channel in self._channels:
                channel.wall_time_s = self._wall_base_s

    def sim_time_s(self, wall_s: float | None = None) -> float:
        """Simulated seconds since the cycler started."""
        wall = self._clock() if wall_s is None else wall_s
        return self._sim_base_s + (wall - self._wall_base_s) * self._speed

    def _refresh(self, channel: _Channel, wall_s: float, *, force: bool = False) -> None:
        """Advance ``channel`` to now, unless it was refreshed very recently or is quiescent."""
        if not (force or channel.dirty) and (
            channel.quiescent or wall_s - channel.wall_time_s < self.config.refresh_interval_s
        ):
            if channel.quiescent:
                channel.sim_time_s = self.sim_time_s(wall_s)
                channel.wall_time_s = wall_s
            return
        sim_now = self.sim_time_s(wall_s)
        dt_s = sim_now - channel.sim_time_s
        run = channel.run
        if dt_s > 0.0:
            run.advance(dt_s)
            temperature = run.cell.temperature_c
            channel.temperature_rate = (temperature - channel.temperature_c) / dt_s
            channel.temperature_c = temperature
            channel.sim_time_s = sim_now
        channel.wall_time_s = wall_s
        channel.cache.clear()
        channel.dirty = False
        cell = run.cell
        channel.quiescent = (
            not run.status.is_running
            and abs(cell.v_rc_v) < 1e-7
            and abs(cell.temperature_c - cell.parameters.ambient_temperature_c) < 1e-5
        )

    def _touch(self, channel: _Channel) -> None:
        """Mark a channel changed by a command: its record is rebuilt on the next read."""
        channel.dirty = True
        channel.quiescent = False
        channel.cache.clear()

    def _channel(self, index: int) -> _Channel | None:
        if 0 <= index < len(self._channels):
            return self._channels[index]
        return None

    # -- records -------------------------------------------------------------------------------

    def _record(self, channel: _Channel, options: int) -> ChannelRecord:
        run = channel.run
        cell = run.cell
        reading = run.reading()
        values: dict[str, Any] = {
            "channel_index": channel.index,
            "status": channel.status,
            "schedule": reading.schedule_name,
            "test_name": channel.test_name,
            "exit_condition": reading.exit_condition,
            "step_and_cycle_format": reading.step_and_cycle_format,
            "barcode": channel.barcode,
            "master_channel": channel.index & 0xFFFF,
            "test_time_s": reading.test_time_s,
            "step_time_s": reading.step_time_s,
            "voltage_v": reading.voltage_v,
            "current_a": reading.current_a,
            "power_w": reading.power_w,
            "charge_capacity_ah": reading.charge_capacity_ah,
            "discharge_capacity_ah": reading.discharge_capacity_ah,
            "charge_energy_wh": reading.charge_energy_wh,
            "discharge_energy_wh": reading.discharge_energy_wh,
            "internal_resistance_ohm": reading.internal_resistance_ohm,
            "dvdt_vbys": reading.dvdt_vbys,
            "acr_ohm": reading.internal_resistance_ohm,
            "aci_ohm": reading.internal_resistance_ohm + 0.5 * cell.parameters.r1_ohm,
            "aci_phase_degrees": -3.0,
        }
        values.update(channel.fields)
        voltage = float(values["voltage_v"])
        temperature = channel.aux_overrides.get("temperature_c", cell.temperature_c)
        if options & AuxOptions.AUX:
            aux_voltage = channel.aux_overrides.get("voltage_v", voltage)
            config = self.config
            values["aux"] = AuxReadings(
                voltage=(AuxValue(aux_voltage, reading.dvdt_vbys),) * config.aux_voltage_count,
                temperature=(AuxValue(temperature, channel.temperature_rate),)
                * config.aux_temperature_count,
            )
        if options & AuxOptions.BMS:
            values["bms"] = (
                BmsValue(0, 100.0 * cell.soc, "%"),
                BmsValue(1, voltage, "V"),
                BmsValue(2, temperature, "degC"),
            )
        if options & AuxOptions.SMB:
            values["smb"] = (
                SmbValue(0, voltage, "V"),
                SmbValue(1, temperature, "degC"),
                SmbValue(2, f"SIM-{channel.index + 1:04d}", ""),
            )
        return ChannelRecord(**values)

    def _record_bytes(self, channel: _Channel, options: int) -> tuple[bytes, int]:
        cached = channel.cache.get(options)
        if cached is None:
            data = self._record(channel, options).pack()
            cached = (data, checksum(data))
            channel.cache[options] = cached
        return cached

    def channel_info_frame(self, channel_index: int, selection: int, aux_options: int) -> bytes:
        """The whole GET_CHANNELS_INFO feedback frame for a request, encoded.

        ``channel_index`` -1 (or any channel with ``answer_all``) means every channel;
        ``selection`` 2 keeps running channels, 3 unsafe ones (anything else: all).
        An index that does not exist gives a feedback with no records.
        """
        options = aux_options & int(AuxOptions.ALL)
        with self.lock:
            wall_s = self._clock()
            if channel_index == -1 or (
                self.config.answer_all and 0 <= channel_index < len(self._channels)
            ):
                chosen: Iterable[_Channel] = self._channels
            else:
                single = self._channel(channel_index)
                chosen = () if single is None else (single,)
            parts: list[bytes] = []
            total = 0
            for channel in chosen:
                self._refresh(channel, wall_s)
                if selection == ChannelSelection.RUNNING and not channel.status.is_running:
                    continue
                if selection == ChannelSelection.UNSAFE and not channel.unsafe:
                    continue
                data, data_sum = self._record_bytes(channel, options)
                parts.append(data)
                total += data_sum
        count = _U32.pack(len(parts))
        return build_frame(
            _FEEDBACK_CODE, (count, b"".join(parts)), request=False, part_sums=(None, total)
        )

    def snapshot(self, channel_index: int) -> ChannelSnapshot:
        """A :class:`ChannelSnapshot` of one channel, advanced to now.

        Raises:
            IndexError: if the channel does not exist.
        """
        with self.lock:
            channel = self._require(channel_index, now=True)
            reading = channel.run.reading()
            return ChannelSnapshot(
                channel=channel_index + 1,
                channel_index=channel_index,
                status=channel.status,
                test_name=channel.test_name,
                schedule=reading.schedule_name,
                record=self._record(channel, 0),
                reading=reading,
                soc=channel.run.cell.soc,
                meta_variables=reading.meta_variables,
            )

    def _require(self, channel_index: int, *, now: bool = False) -> _Channel:
        """The channel (``now``: brought up to now); IndexError if it does not exist."""
        channel = self._brought_to_now(channel_index) if now else self._channel(channel_index)
        if channel is None:
            raise IndexError(
                f"channel index {channel_index} does not exist (0..{len(self._channels) - 1})"
            )
        return channel

    def _brought_to_now(self, channel_index: int) -> _Channel | None:
        """The channel, advanced to now for a command (None if it does not exist)."""
        channel = self._channel(channel_index)
        if channel is not None:
            self._refresh(channel, self._clock(), force=True)
        return channel

    def is_running(self, channel_index: int) -> bool:
        """True if the channel is running (its status is a running status)."""
        with self.lock:
            channel = self._require(channel_index)
            self._refresh(channel, self._clock())
            return channel.status.is_running

    def any_running(self) -> bool:
        """True if any channel is running."""
        with self.lock:
            wall_s = self._clock()
            for channel in self._channels:
                self._refresh(channel, wall_s)
                if channel.status.is_running:
                    return True
            return False

    # -- schedules -----------------------------------------------------------------------------

    def load_schedule(self, name: str) -> Schedule:
        """Find and parse schedule ``name`` (``<root>/Work`` first, then the shipped ones).

        Raises:
            ScheduleNotFoundError: if there is no such schedule.
            ScheduleParseError: if the file is not a valid schedule.
            OSError: if it cannot be read.
        """
        path = find_schedule(name, [self.work_dir])
        if path.parent == self.work_dir and (
            path.is_symlink() or path.resolve().parent != self.work_dir.resolve()
        ):
            # Names come from the network: never follow a link out of the work directory.
            raise ScheduleNotFoundError(f"{name!r} is a link, not a schedule file")
        stamp = path.stat().st_mtime_ns
        cached = self._schedules.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        schedule = read_schedule(path)
        self._schedules[path] = (stamp, schedule)
        return schedule

    def schedule_in_use(self, path: Path) -> bool:
        """True if ``path`` is the schedule of a running or paused channel."""
        try:
            target = path.resolve()
        except OSError:
            return False
        with self.lock:
            wall_s = self._clock()
            for channel in self._channels:
                schedule = channel.run.schedule
                if schedule is None or schedule.source == "<string>":
                    continue
                self._refresh(channel, wall_s)
                if channel.busy and Path(schedule.source).resolve() == target:
                    return True
        return False

    # -- control -------------------------------------------------------------------------------

    def assign(self, channel_index: int, schedule_name: str) -> AssignResult:
        """ASSIGN_SCHEDULE on one channel; returns an :class:`AssignResult` code."""
        with self.lock:
            channel = self._channel(channel_index)
            if channel is None:
                return AssignResult.INDEX
            name = schedule_name.strip()
            if not name:
                return AssignResult.SCHEDULE_NAME_EMPTY
            self._refresh(channel, self._clock(), force=True)
            if channel.busy:
                return AssignResult.CHANNEL_RUNNING
            try:
                schedule = self.load_schedule(name)
            except ScheduleNotFoundError:
                if not self.config.lenient:
                    return AssignResult.SCHEDULE_NOT_FOUND
                schedule = rest_schedule(name)
            except (ScheduleParseError, OSError) as exc:
                logger.warning("assign %r to channel index %d: %s", name, channel_index, exc)
                return AssignResult.CANNOT_ASSIGN
            try:
                channel.run.assign_schedule(schedule)
            except RunStateError:
                return AssignResult.CHANNEL_RUNNING
            if channel.forced_status in _UNSAFE_STATES:
                channel.forced_status = None
            channel.unsafe_acknowledged = True
            self._touch(channel)
            return AssignResult.SUCCESS

    def start(
        self, channel_index: int, test_name: str, step_index: int | None = None
    ) -> StartResult:
        """START on one channel (``step_index``: 0-based first step, START_EX); a
        :class:`StartResult` code."""
        with self.lock:
            channel = self._brought_to_now(channel_index)
            if channel is None:
                return StartResult.INDEX
            if channel.busy or channel.unsafe:
                return StartResult.CHANNEL_RUNNING
            run = channel.run
            if run.schedule is None:
                return StartResult.NO_SCHEDULE_ASSIGNED
            if not test_name.strip():
                return StartResult.TEST_NAME_EXISTS
            step = 1 if step_index is None else step_index + 1
            channel.step_history.clear()
            try:
                run.start(step)
            except UnknownStepError:
                return StartResult.STEP_NUMBER
            except RunStateError:
                return StartResult.CHANNEL_RUNNING
            channel.test_name = test_name
            channel.forced_status = None
            self._touch(channel)
            return StartResult.SUCCESS

    def continue_channel(self, channel_index: int) -> ContinueResult:
        """CONTINUE (the Continue button: go on after a pause); a :class:`ContinueResult`."""
        with self.lock:
            channel = self._brought_to_now(channel_index)
            if channel is None:
                return ContinueResult.INDEX
            if channel.status.is_running:
                return ContinueResult.CHANNEL_RUNNING
            if channel.unsafe:
                return ContinueResult.CHANNEL_UNSAFE
            if channel.status is not StatusCode.PAUSE or channel.run.status is not RunStatus.PAUSED:
                return ContinueResult.NOT_PAUSED
            return ContinueResult.SUCCESS if self._resumed(channel) else ContinueResult.NOT_PAUSED

    def resume(self, channel_index: int) -> ResumeResult:
        """RESUME a stopped (or paused) test where it left off; a :class:`ResumeResult`."""
        with self.lock:
            channel = self._brought_to_now(channel_index)
            if channel is None:
                return ResumeResult.INDEX
            if channel.status.is_running or channel.unsafe:
                return ResumeResult.CHANNEL_RUNNING
            run = channel.run
            if run.schedule is None:
                return ResumeResult.NO_SCHEDULE_ASSIGNED
            if run.status not in (RunStatus.PAUSED, RunStatus.STOPPED) or run.step is None:
                return ResumeResult.NO_TEST_NAME
            return ResumeResult.SUCCESS if self._resumed(channel) else ResumeResult.NO_TEST_NAME

    def _resumed(self, channel: _Channel) -> bool:
        """Resume the channel's paused or stopped run (CONTINUE, RESUME); False if its state
        does not allow it."""
        try:
            channel.run.resume()
        except RunStateError:
            return False
        channel.forced_status = None
        self._touch(channel)
        return True

    def pause(self, channel_index: int) -> bool:
        """Pause a running channel (MITS's Pause button; no CTI command does it).

        Returns whether the channel was running.

        Raises:
            IndexError: if the channel does not exist.
        """
        with self.lock:
            channel = self._require(channel_index, now=True)
            try:
                channel.run.pause()
            except RunStateError:
                return False
            self._touch(channel)
            return True

    def stop(self, channel_index: int) -> StopResult:
        """STOP; stopping a channel that is not running succeeds (nothing to do)."""
        with self.lock:
            channel = self._brought_to_now(channel_index)
            if channel is None:
                return StopResult.INDEX
            run = channel.run
            if run.status.is_running or run.status is RunStatus.PAUSED:
                run.stop()
            if channel.forced_status is not None and channel.forced_status not in _UNSAFE_STATES:
                channel.forced_status = None
            self._touch(channel)
            return StopResult.SUCCESS

    def jump(self, channel_index: int, step_index: int) -> JumpResult:
        """JUMP to ``step_index`` (0-based, protocol v1.1); beyond the last step the test
        stops, as v1.1 documents. A :class:`JumpResult` code."""
        with self.lock:
            channel = self._brought_to_now(channel_index)
            if channel is None:
                return JumpResult.INDEX
            run = channel.run
            if not (run.status.is_running or run.status is RunStatus.PAUSED):
                return JumpResult.CHANNEL_NOT_RUNNING
            schedule = run.schedule
            if schedule is None:
                return JumpResult.NO_SCHEDULE_ASSIGNED
            if step_index < 0:
                return JumpResult.STEP_NUMBER
            if step_index >= len(schedule.steps):
                run.stop()
            else:
                run.jump(step_index + 1)
            self._touch(channel)
            return JumpResult.SUCCESS

    def set_meta_variable(
        self,
        channel_index: int,
        meta_code: int,
        value: float,
        *,
        mv_type: int = 1,
        value_type: int = 1,
    ) -> SetMetaVariableResult:
        """SET_MV_VALUE; a :class:`SetMetaVariableResult` code. The channel must be running or
        paused (any state with ``lenient``)."""
        with self.lock:
            channel = self._channel(channel_index)
            if channel is None or mv_type != 1 or value_type != 1 or not math.isfinite(value):
                return SetMetaVariableResult.FAILED
            number = meta_code_number(meta_code)
            if number is None:
                return SetMetaVariableResult.META_CODE_NOT_FOUND
            self._refresh(channel, self._clock(), force=True)
            if not (channel.busy or self.config.lenient):
                return SetMetaVariableResult.CHANNEL_NOT_RUNNING
            channel.run.set_meta_variable(number, value)
            self._touch(channel)
            return SetMetaVariableResult.SUCCESS

    def update_meta_variables(
        self, entries: tuple[MetaVariableEntry, ...], max_entries: int
    ) -> tuple[int | None, UpdateMetaVariableResult]:
        """UPDATE_MV_ADVANCED: every entry is checked first, then all are applied (or none).

        Returns ``(channel index of the first failing entry or None, result code)``. Result
        0x14 (too frequent) when a channel's meta variables were updated this way less than
        ``mv_min_interval_s`` ago.
        """
        with self.lock:
            if not entries or len(entries) > max_entries:
                return None, UpdateMetaVariableResult.FAILED
            wall_s = self._clock()
            resolved: list[tuple[_Channel, int, float]] = []
            for entry in entries:
                channel = self._channel(entry.channel_index)
                if channel is None or not math.isfinite(entry.value):
                    return entry.channel_index, UpdateMetaVariableResult.FAILED
                number = meta_code_number(entry.meta_code)
                if number is None:
                    return entry.channel_index, UpdateMetaVariableResult.META_CODE_NOT_FOUND
                self._refresh(channel, wall_s, force=True)
                if not (channel.busy or self.config.lenient):
                    return entry.channel_index, UpdateMetaVariableResult.CHANNEL_NOT_RUNNING
                if wall_s - channel.last_mv_update_s < self.config.mv_min_interval_s:
                    return entry.channel_index, UpdateMetaVariableResult.TOO_FREQUENT
                resolved.append((channel, number, entry.value))
            for channel, number, value in resolved:
                channel.run.set_meta_variable(number, value)
                channel.last_mv_update_s = wall_s
                self._touch(channel)
            return None, UpdateMetaVariableResult.SUCCESS

    # -- start/resume data ---------------------------------------------------------------------

    def start_data(self, channel_index: int) -> StartDataRecord:
        """GET_START_DATA record of one channel (TEST_NAME_QUERY_FAILED, 34, for a
        channel that does not exist)."""
        with self.lock:
            channel = self._channel(channel_index)
            if channel is None:
                return StartDataRecord(
                    channel_index=channel_index & 0xFFFFFFFF,
                    channel_code=StartDataResult.TEST_NAME_QUERY_FAILED,
                )
            reading = channel.run.reading()
            schedule = channel.run.schedule
            return StartDataRecord(
                channel_index=channel_index,
                channel_code=StartDataResult.SUCCESS,
                test_names=(channel.test_name,) if channel.test_name else (),
                steps=_step_labels(schedule),
                schedule=reading.schedule_name,
                mv_ud=reading.meta_variables,
            )

    def resume_data(self, channel_index: int) -> ResumeDataRecord:
        """GET_RESUME_DATA record: SUCCESS when the test can be resumed, else
        RESUME_TABLE_READ_FAILED (36)."""
        unreadable = StartDataResult.RESUME_TABLE_READ_FAILED
        with self.lock:
            channel = self._brought_to_now(channel_index)
            if channel is None:
                return ResumeDataRecord(channel_index & 0xFFFFFFFF, channel_code=unreadable)
            run = channel.run
            reading = run.reading()
            resumable = run.status in (RunStatus.PAUSED, RunStatus.STOPPED) and run.step is not None
            return ResumeDataRecord(
                channel_index=channel_index,
                channel_code=StartDataResult.SUCCESS if resumable else unreadable,
                steps=_step_labels(run.schedule),
                test_name=channel.test_name,
                schedule=reading.schedule_name,
                creator="pycti-arbin simulator",
                resume_data=ResumeData(
                    cycle=max(reading.cycle_index, 0),
                    test_time_s=reading.test_time_s,
                    step_time_s=reading.step_time_s,
                    charge_capacity_ah=reading.charge_capacity_ah,
                    discharge_capacity_ah=reading.discharge_capacity_ah,
                    charge_energy_wh=reading.charge_energy_wh,
                    discharge_energy_wh=reading.discharge_energy_wh,
                    mv_ud=reading.meta_variables,
                ),
            )

    # -- poking from outside (tests, tools) ----------------------------------------------------

    def force_status(self, channel_index: int, status: StatusCode | int | None) -> None:
        """Report ``status`` for a channel whatever its engine does (None: back to normal).

        A forced running status makes the channel count as running (START and ASSIGN are
        refused); a forced Unsafe refuses START/RESUME/CONTINUE until a schedule is assigned.

        Raises:
            IndexError: if the channel does not exist.
            ValueError: if ``status`` is not a 16-bit status code.
        """
        with self.lock:
            channel = self._require(channel_index)
            channel.forced_status = None if status is None else StatusCode(status)
            self._touch(channel)

    def make_unsafe(self, channel_index: int, reason: str = "Unsafe: simulated fault") -> None:
        """Stop the channel's test (if any) and report it Unsafe with ``reason`` as its exit
        condition, as a safety limit would.

        Raises:
            IndexError: if the channel does not exist.
            ValueError: if ``reason`` does not fit the 100-character exit condition.
        """
        with self.lock:
            channel = self._require(channel_index)
            self._check_fields({"exit_condition": reason})
            self._refresh(channel, self._clock(), force=True)
            run = channel.run
            if run.status.is_running or run.status is RunStatus.PAUSED:
                run.stop()
            channel.forced_status = StatusCode.UNSAFE
            channel.unsafe_acknowledged = False
            channel.fields["exit_condition"] = reason
            self._touch(channel)

    def set_fields(self, channel_index: int, fields: Mapping[str, Any]) -> None:
        """Pin channel-record fields (``voltage_v=3.2``, ``test_name="x"``...); a value of
        ``None`` releases a pinned field.

        Raises:
            IndexError: if the channel does not exist.
            KeyError: for a name that is not a channel-record field (see ``RECORD_FIELDS``).
            ValueError: if a value cannot go on the wire.
        """
        with self.lock:
            channel = self._require(channel_index)
            unknown = set(fields) - RECORD_FIELDS
            if unknown:
                raise KeyError(f"not channel-record fields: {', '.join(sorted(unknown))}")
            pinned = {k: v for k, v in fields.items() if v is not None}
            self._check_fields(pinned)
            for name, value in fields.items():
                if value is None:
                    channel.fields.pop(name, None)
                else:
                    channel.fields[name] = value
            self._touch(channel)

    def set_aux(
        self,
        channel_index: int,
        *,
        temperature_c: float | None = None,
        voltage_v: float | None = None,
        clear: bool = False,
    ) -> None:
        """Pin the aux temperature and/or aux voltage readings of a channel (``clear``: release
        both first). Aux readings are sent when a client asks for aux data.

        Raises:
            IndexError: if the channel does not exist.
            ValueError: if a value is not finite.
        """
        with self.lock:
            channel = self._require(channel_index)
            if clear:
                channel.aux_overrides.clear()
            for name, value in (("temperature_c", temperature_c), ("voltage_v", voltage_v)):
                if value is not None:
                    if not math.isfinite(value):
                        raise ValueError(f"{name} must be finite, got {value!r}")
                    channel.aux_overrides[name] = float(value)
            self._touch(channel)

    def clear_overrides(self, channel_index: int) -> None:
        """Release every pinned field, aux value and forced status of a channel.

        Raises:
            IndexError: if the channel does not exist.
        """
        with self.lock:
            channel = self._require(channel_index)
            channel.fields.clear()
            channel.aux_overrides.clear()
            channel.forced_status = None
            self._touch(channel)

    def set_barcode(self, channel_index: int, barcode: str) -> None:
        """Set the barcode a channel reports.

        Raises:
            IndexError: if the channel does not exist.
            ValueError: if it does not fit the 72-character field.
        """
        with self.lock:
            channel = self._require(channel_index)
            self._check_fields({"barcode": barcode})
            channel.barcode = barcode
            self._touch(channel)

    def step_history(self, channel_index: int) -> tuple[StepRecord, ...]:
        """The steps a channel executed since its last START (the latest 1024), including those
        that took no time (Set Variable(s), a step whose limit held on entry), which no
        channel-info record can show.

        Raises:
            IndexError: if the channel does not exist.
        """
        with self.lock:
            channel = self._require(channel_index, now=True)
            return tuple(channel.step_history)

    def run_of(self, channel_index: int) -> ScheduleRun:
        """The engine of a channel, advanced to now (for tests that need its details).

        Raises:
            IndexError: if the channel does not exist.
        """
        with self.lock:
            channel = self._require(channel_index, now=True)
            self._touch(channel)
            return channel.run

    @staticmethod
    def _check_fields(fields: Mapping[str, Any]) -> None:
        try:
            ChannelRecord(channel_index=0, **fields).pack()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot report {dict(fields)!r}: {exc}") from exc


def _step_labels(schedule: Schedule | None) -> tuple[str, ...]:
    if schedule is None:
        return ()
    return tuple(
        step.label.encode("latin-1", "replace").decode("latin-1") for step in schedule.steps
    )
