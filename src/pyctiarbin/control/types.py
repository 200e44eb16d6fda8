"""The values a control loop passes around: what the algorithm sees, what it returns, the safe
state, the per-channel outcome and the record of every setpoint."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import overload

from ..client.status import ChannelStatus
from ..protocol import meta_code_for

__all__ = [
    "Algorithm",
    "ChannelResult",
    "ControlInput",
    "ControlRecord",
    "ControlReport",
    "Done",
    "Fault",
    "Outcome",
    "SafeState",
    "Setpoint",
    "mv_name",
]

#: What an algorithm returns: one value (for the loop's default variable, MV_UD1 unless set
#: otherwise), or ``{variable: value}`` for several (``"MV_UD2"`` or ``2``).
Setpoint = float | Mapping[str | int, float]


def mv_name(variable: str | int) -> str:
    """``1``, ``"mv_ud1"`` or ``"MV_UD1"`` -> ``"MV_UD1"``.

    Raises:
        ValueError: if it is not one of MV_UD1 .. MV_UD16.
    """
    return meta_code_for(variable).name


class _StatusReading:
    """A reading of the tick's status, read as an attribute of :class:`ControlInput`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, inp: None, owner: type) -> _StatusReading: ...

    @overload
    def __get__(self, inp: ControlInput, owner: type) -> float: ...

    def __get__(self, inp: ControlInput | None, owner: type) -> float | _StatusReading:
        if inp is None:
            return self
        return getattr(inp.status, self._name)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class ControlInput:
    """What the algorithm is given for one channel at one tick.

    ``status``: the reading of this tick. ``elapsed_s``: seconds since the loop started.
    ``iteration``: 0 for the channel's first call. ``setpoints``: the values last written to
    this channel (empty before the first write).
    """

    channel: int
    status: ChannelStatus
    elapsed_s: float
    iteration: int
    setpoints: Mapping[str, float]

    # The readings an algorithm uses most, at hand as ``inp.voltage_v``.
    voltage_v = _StatusReading()
    current_a = _StatusReading()
    test_time_s = _StatusReading()
    step_time_s = _StatusReading()

    @property
    def temperatures_c(self) -> tuple[float, ...]:
        """Aux temperatures (empty unless the loop reads aux data: ``aux=True``)."""
        return self.status.temperatures_c


#: The user's algorithm: a plain function, or an object with ``__call__`` (a class instance
#: keeping state, e.g. per channel in a dict keyed by ``inp.channel``).
Algorithm = Callable[[ControlInput], Setpoint]


class Done(Exception):
    """Raised by an algorithm to end the control of its channel normally.

    ``stop_test``: also stop the channel's test (otherwise it keeps running on its schedule,
    with the meta variables as last written).
    """

    def __init__(self, reason: str = "algorithm finished", *, stop_test: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stop_test = stop_test


@dataclass(frozen=True)
class SafeState:
    """Where a channel goes when the loop cannot control it safely any more.

    ``mv``: value(s) to write: a number for the loop's default variable, or
    ``{variable: value}``; None writes nothing. ``stop``: stop the test (after writing ``mv``).
    The default, ``SafeState()``, writes 0.0 to the default variable (for ``MV_Current.sdx``:
    zero current) and leaves the test running on its schedule's limits.

    Raises:
        ValueError: from the constructor for a value that is not finite, a variable that is not
            MV_UD1..16, or a safe state that does nothing (no ``mv`` and no ``stop``).
    """

    mv: float | Mapping[str | int, float] | None = 0.0
    stop: bool = False

    def __post_init__(self) -> None:
        values = self.mv if isinstance(self.mv, Mapping) else {}
        if self.mv is None and not self.stop:
            raise ValueError("a safe state must write a value (mv) or stop the test (stop=True)")
        for variable, value in values.items():
            mv_name(variable)
            _check_finite(value, f"safe state value for {variable}")
        if self.mv is not None and not isinstance(self.mv, Mapping):
            _check_finite(self.mv, "safe state value")

    @classmethod
    def stop_test(cls, mv: float | Mapping[str | int, float] | None = None) -> SafeState:
        """Stop the test (writing ``mv`` first, if given)."""
        return cls(mv=mv, stop=True)

    def values_for(self, default_variable: str) -> dict[str, float]:
        """The ``{MV name: value}`` to write."""
        if self.mv is None:
            return {}
        if isinstance(self.mv, Mapping):
            return {mv_name(k): float(v) for k, v in self.mv.items()}
        return {default_variable: float(self.mv)}


def _check_finite(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    return float(value)


class Outcome(str, enum.Enum):
    """How the control of a channel ended."""

    #: The test stopped running (finished, stopped, unsafe, ...): a clean end.
    TEST_ENDED = "test ended"
    #: The algorithm raised :class:`Done`.
    DONE = "done"
    #: A fault put the channel in its safe state (see :class:`Fault` and ``reason``).
    SAFE_STATE = "safe state"
    #: The loop was stopped (``stop()``, cancellation, ``max_duration_s``).
    STOPPED = "stopped"


class Fault(str, enum.Enum):
    """Why a channel was put in its safe state."""

    ALGORITHM_ERROR = "the algorithm raised"
    NOT_FINITE = "the algorithm returned a value that is not finite"
    BAD_SETPOINT = "the algorithm returned something that is not a setpoint"
    OUT_OF_BOUNDS = "the setpoint is out of bounds"
    DEADLINE = "the loop missed its deadline"
    READ_FAILED = "the channels could not be read"
    WRITE_FAILED = "the setpoint could not be written"


@dataclass
class ChannelResult:
    """The end of one channel's control: ``outcome``, ``reason`` (one line), the ``fault`` if
    one caused it, counts, the last setpoint written, and whether the safe state was applied
    (``safe_state_error``: why applying it failed, if it did)."""

    channel: int
    outcome: Outcome | None = None
    reason: str = ""
    fault: Fault | None = None
    iterations: int = 0
    writes: int = 0
    last_setpoints: dict[str, float] = field(default_factory=dict)
    final_status: str = ""
    safe_state_applied: bool = False
    safe_state_error: str | None = None


@dataclass(frozen=True)
class ControlReport:
    """What :meth:`ControlLoop.run` returns: a :class:`ChannelResult` per channel, and the
    loop-wide figures: ticks run, ticks missed, time run, and how long an iteration (read,
    algorithm, write) took on average and at most."""

    channels: Mapping[int, ChannelResult]
    iterations: int
    missed_deadlines: int
    elapsed_s: float
    mean_iteration_s: float = 0.0
    max_iteration_s: float = 0.0

    @property
    def faults(self) -> dict[int, ChannelResult]:
        """The channels that ended in their safe state."""
        return {
            ch: result
            for ch, result in self.channels.items()
            if result.outcome is Outcome.SAFE_STATE
        }

    @property
    def ok(self) -> bool:
        """True when no channel ended in its safe state."""
        return not self.faults


@dataclass(frozen=True, slots=True)
class ControlRecord:
    """One setpoint written, with the reading it was computed from.

    ``unix_time_s``: host time of the reading; ``elapsed_s``: since the loop started;
    ``setpoints``: ``{MV name: value}`` as written; ``safe_state``: written by a safe state
    (not by the algorithm).
    """

    unix_time_s: float
    elapsed_s: float
    iteration: int
    channel: int
    status: ChannelStatus
    setpoints: Mapping[str, float]
    safe_state: bool = False


EMPTY_SETPOINTS: Mapping[str, float] = MappingProxyType({})
