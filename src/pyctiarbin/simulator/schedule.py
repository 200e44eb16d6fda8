"""Test schedules for the cycler simulator: the ``.sdx`` text format, its parser and loader.

A schedule is a plain text file (UTF-8, ``.sdx``) that a lab engineer writes by hand. It is a list
of steps; each step starts with its label in brackets and continues with ``key = value`` lines.
Blank lines are ignored and ``#`` starts a comment (whole line or at the end of a line)::

    # CCCV charge at 1C to 4.2 V, then hold 4.2 V until the current falls below C/20.
    description = CCCV charge, 1C to 4.2 V, C/20 cut-off

    [CC_Charge]
    kind    = cc_charge
    current = 1C
    limit   = voltage >= 4.2 V -> next
    limit   = time >= 3 h -> end

    [CV_Hold]
    kind    = cv
    voltage = 4.2 V
    limit   = current <= C/20 -> end
    limit   = time >= 2 h -> end

Before the first step only ``description = ...`` is allowed. A step label starts with a letter and
holds letters, digits, ``_`` and ``-`` (at most 32 characters); labels are unique, compared without
regard to case, and ``next`` and ``end`` are reserved. Steps are numbered 1, 2, ... in file order.

Step kinds and their keys (``kind`` is required in every step):

================  ====================================================================
``rest``          no current.
``cc_charge``     ``current`` (required): charge at this constant current (a magnitude).
``cc_discharge``  ``current`` (required): discharge at this constant current (a magnitude).
``cv``            ``voltage`` (required): hold this terminal voltage; the current is
                  whatever it takes (charge or discharge). ``current_limit`` (optional)
                  clamps its magnitude; without it the channel's maximum current applies.
``mv_current``    ``variable`` (required): ``MV_UD1`` .. ``MV_UD16``; the current follows
                  that meta variable, read in A, signed (positive = charge), for
                  closed-loop control. ``current_limit`` (optional) clamps its magnitude.
``loop``          ``goto`` (required, a step label or number) and ``cycles`` (required, an
                  integer >= 1). Takes no time: if the cycle index is below ``cycles``, it
                  increments the cycle index and goes to ``goto``; otherwise it goes on to
                  the next step (or ends the schedule when it is the last one). The cycle
                  index starts at 1, so ``cycles = 3`` runs the loop body 3 times.
================  ====================================================================

Limits end a step (every kind but ``loop``; any number per step). The first limit met ends the
step; of limits met at the same moment, the one written first::

    limit = <quantity> <op> <value> [-> <target>]

``<op>`` is ``>=`` or ``<=``. Quantities: ``voltage`` (terminal voltage), ``current``
(magnitude of the current), ``time`` or ``step_time`` (step time, ``>=`` only),
``charge_capacity``, ``discharge_capacity`` and ``capacity`` (Ah charged, discharged, or both,
during this step; ``>=`` only). ``<target>`` is ``next`` (the default; after the last step it
means ``end``), ``end`` (the schedule finishes), a step label or a step number.

Values take an optional unit, with or without a space: voltages ``V`` or ``mV`` (default V);
currents ``A`` or ``mA`` (default A) or a C-rate of the cell's nominal capacity (``1C``,
``0.5C``, ``C/20``); times ``s``, ``min`` or ``h`` (default s) or ``H:MM:SS``; capacities ``Ah``
or ``mAh`` (default Ah). Units are not case-sensitive.

Every parse problem raises :class:`ScheduleParseError` (a ``ValueError``) whose message names the
file, the line and the problem, for example ``CCCV.sdx, line 7: unknown step kind 'cc'``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar

__all__ = [
    "META_VARIABLE_COUNT",
    "SCHEDULE_SUFFIX",
    "SHIPPED_SCHEDULES_DIR",
    "Comparison",
    "CurrentValue",
    "Limit",
    "LimitQuantity",
    "Schedule",
    "ScheduleNotFoundError",
    "ScheduleParseError",
    "Step",
    "StepKind",
    "UnknownStepError",
    "find_schedule",
    "list_schedules",
    "load_schedule",
    "meta_variable_number",
    "parse_schedule",
    "read_schedule",
]

#: File name suffix of schedules (matched without regard to case).
SCHEDULE_SUFFIX = ".sdx"
#: The schedules shipped with the package.
SHIPPED_SCHEDULES_DIR = Path(__file__).resolve().parent / "schedules"
#: Meta variables are MV_UD1 .. MV_UD16.
META_VARIABLE_COUNT = 16

_LABEL_MAX_CHARS = 32
_LABEL_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
_NUMBER_WITH_UNIT_RE = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)")
_C_FRACTION_RE = re.compile(r"[cC]\s*/\s*((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_HMS_RE = re.compile(r"(\d+):([0-5]?\d):([0-5]?\d(?:\.\d*)?)")
_LIMIT_RE = re.compile(r"([A-Za-z_]+)\s*(>=|<=|=>|=<|==|=|>|<)\s*(.*)")
_MV_RE = re.compile(r"MV_UD(\d{1,2})", re.IGNORECASE)
_RESERVED_TARGETS = ("next", "end")
_T = TypeVar("_T")


class ScheduleParseError(ValueError):
    """A schedule text that does not follow the format. ``str()`` names source, line and problem.

    Attributes: ``source`` (file path or ``"<string>"``), ``line`` (1-based; 0 for the whole
    file) and ``problem`` (the message without the location).
    """

    def __init__(self, source: str, line: int, problem: str) -> None:
        location = f"{source}, line {line}" if line > 0 else source
        super().__init__(f"{location}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


class ScheduleNotFoundError(FileNotFoundError):
    """No schedule file of that name in the search directories (or the name is not a file name)."""


class UnknownStepError(ValueError):
    """A step reference (number or label) that names no step of the schedule."""


class StepKind(Enum):
    """What a step does. The value is the spelling in a schedule file."""

    REST = "rest"
    CC_CHARGE = "cc_charge"
    CC_DISCHARGE = "cc_discharge"
    CV = "cv"
    MV_CURRENT = "mv_current"
    LOOP = "loop"

    @property
    def display_name(self) -> str:
        """Short ASCII name for status texts (``Rest``, ``CC_Charge``, ``CV``, ...)."""
        return _KIND_DISPLAY[self]


_KIND_DISPLAY = {
    StepKind.REST: "Rest",
    StepKind.CC_CHARGE: "CC_Charge",
    StepKind.CC_DISCHARGE: "CC_Discharge",
    StepKind.CV: "CV",
    StepKind.MV_CURRENT: "MV_Current",
    StepKind.LOOP: "Loop",
}


class LimitQuantity(Enum):
    """What a limit compares. The value is the spelling in a schedule file."""

    VOLTAGE = "voltage"
    CURRENT = "current"
    TIME = "time"
    CHARGE_CAPACITY = "charge_capacity"
    DISCHARGE_CAPACITY = "discharge_capacity"
    CAPACITY = "capacity"


_QUANTITY_DISPLAY = {
    LimitQuantity.VOLTAGE: ("Voltage", "V"),
    LimitQuantity.CURRENT: ("Current", "A"),
    LimitQuantity.TIME: ("Step_Time", "s"),
    LimitQuantity.CHARGE_CAPACITY: ("Charge_Cap", "Ah"),
    LimitQuantity.DISCHARGE_CAPACITY: ("Discharge_Cap", "Ah"),
    LimitQuantity.CAPACITY: ("Capacity", "Ah"),
}
_QUANTITY_ALIASES = {q.value: q for q in LimitQuantity} | {"step_time": LimitQuantity.TIME}


class Comparison(Enum):
    """How a limit compares its quantity with its threshold."""

    AT_LEAST = ">="
    AT_MOST = "<="


@dataclass(frozen=True, slots=True)
class CurrentValue:
    """A current as written in a schedule: amperes, or a multiple of the cell's C-rate."""

    value: float
    c_rate: bool = False

    def to_amps(self, capacity_ah: float) -> float:
        """The current in A for a cell of nominal ``capacity_ah``."""
        return self.value * capacity_ah if self.c_rate else self.value

    def __str__(self) -> str:
        return f"{self.value:g}C" if self.c_rate else f"{self.value:g}A"


@dataclass(frozen=True, slots=True)
class Limit:
    """A condition that ends a step.

    ``threshold`` is in the quantity's base unit (V, A, s, Ah); for a ``current`` limit with
    ``c_rate`` set it is a multiple of the nominal capacity instead. ``next_step`` is the 1-based
    number of the step to go to, or ``None`` when the schedule ends.
    """

    quantity: LimitQuantity
    comparison: Comparison
    threshold: float
    next_step: int | None
    line: int
    c_rate: bool = False

    def threshold_value(self, capacity_ah: float) -> float:
        """The threshold in base units for a cell of nominal ``capacity_ah``."""
        return self.threshold * capacity_ah if self.c_rate else self.threshold

    def describe(self, capacity_ah: float) -> str:
        """Short ASCII text of the condition, such as ``Voltage>=4.2V`` (for exit conditions)."""
        name, unit = _QUANTITY_DISPLAY[self.quantity]
        return f"{name}{self.comparison.value}{self.threshold_value(capacity_ah):.4g}{unit}"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a schedule. Which optional fields are set depends on ``kind``.

    ``current`` (cc steps: magnitude), ``voltage_v`` (cv), ``current_limit`` (cv, mv_current:
    magnitude clamp, ``None`` = channel maximum), ``variable`` (mv_current: ``"MV_UD1"``...),
    ``goto_step`` (loop: 1-based step number) and ``cycles`` (loop).
    """

    number: int
    label: str
    kind: StepKind
    limits: tuple[Limit, ...] = ()
    current: CurrentValue | None = None
    voltage_v: float | None = None
    current_limit: CurrentValue | None = None
    variable: str | None = None
    goto_step: int | None = None
    cycles: int | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule: ``name`` (the file name, e.g. ``CCCV_Charge.sdx``) and its steps."""

    name: str
    steps: tuple[Step, ...]
    description: str = ""
    source: str = "<string>"

    def step(self, number: int) -> Step:
        """The step with 1-based ``number``.

        Raises:
            UnknownStepError: if there is no such step.
        """
        if not 1 <= number <= len(self.steps):
            raise UnknownStepError(
                f"schedule {self.name!r} has no step {number} (steps 1..{len(self.steps)})"
            )
        return self.steps[number - 1]

    def step_number(self, reference: int | str) -> int:
        """The 1-based number of the step given by number or by label (label case-insensitive).

        A string of digits is read as a number.

        Raises:
            UnknownStepError: if no step matches.
        """
        if isinstance(reference, int):
            return self.step(reference).number
        text = reference.strip()
        if text.isdigit():
            return self.step(int(text)).number
        folded = text.casefold()
        for step in self.steps:
            if step.label.casefold() == folded:
                return step.number
        raise UnknownStepError(f"schedule {self.name!r} has no step labelled {text!r}")


def meta_variable_number(name: str | int) -> int:
    """The number 1..16 of a meta variable given as ``"MV_UD<n>"`` (any case) or as ``n``.

    Raises:
        ValueError: if the name is not MV_UD1 .. MV_UD16.
    """
    if isinstance(name, int):
        number = name
    else:
        match = _MV_RE.fullmatch(name.strip())
        if match is None:
            raise ValueError(f"not a meta variable name (MV_UD1..MV_UD16): {name!r}")
        number = int(match.group(1))
    if not 1 <= number <= META_VARIABLE_COUNT:
        raise ValueError(f"meta variable number must be 1..{META_VARIABLE_COUNT}, got {name!r}")
    return number


# -- value parsing ---------------------------------------------------------------------------------

_VOLTAGE_UNITS = {"": 1.0, "v": 1.0, "mv": 1e-3}
_CURRENT_UNITS = {"": 1.0, "a": 1.0, "ma": 1e-3}
_TIME_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0}
_CAPACITY_UNITS = {"": 1.0, "ah": 1.0, "mah": 1e-3}


class _ValueProblem(Exception):
    """Internal: a value did not parse; the parser adds the location."""


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _ValueProblem(f"{text!r} is not a finite number")
    return value


def _with_unit(text: str, units: dict[str, float], what: str) -> float:
    match = _NUMBER_WITH_UNIT_RE.fullmatch(text.strip())
    if match is None:
        raise _ValueProblem(f"{what} {text!r} is not a number with an optional unit")
    unit = match.group(2).lower()
    if unit not in units:
        allowed = ", ".join(sorted(u for u in units if u))
        raise _ValueProblem(f"{what} {text!r}: unknown unit {match.group(2)!r} (use {allowed})")
    return _number(match.group(1)) * units[unit]


def _voltage_v(text: str) -> float:
    return _with_unit(text, _VOLTAGE_UNITS, "voltage")


def _time_s(text: str) -> float:
    hms = _HMS_RE.fullmatch(text.strip())
    if hms is not None:
        hours, minutes, seconds = hms.groups()
        return int(hours) * 3600.0 + int(minutes) * 60.0 + float(seconds)
    return _with_unit(text, _TIME_UNITS, "time")


def _capacity_ah(text: str) -> float:
    return _with_unit(text, _CAPACITY_UNITS, "capacity")


def _current(text: str) -> CurrentValue:
    stripped = text.strip()
    fraction = _C_FRACTION_RE.fullmatch(stripped)
    if fraction is not None:
        divisor = _number(fraction.group(1))
        if divisor <= 0.0:
            raise _ValueProblem(f"current {text!r}: the C-rate divisor must be positive")
        return CurrentValue(1.0 / divisor, c_rate=True)
    match = _NUMBER_WITH_UNIT_RE.fullmatch(stripped)
    if match is not None and match.group(2).lower() == "c":
        return CurrentValue(_number(match.group(1)), c_rate=True)
    return CurrentValue(_with_unit(stripped, _CURRENT_UNITS, "current"))


def _positive_current(text: str, key: str) -> CurrentValue:
    value = _current(text)
    if value.value <= 0.0:
        raise _ValueProblem(f"{key} must be positive (a magnitude), got {text!r}")
    return value


def _positive_voltage_v(text: str) -> float:
    voltage_v = _voltage_v(text)
    if voltage_v <= 0.0:
        raise _ValueProblem(f"voltage must be positive, got {text!r}")
    return voltage_v


def _variable_name(text: str) -> str:
    try:
        return f"MV_UD{meta_variable_number(text)}"
    except ValueError as exc:
        raise _ValueProblem(str(exc)) from None


def _cycles(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise _ValueProblem(f"cycles must be an integer >= 1, got {text!r}")
    return int(text)


# -- the parser ------------------------------------------------------------------------------------

_KIND_KEYS: dict[StepKind, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required keys, optional keys) besides "kind" and "limit"
    StepKind.REST: (frozenset(), frozenset()),
    StepKind.CC_CHARGE: (frozenset({"current"}), frozenset()),
    StepKind.CC_DISCHARGE: (frozenset({"current"}), frozenset()),
    StepKind.CV: (frozenset({"voltage"}), frozenset({"current_limit"})),
    StepKind.MV_CURRENT: (frozenset({"variable"}), frozenset({"current_limit"})),
    StepKind.LOOP: (frozenset({"goto", "cycles"}), frozenset()),
}


@dataclass(slots=True)
class _RawStep:
    label: str
    line: int
    entries: list[tuple[str, str, int]]


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def error(self, line: int, problem: str) -> ScheduleParseError:
        return ScheduleParseError(self.source, line, problem)

    def parse(self, name: str) -> Schedule:
        description, raw_steps = self.split_sections()
        if not raw_steps:
            raise self.error(0, "no steps (a step starts with a '[Label]' line)")
        numbers: dict[str, int] = {}
        for number, raw in enumerate(raw_steps, start=1):
            folded = raw.label.casefold()
            if folded in numbers:
                raise self.error(
                    raw.line, f"duplicate step label {raw.label!r} (also step {numbers[folded]})"
                )
            numbers[folded] = number
        steps = tuple(
            self.build_step(number, raw, numbers, len(raw_steps))
            for number, raw in enumerate(raw_steps, start=1)
        )
        return Schedule(name=name, steps=steps, description=description, source=self.source)

    def split_sections(self) -> tuple[str, list[_RawStep]]:
        description = ""
        steps: list[_RawStep] = []
        for line_number, raw_line in enumerate(self.text.splitlines(), start=1):
            line = raw_line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                if not line.endswith("]"):
                    raise self.error(line_number, f"step header {line!r} must end with ']'")
                label = line[1:-1].strip()
                self.check_label(label, line_number)
                steps.append(_RawStep(label, line_number, []))
                continue
            key, equals, value = line.partition("=")
            key = key.strip().lower()
            value = value.strip()
            if not equals or not key:
                raise self.error(line_number, f"expected '[Label]' or 'key = value', got {line!r}")
            if not value:
                raise self.error(line_number, f"{key!r} has no value")
            if not steps:
                if key != "description":
                    raise self.error(
                        line_number,
                        f"only 'description' may come before the first step, got {key!r}",
                    )
                description = value
                continue
            steps[-1].entries.append((key, value, line_number))
        return description, steps

    def check_label(self, label: str, line: int) -> None:
        if not label:
            raise self.error(line, "empty step label")
        if len(label) > _LABEL_MAX_CHARS:
            raise self.error(line, f"step label {label!r} is longer than {_LABEL_MAX_CHARS} chars")
        if _LABEL_RE.fullmatch(label) is None:
            raise self.error(
                line,
                f"step label {label!r} must start with a letter and hold only letters, digits,"
                " '_' and '-'",
            )
        if label.casefold() in _RESERVED_TARGETS:
            raise self.error(line, f"step label {label!r} is reserved")

    def build_step(
        self, number: int, raw: _RawStep, numbers: dict[str, int], step_count: int
    ) -> Step:
        values: dict[str, tuple[str, int]] = {}
        limit_entries: list[tuple[str, int]] = []
        for key, value, line in raw.entries:
            if key == "limit":
                limit_entries.append((value, line))
            elif key in values:
                raise self.error(line, f"{key!r} given twice in step {raw.label!r}")
            else:
                values[key] = (value, line)
        if "kind" not in values:
            raise self.error(raw.line, f"step {raw.label!r} has no 'kind'")
        kind_text, kind_line = values.pop("kind")
        try:
            kind = StepKind(kind_text.strip().lower())
        except ValueError:
            choices = ", ".join(k.value for k in StepKind)
            raise self.error(
                kind_line, f"unknown step kind {kind_text!r} (use one of {choices})"
            ) from None
        required, optional = _KIND_KEYS[kind]
        for key, (_, line) in values.items():
            if key not in required | optional:
                allowed = ", ".join(sorted(required | optional | {"kind", "limit"}))
                raise self.error(
                    line, f"key {key!r} is not valid in a {kind.value} step (valid: {allowed})"
                )
        for key in sorted(required - values.keys()):
            raise self.error(raw.line, f"{kind.value} step {raw.label!r} needs '{key} = ...'")
        if kind is StepKind.LOOP and limit_entries:
            raise self.error(limit_entries[0][1], "a loop step takes no limits")

        def field(key: str, parse: Callable[[str], _T]) -> _T | None:
            if key not in values:
                return None
            value, line = values[key]
            try:
                return parse(value)
            except _ValueProblem as problem:
                raise self.error(line, str(problem)) from None

        def parse_goto(value: str) -> int | None:
            line = values["goto"][1]
            return self.resolve_target(value, line, numbers, step_count, allow_flow=False)

        limits = tuple(
            self.parse_limit(text, line, number, numbers, step_count)
            for text, line in limit_entries
        )
        return Step(
            number=number,
            label=raw.label,
            kind=kind,
            limits=limits,
            current=field("current", lambda v: _positive_current(v, "current")),
            voltage_v=field("voltage", _positive_voltage_v),
            current_limit=field("current_limit", lambda v: _positive_current(v, "current_limit")),
            variable=field("variable", _variable_name),
            goto_step=field("goto", parse_goto),
            cycles=field("cycles", _cycles),
            line=raw.line,
        )

    def resolve_target(
        self,
        text: str,
        line: int,
        numbers: dict[str, int],
        step_count: int,
        *,
        allow_flow: bool,
        current_step: int = 0,
    ) -> int | None:
        target = text.strip()
        folded = target.casefold()
        if folded in _RESERVED_TARGETS:
            if not allow_flow:
                raise _ValueProblem(f"target must be a step label or number, got {target!r}")
            if folded == "end" or current_step >= step_count:
                return None
            return current_step + 1
        if target.isdigit():
            number = int(target)
            if not 1 <= number <= step_count:
                raise _ValueProblem(f"there is no step {number} (steps 1..{step_count})")
            return number
        if folded in numbers:
            return numbers[folded]
        raise _ValueProblem(f"there is no step labelled {target!r}")

    def parse_limit(
        self, text: str, line: int, step_number: int, numbers: dict[str, int], step_count: int
    ) -> Limit:
        condition, arrow, target_text = text.partition("->")
        if arrow and not target_text.strip():
            raise self.error(line, "limit has '->' but no target")
        match = _LIMIT_RE.fullmatch(condition.strip())
        if match is None:
            raise self.error(
                line, f"limit {text!r} is not '<quantity> >=|<= <value> [-> <target>]'"
            )
        quantity_text, operator, value_text = match.groups()
        quantity = _QUANTITY_ALIASES.get(quantity_text.lower())
        if quantity is None:
            choices = ", ".join(q.value for q in LimitQuantity)
            raise self.error(line, f"unknown limit quantity {quantity_text!r} (use {choices})")
        operator = {"=>": ">=", "=<": "<="}.get(operator, operator)
        if operator not in (">=", "<="):
            raise self.error(line, f"limit operator must be '>=' or '<=', got {operator!r}")
        comparison = Comparison(operator)
        if quantity not in (LimitQuantity.VOLTAGE, LimitQuantity.CURRENT) and (
            comparison is Comparison.AT_MOST
        ):
            raise self.error(line, f"a {quantity.value} limit only takes '>='")
        try:
            c_rate = False
            if quantity is LimitQuantity.VOLTAGE:
                threshold = _voltage_v(value_text)
            elif quantity is LimitQuantity.CURRENT:
                current = _current(value_text)
                if current.value < 0.0:
                    raise _ValueProblem("a current limit compares the magnitude: use a value >= 0")
                threshold, c_rate = current.value, current.c_rate
            elif quantity is LimitQuantity.TIME:
                threshold = _time_s(value_text)
            else:
                threshold = _capacity_ah(value_text)
            if threshold < 0.0:
                raise _ValueProblem(f"{quantity.value} limit must not be negative")
            next_step = self.resolve_target(
                target_text if arrow else "next",
                line,
                numbers,
                step_count,
                allow_flow=True,
                current_step=step_number,
            )
        except _ValueProblem as problem:
            raise self.error(line, str(problem)) from None
        return Limit(
            quantity=quantity,
            comparison=comparison,
            threshold=threshold,
            next_step=next_step,
            line=line,
            c_rate=c_rate,
        )


def parse_schedule(text: str, *, source: str = "<string>", name: str | None = None) -> Schedule:
    """Parse schedule ``text`` (the ``.sdx`` format of this module's docstring).

    ``source`` names the text in error messages (usually the file path); ``name`` defaults to the
    file name of ``source``.

    Raises:
        ScheduleParseError: (a ``ValueError``) naming source, line and problem.
    """
    if name is None:
        name = Path(source).name if source != "<string>" else source
    return _Parser(text, source).parse(name)


def read_schedule(path: str | os.PathLike[str]) -> Schedule:
    """Read and parse one schedule file (UTF-8, a byte-order mark is accepted).

    Raises:
        OSError: if the file cannot be read (``FileNotFoundError`` if it does not exist).
        ScheduleParseError: (a ``ValueError``) if it is not valid UTF-8 or not a valid schedule.
    """
    file_path = Path(path)
    data = file_path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScheduleParseError(str(file_path), line, "not valid UTF-8 text") from None
    return parse_schedule(text, source=str(file_path), name=file_path.name)


def _search_path(search_dirs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    return [Path(directory) for directory in search_dirs] + [SHIPPED_SCHEDULES_DIR]


def _schedule_files(directory: Path) -> list[Path]:
    try:
        entries = sorted(directory.iterdir())
    except OSError:  # a user directory that does not exist (yet) is simply empty
        return []
    return [
        entry
        for entry in entries
        if entry.name.lower().endswith(SCHEDULE_SUFFIX) and entry.is_file()
    ]


def find_schedule(name: str, search_dirs: Sequence[str | os.PathLike[str]] = ()) -> Path:
    """The path of the schedule file called ``name``, searching ``search_dirs`` in order, then
    the shipped schedules.

    ``name`` is a file name as a user types it: ``CCCV_Charge.sdx``, ``cccv_charge.SDX`` or
    ``CCCV_Charge``. Within a directory an exact match wins over a match without regard to case.
    Directories that do not exist are skipped.

    Raises:
        ScheduleNotFoundError: if no directory holds it, or ``name`` is not a plain file name
            (it contains a path separator or is ``.``/``..``): names come from the network.
    """
    wanted = name.strip()
    if not wanted or wanted in (".", "..") or any(sep in wanted for sep in "/\\:\0"):
        raise ScheduleNotFoundError(f"not a schedule file name: {name!r}")
    candidates = [wanted]
    if not wanted.lower().endswith(SCHEDULE_SUFFIX):
        candidates.append(wanted + SCHEDULE_SUFFIX)
    folded = {candidate.casefold() for candidate in candidates}
    directories = _search_path(search_dirs)
    for directory in directories:
        files = _schedule_files(directory)
        for path in files:
            if path.name in candidates:
                return path
        for path in files:
            if path.name.casefold() in folded:
                return path
    searched = ", ".join(str(directory) for directory in directories)
    raise ScheduleNotFoundError(f"no schedule named {name!r} in {searched}")


def load_schedule(name: str, search_dirs: Sequence[str | os.PathLike[str]] = ()) -> Schedule:
    """Find (see :func:`find_schedule`) and parse the schedule called ``name``.

    Raises:
        ScheduleNotFoundError: if there is no such schedule file.
        OSError: if the file cannot be read.
        ScheduleParseError: (a ``ValueError``) if the file is not a valid schedule.
    """
    return read_schedule(find_schedule(name, search_dirs))


def list_schedules(search_dirs: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
    """File names of every schedule reachable by :func:`load_schedule`, sorted without regard to
    case. A name in an earlier directory hides the same name (any case) in later ones.

    Raises:
        Nothing: unreadable or missing directories are skipped.
    """
    seen: dict[str, str] = {}
    for directory in _search_path(search_dirs):
        for path in _schedule_files(directory):
            seen.setdefault(path.name.casefold(), path.name)
    return sorted(seen.values(), key=str.casefold)
