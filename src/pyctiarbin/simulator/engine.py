"""The channel-run engine: one cycler channel running a schedule on a simulated cell.

Pure Python and deterministic: no sockets, no asyncio, no clocks. The owner (the simulator's
server) decides how much simulated time passes and calls :meth:`ScheduleRun.advance`; everything a
channel-info record reports is then available from :meth:`ScheduleRun.reading`.

Driving one channel from the server::

    run = ScheduleRun(cell=Cell(), settings=RunSettings(max_current_a=10.0))
    run.assign_schedule(load_schedule("CCCV_Charge.sdx", [user_dir]))
    run.start()                      # or run.start(step=3) / run.start(step="CV_Hold")
    ...
    run.advance(wall_elapsed_s * speed)   # on every tick, and before answering a read
    record = run.reading()                # status, voltages, capacities, texts, ...
    run.set_meta_variable("MV_UD1", 1.5)  # any time
    run.pause(); run.resume(); run.jump(2); run.stop()

Time advances in internal sub-steps. Under current, a sub-step is sized so that the voltage moves
by about ``RunSettings.voltage_step_v`` (constant current) or the current by about
``current_step_fraction`` (constant voltage), between ``min_substep_s`` and ``max_substep_s``;
a rest step needs a single sub-step, since the cell model integrates a constant current exactly.
Limits are found inside a sub-step by root finding, so a step ends at its limit whatever the
sub-step size. ``max_substeps_per_advance`` caps the work of one :meth:`~ScheduleRun.advance`
call: when a large ``dt_s`` would need more, the sub-steps grow instead (accuracy degrades
gracefully, CPU does not). Only steps shorter than such sub-steps (each step change needs one)
can exceed it; past 8 times the budget the rest of ``dt_s`` is dropped and the test runs slower
than simulated time rather than stalling the simulator. Energy integrates ``V * I`` by the
trapezoid rule on each sub-step.

Status: :class:`RunStatus` is this engine's own enum; the server maps it to the protocol's status
codes (IDLE -> Idle, CHARGE -> Charge, DISCHARGE -> Discharge, REST -> Rest, PAUSED -> Pause,
FINISHED -> Finished, STOPPED -> Idle or Finished as the server prefers, UNSAFE -> Unsafe).

A channel that is not running (idle, paused, stopped, finished, unsafe) carries no current, and
its cell keeps relaxing (voltage recovers, temperature returns to ambient) while test and step
times stand still.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from .cell import Cell, CellState
from .schedule import (
    META_VARIABLE_COUNT,
    Comparison,
    LimitQuantity,
    Schedule,
    Step,
    StepKind,
    UnknownStepError,
    meta_variable_number,
)

__all__ = [
    "ChannelNotRunningError",
    "ChannelReading",
    "ChannelRunningError",
    "NoScheduleError",
    "RunSettings",
    "RunStateError",
    "RunStatus",
    "ScheduleRun",
    "UnknownStepError",
]

_TEXT_MAX_CHARS = 63
# advance() gives up on the rest of its dt_s after this many times max_substeps_per_advance
# sub-steps (each step change costs at least one, whatever the budget).
_HARD_CAP_FACTOR = 8


class RunStateError(RuntimeError):
    """A control command that the channel's present state does not allow."""


class ChannelRunningError(RunStateError):
    """The channel is running or paused (start, assign)."""


class ChannelNotRunningError(RunStateError):
    """The channel is not running (pause, stop, jump, resume)."""


class NoScheduleError(RunStateError):
    """No schedule is assigned to the channel (start)."""


class RunStatus(Enum):
    """What the channel is doing; the server maps it to the protocol's status code."""

    IDLE = "idle"
    REST = "rest"
    CHARGE = "charge"
    DISCHARGE = "discharge"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"
    UNSAFE = "unsafe"

    @property
    def is_running(self) -> bool:
        """True while a schedule step is executing (rest, charge, discharge)."""
        return self in _RUNNING


_RUNNING = frozenset({RunStatus.REST, RunStatus.CHARGE, RunStatus.DISCHARGE})


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Channel hardware and numerics of a :class:`ScheduleRun`.

    Raises:
        ValueError: from the constructor when a value is not finite or out of range.
    """

    #: Largest current the channel can source or sink; clamps CV and MV steps.
    max_current_a: float = 10.0
    #: Channel safety limits: crossing one ends the test with status UNSAFE.
    safety_voltage_max_v: float = 5.0
    safety_voltage_min_v: float = 1.5
    #: Zero the charge/discharge capacity and energy counters when the cycle index increments
    #: (as MITS does by default); test time keeps counting.
    reset_counters_each_cycle: bool = True
    #: Sub-step sizing (see the module docstring).
    voltage_step_v: float = 0.05
    current_step_fraction: float = 0.2
    min_substep_s: float = 0.05
    max_substep_s: float = 600.0
    max_substeps_per_advance: int = 500
    #: Consecutive step changes without time passing before the run stops (a schedule whose
    #: steps keep ending at once would otherwise spin for ever).
    max_instant_transitions: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_current_a", "voltage_step_v", "current_step_fraction"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if not (0.0 < self.min_substep_s <= self.max_substep_s < math.inf):
            raise ValueError("need 0 < min_substep_s <= max_substep_s < inf")
        if not (
            math.isfinite(self.safety_voltage_max_v)
            and math.isfinite(self.safety_voltage_min_v)
            and self.safety_voltage_min_v < self.safety_voltage_max_v
        ):
            raise ValueError("need finite safety voltages with min < max")
        if self.max_substeps_per_advance < 1 or self.max_instant_transitions < 1:
            raise ValueError("max_substeps_per_advance and max_instant_transitions must be >= 1")


@dataclass(frozen=True, slots=True)
class ChannelReading:
    """A snapshot of everything a channel-info record reports about one channel.

    ``step_number`` is 1-based (0 before the first start); ``cycle_index`` starts at 1 on start
    (0 before). Currents and powers are positive when charging. ``temperature_c`` is the cell
    temperature, for an aux temperature reading. Texts are ASCII and at most 63 characters.
    """

    status: RunStatus
    schedule_name: str
    test_time_s: float
    step_time_s: float
    step_number: int
    step_label: str
    cycle_index: int
    voltage_v: float
    current_a: float
    power_w: float
    charge_capacity_ah: float
    discharge_capacity_ah: float
    charge_energy_wh: float
    discharge_energy_wh: float
    internal_resistance_ohm: float
    dvdt_vbys: float
    temperature_c: float
    step_and_cycle_format: str
    exit_condition: str
    meta_variables: tuple[float, ...]


# Index of each limit quantity in the tuple that ScheduleRun._quantities returns.
_QUANTITY_INDEX = {quantity: index for index, quantity in enumerate(LimitQuantity)}


@dataclass(frozen=True, slots=True)
class _Check:
    """A limit of the current step, resolved to base units, or a channel safety limit.

    ``margin(q) = sign * q + bias`` is >= 0 when the condition is met; the bias holds a relative
    epsilon against round-off (a time limit met to the last bit counts).
    """

    index: int
    sign: float
    bias: float
    tolerance: float
    next_step: int | None  # 1-based, None = end of schedule
    unsafe: bool
    text: str

    @classmethod
    def make(
        cls,
        quantity: LimitQuantity,
        at_least: bool,
        threshold: float,
        next_step: int | None,
        unsafe: bool,
        text: str,
    ) -> _Check:
        sign = 1.0 if at_least else -1.0
        scale = max(1.0, abs(threshold))
        return cls(
            index=_QUANTITY_INDEX[quantity],
            sign=sign,
            bias=-sign * threshold + 1e-9 * scale,
            tolerance=2e-4 if quantity is LimitQuantity.VOLTAGE else 1e-5 * scale,
            next_step=next_step,
            unsafe=unsafe,
            text=text,
        )


class _Trial(NamedTuple):
    """A candidate sub-step: the current ramps from ``start_a`` to ``end_a`` over ``dt_s``,
    giving ``state`` and the terminal voltage ``voltage_v`` at its end."""

    dt_s: float
    start_a: float
    end_a: float
    state: CellState
    voltage_v: float


class ScheduleRun:
    """One channel: a cell, an optional schedule, and the state of running it.

    See the module docstring for how a server drives it. All methods are synchronous and cheap;
    nothing here blocks or performs I/O.

    Raises:
        Nothing from the constructor.
    """

    def __init__(
        self,
        schedule: Schedule | None = None,
        cell: Cell | None = None,
        settings: RunSettings | None = None,
    ) -> None:
        self._schedule = schedule
        self._cell = cell if cell is not None else Cell()
        self._settings = settings if settings is not None else RunSettings()
        self._status = RunStatus.IDLE
        self._meta = [0.0] * META_VARIABLE_COUNT
        self._step_number = 0
        self._cycle_index = 0
        self._test_time_s = 0.0
        self._step_time_s = 0.0
        self._charge_ah = 0.0
        self._discharge_ah = 0.0
        self._charge_wh = 0.0
        self._discharge_wh = 0.0
        self._step_charge_ah = 0.0
        self._step_discharge_ah = 0.0
        self._current_a = 0.0
        self._voltage_v = self._cell.terminal_voltage_v(0.0)
        self._dvdt_vbys = 0.0
        self._exit_condition = ""
        self._instant_transitions = 0
        # Resolved for the current step on entry:
        self._checks: tuple[_Check, ...] = ()
        self._setpoint_a = 0.0
        self._clamp_a = self._settings.max_current_a
        self._mv_index = 0

    # -- read-only state -----------------------------------------------------------------------

    @property
    def cell(self) -> Cell:
        """The simulated cell (its state persists across tests)."""
        return self._cell

    @property
    def settings(self) -> RunSettings:
        """Channel hardware and numerics."""
        return self._settings

    @property
    def schedule(self) -> Schedule | None:
        """The assigned schedule, if any."""
        return self._schedule

    @property
    def status(self) -> RunStatus:
        """What the channel is doing."""
        return self._status

    @property
    def step(self) -> Step | None:
        """The step in progress (or last run), ``None`` before the first start."""
        if self._schedule is None or self._step_number == 0:
            return None
        return self._schedule.steps[self._step_number - 1]

    @property
    def step_number(self) -> int:
        """1-based number of the current step; 0 before the first start."""
        return self._step_number

    @property
    def cycle_index(self) -> int:
        """Cycle index (1 from start; loops increment it); 0 before the first start."""
        return self._cycle_index

    @property
    def test_time_s(self) -> float:
        """Simulated seconds spent running the test (pauses excluded)."""
        return self._test_time_s

    @property
    def step_time_s(self) -> float:
        """Simulated seconds spent in the current step (pauses excluded)."""
        return self._step_time_s

    @property
    def voltage_v(self) -> float:
        """Terminal voltage in V."""
        return self._voltage_v

    @property
    def current_a(self) -> float:
        """Current in A, positive when charging."""
        return self._current_a

    @property
    def exit_condition(self) -> str:
        """What ended the last step or the test (``Voltage>=4.2V``, ``Stop``, ...); ASCII."""
        return self._exit_condition

    @property
    def step_and_cycle_format(self) -> str:
        """``[<cycle>] <step>: <label>, <kind>``, like ``[1] 2: CV_Hold, CV``; empty at first."""
        step = self.step
        if step is None:
            return ""
        text = f"[{self._cycle_index}] {step.number}: {step.label}, {step.kind.display_name}"
        return text[:_TEXT_MAX_CHARS]

    @property
    def meta_variables(self) -> tuple[float, ...]:
        """MV_UD1 .. MV_UD16, in order."""
        return tuple(self._meta)

    def meta_variable(self, name: str | int) -> float:
        """The value of one meta variable (``"MV_UD3"`` or ``3``).

        Raises:
            ValueError: if ``name`` is not MV_UD1 .. MV_UD16.
        """
        return self._meta[meta_variable_number(name) - 1]

    def reading(self) -> ChannelReading:
        """A snapshot of everything a channel-info record reports."""
        step = self.step
        return ChannelReading(
            status=self._status,
            schedule_name=self._schedule.name if self._schedule is not None else "",
            test_time_s=self._test_time_s,
            step_time_s=self._step_time_s,
            step_number=self._step_number,
            step_label=step.label if step is not None else "",
            cycle_index=self._cycle_index,
            voltage_v=self._voltage_v,
            current_a=self._current_a,
            power_w=self._voltage_v * self._current_a,
            charge_capacity_ah=self._charge_ah,
            discharge_capacity_ah=self._discharge_ah,
            charge_energy_wh=self._charge_wh,
            discharge_energy_wh=self._discharge_wh,
            internal_resistance_ohm=self._cell.internal_resistance_ohm,
            dvdt_vbys=self._dvdt_vbys,
            temperature_c=self._cell.temperature_c,
            step_and_cycle_format=self.step_and_cycle_format,
            exit_condition=self._exit_condition,
            meta_variables=tuple(self._meta),
        )

    # -- control -------------------------------------------------------------------------------

    def assign_schedule(self, schedule: Schedule) -> None:
        """Assign the schedule that the next :meth:`start` runs.

        Raises:
            ChannelRunningError: if the channel is running or paused.
        """
        if self._status.is_running or self._status is RunStatus.PAUSED:
            raise ChannelRunningError("cannot assign a schedule while the channel is running")
        self._schedule = schedule
        self._step_number = 0

    def start(self, step: int | str = 1) -> None:
        """Start the assigned schedule at ``step`` (1-based number or label) with fresh counters.

        Raises:
            NoScheduleError: if no schedule is assigned.
            ChannelRunningError: if the channel is running or paused.
            UnknownStepError: if ``step`` names no step of the schedule.
        """
        if self._status.is_running or self._status is RunStatus.PAUSED:
            raise ChannelRunningError("the channel is already running")
        if self._schedule is None:
            raise NoScheduleError("no schedule is assigned to the channel")
        number = self._schedule.step_number(step)
        self._test_time_s = 0.0
        self._step_time_s = 0.0
        self._step_number = 0
        self._cycle_index = 1
        self._reset_counters()
        self._exit_condition = ""
        self._instant_transitions = 0
        self._status = RunStatus.REST  # running; the step entry sets the precise status
        self._enter_step(number)

    def pause(self) -> None:
        """Pause: no current, test and step times stand still until :meth:`resume`.

        Raises:
            ChannelNotRunningError: if the channel is not running.
        """
        if not self._status.is_running:
            raise ChannelNotRunningError("only a running channel can be paused")
        self._status = RunStatus.PAUSED
        self._set_no_current()

    def resume(self) -> None:
        """Continue a paused or stopped test in the step where it left off.

        Raises:
            ChannelRunningError: if the channel is running.
            ChannelNotRunningError: if there is no paused or stopped test to resume.
        """
        if self._status.is_running:
            raise ChannelRunningError("the channel is already running")
        if self._status not in (RunStatus.PAUSED, RunStatus.STOPPED) or self.step is None:
            raise ChannelNotRunningError("no paused or stopped test to resume")
        self._status = RunStatus.REST
        self._activate_step(self.step)

    def stop(self) -> None:
        """Stop the test (status STOPPED, exit condition ``Stop``); :meth:`resume` can continue it.

        Raises:
            ChannelNotRunningError: if the channel is neither running nor paused.
        """
        if not (self._status.is_running or self._status is RunStatus.PAUSED):
            raise ChannelNotRunningError("the channel is not running")
        self._status = RunStatus.STOPPED
        self._exit_condition = "Stop"
        self._set_no_current()

    def jump(self, step: int | str) -> None:
        """Go to ``step`` (1-based number or label) now; a paused channel stays paused.

        Raises:
            ChannelNotRunningError: if the channel is neither running nor paused.
            UnknownStepError: if ``step`` names no step of the schedule.
        """
        if not (self._status.is_running or self._status is RunStatus.PAUSED):
            raise ChannelNotRunningError("only a running or paused channel can jump")
        if self._schedule is None:  # cannot happen while running; keeps the types honest
            raise NoScheduleError("no schedule is assigned to the channel")
        number = self._schedule.step_number(step)
        self._exit_condition = f"Jump to step {number}"
        self._instant_transitions = 0
        self._enter_step(number)

    def set_meta_variable(self, name: str | int, value: float) -> None:
        """Set one meta variable (``"MV_UD1"``..``"MV_UD16"`` or 1..16); allowed in any state.

        A running ``mv_current`` step that follows it applies the new current at once.

        Raises:
            ValueError: if the name is not MV_UD1 .. MV_UD16 or the value is not finite.
        """
        number = meta_variable_number(name)
        if not math.isfinite(value):
            raise ValueError(f"meta variable value must be finite, got {value!r}")
        self._meta[number - 1] = float(value)
        step = self.step
        if (
            self._status.is_running
            and step is not None
            and step.kind is StepKind.MV_CURRENT
            and step.variable == f"MV_UD{number}"
        ):
            self._activate_step(step)

    # -- time ----------------------------------------------------------------------------------

    def advance(self, dt_s: float) -> None:
        """Let ``dt_s`` seconds of simulated time pass.

        Runs the schedule (steps, limits, loops, end) when running; otherwise the cell rests.

        Raises:
            ValueError: if ``dt_s`` is negative or not finite.
        """
        if not math.isfinite(dt_s) or dt_s < 0.0:
            raise ValueError(f"dt_s must be finite and >= 0, got {dt_s!r}")
        remaining_s = float(dt_s)
        substeps_left = self._settings.max_substeps_per_advance
        hard_cap = _HARD_CAP_FACTOR * self._settings.max_substeps_per_advance
        while remaining_s > 0.0 and self._status.is_running:
            step = self.step
            if step is None or substeps_left <= -hard_cap:
                # Steps shorter than the sub-steps the budget allows (or a schedule that spins):
                # the rest of dt_s is dropped, so the test runs slower than simulated time
                # instead of eating the CPU.
                return
            floor_s = remaining_s / max(substeps_left, 1)
            substeps_left -= 1
            remaining_s = max(remaining_s - self._substep(step, remaining_s, floor_s), 0.0)
        if remaining_s > 0.0:
            self._rest_cell(remaining_s)

    # -- internals: steps ----------------------------------------------------------------------

    def _reset_counters(self) -> None:
        self._charge_ah = 0.0
        self._discharge_ah = 0.0
        self._charge_wh = 0.0
        self._discharge_wh = 0.0

    def _set_no_current(self) -> None:
        self._current_a = 0.0
        self._voltage_v = self._cell.terminal_voltage_v(0.0)
        self._dvdt_vbys = self._cell.dvdt_vbys(0.0)

    def _rest_cell(self, dt_s: float) -> None:
        self._cell.advance(0.0, dt_s)
        self._set_no_current()

    def _enter_step(self, number: int | None) -> None:
        """Begin step ``number`` (None: the schedule ends), resolving loop steps at once."""
        schedule = self._schedule
        while True:
            if schedule is None or number is None:
                self._status = RunStatus.FINISHED
                self._set_no_current()
                return
            if self._step_time_s == 0.0 and self._step_number != 0:
                self._instant_transitions += 1
            else:
                self._instant_transitions = 0
            if self._instant_transitions > self._settings.max_instant_transitions:
                self._status = RunStatus.STOPPED
                self._exit_condition = "Error: steps end without time passing"
                self._set_no_current()
                return
            step = schedule.steps[number - 1]
            self._step_number = number
            self._step_time_s = 0.0
            self._step_charge_ah = 0.0
            self._step_discharge_ah = 0.0
            if step.kind is not StepKind.LOOP:
                break
            cycles = step.cycles if step.cycles is not None else 1
            if self._cycle_index < cycles and step.goto_step is not None:
                self._cycle_index += 1
                if self._settings.reset_counters_each_cycle:
                    self._reset_counters()
                number = step.goto_step
            else:
                number = number + 1 if number < len(schedule.steps) else None
        self._resolve_step(step)
        if self._status.is_running:
            self._activate_step(step)

    def _resolve_step(self, step: Step) -> None:
        capacity_ah = self._cell.capacity_ah
        if step.current is not None:
            self._setpoint_a = step.current.to_amps(capacity_ah)
        self._clamp_a = self._settings.max_current_a
        if step.variable is not None:
            self._mv_index = meta_variable_number(step.variable) - 1
        if step.current_limit is not None:
            self._clamp_a = min(self._clamp_a, step.current_limit.to_amps(capacity_ah))
        checks = [
            _Check.make(
                quantity=limit.quantity,
                at_least=limit.comparison is Comparison.AT_LEAST,
                threshold=limit.threshold_value(capacity_ah),
                next_step=limit.next_step,
                unsafe=False,
                text=limit.describe(capacity_ah)[:_TEXT_MAX_CHARS],
            )
            for limit in step.limits
        ]
        settings = self._settings
        for at_least, threshold in (
            (True, settings.safety_voltage_max_v),
            (False, settings.safety_voltage_min_v),
        ):
            sign = ">=" if at_least else "<="
            checks.append(
                _Check.make(
                    quantity=LimitQuantity.VOLTAGE,
                    at_least=at_least,
                    threshold=threshold,
                    next_step=None,
                    unsafe=True,
                    text=f"Safety: Voltage{sign}{threshold:.4g}V",
                )
            )
        self._checks = tuple(checks)

    def _activate_step(self, step: Step) -> None:
        """Set the instantaneous readings and the running status for ``step``."""
        current_a = self._start_current(step)
        self._current_a = current_a
        self._voltage_v = self._cell.terminal_voltage_v(current_a)
        self._dvdt_vbys = self._dvdt_for(step, current_a)
        self._status = self._status_for(step, current_a)

    @staticmethod
    def _status_for(step: Step, current_a: float) -> RunStatus:
        if step.kind is StepKind.CC_CHARGE:
            return RunStatus.CHARGE
        if step.kind is StepKind.CC_DISCHARGE:
            return RunStatus.DISCHARGE
        if current_a > 0.0:
            return RunStatus.CHARGE
        if current_a < 0.0:
            return RunStatus.DISCHARGE
        return RunStatus.REST

    def _start_current(self, step: Step) -> float:
        """The current the step draws now (at the start of a sub-step)."""
        kind = step.kind
        if kind is StepKind.CC_CHARGE:
            return self._setpoint_a
        if kind is StepKind.CC_DISCHARGE:
            return -self._setpoint_a
        if kind is StepKind.CV and step.voltage_v is not None:
            current_a = self._cell.current_for_voltage_a(step.voltage_v, 0.0)
            return min(max(current_a, -self._clamp_a), self._clamp_a)
        if kind is StepKind.MV_CURRENT:
            current_a = self._meta[self._mv_index]
            return min(max(current_a, -self._clamp_a), self._clamp_a)
        return 0.0

    def _cv_holding(self, step: Step, current_a: float) -> bool:
        return step.kind is StepKind.CV and abs(current_a) < self._clamp_a

    def _dvdt_for(self, step: Step, current_a: float) -> float:
        if self._cv_holding(step, current_a):
            return 0.0
        return self._cell.dvdt_vbys(current_a)

    # -- internals: sub-steps ------------------------------------------------------------------

    def _choose_dt(self, step: Step, current_a: float, remaining_s: float, floor_s: float) -> float:
        settings = self._settings
        if step.kind is StepKind.REST:
            return remaining_s
        cell = self._cell
        if self._cv_holding(step, current_a):
            # Holding V: R0 dI/dt = -(dOCV/dt + dv_rc/dt).
            parameters = cell.parameters
            dvdt_open = (
                cell.ocv_slope_v() * current_a / (3600.0 * parameters.capacity_ah)
                + (current_a * parameters.r1_ohm - cell.v_rc_v) / parameters.rc_time_constant_s
            )
            didt = abs(dvdt_open) / cell.r0_ohm()
            scale_a = max(abs(current_a), 1e-3 * parameters.capacity_ah)
            dt_s = settings.current_step_fraction * scale_a / didt if didt > 0.0 else math.inf
        else:
            dvdt = abs(cell.dvdt_vbys(current_a))
            dt_s = settings.voltage_step_v / dvdt if dvdt > 0.0 else math.inf
        dt_s = min(max(dt_s, settings.min_substep_s), settings.max_substep_s)
        return min(max(dt_s, floor_s), remaining_s)

    def _trial(self, step: Step, dt_s: float, start_a: float) -> _Trial:
        cell = self._cell
        end_a = start_a
        if step.kind is StepKind.CV and step.voltage_v is not None and dt_s > 0.0:
            end_a = cell.current_for_voltage_a(step.voltage_v, dt_s, start_current_a=start_a)
            end_a = min(max(end_a, -self._clamp_a), self._clamp_a)
        state = cell.predict(start_a, dt_s, end_a)
        return _Trial(dt_s, start_a, end_a, state, cell.state_voltage_v(state, end_a))

    def _quantities(self, trial: _Trial) -> tuple[float, float, float, float, float, float]:
        """Every limit quantity at the end of ``trial``, in ``LimitQuantity`` order."""
        moved_ah = 0.5 * (trial.start_a + trial.end_a) * trial.dt_s / 3600.0
        charge_ah = self._step_charge_ah
        discharge_ah = self._step_discharge_ah
        if moved_ah >= 0.0:
            charge_ah += moved_ah
        else:
            discharge_ah -= moved_ah
        return (
            trial.voltage_v,
            abs(trial.end_a),
            self._step_time_s + trial.dt_s,
            charge_ah,
            discharge_ah,
            charge_ah + discharge_ah,
        )

    def _margin(self, check: _Check, trial: _Trial) -> float:
        return check.sign * self._quantities(trial)[check.index] + check.bias

    def _crossing(self, step: Step, check: _Check, start: _Trial, end: _Trial) -> _Trial:
        """The trial where ``check`` becomes met, between ``start`` (unmet) and ``end`` (met).

        Illinois (modified regula falsi) on the sub-step length; a handful of cheap trials.
        """
        low_dt, low_g = start.dt_s, self._margin(check, start)
        high, high_g = end, self._margin(check, end)
        side = 0
        for _ in range(12):
            if high_g == low_g:
                break
            dt_s = high.dt_s - high_g * (high.dt_s - low_dt) / (high_g - low_g)
            if not low_dt < dt_s < high.dt_s:
                dt_s = 0.5 * (low_dt + high.dt_s)
            trial = self._trial(step, dt_s, start.start_a)
            margin = self._margin(check, trial)
            if abs(margin) <= check.tolerance:
                return trial  # close enough: counts as met, so no endless creeping
            if margin >= 0.0:
                high, high_g = trial, margin
                if side == 1:
                    low_g *= 0.5
                side = 1
            else:
                low_dt, low_g = dt_s, margin
                if side == -1:
                    high_g *= 0.5
                side = -1
            if high.dt_s - low_dt <= 1e-9 * max(1.0, high.dt_s):
                break
        return high

    def _substep(self, step: Step, remaining_s: float, floor_s: float) -> float:
        """Run one sub-step of at most ``remaining_s``; returns the simulated seconds used."""
        start_a = self._start_current(step)
        trial = self._trial(step, self._choose_dt(step, start_a, remaining_s, floor_s), start_a)
        fired: _Check | None = None
        values = self._quantities(trial)
        met = [c for c in self._checks if c.sign * values[c.index] + c.bias >= 0.0]
        if met:
            start = self._trial(step, 0.0, start_a)
            for check in met:
                if self._margin(check, start) >= 0.0:
                    candidate = start
                else:
                    candidate = self._crossing(step, check, start, trial)
                if fired is None or candidate.dt_s < trial.dt_s:
                    trial, fired = candidate, check
        self._commit(step, trial)
        if fired is not None:
            self._exit_condition = fired.text
            if fired.unsafe:
                self._status = RunStatus.UNSAFE
                self._set_no_current()
            else:
                self._enter_step(fired.next_step)
        return trial.dt_s

    def _commit(self, step: Step, trial: _Trial) -> None:
        cell = self._cell
        dt_s = trial.dt_s
        current_a = trial.end_a
        if dt_s > 0.0:
            start_v = cell.terminal_voltage_v(trial.start_a)
            moved_ah = 0.5 * (trial.start_a + current_a) * dt_s / 3600.0
            # Trapezoid rule on V*I: exact for constant I with linear V, and for constant V
            # with linear I (CV).
            energy_wh = (
                0.5 * (start_v * trial.start_a + trial.voltage_v * current_a) * dt_s / 3600.0
            )
            if moved_ah >= 0.0:
                self._charge_ah += moved_ah
                self._step_charge_ah += moved_ah
                self._charge_wh += energy_wh
            else:
                self._discharge_ah -= moved_ah
                self._step_discharge_ah -= moved_ah
                self._discharge_wh -= energy_wh
            self._test_time_s += dt_s
            self._step_time_s += dt_s
            cell.state = trial.state
        self._current_a = current_a
        self._voltage_v = trial.voltage_v
        self._dvdt_vbys = self._dvdt_for(step, current_a)
        self._status = self._status_for(step, current_a)
