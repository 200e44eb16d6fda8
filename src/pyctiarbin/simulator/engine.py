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

Limits (MITS step limits, log limits, the schedule's safety scopes and the channel's own voltage
limits) are compiled on step entry into getters over one list of variable values computed for
each trial sub-step (the ``BUILTIN_VARIABLES`` of :mod:`.schedule`; formulas evaluate over it).
A step limit that holds when its step starts ends it at once; a log limit records a
:class:`DataPoint` (``on_point``) and restarts the ``DV_*`` deltas; every step that ends gives a
:class:`StepRecord` (``on_step``). Set Variable(s) steps take no time. Charge and discharge
capacities and energies count from the start of the test until a Set Variable(s) reset (or a
cycle increment, with ``RunSettings.reset_counters_each_cycle``).

Status: :class:`RunStatus` is this engine's own enum; the server maps it to the protocol's status
codes (IDLE -> Idle, CHARGE -> Charge, DISCHARGE -> Discharge, REST -> Rest, PAUSED -> Pause,
FINISHED -> Finished, STOPPED -> Idle or Finished as the server prefers, UNSAFE -> Unsafe).

A channel that is not running (idle, paused, stopped, finished, unsafe) carries no current, and
its cell keeps relaxing (voltage recovers, temperature returns to ambient) while test and step
times stand still.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, NamedTuple, TypeVar, overload

from .cell import Cell, CellState
from .schedule import (
    BUILTIN_VARIABLES,
    COUNTER_COUNT,
    META_VARIABLE_COUNT,
    Limit,
    SafetyScope,
    Schedule,
    Step,
    StepType,
    UnknownStepError,
    meta_variable_number,
)

__all__ = [
    "ChannelNotRunningError",
    "ChannelReading",
    "ChannelRunningError",
    "DataPoint",
    "NoScheduleError",
    "RunSettings",
    "RunStateError",
    "RunStatus",
    "ScheduleRun",
    "StepRecord",
    "UnknownStepError",
]

_TEXT_MAX_CHARS = 63
# advance() gives up on the rest of its dt_s after this many times max_substeps_per_advance
# sub-steps (each step change costs at least one, whatever the budget).
_HARD_CAP_FACTOR = 8
# How far a CV step's voltage may end off its target before the sub-step is shortened.
_CV_TOLERANCE_V = 2e-3


_T = TypeVar("_T")


class _ReadOnly(Generic[_T]):
    """A read-only view of a private attribute: ``voltage_v`` reads ``self._voltage_v``.

    The class gets a ``property`` over ``operator.attrgetter`` in its place (read in C, as fast
    as the attribute; assigning raises AttributeError); this class only gives it its type.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        setattr(owner, name, property(operator.attrgetter(f"_{name}")))

    @overload
    def __get__(self, instance: None, owner: type) -> _ReadOnly[_T]: ...

    @overload
    def __get__(self, instance: object, owner: type) -> _T: ...

    def __get__(self, instance: object | None, owner: type) -> Any:
        raise TypeError("replaced by a property when its class is created")


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

    #: Largest current the channel can source or sink; clamps every step.
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
    cv_stage: bool = False
    counters: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)


# The engine's variable slots: BUILTIN_VARIABLES order, then nothing else (formulas are computed).
_SLOT = {name: index for index, name in enumerate(BUILTIN_VARIABLES)}
_V = _SLOT["PV_CHAN_Voltage"]
_Values = list[float]
_Getter = Callable[[_Values], float]


class DataPoint(NamedTuple):
    """A data point that a log limit (or the end of a step) selected, as MITS would log it."""

    test_time_s: float
    step_time_s: float
    step_number: int
    step_label: str
    cycle_index: int
    voltage_v: float
    current_a: float
    charge_capacity_ah: float
    discharge_capacity_ah: float
    charge_energy_wh: float
    discharge_energy_wh: float
    internal_resistance_ohm: float


class StepRecord(NamedTuple):
    """One executed step, reported when it ends: ``cycle_index`` is the cycle it started in
    (a Set Variable(s) step that increments it reports the old one); capacities are those
    moved during the step."""

    step_number: int
    label: str
    step_type: str
    cycle_index: int
    end_reason: str
    duration_s: float
    charge_capacity_ah: float
    discharge_capacity_ah: float


@dataclass(frozen=True, slots=True)
class _Check:
    """A limit of the current step, or a safety scope, compiled to getters.

    ``terms`` are ``(left, right, sign, strict, tolerance)``; the margin of a term is
    ``sign * (left - right) - strict``, >= 0 when it holds (``strict`` is a tiny positive number
    for ``>`` and ``<``, so that equality does not hold; on a continuous signal both forms meet
    at the same moment). A check holds when every term does (its margin is the smallest).
    """

    terms: tuple[tuple[_Getter, _Getter, float, float, float], ...]
    goto: int | None
    step_limit: bool
    log_limit: bool
    unsafe: bool
    text: str

    def margin(self, values: _Values) -> float:
        smallest = math.inf
        for left, right, sign, strict, _ in self.terms:
            margin = sign * (left(values) - right(values)) - strict
            if margin != margin:  # NaN: never holds
                return -math.inf
            if margin < smallest:
                smallest = margin
        return smallest

    def close_enough(self, values: _Values) -> bool:
        return all(
            sign * (left(values) - right(values)) - strict >= -tolerance
            for left, right, sign, strict, tolerance in self.terms
        )


class _Trial(NamedTuple):
    """A candidate sub-step: the current ramps from ``start_a`` to ``end_a`` over ``dt_s``,
    giving ``state`` and the terminal voltage ``voltage_v`` at its end."""

    dt_s: float
    start_a: float
    end_a: float
    state: CellState
    voltage_v: float


def _constant(value: float) -> _Getter:
    return lambda values: value


def _slot(index: int) -> _Getter:
    return lambda values: values[index]


class ScheduleRun:
    """One channel: a cell, an optional schedule, and the state of running it.

    See the module docstring for how a server drives it. All methods are synchronous and cheap;
    nothing here blocks or performs I/O. ``on_point`` receives the data points that the
    schedule's log limits select (and one at the end of every step); ``on_step`` a
    :class:`StepRecord` for every step that ends.

    Raises:
        Nothing from the constructor.
    """

    def __init__(
        self,
        schedule: Schedule | None = None,
        cell: Cell | None = None,
        settings: RunSettings | None = None,
        *,
        on_point: Callable[[DataPoint], None] | None = None,
        on_step: Callable[[StepRecord], None] | None = None,
    ) -> None:
        self._schedule = schedule
        self._cell = cell if cell is not None else Cell()
        self._settings = settings if settings is not None else RunSettings()
        self._on_point = on_point
        self._on_step = on_step
        self._status = RunStatus.IDLE
        self._meta = [0.0] * META_VARIABLE_COUNT
        self._counters = [0.0] * COUNTER_COUNT
        self._step_number = 0
        self._cycle_index = 0
        self._step_cycle_index = 0
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
        self._ir_ohm = self._cell.internal_resistance_ohm
        self._exit_condition = ""
        self._instant_transitions = 0
        self._last_log = (0.0, self._voltage_v, 0.0)
        self._last_log_key = (-1.0, 0)
        # Resolved for the current step on entry:
        self._checks: tuple[_Check, ...] = ()
        self._formulas: dict[str, Callable[[_Values], float]] = (
            self._compile_formulas(schedule) if schedule is not None else {}
        )
        self._ctrl: _Getter | None = None
        self._clamp_low_a = -self._settings.max_current_a
        self._clamp_high_a = self._settings.max_current_a
        self._cv_voltage_v: float | None = None
        self._cv_start_s: float | None = None
        self._substep_start_v = self._voltage_v

    # -- read-only state -----------------------------------------------------------------------

    #: The simulated cell (its state persists across tests).
    cell: _ReadOnly[Cell] = _ReadOnly()
    #: Channel hardware and numerics.
    settings: _ReadOnly[RunSettings] = _ReadOnly()
    #: The assigned schedule, if any.
    schedule: _ReadOnly[Schedule | None] = _ReadOnly()
    #: What the channel is doing.
    status: _ReadOnly[RunStatus] = _ReadOnly()
    #: 1-based number of the current step; 0 before the first start.
    step_number: _ReadOnly[int] = _ReadOnly()
    #: Cycle index (1 from start; Set Variable(s) increments it); 0 before the first start.
    cycle_index: _ReadOnly[int] = _ReadOnly()
    #: Simulated seconds spent running the test (pauses excluded).
    test_time_s: _ReadOnly[float] = _ReadOnly()
    #: Simulated seconds spent in the current step (pauses excluded).
    step_time_s: _ReadOnly[float] = _ReadOnly()
    #: Terminal voltage in V.
    voltage_v: _ReadOnly[float] = _ReadOnly()
    #: Current in A, positive when charging.
    current_a: _ReadOnly[float] = _ReadOnly()
    #: What ended the last step or the test (``PV_CHAN_Voltage>=4.2``, ``Stop``, ...).
    exit_condition: _ReadOnly[str] = _ReadOnly()

    @property
    def step(self) -> Step | None:
        """The step in progress (or last run), ``None`` before the first start."""
        if self._schedule is None or self._step_number == 0:
            return None
        return self._schedule.steps[self._step_number - 1]

    @property
    def counters(self) -> tuple[float, ...]:
        """TC_Counter1 .. TC_Counter4."""
        return tuple(self._counters)

    @property
    def cv_stage(self) -> bool:
        """True while a CCCV or Voltage(V) step holds its voltage."""
        return self._cv_start_s is not None and self._status.is_running

    @property
    def step_and_cycle_format(self) -> str:
        """``[<cycle>] <step>: <label>, <type>``, like ``[2] 8: CC1, CCCV``, with `` CV`` appended
        during a CV stage; empty before the first start. ASCII, at most 63 characters."""
        step = self.step
        if step is None:
            return ""
        stage = " CV" if self.cv_stage else ""
        text = f"[{self._cycle_index}] {step.number}: {step.label}, {step.step_type.value}{stage}"
        return text.encode("ascii", "replace").decode("ascii")[:_TEXT_MAX_CHARS]

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
            internal_resistance_ohm=self._ir_ohm,
            dvdt_vbys=self._dvdt_vbys,
            temperature_c=self._cell.temperature_c,
            step_and_cycle_format=self.step_and_cycle_format,
            exit_condition=self._exit_condition[:_TEXT_MAX_CHARS],
            meta_variables=tuple(self._meta),
            cv_stage=self.cv_stage,
            counters=tuple(self._counters),
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
        self._formulas = self._compile_formulas(schedule)

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
        self._counters = [0.0] * COUNTER_COUNT
        self._reset_counters()
        self._exit_condition = ""
        self._instant_transitions = 0
        self._last_log = (0.0, self._cell.terminal_voltage_v(0.0), 0.0)
        self._last_log_key = (-1.0, 0)
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
        paused = self._status is RunStatus.PAUSED
        self._end_step(f"Jump to step {number}")
        self._instant_transitions = 0
        self._enter_step(number)
        if paused and self._status.is_running:
            self.pause()

    def set_meta_variable(self, name: str | int, value: float) -> None:
        """Set one meta variable (``"MV_UD1"``..``"MV_UD16"`` or 1..16); allowed in any state.

        A running step whose control value reads a variable applies the new value at once.

        Raises:
            ValueError: if the name is not MV_UD1 .. MV_UD16 or the value is not finite.
        """
        number = meta_variable_number(name)
        if not math.isfinite(value):
            raise ValueError(f"meta variable value must be finite, got {value!r}")
        self._meta[number - 1] = float(value)
        step = self.step
        if self._status.is_running and step is not None and self._ctrl is not None:
            self._activate_step(step)

    # -- time ----------------------------------------------------------------------------------

    def advance(self, dt_s: float) -> None:
        """Let ``dt_s`` seconds of simulated time pass.

        Runs the schedule (steps, limits, end) when running; otherwise the cell rests.

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
            # Past the budget, log limits no longer cut sub-steps (a run that has fallen behind
            # catches up with fewer data points rather than more CPU).
            used_s = self._substep(step, remaining_s, floor_s, logs=substeps_left >= 0)
            remaining_s = max(remaining_s - used_s, 0.0)
        if remaining_s > 0.0:
            self._rest_cell(remaining_s)

    # -- internals: variables ------------------------------------------------------------------

    def _compile_formulas(self, schedule: Schedule) -> dict[str, Callable[[_Values], float]]:
        formulas: dict[str, Callable[[_Values], float]] = {}
        for formula in schedule.formulas:
            evaluate = formula.expression.evaluate

            def compute(
                values: _Values, evaluate: Callable[[Callable[[str], float]], float] = evaluate
            ) -> float:
                return evaluate(lambda name: self._lookup(name, values))

            formulas[formula.label] = compute
        return formulas

    def _lookup(self, name: str, values: _Values) -> float:
        slot = _SLOT.get(name)
        if slot is not None:
            return values[slot]
        return self._formulas[name](values)

    def _getter(self, operand: float | str) -> _Getter:
        if isinstance(operand, float):
            return _constant(operand)
        slot = _SLOT.get(operand)
        if slot is not None:
            return _slot(slot)
        formula = self._formulas[operand]
        return formula

    def _values(self, trial: _Trial) -> _Values:
        """Every built-in variable at the end of ``trial``, in BUILTIN_VARIABLES order."""
        dt_s = trial.dt_s
        end_a = trial.end_a
        voltage_v = trial.voltage_v
        charge_ah, discharge_ah = self._charge_ah, self._discharge_ah
        charge_wh, discharge_wh = self._charge_wh, self._discharge_wh
        if dt_s > 0.0:
            moved_ah = 0.5 * (trial.start_a + end_a) * dt_s / 3600.0
            energy_wh = (
                0.5 * (self._substep_start_v * trial.start_a + voltage_v * end_a) * dt_s / 3600.0
            )
            if moved_ah >= 0.0:
                charge_ah += moved_ah
                charge_wh += energy_wh
            else:
                discharge_ah -= moved_ah
                discharge_wh -= energy_wh
        step_time_s = self._step_time_s + dt_s
        test_time_s = self._test_time_s + dt_s
        cv_start_s = self._cv_start_s
        if cv_start_s is None and self._cv_voltage_v is not None and self._holding(end_a):
            cv_start_s = step_time_s
        if cv_start_s is not None:
            cv_current_a, cv_time_s = end_a, step_time_s - cv_start_s
        else:
            cv_current_a, cv_time_s = 0.0, 0.0
        last_time_s, last_v, last_a = self._last_log
        return [
            voltage_v,
            end_a,
            voltage_v * end_a,
            step_time_s,
            test_time_s,
            charge_ah,
            discharge_ah,
            charge_wh,
            discharge_wh,
            float(self._cycle_index),
            float(self._step_number),
            cv_current_a,
            cv_time_s,
            self._ir_ohm,
            test_time_s - last_time_s,
            abs(voltage_v - last_v),
            abs(end_a - last_a),
            *self._counters,
            *self._meta,
        ]

    def _values_now(self) -> _Values:
        return self._values(
            _Trial(0.0, self._current_a, self._current_a, self._cell.state, self._voltage_v)
        )

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

    def _log(self) -> None:
        step = self.step
        key = (self._test_time_s, self._step_number)
        if key == self._last_log_key:
            return  # a log limit and the step's end at the same instant: one point
        self._last_log_key = key
        self._last_log = (self._test_time_s, self._voltage_v, self._current_a)
        if self._on_point is None:
            return
        self._on_point(
            DataPoint(
                test_time_s=self._test_time_s,
                step_time_s=self._step_time_s,
                step_number=self._step_number,
                step_label=step.label if step is not None else "",
                cycle_index=self._cycle_index,
                voltage_v=self._voltage_v,
                current_a=self._current_a,
                charge_capacity_ah=self._charge_ah,
                discharge_capacity_ah=self._discharge_ah,
                charge_energy_wh=self._charge_wh,
                discharge_energy_wh=self._discharge_wh,
                internal_resistance_ohm=self._ir_ohm,
            )
        )

    def _end_step(self, reason: str) -> None:
        """Report the step in progress as ended for ``reason`` (and log its last point)."""
        self._exit_condition = reason
        step = self.step
        if step is None:
            return
        if step.step_type.takes_time:
            self._log()
        if self._on_step is not None:
            self._on_step(
                StepRecord(
                    step_number=step.number,
                    label=step.label,
                    step_type=step.step_type.value,
                    cycle_index=self._step_cycle_index,
                    end_reason=reason,
                    duration_s=self._step_time_s,
                    charge_capacity_ah=self._step_charge_ah,
                    discharge_capacity_ah=self._step_discharge_ah,
                )
            )

    def _finish(self) -> None:
        self._status = RunStatus.FINISHED
        self._cv_start_s = None
        self._set_no_current()

    def _enter_step(self, number: int | None) -> None:
        """Begin step ``number`` (None: the test ends), carrying out Set Variable(s) at once."""
        schedule = self._schedule
        while True:
            if schedule is None or number is None:
                self._finish()
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
            self._step_cycle_index = self._cycle_index
            self._step_time_s = 0.0
            self._step_charge_ah = 0.0
            self._step_discharge_ah = 0.0
            self._cv_start_s = None
            if step.step_type.takes_time:
                break
            self._set_variables(step)
            self._resolve_step(step)
            values = self._values_now()
            for check in self._checks:
                if check.unsafe or not check.step_limit or check.margin(values) < 0.0:
                    continue
                if check.log_limit:
                    self._log()
                self._end_step(check.text)
                number = check.goto
                break
            else:
                self._end_step("Next Step")
                number = number + 1 if number < len(schedule.steps) else None
        self._resolve_step(step)
        if step.step_type is StepType.INTERNAL_RESISTANCE:
            self._ir_ohm = self._measure_ir(step)
        if self._status.is_running:
            self._activate_step(step)

    def _set_variables(self, step: Step) -> None:
        reset, increment, decrement = step.reset_mask, step.increment_mask, step.decrement_mask
        if reset & 0b0001:
            self._charge_ah = 0.0
        if reset & 0b0010:
            self._discharge_ah = 0.0
        if reset & 0b0100:
            self._charge_wh = 0.0
        if reset & 0b1000:
            self._discharge_wh = 0.0
        for counter in range(COUNTER_COUNT):
            if reset & (1 << (16 + counter)):
                self._counters[counter] = 0.0
            if increment & (1 << (1 + counter)):
                self._counters[counter] += 1.0
            if decrement & (1 << (1 + counter)):
                self._counters[counter] -= 1.0
        cycles = (increment & 1) - (decrement & 1)
        if cycles:
            self._cycle_index = max(self._cycle_index + cycles, 1)
            if cycles > 0 and self._settings.reset_counters_each_cycle:
                self._reset_counters()

    def _measure_ir(self, step: Step) -> float:
        """What the DC pulse of an Internal Resistance step reads: R0 plus what the RC pair
        picks up during the pulse (its width in ms, 30 ms by default)."""
        width_ms = step.ext_value1 if isinstance(step.ext_value1, float) else 30.0
        parameters = self._cell.parameters
        fraction = -math.expm1(-max(width_ms, 0.0) / 1000.0 / parameters.rc_time_constant_s)
        return self._cell.r0_ohm() + parameters.r1_ohm * fraction

    def _resolve_step(self, step: Step) -> None:
        settings = self._settings
        step_type = step.step_type
        ctrl = step.ctrl_value
        self._ctrl = self._getter(ctrl) if isinstance(ctrl, str) else None
        self._cv_voltage_v = None
        self._clamp_low_a, self._clamp_high_a = -settings.max_current_a, settings.max_current_a
        if step_type is StepType.CCCV and isinstance(step.ext_value1, float):
            self._cv_voltage_v = step.ext_value1
        elif step_type is StepType.VOLTAGE and isinstance(ctrl, float):
            self._cv_voltage_v = ctrl
        checks = [self._compile_limit(limit) for limit in step.limits]
        scopes = [(s.variable, s.min_value, s.max_value) for s in self._schedule_safety()]
        scopes.append(
            ("PV_CHAN_Voltage", settings.safety_voltage_min_v, settings.safety_voltage_max_v)
        )
        for variable, low, high in scopes:
            getter = _slot(_SLOT[variable]) if variable in _SLOT else self._formulas[variable]
            tolerance = 2e-4 if variable == "PV_CHAN_Voltage" else 1e-6 * max(1.0, abs(high))
            strict = 1e-9 * max(1.0, abs(low), abs(high))  # on the bound is still safe
            for sign, bound in ((1.0, high), (-1.0, low)):
                checks.append(
                    _Check(
                        terms=((getter, _constant(bound), sign, strict, tolerance),),
                        goto=None,
                        step_limit=True,
                        log_limit=True,
                        unsafe=True,
                        text=f"Safety: {variable}{'>' if sign > 0 else '<'}{bound:g}",
                    )
                )
        self._checks = tuple(checks)

    def _schedule_safety(self) -> tuple[SafetyScope, ...]:
        return self._schedule.safety if self._schedule is not None else ()

    def _compile_limit(self, limit: Limit) -> _Check:
        terms = []
        for equation in limit.equations:
            right = equation.right
            scale = max(1.0, abs(right)) if isinstance(right, float) else 1.0
            tolerance = 2e-4 if equation.left == "PV_CHAN_Voltage" else 1e-6 * scale
            sign = 1.0 if equation.sign.startswith(">") else -1.0
            strict = 0.0 if equation.sign.endswith("=") else 1e-12 * scale
            terms.append(
                (self._getter(equation.left), self._getter(right), sign, strict, tolerance)
            )
        return _Check(
            terms=tuple(terms),
            goto=limit.goto,
            step_limit=limit.step_limit,
            log_limit=limit.log_limit,
            unsafe=False,
            text=limit.describe(),
        )

    def _control(self, step: Step) -> float:
        """The step's control value now: a number, or the variable it names."""
        if self._ctrl is not None:
            return self._ctrl(self._values_now())
        value = step.ctrl_value
        return value if isinstance(value, float) else 0.0

    def _activate_step(self, step: Step) -> None:
        """Set the instantaneous readings and the running status for ``step``."""
        step_type = step.step_type
        if step_type is StepType.CCCV:
            setpoint = self._control(step)
            self._clamp_low_a, self._clamp_high_a = (
                (0.0, setpoint) if setpoint >= 0 else (setpoint, 0.0)
            )
        current_a = self._start_current(step)
        self._current_a = current_a
        self._voltage_v = self._cell.terminal_voltage_v(current_a)
        self._dvdt_vbys = self._dvdt_for(current_a)
        self._status = self._status_for(current_a)

    @staticmethod
    def _status_for(current_a: float) -> RunStatus:
        if current_a > 0.0:
            return RunStatus.CHARGE
        if current_a < 0.0:
            return RunStatus.DISCHARGE
        return RunStatus.REST

    def _clamp(self, current_a: float) -> float:
        if not math.isfinite(current_a):
            return 0.0  # a control formula that divides by zero (NaN) draws no current
        return min(max(current_a, self._clamp_low_a), self._clamp_high_a)

    def _start_current(self, step: Step) -> float:
        """The current the step draws now (at the start of a sub-step)."""
        step_type = step.step_type
        if step_type is StepType.CURRENT:
            return self._clamp(self._control(step))
        if step_type is StepType.C_RATE:
            return self._clamp(self._control(step) * self._cell.capacity_ah)
        if self._cv_voltage_v is not None:
            # The current that holds the voltage, within the clamp: the CC stage of a CCCV step
            # is the clamp at its setpoint.
            return self._clamp(self._cell.current_for_voltage_a(self._cv_voltage_v, 0.0))
        if step_type is StepType.POWER:
            power_w = self._control(step)
            current_a = 0.0
            for _ in range(6):
                voltage_v = self._cell.terminal_voltage_v(current_a)
                current_a = power_w / voltage_v if voltage_v > 0.0 else 0.0
            return self._clamp(current_a)
        return 0.0

    def _holding(self, current_a: float) -> bool:
        """True if a CV step's current is inside its clamp (the voltage is held)."""
        margin = 1e-9 * max(1.0, abs(self._clamp_high_a), abs(self._clamp_low_a))
        return self._clamp_low_a + margin < current_a < self._clamp_high_a - margin or (
            current_a == 0.0 and (self._clamp_low_a == 0.0 or self._clamp_high_a == 0.0)
        )

    def _dvdt_for(self, current_a: float) -> float:
        if self._cv_voltage_v is not None and self._holding(current_a):
            return 0.0
        return self._cell.dvdt_vbys(current_a)

    # -- internals: sub-steps ------------------------------------------------------------------

    def _choose_dt(self, step: Step, current_a: float, remaining_s: float, floor_s: float) -> float:
        settings = self._settings
        if step.step_type in (StepType.REST, StepType.INTERNAL_RESISTANCE):
            return remaining_s
        cell = self._cell
        if self._cv_voltage_v is not None and self._holding(current_a):
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

    def _trial(self, dt_s: float, start_a: float) -> _Trial:
        cell = self._cell
        end_a = start_a
        if self._cv_voltage_v is not None and self._cv_start_s is not None and dt_s > 0.0:
            # CV stage: the current that keeps the voltage (a CC stage is a constant current
            # until the voltage is reached, found like a limit).
            end_a = cell.current_for_voltage_a(self._cv_voltage_v, dt_s, start_current_a=start_a)
            end_a = self._clamp(end_a)
        state = cell.predict(start_a, dt_s, end_a)
        return _Trial(dt_s, start_a, end_a, state, cell.state_voltage_v(state, end_a))

    def _crossing(self, check: _Check, start: _Trial, end: _Trial) -> _Trial:
        """The trial where ``check`` becomes met, between ``start`` (unmet) and ``end`` (met).

        Illinois (modified regula falsi) on the sub-step length; a handful of cheap trials.
        """
        low_dt, low_g = start.dt_s, check.margin(self._values(start))
        high, high_g = end, check.margin(self._values(end))
        if not math.isfinite(low_g) or not math.isfinite(high_g):
            low_g, high_g = -1.0, 1.0  # a jump (NaN, a discrete variable): bisect
        side = 0
        for _ in range(40):
            if high_g == low_g:
                break
            dt_s = high.dt_s - high_g * (high.dt_s - low_dt) / (high_g - low_g)
            if not low_dt < dt_s < high.dt_s:
                dt_s = 0.5 * (low_dt + high.dt_s)
            trial = self._trial(dt_s, start.start_a)
            values = self._values(trial)
            margin = check.margin(values)
            if margin >= 0.0 or check.close_enough(values):
                if check.close_enough(values) and margin < 0.0:
                    return trial  # close enough: counts as met, so no endless creeping
                high, high_g = trial, max(margin, 0.0)
                if side == 1:
                    low_g *= 0.5
                side = 1
            else:
                low_dt, low_g = dt_s, margin if math.isfinite(margin) else -1.0
                if side == -1:
                    high_g *= 0.5
                side = -1
            if high.dt_s - low_dt <= 1e-9 * max(1.0, high.dt_s):
                break
        return high

    def _substep(
        self, step: Step, remaining_s: float, floor_s: float, *, logs: bool = True
    ) -> float:
        """Run one sub-step of at most ``remaining_s``; returns the simulated seconds used.
        ``logs=False`` leaves the log limits out."""
        start_a = self._start_current(step)
        if self._cv_voltage_v is not None and self._cv_start_s is None and self._holding(start_a):
            self._cv_start_s = self._step_time_s  # the voltage is reached (or already past)
        self._substep_start_v = self._cell.terminal_voltage_v(start_a)
        start = self._trial(0.0, start_a)
        start_values = self._values(start)
        # A step limit or safety scope that holds already ends the step at once; a log limit
        # that holds logs a point now (once per instant).
        logged = False
        for check in self._checks:
            if check.margin(start_values) < 0.0:
                continue
            if check.step_limit:
                self._commit(start)
                self._fire(check)
                return 0.0
            if logs and not logged and self._last_log[0] != self._test_time_s:
                self._commit(start)
                self._log()
                logged = True
        if logged:
            start_values = self._values(start)
        trial = self._trial(self._choose_dt(step, start_a, remaining_s, floor_s), start_a)
        for _ in range(40):
            if self._cv_trial_ok(trial):
                break
            # A sub-step too long for the CV control law (a large dt_s across the steep end of
            # the OCV curve) misses its voltage: a shorter one does not.
            trial = self._trial(0.25 * trial.dt_s, start_a)
        values = self._values(trial)
        fired: _Check | None = None
        cv_entry = self._cv_entry_check(start_a)
        checks = self._checks if cv_entry is None else (*self._checks, cv_entry)
        for check in checks:
            if check.margin(values) < 0.0:
                continue
            if (
                check is not cv_entry
                and not check.step_limit
                and (not logs or check.margin(start_values) >= 0.0)
            ):
                continue  # a log limit that held already logs on its next crossing
            candidate = self._crossing(check, start, trial)
            if fired is None or candidate.dt_s < trial.dt_s:
                trial, fired = candidate, check
        self._commit(trial)
        if fired is cv_entry and cv_entry is not None:
            self._cv_start_s = self._step_time_s
        elif fired is not None:
            self._fire(fired)
        return trial.dt_s

    def _cv_entry_check(self, start_a: float) -> _Check | None:
        """During the CC stage of a CV step: the voltage reaching the CV voltage."""
        target_v = self._cv_voltage_v
        if target_v is None or self._cv_start_s is not None or start_a == 0.0:
            return None
        sign = 1.0 if start_a > 0.0 else -1.0
        return _Check(
            terms=((_slot(_V), _constant(target_v), sign, 0.0, _CV_TOLERANCE_V / 10.0),),
            goto=None,
            step_limit=False,
            log_limit=False,
            unsafe=False,
            text="CV",
        )

    def _cv_trial_ok(self, trial: _Trial) -> bool:
        """False if a CV step's trial ends off its voltage (held) or past it (at the clamp)."""
        target_v = self._cv_voltage_v
        if target_v is None or self._cv_start_s is None or trial.dt_s == 0.0:
            return True
        error_v = trial.voltage_v - target_v
        margin_a = 1e-9 * max(1.0, abs(self._clamp_high_a), abs(self._clamp_low_a))
        if trial.end_a >= self._clamp_high_a - margin_a:  # cannot charge harder: not above
            return error_v <= _CV_TOLERANCE_V
        if trial.end_a <= self._clamp_low_a + margin_a:  # cannot discharge harder: not below
            return error_v >= -_CV_TOLERANCE_V
        return abs(error_v) <= _CV_TOLERANCE_V

    def _fire(self, check: _Check) -> None:
        if check.unsafe:
            self._end_step(check.text)
            self._status = RunStatus.UNSAFE
            self._cv_start_s = None
            self._set_no_current()
        elif check.step_limit:
            if check.log_limit:
                self._log()
            self._end_step(check.text)
            self._enter_step(check.goto)
        else:
            self._log()

    def _commit(self, trial: _Trial) -> None:
        cell = self._cell
        dt_s = trial.dt_s
        current_a = trial.end_a
        if dt_s > 0.0:
            moved_ah = 0.5 * (trial.start_a + current_a) * dt_s / 3600.0
            # Trapezoid rule on V*I: exact for constant I with linear V, and for constant V
            # with linear I (CV).
            energy_wh = (
                0.5
                * (self._substep_start_v * trial.start_a + trial.voltage_v * current_a)
                * dt_s
                / 3600.0
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
        if self._cv_start_s is None and self._cv_voltage_v is not None and self._holding(current_a):
            self._cv_start_s = self._step_time_s
        self._current_a = current_a
        self._voltage_v = trial.voltage_v
        self._dvdt_vbys = self._dvdt_for(current_a)
        self._status = self._status_for(current_a)
